"""Sliced Wasserstein distance between two feature sets: Monte-Carlo and closed-form approximation.

For empirical measures ``mu = 1/N sum_i delta_{x_i}`` and ``nu = 1/M sum_j delta_{y_j}`` in R^D,

    SW_p(mu, nu) = ( E_{theta ~ U(S^{D-1})} W_p^p(theta # mu, theta # nu) )^{1/p}

(Rabin et al. 2011; Bonneel et al. 2015), where ``theta # mu`` is the projection on the
direction ``theta``. In one dimension ``W_p^p = int_0^1 |F^{-1}(t) - G^{-1}(t)|^p dt`` with the
empirical quantile functions; it is computed exactly for any ``N`` and ``M`` (the quantile
functions are step functions whose breakpoints ``i/N`` and ``j/M`` are merged in integer
arithmetic; with ``N = M`` it is the mean of ``|x_(i) - y_(i)|^p`` over sorted projections).

* ``method="mc"`` (default): the expectation is the mean over ``projections`` directions
  drawn as normalised standard Gaussian vectors from ``generator`` (float64), so a seeded
  generator fixes the value (to rounding: the per-piece sums depend on the thread count).
  The directions are cut into pieces (one per CPU thread, at most ``_CHUNK_ELEMS`` projected
  values in memory in all: never ``N x M``); a piece is projected by one float64 GEMM per side
  into one sample per contiguous row, the rows are sorted in place (numpy's vectorised sort on
  CPU, ``torch.sort`` elsewhere) and reduced to the piece's sum of ``W_p^p``; the CPU pieces run
  in parallel threads, each single-threaded.
* ``method="approx"``: the closed form of Nadjahi et al. 2021 ("Fast Approximation of the
  Sliced-Wasserstein Distance Using Concentration of Random Projections"), for ``p = 2``::

      SW_2 ~ sqrt( |m_x - m_y|^2 / D + (sqrt(s_x / D) - sqrt(s_y / D))^2 ),

  ``m`` the means, ``s = 1/N sum_i |x_i - m_x|^2`` the mean squared centred norms (two passes
  in float64: the mean, then the centred copy; the two sets in parallel threads on CPU).

Matches: POT ``ot.sliced_wasserstein_distance`` (uniform weights, normalised Gaussian
directions, ``(mean_theta W_p^p)^(1/p)``; the directions come from a ``torch.Generator`` here,
so individual draws differ from POT's numpy ones) for ``"mc"``; dgm-eval ``sw_approx`` for
``"approx"``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Optional

import numpy as np
import torch

from fastgan._checks import (
    check_choice,
    check_features,
    check_finite,
    check_positive_int,
    check_same_device,
    check_same_dim,
)
from fastgan.metrics._base import BankMetric
from fastgan.metrics._tiles import thread_map

__all__ = [
    "KEY_MIND",
    "KEY_SLICED_WASSERSTEIN",
    "MIND",
    "SlicedWasserstein",
    "sliced_wasserstein",
    "wasserstein_1d",
    "random_directions",
    "mind",
]

#: Result key of :func:`sliced_wasserstein`.
KEY_SLICED_WASSERSTEIN = "sliced_wasserstein"

Method = Literal["mc", "approx"]
_CHUNK_ELEMS = 1 << 25  # float64 elements of projected values per chunk (256 MiB)


def random_directions(
    dim: int,
    projections: int,
    generator: Optional[torch.Generator] = None,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """Directions uniform on the unit sphere: normalised standard Gaussian rows.

    Args:
        dim: feature dimension D.
        projections: number of directions L.
        generator: ``torch.Generator`` (None: the global CPU RNG); drawn on its device.
        device: device of the result (default: the generator's).

    Returns:
        Tensor[L, D] float64 with unit rows.
    """
    dim = check_positive_int(dim, "dim")
    projections = check_positive_int(projections, "projections")
    gdev = generator.device if generator is not None else torch.device("cpu")
    theta = torch.randn(projections, dim, generator=generator, dtype=torch.float64, device=gdev)
    theta = theta / theta.norm(dim=1, keepdim=True)
    return theta if device is None else theta.to(device)


def _merge_plan(n: int, m: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices into the sorted sides and interval weights of the merged quantile breakpoints."""
    if n == m:
        i = torch.arange(n, device=device)
        return i, i, torch.full((n,), 1.0 / n, dtype=torch.float64, device=device)
    # breakpoints i/n and j/m over the common denominator n*m: i*m and j*n (exact integers)
    t = torch.cat([torch.arange(1, n + 1, device=device) * m, torch.arange(1, m + 1, device=device) * n])
    t = torch.unique(t)  # sorted
    prev = torch.cat([torch.zeros(1, dtype=t.dtype, device=device), t[:-1]])
    w = (t - prev).to(torch.float64) / float(n * m)
    ix = (t + m - 1) // m - 1  # ceil(t_k / m) - 1: quantile index of x on (t_{k-1}, t_k]
    iy = (t + n - 1) // n - 1
    return ix, iy, w


def _sort_rows_(*ts: torch.Tensor) -> list[torch.Tensor]:
    """Sort each row of contiguous 2-D float64 tensors (in place on CPU); returns the sorted tensors.

    CPU: numpy's in-place sort (vectorised quicksort, several times faster than ``torch.sort``
    on CPU), row ranges of all the tensors sorted by ``torch.get_num_threads()`` threads (numpy
    releases the GIL while sorting). Other devices: ``torch.sort`` along the rows.
    """
    if any(t.device.type != "cpu" for t in ts):
        return [torch.sort(t, dim=1).values for t in ts]
    arrays = [t.numpy() for t in ts]
    rows = sum(a.shape[0] for a in arrays)
    workers = min(torch.get_num_threads(), rows)
    if workers <= 1 or sum(a.size for a in arrays) < (1 << 16):
        for arr in arrays:
            arr.sort(axis=1)
        return list(ts)
    step = -(-rows // workers)
    parts = [arr[s : s + step] for arr in arrays for s in range(0, arr.shape[0], step)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda part: part.sort(axis=1), parts))
    return list(ts)


def _wpp_total(a: torch.Tensor, b: torch.Tensor, p: float) -> float:
    """Sum over rows of ``W_p^p`` between row-sorted ``a`` (Tensor[L, N], overwritten) and ``b``."""
    if a.device.type != "cpu":
        return float(_wpp_sorted_rows(a, b, p).sum())
    # CPU: a few single-threaded numpy passes over the piece
    with np.errstate(all="ignore"):  # a NaN or Inf input is reported by the caller
        return _wpp_total_numpy(a.numpy(), b.numpy(), p)


def _wpp_total_numpy(an: np.ndarray, bn: np.ndarray, p: float) -> float:
    n, m = an.shape[1], bn.shape[1]
    ix, iy, w = (t.numpy() for t in _merge_plan(n, m, torch.device("cpu")))
    diff = np.subtract(an, bn, out=an) if n == m else an[:, ix] - bn[:, iy]
    if p == 2.0:
        if n == m:
            return float(np.einsum("ij,ij->", diff, diff)) / n
        np.square(diff, out=diff)
    else:
        np.abs(diff, out=diff)
        if p != 1.0:
            np.power(diff, p, out=diff)
    return float(diff.sum()) / n if n == m else float((diff @ w).sum())


def _wpp_sorted_rows(a: torch.Tensor, b: torch.Tensor, p: float, *, scratch: bool = True) -> torch.Tensor:
    """``W_p^p`` per row between row-sorted ``a`` (Tensor[L, N]) and ``b`` (Tensor[L, M]); Tensor[L].

    ``scratch``: ``a`` may be overwritten (False: out of place, for autograd).
    """
    n, m = a.shape[1], b.shape[1]
    ix, iy, w = _merge_plan(n, m, a.device)
    if n == m:
        diff = a.sub_(b) if scratch else a - b
    else:
        diff = a.index_select(1, ix) - b.index_select(1, iy)
    if not scratch:
        return (diff.abs().pow(p) @ w) if n != m else diff.abs().pow(p).sum(1) / n
    diff.abs_()
    if p == 2.0:
        diff.square_()
    elif p != 1.0:
        diff.pow_(p)
    if n == m:
        return diff.sum(1) / n
    return diff @ w


def wasserstein_1d(u: Any, v: Any, p: float = 2.0) -> torch.Tensor:
    """``W_p^p`` between the empirical distributions of the columns of ``u`` and ``v``.

    Args:
        u (Tensor[N, L]): L one-dimensional samples of size N (one per column).
        v (Tensor[M, L]): L samples of size M.
        p: order ``>= 1``.

    Returns:
        Tensor[L] float64: ``W_p^p`` of each column (exact for any N, M).
    """
    a = torch.as_tensor(u)
    b = torch.as_tensor(v)
    if a.dim() == 1:
        a = a.unsqueeze(1)
    if b.dim() == 1:
        b = b.unsqueeze(1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"u and v: different numbers of columns ({a.shape[1]} vs {b.shape[1]})")
    if torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):  # differentiable path
        a = torch.sort(a.T.to(torch.float64), dim=1).values
        b = torch.sort(b.T.to(torch.float64), dim=1).values
        return _wpp_sorted_rows(a, b, float(p), scratch=False)
    # one sample per contiguous row (a float64 copy: the inputs are never modified)
    a, b = _sort_rows_(
        a.detach().T.to(torch.float64, memory_format=torch.contiguous_format, copy=True),
        b.detach().T.to(torch.float64, memory_format=torch.contiguous_format, copy=True),
    )
    return _wpp_sorted_rows(a, b, float(p))


def _sw_mc(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, p: float) -> float:
    """``SW_p`` over the directions ``theta`` (Tensor[L, D]); ``x``, ``y`` float64.

    The directions are cut into pieces; each piece is projected with one float64 GEMM per side
    into one sample per contiguous row (Tensor[l, N], Tensor[l, M]), sorted along the rows and
    reduced to its sum of ``W_p^p``. On CPU the pieces are shared among
    ``torch.get_num_threads()`` single-threaded workers; at most ``_CHUNK_ELEMS`` projected
    values are in memory at once.
    """
    rows = x.shape[0] + y.shape[0]
    n_dir = theta.shape[0]
    chunk = max(1, _CHUNK_ELEMS // rows)
    workers = torch.get_num_threads() if x.device.type == "cpu" else 1
    # one piece per worker (each GEMM call packs the features again: few, large pieces), all the
    # workers' pieces within the memory budget
    piece = max(1, min(chunk // workers, -(-n_dir // workers))) if workers > 1 else chunk

    def run(s: int) -> float:
        t = theta[s : s + piece]  # [l, D]
        px, py = _sort_rows_(torch.mm(t, x.T), torch.mm(t, y.T))
        return _wpp_total(px, py, p)

    starts = range(0, n_dir, piece)
    total = math.fsum(thread_map(run, starts, workers))
    return (total / n_dir) ** (1.0 / p)


def _sw_approx(x: torch.Tensor, y: torch.Tensor) -> float:
    d = x.shape[1]

    def moments(z: torch.Tensor) -> tuple[Any, float]:
        # float64 copy, mean, centred in place, then one dot product: the mean squared centred norm
        if z.device.type == "cpu":
            if z.dtype in (torch.float32, torch.float64):  # single-threaded numpy passes
                a = z.numpy().astype(np.float64, order="C", copy=True)
            else:
                a = z.to(torch.float64, memory_format=torch.contiguous_format, copy=True).numpy()
            with np.errstate(all="ignore"):  # a NaN or Inf input is reported by the caller
                mean = a.mean(0)
                a -= mean
                # einsum: a single-threaded SIMD pass (np.dot would wake the BLAS threads)
                return mean, float(np.einsum("ij,ij->", a, a)) / z.shape[0]
        t = z.to(torch.float64, copy=True)
        mean_t = t.mean(0)
        flat_t = t.sub_(mean_t).view(-1)
        return mean_t.cpu().numpy(), float(torch.dot(flat_t, flat_t)) / z.shape[0]

    if x.device.type == "cpu" and torch.get_num_threads() > 1 and x.numel() + y.numel() >= (1 << 18):
        with ThreadPoolExecutor(2) as pool:  # one set per thread (numpy releases the GIL)
            (mx, sx), (my, sy) = pool.map(moments, (x, y))
    else:
        (mx, sx), (my, sy) = moments(x), moments(y)
    with np.errstate(all="ignore"):
        diff = mx - my
        mean_term = float(np.dot(diff, diff)) / d
    return math.sqrt(mean_term + (math.sqrt(sx / d) - math.sqrt(sy / d)) ** 2)


def sliced_wasserstein(
    real: Any,
    fake: Any,
    *,
    method: Method = "mc",
    projections: int = 1000,
    p: float = 2.0,
    generator: Optional[torch.Generator] = None,
) -> float:
    """Sliced Wasserstein distance ``SW_p`` between two feature sets.

    Args:
        real (Tensor[N, D] | ndarray): reference features.
        fake (Tensor[M, D] | ndarray): generated features, same D and device (N may differ from M).
        method: ``"mc"`` (Monte-Carlo over random directions) or ``"approx"`` (the
            closed-form approximation of Nadjahi et al. 2021, ``p = 2`` only; deterministic).
        projections: number of directions for ``"mc"``.
        p: order ``>= 1`` (``"approx"``: 2).
        generator: ``torch.Generator`` drawing the directions (None: the global CPU RNG).

    Returns:
        float (the distance itself, not its p-th power). Computed in float64 without autograd.

    Matches: POT ``ot.sliced_wasserstein_distance`` (``"mc"``), dgm-eval ``sw_approx``
    (``"approx"``); see the module docstring.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(100, 4, generator=g)
    >>> sliced_wasserstein(x, x, generator=g)
    0.0
    """
    check_choice(method, "method", ("mc", "approx"))
    # finiteness is checked after the computation (a NaN or Inf input makes it non-finite): one
    # pass over the features less
    x = check_features(real, "real", finite=False).detach()
    y = check_features(fake, "fake", finite=False).detach()
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    try:
        pp = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"p: expected a number >= 1, got {type(p).__name__}") from None
    if not pp >= 1.0 or math.isinf(pp):
        raise ValueError(f"p: must be a finite number >= 1, got {p!r}")
    with torch.no_grad():
        if method == "approx":
            if pp != 2.0:
                raise ValueError(f"p: method='approx' is the closed form for p = 2, got p={p!r}")
            value = _sw_approx(x, y)
        else:
            projections = check_positive_int(projections, "projections")
            theta = random_directions(x.shape[1], projections, generator, device=x.device)
            workers = torch.get_num_threads() if x.device.type == "cpu" else 1
            # the two float64 copies in parallel single-threaded workers (no barrier per operation)
            x64, y64 = thread_map(lambda z: z.to(torch.float64), (x, y), workers)
            value = _sw_mc(x64, y64, theta, pp)
    if not math.isfinite(value):  # raises naming the input that holds NaN or Inf, if one does
        check_finite(x, "real")
        check_finite(y, "fake")
    return value


class SlicedWasserstein(BankMetric):
    """Stateful sliced Wasserstein distance: banks of real and fake features.

    Implements the :class:`~fastgan.metrics.Metric` protocol (``merge`` concatenates the banks,
    ``sync`` all-gathers them; the value does not depend on the row order).

    Args: as :func:`sliced_wasserstein` (``method``, ``projections``, ``p``), plus ``seed`` of
        the CPU generator that draws the directions in :meth:`compute` (reproducible).

    >>> m = SlicedWasserstein(projections=10)
    >>> m.update(torch.zeros(5, 3), real=True); m.update(torch.ones(5, 3), real=False)
    >>> m.compute() > 0
    True
    """

    def __init__(
        self, *, method: Method = "mc", projections: int = 1000, p: float = 2.0, seed: int = 0
    ) -> None:
        super().__init__()
        self.method: Method = method
        self.projections = check_positive_int(projections, "projections")
        self.p = float(p)
        self.seed = int(seed)

    def compute(self) -> float:
        """The distance between the banks (see :func:`sliced_wasserstein`)."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        g = torch.Generator().manual_seed(self.seed)
        return sliced_wasserstein(
            x, y, method=self.method, projections=self.projections, p=self.p, generator=g
        )


# ----------------------------------------------------------------------------- MIND
#: Result key of :func:`mind`.
KEY_MIND = "mind"


def _mind_draws(
    n_real: int, n_fake: int, dim: int, projections: int, seed: int, equal_sizes: bool
) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor], torch.Tensor]:
    """torch-fidelity's draws from one CPU generator: the subsample of the larger set (its
    ``input1`` = fake first), then float32 normal directions normalised in float32."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    n = min(n_real, n_fake)
    idx_f = idx_r = None
    if equal_sizes:
        if n_fake > n:
            idx_f = torch.randperm(n_fake, generator=g)[:n]
        if n_real > n:
            idx_r = torch.randperm(n_real, generator=g)[:n]
    theta = torch.randn(projections, dim, generator=g, dtype=torch.float32)
    theta = theta / theta.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return idx_r, idx_f, theta.to(torch.float64)


def mind(
    real: Any,
    fake: Any,
    *,
    projections: int = 1000,
    seed: int = 2020,
    equal_sizes: bool = True,
) -> float:
    """MIND, the Monge Inception Distance: ``3 D`` times the squared sliced 2-Wasserstein distance.

    ``MIND = alpha / L * sum_l W_2^2(theta_l # real, theta_l # fake)`` with ``alpha = 3 D`` (D the
    feature dimension) over ``L = projections`` random unit directions: the scaling torch-fidelity
    puts on :func:`sliced_wasserstein` (``MIND = 3 D SW_2^2``; the factor makes it comparable in
    magnitude to FID, ``E_theta (theta . v)^2 = |v|^2 / D``).

    Args:
        real (Tensor[N, D] | ndarray): reference features (torch-fidelity's ``input2``).
        fake (Tensor[M, D] | ndarray): generated features (``input1``), same D and device.
        projections: number of directions (torch-fidelity's ``mind_num_projections``: 1000).
        seed: seed of the CPU ``torch.Generator`` of the draws (torch-fidelity's ``rng_seed``: 2020).
        equal_sizes: True (torch-fidelity): when ``N != M`` the larger set is subsampled to the
            smaller count (a ``randperm`` drawn before the directions); False: every sample is
            used, with the exact 1-D Wasserstein distance between unequal empirical measures.

    Returns:
        float, computed in float64 from the reference's float32 directions (the reference
        projects in float32: the two agree to float32 rounding, ~1e-6 relative).

    Matches: torch-fidelity master ``metric_mind.mind_features_to_metric`` (Berthet et al.,
    "MIND: Monge Inception Distance for Generative Models Evaluation", arXiv:2605.06797): same
    generator, same draw order (subsample, then ``randn(L, D)`` in float32 normalised with
    ``clamp_min(1e-12)``), sorted projections, ``alpha = 3 D``.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(100, 4, generator=g)
    >>> mind(x, x)
    0.0
    """
    x = check_features(real, "real").detach()
    y = check_features(fake, "fake").detach()
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    projections = check_positive_int(projections, "projections")
    d = x.shape[1]
    idx_r, idx_f, theta = _mind_draws(x.shape[0], y.shape[0], d, projections, seed, bool(equal_sizes))
    with torch.no_grad():
        if idx_r is not None:
            x = x[idx_r.to(x.device)]
        if idx_f is not None:
            y = y[idx_f.to(y.device)]
        sw = _sw_mc(x.to(torch.float64), y.to(torch.float64), theta.to(x.device), 2.0)
    return 3.0 * d * sw * sw


class MIND(BankMetric):
    """Stateful MIND: banks of real and fake features (the :class:`~fastgan.metrics.Metric` protocol).

    Args: as :func:`mind` (``projections``, ``seed``, ``equal_sizes``). With ``equal_sizes`` and
    unequal counts the subsample indexes the concatenated banks, so ``merge`` / ``sync`` reproduce a
    single process fed the samples in the same order.

    >>> m = MIND(projections=10)
    >>> m.update(torch.zeros(5, 1), real=True); m.update(torch.ones(5, 1), real=False)
    >>> round(m.compute(), 6)
    3.0
    """

    def __init__(self, *, projections: int = 1000, seed: int = 2020, equal_sizes: bool = True) -> None:
        super().__init__()
        self.projections = check_positive_int(projections, "projections")
        self.seed = int(seed)
        self.equal_sizes = bool(equal_sizes)

    def compute(self) -> float:
        """MIND of the banks (see :func:`mind`)."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return mind(x, y, projections=self.projections, seed=self.seed, equal_sizes=self.equal_sizes)
