"""Batched feature extraction from tensors, arrays, image folders or data loaders.

:func:`extract_features` is a thin layer over the two shared steps: images are read by
:mod:`fastgan.features.images` and fed to the network by :func:`fastgan.features.embedding.embed_batch`,
the same code :func:`fastgan.evaluation.embed.embed` (so :func:`fastgan.evaluate`) runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from fastgan._checks import check_positive_int
from fastgan._progress import progress_bar
from fastgan.features.embedding import embed_batch, is_native, module_device
from fastgan.features.images import (
    ARRAY_EXTENSIONS,
    IMAGE_EXTENSIONS,
    detect_layout,
    file_batches,
    list_image_files,
    read_file,
    to_float_images,
    to_images,
    unpack_batch,
)
from fastgan.features.networks import build_extractor
from fastgan.features.presets import get_preset
from fastgan.features.resize import RESIZE_MODES

__all__ = ["extract_features", "build_extractor", "IMAGE_EXTENSIONS", "list_image_files", "to_float_images"]

logger = logging.getLogger(__name__)

Extractor = Union[nn.Module, Callable[[torch.Tensor], torch.Tensor], str]


def extract_features(
    images: Any,
    extractor: Extractor = "inception",
    batch_size: int = 50,
    device: Optional[torch.device | str] = None,
    progress: Optional[bool] = None,
    *,
    weights: Optional[str] = None,
    return_logits: bool = False,
    resize: Optional[str] = None,
    image_size: Optional[int | tuple[int, int]] = None,
    layout: str = "auto",
    dtype: torch.dtype = torch.float32,
    preset: Optional[str] = None,
) -> Any:
    """Embed images with a feature network, in batches.

    Args:
        images: one of
            * uint8 Tensor / ndarray [N, H, W, 3] or [N, 3, H, W] (values 0..255), or float in [0, 1];
            * a folder (searched recursively, sorted by path) of PNG/JPG/... images (needs
              Pillow) and/or ``.npy``/``.npz`` arrays (one image [H, W, C] or a stack [n, H, W, C]);
            * a list of such file paths, or the path of a single ``.npy``/``.npz`` file;
            * a DataLoader / iterable of batches (Tensor, ``(images, labels)`` or a dict with
              an ``"image"``/``"images"`` key).
        extractor: an ``nn.Module`` or any callable ``Tensor[B, 3, H, W] in [0, 1] -> Tensor[B, D]``,
            or ``"inception"`` / ``"vgg16"`` (built with ``weights=``).
        batch_size: images per forward pass.
        device: where the network runs (default: the module's parameter device, else CPU).
            A network built from a name is moved there.
        progress: progress bar on stderr (None: only when stderr is a terminal).
        weights: weights file for a named extractor.
        return_logits: also return classifier logits (needs an extractor with
            ``features_and_logits``, e.g. :class:`InceptionV3FID`: unbiased 1008-way logits for IS).
        resize: resize mode (:data:`fastgan.features.resize.RESIZE_MODES`); default: the
            extractor's ``resize`` attribute, else ``"bilinear"`` (no antialias, the pytorch-fid
            convention; see :mod:`fastgan.features.resize` for why).
        image_size: target size; default the extractor's ``input_size`` (299 Inception,
            224 VGG); None and no attribute: no resize.
        layout: ``"auto"`` (from where the size-3 axis is), ``"NCHW"`` or ``"NHWC"``.
        dtype: image dtype fed to the network (float32 by default).
        preset: ``"pytorch-fid"`` (default), ``"torch-fidelity"`` or ``"clean-fid"``
            (:mod:`fastgan.features.presets`): resize, pixel scaling and dtype of that reference.
            For a named extractor it is passed to the network; a given network must have been
            built with the same preset. fastgan's networks (:class:`InceptionV3FID`,
            :class:`VGG16FC2`) receive uint8 images as uint8, so every preset is exact on them.

    Returns:
        Tensor[N, D] on the CPU (float32 unless the network returns float64), or
        ``(features, logits)`` with ``return_logits=True``. A network in training mode is
        switched to eval for the call and restored afterwards.

    >>> net = InceptionV3FID(random_init=True)  # doctest: +SKIP
    >>> extract_features(torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8), net).shape  # doctest: +SKIP
    torch.Size([4, 2048])
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    extractor = _resolve_extractor(extractor, weights=weights, device=device, resize=resize, preset=preset)
    extractor, run_device = _placed(extractor, device)
    feed = _feed(extractor, resize, image_size, return_logits, run_device, dtype)
    batches, total = _image_batches(images, batch_size, layout, dtype, feed.native)
    features, logits = _run(extractor, feed, batches, total, progress)
    logger.debug("extract_features: %d x %d features", *features.shape)
    return (features, logits) if return_logits else features


def _resolve_extractor(
    extractor: Extractor, *, weights: Optional[str], device: Any, resize: Optional[str], preset: Optional[str]
) -> Any:
    """The network: built from its name (:func:`build_extractor`), or the one given, checked
    against ``weights=`` and ``preset=``."""
    if isinstance(extractor, str):
        kw: dict[str, Any] = {"resize": resize} if resize else {}
        if preset is not None:
            kw["preset"] = preset
        extractor = build_extractor(extractor, weights=weights, device=device, **kw)
    elif weights is not None:
        raise ValueError(
            "weights: only used when extractor is given by name ('inception', 'vgg16', 'dinov2-vit-l14', ...)"
        )
    if not callable(extractor):
        raise TypeError(
            f"extractor: expected an nn.Module, a callable or a name, got {type(extractor).__name__}"
        )
    if preset is not None and hasattr(extractor, "foundation_preset"):
        have_f = extractor.foundation_preset.name
        if preset != have_f and preset in ("dgm-eval", "cmmd"):
            raise ValueError(f"preset: the extractor was built with preset {have_f!r}, not {preset!r}")
    elif preset is not None:
        want = get_preset(preset)
        have = getattr(extractor, "preset", None)
        if have is None:
            raise ValueError(
                "preset: applies to fastgan's feature networks only (a name, InceptionV3FID or VGG16FC2); "
                "this extractor defines its own preprocessing"
            )
        if get_preset(have).name != want.name:
            raise ValueError(
                f"preset: the extractor was built with preset {get_preset(have).name!r}, not {want.name!r}; "
                f"build it with preset={want.name!r} or pass the extractor by name"
            )
    return extractor


def _placed(extractor: Any, device: Optional[torch.device | str]) -> tuple[Any, torch.device]:
    """Where the network runs (``device``, else its parameters' device, else the CPU); a module
    elsewhere is moved there."""
    run_device = (
        torch.device(device) if device is not None else (module_device(extractor) or torch.device("cpu"))
    )
    if isinstance(extractor, nn.Module) and device is not None:
        mdev = module_device(extractor)
        if mdev is not None and mdev != run_device:
            extractor = extractor.to(run_device)
    return extractor, run_device


@dataclass
class _Feed:
    """How each batch reaches the network (the arguments of :func:`embed_batch`)."""

    fn: Callable[[torch.Tensor], Any]
    native: bool
    mode: str
    size: Optional[tuple[int, int]]
    device: torch.device
    dtype: torch.dtype
    logits: bool


def _feed(
    extractor: Any,
    resize: Optional[str],
    image_size: Optional[int | tuple[int, int]],
    return_logits: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> _Feed:
    """Resize mode, target size and the function to call: fastgan's networks (:func:`is_native`)
    preprocess (resize, scale) themselves, from uint8 when given uint8, unless ``image_size`` is set."""
    mode = resize if resize is not None else getattr(extractor, "resize", "bilinear")
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize: must be one of {RESIZE_MODES}, got {mode!r}")
    size_attr = image_size if image_size is not None else getattr(extractor, "input_size", None)
    size: Optional[tuple[int, int]] = None
    if size_attr is not None and mode != "none":
        size = (
            (int(size_attr), int(size_attr))
            if isinstance(size_attr, int)
            else (int(size_attr[0]), int(size_attr[1]))
        )
    if return_logits and not hasattr(extractor, "features_and_logits"):
        raise ValueError(
            "return_logits: the extractor has no features_and_logits method (use InceptionV3FID)"
        )
    fn: Callable[[torch.Tensor], Any] = extractor.features_and_logits if return_logits else extractor
    native = is_native(extractor) and image_size is None
    if native:
        size = None
        emb = extractor.embed
        fn = (lambda t: emb(t, with_logits=True)) if return_logits else emb
    return _Feed(fn, native, mode, size, device, dtype, return_logits)


def _is_file_list(images: Any) -> bool:
    return (
        isinstance(images, (list, tuple))
        and bool(images)
        and all(isinstance(f, (str, os.PathLike)) for f in images)
    )


def _image_batches(
    images: Any, batch_size: int, layout: str, dtype: torch.dtype, keep_uint8: bool
) -> tuple[Iterable[Any], Optional[int]]:
    """The input as decoded batches (:mod:`fastgan.features.images`), and the image count when known.

    Images stay uint8 with ``keep_uint8`` (a native network scales them); otherwise they become
    float in [0, 1] (float32 for files and loaders, ``dtype`` for arrays)."""
    if isinstance(images, (str, os.PathLike)):
        p = Path(images)
        if p.is_dir():
            files = list_image_files(p)
            if not files:
                raise ValueError(f"images: no image or .npy/.npz files found under {str(p)!r}")
        elif p.is_file() and p.suffix.lower() in ARRAY_EXTENSIONS:
            return _array_batches(read_file(p), batch_size, layout, dtype, keep_uint8)
        elif p.is_file():
            files = [p]
        else:
            raise FileNotFoundError(f"images: {str(p)!r} does not exist")
        return _files(files, batch_size, layout, keep_uint8)
    if _is_file_list(images):
        files = [Path(f) for f in images]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"images: {len(missing)} file(s) do not exist, e.g. {missing[0]!r}")
        return _files(files, batch_size, layout, keep_uint8)
    if isinstance(images, (torch.Tensor, np.ndarray)):
        return _array_batches(images, batch_size, layout, dtype, keep_uint8)
    if not isinstance(images, Iterable):
        raise TypeError(f"images: unsupported input type {type(images).__name__}")
    try:
        total: Optional[int] = len(getattr(images, "dataset"))  # noqa: B009 (a DataLoader's; others raise)
    except (AttributeError, TypeError):
        total = None
    batches = (
        to_images(
            unpack_batch(b, f"dataloader batch {i}"),
            layout,
            f"dataloader batch {i}",
            torch.float32,
            keep_uint8,
        )
        for i, b in enumerate(images)
    )
    return batches, total


def _files(
    files: list[Path], batch_size: int, layout: str, keep_uint8: bool
) -> tuple[Iterable[Any], Optional[int]]:
    total = None if any(f.suffix.lower() in ARRAY_EXTENSIONS for f in files) else len(files)
    return file_batches(files, batch_size, layout, keep_uint8), total


def _array_batches(
    arr: Any, batch_size: int, layout: str, dtype: torch.dtype, keep_uint8: bool
) -> tuple[Iterable[Any], Optional[int]]:
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise ValueError(f"images: expected [N, H, W, C] or [N, C, H, W], got shape {tuple(arr.shape)}")
    lay = detect_layout(arr.shape, layout, "images")
    total = int(arr.shape[0])
    batches = (
        to_images(arr[i : i + batch_size], lay, "images", dtype, keep_uint8)
        for i in range(0, total, batch_size)
    )
    return batches, total


def _run(
    extractor: Any, feed: _Feed, batches: Iterable[Any], total: Optional[int], progress: Optional[bool]
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Every batch through :func:`embed_batch`; a module in training mode runs in eval mode (and a
    native one at the requested resize mode), restored afterwards."""
    was_training = isinstance(extractor, nn.Module) and extractor.training
    if was_training:
        extractor.eval()
    old_resize = getattr(extractor, "resize", None)
    if feed.native and feed.mode != old_resize:
        extractor.resize = feed.mode  # restored below
    feats: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    try:
        with torch.inference_mode(), progress_bar(progress, total=total, desc="features", unit="img") as bar:
            for b in batches:
                outs = embed_batch(
                    feed.fn,
                    extractor,
                    b,
                    native=feed.native,
                    size=feed.size,
                    mode=feed.mode,
                    device=feed.device,
                    dtype=feed.dtype,
                    name="images",
                    who="extractor",
                    split=feed.logits,
                )
                feats.append(outs[0])
                if feed.logits:
                    logits.append(outs[1].float())
                bar.update(outs[0].shape[0])
    finally:
        if was_training:
            extractor.train()
        if feed.native and feed.mode != old_resize:
            extractor.resize = old_resize
    if not feats:
        raise ValueError("images: no images were found in the input")
    return torch.cat(feats), (torch.cat(logits) if feed.logits else None)
