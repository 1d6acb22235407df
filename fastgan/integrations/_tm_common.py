"""Shared pieces of :mod:`fastgan.integrations.torchmetrics`: argument checks, feature extraction,
the base ``Metric`` classes and the packed centred moments that FID's state is kept in.

Imported only by :mod:`fastgan.integrations.torchmetrics`, which first checks that the optional
``torchmetrics`` dependency is installed (and names the install command when it is not).
"""

from __future__ import annotations

import math
from copy import deepcopy
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat
from torchmetrics.utilities.exceptions import TorchMetricsUserError

from fastgan._checks import check_features, check_positive_int
from fastgan.metrics._stats import FeatureStats

FeatureArg = Union[int, nn.Module, None]


# ----------------------------------------------------------------------------- helpers
def _resolve_feature(
    feature: Any, extractor: Optional[nn.Module], cls: str
) -> tuple[Optional[int], Optional[nn.Module]]:
    """``(declared feature dimension or None, extractor or None)`` from ``feature`` / ``extractor``."""
    if extractor is not None and not isinstance(extractor, nn.Module):
        raise TypeError(f"extractor: expected a torch.nn.Module or None, got {type(extractor).__name__}")
    if isinstance(feature, nn.Module):
        if extractor is not None:
            raise ValueError(
                "feature, extractor: pass the feature network once (feature=<Module> or extractor=)"
            )
        return None, feature
    if feature is None:
        return None, extractor
    if isinstance(feature, str):
        raise TypeError(
            f"feature: {cls} takes an int (the feature dimension D: update() receives features), None or an "
            f"nn.Module extractor, got the string {feature!r}; a name is not a network here: build one "
            "(e.g. fastgan.features.InceptionV3FID(), weights fetched on first use) and pass extractor="
        )
    return check_positive_int(feature, "feature"), extractor


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return value


def _prepare_images(imgs: Any, normalize: bool) -> Tensor:
    """Images for an extractor: float in [0, 1] (uint8 / 255 when ``normalize`` is False)."""
    if not isinstance(imgs, Tensor):
        raise TypeError(f"imgs: expected a torch.Tensor of images, got {type(imgs).__name__}")
    if normalize:
        if not imgs.is_floating_point():
            raise TypeError(f"imgs: normalize=True expects float images in [0, 1], got {imgs.dtype}")
        return imgs
    if imgs.dtype != torch.uint8:
        raise TypeError(
            f"imgs: normalize=False expects uint8 images in [0, 255], got {imgs.dtype} "
            "(pass normalize=True for float images in [0, 1])"
        )
    return imgs.to(torch.float32) / 255.0


def _extractor_dim(extractor: nn.Module, input_img_size: tuple[int, ...]) -> int:
    """Output width of ``extractor``: its ``num_features`` attribute, else one dummy forward."""
    nf = getattr(extractor, "num_features", None)
    if isinstance(nf, Tensor):
        nf = int(nf.item())
    if isinstance(nf, int) and not isinstance(nf, bool):
        return check_positive_int(nf, "extractor.num_features")
    param = next(iter(extractor.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    with torch.no_grad():
        out = extractor(torch.rand(1, *input_img_size, device=device))
    if not isinstance(out, Tensor) or out.dim() != 2:
        raise ValueError(
            f"extractor: expected an output Tensor[N, D], got {getattr(out, 'shape', type(out).__name__)}"
        )
    return int(out.shape[1])


def _scalar(value: Any, like: Tensor) -> Tensor:
    """0-d float64 tensor on ``like``'s device."""
    return torch.tensor(float(value), dtype=torch.float64, device=like.device)


def _nan(like: Tensor) -> Tensor:
    return torch.tensor(math.nan, dtype=torch.float64, device=like.device)


def _bank(state: Union[list[Tensor], Tensor]) -> Optional[Tensor]:
    """A feature-bank state as one Tensor[N, D] (None when empty); after a sync it is a Tensor already."""
    if isinstance(state, Tensor):
        return state if state.numel() else None
    return dim_zero_cat(state) if state else None


class _FastganMetric(Metric):
    """Shared pieces: the optional extractor, image preparation and the bank / state helpers."""

    is_differentiable: bool = False
    full_state_update: bool = False

    def __init__(
        self,
        feature: FeatureArg,
        extractor: Optional[nn.Module],
        normalize: bool,
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(**kwargs)
        self.num_features, self.extractor = _resolve_feature(feature, extractor, type(self).__name__)
        self.normalize = _check_bool(normalize, "normalize")
        self._pre_extracted = False

    def _features(self, inputs: Any, name: str = "features") -> Tensor:
        """Run the extractor (if any) and validate the Tensor[N, D] result (detached)."""
        if self.extractor is not None and not self._pre_extracted:
            with torch.no_grad():
                inputs = self.extractor(_prepare_images(inputs, self.normalize))
            name = "extractor output"
        x = check_features(inputs, name)
        if self.num_features is not None and x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: expected feature dimension D = {self.num_features} (the feature argument), "
                f"got shape {tuple(x.shape)}"
            )
        return x.detach()

    def _update_extracted(self, feats: Tensor, **kwargs: Any) -> None:
        """``self.update`` (torchmetrics' wrapped one: it counts updates) on already extracted features."""
        self._pre_extracted = True
        try:
            self.update(feats, **kwargs)
        finally:
            self._pre_extracted = False

    def _begin_forward(self) -> None:
        if self._is_synced:
            raise TorchMetricsUserError(
                f"{type(self).__name__}.forward: the states are synced; call unsync() before forward"
            )


class _TwoSided(_FastganMetric):
    """A metric of a real and a fake sample: ``update(x, real=...)``, ``reset_real_features``."""

    def __init__(
        self,
        feature: FeatureArg,
        extractor: Optional[nn.Module],
        normalize: bool,
        reset_real_features: bool,
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(feature, extractor, normalize, kwargs)
        self.reset_real_features = _check_bool(reset_real_features, "reset_real_features")

    _real_states: tuple[str, ...] = ()

    def reset(self) -> None:
        """Reset the states; the real side is kept when ``reset_real_features=False``."""
        if self.reset_real_features:
            super().reset()
            return
        kept = {name: deepcopy(getattr(self, name)) for name in self._real_states}
        super().reset()
        for name, value in kept.items():
            setattr(self, name, value)

    def _batch_value(self, feats: Tensor, real: bool) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs: Any, real: bool) -> Any:  # type: ignore[override]
        """Accumulate the batch (as ``update``) and return its value against the other side's total.

        Args:
            inputs (Tensor[B, D] features, or images for the extractor): the batch.
            real: which side the batch belongs to.

        Returns:
            What :meth:`compute` returns, for this batch paired with everything accumulated on the
            other side so far (NaN where that is too few samples).
        """
        self._begin_forward()
        feats = self._features(inputs)
        self._update_extracted(feats, real=real)
        self._forward_cache = self._batch_value(feats, bool(real))
        return self._forward_cache


# ----------------------------------------------------------------------------- FID
def _merge_packed(stacked: Tensor) -> Tensor:
    """Exact merge of packed centred moments ``[n, mean (D), M2 (D*D)]``, stacked as Tensor[K, L].

    The pooled mean is the count-weighted mean and the pooled scatter is
    ``sum_k M2_k + n_k (mean_k - mean)(mean_k - mean)^T`` (Chan et al. 1979): every term is
    centred, so nothing cancels, whatever the offset of the features. Rows with n = 0 take no part.
    Used as ``dist_reduce_fx`` (torchmetrics passes the states of all ranks stacked on dim 0)
    and for ``merge_state`` / ``update`` (two rows).
    """
    if stacked.dim() == 1:
        return stacked
    length = int(stacked.shape[1])
    d = int(round((math.sqrt(1 + 4 * (length - 1)) - 1) / 2))
    n = stacked[:, 0]
    total = n.sum()
    out = torch.zeros(length, dtype=stacked.dtype, device=stacked.device)
    if float(total) == 0.0:
        return out
    means = stacked[:, 1 : 1 + d]
    mean = (n[:, None] * means).sum(dim=0) / total
    delta = (means - mean) * n[:, None].sqrt()
    m2 = stacked[:, 1 + d :].reshape(-1, d, d).sum(dim=0) + delta.t() @ delta
    out[0] = total
    out[1 : 1 + d] = mean
    out[1 + d :] = m2.reshape(-1)
    return out


def _pack(stats: FeatureStats) -> Tensor:
    """``[n, mean, M2]`` of statistics with at least one sample, on their device."""
    n = torch.tensor([float(stats.count or 0)], dtype=torch.float64, device=stats.mean.device)
    return torch.cat([n, stats.mean.reshape(-1), stats.scatter.reshape(-1)])


def _unpack(packed: Tensor) -> FeatureStats:
    length = int(packed.shape[0])
    d = int(round((math.sqrt(1 + 4 * (length - 1)) - 1) / 2))
    stats = FeatureStats(d, device=packed.device)
    n = int(packed[0].item())
    if n:
        stats.load_state_dict({"count": n, "mean": packed[1 : 1 + d], "m2": packed[1 + d :].reshape(d, d)})
    return stats
