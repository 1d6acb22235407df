"""The network table: every feature network fastgan builds by name, in one place.

* :data:`NETWORKS`: ``"inception"`` -> :class:`~fastgan.features.InceptionV3FID`, ``"vgg16"`` ->
  :class:`~fastgan.features.VGG16FC2` (the networks with fastgan's own weights layout, which
  :func:`fastgan.features.convert_weights` and ``fastgan convert-weights`` convert into);
* :data:`ALIASES`: other spellings of those names (``"inceptionv3"``, ``"vgg"``);
* :data:`fastgan.features.foundation.FOUNDATION_NAMES`: DINOv2 / CLIP (``"dinov2-vit-l14"``, ...).

:func:`build_extractor` builds any of them. A new network is one file in ``features/`` and one row here.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from fastgan.features.foundation import FOUNDATION_NAMES, FOUNDATION_PRESETS, build_foundation_extractor
from fastgan.features.inception import InceptionV3FID
from fastgan.features.vgg import VGG16FC2

__all__ = ["NETWORKS", "ALIASES", "network_key", "build_extractor"]

#: canonical name -> network class (built with ``weights=`` and the class's keyword arguments)
NETWORKS: dict[str, type[nn.Module]] = {"inception": InceptionV3FID, "vgg16": VGG16FC2}
#: other spellings (compared without ``-`` / ``_``, case-insensitive) -> canonical name
ALIASES: dict[str, str] = {"inceptionv3": "inception", "vgg": "vgg16"}


def network_key(name: str) -> Optional[str]:
    """The canonical :data:`NETWORKS` name of ``name`` (any case, with or without ``-`` / ``_``,
    or an alias), or None when it names none of them (e.g. a foundation model)."""
    key = name.lower().replace("-", "").replace("_", "")
    key = ALIASES.get(key, key)
    return key if key in NETWORKS else None


def build_extractor(
    name: str, weights: Optional[str] = None, device: Optional[torch.device | str] = None, **kwargs: Any
) -> nn.Module:
    """``"inception"`` -> :class:`InceptionV3FID`, ``"vgg16"`` -> :class:`VGG16FC2`, a name of
    :data:`fastgan.features.foundation.FOUNDATION_NAMES` (``"dinov2-vit-l14"``, ``"clip-vit-l14-336"``,
    ...) -> :class:`~fastgan.features.foundation.FoundationExtractor` (weights loaded; ``kwargs`` such
    as ``preset=`` / ``resize=`` go to the constructor; an Inception preset name is ignored by the
    foundation extractors, which take ``"dgm-eval"`` / ``"cmmd"``)."""
    if name.lower().replace("_", "-") in FOUNDATION_NAMES:
        if kwargs.pop("resize", None) is not None:
            raise ValueError(
                f"resize: {name} resizes as its preset says ({tuple(FOUNDATION_PRESETS)}); drop resize="
            )
        preset = kwargs.pop("preset", None)
        if preset is not None and preset not in FOUNDATION_PRESETS:
            preset = None  # the Inception presets pin the Inception / VGG pipelines only
        return build_foundation_extractor(name, weights=weights, device=device, preset=preset, **kwargs)
    key = network_key(name)
    if key is None:
        raise ValueError(
            f"extractor: unknown name {name!r}; use 'inception', 'vgg16' or one of {FOUNDATION_NAMES}, "
            "or pass an nn.Module"
        )
    model: nn.Module = NETWORKS[key](weights=weights, **kwargs)
    return model.to(device) if device is not None else model
