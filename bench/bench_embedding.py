"""The embedding pass: images/s of the Inception network alone and FID end to end, fastgan against
pytorch-fid, torch-fidelity and clean-fid on identical folders.

No reference publishes these numbers. For every (image size, file format) the script writes two
folders of ``--n`` seeded images (``bench_eval``'s images, PNG or JPEG quality 95) and random
Inception-v3 weights with calibrated BatchNorm statistics under the file names the references
load from ``TORCH_HOME`` (``bench_eval.write_weights``), then runs every tool in its own fresh,
plain Python process (default threads, batch sizes and loader workers):

* **end to end, FID only** (wall seconds from process start to exit, imports included; images/s =
  2 n / wall): ``python -m fastgan eval REAL FAKE --metrics fid`` (default mode, and with
  ``--fast`` as the row ``fastgan --fast`` when this fastgan has it); ``python -m pytorch_fid REAL
  FAKE``; ``torch_fidelity.calculate_metrics(input1=FAKE, input2=REAL, fid=True)``;
  ``cleanfid.fid.compute_fid(REAL, FAKE, mode="clean")`` with its feature extractor replaced by
  pytorch-fid's network on the same weights inside clean-fid's own ``InceptionV3W`` wrapper
  (clean-fid downloads a TorchScript graph of the same network; the compute is the same
  convolutions, so its time is clean-fid's loading, resizing and batching around that network).
* **network alone** (images/s): each tool's Inception module, built as the tool builds it, on
  ``--net-images`` preprocessed 299 x 299 inputs in its default batch size (fastgan 50,
  pytorch-fid 50, torch-fidelity 64 from its ``batch_size`` default, clean-fid 32), after one
  warm-up batch, under ``torch.no_grad()``; fastgan's own ``info["seconds"]["network"]`` of the end
  to end run is recorded too.

Ratios are peer seconds / fastgan seconds in the same run (fastest peer per row). The FID values
are recorded; with random weights and few images they show that each tool computed, not that
they agree (the peers suite checks agreement).

    python bench/bench_embedding.py                           # 2,000 per side; 32 and 256 px; PNG, JPEG
    python bench/bench_embedding.py --n 64 --sizes 32 --formats png --net-images 16   # smoke

pytorch-fid, torch-fidelity and clean-fid import torchvision: run it with the environment
``tests/peers/make_env.sh`` builds. Children get this checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import bench_eval as be
from _machine import package_versions

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("fastgan", "fastgan --fast", "pytorch-fid", "torch-fidelity", "clean-fid")
PEERS = ("pytorch-fid", "torch-fidelity", "clean-fid")
FORMATS = ("png", "jpg")

TORCH_FIDELITY_FID = r"""
import json, sys
import torch_fidelity
out = torch_fidelity.calculate_metrics(input1=sys.argv[2], input2=sys.argv[1], fid=True, cuda=False,
                                       cache=False, verbose=False)
print(json.dumps({"fid": float(out["frechet_inception_distance"])}))
"""

CLEAN_FID_FID = r"""
import json, os, sys
import torch
import cleanfid.fid as cfid
import pytorch_fid.inception as pfi
from cleanfid.inception_torchscript import InceptionV3W
ckpt = os.path.join(os.environ["TORCH_HOME"], "hub", "checkpoints", sys.argv[3])
pfi.load_state_dict_from_url = lambda *a, **k: torch.load(ckpt, weights_only=True)
pfid = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False,
                       normalize_input=False).eval()
class Layers(torch.nn.Module):
    def forward(self, x):
        return pfid(x)[0]
w = InceptionV3W.__new__(InceptionV3W)
torch.nn.Module.__init__(w)
w.layers, w.resize_inside = Layers(), False
cfid.build_feature_extractor = lambda *a, **k: w
fid = cfid.compute_fid(sys.argv[1], sys.argv[2], mode="clean", device=torch.device("cpu"), verbose=False)
print(json.dumps({"fid": float(fid)}))
"""

#: the network alone: build the tool's module, time batches of preprocessed inputs
NETWORK = r"""
import json, os, sys, time
import torch
tool, n, ckpt_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
g = torch.Generator().manual_seed(0)
if tool.startswith("fastgan"):
    from fastgan.features import InceptionV3FID
    net = InceptionV3FID(os.path.join(ckpt_dir, sys.argv[4]))
    batch = 50
    fn = net.pool3_from_input
    if tool == "fastgan --fast":
        from fastgan.features.fast import fast_module
        fn = fast_module(net).pool3_from_input
elif tool in ("pytorch-fid", "clean-fid"):
    import pytorch_fid.inception as pfi
    pfi.load_state_dict_from_url = lambda *a, **k: torch.load(os.path.join(ckpt_dir, sys.argv[4]), weights_only=True)
    net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False,
                          normalize_input=False).eval()
    batch = 50 if tool == "pytorch-fid" else 32
    fn = lambda x: net(x)[0]
else:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                      feature_extractor_weights_path=os.path.join(ckpt_dir, sys.argv[4])).eval()
    batch = 64
    # its forward takes uint8 299 x 299 images (resize and scaling inside, as its users call it)
    fn = lambda x: net(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))[0]
x = torch.rand(batch, 3, 299, 299, generator=g) * 2 - 1
with torch.no_grad():
    fn(x)
    done, t0 = 0, time.perf_counter()
    while done < n:
        fn(x)
        done += batch
    dt = time.perf_counter() - t0
print(json.dumps({"images": done, "seconds": dt, "images_per_s": done / dt, "batch": batch}))
"""


def write_format(src: Path, dst: Path, fmt: str) -> None:
    """``src``'s PNG files re-encoded as ``fmt`` (JPEG quality 95) in ``dst``."""
    from PIL import Image

    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.glob("*.png")):
        with Image.open(p) as im:
            if fmt == "png":
                shutil.copyfile(p, dst / p.name)
            else:
                im.convert("RGB").save(dst / (p.stem + ".jpg"), quality=95)


def prepare(work: Path, n: int, size: int, fmt: str) -> tuple[Path, Path, Path]:
    """Folders ``real_<fmt>`` / ``fake_<fmt>`` and the weights for one size (reused when present)."""
    base = work / f"{size}px"
    real_png, fake_png, ckpt = be.prepare(base, n, size)
    if fmt == "png":
        return real_png, fake_png, ckpt
    real, fake = base / f"real_{fmt}", base / f"fake_{fmt}"
    marker = base / f"{fmt}.done"
    if not marker.exists() or marker.read_text() != (base / "meta.json").read_text():
        for src, dst in ((real_png, real), (fake_png, fake)):
            shutil.rmtree(dst, ignore_errors=True)
            write_format(src, dst, fmt)
        marker.write_text((base / "meta.json").read_text())
    return real, fake, ckpt


def end_to_end(tool: str, real: Path, fake: Path, ckpt: Path) -> list[str]:
    py = sys.executable
    if tool.startswith("fastgan"):
        cmd = [
            py,
            "-m",
            "fastgan",
            "eval",
            str(real),
            str(fake),
            "--metrics",
            "fid",
            "--json",
            "--no-progress",
        ]
        cmd += ["--weights", str(ckpt / be.PFID_FILE)]
        return cmd + (["--fast"] if tool == "fastgan --fast" else [])
    if tool == "pytorch-fid":
        return [py, "-m", "pytorch_fid", str(real), str(fake), "--device", "cpu"]
    if tool == "torch-fidelity":
        return [py, "-c", TORCH_FIDELITY_FID, str(real), str(fake)]
    return [py, "-c", CLEAN_FID_FID, str(real), str(fake), be.PFID_FILE]


def parse_fid(tool: str, stdout: str) -> tuple[float, Optional[float]]:
    """(FID, fastgan's seconds in the network or None)."""
    if tool.startswith("fastgan"):
        d = json.loads(stdout)
        return float(d["metrics"]["fid"]), float(d.get("seconds", {}).get("network", float("nan")))
    if tool == "pytorch-fid":
        m = re.search(r"FID:\s*([-+0-9.eEnaif]+)", stdout)
        if m is None:
            raise RuntimeError(f"no 'FID:' in {stdout[-300:]!r}")
        return float(m.group(1)), None
    return float(json.loads(stdout.strip().splitlines()[-1])["fid"]), None


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(REPO))
    return time.perf_counter() - t0, proc


def has_fast_mode(env: dict[str, str]) -> bool:
    cmd = [sys.executable, "-c", "import fastgan.features.fast"]
    return subprocess.run(cmd, env=env, capture_output=True, cwd=str(REPO)).returncode == 0


def measure(
    tool: str, real: Path, fake: Path, ckpt: Path, n: int, net_images: int, env: dict[str, str]
) -> dict[str, Any]:
    row: dict[str, Any] = {"tool": tool}
    wall, proc = run(end_to_end(tool, real, fake, ckpt), env)
    if proc.returncode != 0:
        row["error"] = f"end to end: exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        print(f"{tool} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
    else:
        fid, net_s = parse_fid(tool, proc.stdout)
        row.update(wall_s=wall, images_per_s=2 * n / wall, fid=fid)
        if net_s is not None:
            row["network_s_in_eval"] = net_s
    weights = be.TFID_FILE if tool == "torch-fidelity" else be.PFID_FILE
    _, proc = run([sys.executable, "-c", NETWORK, tool, str(net_images), str(ckpt), weights], env)
    if proc.returncode != 0:
        row["network_error"] = f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        print(f"{tool} network pass failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
    else:
        row["network"] = json.loads(proc.stdout.strip().splitlines()[-1])
    return row


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """fastgan (and --fast) against the fastest peer: end to end and network images/s."""
    out: dict[str, Any] = {}
    peers = [r for r in rows if r["tool"] in PEERS and "wall_s" in r]
    for ours in ("fastgan", "fastgan --fast"):
        mine = next((r for r in rows if r["tool"] == ours and "wall_s" in r), None)
        if mine is None or not peers:
            continue
        fastest = min(peers, key=lambda r: r["wall_s"])
        entry = {"peer": fastest["tool"], "end_to_end": fastest["wall_s"] / mine["wall_s"]}
        nets = [r for r in rows if r["tool"] in PEERS and "network" in r]
        if "network" in mine and nets:
            best = max(nets, key=lambda r: r["network"]["images_per_s"])
            entry["network_peer"] = best["tool"]
            entry["network"] = mine["network"]["images_per_s"] / best["network"]["images_per_s"]
        out[ours] = entry
    return out


def table(result: dict[str, Any]) -> str:
    lines = [
        "| images | tool | end to end s | images/s | network images/s | FID |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for cfg in result["configs"]:
        label = f"{cfg['n']} x 2, {cfg['size']} px {cfg['format'].upper()}"
        for r in cfg["rows"]:
            net = r.get("network", {}).get("images_per_s")
            lines.append(
                f"| {label} | {r['tool']} | {r.get('wall_s', float('nan')):.1f} | "
                f"{r.get('images_per_s', float('nan')):.1f} | "
                f"{'-' if net is None else f'{net:.1f}'} | {r.get('fid', float('nan')):.4g} |"
            )
        for ours, e in cfg["ratios"].items():
            lines.append(
                f"| {label} | {ours} vs fastest peer ({e['peer']}) | {e['end_to_end']:.2f}x | | "
                f"{e.get('network', float('nan')):.2f}x | |"
            )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images per side (default: 2000)")
    parser.add_argument("--sizes", default="32,256", help="image sides in pixels (default: 32,256)")
    parser.add_argument("--formats", default="png,jpg", help="png and/or jpg (default: both)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    parser.add_argument(
        "--net-images", type=int, default=200, help="images of the network-alone pass (default: 200)"
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "embedding.json"))
    parser.add_argument("--workdir", help="folder for images and weights, kept (default: temporary)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if any(f not in FORMATS for f in formats) or any(t not in TOOLS for t in tools):
        parser.error(f"--formats from {FORMATS}, --tools from {TOOLS}")
    tmp = None if args.workdir else tempfile.mkdtemp(prefix="fastgan-bench-embedding-")
    work = Path(args.workdir or tmp).resolve()
    env = dict(os.environ)
    env["TORCH_HOME"] = str(work / "torch_home")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    if "fastgan --fast" in tools and not has_fast_mode(env):
        print("this fastgan has no --fast mode: row skipped", file=sys.stderr)
        tools.remove("fastgan --fast")
    configs = []
    try:
        for size in sizes:
            for fmt in formats:
                real, fake, ckpt = prepare(work, args.n, size, fmt)
                # every tool reads the same TORCH_HOME (its weights under the reference's file name)
                shutil.copytree(ckpt.parents[1], work / "torch_home", dirs_exist_ok=True)
                rows = []
                for tool in tools:
                    rows.append(measure(tool, real, fake, ckpt, args.n, args.net_images, env))
                    r = rows[-1]
                    print(f"{size}px {fmt} {tool}: {r.get('wall_s', float('nan')):.1f} s", file=sys.stderr)
                configs.append(
                    {"n": args.n, "size": size, "format": fmt, "rows": rows, "ratios": ratios(rows)}
                )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    env_info = be.environment("cpu")
    env_info["versions"].update(package_versions(["clean-fid"]))
    result = {"configs": configs, "environment": env_info, "net_images": args.net_images}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\nwritten: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
