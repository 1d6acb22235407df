"""Peers: KID with an RBF kernel against torch-fidelity's ``kid_kernel="rbf"`` (the PyPI release 0.4.0 has
it), MIND against torch-fidelity master's ``metric_mind`` (not released: skips unless that module
imports, e.g. with a checkout of the master branch on PYTHONPATH), on identical features.

PRD, the rarity score and clipped density / coverage have no installable reference; their tests in
tests/metrics/ follow the reference code's formulas (cited in each module's docstring)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastgan.metrics as M
from peers.conftest import record

pytestmark = pytest.mark.peers


def pair(n1: int, n2: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = torch.from_numpy((rng.standard_normal((n1, d)) * 4).astype(np.float32))
    y = torch.from_numpy((rng.standard_normal((n2, d)) * 4.4 + 0.5).astype(np.float32))
    return x, y


@pytest.mark.parametrize(
    "n1,n2,d,subsets,m,sigma", [(300, 260, 64, 10, 100, 10.0), (200, 240, 16, 6, 150, 3.0)]
)
def test_kid_rbf_torch_fidelity(n1: int, n2: int, d: int, subsets: int, m: int, sigma: float) -> None:
    """torch-fidelity draws each round with ``RandomState(rng_seed).choice(n, m, replace=False)``, its
    input1 first; ``kid_rbf(real=input2, fake=input1, preset="torch-fidelity")`` draws the same rounds.
    torch-fidelity evaluates the kernel in float32 (expanded |a|^2 + |b|^2 - 2 a.b), fastgan in float64:
    the values agree to that float32 rounding."""
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    if not hasattr(metric_kid, "kernel_rbf"):
        pytest.skip("this torch-fidelity has no RBF kernel for KID")
    fake, real = pair(n1, n2, d, seed=d)
    theirs = metric_kid.kid_features_to_metric(
        fake, real, kid_subsets=subsets, kid_subset_size=m, kid_kernel="rbf", kid_kernel_rbf_sigma=sigma,
        rng_seed=2020, verbose=False,
    )  # fmt: skip
    ours = M.kid_rbf(real, fake, subsets, m, sigma, preset="torch-fidelity", seed=2020)
    mean_t, std_t = theirs[metric_kid.KEY_METRIC_KID_MEAN], theirs[metric_kid.KEY_METRIC_KID_STD]
    record("torch-fidelity", "KID-RBF mean, same rounds", ours["kid_rbf_mean"], mean_t, tol="1e-4 of the std")
    assert abs(ours["kid_rbf_mean"] - mean_t) <= 1e-4 * max(std_t, 1e-12) + 1e-6 * abs(mean_t)
    assert ours["kid_rbf_std"] == pytest.approx(std_t, rel=1e-3)
    # float64 features: the two evaluations agree to float64 rounding of the expanded form
    theirs64 = metric_kid.kid_features_to_metric(
        fake.double(), real.double(), kid_subsets=subsets, kid_subset_size=m, kid_kernel="rbf",
        kid_kernel_rbf_sigma=sigma, rng_seed=2020, verbose=False,
    )  # fmt: skip
    ours64 = M.kid_rbf(real.double(), fake.double(), subsets, m, sigma, preset="torch-fidelity", seed=2020)
    record("torch-fidelity", "KID-RBF mean, float64 features", ours64["kid_rbf_mean"], theirs64[metric_kid.KEY_METRIC_KID_MEAN], tol="1e-9 relative")  # fmt: skip
    assert ours64["kid_rbf_mean"] == pytest.approx(
        theirs64[metric_kid.KEY_METRIC_KID_MEAN], rel=1e-9, abs=1e-14
    )


@pytest.mark.parametrize(
    "n1,n2,d,projections", [(400, 400, 64, 300), (500, 350, 32, 1000), (200, 260, 8, 50)]
)
def test_mind_torch_fidelity_master(n1: int, n2: int, d: int, projections: int) -> None:
    """Same generator, same draws (subsample, then float32 directions); torch-fidelity projects in
    float32, fastgan in float64 from the same directions: agreement to float32 rounding."""
    metric_mind = pytest.importorskip("torch_fidelity.metric_mind")
    fake, real = pair(n1, n2, d, seed=d + 1)
    theirs = metric_mind.mind_features_to_metric(
        fake, real, mind_num_projections=projections, cuda=False, rng_seed=2020, verbose=False
    )[metric_mind.KEY_METRIC_MIND]
    ours = M.mind(real, fake, projections=projections, seed=2020)
    record("torch-fidelity", "MIND, same draws", ours, theirs, tol="1e-5 relative")
    assert ours == pytest.approx(theirs, rel=1e-5)
