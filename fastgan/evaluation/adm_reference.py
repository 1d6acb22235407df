"""Writing an ADM evaluator reference batch from images: the images through the ``adm`` preset's
Inception pass (pool3 and the spatial sFID features in one forward pass), then
:func:`fastgan.metrics.save_adm_reference` (``arr_0``, ``mu``, ``sigma``, ``mu_s``, ``sigma_s``).
``fastgan stats IMAGES -o REF.npz --adm`` runs it from the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

__all__ = ["write_adm_reference"]


def write_adm_reference(
    path: Union[str, os.PathLike[str]],
    images: Any,
    *,
    weights: Optional[str] = None,
    device: Optional[Union[str, torch.device]] = None,
    batch_size: int = 64,
    float64: bool = False,
    models: Optional[Mapping[str, Any]] = None,
    progress: Optional[bool] = None,
) -> Path:
    """Write the evaluator's reference batch of ``images``.

    Args:
        path: the ``.npz`` to write.
        images: uint8 images ``[N, H, W, 3]`` / ``[N, 3, H, W]`` (array or tensor), an image folder,
            a list of image files or an image ``.npz`` / ``.npy`` stack (anything
            :func:`fastgan.evaluation.sources.open_source` reads as images).
        weights: Inception weights file (None: the default lookup, nothing downloaded offline).
        device, batch_size: where and in what batches the network runs (the evaluator: 64).
        float64: embed in float64 (:func:`fastgan.evaluation.protocols.with_float64`).
        models: ``{"inception": module}`` already built (tests).
        progress: progress bar on stderr.

    Returns:
        The path written (``arr_0`` uint8 NHWC; the statistics in float64, ``np.cov`` divisor n - 1).

    Matches: guided-diffusion ``evaluator.py`` ``read_statistics`` (what it reads back: ``mu``,
    ``sigma``, ``mu_s``, ``sigma_s``) and ``compute_statistics`` (``np.mean``, ``np.cov``).
    """
    from fastgan.evaluation.embed import embed
    from fastgan.evaluation.protocols import with_float64
    from fastgan.evaluation.sources import open_source
    from fastgan.features.presets import get_preset
    from fastgan.metrics import save_adm_reference

    src = open_source(images, name="images")
    if src.kind != "images":
        raise ValueError(f"images: an ADM reference batch needs images, got a {src.kind} input")
    adm = get_preset("adm")
    preset: Any = with_float64(adm) if float64 else adm  # embed takes a resolved Preset as well as a name
    emb = embed(
        src,
        extractors=("inception", "spatial"),
        preset=preset,
        weights={"inception": weights} if weights is not None else None,
        batch_size=batch_size,
        device=device,
        models=models,
        progress=progress,
    )
    pool3, spatial = emb.arrays["inception"], emb.arrays["spatial"]
    return save_adm_reference(path, _uint8_nhwc(src), pool3=pool3, spatial=spatial)


def _uint8_nhwc(src: Any) -> np.ndarray:
    """The source's images as one uint8 NHWC array (``arr_0``; decoded once more)."""
    parts = []
    for batch in src.batches(0, src.n, batch_size=256):
        imgs = batch.images
        if isinstance(imgs, list):
            if len({tuple(im.shape) for im in imgs}) > 1:
                raise ValueError("images: an ADM reference batch holds images of one size; resize them first")
            imgs = torch.stack(imgs)
        if imgs.dtype != torch.uint8:
            raise ValueError(f"images: an ADM reference batch stores uint8 images, got {imgs.dtype}")
        parts.append(imgs.permute(0, 2, 3, 1).numpy())
    return np.concatenate(parts)
