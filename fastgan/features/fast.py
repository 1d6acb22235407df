"""The opt-in fast mode of the feature networks (``fastgan.evaluate(fast=True)``, ``fastgan eval --fast``).

The networks run in the reduced precision the hardware has:

* CPU with bfloat16 instructions (AVX512-BF16 or AMX; ``torch.ops.mkldnn._is_mkldnn_bf16_supported``):
  ``torch.autocast("cpu", dtype=torch.bfloat16)``: convolutions and matrix products in bfloat16
  with float32 accumulation (oneDNN), about 1.8x the float32 pass on an AMD EPYC with AVX512-BF16;
* CUDA: ``torch.autocast("cuda", dtype=torch.float16)`` with TF32 allowed for what stays float32;
* anything else: the default float32 arithmetic (the mode changes nothing; :func:`fast_support`
  says why).

It is never the default: features move by about 3e-3 of their scale (bfloat16 has 8 bits of
mantissa), which moves FID by far more than the 1e-6 parity bound of the presets. The size of
that move on the benchmark images is measured by ``bench/bench_embedding.py`` and reported with
its speed. Cached features are keyed by the mode, so a fast run never reuses default-mode
features or the reverse.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import torch

__all__ = ["fast_support", "fast_context", "fast_module", "with_fast"]


def _cpu_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def fast_support(device: Any) -> tuple[bool, str]:
    """``(reduced precision available, what the fast mode does)`` on ``device``."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return True, "float16 autocast with TF32 (CUDA)"
    if dev.type == "cpu":
        if _cpu_bf16():
            return True, "bfloat16 autocast (CPU with bfloat16 instructions)"
        return False, "this CPU has no bfloat16 instructions: the fast mode runs float32"
    return False, f"no reduced-precision mode for device type {dev.type!r}: the fast mode runs float32"


@contextlib.contextmanager
def fast_context(device: Any) -> Iterator[None]:
    """Run the enclosed network calls in the fast mode's precision on ``device``."""
    dev = torch.device(device)
    ok, _ = fast_support(dev)
    if not ok:
        yield
        return
    if dev.type == "cuda":
        tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            with torch.autocast("cuda", dtype=torch.float16):
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        return
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


class _FastModule:
    """A network whose methods run under :func:`fast_context` (outputs cast back to float32)."""

    def __init__(self, module: Any, device: Any) -> None:
        self._module = module
        self._device = device

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._module, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with fast_context(self._device):
                out = attr(*args, **kwargs)
            return _to_float(out)

        return call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with fast_context(self._device):
            return _to_float(self._module(*args, **kwargs))


def _to_float(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.float() if out.dtype in (torch.float16, torch.bfloat16) else out
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float(o) for o in out)
    return out


def fast_module(module: Any, device: Any = None) -> Any:
    """``module`` with its calls and methods in the fast mode (``device``: where it runs; None:
    its parameters' device, else the CPU)."""
    if device is None:
        p = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
        device = p.device if p is not None else torch.device("cpu")
    return _FastModule(module, device)


def with_fast(preset: Any) -> Any:
    """``preset`` (a resolved :class:`~fastgan.features.presets.Preset`) with its image pipeline
    in the fast mode."""
    if preset.pipeline.dtype == torch.float64:
        raise ValueError("fast: the fast mode and a float64 pipeline (float64=True) exclude each other")
    return replace(preset, pipeline=replace(preset.pipeline, fast=True))
