"""Plain-text tables for the command line (no dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

__all__ = ["format_value", "format_table"]


def format_value(v: Any) -> str:
    """One cell: floats with 6 decimals (scientific below 1e-3 or from 1e6 on), anything else via ``str``."""
    if isinstance(v, float) and math.isfinite(v):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.6e}"
        return f"{v:.6f}"
    return str(v)


def format_table(rows: Sequence[Sequence[Any]], header: Optional[Sequence[str]] = None) -> str:
    """Columns separated by two spaces: the first left-aligned, the others right-aligned.

    Args:
        rows: the table body, one sequence of cells per row.
        header: column titles, underlined with dashes.

    Returns:
        The table as one string without a trailing newline ("" for no rows and no header).
    """
    cells = [[format_value(c) for c in r] for r in rows]
    if header is not None:
        cells = [list(header)] + cells
    if not cells:
        return ""
    n_cols = max(len(r) for r in cells)
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(n_cols)]
    lines = []
    for j, r in enumerate(cells):
        parts = [r[0].ljust(widths[0])] + [c.rjust(widths[i + 1]) for i, c in enumerate(r[1:])]
        lines.append("  ".join(parts).rstrip())
        if header is not None and j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
