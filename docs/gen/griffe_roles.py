"""A griffe extension: fastgan's docstrings as Markdown for mkdocstrings.

The docstrings are Google style read by people and by doctest, with a few habits a Markdown
renderer does not share. When griffe loads an object this extension rewrites, in its docstring
only (the source is untouched):

* the Sphinx roles (``:func:`fid```, ``:class:`FeatureStats```, ``:mod:``, ``:data:``,
  ``:meth:``) into plain code spans (``fid()`` for functions and methods);
* an ``Args:`` item naming several parameters (``real, fake: ...``) into one item per name with
  the same description, and an item that only gives names and types
  (``real_features (Tensor[N, D]), fake_features (Tensor[M, D]).``) into one item per name;
* ``Args: as kid() (...)`` (a sentence where the section title stands) into a paragraph;
* the ``>>>`` doctest lines outside an ``Examples:`` section into a ``pycon`` code block (else
  their output, e.g. ``[(2, 3)]``, reads as a Markdown link).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(func|meth|class|mod|data|attr|exc|obj|const|ref|term):`~?([^`]+)`")
_SECTION = re.compile(r"^(\s*)([A-Z][A-Za-z ]*):\s*$")
_INLINE_ARGS = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s+(\S.*)$")
_NAME = r"`{0,2}[A-Za-z_]\w*`{0,2}"
_MULTI = re.compile(rf"^(\s+)({_NAME}(?:\s*,\s*{_NAME})+)\s*(\([^)]*\))?:\s*(.*)$")
_TYPED = re.compile(rf"({_NAME})\s*\(([^()]*(?:\([^()]*\))?[^()]*)\)")
_ONLY_TYPES = re.compile(rf"^(\s+)((?:{_NAME}\s*\([^:]*?\)\s*,?\s*)+)\.?\s*$")
_ARG_SECTIONS = ("Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments")


def rewrite_roles(text: str) -> str:
    """``:func:`x``` -> ``` `x()` ```, ``:class:`x``` -> ``` `x` ``` (the other roles alike)."""

    def one(m: re.Match[str]) -> str:
        role, target = m.group(1), m.group(2).strip()
        if "<" in target and target.endswith(">"):  # :func:`title <target>`
            target = target.split("<", 1)[0].strip()
        if role in ("func", "meth") and not target.endswith(")"):
            target += "()"
        return f"`{target}`"

    return _ROLE.sub(one, text)


def _split_args(lines: list[str]) -> list[str]:
    out: list[str] = []
    section = ""
    pending: list[str] = []  # "name: as `first`." items owed after a multi-name item's last line
    pending_indent = -1
    for line in lines:
        indent_now = len(line) - len(line.lstrip())
        if pending and (not line.strip() or indent_now <= pending_indent):
            out.extend(pending)
            pending = []
        m = _SECTION.match(line)
        if m:
            section = m.group(2)
            out.append(line)
            continue
        inline = _INLINE_ARGS.match(line)
        if inline:
            section = ""
            out.append(f"{inline.group(1)}*Arguments:* {inline.group(3)}")
            continue
        if section in _ARG_SECTIONS:
            multi = _MULTI.match(line)
            if multi:
                indent, names, typ, desc = multi.groups()
                first, *rest = [n.strip("`") for n in re.split(r"\s*,\s*", names)]
                out.append(f"{indent}{first}{' ' + typ if typ else ''}: {desc}")
                pending = [f"{indent}{name}{' ' + typ if typ else ''}: as `{first}`." for name in rest]
                pending_indent = len(indent)
                continue
            only = _ONLY_TYPES.match(line)
            if only and ":" not in line:
                indent = only.group(1)
                for name, typ in _TYPED.findall(only.group(2)):
                    out.append(f"{indent}{name.strip('`')}: {typ}.")
                continue
        elif line.strip() and not line.startswith((" ", "\t")):
            section = ""
        out.append(line)
    out.extend(pending)
    return out


def _fence_doctests(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    in_examples = False
    while i < len(lines):
        line = lines[i]
        m = _SECTION.match(line)
        if m:
            in_examples = m.group(2) in ("Example", "Examples")
        if line.lstrip().startswith(">>>") and not in_examples:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return out


def normalize(text: str) -> str:
    """The whole rewrite of one docstring (see the module docstring)."""
    lines = rewrite_roles(text).split("\n")
    return "\n".join(_fence_doctests(_split_args(lines)))


class SphinxRolesAsCode(griffe.Extension):
    """Apply :func:`normalize` to every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = normalize(obj.docstring.value)
