"""evaluate() and ``fastgan eval`` on 2 gloo processes (CPU) equal the single-process run.

FID / KID / IS to 1e-12 relative (float64 sums in another order), PRDC and precision / recall
exactly; uneven shards (101 and 87 rows over 2 ranks), for feature inputs and for images
embedded by a network on each rank; a bad file in one rank's shard is named by that rank and
fails the others (no rank waits forever), or is skipped and counted over the ranks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastgan.evaluation import evaluate

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

KWARGS: dict[str, Any] = {
    "metrics": "fid,kid,prdc,pr,is",
    "kid_subsets": 10,
    "kid_subset_size": 40,
    "k": 3,
    "splits": 5,
}
IMAGE_KWARGS: dict[str, Any] = {
    "metrics": "fid,kid,prdc,is",
    "kid_subsets": 5,
    "kid_subset_size": 6,
    "k": 2,
    "splits": 3,
    "batch_size": 4,
}
EXACT = ("precision", "recall", "density", "coverage", "pr_precision", "pr_recall")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _data() -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    return {
        "real": torch.from_numpy(rng.normal(size=(101, 12))),
        "fake": torch.from_numpy(rng.normal(size=(87, 12)) * 1.1 + 0.05),
        "logits": torch.from_numpy(rng.normal(size=(87, 10)) * 3),
        "real_images": torch.from_numpy(rng.integers(0, 256, (13, 3, 20, 20), dtype=np.uint8)),
        "fake_images": torch.from_numpy(rng.integers(0, 256, (10, 3, 20, 20), dtype=np.uint8)),
    }


def _patch_tiny_nets() -> None:
    import fastgan.evaluation.embed as emb
    import fastgan.features.extract as ext
    from evaluation.test_api import TinyInception

    def build(name: str, weights: Any = None, device: Any = None, **kwargs: Any) -> Any:
        return TinyInception()

    ext.build_extractor = build  # type: ignore[assignment]
    emb.build_extractor = build  # type: ignore[assignment]


def _png_folder(path: Path) -> Path:
    """7 PNG images and, last in the sort order (so in rank 1's shard), one truncated PNG."""
    from PIL import Image

    path.mkdir()
    rng = np.random.default_rng(5)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path / f"img{i}.png")
    bad = path / "img7.png"
    bad.write_bytes(bad.read_bytes()[:200])
    return path


def _bad_folder_runs(folder: str, fake: torch.Tensor) -> tuple[str, dict[str, float], dict[str, Any]]:
    """(the error without skip_bad, the result and the real side's info with skip_bad)."""
    try:
        evaluate(folder, fake, metrics="fid", batch_size=2)
        err = ""
    except ValueError as exc:
        err = str(exc)
    res = evaluate(folder, fake, metrics="fid,kid,prdc", skip_bad=True, kid_subsets=3, kid_subset_size=5, k=2)
    return err, dict(res), res.info["real"]


def _worker(rank: int, world: int, port: int, folder: str, out: mp.SimpleQueue) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        d = _data()
        res = evaluate(d["real"], d["fake"], logits=d["logits"], **KWARGS)
        _patch_tiny_nets()
        img = evaluate(d["real_images"], d["fake_images"], **IMAGE_KWARGS)
        bad = _bad_folder_runs(folder, d["fake_images"])
        out.put((rank, dict(res), res.info["world_size"], dict(img), bad))
    finally:
        dist.destroy_process_group()


def _compare(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        if key in EXACT:
            assert got[key] == value, key
        elif key in ("kid_std", "is_std"):
            # a std of values that agree to 1e-12 relative: its error is relative to the mean
            mean = want[key.replace("_std", "_mean")]
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12 * abs(mean)), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-300), key


def test_two_processes_equal_one(one_torch_thread: None, tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    folder = str(_png_folder(tmp_path / "real"))
    world = 2
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, folder, queue)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = {}
    for _ in range(world):
        rank, res, ws, img, bad = queue.get()
        results[rank] = (res, ws, img, bad)
    d = _data()
    single = evaluate(d["real"], d["fake"], logits=d["logits"], **KWARGS)
    single_img, (err, single_bad, _) = _single_images(d, folder)
    assert "img7.png" in err
    for rank in range(world):
        res, ws, img, (err, skipped, real_info) = results[rank]
        assert ws == 2
        _compare(res, dict(single))  # every rank returns the result
        _compare(img, single_img)
        # a bad file in rank 1's shard: rank 1 names it, rank 0 does not wait forever
        assert ("img7.png" in err) if rank == 1 else ("failed on another rank" in err), err
        # skipped (and counted over both ranks), the rest evaluated as in one process
        _compare(skipped, single_bad)
        assert real_info["skipped"] == 1 and real_info["arrays"]["inception"] == [7, 6]


def _single_images(d: dict[str, torch.Tensor], folder: str) -> tuple[dict[str, float], Any]:
    import fastgan.evaluation.embed as emb
    import fastgan.features.extract as ext

    saved = (ext.build_extractor, emb.build_extractor)
    try:
        _patch_tiny_nets()
        img = dict(evaluate(d["real_images"], d["fake_images"], **IMAGE_KWARGS))
        return img, _bad_folder_runs(folder, d["fake_images"])
    finally:
        ext.build_extractor, emb.build_extractor = saved  # type: ignore[assignment]


def _torchrun() -> list[str]:
    """``torchrun``, or ``python -m torch.distributed.run`` where the script is not installed."""
    exe = shutil.which("torchrun")
    if exe and Path(exe).resolve().parent == Path(sys.executable).resolve().parent:
        return [exe]
    return [sys.executable, "-m", "torch.distributed.run"]


def test_torchrun_cli_equals_single_process(tmp_path: Path) -> None:
    d = _data()
    for key in ("real", "fake", "logits"):
        np.save(tmp_path / f"{key}.npy", d[key].numpy())
    args = [
        "eval",
        "--real",
        "real.npy",
        "--fake",
        "fake.npy",
        "--logits",
        "logits.npy",
        "--json",
        "--metrics",
        KWARGS["metrics"],
        "--kid-subsets",
        "10",
        "--kid-subset-size",
        "40",
        "--k",
        "3",
        "--splits",
        "5",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = subprocess.run(
        [sys.executable, "-m", "fastgan", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert single.returncode == 0, single.stderr
    cmd = [*_torchrun(), "--standalone", "--nproc_per_node=2", "-m", "fastgan", *args]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads(single.stdout)
    two = json.loads(proc.stdout)  # rank 0 alone prints: the output is one JSON document
    assert two["world_size"] == 2 and one["world_size"] == 1
    _compare(two["metrics"], one["metrics"])
    assert two["real"]["n"] == 101 and two["fake"]["arrays"] == {"features": [87, 12]}
