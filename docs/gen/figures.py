"""The manual's figures, drawn at build time with matplotlib (the ``plot`` extra) as PNG bytes.

* ``figures/conjugates.png`` -- the Fenchel conjugate f*(t) of every divergence of
  ``fastgan.divergences.DIVERGENCES`` over its domain (the alpha family at two values of alpha);
* ``figures/activations.png`` -- each output activation g_f(v), with the ends of dom f* and the
  value f'(1) of the optimal critic where P = Q;
* ``figures/peer_ratios.png`` -- reference time / fastgan time for every case of
  ``bench/results/peers.json`` and ``modern.json``;
* ``figures/scaling.png`` -- time against the number of samples: the peers cases measured at
  several sizes, and the fused GAN loss against eager torch and ``torch.compile``
  (``cpu.json`` / ``cuda.json``).

The curves are evaluated from the registry's own functions (``Divergence.conjugate``,
``Divergence.activation``) in float64, and the timings are read from the JSON files, so a new
divergence or a new benchmark run changes the figures without an edit here.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any, Optional

from gen import bench

_CACHE: dict[str, bytes] = {}


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def registry() -> list[tuple[str, Any]]:
    """``(label, Divergence)`` for every registry entry; a family with parameters at two values."""
    from fastgan.divergences import DIVERGENCES

    out = []
    for name, fam in DIVERGENCES.items():
        if fam.params == ("alpha",):
            out += [(f"{name} (alpha = {a:g})", fam(alpha=a)) for a in (0.5, 2.0)]
        elif fam.params:
            raise ValueError(
                f"docs/gen/figures.py: no plotting values for the parameters {fam.params} of {name!r}"
            )
        else:
            out.append((name, fam()))
    return out


def _grid(n: int) -> tuple[Any, list[Any]]:
    from fastgan.plotting import new_figure

    cols = 4
    rows = math.ceil(n / cols)
    fig = new_figure(figsize=(3.2 * cols, 2.5 * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def _t_range(d: Any) -> tuple[float, float]:
    lo, hi = d.domain
    lo_p = max(lo, -4.0) if math.isfinite(hi) is False else max(lo, hi - 4.0)
    hi_p = min(hi, 4.0)
    if math.isfinite(hi):
        hi_p = hi - 1e-3 * max(1.0, abs(hi)) if not d.domain_closed[1] else hi
    if math.isfinite(lo) and not d.domain_closed[0]:
        lo_p = lo + 1e-3
    return lo_p, hi_p


def conjugates() -> bytes:
    import torch

    entries = registry()
    fig, axes = _grid(len(entries))
    for ax, (label, d) in zip(axes, entries):
        lo, hi = _t_range(d)
        t = torch.linspace(lo, hi, 400, dtype=torch.float64)
        y = d.conjugate(t)
        ax.plot(t.numpy(), y.numpy(), color="C0")
        for end in d.domain:
            if math.isfinite(end):
                ax.axvline(end, color="0.5", ls="--", lw=0.8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("t")
        ax.set_ylabel("f*(t)")
        ax.grid(alpha=0.3)
    fig.suptitle("Fenchel conjugates f*(t) over dom f* (dashed: a finite end of the domain)")
    return _png(fig)


def activations() -> bytes:
    import torch

    entries = registry()
    fig, axes = _grid(len(entries))
    v = torch.linspace(-5.0, 5.0, 400, dtype=torch.float64)
    for ax, (label, d) in zip(axes, entries):
        ax.plot(v.numpy(), d.activation(v).numpy(), color="C1")
        for end in d.domain:
            if math.isfinite(end):
                ax.axhline(end, color="0.5", ls="--", lw=0.8)
        ax.axhline(d.f_prime_at_1, color="C2", ls=":", lw=1.0)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("v (critic output)")
        ax.set_ylabel("g_f(v)")
        ax.grid(alpha=0.3)
    fig.suptitle("Output activations g_f(v) (dashed: an end of dom f*; dotted: f'(1), the critic at P = Q)")
    return _png(fig)


def peer_ratios() -> Optional[bytes]:
    bars: list[tuple[str, float]] = []
    for title, size, ours, refs in bench.peers_groups() or []:
        bars += [(f"{title} [{size}] vs {r['impl']}", bench.peers_ratio(ours, r)) for r in refs]
    got = bench.modern_cases("modern.json")
    if got is not None:
        data, cases = got
        for case, c in cases:
            if c.get("time_ratio_ref_over_fastgan") is not None:
                label = (
                    f"{bench.MODERN_TITLES.get(case, case)} [{data.get('n')} x {data.get('d')}] vs reference"
                )
                bars.append((label, float(c["time_ratio_ref_over_fastgan"])))
    if not bars:
        return None
    from fastgan.plotting import new_figure

    fig = new_figure(figsize=(9, 0.28 * len(bars) + 1.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ys = range(len(bars))
    vals = [b[1] for b in bars]
    ax.barh(list(ys), vals, color=["C2" if x >= 1 else "C3" for x in vals])
    ax.set_yticks(list(ys), [b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("reference time / fastgan time (log scale; right of 1: fastgan faster)")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


_N_IN_KEY = re.compile(r"/n=(\d+)/threads=(\d+)$")


def _loss_series(name: str) -> dict[str, list[tuple[int, float]]]:
    """``{"fastgan" | "eager" | "compile": [(n, seconds)]}`` of the GAN loss rows of ``name``."""
    data = bench.load(name)
    if data is None:
        return {}
    results = bench.need(data, "results", name, dict)
    series: dict[str, list[tuple[int, float]]] = {}
    for key, r in results.items():
        if not key.startswith("test_fused_loss_fwd_bwd[gan-") or "threads=1]" in key:
            continue
        m = _N_IN_KEY.search(key)
        if not m:
            continue
        n = int(m.group(1))
        for label, field in (
            ("fastgan", "fastgan_s"),
            ("eager torch", "baseline_s"),
            ("torch.compile", "compiled_s"),
        ):
            if isinstance(r.get(field), (int, float)):
                series.setdefault(label, []).append((n, float(r[field])))
    return {k: sorted(v) for k, v in series.items()}


def scaling() -> Optional[bytes]:
    peers: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in bench.peers_rows() or []:
        n = (r.get("params") or {}).get("n")
        if isinstance(n, int):
            peers.setdefault((r["title"], r["impl"]), []).append((n, float(r["warm_median_s"])))
    titles = sorted({t for (t, _), pts in peers.items() if len({n for n, _ in pts}) > 1})
    panels: list[tuple[str, dict[str, list[tuple[int, float]]]]] = [
        (t, {impl: sorted(pts) for (tt, impl), pts in peers.items() if tt == t}) for t in titles
    ]
    for name in ("cpu.json", "cuda.json"):
        s = _loss_series(name)
        if s:
            device = (bench.load(name) or {}).get("device", name)
            panels.append((f"GAN D-loss fwd+bwd ({device})", s))
    if not panels:
        return None
    from fastgan.plotting import new_figure

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = new_figure(figsize=(4.4 * cols, 3.6 * rows), layout="constrained")
    for i, (title, series) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        for label, pts in series.items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("N (samples or logits)")
        ax.set_ylabel("seconds (warm)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return _png(fig)


FIGURES = {
    "figures/conjugates.png": conjugates,
    "figures/activations.png": activations,
    "figures/peer_ratios.png": peer_ratios,
    "figures/scaling.png": scaling,
}


def clear() -> None:
    """Drop the figures drawn so far (the next :func:`render_all` draws them again)."""
    _CACHE.clear()


def render_all() -> dict[str, bytes]:
    """``{path: PNG bytes}`` of every figure that has data (computed once per process)."""
    if not _CACHE:
        for path, fn in FIGURES.items():
            data = fn()
            if data is not None:
                _CACHE[path] = data
    return dict(_CACHE)


def link(path: str, alt: str) -> str:
    """Markdown for the figure at ``path`` (relative to a top-level page), or a note when its data
    is missing."""
    if path not in render_all():
        return f"*No data for `{path}` in this checkout (its `bench/results` file is missing).*\n"
    return f"![{alt}]({path})\n"
