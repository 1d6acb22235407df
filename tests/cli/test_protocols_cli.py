"""``fastgan eval --preset adm`` / ``--protocol`` / ``--float64`` and ``fastgan stats --adm``, with a
tiny stand-in Inception network (offline: no real weights)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.cli.commands import main


class TinyInception(torch.nn.Module):
    """The InceptionV3FID interface ``embed`` uses, on 8 x 8 inputs: pool3 [B, 6], logits [B, 5],
    spatial [B, 32] from one pass."""

    input_size = 8
    resize = "bilinear"
    has_logits = True
    spatial_dim = 32

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def preprocess(self, x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        x = x.to(dtype or self.fc.weight.dtype) / 255
        return F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)

    def logits_from_pool3(self, f: torch.Tensor, bias: bool = False) -> torch.Tensor:
        return F.linear(f, self.fc.weight)

    def embed(self, x: torch.Tensor, with_logits: bool = False, with_spatial: bool = False) -> Any:
        m = torch.tanh(self.conv(x))
        f = m.mean(dim=(2, 3))
        s = F.avg_pool2d(m, 2)[:, :2].permute(0, 2, 3, 1).flatten(1)
        out = [f] + ([self.logits_from_pool3(f)] if with_logits else []) + ([s] if with_spatial else [])
        return tuple(out) if len(out) > 1 else out[0]


@pytest.fixture(autouse=True)
def tiny(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import fastgan.evaluation.embed as emb
    import fastgan.features.extract as ext

    built: list[str] = []

    def build(name: str, weights: Any = None, **kwargs: Any) -> TinyInception:
        built.append(name)
        return TinyInception()

    monkeypatch.setattr(ext, "build_extractor", build)
    monkeypatch.setattr(emb, "build_extractor", build)
    return built


def _stack(path: Path, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    np.save(path, rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8))
    return str(path)


def test_eval_preset_adm_gives_five_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, fake = _stack(tmp_path / "r.npy", 30, 0), _stack(tmp_path / "f.npy", 25, 1)
    assert main(["eval", real, fake, "--preset", "adm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"fid", "sfid", "is_mean", "adm_precision", "adm_recall"} <= set(out["metrics"])
    assert out["preset"]["name"] == "adm"


def test_stats_adm_writes_a_reference_batch_that_eval_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real, fake = _stack(tmp_path / "r.npy", 30, 2), _stack(tmp_path / "f.npy", 25, 3)
    ref = tmp_path / "ref.npz"
    assert main(["stats", real, "-o", str(ref), "--adm"]) == 0
    with np.load(ref) as z:
        assert sorted(z.files) == ["arr_0", "mu", "mu_s", "sigma", "sigma_s"]
        np.testing.assert_array_equal(z["arr_0"], np.load(real))
    capsys.readouterr()
    assert main(["eval", str(ref), fake, "--preset", "adm", "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["eval", real, fake, "--preset", "adm", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["real"]["reference_stats"] == ["inception", "spatial"]
    for key in ("fid", "sfid"):  # stored statistics of the same images: the same numbers
        assert a["metrics"][key] == pytest.approx(b["metrics"][key], rel=1e-6, abs=1e-9)


def test_eval_protocol_names_its_result_and_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    np.save(tmp_path / "r.npy", rng.standard_normal((40, 5)).astype(np.float32))
    np.save(tmp_path / "f.npy", rng.standard_normal((30, 5)).astype(np.float32))
    args = ["eval", str(tmp_path / "r.npy"), str(tmp_path / "f.npy"), "--protocol", "fid50k_full"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "fid50k_full: fid50k_full = " in text
    assert "30 generated samples given; fid50k_full fixes 50000" in text
    assert main([*args, "--strict"]) == 2
    assert "fixes 50000" in capsys.readouterr().err


def test_eval_float64_embeds_in_float64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real, fake = _stack(tmp_path / "r.npy", 20, 5), _stack(tmp_path / "f.npy", 20, 6)
    assert main(["eval", real, fake, "--metrics", "fid", "--float64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"]["dtype"] == "float64"
