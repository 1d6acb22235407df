"""fastgan's feature-set metrics beyond FID/KID against their reference implementations.

Metrics: CMMD (``clip-mmd``: ``clip_mmd.calculation.mmd``), Vendi (``vendi-score``:
``vendi_score.vendi.score_dual``), TopP&R (``top-pr``: ``top_pr.compute_top_pr``, same
seeds), P-precision / P-recall (a float64 numpy reimplementation
of the paper's definition with full ``N x M`` distance matrices, as the authors' code does:
their code is not a package), sliced Wasserstein (Monte-Carlo: numpy with the same directions;
closed form: dgm-eval's ``sw_approx`` formula in numpy), FD (scipy ``sqrtm`` of
``sigma1 @ sigma2``, the classic formula). Missing packages are recorded and skipped.

Every (metric, implementation) pair runs in its own fresh Python process on identical seeded
features (real ``randn``, fake ``1.1 * randn + 0.1``, float32), so each gets a clean peak
memory: ``peak_mib`` is the growth of the process's maximum resident set size during the call
(``ru_maxrss`` after minus before, features already in memory), ``seconds`` the wall time of
the call after a warm-up call on 256 rows (whose time, which includes one-time library and
LAPACK/BLAS start-up costs, is recorded as ``warmup_seconds``). Values, the fastgan/reference
time ratio and both peaks are written to one JSON.

Run (plain Python, no harness heap settings)::

    python bench/bench_modern.py            # 10k x 1024 (the headline case; minutes)
    python bench/bench_modern.py --quick    # 3k x 512 (a quick check)
    python bench/bench_modern.py --large    # fastgan only, 100k x 1024: peak memory of the tiled paths

Results: ``bench/results/modern[_quick|_large].json``.
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

# ----------------------------------------------------------------------------- implementations


def _data(n: int, d: int, seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = 1.1 * torch.randn(n, d, generator=g) + 0.1
    return x, y


def _fg_cmmd(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.cmmd(x, y)


def _ref_cmmd(x: Any, y: Any) -> Any:
    from clip_mmd.calculation import mmd

    return float(mmd(x, y))  # float32, three N x N kernel matrices


def _fg_vendi(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.vendi(y)


def _ref_vendi(x: Any, y: Any) -> Any:
    from vendi_score.vendi import score_dual

    return float(score_dual(y.double().numpy()))


def _fg_ppr(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.p_precision_recall(x, y)


def _ref_ppr(x: Any, y: Any) -> Any:
    import numpy as np
    from scipy.spatial.distance import cdist

    a, b, k, scale = x.double().numpy(), y.double().numpy(), 4, 1.2

    def radius(z: Any) -> float:
        dz = cdist(z, z)
        return scale * float(np.partition(dz, k, axis=1)[:, k].mean())  # k-th other (self at 0)

    dxy = cdist(a, b)
    out = {}
    for key, base_r, dm in (("p_precision", radius(a), dxy), ("p_recall", radius(b), dxy.T)):
        f = np.maximum(0.0, 1.0 - dm / base_r)
        out[key] = float(np.mean(1.0 - np.prod(1.0 - f, axis=0)))
    return out


def _fg_sw(x: Any, y: Any) -> Any:
    import torch

    import fastgan.metrics as fm

    return fm.sliced_wasserstein(x, y, projections=200, generator=torch.Generator().manual_seed(0))


def _ref_sw(x: Any, y: Any) -> Any:
    import numpy as np
    import torch

    from fastgan.metrics.sliced import random_directions

    theta = random_directions(x.shape[1], 200, torch.Generator().manual_seed(0)).numpy()
    px = np.sort(x.double().numpy() @ theta.T, axis=0)
    py = np.sort(y.double().numpy() @ theta.T, axis=0)
    return float(np.sqrt(((px - py) ** 2).mean()))


def _fg_sw_approx(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.sliced_wasserstein(x, y, method="approx")


def _ref_sw_approx(x: Any, y: Any) -> Any:
    import numpy as np

    a, b = x.double().numpy(), y.double().numpy()
    d = a.shape[1]
    ma, mb = a.mean(0), b.mean(0)
    mean_term = np.linalg.norm(ma - mb) ** 2 / d
    sa = (np.linalg.norm(a - ma, axis=1) ** 2).mean() / d
    sb = (np.linalg.norm(b - mb, axis=1) ** 2).mean() / d
    return float((mean_term + (sa**0.5 - sb**0.5) ** 2) ** 0.5)


def _fg_fd(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.fd(x, y)


def _ref_fd(x: Any, y: Any) -> Any:
    import numpy as np
    import scipy.linalg

    a, b = x.double().numpy(), y.double().numpy()
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def _fg_top_pr(x: Any, y: Any) -> Any:
    import fastgan.metrics as fm

    return fm.top_precision_recall(x, y)


def _ref_top_pr(x: Any, y: Any) -> Any:
    import numpy as np
    from top_pr.top_pr import compute_top_pr

    np.random.seed(42)  # top-pr seeds numpy itself when it projects (D > 32); explicit for D <= 32
    r = compute_top_pr(
        real_features=x.numpy(),
        fake_features=y.numpy(),
        alpha=0.1,
        kernel="cosine",
        random_proj=True,
        f1_score=False,
    )
    return {"top_precision": float(r["fidelity"]), "top_recall": float(r["diversity"])}


CASES: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any], str]] = {
    "cmmd": (_fg_cmmd, _ref_cmmd, "clip_mmd.calculation"),
    "vendi": (_fg_vendi, _ref_vendi, "vendi_score.vendi"),
    "p_precision_recall": (_fg_ppr, _ref_ppr, "scipy.spatial.distance"),
    "sliced_wasserstein": (_fg_sw, _ref_sw, "numpy"),
    "sliced_wasserstein_approx": (_fg_sw_approx, _ref_sw_approx, "numpy"),
    "fd": (_fg_fd, _ref_fd, "scipy.linalg"),
    "top_pr": (_fg_top_pr, _ref_top_pr, "top_pr.top_pr"),
}
LARGE = ("cmmd", "vendi", "p_precision_recall", "sliced_wasserstein_approx", "top_pr")


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _child(case: str, which: str, n: int, d: int) -> dict[str, Any]:
    import importlib

    fg, ref, module = CASES[case]
    if which == "reference":
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            return {"skipped": f"{module}: {type(exc).__name__}: {exc}"}
    import fastgan.metrics  # noqa: F401  (import cost outside the timing)

    x, y = _data(n, d)
    impl = fg if which == "fastgan" else ref
    t0 = time.perf_counter()
    impl(x[:256], y[:256])  # one-time costs (library loading, LAPACK/BLAS thread start-up), reported apart
    warmup = time.perf_counter() - t0
    before = _maxrss_mib()
    t0 = time.perf_counter()
    value = impl(x, y)
    seconds = time.perf_counter() - t0
    return {
        "value": value,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "peak_mib": _maxrss_mib() - before,
        "base_mib": before,
    }


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
    ap.add_argument("--quick", action="store_true", help="3k x 512 instead of 10k x 1024")
    ap.add_argument("--large", action="store_true", help="fastgan only at 100k x 1024 (peak memory)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--child", nargs=4, metavar=("CASE", "WHICH", "N", "D"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        case, which, n, d = args.child
        print(json.dumps(_child(case, which, int(n), int(d))))
        return
    n, d = (3000, 512) if args.quick else (100_000, 1024) if args.large else (10_000, 1024)
    n, d = args.n or n, args.d or d
    cases = [c for c in args.cases.split(",") if c]
    import torch

    results: dict[str, Any] = {
        "n": n,
        "d": d,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cases": {},
    }
    for case in cases:
        if args.large and case not in LARGE:
            continue
        row: dict[str, Any] = {"fastgan": _run(case, "fastgan", n, d, args.timeout)}
        if not args.large:
            row["reference"] = _run(case, "reference", n, d, args.timeout)
            f, r = row["fastgan"], row["reference"]
            if "value" in f and "value" in r:
                row["max_rel_diff"] = _close(f["value"], r["value"])
                row["time_ratio_ref_over_fastgan"] = r["seconds"] / f["seconds"]
        results["cases"][case] = row
        f = row["fastgan"]
        r = row.get("reference", {})
        print(
            f"{case:27s} fastgan {f.get('seconds', float('nan')):8.2f} s"
            f" {f.get('peak_mib', float('nan')):8.0f} MiB"
            + (
                f" | ref {r.get('seconds', float('nan')):8.2f} s {r.get('peak_mib', float('nan')):8.0f} MiB"
                f" | ratio {row.get('time_ratio_ref_over_fastgan', float('nan')):6.2f}"
                f" | rel diff {row.get('max_rel_diff', float('nan')):.1e}"
                if not args.large
                else ""
            )
            + (f"  [{r['skipped']}]" if "skipped" in r else "")
            + (f"  [fastgan: {f['skipped']}]" if "skipped" in f else ""),
            flush=True,
        )
    name = "modern_quick" if args.quick else "modern_large" if args.large else "modern"
    out = os.path.join(HERE, "results", f"{name}.json")
    if os.path.exists(out):  # a run of some --cases updates those cases of an earlier run of the same size
        with open(out) as fh:
            old = json.load(fh)
        if (old.get("n"), old.get("d")) == (n, d):
            old["cases"].update(results["cases"])
            results["cases"] = old["cases"]
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"wrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
