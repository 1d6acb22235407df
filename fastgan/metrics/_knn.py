"""Exact k-NN radii and ball-membership statistics without an N x M matrix.

This module is the engine behind :mod:`fastgan.metrics.manifold`. Everything it
returns equals a brute-force float64 computation on the *given* feature values
(direct differences ``sum_d (a_d - b_d)**2`` in float64), not merely a float32
approximation of it.

Certified scheme
----------------
Distances are first computed tile by tile with one float32 GEMM per tile,
``d2 = |a|^2 + |b|^2 - 2 a.b``, the norms folded into the product as two extra
columns (``[a, -|a|^2/2, 1] . [b, 1, -|b|^2/2] * (-2)``), on vectors centred by a
common shift (a translation changes no distance but makes ``|a|^2`` small, which
is what the error bound depends on). For every pair the float32 value obeys the rigorous
bound (any summation order, FMA or not, see Higham, *Accuracy and Stability of
Numerical Algorithms*, eq. 3.5)::

    |d2_f32 - d2_exact| <= c * (|a|^2 + |b|^2),   c = 4 * (D + 34) * u

with ``u`` the unit roundoff of the matmul (``2**-24`` for IEEE float32). The
terms cover the dot product (``gamma_D |a||b|``), the rounding of the centring,
of the norms and of the two additions; the factor 2 is a safety margin. An
absolute term covers float32 underflow, and inputs too large for float32 are
handled in float64. Decisions that the bound certifies (``d2 + E < r2`` or
``d2 - E > r2``) are taken from the float32 block; only the few pairs inside the
margin are recomputed in float64 from the original features and decided there.
k-th neighbour radii work the same way: the float32 k-th smallest value ``v_k``
brackets the exact radius (``|r2 - v_k| <= E``), so membership tests first run
against the interval and the exact radius of a row is computed (from the few
candidates within ``2E`` of ``v_k``) only when one of its pairs falls inside the
widened margin. Typically a few dozen rows out of 10k need it.

TF32 / bf16 matmuls are switched off for the duration of the computation; if
that is impossible, the bound uses the bf16 unit roundoff (slower, still exact).

Backends
--------
``"torch"``: the blocked scheme above (CPU or CUDA, whatever device the features
live on). ``"faiss"``: k-th neighbour search with ``IndexFlatL2`` (GPU index when
the features are on CUDA and faiss has GPUs) and ball membership with a range
search over an augmented inner-product index, both followed by the same float64
refinement. ``"auto"`` picks torch, which measured faster (see :func:`resolve_backend`).

Memory: extra memory is ``O((N + M) * D + tile^2)`` (shifted float32 copies of
the features, at most two per set, plus one tile); a tile that runs out of memory
is retried with half as many rows.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import torch

from fastgan._progress import Progress

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "faiss", "torch")

_U32 = 2.0**-24
_U64 = 2.0**-53
_UBF16 = 2.0**-8
# float32 products below this are subnormal; each contributes at most this much absolute error
_TINY32 = 2.0**-149
_FLOAT32_SAFE_NORM = 1e36  # squared norms above this would overflow a float32 GEMM
_DEFAULT_BLOCK_BYTES = {"cpu": 256 << 20, "cuda": 1 << 30}


# ----------------------------------------------------------------------------- helpers


def faiss_module() -> Optional[Any]:
    """The imported ``faiss`` module, or None when it is not installed."""
    try:
        return importlib.import_module("faiss")
    except Exception:  # not installed or a broken install
        return None


def faiss_gpus() -> int:
    """Number of GPUs faiss can use (0 for faiss-cpu or no faiss)."""
    faiss = faiss_module()
    if faiss is None or not hasattr(faiss, "StandardGpuResources"):
        return 0
    try:
        return int(faiss.get_num_gpus())
    except Exception:
        return 0


def resolve_backend(backend: str, device: torch.device) -> str:
    """Resolve ``backend`` (``"auto"`` | ``"faiss"`` | ``"torch"``) for tensors on ``device``.

    ``"auto"`` resolves to ``"torch"``: the blocked torch path shares one GEMM between
    precision, density and coverage and computes only half of each symmetric
    real-real / fake-fake matrix, while the faiss path needs two k-NN searches and
    two range searches over full matrices. Measured on a shared 2-core CPU at
    10k x 2048 (k = 5) the torch path took 1.0-1.4x the time of three plain float32
    GEMMs and the faiss path about 5-6x. ``"faiss"`` must be requested explicitly and raises if faiss is
    missing; it uses GPU indices for CUDA features when faiss has GPUs.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {BACKENDS}, got {backend!r}")
    if backend == "faiss":
        if faiss_module() is None:
            raise RuntimeError("backend='faiss': faiss is not installed (pip install faiss-cpu or faiss-gpu)")
        if device.type == "cuda" and faiss_gpus() == 0:
            logger.info("backend='faiss' with CUDA features but faiss has no GPU: searching on the CPU")
        return "faiss"
    return "torch"


def default_backend() -> str:
    """What ``backend="auto"`` resolves to for CPU features (reported by ``fastgan.backends()``)."""
    return resolve_backend("auto", torch.device("cpu"))


def _is_oom(exc: BaseException) -> bool:
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, (RuntimeError, MemoryError)):
        msg = str(exc).lower()
        return isinstance(exc, MemoryError) or "out of memory" in msg or "not enough memory" in msg or (
            "alloc" in msg and "memory" in msg
        )
    return False


@contextlib.contextmanager
def ieee_matmul(device: torch.device) -> Iterator[float]:
    """Run float32 matmuls in full IEEE precision; yields the unit roundoff to assume.

    Switches TF32 / bf16 reduced precision off for the block and restores the
    previous setting afterwards. If the setting cannot be changed, yields the bf16
    unit roundoff so that the error bounds stay valid (results stay exact).
    """
    restore: list[Callable[[], None]] = []
    u = _U32
    try:
        if device.type == "cuda":
            try:
                prev = torch.backends.cuda.matmul.allow_tf32
                torch.backends.cuda.matmul.allow_tf32 = False
                restore.append(lambda: setattr(torch.backends.cuda.matmul, "allow_tf32", prev))
            except Exception:
                u = _UBF16
        else:
            mk = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
            prev_mk = getattr(mk, "fp32_precision", None) if mk is not None else None
            if prev_mk not in (None, "none", "ieee"):
                try:
                    mk.fp32_precision = "ieee"  # type: ignore[union-attr]
                    restore.append(lambda: setattr(mk, "fp32_precision", prev_mk))
                except Exception:
                    u = _UBF16
        yield u
    finally:
        for fn in reversed(restore):
            try:
                fn()
            except Exception:  # pragma: no cover - restoring must never fail the caller
                logger.debug("could not restore the matmul precision setting", exc_info=True)


def error_coeff(dim: int, u: float) -> float:
    """``c`` in ``|d2_computed - d2_exact| <= c * (|a|^2 + |b|^2)`` (see module docstring).

    The augmented GEMM sums ``D + 2`` terms whose absolute values add up to at most
    ``|a|^2 + |b|^2``; times the factor 2 of the distance this gives ``2 gamma_{D+2}``;
    the norms' float32 rounding and the centring add ``~5u``. ``c`` is twice that.
    """
    return 4.0 * (dim + 34) * u


def _round_down32(t: torch.Tensor) -> torch.Tensor:
    """float64 -> float32, rounded towards -inf (a safe lower threshold)."""
    f = t.to(torch.float32)
    return torch.where(f.double() > t, torch.nextafter(f, torch.full_like(f, -math.inf)), f)


def _round_up32(t: torch.Tensor) -> torch.Tensor:
    """float64 -> float32, rounded towards +inf (a safe upper threshold)."""
    f = t.to(torch.float32)
    return torch.where(f.double() < t, torch.nextafter(f, torch.full_like(f, math.inf)), f)


def _chunk_rows(n_rows: int, dim: int, budget_elems: int = 1 << 22) -> int:
    return max(1, budget_elems // max(1, dim))


#: Rows per float64 chunk on the CPU: a few hundred KiB, so converted chunks stay in cache.
_CPU_CHUNK_ELEMS = 1 << 16


def mean64(x: torch.Tensor) -> torch.Tensor:
    """Float64 column mean of ``x`` (Tensor[N, D]), accumulated in float64 without a float64 copy."""
    n, d = x.shape
    if x.device.type != "cpu" or x.dtype == torch.float64 or n * d <= _CPU_CHUNK_ELEMS:
        return x.sum(0, dtype=torch.float64) / max(1, n)
    # reductions with a dtype conversion are not vectorised on the CPU: convert cache-sized
    # row chunks, then sum (about 4x faster; still a float64 sum of the exact inputs)
    step = _chunk_rows(n, d, _CPU_CHUNK_ELEMS)
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
    step = _chunk_rows(n, d, _CPU_CHUNK_ELEMS)
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

    def to(self, dtype: torch.dtype) -> "Centered":
        if dtype == self.aug.dtype:
            return self
        col = self.col.to(dtype) if self.col is not None else None
        return Centered(self.aug.to(dtype), self.n64, _U64 if dtype == torch.float64 else self.u, col)


def center(x: torch.Tensor, shift: torch.Tensor, u32: float, layout: str = "row") -> Centered:
    """Shift ``x`` (Tensor[N, D]) by ``shift`` (Tensor[D], float64) and augment (see :class:`Centered`).

    The float32 path subtracts ``float32(shift)`` (any common shift leaves distances
    unchanged); each component then carries at most one rounding, ``u |x - shift|``,
    which the error bound accounts for. float64 working precision is used only when
    float32 would overflow. ``layout``: ``"row"``, ``"col"`` (only ``col`` is filled; ``aug``
    then aliases it) or ``"both"``.
    """
    n, d = x.shape
    step = _chunk_rows(n, d)

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
    if n and not (float(n64.max()) <= _FLOAT32_SAFE_NORM):
        aug, n64 = build(torch.float64)
        u = _U64
    col = None
    if layout in ("col", "both"):
        col = aug.clone() if layout == "both" else aug
        col[:, d] = 1.0
        col[:, d + 1] = n64.to(aug.dtype) * -0.5
    return Centered(aug=aug, n64=n64, u=u, col=col)


def pair_sqdist(a: torch.Tensor, b: torch.Tensor, ia: torch.Tensor, ib: torch.Tensor) -> torch.Tensor:
    """Exact float64 squared distances ``sum_d (a[ia] - b[ib])**2`` (Tensor[P]) by direct differences."""
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
    """``|a_i|^2 + |b_j|^2 - 2 a_i.b_j`` (Tensor[R, M]): ONE GEMM of row-layout ``a`` and
    column-layout ``b`` (see :class:`Centered`)."""
    return torch.addmm(torch.zeros((), dtype=a.dtype, device=a.device), a, b.t(), beta=0, alpha=-2)


def default_block_rows(n_cols: int, device: torch.device, block_size: Optional[int]) -> int:
    """Rows per block: ``block_size`` if given, else ~256 MiB (CPU) / 1 GiB (CUDA) of float32 per block."""
    if block_size is not None:
        return max(1, int(block_size))
    budget = _DEFAULT_BLOCK_BYTES.get(device.type, 256 << 20)
    return int(min(8192, max(64, budget // (4 * max(1, n_cols)))))


class BlockRunner:
    """Runs ``fn(start, stop)`` over row blocks, halving the block on out-of-memory errors."""

    def __init__(self, rows: int, progress: Optional[Progress] = None) -> None:
        self.rows = max(1, int(rows))
        self.progress = progress
        self.retries = 0

    def run(self, n: int, fn: Callable[[int, int], None]) -> None:
        start = 0
        while start < n:
            stop = min(n, start + self.rows)
            try:
                fn(start, stop)
            except BaseException as exc:  # noqa: BLE001 - re-raised unless it is an OOM
                if not _is_oom(exc) or self.rows == 1:
                    raise
                self.retries += 1
                self.rows = max(1, self.rows // 2)
                logger.warning("k-NN block ran out of memory; retrying with %d rows per block", self.rows)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            if self.progress is not None:
                self.progress.update(stop - start)
            start = stop


def _kth_from_candidates(
    rows: torch.Tensor, values: torch.Tensor, n_rows: int, ks: Sequence[int]
) -> torch.Tensor:
    """k-th smallest ``values`` per row from (row, value) pairs; returns Tensor[len(ks), n_rows]."""
    counts = torch.bincount(rows, minlength=n_rows)
    width = int(counts.max().item())
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(rows.numel(), device=rows.device) - starts[rows]
    pad = torch.full((n_rows, width), math.inf, dtype=torch.float64, device=values.device)
    pad[rows, pos] = values
    srt = torch.topk(pad, max(ks), dim=1, largest=False, sorted=True).values
    return torch.stack([srt[:, k - 1] for k in ks])


# ----------------------------------------------------------------------------- torch backend


def default_square_block(n: int, device: torch.device, block_size: Optional[int]) -> int:
    """Side of the square distance tiles used for the k-NN radii (``block_size`` if given)."""
    if block_size is not None:
        return max(1, int(block_size))
    # CPU: 2048 x 2048 float32 tiles (16 MiB) stay in a typical last-level cache for the
    # passes that follow the GEMM; CUDA: large tiles keep the GPU busy
    return 8192 if device.type == "cuda" else 2048


def _merge_topk(
    vals: torch.Tensor, idx: torch.Tensor, s: int, e: int, blk: torch.Tensor, col_off: int
) -> None:
    """Merge the smallest entries of each row of ``blk`` into rows ``s:e`` of (vals, idx)."""
    kk = vals.shape[1]
    kb = min(kk, blk.shape[1])
    v, i = torch.topk(blk, kb, dim=1, largest=False, sorted=False)
    cv = torch.cat([vals[s:e], v], 1)
    ci = torch.cat([idx[s:e], i + col_off], 1)
    v2, j = torch.topk(cv, kk, dim=1, largest=False, sorted=False)
    vals[s:e] = v2
    idx[s:e] = torch.gather(ci, 1, j)


def _radii_rows(
    x: torch.Tensor, c: Centered, rows: torch.Tensor, ks: Sequence[int], err_row: torch.Tensor,
    block_rows: int, progress: Optional[Progress], stats: dict[str, int],
) -> torch.Tensor:
    """Exact squared radii for the given ``rows`` by full-row passes (Tensor[len(ks), len(rows)])."""
    kmax = max(ks)
    out = torch.empty((len(ks), rows.numel()), dtype=torch.float64, device=x.device)

    def work(s: int, e: int) -> None:
        ri = rows[s:e]
        blk = block_sqdist(c.aug[ri], c.col)
        r = torch.arange(e - s, device=x.device)
        blk[r, ri] = math.inf
        kth = torch.topk(blk, kmax, dim=1, largest=False, sorted=True).values[:, kmax - 1]
        thr = kth.to(torch.float64) + 2.0 * err_row[ri]
        thr = _round_up32(thr) if blk.dtype == torch.float32 else thr
        rr, cc = (blk <= thr.unsqueeze(1)).nonzero(as_tuple=True)
        del blk
        stats["knn_candidates"] = stats.get("knn_candidates", 0) + int(rr.numel())
        exact = pair_sqdist(x, x, ri[rr], cc)
        out[:, s:e] = _kth_from_candidates(rr, exact, e - s, ks)

    runner = BlockRunner(block_rows, progress)
    runner.run(int(rows.numel()), work)
    stats["oom_retries"] = stats.get("oom_retries", 0) + runner.retries
    return out


def _refine_sorted(
    x: torch.Tensor,
    rows: torch.Tensor,
    vals: torch.Tensor,
    idx: torch.Tensor,
    err: torch.Tensor,
    ks: Sequence[int],
    st: dict[str, int],
) -> torch.Tensor:
    """Exact k-th values from each row's sorted float32 candidates (Tensor[len(ks), R]).

    ``vals`` (Tensor[R, K], ascending) holds the smallest computed squared distances of
    each row (complete for everything within twice the bound of the k-th), ``idx`` their
    columns and ``err`` the per-row bound ``E``. For each k the exact k-th value ``t``
    lies within ``vals[:, k-1] +- E``; entries below ``vals[:, k-1] - 2E`` are certainly
    smaller than ``t`` (counted, not recomputed), entries above ``+ 2E`` certainly larger,
    so only the ambiguous few are recomputed in float64 and ``t`` is the
    ``(k - #below)``-th smallest of them.
    """
    r = rows.numel()
    f32 = vals.dtype == torch.float32
    lo_list, hi_list, amb_any = [], [], torch.zeros_like(vals, dtype=torch.bool)
    for k in ks:
        vk = vals[:, k - 1].to(torch.float64)
        lo = vk - 2.0 * err
        hi = vk + 2.0 * err
        lo = _round_down32(lo) if f32 else lo
        hi = _round_up32(hi) if f32 else hi
        lo_list.append(lo)
        hi_list.append(hi)
        amb_any |= (vals >= lo.unsqueeze(1)) & (vals <= hi.unsqueeze(1))
    rr, slot = amb_any.nonzero(as_tuple=True)
    st["knn_candidates"] = st.get("knn_candidates", 0) + int(rr.numel())
    exact = torch.full(vals.shape, math.inf, dtype=torch.float64, device=vals.device)
    exact[rr, slot] = pair_sqdist(x, x, rows[rr], idx[rr, slot])
    out = torch.empty((len(ks), r), dtype=torch.float64, device=vals.device)
    for t, k in enumerate(ks):
        lo = lo_list[t].unsqueeze(1)
        hi = hi_list[t].unsqueeze(1)
        below = (vals < lo).sum(1)
        amb = (vals >= lo) & (vals <= hi)
        cand = torch.where(amb, exact, torch.full_like(exact, math.inf))
        srt = torch.sort(cand, dim=1).values
        out[t] = torch.gather(srt, 1, (k - 1 - below).unsqueeze(1)).squeeze(1)
    return out


class Radii:
    """Squared k-NN radii, each known exactly or as a certified float32 interval.

    ``approx[t, i] +- err[i]`` brackets the exact float64 value of row ``i`` for
    ``ks[t]`` (the k-th smallest of values each within ``err[i]`` of the exact ones is
    within ``err[i]`` of the exact k-th smallest). Exact values are computed on demand
    (:meth:`exact`) from the stored float32 candidates, so rows whose decisions the
    interval already certifies never need a float64 recomputation.
    """

    def __init__(
        self,
        x: Optional[torch.Tensor],
        ks: Sequence[int],
        approx: torch.Tensor,
        err: torch.Tensor,
        vals: Optional[torch.Tensor] = None,
        idx: Optional[torch.Tensor] = None,
        known: Optional[torch.Tensor] = None,
        exact_vals: Optional[torch.Tensor] = None,
        stats: Optional[dict[str, int]] = None,
    ) -> None:
        self.x = x
        self.ks = list(ks)
        self.approx = approx
        self.err = err
        self.vals = vals
        self.idx = idx
        n = approx.shape[1]
        self.known = known if known is not None else torch.zeros(n, dtype=torch.bool, device=approx.device)
        self.exact_vals = exact_vals if exact_vals is not None else torch.full_like(approx, math.nan)
        self.stats = {} if stats is None else stats

    @classmethod
    def from_exact(cls, r2: torch.Tensor, ks: Sequence[int]) -> "Radii":
        """Wrap exact values (Tensor[len(ks), N] float64)."""
        r2 = r2.to(torch.float64)
        n = r2.shape[1]
        return cls(
            None, ks, r2, torch.zeros(n, dtype=torch.float64, device=r2.device),
            known=torch.ones(n, dtype=torch.bool, device=r2.device), exact_vals=r2,
        )

    def lo(self, t: int) -> torch.Tensor:
        """Lower bounds (Tensor[N] float64) of the squared radii for ``ks[t]``."""
        return torch.where(self.known, self.exact_vals[t], self.approx[t] - self.err)

    def hi(self, t: int) -> torch.Tensor:
        """Upper bounds (Tensor[N] float64)."""
        return torch.where(self.known, self.exact_vals[t], self.approx[t] + self.err)

    def exact(self, t: int, rows: torch.Tensor) -> torch.Tensor:
        """Exact float64 squared radii of ``rows`` for ``ks[t]`` (computed and cached if needed)."""
        todo = rows[~self.known[rows]]
        if todo.numel():
            todo = torch.unique(todo)
            assert self.x is not None and self.vals is not None and self.idx is not None
            self.exact_vals[:, todo] = _refine_sorted(
                self.x, todo, self.vals[todo], self.idx[todo], self.err[todo], self.ks, self.stats
            )
            self.known[todo] = True
        return self.exact_vals[t, rows]

    def full(self) -> torch.Tensor:
        """All exact values (Tensor[len(ks), N] float64)."""
        self.exact(0, torch.arange(self.approx.shape[1], device=self.approx.device))
        return self.exact_vals


class RadiusView:
    """One ``k`` of a :class:`Radii` (what the ball-membership passes consume)."""

    def __init__(self, radii: Radii, t: int = 0) -> None:
        self.radii = radii
        self.t = t

    @classmethod
    def of(cls, r2: "torch.Tensor | RadiusView") -> "RadiusView":
        """Accept exact values (Tensor[N]) or a view."""
        if isinstance(r2, RadiusView):
            return r2
        return cls(Radii.from_exact(r2.reshape(1, -1), [0]), 0)

    def lo(self) -> torch.Tensor:
        return self.radii.lo(self.t)

    def hi(self) -> torch.Tensor:
        return self.radii.hi(self.t)

    def exact(self, rows: torch.Tensor) -> torch.Tensor:
        return self.radii.exact(self.t, rows)

    def values(self) -> torch.Tensor:
        """All exact values (Tensor[N] float64)."""
        return self.radii.full()[self.t]


def knn_sqradii_torch(
    x: torch.Tensor,
    ks: Sequence[int],
    *,
    block_size: Optional[int] = None,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, int]] = None,
) -> torch.Tensor:
    """Exact squared k-NN radii (Tensor[len(ks), N] float64); see :func:`knn_radii_torch`."""
    return knn_radii_torch(x, ks, block_size=block_size, progress=progress, stats=stats).full()


def knn_radii_torch(
    x: torch.Tensor,
    ks: Sequence[int],
    *,
    block_size: Optional[int] = None,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, int]] = None,
) -> Radii:
    """Squared k-NN radii of every row of ``x`` among the OTHER rows (exact on demand).

    The distance matrix is symmetric, so only tiles on and above the diagonal are
    computed (half the GEMM work); each tile updates the running ``kmax + 16``
    smallest float32 values of its rows and of its columns. A row's candidates are
    certified complete when its largest kept value exceeds its ``kmax``-th value by
    twice the error bound; the rare incomplete rows (many near-equal distances, e.g.
    duplicates) get a full-row pass. Candidates are then refined in float64.

    Args:
        x (Tensor[N, D]): features (any float dtype, CPU or CUDA).
        ks: neighbour counts, each in ``[1, N - 1]``.
        block_size: side of the square tiles (default ~64 MiB of float32 on CPU).

    Returns:
        :class:`Radii` whose exact values ``r2[t, i]`` are the squared distance from ``x_i``
        to its ``ks[t]``-th nearest neighbour in ``x`` without ``x_i`` itself (duplicates of
        ``x_i`` at other indices count, at distance 0).
    """
    n, d = x.shape
    dev = x.device
    kmax = max(ks)
    st: dict[str, int] = {} if stats is None else stats
    kk = min(n - 1, kmax + 16)
    side = default_square_block(n, dev, block_size)
    with ieee_matmul(dev) as u32:
        c = center(x, mean64(x), u32, layout="both")
        coeff = error_coeff(d, c.u)
        err_row = coeff * (c.n64 + c.nmax) + (d + 8) * _TINY32 * 4
        while True:
            try:
                vals = torch.full((n, kk), math.inf, dtype=c.aug.dtype, device=dev)
                idx = torch.full((n, kk), -1, dtype=torch.int64, device=dev)
                starts = list(range(0, n, side))
                for bi, s0 in enumerate(starts):
                    e0 = min(n, s0 + side)
                    for s1 in starts[bi:]:
                        e1 = min(n, s1 + side)
                        blk = block_sqdist(c.aug[s0:e0], c.col[s1:e1])
                        if s0 == s1:
                            blk.fill_diagonal_(math.inf)
                        _merge_topk(vals, idx, s0, e0, blk, s1)
                        if s1 != s0:
                            _merge_topk(vals, idx, s1, e1, blk.t().contiguous(), s0)
                        del blk
                    if progress is not None:
                        progress.update(e0 - s0)
                break
            except BaseException as exc:  # noqa: BLE001 - re-raised unless it is an OOM
                if not _is_oom(exc) or side == 1:
                    raise
                side = max(1, side // 2)
                st["oom_retries"] = st.get("oom_retries", 0) + 1
                logger.warning("k-NN tile ran out of memory; retrying with %d x %d tiles", side, side)
        st["block_rows"] = side
        vals, order = torch.sort(vals, dim=1)
        idx = torch.gather(idx, 1, order)
        thr = vals[:, kmax - 1].to(torch.float64) + 2.0 * err_row
        thr = _round_up32(thr) if vals.dtype == torch.float32 else thr
        if kk >= n - 1:
            complete = torch.ones(n, dtype=torch.bool, device=dev)
        else:
            complete = vals[:, kk - 1] > thr
        approx = torch.stack([vals[:, k - 1].to(torch.float64) for k in ks])
        radii = Radii(x, ks, approx, err_row, vals, idx, stats=st)
        rows_i = (~complete).nonzero(as_tuple=True)[0]
        st["knn_full_rows"] = st.get("knn_full_rows", 0) + int(rows_i.numel())
        if rows_i.numel():
            radii.exact_vals[:, rows_i] = _radii_rows(
                x, c, rows_i, ks, err_row, default_block_rows(n, dev, block_size), None, st
            )
            radii.known[rows_i] = True
    return radii


def empty_ball_stats(n: int, m: int, rows_balls: bool, cols_balls: bool, device: torch.device) -> dict[str, torch.Tensor]:
    """Zeroed result dict of the ball-membership engines (keys as in :func:`cross_ball_stats_torch`):
    ``count_y`` (int64[M]) and ``cover_x`` (bool[N]) when ``x`` has radii, ``inside_y_x`` (bool[N])
    when ``y`` has radii."""
    res: dict[str, torch.Tensor] = {}
    if rows_balls:
        res["count_y"] = torch.zeros(m, dtype=torch.int64, device=device)
        res["cover_x"] = torch.zeros(n, dtype=torch.bool, device=device)
    if cols_balls:
        res["inside_y_x"] = torch.zeros(n, dtype=torch.bool, device=device)
    return res


def _decide(d2: torch.Tensor, thr: torch.Tensor, strict: bool) -> torch.Tensor:
    return d2 < thr if strict else d2 <= thr


def cross_ball_stats_torch(
    x: torch.Tensor,
    y: torch.Tensor,
    r2x: "Optional[torch.Tensor | RadiusView]",
    s2y: "Optional[torch.Tensor | RadiusView]",
    *,
    strict: bool = False,
    block_size: Optional[int] = None,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, int]] = None,
) -> dict[str, torch.Tensor]:
    """Ball-membership statistics between ``x`` (Tensor[N, D]) and ``y`` (Tensor[M, D]).

    With ``in(i, j) = d2(x_i, y_j) <= r2x[i]`` (``<`` if ``strict``) and
    ``in'(i, j) = d2(x_i, y_j) <= s2y[j]``:

    * ``count_y`` (int64[M]): ``#{i : in(i, j)}`` (precision: > 0; density: sum),
    * ``cover_x`` (bool[N]): ``any_j in(i, j)`` (coverage),
    * ``inside_y_x`` (bool[N]): ``any_j in'(i, j)`` (recall).

    Keys are present only for the radii given. Radii may be exact tensors (Tensor[N],
    Tensor[M] float64) or :class:`RadiusView` intervals; exact radii are then computed only
    for rows that have a pair the interval cannot decide.
    """
    n, d = x.shape
    m = y.shape[0]
    dev = x.device
    rv = RadiusView.of(r2x) if r2x is not None else None
    sv = RadiusView.of(s2y) if s2y is not None else None
    res = empty_ball_stats(n, m, r2x is not None, s2y is not None, dev)
    if n == 0 or m == 0 or (r2x is None and s2y is None):
        return res
    refined = [0]
    with ieee_matmul(dev) as u32:
        shift = 0.5 * (mean64(x) + mean64(y))
        cx = center(x, shift, u32)
        cy = center(y, shift, u32, layout="col")
        if cx.aug.dtype != cy.aug.dtype:
            cx, cy = cx.to(torch.float64), cy.to(torch.float64)
        u = max(cx.u, cy.u)
        coeff = error_coeff(d, u)
        absterm = (d + 8) * _TINY32 * 4
        f32 = cx.aug.dtype == torch.float32
        down = _round_down32 if f32 else (lambda t: t)
        up = _round_up32 if f32 else (lambda t: t)
        if sv is not None:
            col_err = coeff * (cy.n64 + cx.nmax) + absterm
            lo_c = down(sv.lo() - col_err)
            hi_c = up(sv.hi() + col_err)
        if rv is not None:
            err_r = coeff * (cx.n64 + cy.nmax) + absterm
            lo_r = down(rv.lo() - err_r)
            hi_r = up(rv.hi() + err_r)
        side_c = default_square_block(m, dev, block_size)

        def work(s: int, e: int) -> None:
            # everything for rows s:e is accumulated locally and committed at the end, so an
            # out-of-memory retry of this row block never double-counts
            count = torch.zeros(m, dtype=torch.int64, device=dev) if rv is not None else None
            cover = torch.zeros(e - s, dtype=torch.bool, device=dev)
            got = torch.zeros(e - s, dtype=torch.bool, device=dev)
            for cs in range(0, m, side_c):
                ce = min(m, cs + side_c)
                blk = block_sqdist(cx.aug[s:e], cy.col[cs:ce])
                if rv is not None:
                    # pairs that may lie in x_i's ball; certain ones are decided in float32
                    rr, cc = (blk <= hi_r[s:e].unsqueeze(1)).nonzero(as_tuple=True)
                    if rr.numel():
                        ok = blk[rr, cc] < lo_r[s + rr]
                        border = (~ok).nonzero(as_tuple=True)[0]
                        if border.numel():
                            refined[0] += int(border.numel())
                            exact = pair_sqdist(x, y, s + rr[border], cs + cc[border])
                            ok[border] = _decide(exact, rv.exact(s + rr[border]), strict)
                        assert count is not None
                        count += torch.bincount(cs + cc[ok], minlength=m)
                        cover[rr[ok]] = True
                if sv is not None:
                    rr, cc = (blk <= hi_c[cs:ce].unsqueeze(0)).nonzero(as_tuple=True)
                    if rr.numel():
                        ok = blk[rr, cc] < lo_c[cs + cc]
                        got[rr[ok]] = True
                        # refine only pairs whose row is not already certainly inside some ball
                        border = ((~ok) & ~got[rr]).nonzero(as_tuple=True)[0]
                        if border.numel():
                            refined[0] += int(border.numel())
                            exact = pair_sqdist(x, y, s + rr[border], cs + cc[border])
                            good = _decide(exact, sv.exact(cs + cc[border]), strict)
                            got[rr[border[good]]] = True
                del blk
            if rv is not None:
                assert count is not None
                res["count_y"] += count
                res["cover_x"][s:e] |= cover
            if sv is not None:
                res["inside_y_x"][s:e] |= got

        runner = BlockRunner(default_square_block(n, dev, block_size), progress)
        runner.run(n, work)
    if stats is not None:
        stats["cross_refined"] = stats.get("cross_refined", 0) + refined[0]
        stats["oom_retries"] = stats.get("oom_retries", 0) + runner.retries
    return res


def max_ratio_torch(
    x: torch.Tensor,
    r2x: torch.Tensor,
    q: torch.Tensor,
    *,
    eps: float,
    block_size: Optional[int] = None,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, int]] = None,
) -> torch.Tensor:
    """``max_i r2x[i] / (d2(q_j, x_i) + eps)`` for every row of ``q`` (float64[M]), exactly.

    Rows of ``x`` with ``r2x == 0`` are skipped (they contribute 0). With ``eps = 0``
    a sample at distance 0 from a kept row gets ``inf``. Returns 0 where no row is kept.
    """
    m, d = q.shape
    dev = q.device
    out = torch.zeros(m, dtype=torch.float64, device=dev)
    keep = (r2x > 0).nonzero(as_tuple=True)[0]
    if keep.numel() == 0 or m == 0:
        return out
    xk = x[keep]
    r2k = r2x[keep]
    refined = [0]
    with ieee_matmul(dev) as u32:
        shift = 0.5 * (mean64(xk) + mean64(q))
        cx = center(xk, shift, u32, layout="col")
        cq = center(q, shift, u32)
        if cx.aug.dtype != cq.aug.dtype:
            cx, cq = cx.to(torch.float64), cq.to(torch.float64)
        wd = cx.aug.dtype
        u = max(cx.u, cq.u)
        coeff = error_coeff(d, u)
        absterm = (d + 8) * _TINY32 * 4
        r2w = r2k.to(wd).unsqueeze(0)
        slack = 8 * (u if wd == torch.float32 else _U64)

        def work(s: int, e: int) -> None:
            blk = block_sqdist(cq.aug[s:e], cx.col)
            err = (coeff * (cq.n64[s:e] + cx.nmax) + absterm).to(wd).unsqueeze(1)
            # lower bound of the ratio (distance upper bound), rounded down by `slack`
            lo_ratio = r2w / (blk + err + eps) * (1 - slack)
            best_lo = lo_ratio.max(1).values
            del lo_ratio
            den = (blk - err).clamp_min_(0).add_(eps)
            hi_ratio = r2w / den * (1 + slack)  # inf where den == 0
            rr, cc = (hi_ratio >= best_lo.unsqueeze(1)).nonzero(as_tuple=True)
            del hi_ratio, den, blk
            refined[0] += int(rr.numel())
            exact = pair_sqdist(q, xk, rr + s, cc)
            ratio = r2k[cc] / (exact + eps)
            res = torch.zeros(e - s, dtype=torch.float64, device=dev)
            res.scatter_reduce_(0, rr, ratio, reduce="amax")
            out[s:e] = res

        runner = BlockRunner(default_block_rows(int(keep.numel()), dev, block_size), progress)
        runner.run(m, work)
    if stats is not None:
        stats["realism_refined"] = stats.get("realism_refined", 0) + refined[0]
    return out


# ----------------------------------------------------------------------------- faiss backend


_GPU_RESOURCES: list[Any] = []


def _to_numpy32(t: torch.Tensor) -> Any:
    return t.detach().to("cpu", torch.float32).contiguous().numpy()


def _faiss_index(dim: int, metric_ip: bool, device: torch.device) -> Any:
    """A flat faiss index (L2 or inner product); on GPU(s) for CUDA features when faiss has GPUs."""
    faiss = faiss_module()
    assert faiss is not None
    index = faiss.IndexFlatIP(dim) if metric_ip else faiss.IndexFlatL2(dim)
    ngpu = faiss_gpus()
    if device.type == "cuda" and ngpu > 0:
        if ngpu > 1:
            # shard the database over every GPU faiss sees (exact: results are merged)
            co = faiss.GpuMultipleClonerOptions()
            co.shard = True
            return faiss.index_cpu_to_all_gpus(index, co=co)
        res = faiss.StandardGpuResources()
        gpu_index = faiss.index_cpu_to_gpu(res, device.index or 0, index)
        try:
            gpu_index._fastgan_resources = res  # keep the resources alive as long as the index
        except AttributeError:  # pragma: no cover - depends on the SWIG proxy
            _GPU_RESOURCES.append(res)
        return gpu_index
    return index


def faiss_l2_sq(dist: Any) -> torch.Tensor:
    """faiss's ``IndexFlatL2`` returns SQUARED L2 distances; this is the one place that says so."""
    return torch.from_numpy(dist).to(torch.float64)


def knn_sqradii_faiss(
    x: torch.Tensor,
    ks: Sequence[int],
    *,
    block_size: Optional[int] = None,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, int]] = None,
) -> torch.Tensor:
    """Same contract as :func:`knn_sqradii_torch`, neighbours searched with faiss ``IndexFlatL2``.

    faiss returns the ``k' = kmax + 1 + slack`` smallest float32 squared distances
    (self included). Using the same error bound, the candidates are certified
    complete when the ``k'``-th returned value exceeds the ``kmax``-th (without self)
    by more than twice the margin; rows where this fails are searched again with a
    larger ``k'`` (doubling), and the candidates are refined in float64.
    """
    n, d = x.shape
    kmax = max(ks)
    dev = x.device
    shift = mean64(x)
    c = center(x, shift, _U32)
    if c.w.dtype != torch.float32:
        return knn_sqradii_torch(x, ks, block_size=block_size, progress=progress, stats=stats)
    xw = _to_numpy32(c.w)
    index = _faiss_index(d, False, dev)
    index.add(xw)
    # faiss computes norms and dot products in float32 itself; its error obeys the same bound
    coeff = error_coeff(d, _U32)
    absterm = (d + 8) * _TINY32 * 4
    n64 = c.n64.cpu()
    out = torch.empty((len(ks), n), dtype=torch.float64)
    rows_blk = default_block_rows(n, torch.device("cpu"), block_size)
    st: dict[str, int] = {} if stats is None else stats
    for s in range(0, n, rows_blk):
        e = min(n, s + rows_blk)
        todo = torch.arange(s, e)
        kq = min(n, kmax + 1 + 8)
        while todo.numel():
            dist, idx = index.search(xw[todo.numpy()], kq)
            dist_t = faiss_l2_sq(dist)
            idx_t = torch.from_numpy(idx).long()
            self_mask = idx_t == todo.unsqueeze(1)
            dist_ns = dist_t.masked_fill(self_mask | (idx_t < 0), math.inf)
            srt, order = torch.sort(dist_ns, dim=1)
            srt_idx = torch.gather(idx_t, 1, order)
            kth = srt[:, kmax - 1]
            err = coeff * (n64[todo] + c.nmax) + absterm
            thr = kth + 2.0 * err
            # complete if every point faiss did not return is provably beyond thr
            # (a non-returned point has a computed distance >= the last returned one)
            last = dist_t[:, -1]
            complete = (last > thr) | (kq >= n)
            done_rows = todo[complete]
            if done_rows.numel():
                out[:, done_rows] = _refine_sorted(
                    x, done_rows.to(dev), srt[complete].to(dev), srt_idx[complete].to(dev),
                    err[complete].to(dev), ks, st,
                ).cpu()
            todo = todo[~complete]
            kq = min(n, kq * 2)
        if progress is not None:
            progress.update(e - s)
    return out.to(dev)


def cross_ball_stats_faiss(
    x: torch.Tensor,
    y: torch.Tensor,
    r2x: "Optional[torch.Tensor | RadiusView]",
    s2y: "Optional[torch.Tensor | RadiusView]",
    *,
    strict: bool = False,
    block_size: Optional[int] = None,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, int]] = None,
) -> dict[str, torch.Tensor]:
    """Same contract as :func:`cross_ball_stats_torch`, with faiss range searches.

    Ball membership ``|y - x_i|^2 <= r_i^2`` is rewritten as an inner product,
    ``<[2 x_i, r_i^2 - |x_i|^2, 1], [y, 1, -|y|^2]> = r_i^2 - |y - x_i|^2 >= 0``,
    so one ``IndexFlatIP`` range search per query set returns every pair whose
    float32 score exceeds ``-margin`` (the margin bounds the float32 error of the
    augmented product). Pairs with score ``> margin`` are certain members; the rest
    are decided in float64 from the original features.
    """
    n, d = x.shape
    m = y.shape[0]
    dev = x.device
    if r2x is not None:
        r2x = RadiusView.of(r2x).values()
    if s2y is not None:
        s2y = RadiusView.of(s2y).values()
    res: dict[str, torch.Tensor] = {}
    refined = 0
    shift = 0.5 * (mean64(x) + mean64(y))
    cx = center(x, shift, _U32)
    cy = center(y, shift, _U32)
    if cx.w.dtype != torch.float32 or cy.w.dtype != torch.float32:
        return cross_ball_stats_torch(
            x, y, r2x, s2y, strict=strict, block_size=block_size, progress=progress, stats=stats
        )
    rows_blk = default_block_rows(max(n, m), torch.device("cpu"), block_size)

    def pairs(base: Centered, rad2: torch.Tensor, query: Centered) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield (query_idx, base_idx, score64) blocks for score > -margin."""
        faiss = faiss_module()
        assert faiss is not None
        bn = base.n64.cpu()
        qn = query.n64.cpu()
        rad2c = rad2.cpu()
        aug_b = torch.cat(
            [2.0 * base.w.cpu().double(), (rad2c - bn).unsqueeze(1), torch.ones(len(bn), 1, dtype=torch.float64)], 1
        ).float()
        # |error| of the float32 augmented inner product (D + 2 terms, inputs rounded to float32)
        # (+ |x|^2 + |y|^2 for the rounding of the centring, as in the GEMM bound)
        bound_terms = (
            2.0 * math.sqrt(base.nmax * query.nmax)
            + float((rad2c - bn).abs().max())
            + 2.0 * query.nmax
            + base.nmax
        )
        margin = 2.0 * (d + 2 + 32) * _U32 * bound_terms + (d + 8) * _TINY32 * 8
        index = _faiss_index(d + 2, True, dev)
        index.add(aug_b.numpy())
        for s in range(0, len(qn), rows_blk):
            e = min(len(qn), s + rows_blk)
            aug_q = torch.cat(
                [query.w[s:e].cpu().double(), torch.ones(e - s, 1, dtype=torch.float64), -qn[s:e].unsqueeze(1)], 1
            ).float()
            lims, dist, ids = index.range_search(aug_q.numpy(), -margin)
            lims_t = torch.from_numpy(lims.astype("int64"))
            counts = lims_t[1:] - lims_t[:-1]
            qi = torch.repeat_interleave(torch.arange(s, e), counts)
            yield qi, torch.from_numpy(ids).long(), torch.from_numpy(dist).double(), margin
            if progress is not None:
                progress.update(e - s)

    if r2x is not None:
        count_y = torch.zeros(m, dtype=torch.int64)
        cover_x = torch.zeros(n, dtype=torch.bool)
        for qi, bi, score, margin in pairs(cx, r2x, cy):
            sure = score > margin
            border = ~sure
            ok = sure.clone()
            if border.any():
                bq, bb = qi[border], bi[border]
                refined += int(bq.numel())
                exact = pair_sqdist(y, x, bq.to(dev), bb.to(dev)).cpu()
                ok[border] = _decide(exact, r2x.cpu()[bb], strict)
            count_y.index_add_(0, qi[ok], torch.ones_like(qi[ok]))
            cover_x[bi[ok]] = True
        res["count_y"] = count_y.to(dev)
        res["cover_x"] = cover_x.to(dev)
    if s2y is not None:
        inside = torch.zeros(n, dtype=torch.bool)
        for qi, bi, score, margin in pairs(cy, s2y, cx):
            sure = score > margin
            border = ~sure
            ok = sure.clone()
            if border.any():
                bq, bb = qi[border], bi[border]
                refined += int(bq.numel())
                exact = pair_sqdist(x, y, bq.to(dev), bb.to(dev)).cpu()
                ok[border] = _decide(exact, s2y.cpu()[bb], strict)
            inside[qi[ok]] = True
        res["inside_y_x"] = inside.to(dev)
    if stats is not None:
        stats["cross_refined"] = stats.get("cross_refined", 0) + refined
    return res


# ----------------------------------------------------------------------------- dispatch


def knn_sqradii(x: torch.Tensor, ks: Sequence[int], backend: str, **kw: Any) -> torch.Tensor:
    """Exact squared k-NN radii (Tensor[len(ks), N], float64) with the resolved ``backend``."""
    if backend == "faiss":
        return knn_sqradii_faiss(x, ks, **kw)
    return knn_sqradii_torch(x, ks, **kw)


def knn_radii(x: torch.Tensor, ks: Sequence[int], backend: str, **kw: Any) -> Radii:
    """Squared k-NN radii as a :class:`Radii` (exact values on demand) with the resolved ``backend``."""
    if backend == "faiss":
        return Radii.from_exact(knn_sqradii_faiss(x, ks, **kw), ks)
    return knn_radii_torch(x, ks, **kw)


def cross_ball_stats(
    x: torch.Tensor,
    y: torch.Tensor,
    r2x: "Optional[torch.Tensor | RadiusView]",
    s2y: "Optional[torch.Tensor | RadiusView]",
    backend: str,
    **kw: Any,
) -> dict[str, torch.Tensor]:
    """Ball-membership statistics (see :func:`cross_ball_stats_torch`) with the resolved ``backend``."""
    if backend == "faiss":
        return cross_ball_stats_faiss(x, y, r2x, s2y, **kw)
    return cross_ball_stats_torch(x, y, r2x, s2y, **kw)
