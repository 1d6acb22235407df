"""Step ``eval`` of run_all.sh: ``fastgan.evaluate`` end to end with FID, KID, PRDC and IS on the GPU,
Inception-v3 with random weights, timings split into sampling / decoding, the network and each metric.

Weights: ``InceptionV3FID(random_init=True)`` with BatchNorm statistics calibrated on 16 of
bench/bench_eval.py's images (its ``calibrate_batchnorm`` and ``_images``, as its ``write_weights``
does, without the VGG-16 file), saved to a weights file that ``evaluate(weights=...)`` reads.

Two inputs, each timed after a warm-up call of the same kind at a small n (the cold call's wall
time is recorded too):

* ``sampler``: N images per side made on the device by two ``fastgan.Sampler``s around small
  deterministic "generators" (a fixed random projection of z to low-resolution colour noise,
  bilinear upsampling, a per-image colour offset and fine noise; "fake" blurrier, shifted to red
  and lower in contrast, as bench_eval's images). Nothing touches the disk.
* ``png``: N_png PNG files per side (bench_eval's ``write_folder``), decoded by DataLoader workers.

Split: ``network_s`` = ``info["seconds"]["network"]`` (preprocessing on the device + forward of
Inception for both sides); ``input_s`` = ``embed_real + embed_fake - network`` (sampling the
generators, or reading and decoding the files, plus the host side of batching); one entry per
metric; ``total_s`` = ``info["seconds"]["total"]``; ``wall_s`` = the call, synchronised.

Environment: FASTGAN_GPU_EVAL_N (default 50000), FASTGAN_GPU_EVAL_PNG_N (default 10000; 0 skips),
FASTGAN_GPU_EVAL_SIZE (image side, default 32), FASTGAN_GPU_EVAL_BATCH (default 250),
FASTGAN_GPU_EVAL_WORKERS (DataLoader workers for the PNG files, default min(8, CPUs)).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import _common as c  # first: puts bench/ and the repository root on sys.path
import bench_eval as be
import torch
from torch import nn

METRICS = "fid,kid,prdc,is"
Z_DIM = 64


class ImageGenerator(nn.Module):
    """z [B, 64] -> uint8 images [B, 3, size, size] on z's device (bench_eval's recipe in torch)."""

    def __init__(self, size: int, fake: bool, seed: int) -> None:
        super().__init__()
        self.size, self.fake = size, fake
        self.low = max(2, size // (8 if fake else 4))
        g = torch.Generator().manual_seed(seed)
        self.register_buffer(
            "proj", torch.randn(Z_DIM, 3 * self.low * self.low, generator=g) / math.sqrt(Z_DIM)
        )
        shift = [18.0, 0.0, -12.0] if fake else [0.0, 0.0, 0.0]
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        coarse = (z @ self.proj).view(b, 3, self.low, self.low)
        smooth = nn.functional.interpolate(
            coarse, size=(self.size, self.size), mode="bilinear", align_corners=False
        )
        colour = 20.0 * z[:, :3].reshape(b, 3, 1, 1)
        # the Sampler runs G on an RNG seeded per batch: the fine noise is reproducible
        fine = torch.randn(b, 3, self.size, self.size, device=z.device) * (6.0 if self.fake else 10.0)
        img = 128.0 + (38.0 if self.fake else 50.0) * smooth + colour + self.shift + fine
        return img.round().clamp(0, 255).to(torch.uint8)


def write_weights(path: Path, size: int) -> None:
    import numpy as np

    from fastgan.features import InceptionV3FID

    torch.manual_seed(0)
    net = InceptionV3FID(random_init=True)
    calib = np.concatenate(
        [be._images(8, size, be.SEED + 101, False), be._images(8, size, be.SEED + 202, True)]
    )
    be.calibrate_batchnorm(net, torch.from_numpy(calib).permute(0, 3, 1, 2).contiguous())
    torch.save({k: v.clone() for k, v in net.state_dict().items()}, path)


def split(info: dict[str, Any]) -> dict[str, Any]:
    s = dict(info.get("seconds", {}))
    embed = float(s.get("embed_real", 0.0)) + float(s.get("embed_fake", 0.0))
    network = float(s.get("network", 0.0))
    metrics = {k: v for k, v in s.items() if k not in ("total", "embed_real", "embed_fake", "network")}
    return {
        "total_s": s.get("total"),
        "embed_s": embed,
        "network_s": network,
        "input_s": embed - network,
        "metrics_s": metrics,
        "metrics_total_s": sum(float(v) for v in metrics.values()),
    }


def timed(fn: Any) -> tuple[Any, float]:
    c.sync()
    t = time.perf_counter()
    out = fn()
    c.sync()
    return out, time.perf_counter() - t


def main() -> None:
    import fastgan

    dev = c.device()
    n = c.env_int("FASTGAN_GPU_EVAL_N", 50_000, dryrun=12, quick=10_000)
    n_png = c.env_int("FASTGAN_GPU_EVAL_PNG_N", 10_000, dryrun=12, quick=5_000)
    size = c.env_int("FASTGAN_GPU_EVAL_SIZE", 32)
    batch = c.env_int("FASTGAN_GPU_EVAL_BATCH", 250, dryrun=6)
    workers = c.env_int("FASTGAN_GPU_EVAL_WORKERS", min(8, os.cpu_count() or 1), dryrun=1)
    warm_n = min(n, 2 * batch)
    work = c.work_dir() / "eval"
    work.mkdir(parents=True, exist_ok=True)
    res = c.Result(
        "eval",
        {
            "device": dev,
            "n_per_side": n,
            "png_n_per_side": n_png,
            "size": size,
            "batch_size": batch,
            "png_workers": workers,
            "metrics": METRICS,
            "preset": "pytorch-fid",
            "weights": "random Inception-v3, BatchNorm calibrated",
            "warmup_n": warm_n,
        },
    )
    weights = work / "inception_random.pth"
    t0 = time.perf_counter()
    write_weights(weights, size)
    res.set(weights_s=time.perf_counter() - t0)
    common = {
        "metrics": METRICS,
        "weights": str(weights),
        "device": dev,
        "batch_size": batch,
        "progress": False,
    }

    def samplers(m: int) -> tuple[Any, Any]:
        g_real = ImageGenerator(size, False, 1).to(dev)
        g_fake = ImageGenerator(size, True, 2).to(dev)
        return (
            fastgan.Sampler(g_real, Z_DIM, n=m, seed=10, batch_size=batch, device=dev),
            fastgan.Sampler(g_fake, Z_DIM, n=m, seed=20, batch_size=batch, device=dev),
        )

    failed = False
    for kind in ("sampler", "png"):
        if kind == "png" and n_png <= 0:
            res.row(input="png", skipped="FASTGAN_GPU_EVAL_PNG_N=0")
            continue
        m = n if kind == "sampler" else n_png
        row: dict[str, Any] = {"input": kind, "n_per_side": m}
        try:
            if kind == "sampler":
                warm_args, main_args = samplers(min(m, warm_n)), samplers(m)
                extra: dict[str, Any] = {}
            else:
                folders = work / "png"
                t = time.perf_counter()
                shutil.rmtree(folders, ignore_errors=True)
                be.write_folder(folders / "real", m, size, be.SEED, fake=False)
                be.write_folder(folders / "fake", m, size, be.SEED + 10**7, fake=True)
                row["write_png_s"] = time.perf_counter() - t
                warm = work / "png_warm"
                shutil.rmtree(warm, ignore_errors=True)
                be.write_folder(warm / "real", min(m, warm_n), size, be.SEED, fake=False)
                be.write_folder(warm / "fake", min(m, warm_n), size, be.SEED + 10**7, fake=True)
                warm_args = (str(warm / "real"), str(warm / "fake"))
                main_args = (str(folders / "real"), str(folders / "fake"))
                extra = {"num_workers": workers}
            _, cold = timed(lambda a=warm_args, e=extra: fastgan.evaluate(*a, **common, **e))
            row["cold_call_wall_s"] = cold
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()
            out, wall = timed(lambda a=main_args, e=extra: fastgan.evaluate(*a, **common, **e))
            row.update(
                wall_s=wall,
                images_per_s=2 * m / wall,
                **split(out.info),
                values=dict(out),
                notes=out.info.get("notes", []),
            )
            if dev == "cuda":
                row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        except Exception as exc:
            row["error"] = c.error_text(exc)
            failed = True
        res.row(**row)
    ok = [r for r in res.data["rows"] if "wall_s" in r]
    if ok:
        res.set(
            headline="; ".join(
                f"{r['input']} {r['n_per_side']}/side: {r['wall_s']:.1f} s (input {r['input_s']:.1f}, "
                f"network {r['network_s']:.1f}, metrics {r['metrics_total_s']:.1f})"
                for r in ok
            )
        )
    if failed:
        raise SystemExit("an input failed (see 'error' in gpu_eval.json)")


if __name__ == "__main__":
    main()
