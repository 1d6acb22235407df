"""Loading the command line's inputs: feature files, statistics files and image folders.

Every failure a user can cause (missing path, unreadable or malformed file, wrong
shape, non-finite values, a weights file that does not load) raises :class:`InputError`
(a ``ValueError``) with a one-line message naming the path and what was wrong; the CLI
prints it and exits with status 2. Anything else (a bug) propagates unchanged.

Accepted inputs (``load_input``):

* ``.npy``: one float array ``[N, D]`` (loaded with ``allow_pickle=False``).
* ``.npz``: either a statistics file (arrays ``mu`` ``[D]`` and ``sigma`` ``[D, D]``, optional
  ``n``, as written by :func:`fastgan.metrics.save_stats`, pytorch-fid and clean-fid) or a
  feature archive holding one 2-D array (or one named ``features``).
* ``.pt`` / ``.pth``: a tensor ``[N, D]``, or a dict holding one tensor (or one named
  ``features``), loaded with ``torch.load(weights_only=True)`` (no arbitrary code runs).
* a directory of images: features are computed with :func:`fastgan.features.extract_features`.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

import fastgan.metrics as fm

FEATURE_SUFFIXES = (".npy", ".npz", ".pt", ".pth")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_FEATURE_KEYS = ("features", "feats", "x")


class InputError(ValueError):
    """A user-caused input problem; ``str(exc)`` is a one-line explanation."""


@dataclass
class LoadedInput:
    """What was read from one CLI argument.

    Exactly one of ``features`` (Tensor[N, D], float) and ``stats`` is set; ``stats`` is
    the :class:`~fastgan.metrics.FeatureStats` that :func:`fastgan.metrics.load_stats` read
    (its ``count`` is None when the file does not record the sample count).
    ``logits`` holds classifier logits ``[N, C]`` when an image folder was read with an
    extractor that provides them (for the Inception Score).
    """

    path: str
    kind: str  # "features" | "stats" | "images"
    features: Optional[torch.Tensor] = None
    stats: Optional[fm.FeatureStats] = None
    logits: Optional[torch.Tensor] = None

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        if self.features is not None:
            return int(self.features.shape[1])
        assert self.stats is not None
        return int(self.stats.mean.shape[0])

    @property
    def n(self) -> Optional[int]:
        """Sample count (None for a statistics file that does not record it)."""
        if self.features is not None:
            return int(self.features.shape[0])
        return self.stats.count if self.stats is not None else None

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary (path, kind, n, dim)."""
        return {"path": self.path, "kind": self.kind, "n": self.n, "dim": self.dim}


def _check_feature_array(arr: Any, path: str, what: str = "features") -> torch.Tensor:
    """Validate an array read from ``path`` as a float feature matrix [N, D]."""
    if isinstance(arr, np.ndarray):
        if arr.dtype == object:
            raise InputError(f"{path}: contains a pickled object array; expected a numeric float array [N, D]")
        if arr.dtype.kind not in "fiub":
            raise InputError(f"{path}: unsupported dtype {arr.dtype}; expected a float array [N, D]")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    elif isinstance(arr, torch.Tensor):
        t = arr.detach().cpu()
    else:
        raise InputError(f"{path}: expected an array or tensor of {what}, found {type(arr).__name__}")
    if t.is_complex():
        raise InputError(f"{path}: complex dtype {t.dtype} is not supported; expected a float array [N, D]")
    if not t.is_floating_point():
        raise InputError(
            f"{path}: {what} have integer/bool dtype {t.dtype}; expected floats "
            "(were images saved where features were expected?)"
        )
    if t.dim() != 2:
        raise InputError(f"{path}: expected a 2-D array of {what} [N, D], got shape {tuple(t.shape)}")
    if t.shape[0] < 2 or t.shape[1] < 1:
        raise InputError(f"{path}: need at least 2 rows and 1 column of {what}, got shape {tuple(t.shape)}")
    bad = int((~torch.isfinite(t)).sum().item())
    if bad:
        raise InputError(f"{path}: {what} contain {bad} non-finite value(s) (NaN or Inf)")
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float32)
    return t.contiguous()


def _npy(path: str) -> torch.Tensor:
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        msg = str(exc)
        if "allow_pickle" in msg or "pickle" in msg.lower():
            raise InputError(f"{path}: contains a pickled object array; expected a numeric float array [N, D]") from None
        raise InputError(f"{path}: not a valid .npy file ({msg.splitlines()[0] if msg else 'malformed'})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read .npy file ({exc})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):  # an .npz saved under a .npy name
        arr.close()
        raise InputError(f"{path}: is an .npz archive; rename it to .npz")
    return _check_feature_array(arr, path)


def _pick_key(keys: list[str], candidates: tuple[str, ...]) -> Optional[str]:
    for c in candidates:
        if c in keys:
            return c
    return None


def _npz_member(archive: Any, key: str, path: str) -> np.ndarray:
    """One array of an open archive; a pickled or corrupt member is an :class:`InputError`."""
    try:
        return archive[key]
    except ValueError as exc:
        msg = str(exc)
        if "pickle" in msg.lower():
            raise InputError(f"{path}: contains a pickled object array; expected numeric arrays") from None
        raise InputError(f"{path}: malformed .npz member ({msg.splitlines()[0] if msg else 'unreadable'})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: malformed .npz member ({exc})") from None


def _npz(path: str) -> LoadedInput:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a valid .npz file ({str(exc).splitlines()[0] if str(exc) else 'malformed'})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        # np.load accepts a plain .npy under any name
        return LoadedInput(path=path, kind="features", features=_check_feature_array(archive, path))
    with archive:
        keys = list(archive.files)
        if "mu" in keys or "sigma" in keys:
            is_stats = True
        else:
            is_stats = False
            fkey = _pick_key(keys, _FEATURE_KEYS)
            if fkey is None:
                two_d = [k for k in keys if _npz_member(archive, k, path).ndim == 2]
                if len(two_d) != 1:
                    raise InputError(
                        f"{path}: .npz holds arrays {keys}; expected 'mu' and 'sigma' (statistics) "
                        "or exactly one 2-D feature array (or one named 'features')"
                    )
                fkey = two_d[0]
            features = _check_feature_array(_npz_member(archive, fkey, path), path)
    if is_stats:
        return _stats_file(path)
    return LoadedInput(path=path, kind="features", features=features)


def _stats_file(path: str) -> LoadedInput:
    """Read a statistics ``.npz`` with :func:`fastgan.metrics.load_stats` (the library's own validation)."""
    try:
        st = fm.load_stats(path)
    except (ValueError, OSError) as exc:
        msg = " ".join(str(exc).split())
        msg = msg.replace(f"load_stats: {path}: ", "")
        raise InputError(f"{path}: invalid statistics file: {msg}") from None
    return LoadedInput(path=path, kind="stats", stats=st)


#: what ``torch.load`` raises for a file that is not a (safe) tensor file, by format
_TORCH_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile)


def _pt(path: str) -> torch.Tensor:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except _TORCH_LOAD_ERRORS as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            first = "it contains Python objects that are not plain tensors (refused for safety)"
        raise InputError(f"{path}: cannot load as a tensor file: {first}") from None
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        key = _pick_key(list(tensors), _FEATURE_KEYS)
        if key is None:
            if len(tensors) != 1:
                raise InputError(
                    f"{path}: dict holds {len(tensors)} tensors ({sorted(map(str, tensors))}); "
                    "expected one tensor [N, D] (or one named 'features')"
                )
            key = next(iter(tensors))
        obj = tensors[key]
    if not isinstance(obj, torch.Tensor):
        raise InputError(f"{path}: expected a tensor [N, D], found {type(obj).__name__}")
    return _check_feature_array(obj, path)


def load_features_file(path: str | os.PathLike[str]) -> LoadedInput:
    """Read a feature or statistics file (``.npy``, ``.npz``, ``.pt``/``.pth``).

    Args:
        path: the file.

    Returns:
        :class:`LoadedInput` with ``features (Tensor[N, D])`` or ``stats`` (a FeatureStats).

    Raises:
        InputError: missing file, unknown suffix, malformed content, wrong shape, non-finite values.
    """
    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputError(f"{p}: no such file or directory")
    if os.path.isdir(p):
        raise InputError(f"{p}: is a directory; expected a feature file (.npy/.npz/.pt)")
    suffix = Path(p).suffix.lower()
    if suffix == ".npy":
        return LoadedInput(path=p, kind="features", features=_npy(p))
    if suffix == ".npz":
        return _npz(p)
    if suffix in (".pt", ".pth"):
        return LoadedInput(path=p, kind="features", features=_pt(p))
    raise InputError(f"{p}: unknown file type {suffix or '(none)'}; expected one of {', '.join(FEATURE_SUFFIXES)} or an image folder")


def load_image_folder(
    folder: str | os.PathLike[str],
    *,
    extractor: str = "inception",
    weights: Optional[str] = None,
    batch_size: int = 64,
    device: str = "cpu",
    want_logits: bool = False,
    progress: Optional[bool] = None,
    preset: Optional[str] = None,
) -> LoadedInput:
    """Compute features for every image in ``folder`` with a pretrained extractor.

    Args:
        folder: directory of images (searched recursively; PNG/JPG need Pillow, ``.npy`` / ``.npz``
            image arrays ``[H, W, 3]`` or ``[n, H, W, 3]`` do not).
        extractor: ``"inception"`` (Inception-V3 pool3, 2048-D, the FID convention) or ``"vgg16"``
            (VGG-16 fc2, 4096-D, the precision/recall convention).
        weights: path to the extractor's weights file (no download happens here).
        batch_size: images per forward pass.
        device: torch device for the extractor.
        want_logits: also return classifier logits (for the Inception Score) if the extractor has them.
        progress: progress bar on stderr (None: only when stderr is a terminal).
        preset: image pipeline of a reference (:mod:`fastgan.features.presets`; None: default).

    Raises:
        InputError: empty folder, unreadable images, missing or unloadable weights.
    """
    p = os.fspath(folder)
    if not os.path.isdir(p):
        raise InputError(f"{p}: no such directory")
    from fastgan.features.extract import extract_features, list_image_files

    files = list_image_files(p)
    if not files:
        raise InputError(f"{p}: no image files ({', '.join(IMAGE_SUFFIXES)}, or .npy/.npz image arrays) found")
    if weights is not None and not os.path.isfile(weights):
        raise InputError(f"--weights {weights}: no such file")
    try:
        out = extract_features(
            p,
            extractor=extractor,
            weights=weights,
            batch_size=batch_size,
            device=device,
            return_logits=want_logits,
            progress=progress,
            preset=preset,
        )
    except (ValueError, OSError) as exc:  # bad images or weights (WeightsError is a ValueError)
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{p}: feature extraction failed: {msg}") from None
    logits = None
    if isinstance(out, tuple):
        feats, logits = out
    else:
        feats = out
    feats_t = _check_feature_array(feats, p)
    return LoadedInput(path=p, kind="images", features=feats_t, logits=logits)


def load_input(
    path: str | os.PathLike[str],
    *,
    extractor: str = "inception",
    weights: Optional[str] = None,
    batch_size: int = 64,
    device: str = "cpu",
    want_logits: bool = False,
    progress: Optional[bool] = None,
    preset: Optional[str] = None,
) -> LoadedInput:
    """Dispatch on ``path``: a directory is an image folder, anything else a feature/stats file."""
    p = os.fspath(path)
    if os.path.isdir(p):
        return load_image_folder(
            p, extractor=extractor, weights=weights, batch_size=batch_size, device=device,
            want_logits=want_logits, progress=progress, preset=preset,
        )
    return load_features_file(p)
