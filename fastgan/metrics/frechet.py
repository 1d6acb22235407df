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

Singular covariances, speed and accuracy: without autograd, these nuclear norms (and
:func:`frechet_distance` on singular ``S_1`` / ``S_2``: one eigendecomposition of the singular side
gives ``S_1 = F F^T``, then ``F^T S_2 F``) are computed from the eigenvalues of the small Gram
matrix (LAPACK ``syevd``, values only: several times faster than an SVD) with a worst-case
a-posteriori error bound (:mod:`fastgan.linalg.reference`: ``min(sqrt(delta), delta / sqrt(lam))`` per
eigenvalue, ``delta = 2 eps ||M||``). When the bound exceeds ``FID_RTOL`` (1e-6) of the distance
or ``SCALE_RTOL`` (1e-9) of ``||dmu||^2 + tr S_1 + tr S_2``,
the small eigenvalues are refined (their eigenvectors, then an SVD of the k rows they span) or,
failing that, the full SVD is taken; the distance is therefore within both tolerances of the
exact float64 value.

Return types: every function returns a Python ``float`` (a dict for :func:`fid_bootstrap`),
except that a 0-d float64 tensor is returned when autograd tracks an input (FID as a loss).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any, Optional, Union

import torch

from fastgan._checks import check_features
from fastgan.linalg import reference, trace_sqrt_product, trace_sqrt_psd
from fastgan.linalg._lapack import LAPACK_MIN_N, lapack_trace_sqrt
from fastgan.linalg.sqrtm import CUDA_MAX_N
from fastgan.metrics._base import Metric
from fastgan.metrics._stats import FeatureStats, check_covariance
from fastgan.metrics.stats_io import check_mu_sigma, load_stats, save_stats, stored_dtype

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureStats",
    "FID",
    "NegativeFIDWarning",
    "fd",
    "fid",
    "fid_from_stats",
    "fid_to_standard_normal",
    "frechet_distance",
    "load_stats",
    "save_stats",
]

_EPS64 = float(torch.finfo(torch.float64).eps)

#: Singular covariances (n <= D samples): the fast eigenvalue route of the trace term is kept only
#: when its worst-case error bound (:mod:`fastgan.linalg.reference`, doubled for the ``2 tr sqrt`` in
#: the distance) is at most this fraction of the distance; otherwise the small eigenvalues are
#: refined or the SVD route is taken. The measured error is typically 100x below the bound.
FID_RTOL = 1e-6
#: ... and at most this fraction of the scale ``||dmu||^2 + tr S_1 + tr S_2`` (the accuracy of the
#: full-rank route, which the peer-parity tests hold every route to).
SCALE_RTOL = 1e-9


class NegativeFIDWarning(UserWarning):
    """The Frechet distance came out negative beyond rounding (inputs not PSD?)."""


# ----------------------------------------------------------------------------- helpers
def frechet_from_terms(
    dmu2: torch.Tensor, tr1: torch.Tensor, tr2: torch.Tensor, tsp: torch.Tensor, d: int
) -> torch.Tensor:
    """Assemble FID and clamp rounding-level negatives to 0 (see module docstring).

    Shared with :mod:`fastgan.metrics.frechet_extra` (not part of the public API)."""
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
    m1, s1 = check_mu_sigma(mu1, sigma1, "1")
    m2, s2 = check_mu_sigma(mu2, sigma2, "2")
    if m1.shape[0] != m2.shape[0]:
        raise ValueError(f"mu1 and mu2: feature dimensions differ ({m1.shape[0]} vs {m2.shape[0]})")
    if m1.device != m2.device:
        raise ValueError(f"inputs are on different devices: {m1.device} and {m2.device}")
    d = m1.shape[0]
    diff = m1 - m2
    dmu2, tr1, tr2 = diff @ diff, torch.trace(s1), torch.trace(s2)
    tsp = _trace_sqrt_fid(s1, s2, float(dmu2.detach() + tr1.detach() + tr2.detach()), impl)
    return frechet_from_terms(dmu2, tr1, tr2, tsp, d)


def _fid_tol(base: float) -> Any:
    """Allowed absolute error of ``tr sqrt`` given ``base = ||dmu||^2 + tr S_1 + tr S_2``."""
    return lambda t: 0.5 * min(FID_RTOL * abs(base - 2.0 * t), SCALE_RTOL * abs(base))


def _trace_sqrt_fid(s1: torch.Tensor, s2: torch.Tensor, base: float, impl: str) -> torch.Tensor:
    """``tr sqrt(S_1^1/2 S_2 S_1^1/2)`` (0-d float64) with the singular case checked against the
    distance: a singular covariance (n <= D samples) takes :func:`fastgan.linalg.reference.trace_sqrt_lowrank`
    with a tolerance of ``FID_RTOL`` of the resulting distance."""
    d = s1.shape[0]
    if s1.requires_grad or s2.requires_grad or impl not in ("auto", "torch") or d <= CUDA_MAX_N:
        return trace_sqrt_product(s1, s2, impl=impl).to(torch.float64)
    if s1.device.type == "cpu" and d >= LAPACK_MIN_N:
        lam = lapack_trace_sqrt(s1.contiguous(), s2.contiguous())
        if lam is not None:
            return reference.clamp_report(lam, "trace_sqrt_product").sqrt().sum()
    a64, b64 = reference.symmetrize(s1), reference.symmetrize(s2)
    ok1 = bool(reference.chol_ok(a64)[1])
    if ok1 and bool(reference.chol_ok(b64)[1]):
        return trace_sqrt_product(s1, s2, impl=impl).to(torch.float64)
    sing, other = (b64, a64) if ok1 else (a64, b64)
    return reference.trace_sqrt_lowrank(sing, other, tol=_fid_tol(base))


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

    def __init__(
        self, n: int, mean: torch.Tensor, cov: Optional[torch.Tensor], z: Optional[torch.Tensor]
    ) -> None:
        self.n, self.mean, self.cov, self.z = n, mean, cov, z

    @property
    def trace(self) -> torch.Tensor:
        if self.z is not None:
            return (self.z * self.z).sum()
        assert self.cov is not None
        return torch.trace(self.cov)


def _side_from(
    x: Any, name: str, *, factor_ok: bool, device: Optional[torch.device]
) -> Union[_Side, torch.Tensor]:
    """A FeatureStats / (mu, sigma) becomes a _Side; a feature matrix is validated and returned."""
    if isinstance(x, FeatureStats):
        return _Side(x.count or 0, x.mean, x.cov, None)
    if isinstance(x, tuple):
        mu, sigma = check_mu_sigma(x[0], x[1], f" ({name})")
        check_covariance(sigma, f"sigma ({name})", stored=stored_dtype(x[1]))
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


def _factor_cov_trace_sqrt(z: torch.Tensor, cov: torch.Tensor, base: float) -> torch.Tensor:
    """``tr sqrt(Z S Z^T)`` = ``||Z F||_*`` (``S = F F^T``) for a factor side ``z`` against a covariance."""
    if (z.requires_grad or cov.requires_grad) and torch.is_grad_enabled():
        return trace_sqrt_psd(z @ cov @ z.t())
    f_cache: list[torch.Tensor] = []

    def f() -> torch.Tensor:
        if not f_cache:
            c64 = reference.symmetrize(cov)
            lower, ok = reference.chol_ok(c64)
            f_cache.append(lower if bool(ok) else reference.psd_factor(c64))
        return f_cache[0]

    out = reference.gram_nuclear(
        z @ cov @ z.t(), lambda w: (w.t() @ z) @ f(), _fid_tol(base), "frechet_distance"
    )
    return out if out is not None else torch.linalg.svdvals(z @ f()).sum()


def _fid_sides(a: _Side, b: _Side, impl: str) -> torch.Tensor:
    d = a.mean.shape[0]
    diff = a.mean - b.mean
    dmu2, tr_a, tr_b = diff @ diff, a.trace, b.trace
    base = float(dmu2.detach() + tr_a.detach() + tr_b.detach())
    if a.z is not None and b.z is not None:
        tsp = reference.nuclear_norm(b.z @ a.z.t(), tol=_fid_tol(base))
    elif b.z is not None:
        assert a.cov is not None
        tsp = _factor_cov_trace_sqrt(b.z, a.cov, base)
    elif a.z is not None:
        assert b.cov is not None
        tsp = _factor_cov_trace_sqrt(a.z, b.cov, base)
    else:
        assert a.cov is not None and b.cov is not None
        tsp = _trace_sqrt_fid(a.cov, b.cov, base, impl)
    return frechet_from_terms(dmu2, tr_a, tr_b, tsp, d)


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
        raise ValueError(
            f"inputs are on different devices: real_features on {dev_r}, fake_features on {dev_f}"
        )
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


#: Frechet distance on any features (e.g. FD-DINOv2, FD on CLIP): the same exact computation as :func:`fid`.
fd = fid


def mu_sigma_of(s: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mu, sigma)`` of a stats file path, a :class:`FeatureStats` or a checked ``(mu, sigma)`` pair."""
    if isinstance(s, (str, os.PathLike)):
        s = load_stats(s)
    if isinstance(s, FeatureStats):
        return s.mean, s.cov
    if isinstance(s, (tuple, list)) and len(s) == 2:
        # given moments are checked here, by name (a FeatureStats was checked when it was built)
        mu, sigma = check_mu_sigma(s[0], s[1], f" ({name})")
        check_covariance(sigma, f"sigma ({name})", stored=stored_dtype(s[1]))
        return mu, sigma
    raise TypeError(
        f"{name}: expected FeatureStats, a (mu, sigma) tuple or a stats file path, got {type(s).__name__}"
    )


def fid_from_stats(s1: Any, s2: Any, *, impl: str = "auto") -> Union[float, torch.Tensor]:
    """FID from two sets of statistics.

    Args:
        s1, s2: :class:`FeatureStats`, ``(mu (Tensor[D]), sigma (Tensor[D, D]))`` tuples, or paths
            of ``.npz`` stats files (:func:`load_stats`).
        impl: backend of the trace-sqrt.

    Returns:
        float (0-d Tensor when autograd tracks the inputs).
    """
    mu1, sigma1 = mu_sigma_of(s1, "s1")
    mu2, sigma2 = mu_sigma_of(s2, "s2")
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
        mu, sigma = mu_sigma_of(features_or_stats, "features_or_stats")
        mu, sigma = check_mu_sigma(mu, sigma, "")
        d = mu.shape[0]
        tsp = trace_sqrt_psd(sigma).to(torch.float64)
        tr = torch.trace(sigma)
    else:
        x = check_features(features_or_stats, "features_or_stats", min_rows=2)
        d = x.shape[1]
        if x.shape[0] - 1 <= d:
            mu, z = _helmert_factor(x.to(torch.float64))
            tr = (z * z).sum()
            tsp = reference.nuclear_norm(z, tol=_fid_tol(float((mu @ mu).detach() + tr.detach()) + d))
        else:
            mu, sigma = (
                _cov_direct(x)
                if x.requires_grad
                else (lambda s: (s.mean, s.cov))(FeatureStats.from_features(x))
            )
            tsp = trace_sqrt_psd(sigma).to(torch.float64)
            tr = torch.trace(sigma)
    dmu2 = mu @ mu
    ident = torch.tensor(float(d), dtype=torch.float64, device=mu.device)
    return _result(frechet_from_terms(dmu2, tr, ident, tsp, d))


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

    def __init__(
        self, *, real_stats: Any = None, device: Optional[Union[torch.device, str]] = None, impl: str = "auto"
    ) -> None:
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
                mu, sigma = mu_sigma_of(real_stats, "real_stats")  # (mu, sigma): checked by name there
                self.real = FeatureStats._from_moments(None, mu, sigma, check=None)

    def update(self, features: Any, *, real: bool) -> None:
        """Add a batch ``features`` (Tensor[N, D]) to the real (``real=True``) or fake statistics."""
        if real:
            if self.real_fixed:
                raise ValueError(
                    "FID: the real statistics were given as fixed real_stats; cannot update them"
                )
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

    def merge(self, other: FID) -> FID:
        """Merge another FID's statistics into this one (fixed real statistics are not merged)."""
        self._check_same_type(other)
        if not self.real_fixed and not other.real_fixed:
            self.real.merge(other.real)
        self.fake.merge(other.fake)
        return self

    def sync(self, group: Any = None) -> FID:
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
