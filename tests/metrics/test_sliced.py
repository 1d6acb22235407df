"""Sliced Wasserstein: 1-D oracles (scipy, replication to a common size), a numpy brute force with
the same directions, dgm-eval's closed form, seeding, errors, the class."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastgan.metrics.sliced import (
    KEY_SLICED_WASSERSTEIN,
    SlicedWasserstein,
    random_directions,
    sliced_wasserstein,
    wasserstein_1d,
)


def replicated_wpp(u: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    """W_p^p per column: repeat both samples to the common size lcm(N, M), sort, mean |diff|^p."""
    n, m = len(u), len(v)
    lcm = n * m // math.gcd(n, m)
    a = np.sort(np.repeat(u, lcm // n, axis=0), axis=0)
    b = np.sort(np.repeat(v, lcm // m, axis=0), axis=0)
    return (np.abs(a - b) ** p).mean(axis=0)


@pytest.mark.parametrize("sizes", [(9, 9), (7, 5), (12, 8), (1, 4)])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_wasserstein_1d_exact(sizes: tuple[int, int], p: float) -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(size=(sizes[0], 4))
    v = rng.normal(size=(sizes[1], 4)) + 0.5
    got = wasserstein_1d(torch.from_numpy(u), torch.from_numpy(v), p).numpy()
    np.testing.assert_allclose(got, replicated_wpp(u, v, p), rtol=1e-13)


def test_wasserstein_1d_matches_scipy_p1() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=31), rng.exponential(size=17)
    got = float(wasserstein_1d(torch.from_numpy(u), torch.from_numpy(v), 1.0)[0])
    assert got == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12)


@pytest.mark.parametrize("sizes", [(60, 60), (50, 35)])
def test_mc_matches_numpy_brute_force_same_directions(sizes: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(sizes[0], 6, generator=g, dtype=torch.float64)
    y = 1.3 * torch.randn(sizes[1], 6, generator=g, dtype=torch.float64) + 0.4
    got = sliced_wasserstein(x, y, projections=40, generator=torch.Generator().manual_seed(7))
    theta = random_directions(6, 40, torch.Generator().manual_seed(7)).numpy()
    ref = float(np.sqrt(replicated_wpp(x.numpy() @ theta.T, y.numpy() @ theta.T, 2.0).mean()))
    assert got == pytest.approx(ref, rel=1e-12)


def test_seeded_and_chunk_independent(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastgan.metrics.sliced as sw

    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(40, 5, generator=g), torch.randn(30, 5, generator=g) + 1
    a = sliced_wasserstein(x, y, projections=25, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(sw, "_CHUNK_ELEMS", 70 * 3)  # 3 projections per chunk
    b = sliced_wasserstein(x, y, projections=25, generator=torch.Generator().manual_seed(1))
    assert a == pytest.approx(b, rel=1e-13)
    c = sliced_wasserstein(x, y, projections=25, generator=torch.Generator().manual_seed(2))
    assert c != a


def test_one_dimension_is_plain_wasserstein() -> None:
    # in 1-D every direction is +-1, so SW_p = W_p
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=(23, 1)), rng.normal(size=(19, 1)) * 2
    got = sliced_wasserstein(torch.from_numpy(u), torch.from_numpy(v), projections=5, p=3.0)
    assert got == pytest.approx(float(replicated_wpp(u, v, 3.0)[0]) ** (1 / 3), rel=1e-12)


def test_approx_matches_dgm_eval_formula() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(150, 16)) * 1.5 + 0.3
    d = x.shape[1]
    mx, my = x.mean(0), y.mean(0)
    mean_term = np.linalg.norm(mx - my) ** 2 / d
    sx = (np.linalg.norm(x - mx, axis=1) ** 2).mean() / d
    sy = (np.linalg.norm(y - my, axis=1) ** 2).mean() / d
    ref = (mean_term + (sx**0.5 - sy**0.5) ** 2) ** 0.5
    got = sliced_wasserstein(torch.from_numpy(x), torch.from_numpy(y), method="approx")
    assert got == pytest.approx(ref, rel=1e-12)


def test_errors() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        sliced_wasserstein(x, torch.randn(10, 4))
    bad = x.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="fake"):
        sliced_wasserstein(x, bad)
    with pytest.raises(ValueError, match="p"):
        sliced_wasserstein(x, x, p=0.5)
    with pytest.raises(ValueError, match="p"):
        sliced_wasserstein(x, x, method="approx", p=1)
    with pytest.raises(ValueError, match="method"):
        sliced_wasserstein(x, x, method="exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="projections"):
        sliced_wasserstein(x, x, projections=0)
    with pytest.raises(ValueError, match="real"):
        sliced_wasserstein(torch.zeros(0, 3), x)


def test_class_protocol() -> None:
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(50, 4, generator=g), torch.randn(40, 4, generator=g) + 0.5
    ref = sliced_wasserstein(x, y, projections=30, generator=torch.Generator().manual_seed(9))
    a, b = SlicedWasserstein(projections=30, seed=9), SlicedWasserstein(projections=30, seed=9)
    a.update(x[:20], real=True)
    a.update(y[:25], real=False)
    b.update(x[20:], real=True)
    b.update(y[25:], real=False)
    a.merge(b)
    assert a.compute() == pytest.approx(ref, rel=1e-12)
    assert a.compute() == a.compute()
    c = SlicedWasserstein(projections=30, seed=9)
    c.load_state_dict(a.state_dict())
    assert c.compute() == pytest.approx(ref, rel=1e-12)
    assert KEY_SLICED_WASSERSTEIN == "sliced_wasserstein"


@pytest.mark.parametrize("p", [1.0, 3.0])
def test_mc_unequal_sizes_any_p_matches_brute_force(p: float) -> None:
    g = torch.Generator().manual_seed(10)
    x = torch.randn(45, 5, generator=g, dtype=torch.float64)
    y = 0.8 * torch.randn(30, 5, generator=g, dtype=torch.float64) - 0.3
    got = sliced_wasserstein(x, y, projections=20, p=p, generator=torch.Generator().manual_seed(3))
    theta = random_directions(5, 20, torch.Generator().manual_seed(3)).numpy()
    ref = float(replicated_wpp(x.numpy() @ theta.T, y.numpy() @ theta.T, p).mean()) ** (1 / p)
    assert got == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_mc_large_chunk_sorted_in_threads(threads: int) -> None:
    # enough projected values for the CPU sort to split the rows over threads
    g = torch.Generator().manual_seed(11)
    x = torch.randn(1000, 8, generator=g)  # float32 input: projected in float64
    y = 1.2 * torch.randn(1000, 8, generator=g) + 0.1
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = sliced_wasserstein(x, y, projections=80, generator=torch.Generator().manual_seed(4))
    finally:
        torch.set_num_threads(old)
    theta = random_directions(8, 80, torch.Generator().manual_seed(4)).numpy()
    px = np.sort(x.double().numpy() @ theta.T, axis=0)
    py = np.sort(y.double().numpy() @ theta.T, axis=0)
    assert got == pytest.approx(float(np.sqrt(((px - py) ** 2).mean())), rel=1e-12)


def test_wasserstein_1d_keeps_inputs_and_gradient() -> None:
    rng = np.random.default_rng(12)
    u = torch.from_numpy(rng.normal(size=(15, 3)))
    v = torch.from_numpy(rng.normal(size=(15, 3)) + 1.0)
    u0 = u.clone()
    plain = wasserstein_1d(u, v, 2.0)
    assert torch.equal(u, u0)
    ug = u.clone().requires_grad_(True)
    val = wasserstein_1d(ug, v, 2.0)
    torch.testing.assert_close(val.detach(), plain, rtol=1e-13, atol=0)
    val.sum().backward()
    # d/du of mean_i (u_(i) - v_(i))^2 is 2 (u_(i) - v_(i)) / N at the sorted positions
    su, iu = torch.sort(u, dim=0)
    sv = torch.sort(v, dim=0).values
    expect = torch.zeros_like(u).scatter_(0, iu, 2.0 * (su - sv) / 15)
    torch.testing.assert_close(ug.grad, expect, rtol=1e-12, atol=1e-14)


def test_approx_float32_input_exact_in_float64() -> None:
    rng = np.random.default_rng(13)
    x = torch.from_numpy(rng.normal(size=(300, 12)).astype(np.float32)) + 100.0
    y = torch.from_numpy(rng.normal(size=(250, 12)).astype(np.float32)) * 1.3 + 100.5
    a, b = x.double().numpy(), y.double().numpy()
    d = a.shape[1]
    ma, mb = a.mean(0), b.mean(0)
    mean_term = np.linalg.norm(ma - mb) ** 2 / d
    sa = (np.linalg.norm(a - ma, axis=1) ** 2).mean() / d
    sb = (np.linalg.norm(b - mb, axis=1) ** 2).mean() / d
    ref = (mean_term + (sa**0.5 - sb**0.5) ** 2) ** 0.5
    assert sliced_wasserstein(x, y, method="approx") == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("method", ["mc", "approx"])
def test_non_finite_input_named_after_the_computation(method: str) -> None:
    x = torch.randn(20, 3)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="real"):
        sliced_wasserstein(bad, x, method=method, projections=5)  # type: ignore[arg-type]
    bad[3, 1] = float("inf")
    with pytest.raises(ValueError, match="fake"):
        sliced_wasserstein(x, bad, method=method, projections=5)  # type: ignore[arg-type]
