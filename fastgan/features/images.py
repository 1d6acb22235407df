"""The image IO of fastgan, in one place: list a folder, decode a file, detect the layout, batch.

Both :func:`fastgan.features.extract_features` and :mod:`fastgan.evaluation.sources` (so
:func:`fastgan.evaluate` and the ``fastgan`` command) read images only through this module, so
the two give the same pixels for the same input.

* Listing (:func:`list_folder`, :func:`list_image_files`): recursive, sorted by path, following
  links to folders (each real folder read once); a dangling link, a FIFO, a socket or a device under
  an image / array name is never opened (:func:`unreadable_reason`); the feature cache
  (:mod:`fastgan.evaluation.cache` entries and chunk files, or folders passed in ``exclude``) is
  never listed as input.
* Decoding (:func:`read_file`, :func:`pil_to_array`, :func:`count_images`): 8-bit, 16-bit, 32-bit
  integer and float images in the 8-bit convention, ``.npy`` / ``.npz`` arrays without unpickling,
  decompression bombs refused, every malformed file a one-line ``ValueError`` naming it.
* Layout and batching (:func:`detect_layout`, :func:`to_images`, :func:`to_float_images`,
  :func:`unpack_batch`, :func:`file_batches`, :func:`stack_resized`): images -> uint8 or float
  ``[N, 3, H, W]``.

File names need not be UTF-8: :func:`show_path` shows an undecodable name with ``\\xNN`` escapes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from fastgan.features.resize import resize_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "ARRAY_EXTENSIONS",
    "show_path",
    "quiet_warnings",
    "strip_path",
    "file_type",
    "require_regular_file",
    "unreadable_reason",
    "list_folder",
    "list_image_files",
    "native_order",
    "pil_to_array",
    "read_file",
    "count_images",
    "detect_layout",
    "to_images",
    "to_float_images",
    "unpack_batch",
    "file_batches",
    "stack_resized",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
ARRAY_EXTENSIONS = (".npy", ".npz")


def show_path(path: Any) -> str:
    """``path`` for a message: a name that is not valid UTF-8 (undecodable bytes, which Python
    keeps as lone surrogates) is shown with ``\\xNN`` escapes, so that printing never fails."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def quiet_warnings(where: Any) -> Iterator[None]:
    """Warnings of a file reader (numpy's overflow in a corrupt header, torch.load's notes on a
    legacy file, ...) are about its internals, not the user's input: logged at debug level, never
    shown on stderr. Dropped when the file is refused (its error says what is wrong)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        logger.debug("%s: the reader warned: %s", show_path(where), w.message)


def strip_path(path: Path, exc: BaseException) -> str:
    """``exc`` in one line without a leading ``"<path>: "`` (the caller names the file itself); the
    exception type is kept unless it is a ValueError that named the file (a reader's own message)."""
    msg = " ".join(str(exc).split())
    head = f"{path}: "
    if msg.startswith(head):
        rest = msg[len(head) :]
        return rest if isinstance(exc, ValueError) else f"{type(exc).__name__}: {rest}"
    return f"{type(exc).__name__}: {msg or 'failed'}"


# ------------------------------------------------------------------------------ files and folders
def require_regular_file(path: Path) -> None:
    """Refuse (before anything opens it) a path that is not a regular file: a FIFO would block
    the reader forever, a device or socket is no image. A ValueError naming the path."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise ValueError(f"{path}: dangling symbolic link (to {os.readlink(path)!r})") from None
        raise
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file ({file_type(mode)}); refused without opening it")


def file_type(mode: int) -> str:
    """``st_mode`` -> what the path is, in words."""
    for test, what in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO / named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def unreadable_reason(path: Path) -> Optional[str]:
    """Why ``path`` cannot be read as a file (``"<path>: reason"``), or None for a regular file.

    Only ``stat`` is called: a FIFO, a socket or a device is never opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return f"{show_path(path)}: dangling symbolic link (to {show_path(os.readlink(path))!r})"
        return f"{show_path(path)}: does not exist"
    except OSError as exc:  # e.g. a symbolic link loop (ELOOP), permission denied
        return f"{show_path(path)}: {type(exc).__name__}: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"{show_path(path)}: not a regular file ({file_type(mode)}); not opened"
    return None


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
    exts = set(IMAGE_EXTENSIONS + ARRAY_EXTENSIONS)
    excluded = {os.path.realpath(e) for e in exclude}
    seen: set[str] = set()
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            logger.debug("%s: already read (a symbolic link loop or a second link to it)", show_path(folder))
            continue
        seen.add(real)
        if folder is not root and (real in excluded or _is_cache_entry(folder)):
            logger.debug("%s: not read as input (feature cache)", show_path(folder))
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append((folder, f"{show_path(folder)}: cannot list the folder ({exc.strerror or exc})"))
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
                    logger.warning("%s: ignoring a dangling symbolic link", show_path(path))
                continue
            if suffix == ".npz" and _CACHE_CHUNK_RE.match(e.name):
                continue
            why = unreadable_reason(path)
            if why is None:
                files.append(path)
            else:
                problems.append((path, why))
        stack.extend(reversed(subfolders))  # depth first, in sorted order
    problems.sort(key=lambda t: t[0])
    return sorted(files), [why for _, why in problems]


def list_image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image and .npy/.npz files under ``folder`` (recursive, following links to folders), sorted by
    path, as :func:`list_folder` lists them; an entry that cannot be read (a dangling link, a FIFO,
    ...) is a ValueError naming it."""
    files, problems = list_folder(folder)
    if problems:
        raise ValueError(f"{folder}: {len(problems)} unreadable entries, e.g. {problems[0]}")
    return files


# --------------------------------------------------------------------------------------- decoding
def native_order(a: np.ndarray) -> np.ndarray:
    """``a`` in the machine's byte order (a big-endian ``>f4`` .npy becomes ``float32``)."""
    if not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def pil_to_array(im: Any, path: Path) -> np.ndarray:
    """A Pillow image -> uint8 array [H, W, 3] in the 8-bit convention every preset expects.

    * 8-bit modes (``L``, ``P``, ``RGB``, ``RGBA``, ``CMYK``, ``1``, ...): ``convert("RGB")``.
    * 16-bit greyscale (``I;16`` / ``I;16B`` / ``I;16L``, e.g. a 16-bit PNG or TIFF) and 32-bit
      integer ``I`` images holding 16-bit values (0..65535): the high byte, ``value >> 8``. That is
      how Pillow itself decodes 16-bit RGB / RGBA PNGs, so a 16-bit picture gives the same pixels
      whether it was stored grey or RGB. (``convert("RGB")`` would clip every value above 255 to
      white.) An ``I`` image with values outside 0..65535 is refused: its scale is unknown.
    * 32-bit float (``F``, e.g. a float TIFF): values in [0, 1] -> ``round(value * 255)``; NaN /
      Inf or values outside [0, 1] (beyond the 1e-3 tolerance of :func:`to_float_images`) are
      refused, naming the file.

    Grey results are repeated to three channels.
    """
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im)
        if a.ndim != 2:
            raise ValueError(f"{path}: unsupported {mode} image of shape {a.shape}")
        if mode == "I" and a.size and (int(a.min()) < 0 or int(a.max()) > 65535):
            raise ValueError(
                f"{path}: 32-bit integer image (mode I) with values in [{int(a.min())}, {int(a.max())}]: "
                "outside 0..65535, its scale is unknown; save it as 8- or 16-bit"
            )
        g = (a.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        if a.size and not np.isfinite(a).all():
            raise ValueError(f"{path}: float image holds {int((~np.isfinite(a)).sum())} NaN / Inf value(s)")
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                f"{path}: float image values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}] "
                "(rescale it, or save it as 8-bit)"
            )
        g = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB"))


def read_file(path: Path) -> np.ndarray:
    """One file -> uint8/float array [n, H, W, C] or [H, W, C].

    Any malformed file is a one-line ``ValueError`` starting with ``path`` (``FileNotFoundError``
    when it does not exist): a path that is not a regular file (a FIFO would block the reader;
    checked before opening), an image larger than Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS`` pixels, checked from the header before decoding; raise that
    limit for trusted files), a failure of numpy or of a Pillow decoder of any kind. High-bit-depth
    and float images are decoded as :func:`pil_to_array` says. Pillow's warnings about a file
    (corrupt EXIF data, ...) are logged naming it.
    """
    require_regular_file(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        try:
            with warnings.catch_warnings():  # e.g. numpy's overflow warning on a corrupt header
                warnings.simplefilter("ignore")
                if suffix == ".npy":  # mapped first: a header declaring more data than the file holds
                    # fails here, before anything is allocated for it
                    return native_order(np.array(np.load(path, mmap_mode="r", allow_pickle=False)))
                z = np.load(path, allow_pickle=False)
                if isinstance(z, np.ndarray):  # a plain .npy under an .npz name
                    return native_order(z)
                with z:
                    if len(z.files) != 1:
                        raise ValueError(f"{path}: .npz must hold exactly one array, found {z.files}")
                    return native_order(z[z.files[0]])
        except Exception as exc:  # noqa: BLE001 -- a malformed header / archive fails in many ways
            raise _named(path, exc) from None
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            f"{path}: reading {suffix} images needs Pillow (`pip install pillow`); without it, pass a tensor, "
            "a numpy array, or a folder of .npy files"
        ) from e
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # above MAX_IMAGE_PIXELS Pillow only warns (an error above twice that): refuse both
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                arr = pil_to_array(im, path)
        for w in caught:  # e.g. "Corrupt EXIF data": said once per file, naming it
            logger.warning("%s: %s", path, " ".join(str(w.message).split()))
        return arr
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(
            f"{path}: refused as a possible decompression bomb ({' '.join(str(exc).split())}); "
            "raise PIL.Image.MAX_IMAGE_PIXELS to read a trusted file this large"
        ) from None
    except Exception as exc:  # noqa: BLE001 -- decoders of malformed files raise struct.error, ...
        raise _named(path, exc) from None


def _named(path: Path, exc: BaseException) -> ValueError:
    """``exc`` as a one-line ``ValueError`` starting with ``path`` (kept when it already does)."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, ValueError) and msg.startswith(f"{path}: "):
        return ValueError(msg)
    return ValueError(f"{path}: {type(exc).__name__}: {msg or 'failed'}")


def count_images(path: Path) -> int:
    """How many images ``path`` holds: 1 for an image file, n for an .npy/.npz stack [n, H, W, C].

    A malformed .npy / .npz (whatever numpy raises) is a ValueError, as is a stack whose images hold
    no pixels (a zero height, width or channel count: such a header can declare billions of images
    in a few bytes); a path that is not a regular file is refused before it is opened."""
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        return 1
    require_regular_file(path)
    try:
        if suffix == ".npy":
            with quiet_warnings(path):
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return _stack_count(arr.shape)
        with quiet_warnings(path):
            z = np.load(path, allow_pickle=False)
            if isinstance(z, np.ndarray):  # a plain .npy under an .npz name
                return _stack_count(z.shape)
            with z:
                if len(z.files) != 1:
                    raise ValueError(f".npz must hold exactly one array, found {z.files}")
                a = z[z.files[0]]
                return _stack_count(a.shape)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a malformed header / archive fails in many ways
        why = " ".join(str(exc).split())
        raise ValueError(f"not a valid {suffix} file ({type(exc).__name__}: {why})") from None


def _stack_count(shape: Sequence[int]) -> int:
    """Images in an array of ``shape``: n for a stack [n, H, W, C], else 1 (one image)."""
    if len(shape) != 4:
        return 1
    if 0 in tuple(shape[1:]):
        raise ValueError(f"image stack of shape {tuple(shape)} holds no pixels")
    return int(shape[0])


# ----------------------------------------------------------------------------- layout and batches
def detect_layout(shape: Sequence[int], layout: str, name: str) -> str:
    if layout in ("NCHW", "NHWC"):
        return layout
    if layout != "auto":
        raise ValueError(f"layout: must be 'auto', 'NCHW' or 'NHWC', got {layout!r}")
    c_first, c_last = shape[1] in (1, 3), shape[-1] in (1, 3)
    if c_first and not c_last:
        return "NCHW"
    if c_last and not c_first:
        return "NHWC"
    raise ValueError(
        f"{name}: cannot tell channels-first from channels-last for shape {tuple(shape)}; pass layout='NCHW' or 'NHWC'"
    )


def to_float_images(
    x: Any, layout: str = "auto", name: str = "images", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Images -> float Tensor[N, 3, H, W] in [0, 1].

    Accepts uint8 (divided by 255) or float in [0, 1], Tensor or numpy, [N, H, W, C] or
    [N, C, H, W] (C = 1 is repeated to 3 channels, C = 4 drops alpha), or one image [H, W, C] /
    [C, H, W] / [H, W]. Float values outside [0, 1] (beyond 1e-3) are refused: images in
    [-1, 1] or 0..255 floats are a frequent silent bug.
    """
    return to_images(x, layout, name, dtype, keep_uint8=False)


def to_images(
    x: Any,
    layout: str = "auto",
    name: str = "images",
    dtype: torch.dtype = torch.float32,
    keep_uint8: bool = False,
) -> torch.Tensor:
    """:func:`to_float_images`, or with ``keep_uint8`` uint8 images stay uint8 [N, 3, H, W] (the
    feature networks scale uint8 themselves); float images become ``dtype`` either way."""
    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(native_order(x))
        t = torch.from_numpy(x if x.flags.writeable else x.copy())
    else:
        t = x
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a Tensor or numpy array, got {type(x).__name__}")
    if t.dim() == 2:
        t = t[None, None]
        layout = "NCHW"
    elif t.dim() == 3:
        t = t[None]
    if t.dim() != 4:
        raise ValueError(f"{name}: expected images [N, H, W, C] or [N, C, H, W], got shape {tuple(t.shape)}")
    if detect_layout(t.shape, layout, name) == "NHWC" or (
        layout == "auto" and t.shape[-1] == 4 and t.shape[1] != 4
    ):
        t = t.permute(0, 3, 1, 2)
    if t.dtype == torch.uint8:
        if not keep_uint8:
            t = t.to(dtype) / 255.0
    elif t.is_floating_point():
        t = t.to(dtype)
        if t.numel():
            lo, hi = float(t.min()), float(t.max())
            if lo < -1e-3 or hi > 1 + 1e-3:
                raise ValueError(
                    f"{name}: float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                    "(map [-1, 1] images with (x + 1) / 2, or pass uint8)"
                )
            t = t.clamp(0, 1)
    else:
        raise TypeError(f"{name}: expected uint8 or floating images, got {t.dtype}")
    c = t.shape[1]
    if c == 1:
        t = t.expand(-1, 3, -1, -1)
    elif c == 4:
        t = t[:, :3]
    elif c != 3:
        raise ValueError(f"{name}: expected 1, 3 or 4 channels, got {c} (shape {tuple(t.shape)})")
    return t


def unpack_batch(batch: Any, where: str) -> Any:
    """The images of one DataLoader batch: the batch itself, the first element of a tuple / list
    (``(images, labels, ...)``), or the ``"image"`` / ``"images"`` / ``"img"`` / ``"x"`` entry of a
    dict; ``where`` (e.g. ``"dataloader batch 3"``) starts the ValueError of an unusable batch."""
    if isinstance(batch, dict):
        key = next((k for k in ("image", "images", "img", "x") if k in batch), None)
        if key is None:
            raise ValueError(f"{where}: dict without an 'image'/'images' key (keys {list(batch)})")
        return batch[key]
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise ValueError(f"{where}: empty")
        return batch[0]  # (images, labels, ...)
    return batch


def file_batches(
    files: Sequence[Path], batch_size: int, layout: str, keep_uint8: bool = False
) -> Iterator[list[torch.Tensor]]:
    """The images of ``files``, in order, decoded (:func:`read_file`, :func:`to_images`) into lists
    of ``batch_size`` single images [3, H, W] (the last list shorter); sizes may differ."""
    buf: list[torch.Tensor] = []
    for f in files:
        arr = read_file(f)
        imgs = to_images(arr, layout if arr.ndim == 4 else "auto", str(f), torch.float32, keep_uint8)
        for img in imgs:
            buf.append(img)
            if len(buf) == batch_size:
                yield buf
                buf = []
    if buf:
        yield buf


def stack_resized(imgs: Sequence[torch.Tensor], size: Optional[tuple[int, int]], mode: str) -> torch.Tensor:
    """Single images [3, H, W] -> one batch: stacked when their sizes agree (resized later, as one
    batch), else each resized to ``size`` first; different sizes without a target are a ValueError."""
    shapes = {tuple(im.shape[-2:]) for im in imgs}
    if size is None or mode == "none":
        if len(shapes) > 1:
            raise ValueError(
                f"images have different sizes {sorted(shapes)[:4]} and no target size is known; pass image_size=..."
            )
        return torch.stack(list(imgs))
    if len(shapes) == 1:
        return torch.stack(list(imgs))  # resized later as one batch
    return torch.cat([resize_images(im[None], size, mode) for im in imgs])
