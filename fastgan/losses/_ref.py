"""Pure-torch reference of the fused f-GAN terms (fallback path and test oracle).

Same closed forms as csrc/fdiv/fdiv.h ``fused_term`` (keep the two in sync):
for a critic output ``v`` and kernel id ``k`` (``fastgan.divergences.KERNEL_IDS``)

* term 0 (activation): ``T(v) = g_f(v)`` and ``dT/dv``
* term 1 (conjugate):  ``F(v) = f*(g_f(v))`` and ``dF/dv``

written with stable pieces (softplus, log1p, expm1) so that they stay finite
wherever the true value is representable. Computation runs in float32 for
16-bit inputs and in the input dtype otherwise, except the alpha-family
conjugates, which are evaluated in float64 (their exp of a large argument would
amplify float32 rounding).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from fastgan.divergences import KERNEL_IDS, log_lambert_w0_exp

__all__ = ["fused_term_ref", "fdiv_term_ref", "ACTIVATION", "CONJUGATE"]

ACTIVATION = 0
CONJUGATE = 1
_LN2 = math.log(2.0)
Consts = tuple[float, float, float, float]


def _sp_sig(v: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """softplus(v), softplus(-v), sigmoid(v), sigmoid(-v) from e = exp(-|v|)."""
    e = torch.exp(-v.abs())
    lp = torch.log1p(e)
    inv = 1.0 / (1.0 + e)
    sp_pos = torch.clamp_min(v, 0.0) + lp
    sp_neg = torch.clamp_min(-v, 0.0) + lp
    pos = v >= 0
    sig_pos = torch.where(pos, inv, e * inv)
    sig_neg = torch.where(pos, e * inv, inv)
    return sp_pos, sp_neg, sig_pos, sig_neg


def _log_softplus(x: Tensor) -> Tensor:
    thr = -38.0 if x.dtype == torch.float64 else -18.0
    xc = torch.clamp_min(x, thr)
    sp = torch.clamp_min(xc, 0.0) + torch.log1p(torch.exp(-xc.abs()))
    return torch.where(x < thr, x, torch.log(sp))


def _identity(v: Tensor) -> tuple[Tensor, Tensor]:
    return v.clone(), torch.ones_like(v)


def _kl(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        return _identity(v)
    e = torch.exp(v - 1.0)
    return e, e.clone()


def _reverse_kl(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        e = torch.exp(-v)
        return -e, e
    return v - 1.0, torch.ones_like(v)


def _pearson(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        return _identity(v)
    return v * (0.25 * v + 1.0), 0.5 * v + 1.0


def _neyman(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        return -torch.expm1(v), -torch.exp(v)
    h = 0.5 * v
    return -2.0 * torch.expm1(h), -torch.exp(h)


def _hellinger(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        return -torch.expm1(v), -torch.exp(v)
    return torch.expm1(-v), -torch.exp(-v)


def _jeffrey(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        return _identity(v)
    lw = log_lambert_w0_exp(1.0 - v)
    return torch.expm1(-lw) - lw, torch.exp(-lw)


def _js(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    sp_pos, sp_neg, sig_pos, sig_neg = _sp_sig(v)
    if term == ACTIVATION:
        return _LN2 - sp_neg, sig_neg
    return sp_pos - _LN2, sig_pos


def _gan(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    sp_pos, sp_neg, sig_pos, sig_neg = _sp_sig(v)
    if term == ACTIVATION:
        return -sp_neg, sig_neg
    return sp_pos, sig_pos


def _total_variation(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    a = -2.0 * v.abs()
    m = torch.expm1(a)
    e = torch.exp(a)
    th = -m / (2.0 + m)
    val = 0.5 * torch.where(v < 0, -th, th)
    d = 1.0 + e
    return val, 2.0 * e / (d * d)


def _alpha_lt1(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    c0, c1, c2, c3 = c
    if term == ACTIVATION:
        _, sp_neg, _, sig_neg = _sp_sig(v)
        return c0 - sp_neg, sig_neg
    L = c1 + _log_softplus(-v)
    sp_pos = torch.clamp_min(v, 0.0) + torch.log1p(torch.exp(-v.abs()))
    return torch.expm1(c2 * L) * c3, torch.exp((c2 - 1.0) * L - sp_pos)


def _alpha_gt1(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    c0, c1, c2, c3 = c
    if term == ACTIVATION:
        return _identity(v)
    x = c0 * v
    pos = x > -1.0
    lb = torch.log1p(torch.where(pos, x, torch.zeros_like(x)))
    f = torch.expm1(c1 * lb) * c3
    g = torch.exp(c2 * lb)
    return torch.where(pos, f, torch.full_like(f, -c3)), torch.where(pos, g, torch.zeros_like(g))


def _wgan(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    return _identity(v)


def _hinge(v: Tensor, term: int, c: Consts) -> tuple[Tensor, Tensor]:
    if term == ACTIVATION:
        h = 1.0 - v
        act = h > 0
        return torch.where(act, -h, torch.zeros_like(h)), act.to(v.dtype)
    h = 1.0 + v
    act = h > 0
    return torch.where(act, h, torch.zeros_like(h)), act.to(v.dtype)


_TABLE: dict[int, Callable[[Tensor, int, Consts], tuple[Tensor, Tensor]]] = {
    KERNEL_IDS["kl"]: _kl,
    KERNEL_IDS["reverse_kl"]: _reverse_kl,
    KERNEL_IDS["pearson"]: _pearson,
    KERNEL_IDS["neyman"]: _neyman,
    KERNEL_IDS["squared_hellinger"]: _hellinger,
    KERNEL_IDS["jeffrey"]: _jeffrey,
    KERNEL_IDS["js"]: _js,
    KERNEL_IDS["gan"]: _gan,
    KERNEL_IDS["total_variation"]: _total_variation,
    KERNEL_IDS["alpha_lt1"]: _alpha_lt1,
    KERNEL_IDS["alpha_gt1"]: _alpha_gt1,
    KERNEL_IDS["wgan"]: _wgan,
    KERNEL_IDS["hinge"]: _hinge,
}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (the kernels' compute type)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def fused_term_ref(
    v: Tensor, kernel_id: int, term: int, consts: Consts = (0.0, 0.0, 0.0, 0.0)
) -> tuple[Tensor, Tensor]:
    """Elementwise (value, d value / dv) of one f-GAN term.

    Args:
        v (Tensor[...]): critic outputs (float32 or float64; no autograd needed).
        kernel_id: id from :data:`fastgan.divergences.KERNEL_IDS`.
        term: 0 = activation ``g_f(v)``, 1 = conjugate ``f*(g_f(v))``.
        consts: ``Divergence.consts()`` (alpha family constants).

    Returns:
        (value, derivative), both Tensor[...] of ``v``'s shape and dtype.
    """
    try:
        fn = _TABLE[int(kernel_id)]
    except KeyError:
        raise ValueError(f"kernel_id: unknown fused kernel id {kernel_id}") from None
    if term not in (ACTIVATION, CONJUGATE):
        raise ValueError(f"term: must be 0 (activation) or 1 (conjugate), got {term}")
    return fn(v, term, consts)


def fdiv_term_ref(
    x: Tensor, kernel_id: int, term: int, consts: Consts, coef: float, reduce: bool
) -> tuple[Tensor, Tensor]:
    """Reference of the fused op: ``(coef * term(x) or coef * sum term(x), coef * dterm/dx)``.

    Args:
        x (Tensor[...]): critic outputs, any float dtype.
        kernel_id, term, consts: as in :func:`fused_term_ref`.
        coef: scale (sign and 1/n for a mean).
        reduce: True for a sum (0-d output), False for elementwise output.

    Returns:
        (out, grad): out is Tensor[] (reduce) or Tensor[...] like ``x``, grad
        Tensor[...] like ``x``; both in ``x.dtype``. The sum is accumulated in
        float64.
    """
    cdt = compute_dtype(x.dtype)
    if term == CONJUGATE and kernel_id in (KERNEL_IDS["alpha_lt1"], KERNEL_IDS["alpha_gt1"]):
        cdt = torch.float64  # as the kernels: these conjugates go through exp of a large argument
    v = x.detach().to(cdt)
    val, d = fused_term_ref(v, kernel_id, term, consts)
    grad = (d * coef).to(x.dtype)
    if reduce:
        out = (val.sum(dtype=torch.float64) * coef).to(x.dtype)
    else:
        out = (val * coef).to(x.dtype)
    return out, grad
