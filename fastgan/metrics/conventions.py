"""Metric conventions: the half of a preset that the metrics read (no image pipeline here).

A preset (:mod:`fastgan.features.presets`) pins two independent things: how images reach a
network (resize, pixel scaling, dtype: :class:`fastgan.features.presets.ImagePipeline`) and how
the metrics are computed from the features (this module). One :class:`MetricConventions` per
preset row, in :data:`CONVENTIONS`; :class:`fastgan.features.Preset` composes a pipeline and these
conventions, so ``get_preset("torch-fidelity").kid_seed`` still reads this table.

The metric functions resolve ``preset=`` with :func:`get_conventions`, which accepts a name, a
:class:`MetricConventions`, or any object with a ``conventions`` attribute (a
:class:`fastgan.features.Preset`), so :mod:`fastgan.metrics` never imports the networks.

Which field drives which function, and each row's values against its reference, are tabled in
:mod:`fastgan.features.presets`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

__all__ = [
    "MetricConventions",
    "PresetLike",
    "CONVENTIONS",
    "DEFAULT_CONVENTIONS",
    "get_conventions",
    "normalize_preset_name",
]


#: what ``preset=`` of a metric accepts: a name, a :class:`MetricConventions`, a
#: :class:`fastgan.features.Preset` (anything with a ``conventions`` attribute) or None
PresetLike = Any


@dataclass(frozen=True)
class MetricConventions:
    """The metric conventions of one reference implementation (one preset row).

    Attributes:
        name: the preset's name.
        is_logits: which logits the Inception Score uses (``"logits_unbiased"``: fc without bias).
        is_splits: Inception Score splits.
        is_shuffle_seed: None: splits are contiguous chunks in input order; an int: rows are
            first permuted with ``numpy.random.RandomState(seed).permutation(N)``.
        kid_subsets: KID rounds.
        kid_subset_size: KID rows per round.
        kid_subset_rule: ``"error"`` (subset size larger than a sample count is an error) or
            ``"clamp"`` (``m = min(N_real, N_fake, kid_subset_size)``).
        kid_degree, kid_gamma, kid_coef0: polynomial kernel ``(gamma <x, y> + coef0) ** degree``
            (``kid_gamma`` None: ``1 / D``).
        kid_std: whether the reference reports a std over rounds (documentation only).
        kid_rng: ``"torch"`` or ``"numpy"``: how subsets are drawn.
        kid_seed: seed of that RNG when the caller passes none; None: the library's global RNG.
        kid_draw_first: ``"real"`` or ``"fake"``: whose rows each round draws first.
        pr_k: precision / recall neighbourhood size (k-th neighbour, self excluded).
        pr_inclusive: ball membership with ``<=`` (True) or ``<``, for precision / recall and PRDC.
        prdc_k: neighbourhood size of :func:`~fastgan.metrics.prdc` (all four metrics).
        is_split_size: None: ``is_splits`` splits of (nearly) equal size; an int: splits of that
            many consecutive samples, the last one the remainder (the ADM evaluator's 5000).
        pr_fp16: the ADM evaluator's float16 distance step in
            :func:`~fastgan.metrics.adm_precision_recall` (metric ``adm_pr``).
    """

    name: str
    is_logits: str
    is_splits: int
    is_shuffle_seed: Optional[int]
    kid_subsets: int
    kid_subset_size: int
    kid_subset_rule: str
    kid_degree: int
    kid_gamma: Optional[float]
    kid_coef0: float
    kid_std: bool
    kid_rng: str
    kid_seed: Optional[int]
    kid_draw_first: str
    pr_k: int
    pr_inclusive: bool
    prdc_k: int
    is_split_size: Optional[int] = None
    pr_fp16: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The row as plain Python values."""
        return asdict(self)


_COMMON: dict[str, Any] = dict(
    is_logits="logits_unbiased",
    is_splits=10,
    kid_subsets=100,
    kid_subset_size=1000,
    kid_degree=3,
    kid_gamma=None,
    kid_coef0=1.0,
    pr_k=3,
    pr_inclusive=True,
    prdc_k=5,
)

#: THE metric-convention table (the only place these choices are made), by preset name.
CONVENTIONS: dict[str, MetricConventions] = {
    c.name: c
    for c in (
        MetricConventions(
            name="pytorch-fid",
            is_shuffle_seed=None,
            kid_subset_rule="error",
            kid_std=True,
            kid_rng="torch",
            kid_seed=None,
            kid_draw_first="real",
            **_COMMON,
        ),
        MetricConventions(
            name="torch-fidelity",
            is_shuffle_seed=2020,
            kid_subset_rule="error",
            kid_std=True,
            kid_rng="numpy",
            kid_seed=2020,
            kid_draw_first="fake",
            **_COMMON,
        ),
        MetricConventions(
            name="clean-fid",
            is_shuffle_seed=None,
            kid_subset_rule="clamp",
            kid_std=False,
            kid_rng="numpy",
            kid_seed=None,
            kid_draw_first="fake",
            **_COMMON,
        ),
        # the ADM evaluator (guided-diffusion evaluations/evaluator.py) has no KID: fastgan's defaults
        MetricConventions(
            name="adm",
            is_shuffle_seed=None,
            kid_subset_rule="error",
            kid_std=True,
            kid_rng="torch",
            kid_seed=None,
            kid_draw_first="real",
            is_split_size=5000,
            pr_fp16=True,
            **_COMMON,
        ),
    )
}

DEFAULT_CONVENTIONS = "pytorch-fid"


def normalize_preset_name(preset: str, names: Any) -> str:
    """The table name among ``names`` that ``preset`` spells (case-insensitive; ``_`` / ``-`` / no
    separator are equivalent), else a ValueError naming ``preset``."""
    key = preset.lower().replace("_", "").replace("-", "")
    for name in names:
        if name.replace("-", "") == key:
            return str(name)
    raise ValueError(f"preset: must be one of {tuple(names)}, got {preset!r}")


def get_conventions(preset: Any = None) -> MetricConventions:
    """The :class:`MetricConventions` of ``preset``: a name (None: ``"pytorch-fid"``), a
    :class:`MetricConventions` (returned as is) or an object with a ``conventions`` attribute
    (a :class:`fastgan.features.Preset`, whose own conventions are returned)."""
    if preset is None:
        return CONVENTIONS[DEFAULT_CONVENTIONS]
    if isinstance(preset, MetricConventions):
        return preset
    conv = getattr(preset, "conventions", None)
    if isinstance(conv, MetricConventions):
        return conv
    if not isinstance(preset, str):
        raise TypeError(
            f"preset: expected a name {tuple(CONVENTIONS)} or a Preset, got {type(preset).__name__}"
        )
    return CONVENTIONS[normalize_preset_name(preset, CONVENTIONS)]
