"""FID: accuracy against independent float64 oracles, statistics merging, stats files, many-FID helpers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import impls

import fastgan.metrics as M
from fastgan.metrics import NegativeFIDWarning, NotPSDWarning, _stats
from fastgan.metrics.frechet import (
    FID,
    FID_RTOL,
    FeatureStats,
    fid,
    fid_from_stats,
    fid_to_standard_normal,
    frechet_distance,
    load_stats,
    save_stats,
)
from fastgan.metrics.frechet_extra import fid_bootstrap, fid_infinity, fid_per_class


def pytorch_fid_formula(x: np.ndarray, y: np.ndarray) -> float:
    """The pytorch-fid / TTUR computation in float64 (np.cov, scipy sqrtm of the product)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def eig_route(x: np.ndarray, y: np.ndarray) -> float:
    """Second oracle: two-pass float64 moments and sqrt of eigenvalues of the (non-symmetric) S1 S2."""
    mu1, mu2 = x.mean(0), y.mean(0)
    xc, yc = x - mu1, y - mu2
    s1 = xc.T @ xc / (len(x) - 1)
    s2 = yc.T @ yc / (len(y) - 1)
    lam = np.linalg.eigvals(s1 @ s2).real
    return float(
        ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(lam, 0, None)).sum()
    )


def features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) @ mix) * scale + shift


# ------------------------------------------------------------------------ accuracy
@pytest.mark.parametrize(
    "n,m,d", [(400, 300, 16), (1000, 800, 64), (60, 40, 64), (500, 30, 64), (20, 500, 48)]
)
@pytest.mark.parametrize("impl", impls())
def test_fid_matches_float64_oracles(n: int, m: int, d: int, impl: str) -> None:
    x = features(n, d, 0)
    y = features(m, d, 1, shift=0.3, scale=1.3)
    got = fid(x, y, impl=impl)
    for oracle in (pytorch_fid_formula, eig_route):
        want = oracle(x.numpy(), y.numpy())
        assert abs(got - want) <= 1e-6 * abs(want), (oracle.__name__, got, want)
    # every exact path gives the same number (when both covariances are singular the Jacobi
    # tier's full path keeps rounding-level eigenvalues, accurate to ~sqrt(eps) relative)
    rel = 1e-8 if max(n, m) <= d else 1e-9
    assert abs(fid(x, y, method="full", impl=impl) - got) <= rel * got
    if min(n, m) <= d + 1:
        assert abs(fid(x, y, method="lowrank") - got) <= 1e-9 * got
    st_x, st_y = FeatureStats.from_features(x), FeatureStats.from_features(y)
    assert abs(fid_from_stats(st_x, st_y, impl=impl) - got) <= rel * got
    assert (
        abs(float(frechet_distance(st_x.mean, st_x.cov, st_y.mean, st_y.cov, impl=impl)) - got) <= rel * got
    )


@pytest.mark.parametrize("n,d", [(2000, 32), (50, 64), (10, 16)])
def test_fid_identical_features_is_zero(n: int, d: int) -> None:
    x = features(n, d, 2)
    x = (x - x.mean(0)) / x.std(0)  # normalised features
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)
    assert fid(x, x, method="full") == pytest.approx(0.0, abs=1e-8)
    assert fid(x.float(), x.float()) == pytest.approx(0.0, abs=1e-8)
    st = FeatureStats.from_features(x)
    assert fid_from_stats(st, st) == pytest.approx(0.0, abs=1e-8)


def test_fid_invariances() -> None:
    x, y = features(300, 24, 3), features(250, 24, 4, shift=0.5)
    base = fid(x, y)
    perm = torch.randperm(300)
    assert fid(x[perm], y) == pytest.approx(base, rel=1e-10)
    assert fid(y, x) == pytest.approx(base, rel=1e-10)
    # equal covariances: FID = ||dmu||^2
    c = torch.linspace(-1, 1, 24, dtype=torch.float64)
    assert fid(x, x + c) == pytest.approx(float(c @ c), rel=1e-9)
    assert float(
        frechet_distance(torch.zeros(3), torch.eye(3), torch.ones(3), torch.eye(3))
    ) == pytest.approx(3.0)


def test_fid_to_standard_normal_closed_form() -> None:
    mu = torch.tensor([0.5, -1.0, 0.0], dtype=torch.float64)
    var = torch.tensor([4.0, 0.25, 1.0], dtype=torch.float64)
    want = float(mu @ mu + ((var.sqrt() - 1) ** 2).sum())
    assert fid_to_standard_normal((mu, torch.diag(var))) == pytest.approx(want, rel=1e-12)
    x = features(40, 64, 5)  # n < d: factor route
    st = FeatureStats.from_features(x)
    zero_mean_eye = (torch.zeros(64, dtype=torch.float64), torch.eye(64, dtype=torch.float64))
    assert fid_to_standard_normal(x) == pytest.approx(fid_from_stats(st, zero_mean_eye), rel=1e-9)
    assert fid_to_standard_normal(st) == pytest.approx(fid_from_stats(st, zero_mean_eye), rel=1e-9)


def test_frechet_distance_not_psd_warns_and_never_negative_beyond_rounding() -> None:
    sigma = torch.diag(torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64))
    with pytest.warns(NotPSDWarning):
        frechet_distance(torch.zeros(3), sigma, torch.zeros(3), torch.eye(3))
    # identical Gaussians: exactly 0, never a tiny negative number
    s = FeatureStats.from_features(features(100, 8, 6))
    assert float(frechet_distance(s.mean, s.cov, s.mean, s.cov)) >= 0.0


# ----------------------------------------------------------------------- low rank
def test_lowrank_gradients() -> None:
    real = FeatureStats.from_features(features(200, 12, 7))
    y = features(6, 12, 8, shift=0.2).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: fid(real, t), (y,))
    x_small = features(5, 12, 9)
    assert torch.autograd.gradcheck(lambda t: fid(x_small, t), (y,))
    # the low-rank gradient equals the gradient of the full D x D path
    out_low = fid(real, y, method="lowrank")
    (g_low,) = torch.autograd.grad(out_low, y)
    out_full = fid(real, y, method="full")
    (g_full,) = torch.autograd.grad(out_full, y)
    assert float(out_low.detach()) == pytest.approx(float(out_full.detach()), rel=1e-10)
    torch.testing.assert_close(g_low, g_full, rtol=1e-6, atol=1e-9)


def test_full_path_gradient() -> None:
    real = FeatureStats.from_features(features(100, 6, 10))
    y = features(40, 6, 11).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: fid(real, t, method="full"), (y,))


def test_lowrank_requires_small_side() -> None:
    with pytest.raises(ValueError, match="lowrank"):
        fid(features(100, 4, 0), features(100, 4, 1), method="lowrank")


# -------------------------------------------------------------------- FeatureStats
def test_stats_merge_split_and_batch_invariance() -> None:
    x = features(1000, 20, 12, shift=1e3)  # large common offset: raw moments would cancel
    whole = FeatureStats.from_features(x)
    xc = x - x.mean(0)
    torch.testing.assert_close(whole.mean, x.mean(0), rtol=1e-14, atol=1e-12)
    torch.testing.assert_close(whole.cov, xc.T @ xc / 999, rtol=1e-12, atol=1e-12)
    cuts = [0, 1, 7, 300, 301, 999, 1000]
    parts = [FeatureStats.from_features(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    merged = FeatureStats()
    for p in reversed(parts):
        merged.merge(p)
    assert merged.count == 1000
    torch.testing.assert_close(merged.mean, whole.mean, rtol=1e-13, atol=1e-11)
    torch.testing.assert_close(merged.cov, whole.cov, rtol=1e-11, atol=1e-11)
    # associativity: (a+b)+c == a+(b+c)
    a, b, c = parts[1], parts[2], parts[4]
    left = a.copy().merge(b).merge(c)
    right = a.copy().merge(b.copy().merge(c))
    torch.testing.assert_close(left.cov, right.cov, rtol=1e-12, atol=1e-12)
    for chunk in (1, 33, 4096):
        s = FeatureStats(chunk_rows=chunk).update(x)
        torch.testing.assert_close(s.cov, whole.cov, rtol=1e-11, atol=1e-11)
    batched = FeatureStats()
    for i in range(0, 1000, 128):
        batched.update(x[i : i + 128])
    assert fid_from_stats(batched, whole) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_stats_low_precision_inputs_accumulate_in_float64(dtype: torch.dtype) -> None:
    x = features(300, 8, 13).to(dtype)
    s = FeatureStats().update(x)
    ref = x.double()
    assert s.mean.dtype == torch.float64
    torch.testing.assert_close(s.cov, torch.cov(ref.T), rtol=1e-12, atol=1e-12)


def test_stats_oom_halves_chunk(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    x = features(500, 10, 14)
    real_update = _stats.scatter_update
    calls = {"n": 0}

    def flaky(m2: torch.Tensor, xc: torch.Tensor) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1 bytes")
        real_update(m2, xc)

    monkeypatch.setattr(_stats, "scatter_update", flaky)
    s = FeatureStats(chunk_rows=256)
    with caplog.at_level("WARNING"):
        s.update(x)
    assert s.chunk_rows == 128 and "out of memory" in caplog.text
    torch.testing.assert_close(s.cov, torch.cov(x.T), rtol=1e-12, atol=1e-12)
    # other errors are not swallowed
    monkeypatch.setattr(
        _stats, "scatter_update", lambda m2, xc: (_ for _ in ()).throw(RuntimeError("shape bug"))
    )
    with pytest.raises(RuntimeError, match="shape bug"):
        FeatureStats().update(x)


def test_stats_state_dict_roundtrip_and_from_moments() -> None:
    s = FeatureStats.from_features(features(50, 5, 15))
    t = FeatureStats()
    t.load_state_dict(s.state_dict())
    assert t.count == 50
    torch.testing.assert_close(t.cov, s.cov)
    u = FeatureStats.from_moments(50, s.mean, s.cov)
    torch.testing.assert_close(u.cov, s.cov)
    with pytest.raises(KeyError):
        t.load_state_dict({"count": 1})


def test_bad_inputs() -> None:
    x = features(10, 4, 16)
    bad = x.clone()
    bad[2, 1] = float("nan")
    bad[5, 3] = float("inf")
    with pytest.raises(ValueError, match="2 non-finite"):
        FeatureStats().update(bad)
    with pytest.raises(ValueError, match="2 non-finite"):
        fid(x, bad)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        fid(x, features(10, 5, 0))
    with pytest.raises(ValueError, match="does not match"):
        FeatureStats().update(x).update(features(10, 5, 0))
    with pytest.raises(ValueError, match="at least 2"):
        fid(x[:1], x)
    with pytest.raises(ValueError, match="2-D"):
        fid(x[0], x)
    with pytest.raises(TypeError, match="floating"):
        fid(x.long(), x)
    with pytest.raises(ValueError, match="at least 2"):
        _ = FeatureStats().update(x[:1]).cov
    with pytest.raises(ValueError, match=r"\[D, D\]"):
        frechet_distance(torch.zeros(3), torch.eye(4), torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))


# ------------------------------------------------------------------ stats files
def test_stats_file_roundtrip(tmp_path: Path) -> None:
    s = FeatureStats.from_features(features(30, 6, 17))
    p = tmp_path / "ref_stats.npz"
    save_stats(p, s)
    back = load_stats(p)
    assert isinstance(back, FeatureStats) and back.count == 30
    torch.testing.assert_close(back.cov, s.cov, rtol=0, atol=0)
    with np.load(p, allow_pickle=False) as f:  # what pytorch-fid reads
        assert f["mu"].dtype == np.float64 and f["sigma"].shape == (6, 6)
    # a pytorch-fid style file (mu, sigma only) loads as FeatureStats without a count, scores the same
    q = tmp_path / "pfid.npz"
    np.savez(q, mu=s.mean.numpy().astype(np.float32), sigma=s.cov.numpy())
    st = load_stats(q)
    assert isinstance(st, FeatureStats) and st.count is None and not st.count_known
    mu, sigma = st.mean, st.cov
    assert mu.dtype == torch.float64
    torch.testing.assert_close(sigma, s.cov, rtol=0, atol=0)
    assert fid_from_stats(str(q), s) == pytest.approx(0.0, abs=1e-6)
    save_stats(tmp_path / "tuple.npz", (mu, sigma))
    back2 = load_stats(tmp_path / "tuple.npz")
    assert isinstance(back2, FeatureStats) and back2.count is None
    save_stats(tmp_path / "again.npz", back2)  # no count to write: still no "n"
    with np.load(tmp_path / "again.npz", allow_pickle=False) as f:
        assert "n" not in f.files
    # statistics without a count cannot absorb samples (the merge weights are the counts)
    with pytest.raises(ValueError, match="no sample count"):
        back2.update(torch.zeros(3, 6))
    with pytest.raises(ValueError, match="no sample count"):
        s.copy().merge(back2)
    restored = FeatureStats()
    restored.load_state_dict(back2.state_dict())
    assert restored.count is None
    torch.testing.assert_close(restored.cov, back2.cov, rtol=0, atol=0)


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"mu": np.zeros(3)}, "missing key"),
        ({"mu": np.zeros((3, 1)), "sigma": np.eye(3)}, "1-D"),
        ({"mu": np.zeros(3), "sigma": np.eye(4)}, r"\[D, D\]"),
        ({"mu": np.zeros(3), "sigma": np.ones(3)}, r"\[D, D\]"),
        ({"mu": np.array([0.0, np.nan, 0.0]), "sigma": np.eye(3)}, "non-finite"),
        ({"mu": np.zeros(3, dtype=np.int64), "sigma": np.eye(3)}, "floating"),
        ({"mu": np.zeros(3), "sigma": np.eye(3), "n": np.asarray(1)}, ">= 2"),
    ],
)
def test_stats_file_validation(tmp_path: Path, arrays: dict, match: str) -> None:
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(ValueError, match=match):
        load_stats(p)


def test_indefinite_or_asymmetric_covariance_is_refused_by_name(tmp_path: Path) -> None:
    """Issue 23 case 2: sigma = diag(4, -3) gave FID -1.0 and sigma = -I gave 0.0, silently."""
    mu = np.zeros(2)
    cases = [
        (
            np.diag([4.0, -3.0]),
            r"not positive semi-definite: most negative eigenvalue -3 \(largest \|eigenvalue\| 4",
        ),
        (-np.eye(2), "most negative eigenvalue -1 "),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), r"not symmetric \(max \|S - S\^T\| = 0.5"),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), "non-finite"),
    ]
    for i, (sigma, match) in enumerate(cases):
        p = tmp_path / f"bad{i}.npz"
        np.savez(p, mu=mu, sigma=sigma)
        with pytest.raises(ValueError, match=f"^load_stats: {p}: 'sigma'.*{match}") as info:
            load_stats(p)
        assert "\n" not in str(info.value)
        # the same moments given in memory are refused under their argument's name
        if np.isfinite(sigma).all():
            with pytest.raises(ValueError, match=f"^sigma \\(s2\\): .*{match}"):
                fid_from_stats((mu, np.eye(2)), (mu, sigma))
            with pytest.raises(ValueError, match=f"^sigma \\(real_stats\\): .*{match}"):
                FID(real_stats=(mu, sigma))
            with pytest.raises(ValueError, match=f"^cov: .*{match}"):
                FeatureStats.from_moments(None, mu, sigma)
            with pytest.raises(ValueError, match=f"^sigma \\(real_features\\): .*{match}"):
                fid((torch.zeros(2), torch.as_tensor(sigma)), torch.randn(10, 2))


def test_rounding_level_negative_eigenvalues_are_accepted(tmp_path: Path) -> None:
    """Singular covariances (n <= D) have eigenvalues ~-1e-15 (float64) or ~-1e-8 (float32) of the
    largest: within the check's tolerance (PSD_RTOL), so real statistics files still load."""
    x = features(30, 64, 40) * 3 + 100
    st = FeatureStats.from_features(x)
    assert float(torch.linalg.eigvalsh(st.cov)[0]) < 0  # rounding-level, as in real files
    for dtype in (np.float64, np.float32):
        p = tmp_path / f"singular-{np.dtype(dtype).name}.npz"
        np.savez(
            p,
            mu=st.mean.numpy().astype(dtype),
            sigma=np.cov(x.numpy().astype(dtype), rowvar=False).astype(dtype),
        )
        got = load_stats(p)
        torch.testing.assert_close(got.cov, st.cov, rtol=1e-3, atol=1e-3)
    # just beyond the tolerance is refused, just within it accepted
    lam = torch.tensor([1.0, 0.5, -0.5 * _stats.PSD_RTOL[torch.float64]], dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
    within = q @ torch.diag(lam) @ q.T
    _stats.check_covariance(0.5 * (within + within.T), "x")
    lam[2] = -3 * _stats.PSD_RTOL[torch.float64]
    beyond = q @ torch.diag(lam) @ q.T
    with pytest.raises(ValueError, match="^x: not positive semi-definite"):
        _stats.check_covariance(0.5 * (beyond + beyond.T), "x")


def test_finite_check_sum_shortcut() -> None:
    from fastgan._checks import check_finite

    # finite entries whose sum overflows: the count decides, nothing is raised
    check_finite(torch.full((4,), 3e38, dtype=torch.float32), "x")
    check_finite(torch.empty(0), "x")
    # +inf and -inf cancel to NaN in the sum; each kind alone overflows it
    for vals, count in (
        ([float("inf"), float("-inf"), 1.0], 2),
        ([float("inf"), 1.0], 1),
        ([float("nan")], 1),
    ):
        with pytest.raises(ValueError, match=f"x: contains {count} non-finite"):
            check_finite(torch.tensor(vals), "x")


def test_stats_file_corrupt_truncated_pickled(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    save_stats(good, (torch.zeros(4), torch.eye(4)))
    data = good.read_bytes()
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="trunc.npz"):
        load_stats(trunc)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00not a zip file at all" * 10)
    with pytest.raises(ValueError):
        load_stats(junk)
    pick = tmp_path / "pickled.npz"
    np.savez(pick, mu=np.array([object()], dtype=object), sigma=np.eye(1))
    with pytest.raises(ValueError, match="pickle"):
        load_stats(pick)
    with pytest.raises(FileNotFoundError):
        load_stats(tmp_path / "missing.npz")


# ---------------------------------------------------------------- FID class + many-FID
def test_fid_class() -> None:
    x, y = features(300, 10, 18), features(200, 10, 19, shift=0.4)
    m = FID()
    for i in range(0, 300, 70):
        m.update(x[i : i + 70], real=True)
    m.update(y[:120], real=False)
    other = FID()
    other.update(y[120:], real=False)
    m.merge(other)
    assert m.compute() == pytest.approx(fid(x, y), rel=1e-10)
    fixed = FID(real_stats=(FeatureStats.from_features(x).mean, FeatureStats.from_features(x).cov))
    fixed.update(y, real=False)
    assert fixed.compute() == pytest.approx(fid(x, y), rel=1e-10)
    with pytest.raises(ValueError, match="fixed"):
        fixed.update(x, real=True)
    state = m.state_dict()
    m.reset()
    assert m.fake.count == 0 and m.real.count == 0
    m.load_state_dict(state)
    assert m.compute() == pytest.approx(fid(x, y), rel=1e-10)
    m.reset(real=False)
    assert m.real.count == 300
    with pytest.raises(ValueError, match="fake"):
        m.compute()


def test_fid_bootstrap() -> None:
    x, y = features(400, 6, 20), features(300, 6, 21, shift=0.3)
    out1 = fid_bootstrap(x, y, n_bootstrap=30, generator=torch.Generator().manual_seed(1))
    out2 = fid_bootstrap(x, y, n_bootstrap=30, generator=torch.Generator().manual_seed(1))
    assert out1 == out2
    assert set(out1) == {"fid", "fid_low", "fid_high"} and all(type(v) is float for v in out1.values())
    point, low, high = out1["fid"], out1["fid_low"], out1["fid_high"]
    assert point == pytest.approx(fid(x, y))
    assert low < high and low <= point * 1.5 and high >= point * 0.5
    # the multiplicity-weighted statistics equal the statistics of the explicit resample
    idx = torch.randint(400, (400,), generator=torch.Generator().manual_seed(2))
    w = torch.bincount(idx, minlength=400).double()
    from fastgan.metrics.frechet_extra import _weighted_stats

    mean, cov = _weighted_stats(x, w)
    direct = FeatureStats.from_features(x[idx])
    torch.testing.assert_close(mean, direct.mean)
    torch.testing.assert_close(cov, direct.cov)


def test_fid_per_class() -> None:
    x, y = features(600, 5, 22), features(450, 5, 23, shift=0.2)
    lx, ly = torch.arange(600) % 3, torch.arange(450) % 3
    out = fid_per_class(x, lx, y, ly)
    for c in range(3):
        assert out["per_class"][c] == pytest.approx(fid(x[lx == c], y[ly == c]), rel=1e-10)
    assert out["mean"] == pytest.approx(np.mean([out["per_class"][c] for c in range(3)]))
    with pytest.raises(ValueError, match="one side only"):
        fid_per_class(x, lx, y, torch.zeros(450, dtype=torch.long))


def test_fid_infinity() -> None:
    x, y = features(3000, 8, 24), features(2000, 8, 25, shift=0.1)
    sizes = [200, 500, 1000, 2000]
    fit = fid_infinity(x, y, sizes=sizes, generator=torch.Generator().manual_seed(3), return_fit=True)
    g = torch.Generator().manual_seed(3)
    real = FeatureStats.from_features(x)
    direct = [
        fid_from_stats(real, FeatureStats.from_features(y[torch.randperm(2000, generator=g)[:s]]))
        for s in sizes
    ]
    np.testing.assert_allclose(fit["fids"], direct, rtol=1e-10)
    slope, intercept = np.polyfit(1.0 / np.array(sizes), direct, 1)
    assert fit["fid_inf"] == pytest.approx(intercept, rel=1e-8, abs=1e-10)
    assert fit["slope"] == pytest.approx(slope, rel=1e-8)
    assert fid_infinity(real, y, sizes=sizes, generator=torch.Generator().manual_seed(3)) == pytest.approx(
        intercept
    )
    with pytest.raises(ValueError, match="exceeds"):
        fid_infinity(x, y, sizes=[10, 5000])


def test_metrics_namespace_exports() -> None:
    for name in (
        "FeatureStats",
        "fid",
        "fid_from_stats",
        "frechet_distance",
        "fid_to_standard_normal",
        "save_stats",
        "load_stats",
        "fid_bootstrap",
        "fid_per_class",
        "fid_infinity",
        "FID",
        "Metric",
        "NotPSDWarning",
        "NegativeFIDWarning",
    ):
        assert getattr(M, name) is not None
    assert (
        M.KEY_FID == "fid" and M.NotPSDWarning is NotPSDWarning and M.NegativeFIDWarning is NegativeFIDWarning
    )


def test_return_types() -> None:
    x, y = features(100, 6, 28), features(90, 6, 29, shift=0.2)
    st_x, st_y = FeatureStats.from_features(x), FeatureStats.from_features(y)
    for value in (
        fid(x, y),
        fid(x, y, method="full"),
        fid_from_stats(st_x, st_y),
        fid_to_standard_normal(x),
        frechet_distance(st_x.mean, st_x.cov, st_y.mean, st_y.cov),
    ):
        assert type(value) is float
    mu = st_y.mean.clone().requires_grad_()
    out = frechet_distance(st_x.mean, st_x.cov, mu, st_y.cov)
    assert isinstance(out, torch.Tensor) and out.dim() == 0 and out.requires_grad
    out = fid(st_x, y.clone().requires_grad_())
    assert isinstance(out, torch.Tensor) and out.requires_grad


@pytest.mark.cuda
def test_fid_cuda_matches_cpu() -> None:
    x, y = features(500, 40, 26), features(400, 40, 27, shift=0.2)
    got = fid(x.cuda().float(), y.cuda().float())
    assert got == pytest.approx(fid(x.float(), y.float()), rel=1e-9)
    s = FeatureStats().update(x.cuda())
    assert s.device.type == "cuda"
    torch.testing.assert_close(s.cov.cpu(), torch.cov(x.T), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------- singular covariances (n <= D)
def nuclear_oracle(x: np.ndarray, y: np.ndarray) -> float:
    """Float64 FID with ``tr sqrt(S1 S2) = ||Xc Yc^T||_* / sqrt((n-1)(m-1))`` (numpy SVD): exact for
    singular covariances, where square roots of rounding-level eigenvalues would cost sqrt(eps)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    tsp = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / math.sqrt((len(x) - 1) * (len(y) - 1))
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + (xc * xc).sum() / (len(x) - 1) + (yc * yc).sum() / (len(y) - 1) - 2.0 * tsp)


def decaying_relu_features(n: int, d: int, seed: int) -> torch.Tensor:
    """ReLU features with a power-law spectrum (like CNN embeddings: many tiny eigenvalues)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(99), dtype=torch.float64))[
        0
    ]
    scale = 3.0 * torch.arange(1, d + 1, dtype=torch.float64) ** -0.75
    return ((torch.randn(n, d, generator=g, dtype=torch.float64) * scale) @ q).clamp_min(0)


@pytest.mark.parametrize("cancel", [False, True])
def test_fid_singular_covariances_match_nuclear_oracle(cancel: bool) -> None:
    d, n, m = 192, 150, 140  # both covariances singular; D >= 128 takes the LAPACK drivers
    x = decaying_relu_features(n, d, 21)
    if cancel:  # FID ~ 1e-4 of the trace terms: the bound forces refinement / the SVD route
        g = torch.Generator().manual_seed(23)
        y = x[:m] + 1e-3 * torch.randn(m, d, generator=g, dtype=torch.float64)
    else:
        y = decaying_relu_features(m, d, 22) * 1.05 + 0.01
    want = nuclear_oracle(x.numpy(), y.numpy())
    got = fid(x, y)
    assert abs(got - want) <= FID_RTOL * abs(want), (got, want)
    sx, sy = FeatureStats.from_features(x), FeatureStats.from_features(y)
    for value in (
        fid_from_stats(sx, sy),
        frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov),
        fid(sx, y),  # covariance against a factor
        fid(x, sy),
    ):
        assert abs(value - want) <= FID_RTOL * abs(want), (value, want)


def test_fid_singular_one_side_full_rank() -> None:
    d = 160
    x = decaying_relu_features(100, d, 24)  # singular
    y = decaying_relu_features(800, d, 25) + 0.05  # full rank
    want = nuclear_oracle(x.numpy(), y.numpy())
    sx, sy = FeatureStats.from_features(x), FeatureStats.from_features(y)
    assert abs(frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov) - want) <= FID_RTOL * abs(want)
    assert abs(frechet_distance(sy.mean, sy.cov, sx.mean, sx.cov) - want) <= FID_RTOL * abs(want)
    assert abs(fid(x, y) - want) <= FID_RTOL * abs(want)


def test_fid_to_standard_normal_few_samples() -> None:
    d = 160
    x = decaying_relu_features(100, d, 26)
    xn = x.numpy()
    xc = xn - xn.mean(0)
    want = float(
        xn.mean(0) @ xn.mean(0)
        + (xc * xc).sum() / 99
        + d
        - 2.0 * np.linalg.svd(xc, compute_uv=False).sum() / math.sqrt(99)
    )
    assert abs(fid_to_standard_normal(x) - want) <= FID_RTOL * abs(want)
