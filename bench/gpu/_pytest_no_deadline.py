"""pytest plugin for the sanitizer steps of run_all.sh (``-p _pytest_no_deadline``): hypothesis tests
without a per-example deadline, since compute-sanitizer slows every CUDA call down by a large factor.
Tests that set their own ``@settings(deadline=...)`` keep it."""

from __future__ import annotations

try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    pass
else:
    settings.register_profile("fastgan_gpu_sanitizer", deadline=None)
    settings.load_profile("fastgan_gpu_sanitizer")
