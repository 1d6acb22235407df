"""The metric table of :func:`fastgan.evaluate` and ``fastgan eval``: one row per metric, as data.

Each :class:`MetricSpec` says

* ``name``: what ``metrics=`` / ``--metrics`` accepts;
* ``keys``: the result keys it adds to :class:`~fastgan.evaluation.EvalResult` (the ``KEY_*``
  constants of :mod:`fastgan.metrics`; ``pr`` prefixes its two keys with ``pr_`` so that it can
  sit beside ``prdc``);
* ``needs``: which array of an embedded input it reads: ``"inception"`` (Inception-v3 pool3,
  2048-d; replaced by ``extractor=`` when one is given), ``"logits"`` (Inception 1008-way logits
  without bias, from the same forward pass as pool3; fake side only), ``"vgg16"`` (VGG-16 fc2,
  4096-d, the precision / recall embedding of Kynkaanniemi et al. and torch-fidelity; replaced by
  ``extractor=``) or ``"extractor"`` (the network named by ``extractor=``, Inception pool3 when
  none is given). A feature input (``[N, D]`` arrays or files) is used as is for every need
  except ``"logits"``;
* ``state``: how ranks combine: ``"stats"`` (float64 sufficient statistics, all-reduced),
  ``"logits"`` (Inception Score split sums, all-reduced) or ``"bank"`` (feature banks,
  all-gathered once per array and shared by every bank metric);
* ``options``: which conventions it takes from the preset (:func:`fastgan.features.get_preset`)
  and from :func:`~fastgan.evaluation.evaluate`'s keyword arguments (:func:`resolve_options`);
* ``factory``: the :class:`~fastgan.metrics.Metric` it builds from those options.

Defaults that no preset fixes are in :data:`DEFAULTS` (``p_pr_k`` = 4 as Park & Kim; 1000
sliced-Wasserstein directions). A factory also receives the :class:`~fastgan.features.Preset`
itself as ``opts["preset"]`` and passes it to the metric classes that take ``preset=`` (KID,
InceptionScore, PRDC, precision_recall), so that the conventions come from one table.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

__all__ = [
    "DEFAULTS",
    "DEFAULT_METRICS",
    "METRICS",
    "MetricSpec",
    "get_metric",
    "metric_names",
    "parse_metrics",
    "resolve_options",
]

#: metrics computed when none are named
DEFAULT_METRICS: tuple[str, ...] = ("fid", "kid", "prdc")

#: defaults that the presets do not fix (the preset's own fields come first, see resolve_options)
DEFAULTS: dict[str, Any] = {"p_pr_k": 4, "sw_projections": 1000}

NEEDS = ("inception", "logits", "vgg16", "extractor")
STATES = ("stats", "logits", "bank")


@dataclass(frozen=True)
class MetricSpec:
    """One row of :data:`METRICS` (see the module docstring for each field)."""

    name: str
    keys: tuple[str, ...]
    needs: str
    state: str
    options: tuple[str, ...]
    factory: Callable[[dict[str, Any]], Any]
    description: str
    rename: dict[str, str] = field(default_factory=dict)
    stats_ok: bool = False
    in_all: bool = False

    def result(self, value: Any) -> dict[str, float]:
        """The metric's ``compute()`` output (a float or a dict) as ``{key: float}`` with :attr:`keys`."""
        if isinstance(value, dict):
            out = {self.rename.get(k, k): float(v) for k, v in value.items()}
            missing = [k for k in self.keys if k not in out]
            if missing:
                raise RuntimeError(f"metric {self.name!r}: result lacks keys {missing} (got {sorted(out)})")
            return {k: out[k] for k in self.keys}
        return {self.keys[0]: float(value)}


# ------------------------------------------------------------------------------------ factories
def _fid(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import FID

    return FID(real_stats=opts.get("real_stats"))


def _kid(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import KID

    return KID(subsets=opts["subsets"], subset_size=opts["subset_size"], degree=opts["degree"],
               gamma=opts["gamma"], coef0=opts["coef0"], seed=opts["seed"], preset=opts.get("preset"))


def _is(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import InceptionScore

    # the preset's row shuffle (torch-fidelity) is applied by the class from the global indices
    return InceptionScore(splits=opts["splits"], num_samples=opts.get("num_samples"),
                          preset=opts.get("preset"))


def _prdc(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import PRDC

    return PRDC(k=opts["k"], strict=opts["strict"], progress=opts.get("progress"), preset=opts.get("preset"))


def _function_bank(fn: Callable[..., Any], **kwargs: Any) -> Any:
    from fastgan.metrics._base import BankMetric

    class FunctionBank(BankMetric):
        """Two feature banks and a function of them (metrics without a class of their own)."""

        def compute(self) -> Any:
            return fn(self._bank(real=True), self._bank(real=False), **kwargs)

    return FunctionBank()


def _pr(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import precision_recall

    return _function_bank(precision_recall, k=opts["k"], strict=opts["strict"], progress=opts.get("progress"),
                          preset=opts.get("preset"))


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
        return getattr(fm, "top_precision_recall")  # type: ignore[no-any-return]
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


#: THE metric table (name -> spec), in the order results are reported.
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        MetricSpec("fid", ("fid",), "inception", "stats", (), _fid,
                   "Frechet Inception Distance (float64 statistics, exact trace-sqrt)",
                   stats_ok=True, in_all=True),
        MetricSpec("kid", ("kid_mean", "kid_std"), "inception", "bank",
                   ("subsets", "subset_size", "subset_rule", "degree", "gamma", "coef0", "seed"), _kid,
                   "Kernel Inception Distance (mean, std over subsets)", in_all=True),
        MetricSpec("prdc", ("precision", "recall", "density", "coverage"), "inception", "bank",
                   ("k", "strict"), _prdc, "precision / recall / density / coverage (k = 5)", in_all=True),
        MetricSpec("pr", ("pr_precision", "pr_recall"), "vgg16", "bank", ("k", "strict"), _pr,
                   "improved precision / recall (k = 3; VGG-16 fc2 for images)",
                   rename={"precision": "pr_precision", "recall": "pr_recall"}, in_all=True),
        MetricSpec("is", ("is_mean", "is_std"), "logits", "logits", ("splits", "shuffle_seed"), _is,
                   "Inception Score (fake images, or logits=)"),
        MetricSpec("fd", ("fd",), "extractor", "stats", (), _fid,
                   "Frechet distance on the extractor's features (e.g. FD-DINOv2)"),
        MetricSpec("cmmd", ("cmmd",), "extractor", "bank", (), _cmmd,
                   "CLIP-MMD (Gaussian RBF MMD, sigma 10, x1000) on the extractor's features"),
        MetricSpec("vendi", ("vendi",), "extractor", "bank", (), _vendi,
                   "Vendi Score of the fake set (cosine kernel, q = 1)"),
        MetricSpec("sliced_wasserstein", ("sliced_wasserstein",), "extractor", "bank",
                   ("projections", "seed"), _sw, "sliced Wasserstein distance (1000 random directions)"),
        MetricSpec("p_precision_recall", ("p_precision", "p_recall"), "extractor", "bank", ("k",), _ppr,
                   "P-precision / P-recall (k = 4)"),
        MetricSpec("top_pr", ("top_precision", "top_recall"), "extractor", "bank", (), _top_pr,
                   "TopP&R: topological precision / recall"),
    )
}


def metric_names() -> tuple[str, ...]:
    """Every metric name, in table order."""
    return tuple(METRICS)


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name`` (case-insensitive; ``-`` and ``_`` are equivalent)."""
    if not isinstance(name, str):
        raise TypeError(f"metrics: expected metric names (str), got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in METRICS:
        raise ValueError(f"metrics: unknown metric {name!r}; choose from {', '.join(METRICS)} (or 'all')")
    return METRICS[key]


def parse_metrics(metrics: Union[str, Sequence[str], None], arg: str = "metrics") -> list[str]:
    """Metric names from a comma-separated string or a sequence; ``"all"`` adds the classic set.

    ``"all"`` means every metric with ``in_all`` (fid, kid, prdc, pr); the Inception Score and the
    newer metrics are named explicitly. Duplicates are dropped, order is kept. ``arg`` names the
    argument in error messages (``--metrics`` for the command line).
    """
    if metrics is None:
        return list(DEFAULT_METRICS)
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names: list[str] = []
    for raw in items:
        if not isinstance(raw, str):
            raise TypeError(f"{arg}: expected metric names (str), got {type(raw).__name__}")
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name == "all":
            names.extend(m for m, s in METRICS.items() if s.in_all and m not in names)
            continue
        if name not in METRICS:
            raise ValueError(
                f"{arg}: unknown metric {raw.strip()!r}; choose from {', '.join(METRICS)} (or 'all')"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"{arg}: no metric named")
    return names


def resolve_options(
    name: str,
    preset: Any,
    *,
    k: Optional[int] = None,
    kid_subsets: Optional[int] = None,
    kid_subset_size: Optional[int] = None,
    splits: Optional[int] = None,
    seed: Optional[int] = None,
) -> dict[str, Any]:
    """The options metric ``name`` runs with: the keyword argument if given, else the preset's field.

    ``preset`` is a :class:`fastgan.features.Preset`. Fields read: ``kid_subsets``,
    ``kid_subset_size``, ``kid_subset_rule``, ``kid_degree``, ``kid_gamma``, ``kid_coef0``,
    ``kid_seed`` (kid); ``is_splits``, ``is_shuffle_seed`` (is); ``pr_k`` (pr), ``prdc_k``
    (prdc), ``pr_inclusive`` (both). ``seed`` None: the preset's ``kid_seed`` (torch-fidelity:
    2020), or 0 where the reference draws from a global RNG (so that every rank and every run
    draws the same subsets); sliced Wasserstein: 0.

    Returns:
        dict of the option names in the spec's ``options`` (plain values, JSON-serialisable).
    """
    spec = get_metric(name)
    strict = not bool(preset.pr_inclusive)
    if seed is None:
        kid_seed = getattr(preset, "kid_seed", None)
        seed = 0 if kid_seed is None or spec.name != "kid" else int(kid_seed)
    if spec.name == "kid":
        return {
            "subsets": kid_subsets if kid_subsets is not None else preset.kid_subsets,
            "subset_size": kid_subset_size if kid_subset_size is not None else preset.kid_subset_size,
            "subset_rule": preset.kid_subset_rule,
            "degree": preset.kid_degree,
            "gamma": preset.kid_gamma,
            "coef0": preset.kid_coef0,
            "seed": int(seed),
        }
    if spec.name == "prdc":
        return {"k": k if k is not None else preset.prdc_k, "strict": strict}
    if spec.name == "pr":
        return {"k": k if k is not None else preset.pr_k, "strict": strict}
    if spec.name == "is":
        return {"splits": splits if splits is not None else preset.is_splits,
                "shuffle_seed": preset.is_shuffle_seed}
    if spec.name == "sliced_wasserstein":
        return {"projections": DEFAULTS["sw_projections"], "seed": int(seed)}
    if spec.name == "p_precision_recall":
        return {"k": k if k is not None else DEFAULTS["p_pr_k"]}
    return {}
