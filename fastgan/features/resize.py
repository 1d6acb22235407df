"""Image resizing conventions used before the feature networks.

Modes (inputs are float images [N, C, H, W]):

* ``"bilinear"`` -- ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``.
  Matches pytorch-fid and torchmetrics' FID input pipeline. Default, because published
  PyTorch FID numbers were computed this way.
* ``"bilinear_tf1"`` -- TensorFlow 1.x ``tf.image.resize_bilinear`` (``align_corners=False``,
  no half-pixel centres: source coordinate = dst * in/out). Matches the original TF FID /
  IS graphs and torch-fidelity's TF1-style resize.
* ``"bilinear_antialias"`` -- bilinear with ``antialias=True``: when *downsampling*, every
  input pixel contributes (a triangle filter widened by the scale factor), so no aliasing
  (the issue clean-fid raised about non-antialiased resizes). Not identical to clean-fid,
  which uses PIL's bicubic filter on uint8 images.
* ``"none"`` -- no resizing (inputs must already have the network's size, or the network
  is used at native resolution).

No antialiasing by default: when upsampling (the common case, e.g. 32 or 256 px to 299)
bilinear with and without antialias are identical, and for downsampling the references
above do not antialias, so doing it would shift the numbers away from theirs.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["RESIZE_MODES", "resize_images"]

RESIZE_MODES = ("bilinear", "bilinear_tf1", "bilinear_antialias", "none")


def _tf1_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    n_in = x.shape[dim]
    if n_in == out:
        return x
    scale = n_in / out
    src = torch.arange(out, dtype=torch.float64, device=x.device) * scale
    i0 = src.floor().long().clamp_(max=n_in - 1)
    i1 = (i0 + 1).clamp_(max=n_in - 1)
    frac = (src - i0.to(torch.float64)).to(x.dtype)
    shape = [1] * x.dim()
    shape[dim] = out
    a = x.index_select(dim, i0)
    b = x.index_select(dim, i1)
    return a + (b - a) * frac.view(shape)


def resize_images(x: torch.Tensor, size: int | Sequence[int], mode: str = "bilinear") -> torch.Tensor:
    """Resize float images.

    Args:
        x (Tensor[N, C, H, W]): floating images.
        size: output size, an int (square) or (H_out, W_out).
        mode: one of :data:`RESIZE_MODES` (see module docstring).

    Returns:
        Tensor[N, C, H_out, W_out] (``x`` itself when no resize is needed).
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize: must be one of {RESIZE_MODES}, got {mode!r}")
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x: expected floating images [N, C, H, W], got {x.dtype} {tuple(x.shape)}")
    hw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == hw or mode == "none":
        return x
    if mode == "bilinear":
        return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=False)
    if mode == "bilinear_antialias":
        return F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=True)
    return _tf1_axis(_tf1_axis(x, hw[0], 2), hw[1], 3)
