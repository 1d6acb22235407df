"""Presets: one table that pins every choice a reference package makes, so numbers match it.

A FID / KID / IS / precision-recall number depends on more than the network weights: how
images are resized, how pixels are scaled, the dtype, which logits IS uses, how KID draws
its subsets, the ``<=`` and ``k`` of precision / recall. Each :class:`Preset` fixes all of
them at once, after a reference implementation:

==================  ======================================================================
``pytorch-fid``     (default) uint8 -> ``u / 255`` (float32) -> ``F.interpolate`` bilinear
                    (``align_corners=False``, no antialias) -> ``2x - 1``.
``torch-fidelity``  uint8 -> float32 ``u`` (0..255) -> TF1 ``resize_bilinear``
                    (``align_corners=False``, no half-pixel centres, float32 source
                    coordinates, width then height) -> ``(x - 128) / 128``: the original
                    TensorFlow TTUR / Inception-Score graph.
``clean-fid``       clean-fid's "clean" mode: uint8 -> float32 0..255 -> Pillow bicubic
                    resize of each channel as a mode ``"F"`` (float32) image -> clip to
                    [0, 255] -> ``(x - 128) / 128``.
``adm``             the ADM evaluator (guided-diffusion ``evaluations/evaluator.py``):
                    the TF graph's own ``ResizeBilinear`` to 299 and ``(x - 128) / 128``
                    (torch-fidelity's pipeline); IS on 5000-sample splits, precision /
                    recall on pool3 with k = 3 and the float16 distance step (metric
                    ``adm_pr``), sFID (metric ``sfid``); no VGG-16 and no KID upstream.
==================  ======================================================================

All three use the same 2015-12-05 TF FID Inception-v3 (2048-d pool3, 1008-way logits).

Metric conventions: the metric functions take the same ``preset=`` (keyword-only; an explicit
argument overrides the preset's value; ``preset=None`` is the ``pytorch-fid`` row, i.e. fastgan's
own defaults, since pytorch-fid computes FID only). Which field drives which function:

==========================================  ===========================================================
field                                       used by
==========================================  ===========================================================
``is_splits``, ``is_shuffle_seed``          :func:`~fastgan.metrics.inception_score`,
                                            :class:`~fastgan.metrics.InceptionScore` (``splits``; the
                                            shuffle ``RandomState(seed).permutation(N)`` unless
                                            ``order=`` is given; the class needs ``num_samples``)
``kid_subsets``, ``kid_subset_size``,       :func:`~fastgan.metrics.kid`, :class:`~fastgan.metrics.KID`
``kid_subset_rule``, ``kid_degree``,        (``subsets``, ``subset_size``, the too-large-subset rule,
``kid_gamma``, ``kid_coef0``, ``kid_rng``,  the kernel, how the rounds' rows are drawn and from which
``kid_seed``, ``kid_draw_first``            seed; ``generator=`` / ``seed=`` override the RNG)
``kid_std``                                 documentation only: whether the reference reports a std
                                            (fastgan always returns ``kid_std``)
``pr_k``, ``pr_inclusive``                  :func:`~fastgan.metrics.precision_recall` (``k``,
                                            ``strict = not pr_inclusive``)
``prdc_k``, ``pr_inclusive``                :func:`~fastgan.metrics.prdc`,
                                            :func:`~fastgan.metrics.density_coverage`,
                                            :class:`~fastgan.metrics.PRDC`
``is_logits``                               documentation: the logits IS uses, those that
                                            ``extract_features(return_logits=True)`` returns
==========================================  ===========================================================

The rows' metric conventions:

* ``pytorch-fid`` (FID only upstream; fastgan's defaults): IS on contiguous splits in input
  order; KID 100 x 1000, subset size above a sample count is an error, subsets from
  ``torch.randperm`` (real rows then fake rows per round, torchmetrics' order) on the global
  torch RNG or ``generator=``; precision / recall with k = 3 and ``<=``; PRDC k = 5, ``<=``.
* ``torch-fidelity`` 0.4.0: IS rows permuted by ``numpy.random.RandomState(2020).permutation(N)``
  then 10 contiguous splits, ``np.std``; KID 100 x 1000, an error (ValueError) when the subset
  size exceeds a sample count, every round draws ``rng.choice(N, m, replace=False)`` from one
  ``RandomState(2020)``, first from ``input1`` (the generated samples, fastgan's ``fake``) then
  from ``input2`` (real), mean and ``np.std`` over rounds; precision / recall with
  ``prc_neighborhood=3`` and ``<=`` (the (k+1)-th smallest distance to its own set, itself
  included, i.e. the k-th other sample).
* ``clean-fid`` 0.1.35 (``kernel_distance``): KID 100 rounds of ``m = min(N_real, N_fake, 1000)``
  rows, drawn with numpy's GLOBAL RNG (``np.random.choice(N, m, replace=False)``), first from
  ``feats2`` then ``feats1``; clean-fid calls ``kernel_distance(reference, generated)``, so the
  generated (``fake``) rows come first; it reports the mean only. With ``seed=None`` fastgan
  draws from numpy's global RNG too (and advances it, as clean-fid does); ``seed=s`` draws from
  ``RandomState(s)``, which equals clean-fid after ``np.random.seed(s)``. clean-fid has no IS and
  no precision / recall: those fields are fastgan's defaults, and it has no VGG-16 (no
  precision / recall network).

Images given as float in [0, 1] to a preset that works on 0..255 values are scaled by 255
first; pass uint8 images for bit-identical results (``u / 255 * 255`` is not always ``u`` in
float32).

Matches: pytorch-fid 0.3.0 (``InceptionV3`` with ``resize_input=True``,
``normalize_input=True``); torch-fidelity 0.4.0 (``FeatureExtractorInceptionV3``,
``FeatureExtractorVGG16``, ``metric_isc`` / ``metric_kid`` / ``metric_prc`` defaults);
clean-fid 0.1.35 (``build_resizer("clean")``, ``InceptionV3W`` normalisation,
``kernel_distance``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

import torch

from fastgan.features.resize import resize_images
from fastgan.metrics.conventions import CONVENTIONS, MetricConventions, normalize_preset_name

__all__ = [
    "Preset",
    "ImagePipeline",
    "MetricConventions",
    "PRESETS",
    "PRESET_NAMES",
    "DEFAULT_PRESET",
    "get_preset",
    "preset_table",
    "prepare_pixels",
]

#: pixel scaling of the network input: "unit" -> 2x - 1 with x = u / 255; "byte" -> (u - 128) / 128
PIXEL_SCALES = ("unit", "byte")


@dataclass(frozen=True)
class ImagePipeline:
    """How images reach the networks under one preset (what :class:`InceptionV3FID` and
    :class:`VGG16FC2` read).

    Attributes:
        pixels: ``"unit"`` (resize ``u / 255`` in [0, 1], network input ``2x - 1``) or
            ``"byte"`` (resize ``u`` in 0..255, network input ``(x - 128) / 128``).
        resize: Inception resize mode (:data:`fastgan.features.resize.RESIZE_MODES`).
        clamp: clip resized pixels to their range before scaling (clean-fid clips to [0, 255]).
        dtype: dtype of the network input and weights.
        vgg_resize: VGG-16 resize mode; None: the reference has no VGG-16 (no precision / recall).
        vgg_normalize: VGG-16 input normalisation (``"imagenet"`` on [0, 1] pixels or
            ``"imagenet_byte"``: ``(u - 255 mean) / (255 std)`` on 0..255 pixels).
        fast: the networks run in reduced precision (:mod:`fastgan.features.fast`; opt-in,
            never a preset's default).
        layout: the CPU layout of the Inception pass (``fastgan.features.inception.LAYOUTS``):
            ``"blocked"`` (oneDNN's blocked tensors: the NCHW pass's kernels and rounding, about
            1.3x faster) under ``pytorch-fid``, whose features are held to 1e-6 of pytorch-fid's;
            ``"channels_last"`` (NHWC: about 1.5x faster than NCHW, with about twice its float32
            rounding: pool3 ~1.5e-6 of scale from the float64 network against ~7e-7) under the
            presets held to 1e-5; channels-last in the fast mode.
    """

    pixels: str
    resize: str
    clamp: bool
    dtype: torch.dtype
    vgg_resize: Optional[str]
    vgg_normalize: Optional[str]
    fast: bool = False
    layout: str = "channels_last"


_PIPELINE_FIELDS = tuple(f.name for f in fields(ImagePipeline))
_CONVENTION_FIELDS = tuple(f.name for f in fields(MetricConventions) if f.name != "name")


@dataclass(frozen=True)
class Preset:
    """Every convention of one reference implementation (see the module table): an image
    :attr:`pipeline` (:class:`ImagePipeline`, read by the networks) and the metric
    :attr:`conventions` (:class:`fastgan.metrics.conventions.MetricConventions`, read by the
    metrics).

    Every field of both is also an attribute of the preset (``preset.resize``,
    ``preset.kid_seed``, ...), as in the flat table this class replaced; :meth:`as_dict` gives the
    flat row.

    Attributes:
        name: preset name.
        matches: the reference package and the version whose numbers it reproduces.
        pipeline: the image pipeline.
        conventions: the metric conventions.
    """

    name: str
    matches: str
    pipeline: ImagePipeline
    conventions: MetricConventions

    @classmethod
    def from_fields(cls, name: str, matches: str, **row: Any) -> Preset:
        """A preset from the flat row (every :class:`ImagePipeline` and :class:`MetricConventions` field)."""
        unknown = set(row) - set(_PIPELINE_FIELDS) - set(_CONVENTION_FIELDS)
        if unknown:
            raise TypeError(f"Preset.from_fields: unknown fields {sorted(unknown)}")
        return cls(
            name,
            matches,
            ImagePipeline(**{f: row[f] for f in _PIPELINE_FIELDS if f in row}),
            MetricConventions(name=name, **{f: row[f] for f in _CONVENTION_FIELDS}),
        )

    def as_dict(self) -> dict[str, Any]:
        """The table row as plain Python values (dtype as its name), flat, in the table's field order."""
        d: dict[str, Any] = {"name": self.name, "matches": self.matches, **asdict(self.pipeline)}
        d["dtype"] = str(self.pipeline.dtype).replace("torch.", "")
        conv = asdict(self.conventions)
        d.update({f: conv[f] for f in _CONVENTION_FIELDS})
        return d


def _forward(part: str, field_name: str) -> property:
    return property(
        lambda self: getattr(getattr(self, part), field_name),
        doc=f"``{part}.{field_name}`` (see :class:`{'ImagePipeline' if part == 'pipeline' else 'MetricConventions'}`)",
    )


# the flat attributes of the former 24-field Preset, read through to the part that owns them
for _f in _PIPELINE_FIELDS:
    setattr(Preset, _f, _forward("pipeline", _f))
for _f in _CONVENTION_FIELDS:
    setattr(Preset, _f, _forward("conventions", _f))
del _f

#: the image pipelines by preset name (the metric conventions are in fastgan.metrics.conventions.CONVENTIONS)
PIPELINES: dict[str, tuple[str, ImagePipeline]] = {
    "pytorch-fid": (
        "pytorch-fid 0.3.0",
        ImagePipeline(
            pixels="unit",
            resize="bilinear",
            clamp=False,
            dtype=torch.float32,
            vgg_resize="bilinear",
            vgg_normalize="imagenet",
            layout="blocked",  # the NCHW kernels: pytorch-fid's own rounding (its 1e-6 parity bound)
        ),
    ),
    "torch-fidelity": (
        "torch-fidelity 0.4.0",
        ImagePipeline(
            pixels="byte",
            resize="bilinear_tf1",
            clamp=False,
            dtype=torch.float32,
            vgg_resize="bilinear_tf1",
            vgg_normalize="imagenet_byte",
        ),
    ),
    "clean-fid": (
        "clean-fid 0.1.35",
        ImagePipeline(
            pixels="byte",
            resize="bicubic_pil",
            clamp=True,
            dtype=torch.float32,
            vgg_resize=None,
            vgg_normalize=None,
        ),
    ),
    # the evaluator feeds float32 0..255 NHWC images to the graph's ExpandDims; the graph resizes
    # (ResizeBilinear, TF1: no half-pixel centres) to 299 and scales (x - 128) / 128: the same
    # pipeline as torch-fidelity's; its precision / recall uses Inception pool3, not VGG-16
    "adm": (
        "adm (openai/guided-diffusion evaluations/evaluator.py, 2021)",
        ImagePipeline(
            pixels="byte",
            resize="bilinear_tf1",
            clamp=False,
            dtype=torch.float32,
            vgg_resize=None,
            vgg_normalize=None,
        ),
    ),
}

#: THE preset table: each row's image pipeline and metric conventions, composed.
PRESETS: dict[str, Preset] = {
    name: Preset(name, matches, pipeline, CONVENTIONS[name])
    for name, (matches, pipeline) in PIPELINES.items()
}

PRESET_NAMES = tuple(PRESETS)
DEFAULT_PRESET = "pytorch-fid"


def get_preset(preset: str | Preset | None = None) -> Preset:
    """A :class:`Preset` by name (None: :data:`DEFAULT_PRESET`); a Preset is returned as is.

    Names are case-insensitive and ``_`` / ``-`` / no separator are equivalent
    (``"torch_fidelity"``, ``"cleanfid"``).
    """
    if preset is None:
        return PRESETS[DEFAULT_PRESET]
    if isinstance(preset, Preset):
        return preset
    if not isinstance(preset, str):
        raise TypeError(f"preset: expected a name {PRESET_NAMES} or a Preset, got {type(preset).__name__}")
    return PRESETS[normalize_preset_name(preset, PRESETS)]


def preset_table() -> list[dict[str, Any]]:
    """All presets as rows of plain values (for the README / ``fastgan info``)."""
    return [p.as_dict() for p in PRESETS.values()]


def prepare_pixels(
    x: torch.Tensor,
    size: int,
    *,
    pixels: str,
    resize: str,
    clamp: bool = False,
    dtype: Optional[torch.dtype] = None,
) -> torch.Tensor:
    """Images -> resized pixels in [0, 1] or 0..255, before a network's own normalisation.

    Args:
        x (Tensor[N, 3, H, W]): uint8 (0..255) or float in [0, 1].
        size: output side.
        pixels: ``"unit"`` (result in [0, 1]: uint8 ``u -> u / 255``) or ``"byte"`` (result in
            0..255: uint8 ``u -> float(u)`` exactly, float ``x -> 255 x``).
        resize: resize mode (:data:`fastgan.features.resize.RESIZE_MODES`).
        clamp: clip the resized pixels to their range.
        dtype: float dtype of the result (None: ``x``'s float dtype, float32 for uint8).

    Returns:
        Tensor[N, 3, size, size].
    """
    if pixels not in PIXEL_SCALES:
        raise ValueError(f"pixels: must be one of {PIXEL_SCALES}, got {pixels!r}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"x: expected images [N, 3, H, W], got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        x = x.to(dtype or torch.float32)
        if pixels == "unit":
            x = x / 255.0
    elif x.is_floating_point():
        if dtype is not None:
            x = x.to(dtype)
        if pixels == "byte":
            x = x * 255.0
    else:
        raise TypeError(f"x: expected uint8 images or float images in [0, 1], got {x.dtype}")
    x = resize_images(x, size, resize)
    if clamp:
        x = x.clamp(0.0, 255.0 if pixels == "byte" else 1.0)
    return x
