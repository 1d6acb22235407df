"""``fastgan eval`` / ``fastgan stats`` on the bad inputs of issue 23: indefinite or asymmetric statistics,
a device that does not exist; ``--verify`` reaches the cache. One line on stderr, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fastgan import cli

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _one_line_error(capsys: pytest.CaptureFixture[str], rc: int, *needles: str) -> str:
    out = capsys.readouterr()
    err = out.err.strip()
    assert rc == 2, (rc, out.out, out.err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture
def stats_files(tmp_path: Path) -> Path:
    np.savez(tmp_path / "a.npz", mu=np.zeros(2), sigma=np.eye(2))
    np.savez(tmp_path / "indefinite.npz", mu=np.zeros(2), sigma=np.diag([4.0, -3.0]))
    np.savez(tmp_path / "negative.npz", mu=np.zeros(2), sigma=-np.eye(2))
    np.savez(tmp_path / "asymmetric.npz", mu=np.zeros(2), sigma=np.array([[1.0, 0.5], [0.0, 1.0]]))
    np.savez(tmp_path / "nan.npz", mu=np.zeros(2), sigma=np.array([[1.0, np.nan], [np.nan, 1.0]]))
    return tmp_path


@pytest.mark.parametrize(
    "name,needle",
    [
        ("indefinite", "not positive semi-definite: most negative eigenvalue -3"),
        ("negative", "not positive semi-definite: most negative eigenvalue -1"),
        ("asymmetric", "not symmetric"),
        ("nan", "non-finite"),
    ],
)
def test_bad_statistics_are_refused_naming_the_file(
    stats_files: Path, capsys: pytest.CaptureFixture[str], name: str, needle: str
) -> None:
    """Before: diag(4, -3) printed FID -1.0 and -I printed 0.0 (exit 0); an asymmetric sigma said 'sigma2: ...'."""
    a, b = str(stats_files / "a.npz"), str(stats_files / f"{name}.npz")
    rc = cli.main(["eval", "--real", a, "--fake", b])
    _one_line_error(capsys, rc, f"fake: {b}: invalid statistics file: 'sigma'", needle)
    rc = cli.main(["eval", "--real", b, "--fake", a])
    _one_line_error(capsys, rc, f"real: {b}:", needle)


def test_bad_statistics_as_a_user_runs_it(stats_files: Path) -> None:
    import fastgan

    env = dict(
        os.environ, PYTHONPATH=str(Path(fastgan.__file__).resolve().parents[1])
    )  # this checkout's fastgan
    proc = subprocess.run(
        [sys.executable, "-m", "fastgan", "eval", "--real", "a.npz", "--fake", "indefinite.npz"],
        cwd=stats_files,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "fastgan eval: error: fake: indefinite.npz: invalid statistics file: 'sigma': not positive semi-definite: "
            "most negative eigenvalue -3"
        )
    ), proc.stderr
    assert "FID" not in proc.stdout


@pytest.mark.parametrize(
    "device",
    ["foo", "cuda:99"] + ([] if torch.cuda.is_available() else ["cuda"]),
    ids=lambda d: f"device={d.replace('cuda', 'gpu')}",
)  # an id "cuda" means: skip without a GPU
def test_bad_device_is_one_line_exit_2(
    stats_files: Path, capsys: pytest.CaptureFixture[str], device: str
) -> None:
    """Before: a RuntimeError traceback from torch.device (foo) or from the first CUDA call, exit 1."""
    a = str(stats_files / "a.npz")
    np.save(stats_files / "feats.npy", np.random.default_rng(0).normal(size=(20, 2)))
    rc = cli.main(["eval", "--real", a, "--fake", a, "--device", device])
    _one_line_error(capsys, rc, f"fastgan eval: error: --device: '{device}'")
    out = str(stats_files / "out.npz")
    rc = cli.main(["stats", str(stats_files / "feats.npy"), "-o", out, "--device", device])
    _one_line_error(capsys, rc, f"fastgan stats: error: --device: '{device}'")
    assert not os.path.exists(out)


def test_verify_flag_reaches_evaluate(stats_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastgan.evaluation import api

    seen: list[Any] = []
    real = api.evaluate

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("verify"))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "evaluate", spy)
    a = str(stats_files / "a.npz")
    assert cli.main(["eval", "--real", a, "--fake", a, "--verify"]) == 0
    assert cli.main(["eval", "--real", a, "--fake", a]) == 0
    assert seen == [True, False]
