"""Mergeable first and second moments of feature vectors (the FID sufficient statistics).

:class:`FeatureStats` keeps ``(count, mean, M2)`` in float64, where ``M2`` is the
*centered* scatter matrix ``sum_i (x_i - mean)(x_i - mean)^T``. Centered moments
are merged with the parallel update of Chan, Golub and LeVeque (1979), so the
result does not depend on batch size, batch order or how the data were split
across workers, and never suffers the cancellation of raw moments
``E[x x^T] - mean mean^T`` (features with a large common offset stay exact).

A statistics file that records only ``mu`` and ``sigma`` (pytorch-fid's format) loads as a
:class:`FeatureStats` whose :attr:`~FeatureStats.count` is ``None`` (sample count unknown):
its mean and covariance are usable for FID, but it cannot be updated, merged or synced,
because the merge weights are the counts.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch

from fastgan._checks import as_float_tensor, check_ndim
from fastgan.metrics.knn.tiles import retry_on_oom

logger = logging.getLogger(__name__)

#: Rows converted to float64 per internal chunk (halved automatically on out-of-memory).
DEFAULT_CHUNK_ROWS = 8192


def _scatter_update(m2: torch.Tensor, xc: torch.Tensor) -> None:
    """``m2 += xc^T xc`` in place (one GEMM). Module-level so tests can inject failures."""
    m2.addmm_(xc.t(), xc)


def _chunk_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 copy of ``x`` centred on its own mean, and that mean."""
    xd = x.to(torch.float64, copy=True)
    mean = xd.mean(dim=0)
    xd.sub_(mean)
    return xd, mean


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
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim: expected a positive integer or None, got {dim!r}")
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows: expected a positive integer, got {chunk_rows!r}")
        self.chunk_rows = chunk_rows
        self._n = 0
        # False: (mu, sigma) without a sample count; _n is then 2 and _m2 holds the
        # covariance itself, so cov = M2 / (n - 1) is exact.
        self._count_known = True
        self._dim: Optional[int] = dim
        self._device = torch.device(device) if device is not None else None
        self._mean: Optional[torch.Tensor] = None
        self._m2: Optional[torch.Tensor] = None

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
            raise ValueError(f"features: feature dimension {dim} does not match the accumulated dimension {self._dim}")
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

    def _sym_m2(self) -> torch.Tensor:
        if self._m2 is None or self._n == 0:
            raise ValueError("FeatureStats: no samples accumulated yet (call update first)")
        return 0.5 * (self._m2 + self._m2.t())

    @property
    def scatter(self) -> torch.Tensor:
        """Centred scatter ``sum (x - mean)(x - mean)^T``, Tensor[D, D] float64 (symmetrised)."""
        self._check_count_known("scatter")
        return self._sym_m2()

    @property
    def cov(self) -> torch.Tensor:
        """Unbiased covariance ``M2 / (count - 1)``, Tensor[D, D] float64 (needs count >= 2)."""
        if self._n < 2:
            raise ValueError(f"FeatureStats: the covariance needs at least 2 samples, got {self._n}")
        return self._sym_m2() / (self._n - 1)

    @property
    def cov_biased(self) -> torch.Tensor:
        """Biased covariance ``M2 / count`` (stylegan3's convention), Tensor[D, D] float64."""
        return self.scatter / self._n

    # ----------------------------------------------------------------- update
    def _merge_moments(self, n_b: int, mean_b: torch.Tensor, m2_b: Optional[torch.Tensor]) -> None:
        """Chan et al. merge of (n_b, mean_b, m2_b) into self (m2_b None: already added)."""
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

    def update(self, features: Any) -> "FeatureStats":
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
        if x.device != self._device:
            x = x.to(self._device)
        start = 0
        rows = int(x.shape[0])
        while start < rows:

            def step(chunk: int, start: int = start) -> torch.Tensor:
                xc, bmean = _chunk_moments(x[start : start + chunk])
                # NaN/Inf anywhere in the chunk reaches its mean: a check in O(D), not O(N D).
                if not bool(torch.isfinite(bmean).all()):
                    bad = int((~torch.isfinite(x)).sum().item())
                    raise ValueError(
                        f"features: contains {bad} non-finite value(s) (NaN or Inf) out of {x.numel()}"
                    )
                assert self._m2 is not None
                _scatter_update(self._m2, xc)
                return bmean

            # only out-of-memory errors are retried, with half the rows (then kept for later calls)
            first = min(self.chunk_rows, rows - start)
            bmean, chunk, retries = retry_on_oom(step, first, what="FeatureStats.update")
            if retries:
                self.chunk_rows = chunk
            self._merge_moments(chunk, bmean, None)
            start += chunk
        return self

    # ------------------------------------------------------------------ merge
    def merge(self, other: "FeatureStats") -> "FeatureStats":
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
        self._merge_moments(
            other._n, other._mean.to(self._device), other._m2.to(self._device)
        )
        return self

    def copy(self) -> "FeatureStats":
        """Deep copy."""
        out = FeatureStats(self._dim, device=self._device, chunk_rows=self.chunk_rows)
        out._n = self._n
        out._count_known = self._count_known
        if self._mean is not None and self._m2 is not None:
            out._mean = self._mean.clone()
            out._m2 = self._m2.clone()
        return out

    def reset(self) -> None:
        """Forget all samples (keeps D and device)."""
        self._n = 0
        self._count_known = True
        if self._mean is not None and self._m2 is not None:
            self._mean.zero_()
            self._m2.zero_()

    @classmethod
    def from_features(cls, features: Any, **kwargs: Any) -> "FeatureStats":
        """Statistics of ``features`` (Tensor[N, D])."""
        return cls(**kwargs).update(features)

    @classmethod
    def from_moments(cls, count: Optional[int], mean: Any, cov: Any) -> "FeatureStats":
        """Build from a count, mean (Tensor[D]) and unbiased covariance (Tensor[D, D]).

        ``count=None`` means the sample count is unknown (class docstring).
        """
        known = count is not None
        if known and (isinstance(count, bool) or not isinstance(count, int) or count < 2):
            raise ValueError(f"count: expected an integer >= 2 or None, got {count!r}")
        mu = as_float_tensor(mean, "mean").to(torch.float64)
        sigma = as_float_tensor(cov, "cov").to(device=mu.device, dtype=torch.float64)
        check_ndim(mu, "mean", 1, "[D]")
        d = int(mu.shape[0])
        if tuple(sigma.shape) != (d, d):
            raise ValueError(f"cov: expected shape ({d}, {d}) to match mean, got {tuple(sigma.shape)}")
        out = cls(d, device=mu.device)
        out._n = count if count is not None else 2
        out._count_known = known
        out._mean = mu.clone()
        out._m2 = sigma * (out._n - 1)
        return out

    # ------------------------------------------------------------ distributed
    def sync(self, group: Any = None) -> "FeatureStats":
        """Make these the statistics of every rank of ``group`` (in place; every rank gets the total).

        Each rank re-centres its scatter on the global mean, ``M2_i + n_i (m_i - m)(m_i - m)^T``,
        and the counts, weighted means and shifted scatters are summed with ``all_reduce``:
        exact, with no raw-moment cancellation. A no-op when torch.distributed is not
        initialised or has one rank. Ranks that saw no samples take part with zero counts.
        Every rank of ``group`` must call it.

        Returns:
            self.
        """
        from fastgan.metrics._base import all_reduce_sum, comm_device, world_size

        if world_size(group) == 1:
            return self
        self._check_count_known("sync")
        import torch.distributed as dist

        dev = comm_device(group, self._device)
        world = world_size(group)
        meta = torch.tensor([self._n, self._dim or 0], dtype=torch.int64, device=dev)
        metas = [torch.zeros_like(meta) for _ in range(world)]
        dist.all_gather(metas, meta, group=group)
        dims = {int(m[1]) for m in metas if int(m[0]) > 0}
        if len(dims) > 1:
            raise ValueError(f"FeatureStats.sync: ranks hold different feature dimensions {sorted(dims)}")
        if not dims:
            return self
        d = dims.pop()
        total = sum(int(m[0]) for m in metas)
        if self._mean is None:
            self._ensure_state(d, dev)
        assert self._mean is not None and self._m2 is not None
        mean_local = self._mean.to(dev)
        gmean = all_reduce_sum(mean_local * float(self._n), group) / total
        delta = mean_local - gmean
        shifted = self._m2.to(dev).clone()
        if self._n > 0:
            shifted.addr_(delta, delta, alpha=float(self._n))
        all_reduce_sum(shifted, group)
        self._n = total
        self._mean = gmean.to(self._device)
        self._m2 = shifted.to(self._device)
        return self

    # ------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """``{"count": int | None, "mean": Tensor[D] | None, "m2": Tensor[D, D] | None}`` (CPU copies).

        ``count`` is None for statistics without a sample count; ``m2`` is then the covariance.
        """
        return {
            "count": self.count,
            "mean": None if self._mean is None else self._mean.detach().cpu().clone(),
            "m2": None if self._m2 is None else self._m2.detach().cpu().clone(),
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
        self._m2 = m2.to(dev).clone()
        self._n = n
        self._count_known = known

    def __repr__(self) -> str:
        return f"FeatureStats(count={self.count}, dim={self._dim}, device={self._device})"
