"""Exact k-NN engines (fastgan.metrics.knn): radii and ball statistics vs a float64 oracle.

The oracle below is written independently of the library: full float64 distance matrices by
direct differences (numpy), sorted rows, explicit comparisons. Results must be EQUAL, not
close, including on data built to sit on the float32 decision boundary.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics import _bounds as bounds
from fastgan.metrics import knn
from fastgan.metrics.knn import faiss_engine, torch_engine

HAS_FAISS = knn.faiss_module() is not None
RADII = [torch_engine.knn_sqradii_torch] + ([faiss_engine.knn_sqradii_faiss] if HAS_FAISS else [])
CROSS = [torch_engine.cross_ball_stats_torch] + ([faiss_engine.cross_ball_stats_faiss] if HAS_FAISS else [])


# ----------------------------------------------------------------------------- oracle


def sqdist64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.empty((len(a), len(b)))
    for i in range(len(a)):
        diff = a[i][None, :] - b
        out[i] = (diff * diff).sum(1)
    return out


def oracle_radii(x: np.ndarray, ks: list[int]) -> np.ndarray:
    d = sqdist64(x, x)
    np.fill_diagonal(d, np.inf)  # the point itself is not its own neighbour
    srt = np.sort(d, axis=1)
    return np.stack([srt[:, k - 1] for k in ks])


def oracle_cross(x, y, r2, s2, strict):
    d = sqdist64(x, y)
    inside = (d < r2[:, None]) if strict else (d <= r2[:, None])
    inside_y = (d < s2[None, :]) if strict else (d <= s2[None, :])
    return inside.sum(0), inside.any(1), inside_y.any(1)


# ----------------------------------------------------------------------------- data sets


def adversarial_sets(rng: np.random.Generator) -> dict[str, np.ndarray]:
    grid = np.stack(np.meshgrid(np.arange(6), np.arange(6), np.arange(3)), -1).reshape(-1, 3)
    base = rng.normal(size=(120, 32)).astype(np.float32)
    return {
        "gaussian": rng.normal(size=(150, 48)).astype(np.float32),
        # all distances are small integers: massive exact ties
        "int_grid": grid.astype(np.float32),
        # every point three times: radii 0 for k <= 2, ties everywhere
        "duplicates": np.repeat(rng.integers(0, 4, size=(40, 5)), 3, axis=0).astype(np.float32),
        # large offset: |x|^2 ~ 3e7 while distances ~ 60: float32 expansion is badly conditioned
        "offset_1000": (base + 1000.0).astype(np.float32),
        "offset_1e4_small": (base * 1e-2 + 1e4).astype(np.float32),
        # one far outlier next to a tight cluster
        "outlier": np.concatenate([base[:60] * 1e-3, base[60:61] + 1e5]).astype(np.float32),
        # beyond float32 range when squared: handled in float64
        "huge": (base[:50].astype(np.float64) * 1e25),
        # float32 subnormal products
        "tiny": (base[:50] * 1e-22).astype(np.float32),
        "float64_near_ties": (1.0 + rng.integers(0, 3, size=(80, 4)) * 2.0**-40).astype(np.float64),
    }


_SETS = adversarial_sets(np.random.default_rng(123))
# sets on which float64 arithmetic is exact (any summation order gives the same bits)
_EXACT_ARITH = {"int_grid", "duplicates", "float64_near_ties"}


def assert_radii_equal(got: np.ndarray, want: np.ndarray, exact: bool) -> None:
    """Bitwise on exact-arithmetic data; else up to the float64 summation order (a few ulp)."""
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("fn", RADII, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", sorted(_SETS))
def test_radii_exact(fn, name):
    x = _SETS[name]
    ks = [1, 2, 3, 5]
    got = fn(torch.from_numpy(x), ks, block_size=17).numpy()
    assert_radii_equal(got, oracle_radii(x, ks), name in _EXACT_ARITH)


@pytest.mark.parametrize("block_size", [1, 7, None])
def test_radii_block_size_independent(block_size):
    x = np.random.default_rng(0).normal(size=(90, 16)).astype(np.float32)
    got = torch_engine.knn_sqradii_torch(torch.from_numpy(x), [3], block_size=block_size).numpy()
    assert_radii_equal(got, oracle_radii(x, [3]), False)
    ref = torch_engine.knn_sqradii_torch(torch.from_numpy(x), [3], block_size=90).numpy()
    np.testing.assert_array_equal(got, ref)  # same float64 formula: bitwise identical


def test_radii_incomplete_rows_take_full_pass():
    # 40 identical points: the stored top-(k+16) can never certify completeness
    x = np.zeros((40, 3), dtype=np.float32)
    x[-1] = 1.0
    st: dict = {}
    got = torch_engine.knn_sqradii_torch(torch.from_numpy(x), [3], stats=st).numpy()
    assert st["knn_full_rows"] > 0
    assert_radii_equal(got, oracle_radii(x, [3]), True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_radii_other_dtypes(dtype):
    x = torch.randn(70, 12).to(dtype)
    got = torch_engine.knn_sqradii_torch(x, [1, 4]).numpy()
    assert_radii_equal(got, oracle_radii(x.double().numpy(), [1, 4]), False)


@pytest.mark.parametrize("fn", CROSS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("name", ["gaussian", "int_grid", "duplicates", "offset_1000", "huge", "tiny"])
def test_cross_stats_exact(fn, strict, name):
    x = _SETS[name]
    rng = np.random.default_rng(7)
    # fake: shifted copies of real points (integer shifts keep exact ties on the grid sets)
    y = (x[rng.permutation(len(x))[: len(x) // 2]] + (x[1] - x[0])).astype(x.dtype)
    r2 = oracle_radii(x, [3])[0]
    s2 = oracle_radii(y, [3])[0]
    res = fn(
        torch.from_numpy(x),
        torch.from_numpy(y),
        torch.from_numpy(r2),
        torch.from_numpy(s2),
        strict=strict,
        block_size=13,
    )
    count, cover, inside = oracle_cross(x, y, r2, s2, strict)
    np.testing.assert_array_equal(res["count_y"].numpy(), count)
    np.testing.assert_array_equal(res["cover_x"].numpy(), cover)
    np.testing.assert_array_equal(res["inside_y_x"].numpy(), inside)


def test_cross_points_exactly_on_spheres():
    # real: integer grid; fake: real points moved by exactly their radius along an axis
    # (radius 1 on the unit grid), so every fake lies ON a sphere; <= and < must differ.
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(5)), -1).reshape(-1, 2).astype(np.float32)
    r2 = oracle_radii(grid, [2])[0]
    assert (r2 == 1).all()
    fake = (grid[::3] + np.array([0.0, 0.0], np.float32) + np.array([[0.6, 0.8]], np.float32)).astype(
        np.float32
    )
    # 0.6^2 + 0.8^2 = 1 in exact arithmetic but not in binary: the float64 oracle decides
    for strict in (False, True):
        res = torch_engine.cross_ball_stats_torch(
            torch.from_numpy(grid), torch.from_numpy(fake), torch.from_numpy(r2), None, strict=strict
        )
        count, cover, _ = oracle_cross(grid, fake, r2, r2[: len(fake)], strict)
        np.testing.assert_array_equal(res["count_y"].numpy(), count)
        np.testing.assert_array_equal(res["cover_x"].numpy(), cover)
    fake2 = grid[::3] + np.array([[1.0, 0.0]], np.float32)  # exactly distance 1 = radius
    le = torch_engine.cross_ball_stats_torch(
        torch.from_numpy(grid), torch.from_numpy(fake2), torch.from_numpy(r2), None
    )
    lt = torch_engine.cross_ball_stats_torch(
        torch.from_numpy(grid), torch.from_numpy(fake2), torch.from_numpy(r2), None, strict=True
    )
    count_le, _, _ = oracle_cross(grid, fake2, r2, r2[: len(fake2)], False)
    count_lt, _, _ = oracle_cross(grid, fake2, r2, r2[: len(fake2)], True)
    np.testing.assert_array_equal(le["count_y"].numpy(), count_le)
    np.testing.assert_array_equal(lt["count_y"].numpy(), count_lt)
    assert count_le.sum() > count_lt.sum()


def test_refinement_is_actually_exercised():
    # the offset set has a float32 error bound larger than many gaps: pairs must be refined
    x = _SETS["offset_1000"]
    st: dict = {}
    torch_engine.knn_sqradii_torch(torch.from_numpy(x), [3], stats=st)
    assert st["knn_candidates"] >= len(x)


def test_pair_sqdist_matches_numpy():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(20, 9)).astype(np.float32)
    b = rng.normal(size=(15, 9)).astype(np.float32)
    ia = torch.tensor([0, 5, 19, 3])
    ib = torch.tensor([14, 0, 7, 3])
    got = bounds.pair_sqdist(torch.from_numpy(a), torch.from_numpy(b), ia, ib).numpy()
    # float64 direct differences: equal up to the summation order of the D squares
    np.testing.assert_allclose(got, sqdist64(a, b)[ia.numpy(), ib.numpy()], rtol=4e-16, atol=0)
    ai, bi = np.round(a * 8), np.round(b * 8)  # dyadic data: every order gives the same bits
    got = bounds.pair_sqdist(torch.from_numpy(ai), torch.from_numpy(bi), ia, ib).numpy()
    np.testing.assert_array_equal(got, sqdist64(ai, bi)[ia.numpy(), ib.numpy()])


def test_oom_halves_block_and_gives_same_result(monkeypatch):
    x = np.random.default_rng(5).normal(size=(64, 8)).astype(np.float32)
    y = np.random.default_rng(6).normal(size=(50, 8)).astype(np.float32)
    real_block = torch_engine.block_sqdist

    def flaky(a, b):
        if a.shape[0] > 8:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: not enough memory")
        return real_block(a, b)

    monkeypatch.setattr(torch_engine, "block_sqdist", flaky)
    st: dict = {}
    r2 = torch_engine.knn_sqradii_torch(torch.from_numpy(x), [3], block_size=64, stats=st)
    assert st["oom_retries"] >= 1 and st["block_rows"] <= 8
    assert_radii_equal(r2.numpy(), oracle_radii(x, [3]), False)
    st2: dict = {}
    res = torch_engine.cross_ball_stats_torch(
        torch.from_numpy(x), torch.from_numpy(y), r2[0], None, block_size=64, stats=st2
    )
    assert st2["oom_retries"] >= 1
    count, cover, _ = oracle_cross(x, y, r2[0].numpy(), np.zeros(len(y)), False)
    np.testing.assert_array_equal(res["count_y"].numpy(), count)


def test_non_oom_errors_propagate(monkeypatch):
    def broken(a, b):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(torch_engine, "block_sqdist", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        torch_engine.knn_sqradii_torch(torch.randn(10, 3), [2])


def test_ieee_matmul_restores_setting():
    mk = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
    if mk is None or not hasattr(mk, "fp32_precision"):
        pytest.skip("no mkldnn fp32_precision setting in this torch")
    before = mk.fp32_precision
    with bounds.ieee_matmul(torch.device("cpu")) as u:
        assert u == 2.0**-24
    assert mk.fp32_precision == before


def test_error_bound_holds_on_bad_conditioning():
    # the bound c * (|a|^2 + |b|^2) must dominate the actual float32 error
    rng = np.random.default_rng(11)
    x = (rng.normal(size=(200, 256)) + 50).astype(np.float32)
    xt = torch.from_numpy(x)
    c = bounds.center(xt, bounds.mean64(xt), 2.0**-24, layout="both")
    blk = bounds.block_sqdist(c.aug, c.col).double().numpy()
    exact = sqdist64(x, x)
    bound = bounds.error_coeff(256, 2.0**-24) * (c.n64.numpy()[:, None] + c.n64.numpy()[None, :])
    assert (np.abs(blk - exact) <= bound).all()


def test_resolve_impl():
    assert knn.resolve_impl("torch", torch.device("cpu")) == "torch"
    assert knn.resolve_impl("auto", torch.device("cpu")) in ("torch", "faiss")
    with pytest.raises(ValueError, match="impl"):
        knn.resolve_impl("annoy", torch.device("cpu"))


def test_faiss_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(faiss_engine, "faiss_module", lambda: None)
    assert knn.resolve_impl("auto", torch.device("cpu")) == "torch"
    with pytest.raises(RuntimeError, match="faiss is not installed"):
        knn.resolve_impl("faiss", torch.device("cpu"))


@pytest.mark.cuda
def test_cuda_matches_cpu():
    x = torch.randn(300, 40)
    y = torch.randn(250, 40) + 0.1
    r_cpu = torch_engine.knn_sqradii_torch(x, [3])
    r_gpu = torch_engine.knn_sqradii_torch(x.cuda(), [3]).cpu()
    # the float64 refinement sums sum_d (a_d - b_d)**2 in each device's reduction order:
    # the same neighbour is chosen, its distance may differ in the last bit
    torch.testing.assert_close(r_gpu, r_cpu, rtol=4 * torch.finfo(torch.float64).eps, atol=0)
    a = torch_engine.cross_ball_stats_torch(x, y, r_cpu[0], r_cpu[0][:250])
    b = torch_engine.cross_ball_stats_torch(x.cuda(), y.cuda(), r_cpu[0].cuda(), r_cpu[0][:250].cuda())
    for key in a:
        assert torch.equal(a[key], b[key].cpu())


def test_chunked_float64_reductions_match_direct() -> None:
    g = torch.Generator().manual_seed(5)
    for shape in ((3, 4), (1000, 300)):  # below and above the chunking threshold
        x = torch.randn(*shape, generator=g) * 100
        want_mean = x.double().mean(0)
        want_sq = (x.double() ** 2).sum(1)
        torch.testing.assert_close(bounds.mean64(x), want_mean, rtol=1e-14, atol=1e-12)
        torch.testing.assert_close(bounds.sqnorms64(x), want_sq, rtol=1e-14, atol=0)
        assert bounds.mean64(x).dtype == bounds.sqnorms64(x).dtype == torch.float64
