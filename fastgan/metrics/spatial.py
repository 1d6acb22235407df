"""sFID (Nash et al., 2021): the Frechet distance of *spatial* Inception features.

FID compares the 2048-d ``pool3`` features, which average away where things are in the image.
Nash et al. ("Generating Images with Sparse Representations", ICML 2021) keep the spatial grid:
the first 7 channels of the TF Inception graph's ``mixed_6/conv`` tensor, a 17 x 17 map, give a
17 * 17 * 7 = 2023-d vector per image, and sFID is the Frechet distance of those vectors:

.. math::

    \\mathrm{sFID} = \\lVert \\mu_r - \\mu_f \\rVert^2
        + \\operatorname{tr}\\bigl(\\Sigma_r + \\Sigma_f - 2 (\\Sigma_r \\Sigma_f)^{1/2}\\bigr)

over the spatial features, computed here exactly as :func:`fastgan.metrics.fid` computes FID
(float64 sums, covariance divisor n - 1 as ``np.cov``, exact trace-sqrt).

Which tensor: the TF 2015-12-05 graph names its eleven inception blocks ``mixed``, ``mixed_1`` ..
``mixed_10`` = torchvision's ``Mixed_5b`` .. ``Mixed_7c``; ``mixed_4`` .. ``mixed_7`` are the four
17 x 17 blocks ``Mixed_6b`` .. ``Mixed_6e``, so ``mixed_6`` is ``Mixed_6d`` and its ``conv`` the
1x1 branch (``Mixed_6d.branch1x1``, 192 channels, after batch norm and ReLU: in that graph the op
``<name>`` is the activation of ``<name>/Conv2D`` and ``<name>/batchnorm``). Some PyTorch ports
take ``Mixed_6e`` instead, one source of the disagreements reported in guided-diffusion#159.
:meth:`fastgan.features.InceptionV3FID.pool3_and_spatial_from_input` returns these features in
the same forward pass as ``pool3``.

The flattening order is the TF graph's NHWC (row, column, channel). The Frechet distance is
invariant to a fixed permutation of the coordinates (it permutes the mean and conjugates the
covariance by a permutation matrix), so the order does not change an sFID computed from features;
it matters when features are compared with the ``mu_s`` / ``sigma_s`` stored in an ADM reference
batch, which are in that order (:mod:`fastgan.metrics.adm`).

Matches: openai/guided-diffusion ``evaluations/evaluator.py`` (``FID_SPATIAL_NAME =
"mixed_6/conv:0"``, ``spatial[..., :7]``, ``reshape([N, -1])``, ``np.cov``, TTUR's
``frechet_distance``).
"""

from __future__ import annotations

from typing import Any, Optional, Union

import torch

from fastgan.metrics.frechet import FID, fid

__all__ = ["KEY_SFID", "SPATIAL_CHANNELS", "SPATIAL_GRID", "SPATIAL_DIM", "spatial_features", "sfid", "SFID"]

#: result key of sFID
KEY_SFID = "sfid"
#: channels of ``mixed_6/conv`` (``Mixed_6d.branch1x1``) that the evaluator keeps
SPATIAL_CHANNELS = 7
#: side of the 17 x 17 map at a 299 x 299 input
SPATIAL_GRID = 17
#: 17 * 17 * 7
SPATIAL_DIM = SPATIAL_GRID * SPATIAL_GRID * SPATIAL_CHANNELS


def spatial_features(feature_map: torch.Tensor, channels: int = SPATIAL_CHANNELS) -> torch.Tensor:
    """The sFID vector of each image from the ``Mixed_6d.branch1x1`` activations.

    Args:
        feature_map (Tensor[N, C, H, W]): the branch's output (C >= ``channels``; 192 x 17 x 17
            for a 299 x 299 input).
        channels: leading channels kept (7, the evaluator's ``[..., :7]``).

    Returns:
        Tensor[N, H * W * channels]: channels 0..channels-1, flattened in NHWC order (row, column,
        channel), as ``spatial[..., :7].reshape([N, -1])`` of the NHWC TF tensor.

    >>> spatial_features(torch.zeros(2, 192, 17, 17)).shape
    torch.Size([2, 2023])
    """
    if not isinstance(feature_map, torch.Tensor) or feature_map.dim() != 4:
        raise ValueError(
            f"feature_map: expected Tensor[N, C, H, W], got "
            f"{tuple(feature_map.shape) if isinstance(feature_map, torch.Tensor) else type(feature_map).__name__}"
        )
    if feature_map.shape[1] < channels:
        raise ValueError(f"feature_map: has {feature_map.shape[1]} channels, fewer than channels={channels}")
    return feature_map[:, :channels].permute(0, 2, 3, 1).flatten(1)


def sfid(real_spatial: Any, fake_spatial: Any, *, impl: str = "auto") -> Union[float, torch.Tensor]:
    """sFID: the Frechet distance of the spatial features (:func:`spatial_features`) of two sets.

    Args:
        real_spatial (Tensor[N, D]): spatial features of the reference set (D = 2023 for the
            evaluator's features), or their :class:`~fastgan.metrics.FeatureStats` / ``(mu, sigma)``
            (e.g. ``mu_s`` / ``sigma_s`` of an ADM reference batch).
        fake_spatial (Tensor[M, D]): spatial features of the generated set (or statistics).
        impl: backend of the trace-sqrt (:func:`fastgan.linalg.trace_sqrt_product`).

    Returns:
        float (a 0-d float64 tensor when autograd tracks the inputs).

    Matches: guided-diffusion ``evaluator.py`` ``sample_stats_spatial.frechet_distance(ref_stats_spatial)``
    (np.cov, divisor n - 1); its ``scipy.linalg.sqrtm`` is replaced by the exact float64 trace-sqrt
    of :func:`fastgan.metrics.fid`.

    >>> x = torch.randn(64, 12, dtype=torch.float64)
    >>> abs(sfid(x, x)) < 1e-9
    True
    """
    return fid(real_spatial, fake_spatial, impl=impl)


class SFID(FID):
    """Stateful sFID: :class:`~fastgan.metrics.FID` fed with spatial features (float64 sums,
    mergeable, all-reduced by :meth:`sync`); ``real_stats`` may be an ADM reference batch's
    ``(mu_s, sigma_s)``.

    >>> m = SFID()
    >>> m.update(torch.randn(50, 6), real=True); m.update(torch.randn(50, 6) + 1, real=False)
    >>> m.compute() > 0
    True
    """

    def __init__(
        self, *, real_stats: Any = None, device: Optional[Union[torch.device, str]] = None, impl: str = "auto"
    ) -> None:
        super().__init__(real_stats=real_stats, device=device, impl=impl)
