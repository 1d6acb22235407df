"""Vendi Score: the effective number of distinct samples of one set (Friedman & Dieng, 2023).

For samples ``x_1..x_n``, a positive semi-definite kernel ``k`` with ``k(x, x) = 1`` and
``K_ij = k(x_i, x_j)``, let ``lambda_1..lambda_n`` be the eigenvalues of ``K / n`` (they sum
to 1). The Vendi Score of order ``q`` is the exponential of their Renyi entropy::

    VS_q = exp( log(sum_i lambda_i^q) / (1 - q) ),   VS_1 = exp(-sum_i lambda_i log lambda_i),
    VS_inf = 1 / max_i lambda_i,

over the positive eigenvalues (``0 log 0 = 0``). ``q = 1`` (the default) is the Shannon case
of the paper; ``VS`` ranges from 1 (all samples identical) to ``n`` (all orthogonal).

Default kernel: cosine similarity of feature rows (``K = X_hat X_hat^T`` with unit-norm rows;
rows of norm 0 stay 0, like ``sklearn.preprocessing.normalize``). For such a linear kernel
the non-zero eigenvalues of ``K / n`` equal those of the ``D x D`` matrix
``X_hat^T X_hat / n``, so with ``n > D`` the score is computed exactly in that dual form
(float64 accumulation of ``X^T X`` over row chunks, then ``torch.linalg.eigvalsh``):
memory ``O(D^2)`` instead of ``O(n^2)``. Any other kernel (a callable) builds ``K``.

Matches: ``vendi-score`` (``vendi_score.vendi``): ``score_K`` (eigenvalues of ``K / n``,
``p > 0`` kept, ``q = "inf"`` as ``-log max p``), ``score`` with a sample kernel,
``score_dual`` / ``score_X`` with ``normalize=True`` for the cosine kernel (note:
``score_X`` always uses ``q = 1``; this module honours ``q`` in every form).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Union

import torch

from fastgan._checks import as_float_tensor, check_features, check_finite, check_ndim
from fastgan.linalg.reference import sym_eigvalsh
from fastgan.metrics._base import BankMetric
from fastgan.metrics._stats import mirror_upper_, scatter_update

__all__ = ["KEY_VENDI", "Vendi", "vendi", "vendi_from_kernel", "vendi_from_eigenvalues"]

#: Result key of :func:`vendi`.
KEY_VENDI = "vendi"

Order = Union[float, int, str]
Kernel = Union[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
_EPS64 = float(torch.finfo(torch.float64).eps)
_CHUNK_ELEMS = 1 << 24  # float64 elements per row chunk of the dual accumulation (128 MiB)


def _check_q(q: Any) -> float:
    if isinstance(q, str):
        if q.lower() in ("inf", "infinity"):
            return math.inf
        raise ValueError(f"q: expected a number >= 0 or 'inf', got {q!r}")
    if isinstance(q, bool):
        raise TypeError("q: expected a number >= 0 or 'inf', got bool")
    try:
        v = float(q)
    except (TypeError, ValueError):
        raise TypeError(f"q: expected a number >= 0 or 'inf', got {type(q).__name__}") from None
    if math.isnan(v) or v < 0:
        raise ValueError(f"q: must be >= 0 (or 'inf'), got {q!r}")
    return v


def vendi_from_eigenvalues(eigenvalues: Any, q: Order = 1.0, *, rtol: Optional[float] = None) -> float:
    """Vendi Score of order ``q`` from the eigenvalues of ``K / n``.

    Args:
        eigenvalues (Tensor[n]): eigenvalues of the normalised kernel. Non-positive ones are
            ignored as in the reference, and so are those at most ``rtol * max`` (the rounding
            noise of the zero eigenvalues of a rank-deficient ``K``, which would otherwise
            count for ``q < 1``).
        q: order ``>= 0``, or ``"inf"`` / ``math.inf``.
        rtol: relative cut-off; default ``n * eps(float64)`` (the rounding level of ``eigvalsh``).

    Returns:
        float.
    """
    qq = _check_q(q)
    w = torch.as_tensor(eigenvalues).to(torch.float64).reshape(-1)
    if w.numel() == 0:
        raise ValueError("eigenvalues: empty")
    cut = (w.numel() * _EPS64 if rtol is None else float(rtol)) * float(w.max().clamp_min(0))
    p = w[w > cut]
    if p.numel() == 0:
        raise ValueError("eigenvalues: no positive eigenvalue (the kernel matrix is zero)")
    if qq == 1.0:
        h = -(p * p.log()).sum()
    elif math.isinf(qq):
        h = -w.max().log()
    else:
        h = p.pow(qq).sum().log() / (1.0 - qq)
    return float(h.exp())


def vendi_from_kernel(K: Any, q: Order = 1.0, *, normalize: bool = False) -> float:
    """Vendi Score from a kernel matrix (``score_K`` of the reference).

    Args:
        K (Tensor[n, n]): symmetric positive semi-definite kernel matrix, ``K_ii = 1``
            (or use ``normalize=True``: ``K_ij / sqrt(K_ii K_jj)``).
        q: order (see :func:`vendi`).
        normalize: rescale ``K`` to a unit diagonal first.

    Returns:
        float.

    Matches: ``vendi_score.vendi.score_K``.

    >>> round(vendi_from_kernel(torch.eye(3)), 12)
    3.0
    """
    if isinstance(K, (list, tuple)):  # nested lists: read as float64, not torch's default float32
        K = torch.as_tensor(K, dtype=torch.float64)
    k = as_float_tensor(K, "K").to(torch.float64)
    check_ndim(k, "K", 2, "[n, n]")
    if k.shape[0] != k.shape[1] or k.shape[0] < 1:
        raise ValueError(f"K: expected a non-empty square matrix [n, n], got shape {tuple(k.shape)}")
    check_finite(k, "K")
    if normalize:
        dg = torch.diagonal(k)
        if bool((dg <= 0).any()):
            raise ValueError("K: normalize=True needs a positive diagonal")
        s = dg.sqrt()
        k = k / (s.unsqueeze(1) * s.unsqueeze(0))
    w = torch.linalg.eigvalsh(k / k.shape[0])
    return vendi_from_eigenvalues(w, q)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    norm = x.norm(dim=1, keepdim=True)
    return x / torch.where(norm > 0, norm, torch.ones_like(norm))


def _gram_dual(x: torch.Tensor, normalize: bool) -> torch.Tensor:
    """``X_hat^T X_hat`` (Tensor[D, D] float64), accumulated over row chunks.

    One symmetric rank-k update per chunk (BLAS ``dsyrk`` on the CPU: half the flops of a GEMM),
    the upper triangle mirrored at the end.
    """
    n, d = x.shape
    out = torch.zeros(d, d, dtype=torch.float64, device=x.device)
    rows = max(1, _CHUNK_ELEMS // max(1, d))
    for s in range(0, n, rows):
        c = x[s : s + rows].to(torch.float64)
        if normalize:
            c = _unit_rows(c)
        scatter_update(out, c.contiguous())
    return mirror_upper_(out)


def vendi(
    features: Any,
    *,
    q: Order = 1.0,
    kernel: Kernel = "cosine",
    dual: Optional[bool] = None,
) -> float:
    """Vendi Score of one set of samples.

    Args:
        features (Tensor[n, D] | ndarray): one set of features (e.g. generated samples).
        q: order of the Renyi entropy, ``>= 0`` or ``"inf"`` (default 1: Shannon, the paper's).
        kernel: ``"cosine"`` (default: cosine similarity of rows), ``"linear"`` (``x . y``,
            rows used as given: the caller is responsible for ``k(x, x) = 1``), or a callable
            ``kernel(a, b) -> Tensor[n_a, n_b]`` evaluated on all pairs (builds ``n x n``).
        dual: for ``"cosine"`` / ``"linear"``: compute from the ``D x D`` matrix
            ``X^T X / n`` (True), from ``K / n`` (False), or choose the smaller (None).
            Both are exact (float64, ``eigvalsh``).

    Returns:
        float in ``[1, n]`` (for a kernel with unit diagonal).

    Matches: ``vendi-score`` ``score_dual`` / ``score_K`` / ``score`` (module docstring).

    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> round(vendi(x), 12)
    2.0
    """
    x = check_features(features, "features").detach()
    qq = _check_q(q)
    n, d = x.shape
    if callable(kernel):
        k = kernel(x, x)
        k = as_float_tensor(k, "kernel(features, features)").to(torch.float64)
        if tuple(k.shape) != (n, n):
            raise ValueError(
                f"kernel: expected a [{n}, {n}] matrix for {n} samples, got shape {tuple(k.shape)}"
            )
        return vendi_from_kernel(k, qq)
    if kernel not in ("cosine", "linear"):
        raise ValueError(f"kernel: must be 'cosine', 'linear' or a callable, got {kernel!r}")
    normalize = kernel == "cosine"
    use_dual = (n > d) if dual is None else bool(dual)
    with torch.no_grad():
        if use_dual:
            w = sym_eigvalsh(_gram_dual(x, normalize).div_(n))
        else:
            xs = x.to(torch.float64)
            if normalize:
                xs = _unit_rows(xs)
            k = xs @ xs.T / n
            w = sym_eigvalsh(0.5 * (k + k.T))
    return vendi_from_eigenvalues(w, qq)


class Vendi(BankMetric):
    """Stateful Vendi Score (the :class:`~fastgan.metrics.Metric` protocol).

    Vendi measures one set; the class keeps both banks so it can sit beside the two-set
    metrics: ``update(features)`` adds to the fake (generated) bank by default and
    ``compute()`` scores it; ``compute(real=True)`` scores the real bank.

    Args: as :func:`vendi` (``q``, ``kernel``, ``dual``).

    >>> m = Vendi()
    >>> m.update(torch.eye(3))
    >>> round(m.compute(), 12)
    3.0
    """

    def __init__(self, *, q: Order = 1.0, kernel: Kernel = "cosine", dual: Optional[bool] = None) -> None:
        super().__init__()
        self.q = _check_q(q)
        self.kernel = kernel
        self.dual = dual

    def update(self, features: Any, *, real: bool = False) -> None:
        """Append a batch (Tensor[B, D]) to the fake bank (default) or the real bank."""
        super().update(features, real=real)

    def compute(self, real: bool = False) -> float:
        """Vendi Score of the fake bank (or of the real bank with ``real=True``)."""
        return vendi(self._bank(real=real), q=self.q, kernel=self.kernel, dual=self.dual)
