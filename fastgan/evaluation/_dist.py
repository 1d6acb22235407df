"""The ``torch.distributed`` helpers of :func:`fastgan.evaluate`: rank and world size, collective
failure handling, the shared real / fake banks and the row counts over every rank."""

from __future__ import annotations

from typing import Any, Optional

import torch

from fastgan.metrics._base import BankMetric


def _rank_world(group: Any) -> tuple[int, int]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        if group is not None:
            raise ValueError("group: given, but torch.distributed is not initialised")
        return 0, 1
    return int(dist.get_rank(group)), int(dist.get_world_size(group))


def _all_ok(ok: bool, group: Any, world: int, device: Optional[torch.device]) -> bool:
    """True when every rank reports ok (one all-reduce of a flag; no-op with one rank)."""
    if world == 1:
        return ok
    import torch.distributed as dist

    from fastgan.metrics._base import comm_device

    flag = torch.tensor([0 if ok else 1], dtype=torch.int64, device=comm_device(group, device))
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=group)
    return int(flag.item()) == 0


def _collective(fn: Any, group: Any, world: int, device: Optional[torch.device], what: str) -> Any:
    """Run a rank-local step; if it fails on any rank, every rank raises (no rank waits forever).

    The failing rank re-raises its own exception; the others raise a ValueError that says so.
    """
    try:
        out = fn()
    except BaseException:
        _all_ok(False, group, world, device)
        raise
    if not _all_ok(True, group, world, device):
        raise ValueError(f"{what}: failed on another rank (its error is printed by that rank)")
    return out


class _Banks(BankMetric):
    """The real and fake rows of one array pair: gathered from every rank by :meth:`BankMetric.sync`
    (one tensor all-gather per side, rank order = the single-process order), then shared by every
    bank metric (KID, PRDC, pr, CMMD, ...) instead of one gather per metric."""

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Tensor[N, D] real rows, Tensor[M, D] fake rows)."""
        return self._bank(real=True), self._bank(real=False)


def _rows(emb: Any, group: Any, world: int, device: Optional[torch.device]) -> dict[str, int]:
    """Rows of an :class:`Embedding` over all ranks: ``offset`` (of this rank's first row),
    ``local``, ``total`` (rows embedded: skipped files excluded) and ``skipped`` (all ranks).

    One all-gather of two integers per rank; every rank must call it in the same order.
    """
    arrays = getattr(emb, "arrays", {}) or {}
    local = int(next(iter(arrays.values())).shape[0]) if arrays else 0
    skipped = len(getattr(emb, "skipped", []) or [])
    if world == 1:
        return {"offset": 0, "local": local, "total": local, "skipped": skipped}
    from fastgan.metrics._base import comm_device, gather_meta

    metas = gather_meta([local, skipped], group, comm_device(group, device))  # in rank order
    rank = _rank_world(group)[0]
    return {
        "offset": sum(m[0] for m in metas[:rank]),
        "local": local,
        "total": sum(m[0] for m in metas),
        "skipped": sum(m[1] for m in metas),
    }
