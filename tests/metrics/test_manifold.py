"""precision / recall / density / coverage / realism score (fastgan.metrics.manifold).

Checked against (1) an independent float64 brute-force oracle (numpy, full matrices),
(2) hand-derived geometric cases, (3) the ``prdc`` package (strict ``<``), and properties.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastgan.metrics import PRDC, density_coverage, knn, prdc, precision_recall, realism_score
from fastgan.metrics.knn import torch_engine

IMPLS = ["torch"] + (["faiss"] if knn.faiss_module() is not None else [])


# ----------------------------------------------------------------------------- oracle


def sqdist64(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.stack([((a[i][None, :] - b) ** 2).sum(1) for i in range(len(a))])


def kth_other(d_self, k):
    d = d_self.copy()
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def oracle_prdc(real, fake, k_pr, k_dc, strict=False):
    """Kynkaanniemi (P/R) and Naeem (D/C) in float64, by the definitions, on Euclidean distances."""
    dxx = np.sqrt(sqdist64(real, real))
    dyy = np.sqrt(sqdist64(fake, fake))
    dxy = np.sqrt(sqdist64(real, fake))
    le = (lambda a, b: a < b) if strict else (lambda a, b: a <= b)
    out = {}
    if k_pr:
        r = kth_other(dxx, k_pr)
        s = kth_other(dyy, k_pr)
        out["precision"] = float(np.mean([le(dxy[:, j], r).any() for j in range(len(fake))]))
        out["recall"] = float(np.mean([le(dxy[i, :], s).any() for i in range(len(real))]))
    if k_dc:
        r = kth_other(dxx, k_dc)
        out["density"] = float(sum(le(dxy[:, j], r).sum() for j in range(len(fake))) / (k_dc * len(fake)))
        out["coverage"] = float(np.mean(le(dxy.min(1), r)))
    return out


def oracle_realism(real, samples, k, prune=True, squared=False, eps=1e-5):
    r2 = kth_other(sqdist64(real, real), k)
    if prune:
        keep = r2 <= np.percentile(r2, 50)
    else:
        keep = np.ones(len(real), bool)
    keep &= r2 > 0
    d2 = sqdist64(samples, real[keep])
    if squared:
        return (r2[keep][None, :] / (d2 + eps)).max(1)
    with np.errstate(divide="ignore"):
        return (np.sqrt(r2[keep])[None, :] / np.sqrt(d2)).max(1)


def _data(seed, n=160, m=140, d=24, shift=0.15, scale=1.1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), (rng.normal(size=(m, d)) * scale + shift).astype(
        np.float32
    )


# ----------------------------------------------------------------------------- oracle agreement


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_prdc_equals_oracle(impl, strict, seed):
    real, fake = _data(seed)
    got = prdc(real, fake, k=5, strict=strict, impl=impl, block_size=31)
    assert got == oracle_prdc(real, fake, 5, 5, strict)


@pytest.mark.parametrize("impl", IMPLS)
def test_precision_recall_and_density_coverage_equal_oracle(impl):
    real, fake = _data(2, n=120, m=100)
    assert precision_recall(real, fake, impl=impl) == oracle_prdc(real, fake, 3, None)
    assert density_coverage(real, fake, impl=impl) == oracle_prdc(real, fake, None, 5)
    assert precision_recall(real, fake, k=4, impl=impl) == oracle_prdc(real, fake, 4, None)


ADVERSARIAL = {
    # integer grid: every distance is an integer, radii tie with many real-fake distances
    "grid": lambda rng: (
        np.stack(np.meshgrid(np.arange(7), np.arange(7)), -1).reshape(-1, 2).astype(np.float32),
        (np.stack(np.meshgrid(np.arange(7), np.arange(7)), -1).reshape(-1, 2)[::2] + np.array([1, 0])).astype(
            np.float32
        ),
    ),
    "duplicates": lambda rng: (
        np.repeat(rng.integers(0, 3, size=(30, 4)), 2, axis=0).astype(np.float32),
        rng.integers(0, 3, size=(40, 4)).astype(np.float32),
    ),
    "offset_1000": lambda rng: (
        (rng.normal(size=(120, 32)) + 1000).astype(np.float32),
        (rng.normal(size=(100, 32)) * 1.05 + 1000.1).astype(np.float32),
    ),
    "large_norm_close_pairs": lambda rng: (
        (rng.normal(size=(100, 16)) * 1e-3 + 3e3).astype(np.float32),
        (rng.normal(size=(90, 16)) * 1e-3 + 3e3).astype(np.float32),
    ),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_prdc_adversarial_equals_oracle(impl, strict, name):
    real, fake = ADVERSARIAL[name](np.random.default_rng(4))
    for k in (1, 3, 5):
        got = prdc(real, fake, k=k, strict=strict, impl=impl, block_size=16)
        assert got == oracle_prdc(real, fake, k, k, strict), (name, k)


def test_grid_ties_make_conventions_differ():
    real, fake = ADVERSARIAL["grid"](None)
    le = prdc(real, fake, k=1)
    lt = prdc(real, fake, k=1, strict=True)
    assert le["density"] > lt["density"]


def test_impls_agree_with_each_other():
    real, fake = _data(9, n=200, m=180, d=40)
    results = [prdc(real, fake, impl=b) for b in IMPLS]
    assert all(r == results[0] for r in results)


def test_devices_dtypes_and_numpy_inputs():
    real, fake = _data(5, n=90, m=80, d=10)
    ref = prdc(real, fake, k=3)
    assert prdc(torch.from_numpy(real), torch.from_numpy(fake), k=3) == ref
    # float64 input: the oracle sees the same float64 values
    r64, f64 = real.astype(np.float64) / 3, fake.astype(np.float64) / 3
    assert prdc(r64, f64, k=3) == oracle_prdc(r64, f64, 3, 3)
    r16 = torch.from_numpy(real).half()
    f16 = torch.from_numpy(fake).half()
    assert prdc(r16, f16, k=3) == oracle_prdc(r16.double().numpy(), f16.double().numpy(), 3, 3)


# ----------------------------------------------------------------------------- hand-derived cases


def test_points_on_a_line():
    real = np.arange(5, dtype=np.float32)[:, None]  # 0..4, k=1 radii all 1
    fake = np.array([[0.5], [10.0]], dtype=np.float32)  # radii (k=1) among fakes: 9.5
    got = prdc(real, fake, k=1)
    # precision: 0.5 is inside B(0,1) and B(1,1); 10 is in no ball -> 1/2
    # recall: every real point is within 9.5 of 0.5 -> 1
    # density: 0.5 lies in 2 balls, 10 in none -> 2 / (1 * 2) = 1
    # coverage: reals 0 and 1 have a fake within radius 1 -> 2/5
    assert got == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.4}


def test_boundary_point_depends_on_strictness():
    real = np.arange(5, dtype=np.float32)[:, None]  # radii 1 (k=1)
    fake = np.array([[5.0], [7.0]], dtype=np.float32)  # 5 is exactly radius 1 from 4
    assert precision_recall(real, fake, k=1)["precision"] == 0.5
    assert precision_recall(real, fake, k=1, strict=True)["precision"] == 0.0
    dc = density_coverage(real, fake, k=1)
    assert dc == {"density": 0.5, "coverage": 0.2}
    assert density_coverage(real, fake, k=1, strict=True) == {"density": 0.0, "coverage": 0.0}


def test_square_grid():
    # unit 4x4 grid, k=4: each radius is the 4th smallest distance to the others
    # interior points: 4 neighbours at 1 -> r = 1; corners: 1,1,sqrt2,2 -> r = 2; edges: 1,1,1,sqrt2 -> sqrt2
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(4)), -1).reshape(-1, 2).astype(np.float32)
    fake = np.array([[1.5, 1.5], [-2.0, -2.0]], dtype=np.float32)
    # (1.5,1.5) is at sqrt(0.5) from the 4 interior points (r=1) and farther than sqrt2 from edges
    # distance from (1.5,1.5) to edge (0,1): sqrt(2.25+0.25)=1.58 > sqrt2; to corner (0,0): 2.12 > 2
    # (-2,-2) to corner (0,0): 2.83 > 2 -> outside everything
    got = density_coverage(grid, fake, k=4)
    assert got == {"density": 4 / (4 * 2), "coverage": 4 / 16}


def test_identical_sets():
    x = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    got = prdc(x, x, k=3)
    assert got["precision"] == got["recall"] == got["coverage"] == 1.0
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}


def test_disjoint_sets():
    x = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    assert prdc(x, x + 100, k=3) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


# ----------------------------------------------------------------------------- the prdc package


def test_matches_prdc_package_on_random_data(capsys):
    prdc_pkg = pytest.importorskip("prdc")
    real, fake = _data(8, n=150, m=130, d=20)
    theirs = prdc_pkg.compute_prdc(real, fake, nearest_k=5)
    capsys.readouterr()  # it prints sizes
    ours_strict = prdc(real, fake, k=5, strict=True)
    ours = prdc(real, fake, k=5)
    for key in ours:
        # no ties on random data: both conventions coincide with the package
        assert ours_strict[key] == pytest.approx(float(theirs[key]), abs=0)
        assert ours[key] == pytest.approx(float(theirs[key]), abs=0)


def test_prdc_package_uses_strict_inequality(capsys):
    prdc_pkg = pytest.importorskip("prdc")
    # integer grid: the package's float64 expanded distances are exact here, so only the
    # convention differs: its '<' equals our strict=True and differs from our default '<='
    real, fake = ADVERSARIAL["grid"](None)
    theirs = prdc_pkg.compute_prdc(real.astype(np.float64), fake.astype(np.float64), nearest_k=2)
    capsys.readouterr()
    ours_strict = prdc(real, fake, k=2, strict=True)
    ours = prdc(real, fake, k=2)
    for key in ours:
        assert ours_strict[key] == float(theirs[key])
    assert ours["density"] != float(theirs["density"])


# ----------------------------------------------------------------------------- realism score


@pytest.mark.parametrize("prune", [True, False])
@pytest.mark.parametrize("squared", [False, True])
def test_realism_equals_oracle(prune, squared):
    real, fake = _data(3, n=130, m=40, d=12)
    got = realism_score(real, fake, k=3, prune=prune, squared=squared, block_size=9).numpy()
    want = oracle_realism(real, fake, 3, prune=prune, squared=squared)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_realism_hand_case_and_ball_consistency():
    real = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)  # k=1 radii: 1, 1, 2
    samples = np.array([[0.5], [10.0], [1.0]], dtype=np.float32)
    got = realism_score(real, samples, k=1, prune=False).numpy()
    # 0.5: max(1/0.5, 1/0.5, 2/2.5) = 2;  10: max(1/10, 1/9, 2/7) = 2/7;  1.0 coincides with x=1 -> inf
    np.testing.assert_allclose(got, [2.0, 2 / 7, np.inf])
    # pruning keeps radii <= median (1): x=3 is dropped -> 10 scores max(1/10, 1/9)
    np.testing.assert_allclose(realism_score(real, samples[1:2], k=1).numpy(), [1 / 9])
    # R >= 1 exactly when the sample lies in an (unpruned) ball, i.e. precision membership
    real2, fake2 = _data(12, n=80, m=60, d=5)
    score = realism_score(real2, fake2, k=3, prune=False).numpy()
    assert np.mean(score >= 1) == precision_recall(real2, fake2, k=3)["precision"]


# ----------------------------------------------------------------------------- errors


def test_errors_are_clear():
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="k: needs k < number of real samples"):
        prdc(x, x, k=10)
    with pytest.raises(ValueError, match="k: needs k < number of fake samples"):
        precision_recall(x, x[:3], k=3)
    with pytest.raises(ValueError, match="real: needs at least 1 sample"):
        prdc(x[:0], x)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        prdc(x, x[:, :3])
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="fake: contains 1 non-finite"):
        prdc(x, bad)
    with pytest.raises(TypeError, match="floating dtype"):
        prdc(x.astype(np.int64), x)
    with pytest.raises(ValueError, match="impl"):
        prdc(x, x, k=2, impl="annoy")
    with pytest.raises(TypeError, match="k: expected an integer"):
        density_coverage(x, x, k=2.5)
    with pytest.raises(ValueError, match="k: must be >= 1"):
        precision_recall(x, x, k=0)
    with pytest.raises(ValueError, match="expected a 2-D tensor"):
        prdc(x[0], x)
    with pytest.raises(ValueError, match="samples: needs at least 1"):
        realism_score(x, x[:0])


# ----------------------------------------------------------------------------- class, progress


def test_prdc_class_batches_and_reset():
    real, fake = _data(6, n=70, m=64, d=8)
    metric = PRDC(k=4)
    for i in range(0, 70, 9):
        metric.update(torch.from_numpy(real[i : i + 9]), real=True)
    for i in range(0, 64, 16):
        metric.update(fake[i : i + 16], real=False)
    assert metric.compute() == prdc(real, fake, k=4)
    metric.reset()
    with pytest.raises(ValueError, match="real bank is empty"):
        metric.compute()


def test_progress_bar_forced(capsys):
    real, fake = _data(1, n=40, m=40, d=4)
    prdc(real, fake, k=3, progress=True)
    assert "prdc" in capsys.readouterr().err
    prdc(real, fake, k=3, progress=False)
    assert capsys.readouterr().err == ""


def test_stats_report_impl_and_refinement():
    # on the integer grid many fakes sit exactly on sphere boundaries: those pairs (and the
    # radii of their rows) cannot be certified in float32 and must be refined in float64
    real, fake = ADVERSARIAL["grid"](None)
    info: dict = {}
    prdc(real, fake, k=2, stats=info)
    assert info["impl"] == "torch"
    assert info["cross_refined"] > 0 and info["knn_candidates"] > 0


# ----------------------------------------------------------------------------- properties

_small = hnp.arrays(
    np.float32,
    st.tuples(st.integers(6, 14), st.integers(1, 3)),
    elements=st.integers(-3, 3).map(float),  # small integers: exact ties are common
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(real=_small, fake=_small, k=st.integers(1, 4), strict=st.booleans())
def test_property_oracle_and_ranges(real, fake, k, strict):
    if real.shape[1] != fake.shape[1]:
        fake = np.resize(fake, (fake.shape[0], real.shape[1])).astype(np.float32)
    got = prdc(real, fake, k=k, strict=strict)
    assert got == oracle_prdc(real, fake, k, k, strict)
    for key in ("precision", "recall", "coverage"):
        assert 0.0 <= got[key] <= 1.0
    assert 0.0 <= got["density"] <= len(real) / k


@settings(max_examples=20, deadline=None)
@given(x=_small, k=st.integers(1, 4))
def test_property_identical_sets_score_one(x, k):
    got = prdc(x, x, k=k)
    assert got["precision"] == got["recall"] == got["coverage"] == 1.0


# ----------------------------------------------------------------------------- large


@pytest.mark.slow
def test_100k_impls_agree_and_sane():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(100_000, 64, generator=g)
    fake = torch.randn(100_000, 64, generator=g) * 1.02 + 0.01
    info: dict = {}
    got = prdc(real, fake, k=5, stats=info)
    for key in ("precision", "recall", "coverage"):
        assert 0.5 < got[key] <= 1.0
    # a random sub-sample of fakes checked against the brute-force oracle for precision membership
    r2 = torch_engine.knn_sqradii_torch(real, [5])[0].numpy()
    idx = torch.randperm(100_000, generator=g)[:20]
    d = sqdist64(real.numpy(), fake[idx].numpy())
    member = (d <= r2[:, None]).any(0)
    counts = torch_engine.cross_ball_stats_torch(real, fake[idx], torch.from_numpy(r2), None)[
        "count_y"
    ].numpy()
    np.testing.assert_array_equal(counts > 0, member)


# ----------------------------------------------------------------------------- presets


@pytest.mark.parametrize("preset", [None, "pytorch-fid", "torch-fidelity", "clean-fid"])
def test_presets_pin_k_and_ball_rule(preset):
    """Every preset: precision / recall with k = 3 and <= (torch-fidelity's prc_neighborhood and
    its <=), PRDC with k = 5 and <=; explicit k / strict override the preset."""
    real, fake = ADVERSARIAL["grid"](None)
    assert precision_recall(real, fake, preset=preset) == oracle_prdc(real, fake, 3, None)
    assert prdc(real, fake, preset=preset) == oracle_prdc(real, fake, 5, 5)
    assert density_coverage(real, fake, preset=preset) == oracle_prdc(real, fake, None, 5)
    assert precision_recall(real, fake, k=1, strict=True, preset=preset) == oracle_prdc(
        real, fake, 1, None, True
    )
    m = PRDC(preset=preset)
    m.update(real, real=True)
    m.update(fake, real=False)
    assert m.compute() == oracle_prdc(real, fake, 5, 5) and m.k == 5 and m.strict is False
