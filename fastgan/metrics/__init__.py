"""Evaluation metrics for generative models.

Pure functions (features -> statistics -> value) with thin stateful classes on top:

* FID: :func:`fid`, :func:`fid_from_stats`, :func:`frechet_distance`, :class:`FeatureStats`,
  :func:`save_stats`, :func:`load_stats` (module :mod:`fastgan.metrics.frechet`)
* precision / recall / density / coverage / realism: :func:`prdc`, :func:`precision_recall`,
  :func:`density_coverage`, :func:`realism_score` (module :mod:`fastgan.metrics.manifold`)
* Inception Score: :func:`inception_score` (module :mod:`fastgan.metrics.inception`)
* KID: :func:`kid` (module :mod:`fastgan.metrics.kernel_distance`)

Names are resolved lazily so importing :mod:`fastgan.metrics` stays cheap. No submodule shares
a name with a function, so ``fastgan.metrics.fid`` is always the function, whatever was imported.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    # frechet.py
    "FeatureStats": "frechet",
    "fid": "frechet",
    "fid_from_stats": "frechet",
    "fid_to_standard_normal": "frechet",
    "frechet_distance": "frechet",
    "save_stats": "frechet",
    "load_stats": "frechet",
    "fid_bootstrap": "frechet",
    "fid_per_class": "frechet",
    "fid_infinity": "frechet",
    "FID": "frechet",
    # manifold.py
    "prdc": "manifold",
    "precision_recall": "manifold",
    "density_coverage": "manifold",
    "realism_score": "manifold",
    "PRDC": "manifold",
    # inception.py
    "inception_score": "inception",
    "InceptionScore": "inception",
    # kernel_distance.py
    "kid": "kernel_distance",
    "KID": "kernel_distance",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastgan.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fastgan.metrics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
