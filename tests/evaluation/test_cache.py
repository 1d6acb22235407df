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
from typing import Any

import numpy as np
import pytest
import torch
from features.conftest import TinyNet, inception  # noqa: F401 (the random-weight Inception fixture)

from fastgan.evaluation.cache import PIPELINE_VERSION, Chunk, FeatureCache, cache_key
from fastgan.evaluation.embed import embed

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


# ----------------------------------------------------------------------------- issue 23
def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime_ns) of every file and folder under ``root`` (a rewrite by rename changes the inode)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def test_reading_a_complete_cache_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23 case 4: every run rewrote manifest.json, so a complete cache on a read-only mount failed.
    We run as root, whom chmod does not stop: every call that could write under the cache is refused
    as a read-only file system would, and the files are compared (inode, size, mtime) afterwards."""
    import builtins
    import errno
    import io
    import stat

    folder = _folder(tmp_path / "imgs", 11)
    kw = dict(extractors=["tiny"], models={"tiny": TinyNet()}, batch_size=2, device="cpu", chunk_rows=4)
    cache = tmp_path / "cache"
    first = embed(folder, cache_dir=str(cache), **kw)
    assert first.rows_computed == 11 and (Path(first.cache_dirs["tiny"]) / "manifest.json").is_file()
    for dirpath, _, filenames in os.walk(cache):
        for p in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            os.chmod(p, os.stat(p).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = _snapshot(cache)
    root = os.path.realpath(cache)
    attempts: list[str] = []

    def under(path: object) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.path.realpath(os.fspath(path)).startswith(root)

    def refuse_paths(fn):  # type: ignore[no-untyped-def]
        def guarded(*args, **kwargs):  # type: ignore[no-untyped-def]
            if any(under(a) for a in args[:2]):
                attempts.append(f"{fn.__name__}{args[:2]}")
                raise OSError(errno.EROFS, "Read-only file system (test)", os.fspath(args[0]))
            return fn(*args, **kwargs)

        return guarded

    for name in ("replace", "rename", "mkdir", "makedirs", "unlink", "remove", "rmdir", "utime", "chmod"):
        monkeypatch.setattr(os, name, refuse_paths(getattr(os, name)))
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    real_os_open, real_open = os.open, builtins.open

    def os_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & writes and under(path):
            attempts.append(f"os.open({path!r}, {flags})")
            raise OSError(errno.EROFS, "Read-only file system (test)", os.fspath(path))
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(c in mode for c in "wax+") and under(file):
            attempts.append(f"open({file!r}, {mode!r})")
            raise OSError(errno.EROFS, "Read-only file system (test)", os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    try:
        again = embed(folder, cache_dir=str(cache), **kw)
        shard = embed(folder, cache_dir=str(cache), shard=(1, 2), **kw)
    finally:
        monkeypatch.undo()
    assert attempts == []
    assert (again.rows_cached, again.rows_computed) == (11, 0) and shard.rows_computed == 0
    assert torch.equal(again.arrays["tiny"], first.arrays["tiny"])
    assert _snapshot(cache) == before


def test_verify_fingerprints_contents(tmp_path: Path) -> None:
    """Issue 23 case 7: a file rewritten with the same size and its mtime restored kept hitting the old
    features. The default fingerprint trusts (path, size, mtime); verify=True hashes the contents."""
    folder = _folder(tmp_path / "imgs", 6)
    kw = dict(extractors=["tiny"], models={"tiny": TinyNet()}, batch_size=2, device="cpu", chunk_rows=4)
    cache = str(tmp_path / "cache")
    first = embed(folder, cache_dir=cache, **kw)
    assert embed(folder, cache_dir=cache, verify=True, **kw).rows_computed == 6  # its own entry, once
    p = folder / "002.npy"
    st = p.stat()
    np.save(p, 255 - np.load(p))  # other pixels, same size ...
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the mtime restored (cp -p, rsync -t)
    assert p.stat().st_size == st.st_size
    truth = embed(folder, **kw).arrays["tiny"]
    assert not torch.equal(truth, first.arrays["tiny"])
    stale = embed(folder, cache_dir=cache, **kw)  # the default trusts size and mtime: documented
    assert stale.rows_computed == 0 and torch.equal(stale.arrays["tiny"], first.arrays["tiny"])
    fresh = embed(folder, cache_dir=cache, verify=True, **kw)
    assert fresh.rows_computed == 6 and torch.equal(fresh.arrays["tiny"], truth)
    again = embed(folder, cache_dir=cache, verify=True, **kw)
    assert (again.rows_cached, again.rows_computed) == (6, 0) and torch.equal(again.arrays["tiny"], truth)
    # contents, not names: a renamed folder still hits
    moved = folder.rename(tmp_path / "renamed")
    assert embed(moved, cache_dir=cache, verify=True, **kw).rows_computed == 0


def test_thread_count_is_in_the_key(tmp_path: Path, inception: Any) -> None:  # noqa: F811 (the fixture)
    """Issue 23 case 8: oneDNN's convolutions (and the fc GEMM) round differently with the thread count
    (torchrun sets OMP_NUM_THREADS=1), so the cache keys on it and never mixes rows of two settings.
    What is guaranteed: same threads and batch size -> bit-identical rows, cached or not."""
    folder = _folder(tmp_path / "imgs", 5, size=80)  # the random-weight Inception, no resize
    kw = dict(
        extractors=["inception"], models={"inception": inception}, batch_size=2, device="cpu", chunk_rows=2
    )
    cache = str(tmp_path / "cache")
    prev = torch.get_num_threads()
    runs = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            plain = embed(folder, **kw)
            part = embed(folder, cache_dir=cache, shard=(0, 2), **kw)  # half the chunks at this setting
            full = embed(folder, cache_dir=cache, **kw)
            runs[threads] = (plain, part, full)
    finally:
        torch.set_num_threads(prev)
    (p1, _, f1), (p2, s2, f2) = runs[1], runs[2]
    assert f1.cache_dirs["inception"] != f2.cache_dirs["inception"]
    assert s2.rows_cached == 0 and f2.rows_cached == s2.rows_computed  # nothing from the 1-thread entry
    for plain, full in ((p1, f1), (p2, f2)):
        for key in ("inception", "logits"):
            assert torch.equal(full.arrays[key], plain.arrays[key]), key
    for threads, full in ((1, f1), (2, f2)):
        manifest = json.loads((Path(full.cache_dirs["inception"]) / "manifest.json").read_text())
        assert manifest["key"]["threads"] == threads and manifest["key"]["device_type"] == "cpu"
    # the rows may differ in the last bits between the settings (by how much is machine-dependent)
    assert torch.allclose(f1.arrays["inception"], f2.arrays["inception"], rtol=1e-4, atol=1e-6)
