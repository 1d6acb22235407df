"""One call for every metric: :func:`evaluate` (``fastgan.evaluate(real, fake, ...)``).

``fastgan.evaluate`` is this package *and* the function: the module is callable, so
``fastgan.evaluate(real, fake, metrics=("fid", "kid", "prdc"))`` runs :func:`evaluate`, and
``from fastgan.evaluate import evaluate, EvalResult, Sampler`` works as usual.

* :func:`evaluate` / :class:`EvalResult` (module :mod:`fastgan.evaluate.api`): embed each
  input once, feed every requested metric from that one pass, sync across
  ``torch.distributed`` ranks, return one JSON-serialisable result.
* :data:`METRICS` (module :mod:`fastgan.evaluate.registry`): the metric table (name, result
  keys, which array it needs, the Metric class and the options it takes).
* :class:`Sampler` (module :mod:`fastgan.evaluate.sampler`): a generator as an input.
* :func:`open_source` and ``fastgan.evaluate.embed.embed`` (modules :mod:`fastgan.evaluate.sources`,
  :mod:`fastgan.evaluate.embed`, :mod:`fastgan.evaluate.cache`): inputs, the one embedding
  pass, the on-disk feature cache.

Names are resolved lazily, so importing the package is cheap.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_EXPORTS: dict[str, str] = {
    "evaluate": "api",
    "EvalResult": "api",
    "METRICS": "registry",
    "MetricSpec": "registry",
    "get_metric": "registry",
    "parse_metrics": "registry",
    "Sampler": "sampler",
    "open_source": "sources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastgan.evaluate' has no attribute {name!r}")
    mod = importlib.import_module(f"fastgan.evaluate.{module}")
    value = getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _CallableModule(types.ModuleType):
    """The package's module type: calling it calls :func:`fastgan.evaluate.api.evaluate`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from fastgan.evaluate.api import evaluate

        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
