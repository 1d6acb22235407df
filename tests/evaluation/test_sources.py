"""open_source (fastgan/evaluation/sources.py): kinds, fingerprints, decoding, readable errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

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
    p = tmp_path / {"npz_as_npy": "z.npy", "two_arrays": "z.npz", "bad_stats": "s.npz", "pickle_pt": "e.pt",
                    "two_tensors": "d.pt", "suffix": "f.txt"}.get(kind, f"{kind}.npy")
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
