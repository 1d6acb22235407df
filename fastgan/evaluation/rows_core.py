"""The rows of the metric table for the classic metrics and the feature-set metrics (FID, KID, PRDC,
precision / recall, IS, FD, CMMD, Vendi, sliced Wasserstein, P-precision / recall, TopP&R): each
one's factory, options and description. :mod:`fastgan.evaluation.registry` joins the row modules
into :data:`~fastgan.evaluation.registry.METRICS`; :mod:`fastgan.evaluation.spec` explains the fields.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Callable, Optional

from fastgan.evaluation.spec import MetricSpec, Option

__all__ = ["DEFAULTS", "ROWS", "top_pr_function"]

#: defaults that the presets do not fix (the preset's own fields come first, see resolve_options)
DEFAULTS: dict[str, Any] = {"p_pr_k": 4, "sw_projections": 1000}


# ------------------------------------------------------------------------------------ factories
# Each factory builds its metric from plain option values (see resolve_options); none reads a preset.
def _fid(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import FID

    return FID(real_stats=opts.get("real_stats"))


def _kid(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import KID

    return KID(
        subsets=opts["subsets"],
        subset_size=opts["subset_size"],
        degree=opts["degree"],
        gamma=opts["gamma"],
        coef0=opts["coef0"],
        seed=opts["seed"],
        subset_rule=opts["subset_rule"],
        rng=opts["rng"],
        draw_first=opts["draw_first"],
        dtype=_kid_dtype(opts["dtype"]),
        tol=opts["tol"],
        check_rounds=opts["check_rounds"],
    )


def _kid_dtype(name: Any) -> Any:
    """KID's compute dtype from its option value: ``"auto"`` (default: the features' precision,
    float32 for network features), ``"float32"`` or ``"float64"``."""
    import torch

    dtypes = {"auto": None, "float32": torch.float32, "float64": torch.float64}
    if name not in dtypes:
        raise ValueError(f"options['kid']['dtype']: must be 'auto', 'float32' or 'float64', got {name!r}")
    return dtypes[name]


def _kid_fit(opts: dict[str, Any], n_real: int, n_fake: int, given: frozenset[str]) -> list[str]:
    """A default subset size above a sample count is reduced to it (with a note); a given one is an
    error under the ``"error"`` rule, as in the references."""
    n_min = min(n_real, n_fake)
    if opts["subset_size"] <= n_min:
        return []
    if "subset_size" in given and opts["subset_rule"] == "error":
        side = "real" if n_real == n_min else "fake"
        raise ValueError(
            f"kid_subset_size: {opts['subset_size']} is larger than the number of {side} samples ({n_min})"
        )
    note = f"kid subset size reduced from {opts['subset_size']} to {n_min} (the smaller sample count)"
    opts["subset_size"] = n_min
    return [note]


def _is(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import ADMInceptionScore, InceptionScore

    if opts.get("split_size") is not None:  # the ADM evaluator: splits of split_size consecutive samples
        return ADMInceptionScore(num_samples=opts["num_samples"], split_size=opts["split_size"])
    # the row shuffle (torch-fidelity) is applied by the class from the global indices
    return InceptionScore(
        splits=opts["splits"], num_samples=opts.get("num_samples"), shuffle_seed=opts["shuffle_seed"]
    )


def _prdc(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import PRDC

    return PRDC(k=opts["k"], strict=opts["strict"], progress=opts.get("progress"))


def _function_bank(fn: Callable[..., Any], **kwargs: Any) -> Any:
    from fastgan.metrics._base import BankMetric

    class FunctionBank(BankMetric):
        """Two feature banks and a function of them (metrics without a class of their own)."""

        def compute(self) -> Any:
            return fn(self._bank(real=True), self._bank(real=False), **kwargs)

    return FunctionBank()


def _pr(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import precision_recall

    return _function_bank(precision_recall, k=opts["k"], strict=opts["strict"], progress=opts.get("progress"))


def _cmmd(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import CMMD

    return CMMD()


def _vendi(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import Vendi

    return Vendi()


def _sw(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import SlicedWasserstein

    return SlicedWasserstein(projections=opts["projections"], seed=opts["seed"])


def _ppr(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import PPrecisionRecall

    return PPrecisionRecall(k=opts["k"], progress=opts.get("progress"))


def top_pr_function() -> Optional[Callable[..., Any]]:
    """``fastgan.metrics.top_precision_recall`` when this installation has it, else None."""
    import fastgan.metrics as fm

    try:
        return fm.top_precision_recall  # type: ignore[no-any-return]
    except AttributeError:
        return None


def _top_pr(opts: dict[str, Any]) -> Any:
    fn = top_pr_function()
    if fn is None:
        raise ValueError(
            "metrics: 'top_pr' needs fastgan.metrics.top_precision_recall, which this version lacks"
        )
    # the reference's own seeds and bandwidth (the function's defaults): its numbers are comparable
    params = inspect.signature(fn).parameters
    kwargs = {"progress": opts.get("progress")} if "progress" in params else {}
    return _function_bank(fn, **kwargs)


# ------------------------------------------------------------------------------------ options
_STRICT = Option("strict", "pr_inclusive", convert=operator.not_)
#: the seed of a metric's random draws: seed=, else the preset's kid_seed (KID only), else 0 so that
#: every run and every rank draws the same (the references' global RNGs are fixed here)
_SEED = Option("seed", default=0, keyword="seed")
_KID_OPTIONS = (
    Option("subsets", "kid_subsets", keyword="kid_subsets", minimum=1),
    Option("subset_size", "kid_subset_size", keyword="kid_subset_size", minimum=2),
    Option("subset_rule", "kid_subset_rule"),
    Option("degree", "kid_degree"),
    Option("gamma", "kid_gamma"),
    Option("coef0", "kid_coef0"),
    Option("seed", "kid_seed", default=0, keyword="seed"),
    Option("rng", "kid_rng"),
    Option("draw_first", "kid_draw_first"),
    # float32 GEMMs checked a posteriori against float64 on a few rounds (see fastgan.metrics.kid)
    Option("dtype", default="auto"),
    Option("tol", default=1e-3),
    Option("check_rounds", default=None),
)

#: the rows, in the order results are reported
ROWS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "fid",
        ("fid",),
        "inception",
        "stats",
        (),
        _fid,
        "Frechet Inception Distance (float64 statistics, exact trace-sqrt)",
        stats_ok=True,
        in_all=True,
    ),
    MetricSpec(
        "kid",
        ("kid_mean", "kid_std"),
        "inception",
        "bank",
        _KID_OPTIONS,
        _kid,
        "Kernel Inception Distance (mean, std over subsets)",
        in_all=True,
        fit=_kid_fit,
    ),
    MetricSpec(
        "prdc",
        ("precision", "recall", "density", "coverage"),
        "inception",
        "bank",
        (Option("k", "prdc_k", keyword="k", flag="--prdc-k", minimum=1), _STRICT),
        _prdc,
        "precision / recall / density / coverage (k = 5)",
        in_all=True,
    ),
    MetricSpec(
        "pr",
        ("pr_precision", "pr_recall"),
        "vgg16",
        "bank",
        (Option("k", "pr_k", keyword="k", flag="--pr-k", minimum=1), _STRICT),
        _pr,
        "improved precision / recall (k = 3; VGG-16 fc2 for images)",
        rename={"precision": "pr_precision", "recall": "pr_recall"},
        in_all=True,
    ),
    MetricSpec(
        "is",
        ("is_mean", "is_std"),
        "logits",
        "logits",
        (
            Option("splits", "is_splits", keyword="splits", minimum=1),
            Option("shuffle_seed", "is_shuffle_seed"),
            Option("split_size", "is_split_size", minimum=1),
        ),
        _is,
        "Inception Score (fake images, or logits=)",
    ),
    MetricSpec(
        "fd",
        ("fd",),
        "extractor",
        "stats",
        (),
        _fid,
        "Frechet distance on the extractor's features (e.g. FD-DINOv2)",
    ),
    MetricSpec(
        "cmmd",
        ("cmmd",),
        "extractor",
        "bank",
        (),
        _cmmd,
        "CLIP-MMD (Gaussian RBF MMD, sigma 10, x1000) on the extractor's features",
    ),
    MetricSpec(
        "vendi",
        ("vendi",),
        "extractor",
        "bank",
        (),
        _vendi,
        "Vendi Score of the fake set (cosine kernel, q = 1)",
    ),
    MetricSpec(
        "sliced_wasserstein",
        ("sliced_wasserstein",),
        "extractor",
        "bank",
        (Option("projections", default=DEFAULTS["sw_projections"], minimum=1), _SEED),
        _sw,
        "sliced Wasserstein distance (1000 random directions)",
    ),
    MetricSpec(
        "p_precision_recall",
        ("p_precision", "p_recall"),
        "extractor",
        "bank",
        (Option("k", default=DEFAULTS["p_pr_k"], keyword="k", flag="--ppr-k", minimum=1),),
        _ppr,
        "P-precision / P-recall (k = 4)",
    ),
    MetricSpec(
        "top_pr",
        ("top_precision", "top_recall"),
        "extractor",
        "bank",
        (),
        _top_pr,
        "TopP&R: topological precision / recall",
    ),
)
