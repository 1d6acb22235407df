"""Clipped density / coverage: float64 brute force of the definitions (full distance matrices, direct
differences, the reference's k-NN lists), the calibration from an independent beta-binomial formula,
tiles, properties, the class, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import betaln

from fastgan.metrics.clipped import (
    KEY_CLIPPED_COVERAGE,
    KEY_CLIPPED_DENSITY,
    ClippedDensityCoverage,
    clipped_coverage,
    clipped_density,
    clipped_density_coverage,
    coverage_calibration,
)


def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def f_oracle(k: int, n: int, m: int) -> np.ndarray:
    """E[min(J, k)] / k with J ~ BetaBinomial(M_i, k, N - k), for M_i = 0..M (0 below k), term by term."""
    out = np.zeros(m + 1)
    for mi in range(k, m + 1):
        total = 0.0
        for j in range(1, mi + 1):
            log_t = math.log(math.comb(mi, j)) + betaln(k + j, n + mi - k - j) - betaln(k, n - k)
            total += min(j, k) * math.exp(log_t)
        out[mi] = total / k
    return out


def brute(real: np.ndarray, fake: np.ndarray, k: int, all_ties: bool = False) -> tuple[float, float, float]:
    """(clipped density, clipped coverage, raw coverage) from N x M matrices; ``all_ties``: the real
    normaliser counts every real sample within a clipped radius (fastgan's definition), not only the
    ones in the k-NN list (the reference's; the two differ only on exact ties at the k-th distance)."""
    n, m = len(real), len(fake)
    d_rr = dist(real, real)
    np.fill_diagonal(d_rr, np.inf)
    order = np.argsort(d_rr, axis=1)[:, :k]  # each real sample's k nearest OTHER samples
    r = np.take_along_axis(d_rr, order[:, -1:], 1)[:, 0]
    rc = np.minimum(r, np.median(r))
    c_fake = (dist(real, fake) <= rc[:, None]).sum(0)
    c_real = (d_rr <= rc[:, None]).sum(0).astype(float) if all_ties else np.zeros(n)
    for i in range(
        0 if all_ties else n
    ):  # the reference's count: x_l in i's k-NN list and within the clipped radius
        for nb in order[i]:
            c_real[nb] += d_rr[i, nb] <= rc[i]
    dens = min(np.minimum(c_fake / k, 1).mean() / np.minimum(c_real / k, 1).mean(), 1.0)
    raw = float((np.sort(dist(real, fake), axis=1)[:, :k] < r[:, None]).mean())
    cov = np.searchsorted(f_oracle(k, n, m), raw) / (m + 1)
    return float(dens), float(cov), raw


def clouds(n: int, m: int, d: int, seed: int, shift: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), 1.1 * rng.standard_normal((m, d)) + shift


def test_calibration_equals_beta_binomial_expectation() -> None:
    for k, n, m in [(5, 40, 30), (3, 25, 60), (1, 10, 7)]:
        np.testing.assert_allclose(coverage_calibration(k, n, m), f_oracle(k, n, m), rtol=1e-9, atol=1e-15)
    f = coverage_calibration(5, 200, 150)
    assert np.all(np.diff(f) >= 0) and f[-1] < 1


@pytest.mark.parametrize("n,m,d,k,block", [(120, 100, 8, 5, None), (90, 140, 16, 3, 29), (61, 50, 4, 2, 13)])
def test_equals_float64_brute_force(n: int, m: int, d: int, k: int, block) -> None:
    x, y = clouds(n, m, d, seed=n * d)
    st: dict = {}
    got = clipped_density_coverage(torch.from_numpy(x), torch.from_numpy(y), k, block_size=block, stats=st)
    dens, cov, raw = brute(x, y, k)
    assert got[KEY_CLIPPED_DENSITY] == pytest.approx(dens, rel=1e-12)
    assert got[KEY_CLIPPED_COVERAGE] == cov  # a count over M + 1: exact
    assert st["clipped_coverage_raw"] == pytest.approx(raw, rel=1e-12)
    assert 0 < dens < 1 and 0 < cov < 1
    assert clipped_density(x, y, k, block_size=block) == got[KEY_CLIPPED_DENSITY]
    assert clipped_coverage(x, y, k) == got[KEY_CLIPPED_COVERAGE]
    assert clipped_coverage(x, y, k, calibrate=False) == pytest.approx(raw, rel=1e-12)


def test_binary_search_equals_searchsorted() -> None:
    from fastgan.metrics.clipped import _Calibration

    cal = _Calibration(5, 80, 60)
    f = coverage_calibration(5, 80, 60)
    for raw in np.concatenate([np.linspace(0, 1, 41), f[::7], f[::5] + 1e-12]):
        assert cal.g(float(raw)) == np.searchsorted(f, raw) / 61


def test_properties() -> None:
    x, _ = clouds(150, 1, 6, seed=7)
    same = clipped_density_coverage(x, x.copy())
    assert same[KEY_CLIPPED_DENSITY] == 1.0  # each sample sits in its own ball too: capped at 1
    far = clipped_density_coverage(x, x + 1e3)
    assert far == {KEY_CLIPPED_DENSITY: 0.0, KEY_CLIPPED_COVERAGE: 0.0}
    # float32 features: same decisions as float64 on the float32 values
    x32 = torch.from_numpy(x).float()
    y32 = x32[:100] * 1.05
    got = clipped_density_coverage(x32, y32)
    dens, cov, _ = brute(x32.double().numpy(), y32.double().numpy(), 5)
    assert got[KEY_CLIPPED_DENSITY] == pytest.approx(dens, rel=1e-12) and got[KEY_CLIPPED_COVERAGE] == cov


def test_class_merge() -> None:
    x, y = clouds(80, 70, 5, seed=2)
    want = clipped_density_coverage(x, y, 4)
    a, b = ClippedDensityCoverage(k=4), ClippedDensityCoverage(k=4)
    a.update(torch.from_numpy(x[:50]), real=True)
    a.update(torch.from_numpy(y[:10]), real=False)
    b.update(torch.from_numpy(x[50:]), real=True)
    b.update(torch.from_numpy(y[10:]), real=False)
    assert a.merge(b).compute() == pytest.approx(want, rel=1e-12)


def test_errors() -> None:
    x, y = clouds(10, 4, 2, seed=0)
    with pytest.raises(ValueError, match="^k: needs k < number of real samples"):
        clipped_density(x, y, k=10)
    with pytest.raises(ValueError, match="^k: clipped coverage needs k <= number of fake samples"):
        clipped_coverage(x, y, k=5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        clipped_density(x, y, calibrate=False)


def test_duplicates_and_engines() -> None:
    """Duplicated real rows (radius 0 for k below the multiplicity) and fake copies of real rows: the
    closed / open ball decisions at distance 0 follow the definitions; faiss radii give the same values."""
    from fastgan.metrics import knn

    x, y = clouds(60, 50, 3, seed=5)
    y = np.concatenate([y, x[:10]])  # 10 fake copies of real rows
    got = clipped_density_coverage(x, y, 3)
    dens, cov, _ = brute(x, y, 3)
    assert got[KEY_CLIPPED_DENSITY] == pytest.approx(dens, rel=1e-12) and got[KEY_CLIPPED_COVERAGE] == cov
    x = np.concatenate([x, x[:20]])  # 20 duplicated real rows: ties at the k-th distance
    got = clipped_density_coverage(x, y, 3)
    dens, cov, _ = brute(x, y, 3, all_ties=True)
    assert got[KEY_CLIPPED_DENSITY] == pytest.approx(dens, rel=1e-12) and got[KEY_CLIPPED_COVERAGE] == cov
    assert dens != brute(x, y, 3)[0]  # here the reference's k-NN-list count differs (module docstring)
    if knn.faiss_module() is not None:
        assert clipped_density_coverage(x, y, 3, impl="faiss") == got


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("scale", [1.0, 1e19])  # 1e19: squared norms overflow float32, float64 tiles
def test_ball_reductions_engine(strict: bool, scale: float) -> None:
    """The shared engine's three reductions against N x M matrices, radii exactly at pair distances."""
    from fastgan.metrics._ball_counts import ball_reductions

    rng = np.random.default_rng(11)
    x = rng.integers(-3, 4, (70, 3)).astype(np.float64) * scale  # lattice: many exact ties
    y = rng.integers(-3, 4, (55, 3)).astype(np.float64) * scale
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    r2 = d2[np.arange(70), rng.integers(0, 55, 70)]  # each radius equals some pair's distance
    r2[:5] = -1.0  # negative radius: an empty ball
    inside = d2 < r2[:, None] if strict else d2 <= r2[:, None]
    got = ball_reductions(
        torch.from_numpy(x), torch.from_numpy(r2), torch.from_numpy(y), strict=strict, block_size=16
    )
    np.testing.assert_array_equal(got["count_x"].numpy(), inside.sum(1))
    np.testing.assert_array_equal(got["count_y"].numpy(), inside.sum(0))
    want_min = np.where(inside, r2[:, None], np.inf).min(0)
    np.testing.assert_array_equal(got["min_r2_y"].numpy(), want_min)
