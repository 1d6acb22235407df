"""One call for every metric: :func:`evaluate`, also reachable as ``fastgan.evaluate(real, fake, ...)``.

``fastgan.evaluate`` is the function; this package (``fastgan.evaluation``) holds it and its
parts: ``from fastgan.evaluation import evaluate, EvalResult, Sampler``.

* :func:`evaluate` / :class:`EvalResult` (module :mod:`fastgan.evaluation.api`): embed each
  input once, feed every requested metric from that one pass, sync across
  ``torch.distributed`` ranks, return one JSON-serialisable result.
* :data:`METRICS` (module :mod:`fastgan.evaluation.registry`): the metric table (name, result
  keys, which array it needs, the Metric class and the options it takes).
* :class:`Sampler` (module :mod:`fastgan.evaluation.sampler`): a generator as an input.
* :func:`open_source` and ``fastgan.evaluation.embed.embed`` (modules :mod:`fastgan.evaluation.sources`,
  :mod:`fastgan.evaluation.embed`, :mod:`fastgan.evaluation.cache`): inputs, the one embedding
  pass, the on-disk feature cache.

Names are resolved lazily, so importing the package is cheap.
"""

from __future__ import annotations

from fastgan._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
