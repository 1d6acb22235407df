"""Precision and recall for distributions (PRD; Sajjadi et al. 2018) and its F_beta pair.

"Assessing Generative Models via Precision and Recall" (NeurIPS 2018, arXiv:1806.00035).

1. Discretise: the union of the fake (``eval``) and real (``ref``) features is clustered into
   ``num_clusters`` clusters (k-means); each side becomes a histogram over the clusters,
   ``P`` (fake) and ``Q`` (real), normalised to sum to 1.
2. The PRD curve of the two discrete distributions, for ``num_angles`` slopes
   ``lambda = tan(theta)``, ``theta`` equispaced in ``[eps, pi/2 - eps]``::

       alpha(lambda) = sum_c min(lambda Q_c, P_c)      (precision)
       beta(lambda)  = alpha(lambda) / lambda            (recall)

   both clipped to ``[0, 1]`` (a value above 1.001 is an error, as in the reference).
3. The curve is averaged over ``num_runs`` independent clusterings.
4. Summary: ``F_beta = max_lambda (1 + b^2) a r / (b^2 a + r + 1e-10)`` for ``b = beta`` and
   ``b = 1/beta``; with the default ``beta = 8``, ``F_8`` tracks recall (coverage of the real
   distribution) and ``F_1/8`` tracks precision (quality of the samples).

Clustering (``kmeans=``):

* ``"sklearn"``: scikit-learn's ``MiniBatchKMeans(n_clusters, n_init=10)`` exactly as the
  reference calls it, on the float64 union with the fake rows first; its randomness comes from
  one ``numpy.random.RandomState(seed)`` shared by the runs, which is what the reference draws
  after ``numpy.random.seed(seed)`` (it passes no ``random_state``, so it uses numpy's global
  RNG). Needs scikit-learn (``pip install scikit-learn``).
* ``"torch"``: fastgan's own k-means in float64 (k-means++ seeding, Lloyd iterations to
  convergence, the best of ``n_init=10`` by inertia) drawn from a ``torch.Generator`` seeded with
  ``seed``; runs on the features' device. Deviation: it is full-batch k-means, not
  MiniBatchKMeans, so its clusters (and the curve, a random estimate in both cases) differ from the
  reference's draw by the clustering noise, not by a convention; steps 2-4 are identical.
* ``"auto"`` (default): ``"sklearn"`` when scikit-learn imports, else ``"torch"``; the choice
  is logged and reported in ``stats["kmeans"]``.

Memory: the k-means holds the union and an ``(N + M) x num_clusters`` distance block; no
``N x M`` matrix.

Matches: msmsajjadi/precision-recall-distributions ``prd_score.py``
(``compute_prd_from_embedding``: 20 clusters, 1001 angles, 10 runs averaged,
``enforce_balance=True``; ``compute_prd``: ``epsilon = 1e-10`` and the clipping;
``_cluster_into_bins``: ``numpy.histogram(..., density=True)``; ``prd_to_max_f_beta_pair``:
``beta = 8``, ``epsilon = 1e-10``).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional

import numpy as np
import torch

from fastgan._checks import check_choice, check_features, check_positive_int, check_same_dim
from fastgan.metrics._base import BankMetric

__all__ = [
    "KEY_PRD_F_BETA",
    "KEY_PRD_F_BETA_INV",
    "PRD",
    "kmeans_labels",
    "prd",
    "prd_curve",
    "prd_f_beta",
    "prd_from_distributions",
]

logger = logging.getLogger(__name__)

#: Result keys of :func:`prd`: max F_beta (recall-like) and max F_{1/beta} (precision-like).
KEY_PRD_F_BETA = "prd_f_beta"
KEY_PRD_F_BETA_INV = "prd_f_beta_inv"

KMEANS = ("auto", "sklearn", "torch")


def prd_from_distributions(
    eval_dist: Any, ref_dist: Any, *, num_angles: int = 1001, epsilon: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor]:
    """The PRD curve of two discrete distributions (step 2 of the module docstring).

    Args:
        eval_dist (Tensor[C] | ndarray): probabilities of the evaluated (fake) distribution.
        ref_dist (Tensor[C] | ndarray): probabilities of the reference (real) distribution.
        num_angles: slopes on the curve, in ``[3, 1e6]``.
        epsilon: the first and last angles are ``epsilon`` and ``pi/2 - epsilon``, ``0 < epsilon < 0.1``.

    Returns:
        (precision, recall): Tensor[num_angles] float64 each, in ``[0, 1]``.

    Matches: ``prd_score.compute_prd``.

    >>> p, r = prd_from_distributions([0.5, 0.5], [0.5, 0.5], num_angles=3)
    >>> round(float(p[1]), 6), round(float(r[1]), 6)
    (1.0, 1.0)
    """
    if not (0 < epsilon < 0.1):
        raise ValueError(f"epsilon: must be in (0, 0.1), got {epsilon!r}")
    num_angles = check_positive_int(num_angles, "num_angles")
    if not 3 <= num_angles <= 1_000_000:
        raise ValueError(f"num_angles: must be in [3, 1e6], got {num_angles}")
    ev = torch.as_tensor(eval_dist, dtype=torch.float64).reshape(-1).cpu()
    rf = torch.as_tensor(ref_dist, dtype=torch.float64).reshape(-1).cpu()
    if ev.shape != rf.shape:
        raise ValueError(
            f"eval_dist, ref_dist: expected one shape, got {tuple(ev.shape)} and {tuple(rf.shape)}"
        )
    slopes = torch.from_numpy(np.tan(np.linspace(epsilon, np.pi / 2 - epsilon, num=num_angles)))
    precision = torch.minimum(rf.unsqueeze(0) * slopes.unsqueeze(1), ev.unsqueeze(0)).sum(1)
    recall = precision / slopes
    top = max(float(precision.max()), float(recall.max()))
    if top > 1.001:
        raise ValueError(f"prd: a precision or recall of {top} > 1.001 (the distributions must sum to 1)")
    return precision.clamp(0, 1), recall.clamp(0, 1)


def prd_f_beta(precision: Any, recall: Any, beta: float = 8.0, epsilon: float = 1e-10) -> tuple[float, float]:
    """Max F_beta and max F_{1/beta} over a PRD curve.

    ``F_b(p, r) = (1 + b^2) p r / (b^2 p + r + epsilon)``.

    Args:
        precision (Tensor[A] | ndarray), recall (Tensor[A] | ndarray): the curve, values in ``[0, 1]``.
        beta: ``b > 0`` (reference: 8).
        epsilon: the reference's 1e-10 in the denominator.

    Returns:
        (max F_beta, max F_{1/beta}) as floats.

    Matches: ``prd_score.prd_to_max_f_beta_pair``.

    >>> fb, fbi = prd_f_beta(torch.tensor([1.0, 0.5]), torch.tensor([0.5, 1.0]))
    >>> round(fb, 4), round(fbi, 4)
    (0.9848, 0.9848)
    """
    p = torch.as_tensor(precision, dtype=torch.float64)
    r = torch.as_tensor(recall, dtype=torch.float64)
    for t, name in ((p, "precision"), (r, "recall")):
        if not bool(((t >= 0) & (t <= 1)).all()):
            raise ValueError(f"{name}: all values must be in [0, 1]")
    if not float(beta) > 0:
        raise ValueError(f"beta: must be positive, got {beta!r}")

    def f(b: float) -> float:
        return float(((1 + b**2) * (p * r) / (b**2 * p + r + epsilon)).max())

    return f(float(beta)), f(1.0 / float(beta))


def _torch_kmeans(
    z: torch.Tensor, k: int, n_init: int, g: torch.Generator, max_iter: int = 300
) -> torch.Tensor:
    """Labels (Tensor[N] int64) of the best of ``n_init`` k-means++ + Lloyd runs (float64)."""
    n = z.shape[0]
    best, best_inertia = None, math.inf
    sq = z.square().sum(1)

    def dists(c: torch.Tensor) -> torch.Tensor:  # squared distances [N, k], clamped at 0
        return (sq.unsqueeze(1) - 2.0 * z @ c.T + c.square().sum(1).unsqueeze(0)).clamp_min_(0)

    for _ in range(n_init):
        idx = [int(torch.randint(n, (1,), generator=g, device=g.device))]
        d2 = dists(z[idx]).squeeze(1)
        for _ in range(1, k):
            total = float(d2.sum())
            if total <= 0:
                nxt = int(torch.randint(n, (1,), generator=g, device=g.device))
            else:
                nxt = int(torch.multinomial(d2 / total, 1, generator=g))
            idx.append(nxt)
            d2 = torch.minimum(d2, dists(z[nxt : nxt + 1]).squeeze(1))
        centres = z[idx].clone()
        labels = torch.full((n,), -1, dtype=torch.int64, device=z.device)
        for _ in range(max_iter):
            new = dists(centres).argmin(1)
            if torch.equal(new, labels):
                break
            labels = new
            onehot = torch.nn.functional.one_hot(labels, k).to(z.dtype)  # [N, k]: one GEMM for the sums
            counts = onehot.sum(0)
            sums = onehot.T @ z
            keep = counts > 0  # an empty cluster keeps its centre
            centres[keep] = sums[keep] / counts[keep].unsqueeze(1)
        inertia = float(dists(centres).gather(1, labels.unsqueeze(1)).sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    assert best is not None
    return best


def kmeans_labels(
    data: torch.Tensor, num_clusters: int, runs: int, *, kmeans: str = "auto", seed: int = 0
) -> tuple[list[torch.Tensor], str]:
    """Cluster labels of ``runs`` independent k-means fits of ``data`` (Tensor[N, D]).

    Args:
        data: the rows to cluster (the union, fake rows first).
        num_clusters: k.
        runs: independent fits (each with ``n_init=10`` restarts).
        kmeans: ``"auto"`` | ``"sklearn"`` | ``"torch"`` (module docstring).
        seed: seed of the RNG shared by the runs.

    Returns:
        (list of Tensor[N] int64 on the CPU, the backend used).
    """
    check_choice(kmeans, "kmeans", KMEANS)
    if kmeans in ("auto", "sklearn"):
        try:
            from sklearn.cluster import MiniBatchKMeans
        except ImportError:
            if kmeans == "sklearn":
                raise ModuleNotFoundError(
                    "kmeans='sklearn' needs scikit-learn: pip install scikit-learn (or kmeans='torch')"
                ) from None
            logger.info("prd: scikit-learn is not installed; clustering with fastgan's torch k-means")
        else:
            rs = np.random.RandomState(seed)
            arr = data.detach().to(torch.float64).cpu().numpy()
            out = [
                torch.from_numpy(
                    MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=rs).fit(arr).labels_
                ).to(torch.int64)
                for _ in range(runs)
            ]
            return out, "sklearn"
    z = data.detach().to(torch.float64)
    g = torch.Generator(device=z.device).manual_seed(int(seed))
    return [_torch_kmeans(z, num_clusters, 10, g).cpu() for _ in range(runs)], "torch"


def prd_curve(
    real: Any,
    fake: Any,
    *,
    num_clusters: int = 20,
    num_angles: int = 1001,
    num_runs: int = 10,
    enforce_balance: bool = True,
    kmeans: str = "auto",
    seed: int = 0,
    stats: Optional[dict[str, Any]] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The PRD curve of fake against real features, averaged over ``num_runs`` clusterings.

    Args:
        real (Tensor[N, D] | ndarray): reference features (the reference's ``ref_data``).
        fake (Tensor[M, D] | ndarray): generated features (``eval_data``), same D.
        num_clusters: clusters of the union (reference: 20).
        num_angles: points on the curve (reference: 1001).
        num_runs: independent clusterings averaged (reference: 10).
        enforce_balance: raise when ``N != M`` (the reference's default: unbalanced sets bias
            the clustering towards the larger one).
        kmeans: ``"auto"`` | ``"sklearn"`` | ``"torch"`` (module docstring).
        seed: seed of the clustering RNG.
        stats: optional dict receiving ``kmeans`` (the backend used).

    Returns:
        (precision, recall): Tensor[num_angles] float64 each.

    Matches: ``prd_score.compute_prd_from_embedding(eval_data=fake, ref_data=real)``.
    """
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    num_clusters = check_positive_int(num_clusters, "num_clusters")
    num_runs = check_positive_int(num_runs, "num_runs")
    if enforce_balance and x.shape[0] != y.shape[0]:
        raise ValueError(
            f"real, fake: PRD needs as many fake as real samples ({y.shape[0]} != {x.shape[0]}); "
            "pass enforce_balance=False to cluster unbalanced sets (not recommended by the reference)"
        )
    m = y.shape[0]
    union = torch.cat([y.detach().to(torch.float64), x.detach().to(torch.float64).to(y.device)])
    labels, backend = kmeans_labels(union, num_clusters, num_runs, kmeans=kmeans, seed=seed)
    if stats is not None:
        stats["kmeans"] = backend
    precisions, recalls = [], []
    for lab in labels:
        ev = torch.bincount(lab[:m], minlength=num_clusters).to(torch.float64) / m
        rf = torch.bincount(lab[m:], minlength=num_clusters).to(torch.float64) / x.shape[0]
        p, r = prd_from_distributions(ev, rf, num_angles=num_angles)
        precisions.append(p)
        recalls.append(r)
    return torch.stack(precisions).mean(0), torch.stack(recalls).mean(0)


def prd(real: Any, fake: Any, *, beta: float = 8.0, **kwargs: Any) -> dict[str, float]:
    """PRD summary: max F_beta and max F_{1/beta} of :func:`prd_curve`.

    Args:
        real (Tensor[N, D] | ndarray): reference features.
        fake (Tensor[M, D] | ndarray): generated features.
        beta: reference: 8.
        **kwargs: ``num_clusters``, ``num_angles``, ``num_runs``, ``enforce_balance``, ``kmeans``,
            ``seed``, ``stats`` of :func:`prd_curve`.

    Returns:
        ``{"prd_f_beta": max F_beta (recall-like), "prd_f_beta_inv": max F_{1/beta} (precision-like)}``.

    Matches: ``prd_score.prd_to_max_f_beta_pair(*compute_prd_from_embedding(fake, real))``.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 3, generator=g)
    >>> out = prd(x, x.clone(), kmeans="torch", num_runs=2)
    >>> round(out["prd_f_beta"], 6), round(out["prd_f_beta_inv"], 6)
    (1.0, 1.0)
    """
    p, r = prd_curve(real, fake, **kwargs)
    fb, fbi = prd_f_beta(p, r, beta)
    return {KEY_PRD_F_BETA: fb, KEY_PRD_F_BETA_INV: fbi}


class PRD(BankMetric):
    """Stateful PRD F_beta pair: banks of real and fake features (the Metric protocol).

    Args: as :func:`prd` and :func:`prd_curve` (``beta``, ``num_clusters``, ``num_angles``,
    ``num_runs``, ``enforce_balance``, ``kmeans``, ``seed``). Row order matters to the
    clustering's random draws, so ``merge`` / ``sync`` reproduce a single process fed the
    samples in the same order.

    >>> m = PRD(kmeans="torch", num_runs=1)
    >>> x = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    >>> m.update(x, real=True); m.update(x, real=False)
    >>> round(m.compute()["prd_f_beta"], 6)
    1.0
    """

    def __init__(
        self,
        *,
        beta: float = 8.0,
        num_clusters: int = 20,
        num_angles: int = 1001,
        num_runs: int = 10,
        enforce_balance: bool = True,
        kmeans: str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_choice(kmeans, "kmeans", KMEANS)
        self.beta = float(beta)
        self.kw: dict[str, Any] = {
            "num_clusters": check_positive_int(num_clusters, "num_clusters"),
            "num_angles": check_positive_int(num_angles, "num_angles"),
            "num_runs": check_positive_int(num_runs, "num_runs"),
            "enforce_balance": bool(enforce_balance),
            "kmeans": kmeans,
            "seed": int(seed),
        }

    def compute(self) -> dict[str, float]:
        """``{"prd_f_beta", "prd_f_beta_inv"}`` of all samples in the banks (see :func:`prd`)."""
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return prd(x, y, beta=self.beta, **self.kw)
