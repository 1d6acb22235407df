"""The house rules of the Python layers, as checks: module and function sizes, and no private
name (a ``_function`` or a ``_module``) imported from one subpackage into another (the
package-wide plumbing at the top level, ``fastgan._ext``, ``_dispatch``, ``_checks``, ... is
shared by design; a public name defined in a subpackage's private module, such as
``metrics._base.BankMetric``, is that subpackage's API)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fastgan"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 150
#: top-level private modules every layer may use: native-op plumbing, validation, shared policies
PLUMBING = {"_ext", "_dispatch", "_checks", "_ops", "_progress", "_lazy", "_compat", "_info", "_version"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _family(path: Path) -> str:
    """The subpackage a file belongs to (``metrics``, ``evaluation``, ...); top-level modules are their own."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_and_function_sizes(path: Path) -> None:
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {text.count(chr(10))} lines"
    long = [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_crosses_subpackages(path: Path) -> None:
    mine = _family(path)
    crossing = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("fastgan"):
            continue
        parts = node.module.split(".")  # type: ignore[union-attr]
        for alias in node.names:
            target = parts[1] if len(parts) > 1 else alias.name  # `from fastgan import _ext`: the module
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if target in PLUMBING or target == mine or not private:
                continue
            crossing.append(f"from {node.module} import {alias.name}")
    assert not crossing, (
        f"{path.relative_to(PACKAGE)} ({mine}) imports private names of another subpackage: {crossing}"
    )
