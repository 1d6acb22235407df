"""The rows of the metric table for the precision / recall family and the kernel variants: PRD
(F_beta pair), the rarity score, clipped density / coverage, KID with an RBF kernel and MIND (the
sliced-Wasserstein scaling of torch-fidelity). :mod:`fastgan.evaluation.registry` joins the row
modules into :data:`~fastgan.evaluation.registry.METRICS`; :mod:`fastgan.evaluation.spec` explains
the fields.
"""

from __future__ import annotations

from typing import Any

from fastgan.evaluation.rows_core import _kid_fit
from fastgan.evaluation.spec import MetricSpec, Option

__all__ = ["ROWS"]


# ------------------------------------------------------------------------------------ factories
def _prd(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import PRD

    return PRD(
        beta=opts["beta"],
        num_clusters=opts["num_clusters"],
        num_angles=opts["num_angles"],
        num_runs=opts["num_runs"],
        enforce_balance=opts["enforce_balance"],
        kmeans=opts["kmeans"],
        seed=opts["seed"],
    )


def _rarity(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import Rarity

    return Rarity(k=opts["k"], strict=opts["strict"], progress=opts.get("progress"))


def _clipped(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import ClippedDensityCoverage

    return ClippedDensityCoverage(k=opts["k"], progress=opts.get("progress"))


def _kid_rbf(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import KIDRBF

    return KIDRBF(
        subsets=opts["subsets"],
        subset_size=opts["subset_size"],
        sigma=opts["sigma"],
        seed=opts["seed"],
        subset_rule=opts["subset_rule"],
        rng=opts["rng"],
        draw_first=opts["draw_first"],
    )


def _mind(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import MIND

    return MIND(projections=opts["projections"], seed=opts["seed"], equal_sizes=opts["equal_sizes"])


# ------------------------------------------------------------------------------------ rows
#: the rows, in the order results are reported
ROWS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "prd",
        ("prd_f_beta", "prd_f_beta_inv"),
        "inception",
        "bank",
        (
            Option("beta", default=8.0),
            Option("num_clusters", default=20, minimum=1),
            Option("num_angles", default=1001, minimum=3),
            Option("num_runs", default=10, minimum=1),
            Option("enforce_balance", default=True),
            Option("kmeans", default="auto"),
            Option("seed", default=0, keyword="seed"),
        ),
        _prd,
        "PRD (Sajjadi et al. 2018): max F_8 (recall-like) and F_1/8 (precision-like), 20 clusters x 10 runs",
    ),
    MetricSpec(
        "rarity",
        ("rarity_mean", "rarity_inside"),
        "vgg16",
        "bank",
        (Option("k", default=3, minimum=1), Option("strict", default=True)),
        _rarity,
        "rarity score (Han et al. 2022, k = 3): mean over the fake samples inside the real manifold",
    ),
    MetricSpec(
        "clipped_dc",
        ("clipped_density", "clipped_coverage"),
        "extractor",
        "bank",
        (Option("k", default=5, minimum=1),),
        _clipped,
        "clipped density / coverage (Salvy et al. 2025, k = 5)",
    ),
    MetricSpec(
        "kid_rbf",
        ("kid_rbf_mean", "kid_rbf_std"),
        "inception",
        "bank",
        (
            Option("subsets", "kid_subsets", keyword="kid_subsets", minimum=1),
            Option("subset_size", "kid_subset_size", keyword="kid_subset_size", minimum=2),
            Option("subset_rule", "kid_subset_rule"),
            Option("sigma", default=10.0),
            Option("seed", "kid_seed", default=0, keyword="seed"),
            Option("rng", "kid_rng"),
            Option("draw_first", "kid_draw_first"),
        ),
        _kid_rbf,
        "KID with a Gaussian RBF kernel (sigma 10; torch-fidelity kid_kernel='rbf')",
        fit=_kid_fit,
    ),
    MetricSpec(
        "mind",
        ("mind",),
        "inception",
        "bank",
        (
            Option("projections", default=1000, minimum=1),
            Option("seed", default=2020, keyword="seed"),
            Option("equal_sizes", default=True),
        ),
        _mind,
        "MIND (torch-fidelity): 3 D x squared sliced 2-Wasserstein, 1000 directions",
    ),
)
