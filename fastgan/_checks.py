"""Input validation shared by every public entry point.

Every check raises with the argument's name and what was wrong, e.g.
``ValueError: fake_features: expected a 2-D tensor [N, D], got shape (3,)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_float_tensor(
    x: Any,
    name: str,
    *,
    device: Optional[torch.device | str] = None,
    dtype: Optional[torch.dtype] = None,
) -> torch.Tensor:
    """Convert ``x`` (Tensor, numpy array, nested list) to a floating tensor.

    Integer, bool and complex inputs are refused (a silent cast would hide a bug,
    e.g. uint8 images passed where features were expected).
    """
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        if x.dtype == object:
            raise TypeError(f"{name}: object arrays are not supported")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, (list, tuple)) or isinstance(x, numbers.Real):
        t = torch.as_tensor(x)
        if not t.is_floating_point():
            t = t.to(torch.float64) if not t.is_complex() and t.dtype != torch.bool else t
    else:
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(x).__name__}")
    if t.is_complex():
        raise TypeError(f"{name}: complex dtype {t.dtype} is not supported (expected a real floating dtype)")
    if t.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name}: expected a floating dtype (float16/bfloat16/float32/float64), got {t.dtype}; "
            "convert explicitly, e.g. x.float()"
        )
    if device is not None or dtype is not None:
        t = t.to(
            device=device if device is not None else t.device, dtype=dtype if dtype is not None else t.dtype
        )
    return t


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise ValueError naming ``name`` and the count of NaN/Inf entries, if any."""
    if t.is_floating_point():
        # A finite sum proves every entry finite (NaN and Inf propagate through a sum): one
        # reduction instead of a mask; the count is taken only when the sum is not finite.
        if t.numel() == 0 or bool(torch.isfinite(t.sum())):
            return
        bad = (~torch.isfinite(t)).sum().item()
        if bad:
            raise ValueError(
                f"{name}: contains {int(bad)} non-finite value(s) (NaN or Inf) out of {t.numel()}"
            )


def check_ndim(t: torch.Tensor, name: str, ndim: int, layout: str) -> None:
    """Require ``t.dim() == ndim``; ``layout`` names the axes, e.g. ``"[N, D]"``."""
    if t.dim() != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D tensor {layout}, got shape {tuple(t.shape)}")


def check_features(t: Any, name: str, *, min_rows: int = 1, finite: bool = True) -> torch.Tensor:
    """Validate a feature matrix ``[N, D]`` and return it as a floating tensor."""
    t = as_float_tensor(t, name)
    check_ndim(t, name, 2, "[N, D]")
    if t.shape[1] < 1:
        raise ValueError(f"{name}: feature dimension D must be >= 1, got shape {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} sample(s) (rows), got {t.shape[0]}")
    if finite:
        check_finite(t, name)
    return t


def check_same_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Feature dimensions (last axis) must agree."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"{name_a} and {name_b}: feature dimensions differ ({a.shape[-1]} vs {b.shape[-1]})")


def check_same_device(tensors: Sequence[torch.Tensor], names: Sequence[str]) -> torch.device:
    """All tensors on one device; returns it."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        desc = ", ".join(f"{n} on {t.device}" for n, t in zip(names, tensors))
        raise ValueError(f"inputs are on different devices: {desc}; move them to one device")
    return tensors[0].device


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` must be an int >= minimum (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: must be one of {tuple(choices)}, got {value!r}")
    return str(value)
