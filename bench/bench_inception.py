"""Inception Score from logits: fastgan vs torchmetrics on the same logits, in plain processes.

Every figure is taken in a fresh child Python process with glibc's default heap settings (the
harness's ``mallopt`` in ``bench/conftest.py`` is not applied there): the *cold* first call
after imports and data creation, and the *median* of the warm calls that follow. One process
per implementation, so neither warms the other's caches or allocator.

Cases (N x 1008 float32 logits, 10 splits):

* ``fastgan``: :func:`fastgan.metrics.inception_score` (one fused float64 pass).
* ``fastgan_class``: :class:`fastgan.metrics.InceptionScore` ``update`` + ``compute``.
* ``torchmetrics``: ``torchmetrics.image.inception.InceptionScore`` with an identity feature
  module, ``update(logits)`` + ``compute()`` (float32, shuffles with ``torch.randperm``).

Goal: fastgan at least as fast as torchmetrics at N = 10k and 50k.

    pytest bench/bench_inception.py --benchmark-only       # also records bench/results/<device>.json
    python bench/bench_inception.py [--n 10000 50000] [--threads T] [--repeat 7] [--rounds 2]
    python bench/bench_inception.py --cases stats_fastgan stats_npcov stats_syrk64   # FID statistics
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any, Optional

import pytest
import torch

NUM_CLASSES = 1008
SPLITS = 10

#: Child program: ``python -c CHILD <case> <n> <cols> <repeat> <threads>`` prints one JSON line.
CHILD = r"""
import json, statistics, sys, time
case = sys.argv[1]
n, cols, repeat, threads = (int(v) for v in sys.argv[2:6])
t_import = time.perf_counter()
import numpy as np
import torch
if threads > 0:
    torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
if case.startswith("is_"):
    logits = torch.randn(n, cols, generator=g) * 4
    if case == "is_fastgan":
        from fastgan.metrics import inception_score
        fn = lambda: inception_score(logits, splits=10)
    elif case == "is_fastgan_class":
        from fastgan.metrics import InceptionScore
        def fn():
            m = InceptionScore(splits=10, num_samples=n)
            m.update(logits)
            return m.compute()
    elif case == "is_torchmetrics":
        import warnings
        warnings.filterwarnings("ignore")
        from torchmetrics.image.inception import InceptionScore
        m = InceptionScore(feature=torch.nn.Identity(), splits=10)
        def fn():
            m.reset()
            m.update(logits)
            return m.compute()
    else:
        raise SystemExit(f"unknown case {case}")
elif case.startswith("stats_"):
    x = torch.randn(n, cols, generator=g).abs()  # pool3-like: non-negative float32
    if case == "stats_fastgan":
        from fastgan.metrics import FeatureStats
        def fn():
            s = FeatureStats().update(x)
            return s.mean, s.cov
    elif case == "stats_npcov":  # clean-fid / torch-fidelity: numpy on the float32 features
        a = x.numpy()
        fn = lambda: (np.mean(a, axis=0), np.cov(a, rowvar=False))
    elif case == "stats_npcov64":  # pytorch-fid: its activation array is float64 (np.empty's default)
        a = x.double().numpy()
        fn = lambda: (np.mean(a, axis=0), np.cov(a, rowvar=False))
    elif case == "stats_syrk64":  # one float64 rank-k update of the centred features (prepared untimed)
        from scipy.linalg.blas import dsyrk
        a = x.double().numpy()
        a = a - a.mean(axis=0)
        fn = lambda: dsyrk(1.0, a.T, trans=0)
    elif case == "stats_gemm64":  # one float64 X^T X with torch (MKL GEMM), X prepared untimed
        a = x.double()
        fn = lambda: a.T @ a
    else:
        raise SystemExit(f"unknown case {case}")
else:
    raise SystemExit(f"unknown case {case}")
setup_s = time.perf_counter() - t_import
t0 = time.perf_counter()
fn()
cold = time.perf_counter() - t0
warm = []
for _ in range(repeat):
    t0 = time.perf_counter()
    fn()
    warm.append(time.perf_counter() - t0)
print(json.dumps({"case": case, "n": n, "cols": cols, "threads": threads or torch.get_num_threads(),
                  "cold_s": cold, "warm_median_s": statistics.median(warm), "warm_min_s": min(warm),
                  "repeat": repeat, "setup_s": setup_s}))
"""


def plain_process(
    case: str, n: int, cols: int, *, repeat: int = 5, threads: Optional[int] = None
) -> dict[str, Any]:
    """Run ``case`` in a fresh plain Python process; returns its JSON record (cold and warm seconds)."""
    env = dict(os.environ)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    cmd = [sys.executable, "-c", CHILD, case, str(n), str(cols), str(repeat), str(threads or 0)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _loadavg() -> Optional[float]:
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return None


IS_CASES = ("is_fastgan", "is_fastgan_class", "is_torchmetrics")


@pytest.mark.parametrize("n", [10_000, 50_000], ids=lambda n: f"N={n}")
def test_inception_score(benchmark, record, n: int) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.inception import InceptionScore as TMInceptionScore

    from fastgan.metrics import inception_score

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n, NUM_CLASSES, generator=g) * 4
    ours = benchmark.pedantic(lambda: inception_score(logits, splits=SPLITS), rounds=5, warmup_rounds=1)
    # value check under torchmetrics' convention: its randperm order, contiguous equal chunks
    tm = TMInceptionScore(feature=torch.nn.Identity(), splits=SPLITS)
    tm.update(logits)
    torch.manual_seed(123)
    tm_mean, _ = tm.compute()
    torch.manual_seed(123)
    order = torch.randperm(n)
    same_order = inception_score(logits, splits=SPLITS, order=order)
    plain = {case: plain_process(case, n, NUM_CLASSES) for case in IS_CASES}
    fg, tmr = plain["is_fastgan"], plain["is_torchmetrics"]
    record(
        f"N={n}-C={NUM_CLASSES}",
        harness_fastgan_s=benchmark.stats.stats.median,
        **{f"{c[3:]}_cold_s": r["cold_s"] for c, r in plain.items()},
        **{f"{c[3:]}_warm_s": r["warm_median_s"] for c, r in plain.items()},
        speedup_warm=tmr["warm_median_s"] / fg["warm_median_s"],
        speedup_cold=tmr["cold_s"] / fg["cold_s"],
        is_mean=ours["is_mean"],
        rel_diff_vs_torchmetrics_same_order=abs(same_order["is_mean"] - float(tm_mean)) / float(tm_mean),
        loadavg=_loadavg(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the implementations this many times")
    parser.add_argument(
        "--cases",
        nargs="+",
        default=list(IS_CASES),
        help="child cases (stats_fastgan, stats_npcov, stats_npcov64, stats_syrk64, stats_gemm64: D = 2048)",
    )
    args = parser.parse_args()
    for n in args.n:
        for _ in range(args.rounds):
            for case in args.cases:
                cols = 2048 if case.startswith("stats_") else NUM_CLASSES
                rec = plain_process(case, n, cols, repeat=args.repeat, threads=args.threads)
                rec["loadavg"] = _loadavg()
                sys.stdout.write(json.dumps(rec) + "\n")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
