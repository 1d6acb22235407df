"""KID's rounds on the CPU through numpy's BLAS (``method="subsets"``).

Per round, ``a = X[rows]`` and ``b = Y[rows]`` (m x D, the rows gathered in memory order) give
three kernel blocks:

* ``a @ a.T`` and ``b @ b.T``: numpy's ``matmul`` runs a product of a matrix with its own
  transpose as one ``?syrk`` (then mirrors the triangle), half the multiply-adds of a GEMM
  (scipy's ``?syrk`` wrapper would skip the mirror but holds the GIL: the rounds' threads would
  run one at a time);
* ``a @ b.T``: one ``?gemm``.

That is 2 m^2 D multiply-adds per round, the floor for this estimator (the reference packages
reach the same routines through the same numpy call). Each block is then reduced in one pass by
:func:`fastgan.linalg.kernel_row_sums` (a symmetric block over its strict lower triangle): every
entry widened to float64, ``(gamma s + coef0) ** degree`` and the sums in float64, so no float32
sum of many terms enters the result; ~0.2 ms per 1000 x 1000 block against ~1.8 ms for the
numpy passes. Without the compiled extension: numpy's ``matmul`` for the
three blocks, the kernel applied in place in the block's dtype, the sums in float64
(:func:`_block_sum`).

Rounds are independent: on ``threads > 1`` they run on a thread pool with the BLAS limited to
one thread per call (``threadpoolctl``; numpy releases the GIL inside ``matmul``), which keeps
every core busy on a whole GEMM instead of splitting each 1000 x 1000 product across cores and
waiting at its end. Without ``threadpoolctl`` the rounds run one after another on the BLAS's own
threads. Both orders give the same numbers: each entry is one dot product computed by one thread.

Why numpy's BLAS and not torch's: on CPUs where torch's BLAS (MKL) takes a slower code path than
numpy's OpenBLAS (measured on an AMD EPYC: ``bench/bench_kid_cpu.py``) this is up to twice as
fast, and torch has no ``syrk``. ``FASTGAN_KID_CPU=torch`` selects the torch path of
:mod:`fastgan.metrics.kernel_distance` instead (batched symmetric block GEMMs).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Optional

import numpy as np
import torch

from fastgan.linalg import kernel_row_sums
from fastgan.linalg.kernel_sum import has_native

__all__ = ["cpu_path", "mmd2_rounds_numpy"]

_CHOICES = ("numpy", "torch")


def cpu_path() -> str:
    """The CPU path of KID's ``"subsets"`` method: ``FASTGAN_KID_CPU`` (``numpy`` default, or ``torch``)."""
    value = os.environ.get("FASTGAN_KID_CPU", "numpy").strip().lower() or "numpy"
    if value not in _CHOICES:
        raise ValueError(f"FASTGAN_KID_CPU must be one of {_CHOICES}, got {value!r}")
    return value


def _blas_one_thread() -> Any:
    """A context limiting the BLAS thread pools to one thread (None when threadpoolctl is missing)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    return threadpool_limits(limits=1, user_api="blas")


def _block_sum(k: np.ndarray, gamma: float, coef0: float, degree: int, offdiag: bool) -> float:
    """sum of ``(gamma k + coef0) ** degree`` over the block (``offdiag``: without the diagonal),
    in place, accumulated in float64."""
    k *= k.dtype.type(gamma)
    k += k.dtype.type(coef0)
    if degree != 1:
        np.power(k, degree, out=k)
    total = float(np.add.reduce(k, axis=None, dtype=np.float64))
    if offdiag:
        total -= float(np.trace(k, dtype=np.float64))
    return total


class _Round:
    """Buffers of one worker: the gathered rows and one kernel block.

    With the native row sums (:func:`fastgan.linalg.kernel_row_sums`) each block is reduced in
    one float64 pass over its entries (a symmetric block over its strict lower triangle);
    without them, :func:`_block_sum`.
    """

    def __init__(self, m: int, d: int, dtype: np.dtype, native: bool) -> None:
        self.a = np.empty((m, d), dtype=dtype)
        self.b = np.empty((m, d), dtype=dtype)
        self.k = np.empty((m, m), dtype=dtype)
        self.native = native

    def _sum(self, k: np.ndarray, gamma: float, coef0: float, degree: int, symmetric: bool) -> float:
        if not self.native:
            return _block_sum(k, gamma, coef0, degree, offdiag=symmetric)
        region = "lower" if symmetric else "full"
        rows = kernel_row_sums(torch.from_numpy(k), gamma, coef0, degree, region, impl="ext", threads=1)
        return (2.0 if symmetric else 1.0) * float(rows.sum())

    def __call__(
        self,
        xn: np.ndarray,
        yn: np.ndarray,
        ir: np.ndarray,
        jf: np.ndarray,
        gamma: float,
        coef0: float,
        degree: int,
    ) -> float:
        m = ir.shape[0]
        a, b, k = self.a, self.b, self.k
        # sorted rows: the same set (a block's sum runs over all its pairs), read in memory order
        np.take(xn, np.sort(ir), axis=0, out=a)
        np.take(yn, np.sort(jf), axis=0, out=b)
        sxx = self._sum(np.matmul(a, a.T, out=k), gamma, coef0, degree, True)  # syrk
        syy = self._sum(np.matmul(b, b.T, out=k), gamma, coef0, degree, True)  # syrk
        sxy = self._sum(np.matmul(a, b.T, out=k), gamma, coef0, degree, False)  # gemm
        return (sxx + syy) / (m * (m - 1)) - 2.0 * sxy / (m * m)


def mmd2_rounds_numpy(
    x: torch.Tensor,
    y: torch.Tensor,
    idx_r: torch.Tensor,
    idx_f: torch.Tensor,
    degree: int,
    gamma: float,
    coef0: float,
    threads: Optional[int] = None,
) -> torch.Tensor:
    """MMD_u^2 of every round (Tensor[S] float64) from CPU features in the compute dtype.

    Args:
        x (Tensor[N_x, D]), y (Tensor[N_y, D]): CPU, float32 or float64 (the GEMM dtype).
        idx_r, idx_f (Tensor[S, m] int64): each round's rows of x and of y.
        degree, gamma, coef0: the polynomial kernel.
        threads: rounds run at once (None: ``torch.get_num_threads()``).
    """
    xn, yn = x.numpy(), y.numpy()
    ir_all, jf_all = idx_r.cpu().numpy(), idx_f.cpu().numpy()
    s, m = ir_all.shape
    workers = max(1, min(s, torch.get_num_threads() if threads is None else int(threads)))
    limit = _blas_one_thread() if workers > 1 else None
    if limit is None:
        workers = 1
    out = np.empty(s, dtype=np.float64)
    native = has_native("cpu") and xn.dtype in (np.float32, np.float64)
    local = threading.local()  # one buffer set per worker thread

    def run(r: int) -> None:
        if not hasattr(local, "buffers"):
            local.buffers = _Round(m, xn.shape[1], xn.dtype, native)
        out[r] = local.buffers(xn, yn, ir_all[r], jf_all[r], gamma, coef0, degree)

    with limit if limit is not None else nullcontext():
        if workers == 1:
            for r in range(s):
                run(r)
        else:  # rounds handed out one at a time: a worker slowed by other load takes fewer
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastgan-kid") as pool:
                list(pool.map(run, range(s)))
    return torch.from_numpy(out)
