"""Batched feature extraction from tensors, arrays, image folders or data loaders."""

from __future__ import annotations

import logging
import os
import stat
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fastgan._checks import check_positive_int
from fastgan.features.presets import get_preset
from fastgan.features.resize import RESIZE_MODES, resize_images

__all__ = ["extract_features", "build_extractor", "IMAGE_EXTENSIONS", "list_image_files", "to_float_images"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_ARRAY_EXTENSIONS = (".npy", ".npz")

Extractor = Union[nn.Module, Callable[[torch.Tensor], torch.Tensor], str]


def build_extractor(name: str, weights: Optional[str] = None, device: Optional[torch.device | str] = None, **kwargs: Any) -> nn.Module:
    """``"inception"`` -> :class:`InceptionV3FID`, ``"vgg16"`` -> :class:`VGG16FC2`, a name of
    :data:`fastgan.features.foundation.FOUNDATION_NAMES` (``"dinov2-vit-l14"``, ``"clip-vit-l14-336"``,
    ...) -> :class:`~fastgan.features.foundation.FoundationExtractor` (weights loaded; ``kwargs`` such
    as ``preset=`` / ``resize=`` go to the constructor; an Inception preset name is ignored by the
    foundation extractors, which take ``"dgm-eval"`` / ``"cmmd"``)."""
    from fastgan.features.foundation import FOUNDATION_NAMES, FOUNDATION_PRESETS, build_foundation_extractor
    from fastgan.features.inception import InceptionV3FID
    from fastgan.features.vgg import VGG16FC2

    if name.lower().replace("_", "-") in FOUNDATION_NAMES:
        if kwargs.pop("resize", None) is not None:
            raise ValueError(
                f"resize: {name} resizes as its preset says ({tuple(FOUNDATION_PRESETS)}); drop resize="
            )
        preset = kwargs.pop("preset", None)
        if preset is not None and preset not in FOUNDATION_PRESETS:
            preset = None  # the Inception presets pin the Inception / VGG pipelines only
        return build_foundation_extractor(name, weights=weights, device=device, preset=preset, **kwargs)
    key = name.lower().replace("-", "").replace("_", "")
    table: dict[str, Any] = {"inception": InceptionV3FID, "inceptionv3": InceptionV3FID, "vgg16": VGG16FC2, "vgg": VGG16FC2}
    if key not in table:
        raise ValueError(
            f"extractor: unknown name {name!r}; use 'inception', 'vgg16' or one of {FOUNDATION_NAMES}, "
            "or pass an nn.Module"
        )
    model: nn.Module = table[key](weights=weights, **kwargs)
    return model.to(device) if device is not None else model


def list_image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image and .npy/.npz files under ``folder`` (recursive, following links to folders), sorted by
    path, as :func:`fastgan.evaluation.sources.list_folder` lists them; an entry that cannot be read
    (a dangling link, a FIFO, ...) is a ValueError naming it."""
    from fastgan.evaluation.sources import list_folder

    files, problems = list_folder(folder)
    if problems:
        raise ValueError(f"{folder}: {len(problems)} unreadable entries, e.g. {problems[0]}")
    return files


def _detect_layout(shape: Sequence[int], layout: str, name: str) -> str:
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


def to_float_images(x: Any, layout: str = "auto", name: str = "images", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Images -> float Tensor[N, 3, H, W] in [0, 1].

    Accepts uint8 (divided by 255) or float in [0, 1], Tensor or numpy, [N, H, W, C] or
    [N, C, H, W] (C = 1 is repeated to 3 channels, C = 4 drops alpha), or one image [H, W, C] /
    [C, H, W] / [H, W]. Float values outside [0, 1] (beyond 1e-3) are refused: images in
    [-1, 1] or 0..255 floats are a frequent silent bug.
    """
    return _to_images(x, layout, name, dtype, keep_uint8=False)


def _to_images(x: Any, layout: str, name: str, dtype: torch.dtype, keep_uint8: bool) -> torch.Tensor:
    """:func:`to_float_images`, or with ``keep_uint8`` uint8 images stay uint8 [N, 3, H, W]."""
    if isinstance(x, np.ndarray):
        x = np.ascontiguousarray(_native_order(x))
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
    if _detect_layout(t.shape, layout, name) == "NHWC" or (layout == "auto" and t.shape[-1] == 4 and t.shape[1] != 4):
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


def _require_regular_file(path: Path) -> None:
    """Refuse (before anything opens it) a path that is not a regular file: a FIFO would block
    the reader forever, a device or socket is no image. A ValueError naming the path."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise ValueError(f"{path}: dangling symbolic link (to {os.readlink(path)!r})") from None
        raise
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file ({_file_type(mode)}); refused without opening it")


def _file_type(mode: int) -> str:
    """``st_mode`` -> what the path is, in words."""
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO / named pipe"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def _native_order(a: np.ndarray) -> np.ndarray:
    """``a`` in the machine's byte order (a big-endian ``>f4`` .npy becomes ``float32``)."""
    if not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def _pil_to_array(im: Any, path: Path) -> np.ndarray:
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


def _read_file(path: Path) -> np.ndarray:
    """One file -> uint8/float array [n, H, W, C] or [H, W, C].

    Any malformed file is a one-line ``ValueError`` starting with ``path`` (``FileNotFoundError``
    when it does not exist): a path that is not a regular file (a FIFO would block the reader;
    checked before opening), an image larger than Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS`` pixels, checked from the header before decoding; raise that
    limit for trusted files), a failure of numpy or of a Pillow decoder of any kind. High-bit-depth
    and float images are decoded as :func:`_pil_to_array` says. Pillow's warnings about a file
    (corrupt EXIF data, ...) are logged naming it.
    """
    _require_regular_file(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        try:
            with warnings.catch_warnings():  # e.g. numpy's overflow warning on a corrupt header
                warnings.simplefilter("ignore")
                if suffix == ".npy":  # mapped first: a header declaring more data than the file holds
                    # fails here, before anything is allocated for it
                    return _native_order(np.array(np.load(path, mmap_mode="r", allow_pickle=False)))
                z = np.load(path, allow_pickle=False)
                if isinstance(z, np.ndarray):  # a plain .npy under an .npz name
                    return _native_order(z)
                with z:
                    if len(z.files) != 1:
                        raise ValueError(f"{path}: .npz must hold exactly one array, found {z.files}")
                    return _native_order(z[z.files[0]])
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
                arr = _pil_to_array(im, path)
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


def _file_batches(files: Sequence[Path], batch_size: int, layout: str, keep_uint8: bool = False) -> Iterator[list[torch.Tensor]]:
    buf: list[torch.Tensor] = []
    for f in files:
        arr = _read_file(f)
        imgs = _to_images(arr, layout if arr.ndim == 4 else "auto", str(f), torch.float32, keep_uint8)
        for img in imgs:
            buf.append(img)
            if len(buf) == batch_size:
                yield buf
                buf = []
    if buf:
        yield buf


def _loader_batches(loader: Iterable[Any], layout: str, keep_uint8: bool = False) -> Iterator[torch.Tensor]:
    for i, batch in enumerate(loader):
        if isinstance(batch, dict):
            key = next((k for k in ("image", "images", "img", "x") if k in batch), None)
            if key is None:
                raise ValueError(f"dataloader batch {i}: dict without an 'image'/'images' key (keys {list(batch)})")
            batch = batch[key]
        elif isinstance(batch, (tuple, list)):
            if not batch:
                raise ValueError(f"dataloader batch {i}: empty")
            batch = batch[0]  # (images, labels, ...)
        yield _to_images(batch, layout, f"dataloader batch {i}", torch.float32, keep_uint8)


def _stack_resized(imgs: Sequence[torch.Tensor], size: Optional[tuple[int, int]], mode: str) -> torch.Tensor:
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


def _native_input(net: Any, b: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A batch (Tensor, or list of single images) -> the network's preprocessed input."""
    imgs = list(b) if isinstance(b, list) else [b]
    if isinstance(b, list) and len({(tuple(im.shape), im.dtype) for im in imgs}) == 1:
        imgs = [torch.stack(imgs)]
    elif isinstance(b, list):
        imgs = [im[None] for im in imgs]  # mixed sizes / dtypes: one image at a time
    return torch.cat([net.preprocess(im.to(device, non_blocking=True), dtype) for im in imgs])


def _module_device(extractor: Any) -> Optional[torch.device]:
    if isinstance(extractor, nn.Module):
        for p in extractor.parameters():
            return p.device
        for b in extractor.buffers():
            return b.device
    return None


def extract_features(
    images: Any,
    extractor: Extractor = "inception",
    batch_size: int = 50,
    device: Optional[torch.device | str] = None,
    progress: Optional[bool] = None,
    *,
    weights: Optional[str] = None,
    return_logits: bool = False,
    resize: Optional[str] = None,
    image_size: Optional[int | tuple[int, int]] = None,
    layout: str = "auto",
    dtype: torch.dtype = torch.float32,
    preset: Optional[str] = None,
) -> Any:
    """Embed images with a feature network, in batches.

    Args:
        images: one of
            * uint8 Tensor / ndarray [N, H, W, 3] or [N, 3, H, W] (values 0..255), or float in [0, 1];
            * a folder (searched recursively, sorted by path) of PNG/JPG/... images (needs
              Pillow) and/or ``.npy``/``.npz`` arrays (one image [H, W, C] or a stack [n, H, W, C]);
            * a list of such file paths, or the path of a single ``.npy``/``.npz`` file;
            * a DataLoader / iterable of batches (Tensor, ``(images, labels)`` or a dict with
              an ``"image"``/``"images"`` key).
        extractor: an ``nn.Module`` or any callable ``Tensor[B, 3, H, W] in [0, 1] -> Tensor[B, D]``,
            or ``"inception"`` / ``"vgg16"`` (built with ``weights=``).
        batch_size: images per forward pass.
        device: where the network runs (default: the module's parameter device, else CPU).
            A network built from a name is moved there.
        progress: progress bar on stderr (None: only when stderr is a terminal).
        weights: weights file for a named extractor.
        return_logits: also return classifier logits (needs an extractor with
            ``features_and_logits``, e.g. :class:`InceptionV3FID`: unbiased 1008-way logits for IS).
        resize: resize mode (:data:`fastgan.features.resize.RESIZE_MODES`); default: the
            extractor's ``resize`` attribute, else ``"bilinear"`` (no antialias, the pytorch-fid
            convention; see :mod:`fastgan.features.resize` for why).
        image_size: target size; default the extractor's ``input_size`` (299 Inception,
            224 VGG); None and no attribute: no resize.
        layout: ``"auto"`` (from where the size-3 axis is), ``"NCHW"`` or ``"NHWC"``.
        dtype: image dtype fed to the network (float32 by default).
        preset: ``"pytorch-fid"`` (default), ``"torch-fidelity"`` or ``"clean-fid"``
            (:mod:`fastgan.features.presets`): resize, pixel scaling and dtype of that reference.
            For a named extractor it is passed to the network; a given network must have been
            built with the same preset. fastgan's networks (:class:`InceptionV3FID`,
            :class:`VGG16FC2`) receive uint8 images as uint8, so every preset is exact on them.

    Returns:
        Tensor[N, D] on the CPU (float32 unless the network returns float64), or
        ``(features, logits)`` with ``return_logits=True``. A network in training mode is
        switched to eval for the call and restored afterwards.

    >>> net = InceptionV3FID(random_init=True)  # doctest: +SKIP
    >>> extract_features(torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8), net).shape  # doctest: +SKIP
    torch.Size([4, 2048])
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(extractor, str):
        kw: dict[str, Any] = {"resize": resize} if resize else {}
        if preset is not None:
            kw["preset"] = preset
        extractor = build_extractor(extractor, weights=weights, device=device, **kw)
    elif weights is not None:
        raise ValueError(
            "weights: only used when extractor is given by name ('inception', 'vgg16', 'dinov2-vit-l14', ...)"
        )
    if not callable(extractor):
        raise TypeError(f"extractor: expected an nn.Module, a callable or a name, got {type(extractor).__name__}")
    if preset is not None and hasattr(extractor, "foundation_preset"):
        have_f = extractor.foundation_preset.name  # type: ignore[union-attr]
        if preset != have_f and preset in ("dgm-eval", "cmmd"):
            raise ValueError(f"preset: the extractor was built with preset {have_f!r}, not {preset!r}")
    elif preset is not None:
        want = get_preset(preset)
        have = getattr(extractor, "preset", None)
        if have is None:
            raise ValueError(
                "preset: applies to fastgan's feature networks only (a name, InceptionV3FID or VGG16FC2); "
                "this extractor defines its own preprocessing"
            )
        if get_preset(have).name != want.name:
            raise ValueError(
                f"preset: the extractor was built with preset {get_preset(have).name!r}, not {want.name!r}; "
                f"build it with preset={want.name!r} or pass the extractor by name"
            )
    run_device = torch.device(device) if device is not None else (_module_device(extractor) or torch.device("cpu"))
    if isinstance(extractor, nn.Module) and device is not None:
        mdev = _module_device(extractor)
        if mdev is not None and mdev != run_device:
            extractor = extractor.to(run_device)
    mode = resize if resize is not None else getattr(extractor, "resize", "bilinear")
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize: must be one of {RESIZE_MODES}, got {mode!r}")
    size_attr = image_size if image_size is not None else getattr(extractor, "input_size", None)
    size: Optional[tuple[int, int]] = None
    if size_attr is not None and mode != "none":
        size = (int(size_attr), int(size_attr)) if isinstance(size_attr, int) else (int(size_attr[0]), int(size_attr[1]))
    if return_logits and not hasattr(extractor, "features_and_logits"):
        raise ValueError("return_logits: the extractor has no features_and_logits method (use InceptionV3FID)")
    fn: Callable[[torch.Tensor], Any] = extractor.features_and_logits if return_logits else extractor  # type: ignore[union-attr]
    # fastgan's networks preprocess (resize, scale) themselves, from uint8 when given uint8
    native = (
        isinstance(extractor, nn.Module) and hasattr(extractor, "preprocess") and hasattr(extractor, "embed")
        and image_size is None
    )
    if native:
        size = None
        emb = extractor.embed  # type: ignore[union-attr]
        fn = (lambda t: emb(t, with_logits=True)) if return_logits else emb

    # -- batches of float [0, 1] images, plus the total count when known
    total: Optional[int] = None
    batches: Iterable[Any]
    if isinstance(images, (str, os.PathLike)):
        p = Path(images)
        if p.is_dir():
            files = list_image_files(p)
            if not files:
                raise ValueError(f"images: no image or .npy/.npz files found under {str(p)!r}")
            batches = _file_batches(files, batch_size, layout, native)
            total = None if any(f.suffix.lower() in _ARRAY_EXTENSIONS for f in files) else len(files)
        elif p.is_file():
            if p.suffix.lower() in _ARRAY_EXTENSIONS:
                images = _read_file(p)
            else:
                batches = _file_batches([p], batch_size, layout, native)
                total = 1
        else:
            raise FileNotFoundError(f"images: {str(p)!r} does not exist")
    elif isinstance(images, (list, tuple)) and images and all(isinstance(f, (str, os.PathLike)) for f in images):
        files = [Path(f) for f in images]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"images: {len(missing)} file(s) do not exist, e.g. {missing[0]!r}")
        batches = _file_batches(files, batch_size, layout, native)
        total = None if any(f.suffix.lower() in _ARRAY_EXTENSIONS for f in files) else len(files)
    if isinstance(images, (torch.Tensor, np.ndarray)):
        arr = images
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"images: expected [N, H, W, C] or [N, C, H, W], got shape {tuple(arr.shape)}")
        lay = _detect_layout(arr.shape, layout, "images")
        total = int(arr.shape[0])
        batches = (_to_images(arr[i : i + batch_size], lay, "images", dtype, native) for i in range(0, total, batch_size))
    elif not isinstance(images, (str, os.PathLike, list, tuple)) or (
        isinstance(images, (list, tuple)) and not (images and all(isinstance(f, (str, os.PathLike)) for f in images))
    ):
        if not isinstance(images, Iterable):
            raise TypeError(f"images: unsupported input type {type(images).__name__}")
        try:
            total = len(images.dataset)  # type: ignore[union-attr]
        except (AttributeError, TypeError):
            total = None
        batches = _loader_batches(images, layout, native)

    # -- run
    was_training = isinstance(extractor, nn.Module) and extractor.training
    if was_training:
        extractor.eval()  # type: ignore[union-attr]
    old_resize = getattr(extractor, "resize", None)
    if native and mode != old_resize:
        extractor.resize = mode  # type: ignore[union-attr]  # restored below
    feats: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    try:
        enabled = sys.stderr.isatty() if progress is None else bool(progress)
        with torch.inference_mode(), tqdm(total=total, desc="features", unit="img", disable=not enabled) as bar:
            for b in batches:
                if native:
                    x = _native_input(extractor, b, run_device, dtype)
                else:
                    x = _stack_resized(b, size, mode) if isinstance(b, list) else b
                    x = x.to(device=run_device, dtype=dtype, non_blocking=True)
                if size is not None:
                    x = resize_images(x, size, mode)
                out = fn(x)
                f, lg = (out if return_logits else (out, None))
                if not isinstance(f, torch.Tensor) or f.dim() != 2 or f.shape[0] != x.shape[0]:
                    raise ValueError(
                        f"extractor: must return Tensor[B, D] with B={x.shape[0]}, got "
                        f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}"
                    )
                feats.append(f.detach().to("cpu", torch.float32 if f.dtype in (torch.float16, torch.bfloat16) else f.dtype))
                if lg is not None:
                    logits.append(lg.detach().float().cpu())
                bar.update(x.shape[0])
    finally:
        if was_training:
            extractor.train()  # type: ignore[union-attr]
        if native and mode != old_resize:
            extractor.resize = old_resize  # type: ignore[union-attr]
    if not feats:
        raise ValueError("images: no images were found in the input")
    features = torch.cat(feats)
    logger.debug("extract_features: %d x %d features", *features.shape)
    if return_logits:
        return features, torch.cat(logits)
    return features
