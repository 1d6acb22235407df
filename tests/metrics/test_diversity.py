"""Vendi Score: the reference's README oracles, a float64 n x n brute force, the vendi-score package."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastgan.metrics.diversity import KEY_VENDI, Vendi, vendi, vendi_from_eigenvalues, vendi_from_kernel


def brute_vendi(x: np.ndarray, q: float = 1.0) -> float:
    """Definition: cosine kernel K (n x n, float64), eigenvalues of K / n, exp of the Renyi entropy."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = np.linalg.eigvalsh(xn @ xn.T / len(x))
    p = w[w > 1e-12]
    if q == 1.0:
        return float(np.exp(-(p * np.log(p)).sum()))
    if math.isinf(q):
        return float(1.0 / p.max())
    return float(np.exp(np.log((p**q).sum()) / (1 - q)))


def test_readme_oracles() -> None:
    # vendi-score README: score([0, 0, 10, 10, 20, 20], k = exp(-|a - b|)) = 2.9999...,
    # score_K([[1, .9, 0], [.9, 1, 0], [0, 0, 1]]) = 2.1573...
    x = torch.tensor([0.0, 0.0, 10.0, 10.0, 20.0, 20.0], dtype=torch.float64).reshape(-1, 1)
    got = vendi(x, kernel=lambda a, b: torch.exp(-(a - b.T).abs()))
    assert 2.9999 < got < 3.0
    # exact value: three pairs of identical points, pairs 10 apart: the eigenvalues of K/n are known
    e = math.exp(-10.0)
    blk = np.array([[1, e, e * e], [e, 1, e], [e * e, e, 1]])
    ev = np.linalg.eigvalsh(2 * blk / 6)
    assert got == pytest.approx(float(np.exp(-(ev * np.log(ev)).sum())), rel=1e-13)
    k = [[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]]
    p = np.array([1.9, 0.1, 1.0]) / 3  # eigenvalues of K / 3 in closed form
    assert vendi_from_kernel(k) == pytest.approx(float(np.exp(-(p * np.log(p)).sum())), rel=1e-14)
    assert str(vendi_from_kernel(k)).startswith("2.1573")


@pytest.mark.parametrize("q", [1.0, 2.0, 0.5, 0.0, math.inf])
@pytest.mark.parametrize("shape", [(120, 16), (20, 50)])
def test_dual_and_primal_match_brute_force(q: float, shape: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    ref = brute_vendi(x.numpy(), q)
    for dual in (None, True, False):
        assert vendi(x, q=q, dual=dual) == pytest.approx(ref, rel=1e-11)


def test_float32_input_accumulates_in_float64() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(600, 24, generator=g)
    assert vendi(x) == pytest.approx(brute_vendi(x.double().numpy()), rel=1e-11)


def test_limits_and_zero_rows() -> None:
    assert vendi(torch.ones(10, 3)) == pytest.approx(1.0, rel=1e-12)
    assert vendi(torch.eye(5)) == pytest.approx(5.0, rel=1e-12)
    x = torch.eye(4)
    x[3] = 0.0  # a zero row: its normalised row stays 0 (as sklearn's normalize), eigenvalues sum to 3/4
    w = np.array([0.25, 0.25, 0.25])
    assert vendi(x) == pytest.approx(float(np.exp(-(w * np.log(w)).sum())), rel=1e-12)
    assert vendi_from_eigenvalues(torch.tensor([0.5, 0.5, 0.0, -1e-18]), q="inf") == pytest.approx(2.0)


def test_matches_vendi_score_package() -> None:
    ref = pytest.importorskip("vendi_score.vendi")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(400, 20, generator=g, dtype=torch.float64)
    xn = x.numpy()
    for q in (1, 2, 0.5, "inf"):
        assert vendi(x, q=q) == pytest.approx(ref.score_dual(xn, q=q), rel=1e-11)
    assert vendi(x, dual=False) == pytest.approx(ref.score_X(xn), rel=1e-11)
    k = np.exp(-np.abs(xn[:50, :1] - xn[:50, :1].T))
    assert vendi_from_kernel(k, q=2) == pytest.approx(ref.score_K(k, q=2), rel=1e-11)
    ref_n = ref.score_K(2 * k, normalize=True)
    assert vendi_from_kernel(2 * k, normalize=True) == pytest.approx(ref_n, rel=1e-11)


def test_errors() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="q"):
        vendi(x, q=-1)
    with pytest.raises(ValueError, match="kernel"):
        vendi(x, kernel="rbf")
    bad = x.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="features"):
        vendi(bad)
    with pytest.raises(ValueError, match="features"):
        vendi(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="K"):
        vendi_from_kernel(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="kernel"):
        vendi(x, kernel=lambda a, b: torch.zeros(3, 3))


def test_class_protocol() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(120, 8, generator=g, dtype=torch.float64)
    ref = vendi(x, q=2)
    a, b = Vendi(q=2), Vendi(q=2)
    a.update(x[:50])
    b.update(x[50:])
    a.merge(b)
    assert a.compute() == pytest.approx(ref, rel=1e-12)
    a.update(x[:7], real=True)
    assert a.compute(real=True) == pytest.approx(vendi(x[:7], q=2), rel=1e-12)
    c = Vendi(q=2)
    c.load_state_dict(a.state_dict())
    assert c.compute() == pytest.approx(ref, rel=1e-12)
    assert KEY_VENDI == "vendi"
