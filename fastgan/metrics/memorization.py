"""Memorization metrics of a generator against its training set: AuthPct and MIFID, exactly.

Is the model copying its training set? Both metrics here compare the generated samples with
the TRAINING features (``evaluate(real, fake)``: ``real`` is the training set). The metrics
that also need a held-out real test set (C_T, FLD, FLS) live in
:mod:`fastgan.metrics.memorization_ct` and :mod:`fastgan.metrics.memorization_fld`.

* **AuthPct** (Alaa et al., "How Faithful is your Synthetic Data?", ICML 2022; the
  authenticity rule as coded in dgm-eval ``dgm_eval/metrics/authpct.py``, from marcojira/fls
  ``metrics/AuthPct.py``): for each generated ``y_j`` take its nearest training sample
  ``x_i(j)`` (distance ``d1``) and that sample's nearest OTHER training sample (distance
  ``d2``); ``y_j`` is authentic when ``d2 < d1`` (strictly). AuthPct is the percentage of
  authentic samples, in ``[0, 100]``.
* **MIFID** (Bai et al., "On Training Sample Memorization: Lessons from Benchmarking Generative
  Modeling with a Large-scale Competition", KDD 2021; torchmetrics ``image/mifid.py``):
  ``MIFID = FID / (d + 1e-14)`` where ``d`` is the mean over real (training) rows of the
  minimum over fake rows of the cosine distance ``1 - |cos|``, replaced by 1 when it is not
  below ``cosine_distance_eps`` (0.1); MIFID is 0 when FID <= 1e-8.

Exactness: the nearest neighbours come from float32 GEMM tiles whose every possible
minimiser is recomputed in float64 (:func:`nearest_neighbor`, :func:`max_abs_cosine`; the
error bound of :mod:`fastgan.metrics._bounds`), so both metrics equal a float64 brute force
(AuthPct exactly, MIFID to rounding). Memory ``O((N + M) * D + tile)``: no N x M matrix.
"""

from __future__ import annotations

import math
from typing import Any, Optional

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
from fastgan.metrics._base import BankMetric
from fastgan.metrics._bounds import (
    U64,
    abs_term,
    block_sqdist,
    center,
    error_coeff,
    ieee_matmul,
    mean64,
    pair_sqdist,
    round_up32,
)
from fastgan.metrics._tiles import BlockRunner, chunk_rows, default_block_rows

__all__ = [
    "KEY_AUTHPCT",
    "KEY_MIFID",
    "MIFID",
    "AuthPct",
    "authpct",
    "max_abs_cosine",
    "mifid",
    "nearest_neighbor",
]

#: Result keys.
KEY_AUTHPCT = "authpct"
KEY_MIFID = "mifid"


def _min_exact(
    rr: torch.Tensor, cc: torch.Tensor, vals: torch.Tensor, rows: int, *, largest: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``rr`` the smallest (largest) ``vals`` and, among exact ties, the smallest ``cc``."""
    fill = -math.inf if largest else math.inf
    best = torch.full((rows,), fill, dtype=torch.float64, device=vals.device)
    best.scatter_reduce_(0, rr, vals, reduce="amax" if largest else "amin")
    hit = vals == best[rr]
    idx = torch.full((rows,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=vals.device)
    idx.scatter_reduce_(0, rr[hit], cc[hit], reduce="amin")
    return best, idx


def nearest_neighbor(
    queries: torch.Tensor,
    base: torch.Tensor,
    *,
    block_size: Optional[int] = None,
    progress: Any = None,
    stats: Optional[dict[str, Any]] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest row of ``base`` for every row of ``queries``, without an M x N matrix.

    A float32 tile gives each query's smallest value ``v``; every base row whose float32 value
    is within twice the error bound ``E`` of ``v`` may be the true minimiser (a true distance
    ``r*`` satisfies ``r* <= v + E`` and any row at exact distance ``<= r*`` has a float32 value
    ``<= v + 2E``), so those candidates are recomputed in float64 by direct differences.

    Args:
        queries (Tensor[M, D]): query rows.
        base (Tensor[N, D]): searched rows, same device, ``N >= 1``.
        block_size: query rows per tile (halved on out-of-memory).
        progress: bar advanced by the query rows processed.
        stats: diagnostics (``nn_candidates``: pairs recomputed in float64).

    Returns:
        (Tensor[M] float64 squared distances ``sum_d (q_d - b_d)**2``, Tensor[M] int64 indices;
        the smallest index among exactly tied nearest rows).
    """
    m, d = queries.shape
    dev = queries.device
    dist = torch.empty(m, dtype=torch.float64, device=dev)
    index = torch.empty(m, dtype=torch.int64, device=dev)
    if m == 0:
        return dist, index
    cand = [0]
    with ieee_matmul(dev) as u32:
        shift = 0.5 * (mean64(queries) + mean64(base))
        cq = center(queries, shift, u32)
        cb = center(base, shift, u32, layout="col")
        if cq.aug.dtype != cb.aug.dtype:
            cq, cb = cq.to(torch.float64), cb.to(torch.float64)
        assert cb.col is not None
        col = cb.col
        coeff = error_coeff(d, max(cq.u, cb.u))
        absterm = abs_term(d)
        f32 = cq.aug.dtype == torch.float32

        def work(s: int, e: int) -> None:
            blk = block_sqdist(cq.aug[s:e], col)
            err = coeff * (cq.n64[s:e] + cb.nmax) + absterm
            thr = blk.min(1).values.to(torch.float64) + 2.0 * err
            thr_w = round_up32(thr) if f32 else thr
            rr, cc = (blk <= thr_w.unsqueeze(1)).nonzero(as_tuple=True)
            del blk
            cand[0] += int(rr.numel())
            exact = pair_sqdist(queries, base, rr + s, cc)
            dist[s:e], index[s:e] = _min_exact(rr, cc, exact, e - s, largest=False)

        BlockRunner(
            default_block_rows(int(base.shape[0]), dev, block_size), progress, "nearest-neighbour block"
        ).run(m, work)
    if stats is not None:
        stats["nn_candidates"] = stats.get("nn_candidates", 0) + cand[0]
    return dist, index


# ------------------------------------------------------------------------------------ AuthPct
def _prepare(
    real: Any, fake: Any, impl: str, block_size: Optional[int]
) -> tuple[torch.Tensor, torch.Tensor, str]:
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    if block_size is not None:
        check_positive_int(block_size, "block_size")
    check_choice(impl, "impl", knn.IMPLS)
    return x.detach(), y.detach(), knn.resolve_impl(impl, x.device)


def authpct(
    real: Any,
    fake: Any,
    *,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> float:
    """AuthPct (Alaa et al. 2022): the percentage of generated samples that are authentic, exactly.

    ``y_j`` is authentic when ``d(x_i, x_i') < d(y_j, x_i)`` with ``x_i`` the training sample
    nearest to ``y_j`` and ``x_i'`` the training sample nearest to ``x_i`` (itself excluded).

    Args:
        real (Tensor[N, D] | ndarray): TRAINING features, ``N >= 2``.
        fake (Tensor[M, D] | ndarray): generated features, same D and device.
        impl: engine of the training set's own 1-NN radii (``"auto"`` | ``"torch"`` | ``"faiss"``).
        block_size: rows per distance tile.
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        stats: optional dict receiving diagnostics.

    Returns:
        float in ``[0, 100]``.

    Matches: dgm-eval ``dgm_eval/metrics/authpct.py`` (marcojira/fls ``metrics/AuthPct.py``):
    Euclidean distances, the training sample's own distance excluded (its diagonal set to inf),
    authentic iff ``d2 < d1`` (strict: a generated copy at the same distance as the training
    pair is not authentic), percent of M. Among training samples exactly tied as nearest to
    ``y_j``, the smallest index is taken (the reference takes whichever ``torch.min`` returns).

    >>> x = torch.tensor([[0.0], [1.0], [10.0]])
    >>> authpct(x, torch.tensor([[0.0], [4.0]]))
    50.0
    """
    x, y, engine = _prepare(real, fake, impl, block_size)
    if x.shape[0] < 2:
        raise ValueError(f"real: AuthPct needs at least 2 training samples, got {x.shape[0]}")
    st: dict[str, Any] = {} if stats is None else stats
    st["impl"] = engine
    with progress_bar(progress, total=2 * x.shape[0] + y.shape[0], desc="authpct", unit="rows") as bar:
        with torch.no_grad():
            r2 = knn.knn_sqradii(x, [1], engine, block_size=block_size, progress=bar, stats=st)[0]
            d2, idx = nearest_neighbor(y, x, block_size=block_size, progress=bar, stats=st)
            authentic = r2[idx] < d2
    return 100.0 * float(authentic.sum()) / int(y.shape[0])


class AuthPct(BankMetric):
    """Stateful AuthPct: banks of training (``real=True``) and generated features.

    Args: as :func:`authpct`. The value does not depend on the row order, so ``merge``/``sync``
    give the single-process result.

    >>> m = AuthPct()
    >>> m.update(torch.tensor([[0.0], [1.0], [10.0]]), real=True)
    >>> m.update(torch.tensor([[0.0], [4.0]]), real=False)
    >>> m.compute()
    50.0
    """

    def __init__(
        self, *, impl: str = "auto", block_size: Optional[int] = None, progress: Optional[bool] = None
    ):
        super().__init__()
        self.impl = check_choice(impl, "impl", knn.IMPLS)
        self.block_size = block_size
        self.progress = progress

    def compute(self, stats: Optional[dict[str, Any]] = None) -> float:
        """AuthPct of all samples in the banks."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return authpct(x, y, impl=self.impl, block_size=self.block_size, progress=self.progress, stats=stats)


# ------------------------------------------------------------------------------------ MIFID
def _unit_rows(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Rows of ``x`` divided by their float64 norms, stored in ``dtype`` (one rounding per entry)."""
    n, d = x.shape
    out = torch.empty(n, d, dtype=dtype, device=x.device)
    step = chunk_rows(d)
    for s in range(0, n, step):
        c = x[s : s + step].to(torch.float64)
        out[s : s + step] = c / torch.linalg.vector_norm(c, dim=1, keepdim=True)
    return out


def _pair_abs_cos(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """float64 ``|a_i . b_j| / (|a_i| |b_j|)`` for the given pairs (Tensor[P])."""
    p = int(ia.numel())
    out = torch.empty(p, dtype=torch.float64, device=a.device)
    step = max(1, (1 << 18) // max(1, a.shape[1]))
    for s in range(0, p, step):
        u = a[ia[s : s + step]].to(torch.float64)
        v = b[ib[s : s + step]].to(torch.float64)
        dot = (u * v).sum(1)
        out[s : s + step] = dot.abs() / (
            torch.linalg.vector_norm(u, dim=1) * torch.linalg.vector_norm(v, dim=1)
        )
    return out


def max_abs_cosine(
    queries: torch.Tensor,
    base: torch.Tensor,
    *,
    block_size: Optional[int] = None,
    progress: Any = None,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """``max_j |cos(q_i, b_j)|`` for every row of ``queries`` (Tensor[M] float64), exactly.

    Unit rows are stored in float32; a float32 tile gives each query's largest ``|c|``, and every
    pair within twice the error bound of it (``|c - cos| <= E``: :func:`~fastgan.metrics._bounds.error_coeff`
    for unit vectors, which also covers the one rounding of each stored entry) is recomputed in
    float64. Rows must have non-zero norms.

    Args:
        queries (Tensor[M, D]), base (Tensor[N, D]): features on one device, ``N >= 1``.
        block_size: query rows per tile.
        progress: bar advanced by the query rows processed.
        stats: diagnostics (``cos_candidates``).
    """
    m, d = queries.shape
    dev = queries.device
    out = torch.empty(m, dtype=torch.float64, device=dev)
    if m == 0:
        return out
    cand = [0]
    with ieee_matmul(dev) as u32:
        wd = torch.float32
        qu, bu = _unit_rows(queries, wd), _unit_rows(base, wd)
        err = error_coeff(d, u32) + 4 * U64
        bt = bu.t()

        def work(s: int, e: int) -> None:
            blk = torch.mm(qu[s:e], bt).abs_()
            thr = blk.max(1).values.to(torch.float64) - 2.0 * err
            rr, cc = (blk.to(torch.float64) >= thr.unsqueeze(1)).nonzero(as_tuple=True)
            del blk
            cand[0] += int(rr.numel())
            exact = _pair_abs_cos(queries, base, rr + s, cc)
            out[s:e] = _min_exact(rr, cc, exact, e - s, largest=True)[0]

        BlockRunner(
            default_block_rows(2 * int(base.shape[0]), dev, block_size), progress, "cosine block"
        ).run(m, work)
    if stats is not None:
        stats["cos_candidates"] = stats.get("cos_candidates", 0) + cand[0]
    return out


def mean_min_cosine_distance(real: torch.Tensor, fake: torch.Tensor, **kw: Any) -> float:
    """``mean_i min_j (1 - |cos(x_i, y_j)|)`` over the rows whose sum is non-zero (torchmetrics'
    ``_compute_cosine_distance`` before its threshold); ``**kw`` as :func:`max_abs_cosine`."""
    xs = real[real.to(torch.float64).sum(1) != 0]
    ys = fake[fake.to(torch.float64).sum(1) != 0]
    if xs.shape[0] == 0 or ys.shape[0] == 0:
        raise ValueError("real and fake: MIFID needs at least one row with a non-zero sum on each side")
    return float((1.0 - max_abs_cosine(xs, ys, **kw)).mean())


def mifid(
    real: Any,
    fake: Any,
    *,
    cosine_distance_eps: float = 0.1,
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> float:
    """Memorization-informed FID (Bai et al. 2021), exactly.

    Args:
        real (Tensor[N, D] | ndarray): TRAINING features, ``N >= 2``.
        fake (Tensor[M, D] | ndarray): generated features, same D and device, ``M >= 2``.
        cosine_distance_eps: threshold in ``(0, 1]``: a mean minimum cosine distance ``d`` at or
            above it counts as 1 (no memorization penalty).
        block_size: query rows per cosine tile.
        progress: tqdm bar on stderr.
        stats: optional dict receiving diagnostics (``fid``, ``cosine_distance``).

    Returns:
        ``FID / (d' + 1e-14)`` with ``d' = d if d < eps else 1``; 0 when FID <= 1e-8.

    Matches: torchmetrics ``MemorizationInformedFrechetInceptionDistance`` (``image/mifid.py``):
    FID with covariances divided by n - 1 (:func:`fastgan.metrics.fid`, exact trace-sqrt; the
    reference takes eigenvalues of ``S1 S2``), the cosine distance ``1 - |cos|`` (absolute value),
    the minimum over FAKE rows for each REAL row averaged over the real rows (rows whose feature
    sum is exactly 0 dropped, sums taken in float64), the ``10e-15`` offset and the ``1e-8`` floor.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    >>> mifid(x, x + 0.5) > 0
    True
    """
    from fastgan.metrics.frechet import fid

    x = check_features(real, "real", min_rows=2)
    y = check_features(fake, "fake", min_rows=2)
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    try:
        eps = float(cosine_distance_eps)
    except (TypeError, ValueError):
        raise TypeError(
            f"cosine_distance_eps: expected a number, got {type(cosine_distance_eps).__name__}"
        ) from None
    if not 0 < eps <= 1:
        raise ValueError(f"cosine_distance_eps: must lie in (0, 1], got {cosine_distance_eps!r}")
    x, y = x.detach(), y.detach()
    st: dict[str, Any] = {} if stats is None else stats
    with progress_bar(progress, total=x.shape[0], desc="mifid", unit="rows") as bar, torch.no_grad():
        fid_value = float(fid(x, y))
        d = mean_min_cosine_distance(x, y, block_size=block_size, progress=bar, stats=st)
    st["fid"] = fid_value
    st["cosine_distance"] = d
    if not fid_value > 1e-8:
        return 0.0
    return fid_value / ((d if d < eps else 1.0) + 10e-15)


class MIFID(BankMetric):
    """Stateful MIFID: banks of training (``real=True``) and generated features.

    Args: as :func:`mifid` (``cosine_distance_eps``, ``block_size``, ``progress``).

    >>> g = torch.Generator().manual_seed(0)
    >>> m = MIFID()
    >>> m.update(torch.randn(40, 3, generator=g), real=True)
    >>> m.update(torch.randn(40, 3, generator=g) + 1, real=False)
    >>> m.compute() > 0
    True
    """

    def __init__(
        self,
        *,
        cosine_distance_eps: float = 0.1,
        block_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> None:
        super().__init__()
        self.cosine_distance_eps = cosine_distance_eps
        self.block_size = block_size
        self.progress = progress

    def compute(self, stats: Optional[dict[str, Any]] = None) -> float:
        """MIFID of all samples in the banks."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return mifid(
            x,
            y,
            cosine_distance_eps=self.cosine_distance_eps,
            block_size=self.block_size,
            progress=self.progress,
            stats=stats,
        )
