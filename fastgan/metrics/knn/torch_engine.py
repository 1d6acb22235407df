"""The torch engine: k-NN radii, ball statistics and realism ratios from float32 GEMM tiles.

Works on whatever device holds the features (CPU or CUDA). Each tile is one GEMM of
augmented rows (:func:`fastgan.metrics._bounds.block_sqdist`); decisions the error bound
certifies are taken in float32, the rest in float64 from the original features, so every
result equals the brute-force float64 computation (proof: :mod:`fastgan.metrics._bounds`).
Extra memory is ``O((N + M) * D + tile^2)``: shifted float32 copies of the features (at most
two per set) and one tile; a tile that runs out of memory is retried with half the size
(:func:`fastgan.metrics._tiles.retry_on_oom`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional

import torch

from fastgan.metrics._bounds import (
    U64,
    Centered,
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
from fastgan.metrics._tiles import (
    BlockRunner,
    ProgressBar,
    default_block_rows,
    default_square_block,
    retry_on_oom,
)
from fastgan.metrics.knn.radii import Radii, RadiiLike, RadiusView, kth_from_candidates


def _merge_topk(
    vals: torch.Tensor, idx: torch.Tensor, s: int, e: int, blk: torch.Tensor, col_off: int
) -> None:
    """Merge the smallest entries of each row of ``blk`` (Tensor[e - s, C]) into rows ``s:e`` of vals, idx."""
    kk = vals.shape[1]
    kb = min(kk, blk.shape[1])
    v, i = torch.topk(blk, kb, dim=1, largest=False, sorted=False)
    cv = torch.cat([vals[s:e], v], 1)
    ci = torch.cat([idx[s:e], i + col_off], 1)
    v2, j = torch.topk(cv, kk, dim=1, largest=False, sorted=False)
    vals[s:e] = v2
    idx[s:e] = torch.gather(ci, 1, j)


def _radii_rows(
    x: torch.Tensor,
    c: Centered,
    rows: torch.Tensor,
    ks: Sequence[int],
    err_row: torch.Tensor,
    block_rows: int,
    stats: dict[str, int],
) -> torch.Tensor:
    """Exact squared radii for the given ``rows`` by full-row passes (Tensor[len(ks), len(rows)])."""
    kmax = max(ks)
    out = torch.empty((len(ks), rows.numel()), dtype=torch.float64, device=x.device)

    col = c.col
    assert col is not None  # full-row passes use the centred columns

    def work(s: int, e: int) -> None:
        ri = rows[s:e]
        blk = block_sqdist(c.aug[ri], col)
        r = torch.arange(e - s, device=x.device)
        blk[r, ri] = math.inf
        kth = torch.topk(blk, kmax, dim=1, largest=False, sorted=True).values[:, kmax - 1]
        thr = kth.to(torch.float64) + 2.0 * err_row[ri]
        thr = round_up32(thr) if blk.dtype == torch.float32 else thr
        rr, cc = (blk <= thr.unsqueeze(1)).nonzero(as_tuple=True)
        del blk
        stats["knn_candidates"] = stats.get("knn_candidates", 0) + int(rr.numel())
        exact = pair_sqdist(x, x, ri[rr], cc)
        out[:, s:e] = kth_from_candidates(rr, exact, e - s, ks)

    runner = BlockRunner(block_rows)
    runner.run(int(rows.numel()), work)
    stats["oom_retries"] = stats.get("oom_retries", 0) + runner.retries
    return out


def knn_radii_torch(
    x: torch.Tensor,
    ks: Sequence[int],
    *,
    block_size: Optional[int] = None,
    progress: Optional[ProgressBar] = None,
    stats: Optional[dict[str, int]] = None,
) -> Radii:
    """Squared k-NN radii of every row of ``x`` among the OTHER rows (exact on demand).

    The distance matrix is symmetric, so only tiles on and above the diagonal are computed
    (half the GEMM work); each tile updates the running ``kmax + 16`` smallest float32 values
    of its rows and of its columns. A row's candidates are certified complete when its
    largest kept value exceeds its ``kmax``-th value by twice the error bound; the rare
    incomplete rows (many near-equal distances, e.g. duplicates) get a full-row pass.

    Args:
        x (Tensor[N, D]): features (any float dtype, CPU or CUDA).
        ks: neighbour counts, each in ``[1, N - 1]``.
        block_size: side of the square tiles (default 2048 on CPU, 8192 on CUDA).
        progress: bar advanced by the rows processed.
        stats: diagnostics (``knn_candidates``, ``knn_full_rows``, ``oom_retries``, ``block_rows``).

    Returns:
        :class:`~fastgan.metrics.knn.radii.Radii` whose exact values ``r2[t, i]`` are the squared
        distance from ``x_i`` to its ``ks[t]``-th nearest neighbour in ``x`` without ``x_i`` itself.
    """
    n, d = x.shape
    dev = x.device
    kmax = max(ks)
    st: dict[str, int] = {} if stats is None else stats
    kk = min(n - 1, kmax + 16)
    with ieee_matmul(dev) as u32:
        c = center(x, mean64(x), u32, layout="both")
        assert c.col is not None
        col = c.col
        coeff = error_coeff(d, c.u)
        err_row = coeff * (c.n64 + c.nmax) + abs_term(d)

        def tile_pass(side: int) -> tuple[torch.Tensor, torch.Tensor]:
            vals = torch.full((n, kk), math.inf, dtype=c.aug.dtype, device=dev)
            idx = torch.full((n, kk), -1, dtype=torch.int64, device=dev)
            starts = list(range(0, n, side))
            for bi, s0 in enumerate(starts):
                e0 = min(n, s0 + side)
                for s1 in starts[bi:]:
                    e1 = min(n, s1 + side)
                    blk = block_sqdist(c.aug[s0:e0], col[s1:e1])
                    if s0 == s1:
                        blk.fill_diagonal_(math.inf)
                    _merge_topk(vals, idx, s0, e0, blk, s1)
                    if s1 != s0:
                        _merge_topk(vals, idx, s1, e1, blk.t().contiguous(), s0)
                    del blk
                if progress is not None:
                    progress.update(e0 - s0)
            return vals, idx

        side0 = default_square_block(dev, block_size)
        (vals, idx), side, retries = retry_on_oom(tile_pass, side0, what="k-NN tile")
        st["oom_retries"] = st.get("oom_retries", 0) + retries
        st["block_rows"] = side
        vals, order = torch.sort(vals, dim=1)
        idx = torch.gather(idx, 1, order)
        thr = vals[:, kmax - 1].to(torch.float64) + 2.0 * err_row
        thr = round_up32(thr) if vals.dtype == torch.float32 else thr
        if kk >= n - 1:
            complete = torch.ones(n, dtype=torch.bool, device=dev)
        else:
            complete = vals[:, kk - 1] > thr
        approx = torch.stack([vals[:, k - 1].to(torch.float64) for k in ks])
        radii = Radii(x, ks, approx, err_row, vals, idx, stats=st)
        rows_i = (~complete).nonzero(as_tuple=True)[0]
        st["knn_full_rows"] = st.get("knn_full_rows", 0) + int(rows_i.numel())
        if rows_i.numel():
            radii.exact_vals[:, rows_i] = _radii_rows(
                x, c, rows_i, ks, err_row, default_block_rows(n, dev, block_size), st
            )
            radii.known[rows_i] = True
    return radii


def knn_sqradii_torch(
    x: torch.Tensor,
    ks: Sequence[int],
    *,
    block_size: Optional[int] = None,
    progress: Optional[ProgressBar] = None,
    stats: Optional[dict[str, int]] = None,
) -> torch.Tensor:
    """Exact squared k-NN radii (Tensor[len(ks), N] float64); arguments as :func:`knn_radii_torch`."""
    return knn_radii_torch(x, ks, block_size=block_size, progress=progress, stats=stats).full()


def empty_ball_stats(
    n: int, m: int, rows_balls: bool, cols_balls: bool, device: torch.device
) -> dict[str, torch.Tensor]:
    """Zeroed result dict of the ball-membership engines (keys as in :func:`cross_ball_stats_torch`)."""
    res: dict[str, torch.Tensor] = {}
    if rows_balls:
        res["count_y"] = torch.zeros(m, dtype=torch.int64, device=device)
        res["cover_x"] = torch.zeros(n, dtype=torch.bool, device=device)
    if cols_balls:
        res["inside_y_x"] = torch.zeros(n, dtype=torch.bool, device=device)
    return res


def cross_ball_stats_torch(
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
    """Ball-membership statistics between ``x`` (Tensor[N, D]) and ``y`` (Tensor[M, D]).

    With ``in(i, j) = d2(x_i, y_j) <= r2x[i]`` (``<`` if ``strict``) and
    ``in'(i, j) = d2(x_i, y_j) <= s2y[j]``:

    * ``count_y`` (int64[M]): ``#{i : in(i, j)}`` (precision: > 0; density: sum),
    * ``cover_x`` (bool[N]): ``any_j in(i, j)`` (coverage),
    * ``inside_y_x`` (bool[N]): ``any_j in'(i, j)`` (recall).

    Keys are present only for the radii given. Radii may be exact tensors (Tensor[N],
    Tensor[M] float64) or :class:`~fastgan.metrics.knn.radii.RadiusView` intervals; exact
    radii are then computed only for rows that have a pair the interval cannot decide.

    Args:
        x, y: features on one device.
        r2x, s2y: squared radii of ``x`` and ``y`` (or None).
        strict: open balls (``<``) instead of closed ones (``<=``).
        block_size: side of the tiles.
        progress: bar advanced by the rows of ``x`` processed.
        stats: diagnostics (``cross_refined``, ``oom_retries``).
    """
    n, d = x.shape
    m = y.shape[0]
    dev = x.device
    rv = RadiusView.of(r2x) if r2x is not None else None
    sv = RadiusView.of(s2y) if s2y is not None else None
    res = empty_ball_stats(n, m, r2x is not None, s2y is not None, dev)
    if n == 0 or m == 0 or (r2x is None and s2y is None):
        return res
    refined = [0]
    with ieee_matmul(dev) as u32:
        shift = 0.5 * (mean64(x) + mean64(y))
        cx = center(x, shift, u32)
        cy = center(y, shift, u32, layout="col")
        if cx.aug.dtype != cy.aug.dtype:
            cx, cy = cx.to(torch.float64), cy.to(torch.float64)
        assert cy.col is not None
        ycol = cy.col
        u = max(cx.u, cy.u)
        coeff = error_coeff(d, u)
        absterm = abs_term(d)
        f32 = cx.aug.dtype == torch.float32
        down = round_down32 if f32 else (lambda t: t)
        up = round_up32 if f32 else (lambda t: t)
        if sv is not None:
            col_err = coeff * (cy.n64 + cx.nmax) + absterm
            lo_c = down(sv.lo() - col_err)
            hi_c = up(sv.hi() + col_err)
        if rv is not None:
            err_r = coeff * (cx.n64 + cy.nmax) + absterm
            lo_r = down(rv.lo() - err_r)
            hi_r = up(rv.hi() + err_r)
        side_c = default_square_block(dev, block_size)

        def work(s: int, e: int) -> None:
            # everything for rows s:e is accumulated locally and committed at the end, so an
            # out-of-memory retry of this row block never double-counts
            count = torch.zeros(m, dtype=torch.int64, device=dev) if rv is not None else None
            cover = torch.zeros(e - s, dtype=torch.bool, device=dev)
            got = torch.zeros(e - s, dtype=torch.bool, device=dev)
            for cs in range(0, m, side_c):
                ce = min(m, cs + side_c)
                blk = block_sqdist(cx.aug[s:e], ycol[cs:ce])
                if rv is not None:
                    # pairs that may lie in x_i's ball; certain ones are decided in float32
                    rr, cc = (blk <= hi_r[s:e].unsqueeze(1)).nonzero(as_tuple=True)
                    if rr.numel():
                        ok = blk[rr, cc] < lo_r[s + rr]
                        border = (~ok).nonzero(as_tuple=True)[0]
                        if border.numel():
                            refined[0] += int(border.numel())
                            exact = pair_sqdist(x, y, s + rr[border], cs + cc[border])
                            ok[border] = decide(exact, rv.exact(s + rr[border]), strict)
                        assert count is not None
                        count += torch.bincount(cs + cc[ok], minlength=m)
                        cover[rr[ok]] = True
                if sv is not None:
                    rr, cc = (blk <= hi_c[cs:ce].unsqueeze(0)).nonzero(as_tuple=True)
                    if rr.numel():
                        ok = blk[rr, cc] < lo_c[cs + cc]
                        got[rr[ok]] = True
                        # refine only pairs whose row is not already certainly inside some ball
                        border = ((~ok) & ~got[rr]).nonzero(as_tuple=True)[0]
                        if border.numel():
                            refined[0] += int(border.numel())
                            exact = pair_sqdist(x, y, s + rr[border], cs + cc[border])
                            good = decide(exact, sv.exact(cs + cc[border]), strict)
                            got[rr[border[good]]] = True
                del blk
            if rv is not None:
                assert count is not None
                res["count_y"] += count
                res["cover_x"][s:e] |= cover
            if sv is not None:
                res["inside_y_x"][s:e] |= got

        runner = BlockRunner(default_square_block(dev, block_size), progress)
        runner.run(n, work)
    if stats is not None:
        stats["cross_refined"] = stats.get("cross_refined", 0) + refined[0]
        stats["oom_retries"] = stats.get("oom_retries", 0) + runner.retries
    return res


def max_ratio_torch(
    x: torch.Tensor,
    r2x: torch.Tensor,
    q: torch.Tensor,
    *,
    eps: float,
    block_size: Optional[int] = None,
    progress: Optional[ProgressBar] = None,
    stats: Optional[dict[str, int]] = None,
) -> torch.Tensor:
    """``max_i r2x[i] / (d2(q_j, x_i) + eps)`` for every row of ``q``, exactly.

    Rows of ``x`` with ``r2x == 0`` are skipped (they contribute 0). With ``eps = 0`` a
    sample at distance 0 from a kept row gets ``inf``.

    Args:
        x (Tensor[N, D]): real features.
        r2x (Tensor[N]): float64 squared radii (0 for rows to skip).
        q (Tensor[M, D]): samples, same device.
        eps: added to the squared distance (>= 0).
        block_size: rows of ``q`` per block.
        progress: bar advanced by the rows of ``q`` processed.
        stats: diagnostics (``realism_refined``).

    Returns:
        Tensor[M] float64 (0 where no row is kept).
    """
    m, d = q.shape
    dev = q.device
    out = torch.zeros(m, dtype=torch.float64, device=dev)
    keep = (r2x > 0).nonzero(as_tuple=True)[0]
    if keep.numel() == 0 or m == 0:
        return out
    xk = x[keep]
    r2k = r2x[keep]
    refined = [0]
    with ieee_matmul(dev) as u32:
        shift = 0.5 * (mean64(xk) + mean64(q))
        cx = center(xk, shift, u32, layout="col")
        cq = center(q, shift, u32)
        if cx.aug.dtype != cq.aug.dtype:
            cx, cq = cx.to(torch.float64), cq.to(torch.float64)
        assert cx.col is not None
        xcol = cx.col
        wd = cx.aug.dtype
        u = max(cx.u, cq.u)
        coeff = error_coeff(d, u)
        absterm = abs_term(d)
        r2w = r2k.to(wd).unsqueeze(0)
        slack = 8 * (u if wd == torch.float32 else U64)

        def work(s: int, e: int) -> None:
            blk = block_sqdist(cq.aug[s:e], xcol)
            err = (coeff * (cq.n64[s:e] + cx.nmax) + absterm).to(wd).unsqueeze(1)
            # lower bound of the ratio (distance upper bound), rounded down by `slack`
            lo_ratio = r2w / (blk + err + eps) * (1 - slack)
            best_lo = lo_ratio.max(1).values
            del lo_ratio
            den = (blk - err).clamp_min_(0).add_(eps)
            hi_ratio = r2w / den * (1 + slack)  # inf where den == 0
            rr, cc = (hi_ratio >= best_lo.unsqueeze(1)).nonzero(as_tuple=True)
            del hi_ratio, den, blk
            refined[0] += int(rr.numel())
            exact = pair_sqdist(q, xk, rr + s, cc)
            ratio = r2k[cc] / (exact + eps)
            res = torch.zeros(e - s, dtype=torch.float64, device=dev)
            res.scatter_reduce_(0, rr, ratio, reduce="amax")
            out[s:e] = res

        runner = BlockRunner(default_block_rows(int(keep.numel()), dev, block_size), progress)
        runner.run(m, work)
    if stats is not None:
        stats["realism_refined"] = stats.get("realism_refined", 0) + refined[0]
    return out
