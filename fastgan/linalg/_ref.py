"""Pure-torch float64 references for symmetric PSD square roots (fallback and test oracle).

Everything here works on batched ``(..., n, n)`` symmetric positive semi-definite input,
computes in float64 with LAPACK / cuSOLVER (``torch.linalg``) and never forms complex
numbers. The trace of the square root of a product uses

    tr sqrt(A^1/2 B A^1/2) = sum_i sqrt(lambda_i(L^T B L)),   A = L L^T (Cholesky),

because ``A^1/2 B A^1/2``, ``A B`` and ``L^T B L`` are similar. When a factor is singular
(rank-deficient covariance, n < d samples) its Cholesky factorisation is unusable and the
eigen-decomposition ``A = V diag(w) V^T`` truncated to ``w > tol`` gives ``F = V_r diag(sqrt(w_r))``
with ``A = F F^T``; then ``tr sqrt = sum sqrt(lambda(F^T B F))`` on an r x r matrix, and when both
are singular ``tr sqrt = ||F_A^T F_B||_*`` (nuclear norm, from singular values).

Singular inputs, accuracy (:func:`trace_sqrt_lowrank`, :func:`nuclear_norm`): the eigenvalues of
the Gram matrix ``M = F_A^T B F_A`` (or ``C C^T`` for a nuclear norm ``||C||_*``) are the squares
of the wanted singular values, so a symmetric eigensolver (values only, several times faster
than an SVD, whose bidiagonalisation is BLAS2-bound) is the fast route. Its eigenvalues carry an
absolute error ``delta ~ eps ||M||_2`` (LAPACK's error bound for symmetric eigenvalues, doubled
for the rounding of forming ``M``), so with ``lam_i >= 0`` exact and ``mu_i`` computed,

    |sqrt(lam_i) - sqrt(mu_i)| <= min(sqrt(delta), delta / sqrt(mu_i^+))

(:func:`sqrt_sum_error_bound`): accurate for the large eigenvalues, up to ``sqrt(eps ||M||)`` per
eigenvalue near zero, where the SVD of the factor product has ``eps ||C||`` instead. The sum of
those bounds is checked against the caller's tolerance (``tol``; FID: 1e-7 of the distance).
When it is exceeded, only the ``k`` smallest eigenvalues are refined: their eigenvectors ``W_k``
(LAPACK ``syevx``, a subset) give ``W_k^T C``, whose singular values are the ``k`` smallest
singular values of ``C`` to ``2 eps ||C|| + delta / sqrt(gap)`` each (``gap = lam_k - lam_{k-1}``:
the eigenvector residual couples the two parts by ~``delta``, which moves the eigenvalues of the
split Gram matrix by at most ``delta^2 / gap``, Li & Li's bound; the large ones by that over
``sqrt(lam_i)``). ``k`` is the smallest split
for which ``sum_{i >= k} (min(sqrt(delta), delta / sqrt(mu_i)) + delta^2 / (gap sqrt(mu_i))) + k (delta / sqrt(gap) + 2 eps ||C||)``
meets the tolerance; when none with ``k <= r / 2`` does, the full SVD of ``C`` is taken.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Callable, Optional

import torch

from fastgan.linalg._lapack import (
    LAPACK_MIN_N,
    lapack_eigh,
    lapack_eigh_smallest,
    lapack_eigvalsh,
    lapack_trace_sqrt,
)

logger = logging.getLogger(__name__)

_EPS64 = float(torch.finfo(torch.float64).eps)

#: Negative eigenvalue mass (sum of |lambda| over lambda < 0) above this fraction of
#: sum |lambda| triggers a warning: rounding alone stays orders of magnitude below it.
NEG_MASS_WARN_RTOL = 1e-6


class NotPSDWarning(UserWarning):
    """Clamped negative eigenvalues carried more than rounding-level mass (input not PSD?)."""


#: Row-block height of the cache-blocked transposes below (one block of rows against the same
#: columns read as a transposed slab).
_TBLOCK = 256


def broadcast_batch_shape(a: Sequence[int], b: Sequence[int]) -> Optional[tuple[int, ...]]:
    """Broadcast shape of the batch shapes ``a`` and ``b``, or None when they do not broadcast.

    Plain Python: ``torch.broadcast_shapes`` imports sympy on its first call (seconds of start-up)."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def symmetrize(a: torch.Tensor) -> torch.Tensor:
    """``(A + A^T) / 2`` over the last two axes (bitwise the same for every block size)."""
    n = a.shape[-1]
    if a.dim() != 2 or n < 2 * _TBLOCK:
        return 0.5 * (a + a.transpose(-1, -2))
    out = torch.empty_like(a)
    for i in range(0, n, _TBLOCK):
        torch.add(a[i : i + _TBLOCK], a[:, i : i + _TBLOCK].t(), out=out[i : i + _TBLOCK]).mul_(0.5)
    return out


_ABLOCK = 128


def max_asymmetry(a: torch.Tensor) -> float:
    """``max |A - A^T|`` of a square matrix ``a`` (Tensor[n, n]); 0.0 when empty.

    Compares the upper triangle only, one row strip ``A[i:i+b, i:]`` against the matching
    column strip at a time (half the work of ``A - A^T``, each strip cache-sized)."""
    n = a.shape[-1]
    if n == 0:
        return 0.0
    if n < 2 * _ABLOCK:
        return float((a - a.t()).abs().max())
    return max(
        float((a[i : i + _ABLOCK, i:] - a[i:, i : i + _ABLOCK].t()).abs().max()) for i in range(0, n, _ABLOCK)
    )


def rank_tol(w: torch.Tensor, n: int) -> torch.Tensor:
    """Eigenvalues at or below this (per matrix) are treated as zero: ``10 n eps max|w|``."""
    return 10.0 * n * _EPS64 * w.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)


def clamp_report(lam: torch.Tensor, what: str) -> torch.Tensor:
    """Clamp negative eigenvalues to 0, warning when their mass is not rounding-level."""
    neg = (-lam).clamp_min(0).sum(dim=-1)
    total = lam.abs().sum(dim=-1)
    bad = neg > NEG_MASS_WARN_RTOL * total.clamp_min(torch.finfo(torch.float64).tiny)
    if bool(bad.any()):
        worst = float((neg / total.clamp_min(torch.finfo(torch.float64).tiny)).max())
        msg = (
            f"{what}: clamped negative eigenvalues with {worst:.3g} of the total eigenvalue mass in "
            f"{int(bad.sum())} matrix(es); the inputs are probably not positive semi-definite"
        )
        logger.warning(msg)
        warnings.warn(msg, NotPSDWarning, stacklevel=3)
    return lam.clamp_min(0)


def report_neg_ratio(ratio: torch.Tensor, what: str) -> None:
    """Warn like :func:`clamp_report` from per-matrix clamped-mass ratios (native tiers)."""
    bad = ratio > NEG_MASS_WARN_RTOL
    if bool(bad.any()):
        msg = (
            f"{what}: clamped negative eigenvalues with {float(ratio.max()):.3g} of the total eigenvalue mass in "
            f"{int(bad.sum())} matrix(es); the inputs are probably not positive semi-definite"
        )
        logger.warning(msg)
        warnings.warn(msg, NotPSDWarning, stacklevel=4)


def sqrtm_sym_ref(a: torch.Tensor, *, warn: bool = True) -> torch.Tensor:
    """Principal square root of symmetric PSD matrices via ``torch.linalg.eigh``.

    Args:
        a (Tensor[..., n, n]): symmetric PSD.

    Returns:
        Tensor[..., n, n] in ``a``'s dtype (computed in float64); negative eigenvalues
        (rounding) are clamped to 0.
    """
    a64 = symmetrize(a.to(torch.float64))
    w, v = torch.linalg.eigh(a64)
    # warn=False keeps the computation free of data-dependent control flow (traced backward).
    s = (clamp_report(w, "sqrtm_sym") if warn else w.clamp_min(0)).sqrt()
    out = (v * s.unsqueeze(-2)) @ v.transpose(-1, -2)
    return symmetrize(out).to(a.dtype)


def _lapack_ok(m: torch.Tensor) -> bool:
    """One CPU float64 matrix large enough for scipy's LAPACK drivers to beat ``torch.linalg``."""
    return (
        m.dim() == 2 and m.device.type == "cpu" and m.dtype == torch.float64 and m.shape[-1] >= LAPACK_MIN_N
    )


def sym_eigvalsh(m: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of symmetric ``m`` (Tensor[..., n, n]); LAPACK ``syevd`` for one CPU float64 matrix."""
    if _lapack_ok(m) and not m.requires_grad:
        return lapack_eigvalsh(m.contiguous())
    return torch.linalg.eigvalsh(m)


def sym_eigh(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and eigenvectors of symmetric ``m``; LAPACK ``syevd`` for one CPU float64 matrix."""
    if _lapack_ok(m) and not m.requires_grad:
        return lapack_eigh(m.contiguous())
    w, v = torch.linalg.eigh(m)
    return w, v


#: Absolute eigenvalue error of the Gram route, in units of ``eps * max|lam|``: 1 for the
#: symmetric eigensolver (LAPACK's bound) and 1 for the rounding of forming the Gram matrix.
GRAM_DELTA_FACTOR = 2.0
#: :func:`trace_sqrt_lowrank` / :func:`nuclear_norm` default: the eigenvalue route's error bound
#: must stay below this fraction of its result, otherwise the SVD route is taken.
LOWRANK_RTOL = 1e-9


def sqrt_sum_error_bound(lam: torch.Tensor) -> float:
    """Bound on ``|sum sqrt(lam_exact) - sum sqrt(lam^+)|`` for computed eigenvalues ``lam`` (Tensor[r])
    of a PSD Gram matrix: ``sum_i min(sqrt(delta), delta / sqrt(lam_i^+))`` with
    ``delta = GRAM_DELTA_FACTOR * eps * max|lam|`` (see the module docstring)."""
    if lam.numel() == 0:
        return 0.0
    delta = GRAM_DELTA_FACTOR * _EPS64 * max(float(lam.abs().max()), torch.finfo(torch.float64).tiny)
    lp = lam.detach().clamp_min(0)
    per = torch.minimum(
        torch.full_like(lp, math.sqrt(delta)), delta / lp.sqrt()
    )  # lp = 0: inf -> sqrt(delta)
    return float(per.sum())


def _tol_of(tol: Optional[Callable[[float], float]], value: float) -> float:
    return tol(value) if tol is not None else LOWRANK_RTOL * abs(value)


#: The refinement of the small eigenvalues is used for at most this fraction of them (beyond,
#: the full SVD is about as fast).
REFINE_MAX_FRACTION = 0.75


def _split_index(lam: torch.Tensor, allowed: float) -> Optional[int]:
    """Smallest ``k`` whose refined-route bound (module docstring) is at most ``allowed``; None if
    no ``k <= REFINE_MAX_FRACTION * r`` qualifies. ``lam`` ascending, clamped at 0."""
    r = lam.numel()
    lmax = float(lam[-1])
    delta = GRAM_DELTA_FACTOR * _EPS64 * max(lmax, torch.finfo(torch.float64).tiny)
    per = torch.minimum(torch.full_like(lam, math.sqrt(delta)), delta / lam.sqrt())
    suffix = per.flip(0).cumsum(0).flip(0)  # suffix[k] = sum_{i >= k} per_i
    suffix = torch.cat([suffix, suffix.new_zeros(1)])
    ks = torch.arange(r + 1, dtype=torch.float64, device=lam.device)
    # Split k (small lam_0..lam_{k-1}): the coupling W_s^T M W_b of the computed small eigenvectors
    # with the rest has norm <= the eigenvector residual ~ delta, so (Li & Li's quadratic bound for an
    # off-diagonal block) the pinched Gram's eigenvalues move by at most eta = delta^2 / gap_k: the k
    # small singular values by sqrt(eta) = delta / sqrt(gap_k), each large one by eta / sqrt(lam_i).
    gap = torch.cat([lam.new_full((1,), math.inf), (lam[1:] - lam[:-1]), lam.new_full((1,), math.inf)])
    gap = gap.clamp_min(torch.finfo(torch.float64).tiny)
    inv = (1.0 / lam.sqrt()).flip(0).cumsum(0).flip(0)
    inv = torch.cat([inv, inv.new_zeros(1)])
    big2 = torch.where(ks > 0, (delta * delta / gap) * inv, torch.zeros_like(inv))
    leak = delta / gap.sqrt() + 2.0 * _EPS64 * math.sqrt(max(lmax, 0.0))
    suffix = suffix + big2.nan_to_num(nan=math.inf)
    cost = suffix + ks * leak
    kmax = int(REFINE_MAX_FRACTION * r)
    ok = (cost[: kmax + 1] <= allowed).nonzero()
    return int(ok[0]) if ok.numel() else None


def gram_trace_sqrt(m: torch.Tensor, what: str) -> tuple[torch.Tensor, float]:
    """``(sum sqrt(lam^+), error bound)`` of a PSD Gram matrix ``m`` (Tensor[r, r], values only)."""
    lam = clamp_report(sym_eigvalsh(symmetrize(m)), what)
    return lam.sqrt().sum(), sqrt_sum_error_bound(lam)


def gram_nuclear(
    m: torch.Tensor,
    rows: Callable[[torch.Tensor], torch.Tensor],
    tol: Optional[Callable[[float], float]],
    what: str,
    refine: bool = True,
) -> Optional[torch.Tensor]:
    """``||C||_*`` from ``M = C C^T`` (Tensor[r, r]) within ``tol``, or None (take the SVD of ``C``).

    ``rows(W)`` returns ``W^T C`` for orthonormal columns ``W`` (Tensor[r, k]); called only when
    the small eigenvalues need refinement (module docstring); ``refine=False`` returns None then
    (where ``C`` itself costs a factorisation, its SVD is as cheap as the refinement)."""
    ms = symmetrize(m)
    lam = clamp_report(sym_eigvalsh(ms), what)
    if lam.numel() == 0:
        return lam.sum()
    val = lam.sqrt().sum()
    k = _split_index(lam, _tol_of(tol, float(val)))
    if k is None:
        return None
    if k == 0:
        return val
    if not refine:
        return None
    if _lapack_ok(ms):
        _, w = lapack_eigh_smallest(ms.contiguous(), k)
    else:
        w = torch.linalg.eigh(ms)[1][:, :k]
    return lam[k:].sqrt().sum() + torch.linalg.svdvals(rows(w)).sum()


def nuclear_norm(c: torch.Tensor, *, tol: Optional[Callable[[float], float]] = None) -> torch.Tensor:
    """``||C||_*`` (sum of singular values) of ``c`` (Tensor[p, q], float64), 0-d float64.

    Fast route: ``sum sqrt(eigvalsh(C C^T))`` on the smaller side, the small eigenvalues refined
    where needed (module docstring), so that the error bound is at most ``tol(value)`` (default
    ``LOWRANK_RTOL * value``); otherwise ``svdvals(C)`` (absolute error ~ ``eps ||C||`` per
    singular value). With autograd tracking ``c`` the SVD route is used (its gradient is defined
    at zero singular values).
    """
    if c.requires_grad and torch.is_grad_enabled():
        return torch.linalg.svdvals(c).sum()
    cc = c if c.shape[0] <= c.shape[1] else c.t()
    out = gram_nuclear(cc @ cc.t(), lambda w: w.t() @ cc, tol, "nuclear_norm")
    return out if out is not None else torch.linalg.svdvals(c).sum()


def trace_sqrt_lowrank(
    a: torch.Tensor, b: torch.Tensor, *, tol: Optional[Callable[[float], float]] = None
) -> torch.Tensor:
    """``tr sqrt(A^1/2 B A^1/2)`` for one pair (Tensor[n, n] each, float64) with ``a`` singular.

    One symmetric eigendecomposition of ``a`` gives ``F_A`` (``A = F_A F_A^T``, rank r); the
    eigenvalues of the r x r ``F_A^T B F_A`` (values only) give the result when their error
    bound is at most ``tol(value)`` (default ``LOWRANK_RTOL * value``); otherwise ``B`` is
    factored too (``B = F_B F_B^T``) and the result is ``||F_A^T F_B||_*`` from singular values
    (no partial refinement: with ``F_B`` needed anyway, the full SVD costs about as much).
    Returns 0-d float64.
    """
    fa = psd_factor(a)
    if fa.shape[1] == 0:
        return torch.zeros((), dtype=torch.float64, device=a.device)
    fb_cache: list[torch.Tensor] = []

    def fb() -> torch.Tensor:
        if not fb_cache:
            lower, ok = chol_ok(b)
            fb_cache.append(lower if bool(ok) else psd_factor(b))
        return fb_cache[0]

    out = gram_nuclear(
        fa.t() @ b @ fa, lambda w: (fa @ w).t() @ fb(), tol, "trace_sqrt_product", refine=False
    )
    return out if out is not None else torch.linalg.svdvals(fa.t() @ fb()).sum()


def psd_factor(a: torch.Tensor) -> torch.Tensor:
    """``F = V diag(sqrt(w))`` with eigenvalues ``w <= rank_tol`` dropped (shape [n, r]); 2-D input."""
    w, v = sym_eigh(a)
    tol = rank_tol(w, a.shape[-1])
    w = clamp_report(w, "trace_sqrt_product")
    keep = w > tol
    return v[:, keep] * w[keep].sqrt()


def chol_ok(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched Cholesky; ok is False where it failed or a pivot is at rounding level."""
    n = a.shape[-1]
    lower, info = torch.linalg.cholesky_ex(a)
    piv = torch.diagonal(lower, dim1=-2, dim2=-1) ** 2
    scale = torch.diagonal(a, dim1=-2, dim2=-1).abs().amax(dim=-1).clamp_min(torch.finfo(torch.float64).tiny)
    ok = (info == 0) & (piv.amin(dim=-1) > 10.0 * n * _EPS64 * scale) & torch.isfinite(piv).all(dim=-1)
    return lower, ok


def trace_sqrt_product_ref(
    a: torch.Tensor, b: torch.Tensor, eigvalsh: Callable[[torch.Tensor], torch.Tensor] = torch.linalg.eigvalsh
) -> torch.Tensor:
    """``tr sqrt(A^1/2 B A^1/2)`` for batched symmetric PSD ``A``, ``B`` (float64 result).

    Args:
        a (Tensor[..., n, n]), b (Tensor[..., n, n]): symmetric PSD, broadcastable batch axes.
        eigvalsh: the batched symmetric eigenvalue solver of the main (all-Cholesky-factors-ok)
            route, ``torch.linalg.eigvalsh`` here; the CUDA tier passes its tridiagonal solver.

    Returns:
        Tensor[...] float64.
    """
    n = a.shape[-1]
    if (
        a.dim() == 2
        and b.dim() == 2
        and n >= LAPACK_MIN_N
        and a.device.type == "cpu"
        and b.device.type == "cpu"
    ):
        # One pair on the CPU: the Cholesky factorisations read one triangle, so no symmetrized copies.
        lam = lapack_trace_sqrt(a.to(torch.float64).contiguous(), b.to(torch.float64).contiguous())
        if lam is not None:
            return clamp_report(lam, "trace_sqrt_product").sqrt().sum()
    a64 = symmetrize(a.to(torch.float64))
    b64 = symmetrize(b.to(torch.float64))
    if n > 0 and a64.shape[:-2].numel() == 1 and b64.shape[:-2].numel() > 1:
        # One A against many B (FID of many samples against one reference): factor A once.
        la, ok_a = chol_ok(a64.reshape(n, n))
        _, ok_b = chol_ok(b64)
        if bool(ok_a) and bool(ok_b.all()):
            batch_shape = broadcast_batch_shape(a64.shape[:-2], b64.shape[:-2])
            assert batch_shape is not None
            m = la.transpose(-1, -2) @ b64 @ la
            lam = eigvalsh(symmetrize(m))
            return clamp_report(lam, "trace_sqrt_product").sqrt().sum(dim=-1).reshape(batch_shape)
    a64, b64 = torch.broadcast_tensors(a64, b64)
    batch_shape = a64.shape[:-2]
    if n == 0:
        return torch.zeros(batch_shape, dtype=torch.float64, device=a64.device)
    af = a64.reshape(-1, n, n)
    bf = b64.reshape(-1, n, n)
    out = torch.empty(af.shape[0], dtype=torch.float64, device=af.device)
    la, ok_a = chol_ok(af)
    _, ok_b = chol_ok(bf)
    fast = ok_a & ok_b
    if bool(fast.all()):
        m = la.transpose(-1, -2) @ bf @ la
        lam = eigvalsh(symmetrize(m))
        return clamp_report(lam, "trace_sqrt_product").sqrt().sum(dim=-1).reshape(batch_shape)
    idx_ok = fast.nonzero().flatten()
    if idx_ok.numel():
        lo = la[idx_ok]
        m = lo.transpose(-1, -2) @ bf[idx_ok] @ lo
        lam = eigvalsh(symmetrize(m))
        out[idx_ok] = clamp_report(lam, "trace_sqrt_product").sqrt().sum(dim=-1)
    # A singular factor: rare, handled one matrix at a time with an exact rank truncation
    # of the singular side (a Cholesky factor of the other side would leave rounding-level
    # eigenvalues whose square roots are not negligible).
    for i in (~fast).nonzero().flatten().tolist():
        sing, other = (bf[i], af[i]) if bool(ok_a[i]) else (af[i], bf[i])
        out[i] = trace_sqrt_lowrank(sing, other)
    return out.reshape(batch_shape)


def psd_pinv_sqrt(m: torch.Tensor) -> torch.Tensor:
    """``M^{+1/2}``: pseudo-inverse square root (eigenvalues <= rank_tol dropped), batched."""
    w, v = torch.linalg.eigh(symmetrize(m))
    keep = w > rank_tol(w, m.shape[-1])
    inv = torch.where(keep, w.clamp_min(torch.finfo(torch.float64).tiny).rsqrt(), torch.zeros_like(w))
    return (v * inv.unsqueeze(-2)) @ v.transpose(-1, -2)


def trace_sqrt_product_grads(
    a: torch.Tensor, b: torch.Tensor, need_a: bool, need_b: bool
) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Symmetric gradients of ``f = tr sqrt(A^1/2 B A^1/2)`` (float64).

    ``df/dB = 1/2 A^1/2 M^{+1/2} A^1/2`` with ``M = A^1/2 B A^1/2`` and symmetrically for A
    (from ``d tr (AB)^1/2 = 1/2 tr((AB)^-1/2 (dA B + A dB))``).
    """
    a64 = symmetrize(a.to(torch.float64))
    b64 = symmetrize(b.to(torch.float64))
    a64, b64 = torch.broadcast_tensors(a64, b64)
    ga = gb = None
    sa = sqrtm_sym_ref(a64, warn=False) if need_b else None
    sb = sqrtm_sym_ref(b64, warn=False) if need_a else None
    if need_b:
        assert sa is not None
        gb = 0.5 * symmetrize(sa @ psd_pinv_sqrt(sa @ b64 @ sa) @ sa)
    if need_a:
        assert sb is not None
        ga = 0.5 * symmetrize(sb @ psd_pinv_sqrt(sb @ a64 @ sb) @ sb)
    return ga, gb


def sqrtm_sym_backward(out: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Gradient of ``S = sqrtm(A)`` given ``S`` and ``dL/dS``: solves ``S X + X S = sym(G)``.

    In the eigenbasis of ``S = V diag(s) V^T``: ``X = V [(V^T G V) / (s_i + s_j)] V^T``; pairs
    with ``s_i + s_j`` at rounding level (both eigenvalues zero) get 0.
    """
    s64 = symmetrize(out.to(torch.float64))
    g64 = symmetrize(grad.to(torch.float64))
    s, v = torch.linalg.eigh(s64)
    s = s.clamp_min(0)
    gt = v.transpose(-1, -2) @ g64 @ v
    den = s.unsqueeze(-1) + s.unsqueeze(-2)
    tol = rank_tol(s, s.shape[-1]).unsqueeze(-1)
    x = torch.where(den > tol, gt / den.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(gt))
    return v @ x @ v.transpose(-1, -2)
