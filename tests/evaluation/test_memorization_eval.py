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
    with pytest.raises(ValueError, match="feature file"):
        fastgan.evaluate(train, fake, metrics="fls", options={"fls": {"test": str(tmp_path)}})
    with pytest.raises(TypeError, match="test"):
        fastgan.evaluate(train, fake, metrics="fld", options={"fld": {"test": 3}})
