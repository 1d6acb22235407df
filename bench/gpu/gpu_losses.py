"""Step ``losses`` of run_all.sh: fused f-GAN discriminator losses vs eager torch vs torch.compile,
forward + backward, on the GPU, at sizes 64 .. 1e8.

The cases and the eager compositions are bench/bench_losses.py's (``CASES``: gan, kl, hinge; its
``_fwd_bwd`` closure clears the gradients and runs ``loss(real, fake).backward()``). Per size the
inputs are ``2 * randn(n)`` float32 on the device (one pair per size, shared by the cases); per case
the gradients of the fused and the eager loss are compared first (max abs difference recorded),
then each implementation is timed with CUDA events around every call after warm-up calls.
``torch.compile`` of the eager loss is called once outside the timing (its first-call seconds are
recorded as ``compile_s``); by default, as in bench_losses.py, dynamo's automatic dynamic shapes
compile one graph for the first size and one shape-generic graph reused by the later sizes.

Environment: FASTGAN_GPU_LOSS_SIZES (comma list, default 64,1000,...,1e8),
FASTGAN_GPU_LOSS_CASES (default gan,kl,hinge), FASTGAN_GPU_LOSS_REPEAT (timed calls, default 30;
10 at n >= 1e7), FASTGAN_GPU_LOSS_COMPILE=0 skips torch.compile,
FASTGAN_GPU_LOSS_COMPILE_DYNAMIC=false compiles one static graph per size (slower to compile).
"""

from __future__ import annotations

import os
import time

import _common as c  # first: puts bench/ and the repository root on sys.path
import bench_losses as bl
import torch


def main() -> None:
    dev = c.device()
    sizes = [
        int(float(s))
        for s in c.env_list(
            "FASTGAN_GPU_LOSS_SIZES",
            "64,1000,10000,100000,1000000,10000000,100000000",
            dryrun="64,4096",
            quick="64,10000,1000000,100000000",
        )
    ]
    cases = c.env_list("FASTGAN_GPU_LOSS_CASES", ",".join(bl.CASES), dryrun="gan")
    repeat = c.env_int("FASTGAN_GPU_LOSS_REPEAT", 30, dryrun=3)
    do_compile = c.env_int("FASTGAN_GPU_LOSS_COMPILE", 1) != 0
    dynamic = {"auto": None, "false": False, "true": True}[
        os.environ.get("FASTGAN_GPU_LOSS_COMPILE_DYNAMIC", "auto").strip().lower() or "auto"
    ]
    bad = [k for k in cases if k not in bl.CASES]
    if bad:
        raise SystemExit(f"FASTGAN_GPU_LOSS_CASES: unknown {bad}; choose from {list(bl.CASES)}")
    res = c.Result(
        "losses",
        {
            "device": dev,
            "sizes": sizes,
            "cases": cases,
            "repeat": repeat,
            "compile": do_compile,
            "compile_dynamic": dynamic,
            "dtype": "float32",
            "what": "D loss forward + backward",
            "baseline_source": "bench/bench_losses.py CASES",
            "fastgan_gbps_24B": "24 bytes per n (fwd reads real + fake, bwd reads them "
            "again and writes two gradients) / fastgan_s",
        },
    )
    from fastgan import _ext

    res.set(extension={"has_ext": _ext.HAS_EXT, "cuda_usable": _ext.cuda_usable()})
    for n in sizes:
        g = torch.Generator(device=dev).manual_seed(0)
        real = (2.0 * torch.randn(n, generator=g, device=dev)).requires_grad_(True)
        fake = (2.0 * torch.randn(n, generator=g, device=dev)).requires_grad_(True)
        reps = repeat if n < 10_000_000 else max(3, min(repeat, 10))
        for case in cases:
            fused, eager = bl.CASES[case]
            row: dict = {"case": case, "n": n, "repeat": reps}
            try:
                bl._fwd_bwd(fused, real, fake)()
                g_real, g_fake = real.grad.clone(), fake.grad.clone()  # type: ignore[union-attr]
                bl._fwd_bwd(eager, real, fake)()
                diff = max(float((g_real - real.grad).abs().max()), float((g_fake - fake.grad).abs().max()))
                row["grad_max_abs_diff"] = diff
                row["grad_match"] = bool(
                    torch.allclose(g_real, real.grad, rtol=1e-5, atol=1e-9)
                    and torch.allclose(g_fake, fake.grad, rtol=1e-5, atol=1e-9)
                )
                del g_real, g_fake
                t_fused = c.time_fn(bl._fwd_bwd(fused, real, fake), repeat=reps, warmup=3, dev=dev)
                t_eager = c.time_fn(bl._fwd_bwd(eager, real, fake), repeat=reps, warmup=3, dev=dev)
                row.update(
                    fastgan_s=t_fused["median_s"],
                    eager_s=t_eager["median_s"],
                    fastgan_wall_s=t_fused["wall_per_call_s"],
                    eager_wall_s=t_eager["wall_per_call_s"],
                    speedup_vs_eager=t_eager["median_s"] / t_fused["median_s"],
                )
                if do_compile:
                    try:
                        compiled_run = bl._fwd_bwd(torch.compile(eager, dynamic=dynamic), real, fake)
                        t0 = time.perf_counter()
                        compiled_run()
                        c.sync()
                        row["compile_s"] = time.perf_counter() - t0
                        t_comp = c.time_fn(compiled_run, repeat=reps, warmup=3, dev=dev)
                        row.update(
                            compiled_s=t_comp["median_s"],
                            compiled_wall_s=t_comp["wall_per_call_s"],
                            speedup_vs_compile=t_comp["median_s"] / t_fused["median_s"],
                        )
                    except Exception as exc:  # a compile failure is a result, not the end of the step
                        row["compile_error"] = c.error_text(exc)
                # forward reads real + fake, the recomputing backward reads them again and writes
                # both gradients: 24 bytes per n (float32)
                row["fastgan_gbps_24B"] = 24.0 * n / t_fused["median_s"] / 1e9
            except Exception as exc:
                row["error"] = c.error_text(exc)
            res.row(**row)
        del real, fake
        if dev == "cuda":
            torch.cuda.empty_cache()
    rows = [r for r in res.data["rows"] if "speedup_vs_eager" in r]
    if rows:
        big = max(r["n"] for r in rows)
        res.set(
            headline="; ".join(
                f"{r['case']} n={r['n']:.0e}: {r['speedup_vs_eager']:.2f}x eager"
                + (f", {r['speedup_vs_compile']:.2f}x compile" if "speedup_vs_compile" in r else "")
                for r in rows
                if r["n"] == big
            )
        )
    if any("error" in r for r in res.data["rows"]):
        raise SystemExit("some rows failed (see 'error' in gpu_losses.json)")


if __name__ == "__main__":
    main()
