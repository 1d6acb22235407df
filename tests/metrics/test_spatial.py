"""sFID: the spatial features (which tensor, which order) and the Frechet distance on them,
against independent float64 oracles."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from fastgan.features.inception import InceptionV3FID
from fastgan.metrics import SFID, sfid, spatial_features
from fastgan.metrics.spatial import SPATIAL_DIM


def ttur_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """The evaluator's computation in float64: np.mean, np.cov, scipy sqrtm of the product."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_spatial_features_order_is_nhwc() -> None:
    g = torch.Generator().manual_seed(0)
    fm = torch.randn(3, 10, 4, 5, generator=g)
    out = spatial_features(fm, channels=7)
    assert out.shape == (3, 4 * 5 * 7)
    for n in range(3):
        for h in range(4):
            for w in range(5):
                for c in range(7):
                    assert out[n, (h * 5 + w) * 7 + c] == fm[n, c, h, w]


def test_spatial_features_errors() -> None:
    with pytest.raises(ValueError, match="feature_map"):
        spatial_features(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="channels"):
        spatial_features(torch.zeros(2, 3, 4, 4), channels=7)


def _perturbed_inception() -> InceptionV3FID:
    net = InceptionV3FID(random_init=True)
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g))
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g))
    return net


def test_inception_spatial_is_mixed_6d_branch1x1_first_7_channels() -> None:
    net = _perturbed_inception()
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(2)) * 2 - 1
    seen: dict[str, torch.Tensor] = {}
    hook = net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: seen.__setitem__("o", o))
    try:
        pool3, spatial = net.pool3_and_spatial_from_input(x)
    finally:
        hook.remove()
    assert spatial is not None and spatial.shape == (2, SPATIAL_DIM)
    o = seen["o"]  # [N, 192, 17, 17], after BN + ReLU
    assert o.shape == (2, 192, 17, 17) and bool((o >= 0).all())
    expected = np.transpose(o[:, :7].numpy(), (0, 2, 3, 1)).reshape(2, -1)  # TF's NHWC [..., :7]
    np.testing.assert_array_equal(spatial.numpy(), expected)
    assert torch.equal(pool3, net.pool3_from_input(x))  # the extra output leaves pool3 alone
    f, lg, s = net.embed(x, with_logits=True, with_spatial=True)
    assert torch.equal(f, pool3) and torch.equal(s, spatial) and lg.shape == (2, 1008)


def test_sfid_matches_float64_oracle() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 20))
    y = rng.standard_normal((250, 20)) @ rng.standard_normal((20, 20)) * 0.5 + 0.3
    got = sfid(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(ttur_frechet(x, y), rel=1e-9)


def test_sfid_invariant_to_coordinate_permutation() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((100, 12)), rng.standard_normal((90, 12)) + 0.2
    perm = rng.permutation(12)
    a = sfid(torch.from_numpy(x), torch.from_numpy(y))
    b = sfid(torch.from_numpy(x[:, perm]), torch.from_numpy(y[:, perm]))
    assert a == pytest.approx(b, rel=1e-10)


def test_sfid_class_with_fixed_reference_statistics() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((120, 6)), rng.standard_normal((80, 6)) + 1
    ref = (torch.from_numpy(x.mean(0)), torch.from_numpy(np.cov(x, rowvar=False)))
    m = SFID(real_stats=ref)
    m.update(torch.from_numpy(y[:40]), real=False)
    m.update(torch.from_numpy(y[40:]), real=False)
    assert m.compute() == pytest.approx(ttur_frechet(x, y), rel=1e-9)
