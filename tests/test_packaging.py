"""The release files: the sdist carries every file the build reads, installs into a fresh venv and
loads ``fastgan._C`` there, so a file missing from the sdist can never ship again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    return [f for f in out.stdout.decode().split("\0") if f]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --sdist`` of the tracked files (a copy: nothing is written into the checkout)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    src = tmp_path_factory.mktemp("src")
    for rel in _tracked(ROOT):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = out.glob("fastgan-*.tar.gz")
    return found


def test_sdist_holds_every_build_input(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    needed = [f for f in _tracked(ROOT) if f.startswith(("csrc/", "fastgan/"))]
    needed += ["setup.py", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "fastgan/py.typed"]
    missing = sorted(set(needed) - names)
    assert not missing, f"missing from the sdist: {missing}"
    assert not [n for n in names if n.endswith((".so", ".o"))]


@pytest.mark.slow
def test_sdist_installs_in_a_fresh_venv_and_loads_the_extension(sdist: Path, tmp_path: Path) -> None:
    """pip builds a wheel from the sdist and installs it; ``fastgan._C`` loads from the venv.

    The venv sees this interpreter's packages (torch is not downloaded again); the build runs in
    pip's isolated build environment, as a user's ``pip install fastgan-X.tar.gz`` does. One CUDA
    architecture keeps the nvcc step short where nvcc exists; the CUDA sources still compile.
    """
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_REQUIRE"))}
    env["FASTGAN_CUDA_ARCH_LIST"] = "9.0"
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(sdist)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check = subprocess.run(
        [str(py), str(ROOT / ".ci" / "check_wheel.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"from {env_dir}" in check.stdout and "C++ kernels True" in check.stdout, check.stdout
