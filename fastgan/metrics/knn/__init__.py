"""Exact k-NN radii and ball-membership statistics without an N x M matrix.

The engine behind :mod:`fastgan.metrics.manifold`. Every result equals a brute-force
float64 computation on the given feature values (direct differences
``sum_d (a_d - b_d)**2``), not merely a float32 approximation of it.

Modules, by role (shared with the other metric families, one level up:
:mod:`fastgan.metrics._bounds`, certified float32 arithmetic and the error bound, the proof;
:mod:`fastgan.metrics._tiles`, tile and block sizes and the one out-of-memory retry):

* :mod:`~fastgan.metrics.knn.radii`: k-NN radii as certified intervals, exact on demand.
* :mod:`~fastgan.metrics.knn.torch_engine`: the float32 GEMM-tile engine (CPU or CUDA).
* :mod:`~fastgan.metrics.knn.faiss_engine`: the faiss engine and faiss discovery.
* :mod:`~fastgan.metrics.knn.dispatch`: choosing the engine, ``impl="auto" | "torch" | "faiss"``.
"""

from __future__ import annotations

from fastgan.metrics.knn.dispatch import (
    IMPLS,
    cross_ball_stats,
    default_impl,
    knn_radii,
    knn_sqradii,
    resolve_impl,
)
from fastgan.metrics.knn.faiss_engine import faiss_gpus, faiss_info, faiss_module
from fastgan.metrics.knn.radii import Radii, RadiusView
from fastgan.metrics.knn.torch_engine import max_ratio_torch

__all__ = [
    "IMPLS",
    "Radii",
    "RadiusView",
    "cross_ball_stats",
    "default_impl",
    "faiss_gpus",
    "faiss_info",
    "faiss_module",
    "knn_radii",
    "knn_sqradii",
    "max_ratio_torch",
    "resolve_impl",
]
