"""P-precision / P-recall: float64 brute force of the definition (full distance matrices), engines,
block sizes, duplicates, errors, the class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics.probabilistic import (
    KEY_P_PRECISION,
    KEY_P_RECALL,
    PPrecisionRecall,
    p_precision,
    p_precision_recall,
    p_recall,
)


def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def brute(real: np.ndarray, fake: np.ndarray, k: int = 4, a: float = 1.2) -> tuple[float, float]:
    """The paper's definition, float64, direct differences, N x M matrices."""

    def radius(z: np.ndarray) -> float:
        dz = dist(z, z)
        np.fill_diagonal(dz, np.inf)  # exclude the point itself (by index)
        return a * float(np.sort(dz, axis=1)[:, k - 1].mean())

    def score(base: np.ndarray, query: np.ndarray) -> float:
        r = radius(base)
        f = np.maximum(0.0, 1.0 - dist(base, query) / r)  # P(query_j in S(base_i))
        return float(np.mean(1.0 - np.prod(1.0 - f, axis=0)))

    return score(real, fake), score(fake, real)


def clouds(n: int, m: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        1.2 * torch.randn(m, d, generator=g, dtype=torch.float64) + 0.3,
    )


@pytest.mark.parametrize("k,a", [(4, 1.2), (1, 1.0), (7, 2.0)])
def test_matches_brute_force(k: int, a: float) -> None:
    x, y = clouds(160, 120, 10, seed=k)
    got = p_precision_recall(x, y, k=k, a=a)
    p, r = brute(x.numpy(), y.numpy(), k, a)
    assert got[KEY_P_PRECISION] == pytest.approx(p, rel=1e-12, abs=1e-15)
    assert got[KEY_P_RECALL] == pytest.approx(r, rel=1e-12, abs=1e-15)
    assert 0 < p < 1 and 0 < r < 1  # the test exercises partial products


@pytest.mark.parametrize("block_size", [1, 13, None])
def test_float32_inputs_and_block_sizes(block_size: int | None) -> None:
    x, y = clouds(150, 90, 24, seed=3)
    xf, yf = x.float(), y.float()
    got = p_precision_recall(xf, yf, block_size=block_size)
    p, r = brute(xf.double().numpy(), yf.double().numpy())
    assert got[KEY_P_PRECISION] == pytest.approx(p, rel=1e-12)
    assert got[KEY_P_RECALL] == pytest.approx(r, rel=1e-12)


def test_faiss_engine_same_value() -> None:
    from fastgan.metrics import knn

    if knn.faiss_module() is None:
        pytest.skip("faiss not installed")
    x, y = clouds(100, 80, 8, seed=4)
    ref = p_precision_recall(x, y, impl="torch")
    assert p_precision_recall(x, y, impl="faiss") == pytest.approx(ref, rel=1e-13)


def test_duplicates_and_identical_sets() -> None:
    x, _ = clouds(40, 1, 3, seed=5)
    out = p_precision_recall(x, x.clone())
    assert out == {KEY_P_PRECISION: 1.0, KEY_P_RECALL: 1.0}  # every query coincides with a centre
    far = p_precision_recall(x, x + 1e3)
    assert far == {KEY_P_PRECISION: 0.0, KEY_P_RECALL: 0.0}


def test_single_metric_wrappers() -> None:
    x, y = clouds(70, 60, 5, seed=6)
    both = p_precision_recall(x, y, k=3)
    assert p_precision(x, y, k=3) == both[KEY_P_PRECISION]
    assert p_recall(x, y, k=3) == both[KEY_P_RECALL]
    with pytest.raises(TypeError, match="nearest_k"):
        p_precision(x, y, nearest_k=3)


def test_errors() -> None:
    x, y = clouds(10, 8, 3, seed=7)
    with pytest.raises(ValueError, match="k"):
        p_precision_recall(x, y, k=8)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        p_precision_recall(x, y[:, :2])
    bad = y.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="fake"):
        p_precision_recall(x, bad)
    with pytest.raises(ValueError, match="a: must"):
        p_precision_recall(x, y, a=0)
    with pytest.raises(ValueError, match="radius"):
        p_precision_recall(torch.zeros(10, 3), y)
    with pytest.raises(ValueError, match="impl"):
        p_precision_recall(x, y, impl="gpu")


def test_class_protocol() -> None:
    x, y = clouds(90, 70, 6, seed=8)
    ref = p_precision_recall(x, y)
    a, b = PPrecisionRecall(), PPrecisionRecall()
    a.update(x[:40], real=True)
    a.update(y[:30], real=False)
    b.update(x[40:], real=True)
    b.update(y[30:], real=False)
    a.merge(b)
    assert a.compute() == pytest.approx(ref, rel=1e-13)
    c = PPrecisionRecall()
    c.load_state_dict(a.state_dict())
    assert c.compute() == pytest.approx(ref, rel=1e-13)
