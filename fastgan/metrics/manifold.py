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
up to the rounding of a square root. See :mod:`fastgan.metrics._knn` for the certified
float32 + float64 refinement scheme; values are therefore independent of the backend, the
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
    * ``prdc(real, fake, nearest_k)``: all four with the same ``k``, like ``prdc.compute_prdc``.
    * realism score: Kynkaanniemi et al. 2019, Sec. 5: ``R(y) = max_i r_i / |y - x_i|`` over the
      real samples whose radius is at most the median radius (the half of the hyperspheres
      with the largest radii is discarded). ``squared=True`` gives the reference code's form
      ``max_i r_i^2 / (|y - x_i|^2 + eps)``.

Backends: ``backend="auto"`` runs the blocked torch path (CPU or CUDA, whichever holds the
features); ``backend="faiss"`` runs faiss searches (GPU indices for CUDA features when faiss sees
GPUs). Both are exact and return identical results; torch measured about 4x faster (see
:func:`fastgan.metrics._knn.resolve_backend`). Memory beyond the inputs is
``O((N + M) * D + block_size^2)``; a tile that runs out of memory is retried with half as
many rows.

Approximate mode (opt-in, for millions of samples): ``index="ivf"`` or ``index="hnsw"``
replaces every exhaustive search by a faiss ``IndexIVFFlat`` / ``IndexHNSWFlat`` search
(:mod:`fastgan.metrics._ann`); ``index="flat"`` (the default) is the exact computation
above. Only candidate sets are approximate; every distance that decides anything is still
computed in float64 from the given features. Approximate radii are never smaller than the
exact ones, and for given radii memberships can only be missed, never invented; the two
effects act in opposite directions on the metrics. ``stats["approximate"]`` says which kind
of result was returned. Measured with the default options (``bench/bench_ann.py``, k = 5):
absolute errors of (precision, recall, density, coverage) ``(1e-4, 0, 0.0016, 1e-4)`` with
IVF and ``(3e-4, 0.0037, 0.019, 0)`` with HNSW on 10k x 2048 clustered low-intrinsic-dimension
features; ``(0.016, 0.004, 0.025, 0.18)`` (IVF) and ``(0.077, 0.12, 0.080, 0.030)`` (HNSW) on
20k x 256 isotropic Gaussians, the worst case. At these sizes it was not faster than the
exact path on a CPU (IVF 1.0x-3.2x, HNSW 2.5x-3.6x its time); it is meant for sizes
where the exact ``N^2`` work is out of reach. Details: :mod:`fastgan.metrics._ann`.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence

import torch

from fastgan._checks import check_choice, check_features, check_positive_int, check_same_device, check_same_dim
from fastgan._progress import Progress
from fastgan.metrics import _ann, _knn

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


def _progress(enabled: Optional[bool], total: int, desc: str) -> Progress:
    return Progress(total=total, desc=desc, enabled=enabled, unit="rows")


def _compute(
    real: Any,
    fake: Any,
    k_pr: Optional[int],
    k_dc: Optional[int],
    *,
    strict: bool,
    backend: str,
    block_size: Optional[int],
    progress: Optional[bool],
    stats: Optional[dict[str, Any]],
    index: str = "flat",
    index_options: Optional[Mapping[str, Any]] = None,
) -> dict[str, float]:
    x, y = _prepare(real, fake)
    n, m = x.shape[0], y.shape[0]
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    if not isinstance(strict, bool):
        raise TypeError(f"strict: expected a bool, got {type(strict).__name__}")
    check_choice(backend, "backend", _knn.BACKENDS)
    if k_pr is not None:
        k_pr = _check_k(k_pr, "k", n, "real")
        k_pr = _check_k(k_pr, "k", m, "fake")
    if k_dc is not None:
        k_dc = _check_k(k_dc, "k", n, "real")
    cfg = _resolve_index(index, index_options, backend)
    st: dict[str, Any] = {} if stats is None else stats
    if cfg is not None:
        return _compute_approx(x, y, k_pr, k_dc, cfg, strict=strict, progress=progress, st=st)
    be = _knn.resolve_backend(backend, x.device)
    st["backend"] = be
    st["approximate"] = False
    st["index"] = "flat"
    kw: dict[str, Any] = {"block_size": block_size, "stats": st}
    real_ks = sorted({k for k in (k_pr, k_dc) if k is not None})
    total = n + (m if k_pr is not None else 0) + n
    out: dict[str, float] = {}
    with _progress(progress, total, "prdc") as bar:
        kw["progress"] = bar
        r2 = _knn.knn_radii(x, real_ks, be, **kw)
        r2_by_k = {k: _knn.RadiusView(r2, t) for t, k in enumerate(real_ks)}
        s2 = _knn.RadiusView(_knn.knn_radii(y, [k_pr], be, **kw), 0) if k_pr is not None else None
        if k_pr is not None and k_dc is not None and k_pr != k_dc:
            # two radius sets for the real side: one pass for precision, one for density/coverage
            a = _knn.cross_ball_stats(x, y, r2_by_k[k_pr], s2, be, strict=strict, **kw)
            b = _knn.cross_ball_stats(x, y, r2_by_k[k_dc], None, be, strict=strict, **kw)
            pr_stats, dc_stats = a, b
        else:
            r_use = r2_by_k[k_pr if k_pr is not None else k_dc]  # type: ignore[index]
            a = _knn.cross_ball_stats(x, y, r_use, s2, be, strict=strict, **kw)
            pr_stats = dc_stats = a
    if k_pr is not None:
        out["precision"] = int((pr_stats["count_y"] > 0).sum().item()) / m
        out["recall"] = int(pr_stats["inside_y_x"].sum().item()) / n
    if k_dc is not None:
        out["density"] = int(dc_stats["count_y"].sum().item()) / (k_dc * m)
        out["coverage"] = int(dc_stats["cover_x"].sum().item()) / n
    return out


def _resolve_index(index: Any, index_options: Optional[Mapping[str, Any]], backend: str) -> Optional[_ann.AnnConfig]:
    cfg = _ann.resolve_index(index, index_options)
    if cfg is not None and backend == "torch":
        raise ValueError(f"backend: 'torch' runs exact searches only; index={index!r} needs backend='auto' or 'faiss'")
    return cfg


def _metrics_from(pr_stats: Optional[dict], dc_stats: Optional[dict], k_dc: Optional[int], n: int, m: int) -> dict[str, float]:
    out: dict[str, float] = {}
    if pr_stats is not None:
        out["precision"] = int((pr_stats["count_y"] > 0).sum().item()) / m
        out["recall"] = int(pr_stats["inside_y_x"].sum().item()) / n
    if dc_stats is not None and k_dc is not None:
        out["density"] = int(dc_stats["count_y"].sum().item()) / (k_dc * m)
        out["coverage"] = int(dc_stats["cover_x"].sum().item()) / n
    return out


def _compute_approx(
    x: torch.Tensor,
    y: torch.Tensor,
    k_pr: Optional[int],
    k_dc: Optional[int],
    cfg: _ann.AnnConfig,
    *,
    strict: bool,
    progress: Optional[bool],
    st: dict[str, Any],
) -> dict[str, float]:
    """The four metrics with approximate candidate searches (see :mod:`fastgan.metrics._ann`)."""
    n, m = x.shape[0], y.shape[0]
    real_ks = sorted({k for k in (k_pr, k_dc) if k is not None})
    cand = cfg.n_candidates(max(real_ks))
    st["backend"] = "faiss"
    st["approximate"] = True
    st["index"] = cfg.kind
    st["index_options"] = {**cfg.as_dict(), "candidates": cand}
    n_cross = 1 + int(k_pr is not None and k_dc is not None and k_pr != k_dc)
    total = n + (m if k_pr is not None else 0) + n_cross * m + n * (1 + int(k_pr is not None))
    with _progress(progress, total, "prdc (approximate)") as bar:
        index_x = _ann.AnnIndex(x, cfg)
        r2 = _ann.ann_sqradii(x, real_ks, index_x, progress=bar, stats=st)
        st["index_params"] = {"real": index_x.params}
        del index_x
        r2_by_k = {k: r2[t] for t, k in enumerate(real_ks)}
        # the plain index of the fake set gives its radii and coverage's nearest fake samples
        index_y = _ann.AnnIndex(y, cfg)
        st["index_params"]["fake"] = index_y.params
        s2 = _ann.ann_sqradii(y, [k_pr], index_y, progress=bar, stats=st)[0] if k_pr is not None else None
        kw: dict[str, Any] = {"strict": strict, "progress": bar, "stats": st}
        if k_pr is not None and k_dc is not None and k_pr != k_dc:
            pr_stats = _ann.ann_ball_stats(x, y, r2_by_k[k_pr], s2, cfg, cand, **kw)
            dc_stats = _ann.ann_ball_stats(x, y, r2_by_k[k_dc], None, cfg, cand, index_y=index_y, **kw)
        else:
            r_use = r2_by_k[k_pr if k_pr is not None else k_dc]  # type: ignore[index]
            pr_stats = dc_stats = _ann.ann_ball_stats(x, y, r_use, s2, cfg, cand, index_y=index_y, **kw)
    logger.info("prdc with index=%r is approximate (%s)", cfg.kind, st["index_options"])
    return _metrics_from(pr_stats if k_pr is not None else None, dc_stats, k_dc, n, m)


def prdc(
    real: Any,
    fake: Any,
    nearest_k: int = 5,
    *,
    strict: bool = False,
    backend: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    index: str = "flat",
    index_options: Optional[Mapping[str, Any]] = None,
) -> dict[str, float]:
    """Precision, recall, density and coverage with one shared k-NN computation.

    Args:
        real (Tensor[N, D] | ndarray): real features (float16/bfloat16/float32/float64; CPU or CUDA).
        fake (Tensor[M, D] | ndarray): generated features, same D and device.
        nearest_k: k for all four metrics (as ``prdc.compute_prdc``); ``1 <= k < min(N, M)``.
        strict: False (default) decides ball membership with ``<=``; True with ``<`` (the
            ``prdc`` package's convention).
        backend: ``"auto"`` | ``"faiss"`` | ``"torch"`` (see :mod:`fastgan.metrics._knn`).
        block_size: side of the square distance tiles (default 2048 on CPU, 8192 on CUDA);
            halved automatically on out-of-memory.
        progress: show a progress bar on stderr (None: only when stderr is a terminal).
        stats: optional dict that receives diagnostics (backend used, number of pairs refined
            in float64, block size after OOM retries, ``approximate`` (bool), ``index`` and the
            index options used).
        index: ``"flat"`` (default): exact. ``"ivf"`` | ``"hnsw"``: APPROXIMATE searches with faiss
            (see the module docstring and :mod:`fastgan.metrics._ann`); needs faiss, ignores
            ``block_size``, and ``backend`` must be ``"auto"`` or ``"faiss"``.
        index_options: settings of the approximate index (only with ``index="ivf"``/``"hnsw"``):
            IVF ``nlist`` (cells, default ``~4 sqrt(N)``), ``nprobe`` (cells scanned, 16),
            ``niter`` (k-means iterations, 10), ``seed`` (k-means seed, 1234); HNSW ``M`` (32),
            ``ef_search`` (64), ``ef_construction`` (64); both ``candidates`` (balls tested per
            query, default ``max(4 k, 16)``). Larger ``nprobe`` / ``ef_search`` / ``candidates``:
            smaller error, longer run. ``nprobe = nlist`` with ``candidates >= N`` gives the exact
            result (unless float32 near-ties in the index's ranking exceed 8 spare neighbours).
            Measured defaults' error: see the module docstring (worst case: coverage off by
            0.18 on 20k x 256 isotropic Gaussians with IVF; below 0.002 on clustered 2048-d
            features).

    Returns:
        dict with float ``precision``, ``recall``, ``density``, ``coverage``.

    Matches: Kynkaanniemi et al. 2019 (precision, recall) and Naeem et al. 2020 (density,
    coverage); see the module docstring for every convention.

    Example:
        >>> import torch
        >>> x = torch.arange(8.0).reshape(8, 1)
        >>> prdc(x, x, nearest_k=2)
        {'precision': 1.0, 'recall': 1.0, 'density': 1.5, 'coverage': 1.0}
    """
    return _compute(
        real, fake, nearest_k, nearest_k,
        strict=strict, backend=backend, block_size=block_size, progress=progress, stats=stats,
        index=index, index_options=index_options,
    )


def precision_recall(
    real: Any,
    fake: Any,
    k: int = 3,
    *,
    strict: bool = False,
    backend: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    index: str = "flat",
    index_options: Optional[Mapping[str, Any]] = None,
) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features.
        k: neighbourhood size, ``1 <= k < min(N, M)`` (paper default 3).
        strict, backend, block_size, progress, stats, index, index_options: as in :func:`prdc`.

    Returns:
        dict with float ``precision`` and ``recall``.

    Matches: Kynkaanniemi et al. 2019 and their reference code: ``|y - x_i| <= NND_k(x_i)``,
    the k-th neighbour excluding the point itself.

    Example:
        >>> import torch
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> precision_recall(real, real + 10, k=1)
        {'precision': 0.0, 'recall': 0.0}
    """
    return _compute(
        real, fake, k, None, strict=strict, backend=backend, block_size=block_size, progress=progress, stats=stats,
        index=index, index_options=index_options,
    )


def density_coverage(
    real: Any,
    fake: Any,
    k: int = 5,
    *,
    strict: bool = False,
    backend: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    index: str = "flat",
    index_options: Optional[Mapping[str, Any]] = None,
) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features.
        k: neighbourhood size for the real radii, ``1 <= k < N`` (paper default 5).
        strict, backend, block_size, progress, stats, index, index_options: as in :func:`prdc`.

    Returns:
        dict with float ``density`` (in ``[0, N / k]``) and ``coverage`` (in ``[0, 1]``).

    Matches: Naeem et al. 2020; ``strict=True`` reproduces the ``prdc`` package's ``<``.

    Example:
        >>> import torch
        >>> real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> density_coverage(real, torch.tensor([[1.5]]), k=1)
        {'density': 2.0, 'coverage': 0.5}
    """
    return _compute(
        real, fake, None, k, strict=strict, backend=backend, block_size=block_size, progress=progress, stats=stats,
        index=index, index_options=index_options,
    )


def realism_score(
    real: Any,
    samples: Any,
    k: int = 3,
    *,
    prune: bool = True,
    squared: bool = False,
    eps: float = 1e-5,
    backend: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
    index: str = "flat",
    index_options: Optional[Mapping[str, Any]] = None,
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
        index, index_options: as in :func:`prdc`; approximate realism scores take the maximum
            over each sample's ``candidates`` deepest balls only (never above the exact value for
            the same radii) after approximate radii and an approximate median.
        backend, block_size, progress, stats: as in :func:`prdc` (realism always runs the blocked
            torch path after the radii).

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
    check_choice(backend, "backend", _knn.BACKENDS)
    cfg = _resolve_index(index, index_options, backend)
    st: dict[str, Any] = {} if stats is None else stats
    if cfg is None:
        be = _knn.resolve_backend(backend, x.device)
        st.update(backend=be, approximate=False, index="flat")
    else:
        cand = cfg.n_candidates(k)
        st.update(backend="faiss", approximate=True, index=cfg.kind, index_options={**cfg.as_dict(), "candidates": cand})
    with _progress(progress, x.shape[0] + q.shape[0], "realism") as bar:
        if cfg is None:
            r2 = _knn.knn_sqradii(x, [k], be, block_size=block_size, progress=bar, stats=st)[0]
        else:
            index_x = _ann.AnnIndex(x, cfg)
            st["index_params"] = {"real": index_x.params}
            r2 = _ann.ann_sqradii(x, [k], index_x, progress=bar, stats=st)[0]
            del index_x
        if prune:
            srt = torch.sort(r2).values
            n = srt.numel()
            median = 0.5 * (srt[(n - 1) // 2] + srt[n // 2])
            r2 = torch.where(r2 <= median, r2, torch.zeros_like(r2))
        if cfg is None:
            ratio = _knn.max_ratio_torch(
                x, r2, q, eps=eps if squared else 0.0, block_size=block_size, progress=bar, stats=st
            )
        else:
            ratio = _ann.ann_max_ratio(
                x, r2, q, cfg, cand, eps=eps if squared else 0.0, progress=bar, stats=st
            )
    return ratio if squared else ratio.sqrt()


# ----------------------------------------------------------------------------- stateful class


from fastgan.metrics._base import BankMetric  # noqa: E402  (the protocol of the stateful class below)


class PRDC(BankMetric):
    """Feature banks for real and fake samples: the :class:`~fastgan.metrics.Metric` protocol.

    PRDC has no compact sufficient statistic, so the state is the two feature banks.
    :meth:`merge` concatenates banks; under ``torch.distributed`` call :meth:`sync` on every
    rank before :meth:`compute` (a tensor all-gather of the banks). The metrics are invariant
    to the order of the samples, so the result equals the single-process one exactly.

    Args:
        k: neighbourhood size for all four metrics (see :func:`prdc`).
        strict, impl, block_size, progress: as in :func:`prdc`.

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
        k: int = 5,
        *,
        strict: bool = False,
        impl: str = "auto",
        block_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> None:
        super().__init__()
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
            x, y, self.k, strict=self.strict, impl=self.impl,
            block_size=self.block_size, progress=self.progress, stats=stats,
        )
