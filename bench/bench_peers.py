"""fastgan against the reference packages on identical features, one table from one run.

Each (row, implementation) runs in a fresh plain Python process (no pytest, no allocator
settings): it imports its library, builds the row's seeded float32 features, times the first
call (cold) and ``--repeats`` further calls (warm median), then, outside the timings, checks the
value against fastgan under the reference's convention (same KID subsets, same IS shuffle, same
``<`` / ``<=`` rule). The parent writes JSON (values, cold, warm median, ratio = reference warm /
fastgan warm, versions, CPU, threads) and prints a markdown table.

    python bench/bench_peers.py [--quick] [--out bench/results/peers.json] [--rows kid,prdc]

References are called as their users call them on features: torch-fidelity's
``*_features_to_metric``, clean-fid's ``kernel_distance`` / ``frechet_distance``, ``numpy.cov`` +
pytorch-fid's ``calculate_frechet_distance``, torchmetrics' metric classes fed through an identity
feature module, ``prdc.compute_prdc``. A reference that does not import in this environment is
listed as such. pytorch-fid, torch-fidelity and clean-fid import torchvision: run this script
with the environment ``tests/peers/make_env.sh`` builds to include them.

Parity tolerances (``parity.tol``): float64 on both sides 1e-10 relative; a reference computing
in float32 (its users' float32 features) 1e-5 + 1e-4 |value|; Frechet distances 1e-6 of the
FID scale (the references' sqrtm / eigvals of the 2048-d product); counts (precision, recall,
density, coverage) exactly, reported as the number of points that differ.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from _machine import cpu_name, package_versions

SEED = 2026
KID_SEED = 0  # seed of the references' global RNGs (clean-fid: numpy, torchmetrics: torch)

# ------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Size:
    """One problem size of a row: ``n`` samples per set, ``d`` dimensions, extra parameters."""

    label: str
    n: int
    d: int
    subsets: int = 0
    subset_size: int = 0
    k: int = 0


@dataclass(frozen=True)
class Row:
    name: str
    title: str
    impls: tuple[str, ...]  # first one is fastgan
    full: tuple[Size, ...]
    quick: tuple[Size, ...]
    repeats: int = 5


ROWS: dict[str, Row] = {
    "kid": Row(
        "kid",
        "KID (cubic polynomial kernel, subsets x size)",
        ("fastgan", "torch-fidelity", "clean-fid", "torchmetrics"),
        (
            Size("10k x 2048, 100 x 1000", 10_000, 2048, 100, 1000),
            Size("50k x 2048, 100 x 1000", 50_000, 2048, 100, 1000),
        ),
        (Size("1.2k x 256, 10 x 500", 1200, 256, 10, 500),),
    ),
    "fid_stats": Row(
        "fid_stats",
        "FID statistics (mean, covariance) of one set",
        ("fastgan", "numpy.cov"),
        (Size("10k x 2048", 10_000, 2048), Size("50k x 2048", 50_000, 2048)),
        (Size("2k x 256", 2000, 256),),
    ),
    "is": Row(
        "is",
        "Inception Score, 10 splits",
        ("fastgan", "torchmetrics", "torch-fidelity"),
        (Size("10k x 1008", 10_000, 1008), Size("50k x 1008", 50_000, 1008)),
        (Size("2k x 1008", 2000, 1008),),
    ),
    "frechet": Row(
        "frechet",
        "Frechet distance from (mu, sigma)",
        ("fastgan", "pytorch-fid", "torch-fidelity", "clean-fid", "torchmetrics"),
        (Size("2048-d", 3 * 2048, 2048),),
        (Size("256-d", 3 * 256, 256),),
        repeats=3,
    ),
    "pr": Row(
        "pr",
        "precision / recall, k=3",
        ("fastgan", "torch-fidelity"),
        (Size("10k x 2048", 10_000, 2048, k=3),),
        (Size("1.5k x 256", 1500, 256, k=3),),
        repeats=3,
    ),
    "prdc": Row(
        "prdc",
        "precision / recall / density / coverage, k=5",
        ("fastgan", "prdc"),
        (Size("10k x 2048", 10_000, 2048, k=5),),
        (Size("1.5k x 256", 1500, 256, k=5),),
        repeats=3,
    ),
}

#: import name of each implementation's library (what must import for it to run).
MODULES = {
    "fastgan": "fastgan",
    "torch-fidelity": "torch_fidelity",
    "clean-fid": "cleanfid",
    "torchmetrics": "torchmetrics",
    "pytorch-fid": "pytorch_fid",
    "prdc": "prdc",
    "numpy.cov": "numpy",
}

#: distribution names for versions.
DISTRIBUTIONS = (
    "fastgan",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-learn",
    "pytorch-fid",
    "torch-fidelity",
    "clean-fid",
    "torchmetrics",
    "prdc",
)

# ------------------------------------------------------------------------------------- data


def features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> Any:
    """Seeded float32 features ``[n, d]``: independent columns with per-column mean in [0, 0.5)
    and standard deviation in [0.5, 1) (the same columns for every seed), then ``* scale + shift``."""
    import numpy as np

    cols = np.random.default_rng(SEED)
    mean = cols.uniform(0.0, 0.5, d).astype(np.float32)
    std = cols.uniform(0.5, 1.0, d).astype(np.float32)
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    x *= std * np.float32(scale)
    x += mean + np.float32(shift)
    return x


def real_fake(size: Size) -> tuple[Any, Any]:
    return features(size.n, size.d, SEED + 1), features(size.n, size.d, SEED + 2, shift=0.05, scale=1.05)


def logits(size: Size) -> Any:
    import numpy as np

    x = np.random.default_rng(SEED + 3).standard_normal((size.n, size.d), dtype=np.float32)
    x *= np.float32(3.0)
    return x


def moments(size: Size) -> tuple[Any, Any, Any, Any]:
    """float64 (mu, sigma) of two feature sets, as ``numpy.mean`` / ``numpy.cov`` give them."""
    import numpy as np

    real, fake = real_fake(size)
    return (
        real.mean(0, dtype=np.float64),
        np.cov(real, rowvar=False),
        fake.mean(0, dtype=np.float64),
        np.cov(fake, rowvar=False),
    )


# ------------------------------------------------------------------------ calls under test
# build(impl, size) -> (call, check): call() is what is timed and returns a dict of values;
# check(values) -> parity record, run after the timings.


def _rel_check(
    ours: dict[str, float], theirs: dict[str, float], tol_abs: float, tol_rel: float, note: str
) -> dict[str, Any]:
    diffs = {key: abs(ours[key] - theirs[key]) for key in theirs}
    ok = all(diffs[key] <= tol_abs + tol_rel * abs(ours[key]) for key in diffs)
    return {
        "ok": ok,
        "abs_diff": diffs,
        "tol": f"{tol_abs:g} + {tol_rel:g} |value|",
        "fastgan": ours,
        "note": note,
    }


def _count_check(
    ours: dict[str, float], theirs: dict[str, float], totals: dict[str, int], note: str
) -> dict[str, Any]:
    points = {key: abs(round(ours[key] * totals[key]) - round(theirs[key] * totals[key])) for key in theirs}
    return {
        "ok": all(v == 0 for v in points.values()),
        "points_differing": points,
        "tol": "exact counts",
        "fastgan": ours,
        "note": note,
    }


def build_kid(impl: str, size: Size) -> tuple[Callable[[], dict[str, float]], Callable[..., Any]]:
    import numpy as np
    import torch

    real, fake = real_fake(size)
    s, m = size.subsets, size.subset_size

    def fastgan_on(idx_r: Any, idx_f: Any, x: Any, y: Any) -> dict[str, float]:
        from fastgan.metrics.kernel_distance import mmd2_subsets

        rounds = mmd2_subsets(
            torch.from_numpy(x),
            torch.from_numpy(y),
            torch.as_tensor(np.asarray(idx_r)),
            torch.as_tensor(np.asarray(idx_f)),
        )
        return {"kid_mean": float(rounds.mean()), "kid_std": float(rounds.std(unbiased=False))}

    if impl == "fastgan":
        from fastgan.metrics import kid

        xr, xf = torch.from_numpy(real), torch.from_numpy(fake)

        def call() -> dict[str, float]:
            return kid(xr, xf, subsets=s, subset_size=m, generator=torch.Generator().manual_seed(SEED))

        return call, lambda values: None
    if impl == "torch-fidelity":
        from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

        xr, xf = torch.from_numpy(real), torch.from_numpy(fake)

        def call() -> dict[str, float]:
            out = kid_features_to_metric(xr, xf, kid_subsets=s, kid_subset_size=m, verbose=False)
            return {"kid_mean": out[KEY_METRIC_KID_MEAN], "kid_std": out[KEY_METRIC_KID_STD]}

        def check(values: dict[str, float]) -> dict[str, Any]:
            rng = np.random.RandomState(2020)  # its default rng_seed; features_1 then features_2
            pairs = [
                (rng.choice(size.n, m, replace=False), rng.choice(size.n, m, replace=False)) for _ in range(s)
            ]
            ours = fastgan_on([p[0] for p in pairs], [p[1] for p in pairs], real, fake)
            return _rel_check(
                ours, values, 1e-5, 1e-4, "same subsets (RandomState(2020).choice); reference in float32"
            )

        return call, check
    if impl == "clean-fid":
        from cleanfid.fid import kernel_distance

        def call() -> dict[str, float]:
            np.random.seed(KID_SEED)  # it draws from numpy's global RNG
            return {"kid_mean": float(kernel_distance(real, fake, num_subsets=s, max_subset_size=m))}

        def check(values: dict[str, float]) -> dict[str, Any]:
            np.random.seed(KID_SEED)  # rows of feats2 first, then feats1
            pairs = [
                (np.random.choice(size.n, m, replace=False), np.random.choice(size.n, m, replace=False))
                for _ in range(s)
            ]
            ours = fastgan_on([p[0] for p in pairs], [p[1] for p in pairs], fake, real)
            return _rel_check(
                {"kid_mean": ours["kid_mean"]},
                values,
                1e-5,
                1e-4,
                "same subsets (numpy global RNG); reference in float32; mean only",
            )

        return call, check
    if impl == "torchmetrics":
        from torchmetrics.image.kid import KernelInceptionDistance

        xr, xf = torch.from_numpy(real), torch.from_numpy(fake)
        identity = Identity(size.d)

        def call() -> dict[str, float]:
            metric = KernelInceptionDistance(feature=identity, subsets=s, subset_size=m)
            metric.update(xr, real=True)
            metric.update(xf, real=False)
            torch.manual_seed(KID_SEED)  # it draws with torch.randperm from the global RNG
            mean, std = metric.compute()
            return {"kid_mean": float(mean), "kid_std": float(std)}

        def check(values: dict[str, float]) -> dict[str, Any]:
            from fastgan.metrics.kernel_distance import kid_subset_indices

            ir, if_ = kid_subset_indices(size.n, size.n, s, m, torch.Generator().manual_seed(KID_SEED))
            ours = fastgan_on(ir.numpy(), if_.numpy(), real, fake)
            return _rel_check(
                ours, values, 1e-5, 1e-4, "same subsets (randperm, global RNG); reference in float32"
            )

        return call, check
    raise KeyError(impl)


def build_fid_stats(impl: str, size: Size) -> tuple[Callable[[], dict[str, float]], Callable[..., Any]]:
    import numpy as np

    x = features(size.n, size.d, SEED + 1)
    summary: dict[str, Any] = {}

    def summarize(mu: Any, cov: Any) -> dict[str, float]:
        summary["mu"], summary["cov"] = np.asarray(mu, dtype=np.float64), np.asarray(cov, dtype=np.float64)
        return {"trace_cov": float(np.trace(summary["cov"])), "sum_mu": float(summary["mu"].sum())}

    if impl == "fastgan":
        import torch

        from fastgan.metrics import FeatureStats

        xt = torch.from_numpy(x)

        def call() -> dict[str, float]:
            stats = FeatureStats.from_features(xt)
            return summarize(stats.mean.numpy(), stats.cov.numpy())

        return call, lambda values: None
    if impl == "numpy.cov":

        def call() -> dict[str, float]:
            return summarize(np.mean(x, axis=0), np.cov(x, rowvar=False))

        def check(values: dict[str, float]) -> dict[str, Any]:
            import torch

            from fastgan.metrics import FeatureStats

            stats = FeatureStats.from_features(torch.from_numpy(x))
            cov_diff = float(np.abs(stats.cov.numpy() - summary["cov"]).max() / np.abs(summary["cov"]).max())
            mu_diff = float(np.abs(stats.mean.numpy() - summary["mu"]).max() / np.abs(summary["mu"]).max())
            return {
                "ok": cov_diff <= 1e-10 and mu_diff <= 1e-5,
                "rel_diff": {"cov": cov_diff, "mu": mu_diff},
                "tol": "cov 1e-10, mu 1e-5 (float32 np.mean)",
                "note": "as pytorch-fid / clean-fid / torch-fidelity compute them",
            }

        return call, check
    raise KeyError(impl)


def build_is(impl: str, size: Size) -> tuple[Callable[[], dict[str, float]], Callable[..., Any]]:
    import math

    import torch

    z = torch.from_numpy(logits(size))
    splits = 10

    if impl == "fastgan":
        from fastgan.metrics import inception_score

        return (lambda: inception_score(z, splits=splits)), (lambda values: None)
    if impl == "torch-fidelity":
        from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

        def call() -> dict[str, float]:
            out = isc_features_to_metric(z, splits=splits)
            return {"is_mean": out[KEY_METRIC_ISC_MEAN], "is_std": out[KEY_METRIC_ISC_STD]}

        def check(values: dict[str, float]) -> dict[str, Any]:
            from fastgan.metrics import inception_score
            from fastgan.metrics.inception import torch_fidelity_order

            ours = inception_score(z, splits=splits, order=torch_fidelity_order(size.n))
            return _rel_check(
                ours, values, 0.0, 1e-10, "same shuffle (RandomState(2020).permutation); float64"
            )

        return call, check
    if impl == "torchmetrics":
        from torchmetrics.image.inception import InceptionScore

        identity = Identity(size.d)

        def call() -> dict[str, float]:
            metric = InceptionScore(feature=identity, splits=splits)
            metric.update(z)
            torch.manual_seed(KID_SEED)  # it shuffles with torch.randperm from the global RNG
            mean, std = metric.compute()
            return {"is_mean": float(mean), "is_std": float(std)}

        def check(values: dict[str, float]) -> dict[str, Any]:
            from fastgan.metrics import inception_score

            order = torch.randperm(size.n, generator=torch.Generator().manual_seed(KID_SEED))
            ours = dict(inception_score(z, splits=splits, order=order))
            ours["is_std"] *= math.sqrt(splits / (splits - 1))  # it reports the ddof=1 std
            return _rel_check(
                ours,
                values,
                1e-5,
                1e-4,
                "same shuffle (randperm); std converted to ddof=1; reference in float32",
            )

        return call, check
    raise KeyError(impl)


def build_frechet(impl: str, size: Size) -> tuple[Callable[[], dict[str, float]], Callable[..., Any]]:
    import numpy as np

    mu1, s1, mu2, s2 = moments(size)
    scale = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2))

    def check(values: dict[str, float]) -> dict[str, Any]:
        from fastgan.metrics import frechet_distance

        ours = {"fid": float(frechet_distance(mu1, s1, mu2, s2))}
        return _rel_check(
            ours, values, 1e-6 * scale, 0.0, "same float64 statistics; tol 1e-6 of the FID scale"
        )

    if impl == "fastgan":
        from fastgan.metrics import frechet_distance

        return (lambda: {"fid": float(frechet_distance(mu1, s1, mu2, s2))}), (lambda values: None)
    if impl == "pytorch-fid":
        from pytorch_fid.fid_score import calculate_frechet_distance

        return (lambda: {"fid": float(calculate_frechet_distance(mu1, s1, mu2, s2))}), check
    if impl == "torch-fidelity":
        from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

        st1, st2 = {"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}
        return (lambda: {"fid": fid_statistics_to_metric(st1, st2, verbose=False)[KEY_METRIC_FID]}), check
    if impl == "clean-fid":
        from cleanfid.fid import frechet_distance as cf_frechet_distance

        return (lambda: {"fid": float(cf_frechet_distance(mu1, s1, mu2, s2))}), check
    if impl == "torchmetrics":
        import torch
        from torchmetrics.image.fid import _compute_fid  # what FrechetInceptionDistance.compute runs

        t = [torch.from_numpy(a) for a in (mu1, s1, mu2, s2)]
        return (lambda: {"fid": float(_compute_fid(*t))}), check
    raise KeyError(impl)


def build_pr(impl: str, size: Size) -> tuple[Callable[[], dict[str, float]], Callable[..., Any]]:
    import torch

    real, fake = real_fake(size)
    xr, xf = torch.from_numpy(real), torch.from_numpy(fake)
    if impl == "fastgan":
        from fastgan.metrics import precision_recall

        return (lambda: precision_recall(xr, xf, k=size.k)), (lambda values: None)
    if impl == "torch-fidelity":
        from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

        def call() -> dict[str, float]:
            out = prc_features_to_metric(xf, xr, prc_neighborhood=size.k, verbose=False)  # generated first
            return {"precision": out[KEY_METRIC_PRECISION], "recall": out[KEY_METRIC_RECALL]}

        def check(values: dict[str, float]) -> dict[str, Any]:
            from fastgan.metrics import precision_recall

            ours = precision_recall(xr, xf, k=size.k)  # '<=' like torch-fidelity
            return _count_check(
                ours,
                values,
                {"precision": size.n, "recall": size.n},
                "'<=' rule; reference distances by float32 torch.cdist",
            )

        return call, check
    raise KeyError(impl)


def build_prdc(impl: str, size: Size) -> tuple[Callable[[], dict[str, float]], Callable[..., Any]]:
    real, fake = real_fake(size)
    if impl == "fastgan":
        import torch

        from fastgan.metrics import prdc

        xr, xf = torch.from_numpy(real), torch.from_numpy(fake)
        return (lambda: prdc(xr, xf, k=size.k)), (lambda values: None)
    if impl == "prdc":
        import contextlib
        import io

        from prdc import compute_prdc

        def call() -> dict[str, float]:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints the sample counts
                out = compute_prdc(real, fake, nearest_k=size.k)
            return {key: float(v) for key, v in out.items()}

        def check(values: dict[str, float]) -> dict[str, Any]:
            import torch

            from fastgan.metrics import prdc

            ours = prdc(torch.from_numpy(real), torch.from_numpy(fake), k=size.k, strict=True)  # its '<'
            totals = {"precision": size.n, "recall": size.n, "density": size.n * size.k, "coverage": size.n}
            return _count_check(
                ours,
                values,
                totals,
                "'<' rule (strict=True); reference distances by scikit-learn in the features' float32",
            )

        return call, check
    raise KeyError(impl)


BUILDERS: dict[str, Callable[[str, Size], tuple[Callable[[], dict[str, float]], Callable[..., Any]]]] = {
    "kid": build_kid,
    "fid_stats": build_fid_stats,
    "is": build_is,
    "frechet": build_frechet,
    "pr": build_pr,
    "prdc": build_prdc,
}


def Identity(num_features: int) -> Any:  # noqa: N802 - a module factory named like the class
    """A torch module returning its input: feeds features to torchmetrics' image metrics."""
    import torch

    class _Identity(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.num_features = num_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    return _Identity()


# ------------------------------------------------------------------------------------- worker


def worker(row: str, impl: str, size: Size, repeats: int, result: Path) -> None:
    """Runs in the child process: import, build, time cold + warm, check, write JSON."""
    import importlib

    t0 = time.perf_counter()
    try:
        importlib.import_module(MODULES[impl])
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot import here"
        result.write_text(json.dumps({"status": f"not importable: {type(exc).__name__}: {exc}"}))
        return
    import torch

    call, check = BUILDERS[row](impl, size)  # imports the functions used, builds the inputs
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    values = call()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        warm.append(time.perf_counter() - t0)
    parity = check(values)
    result.write_text(
        json.dumps(
            {
                "status": "ok",
                "value": values,
                "cold_s": cold,
                "warm_median_s": statistics.median(warm),
                "warm_s": warm,
                "setup_s": import_s,
                "parity": parity,
                "torch_threads": torch.get_num_threads(),
            },
            default=float,
        )
    )


# ------------------------------------------------------------------------------------- parent


def environment() -> dict[str, Any]:
    versions = package_versions(DISTRIBUTIONS)
    cpu = cpu_name()
    blas: Any = None
    try:
        import numpy  # noqa: F401 - loads its BLAS so threadpoolctl can see it
        import threadpoolctl

        keep = ("internal_api", "num_threads", "version", "architecture")
        blas = [{k: v for k, v in info.items() if k in keep} for info in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    thread_env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")
        if k in os.environ
    }
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "thread_pools": blas,
        "thread_env": thread_env,
        "fastgan_measured": "this checkout (first on the workers' PYTHONPATH)",
    }


def run_one(
    row: Row, impl: str, size: Size, repeats: int, timeout: float, env: dict[str, str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            row.name,
            impl,
            json.dumps(size.__dict__),
            str(repeats),
            str(out),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"status": f"timeout after {timeout:g} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"status": f"error (exit {proc.returncode}): {' | '.join(tail)}"}
        return json.loads(out.read_text())


def fmt_value(value: Optional[dict[str, float]]) -> str:
    if not value:
        return ""
    return ", ".join(f"{k}={v:.6g}" for k, v in value.items() if k not in ("trace_cov", "sum_mu")) or (
        f"tr cov={value.get('trace_cov', 0):.6g}"
    )


def fmt_parity(p: Optional[dict[str, Any]]) -> str:
    if p is None:
        return "(reference)"
    if "points_differing" in p:
        return (
            "equal"
            if p["ok"]
            else "DIFFERS: " + ", ".join(f"{k} {v} pts" for k, v in p["points_differing"].items() if v)
        )
    diffs = p.get("abs_diff") or p.get("rel_diff") or {}
    worst = max(diffs.values()) if diffs else 0.0
    return f"{'ok' if p['ok'] else 'DIFFERS'} (max diff {worst:.1e})"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| metric | size | implementation | value | cold s | warm median s "
        "| ratio (warm / fastgan) | parity |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if r["status"] != "ok":
            lines.append(f"| {r['title']} | {r['size']} | {r['impl']} | {r['status']} | | | | |")
            continue
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else ""
        lines.append(
            f"| {r['title']} | {r['size']} | {r['impl']} | {fmt_value(r['value'])} "
            f"| {r['cold_s']:.3f} | {r['warm_median_s']:.3f} | {ratio} "
            f"| {fmt_parity(r['parity'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check of every row")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON output (default bench/results/peers.json; none with --quick)",
    )
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--impls", default=None, help="comma-separated subset of implementations")
    parser.add_argument("--repeats", type=int, default=None, help="warm repeats (default per row: 5 or 3)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per process (default 3600, quick 300)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP/MKL/OpenBLAS threads for every process alike (0: libraries' defaults)",
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        row, impl, size_json, repeats, out = args.worker
        worker(row, impl, Size(**json.loads(size_json)), int(repeats), Path(out))
        return

    env = dict(os.environ)
    # the workers measure this checkout's fastgan (not a copy installed in the environment)
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [repo] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    if args.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(args.threads)
    timeout = args.timeout or (300.0 if args.quick else 3600.0)
    wanted = args.impls.split(",") if args.impls else None
    results: list[dict[str, Any]] = []
    for name in args.rows.split(","):
        row = ROWS[name]
        for size in row.quick if args.quick else row.full:
            base: Optional[float] = None
            for impl in row.impls:
                if wanted and impl not in wanted and impl != "fastgan":
                    continue
                repeats = args.repeats or (2 if args.quick else row.repeats)
                rec = run_one(row, impl, size, repeats, timeout, env)
                rec.update(
                    row=row.name,
                    title=row.title,
                    size=size.label,
                    impl=impl,
                    repeats=repeats,
                    params={k: v for k, v in size.__dict__.items() if v and k != "label"},
                )
                if rec["status"] == "ok":
                    if impl == "fastgan":
                        base = rec["warm_median_s"]
                    rec["ratio"] = rec["warm_median_s"] / base if base else None
                results.append(rec)
                print(table([rec]).splitlines()[-1], flush=True)

    print()
    print(table(results))
    out = args.out
    if out is None and not args.quick:
        out = Path(__file__).parent / "results" / "peers.json"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "quick": args.quick,
            "environment": environment(),
            "threads_flag": args.threads,
            "data": "seeded float32 features: independent columns, mean in [0, 0.5), std in [0.5, 1); "
            "fake = 1.05 x + 0.05 (same columns); IS logits 3 N(0, 1)",
            "results": results,
        }
        out.write_text(json.dumps(doc, indent=1, default=float) + "\n")
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
