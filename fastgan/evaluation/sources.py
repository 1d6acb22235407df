"""Inputs of an evaluation: what they are, how many samples, a content fingerprint, decoding.

:func:`open_source` classifies one input into a :class:`Source` of kind ``"images"``,
``"features"`` or ``"stats"``. An image source is read with :meth:`Source.batches`: files are
decoded in a ``torch.utils.data.DataLoader`` (``num_workers`` processes, pinned memory for CUDA),
in batches on the global grid ``[k * batch_size, (k + 1) * batch_size)`` of the sample order, so
that any sub-range (a rank's shard, a cache chunk) is cut into the same batches as a full run.

Single files (``.npy`` / ``.npz`` / ``.pt``) are classified by content: a float matrix ``[N, D]``
is features, ``mu`` / ``sigma`` statistics, a 3-D / 4-D array an image stack. They are read
without unpickling anything, and a malformed file is a one-line ``ValueError`` naming the input
and the path (the ``fastgan`` command line reads its inputs here too).

Sample order: a folder is searched recursively and sorted by path (as
:func:`fastgan.features.extract_features`); an ``.npy`` / ``.npz`` image stack ``[n, H, W, C]``
contributes its ``n`` images in order.

Folders (:func:`list_folder`): symbolic links to folders are followed, each real folder read once
(a link back to an ancestor is a loop, not a second copy); a dangling link, a FIFO, a socket or a
device under an image / array name is never opened: it is an unreadable entry, named in an error
or, with ``skip_bad``, skipped and listed. The feature cache is never read as input: a folder given
in ``exclude`` (``evaluate`` passes its ``cache_dir``), a folder laid out as a
:mod:`fastgan.evaluation.cache` entry and cache chunk files are left out of the listing.

File names need not be UTF-8: an undecodable name is read (it is fingerprinted by its bytes) and
shown with ``\\xNN`` escapes in messages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import re
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from fastgan.features.extract import (
    _ARRAY_EXTENSIONS,
    IMAGE_EXTENSIONS,
    _detect_layout,
    _file_type,
    _native_order,
    _read_file,
    _require_regular_file,
    _to_images,
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


def _show(path: Any) -> str:
    """``path`` for a message: a name that is not valid UTF-8 (undecodable bytes, which Python
    keeps as lone surrogates) is shown with ``\\xNN`` escapes, so that printing never fails."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def _quiet(where: Any) -> Iterator[None]:
    """Warnings of a file reader (numpy's overflow in a corrupt header, torch.load's notes on a
    legacy file, ...) are about its internals, not the user's input: logged at debug level, never
    shown on stderr. Dropped when the file is refused (its error says what is wrong)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        logger.debug("%s: the reader warned: %s", _show(where), w.message)


def _strip_path(path: Path, exc: BaseException) -> str:
    """``exc`` in one line without a leading ``"<path>: "`` (the caller names the file itself); the
    exception type is kept unless it is a ValueError that named the file (a reader's own message)."""
    msg = " ".join(str(exc).split())
    head = f"{path}: "
    if msg.startswith(head):
        rest = msg[len(head):]
        return rest if isinstance(exc, ValueError) else f"{type(exc).__name__}: {rest}"
    return f"{type(exc).__name__}: {msg or 'failed'}"


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


def _images_in_file(path: Path) -> int:
    """How many images ``path`` holds: 1 for an image file, n for an .npy/.npz stack [n, H, W, C].

    A malformed .npy / .npz (whatever numpy raises) is a ValueError; a path that is not a regular
    file is refused before it is opened."""
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        return 1
    _require_regular_file(path)
    try:
        if suffix == ".npy":
            with _quiet(path):
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return int(arr.shape[0]) if arr.ndim == 4 else 1
        with _quiet(path):
            z = np.load(path, allow_pickle=False)
            if isinstance(z, np.ndarray):  # a plain .npy under an .npz name
                return int(z.shape[0]) if z.ndim == 4 else 1
            with z:
                if len(z.files) != 1:
                    raise ValueError(f".npz must hold exactly one array, found {z.files}")
                a = z[z.files[0]]
                return int(a.shape[0]) if a.ndim == 4 else 1
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a malformed header / archive fails in many ways
        why = " ".join(str(exc).split())
        raise ValueError(f"not a valid {suffix} file ({type(exc).__name__}: {why})") from None


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
                _require_regular_file(f)
                try:
                    with _quiet(f):
                        arr = np.load(f, mmap_mode="r", allow_pickle=False)
                except Exception as exc:  # noqa: BLE001 -- any failure: the file is malformed
                    raise ValueError(f"{f}: not a valid .npy file ({_strip_path(f, exc)})") from None
            else:
                arr = _read_file(f)
            self._last = (fi, arr)
        return self._last[1]

    def __getitem__(self, i: int) -> tuple[int, Optional[torch.Tensor], Optional[str]]:
        fi, sub = self.items[i]
        path = self.files[fi]
        try:
            if sub < 0:
                arr = _read_file(path)
                img = _to_images(
                    arr, self.layout if arr.ndim == 4 else "auto", str(path), torch.float32, True
                )
                if img.shape[0] != 1:
                    raise ValueError(f"expected one image, found {img.shape[0]}")
            else:
                arr = self._array(fi)
                img = _to_images(arr[sub : sub + 1], self.layout, str(path), torch.float32, True)
            return i, img[0].contiguous(), None
        except ImportError:
            raise
        except _READ_ERRORS as exc:
            return i, None, f"{_show(path)}: {_strip_path(path, exc)}"


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
            d["path"] = _show(self.path)
        if self.origin == "loader":
            d["type"] = type(self.loader).__name__
        if self.sampler is not None:
            d["sampler"] = self.sampler.describe()
        if self.features is not None:
            d["dim"] = int(self.features.shape[1])
        if self.skipped:
            d["skipped"] = len(self.skipped)
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
            lay = _detect_layout(self.array.shape, self.layout, self.name)
            for a, b in _grid(start, stop, batch_size):
                x = _to_images(self.array[a:b], lay, self.name, torch.float32, True)
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
            if isinstance(batch, dict):
                key = next((k for k in ("image", "images", "img", "x") if k in batch), None)
                if key is None:
                    raise ValueError(
                        f"{self.name}: dataloader batch {i}: dict without an 'image'/'images' key "
                        f"(keys {list(batch)})"
                    )
                batch = batch[key]
            elif isinstance(batch, (tuple, list)):
                if not batch:
                    raise ValueError(f"{self.name}: dataloader batch {i}: empty")
                batch = batch[0]  # (images, labels, ...)
            x = _to_images(batch, self.layout, f"{self.name}: dataloader batch {i}", torch.float32, True)
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


#: a cache entry folder of :mod:`fastgan.evaluation.cache` (``cache_key``):
#: ``<label>-<extractor>-<preset>-w<weights12>-p<pipeline>-<key12>``
_CACHE_ENTRY_RE = re.compile(r"-w[0-9A-Za-z._-]+-p[0-9A-Za-z._]+-[0-9a-f]{12}$")
#: a cache chunk file (``FeatureCache.chunk_path``)
_CACHE_CHUNK_RE = re.compile(r"^chunk-b\d+-\d{10}-\d{10}\.npz$")


def _is_cache_entry(folder: Path) -> bool:
    """A folder named and filled as a feature-cache entry (a manifest or a chunk file inside)."""
    if not _CACHE_ENTRY_RE.search(folder.name):
        return False
    try:
        with os.scandir(folder) as it:
            return any(e.name == "manifest.json" or _CACHE_CHUNK_RE.match(e.name) for e in it)
    except OSError:
        return False


def _irregular(path: Path) -> Optional[str]:
    """Why ``path`` cannot be read as a file (``"<path>: reason"``), or None for a regular file.

    Only ``stat`` is called: a FIFO, a socket or a device is never opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"{_show(path)}: dangling symbolic link (to {_show(os.readlink(path))!r})"
        return f"{_show(path)}: does not exist"
    except OSError as exc:  # e.g. a symbolic link loop (ELOOP), permission denied
        return f"{_show(path)}: {type(exc).__name__}: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"{_show(path)}: not a regular file ({_file_type(mode)}); not opened"
    return None


def list_folder(
    root: Union[str, os.PathLike[str]], exclude: Sequence[Union[str, os.PathLike[str]]] = ()
) -> tuple[list[Path], list[str]]:
    """The image and ``.npy`` / ``.npz`` files under ``root``, and the entries that cannot be read.

    * The search is recursive and follows symbolic links to folders; each real folder (by its
      resolved path) is read once, so a link loop ends and a folder linked twice is not counted
      twice (the first path in sorted order is kept).
    * A regular file (or a link to one) with an image / array suffix is listed. A dangling link, a
      link loop, a FIFO, a socket or a device under such a name is not opened: it is returned in
      ``problems`` as ``"<path>: reason"``, as is a folder that cannot be listed.
    * Never read as input: the folders in ``exclude`` (e.g. the feature cache folder) and anything
      under them, folders laid out as a :mod:`fastgan.evaluation.cache` entry (named
      ``...-w<weights>-p<pipeline>-<key12>`` and holding ``manifest.json`` or ``chunk-*.npz``) and
      cache chunk files (``chunk-b<batch>-<start>-<stop>.npz``). ``root`` itself is always read.

    Returns:
        ``(files, problems)``: ``files`` sorted by path (each a path under ``root``, through the
        links followed), ``problems`` in the same order.
    """
    root = Path(root)
    exts = set(IMAGE_EXTENSIONS + _ARRAY_EXTENSIONS)
    excluded = {os.path.realpath(e) for e in exclude}
    seen: set[str] = set()
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            logger.debug("%s: already read (a symbolic link loop or a second link to it)", _show(folder))
            continue
        seen.add(real)
        if folder is not root and (real in excluded or _is_cache_entry(folder)):
            logger.debug("%s: not read as input (feature cache)", _show(folder))
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append((folder, f"{_show(folder)}: cannot list the folder ({exc.strerror or exc})"))
            continue
        subfolders: list[Path] = []
        for e in entries:
            path = folder / e.name
            try:
                is_dir = e.is_dir()  # follows a symbolic link
            except OSError:
                is_dir = False
            if is_dir:
                subfolders.append(path)
                continue
            suffix = os.path.splitext(e.name)[1].lower()
            if suffix not in exts:
                if e.is_symlink() and not os.path.exists(path):
                    logger.warning("%s: ignoring a dangling symbolic link", _show(path))
                continue
            if suffix == ".npz" and _CACHE_CHUNK_RE.match(e.name):
                continue
            why = _irregular(path)
            if why is None:
                files.append(path)
            else:
                problems.append((path, why))
        stack.extend(reversed(subfolders))  # depth first, in sorted order
    problems.sort(key=lambda t: t[0])
    return sorted(files), [why for _, why in problems]


def _unreadable(problems: list[str], *, name: str, where: str, skip_bad: bool) -> list[str]:
    """Entries that cannot be read: an ImageReadError naming them, or with ``skip_bad`` logged and
    returned (they join ``Source.skipped``)."""
    if problems and not skip_bad:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        raise ImageReadError(f"{name}: {len(problems)} unreadable entr{'y' if len(problems) == 1 else 'ies'} "
                             f"in {where}: {shown} ({_SKIP_HINT})")
    for why in problems:
        logger.warning("%s: skipping unreadable file %s", name, why)
    return list(problems)


def _open_files(
    files: list[Path],
    *,
    name: str,
    layout: str,
    skip_bad: bool,
    origin: str,
    root: Optional[Path],
    path: Optional[str],
    skipped: Optional[list[str]] = None,
) -> Source:
    items: list[tuple[int, int]] = []
    skipped = list(skipped or [])
    for fi, f in enumerate(files):
        if f.suffix.lower() in _ARRAY_EXTENSIONS:
            try:
                count = _images_in_file(f)
            except _READ_ERRORS as exc:
                msg = f"{_show(f)}: {_strip_path(f, exc)}"
                if not skip_bad:
                    raise ImageReadError(f"{name}: cannot read {msg} ({_SKIP_HINT})") from None
                logger.warning("%s: skipping unreadable file %s", name, msg)
                skipped.append(msg)
                continue
            if count == 1:
                items.append((fi, -1))
            else:  # a stack [n, H, W, C] (an empty one contributes nothing)
                items.extend((fi, j) for j in range(count))
        else:
            items.append((fi, -1))
    if not items:
        what = _show(path) if path else "the file list"
        raise ValueError(
            f"{name}: no readable images in {what}"
            + (f" ({len(skipped)} unreadable skipped, e.g. {skipped[0]})" if skipped else "")
        )
    fp = _file_fingerprint(files, root)
    return Source(
        kind="images",
        name=name,
        n=len(items),
        fingerprint=fp,
        origin=origin,
        path=path,
        layout=layout,
        skip_bad=skip_bad,
        skipped=skipped,
        files=files,
        items=items,
    )


#: what ``torch.load(weights_only=True)`` raises for a file that is not a (safe) tensor file
_TORCH_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile)
#: names under which a feature matrix is looked up in an .npz / a dict of tensors
_FEATURE_KEYS = ("features", "feats", "x")
#: suffixes of a single array file (features, statistics or an image stack)
ARRAY_FILE_SUFFIXES = (".npy", ".npz", ".pt", ".pth")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_error(where: str, what: str, exc: BaseException) -> ValueError:
    """The one-line error for a malformed file (a pickled object array named as such)."""
    if "pickle" in str(exc).lower() or "Python objects" in str(exc):
        return ValueError(f"{where}: contains a pickled object array; expected numeric arrays")
    return ValueError(f"{where}: {what} ({_first_line(exc)})")


def _pick_key(keys: Sequence[str], where: str, found: str, *, or_else: str = "") -> str:
    """The feature array among ``keys``: one named as in :data:`_FEATURE_KEYS`, else the only one."""
    named = [k for k in _FEATURE_KEYS if k in keys]
    if named:
        return named[0]
    if len(keys) != 1:
        raise ValueError(
            f"{where}: {found}; expected exactly one 2-D feature array [N, D] (or one named 'features')"
            f"{or_else}"
        )
    return keys[0]


def _file_features(x: Any, where: str) -> torch.Tensor:
    """A feature matrix read from a file: float, 2-D, at least 2 rows, finite (a ValueError if not)."""
    from fastgan._checks import check_features

    try:
        return check_features(x, where, min_rows=2)
    except TypeError:  # integer / bool / complex content of a file is a bad input, not a bug
        raise ValueError(
            f"{where}: holds integer/bool/complex values ({getattr(x, 'dtype', type(x).__name__)}); expected "
            "a float array [N, D] (were images saved where features were expected?)"
        ) from None


def _stack_source(arr: Any, p: Path, *, name: str, layout: str) -> Source:
    """A 3-D / 4-D array read from ``p``: one image or a stack ``[n, H, W, C]``."""
    st = p.stat()
    if arr.ndim == 3:
        arr = arr[None]
    _detect_layout(arr.shape, layout, f"{name} ({_show(p)})")
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


def _open_array_file(p: Path, *, name: str, layout: str) -> Source:
    """:func:`_read_array_file`, its readers' warnings not shown (see :func:`_quiet`)."""
    with _quiet(p):
        return _read_array_file(p, name=name, layout=layout)


def _read_array_file(p: Path, *, name: str, layout: str) -> Source:
    """A single ``.npy`` / ``.npz`` / ``.pt`` file: features [N, D], statistics (mu, sigma) or images.

    * ``.npy``: a float array ``[N, D]``, or an image / image stack (3-D / 4-D, memory-mapped);
    * ``.npz``: statistics (``mu`` ``[D]``, ``sigma`` ``[D, D]``, optional ``n``; read with
      :func:`fastgan.metrics.load_stats`), one image stack, or features: the array named
      ``features`` / ``feats`` / ``x``, else the only array;
    * ``.pt`` / ``.pth``: a tensor ``[N, D]`` or a dict holding one (or one named ``features``),
      read with ``torch.load(weights_only=True)`` (no code runs).

    No Python object is unpickled (numpy: ``allow_pickle=False``; torch: ``weights_only=True``).
    Every malformed file is a ValueError naming ``name`` and the path, whatever the reader raised;
    a path that is not a regular file (a FIFO would block) is refused before it is opened; a
    big-endian array is read in the machine's byte order; warnings of ``torch.load`` are not shown
    (logged at debug level).
    """
    where = f"{name}: {_show(p)}"
    suffix = p.suffix.lower()
    why = _irregular(p)
    if why is not None:
        raise ValueError(f"{name}: {why}")
    if suffix in (".npy", ".npz"):
        with open(p, "rb") as fh:
            magic = fh.read(6)
        if suffix == ".npy" and magic.startswith(b"PK"):
            raise ValueError(f"{where}: is an .npz archive; rename it to .npz")
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # np.load would try to unpickle it
            raise ValueError(f"{where}: not a valid {suffix} file (neither an .npy header nor a zip archive)")
    if suffix == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 -- a malformed header fails in many ways
            raise _read_error(where, "not a valid .npy file", exc) from None
        if arr.ndim in (3, 4):
            return _stack_source(arr, p, name=name, layout=layout)
        try:
            arr = _native_order(np.array(arr))
        except Exception as exc:  # noqa: BLE001
            raise _read_error(where, "not a valid .npy file", exc) from None
        return _features_source(_file_features(arr, where), name=name, path=str(p))
    if suffix == ".npz":
        return _open_npz(p, where, name=name, layout=layout)
    if suffix in (".pt", ".pth"):
        # torch.load warns on some files (legacy storages, sparse tensors, ...): see _quiet
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
            err: Optional[BaseException] = None
        except Exception as exc:  # noqa: BLE001 -- the weights-only unpickler raises KeyError, ...
            err = exc
        if err is not None:
            why = _first_line(err)
            if not isinstance(err, _TORCH_LOAD_ERRORS):
                why = f"{type(err).__name__}: {why}"
            if "weights_only" in str(err) or "Unsupported global" in str(err):
                why = "it contains Python objects that are not plain tensors (refused for safety)"
            raise ValueError(f"{where}: cannot load as a tensor file: {why}") from None
        if isinstance(obj, dict):
            tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            names = sorted(tensors)
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            obj = tensors[_pick_key(names, where, f"dict holds {len(names)} tensors ({shown})")]
        if not isinstance(obj, torch.Tensor):
            raise ValueError(f"{where}: expected a tensor [N, D], found {type(obj).__name__}")
        if obj.layout != torch.strided:
            raise ValueError(f"{where}: holds a {str(obj.layout).replace('torch.', '')} tensor; expected a "
                             "dense tensor [N, D] (convert it with .to_dense())")
        return _features_source(_file_features(obj.detach().cpu(), where), name=name, path=str(p))
    raise ValueError(
        f"{where}: unknown file type {suffix or '(none)'}; expected an image, "
        f"{', '.join(ARRAY_FILE_SUFFIXES)} or an image folder"
    )


def _open_npz(p: Path, where: str, *, name: str, layout: str) -> Source:
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 -- a malformed archive fails in many ways
        raise _read_error(where, "not a valid .npz file", exc) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a plain .npy under an .npz name
        archive = _native_order(archive)
        if archive.ndim in (3, 4):
            return _stack_source(archive, p, name=name, layout=layout)
        return _features_source(_file_features(archive, where), name=name, path=str(p))
    with archive:
        keys = list(archive.files)
        if "mu" in keys or "sigma" in keys:
            from fastgan.metrics import load_stats

            try:
                st = load_stats(p)
            except Exception as exc:  # noqa: BLE001 -- a malformed archive fails in many ways
                msg = " ".join(str(exc).split()).replace(f"load_stats: {p}: ", "")
                if not isinstance(exc, (ValueError, OSError)):
                    msg = f"{type(exc).__name__}: {msg}"
                raise ValueError(f"{where}: invalid statistics file: {msg}") from None
            return _stats_source(st, name=name, path=str(p))
        try:
            arrays = {k: _native_order(archive[k]) for k in keys}
        except Exception as exc:  # noqa: BLE001 -- a malformed member fails in many ways
            raise _read_error(where, "malformed .npz member", exc) from None
    if len(arrays) == 1 and next(iter(arrays.values())).ndim in (3, 4):
        return _stack_source(next(iter(arrays.values())), p, name=name, layout=layout)
    candidates = [k for k in keys if k in _FEATURE_KEYS or arrays[k].ndim == 2]
    stats_hint = " or 'mu' and 'sigma' (statistics)"
    key = _pick_key(candidates, where, f".npz holds arrays {keys}", or_else=stats_hint)
    return _features_source(_file_features(arrays[key], where), name=name, path=str(p))


#: the largest feature magnitude accepted: float32's largest finite value (larger values become
#: inf in float32, and their squares overflow even float64: no network produces them)
_FEATURE_MAX = float(torch.finfo(torch.float32).max)


def _features_source(x: Any, *, name: str, path: Optional[str] = None) -> Source:
    from fastgan._checks import check_features

    where = f"{name}: {_show(path)}" if path else name
    if isinstance(x, np.ndarray):
        x = _native_order(x)
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
            files, problems = list_folder(p, exclude)
            if not files and not problems:
                raise ValueError(
                    f"{name}: no image files ({', '.join(IMAGE_EXTENSIONS)}) or .npy/.npz image arrays "
                    f"under {_show(p)!r}"
                )
            skipped = _unreadable(problems, name=name, where=repr(_show(p)), skip_bad=skip_bad)
            return _open_files(
                files, name=name, layout=layout, skip_bad=skip_bad, origin="folder", root=p, path=str(p),
                skipped=skipped,
            )
        if not os.path.lexists(p):
            raise FileNotFoundError(f"{name}: {_show(p)!r} does not exist")
        why = _irregular(p)  # a dangling link, a FIFO (reading it would block), ...: refused unopened
        if why is not None:
            raise ImageReadError(f"{name}: cannot read {why}")
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            return _open_files(
                [p], name=name, layout=layout, skip_bad=skip_bad, origin="files", root=p.parent, path=str(p)
            )
        return _open_array_file(p, name=name, layout=layout)
    if isinstance(x, (list, tuple)) and x and all(_is_path(f) for f in x):
        files = [Path(f) for f in x]
        missing = [_show(f) for f in files if not os.path.lexists(f)]
        if missing:
            raise FileNotFoundError(f"{name}: {len(missing)} file(s) do not exist, e.g. {missing[0]!r}")
        reasons = [_irregular(f) for f in files]
        problems = [why for why in reasons if why is not None]
        skipped = _unreadable(problems, name=name, where="the file list", skip_bad=skip_bad)
        files = [f for f, why in zip(files, reasons) if why is None]
        return _open_files(
            files, name=name, layout=layout, skip_bad=skip_bad, origin="files", root=None, path=None,
            skipped=skipped,
        )
    if isinstance(x, (torch.Tensor, np.ndarray)):
        if isinstance(x, np.ndarray):
            x = _native_order(x)
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
        lay = _detect_layout(x.shape, layout, name)
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
