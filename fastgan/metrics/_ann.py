"""Approximate k-NN radii and ball membership on faiss IVF / HNSW indices (opt-in).

The exact engine (:mod:`fastgan.metrics._knn`) does ``O(N^2 D)`` work. For millions of
samples this module replaces every exhaustive search by an approximate one and keeps
everything else exact. It is used by :mod:`fastgan.metrics.manifold` when a public
function gets ``index="ivf"`` or ``index="hnsw"``; ``index="flat"`` (the default) never
touches it.

What is approximated, and in which direction
--------------------------------------------
Only the *candidate sets* are approximate. Every distance that enters a decision is
recomputed from the original features in float64 by direct differences
(``sum_d (a_d - b_d)**2``, the exact engine's convention), and decisions use the same
``<=`` / ``<`` rules.

* **Radii.** Each sample's ``kmax + 9`` approximate nearest neighbours (itself included)
  are searched in an index of its own set; ``r_i^2`` is the ``k``-th smallest exact
  distance among the returned points other than ``i``. The returned points are a
  subset of all points, so ``r~_i >= r_i``: **approximate radii are never smaller than
  the exact ones** (equal when the search found the true k nearest). Rows for which the
  index returns fewer than ``kmax`` other points get an exhaustive float64 search.
* **Membership.** A query must find every ball that contains it. Ranking the other set's
  points by plain distance does not work in high dimension: the balls that contain a
  sample include far-away centres with large radii (on 2000 x 64 Gaussians, only 58 % of
  the memberships had their centre among the query's 20 nearest real samples). Balls are
  therefore put in a *ball index* (:class:`AnnIndex` with ``lift``): centre ``x_i`` is
  stored as ``[x_i, sqrt(R^2 - r_i^2)]``, a query as ``[y, 0]``, so that the index distance
  ``|y - x_i|^2 - r_i^2 + R^2`` ranks balls by how deep ``y`` lies inside them and the
  memberships of ``y`` are exactly its first neighbours there. Each fake sample tests its
  ``candidates`` deepest real balls (precision, density, coverage), searching again with
  twice as many while all of them contain it; each real sample tests its ``candidates``
  deepest fake balls (recall) and its ``candidates`` nearest fake samples (coverage: ``x_i``
  is covered iff its nearest fake sample lies in its ball). For *given* radii every
  membership found is a true one, so **ball counts, precision, recall, density and
  coverage can only be undercounted** relative to the exact result with the same radii
  (equal when the searches are exact, e.g. IVF with ``nprobe = nlist``).
* Combined, the two errors pull in opposite directions (larger balls count more, missed
  candidates count less), so the end-to-end error has no guaranteed sign. Measured below.

Indices
-------
``"ivf"`` (``IndexIVFFlat``): k-means with ``nlist`` cells (seeded: ``seed`` picks the
training subsample of at most 256 points per cell and faiss's initial centroids,
``niter`` iterations); a query scans the ``nprobe`` nearest cells exhaustively. Deterministic for a given seed and thread count: the result
is reproducible run to run. Recommended.
``"hnsw"`` (``IndexHNSWFlat``): a navigable small-world graph (``M`` links per node,
``ef_construction`` / ``ef_search`` beam widths). No training, fast queries, but the graph
is built by several threads in parallel, so with more than one faiss thread two runs
may return (slightly) different candidates and hence different metrics.

Both searches run on the CPU with faiss's OpenMP threads (CUDA features are copied to the
host for the search; the float64 refinement runs on the features' device). Memory: an
index holds a float32 copy of one feature set (``4 N D`` bytes; at most two indices live
at a time), plus for HNSW ``~8 M`` bytes of links per sample. ``prdc`` builds four indices:
plain and ball index of each set.

Measured error and speed
------------------------
``bench/bench_ann.py``, shared 2-core x86-64 CPU, faiss-cpu 1.15.1, ``nearest_k = 5``, default
options (IVF ``nprobe = 16``, ``nlist ~ 4 sqrt(N)``; HNSW ``M = 32``, ``ef_search = 64``;
20 candidates); absolute errors of (precision, recall, density, coverage):

* 10k x 2048 Gaussian-mixture features (20 clusters in a 64-d latent space, linearly
  embedded, plus noise; a stand-in for CNN features): IVF ``(1e-4, 0, 0.0016, 1e-4)``,
  0.9 % of the real radii too large (by up to 4 %); HNSW ``(3e-4, 0.0037, 0.019, 0)``,
  0.04 % of the radii too large.
* 20k x 256 isotropic Gaussians (intrinsic dimension 256: the worst case): IVF
  ``(0.016, 0.004, 0.025, 0.18)``, 99.8 % of the radii too large (median +1.6 %, max
  +4.8 %; coverage reacts most because nearest fake distances concentrate at the
  radius); HNSW ``(0.077, 0.12, 0.080, 0.030)``, 57 % of the radii too large.
* Speed: at these sizes the approximate path is NOT faster than the exact one on a CPU
  (faiss scans are memory-bound, the exact path runs at GEMM speed). Two runs: IVF took
  1.0x-1.2x the exact time at 20k x 256 and 2.7x-3.2x at 10k x 2048; HNSW 3.4x-3.6x and
  2.5x-3.2x. One run at 40k x 256 (loaded machine): IVF 75.5 s, exact 73.9 s. The exact
  cost grows like ``N^2``; IVF with the default ``nlist ~ 4 sqrt(N)`` scans
  ``~4 nprobe sqrt(N)`` points per query, i.e. grows like ``N^1.5`` (not measured beyond 40k
  here), so it is meant for sizes where the exact path is out of reach. A variant that
  scanned the same IVF cells with one torch GEMM per cell was slower (cells of ~40 rows).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Optional, Sequence

import torch

from fastgan._progress import Progress
from fastgan.metrics import _knn
from fastgan.metrics._knn import _decide

logger = logging.getLogger(__name__)

INDEXES = ("flat", "ivf", "hnsw")
APPROX_INDEXES = ("ivf", "hnsw")
OPTION_KEYS = {
    "ivf": ("nlist", "nprobe", "niter", "seed", "candidates"),
    "hnsw": ("M", "ef_search", "ef_construction", "candidates"),
}
_RADII_SLACK = 8
# queries per faiss search call (bounds the (rows x candidates) float64 temporaries)
_QUERY_BLOCK = 8192


@dataclass(frozen=True)
class AnnConfig:
    """Parameters of an approximate search.

    Defaults: IVF ``nprobe`` 8 / 16 / 32 on the 10k x 2048 mixture of ``bench/bench_ann.py``
    gave density errors 0.038 / 0.0016 / 0 (radii differing: 27 % / 0.9 % / 0 %) in 1x / 2x /
    3.5x the time of ``nprobe = 8``, so 16 is the default.

    Attributes:
        kind: ``"ivf"`` or ``"hnsw"``.
        nlist: IVF cells; None: ``min(4 sqrt(N), N / 39)`` (at least 1) per indexed set.
        nprobe: IVF cells scanned per query (clipped to ``nlist``).
        niter: k-means iterations for the IVF training.
        seed: k-means seed (training subsample and initial centroids).
        M: HNSW links per node.
        ef_search: HNSW search beam width (raised to the number of neighbours asked for).
        ef_construction: HNSW construction beam width.
        candidates: nearest points of the other set tested for ball membership per query;
            None: ``max(4 k, 16)`` with ``k`` the largest neighbourhood size in use.
    """

    kind: str
    nlist: Optional[int] = None
    nprobe: int = 16
    niter: int = 10
    seed: int = 1234
    M: int = 32
    ef_search: int = 64
    ef_construction: int = 64
    candidates: Optional[int] = None

    def as_dict(self) -> dict[str, Any]:
        keys = ("kind",) + OPTION_KEYS[self.kind]
        return {k: v for k, v in asdict(self).items() if k in keys}

    def n_candidates(self, k: int) -> int:
        return self.candidates if self.candidates is not None else max(4 * k, 16)


def resolve_index(index: Any, options: Optional[Mapping[str, Any]]) -> Optional[AnnConfig]:
    """Validate ``index`` / ``index_options``; None for the exact ``"flat"`` search.

    Raises:
        ValueError: unknown ``index``, unknown or invalid option, options with ``"flat"``.
        RuntimeError: an approximate index is asked for but faiss is not installed.
    """
    if not isinstance(index, str) or index not in INDEXES:
        raise ValueError(f"index: must be one of {INDEXES}, got {index!r}")
    if index == "flat":
        if options:
            raise ValueError("index_options: only used with index='ivf' or index='hnsw' (index='flat' is exact)")
        return None
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"index_options: expected a dict, got {type(options).__name__}")
    opts = dict(options or {})
    allowed = OPTION_KEYS[index]
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ValueError(f"index_options: unknown key(s) {unknown} for index={index!r}; allowed: {list(allowed)}")
    for key, value in opts.items():
        if key in ("nlist", "candidates") and value is None:
            continue
        minimum = 0 if key == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"index_options[{key!r}]: expected an integer >= {minimum}, got {value!r}")
        opts[key] = int(value)
    if _knn.faiss_module() is None:
        raise RuntimeError(f"index={index!r}: faiss is not installed (pip install faiss-cpu or faiss-gpu)")
    return AnnConfig(kind=index, **opts)


def _default_nlist(n: int) -> int:
    # ~4 sqrt(N) cells, but at least 39 training points per cell (faiss's own minimum)
    return int(max(1, min(round(4.0 * math.sqrt(n)), n // 39)))


class AnnIndex:
    """An approximate nearest-neighbour index over the rows of ``x`` (Tensor[N, D]).

    The rows are shifted by their float64 mean before conversion to float32 (translation
    changes no distance; it keeps float32 norms small). Queries get the same shift.

    With ``lift`` (Tensor[N], squared radii ``r_i^2``) the index is a *ball index*: row ``i``
    is stored as ``[x_i, sqrt(R^2 - r_i^2)]`` with ``R^2 = max r^2`` and a query ``y`` as
    ``[y, 0]``, so the squared distance in the index is ``|y - x_i|^2 - r_i^2 + R^2``: nearest
    first means *deepest ball first*, and ``y`` lies in ball ``i`` iff ``|y - x_i|^2 - r_i^2 <= 0``.
    The members of a query's balls are therefore exactly its first neighbours in this
    index (a k-NN search on the raw points ranks balls by centre distance, which in high
    dimension misses many balls with large radii).
    """

    def __init__(self, x: torch.Tensor, cfg: AnnConfig, lift: Optional[torch.Tensor] = None) -> None:
        faiss = _knn.faiss_module()
        if faiss is None:  # pragma: no cover - checked by resolve_index
            raise RuntimeError("faiss is not installed")
        n, d = x.shape
        self.cfg = cfg
        self.n = n
        self.shift = _knn.mean64(x).cpu()
        self.extra: Optional[torch.Tensor] = None
        if lift is not None:
            l64 = lift.detach().to("cpu", torch.float64)
            self.extra = (l64.max() - l64).clamp_min_(0).sqrt_()
            d += 1
        self.dim = d
        if cfg.kind == "ivf":
            nlist = cfg.nlist if cfg.nlist is not None else _default_nlist(n)
            nlist = max(1, min(nlist, n))
            self.quantizer = faiss.IndexFlatL2(d)  # kept alive as long as the index
            index = faiss.IndexIVFFlat(self.quantizer, d, nlist, faiss.METRIC_L2)
            index.cp.seed = cfg.seed
            index.cp.niter = cfg.niter
            # seeded training subsample (faiss's own cap: 256 points per cell), so that no
            # float32 copy of the whole set is made outside the index
            n_train = min(n, 256 * nlist)
            if n_train < n:
                g = torch.Generator().manual_seed(cfg.seed)
                sub = torch.randperm(n, generator=g)[:n_train].sort().values
                index.train(self._base32(x, sub))
            else:
                index.train(self._base32(x, torch.arange(n)))
            index.nprobe = max(1, min(cfg.nprobe, nlist))
            self.params = {"nlist": nlist, "nprobe": int(index.nprobe)}
        else:
            index = faiss.IndexHNSWFlat(d, cfg.M)
            index.hnsw.efConstruction = cfg.ef_construction
            self.params = {"M": cfg.M, "ef_construction": cfg.ef_construction}
        step = max(1, (1 << 24) // max(1, d))  # ~64 MiB of float32 per add call
        for s in range(0, n, step):
            index.add(self._base32(x, torch.arange(s, min(n, s + step))))
        self.index = index

    def _base32(self, x: torch.Tensor, rows: torch.Tensor) -> Any:
        blk = x[rows.to(x.device)].detach().to("cpu", torch.float64) - self.shift
        if self.extra is not None:
            blk = torch.cat([blk, self.extra[rows].unsqueeze(1)], 1)
        return blk.to(torch.float32).contiguous().numpy()

    def _query32(self, q: torch.Tensor) -> Any:
        blk = q.detach().to("cpu", torch.float64) - self.shift
        if self.extra is not None:
            blk = torch.cat([blk, torch.zeros(blk.shape[0], 1, dtype=torch.float64)], 1)
        return blk.to(torch.float32).contiguous().numpy()

    def search(self, q: torch.Tensor, k: int) -> torch.Tensor:
        """Indices (int64 Tensor[Q, k'], CPU; -1 = none) of about the ``k`` nearest rows to each row of
        ``q`` (Tensor[Q, D]); ``k' = min(k, N)``."""
        k = max(1, min(k, self.n))
        if self.cfg.kind == "hnsw":
            self.index.hnsw.efSearch = max(self.cfg.ef_search, k)
        _, idx = self.index.search(self._query32(q), k)
        return torch.from_numpy(idx).long()


def _exact_sqdist_rows(a: torch.Tensor, rows: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Float64 squared distances (Tensor[R, M]) from ``a[rows]`` to every row of ``b``, by direct differences."""
    r, d = rows.numel(), a.shape[1]
    out = torch.empty((r, b.shape[0]), dtype=torch.float64, device=a.device)
    step = max(1, (1 << 22) // max(1, d * max(1, r)))
    q = a[rows].to(torch.float64)
    for s in range(0, b.shape[0], step):
        diff = b[s : s + step].to(torch.float64).unsqueeze(0) - q.unsqueeze(1)
        out[:, s : s + step] = diff.mul_(diff).sum(2)
    return out


def ann_sqradii(
    x: torch.Tensor,
    ks: Sequence[int],
    index: AnnIndex,
    *,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """Approximate squared k-NN radii (Tensor[len(ks), N] float64, on ``x``'s device).

    ``index`` must be built on ``x``. Each value is the ``k``-th smallest exact float64
    squared distance from ``x_i`` to the OTHER rows the index returned among ``kmax + 9``
    approximate neighbours, hence never smaller than the exact radius (see the module
    docstring). Rows with fewer than ``kmax`` valid candidates are searched exhaustively.
    """
    n = x.shape[0]
    kmax = max(ks)
    dev = x.device
    out = torch.empty((len(ks), n), dtype=torch.float64, device=dev)
    short_total = 0
    for s in range(0, n, _QUERY_BLOCK):
        e = min(n, s + _QUERY_BLOCK)
        # 8 spare candidates: float32 near-ties in the index cannot push a true neighbour out
        idx = index.search(x[s:e], kmax + 1 + _RADII_SLACK).to(dev)
        rows = torch.arange(s, e, device=dev)
        valid = (idx >= 0) & (idx != rows.unsqueeze(1))
        d2 = torch.full(idx.shape, math.inf, dtype=torch.float64, device=dev)
        rr, cc = valid.nonzero(as_tuple=True)
        d2[rr, cc] = _knn.pair_sqdist(x, x, rows[rr], idx[rr, cc])
        srt = torch.sort(d2, dim=1).values
        short = torch.isinf(srt[:, kmax - 1]) if srt.shape[1] >= kmax else torch.ones(e - s, dtype=torch.bool, device=dev)
        for t, k in enumerate(ks):
            if srt.shape[1] >= k:
                out[t, s:e] = srt[:, k - 1]
        bad = short.nonzero(as_tuple=True)[0]
        if bad.numel():
            short_total += int(bad.numel())
            for b0 in range(0, bad.numel(), 64):
                rws = rows[bad[b0 : b0 + 64]]
                full = _exact_sqdist_rows(x, rws, x)
                full[torch.arange(rws.numel(), device=dev), rws] = math.inf
                top = torch.topk(full, kmax, dim=1, largest=False, sorted=True).values
                for t, k in enumerate(ks):
                    out[t, rws] = top[:, k - 1]
        if progress is not None:
            progress.update(e - s)
    if stats is not None:
        stats["ann_exhaustive_rows"] = stats.get("ann_exhaustive_rows", 0) + short_total
    return out


def _candidate_pairs(
    q: torch.Tensor, base: torch.Tensor, index: AnnIndex, rows: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For the queries ``q[rows]``: (position in ``rows``, base row, exact float64 squared distance,
    number of valid candidates per query)."""
    dev = q.device
    idx = index.search(q[rows], k).to(dev)
    valid = idx >= 0
    rr, cc = valid.nonzero(as_tuple=True)
    bi = idx[rr, cc]
    return rr, bi, _knn.pair_sqdist(q, base, rows[rr], bi), valid.sum(1)


def ann_ball_stats(
    x: torch.Tensor,
    y: torch.Tensor,
    r2x: Optional[torch.Tensor],
    s2y: Optional[torch.Tensor],
    cfg: AnnConfig,
    candidates: int,
    *,
    index_y: Optional[AnnIndex] = None,
    strict: bool = False,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, Any]] = None,
) -> dict[str, torch.Tensor]:
    """Approximate version of :func:`fastgan.metrics._knn.cross_ball_stats_torch`.

    Same keys and meaning (``count_y`` int64[M], ``cover_x`` bool[N] for ``r2x``;
    ``inside_y_x`` bool[N] for ``s2y``), but only the pairs that approximate searches
    propose are tested, each in float64:

    * ``count_y`` / ``cover_x``: each ``y_j`` searches a ball index of ``(x, r2x)`` (see
      :class:`AnnIndex`) for its ``candidates`` deepest balls; while every candidate
      returned is a member, the search is repeated with twice as many (a query inside
      many balls gets all of them when the search is exact).
    * ``cover_x`` also: each ``x_i`` tests its ``candidates`` nearest ``y`` in ``index_y`` (a plain
      index of ``y``, optional) against its own radius.
    * ``inside_y_x``: each ``x_i`` searches a ball index of ``(y, s2y)`` for its ``candidates``
      deepest balls.

    Every membership reported is a true one for the given radii, so each count is a
    lower bound of the exact one (equal when the searches are exact).
    """
    n, m = x.shape[0], y.shape[0]
    dev = x.device
    res = _knn.empty_ball_stats(n, m, r2x is not None, s2y is not None, dev)
    if n == 0 or m == 0 or (r2x is None and s2y is None):
        return res
    pairs = 0
    researched = 0
    if r2x is not None:
        r2x = r2x.to(dev, torch.float64)
        balls = AnnIndex(x, cfg, lift=r2x)
        for s in range(0, m, _QUERY_BLOCK):
            e = min(m, s + _QUERY_BLOCK)
            todo = torch.arange(s, e, device=dev)
            k = candidates
            while todo.numel():
                pos, xi, d2, n_valid = _candidate_pairs(y, x, balls, todo, k)
                pairs += int(pos.numel())
                ok = _decide(d2, r2x[xi], strict)
                res["cover_x"][xi[ok]] = True
                cnt = torch.bincount(pos[ok], minlength=todo.numel())
                # all candidates are members: there may be more balls, search again wider
                again = (cnt == n_valid) & (n_valid >= min(k, n)) & (k < n)
                done = ~again
                res["count_y"][todo[done]] = cnt[done]
                todo = todo[again]
                researched += int(todo.numel())
                k = min(n, 2 * k)
            if progress is not None:
                progress.update(e - s)
        del balls
        if index_y is not None:
            for s in range(0, n, _QUERY_BLOCK):
                rows = torch.arange(s, min(n, s + _QUERY_BLOCK), device=dev)
                pos, yj, d2, _ = _candidate_pairs(x, y, index_y, rows, candidates)
                pairs += int(pos.numel())
                res["cover_x"][rows[pos[_decide(d2, r2x[rows[pos]], strict)]]] = True
                if progress is not None:
                    progress.update(rows.numel())
    if s2y is not None:
        s2y = s2y.to(dev, torch.float64)
        balls = AnnIndex(y, cfg, lift=s2y)
        for s in range(0, n, _QUERY_BLOCK):
            rows = torch.arange(s, min(n, s + _QUERY_BLOCK), device=dev)
            pos, yj, d2, _ = _candidate_pairs(x, y, balls, rows, candidates)
            pairs += int(pos.numel())
            res["inside_y_x"][rows[pos[_decide(d2, s2y[yj], strict)]]] = True
            if progress is not None:
                progress.update(rows.numel())
        del balls
    if stats is not None:
        stats["ann_pairs"] = stats.get("ann_pairs", 0) + pairs
        stats["ann_researched_queries"] = stats.get("ann_researched_queries", 0) + researched
    return res


def ann_max_ratio(
    x: torch.Tensor,
    r2x: torch.Tensor,
    q: torch.Tensor,
    cfg: AnnConfig,
    candidates: int,
    *,
    eps: float,
    progress: Optional[Progress] = None,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """Approximate :func:`fastgan.metrics._knn.max_ratio_torch`: ``max_i r2x[i] / (d2(q_j, x_i) + eps)``
    (float64[M]) over the rows with ``r2x > 0`` among the ``candidates`` approximate nearest
    kept rows of each query. A maximum over a subset: never larger than the exact value
    for the given radii.
    """
    m = q.shape[0]
    dev = q.device
    out = torch.zeros(m, dtype=torch.float64, device=dev)
    keep = (r2x > 0).nonzero(as_tuple=True)[0]
    if keep.numel() == 0 or m == 0:
        return out
    xk = x[keep]
    r2k = r2x[keep].to(dev, torch.float64)
    index = AnnIndex(xk, cfg, lift=r2k)
    for s in range(0, m, _QUERY_BLOCK):
        rows = torch.arange(s, min(m, s + _QUERY_BLOCK), device=dev)
        pos, xi, d2, _ = _candidate_pairs(q, xk, index, rows, candidates)
        ratio = r2k[xi] / (d2 + eps)
        out.scatter_reduce_(0, rows[pos], ratio, reduce="amax")
        if progress is not None:
            progress.update(rows.numel())
    if stats is not None:
        stats["ann_index_realism"] = index.params
    return out
