"""Linear algebra for symmetric positive semi-definite matrices (the FID trace term).

* :func:`sqrtm_sym` -- principal square root, batched ``(..., n, n)``, differentiable.
* :func:`trace_sqrt_product` -- ``tr sqrt(A^1/2 B A^1/2)``, batched, differentiable.
* :func:`trace_sqrt_psd` -- ``tr sqrt(M)``, batched, differentiable.
* :class:`NotPSDWarning` -- clamped negative eigenvalues beyond rounding (input not PSD?).
* :func:`kernel_row_sums` -- row sums of a polynomial kernel over a Gram block in float64
  (KID's reduction; :mod:`fastgan.linalg.kernel_sum`).
"""

from fastgan.linalg._ref import NotPSDWarning
from fastgan.linalg.kernel_sum import kernel_row_sums
from fastgan.linalg.sqrtm import CUDA_MAX_N, sqrtm_sym, trace_sqrt_product, trace_sqrt_psd

__all__ = [
    "CUDA_MAX_N",
    "NotPSDWarning",
    "kernel_row_sums",
    "sqrtm_sym",
    "trace_sqrt_product",
    "trace_sqrt_psd",
]
