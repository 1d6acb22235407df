"""Build script for fastgan's native extension ``fastgan._C``.

``fastgan._C`` is a plain pybind11 module: it never includes or links libtorch.
It receives raw data pointers, sizes, a dtype code and a CUDA stream handle, so
one build works with any torch >= 2.4 and the build environment never needs
torch.

Environment variables
---------------------
FASTGAN_NO_CUDA=1          skip the CUDA sources even when nvcc is found.
FASTGAN_FORCE_CUDA=1       fail the build when nvcc is not found.
FASTGAN_CUDA_ARCH_LIST     e.g. "8.0;8.6;8.9;9.0+PTX" (the default).
FASTGAN_NO_EXTENSION=1     pure-Python install (everything runs on the torch path).
FASTGAN_DEBUG=1            -O0 -g builds.
FASTGAN_NATIVE=1           add -march=native to the C++ flags (local builds only).
CUDA_HOME / CUDA_PATH      CUDA toolkit location (else nvcc on PATH).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ARCHS = "8.0;8.6;8.9;9.0+PTX"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _find_nvcc() -> str | None:
    for var in ("CUDA_HOME", "CUDA_PATH"):
        root = os.environ.get(var)
        if root:
            cand = os.path.join(root, "bin", "nvcc")
            if os.path.isfile(cand):
                return cand
    nvcc = shutil.which("nvcc")
    if nvcc:
        return nvcc
    cand = "/usr/local/cuda/bin/nvcc"
    return cand if os.path.isfile(cand) else None


def _cuda_root(nvcc: str) -> str:
    """The toolkit root (with include/cuda_runtime.h); nvcc may be a wrapper script."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
                  os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))]
    try:  # nvcc reports its own install location in a dry run
        out = subprocess.run([nvcc, "--dryrun", "-c", "-x", "cu", "/dev/null", "-o", "/dev/null"],
                             capture_output=True, text=True, timeout=60)
        for line in (out.stdout + out.stderr).splitlines():
            if "TOP=" in line:
                candidates.append(os.path.normpath(line.split("TOP=", 1)[1].strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    candidates.append("/usr/local/cuda")
    for root in candidates:
        if root and os.path.isfile(os.path.join(root, "include", "cuda_runtime.h")):
            return root
    raise RuntimeError(f"found nvcc at {nvcc} but not the CUDA toolkit headers; set CUDA_HOME")


def _gencode_flags(arch_list: str) -> list[str]:
    """Translate "8.0;9.0+PTX" into nvcc -gencode flags."""
    flags: list[str] = []
    for item in arch_list.replace(",", ";").replace(" ", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        ptx = item.endswith("+PTX")
        num = item.replace("+PTX", "").replace(".", "")
        if not num.isdigit():
            raise ValueError(f"FASTGAN_CUDA_ARCH_LIST: cannot parse architecture {item!r}")
        flags += ["-gencode", f"arch=compute_{num},code=sm_{num}"]
        if ptx:
            flags += ["-gencode", f"arch=compute_{num},code=compute_{num}"]
    if not flags:
        raise ValueError("FASTGAN_CUDA_ARCH_LIST is empty")
    return flags


def _cuda_config() -> tuple[str | None, str]:
    """Return (nvcc path or None, reason)."""
    if _env_flag("FASTGAN_NO_CUDA"):
        return None, "FASTGAN_NO_CUDA is set"
    nvcc = _find_nvcc()
    if nvcc is None:
        if _env_flag("FASTGAN_FORCE_CUDA"):
            raise RuntimeError("FASTGAN_FORCE_CUDA=1 but nvcc was not found (set CUDA_HOME or put nvcc on PATH)")
        return None, "nvcc not found"
    return nvcc, "nvcc found"


class BuildExt(build_ext):
    """build_ext that compiles ``*.cu`` with nvcc and links cudart statically."""

    def build_extensions(self) -> None:
        nvcc, reason = _cuda_config()
        if self.parallel is None:
            self.parallel = max(1, os.cpu_count() or 1)
        for ext in self.extensions:
            cu_sources = [s for s in ext.sources if s.endswith(".cu")]
            ext.sources = [s for s in ext.sources if not s.endswith(".cu")]
            if nvcc is None or not cu_sources:
                print(f"fastgan: building without CUDA kernels ({reason})")
                continue
            root = _cuda_root(nvcc)
            objects = self._compile_cuda(nvcc, root, cu_sources)
            ext.extra_objects = list(ext.extra_objects or []) + objects
            ext.define_macros = list(ext.define_macros or []) + [("WITH_CUDA", "1")]
            lib_dirs = [os.path.join(root, d) for d in ("lib64", "lib", "targets/x86_64-linux/lib")]
            ext.library_dirs = list(ext.library_dirs or []) + [d for d in lib_dirs if os.path.isdir(d)]
            ext.libraries = list(ext.libraries or []) + ["cudart_static", "dl", "rt", "pthread"]
            ext.include_dirs = list(ext.include_dirs or []) + [os.path.join(root, "include")]
            print(f"fastgan: CUDA kernels compiled with {nvcc}")
        super().build_extensions()

    def _compile_cuda(self, nvcc: str, root: str, sources: list[str]) -> list[str]:
        archs = os.environ.get("FASTGAN_CUDA_ARCH_LIST", DEFAULT_ARCHS)
        gencode = _gencode_flags(archs)
        debug = _env_flag("FASTGAN_DEBUG")
        out_dir = os.path.join(self.build_temp, "cuda")
        os.makedirs(out_dir, exist_ok=True)
        flags = [
            "-std=c++17",
            "-O0" if debug else "-O3",
            "-Xcompiler", "-fPIC",
            "--expt-relaxed-constexpr",
            "-DWITH_CUDA=1",
            "-I", os.path.join(HERE, "csrc"),
            "-I", os.path.join(root, "include"),
            "--threads", "0",
        ] + (["-G", "-g"] if debug else ["-lineinfo"]) + gencode

        def compile_one(src: str) -> str:
            rel = os.path.relpath(src, HERE).replace(os.sep, "_")
            obj = os.path.join(out_dir, rel + ".o")
            deps = [src] + glob.glob(os.path.join(HERE, "csrc", "**", "*.h"), recursive=True)
            if os.path.exists(obj) and all(os.path.getmtime(d) <= os.path.getmtime(obj) for d in deps):
                return obj
            cmd = [nvcc, "-c", src, "-o", obj] + flags
            print(" ".join(cmd))
            subprocess.check_call(cmd)
            return obj

        workers = max(1, min(len(sources), (os.cpu_count() or 1)))
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(compile_one, sources))


def _version() -> str:
    """The one version string, from fastgan/_version.py (read as text: no import of the package)."""
    with open(os.path.join(HERE, "fastgan", "_version.py"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise RuntimeError("fastgan/_version.py: no __version__ line")


def _extensions() -> list[Pybind11Extension]:
    if _env_flag("FASTGAN_NO_EXTENSION"):
        return []
    sources = sorted(glob.glob("csrc/**/*.cpp", recursive=True) + glob.glob("csrc/**/*.cu", recursive=True))
    debug = _env_flag("FASTGAN_DEBUG")
    cflags = ["-O0", "-g"] if debug else ["-O3"]
    cflags += ["-fvisibility=hidden", "-fopenmp-simd", "-fno-math-errno"]
    if _env_flag("FASTGAN_NATIVE"):
        cflags.append("-march=native")
    return [
        Pybind11Extension(
            "fastgan._C",
            sources,
            include_dirs=["csrc"],
            define_macros=[("FASTGAN_VERSION", f'"{_version()}"')],
            cxx_std=17,
            extra_compile_args=cflags,
            extra_link_args=["-pthread"],
        )
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
