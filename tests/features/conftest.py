"""Fixtures shared by the feature-extractor tests: random-weight networks and a tiny extractor."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fastgan.features import VGG16FC2, InceptionV3FID


@pytest.fixture(scope="module")
def inception() -> InceptionV3FID:
    torch.manual_seed(0)
    net = InceptionV3FID(random_init=True, resize="none")
    # random BN statistics so that loading them is observable
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


@pytest.fixture(scope="module")
def inception_file(inception: InceptionV3FID, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "inception-test.pth"
    torch.save(inception.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def vgg() -> VGG16FC2:
    torch.manual_seed(1)
    return VGG16FC2(random_init=True, resize="none")


class TinyNet(nn.Module):
    """Cheap extractor with the same protocol (input_size, resize) for extract_features tests."""

    input_size = 16
    resize = "bilinear"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (16, 16)
        return self.conv(x).mean(dim=(2, 3))
