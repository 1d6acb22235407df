"""Rarity score (Han et al. 2022), computed exactly without an N x M matrix.

"Rarity Score: A New Metric to Evaluate the Uncommonness of Synthesized Images" (ICLR 2023,
arXiv:2206.08549). Real features ``X = {x_i}`` (N rows), samples ``Y = {y_j}`` (M rows):

* ``r_i = NND_k(x_i)``: distance from ``x_i`` to its k-th nearest OTHER real sample (the
  k-NN radii of improved precision / recall, :mod:`fastgan.metrics.manifold`);
* ``Rarity(y_j) = min {r_i : |y_j - x_i| < r_i}``: the radius of the SMALLEST real k-NN ball
  that holds the sample (a sample in a dense region gets a small score, one that only a
  sparse region's large ball holds gets a large one);
* a sample that no real ball holds is outside the real manifold and gets no score; the
  reference code reports 0 for it, as :func:`rarity_score` does.

Summary values (what :func:`rarity` and :class:`Rarity` return, for tables): ``rarity_mean``,
the mean score over the samples inside the real manifold (the scores the reference's
``scores[scores_ids]`` lists; NaN when there is none), and ``rarity_inside``, the fraction of
samples inside (the precision of Kynkaanniemi et al. with open balls).

Exactness: the radii come from the exact k-NN engine (:mod:`fastgan.metrics.knn`) and the
memberships from :func:`fastgan.metrics._ball_counts.ball_reductions`; every decision equals
the one a brute-force float64 computation with direct differences makes. Memory:
``O((N + M) * D + tile^2)``.

Matches: hichoe95/Rarity-Score ``src/rarity_score.py`` (``MANIFOLD.rarity``: default k = 3,
``r = real2real_sorted[:, k]`` where column 0 is the point itself, membership
``r_i - d_ij > 0``, i.e. strict ``<``; ``strict=False`` gives closed balls; score 0 outside
every ball; Euclidean distances).
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
from fastgan.metrics._ball_counts import ball_reductions
from fastgan.metrics._base import BankMetric

__all__ = ["KEY_RARITY_INSIDE", "KEY_RARITY_MEAN", "Rarity", "rarity", "rarity_score"]

#: Result keys of :func:`rarity`.
KEY_RARITY_MEAN = "rarity_mean"
KEY_RARITY_INSIDE = "rarity_inside"


def _prepare(real: Any, samples: Any, k: Any) -> tuple[torch.Tensor, torch.Tensor, int]:
    x = check_features(real, "real").detach()
    y = check_features(samples, "samples").detach()
    check_same_dim(x, y, "real", "samples")
    check_same_device([x, y], ["real", "samples"])
    k = check_positive_int(k, "k")
    if k >= x.shape[0]:
        raise ValueError(
            f"k: needs k < number of real samples (each real sample's k-th nearest OTHER sample must exist), "
            f"got k={k} with {x.shape[0]} real sample(s)"
        )
    return x, y, k


def rarity_score(
    real: Any,
    samples: Any,
    k: int = 3,
    *,
    strict: bool = True,
    impl: str = "auto",
    block_size: Optional[int] = None,
    progress: Optional[bool] = None,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """Rarity score of each sample (Han et al. 2022), exactly.

    Args:
        real (Tensor[N, D] | ndarray): real features, ``N > k``.
        samples (Tensor[M, D] | ndarray): samples to score, same D and device.
        k: neighbourhood size of the real balls (reference: 3).
        strict: True (the reference): open balls, ``|y - x_i| < r_i``; False: closed balls.
        impl: engine of the k-NN radii (``"auto"`` | ``"torch"`` | ``"faiss"``).
        block_size: side of the distance tiles (halved on out-of-memory).
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        stats: optional dict receiving diagnostics (``impl``, ``ball_refined``, ...).

    Returns:
        Tensor[M] float64 on the samples' device: the score (a distance), 0 for a sample
        outside every real ball.

    Matches: hichoe95/Rarity-Score ``MANIFOLD.rarity`` (module docstring).

    >>> real = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    >>> rarity_score(real, torch.tensor([[0.4], [5.5], [20.0]]), k=1)
    tensor([1., 4., 0.], dtype=torch.float64)
    """
    x, y, k = _prepare(real, samples, k)
    if not isinstance(strict, bool):
        raise TypeError(f"strict: expected a bool, got {type(strict).__name__}")
    if block_size is not None:
        block_size = check_positive_int(block_size, "block_size")
    check_choice(impl, "impl", knn.IMPLS)
    st: dict[str, Any] = {} if stats is None else stats
    engine = knn.resolve_impl(impl, x.device)
    st["impl"] = engine
    with progress_bar(progress, total=2 * x.shape[0], desc="rarity", unit="rows") as bar, torch.no_grad():
        r2 = knn.knn_sqradii(x, [k], engine, block_size=block_size, progress=bar, stats=st)[0]
        red = ball_reductions(
            x, r2, y, strict=strict, want=("min_r2_y",), block_size=block_size, progress=bar, stats=st
        )
    best = red["min_r2_y"]
    return torch.where(torch.isinf(best), torch.zeros_like(best), best.sqrt())


def rarity(real: Any, fake: Any, k: int = 3, **kwargs: Any) -> dict[str, float]:
    """Summary of :func:`rarity_score` over the fake samples: ``rarity_mean`` and ``rarity_inside``.

    Args:
        real (Tensor[N, D] | ndarray): real features.
        fake (Tensor[M, D] | ndarray): generated features.
        k: neighbourhood size (reference: 3).
        **kwargs: ``strict``, ``impl``, ``block_size``, ``progress``, ``stats`` of :func:`rarity_score`.

    Returns:
        ``{"rarity_mean": mean score of the samples inside the real manifold (NaN if none),
        "rarity_inside": fraction of samples inside}``.

    >>> real = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    >>> rarity(real, torch.tensor([[0.4], [5.5], [20.0]]), k=1)
    {'rarity_mean': 2.5, 'rarity_inside': 0.6666666666666666}
    """
    scores = rarity_score(real, fake, k, **kwargs)
    inside = scores > 0
    n_in = int(inside.sum())
    mean = float(scores[inside].mean()) if n_in else math.nan
    return {KEY_RARITY_MEAN: mean, KEY_RARITY_INSIDE: n_in / scores.numel()}


class Rarity(BankMetric):
    """Stateful rarity score summary: banks of real and fake features (the Metric protocol).

    Args: as :func:`rarity_score` (``k``, ``strict``, ``impl``, ``block_size``, ``progress``).
    The value does not depend on the row order, so ``merge`` / ``sync`` give the
    single-process result.

    >>> m = Rarity(k=1)
    >>> m.update(torch.tensor([[0.0], [1.0], [3.0], [7.0]]), real=True)
    >>> m.update(torch.tensor([[0.4], [5.5]]), real=False)
    >>> m.compute()
    {'rarity_mean': 2.5, 'rarity_inside': 1.0}
    """

    def __init__(
        self,
        k: int = 3,
        *,
        strict: bool = True,
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

    def scores(self) -> torch.Tensor:
        """Tensor[M] float64: the rarity score of every fake sample in the bank."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return rarity_score(
            x,
            y,
            self.k,
            strict=self.strict,
            impl=self.impl,
            block_size=self.block_size,
            progress=self.progress,
        )

    def compute(self) -> dict[str, float]:
        """``{"rarity_mean", "rarity_inside"}`` of all samples in the banks (see :func:`rarity`)."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return rarity(
            x,
            y,
            self.k,
            strict=self.strict,
            impl=self.impl,
            block_size=self.block_size,
            progress=self.progress,
        )
