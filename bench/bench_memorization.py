"""fastgan's memorization metrics (AuthPct, MIFID, C_T, FLD, FLS) against their reference implementations.

References: MIFID is torchmetrics' ``MemorizationInformedFrechetInceptionDistance`` (identity
feature extractor, float64). dgm-eval and marcojira/fld are not packages, so AuthPct, C_T, FLD and
FLS are timed against numpy / torch transcriptions of their reference code's formulas with the
reference's data layout: full ``torch.cdist`` matrices (AuthPct: ``N x N`` and ``N x M``; FLD:
the cached ``N x M`` distances of ``fld/MoG.py``; FLS: the ``N x M`` matrices of dgm-eval's
``fls.py``) and, for C_T, scikit-learn ``PCA`` / ``KMeans`` / ``NearestNeighbors`` and scipy's
``mannwhitneyu`` as dgm-eval's ``ct.py`` calls them. The random draws (subsets, shuffles,
k-means seeds) differ between the two sides, so FLD / FLS / C_T values agree statistically, not
to rounding (the float64 oracle tests check the formulas exactly).

Features (float32, seeded): train ``randn(N, D)``; test ``randn(N, D)``; fake = ``N / 2`` noisy
copies of training rows and ``N / 2`` fresh ``1.1 randn + 0.1`` rows. Every (metric,
implementation) pair runs in its own fresh Python process: ``peak_mib`` is the growth of the
maximum resident set size during the call (features already in memory), ``seconds`` the wall time
after a warm-up call on 256 rows (``warmup_seconds``). The schedule constants are the references'
(FLD: 50 epochs; FLS: 100 steps).

Run (plain Python, on an idle machine)::

    python bench/bench_memorization.py             # N = 10k and 50k, D = 1024 (long)
    python bench/bench_memorization.py --quick     # N = 1000, D = 64 (a smoke run)
    python bench/bench_memorization.py --sizes 10000 --cases authpct,mifid
    python bench/bench_memorization.py --device cuda  # both sides on the GPU; adds cuda_peak_mib

Results: ``bench/results/memorization[_quick].json``: one entry per size in ``runs``, each as
``bench/results/modern.json`` (``n``, ``d``, ``threads``, ``torch``, ``cases``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ----------------------------------------------------------------------------- inputs
def _data(n: int, d: int, seed: int = 0) -> tuple[Any, Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    train = torch.randn(n, d, generator=g)
    test = torch.randn(n, d, generator=g)
    half = n // 2
    copies = train[:half] + 0.05 * torch.randn(half, d, generator=g)
    fake = torch.cat([copies, 1.1 * torch.randn(n - half, d, generator=g) + 0.1])
    return train, test, fake


# ----------------------------------------------------------------------------- fastgan
def _fg_authpct(t: Any, p: Any, q: Any) -> Any:
    import fastgan.metrics as fm

    return fm.authpct(t, q)


def _fg_mifid(t: Any, p: Any, q: Any) -> Any:
    import fastgan.metrics as fm

    return fm.mifid(t.abs(), q.abs())


def _fg_ct(t: Any, p: Any, q: Any) -> Any:
    import fastgan.metrics as fm

    return fm.ct_score(t, p, q)


def _fg_fld(t: Any, p: Any, q: Any) -> Any:
    import fastgan.metrics as fm

    return fm.fld(t, p, q)


def _fg_fls(t: Any, p: Any, q: Any) -> Any:
    import fastgan.metrics as fm

    return fm.fls(t, p, q)


# ----------------------------------------------------------------------------- references
def _ref_authpct(t: Any, p: Any, q: Any) -> Any:
    """dgm-eval ``authpct.py``'s formula: two full cdist matrices, float32."""
    import torch

    dtt = torch.cdist(t, t)
    dtt.fill_diagonal_(math.inf)
    r = dtt.min(0).values
    dtq = torch.cdist(t, q)
    d1, idx = dtq.min(0)
    return float(100.0 * (r[idx] < d1).float().mean())


def _ref_mifid(t: Any, p: Any, q: Any) -> Any:
    import torch
    from torchmetrics.image.mifid import MemorizationInformedFrechetInceptionDistance

    class Identity(torch.nn.Module):
        num_features = int(t.shape[1])

        def forward(self, x: Any) -> Any:
            return x

    m = MemorizationInformedFrechetInceptionDistance(feature=Identity(), normalize=False).to(t.device)
    m.set_dtype(torch.float64)
    m.update(t.abs().double(), real=True)
    m.update(q.abs().double(), real=False)
    return float(m.compute())


def _ref_ct(t: Any, p: Any, q: Any) -> Any:
    """dgm-eval ``ct.py``'s pipeline: PCA(64) and KMeans(3, n_init=10) fit on train, 1-NN per cell
    with scikit-learn, scipy's Mann-Whitney U, the weighted Z."""
    import numpy as np
    from scipy.stats import mannwhitneyu
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    tt, pp, qq = (a.cpu().numpy() for a in (t, p, q))
    if tt.shape[1] > 64:
        pca = PCA(n_components=64).fit(tt)
        tt, pp, qq = (pca.transform(a) for a in (tt, pp, qq))
    km = KMeans(n_clusters=3, n_init=10, random_state=0).fit(tt)
    tl, pl, ql = (km.predict(a) for a in (tt, pp, qq))
    m, n = len(qq), len(pp)
    wq, wp = np.bincount(ql, minlength=3) / m, np.bincount(pl, minlength=3) / n
    z = np.zeros(3)
    for c in range(3):
        nn = NearestNeighbors(n_neighbors=1).fit(tt[tl == c])
        lq = nn.kneighbors(qq[ql == c])[0]
        lp = nn.kneighbors(pp[pl == c])[0]
        u = mannwhitneyu(lq, lp, alternative="less").statistic
        a, b = len(lp), len(lq)
        z[c] = (float(np.squeeze(u)) - (a * b / 2 - 0.5)) / np.sqrt(a * b * (a + b + 1) / 12)
    keep = wq > 20 / m
    return float(wp[keep] @ z[keep] / wp[keep].sum())


def _ll(d: Any, ls: Any, dim: int) -> Any:
    return -0.5 * d / ls.exp() - dim / 2 * ls - dim / 2 * math.log(2 * math.pi)


def _ref_fit_fld(mus: Any, x: Any, g: Any) -> Any:
    """marcojira/fld ``MoG.fit``'s algorithm on the cached N x M cdist matrix."""
    import torch

    dim = x.shape[1]
    mean_x = x.mean(0, keepdim=True)
    x = x[torch.randperm(len(x), generator=g).to(x.device)]
    dists = torch.cdist(x, mus) ** 2
    ls = ((dists.min(0).values + 1e-3) / dim).log().requires_grad_(True)
    lo = torch.tensor(0.0, device=x.device, requires_grad=True)
    opt = torch.optim.Adam([ls, lo], lr=0.5)
    for _ in range(50):
        for i, batch in enumerate(x.split(10000)):
            opt.zero_grad()
            pll = _ll(dists[i * 10000 : (i + 1) * 10000], ls, dim) - math.log(len(mus))
            oll = _ll(0.81 * torch.cdist(batch, mean_x) ** 2, lo, dim)
            loss = -torch.logsumexp(torch.cat([pll, oll], 1), 1).mean() / dim
            loss.backward()
            opt.step()
            with torch.no_grad():
                ls.clamp_(-40, 20)
    return ls.detach()


def _ref_nll(x: Any, mus: Any, ls: Any) -> float:
    import torch

    d = torch.cdist(x, mus) ** 2
    return float(-torch.logsumexp(_ll(d, ls, x.shape[1]) - math.log(len(mus)), 1).mean()) / x.shape[1]


def _ref_fld(t: Any, p: Any, q: Any) -> Any:
    import torch

    with torch.enable_grad():
        g = torch.Generator().manual_seed(1)
        if len(q) > 10000:
            q = q[torch.randperm(len(q), generator=g)[:10000].to(q.device)]
        mean, std = p.mean(0), p.std(0)
        t, p, q = ((a - mean) / std for a in (t, p, q))
        nll = _ref_nll(p, q, _ref_fit_fld(q, t, g))
        tb = t[torch.randperm(len(t), generator=g).to(t.device)]
        split = min(len(q), len(t) // 2)
        base = _ref_nll(p, tb[:split], _ref_fit_fld(tb[:split], tb[split:], g))
        return 100.0 * (nll - base)


def _ref_fls(t: Any, p: Any, q: Any) -> Any:
    """dgm-eval ``compute_fls`` with ``__main__.py``'s subsets: dense N x M matrices, 100 Adam steps."""
    import torch

    with torch.enable_grad():
        g = torch.Generator().manual_seed(1)
        n = min(len(t) // 2, len(p), len(q))
        p = p[torch.randperm(len(p), generator=g)[:n].to(p.device)]
        q = q[torch.randperm(len(q), generator=g)[:n].to(q.device)]
        tt = t[torch.randperm(len(t), generator=g)[: 2 * n].to(t.device)]
        tr, base = tt[:n], tt[n:]
        allf = torch.cat([tr, base, p, q])
        mean, std = allf.mean(0), allf.std(0)
        tr, base, p, q = ((a - mean) / std for a in (tr, base, p, q))
        dim = tr.shape[1]

        def ll(d: Any, ls: Any) -> Any:
            return -0.5 * d / ls.exp() - dim / 2 * ls + math.log(1 / d.shape[1])

        def nll_of(mus: Any) -> float:
            d = torch.cdist(tr, mus) ** 2
            ls = torch.zeros(len(mus), device=mus.device, requires_grad=True)
            opt = torch.optim.Adam([ls], lr=0.5)
            sch = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[50], gamma=0.1)
            for _ in range(100):
                loss = -torch.logsumexp(ll(d, ls), 1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sch.step()
                with torch.no_grad():
                    ls.clamp_(-100, 20)
            return float(-torch.logsumexp(ll(torch.cdist(p, mus) ** 2, ls.detach()), 1).mean())

        return 100.0 * math.exp(-2.0 * (nll_of(q) - nll_of(base)) / dim)


CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any], str]] = {
    "authpct": (_fg_authpct, _ref_authpct, "torch"),
    "mifid": (_fg_mifid, _ref_mifid, "torchmetrics.image.mifid"),
    "ct": (_fg_ct, _ref_ct, "sklearn.cluster"),
    "fld": (_fg_fld, _ref_fld, "torch"),
    "fls": (_fg_fls, _ref_fls, "torch"),
}


# ----------------------------------------------------------------------------- harness
def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _child(case: str, which: str, n: int, d: int, device: str) -> dict[str, Any]:
    import importlib

    import torch

    fg, ref, module = CASES[case]
    if which == "reference":
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - recorded, not raised
            return {"skipped": f"{module}: {type(exc).__name__}: {exc}"}
    import fastgan.metrics  # noqa: F401  (import cost outside the timing)

    t, p, q = (a.to(device) for a in _data(n, d))
    impl = fg if which == "fastgan" else ref
    cuda = t.device.type == "cuda"
    w = min(256, n)
    t0 = time.perf_counter()
    impl(t[:w], p[:w], q[:w])
    warmup = time.perf_counter() - t0
    before = _maxrss_mib()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    value = impl(t, p, q)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    extra = {"cuda_peak_mib": (torch.cuda.max_memory_allocated() - cuda_before) / 2**20} if cuda else {}
    return {
        **extra,
        "value": value,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "peak_mib": _maxrss_mib() - before,
        "base_mib": before,
    }


def _run(case: str, which: str, n: int, d: int, device: str, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, which, str(n), str(d), device]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"skipped": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _one_size(n: int, d: int, device: str, cases: list[str], timeout: float) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "n": n,
        "d": d,
        "device": device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cases": {},
    }
    for case in cases:
        row: dict[str, Any] = {"fastgan": _run(case, "fastgan", n, d, device, timeout)}
        row["reference"] = _run(case, "reference", n, d, device, timeout)
        f, r = row["fastgan"], row["reference"]
        if "value" in f and "value" in r:
            row["abs_diff"] = abs(f["value"] - r["value"])
            row["time_ratio_ref_over_fastgan"] = r["seconds"] / f["seconds"]
        out["cases"][case] = row
        print(
            f"N={n:6d} {case:8s} fastgan {f.get('seconds', math.nan):8.2f} s {f.get('peak_mib', math.nan):8.0f} MiB"
            f" | ref {r.get('seconds', math.nan):8.2f} s {r.get('peak_mib', math.nan):8.0f} MiB"
            f" | ratio {row.get('time_ratio_ref_over_fastgan', math.nan):6.2f}"
            f" | values {f.get('value', math.nan):.4g} / {r.get('value', math.nan):.4g}"
            + (f"  [{r['skipped']}]" if "skipped" in r else "")
            + (f"  [fastgan: {f['skipped']}]" if "skipped" in f else ""),
            flush=True,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 1000, D = 64 (a smoke run)")
    ap.add_argument("--sizes", default=None, help="comma-separated N (default 10000,50000)")
    ap.add_argument("--d", type=int, default=None, help="feature dimension (default 1024)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument(
        "--device", default="cpu", help="where the features live (cpu, cuda): both sides run there"
    )
    ap.add_argument("--timeout", type=float, default=7200.0)
    ap.add_argument("--child", nargs=5, metavar=("CASE", "WHICH", "N", "D", "DEVICE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        case, which, n, d, device = args.child
        print(json.dumps(_child(case, which, int(n), int(d), device)))
        return
    sizes = [1000] if args.quick else [10_000, 50_000]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    d = args.d or (64 if args.quick else 1024)
    cases = [c for c in args.cases.split(",") if c]
    results = {"runs": [_one_size(n, d, args.device, cases, args.timeout) for n in sizes]}
    out = os.path.join(HERE, "results", f"memorization{'_quick' if args.quick else ''}.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"wrote {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
