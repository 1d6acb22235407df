"""Inception-v3 as used for FID / IS / KID: the 2015-12-05 TensorFlow graph, in pure torch.

The FID network differs from the ImageNet Inception-v3 commonly shipped with PyTorch in a
few TF-specific details, all reproduced here:

* average pools inside the inception blocks (A, C and the first E block, ``Mixed_7b``)
  exclude padding from the average (``count_include_pad=False``);
* the last E block (``Mixed_7c``) uses a 3x3 **max** pool in its pool branch;
* batch norm eps = 1e-3; convolutions have no bias;
* 1008 output classes (the TF graph's softmax), and the Inception Score uses the logits
  *without* the fc bias.

Parameter names follow the usual PyTorch Inception-v3 layout (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch1x1.bn.running_mean``, ..., ``fc.weight``), so the widely used converted
file ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's FID weights) loads as-is.

Input: uint8 images [N, 3, H, W] (0..255), or float images in [0, 1]. How they are resized
to 299x299 and scaled to the network's [-1, 1] input is fixed by a preset
(:mod:`fastgan.features.presets`): ``"pytorch-fid"`` (default: bilinear on ``u / 255``, then
``2x - 1``), ``"torch-fidelity"`` (TF1 bilinear on ``u``, then ``(x - 128) / 128``) or
``"clean-fid"`` (Pillow bicubic on ``u``, clip, then ``(x - 128) / 128``).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from fastgan.features.hub import KNOWN_WEIGHTS
from fastgan.features.presets import Preset, get_preset, prepare_pixels
from fastgan.features.resize import RESIZE_MODES
from fastgan.features.weights import load_weights_into, resolve_weights
from fastgan.metrics.spatial import spatial_features

__all__ = ["InceptionV3FID", "FID_WEIGHTS_URL", "LAYOUTS"]

logger = logging.getLogger(__name__)

#: Converted TF FID weights (pytorch-fid release): the default file (:mod:`fastgan.features.hub`).
FID_WEIGHTS_URL = KNOWN_WEIGHTS["inception"].url

_OUTPUTS = ("pool3", "logits", "logits_unbiased")


class _Conv(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU.

    For inference (eval mode, no autograd) the batch norm is folded into the convolution:
    ``conv(x, W * s) + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``, one convolution
    with a bias instead of a convolution and a normalisation pass. The folded weights are computed
    in float64 (one rounding to the network's dtype), cached, and rebuilt when a parameter or
    buffer changes (``load_state_dict``, ``.to()``); the state dict keeps the unfolded layers.
    Folding changes only the rounding: on the NCHW pass pool3 is as far from the float64 network
    as pytorch-fid's unfolded float32 pass (``tests/features/test_inception_layout.py``).
    """

    def __init__(self, cin: int, cout: int, kernel: Any, stride: int = 1, padding: Any = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)
        self._folded: Optional[tuple[Any, torch.Tensor, torch.Tensor]] = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_folded"] = None  # a cache, rebuilt on use (oneDNN tensors neither copy nor pickle)
        return state

    def _fold(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        bn, w = self.bn, self.conv.weight
        assert bn.running_mean is not None and bn.running_var is not None
        parts = (w, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        blocked = x.is_mkldnn
        nhwc = not blocked and x.is_contiguous(memory_format=torch.channels_last)
        # inference tensors (made under torch.inference_mode) have no version counter: not cached
        cacheable = not any(t.is_inference() for t in parts)
        key = (
            (tuple((id(t), t._version) for t in parts), w.dtype, w.device, nhwc, blocked)
            if cacheable
            else None
        )
        if key is None or self._folded is None or self._folded[0] != key:
            # in float64 where the device has it: W * s and beta - mean * s rounded once
            wide = torch.float64 if w.device.type in ("cpu", "cuda") else w.dtype
            scale = bn.weight.to(wide) / torch.sqrt(bn.running_var.to(wide) + bn.eps)
            weight = (w.to(wide) * scale.reshape(-1, 1, 1, 1)).to(w.dtype)
            if nhwc:
                weight = weight.contiguous(memory_format=torch.channels_last)
            bias = (bn.bias.to(wide) - bn.running_mean.to(wide) * scale).to(w.dtype)
            if blocked:
                weight, bias = weight.to_mkldnn(), bias.to_mkldnn()
            folded = (key, weight, bias)
            if key is None:
                return folded[1], folded[2]
            self._folded = folded
        return self._folded[1], self._folded[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return F.relu(self.bn(self.conv(x)))
        weight, bias = self._fold(x)
        c = self.conv
        if x.is_mkldnn:  # oneDNN's blocked layout end to end: no reorder around the convolution
            return torch.relu_(F.conv2d(x, weight, bias, c.stride, c.padding))
        if _fused_relu_ok(x):  # oneDNN applies the ReLU as a post-op of the convolution
            return _CONV_POINTWISE(
                x, weight, bias, list(c.padding), list(c.stride), [1, 1], 1, "relu", [], ""
            )
        return F.relu_(F.conv2d(x, weight, bias, c.stride, c.padding))


def _pointwise_op() -> Any:
    """oneDNN's convolution with a fused element-wise post-op (what torch.compile's CPU backend
    emits), or None on builds without it."""
    try:
        return torch.ops.mkldnn._convolution_pointwise.default
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return None


_CONV_POINTWISE = _pointwise_op()
_MKLDNN = bool(torch.backends.mkldnn.is_available())
#: CPU inference layouts of the Inception pass (the ``layout`` argument, ``ImagePipeline.layout``)
LAYOUTS = ("blocked", "channels_last", "nchw")


def _cpu_autocast() -> bool:
    try:
        return bool(torch.is_autocast_enabled("cpu"))  # torch >= 2.4
    except TypeError:  # pragma: no cover - older signature
        return bool(torch.is_autocast_cpu_enabled())


def _fused_relu_ok(x: torch.Tensor) -> bool:
    """conv + ReLU in one oneDNN call: float32 channels-last CPU input, outside autocast (the fast
    mode casts convolutions to bfloat16 through F.conv2d)."""
    return (
        _CONV_POINTWISE is not None
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not _cpu_autocast()
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    """Channel concatenation; oneDNN (blocked) tensors have no ``torch.cat``: through NCHW."""
    if parts[0].is_mkldnn:
        return torch.cat([p.to_dense() for p in parts], 1).to_mkldnn()
    return torch.cat(parts, 1)


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TF's SAME-padded average pool divides by the number of valid inputs.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):  # Mixed_5b/5c/5d: 35x35
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1 = _Conv(cin, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg3(x)),
            ]
        )


class _BlockB(nn.Module):  # Mixed_6a: 35x35 -> 17x17
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, stride=2),
            ]
        )


class _BlockC(nn.Module):  # Mixed_6b..6e: 17x17, factorised 7x7
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return _cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))])


class _BlockD(nn.Module):  # Mixed_7a: 17x17 -> 8x8
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = _Conv(cin, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return _cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)])


class _BlockE(nn.Module):  # Mixed_7b (avg pool, no padding count) / Mixed_7c (max pool): 8x8
    def __init__(self, cin: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        # one concatenation (the nested one of the reference, flattened: the same channel order)
        parts = [self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3)]
        parts += [self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d), self.branch_pool(pooled)]
        return _cat(parts)


class InceptionV3FID(nn.Module):
    """The TF FID Inception-v3: 2048-d pool3 features and 1008-way logits.

    Args:
        weights: path (or URL) of a weights-only state dict: pytorch-fid's / torch-fidelity's
            weight files, or the ``state_dict()`` of pytorch-fid's ``InceptionV3`` module (no fc:
            pool3 only) or of torch-fidelity's ``FeatureExtractorInceptionV3``. None: the pytorch-fid file
            ``pt_inception-2015-12-05-6726825d.pth`` from the cache directory (``$FASTGAN_CACHE``
            or ``~/.cache/fastgan``) or a peer's cache (torch.hub's checkpoints: pytorch-fid's
            or torch-fidelity's copy), else downloaded and verified on first use
            (:func:`fastgan.features.hub.fetch`; ``FASTGAN_OFFLINE=1`` never downloads).
        sha256: expected sha256 of the file (full digest or >= 8-digit prefix); verified if given.
        download: None: fetch a missing file unless ``FASTGAN_OFFLINE`` is set; False: never.
        cache_dir: cache directory override.
        output: what :meth:`forward` returns: ``"pool3"`` (Tensor[N, 2048], FID/KID/PR),
            ``"logits"`` (Tensor[N, 1008], with fc bias) or ``"logits_unbiased"``
            (Tensor[N, 1008], fc without bias: the Inception Score convention of Salimans
            et al. and torch-fidelity).
        preset: ``"pytorch-fid"`` (default), ``"torch-fidelity"`` or ``"clean-fid"``: input
            resize, pixel scaling and dtype of that reference (:mod:`fastgan.features.presets`).
        resize: overrides the preset's resize mode for inputs that are not 299x299
            (:data:`RESIZE_MODES`; None: the preset's).
        random_init: build with random weights and load nothing (tests only: features of
            an untrained network are meaningless for evaluation).
        layout: the CPU inference layout (:data:`LAYOUTS`): ``"blocked"`` (oneDNN's blocked
            tensors end to end: the NCHW pass's kernels and rounding, about 1.3x faster),
            ``"channels_last"`` (NHWC: about 1.5x faster than NCHW, about twice its float32
            rounding) or ``"nchw"``. None: the preset's (``layout`` of
            :class:`~fastgan.features.presets.ImagePipeline`: blocked under ``pytorch-fid``,
            channels-last under the others); channels-last under the fast mode's autocast, NCHW
            for float64 and wherever oneDNN is missing.

    Input: Tensor[N, 3, H, W], uint8 (0..255, exact for every preset) or float in [0, 1]
    (H, W >= 75 when ``resize="none"``).

    Matches: Heusel et al. 2017 (TTUR ``fid.py``) / pytorch-fid ``InceptionV3`` with
    ``use_fid_inception=True`` (FIDInceptionA/C/E_1/E_2 pooling, 2x-1 input scaling);
    torch-fidelity ``FeatureExtractorInceptionV3`` and clean-fid's "clean" mode with the
    corresponding ``preset`` (same weight file layout for all three).

    >>> net = InceptionV3FID(random_init=True)
    >>> net(torch.rand(1, 3, 299, 299)).shape
    torch.Size([1, 2048])
    """

    input_size = 299
    feature_dim = 2048
    num_classes = 1008
    #: channels of ``Mixed_6d.branch1x1`` kept for the ADM sFID features (17 x 17 x 7 = 2023)
    spatial_channels = 7
    spatial_dim = 17 * 17 * 7

    def __init__(
        self,
        weights: Optional[str | os.PathLike[str]] = None,
        *,
        sha256: Optional[str] = None,
        download: Optional[bool] = None,
        cache_dir: Optional[str | os.PathLike[str]] = None,
        output: str = "pool3",
        preset: str | Preset | None = None,
        resize: Optional[str] = None,
        random_init: bool = False,
        layout: Optional[str] = None,
    ) -> None:
        super().__init__()
        if output not in _OUTPUTS:
            raise ValueError(f"output: must be one of {_OUTPUTS}, got {output!r}")
        self.preset = get_preset(preset)
        if resize is not None and resize not in RESIZE_MODES:
            raise ValueError(f"resize: must be one of {RESIZE_MODES}, got {resize!r}")
        self.output = output
        self.resize = resize if resize is not None else self.preset.pipeline.resize
        self.layout = self.preset.pipeline.layout if layout is None else layout
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout: must be one of {LAYOUTS}, got {self.layout!r}")
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, max_pool=False)
        self.Mixed_7c = _BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, self.num_classes)
        self.has_logits = True
        if random_init:
            if weights is not None:
                raise ValueError("weights: cannot be combined with random_init=True")
        else:
            path = resolve_weights(
                weights,
                known="inception",
                sha256=sha256,
                download=download,
                cache=cache_dir,
                what="InceptionV3FID",
            )
            absent = load_weights_into(self, path, optional=("fc.",))
            if absent:  # pytorch-fid's InceptionV3 module has no fc: pool3 only
                self.has_logits = False
                logger.warning("InceptionV3FID: %s has no fc layer; pool3 features only, no logits", path)
            logger.debug("InceptionV3FID: loaded weights from %s", path)
        self.eval()
        self.requires_grad_(False)

    def preprocess(self, x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """Tensor[N, 3, H, W] uint8 or float in [0, 1] -> network input Tensor[N, 3, 299, 299].

        The preset's resize (or ``resize``), clip and scaling: ``2x - 1`` for [0, 1] pixels,
        ``(x - 128) / 128`` for 0..255 pixels. ``dtype``: of the result (None: float32 for
        uint8 the network's dtype, else ``x``'s).
        """
        if dtype is None and x.dtype == torch.uint8:
            dtype = self.fc.weight.dtype
        x = prepare_pixels(
            x,
            self.input_size,
            pixels=self.preset.pipeline.pixels,
            resize=self.resize,
            clamp=self.preset.pipeline.clamp,
            dtype=dtype,
        )
        if self.preset.pipeline.pixels == "byte":
            return (x - 128.0) / 128.0
        return 2.0 * x - 1.0

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[N, 3, H, W] (uint8, or float in [0, 1]) -> Tensor[N, 2048] (global average of Mixed_7c)."""
        return self.pool3_from_input(self.preprocess(x))

    def pool3_from_input(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed Tensor[N, 3, 299, 299] (see :meth:`preprocess`) -> Tensor[N, 2048]."""
        return self.pool3_and_spatial_from_input(x, spatial=False)[0]

    def pool3_and_spatial_from_input(
        self, x: torch.Tensor, spatial: bool = True
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Preprocessed Tensor[N, 3, 299, 299] -> (pool3 Tensor[N, 2048], spatial Tensor[N, 2023]
        or None) in ONE forward pass.

        The spatial features are those of the ADM evaluator's sFID (``mixed_6/conv:0`` of the TF
        graph, its first 7 channels): the output of ``Mixed_6d.branch1x1`` (the 1x1 conv of the
        third 17x17 block, after batch norm and ReLU; TF names ``mixed_4..mixed_7`` =
        ``Mixed_6b..6e``), channels 0..6, flattened in the TF graph's NHWC order (row, column,
        channel): 17 * 17 * 7 = 2023 values (:func:`fastgan.metrics.spatial.spatial_features`).
        """
        x = self._to_layout(x)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
        ):
            x = block(x)
        # the sFID features: the 1x1 branch of Mixed_6d (conv, BN, ReLU), evaluated once more on the
        # block's input (a 768 -> 192 1x1 conv, ~1% of the pass), same weights, same arithmetic
        s = None
        if spatial:
            b = self.Mixed_6d.branch1x1(x)
            s = spatial_features(b.to_dense() if b.is_mkldnn else b, self.spatial_channels)
        late: tuple[nn.Module, ...] = (
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        )
        for late_block in late:
            x = late_block(x)
        pooled = F.adaptive_avg_pool2d(x, 1)  # the references' pooling op
        return (pooled.to_dense() if pooled.is_mkldnn else pooled).flatten(1), s

    def _to_layout(self, x: torch.Tensor) -> torch.Tensor:
        """The network input in the inference layout (:attr:`layout`; CPU, no autograd only)."""
        if x.device.type != "cpu" or torch.is_grad_enabled():
            return x
        if _cpu_autocast() or self.layout == "channels_last":
            # channels-last (NHWC) is oneDNN's native layout on the CPU: no reorder around each
            # convolution; its spatial kernels sum in another order, with about twice the
            # rounding of the NCHW pass, so pytorch-fid's preset does not use it
            return x.contiguous(memory_format=torch.channels_last)
        if self.layout == "blocked" and x.dtype == torch.float32 and _MKLDNN:
            # oneDNN's blocked tensors end to end: the kernels (and rounding) of the NCHW pass
            # without a reorder to and from NCHW around every convolution
            return x.to_mkldnn()
        return x

    def logits_from_pool3(self, f: torch.Tensor, bias: bool = False) -> torch.Tensor:
        """Tensor[N, 2048] -> Tensor[N, 1008] logits (``bias=False``: the IS convention)."""
        if not self.has_logits:
            raise RuntimeError(
                "InceptionV3FID: the weights file had no fc layer (a pytorch-fid InceptionV3 module state dict), "
                "so there are no logits; use the converted TF weights file for the Inception Score"
            )
        return F.linear(f, self.fc.weight, self.fc.bias if bias else None)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool3 Tensor[N, 2048], unbiased logits Tensor[N, 1008]) in one pass."""
        f = self.pool3(x)
        return f, self.logits_from_pool3(f, bias=False)

    def embed(self, x: torch.Tensor, with_logits: bool = False, with_spatial: bool = False) -> Any:
        """Like :meth:`forward` (or :meth:`features_and_logits` when ``with_logits``) on an
        already preprocessed Tensor[N, 3, 299, 299]; ``with_spatial`` appends the 2023-d sFID
        features of the same forward pass (:meth:`pool3_and_spatial_from_input`) to the tuple."""
        f, s = self.pool3_and_spatial_from_input(x, spatial=with_spatial)
        out = (
            [f, self.logits_from_pool3(f, bias=False)]
            if with_logits
            else [f if with_spatial else self._head(f)]
        )
        if s is not None:
            out.append(s)
        return tuple(out) if len(out) > 1 else out[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._head(self.pool3(x))

    def _head(self, f: torch.Tensor) -> torch.Tensor:
        if self.output == "pool3":
            return f
        return self.logits_from_pool3(f, bias=self.output == "logits")
