"""Statistics files and moment checks: :func:`save_stats` / :func:`load_stats` (``.npz``, the
pytorch-fid format) and :func:`check_mu_sigma`, shared by :mod:`fastgan.metrics.frechet` and
:mod:`fastgan.metrics.frechet_extra` (both public functions are re-exported by
:mod:`fastgan.metrics` and :mod:`fastgan.metrics.frechet`)."""

from __future__ import annotations

import os
import zipfile
from typing import Any, Optional, Union

import numpy as np
import torch

from fastgan._checks import as_float_tensor, check_finite, check_ndim
from fastgan.linalg.reference import max_asymmetry
from fastgan.metrics._stats import FeatureStats, check_covariance

__all__ = ["check_mu_sigma", "load_stats", "save_stats", "stored_dtype"]


def check_mu_sigma(mu: Any, sigma: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu`` [D] and ``sigma`` [D, D] as float tensors, shapes checked (``name`` suffixes the messages)."""
    m = as_float_tensor(mu, f"mu{name}")
    s = as_float_tensor(sigma, f"sigma{name}")
    check_ndim(m, f"mu{name}", 1, "[D]")
    d = m.shape[0]
    if s.dim() != 2 or tuple(s.shape) != (d, d):
        raise ValueError(
            f"sigma{name}: expected shape [D, D] = ({d}, {d}) to match mu{name}, got {tuple(s.shape)}"
        )
    check_finite(m, f"mu{name}")
    check_finite(s, f"sigma{name}")
    m = m.to(torch.float64)
    s = s.to(device=m.device, dtype=torch.float64)
    if d:
        asym = max_asymmetry(s)
        scale = float(s.abs().max())
        if asym > 1e-5 * max(scale, 1e-300):
            raise ValueError(
                f"sigma{name}: not symmetric (max |S - S^T| = {asym:.3g}, max |S| = {scale:.3g})"
            )
    return m, s


def stored_dtype(x: Any) -> Optional[torch.dtype]:
    """The torch dtype a given matrix was stored in (numpy arrays mapped), None if unknown."""
    if isinstance(x, torch.Tensor):
        return x.dtype
    kind = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float16}
    dt = getattr(x, "dtype", None)
    return kind.get(np.dtype(dt), torch.float64) if isinstance(dt, np.dtype) else None


def save_stats(path: Union[str, os.PathLike[str]], stats: Any) -> None:
    """Write statistics as an ``.npz`` with float64 ``mu`` [D] and ``sigma`` [D, D] (+ ``n`` if known).

    Readable by pytorch-fid (same key names). The file is written atomically at exactly ``path``.

    Args:
        path: destination file.
        stats: :class:`FeatureStats`, or ``(mu, sigma)`` / ``(mu, sigma, n)``.
    """
    n: Optional[int] = None
    if isinstance(stats, FeatureStats):
        mu, sigma, n = stats.mean, stats.cov, stats.count  # count None: no "n" in the file
    elif isinstance(stats, (tuple, list)) and len(stats) in (2, 3):
        mu, sigma = stats[0], stats[1]
        n = int(stats[2]) if len(stats) == 3 else None
    else:
        raise TypeError(f"stats: expected FeatureStats or (mu, sigma[, n]), got {type(stats).__name__}")
    m, s = check_mu_sigma(mu, sigma, "")
    arrays: dict[str, np.ndarray] = {
        "mu": m.detach().cpu().numpy().astype(np.float64),
        "sigma": s.detach().cpu().numpy().astype(np.float64),
    }
    if n is not None:
        arrays["n"] = np.asarray(n, dtype=np.int64)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_stats(path: Union[str, os.PathLike[str]]) -> FeatureStats:
    """Read an ``.npz`` stats file (pytorch-fid format: keys ``mu`` and ``sigma``).

    Pickled object arrays are refused (``allow_pickle=False``). Shapes, dtypes and finiteness
    are validated.

    Returns:
        :class:`FeatureStats` (float64, CPU). When the file records no sample count ``n``
        (pytorch-fid files), its ``count`` is None: mean and covariance are usable, but it
        cannot be updated or merged (see :class:`FeatureStats`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a valid stats file (corrupt, truncated, pickled, missing key, bad shape,
            non-finite values, ``sigma`` not symmetric or not positive semi-definite beyond
            rounding: :func:`fastgan.metrics._stats.check_covariance`, which names the most
            negative eigenvalue).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_stats: no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive (expected keys 'mu' and 'sigma')")
            missing = [k for k in ("mu", "sigma") if k not in data.files]
            if missing:
                raise ValueError(f"missing key(s) {missing}; found {sorted(data.files)}")
            mu = data["mu"]
            sigma = data["sigma"]
            n_arr = data["n"] if "n" in data.files else None
    except ValueError as exc:
        raise ValueError(f"load_stats: {path}: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(
            f"load_stats: {path}: corrupt or truncated stats file ({type(exc).__name__}: {exc})"
        ) from exc
    for key, arr in (("mu", mu), ("sigma", sigma)):
        if arr.dtype.kind != "f":
            raise ValueError(f"load_stats: {path}: '{key}' must be a floating array, got dtype {arr.dtype}")
    if mu.ndim != 1:
        raise ValueError(f"load_stats: {path}: 'mu' must be 1-D [D], got shape {mu.shape}")
    if sigma.ndim != 2 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"load_stats: {path}: 'sigma' must be [D, D] with D = {mu.shape[0]}, got shape {sigma.shape}"
        )
    for key, arr in (("mu", mu), ("sigma", sigma)):
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ValueError(f"load_stats: {path}: '{key}' contains {bad} non-finite value(s)")
    mu_t = torch.from_numpy(mu.astype(np.float64))
    sigma_t = torch.from_numpy(sigma.astype(np.float64))
    check_covariance(sigma_t, f"load_stats: {path}: 'sigma'", stored=stored_dtype(sigma))
    if n_arr is not None:
        if n_arr.dtype.kind not in "iu" or n_arr.size != 1:
            raise ValueError(
                f"load_stats: {path}: 'n' must be an integer scalar, got {n_arr.dtype} {n_arr.shape}"
            )
        n = int(n_arr.reshape(()))
        if n >= 2:
            return FeatureStats._from_moments(n, mu_t, sigma_t, check=None)
        raise ValueError(f"load_stats: {path}: 'n' must be >= 2, got {n}")
    return FeatureStats._from_moments(None, mu_t, sigma_t, check=None)
