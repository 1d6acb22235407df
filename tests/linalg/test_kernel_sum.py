"""fastgan.linalg.kernel_row_sums: the native polynomial-kernel row sums against the float64
torch reference (every region, dtype, degree, strided views), the binding's refusals, and the
KID rounds built on it against numpy's own path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgan import _ext
from fastgan.linalg import kernel_row_sums
from fastgan.linalg.kernel_sum import REGIONS, kernel_row_sums_ref

needs_ext = pytest.mark.skipif(not _ext.HAS_EXT, reason="needs the compiled extension")
needs_cuda = pytest.mark.skipif(
    not (_ext.HAS_CUDA_EXT and torch.cuda.is_available()), reason="needs CUDA and the CUDA kernels"
)


def _block(rows: int, cols: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, cols, generator=g, dtype=torch.float64) * 40).to(dtype)


@needs_ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("region", list(REGIONS))
@pytest.mark.parametrize("degree", [0, 1, 2, 3, 4, 7])
def test_matches_the_float64_reference(dtype: torch.dtype, region: str, degree: int) -> None:
    s = _block(37, 53, dtype, seed=degree)
    got = kernel_row_sums(s, 1 / 64, 1.0, degree, region, impl="ext")
    want = kernel_row_sums_ref(s, 1 / 64, 1.0, degree, region)
    assert got.dtype == torch.float64 and got.shape == (37,)
    # float64 terms and sums on both sides: only the order of the additions differs
    scale = float(kernel_row_sums_ref(s.abs(), 1 / 64, 1.0, degree, "full").abs().max())
    assert float((got - want).abs().max()) <= 1e-13 * max(scale, 1.0)


@needs_ext
def test_regions_partition_the_block_without_its_diagonal() -> None:
    s = _block(20, 20, torch.float64, seed=1)
    full, lower, upper = (kernel_row_sums(s, 0.01, 0.5, 3, r, impl="ext") for r in ("full", "lower", "upper"))
    diag = (0.01 * torch.diagonal(s) + 0.5) ** 3
    torch.testing.assert_close(lower + upper + diag, full, rtol=1e-13, atol=1e-12)
    # a symmetric block: the two strict triangles have the same total
    sym = s + s.T
    lo = kernel_row_sums(sym, 0.01, 0.5, 3, "lower", impl="ext").sum()
    up = kernel_row_sums(sym, 0.01, 0.5, 3, "upper", impl="ext").sum()
    torch.testing.assert_close(lo, up, rtol=1e-13, atol=0.0)


@needs_ext
def test_strided_views_and_empty_blocks() -> None:
    wide = _block(12, 30, torch.float32, seed=2)
    view = wide[2:9, 5:21]  # row stride 30, 16 columns
    torch.testing.assert_close(
        kernel_row_sums(view, 0.1, 1.0, 3, "lower", impl="ext"),
        kernel_row_sums_ref(view, 0.1, 1.0, 3, "lower"),
        rtol=1e-12,
        atol=1e-9,
    )
    tview = wide[:, :12].T  # column stride != 1: made contiguous first
    torch.testing.assert_close(
        kernel_row_sums(tview, 0.1, 1.0, 2, impl="ext"),
        kernel_row_sums_ref(tview, 0.1, 1.0, 2),
        rtol=1e-12,
        atol=1e-9,
    )
    for shape in ((0, 5), (4, 0), (0, 0)):
        got = kernel_row_sums(torch.zeros(shape), 0.1, 1.0, 3, "upper", impl="ext")
        assert got.shape == (shape[0],) and bool((got == 0).all())


def test_arguments_are_named() -> None:
    s = torch.zeros(3, 3)
    with pytest.raises(ValueError, match="^s: expected a 2-D"):
        kernel_row_sums(torch.zeros(3), 1.0, 1.0, 3)
    with pytest.raises(ValueError, match="^region: "):
        kernel_row_sums(s, 1.0, 1.0, 3, "diagonal")
    with pytest.raises(ValueError, match="^degree: "):
        kernel_row_sums(s, 1.0, 1.0, -1)
    with pytest.raises(TypeError, match="^s: expected a float"):
        kernel_row_sums(torch.zeros(3, 3, dtype=torch.int64), 1.0, 1.0, 3)


@needs_ext
def test_binding_refuses_inconsistent_sizes() -> None:
    s = torch.zeros(4, 4)
    out = torch.empty(4, dtype=torch.float64)
    args = dict(s=s.data_ptr(), out=out.data_ptr(), rows=4, cols=4, ld=4, s_numel=16, out_numel=4, dtype=0)
    kw = dict(region=0, degree=3, gamma=1.0, coef0=1.0, num_threads=1)
    _ext._C.kernel_row_sums_cpu(**args, **kw)
    for bad in ({"ld": 3}, {"s_numel": 15}, {"out_numel": 3}, {"dtype": 2}, {"s": 0}):
        with pytest.raises(ValueError, match="kernel_sum"):
            _ext._C.kernel_row_sums_cpu(**{**args, **bad}, **kw)
    for bad_kw in ({"region": 3}, {"degree": -1}, {"num_threads": 0}):
        with pytest.raises(ValueError, match="kernel_sum"):
            _ext._C.kernel_row_sums_cpu(**args, **{**kw, **bad_kw})


@needs_ext
@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(0, 40),
    cols=st.integers(0, 40),
    region=st.sampled_from(list(REGIONS)),
    degree=st.integers(0, 5),
    f64=st.booleans(),
    threads=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_the_reference(
    rows: int, cols: int, region: str, degree: int, f64: bool, threads: int, seed: int
) -> None:
    s = _block(rows, cols, torch.float64 if f64 else torch.float32, seed)
    got = kernel_row_sums(s, 1 / 32, 1.0, degree, region, impl="ext", threads=threads)
    want = kernel_row_sums_ref(s, 1 / 32, 1.0, degree, region)
    scale = (
        float(kernel_row_sums_ref(s.abs(), 1 / 32, 1.0, degree, "full").abs().max()) if rows and cols else 1.0
    )
    assert float((got - want).abs().max()) <= 1e-13 * max(scale, 1.0) if rows else got.numel() == 0


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("region", list(REGIONS))
def test_cuda_matches_the_cpu(dtype: torch.dtype, region: str) -> None:
    s = _block(300, 700, dtype, seed=4)
    cpu = kernel_row_sums(s, 1 / 128, 1.0, 3, region, impl="ext")
    gpu = kernel_row_sums(s.cuda(), 1 / 128, 1.0, 3, region, impl="ext")
    again = kernel_row_sums(s.cuda(), 1 / 128, 1.0, 3, region, impl="ext")
    assert torch.equal(gpu, again)  # no atomics: bitwise deterministic
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-13, atol=1e-9)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kid_rounds_native_equal_numpy_path(dtype: type) -> None:
    """The KID rounds with the native row sums equal the numpy kernel passes + float64 sums."""
    from fastgan.metrics import _kid_cpu

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(60, 16, generator=g).abs() * 0.5).numpy().astype(dtype)
    y = (torch.randn(50, 16, generator=g).abs() * 0.6).numpy().astype(dtype)
    ir = np.stack([np.random.default_rng(i).choice(60, 20, replace=False) for i in range(4)])
    jf = np.stack([np.random.default_rng(9 + i).choice(50, 20, replace=False) for i in range(4)])
    args = (1 / 16, 1.0, 3)
    native = _kid_cpu._Round(20, 16, np.dtype(dtype), native=True)
    plain = _kid_cpu._Round(20, 16, np.dtype(dtype), native=False)
    for r in range(4):
        a = native(x, y, ir[r], jf[r], *args)
        b = plain(x, y, ir[r], jf[r], *args)
        # float32: the numpy path rounds each kernel entry to float32, the native one does not
        assert abs(a - b) <= (1e-6 if dtype == np.float32 else 1e-12) * 8.0, (a, b)
