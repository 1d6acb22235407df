"""Rarity score: float64 brute force of the definition (full distance matrices, direct differences),
tiles, duplicates, the strict / closed ball conventions, the summary, the class, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastgan.metrics.rarity_knn import KEY_RARITY_INSIDE, KEY_RARITY_MEAN, Rarity, rarity, rarity_score


def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def brute(real: np.ndarray, fake: np.ndarray, k: int, strict: bool) -> np.ndarray:
    """min r_i over the real balls holding each sample (0 when none); radii exclude the point by index."""
    d_rr = sqdist(real, real)
    np.fill_diagonal(d_rr, np.inf)
    r2 = np.sort(d_rr, axis=1)[:, k - 1]
    d_rf = sqdist(real, fake)
    inside = d_rf < r2[:, None] if strict else d_rf <= r2[:, None]
    out = np.zeros(fake.shape[0])
    for j in range(fake.shape[0]):
        if inside[:, j].any():
            out[j] = math.sqrt(r2[inside[:, j]].min())
    return out


def check(got: torch.Tensor, want: np.ndarray) -> None:
    """Same decisions (who is inside) exactly; the radius values to float64 summation order."""
    g = got.numpy()
    np.testing.assert_array_equal(g > 0, want > 0)
    np.testing.assert_allclose(g, want, rtol=1e-13, atol=0)


def clouds(n: int, m: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), 1.2 * rng.standard_normal((m, d)) + 0.3


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("n,m,d,k,block", [(120, 90, 8, 3, None), (150, 130, 32, 5, 37), (60, 200, 3, 1, 16)])
def test_equals_float64_brute_force(strict: bool, n: int, m: int, d: int, k: int, block) -> None:
    x, y = clouds(n, m, d, seed=n + d)
    got = rarity_score(torch.from_numpy(x), torch.from_numpy(y), k, strict=strict, block_size=block)
    want = brute(x, y, k, strict)
    assert got.dtype == torch.float64
    check(got, want)
    assert 0 < (want > 0).mean() < 1  # the test data has samples inside and outside


def test_float32_features_and_ties() -> None:
    """float32 inputs and samples exactly on a sphere (duplicates and lattice points) follow the convention."""
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [3.0, 3.0]])
    y = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [0.5, 0.5], [10.0, 10.0]])
    for strict in (True, False):
        got = rarity_score(torch.from_numpy(x).float(), torch.from_numpy(y).float(), 2, strict=strict)
        np.testing.assert_array_equal(got.numpy(), brute(x, y, 2, strict))  # integer lattice: exact
    # the open and closed conventions differ on the sample at distance exactly r from a centre
    assert not torch.equal(rarity_score(x, y, 2, strict=True), rarity_score(x, y, 2, strict=False))


def test_summary_and_class() -> None:
    x, y = clouds(100, 80, 6, seed=3)
    s = brute(x, y, 3, True)
    out = rarity(torch.from_numpy(x), torch.from_numpy(y))
    assert out[KEY_RARITY_MEAN] == pytest.approx(s[s > 0].mean(), rel=1e-12)
    assert out[KEY_RARITY_INSIDE] == (s > 0).mean()
    m = Rarity()
    for part in np.array_split(x, 3):
        m.update(torch.from_numpy(part), real=True)
    m2 = Rarity()
    m2.update(torch.from_numpy(y[:30]), real=False)
    m.update(torch.from_numpy(y[30:]), real=False)
    m2.merge(m)  # order of the banks does not matter to the value
    assert m2.compute() == out  # real bank from m, fake bank y[:30] + y[30:]: the whole sets
    np.testing.assert_allclose(np.sort(m2.scores().numpy()), np.sort(s), rtol=1e-13)


def test_no_sample_inside_gives_nan_mean() -> None:
    x, _ = clouds(20, 5, 2, seed=1)
    out = rarity(x, x[:3] + 100.0, k=2)
    assert math.isnan(out[KEY_RARITY_MEAN]) and out[KEY_RARITY_INSIDE] == 0.0


def test_errors() -> None:
    x, y = clouds(10, 5, 2, seed=0)
    with pytest.raises(ValueError, match="^k: needs k < number of real samples"):
        rarity_score(x, y, k=10)
    with pytest.raises(ValueError, match="samples"):
        rarity_score(x, y[:, :1])
    with pytest.raises(TypeError, match="^strict"):
        rarity_score(x, y, strict=1)  # type: ignore[arg-type]


def test_faiss_radii_same_scores() -> None:
    from fastgan.metrics import knn

    if knn.faiss_module() is None:
        pytest.skip("faiss not installed")
    x, y = clouds(140, 90, 12, seed=4)
    st: dict = {}
    got = rarity_score(x, y, 4, impl="faiss", stats=st)
    assert st["impl"] == "faiss"
    assert torch.equal(got, rarity_score(x, y, 4, impl="torch"))
