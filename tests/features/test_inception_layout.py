"""The inference layout of the FID Inception: batch norm folded into the convolutions and channels-last
on the CPU change only the rounding (checked against the unfolded float64 network), and the folded
weights follow every change of the parameters."""

from __future__ import annotations

import copy

import torch
from torch import nn

from fastgan.features.inception import InceptionV3FID


def _net(seed: int = 0) -> InceptionV3FID:
    net = InceptionV3FID(random_init=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-trivial batch-norm statistics, so that folding does something
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
    return net


def _unfolded_f64(net: InceptionV3FID, x: torch.Tensor) -> torch.Tensor:
    ref = copy.deepcopy(net).double()
    with torch.enable_grad():  # the plain conv -> batch norm -> ReLU path, NCHW
        return ref.pool3_from_input(x.double()).detach()


def test_folded_channels_last_pass_is_within_the_parity_bound() -> None:
    net = _net()
    x = torch.rand(3, 3, 299, 299, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.inference_mode():
        fast = net.pool3_from_input(x)
    with torch.enable_grad():
        plain = net.pool3_from_input(x).detach()
    exact = _unfolded_f64(net, x)
    scale = float(exact.abs().max())
    assert float((fast.double() - exact).abs().max()) <= 1e-6 * scale
    assert float((plain.double() - exact).abs().max()) <= 1e-6 * scale
    assert not torch.equal(fast, plain)  # the fast path really is another computation
    assert net.Conv2d_1a_3x3._folded is not None  # and it is the folded one


def test_folded_weights_follow_parameter_changes() -> None:
    net, other = _net(0), _net(5)
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.inference_mode():
        before = net.pool3_from_input(x)
    net.load_state_dict(other.state_dict())  # copy_ into the same tensors: their versions change
    with torch.inference_mode():
        after = net.pool3_from_input(x)
        want = other.pool3_from_input(x)
    assert not torch.allclose(before, after)
    assert torch.equal(after, want)
    # float64 after .double(): the folded weights are rebuilt in the new dtype
    with torch.inference_mode():
        f64 = net.double().pool3_from_input(x.double())
    assert f64.dtype == torch.float64
    exact = _unfolded_f64(other, x)
    assert float((f64 - exact).abs().max()) <= 1e-12 * float(exact.abs().max())
