"""fastgan against the packages it replaces, on identical synthetic features, in one process.

Each test feeds the *same* feature matrices to fastgan and to every comparison package that is
importable here, checks that the values agree (or records how and why they differ), and records
values and wall times side by side (``record`` -> ``bench/results/<device>.json``). A package
that is missing or cannot be imported is skipped cleanly and recorded as such.

Comparisons and whether they can run (checked at import time, see ``AVAILABLE``):

* **torchmetrics** (``FrechetInceptionDistance``, ``KernelInceptionDistance``, ``InceptionScore``
  with a pass-through feature module, so they consume the features directly): runs when
  torchmetrics imports. It must be installed *without* torch-fidelity beside a torch that has no
  torchvision (torchmetrics imports torch-fidelity when present, which imports torchvision).
* **prdc** (``prdc.compute_prdc``, Naeem et al.'s reference code): runs when installed.
* **pytorch-fid**, **torch-fidelity**, **clean-fid**: these import torchvision (and clean-fid also
  Pillow) at module import, so they cannot be imported beside a torch without a matching
  torchvision; they are probed and skipped with the import error recorded. In their place the
  FID case times the method they share -- ``scipy.linalg.sqrtm(sigma1 @ sigma2)`` on float64
  numpy covariances (``np.cov``, divisor n - 1) -- written here from the formula (recorded as
  ``scipy_sqrtm``), so the classic numbers still appear beside fastgan's.

Conventions that legitimately differ (recorded, not hidden):

* prdc's precision/recall count a sample inside a ball with ``<`` (strict), fastgan's
  precision/recall follow Kynkaanniemi et al. (``<=``); with continuous random features ties have
  probability ~0, so the values agree exactly here.
* torchmetrics' IS std uses ``torch.std`` (divisor S - 1); fastgan follows the original code and
  torch-fidelity (divisor S). The means agree when both use the same permutation.
* torchmetrics' FID takes ``eigvals(sigma1 @ sigma2)`` in float64; fastgan the eigenvalues of the
  symmetric ``sqrt(sigma1) sigma2 sqrt(sigma1)`` (same value, better conditioned).

Run: ``pytest bench/bench_compare.py --benchmark-only -s`` (about a minute on two idle CPU cores;
``FASTGAN_BENCH_LARGE=1`` adds D=2048 cases, which take several minutes because of the baselines).
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any, Callable

import numpy as np
import pytest
import torch
from conftest import scipy_sqrtm, timeit  # type: ignore[import-not-found]

import fastgan.metrics as fm

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _probe(module: str) -> tuple[bool, str]:
    try:
        importlib.import_module(module)
        return True, ""
    except Exception as exc:  # ImportError, or anything a broken install raises at import
        return False, f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


#: package -> (importable, reason if not)
AVAILABLE: dict[str, tuple[bool, str]] = {
    "torchmetrics": _probe("torchmetrics.image.fid"),
    "prdc": _probe("prdc"),
    "pytorch_fid": _probe("pytorch_fid.fid_score"),
    "torch_fidelity": _probe("torch_fidelity"),
    "cleanfid": _probe("cleanfid.fid"),
}


def _features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Non-negative, correlated stand-ins for Inception pool3 features (float64, CPU)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(1234), dtype=torch.float64) / d**0.5
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ (torch.eye(d, dtype=torch.float64) + 0.3 * mix)
    return (x * scale + shift).abs()


class _PassThrough(torch.nn.Module):
    """A 'feature extractor' that returns its input: lets torchmetrics consume precomputed features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _time_once(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------- FID
#: FASTGAN_BENCH_LARGE=1 adds the Inception-sized D=2048 case on the CPU (scipy's sqrtm alone takes minutes there)
LARGE = os.environ.get("FASTGAN_BENCH_LARGE", "0") not in ("", "0")
FID_CASES = (
    ([(5000, 512)] + ([(5000, 2048)] if LARGE else [])) if DEVICE == "cpu" else [(10000, 2048), (50000, 2048)]
)


@pytest.mark.parametrize("n,d", FID_CASES, ids=lambda v: str(v))
def test_fid_vs_baselines(benchmark: Any, record: Callable[..., None], n: int, d: int) -> None:

    fid = fm.fid
    real = _features(n, d, 0).to(DEVICE)
    fake = _features(n, d, 1, shift=0.05, scale=1.1).to(DEVICE)

    def fast() -> float:
        return float(fid(real, fake))

    value = fast()
    fastgan_s = timeit(fast, repeat=3, warmup=0)
    benchmark.pedantic(fast, rounds=1, iterations=1)
    row: dict[str, Any] = {"fastgan": value, "fastgan_s": fastgan_s}

    # the shared method of pytorch-fid / clean-fid: numpy statistics + scipy sqrtm of the product
    def classic() -> float:
        a, b = real.cpu().numpy(), fake.cpu().numpy()
        mu1, mu2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        covmean = scipy_sqrtm(s1.dot(s2))
        return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))

    ref, row["scipy_sqrtm_s"] = _time_once(classic)
    row["scipy_sqrtm"] = ref
    row["speedup_vs_scipy_sqrtm"] = row["scipy_sqrtm_s"] / fastgan_s
    assert value == pytest.approx(ref, rel=1e-6)

    if AVAILABLE["torchmetrics"][0]:
        from torchmetrics.image.fid import FrechetInceptionDistance

        def tm() -> float:
            m = FrechetInceptionDistance(feature=_PassThrough(d)).to(DEVICE)
            m.update(real, real=True)
            m.update(fake, real=False)
            return float(m.compute())

        tm_value, row["torchmetrics_s"] = _time_once(tm)
        row["torchmetrics"] = tm_value
        row["speedup_vs_torchmetrics"] = row["torchmetrics_s"] / fastgan_s
        assert value == pytest.approx(tm_value, rel=1e-6)
    record(f"fid/n={n}/d={d}", **row)
    # which comparison packages could be imported here (with the reason when not)
    record(
        "packages",
        **{k: ("ok" if ok else f"skipped ({why})") for k, (ok, why) in AVAILABLE.items()},
        torch=torch.__version__,
    )


# ------------------------------------------------------------------------------------------- KID
@pytest.mark.skipif(not AVAILABLE["torchmetrics"][0], reason=f"torchmetrics: {AVAILABLE['torchmetrics'][1]}")
def test_kid_vs_torchmetrics(benchmark: Any, record: Callable[..., None]) -> None:
    from torchmetrics.image.kid import KernelInceptionDistance, poly_mmd

    from fastgan.metrics.kernel_distance import kid_subset_indices

    kid = fm.kid
    n, d, subsets, m = (1000, 2048, 20, 500) if DEVICE == "cpu" else (10000, 2048, 100, 1000)
    real = _features(n, d, 0).to(DEVICE)
    fake = _features(n, d, 1, shift=0.05).to(DEVICE)

    def fast() -> tuple[float, float]:
        out = kid(real, fake, subsets=subsets, subset_size=m, generator=torch.Generator().manual_seed(7))
        return out["kid_mean"], out["kid_std"]

    mean, std = fast()
    # the same subsets through torchmetrics' per-subset MMD: identical values expected
    idx_r, idx_f = kid_subset_indices(n, n, subsets, m, torch.Generator().manual_seed(7))
    vals = torch.stack([poly_mmd(real[r.to(DEVICE)], fake[f.to(DEVICE)]) for r, f in zip(idx_r, idx_f)])
    assert mean == pytest.approx(float(vals.mean()), rel=1e-9)
    assert std == pytest.approx(float(vals.std(unbiased=False)), rel=1e-6)

    fastgan_s = timeit(fast, repeat=2, warmup=0)
    benchmark.pedantic(fast, rounds=1, iterations=1)

    def tm() -> tuple[float, float]:
        torch.manual_seed(7)
        metric_tm = KernelInceptionDistance(feature=_PassThrough(d), subsets=subsets, subset_size=m).to(
            DEVICE
        )
        metric_tm.update(real, real=True)
        metric_tm.update(fake, real=False)
        a, b = metric_tm.compute()
        return float(a), float(b)

    (tm_mean, tm_std), tm_s = _time_once(tm)
    record(
        f"kid/n={n}/d={d}/subsets={subsets}/m={m}",
        fastgan=mean,
        fastgan_std=std,
        torchmetrics_same_subsets=float(vals.mean()),
        torchmetrics_own_subsets=tm_mean,
        torchmetrics_own_subsets_std=tm_std,
        fastgan_s=fastgan_s,
        torchmetrics_s=tm_s,
        speedup_vs_torchmetrics=tm_s / fastgan_s,
    )


# ------------------------------------------------------------------------------------------ PRDC
@pytest.mark.skipif(not AVAILABLE["prdc"][0], reason=f"prdc: {AVAILABLE['prdc'][1]}")
@pytest.mark.parametrize(
    "n,d",
    [(3000, 512)] + ([(5000, 2048)] if LARGE else []) if DEVICE == "cpu" else [(10000, 2048)],
    ids=lambda v: str(v),
)
def test_prdc_vs_prdc_package(benchmark: Any, record: Callable[..., None], n: int, d: int) -> None:
    import prdc as prdc_pkg

    prdc = fm.prdc
    real = _features(n, d, 0).float()
    fake = _features(n, d, 1, shift=0.05).float()
    k = 5

    def fast() -> dict[str, float]:
        return {key: float(v) for key, v in prdc(real.to(DEVICE), fake.to(DEVICE), k=k).items()}

    ours = fast()
    fastgan_s = timeit(fast, repeat=2, warmup=0)
    benchmark.pedantic(fast, rounds=1, iterations=1)
    ref, ref_s = _time_once(lambda: prdc_pkg.compute_prdc(real.numpy(), fake.numpy(), nearest_k=k))
    row: dict[str, Any] = {"fastgan_s": fastgan_s, "prdc_s": ref_s, "speedup_vs_prdc": ref_s / fastgan_s}
    for key in ("precision", "recall", "density", "coverage"):
        row[f"fastgan_{key}"] = ours[key]
        row[f"prdc_{key}"] = float(ref[key])
        # the prdc package computes float32 sklearn distances; a ball-boundary case can flip
        assert ours[key] == pytest.approx(float(ref[key]), abs=2.0 / n), key
    record(f"prdc/n={n}/d={d}/k={k}", **row)


# -------------------------------------------------------------------------------------------- IS
@pytest.mark.skipif(not AVAILABLE["torchmetrics"][0], reason=f"torchmetrics: {AVAILABLE['torchmetrics'][1]}")
def test_inception_score_vs_torchmetrics(benchmark: Any, record: Callable[..., None]) -> None:
    from torchmetrics.image.inception import InceptionScore

    inception_score = fm.inception_score
    n, c, splits = 10000, 1008, 10
    logits = (torch.randn(n, c, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 4).to(
        DEVICE
    )

    torch.manual_seed(11)
    perm = torch.randperm(n)  # the permutation torchmetrics draws first in compute()

    def tm() -> tuple[float, float]:
        torch.manual_seed(11)
        m = InceptionScore(feature=_PassThrough(c), splits=splits).to(DEVICE)
        m.update(logits)
        a, b = m.compute()
        return float(a), float(b)

    def fast() -> tuple[float, float]:
        out = inception_score(logits, splits=splits, order=perm)
        return out["is_mean"], out["is_std"]

    mean, std = fast()
    tm_mean, tm_std = tm()
    assert mean == pytest.approx(tm_mean, rel=1e-9)
    # std divisors differ: S (original code, torch-fidelity, fastgan) vs S - 1 (torch.std)
    assert std * (splits / (splits - 1)) ** 0.5 == pytest.approx(tm_std, rel=1e-6)
    fastgan_s = timeit(fast, repeat=3, warmup=0)
    benchmark.pedantic(fast, rounds=1, iterations=1)
    tm_s = timeit(tm, repeat=3, warmup=0)
    record(
        f"is/n={n}/c={c}/splits={splits}",
        fastgan=mean,
        fastgan_std=std,
        torchmetrics=tm_mean,
        torchmetrics_std=tm_std,
        fastgan_s=fastgan_s,
        torchmetrics_s=tm_s,
        speedup_vs_torchmetrics=tm_s / fastgan_s,
    )
