"""Features must not depend on the batch size (torch-fidelity#43, torchmetrics#1620 report FIDs
that move with it). In float64 (``evaluate(float64=True)``, ``--float64``) the Inception features
of the same images through batches of 1, 2 and 3 agree to 1e-12 relative; in float32 the
convolution algorithm (and so the rounding) may change with the batch shape, and the measured
spread is bounded here and printed."""

from __future__ import annotations

import torch

from fastgan.evaluation.embed import embed
from fastgan.evaluation.protocols import with_float64
from fastgan.features.inception import InceptionV3FID
from fastgan.features.presets import get_preset


def _net() -> InceptionV3FID:
    torch.manual_seed(0)  # random_init draws the weights from the global generator: the same net each call
    net = InceptionV3FID(random_init=True, preset="adm")
    g = torch.Generator().manual_seed(0)
    for m in net.modules():  # a random but non-trivial network (batch norm statistics included)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return net


def _arrays(images: torch.Tensor, batch_size: int, float64: bool) -> dict[str, torch.Tensor]:
    preset = get_preset("adm")
    emb = embed(
        images,
        extractors=("inception", "spatial"),
        preset=with_float64(preset) if float64 else preset,  # type: ignore[arg-type]
        batch_size=batch_size,
        device="cpu",
        models={"inception": _net()},
    )
    return emb.arrays


def _spread(runs: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    out = {}
    for key in runs[0]:
        base = runs[0][key].double()
        scale = float(base.abs().max())
        out[key] = max(float((r[key].double() - base).abs().max()) / scale for r in runs[1:])
    return out


def test_features_do_not_depend_on_batch_size() -> None:
    images = torch.randint(
        0, 256, (5, 3, 40, 40), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )
    f64 = [_arrays(images, b, True) for b in (1, 2, 3)]
    assert all(r["inception"].dtype == torch.float64 for r in f64)
    assert set(f64[0]) == {"inception", "logits", "spatial"}
    spread64 = _spread(f64)
    assert max(spread64.values()) <= 1e-12, spread64
    f32 = [_arrays(images, b, False) for b in (1, 2, 3)]
    spread32 = _spread(f32)
    print(f"batch-size spread (max |diff| / max |x|): float64 {spread64}, float32 {spread32}")
    # float32: the rounding of one forward pass (a few float32 ulps of the largest value)
    assert max(spread32.values()) <= 1e-4, spread32
    # the float64 features are the float32 ones to float32 accuracy
    assert max(_spread([f64[0], f32[0]]).values()) <= 1e-4
