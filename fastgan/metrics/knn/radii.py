"""k-NN radii: certified float32 intervals, made exact in float64 on demand.

A radius ``r2[t, i]`` is the squared distance from row ``i`` to its ``ks[t]``-th nearest
neighbour among the OTHER rows (the row itself is excluded by index; a duplicate at another
index is a neighbour at distance 0). The engines find, per row, the smallest float32 squared
distances (complete for everything within twice the error bound of the k-th);
:class:`Radii` keeps them and computes an exact value only for the rows whose decisions the
float32 interval cannot certify (see :mod:`fastgan.metrics._bounds` for the proof).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import torch

from fastgan.metrics._bounds import pair_sqdist, round_down32, round_up32


def kth_from_candidates(
    rows: torch.Tensor, values: torch.Tensor, n_rows: int, ks: Sequence[int]
) -> torch.Tensor:
    """k-th smallest ``values`` per row from (row, value) pairs.

    Args:
        rows (Tensor[P]): int64 row of each value, in ``[0, n_rows)``; every row needs ``max(ks)`` values.
        values (Tensor[P]): float64 values.
        n_rows: number of rows.
        ks: the k's (1-based).

    Returns:
        Tensor[len(ks), n_rows] float64.
    """
    counts = torch.bincount(rows, minlength=n_rows)
    width = int(counts.max().item())
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(rows.numel(), device=rows.device) - starts[rows]
    pad = torch.full((n_rows, width), math.inf, dtype=torch.float64, device=values.device)
    pad[rows, pos] = values
    srt = torch.topk(pad, max(ks), dim=1, largest=False, sorted=True).values
    return torch.stack([srt[:, k - 1] for k in ks])


def refine_sorted(
    x: torch.Tensor,
    rows: torch.Tensor,
    vals: torch.Tensor,
    idx: torch.Tensor,
    err: torch.Tensor,
    ks: Sequence[int],
    st: dict[str, int],
) -> torch.Tensor:
    """Exact k-th values from each row's sorted float32 candidates (Tensor[len(ks), R] float64).

    For each k the exact k-th value ``t`` lies within ``vals[:, k-1] +- E``; entries below
    ``vals[:, k-1] - 2E`` are certainly smaller than ``t`` (counted, not recomputed), entries
    above ``+ 2E`` certainly larger, so only the ambiguous few are recomputed in float64 and
    ``t`` is the ``(k - #below)``-th smallest of them.

    Args:
        x (Tensor[N, D]): the features.
        rows (Tensor[R]): int64 rows of ``x`` being refined.
        vals (Tensor[R, K]): ascending smallest computed squared distances of each row (complete
            for everything within twice the bound of the k-th).
        idx (Tensor[R, K]): their columns in ``x``.
        err (Tensor[R]): float64 per-row error bound ``E``.
        ks: the k's, each at most ``K``.
        st: diagnostics; ``knn_candidates`` is incremented by the pairs recomputed.
    """
    r = rows.numel()
    f32 = vals.dtype == torch.float32
    lo_list, hi_list, amb_any = [], [], torch.zeros_like(vals, dtype=torch.bool)
    for k in ks:
        vk = vals[:, k - 1].to(torch.float64)
        lo = vk - 2.0 * err
        hi = vk + 2.0 * err
        lo = round_down32(lo) if f32 else lo
        hi = round_up32(hi) if f32 else hi
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

    ``approx[t, i] +- err[i]`` brackets the exact float64 value of row ``i`` for ``ks[t]``.
    Exact values are computed on demand (:meth:`exact`) from the stored float32 candidates,
    so rows whose decisions the interval already certifies never need a float64 recomputation.

    Args:
        x (Tensor[N, D] | None): the features (None when every value is known).
        ks: the k's.
        approx (Tensor[len(ks), N]): float64 centres of the intervals.
        err (Tensor[N]): float64 half-widths.
        vals (Tensor[N, K] | None), idx (Tensor[N, K] | None): sorted float32 candidates and their columns.
        known (Tensor[N] | None): bool, rows whose exact values are in ``exact_vals``.
        exact_vals (Tensor[len(ks), N] | None): float64 exact values (NaN where unknown).
        stats: diagnostics dict updated by the refinement.
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
    def from_exact(cls, r2: torch.Tensor, ks: Sequence[int]) -> Radii:
        """Wrap exact values (Tensor[len(ks), N] float64)."""
        r2 = r2.to(torch.float64)
        n = r2.shape[1]
        return cls(
            None,
            ks,
            r2,
            torch.zeros(n, dtype=torch.float64, device=r2.device),
            known=torch.ones(n, dtype=torch.bool, device=r2.device),
            exact_vals=r2,
        )

    def lo(self, t: int) -> torch.Tensor:
        """Lower bounds (Tensor[N] float64) of the squared radii for ``ks[t]``."""
        return torch.where(self.known, self.exact_vals[t], self.approx[t] - self.err)

    def hi(self, t: int) -> torch.Tensor:
        """Upper bounds (Tensor[N] float64) of the squared radii for ``ks[t]``."""
        return torch.where(self.known, self.exact_vals[t], self.approx[t] + self.err)

    def exact(self, t: int, rows: torch.Tensor) -> torch.Tensor:
        """Exact float64 squared radii (Tensor[R]) of ``rows`` (Tensor[R] int64) for ``ks[t]``, cached."""
        todo = rows[~self.known[rows]]
        if todo.numel():
            todo = torch.unique(todo)
            assert self.x is not None and self.vals is not None and self.idx is not None
            self.exact_vals[:, todo] = refine_sorted(
                self.x, todo, self.vals[todo], self.idx[todo], self.err[todo], self.ks, self.stats
            )
            self.known[todo] = True
        return self.exact_vals[t, rows]

    def full(self) -> torch.Tensor:
        """All exact values (Tensor[len(ks), N] float64)."""
        self.exact(0, torch.arange(self.approx.shape[1], device=self.approx.device))
        return self.exact_vals


class RadiusView:
    """One ``k`` of a :class:`Radii` (what the ball-membership passes consume).

    Args:
        radii: the radii.
        t: index into ``radii.ks``.
    """

    def __init__(self, radii: Radii, t: int = 0) -> None:
        self.radii = radii
        self.t = t

    @classmethod
    def of(cls, r2: Union[torch.Tensor, RadiusView]) -> RadiusView:
        """Accept exact values (Tensor[N] float64) or a view."""
        if isinstance(r2, RadiusView):
            return r2
        return cls(Radii.from_exact(r2.reshape(1, -1), [0]), 0)

    def lo(self) -> torch.Tensor:
        """Lower bounds (Tensor[N] float64)."""
        return self.radii.lo(self.t)

    def hi(self) -> torch.Tensor:
        """Upper bounds (Tensor[N] float64)."""
        return self.radii.hi(self.t)

    def exact(self, rows: torch.Tensor) -> torch.Tensor:
        """Exact values (Tensor[R] float64) of ``rows``."""
        return self.radii.exact(self.t, rows)

    def values(self) -> torch.Tensor:
        """All exact values (Tensor[N] float64)."""
        return self.radii.full()[self.t]


#: Radii as the ball-membership engines accept them: exact values or an interval view.
RadiiLike = Union[torch.Tensor, RadiusView]
