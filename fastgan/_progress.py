"""A tiny, dependency-free progress bar written to stderr.

Shown when stderr is a terminal, or when forced with ``enabled=True`` (or the
environment variable ``FASTGAN_PROGRESS=1``; ``FASTGAN_PROGRESS=0`` disables it
everywhere). Redraws are rate-limited so the bar costs nothing measurable.

>>> with Progress(total=100, desc="features", enabled=False) as bar:
...     for _ in range(10):
...         bar.update(10)
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Optional, TextIO, Type

__all__ = ["Progress", "progress_enabled"]


def progress_enabled(enabled: Optional[bool] = None, stream: Optional[TextIO] = None) -> bool:
    """Resolve an ``enabled`` argument: True/False win, None means "stderr is a TTY".

    ``FASTGAN_PROGRESS=0`` turns every bar off, ``FASTGAN_PROGRESS=1`` turns
    auto-mode bars on even without a terminal.
    """
    env = os.environ.get("FASTGAN_PROGRESS", "").strip()
    if env == "0":
        return False
    if enabled is not None:
        return bool(enabled)
    if env == "1":
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Progress bar over ``total`` units (``total=None``: a counter without a bar).

    Args:
        total: expected number of units, or None if unknown.
        desc: short label printed before the bar.
        enabled: True / False, or None for "only when stderr is a TTY".
        unit: unit name shown after the counts (e.g. ``"img"``).
        stream: where to write (default ``sys.stderr``).
        min_interval: minimum seconds between redraws.
    """

    def __init__(
        self,
        total: Optional[int] = None,
        desc: str = "",
        enabled: Optional[bool] = None,
        unit: str = "it",
        stream: Optional[TextIO] = None,
        min_interval: float = 0.1,
        width: int = 30,
    ) -> None:
        self.total = None if total is None else int(total)
        self.desc = desc
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = progress_enabled(enabled, self.stream)
        self.min_interval = float(min_interval)
        self.width = int(width)
        self.n = 0
        self._start = time.monotonic()
        self._last_draw = -float("inf")
        self._closed = False
        self._drawn = False

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` units and redraw if enough time has passed."""
        self.n += int(n)
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw >= self.min_interval or (self.total is not None and self.n >= self.total):
            self._draw(now)

    def _line(self, now: float) -> str:
        elapsed = now - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        prefix = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            return (
                f"{prefix}{frac * 100:5.1f}% |{bar}| {self.n}/{self.total} {self.unit} "
                f"[{_fmt_time(elapsed)}<{_fmt_time(eta)}, {rate:.1f} {self.unit}/s]"
            )
        return f"{prefix}{self.n} {self.unit} [{_fmt_time(elapsed)}, {rate:.1f} {self.unit}/s]"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        self._drawn = True
        try:
            self.stream.write("\r" + self._line(now))
            self.stream.flush()
        except (OSError, ValueError):  # closed or broken stream: stop drawing, never fail the caller
            self.enabled = False

    def close(self) -> None:
        """Draw the final state and end the line (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self._draw(time.monotonic())
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> "Progress":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
