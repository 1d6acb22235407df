"""Frechet Inception Distance: exact, float64, no complex numbers.

    FID = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr sqrt(S_1^1/2 S_2 S_1^1/2)

(Heusel et al. 2017; the squared 2-Wasserstein distance between two Gaussians). The
pipeline is features -> :class:`FeatureStats` -> :func:`frechet_distance`, with :class:`FID`
as a thin stateful wrapper.

Matches:
    * pytorch-fid / TTUR: covariance divided by ``n - 1``; ``.npz`` stats files with keys
      ``mu`` and ``sigma``. The trace term is the same quantity as their
      ``trace(sqrtm(S_1 S_2))`` but computed from the eigenvalues of the *symmetric* matrix
      ``L^T S_2 L`` (``S_1 = L L^T``), which needs no complex arithmetic and no ``eps * I``
      offset for singular covariances (those are handled by an exact rank truncation).
      For one pair on the CPU (``D >= 128``) the symmetric matrix is formed as ``C C^T`` with
      ``C = L_1^T L_2`` from the two Cholesky factors (LAPACK ``potrf``, ``trmm``, ``syrk``;
      half the flops of two dense products), then ``syevd`` gives its eigenvalues.
    * The final value is clamped at 0 only when it is negative by less than a rounding
      tolerance (``100 * D * eps64 * (tr S_1 + tr S_2 + ||dmu||^2)``); anything more negative
      is returned as is, with a warning (it means the inputs were not PSD).

Low-rank exact path: when one side has ``m <= D`` samples, ``S = Z^T Z`` with ``Z`` the
``(m - 1) x D`` Helmert-rotated centred features scaled by ``1 / sqrt(m - 1)``, and the
non-zero eigenvalues of ``S_1^1/2 S_2 S_1^1/2`` equal those of the small ``Z S_1 Z^T``; when
both sides are small, ``tr sqrt = ||Z_2 Z_1^T||_*`` (sum of singular values). :func:`fid`
picks the cheapest exact method and keeps gradients with respect to the features.

Return types: every function returns a Python ``float`` (a dict for :func:`fid_bootstrap`),
except that a 0-d float64 tensor is returned when autograd tracks an input (FID as a loss).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
import zipfile
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from fastgan._checks import as_float_tensor, check_features, check_finite, check_ndim, check_positive_int
from fastgan.linalg import trace_sqrt_product, trace_sqrt_psd
from fastgan.linalg._ref import max_asymmetry
from fastgan.metrics._base import KEY_FID, Metric
from fastgan.metrics._stats import FeatureStats

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureStats",
    "FID",
    "NegativeFIDWarning",
    "fid",
    "fid_bootstrap",
    "fid_from_stats",
    "fid_infinity",
    "fid_per_class",
    "fid_to_standard_normal",
    "frechet_distance",
    "load_stats",
    "save_stats",
]

_EPS64 = float(torch.finfo(torch.float64).eps)
#: Memory (bytes) that batched trace-sqrt evaluations may use for stacked D x D matrices.
BATCH_MEMORY_BYTES = 1 << 30

class NegativeFIDWarning(UserWarning):
    """The Frechet distance came out negative beyond rounding (inputs not PSD?)."""


# ----------------------------------------------------------------------------- helpers
def _as_mu_sigma(mu: Any, sigma: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    m = as_float_tensor(mu, f"mu{name}")
    s = as_float_tensor(sigma, f"sigma{name}")
    check_ndim(m, f"mu{name}", 1, "[D]")
    d = m.shape[0]
    if s.dim() != 2 or tuple(s.shape) != (d, d):
        raise ValueError(f"sigma{name}: expected shape [D, D] = ({d}, {d}) to match mu{name}, got {tuple(s.shape)}")
    check_finite(m, f"mu{name}")
    check_finite(s, f"sigma{name}")
    m = m.to(torch.float64)
    s = s.to(device=m.device, dtype=torch.float64)
    if d:
        asym = max_asymmetry(s)
        scale = float(s.abs().max())
        if asym > 1e-5 * max(scale, 1e-300):
            raise ValueError(f"sigma{name}: not symmetric (max |S - S^T| = {asym:.3g}, max |S| = {scale:.3g})")
    return m, s


def _finish(dmu2: torch.Tensor, tr1: torch.Tensor, tr2: torch.Tensor, tsp: torch.Tensor, d: int) -> torch.Tensor:
    """Assemble FID and clamp rounding-level negatives to 0 (see module docstring)."""
    val = dmu2 + tr1 + tr2 - 2.0 * tsp
    tol = 100.0 * max(d, 1) * _EPS64 * (tr1.detach().abs() + tr2.detach().abs() + dmu2.detach().abs())
    tol = tol + torch.finfo(torch.float64).tiny
    if bool((val.detach() < -tol).any()):
        msg = (
            f"frechet_distance: result {float(val.detach().min()):.6g} is negative beyond rounding "
            f"(tolerance {float(tol.max()):.3g}); are the covariances positive semi-definite?"
        )
        logger.warning(msg)
        warnings.warn(msg, NegativeFIDWarning, stacklevel=3)
    return torch.where((val < 0) & (val >= -tol), torch.zeros_like(val), val)


def _result(t: torch.Tensor) -> Union[float, torch.Tensor]:
    """A float, unless autograd is tracking ``t`` (then the 0-d tensor, for training)."""
    return t if t.requires_grad else float(t)


def frechet_distance(
    mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, *, impl: str = "auto"
) -> Union[float, torch.Tensor]:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1 (Tensor[D]), sigma1 (Tensor[D, D]): first Gaussian (tensor or numpy array).
        mu2 (Tensor[D]), sigma2 (Tensor[D, D]): second Gaussian.
        impl: backend of :func:`fastgan.linalg.trace_sqrt_product`.

    Returns:
        float; a 0-d float64 Tensor instead when autograd tracks an input (differentiable in
        all arguments).

    Matches: pytorch-fid ``calculate_frechet_distance`` (same quantity, exact symmetric-eigenvalue
    route; no ``eps`` offset needed).

    >>> frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), torch.eye(2))
    2.0
    """
    return _result(_frechet_tensor(mu1, sigma1, mu2, sigma2, impl))


def _frechet_tensor(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, impl: str) -> torch.Tensor:
    """:func:`frechet_distance` as a 0-d float64 tensor (differentiable)."""
    m1, s1 = _as_mu_sigma(mu1, sigma1, "1")
    m2, s2 = _as_mu_sigma(mu2, sigma2, "2")
    if m1.shape[0] != m2.shape[0]:
        raise ValueError(f"mu1 and mu2: feature dimensions differ ({m1.shape[0]} vs {m2.shape[0]})")
    if m1.device != m2.device:
        raise ValueError(f"inputs are on different devices: {m1.device} and {m2.device}")
    d = m1.shape[0]
    diff = m1 - m2
    tsp = trace_sqrt_product(s1, s2, impl=impl).to(torch.float64)
    return _finish(diff @ diff, torch.trace(s1), torch.trace(s2), tsp, d)


def _helmert_factor(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and ``Z`` [(n-1), D] with ``Z^T Z = cov(x)`` (divisor n-1), differentiable.

    ``Z`` holds the coordinates of the centred rows in an orthonormal basis of the
    complement of the all-ones vector (a Householder reflection mapping 1/sqrt(n) to e_1),
    so the known null direction of a centred sample is removed exactly.
    """
    n = x.shape[0]
    mean = x.mean(dim=0)
    y = x - mean
    u1 = 1.0 / math.sqrt(n)
    # v = u - e_1, u = 1/sqrt(n); H = I - 2 v v^T / (v^T v); rows 1.. of H y.
    vty = u1 * y.sum(dim=0) - y[0]
    coef = 2.0 / (2.0 - 2.0 * u1)
    z = y[1:] - (u1 * coef) * vty
    return mean, z / math.sqrt(n - 1)


class _Side:
    """One distribution: mean, trace of covariance, and either the covariance or a factor."""

    def __init__(self, n: int, mean: torch.Tensor, cov: Optional[torch.Tensor], z: Optional[torch.Tensor]) -> None:
        self.n, self.mean, self.cov, self.z = n, mean, cov, z

    @property
    def trace(self) -> torch.Tensor:
        if self.z is not None:
            return (self.z * self.z).sum()
        assert self.cov is not None
        return torch.trace(self.cov)


def _side_from(x: Any, name: str, *, factor_ok: bool, device: Optional[torch.device]) -> Union[_Side, torch.Tensor]:
    """A FeatureStats / (mu, sigma) becomes a _Side; a feature matrix is validated and returned."""
    if isinstance(x, FeatureStats):
        return _Side(x.count or 0, x.mean, x.cov, None)
    if isinstance(x, tuple):
        mu, sigma = _as_mu_sigma(x[0], x[1], f" ({name})")
        return _Side(0, mu, sigma, None)
    t = check_features(x, name, min_rows=2)
    return t


def _cost(n: int, m: int, d: int, real_is_feat: bool, fake_is_feat: bool) -> dict[str, float]:
    costs = {"cov_cov": (n + m) * d * d + 6.0 * d**3}
    if fake_is_feat and m - 1 <= d:
        costs["cov_fac"] = n * d * d + m * d * d + m * m * d + 6.0 * m**3
    if real_is_feat and n - 1 <= d:
        costs["fac_cov"] = m * d * d + n * d * d + n * n * d + 6.0 * n**3
    if real_is_feat and fake_is_feat and n - 1 <= d and m - 1 <= d:
        costs["fac_fac"] = (n + m) * d + n * m * d + 6.0 * min(n, m) ** 2 * max(n, m)
    return costs


def _cov_direct(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable mean and covariance (divisor n-1) in float64."""
    x64 = x.to(torch.float64)
    mean = x64.mean(dim=0)
    y = x64 - mean
    return mean, (y.t() @ y) / (x.shape[0] - 1)


def _to_side(x: Union[_Side, torch.Tensor], as_factor: bool) -> _Side:
    if isinstance(x, _Side):
        return x
    n = x.shape[0]
    if as_factor:
        mean, z = _helmert_factor(x.to(torch.float64))
        return _Side(n, mean, None, z)
    if x.requires_grad and torch.is_grad_enabled():
        mean, cov = _cov_direct(x)
        return _Side(n, mean, cov, None)
    st = FeatureStats.from_features(x)
    return _Side(n, st.mean, st.cov, None)


def _fid_sides(a: _Side, b: _Side, impl: str) -> torch.Tensor:
    d = a.mean.shape[0]
    diff = a.mean - b.mean
    if a.z is not None and b.z is not None:
        tsp = torch.linalg.svdvals(b.z @ a.z.t()).sum()
    elif b.z is not None:
        assert a.cov is not None
        tsp = trace_sqrt_psd(b.z @ a.cov @ b.z.t())
    elif a.z is not None:
        assert b.cov is not None
        tsp = trace_sqrt_psd(a.z @ b.cov @ a.z.t())
    else:
        assert a.cov is not None and b.cov is not None
        tsp = trace_sqrt_product(a.cov, b.cov, impl=impl).to(torch.float64)
    return _finish(diff @ diff, a.trace, b.trace, tsp, d)


def fid(
    real_features: Any, fake_features: Any, *, method: str = "auto", impl: str = "auto"
) -> Union[float, torch.Tensor]:
    """FID between two sets of feature vectors.

    Args:
        real_features (Tensor[N, D]): or a :class:`FeatureStats` / ``(mu, sigma)`` of the reference set.
        fake_features (Tensor[M, D]): features of generated samples (may require grad).
        method: exact algorithm: ``"auto"`` (the cheapest), ``"full"`` (D x D covariances),
            ``"lowrank"`` (factor the side(s) with at most D + 1 samples).
        impl: backend of the D x D trace-sqrt (:func:`fastgan.linalg.trace_sqrt_product`).

    Returns:
        float; a 0-d float64 Tensor instead when autograd tracks the inputs (FID as a loss).

    Matches: pytorch-fid (covariance divisor n - 1), see the module docstring.

    >>> x = torch.randn(200, 8, dtype=torch.float64)
    >>> abs(fid(x, x)) < 1e-9
    True
    """
    if method not in ("auto", "full", "lowrank"):
        raise ValueError(f"method: must be one of ('auto', 'full', 'lowrank'), got {method!r}")
    real = _side_from(real_features, "real_features", factor_ok=True, device=None)
    fake = _side_from(fake_features, "fake_features", factor_ok=True, device=None)
    d_r = real.mean.shape[0] if isinstance(real, _Side) else real.shape[1]
    d_f = fake.mean.shape[0] if isinstance(fake, _Side) else fake.shape[1]
    if d_r != d_f:
        raise ValueError(f"real_features and fake_features: feature dimensions differ ({d_r} vs {d_f})")
    dev_r = real.mean.device if isinstance(real, _Side) else real.device
    dev_f = fake.mean.device if isinstance(fake, _Side) else fake.device
    if dev_r != dev_f:
        raise ValueError(f"inputs are on different devices: real_features on {dev_r}, fake_features on {dev_f}")
    n = real.shape[0] if isinstance(real, torch.Tensor) else 0
    m = fake.shape[0] if isinstance(fake, torch.Tensor) else 0
    costs = _cost(n, m, d_r, isinstance(real, torch.Tensor), isinstance(fake, torch.Tensor))
    if method == "full":
        choice = "cov_cov"
    elif method == "lowrank":
        low = {k: v for k, v in costs.items() if k != "cov_cov"}
        if not low:
            raise ValueError(
                f"method='lowrank' needs feature matrices with at most D + 1 = {d_r + 1} rows on one side"
            )
        choice = min(low, key=low.__getitem__)
    else:
        choice = min(costs, key=costs.__getitem__)
    a = _to_side(real, as_factor=choice.startswith("fac"))
    b = _to_side(fake, as_factor=choice.endswith("fac"))
    if b.mean.device != a.mean.device:
        b.mean = b.mean.to(a.mean.device)
    return _result(_fid_sides(a, b, impl))


def _stats_of(s: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(s, (str, os.PathLike)):
        s = load_stats(s)
    if isinstance(s, FeatureStats):
        return s.mean, s.cov
    if isinstance(s, (tuple, list)) and len(s) == 2:
        return s[0], s[1]
    raise TypeError(f"{name}: expected FeatureStats, a (mu, sigma) tuple or a stats file path, got {type(s).__name__}")


def fid_from_stats(s1: Any, s2: Any, *, impl: str = "auto") -> Union[float, torch.Tensor]:
    """FID from two sets of statistics.

    Args:
        s1, s2: :class:`FeatureStats`, ``(mu (Tensor[D]), sigma (Tensor[D, D]))`` tuples, or paths
            of ``.npz`` stats files (:func:`load_stats`).
        impl: backend of the trace-sqrt.

    Returns:
        float (0-d Tensor when autograd tracks the inputs).
    """
    mu1, sigma1 = _stats_of(s1, "s1")
    mu2, sigma2 = _stats_of(s2, "s2")
    return _result(_frechet_tensor(mu1, sigma1, mu2, sigma2, impl))


def fid_to_standard_normal(features_or_stats: Any, *, impl: str = "auto") -> Union[float, torch.Tensor]:
    """FID between the features' Gaussian fit and N(0, I) (the lecture's plot).

    ``||mu||^2 + tr S + D - 2 tr sqrt(S)``.

    Args:
        features_or_stats: Tensor[N, D] features, :class:`FeatureStats`, or ``(mu, sigma)``.

    Returns:
        float (0-d Tensor when autograd tracks the inputs).
    """
    if isinstance(features_or_stats, (FeatureStats, tuple, list, str, os.PathLike)):
        mu, sigma = _stats_of(features_or_stats, "features_or_stats")
        mu, sigma = _as_mu_sigma(mu, sigma, "")
        d = mu.shape[0]
        tsp = trace_sqrt_psd(sigma).to(torch.float64)
        tr = torch.trace(sigma)
    else:
        x = check_features(features_or_stats, "features_or_stats", min_rows=2)
        d = x.shape[1]
        if x.shape[0] - 1 <= d:
            mu, z = _helmert_factor(x.to(torch.float64))
            tsp = torch.linalg.svdvals(z).sum()
            tr = (z * z).sum()
        else:
            mu, sigma = _cov_direct(x) if x.requires_grad else (lambda s: (s.mean, s.cov))(FeatureStats.from_features(x))
            tsp = trace_sqrt_psd(sigma).to(torch.float64)
            tr = torch.trace(sigma)
    dmu2 = mu @ mu
    ident = torch.tensor(float(d), dtype=torch.float64, device=mu.device)
    return _result(_finish(dmu2, tr, ident, tsp, d))


# ----------------------------------------------------------------------------- stats files
def save_stats(path: Union[str, "os.PathLike[str]"], stats: Any) -> None:
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
    m, s = _as_mu_sigma(mu, sigma, "")
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
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_stats(path: Union[str, "os.PathLike[str]"]) -> FeatureStats:
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
            non-finite values).
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
        raise ValueError(f"load_stats: {path}: corrupt or truncated stats file ({type(exc).__name__}: {exc})") from exc
    for key, arr in (("mu", mu), ("sigma", sigma)):
        if arr.dtype.kind != "f":
            raise ValueError(f"load_stats: {path}: '{key}' must be a floating array, got dtype {arr.dtype}")
    if mu.ndim != 1:
        raise ValueError(f"load_stats: {path}: 'mu' must be 1-D [D], got shape {mu.shape}")
    if sigma.ndim != 2 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"load_stats: {path}: 'sigma' must be [D, D] with D = {mu.shape[0]}, got shape {sigma.shape}")
    for key, arr in (("mu", mu), ("sigma", sigma)):
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ValueError(f"load_stats: {path}: '{key}' contains {bad} non-finite value(s)")
    mu_t = torch.from_numpy(mu.astype(np.float64))
    sigma_t = torch.from_numpy(sigma.astype(np.float64))
    if n_arr is not None:
        if n_arr.dtype.kind not in "iu" or n_arr.size != 1:
            raise ValueError(f"load_stats: {path}: 'n' must be an integer scalar, got {n_arr.dtype} {n_arr.shape}")
        n = int(n_arr.reshape(()))
        if n >= 2:
            return FeatureStats.from_moments(n, mu_t, sigma_t)
        raise ValueError(f"load_stats: {path}: 'n' must be >= 2, got {n}")
    return FeatureStats.from_moments(None, mu_t, sigma_t)


# ----------------------------------------------------------------------------- many FIDs
def _group_size(d: int) -> int:
    return max(1, BATCH_MEMORY_BYTES // max(1, 8 * 6 * d * d))


def _batched_tsp(s1: torch.Tensor, s2: torch.Tensor, impl: str) -> torch.Tensor:
    """trace_sqrt_product over a leading batch, in groups bounded by BATCH_MEMORY_BYTES."""
    d = s2.shape[-1]
    g = _group_size(d)
    b = max(s1.shape[0] if s1.dim() == 3 else 1, s2.shape[0] if s2.dim() == 3 else 1)
    outs = []
    for start in range(0, b, g):
        sl = slice(start, min(b, start + g))
        a = s1[sl] if s1.dim() == 3 else s1
        outs.append(trace_sqrt_product(a, s2[sl] if s2.dim() == 3 else s2, impl=impl).to(torch.float64))
    return torch.cat(outs)


def _fids_from_batches(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor, impl: str) -> torch.Tensor:
    """FIDs for stacked statistics (mu [B, D] or [D], sigma [B, D, D] or [D, D])."""
    d = mu2.shape[-1]
    tsp = _batched_tsp(s1, s2, impl)
    diff = mu1 - mu2
    dmu2 = (diff * diff).sum(-1)
    tr1 = torch.diagonal(s1, dim1=-2, dim2=-1).sum(-1)
    tr2 = torch.diagonal(s2, dim1=-2, dim2=-1).sum(-1)
    dmu2, tr1, tr2 = torch.broadcast_tensors(dmu2, tr1, tr2)
    return _finish(dmu2, tr1, tr2, tsp, d)


def _weighted_stats(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (divisor n - 1) of the multiset with multiplicities ``w``."""
    n = float(w.sum())
    mean = (w @ x) / n
    y = x - mean
    return mean, (y.t() @ (y * w[:, None])) / (n - 1)


def fid_bootstrap(
    real_features: Any,
    fake_features: Any,
    *,
    n_boot: int = 100,
    ci: float = 0.95,
    generator: Optional[torch.Generator] = None,
    impl: str = "auto",
) -> dict[str, float]:
    """FID with a percentile bootstrap confidence interval.

    Both sets are resampled with replacement ``n_boot`` times; the ``n_boot`` trace-sqrt
    evaluations are batched.

    Args:
        real_features (Tensor[N, D]), fake_features (Tensor[M, D]).
        n_boot: number of bootstrap replicates (>= 2).
        ci: confidence level in (0, 1).
        generator: random source of the resampling (CPU generator).

    Returns:
        ``{"fid": FID of the full sets, "fid_low": lower, "fid_high": upper}``: the bootstrap
        percentile interval at level ``ci``.
    """
    n_boot = check_positive_int(n_boot, "n_boot", minimum=2)
    if not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci: must be in (0, 1), got {ci}")
    xr = check_features(real_features, "real_features", min_rows=2).detach().to(torch.float64)
    xf = check_features(fake_features, "fake_features", min_rows=2).detach().to(torch.float64)
    if xr.shape[1] != xf.shape[1]:
        raise ValueError(f"real_features and fake_features: feature dimensions differ ({xr.shape[1]} vs {xf.shape[1]})")
    xf = xf.to(xr.device)
    point = float(fid(xr, xf, impl=impl))
    n, m, d = xr.shape[0], xf.shape[0], xr.shape[1]
    g = _group_size(d)
    vals = []
    for start in range(0, n_boot, g):
        cnt = min(g, n_boot - start)
        mus1, covs1, mus2, covs2 = [], [], [], []
        for _ in range(cnt):
            ir = torch.randint(n, (n,), generator=generator)
            jf = torch.randint(m, (m,), generator=generator)
            wr = torch.bincount(ir, minlength=n).to(xr)
            wf = torch.bincount(jf, minlength=m).to(xf)
            a, b = _weighted_stats(xr, wr)
            mus1.append(a)
            covs1.append(b)
            a, b = _weighted_stats(xf, wf)
            mus2.append(a)
            covs2.append(b)
        vals.append(_fids_from_batches(torch.stack(mus1), torch.stack(covs1), torch.stack(mus2), torch.stack(covs2), impl))
    boot = torch.cat(vals)
    alpha = (1.0 - float(ci)) / 2.0
    q = torch.quantile(boot, torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64, device=boot.device))
    return {KEY_FID: point, "fid_low": float(q[0]), "fid_high": float(q[1])}


def fid_per_class(
    real_features: Any,
    real_labels: Any,
    fake_features: Any,
    fake_labels: Any,
    *,
    impl: str = "auto",
) -> dict[str, Any]:
    """Intra-class FID (Miyato & Koyama 2018): FID within each class, and the mean over classes.

    Args:
        real_features (Tensor[N, D]), real_labels (Tensor[N] int).
        fake_features (Tensor[M, D]), fake_labels (Tensor[M] int).

    Returns:
        ``{"per_class": {label: fid}, "mean": float}`` over the classes present in both sets
        (each needs >= 2 samples on both sides; classes present on one side only raise).
    """
    xr = check_features(real_features, "real_features", min_rows=2).detach()
    xf = check_features(fake_features, "fake_features", min_rows=2).detach().to(xr.device)
    if xr.shape[1] != xf.shape[1]:
        raise ValueError(f"real_features and fake_features: feature dimensions differ ({xr.shape[1]} vs {xf.shape[1]})")
    labels = []
    for lab, x, name in ((real_labels, xr, "real_labels"), (fake_labels, xf, "fake_labels")):
        t = torch.as_tensor(lab, device=xr.device)
        if t.dim() != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"{name}: expected shape [{x.shape[0]}], got {tuple(t.shape)}")
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name}: expected integer labels, got {t.dtype}")
        labels.append(t)
    lr, lf = labels
    cr = set(lr.unique().tolist())
    cf = set(lf.unique().tolist())
    if cr != cf:
        raise ValueError(
            f"real_labels and fake_labels: classes present on one side only: real-only {sorted(cr - cf)}, "
            f"fake-only {sorted(cf - cr)}"
        )
    classes = sorted(cr)
    mus1, covs1, mus2, covs2 = [], [], [], []
    for c in classes:
        a = xr[lr == c]
        b = xf[lf == c]
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise ValueError(f"class {c}: needs >= 2 samples on both sides, got {a.shape[0]} real and {b.shape[0]} fake")
        sa = FeatureStats.from_features(a)
        sb = FeatureStats.from_features(b)
        mus1.append(sa.mean)
        covs1.append(sa.cov)
        mus2.append(sb.mean)
        covs2.append(sb.cov)
    vals = _fids_from_batches(torch.stack(mus1), torch.stack(covs1), torch.stack(mus2), torch.stack(covs2), impl)
    return {"per_class": {c: float(v) for c, v in zip(classes, vals)}, "mean": float(vals.mean())}


def fid_infinity(
    real: Any,
    fake_features: Any,
    *,
    sizes: Optional[Sequence[int]] = None,
    generator: Optional[torch.Generator] = None,
    return_fit: bool = False,
    impl: str = "auto",
) -> Union[float, dict[str, Any]]:
    """Bias-free FID_inf (Chong & Forsyth 2020): FID at several N, linear fit against 1/N, read at 0.

    For each N in ``sizes`` a random subset (without replacement) of N fake samples is scored
    against the full reference; the trace-sqrt evaluations are batched.

    Args:
        real: Tensor[N_r, D] features, :class:`FeatureStats` or ``(mu, sigma)`` of the reference.
        fake_features (Tensor[M, D]).
        sizes: subset sizes (each in [2, M]); default 15 evenly spaced sizes in [M / 10, M]
            (the paper uses 5k..50k out of 50k).
        generator: random source of the subsets.
        return_fit: also return the fit.

    Returns:
        FID_inf as a float, or ``{"fid_inf", "slope", "sizes", "fids"}`` when ``return_fit``.
    """
    xf = check_features(fake_features, "fake_features", min_rows=3).detach()
    m, d = xf.shape
    if isinstance(real, (FeatureStats, tuple)):
        mu_r, s_r = _stats_of(real, "real")
        mu_r, s_r = _as_mu_sigma(mu_r, s_r, " (real)")
    else:
        st = FeatureStats.from_features(check_features(real, "real", min_rows=2))
        mu_r, s_r = st.mean, st.cov
    if mu_r.shape[0] != d:
        raise ValueError(f"real and fake_features: feature dimensions differ ({mu_r.shape[0]} vs {d})")
    if sizes is None:
        sizes = sorted({int(round(v)) for v in np.linspace(max(2, m // 10), m, 15)})
    sizes = [check_positive_int(s, "sizes[i]", minimum=2) for s in sizes]
    if len(set(sizes)) < 2:
        raise ValueError(f"sizes: need at least two distinct sizes, got {sizes}")
    if max(sizes) > m:
        raise ValueError(f"sizes: largest size {max(sizes)} exceeds the {m} fake samples")
    xf = xf.to(mu_r.device)
    mus, covs = [], []
    for size in sizes:
        idx = torch.randperm(m, generator=generator)[:size].to(xf.device)
        st = FeatureStats.from_features(xf[idx])
        mus.append(st.mean)
        covs.append(st.cov)
    vals = _fids_from_batches(mu_r, s_r, torch.stack(mus), torch.stack(covs), impl)
    inv = torch.tensor([1.0 / s for s in sizes], dtype=torch.float64, device=vals.device)
    design = torch.stack([torch.ones_like(inv), inv], dim=1)
    coef = torch.linalg.lstsq(design.cpu(), vals.cpu().unsqueeze(1)).solution.squeeze(1)
    if return_fit:
        return {"fid_inf": float(coef[0]), "slope": float(coef[1]), "sizes": list(sizes), "fids": vals.cpu().tolist()}
    return float(coef[0])


# ----------------------------------------------------------------------------- stateful class
class FID(Metric):
    """Stateful FID: accumulate real and fake features, then :meth:`compute`.

    Only :class:`FeatureStats` (O(D^2) memory, float64) are kept. Implements the
    :class:`~fastgan.metrics.Metric` protocol: :meth:`merge` adds statistics, :meth:`sync`
    all-reduces them over ``torch.distributed`` ranks.

    Args:
        real_stats: reference statistics given up front: :class:`FeatureStats`, ``(mu, sigma)``
            or a stats file path (:func:`load_stats`). They are fixed: ``update(..., real=True)``
            raises, and :meth:`merge`, :meth:`sync` and :meth:`reset` leave them alone (every
            rank is expected to hold the same reference).
        device: device of the accumulated statistics (default: that of the first batch).
        impl: backend of the trace-sqrt (:func:`fastgan.linalg.trace_sqrt_product`).

    >>> m = FID()
    >>> m.update(torch.randn(100, 4), real=True); m.update(torch.randn(100, 4) + 1, real=False)
    >>> m.compute() > 0
    True
    """

    def __init__(self, *, real_stats: Any = None, device: Optional[Union[torch.device, str]] = None, impl: str = "auto") -> None:
        self.impl = impl
        self.real = FeatureStats(device=device)
        self.fake = FeatureStats(device=device)
        self.real_fixed = real_stats is not None
        if real_stats is not None:
            if isinstance(real_stats, (str, os.PathLike)):
                real_stats = load_stats(real_stats)
            if isinstance(real_stats, FeatureStats):
                self.real = real_stats.copy()
            else:
                mu, sigma = _stats_of(real_stats, "real_stats")
                mu, sigma = _as_mu_sigma(mu, sigma, " (real_stats)")
                self.real = FeatureStats.from_moments(None, mu, sigma)

    def update(self, features: Any, *, real: bool) -> None:
        """Add a batch ``features`` (Tensor[N, D]) to the real (``real=True``) or fake statistics."""
        if real:
            if self.real_fixed:
                raise ValueError("FID: the real statistics were given as fixed real_stats; cannot update them")
            self.real.update(features)
        else:
            self.fake.update(features)

    def compute(self) -> float:
        """FID (float) between the accumulated real and fake statistics."""
        if self.real.count is not None and self.real.count < 2:
            raise ValueError(f"FID.compute: needs >= 2 real samples, got {self.real.count}")
        if self.fake.count is None or self.fake.count < 2:
            raise ValueError(f"FID.compute: needs >= 2 fake samples, got {self.fake.count}")
        return float(fid_from_stats(self.real, self.fake, impl=self.impl))

    def reset(self, *, real: bool = True) -> None:
        """Clear the fake statistics, and the real ones too unless ``real=False`` or they are fixed."""
        self.fake.reset()
        if real and not self.real_fixed:
            self.real.reset()

    def merge(self, other: "FID") -> "FID":
        """Merge another FID's statistics into this one (fixed real statistics are not merged)."""
        self._check_same_type(other)
        if not self.real_fixed and not other.real_fixed:
            self.real.merge(other.real)
        self.fake.merge(other.fake)
        return self

    def sync(self, group: Any = None) -> "FID":
        """All-reduce the statistics over the ranks of ``group`` (see :meth:`FeatureStats.sync`)."""
        if not self.real_fixed:
            self.real.sync(group)
        self.fake.sync(group)
        return self

    def state_dict(self) -> dict[str, Any]:
        """``{"real": ..., "fake": ...}`` (:meth:`FeatureStats.state_dict`) and ``"real_fixed"``."""
        return {"real": self.real.state_dict(), "fake": self.fake.state_dict(), "real_fixed": self.real_fixed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        for key in ("real", "fake"):
            if key not in state:
                raise KeyError(f"state: missing key {key!r}")
        self.real.load_state_dict(state["real"])
        self.fake.load_state_dict(state["fake"])
        self.real_fixed = bool(state.get("real_fixed", False))
