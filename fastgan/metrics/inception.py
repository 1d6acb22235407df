"""Inception Score (Salimans et al., 2016) from classifier logits or probabilities.

IS = exp( E_x KL( p(y|x) || p(y) ) ), computed on ``splits`` disjoint groups of
samples; the result is the mean and the standard deviation over the groups.

Per split s with samples S_s (n_s of them), write q_s = (1/n_s) sum_{x in S_s} p(.|x).
Then

    log IS_s = (1/n_s) sum_{x in S_s} sum_c p_c(x) log p_c(x)  -  sum_c q_{s,c} log q_{s,c},

so the sufficient statistic of a split is ``(n_s, sum_x p(.|x), sum_x sum_c p log p)``
(DESIGN 7). :class:`InceptionScore` keeps exactly these sums in float64; they add under
:meth:`InceptionScore.merge`, which is therefore associative and commutative.

Conventions (Matches: torch-fidelity ``isc_features_to_metric`` and the original
TF code of Salimans et al., with ``shuffle=False``):

* splits are contiguous chunks in input order, chunk s = rows
  ``[floor(s*N/S), floor((s+1)*N/S))``; with a remainder (N not divisible by S) the
  chunk sizes differ by at most one, the larger chunks coming later
  (e.g. N=10, S=3 -> sizes 3, 3, 4);
* the returned std is the population std over splits (ddof=0, numpy's ``np.std``
  default, as in both references);
* torch-fidelity shuffles the rows first with ``np.random.RandomState(2020)``;
  ``preset="torch-fidelity"`` (or ``order=torch_fidelity_order(N)``) reproduces that exactly
  (the preset's ``is_splits`` and ``is_shuffle_seed``, :mod:`fastgan.features.presets`);
* logits go through one fused float64 pass per block of rows (:func:`split_sums`): row
  maximum, ``exp(x - max)``, and the split sums, with ``sum_c p log p`` from the log-sum-exp
  identity, so very confident logits never produce ``0*log 0`` NaNs (0 log 0 is taken as 0
  everywhere) and no float32 rounding enters the result;
* for the Inception network, the original code (and torch-fidelity) use the 1008-way
  logits *without* the fc bias (:class:`fastgan.features.InceptionV3FID` with
  ``output="logits_unbiased"``).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional

import numpy as np
import torch

from fastgan._checks import as_float_tensor, check_finite, check_ndim, check_positive_int
from fastgan.metrics._base import (
    KEY_IS_MEAN,
    KEY_IS_STD,
    Metric,
    agreed,
    all_reduce_sum,
    comm_device,
    gather_meta,
    world_size,
)
from fastgan.metrics.conventions import PresetLike, get_conventions

__all__ = [
    "inception_score",
    "InceptionScore",
    "split_index",
    "split_sums",
    "torch_fidelity_order",
    "log_probs",
]

InputKind = Literal["logits", "probs"]


def _prob_tolerance(dtype: torch.dtype) -> float:
    # Row sums of a softmax computed in `dtype` are off by a few ulps times log(C);
    # sqrt(eps) accepts every honest softmax output and rejects unnormalised scores.
    return max(float(torch.finfo(dtype).eps) ** 0.5, 1e-6)


def _check_logits(x: Any, name: str) -> torch.Tensor:
    """A floating Tensor[N, C] with C >= 2 (finiteness is checked by the consumer)."""
    t = as_float_tensor(x, name)
    check_ndim(t, name, 2, "[N, C]")
    if t.shape[1] < 2:
        raise ValueError(f"{name}: needs at least 2 classes (columns), got shape {tuple(t.shape)}")
    return t.detach()


def log_probs(x: Any, input: InputKind = "logits", name: str = "logits_or_probs") -> torch.Tensor:
    """Validated log-probabilities in float64.

    Args:
        x (Tensor[N, C]): logits (any real values) or probabilities (rows on the simplex).
        input: ``"logits"`` (log-softmax is applied) or ``"probs"`` (validated: non-negative,
            rows summing to 1 within sqrt(eps); then renormalised exactly and logged).
        name: argument name for error messages.

    Returns:
        Tensor[N, C] float64 log p(y|x) (may contain -inf where p == 0).
    """
    if input not in ("logits", "probs"):
        raise ValueError(f"input: must be 'logits' or 'probs', got {input!r}")
    t = _check_logits(x, name)
    check_finite(t, name)
    if input == "logits":
        return torch.log_softmax(t.to(torch.float64), dim=1)
    return torch.log(_probs(t, name))


def _probs(x: Any, name: str) -> torch.Tensor:
    """Validated probabilities (Tensor[N, C]), renormalised exactly in float64 (see :func:`log_probs`)."""
    t = _check_logits(x, name)
    check_finite(t, name)
    tol = _prob_tolerance(t.dtype)
    if bool((t < 0).any()):
        raise ValueError(f"{name}: input='probs' but {int((t < 0).sum())} entries are negative")
    sums = t.to(torch.float64).sum(dim=1)
    worst = float((sums - 1).abs().max())
    if worst > tol:
        raise ValueError(
            f"{name}: input='probs' but rows do not sum to 1 (max |sum - 1| = {worst:.3g} > {tol:.3g}); "
            "pass input='logits' for unnormalised scores"
        )
    return t.to(torch.float64) / sums[:, None]


#: Rows per block of the fused logits pass: about this many float64 elements (1 MiB), so the
#: block's temporaries stay in cache from one pass to the next.
BLOCK_ELEMS = 1 << 17


def split_sums(
    logits: torch.Tensor, sid: torch.Tensor, splits: int, *, name: str = "logits"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-split sufficient statistics of the Inception Score from logits, in one fused pass.

    For each row, with ``m = max_c x_c``, ``t = x - m`` (float64), ``e = exp(t)`` and
    ``s = sum_c e_c``: ``p = e / s``, ``log p = t - log s`` and therefore

        sum_c p_c log p_c = (sum_c e_c t_c) / s - log s,

    both terms <= 0 (no cancellation). ``sum_p`` of a split is ``W @ e`` with
    ``W[split(i), i] = 1 / s_i``, a GEMM that never materialises ``p``. Rows are processed in
    blocks of about :data:`BLOCK_ELEMS` float64 elements; every quantity is float64 (the
    logits' own dtype only for the row maximum, which is exact).

    Args:
        logits (Tensor[N, C]): finite logits, any floating dtype.
        sid (Tensor[N] int64): split of each row, in ``[0, splits)``.
        splits: number of splits S.
        name: argument name for error messages.

    Returns:
        ``(count Tensor[S] int64, sum_p Tensor[S, C] float64, sum_plogp Tensor[S] float64)``
        on the device of ``logits``.

    Raises:
        ValueError: NaN or +-Inf logits (with their count).
    """
    n, c = int(logits.shape[0]), int(logits.shape[1])
    dev = logits.device
    sid = sid.to(device=dev, dtype=torch.int64)
    count = torch.zeros(splits, dtype=torch.int64, device=dev)
    count.index_add_(0, sid, torch.ones_like(sid))
    sum_p = torch.zeros(splits, c, dtype=torch.float64, device=dev)
    sum_plogp = torch.zeros(splits, dtype=torch.float64, device=dev)
    block = min(n, max(1, BLOCK_ELEMS // c))
    # block buffers allocated once per call: no allocator round trip (page faults) per block
    t_buf = torch.empty(block, c, dtype=torch.float64, device=dev)
    e_buf = torch.empty_like(t_buf)
    w_buf = torch.empty(splits, block, dtype=torch.float64, device=dev)
    cols = torch.arange(block, device=dev)
    for a in range(0, n, block):
        xb = logits[a : a + block]
        rows = int(xb.shape[0])
        t, e, w = t_buf[:rows], e_buf[:rows], w_buf[:, :rows]
        torch.sub(xb, xb.amax(dim=1, keepdim=True).to(torch.float64), out=t)  # float64 x - m
        torch.exp(t, out=e)
        s = e.sum(dim=1)
        plogp = t.mul_(e).sum(dim=1).div_(s).sub_(s.log())
        # Any NaN/Inf logit makes its row's result NaN (inf - inf, 0 * -inf, NaN max).
        if not bool(torch.isfinite(plogp).all()):
            check_finite(logits, name)
        sb = sid[a : a + rows]
        w.zero_()
        w[sb, cols[:rows]] = s.reciprocal_()
        sum_p.addmm_(w, e)
        sum_plogp.index_add_(0, sb, plogp)
    return count, sum_p, sum_plogp


def _prob_split_sums(
    probs: torch.Tensor, sid: torch.Tensor, splits: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`split_sums` for validated float64 probabilities (``0 log 0 = 0``)."""
    dev = probs.device
    sid = sid.to(device=dev, dtype=torch.int64)
    count = torch.zeros(splits, dtype=torch.int64, device=dev).index_add_(0, sid, torch.ones_like(sid))
    sum_p = torch.zeros(splits, probs.shape[1], dtype=torch.float64, device=dev).index_add_(0, sid, probs)
    plogp = torch.special.xlogy(probs, probs).sum(dim=1)
    sum_plogp = torch.zeros(splits, dtype=torch.float64, device=dev).index_add_(0, sid, plogp)
    return count, sum_p, sum_plogp


def _sums(
    x: torch.Tensor, input: InputKind, sid: torch.Tensor, splits: int, name: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if input == "logits":
        return split_sums(x, sid, splits, name=name)
    return _prob_split_sums(x, sid, splits)


def split_index(index: torch.Tensor, num_samples: Optional[int], splits: int) -> torch.Tensor:
    """Split of each global sample index.

    With ``num_samples = N`` known: contiguous chunks, split(j) = the s with
    ``floor(s*N/S) <= j < floor((s+1)*N/S)``, i.e. ``s = floor(((j+1)*S - 1) / N)``.
    With ``num_samples=None`` (streaming, N unknown): round robin, split(j) = j mod S.

    Args:
        index (Tensor[B] int64): global sample indices.
        num_samples: total number of samples N, or None.
        splits: number of splits S.

    Returns:
        Tensor[B] int64 split ids in ``[0, S)``.
    """
    index = index.to(torch.int64)
    if num_samples is None:
        return torch.remainder(index, splits)
    if bool((index < 0).any()) or bool((index >= num_samples).any()):
        raise ValueError(f"sample indices must lie in [0, num_samples={num_samples})")
    return torch.div((index + 1) * splits - 1, num_samples, rounding_mode="floor")


def torch_fidelity_order(n: int, seed: int = 2020) -> torch.Tensor:
    """The row permutation torch-fidelity applies before splitting (``shuffle=True``).

    It is numpy's legacy ``RandomState(seed).permutation(n)``; reproduced here only so
    results can be compared with that library. Returns Tensor[n] int64.
    """
    check_positive_int(n, "n")
    return torch.from_numpy(np.random.RandomState(seed).permutation(n).astype(np.int64))


class InceptionScore(Metric):
    """Mergeable Inception Score state: per split ``(n, sum p, sum p log p)`` in float64.

    Implements the :class:`~fastgan.metrics.Metric` protocol with one side:
    ``update(logits, *, index=None)``. :meth:`merge` adds the sums and :meth:`sync`
    all-reduces them over ``torch.distributed`` ranks.

    Args:
        splits: number of splits S (default 10).
        num_samples: total number of samples N if known. Then samples are assigned to
            contiguous chunks by global index exactly as :func:`inception_score`
            does, and ``compute()`` checks that N samples were seen. If None, sample j
            goes to split ``j mod S`` (the same estimator on a fixed re-ordering of the
            data; the value differs from the contiguous one in its sampling noise only).
        input: ``"logits"`` or ``"probs"`` (see :func:`inception_score`).
        device: where the sums live (default: device of the first update).
        preset: ``"pytorch-fid"`` (None: fastgan's defaults), ``"torch-fidelity"`` or
            ``"clean-fid"``: ``splits`` (when None) and the row shuffle of
            :mod:`fastgan.features.presets`. A shuffling preset (``"torch-fidelity"``) needs
            ``num_samples``: global sample j then goes to the split of its position in
            ``RandomState(seed).permutation(N)``, exactly as that reference splits.
        shuffle_seed: the preset's ``is_shuffle_seed`` given as a value (an int, or None: no
            shuffle); the default ``"preset"`` takes it from ``preset``.

    Samples get consecutive global indices in arrival order on each rank; pass ``index=``
    to :meth:`update` (e.g. the dataset indices on each distributed rank) to make the
    assignment independent of arrival order and of the rank.

    >>> m = InceptionScore(splits=2, num_samples=4)
    >>> m.update(torch.eye(4)[:2] * 50); m.update(torch.eye(4)[2:] * 50)
    >>> round(m.compute()["is_mean"], 3)
    2.0
    """

    def __init__(
        self,
        splits: Optional[int] = None,
        num_samples: Optional[int] = None,
        input: InputKind = "logits",
        device: Optional[torch.device | str] = None,
        *,
        preset: PresetLike = None,
        shuffle_seed: Optional[int] | str = "preset",
    ) -> None:
        p = get_conventions(preset)
        self.splits = check_positive_int(p.is_splits if splits is None else splits, "splits")
        self.num_samples = None if num_samples is None else check_positive_int(num_samples, "num_samples")
        if self.num_samples is not None and self.num_samples < self.splits:
            raise ValueError(f"num_samples ({self.num_samples}) must be >= splits ({self.splits})")
        if shuffle_seed is not None and not isinstance(shuffle_seed, int):
            if shuffle_seed != "preset":
                raise ValueError(f"shuffle_seed: expected an int, None or 'preset', got {shuffle_seed!r}")
            shuffle_seed = p.is_shuffle_seed
        self.shuffle_seed: Optional[int] = shuffle_seed
        self._position: Optional[torch.Tensor] = None  # global index -> position after the shuffle
        if self.shuffle_seed is not None:
            if self.num_samples is None:
                raise ValueError(
                    f"num_samples: {'preset ' + repr(p.name) if shuffle_seed == 'preset' else 'shuffle_seed'} shuffles the rows with "
                    f"RandomState({self.shuffle_seed}).permutation(N) before splitting, which needs N; "
                    "pass num_samples=N"
                )
            perm = torch_fidelity_order(self.num_samples, self.shuffle_seed)
            self._position = torch.empty_like(perm)
            self._position[perm] = torch.arange(self.num_samples)
        if input not in ("logits", "probs"):
            raise ValueError(f"input: must be 'logits' or 'probs', got {input!r}")
        self.input: InputKind = input
        self.device = None if device is None else torch.device(device)
        self.reset()

    def reset(self) -> None:
        """Forget every sample."""
        self.count: Optional[torch.Tensor] = None  # [S] int64
        self.sum_p: Optional[torch.Tensor] = None  # [S, C] float64
        self.sum_plogp: Optional[torch.Tensor] = None  # [S] float64
        self.next_index = 0

    def _init(self, num_classes: int, device: torch.device) -> None:
        dev = self.device if self.device is not None else device
        self.count = torch.zeros(self.splits, dtype=torch.int64, device=dev)
        self.sum_p = torch.zeros(self.splits, num_classes, dtype=torch.float64, device=dev)
        self.sum_plogp = torch.zeros(self.splits, dtype=torch.float64, device=dev)

    @property
    def num_classes(self) -> Optional[int]:
        return None if self.sum_p is None else int(self.sum_p.shape[1])

    def update(self, logits: Any, *, index: Optional[torch.Tensor] = None) -> None:  # type: ignore[override]
        """Add a batch.

        Args:
            logits (Tensor[B, C]): logits, or probabilities when ``input="probs"``.
            index (Tensor[B] int64, optional): global indices of these samples; default
                the next B consecutive indices.
        """
        x = _check_logits(logits, "logits") if self.input == "logits" else _probs(logits, "logits")
        b, c = x.shape
        if self.sum_p is None:
            self._init(c, x.device)
        elif c != self.num_classes:
            raise ValueError(f"logits: expected {self.num_classes} classes, got {c}")
        assert self.count is not None and self.sum_p is not None and self.sum_plogp is not None
        dev = self.sum_p.device
        x = x.to(dev)
        if index is None:
            index = torch.arange(self.next_index, self.next_index + b, device=dev)
            self.next_index += b
        else:
            index = torch.as_tensor(index, device=dev)
            if index.shape != (b,):
                raise ValueError(f"index: expected shape ({b},), got {tuple(index.shape)}")
        if self._position is not None:
            assert self.num_samples is not None  # the shuffle needs it (checked in __init__)
            if bool((index < 0).any()) or bool((index >= self.num_samples).any()):
                raise ValueError(f"sample indices must lie in [0, num_samples={self.num_samples})")
            index = self._position.to(dev)[index]
        sid = self._split_ids(index)
        count, sum_p, sum_plogp = _sums(x, self.input, sid, self.splits, "logits")
        self.count += count
        self.sum_p += sum_p
        self.sum_plogp += sum_plogp

    def _split_ids(self, index: torch.Tensor) -> torch.Tensor:
        """The split of each global (post-shuffle) sample index (:func:`split_index`; a subclass
        may assign splits otherwise, e.g. fixed-size chunks: :class:`fastgan.metrics.adm.ADMInceptionScore`)."""
        return split_index(index, self.num_samples, self.splits)

    def merge(self, other: InceptionScore) -> InceptionScore:
        """Add ``other``'s sums into this state (in place) and return self."""
        self._check_same_type(other)
        if (other.splits, other.num_samples, other.shuffle_seed) != (
            self.splits,
            self.num_samples,
            self.shuffle_seed,
        ):
            raise ValueError(
                "other: split configuration differs "
                f"(splits {self.splits} vs {other.splits}, num_samples {self.num_samples} vs {other.num_samples}, "
                f"shuffle seed {self.shuffle_seed} vs {other.shuffle_seed})"
            )
        if other.sum_p is None:
            return self
        if self.sum_p is None:
            self._init(int(other.sum_p.shape[1]), other.sum_p.device)
        assert self.count is not None and self.sum_p is not None and self.sum_plogp is not None
        assert other.count is not None and other.sum_plogp is not None
        if other.sum_p.shape != self.sum_p.shape:
            raise ValueError(f"other: class count differs ({other.sum_p.shape[1]} vs {self.sum_p.shape[1]})")
        dev = self.sum_p.device
        self.count += other.count.to(dev)
        self.sum_p += other.sum_p.to(dev)
        self.sum_plogp += other.sum_plogp.to(dev)
        self.next_index += other.next_index
        return self

    def sync(self, group: Any = None) -> InceptionScore:
        """Sum the state over the ranks of ``group`` (in place; all-reduce of the split sums).

        A no-op when torch.distributed is not initialised or has one rank. Ranks that saw no
        samples take part with zero sums. Every rank of ``group`` must call it.
        """
        if world_size(group) == 1:
            return self
        dev = comm_device(group, None if self.sum_p is None else self.sum_p.device)
        metas = gather_meta([self.num_classes or 0, self.next_index], group, dev)
        classes = agreed((m[0] for m in metas if m[0] > 0), "InceptionScore.sync", "class counts")
        if classes is None:
            return self
        if self.sum_p is None:
            self._init(classes, dev)
        assert self.count is not None and self.sum_p is not None and self.sum_plogp is not None
        for t in (self.count, self.sum_p, self.sum_plogp):
            # collectives run on ``dev``; the state keeps its own device
            buf = all_reduce_sum(t.to(dev), group)
            t.copy_(buf)
        self.next_index = sum(m[1] for m in metas)
        return self

    def state_dict(self) -> dict[str, Any]:
        """``{"count": Tensor[S] | None, "sum_p": Tensor[S, C] | None, "sum_plogp": Tensor[S] | None,
        "next_index": int}`` (CPU copies) plus the split configuration, checked on load."""

        def cpu(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t.detach().cpu().clone()

        return {
            "splits": self.splits,
            "num_samples": self.num_samples,
            "shuffle_seed": self.shuffle_seed,
            "count": cpu(self.count),
            "sum_p": cpu(self.sum_p),
            "sum_plogp": cpu(self.sum_plogp),
            "next_index": self.next_index,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` output (same ``splits`` and ``num_samples`` required)."""
        for key in ("splits", "num_samples", "count", "sum_p", "sum_plogp", "next_index"):
            if key not in state:
                raise KeyError(f"state: missing key {key!r}")
        seed = state.get("shuffle_seed")  # absent in states saved before presets: no shuffle
        if (state["splits"], state["num_samples"], seed) != (
            self.splits,
            self.num_samples,
            self.shuffle_seed,
        ):
            raise ValueError(
                "state: split configuration differs "
                f"(splits {self.splits} vs {state['splits']}, num_samples {self.num_samples} vs {state['num_samples']}, "
                f"shuffle seed {self.shuffle_seed} vs {seed})"
            )
        self.reset()
        if state["sum_p"] is None:
            return
        sum_p = torch.as_tensor(state["sum_p"], dtype=torch.float64)
        if sum_p.dim() != 2 or sum_p.shape[0] != self.splits:
            raise ValueError(f"state['sum_p']: expected shape [{self.splits}, C], got {tuple(sum_p.shape)}")
        self._init(int(sum_p.shape[1]), torch.device("cpu"))
        assert self.count is not None and self.sum_p is not None and self.sum_plogp is not None
        self.count.copy_(torch.as_tensor(state["count"], dtype=torch.int64).reshape(self.splits))
        self.sum_p.copy_(sum_p)
        self.sum_plogp.copy_(torch.as_tensor(state["sum_plogp"], dtype=torch.float64).reshape(self.splits))
        self.next_index = int(state["next_index"])

    def split_scores(self) -> torch.Tensor:
        """Tensor[S] float64: the Inception Score of each split."""
        if self.sum_p is None:
            raise RuntimeError("InceptionScore.compute: no samples were added")
        assert self.count is not None and self.sum_plogp is not None
        total = int(self.count.sum())
        if self.num_samples is not None and total != self.num_samples:
            raise RuntimeError(
                f"InceptionScore: num_samples={self.num_samples} but {total} samples were added"
            )
        if bool((self.count == 0).any()):
            empty = int((self.count == 0).sum())
            raise RuntimeError(f"InceptionScore: {empty} of {self.splits} splits are empty; add more samples")
        n = self.count.to(torch.float64)
        q = self.sum_p / n[:, None]
        log_is = self.sum_plogp / n - torch.special.xlogy(q, q).sum(dim=1)
        # KL >= 0 mathematically; clamp the rounding residue so IS >= 1 exactly.
        return log_is.clamp_min(0).exp()

    def compute(self) -> dict[str, float]:
        """``{"is_mean", "is_std"}`` over splits (floats); std is the population std (ddof=0)."""
        scores = self.split_scores()
        return {KEY_IS_MEAN: float(scores.mean()), KEY_IS_STD: float(scores.std(correction=0))}


def inception_score(
    logits_or_probs: Any,
    splits: Optional[int] = None,
    input: InputKind = "logits",
    order: Optional[torch.Tensor] = None,
    *,
    preset: PresetLike = None,
) -> dict[str, float]:
    """Inception Score: mean and std over splits.

    Args:
        logits_or_probs (Tensor[N, C]): classifier logits (default) or probabilities.
            For Inception-v3 use the 1008-way logits without fc bias
            (``InceptionV3FID(output="logits_unbiased")``) to match the published numbers.
        splits: number of contiguous chunks S (1 <= S <= N; None: the preset's, 10).
        input: ``"logits"`` (softmax in float64, fused with the split sums) or ``"probs"`` (rows must be
            non-negative and sum to 1 within sqrt(eps) of the input dtype).
        order (Tensor[N] int64, optional): a permutation applied to the rows before
            splitting (``torch_fidelity_order(N)`` reproduces torch-fidelity's shuffle).
            None: the preset's shuffle (``RandomState(is_shuffle_seed).permutation(N)``), or
            none; pass ``torch.arange(N)`` to keep the input order under a shuffling preset.
        preset: ``"pytorch-fid"`` (None: fastgan's defaults, contiguous chunks in input order),
            ``"torch-fidelity"`` (its shuffle with seed 2020, 10 splits) or ``"clean-fid"``
            (which has no IS: fastgan's defaults); :mod:`fastgan.features.presets`.

    Returns:
        ``{"is_mean": mean, "is_std": std}`` of the per-split scores (floats); std with
        divisor S (ddof=0).

    Matches: Salimans et al. 2016 (original TF code) and torch-fidelity 0.4.0
    ``isc_features_to_metric``: chunks ``[floor(s N/S), floor((s+1) N/S))``, ``np.std``
    (with ``preset="torch-fidelity"`` its default ``samples_shuffle=True``, ``rng_seed=2020``).

    >>> out = inception_score(torch.zeros(20, 5), splits=2)  # uniform predictions
    >>> round(out["is_mean"], 9), round(out["is_std"], 9)
    (1.0, 0.0)
    """
    p = get_conventions(preset)
    splits = check_positive_int(p.is_splits if splits is None else splits, "splits")
    if input not in ("logits", "probs"):
        raise ValueError(f"input: must be 'logits' or 'probs', got {input!r}")
    name = "logits_or_probs"
    x = _check_logits(logits_or_probs, name) if input == "logits" else _probs(logits_or_probs, name)
    n = x.shape[0]
    if n < splits:
        raise ValueError(f"logits_or_probs: needs at least splits={splits} rows, got {n}")
    if order is None and p.is_shuffle_seed is not None:
        order = torch_fidelity_order(n, p.is_shuffle_seed)
    if order is not None:
        order = torch.as_tensor(order, device=x.device).to(torch.int64)
        if order.shape != (n,) or not torch.equal(
            torch.sort(order).values, torch.arange(n, device=order.device)
        ):
            raise ValueError(f"order: must be a permutation of range({n})")
        x = x[order]
    state = InceptionScore(splits=splits, num_samples=n, input=input)
    sid = split_index(torch.arange(n, device=x.device), n, splits)
    state.count, state.sum_p, state.sum_plogp = _sums(x, input, sid, splits, name)
    state.next_index = n
    out = state.compute()
    if not math.isfinite(out[KEY_IS_MEAN]):
        raise FloatingPointError("inception_score: non-finite result")
    return out
