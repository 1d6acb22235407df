"""Inputs of an evaluation: what they are, how many samples, a content fingerprint, decoding.

:func:`open_source` classifies one input into a :class:`Source` of kind ``"images"``,
``"features"`` or ``"stats"``. An image source is read with :meth:`Source.batches`: files are
decoded in a ``torch.utils.data.DataLoader`` (``num_workers`` processes, pinned memory for CUDA),
in batches on the global grid ``[k * batch_size, (k + 1) * batch_size)`` of the sample order, so
that any sub-range (a rank's shard, a cache chunk) is cut into the same batches as a full run.

Single files (``.npy`` / ``.npz`` / ``.pt``) are classified by content
(:func:`fastgan.evaluation.array_files.read_array_file`): a float matrix ``[N, D]`` is features,
``mu`` / ``sigma`` statistics, a 3-D / 4-D array an image stack. They are read without unpickling
anything, and a malformed file is a one-line ``ValueError`` naming the input and the path (the
``fastgan`` command line reads its inputs here too).

Listing and decoding are :mod:`fastgan.features.images` (shared with
:func:`fastgan.features.extract_features`); this module decides what an input is and cuts it into
batches.

Sample order: a folder is searched recursively and sorted by path (as
:func:`fastgan.features.extract_features`); an ``.npy`` / ``.npz`` image stack ``[n, H, W, C]``
contributes its ``n`` images in order.

Folders (:func:`fastgan.features.images.list_folder`): symbolic links to folders are followed, each real folder read once
(a link back to an ancestor is a loop, not a second copy); a dangling link, a FIFO, a socket or a
device under an image / array name is never opened: it is an unreadable entry, named in an error
or, with ``skip_bad``, skipped and listed. The feature cache is never read as input: a folder given
in ``exclude`` (``evaluate`` passes its ``cache_dir``), a folder laid out as a
:mod:`fastgan.evaluation.cache` entry and cache chunk files are left out of the listing.

File names need not be UTF-8: an undecodable name is read (it is fingerprinted by its bytes) and
shown with ``\\xNN`` escapes in messages.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from fastgan.evaluation.array_files import read_array_file
from fastgan.features.images import (
    IMAGE_EXTENSIONS,
    detect_layout,
    list_folder,
    native_order,
    quiet_warnings,
    read_file,
    require_regular_file,
    show_path,
    strip_path,
    to_images,
    unpack_batch,
    unreadable_reason,
)

__all__ = ["Source", "Batch", "open_source", "list_folder", "SOURCE_KINDS", "ImageReadError"]

logger = logging.getLogger(__name__)

SOURCE_KINDS = ("images", "features", "stats")

#: what reading a corrupt / truncated / non-image file raises (PIL's errors are OSError,
#: SyntaxError or ValueError subclasses; numpy raises ValueError / EOFError / BadZipFile)
_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile, TypeError)


class ImageReadError(ValueError):
    """An image file could not be decoded; the message names the file."""


#: the end of every "cannot read" message (the Python argument and the command-line option)
_SKIP_HINT = "pass skip_bad=True (--skip-bad on the command line) to skip and count unreadable files"


@dataclass
class Batch:
    """One decoded batch of an image source.

    Attributes:
        start, stop: global sample indices ``[start, stop)`` covered.
        images: uint8 (or float in [0, 1]) Tensor[B, 3, H, W], or a list of Tensor[3, H, W]
            (files: sizes may differ), one per readable sample, in order.
        bad: ``(global index, "path: reason")`` of samples skipped (``skip_bad=True``).
    """

    start: int
    stop: int
    images: Union[torch.Tensor, list[torch.Tensor]]
    bad: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def _file_fingerprint(paths: Sequence[Path], root: Optional[Path]) -> str:
    """sha256 over (relative path, size, mtime_ns) of each file, in order."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        rel = p.relative_to(root).as_posix() if root is not None else str(p)
        # surrogateescape: a file name that is not valid UTF-8 is hashed as its bytes
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _array_fingerprint(x: Union[torch.Tensor, np.ndarray], layout: str) -> str:
    t = (
        torch.from_numpy(np.ascontiguousarray(x))
        if isinstance(x, np.ndarray)
        else x.detach().cpu().contiguous()
    )
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|{layout}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class _ItemDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Dataset over (file, index in file) items -> (global index, image or None, error or None)."""

    def __init__(self, files: Sequence[Path], items: Sequence[tuple[int, int]], layout: str) -> None:
        self.files = list(files)
        self.items = list(items)
        self.layout = layout
        self._last: Optional[tuple[int, np.ndarray]] = None  # per process: the last stack file read

    def __len__(self) -> int:
        return len(self.items)

    def _array(self, fi: int) -> np.ndarray:
        if self._last is None or self._last[0] != fi:
            f = self.files[fi]
            # .npy stacks are memory-mapped: a worker reads only the images it decodes
            if f.suffix.lower() == ".npy":
                require_regular_file(f)
                try:
                    with quiet_warnings(f):
                        arr = np.load(f, mmap_mode="r", allow_pickle=False)
                except Exception as exc:  # noqa: BLE001 -- any failure: the file is malformed
                    raise ValueError(f"{f}: not a valid .npy file ({strip_path(f, exc)})") from None
            else:
                arr = read_file(f)
            self._last = (fi, arr)
        return self._last[1]

    def __getitem__(self, i: int) -> tuple[int, Optional[torch.Tensor], Optional[str]]:
        fi, sub = self.items[i]
        path = self.files[fi]
        try:
            if sub < 0:
                arr = read_file(path)
                img = to_images(arr, self.layout if arr.ndim == 4 else "auto", str(path), torch.float32, True)
                if img.shape[0] != 1:
                    raise ValueError(f"expected one image, found {img.shape[0]}")
            else:
                arr = self._array(fi)
                img = to_images(arr[sub : sub + 1], self.layout, str(path), torch.float32, True)
            return i, img[0].contiguous(), None
        except ImportError:
            raise
        except _READ_ERRORS as exc:
            return i, None, f"{show_path(path)}: {strip_path(path, exc)}"


def _collate(rows: list[tuple[int, Optional[torch.Tensor], Optional[str]]]) -> list[Any]:
    return [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]


@dataclass
class Source:
    """One classified input (see :func:`open_source`).

    Attributes:
        kind: ``"images"``, ``"features"`` or ``"stats"``.
        name: the argument's name (``"real"`` / ``"fake"``), used in every message.
        n: number of samples (None: unknown until read, e.g. an iterable without ``len``).
        fingerprint: content fingerprint (sha256 hex), None when not fingerprintable (a user
            DataLoader or a plain-function generator): such inputs are never cached.
        origin: ``"folder"``, ``"files"``, ``"array"``, ``"loader"``, ``"sampler"``,
            ``"features"`` or ``"stats"``.
        path: the folder / file path when the input is one.
        skip_bad: skip unreadable images (listed in :attr:`skipped`) instead of raising.
        skipped: ``"path: reason"`` of files already found unreadable when the source was opened.
    """

    kind: str
    name: str
    n: Optional[int]
    fingerprint: Optional[str]
    origin: str
    path: Optional[str] = None
    layout: str = "auto"
    skip_bad: bool = False
    skipped: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list, repr=False)
    items: list[tuple[int, int]] = field(default_factory=list, repr=False)
    array: Any = field(default=None, repr=False)
    features: Optional[torch.Tensor] = field(default=None, repr=False)
    stats: Any = field(default=None, repr=False)
    loader: Any = field(default=None, repr=False)
    sampler: Any = field(default=None, repr=False)
    #: statistics stored with the images (an ADM reference batch): array name -> FeatureStats,
    #: used for the Frechet metrics of that array instead of the embedded rows (as the evaluator)
    ref_stats: dict[str, Any] = field(default_factory=dict, repr=False)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable summary: kind, origin, path or type, n, fingerprint."""
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "origin": self.origin,
            "n": self.n,
            "fingerprint": self.fingerprint,
        }
        if self.path is not None:
            d["path"] = show_path(self.path)
        if self.origin == "loader":
            d["type"] = type(self.loader).__name__
        if self.sampler is not None:
            d["sampler"] = self.sampler.describe()
        if self.features is not None:
            d["dim"] = int(self.features.shape[1])
        if self.skipped:
            d["skipped"] = len(self.skipped)
        if self.ref_stats:
            d["reference_stats"] = sorted(self.ref_stats)
        return d

    # -- decoding -----------------------------------------------------------------------------
    def batches(
        self,
        start: int = 0,
        stop: Optional[int] = None,
        *,
        batch_size: int = 50,
        num_workers: int = 0,
        pin_memory: bool = False,
        whole: bool = False,
    ) -> Iterator[Batch]:
        """Decoded batches of samples ``[start, stop)`` (images sources only).

        Batches follow the global grid ``[k * batch_size, (k + 1) * batch_size)`` (a user
        DataLoader keeps its own batches, cut at ``start`` / ``stop``, or with ``whole`` given
        whole, ``Batch.start`` / ``stop`` then covering the full batch). Unreadable files raise
        :class:`ImageReadError` naming the file, or with ``skip_bad`` are reported in
        :attr:`Batch.bad`.
        """
        if self.kind != "images":
            raise ValueError(f"{self.name}: a {self.kind} source has no images to decode")
        if stop is None:
            stop = self.n if self.n is not None else 1 << 62
        if self.origin in ("folder", "files"):
            yield from self._file_batches(start, stop, batch_size, num_workers, pin_memory)
        elif self.origin == "array":
            lay = detect_layout(self.array.shape, self.layout, self.name)
            for a, b in _grid(start, stop, batch_size):
                x = to_images(self.array[a:b], lay, self.name, torch.float32, True)
                yield Batch(a, b, x.pin_memory() if pin_memory else x)
        elif self.origin == "sampler":
            s = self.sampler
            for a, b in _grid(start, stop, batch_size):
                parts = [s.generate(i, min(i + s.batch_size, b)) for i in range(a, b, s.batch_size)]
                yield Batch(a, b, parts[0] if len(parts) == 1 else torch.cat(parts))
        elif self.origin == "loader":
            yield from self._loader_batches(start, stop, whole)
        else:  # pragma: no cover
            raise AssertionError(self.origin)

    def _file_batches(
        self, start: int, stop: int, batch_size: int, num_workers: int, pin: bool
    ) -> Iterator[Batch]:
        grid = list(_grid(start, stop, batch_size))
        if not grid:
            return
        ds = _ItemDataset(self.files, self.items, self.layout)
        index_batches = [list(range(a, b)) for a, b in grid]
        loader = torch.utils.data.DataLoader(
            ds,
            batch_sampler=index_batches,
            num_workers=num_workers,
            collate_fn=_collate,
            pin_memory=pin,
            prefetch_factor=4 if num_workers > 0 else None,
        )
        for (a, b), (idx, imgs, errs) in zip(grid, loader):
            good: list[torch.Tensor] = []
            bad: list[tuple[int, str]] = []
            for i, img, err in zip(idx, imgs, errs):
                if err is None:
                    good.append(img)
                elif self.skip_bad:
                    logger.warning("%s: skipping unreadable file %s", self.name, err)
                    bad.append((i, err))
                else:
                    raise ImageReadError(f"{self.name}: cannot read image {err} ({_SKIP_HINT})")
            yield Batch(a, b, good, bad)

    def _loader_batches(self, start: int, stop: int, whole: bool) -> Iterator[Batch]:
        pos = 0
        for i, batch in enumerate(self.loader):
            where = f"{self.name}: dataloader batch {i}"
            x = to_images(unpack_batch(batch, where), self.layout, where, torch.float32, True)
            a, b = pos, pos + x.shape[0]
            pos = b
            lo, hi = max(a, start), min(b, stop)
            if lo < hi:
                yield Batch(a, b, x) if whole else Batch(lo, hi, x[lo - a : hi - a])
            if b >= stop:
                break


def _grid(start: int, stop: int, batch_size: int) -> Iterator[tuple[int, int]]:
    a = start
    while a < stop:
        b = min((a // batch_size + 1) * batch_size, stop)
        yield a, b
        a = b


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _stack_source(arr: Any, p: Path, *, name: str, layout: str) -> Source:
    """A 3-D / 4-D array read from ``p``: one image or a stack ``[n, H, W, C]``."""
    st = p.stat()
    if arr.ndim == 3:
        arr = arr[None]
    detect_layout(arr.shape, layout, f"{name} ({show_path(p)})")
    return Source(
        kind="images",
        name=name,
        n=int(arr.shape[0]),
        fingerprint=hashlib.sha256(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest(),
        origin="array",
        path=str(p),
        layout=layout,
        array=arr,
    )


def _adm_source(ref: Any, p: Path, *, name: str) -> Source:
    """An ADM reference batch: its ``arr_0`` images, with its pool3 (``mu``, ``sigma``) and spatial
    (``mu_s``, ``sigma_s``) statistics for FID and sFID."""
    from fastgan.metrics import FeatureStats

    src = _stack_source(ref.images, p, name=name, layout="NHWC")
    src.ref_stats = {
        "inception": FeatureStats.from_moments(None, torch.from_numpy(ref.mu), torch.from_numpy(ref.sigma)),
        "spatial": FeatureStats.from_moments(None, torch.from_numpy(ref.mu_s), torch.from_numpy(ref.sigma_s)),
    }
    return src


#: the largest feature magnitude accepted: float32's largest finite value (larger values become
#: inf in float32, and their squares overflow even float64: no network produces them)
_FEATURE_MAX = float(torch.finfo(torch.float32).max)


def _features_source(x: Any, *, name: str, path: Optional[str] = None) -> Source:
    from fastgan._checks import check_features

    where = f"{name}: {show_path(path)}" if path else name
    if isinstance(x, np.ndarray):
        x = native_order(x)
    t = check_features(x, where, min_rows=1)
    if t.dtype == torch.float64 and t.numel():
        top = float(t.abs().max())
        if top > _FEATURE_MAX:
            raise ValueError(
                f"{where}: holds values up to {top:.3g} in magnitude, beyond float32's range "
                f"({_FEATURE_MAX:.3g}): statistics of such features overflow to inf; these are not "
                "network features (rescale them, or check how they were computed)"
            )
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    t = t.detach().cpu().contiguous()
    return Source(
        kind="features",
        name=name,
        n=int(t.shape[0]),
        fingerprint=_array_fingerprint(t, "features"),
        origin="features",
        path=path,
        features=t,
    )


def _stats_source(st: Any, *, name: str, path: Optional[str] = None) -> Source:
    h = hashlib.sha256()
    h.update(str(st.count).encode())
    h.update(st.mean.detach().cpu().numpy().tobytes())
    h.update(st.cov.detach().cpu().numpy().tobytes())
    return Source(
        kind="stats", name=name, n=st.count, fingerprint=h.hexdigest(), origin="stats", path=path, stats=st
    )


def open_source(
    x: Any,
    *,
    name: str,
    layout: str = "auto",
    skip_bad: bool = False,
    exclude: Sequence[Union[str, os.PathLike[str]]] = (),
) -> Source:
    """Classify an input and prepare it for reading.

    Args:
        x: one of
            * an image folder (searched recursively, sorted by path; PNG/JPG/... via Pillow,
              ``.npy`` / ``.npz`` images ``[H, W, C]`` or stacks ``[n, H, W, C]``);
            * a list of image file paths (kept in the given order);
            * one file: an image; an ``.npy`` / ``.npz`` image stack (3-D / 4-D); an ``.npy`` /
              ``.npz`` / ``.pt`` feature matrix ``[N, D]``; a statistics ``.npz`` (``mu``,
              ``sigma``, optional ``n``);
            * uint8 (0..255) or float ([0, 1]) images, Tensor / ndarray ``[N, H, W, 3]`` or
              ``[N, 3, H, W]``; a 2-D float Tensor / ndarray is features ``[N, D]``;
            * a :class:`fastgan.metrics.FeatureStats`;
            * a ``torch.utils.data.DataLoader`` or another iterable of image batches (Tensor,
              ``(images, labels, ...)`` or a dict with an ``"image"`` / ``"images"`` key);
            * a :class:`fastgan.evaluation.sampler.Sampler`.
        name: the argument's name in messages (``"real"``, ``"fake"``).
        layout: ``"auto"``, ``"NCHW"`` or ``"NHWC"`` for image arrays.
        skip_bad: skip unreadable / truncated image files and list them (``Source.skipped``,
            ``Embedding.skipped``) instead of raising an error that names the file. In a folder,
            dangling links and FIFOs / sockets / devices under an image name count as unreadable.
        exclude: folders never read as input when ``x`` is a folder (e.g. the feature cache
            folder, when it lies inside the input folder); see :func:`list_folder`.

    Returns:
        :class:`Source`. Fingerprints: files -> sha256 of the sorted relative paths, sizes and
        mtimes (content changes show up as size / mtime changes; renaming the folder keeps the
        fingerprint); arrays, features, statistics -> sha256 of the bytes; a Sampler -> its
        ``fingerprint``; a user DataLoader -> None.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: an empty folder, an unreadable file (named), an ambiguous layout, ...
        TypeError: an unsupported input type.

    >>> open_source(torch.zeros(4, 8), name="real").kind
    'features'
    """
    if layout not in ("auto", "NCHW", "NHWC"):
        raise ValueError(f"layout: must be 'auto', 'NCHW' or 'NHWC', got {layout!r}")
    from fastgan.evaluation.file_sources import _open_files, open_file_list, open_folder
    from fastgan.evaluation.sampler import Sampler
    from fastgan.metrics import FeatureStats

    if isinstance(x, Source):
        return x
    if isinstance(x, Sampler):
        return Source(kind="images", name=name, n=x.n, fingerprint=x.fingerprint, origin="sampler", sampler=x)
    if isinstance(x, FeatureStats):
        return _stats_source(x, name=name)
    if _is_path(x):
        p = Path(x)
        if p.is_dir():
            return open_folder(p, name=name, layout=layout, skip_bad=skip_bad, exclude=exclude)
        if not os.path.lexists(p):
            raise FileNotFoundError(f"{name}: {show_path(p)!r} does not exist")
        why = unreadable_reason(p)  # a dangling link, a FIFO (reading it would block), ...: refused unopened
        if why is not None:
            raise ImageReadError(f"{name}: cannot read {why}")
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            return _open_files(
                [p], name=name, layout=layout, skip_bad=skip_bad, origin="files", root=p.parent, path=str(p)
            )
        kind, value = read_array_file(p, name=name)
        if kind == "stack":
            return _stack_source(value, p, name=name, layout=layout)
        if kind == "adm":
            return _adm_source(value, p, name=name)
        if kind == "stats":
            return _stats_source(value, name=name, path=str(p))
        return _features_source(value, name=name, path=str(p))
    if isinstance(x, (list, tuple)) and x and all(_is_path(f) for f in x):
        return open_file_list(x, name=name, layout=layout, skip_bad=skip_bad)
    if isinstance(x, (torch.Tensor, np.ndarray)):
        if isinstance(x, np.ndarray):
            x = native_order(x)
        if x.ndim == 2:
            return _features_source(x, name=name)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(
                f"{name}: expected images [N, H, W, C] / [N, C, H, W] or features [N, D], "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{name}: no images (shape {tuple(x.shape)})")
        lay = detect_layout(x.shape, layout, name)
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
        return Source(
            kind="images",
            name=name,
            n=int(x.shape[0]),
            fingerprint=_array_fingerprint(x, lay),
            origin="array",
            layout=lay,
            array=x,
        )
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise TypeError(f"{name}: unsupported input type {type(x).__name__}")
    n: Optional[int] = None
    if isinstance(x, torch.utils.data.DataLoader):
        try:  # the samples the loader yields: its sampler's length, less a dropped last batch
            drop = bool(x.drop_last and x.batch_size)
            n = len(x) * int(x.batch_size or 1) if drop else len(x.sampler)  # type: ignore[arg-type]
        except TypeError:  # an IterableDataset without __len__
            n = None
    else:
        try:
            n = len(x.dataset)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            n = None
    return Source(kind="images", name=name, n=n, fingerprint=None, origin="loader", layout=layout, loader=x)
