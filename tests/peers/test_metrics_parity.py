"""Feature-level parity: fastgan's FID, KID, IS, precision/recall and PRDC against the reference
packages on identical feature arrays.

Each reference is called as its users call it on features (pytorch-fid's
``calculate_frechet_distance`` on ``numpy.cov`` statistics, torch-fidelity's
``*_features_to_metric``, clean-fid's ``frechet_distance`` / ``fid_from_feats`` /
``kernel_distance``, torchmetrics' metric classes fed through an identity feature module, the
``prdc`` package's ``compute_prdc``). Randomness (KID subsets, IS shuffles) is reproduced by the
presets (``preset="torch-fidelity"`` / ``"clean-fid"`` draw the indices the reference draws; the
default draws torchmetrics' ``randperm`` order), so values are compared on identical subsets.

Tolerances, stated per test:
* 1e-12 (relative to max(1, |value|)): both sides compute the same float64 sums (KID on identical
  subsets, IS on identical splits, moments).
* 1e-9 of the FID scale ``|mu1 - mu2|^2 + tr S1 + tr S2``: FID is a difference of large terms and
  the references take ``tr sqrt(S1 S2)`` through scipy's ``sqrtm`` (Schur) or ``eigvals`` of
  the non-symmetric product, fastgan through a symmetric eigenproblem; both are float64 and the
  products here are well conditioned.
* exact: precision / recall / density / coverage are counts of float64 distance comparisons.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import fastgan.metrics as M
from fastgan.metrics.inception import torch_fidelity_order
from fastgan.metrics.kernel_distance import kid_subset_indices, mmd2_subsets
from peers.conftest import Identity, frechet_oracle, gaussian_features, logits, record

pytestmark = pytest.mark.peers

FID_RTOL = 1e-9  # of the FID scale, see the module docstring
EXACT_SUMS = 1e-12  # relative to max(1, |value|)


def fid_scale(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2))


def singular_tol(s1: np.ndarray, s2: np.ndarray) -> float:
    """Accuracy of a reference's ``tr sqrt(S1 S2)`` when S1 S2 is singular (n < d): its zero
    eigenvalues come out as rounding noise of size ~ eps ||S1|| ||S2||, whose square roots
    (sqrt(eps) relative, not eps) add up over the d - rank of them; 10x margin, doubled for FID."""
    d = s1.shape[0]
    norm = float(np.linalg.norm(s1, 2) * np.linalg.norm(s2, 2))
    return 20.0 * d * math.sqrt(np.finfo(np.float64).eps * norm)


def np_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The statistics pytorch-fid, clean-fid and torch-fidelity compute: mean and ``numpy.cov``."""
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def close(a: float, b: float, tol: float = EXACT_SUMS) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# ------------------------------------------------------------------------------------------------
# FID
# ------------------------------------------------------------------------------------------------
# (n_real, n_fake, d): n > d, and n < d where both covariances are singular.
FID_SHAPES_FULL_RANK = [(600, 500, 64), (1500, 1200, 128)]
FID_SHAPES_SINGULAR = [(40, 50, 64), (100, 80, 256)]


def fid_pair(n1: int, n2: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return gaussian_features(n1, d, 0), gaussian_features(n2, d, 1, shift=0.2, scale=1.2)


@pytest.mark.parametrize("n1,n2,d", FID_SHAPES_FULL_RANK)
def test_fid_pytorch_fid(n1: int, n2: int, d: int) -> None:
    """pytorch-fid on numpy.cov statistics; FID_RTOL of the FID scale (scipy sqrtm vs eigh)."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    x, y = fid_pair(n1, n2, d)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    theirs = float(fid_score.calculate_frechet_distance(mu1, s1, mu2, s2))
    scale = fid_scale(mu1, s1, mu2, s2)
    record(
        "pytorch-fid",
        "FID on identical features, N > D",
        M.frechet_distance(mu1, s1, mu2, s2),
        theirs,
        tol=f"<= {FID_RTOL:g} of the FID scale",
        scale=scale,
    )
    assert abs(M.frechet_distance(mu1, s1, mu2, s2) - theirs) <= FID_RTOL * scale
    # From the features: FeatureStats' moments then the same distance.
    assert abs(M.fid(torch.from_numpy(x), torch.from_numpy(y)) - theirs) <= FID_RTOL * scale


@pytest.mark.parametrize("n1,n2,d", FID_SHAPES_SINGULAR)
def test_fid_pytorch_fid_singular(n1: int, n2: int, d: int) -> None:
    """n < d: S1 S2 is singular. fastgan equals the float64 brute force to FID_RTOL of the scale.
    scipy's sqrtm of the singular product is complex or inaccurate: where pytorch-fid raises
    "Imaginary component" that is all; where it returns a value, it lies within singular_tol."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    x, y = fid_pair(n1, n2, d)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    ours = M.frechet_distance(mu1, s1, mu2, s2)
    assert math.isfinite(ours)
    scale = fid_scale(mu1, s1, mu2, s2)
    record(
        "pytorch-fid",
        "FID on identical features, N < D: fastgan vs exact float64",
        ours,
        frechet_oracle(x, y),
        tol=f"<= {FID_RTOL:g} of the FID scale",
        scale=scale,
    )
    assert abs(ours - frechet_oracle(x, y)) <= FID_RTOL * scale
    try:
        theirs = float(fid_score.calculate_frechet_distance(mu1, s1, mu2, s2))
    except ValueError as exc:
        assert "Imaginary component" in str(exc)
        return
    record(
        "pytorch-fid",
        "FID on identical features, N < D: fastgan vs its sqrtm",
        ours,
        theirs,
        tol="<= its own error bound (singular_tol)",
        scale=scale,
    )
    assert abs(ours - theirs) <= singular_tol(s1, s2)


def fid_tol(x: np.ndarray, y: np.ndarray, rtol: float = FID_RTOL) -> float:
    """rtol of the FID scale; singular_tol where n < d (the references' eigenvalue noise)."""
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    tol = rtol * fid_scale(mu1, s1, mu2, s2)
    if min(len(x), len(y)) <= x.shape[1]:
        tol += singular_tol(s1, s2)
    return tol


@pytest.mark.parametrize("n1,n2,d", FID_SHAPES_FULL_RANK + FID_SHAPES_SINGULAR)
def test_fid_torch_fidelity(n1: int, n2: int, d: int) -> None:
    """torch-fidelity: its statistics equal FeatureStats' to 1e-12 (both float64 moments); its FID
    (eigvals of S1 S2) equals fastgan's to FID_RTOL of the scale, plus singular_tol for n < d."""
    metric_fid = pytest.importorskip("torch_fidelity.metric_fid")
    x, y = fid_pair(n1, n2, d)
    st1 = metric_fid.fid_features_to_statistics(torch.from_numpy(x))
    st2 = metric_fid.fid_features_to_statistics(torch.from_numpy(y))
    ours1 = M.FeatureStats.from_features(torch.from_numpy(x))
    assert np.abs(ours1.mean.numpy() - st1["mu"]).max() <= EXACT_SUMS * max(1.0, np.abs(st1["mu"]).max())
    assert np.abs(ours1.cov.numpy() - st1["sigma"]).max() <= EXACT_SUMS * max(1.0, np.abs(st1["sigma"]).max())
    record(
        "torch-fidelity",
        "FID statistics on identical features (covariance)",
        ours1.cov,
        st1["sigma"],
        tol=f"<= {EXACT_SUMS:g} relative",
    )
    theirs = metric_fid.fid_statistics_to_metric(st1, st2, verbose=False)[metric_fid.KEY_METRIC_FID]
    ours = M.fid(torch.from_numpy(x), torch.from_numpy(y))
    singular = min(n1, n2) <= d
    record(
        "torch-fidelity",
        f"FID on identical features, {'N < D' if singular else 'N > D'}",
        ours,
        theirs,
        tol=f"<= {FID_RTOL:g} of the FID scale" + (" + its error bound" if singular else ""),
        scale=fid_scale(*np_stats(x), *np_stats(y)),
    )
    assert abs(ours - theirs) <= fid_tol(x, y)


@pytest.mark.parametrize("n1,n2,d", FID_SHAPES_FULL_RANK)
def test_fid_clean_fid(n1: int, n2: int, d: int) -> None:
    """clean-fid's fid_from_feats and frechet_distance (the pytorch-fid formula): FID_RTOL."""
    cfid = pytest.importorskip("cleanfid.fid")
    x, y = fid_pair(n1, n2, d)
    (mu1, s1), (mu2, s2) = np_stats(x), np_stats(y)
    scale = fid_scale(mu1, s1, mu2, s2)
    ours = M.fid(torch.from_numpy(x), torch.from_numpy(y))
    record(
        "clean-fid",
        "FID on identical features, N > D",
        ours,
        float(cfid.fid_from_feats(x, y)),
        tol=f"<= {FID_RTOL:g} of the FID scale",
        scale=scale,
    )
    assert abs(ours - float(cfid.fid_from_feats(x, y))) <= FID_RTOL * scale
    assert abs(M.frechet_distance(mu1, s1, mu2, s2) - float(cfid.frechet_distance(mu1, s1, mu2, s2))) <= (
        FID_RTOL * scale
    )


@pytest.mark.parametrize("n1,n2,d", FID_SHAPES_FULL_RANK + FID_SHAPES_SINGULAR)
def test_fid_torchmetrics(n1: int, n2: int, d: int) -> None:
    """torchmetrics FrechetInceptionDistance fed float64 features: its one-pass covariance
    (sum x x^T - n mu mu^T) loses a few digits to cancellation, so 1e-8 of the scale (features
    centred near 0 keep that loss small), plus singular_tol for n < d (eigvals of S1 S2)."""
    fid_mod = pytest.importorskip("torchmetrics.image.fid")
    x, y = fid_pair(n1, n2, d)
    metric = fid_mod.FrechetInceptionDistance(feature=Identity(d))
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    theirs = float(metric.compute())
    ours = M.fid(torch.from_numpy(x), torch.from_numpy(y))
    singular = min(n1, n2) <= d
    record(
        "torchmetrics",
        f"FID on identical features, {'N < D' if singular else 'N > D'}",
        ours,
        theirs,
        tol="<= 1e-8 of the FID scale" + (" + its error bound" if singular else ""),
        scale=fid_scale(*np_stats(x), *np_stats(y)),
    )
    assert abs(ours - theirs) <= fid_tol(x, y, rtol=1e-8)


# ------------------------------------------------------------------------------------------------
# KID
# ------------------------------------------------------------------------------------------------
KID_CASES = [(400, 300, 32, 20, 100), (250, 260, 96, 8, 250)]  # n1, n2, d, subsets, subset_size


def kid_pair(n1: int, n2: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = gaussian_features(n1, d, 10)
    y = gaussian_features(n2, d, 11, shift=0.1, scale=1.1)
    return torch.from_numpy(x), torch.from_numpy(y)


def mean_std(values: torch.Tensor) -> tuple[float, float]:
    v = values.double()
    return float(v.mean()), float(v.std(unbiased=False))


@pytest.mark.parametrize("n1,n2,d,subsets,m", KID_CASES)
@pytest.mark.parametrize("method", ["full", "subsets"])
def test_kid_torch_fidelity(n1: int, n2: int, d: int, subsets: int, m: int, method: str) -> None:
    """torch-fidelity draws each round's rows with numpy ``RandomState(rng_seed).choice(n, m,
    replace=False)``, features_1 (its generated input1) then features_2; ``kid(real, fake,
    preset="torch-fidelity")`` draws the same rounds and gives the same mean and std (ddof=0) to
    1e-12 (both float64 sums of the same kernel entries)."""
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    x, y = kid_pair(n1, n2, d)
    seed = 2020
    theirs = metric_kid.kid_features_to_metric(
        x, y, kid_subsets=subsets, kid_subset_size=m, rng_seed=seed, verbose=False
    )
    # fastgan's kid(real, fake, preset="torch-fidelity"): features_1 (its input1) is the fake side
    ours = M.kid(y, x, subsets, m, method=method, preset="torch-fidelity", seed=seed)
    for key, their_key in (
        (M.KEY_KID_MEAN, metric_kid.KEY_METRIC_KID_MEAN),
        (M.KEY_KID_STD, metric_kid.KEY_METRIC_KID_STD),
    ):
        record(
            "torch-fidelity",
            f"KID on identical features, same rounds ({key})",
            ours[key],
            theirs[their_key],
            tol=f"<= {EXACT_SUMS:g} relative",
        )
        assert close(ours[key], theirs[their_key])
    # the rounds, written out as it draws them
    rng = np.random.RandomState(seed)
    idx1, idx2 = [], []
    for _ in range(subsets):
        idx1.append(rng.choice(n1, m, replace=False))
        idx2.append(rng.choice(n2, m, replace=False))
    ir, if_ = kid_subset_indices(n2, n1, subsets, m, preset="torch-fidelity", seed=seed)
    assert np.array_equal(if_.numpy(), np.stack(idx1)) and np.array_equal(ir.numpy(), np.stack(idx2))


@pytest.mark.parametrize("n1,n2,d,subsets,m", KID_CASES)
def test_kid_clean_fid(n1: int, n2: int, d: int, subsets: int, m: int) -> None:
    """clean-fid's kernel_distance(feats1, feats2) draws with numpy's global RNG, rows of feats2
    first, then feats1, with m = min(n1, n2, max_subset_size), and returns the mean MMD_u^2 only:
    fastgan's kid(feats1, feats2, preset="clean-fid") draws the same rounds (its fake side first;
    ``seed=s`` equals clean-fid after ``np.random.seed(s)``; no seed: the global RNG itself).
    1e-12 on float64 features, including a subset size above n (clamped)."""
    cfid = pytest.importorskip("cleanfid.fid")
    x, y = kid_pair(n1, n2, d)
    seed = 7
    for size in (m, 10_000):
        np.random.seed(seed)
        theirs = float(cfid.kernel_distance(x.numpy(), y.numpy(), num_subsets=subsets, max_subset_size=size))
        ours = M.kid(x, y, subsets, size, preset="clean-fid", seed=seed)[M.KEY_KID_MEAN]
        record(
            "clean-fid",
            "KID on identical features, same rounds (kid_mean)",
            ours,
            theirs,
            tol=f"<= {EXACT_SUMS:g} relative",
        )
        assert close(ours, theirs)
        np.random.seed(seed)
        assert M.kid(x, y, subsets, size, preset="clean-fid")[M.KEY_KID_MEAN] == ours
    # fastgan's own rule (default preset): a subset size above n is an error, not a clamp
    with pytest.raises(ValueError, match="subset_size"):
        M.kid(x, y, subsets=2, subset_size=min(n1, n2) + 1)


@pytest.mark.parametrize("n1,n2,d,subsets,m", KID_CASES)
def test_kid_torchmetrics(n1: int, n2: int, d: int, subsets: int, m: int) -> None:
    """torchmetrics KernelInceptionDistance draws ``randperm(n_real)[:m]`` then
    ``randperm(n_fake)[:m]`` per round from torch's global RNG, the order fastgan's
    kid_subset_indices uses: the public ``kid`` with a generator seeded like the global RNG
    returns the same mean and std (ddof=0) to 1e-12 (float64 features on both sides)."""
    kid_mod = pytest.importorskip("torchmetrics.image.kid")
    x, y = kid_pair(n1, n2, d)
    metric = kid_mod.KernelInceptionDistance(feature=Identity(d), subsets=subsets, subset_size=m)
    metric.update(x, real=True)
    metric.update(y, real=False)
    seed = 123
    torch.manual_seed(seed)
    tm_mean, tm_std = (float(v) for v in metric.compute())
    ours = M.kid(x, y, subsets=subsets, subset_size=m, generator=torch.Generator().manual_seed(seed))
    record(
        "torchmetrics",
        "KID on identical features, same rounds (kid_mean)",
        ours[M.KEY_KID_MEAN],
        tm_mean,
        tol=f"<= {EXACT_SUMS:g} relative",
    )
    record(
        "torchmetrics",
        "KID on identical features, same rounds (kid_std)",
        ours[M.KEY_KID_STD],
        tm_std,
        tol=f"<= {EXACT_SUMS:g} relative",
    )
    assert close(ours[M.KEY_KID_MEAN], tm_mean)
    assert close(ours[M.KEY_KID_STD], tm_std)
    # The same subsets from the global RNG (generator=None), as torchmetrics draws them.
    torch.manual_seed(seed)
    again = M.kid(x, y, subsets=subsets, subset_size=m)
    assert again == ours
    # And explicitly through the index helper.
    ir, if_ = kid_subset_indices(n1, n2, subsets, m, torch.Generator().manual_seed(seed))
    assert close(mean_std(mmd2_subsets(x, y, ir, if_))[0], tm_mean)


# ------------------------------------------------------------------------------------------------
# Inception Score
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,c,splits", [(1003, 50, 10), (600, 1008, 10), (97, 20, 3)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_is_torch_fidelity(n: int, c: int, splits: int, shuffle: bool) -> None:
    """torch-fidelity isc_features_to_metric: float64 softmax, chunks [floor(sN/S),
    floor((s+1)N/S)) (n not a multiple of S included), np.std (ddof=0), rows permuted by
    ``RandomState(rng_seed).permutation(N)`` when shuffling (fastgan: ``order=``). 1e-12."""
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    z = torch.from_numpy(logits(n, c, 3))
    seed = 2020
    theirs = metric_isc.isc_features_to_metric(z, splits=splits, shuffle=shuffle, rng_seed=seed)
    ours = M.inception_score(z, splits=splits, preset="torch-fidelity" if shuffle else None)
    if shuffle:
        assert M.inception_score(z, splits=splits, order=torch_fidelity_order(n, seed)) == ours
    for key, their_key in (
        (M.KEY_IS_MEAN, metric_isc.KEY_METRIC_ISC_MEAN),
        (M.KEY_IS_STD, metric_isc.KEY_METRIC_ISC_STD),
    ):
        record(
            "torch-fidelity",
            f"IS on identical logits ({key})",
            ours[key],
            theirs[their_key],
            tol=f"<= {EXACT_SUMS:g} relative",
        )
        assert close(ours[key], theirs[their_key])


@pytest.mark.parametrize("n,c,splits", [(1000, 50, 10), (600, 1008, 10), (96, 20, 3)])
def test_is_torchmetrics(n: int, c: int, splits: int) -> None:
    """torchmetrics InceptionScore permutes rows with ``torch.randperm(N)`` (global RNG), splits
    with ``Tensor.chunk`` (equal to fastgan's chunks when S divides N, the cases here) and reports
    the std with ddof=1: fastgan's std (ddof=0) times sqrt(S / (S - 1)). Float64 logits: 1e-12."""
    is_mod = pytest.importorskip("torchmetrics.image.inception")
    z = torch.from_numpy(logits(n, c, 4))
    metric = is_mod.InceptionScore(feature=Identity(c), splits=splits)
    metric.update(z)
    seed = 5
    torch.manual_seed(seed)
    tm_mean, tm_std = (float(v) for v in metric.compute())
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    ours = M.inception_score(z, splits=splits, order=order)
    record(
        "torchmetrics",
        "IS on identical logits (is_mean)",
        ours[M.KEY_IS_MEAN],
        tm_mean,
        tol=f"<= {EXACT_SUMS:g} relative",
    )
    record(
        "torchmetrics",
        "IS on identical logits (is_std, ddof=1)",
        ours[M.KEY_IS_STD] * math.sqrt(splits / (splits - 1)),
        tm_std,
        tol=f"<= {EXACT_SUMS:g} relative",
    )
    assert close(ours[M.KEY_IS_MEAN], tm_mean)
    assert close(ours[M.KEY_IS_STD] * math.sqrt(splits / (splits - 1)), tm_std)


# ------------------------------------------------------------------------------------------------
# precision / recall (torch-fidelity) and PRDC (the prdc package)
# ------------------------------------------------------------------------------------------------
def manifold_pair(kind: str, n1: int, n2: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """ "gauss": continuous features; "grid": small integers, where many distances tie exactly
    (squared distances are exact in float64, so ``<=`` vs ``<`` decides the counts)."""
    if kind == "gauss":
        return gaussian_features(n1, d, 20), gaussian_features(n2, d, 21, shift=0.15, scale=1.1)
    rng = np.random.default_rng(22)
    return rng.integers(0, 3, (n1, d)).astype(np.float64), rng.integers(0, 3, (n2, d)).astype(np.float64)


MANIFOLD_CASES = [("gauss", 300, 250, 64), ("gauss", 200, 220, 512), ("grid", 150, 170, 4)]


@pytest.mark.parametrize("kind,n_real,n_fake,d", MANIFOLD_CASES)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("save_cpu_ram", [False, True])
def test_precision_recall_torch_fidelity(
    kind: str, n_real: int, n_fake: int, d: int, k: int, save_cpu_ram: bool
) -> None:
    """torch-fidelity prc_features_to_metric (features_1 generated, features_2 real): a point
    counts when its distance to a ball centre is ``<=`` the centre's radius, the
    (k + 1)-th smallest distance to its own set (itself included): fastgan's default (strict=False)
    with the same k. Exact equality of the counts (its fractions are float32 means)."""
    metric_prc = pytest.importorskip("torch_fidelity.metric_prc")
    real, fake = manifold_pair(kind, n_real, n_fake, d)
    theirs = metric_prc.prc_features_to_metric(
        torch.from_numpy(fake),
        torch.from_numpy(real),
        prc_neighborhood=k,
        prc_batch_size=64,
        save_cpu_ram=save_cpu_ram,
        verbose=False,
    )
    ours = M.precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=k, preset="torch-fidelity")
    # torch-fidelity averages in float32: equal counts, and equal values once rounded to float32.
    for key, their_key, n in (
        (M.KEY_PRECISION, metric_prc.KEY_METRIC_PRECISION, n_fake),
        (M.KEY_RECALL, metric_prc.KEY_METRIC_RECALL, n_real),
    ):
        record(
            "torch-fidelity",
            f"{key} on identical features (count)",
            round(ours[key] * n),
            round(theirs[their_key] * n),
            tol="exact",
            scale=n,
        )
        assert round(ours[key] * n) == round(theirs[their_key] * n), key
        assert np.float32(ours[key]) == np.float32(theirs[their_key]), key


@pytest.mark.parametrize("kind,n_real,n_fake,d", MANIFOLD_CASES)
@pytest.mark.parametrize("k", [2, 5])
def test_prdc_package(
    kind: str, n_real: int, n_fake: int, d: int, k: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """prdc.compute_prdc counts with strict ``<`` (fastgan: strict=True): precision, recall and
    coverage exactly equal; density is the count sum over (k M), which the package evaluates as
    (1/k) * mean(counts), so the counts are equal exactly and the quotients to 4 ulp. On the
    integer grid fastgan's ``<=`` default differs, as documented."""
    prdc_pkg = pytest.importorskip("prdc")
    real, fake = manifold_pair(kind, n_real, n_fake, d)
    theirs = {key: float(v) for key, v in prdc_pkg.compute_prdc(real, fake, nearest_k=k).items()}
    capsys.readouterr()  # the package prints the sample counts
    ours = M.prdc(torch.from_numpy(real), torch.from_numpy(fake), k=k, strict=True)
    for key in (M.KEY_PRECISION, M.KEY_RECALL, M.KEY_COVERAGE):
        record("prdc", f"{key} on identical features", ours[key], theirs[key], tol="exact")
        assert ours[key] == theirs[key], key
    total = k * n_fake
    record(
        "prdc",
        "density on identical features (count)",
        round(ours[M.KEY_DENSITY] * total),
        round(theirs[M.KEY_DENSITY] * total),
        tol="exact",
        scale=total,
    )
    assert round(ours[M.KEY_DENSITY] * total) == round(theirs[M.KEY_DENSITY] * total)
    ulp4 = 4 * np.finfo(np.float64).eps * theirs[M.KEY_DENSITY]
    assert abs(ours[M.KEY_DENSITY] - theirs[M.KEY_DENSITY]) <= ulp4
    if kind == "grid":
        assert M.prdc(torch.from_numpy(real), torch.from_numpy(fake), k=k) != ours
