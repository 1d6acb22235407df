"""The LAPACK route of ``tr sqrt(A^1/2 B A^1/2)`` for one CPU float64 pair (scipy's BLAS and LAPACK).

scipy.linalg is imported with this module, not on the first call: its import is a large part
of a one-off Frechet distance's start-up otherwise.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from scipy.linalg import blas, eigh, lapack

_EPS64 = float(torch.finfo(torch.float64).eps)


#: Below this size the torch route is as fast as the LAPACK one and has no conversion cost.
LAPACK_MIN_N = 128


def _lapack_cholesky(a: torch.Tensor) -> Optional[np.ndarray]:
    """Upper Cholesky factor ``U`` (``a = U^T U``) of CPU float64 ``a`` (Tensor[n, n], symmetric) as
    LAPACK returns it (Fortran-ordered, lower part zeroed), or None when it fails or a pivot is at
    rounding level (the criterion of :func:`fastgan.linalg._ref.chol_ok`). Reads one triangle of
    ``a``; its transposed view needs no copy."""
    n = a.shape[-1]
    view = a.numpy().T  # Fortran-ordered; equals a for symmetric input
    upper, info = lapack.dpotrf(view, lower=0, clean=1, overwrite_a=0)
    if info != 0:
        return None
    piv = np.diagonal(upper) ** 2
    scale = max(float(np.abs(np.diagonal(view)).max()), float(torch.finfo(torch.float64).tiny))
    if not np.isfinite(piv).all() or float(piv.min()) <= 10.0 * n * _EPS64 * scale:
        return None
    return upper


def lapack_trace_sqrt(a: torch.Tensor, b: torch.Tensor) -> Optional[torch.Tensor]:
    """Eigenvalues of ``A^1/2 B A^1/2`` for one well-conditioned CPU float64 pair (Tensor[n, n] each).

    With ``A = La La^T`` and ``B = Lb Lb^T`` (LAPACK ``potrf``, ``L = U^T``), ``La^T B La = C C^T``
    for ``C = La^T Lb``, whose eigenvalues are those of ``C^T C`` with ``C^T = Ub Ua^T``: one
    triangular product (``trmm``, n^3 flops, on the factors as LAPACK stores them) and one rank-k
    update (``syrk``, n^3 flops) instead of two dense products (4 n^3), then ``syevd``
    (eigenvalues only). Returns None when a factor is singular at rounding level (the caller's
    torch route handles that exactly).
    """
    ua = _lapack_cholesky(a)
    ub = _lapack_cholesky(b) if ua is not None else None
    if ua is None or ub is None:
        return None
    ct = blas.dtrmm(1.0, ua, ub, side=1, lower=0, trans_a=1, overwrite_b=1)  # Ub Ua^T = C^T
    m = blas.dsyrk(1.0, ct, trans=1, lower=0)  # (C^T)^T C^T = C C^T, upper triangle
    lam = eigh(m, lower=False, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False)
    return torch.from_numpy(lam)


def lapack_eigvalsh(m: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (ascending) of one symmetric CPU float64 matrix (Tensor[n, n]), LAPACK ``syevd``
    without vectors (reads the upper triangle of the Fortran view, i.e. the lower one of ``m``;
    the same for symmetric input). scipy's default driver (``syevr``) is several times slower
    here, and so is an SVD (bidiagonalisation is BLAS2-bound)."""
    view = m.numpy().T
    return torch.from_numpy(eigh(view, lower=False, eigvals_only=True, driver="evd", check_finite=False))


def lapack_eigh(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and orthonormal eigenvectors (columns) of one symmetric CPU float64
    matrix (Tensor[n, n]), LAPACK ``syevd`` (divide and conquer; about half the time of
    ``torch.linalg.eigh`` at n = 2000)."""
    view = m.numpy().T
    w, v = eigh(view, lower=False, driver="evd", check_finite=False)
    return torch.from_numpy(w), torch.from_numpy(np.ascontiguousarray(v))


def lapack_eigh_smallest(m: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest eigenvalues and their eigenvectors (Tensor[n, k]) of one symmetric CPU
    float64 matrix (LAPACK ``syevx``: one tridiagonalisation, inverse iteration for the ``k``
    vectors, their back-transformation; far less than all vectors for ``k << n``)."""
    view = m.numpy().T
    w, v = eigh(view, lower=False, subset_by_index=[0, k - 1], driver="evx", check_finite=False)
    return torch.from_numpy(w), torch.from_numpy(np.ascontiguousarray(v))
