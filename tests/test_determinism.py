"""Determinism: the same inputs and seeds give bitwise-identical results.

Every public op is run twice (fresh calls, same inputs, generators re-seeded) and the two
results are compared bit for bit (NaN payloads and signed zeros included), at one and at two
torch threads, and again with ``torch.use_deterministic_algorithms(True)``. Across thread
counts the guarantee depends on the op; what holds (checked below, on CPU):

Bitwise identical whatever the thread count:

* fastgan's own C++ kernels. The fused f-GAN loss kernel (``csrc/fdiv/fdiv_cpu.cpp``) splits
  the input into fixed blocks of 512 elements and tasks of 128 blocks, independent of the thread
  count, and adds the per-task float64 partials in task order; the Jacobi kernels
  (``csrc/sqrtm/sqrtm_cpu.cpp``) run one matrix per task, each sequentially. So every
  ``impl="ext"`` loss (value and gradient, any reduction and dtype), ``sqrtm_sym`` and
  ``trace_sqrt_product`` give the same bits for any ``num_threads`` (tested through the raw
  bindings with 1 to 7 threads, and through the public API via ``torch.set_num_threads``).
* k-NN metrics (``prdc``, ``precision_recall``, ``density_coverage``, ``realism_score``; both
  the ``"torch"`` and the ``"faiss"`` backend): every ball-membership decision is certified
  exact against float64 (see :mod:`fastgan.metrics.manifold`), so the counts do not depend on
  GEMM rounding, and the realism ratios are evaluated from direct differences.
* Samplers with an explicit ``torch.Generator`` (``truncated_normal`` both methods,
  ``biggan_truncated_noise``, ``kid_subset_indices``) and the elementwise ``psi_truncation``.

Bitwise identical at a fixed thread count, equal only to rounding across thread counts:

* The ``impl="torch"`` reference losses with a reduction: torch's CPU sum splits long
  reductions between threads (a float64 ``mean`` of 10^6 terms moved by 1 ulp between 1 and 2
  threads). Elementwise values and gradients are bitwise.
* ``sqrtm_sym(impl="torch")`` and the torch trace-sqrt routes for ``n >~ 64``:
  ``torch.linalg.eigh`` / ``eigvalsh`` (MKL's threaded ``syevd``) returned different last bits
  for 1 and 2 threads (relative differences of order 1e-15). FID's low-rank path and
  ``fid_bootstrap`` / ``fid_infinity`` inherit this through their eigensolvers.
* Everything built on BLAS products or torch reductions (``FeatureStats``, ``fid`` on the full
  path, ``frechet_distance``, ``kid``, ``inception_score``, ``estimate_w_avg``,
  ``extract_features`` through a conv net): gave identical bits for 1 and 2 threads at the sizes
  here, but neither torch nor the BLAS promises that (a GEMM may split its reduction dimension
  between threads), so across thread counts they are checked to ~1e-12 relative only.

``FeatureStats``: the same sequence of batches gives the same bits (its merge is a fixed
sequence of float64 operations); a *different* split of the same rows agrees only to rounding
(the docstring's "does not depend on batch size" is exact arithmetic; ~1e-12 is checked as a
property in ``test_properties.py``).

``torch.use_deterministic_algorithms(True)`` changes nothing on the CPU: every op runs and
returns the same bits as without it.

On CUDA (tests marked ``cuda``, skipped without a GPU):

* the fused loss kernel (``csrc/fdiv/fdiv_cuda.cu``) is bitwise deterministic run to run: the
  grid size depends only on ``n``, each block reduces through warp shuffles in a fixed pattern
  and writes a float64 partial (no atomics), and one block sums the partials in a fixed tree.
  ``torch.use_deterministic_algorithms(True)`` therefore keeps the kernel
  (``deterministic_cuda=True`` in :mod:`fastgan.losses._fused`). CPU and CUDA results differ in
  the last bits (different summation order).
* the Jacobi kernels (``csrc/sqrtm/sqrtm_cuda.cu``) run one thread block per matrix in shared
  memory; every element is written by one thread with sequential inner loops and the only
  atomics count rotations / non-converged matrices (integers), so results are bitwise
  reproducible and the kernel is also kept under deterministic algorithms
  (``deterministic_cuda=True`` in :mod:`fastgan.linalg.sqrtm`; before, ``impl="ext"`` raised
  there and ``impl="auto"`` fell back to torch's ``eigh``).
* the torch GEMM / ``eigh`` / reduction paths on the GPU follow torch's own determinism
  settings.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import torch
from torch import nn

import fastgan.metrics as fm
from fastgan import _ext, losses
from fastgan.divergences import DIVERGENCES, KERNEL_IDS, get_divergence
from fastgan.features import extract_features
from fastgan.linalg import sqrtm_sym, trace_sqrt_product
from fastgan.metrics import knn
from fastgan.metrics.kernel_distance import kid_subset_indices
from fastgan.truncation import biggan_truncated_noise, estimate_w_avg, psi_truncation, truncated_normal

D64 = torch.float64
HAS_FAISS = knn.faiss_module() is not None
KNN_BACKENDS = ["torch"] + (["faiss"] if HAS_FAISS else [])


# ----------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    prev, prev_warn = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


_INT_VIEW = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.int8}


def _bits(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().cpu().contiguous()
    if t.is_floating_point():
        return t.view(_INT_VIEW[t.element_size()])
    return t


def assert_bitwise(a: Any, b: Any, where: str = "result") -> None:
    """Bit-for-bit equality of nested results (tensors, floats, ints, dicts, tuples, lists)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, where
        assert torch.equal(_bits(a), _bits(b)), (
            f"{where}: differs (max |a - b| = {(a.double() - b.double()).abs().max()})"
        )
    elif isinstance(a, float):
        assert isinstance(b, float), where
        assert struct.pack("<d", a) == struct.pack("<d", b), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_bitwise(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_rounding(a: Any, b: Any, rtol: float, where: str = "result") -> None:
    """Equality to ``rtol`` relative to the magnitude of each compared object."""
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if not a.is_floating_point():
            assert torch.equal(a, b), where
            return
        x, y = a.detach().double().cpu(), b.detach().double().cpu()
        assert torch.equal(torch.isfinite(x), torch.isfinite(y)), where
        fin = torch.isfinite(x)
        assert torch.equal(x[~fin], y[~fin]) or bool(torch.isnan(x[~fin]).all()), where
        scale = float(x[fin].abs().max()) if bool(fin.any()) else 0.0
        err = float((x[fin] - y[fin]).abs().max()) if bool(fin.any()) else 0.0
        assert err <= rtol * scale + 1e-300, f"{where}: |a - b| = {err:.3g} > {rtol:g} * {scale:.3g}"
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-300, (
            where,
            a,
            b,
        )
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_rounding(a[k], b[k], rtol, f"{where}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_rounding(x, y, rtol, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- inputs (fixed)
# Sizes are large enough for torch and the C++ kernels to actually use two threads
# (torch's grain is 32768 elements; the loss kernel's task is 65536 elements).
_N_LOGITS = 70_001
_REAL_OUT = 3.0 * torch.randn(_N_LOGITS, generator=_gen(1), dtype=D64)
_FAKE_OUT = 3.0 * torch.randn(66_001, generator=_gen(2), dtype=D64) + 0.5
_FEAT_X = torch.randn(4000, 48, generator=_gen(3), dtype=D64)
_FEAT_Y = 1.1 * torch.randn(3000, 48, generator=_gen(4), dtype=D64) + 0.2
_SMALL_X = torch.randn(700, 16, generator=_gen(5))
_SMALL_Y = torch.randn(600, 16, generator=_gen(6)) + 0.3
_LOGITS_IS = 2.0 * torch.randn(20_000, 100, generator=_gen(7))


def _psd(n: int, batch: tuple[int, ...], seed: int) -> torch.Tensor:
    a = torch.randn(*batch, n, n + 3, generator=_gen(seed), dtype=D64)
    return a @ a.mT / n


_PSD_A, _PSD_B = _psd(20, (4,), 8), _psd(20, (4,), 9)
_PSD_BIG_A, _PSD_BIG_B = _psd(100, (), 10), _psd(100, (), 11)


def _registry() -> list[Any]:
    divs = [get_divergence(name) for name, fam in DIVERGENCES.items() if not fam.params]
    divs += [get_divergence("alpha", alpha=a) for a in (-1.0, 0.5, 2.0)]
    return divs


def _losses(impl: str, dtype: torch.dtype, light: bool) -> list[Any]:
    """Every public loss (all reductions for the f-GAN ones), values and input gradients.

    ``light``: two divergences (Lambert-W and alpha closed forms) and two reductions, for the
    multi-threaded runs (torch's thread pool is slow on a loaded, shared CPU)."""
    out: list[Any] = []
    divs = [get_divergence("jeffrey"), get_divergence("alpha", alpha=0.5)] if light else _registry()
    for div in divs:
        for reduction in ("mean", "none") if light else ("mean", "sum", "none"):
            r = _REAL_OUT.to(dtype, copy=True).requires_grad_(True)
            f = _FAKE_OUT.to(dtype, copy=True).requires_grad_(True)
            d = losses.fgan_discriminator_loss(r, f, div, reduction=reduction, impl=impl)
            gs = losses.fgan_generator_loss(f, div, mode="saturating", reduction=reduction, impl=impl)
            gn = losses.fgan_generator_loss(f, div, mode="nonsaturating", reduction=reduction, impl=impl)
            vals = list(d) + [gs, gn] if reduction == "none" else [d, gs, gn]
            torch.autograd.backward([v.sum() for v in vals])
            out.append(([v.detach() for v in vals], r.grad, f.grad))
        if light:
            continue
        r = _REAL_OUT.to(dtype, copy=True).requires_grad_(True)
        f = _FAKE_OUT.to(dtype, copy=True).requires_grad_(True)
        vb = losses.variational_bound(r, f, div, impl=impl)
        vb.backward()
        out.append((vb.detach(), r.grad, f.grad))
    if light:
        return out
    r = _REAL_OUT.to(dtype, copy=True).requires_grad_(True)
    f = _FAKE_OUT.to(dtype, copy=True).requires_grad_(True)
    for fn in (
        losses.minimax_discriminator_loss,
        losses.wgan_discriminator_loss,
        losses.hinge_discriminator_loss,
    ):
        out.append(fn(r, f, impl=impl))
    for fn in (
        losses.minimax_generator_loss,
        losses.nonsaturating_generator_loss,
        losses.wgan_generator_loss,
        losses.hinge_generator_loss,
    ):
        out.append(fn(f, impl=impl))
    torch.autograd.backward([v if v.dim() == 0 else v.sum() for v in out[-7:]])
    out.append((r.grad, f.grad))
    return [o if not isinstance(o, torch.Tensor) else o.detach() for o in out]


def _linalg(impl: str, light: bool) -> list[torch.Tensor]:
    a = _PSD_A.clone().requires_grad_(True)
    b = _PSD_B.clone().requires_grad_(True)
    s = sqrtm_sym(a, impl=impl)
    t = trace_sqrt_product(a, b, impl=impl)
    (s.sum() + t.sum()).backward()
    s32 = sqrtm_sym(_PSD_A.float(), impl=impl)
    t32 = trace_sqrt_product(_PSD_A.float(), _PSD_B.float(), impl=impl)
    return [s.detach(), t.detach(), a.grad, b.grad, s32, t32]


def _linalg_big_torch(light: bool) -> list[torch.Tensor]:
    return [
        sqrtm_sym(_PSD_BIG_A, impl="torch"),
        trace_sqrt_product(_PSD_BIG_A, _PSD_BIG_B, impl="torch"),
        trace_sqrt_product(torch.stack([_PSD_BIG_A, _PSD_BIG_B]), _PSD_BIG_B, impl="torch"),
    ]


def _stats(light: bool) -> list[Any]:
    s = fm.FeatureStats()
    for i in range(0, 4000, 512):
        s.update(_FEAT_X[i : i + 512])
    other = fm.FeatureStats(chunk_rows=1000).update(_FEAT_Y.float())
    merged = s.copy().merge(other)
    return [s.count, s.mean, s.cov, s.cov_biased, merged.mean, merged.cov, other.cov]


def _fid(light: bool) -> list[Any]:
    sx = fm.FeatureStats.from_features(_FEAT_X)
    sy = fm.FeatureStats.from_features(_FEAT_Y)
    if light:
        return [
            fm.fid(_FEAT_X, _FEAT_Y),
            fm.fid(_FEAT_X[:30], _FEAT_Y, method="lowrank"),
            fm.frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov, impl="torch"),
        ]
    return [
        fm.fid(_FEAT_X, _FEAT_Y),
        fm.fid(_FEAT_X, _FEAT_Y, method="full"),
        fm.fid(_FEAT_X[:30], _FEAT_Y, method="lowrank"),
        fm.fid(_FEAT_X[:30], _FEAT_Y[:40], method="lowrank"),
        fm.fid(_FEAT_X.float(), _FEAT_Y.float(), impl="torch"),
        fm.fid_from_stats(sx, sy),
        fm.frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov),
        fm.frechet_distance(sx.mean, sx.cov, sy.mean, sy.cov, impl="torch"),
        fm.fid_to_standard_normal(_FEAT_Y),
    ]


def _fid_random(light: bool) -> list[Any]:
    x, y = _FEAT_X[:300, :12], _FEAT_Y[:250, :12]
    return [
        fm.fid_bootstrap(x, y, n_bootstrap=20, generator=_gen(12)),
        fm.fid_infinity(x, y, sizes=[50, 100, 150, 250], generator=_gen(13)),
    ]


def _knn_metrics(backend: str, light: bool) -> list[Any]:
    x, y = _SMALL_X, _SMALL_Y
    if light:
        return [fm.prdc(x, y, k=5, impl=backend), fm.realism_score(x, y, k=3, impl=backend)]
    return [
        fm.prdc(x, y, k=5, impl=backend),
        fm.prdc(x, y, k=3, strict=True, impl=backend, block_size=128),
        fm.precision_recall(x, y, k=3, impl=backend),
        fm.density_coverage(x, y, k=5, impl=backend),
        fm.realism_score(x, y, k=3, impl=backend),
        fm.realism_score(x, y, k=3, squared=True, prune=False, impl=backend),
    ]


def _inception(light: bool) -> list[Any]:
    if light:
        return [fm.inception_score(_LOGITS_IS, splits=10)]
    return [
        fm.inception_score(_LOGITS_IS, splits=10),
        fm.inception_score(_LOGITS_IS.softmax(dim=1), splits=7, input="probs"),
    ]


def _kid(light: bool) -> list[Any]:
    x, y = _SMALL_X, _SMALL_Y
    if light:
        return [fm.kid(x, y, subsets=20, subset_size=200, generator=_gen(14))]
    return [
        fm.kid(x, y, subsets=20, subset_size=200, generator=_gen(14), method="subsets"),
        fm.kid(x, y, subsets=20, subset_size=200, generator=_gen(14), method="full"),
        fm.kid(x, y, subsets=10, subset_size=300, generator=_gen(15), dtype=torch.float32),
    ]


def _truncation(light: bool) -> list[torch.Tensor]:
    w = torch.randn(500, 6, 32, generator=_gen(16))
    w_avg = torch.randn(32, generator=_gen(17))
    return [
        truncated_normal((300, 512), 0.7, generator=_gen(20), method="rejection"),
        truncated_normal((300, 512), 0.7, generator=_gen(20), method="inverse_cdf"),
        truncated_normal((300, 512), 0.1, generator=_gen(21), dtype=torch.bfloat16),
        truncated_normal(4097, 2.0, generator=_gen(22), dtype=D64),
        biggan_truncated_noise((300, 128), 0.5, generator=_gen(23)),
        psi_truncation(w, w_avg, 0.7),
        psi_truncation(w, w_avg, 0.5, cutoff=3),
        *kid_subset_indices(700, 600, 20, 200, generator=_gen(27)),
    ]


def _w_avg(light: bool) -> torch.Tensor:
    lin = nn.Linear(32, 24)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(24, 32, generator=_gen(18)))
        lin.bias.copy_(torch.randn(24, generator=_gen(19)))
    return estimate_w_avg(lin, n=5000, z_dim=32, batch_size=700, generator=_gen(24))


class _TinyNet(nn.Module):
    """A small conv feature net with fixed weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2)
        self.fc = nn.Linear(8 * 4, 16)
        g = _gen(25)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return self.fc(nn.functional.adaptive_avg_pool2d(h, 2).flatten(1))


_TINY = _TinyNet()
_IMAGES = torch.randint(0, 256, (37, 24, 24, 3), dtype=torch.uint8, generator=_gen(26))


def _extract(light: bool) -> list[torch.Tensor]:
    return [
        extract_features(_IMAGES, _TINY, batch_size=8, image_size=20),
        extract_features(_IMAGES.permute(0, 3, 1, 2), _TINY, batch_size=37, resize="none"),
    ]


# name -> (function(light), across-thread guarantee, rtol for "rounding")
CASES: dict[str, tuple[Callable[[bool], Any], str, float]] = {
    "losses-torch-f64": (lambda light: _losses("torch", D64, light), "rounding", 1e-13),
    "losses-torch-f32": (lambda light: _losses("torch", torch.float32, light), "rounding", 1e-6),
    "linalg-torch": (lambda light: _linalg("torch", light), "rounding", 1e-12),
    "linalg-torch-n100": (_linalg_big_torch, "rounding", 1e-12),
    "feature-stats": (_stats, "rounding", 1e-12),
    "fid": (_fid, "rounding", 1e-10),
    "fid-bootstrap-infinity": (_fid_random, "rounding", 1e-10),
    "inception-score": (_inception, "rounding", 1e-12),
    "kid": (_kid, "rounding", 1e-10),
    "samplers-truncation": (_truncation, "bitwise", 0.0),
    "estimate-w-avg": (_w_avg, "rounding", 1e-12),
    "extract-features": (_extract, "rounding", 1e-5),
}
for _be in KNN_BACKENDS:
    CASES[f"knn-{_be}"] = (lambda light, be=_be: _knn_metrics(be, light), "bitwise", 0.0)
if _ext.HAS_EXT:
    CASES["losses-ext-f64"] = (lambda light: _losses("ext", D64, light), "bitwise", 0.0)
    CASES["losses-ext-f32"] = (lambda light: _losses("ext", torch.float32, light), "bitwise", 0.0)
    CASES["losses-ext-bf16"] = (lambda light: _losses("ext", torch.bfloat16, light), "bitwise", 0.0)
    CASES["linalg-ext"] = (lambda light: _linalg("ext", light), "bitwise", 0.0)


@pytest.fixture(autouse=True)
def _quiet_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # documented overflow / fallback warnings are not under test here
        yield


# ----------------------------------------------------------------------------- public ops
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", list(CASES))
def test_repeat_calls_are_bitwise_identical(name: str, threads: int) -> None:
    fn = CASES[name][0]
    light = threads > 1  # the full surface single-threaded, a lighter one on two threads
    with num_threads(threads):
        first = fn(light)
        second = fn(light)
    assert_bitwise(first, second, name)


@pytest.mark.parametrize("name", list(CASES))
def test_across_thread_counts(name: str) -> None:
    fn, guarantee, rtol = CASES[name]
    with num_threads(1):
        one = fn(True)
    with num_threads(2):
        two = fn(True)
    if guarantee == "bitwise":
        assert_bitwise(one, two, name)
    else:
        assert_rounding(one, two, rtol, name)


@pytest.mark.parametrize("name", list(CASES))
def test_deterministic_algorithms_flag_changes_nothing_on_cpu(name: str) -> None:
    fn = CASES[name][0]
    with num_threads(1):
        plain = fn(False)
        with deterministic_algorithms():
            strict = fn(False)
    assert_bitwise(plain, strict, name)


# ----------------------------------------------------------------------------- raw C++ kernels
_KERNELS = sorted(set(KERNEL_IDS.values()))
_ALPHA_FOR = {KERNEL_IDS["alpha_lt1"]: 0.5, KERNEL_IDS["alpha_gt1"]: 2.5}
_DTYPES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}


@pytest.mark.ext
@pytest.mark.parametrize("dtype", list(_DTYPES), ids=lambda d: str(d).split(".")[-1])
def test_fdiv_binding_bitwise_for_any_thread_count(dtype: torch.dtype) -> None:
    """Every kernel, both terms, sum and elementwise: 1..7 threads give the same bits."""
    C = _ext._C
    n = 5 * 65536 + 4099  # 6 tasks of 128 blocks, the last one partial
    x = (4.0 * torch.randn(n, generator=_gen(30), dtype=D64)).to(dtype)
    kernels = (
        _KERNELS
        if dtype in (torch.float32, torch.float64)
        else [KERNEL_IDS["gan"], KERNEL_IDS["kl"], KERNEL_IDS["jeffrey"], KERNEL_IDS["alpha_lt1"]]
    )
    for kernel in kernels:
        alpha = _ALPHA_FOR.get(kernel, 0.0)
        for term in (0, 1):
            for reduce in (True, False):
                ref = None
                for threads in (1, 2, 3, 7):
                    out = torch.empty((), dtype=dtype) if reduce else torch.empty_like(x)
                    grad = torch.empty_like(x)
                    C.fdiv_term_cpu(
                        x.data_ptr(),
                        out.data_ptr(),
                        grad.data_ptr(),
                        n,
                        out.numel(),
                        grad.numel(),
                        _DTYPES[dtype],
                        kernel,
                        term,
                        reduce,
                        alpha,
                        1.0 / n,
                        threads,
                    )
                    if ref is None:
                        ref = (out, grad)
                    else:
                        assert_bitwise(
                            (out, grad), ref, f"kernel {kernel} term {term} reduce {reduce} threads {threads}"
                        )


@pytest.mark.ext
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_jacobi_bindings_bitwise_for_any_thread_count(dtype: torch.dtype) -> None:
    C = _ext._C
    batch, n = 9, 13
    a = _psd(n, (batch,), 31).to(dtype).contiguous()
    b = _psd(n, (batch,), 32).to(dtype).contiguous()
    b[3] = a[3] @ torch.diag(torch.tensor([1.0] * 6 + [0.0] * 7, dtype=dtype)) @ a[3]  # a singular one
    code = _DTYPES[dtype]
    ref = None
    for threads in (1, 2, 3, 7):
        s = torch.empty_like(a)
        t = torch.empty(batch, dtype=D64)
        ratio = torch.empty(batch, dtype=D64)
        bad = [
            C.sqrtm_sym_cpu(a.data_ptr(), s.data_ptr(), batch, n, code, 30, 1e-15, threads, ratio.data_ptr()),
            C.trace_sqrt_product_cpu(
                a.data_ptr(), b.data_ptr(), t.data_ptr(), batch, n, code, 30, 1e-15, threads, 0
            ),
        ]
        got = (bad, s, t, ratio)
        if ref is None:
            ref = got
        else:
            assert_bitwise(got, ref, f"threads={threads}")


# ----------------------------------------------------------------------------- FeatureStats splits
def test_feature_stats_same_split_bitwise_other_split_rounding() -> None:
    x = _FEAT_X + 100.0  # common offset: the centred merge is what keeps this exact

    def by(sizes: list[int]) -> fm.FeatureStats:
        s, i = fm.FeatureStats(), 0
        for k in sizes:
            s.update(x[i : i + k])
            i += k
        assert i == x.shape[0]
        return s

    split = [1, 999, 3, 2000, 997]
    a, b = by(split), by(split)
    assert_bitwise((a.mean, a.cov), (b.mean, b.cov))
    c = by([4000])
    assert_rounding((a.mean, a.cov), (c.mean, c.cov), 1e-12)


# ----------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.ext
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=["f32", "f64", "bf16"])
def test_cuda_fused_loss_bitwise_run_to_run(dtype: torch.dtype) -> None:
    if not _ext.cuda_usable():
        pytest.skip("fastgan._C has no usable CUDA kernels")
    x = (3.0 * torch.randn(3_000_017, generator=_gen(40), dtype=D64)).to(dtype).cuda()  # > 1024 blocks
    results = []
    for det in (False, True, False):
        ctx = deterministic_algorithms() if det else contextlib.nullcontext()
        with ctx:
            v = x.clone().requires_grad_(True)
            loss = losses.fgan_discriminator_loss(v, v[:1000], "js", impl="ext")  # raises if routed away
            loss.backward()
            results.append((loss.detach(), v.grad))
    for r in results[1:]:
        assert_bitwise(r, results[0])


@pytest.mark.cuda
@pytest.mark.ext
def test_cuda_jacobi_bitwise_run_to_run_and_kept_when_deterministic() -> None:
    if not _ext.cuda_usable():
        pytest.skip("fastgan._C has no usable CUDA kernels")
    a, b = _psd(48, (5,), 41).cuda(), _psd(48, (5,), 42).cuda()
    results = []
    for det in (False, True, False):
        ctx = deterministic_algorithms() if det else contextlib.nullcontext()
        with ctx:
            results.append(
                (
                    sqrtm_sym(a, impl="ext"),
                    trace_sqrt_product(a, b, impl="ext"),
                    sqrtm_sym(a.float(), impl="ext"),
                )
            )
    for r in results[1:]:
        assert_bitwise(r, results[0])


@pytest.mark.cuda
def test_cuda_exact_knn_metrics_bitwise_and_equal_to_cpu() -> None:
    x, y = _SMALL_X.cuda(), _SMALL_Y.cuda()
    first = fm.prdc(x, y, k=5)
    assert_bitwise(fm.prdc(x, y, k=5), first)
    assert first == fm.prdc(_SMALL_X, _SMALL_Y, k=5)  # exact decisions: device-independent


@pytest.mark.cuda
def test_cuda_seeded_samplers_bitwise() -> None:
    def draw() -> list[torch.Tensor]:
        g = torch.Generator(device="cuda").manual_seed(50)
        return [
            truncated_normal((256, 512), 0.7, generator=g),
            truncated_normal((256, 512), 0.1, generator=g),
        ]

    assert_bitwise(draw(), draw())
