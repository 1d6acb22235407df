"""Figures (optional: matplotlib comes with the ``plot`` extra, ``pip install "fastgan[plot]"``).

* :func:`plot_truncation_sweep` -- the metrics of a :func:`fastgan.truncation.truncation_sweep`
  table against psi.
* :func:`new_figure` -- an off-screen matplotlib ``Figure`` (Agg canvas, no pyplot state, no
  display), with an :class:`ImportError` naming the extra when matplotlib is missing.

matplotlib is imported inside the functions, so importing this module costs nothing and works
without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

__all__ = ["new_figure", "plot_truncation_sweep", "require_matplotlib"]

PLOT_EXTRA_HINT = 'pip install "fastgan[plot]"  (or: pip install "matplotlib>=3.5")'


def require_matplotlib(what: str = "this figure") -> Any:
    """Import and return :mod:`matplotlib`; an :class:`ImportError` naming the ``plot`` extra
    when it is not installed (``what`` says what needed it)."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(f"{what} needs matplotlib, which is not installed: {PLOT_EXTRA_HINT}") from e
    return matplotlib


def new_figure(**kwargs: Any) -> Any:
    """A :class:`matplotlib.figure.Figure` rendered with the Agg backend (no display, no pyplot
    state); ``kwargs`` go to ``Figure`` (``figsize=``, ``layout=``, ...)."""
    require_matplotlib("fastgan.plotting")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


#: y-axis labels of the metrics a sweep can hold
_AXIS_LABELS = {
    "fid": "FID (squared feature distance)",
    "kid_mean": "KID (polynomial-kernel MMD$^2$)",
    "kid": "KID (polynomial-kernel MMD$^2$)",  # the column of tables from before 'kid_mean'
}


def plot_truncation_sweep(
    table: Sequence[dict[str, float]],
    path: Optional[str] = None,
    *,
    ax: Any = None,
    title: Optional[str] = None,
    dpi: int = 150,
) -> Any:
    """Plot every metric column of a :func:`~fastgan.truncation.truncation_sweep` table against psi.

    Precision / recall / density / coverage share the left axis; FID and KID get their own
    axes on the right (dashed lines). One legend, in a free band at the top, lists every curve.

    Args:
        table: the rows :func:`~fastgan.truncation.truncation_sweep` returned (each with ``"psi"``).
        path: save the figure there (format from the suffix, e.g. ``.png`` / ``.pdf``).
        ax: a matplotlib ``Axes`` to draw into (e.g. one panel of your own figure); default: a new
            :class:`matplotlib.figure.Figure` rendered with the Agg backend (no display, no pyplot
            state).
        title: axes title (default: ``"Truncation sweep"``).
        dpi: resolution used when saving to ``path``.

    Returns:
        The :class:`matplotlib.figure.Figure` drawn into.

    Raises:
        ValueError: an empty table, or rows without ``"psi"`` or without any metric column.
        ImportError: matplotlib is not installed (``pip install "fastgan[plot]"``).

    >>> fig = plot_truncation_sweep([{"psi": 0.5, "precision": 0.9, "recall": 0.2},
    ...                              {"psi": 1.0, "precision": 0.7, "recall": 0.6}])  # doctest: +SKIP
    """
    if not table:
        raise ValueError("table: empty")
    if any("psi" not in row for row in table):
        raise ValueError("table: every row needs a 'psi' entry (use truncation_sweep's output)")
    left: list[str] = [c for c in ("precision", "recall", "density", "coverage") if c in table[0]]
    right: list[str] = [c for c in ("fid", "kid_mean", "kid") if c in table[0]]
    if not left and not right:
        raise ValueError(f"table: no metric column to plot; columns are {sorted(table[0])}")

    if ax is None:
        fig = new_figure(figsize=(6.4, 4.4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    psis = [row["psi"] for row in table]
    n_curves = len(left) + len(right)
    ncol = min(n_curves, 3)
    # every axis spans this multiple of its data range, so the legend has the top band to itself
    headroom = 1.12 + 0.13 * math.ceil(n_curves / ncol)
    for i, c in enumerate(left):
        ax.plot(psis, [row[c] for row in table], marker="o", markersize=4, color=f"C{i}", label=c)
    ax.set_xlabel("truncation $\\psi$ (1 = no truncation)")
    if left:
        unit = "" if "density" in left else " (fraction)"  # density is a ratio that may exceed 1
        ax.set_ylabel(" / ".join(left) + unit)
        top = max(1.0, max(row[c] for row in table for c in left))
        ax.set_ylim(0.0, headroom * top)
        ax.set_yticks([t for t in ax.get_yticks() if t <= top])
    else:
        ax.set_yticks([])
    ax.grid(alpha=0.3)
    ax.set_title(title if title is not None else "Truncation sweep", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    legend_ax = ax
    for j, c in enumerate(right):
        color = f"C{len(left) + j}"
        twin = ax.twinx()
        if j:
            twin.spines["right"].set_position(("axes", 1.0 + 0.18 * j))
        twin.plot(
            psis,
            [row[c] for row in table],
            marker="s",
            markersize=4,
            linestyle="--",
            color=color,
            label=c.split("_")[0].upper(),
        )
        lo, hi = min(row[c] for row in table), max(row[c] for row in table)
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        twin.set_ylim(lo - 0.05 * span, lo + headroom * 1.05 * span)
        twin.set_ylabel(_AXIS_LABELS[c], color=color)
        twin.tick_params(axis="y", colors=color)
        h, lab = twin.get_legend_handles_labels()
        handles += h
        labels += lab
        legend_ax = twin  # the topmost axes, so no curve is drawn over the legend
    legend_ax.legend(handles, labels, loc="upper center", ncol=ncol, fontsize=8, frameon=False)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
