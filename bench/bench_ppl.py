"""Perceptual path length: fastgan against torch-fidelity's ``calculate_ppl`` (same paths).

One case, ``ppl_torch_fidelity``: a small convolutional generator (z 128 -> 3 x ``size`` x
``size`` in [-1, 1], random weights), torch-fidelity's convention (``lerp`` in z from ``z0``,
uint8 images, LPIPS-VGG16 on 64 x 64, the 1st / 99th percentile discard, ``epsilon`` 1e-4) and
the same latents: torch-fidelity draws them from ``RandomState(2020)`` and fastgan's
:func:`~fastgan.metrics.path_length.path_distances` is given the same draws. The VGG-16 trunk and
the LPIPS linear layers are random, saved once in each reference's own format (a torchvision
``vgg16-397923af.pth`` and torch-fidelity's ``weights-vgg16-lpips.pth`` under a temporary
``$TORCH_HOME``), so nothing is downloaded. torch-fidelity's ``calculate_ppl`` passes
``np.percentile(..., interpolation=)``, which numpy 2.4 removed: the child gives it a shim that
maps it to ``method=`` (recorded in the row).

Each implementation runs in its own fresh Python process (``bench_modern.py``'s JSON layout:
``seconds`` after a warm-up on 32 paths, ``peak_mib`` the growth of the maximum resident set
size, the values, their largest relative difference and the time ratio).

Run with the peers environment (torch-fidelity, torchvision)::

    /tmp/peers-venv/bin/python bench/bench_ppl.py            # 10 000 paths, 64 x 64 (minutes)
    /tmp/peers-venv/bin/python bench/bench_ppl.py --quick    # 200 paths, 32 x 32 (a smoke check)

Results: ``bench/results/ppl[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
Z_DIM = 128
EPSILON = 1e-4


def _generator(size: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Unflatten(1, (Z_DIM, 1, 1)), nn.ConvTranspose2d(Z_DIM, 64, 4), nn.ReLU()]
    side = 4
    while side < size:
        layers += [nn.Upsample(scale_factor=2), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()]
        side *= 2
    layers += [nn.Conv2d(64, 3, 3, padding=1), nn.Tanh()]
    return nn.Sequential(*layers).eval()


def _write_weights(torch_home: str) -> None:
    import torch
    import torchvision

    hub = os.path.join(torch_home, "hub", "checkpoints")
    os.makedirs(hub, exist_ok=True)
    torch.manual_seed(3)
    tv = torchvision.models.vgg16(weights=None)
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    torch.save(tv.state_dict(), os.path.join(hub, "vgg16-397923af.pth"))
    g = torch.Generator().manual_seed(11)
    lin = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) / c
        for i, c in enumerate((64, 128, 256, 512, 512))
    }
    torch.save(lin, os.path.join(hub, "weights-vgg16-lpips.pth"))


def _latents(n: int) -> tuple[Any, Any]:
    import numpy as np
    import torch

    rng = np.random.RandomState(2020)  # torch-fidelity's rng_seed and draw order
    z0 = torch.from_numpy(rng.randn(n, Z_DIM)).float()
    z1 = torch.from_numpy(rng.randn(n, Z_DIM)).float()
    return z0, z1


def _fastgan(n: int, size: int, batch: int) -> Any:
    from fastgan.features import LPIPSVGG16
    from fastgan.metrics.path_length import path_distances, ppl_from_distances

    hub = os.path.join(os.environ["TORCH_HOME"], "hub", "checkpoints")
    net = LPIPSVGG16(
        weights=os.path.join(hub, "vgg16-397923af.pth"),
        lin_weights=os.path.join(hub, "weights-vgg16-lpips.pth"),
        resize=64,
    )
    G = _generator(size)
    z0, z1 = _latents(n)
    d = path_distances(
        G,
        z0,
        z1,
        distance=net,
        epsilon=EPSILON,
        interpolation="lerp",
        downsample=None,
        quantize=True,
        batch_size=batch,
    )
    r = ppl_from_distances(d)
    return {"ppl": r["ppl"], "ppl_std": r["ppl_std"]}


def _reference(n: int, size: int, batch: int) -> Any:
    import numpy as np
    import torch
    import torch_fidelity
    import torch_fidelity.metric_ppl as fidelity_ppl

    class Shim:
        def __getattr__(self, name: str) -> Any:
            return getattr(np, name)

        @staticmethod
        def percentile(a: Any, q: float, interpolation: str = "linear") -> Any:
            return np.percentile(a, q, method=interpolation)

    try:
        np.percentile(np.arange(3.0), 50, interpolation="lower")
    except TypeError:
        fidelity_ppl.np = Shim()
    G = _generator(size)

    class Uint8(torch.nn.Module):
        def forward(self, z: Any) -> Any:
            return (G(z) * 127.5 + 128).clamp(0, 255).to(torch.uint8)

    wrapped = torch_fidelity.GenerativeModelModuleWrapper(Uint8(), Z_DIM, "normal", 0)
    r = fidelity_ppl.calculate_ppl(
        1,
        input1=wrapped,
        input1_model_num_samples=n,
        ppl_epsilon=EPSILON,
        batch_size=batch,
        cuda=False,
        verbose=False,
    )
    return {"ppl": r["perceptual_path_length_mean"], "ppl_std": r["perceptual_path_length_std"]}


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _child(which: str, n: int, size: int, batch: int) -> dict[str, Any]:
    if which == "reference":
        try:
            import torch_fidelity  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            return {"skipped": f"torch_fidelity: {type(exc).__name__}: {exc}"}
    impl = _fastgan if which == "fastgan" else _reference
    t0 = time.perf_counter()
    impl(32, size, batch)
    warmup = time.perf_counter() - t0
    before = _maxrss_mib()
    t0 = time.perf_counter()
    value = impl(n, size, batch)
    seconds = time.perf_counter() - t0
    return {"value": value, "seconds": seconds, "warmup_seconds": warmup, "peak_mib": _maxrss_mib() - before}


def _run(which: str, n: int, size: int, batch: int, env: dict[str, str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", which, str(n), str(size), str(batch)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"skipped": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 paths of 32 x 32 images")
    ap.add_argument("--n", type=int, default=None, help="paths (default 10 000)")
    ap.add_argument("--size", type=int, default=None, help="generated image side (default 64)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--child", nargs=4, metavar=("WHICH", "N", "SIZE", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        which, n, size, batch = args.child
        print(json.dumps(_child(which, int(n), int(size), int(batch))))
        return
    n, size = (200, 32) if args.quick else (10_000, 64)
    n, size = args.n or n, args.size or size
    import torch

    results: dict[str, Any] = {
        "n": n,
        "size": size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, TORCH_HOME=home, FASTGAN_OFFLINE="1")
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        _write_weights(home)
        row: dict[str, Any] = {
            "fastgan": _run("fastgan", n, size, args.batch, env, args.timeout),
            "reference": _run("reference", n, size, args.batch, env, args.timeout),
            "reference_note": "torch-fidelity calculate_ppl with np.percentile(interpolation=) mapped to method=",
        }
    f, r = row["fastgan"], row["reference"]
    if "value" in f and "value" in r:
        row["max_rel_diff"] = max(
            abs(f["value"][k] - r["value"][k]) / max(abs(r["value"][k]), 1e-300) for k in f["value"]
        )
        row["time_ratio_ref_over_fastgan"] = r["seconds"] / f["seconds"]
    results["cases"]["ppl_torch_fidelity"] = row
    print(
        f"ppl_torch_fidelity fastgan {f.get('seconds', float('nan')):8.2f} s {f.get('peak_mib', float('nan')):8.0f} MiB"
        f" | ref {r.get('seconds', float('nan')):8.2f} s {r.get('peak_mib', float('nan')):8.0f} MiB"
        f" | ratio {row.get('time_ratio_ref_over_fastgan', float('nan')):6.2f}"
        f" | rel diff {row.get('max_rel_diff', float('nan')):.1e}"
        + (f"  [{r['skipped']}]" if "skipped" in r else "")
        + (f"  [fastgan: {f['skipped']}]" if "skipped" in f else ""),
        flush=True,
    )
    out = os.path.join(HERE, "results", f"ppl{'_quick' if args.quick else ''}.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"wrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
