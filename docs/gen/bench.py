"""Tables and figures of the measured performance, read from ``bench/results/*.json`` at build time.

Nothing here holds a number: every value comes from the JSON files the benchmarks write, so a new
run of a benchmark changes the manual and the README's headline table with it. A file that is
absent gives a one-line note in its place (``missing(name)``); a file that is present but does not
have the structure its benchmark writes raises :class:`BenchFormatError` naming the file, so the
build fails instead of showing a wrong table.

Files and the benchmark that writes each:

* ``peers.json`` -- ``bench/bench_peers.py``: each metric timed in fresh processes against the
  reference packages (cold and warm seconds, ratio reference / fastgan).
* ``modern.json`` / ``modern_quick.json`` -- ``bench/bench_modern.py``: the newer metrics against
  their references (seconds, peak MiB, largest relative difference).
* ``eval.json`` -- ``bench/bench_eval.py``: ``fastgan eval`` end to end against pytorch-fid and
  torch-fidelity.
* ``cpu.json`` / ``cuda.json`` -- ``pytest bench --benchmark-only``: every op with its baseline.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"

#: what bench_modern.py compares each case with (labels only: the numbers come from the JSON)
MODERN_REFERENCES = {
    "top_pr": "top-pr `compute_top_pr`",
    "p_precision_recall": "float64 numpy restatement with N x M matrices",
    "fd": "numpy.cov + `scipy.linalg.sqrtm`",
    "cmmd": "clip-mmd `mmd` (float32)",
    "vendi": "vendi-score `score_dual`",
    "sliced_wasserstein": "numpy, same directions",
    "sliced_wasserstein_approx": "numpy, dgm-eval closed form",
}
MODERN_TITLES = {
    "top_pr": "TopP&R",
    "p_precision_recall": "P-precision / P-recall",
    "fd": "FD",
    "cmmd": "CMMD",
    "vendi": "Vendi",
    "sliced_wasserstein": "sliced Wasserstein",
    "sliced_wasserstein_approx": "sliced Wasserstein (closed form)",
}


class BenchFormatError(ValueError):
    """A results file exists but does not have the structure its benchmark writes."""


def load(name: str) -> Optional[dict[str, Any]]:
    """``bench/results/<name>``, or None when the file is absent (a malformed file raises)."""
    path = RESULTS / name
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BenchFormatError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise BenchFormatError(f"{path}: expected a JSON object at the top level")
    return data


def need(data: Any, key: str, name: str, kind: type = object) -> Any:
    """``data[key]``, checked to be a ``kind``; :class:`BenchFormatError` naming the file otherwise."""
    if not isinstance(data, dict) or key not in data:
        raise BenchFormatError(f"bench/results/{name}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise BenchFormatError(
            f"bench/results/{name}: {key!r} is {type(value).__name__}, expected {kind.__name__}"
        )
    return value


def missing(name: str) -> str:
    return f"*`bench/results/{name}` is not in this checkout: run its benchmark to fill this table.*\n"


def machine(env: dict[str, Any]) -> str:
    """``"N CPU cores (cpu), torch V"`` from a results file's ``environment``."""
    torch_version = env.get("versions", {}).get("torch", "?")
    return f"{env.get('cpu_count', '?')} CPU cores ({env.get('cpu', '?')}), torch {torch_version}"


def _sig(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}" if x >= 10 else f"{x:.2g}"


def secs(v: Optional[float]) -> str:
    """Seconds, in s, ms or µs with 2 or 3 significant digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v >= 10:
        return f"{v:.1f} s"
    if v >= 0.1:
        return f"{v:.2f} s"
    if v >= 1e-3:
        return f"{_sig(v * 1e3)} ms"
    return f"{_sig(v * 1e6)} µs"


def ratio(v: Optional[float]) -> str:
    return "–" if v is None else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"


# ---------------------------------------------------------------------------------------- peers.json
def peers_rows() -> Optional[list[dict[str, Any]]]:
    """The ``results`` of peers.json that ran (``status == "ok"``), checked."""
    data = load("peers.json")
    if data is None:
        return None
    rows = need(data, "results", "peers.json", list)
    out = []
    for r in rows:
        for key in ("row", "title", "size", "impl", "status"):
            need(r, key, "peers.json")
        if r["status"] == "ok":
            need(r, "warm_median_s", "peers.json", (int, float))
            out.append(r)
    return out


def peers_groups() -> Optional[list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]]:
    """``(title, size, fastgan row, reference rows)`` per benchmark case, in file order."""
    rows = peers_rows()
    if rows is None:
        return None
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["title"], r["size"]), []).append(r)
    out = []
    for (title, size), rs in groups.items():
        ours = [r for r in rs if r["impl"] == "fastgan"]
        if not ours:
            raise BenchFormatError(f"bench/results/peers.json: no fastgan row for {title!r} at {size!r}")
        out.append((title, size, ours[0], [r for r in rs if r["impl"] != "fastgan"]))
    return out


def peers_ratio(ours: dict[str, Any], ref: dict[str, Any]) -> float:
    return float(ref["warm_median_s"]) / float(ours["warm_median_s"])


def peers_table() -> str:
    groups = peers_groups()
    if groups is None:
        return missing("peers.json")
    env = need(load("peers.json"), "environment", "peers.json", dict)
    lines = [
        f"Measured on {machine(env)}; ratio = reference warm time / fastgan warm time (above 1: fastgan faster).",
        "",
        "| metric | size | fastgan cold / warm | reference: cold / warm (ratio) |",
        "| --- | --- | --- | --- |",
    ]
    for title, size, ours, refs in groups:
        theirs = "; ".join(
            f"{r['impl']} {secs(r.get('cold_s'))} / {secs(r['warm_median_s'])} ({ratio(peers_ratio(ours, r))})"
            for r in refs
        )
        lines.append(
            f"| {title} | {size} | {secs(ours.get('cold_s'))} / {secs(ours['warm_median_s'])} | {theirs} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- modern.json
def modern_cases(name: str) -> Optional[tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]]:
    data = load(name)
    if data is None:
        return None
    cases = need(data, "cases", name, dict)
    out = []
    for case, c in cases.items():
        fg = need(c, "fastgan", name, dict)
        if "seconds" not in fg:  # skipped or failed: not shown
            continue
        out.append((case, c))
    return data, out


def modern_table(name: str = "modern.json") -> str:
    got = modern_cases(name)
    if got is None:
        return missing(name)
    data, cases = got
    lines = [
        f"{data.get('n', '?')} x {data.get('d', '?')} features, {data.get('threads', '?')} threads, torch "
        f"{data.get('torch', '?')}; peak = growth of the process's maximum RSS during the call; ratio = "
        "reference time / fastgan time.",
        "",
        "| metric | fastgan | reference | ratio | largest relative difference |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for case, c in cases:
        fg = c["fastgan"]
        ref = c.get("reference") or {}
        label = MODERN_REFERENCES.get(case, "reference")
        if "seconds" in ref:
            theirs = f"{label} {secs(ref['seconds'])}, {ref.get('peak_mib', 0):.0f} MiB"
            r = ratio(c.get("time_ratio_ref_over_fastgan"))
            diff = c.get("max_rel_diff")
            d = "–" if diff is None else ("0" if diff == 0 else f"{diff:.1e}")
        else:
            theirs, r, d = f"{label}: {ref.get('skipped', 'not run')}", "–", "–"
        lines.append(
            f"| {MODERN_TITLES.get(case, case)} | {secs(fg['seconds'])}, {fg.get('peak_mib', 0):.0f} MiB "
            f"| {theirs} | {r} | {d} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- memorization.json
#: what bench_memorization.py compares each case with (labels only: the numbers come from the JSON)
MEMORIZATION_REFERENCES = {
    "authpct": "dgm-eval formula, two cdist matrices",
    "mifid": "torchmetrics MIFID",
    "ct": "dgm-eval pipeline (scikit-learn, scipy)",
    "fld": "marcojira/fld algorithm, cached N x M",
    "fls": "dgm-eval algorithm, N x M",
}


def memorization_table(name: str = "memorization.json") -> str:
    """One row per (size, metric) of ``bench/bench_memorization.py``'s ``runs``."""
    data = load(name)
    if data is None:
        return missing(name)
    lines = [
        "Peak = growth of the process's maximum RSS during the call; ratio = reference time / fastgan "
        "time; FLD / FLS / C_T draw their random subsets differently on the two sides (values agree in "
        "distribution).",
        "",
        "| metric | N x D, device | fastgan | reference | ratio | values (fastgan / reference) |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for run in need(data, "runs", name, list):
        size = f"{run.get('n', '?')} x {run.get('d', '?')}, {run.get('device', 'cpu')}"
        for case, c in need(run, "cases", name, dict).items():
            fg, ref = need(c, "fastgan", name, dict), c.get("reference") or {}
            if "seconds" not in fg:
                continue
            label = MEMORIZATION_REFERENCES.get(case, "reference")
            if "seconds" in ref:
                theirs = f"{label} {secs(ref['seconds'])}, {ref.get('peak_mib', 0):.0f} MiB"
                vals = f"{fg['value']:.4g} / {ref['value']:.4g}"
            else:
                theirs, vals = f"{label}: {ref.get('skipped', 'not run')}", f"{fg['value']:.4g} / –"
            lines.append(
                f"| {case} | {size} | {secs(fg['seconds'])}, {fg.get('peak_mib', 0):.0f} MiB | {theirs} "
                f"| {ratio(c.get('time_ratio_ref_over_fastgan'))} | {vals} |"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- family.json
#: what bench_family.py compares each case with (labels only: the numbers come from the JSON)
FAMILY_REFERENCES = {
    "prd": "prd_score pipeline (scikit-learn MiniBatchKMeans)",
    "rarity": "Rarity-Score computation, full cdist matrices",
    "clipped_dc": "authors' scikit-learn NearestNeighbors + O(M^2) table",
    "kid_rbf": "torch-fidelity kid_kernel='rbf'",
    "mind": "torch-fidelity master metric_mind",
}


def family_table(name: str = "family.json") -> str:
    """One row per (size, metric) of ``bench/bench_family.py``'s ``sizes``."""
    data = load(name)
    if data is None:
        return missing(name)
    lines = [
        f"D = {data.get('d', '?')}, {data.get('threads', '?')} threads, torch {data.get('torch', '?')}; peak = "
        "growth of the process's maximum RSS during the call; ratio = reference time / fastgan time (PRD: "
        "fastgan's torch k-means against scikit-learn's, values differ by the clustering noise).",
        "",
        "| metric | N | fastgan | reference | ratio | largest relative difference |",
        "| --- | ---: | --- | --- | ---: | ---: |",
    ]
    for size, run in need(data, "sizes", name, dict).items():
        for case, c in need(run, "cases", name, dict).items():
            fg, ref = need(c, "fastgan", name, dict), c.get("reference") or {}
            if "seconds" not in fg:
                continue
            label = FAMILY_REFERENCES.get(case, "reference")
            if "seconds" in ref:
                theirs = f"{label} {secs(ref['seconds'])}, {ref.get('peak_mib', 0):.0f} MiB"
                diff = c.get("max_rel_diff")
                d = "–" if diff is None else ("0" if diff == 0 else f"{diff:.1e}")
            else:
                theirs, d = f"{label}: {ref.get('skipped', 'not run')}", "–"
            lines.append(
                f"| {case} | {size} | {secs(fg['seconds'])}, {fg.get('peak_mib', 0):.0f} MiB | {theirs} "
                f"| {ratio(c.get('time_ratio_ref_over_fastgan'))} | {d} |"
            )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- eval.json
def eval_table() -> str:
    data = load("eval.json")
    if data is None:
        return missing("eval.json")
    tools = need(data, "tools", "eval.json", dict)
    config = need(data, "config", "eval.json", dict)
    env = data.get("environment", {})
    lines = [
        f"{config.get('n', '?')} images per side ({config.get('size', '?')} px), device "
        f"{config.get('device', '?')}, {env.get('cpu_count', '?')} CPU cores, torch "
        f"{env.get('versions', {}).get('torch', '?')}; each tool in its own fresh process.",
        "",
        "| tool | wall | images/s | time in the networks | tool / fastgan |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, t in tools.items():
        need(t, "wall_s", "eval.json", (int, float))
        net = t.get("network_s")
        share = t.get("network_share")
        net_s = f"{secs(net)} ({share * 100:.0f} %)" if net is not None and share is not None else ""
        lines.append(
            f"| {t.get('label', key)} | {secs(t['wall_s'])} | {t.get('images_per_s', float('nan')):.1f} "
            f"| {net_s} | {ratio(t.get('ratio_vs_fastgan'))} |"
        )
    comps = data.get("comparisons", [])
    if comps:
        lines += ["", "Values where the conventions agree:", ""]
        lines += [
            f"* `{c['key']}`: {c['fastgan']} vs {c['peer']}, relative difference {c['rel_diff']:.1e}"
            for c in comps
        ]
    return "\n".join(lines) + "\n"


def embedding_table(name: str = "embedding.json") -> str:
    """``bench/bench_embedding.py``: the network alone and FID end to end, per image size and format."""
    data = load(name)
    if data is None:
        return missing(name)
    configs = need(data, "configs", name, list)
    env = data.get("environment", {})
    lines = [
        f"{machine(env)}; each tool in its own fresh process; network alone on "
        f"{data.get('net_images', '?')} preprocessed 299 x 299 inputs in the tool's default batch size.",
        "",
        "| images | tool | FID end to end | images/s | network alone, images/s | fastgan / tool |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for cfg in configs:
        label = f"{need(cfg, 'n', name)} x 2, {cfg.get('size', '?')} px {str(cfg.get('format', '?')).upper()}"
        rows = need(cfg, "rows", name, list)
        base = next((r for r in rows if r.get("tool") == "fastgan" and "wall_s" in r), None)
        for r in rows:
            net = r.get("network", {}).get("images_per_s")
            wall = r.get("wall_s")
            rel = wall / base["wall_s"] if base is not None and wall else None
            lines.append(
                f"| {label} | {r.get('tool', '?')} | {secs(wall)} | "
                f"{r.get('images_per_s', float('nan')):.1f} | {'' if net is None else f'{net:.1f}'} | "
                f"{ratio(rel)} |"
            )
    return "\n".join(lines) + "\n"


def losses_plain_table(name: str = "losses_plain.json") -> str:
    """``bench/bench_losses_plain.py``: the fused GAN loss against eager torch and ``torch.compile``
    by size, each size in its own plain process."""
    data = load(name)
    if data is None:
        return missing(name)
    rows = need(data, "rows", name, list)
    env = data.get("environment", {})
    lines = [
        f"{machine(env)}; forward + backward of the discriminator loss, median over the timed calls, "
        "one fresh process per size (glibc defaults).",
        "",
        "| logits per side | fastgan | eager | torch.compile | eager / fastgan | compile / fastgan |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        n = need(r, "n", name, int)
        fused, eager = need(r, "fastgan_ms", name, float), need(r, "eager_ms", name, float)
        comp = r.get("compiled_ms")
        lines.append(
            f"| {n:,} | {secs(fused / 1e3)} | {secs(eager / 1e3)} | "
            f"{'' if comp is None else secs(comp / 1e3)} | {ratio(eager / fused)} | "
            f"{'' if comp is None else ratio(comp / fused)} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- cpu.json, cuda.json
def _op_cells(r: dict[str, Any]) -> tuple[str, str]:
    times = [
        f"{k[:-2].replace('_', ' ')} {secs(v)}"
        for k, v in r.items()
        if k.endswith("_s") and isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    ratios = [
        f"{k.replace('_', ' ')} {ratio(v)}"
        for k, v in r.items()
        if (k.startswith("speedup") or k.startswith("ratio")) and isinstance(v, (int, float))
    ]
    return "; ".join(times), "; ".join(ratios)


def ops_table(name: str) -> str:
    data = load(name)
    if data is None:
        return missing(name)
    results = need(data, "results", name, dict)
    versions = data.get("versions", {})
    lines = [
        f"{data.get('device', '?')}, torch {versions.get('torch', '?')}, {data.get('date', '')}; "
        "times are medians of the benchmark harness.",
        "",
        "| benchmark | times | ratios (above 1: fastgan faster) |",
        "| --- | --- | --- |",
    ]
    for key, r in results.items():
        if not isinstance(r, dict):
            raise BenchFormatError(f"bench/results/{name}: result {key!r} is not an object")
        times, ratios = _op_cells(r)
        if not times:
            continue  # e.g. the package-availability records
        lines.append(f"| `{key.split('/', 1)[0]}` | {times} | {ratios} |")
    notes = data.get("notes")
    if notes:
        lines += ["", f"Notes recorded with the run: {notes}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- README headline
def headline_table() -> str:
    """The README's table: one row per peers.json case and per modern.json metric."""
    lines = [
        "| metric | size | fastgan | reference packages (time ratio, above 1: fastgan faster) |",
        "| --- | --- | ---: | --- |",
    ]
    groups = peers_groups()
    for title, size, ours, refs in groups or []:
        theirs = ", ".join(f"{r['impl']} {ratio(peers_ratio(ours, r))}" for r in refs)
        lines.append(f"| {title} | {size} | {secs(ours['warm_median_s'])} | {theirs} |")
    got = modern_cases("modern.json")
    if got is not None:
        data, cases = got
        for case, c in cases:
            ref = c.get("reference") or {}
            if "seconds" not in ref:
                continue
            label = MODERN_REFERENCES.get(case, "reference")
            lines.append(
                f"| {MODERN_TITLES.get(case, case)} | {data.get('n', '?')} x {data.get('d', '?')} "
                f"| {secs(c['fastgan']['seconds'])} | {label} {ratio(c.get('time_ratio_ref_over_fastgan'))} |"
            )
    lines += embedding_headline()
    if len(lines) == 2:
        return missing("peers.json")
    return "\n".join(lines) + "\n"


def embedding_headline() -> list[str]:
    """One row per embedding.json configuration: FID end to end, fastgan's default mode against each tool."""
    data = load("embedding.json")
    rows: list[str] = []
    for cfg in (data or {}).get("configs", []):
        by_tool = {r.get("tool"): r for r in cfg.get("rows", []) if "wall_s" in r}
        ours = by_tool.get("fastgan")
        if ours is None:
            continue
        theirs = ", ".join(
            f"{t} {ratio(r['wall_s'] / ours['wall_s'])}"
            for t, r in by_tool.items()
            if not t.startswith("fastgan")
        )
        size = f"{cfg.get('n', '?')} images per side, {cfg.get('size', '?')} px {str(cfg.get('format', '?')).upper()}"
        rows.append(f"| FID end to end (images to number) | {size} | {secs(ours['wall_s'])} | {theirs} |")
    return rows
