"""KID: fastgan's batched / full-kernel evaluation vs a naive per-subset torch loop.

Both sides evaluate the same unbiased polynomial-kernel MMD^2 on the *same* subsets
(drawn once with :func:`kid_subset_indices`), in the same compute dtype:

* fastgan:  :func:`fastgan.metrics.kernel_distance.mmd2_subsets` with ``method="auto"`` -- for small N
  the three kernel matrices are computed once and each round gathers its blocks; for
  large N rounds are batched into ``baddbmm`` with the kernel applied in place;
* baseline: the loop torchmetrics' ``KernelInceptionDistance`` runs -- per round, three
  ``(x @ y.T / D + 1) ** 3`` kernel matrices and the unbiased sums.

``record`` stores ``speedup = baseline_s / fastgan_s`` and the method ``auto`` chose.
"""

from __future__ import annotations

import pytest
import torch
from conftest import timeit  # type: ignore[import-not-found]

from fastgan.metrics.kernel_distance import _choose_method, kid_subset_indices, mmd2_subsets

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

# (n_real = n_fake, D, subsets, subset_size, dtype)
CPU_CASES = [  # sized to keep the CPU run near two minutes
    (1_000, 1024, 50, 500, torch.float32),  # N small vs sqrt(subsets) * m: full kernel path
    (10_000, 1024, 20, 500, torch.float32),  # N large: batched subsets path
]
GPU_CASES = [
    (5_000, 2048, 100, 1000, torch.float32),
    (50_000, 2048, 100, 1000, torch.float32),  # the usual KID-50k protocol
    (5_000, 2048, 100, 1000, torch.float64),
]
CASES = GPU_CASES if DEVICE == "cuda" else CPU_CASES


def naive_mmd2(x: torch.Tensor, y: torch.Tensor, idx_r: torch.Tensor, idx_f: torch.Tensor) -> torch.Tensor:
    out = []
    d = x.shape[1]
    for r, f in zip(idx_r, idx_f):
        a, b = x[r], y[f]
        m = a.shape[0]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        out.append(
            (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.sum() / (m * m)
        )
    return torch.stack(out)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"n={c[0]}-d={c[1]}-s={c[2]}-m={c[3]}-{str(c[4])[6:]}")
def test_kid_vs_naive_loop(benchmark, record, case) -> None:  # type: ignore[no-untyped-def]
    n, d, subsets, m, dtype = case
    g = torch.Generator().manual_seed(0)
    # Inception pool3 features are non-negative (averaged ReLUs): |N(0,1)| is a fair stand-in
    x = torch.randn(n, d, generator=g).abs().to(DEVICE, dtype)
    y = (torch.randn(n, d, generator=g).abs() * 1.05).to(DEVICE, dtype)
    idx_r, idx_f = kid_subset_indices(n, n, subsets, m, torch.Generator().manual_seed(1))
    idx_r, idx_f = idx_r.to(DEVICE), idx_f.to(DEVICE)

    def fast() -> torch.Tensor:
        return mmd2_subsets(x, y, idx_r, idx_f, dtype=dtype)

    def naive() -> torch.Tensor:
        return naive_mmd2(x, y, idx_r, idx_f)

    # correctness guard: same per-round values (float32 rounding differs in summation order)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(fast(), naive().double(), rtol=tol, atol=tol * 1e-2)

    repeat = 3 if DEVICE == "cuda" else 2
    baseline_s = timeit(naive, repeat=repeat, warmup=0)
    fastgan_s = timeit(fast, repeat=repeat, warmup=0)
    benchmark.pedantic(fast, rounds=1, iterations=1)
    itemsize = torch.empty((), dtype=dtype).element_size()
    record(
        f"n={n}/d={d}/subsets={subsets}/m={m}/{str(dtype)[6:]}",
        fastgan_s=fastgan_s,
        baseline_s=baseline_s,
        speedup=baseline_s / fastgan_s,
        method=_choose_method("auto", n, n, d, subsets, m, itemsize, 1 << 30),
        threads=torch.get_num_threads(),
        device=DEVICE,
    )
