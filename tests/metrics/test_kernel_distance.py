"""KID: float64 numpy oracle with the same subsets, null behaviour, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics.kernel_distance import KID, kid, kid_subset_indices, mmd2_subsets


def numpy_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 with explicit double loops over the off-diagonal terms (float64)."""
    m = x.shape[0]
    g = 1.0 / x.shape[1] if gamma is None else gamma
    k = lambda a, b: (g * a @ b.T + coef0) ** degree  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = ~np.eye(m, dtype=bool)
    return float(kxx[off].sum() / (m * (m - 1)) + kyy[off].sum() / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def clouds(n_x: int, n_y: int, d: int, shift: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_x, d, generator=g).abs(), torch.randn(n_y, d, generator=g).abs() + shift


@pytest.mark.parametrize("method", ["full", "subsets", "auto"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_numpy_oracle_same_subsets(method: str, dtype: torch.dtype) -> None:
    x, y = clouds(120, 90, 16, 0.2, seed=1)
    idx_r, idx_f = kid_subset_indices(120, 90, 7, 40, torch.Generator().manual_seed(5))
    vals = mmd2_subsets(x.to(dtype), y.to(dtype), idx_r, idx_f, dtype=dtype, method=method)
    ref = [numpy_mmd2(x.double().numpy()[r], y.double().numpy()[f]) for r, f in zip(idx_r.numpy(), idx_f.numpy())]
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(vals.numpy(), ref, rtol=tol, atol=tol * 1e-2)


def test_kernel_parameters_are_used() -> None:
    x, y = clouds(60, 60, 8, 0.1, seed=2)
    idx_r, idx_f = kid_subset_indices(60, 60, 3, 30, torch.Generator().manual_seed(0))
    for degree, gamma, coef0 in [(2, 0.5, 0.0), (1, None, 2.0), (4, 0.05, 0.3)]:
        vals = mmd2_subsets(x, y, idx_r, idx_f, degree=degree, gamma=gamma, coef0=coef0)
        ref = [numpy_mmd2(x.numpy()[r].astype(np.float64), y.numpy()[f].astype(np.float64), degree, gamma, coef0)
               for r, f in zip(idx_r.numpy(), idx_f.numpy())]
        np.testing.assert_allclose(vals.numpy(), ref, rtol=1e-10)


def test_kid_mean_std_over_rounds() -> None:
    x, y = clouds(100, 100, 12, 0.3, seed=3)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    out = kid(x, y, subsets=11, subset_size=30, generator=g1)
    assert set(out) == {"kid_mean", "kid_std"} and all(type(v) is float for v in out.values())
    mean, std = out["kid_mean"], out["kid_std"]
    idx_r, idx_f = kid_subset_indices(100, 100, 11, 30, g2)
    ref = np.array([numpy_mmd2(x.double().numpy()[r], y.double().numpy()[f]) for r, f in zip(idx_r.numpy(), idx_f.numpy())])
    assert mean == pytest.approx(ref.mean(), rel=1e-10)
    assert std == pytest.approx(ref.std(), rel=1e-8)  # population std (ddof=0), like np.std


def test_subsets_are_without_replacement_and_seeded() -> None:
    a = kid_subset_indices(50, 40, 20, 40, torch.Generator().manual_seed(3))
    b = kid_subset_indices(50, 40, 20, 40, torch.Generator().manual_seed(3))
    c = kid_subset_indices(50, 40, 20, 40, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    for idx, n in ((a[0], 50), (a[1], 40)):
        assert all(len(set(row.tolist())) == idx.shape[1] for row in idx)
        assert int(idx.min()) >= 0 and int(idx.max()) < n


def test_reproducible_with_seeded_generator() -> None:
    x, y = clouds(80, 80, 6, 0.1, seed=4)
    r1 = kid(x, y, subsets=5, subset_size=20, generator=torch.Generator().manual_seed(1))
    r2 = kid(x, y, subsets=5, subset_size=20, generator=torch.Generator().manual_seed(1))
    r3 = kid(x, y, subsets=5, subset_size=20, generator=torch.Generator().manual_seed(2))
    assert r1 == r2 and r1 != r3


def test_identical_distributions_give_zero_on_average() -> None:
    # Under P = Q the unbiased estimator has expectation exactly 0. With independent data
    # sets the 30 estimates are i.i.d., so their t-statistic is ~ t(29): |t| < 4 fails with
    # probability < 1e-3 (and the seeds are fixed).
    vals = []
    for seed in range(30):
        x, y = clouds(100, 100, 10, 0.0, seed=100 + seed)
        vals.append(kid(x, y, subsets=1, subset_size=100, generator=torch.Generator().manual_seed(seed))["kid_mean"])
    v = np.array(vals)
    t = v.mean() / (v.std(ddof=1) / np.sqrt(len(v)))
    assert abs(t) < 4.0
    # ...while a small shift is clearly detected with the same sizes
    x, y = clouds(100, 100, 10, 0.3, seed=7)
    shifted = kid(x, y, subsets=1, subset_size=100)["kid_mean"]
    assert shifted > v.mean() + 6 * v.std(ddof=1)


def test_same_samples_more_subsets_concentrate() -> None:
    x, y = clouds(400, 400, 8, 0.0, seed=11)
    out = kid(x, y, subsets=50, subset_size=100, generator=torch.Generator().manual_seed(0))
    mean, std = out["kid_mean"], out["kid_std"]
    assert abs(mean) < 5 * std  # Var(mean of rounds) <= Var(one round) (Cauchy-Schwarz), Chebyshev


def test_methods_agree_on_auto_choice() -> None:
    x, y = clouds(150, 150, 4, 0.1, seed=12)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = kid(x, y, subsets=20, subset_size=50, generator=g(), method="full")
    b = kid(x, y, subsets=20, subset_size=50, generator=g(), method="subsets")
    c = kid(x, y, subsets=20, subset_size=50, generator=g(), max_memory=1 << 12)  # tiny budget: many batches
    assert a == pytest.approx(b, rel=1e-12) and b == pytest.approx(c, rel=1e-12)


def test_errors() -> None:
    x, y = clouds(20, 30, 4, 0.0, seed=0)
    with pytest.raises(ValueError, match="larger than the number of real samples"):
        kid(x, y, subsets=2, subset_size=25)
    with pytest.raises(ValueError, match="subset_size"):
        kid(x, y, subsets=2, subset_size=1)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        kid(x, y[:, :3], subsets=2, subset_size=10)
    with pytest.raises(ValueError, match="non-finite"):
        kid(x.clone().fill_(float("nan")), y, subsets=2, subset_size=10)
    with pytest.raises(ValueError, match="method"):
        kid(x, y, subsets=2, subset_size=10, method="fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        kid(x.long(), y, subsets=2, subset_size=10)
    with pytest.raises(ValueError, match="indices"):
        mmd2_subsets(x, y, torch.full((1, 3), 25), torch.zeros(1, 3, dtype=torch.long))


def test_stateful_kid_merge() -> None:
    x, y = clouds(60, 60, 5, 0.2, seed=13)
    whole = KID(subsets=4, subset_size=20, seed=1)
    whole.update(x, real=True)
    whole.update(y, real=False)
    a, b = KID(subsets=4, subset_size=20, seed=1), KID(subsets=4, subset_size=20, seed=1)
    a.update(x[:25], real=True); a.update(y[:40], real=False)  # noqa: E702
    b.update(x[25:], real=True); b.update(y[40:], real=False)  # noqa: E702
    assert a.merge(b).compute() == whole.compute()
    assert whole.compute() == kid(x, y, 4, 20, generator=torch.Generator().manual_seed(1))
    with pytest.raises(RuntimeError, match="both real and fake"):
        KID().compute()
    with pytest.raises(ValueError, match="dimension"):
        whole.update(torch.zeros(3, 4), real=True)
