"""The FID Inception-v3 (fastgan/features/inception.py): layout, block widths, TF pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastgan.features import InceptionV3FID
from fastgan.features.inception import _avg3


def test_inception_layout_and_keys(inception: InceptionV3FID) -> None:
    sd = inception.state_dict()
    assert sd["fc.weight"].shape == (1008, 2048)
    assert sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert sd["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert sd["Mixed_6e.branch7x7_2.conv.weight"].shape == (192, 192, 1, 7)
    assert not any(k.endswith(".bias") and ".conv." in k for k in sd)  # convolutions have no bias
    assert all(m.eps == 1e-3 for m in inception.modules() if isinstance(m, nn.BatchNorm2d))
    assert not any(k.startswith("AuxLogits") for k in sd)


def test_inception_block_widths(inception: InceptionV3FID) -> None:
    widths: dict[str, int] = {}
    hooks = [
        getattr(inception, name).register_forward_hook(
            lambda m, i, o, name=name: widths.__setitem__(name, o.shape[1])
        )
        for name in (
            "Mixed_5b",
            "Mixed_5c",
            "Mixed_5d",
            "Mixed_6a",
            "Mixed_6e",
            "Mixed_7a",
            "Mixed_7b",
            "Mixed_7c",
        )
    ]
    x = torch.rand(1, 3, 75, 75)
    try:
        f, logits = inception.features_and_logits(x)
    finally:
        for h in hooks:
            h.remove()
    assert widths == {
        "Mixed_5b": 256,
        "Mixed_5c": 288,
        "Mixed_5d": 288,
        "Mixed_6a": 768,
        "Mixed_6e": 768,
        "Mixed_7a": 1280,
        "Mixed_7b": 2048,
        "Mixed_7c": 2048,
    }
    assert f.shape == (1, 2048) and logits.shape == (1, 1008)
    assert bool((f >= 0).all())  # average of ReLU outputs
    torch.testing.assert_close(logits, f @ inception.fc.weight.T)  # IS logits: no bias
    inception.output = "logits"
    try:
        torch.testing.assert_close(inception(x), f @ inception.fc.weight.T + inception.fc.bias)
    finally:
        inception.output = "pool3"


def test_tf_average_pool_excludes_padding() -> None:
    ones = torch.ones(1, 2, 4, 4)
    torch.testing.assert_close(_avg3(ones), ones)  # TF divides by the valid count at borders
    assert F.avg_pool2d(ones, 3, 1, 1)[0, 0, 0, 0] < 1  # PyTorch's default would not


def test_inception_e2_uses_max_pool(inception: InceptionV3FID) -> None:
    assert inception.Mixed_7c.max_pool and not inception.Mixed_7b.max_pool


@pytest.mark.slow
def test_inception_full_resolution_one_image(inception: InceptionV3FID) -> None:
    net = InceptionV3FID(random_init=True)  # resize on
    net.load_state_dict(inception.state_dict())
    x = torch.rand(1, 3, 32, 32)
    out = net(x)
    assert out.shape == (1, 2048)
    torch.testing.assert_close(
        out, inception(F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False))
    )
