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

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from fastgan.evaluation import rows_core, rows_family, rows_memorization, rows_ppl, rows_protocols
from fastgan.evaluation.rows_core import DEFAULTS, top_pr_function
from fastgan.evaluation.spec import KEYWORDS, NEEDS, STATES, MetricSpec, Option
from fastgan.metrics.conventions import PresetLike, get_conventions

__all__ = [
    "DEFAULTS",
    "DEFAULT_METRICS",
    "KEYWORDS",
    "METRICS",
    "NEEDS",
    "STATES",
    "MetricSpec",
    "Option",
    "get_metric",
    "given_options",
    "keyword_targets",
    "metric_names",
    "parse_metrics",
    "resolve_options",
    "run_metric",
    "top_pr_function",
]

#: metrics computed when none are named
DEFAULT_METRICS: tuple[str, ...] = ("fid", "kid", "prdc")

#: THE metric table (name -> spec), in the order results are reported: the rows of each row module
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        *rows_core.ROWS,
        *rows_family.ROWS,
        *rows_memorization.ROWS,
        *rows_protocols.ROWS,
        *rows_ppl.ROWS,
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
    check: Optional[dict[str, Any]] = None,
) -> tuple[dict[str, float], list[str]]:
    """One metric on two feature sets in this process: FID / FD through :func:`fastgan.metrics.fid`,
    a bank metric through ``spec.fit``, its factory, two updates, ``compute``; the result keys.
    ``opts`` as :func:`resolve_options` returns them (updated in place by ``fit``); ``given``: the
    option names the caller set explicitly. ``check``: if a dict, receives how a reduced-precision
    result was checked, when the metric reports it (KID: ``dtype``, ``rounds_checked``,
    ``max_diff``, ``tol``, ``spread`` = its std over rounds, ``fallback``).

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
    out = spec.result(metric.compute())
    stats = getattr(metric, "last_stats", None)
    if check is not None and stats and "check_max_diff" in stats:
        check.update(
            dtype=str(stats["dtype"]).replace("torch.", ""),
            rounds_checked=len(stats["check_rounds"]),
            max_diff=stats["check_max_diff"],
            tol=getattr(metric, "tol", None),
            spread=out.get(spec.keys[-1]),
            fallback=bool(stats["fallback"]),
        )
    return out, notes
