"""Batched symmetric eigenvalues through a tridiagonal form, for GPUs and medium n.

``torch.linalg.eigvalsh`` on a CUDA batch of medium matrices (n in the hundreds) solves them
one after another. Eigenvalues alone need far less: an orthogonal similarity to tridiagonal
form (Householder reflections, applied to the whole batch at once with batched torch ops),
then every eigenvalue of every tridiagonal matrix independently by Sturm-sequence bisection
(``fastgan._C``, one CUDA thread per eigenvalue; ``csrc/tridiag/tridiag.h``).

* :func:`householder_tridiagonal` -- pure torch, float64, any device (Golub & Van Loan,
  *Matrix Computations*, 4th ed., Algorithm 8.3.1).
* :func:`tridiagonal_eigvalsh` -- the bisection kernel, or ``torch.linalg.eigvalsh`` of the
  dense tridiagonal matrix with ``impl="torch"`` (the test oracle).
* :func:`eigvalsh_batched` -- the two together: the eigenvalues of ``torch.linalg.eigvalsh``,
  ascending, to the same backward-stable accuracy (about ``n * eps * ||M||`` absolute).
"""

from __future__ import annotations

import torch

from fastgan import _dispatch, _ext

__all__ = ["householder_tridiagonal", "tridiagonal_eigvalsh", "eigvalsh_batched"]

OP_NAME = "tridiagonal_eigvalsh"


def householder_tridiagonal(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tridiagonal form ``Q^T M Q = T`` of batched symmetric ``M`` (only the lower triangle is read).

    Args:
        m (Tensor[B, n, n]): symmetric, float64 (other float dtypes are converted).

    Returns:
        (d Tensor[B, n], e Tensor[B, n - 1]) float64: the diagonal and the sub-diagonal of ``T``,
        which has the eigenvalues of ``M``. ``n - 2`` reflections, each a batched matrix-vector
        product and a rank-2 update of the trailing block.
    """
    if m.dim() != 3 or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"m: expected a batch of square matrices (B, n, n), got shape {tuple(m.shape)}")
    a = m.to(torch.float64).tril()
    a = a + a.tril(-1).transpose(-1, -2)  # symmetric from the lower triangle, a fresh buffer
    bsz, n = a.shape[0], a.shape[-1]
    e = torch.empty(bsz, max(n - 1, 0), dtype=torch.float64, device=a.device)
    for k in range(n - 2):
        x = a[:, k + 1 :, k]  # [B, m] the column below the diagonal
        x0 = x[:, 0]
        norm = torch.linalg.vector_norm(x, dim=-1)
        alpha = torch.where(x0 >= 0, -norm, norm)  # reflect onto -sign(x0) ||x|| e1 (no cancellation)
        v = x.clone()
        v[:, 0] = x0 - alpha
        vnorm2 = (v * v).sum(-1)
        # x already a multiple of e1 (vnorm2 == 0): no reflection, T keeps x0
        tau = torch.where(vnorm2 > 0, 2.0 / torch.where(vnorm2 > 0, vnorm2, 1.0), 0.0)
        e[:, k] = torch.where(vnorm2 > 0, alpha, x0)
        s = a[:, k + 1 :, k + 1 :]
        p = torch.bmm(s, v.unsqueeze(-1)).squeeze(-1) * tau[:, None]  # tau S v
        kk = 0.5 * tau * (p * v).sum(-1)
        w = p - kk[:, None] * v  # S <- S - v w^T - w v^T  ==  H S H
        vw = torch.stack((v, w), dim=-1)
        wv = torch.stack((w, v), dim=-1)
        s.baddbmm_(vw, wv.transpose(-1, -2), alpha=-1.0)
    if n >= 2:
        e[:, n - 2] = a[:, n - 1, n - 2]
    d = torch.diagonal(a, dim1=-2, dim2=-1).contiguous()
    return d, e


def tridiagonal_eigvalsh(d: torch.Tensor, e: torch.Tensor, *, impl: str = "auto") -> torch.Tensor:
    """Ascending eigenvalues of batched symmetric tridiagonal matrices.

    Args:
        d (Tensor[B, n]): diagonals; e (Tensor[B, n - 1]): off-diagonals (float64 after conversion,
            same device).
        impl: ``"auto"`` | ``"ext"`` (Sturm bisection in ``fastgan._C``) | ``"torch"``
            (``torch.linalg.eigvalsh`` of the dense matrix).

    Returns:
        Tensor[B, n] float64, each eigenvalue to an absolute accuracy of about
        ``2 eps max|lambda|`` (bisection; Barth, Martin & Wilkinson 1967).
    """
    if d.dim() != 2 or e.dim() != 2 or e.shape[0] != d.shape[0] or e.shape[1] != max(d.shape[1] - 1, 0):
        raise ValueError(
            f"d, e: expected shapes (B, n) and (B, n - 1), got {tuple(d.shape)} and {tuple(e.shape)}"
        )
    if d.device != e.device:
        raise ValueError(f"d and e are on different devices ({d.device} vs {e.device})")
    bsz, n = d.shape
    d64 = d.to(torch.float64).contiguous()
    e64 = e.to(torch.float64)
    if n == 0 or bsz == 0:
        return d64.clone()
    if not _dispatch.use_extension(OP_NAME, impl, d64, e64, dtypes=(torch.float64,), deterministic_cuda=True):
        t = torch.diag_embed(d64) + torch.diag_embed(e64, -1) + torch.diag_embed(e64, 1)
        return torch.linalg.eigvalsh(t)
    c = _ext.assert_has_ext(OP_NAME)
    e2 = (e64 * e64).contiguous()
    out = torch.empty_like(d64)
    args = (d64.data_ptr(), e2.data_ptr(), out.data_ptr(), bsz, n, d64.numel(), e2.numel(), out.numel())
    if d64.device.type == "cuda":
        c.tridiagonal_eigvalsh_cuda(*args, _ext.device_index(d64), _ext.stream_handle(d64))
    else:
        c.tridiagonal_eigvalsh_cpu(*args, _ext.num_threads())
    return out


def eigvalsh_batched(m: torch.Tensor, *, impl: str = "auto") -> torch.Tensor:
    """Eigenvalues of batched symmetric ``M`` (Tensor[..., n, n], lower triangle read) -> Tensor[..., n]
    float64, ascending: :func:`householder_tridiagonal` then :func:`tridiagonal_eigvalsh`."""
    n = m.shape[-1]
    flat = m.reshape(-1, n, n)
    d, e = householder_tridiagonal(flat)
    return tridiagonal_eigvalsh(d, e, impl=impl).reshape(m.shape[:-1])
