"""embed (fastgan/evaluation/embed.py): one decode for every network, equality with extract_features,
rank shards, pass-through of features and statistics, skipped files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from features.conftest import TinyNet
from torch import nn

import fastgan.evaluation.sources as sources_mod
from fastgan.evaluation.embed import embed, shard_range
from fastgan.evaluation.sampler import Sampler
from fastgan.evaluation.sources import open_source
from fastgan.features import InceptionV3FID, extract_features
from fastgan.metrics import FeatureStats


@pytest.fixture(scope="module")
def small_inception() -> InceptionV3FID:
    torch.manual_seed(0)
    return InceptionV3FID(random_init=True, resize="none")


def _folder(
    root: Path, sizes: list[int], seed: int = 0, square: bool = True
) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    root.mkdir()
    imgs = []
    for i, s in enumerate(sizes):
        im = rng.integers(0, 256, (s, s + (0 if square else i % 2), 3), dtype=np.uint8)
        np.save(root / f"{i:03d}.npy", im)
        imgs.append(im)
    return root, imgs


def test_equals_extract_features_bitwise(tmp_path: Path, small_inception: InceptionV3FID) -> None:
    folder, _ = _folder(tmp_path / "f", [80] * 7)
    tiny = TinyNet()
    e = embed(
        folder,
        extractors=["inception", "tiny"],
        models={"inception": small_inception, "tiny": tiny},
        batch_size=3,
        device="cpu",
        num_workers=2,
    )
    f, lg = extract_features(folder, small_inception, batch_size=3, return_logits=True)
    t = extract_features(folder, tiny, batch_size=3)
    assert set(e.arrays) == {"inception", "logits", "tiny"}
    assert torch.equal(e.arrays["inception"], f) and torch.equal(e.arrays["logits"], lg)
    assert torch.equal(e.arrays["tiny"], t)
    assert e.offset == 0 and e.n_total == 7 and e.skipped == []
    assert 0 < e.seconds_network <= e.seconds_total
    # logits are the unbiased fc of the same pool3 (one forward pass)
    torch.testing.assert_close(e.arrays["logits"], f @ small_inception.fc.weight.T, rtol=1e-4, atol=1e-4)


def test_mixed_sizes_are_resized_per_image(tmp_path: Path) -> None:
    folder, imgs = _folder(tmp_path / "f", [12, 12, 20, 9, 12], square=False)
    net = TinyNet()
    e = embed(folder, extractors=["tiny"], models={"tiny": net}, batch_size=2, device="cpu")
    assert torch.equal(e.arrays["tiny"], extract_features(folder, net, batch_size=2))
    for i, im in enumerate(imgs):  # each row is the image embedded alone (resize per image)
        torch.testing.assert_close(e.arrays["tiny"][i], extract_features(im[None], net)[0])


def test_each_file_is_decoded_once_for_all_networks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = _folder(tmp_path / "f", [16] * 5)
    reads: list[str] = []
    real_read = sources_mod.read_file

    def counting(path: Path) -> np.ndarray:
        reads.append(path.name)
        return real_read(path)

    monkeypatch.setattr(sources_mod, "read_file", counting)
    calls = {"a": 0, "b": 0}

    class Counted(TinyNet):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls[self.key] += 1
            return super().forward(x)

    e = embed(
        folder,
        extractors=["a", "b"],
        models={"a": Counted("a"), "b": Counted("b")},
        batch_size=2,
        device="cpu",
    )
    assert sorted(reads) == [f"{i:03d}.npy" for i in range(5)]
    assert calls == {"a": 3, "b": 3}
    assert e.arrays["a"].shape == (5, 5)


@pytest.mark.parametrize("world", [2, 3, 8])
def test_shards_concatenate_to_the_single_process_rows(tmp_path: Path, world: int) -> None:
    folder, _ = _folder(tmp_path / "f", [16] * 7)
    net = TinyNet()
    full = embed(folder, extractors=["tiny"], models={"tiny": net}, batch_size=2, device="cpu").arrays["tiny"]
    parts = [
        embed(folder, extractors=["tiny"], models={"tiny": net}, batch_size=2, device="cpu", shard=(r, world))
        for r in range(world)
    ]
    assert [p.offset for p in parts] == [shard_range(7, r, world)[0] for r in range(world)]
    assert all(p.n_total == 7 for p in parts)
    assert torch.equal(torch.cat([p.arrays["tiny"] for p in parts]), full)


def test_features_stats_loader_sampler(tmp_path: Path) -> None:
    feats = torch.randn(9, 4)
    parts = [embed(feats, shard=(r, 2)) for r in range(2)]
    assert torch.equal(torch.cat([p.arrays["features"] for p in parts]), feats) and parts[1].offset == 4
    st = FeatureStats().update(feats)
    e = embed(st)
    assert e.stats is st and e.arrays == {} and e.n_total == 9

    net = TinyNet()
    imgs = torch.randint(0, 256, (10, 3, 12, 12), dtype=torch.uint8)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(imgs), batch_size=4)
    want = extract_features(loader, net)
    got = embed(loader, extractors=["tiny"], models={"tiny": net}, device="cpu").arrays["tiny"]
    assert torch.equal(got, want)
    shards = [
        embed(loader, extractors=["tiny"], models={"tiny": net}, device="cpu", shard=(r, 3)).arrays["tiny"]
        for r in range(3)
    ]
    torch.testing.assert_close(torch.cat(shards), want)  # the loader's batches are cut at shard borders
    gen = (imgs[i : i + 4] for i in range(0, 10, 4))
    with pytest.raises(ValueError, match="shard: .* no known length"):
        embed(gen, extractors=["tiny"], models={"tiny": net}, device="cpu", shard=(0, 2))
    e = embed(
        (imgs[i : i + 4] for i in range(0, 10, 4)), extractors=["tiny"], models={"tiny": net}, device="cpu"
    )
    assert e.n_total == 10 and torch.equal(e.arrays["tiny"], want)

    G = nn.Sequential(nn.Linear(8, 3 * 12 * 12), nn.Tanh(), nn.Unflatten(1, (3, 12, 12)))
    s = Sampler(G, 8, n=7, batch_size=3)
    e = embed(s, extractors=["tiny"], models={"tiny": net}, batch_size=5, device="cpu")
    images = torch.cat([s.generate(0, 3), s.generate(3, 5), s.generate(5, 7)])  # the 5-grid in G-batches of 3
    assert torch.equal(e.arrays["tiny"], extract_features(images, net, batch_size=5))


def test_skip_bad_lists_files_and_keeps_order(tmp_path: Path) -> None:
    folder, imgs = _folder(tmp_path / "f", [16] * 6)
    (folder / "002.npy").write_bytes(b"\x93NUMPY broken")
    net = TinyNet()
    with pytest.raises(ValueError, match="002.npy"):
        embed(folder, extractors=["tiny"], models={"tiny": net}, device="cpu")
    e = embed(
        open_source(folder, name="real", skip_bad=True),
        extractors=["tiny"],
        models={"tiny": net},
        device="cpu",
        batch_size=4,
    )
    assert len(e.skipped) == 1 and "002.npy" in e.skipped[0]
    good = np.stack([imgs[i] for i in (0, 1, 3, 4, 5)])
    torch.testing.assert_close(e.arrays["tiny"], extract_features(good, net))


def test_argument_errors() -> None:
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    with pytest.raises(ValueError, match="shard"):
        embed(x, shard=(2, 2))
    with pytest.raises(ValueError, match="unknown name"):
        embed(x, extractors=["resnet"], device="cpu")
    with pytest.raises(ValueError, match="extractor 'bad': must return Tensor\\[B, D\\]"):
        embed(x, extractors=["bad"], models={"bad": lambda t: t}, device="cpu")
    with pytest.raises(TypeError, match="batch_size"):
        embed(x, batch_size=1.5)  # type: ignore[arg-type]


def test_progress_bar_shows_rate_and_eta(capsys: pytest.CaptureFixture[str]) -> None:
    x = torch.randint(0, 256, (6, 3, 12, 12), dtype=torch.uint8)
    embed(
        x,
        extractors=["tiny"],
        models={"tiny": TinyNet()},
        batch_size=2,
        device="cpu",
        progress=True,
        name="real",
    )
    err = capsys.readouterr().err
    assert "real: tiny" in err and "6/6" in err and "img/s" in err and "<00:00" in err
    net = TinyNet().train()
    embed(x, extractors=["tiny"], models={"tiny": net}, device="cpu", progress=False)
    assert capsys.readouterr().err == ""
    assert net.training  # switched to eval for the pass, restored afterwards
