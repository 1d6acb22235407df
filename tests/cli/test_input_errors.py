"""Hostile inputs through the ``fastgan`` command line (issue 23): one line on stderr naming the
file and exit status 2, or with ``--skip-bad`` the file skipped and reported."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fastgan import cli

from .conftest import TinyNet, install_tiny_builder


@pytest.fixture
def tiny_net(monkeypatch: pytest.MonkeyPatch) -> list[TinyNet]:
    """Every feature network the commands build is a fresh :class:`TinyNet` (returned in build order)."""
    return install_tiny_builder(monkeypatch)


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    if not hasattr(signal, "SIGALRM"):
        pytest.skip("no SIGALRM here")

    def fire(*_: object) -> None:
        raise TimeoutError("hung: a FIFO was opened")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(30)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _bomb_png() -> bytes:
    """A PNG of a few hundred bytes whose header declares 40000 x 40000 pixels."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 5001))
        + chunk(b"IEND", b"")
    )


def _image_folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i, im in enumerate(np.random.default_rng(4).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)):
        np.save(root / f"{i}.npy", im)
    return root


def _one_error_line(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(n in err for n in needles), err
    return err


def test_decompression_bomb(
    tmp_path: Path, tiny_net: list[TinyNet], capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a DecompressionBombError traceback, exit 1, the file unnamed, and --skip-bad did not help."""
    pytest.importorskip("PIL.Image")
    folder = _image_folder(tmp_path / "imgs", 4)
    (folder / "bomb.png").write_bytes(_bomb_png())
    argv = ["stats", str(folder), "-o", str(tmp_path / "s.npz"), "--no-progress"]
    assert cli.main(argv) == 2
    _one_error_line(capsys, "bomb.png", "decompression bomb", "--skip-bad")
    assert cli.main(argv + ["--skip-bad", "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["count"] == 4 and len(report["input"]["skipped_files"]) == 1
    assert "bomb.png" in report["input"]["skipped_files"][0]


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python <args>`` with this checkout importable, as a user would run it."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def test_decompression_bomb_subprocess(tmp_path: Path) -> None:
    """In a fresh process (a stand-in network, no weights to fetch): exit 2, one line, no traceback."""
    pytest.importorskip("PIL.Image")
    (tmp_path / "bomb.png").write_bytes(_bomb_png())
    script = (
        "import sys, torch, fastgan.evaluation.embed as e\n"
        "class T(torch.nn.Module):\n"
        "    input_size = 16\n"
        "    def forward(self, x): return x.mean(dim=(2, 3))\n"
        "e.build_extractor = lambda *a, **k: T()\n"
        "from fastgan import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    r = _run(["-c", script, "stats", "bomb.png", "-o", "s.npz", "--no-progress"], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "bomb.png" in r.stderr, r.stderr


def test_fifo_subprocess(tmp_path: Path) -> None:
    """`python -m fastgan eval --real x.npy` on a FIFO: exit 2 naming it, at once (it hung)."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(tmp_path / "x.npy")
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((5, 3)))
    r = _run(
        ["-m", "fastgan", "eval", "--real", "x.npy", "--fake", "f.npy", "--metrics", "fid"],
        tmp_path,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "x.npy" in r.stderr and "FIFO" in r.stderr, r.stderr


@pytest.mark.parametrize("suffix", [".npy", ".pt", ".png"])
def test_fifo(tmp_path: Path, alarm: None, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A FIFO named x.npy hung `fastgan eval` forever; now exit 2 naming it, nothing opened."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / f"x{suffix}"
    os.mkfifo(fifo)
    np.save(tmp_path / "f.npy", np.random.default_rng(0).standard_normal((5, 3)))
    assert cli.main(["eval", "--real", str(fifo), "--fake", str(tmp_path / "f.npy"), "--metrics", "fid"]) == 2
    _one_error_line(capsys, f"x{suffix}", "not a regular file", "FIFO")


def test_fifo_in_a_folder(
    tmp_path: Path, alarm: None, tiny_net: list[TinyNet], capsys: pytest.CaptureFixture[str]
) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    folder = _image_folder(tmp_path / "imgs", 3)
    os.mkfifo(folder / "x.npy")
    argv = ["stats", str(folder), "-o", str(tmp_path / "s.npz"), "--no-progress"]
    assert cli.main(argv) == 2
    _one_error_line(capsys, "x.npy", "FIFO", "--skip-bad")
    assert cli.main(argv + ["--skip-bad", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 3


def test_huge_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1e200 float64 features: exit 2 naming the file (the error named 'sigma1')."""
    x = np.random.default_rng(1).standard_normal((6, 3))
    np.save(tmp_path / "huge.npy", x * 1e200)
    np.save(tmp_path / "ok.npy", x)
    assert (
        cli.main(
            [
                "eval",
                "--real",
                str(tmp_path / "huge.npy"),
                "--fake",
                str(tmp_path / "ok.npy"),
                "--metrics",
                "fid",
            ]
        )
        == 2
    )
    _one_error_line(capsys, "real", "huge.npy", "float32")


def test_cache_inside_the_input_folder(
    tmp_path: Path, tiny_net: list[TinyNet], capsys: pytest.CaptureFixture[str]
) -> None:
    """--cache inside the input folder: the second run reads the cache, not the cache as images."""
    folder = _image_folder(tmp_path / "imgs", 5)
    argv = [
        "stats",
        str(folder),
        "-o",
        str(tmp_path / "s.npz"),
        "--cache",
        str(folder / ".cache"),
        "--json",
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 5 and tiny_net[-1].rows == 5
    assert any(p.suffix == ".npz" for p in (folder / ".cache").rglob("*"))
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 5 and tiny_net[-1].rows == 0  # a cache hit


def test_eval_never_lists_its_cache_folder(
    tmp_path: Path, tiny_net: list[TinyNet], capsys: pytest.CaptureFixture[str]
) -> None:
    """evaluate passes cache_dir to open_source(exclude=): whatever the cache folder holds is not input."""
    folder = _image_folder(tmp_path / "imgs", 5)
    (folder / "cache").mkdir()
    (folder / "cache" / "notes.npy").write_bytes(b"not an image, and not the cache's")
    np.save(tmp_path / "f.npy", np.random.default_rng(2).standard_normal((6, 4)))
    argv = [
        "eval",
        "--real",
        str(folder),
        "--fake",
        str(tmp_path / "f.npy"),
        "--metrics",
        "fid",
        "--json",
        "--no-progress",
    ]
    assert cli.main(argv) == 2  # without --cache the file is input, and unreadable
    _one_error_line(capsys, "notes.npy")
    assert cli.main(argv + ["--cache", str(folder / "cache")]) == 0
    assert json.loads(capsys.readouterr().out)["real"]["n"] == 5
