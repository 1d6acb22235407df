"""Evaluation metrics for generative models.

Pure functions (features -> statistics -> value) with thin stateful classes on top:

* FID: :func:`fid`, :func:`fid_from_stats`, :func:`frechet_distance`, :class:`FeatureStats`,
  :func:`save_stats`, :func:`load_stats` (module :mod:`fastgan.metrics.fid`)
* precision / recall / density / coverage / realism: :func:`prdc`, :func:`precision_recall`,
  :func:`density_coverage`, :func:`realism_score` (module :mod:`fastgan.metrics.prdc`)
* Inception Score: :func:`inception_score` (module :mod:`fastgan.metrics.inception_score`)
* KID: :func:`kid` (module :mod:`fastgan.metrics.kid`)

Names are resolved lazily so importing :mod:`fastgan.metrics` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    # fid.py
    "FeatureStats": "fid",
    "fid": "fid",
    "fid_from_stats": "fid",
    "fid_to_standard_normal": "fid",
    "frechet_distance": "fid",
    "save_stats": "fid",
    "load_stats": "fid",
    "fid_bootstrap": "fid",
    "fid_per_class": "fid",
    "fid_infinity": "fid",
    "FID": "fid",
    # prdc.py
    "prdc": "prdc",
    "precision_recall": "prdc",
    "density_coverage": "prdc",
    "realism_score": "prdc",
    "PRDC": "prdc",
    # inception_score.py
    "inception_score": "inception_score",
    "InceptionScore": "inception_score",
    # kid.py
    "kid": "kid",
    "KID": "kid",
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
