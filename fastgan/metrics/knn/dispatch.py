"""Choosing the k-NN engine: ``impl="auto" | "torch" | "faiss"``.

``"auto"`` resolves to ``"torch"``: the GEMM-tile engine shares one tile between precision,
density and coverage and computes only half of each symmetric real-real / fake-fake matrix,
while the faiss engine needs two k-NN searches and two range searches over full matrices.
``"faiss"`` must be requested explicitly and raises if faiss is missing. Both engines are
exact and return identical results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

import torch

from fastgan.metrics.knn import faiss_engine, torch_engine
from fastgan.metrics.knn.radii import Radii, RadiiLike

logger = logging.getLogger(__name__)

#: Accepted values of ``impl``.
IMPLS = ("auto", "faiss", "torch")


def resolve_impl(impl: str, device: torch.device) -> str:
    """Resolve ``impl`` (``"auto"`` | ``"faiss"`` | ``"torch"``) for features on ``device``.

    Args:
        impl: the requested engine.
        device: where the features live.

    Returns:
        ``"torch"`` or ``"faiss"``.

    Raises:
        ValueError: unknown ``impl``.
        RuntimeError: ``impl="faiss"`` without faiss.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl: must be one of {IMPLS}, got {impl!r}")
    if impl == "faiss":
        if faiss_engine.faiss_module() is None:
            raise RuntimeError("impl='faiss': faiss is not installed (pip install faiss-cpu or faiss-gpu)")
        if device.type == "cuda" and faiss_engine.faiss_gpus() == 0:
            logger.info("impl='faiss' with CUDA features but faiss has no GPU: searching on the CPU")
        return "faiss"
    return "torch"


def default_impl() -> str:
    """What ``impl="auto"`` resolves to for CPU features (reported by ``fastgan.backends()``)."""
    return resolve_impl("auto", torch.device("cpu"))


def knn_sqradii(x: torch.Tensor, ks: Sequence[int], impl: str, **kw: Any) -> torch.Tensor:
    """Exact squared k-NN radii (Tensor[len(ks), N] float64) with the resolved ``impl``.

    Args:
        x (Tensor[N, D]): features.
        ks: neighbour counts, each in ``[1, N - 1]``.
        impl: ``"torch"`` or ``"faiss"`` (resolved by :func:`resolve_impl`).
        **kw: ``block_size``, ``progress``, ``stats`` of the engine.
    """
    if impl == "faiss":
        return faiss_engine.knn_sqradii_faiss(x, ks, **kw)
    return torch_engine.knn_sqradii_torch(x, ks, **kw)


def knn_radii(x: torch.Tensor, ks: Sequence[int], impl: str, **kw: Any) -> Radii:
    """Squared k-NN radii as a :class:`~fastgan.metrics.knn.radii.Radii` (exact values on demand).

    Arguments as :func:`knn_sqradii`.
    """
    if impl == "faiss":
        return Radii.from_exact(faiss_engine.knn_sqradii_faiss(x, ks, **kw), ks)
    return torch_engine.knn_radii_torch(x, ks, **kw)


def cross_ball_stats(
    x: torch.Tensor,
    y: torch.Tensor,
    r2x: Optional[RadiiLike],
    s2y: Optional[RadiiLike],
    impl: str,
    **kw: Any,
) -> dict[str, torch.Tensor]:
    """Ball-membership statistics with the resolved ``impl``.

    See :func:`fastgan.metrics.knn.torch_engine.cross_ball_stats_torch` for the arguments
    and the returned keys; ``**kw``: ``strict``, ``block_size``, ``progress``, ``stats``.
    """
    if impl == "faiss":
        return faiss_engine.cross_ball_stats_faiss(x, y, r2x, s2y, **kw)
    return torch_engine.cross_ball_stats_torch(x, y, r2x, s2y, **kw)
