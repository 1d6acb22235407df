"""Perceptual path length (fastgan.metrics.path_length) against a float64 oracle written here from
the definition: an analytic generator, the classical slerp formula, LPIPS computed by hand
(features.test_lpips.lpips_oracle), numpy's percentiles; plus the conventions, the latent draws
and the Metric protocol. Random LPIPS weights only: nothing is downloaded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from features.test_lpips import lpips_oracle

from fastgan.evaluation import Sampler
from fastgan.features import LPIPSVGG16
from fastgan.metrics import PerceptualPathLength, ppl
from fastgan.metrics.path_length import (
    PATH_BLOCK,
    discard_outliers,
    path_distances,
    path_latents,
    ppl_from_distances,
    slerp,
)

Z_DIM = 6


def matrix(rows: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, Z_DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


A = matrix(3 * 4 * 4, 1)
B = matrix(Z_DIM, 2)


def analytic_g(p: torch.Tensor) -> torch.Tensor:
    """latents [N, 6] -> images [N, 3, 16, 16] in [-1, 1]: tanh of a linear map, 4x4 blocks."""
    x = torch.tanh((p.to(A.dtype) @ A.T).reshape(-1, 3, 4, 4) / 2)
    return x.repeat_interleave(4, 2).repeat_interleave(4, 3).to(p.dtype)


def mapping(z: torch.Tensor) -> torch.Tensor:
    return (z.to(B.dtype) @ B.T).to(z.dtype)


def slerp_oracle(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Classical slerp of the unit directions: sin((1-t) W) / sin W a + sin(t W) / sin W b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = math.acos(float(np.clip(a @ b, -1, 1)))
    out = (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)
    return out / np.linalg.norm(out)


@pytest.fixture(scope="module")
def lp() -> LPIPSVGG16:
    torch.manual_seed(0)
    return LPIPSVGG16(random_init=True).double()


def oracle_distances(lp: LPIPSVGG16, z0, z1, t, eps: float, space: str, interp: str) -> np.ndarray:
    ends = []
    for i in range(z0.shape[0]):
        a, b = z0[i].double().numpy(), z1[i].double().numpy()
        if space == "w":
            wa, wb = B.numpy() @ a, B.numpy() @ b
            ends.append((wa + t[i] * (wb - wa), wa + (t[i] + eps) * (wb - wa)))
        elif interp == "slerp":
            ends.append((slerp_oracle(a, b, t[i]), slerp_oracle(a, b, t[i] + eps)))
        else:
            ends.append((a + t[i] * (b - a), a + (t[i] + eps) * (b - a)))
    x0 = analytic_g(torch.from_numpy(np.stack([e[0] for e in ends])))
    x1 = analytic_g(torch.from_numpy(np.stack([e[1] for e in ends])))
    return lpips_oracle(lp.state_dict(), x0, x1).numpy() / eps**2


def numpy_ppl(d: np.ndarray) -> tuple[float, float]:
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    kept = d[(d >= lo) & (d <= hi)]
    return float(kept.mean()), float(kept.std())


@pytest.mark.parametrize(
    "space,interp,sampling", [("z", "slerp", "full"), ("z", "lerp", "end"), ("w", None, "full")]
)
def test_float64_oracle(lp: LPIPSVGG16, space: str, interp: str, sampling: str) -> None:
    n, eps = 24, 1e-3
    z0, z1, t = path_latents(7, 0, n, Z_DIM)
    tt = t.double() if sampling == "full" else torch.zeros(n, dtype=torch.float64)
    got = path_distances(
        analytic_g,
        z0.double(),
        z1.double(),
        tt if sampling == "full" else None,
        distance=lp,
        epsilon=eps,
        space=space,
        interpolation=interp,
        mapping=mapping,
        downsample=None,
        batch_size=16,
    )
    want = oracle_distances(lp, z0, z1, tt.numpy(), eps, space, interp or "slerp")
    assert got.dtype == torch.float64 and want.min() > 0
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-7)
    mean, std = numpy_ppl(want)
    r = ppl_from_distances(got)
    assert r["ppl"] == pytest.approx(mean, rel=1e-7) and r["ppl_std"] == pytest.approx(std, rel=1e-7)


def test_ppl_api_float32_against_oracle(lp: LPIPSVGG16) -> None:
    """The public call on float32 modules: the draws of path_latents, sampling 'full', slerp in z."""
    n, eps = 16, 1e-2
    z0, z1, t = path_latents(3, 0, n, Z_DIM)
    want = numpy_ppl(oracle_distances(lp, z0, z1, t.double().numpy(), eps, "z", "slerp"))
    lp32 = LPIPSVGG16(random_init=True)
    lp32.load_state_dict(lp.state_dict())
    r = ppl(analytic_g, Z_DIM, n=n, distance=lp32, seed=3, epsilon=eps, sampling="full", batch_size=7)
    assert r["ppl"] == pytest.approx(want[0], rel=2e-3)


def test_slerp_matches_the_classical_formula() -> None:
    g = torch.Generator().manual_seed(4)
    a, b = (
        torch.randn(5, 7, generator=g, dtype=torch.float64),
        torch.randn(5, 7, generator=g, dtype=torch.float64),
    )
    t = torch.rand(5, 1, generator=g, dtype=torch.float64)
    got = slerp(a, b, t)
    for i in range(5):
        np.testing.assert_allclose(
            got[i].numpy(), slerp_oracle(a[i].numpy(), b[i].numpy(), float(t[i])), rtol=1e-12
        )


@pytest.mark.parametrize("n", [1, 2, 7, 100, 101, 250])
def test_percentiles_match_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    d = np.round(rng.standard_exponential(n), 1)  # ties included
    lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
    want = np.sort(d[(d >= lo) & (d <= hi)])
    np.testing.assert_array_equal(np.sort(discard_outliers(d).numpy()), want)
    lo5 = np.percentile(d, 5, method="lower")
    np.testing.assert_array_equal(np.sort(discard_outliers(d, 5, None).numpy()), np.sort(d[d >= lo5]))
    assert discard_outliers(d, None, None).numel() == n


def test_percentile_arguments() -> None:
    with pytest.raises(ValueError, match="lower: a percentile strictly between 0 and 100"):
        discard_outliers([1.0, 2.0], 0, 99)
    with pytest.raises(ValueError, match="lower, upper: need lower < upper"):
        discard_outliers([1.0, 2.0], 60, 40)
    with pytest.raises(ValueError, match="distances: contain NaN"):
        discard_outliers([1.0, math.nan])
    with pytest.raises(ValueError, match="distances: empty"):
        discard_outliers([])


def test_latents_do_not_depend_on_the_range() -> None:
    whole = path_latents(5, 0, PATH_BLOCK + 10, Z_DIM)
    part = path_latents(5, PATH_BLOCK - 3, PATH_BLOCK + 4, Z_DIM)
    for a, b in zip(whole, part):
        assert torch.equal(a[PATH_BLOCK - 3 : PATH_BLOCK + 4], b)
    other = path_latents(6, 0, 4, Z_DIM)
    assert not torch.equal(other[0], whole[0][:4])
    assert float(whole[2].min()) >= 0 and float(whole[2].max()) < 1


def test_image_steps(lp: LPIPSVGG16) -> None:
    """crop, box downsampling of the uncropped side, quantisation, output range: through a recording distance."""
    seen: list[torch.Tensor] = []

    def dist(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        seen.append(x0)
        return (x0.double() - x1.double()).abs().flatten(1).mean(1)

    def big(p: torch.Tensor) -> torch.Tensor:
        return analytic_g(p).repeat_interleave(4, 2).repeat_interleave(4, 3)  # 64 x 64

    z0, z1, _ = path_latents(1, 0, 3, Z_DIM)
    path_distances(big, z0, z1, distance=dist, interpolation="lerp", crop=True, downsample=16)
    x = big(z0.double())
    c = 64 // 8
    want = x[:, :, 3 * c : 7 * c, 2 * c : 6 * c].reshape(3, 3, 8, 4, 8, 4).mean((3, 5))  # factor 64 // 16
    torch.testing.assert_close(seen[-1].double(), want, rtol=1e-6, atol=1e-6)
    path_distances(
        lambda p: (analytic_g(p) + 1) / 2,
        z0,
        z1,
        distance=dist,
        interpolation="lerp",
        output_range=(0, 1),
        quantize=True,
    )
    assert seen[-1].dtype == torch.uint8
    want_u8 = (((analytic_g(z0) + 1) / 2) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)  # floor(x 255 + 1/2)
    assert torch.equal(seen[-1], want_u8)
    path_distances(
        lambda p: (analytic_g(p) + 1) / 2, z0, z1, distance=dist, interpolation="lerp", output_range=(0, 1)
    )
    torch.testing.assert_close(seen[-1], analytic_g(z0), rtol=0, atol=1e-6)


def test_batch_size_and_sampler(lp: LPIPSVGG16) -> None:
    lp32 = LPIPSVGG16(random_init=True)
    r1 = ppl(analytic_g, Z_DIM, n=12, distance=lp32, batch_size=3, seed=2)
    r2 = ppl(analytic_g, Z_DIM, n=12, distance=lp32, batch_size=12, seed=2)
    assert r1["ppl"] == pytest.approx(r2["ppl"], rel=1e-6)
    s = Sampler(analytic_g, Z_DIM, n=12, seed=2, batch_size=5)
    assert ppl(s, distance=lp32)["ppl"] == pytest.approx(r1["ppl"], rel=1e-6)
    sw = Sampler(analytic_g, Z_DIM, n=12, mode="w", mapping=mapping)
    rw = ppl(sw, distance=lp32)
    want = ppl(analytic_g, Z_DIM, n=12, distance=lp32, space="w", mapping=mapping)
    assert rw == want
    with pytest.raises(ValueError, match="space: a Sampler with mode='w'"):
        ppl(sw, distance=lp32, space="z")

    class StyleLike(torch.nn.Module):  # G with .mapping and .synthesis, sampled in z
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.synthesis(self.mapping(z))

        def mapping(self, z: torch.Tensor) -> torch.Tensor:
            return mapping(z)

        def synthesis(self, w: torch.Tensor) -> torch.Tensor:
            return analytic_g(w)

    sz = Sampler(StyleLike(), Z_DIM, n=12)
    assert ppl(sz, distance=lp32, space="w") == want  # w paths through G.mapping and G.synthesis


def test_conventions_and_errors(lp: LPIPSVGG16) -> None:
    lp32 = LPIPSVGG16(random_init=True)
    tf = PerceptualPathLength(lp32, convention="torch-fidelity")
    assert (
        tf.options["quantize"] and tf.options["interpolation"] == "lerp" and tf.options["downsample"] is None
    )
    assert PerceptualPathLength(lp32).options["downsample"] == 256
    with pytest.raises(ValueError, match="convention: "):
        PerceptualPathLength(lp32, convention="nope")
    with pytest.raises(ValueError, match="sampling: "):
        PerceptualPathLength(lp32, sampling="middle")
    with pytest.raises(TypeError, match="unknown options"):
        PerceptualPathLength(lp32, eps=1)
    with pytest.raises(TypeError, match=r"resize: the LPIPS network resizes"):
        PerceptualPathLength(lp32, resize=64)
    with pytest.raises(ValueError, match="mapping: space='w' needs"):
        ppl(analytic_g, Z_DIM, n=4, distance=lp32, space="w")
    with pytest.raises(ValueError, match="z_dim: the latent size"):
        ppl(analytic_g, n=4, distance=lp32)
    with pytest.raises(ValueError, match="n: the number of paths"):
        ppl(analytic_g, Z_DIM, distance=lp32)
    with pytest.raises(ValueError, match="epsilon: "):
        ppl(analytic_g, Z_DIM, n=4, distance=lp32, epsilon=0.0)
    with pytest.raises(ValueError, match=r"G: expected images \[B, 3, H, W\]"):
        ppl(lambda z: z, Z_DIM, n=4, distance=lp32)
    with pytest.raises(ValueError, match="real: perceptual path length"):
        tf.update(torch.ones(3), real=True)
    with pytest.raises(ValueError, match="distance: PerceptualPathLength needs"):
        PerceptualPathLength().measure(analytic_g, 0, 4, z_dim=Z_DIM)


def test_metric_protocol() -> None:
    d = torch.from_numpy(np.random.default_rng(0).standard_exponential(300))
    whole = PerceptualPathLength()
    whole.update(d)
    a, b = PerceptualPathLength(), PerceptualPathLength()
    a.update(d[:120])
    b.update(d[120:])
    assert a.merge(b).compute() == pytest.approx(whole.compute(), rel=1e-12)
    c = PerceptualPathLength()
    c.load_state_dict(whole.state_dict())
    assert c.compute() == whole.compute()
    assert c.sync() is c
    c.reset()
    with pytest.raises(ValueError, match="no path measured"):
        c.compute()
    assert whole.compute()["ppl"] == pytest.approx(numpy_ppl(d.numpy())[0], rel=1e-12)
