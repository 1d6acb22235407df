"""Approximate PRDC (fastgan.metrics._ann, ``index="ivf" | "hnsw"``).

Checked against the exact engine (itself checked bit-for-bit against a float64 oracle in
test_knn.py / test_prdc.py; both sum float64 distances in the same order, so equality is
exact) and against a numpy oracle up to float64 summation order: exhaustive settings
reproduce the exact result; weak settings err only in the documented direction (radii
too large, memberships missing for given radii).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

pytest.importorskip("faiss")

from fastgan.metrics import PRDC, density_coverage, prdc, precision_recall, realism_score

A = importlib.import_module("fastgan.metrics._ann")
K = importlib.import_module("fastgan.metrics._knn")


def sqdist64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.stack([((a[i][None, :] - b) ** 2).sum(1) for i in range(len(a))])


def oracle_radii(x: np.ndarray, k: int) -> np.ndarray:
    d = sqdist64(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def exact_radii(x: np.ndarray, k: int) -> torch.Tensor:
    return K.knn_sqradii_torch(torch.from_numpy(x), [k])[0]


def _data(seed: int, n: int = 300, m: int = 260, d: int = 16):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, d)) * 3
    x = centers[rng.integers(0, 6, n)] + rng.normal(size=(n, d))
    y = centers[rng.integers(0, 6, m)] + rng.normal(size=(m, d)) * 1.1 + 0.1
    return x.astype(np.float32), y.astype(np.float32)


EXHAUSTIVE = {
    # every cell probed: the IVF search is exhaustive, only float32 ranking remains
    "ivf": {"nlist": 4, "nprobe": 4, "candidates": 400},
    "hnsw": {"M": 16, "ef_search": 600, "ef_construction": 200, "candidates": 400},
}
WEAK = {"nlist": 16, "nprobe": 1, "candidates": 4}


# ----------------------------------------------------------------------------- exhaustive == exact


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
@pytest.mark.parametrize("seed", [0, 1])
def test_exhaustive_settings_equal_exact(index, seed):
    real, fake = _data(seed)
    exact = prdc(real, fake, nearest_k=5)
    got = prdc(real, fake, nearest_k=5, index=index, index_options=EXHAUSTIVE[index])
    assert got == exact
    assert precision_recall(real, fake, k=3, index=index, index_options=EXHAUSTIVE[index]) == precision_recall(
        real, fake, k=3
    )
    assert density_coverage(real, fake, k=4, index=index, index_options=EXHAUSTIVE[index]) == density_coverage(
        real, fake, k=4
    )


def test_exhaustive_strict_and_realism_equal_exact():
    real, fake = _data(3)
    opts = EXHAUSTIVE["ivf"]
    assert prdc(real, fake, 3, strict=True, index="ivf", index_options=opts) == prdc(real, fake, 3, strict=True)
    for squared in (False, True):
        want = realism_score(real, fake, k=3, squared=squared)
        got = realism_score(real, fake, k=3, squared=squared, index="ivf", index_options=opts)
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_exhaustive_radii_equal_oracle():
    real, _ = _data(4)
    cfg = A.resolve_index("ivf", EXHAUSTIVE["ivf"])
    got = A.ann_sqradii(torch.from_numpy(real), [1, 5], A.AnnIndex(torch.from_numpy(real), cfg))
    for t, k in enumerate([1, 5]):
        np.testing.assert_array_equal(got[t].numpy(), exact_radii(real, k).numpy())
        np.testing.assert_allclose(got[t].numpy(), oracle_radii(real, k), rtol=1e-14)


def test_search_widens_for_queries_inside_many_balls():
    # one fake sample at the centre of a tight real cluster lies in every ball; with
    # 2 candidates per query the search must double until it has counted all of them
    rng = np.random.default_rng(5)
    real = np.concatenate([rng.normal(size=(40, 8)) * 0.01, rng.normal(size=(60, 8)) + 5]).astype(np.float32)
    fake = np.concatenate([np.zeros((1, 8)), rng.normal(size=(30, 8)) + 5]).astype(np.float32)
    opts = {"nlist": 2, "nprobe": 2, "candidates": 2}
    stats: dict = {}
    got = density_coverage(real, fake, k=5, index="ivf", index_options=opts, stats=stats)
    assert got == density_coverage(real, fake, k=5)
    assert stats["ann_researched_queries"] > 0


# ----------------------------------------------------------------------------- error direction


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weak_radii_never_below_exact(seed):
    real, _ = _data(seed, n=400, d=32)
    x = torch.from_numpy(real)
    cfg = A.resolve_index("ivf", WEAK)
    got = A.ann_sqradii(x, [3, 5], A.AnnIndex(x, cfg))
    for t, k in enumerate([3, 5]):
        assert torch.all(got[t] >= exact_radii(real, k))
    assert torch.any(got[1] > exact_radii(real, 5)), "weak settings should miss some neighbours"


@pytest.mark.parametrize("seed", [0, 1])
def test_weak_memberships_are_subsets_of_exact(seed):
    real, fake = _data(seed, n=400, m=350, d=32)
    x, y = torch.from_numpy(real), torch.from_numpy(fake)
    r2 = exact_radii(real, 5)
    s2 = exact_radii(fake, 5)
    cfg = A.resolve_index("ivf", WEAK)
    got = A.ann_ball_stats(x, y, r2, s2, cfg, 2, index_y=A.AnnIndex(y, cfg))
    want = K.cross_ball_stats_torch(x, y, r2, s2)
    assert torch.all(got["count_y"] <= want["count_y"])
    assert not torch.any(got["cover_x"] & ~want["cover_x"])
    assert not torch.any(got["inside_y_x"] & ~want["inside_y_x"])
    assert got["count_y"].sum() < want["count_y"].sum(), "weak settings should miss some memberships"


def test_weak_realism_never_above_exact_for_given_radii():
    real, fake = _data(6, n=400, m=100, d=32)
    x, q = torch.from_numpy(real), torch.from_numpy(fake)
    r2 = exact_radii(real, 3)
    cfg = A.resolve_index("ivf", WEAK)
    got = A.ann_max_ratio(x, r2, q, cfg, 2, eps=0.0)
    want = K.max_ratio_torch(x, r2, q, eps=0.0)
    assert torch.all(got <= want)
    assert torch.any(got < want)


# ----------------------------------------------------------------------------- API


def test_stats_report_approximation():
    real, fake = _data(7)
    st: dict = {}
    prdc(real, fake, 5, index="ivf", stats=st)
    assert st["approximate"] is True and st["index"] == "ivf"
    assert st["index_options"]["candidates"] == 20 and st["index_options"]["nprobe"] == 16
    st2: dict = {}
    prdc(real, fake, 5, stats=st2)
    assert st2["approximate"] is False and st2["index"] == "flat"


def test_ivf_is_reproducible():
    real, fake = _data(8, n=500, m=500, d=32)
    opts = {"nlist": 16, "nprobe": 2}
    a = prdc(real, fake, 5, index="ivf", index_options=opts)
    b = prdc(real, fake, 5, index="ivf", index_options=opts)
    assert a == b


def test_prdc_class_passes_index():
    real, fake = _data(9)
    m = PRDC(nearest_k=5, index="ivf", index_options=EXHAUSTIVE["ivf"])
    m.update(real, real=True)
    m.update(fake, real=False)
    st: dict = {}
    assert m.compute(stats=st) == prdc(real, fake, 5)
    assert st["approximate"] is True


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        ({"index": "annoy"}, ValueError, "index"),
        ({"index": 3}, ValueError, "index"),
        ({"index_options": {"nprobe": 2}}, ValueError, "index_options"),
        ({"index": "ivf", "index_options": {"M": 8}}, ValueError, "'M'"),
        ({"index": "hnsw", "index_options": {"nprobe": 8}}, ValueError, "nprobe"),
        ({"index": "ivf", "index_options": {"nprobe": 0}}, ValueError, "nprobe"),
        ({"index": "ivf", "index_options": {"candidates": 2.5}}, ValueError, "candidates"),
        ({"index": "ivf", "index_options": {"seed": True}}, ValueError, "seed"),
        ({"index": "ivf", "index_options": [("nprobe", 2)]}, TypeError, "index_options"),
        ({"index": "ivf", "backend": "torch"}, ValueError, "backend"),
    ],
)
def test_argument_validation(kwargs, exc, words):
    real, fake = _data(10, n=50, m=50)
    with pytest.raises(exc, match=words):
        prdc(real, fake, 3, **kwargs)


def test_missing_faiss_is_a_clear_error(monkeypatch):
    real, fake = _data(11, n=50, m=50)
    monkeypatch.setattr(K, "faiss_module", lambda: None)
    with pytest.raises(RuntimeError, match="faiss is not installed"):
        prdc(real, fake, 3, index="hnsw")
    assert prdc(real, fake, 3) == prdc(real, fake, 3, backend="torch")  # exact path unaffected
