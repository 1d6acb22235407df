"""The first hour of a pytorch-fid or torch-fidelity user: positional inputs, their option
spellings, and the offline switch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fastgan import cli
from fastgan.cli.commands import PEER_HINTS


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    g = np.random.default_rng(0)
    real, fake = tmp_path / "real.npy", tmp_path / "fake.npy"
    np.save(real, g.normal(size=(120, 6)))
    np.save(fake, g.normal(0.3, 1.0, size=(120, 6)))
    return str(real), str(fake)


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_positional_inputs_equal_the_options(
    files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    real, fake = files
    assert cli.main(["eval", real, fake, "--metrics", "fid", "--json"]) == 0
    positional = _json(capsys)
    assert cli.main(["eval", "--real", real, "--fake", fake, "--metrics", "fid", "--json"]) == 0
    options = _json(capsys)
    assert positional["metrics"] == options["metrics"] and positional["metrics"]["fid"] > 0
    assert positional["real"]["path"] == real and positional["fake"]["path"] == fake


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["eval", "A"], "give the two inputs: fastgan eval REAL FAKE"),
        (["eval"], "give the two inputs"),
        (["eval", "A", "B", "--real", "C"], "--real: given twice"),
    ],
)
def test_missing_or_doubled_inputs(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("flag", sorted(PEER_HINTS))
def test_peer_spellings_get_one_line(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", "a", "b", f"{flag}=1" if flag == "--gpu" else flag]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"fastgan eval: error: {flag}: "), err


def test_torch_fidelity_metric_switches_work(
    files: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    real, fake = files
    assert cli.main(["eval", real, fake, "--fid", "--kid", "--kid-subset-size", "50", "--json"]) == 0
    assert set(_json(capsys)["metrics"]) == {"fid", "kid_mean", "kid_std"}
    assert cli.main(["eval", real, fake, "--metrics", "prdc", "--fid", "--json"]) == 0
    assert set(_json(capsys)["metrics"]) == {"precision", "recall", "density", "coverage", "fid"}


def test_offline_flag_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FASTGAN_OFFLINE")
    for side in ("real", "fake"):
        (tmp_path / side).mkdir()
        np.save(tmp_path / side / "x.npy", np.zeros((2, 32, 32, 3), np.uint8))
    rc = cli.main(["eval", str(tmp_path / "real"), str(tmp_path / "fake"), "--offline", "--metrics", "fid"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "pt_inception-2015-12-05-6726825d.pth is not in" in err and "FASTGAN_OFFLINE is set" in err, err
