"""Backend choice for every op with a native kernel: the fallback policy, in one place.

Each op takes ``impl: Literal["auto", "ext", "torch"]``:

* ``"torch"`` always runs the pure-torch reference (the test oracle).
* ``"ext"`` runs the compiled kernel and raises if it cannot (no silent fallback).
* ``"auto"`` (default) runs the compiled kernel when the extension is loaded and
  supports the tensors' device and dtype; otherwise it runs the reference and emits
  one :class:`FastganFallbackWarning` per (op, reason).

The environment variable ``FASTGAN_BACKEND`` (``auto`` | ``ext`` | ``torch``)
replaces ``"auto"`` globally, e.g. ``FASTGAN_BACKEND=torch`` forces the reference.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Literal, Optional

import torch

from fastgan import _ext

Impl = Literal["auto", "ext", "torch"]
_VALID = ("auto", "ext", "torch")
_warned: set[tuple[str, str]] = set()


class FastganFallbackWarning(UserWarning):
    """Emitted (once per op and reason) when ``impl='auto'`` falls back to torch."""


def backend_setting() -> str:
    """The global setting from ``FASTGAN_BACKEND`` (default ``"auto"``)."""
    value = os.environ.get("FASTGAN_BACKEND", "auto").strip().lower() or "auto"
    if value not in _VALID:
        raise ValueError(f"FASTGAN_BACKEND must be one of {_VALID}, got {value!r}")
    return value


def check_impl(impl: str) -> str:
    """Validate an ``impl`` argument and resolve ``"auto"`` against FASTGAN_BACKEND."""
    if impl not in _VALID:
        raise ValueError(f"impl must be one of {_VALID}, got {impl!r}")
    return backend_setting() if impl == "auto" else impl


def _unsupported_reason(
    tensors: Iterable[torch.Tensor], dtypes: Optional[Iterable[torch.dtype]]
) -> Optional[str]:
    if not _ext.HAS_EXT:
        return f"fastgan._C is not available ({_ext.EXT_ERROR})"
    allowed = set(dtypes) if dtypes is not None else set(_ext.DTYPE_CODES)
    for t in tensors:
        if t.device.type == "cuda":
            if not _ext.HAS_CUDA_EXT:
                return "fastgan._C was built without CUDA kernels"
            if not _ext.cuda_usable():
                return f"fastgan._C cannot use the GPU ({_ext.cuda_info()['message']})"
            if torch.are_deterministic_algorithms_enabled():
                return "deterministic algorithms are enabled and the CUDA kernel is not bitwise deterministic"
        elif t.device.type != "cpu":
            return f"device type {t.device.type!r} has no native kernel"
        if t.dtype not in allowed:
            return f"dtype {t.dtype} has no native kernel"
    return None


def use_extension(
    op: str,
    impl: str,
    *tensors: torch.Tensor,
    dtypes: Optional[Iterable[torch.dtype]] = None,
    deterministic_cuda: bool = False,
) -> bool:
    """Decide whether ``op`` runs the compiled kernel for these tensors.

    Args:
        op: op name used in messages, e.g. ``"fdiv_term"``.
        impl: the user's ``impl`` argument (``"auto"``, ``"ext"`` or ``"torch"``).
        *tensors: the op's tensor inputs (device and dtype are checked).
        dtypes: dtypes the kernel supports (default: all four float types).
        deterministic_cuda: True when the CUDA kernel is bitwise deterministic, so
            ``torch.use_deterministic_algorithms(True)`` need not route to torch.

    Returns:
        True to call the extension, False to call the torch reference.

    Raises:
        RuntimeError: ``impl == "ext"`` (or FASTGAN_BACKEND=ext) and the kernel cannot run.
    """
    mode = check_impl(impl)
    if mode == "torch":
        return False
    reason = _unsupported_reason(tensors, dtypes)
    if reason is not None and deterministic_cuda and "deterministic" in reason:
        reason = None
    if reason is None:
        return True
    if mode == "ext":
        raise RuntimeError(f"fastgan: {op} with impl='ext' cannot run: {reason}")
    key = (op, reason)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"fastgan: {op} falls back to the pure-torch implementation: {reason}. "
            "Set FASTGAN_BACKEND=torch to choose it explicitly.",
            FastganFallbackWarning,
            stacklevel=3,
        )
    return False


def reset_warnings() -> None:
    """Forget which fallbacks were already reported (used by tests)."""
    _warned.clear()
