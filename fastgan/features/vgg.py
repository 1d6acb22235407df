"""VGG-16 up to fc2 (post-ReLU, 4096-d): the embedding of improved precision / recall.

Kynkaanniemi et al. 2019 embed images with the ImageNet VGG-16 and use the second fully
connected layer after its ReLU. Parameter names follow the common PyTorch VGG-16 layout
(``features.{0,2,5,...,28}.weight/bias``, ``classifier.{0,3}.weight/bias``), so an ImageNet
VGG-16 state dict loads directly; its third classifier layer (``classifier.6.*``, the
1000-way head) is accepted and ignored.

torch-fidelity's VGG-16 weights are a torchvision ``vgg16`` state dict, the same layout.

Input: uint8 images [N, 3, H, W] (0..255) or float images in [0, 1]; resized to 224x224 and
normalised with the ImageNet mean / std: ``normalize="imagenet"`` on [0, 1] pixels (the
convention of PyTorch-trained VGG weights), ``"imagenet_byte"`` on 0..255 pixels
(``(u - 255 mean) / (255 std)``, torch-fidelity's arithmetic), or converted to Caffe-style
BGR 0..255 minus the mean pixel (``normalize="caffe"``, for weights converted from
Keras/Caffe). The weights decide which is right; a preset (:mod:`fastgan.features.presets`)
pins resize and normalisation: ``"pytorch-fid"`` (default: bilinear, ``"imagenet"``),
``"torch-fidelity"`` (TF1 bilinear on 0..255, ``"imagenet_byte"``). (The TorchScript
``vgg16.pt`` of the StyleGAN2-ADA metrics is a program, not a state dict, and is not loaded;
``fastgan convert-weights`` turns it into a weights-only state dict once.)
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from fastgan.features.presets import Preset, get_preset, prepare_pixels
from fastgan.features.resize import RESIZE_MODES
from fastgan.features.weights import load_weights_into, resolve_weights

__all__ = ["VGG16FC2"]

_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_NORMALIZE = ("imagenet", "imagenet_byte", "caffe")


class VGG16FC2(nn.Module):
    """VGG-16 features -> 7x7 adaptive average pool -> fc1 -> ReLU -> fc2 -> ReLU (4096-d).

    Args:
        weights: path or URL of a weights-only state dict. None: torchvision's ImageNet file
            ``vgg16-397923af.pth`` (the VGG-16 of torch-fidelity and prdc), found in the cache or
            torch.hub's checkpoints, else downloaded on first use (:func:`fastgan.features.hub.fetch`).
        sha256, download, cache_dir: as :class:`fastgan.features.InceptionV3FID`.
        preset: ``"pytorch-fid"`` (default) or ``"torch-fidelity"``: resize and normalisation
            (``"clean-fid"`` has no VGG-16 and is refused).
        normalize: ``"imagenet"``, ``"imagenet_byte"`` or ``"caffe"`` (see module docstring);
            None: the preset's.
        resize: resize mode for inputs that are not 224x224 (``"none"``: native size, >= 32 px);
            None: the preset's.
        random_init: random weights, nothing loaded (tests only).

    Matches: Kynkaanniemi et al. 2019 (VGG-16 fc2 after ReLU, 4096-d features); torch-fidelity
    ``FeatureExtractorVGG16`` ``fc2_relu`` with ``preset="torch-fidelity"``.

    >>> VGG16FC2(random_init=True, resize="none")(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 4096])
    """

    input_size = 224
    feature_dim = 4096

    def __init__(
        self,
        weights: Optional[str | os.PathLike[str]] = None,
        *,
        sha256: Optional[str] = None,
        download: Optional[bool] = None,
        cache_dir: Optional[str | os.PathLike[str]] = None,
        preset: str | Preset | None = None,
        normalize: Optional[str] = None,
        resize: Optional[str] = None,
        random_init: bool = False,
    ) -> None:
        super().__init__()
        self.preset = get_preset(preset)
        pipeline = self.preset.pipeline
        if pipeline.vgg_resize is None or pipeline.vgg_normalize is None:
            raise ValueError(
                f"preset: {self.preset.name!r} has no VGG-16 (no precision / recall in {self.preset.matches}); "
                "use preset='torch-fidelity' or 'pytorch-fid'"
            )
        normalize = normalize if normalize is not None else pipeline.vgg_normalize
        resize = resize if resize is not None else pipeline.vgg_resize
        if normalize not in _NORMALIZE:
            raise ValueError(f"normalize: must be one of {_NORMALIZE}, got {normalize!r}")
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize: must be one of {RESIZE_MODES}, got {resize!r}")
        self.normalize = normalize
        self.resize = resize
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
        )
        self.register_buffer("_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "_mean_byte", torch.tensor([255 * m for m in _IMAGENET_MEAN]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "_std_byte", torch.tensor([255 * s for s in _IMAGENET_STD]).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("_caffe_mean", torch.tensor(_CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        if random_init:
            if weights is not None:
                raise ValueError("weights: cannot be combined with random_init=True")
        else:
            path = resolve_weights(
                weights, known="vgg16", sha256=sha256, download=download, cache=cache_dir, what="VGG16FC2"
            )
            load_weights_into(self, path, ignore_unexpected=("classifier.6.",))
        self.eval()
        self.requires_grad_(False)

    _mean: torch.Tensor
    _std: torch.Tensor
    _mean_byte: torch.Tensor
    _std_byte: torch.Tensor
    _caffe_mean: torch.Tensor

    def _weight_dtype(self) -> torch.dtype:
        return next(self.classifier.parameters()).dtype

    def preprocess(self, x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """Tensor[N, 3, H, W] uint8 or float in [0, 1] -> normalised Tensor[N, 3, 224, 224]
        (``dtype`` None: the network's for uint8, else ``x``'s)."""
        if dtype is None and x.dtype == torch.uint8:
            dtype = self._weight_dtype()
        pixels = "byte" if self.normalize == "imagenet_byte" else "unit"
        x = prepare_pixels(x, self.input_size, pixels=pixels, resize=self.resize, dtype=dtype)
        if self.normalize == "imagenet":
            return (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)
        if self.normalize == "imagenet_byte":
            return (x - self._mean_byte.to(x.dtype)) / self._std_byte.to(x.dtype)
        return x.flip(1) * 255.0 - self._caffe_mean.to(x.dtype)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed Tensor[N, 3, 224, 224] (see :meth:`preprocess`) -> Tensor[N, 4096]."""
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (7, 7))
        return self.classifier(torch.flatten(x, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, 3, H, W] (uint8, or float in [0, 1]) -> Tensor[N, 4096]."""
        return self.embed(self.preprocess(x))
