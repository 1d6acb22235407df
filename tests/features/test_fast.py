"""The opt-in fast mode (fastgan/features/fast.py): reduced precision where the hardware has it, float32
outputs, a separate cache key, never combined with float64, reachable from evaluate and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fastgan.cli.parser import make_parser
from fastgan.evaluation.embed import _Net, embed
from fastgan.evaluation.protocols import with_float64
from fastgan.features import InceptionV3FID
from fastgan.features.fast import fast_context, fast_module, fast_support, with_fast
from fastgan.features.presets import get_preset


@pytest.fixture(scope="module")
def net() -> InceptionV3FID:
    torch.manual_seed(0)
    return InceptionV3FID(random_init=True, resize="none")


def test_fast_support_says_what_it_does() -> None:
    ok, what = fast_support("cpu")
    assert isinstance(ok, bool) and what
    assert ("bfloat16" in what) == ok
    assert fast_support("meta")[0] is False


def test_fast_module_outputs_float32_near_the_default(net: InceptionV3FID) -> None:
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ref = net.pool3_from_input(x)
        got = fast_module(net).pool3_from_input(x)
        with fast_context("cpu"):
            direct = net.pool3_from_input(x)
    assert got.dtype == torch.float32
    if fast_support("cpu")[0]:
        assert direct.dtype == torch.bfloat16  # the autocast really ran
        rel = float((got - ref).abs().max() / ref.abs().max())
        assert 0 < rel < 3e-2
    else:
        assert torch.equal(got, ref)


def test_embed_in_fast_mode_and_its_cache_key(tmp_path: Path, net: InceptionV3FID) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"{i}.npy", rng.integers(0, 256, (80, 80, 3), dtype=np.uint8))
    base = get_preset("pytorch-fid")
    kw = dict(extractors=["inception"], models={"inception": net}, batch_size=2, device="cpu")
    plain = embed(folder, preset=base, **kw).arrays["inception"]
    fast = embed(folder, preset=with_fast(base), **kw).arrays["inception"]
    assert fast.dtype == torch.float32 and fast.shape == plain.shape
    assert torch.equal(fast, plain) != fast_support("cpu")[0]
    # cached features of one mode never serve the other
    n0 = _Net("inception", net, torch.device("cpu"), torch.float32)
    n1 = _Net("inception", net, torch.device("cpu"), torch.float32, fast=True)

    class Src:
        path, origin, n, skip_bad = str(folder), "folder", 3, False

    k0 = n0.key_fields(Src(), "pytorch-fid", "fp")  # type: ignore[arg-type]
    k1 = n1.key_fields(Src(), "pytorch-fid", "fp")  # type: ignore[arg-type]
    assert k0 is not None and k1 is not None and "fast" not in k0 and k1["fast"] is True


def test_fast_and_float64_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="fast"):
        with_fast(with_float64(get_preset("pytorch-fid")))
    assert with_fast(get_preset("clean-fid")).pipeline.fast is True
    assert get_preset("clean-fid").pipeline.fast is False  # never a preset's default


def test_cli_flag() -> None:
    parser = make_parser(
        {n: (lambda a: 0) for n in ("eval", "stats", "info", "convert-weights", "demo", "losses")}
    )
    args = parser.parse_args(["eval", "a", "b", "--fast"])
    assert args.fast is True
    assert parser.parse_args(["eval", "a", "b"]).fast is False
