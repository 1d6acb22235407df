"""Tile and block sizes, the one out-of-memory retry (k-NN engines, FeatureStats, CMMD) and
:func:`thread_map`, the one way CPU tiles are shared among worker threads (CMMD, sliced Wasserstein).

:func:`retry_on_oom` is the only place that catches out-of-memory errors: it calls a step
with a size (rows of a block, side of a tile, rows of a chunk) and, when the step runs out of
memory, halves the size and calls it again. Steps must therefore commit their results only
when they finish, so that a retried step never counts anything twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, Protocol, TypeVar

import torch

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Budget of one float32 row block in bytes (``default_block_rows``).
_DEFAULT_BLOCK_BYTES = {"cpu": 256 << 20, "cuda": 1 << 30}


class ProgressBar(Protocol):
    """What the engines need of a progress bar (``tqdm`` provides it)."""

    def update(self, n: int = 1) -> object: ...


def chunk_rows(dim: int, budget_elems: int = 1 << 22) -> int:
    """Rows of ``dim`` columns that fit in ``budget_elems`` elements (at least 1)."""
    return max(1, budget_elems // max(1, dim))


def default_block_rows(n_cols: int, device: torch.device, block_size: Optional[int]) -> int:
    """Rows per block: ``block_size`` if given, else ~256 MiB (CPU) / 1 GiB (CUDA) of float32 per block."""
    if block_size is not None:
        return max(1, int(block_size))
    budget = _DEFAULT_BLOCK_BYTES.get(device.type, 256 << 20)
    return int(min(8192, max(64, budget // (4 * max(1, n_cols)))))


def default_square_block(device: torch.device, block_size: Optional[int]) -> int:
    """Side of the square distance tiles (``block_size`` if given)."""
    if block_size is not None:
        return max(1, int(block_size))
    # CPU: 2048 x 2048 float32 tiles (16 MiB) stay in a typical last-level cache for the
    # passes that follow the GEMM; CUDA: large tiles keep the GPU busy
    return 8192 if device.type == "cuda" else 2048


def is_oom(exc: BaseException) -> bool:
    """True for out-of-memory errors of the CPU allocator or CUDA."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return "out of memory" in msg or "not enough memory" in msg or ("alloc" in msg and "memory" in msg)
    return False


def retry_on_oom(step: Callable[[int], T], size: int, *, what: str) -> tuple[T, int, int]:
    """Run ``step(size)``, halving ``size`` after each out-of-memory error until it succeeds.

    Args:
        step: the work, called with the current size; must not commit partial results.
        size: initial size (rows, tile side, ...), at least 1.
        what: name of the caller for the warning logged on each retry.

    Returns:
        ``(step's result, the size that succeeded, number of retries)``.

    Raises:
        Whatever ``step`` raises that is not an out-of-memory error, and an out-of-memory
        error at size 1.
    """
    size = max(1, int(size))
    retries = 0
    while True:
        try:
            return step(size), size, retries
        except Exception as exc:  # noqa: BLE001 - re-raised unless it is an OOM
            if not is_oom(exc) or size == 1:
                raise
            retries += 1
            new = max(1, size // 2)
            logger.warning("%s: out of memory with size %d; retrying with %d", what, size, new)
            size = new
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.empty_cache()


class BlockRunner:
    """Runs ``fn(start, stop)`` over row blocks of ``range(n)``, halving the block on out-of-memory.

    Args:
        rows: initial rows per block.
        progress: bar advanced by each finished block's rows.
        what: name used in the out-of-memory warning.

    Attributes:
        rows: rows per block after any retries.
        retries: number of out-of-memory retries so far.
    """

    def __init__(self, rows: int, progress: Optional[ProgressBar] = None, what: str = "k-NN block") -> None:
        self.rows = max(1, int(rows))
        self.progress = progress
        self.what = what
        self.retries = 0

    def run(self, n: int, fn: Callable[[int, int], None]) -> None:
        """Call ``fn(start, stop)`` for consecutive blocks covering ``0..n``."""
        start = 0
        while start < n:

            def block(rows: int, s: int = start) -> None:
                fn(s, min(n, s + rows))

            _, self.rows, retries = retry_on_oom(block, self.rows, what=self.what)
            self.retries += retries
            stop = min(n, start + self.rows)
            if self.progress is not None:
                self.progress.update(stop - start)
            start = stop


def _per_thread_settings() -> bool:
    """True when ATen's parallel backend is OpenMP, whose thread count is a per-thread setting
    (the native backend refuses a change once its pool has started: the work then runs in the
    calling thread)."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def thread_map(fn: Callable[[Any], T], items: Sequence[Any], workers: int) -> list[T]:
    """``[fn(item) for item in items]`` on ``workers`` threads whose torch operations run single-threaded.

    For CPU work made of a few large torch/BLAS/numpy calls that release the GIL: the items are
    shared dynamically among the threads, so there is no thread barrier per operation (which
    stalls on a busy machine). Each worker sets its intra-op threads to 1 on its first item;
    the caller's setting is restored at the end. Results are in the order of ``items``.
    """
    if workers <= 1 or len(items) <= 1 or not _per_thread_settings():
        return [fn(item) for item in items]
    threads = torch.get_num_threads()
    local = threading.local()

    def run(item: Any) -> T:
        if not getattr(local, "ready", False):
            torch.set_num_threads(1)
            local.ready = True
        return fn(item)

    try:
        with ThreadPoolExecutor(min(workers, len(items))) as pool:
            return list(pool.map(run, items))
    finally:
        torch.set_num_threads(threads)
