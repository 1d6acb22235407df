"""The row type of the metric table (:data:`fastgan.evaluation.registry.METRICS`): one
:class:`MetricSpec` per metric, as data; each row module (``rows_*.py``) defines its rows.

Each :class:`MetricSpec` says

* ``name``: what ``metrics=`` / ``--metrics`` accepts;
* ``keys``: the result keys it adds to :class:`~fastgan.evaluation.EvalResult` (the ``KEY_*``
  constants of :mod:`fastgan.metrics`; ``pr`` prefixes its two keys with ``pr_`` so that it can
  sit beside ``prdc``);
* ``needs``: which array of an embedded input it reads: ``"inception"`` (Inception-v3 pool3,
  2048-d; replaced by ``extractor=`` when one is given), ``"logits"`` (Inception 1008-way logits
  without bias, from the same forward pass as pool3; fake side only), ``"spatial"`` (the ADM
  evaluator's 2023-d sFID features, ``Mixed_6d.branch1x1`` channels 0..6, from the same forward
  pass, computed only when a requested metric needs them), ``"vgg16"`` (VGG-16 fc2,
  4096-d, the precision / recall embedding of Kynkaanniemi et al. and torch-fidelity; replaced by
  ``extractor=``) or ``"extractor"`` (the network named by ``extractor=``, Inception pool3 when
  none is given). A feature input (``[N, D]`` arrays or files) is used as is for every need
  except ``"logits"``; ``"generator"``: no array, the generator itself (``fake`` must be a
  :class:`~fastgan.evaluation.Sampler`; perceptual path length, :mod:`~fastgan.evaluation.rows_ppl`);
* ``state``: how ranks combine: ``"stats"`` (float64 sufficient statistics, all-reduced),
  ``"logits"`` (Inception Score split sums, all-reduced) or ``"bank"`` (feature banks,
  all-gathered once per array and shared by every bank metric) or ``"generator"`` (per-path
  distances measured on each rank's share of the paths, all-gathered);
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

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from fastgan._checks import check_positive_int
from fastgan.metrics.conventions import MetricConventions

__all__ = ["KEYWORDS", "NEEDS", "STATES", "MetricSpec", "Option"]

#: the shared keywords of evaluate() that set options of several metrics (see Option.keyword)
KEYWORDS = ("k", "kid_subsets", "kid_subset_size", "splits", "seed")

NEEDS = ("inception", "logits", "vgg16", "extractor", "spatial", "generator")
STATES = ("stats", "logits", "bank", "generator")


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
