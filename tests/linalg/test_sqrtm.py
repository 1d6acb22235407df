"""fastgan.linalg: sqrtm_sym / trace_sqrt_product across tiers (torch, C++ Jacobi, CUDA Jacobi)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import impls
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgan import _dispatch, _ext
from fastgan.linalg import sqrtm as sqrtm_mod
from fastgan.linalg import sqrtm_sym, trace_sqrt_product, trace_sqrt_psd
from fastgan.linalg._ref import NotPSDWarning


def random_psd(
    n: int,
    batch: tuple[int, ...] = (),
    *,
    cond: float = 1e2,
    rank: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Q diag(w) Q^T with log-spaced eigenvalues in [1/cond, 1]; `rank` zeroes the smallest."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(*batch, n, n, generator=g, dtype=torch.float64))
    w = torch.logspace(0, -np.log10(cond), n, dtype=torch.float64).expand(*batch, n).clone()
    if rank is not None:
        w[..., rank:] = 0
    return ((q * w.unsqueeze(-2)) @ q.mT).to(dtype)


def scipy_sqrtm(a: np.ndarray) -> np.ndarray:
    return np.real(scipy.linalg.sqrtm(a))


def eig_route_trace(a: np.ndarray, b: np.ndarray) -> float:
    """Independent oracle: square roots of the (real parts of the) eigenvalues of A B."""
    lam = np.linalg.eigvals(a @ b).real
    return float(np.sqrt(np.clip(lam, 0, None)).sum())


# ------------------------------------------------------------------------- sqrtm_sym
@pytest.mark.parametrize("impl", impls())
@pytest.mark.parametrize("n", [1, 2, 5, 17, 40])
@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_sqrtm_matches_scipy(impl: str, n: int, batch: tuple[int, ...]) -> None:
    a = random_psd(n, batch, cond=1e4, seed=n)
    s = sqrtm_sym(a, impl=impl)
    assert s.shape == a.shape and s.dtype == a.dtype
    flat_a = a.reshape(-1, n, n).numpy()
    flat_s = s.reshape(-1, n, n).numpy()
    for x, y in zip(flat_a, flat_s):
        np.testing.assert_allclose(y, scipy_sqrtm(x), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("impl", impls())
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_sqrtm_dtype_kept(impl: str, dtype: torch.dtype) -> None:
    a = random_psd(8, (4,), dtype=dtype)
    s = sqrtm_sym(a, impl=impl)
    assert s.dtype == dtype
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    torch.testing.assert_close(s.double() @ s.double(), a.double(), rtol=tol, atol=tol)
    t = trace_sqrt_product(a, a, impl=impl)
    assert t.dtype == dtype
    torch.testing.assert_close(
        t.double(), torch.diagonal(a.double(), dim1=-2, dim2=-1).sum(-1), rtol=tol, atol=tol
    )


psd_cases = st.tuples(
    st.integers(1, 24),  # n
    st.sampled_from([1.0, 1e3, 1e8, 1e12]),  # condition number
    st.floats(0.0, 1.0),  # fraction of zero eigenvalues
    st.integers(0, 2**31 - 1),  # seed
)


@settings(max_examples=25, deadline=None)
@given(case=psd_cases)
def test_sqrtm_squared_is_input_property(case: tuple[int, float, float, int]) -> None:
    n, cond, zero_frac, seed = case
    rank = n - int(zero_frac * n)
    a = random_psd(n, (2,), cond=cond, rank=rank, seed=seed)
    scale = float(a.abs().max())
    for impl in impls():
        s = sqrtm_sym(a, impl=impl)
        torch.testing.assert_close(s, s.mT, rtol=0, atol=1e-13 * max(scale, 1.0) ** 0.5)
        # S @ S == A to rounding; eigenvalues of S are >= 0.
        assert float((s @ s - a).abs().max()) <= 1e-11 * max(scale, 1e-300) + 1e-300
        assert float(torch.linalg.eigvalsh(s).min()) >= -1e-7 * max(scale, 1e-300) ** 0.5


@settings(max_examples=25, deadline=None)
@given(case=psd_cases, case2=psd_cases)
def test_trace_sqrt_product_tiers_agree_property(case: tuple, case2: tuple) -> None:
    n = case[0]
    a = random_psd(n, (2,), cond=case[1], rank=n - int(case[2] * n), seed=case[3])
    b = random_psd(n, (2,), cond=case2[1], rank=n - int(case2[2] * n), seed=case2[3])
    ref = trace_sqrt_product(a, b, impl="torch")
    for impl in impls():
        got = trace_sqrt_product(a, b, impl=impl)
        torch.testing.assert_close(got, ref, rtol=1e-7, atol=1e-7)


# ------------------------------------------------------------------- trace_sqrt_product
@pytest.mark.parametrize("impl", impls())
@pytest.mark.parametrize("n", [1, 3, 16, 33, 64])
def test_trace_sqrt_product_matches_oracles(impl: str, n: int) -> None:
    a = random_psd(n, (3,), cond=1e3, seed=1)
    b = random_psd(n, (3,), cond=1e2, seed=2) * 3.0
    got = trace_sqrt_product(a, b, impl=impl)
    assert got.shape == (3,)
    for i in range(3):
        x, y = a[i].numpy(), b[i].numpy()
        want = np.trace(scipy_sqrtm(x @ y))
        assert abs(float(got[i]) - want) <= 1e-9 * abs(want)
        assert abs(float(got[i]) - eig_route_trace(x, y)) <= 1e-8 * abs(want)


@pytest.mark.parametrize("impl", impls())
def test_trace_sqrt_product_singular_and_symmetric(impl: str) -> None:
    n = 20
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, n, generator=g, dtype=torch.float64)
    low = x.mT @ x  # rank 5
    full = random_psd(n, (2,), seed=4)
    for a, b in [(low, full), (full, low), (low, low)]:
        got = trace_sqrt_product(a, b, impl=impl)
        swapped = trace_sqrt_product(b, a, impl=impl)
        torch.testing.assert_close(got, swapped, rtol=1e-10, atol=1e-10)
        for i in range(2):
            want = eig_route_trace(a[i].numpy(), b[i].numpy())
            assert abs(float(got[i]) - want) <= 1e-6 * want
    # tr sqrt(A^1/2 A A^1/2) = tr A exactly, including the rank-deficient case.
    torch.testing.assert_close(
        trace_sqrt_product(low, low, impl=impl),
        torch.diagonal(low, dim1=-2, dim2=-1).sum(-1),
        rtol=1e-12,
        atol=1e-12,
    )


def test_trace_sqrt_product_broadcast_and_identity() -> None:
    a = random_psd(6, seed=5)
    b = random_psd(6, (4,), seed=6)
    got = trace_sqrt_product(a, b, impl="torch")
    for i in range(4):
        torch.testing.assert_close(got[i], trace_sqrt_product(a, b[i], impl="torch"))
    eye = torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(trace_sqrt_product(eye, b[0], impl="torch"), trace_sqrt_psd(b[0]))
    torch.testing.assert_close(trace_sqrt_psd(b[0]), torch.linalg.eigvalsh(b[0]).clamp_min(0).sqrt().sum())


@pytest.mark.parametrize("impl", impls())
def test_gradients(impl: str) -> None:
    def sym(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x + x.mT)

    a = random_psd(5, (2,), cond=10, seed=7).requires_grad_()
    b = random_psd(5, (2,), cond=10, seed=8).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, y: trace_sqrt_product(sym(x), sym(y), impl=impl), (a, b))
    assert torch.autograd.gradcheck(lambda x: sqrtm_sym(sym(x), impl=impl), (a,))
    # identity input has a repeated eigenvalue: the Sylvester-form gradient stays finite
    eye = torch.eye(4, dtype=torch.float64, requires_grad=True)
    sqrtm_sym(eye * 4, impl=impl).sum().backward()
    assert eye.grad is not None and torch.isfinite(eye.grad).all()


@pytest.mark.parametrize("impl", impls())
def test_not_psd_warns(impl: str) -> None:
    a = torch.diag(torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64))
    with pytest.warns(NotPSDWarning):
        sqrtm_sym(a, impl=impl)
    with pytest.warns(NotPSDWarning):
        trace_sqrt_product(a, torch.eye(3, dtype=torch.float64), impl=impl)
    with pytest.warns(NotPSDWarning):
        trace_sqrt_product(torch.eye(3, dtype=torch.float64), a, impl=impl)


@pytest.mark.parametrize("impl", impls())
def test_bad_input(impl: str) -> None:
    with pytest.raises(ValueError, match="square"):
        sqrtm_sym(torch.zeros(3, 4), impl=impl)
    with pytest.raises(ValueError, match="square"):
        sqrtm_sym(torch.zeros(4), impl=impl)
    with pytest.raises(TypeError, match="floating"):
        sqrtm_sym(torch.eye(3, dtype=torch.int64), impl=impl)
    bad = torch.eye(3)
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="1 non-finite"):
        sqrtm_sym(bad, impl=impl)
    with pytest.raises(ValueError, match="sizes differ"):
        trace_sqrt_product(torch.eye(3), torch.eye(4), impl=impl)
    with pytest.raises(ValueError, match="broadcast"):
        trace_sqrt_product(torch.eye(3).expand(2, 3, 3), torch.eye(3).expand(3, 3, 3), impl=impl)
    with pytest.raises(ValueError, match="impl"):
        sqrtm_sym(torch.eye(3), impl="fast")


# ------------------------------------------------------------------------ extension
@pytest.mark.ext
@pytest.mark.parametrize("n", [1, 2, 9, 32, 50])
def test_jacobi_eigh_matches_lapack(n: int) -> None:
    c = _ext.assert_has_ext()
    a = random_psd(n, (3,), cond=1e6, seed=n) - 0.3 * torch.eye(n, dtype=torch.float64)  # indefinite is fine
    w = torch.empty(3, n, dtype=torch.float64)
    vt = torch.empty(3, n, n, dtype=torch.float64)
    bad = c._sym_eigh_cpu(a.data_ptr(), w.data_ptr(), vt.data_ptr(), 3, n, 1, 30, 1e-15, 2)
    assert bad == 0
    torch.testing.assert_close(w.sort(-1).values, torch.linalg.eigvalsh(a), rtol=0, atol=1e-14)
    torch.testing.assert_close(
        vt @ vt.mT, torch.eye(n, dtype=torch.float64).expand(3, n, n), rtol=0, atol=1e-13
    )
    torch.testing.assert_close(vt.mT @ torch.diag_embed(w) @ vt, a, rtol=0, atol=1e-13)


@pytest.mark.ext
def test_binding_size_checks() -> None:
    c = _ext.assert_has_ext()
    a = torch.eye(3, dtype=torch.float64)
    out = torch.empty(1, dtype=torch.float64)
    with pytest.raises(ValueError, match="n must be"):
        c.trace_sqrt_product_cpu(a.data_ptr(), a.data_ptr(), out.data_ptr(), 1, -1, 1, 30, 1e-15, 1)
    with pytest.raises(ValueError, match="batch"):
        c.trace_sqrt_product_cpu(a.data_ptr(), a.data_ptr(), out.data_ptr(), -2, 3, 1, 30, 1e-15, 1)
    with pytest.raises(ValueError, match="dtype"):
        c.sqrtm_sym_cpu(a.data_ptr(), a.data_ptr(), 1, 3, 2, 30, 1e-15, 1)
    with pytest.raises(ValueError, match="max_sweeps"):
        c.sqrtm_sym_cpu(a.data_ptr(), a.data_ptr(), 1, 3, 1, 0, 1e-15, 1)
    with pytest.raises(ValueError, match="n must be <="):
        c.trace_sqrt_product_cuda(
            a.data_ptr(), a.data_ptr(), out.data_ptr(), 1, c.SQRTM_CUDA_MAX_N + 1, 1, 30, 1e-15, 0, 0
        )
    with pytest.raises(ValueError, match="null"):
        c.sqrtm_sym_cpu(0, 0, 1, 3, 1, 30, 1e-15, 1)


@pytest.mark.ext
def test_nonconvergence_falls_back_to_eigh(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqrtm_mod, "JACOBI_MAX_SWEEPS", 1)
    a = random_psd(12, (2,), cond=1e3, seed=9)
    b = random_psd(12, (2,), seed=10)
    with caplog.at_level("WARNING"):
        got = trace_sqrt_product(a, b, impl="ext")
    assert "did not converge" in caplog.text
    torch.testing.assert_close(got, trace_sqrt_product(a, b, impl="torch"))


def test_fallback_without_extension(no_ext: None) -> None:
    a = random_psd(4, seed=11)
    with pytest.warns(_dispatch.FastganFallbackWarning):
        s = sqrtm_sym(a)
    torch.testing.assert_close(s @ s, a)
    with pytest.raises(RuntimeError, match="impl='ext'"):
        sqrtm_sym(a, impl="ext")


def test_auto_routes_large_n_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(sqrtm_mod, "trace_sqrt_product_ext", lambda a, b: called.append(1))
    a = random_psd(sqrtm_mod.CPU_AUTO_MAX_N + 1, seed=12)
    trace_sqrt_product(a, a)
    assert not called


# ---------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("n", [1, 2, 7, 32, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_kernel_matches_torch(n: int, dtype: torch.dtype) -> None:
    a = random_psd(n, (37,), cond=1e4, seed=n).to(dtype)
    b = random_psd(n, (37,), cond=1e2, seed=n + 1).to(dtype)
    a[3, :, min(2, n - 1) :] = 0  # a rank-deficient item exercises the eigen route
    a[3, min(2, n - 1) :, :] = 0
    want = trace_sqrt_product(a.double(), b.double(), impl="torch")
    got = trace_sqrt_product(a.cuda(), b.cuda(), impl="ext")
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got.cpu().double(), want, rtol=tol, atol=tol)
    s = sqrtm_sym(a.cuda(), impl="ext")
    torch.testing.assert_close(
        s.cpu().double(), sqrtm_sym(a.double(), impl="torch"), rtol=tol * 10, atol=tol * 10
    )
    if _ext.HAS_EXT:
        cpu = trace_sqrt_product(a, b, impl="ext")
        torch.testing.assert_close(got.cpu(), cpu, rtol=tol, atol=tol)


@pytest.mark.cuda
def test_cuda_ext_rejects_large_n() -> None:
    a = torch.eye(CUDA_N + 1, device="cuda", dtype=torch.float64)
    with pytest.raises(ValueError, match="n <="):
        sqrtm_sym(a, impl="ext")
    # trace_sqrt_product has the tridiagonal route above the Jacobi kernel's n; auto takes it for
    # large batches only, torch's per-matrix solver otherwise
    want = torch.tensor(float(CUDA_N + 1), dtype=torch.float64)
    torch.testing.assert_close(trace_sqrt_product(a, a, impl="ext").cpu(), want)
    torch.testing.assert_close(trace_sqrt_product(a, a).cpu(), want)


CUDA_N = sqrtm_mod.CUDA_MAX_N


# ------------------------------------------------------------------ custom-op plumbing
@pytest.mark.parametrize("use_ext", [False, pytest.param(True, marks=[pytest.mark.ext, pytest.mark.slow])])
def test_custom_ops_opcheck(use_ext: bool) -> None:
    a = random_psd(4, (2,), seed=13).requires_grad_()
    b = random_psd(4, (2,), seed=14).requires_grad_()
    torch.library.opcheck(torch.ops.fastgan.trace_sqrt_product.default, (a, b, use_ext))
    torch.library.opcheck(torch.ops.fastgan.sqrtm_sym.default, (a, use_ext))


@pytest.mark.slow
def test_custom_ops_compile_fullgraph() -> None:
    a = random_psd(5, (3,), seed=15).requires_grad_()
    b = random_psd(5, (3,), seed=16)

    def loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = torch.ops.fastgan.sqrtm_sym(x, False)
        return torch.ops.fastgan.trace_sqrt_product(s @ s, y, False).sum()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    out = compiled(a, b)
    (g,) = torch.autograd.grad(out, a)
    (g_ref,) = torch.autograd.grad(loss(a, b), a)
    torch.testing.assert_close(out, loss(a, b))
    torch.testing.assert_close(g, g_ref)

    # the NativeOp objects: the custom op while tracing, the eager twin otherwise (same values)
    def loss_native(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = sqrtm_mod.sqrtm_sym_op(x, False)
        return sqrtm_mod.trace_sqrt_product_op(s @ s, y, False).sum()

    out_n = torch.compile(loss_native, fullgraph=True, backend="aot_eager")(a, b)
    (g_n,) = torch.autograd.grad(out_n, a)
    torch.testing.assert_close(out_n, loss_native(a, b), rtol=0, atol=0)
    torch.testing.assert_close(g_n, g_ref)


# ------------------------------------------------------- single-pair LAPACK route (CPU, n >= 128)
def test_lapack_route_matches_scipy_sqrtm() -> None:
    from fastgan.linalg import _lapack

    n = _lapack.LAPACK_MIN_N + 7
    a = random_psd(n, cond=1e4, seed=31)
    b = random_psd(n, cond=1e3, seed=32)
    a_in, b_in = a.clone(), b.clone()
    lam = _lapack.lapack_trace_sqrt(a, b)
    assert torch.equal(a, a_in) and torch.equal(b, b_in)  # inputs untouched
    got = float(lam.clamp_min(0).sqrt().sum())
    want = float(np.trace(scipy.linalg.sqrtm(a.numpy() @ b.numpy())).real)
    assert got == pytest.approx(want, rel=1e-10)
    # a side singular at rounding level: no LAPACK answer, the exact torch route takes over
    assert _lapack.lapack_trace_sqrt(a, random_psd(n, rank=n - 3, seed=35)) is None
    assert _lapack.lapack_trace_sqrt(random_psd(n, rank=n // 2, seed=36), b) is None


def test_lapack_route_matches_batched_torch_route() -> None:
    from fastgan.linalg import _lapack, _ref

    n = _lapack.LAPACK_MIN_N * 2
    a = random_psd(n, cond=1e3, seed=33)
    b = random_psd(n, cond=1e3, seed=34)
    single = _ref.trace_sqrt_product_ref(a, b)  # LAPACK route
    batched = _ref.trace_sqrt_product_ref(a[None].expand(2, n, n), b[None].expand(2, n, n))  # torch route
    assert single.shape == ()
    torch.testing.assert_close(batched, single.expand(2), rtol=1e-12, atol=0)
    # asymmetric rounding noise: the LAPACK route reads one triangle, the torch route symmetrizes
    noise = 1e-14 * torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_ref.trace_sqrt_product_ref(a + noise, b), single, rtol=1e-10, atol=0)


def test_blocked_symmetrize_and_asymmetry_match_direct() -> None:
    from fastgan.linalg import _ref

    for n in (5, 2 * _ref._TBLOCK + 37):
        x = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
        assert torch.equal(_ref.symmetrize(x), 0.5 * (x + x.t()))
        assert _ref.max_asymmetry(x) == float((x - x.t()).abs().max())
    assert _ref.max_asymmetry(torch.empty(0, 0)) == 0.0
    # one asymmetric pair anywhere (first/last strip, partial strip, either triangle) is found
    n = 2 * _ref._ABLOCK + 37
    base = torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    base = base + base.t()
    assert _ref.max_asymmetry(base) == 0.0
    for i, j in ((0, 1), (n - 1, 0), (n - 2, n - 1), (_ref._ABLOCK, _ref._ABLOCK - 1), (n - 1, n - 37)):
        y = base.clone()
        y[i, j] += 0.25
        assert _ref.max_asymmetry(y) == float((y - y.t()).abs().max()) > 0.2


# ------------------------------------------------------------------- singular: Gram route + bound
def _decaying_factor(n: int, r: int, seed: int, power: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.arange(1, r + 1, dtype=torch.float64) ** -power
    return torch.randn(n, r, generator=g, dtype=torch.float64) * scale


def test_nuclear_norm_routes_match_svd_oracle() -> None:
    from fastgan.linalg import _ref

    c = _decaying_factor(150, 200, 11, power=2.0)  # singular values over ~8 decades
    want = float(np.linalg.svd(c.numpy(), compute_uv=False).sum())
    for tol in (None, lambda v: 1e-6 * v, lambda v: 1e-12 * v, lambda v: 0.0):
        got = float(_ref.nuclear_norm(c, tol=tol))
        assert abs(got - want) <= 1e-9 * want
    # the bound holds: eigenvalue route error <= sqrt_sum_error_bound
    m = c @ c.t()
    lam = _ref.sym_eigvalsh(m).clamp_min(0)
    assert abs(float(lam.sqrt().sum()) - want) <= _ref.sqrt_sum_error_bound(lam)


def test_nuclear_norm_takes_refinement_and_svd_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastgan.linalg import _ref

    calls: list[tuple[int, int]] = []
    real_svdvals = torch.linalg.svdvals

    def spy(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return real_svdvals(x)

    monkeypatch.setattr(torch.linalg, "svdvals", spy)
    c = _decaying_factor(200, 300, 12, power=2.5)
    want = float(np.linalg.svd(c.numpy(), compute_uv=False).sum())
    got = float(_ref.nuclear_norm(c, tol=lambda v: 1e-3 * v))  # loose: eigenvalues only
    assert calls == [] and abs(got - want) <= 1e-3 * want
    got = float(_ref.nuclear_norm(c, tol=lambda v: 0.0))  # nothing meets 0: the full SVD
    assert calls[-1] == (200, 300) and abs(got - want) <= 1e-12 * want
    # 20 singular values near 1e-7 far below the rest (a clear gap): the eigenvalue route's
    # bound (sqrt(delta) each) misses 1e-10 relative, the refined one (k = 20) meets it.
    g = torch.Generator().manual_seed(15)
    u = torch.linalg.qr(torch.randn(120, 120, generator=g, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(160, 120, generator=g, dtype=torch.float64))[0]
    sv = torch.cat(
        [torch.linspace(1.0, 10.0, 100, dtype=torch.float64), torch.full((20,), 1e-7, dtype=torch.float64)]
    )
    c = (u * sv) @ v.t()
    want = float(np.linalg.svd(c.numpy(), compute_uv=False).sum())
    lam = _ref.sym_eigvalsh(c @ c.t()).clamp_min(0)
    assert _ref.sqrt_sum_error_bound(lam) > 1e-10 * want
    assert _ref._split_index(lam, 1e-10 * want) == 20
    calls.clear()
    got = float(_ref.nuclear_norm(c, tol=lambda v: 1e-10 * v))
    assert calls == [(20, 160)]  # refined the 20 smallest only
    assert abs(got - want) <= 1e-10 * want


@pytest.mark.parametrize("n", [40, 160])  # 160: LAPACK (syevd / syevx) drivers
def test_trace_sqrt_lowrank_matches_nuclear_oracle(n: int) -> None:
    from fastgan.linalg import _ref

    fa = _decaying_factor(n, n - 10, 13, power=1.0)
    fb = _decaying_factor(n, n - 20, 14, power=1.5)
    a, b = fa @ fa.t(), fb @ fb.t()
    want = float(np.linalg.svd(fa.numpy().T @ fb.numpy(), compute_uv=False).sum())
    for tol in (None, lambda v: 0.0, lambda v: 1e-4 * v):
        got = float(_ref.trace_sqrt_lowrank(a, b, tol=tol))
        assert abs(got - want) <= (1e-4 if tol is not None and tol(1.0) > 0 else 1e-9) * want
    got = float(trace_sqrt_product(a, b, impl="torch"))
    assert abs(got - want) <= 1e-9 * want
