"""LPIPS-VGG16 (fastgan.features.lpips) against a float64 oracle written here from the definition
(VGG-16 convolutions by hand, channel unit-normalisation, learned channel weights, spatial mean),
its input scaling, resizing and weight loading. Random weights only: nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fastgan.features import LPIPSVGG16
from fastgan.features.hub import KNOWN_WEIGHTS
from fastgan.features.weights import WeightsError

#: conv layer indices of torchvision's vgg16().features, per LPIPS stage (relu1_2 .. relu5_3)
STAGES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))


def lpips_oracle(sd: dict[str, torch.Tensor], x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 in float64 from a state dict (``features.*`` and ``lin{l}.model.1.weight``)."""
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(3, 1, 1)
    w = {k: v.double() for k, v in sd.items()}

    def stages(x: torch.Tensor) -> list[torch.Tensor]:
        h = (x.double() - shift) / scale
        out = []
        for s, convs in enumerate(STAGES):
            if s:
                h = F.max_pool2d(h, 2)
            for i in convs:
                h = torch.relu(F.conv2d(h, w[f"features.{i}.weight"], w[f"features.{i}.bias"], padding=1))
            out.append(h)
        return out

    total = torch.zeros(x0.shape[0], dtype=torch.float64)
    for layer, (a, b) in enumerate(zip(stages(x0), stages(x1))):
        na = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        nb = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        weights = w[f"lin{layer}.model.1.weight"].reshape(-1)
        total += torch.einsum("nchw,c->nhw", (na - nb) ** 2, weights).mean((1, 2))
    return total


def images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(n, 3, 4, 4, generator=g) * 2 - 1, (size, size), mode="bilinear")
    return (x + 0.2 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)


@pytest.fixture(scope="module")
def net() -> LPIPSVGG16:
    torch.manual_seed(0)
    return LPIPSVGG16(random_init=True)


def test_float64_oracle(net: LPIPSVGG16) -> None:
    x0, x1 = images(3, 32, 1).double(), images(3, 32, 2).double()
    got = net.double()(x0, x1)
    net.float()
    want = lpips_oracle(net.state_dict(), x0, x1)
    assert got.dtype == torch.float64 and got.shape == (3,)
    assert float(want.min()) > 0
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0)


def test_distance_properties(net: LPIPSVGG16) -> None:
    x0, x1 = images(4, 32, 3), images(4, 32, 4)
    assert net(x0, x0).abs().max() == 0
    torch.testing.assert_close(net(x0, x1), net(x1, x0))
    assert bool((net(x0, x1) > 0).all())
    with pytest.raises(ValueError, match="differ in shape"):
        net(x0, x1[:2])
    with pytest.raises(ValueError, match=r"x: expected images \[N, 3, H, W\]"):
        net(x0[:, :1], x1[:, :1])


def test_uint8_scaling_is_the_float_scaling(net: LPIPSVGG16) -> None:
    """torch-fidelity's one-step scaling of 0..255 pixels is the [-1, 1] scaling of u / 127.5 - 1."""
    u0 = ((images(2, 32, 5) + 1) * 127.5).round().to(torch.uint8)
    u1 = ((images(2, 32, 6) + 1) * 127.5).round().to(torch.uint8)
    want = lpips_oracle(net.state_dict(), u0.double() / 127.5 - 1, u1.double() / 127.5 - 1)
    torch.testing.assert_close(net(u0, u1).double(), want, rtol=2e-4, atol=0.0)


def test_resize_rules(net: LPIPSVGG16) -> None:
    big, small = images(2, 48, 7), images(2, 24, 8)
    shrink = LPIPSVGG16(random_init=True, resize=32)
    s_big = shrink.scale(big)
    torch.testing.assert_close(s_big, F.interpolate(net.scale(big), (32, 32), mode="area"))
    s_small = shrink.scale(small)
    want = F.interpolate(net.scale(small), (32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(s_small, want)
    keep = LPIPSVGG16(random_init=True, resize=32, upsample=False)
    assert keep.scale(small).shape[-1] == 24 and keep.scale(big).shape[-1] == 32
    with pytest.raises(ValueError, match="resize: expected a positive int"):
        LPIPSVGG16(random_init=True, resize=0)


def _save_parts(net: LPIPSVGG16, tmp_path: Path) -> tuple[Path, Path]:
    sd = net.state_dict()
    trunk = {k: v for k, v in sd.items() if k.startswith("features.")}
    trunk["classifier.0.weight"] = torch.zeros(2, 2)  # a torchvision file's head: ignored
    lin = {k: v for k, v in sd.items() if k.startswith("lin")}
    torch.save(trunk, tmp_path / "vgg16.pth")
    torch.save(lin, tmp_path / "vgg.pth")
    return tmp_path / "vgg16.pth", tmp_path / "vgg.pth"


def test_weight_files(net: LPIPSVGG16, tmp_path: Path) -> None:
    vgg, lin = _save_parts(net, tmp_path)
    x0, x1 = images(2, 32, 9), images(2, 32, 10)
    want = net(x0, x1)
    assert torch.equal(LPIPSVGG16(weights=vgg, lin_weights=lin)(x0, x1), want)
    # the lpips package's module layout: net.slice{k}.{i}.*, lin{l}.*, lins.{l}.*, scaling_layer.*
    whole = {}
    slices = {i: 1 + sum(i > end for end in (3, 8, 15, 22)) for i in range(30)}
    for k, v in net.state_dict().items():
        if k.startswith("features."):
            i = int(k.split(".")[1])
            whole[f"net.slice{slices[i]}.{k[len('features.') :]}"] = v
        else:
            whole[k] = v
            whole["lins." + k[3:]] = v
    whole["scaling_layer.shift"] = torch.zeros(1, 3, 1, 1)
    torch.save(whole, tmp_path / "lpips.pth")
    assert torch.equal(LPIPSVGG16(weights=tmp_path / "lpips.pth")(x0, x1), want)
    with pytest.raises(ValueError, match="lin_weights: .* already holds the linear layers"):
        LPIPSVGG16(weights=tmp_path / "lpips.pth", lin_weights=lin)
    neg = {k: -v for k, v in torch.load(lin).items()}
    torch.save(neg, tmp_path / "neg.pth")
    with pytest.raises(WeightsError, match="non-negative"):
        LPIPSVGG16(weights=vgg, lin_weights=tmp_path / "neg.pth")
    with pytest.raises(ValueError, match="random_init"):
        LPIPSVGG16(weights=vgg, random_init=True)


def test_offline_names_the_known_files(net: LPIPSVGG16, tmp_path: Path) -> None:
    vgg, _ = _save_parts(net, tmp_path)
    with pytest.raises(WeightsError, match="lpips-v0.1-vgg.pth"):
        LPIPSVGG16(weights=vgg, cache_dir=tmp_path / "empty")
    entry = KNOWN_WEIGHTS["lpips-vgg16"]
    assert entry.sha256 is not None and len(entry.sha256) == 64
    assert entry.url.endswith("lpips/weights/v0.1/vgg.pth")
