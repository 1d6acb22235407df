"""DINOv2 and CLIP image embeddings (optional: timm / open_clip), with the references' preprocessing.

The networks are built by the packages that define them (their default weights come from
:mod:`fastgan.features.hub`: found in fastgan's or a peer's cache, else downloaded on first use):

* DINOv2 ViT-S/B/L/g with patch 14 through ``timm`` (``pip install "fastgan[dinov2]"``): the
  class token after the final norm (``num_classes=0``), the embedding of dgm-eval's FD-DINOv2
  (Stein et al., NeurIPS 2023, "Exposing flaws of generative model evaluation metrics").
* CLIP image towers through ``open_clip`` (``pip install "fastgan[clip]"``): the projected
  image embedding (``model.visual``), OpenAI weights with QuickGELU; ``clip-vit-l14-336`` is
  the CMMD embedding (Jayasumana et al., CVPR 2024).

Both extras need torchvision (a dependency of timm and open_clip). Weights: a local file
(``weights=``, with ``sha256=`` to verify it), a URL, or None: the published file of
:data:`fastgan.features.hub.KNOWN_WEIGHTS` (DINOv2's ``.pth``, open_clip's ``.safetensors``); state dicts
are read with ``torch.load(weights_only=True)`` or from ``.safetensors``, and checked key by
key. DINOv2 accepts the original checkpoints (``dinov2_vit*14_pretrain.pth``) and timm's
layout (both mapped by timm's ``checkpoint_filter_fn``, which also resamples the position
embeddings to the 224 px grid once, bicubic with antialiasing; the DINOv2 hub model
interpolates them at every call without antialiasing, so its features differ slightly).
CLIP accepts an open_clip state dict of the whole model (``visual.*`` is used) or of the image
tower. OpenAI's original ``.pt`` files are TorchScript programs: load them once with
``open_clip.create_model(name, pretrained="openai")`` in a trusted environment and save
``model.state_dict()``.

Preprocessing presets (``preset=``, :data:`FOUNDATION_PRESETS`):

========== ======================================================== ===========================
preset     pixels reach the network as                               matches
========== ======================================================== ===========================
dgm-eval   uint8 RGB -> Pillow BICUBIC resize to 224 x 224 (aspect   dgm-eval ``DINOv2Encoder``
           not kept) -> u / 255 -> (x - ImageNet mean) / std           ``transform`` (torchvision
                                                                      ``Resize((224, 224),
                                                                      BICUBIC)`` on the PIL image,
                                                                      ``ToTensor``, ``Normalize``)
cmmd       uint8 RGB -> centre square crop (offsets ``(w - l) // 2``)  google-research ``cmmd``
           -> Pillow BICUBIC resize to the model's size (336 for       (``io_util._center_crop_
           ViT-L/14-336) -> u / 255 -> (x - CLIP mean) / std;          and_resize``, CLIP
           embeddings L2-normalised                                    ``normalize_image``)
========== ======================================================== ===========================

uint8 images follow the references bit for bit (Pillow on each image, float32 arithmetic as
torchvision's ``ToTensor`` / ``Normalize``). Float images in [0, 1] are resized with
``F.interpolate(mode="bicubic", antialias=True)`` (close to Pillow's filter, not identical:
Pillow works on rounded uint8 pixels).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastgan.features.weights import (
    WeightsError,
    check_state_dict,
    load_state_dict_file,
    resolve_weights,
)

__all__ = [
    "FOUNDATION_MODELS",
    "FOUNDATION_NAMES",
    "FOUNDATION_PRESETS",
    "FoundationExtractor",
    "FoundationModel",
    "FoundationPreset",
    "build_foundation_extractor",
    "foundation_preprocess",
]

logger = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class FoundationPreset:
    """One reference's image pipeline for a foundation model (module docstring table).

    Attributes:
        name: preset name.
        crop: centre square crop before the resize (CMMD) or a plain resize to a square (dgm-eval).
        size: side after the resize; None: the model's input size.
        mean, std: per-channel normalisation of ``u / 255`` pixels.
        l2_normalize: L2-normalise the embeddings.
        matches: the reference it reproduces.
        resize: how uint8 images are resized: ``"pil"`` (Pillow BICUBIC on the uint8 image) or
            ``"torch"`` (``F.interpolate(mode="bicubic", antialias=True)`` on the float32 0..255
            values, then ``/ 255``: EDM2's ``DINOv2Detector(resize_mode="torch")``).
    """

    name: str
    crop: bool
    size: Optional[int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    l2_normalize: bool
    matches: str
    resize: str = "pil"


FOUNDATION_PRESETS: dict[str, FoundationPreset] = {
    "dgm-eval": FoundationPreset(
        "dgm-eval",
        crop=False,
        size=224,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        l2_normalize=False,
        matches="dgm-eval DINOv2Encoder.transform: Resize((224, 224), BICUBIC) on PIL, ToTensor, "
        "Normalize(ImageNet)",
    ),
    "cmmd": FoundationPreset(
        "cmmd",
        crop=True,
        size=None,
        mean=_CLIP_MEAN,
        std=_CLIP_STD,
        l2_normalize=True,
        matches="google-research cmmd: centre crop, PIL BICUBIC to the CLIP input size, /255, CLIP "
        "normalize, "
        "L2-normalised embeddings",
    ),
    "edm2": FoundationPreset(
        "edm2",
        crop=False,
        size=224,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        l2_normalize=False,
        matches="NVlabs/edm2 calculate_metrics.py DINOv2Detector (resize_mode='torch'): float32 0..255 -> "
        "F.interpolate(224, bicubic, antialias) -> /255 -> Normalize(ImageNet)",
        resize="torch",
    ),
}


@dataclass(frozen=True)
class FoundationModel:
    """A named foundation extractor.

    Attributes:
        name: fastgan's name (``build_extractor`` / ``extract_features``).
        family: ``"dinov2"`` (timm) or ``"clip"`` (open_clip).
        arch: the timm or open_clip model name.
        dim: embedding dimension.
        input_size: network input side in pixels.
        preset: default preprocessing preset.
        reference: where the embedding is used as a metric space.
        weights: the :data:`fastgan.features.hub.KNOWN_WEIGHTS` entry of its default weights
            (None: ``name``; a variant of another model's preprocessing shares its weights).
    """

    name: str
    family: str
    arch: str
    dim: int
    input_size: int
    preset: str
    reference: str
    weights: Optional[str] = None


def _dinov2(size: str, arch: str, dim: int) -> FoundationModel:
    return FoundationModel(
        f"dinov2-vit-{size}14",
        "dinov2",
        arch,
        dim,
        224,
        "dgm-eval",
        "FD-DINOv2 (dgm-eval, Stein et al. 2023)" if size == "l" else "DINOv2 (Oquab et al. 2023)",
    )


def _clip(name: str, arch: str, dim: int, size: int, reference: str) -> FoundationModel:
    return FoundationModel(name, "clip", arch, dim, size, "cmmd", reference)


FOUNDATION_MODELS: dict[str, FoundationModel] = {
    m.name: m
    for m in (
        _dinov2("s", "vit_small_patch14_dinov2", 384),
        _dinov2("b", "vit_base_patch14_dinov2", 768),
        _dinov2("l", "vit_large_patch14_dinov2", 1024),
        _dinov2("g", "vit_giant_patch14_dinov2", 1536),
        # EDM2's FD_DINOv2: the ViT-L/14 weights, its own resize (bicubic antialias on 0..255 floats)
        FoundationModel(
            "dinov2-vit-l14-edm2",
            "dinov2",
            "vit_large_patch14_dinov2",
            1024,
            224,
            "edm2",
            "FD_DINOv2 (EDM2, Karras et al. 2024)",
            weights="dinov2-vit-l14",
        ),
        _clip("clip-vit-b32", "ViT-B-32", 512, 224, "CLIP ViT-B/32 (Radford et al. 2021)"),
        _clip("clip-vit-b16", "ViT-B-16", 512, 224, "CLIP ViT-B/16 (Radford et al. 2021)"),
        _clip("clip-vit-l14", "ViT-L-14", 768, 224, "CLIP ViT-L/14 (Radford et al. 2021)"),
        _clip("clip-vit-l14-336", "ViT-L-14-336", 768, 336, "CMMD (Jayasumana et al. 2024)"),
    )
}

#: Names accepted by :func:`build_foundation_extractor` (and ``build_extractor``).
FOUNDATION_NAMES: tuple[str, ...] = tuple(FOUNDATION_MODELS)


def _spec(name: str) -> FoundationModel:
    key = str(name).lower().replace("_", "-")
    if key not in FOUNDATION_MODELS:
        raise ValueError(f"name: unknown foundation extractor {name!r}; one of {FOUNDATION_NAMES}")
    return FOUNDATION_MODELS[key]


def _preset(preset: Any, spec: FoundationModel) -> FoundationPreset:
    if preset is None:
        return FOUNDATION_PRESETS[spec.preset]
    if isinstance(preset, FoundationPreset):
        return preset
    if preset not in FOUNDATION_PRESETS:
        raise ValueError(
            f"preset: {preset!r} is not a foundation-model preset; one of {tuple(FOUNDATION_PRESETS)} "
            f"(the Inception presets pytorch-fid / torch-fidelity / clean-fid do not apply to {spec.name})"
        )
    return FOUNDATION_PRESETS[preset]


def _require(module: str, extra: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the optional package {module!r} (and torchvision): "
            f'pip install "fastgan[{extra}]"'
            f" ({type(exc).__name__}: {exc})"
        ) from exc


# ----------------------------------------------------------------------------- preprocessing
def _pil_square(img: np.ndarray, size: int, crop: bool) -> np.ndarray:
    from PIL import Image

    bicubic = getattr(Image, "Resampling", Image).BICUBIC
    im = Image.fromarray(img)
    if crop:
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
    if im.size != (size, size):  # torchvision / Pillow return the image unchanged at the same size
        im = im.resize((size, size), resample=bicubic)
    return np.asarray(im)


def foundation_preprocess(
    x: torch.Tensor,
    preset: str | FoundationPreset,
    size: Optional[int] = None,
    dtype: Optional[torch.dtype] = None,
) -> torch.Tensor:
    """Images -> the network input of a preset (module docstring table).

    Args:
        x (Tensor[N, C, H, W]): uint8 (0..255) or float in [0, 1]; ``C`` is 3 or 1 (repeated).
        preset: a name in :data:`FOUNDATION_PRESETS` or a :class:`FoundationPreset`.
        size: output side when the preset leaves it to the model (``cmmd``).
        dtype: output dtype (default float32, or ``x``'s floating dtype).

    Returns:
        Tensor[N, 3, S, S], normalised.
    """
    p = preset if isinstance(preset, FoundationPreset) else FOUNDATION_PRESETS.get(str(preset))
    if p is None:
        raise ValueError(f"preset: must be one of {tuple(FOUNDATION_PRESETS)}, got {preset!r}")
    side = p.size if p.size is not None else size
    if side is None:
        raise ValueError(f"size: preset {p.name!r} needs the model's input size")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images: expected Tensor[N, 3 or 1, H, W], got shape {tuple(x.shape)}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    out_dtype = dtype or (x.dtype if x.is_floating_point() else torch.float32)
    dev = x.device
    if x.dtype == torch.uint8 and p.resize == "torch":  # EDM2: resize the 0..255 floats, then / 255
        t = x.to(torch.float32)
        if p.crop:
            raise ValueError(f"preset {p.name!r}: resize='torch' has no crop")
        if tuple(t.shape[-2:]) != (side, side):
            t = F.interpolate(t, size=(side, side), mode="bicubic", align_corners=False, antialias=True)
        t = t / 255
    elif x.dtype == torch.uint8:
        arr = x.permute(0, 2, 3, 1).cpu().numpy()
        imgs = np.stack([_pil_square(np.ascontiguousarray(a), side, p.crop) for a in arr])
        t = torch.from_numpy(imgs).permute(0, 3, 1, 2).to(dev).to(torch.float32).div(255)  # ToTensor
    elif x.is_floating_point():
        t = x.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else x
        if p.crop:
            h, w = t.shape[-2:]
            s = min(h, w)
            top, left = (h - s) // 2, (w - s) // 2
            t = t[..., top : top + s, left : left + s]
        if tuple(t.shape[-2:]) != (side, side):
            t = F.interpolate(t, size=(side, side), mode="bicubic", align_corners=False, antialias=True)
    else:
        raise TypeError(f"images: expected uint8 or floating images, got {x.dtype}")
    mean = torch.tensor(p.mean, dtype=t.dtype, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(p.std, dtype=t.dtype, device=dev).view(1, 3, 1, 1)
    return t.sub(mean).div_(std).to(out_dtype)  # Normalize: (x - mean) / std in the image dtype


# ----------------------------------------------------------------------------- networks
@contextlib.contextmanager
def _quiet_root_warnings() -> Iterator[None]:
    # open_clip logs "No pretrained weights loaded ... initialized randomly" on the root logger
    # for every model built without weights; fastgan loads the weights itself right after
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _read_weights(path: Path, spec: FoundationModel) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        st = _require("safetensors.torch", spec.family, f"{spec.name} (.safetensors weights)")
        return dict(st.load_file(str(path), device="cpu"))
    try:
        return load_state_dict_file(path)
    except WeightsError as exc:
        if spec.family == "clip" and "TorchScript" in str(exc):
            raise WeightsError(
                f"{exc}. For OpenAI's CLIP files: in a trusted environment, "
                f"open_clip.create_model({spec.arch!r}, pretrained='openai'), then "
                "torch.save(model.state_dict(), 'clip.pth') and pass weights='clip.pth'"
            ) from exc
        raise


class FoundationExtractor(nn.Module):
    """A DINOv2 (timm) or CLIP (open_clip) image embedding with a reference's preprocessing.

    Args:
        name: one of :data:`FOUNDATION_NAMES`.
        weights: path or URL of a state dict (``.pth`` / ``.bin`` / ``.safetensors``); None: the
            published file (:data:`fastgan.features.hub.KNOWN_WEIGHTS`), fetched when missing.
        sha256: expected sha256 of the weights file (full digest or a prefix of >= 8 digits).
        download: None: fetch a missing file unless ``FASTGAN_OFFLINE`` is set; False: never.
        cache_dir: cache directory for downloads.
        preset: preprocessing preset (:data:`FOUNDATION_PRESETS`); None: the model's
            (``"dgm-eval"`` for DINOv2, ``"cmmd"`` for CLIP).
        random_init: random weights, nothing loaded (tests only).

    Attributes:
        network: the timm model (DINOv2) or open_clip image tower (CLIP), called directly.
        feature_dim, input_size: embedding dimension and network input side.

    Matches: DINOv2: ``timm.create_model(arch, num_classes=0, img_size=224)`` with the same
    weights, fed dgm-eval's transform; CLIP: ``open_clip.create_model(arch,
    force_quick_gelu=True).visual`` fed CMMD's crop and resize, L2-normalised.

    >>> net = FoundationExtractor("dinov2-vit-s14", random_init=True)  # doctest: +SKIP
    >>> net(torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)).shape  # doctest: +SKIP
    torch.Size([2, 384])
    """

    #: extract_features' resize mode check; this network resizes in :meth:`preprocess`
    resize = "bicubic_pil"

    def __init__(
        self,
        name: str,
        weights: Optional[str | os.PathLike[str]] = None,
        *,
        sha256: Optional[str] = None,
        download: Optional[bool] = None,
        cache_dir: Optional[str | os.PathLike[str]] = None,
        preset: str | FoundationPreset | None = None,
        random_init: bool = False,
    ) -> None:
        super().__init__()
        self.spec = _spec(name)
        self.name = self.spec.name
        self.foundation_preset = _preset(preset, self.spec)
        self.feature_dim = self.spec.dim
        self.input_size = (
            self.foundation_preset.size if self.foundation_preset.size is not None else self.spec.input_size
        )
        if weights is not None and random_init:
            raise ValueError("weights: cannot be combined with random_init=True")
        path: Optional[Path] = None
        if not random_init:
            path = resolve_weights(
                weights,
                known=self.spec.weights or self.spec.name,
                sha256=sha256,
                download=download,
                cache=cache_dir,
                what=self.name,
            )
        self.network = self._build()
        if path is not None:
            self._load(path)
        self.eval()
        self.requires_grad_(False)

    def _build(self) -> nn.Module:
        spec = self.spec
        if spec.family == "dinov2":
            timm = _require("timm", "dinov2", spec.name)
            return timm.create_model(spec.arch, pretrained=False, num_classes=0, img_size=spec.input_size)
        open_clip = _require("open_clip", "clip", spec.name)
        with _quiet_root_warnings():
            model = open_clip.create_model(spec.arch, pretrained=None, force_quick_gelu=True)
        return model.visual

    def _load(self, path: Path) -> None:
        sd = _read_weights(path, self.spec)
        if self.spec.family == "dinov2":
            from timm.models.vision_transformer import checkpoint_filter_fn

            sd = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in sd.items()}
            sd = checkpoint_filter_fn(sd, self.network)  # original DINOv2 layout, pos-embed grid
            sd = check_state_dict(self.network, sd, ignore_unexpected=("head.",), source=str(path))
        else:
            if any(k.startswith("visual.") for k in sd):
                sd = {k[len("visual.") :]: v for k, v in sd.items() if k.startswith("visual.")}
            sd = check_state_dict(self.network, sd, source=str(path))
        self.network.load_state_dict(sd, strict=True)

    def preprocess(self, x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """Tensor[N, 3, H, W] uint8 or float in [0, 1] -> the network input
        (see :func:`foundation_preprocess`)."""
        if dtype is None and x.dtype == torch.uint8:
            dtype = next(self.network.parameters()).dtype
        x = foundation_preprocess(x, self.foundation_preset, self.input_size, dtype)
        return x.to(next(self.network.parameters()).device)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed Tensor[N, 3, S, S] -> Tensor[N, feature_dim] (L2-normalised under ``cmmd``)."""
        out = self.network(x)
        if self.foundation_preset.l2_normalize:
            out = out / torch.linalg.vector_norm(out, dim=-1, keepdim=True)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, 3, H, W] (uint8, or float in [0, 1]) -> Tensor[N, feature_dim]."""
        return self.embed(self.preprocess(x))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, preset={self.foundation_preset.name!r}, dim={self.feature_dim}"


def build_foundation_extractor(
    name: str,
    weights: Optional[str | os.PathLike[str]] = None,
    device: Optional[torch.device | str] = None,
    download: Optional[bool] = None,
    **kwargs: Any,
) -> FoundationExtractor:
    """:class:`FoundationExtractor` ``name`` with its weights, moved to ``device``.

    Args:
        name: one of :data:`FOUNDATION_NAMES` (e.g. ``"dinov2-vit-l14"``, ``"clip-vit-l14-336"``).
        weights: local file or URL (see :class:`FoundationExtractor`).
        device: where the network runs.
        download: None: fetch missing weights unless ``FASTGAN_OFFLINE`` is set; False: never.
        kwargs: ``sha256``, ``cache_dir``, ``preset``, ``random_init``.
    """
    net = FoundationExtractor(name, weights, download=download, **kwargs)
    return net.to(device) if device is not None else net
