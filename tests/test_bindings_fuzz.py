"""Fuzzing the raw bindings of fastgan._C.

The bindings take raw pointers and sizes. These tests call them directly with buffers from
valid tensors and random sizes (results must equal the torch reference) and with inconsistent
sizes, bad dtype codes, bad ids and null pointers (each must raise ValueError, never crash).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgan import _ext
from fastgan.divergences import KERNEL_IDS
from fastgan.linalg import _ref as linalg_ref
from fastgan.losses import _ref as losses_ref

pytestmark = pytest.mark.ext

C = _ext._C
FDIV_KERNELS = [k for name, k in KERNEL_IDS.items() if not name.startswith("alpha")]


def _fdiv(x: torch.Tensor, kernel: int, term: int) -> tuple[torch.Tensor, torch.Tensor]:
    out = torch.empty_like(x)
    grad = torch.empty_like(x)
    n = x.numel()
    C.fdiv_term_cpu(
        x.data_ptr(),
        out.data_ptr(),
        grad.data_ptr(),
        n,
        n,
        n,
        _ext.dtype_code(x),
        kernel,
        term,
        False,
        0.0,
        1.0,
        1,
    )
    return out, grad


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 300),
    kernel=st.sampled_from(FDIV_KERNELS),
    term=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**16),
)
def test_fdiv_random_sizes_match_reference(n: int, kernel: int, term: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dtype=torch.float64, generator=g) * 3
    out, grad = _fdiv(x, kernel, term)
    want_val, want_grad = losses_ref.fused_term_ref(x, kernel, term)
    torch.testing.assert_close(out, want_val, rtol=1e-12, atol=1e-12, equal_nan=True)
    torch.testing.assert_close(grad, want_grad, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n": -1}, "n must be >= 0"),
        ({"grad_numel": 5}, "grad buffer"),
        ({"out_numel": 3}, "out buffer"),
        ({"dtype": 7}, "dtype code"),
        ({"kernel": 99}, "kernel id"),
        ({"term": 2}, "term"),
        ({"x": 0}, "null"),
        ({"alpha": float("nan")}, "finite"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_fdiv_bad_arguments_raise(change: dict, match: str) -> None:
    x = torch.randn(4)
    out = torch.empty(4)
    grad = torch.empty(4)
    args = dict(
        x=x.data_ptr(),
        out=out.data_ptr(),
        grad=grad.data_ptr(),
        n=4,
        out_numel=4,
        grad_numel=4,
        dtype=0,
        kernel=KERNEL_IDS["gan"],
        term=1,
        reduce=False,
        alpha=0.0,
        coef=1.0,
        num_threads=1,
    )
    args.update(change)
    with pytest.raises(ValueError, match=match):
        C.fdiv_term_cpu(**args)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(0, 4),
    n=st.integers(0, 12),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_trace_sqrt_random_sizes_match_reference(batch: int, n: int, dtype: torch.dtype, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    fa = torch.randn(batch, n, n + 2, dtype=torch.float64, generator=g)
    fb = torch.randn(batch, n, n + 2, dtype=torch.float64, generator=g)
    a = (fa @ fa.transpose(-1, -2)).to(dtype).contiguous()
    b = (fb @ fb.transpose(-1, -2)).to(dtype).contiguous()
    out = torch.empty(batch, dtype=torch.float64)
    bad = C.trace_sqrt_product_cpu(
        a.data_ptr(), b.data_ptr(), out.data_ptr(), batch, n, _ext.dtype_code(a), 100, 1e-15, 1
    )
    assert bad == 0
    if batch and n:
        want = linalg_ref.trace_sqrt_product_ref(a.double(), b.double())
        rtol = 1e-10 if dtype == torch.float64 else 1e-4
        torch.testing.assert_close(out, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"batch": -1}, "batch"),
        ({"n": -3}, "n must be"),
        ({"n": 1 << 20}, "n must be"),
        ({"dtype": 2}, "dtype code"),
        ({"max_sweeps": 0}, "max_sweeps"),
        ({"tol": 2.0}, "tol"),
        ({"a": 0}, "null"),
        ({"b": 0}, "null"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_trace_sqrt_bad_arguments_raise(change: dict, match: str) -> None:
    a = torch.eye(3, dtype=torch.float64).expand(2, 3, 3).contiguous()
    out = torch.empty(2, dtype=torch.float64)
    args = dict(
        a=a.data_ptr(),
        b=a.data_ptr(),
        out=out.data_ptr(),
        batch=2,
        n=3,
        dtype=1,
        max_sweeps=50,
        tol=1e-14,
        num_threads=1,
    )
    args.update(change)
    with pytest.raises(ValueError, match=match):
        C.trace_sqrt_product_cpu(**args)
