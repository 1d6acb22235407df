"""Shared fixtures: devices, markers, tolerances."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

import fastgan
from fastgan import _dispatch, _ext

HAS_CUDA = torch.cuda.is_available()
DEVICES = ["cpu"] + (["cuda"] if HAS_CUDA else [])

#: (rtol, atol) used when comparing a dtype against a float64 oracle.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-12, 1e-12),
    torch.float32: (1e-6, 1e-6),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (2e-3, 2e-3),
}


def pytest_report_header(config: pytest.Config) -> str:
    from fastgan._info import format_backends

    return format_backends(fastgan.backends())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    skip_ext = pytest.mark.skip(reason="needs the compiled fastgan._C extension")
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_cuda)
        if "ext" in item.keywords and not _ext.HAS_EXT:
            item.add_marker(skip_ext)


@pytest.fixture(autouse=True)
def _hermetic_weights(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reaches the network or reads this machine's weight caches.

    ``FASTGAN_OFFLINE=1`` and empty cache folders (fastgan's, torch.hub's, Hugging Face's); the
    download tests serve files from a loopback HTTP server and set the variables they need. The
    peers suite keeps the environment, since the reference packages read their own caches.
    """
    if "peers" in request.keywords:
        return
    home = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("FASTGAN_OFFLINE", "1")
    monkeypatch.delenv("FASTGAN_WEIGHTS_MIRROR", raising=False)
    monkeypatch.setenv("FASTGAN_CACHE", str(home / "fastgan"))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HOME", str(home / "huggingface"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Each available device: "cpu", plus "cuda" when a GPU is present."""
    return str(request.param)


@pytest.fixture
def no_ext(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend fastgan._C is missing (fallback tests)."""
    monkeypatch.setattr(_ext, "HAS_EXT", False)
    monkeypatch.setattr(_ext, "HAS_CUDA_EXT", False)
    monkeypatch.setattr(_ext, "EXT_ERROR", "disabled by test")
    monkeypatch.delenv("FASTGAN_BACKEND", raising=False)
    _dispatch.reset_warnings()
    yield
    _dispatch.reset_warnings()


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch ops single-threaded (modules opt in with ``pytestmark``): on a shared,
    oversubscribed CPU torch's OpenMP pool can be orders of magnitude slower. Thread-count
    behaviour is tested explicitly (the kernels' own threading, test_determinism.py)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def impls() -> list[str]:
    """Implementations to compare: always "torch", plus "ext" when _C is loaded."""
    return ["torch"] + (["ext"] if _ext.HAS_EXT else [])


# Skip marks for tests that compare against the extension.
needs_ext = pytest.mark.skipif(not _ext.HAS_EXT, reason="needs the compiled fastgan._C extension")
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
needs_cuda_ext = pytest.mark.skipif(
    not (HAS_CUDA and _ext.cuda_usable()), reason="needs a CUDA device and fastgan._C built with CUDA"
)

_EXPECT_EXT = os.environ.get("FASTGAN_EXPECT_EXT", "1") != "0"
