"""open_source (fastgan/evaluation/sources.py): kinds, fingerprints, decoding, readable errors."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from fastgan.evaluation.sampler import Sampler
from fastgan.evaluation.sources import ImageReadError, open_source
from fastgan.metrics import FeatureStats, save_stats


def _imgs(n: int, size: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _npy_folder(root: Path, imgs: np.ndarray) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(imgs):
        np.save(root / f"{i:03d}.npy", im)
    return root


def test_kinds_and_describe(tmp_path: Path) -> None:
    imgs = _imgs(5)
    folder = _npy_folder(tmp_path / "imgs", imgs)
    feats = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    np.save(tmp_path / "stack.npy", imgs)
    torch.save(torch.from_numpy(feats), tmp_path / "f.pt")
    st = FeatureStats().update(torch.from_numpy(feats))
    save_stats(tmp_path / "stats.npz", st)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(imgs)), batch_size=2)
    cases = {
        "folder": (folder, "images", 5),
        "files": ([folder / "001.npy", folder / "000.npy"], "images", 2),
        "array": (torch.from_numpy(imgs), "images", 5),
        "nchw": (imgs.transpose(0, 3, 1, 2), "images", 5),
        "features": (torch.from_numpy(feats), "features", 6),
        "npy features": (tmp_path / "f.npy", "features", 6),
        "pt features": (tmp_path / "f.pt", "features", 6),
        "npy images": (tmp_path / "stack.npy", "images", 5),
        "stats file": (tmp_path / "stats.npz", "stats", 6),
        "stats": (st, "stats", 6),
        "loader": (loader, "images", 5),
        "sampler": (Sampler(lambda z: torch.tanh(z[:, :12].view(-1, 3, 2, 2)), 16, n=7), "images", 7),
    }
    for label, (x, kind, n) in cases.items():
        s = open_source(x, name="real")
        assert (s.kind, s.n) == (kind, n), label
        d = s.describe()
        assert d["kind"] == kind and d["n"] == n and d["name"] == "real", label
        import json

        json.dumps(d)  # JSON-serialisable
        assert (s.fingerprint is None) == (label in ("loader", "sampler")), label  # lambda G: no fingerprint


def test_folder_fingerprint_tracks_content_not_location(tmp_path: Path) -> None:
    folder = _npy_folder(tmp_path / "a", _imgs(3))
    fp = open_source(folder, name="real").fingerprint
    shutil.copytree(folder, tmp_path / "b", copy_function=shutil.copy2)  # copy2 keeps mtimes
    assert open_source(tmp_path / "b", name="real").fingerprint == fp
    np.save(folder / "001.npy", _imgs(1, seed=5)[0])
    os.utime(folder / "001.npy", ns=(1, 1))
    assert open_source(folder, name="real").fingerprint != fp
    a = torch.from_numpy(_imgs(3))
    assert open_source(a, name="x").fingerprint == open_source(a.clone(), name="y").fingerprint
    b = a.clone()
    b[0, 0, 0, 0] ^= 1
    assert open_source(b, name="x").fingerprint != open_source(a, name="x").fingerprint


def test_errors_name_the_input(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"real: no image files .*empty"):
        open_source(tmp_path / "empty", name="real")
    with pytest.raises(FileNotFoundError, match="fake"):
        open_source(tmp_path / "missing", name="fake")
    with pytest.raises(FileNotFoundError, match="do not exist"):
        open_source([tmp_path / "nope.png"], name="fake")
    with pytest.raises(TypeError, match="real: unsupported input type int"):
        open_source(3, name="real")
    with pytest.raises(ValueError, match="layout"):
        open_source(torch.zeros(2, 3, 5, 3, dtype=torch.uint8), name="real")
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="bad.npy"):
        open_source(tmp_path / "bad.npy", name="real")


def test_feature_files(tmp_path: Path) -> None:
    """Every accepted feature-file layout reads back the array that was saved (bit for bit)."""
    x = np.random.default_rng(3).standard_normal((7, 5))
    t = torch.from_numpy(x)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "named.npz", features=x, labels=np.arange(7))
    np.savez(tmp_path / "single.npz", anything=x)
    with open(tmp_path / "plain_npy_named.npz", "wb") as fh:  # a plain .npy under an .npz name
        np.save(fh, x)
    torch.save(t, tmp_path / "t.pt")
    torch.save({"features": t, "step": torch.tensor(3)}, tmp_path / "d.pth")
    torch.save({"only": t.float()}, tmp_path / "one.pt")
    for f in ("a.npy", "named.npz", "single.npz", "plain_npy_named.npz", "t.pt", "d.pth"):
        s = open_source(tmp_path / f, name="real")
        assert (s.kind, s.origin, s.path) == ("features", "features", str(tmp_path / f)), f
        torch.testing.assert_close(s.features, t, rtol=0, atol=0)
    torch.testing.assert_close(open_source(tmp_path / "one.pt", name="r").features, t.float(), rtol=0, atol=0)


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("object", "pickled object"),
        ("garbage", "not a valid .npy file"),
        ("npz_as_npy", "rename it to .npz"),
        ("int", "integer"),
        ("one_row", "at least 2"),
        ("nan", "non-finite"),
        ("two_arrays", "exactly one 2-D"),
        ("bad_stats", "invalid statistics file"),
        ("pickle_pt", "refused for safety"),
        ("two_tensors", "dict holds 2 tensors (a, b)"),
        ("suffix", "unknown file type .txt"),
    ],
)
def test_malformed_files_are_named(tmp_path: Path, kind: str, needle: str) -> None:
    import pickle

    x = np.random.default_rng(4).standard_normal((6, 3))
    p = tmp_path / {
        "npz_as_npy": "z.npy",
        "two_arrays": "z.npz",
        "bad_stats": "s.npz",
        "pickle_pt": "e.pt",
        "two_tensors": "d.pt",
        "suffix": "f.txt",
    }.get(kind, f"{kind}.npy")
    if kind == "object":
        np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif kind == "garbage":
        p.write_bytes(b"not numpy")
    elif kind == "npz_as_npy":
        with open(p, "wb") as fh:
            np.savez(fh, x=x)
    elif kind in ("int", "one_row", "nan"):
        y = {"int": (x * 10).astype(np.int32), "one_row": x[:1], "nan": np.where(x > 1, np.nan, x)}[kind]
        np.save(p, y)
    elif kind == "two_arrays":
        np.savez(p, a=x, b=x)
    elif kind == "bad_stats":
        np.savez(p, mu=np.zeros(3), sigma=np.zeros((3, 2)))
    elif kind == "pickle_pt":  # a pickle that would call a function if loaded without weights_only
        with open(p, "wb") as fh:
            pickle.dump({"features": torch.zeros(3, 3), "f": os.getcwd}, fh, protocol=2)
    elif kind == "two_tensors":
        torch.save({"a": torch.zeros(3, 3), "b": torch.ones(3, 3)}, p)
    else:
        np.savetxt(p, x)
    with pytest.raises(ValueError, match="fake: ") as exc:
        open_source(p, name="fake")
    msg = str(exc.value)
    assert msg.startswith(f"fake: {p}: ") and needle in msg and "\n" not in msg, msg


def test_batches_follow_the_global_grid(tmp_path: Path) -> None:
    imgs = _imgs(10)
    for src in (open_source(_npy_folder(tmp_path / "f", imgs), name="r"), open_source(imgs, name="r")):
        ranges = [(b.start, b.stop) for b in src.batches(3, 9, batch_size=4)]
        assert ranges == [(3, 4), (4, 8), (8, 9)]
        got = torch.cat(
            [
                torch.stack(b.images) if isinstance(b.images, list) else b.images
                for b in src.batches(0, 10, batch_size=4)
            ]
        )
        torch.testing.assert_close(got, torch.from_numpy(imgs).permute(0, 3, 1, 2), rtol=0, atol=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(imgs)), batch_size=4)
    ranges = [(b.start, b.stop, b.images.shape[0]) for b in open_source(loader, name="r").batches(3, 9)]
    assert ranges == [(3, 4, 1), (4, 8, 4), (8, 9, 1)]


def test_stacks_and_workers(tmp_path: Path) -> None:
    imgs = _imgs(7)
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "a.npy", imgs[:4])  # a stack of 4
    np.save(folder / "b.npy", imgs[4])
    np.savez(folder / "c.npz", imgs[5:])  # a stack of 2
    src = open_source(folder, name="r")
    assert src.n == 7
    got = [im for b in src.batches(batch_size=3, num_workers=2) for im in b.images]
    torch.testing.assert_close(torch.stack(got), torch.from_numpy(imgs).permute(0, 3, 1, 2), rtol=0, atol=0)


def _png_folder(root: Path, n: int) -> list[Path]:
    Image = pytest.importorskip("PIL.Image")
    root.mkdir()
    paths = []
    for i, im in enumerate(_imgs(n, 12)):
        p = root / f"{i}.png"
        Image.fromarray(im).save(p)
        paths.append(p)
    return paths


def test_unreadable_images_are_named_or_skipped(tmp_path: Path) -> None:
    paths = _png_folder(tmp_path / "png", 5)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) // 2])  # truncated
    (tmp_path / "png" / "z.jpg").write_bytes(b"garbage")  # not an image at all
    src = open_source(tmp_path / "png", name="real")
    with pytest.raises(ImageReadError, match=r"real: cannot read image .*2\.png.*skip_bad=True"):
        list(src.batches(batch_size=2))
    src = open_source(tmp_path / "png", name="real", skip_bad=True)
    batches = list(src.batches(batch_size=2))
    bad = [(i, m) for b in batches for i, m in b.bad]
    assert [i for i, _ in bad] == [2, 5] and "2.png" in bad[0][1] and "z.jpg" in bad[1][1]
    assert sum(len(b) for b in batches) == 4


def test_loader_length_counts_the_samples_it_yields() -> None:
    ds = torch.utils.data.TensorDataset(torch.zeros(10, 3, 4, 4))
    dl = torch.utils.data.DataLoader
    assert open_source(dl(ds, batch_size=4), name="r").n == 10
    assert open_source(dl(ds, batch_size=4, drop_last=True), name="r").n == 8
    sub = torch.utils.data.SubsetRandomSampler(range(6))
    assert open_source(dl(ds, batch_size=4, sampler=sub), name="r").n == 6

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self) -> Iterator[torch.Tensor]:
            yield torch.zeros(3, 4, 4)

    assert open_source(dl(Stream(), batch_size=2), name="r").n is None


# ------------------------------------------------------------------ issue 23: hostile inputs
def _png_bytes(width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes]) -> bytes:
    """A PNG written chunk by chunk (any header, e.g. a size the pixel data does not have)."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)  # filter type 0 per row
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _decoded(src_or_path: object, **kw: object) -> torch.Tensor:
    """Every image of an image source, stacked [N, 3, H, W]."""
    src = src_or_path if hasattr(src_or_path, "batches") else open_source(src_or_path, name="real", **kw)
    batches = src.batches(batch_size=4)  # type: ignore[attr-defined]
    return torch.stack([im for b in batches for im in b.images])


def test_16_bit_and_float_images_decode_to_8_bit(tmp_path: Path) -> None:
    """16-bit grey PNG / TIFF (Pillow mode I;16) and 32-bit int TIFF (mode I): value >> 8, as Pillow
    decodes a 16-bit RGB PNG; float TIFF (mode F) in [0, 1]: round(value * 255). convert("RGB")
    clipped both (every 16-bit value above 255 became white, every float black)."""
    Image = pytest.importorskip("PIL.Image")
    v16 = np.array([[0, 255, 256, 1000], [32767, 32768, 65280, 65535]], dtype=np.uint16)
    want = torch.from_numpy((v16 >> 8).astype(np.uint8))[None].expand(3, -1, -1)
    Image.fromarray(v16).save(tmp_path / "g16.png")
    Image.fromarray(v16).save(tmp_path / "g16.tif")
    Image.fromarray(v16.astype(np.int32), mode="I").save(tmp_path / "i32.tif")
    rgb16 = np.repeat(v16[:, :, None], 3, axis=2).astype(">u2")  # the same picture, 16-bit RGB
    (tmp_path / "rgb16.png").write_bytes(_png_bytes(4, 2, 16, 2, [r.tobytes() for r in rgb16]))
    for f in ("g16.png", "g16.tif", "i32.tif", "rgb16.png"):
        assert Image.open(tmp_path / f).mode in ("I;16", "I", "RGB"), f
        got = _decoded(tmp_path / f)
        assert got.dtype == torch.uint8 and got.shape == (1, 3, 2, 4), f
        torch.testing.assert_close(got[0], want, rtol=0, atol=0, msg=f)

    vf = np.array([[0.0, 0.1, 0.5, 1 / 255], [0.998, 0.999, 1.0, 0.2]], dtype=np.float32)
    Image.fromarray(vf, mode="F").save(tmp_path / "f.tif")
    assert Image.open(tmp_path / "f.tif").mode == "F"
    got = _decoded(tmp_path / "f.tif")
    want_f = torch.from_numpy(np.rint(vf * 255).astype(np.uint8))
    torch.testing.assert_close(got[0, 0], want_f, rtol=0, atol=0)

    bad = {"nan.tif": np.where(vf > 0.9, np.nan, vf), "over.tif": vf * 2, "neg.tif": vf - 0.5}
    for f, a in bad.items():
        Image.fromarray(a.astype(np.float32), mode="F").save(tmp_path / f)
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32), mode="I").save(tmp_path / "wide.tif")
    for f, needle in [
        ("nan.tif", "NaN"),
        ("over.tif", r"\[0, 1\]"),
        ("neg.tif", r"\[0, 1\]"),
        ("wide.tif", "0..65535"),
    ]:
        with pytest.raises(ImageReadError, match=rf"real: cannot read image .*{f}: .*{needle}"):
            _decoded(tmp_path / f)


def test_decompression_bomb_is_named_and_skippable(tmp_path: Path) -> None:
    """A tiny PNG declaring 40000 x 40000 pixels: a one-line ImageReadError naming the file (it was an
    uncaught PIL.Image.DecompressionBombError), skipped with skip_bad."""
    pytest.importorskip("PIL.Image")
    folder = tmp_path / "png"
    _png_folder(folder, 3)
    bomb = folder / "1_bomb.png"
    bomb.write_bytes(_png_bytes(40000, 40000, 1, 0, [b"\x00" * 5000] * 4))  # rows of the real size not needed
    assert bomb.stat().st_size < 1000
    with pytest.raises(ImageReadError) as exc:
        _decoded(folder)
    msg = str(exc.value)
    assert "1_bomb.png" in msg and "decompression bomb" in msg and "\n" not in msg, msg
    src = open_source(folder, name="real", skip_bad=True)
    batches = list(src.batches(batch_size=4))
    assert [i for b in batches for i, _ in b.bad] == [2]  # sorted: 0, 1, 1_bomb, 2
    assert sum(len(b) for b in batches) == 3
    assert "1_bomb.png" in batches[0].bad[0][1]


def test_skip_hint_names_the_command_line_option(tmp_path: Path) -> None:
    paths = _png_folder(tmp_path / "png", 2)
    paths[1].write_bytes(paths[1].read_bytes()[:40])
    with pytest.raises(ImageReadError) as exc:
        _decoded(tmp_path / "png")
    assert "skip_bad=True" in str(exc.value) and "--skip-bad" in str(exc.value)


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A name with undecodable bytes is read (fingerprinted by its bytes); messages show it escaped
    (they used to be a UnicodeEncodeError naming nothing)."""
    paths = _png_folder(tmp_path / "png", 2)
    raw = os.fsencode(tmp_path / "png") + b"/\xff.png"
    try:
        fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    except (OSError, UnicodeError):
        pytest.skip("the file system refuses names that are not UTF-8")
    os.write(fd, paths[0].read_bytes())
    os.close(fd)
    src = open_source(tmp_path / "png", name="real")
    assert src.n == 3 and len(src.fingerprint or "") == 64
    got = _decoded(src)
    torch.testing.assert_close(got[2], got[0], rtol=0, atol=0)  # "\xff.png" sorts last, a copy of 0.png
    json_ok = __import__("json").dumps(src.describe())
    assert json_ok
    with open(raw, "wb") as fh:
        fh.write(b"garbage")
    with pytest.raises(ImageReadError) as exc:
        _decoded(tmp_path / "png")
    msg = str(exc.value)
    assert "\\xff.png" in msg, msg
    msg.encode("utf-8")  # printable anywhere
    src = open_source(tmp_path / "png", name="real", skip_bad=True)
    bad = [m for b in src.batches(batch_size=4) for _, m in b.bad]
    assert len(bad) == 1 and "\\xff.png" in bad[0]
    bad[0].encode("utf-8")


def test_big_endian_arrays(tmp_path: Path) -> None:
    """'>f4' / '>f8' arrays are read in the machine's byte order (torch refused them, unnamed)."""
    x = np.random.default_rng(6).standard_normal((5, 4))
    np.save(tmp_path / "f.npy", x.astype(">f4"))
    np.savez(tmp_path / "f.npz", features=x.astype(">f8"))
    torch.testing.assert_close(
        open_source(tmp_path / "f.npy", name="r").features,
        torch.from_numpy(x.astype(np.float32)),
        rtol=0,
        atol=0,
    )
    torch.testing.assert_close(
        open_source(tmp_path / "f.npz", name="r").features, torch.from_numpy(x), rtol=0, atol=0
    )
    torch.testing.assert_close(
        open_source(x.astype(">f8"), name="r").features, torch.from_numpy(x), rtol=0, atol=0
    )
    imgs = np.random.default_rng(7).random((3, 6, 6, 3)).astype(np.float32)
    np.save(tmp_path / "stack.npy", imgs.astype(">f4"))
    folder = _npy_folder(tmp_path / "imgs", imgs.astype(">f4"))
    want = torch.from_numpy(imgs).permute(0, 3, 1, 2)
    for src in (tmp_path / "stack.npy", folder):
        torch.testing.assert_close(_decoded(src), want, rtol=0, atol=0)


def test_refused_pt_files_leak_no_warning(tmp_path: Path) -> None:
    """A .pt file torch warns about or fails on in an unexpected way: one ValueError naming it, no
    warning (a sparse tensor made torch warn on stderr, then crashed; a garbage file was a KeyError)."""
    import warnings

    torch.save(torch.eye(4).to_sparse(), tmp_path / "sparse.pt")
    (tmp_path / "garbage.pt").write_bytes(b"hello world, not a tensor file")
    data = (tmp_path / "sparse.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    for f, needle in [("sparse.pt", "sparse"), ("garbage.pt", "cannot load"), ("trunc.pt", "cannot load")]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError) as exc:
                open_source(tmp_path / f, name="real")
        msg = str(exc.value)
        assert msg.startswith(f"real: {tmp_path / f}: ") and needle in msg and "\n" not in msg, msg
        assert not [str(w.message) for w in caught], f


def test_features_beyond_float32_are_refused(tmp_path: Path) -> None:
    """1e200 float64 features: a ValueError naming the input (they ended in 'sigma1: non-finite')."""
    x = np.random.default_rng(8).standard_normal((6, 3))
    np.save(tmp_path / "huge.npy", x * 1e200)
    with pytest.raises(ValueError, match=r"^real: .*huge\.npy: holds values up to .*float32"):
        open_source(tmp_path / "huge.npy", name="real")
    with pytest.raises(ValueError, match=r"^fake: holds values up to"):
        open_source(torch.from_numpy(x * 1e200), name="fake")
    assert open_source(torch.from_numpy(x * 1e30), name="fake").kind == "features"  # large but finite: kept


def _symlink(target: Path, link: Path) -> None:
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")


def test_symlinked_folders_are_followed_and_dangling_links_reported(tmp_path: Path) -> None:
    """5 images, 3 of them through a linked folder: N=5 (it was 2). A link loop ends; a second link to
    a folder already read counts it once; a dangling link is named, or skipped and listed."""
    real = _npy_folder(tmp_path / "real" / "a", _imgs(2)).parent
    other = _npy_folder(tmp_path / "other", _imgs(3, seed=1))
    _symlink(other, real / "linked")
    _symlink(real, real / "a" / "loop")  # back to an ancestor
    _symlink(other, real / "z_again")  # the same folder twice
    src = open_source(real, name="real")
    assert src.n == 5
    assert [f.relative_to(real).as_posix() for f in src.files] == [
        "a/000.npy",
        "a/001.npy",
        "linked/000.npy",
        "linked/001.npy",
        "linked/002.npy",
    ]
    want = np.concatenate([_imgs(2), _imgs(3, seed=1)])
    torch.testing.assert_close(_decoded(src), torch.from_numpy(want).permute(0, 3, 1, 2), rtol=0, atol=0)

    _symlink(tmp_path / "nowhere.png", real / "dangling.png")
    with pytest.raises(ImageReadError, match=r"real: 1 unreadable entry .*dangling\.png: dangling symbolic"):
        open_source(real, name="real")
    src = open_source(real, name="real", skip_bad=True)
    assert src.n == 5 and len(src.skipped) == 1 and "dangling.png" in src.skipped[0]
    assert src.describe()["skipped"] == 1
    with pytest.raises(ImageReadError, match="dangling.png"):
        open_source(real / "dangling.png", name="real")


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    import signal

    if not hasattr(signal, "SIGALRM"):
        pytest.skip("no SIGALRM here")

    def fire(*_: object) -> None:
        raise TimeoutError("hung: a FIFO was opened")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt", ".png"])
def test_fifo_is_refused_unopened(tmp_path: Path, alarm: None, suffix: str) -> None:
    """A FIFO named like an input hung the reader; now it is refused by name before any open."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / f"x{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=rf"real: .*x\{suffix}: not a regular file \(a FIFO"):
        open_source(fifo, name="real")
    if suffix in (".npy", ".npz", ".png"):
        folder = _npy_folder(tmp_path / "f", _imgs(2))
        os.mkfifo(folder / f"y{suffix}")
        with pytest.raises(ImageReadError, match=rf"y\{suffix}: not a regular file"):
            open_source(folder, name="real")
        src = open_source(folder, name="real", skip_bad=True)
        assert src.n == 2 and "FIFO" in src.skipped[0]
        assert _decoded(src).shape[0] == 2
        with pytest.raises(ImageReadError, match=rf"y\{suffix}: not a regular file"):
            open_source([folder / "000.npy", folder / f"y{suffix}"], name="real")


def test_the_feature_cache_is_never_read_as_input(tmp_path: Path) -> None:
    """A cache folder inside the input folder: its chunks (.npz) were listed as images. Excluded by
    exclude= (evaluate passes cache_dir) and, whatever it is called, by its layout."""
    from fastgan.evaluation.cache import Chunk, FeatureCache

    folder = _npy_folder(tmp_path / "imgs", _imgs(3))
    before = open_source(folder, name="real")
    key = {
        "label": "imgs",
        "extractor": "inception",
        "preset": "pytorch-fid",
        "weights_sha256": "0" * 64,
        "n": 3,
    }
    cache = FeatureCache(folder / "cache", key)
    cache.save(Chunk(0, 3, {"pool3": np.zeros((3, 4), np.float32)}, np.ones(3, bool), []), batch_size=2)
    cache.write_manifest(3, 3, 2)
    assert any(p.suffix == ".npz" for p in (folder / "cache").rglob("*"))
    for kw in ({}, {"exclude": [folder / "cache"]}):
        after = open_source(folder, name="real", **kw)  # type: ignore[arg-type]
        assert (after.n, after.fingerprint) == (3, before.fingerprint), kw
    (folder / "other").mkdir()
    np.save(folder / "other" / "x.npy", _imgs(1)[0])
    assert open_source(folder, name="real").n == 4
    assert open_source(folder, name="real", exclude=[str(folder / "other")]).n == 3
