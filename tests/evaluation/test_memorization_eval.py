"""The memorization rows through fastgan.evaluate: the third input (the held-out test set, option
``test``) as an array or a feature file, the values equal to the direct functions, the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fastgan
from fastgan.metrics import authpct, ct_score, fld, fls, mifid


def _sets() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0, 0, 0], [15, 0, 0, 0], [0, 15, 0, 0]])
    train = centers[torch.arange(240) % 3] + torch.randn(240, 4, generator=g)
    test = centers[torch.arange(120) % 3] + torch.randn(120, 4, generator=g)
    fake = torch.cat([train[:60], centers[torch.arange(60) % 3] + torch.randn(60, 4, generator=g)])
    return train, test, fake


def test_every_row_equals_its_function() -> None:
    train, test, fake = _sets()
    three = {"ct": {"test": test}, "fld": {"test": test}, "fls": {"test": test}}
    r = fastgan.evaluate(train, fake, metrics="authpct,mifid,ct,fld,fls", options=three)
    assert r["authpct"] == authpct(train, fake)
    assert r["mifid"] == mifid(train, fake)
    assert r["ct"] == ct_score(train, test, fake)
    assert r["fld"] == fld(train, test, fake)
    assert r["fls"] == fls(train, test, fake)
    assert r["ct"] < 0  # a quarter of the generated set is copied
    info = json.loads(r.to_json())  # the test set is reported by its shape, not its values
    assert info["options"]["fld"]["test"] == "features [120, 4]"


def test_test_set_from_a_feature_file(tmp_path: Path) -> None:
    train, test, fake = _sets()
    np.save(tmp_path / "test.npy", test.numpy())
    r = fastgan.evaluate(
        train, fake, metrics="fld", options={"fld": {"test": str(tmp_path / "test.npy"), "seed": 3}}
    )
    assert r["fld"] == fld(train, test, fake, seed=3)
    assert json.loads(r.to_json())["options"]["fld"]["test"] == str(tmp_path / "test.npy")


def test_missing_or_wrong_test_set(tmp_path: Path) -> None:
    train, _, fake = _sets()
    with pytest.raises(ValueError, match="held-out real test set"):
        fastgan.evaluate(train, fake, metrics="ct")
    with pytest.raises(ValueError, match="no image files"):  # an empty folder, as for real / fake
        fastgan.evaluate(train, fake, metrics="fls", options={"fls": {"test": str(tmp_path)}})
    with pytest.raises(TypeError, match="test"):
        fastgan.evaluate(train, fake, metrics="fld", options={"fld": {"test": 3}})


def test_test_set_of_images_goes_through_the_same_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test set of images (here an image stack file) is embedded by stage 2's embed() with the same
    network and preset as the real images: the value equals the metric on the three embeddings."""
    import fastgan.evaluation.embed as emb_mod
    import fastgan.features.extract as ext

    from .test_api import TinyInception

    built: list[torch.nn.Module] = []

    def build(name: str, weights: object = None, device: object = None, **kwargs: object) -> torch.nn.Module:
        built.append(TinyInception())
        return built[-1]

    monkeypatch.setattr(ext, "build_extractor", build)
    monkeypatch.setattr(emb_mod, "build_extractor", build)
    rng = np.random.default_rng(0)
    stacks = {}
    for name, n in (("train", 120), ("test", 60), ("fake", 60)):
        stacks[name] = rng.integers(0, 256, (n, 20, 20, 3), dtype=np.uint8)
        np.save(tmp_path / f"{name}.npy", stacks[name])
    stacks["fake"][:20] = stacks["train"][:20]
    np.save(tmp_path / "fake.npy", stacks["fake"])
    paths = {k: str(tmp_path / f"{k}.npy") for k in stacks}
    r = fastgan.evaluate(
        paths["train"],
        paths["fake"],
        metrics="fld,ct",
        options={"fld": {"test": paths["test"]}, "ct": {"test": paths["test"]}},
    )
    feats = {k: emb_mod.embed(p, extractors=("inception",)).arrays["inception"] for k, p in paths.items()}
    assert r["fld"] == fld(feats["train"], feats["test"], feats["fake"])
    assert r["ct"] == ct_score(feats["train"], feats["test"], feats["fake"])
    assert json.loads(r.to_json())["options"]["fld"]["test"] == paths["test"]
    with pytest.raises(ValueError, match="holds images but the real input is features"):
        fastgan.evaluate(
            feats["train"], feats["fake"], metrics="fld", options={"fld": {"test": paths["test"]}}
        )
