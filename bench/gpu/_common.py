"""Shared by the drivers of ``bench/gpu/run_all.sh``: configuration from the environment, the
machine description, CUDA-event timing and incremental JSON results.

Every driver writes ``$FASTGAN_GPU_RESULTS/gpu_<name>.json`` (default ``bench/results``) after
each row it measures, so a step stopped by its timeout still leaves what it had measured.
``FASTGAN_GPU_DRYRUN=1`` runs the drivers on the CPU with tiny sizes (a check of the logic, the
imports and the JSON writing on a machine without a GPU, not a measurement).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
# the bench modules this directory reuses (bench_losses, bench_prdc, bench_eval, _machine) import
# their siblings by plain name, as pytest's rootdir insertion lets them
for _p in (str(BENCH), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(1, _p)

from _machine import cpu_name, package_versions  # noqa: E402 (needs the sys.path entry above)

#: exit status of a driver that skipped its step on purpose (the reason is in its JSON)
SKIPPED = 3

DISTRIBUTIONS = (
    "torch",
    "numpy",
    "scipy",
    "pybind11",
    "setuptools",
    "pytest",
    "hypothesis",
    "torchvision",
    "faiss-gpu",
    "faiss-cpu",
    "faiss-gpu-cu12",
    "torch-fidelity",
    "pytorch-fid",
    "auditwheel",
    "torchmetrics",
)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


DRYRUN = env_flag("FASTGAN_GPU_DRYRUN")
QUICK = env_flag("FASTGAN_GPU_QUICK")


def env_int(name: str, default: int, dryrun: Optional[int] = None, quick: Optional[int] = None) -> int:
    """``$name`` if set, else the dry-run / quick / default value."""
    raw = os.environ.get(name, "").strip()
    if raw:
        return int(float(raw))
    if DRYRUN and dryrun is not None:
        return dryrun
    if QUICK and quick is not None:
        return quick
    return default


def env_list(name: str, default: str, dryrun: Optional[str] = None, quick: Optional[str] = None) -> list[str]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        raw = (
            dryrun
            if (DRYRUN and dryrun is not None)
            else (quick if (QUICK and quick is not None) else default)
        )
    return [s.strip() for s in raw.split(",") if s.strip()]


def results_dir() -> Path:
    d = Path(os.environ.get("FASTGAN_GPU_RESULTS") or (BENCH / "results"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def work_dir() -> Path:
    d = Path(os.environ.get("FASTGAN_GPU_WORK") or (Path("/tmp") / "fastgan-gpu"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def device() -> str:
    """ "cuda" on a GPU machine; "cpu" in a dry run (a run without a GPU and without
    FASTGAN_GPU_DRYRUN is refused: its sizes are meant for an H100)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if DRYRUN:
        return "cpu"
    raise SystemExit("no CUDA device visible to torch (set FASTGAN_GPU_DRYRUN=1 for a CPU dry run)")


# ------------------------------------------------------------------------------------ machine
def _run(cmd: list[str], timeout: float = 20) -> Optional[str]:
    exe = shutil.which(cmd[0])
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or "") + (out.stderr or "")
    return text.strip() if out.returncode == 0 else None


def nvidia_smi() -> dict[str, Any]:
    out = _run(
        [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
            "--format=csv,noheader",
        ]
    )
    if not out:
        return {"available": False}
    first = [s.strip() for s in out.splitlines()[0].split(",")]
    keys = ("name", "driver_version", "memory_total", "max_sm_clock", "power_limit")
    return {"available": True, **dict(zip(keys, first))}


def machine(full: bool = False) -> dict[str, Any]:
    """Device name, driver, CUDA and torch versions (``full``: tools and package versions too)."""
    import torch

    info: dict[str, Any] = {
        "dryrun": DRYRUN,
        "quick": QUICK,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(
            device=p.name,
            capability=f"{p.major}.{p.minor}",
            sm_count=p.multi_processor_count,
            memory_gib=round(p.total_memory / 2**30, 1),
            allow_tf32={
                "matmul": torch.backends.cuda.matmul.allow_tf32,
                "cudnn": torch.backends.cudnn.allow_tf32,
            },
        )
        smi = nvidia_smi()
        info["driver"] = smi.get("driver_version")
        if full:
            info["nvidia_smi"] = smi
    else:
        info["device"] = f"cpu ({info['cpu']})"
    try:
        import fastgan

        b = fastgan.backends()
        info["fastgan"] = {
            "version": fastgan.__version__,
            "file": str(Path(fastgan.__file__).parent),
            "cpp": b.get("cpp"),
            "cuda_compiled": b.get("cuda_compiled"),
            "cuda_usable": b.get("cuda_usable"),
            "extension_error": b.get("extension_error"),
        }
        if full:
            info["fastgan_backends"] = b
    except Exception as exc:  # the machine description must not fail with the package
        info["fastgan"] = {"error": f"{type(exc).__name__}: {exc}"}
    if full:
        info["versions"] = package_versions(DISTRIBUTIONS)
        info["nvcc"] = (_run(["nvcc", "--version"]) or "not found").splitlines()[-1]
        san = sanitizer_path()
        info["compute_sanitizer"] = (_run([san, "--version"]) or "?").splitlines()[-1] if san else None
        info["tools"] = {
            t: shutil.which(t)
            for t in (
                "nvcc",
                "compute-sanitizer",
                "auditwheel",
                "patchelf",
                "gcc",
                "c++",
                "ninja",
                "nvidia-smi",
            )
        }
    return info


def sanitizer_path() -> Optional[str]:
    """compute-sanitizer on PATH, else under the CUDA toolkit (CUDA_HOME or /usr/local/cuda)."""
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        roots.append(str(Path(nvcc).resolve().parent.parent))
    for root in filter(None, roots):
        for rel in ("bin/compute-sanitizer", "compute-sanitizer/compute-sanitizer"):
            cand = Path(root) / rel
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand)
    return None


# ------------------------------------------------------------------------------------ timing
def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_fn(fn: Callable[[], Any], *, repeat: int, warmup: int = 2, dev: str = "cuda") -> dict[str, Any]:
    """Per-call times of ``fn()`` after ``warmup`` calls: CUDA events around each call on a GPU
    (no synchronisation between calls, so a call's time includes any wait for the CPU to launch
    its kernels), ``perf_counter`` on the CPU; plus the wall time of all repeats / repeat
    (synchronised once at the end)."""
    import torch

    for _ in range(warmup):
        fn()
    sync()
    times: list[float] = []
    t0 = time.perf_counter()
    if dev == "cuda":
        events = [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for _ in range(repeat)
        ]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        times = [s.elapsed_time(e) / 1e3 for s, e in events]
    else:
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    wall = (time.perf_counter() - t0) / repeat
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "wall_per_call_s": wall,
        "repeat": repeat,
        "timer": "cuda_events" if dev == "cuda" else "perf_counter",
    }


# ------------------------------------------------------------------------------------ output
class Result:
    """``gpu_<name>.json``: ``machine``, ``config``, ``rows`` (appended) and free ``extra`` keys,
    rewritten atomically after every change."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.path = results_dir() / f"gpu_{name}.json"
        self.data: dict[str, Any] = {"name": name, "machine": machine(), "config": config, "rows": []}
        self.write()

    def row(self, **values: Any) -> None:
        self.data["rows"].append(values)
        print(f"[{self.name}] " + ", ".join(f"{k}={_short(v)}" for k, v in values.items()), flush=True)
        self.write()

    def set(self, **values: Any) -> None:
        self.data.update(values)
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_jsonable) + "\n")
        os.replace(tmp, self.path)


def _jsonable(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    return str(v)


def error_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


if __name__ == "__main__":  # `python bench/gpu/_common.py`: the full machine description as JSON
    print(json.dumps(machine(full=True), indent=1, default=str))
