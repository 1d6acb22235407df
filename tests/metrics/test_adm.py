"""The ADM evaluator's precision / recall (fp16 distance step), Inception Score on 5000-sample
splits and reference batches, against brute-force float64 oracles written here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fastgan.metrics import (
    ADMInceptionScore,
    ADMPrecisionRecall,
    adm_inception_score,
    adm_manifold_radii,
    adm_pairwise_distances,
    adm_precision_recall,
    load_adm_reference,
    save_adm_reference,
)


def oracle_pr(x: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    """Float64 brute force: squared distances, radius = sorted own row (self included) at index k,
    membership with <=."""

    def sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)

    rx = np.sort(sq(x, x), axis=1)[:, k]
    ry = np.sort(sq(y, y), axis=1)[:, k]
    d = sq(x, y)  # real rows x fake columns
    precision = float(np.mean((d <= rx[:, None]).any(axis=0)))
    recall = float(np.mean((d <= ry[None, :]).any(axis=1)))
    return precision, recall


def oracle_fp16_distances(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The graph's float16 branch with numpy: each op's exact value rounded to float16, the
    product and the sums of squares accumulated in float32 (then float16)."""
    h = np.float16
    u16, v16 = u.astype(h), v.astype(h)
    nu = (u16.astype(np.float64) ** 2).astype(h).astype(np.float32).sum(1).astype(h)
    nv = (v16.astype(np.float64) ** 2).astype(h).astype(np.float32).sum(1).astype(h)
    m = (u16.astype(np.float32) @ v16.astype(np.float32).T).astype(h)
    two_m = (2.0 * m.astype(np.float64)).astype(h)
    d = (nu.astype(np.float64)[:, None] - two_m.astype(np.float64)).astype(h)
    d = (d.astype(np.float64) + nv.astype(np.float64)[None, :]).astype(h)
    return np.maximum(d, h(0)).astype(np.float32)


@pytest.mark.parametrize("fp16", [True, False])
@pytest.mark.parametrize("blocks", [(10000, 10000), (7, 5), (3, 64)])
def test_precision_recall_exact_on_integer_features(fp16: bool, blocks: tuple[int, int]) -> None:
    # small integers: every distance is exact in float16, float32 and float64, so ties (which
    # '<=' counts) are the same in every precision and the oracle comparison is exact
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (40, 6)).astype(np.float32)
    y = rng.integers(-2, 3, (33, 6)).astype(np.float32) + (rng.random((33, 6)) < 0.2)
    got = adm_precision_recall(
        torch.from_numpy(x),
        torch.from_numpy(y),
        k=3,
        fp16=fp16,
        row_batch_size=blocks[0],
        col_batch_size=blocks[1],
    )
    p, r = oracle_pr(x.astype(np.float64), y.astype(np.float64), 3)
    assert got == {"precision": p, "recall": r}


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_float32_matches_float64_oracle(k: int) -> None:
    rng = np.random.default_rng(k)
    x = rng.standard_normal((120, 16))
    y = rng.standard_normal((100, 16)) * 1.3 + 0.4
    got = adm_precision_recall(torch.from_numpy(x), torch.from_numpy(y), k=k, fp16=False, row_batch_size=50)
    p, r = oracle_pr(x, y, k)
    # continuous data: a float32 distance lands on the other side of a radius only with
    # probability ~1e-7 per pair; the counts agree
    assert got["precision"] == pytest.approx(p, abs=1.5 / 100)
    assert got["recall"] == pytest.approx(r, abs=1.5 / 120)


def test_fp16_distances_match_numpy_emulation() -> None:
    rng = np.random.default_rng(1)
    u = (rng.standard_normal((30, 64)) * 0.8).astype(np.float32)
    v = (rng.standard_normal((25, 64)) * 0.8).astype(np.float32)
    got = adm_pairwise_distances(torch.from_numpy(u), torch.from_numpy(v)).numpy()
    want = oracle_fp16_distances(u, v)
    # the float32 accumulation order of the product may differ from numpy's: one float16 ulp
    ulp = np.spacing(np.abs(want).astype(np.float16)).astype(np.float32)
    assert np.all(np.abs(got - want) <= ulp + 1e-12)
    assert np.mean(got == want) > 0.95
    exact = ((u[:, None].astype(np.float64) - v[None].astype(np.float64)) ** 2).sum(-1)
    assert np.max(np.abs(got - exact) / exact) < 0.01  # float16: ~3 decimal digits
    assert not np.array_equal(got, exact.astype(np.float32))  # the fp16 step does round


def test_fp16_overflow_falls_back_to_float32_for_the_whole_block() -> None:
    rng = np.random.default_rng(2)
    small = rng.standard_normal((6, 8)).astype(np.float32)
    big = small.copy()
    big[0, 0] = 400.0  # |x|^2 > 65504: float16 norm is inf
    u, v = torch.from_numpy(big), torch.from_numpy(small)
    got = adm_pairwise_distances(u, v)
    u64, v64 = big.astype(np.float64), small.astype(np.float64)
    exact = ((u64[:, None] - v64[None]) ** 2).sum(-1)
    assert np.all(np.isfinite(got.numpy()))
    # every entry (not only the overflowing row) is float32-accurate, i.e. far better than float16
    rows = np.arange(1, 6)
    scale = (u64**2).sum(1)[:, None] + (v64**2).sum(1)[None, :]  # the expanded form's cancellation
    assert np.max(np.abs(got.numpy()[rows] - exact[rows]) / scale[rows]) < 1e-6
    assert torch.equal(got, adm_pairwise_distances(u, v, fp16=False))


def test_radii_block_decision_follows_the_evaluator_grid() -> None:
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((8, 10)) * 0.7).astype(np.float32)
    b = a + 300.0  # far away and overflowing in float16
    x = np.concatenate([a, b])
    radii = adm_manifold_radii(torch.from_numpy(x), 3, row_batch_size=8, col_batch_size=8).numpy()
    # rows of a: their own block (a x a) is finite in float16; the (a x b) block falls back but
    # its distances are far larger, so a's radii are the float16 ones of a alone
    want_a = np.sort(oracle_fp16_distances(a, a), axis=1)[:, 3]
    np.testing.assert_array_equal(radii[:8], want_a)
    # rows of b: every block they touch falls back to float32
    want_b = adm_manifold_radii(
        torch.from_numpy(x), 3, fp16=False, row_batch_size=8, col_batch_size=8
    ).numpy()[8:]
    np.testing.assert_array_equal(radii[8:], want_b)


def test_radius_is_index_k_of_the_row_with_self() -> None:
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]])
    # sorted squared distances of row 0: 0, 1, 9, 36, 100 -> index 2 = 9 (k = 2)
    assert adm_manifold_radii(x, 2)[0].item() == 9.0
    with pytest.raises(ValueError, match="more than k"):
        adm_manifold_radii(x[:2], 2)


def test_class_merges_banks() -> None:
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.integers(-2, 3, (30, 5)).astype(np.float32))
    y = torch.from_numpy(rng.integers(-2, 3, (20, 5)).astype(np.float32))
    m = ADMPrecisionRecall(k=3)
    m.update(x[:10], real=True)
    m.update(y, real=False)
    m.update(x[10:], real=True)
    p, r = oracle_pr(x.double().numpy(), y.double().numpy(), 3)
    assert m.compute() == {"precision": p, "recall": r}


def oracle_is(p: np.ndarray, split_size: int) -> float:
    scores = []
    for i in range(0, len(p), split_size):
        part = p[i : i + split_size]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores))


@pytest.mark.parametrize("n,size", [(23, 5), (20, 5), (7, 10)])
def test_inception_score_splits_of_fixed_size(n: int, size: int) -> None:
    rng = np.random.default_rng(n)
    logits = rng.standard_normal((n, 11)) * 3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    got = adm_inception_score(torch.from_numpy(logits), split_size=size)
    assert got["is_mean"] == pytest.approx(oracle_is(p, size), rel=1e-12)
    m = ADMInceptionScore(num_samples=n, split_size=size)
    assert m.splits == math.ceil(n / size)
    for a in range(0, n, 4):
        m.update(torch.from_numpy(logits[a : a + 4]))
    assert m.compute()["is_mean"] == pytest.approx(got["is_mean"], rel=1e-12)


def test_inception_score_merge_checks_split_size() -> None:
    a, b = ADMInceptionScore(num_samples=10, split_size=5), ADMInceptionScore(num_samples=10, split_size=6)
    with pytest.raises(ValueError, match="split_size"):
        a.merge(b)


def test_reference_batch_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    imgs = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    f, s = rng.standard_normal((12, 5)), rng.standard_normal((12, 4))
    path = save_adm_reference(
        tmp_path / "ref.npz", imgs, pool3=torch.from_numpy(f), spatial=torch.from_numpy(s)
    )
    with np.load(path) as z:
        assert sorted(z.files) == ["arr_0", "mu", "mu_s", "sigma", "sigma_s"]
    ref = load_adm_reference(path)
    np.testing.assert_array_equal(ref.images, imgs)
    np.testing.assert_allclose(ref.mu, f.mean(0), rtol=1e-14)
    np.testing.assert_allclose(ref.sigma, np.cov(f, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(ref.mu_s, s.mean(0), rtol=1e-14)
    np.testing.assert_allclose(ref.sigma_s, np.cov(s, rowvar=False), rtol=1e-12)
    assert ref.has_stats
    only = save_adm_reference(tmp_path / "imgs.npz", imgs)
    assert not load_adm_reference(only).has_stats


def test_reference_batch_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", mu=np.zeros(3), sigma=np.eye(3), arr_0=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="statistics"):
        load_adm_reference(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="arr_0"):
        load_adm_reference(tmp_path / "b.npz")
    with pytest.raises(ValueError, match="both"):
        save_adm_reference(tmp_path / "c.npz", np.zeros((2, 4, 4, 3), np.uint8), pool3=torch.zeros(2, 3))
