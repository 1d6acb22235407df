"""Math helpers of the f-divergence registry (:mod:`fastgan.divergences`): the Lambert W function.

``log_lambert_w0_exp`` is the algorithm the fused kernels use (csrc/fdiv/fdiv.h), ``lambert_w0``
an oracle and Jeffrey's conjugate; both are re-exported by :mod:`fastgan.divergences`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["lambert_w0", "log_lambert_w0_exp"]


def log_lambert_w0_exp(y: Tensor) -> Tensor:
    """``log W0(exp(y))``, the root l of ``l + e^l = y``, for any real y (Tensor[...]).

    Same algorithm as the kernels (csrc/fdiv/fdiv.h ``log_lambert_w0_exp``): an
    initial guess with error < 0.1 (``y - e^y`` below -1, a quadratic about
    y = 1, ``log(y - log y + log y / y)`` above 1) and three Halley steps, whose
    residual uses expm1 so that l near 0 keeps full relative accuracy.
    """
    ym = torch.clamp(y, min=1.0)
    ly = torch.log(ym)
    g_hi = torch.log(ym - ly + ly / ym)
    yl = torch.clamp(y, max=-1.0)
    g_lo = yl - torch.exp(yl)
    d = y - 1.0
    g_mid = d * (0.5 - 0.0625 * d)
    lw = torch.where(y > 1.0, g_hi, torch.where(y < -1.0, g_lo, g_mid))
    ym1 = y - 1.0
    for _ in range(3):
        em = torch.expm1(lw)
        s = lw + em - ym1
        s1 = 2.0 + em
        r = (em + 1.0) / s1
        lw = lw - (2.0 * s) / (2.0 * s1 - s * r)
    return lw


def lambert_w0(x: Tensor) -> Tensor:
    """Principal branch ``W0(x)`` for ``x >= -1/e`` (NaN below), Tensor[...] -> Tensor[...].

    For ``x >= 1``: ``exp(log_lambert_w0_exp(log x))``. For ``-1/e <= x < 1``: Halley
    iteration on ``w e^w - x`` from the branch-point series (x < -1/4), the Taylor
    series (|x| small) or ``log1p(x) (1 - log1p(log1p x) / (2 + log1p x))``. Used as
    an oracle and for :attr:`Divergence.conjugate` of Jeffrey; the kernels use only the
    log form (``csrc/fdiv/fdiv.h`` ``log_lambert_w0_exp``).
    """
    x = torch.as_tensor(x)
    big = x >= 1
    xb = torch.where(big, x, torch.ones_like(x))
    w_big = torch.exp(log_lambert_w0_exp(torch.log(xb)))
    xs = torch.where(big, torch.zeros_like(x), x)
    q = torch.clamp(math.e * xs + 1.0, min=0.0)
    p = torch.sqrt(2.0 * q)
    w_branch = -1.0 + p * (1.0 + p * (-1.0 / 3.0 + p * (11.0 / 72.0 + p * (-43.0 / 540.0))))
    w_taylor = xs * (1.0 + xs * (-1.0 + xs * (1.5 + xs * (-8.0 / 3.0))))
    lx = torch.log1p(torch.clamp(xs, min=0.0))
    w_mid = lx * (1.0 - torch.log1p(lx) / (2.0 + lx))
    w = torch.where(xs < -0.25, w_branch, torch.where(xs < 0.25, w_taylor, w_mid))
    near_branch = p < (1e-3 if x.dtype == torch.float64 else 3e-2)
    for _ in range(6):
        ew = torch.exp(w)
        fw = w * ew - xs
        wp1 = w + 1.0
        denom = ew * wp1 - (w + 2.0) * fw / (2.0 * wp1)
        step = torch.where(near_branch | (fw == 0), torch.zeros_like(w), fw / denom)
        w = w - step
    out = torch.where(big, w_big, w)
    out = torch.where(
        x < -1.0 / math.e * (1 + 4 * torch.finfo(x.dtype).eps), torch.full_like(x, math.nan), out
    )
    return out
