"""Exact PRDC vs the ``prdc`` package and vs the bare distance GEMMs, plus peak memory.

* ``test_prdc_10k_vs_package_and_gemms``: real 10k x 2048, fake 10k x 2048, k = 5 on CPU.
  Ratios from one run: ``speedup_vs_prdc`` (``prdc.compute_prdc`` / fastgan) and
  ``ratio_vs_gemms`` (fastgan / the three float32 GEMMs real-real, fake-fake, real-fake
  alone, i.e. the distance work any exact method must do without symmetry tricks).
  ``FASTGAN_BENCH_PRDC_N`` changes N (default 10000).
* ``test_prdc_peak_memory``: time and peak resident memory (``VmHWM`` of a fresh
  subprocess) minus the memory held after the features were created, at 10k, and at 50k /
  100k with ``FASTGAN_BENCH_LARGE=1`` (long on CPU: the 100k case does ~3e14 flops).

On a small shared CPU the whole file takes a few minutes at the default 10k size (the
baseline package alone needs ~1 minute there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import pytest
import torch
from conftest import timeit

from fastgan.metrics import prdc

N = int(os.environ.get("FASTGAN_BENCH_PRDC_N", "10000"))
D = 2048
LARGE = os.environ.get("FASTGAN_BENCH_LARGE", "0") not in ("", "0")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * scale + shift


def test_prdc_10k_vs_package_and_gemms(benchmark: Any, record: Callable[..., None]) -> None:
    real = _features(N, D, 0).to(DEVICE)
    fake = _features(N, D, 1, shift=0.02, scale=1.05).to(DEVICE)

    def gemms() -> None:
        real @ real.T
        fake @ fake.T
        real @ fake.T

    gemm_s = timeit(gemms, repeat=1, warmup=0)
    info: dict[str, Any] = {}
    value = benchmark.pedantic(lambda: prdc(real, fake, k=5, stats=info), rounds=1, iterations=1)
    fast_s = benchmark.stats.stats.median
    row: dict[str, Any] = {
        "n": N,
        "d": D,
        "k": 5,
        "fastgan_s": fast_s,
        "gemms_s": gemm_s,
        "ratio_vs_gemms": fast_s / gemm_s,
        "refined_pairs": info.get("knn_candidates", 0) + info.get("cross_refined", 0),
        **{f"fastgan_{k}": v for k, v in value.items()},
    }
    try:
        import prdc as prdc_pkg
    except ImportError:  # pragma: no cover
        prdc_pkg = None
    if prdc_pkg is not None and DEVICE == "cpu":
        a, b = real.numpy(), fake.numpy()
        t0 = time.perf_counter()
        theirs = prdc_pkg.compute_prdc(a, b, nearest_k=5)
        row["prdc_s"] = time.perf_counter() - t0
        row["speedup_vs_prdc"] = row["prdc_s"] / fast_s
        # strict '<' vs our '<=' differ only on ties (none on random data)
        row.update({f"prdc_{k}": float(v) for k, v in theirs.items()})
    record(f"{DEVICE}_{N}x{D}", **row)


_MEM_SCRIPT = r"""
import json, sys, time, torch
from fastgan.metrics import prdc
n, d = int(sys.argv[1]), int(sys.argv[2])
g = torch.Generator().manual_seed(0)
real = torch.randn(n, d, generator=g)
fake = torch.randn(n, d, generator=g) * 1.05 + 0.02
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
base = status("VmRSS")
t0 = time.perf_counter()
res = prdc(real, fake, k=5)
elapsed = time.perf_counter() - t0
print(json.dumps({"s": elapsed, "base_kb": base, "hwm_kb": status("VmHWM"), "res": res}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("n", [10_000] + ([50_000, 100_000] if LARGE else []))
def test_prdc_peak_memory(benchmark: Any, record: Callable[..., None], n: int) -> None:
    def run() -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", _MEM_SCRIPT, str(n), str(D)], capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    features_mib = 2 * n * D * 4 / 2**20
    extra_mib = (res["hwm_kb"] - res["base_kb"]) / 1024
    record(
        f"cpu_{n}x{D}",
        fastgan_s=res["s"],
        peak_rss_mib=res["hwm_kb"] / 1024,
        features_mib=features_mib,
        extra_peak_mib=extra_mib,
        extra_over_features=extra_mib / features_mib,
    )
