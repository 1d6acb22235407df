"""The inference layout of the FID Inception: batch norm folded into the convolutions and channels-last
on the CPU change only the rounding (checked against the unfolded float64 network), and the folded
weights follow every change of the parameters."""

from __future__ import annotations

import copy

import pytest
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


def _layout_of_first_block(net: InceptionV3FID, x: torch.Tensor) -> str:
    seen: list[str] = []

    def hook(m: nn.Module, a: tuple[torch.Tensor, ...]) -> None:
        t = a[0]
        cl = t.shape[1] > 1 and not t.is_mkldnn and t.is_contiguous(memory_format=torch.channels_last)
        seen.append("blocked" if t.is_mkldnn else "channels_last" if cl else "nchw")

    handle = net.Conv2d_2a_3x3.register_forward_pre_hook(hook)
    with torch.inference_mode():
        net.pool3_from_input(x)
    handle.remove()
    return seen[0]


def _errors(net: InceptionV3FID, x: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """(max error of the inference pass, of the plain unfolded NCHW pass) of the float64
    network's scale, and the inference pass's features."""
    exact = _unfolded_f64(net, x)
    scale = float(exact.abs().max())
    with torch.inference_mode():
        fast = net.pool3_from_input(x)
    with torch.enable_grad():
        plain = net.pool3_from_input(x).detach()
    assert not torch.equal(fast, plain)  # the inference pass really is another computation
    return (
        float((fast.double() - exact).abs().max()) / scale,
        float((plain.double() - exact).abs().max()) / scale,
        fast,
    )


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
def test_pytorch_fid_preset_runs_blocked_with_the_nchw_rounding() -> None:
    """pytorch-fid's preset runs oneDNN's blocked tensors (the NCHW kernels, no reorders; channels-
    last's spatial kernels round about twice as much, more than its 1e-6 parity bound allows);
    the others and the fast mode run NHWC, ``layout="nchw"`` plain NCHW. Folded and blocked, the
    pass is as close to the float64 network as the unfolded NCHW one."""
    x = torch.rand(4, 3, 299, 299, generator=torch.Generator().manual_seed(3)) * 2 - 1
    net = _net()
    assert net.preset.name == "pytorch-fid" and net.layout == "blocked"
    assert _layout_of_first_block(net, x) == "blocked"
    for preset in ("torch-fidelity", "clean-fid", "adm"):
        assert InceptionV3FID(random_init=True, preset=preset).layout == "channels_last"
    with pytest.raises(ValueError, match="^layout: "):
        InceptionV3FID(random_init=True, layout="nhwc")
    # folding moves the rounding by tens of per cent either way from one network to the next
    # (measured 0.9e-7..2.5e-7 here against 0.9e-7..1.7e-7 unfolded): inside the parity bound and
    # within twice the unfolded pass's error
    err_blocked, err_plain, _ = _errors(net, x)
    assert err_blocked <= min(1e-6, 2.0 * err_plain + 1e-7), (err_blocked, err_plain)
    net.layout = "nchw"
    assert _layout_of_first_block(net, x) == "nchw"
    err_nchw, _, _ = _errors(net, x)
    assert err_nchw <= min(1e-6, 2.0 * err_plain + 1e-7), (err_nchw, err_plain)
    net.layout = "channels_last"
    assert _layout_of_first_block(net, x) == "channels_last"
    # the sFID features and the logits come out of the blocked pass as dense tensors
    net.layout = "blocked"
    with torch.inference_mode():
        f, s = net.pool3_and_spatial_from_input(x[:2])
    assert s is not None and not s.is_mkldnn and not f.is_mkldnn and s.shape == (2, net.spatial_dim)
