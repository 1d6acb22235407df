"""Loading of the native extension ``fastgan._C`` and capability flags.

The extension is optional: when it is missing or broken, everything runs on the
pure-torch reference path and :mod:`fastgan._dispatch` warns once per op.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, Optional

import torch

#: dtype codes understood by ``fastgan._C`` (csrc/common/host_device.h, ``DType``).
DTYPE_CODES: dict[torch.dtype, int] = {
    torch.float32: 0,
    torch.float64: 1,
    torch.float16: 2,
    torch.bfloat16: 3,
}

_C: Optional[ModuleType]
EXT_ERROR: Optional[str]
try:
    if os.environ.get("FASTGAN_NO_EXTENSION", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise ImportError("FASTGAN_NO_EXTENSION is set")
    _C = importlib.import_module("fastgan._C")

    EXT_ERROR = None
except Exception as exc:  # ImportError, or an OSError from a broken build
    _C = None
    EXT_ERROR = f"{type(exc).__name__}: {exc}"

#: True when the C++ kernels are loaded.
HAS_EXT: bool = _C is not None
#: True when the loaded extension was compiled with CUDA kernels.
HAS_CUDA_EXT: bool = bool(_C is not None and getattr(_C, "WITH_CUDA", False))

_cuda_info_cache: Optional[dict[str, Any]] = None


def cuda_info() -> dict[str, Any]:
    """What the extension's own CUDA runtime sees (never raises)."""
    global _cuda_info_cache
    if _cuda_info_cache is None:
        if _C is None:
            _cuda_info_cache = {
                "compiled": False,
                "device_count": 0,
                "runtime_version": 0,
                "driver_version": 0,
                "message": "extension not loaded",
            }
        else:
            _cuda_info_cache = dict(_C.cuda_info())
    return _cuda_info_cache


def cuda_usable() -> bool:
    """True when the extension has CUDA kernels and sees at least one device."""
    return HAS_CUDA_EXT and int(cuda_info()["device_count"]) > 0


def assert_has_ext(op: str = "this operation") -> ModuleType:
    """Return the extension module or raise an actionable RuntimeError."""
    if _C is None:
        raise RuntimeError(
            f"fastgan: {op} requested the compiled extension (impl='ext' or FASTGAN_BACKEND=ext), "
            f"but fastgan._C could not be loaded ({EXT_ERROR}). Reinstall with `pip install .` from the "
            "source tree (a C++17 compiler is required), or use impl='torch'."
        )
    return _C


def dtype_code(t: torch.Tensor) -> int:
    """The extension's dtype code for ``t`` (KeyError-free: raises TypeError)."""
    try:
        return DTYPE_CODES[t.dtype]
    except KeyError:
        raise TypeError(f"fastgan._C does not support dtype {t.dtype}") from None


_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


def stream_handle(t: torch.Tensor) -> int:
    """The current CUDA stream handle of ``t``'s device (0 for CPU tensors)."""
    if t.device.type != "cuda":
        return 0
    if _raw_stream is not None:  # the same handle without building a torch.cuda.Stream object
        return int(_raw_stream(device_index(t)))
    return int(torch.cuda.current_stream(t.device).cuda_stream)


def device_index(t: torch.Tensor) -> int:
    """CUDA device index of ``t`` (-1 for CPU tensors)."""
    if t.device.type != "cuda":
        return -1
    return t.device.index if t.device.index is not None else torch.cuda.current_device()


def num_threads() -> int:
    """Thread count for CPU kernels: the same as torch's intra-op pool."""
    return max(1, torch.get_num_threads())
