"""Peers: LPIPS-VGG16 against the lpips package and torch-fidelity's ``SampleSimilarityLPIPS``, and
perceptual path length against torch-fidelity's ``calculate_ppl``, with the same random weights
saved in each reference's own format (a torchvision VGG-16 file under ``$TORCH_HOME``'s hub
checkpoints, an lpips ``vgg.pth``-layout file of linear weights): nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fastgan.features.lpips import LPIPSVGG16
from fastgan.metrics.path_length import path_distances, ppl_from_distances

from .conftest import need_module, record, vgg16_state_dict

pytestmark = pytest.mark.peers

CHANNELS = (64, 128, 256, 512, 512)


@pytest.fixture
def weight_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(torchvision VGG-16 file, LPIPS linear weights file), the VGG-16 also placed where
    torchvision and torch-fidelity look for it, and the linear weights where torch-fidelity does."""
    need_module("torchvision")  # vgg16_state_dict builds torchvision's VGG-16
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    vgg = hub / "vgg16-397923af.pth"
    torch.save(vgg16_state_dict(), vgg)
    g = torch.Generator().manual_seed(11)
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) / c for i, c in enumerate(CHANNELS)}
    lin_file = tmp_path / "vgg.pth"
    torch.save(lin, lin_file)
    torch.save(lin, hub / "weights-vgg16-lpips.pth")
    return vgg, lin_file


def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 6, 6, generator=g) * 2 - 1
    x = torch.nn.functional.interpolate(x, (size, size), mode="bilinear", align_corners=False)
    return (x + 0.1 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1)


def test_lpips_equals_lpips_package(weight_files: tuple[Path, Path], tmp_path: Path) -> None:
    need_module("lpips")
    need_module("torchvision")
    import lpips

    vgg, lin = weight_files
    ref_net = lpips.LPIPS(net="vgg", model_path=str(lin), verbose=False)
    x0, x1 = smooth_images(4, 64, 1), smooth_images(4, 64, 2)
    with torch.no_grad():
        ref = ref_net(x0, x1).reshape(-1)
    ours = LPIPSVGG16(weights=vgg, lin_weights=lin)(x0, x1)
    record("lpips", "LPIPS-VGG16 v0.1 distances, [-1, 1] inputs", ours, ref, tol="<= 1e-6 relative")
    assert float(ref.min()) > 0
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=0.0)
    # the reference module's own state dict (trunk and linear layers in one file)
    whole = tmp_path / "lpips_module.pth"
    torch.save(ref_net.state_dict(), whole)
    torch.testing.assert_close(LPIPSVGG16(weights=whole)(x0, x1), ref, rtol=1e-6, atol=0.0)


def test_lpips_equals_torch_fidelity_uint8_resized(weight_files: tuple[Path, Path]) -> None:
    need_module("torch_fidelity")
    from torch_fidelity.sample_similarity_lpips import SampleSimilarityLPIPS

    vgg, lin = weight_files
    ref_net = SampleSimilarityLPIPS(
        "lpips-vgg16", sample_similarity_resize=64, sample_similarity_dtype="uint8"
    )
    ours_net = LPIPSVGG16(weights=vgg, lin_weights=lin, resize=64)
    for size in (96, 48):  # area reduction, then bilinear enlargement
        u0 = ((smooth_images(3, size, 3) + 1) * 127.5).round().to(torch.uint8)
        u1 = ((smooth_images(3, size, 4) + 1) * 127.5).round().to(torch.uint8)
        with torch.no_grad():
            ref = ref_net(u0, u1)
        ours = ours_net(u0, u1)
        record(
            "torch-fidelity", f"LPIPS-VGG16 uint8 {size}px resized to 64", ours, ref, tol="<= 1e-6 relative"
        )
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=0.0)


class TinyGenerator(torch.nn.Module):
    """z [B, 8] -> smooth images [B, 3, 32, 32] in [-1, 1] (a random linear map, upsampled, tanh)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.weight = torch.nn.Parameter(torch.randn(8, 3 * 8 * 8, generator=g) / 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = (z @ self.weight).reshape(-1, 3, 8, 8)
        return torch.tanh(torch.nn.functional.interpolate(x, (32, 32), mode="bilinear", align_corners=False))


class Uint8Generator(torch.nn.Module):
    """torch-fidelity's generators return uint8 images: the same quantisation fastgan applies."""

    def __init__(self, G: torch.nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.G(z) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


class _NumpyPercentileShim:
    """numpy with ``percentile(..., interpolation=)`` mapped to ``method=``: torch-fidelity's
    ``calculate_ppl`` still passes ``interpolation``, which numpy 2.4 removed (a TypeError)."""

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)

    @staticmethod
    def percentile(a: np.ndarray, q: float, interpolation: str = "linear") -> np.ndarray:
        return np.percentile(a, q, method=interpolation)


@pytest.mark.parametrize("epsilon", [0.05, 1e-2])
def test_ppl_equals_torch_fidelity(
    weight_files: tuple[Path, Path], epsilon: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same latents (its RandomState(2020) draws, given to path_distances), same LPIPS weights:
    the same per-path distances and the same percentile cut."""
    need_module("torch_fidelity")
    import torch_fidelity
    import torch_fidelity.metric_ppl as fidelity_ppl
    from torch_fidelity.metric_ppl import calculate_ppl

    try:
        np.percentile(np.arange(3.0), 50, interpolation="lower")
    except TypeError:
        monkeypatch.setattr(fidelity_ppl, "np", _NumpyPercentileShim())

    vgg, lin = weight_files
    G = TinyGenerator().eval()
    n, z_dim = 100, 8
    wrapped = torch_fidelity.GenerativeModelModuleWrapper(Uint8Generator(G), z_dim, "normal", 0)
    ref = calculate_ppl(
        1,
        input1=wrapped,
        input1_model_num_samples=n,
        ppl_epsilon=epsilon,
        ppl_reduction="none",
        batch_size=32,
        cuda=False,
        verbose=False,
    )
    rng = np.random.RandomState(2020)
    z0 = torch.from_numpy(rng.randn(n, z_dim)).float()
    z1 = torch.from_numpy(rng.randn(n, z_dim)).float()
    d = path_distances(
        G,
        z0,
        z1,
        distance=LPIPSVGG16(weights=vgg, lin_weights=lin, resize=64),
        epsilon=epsilon,
        interpolation="lerp",
        downsample=None,
        quantize=True,
        batch_size=32,
    )
    assert float(d.max()) > 0
    ours = ppl_from_distances(d, 1, 99)
    raw = torch.from_numpy(np.asarray(ref["perceptual_path_length_raw"], dtype=np.float64))
    kept_ref = np.sort(raw.numpy())
    from fastgan.metrics.path_length import discard_outliers

    kept = np.sort(discard_outliers(d, 1, 99).numpy())
    assert kept.shape == kept_ref.shape
    record(
        "torch-fidelity", f"PPL kept path distances (eps {epsilon})", kept, kept_ref, tol="<= 1e-5 relative"
    )
    np.testing.assert_allclose(kept, kept_ref, rtol=1e-5)
    for key, ref_key in (("ppl", "perceptual_path_length_mean"), ("ppl_std", "perceptual_path_length_std")):
        record(
            "torch-fidelity", f"PPL {key} (eps {epsilon})", ours[key], ref[ref_key], tol="<= 1e-5 relative"
        )
        assert ours[key] == pytest.approx(ref[ref_key], rel=1e-5)
