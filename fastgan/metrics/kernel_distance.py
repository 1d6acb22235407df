"""Kernel Inception Distance (Binkowski et al., 2018): unbiased MMD^2, polynomial kernel.

For real features X and fake features Y (rows in R^D), each of ``subsets`` rounds draws
``m = subset_size`` rows of X and m rows of Y without replacement (independently per
round) and evaluates the unbiased estimator

    MMD_u^2 = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2,

with k(x, y) = (gamma * x.y + coef0) ** degree, gamma = 1/D by default. KID is the
mean over rounds; the reported std is the population std over rounds (ddof=0).

Matches: Binkowski et al. 2018 (``polynomial_mmd_averages``), torch-fidelity
``kid_features_to_metric`` (degree 3, gamma 1/D, coef0 1, ``np.std``, error if
``subset_size`` exceeds either sample count) and torchmetrics
``KernelInceptionDistance`` (``std(unbiased=False)``). The subsets come from
``torch.randperm`` with an explicit ``torch.Generator`` (the references use numpy's
RandomState / the global torch RNG), so individual draws differ from theirs while the
estimator is the same.

Two exact evaluation strategies (same numbers up to floating-point summation order):

* ``"full"``: the three kernel matrices K_XX, K_YY, K_XY are computed once, and every
  round gathers its m x m blocks. Costs (N_x^2 + N_y^2 + N_x N_y) D multiply-adds instead
  of 3 * subsets * m^2 * D, so it wins when N is small relative to sqrt(subsets) * m
  (e.g. N = 5k, m = 1k, 100 subsets) and the matrices fit in ``max_memory``.
* ``"subsets"``: rounds are batched into ``baddbmm`` calls with the kernel applied in
  place (no per-round Python loop of three matmuls plus temporaries).

``method="auto"`` picks ``"full"`` when it needs fewer multiply-adds and fits in memory.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Optional

import torch

from fastgan._checks import check_features, check_positive_int, check_same_device, check_same_dim
from fastgan.metrics._base import KEY_KID_MEAN, KEY_KID_STD, BankMetric

__all__ = ["kid", "KID", "kid_subset_indices", "mmd2_subsets", "polynomial_kernel"]

logger = logging.getLogger(__name__)

Method = Literal["auto", "full", "subsets"]
DEFAULT_MAX_MEMORY = 1 << 30  # bytes of temporaries per call (kernel matrices or batched blocks)


def polynomial_kernel(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: Optional[float] = None, coef0: float = 1.0
) -> torch.Tensor:
    """k(x, y) = (gamma x.y + coef0) ** degree for all pairs.

    Args:
        x (Tensor[..., N, D]), y (Tensor[..., M, D]): feature rows (batched allowed).
        gamma: default 1/D.

    Returns:
        Tensor[..., N, M] in the inputs' dtype.
    """
    g = 1.0 / x.shape[-1] if gamma is None else float(gamma)
    k = torch.matmul(x, y.transpose(-1, -2))
    return k.mul_(g).add_(coef0).pow_(degree)


def kid_subset_indices(
    n_real: int,
    n_fake: int,
    subsets: int,
    subset_size: int,
    generator: Optional[torch.Generator] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of every KID round, drawn without replacement within a round.

    Round s uses ``randperm(n_real)[:m]`` then ``randperm(n_fake)[:m]`` from ``generator``
    (in that order, round by round), so a seeded generator fixes every subset.

    Returns:
        (Tensor[subsets, m] int64, Tensor[subsets, m] int64) on the CPU.
    """
    subsets = check_positive_int(subsets, "subsets")
    m = check_positive_int(subset_size, "subset_size", minimum=2)
    for n, name in ((n_real, "real"), (n_fake, "fake")):
        if m > n:
            raise ValueError(
                f"subset_size ({m}) is larger than the number of {name} samples ({n}); "
                f"use subset_size <= {min(n_real, n_fake)} or provide more samples"
            )
    dev = generator.device if generator is not None else torch.device("cpu")  # a CUDA generator draws on its GPU
    idx_r = torch.empty(subsets, m, dtype=torch.int64, device=dev)
    idx_f = torch.empty(subsets, m, dtype=torch.int64, device=dev)
    for s in range(subsets):
        idx_r[s] = torch.randperm(n_real, generator=generator, device=dev)[:m]
        idx_f[s] = torch.randperm(n_fake, generator=generator, device=dev)[:m]
    return idx_r.cpu(), idx_f.cpu()


def _block_sums(k: torch.Tensor) -> torch.Tensor:
    """float64 sum of each trailing [m, m] block of ``k`` (Tensor[B, m, m]) -> Tensor[B]."""
    if k.device.type != "cpu" or k.dtype == torch.float64:
        return k.sum(dim=(-1, -2), dtype=torch.float64)
    # CPU reductions with a dtype conversion are not vectorised: convert one block at a time
    # (cache-sized) and sum it in float64 (the same float64 accumulation, vectorised)
    return torch.stack([blk.to(torch.float64).sum() for blk in k])


def _diag_sums(k: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(k, dim1=-2, dim2=-1).sum(dim=-1, dtype=torch.float64)


def _combine(sxx: torch.Tensor, txx: torch.Tensor, syy: torch.Tensor, tyy: torch.Tensor, sxy: torch.Tensor, m: int) -> torch.Tensor:
    return (sxx - txx + syy - tyy) / (m * (m - 1)) - 2.0 * sxy / (m * m)


def _kernel_full(
    a: torch.Tensor, b: torch.Tensor, degree: int, gamma: float, coef0: float, block_rows: int
) -> torch.Tensor:
    out = torch.empty(a.shape[0], b.shape[0], dtype=a.dtype, device=a.device)
    for i in range(0, a.shape[0], block_rows):
        blk = out[i : i + block_rows]
        torch.mm(a[i : i + block_rows], b.T, out=blk)
        blk.mul_(gamma).add_(coef0).pow_(degree)
    return out


def _mmd2_full(
    x: torch.Tensor, y: torch.Tensor, idx_r: torch.Tensor, idx_f: torch.Tensor,
    degree: int, gamma: float, coef0: float, batch: int,
) -> torch.Tensor:
    m = idx_r.shape[1]
    rows = max(1, (1 << 26) // max(1, max(x.shape[0], y.shape[0])))
    kxx = _kernel_full(x, x, degree, gamma, coef0, rows)
    kyy = _kernel_full(y, y, degree, gamma, coef0, rows)
    kxy = _kernel_full(x, y, degree, gamma, coef0, rows)
    dxx, dyy = torch.diagonal(kxx), torch.diagonal(kyy)
    out = torch.empty(idx_r.shape[0], dtype=torch.float64, device=x.device)
    for s0 in range(0, idx_r.shape[0], batch):
        ir, jf = idx_r[s0 : s0 + batch], idx_f[s0 : s0 + batch]
        sxx = _block_sums(kxx[ir[:, :, None], ir[:, None, :]])
        syy = _block_sums(kyy[jf[:, :, None], jf[:, None, :]])
        sxy = _block_sums(kxy[ir[:, :, None], jf[:, None, :]])
        txx = dxx[ir].sum(dim=1, dtype=torch.float64)
        tyy = dyy[jf].sum(dim=1, dtype=torch.float64)
        out[s0 : s0 + batch] = _combine(sxx, txx, syy, tyy, sxy, m)
    return out


def _mmd2_subsets(
    x: torch.Tensor, y: torch.Tensor, idx_r: torch.Tensor, idx_f: torch.Tensor,
    degree: int, gamma: float, coef0: float, batch: int,
) -> torch.Tensor:
    m = idx_r.shape[1]
    out = torch.empty(idx_r.shape[0], dtype=torch.float64, device=x.device)
    for s0 in range(0, idx_r.shape[0], batch):
        ir, jf = idx_r[s0 : s0 + batch], idx_f[s0 : s0 + batch]
        xs = torch.index_select(x, 0, ir.reshape(-1)).view(*ir.shape, -1)  # [B, m, D]
        ys = torch.index_select(y, 0, jf.reshape(-1)).view(*jf.shape, -1)
        # One [B, m, m] buffer reused for the three kernels: baddbmm fuses gamma * x.y + coef0.
        buf = torch.empty(xs.shape[0], m, m, dtype=x.dtype, device=x.device)
        buf.baddbmm_(xs, xs.transpose(1, 2), beta=0, alpha=gamma)
        buf.add_(coef0).pow_(degree)
        sxx, txx = _block_sums(buf), _diag_sums(buf)
        buf.baddbmm_(ys, ys.transpose(1, 2), beta=0, alpha=gamma)
        buf.add_(coef0).pow_(degree)
        syy, tyy = _block_sums(buf), _diag_sums(buf)
        buf.baddbmm_(xs, ys.transpose(1, 2), beta=0, alpha=gamma)
        buf.add_(coef0).pow_(degree)
        sxy = _block_sums(buf)
        out[s0 : s0 + batch] = _combine(sxx, txx, syy, tyy, sxy, m)
    return out


def _choose_method(method: str, n_r: int, n_f: int, d: int, subsets: int, m: int, itemsize: int, max_memory: int) -> str:
    if method not in ("auto", "full", "subsets"):
        raise ValueError(f"method: must be one of ('auto', 'full', 'subsets'), got {method!r}")
    if method != "auto":
        return method
    full_elems = n_r * n_r + n_f * n_f + n_r * n_f
    full_cost = full_elems * d + 3 * subsets * m * m  # GEMM multiply-adds + gathered reads
    sub_cost = 3 * subsets * m * m * d
    if full_cost < sub_cost and full_elems * itemsize <= max_memory:
        return "full"
    return "subsets"


def mmd2_subsets(
    real: Any,
    fake: Any,
    idx_real: torch.Tensor,
    idx_fake: torch.Tensor,
    degree: int = 3,
    gamma: Optional[float] = None,
    coef0: float = 1.0,
    dtype: torch.dtype = torch.float64,
    method: Method = "auto",
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> torch.Tensor:
    """Unbiased polynomial-kernel MMD^2 of each round, given the rounds' row indices.

    Args:
        real (Tensor[N_x, D]), fake (Tensor[N_y, D]): features (same device).
        idx_real (Tensor[S, m] int64), idx_fake (Tensor[S, m] int64): rows of each round
            (see :func:`kid_subset_indices`); m >= 2.
        degree, gamma, coef0: kernel (gamma None -> 1/D).
        dtype: compute dtype of the kernel matrices (sums always accumulate in float64).
        method: ``"auto"``, ``"full"`` or ``"subsets"`` (module docstring).
        max_memory: byte budget for temporaries.

    Returns:
        Tensor[S] float64 MMD_u^2 per round (on the features' device).
    """
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    degree = check_positive_int(degree, "degree")
    if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
    d = x.shape[1]
    g = 1.0 / d if gamma is None else float(gamma)
    idx_r = torch.as_tensor(idx_real).to(device=x.device, dtype=torch.int64)
    idx_f = torch.as_tensor(idx_fake).to(device=x.device, dtype=torch.int64)
    if idx_r.dim() != 2 or idx_r.shape != idx_f.shape:
        raise ValueError(
            f"idx_real, idx_fake: expected two [S, m] index tensors of one shape, got "
            f"{tuple(idx_r.shape)} and {tuple(idx_f.shape)}"
        )
    s, m = idx_r.shape
    if m < 2:
        raise ValueError(f"subset size must be >= 2 for the unbiased estimator, got {m}")
    for idx, n, name in ((idx_r, x.shape[0], "idx_real"), (idx_f, y.shape[0], "idx_fake")):
        if bool((idx < 0).any()) or bool((idx >= n).any()):
            raise ValueError(f"{name}: indices must lie in [0, {n})")
    x = x.to(dtype).contiguous()
    y = y.to(dtype).contiguous()
    itemsize = torch.empty((), dtype=dtype).element_size()
    chosen = _choose_method(method, x.shape[0], y.shape[0], d, s, m, itemsize, max_memory)
    logger.debug("kid: method=%s (N_x=%d, N_y=%d, D=%d, subsets=%d, m=%d)", chosen, x.shape[0], y.shape[0], d, s, m)
    if chosen == "full":
        per_round = 3 * m * m * (itemsize + 8)  # gathered blocks (+ int64 index broadcast)
        batch = max(1, min(s, max_memory // (2 * per_round)))
        return _mmd2_full(x, y, idx_r, idx_f, degree, g, coef0, batch)
    per_round = (2 * m * d + m * m) * itemsize
    batch = max(1, min(s, max_memory // per_round))
    return _mmd2_subsets(x, y, idx_r, idx_f, degree, g, coef0, batch)


def kid(
    real: Any,
    fake: Any,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: Optional[float] = None,
    coef0: float = 1.0,
    generator: Optional[torch.Generator] = None,
    dtype: torch.dtype = torch.float64,
    method: Method = "auto",
    max_memory: int = DEFAULT_MAX_MEMORY,
) -> dict[str, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    Args:
        real (Tensor[N_x, D]): reference features (e.g. Inception pool3, 2048-d).
        fake (Tensor[N_y, D]): generated-sample features.
        subsets: number of rounds.
        subset_size: rows per round m (2 <= m <= min(N_x, N_y); larger is an error, as
            in torch-fidelity, rather than a silent clamp).
        degree, gamma, coef0: polynomial kernel (gamma None -> 1/D).
        generator: ``torch.Generator`` that draws the subsets (None: global CPU RNG; a CUDA
            generator draws on its device, giving different subsets than a CPU one).
        dtype: kernel compute dtype. float64 (default) is exact to ~1e-12 relative;
            float32 is faster (a few 1e-7 relative on each kernel entry) and enough in
            practice, especially on GPUs with slow float64.
        method: ``"auto"`` | ``"full"`` | ``"subsets"`` (identical values; see module doc).
        max_memory: byte budget for temporaries.

    Returns:
        ``{"kid_mean": mean, "kid_std": std}`` of MMD_u^2 over rounds (floats); std with
        divisor ``subsets`` (ddof=0).

    Matches: Binkowski et al. 2018; torch-fidelity ``kid_features_to_metric``;
    torchmetrics ``KernelInceptionDistance`` (defaults 100 x 1000, degree 3, coef0 1).

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 8, generator=g)
    >>> out = kid(x, x + 3, subsets=5, subset_size=20, generator=g)
    >>> out["kid_mean"] > 0
    True
    """
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    idx_r, idx_f = kid_subset_indices(x.shape[0], y.shape[0], subsets, subset_size, generator)
    vals = mmd2_subsets(x, y, idx_r, idx_f, degree, gamma, coef0, dtype=dtype, method=method, max_memory=max_memory)
    return {KEY_KID_MEAN: float(vals.mean()), KEY_KID_STD: float(vals.std(correction=0))}


class KID(BankMetric):
    """Stateful KID: banks of real and fake features (no compact statistic exists).

    Implements the :class:`~fastgan.metrics.Metric` protocol. :meth:`merge` concatenates the
    banks; :meth:`sync` all-gathers them over ``torch.distributed`` ranks in rank order. The
    subsets index the concatenated banks, so the result equals a single process fed the
    samples in the same order (rank 0's rows first).

    Args: as :func:`kid` (``subsets``, ``subset_size``, ``degree``, ``gamma``, ``coef0``,
        ``dtype``, ``method``), plus ``seed`` for the subset generator used by
        :meth:`compute` (a fixed seed makes ``compute()`` reproducible, like
        torch-fidelity's ``rng_seed``).

    >>> m = KID(subsets=3, subset_size=10)
    >>> m.update(torch.randn(20, 4), real=True); m.update(torch.randn(20, 4) + 1, real=False)
    >>> m.compute()["kid_mean"] > 0
    True
    """

    def __init__(
        self,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: Optional[float] = None,
        coef0: float = 1.0,
        seed: int = 2020,
        dtype: torch.dtype = torch.float64,
        method: Method = "auto",
    ) -> None:
        super().__init__()
        self.subsets = check_positive_int(subsets, "subsets")
        self.subset_size = check_positive_int(subset_size, "subset_size", minimum=2)
        self.degree = check_positive_int(degree, "degree")
        self.gamma = gamma
        self.coef0 = float(coef0)
        self.seed = int(seed)
        self.dtype = dtype
        self.method: Method = method

    def compute(self) -> dict[str, float]:
        """``{"kid_mean", "kid_std"}`` of MMD_u^2 over rounds (see :func:`kid`)."""
        if not self.real_features or not self.fake_features:
            raise RuntimeError("KID.compute: both real and fake features must be added first")
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        g = torch.Generator().manual_seed(self.seed)
        return kid(
            x, y, self.subsets, self.subset_size, self.degree, self.gamma, self.coef0,
            generator=g, dtype=self.dtype, method=self.method,
        )
