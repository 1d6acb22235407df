"""Clipped density and clipped coverage (Salvy et al. 2025), computed exactly.

"Enhanced Generative Model Evaluation with Clipped Density and Coverage" (arXiv:2507.01761).
Real features ``X = {x_i}`` (N rows), fake features ``Y = {y_j}`` (M rows), ``r_i = NND_k(x_i)``
the distance from ``x_i`` to its k-th nearest OTHER real sample:

* clipped radii ``r'_i = min(r_i, median(r))`` (``numpy.median``: the mean of the two middle
  values for even N), so that outliers' large balls cannot inflate the score;
* ``c_j = #{i : |y_j - x_i| <= r'_i}`` and the per-sample contribution ``min(c_j / k, 1)``;
  ``F = 1/M sum_j min(c_j / k, 1)``;
* the same quantity of the real samples themselves, ``F_real = 1/N sum_l min(c'_l / k, 1)`` with
  ``c'_l = #{i != l : |x_l - x_i| <= r'_i}``; clipped density ``= min(F / F_real, 1)``;
* clipped coverage: for each real sample the fraction of its k nearest fake samples that lie
  strictly inside its (unclipped) ball, ``min(#{j : |y_j - x_i| < r_i}, k) / k``, averaged over
  the real samples (``raw``), then calibrated: ``g(raw) = #{M_i : f(M_i) < raw} / (M + 1)`` where
  ``f(M_i)`` is the expected raw value when ``M_i`` of the M fake samples follow the real
  distribution (a beta-binomial expectation, :func:`coverage_calibration`), so that the score
  reads as the fraction of the real distribution that is covered.

Exactness: the radii come from the exact k-NN engine (:mod:`fastgan.metrics.knn`), the
memberships from :func:`fastgan.metrics._ball_counts.ball_reductions` (every decision equals a
brute-force float64 computation with direct differences). Memory: ``O((N + M) * D + tile^2)``,
never an ``N x M`` matrix; the calibration evaluates ``f`` at the ~log2(M) points of a binary
search instead of all M + 1 values (same result: the search numpy's ``searchsorted`` runs).

Matches: the authors' ``ClippedDensityCoverage`` (``ClippedDensityCoverage/metrics/
Clipped_Density_Coverage.py``): default k = 5; ``<=`` against the clipped radius for density;
strict ``<`` against the unclipped radius for coverage; ``f`` = its ``_f_coverage`` (zero for
``M_i < k``, log-gamma terms summed with ``logaddexp``) and ``g`` = its ``_g``
(``searchsorted(side="left") / (M + 1)``). One documented difference: the reference's real
normaliser counts only the k neighbours its k-NN search lists, so when several real samples tie
exactly at the k-th distance it counts fewer than the ``c'_l`` above (continuous features never tie).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from fastgan._checks import (
    check_choice,
    check_features,
    check_positive_int,
    check_same_device,
    check_same_dim,
)
from fastgan._progress import progress_bar
from fastgan.metrics import knn
from fastgan.metrics._ball_counts import ball_reductions
from fastgan.metrics._base import BankMetric

__all__ = [
    "KEY_CLIPPED_COVERAGE",
    "KEY_CLIPPED_DENSITY",
    "ClippedDensityCoverage",
    "clipped_coverage",
    "clipped_density",
    "clipped_density_coverage",
    "coverage_calibration",
]

#: Result keys of :func:`clipped_density_coverage`.
KEY_CLIPPED_DENSITY = "clipped_density"
KEY_CLIPPED_COVERAGE = "clipped_coverage"


class _Calibration:
    """``f(M_i)`` of the reference's ``_f_coverage`` for one ``(k, N, M)``, evaluated on demand."""

    def __init__(self, k: int, n: int, m: int) -> None:
        self.k, self.n, self.m = k, n, m
        self.lg = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, m + n + 1)))))  # log(t!)
        self.log_den = self.lg[k - 1] + self.lg[n - k - 1] - self.lg[n - 1]  # log B(k, N - k)

    def __call__(self, mi: int) -> float:
        if mi < self.k:
            return 0.0
        lg, k, n = self.lg, self.k, self.n
        j = np.arange(mi + 1)
        with np.errstate(divide="ignore"):
            log_min = np.log(np.minimum(j, k))
        log_binom = lg[mi] - lg[j] - lg[mi - j]
        log_beta = lg[k + j - 1] + lg[n + mi - k - j - 1] - lg[n + mi - 1]
        terms = log_min + log_binom + log_beta - self.log_den
        return float(np.exp(np.logaddexp.reduce(terms)) / k)

    def g(self, raw: float) -> float:
        """``searchsorted(f, raw, side="left") / (M + 1)`` by the same bisection numpy runs."""
        lo, hi = 0, self.m + 1
        while lo < hi:
            mid = lo + ((hi - lo) >> 1)
            if self(mid) < raw:
                lo = mid + 1
            else:
                hi = mid
        return lo / (self.m + 1)


def coverage_calibration(k: int, n: int, m: int) -> np.ndarray:
    """All values ``f(0..M)`` of the clipped-coverage calibration (the reference's ``_f_coverage``).

    ``f(M_i)`` is the expected raw clipped coverage (module docstring) when ``M_i`` of the ``M``
    fake samples follow the real distribution and the others fall outside every ball: with the
    mass of a k-NN ball distributed as ``Beta(k, N - k)``, the number ``J`` of the ``M_i`` samples
    inside it is beta-binomial and ``f(M_i) = E[min(J, k)] / k`` (0 for ``M_i < k``, as the reference).

    Args:
        k: neighbourhood size, ``1 <= k < N``.
        n: real sample count N.
        m: fake sample count M.

    Returns:
        ndarray[M + 1] float64, non-decreasing.

    >>> f = coverage_calibration(2, 10, 4)
    >>> f.shape, float(f[0]), bool(f[-1] > f[2])
    ((5,), 0.0, True)
    """
    cal = _Calibration(check_positive_int(k, "k"), check_positive_int(n, "n"), check_positive_int(m, "m"))
    return np.array([cal(i) for i in range(m + 1)])


def _compute(
    real: Any,
    fake: Any,
    k: Any,
    want_d: bool,
    want_c: bool,
    impl: str,
    block_size: Optional[int],
    progress: Optional[bool],
    stats: Optional[dict[str, Any]],
    calibrate: bool = True,
) -> dict[str, float]:
    x = check_features(real, "real").detach()
    y = check_features(fake, "fake").detach()
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    n, m = x.shape[0], y.shape[0]
    k = check_positive_int(k, "k")
    if k >= n:
        raise ValueError(f"k: needs k < number of real samples, got k={k} with {n} real sample(s)")
    if want_c and k > m:
        raise ValueError(f"k: clipped coverage needs k <= number of fake samples, got k={k} with {m}")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    check_choice(impl, "impl", knn.IMPLS)
    st: dict[str, Any] = {} if stats is None else stats
    engine = knn.resolve_impl(impl, x.device)
    st["impl"] = engine
    kw: dict[str, Any] = {"block_size": block_size, "stats": st}
    out: dict[str, float] = {}
    total = n * (1 + 2 * want_d + want_c)
    with progress_bar(progress, total=total, desc="clipped d/c", unit="rows") as bar, torch.no_grad():
        kw["progress"] = bar
        r2 = knn.knn_sqradii(x, [k], engine, **kw)[0]
        if want_d:
            r = r2.sqrt().cpu().numpy()
            med = float(np.median(r))
            r2c = torch.where(torch.from_numpy(r <= med).to(r2.device), r2, torch.full_like(r2, med * med))
            cy = ball_reductions(x, r2c, y, strict=False, want=("count_y",), **kw)["count_y"]
            cx = ball_reductions(x, r2c, x, strict=False, want=("count_y",), **kw)["count_y"] - 1
            fid = float((cy.double() / k).clamp_max_(1.0).mean())
            fid_real = float((cx.double() / k).clamp_max_(1.0).mean())
            out[KEY_CLIPPED_DENSITY] = min(fid / fid_real, 1.0)
        if want_c:
            cnt = ball_reductions(x, r2, y, strict=True, want=("count_x",), **kw)["count_x"]
            raw = float((cnt.clamp_max(k).double() / k).mean())
            st["clipped_coverage_raw"] = raw
            out[KEY_CLIPPED_COVERAGE] = _Calibration(k, n, m).g(raw) if calibrate else raw
    return out


def clipped_density_coverage(
    real: Any,
    fake: Any,
    k: int = 5,
    *,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> dict[str, float]:
    """Clipped density and clipped coverage (Salvy et al. 2025), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features, same D and device.
        k: neighbourhood size, ``1 <= k < N`` and ``k <= M`` (reference: 5).
        impl: engine of the k-NN radii (``"auto"`` | ``"torch"`` | ``"faiss"``).
        block_size: side of the distance tiles (halved on out-of-memory).
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        stats: optional dict receiving diagnostics (``impl``, ``ball_refined``,
            ``clipped_coverage_raw``: the coverage before calibration).

    Returns:
        ``{"clipped_density": float in [0, 1], "clipped_coverage": float in [0, 1]}``.

    Matches: the authors' ``ClippedDensityCoverage`` (module docstring).

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 4, generator=g)
    >>> out = clipped_density_coverage(x, x + 100.0)
    >>> out
    {'clipped_density': 0.0, 'clipped_coverage': 0.0}
    """
    return _compute(real, fake, k, True, True, impl, block_size, progress, stats)


def clipped_density(real: Any, fake: Any, k: int = 5, **kwargs: Any) -> float:
    """Clipped density alone (keywords as :func:`clipped_density_coverage`); a float in ``[0, 1]``."""
    return _compute(real, fake, k, True, False, **_kw(kwargs))[KEY_CLIPPED_DENSITY]


def clipped_coverage(real: Any, fake: Any, k: int = 5, *, calibrate: bool = True, **kwargs: Any) -> float:
    """Clipped coverage alone (keywords as :func:`clipped_density_coverage`); a float in ``[0, 1]``.

    ``calibrate=False`` returns the raw mean before the calibration ``g`` (the reference's
    ``_without_g``).
    """
    return _compute(real, fake, k, False, True, **_kw(kwargs), calibrate=calibrate)[KEY_CLIPPED_COVERAGE]


def _kw(kwargs: dict[str, Any]) -> dict[str, Any]:
    allowed: dict[str, Any] = {"impl": "auto", "block_size": None, "progress": None, "stats": None}
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    allowed.update(kwargs)
    return allowed


class ClippedDensityCoverage(BankMetric):
    """Stateful clipped density / coverage: banks of real and fake features (the Metric protocol).

    Args: as :func:`clipped_density_coverage` (``k``, ``impl``, ``block_size``, ``progress``).
    The values do not depend on the row order, so ``merge`` / ``sync`` give the single-process
    result.

    >>> m = ClippedDensityCoverage(k=2)
    >>> m.update(torch.arange(8.0).reshape(8, 1), real=True)
    >>> m.update(torch.arange(8.0).reshape(8, 1) + 100, real=False)
    >>> m.compute()
    {'clipped_density': 0.0, 'clipped_coverage': 0.0}
    """

    def __init__(
        self,
        k: int = 5,
        *,
        impl: str = "auto",
        block_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> None:
        super().__init__()
        self.k = check_positive_int(k, "k")
        self.impl = impl
        self.block_size = block_size
        self.progress = progress

    def compute(self) -> dict[str, float]:
        """``{"clipped_density", "clipped_coverage"}`` of all samples in the banks."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return clipped_density_coverage(
            x, y, self.k, impl=self.impl, block_size=self.block_size, progress=self.progress
        )
