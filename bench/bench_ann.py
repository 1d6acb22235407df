"""Approximate PRDC (``index="ivf" | "hnsw"``) vs the exact default: time and error.

For each case the exact ``prdc(real, fake, nearest_k=5)`` and the approximate one run on the
same features, and ``record`` stores: both times, ``speedup`` (exact / approximate), the
absolute error of precision, recall, density and coverage, and for the real radii (k = 5)
the fraction that differ from the exact ones and their median / max relative excess
(approximate radii are never smaller, see :mod:`fastgan.metrics._ann`).

Data:
* ``gauss``: isotropic Gaussians, real ``N(0, I)``, fake ``N(0.02, 1.05^2 I)``. Intrinsic
  dimension = ambient dimension: the hardest case for any approximate search.
* ``mix``: 2048-d features of a 20-cluster Gaussian mixture in a 64-d latent space, linearly
  embedded, plus isotropic noise (real CNN features also have a much lower intrinsic
  dimension than 2048); the fake latent is shifted by 0.05.

Default cases (~2-3 minutes on a small shared CPU): gauss 20000 x 256 and mix 10000 x 2048
with IVF defaults. ``FASTGAN_BENCH_ANN_HNSW=1`` adds the HNSW defaults to both;
``FASTGAN_BENCH_ANN_N`` changes N of both cases.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest
import torch
from conftest import timeit

from fastgan.metrics import _ann, _knn, prdc

pytest.importorskip("faiss")

N = os.environ.get("FASTGAN_BENCH_ANN_N")
HNSW = os.environ.get("FASTGAN_BENCH_ANN_HNSW", "0") not in ("", "0")


def gauss(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * scale + shift


def mixture(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    shared = torch.Generator().manual_seed(99)  # the same clusters and embedding for real and fake
    centers = torch.randn(20, 64, generator=shared) * 2.0
    embed = torch.randn(64, d, generator=shared) / 8.0
    g = torch.Generator().manual_seed(seed)
    z = centers[torch.randint(0, 20, (n,), generator=g)] + torch.randn(n, 64, generator=g) + shift
    return z @ embed + 0.1 * torch.randn(n, d, generator=g)


def _data(kind: str, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "gauss":
        return gauss(n, d, 0), gauss(n, d, 1, shift=0.02, scale=1.05)
    return mixture(n, d, 0), mixture(n, d, 1, shift=0.05)


CASES = [("gauss", int(N or 20000), 256), ("mix", int(N or 10000), 2048)]
INDEXES = ["ivf"] + (["hnsw"] if HNSW else [])


@pytest.mark.parametrize("index", INDEXES)
@pytest.mark.parametrize("kind, n, d", CASES, ids=[f"{k}-{n}x{d}" for k, n, d in CASES])
def test_ann_vs_exact(benchmark: Any, record: Callable[..., None], kind: str, n: int, d: int, index: str) -> None:
    real, fake = _data(kind, n, d)
    exact: dict[str, float] = {}

    def run_exact() -> None:
        exact.update(prdc(real, fake, nearest_k=5))

    exact_s = timeit(run_exact, repeat=1, warmup=0)
    info: dict[str, Any] = {}
    approx = benchmark.pedantic(
        lambda: prdc(real, fake, nearest_k=5, index=index, stats=info), rounds=1, iterations=1
    )
    approx_s = benchmark.stats.stats.median
    # radii alone (real set, k = 5): exact engine vs the approximate search with the same defaults
    r_exact = _knn.knn_sqradii_torch(real, [5])[0]
    cfg = _ann.resolve_index(index, None)
    t0 = time.perf_counter()
    r_approx = _ann.ann_sqradii(real, [5], _ann.AnnIndex(real, cfg))[0]
    radii_s = time.perf_counter() - t0
    excess = (r_approx / r_exact).sqrt() - 1  # relative excess of the radius (not squared)
    assert bool(torch.all(r_approx >= r_exact))
    record(
        f"{kind}_{n}x{d}_{index}",
        exact_s=exact_s,
        approx_s=approx_s,
        speedup=exact_s / approx_s,
        approx_radii_s=radii_s,
        index_options=info["index_options"],
        **{f"abs_err_{k}": abs(approx[k] - exact[k]) for k in exact},
        **{f"exact_{k}": exact[k] for k in exact},
        radii_differ_frac=float((r_approx != r_exact).double().mean()),
        radius_excess_median=float(excess.median()),
        radius_excess_max=float(excess.max()),
        researched_queries=info.get("ann_researched_queries", 0),
    )
