"""Image resizing conventions used before the feature networks.

Modes (inputs are float images [N, C, H, W]):

* ``"bilinear"`` -- ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``.
  Matches pytorch-fid and torchmetrics' FID input pipeline. Default, because published
  PyTorch FID numbers were computed this way.
* ``"bilinear_tf1"`` -- TensorFlow 1.x ``tf.image.resize_bilinear`` (``align_corners=False``,
  no half-pixel centres: source coordinate = dst * scale with ``scale = in / out`` rounded to
  float32, as TF computes it; interpolated along the width first, then the height, each as
  ``a + (b - a) * t``). Matches the original TF FID / IS graphs and, bit for bit,
  torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x`` (its default "slow" method).
* ``"bilinear_antialias"`` -- bilinear with ``antialias=True``: when *downsampling*, every
  input pixel contributes (a triangle filter widened by the scale factor), so no aliasing
  (the issue clean-fid raised about non-antialiased resizes). Not identical to clean-fid,
  which uses PIL's bicubic filter on uint8 images.
* ``"bicubic_pil"`` -- Pillow's bicubic filter on each channel as a float32 (mode ``"F"``)
  image (antialiased when downsampling, a = -0.5). Runs on the CPU through numpy (inputs
  on other devices are copied there and back; float64 inputs are rounded to float32). With
  0..255 pixels this is clean-fid's "clean" resize (its clip to [0, 255] is done by the
  ``clean-fid`` preset, not here).
* ``"none"`` -- no resizing (inputs must already have the network's size, or the network
  is used at native resolution).

No antialiasing by default: when upsampling (the common case, e.g. 32 or 256 px to 299)
bilinear with and without antialias are identical, and for downsampling the references
above do not antialias, so doing it would shift the numbers away from theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["RESIZE_MODES", "resize_images"]

RESIZE_MODES = ("bilinear", "bilinear_tf1", "bilinear_antialias", "bicubic_pil", "none")


def _tf1_axis(x: torch.Tensor, out: int, dim: int) -> torch.Tensor:
    # TF1 (align_corners=False): src = dst * float32(in / out); lo = floor(src), hi = min(lo + 1, in - 1)
    n_in = x.shape[dim]
    if n_in == out:
        return x
    scale = torch.tensor(n_in / out, dtype=torch.float32, device=x.device)
    src = torch.arange(out, dtype=x.dtype, device=x.device) * scale
    i0 = src.long()  # src >= 0: truncation is floor
    i1 = (i0 + 1).clamp_(max=n_in - 1)
    frac = src - i0.to(torch.float32)
    shape = [1] * x.dim()
    shape[dim] = out
    a = x.index_select(dim, i0)
    b = x.index_select(dim, i1)
    return a + (b - a) * frac.view(shape)


def _pil_bicubic(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow is a dependency of image folders anyway
        raise ImportError("resize: 'bicubic_pil' needs Pillow (`pip install pillow`)") from e
    bicubic = getattr(Image, "Resampling", Image).BICUBIC
    arr = x.detach().to("cpu", torch.float32).numpy()
    n, c = arr.shape[:2]
    out = np.empty((n, c, hw[0], hw[1]), dtype=np.float32)
    for i in range(n):
        for j in range(c):
            img = Image.fromarray(np.ascontiguousarray(arr[i, j]))  # 2-D float32 -> mode "F"
            out[i, j] = np.asarray(img.resize((hw[1], hw[0]), resample=bicubic))
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


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
    if mode == "bicubic_pil":
        return _pil_bicubic(x, hw)
    return _tf1_axis(_tf1_axis(x, hw[1], 3), hw[0], 2)  # width first, as TF1
