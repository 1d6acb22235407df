"""Step ``env`` of run_all.sh: the machine (GPU, driver, CUDA, torch, tools, package versions) to
``gpu_env.json``."""

from __future__ import annotations

import _common as c


def main() -> None:
    res = c.Result("env", {})
    res.set(machine=c.machine(full=True))
    m = res.data["machine"]
    print(
        f"device {m.get('device')}, driver {m.get('driver')}, torch {m['torch']} (CUDA {m['torch_cuda']}), "
        f"nvcc: {m.get('nvcc')}, compute-sanitizer: {m.get('compute_sanitizer')}"
    )


if __name__ == "__main__":
    main()
