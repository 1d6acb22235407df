"""The one lazy loader of package namespaces (PEP 562 module ``__getattr__`` and ``__dir__``).

``fastgan``, ``fastgan.metrics``, ``fastgan.evaluation`` and ``fastgan.truncation`` (its
re-exported plotting functions) resolve names on first access, so importing them stays cheap::

    __getattr__, __dir__ = lazy_exports(__name__, globals(), {"fid": "frechet"})

Imports nothing but :mod:`importlib`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any, Callable


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    exports: Mapping[str, str],
    submodules: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps a public name to the module defining it: a full dotted path
    (``"fastgan.evaluation.api"``) or a submodule of ``package`` (``"frechet"``). The first access
    imports that module and stores the value in ``namespace`` (the package's ``globals()``), so
    later lookups are plain attribute reads. ``submodules`` are imported on access
    (``import fastgan; fastgan.metrics``)."""
    subs = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in subs:
            return importlib.import_module(f"{package}.{name}")
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if module.startswith("fastgan.") or module == "fastgan" else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports) | subs)

    return __getattr__, __dir__
