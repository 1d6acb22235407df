"""The one protocol every stateful metric implements, and the one distributed mechanism.

A metric is a thin stateful object over pure functions (DESIGN 3.8):

* ``update(features, *, real)`` adds a batch to the real or the fake side
  (:class:`~fastgan.metrics.InceptionScore` has one side: ``update(logits, *, index=None)``);
* ``compute()`` returns the value with the library's return-type rule: a ``float`` for one
  value, a ``dict[str, float]`` with the ``KEY_*`` keys below for several;
* ``reset()`` forgets every sample;
* ``merge(other)`` adds the state of a disjoint set of samples. For sufficient statistics
  (FID's :class:`~fastgan.metrics.FeatureStats`, the Inception Score split sums) it is
  associative and commutative; for feature banks (KID, PRDC) it is concatenation, and the
  result is the same because those metrics either ignore the row order (PRDC) or draw their
  subsets from the concatenated bank (KID: merge in sample order to reproduce a single run);
* ``sync(group=None)`` makes the state of every rank of a ``torch.distributed`` group the
  global state: an all-reduce (sum) of sufficient statistics, or a tensor all-gather of feature
  banks (:func:`all_gather_rows`, rows concatenated in rank order). Nothing is pickled.
  Every rank of ``group`` must call it, once, after its last ``update``. It is a no-op when
  ``torch.distributed`` is not initialised or the group has one rank;
* ``state_dict()`` / ``load_state_dict(state)`` save and restore the state (CPU tensors and
  Python scalars, loadable with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import torch

from fastgan._checks import check_features

__all__ = [
    "KEY_COVERAGE",
    "KEY_DENSITY",
    "KEY_FID",
    "KEY_IS_MEAN",
    "KEY_IS_STD",
    "KEY_KID_MEAN",
    "KEY_KID_STD",
    "KEY_PRECISION",
    "KEY_RECALL",
    "Metric",
    "agreed",
    "all_gather_rows",
    "all_reduce_sum",
    "gather_meta",
    "world_size",
]

#: Result keys: the stable names of every value a metric returns.
KEY_FID = "fid"
KEY_KID_MEAN = "kid_mean"
KEY_KID_STD = "kid_std"
KEY_IS_MEAN = "is_mean"
KEY_IS_STD = "is_std"
KEY_PRECISION = "precision"
KEY_RECALL = "recall"
KEY_DENSITY = "density"
KEY_COVERAGE = "coverage"


# ----------------------------------------------------------------------------- distributed
def world_size(group: Any = None) -> int:
    """Ranks in ``group``; 1 when torch.distributed is unavailable or not initialised."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(group))


def comm_device(group: Any = None, device: Optional[torch.device] = None) -> torch.device:
    """Device for collective buffers: ``device`` if known, else the current GPU for NCCL, else CPU."""
    if device is not None:
        return torch.device(device)
    import torch.distributed as dist

    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(t: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Sum ``t`` over the ranks of ``group`` in place (no-op with one rank); returns ``t``."""
    if world_size(group) > 1:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t


_DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def gather_meta(values: Sequence[int], group: Any, device: torch.device) -> list[list[int]]:
    """All-gather a few integers from every rank of ``group``: one list per rank, in rank order."""
    import torch.distributed as dist

    meta = torch.tensor(list(values), dtype=torch.int64, device=device)
    metas = [torch.zeros_like(meta) for _ in range(world_size(group))]
    dist.all_gather(metas, meta, group=group)
    return [[int(v) for v in m.tolist()] for m in metas]


def agreed(values: Iterable[int], what: str, name: str) -> Optional[int]:
    """The one value the ranks that hold samples report (None if none does); different values raise."""
    seen = sorted(set(values))
    if len(seen) > 1:
        raise ValueError(f"{what}: ranks hold different {name} {seen}")
    return seen[0] if seen else None


def all_gather_rows(
    t: Optional[torch.Tensor], group: Any = None, *, device: Optional[torch.device] = None
) -> Optional[torch.Tensor]:
    """Concatenate the rows of ``t`` over the ranks of ``group``, in rank order.

    Row counts may differ per rank (zero included: pass ``None`` or a ``[0, D]`` tensor). The
    sizes are gathered first, every rank pads its rows to the largest count, one tensor
    ``all_gather`` moves the padded blocks and the padding is trimmed. Ranks holding different
    floating dtypes are promoted to a common one; different feature dimensions raise.

    Args:
        t (Tensor[n_r, D] | None): this rank's rows (floating).
        group: process group (default: the world).
        device: device of the collective buffers when ``t`` is None (default: see :func:`comm_device`).

    Returns:
        Tensor[sum_r n_r, D] on ``t``'s device (every rank gets the same tensor), ``t`` itself
        with one rank, or None when no rank holds a row.
    """
    if world_size(group) == 1:
        return t
    import torch.distributed as dist

    world = world_size(group)
    dev = t.device if t is not None else comm_device(group, device)
    rows = 0 if t is None else int(t.shape[0])
    dim = 0 if t is None or t.dim() != 2 else int(t.shape[1])
    code = -1 if t is None or rows == 0 else _DTYPES.index(t.dtype)
    metas = gather_meta([rows, dim, code], group, dev)
    counts = [m[0] for m in metas]
    d = agreed((m[1] for m in metas if m[0] > 0), "all_gather_rows", "feature dimensions")
    if d is None:
        return None
    dtype = torch.float16
    for m in metas:
        if m[2] >= 0:
            dtype = torch.promote_types(dtype, _DTYPES[m[2]])
    pad = torch.zeros((max(counts), d), dtype=dtype, device=dev)
    if rows:
        assert t is not None
        pad[:rows] = t
    parts = [torch.empty_like(pad) for _ in range(world)]
    dist.all_gather(parts, pad, group=group)
    return torch.cat([p[:r] for p, r in zip(parts, counts)])


# ----------------------------------------------------------------------------- protocol
class Metric(abc.ABC):
    """Base class of every stateful metric (module docstring: the protocol)."""

    @abc.abstractmethod
    def update(self, features: Any, *, real: bool) -> None:
        """Add a batch of features (Tensor[B, D]) to the real or the fake side."""

    @abc.abstractmethod
    def compute(self) -> Any:
        """The metric of every sample seen: a float, or a dict[str, float] with ``KEY_*`` keys."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget every sample."""

    @abc.abstractmethod
    def merge(self, other: Any) -> Metric:
        """Add the state of ``other`` (same class and configuration) in place; returns self."""

    @abc.abstractmethod
    def sync(self, group: Any = None) -> Metric:
        """Replace this rank's state by the state of all ranks of ``group``; returns self."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The state as CPU tensors and Python scalars."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state from :meth:`state_dict` output."""

    def _check_same_type(self, other: Any) -> None:
        if not isinstance(other, type(self)):
            raise TypeError(f"other: expected {type(self).__name__}, got {type(other).__name__}")


def _cat(parts: Sequence[torch.Tensor]) -> Optional[torch.Tensor]:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else torch.cat([p.to(parts[0].device) for p in parts])


class BankMetric(Metric):
    """A metric whose state is two feature banks (no compact sufficient statistic exists).

    The banks are lists of detached batches, concatenated lazily. :meth:`merge` appends the
    other banks after this one's; :meth:`sync` replaces each bank by the rank-ordered
    concatenation of every rank's bank (:func:`all_gather_rows`).
    """

    def __init__(self) -> None:
        self.real_features: list[torch.Tensor] = []
        self.fake_features: list[torch.Tensor] = []

    def update(self, features: Any, *, real: bool) -> None:
        """Append a batch ``features`` (Tensor[B, D], stored detached) to the real or fake bank."""
        name = "real features" if real else "fake features"
        t = check_features(features, name).detach()
        bank = self.real_features if real else self.fake_features
        other = self.fake_features if real else self.real_features
        ref = bank[0] if bank else (other[0] if other else None)
        if ref is not None and ref.shape[1] != t.shape[1]:
            raise ValueError(
                f"{name}: feature dimension {t.shape[1]} differs from earlier batches ({ref.shape[1]})"
            )
        bank.append(t)

    def reset(self) -> None:
        """Drop both banks."""
        self.real_features = []
        self.fake_features = []

    def _bank(self, real: bool) -> torch.Tensor:
        """The concatenated real or fake bank (Tensor[N, D]); raises when it is empty."""
        name = "real" if real else "fake"
        out = _cat(self.real_features if real else self.fake_features)
        if out is None:
            raise ValueError(
                f"{type(self).__name__}.compute: {name} bank is empty: call update(features, real={real}) first"
            )
        return out

    def merge(self, other: Any) -> BankMetric:
        """Append ``other``'s banks after this one's (in place); returns self."""
        self._check_same_type(other)
        self.real_features.extend(other.real_features)
        self.fake_features.extend(other.fake_features)
        return self

    def sync(self, group: Any = None) -> BankMetric:
        """Gather both banks from every rank of ``group`` (tensor all-gather, rank order)."""
        if world_size(group) == 1:
            return self
        dev = None
        for parts in (self.real_features, self.fake_features):
            if parts:
                dev = parts[0].device
                break
        for attr in ("real_features", "fake_features"):
            local = _cat(getattr(self, attr))
            gathered = all_gather_rows(local, group, device=dev)
            setattr(self, attr, [] if gathered is None else [gathered])
        return self

    def state_dict(self) -> dict[str, Any]:
        """``{"real": Tensor[N, D] | None, "fake": Tensor[M, D] | None}`` (CPU copies)."""
        out: dict[str, Any] = {}
        for key, parts in (("real", self.real_features), ("fake", self.fake_features)):
            bank = _cat(parts)
            out[key] = None if bank is None else bank.detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore both banks from :meth:`state_dict` output (validated)."""
        for key in ("real", "fake"):
            if key not in state:
                raise KeyError(f"state: missing key {key!r}")
        self.reset()
        for key in ("real", "fake"):
            if state[key] is not None:
                self.update(state[key], real=key == "real")
