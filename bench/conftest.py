"""Benchmark harness: ratios against baselines measured in the same run.

pytest-benchmark times fastgan's own op (``benchmark`` fixture, tracked across
runs). Baselines are timed in the same test with :func:`timeit`, and each test
records its numbers with the ``record`` fixture; at the end of the session they
are written to ``bench/results/<device>.json`` together with the device name and
library versions.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

# the input builders shared with the tests (tests/cases.py); appended, so bench's conftest stays first
_TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)

RESULTS: dict[str, dict[str, Any]] = {}


def _steady_heap() -> None:
    """Keep freed buffers in the process heap (glibc only).

    By default glibc returns large freed blocks to the OS and the next allocation of the same
    size page-faults them back in, at a cost that depends on the allocator's history: CPU times
    of allocation-heavy steps (a loss forward + backward allocates every gradient) then jump
    between two modes from one repeat to the next. Raising the trim and mmap thresholds makes
    freed memory reused instead, for fastgan and every baseline alike, so medians are stable.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_trim_threshold, 1 << 30)
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum on 64-bit
    except (OSError, AttributeError):
        pass


_steady_heap()


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timeit(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, min_time: float = 0.0) -> float:
    """Median wall time of ``fn()`` in seconds (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    _sync()
    times = []
    start_all = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start_all) < min_time:
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 * repeat:
            break
    times.sort()
    return times[len(times) // 2]


def scipy_sqrtm(m: Any) -> Any:
    """``scipy.linalg.sqrtm(m)`` as pytorch-fid calls it (``disp=False`` where the installed scipy has it;
    newer scipy releases removed the argument)."""
    import inspect

    import scipy.linalg

    if "disp" in inspect.signature(scipy.linalg.sqrtm).parameters:
        return scipy.linalg.sqrtm(m, disp=False)[0]
    return scipy.linalg.sqrtm(m)


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} cpu x{os.cpu_count()} (torch threads {torch.get_num_threads()})"


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """``record(key, **numbers)`` stores results under ``<test name>/<key>``."""

    def _record(key: str, **values: Any) -> None:
        RESULTS[f"{request.node.name}/{key}"] = values
        print(f"\n[{request.node.name}] {key}: " + ", ".join(f"{k}={v}" for k, v in values.items()))

    yield _record


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not RESULTS:
        return
    from fastgan import backends

    info = backends()
    tag = "cuda" if torch.cuda.is_available() else "cpu"
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"{tag}.json"
    existing: dict[str, Any] = {}
    notes: Any = None
    if path.exists():
        try:
            previous = json.loads(path.read_text())
            existing, notes = previous.get("results", {}), previous.get("notes")
        except (OSError, ValueError):
            existing = {}
    existing.update(RESULTS)
    payload = {
        "device": device_name(),
        "versions": info["versions"],
        "cpp": info["cpp"],
        "cuda_compiled": info["cuda_compiled"],
        "faiss": info["faiss"].get("version"),
        "date": time.strftime("%Y-%m-%d"),
        "results": dict(sorted(existing.items())),
    }
    if notes is not None:  # hand-written context about earlier runs is kept
        payload["notes"] = notes
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    os.replace(tmp, path)
