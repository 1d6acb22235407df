"""KID: float64 numpy oracle with the same subsets, null behaviour, reproducibility, errors,
the certified float32 error bound and its float64 fallback, the union-Gram and symmetric paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cases import pool3_like

from fastgan.metrics import _kid_bounds as kb
from fastgan.metrics.kernel_distance import KID, kid, kid_subset_indices, mmd2_subsets


def numpy_mmd2(
    x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> float:
    """Unbiased MMD^2 with explicit double loops over the off-diagonal terms (float64)."""
    m = x.shape[0]
    g = 1.0 / x.shape[1] if gamma is None else gamma
    k = lambda a, b: (g * a @ b.T + coef0) ** degree  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = ~np.eye(m, dtype=bool)
    return float(kxx[off].sum() / (m * (m - 1)) + kyy[off].sum() / (m * (m - 1)) - 2 * kxy.sum() / (m * m))


def clouds(n_x: int, n_y: int, d: int, shift: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return pool3_like(n_x, d, g), pool3_like(n_y, d, g) + shift


@pytest.mark.parametrize("method", ["full", "subsets", "auto"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_numpy_oracle_same_subsets(method: str, dtype: torch.dtype) -> None:
    x, y = clouds(120, 90, 16, 0.2, seed=1)
    idx_r, idx_f = kid_subset_indices(120, 90, 7, 40, torch.Generator().manual_seed(5))
    vals = mmd2_subsets(x.to(dtype), y.to(dtype), idx_r, idx_f, dtype=dtype, method=method)
    ref = [
        numpy_mmd2(x.double().numpy()[r], y.double().numpy()[f]) for r, f in zip(idx_r.numpy(), idx_f.numpy())
    ]
    tol = 1e-10 if dtype == torch.float64 else 2e-5
    np.testing.assert_allclose(vals.numpy(), ref, rtol=tol, atol=tol * 1e-2)


def test_kernel_parameters_are_used() -> None:
    x, y = clouds(60, 60, 8, 0.1, seed=2)
    idx_r, idx_f = kid_subset_indices(60, 60, 3, 30, torch.Generator().manual_seed(0))
    for degree, gamma, coef0 in [(2, 0.5, 0.0), (1, None, 2.0), (4, 0.05, 0.3)]:
        vals = mmd2_subsets(x, y, idx_r, idx_f, degree=degree, gamma=gamma, coef0=coef0)
        ref = [
            numpy_mmd2(x.numpy()[r].astype(np.float64), y.numpy()[f].astype(np.float64), degree, gamma, coef0)
            for r, f in zip(idx_r.numpy(), idx_f.numpy())
        ]
        np.testing.assert_allclose(vals.numpy(), ref, rtol=1e-10)


def test_kid_mean_std_over_rounds() -> None:
    x, y = clouds(100, 100, 12, 0.3, seed=3)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    out = kid(x, y, subsets=11, subset_size=30, generator=g1, dtype=torch.float64)
    assert set(out) == {"kid_mean", "kid_std"} and all(type(v) is float for v in out.values())
    mean, std = out["kid_mean"], out["kid_std"]
    idx_r, idx_f = kid_subset_indices(100, 100, 11, 30, g2)
    ref = np.array(
        [
            numpy_mmd2(x.double().numpy()[r], y.double().numpy()[f])
            for r, f in zip(idx_r.numpy(), idx_f.numpy())
        ]
    )
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
        vals.append(
            kid(x, y, subsets=1, subset_size=100, generator=torch.Generator().manual_seed(seed))["kid_mean"]
        )
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
    f64 = dict(subsets=20, subset_size=50, dtype=torch.float64)
    a = kid(x, y, generator=g(), method="full", **f64)
    b = kid(x, y, generator=g(), method="subsets", **f64)
    c = kid(x, y, generator=g(), max_memory=1 << 12, **f64)  # tiny budget: many batches
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
    a.update(x[:25], real=True)
    a.update(y[:40], real=False)  # noqa: E702
    b.update(x[25:], real=True)
    b.update(y[40:], real=False)  # noqa: E702
    assert a.merge(b).compute() == whole.compute()
    assert whole.compute() == kid(x, y, 4, 20, generator=torch.Generator().manual_seed(1))
    with pytest.raises(RuntimeError, match="both real and fake"):
        KID().compute()
    with pytest.raises(ValueError, match="dimension"):
        whole.update(torch.zeros(3, 4), real=True)


def brute_mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    idx_r: torch.Tensor,
    idx_f: torch.Tensor,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> np.ndarray:
    """The definition in float64 on the given feature values, round by round."""
    xd, yd = x.double().numpy(), y.double().numpy()
    rounds = zip(idx_r.numpy(), idx_f.numpy())
    return np.array([numpy_mmd2(xd[r], yd[f], degree, gamma, coef0) for r, f in rounds])


# adversarial-ish inputs: large norms, offsets (kernel values far from 1), mixed signs, D up to 2048
ADVERSARIAL = [
    # (n, d, scale, offset, degree, gamma, coef0)
    (160, 2048, 1.0, 0.0, 3, None, 1.0),
    (160, 2048, 40.0, 7.0, 3, None, 1.0),
    (150, 257, 1.0, -3.0, 3, None, -0.5),
    (150, 64, 1e3, 0.0, 2, 1e-6, 3.0),
    (140, 33, 1e-3, 1e-3, 4, None, 1.0),
    (140, 1000, 3.0, 1.0, 1, 0.01, 0.0),
]


@pytest.mark.parametrize("method", ["subsets", "full"])
@pytest.mark.parametrize("case", ADVERSARIAL, ids=lambda c: f"d={c[1]}-scale={c[2]}-off={c[3]}-p={c[4]}")
def test_float32_error_bound_holds(case: tuple, method: str) -> None:
    n, d, scale, off, degree, gamma, coef0 = case
    g = torch.Generator().manual_seed(d)
    x = torch.randn(n, d, generator=g) * scale + off
    y = torch.randn(n, d, generator=g) * scale * 1.1 + off * 0.9
    idx_r, idx_f = kid_subset_indices(n, n, 4, 60, torch.Generator().manual_seed(1))
    st: dict = {}
    v32 = mmd2_subsets(x, y, idx_r, idx_f, degree, gamma, coef0, dtype=torch.float32, method=method, stats=st)
    bound = st["error_bound"]
    assert st["method"] == method and bound.shape == (4,) and bool((bound > 0).all())
    # (a) against the float64 path (exact to ~1e-12 relative) and (c) the float64 definition
    st64: dict = {}
    v64 = mmd2_subsets(
        x, y, idx_r, idx_f, degree, gamma, coef0, dtype=torch.float64, method=method, stats=st64
    )
    ref = brute_mmd2(x, y, idx_r, idx_f, degree, gamma, coef0)
    assert bool(((v32 - v64).abs() <= bound).all())
    assert np.all(np.abs(v32.numpy() - ref) <= bound.numpy() + st64["error_bound"].numpy())
    # the float64 path's own bound holds against the definition too
    assert np.all(np.abs(v64.numpy() - ref) <= st64["error_bound"].numpy() + 1e-12 * np.abs(ref).max())


def test_float32_bound_from_float64_inputs_includes_the_cast() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(120, 512, generator=g, dtype=torch.float64) * 5 + 1  # not representable in float32
    y = torch.randn(120, 512, generator=g, dtype=torch.float64) * 5 + 1.2
    idx_r, idx_f = kid_subset_indices(120, 120, 3, 50, torch.Generator().manual_seed(0))
    st: dict = {}
    v32 = mmd2_subsets(x, y, idx_r, idx_f, dtype=torch.float32, stats=st)
    ref = brute_mmd2(x, y, idx_r, idx_f)
    assert np.all(np.abs(v32.numpy() - ref) <= st["error_bound"].numpy())
    st_same: dict = {}
    mmd2_subsets(x.float(), y.float(), idx_r, idx_f, dtype=torch.float32, stats=st_same)
    assert bool((st["error_bound"] > st_same["error_bound"]).all())  # the rounding of the inputs is counted


def test_tolerance_fallback_to_float64() -> None:
    x, y = clouds(200, 200, 64, 0.3, seed=21)
    gen = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    f32 = dict(subsets=60, subset_size=80)
    exact_st: dict = {}
    exact = kid(x, y, generator=gen(), dtype=torch.float64, stats=exact_st, **f32)
    rounds64 = exact_st["rounds"]
    # the default: float32, ceil(60 / 50) = 2 rounds recomputed in float64, their largest difference reported
    st: dict = {}
    out = kid(x, y, generator=gen(), stats=st, **f32)
    assert st["dtype"] == torch.float32 and st["fallback"] is False and len(st["check_rounds"]) == 2
    picked = st["check_rounds"]
    want_diff = float((st["rounds"][picked] - rounds64[picked]).abs().max())
    assert st["check_max_diff"] == pytest.approx(want_diff, rel=1e-6)  # exact: to float64 rounding
    assert 0 < want_diff <= 1e-3 * exact["kid_std"]
    assert abs(out["kid_mean"] - exact["kid_mean"]) <= st["error_bound"]  # and the certified bound holds
    # the criterion itself: fall back when the difference exceeds tol x the std over rounds
    spread = float(st["rounds"].std(correction=0))
    tol_needed = want_diff / spread
    st2: dict = {}
    kid(x, y, generator=gen(), tol=tol_needed * 1.01, stats=st2, **f32)
    st3: dict = {}
    forced = kid(x, y, generator=gen(), tol=tol_needed * 0.99, stats=st3, **f32)
    assert st2["fallback"] is False and st3["fallback"] is True and st3["dtype"] == torch.float64
    assert forced == exact
    # more rounds checked on request; tol=None never falls back; 0 rounds: no check
    st4: dict = {}
    kid(x, y, generator=gen(), tol=None, check_rounds=7, stats=st4, **f32)
    assert len(st4["check_rounds"]) == 7 and st4["fallback"] is False
    st5: dict = {}
    kid(x, y, generator=gen(), tol=0.0, check_rounds=0, stats=st5, **f32)
    assert st5["check_rounds"] == [] and st5["fallback"] is False
    with pytest.raises(ValueError, match="tol"):
        kid(x, y, subsets=2, subset_size=10, tol=-1.0)
    with pytest.raises(ValueError, match="check_rounds"):
        kid(x, y, subsets=2, subset_size=10, check_rounds=-1)


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_cpu_paths_agree_with_the_definition(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the numpy-BLAS rounds (syrk for the diagonal blocks, a thread pool over rounds) and the torch
    # block path give the float64 definition's values; FASTGAN_KID_CPU selects the path
    monkeypatch.setenv("FASTGAN_KID_CPU", path)
    x, y = clouds(150, 140, 16, 0.2, seed=31)
    idx_r, idx_f = kid_subset_indices(150, 140, 9, 40, torch.Generator().manual_seed(3))
    ref = brute_mmd2(x, y, idx_r, idx_f)
    v64 = mmd2_subsets(x, y, idx_r, idx_f, dtype=torch.float64, method="subsets")
    np.testing.assert_allclose(v64.numpy(), ref, rtol=1e-11, atol=1e-13)
    st: dict = {}
    v32 = mmd2_subsets(x, y, idx_r, idx_f, dtype=torch.float32, method="subsets", stats=st)
    assert np.all(np.abs(v32.numpy() - ref) <= st["error_bound"].numpy())
    monkeypatch.setenv("FASTGAN_KID_CPU", "blas")
    with pytest.raises(ValueError, match="FASTGAN_KID_CPU"):
        mmd2_subsets(x, y, idx_r, idx_f, method="subsets")


def test_float32_overflow_falls_back() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(60, 8, generator=g) * 1e20  # x.y overflows the float32 GEMM
    y = torch.randn(60, 8, generator=g) * 1e20
    st: dict = {}
    gen = torch.Generator().manual_seed(0)
    out = kid(x, y, subsets=3, subset_size=20, generator=gen, dtype=torch.float32, stats=st)
    assert st["fallback"] is True and np.isfinite(out["kid_mean"])
    want = kid(x, y, subsets=3, subset_size=20, generator=torch.Generator().manual_seed(0))
    assert out == want


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_union_and_symmetric_paths_on_partial_and_repeated_rows(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rounds covering part of the rows (the union is a strict subset), rows repeated within a
    # round (indices given directly), several row blocks and tiles (BLOCK_ROWS made small)
    monkeypatch.setattr(kb, "BLOCK_ROWS", 16)
    x, y = clouds(300, 250, 24, 0.2, seed=22)
    g = torch.Generator().manual_seed(3)
    idx_r = torch.randint(0, 120, (5, 50), generator=g)  # repeats, rows >= 120 unused
    idx_f = torch.randint(100, 250, (5, 50), generator=g)
    ref = brute_mmd2(x, y, idx_r, idx_f)
    for method in ("full", "subsets"):
        st: dict = {}
        v = mmd2_subsets(x, y, idx_r, idx_f, dtype=dtype, method=method, stats=st)
        if dtype == torch.float64:
            np.testing.assert_allclose(v.numpy(), ref, rtol=1e-11, atol=1e-12)
        else:
            assert np.all(np.abs(v.numpy() - ref) <= st["error_bound"].numpy())


def test_auto_method_follows_the_cost_model() -> None:
    # few distinct rows, many rounds: one Gram pass over the union is cheaper; many distinct rows: per round
    small = kid_subset_indices(300, 300, 100, 200, torch.Generator().manual_seed(0))
    big = kid_subset_indices(20_000, 20_000, 3, 200, torch.Generator().manual_seed(0))
    for dtype in (torch.float32, torch.float64):
        assert kb.choose_method("auto", *small, 256, dtype, 1 << 30) == "full"
        assert kb.choose_method("auto", *big, 256, dtype, 1 << 30) == "subsets"
        assert kb.choose_method("subsets", *small, 256, dtype, 1 << 30) == "subsets"
    # and the choice is the cheaper of the two modelled costs
    s, m = small[0].shape
    ux, uy = kb.union_size(small[0]), kb.union_size(small[1])
    assert kb.full_cost(s, ux, uy, 256, False) < kb.subsets_cost(s, m, 256, False)
    # too little memory for the union rows: per round
    assert kb.choose_method("auto", *small, 256, torch.float32, 1 << 10) == "subsets"


def test_stats_and_stateful_tol() -> None:
    x, y = clouds(100, 100, 12, 0.3, seed=23)
    st: dict = {}
    kid(
        x,
        y,
        subsets=4,
        subset_size=30,
        generator=torch.Generator().manual_seed(0),
        stats=st,
        dtype=torch.float64,
    )
    assert st["method"] in ("full", "subsets") and st["dtype"] == torch.float64 and st["fallback"] is False
    assert 0 < st["error_bound"] < 1e-9 and st["check_rounds"] == [] and st["check_max_diff"] == 0.0
    m = KID(subsets=4, subset_size=30, seed=0, tol=0.0)  # float32 (default), any difference falls back
    m.update(x, real=True)
    m.update(y, real=False)
    exact = kid(x, y, 4, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert m.compute() == exact and m.last_stats["fallback"] is True
    assert m.last_stats["check_max_diff"] > 0  # float32 rounding was seen, so tol=0 fell back


# ----------------------------------------------------------------------------- presets
def _numpy_rounds(n_real: int, n_fake: int, subsets: int, m: int, draw, fake_first: bool):
    """Subsets as torch-fidelity / clean-fid draw them, written out: one choice per side and round."""
    rr, ff = [], []
    for _ in range(subsets):
        if fake_first:
            ff.append(draw(n_fake, m, replace=False))
            rr.append(draw(n_real, m, replace=False))
        else:
            rr.append(draw(n_real, m, replace=False))
            ff.append(draw(n_fake, m, replace=False))
    return np.stack(rr), np.stack(ff)


def _oracle_kid(x: torch.Tensor, y: torch.Tensor, rr: np.ndarray, ff: np.ndarray) -> tuple[float, float]:
    v = np.array([numpy_mmd2(x.double().numpy()[r], y.double().numpy()[f]) for r, f in zip(rr, ff)])
    return float(v.mean()), float(v.std())


def test_preset_none_is_unchanged() -> None:
    x, y = clouds(70, 60, 8, 0.2, seed=11)
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    base = kid(x, y, 6, 25, generator=g(), dtype=torch.float64)
    assert kid(x, y, 6, 25, generator=g(), preset="pytorch-fid", dtype=torch.float64) == base
    ir, if_ = kid_subset_indices(70, 60, 6, 25, g())
    want = _oracle_kid(x, y, ir.numpy(), if_.numpy())
    np.testing.assert_allclose([base["kid_mean"], base["kid_std"]], want, rtol=1e-12)
    # seed= is the same as a generator seeded with it (default preset)
    assert kid(x, y, 6, 25, seed=4, dtype=torch.float64) == base
    # defaults (subsets 100, subset_size 1000) are the preset's
    with pytest.raises(ValueError, match="subset_size"):
        kid(x, y)


def test_preset_torch_fidelity_rounds_and_values() -> None:
    x, y = clouds(90, 80, 12, 0.3, seed=12)
    rr, ff = _numpy_rounds(90, 80, 9, 30, np.random.RandomState(2020).choice, fake_first=True)
    ir, if_ = kid_subset_indices(90, 80, 9, 30, preset="torch-fidelity")
    assert np.array_equal(ir.numpy(), rr) and np.array_equal(if_.numpy(), ff)
    st: dict = {}
    out = kid(x, y, 9, 30, preset="torch-fidelity", stats=st, dtype=torch.float64)
    np.testing.assert_allclose([out["kid_mean"], out["kid_std"]], _oracle_kid(x, y, rr, ff), rtol=1e-12)
    assert st["subset_size"] == 30
    # another seed
    rr, ff = _numpy_rounds(90, 80, 4, 30, np.random.RandomState(5).choice, fake_first=True)
    np.testing.assert_allclose(
        list(kid(x, y, 4, 30, preset="torch-fidelity", seed=5, dtype=torch.float64).values()),
        _oracle_kid(x, y, rr, ff),
        rtol=1e-12,
    )
    # its rule: a subset larger than a sample count is an error (ValueError naming subset_size)
    with pytest.raises(ValueError, match="subset_size"):
        kid(x, y, 2, 81, preset="torch-fidelity")
    # an explicit generator overrides the preset's numpy RNG (torch draws, fake rows first)
    ir, if_ = kid_subset_indices(90, 80, 3, 30, torch.Generator().manual_seed(1), preset="torch-fidelity")
    g = torch.Generator().manual_seed(1)
    want_f = torch.randperm(80, generator=g)[:30]
    want_r = torch.randperm(90, generator=g)[:30]
    assert torch.equal(if_[0], want_f) and torch.equal(ir[0], want_r)
    with pytest.raises(ValueError, match="seed, generator"):
        kid(x, y, 2, 10, generator=torch.Generator(), seed=1)


def test_preset_clean_fid_global_rng_and_clamp() -> None:
    x, y = clouds(40, 35, 6, 0.2, seed=13)
    # clamp: m = min(N_real, N_fake, subset_size)
    np.random.seed(3)
    rr, ff = _numpy_rounds(40, 35, 5, 35, np.random.choice, fake_first=True)
    np.random.seed(3)
    st: dict = {}
    got = kid(
        x, y, 5, 1000, preset="clean-fid", stats=st, dtype=torch.float64
    )  # seed=None: numpy's global RNG
    assert st["subset_size"] == 35
    after_ours = np.random.randint(1 << 30)
    np.testing.assert_allclose(list(got.values()), _oracle_kid(x, y, rr, ff), rtol=1e-12)
    # the global RNG was advanced exactly as clean-fid advances it
    np.random.seed(3)
    _numpy_rounds(40, 35, 5, 35, np.random.choice, fake_first=True)
    assert np.random.randint(1 << 30) == after_ours
    # seed=s: RandomState(s), identical to the global RNG after np.random.seed(s)
    assert kid(x, y, 5, 1000, preset="clean-fid", seed=3, dtype=torch.float64) == got
    # defaults: 100 rounds
    assert kid(x, y, preset="clean-fid", seed=0, stats=st) and st["rounds"].shape == (100,)
    with pytest.raises(ValueError, match="subset_size"):
        kid(x[:1], y, 2, 10, preset="clean-fid", seed=0)


@pytest.mark.parametrize("preset", ["pytorch-fid", "torch-fidelity", "clean-fid"])
def test_kid_class_follows_preset(preset: str) -> None:
    x, y = clouds(50, 45, 6, 0.2, seed=14)
    m = KID(subsets=4, subset_size=20, preset=preset)
    m.update(x[:20], real=True)
    m.update(x[20:], real=True)
    m.update(y, real=False)
    seed = 2020
    assert m.compute() == kid(x, y, 4, 20, preset=preset, seed=seed)
    assert KID(preset=preset).subsets == 100 and KID(preset=preset).subset_size == 1000
