"""Exact ball-membership reductions between two feature sets, in tiles (no N x M matrix).

The engine behind clipped density / coverage (:mod:`fastgan.metrics.clipped`) and the rarity
score (:mod:`fastgan.metrics.rarity_knn`). With balls ``B(x_i, r_i)`` around the rows of ``x``
(Tensor[N, D], exact float64 squared radii ``r2[i]``) and the rows of ``y`` (Tensor[M, D]),
``in(i, j)`` is ``|y_j - x_i|^2 <= r2[i]`` (closed balls) or ``< r2[i]`` (``strict=True``);
the engine returns

* ``count_x`` (int64[N]): ``#{j : in(i, j)}``, the samples of ``y`` in each ball;
* ``count_y`` (int64[M]): ``#{i : in(i, j)}``, the balls holding each ``y_j``;
* ``min_r2_y`` (float64[M]): ``min {r2[i] : in(i, j)}`` (``inf`` when no ball holds ``y_j``).

Exactness: each tile is one float32 GEMM of shifted, augmented rows
(:func:`fastgan.metrics._bounds.block_sqdist`); a pair is decided in float32 when its value
is farther from the radius than the certified error bound, otherwise its squared distance is
recomputed in float64 by direct differences (:func:`fastgan.metrics._bounds.pair_sqdist`) and
decided there. Every decision therefore equals the one a brute-force float64 computation
makes (proof: :mod:`fastgan.metrics._bounds`). Memory beyond the inputs: the float32 copies and
one tile; a tile that runs out of memory is retried with half the rows.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from fastgan.metrics._bounds import (
    abs_term,
    block_sqdist,
    center,
    decide,
    error_coeff,
    ieee_matmul,
    mean64,
    pair_sqdist,
    round_down32,
    round_up32,
)
from fastgan.metrics._tiles import BlockRunner, ProgressBar, default_square_block

__all__ = ["ball_reductions"]


def ball_reductions(
    x: torch.Tensor,
    r2: torch.Tensor,
    y: torch.Tensor,
    *,
    strict: bool,
    want: tuple[str, ...] = ("count_x", "count_y", "min_r2_y"),
    block_size: Optional[int] = None,
    progress: Optional[ProgressBar] = None,
    stats: Optional[dict[str, Any]] = None,
) -> dict[str, torch.Tensor]:
    """Exact ball-membership reductions (see the module docstring for the keys).

    Args:
        x (Tensor[N, D]): ball centres.
        r2 (Tensor[N]): float64 exact squared radii (``inf`` and negative values are allowed:
            a negative radius holds nothing).
        y (Tensor[M, D]): query rows, same device and D.
        strict: open balls (``<``) instead of closed ones (``<=``).
        want: the reductions to return.
        block_size: side of the square tiles (default 2048 on CPU, 8192 on CUDA).
        progress: bar advanced by the rows of ``x`` processed.
        stats: diagnostics (``ball_refined``: pairs recomputed in float64, ``oom_retries``).

    Returns:
        dict with the keys of ``want``.
    """
    n, d = x.shape
    m = y.shape[0]
    dev = x.device
    r2 = r2.to(device=dev, dtype=torch.float64)
    out: dict[str, torch.Tensor] = {}
    if "count_x" in want:
        out["count_x"] = torch.zeros(n, dtype=torch.int64, device=dev)
    if "count_y" in want:
        out["count_y"] = torch.zeros(m, dtype=torch.int64, device=dev)
    if "min_r2_y" in want:
        out["min_r2_y"] = torch.full((m,), math.inf, dtype=torch.float64, device=dev)
    if n == 0 or m == 0:
        return out
    refined = [0]
    with ieee_matmul(dev) as u32:
        shift = 0.5 * (mean64(x) + mean64(y))
        cx = center(x, shift, u32)
        cy = center(y, shift, u32, layout="col")
        if cx.aug.dtype != cy.aug.dtype:
            cx, cy = cx.to(torch.float64), cy.to(torch.float64)
        assert cy.col is not None
        ycol = cy.col
        err = error_coeff(d, max(cx.u, cy.u)) * (cx.n64 + cy.nmax) + abs_term(d)
        f32 = cx.aug.dtype == torch.float32
        # float32 values below lo are certainly inside, above hi certainly outside
        lo = round_down32(r2 - err) if f32 else r2 - err
        hi = round_up32(r2 + err) if f32 else r2 + err
        side_c = default_square_block(dev, block_size)

        def work(s: int, e: int) -> None:
            # results of rows s:e are committed at the end: an out-of-memory retry never double-counts
            cnt_x = torch.zeros(e - s, dtype=torch.int64, device=dev)
            parts: list[tuple[torch.Tensor, torch.Tensor]] = []
            for cs in range(0, m, side_c):
                ce = min(m, cs + side_c)
                blk = block_sqdist(cx.aug[s:e], ycol[cs:ce])
                rr, cc = (blk <= hi[s:e].unsqueeze(1)).nonzero(as_tuple=True)
                if rr.numel():
                    ok = blk[rr, cc] < lo[s + rr]
                    border = (~ok).nonzero(as_tuple=True)[0]
                    if border.numel():
                        refined[0] += int(border.numel())
                        exact = pair_sqdist(x, y, s + rr[border], cs + cc[border])
                        ok[border] = decide(exact, r2[s + rr[border]], strict)
                    rr, cc = rr[ok], cc[ok] + cs
                    cnt_x += torch.bincount(rr, minlength=e - s)
                    parts.append((rr, cc))
                del blk
            if "count_x" in out:
                out["count_x"][s:e] = cnt_x
            if parts:
                rr = torch.cat([p[0] for p in parts]) + s
                cc = torch.cat([p[1] for p in parts])
                if "count_y" in out:
                    out["count_y"] += torch.bincount(cc, minlength=m)
                if "min_r2_y" in out:
                    out["min_r2_y"].scatter_reduce_(0, cc, r2[rr], reduce="amin")

        runner = BlockRunner(default_square_block(dev, block_size), progress, "ball block")
        runner.run(n, work)
    if stats is not None:
        stats["ball_refined"] = stats.get("ball_refined", 0) + refined[0]
        stats["oom_retries"] = stats.get("oom_retries", 0) + runner.retries
    return out
