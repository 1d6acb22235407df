"""Single array files of an evaluation (``.npy`` / ``.npz`` / ``.pt``), classified by content.

:func:`read_array_file` tells a feature matrix ``[N, D]`` from statistics (``mu`` / ``sigma``) and
from an image stack (3-D / 4-D), without unpickling anything; every malformed file is a one-line
``ValueError`` naming the input and the path. :func:`fastgan.evaluation.sources.open_source` turns
the result into a :class:`~fastgan.evaluation.sources.Source`. Images inside such files are decoded
by :mod:`fastgan.features.images`.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from fastgan.features.images import native_order, quiet_warnings, show_path, unreadable_reason

__all__ = ["read_array_file", "ARRAY_FILE_SUFFIXES"]

#: what ``torch.load(weights_only=True)`` raises for a file that is not a (safe) tensor file
_TORCH_LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile)

#: names under which a feature matrix is looked up in an .npz / a dict of tensors
_FEATURE_KEYS = ("features", "feats", "x")

#: suffixes of a single array file (features, statistics or an image stack)
ARRAY_FILE_SUFFIXES = (".npy", ".npz", ".pt", ".pth")


def read_array_file(p: Path, *, name: str) -> tuple[str, Any]:
    """A single ``.npy`` / ``.npz`` / ``.pt`` file, classified by content: ``("features", Tensor [N, D])``,
    ``("stats", FeatureStats)`` or ``("stack", array)`` (one image [H, W, C] or a stack, 3-D / 4-D,
    an ``.npy`` memory-mapped); see :func:`_read_array`. The readers' warnings are not shown
    (:func:`fastgan.features.images.quiet_warnings`)."""
    with quiet_warnings(p):
        return _read_array(p, name=name)


def _read_array(p: Path, *, name: str) -> tuple[str, Any]:
    """A single ``.npy`` / ``.npz`` / ``.pt`` file: features [N, D], statistics (mu, sigma) or images.

    * ``.npy``: a float array ``[N, D]``, or an image / image stack (3-D / 4-D, memory-mapped);
    * ``.npz``: an ADM evaluator reference batch (``arr_0`` images with ``mu`` / ``sigma`` /
      ``mu_s`` / ``sigma_s``: ``("adm", ADMReference)``), statistics (``mu`` ``[D]``, ``sigma``
      ``[D, D]``, optional ``n``; read with :func:`fastgan.metrics.load_stats`), one image stack
      (or ``arr_0`` of an ADM sample batch), or features: the array named
      ``features`` / ``feats`` / ``x``, else the only array;
    * ``.pt`` / ``.pth``: a tensor ``[N, D]`` or a dict holding one (or one named ``features``),
      read with ``torch.load(weights_only=True)`` (no code runs).

    No Python object is unpickled (numpy: ``allow_pickle=False``; torch: ``weights_only=True``).
    Every malformed file is a ValueError naming ``name`` and the path, whatever the reader raised;
    a path that is not a regular file (a FIFO would block) is refused before it is opened; a
    big-endian array is read in the machine's byte order; warnings of ``torch.load`` are not shown
    (logged at debug level).
    """
    where = f"{name}: {show_path(p)}"
    suffix = p.suffix.lower()
    why = unreadable_reason(p)
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
            return "stack", arr
        try:
            arr = native_order(np.array(arr))
        except Exception as exc:  # noqa: BLE001
            raise _read_error(where, "not a valid .npy file", exc) from None
        return "features", _file_features(arr, where)
    if suffix == ".npz":
        return _read_npz(p, where)
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
            raise ValueError(
                f"{where}: holds a {str(obj.layout).replace('torch.', '')} tensor; expected a "
                "dense tensor [N, D] (convert it with .to_dense())"
            )
        return "features", _file_features(obj.detach().cpu(), where)
    raise ValueError(
        f"{where}: unknown file type {suffix or '(none)'}; expected an image, "
        f"{', '.join(ARRAY_FILE_SUFFIXES)} or an image folder"
    )


def _read_npz(p: Path, where: str) -> tuple[str, Any]:
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 -- a malformed archive fails in many ways
        raise _read_error(where, "not a valid .npz file", exc) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a plain .npy under an .npz name
        archive = native_order(archive)
        if archive.ndim in (3, 4):
            return "stack", archive
        return "features", _file_features(archive, where)
    with archive:
        keys = list(archive.files)
        if "arr_0" in keys and ("mu" in keys or "mu_s" in keys):  # an ADM evaluator reference batch
            return "adm", _read_adm(p, where)
        if "mu" in keys or "sigma" in keys:
            from fastgan.metrics import load_stats

            try:
                st = load_stats(p)
            except Exception as exc:  # noqa: BLE001 -- a malformed archive fails in many ways
                msg = " ".join(str(exc).split()).replace(f"load_stats: {p}: ", "")
                if not isinstance(exc, (ValueError, OSError)):
                    msg = f"{type(exc).__name__}: {msg}"
                raise ValueError(f"{where}: invalid statistics file: {msg}") from None
            return "stats", st
        try:
            arrays = {k: native_order(archive[k]) for k in keys}
        except Exception as exc:  # noqa: BLE001 -- a malformed member fails in many ways
            raise _read_error(where, "malformed .npz member", exc) from None
    if len(arrays) == 1 and next(iter(arrays.values())).ndim in (3, 4):
        return "stack", next(iter(arrays.values()))
    if "arr_0" in arrays and arrays["arr_0"].ndim == 4:  # an ADM sample batch: images (+ arr_1 labels)
        return "stack", arrays["arr_0"]
    candidates = [k for k in keys if k in _FEATURE_KEYS or arrays[k].ndim == 2]
    stats_hint = " or 'mu' and 'sigma' (statistics)"
    key = _pick_key(candidates, where, f".npz holds arrays {keys}", or_else=stats_hint)
    return "features", _file_features(arrays[key], where)


def _read_adm(p: Path, where: str) -> Any:
    """An ADM evaluator batch with statistics (:func:`fastgan.metrics.load_adm_reference`)."""
    from fastgan.metrics import load_adm_reference

    try:
        return load_adm_reference(p)
    except Exception as exc:  # noqa: BLE001 -- a malformed archive fails in many ways
        msg = " ".join(str(exc).split()).replace(f"{p}: ", "")
        raise ValueError(f"{where}: invalid ADM reference batch: {msg}") from None


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
