"""Step ``eval_peers`` of run_all.sh: ``fastgan eval`` against pytorch-fid and torch-fidelity on the
same PNG folders and random weights, on the GPU, through bench/bench_eval.py (each tool in a fresh
process, timed from start to exit; values compared where the conventions agree).

Runs only when at least one of the two packages imports (with torchvision, which both import and
bench_eval needs for torch-fidelity's VGG-16 file); otherwise it records the reason in
``gpu_eval_peers.json`` and exits with status 3 (skipped). The packages can travel to an offline
GPU machine as wheels (see bench/README.md).

Environment: FASTGAN_GPU_EVAL_PNG_N (images per side, default 10000), FASTGAN_GPU_EVAL_SIZE.
"""

from __future__ import annotations

import importlib
import json
import sys

import _common as c  # first: puts bench/ and the repository root on sys.path
import bench_eval as be


def _importable(module: str) -> str:
    try:
        importlib.import_module(module)
        return ""
    except Exception as exc:
        return c.error_text(exc)


def main() -> None:
    dev = c.device()
    n = c.env_int("FASTGAN_GPU_EVAL_PNG_N", 10_000, dryrun=24, quick=5_000)
    size = c.env_int("FASTGAN_GPU_EVAL_SIZE", 32)
    missing = {m: _importable(m) for m in ("torchvision", "pytorch_fid", "torch_fidelity")}
    tools = ["fastgan"]
    if not missing["torchvision"]:
        if not missing["pytorch_fid"]:
            tools.append("pytorch-fid")
        if not missing["torch_fidelity"]:
            tools += ["fastgan-tf", "torch-fidelity"]
    config = {
        "device": dev,
        "n_per_side": n,
        "size": size,
        "tools": tools,
        "import_errors": {k: v for k, v in missing.items() if v},
    }
    if len(tools) == 1:
        res = c.Result("eval_peers", config)
        res.set(
            skipped="neither pytorch-fid nor torch-fidelity (with torchvision) is importable: "
            + "; ".join(f"{k}: {v}" for k, v in missing.items() if v)
        )
        print(res.data["skipped"])
        sys.exit(c.SKIPPED)
    out = c.results_dir() / "gpu_eval_peers.json"
    be.main(
        [
            "--n",
            str(n),
            "--size",
            str(size),
            "--device",
            dev,
            "--tools",
            ",".join(tools),
            "--out",
            str(out),
            "--workdir",
            str(c.work_dir() / "eval_peers"),
        ]
    )
    data = json.loads(out.read_text())
    data.update(name="eval_peers", machine=c.machine(), gpu_config=config)
    verdict = data.get("fastgan_vs_fastest_peer")
    if verdict:
        data["headline"] = (
            f"fastgan {verdict['fastgan_s']:.1f} s vs {verdict['peer']} {verdict['peer_s']:.1f} s "
            f"({verdict['ratio']:.2f}x)"
        )
    out.write_text(json.dumps(data, indent=1) + "\n")
    if any("error" in row for row in data.get("tools", {}).values()):
        raise SystemExit("a tool failed (see 'error' in gpu_eval_peers.json)")


if __name__ == "__main__":
    main()
