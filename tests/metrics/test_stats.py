"""FeatureStats (fastgan/metrics/_stats.py): the chunked symmetric rank-k update against an
extended-precision brute force, chunk-size independence, offset and drifting data, exact
symmetry, merges of states whose lower triangle is not yet mirrored, and both update routes
(numpy + BLAS dsyrk on CPU, torch elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics import _stats
from fastgan.metrics._stats import FeatureStats, default_chunk_rows

# np.longdouble is the 80-bit x87 format on x86-64 Linux (64-bit mantissa): the oracle below
# is then ~2000x more precise than float64. Where it is plain float64 the tolerances still hold
# for these sizes, only with less margin.
RTOL = 1e-12


def _x(n: int, d: int, seed: int, shift: float = 0.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) * 2 + shift).to(dtype)


def oracle(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance by the two-pass definition in extended precision."""
    a = x.double().numpy().astype(np.longdouble)
    mean = a.sum(axis=0) / a.shape[0]
    c = a - mean
    return mean, (c.T @ c) / (a.shape[0] - 1)


def assert_matches_oracle(s: FeatureStats, x: torch.Tensor, rtol: float = RTOL) -> None:
    mean, cov = oracle(x)
    scale = float(np.abs(cov).max())
    got_cov = s.cov.numpy().astype(np.longdouble)
    err = float(np.abs(got_cov - cov).max()) / scale
    assert err <= rtol, f"cov max error {err:.3g} x max|cov| exceeds {rtol}"
    spread = float(np.sqrt(np.diag(cov)).max())
    mean_err = float(np.abs(s.mean.numpy().astype(np.longdouble) - mean).max())
    # the mean is only as exact as its magnitude allows: a few ulps of max|mean|, or of the spread
    assert mean_err <= 1e-14 * max(float(np.abs(mean).max()), spread), f"mean error {mean_err:.3g}"


@pytest.mark.parametrize("chunk_rows", [1, 2, 7, 255, 256, 1000, None])
def test_chunk_size_independent_and_exact(chunk_rows: int | None) -> None:
    x = _x(1000, 24, 0)
    s = FeatureStats(chunk_rows=chunk_rows).update(x)
    assert s.count == 1000
    assert_matches_oracle(s, x)
    ref = FeatureStats(chunk_rows=1000).update(x)
    torch.testing.assert_close(s.cov, ref.cov, rtol=RTOL, atol=RTOL * float(ref.cov.abs().max()))


@pytest.mark.parametrize("chunk_rows", [3, 64, None])
def test_offset_features_stay_exact(chunk_rows: int | None) -> None:
    # a common offset of 1e4 (float32 resolution there is 1e-3): raw moments would lose
    # ~16 digits to cancellation; centred chunks keep the covariance to float64 rounding
    x = _x(2000, 16, 1, shift=1e4)
    s = FeatureStats(chunk_rows=chunk_rows).update(x)
    assert_matches_oracle(s, x)
    # and in many small update calls (a feature-extraction loop)
    t = FeatureStats(chunk_rows=chunk_rows)
    for i in range(0, 2000, 96):
        t.update(x[i : i + 96])
    assert_matches_oracle(t, x)


def test_drifting_data_stays_exact() -> None:
    # sorted "classes" far apart: the first chunks' mean is a poor shift for the later ones;
    # centring each chunk on its own mean keeps every added term a sum of squares
    parts = [_x(300, 12, 2 + k, shift=float(10**k)) for k in range(6)]  # offsets 1 .. 1e5
    x = torch.cat(parts).double()
    for chunk_rows in (50, 299, None):
        assert_matches_oracle(FeatureStats(chunk_rows=chunk_rows).update(x), x)


def test_result_is_exactly_symmetric() -> None:
    x = _x(700, 40, 3, shift=5.0)
    s = FeatureStats(chunk_rows=33).update(x)
    for m in (s.cov, s.scatter, s.cov_biased):
        assert torch.equal(m, m.mT)
    m2 = s.state_dict()["m2"]
    assert torch.equal(m2, m2.mT)
    # results are fresh tensors: editing one does not touch the state
    c = s.cov
    c.zero_()
    assert float(s.cov.abs().max()) > 0


def test_merge_equals_whole_including_unread_states() -> None:
    # merge states straight after update (their lower triangles not yet mirrored), in both orders
    x = _x(1500, 20, 4, shift=100.0)
    cuts = [0, 1, 2, 400, 401, 1499, 1500]
    parts = [FeatureStats(chunk_rows=128).update(x[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    forward = FeatureStats()
    for p in parts:
        forward.merge(p)
    backward = parts[-1].copy()
    for p in reversed(parts[:-1]):
        backward.merge(p)
    for m in (forward, backward):
        assert m.count == 1500
        assert_matches_oracle(m, x)
    scale = float(forward.cov.abs().max())
    torch.testing.assert_close(forward.cov, backward.cov, rtol=RTOL, atol=RTOL * scale)
    # update after merge, merge after update, and a copy taken before the state was read
    mixed = parts[0].copy().merge(parts[1]).update(x[2:400]).merge(parts[3].copy())
    mixed.update(x[401:1500])
    early_copy = mixed.copy()
    assert_matches_oracle(mixed, x)
    torch.testing.assert_close(early_copy.cov, mixed.cov, rtol=0, atol=0)


def test_state_dict_roundtrip_after_update() -> None:
    x = _x(300, 10, 5)
    s = FeatureStats(chunk_rows=40).update(x)
    t = FeatureStats(chunk_rows=40)  # same chunking: the same operations, bit for bit
    t.load_state_dict(s.state_dict())
    torch.testing.assert_close(t.cov, s.cov, rtol=0, atol=0)
    t.update(x[:50])
    s.update(x[:50])
    torch.testing.assert_close(t.cov, s.cov, rtol=0, atol=0)
    # a transposed (column-major) m2 in a state dict is accepted and gives the same result
    st = s.state_dict()
    st["m2"] = st["m2"].mT.contiguous().mT
    u = FeatureStats(chunk_rows=40)
    u.load_state_dict(st)
    u.update(x[:20])
    s.update(x[:20])
    torch.testing.assert_close(u.cov, s.cov, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_input_dtypes_and_strided_inputs(dtype: torch.dtype) -> None:
    x = _x(400, 18, 6, shift=3.0).to(dtype)
    s = FeatureStats(chunk_rows=100).update(x)
    assert s.mean.dtype == torch.float64 and s.cov.dtype == torch.float64
    assert_matches_oracle(s, x)
    # a column slice of a wider array and a transposed view: not contiguous rows
    wide = torch.cat([x, x[:, :5]], dim=1)[:, :18]
    assert_matches_oracle(FeatureStats(chunk_rows=100).update(wide), x)
    tview = x.mT.contiguous().mT
    assert not tview.is_contiguous()
    assert_matches_oracle(FeatureStats(chunk_rows=100).update(tview), x)


def test_torch_route_matches_blas_route(monkeypatch: pytest.MonkeyPatch) -> None:
    # the route used off-CPU (torch centring, GEMM update) against the CPU one (numpy, dsyrk)
    x = _x(257, 30, 7, shift=50.0)
    mean_np, buf_np = _stats._centred_numpy(x, [])
    mean_t, buf_t = _stats._centred_torch(x)
    torch.testing.assert_close(mean_t, mean_np, rtol=1e-15, atol=0)
    torch.testing.assert_close(buf_t[:-1], buf_np[:-1], rtol=0, atol=1e-12)
    blas = FeatureStats(chunk_rows=64).update(x)
    monkeypatch.setattr(_stats, "_DSYRK", None)
    gemm = FeatureStats(chunk_rows=64).update(x)
    torch.testing.assert_close(gemm.cov, blas.cov, rtol=RTOL, atol=RTOL * float(blas.cov.abs().max()))
    assert_matches_oracle(gemm, x)


def test_scatter_update_touches_only_the_upper_triangle() -> None:
    g = torch.Generator().manual_seed(8)
    xc = torch.randn(9, 6, generator=g, dtype=torch.float64)
    m2 = torch.full((6, 6), 7.0, dtype=torch.float64)
    _stats.scatter_update(m2, xc)
    want = 7.0 + xc.T @ xc
    iu = torch.triu_indices(6, 6)
    torch.testing.assert_close(m2[iu[0], iu[1]], want[iu[0], iu[1]], rtol=1e-15, atol=1e-13)
    if _stats._DSYRK is not None:  # BLAS dsyrk leaves the strict lower triangle as it was
        il = torch.tril_indices(6, 6, -1)
        assert bool((m2[il[0], il[1]] == 7.0).all())


def test_mirror_upper() -> None:
    for d in (1, 5, 128, 300):
        g = torch.Generator().manual_seed(d)
        m = torch.randn(d, d, generator=g, dtype=torch.float64)
        want = m.triu() + m.triu(1).mT
        assert torch.equal(_stats.mirror_upper_(m.clone(), block=128), want)
        assert torch.equal(_stats.mirror_upper_(m.clone(), block=7), want)


def test_default_chunk_rows() -> None:
    cpu = torch.device("cpu")
    for d in (1, 8, 64, 1000, 2048, 4096, 100_000):
        rows = default_chunk_rows(d, cpu)
        assert rows >= 255 and (rows + 1) % 256 == 0
        # the float64 chunk stays near the budget unless one 256-row panel exceeds it
        assert (rows + 1) * d <= max(_stats.CPU_CHUNK_ELEMS, 256 * d)
    assert default_chunk_rows(2048, torch.device("cuda")) == _stats.DEFAULT_CHUNK_ROWS
    with pytest.raises(ValueError, match="chunk_rows"):
        FeatureStats(chunk_rows=0)


def test_statistics_without_count_refuse_cov_biased() -> None:
    s = FeatureStats.from_moments(None, torch.zeros(3), torch.eye(3))
    with pytest.raises(ValueError, match="no sample count"):
        _ = s.cov_biased
    torch.testing.assert_close(s.cov, torch.eye(3, dtype=torch.float64), rtol=0, atol=0)
