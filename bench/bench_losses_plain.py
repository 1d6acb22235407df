"""GAN D-loss forward + backward in plain processes, with and without the bench harness's heap setting.

``bench/conftest.py`` raises glibc's trim and mmap thresholds (``mallopt``) for stable medians.
A user's process does not: this script times the fused loss
(``fastgan.losses.minimax_discriminator_loss``) and the same loss in eager torch ops
(``F.softplus(-real).mean() + F.softplus(fake).mean()``) in fresh child processes, alternating
"plain" (glibc defaults) and "steady_heap" (the harness setting), and prints one JSON line per
child with the medians.

    python bench/bench_losses_plain.py [--n 1000000] [--threads 2] [--repeat 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
mode, n, threads, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if mode == "steady_heap":
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
import torch
import torch.nn.functional as F
from fastgan.losses import minimax_discriminator_loss
torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
real = (2.0 * torch.randn(n, generator=g)).requires_grad_(True)
fake = (2.0 * torch.randn(n, generator=g)).requires_grad_(True)

def eager(r, f):
    return F.softplus(-r).mean() + F.softplus(f).mean()

def median_s(fn):
    times = []
    for i in range(repeat + 3):
        real.grad = None
        fake.grad = None
        t0 = time.perf_counter()
        fn(real, fake).backward()
        t = time.perf_counter() - t0
        if i >= 3:
            times.append(t)
    return statistics.median(times)

fused_s = median_s(minimax_discriminator_loss)
eager_s = median_s(eager)
print(json.dumps({"mode": mode, "n": n, "threads": threads, "repeat": repeat,
                  "fastgan_ms": round(1e3 * fused_s, 3), "eager_ms": round(1e3 * eager_s, 3),
                  "speedup": round(eager_s / fused_s, 2)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for mode in ("plain", "steady_heap"):
            cmd = [sys.executable, "-c", CHILD, mode, str(args.n), str(args.threads), str(args.repeat)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            sys.stdout.write(out.stdout.strip().splitlines()[-1] + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
