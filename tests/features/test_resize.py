"""Resize modes (fastgan/features/resize.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.features import resize_images


def test_resize_modes() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 10, 13, generator=g)
    torch.testing.assert_close(
        resize_images(x, 20), F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    )
    # upsampling: antialias changes nothing; downsampling: it does
    torch.testing.assert_close(resize_images(x, 20, "bilinear_antialias"), resize_images(x, 20))
    assert not torch.allclose(resize_images(x, 4, "bilinear_antialias"), resize_images(x, 4))
    assert resize_images(x, (10, 13)) is x and resize_images(x, 7, "none") is x
    with pytest.raises(ValueError, match="resize"):
        resize_images(x, 5, "nearest")


def test_resize_tf1_formula() -> None:
    # TF1 resize_bilinear (align_corners=False, no half-pixel): src = dst * scale, scale = in / out
    # rounded to float32 (TF computes it in float); width interpolated first, then height
    x = torch.rand(1, 1, 5, 7, dtype=torch.float64)
    out = resize_images(x, (8, 3), "bilinear_tf1")
    a = x[0, 0].numpy()
    ref = np.empty((8, 3))
    for i in range(8):
        for j in range(3):
            sy, sx = i * float(np.float32(5 / 8)), j * float(np.float32(7 / 3))
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            fy, fx = sy - y0, sx - x0
            top = a[y0, x0] + (a[y0, x1] - a[y0, x0]) * fx
            bot = a[y1, x0] + (a[y1, x1] - a[y1, x0]) * fx
            ref[i, j] = top + (bot - top) * fy
    np.testing.assert_allclose(out[0, 0].numpy(), ref, rtol=1e-12)
