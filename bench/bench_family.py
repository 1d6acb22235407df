"""The precision / recall family and kernel variants against their references: speed and peak memory.

Metrics (fastgan function | reference):

* ``prd``: :func:`fastgan.metrics.prd` with ``kmeans="torch"`` | the reference's pipeline
  (``prd_score.compute_prd_from_embedding``: scikit-learn ``MiniBatchKMeans(20, n_init=10)`` on the
  float64 union, ``numpy.histogram``, 1001 angles, 10 runs), written here with those calls (the
  reference is not a package). Values differ by the clustering noise (another k-means).
* ``rarity``: :func:`fastgan.metrics.rarity` | hichoe95/Rarity-Score's computation: full real-real
  and real-fake ``torch.cdist`` matrices, a full sort of the real-real rows, the masked minimum
  (vectorised here: the reference's per-sample Python loop is slower still).
* ``clipped_dc``: :func:`fastgan.metrics.clipped_density_coverage` | the authors' scikit-learn
  ``NearestNeighbors`` searches (k-NN of the real set, ball-tree radius search of the fake set,
  k-NN of the fake set) and their ``_f_coverage`` table over every ``M_i`` (O(M^2)), written here.
* ``kid_rbf``: :func:`fastgan.metrics.kid_rbf` (``preset="torch-fidelity"``) | torch-fidelity
  ``kid_features_to_metric(kid_kernel="rbf")`` (same rounds; needs torch-fidelity >= 0.4.0).
* ``mind``: :func:`fastgan.metrics.mind` | torch-fidelity master ``metric_mind`` (same draws;
  skipped unless that module imports).

Every (metric, implementation, size) triple runs in its own fresh Python process on identical
seeded float32 features (real ``randn``, fake ``1.1 * randn + 0.1``), as in
``bench/bench_modern.py`` (same JSON layout): ``seconds`` is the wall time after a warm-up call on
256 rows, ``peak_mib`` the growth of the process's maximum resident set size during the call. A
reference that runs out of memory or time is recorded as skipped with the reason.

Run (plain Python; an idle machine for real numbers)::

    python bench/bench_family.py            # N = 10k and 50k, D = 1024 (long)
    python bench/bench_family.py --quick    # N = 600, D = 64: a smoke check (seconds)

Results: ``bench/results/family[_quick].json`` (one entry per size).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _data(n: int, d: int, seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), 1.1 * torch.randn(n, d, generator=g) + 0.1


# ----------------------------------------------------------------------------- implementations
def _fg_prd(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.prd(x, y, kmeans="torch")


def _ref_prd(x: Any, y: Any) -> Any:
    import numpy as np
    from sklearn.cluster import MiniBatchKMeans

    import fastgan.metrics as fm

    union = np.vstack([y.double().numpy(), x.double().numpy()])
    m = y.shape[0]
    slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, num=1001))
    ps, rs = [], []
    for _ in range(10):
        lab = MiniBatchKMeans(n_clusters=20, n_init=10).fit(union).labels_
        ev = np.histogram(lab[:m], bins=20, range=[0, 20], density=True)[0]
        rf = np.histogram(lab[m:], bins=20, range=[0, 20], density=True)[0]
        p = np.minimum(rf[None] * slopes[:, None], ev[None]).sum(1)
        ps.append(np.clip(p, 0, 1))
        rs.append(np.clip(p / slopes, 0, 1))
    fb, fbi = fm.prd_f_beta(np.mean(ps, 0), np.mean(rs, 0))
    return {"prd_f_beta": fb, "prd_f_beta_inv": fbi}


def _fg_rarity(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.rarity(x, y)


def _ref_rarity(x: Any, y: Any) -> Any:
    import torch

    k = 3
    r = torch.cdist(x, x).sort(dim=1)[0][:, k]  # column 0 is the point itself
    inside = (r[:, None] - torch.cdist(x, y)) > 0
    masked = torch.where(
        inside, r[:, None].expand_as(inside), torch.full_like(inside, float("inf"), dtype=r.dtype)
    )
    best = masked.min(0).values
    ok = torch.isfinite(best)
    return {"rarity_mean": float(best[ok].double().mean()), "rarity_inside": float(ok.double().mean())}


def _fg_clipped(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.clipped_density_coverage(x, y)


def _ref_clipped(x: Any, y: Any) -> Any:
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    from fastgan.metrics import coverage_calibration

    k, real, fake = 5, x.numpy(), y.numpy()
    dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(real).kneighbors(real)
    r = dist[:, -1]
    rc = np.clip(r, 0, np.median(r))
    tree = NearestNeighbors(algorithm="ball_tree").fit(fake)
    dd, ii = tree.radius_neighbors(real, radius=float(rc.max()), return_distance=True, sort_results=False)
    hits = np.concatenate([ii[i][dd[i] <= rc[i]] for i in range(len(real))])
    cf = np.bincount(hits, minlength=len(fake))
    cr = np.bincount(idx[:, 1:][dist[:, 1:] <= rc[:, None]], minlength=len(real))
    dens = min(np.minimum(cf / k, 1).mean() / np.minimum(cr / k, 1).mean(), 1.0)
    dk, _ = NearestNeighbors(n_neighbors=k).fit(fake).kneighbors(real)
    raw = float((dk < r[:, None]).mean())
    f = coverage_calibration(k, len(real), len(fake))  # the full O(M^2) table, as the reference builds it
    return {"clipped_density": float(dens), "clipped_coverage": float(np.searchsorted(f, raw) / len(f))}


def _fg_kid_rbf(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.kid_rbf(x, y, 100, min(1000, x.shape[0] // 2), preset="torch-fidelity", seed=2020)


def _ref_kid_rbf(x: Any, y: Any) -> Any:
    from torch_fidelity.metric_kid import kid_features_to_metric

    out = kid_features_to_metric(
        y,
        x,
        kid_subsets=100,
        kid_subset_size=min(1000, x.shape[0] // 2),
        kid_kernel="rbf",
        rng_seed=2020,
        verbose=False,
    )
    return {
        "kid_rbf_mean": out["kernel_inception_distance_mean"],
        "kid_rbf_std": out["kernel_inception_distance_std"],
    }


def _fg_mind(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.mind(x, y)


def _ref_mind(x: Any, y: Any) -> Any:
    from torch_fidelity.metric_mind import mind_features_to_metric

    return mind_features_to_metric(y, x, mind_num_projections=1000, cuda=False, rng_seed=2020, verbose=False)[
        "monge_inception_distance"
    ]


CASES: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any], str]] = {
    "prd": (_fg_prd, _ref_prd, "sklearn.cluster"),
    "rarity": (_fg_rarity, _ref_rarity, "torch"),
    "clipped_dc": (_fg_clipped, _ref_clipped, "sklearn.neighbors"),
    "kid_rbf": (_fg_kid_rbf, _ref_kid_rbf, "torch_fidelity.metric_kid"),
    "mind": (_fg_mind, _ref_mind, "torch_fidelity.metric_mind"),
}


# ----------------------------------------------------------------------------- harness
def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _child(case: str, which: str, n: int, d: int) -> dict[str, Any]:
    import importlib

    fg, ref, module = CASES[case]
    if which == "reference":
        try:
            importlib.import_module(module)
            if case == "kid_rbf" and not hasattr(importlib.import_module(module), "kernel_rbf"):
                return {"skipped": "this torch-fidelity has no RBF kernel for KID"}
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            return {"skipped": f"{module}: {type(exc).__name__}: {exc}"}
    import fastgan.metrics  # noqa: F401  (import cost outside the timing)

    x, y = _data(n, d)
    impl = fg if which == "fastgan" else ref
    t0 = time.perf_counter()
    impl(x[:256], y[:256])  # one-time costs, reported apart
    warmup = time.perf_counter() - t0
    before = _maxrss_mib()
    t0 = time.perf_counter()
    value = impl(x, y)
    seconds = time.perf_counter() - t0
    return {"value": value, "seconds": seconds, "warmup_seconds": warmup, "peak_mib": _maxrss_mib() - before}


def _run(case: str, which: str, n: int, d: int, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, which, str(n), str(d)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"skipped": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _close(a: Any, b: Any) -> float:
    """Largest relative difference between two results (floats or dicts of floats)."""
    if isinstance(a, dict):
        return max(_close(a[k], b[k]) for k in a)
    return abs(a - b) / max(abs(b), 1e-300)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 600, D = 64 (a smoke check)")
    ap.add_argument("--sizes", default=None, help="comma-separated N (default 10000,50000)")
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--child", nargs=4, metavar=("CASE", "WHICH", "N", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        case, which, n, d = args.child
        print(json.dumps(_child(case, which, int(n), int(d))))
        return
    sizes = [600] if args.quick else [10_000, 50_000]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else sizes
    d = args.d or (64 if args.quick else 1024)
    import torch

    results: dict[str, Any] = {
        "d": d,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sizes": {},
    }
    for n in sizes:
        rows: dict[str, Any] = {}
        for case in [c for c in args.cases.split(",") if c]:
            row: dict[str, Any] = {
                "fastgan": _run(case, "fastgan", n, d, args.timeout),
                "reference": _run(case, "reference", n, d, args.timeout),
            }
            f, r = row["fastgan"], row["reference"]
            if "value" in f and "value" in r:
                row["max_rel_diff"] = _close(f["value"], r["value"])
                row["time_ratio_ref_over_fastgan"] = r["seconds"] / f["seconds"]
            rows[case] = row
            print(
                f"N={n:6d} {case:11s} fastgan {f.get('seconds', float('nan')):8.2f} s"
                f" {f.get('peak_mib', float('nan')):8.0f} MiB"
                f" | ref {r.get('seconds', float('nan')):8.2f} s {r.get('peak_mib', float('nan')):8.0f} MiB"
                f" | ratio {row.get('time_ratio_ref_over_fastgan', float('nan')):6.2f}"
                f" | rel diff {row.get('max_rel_diff', float('nan')):.1e}"
                + (f"  [{r['skipped']}]" if "skipped" in r else "")
                + (f"  [fastgan: {f['skipped']}]" if "skipped" in f else ""),
                flush=True,
            )
        results["sizes"][str(n)] = {"n": n, "cases": rows}
    out = os.path.join(HERE, "results", "family_quick.json" if args.quick else "family.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"wrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
