"""Mergeable first and second moments of feature vectors (the FID sufficient statistics).

:class:`FeatureStats` keeps ``(count, mean, M2)`` in float64, where ``M2`` is the
*centered* scatter matrix ``sum_i (x_i - mean)(x_i - mean)^T``. Centered moments
are merged with the parallel update of Chan, Golub and LeVeque (1979), so the
result does not depend on batch size, batch order or how the data were split
across workers, and never suffers the cancellation of raw moments
``E[x x^T] - mean mean^T`` (features with a large common offset stay exact).

How :meth:`FeatureStats.update` computes it: the batch is cut into chunks of about 32 MiB
of float64 (``chunk_rows``). Each chunk is converted to float64 and centred on its own mean
in one pass, and the chunk's Chan merge term ``n_a n_b / n * delta delta^T`` is appended to
it as one extra row ``sqrt(n_a n_b / n) * delta``, so that a single symmetric rank-k update
(BLAS ``dsyrk``: half the flops of ``X^T X``) adds both the chunk's centred scatter and its
merge term to ``M2``. Only the upper triangle is updated; the lower one is mirrored from it
once, when the statistics are read. Centring each chunk on its own mean (rather than on a
fixed shift) keeps every added term a sum of squares: no cancellation even when the data
drift from one chunk to the next (e.g. features sorted by class). On CPU the rank-k update
is ``scipy.linalg.blas.dsyrk`` (scipy's BLAS and its own thread pool, e.g.
``OPENBLAS_NUM_THREADS`` for OpenBLAS builds, not ``torch.set_num_threads``); ``numpy.cov``
reaches the same BLAS routine through numpy's matmul. Elsewhere the update is a torch GEMM.

A statistics file that records only ``mu`` and ``sigma`` (pytorch-fid's format) loads as a
:class:`FeatureStats` whose :attr:`~FeatureStats.count` is ``None`` (sample count unknown):
its mean and covariance are usable for FID, but it cannot be updated, merged or synced,
because the merge weights are the counts.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Optional

import numpy as np
import torch

from fastgan._checks import as_float_tensor, check_ndim
from fastgan.metrics._symmetric import mirror_upper_
from fastgan.metrics._tiles import retry_on_oom

logger = logging.getLogger(__name__)

#: float64 elements per internal CPU chunk (32 MiB); ``chunk_rows=None`` derives the rows from it.
CPU_CHUNK_ELEMS = 1 << 22
#: Rows per chunk on other devices (large GEMMs keep a GPU busy); halved on out-of-memory.
DEFAULT_CHUNK_ROWS = 8192


def _load_dsyrk() -> Optional[Callable[..., Any]]:
    try:
        from scipy.linalg.blas import dsyrk
    except ImportError:  # pragma: no cover - scipy is a dependency
        return None
    return dsyrk  # type: ignore[no-any-return]


_DSYRK = _load_dsyrk()


def default_chunk_rows(dim: int, device: torch.device) -> int:
    """Rows per chunk when ``chunk_rows`` is None: about 32 MiB of float64 on CPU, 8192 rows elsewhere.

    On CPU the rows plus the one merge row make a multiple of 256 (a common BLAS panel
    depth), so a chunk's rank-k update does not end in a one-row panel that streams ``M2``
    through memory once more.
    """
    if device.type != "cpu":
        return DEFAULT_CHUNK_ROWS
    panels = min(256, max(1, CPU_CHUNK_ELEMS // (256 * max(1, dim))))
    return 256 * panels - 1


#: Relative tolerance of :func:`check_covariance`: a covariance whose most negative eigenvalue is
#: below ``-rtol * max |eigenvalue|`` is refused (beyond rounding), by the precision it was
#: stored in. Measured rounding (D = 2048, n = 100 < D, a singular covariance; n = 10, D = 64):
#: float64 covariances reach -2.7e-15 (fastgan's float64 statistics), float32 ones -5.4e-8
#: (``torch.cov`` in float32, or float64 statistics stored as float32), so each tolerance is a
#: margin of 10^3..10^4 over rounding while a really indefinite matrix (e.g. ``diag(4, -3)``:
#: -0.75) is refused.
PSD_RTOL: dict[torch.dtype, float] = {
    torch.float64: 1e-10,
    torch.float32: 1e-4,
    torch.float16: 1e-1,
    torch.bfloat16: 1e-1,
}


def check_covariance(sigma: torch.Tensor, name: str, *, stored: Optional[torch.dtype] = None) -> None:
    """Refuse a matrix that is not a covariance: ValueError ``"{name}: ..."`` (one line).

    Checks, in order: finite values; symmetry (``max |S - S^T| <= 1e-5 max |S|``, as
    :func:`fastgan.metrics.frechet_distance`); positive semi-definite up to rounding: the most
    negative eigenvalue must be at least ``-PSD_RTOL[stored] * max |eigenvalue|`` (``stored``:
    the dtype the matrix was stored or computed in; default ``sigma``'s own). One Cholesky
    factorisation of ``S + rtol * b I`` (``b <= max |eigenvalue|``: the largest diagonal entry
    and ``||S||_F / sqrt(D)`` are both lower bounds of it) accepts every matrix within the
    tolerance; only when it fails are the eigenvalues computed, to decide and to report the
    most negative one.
    """
    from fastgan._checks import check_finite
    from fastgan.linalg.reference import max_asymmetry

    check_finite(sigma, name)
    s = sigma.detach().to(torch.float64)
    d = int(s.shape[-1])
    if d == 0:
        return
    asym = max_asymmetry(s)
    scale = float(s.abs().max())
    if asym > 1e-5 * max(scale, 1e-300):
        raise ValueError(f"{name}: not symmetric (max |S - S^T| = {asym:.3g}, max |S| = {scale:.3g})")
    if scale == 0.0:
        return
    rtol = PSD_RTOL.get(stored if stored is not None else sigma.dtype, PSD_RTOL[torch.float32])
    s = 0.5 * (s + s.mT)
    lower = max(float(s.diagonal().abs().max()), float(torch.linalg.matrix_norm(s)) / math.sqrt(d))
    shifted = s + (rtol * lower) * torch.eye(d, dtype=s.dtype, device=s.device)
    if int(torch.linalg.cholesky_ex(shifted).info) == 0:
        return
    lam = torch.linalg.eigvalsh(s)
    lam_min, lam_max = float(lam[0]), float(lam.abs().max())
    if lam_min < -rtol * lam_max:
        raise ValueError(
            f"{name}: not positive semi-definite: most negative eigenvalue {lam_min:.6g} "
            f"(largest |eigenvalue| {lam_max:.6g}; a covariance may be negative by rounding only, "
            f"at most {rtol:g} of it)"
        )


def _centred_numpy(xs: torch.Tensor, scratch: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU chunk: its float64 mean (Tensor[D]) and a float64 buffer Tensor[R + 1, D] whose first
    R rows are ``xs - mean`` (the last row is left for the caller).

    numpy on the calling thread (one pass for the mean, one fused convert-and-subtract
    pass): no torch worker threads compete with the BLAS thread pool. ``scratch`` holds the
    buffer, reused by the chunks of one update call.
    """
    rows, d = int(xs.shape[0]), int(xs.shape[1])
    xn = xs.numpy()
    if not scratch or scratch[0].shape[0] < rows + 1 or scratch[0].shape[1] != d:
        scratch[:] = [np.empty((rows + 1, d), dtype=np.float64)]
    buf = scratch[0][: rows + 1]
    mean = np.add.reduce(xn, axis=0, dtype=np.float64)
    mean /= rows
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf is reported by the caller, by name
        np.subtract(xn, mean, out=buf[:rows])
    return torch.from_numpy(mean), torch.from_numpy(buf)


def _centred_torch(xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_centred_numpy` with torch ops, on any device (a fresh buffer each call)."""
    rows, d = int(xs.shape[0]), int(xs.shape[1])
    mean = xs.sum(dim=0, dtype=torch.float64).div_(rows)
    buf = torch.empty(rows + 1, d, dtype=torch.float64, device=xs.device)
    torch.sub(xs, mean, out=buf[:rows])
    return mean, buf


def scatter_update(m2: torch.Tensor, xc: torch.Tensor) -> None:
    """Upper triangle of ``m2`` += ``xc^T xc`` in place (the strict lower triangle may be left stale).

    ``m2`` (Tensor[D, D] float64, C-contiguous) and ``xc`` (Tensor[R, D] float64, C-contiguous).
    Module-level so tests can inject failures.
    """
    if m2.device.type == "cpu" and _DSYRK is not None:
        # Row-major m2 seen as a Fortran array is m2^T; its lower triangle is m2's upper one.
        c = m2.numpy().T
        out = _DSYRK(1.0, xc.numpy().T, beta=1.0, c=c, trans=0, lower=1, overwrite_c=1)
        if not np.may_share_memory(out, c):  # pragma: no cover - f2py copies only odd layouts
            m2.copy_(torch.from_numpy(np.ascontiguousarray(out.T)))
        return
    m2.addmm_(xc.t(), xc)


class FeatureStats:
    """Count, mean and centred scatter of feature vectors, accumulated in float64.

    Memory is O(D^2) whatever the number of samples. ``update`` takes batches of any
    floating dtype on any device; the state lives on the device of the first batch
    (or ``device``) in float64.

    Properties:
        count (int | None): number of samples seen; None when the statistics came from
            ``(mu, sigma)`` without a count (:meth:`from_moments` with ``count=None``,
            a pytorch-fid stats file). Such statistics give :attr:`mean` and :attr:`cov`
            but refuse :meth:`update`, :meth:`merge` and :meth:`sync`.
        mean (Tensor[D], float64): sample mean.
        cov (Tensor[D, D], float64): unbiased sample covariance ``M2 / (count - 1)``.

    Matches: pytorch-fid / TTUR and torchmetrics, which divide the covariance by
    ``n - 1`` (``numpy.cov`` default). stylegan3 divides by ``n``; use
    :attr:`cov_biased` for that convention.

    >>> s = FeatureStats()
    >>> _ = s.update(torch.randn(100, 8))
    >>> s.cov.shape
    torch.Size([8, 8])
    """

    def __init__(
        self,
        dim: Optional[int] = None,
        *,
        device: Optional[torch.device | str] = None,
        chunk_rows: Optional[int] = None,
    ) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim: expected a positive integer or None, got {dim!r}")
        if chunk_rows is not None and (
            isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1
        ):
            raise ValueError(f"chunk_rows: expected a positive integer or None, got {chunk_rows!r}")
        #: Rows converted to float64 per internal chunk (None: :func:`default_chunk_rows`);
        #: halved automatically on out-of-memory, and the halved value is kept.
        self.chunk_rows: Optional[int] = chunk_rows
        self._n = 0
        # False: (mu, sigma) without a sample count; _n is then 2 and _m2 holds the
        # covariance itself, so cov = M2 / (n - 1) is exact.
        self._count_known = True
        self._dim: Optional[int] = dim
        self._device = torch.device(device) if device is not None else None
        self._mean: Optional[torch.Tensor] = None
        self._m2: Optional[torch.Tensor] = None
        # True while only the upper triangle of _m2 is current (after update(), until read).
        self._lower_stale = False

    # ------------------------------------------------------------------ state
    def _check_count_known(self, op: str) -> None:
        if not self._count_known:
            raise ValueError(
                f"FeatureStats.{op}: these statistics have no sample count (loaded from (mu, sigma) only), "
                "so they cannot be combined with other samples"
            )

    def _ensure_state(self, dim: int, device: torch.device) -> None:
        self._check_count_known("update/merge")
        if self._dim is not None and self._dim != dim:
            raise ValueError(
                f"features: feature dimension {dim} does not match the accumulated dimension {self._dim}"
            )
        if self._mean is None:
            dev = self._device if self._device is not None else device
            self._dim = dim
            self._device = dev
            self._mean = torch.zeros(dim, dtype=torch.float64, device=dev)
            self._m2 = torch.zeros(dim, dim, dtype=torch.float64, device=dev)

    @property
    def dim(self) -> Optional[int]:
        """Feature dimension D (None before the first update)."""
        return self._dim

    @property
    def device(self) -> Optional[torch.device]:
        """Device holding the state (None before the first update)."""
        return self._device

    @property
    def count(self) -> Optional[int]:
        """Number of samples accumulated; None when unknown (see the class docstring)."""
        return self._n if self._count_known else None

    @property
    def count_known(self) -> bool:
        """False for statistics built from ``(mu, sigma)`` without a sample count."""
        return self._count_known

    @property
    def mean(self) -> torch.Tensor:
        """Sample mean, Tensor[D] float64."""
        if self._mean is None or self._n == 0:
            raise ValueError("FeatureStats: no samples accumulated yet (call update first)")
        return self._mean

    def _full_m2(self) -> Optional[torch.Tensor]:
        """The state's M2 with its lower triangle mirrored from the upper one (in place, once)."""
        if self._m2 is not None and self._lower_stale:
            mirror_upper_(self._m2)
            self._lower_stale = False
        return self._m2

    def _sym_m2(self, scale: float = 1.0) -> torch.Tensor:
        """A new tensor ``scale * M2`` (exactly symmetric)."""
        if self._m2 is None or self._n == 0:
            raise ValueError("FeatureStats: no samples accumulated yet (call update first)")
        m2 = self._full_m2()
        assert m2 is not None
        if m2.device.type == "cpu":  # numpy on the calling thread (see mirror_upper_)
            return torch.from_numpy(np.multiply(m2.numpy(), scale))
        return m2.clone() if scale == 1.0 else m2 * scale

    @property
    def scatter(self) -> torch.Tensor:
        """Centred scatter ``sum (x - mean)(x - mean)^T``, Tensor[D, D] float64 (exactly symmetric)."""
        self._check_count_known("scatter")
        return self._sym_m2()

    @property
    def cov(self) -> torch.Tensor:
        """Unbiased covariance ``M2 / (count - 1)``, Tensor[D, D] float64 (needs count >= 2)."""
        if self._n < 2:
            raise ValueError(f"FeatureStats: the covariance needs at least 2 samples, got {self._n}")
        return self._sym_m2(1.0 / (self._n - 1))

    @property
    def cov_biased(self) -> torch.Tensor:
        """Biased covariance ``M2 / count`` (stylegan3's convention), Tensor[D, D] float64."""
        self._check_count_known("cov_biased")
        return self._sym_m2(1.0 / self._n)

    # ----------------------------------------------------------------- update
    def _merge_moments(self, n_b: int, mean_b: torch.Tensor, m2_b: Optional[torch.Tensor]) -> None:
        """Chan et al. merge of ``(n_b, mean_b, m2_b)`` into self."""
        assert self._mean is not None and self._m2 is not None
        n_a = self._n
        n = n_a + n_b
        delta = mean_b - self._mean
        if m2_b is not None:
            self._m2.add_(m2_b)
        if n_a > 0:
            self._m2.addr_(delta, delta, alpha=n_a * n_b / n)
        self._mean.add_(delta, alpha=n_b / n)
        self._n = n

    def _chunk_step(self, x: torch.Tensor, start: int, rows: int, scratch: list[np.ndarray]) -> torch.Tensor:
        """Add rows ``[start, start + rows)`` of ``x`` to M2 and return their mean (float64, Tensor[D]).

        The chunk is centred on its own mean and followed by one extra row
        ``sqrt(n_a rows / (n_a + rows)) * (chunk mean - running mean)``, so the one rank-k
        update adds the chunk's scatter and its Chan merge term. Count and mean are not
        touched (the caller commits them), so an out-of-memory retry never counts twice.
        ``scratch`` holds the CPU float64 buffer reused by the chunks of one update call.
        ``x`` on CPU is float32 or float64 (numpy's types).
        """
        assert self._m2 is not None and self._mean is not None
        n_a = self._n
        weight = math.sqrt(n_a * rows / (n_a + rows))
        xs = x[start : start + rows]
        mean, buf = _centred_numpy(xs, scratch) if xs.device.type == "cpu" else _centred_torch(xs)
        # NaN/Inf anywhere in the chunk reaches its mean: a check in O(D), not O(N D).
        if not bool(torch.isfinite(mean).all()):
            bad = int((~torch.isfinite(x)).sum().item())
            raise ValueError(f"features: contains {bad} non-finite value(s) (NaN or Inf) out of {x.numel()}")
        torch.sub(mean, self._mean, out=buf[rows]).mul_(weight)
        scatter_update(self._m2, buf)
        return mean

    def update(self, features: Any) -> FeatureStats:
        """Accumulate a batch of feature vectors.

        Args:
            features (Tensor[N, D]): any floating dtype, any device (moved to the state's device).

        Returns:
            self, for chaining.

        Raises:
            ValueError: wrong shape, mismatched D, or NaN/Inf values (with their count).
            TypeError: integer / complex inputs.
        """
        x = as_float_tensor(features, "features")
        check_ndim(x, "features", 2, "[N, D]")
        if x.shape[1] < 1:
            raise ValueError(f"features: feature dimension D must be >= 1, got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            return self
        x = x.detach()
        self._ensure_state(int(x.shape[1]), x.device)
        assert self._device is not None and self._m2 is not None and self._mean is not None
        if x.device != self._device:
            x = x.to(self._device)
        if x.device.type == "cpu" and x.dtype not in (torch.float32, torch.float64):
            x = x.float()  # float16 / bfloat16 -> float32 is exact; numpy takes float32
        if not self._m2.is_contiguous():
            self._m2 = self._m2.contiguous()
        self._lower_stale = True
        per_chunk = self.chunk_rows or default_chunk_rows(int(x.shape[1]), x.device)
        start = 0
        rows = int(x.shape[0])
        scratch: list[np.ndarray] = []
        while start < rows:
            # only out-of-memory errors are retried, with half the rows (then kept for later calls)
            first = min(per_chunk, rows - start)

            def step(c: int, s: int = start) -> Any:
                return self._chunk_step(x, s, c, scratch)

            bmean, chunk, retries = retry_on_oom(step, first, what="FeatureStats.update")
            if retries:
                scratch.clear()
                self.chunk_rows = per_chunk = chunk
            self._mean.add_(bmean - self._mean, alpha=chunk / (self._n + chunk))
            self._n += chunk
            start += chunk
        return self

    # ------------------------------------------------------------------ merge
    def merge(self, other: FeatureStats) -> FeatureStats:
        """Merge ``other`` into ``self`` (associative and commutative up to rounding).

        Args:
            other: statistics of a disjoint set of samples with the same D.

        Returns:
            self, for chaining.
        """
        if not isinstance(other, FeatureStats):
            raise TypeError(f"other: expected FeatureStats, got {type(other).__name__}")
        other._check_count_known("merge")
        if other._n == 0:
            return self
        assert other._mean is not None and other._m2 is not None and other._dim is not None
        self._ensure_state(other._dim, other._mean.device)
        assert self._device is not None
        other_m2 = other._full_m2()
        assert other_m2 is not None
        self._merge_moments(other._n, other._mean.to(self._device), other_m2.to(self._device))
        return self

    def copy(self) -> FeatureStats:
        """Deep copy."""
        out = FeatureStats(self._dim, device=self._device, chunk_rows=self.chunk_rows)
        out._n = self._n
        out._count_known = self._count_known
        if self._mean is not None and self._m2 is not None:
            out._mean = self._mean.clone()
            out._m2 = self._m2.clone()
            out._lower_stale = self._lower_stale
        return out

    def reset(self) -> None:
        """Forget all samples (keeps D and device)."""
        self._n = 0
        self._count_known = True
        self._lower_stale = False
        if self._mean is not None and self._m2 is not None:
            self._mean.zero_()
            self._m2.zero_()

    @classmethod
    def from_features(cls, features: Any, **kwargs: Any) -> FeatureStats:
        """Statistics of ``features`` (Tensor[N, D])."""
        return cls(**kwargs).update(features)

    @classmethod
    def from_moments(cls, count: Optional[int], mean: Any, cov: Any) -> FeatureStats:
        """Build from a count, mean (Tensor[D]) and unbiased covariance (Tensor[D, D]).

        ``count=None`` means the sample count is unknown (class docstring).

        Raises:
            ValueError: NaN / Inf in ``mean`` or ``cov``, or ``cov`` not symmetric or not positive
                semi-definite beyond rounding (:func:`check_covariance`, which names the most
                negative eigenvalue).
        """
        return cls._from_moments(count, mean, cov, check="cov")

    @classmethod
    def _from_moments(
        cls,
        count: Optional[int],
        mean: Any,
        cov: Any,
        *,
        check: Optional[str],
        stored: Optional[torch.dtype] = None,
    ) -> FeatureStats:
        """:meth:`from_moments`; ``check``: the name under which ``cov`` is validated
        (:func:`check_covariance`; None: already validated by the caller)."""
        known = count is not None
        if known and (isinstance(count, bool) or not isinstance(count, int) or count < 2):
            raise ValueError(f"count: expected an integer >= 2 or None, got {count!r}")
        mu = as_float_tensor(mean, "mean").to(torch.float64)
        raw = as_float_tensor(cov, "cov")
        sigma = raw.to(device=mu.device, dtype=torch.float64)
        check_ndim(mu, "mean", 1, "[D]")
        d = int(mu.shape[0])
        if tuple(sigma.shape) != (d, d):
            raise ValueError(
                f"{check or 'cov'}: expected shape ({d}, {d}) to match mean, got {tuple(sigma.shape)}"
            )
        if check is not None:
            from fastgan._checks import check_finite

            check_finite(mu, "mean" if check == "cov" else check.replace("sigma", "mu", 1))
            check_covariance(sigma, check, stored=stored or raw.dtype)
        out = cls(d, device=mu.device)
        out._n = count if count is not None else 2
        out._count_known = known
        out._mean = mu.clone()
        out._m2 = (sigma * (out._n - 1)).contiguous()
        return out

    # ------------------------------------------------------------ distributed
    def sync(self, group: Any = None) -> FeatureStats:
        """Make these the statistics of every rank of ``group`` (in place; every rank gets the total).

        Each rank re-centres its scatter on the global mean, ``M2_i + n_i (m_i - m)(m_i - m)^T``,
        and the counts, weighted means and shifted scatters are summed with ``all_reduce``:
        exact, with no raw-moment cancellation. A no-op when torch.distributed is not
        initialised or has one rank. Ranks that saw no samples take part with zero counts.
        Every rank of ``group`` must call it.

        Returns:
            self.
        """
        from fastgan.metrics._base import agreed, all_reduce_sum, comm_device, gather_meta, world_size

        if world_size(group) == 1:
            return self
        self._check_count_known("sync")
        dev = comm_device(group, self._device)
        metas = gather_meta([self._n, self._dim or 0], group, dev)
        d = agreed((m[1] for m in metas if m[0] > 0), "FeatureStats.sync", "feature dimensions")
        if d is None:
            return self
        total = sum(m[0] for m in metas)
        if self._mean is None:
            self._ensure_state(d, dev)
        assert self._mean is not None and self._m2 is not None
        mean_local = self._mean.to(dev)
        gmean = all_reduce_sum(mean_local * float(self._n), group) / total
        delta = mean_local - gmean
        full = self._full_m2()
        assert full is not None
        shifted = full.to(dev).clone()
        if self._n > 0:
            shifted.addr_(delta, delta, alpha=float(self._n))
        all_reduce_sum(shifted, group)
        self._n = total
        self._mean = gmean.to(self._device)
        self._m2 = shifted.to(self._device).contiguous()
        self._lower_stale = False
        return self

    # ------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """``{"count": int | None, "mean": Tensor[D] | None, "m2": Tensor[D, D] | None}`` (CPU copies).

        ``count`` is None for statistics without a sample count; ``m2`` is then the covariance.
        """
        m2 = self._full_m2()
        return {
            "count": self.count,
            "mean": None if self._mean is None else self._mean.detach().cpu().clone(),
            "m2": None if m2 is None else m2.detach().cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (validated)."""
        for key in ("count", "mean", "m2"):
            if key not in state:
                raise KeyError(f"state: missing key {key!r}")
        known = state["count"] is not None
        n = int(state["count"]) if known else 2
        if n < 0:
            raise ValueError(f"state['count']: must be >= 0, got {n}")
        if state["mean"] is None:
            if n != 0:
                raise ValueError("state: count > 0 but mean is None")
            self.reset()
            return
        mean = as_float_tensor(state["mean"], "state['mean']").to(torch.float64)
        m2 = as_float_tensor(state["m2"], "state['m2']").to(torch.float64)
        check_ndim(mean, "state['mean']", 1, "[D]")
        d = int(mean.shape[0])
        if tuple(m2.shape) != (d, d):
            raise ValueError(f"state['m2']: expected shape ({d}, {d}), got {tuple(m2.shape)}")
        dev = self._device if self._device is not None else torch.device("cpu")
        self._dim = d
        self._device = dev
        self._mean = mean.to(dev).clone()
        self._m2 = m2.to(dev).contiguous().clone()
        self._lower_stale = False
        self._n = n
        self._count_known = known

    def __repr__(self) -> str:
        return f"FeatureStats(count={self.count}, dim={self._dim}, device={self._device})"
