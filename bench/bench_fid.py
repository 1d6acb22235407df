"""FID: exact symmetric-eigenvalue Frechet distance, float64 statistics, batched trace-sqrt.

Cases (each ratio measured in one run, baseline timed beside fastgan's op):

* ``frechet_2048``: :func:`fastgan.metrics.frechet_distance` on 2048-d statistics vs the
  pytorch-fid formula (``scipy.linalg.sqrtm(sigma1 @ sigma2)``, complex Schur route, float64).
  Goal >= 20x.
* ``stats``: :class:`FeatureStats` (mean and covariance) from N x 2048 float32 features, N = 10k
  and 50k, against (a) ``numpy.mean`` + ``numpy.cov(x, rowvar=False)`` on the float32 array, as
  clean-fid and torch-fidelity compute it (numpy converts to float64 and its matmul runs
  ``X^T X`` as a BLAS ``dsyrk``; pytorch-fid does the same on a float64 activation array, case
  ``npcov64``), (b) one float64 ``dsyrk`` of the already centred float64
  features (scipy), the floor for an exact float64 scatter, and (c) one float64 torch GEMM
  ``X^T X``. Goals: >= 1.5x ``numpy.cov``; within 1.1x of the one float64 ``dsyrk`` at 50k.
  Besides the harness's in-process timings, every implementation also runs in a fresh plain
  Python process (``bench_inception.plain_process``: cold first call and warm median, glibc
  default heap); those are the figures to quote. On GPU only the in-process GEMM comparison.
* ``batched_trace_sqrt``: :func:`fastgan.linalg.trace_sqrt_product` on B pairs of n x n PSD
  matrices vs a Python loop over ``torch.linalg.eigh`` (sqrt of A, then eigvalsh of
  A^1/2 B A^1/2). GPU: B = 256, n in {64 (CUDA Jacobi kernel), 256, 512 (batched torch path)};
  CPU: B = 32, n in {16, 32, 64}, timing the C++ Jacobi tier (impl="ext") and the batched torch
  tier (impl="torch").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cases import pool3_like, sample_covariance  # type: ignore[import-not-found]
from conftest import scipy_sqrtm, timeit  # type: ignore[import-not-found]

from fastgan import _ext
from fastgan.linalg import trace_sqrt_product
from fastgan.metrics.frechet import FeatureStats, frechet_distance

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _psd_batch(b: int, n: int, seed: int, device: str) -> torch.Tensor:
    return sample_covariance(b, n, seed).to(device)


def _stats_2048(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = pool3_like(4096, 2048, seed, dtype=torch.float64)
    s = FeatureStats.from_features(x)
    return s.mean, s.cov


def test_frechet_2048(benchmark, record) -> None:  # type: ignore[no-untyped-def]
    mu1, s1 = _stats_2048(0)
    mu2, s2 = _stats_2048(1)
    mu2 = mu2 * 1.01
    m1, c1, m2, c2 = (t.numpy() for t in (mu1, s1, mu2, s2))

    def pytorch_fid_formula() -> float:
        covmean = scipy_sqrtm(c1.dot(c2))
        return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean.real))

    ours = benchmark.pedantic(lambda: float(frechet_distance(mu1, s1, mu2, s2)), rounds=3, warmup_rounds=1)
    fast_s = benchmark.stats.stats.median
    base_val = pytorch_fid_formula()
    base_s = timeit(pytorch_fid_formula, repeat=1, warmup=0)
    record(
        "d=2048",
        fastgan_s=fast_s,
        baseline_s=base_s,
        speedup=base_s / fast_s,
        fid=ours,
        baseline_fid=base_val,
        rel_diff=abs(ours - base_val) / abs(base_val),
    )


STATS_NS = [50_000] if DEVICE == "cuda" else [10_000, 50_000]
STATS_PLAIN = ("stats_fastgan", "stats_npcov", "stats_syrk64", "stats_npcov64")


@pytest.mark.parametrize("n", STATS_NS, ids=lambda n: f"N={n}")
def test_stats(benchmark, record, n: int) -> None:  # type: ignore[no-untyped-def]
    x32 = pool3_like(n, 2048, 2).to(DEVICE)
    x64 = x32.double()

    def ours() -> tuple[torch.Tensor, torch.Tensor]:
        s = FeatureStats().update(x32)
        return s.mean, s.cov

    mean, cov = benchmark.pedantic(ours, rounds=3, warmup_rounds=1)
    fast_s = benchmark.stats.stats.median
    gemm_s = timeit(lambda: x64.T @ x64, repeat=3)  # noqa: F821 (run before the del below)
    if DEVICE == "cuda":
        record(f"N={n}-D=2048", fastgan_s=fast_s, gemm64_s=gemm_s, ratio_vs_gemm=fast_s / gemm_s)
        return
    from bench_inception import _loadavg, plain_process  # type: ignore[import-not-found]
    from scipy.linalg.blas import dsyrk

    a32 = x32.numpy()
    npcov_s = timeit(lambda: (np.mean(a32, axis=0), np.cov(a32, rowvar=False)), repeat=3)
    ref_cov = np.cov(a32, rowvar=False)
    centred = x64.numpy() - x64.numpy().mean(axis=0)
    syrk_s = timeit(lambda: dsyrk(1.0, centred.T, trans=0), repeat=3)  # noqa: F821 (run before the del)
    rel = float(np.abs(cov.numpy() - ref_cov).max() / np.abs(ref_cov).max())
    del x64, centred
    repeat = 5 if n <= 10_000 else 3
    plain = {case: plain_process(case, n, 2048, repeat=repeat) for case in STATS_PLAIN}
    fg, npc, sy = (plain[c] for c in STATS_PLAIN[:3])
    record(
        f"N={n}-D=2048",
        harness_fastgan_s=fast_s,
        harness_npcov_s=npcov_s,
        harness_syrk64_s=syrk_s,
        harness_gemm64_s=gemm_s,
        **{f"{c[6:]}_cold_s": r["cold_s"] for c, r in plain.items()},
        **{f"{c[6:]}_warm_s": r["warm_median_s"] for c, r in plain.items()},
        speedup_vs_npcov_warm=npc["warm_median_s"] / fg["warm_median_s"],
        speedup_vs_npcov_cold=npc["cold_s"] / fg["cold_s"],
        speedup_vs_npcov64_warm=plain["stats_npcov64"]["warm_median_s"] / fg["warm_median_s"],
        ratio_vs_syrk64_warm=fg["warm_median_s"] / sy["warm_median_s"],
        max_rel_diff_cov_vs_npcov=rel,
        loadavg=_loadavg(),
    )


def _loop_eigh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = []
    for ai, bi in zip(a, b):
        w, v = torch.linalg.eigh(ai)
        sa = (v * w.clamp_min(0).sqrt()) @ v.T
        out.append(torch.linalg.eigvalsh(sa @ bi @ sa).clamp_min(0).sqrt().sum())
    return torch.stack(out)


BATCH_CASES = (
    [(256, 64), (32, 256), (256, 256), (256, 512)] if DEVICE == "cuda" else [(32, 16), (32, 32), (32, 64)]
)


@pytest.mark.parametrize("case", BATCH_CASES, ids=lambda c: f"B={c[0]}-n={c[1]}")
def test_batched_trace_sqrt(benchmark, record, case) -> None:  # type: ignore[no-untyped-def]
    bsz, n = case
    a = _psd_batch(bsz, n, 3, DEVICE)
    b = _psd_batch(bsz, n, 4, DEVICE)
    want = _loop_eigh(a, b)
    use_ext = _ext.HAS_EXT and (DEVICE == "cpu" or n <= 64)
    impl = "ext" if use_ext else "auto"
    got = benchmark.pedantic(lambda: trace_sqrt_product(a, b, impl=impl), rounds=3, warmup_rounds=1)
    fast_s = benchmark.stats.stats.median
    base_s = timeit(lambda: _loop_eigh(a, b), repeat=3)
    torch_s = timeit(lambda: trace_sqrt_product(a, b, impl="torch"), repeat=3)
    err = float(((got - want).abs() / want.abs()).max())
    record(
        f"B={bsz}-n={n}",
        impl=impl,
        fastgan_s=fast_s,
        loop_eigh_s=base_s,
        batched_torch_s=torch_s,
        speedup_vs_loop=base_s / fast_s,
        speedup_torch_tier_vs_loop=base_s / torch_s,
        max_rel_err=err,
    )
