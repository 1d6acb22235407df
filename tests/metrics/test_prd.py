"""PRD: the curve of two discrete distributions and the F_beta pair against float64 loops of the
paper's definitions, the sklearn clustering path against a pipeline written here with the reference's
calls, the torch k-means, properties, the class, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastgan.metrics.prd_curves import (
    KEY_PRD_F_BETA,
    KEY_PRD_F_BETA_INV,
    PRD,
    kmeans_labels,
    prd,
    prd_curve,
    prd_f_beta,
    prd_from_distributions,
)


def curve_loop(
    ev: np.ndarray, rf: np.ndarray, num_angles: int, eps: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    p, r = np.zeros(num_angles), np.zeros(num_angles)
    for a in range(num_angles):
        theta = eps + a * (math.pi / 2 - 2 * eps) / (num_angles - 1)
        lam = math.tan(theta)
        alpha = sum(min(lam * q, pp) for pp, q in zip(ev, rf))
        p[a], r[a] = min(alpha, 1.0), min(alpha / lam, 1.0)
    return p, r


def fbeta_loop(p: np.ndarray, r: np.ndarray, beta: float) -> float:
    return max((1 + beta**2) * a * b / (beta**2 * a + b + 1e-10) for a, b in zip(p, r))


@pytest.mark.parametrize("c,num_angles", [(20, 1001), (7, 11), (3, 3)])
def test_curve_equals_definition(c: int, num_angles: int) -> None:
    rng = np.random.default_rng(c)
    ev, rf = rng.dirichlet(np.ones(c)), rng.dirichlet(np.ones(c) * 0.5)
    p, r = prd_from_distributions(ev, rf, num_angles=num_angles)
    wp, wr = curve_loop(ev, rf, num_angles)
    np.testing.assert_allclose(p.numpy(), wp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.numpy(), wr, rtol=1e-12, atol=1e-15)
    for beta in (8.0, 2.0):
        fb, fbi = prd_f_beta(p, r, beta)
        assert fb == pytest.approx(fbeta_loop(wp, wr, beta), rel=1e-12)
        assert fbi == pytest.approx(fbeta_loop(wp, wr, 1 / beta), rel=1e-12)


def test_sklearn_path_equals_reference_pipeline() -> None:
    """prd_score.compute_prd_from_embedding's steps with the calls it makes (MiniBatchKMeans(20, n_init=10),
    np.histogram(density=True), the union with the eval rows first), after numpy.random.seed(seed)."""
    cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 5))
    fake = rng.standard_normal((300, 5)) * 1.3 + 0.5
    runs, seed = 3, 11
    rs = np.random.RandomState(seed)  # the global RNG after numpy.random.seed(seed)
    ps, rcs = [], []
    union = np.vstack([fake, real])
    for _ in range(runs):
        labels = cluster.MiniBatchKMeans(n_clusters=20, n_init=10, random_state=rs).fit(union).labels_
        ev = np.histogram(labels[:300], bins=20, range=[0, 20], density=True)[0]
        rf = np.histogram(labels[300:], bins=20, range=[0, 20], density=True)[0]
        slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, num=1001))
        pr = np.minimum(rf[None] * slopes[:, None], ev[None]).sum(1)
        ps.append(np.clip(pr, 0, 1))
        rcs.append(np.clip(pr / slopes, 0, 1))
    wp, wr = np.mean(ps, 0), np.mean(rcs, 0)
    st: dict = {}
    p, r = prd_curve(
        torch.from_numpy(real), torch.from_numpy(fake), num_runs=runs, kmeans="sklearn", seed=seed, stats=st
    )
    assert st["kmeans"] == "sklearn"
    np.testing.assert_allclose(p.numpy(), wp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(r.numpy(), wr, rtol=1e-12, atol=1e-15)
    out = prd(real, fake, num_runs=runs, kmeans="sklearn", seed=seed)
    assert out[KEY_PRD_F_BETA] == pytest.approx(fbeta_loop(wp, wr, 8), rel=1e-12)
    assert out[KEY_PRD_F_BETA_INV] == pytest.approx(fbeta_loop(wp, wr, 1 / 8), rel=1e-12)


def test_torch_kmeans_finds_separated_clusters_and_is_seeded() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 3, generator=g) * 50
    z = (centres.repeat_interleave(25, 0) + torch.randn(100, 3, generator=g)).double()
    (lab,), backend = kmeans_labels(z, 4, 1, kmeans="torch", seed=3)
    assert backend == "torch"
    truth = torch.arange(4).repeat_interleave(25)
    for c in range(4):  # each true cluster is one label, and the labels differ
        assert lab[truth == c].unique().numel() == 1
    assert lab.unique().numel() == 4
    (lab2,), _ = kmeans_labels(z, 4, 1, kmeans="torch", seed=3)
    assert torch.equal(lab, lab2)


def test_properties_and_class() -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(200, 4, generator=g)
    same = prd(x, x.clone(), kmeans="torch", num_runs=2)
    assert same[KEY_PRD_F_BETA] == pytest.approx(1.0, abs=1e-9) and same[KEY_PRD_F_BETA_INV] == pytest.approx(
        1.0, abs=1e-9
    )
    far = prd(x, x + 1e3, kmeans="torch", num_runs=2)
    assert far[KEY_PRD_F_BETA] < 0.05 and far[KEY_PRD_F_BETA_INV] < 0.05
    y = torch.randn(200, 4, generator=g) * 0.3  # a mode-collapsed model: precision kept, recall lost
    part = prd(x, y, kmeans="torch", num_runs=2)
    assert part[KEY_PRD_F_BETA_INV] > part[KEY_PRD_F_BETA]
    m = PRD(kmeans="torch", num_runs=2)
    m.update(x[:120], real=True)
    m.update(x[120:], real=True)
    m.update(y, real=False)
    assert m.compute() == prd(x, y, kmeans="torch", num_runs=2)


def test_errors() -> None:
    x = torch.randn(30, 2)
    with pytest.raises(ValueError, match="enforce_balance=False"):
        prd(x, x[:20])
    assert set(prd(x, x[:20], enforce_balance=False, kmeans="torch", num_runs=1, num_clusters=3)) == {
        KEY_PRD_F_BETA,
        KEY_PRD_F_BETA_INV,
    }
    with pytest.raises(ValueError, match="^kmeans"):
        prd(x, x, kmeans="faiss")
    with pytest.raises(ValueError, match="^num_angles"):
        prd_from_distributions([1.0], [1.0], num_angles=2)
    with pytest.raises(ValueError, match="> 1.001"):
        prd_from_distributions([2.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="^beta"):
        prd_f_beta([0.5], [0.5], beta=0)
