"""Start-up cost of a one-off Frechet distance: first call in a fresh process vs warm calls.

Runs one plain child process (no pytest, no allocator settings) that imports ``fastgan.metrics``,
resolves ``frechet_distance``, then times its first call on 2048-d statistics and ``--repeats``
further calls. Prints one JSON line: the import time, the first call, the warm median, their
ratio, and whether the compiler stack (``torch._dynamo`` / ``torch._inductor``) or sympy was
imported.

    python bench/bench_coldstart.py [--dim 2048] [--repeats 5] [--threads 0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
dim, repeats, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
import torch
if threads:
    torch.set_num_threads(threads)
t0 = time.perf_counter()
import fastgan.metrics
frechet_distance = fastgan.metrics.frechet_distance
t_import = time.perf_counter() - t0

def stats(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * dim, dim, generator=g, dtype=torch.float64)
    return x.mean(0), torch.cov(x.T)

(m1, s1), (m2, s2) = stats(1), stats(2)
t0 = time.perf_counter()
frechet_distance(m1, s1, m2, s2)
first = time.perf_counter() - t0
warm = []
for _ in range(repeats):
    t0 = time.perf_counter()
    frechet_distance(m1, s1, m2, s2)
    warm.append(time.perf_counter() - t0)
med = statistics.median(warm)
print(json.dumps({
    "dim": dim, "threads": torch.get_num_threads(), "import_s": round(t_import, 4),
    "first_call_s": round(first, 4), "warm_median_s": round(med, 4), "ratio": round(first / med, 3),
    "warm_s": [round(w, 4) for w in warm],
    "torch._dynamo": "torch._dynamo" in sys.modules, "torch._inductor": "torch._inductor" in sys.modules,
    "sympy": "sympy" in sys.modules,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(args.dim), str(args.repeats), str(args.threads)],
        check=True,
        capture_output=True,
        text=True,
    )
    sys.stdout.write(out.stdout.strip().splitlines()[-1] + "\n")


if __name__ == "__main__":
    main()
