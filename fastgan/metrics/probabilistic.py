"""Probabilistic precision and recall, P-precision and P-recall (Park & Kim, ICCV 2023), exactly.

"Probabilistic Precision and Recall Towards Reliable Evaluation of Generative Models".
Real features ``X = {x_i}`` (N rows), fake features ``Y = {y_j}`` (M rows):

* ``R_X = a * mean_i NND_k(x_i)``: ``a`` times the mean over real samples of the distance to
  the k-th nearest OTHER real sample (the same k-NN radii as improved precision/recall);
  ``R_Y`` likewise within ``Y``.
* ``P(y in S(x_i)) = max(0, 1 - |y - x_i| / R_X)``: the probability that a sample lies in
  the support around ``x_i``, decreasing linearly to 0 at distance ``R_X``.
* ``PSR_X(y) = 1 - prod_i (1 - P(y in S(x_i)))``, the probability that ``y`` lies in the
  real support; P-precision ``= 1/M sum_j PSR_X(y_j)``.
* P-recall ``= 1/N sum_i PSR_Y(x_i)`` with ``R_Y`` and balls around the fake samples.

Defaults as the paper and its reference code: ``a = 1.2``, ``k = 4``.

Exactness: the radii come from the exact k-NN engine (:mod:`fastgan.metrics.knn`); the
products are float64 sums of logarithms over float64 GEMM tiles of shifted features. A pair's
factor ``d / R`` is continuous at ``d = R`` (it is 1 there), so a pair at distance ``>= R``
contributes 1 whichever way rounding decides it, and no tie rule is needed; pairs whose
computed distance is within the float64 error bound of 0 are recomputed by direct
differences (exact duplicates give the factor 0). The result equals a
float64 brute force to rounding (~1e-12 relative). Memory: ``O((N + M) * D + tile^2)``.

Matches: kdst-team ``Probablistic_precision_recall`` (``compute_pprecision_precall``:
``k`` = ``kth`` = 4 counting the point itself as its 0-th neighbour, ``a`` = 1.2, factor
``1 - f`` with ``f = 0`` for ``d >= a * R``).
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
from fastgan.metrics._bounds import U64, error_coeff, mean64, pair_sqdist
from fastgan.metrics._tiles import BlockRunner, chunk_rows, default_block_rows

__all__ = [
    "KEY_P_PRECISION",
    "KEY_P_RECALL",
    "PPrecisionRecall",
    "p_precision",
    "p_precision_recall",
    "p_recall",
    "support_log_prob",
]

#: Result keys of :func:`p_precision_recall`.
KEY_P_PRECISION = "p_precision"
KEY_P_RECALL = "p_recall"


def support_log_prob(
    centers: torch.Tensor,
    queries: torch.Tensor,
    radius: float,
    *,
    block_size: Optional[int] = None,
    progress: Any = None,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """``log prod_i max(... )``: per query, ``sum_{i: d_ij < R} log(d_ij / R)`` with ``d_ij = |q_j - c_i|``.

    ``exp`` of the result is ``prod_i (1 - max(0, 1 - d_ij / R))`` (the probability that the
    query lies outside every ball); ``-inf`` when a query coincides with a center.

    Args:
        centers (Tensor[N, D]): ball centres.
        queries (Tensor[M, D]): query rows, same device.
        radius: ``R > 0``.
        block_size: query rows per block (halved on out-of-memory).
        progress: bar advanced by the query rows processed.
        stats: diagnostics (``p_pairs``: pairs recomputed in float64).

    Returns:
        Tensor[M] float64.
    """
    m, d = queries.shape
    dev = queries.device
    out = torch.zeros(m, dtype=torch.float64, device=dev)
    if m == 0 or centers.shape[0] == 0:
        return out
    r2 = float(radius) ** 2
    log_r2 = math.log(r2)
    pairs = [0]
    # float64 tiles of ONE GEMM each on features shifted by a common vector (augmented rows,
    # -2 [a, -|a|^2/2, 1] . [b, 1, -|b|^2/2] = |a - b|^2). A pair's term log(d / R) is continuous
    # at d = R (it is 0 there), so the float64 rounding of d2 (bound ``err``) moves every term by
    # ~1e-15 relative and no membership decision needs certifying; only pairs whose computed
    # d2 is within the bound of 0 (near-duplicates, where log d is sensitive) are recomputed by
    # direct differences.
    shift = 0.5 * (mean64(centers) + mean64(queries))
    cc = _augment64(centers, shift, col=True)
    cq = _augment64(queries, shift, col=False)
    nq = _sqnorms_shifted(queries, shift)
    nc_max = float(_sqnorms_shifted(centers, shift).max())
    coeff = error_coeff(d, U64)

    def work(s: int, e: int) -> None:
        blk = torch.addmm(cq.new_zeros(()), cq[s:e], cc.T, beta=0, alpha=-2.0).clamp_min_(0.0)
        err = (coeff * (nq[s:e] + nc_max)).unsqueeze(1)
        near = (blk <= err).nonzero(as_tuple=True)
        if near[0].numel():
            pairs[0] += int(near[0].numel())
            blk[near] = pair_sqdist(queries, centers, near[0] + s, near[1])
        inside = blk < r2
        zero = torch.zeros((), dtype=blk.dtype, device=dev)
        terms = torch.where(inside, blk.log_().sub_(log_r2).mul_(0.5), zero)
        out[s:e] = terms.sum(1)

    rows = default_block_rows(2 * int(centers.shape[0]), dev, block_size)  # float64 tiles: half the rows
    runner = BlockRunner(rows, progress, "p-precision block")
    runner.run(m, work)
    if stats is not None:
        stats["p_pairs"] = stats.get("p_pairs", 0) + pairs[0]
    return out


def _augment64(x: torch.Tensor, shift: torch.Tensor, *, col: bool) -> torch.Tensor:
    """float64 ``[x - shift, -|x - shift|^2/2, 1]`` (row layout) or ``[x - shift, 1, -|.|^2/2]`` (col)."""
    n, d = x.shape
    out = torch.empty(n, d + 2, dtype=torch.float64, device=x.device)
    step = chunk_rows(d)
    for s in range(0, n, step):
        out[s : s + step, :d] = x[s : s + step].to(torch.float64) - shift
    half = out[:, :d].square().sum(1).mul_(-0.5)
    out[:, d + 1 if col else d] = half
    out[:, d if col else d + 1] = 1.0
    return out


def _sqnorms_shifted(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    n, d = x.shape
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    step = chunk_rows(d)
    for s in range(0, n, step):
        out[s : s + step] = (x[s : s + step].to(torch.float64) - shift).square().sum(1)
    return out


def _check_k(k: Any, n: int, set_name: str) -> int:
    k = check_positive_int(k, "k")
    if k >= n:
        raise ValueError(
            f"k: needs k < number of {set_name} samples (each sample's k-th nearest OTHER sample must "
            f"exist), got k={k} with {n} {set_name} sample(s)"
        )
    return k


def _mean_radius(x: torch.Tensor, k: int, engine: str, kw: dict[str, Any]) -> float:
    r2 = knn.knn_sqradii(x, [k], engine, **kw)[0]
    return float(r2.sqrt().mean())


def _compute(
    real: Any,
    fake: Any,
    want_p: bool,
    want_r: bool,
    k: int,
    a: float,
    impl: str,
    block_size: Optional[int],
    progress: Optional[bool],
    stats: Optional[dict[str, Any]],
) -> dict[str, float]:
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    try:
        a = float(a)
    except (TypeError, ValueError):
        raise TypeError(f"a: expected a number > 0, got {type(a).__name__}") from None
    if not a > 0 or math.isinf(a):
        raise ValueError(f"a: must be a finite number > 0, got {a!r}")
    if want_p:
        k = _check_k(k, x.shape[0], "real")
    if want_r:
        k = _check_k(k, y.shape[0], "fake")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    check_choice(impl, "impl", knn.IMPLS)
    st: dict[str, Any] = {} if stats is None else stats
    engine = knn.resolve_impl(impl, x.device)
    st["impl"] = engine
    x, y = x.detach(), y.detach()
    total = (2 * x.shape[0] + y.shape[0] if want_p else 0) + (2 * y.shape[0] + x.shape[0] if want_r else 0)
    out: dict[str, float] = {}
    with progress_bar(progress, total=total, desc="p-precision/recall", unit="rows") as bar, torch.no_grad():
        kw: dict[str, Any] = {"block_size": block_size, "progress": bar, "stats": st}
        for want, base, query, key in ((want_p, x, y, KEY_P_PRECISION), (want_r, y, x, KEY_P_RECALL)):
            if not want:
                continue
            radius = a * _mean_radius(base, k, engine, kw)
            if radius == 0.0:
                # every base sample has k duplicates: only exact copies lie in the support
                raise ValueError(
                    f"{'real' if base is x else 'fake'}: the mean k-NN distance is 0 (k={k}); "
                    "P-precision/P-recall need a positive radius"
                )
            logp = support_log_prob(base, query, radius, block_size=block_size, progress=bar, stats=st)
            out[key] = float((-torch.expm1(logp)).mean())  # 1 - prod, without cancellation
    return out


def p_precision_recall(
    real: Any,
    fake: Any,
    *,
    k: int = 4,
    a: float = 1.2,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> dict[str, float]:
    """P-precision and P-recall (Park & Kim, ICCV 2023), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features, same D and device.
        k: neighbour count of the radius, ``1 <= k < min(N, M)`` (paper: 4).
        a: radius scale (paper: 1.2).
        impl: engine of the k-NN radii (``"auto"`` | ``"torch"`` | ``"faiss"``).
        block_size: rows per block of the distance tiles.
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        stats: optional dict receiving diagnostics.

    Returns:
        ``{"p_precision": float, "p_recall": float}``, both in ``[0, 1]``.

    Matches: kdst-team ``compute_pprecision_precall`` (module docstring).

    >>> x = torch.arange(10.0).reshape(10, 1)
    >>> p_precision_recall(x, x)["p_precision"] == 1.0
    True
    """
    return _compute(real, fake, True, True, k, a, impl, block_size, progress, stats)


def p_precision(real: Any, fake: Any, **kwargs: Any) -> float:
    """P-precision alone (keywords as :func:`p_precision_recall`); a float in ``[0, 1]``."""
    return _compute(real, fake, True, False, **_kw(kwargs))[KEY_P_PRECISION]


def p_recall(real: Any, fake: Any, **kwargs: Any) -> float:
    """P-recall alone (keywords as :func:`p_precision_recall`); a float in ``[0, 1]``."""
    return _compute(real, fake, False, True, **_kw(kwargs))[KEY_P_RECALL]


def _kw(kwargs: dict[str, Any]) -> dict[str, Any]:
    allowed = {"k": 4, "a": 1.2, "impl": "auto", "block_size": None, "progress": None, "stats": None}
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    allowed.update(kwargs)
    return allowed


class PPrecisionRecall(BankMetric):
    """Stateful P-precision / P-recall: banks of real and fake features (the Metric protocol).

    Args: as :func:`p_precision_recall` (``k``, ``a``, ``impl``, ``block_size``, ``progress``).
    The value does not depend on the row order, so ``merge``/``sync`` (concatenation) give the
    single-process result.

    >>> m = PPrecisionRecall(k=2)
    >>> m.update(torch.arange(6.0).reshape(6, 1), real=True)
    >>> m.update(torch.arange(6.0).reshape(6, 1) + 100, real=False)
    >>> m.compute()
    {'p_precision': 0.0, 'p_recall': 0.0}
    """

    def __init__(
        self,
        *,
        k: int = 4,
        a: float = 1.2,
        impl: str = "auto",
        block_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> None:
        super().__init__()
        self.k = check_positive_int(k, "k")
        self.a = float(a)
        self.impl = impl
        self.block_size = block_size
        self.progress = progress

    def compute(self, stats: Optional[dict[str, Any]] = None) -> dict[str, float]:
        """``{"p_precision", "p_recall"}`` of all samples in the banks."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return p_precision_recall(
            x,
            y,
            k=self.k,
            a=self.a,
            impl=self.impl,
            block_size=self.block_size,
            progress=self.progress,
            stats=stats,
        )
