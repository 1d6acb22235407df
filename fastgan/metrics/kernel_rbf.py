"""KID with a Gaussian RBF kernel: unbiased MMD^2 over random subsets (torch-fidelity's ``kid_kernel="rbf"``).

Each of ``subsets`` rounds draws ``m = subset_size`` rows of the real features X and m rows of
the fake features Y without replacement (the rounds of :func:`fastgan.metrics.kid`, drawn by
:func:`fastgan.metrics.kernel_distance.kid_subset_indices` with the same preset rules) and
evaluates the unbiased estimator with ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2))``::

    MMD_u^2 = sum_{i != i'} k(x_i, x_i') / (m (m-1)) + sum_{j != j'} k(y_j, y_j') / (m (m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2.

The result is the mean over rounds and the population std (ddof = 0), as for the polynomial KID.

Computation: each round's three kernel sums run on the tiled float64 RBF engine of CMMD
(:mod:`fastgan.metrics.rbf_mmd`: one GEMM per tile of augmented rows shifted by the round's
mean, ``exp`` in place, float64 sums; the symmetric sums compute each pair once, the diagonal
is exactly 1 and is removed). Memory: the round's rows and one tile. With float64 (the
default) a round equals a float64 brute force with direct differences to ~1e-12 relative.

Matches: torch-fidelity master ``metric_kid.kernel_rbf`` + ``mmd2`` (``kid_kernel="rbf"``,
``kid_kernel_rbf_sigma = 10``, unbiased estimator, ``np.std``): with
``preset="torch-fidelity"`` the rounds are its rounds (``RandomState(2020)``, fake rows drawn
first) and the values equal it up to its float32 kernel evaluation (expanded
``|a|^2 + |b|^2 - 2 a.b`` in the features' dtype). Binkowski et al. 2018 define KID with
the polynomial kernel; the RBF variant is the kernel choice of MMD-GAN (Li et al. 2017) and CMMD.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from fastgan._checks import check_features, check_positive_int, check_same_device, check_same_dim
from fastgan.metrics._base import BankMetric
from fastgan.metrics._kid_subsets import kid_subset_indices
from fastgan.metrics.conventions import PresetLike, get_conventions
from fastgan.metrics.rbf_mmd import _augmented, _check_positive_float, _tiled_exp_sum

__all__ = ["KEY_KID_RBF_MEAN", "KEY_KID_RBF_STD", "KIDRBF", "kid_rbf", "rbf_mmd2_subsets"]

#: Result keys of :func:`kid_rbf`.
KEY_KID_RBF_MEAN = "kid_rbf_mean"
KEY_KID_RBF_STD = "kid_rbf_std"


def rbf_mmd2_subsets(
    real: Any,
    fake: Any,
    idx_real: torch.Tensor,
    idx_fake: torch.Tensor,
    sigma: float = 10.0,
    *,
    block_size: Optional[int] = None,
) -> torch.Tensor:
    """Unbiased RBF-kernel MMD^2 of each round, given the rounds' row indices.

    Args:
        real (Tensor[N_x, D]), fake (Tensor[N_y, D]): features (same device).
        idx_real (Tensor[S, m] int64), idx_fake (Tensor[S, m] int64): rows of each round, m >= 2.
        sigma: kernel bandwidth, ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2))``.
        block_size: rows of a kernel tile (see :func:`fastgan.metrics.rbf_mmd.rbf_kernel_sum`).

    Returns:
        Tensor[S] float64 on the CPU.
    """
    x = check_features(real, "real").detach()
    y = check_features(fake, "fake").detach()
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    sigma = _check_positive_float(sigma, "sigma")
    idx_r = torch.as_tensor(idx_real, dtype=torch.int64).to(x.device)
    idx_f = torch.as_tensor(idx_fake, dtype=torch.int64).to(x.device)
    if idx_r.dim() != 2 or idx_r.shape != idx_f.shape or idx_r.shape[1] < 2:
        raise ValueError(
            f"idx_real, idx_fake: expected two [S, m] index tensors of one shape with m >= 2, got "
            f"{tuple(idx_r.shape)} and {tuple(idx_f.shape)}"
        )
    gamma = 1.0 / (2.0 * sigma * sigma)
    m = idx_r.shape[1]
    out = torch.empty(idx_r.shape[0], dtype=torch.float64)
    with torch.no_grad():
        for s in range(idx_r.shape[0]):
            xs, ys = x[idx_r[s]], y[idx_f[s]]
            shift = 0.5 * (xs.mean(0, dtype=torch.float64) + ys.mean(0, dtype=torch.float64))
            rx = _augmented(xs, shift, torch.float64, scale=2.0 * gamma)
            cx = _augmented(xs, shift, torch.float64, scale=None)
            ry = _augmented(ys, shift, torch.float64, scale=2.0 * gamma)
            cy = _augmented(ys, shift, torch.float64, scale=None)
            sxx = _tiled_exp_sum(rx, cx, symmetric=True, block_size=block_size) - m
            syy = _tiled_exp_sum(ry, cy, symmetric=True, block_size=block_size) - m
            sxy = _tiled_exp_sum(rx, cy, symmetric=False, block_size=block_size)
            out[s] = (sxx + syy) / (m * (m - 1)) - 2.0 * sxy / (m * m)
    return out


def kid_rbf(
    real: Any,
    fake: Any,
    subsets: Optional[int] = None,
    subset_size: Optional[int] = None,
    sigma: float = 10.0,
    generator: Optional[torch.Generator] = None,
    *,
    preset: PresetLike = None,
    seed: Optional[int] = None,
    subset_rule: Optional[str] = None,
    rng: Optional[str] = None,
    draw_first: Optional[str] = None,
    block_size: Optional[int] = None,
    stats: Optional[dict[str, Any]] = None,
) -> dict[str, float]:
    """KID with the Gaussian RBF kernel: mean and std of unbiased MMD^2 over random subsets.

    Args:
        real (Tensor[N_x, D] | ndarray): reference features.
        fake (Tensor[N_y, D] | ndarray): generated features, same D and device.
        subsets, subset_size: rounds and rows per round (None: the preset's, 100 and 1000).
        sigma: RBF bandwidth (torch-fidelity's ``kid_kernel_rbf_sigma``: 10).
        generator, preset, seed, subset_rule, rng, draw_first: how the rounds are drawn, exactly
            as :func:`fastgan.metrics.kid` draws them.
        block_size: rows of a kernel tile.
        stats: if a dict, receives ``"rounds"`` (Tensor[S] float64) and ``"subset_size"``.

    Returns:
        ``{"kid_rbf_mean": float, "kid_rbf_std": float}`` (std with ddof = 0).

    Matches: torch-fidelity master ``kid_features_to_metric`` with ``kid_kernel="rbf"``
    (module docstring; ``real`` = its ``input2``, ``fake`` = ``input1``).

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(60, 8, generator=g)
    >>> kid_rbf(x, x + 3, subsets=4, subset_size=30, sigma=2.0, generator=g)["kid_rbf_mean"] > 0
    True
    """
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    p = get_conventions(preset)
    idx_r, idx_f = kid_subset_indices(
        x.shape[0],
        y.shape[0],
        p.kid_subsets if subsets is None else subsets,
        p.kid_subset_size if subset_size is None else subset_size,
        generator,
        preset=p,
        seed=seed,
        subset_rule=subset_rule,
        rng=rng,
        draw_first=draw_first,
    )
    vals = rbf_mmd2_subsets(x, y, idx_r, idx_f, sigma, block_size=block_size)
    if stats is not None:
        stats.update(rounds=vals, subset_size=int(idx_r.shape[1]))
    return {KEY_KID_RBF_MEAN: float(vals.mean()), KEY_KID_RBF_STD: float(vals.std(correction=0))}


class KIDRBF(BankMetric):
    """Stateful RBF-kernel KID: banks of real and fake features (the Metric protocol).

    Args: as :func:`kid_rbf` (``subsets``, ``subset_size``, ``sigma``, ``preset``,
    ``subset_rule``, ``rng``, ``draw_first``, ``block_size``), plus ``seed`` of the subset RNG used by
    :meth:`compute` (None: the preset's ``kid_seed``, else 2020), so ``compute()`` is reproducible.
    The rounds index the concatenated banks: ``merge`` / ``sync`` reproduce a single process fed
    the samples in the same order.

    >>> m = KIDRBF(subsets=3, subset_size=10, sigma=1.0)
    >>> m.update(torch.randn(20, 4), real=True); m.update(torch.randn(20, 4) + 2, real=False)
    >>> m.compute()["kid_rbf_mean"] > 0
    True
    """

    def __init__(
        self,
        subsets: Optional[int] = None,
        subset_size: Optional[int] = None,
        sigma: float = 10.0,
        seed: Optional[int] = None,
        *,
        preset: PresetLike = None,
        subset_rule: Optional[str] = None,
        rng: Optional[str] = None,
        draw_first: Optional[str] = None,
        block_size: Optional[int] = None,
    ) -> None:
        super().__init__()
        p = get_conventions(preset)
        self.preset = p
        self.subsets = check_positive_int(p.kid_subsets if subsets is None else subsets, "subsets")
        self.subset_size = check_positive_int(
            p.kid_subset_size if subset_size is None else subset_size, "subset_size", minimum=2
        )
        self.sigma = _check_positive_float(sigma, "sigma")
        self.seed = int((2020 if p.kid_seed is None else p.kid_seed) if seed is None else seed)
        self.subset_rule, self.rng, self.draw_first = subset_rule, rng, draw_first
        self.block_size = block_size

    def compute(self) -> dict[str, float]:
        """``{"kid_rbf_mean", "kid_rbf_std"}`` over the rounds (see :func:`kid_rbf`)."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return kid_rbf(
            x,
            y,
            self.subsets,
            self.subset_size,
            self.sigma,
            preset=self.preset,
            seed=self.seed,
            subset_rule=self.subset_rule,
            rng=self.rng,
            draw_first=self.draw_first,
            block_size=self.block_size,
        )
