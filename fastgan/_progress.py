"""The one progress-bar policy: tqdm on stderr, shown when asked, or by default only on a terminal."""

from __future__ import annotations

import sys
from typing import Any, Optional

from tqdm.auto import tqdm

__all__ = ["progress_enabled", "progress_bar"]


def progress_enabled(progress: Optional[bool]) -> bool:
    """``progress`` as given; None: True only when stderr is a terminal (never in logs or CI)."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def progress_bar(
    progress: Optional[bool], *, total: Optional[float], desc: str, unit: str, **kwargs: Any
) -> tqdm:
    """A tqdm bar (rate and ETA) on stderr under :func:`progress_enabled`; ``kwargs`` go to tqdm."""
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress_enabled(progress), **kwargs)
