"""The metric table of :func:`fastgan.evaluate`, ``fastgan eval``, :func:`fastgan.truncation_sweep` and
the demo: one row per metric, as data, and the single place where a metric's options are resolved.

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
* ``options``: its :class:`Option` s: each one's default, the preset field
  (:class:`~fastgan.metrics.conventions.MetricConventions`) that feeds it, the shared keyword of
  :func:`~fastgan.evaluation.evaluate` that sets it (``kid_subsets``, ``splits``, ``seed``, the
  deprecated ``k``) and its own command-line flag (``--prdc-k``); :func:`resolve_options` is the
  one resolver;
* ``factory``: the :class:`~fastgan.metrics.Metric` it builds from those options (plain values;
  no preset reaches a factory);
* ``fit``: an optional hook that adapts the options to the sample counts (KID's subset size).
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from fastgan._checks import check_positive_int
from fastgan.metrics.conventions import MetricConventions, PresetLike, get_conventions

__all__ = [
    "DEFAULTS",
    "DEFAULT_METRICS",
    "METRICS",
    "MetricSpec",
    "Option",
    "get_metric",
    "given_options",
    "metric_names",
    "parse_metrics",
    "resolve_options",
    "run_metric",
]

#: metrics computed when none are named
DEFAULT_METRICS: tuple[str, ...] = ("fid", "kid", "prdc")

#: defaults that the presets do not fix (the preset's own fields come first, see resolve_options)
DEFAULTS: dict[str, Any] = {"p_pr_k": 4, "sw_projections": 1000}

#: the shared keywords of evaluate() that set options of several metrics (see Option.keyword)
KEYWORDS = ("k", "kid_subsets", "kid_subset_size", "splits", "seed")

NEEDS = ("inception", "logits", "vgg16", "extractor")
STATES = ("stats", "logits", "bank")


@dataclass(frozen=True)
class Option:
    """One option of a metric and where its value comes from.

    Resolution (:func:`resolve_options`): a value given for it (``options={metric: {name: v}}``,
    its ``flag`` on the command line, or its shared ``keyword``), else the preset's
    ``preset_field`` (through ``convert``) when that is not None, else ``default``.

    Attributes:
        name: the option (the metric factory's keyword, a key of ``info["options"][metric]``).
        preset_field: the :class:`~fastgan.metrics.conventions.MetricConventions` field that feeds it.
        default: the value when no preset field gives one.
        keyword: the shared :func:`~fastgan.evaluation.evaluate` keyword that also sets it.
        flag: its own ``fastgan eval`` flag (a positive int), e.g. ``--prdc-k``.
        minimum: given values are checked to be ints >= minimum (None: not checked here).
        convert: preset value -> option value (``strict = not pr_inclusive``).
    """

    name: str
    preset_field: Optional[str] = None
    default: Any = None
    keyword: Optional[str] = None
    flag: Optional[str] = None
    minimum: Optional[int] = None
    convert: Optional[Callable[[Any], Any]] = None

    def from_preset(self, conventions: MetricConventions) -> Any:
        value = None if self.preset_field is None else getattr(conventions, self.preset_field)
        if value is None:
            return self.default
        return value if self.convert is None else self.convert(value)

    def check(self, value: Any, where: str) -> Any:
        if self.minimum is None or value is None:
            return value
        return check_positive_int(value, where, minimum=self.minimum)


@dataclass(frozen=True)
class MetricSpec:
    """One row of :data:`METRICS` (see the module docstring for each field)."""

    name: str
    keys: tuple[str, ...]
    needs: str
    state: str
    options: tuple[Option, ...]
    factory: Callable[[dict[str, Any]], Any]
    description: str
    rename: dict[str, str] = field(default_factory=dict)
    stats_ok: bool = False
    in_all: bool = False
    fit: Optional[Callable[[dict[str, Any], int, int, frozenset[str]], list[str]]] = None

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    def result(self, value: Any) -> dict[str, float]:
        """The metric's ``compute()`` output (a float or a dict) as ``{key: float}`` with :attr:`keys`."""
        if isinstance(value, dict):
            out = {self.rename.get(k, k): float(v) for k, v in value.items()}
            missing = [k for k in self.keys if k not in out]
            if missing:
                raise RuntimeError(
                    f"metric {self.name!r}: result lacks keys {missing} (got {sorted(map(str, out))})"
                )
            return {k: out[k] for k in self.keys}
        return {self.keys[0]: float(value)}


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
    )


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
    from fastgan.metrics import InceptionScore

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
)

#: THE metric table (name -> spec), in the order results are reported.
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
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


def keyword_targets(keyword: str, names: Optional[Sequence[str]] = None) -> list[str]:
    """The metrics (of ``names``, default all) that the shared keyword ``keyword`` sets (``"k"``:
    prdc, pr, p_precision_recall)."""
    return [n for n in (names or METRICS) if any(o.keyword == keyword for o in METRICS[n].options)]


def given_options(
    names: Sequence[str],
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    **keywords: Any,
) -> dict[str, dict[str, Any]]:
    """The option values given by the caller, per metric of ``names``: each shared keyword
    (:data:`KEYWORDS`; None: not given) goes to every option that declares it, then
    ``options`` (``{metric: {option: value}}``, the more specific) overrides.

    Raises:
        ValueError naming an unknown metric or option in ``options``, or a value that fails its check.
    """
    unknown_kw = set(keywords) - set(KEYWORDS)
    if unknown_kw:
        raise TypeError(f"given_options: unknown keywords {sorted(unknown_kw)}")
    per_metric: Mapping[str, Mapping[str, Any]] = {}
    if options is not None:
        if not isinstance(options, Mapping):
            raise TypeError(
                f"options: expected a mapping {{metric: {{option: value}}}}, got {type(options).__name__}"
            )
        per_metric = {get_metric(m).name: v for m, v in options.items()}
        for m, opts in per_metric.items():
            if not isinstance(opts, Mapping):
                raise TypeError(
                    f"options[{m!r}]: expected a mapping {{option: value}}, got {type(opts).__name__}"
                )
            bad = [o for o in opts if o not in METRICS[m].option_names]
            if bad:
                have = ", ".join(METRICS[m].option_names) or "none"
                raise ValueError(
                    f"options[{m!r}]: unknown option(s) {', '.join(map(repr, bad))}; {m} takes: {have}"
                )
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = get_metric(name)
        given: dict[str, Any] = {}
        for opt in spec.options:
            if opt.keyword is not None and keywords.get(opt.keyword) is not None:
                given[opt.name] = opt.check(keywords[opt.keyword], opt.keyword)
            if opt.name in per_metric.get(spec.name, {}):
                given[opt.name] = opt.check(
                    per_metric[spec.name][opt.name], f"options[{spec.name!r}][{opt.name!r}]"
                )
        out[spec.name] = given
    return out


def resolve_options(
    name: str,
    preset: PresetLike,
    *,
    options: Optional[Mapping[str, Any]] = None,
    k: Optional[int] = None,
    kid_subsets: Optional[int] = None,
    kid_subset_size: Optional[int] = None,
    splits: Optional[int] = None,
    seed: Optional[int] = None,
) -> dict[str, Any]:
    """The options metric ``name`` runs with, as plain values: for each of its :class:`Option` s the
    given value (``options``: ``{option: value}`` of this metric, else the shared keyword), else the
    preset's field, else the option's default.

    ``preset``: a :class:`~fastgan.metrics.conventions.MetricConventions` (what
    :func:`~fastgan.evaluation.evaluate` passes, resolved once), a
    :class:`~fastgan.features.Preset` or a name. ``seed`` None: the preset's ``kid_seed``
    (torch-fidelity: 2020) for KID, else 0 (every rank and every run draws the same subsets).

    Returns:
        dict of the spec's option names (plain values, JSON-serialisable).
    """
    spec = get_metric(name)
    conventions = get_conventions(preset)
    given = given_options(
        [spec.name],
        {spec.name: options} if options else None,
        k=k,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        splits=splits,
        seed=seed,
    )[spec.name]
    return {o.name: given[o.name] if o.name in given else o.from_preset(conventions) for o in spec.options}


def run_metric(
    name: str,
    real: Any,
    fake: Any,
    opts: Mapping[str, Any],
    *,
    given: frozenset[str] = frozenset(),
    progress: Optional[bool] = None,
) -> tuple[dict[str, float], list[str]]:
    """One metric on two feature sets in this process: FID / FD through :func:`fastgan.metrics.fid`,
    a bank metric through ``spec.fit``, its factory, two updates, ``compute``; the result keys. ``opts`` as :func:`resolve_options` returns them (updated in
    place by ``fit``); ``given``: the option names the caller set explicitly.

    Returns:
        (``{result key: float}``, notes).
    """
    spec = get_metric(name)
    if spec.state == "stats":  # FID / FD: the function of a direct call (and the exact method it picks)
        from fastgan.metrics import fid

        return spec.result(fid(real, fake)), []
    if spec.state != "bank":
        raise ValueError(
            f"run_metric: {spec.name!r} needs logits, not two feature sets (state {spec.state!r})"
        )
    opts = opts if isinstance(opts, dict) else dict(opts)
    notes = spec.fit(opts, int(real.shape[0]), int(fake.shape[0]), given) if spec.fit is not None else []
    metric = spec.factory({**opts, "progress": progress})
    metric.update(real, real=True)
    metric.update(fake.to(real.device), real=False)
    return spec.result(metric.compute()), notes
