"""The C_T data-copying test (Meehan, Chaudhuri & Dasgupta, AISTATS 2020), with exact 1-NN distances.

"A Non-Parametric Test to Detect Data-Copying in Generative Models". Three feature sets: the
training set ``T`` (``l`` rows), a held-out real test set ``P_n`` (``n`` rows) and the generated
set ``Q_m`` (``m`` rows).

1. Reduce to the first ``pca_dim`` (64) principal components of ``T`` when ``D > pca_dim``.
2. Partition the space into ``cells`` (3) cells by k-means on ``T``; each sample's cell is its
   nearest centre.
3. In each cell ``pi``: ``L(P_n)`` and ``L(Q_m)`` are the distances of the cell's test and
   generated samples to their nearest TRAINING sample of the same cell; the Mann-Whitney
   statistic ``U`` of ``L(Q_m)`` against ``L(P_n)`` (pairs with ``L_Q > L_P``, ties 1/2) is
   Z-scored as ``Z_U = (U - (n m / 2 - 1/2)) / sqrt(n m (n + m + 1) / 12)``.
4. ``C_T = sum_{pi in Pi_tau} P_n(pi) Z_U(pi) / sum_{pi in Pi_tau} P_n(pi)`` over the cells
   holding more than a fraction ``tau`` (``20 / m``) of the generated samples.

``C_T << 0`` signals data-copying (generated samples closer to the training set than fresh
real data), ``C_T >> 0`` underfitting.

Exactness: the 1-NN distances come from :func:`fastgan.metrics.memorization.nearest_neighbor`
(exact float64 values of the projected features, no N x M matrix); ``U`` is computed from
float64 mid-ranks. Steps 1-2 are the reference's estimators (PCA of the training covariance in
float64; k-means++ and Lloyd iterations with ``n_init`` restarts seeded by ``seed``): the
partition is random in the reference too, so :func:`c_t_statistic` takes cell labels directly
for a deterministic comparison.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from fastgan._checks import check_features, check_positive_int, check_same_device, check_same_dim
from fastgan.metrics.memorization import nearest_neighbor
from fastgan.metrics.memorization_base import TestSetMetric

__all__ = [
    "KEY_CT",
    "CTScore",
    "c_t_statistic",
    "ct_score",
    "kmeans_cells",
    "mann_whitney_z",
    "pca_project",
]

#: Result key of :func:`ct_score`.
KEY_CT = "ct"


def mann_whitney_z(lq: torch.Tensor, lp: torch.Tensor) -> float:
    """Z-scored Mann-Whitney ``U`` of ``lq`` (Tensor[m]) against ``lp`` (Tensor[n]).

    ``U = #{(i, j): lq_i > lp_j} + #{ties} / 2`` (scipy ``mannwhitneyu(lq, lp).statistic``, from
    mid-ranks), ``Z = (U - (n m / 2 - 0.5)) / sqrt(n m (n + m + 1) / 12)`` (no tie correction, as
    the reference).
    """
    m, n = int(lq.numel()), int(lp.numel())
    allv = torch.cat([lq.to(torch.float64).flatten(), lp.to(torch.float64).flatten()])
    vals, inv, counts = torch.unique(allv, sorted=True, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    midrank = ends - (counts.to(torch.float64) - 1.0) / 2.0  # 1-based average rank of each value
    r1 = float(midrank[inv[:m]].sum())
    u = r1 - m * (m + 1) / 2.0
    mean = n * m / 2.0 - 0.5
    std = math.sqrt(n * m * (n + m + 1) / 12.0)
    return (u - mean) / std


def c_t_statistic(
    train: torch.Tensor,
    test: torch.Tensor,
    fake: torch.Tensor,
    train_cells: torch.Tensor,
    test_cells: torch.Tensor,
    fake_cells: torch.Tensor,
    *,
    tau: Optional[float] = None,
    block_size: Optional[int] = None,
) -> float:
    """C_T from given cell labels (step 3-4 of the module docstring), exactly.

    Args:
        train (Tensor[l, D]), test (Tensor[n, D]), fake (Tensor[m, D]): features on one device.
        train_cells, test_cells, fake_cells (Tensor[l], Tensor[n], Tensor[m]): integer cell
            labels ``0..K-1``.
        tau: fraction of the generated samples a cell needs to count (default ``20 / m``).
        block_size: rows per distance tile.

    Returns:
        float.

    Raises:
        ValueError: a cell of the test labels lacks test or training samples (the reference's
            error), or no cell holds more than ``tau`` of the generated samples.

    Matches: casey-meehan/data-copying as vendored by dgm-eval ``dgm_eval/metrics/ct.py``
    (``C_T``, ``Zu_cells``, ``Zu``): Euclidean 1-NN distances to the cell's training samples,
    ``scipy.stats.mannwhitneyu(LQm, LPn, alternative="less")`` statistic, the ``- 0.5``
    continuity term, cells with ``Q_m(pi) > tau`` weighted by ``P_n(pi)``; a cell with no
    generated sample scores 0.
    """
    m, n = int(fake.shape[0]), int(test.shape[0])
    tau = 20.0 / m if tau is None else float(tau)
    k = int(max(int(train_cells.max()), int(test_cells.max()), int(fake_cells.max()))) + 1
    q_frac = torch.bincount(fake_cells, minlength=k).to(torch.float64) / m
    p_frac = torch.bincount(test_cells, minlength=k).to(torch.float64) / n
    keep = q_frac > tau
    n_cells = int(torch.unique(test_cells).numel())  # the reference loops over range(#test labels)
    z = torch.zeros(k, dtype=torch.float64)
    for c in range(n_cells):
        tp, tq, tt = test[test_cells == c], fake[fake_cells == c], train[train_cells == c]
        if tp.shape[0] == 0 or tt.shape[0] == 0:
            raise ValueError(f"cell {c} lacks test and/or training samples; use fewer cells (cells=) for C_T")
        if tq.shape[0] == 0:
            continue
        lp = nearest_neighbor(tp, tt, block_size=block_size)[0].sqrt()
        lq = nearest_neighbor(tq, tt, block_size=block_size)[0].sqrt()
        z[c] = mann_whitney_z(lq, lp)
    keep = keep.cpu()
    if not bool(keep.any()):
        raise ValueError(f"no cell holds more than tau={tau:g} of the generated samples; C_T is undefined")
    w = p_frac.cpu()[keep]
    return float((w * z[keep]).sum() / w.sum())


def pca_project(
    train: torch.Tensor, others: list[torch.Tensor], dim: int
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Project on the top ``dim`` principal axes of ``train`` (float64 covariance, ``eigh``).

    Distances after the projection depend only on the spanned subspace, so they equal those of
    scikit-learn's ``PCA(n_components=dim).fit(train).transform`` (its axes differ only in sign).
    Returns float64 projections of ``train`` and of each of ``others``.
    """
    x = train.to(torch.float64)
    mu = x.mean(0)
    xc = x - mu
    cov = xc.T @ xc
    _, vecs = torch.linalg.eigh(cov)
    v = vecs[:, -dim:].flip(1)
    return xc @ v, [(o.to(torch.float64) - mu) @ v for o in others]


def _nearest_center(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d2 = (
        (x.unsqueeze(1) - centers.unsqueeze(0)).square().sum(2)
        if x.shape[0] * centers.shape[0] < 1 << 16
        else (torch.cdist(x, centers).square())
    )
    best, lab = d2.min(1)
    return lab, best


def kmeans_cells(
    x: torch.Tensor,
    cells: int,
    *,
    n_init: int = 10,
    max_iter: int = 300,
    seed: int = 0,
) -> torch.Tensor:
    """k-means centres (Tensor[cells, D] float64): k-means++ seeding and Lloyd iterations, the best
    of ``n_init`` runs by inertia (scikit-learn ``KMeans(n_clusters=cells, n_init=n_init)``'s
    estimator; its random draws differ). Seeded by ``seed`` (a CPU ``torch.Generator``)."""
    x = x.to(torch.float64)
    n = x.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    best_c, best_inertia = None, math.inf
    for _ in range(n_init):
        first = int(torch.randint(n, (1,), generator=gen))
        centers = [x[first]]
        d2 = (x - x[first]).square().sum(1)
        for _c in range(1, cells):
            p = (
                d2.cpu() / float(d2.sum())
                if float(d2.sum()) > 0
                else torch.full((n,), 1.0 / n, dtype=torch.float64)
            )
            j = int(torch.multinomial(p, 1, generator=gen))
            centers.append(x[j])
            d2 = torch.minimum(d2, (x - x[j]).square().sum(1))
        c = torch.stack(centers)
        for _it in range(max_iter):
            lab, _ = _nearest_center(x, c)
            sums = torch.zeros_like(c).index_add_(0, lab, x)
            cnt = torch.bincount(lab, minlength=cells).to(torch.float64).unsqueeze(1)
            new = torch.where(cnt > 0, sums / cnt.clamp_min(1), c)
            moved = float((new - c).abs().max())
            c = new
            if moved == 0.0:
                break
        inertia = float(_nearest_center(x, c)[1].sum())
        if inertia < best_inertia:
            best_c, best_inertia = c, inertia
    assert best_c is not None
    return best_c


def ct_score(
    train: Any,
    test: Any,
    fake: Any,
    *,
    cells: int = 3,
    pca_dim: int = 64,
    n_init: int = 10,
    tau: Optional[float] = None,
    seed: int = 0,
    block_size: Optional[int] = None,
) -> float:
    """The C_T data-copying statistic (Meehan et al. 2020) of generated features.

    Args:
        train (Tensor[l, D] | ndarray): TRAINING features (``real`` of :func:`fastgan.evaluate`).
        test (Tensor[n, D] | ndarray): held-out real features, same D and device.
        fake (Tensor[m, D] | ndarray): generated features.
        cells: number of k-means cells (reference: 3).
        pca_dim: principal components kept when ``D > pca_dim`` (reference: 64).
        n_init: k-means restarts (reference: 10).
        tau: cell threshold on the fraction of generated samples (default ``20 / m``).
        seed: seed of the k-means draws.
        block_size: rows per distance tile.

    Returns:
        float: ``C_T`` (< 0: data-copying; > 0: underfitting; about 0 for a model that neither copies nor underfits).

    Matches: dgm-eval ``dgm_eval/metrics/ct.py`` ``compute_CTscore`` (PCA to 64 components fit on
    the training set when D > 64, ``KMeans(n_clusters=3, n_init=10)`` fit on the training set,
    ``tau = 20 / m``); the statistic as :func:`c_t_statistic`.

    >>> g = torch.Generator().manual_seed(0)
    >>> t = torch.randn(300, 2, generator=g, dtype=torch.float64)
    >>> copied = t[:100] + 1e-3
    >>> ct_score(t, torch.randn(100, 2, generator=g, dtype=torch.float64), copied) < -3
    True
    """
    t = check_features(train, "train", min_rows=2)
    p = check_features(test, "test")
    q = check_features(fake, "fake")
    for a, name in ((p, "test"), (q, "fake")):
        check_same_dim(t, a, "train", name)
    check_same_device([t, p, q], ["train", "test", "fake"])
    cells = check_positive_int(cells, "cells")
    pca_dim = check_positive_int(pca_dim, "pca_dim")
    n_init = check_positive_int(n_init, "n_init")
    if cells > t.shape[0]:
        raise ValueError(f"cells: {cells} cells need at least as many training samples, got {t.shape[0]}")
    t, p, q = t.detach(), p.detach(), q.detach()
    with torch.no_grad():
        if t.shape[1] > pca_dim:
            t, (p, q) = pca_project(t, [p, q], pca_dim)
        centers = kmeans_cells(t, cells, n_init=n_init, seed=seed)
        labels = [_nearest_center(a.to(torch.float64), centers)[0] for a in (t, p, q)]
        return c_t_statistic(t, p, q, *labels, tau=tau, block_size=block_size)


class CTScore(TestSetMetric):
    """Stateful C_T: banks of training (``real=True``), generated and held-out test features.

    Args: ``test`` (the held-out real features; or :meth:`update_test`) and the keywords of
    :func:`ct_score`.

    >>> g = torch.Generator().manual_seed(0)
    >>> m = CTScore(test=torch.randn(100, 2, generator=g, dtype=torch.float64))
    >>> t = torch.randn(300, 2, generator=g, dtype=torch.float64)
    >>> m.update(t, real=True)
    >>> m.update(t[:100] + 1e-3, real=False)
    >>> m.compute() < -3
    True
    """

    metric_name = "ct"

    def __init__(
        self,
        *,
        test: Any = None,
        cells: int = 3,
        pca_dim: int = 64,
        n_init: int = 10,
        tau: Optional[float] = None,
        seed: int = 0,
        block_size: Optional[int] = None,
    ) -> None:
        super().__init__(test=test)
        self.kw: dict[str, Any] = {
            "cells": cells,
            "pca_dim": pca_dim,
            "n_init": n_init,
            "tau": tau,
            "seed": seed,
            "block_size": block_size,
        }

    def compute(self) -> float:
        """C_T of the banks."""
        x = self._bank(real=True)
        return ct_score(x, self._test_bank().to(x.device), self._bank(real=False).to(x.device), **self.kw)
