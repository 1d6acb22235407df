"""fastgan: fast, exact losses and metrics for implicit generative models.

Capabilities (each with a pure-torch reference beside the compiled kernels):

* f-divergence registry and f-GAN losses (:mod:`fastgan.divergences`, :mod:`fastgan.losses`)
* FID: streaming float64 statistics and an exact Frechet distance (:mod:`fastgan.metrics`)
* precision / recall / density / coverage / realism with exact k-NN
* Inception Score, KID, feature extractors, the truncation trick
* ``fastgan.evaluate(real, fake, metrics=...)``: every metric from one embedding pass per input
  (image folders, arrays, data loaders, statistics, or a generator via ``fastgan.Sampler``),
  sharded across ``torch.distributed`` ranks (:mod:`fastgan.evaluation`); ``fastgan eval`` on
  the command line

``fastgan.backends()`` reports which native kernels are available.
"""

from __future__ import annotations

from fastgan._dispatch import FastganFallbackWarning
from fastgan._info import backends
from fastgan._lazy import lazy_exports
from fastgan._version import __version__

__all__ = ["__version__", "backends", "FastganFallbackWarning", "evaluate", "EvalResult", "Sampler"]

_SUBMODULES = {
    "divergences",
    "losses",
    "linalg",
    "metrics",
    "features",
    "truncation",
    "plotting",
    "cli",
    "evaluation",
}
#: names re-exported lazily from a submodule (``fastgan.evaluate`` is the function of
#: :mod:`fastgan.evaluation`)
_EXPORTS = {
    "evaluate": "fastgan.evaluation.api",
    "EvalResult": "fastgan.evaluation.api",
    "Sampler": "fastgan.evaluation.sampler",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, _SUBMODULES)
