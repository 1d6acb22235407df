"""MIND: a float64 oracle that redraws torch-fidelity's randomness as its metric_mind.py documents it
(one CPU generator: the subsample of the larger set, then float32 normal directions) and sorts numpy
projections; the class; the unequal-size option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics import sliced_wasserstein
from fastgan.metrics.sliced import KEY_MIND, MIND, mind


def oracle(real: np.ndarray, fake: np.ndarray, projections: int, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    n = min(len(real), len(fake))
    if len(fake) > n:  # torch-fidelity's input1 (fake) is drawn first
        fake = fake[torch.randperm(len(fake), generator=g)[:n].numpy()]
    if len(real) > n:
        real = real[torch.randperm(len(real), generator=g)[:n].numpy()]
    th = torch.randn(projections, real.shape[1], generator=g, dtype=torch.float32)
    th = (th / th.norm(dim=1, keepdim=True).clamp_min(1e-12)).double().numpy()
    pr = np.sort(real @ th.T, axis=0)
    pf = np.sort(fake @ th.T, axis=0)
    return float(3 * real.shape[1] * ((pr - pf) ** 2).mean())


@pytest.mark.parametrize("n,m,d,seed", [(200, 200, 16, 2020), (300, 170, 8, 1), (90, 140, 32, 7)])
def test_equals_oracle(n: int, m: int, d: int, seed: int) -> None:
    rng = np.random.default_rng(d)
    x, y = rng.standard_normal((n, d)), rng.standard_normal((m, d)) * 1.2 + 0.1
    got = mind(torch.from_numpy(x), torch.from_numpy(y), projections=150, seed=seed)
    assert got == pytest.approx(oracle(x, y, 150, seed), rel=1e-12)


def test_scaling_of_sliced_wasserstein_and_class() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((120, 5)), rng.standard_normal((120, 5)) + 0.5
    sw = sliced_wasserstein(x, y, projections=3000, generator=torch.Generator().manual_seed(0))
    # same quantity, other directions: MIND = 3 D SW_2^2 up to the Monte-Carlo error
    assert mind(x, y, projections=3000) == pytest.approx(3 * 5 * sw**2, rel=0.05)
    m = MIND(projections=50, seed=3)
    m.update(torch.from_numpy(x[:60]), real=True)
    m.update(torch.from_numpy(x[60:]), real=True)
    m.update(torch.from_numpy(y), real=False)
    assert m.compute() == mind(x, y, projections=50, seed=3)
    # unequal sizes without subsampling: every sample, the exact 1-D distance between unequal measures
    full = mind(x, y[:77], projections=50, equal_sizes=False)
    assert full > 0 and full != mind(x, y[:77], projections=50)
    assert KEY_MIND == "mind"
