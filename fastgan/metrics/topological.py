"""Topological precision and recall, TopP&R (Kim et al., NeurIPS 2023), without an N x N matrix.

"TopP&R: Robust Support Estimation Approach for Evaluating Fidelity and Diversity in
Generative Models". Real features ``X = {x_i}`` (N rows), fake features ``Y = {y_j}``
(M rows). Each support is estimated as a superlevel set of a kernel density estimate whose
level is a bootstrap confidence band, so that only statistically significant regions count:

1. Random projection (when ``D > projection_dim``): both sets are multiplied by one seeded
   Gaussian matrix ``W`` (Tensor[P, D], entries ``N(0, 2 / (D + P))``, Xavier-normal,
   ``P = projection_dim = 32``), in float32.
2. Bandwidth (the reference's "balloon estimator"): with ``k = 5 P`` (``P`` the dimension after
   step 1), ``b_i`` = distance from ``x_i`` to its k-th nearest neighbour among the LATER
   rows ``x_j, j > i``, for ``i < N - k``; ``h_X`` = the lower median of the ``b_i``
   (element ``floor((N - k) / 2) - 1`` of the sorted values). ``h_Y`` likewise within ``Y``.
3. KDE with the cosine kernel: ``p_X(z) = C / N sum_i K(|z - x_i| / h_X)`` with
   ``K(u) = cos(pi u / 2)`` for ``u <= 1`` else 0, ``C = (pi / (4 h_X))^P``.
4. Confidence band: B = 10 bootstrap resamples ``X*_b`` of ``X`` (with replacement);
   ``theta_b = sqrt(N) max_i |p_X(x_i) - p_{X*_b}(x_i)|``; ``c_X = q_{1-alpha}(theta) / sqrt(N)``
   (linear-interpolated quantile, ``alpha = 0.1``). Likewise ``c_Y``.
5. ``TopP = #{j: p_Y(y_j) > c_Y and p_X(y_j) > c_X} / #{j: p_Y(y_j) > c_Y}``,
   ``TopR = #{i: p_X(x_i) > c_X and p_Y(x_i) > c_Y} / #{i: p_X(x_i) > c_X}``.

Where the paper uses topology: the name comes from choosing the support's level by a
confidence band, whose justification is the stability of persistent homology; the
reference code computes a persistence diagram (gudhi) only in its bandwidth search for
data of dimension <= 3, a branch that ``compute_top_pr`` of top-pr 0.2.1 cannot complete
(its scores are then undefined: ``NameError``). For every dimension fastgan therefore
computes what top-pr computes for D > 3 (steps 1 to 5), and needs no gudhi.

Computation: the scale ``C`` and the ``sqrt(N)`` factors cancel from every comparison
(``p > c`` iff ``S > q_{1-alpha}(max_i |S - S*_b|)`` for the unnormalised kernel sums ``S``),
so fastgan compares the sums themselves: no overflow or underflow of ``C`` for any bandwidth
(the density values in ``stats`` are scaled afterwards). A bootstrap resample weights each
sample by its multiplicity, so the B + 1 kernel sums of a point are one tile row times an
``[N, B + 1]`` weight matrix. Squared distances come from float64 GEMM tiles of centred
features; ``K`` is continuous (0 at the ball's edge, zero slope at distance 0), so float64 rounding moves
the sums by ~1e-13 relative and no membership needs certifying; the bandwidth is recomputed
by direct differences for the row that defines it. Memory: ``O((N + M) (D + B + k) + tile^2)``,
never ``N x N`` (top-pr forms one float64 ``N x N`` distance matrix per set for the bandwidth,
and a float32 one for each of its 2 x 11 density evaluations and the two cross ones).

Matches: top-pr 0.2.1 ``top_pr.compute_top_pr(real_features, fake_features, alpha=0.1,
kernel="cosine", random_proj=True)`` (its ``fidelity`` and ``diversity``): same projection
(``torch.manual_seed(99)`` then ``xavier_normal_``: ``projection_seed=99``), same bootstrap
resamples (numpy ``RandomState(42).choice``, real then fake: ``seed=42``; top-pr seeds
numpy's global generator with 42 only when it projects, so below 33 dimensions seed numpy's
global generator with ``np.random.seed(seed)`` before calling it). Its ``dist <= h`` uses
float32 distances (scikit-learn), fastgan float64 ones: counts agree unless a density lies
within ~1e-7 relative of its threshold. The order-dependent bandwidth (later rows only) is
top-pr's; pass ``bandwidth=`` to fix it independently of the row order.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch

from fastgan._checks import check_features, check_positive_int, check_same_device, check_same_dim
from fastgan._progress import progress_bar
from fastgan.metrics._base import BankMetric
from fastgan.metrics._bounds import mean64, pair_sqdist
from fastgan.metrics._tiles import BlockRunner, default_square_block, retry_on_oom

__all__ = [
    "KEY_TOP_PRECISION",
    "KEY_TOP_RECALL",
    "TopPrecisionRecall",
    "balloon_bandwidth",
    "projection_matrix",
    "top_precision_recall",
]

#: Result keys of :func:`top_precision_recall`.
KEY_TOP_PRECISION = "top_precision"
KEY_TOP_RECALL = "top_recall"

_HALF_PI = 0.5 * math.pi


# ----------------------------------------------------------------------------- building blocks
def projection_matrix(dim: int, projection_dim: int = 32, seed: int = 99) -> torch.Tensor:
    """The seeded random projection of step 1 (Tensor[projection_dim, dim] float32).

    Entries ``N(0, std^2)`` with ``std = sqrt(2 / (dim + projection_dim))`` (Xavier-normal,
    gain 1), drawn from a ``torch.Generator`` seeded with ``seed``: the same numbers as
    ``nn.Linear(dim, projection_dim)`` initialised by ``xavier_normal_`` after
    ``torch.manual_seed(seed)`` (top-pr's projection with ``seed = 99``).
    """
    dim = check_positive_int(dim, "dim")
    projection_dim = check_positive_int(projection_dim, "projection_dim")
    std = math.sqrt(2.0 / float(dim + projection_dim))
    g = torch.Generator().manual_seed(int(seed))
    return torch.empty(projection_dim, dim, dtype=torch.float32).normal_(0.0, std, generator=g)


class _Centred:
    """float64 features shifted by a common vector, augmented for one-GEMM squared distances:
    rows ``[a, -|a|^2 / 2, 1]`` and columns ``[a, 1, -|a|^2 / 2]``, so that
    ``-2 row_i . col_j = |a_i - a_j|^2`` (the shift keeps the expanded form free of cancellation)."""

    def __init__(self, x: torch.Tensor, shift: torch.Tensor) -> None:
        n, d = x.shape
        self.row = torch.empty(n, d + 2, dtype=torch.float64, device=x.device)
        self.row[:, :d] = x.to(torch.float64) - shift
        half = self.row[:, :d].square().sum(1).mul_(-0.5)
        self.row[:, d] = half
        self.row[:, d + 1] = 1.0
        self.col = self.row.clone()
        self.col[:, d] = 1.0
        self.col[:, d + 1] = half

    def sqdist(self, s0: int, e0: int, other: _Centred, s1: int, e1: int) -> torch.Tensor:
        """``|a_i - b_j|^2`` for rows ``s0:e0`` of self and ``s1:e1`` of other (Tensor[R, C] float64;
        values of coincident points may come out as tiny negatives: clamp before a square root)."""
        return torch.addmm(self.row.new_zeros(()), self.row[s0:e0], other.col[s1:e1].t(), beta=0, alpha=-2.0)


def _kernel_pairs(blk: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs of a squared-distance tile inside the ball of radius ``h`` and their cosine kernel values."""
    r, c = (blk <= h * h).nonzero(as_tuple=True)
    v = blk[r, c].clamp_min_(0.0).sqrt_().mul_(_HALF_PI / h).cos_()
    return r, c, v


def balloon_bandwidth(
    x: torch.Tensor,
    k: int,
    *,
    block_size: Optional[int] = None,
    progress: Any = None,
) -> float:
    """top-pr's bandwidth: the lower median over ``i < N - k`` of the distance from ``x_i`` to
    its k-th nearest neighbour among the later rows ``x_j, j > i`` (step 2 of the module docstring).

    Args:
        x (Tensor[N, D]): features, ``N > k``.
        k: neighbour count (top-pr: 5 times the dimension).
        block_size: side of the square distance tiles.
        progress: bar advanced by the rows processed.

    Returns:
        the bandwidth ``h`` (float); the defining row's distance is recomputed by direct
        float64 differences (top-pr: ``scipy.spatial.distance.cdist``).
    """
    n = int(x.shape[0])
    k = check_positive_int(k, "k")
    if n <= k:
        raise ValueError(f"k: needs more than k = {k} samples, got {n}")
    rows = n - k  # rows 0..n-k-1 have at least k later rows
    dev = x.device
    c = _Centred(x, mean64(x))
    side0 = default_square_block(dev, block_size)

    def tile_pass(side: int) -> torch.Tensor:
        vals = torch.full((rows, k), math.inf, dtype=torch.float64, device=dev)
        for s0 in range(0, rows, side):
            e0 = min(rows, s0 + side)
            for s1 in range(s0, n, side):
                e1 = min(n, s1 + side)
                blk = c.sqdist(s0, e0, c, s1, e1)
                if s1 == s0:  # only j > i counts: mask the diagonal tile's lower triangle and diagonal
                    ii = torch.arange(s0, e0, device=dev).unsqueeze(1)
                    jj = torch.arange(s1, e1, device=dev).unsqueeze(0)
                    blk.masked_fill_(jj <= ii, math.inf)
                kb = min(k, blk.shape[1])
                v = torch.topk(blk, kb, dim=1, largest=False, sorted=False).values
                both = torch.cat([vals[s0:e0], v], 1)
                vals[s0:e0] = torch.topk(both, k, dim=1, largest=False, sorted=False).values
                del blk
            if progress is not None:
                progress.update(e0 - s0)
        return vals.max(1).values  # the k-th smallest of each row

    kth, _, _ = retry_on_oom(tile_pass, side0, what="TopP&R bandwidth tile")
    m = max(rows // 2 - 1, 0)  # top-pr: sorted(b)[int(len(b) * 0.5) - 1]
    order = torch.argsort(kth, stable=True)
    i = int(order[m])
    # the defining distance once more, by direct differences over the later rows
    later = torch.arange(i + 1, n, device=dev)
    d2 = pair_sqdist(x, x, torch.full_like(later, i), later)
    return float(torch.kthvalue(d2.cpu(), k).values.sqrt())


def _bootstrap_weights(n: int, n_boot: int, rs: np.random.RandomState, device: torch.device) -> torch.Tensor:
    """``[1, w_1, ..., w_B]`` per sample (Tensor[n, B + 1] float64): ``w_b`` = multiplicity in resample b."""
    w = np.empty((n, n_boot + 1), dtype=np.float64)
    w[:, 0] = 1.0
    for b in range(n_boot):
        idx = rs.choice(n, size=n, replace=True)  # the draw top-pr makes (legacy MT19937 stream)
        w[:, b + 1] = np.bincount(idx, minlength=n)
    return torch.from_numpy(w).to(device)


def _self_sums(c: _Centred, h: float, weights: torch.Tensor, side0: int, progress: Any) -> torch.Tensor:
    """Kernel sums of a set at its own points (Tensor[N, B + 1]):
    ``S[i, b] = sum_j w_jb K(|x_i - x_j| / h)``."""
    n = int(c.row.shape[0])
    dev = c.row.device

    def tile_pass(side: int) -> torch.Tensor:
        out = torch.zeros((n, weights.shape[1]), dtype=torch.float64, device=dev)
        for s0 in range(0, n, side):
            e0 = min(n, s0 + side)
            for s1 in range(s0, n, side):  # symmetric: tiles on and above the diagonal
                e1 = min(n, s1 + side)
                blk = c.sqdist(s0, e0, c, s1, e1)
                r, cc, v = _kernel_pairs(blk, h)
                # the kernel tile is sparse (a ball holds ~k samples) but a dense GEMM with the
                # [C, B + 1] weights beats gathering weight rows per pair
                ker = blk.zero_()
                ker[r, cc] = v
                out[s0:e0].addmm_(ker, weights[s1:e1])
                if s1 != s0:
                    out[s1:e1].addmm_(ker.t(), weights[s0:e0])
                del blk, ker
            if progress is not None:
                progress.update(e0 - s0)
        return out

    out, _, _ = retry_on_oom(tile_pass, side0, what="TopP&R density tile")
    return out


def _cross_sums(
    a: _Centred, b: _Centred, h_a: float, h_b: float, side0: int, progress: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum_j K(|a_i - b_j| / h_b) per a_i, sum_i K(|a_i - b_j| / h_a) per b_j)``: each set's
    density (unnormalised) at the other set's points, from one pass over the ``N x M`` tiles."""
    n, m = int(a.row.shape[0]), int(b.row.shape[0])
    dev = a.row.device

    def work(s0: int, e0: int) -> tuple[torch.Tensor, torch.Tensor]:
        at_a = torch.zeros(e0 - s0, dtype=torch.float64, device=dev)
        at_b = torch.zeros(m, dtype=torch.float64, device=dev)
        for s1 in range(0, m, side0):
            e1 = min(m, s1 + side0)
            blk = a.sqdist(s0, e0, b, s1, e1)
            r, cc, v = _kernel_pairs(blk, h_b)
            at_a.index_add_(0, r, v)
            r, cc, v = _kernel_pairs(blk, h_a)
            at_b.index_add_(0, cc + s1, v)
        return at_a, at_b

    sum_at_a = torch.zeros(n, dtype=torch.float64, device=dev)
    sum_at_b = torch.zeros(m, dtype=torch.float64, device=dev)

    def block(s0: int, e0: int) -> None:
        x_a, x_b = work(s0, e0)  # committed only when the block finished (OOM retry safe)
        sum_at_a[s0:e0] = x_a
        sum_at_b.add_(x_b)

    BlockRunner(side0, progress, "TopP&R cross tile").run(n, block)
    return sum_at_a, sum_at_b


def _band(sums: torch.Tensor, alpha: float) -> float:
    """``q_{1-alpha}`` over bootstrap resamples of ``max_i |S_i - S*_bi|`` (unnormalised units)."""
    theta = (sums[:, 1:] - sums[:, :1]).abs().max(0).values.cpu().numpy()
    return float(np.quantile(theta, 1.0 - alpha))


def _density_scale(h: float, dim: int, n: int) -> float:
    """``C / n = (pi / (4 h))^dim / n`` (0 or inf when it leaves the float64 range)."""
    log_c = dim * math.log(math.pi / (4.0 * h)) - math.log(n)
    return math.exp(log_c) if log_c < 709.0 else math.inf


# ----------------------------------------------------------------------------- public API
def _check_bandwidth(bandwidth: Any) -> tuple[Optional[float], Optional[float]]:
    if bandwidth is None:
        return None, None
    pair = tuple(bandwidth) if isinstance(bandwidth, (tuple, list)) else (bandwidth, bandwidth)
    if len(pair) != 2:
        raise ValueError(f"bandwidth: expected a number or a (real, fake) pair, got {len(pair)} values")
    out = []
    for v in pair:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"bandwidth: expected numbers, got {type(v).__name__}") from None
        if not (f > 0 and math.isfinite(f)):
            raise ValueError(f"bandwidth: must be finite and > 0, got {v!r}")
        out.append(f)
    return out[0], out[1]


def top_precision_recall(
    real: Any,
    fake: Any,
    *,
    alpha: float = 0.1,
    k: Optional[int] = None,
    n_bootstrap: int = 10,
    seed: int = 42,
    projection_dim: Optional[int] = 32,
    projection_seed: int = 99,
    bandwidth: Any = None,
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> dict[str, float]:
    """Topological precision and recall, TopP&R (Kim et al., NeurIPS 2023).

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features, same D and device.
        alpha: significance level of the confidence band, in (0, 1) (paper: 0.1).
        k: neighbour count of the bandwidth; None: 5 times the dimension after projection
            (top-pr). Each set needs more than ``k`` samples (161 for projected features).
        n_bootstrap: bootstrap resamples of the confidence band (top-pr: 10).
        seed: seed of the bootstrap draws, numpy ``RandomState(seed).choice`` (the legacy
            MT19937 stream top-pr draws from), real set first, then fake.
        projection_dim: project to this many dimensions when ``D`` exceeds it (top-pr: 32);
            None: never project.
        projection_seed: seed of the projection (:func:`projection_matrix`; top-pr: 99).
            Both are int seeds, not ``generator=`` (the API's rule for functions): they name the
            streams top-pr draws from (numpy's MT19937, ``torch.manual_seed``), so its defaults
            42 and 99 reproduce its result.
        bandwidth: None (the balloon estimate of each set, :func:`balloon_bandwidth`), a number
            for both sets, or a ``(real, fake)`` pair.
        block_size: side of the square distance tiles (default 2048 on CPU, 8192 on CUDA).
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        stats: optional dict receiving ``bandwidth_real/fake``, ``threshold_real/fake``
            (density units ``c_X``, ``c_Y``), ``real_in_support``, ``fake_in_support``,
            ``real_in_both``, ``fake_in_both`` (counts), ``dim``, ``k``.

    Returns:
        ``{"top_precision": float, "top_recall": float}``, both in ``[0, 1]``.

    Raises:
        ValueError: non-finite features, dimension mismatch, too few samples for ``k``, a zero
            bandwidth (all samples duplicates), or a set none of whose samples lies in its own
            estimated support (the ratio is undefined).

    Matches: top-pr 0.2.1 ``compute_top_pr`` ``fidelity`` (top_precision) and ``diversity``
    (top_recall), module docstring.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(400, 8, generator=g)
    >>> r = top_precision_recall(x, x + 0.01 * torch.randn(400, 8, generator=g))
    >>> sorted(r), all(0.0 <= v <= 1.0 for v in r.values())
    (['top_precision', 'top_recall'], True)
    """
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    dev = check_same_device([x, y], ["real", "fake"])
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise TypeError(f"alpha: expected a number in (0, 1), got {type(alpha).__name__}") from None
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap")
    seed = check_positive_int(seed, "seed", minimum=0)
    projection_seed = check_positive_int(projection_seed, "projection_seed", minimum=0)
    if projection_dim is not None:
        projection_dim = check_positive_int(projection_dim, "projection_dim")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    h_real, h_fake = _check_bandwidth(bandwidth)
    x, y = x.detach(), y.detach()
    d = int(x.shape[1])
    if projection_dim is not None and d > projection_dim:
        w = projection_matrix(d, projection_dim, projection_seed).to(dev)
        x = torch.nn.functional.linear(x.to(torch.float32), w)  # float32, as nn.Linear in top-pr
        y = torch.nn.functional.linear(y.to(torch.float32), w)
        d = projection_dim
    if k is None:
        k = 5 * d
    k = check_positive_int(k, "k")
    for name, t, h in (("real", x, h_real), ("fake", y, h_fake)):
        if h is None and t.shape[0] <= k:
            raise ValueError(
                f"{name}: needs more than k = {k} samples for the bandwidth (k = 5 x {d} dimensions"
                f"{' after projection' if d == projection_dim else ''} unless given), got {t.shape[0]}; "
                "pass more samples, a smaller k, or bandwidth="
            )
        if t.shape[0] < 2:
            raise ValueError(f"{name}: needs at least 2 samples, got {t.shape[0]}")
    st: dict[str, Any] = {} if stats is None else stats
    n, m = int(x.shape[0]), int(y.shape[0])
    side = default_square_block(dev, block_size)
    total = (n - k if h_real is None else 0) + (m - k if h_fake is None else 0) + 2 * (n + m)
    rs = np.random.RandomState(seed)
    with progress_bar(progress, total=total, desc="TopP&R", unit="rows") as bar, torch.no_grad():
        if h_real is None:
            h_real = balloon_bandwidth(x, k, block_size=block_size, progress=bar)
        if h_fake is None:
            h_fake = balloon_bandwidth(y, k, block_size=block_size, progress=bar)
        for name, h in (("real", h_real), ("fake", h_fake)):
            if h == 0.0:
                raise ValueError(
                    f"{name}: the bandwidth is 0 (more than k = {k} duplicates of most samples); "
                    "pass bandwidth= or deduplicate"
                )
        shift = 0.5 * (mean64(x) + mean64(y))
        cx, cy = _Centred(x, shift), _Centred(y, shift)
        sx = _self_sums(cx, h_real, _bootstrap_weights(n, n_bootstrap, rs, dev), side, bar)
        sy = _self_sums(cy, h_fake, _bootstrap_weights(m, n_bootstrap, rs, dev), side, bar)
        band_x, band_y = _band(sx, alpha), _band(sy, alpha)
        fake_at_x, real_at_y = _cross_sums(cx, cy, h_real, h_fake, side, bar)
    in_x = sx[:, 0] > band_x  # real sample inside the real support
    in_y = sy[:, 0] > band_y
    real_in = int(in_x.sum())
    fake_in = int(in_y.sum())
    real_both = int((in_x & (fake_at_x > band_y)).sum())
    fake_both = int((in_y & (real_at_y > band_x)).sum())
    st.update(
        dim=d,
        k=k,
        bandwidth_real=h_real,
        bandwidth_fake=h_fake,
        threshold_real=band_x * _density_scale(h_real, d, n),
        threshold_fake=band_y * _density_scale(h_fake, d, m),
        real_in_support=real_in,
        fake_in_support=fake_in,
        real_in_both=real_both,
        fake_in_both=fake_both,
    )
    for name, count in (("real", real_in), ("fake", fake_in)):
        if count == 0:
            raise ValueError(
                f"{name}: no sample's density exceeds its confidence band (alpha={alpha}), so the "
                f"estimated support holds none of the {name} samples and the ratio is undefined; "
                "pass more samples or a larger alpha"
            )
    return {KEY_TOP_PRECISION: fake_both / fake_in, KEY_TOP_RECALL: real_both / real_in}


class TopPrecisionRecall(BankMetric):
    """Stateful TopP&R: banks of real and fake features (the Metric protocol).

    Args: as :func:`top_precision_recall` (all keyword-only). The default bandwidth depends on
    the row order (top-pr's later-rows estimator), and ``merge``/``sync`` keep the order of
    concatenation (rank order), so a run sharded in contiguous blocks gives the
    single-process value.

    >>> g = torch.Generator().manual_seed(0)
    >>> m = TopPrecisionRecall()
    >>> m.update(torch.randn(300, 4, generator=g), real=True)
    >>> m.update(torch.randn(300, 4, generator=g) + 100, real=False)
    >>> m.compute()
    {'top_precision': 0.0, 'top_recall': 0.0}
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        allowed = {
            "alpha",
            "k",
            "n_bootstrap",
            "seed",
            "projection_dim",
            "projection_seed",
            "bandwidth",
            "block_size",
            "progress",
        }
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        self.options = dict(kwargs)

    def compute(self, stats: Optional[dict[str, Any]] = None) -> dict[str, float]:
        """``{"top_precision", "top_recall"}`` of all samples in the banks."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return top_precision_recall(x, y, stats=stats, **self.options)
