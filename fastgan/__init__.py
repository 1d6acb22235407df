"""fastgan: fast, exact losses and metrics for implicit generative models.

Capabilities (each with a pure-torch reference beside the compiled kernels):

* f-divergence registry and f-GAN losses (:mod:`fastgan.divergences`, :mod:`fastgan.losses`)
* FID: streaming float64 statistics and an exact Frechet distance (:mod:`fastgan.metrics`)
* precision / recall / density / coverage / realism with exact k-NN
* Inception Score, KID, feature extractors, the truncation trick
* ``fastgan.evaluate(real, fake, metrics=...)``: every metric from one embedding pass per input
  (image folders, arrays, data loaders, statistics, or a generator via ``fastgan.Sampler``),
  sharded across ``torch.distributed`` ranks; ``fastgan eval`` on the command line

``fastgan.backends()`` reports which native kernels are available.
"""

from __future__ import annotations

from fastgan._info import backends
from fastgan._dispatch import FastganFallbackWarning

__version__ = "0.1.0"

__all__ = ["__version__", "backends", "FastganFallbackWarning", "evaluate", "EvalResult", "Sampler"]

# ``evaluate`` is a package whose module object is callable: ``fastgan.evaluate(real, fake)``
_SUBMODULES = {"divergences", "losses", "linalg", "metrics", "features", "truncation", "cli", "evaluate"}
#: names re-exported lazily from a submodule
_EXPORTS = {"EvalResult": "fastgan.evaluate.api", "Sampler": "fastgan.evaluate.sampler"}


def __getattr__(name: str) -> object:
    # Import subpackages on first access: `import fastgan; fastgan.metrics.fid(...)`.
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"fastgan.{name}")
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'fastgan' has no attribute {name!r}")
