"""Symmetric-matrix helpers of the moment statistics (:mod:`fastgan.metrics._stats`).

BLAS rank-k updates (``dsyrk``) fill one triangle of a symmetric matrix; :func:`mirror_upper_`
copies it onto the other, block by block.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["mirror_upper_"]


def mirror_upper_(m: torch.Tensor, block: int = 128) -> torch.Tensor:
    """Copy the upper triangle of square ``m`` onto its lower one, in place; returns ``m``.

    Block by block, so each transposed copy stays in cache (a whole-matrix transposed
    copy strides through memory). On CPU with numpy, on the calling thread: right after a
    BLAS call its worker threads still hold the cores, and torch's would compete with them.
    """
    d = int(m.shape[0])
    if m.device.type == "cpu":
        a = m.numpy()
        for i in range(0, d, block):
            diag = a[i : i + block, i : i + block]
            lower = np.tril_indices(diag.shape[0], -1)
            diag[lower] = diag.T[lower]
            for j in range(i + block, d, block):
                a[j : j + block, i : i + block] = a[i : i + block, j : j + block].T
        return m
    for i in range(0, d, block):
        tile = m[i : i + block, i : i + block]
        tile.copy_(tile.triu() + tile.triu(1).mT)
        for j in range(i + block, d, block):
            m[j : j + block, i : i + block].copy_(m[i : i + block, j : j + block].mT)
    return m
