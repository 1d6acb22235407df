"""The feature cache (fastgan/evaluation/cache.py): readable keys, atomic chunks, verification,
resume after SIGKILL bit-identical to an uninterrupted run, reuse across world sizes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fastgan.evaluation.cache import PIPELINE_VERSION, Chunk, FeatureCache, cache_key
from fastgan.evaluation.embed import embed
from features.conftest import TinyNet

_FIELDS = {
    "label": "my imgs",
    "source_fingerprint": "ab" * 32,
    "n": 10,
    "extractor": "inception",
    "preset": "pytorch-fid",
    "weights_sha256": "cd" * 32,
    "pipeline_version": PIPELINE_VERSION,
}


def _folder(root: Path, n: int, size: int = 16) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        np.save(root / f"{i:03d}.npy", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return root


def test_key_is_readable_and_hashes_every_field(tmp_path: Path) -> None:
    name, digest = cache_key(_FIELDS)
    assert name == f"my-imgs-inception-pytorch-fid-w{'cd' * 6}-p{PIPELINE_VERSION}-{digest[:12]}"
    for k, v in (
        ("weights_sha256", "ef" * 32),
        ("preset", "clean-fid"),
        ("n", 11),
        ("source_fingerprint", "0" * 64),
    ):
        assert cache_key({**_FIELDS, k: v})[1] != digest, k
    assert cache_key({**_FIELDS, "label": "renamed"})[1] == digest
    # a renamed input (same fingerprint, other label) finds the existing folder
    a = FeatureCache(tmp_path, _FIELDS)
    b = FeatureCache(tmp_path, {**_FIELDS, "label": "renamed"})
    assert a.dir == b.dir


def test_chunks_roundtrip_verify_and_recompute_when_corrupt(tmp_path: Path) -> None:
    c = FeatureCache(tmp_path, _FIELDS)
    valid = np.array([True, False, True])
    arrays = {"inception": np.arange(8, dtype=np.float32).reshape(2, 4)}
    path = c.save(Chunk(0, 3, arrays, valid, ["x.png: broken"]), batch_size=3)
    assert path.name == "chunk-b0003-0000000000-0000000003.npz"
    assert not list(c.dir.glob(".tmp-*"))
    got = c.load(0, 3, 3)
    assert got is not None and got.skipped == ["x.png: broken"]
    assert np.array_equal(got.arrays["inception"], arrays["inception"]) and np.array_equal(got.valid, valid)
    assert c.load(3, 6, 3) is None and c.load(0, 3, 4) is None  # other range, other batch size
    # a half-written file under the final name (e.g. copied by hand) is detected and dropped
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert c.load(0, 3, 3) is None
    assert not path.exists()
    # a flipped bit in the payload fails the zip CRC ...
    c.save(Chunk(0, 3, arrays, valid, []), batch_size=3)
    raw = bytearray(path.read_bytes())
    raw[raw.find(np.float32(5).tobytes())] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert c.load(0, 3, 3) is None
    # ... and an array changed behind a well-formed archive fails the recorded sha256
    c.save(Chunk(0, 3, arrays, valid, []), batch_size=3)
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    members["inception"] = members["inception"] + 1
    np.savez(path, **members)
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        assert c.load(0, 3, 3) is None


def test_cache_reuse_partial_and_across_world_sizes(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "imgs", 11)
    net = TinyNet()
    kw = dict(extractors=["tiny"], models={"tiny": net}, batch_size=2, device="cpu", chunk_rows=4)
    plain = embed(folder, **kw).arrays["tiny"]
    cache = tmp_path / "cache"
    first = embed(folder, cache_dir=str(cache), shard=(1, 3), **kw)  # chunks overlapping [3, 7)
    d = Path(first.cache_dirs["tiny"])
    assert sorted(p.name for p in d.glob("chunk-*")) == [
        "chunk-b0002-0000000000-0000000004.npz",
        "chunk-b0002-0000000004-0000000008.npz",
    ]
    assert not (d / "manifest.json").exists()  # written only when every chunk exists
    assert torch.equal(first.arrays["tiny"], plain[3:7])
    full = embed(folder, cache_dir=str(cache), **kw)
    assert (full.rows_cached, full.rows_computed) == (8, 3)
    assert torch.equal(full.arrays["tiny"], plain)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n_total"] == 11 and len(manifest["chunks"]) == 3
    parts = [embed(folder, cache_dir=str(cache), shard=(r, 2), **kw) for r in range(2)]
    assert sum(p.rows_computed for p in parts) == 0
    assert torch.equal(torch.cat([p.arrays["tiny"] for p in parts]), plain)
    # stray temporary files are never read as chunks
    (d / ".tmp-1-deadbeef-chunk-b0002-0000000000-0000000004.npz.part").write_bytes(b"junk")
    assert torch.equal(embed(folder, cache_dir=str(cache), **kw).arrays["tiny"], plain)
    # another batch size does not mix groupings: it gets its own chunks
    other = embed(folder, cache_dir=str(cache), **{**kw, "batch_size": 4})
    assert other.rows_computed == 11


_SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    from torch import nn
    torch.set_num_threads(1)
    from fastgan.evaluation.embed import embed

    class Net(nn.Module):
        input_size = 16
        resize = "bilinear"
        def __init__(self, delay):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.delay, self.calls = delay, 0
        def forward(self, x):
            self.calls += 1
            time.sleep(self.delay)
            return self.conv(x).mean(dim=(2, 3))

    folder, cache, delay, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    net = Net(delay)
    e = embed(folder, extractors=["net"], models={"net": net}, batch_size=2, device="cpu",
              cache_dir=None if cache == "-" else cache, chunk_rows=4)
    torch.save({"x": e.arrays["net"], "calls": net.calls, "computed": e.rows_computed,
                "cached": e.rows_cached}, out)
    """
)


def test_sigkill_mid_extraction_resumes_bit_identical(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "imgs", 14)  # chunks [0,4) [4,8) [8,12) [12,14); batches of 2
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    cache = tmp_path / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(cache_arg: str, delay: float, out: str) -> dict:
        subprocess.run(
            [sys.executable, str(script), str(folder), cache_arg, str(delay), out],
            check=True,
            env=env,
            timeout=240,
        )
        return torch.load(out)

    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder), str(cache), "0.4", str(tmp_path / "x.pt")], env=env
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not list(cache.glob("*/chunk-*.npz")):
            assert proc.poll() is None, "the extraction finished before it could be killed"
            time.sleep(0.05)
        done = list(cache.glob("*/chunk-*.npz"))
        assert done, "no chunk was written in time"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_done = len(list(cache.glob("*/chunk-*.npz")))
    assert 1 <= n_done < 4 and not (tmp_path / "x.pt").exists()
    resumed = run(str(cache), 0.0, str(tmp_path / "resumed.pt"))
    rows_done = 4 * n_done
    assert resumed["cached"] == rows_done and resumed["computed"] == 14 - rows_done
    assert resumed["calls"] == -(-(14 - rows_done) // 2)  # only the missing chunks' batches ran
    uninterrupted = run("-", 0.0, str(tmp_path / "plain.pt"))
    assert uninterrupted["calls"] == 7
    assert torch.equal(resumed["x"], uninterrupted["x"])  # bit-identical
    again = run(str(cache), 0.0, str(tmp_path / "again.pt"))
    assert again["calls"] == 0 and torch.equal(again["x"], uninterrupted["x"])


def test_progress_counts_only_the_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path / "imgs", 11)
    kw = dict(extractors=["tiny"], models={"tiny": TinyNet()}, batch_size=2, device="cpu", chunk_rows=4)
    for _ in range(2):  # computed, then from the cache
        embed(folder, cache_dir=str(tmp_path / "c"), shard=(1, 3), progress=True, **kw)
        err = capsys.readouterr().err
        assert "4/4" in err and "8/4" not in err
