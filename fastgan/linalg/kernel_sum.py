"""Row sums of a polynomial kernel over a Gram block: KID's reduction after its GEMMs.

For a block ``S`` (Tensor[R, C]) of inner products,

    out[i] = sum over the row's region of (gamma * S[i, j] + coef0) ** degree

with every term and sum in float64 (a float32 block is widened element by element), so no
float32 sum of many terms enters an unbiased MMD estimate (Binkowski et al. 2018, eq. 3). The
region is all columns (``"full"``), the strict lower triangle (``"lower"``: ``j < i``) or the
strict upper one (``"upper"``: ``j > i``): a symmetric block without its diagonal, where a BLAS
``?syrk`` leaves only one triangle.

* :func:`kernel_row_sums` -- one pass over the block in ``fastgan._C`` (``csrc/kernel_sum/``: a
  vectorised loop per row on the CPU, one block per row on CUDA, bitwise deterministic), or
* :func:`kernel_row_sums_ref` -- the pure-torch reference (the fallback and the test oracle).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from fastgan import _dispatch, _ext
from fastgan._checks import check_ndim

__all__ = ["REGIONS", "kernel_row_sums", "kernel_row_sums_ref", "has_native"]

OP_NAME = "kernel_row_sums"
#: the region codes of ``csrc/kernel_sum/kernel_sum.h``
REGIONS = {"full": 0, "lower": 1, "upper": 2}


def has_native(device: str | torch.device = "cpu") -> bool:
    """Whether :func:`kernel_row_sums` runs the compiled kernel for float32 / float64 blocks on
    ``device`` (else it runs the reference)."""
    dev = torch.device(device)
    if not _ext.HAS_EXT or _dispatch.backend_setting() == "torch":
        return False
    return dev.type == "cpu" or (dev.type == "cuda" and _ext.HAS_CUDA_EXT)


def _check(s: torch.Tensor, degree: int, region: str) -> None:
    check_ndim(s, "s", 2, "[R, C]")
    if not s.is_floating_point():
        raise TypeError(f"s: expected a float tensor, got {s.dtype}")
    if region not in REGIONS:
        raise ValueError(f"region: must be one of {tuple(REGIONS)}, got {region!r}")
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree: must be an int >= 0, got {degree!r}")


def kernel_row_sums_ref(
    s: torch.Tensor, gamma: float, coef0: float, degree: int, region: str = "full"
) -> torch.Tensor:
    """The pure-torch reference of :func:`kernel_row_sums` (float64 throughout)."""
    _check(s, degree, region)
    k = (float(gamma) * s.to(torch.float64) + float(coef0)) ** degree
    rows, cols = s.shape
    if region != "full":
        i = torch.arange(rows, device=s.device)[:, None]
        j = torch.arange(cols, device=s.device)[None, :]
        k = torch.where(j < i if region == "lower" else j > i, k, 0.0)
    return k.sum(dim=1)


def kernel_row_sums(
    s: torch.Tensor,
    gamma: float,
    coef0: float,
    degree: int,
    region: str = "full",
    *,
    impl: str = "auto",
    threads: Optional[int] = None,
) -> torch.Tensor:
    """``out[i] = sum_j (gamma s_ij + coef0) ** degree`` over the row's region, in float64.

    Args:
        s (Tensor[R, C]): float32 or float64 (other float dtypes run the reference), rows with unit
            stride between columns (a row stride of at least C is fine: views of wider buffers).
        gamma, coef0, degree: the polynomial kernel (KID: ``1 / D``, 1, 3).
        region: ``"full"``, ``"lower"`` (``j < i``) or ``"upper"`` (``j > i``).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"`` (:mod:`fastgan._dispatch`).
        threads: CPU threads splitting the rows (None: torch's intra-op count; 1 from callers
            that already run on a thread pool).

    Returns:
        Tensor[R] float64 on ``s``'s device.
    """
    _check(s, degree, region)
    rows, cols = s.shape
    if s.stride(1) != 1 and cols > 1:
        s = s.contiguous()
    dtypes = (torch.float32, torch.float64)
    if not _dispatch.use_extension(OP_NAME, impl, s, dtypes=dtypes, deterministic_cuda=True):
        return kernel_row_sums_ref(s, gamma, coef0, degree, region)
    c = _ext.assert_has_ext(OP_NAME)
    out = torch.empty(rows, dtype=torch.float64, device=s.device)
    ld = max(int(s.stride(0)), cols) if rows > 1 else cols
    # elements reachable from s's first one: the binding checks the block fits in them
    numel = s.untyped_storage().nbytes() // s.element_size() - s.storage_offset()
    args: tuple[Any, ...] = (s.data_ptr(), out.data_ptr(), rows, cols, ld, numel, rows)
    args += (_ext.dtype_code(s), REGIONS[region], int(degree), float(gamma), float(coef0))
    if s.device.type == "cuda":
        c.kernel_row_sums_cuda(*args, _ext.device_index(s), _ext.stream_handle(s))
    else:
        n_threads = _ext.num_threads() if threads is None else max(1, int(threads))
        c.kernel_row_sums_cpu(*args, n_threads)
    return out
