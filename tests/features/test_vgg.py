"""VGG16 fc2 features (fastgan/features/vgg.py)."""

from __future__ import annotations

import pytest
import torch

from fastgan.features import VGG16FC2, WeightsError
from fastgan.features.weights import check_state_dict


def test_vgg_fc2(vgg: VGG16FC2) -> None:
    sd = vgg.state_dict()
    assert sd["features.0.weight"].shape == (64, 3, 3, 3)
    assert sd["features.28.weight"].shape == (512, 512, 3, 3)
    assert sd["classifier.0.weight"].shape == (4096, 25088)
    assert sd["classifier.3.weight"].shape == (4096, 4096)
    assert not any(k.startswith("classifier.6") for k in sd)
    out = vgg(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 4096) and bool((out >= 0).all())  # post-ReLU


def test_vgg_state_dict_with_head_is_accepted(vgg: VGG16FC2) -> None:
    sd = dict(vgg.state_dict())
    sd["classifier.6.weight"] = torch.zeros(1000, 4096)
    sd["classifier.6.bias"] = torch.zeros(1000)
    kept = check_state_dict(vgg, sd, ignore_unexpected=("classifier.6.",))
    assert "classifier.6.weight" not in kept
    sd["classifier.7.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match="unexpected keys: classifier.7.weight"):
        check_state_dict(vgg, sd, ignore_unexpected=("classifier.6.",))


def test_vgg_default_weights_are_torchvisions_file() -> None:
    """No weights= : torchvision's ImageNet file (torch-fidelity's VGG-16), named when offline."""
    with pytest.raises(
        ValueError,
        match=r"vgg16-397923af\.pth is not in .* FASTGAN_OFFLINE is set: fetch "
        r"https://download\.pytorch\.org/models/vgg16-397923af\.pth",
    ):
        VGG16FC2()
