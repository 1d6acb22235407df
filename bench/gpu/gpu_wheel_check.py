"""Run by run_all.sh's ``wheel`` step in a fresh virtual environment that holds only the built wheel
(torch from the system's site-packages), from a folder outside the checkout, with a PATH that has
no compiler: the installed fastgan must be the wheel's and its CUDA kernels must load and run.

    python gpu_wheel_check.py OUT_JSON [--require-cuda]

Checks: fastgan imported from outside the checkout; no nvcc / gcc / cc / c++ on PATH; the
extension loaded (``fastgan._ext.HAS_EXT``) and, with ``--require-cuda``, its CUDA kernels usable;
the shared library's dynamic dependencies (``ldd``: no libcudart, which is linked statically); the
fused loss, the Jacobi ``sqrtm_sym`` and the tridiagonal route of ``trace_sqrt_product`` with
``impl="ext"`` against ``impl="torch"`` on the GPU (on the CPU without one). Deliberately imports
nothing from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def main() -> int:
    out_path = Path(sys.argv[1])
    require_cuda = "--require-cuda" in sys.argv[2:]
    checks: dict[str, Any] = {}
    problems: list[str] = []
    repo = Path(__file__).resolve().parents[2]

    import torch

    import fastgan
    from fastgan import _ext

    where = Path(fastgan.__file__).resolve().parent
    checks["fastgan_file"] = str(where)
    checks["sys_prefix"] = sys.prefix
    if repo in where.parents or where == repo / "fastgan":
        problems.append(f"fastgan imported from the checkout ({where}), not the wheel")
    tools = {t: shutil.which(t) for t in ("nvcc", "gcc", "cc", "c++", "g++", "clang")}
    checks["compilers_on_path"] = {k: v for k, v in tools.items() if v}
    if checks["compilers_on_path"]:
        problems.append(f"a compiler is on PATH: {checks['compilers_on_path']}")
    checks["has_ext"] = _ext.HAS_EXT
    checks["ext_error"] = _ext.EXT_ERROR
    checks["has_cuda_ext"] = _ext.HAS_CUDA_EXT
    checks["cuda_usable"] = _ext.cuda_usable()
    checks["cuda_info"] = _ext.cuda_info()
    if not _ext.HAS_EXT:
        problems.append(f"fastgan._C did not load: {_ext.EXT_ERROR}")
    if require_cuda and not checks["cuda_usable"]:
        problems.append(f"CUDA kernels not usable: {checks['cuda_info']}")
    so = sorted(where.glob("_C*.so"))
    checks["extension_file"] = str(so[0]) if so else None
    if so and os.path.exists("/usr/bin/ldd"):
        ldd = subprocess.run(["/usr/bin/ldd", str(so[0])], capture_output=True, text=True, check=False)
        needed = [ln.strip().split(" ")[0] for ln in ldd.stdout.splitlines() if ln.strip()]
        checks["ldd"] = needed
        if any("libcudart" in x for x in needed):
            problems.append("the extension needs a shared libcudart (expected it statically linked)")
        missing = [ln.strip() for ln in ldd.stdout.splitlines() if "not found" in ln]
        if missing:
            problems.append(f"unresolved libraries: {missing}")

    dev = "cuda" if (torch.cuda.is_available() and checks["cuda_usable"]) else "cpu"
    checks["ops_device"] = dev
    ops: dict[str, Any] = {}
    if _ext.HAS_EXT:
        from fastgan.linalg import sqrtm_sym, trace_sqrt_product
        from fastgan.losses import minimax_discriminator_loss

        g = torch.Generator(device=dev).manual_seed(0)
        try:
            r = torch.randn(100_003, device=dev, generator=g, dtype=torch.float64)
            f = torch.randn(100_003, device=dev, generator=g, dtype=torch.float64)
            a = minimax_discriminator_loss(r, f, impl="ext")
            b = minimax_discriminator_loss(r, f, impl="torch")
            ops["fused_loss_abs_diff"] = float((a - b).abs())
            if not torch.allclose(a, b, rtol=1e-12, atol=1e-12):
                problems.append(f"fused loss ext {float(a)} != torch {float(b)}")
            x = torch.randn(8, 32, 32, device=dev, generator=g, dtype=torch.float64)
            spd = x @ x.transpose(-1, -2) + 32 * torch.eye(32, device=dev, dtype=torch.float64)
            s_ext, s_ref = sqrtm_sym(spd, impl="ext"), sqrtm_sym(spd, impl="torch")
            ops["sqrtm_max_abs_diff"] = float((s_ext - s_ref).abs().max())
            if not torch.allclose(s_ext, s_ref, rtol=1e-9, atol=1e-9):
                problems.append(f"sqrtm_sym ext vs torch differ by {ops['sqrtm_max_abs_diff']}")
            # n > 64 on CUDA: the auto route batches Householder + the Sturm-bisection kernel
            y = torch.randn(80, 100, 100, device=dev, generator=g, dtype=torch.float64)
            p = y @ y.transpose(-1, -2) / 100
            t_auto, t_ref = trace_sqrt_product(p, p.flip(0)), trace_sqrt_product(p, p.flip(0), impl="torch")
            ops["trace_sqrt_max_rel_diff"] = float(((t_auto - t_ref).abs() / t_ref.abs()).max())
            if ops["trace_sqrt_max_rel_diff"] > 1e-8:
                problems.append(
                    f"trace_sqrt_product auto vs torch: rel diff {ops['trace_sqrt_max_rel_diff']}"
                )
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    checks["ops"] = ops
    checks["problems"] = problems
    checks["ok"] = not problems
    out_path.write_text(json.dumps(checks, indent=1, default=str) + "\n")
    print(
        json.dumps(
            {
                "ok": checks["ok"],
                "problems": problems,
                "fastgan": str(where),
                "cuda_usable": checks["cuda_usable"],
                "ops": ops,
            }
        )
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
