"""LPIPS with the VGG-16 trunk (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric"), version 0.1: the distance of perceptual path length.

For two images ``x0``, ``x1`` (RGB in [-1, 1]):

1. scale each channel: ``(x - shift_c) / scale_c`` with ``shift = (-0.030, -0.088, -0.188)``,
   ``scale = (0.458, 0.448, 0.450)`` (the ImageNet mean / std re-expressed for [-1, 1] pixels);
2. run the ImageNet VGG-16 convolutions and keep five activations: ``relu1_2``, ``relu2_2``,
   ``relu3_3``, ``relu4_3``, ``relu5_3`` (after the layers ``features.3``, ``8``, ``15``, ``22``,
   ``29`` of torchvision's ``vgg16``), with ``C_l = 64, 128, 256, 512, 512`` channels;
3. unit-normalise every spatial position's channel vector: ``f / (||f||_2 + 1e-10)``;
4. ``d(x0, x1) = sum_l mean_{h,w} sum_c w_{l,c} (f0_{l,c,h,w} - f1_{l,c,h,w})^2`` with the learned
   non-negative weights ``w_l`` (the 1x1 convolutions ``lin0..lin4`` of the lpips package, one
   output channel, no bias).

Weights: the trunk is torchvision's ImageNet VGG-16 (``vgg16-397923af.pth``, the file
:class:`~fastgan.features.VGG16FC2` uses; its classifier is ignored); the linear layers are the
lpips package's ``weights/v0.1/vgg.pth`` (keys ``lin{l}.model.1.weight``, shapes
``[1, C_l, 1, 1]``), both fetched by name (:data:`fastgan.features.hub.KNOWN_WEIGHTS`:
``"vgg16"``, ``"lpips-vgg16"``). A state dict of a whole ``lpips.LPIPS(net="vgg")`` module (keys
``net.slice{k}.{i}.*``, ``lin{l}.model.1.weight``, ``scaling_layer.*``) is read too.

Inputs: float images in [-1, 1] (the lpips package's convention), or uint8 images 0..255, which
are scaled in one step as torch-fidelity does (``(u - 255 (1 + shift) / 2) * 2 / (255 scale)``).
``resize``: an optional square side the scaled images are brought to before the trunk:
torch-fidelity's rule (``area`` when both sides are larger, else bilinear without corner
alignment) when ``upsample=True``; with ``upsample=False`` only larger images are reduced
(``area``: for an integer factor, StyleGAN3's box average of PPL's 256 x 256 downsampling).

Matches: ``lpips.LPIPS(net="vgg", version="0.1")`` (``forward(in0, in1)`` with inputs in [-1, 1],
spatial average); torch-fidelity ``SampleSimilarityLPIPS`` (``sample_similarity_lpips.py``; uint8
inputs, ``sample_similarity_resize``).
"""

from __future__ import annotations

import os
import re
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from fastgan.features.vgg import _CFG
from fastgan.features.weights import WeightsError, check_state_dict, load_state_dict_file, resolve_weights

__all__ = ["LPIPSVGG16", "LPIPS_SHIFT", "LPIPS_SCALE", "LPIPS_LAYERS", "lpips_state_dict"]

#: the scaling layer of LPIPS v0.1 on [-1, 1] pixels: ``(x - shift) / scale`` per channel
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
#: indices (in torchvision's ``vgg16().features``) of the ReLUs whose outputs LPIPS compares
LPIPS_LAYERS = (3, 8, 15, 22, 29)
_CHANNELS = (64, 128, 256, 512, 512)
_NORM_EPS = 1e-10


class _Linear(nn.Module):
    """One learned layer, named as the lpips package's ``NetLinLayer`` (``model.1`` is the 1x1
    convolution; ``model.0`` is its dropout, an identity in evaluation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))


def _constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device).view(1, 3, 1, 1)


def lpips_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys of an ``lpips.LPIPS(net="vgg")`` module's state dict in :class:`LPIPSVGG16`'s
    names (``net.slice{k}.{i}.*`` -> ``features.{i}.*``; its ``scaling_layer`` buffers and the
    ``lins.{l}`` aliases of ``lin{l}`` dropped);
    any other state dict is returned unchanged."""
    if not any(k.startswith("net.slice") for k in sd):
        return sd
    out = {}
    for k, v in sd.items():
        if k.startswith(("scaling_layer.", "lins.")):  # its buffers; a second name of lin0..lin4
            continue
        out[re.sub(r"^net\.slice\d\.", "features.", k)] = v
    return out


class LPIPSVGG16(nn.Module):
    """LPIPS v0.1 distance with the VGG-16 trunk (module docstring: the definition).

    Args:
        weights: VGG-16 trunk: path or URL of a torchvision-layout state dict (``features.*``;
            ``classifier.*`` ignored), or of a whole ``lpips.LPIPS(net="vgg")`` state dict (then
            it holds the linear layers too and ``lin_weights`` must be None). None: the known
            ``"vgg16"`` file.
        lin_weights: the linear layers ``lin0..lin4`` (the lpips package's ``vgg.pth`` layout).
            None: the known ``"lpips-vgg16"`` file (unless ``weights`` held them).
        download, cache_dir: as :class:`fastgan.features.VGG16FC2`.
        resize: square side the scaled images are resized to before the trunk (None: as given).
        upsample: ``resize`` also enlarges smaller images (bilinear; torch-fidelity) or only
            reduces larger ones (``False``; StyleGAN3's downsampling to 256).
        random_init: random weights (the linear ones made non-negative), nothing loaded (tests only).

    ``forward(x0, x1)`` takes two image batches ``Tensor[N, 3, H, W]`` (float in [-1, 1], or
    uint8) and returns the distances ``Tensor[N]`` (float32 for uint8 inputs, else the inputs'
    dtype).

    Matches: ``lpips.LPIPS(net="vgg", version="0.1")``; torch-fidelity ``SampleSimilarityLPIPS``
    (uint8 inputs, ``sample_similarity_resize``).

    >>> net = LPIPSVGG16(random_init=True)
    >>> x = torch.rand(2, 3, 32, 32) * 2 - 1
    >>> net(x, x).tolist()
    [0.0, 0.0]
    """

    def __init__(
        self,
        weights: Optional[str | os.PathLike[str]] = None,
        lin_weights: Optional[str | os.PathLike[str]] = None,
        *,
        download: Optional[bool] = None,
        cache_dir: Optional[str | os.PathLike[str]] = None,
        resize: Optional[int] = None,
        upsample: bool = True,
        random_init: bool = False,
    ) -> None:
        super().__init__()
        if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 1):
            raise ValueError(f"resize: expected a positive int or None, got {resize!r}")
        self.resize = resize
        self.upsample = bool(upsample)
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG[:-1]:  # LPIPS stops at relu5_3: the last max-pool is not used
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.lin0, self.lin1, self.lin2, self.lin3, self.lin4 = (_Linear(c) for c in _CHANNELS)
        if random_init:
            if weights is not None or lin_weights is not None:
                raise ValueError("weights, lin_weights: cannot be combined with random_init=True")
            with torch.no_grad():  # learned LPIPS weights are non-negative: keep a distance
                for lin in (self.lin0, self.lin1, self.lin2, self.lin3, self.lin4):
                    conv = lin.model[1]
                    assert isinstance(conv, nn.Conv2d)
                    conv.weight.abs_()
        else:
            self._load(weights, lin_weights, download, cache_dir)
        self.eval()
        self.requires_grad_(False)

    def _load(
        self,
        weights: Optional[str | os.PathLike[str]],
        lin_weights: Optional[str | os.PathLike[str]],
        download: Optional[bool],
        cache_dir: Optional[str | os.PathLike[str]],
    ) -> None:
        path = resolve_weights(weights, known="vgg16", download=download, cache=cache_dir, what="LPIPSVGG16")
        sd = lpips_state_dict(load_state_dict_file(path))
        has_lin = any(k.startswith("lin") for k in sd)
        if has_lin and lin_weights is not None:
            raise ValueError(f"lin_weights: {path} already holds the linear layers (an LPIPS state dict)")
        sd = check_state_dict(
            self,
            sd,
            ignore_unexpected=("classifier.",),
            optional=() if has_lin else ("lin",),
            source=str(path),
        )
        if not has_lin:
            lin_path = resolve_weights(
                lin_weights, known="lpips-vgg16", download=download, cache=cache_dir, what="LPIPSVGG16"
            )
            lin_sd = check_state_dict(
                self, load_state_dict_file(lin_path), optional=("features.",), source=str(lin_path)
            )
            sd.update(lin_sd)
        if any(float(sd[f"lin{i}.model.1.weight"].min()) < 0 for i in range(5)):
            raise WeightsError("lin_weights: the LPIPS linear weights must be non-negative (a distance)")
        self.load_state_dict(sd)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``Tensor[N, 3, H, W]`` (float in [-1, 1], or uint8) -> the trunk's input scale,
        resized as ``resize`` / ``upsample`` say."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x: expected images [N, 3, H, W], got shape {tuple(x.shape)}")
        if x.dtype == torch.uint8:  # torch-fidelity's one-step scaling of 0..255 pixels, in float32
            mean = (1.0 + _constant(LPIPS_SHIFT, torch.float32, x.device)) * 255.0 / 2.0
            inv = 2.0 / (_constant(LPIPS_SCALE, torch.float32, x.device) * 255.0)
            x = (x.float() - mean) * inv
        elif x.is_floating_point():  # the constants rounded once, to the images' dtype
            x = (x - _constant(LPIPS_SHIFT, x.dtype, x.device)) / _constant(LPIPS_SCALE, x.dtype, x.device)
        else:
            raise ValueError(f"x: expected float images in [-1, 1] or uint8 images, got {x.dtype}")
        size = self.resize
        if size is not None:
            larger = x.shape[-1] > size and x.shape[-2] > size
            if larger:
                x = F.interpolate(x, (size, size), mode="area")
            elif self.upsample:
                x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False)
        return x

    def layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Scaled images (see :meth:`scale`) -> the five unit-normalised activations
        ``Tensor[N, C_l, H_l, W_l]``."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in LPIPS_LAYERS:
                out.append(x / (x.square().sum(1, keepdim=True).sqrt() + _NORM_EPS))
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Two image batches ``Tensor[N, 3, H, W]`` -> LPIPS distances ``Tensor[N]``."""
        if x0.shape != x1.shape:
            raise ValueError(
                f"x0, x1: the two batches differ in shape ({tuple(x0.shape)} vs {tuple(x1.shape)})"
            )
        f0, f1 = self.layers(self.scale(x0)), self.layers(self.scale(x1))
        lins = (self.lin0, self.lin1, self.lin2, self.lin3, self.lin4)
        total: Optional[torch.Tensor] = None
        for a, b, lin in zip(f0, f1, lins):
            d = lin.model((a - b).square()).mean((2, 3)).flatten()
            total = d if total is None else total + d
        assert total is not None
        return total
