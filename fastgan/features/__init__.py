"""Feature networks for generative-model metrics, in pure torch.

* :class:`InceptionV3FID` -- the TF FID Inception-v3 (2048-d pool3 for FID / KID / PR,
  1008-way logits for the Inception Score).
* :class:`VGG16FC2` -- VGG-16 fc2 after ReLU (4096-d), the precision / recall embedding.
* :class:`LPIPSVGG16` -- the LPIPS v0.1 distance on the VGG-16 trunk (perceptual path length).
* :class:`FoundationExtractor` / :func:`build_foundation_extractor` -- DINOv2 (timm) and CLIP
  (open_clip) embeddings, optional extras, with dgm-eval's and CMMD's preprocessing
  (:data:`FOUNDATION_NAMES`, :data:`FOUNDATION_PRESETS`).
* :func:`extract_features` -- batched embedding of tensors, folders or data loaders; the image IO it
  shares with :func:`fastgan.evaluate` is :mod:`fastgan.features.images` (list, decode, layout,
  batch) and :mod:`fastgan.features.embedding` (a decoded batch into a network).
* :data:`NETWORKS` / :func:`build_extractor` (:mod:`fastgan.features.networks`) -- the network table.
* :mod:`fastgan.features.presets` -- ``preset="pytorch-fid" | "torch-fidelity" | "clean-fid"``:
  the image pipeline (resize, pixel scaling, dtype) and metric conventions of each reference,
  in one table.

Weights are loaded only from weights-only state dict files (``torch.load(weights_only=True)``)
with strict key / shape checks; see :mod:`fastgan.features.weights` (TorchScript files are
converted once, explicitly, with :func:`convert_weights` (:mod:`fastgan.features.convert`) /
``fastgan convert-weights``).
"""

from __future__ import annotations

from fastgan.features.convert import convert_weights
from fastgan.features.extract import build_extractor, extract_features, to_float_images
from fastgan.features.foundation import (
    FOUNDATION_MODELS,
    FOUNDATION_NAMES,
    FOUNDATION_PRESETS,
    FoundationExtractor,
    build_foundation_extractor,
    foundation_preprocess,
)
from fastgan.features.inception import FID_WEIGHTS_URL, InceptionV3FID
from fastgan.features.lpips import LPIPSVGG16
from fastgan.features.networks import NETWORKS
from fastgan.features.presets import PRESET_NAMES, PRESETS, Preset, get_preset
from fastgan.features.resize import RESIZE_MODES, resize_images
from fastgan.features.vgg import VGG16FC2
from fastgan.features.weights import WeightsError, load_state_dict_file

__all__ = [
    "extract_features",
    "build_extractor",
    "NETWORKS",
    "to_float_images",
    "InceptionV3FID",
    "VGG16FC2",
    "LPIPSVGG16",
    "FID_WEIGHTS_URL",
    "RESIZE_MODES",
    "resize_images",
    "WeightsError",
    "load_state_dict_file",
    "convert_weights",
    "Preset",
    "PRESETS",
    "PRESET_NAMES",
    "get_preset",
    "FoundationExtractor",
    "build_foundation_extractor",
    "foundation_preprocess",
    "FOUNDATION_MODELS",
    "FOUNDATION_NAMES",
    "FOUNDATION_PRESETS",
]
