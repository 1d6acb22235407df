"""Named evaluation protocols: the numbers papers report by name (``fid50k_full``, ``is50k``, ...).

A *protocol* fixes everything a reported number depends on beyond the two image sets: the metric
(a row of :data:`fastgan.evaluation.METRICS`), its options (k, KID subsets and their draw), the
image pipeline (a preset), the feature network, the number of generated samples (50k) and how
many real images are used ("full": all of them). ``evaluate(real, fake, protocol="fid50k_full")``
and ``fastgan eval REAL FAKE --protocol fid50k_full`` run one; the result carries the protocol's
own key (``info["protocol"]["results"]["fid50k_full"]``) and, when the inputs do not have the
sample counts the protocol fixes, a note saying so (``strict=True``: an error), never silently.

=================  ==================================================================================
protocol           what it fixes (reference)
=================  ==================================================================================
``fid50k_full``    FID, 50 000 generated, every real image; Inception pool3 through the TF graph's
                   own bilinear resize (stylegan3 ``metric_main.fid50k_full``:
                   ``compute_fid(max_real=None, num_gen=50000)``)
``kid50k_full``    KID, 100 subsets of ``min(N_real, N_fake, 1000)`` rows, generated rows drawn
                   first, with numpy (stylegan3 ``kid50k_full``: ``max_real=1000000``,
                   ``num_subsets=100``, ``max_subset_size=1000``)
``pr50k3_full``    precision / recall, k = 3, VGG-16 fc2, at most 200 000 real images (stylegan3
                   ``pr50k3_full``: ``max_real=200000``, ``nhood_size=3``)
``is50k``          Inception Score, 50 000 generated, 10 contiguous splits, no shuffle (stylegan3
                   ``is50k``: ``num_splits=10``)
``fd_dinov2``      Frechet distance of DINOv2 ViT-L/14 class tokens, EDM2's preprocessing (bicubic
                   antialias to 224 on 0..255 floats, ImageNet normalisation), float64 sums, 50 000
                   generated (NVlabs/edm2 ``calculate_metrics.py``, metric ``fd_dinov2``)
``adm``            the ADM evaluator's FID, sFID, IS (5000-sample splits) and precision / recall
                   (k = 3, float16 distances) against its reference batch, 50 000 samples
                   (guided-diffusion ``evaluations/evaluator.py``)
=================  ==================================================================================

What fastgan does not reproduce bit for bit is listed in each protocol's ``differences`` (and on
the page ``docs/pages/metrics/protocols.md``): stylegan3's covariance divides by n (fastgan's FID
by n - 1, a relative change of O(1/N) in the covariances), its unseeded numpy KID draws, its
float16 ``cdist`` in precision / recall, and the TorchScript / TensorFlow detectors themselves
(fastgan runs its own port of the same weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import torch

from fastgan.evaluation.rows_protocols import ADM_METRICS
from fastgan.features.presets import Preset, get_preset

__all__ = [
    "Protocol",
    "PROTOCOLS",
    "PROTOCOL_NAMES",
    "get_protocol",
    "protocol_arguments",
    "protocol_report",
    "setup_call",
    "with_float64",
]


@dataclass(frozen=True)
class Protocol:
    """One named protocol (module table).

    Attributes:
        name: the name papers use (``"fid50k_full"``).
        metrics: the metric rows it computes.
        preset: the preset (image pipeline and metric conventions).
        options: per-metric options ``{metric: {option: value}}`` it fixes.
        num_fake: generated samples it fixes (50 000).
        max_real: at most this many real images (None: all, "full").
        extractor: the feature network of the feature-set metrics (None: the preset's networks).
        keys: result key -> the protocol's key (``{"fid": "fid50k_full"}``).
        matches: the reference code.
        differences: what fastgan does differently from that code (reported in ``info``).
    """

    name: str
    metrics: tuple[str, ...]
    preset: str
    options: Mapping[str, Mapping[str, Any]]
    num_fake: int
    max_real: Optional[int]
    extractor: Optional[str]
    keys: Mapping[str, str]
    matches: str
    differences: tuple[str, ...] = field(default_factory=tuple)


_TF_DETECTOR = (
    "the detector is fastgan's port of the TF 2015-12-05 Inception graph with TF1 bilinear resizing "
    "(stylegan3 runs a TorchScript translation whose affine_grid/grid_sample resize computes the same "
    "sampling positions; equal up to float32 rounding, not checked here without the pickle)"
)
_STYLEGAN_COV = (
    "FID covariances divide by n - 1 (stylegan3's FeatureStats divide by n: the two differ by O(1/N) "
    "relative, ~1e-4 of the FID at N = 50k)"
)

#: THE protocol table
PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "fid50k_full",
            ("fid",),
            "torch-fidelity",
            {},
            50000,
            None,
            None,
            {"fid": "fid50k_full"},
            "NVlabs/stylegan3 metrics/metric_main.py fid50k_full, frechet_inception_distance.py",
            (_TF_DETECTOR, _STYLEGAN_COV),
        ),
        Protocol(
            "kid50k_full",
            ("kid",),
            "torch-fidelity",
            {
                "kid": {
                    "subsets": 100,
                    "subset_size": 1000,
                    "subset_rule": "clamp",
                    "rng": "numpy",
                    "draw_first": "fake",
                }
            },
            50000,
            1000000,
            None,
            {"kid_mean": "kid50k_full"},
            "NVlabs/stylegan3 metrics/metric_main.py kid50k_full, kernel_inception_distance.py",
            (
                _TF_DETECTOR,
                "stylegan3 draws the subsets from numpy's unseeded global RNG; fastgan draws them from "
                "RandomState(seed) (seed= / --seed, default 0), so single runs differ by the KID's "
                "sampling noise (kid_std)",
            ),
        ),
        Protocol(
            "pr50k3_full",
            ("pr",),
            "torch-fidelity",
            {"pr": {"k": 3, "strict": False}},
            50000,
            200000,
            None,
            {"pr_precision": "pr50k3_full_precision", "pr_recall": "pr50k3_full_recall"},
            "NVlabs/stylegan3 metrics/metric_main.py pr50k3_full, precision_recall.py",
            (
                "VGG-16 fc2 through torch-fidelity's pipeline (stylegan3's vgg16.pkl TorchScript is the same "
                "network; its internal resize is not checked here)",
                "stylegan3 casts the features to float16 and uses torch.cdist in float16; fastgan's "
                "distances are exact (float32 features, no float16 step), so ties at a radius can differ",
            ),
        ),
        Protocol(
            "is50k",
            ("is",),
            "torch-fidelity",
            {"is": {"splits": 10, "shuffle_seed": None}},
            50000,
            None,
            None,
            {"is_mean": "is50k_mean", "is_std": "is50k_std"},
            "NVlabs/stylegan3 metrics/metric_main.py is50k, inception_score.py",
            (_TF_DETECTOR,),
        ),
        Protocol(
            "fd_dinov2",
            ("fd",),
            "pytorch-fid",
            {},
            50000,
            None,
            "dinov2-vit-l14-edm2",
            {"fd": "fd_dinov2"},
            "NVlabs/edm2 calculate_metrics.py (DINOv2Detector resize_mode='torch', float64 sums, sigma / (n - 1))",
            (
                "timm's ViT-L/14 with the dinov2 weights: timm resamples the position embeddings to the "
                "224 px grid once (bicubic, antialias), the torch.hub model EDM2 loads interpolates them at "
                "each call without antialias, so features differ slightly; exact parity needs the hub code",
            ),
        ),
        Protocol(
            "adm",
            ("fid", "sfid", "is", "adm_pr"),
            "adm",
            {},
            50000,
            None,
            None,
            {
                "fid": "adm_fid",
                "sfid": "adm_sfid",
                "is_mean": "adm_is",
                "adm_precision": "adm_precision",
                "adm_recall": "adm_recall",
            },
            "openai/guided-diffusion evaluations/evaluator.py",
            (
                "fastgan's port of the TF graph replaces TensorFlow (same weights and resize; float32 "
                "convolutions differ in the last bits)",
                "float16 distances round where the graph does, with float32 accumulation; TensorFlow's "
                "kernels may differ in rare last bits",
                "FID / sFID use fastgan's exact float64 trace-sqrt instead of scipy.linalg.sqrtm",
            ),
        ),
    )
}

PROTOCOL_NAMES: tuple[str, ...] = tuple(PROTOCOLS)


def get_protocol(name: Any) -> Protocol:
    """A :class:`Protocol` by name (case-insensitive, ``-`` = ``_``); a Protocol is returned as is."""
    if isinstance(name, Protocol):
        return name
    if not isinstance(name, str):
        raise TypeError(f"protocol: expected a name {PROTOCOL_NAMES}, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in PROTOCOLS:
        raise ValueError(f"protocol: unknown protocol {name!r}; choose from {', '.join(PROTOCOL_NAMES)}")
    return PROTOCOLS[key]


def protocol_arguments(
    protocol: Protocol,
    *,
    metrics: Any,
    default_metrics: Sequence[str],
    preset: Any,
    default_preset: str,
    options: Optional[Mapping[str, Mapping[str, Any]]],
    extractor: Optional[str],
) -> tuple[tuple[str, ...], str, dict[str, dict[str, Any]], Optional[str]]:
    """The ``(metrics, preset, options, extractor)`` that ``evaluate`` runs a protocol with.

    A protocol fixes them: an argument given with another value is a ValueError naming it (the
    number would no longer be the protocol's); ``options`` may add options the protocol leaves open
    (e.g. ``{"kid": {"seed": 1}}``) but not change the ones it fixes.
    """
    if metrics is not default_metrics and tuple(metrics) != protocol.metrics:
        raise ValueError(
            f"metrics: protocol {protocol.name!r} fixes the metrics {protocol.metrics}; drop metrics="
        )
    if preset is not None and preset != default_preset:
        name = getattr(preset, "name", preset)
        if name != protocol.preset:
            raise ValueError(
                f"preset: protocol {protocol.name!r} fixes preset {protocol.preset!r}, got {name!r}"
            )
    if extractor is not None and extractor != protocol.extractor:
        raise ValueError(f"extractor: protocol {protocol.name!r} fixes extractor {protocol.extractor!r}")
    merged: dict[str, dict[str, Any]] = {m: dict(v) for m, v in protocol.options.items()}
    for m, opts in (options or {}).items():
        for k, v in opts.items():
            fixed = protocol.options.get(m, {})
            if k in fixed and fixed[k] != v:
                raise ValueError(
                    f"options[{m!r}][{k!r}]: protocol {protocol.name!r} fixes it to {fixed[k]!r}"
                )
            merged.setdefault(m, {})[k] = v
    return protocol.metrics, protocol.preset, merged, protocol.extractor


def protocol_report(
    protocol: Protocol, values: Mapping[str, float], info: Mapping[str, Any], *, strict: bool
) -> tuple[dict[str, Any], list[str]]:
    """``info["protocol"]`` (name, the protocol's keys and values, the counts it fixes, whether the
    inputs had them, the differences from the reference) and the notes to add.

    Raises:
        ValueError with ``strict`` when the generated or real sample count is not the protocol's.
    """
    n_fake = info.get("fake", {}).get("n")
    n_real = info.get("real", {}).get("n")
    problems: list[str] = []
    if n_fake is None:
        problems.append(
            f"the number of generated samples is unknown; {protocol.name} fixes {protocol.num_fake}"
        )
    elif n_fake != protocol.num_fake:
        problems.append(
            f"{n_fake} generated samples given; {protocol.name} fixes {protocol.num_fake}, so this is not a "
            f"{protocol.name} number"
        )
    if protocol.max_real is not None and n_real is not None and n_real > protocol.max_real:
        problems.append(
            f"{n_real} real images given; {protocol.name} uses at most {protocol.max_real} (the reference takes "
            f"the first {protocol.max_real}, fastgan used all)"
        )
    if strict and problems:
        raise ValueError(f"protocol {protocol.name!r}: " + "; ".join(problems))
    report = {
        "name": protocol.name,
        "results": {protocol.keys[k]: float(v) for k, v in values.items() if k in protocol.keys},
        "num_fake": protocol.num_fake,
        "max_real": protocol.max_real,
        "conforms": not problems,
        "matches": protocol.matches,
        "differences": list(protocol.differences),
    }
    return report, [f"{protocol.name}: {p}" for p in problems]


def with_float64(preset: Preset) -> Preset:
    """``preset`` with a float64 image pipeline: :func:`fastgan.evaluation.embed.embed` then casts
    fastgan's networks to float64 and feeds them float64 pixels, which makes the features
    independent of the batch size to ~1e-12 (float32 convolutions pick their algorithm, and so
    their rounding, by batch shape; see ``tests/features/test_batch_invariance.py``)."""
    return replace(preset, pipeline=replace(preset.pipeline, dtype=torch.float64))


def setup_call(
    metrics: Any,
    preset: Any,
    options: Optional[Mapping[str, Mapping[str, Any]]],
    extractor: Optional[str],
    protocol: Any,
    float64: bool,
    default_metrics: Sequence[str],
    fast: bool = False,
) -> tuple[Optional[Protocol], Any, Preset, Optional[Mapping[str, Mapping[str, Any]]], Optional[str], bool]:
    """:func:`fastgan.evaluate`'s metric arguments after its ``protocol``, ``preset`` and ``float64``:
    ``(protocol or None, metrics, resolved Preset, options, extractor, explicit)``; ``explicit``:
    the metrics were named (by the caller or the protocol), so a statistics input that cannot give
    one is an error rather than a note. ``preset="adm"`` without metrics computes the evaluator's
    (:data:`fastgan.evaluation.rows_protocols.ADM_METRICS`)."""
    proto = None if protocol is None else get_protocol(protocol)
    explicit = metrics is not default_metrics
    if proto is not None:
        metrics, preset, options, extractor = protocol_arguments(
            proto,
            metrics=metrics,
            default_metrics=default_metrics,
            preset=preset,
            default_preset="pytorch-fid",
            options=options,
            extractor=extractor,
        )
        explicit = True
    p = get_preset(preset)
    if not explicit and p.name == "adm":
        metrics = ADM_METRICS
    p = with_float64(p) if float64 else p
    if fast:  # the networks in reduced precision (refused together with float64)
        from fastgan.features.fast import with_fast

        p = with_fast(p)
    return proto, metrics, p, options, extractor, explicit
