"""The API reference: one page per public package, one entry per name of its ``__all__``.

The packages export lazily (``_EXPORTS`` dicts resolved by ``fastgan._lazy``), so a static reader
such as griffe cannot follow ``fastgan.metrics.fid`` to its definition. Each name is therefore
resolved here, by importing it, to the dotted path of the object that defines it (a function or a
class: ``__module__`` + ``__qualname__``; a constant: the module its package's ``_EXPORTS`` or
import names), and the page lists one ``::: path`` entry per name. A name added to ``__all__``
appears in the next build without touching the docs.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

#: the packages with an API page, in the order of the navigation
PACKAGES = ("fastgan", "fastgan.metrics", "fastgan.losses", "fastgan.evaluation", "fastgan.features")


@dataclass(frozen=True)
class Entry:
    """One public name: how users spell it, and where it is defined."""

    public: str  # e.g. "fastgan.metrics.fid"
    target: str  # e.g. "fastgan.metrics.frechet.fid"
    kind: str  # "function", "class", "data"


def page_name(package: str) -> str:
    """``api/<name>.md`` of a package (``fastgan`` -> ``api/fastgan.md``)."""
    return f"api/{package}.md"


@functools.cache
def _static_import_source(package: str, name: str) -> str | None:
    """The module an ``from M import name`` statement of ``package``'s ``__init__`` names."""
    mod = importlib.import_module(package)
    path = getattr(mod, "__file__", None)
    if not path:
        return None
    tree = ast.parse(Path(path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if any((a.asname or a.name) == name for a in node.names):
                return node.module
    return None


def _data_module(package: str, name: str) -> str:
    """The module that defines the constant ``package.name``."""
    mod = importlib.import_module(package)
    exports = getattr(mod, "_EXPORTS", {})
    if name in exports:
        target = exports[name]
        target = target if target.startswith("fastgan") else f"{package}.{target}"
        # a module that only re-exports the name (e.g. fastgan.linalg for NotPSDWarning) is fine for
        # classes and functions, which carry __module__; constants are followed one import further
        return _static_import_source(target, name) or target
    source = _static_import_source(package, name)
    if source is None:
        return package
    return _static_import_source(source, name) or source


def entries(package: str) -> list[Entry]:
    """One :class:`Entry` per name of ``package.__all__``, in ``__all__``'s order."""
    return list(_entries(package))


@functools.cache
def _entries(package: str) -> tuple[Entry, ...]:
    mod = importlib.import_module(package)
    out = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
            kind = "class" if inspect.isclass(obj) else "function"
            target = f"{obj.__module__}.{obj.__qualname__}"
        else:
            kind = "data"
            target = f"{_data_module(package, name)}.{name}"
        out.append(Entry(public=f"{package}.{name}", target=target, kind=kind))
    return tuple(out)


def _describe_value(obj: object) -> str:
    """One line on a constant's value, read at build time (its type, and its keys or items)."""
    kind = type(obj).__name__
    if isinstance(obj, dict):
        keys = ", ".join(f"`{k}`" for k in list(obj)[:24])
        more = f" (and {len(obj) - 24} more)" if len(obj) > 24 else ""
        return f"Value at build time: a `{kind}` of {len(obj)} entries, keys {keys}{more}."
    if isinstance(obj, (tuple, list, frozenset, set)):
        items = ", ".join(f"`{v!r}`" for v in list(obj)[:24])
        return f"Value at build time: a `{kind}` of {len(obj)} items: {items}."
    return f"Value at build time: `{obj!r}`."


def clear() -> None:
    """Forget the resolved entries (a later build sees new public names)."""
    _entries.cache_clear()
    _static_import_source.cache_clear()


def _summary(package: str) -> str:
    doc = inspect.getdoc(importlib.import_module(package)) or ""
    return doc.split("\n\n")[0].strip()


def owner(target: str, package: str) -> str:
    """The documented package whose page holds ``target``'s entry: the longest package prefix of
    ``target`` that exports it, else the first package of :data:`PACKAGES` that exports it (an
    object defined in an undocumented module and exported twice gets one entry), else
    ``package`` (the page asking)."""
    exporters = [p for p in PACKAGES if any(e.target == target for e in _entries(p))]
    prefixed = [p for p in exporters if target.startswith(p + ".")]
    if prefixed:
        return max(prefixed, key=len)
    return exporters[0] if exporters else package


def page(package: str) -> str:
    """The markdown of ``package``'s API page (mkdocstrings ``:::`` entries).

    A name re-exported from another documented package (``fastgan.evaluate``, defined in
    ``fastgan.evaluation``) links to that package's entry, and a second name of one object
    (``fd`` is ``fid``) links to the first: every object has one entry, every name a heading.
    """
    items = entries(package)
    order = {"function": 0, "class": 1, "data": 2}
    items.sort(key=lambda e: (order[e.kind], e.public.lower()))
    lines = [
        f"# `{package}`",
        "",
        "<!-- generated at build time by docs/gen/api.py from the package's __all__; do not edit -->",
        "",
        _summary(package).replace(":func:", "").replace(":class:", "").replace(":mod:", ""),
        "",
        "| name | kind | defined in |",
        "| --- | --- | --- |",
    ]
    body: list[str] = []
    seen: dict[str, str] = {}
    for e in items:
        short = e.public.rsplit(".", 1)[1]
        home = owner(e.target, package)
        anchor = e.public
        if home != package:
            link = f"{home}.md#{e.target}"
            body += [
                f"## `{short}` {{ #{e.public} }}",
                "",
                f"`{e.public}` is [`{home}.{short}`]({link}).",
                "",
            ]
        elif e.target in seen:
            link = f"#{e.target}"
            body += [
                f"## `{short}` {{ #{e.public} }}",
                "",
                f"`{e.public}` is [`{seen[e.target]}`]({link}).",
                "",
            ]
        else:
            seen[e.target] = e.public
            anchor = e.target
            body += [
                f"::: {e.target}",
                "    options:",
                "      show_root_heading: true",
                "      show_root_full_path: false",
                "",
            ]
            if e.kind == "data":
                body += [_describe_value(getattr(importlib.import_module(package), short)), ""]
        lines.append(f"| [`{short}`](#{anchor}) | {e.kind} | `{e.target.rsplit('.', 1)[0]}` |")
    return "\n".join(lines + [""] + body)


def pages() -> dict[str, str]:
    """``{path under the docs: markdown}`` for every package of :data:`PACKAGES`."""
    return {page_name(p): page(p) for p in PACKAGES}


if __name__ == "__main__":  # print one page: python docs/gen/api.py fastgan.metrics
    sys.stdout.write(page(sys.argv[1] if len(sys.argv) > 1 else "fastgan"))
