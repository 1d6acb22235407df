"""Extension loading, backend report and the fallback policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

import fastgan
from fastgan import _dispatch, _ext


def test_backends_report_keys() -> None:
    info = fastgan.backends()
    for key in ("cpp", "cuda_compiled", "cuda_usable", "cuda", "faiss", "versions", "backend_setting"):
        assert key in info
    assert info["cpp"] == _ext.HAS_EXT
    assert info["versions"]["fastgan"] == fastgan.__version__
    assert isinstance(info["cuda"]["message"], str)
    assert info["weights"]["offline"] is True  # the suite runs offline (tests/conftest.py)


@pytest.mark.ext
def test_one_version_string() -> None:
    """Package metadata, fastgan.__version__ and the compiled module all come from fastgan/_version.py."""
    from importlib.metadata import PackageNotFoundError, version

    assert _ext._C is not None and _ext._C.__version__ == fastgan.__version__
    try:
        assert version("fastgan") == fastgan.__version__
    except PackageNotFoundError:  # a source checkout on sys.path without an install
        pass


@pytest.mark.skipif(os.environ.get("FASTGAN_EXPECT_EXT", "1") == "0", reason="FASTGAN_EXPECT_EXT=0")
def test_extension_is_loaded() -> None:
    # An installed fastgan must come with its C++ kernels; a silent fallback here
    # would make every "ext vs torch" test compare torch with itself.
    assert _ext.HAS_EXT, f"fastgan._C failed to load: {_ext.EXT_ERROR}"


@pytest.mark.ext
def test_cuda_info_never_raises() -> None:
    assert _ext._C is not None
    info = _ext._C.cuda_info()
    assert set(info) >= {"compiled", "device_count", "runtime_version", "driver_version", "message"}
    if info["compiled"] and info["device_count"] == 0:
        assert info["message"], "a machine without a usable GPU must say why"
    if not torch.cuda.is_available():
        assert not _ext.cuda_usable() or info["device_count"] > 0


def test_info_command_runs(tmp_path: os.PathLike[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fastgan", "info", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["cpp"] == _ext.HAS_EXT


def test_import_without_extension(tmp_path: os.PathLike[str]) -> None:
    env = dict(os.environ, FASTGAN_NO_EXTENSION="1")
    code = "import fastgan, json; b = fastgan.backends(); print(json.dumps([b['cpp'], b['extension_error']]))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    cpp, err = json.loads(out.stdout)
    assert cpp is False and "FASTGAN_NO_EXTENSION" in err


def test_invalid_impl_is_rejected() -> None:
    with pytest.raises(ValueError, match="impl must be one of"):
        _dispatch.use_extension("op", "cuda", torch.zeros(1))


def test_backend_env_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTGAN_BACKEND", "fast")
    with pytest.raises(ValueError, match="FASTGAN_BACKEND"):
        _dispatch.use_extension("op", "auto", torch.zeros(1))


def test_backend_env_forces_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTGAN_BACKEND", "torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dispatch.use_extension("op", "auto", torch.zeros(1)) is False


def test_fallback_warns_once(no_ext: None) -> None:
    x = torch.zeros(3)
    with pytest.warns(_dispatch.FastganFallbackWarning, match="falls back"):
        assert _dispatch.use_extension("some_op", "auto", x) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dispatch.use_extension("some_op", "auto", x) is False


def test_ext_impl_raises_without_extension(no_ext: None) -> None:
    with pytest.raises(RuntimeError, match="impl='ext' cannot run"):
        _dispatch.use_extension("some_op", "ext", torch.zeros(3))


@pytest.mark.ext
def test_unsupported_dtype_falls_back() -> None:
    _dispatch.reset_warnings()
    x = torch.zeros(3, dtype=torch.float64)
    assert _dispatch.use_extension("dtype_op", "auto", x, dtypes=[torch.float64]) is True
    with pytest.warns(_dispatch.FastganFallbackWarning, match="dtype"):
        assert _dispatch.use_extension("dtype_op", "auto", x.float(), dtypes=[torch.float64]) is False
    with pytest.raises(RuntimeError, match="dtype"):
        _dispatch.use_extension("dtype_op", "ext", x.float(), dtypes=[torch.float64])
