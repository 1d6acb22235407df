"""``torchmetrics.Metric`` classes computed by fastgan: swap one import in a Lightning module.

.. code-block:: python

    # before: from torchmetrics.image.fid import FrechetInceptionDistance
    from fastgan.integrations.torchmetrics import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=2048)     # update() takes Tensor[N, 2048] features
    fid.update(real_features, real=True)
    fid.update(fake_features, real=False)
    fid.compute()                                    # 0-d float64 tensor

The classes mirror :class:`torchmetrics.image.fid.FrechetInceptionDistance`,
:class:`torchmetrics.image.kid.KernelInceptionDistance` and
:class:`torchmetrics.image.inception.InceptionScore` (same constructor arguments where the
meaning carries over, same ``update`` / ``compute`` / ``reset`` / ``forward`` / ``merge_state``
and distributed sync), and add :class:`PrecisionRecallDensityCoverage`. The values come from
fastgan's exact float64 code.

What ``feature`` means here. An integer ``feature`` declares the feature dimension; no network
is built behind it (build one, whose published weights are fetched on first use, and pass it):

* ``feature=<int>`` (or ``None`` where allowed): ``update`` takes FEATURES, Tensor[N, D]; the
  integer is D and is checked. torchmetrics' integers 64 / 192 / 768 / 2048 are Inception
  layer widths, so ``feature=2048`` with pool3 features computed elsewhere is the usual swap.
* ``feature=<nn.Module>`` or ``extractor=<nn.Module>``: ``update`` takes images and runs the
  module on them (e.g. :class:`fastgan.features.InceptionV3FID` with weights you provide).
  The module receives float images in [0, 1] (fastgan's extractor convention): with
  ``normalize=False`` (torchmetrics' default) the images must be uint8 in [0, 255] and are
  divided by 255; with ``normalize=True`` they must already be floats in [0, 1].

Results are float64 tensors on the states' device (torchmetrics casts FID to the features'
dtype and computes KID / IS in it).

``forward`` (``metric(x, real=...)``) accumulates the batch like ``update`` and returns the
value of the batch alone (IS) or of the batch against everything accumulated on the other side
(FID, KID, PRDC; NaN while that side is too small), so a training step can log it.

This module needs torchmetrics (``pip install "fastgan[torchmetrics]"``); ``import fastgan``
does not import it.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

import torch
from torch import Tensor, nn

try:  # the optional dependency, checked first: a missing one is named with its install command
    import torchmetrics  # noqa: F401
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised with torchmetrics hidden
    raise ModuleNotFoundError(
        "fastgan.integrations.torchmetrics needs the optional dependency torchmetrics: "
        'pip install "fastgan[torchmetrics]"',
        name="torchmetrics",
    ) from _exc

from fastgan._checks import check_positive_int
from fastgan.integrations._tm_common import (
    FeatureArg,
    _bank,
    _check_bool,
    _extractor_dim,
    _FastganMetric,
    _merge_packed,
    _nan,
    _pack,
    _scalar,
    _TwoSided,
    _unpack,
)
from fastgan.metrics._stats import FeatureStats
from fastgan.metrics.frechet import frechet_distance
from fastgan.metrics.inception import inception_score
from fastgan.metrics.kernel_distance import kid_subset_indices, mmd2_subsets
from fastgan.metrics.manifold import prdc

__all__ = [
    "FrechetInceptionDistance",
    "KernelInceptionDistance",
    "InceptionScore",
    "PrecisionRecallDensityCoverage",
]


class FrechetInceptionDistance(_TwoSided):
    """FID as a ``torchmetrics.Metric``: exact float64 centred moments, fastgan's Frechet distance.

    Args:
        feature: an int D (default 2048): ``update`` takes features Tensor[N, D]; or an
            ``nn.Module`` extractor (as ``extractor=``). ``None`` is allowed only with an extractor
            (D is then its ``num_features`` attribute, or found by one dummy forward on
            ``input_img_size``). With an extractor, an int ``feature`` declares its output width.
        reset_real_features: keep the real statistics across :meth:`reset` when False.
        normalize: images for the extractor are float in [0, 1] (True) or uint8 (False); unused
            without an extractor.
        input_img_size: (C, H, W) of the dummy forward that measures an extractor's output width.
        extractor: feature network applied to the images passed to ``update``.
        impl: engine of the trace square root (:func:`fastgan.metrics.frechet_distance`).
        kwargs: ``torchmetrics.Metric`` options (``compute_on_cpu``, ``sync_on_compute``, ...).

    State (per side, float64): one packed vector ``[n, mean (D), M2 (D*D)]`` with ``M2`` the
    centred scatter, merged exactly by :func:`_merge_packed` (its ``dist_reduce_fx``) in
    distributed sync, ``merge_state`` and ``forward``. A plain sum of raw moments
    ``sum x x^T`` (torchmetrics' state) loses ``|mean|^2 / var`` of relative precision to
    cancellation; centred moments lose nothing, and they are not sum-reducible because the
    pooled centre is known only after the merge. Memory is O(D^2) per side.

    ``update(inputs, real)``: inputs Tensor[N, D] features (or images for the extractor).
    ``compute()``: 0-d float64 Tensor, the FID (torchmetrics returns a 0-d tensor in the features'
    dtype); RuntimeError with fewer than 2 samples on a side.

    Matches: :func:`fastgan.metrics.fid` on the concatenated features (the same statistics up to
    summation order) and torchmetrics ``FrechetInceptionDistance`` on the same features (covariance
    divided by n - 1; torchmetrics forms it from raw moments and takes ``eigvals`` of
    ``S_1 S_2``, the same quantity).

    >>> m = FrechetInceptionDistance(feature=8)
    >>> m.update(torch.randn(64, 8), real=True)
    >>> m.update(torch.randn(64, 8) + 1, real=False)
    >>> m.compute().dtype
    torch.float64
    """

    higher_is_better: bool = False
    plot_lower_bound: float = 0.0
    _real_states = ("real_stats",)

    real_stats: Tensor
    fake_stats: Tensor

    def __init__(
        self,
        feature: FeatureArg = 2048,
        reset_real_features: bool = True,
        normalize: bool = False,
        input_img_size: tuple[int, int, int] = (3, 299, 299),
        *,
        extractor: Optional[nn.Module] = None,
        impl: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(feature, extractor, normalize, reset_real_features, kwargs)
        if self.num_features is None:
            if self.extractor is None:
                raise ValueError(
                    "feature: FrechetInceptionDistance needs the feature dimension D (an int) or an "
                    "extractor; got None"
                )
            self.num_features = _extractor_dim(self.extractor, tuple(input_img_size))
        self.impl = impl
        d = self.num_features
        length = 1 + d + d * d
        self.add_state("real_stats", torch.zeros(length, dtype=torch.float64), dist_reduce_fx=_merge_packed)
        self.add_state("fake_stats", torch.zeros(length, dtype=torch.float64), dist_reduce_fx=_merge_packed)

    def update(self, inputs: Any, real: bool) -> None:  # type: ignore[override]
        """Add a batch to the real or the fake statistics.

        Args:
            inputs (Tensor[N, D]): features (any floating dtype), or images for the extractor.
            real: True for the real side, False for the fake side.
        """
        feats = self._features(inputs)
        name = "real_stats" if real else "fake_stats"
        state = getattr(self, name)
        batch = _pack(FeatureStats(device=state.device).update(feats))
        setattr(self, name, _merge_packed(torch.stack([state, batch])))

    def feature_stats(self, real: bool) -> FeatureStats:
        """The accumulated statistics of one side as a :class:`fastgan.metrics.FeatureStats`."""
        return _unpack(self.real_stats if real else self.fake_stats)

    def _fid(self, a: FeatureStats, b: FeatureStats) -> float:
        return float(frechet_distance(a.mean, a.cov, b.mean, b.cov, impl=self.impl))

    def compute(self) -> Tensor:
        """FID of the accumulated real and fake statistics: 0-d float64 Tensor."""
        real, fake = self.feature_stats(True), self.feature_stats(False)
        if (real.count or 0) < 2 or (fake.count or 0) < 2:
            raise RuntimeError(
                "FrechetInceptionDistance.compute: needs at least 2 real and 2 fake samples, "
                f"got {real.count} real and {fake.count} fake"
            )
        return _scalar(self._fid(real, fake), self.real_stats)

    def _batch_value(self, feats: Tensor, real: bool) -> Tensor:
        batch = FeatureStats(device=self.real_stats.device).update(feats)
        other = self.feature_stats(not real)
        if (batch.count or 0) < 2 or (other.count or 0) < 2:
            return _nan(self.real_stats)
        return _scalar(self._fid(batch, other) if real else self._fid(other, batch), self.real_stats)


# ----------------------------------------------------------------------------- KID
class KernelInceptionDistance(_TwoSided):
    """KID as a ``torchmetrics.Metric``: feature banks, fastgan's float64 unbiased MMD^2.

    Args:
        feature: an int D (default 2048, checked) or None (any D): ``update`` takes features
            Tensor[N, D]; or an ``nn.Module`` extractor (as ``extractor=``).
        subsets: number of rounds (default 100).
        subset_size: rows per round m (default 1000; 2 <= m <= min(N_real, N_fake), else
            ``compute`` raises).
        degree, gamma, coef: polynomial kernel ``(gamma x.y + coef) ** degree``; gamma None -> 1/D.
        reset_real_features: keep the real bank across :meth:`reset` when False.
        normalize: images for the extractor are float in [0, 1] (True) or uint8 (False).
        extractor: feature network applied to the images passed to ``update``.
        seed: None (default) draws the subsets from torch's global CPU generator, exactly as
            torchmetrics does (same draws after the same ``torch.manual_seed``); an int draws them
            from a private generator with that seed (``compute`` is then reproducible).
        method: ``"auto"`` | ``"full"`` | ``"subsets"`` (:func:`fastgan.metrics.kid`; same values).
        kwargs: ``torchmetrics.Metric`` options.

    State: ``real_features``, ``fake_features``: lists of Tensor[B, D] (``dist_reduce_fx="cat"``).
    The subsets index the concatenated banks, so the value depends on the row order:
    ``a.merge_state(b)`` puts ``b``'s rows first (torchmetrics' order), a distributed sync
    concatenates in rank order.

    ``compute()``: ``(kid_mean, kid_std)``, two 0-d float64 Tensors; the std divides by ``subsets``
    (as torchmetrics' ``std(unbiased=False)``).

    Matches: torchmetrics ``KernelInceptionDistance`` (round s draws ``randperm(N_real)[:m]`` then
    ``randperm(N_fake)[:m]``; with ``seed=None`` the subsets are the same) and
    :func:`fastgan.metrics.kid` given the same generator. torchmetrics evaluates the kernels in the
    features' dtype; fastgan in float64.

    >>> m = KernelInceptionDistance(feature=None, subsets=3, subset_size=10, seed=0)
    >>> m.update(torch.randn(20, 4), real=True)
    >>> m.update(torch.randn(20, 4) + 1, real=False)
    >>> bool(m.compute()[0] > 0)
    True
    """

    higher_is_better: bool = False
    plot_lower_bound: float = 0.0
    _real_states = ("real_features",)

    real_features: list[Tensor]
    fake_features: list[Tensor]

    def __init__(
        self,
        feature: FeatureArg = 2048,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: Optional[float] = None,
        coef: float = 1.0,
        reset_real_features: bool = True,
        normalize: bool = False,
        *,
        extractor: Optional[nn.Module] = None,
        seed: Optional[int] = None,
        method: Literal["auto", "full", "subsets"] = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(feature, extractor, normalize, reset_real_features, kwargs)
        self.subsets = check_positive_int(subsets, "subsets")
        self.subset_size = check_positive_int(subset_size, "subset_size", minimum=2)
        self.degree = check_positive_int(degree, "degree")
        is_number = isinstance(gamma, (int, float)) and not isinstance(gamma, bool)
        if gamma is not None and not (is_number and gamma > 0):
            raise ValueError(f"gamma: expected None or a positive number, got {gamma!r}")
        self.gamma = None if gamma is None else float(gamma)
        if isinstance(coef, bool) or not isinstance(coef, (int, float)):
            raise TypeError(f"coef: expected a number, got {type(coef).__name__}")
        self.coef = float(coef)
        self.seed = None if seed is None else int(seed)
        if method not in ("auto", "full", "subsets"):
            raise ValueError(f"method: must be one of ('auto', 'full', 'subsets'), got {method!r}")
        self.method = method
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, inputs: Any, real: bool) -> None:  # type: ignore[override]
        """Append a batch to the real or the fake bank.

        Args:
            inputs (Tensor[N, D]): features, or images for the extractor.
            real: True for the real bank, False for the fake bank.
        """
        feats = self._features(inputs)
        (self.real_features if real else self.fake_features).append(feats)

    def _generator(self) -> Optional[torch.Generator]:
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def _kid(self, x: Tensor, y: Tensor, m: int) -> tuple[Tensor, Tensor]:
        y = y.to(x.device)
        idx_r, idx_f = kid_subset_indices(x.shape[0], y.shape[0], self.subsets, m, self._generator())
        vals = mmd2_subsets(x, y, idx_r, idx_f, self.degree, self.gamma, self.coef, method=self.method)
        return vals.mean(), vals.std(correction=0)

    def compute(self) -> tuple[Tensor, Tensor]:
        """``(kid_mean, kid_std)`` over ``subsets`` rounds: two 0-d float64 Tensors."""
        x, y = _bank(self.real_features), _bank(self.fake_features)
        if x is None or y is None:
            raise RuntimeError(
                "KernelInceptionDistance.compute: both real and fake features must be added first"
            )
        return self._kid(x, y, self.subset_size)

    def _batch_value(self, feats: Tensor, real: bool) -> tuple[Tensor, Tensor]:
        other = _bank(self.fake_features if real else self.real_features)
        if other is None:
            other = feats[:0]
        m = min(self.subset_size, feats.shape[0], other.shape[0])
        if m < 2:
            return _nan(feats), _nan(feats)
        return self._kid(feats, other, m) if real else self._kid(other, feats, m)


# ----------------------------------------------------------------------------- IS
class InceptionScore(_FastganMetric):
    """Inception Score as a ``torchmetrics.Metric``: a bank of logits, fastgan's float64 score.

    Args:
        feature: None (default): ``update`` takes classifier logits Tensor[N, C]; an int C
            (checked); or an ``nn.Module`` that maps images to logits (as ``extractor=``), e.g.
            ``fastgan.features.InceptionV3FID(output="logits_unbiased")``.
        splits: number of splits S (default 10; compute needs N >= S).
        normalize: images for the extractor are float in [0, 1] (True) or uint8 (False).
        extractor: classifier applied to the images passed to ``update``.
        kwargs: ``torchmetrics.Metric`` options.

    State: ``features``: list of logits Tensor[B, C] (``dist_reduce_fx="cat"``). The splits are
    contiguous in the concatenated bank: ``a.merge_state(b)`` puts ``b``'s rows first
    (torchmetrics' order), a distributed sync concatenates in rank order.

    ``compute()``: ``(is_mean, is_std)``, two 0-d float64 Tensors.

    Conventions (those of :func:`fastgan.metrics.inception_score`, the original code of Salimans
    et al. and torch-fidelity), which differ from torchmetrics' class in three ways:

    * no shuffle: torchmetrics permutes the rows with ``torch.randperm`` first;
    * split s is rows ``[floor(s N / S), floor((s + 1) N / S))``; torchmetrics uses
      ``Tensor.chunk`` (sizes ``ceil(N / S)``, the last one smaller; the same splits when S
      divides N);
    * the std divides by S (population std); torchmetrics' ``std()`` divides by S - 1.

    So with S dividing N and the rows fed in torchmetrics' permuted order, the means agree and
    ``std_torchmetrics = std * sqrt(S / (S - 1))``.

    Matches: :func:`fastgan.metrics.inception_score` on the concatenated logits.

    >>> m = InceptionScore(splits=2)
    >>> m.update(torch.eye(4) * 50)
    >>> round(float(m.compute()[0]), 3)
    2.0
    """

    higher_is_better: bool = True
    plot_lower_bound: float = 1.0

    features: list[Tensor]

    def __init__(
        self,
        feature: FeatureArg = None,
        splits: int = 10,
        normalize: bool = False,
        *,
        extractor: Optional[nn.Module] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(feature, extractor, normalize, kwargs)
        self.splits = check_positive_int(splits, "splits")
        self.add_state("features", [], dist_reduce_fx="cat")

    def update(self, inputs: Any) -> None:  # type: ignore[override]
        """Append a batch of logits Tensor[N, C] (or images for the extractor)."""
        self.features.append(self._features(inputs, "logits"))

    def _score(self, logits: Tensor, splits: int) -> tuple[Tensor, Tensor]:
        result = inception_score(logits, splits=splits)
        return _scalar(result["is_mean"], logits), _scalar(result["is_std"], logits)

    def compute(self) -> tuple[Tensor, Tensor]:
        """``(is_mean, is_std)`` over ``splits`` contiguous splits: two 0-d float64 Tensors."""
        logits = _bank(self.features)
        if logits is None:
            raise RuntimeError("InceptionScore.compute: no logits were added")
        return self._score(logits, self.splits)

    def forward(self, inputs: Any) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """Accumulate the batch and return the score of the batch alone (``min(splits, B)`` splits)."""
        self._begin_forward()
        logits = self._features(inputs, "logits")
        self._update_extracted(logits)
        out = self._score(logits, min(self.splits, int(logits.shape[0])))
        self._forward_cache = out  # type: ignore[assignment]  # torchmetrics declares it None
        return out


# ----------------------------------------------------------------------------- PRDC
_PRDC_KEYS = ("precision", "recall", "density", "coverage")


class PrecisionRecallDensityCoverage(_TwoSided):
    """Precision, recall, density and coverage as a ``torchmetrics.Metric`` (exact k-NN).

    Args:
        feature: an int D (checked) or None (default, any D): ``update`` takes features
            Tensor[N, D]; or an ``nn.Module`` extractor (as ``extractor=``).
        k: neighbourhood size for all four metrics (``1 <= k < min(N_real, N_fake)``).
        reset_real_features: keep the real bank across :meth:`reset` when False.
        normalize: images for the extractor are float in [0, 1] (True) or uint8 (False).
        extractor: feature network applied to the images passed to ``update``.
        strict: False (default) decides ball membership with ``<=``; True with ``<`` (the
            ``prdc`` package's convention).
        impl: k-NN engine (:func:`fastgan.metrics.prdc`).
        kwargs: ``torchmetrics.Metric`` options.

    State: ``real_features``, ``fake_features``: lists of Tensor[B, D] (``dist_reduce_fx="cat"``).

    ``compute()``: dict ``{"precision", "recall", "density", "coverage"}`` of 0-d float64 Tensors
    (torchmetrics has no such class; dicts of tensors are its multi-value convention).

    Matches: :func:`fastgan.metrics.prdc` on the concatenated features (Kynkaanniemi et al. 2019,
    Naeem et al. 2020) and, with ``strict=True``, the ``prdc`` package's ``compute_prdc``.

    >>> m = PrecisionRecallDensityCoverage(k=2)
    >>> x = torch.arange(8.0).reshape(8, 1)
    >>> m.update(x, real=True); m.update(x, real=False)
    >>> float(m.compute()["density"])
    1.5
    """

    higher_is_better: bool = True
    plot_lower_bound: float = 0.0
    _real_states = ("real_features",)

    real_features: list[Tensor]
    fake_features: list[Tensor]

    def __init__(
        self,
        feature: FeatureArg = None,
        k: int = 5,
        reset_real_features: bool = True,
        normalize: bool = False,
        *,
        extractor: Optional[nn.Module] = None,
        strict: bool = False,
        impl: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(feature, extractor, normalize, reset_real_features, kwargs)
        self.k = check_positive_int(k, "k")
        self.strict = _check_bool(strict, "strict")
        self.impl = impl
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, inputs: Any, real: bool) -> None:  # type: ignore[override]
        """Append a batch (Tensor[N, D] features, or images for the extractor) to one bank."""
        feats = self._features(inputs)
        (self.real_features if real else self.fake_features).append(feats)

    def _prdc(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        y = y.to(x.device)
        out = prdc(x, y, self.k, strict=self.strict, impl=self.impl)
        return {key: _scalar(out[key], x) for key in _PRDC_KEYS}

    def compute(self) -> dict[str, Tensor]:
        """Precision, recall, density and coverage: dict of 0-d float64 Tensors."""
        x, y = _bank(self.real_features), _bank(self.fake_features)
        if x is None or y is None:
            raise RuntimeError(
                "PrecisionRecallDensityCoverage.compute: both real and fake features must be added first"
            )
        return self._prdc(x, y)

    def _batch_value(self, feats: Tensor, real: bool) -> dict[str, Tensor]:
        other = _bank(self.fake_features if real else self.real_features)
        if other is None:
            other = feats[:0]
        if self.k >= min(int(feats.shape[0]), int(other.shape[0])):
            return {key: _nan(feats) for key in _PRDC_KEYS}
        return self._prdc(feats, other) if real else self._prdc(other, feats)
