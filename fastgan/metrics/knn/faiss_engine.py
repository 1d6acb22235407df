"""The faiss engine: k-NN radii with flat L2 searches, ball statistics with range searches.

faiss is optional. It is discovered here and only here (:func:`faiss_module`,
:func:`faiss_info`, :func:`faiss_gpus`; ``fastgan.backends()`` reports :func:`faiss_info`).
faiss is used through its torch interop (``faiss.contrib.torch_utils``): indexes take and
return torch tensors, so CUDA features searched with a faiss GPU index never leave the GPU.
Range searches exist only on CPU indexes (faiss has no GPU range search), so the ball
statistics of CUDA features are searched on the CPU. Candidates are refined in float64
exactly as in the torch engine (the error bound: :mod:`fastgan.metrics._bounds`), so both
engines return identical results.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import torch

from fastgan.metrics._bounds import (
    U32,
    Centered,
    abs_term,
    center,
    decide,
    error_coeff,
    ip_margin,
    mean64,
    pair_sqdist,
)
from fastgan.metrics._tiles import ProgressBar, default_block_rows
from fastgan.metrics.knn.radii import RadiiLike, RadiusView, refine_sorted
from fastgan.metrics.knn.torch_engine import cross_ball_stats_torch, knn_sqradii_torch

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- discovery


def faiss_module() -> Optional[Any]:
    """The imported ``faiss`` module with its torch interop loaded, or None when faiss is unusable."""
    try:
        faiss = importlib.import_module("faiss")
        importlib.import_module("faiss.contrib.torch_utils")
    except Exception:  # not installed, or a broken install
        return None
    return faiss


def faiss_gpus() -> int:
    """Number of GPUs faiss can use (0 for faiss-cpu or no faiss)."""
    faiss = faiss_module()
    if faiss is None or not hasattr(faiss, "StandardGpuResources"):
        return 0
    try:
        return int(faiss.get_num_gpus())
    except Exception:
        return 0


def faiss_info() -> dict[str, Any]:
    """What faiss this installation has.

    Returns:
        dict with ``installed`` (bool), ``flavour`` (``"cpu"`` | ``"gpu"`` | None), ``version``
        (str | None), ``gpus`` (int) and, when faiss cannot be imported, ``error`` (str).
    """
    try:
        faiss = importlib.import_module("faiss")
        importlib.import_module("faiss.contrib.torch_utils")
    except Exception as exc:  # not installed, or a broken install
        return {"installed": False, "flavour": None, "version": None, "gpus": 0, "error": str(exc)}
    flavour = "gpu" if hasattr(faiss, "StandardGpuResources") else "cpu"
    version = getattr(faiss, "__version__", "?")
    return {"installed": True, "flavour": flavour, "version": version, "gpus": faiss_gpus()}


# ----------------------------------------------------------------------------- indexes


def _flat_index(dim: int, metric_ip: bool, device: torch.device) -> tuple[Any, torch.device]:
    """A flat faiss index (L2 or inner product) and the device its queries live on.

    The index is on the features' GPU when they are CUDA tensors and faiss has GPUs, else on the CPU.
    """
    faiss = faiss_module()
    if faiss is None:
        raise RuntimeError("impl='faiss': faiss is not installed (pip install faiss-cpu or faiss-gpu)")
    index = faiss.IndexFlatIP(dim) if metric_ip else faiss.IndexFlatL2(dim)
    if device.type == "cuda" and faiss_gpus() > 0:
        gpu = device.index if device.index is not None else torch.cuda.current_device()
        res = faiss.StandardGpuResources()
        gpu_index = faiss.index_cpu_to_gpu(res, gpu, index)
        gpu_index.fastgan_resources = res  # the resources must live as long as the index
        return gpu_index, device
    if device.type == "cuda":
        logger.info("impl='faiss' with CUDA features: this faiss search runs on the CPU")
    return index, torch.device("cpu")


# ----------------------------------------------------------------------------- radii


def knn_sqradii_faiss(
    x: torch.Tensor,
    ks: Sequence[int],
    *,
    block_size: Optional[int] = None,
    progress: Optional[ProgressBar] = None,
    stats: Optional[dict[str, int]] = None,
) -> torch.Tensor:
    """Exact squared k-NN radii (Tensor[len(ks), N] float64), neighbours searched with ``IndexFlatL2``.

    Same contract as :func:`fastgan.metrics.knn.torch_engine.knn_sqradii_torch`. faiss returns
    the ``k' = kmax + 1 + 8`` smallest float32 squared distances (self included). With the same
    error bound the candidates are certified complete when the ``k'``-th returned value
    exceeds the ``kmax``-th (without self) by more than twice the bound; rows where this fails
    are searched again with a doubled ``k'``, and the candidates are refined in float64.

    Args:
        x (Tensor[N, D]): features (any float dtype, CPU or CUDA).
        ks: neighbour counts, each in ``[1, N - 1]``.
        block_size: query rows per search.
        progress: bar advanced by the rows processed.
        stats: diagnostics (``knn_candidates``).
    """
    n, d = x.shape
    kmax = max(ks)
    dev = x.device
    c = center(x, mean64(x), U32)
    if c.w.dtype != torch.float32:  # beyond float32 range: the torch engine works in float64
        return knn_sqradii_torch(x, ks, block_size=block_size, progress=progress, stats=stats)
    index, sdev = _flat_index(d, False, dev)
    xw = c.w.to(sdev).contiguous()
    index.add(xw)
    # faiss computes norms and dot products in float32 itself; its error obeys the same bound
    coeff = error_coeff(d, U32)
    n64 = c.n64.to(sdev)
    out = torch.empty((len(ks), n), dtype=torch.float64, device=dev)
    rows_blk = default_block_rows(n, torch.device("cpu"), block_size)
    st: dict[str, int] = {} if stats is None else stats
    for s in range(0, n, rows_blk):
        e = min(n, s + rows_blk)
        todo = torch.arange(s, e, device=sdev)
        kq = min(n, kmax + 1 + 8)
        while todo.numel():
            dist, idx = index.search(xw[todo], kq)
            dist_t = dist.to(torch.float64)  # faiss's IndexFlatL2 returns SQUARED L2 distances
            self_mask = idx == todo.unsqueeze(1)
            dist_ns = dist_t.masked_fill(self_mask | (idx < 0), math.inf)
            srt, order = torch.sort(dist_ns, dim=1)
            srt_idx = torch.gather(idx, 1, order)
            kth = srt[:, kmax - 1]
            err = coeff * (n64[todo] + c.nmax) + abs_term(d)
            thr = kth + 2.0 * err
            # complete if every point faiss did not return is provably beyond thr
            # (a non-returned point has a computed distance >= the last returned one)
            complete = (dist_t[:, -1] > thr) | (kq >= n)
            done_rows = todo[complete]
            if done_rows.numel():
                out[:, done_rows.to(dev)] = refine_sorted(
                    x,
                    done_rows.to(dev),
                    srt[complete].to(dev),
                    srt_idx[complete].to(dev),
                    err[complete].to(dev),
                    ks,
                    st,
                )
            todo = todo[~complete]
            kq = min(n, kq * 2)
        if progress is not None:
            progress.update(e - s)
    return out


# ----------------------------------------------------------------------------- ball statistics


def cross_ball_stats_faiss(
    x: torch.Tensor,
    y: torch.Tensor,
    r2x: Optional[RadiiLike],
    s2y: Optional[RadiiLike],
    *,
    strict: bool = False,
    block_size: Optional[int] = None,
    progress: Optional[ProgressBar] = None,
    stats: Optional[dict[str, int]] = None,
) -> dict[str, torch.Tensor]:
    """Ball-membership statistics with faiss range searches.

    Same contract as :func:`fastgan.metrics.knn.torch_engine.cross_ball_stats_torch`. Ball
    membership ``|y - x_i|^2 <= r_i^2`` is rewritten as an inner product,
    ``<[2 x_i, r_i^2 - |x_i|^2, 1], [y, 1, -|y|^2]> = r_i^2 - |y - x_i|^2 >= 0``, so one
    ``IndexFlatIP`` range search per query set returns every pair whose float32 score exceeds
    ``-margin`` (:func:`fastgan.metrics._bounds.ip_margin`). Pairs with score ``> margin``
    are certain members; the rest are decided in float64 from the original features.

    Args:
        x (Tensor[N, D]), y (Tensor[M, D]): features on one device.
        r2x, s2y: squared radii of ``x`` and ``y`` (or None).
        strict: open balls (``<``) instead of closed ones (``<=``).
        block_size: query rows per range search.
        progress: bar advanced by the query rows processed.
        stats: diagnostics (``cross_refined``).
    """
    n, d = x.shape
    m = y.shape[0]
    dev = x.device
    r2v = RadiusView.of(r2x).values() if r2x is not None else None
    s2v = RadiusView.of(s2y).values() if s2y is not None else None
    res: dict[str, torch.Tensor] = {}
    refined = 0
    shift = 0.5 * (mean64(x) + mean64(y))
    cx = center(x, shift, U32)
    cy = center(y, shift, U32)
    if cx.w.dtype != torch.float32 or cy.w.dtype != torch.float32:
        return cross_ball_stats_torch(
            x, y, r2v, s2v, strict=strict, block_size=block_size, progress=progress, stats=stats
        )
    rows_blk = default_block_rows(max(n, m), torch.device("cpu"), block_size)
    cpu = torch.device("cpu")

    def pairs(
        base: Centered, rad2: torch.Tensor, query: Centered
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]]:
        """Yield (query_idx, base_idx, score64, margin) blocks for score > -margin."""
        bn = base.n64.cpu()
        qn = query.n64.cpu()
        rad2c = rad2.cpu()
        ones_b = torch.ones(len(bn), 1, dtype=torch.float64)
        aug_b = torch.cat([2.0 * base.w.cpu().double(), (rad2c - bn).unsqueeze(1), ones_b], 1).float()
        margin = ip_margin(d, base.nmax, query.nmax, float((rad2c - bn).abs().max()))
        index, _ = _flat_index(d + 2, True, cpu)  # range searches run on CPU indexes only
        index.add(aug_b)
        for s in range(0, len(qn), rows_blk):
            e = min(len(qn), s + rows_blk)
            ones_q = torch.ones(e - s, 1, dtype=torch.float64)
            aug_q = torch.cat([query.w[s:e].cpu().double(), ones_q, -qn[s:e].unsqueeze(1)], 1).float()
            lims, dist, ids = index.range_search(aug_q, -margin)
            counts = lims[1:] - lims[:-1]
            qi = torch.repeat_interleave(torch.arange(s, e), counts)
            yield qi, ids.long(), dist.double(), margin
            if progress is not None:
                progress.update(e - s)

    def members(
        base: Centered, rad2: torch.Tensor, query: Centered, base_x: torch.Tensor, query_x: torch.Tensor
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (query_idx, base_idx) of the pairs inside the base ball, decided exactly: pairs
        within the search margin of the boundary are recomputed in float64."""
        nonlocal refined
        rad2c = rad2.cpu()
        for qi, bi, score, margin in pairs(base, rad2, query):
            ok = score > margin
            border = ~ok
            if border.any():
                bq, bb = qi[border], bi[border]
                refined += int(bq.numel())
                exact = pair_sqdist(query_x, base_x, bq.to(dev), bb.to(dev)).cpu()
                ok[border] = decide(exact, rad2c[bb], strict)
            yield qi[ok], bi[ok]

    if r2v is not None:
        count_y = torch.zeros(m, dtype=torch.int64)
        cover_x = torch.zeros(n, dtype=torch.bool)
        for qi, bi in members(cx, r2v, cy, x, y):
            count_y.index_add_(0, qi, torch.ones_like(qi))
            cover_x[bi] = True
        res["count_y"] = count_y.to(dev)
        res["cover_x"] = cover_x.to(dev)
    if s2v is not None:
        inside = torch.zeros(n, dtype=torch.bool)
        for qi, _ in members(cy, s2v, cx, y, x):
            inside[qi] = True
        res["inside_y_x"] = inside.to(dev)
    if stats is not None:
        stats["cross_refined"] = stats.get("cross_refined", 0) + refined
    return res
