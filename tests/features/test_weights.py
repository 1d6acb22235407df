"""Strict weights-only loading (fastgan/features/weights.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from fastgan.features import InceptionV3FID, WeightsError
from fastgan.features.weights import check_state_dict, load_state_dict_file, resolve_weights


def test_weights_round_trip(inception: InceptionV3FID, inception_file: Path) -> None:
    net = InceptionV3FID(weights=inception_file, resize="none")
    for (k, a), b in zip(inception.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), k
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_weights_sha256(inception_file: Path) -> None:
    digest = hashlib.sha256(inception_file.read_bytes()).hexdigest()
    assert resolve_weights(inception_file, sha256=digest) == inception_file
    assert resolve_weights(inception_file, sha256=digest[:10].upper()) == inception_file
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_weights(inception_file, sha256="0" * 64)
    with pytest.raises(ValueError, match="hex digits"):
        resolve_weights(inception_file, sha256="xyz")


def test_bad_state_dicts(inception: InceptionV3FID) -> None:
    sd = dict(inception.state_dict())
    missing = {k: v for k, v in sd.items() if k != "fc.bias"}
    with pytest.raises(WeightsError, match="1 missing keys: fc.bias"):
        check_state_dict(inception, missing)
    extra = dict(sd, **{"head.weight": torch.zeros(2)})
    with pytest.raises(WeightsError, match="unexpected keys: head.weight"):
        check_state_dict(inception, extra)
    wrong = dict(sd, **{"fc.weight": torch.zeros(1000, 2048)})
    with pytest.raises(
        WeightsError, match=r"shape mismatches: fc.weight: file \(1000, 2048\) vs model \(1008, 2048\)"
    ):
        check_state_dict(inception, wrong)
    # DataParallel prefix and files without BatchNorm step counters are accepted
    prefixed = {"module." + k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    assert set(check_state_dict(inception, prefixed)) == set(sd)


def test_bad_files(tmp_path: Path, inception: InceptionV3FID) -> None:
    small = tmp_path / "small.pth"
    torch.save({"foo": torch.zeros(3)}, small)
    with pytest.raises(WeightsError, match="missing keys"):
        InceptionV3FID(weights=small)
    pickled = tmp_path / "module.pth"
    torch.save(nn.Linear(2, 2), pickled)  # a pickled module, not a state dict
    with pytest.raises(WeightsError, match="weights-only state dict"):
        load_state_dict_file(pickled)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(WeightsError, match="cannot be read"):
        load_state_dict_file(garbage)
    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(WeightsError, match="dict of tensors"):
        load_state_dict_file(not_dict)
    wrapped = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"a": torch.ones(1)}, "epoch": 3}, wrapped)
    assert list(load_state_dict_file(wrapped)) == ["a"]
    with pytest.raises(WeightsError, match="does not exist"):
        InceptionV3FID(weights=tmp_path / "nope.pth")


def test_missing_default_weights_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="FASTGAN_OFFLINE is set") as info:
        InceptionV3FID()
    msg = str(info.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg and str(tmp_path / "cache") in msg
    assert "https://github.com/mseitzer/pytorch-fid/releases/download/" in msg and "\n" not in msg
    monkeypatch.delenv("FASTGAN_OFFLINE")
    with pytest.raises(WeightsError, match="download=False"):
        InceptionV3FID(download=False)


def test_url_cache_and_download(
    tmp_path: Path, inception_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = inception_file.resolve().as_uri()  # file:// URL: exercises the download path offline
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="not available locally and FASTGAN_OFFLINE is set"):
        resolve_weights(url, cache=cache)
    monkeypatch.delenv("FASTGAN_OFFLINE")
    with pytest.raises(WeightsError, match="not available locally and download=False"):
        resolve_weights(url, cache=cache, download=False)
    digest = hashlib.sha256(inception_file.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_weights(url, cache=cache, download=True, sha256="1" * 64)
    assert not (cache / inception_file.name).exists()  # a failed check leaves nothing behind
    path = resolve_weights(url, cache=cache, download=True, sha256=digest)
    assert path == cache / inception_file.name and path.read_bytes() == inception_file.read_bytes()
    assert resolve_weights(url, cache=cache) == path  # now served from the cache
    # no temporary files left; the verified digest is noted beside the file
    assert sorted(p.name for p in cache.iterdir()) == [inception_file.name, inception_file.name + ".sha256"]


class _RenamedInception(torch.nn.Module):
    """A TorchScript-able container holding an Inception's tensors under other names (order kept)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        for i, v in enumerate(net.state_dict().values()):
            self.register_buffer(f"t{i:04d}", v.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning"
)  # torch.jit.script: the StyleGAN files are TorchScript
def test_convert_weights_torchscript_needs_trust(
    inception: InceptionV3FID, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastgan.cli import commands
    from fastgan.features import InceptionV3FID
    from fastgan.features.weights import TRUST_NOTE, WeightsError, convert_weights

    src, dst = tmp_path / "scripted.pt", tmp_path / "converted.pth"
    torch.jit.save(torch.jit.script(_RenamedInception(inception)), str(src))
    with pytest.raises(WeightsError, match="trusted=True"):
        convert_weights(src, dst, "inception")
    with pytest.raises(WeightsError, match="TorchScript archive"):
        InceptionV3FID(weights=src)  # never loaded silently (torch.load would dispatch to torch.jit.load)
    assert commands.main(["convert-weights", str(src), str(dst), "--model", "inception"]) == 2
    assert "--trusted" in capsys.readouterr().err and not dst.exists()
    assert commands.main(["convert-weights", str(src), str(dst), "--model", "inception", "--trusted"]) == 0
    assert "order" in capsys.readouterr().out
    sd = torch.load(dst, weights_only=True)
    expected = {k: v for k, v in inception.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(sd) == set(expected) and all(torch.equal(sd[k], v) for k, v in expected.items())
    assert "trust" in TRUST_NOTE
    # a wrong architecture is refused shape by shape
    with pytest.raises(WeightsError, match="cannot map by order|holds"):
        convert_weights(src, tmp_path / "x.pth", "vgg16", trusted=True)
    # a plain state dict in a reference's layout is renamed by names
    plain = tmp_path / "plain.pth"
    torch.save({"module." + k: v for k, v in expected.items()}, plain)
    assert convert_weights(plain, tmp_path / "y.pth", "inception")["mapping"] == "names"
