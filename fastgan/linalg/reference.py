"""The float64 reference routines of :mod:`fastgan.linalg` that other layers use (public API).

The metrics build FID, its low-rank paths and the statistics checks from these: symmetrizing
and checking a covariance, its PSD factor or Cholesky factor, clamped eigenvalues with the
negative-mass report, and the nuclear norm / ``tr sqrt`` of a Gram matrix with its certified
error bound. They are defined in the private implementation module ``fastgan.linalg._ref``.
"""

from fastgan.linalg._ref import (
    chol_ok,
    clamp_report,
    gram_nuclear,
    max_asymmetry,
    nuclear_norm,
    psd_factor,
    sym_eigvalsh,
    symmetrize,
    trace_sqrt_lowrank,
)

__all__ = [
    "chol_ok",
    "clamp_report",
    "gram_nuclear",
    "max_asymmetry",
    "nuclear_norm",
    "psd_factor",
    "sym_eigvalsh",
    "symmetrize",
    "trace_sqrt_lowrank",
]
