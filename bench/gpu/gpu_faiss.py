"""Step ``faiss`` of run_all.sh: the faiss k-NN engine tests when faiss sees GPUs
(``fastgan.metrics.knn.faiss_engine.faiss_info()["gpus"] > 0``); otherwise the reason goes to
``gpu_faiss.json`` and the exit status is 3 (skipped).

    python bench/gpu/gpu_faiss.py JUNIT_XML

runs ``python -m pytest -k faiss`` over the test files that use the faiss engine (on a GPU machine
their ``device`` parameter includes ``cuda``, so the GPU indexes are exercised).
"""

from __future__ import annotations

import subprocess
import sys

import _common as c

FILES = [
    "tests/metrics/test_knn.py",
    "tests/metrics/test_manifold.py",
    "tests/metrics/test_probabilistic.py",
    "tests/test_determinism.py",
    "tests/test_properties.py",
]


def main() -> None:
    from fastgan.metrics.knn.faiss_engine import faiss_info

    info = faiss_info()
    res = c.Result("faiss", {"faiss": info, "files": FILES})
    if not info.get("gpus"):
        why = (
            f"faiss is not installed ({info.get('error')})"
            if not info.get("installed")
            else f"faiss {info.get('version')} ({info.get('flavour')} build) sees no GPU"
        )
        res.set(skipped=why)
        print(why)
        sys.exit(c.SKIPPED)
    cmd = [sys.executable, "-m", "pytest", *FILES, "-k", "faiss", "-q", "-p", "no:cacheprovider"]
    if len(sys.argv) > 1:
        cmd.append(f"--junitxml={sys.argv[1]}")
    res.set(command=" ".join(cmd[1:]))
    sys.exit(subprocess.run(cmd, cwd=str(c.REPO), check=False).returncode)


if __name__ == "__main__":
    main()
