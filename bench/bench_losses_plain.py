"""GAN D-loss forward + backward in plain processes: fused, eager and ``torch.compile``, by size.

``bench/conftest.py`` raises glibc's trim and mmap thresholds (``mallopt``) for stable medians.
A user's process does not: this script times the fused loss
(``fastgan.losses.minimax_discriminator_loss``), the same loss in eager torch ops
(``F.softplus(-real).mean() + F.softplus(fake).mean()``) and ``torch.compile`` of that eager
function (compiled before the timing; its first call is reported apart as ``compile_s``) in one
fresh child process per size, glibc defaults ("plain"; ``--modes plain,steady_heap`` adds the
harness setting), torch's default thread count unless ``--threads`` is given. Each child first
checks that the three agree (loss and both gradients, ``rtol 1e-5``) and prints one JSON line
with the medians; the parent writes them to ``--out``.

Ratios are ``eager_ms / fastgan_ms`` (``speedup``) and ``compiled_ms / fastgan_ms``
(``vs_compile``), from the same child.

    python bench/bench_losses_plain.py                       # 256 ... 1e8 -> bench/results/losses_plain.json
    python bench/bench_losses_plain.py --sizes 2000000 --modes plain,steady_heap --rounds 2 --out -
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SIZES = (256, 4096, 65536, 1_000_000, 2_000_000, 10_000_000, 100_000_000)

CHILD = r"""
import json, statistics, sys, time
mode, n, threads, repeat, do_compile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
if mode == "steady_heap":
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
import torch
import torch.nn.functional as F
from fastgan.losses import minimax_discriminator_loss
if threads:
    torch.set_num_threads(threads)
g = torch.Generator().manual_seed(0)
real = (2.0 * torch.randn(n, generator=g)).requires_grad_(True)
fake = (2.0 * torch.randn(n, generator=g)).requires_grad_(True)

def eager(r, f):
    return F.softplus(-r).mean() + F.softplus(f).mean()

def once(fn):
    real.grad = None
    fake.grad = None
    loss = fn(real, fake)
    loss.backward()
    return loss.detach(), real.grad.clone(), fake.grad.clone()

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

fns = {"fastgan": minimax_discriminator_loss, "eager": eager}
out = {"mode": mode, "n": n, "threads": torch.get_num_threads(), "repeat": repeat}
if do_compile:
    compiled = torch.compile(eager, dynamic=False)
    t0 = time.perf_counter()
    once(compiled)
    out["compile_s"] = round(time.perf_counter() - t0, 2)
    fns["compiled"] = compiled
ref = once(eager)
for name, fn in fns.items():
    got = once(fn)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-9)
for name, fn in fns.items():
    out[name + "_ms"] = round(1e3 * median_s(fn), 4)
out["speedup"] = round(out["eager_ms"] / out["fastgan_ms"], 3)
if do_compile:
    out["vs_compile"] = round(out["compiled_ms"] / out["fastgan_ms"], 3)
print(json.dumps(out))
"""


def repeats(n: int) -> int:
    """Timed calls per child: ~1e9 elements in all, between 5 and 200."""
    return max(5, min(200, 1_000_000_000 // max(n, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="logits per side")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default (a user's process)")
    parser.add_argument("--repeat", type=int, default=0, help="timed calls (0: by size, 5..200)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default="plain", help="plain and/or steady_heap")
    parser.add_argument("--no-compile", action="store_true", help="leave out torch.compile")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "losses_plain.json"))
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in ("plain", "steady_heap") for m in modes):
        parser.error("--modes: plain and/or steady_heap")
    rows: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for n in sizes:
            for mode in modes:
                rep = args.repeat or repeats(n)
                cmd = [sys.executable, "-c", CHILD, mode, str(n), str(args.threads), str(rep)]
                cmd.append("0" if args.no_compile else "1")
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=str(REPO))
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                sys.stdout.write(json.dumps(rows[-1]) + "\n")
                sys.stdout.flush()
    if args.out != "-":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_eval as be

        result = {"rows": rows, "environment": be.environment("cpu")}
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"written: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
