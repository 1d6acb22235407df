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

from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch

from fastgan.features.resize import resize_images

__all__ = ["Preset", "PRESETS", "PRESET_NAMES", "DEFAULT_PRESET", "get_preset", "preset_table", "prepare_pixels"]

#: pixel scaling of the network input: "unit" -> 2x - 1 with x = u / 255; "byte" -> (u - 128) / 128
PIXEL_SCALES = ("unit", "byte")


@dataclass(frozen=True)
class Preset:
    """Every convention of one reference implementation (see the module table).

    Attributes:
        name: preset name.
        matches: the reference package and the version whose numbers it reproduces.
        pixels: ``"unit"`` (resize ``u / 255`` in [0, 1], network input ``2x - 1``) or
            ``"byte"`` (resize ``u`` in 0..255, network input ``(x - 128) / 128``).
        resize: Inception resize mode (:data:`fastgan.features.resize.RESIZE_MODES`).
        clamp: clip resized pixels to their range before scaling (clean-fid clips to [0, 255]).
        dtype: dtype of the network input and weights.
        vgg_resize: VGG-16 resize mode; None: the reference has no VGG-16 (no precision / recall).
        vgg_normalize: VGG-16 input normalisation (``"imagenet"`` on [0, 1] pixels or
            ``"imagenet_byte"``: ``(u - 255 mean) / (255 std)`` on 0..255 pixels).
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
        kid_rng: how subsets are drawn: ``"torch"`` (``torch.randperm(N)[:m]`` per side and
            round, :func:`fastgan.metrics.kernel_distance.kid_subset_indices`) or ``"numpy"``
            (``RandomState.choice(N, m, replace=False)`` per side and round).
        kid_seed: seed of that RNG when the caller passes neither ``seed=`` nor ``generator=``;
            None: the library's global RNG (torch's, or numpy's legacy global ``RandomState``).
        kid_draw_first: ``"real"`` or ``"fake"``: whose rows each round draws first.
        pr_k: precision / recall neighbourhood size (k-th neighbour, self excluded).
        pr_inclusive: ball membership with ``<=`` (True) or ``<``, for precision / recall and
            PRDC.
        prdc_k: neighbourhood size of :func:`~fastgan.metrics.prdc` (all four metrics).
    """

    name: str
    matches: str
    pixels: str
    resize: str
    clamp: bool
    dtype: torch.dtype
    vgg_resize: Optional[str]
    vgg_normalize: Optional[str]
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

    def as_dict(self) -> dict[str, Any]:
        """The table row as plain Python values (dtype as its name)."""
        d = asdict(self)
        d["dtype"] = str(self.dtype).replace("torch.", "")
        return d


#: THE preset table (the only place these choices are made).
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="pytorch-fid", matches="pytorch-fid 0.3.0", pixels="unit", resize="bilinear", clamp=False,
            dtype=torch.float32, vgg_resize="bilinear", vgg_normalize="imagenet",
            is_logits="logits_unbiased", is_splits=10, is_shuffle_seed=None,
            kid_subsets=100, kid_subset_size=1000, kid_subset_rule="error", kid_degree=3, kid_gamma=None,
            kid_coef0=1.0, kid_std=True, kid_rng="torch", kid_seed=None, kid_draw_first="real",
            pr_k=3, pr_inclusive=True, prdc_k=5,
        ),
        Preset(
            name="torch-fidelity", matches="torch-fidelity 0.4.0", pixels="byte", resize="bilinear_tf1",
            clamp=False, dtype=torch.float32, vgg_resize="bilinear_tf1", vgg_normalize="imagenet_byte",
            is_logits="logits_unbiased", is_splits=10, is_shuffle_seed=2020,
            kid_subsets=100, kid_subset_size=1000, kid_subset_rule="error", kid_degree=3, kid_gamma=None,
            kid_coef0=1.0, kid_std=True, kid_rng="numpy", kid_seed=2020, kid_draw_first="fake",
            pr_k=3, pr_inclusive=True, prdc_k=5,
        ),
        Preset(
            name="clean-fid", matches="clean-fid 0.1.35", pixels="byte", resize="bicubic_pil", clamp=True,
            dtype=torch.float32, vgg_resize=None, vgg_normalize=None,
            is_logits="logits_unbiased", is_splits=10, is_shuffle_seed=None,
            kid_subsets=100, kid_subset_size=1000, kid_subset_rule="clamp", kid_degree=3, kid_gamma=None,
            kid_coef0=1.0, kid_std=False, kid_rng="numpy", kid_seed=None, kid_draw_first="fake",
            pr_k=3, pr_inclusive=True, prdc_k=5,
        ),
    )
}

PRESET_NAMES = tuple(PRESETS)
DEFAULT_PRESET = "pytorch-fid"


def get_preset(preset: "str | Preset | None" = None) -> Preset:
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
    key = preset.lower().replace("_", "").replace("-", "")
    for name, p in PRESETS.items():
        if name.replace("-", "") == key:
            return p
    raise ValueError(f"preset: must be one of {PRESET_NAMES}, got {preset!r}")


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
