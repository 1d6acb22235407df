"""What a benchmark records about the machine and the installed packages (shared by the bench scripts)."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Optional


def package_versions(distributions: Iterable[str]) -> dict[str, Optional[str]]:
    """Installed version of each distribution (None where it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, Optional[str]] = {}
    for dist in distributions:
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    return versions


def cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else what :mod:`platform` knows."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu
