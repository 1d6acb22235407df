"""End to end: ``fastgan eval`` on two image folders against pytorch-fid and torch-fidelity.

The script writes two folders of ``--n`` seeded ``--size`` x ``--size`` RGB PNG files ("real":
blurred colour noise; "fake": blurrier, colour-shifted, lower contrast), random Inception-v3
weights with data-dependent BatchNorm statistics (calibrated on a few of these images, so the
features do not collapse) and He-normal random VGG-16 weights. The weights go into a private
torch hub folder (``TORCH_HOME``) under the file names the references download, so each
reference runs exactly as its users call it, with no download and no patching: pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth``, torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth`` (one state dict: both layouts use torchvision's
Inception-v3 names) and torchvision's ``vgg16-397923af.pth`` (torch-fidelity's precision /
recall). fastgan reads the same files through ``--weights``.

Each tool runs in its own fresh plain Python process (default threads, default batch size and
loader workers), on the same folders, and is timed from process start to exit (what a user
waits for, imports included):

* ``fastgan``: ``python -m fastgan eval --metrics fid,kid,prdc,is`` (pytorch-fid preset);
* ``fastgan-tf``: the same with ``--preset torch-fidelity`` (the values torch-fidelity's agree
  with);
* ``pytorch-fid``: ``python -m pytorch_fid REAL FAKE --dims 2048`` (FID only);
* ``torch-fidelity``: ``torch_fidelity.calculate_metrics(input1=FAKE, input2=REAL, isc=True,
  fid=True, kid=True, prc=True)`` (Inception for IS / FID / KID, VGG-16 for precision / recall).

KID subsets have ``min(1000, n)`` rows on both sides. The JSON (``--out``) holds, per tool, the
wall seconds of every repeat and their median, images per second (``2 n / wall``), the values,
fastgan's seconds in the feature networks (``EvalResult.info["seconds"]["network"]``) and the
ratio tool / fastgan of the median wall times; then the value differences where the conventions
agree (fastgan's FID vs pytorch-fid's; ``fastgan-tf`` vs torch-fidelity's FID, KID and IS;
relative to the value, a std relative to its mean), the versions and the machine. The markdown
table is printed.

    python bench/bench_eval.py                      # 2,000 32x32 images per side, CPU
    python bench/bench_eval.py --n 50000 --device cuda --tag cuda
    python bench/bench_eval.py --n 16 --tools fastgan,pytorch-fid --out eval-smoke.json

pytorch-fid and torch-fidelity import torchvision: run it with the environment
``tests/peers/make_env.sh`` builds. Children get the checkout's root first on ``PYTHONPATH``,
so the working tree's fastgan is the one measured. With few images (n < 2048) the covariances
are singular and the references' matrix square roots are inaccurate: FID differences of that
size are theirs (``tests/peers/test_end_to_end.py``). ``--workdir`` keeps the folders and
weights for the next run (they are rewritten only when ``--n``, ``--size`` or the seed change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from _machine import cpu_name, package_versions

REPO = Path(__file__).resolve().parents[1]
SEED = 2026
TOOLS = ("fastgan", "fastgan-tf", "pytorch-fid", "torch-fidelity")
LABELS = {
    "fastgan": "fastgan eval (FID+KID+PRDC+IS)",
    "fastgan-tf": "fastgan eval (torch-fidelity preset)",
    "pytorch-fid": "pytorch-fid (FID)",
    "torch-fidelity": "torch-fidelity (IS+FID+KID+PRC)",
}
PEERS = ("pytorch-fid", "torch-fidelity")
DISTRIBUTIONS = (
    "fastgan",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pillow",
    "pytorch-fid",
    "torch-fidelity",
)
#: file names under TORCH_HOME/hub/checkpoints that the references load instead of downloading
PFID_FILE = "pt_inception-2015-12-05-6726825d.pth"
TFID_FILE = "weights-inception-2015-12-05-6726825d.pth"
VGG_FILE = "vgg16-397923af.pth"
FORMAT = 1  # version of the work folder's contents (images + weights)

TORCH_FIDELITY_DRIVER = r"""
import json, sys
import torch_fidelity
real, fake, subset, cuda = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
out = torch_fidelity.calculate_metrics(input1=fake, input2=real, isc=True, fid=True, kid=True, prc=True,
                                       kid_subset_size=subset, cuda=cuda, cache=False, verbose=False)
print(json.dumps({k: float(v) for k, v in out.items()}))
"""


# ------------------------------------------------------------------------------------- inputs
def _images(n: int, size: int, seed: int, fake: bool) -> Any:
    """``uint8 [n, size, size, 3]`` images: low-resolution colour noise upsampled bilinearly
    (blur), a per-image colour offset and fine noise; ``fake`` is blurrier, shifted towards red
    and lower in contrast."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    low = max(2, size // (8 if fake else 4))
    coarse = torch.from_numpy(rng.standard_normal((n, 3, low, low)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    smooth = smooth.permute(0, 2, 3, 1).numpy()
    colour = rng.normal(0.0, 20.0, (n, 1, 1, 3)).astype(np.float32)
    fine = rng.normal(0.0, 6.0 if fake else 10.0, (n, size, size, 3)).astype(np.float32)
    contrast = 38.0 if fake else 50.0
    shift = np.array([18.0, 0.0, -12.0] if fake else [0.0, 0.0, 0.0], np.float32)
    img = 128.0 + contrast * smooth + colour + shift + fine
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_folder(root: Path, n: int, size: int, seed: int, fake: bool) -> None:
    from PIL import Image

    chunk = max(1, min(2000, 2**22 // (size * size)))  # <= 4M pixels per block
    root.mkdir(parents=True, exist_ok=True)
    for start in range(0, n, chunk):
        block = _images(min(chunk, n - start), size, seed + start, fake)
        for i, arr in enumerate(block):
            Image.fromarray(arr).save(root / f"{start + i:06d}.png")


def calibrate_batchnorm(net: Any, x: Any) -> None:
    """Random BatchNorm affine parameters and running statistics = those of ``x``'s activations
    (one pass in training mode, cumulative average), so the random features do not collapse."""
    import torch

    g = torch.Generator().manual_seed(1)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2 + 0.1)
            m.reset_running_stats()
            m.momentum = None
        net.train()
        net(x)
        net.eval()
    for m in bns:
        m.momentum = 0.1


def vgg16_weights() -> dict[str, Any]:
    """torchvision's VGG-16 state dict with He-normal random weights (fc2 activations do not vanish)."""
    import torch
    import torchvision

    torch.manual_seed(3)
    net = torchvision.models.vgg16(weights=None)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.bias.normal_(0.0, 0.05)
    return net.state_dict()


def write_weights(work: Path, size: int) -> None:
    """Random Inception-v3 (BatchNorm statistics of 16 of the bench's images) and VGG-16 weights
    under ``work/torch_home/hub/checkpoints`` with the references' file names."""
    import numpy as np
    import torch

    from fastgan.features import InceptionV3FID

    ckpt = work / "torch_home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = InceptionV3FID(random_init=True)
    calib = np.concatenate([_images(8, size, SEED + 101, False), _images(8, size, SEED + 202, True)])
    calibrate_batchnorm(net, torch.from_numpy(calib).permute(0, 3, 1, 2).contiguous())
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    torch.save(sd, ckpt / PFID_FILE)
    torch.save(sd, ckpt / TFID_FILE)
    torch.save(vgg16_weights(), ckpt / VGG_FILE)


def prepare(work: Path, n: int, size: int) -> tuple[Path, Path, Path]:
    """Folders and weights in ``work`` (reused when its ``meta.json`` matches)."""
    meta = {"format": FORMAT, "n": n, "size": size, "seed": SEED}
    meta_file = work / "meta.json"
    real, fake, ckpt = work / "real", work / "fake", work / "torch_home" / "hub" / "checkpoints"
    if meta_file.exists() and json.loads(meta_file.read_text()) == meta:
        print(f"reusing the images and weights in {work}", file=sys.stderr)
        return real, fake, ckpt
    for sub in (real, fake, work / "torch_home"):
        shutil.rmtree(sub, ignore_errors=True)
    t0 = time.perf_counter()
    write_folder(real, n, size, SEED, fake=False)
    write_folder(fake, n, size, SEED + 10**7, fake=True)
    t1 = time.perf_counter()
    write_weights(work, size)
    print(
        f"wrote 2 x {n} PNG files in {t1 - t0:.1f} s, weights in {time.perf_counter() - t1:.1f} s",
        file=sys.stderr,
    )
    meta_file.write_text(json.dumps(meta))
    return real, fake, ckpt


# ------------------------------------------------------------------------------------- tools
def command(
    tool: str, real: Path, fake: Path, ckpt: Path, n: int, device: str, extra: list[str]
) -> list[str]:
    """The tool's command line (``extra``: further ``fastgan eval`` options)."""
    subset = str(min(1000, n))
    py = sys.executable
    if tool in ("fastgan", "fastgan-tf"):
        cmd = [
            py,
            "-m",
            "fastgan",
            "eval",
            "--real",
            str(real),
            "--fake",
            str(fake),
            "--metrics",
            "fid,kid,prdc,is",
            "--kid-subset-size",
            subset,
            "--device",
            device,
            "--json",
            "--no-progress",
            *extra,
        ]
        if tool == "fastgan-tf":
            return cmd + ["--preset", "torch-fidelity", "--weights", str(ckpt / TFID_FILE)]
        return cmd + ["--weights", str(ckpt / PFID_FILE)]
    if tool == "pytorch-fid":
        return [py, "-m", "pytorch_fid", str(real), str(fake), "--dims", "2048", "--device", device]
    if tool == "torch-fidelity":
        cuda = "1" if device.startswith("cuda") else "0"
        return [py, "-c", TORCH_FIDELITY_DRIVER, str(real), str(fake), subset, cuda]
    raise ValueError(f"tool: unknown {tool!r}")


def describe(tool: str, n: int, device: str, extra: list[str]) -> str:
    """The tool's command line (folders as REAL / FAKE, weights as CKPT) for the results file."""
    if tool == "torch-fidelity":
        return (
            f"torch_fidelity.calculate_metrics(input1=FAKE, input2=REAL, isc=True, fid=True, kid=True, "
            f"prc=True, kid_subset_size={min(1000, n)}, cuda={device.startswith('cuda')}, cache=False)"
        )
    cmd = command(tool, Path("REAL"), Path("FAKE"), Path("CKPT"), n, device, extra)
    return " ".join(["python"] + cmd[1:])


def parse(tool: str, stdout: str) -> tuple[dict[str, float], Optional[dict[str, float]]]:
    """(values, fastgan's ``info["seconds"]``: total, embedding, networks, per metric) from a tool's
    output (None for the references)."""
    if tool in ("fastgan", "fastgan-tf"):
        d = json.loads(stdout)
        return {k: float(v) for k, v in d["metrics"].items()}, dict(d.get("seconds", {}))
    if tool == "pytorch-fid":
        m = re.search(r"FID:\s*([-+0-9.eEnaif]+)", stdout)
        if m is None:
            raise RuntimeError(f"pytorch-fid: no 'FID:' in its output: {stdout[-500:]!r}")
        return {"fid": float(m.group(1))}, None
    out = json.loads(stdout.strip().splitlines()[-1])
    keys = {
        "frechet_inception_distance": "fid",
        "kernel_inception_distance_mean": "kid_mean",
        "kernel_inception_distance_std": "kid_std",
        "inception_score_mean": "is_mean",
        "inception_score_std": "is_std",
        "precision": "pr_precision",
        "recall": "pr_recall",
        "f_score": "pr_f_score",
    }
    return {keys.get(k, k): v for k, v in out.items()}, None


def run_tool(tool: str, cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One timed run in a fresh process: wall seconds, values, fastgan's seconds; or the error."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(REPO))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        print(f"{tool} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return {"wall_s": wall, "error": f"exit {proc.returncode}: {tail[0][:300]}"}
    try:
        values, seconds = parse(tool, proc.stdout)
    except (ValueError, KeyError, RuntimeError) as exc:
        return {"wall_s": wall, "error": f"unreadable output: {exc}"}
    return {"wall_s": wall, "values": values, "seconds": seconds}


# ------------------------------------------------------------------------------------- report
def environment(device: str) -> dict[str, Any]:
    import torch

    import fastgan

    versions = package_versions(DISTRIBUTIONS)
    versions["fastgan"] = fastgan.__version__
    cpu = cpu_name()
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
        "device": device,
        "fastgan_from_checkout": Path(fastgan.__file__).resolve().parent == REPO / "fastgan",
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def comparisons(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Differences where two tools follow the same conventions on the same features."""
    pairs = [
        ("fastgan", "pytorch-fid", ("fid",)),
        ("fastgan-tf", "torch-fidelity", ("fid", "kid_mean", "kid_std", "is_mean", "is_std")),
    ]
    out = []
    for ours, peer, keys in pairs:
        if ours not in rows or peer not in rows:
            continue
        for key in keys:
            a, b = rows[ours].get("values", {}).get(key), rows[peer].get("values", {}).get(key)
            if a is None or b is None:
                continue
            diff = abs(a - b)
            # a std relative to its mean (identical KID subsets when n <= subset size: 0 up to rounding)
            scale = abs(rows[peer]["values"].get(key.replace("_std", "_mean"), b))
            rel = diff / scale if scale else (0.0 if diff == 0 else float("inf"))
            out.append(
                {
                    "fastgan": ours,
                    "peer": peer,
                    "key": key,
                    "fastgan_value": a,
                    "peer_value": b,
                    "abs_diff": diff,
                    "rel_diff": rel,
                }
            )
    return out


def table(result: dict[str, Any]) -> str:
    n = result["config"]["n"]
    lines = [
        f"n = {n} images per side, {result['config']['size']}x{result['config']['size']}, "
        f"device {result['config']['device']}, {result['environment']['cpus_usable']} CPUs, "
        f"median of {result['config']['repeats']}",
        "",
        "| tool | wall [s] | images/s | network [s] (share) | tool / fastgan | values |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for tool, row in result["tools"].items():
        if "wall_s" not in row:
            lines.append(f"| {LABELS[tool]} | failed | | | | {row['error']} |")
            continue
        net = row.get("network_s")
        share = f"{net:.1f} ({net / row['wall_s']:.0%})" if net is not None else ""
        vals = ", ".join(f"{k} {v:.5g}" for k, v in row["values"].items())
        ratio = row.get("ratio_vs_fastgan")
        lines.append(
            f"| {LABELS[tool]} | {row['wall_s']:.2f} | {row['images_per_s']:.1f} | {share} | "
            f"{'' if ratio is None else f'{ratio:.2f}'} | {vals} |"
        )
    if result["comparisons"]:
        lines += [
            "",
            "| fastgan | peer | value | fastgan | peer | abs diff | rel diff |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for c in result["comparisons"]:
            lines.append(
                f"| {c['fastgan']} | {c['peer']} | {c['key']} | {c['fastgan_value']:.8g} | "
                f"{c['peer_value']:.8g} | {c['abs_diff']:.3g} | {c['rel_diff']:.3g} |"
            )
    verdict = result.get("fastgan_vs_fastest_peer")
    if verdict:
        lines += [
            "",
            f"fastgan {verdict['fastgan_s']:.2f} s vs fastest peer ({verdict['peer']}) "
            f"{verdict['peer_s']:.2f} s: ratio peer / fastgan {verdict['ratio']:.2f}",
        ]
    return "\n".join(lines)


def aggregate(runs: dict[str, list[dict[str, Any]]], n: int, device: str, extra: list[str]) -> dict[str, Any]:
    """Per tool: median wall seconds over the successful runs, images/s, the last values; for
    fastgan the median network seconds and their share; the ratio tool / fastgan."""
    rows: dict[str, dict[str, Any]] = {}
    for tool, rs in runs.items():
        row: dict[str, Any] = {
            "label": LABELS[tool],
            "command": describe(tool, n, device, extra),
            "wall_s_runs": [r["wall_s"] for r in rs],
        }
        ok = [r for r in rs if "error" not in r]
        if not ok:
            row["error"] = rs[-1]["error"]
            rows[tool] = row
            continue
        if len(ok) < len(rs):
            row["errors"] = [r["error"] for r in rs if "error" in r]
        wall = statistics.median(r["wall_s"] for r in ok)
        row.update(wall_s=wall, images_per_s=2 * n / wall, values=ok[-1]["values"])
        if ok[-1]["seconds"] is not None:
            net = statistics.median(r["seconds"].get("network", 0.0) for r in ok)
            row.update(
                network_s=net,
                network_share=net / wall,
                network_images_per_s=2 * n / net if net > 0 else None,
                seconds=ok[-1]["seconds"],
            )
        rows[tool] = row
    base = rows.get("fastgan", {}).get("wall_s")
    for row in rows.values():
        if "wall_s" in row:
            row["ratio_vs_fastgan"] = row["wall_s"] / base if base else None
    return rows


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images per side (default: 2000)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels (default: 32)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per tool; the median wall time is reported (default: 1)"
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)} (default: all)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--tag", help="results file bench/results/eval_<tag>.json (default: eval.json)")
    parser.add_argument("--out", help="results file (overrides --tag)")
    parser.add_argument(
        "--fastgan-args",
        default="",
        metavar="ARGS",
        help="further fastgan eval options, e.g. '--num-workers 8 --batch-size 200' (default: none)",
    )
    parser.add_argument(
        "--workdir", help="folder for the images and weights, kept (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad or not tools:
        parser.error(f"--tools: unknown {bad}; choose from {','.join(TOOLS)}")
    if args.n < 2 or args.size < 8:
        parser.error("--n: at least 2; --size: at least 8")
    extra = shlex.split(args.fastgan_args)
    name = f"eval_{args.tag}.json" if args.tag else "eval.json"
    out = Path(args.out) if args.out else REPO / "bench" / "results" / name

    tmp = None if args.workdir else tempfile.mkdtemp(prefix="fastgan-bench-eval-")
    work = Path(args.workdir or tmp).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        real, fake, ckpt = prepare(work, args.n, args.size)
        env = dict(os.environ)
        env["TORCH_HOME"] = str(work / "torch_home")
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + paths)
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
        for rep in range(args.repeats):
            for tool in tools:
                r = run_tool(tool, command(tool, real, fake, ckpt, args.n, args.device, extra), env)
                runs[tool].append(r)
                status = "failed" if "error" in r else "ok"
                print(f"[{rep + 1}/{args.repeats}] {tool}: {r['wall_s']:.2f} s ({status})", file=sys.stderr)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    rows = aggregate(runs, args.n, args.device, extra)
    result: dict[str, Any] = {
        "config": {
            "n": args.n,
            "size": args.size,
            "repeats": args.repeats,
            "device": args.device,
            "tools": tools,
            "kid_subset_size": min(1000, args.n),
            "seed": SEED,
            "fastgan_args": extra,
        },
        "environment": environment(args.device),
        "tools": rows,
        "comparisons": comparisons(rows),
    }
    base = rows.get("fastgan", {}).get("wall_s")
    peers = [t for t in PEERS if "wall_s" in rows.get(t, {})]
    if base and peers:
        fastest = min(peers, key=lambda t: rows[t]["wall_s"])
        peer_s = rows[fastest]["wall_s"]
        result["fastgan_vs_fastest_peer"] = {
            "peer": fastest,
            "peer_s": peer_s,
            "fastgan_s": base,
            "ratio": peer_s / base,
            "fastgan_not_slower": base <= peer_s,
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\nwritten: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
