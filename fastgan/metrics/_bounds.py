"""Certified float32 squared distances and their error bound (one proof for every engine).

Every engine of :mod:`fastgan.metrics.knn` returns what a brute-force float64 computation
with direct differences (``sum_d (a_d - b_d)**2``) returns on the given feature values. The
engines get there with float32 GEMMs plus a float64 recomputation of the few pairs whose
decision the float32 value cannot certify. This module holds that arithmetic and the proof.

Scheme
------
Rows are first shifted by a common vector (the float64 mean, rounded to float32): a
translation changes no distance but makes ``|a|^2`` small, and the bound below scales with
it. Squared distances of a tile then come from ONE float32 GEMM of augmented rows,
``-2 * [a, -|a|^2/2, 1] . [b, 1, -|b|^2/2] = |a|^2 + |b|^2 - 2 a.b`` (:class:`Centered`,
:func:`block_sqdist`).

Bound. Let ``u`` be the unit roundoff of the matmul (``2**-24`` for IEEE float32). The
augmented product sums ``D + 2`` terms whose absolute values add up to at most
``|a|^2 + |b|^2`` (Cauchy-Schwarz on ``|a.b|``), so by Higham, *Accuracy and Stability of
Numerical Algorithms*, eq. 3.5 (any summation order, FMA or not) its error is at most
``gamma_{D+2} (|a|^2 + |b|^2)``, times 2 for the factor ``-2``. The float32 rounding of the
shifted components (one rounding each, relative ``u``) and of the two stored norms adds
about ``5 u (|a|^2 + |b|^2)``. With a factor-2 safety margin::

    |d2_f32 - d2_exact| <= c * (|a|^2 + |b|^2) + A,   c = 4 * (D + 34) * u    (error_coeff)

where ``A = 4 (D + 8) 2**-149`` (:func:`abs_term`) covers products that underflow to
float32 subnormals. Inputs whose squared norms would overflow float32 are handled in
float64 throughout (``u = 2**-53``).

Decisions. A comparison ``d2 <= r2`` is taken from float32 when ``d2_f32 + E < r2`` or
``d2_f32 - E > r2`` (``E`` the bound of that pair); otherwise the pair is recomputed in
float64 from the original features (:func:`pair_sqdist`) and decided there. Thresholds
are rounded outwards to float32 (:func:`round_down32`, :func:`round_up32`) so that the
float32 comparison never claims more than the bound allows.

k-th neighbour radii. The k-th smallest of values each within ``E`` of the exact ones is
within ``E`` of the exact k-th smallest, so the float32 k-th value ``v_k`` brackets the
exact radius, ``|r2 - v_k| <= E``. Candidates farther than ``v_k + 2E`` can never be the
k-th neighbour; the exact radius is the k-th smallest float64 value among the candidates
inside ``v_k +- 2E`` after counting those certainly below (:mod:`fastgan.metrics.knn.radii`).
Ball tests first run against the interval ``v_k +- E`` and need the exact radius only when a
pair falls inside the widened margin.

faiss. faiss's flat indexes compute norms and dot products in float32 too, so the same bound
holds for their squared L2 distances. The range search of the faiss engine uses the
augmented inner product ``<[2 a_i, r_i^2 - |a_i|^2, 1], [b, 1, -|b|^2]> = r_i^2 - |b - a_i|^2``;
its margin (:func:`ip_margin`) is the same gamma bound applied to the sum of the absolute
values of its ``D + 2`` terms.

Reduced-precision matmuls (TF32, bf16) are switched off while the engines run
(:func:`ieee_matmul`); if that is impossible the bound uses the bf16 unit roundoff, which
keeps every result exact (more pairs are recomputed).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from fastgan.metrics._tiles import chunk_rows

logger = logging.getLogger(__name__)

#: Unit roundoff of IEEE float32, float64 and bfloat16.
U32 = 2.0**-24
U64 = 2.0**-53
UBF16 = 2.0**-8
#: float32 products below this are subnormal; each contributes at most this much absolute error.
TINY32 = 2.0**-149
#: Squared norms above this would overflow a float32 GEMM: such inputs are handled in float64.
FLOAT32_SAFE_NORM = 1e36
#: Elements per float64 chunk on the CPU: a few hundred KiB, so converted chunks stay in cache.
_CPU_CHUNK_ELEMS = 1 << 16


@contextlib.contextmanager
def ieee_matmul(device: torch.device) -> Iterator[float]:
    """Run float32 matmuls in full IEEE precision; yields the unit roundoff to assume.

    Switches TF32 / bf16 reduced precision off for the block and restores the previous
    setting afterwards. If the setting cannot be changed, yields the bf16 unit roundoff so
    that the error bounds stay valid (results stay exact).

    Args:
        device: the device whose matmul setting applies.
    """
    restore: list[Callable[[], None]] = []
    u = U32
    try:
        if device.type == "cuda":
            try:
                prev = torch.backends.cuda.matmul.allow_tf32
                torch.backends.cuda.matmul.allow_tf32 = False
                restore.append(lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", prev))
            except Exception:
                u = UBF16
        else:
            mk = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
            prev_mk = getattr(mk, "fp32_precision", None) if mk is not None else None
            if prev_mk not in (None, "none", "ieee"):
                try:
                    mk.fp32_precision = "ieee"  # type: ignore[union-attr]
                    restore.append(lambda: setattr(mk, "fp32_precision", prev_mk))
                except Exception:
                    u = UBF16
        yield u
    finally:
        for fn in reversed(restore):
            try:
                fn()
            except Exception:  # pragma: no cover - restoring must never fail the caller
                logger.debug("could not restore the matmul precision setting", exc_info=True)


def error_coeff(dim: int, u: float) -> float:
    """``c`` in ``|d2_computed - d2_exact| <= c * (|a|^2 + |b|^2) + A`` (see the module docstring).

    Args:
        dim: feature dimension ``D``.
        u: unit roundoff of the matmul.
    """
    return 4.0 * (dim + 34) * u


def abs_term(dim: int) -> float:
    """``A`` of the bound: the absolute error of products that underflow to float32 subnormals."""
    return (dim + 8) * TINY32 * 4


def ip_margin(dim: int, base_nmax: float, query_nmax: float, rad_term_max: float) -> float:
    """Error bound of the faiss engine's float32 augmented inner product (see the module docstring).

    Args:
        dim: feature dimension ``D`` (the product has ``D + 2`` terms).
        base_nmax: largest squared norm of the shifted base rows.
        query_nmax: largest squared norm of the shifted query rows.
        rad_term_max: largest ``|r_i^2 - |a_i|^2|`` of the base rows.
    """
    terms = 2.0 * math.sqrt(base_nmax * query_nmax) + rad_term_max + 2.0 * query_nmax + base_nmax
    return 2.0 * (dim + 2 + 32) * U32 * terms + (dim + 8) * TINY32 * 8


def round_down32(t: torch.Tensor) -> torch.Tensor:
    """float64 -> float32, rounded towards -inf (a safe lower threshold)."""
    f = t.to(torch.float32)
    return torch.where(f.double() > t, torch.nextafter(f, torch.full_like(f, -math.inf)), f)


def round_up32(t: torch.Tensor) -> torch.Tensor:
    """float64 -> float32, rounded towards +inf (a safe upper threshold)."""
    f = t.to(torch.float32)
    return torch.where(f.double() < t, torch.nextafter(f, torch.full_like(f, math.inf)), f)


def decide(d2: torch.Tensor, thr: torch.Tensor, strict: bool) -> torch.Tensor:
    """Ball membership ``d2 <= thr`` (``d2 < thr`` if ``strict``), elementwise."""
    return d2 < thr if strict else d2 <= thr


def mean64(x: torch.Tensor) -> torch.Tensor:
    """Float64 column mean (Tensor[D]) of ``x`` (Tensor[N, D]), summed in float64 without a float64 copy."""
    n, d = x.shape
    if x.device.type != "cpu" or x.dtype == torch.float64 or n * d <= _CPU_CHUNK_ELEMS:
        return x.sum(0, dtype=torch.float64) / max(1, n)
    # reductions with a dtype conversion are not vectorised on the CPU: convert cache-sized
    # row chunks, then sum (still a float64 sum of the exact inputs)
    step = chunk_rows(d, _CPU_CHUNK_ELEMS)
    acc = torch.zeros(d, dtype=torch.float64)
    for s in range(0, n, step):
        acc += x[s : s + step].to(torch.float64).sum(0)
    return acc / n


def sqnorms64(w: torch.Tensor) -> torch.Tensor:
    """Float64 squared row norms ``sum_d w_id^2`` of ``w`` (Tensor[N, D]) -> Tensor[N]."""
    n, d = w.shape
    if w.device.type != "cpu" or w.dtype == torch.float64 or n * d <= _CPU_CHUNK_ELEMS:
        return torch.linalg.vector_norm(w, dim=1, dtype=torch.float64).square_()
    out = torch.empty(n, dtype=torch.float64)
    step = chunk_rows(d, _CPU_CHUNK_ELEMS)
    for s in range(0, n, step):
        c = w[s : s + step].to(torch.float64)
        torch.sum(c.mul_(c), dim=1, out=out[s : s + step])
    return out


@dataclass
class Centered:
    """Features shifted by a common vector, augmented for one-GEMM squared distances.

    Attributes:
        aug (Tensor[N, D + 2]): "row" layout ``[a, -|a|^2 / 2, 1]`` with ``a = x - shift`` in the
            working dtype (float32, or float64 when float32 would overflow).
        col (Tensor[N, D + 2] | None): "column" layout ``[a, 1, -|a|^2 / 2]``, so that
            ``-2 * aug_i . col_j = |a_i|^2 + |a_j|^2 - 2 a_i . a_j`` (one GEMM, no extra pass).
        n64 (Tensor[N]): float64 squared norms of the shifted rows as stored.
        u (float): unit roundoff of the working matmul.
        nmax (float): largest entry of ``n64`` (0 for no rows).
    """

    aug: torch.Tensor
    n64: torch.Tensor
    u: float
    col: Optional[torch.Tensor] = None
    nmax: float = field(init=False)

    def __post_init__(self) -> None:
        self.nmax = float(self.n64.max().item()) if self.n64.numel() else 0.0

    @property
    def w(self) -> torch.Tensor:
        """The shifted features (Tensor[N, D], a view)."""
        return self.aug[:, :-2]

    def to(self, dtype: torch.dtype) -> Centered:
        """The same rows in working dtype ``dtype`` (float64 uses the float64 unit roundoff)."""
        if dtype == self.aug.dtype:
            return self
        col = self.col.to(dtype) if self.col is not None else None
        return Centered(self.aug.to(dtype), self.n64, U64 if dtype == torch.float64 else self.u, col)


def center(x: torch.Tensor, shift: torch.Tensor, u32: float, layout: str = "row") -> Centered:
    """Shift ``x`` (Tensor[N, D]) by ``shift`` (Tensor[D], float64) and augment (see :class:`Centered`).

    The float32 path subtracts ``float32(shift)`` (any common shift leaves distances
    unchanged); each component then carries at most one rounding, ``u |x - shift|``, which
    the error bound accounts for. float64 working precision is used only when float32 would
    overflow.

    Args:
        x (Tensor[N, D]): features, any float dtype.
        shift (Tensor[D]): float64 shift.
        u32: unit roundoff of the float32 matmul (from :func:`ieee_matmul`).
        layout: ``"row"``, ``"col"`` (only ``col`` is filled; ``aug`` then aliases it) or ``"both"``.
    """
    n, d = x.shape
    step = chunk_rows(d)

    def build(wdtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        aug = torch.empty((n, d + 2), dtype=wdtype, device=x.device)
        w = aug[:, :d]
        if x.dtype == torch.float64 or wdtype == torch.float64:
            for s in range(0, n, step):
                w[s : s + step] = x[s : s + step].to(torch.float64) - shift
        else:
            torch.sub(x.to(torch.float32), shift.to(torch.float32), out=w)
        n64 = sqnorms64(w)
        aug[:, d] = n64.to(wdtype) * -0.5  # exact: scaling by a power of two
        aug[:, d + 1] = 1.0
        return aug, n64

    aug, n64 = build(torch.float32)
    u = u32
    if n and not (float(n64.max()) <= FLOAT32_SAFE_NORM):
        aug, n64 = build(torch.float64)
        u = U64
    col = None
    if layout in ("col", "both"):
        col = aug.clone() if layout == "both" else aug
        col[:, d] = 1.0
        col[:, d + 1] = n64.to(aug.dtype) * -0.5
    return Centered(aug=aug, n64=n64, u=u, col=col)


def pair_sqdist(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """Exact float64 squared distances ``sum_d (a[ia] - b[ib])**2`` (Tensor[P]) by direct differences.

    Args:
        a (Tensor[N, D]), b (Tensor[M, D]): features on one device.
        ia (Tensor[P]), ib (Tensor[P]): int64 row indices into ``a`` and ``b``.
    """
    p = int(ia.numel())
    out = torch.empty(p, dtype=torch.float64, device=a.device)
    # small chunks keep the float64 temporaries in cache
    step = max(1, (1 << 18) // max(1, a.shape[1]))
    for s in range(0, p, step):
        diff = a[ia[s : s + step]].to(torch.float64)
        diff.sub_(b[ib[s : s + step]])  # promoted to float64: exact for float32 / half inputs
        out[s : s + step] = diff.mul_(diff).sum(1)
    return out


def block_sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|a_i|^2 + |b_j|^2 - 2 a_i.b_j`` (Tensor[R, M]): ONE GEMM of row-layout ``a`` (Tensor[R, D + 2])
    and column-layout ``b`` (Tensor[M, D + 2]) (see :class:`Centered`)."""
    return torch.addmm(torch.zeros((), dtype=a.dtype, device=a.device), a, b.t(), beta=0, alpha=-2)
