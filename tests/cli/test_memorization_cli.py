"""fastgan eval --real-test: the held-out test set of ct / fld / fls from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fastgan import cli
from fastgan.metrics import ct_score, fld


def test_real_test_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    train = rng.standard_normal((200, 5)).astype(np.float32)
    test = rng.standard_normal((100, 5)).astype(np.float32)
    fake = np.concatenate([train[:50], rng.standard_normal((60, 5)).astype(np.float32)])
    for name, a in (("train", train), ("test", test), ("fake", fake)):
        np.save(tmp_path / f"{name}.npy", a)
    args = ["eval", str(tmp_path / "train.npy"), str(tmp_path / "fake.npy"), "--metrics", "ct,fld,authpct"]
    assert cli.main([*args, "--real-test", str(tmp_path / "test.npy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    t, p, q = (torch.from_numpy(a) for a in (train, test, fake))
    assert out["metrics"]["ct"] == ct_score(t, p, q)
    assert out["metrics"]["fld"] == fld(t, p, q)
    assert cli.main(args) == 2  # no test set: a clear error, exit status 2
    assert "--real-test" in capsys.readouterr().err
