"""KID with an RBF kernel: each round against a float64 brute force (direct differences, full
kernel matrices), the same rounds as the polynomial KID, presets, the class, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics import kid
from fastgan.metrics.kernel_distance import kid_subset_indices
from fastgan.metrics.kernel_rbf import KEY_KID_RBF_MEAN, KEY_KID_RBF_STD, KIDRBF, kid_rbf, rbf_mmd2_subsets


def mmd2_oracle(xs: np.ndarray, ys: np.ndarray, sigma: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))

    m = len(xs)
    kxx, kyy, kxy = k(xs, xs), k(ys, ys), k(xs, ys)
    off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(off - 2 * kxy.mean())


def feats(n: int, m: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * 3 + 5, rng.standard_normal((m, d)) * 3.3 + 5.5


@pytest.mark.parametrize("sigma,d", [(10.0, 32), (2.0, 8), (0.7, 3)])
def test_rounds_equal_float64_brute_force(sigma: float, d: int) -> None:
    x, y = feats(90, 80, d, seed=d)
    idx_r, idx_f = kid_subset_indices(90, 80, 5, 40, torch.Generator().manual_seed(1))
    got = rbf_mmd2_subsets(torch.from_numpy(x), torch.from_numpy(y), idx_r, idx_f, sigma, block_size=16)
    want = [mmd2_oracle(x[idx_r[s].numpy()], y[idx_f[s].numpy()], sigma) for s in range(5)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-14)
    assert np.std(want) > 0


def test_same_rounds_as_kid_and_summary() -> None:
    x, y = feats(120, 100, 6, seed=3)
    st: dict = {}
    out = kid_rbf(x, y, subsets=7, subset_size=50, sigma=3.0, preset="torch-fidelity", stats=st)
    idx_r, idx_f = kid_subset_indices(120, 100, 7, 50, preset="torch-fidelity", seed=2020)
    want = [mmd2_oracle(x[idx_r[s].numpy()], y[idx_f[s].numpy()], 3.0) for s in range(7)]
    np.testing.assert_allclose(st["rounds"].numpy(), want, rtol=1e-10)
    assert out[KEY_KID_RBF_MEAN] == pytest.approx(np.mean(want), rel=1e-10)
    assert out[KEY_KID_RBF_STD] == pytest.approx(np.std(want), rel=1e-8)
    # the polynomial KID draws the very same rounds (its per-round values differ: another kernel)
    kst: dict = {}
    kid(x, y, subsets=7, subset_size=50, preset="torch-fidelity", stats=kst)
    assert kst["subset_size"] == st["subset_size"] == 50


def test_class_equals_function() -> None:
    x, y = feats(60, 60, 4, seed=9)
    m = KIDRBF(subsets=4, subset_size=30, sigma=2.0, seed=5)
    m.update(torch.from_numpy(x[:25]), real=True)
    m.update(torch.from_numpy(x[25:]), real=True)
    m.update(torch.from_numpy(y), real=False)
    assert m.compute() == kid_rbf(x, y, 4, 30, 2.0, seed=5)
    assert kid_rbf(x, y, 4, 30, 2.0, seed=5) == kid_rbf(
        x, y, 4, 30, 2.0, generator=torch.Generator().manual_seed(5)
    )


def test_errors() -> None:
    x, y = feats(10, 10, 2, seed=0)
    with pytest.raises(ValueError, match="^sigma"):
        kid_rbf(x, y, 2, 5, sigma=0.0)
    with pytest.raises(ValueError, match="subset"):
        kid_rbf(x, y, 2, 50)
