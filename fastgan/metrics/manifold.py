"""k-NN precision, recall, density, coverage and realism score, computed exactly.

Definitions (real features ``X = {x_i}``, ``N`` rows; fake features ``Y = {y_j}``, ``M`` rows):

* ``r_i = NND_k(x_i)``: Euclidean distance from ``x_i`` to its k-th nearest neighbour among
  the OTHER real samples (the point itself is excluded by index; a duplicate of ``x_i`` at
  another index is a neighbour at distance 0). ``s_j = NND_k(y_j)`` likewise within ``Y``.
* ball membership ``y in B(x_i, r_i)`` iff ``|y - x_i| <= r_i`` (closed balls, the default) or
  ``|y - x_i| < r_i`` with ``strict=True`` (open balls).
* precision ``= 1/M sum_j 1[exists i: y_j in B(x_i, r_i)]``
  (Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
  Models", with their ``<=``).
* recall ``= 1/N sum_i 1[exists j: x_i in B(y_j, s_j)]`` (same paper).
* density ``= 1/(k M) sum_j sum_i 1[y_j in B(x_i, r_i)]`` (Naeem et al. 2020, "Reliable
  Fidelity and Diversity Metrics for Generative Models").
* coverage ``= 1/N sum_i 1[exists j: y_j in B(x_i, r_i)]``, i.e. ``min_j |x_i - y_j| <= r_i``
  (same paper).

Exactness: every decision above equals the one a brute-force float64 computation with
direct differences (``sum_d (a_d - b_d)**2``) makes on the given features; comparisons are
made on squared distances (``d^2 <= r^2``), which is the same test as on Euclidean distances
up to the rounding of a square root. See :mod:`fastgan.metrics._bounds` for the certified
float32 + float64 refinement scheme; values are therefore independent of the engine, the
block size and the device (ties included: a tie in float64 is decided by the convention).

Matches:
    * precision / recall: Kynkaanniemi et al. 2019 and their reference code (``<=``, k-th
      neighbour excluding the point itself, default k = 3).
    * density / coverage: Naeem et al. 2020 (default k = 5). Their reference code (the
      ``prdc`` package) uses strict ``<`` for all four metrics; ``strict=True`` reproduces it
      exactly (it computes distances with float64-upcast expanded products, so it agrees with
      the float64 reference except on near-ties). The default here is ``<=`` for all four
      metrics, so that a real sample's ``k`` nearest neighbours lie inside its own ball and
      ``precision(X, X) = recall(X, X) = coverage(X, X) = 1`` holds for any ``X``.
    * ``prdc(real, fake, k)``: all four with the same ``k``, like ``prdc.compute_prdc``.
    * realism score: Kynkaanniemi et al. 2019, Sec. 5: ``R(y) = max_i r_i / |y - x_i|`` over the
      real samples whose radius is at most the median radius (the half of the hyperspheres
      with the largest radii is discarded). ``squared=True`` gives the reference code's form
      ``max_i r_i^2 / (|y - x_i|^2 + eps)``.

Presets: ``preset=`` (:mod:`fastgan.features.presets`) sets ``k`` (``pr_k`` for
:func:`precision_recall`, ``prdc_k`` for :func:`prdc`, :func:`density_coverage` and :class:`PRDC`)
and ``strict = not pr_inclusive`` when they are not given. All three presets use k = 3 and ``<=``
for precision / recall (torch-fidelity's ``prc_neighborhood=3`` and ``<=``: its
``calculate_metrics(input1=fake, input2=real, prc=True)`` equals ``precision_recall(real, fake,
preset="torch-fidelity")``) and k = 5 with ``<=`` for PRDC.

Engines: ``impl="auto"`` runs the torch GEMM-tile engine (CPU or CUDA, whichever holds the
features); ``impl="faiss"`` runs faiss searches (a GPU index for CUDA features when faiss sees
GPUs). Both are exact and return identical results (see :mod:`fastgan.metrics.knn.dispatch`).
Memory beyond the inputs is ``O((N + M) * D + block_size^2)``; a tile that runs out of memory
is retried with half as many rows.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch
from tqdm import tqdm

from fastgan._checks import (
    check_choice,
    check_features,
    check_positive_int,
    check_same_device,
    check_same_dim,
)
from fastgan._progress import progress_bar
from fastgan.metrics import knn
from fastgan.metrics._base import BankMetric
from fastgan.metrics.conventions import PresetLike, get_conventions

__all__ = ["prdc", "precision_recall", "density_coverage", "realism_score", "PRDC"]

logger = logging.getLogger(__name__)


def _check_k(k: Any, name: str, n: int, set_name: str) -> int:
    k = check_positive_int(k, name)
    if k >= n:
        raise ValueError(
            f"{name}: needs {name} < number of {set_name} samples (each sample's {name}-th nearest OTHER "
            f"sample must exist), got {name}={k} with {n} {set_name} sample(s)"
        )
    return k


def _prepare(real: Any, fake: Any, fake_name: str = "fake") -> tuple[torch.Tensor, torch.Tensor]:
    x = check_features(real, "real")
    y = check_features(fake, fake_name)
    check_same_dim(x, y, "real", fake_name)
    check_same_device([x, y], ["real", fake_name])
    return x, y


def _progress(enabled: Optional[bool], total: int, desc: str) -> tqdm:
    """A tqdm bar over ``total`` rows; ``enabled=None``: only when stderr is a terminal."""
    return progress_bar(enabled, total=total, desc=desc, unit="rows")


def _resolve(preset: PresetLike, k: Optional[int], strict: Optional[bool], field: str) -> tuple[int, bool]:
    """(k, strict) from the arguments, falling back to the preset's ``field`` and ``pr_inclusive``."""
    p = get_conventions(preset)
    return (getattr(p, field) if k is None else k), (not p.pr_inclusive if strict is None else strict)


def _compute(
    real: Any,
    fake: Any,
    k_pr: Optional[int],
    k_dc: Optional[int],
    *,
    strict: bool,
    impl: str,
    block_size: Optional[int],
    progress: Optional[bool],
    stats: Optional[dict[str, Any]],
) -> dict[str, float]:
    x, y = _prepare(real, fake)
    n, m = x.shape[0], y.shape[0]
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    if not isinstance(strict, bool):
        raise TypeError(f"strict: expected a bool, got {type(strict).__name__}")
    check_choice(impl, "impl", knn.IMPLS)
    if k_pr is not None:
        k_pr = _check_k(k_pr, "k", n, "real")
        k_pr = _check_k(k_pr, "k", m, "fake")
    if k_dc is not None:
        k_dc = _check_k(k_dc, "k", n, "real")
    st: dict[str, Any] = {} if stats is None else stats
    engine = knn.resolve_impl(impl, x.device)
    st["impl"] = engine
    kw: dict[str, Any] = {"block_size": block_size, "stats": st}
    real_ks = sorted({k for k in (k_pr, k_dc) if k is not None})
    total = n + (m if k_pr is not None else 0) + n
    out: dict[str, float] = {}
    with _progress(progress, total, "prdc") as bar:
        kw["progress"] = bar
        r2 = knn.knn_radii(x, real_ks, engine, **kw)
        r2_by_k = {k: knn.RadiusView(r2, t) for t, k in enumerate(real_ks)}
        s2 = knn.RadiusView(knn.knn_radii(y, [k_pr], engine, **kw), 0) if k_pr is not None else None
        if k_pr is not None and k_dc is not None and k_pr != k_dc:
            # two radius sets for the real side: one pass for precision, one for density/coverage
            pr_stats = knn.cross_ball_stats(x, y, r2_by_k[k_pr], s2, engine, strict=strict, **kw)
            dc_stats = knn.cross_ball_stats(x, y, r2_by_k[k_dc], None, engine, strict=strict, **kw)
        else:
            r_use = r2_by_k[k_pr if k_pr is not None else k_dc]  # type: ignore[index]
            pr_stats = dc_stats = knn.cross_ball_stats(x, y, r_use, s2, engine, strict=strict, **kw)
    if k_pr is not None:
        out["precision"] = int((pr_stats["count_y"] > 0).sum().item()) / m
        out["recall"] = int(pr_stats["inside_y_x"].sum().item()) / n
    if k_dc is not None:
        out["density"] = int(dc_stats["count_y"].sum().item()) / (k_dc * m)
        out["coverage"] = int(dc_stats["cover_x"].sum().item()) / n
    return out


def prdc(
    real: Any,
    fake: Any,
    k: Optional[int] = None,
    *,
    strict: Optional[bool] = None,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    preset: PresetLike = None,
) -> dict[str, float]:
    """Precision, recall, density and coverage with one shared k-NN computation.

    Args:
        real (Tensor[N, D] | ndarray): real features (float16/bfloat16/float32/float64; CPU or CUDA).
        fake (Tensor[M, D] | ndarray): generated features, same D and device.
        k: neighbourhood size for all four metrics (as ``prdc.compute_prdc``'s ``nearest_k``);
            ``1 <= k < min(N, M)`` (None: the preset's ``prdc_k``, 5).
        strict: False decides ball membership with ``<=``; True with ``<`` (the ``prdc``
            package's convention); None: the preset's (``<=``).
        impl: ``"auto"`` | ``"torch"`` | ``"faiss"`` (see :mod:`fastgan.metrics.knn.dispatch`).
        block_size: side of the square distance tiles (default 2048 on CPU, 8192 on CUDA);
            halved automatically on out-of-memory.
        progress: show a tqdm progress bar on stderr (None: only when stderr is a terminal).
        stats: optional dict that receives diagnostics (``impl`` used, number of pairs refined
            in float64, block size after out-of-memory retries).
        preset: ``"pytorch-fid"`` (None: fastgan's defaults), ``"torch-fidelity"`` or
            ``"clean-fid"``: ``k`` and ``strict`` when not given (module docstring).

    Returns:
        dict with float ``precision``, ``recall``, ``density``, ``coverage``.

    Matches: Kynkaanniemi et al. 2019 (precision, recall) and Naeem et al. 2020 (density,
    coverage); see the module docstring for every convention.

    Example:
        >>> import torch
        >>> x = torch.arange(8.0).reshape(8, 1)
        >>> prdc(x, x, k=2)
        {'precision': 1.0, 'recall': 1.0, 'density': 1.5, 'coverage': 1.0}
    """
    k, strict = _resolve(preset, k, strict, "prdc_k")
    return _compute(
        real, fake, k, k, strict=strict, impl=impl, block_size=block_size, progress=progress, stats=stats
    )


def precision_recall(
    real: Any,
    fake: Any,
    k: Optional[int] = None,
    *,
    strict: Optional[bool] = None,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    preset: PresetLike = None,
) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features.
        k: neighbourhood size, ``1 <= k < min(N, M)`` (None: the preset's ``pr_k``, 3, the
            paper's default).
        strict, impl, block_size, progress, stats, preset: as in :func:`prdc`.

    Returns:
        dict with float ``precision`` and ``recall``.

    Matches: Kynkaanniemi et al. 2019 and their reference code: ``|y - x_i| <= NND_k(x_i)``,
    the k-th neighbour excluding the point itself; torch-fidelity 0.4.0 ``prc`` (precision =
    fraction of its ``input1`` = ``fake``).

    Example:
        >>> import torch
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> precision_recall(real, real + 10, k=1)
        {'precision': 0.0, 'recall': 0.0}
    """
    k, strict = _resolve(preset, k, strict, "pr_k")
    return _compute(
        real, fake, k, None, strict=strict, impl=impl, block_size=block_size, progress=progress, stats=stats
    )


def density_coverage(
    real: Any,
    fake: Any,
    k: Optional[int] = None,
    *,
    strict: Optional[bool] = None,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    preset: PresetLike = None,
) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features.
        k: neighbourhood size for the real radii, ``1 <= k < N`` (None: the preset's ``prdc_k``,
            5, the paper's default).
        strict, impl, block_size, progress, stats, preset: as in :func:`prdc`.

    Returns:
        dict with float ``density`` (in ``[0, N / k]``) and ``coverage`` (in ``[0, 1]``).

    Matches: Naeem et al. 2020; ``strict=True`` reproduces the ``prdc`` package's ``<``.

    Example:
        >>> import torch
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> density_coverage(real, torch.tensor([[1.5]]), k=1)
        {'density': 2.0, 'coverage': 0.5}
    """
    k, strict = _resolve(preset, k, strict, "prdc_k")
    return _compute(
        real, fake, None, k, strict=strict, impl=impl, block_size=block_size, progress=progress, stats=stats
    )


def realism_score(
    real: Any,
    samples: Any,
    k: int = 3,
    *,
    prune: bool = True,
    squared: bool = False,
    eps: float = 1e-5,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """Realism score of each sample (Kynkaanniemi et al. 2019, Sec. 5), exactly.

    ``R(y) = max_i r_i / |y - x_i|`` over the real samples ``x_i`` kept after pruning, with
    ``r_i = NND_k(x_i)`` (k-th neighbour excluding ``x_i``). ``R(y) >= 1`` iff ``y`` lies in a
    kept ball (with ``<=``). Pruning (default, as in the paper): a real sample is kept iff
    ``r_i <= median(r)`` (``numpy.percentile(r, 50)``, linear interpolation), i.e. the
    hyperspheres with the largest radii are discarded. Real samples with ``r_i = 0`` contribute 0.

    Args:
        real (Tensor[N, D] | ndarray): real features, ``N > k``.
        samples (Tensor[M, D] | ndarray): samples to score (same D and device).
        k: neighbourhood size (paper: 3).
        prune: discard the real samples whose radius exceeds the median radius.
        squared: False: the paper's ``r_i / d`` (``inf`` when ``y`` coincides with a kept ``x_i``);
            True: the reference code's ``r_i^2 / (d^2 + eps)``.
        eps: only used with ``squared=True`` (reference code: 1e-5).
        impl, block_size, progress, stats: as in :func:`prdc` (``impl`` chooses the engine of
            the radii; the ratios always run on the torch engine).

    Returns:
        Tensor[M] float64 on the samples' device (0 where no real sample is kept).

    Example:
        >>> import torch
        >>> real = torch.tensor([[0.0], [1.0], [3.0]])
        >>> realism_score(real, torch.tensor([[0.5], [10.0]]), k=1, prune=False)
        tensor([2.0000, 0.2857], dtype=torch.float64)
    """
    x, q = _prepare(real, samples, "samples")
    k = _check_k(k, "k", x.shape[0], "real")
    if eps < 0:
        raise ValueError(f"eps: must be >= 0, got {eps}")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    check_choice(impl, "impl", knn.IMPLS)
    st: dict[str, Any] = {} if stats is None else stats
    engine = knn.resolve_impl(impl, x.device)
    st["impl"] = engine
    with _progress(progress, x.shape[0] + q.shape[0], "realism") as bar:
        r2 = knn.knn_sqradii(x, [k], engine, block_size=block_size, progress=bar, stats=st)[0]
        if prune:
            srt = torch.sort(r2).values
            n = srt.numel()
            median = 0.5 * (srt[(n - 1) // 2] + srt[n // 2])
            r2 = torch.where(r2 <= median, r2, torch.zeros_like(r2))
        ratio = knn.max_ratio_torch(
            x, r2, q, eps=eps if squared else 0.0, block_size=block_size, progress=bar, stats=st
        )
    return ratio if squared else ratio.sqrt()


# ----------------------------------------------------------------------------- stateful class


class PRDC(BankMetric):
    """Feature banks for real and fake samples: the :class:`~fastgan.metrics.Metric` protocol.

    PRDC has no compact sufficient statistic, so the state is the two feature banks.
    :meth:`merge` concatenates banks; under ``torch.distributed`` call :meth:`sync` on every
    rank before :meth:`compute` (a tensor all-gather of the banks). The metrics are invariant
    to the order of the samples, so the result equals the single-process one exactly.

    Args:
        k: neighbourhood size for all four metrics (see :func:`prdc`; None: the preset's).
        strict, impl, block_size, progress, preset: as in :func:`prdc`.

    Example:
        >>> import torch
        >>> m = PRDC(k=2)
        >>> m.update(torch.arange(6.0).reshape(6, 1), real=True)
        >>> m.update(torch.arange(6.0).reshape(6, 1), real=False)
        >>> m.compute()["precision"]
        1.0
    """

    def __init__(
        self,
        k: Optional[int] = None,
        *,
        strict: Optional[bool] = None,
        impl: str = "auto",
        block_size: Optional[int] = None,
        progress: Optional[bool] = None,
        preset: PresetLike = None,
    ) -> None:
        super().__init__()
        k, strict = _resolve(preset, k, strict, "prdc_k")
        self.k = check_positive_int(k, "k")
        self.strict = strict
        self.impl = impl
        self.block_size = block_size
        self.progress = progress

    def compute(self, stats: Optional[dict[str, Any]] = None) -> dict[str, float]:
        """``{"precision", "recall", "density", "coverage"}`` (floats) of all samples in the banks."""
        x = self._bank(real=True)
        y = self._bank(real=False)
        return prdc(
            x,
            y,
            self.k,
            strict=self.strict,
            impl=self.impl,
            block_size=self.block_size,
            progress=self.progress,
            stats=stats,
        )
