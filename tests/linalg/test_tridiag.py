"""fastgan.linalg._tridiag: batched Householder tridiagonalisation + Sturm-bisection eigenvalues,
and the CUDA trace-sqrt route built on them (against torch.linalg.eigvalsh)."""

from __future__ import annotations

import pytest
import torch
from cases import sample_covariance

from fastgan import _ext
from fastgan.linalg import sqrtm as sqrtm_mod
from fastgan.linalg import trace_sqrt_product
from fastgan.linalg._ref import trace_sqrt_product_ref
from fastgan.linalg._tridiag import eigvalsh_batched, householder_tridiagonal, tridiagonal_eigvalsh

D64 = torch.float64
needs_ext = pytest.mark.skipif(not _ext.HAS_EXT, reason="needs the compiled extension")


def _sym(bsz: int, n: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(bsz, n, n, generator=g, dtype=D64) * scale
    return x + x.mT


def _assert_eigs(got: torch.Tensor, want: torch.Tensor, rtol: float = 20.0) -> None:
    """Eigenvalues agree to a few n * eps of the spectral norm (the backward-stable bound)."""
    n = want.shape[-1]
    assert got.shape == want.shape
    if want.numel() == 0:
        return
    norm = want.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(D64).tiny)
    err = ((got - want).abs() / norm).max().item()
    assert err <= rtol * max(n, 1) * torch.finfo(D64).eps, err


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8, 33, 70])
def test_householder_keeps_the_spectrum(n: int) -> None:
    m = _sym(4, n, seed=n)
    d, e = householder_tridiagonal(m)
    assert d.shape == (4, n) and e.shape == (4, max(n - 1, 0)) and d.dtype == D64
    t = torch.diag_embed(d) + torch.diag_embed(e, -1) + torch.diag_embed(e, 1)
    _assert_eigs(torch.linalg.eigvalsh(t), torch.linalg.eigvalsh(m))


def test_householder_reads_the_lower_triangle_and_handles_zero_columns() -> None:
    m = _sym(3, 12, seed=1)
    garbage = m.tril() + torch.ones_like(m).triu(1) * 1e3  # the strict upper triangle is not read
    d, e = householder_tridiagonal(garbage)
    t = torch.diag_embed(d) + torch.diag_embed(e, -1) + torch.diag_embed(e, 1)
    _assert_eigs(torch.linalg.eigvalsh(t), torch.linalg.eigvalsh(m))
    # already tridiagonal / diagonal / zero columns: no reflection is needed (tau = 0 steps)
    diagonal = torch.diag_embed(torch.arange(12.0, dtype=D64)).expand(2, 12, 12)
    for special in (diagonal, torch.zeros(2, 12, 12, dtype=D64)):
        d, e = householder_tridiagonal(special)
        torch.testing.assert_close(d, torch.diagonal(special, dim1=-2, dim2=-1))
        assert torch.all(e == 0)


@needs_ext
@pytest.mark.parametrize("n", [1, 2, 3, 9, 64, 129])
def test_bisection_matches_dense_eigvalsh(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    d = torch.randn(5, n, generator=g, dtype=D64)
    e = torch.randn(5, n - 1, generator=g, dtype=D64)
    e[1, ::3] = 0.0  # decoupled blocks
    e[2] = 1e-9  # nearly diagonal
    d[3] *= 1e6  # wide scale differences
    d[4] = 0.0
    e[4] = 1.0  # symmetric spectrum around 0 with exact-zero diagonal pivots
    want = tridiagonal_eigvalsh(d, e, impl="torch")
    got = tridiagonal_eigvalsh(d, e, impl="ext")
    _assert_eigs(got, want)
    assert torch.all(got[:, 1:] >= got[:, :-1])  # ascending


@needs_ext
def test_bisection_clustered_and_repeated_eigenvalues() -> None:
    # Wilkinson's W21+: pairs of eigenvalues agreeing to ~1e-14; and a matrix with a repeated eigenvalue.
    n = 21
    d = torch.tensor([abs(10 - i) for i in range(n)], dtype=D64)[None]
    e = torch.ones(1, n - 1, dtype=D64)
    _assert_eigs(tridiagonal_eigvalsh(d, e, impl="ext"), tridiagonal_eigvalsh(d, e, impl="torch"))
    d2 = torch.full((1, 10), 3.0, dtype=D64)
    e2 = torch.zeros(1, 9, dtype=D64)
    got = tridiagonal_eigvalsh(d2, e2, impl="ext")
    torch.testing.assert_close(got, torch.full_like(got, 3.0), rtol=0, atol=8 * torch.finfo(D64).eps * 3.0)


@needs_ext
def test_bisection_result_is_thread_count_invariant() -> None:
    d = torch.randn(16, 50, dtype=D64)
    e = torch.randn(16, 49, dtype=D64)
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = tridiagonal_eigvalsh(d, e, impl="ext")
        torch.set_num_threads(2)
        two = tridiagonal_eigvalsh(d, e, impl="ext")
    finally:
        torch.set_num_threads(prev)
    assert torch.equal(one, two)


def test_shape_and_device_checks() -> None:
    with pytest.raises(ValueError, match=r"\(B, n\) and \(B, n - 1\)"):
        tridiagonal_eigvalsh(torch.zeros(2, 5), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="batch of square matrices"):
        householder_tridiagonal(torch.zeros(2, 3, 4))


@needs_ext
def test_binding_size_checks() -> None:
    c = _ext._C
    d = torch.zeros(2, 4, dtype=D64)
    e2 = torch.zeros(2, 3, dtype=D64)
    out = torch.empty(2, 4, dtype=D64)
    with pytest.raises(ValueError, match="e2 has 5 elements"):
        c.tridiagonal_eigvalsh_cpu(d.data_ptr(), e2.data_ptr(), out.data_ptr(), 2, 4, 8, 5, 8, 1)
    with pytest.raises(ValueError, match="out has 7 elements"):
        c.tridiagonal_eigvalsh_cpu(d.data_ptr(), e2.data_ptr(), out.data_ptr(), 2, 4, 8, 6, 7, 1)
    with pytest.raises(ValueError, match="n >= 1"):
        c.tridiagonal_eigvalsh_cpu(d.data_ptr(), e2.data_ptr(), out.data_ptr(), 2, 0, 0, 0, 0, 1)
    with pytest.raises(ValueError, match="null"):
        c.tridiagonal_eigvalsh_cpu(0, e2.data_ptr(), out.data_ptr(), 2, 4, 8, 6, 8, 1)
    with pytest.raises(ValueError, match="e2 has 5 elements"):  # checked before any device is touched
        c.tridiagonal_eigvalsh_cuda(d.data_ptr(), e2.data_ptr(), out.data_ptr(), 2, 4, 8, 5, 8, 0, 0)


@needs_ext
def test_trace_sqrt_with_tridiagonal_solver_matches_reference() -> None:
    g = torch.Generator().manual_seed(3)
    n = 40
    xa = torch.randn(6, 3 * n, n, generator=g, dtype=D64)
    xb = torch.randn(6, 3 * n, n, generator=g, dtype=D64) * 0.5 + 0.2
    a = xa.mT @ xa / (3 * n)
    b = xb.mT @ xb / (3 * n)
    half = torch.diag(torch.tensor([1.0] * (n // 2) + [0.0] * (n - n // 2), dtype=D64))
    b[2] = b[2] @ half @ b[2]  # singular
    want = trace_sqrt_product_ref(a, b)
    got = trace_sqrt_product_ref(a, b, eigvalsh=eigvalsh_batched)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # one A against many B
    got1 = trace_sqrt_product_ref(a[0], b, eigvalsh=eigvalsh_batched)
    torch.testing.assert_close(got1, trace_sqrt_product_ref(a[0], b), rtol=1e-10, atol=1e-10)


def test_auto_routing_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tridiagonal route is a CUDA-only size choice: CPU calls and small CUDA batches never take it."""
    called: list[int] = []
    monkeypatch.setattr(sqrtm_mod._tridiag, "eigvalsh_batched", lambda m, **k: called.append(1))
    a = torch.eye(sqrtm_mod.CUDA_MAX_N + 1, dtype=D64).expand(sqrtm_mod.TRIDIAG_MIN_BATCH, -1, -1)
    trace_sqrt_product(a, a)
    assert not called


# ---------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("n", [65, 130])
def test_cuda_bisection_matches_cpu(n: int) -> None:
    if not _ext.cuda_usable():
        pytest.skip("fastgan._C has no usable CUDA kernels")
    m = _sym(9, n, seed=n)
    want = torch.linalg.eigvalsh(m)
    # The reduction's rounding differs between devices (GEMM / reduction order), so the tridiagonal
    # entries are compared through their spectrum, the invariant they must keep.
    d_gpu, e_gpu = householder_tridiagonal(m.cuda())
    _assert_eigs(tridiagonal_eigvalsh(d_gpu.cpu(), e_gpu.cpu(), impl="torch"), want)
    # Same tridiagonal input on both tiers: both results lie in the final bisection interval.
    d, e = householder_tridiagonal(m)
    cpu = tridiagonal_eigvalsh(d, e, impl="ext")
    gpu = tridiagonal_eigvalsh(d.cuda(), e.cuda(), impl="ext")
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=8 * torch.finfo(D64).eps * float(cpu.abs().max()))
    _assert_eigs(eigvalsh_batched(m.cuda()).cpu(), want)


@pytest.mark.cuda
@pytest.mark.parametrize("n", [65, 200])
def test_cuda_trace_sqrt_tridiagonal_route(n: int) -> None:
    if not _ext.cuda_usable():
        pytest.skip("fastgan._C has no usable CUDA kernels")
    g = torch.Generator().manual_seed(n)
    bsz = sqrtm_mod.TRIDIAG_MIN_BATCH
    a = sample_covariance(bsz, n, g)
    b = sample_covariance(bsz, n, g, shift=0.1)
    b[1] = torch.zeros(n, n, dtype=D64)  # a singular side: the reference's exact fallback
    want = trace_sqrt_product(a, b, impl="torch")
    got_auto = trace_sqrt_product(a.cuda(), b.cuda())
    got_ext = trace_sqrt_product(a[:3].cuda(), b[:3].cuda(), impl="ext")
    torch.testing.assert_close(got_auto.cpu(), want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got_ext.cpu(), want[:3], rtol=1e-10, atol=1e-10)
    # gradients flow through the same analytic backward
    a_req = a[:2].cuda().requires_grad_(True)
    trace_sqrt_product(a_req, b[:2].cuda(), impl="ext").sum().backward()
    assert a_req.grad is not None and torch.isfinite(a_req.grad).all()
