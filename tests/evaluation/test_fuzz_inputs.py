"""Fuzz (hypothesis) over malformed image and array files (issue 23).

Each generated file -- random bytes, a truncated or byte-flipped valid PNG / TIFF / JPEG / NPY / NPZ /
PT file, a valid file under another format's suffix, a format's magic followed by junk, an ``.npy``
header with an arbitrary dtype and shape over a body of arbitrary length -- is read as a single input
and as the only file of an image folder, decoding every image. Each must either load or raise a
``ValueError`` (:class:`ImageReadError` for the folder's images) whose one-line message names the
file: never another exception type (a KeyError of torch's unpickler, a DecompressionBombError, a
struct.error of a decoder escaped before), never a hang (SIGALRM per example).

Bounded: 50 examples, files under a few kB, Pillow's pixel limit lowered for the run so that a
corrupted header cannot make a decoder allocate a large image.
"""

from __future__ import annotations

import contextlib
import io
import signal
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastgan.evaluation.sources import ImageReadError, open_source
from fastgan.features.images import show_path

Image = pytest.importorskip("PIL.Image")

SUFFIXES = (".png", ".jpg", ".tif", ".bmp", ".webp", ".npy", ".npz", ".pt")
MAGICS = (
    b"\x89PNG\r\n\x1a\n",
    b"\x93NUMPY\x01\x00",
    b"\x93NUMPY\x02\x00",
    b"PK\x03\x04",
    b"\xff\xd8\xff\xe0",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"\x80\x02",
)
DESCRS = ("|u1", "<f4", ">f4", "<f8", ">f8", "<f2", "<i4", "|b1", "<c8", "|O", "<U3", "|V8", "bogus")


def _valid_files() -> dict[str, tuple[str, bytes]]:
    """name -> (suffix, bytes) of small valid files of every kind an input can be."""
    g = np.random.default_rng(0)
    img = g.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out: dict[str, tuple[str, bytes]] = {}
    for fmt, suffix, mode in (
        ("PNG", ".png", "RGB"),
        ("TIFF", ".tif", "RGB"),
        ("JPEG", ".jpg", "RGB"),
        ("PNG", ".png", "I;16"),
        ("TIFF", ".tif", "F"),
    ):
        b = io.BytesIO()
        if mode == "I;16":
            Image.fromarray(img[:, :, 0].astype(np.uint16) * 257).save(b, fmt)
        elif mode == "F":
            Image.fromarray(img[:, :, 0].astype(np.float32) / 255, mode="F").save(b, fmt)
        else:
            Image.fromarray(img).save(b, fmt)
        out[f"{fmt}-{mode}"] = (suffix, b.getvalue())
    for key, arr in (
        ("npy-image", img),
        ("npy-stack", img[None].repeat(2, 0)),
        ("npy-features", g.standard_normal((6, 4)).astype(np.float32)),
    ):
        b = io.BytesIO()
        np.save(b, arr)
        out[key] = (".npy", b.getvalue())
    b = io.BytesIO()
    np.savez(b, img[None].repeat(2, 0))
    out["npz-stack"] = (".npz", b.getvalue())
    b = io.BytesIO()
    np.savez(b, mu=np.zeros(3), sigma=np.eye(3))
    out["npz-stats"] = (".npz", b.getvalue())
    b = io.BytesIO()
    torch.save(torch.from_numpy(g.standard_normal((6, 4)).astype(np.float32)), b)
    out["pt-features"] = (".pt", b.getvalue())
    return out


VALID = _valid_files()


def _npy_header(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}".encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


@st.composite
def malformed_files(draw: Any) -> tuple[str, bytes]:
    """(suffix, content) of a (usually) malformed file."""
    kind = draw(st.sampled_from(["random", "truncated", "corrupted", "swapped", "magic", "npy-header"]))
    suffix = draw(st.sampled_from(SUFFIXES))
    if kind == "random":
        return suffix, draw(st.binary(max_size=600))
    if kind == "magic":
        return suffix, draw(st.sampled_from(MAGICS)) + draw(st.binary(max_size=300))
    if kind == "npy-header":
        shape = tuple(draw(st.lists(st.integers(0, 1 << 40), max_size=4)))
        body = draw(st.binary(max_size=400))
        suffix = draw(st.sampled_from([".npy", ".npy", ".npz"]))
        return suffix, _npy_header(draw(st.sampled_from(DESCRS)), shape, body)
    own_suffix, raw = VALID[draw(st.sampled_from(sorted(VALID)))]
    if kind != "swapped" and draw(st.booleans()):
        suffix = own_suffix
    if kind == "truncated":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif kind == "corrupted":
        data = bytearray(raw)
        for pos, val in draw(
            st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1, max_size=8)
        ):
            data[pos] = val
        raw = bytes(data)
    return suffix, raw


def _read_all(x: Path) -> None:
    src = open_source(x, name="real")
    if src.kind == "images":
        for _ in src.batches(batch_size=4):
            pass


def _must_load_or_name(target: Path, file: Path, cls: type) -> None:
    try:
        _read_all(target)
    except ValueError as exc:
        msg = str(exc)
        assert isinstance(exc, cls), f"{type(exc).__name__}: {msg}"
        assert show_path(file.name) in msg and "\n" not in msg, f"{type(exc).__name__}: {msg}"


@contextlib.contextmanager
def _no_hang(seconds: int) -> Iterator[None]:
    """A TimeoutError (a test failure) instead of a hang."""

    def fire(*_: object) -> None:
        raise TimeoutError(f"no answer in {seconds} s: the reader hangs")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def small_pixel_limit() -> Iterator[None]:
    """Pillow's decompression-bomb limit lowered to 2**20 pixels for the module: a corrupted header
    then fails as a bomb instead of allocating hundreds of MB."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 1 << 20
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=malformed_files())
def test_malformed_files_load_or_are_named(small_pixel_limit: None, case: tuple[str, bytes]) -> None:
    suffix, data = case
    with tempfile.TemporaryDirectory() as tmp, _no_hang(20):
        folder = Path(tmp) / "in"
        folder.mkdir()
        file = folder / f"sample{suffix}"
        file.write_bytes(data)
        _must_load_or_name(file, file, ValueError)  # the file as the input
        if suffix not in (".pt",):  # a folder lists images and .npy / .npz only
            _must_load_or_name(folder, file, ImageReadError)  # the only file of a folder
