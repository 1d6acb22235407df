"""KID's certified float32 error bound and the cost model of its two strategies.

Used by :mod:`fastgan.metrics.kernel_distance` (:func:`~fastgan.metrics.kernel_distance.kid`):
the per-round bound on ``|computed - exact|`` MMD_u^2 (``stats["error_bound"]``, ``tol=``) and
``method="auto"``'s choice between ``"subsets"`` and ``"full"`` (constants measured by
``bench/bench_kid.py``, ``test_kid_cost_model``).

The error bound, for any summation order the BLAS uses
------------------------------------------------------

1. Dot products. ``s = gamma * x.y`` comes from a GEMM with ``alpha = gamma``. Each term of
   the sum passes through at most ``D + 2`` roundings (its product, the additions, the
   scaling by alpha wherever the BLAS applies it), so by Higham (*Accuracy and Stability of
   Numerical Algorithms*, 2nd ed., Lemma 3.1 and eq. 3.5) the computed value is
   ``gamma_32 * t'`` with ``|t' - x.y| <= gamma_{D+2} sum_k |x_k y_k| <= gamma_{D+2} |x| |y|``,
   ``gamma_n = n u / (1 - n u)``, u the unit roundoff (2^-24 for float32), and ``gamma_32``
   the scalar rounded to float32 (relative error u). Inputs rounded to the compute dtype add
   ``(2u + u^2) |x| |y|``. Underflow adds at most ``(D + 3)`` times the smallest subnormal.
2. Kernel. With T = |x| |y| (Cauchy-Schwarz bounds |x.y| by T) the computed ``w = s + coef0``
   satisfies ``|w - (gamma x.y + coef0)| <= eta(T)``, an affine function of T (the bound above,
   the rounding of coef0 and of the addition). The power ``w ** degree`` is evaluated by
   multiplication (at most ``degree - 1`` roundings) or a pow with at most one ulp of error:
   relative ``gamma_{max(degree - 1, 2)}``. With M(T) = gamma T + |coef0| + eta(T) >= |w|, the
   mean value theorem gives the per-entry bound
   ``beta(T) = degree M^(degree-1) eta + M^degree gamma_pow + (sum rounding)``, a polynomial in
   T with non-negative coefficients.
3. Sums. Row sums of at most ``r`` entries in the compute dtype add ``gamma_r sum |k|``; the
   float64 accumulation adds ``gamma_n`` in double precision (n terms).
4. Rounds. ``sum_{i,j} beta(|x_i| |y_j|) = sum_q beta_q (sum_i |x_i|^q)(sum_j |y_j|^q)``: power
   sums of the norms per round, O(m) work. The round's bound is
   ``(B_XX + B_YY) / (m (m-1)) + 2 B_XY / m^2`` (the diagonal entries included in B: an upper
   bound). The norms are themselves certified upper bounds (float32 sums of squares widened
   by their own gamma bound). TF32 / bf16 matmuls are switched off while the GEMMs run; where
   that is impossible the bound uses the bf16 unit roundoff.

The bound is deterministic (no probabilistic rounding model) and therefore pessimistic: it
grows like ``D u`` times the kernel's slope, while observed float32 errors are orders of
magnitude smaller. :func:`~fastgan.metrics.kernel_distance.kid` reports it (``stats=``) and,
with ``tol=``, recomputes in float64 unless the bound on the error of ``kid_mean`` is at most ``tol`` times the (lower
bound on the) std over rounds. For Inception-sized features (D = 2048) ``gamma_{D+2}`` is
about 1.2e-4, so the bound is about 1e-4 of the kernel's scale: far above 1e-3 of a typical
KID std, so a certified float32 result needs a loose ``tol`` or falls back. Even with exact
dot products, storing them in float32 (relative u = 6e-8) exceeds such a ``tol`` in the
worst case; certification at that level needs the float64 path.

The cost model of ``method="auto"``
-----------------------------------

Its unit is one float32 GEMM multiply-add: GEMM multiply-adds (float64 ones cost
``COST_F64_MAC``, those of the union tiles ``COST_FULL_MAC``), kernel entries (elementwise work,
``COST_ENTRY``), gathered feature values (``COST_GATHER``) and the membership reduction
(``COST_REDUCE`` per multiply-add). The constants are measured by ``bench/bench_kid.py``
(``test_kid_cost_model``) on a CPU with MKL.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np
import torch

#: Rows per block of the symmetric diagonal-block GEMMs and of the union tiles.
BLOCK_ROWS = 512

# Cost model (unit: one float32 multiply-add of the batched block GEMMs), measured by
# bench/bench_kid.py (test_kid_cost_model) on a 2-core MKL CPU; see the module docstring.
COST_F64_MAC = 2.2  # a float64 GEMM multiply-add
COST_FULL_MAC = 1.5  # a multiply-add of the union tiles, in situ (measured full / subsets ratio)
COST_ENTRY = 105.0  # kernel evaluation + reduction of one kernel entry
COST_GATHER = 100.0  # one gathered feature value (index_select of a round's rows)
COST_REDUCE = 2.5  # one multiply-add of the membership reduction P K (small leading dimension)


def blocks(m: int) -> list[tuple[int, int]]:
    """Row blocks ``[(lo, hi), ...]`` of about ``BLOCK_ROWS`` rows covering ``range(m)``."""
    nb = max(1, round(m / BLOCK_ROWS))
    edges = [round(i * m / nb) for i in range(nb + 1)]
    return [(edges[i], edges[i + 1]) for i in range(nb)]


# ----------------------------------------------------------------------------- error bound
def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2 of ``dtype`` (2^-24 for float32)."""
    return float(torch.finfo(dtype).eps) / 2.0


def higham_gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u) (inf when n u >= 1)."""
    nu = max(n, 0) * u
    return math.inf if nu >= 1.0 else nu / (1.0 - nu)


def cast_roundoff(src: torch.dtype, dst: torch.dtype) -> float:
    """Relative error of converting ``src`` values to ``dst`` (0 when every value is representable)."""
    widening = dst == torch.float32 and src in (torch.float16, torch.bfloat16)
    if src == dst or dst == torch.float64 or widening:
        return 0.0
    return unit_roundoff(dst)


def entry_bound_poly(
    d: int,
    degree: int,
    g: float,
    coef0: float,
    dtype: torch.dtype,
    cast_u: float,
    row_terms: int,
    sum_terms: int,
) -> np.ndarray:
    """Coefficients beta_0..beta_degree (float64, >= 0) of the per-entry bound (module docstring).

    |computed k(x, y) - exact k(x, y)| <= sum_q beta_q T^q with T = |x| |y|, including that
    entry's share of the row-sum (``row_terms`` entries, compute dtype) and float64
    accumulation (``sum_terms`` terms) errors.
    """
    u = unit_roundoff(dtype)
    tiny = float(torch.finfo(dtype).tiny) * float(torch.finfo(dtype).eps)  # smallest subnormal
    c = abs(coef0)
    eps1 = higham_gamma(d + 2, u) * (1.0 + cast_u) ** 2 + 2.0 * cast_u + cast_u**2  # |t' - x.y| <= eps1 T
    e1 = g * ((1.0 + u) * eps1 + u + u * (1.0 + eps1) * (1.0 + u))  # eta(T) = e1 T + e0
    e0 = u * c * (2.0 + u) + (d + 3) * tiny
    eta = np.array([e0, e1])
    big_m = np.array([c + e0, g + e1])  # M(T) >= |w|, |gamma x.y + coef0|
    p = degree
    g_pow = higham_gamma(max(p - 1, 2), u) if p > 1 else 0.0
    g_row = higham_gamma(row_terms, u)
    g_sum = higham_gamma(sum_terms, unit_roundoff(torch.float64))
    mp1 = np.polynomial.polynomial.polypow(big_m, p - 1) if p > 1 else np.array([1.0])
    mp = np.polynomial.polynomial.polymul(mp1, big_m)
    beta = np.polynomial.polynomial.polyadd(
        p * np.polynomial.polynomial.polymul(mp1, eta),
        mp * (g_pow + (1.0 + g_pow) * (g_row + g_sum * (1.0 + g_row))),
    )
    beta = np.asarray(beta, dtype=np.float64)
    beta[0] += (p + 1) * tiny
    return beta


def power_sums(norms: torch.Tensor, q: int) -> torch.Tensor:
    """Tensor[S, q+1] float64: sum_i norms[s, i] ** j for j = 0..q."""
    return torch.stack([norms.pow(j).sum(dim=-1) for j in range(q + 1)], dim=-1)


def norm_bounds(x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Upper bounds on the row norms (Tensor[N] float64), without a float64 copy of ``x``.

    Norms are computed in the working dtype w (float32 for float16/bfloat16/float32 inputs, exact
    widening): ``fl(sum x_k^2) <= (1 + gamma_{D+1}) sum x_k^2``, then a square root (relative u), plus at most
    ``D + 1`` times w's smallest normal for squares that underflow, hence
    ``sum x_k^2 <= (fl + (D + 1) tiny) / (1 - gamma_{D+1})``.
    """
    return _norm_bounds_in(x, torch.float64 if x.dtype == torch.float64 else torch.float32, chunk)


def _norm_bounds_in(x: torch.Tensor, w: torch.dtype, chunk: int) -> torch.Tensor:
    d = x.shape[1]
    g = higham_gamma(d + 1, unit_roundoff(w))
    tiny = float(torch.finfo(w).tiny)
    parts = []
    for i in range(0, x.shape[0], chunk):
        c = x[i : i + chunk].to(w)
        # the norm kernel: the sum of squares (<= gamma_{D+1} relative, any order) and one correctly
        # rounded sqrt (relative u), undone in float64 with that u added
        nrm = torch.linalg.vector_norm(c, dim=1).to(torch.float64) / (1.0 - unit_roundoff(w))
        parts.append(nrm * nrm)
    sq = torch.cat(parts)
    if w != torch.float64 and not bool(torch.isfinite(sq).all()):  # squares overflowed float32
        return _norm_bounds_in(x, torch.float64, chunk)
    return torch.sqrt((sq + (d + 1) * tiny) / (1.0 - g)) * (1.0 + 4 * unit_roundoff(torch.float64))


def round_bounds(
    x: torch.Tensor, y: torch.Tensor, idx_r: torch.Tensor, idx_f: torch.Tensor, beta: np.ndarray
) -> torch.Tensor:
    """Tensor[S] float64: certified bound on |computed - exact| MMD_u^2 of each round."""
    m = idx_r.shape[1]
    nx, ny = norm_bounds(x), norm_bounds(y)
    q = len(beta) - 1
    px, py = power_sums(nx[idx_r], q), power_sums(ny[idx_f], q)
    b = torch.as_tensor(beta, dtype=torch.float64, device=px.device)
    bxx, byy, bxy = (px * px * b).sum(-1), (py * py * b).sum(-1), (px * py * b).sum(-1)
    out = (bxx + byy) / (m * (m - 1)) + 2.0 * bxy / (m * m)
    return out * (1.0 + 1e-9)  # rounding of this float64 evaluation itself


# ----------------------------------------------------------------------------- cost model
def union_size(idx: torch.Tensor) -> int:
    """Number of distinct rows the rounds ``idx`` (Tensor[S, m]) use."""
    return int(torch.unique(idx).numel())


def subsets_cost(s: int, m: int, d: int, f64: bool, syrk: bool = False) -> float:
    """Modelled cost of ``method="subsets"``: ``s`` rounds of ``m`` rows, ``d`` features (``syrk``:
    the diagonal blocks cost one triangle, as numpy's ``a @ a.T`` computes them)."""
    bl = blocks(m)
    sym = sum((hi - lo) * (hi2 - lo2) for i, (lo, hi) in enumerate(bl) for lo2, hi2 in bl[i:])
    if syrk:
        sym = m * (m + 1) // 2
    entries = s * (2 * sym + m * m)
    mac = COST_F64_MAC if f64 else 1.0
    return entries * d * mac + entries * COST_ENTRY + 2 * s * m * d * COST_GATHER


def full_cost(s: int, ux: int, uy: int, d: int, f64: bool) -> float:
    """Modelled cost of ``method="full"`` over ``ux`` + ``uy`` distinct rows."""
    r = BLOCK_ROWS
    entries = ux * (ux + r) / 2 + uy * (uy + r) / 2 + ux * uy  # upper block-triangles + cross
    mac = COST_F64_MAC if f64 else 1.0
    return entries * d * mac * COST_FULL_MAC + entries * COST_ENTRY + s * entries * mac * COST_REDUCE


def choose_method(
    method: str,
    idx_r: torch.Tensor,
    idx_f: torch.Tensor,
    d: int,
    dtype: torch.dtype,
    max_memory: int,
    syrk: bool = False,
) -> str:
    """``method``, or for ``"auto"`` the cheaper modelled strategy whose union rows fit ``max_memory``."""
    if method not in ("auto", "full", "subsets"):
        raise ValueError(f"method: must be one of ('auto', 'full', 'subsets'), got {method!r}")
    if method != "auto":
        return method
    s, m = idx_r.shape
    ux, uy = union_size(idx_r), union_size(idx_f)
    f64 = dtype == torch.float64
    itemsize = torch.empty((), dtype=dtype).element_size()
    fits = (ux + uy) * (d + s) * itemsize <= max_memory  # union rows + memberships
    if fits and full_cost(s, ux, uy, d, f64) < subsets_cost(s, m, d, f64, syrk):
        return "full"
    return "subsets"


# ----------------------------------------------------------------------------- a-posteriori check
#: which rounds the check recomputes: a permutation from this seed (fixed, so the check is reproducible)
CHECK_SEED = 20240


def check_rounds(
    exact_rounds: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    vals: torch.Tensor,
    dtype: torch.dtype,
    count: Optional[int],
    tol: Optional[float],
) -> dict[str, Any]:
    """The measured check of a reduced-precision KID: ``count`` rounds (None: ``ceil(S / 50)``)
    recomputed in float64 by ``exact_rounds(x_rows, y_rows, idx_r, idx_f)`` on only the rows they
    use (``data`` = ``(x, y, idx_r, idx_f)`` of the whole computation); ``fallback`` when a value is
    not finite or their largest difference exceeds ``tol`` times the std over rounds (the spread).

    Returns:
        ``{"fallback", "rounds" (indices checked), "max_diff", "spread"}``.
    """
    x, y, idx_r, idx_f = data
    s = int(vals.shape[0])
    finite = bool(torch.isfinite(vals).all())
    spread = float(vals.std(correction=0)) if finite else float("nan")
    if dtype == torch.float64:
        return {"fallback": False, "rounds": [], "max_diff": 0.0, "spread": spread}
    count = max(1, math.ceil(s / 50)) if count is None else min(int(count), s)
    picked = torch.randperm(s, generator=torch.Generator().manual_seed(CHECK_SEED))[:count]
    diff = 0.0 if finite else float("nan")
    if count > 0 and finite:
        ir, jf = idx_r[picked.to(idx_r.device)], idx_f[picked.to(idx_f.device)]
        # only the checked rounds' rows, renumbered: no float64 copy of the whole feature sets
        xs, ys = x.index_select(0, ir.reshape(-1)), y.index_select(0, jf.reshape(-1))
        local = torch.arange(ir.numel(), device=ir.device).view(ir.shape)
        exact = exact_rounds(xs, ys, local, local.to(jf.device))
        diff = float((vals[picked.to(vals.device)] - exact).abs().max())
    fallback = not finite or (tol is not None and count > 0 and not diff <= float(tol) * spread)
    return {"fallback": fallback, "rounds": picked.tolist(), "max_diff": diff, "spread": spread}
