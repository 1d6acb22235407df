"""Feeding a decoded batch to a feature network: the one step :func:`fastgan.features.extract_features`
and :func:`fastgan.evaluation.embed.embed` share, so that both give the same features bit for bit.

A batch comes from :mod:`fastgan.features.images`: a Tensor [B, 3, H, W] or a list of single images
[3, H, W] (files: sizes may differ), uint8 or float in [0, 1].

* fastgan's networks (:func:`is_native`: ``preprocess`` and ``embed`` methods) scale and resize
  themselves, from uint8 when given uint8: :func:`native_input`.
* any other network gets float images at its input size: :func:`float_input`.

:func:`network_outputs` checks what a network returned and brings it to the CPU; :func:`embed_batch`
is the three steps in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from fastgan.features.images import stack_resized, to_images
from fastgan.features.resize import resize_images

__all__ = ["is_native", "module_device", "native_input", "float_input", "network_outputs", "embed_batch"]

Batch = Union[torch.Tensor, list[torch.Tensor]]


def is_native(module: Any) -> bool:
    """A fastgan network: an ``nn.Module`` that preprocesses (``preprocess``) and embeds (``embed``)."""
    return isinstance(module, nn.Module) and hasattr(module, "preprocess") and hasattr(module, "embed")


def module_device(module: Any) -> Optional[torch.device]:
    """The device of ``module``'s first parameter (else buffer); None without either, or not a module."""
    if isinstance(module, nn.Module):
        for p in module.parameters():
            return p.device
        for b in module.buffers():
            return b.device
    return None


def native_input(net: Any, b: Batch, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A batch (Tensor, or list of single images) -> the network's preprocessed input."""
    imgs = list(b) if isinstance(b, list) else [b]
    if isinstance(b, list) and len({(tuple(im.shape), im.dtype) for im in imgs}) == 1:
        imgs = [torch.stack(imgs)]
    elif isinstance(b, list):
        imgs = [im[None] for im in imgs]  # mixed sizes / dtypes: one image at a time
    return torch.cat([net.preprocess(im.to(device, non_blocking=True), dtype) for im in imgs])


def float_input(
    b: Batch, size: Optional[tuple[int, int]], mode: str, device: torch.device, dtype: torch.dtype, name: str
) -> torch.Tensor:
    """A batch -> float ``dtype`` images in [0, 1] on ``device``, resized to ``size`` with ``mode``
    (None: as they are). uint8 images are scaled by 1/255 in ``dtype``; float images (checked and
    clamped to [0, 1] when they were decoded) are stacked / resized as they are, then cast."""
    if isinstance(b, list):
        fl = [
            to_images(im[None], "NCHW", name, dtype, False)[0] if im.dtype == torch.uint8 else im for im in b
        ]
        x = stack_resized(fl, size, mode)
    else:
        x = to_images(b, "NCHW", name, dtype, False) if b.dtype == torch.uint8 else b
    x = x.to(device=device, dtype=dtype, non_blocking=True)
    if size is not None:
        x = resize_images(x, size, mode)
    return x


def network_outputs(out: Any, n: int, who: str, *, split: bool = True) -> list[torch.Tensor]:
    """``out`` (a Tensor, or with ``split`` a tuple such as ``(features, logits)``) -> detached CPU
    tensors, half precision as float32; each must be ``Tensor[n, D]`` (a ValueError starting with
    ``who``)."""
    outs: Sequence[Any] = list(out) if split and isinstance(out, tuple) else [out]
    for o in outs:
        if not isinstance(o, torch.Tensor) or o.dim() != 2 or o.shape[0] != n:
            raise ValueError(
                f"{who}: must return Tensor[B, D] with B={n}, got "
                f"{tuple(o.shape) if isinstance(o, torch.Tensor) else type(o).__name__}"
            )
    return [
        o.detach().to("cpu", torch.float32 if o.dtype in (torch.float16, torch.bfloat16) else o.dtype)
        for o in outs
    ]


def embed_batch(
    fn: Callable[[torch.Tensor], Any],
    module: Any,
    b: Batch,
    *,
    native: bool,
    size: Optional[tuple[int, int]],
    mode: str,
    device: torch.device,
    dtype: torch.dtype,
    name: str,
    who: str,
    split: bool = True,
) -> list[torch.Tensor]:
    """One decoded batch through ``fn`` (``module`` or one of its methods): :func:`native_input` for
    a native ``module`` (which resizes itself; ``size`` unused), else :func:`float_input`; the
    outputs as :func:`network_outputs` returns them."""
    x = native_input(module, b, device, dtype) if native else float_input(b, size, mode, device, dtype, name)
    return network_outputs(fn(x), x.shape[0], who, split=split)
