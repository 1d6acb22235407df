"""Step ``prdc`` of run_all.sh: exact PRDC (k = 5) on N x D float32 features on the GPU against the
time of the three float32 GEMMs real-real, fake-fake, real-fake (the distance work any exact method
does without symmetry tricks).

Features are bench/bench_prdc.py's (``_features``: seeded CPU ``randn``, fake shifted by 0.02 and
scaled by 1.05, moved to the device). A warm-up at 2,000 rows runs both first (cuBLAS handles, the
kernels' first launches). The GEMMs are timed with CUDA events (median of 3); PRDC with CUDA events
and the wall clock (median of FASTGAN_GPU_PRDC_REPEAT, default 2), with the peak memory
``torch.cuda.max_memory_allocated`` over the call and the diagnostics of ``prdc(stats=...)``.

Environment: FASTGAN_GPU_PRDC_N (default 50000), FASTGAN_GPU_PRDC_D (default 2048),
FASTGAN_GPU_PRDC_REPEAT.
"""

from __future__ import annotations

import statistics
import time

import _common as c  # first: puts bench/ and the repository root on sys.path
import bench_prdc as bp
import torch

from fastgan.metrics import prdc


def main() -> None:
    dev = c.device()
    n = c.env_int("FASTGAN_GPU_PRDC_N", 50_000, dryrun=600, quick=20_000)
    d = c.env_int("FASTGAN_GPU_PRDC_D", 2048, dryrun=64)
    repeat = c.env_int("FASTGAN_GPU_PRDC_REPEAT", 2, dryrun=1)
    k = 5
    res = c.Result(
        "prdc",
        {
            "device": dev,
            "n": n,
            "d": d,
            "k": k,
            "repeat": repeat,
            "dtype": "float32",
            "features": "bench/bench_prdc.py _features (seed 0 real; seed 1, +0.02, x1.05 fake)",
        },
    )
    t0 = time.perf_counter()
    real = bp._features(n, d, 0).to(dev)
    fake = bp._features(n, d, 1, shift=0.02, scale=1.05).to(dev)
    res.set(features_s=time.perf_counter() - t0)

    def gemms(a: torch.Tensor, b: torch.Tensor):  # type: ignore[no-untyped-def]
        def run() -> None:
            a @ a.T
            b @ b.T
            a @ b.T

        return run

    w = min(2000, n)
    prdc(real[:w], fake[:w], k=k)  # warm-up
    gemms(real[:w], fake[:w])()
    c.sync()
    t_gemm = c.time_fn(gemms(real, fake), repeat=3, warmup=1, dev=dev)
    res.set(gemms_s=t_gemm["median_s"], gemm_tflops=3 * 2.0 * n * n * d / t_gemm["median_s"] / 1e12)

    events, walls, peaks = [], [], []
    info: dict = {}
    value: dict = {}
    for _ in range(repeat):
        info = {}
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        t = time.perf_counter()
        value = prdc(real, fake, k=k, stats=info)
        if dev == "cuda":
            end.record()
            torch.cuda.synchronize()
            events.append(start.elapsed_time(end) / 1e3)
            peaks.append((torch.cuda.max_memory_allocated() - base) / 2**20)
        walls.append(time.perf_counter() - t)
    fast_s = statistics.median(events or walls)
    row = {
        "fastgan_s": fast_s,
        "fastgan_wall_s": statistics.median(walls),
        "gemms_s": t_gemm["median_s"],
        "ratio_vs_gemms": fast_s / t_gemm["median_s"],
        "runs_s": events or walls,
        "extra_peak_mib": max(peaks) if peaks else None,
        "features_mib": 2 * n * d * 4 / 2**20,
        "stats": info,
        **{f"fastgan_{key}": v for key, v in value.items()},
    }
    res.row(**row)
    res.set(
        headline=f"PRDC {n}x{d}: {fast_s:.3f} s = {row['ratio_vs_gemms']:.2f}x the three float32 GEMMs "
        f"({t_gemm['median_s']:.3f} s)"
    )


if __name__ == "__main__":
    main()
