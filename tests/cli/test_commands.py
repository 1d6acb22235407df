"""The ``fastgan`` command line, driven as a user would (``python -m fastgan ...`` in a fresh folder).

The main paths run in a subprocess (exit status, stdout, stderr exactly as a user sees them); the
larger matrix of malformed inputs calls :func:`fastgan.cli.main` in-process, which exercises the
same code without paying for a Python start per case, and one of them is repeated as a subprocess.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fastgan
import fastgan.metrics as fm
from fastgan import _ext, cli
from fastgan.cli.table import format_table

from .conftest import TinyNet, install_tiny_builder

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def run_cli(
    *args: str, cwd: Path, timeout: float = 120.0, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **extra_env)
    return subprocess.run(
        [sys.executable, "-m", "fastgan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fastgan "), err
    for n in needles:
        assert n in err, (n, err)


@pytest.fixture(scope="module")
def feats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two feature sets (real: N(0, I), fake: shifted and scaled) saved in every accepted format."""
    d = tmp_path_factory.mktemp("feats")
    g = np.random.default_rng(0)
    real = g.standard_normal((300, 12))
    fake = 0.9 * g.standard_normal((250, 12)) + 0.3
    np.save(d / "real.npy", real)
    np.save(d / "fake.npy", fake)
    np.savez(d / "fake.npz", features=fake)
    np.savez(d / "real_single.npz", anything=real)  # one unnamed 2-D array
    torch.save(torch.from_numpy(fake), d / "fake.pt")
    torch.save({"features": torch.from_numpy(real), "step": torch.tensor(3)}, d / "real_dict.pt")
    return {"dir": d, "real": real, "fake": fake}


# ---------------------------------------------------------------------------------------- info
def test_info_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["info"]) == 0
    assert "C++ kernels loaded" in capsys.readouterr().out
    proc = run_cli("info", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert isinstance(info["cpp"], bool) and "versions" in info


# --------------------------------------------------------------------------------------- stats
def test_stats_roundtrip(tmp_path: Path, feats: dict[str, Any]) -> None:

    out = tmp_path / "real_stats.npz"
    proc = run_cli("stats", str(feats["dir"] / "real.npy"), "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "300 samples" in proc.stdout and "D=12" in proc.stdout
    loaded = fm.load_stats(out)
    mu, sigma = (loaded.mean, loaded.cov) if isinstance(loaded, fm.FeatureStats) else loaded
    x = torch.from_numpy(feats["real"])
    torch.testing.assert_close(mu, x.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sigma, torch.cov(x.T), rtol=1e-10, atol=1e-12)  # divisor n - 1


def test_stats_refuses_stats_input(tmp_path: Path, feats: dict[str, Any]) -> None:

    s = fm.FeatureStats()
    s.update(torch.from_numpy(feats["real"]))
    fm.save_stats(tmp_path / "s.npz", s)
    assert cli.main(["stats", str(tmp_path / "s.npz"), "-o", str(tmp_path / "t.npz")]) == 2
    assert (
        cli.main(["stats", str(feats["dir"] / "real.npy"), "-o", str(tmp_path / "no" / "dir" / "t.npz")]) == 2
    )


@pytest.fixture
def tiny_net(monkeypatch: pytest.MonkeyPatch) -> list[TinyNet]:
    """Every feature network the commands build is a fresh :class:`TinyNet`; only Inception, by default weights."""

    def only_inception(name: str, weights: Any) -> None:
        assert name == "inception" and weights is None, (name, weights)

    return install_tiny_builder(monkeypatch, only_inception)


def test_stats_of_images_goes_through_the_eval_pipeline(
    tmp_path: Path, tiny_net: list[TinyNet], capsys: pytest.CaptureFixture[str]
) -> None:
    """Image folder -> open_source + embed: the network's features, float64 statistics; --cache reuses them,
    --skip-bad skips (and reports) an unreadable file, --num-workers decodes in worker processes."""
    g = np.random.default_rng(4)
    imgs = g.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8)
    folder = tmp_path / "imgs"
    folder.mkdir()
    np.save(folder / "a.npy", imgs[:5])  # a stack of 5
    for i in range(5, 9):
        np.save(folder / f"b{i}.npy", imgs[i])
    (folder / "c_broken.npy").write_bytes(b"not an array")
    out = tmp_path / "s.npz"
    argv = ["stats", str(folder), "-o", str(out), "--batch-size", "4", "--no-progress"]

    assert cli.main(argv) == 2  # the unreadable file is named
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "c_broken.npy" in err and "skip" in err, err

    cache = tmp_path / "cache"
    argv += ["--skip-bad", "--cache", str(cache), "--num-workers", "1", "--json"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["count"] == 9 and report["dim"] == 4 and report["input"]["kind"] == "images"
    assert (
        len(report["input"]["skipped_files"]) == 1 and "c_broken.npy" in report["input"]["skipped_files"][0]
    )
    assert "1 unreadable file(s) skipped" in captured.err
    with torch.no_grad():  # the oracle: the network on the images (already at its input size)
        want = TinyNet()(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255).double()
    st = fm.load_stats(out)
    assert st.count == 9
    torch.testing.assert_close(st.mean, want.mean(0), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(st.cov, torch.cov(want.T), rtol=1e-5, atol=1e-7)
    assert tiny_net[-1].rows == 9 and any(cache.rglob("*"))

    out.unlink()  # the second run reads the cache: the network sees no image
    assert cli.main(argv[:-1]) == 0
    assert "FID statistics of 9 samples, D=4" in capsys.readouterr().out
    assert tiny_net[-1].rows == 0
    torch.testing.assert_close(fm.load_stats(out).cov, st.cov, rtol=0, atol=0)


def test_stats_of_an_image_stack_file(
    tmp_path: Path, tiny_net: list[TinyNet], capsys: pytest.CaptureFixture[str]
) -> None:
    """An .npy image stack [n, H, W, 3] is images (as for eval), not a feature matrix."""
    imgs = np.random.default_rng(5).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "stack.npy", imgs)
    assert cli.main(["stats", str(tmp_path / "stack.npy"), "-o", str(tmp_path / "s.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 6 and tiny_net[-1].rows == 6
    np.save(tmp_path / "one.npy", imgs[:1])
    assert cli.main(["stats", str(tmp_path / "one.npy"), "-o", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "one.npy" in err and "at least 2 samples" in err, err


# ---------------------------------------------------------------------------------------- eval
def _direct(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The library functions called directly with the CLI's defaults."""

    r, f = torch.from_numpy(real), torch.from_numpy(fake)
    out = {"fid": fm.fid(r, f)}
    m = min(len(real), len(fake), 1000)
    out.update(fm.kid(r, f, subsets=100, subset_size=m, generator=torch.Generator().manual_seed(0)))
    out.update(fm.prdc(r, f, k=5))
    pr = fm.precision_recall(r, f, k=3)
    out["pr_precision"], out["pr_recall"] = float(pr["precision"]), float(pr["recall"])
    return out


@pytest.mark.parametrize(
    "real_name,fake_name",
    [("real.npy", "fake.npy"), ("real_single.npz", "fake.npz"), ("real_dict.pt", "fake.pt")],
)
def test_eval_json_matches_library(
    tmp_path: Path, feats: dict[str, Any], real_name: str, fake_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    d = feats["dir"]
    argv = [
        "eval",
        "--real",
        str(d / real_name),
        "--fake",
        str(d / fake_name),
        "--metrics",
        "fid,kid,prdc,pr",
        "--json",
    ]
    if real_name.endswith(".npy"):  # one format through a real process, the others in-process
        proc = run_cli(*argv, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
    else:
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
    report = json.loads(out)
    assert report["real"]["n"] == 300 and report["fake"]["n"] == 250 and report["real"]["dim"] == 12
    want = _direct(feats["real"], feats["fake"])
    got = report["metrics"]
    for key, value in want.items():
        # KID runs float32 GEMMs (checked against float64): another process's thread split may round
        # them differently, by ~1e-8 relative; everything else is float64
        rel = 1e-6 if key.startswith("kid") else 1e-9
        assert got[key] == pytest.approx(value, rel=rel, abs=1e-12), key
    assert report["options"]["prdc"]["k"] == 5 and report["options"]["pr"]["k"] == 3
    assert report["preset"]["name"] == "pytorch-fid" and report["computed"] == ["fid", "kid", "prdc", "pr"]
    assert any("subset size" in n for n in report["notes"])
    assert fastgan.EvalResult.from_dict(report).to_dict() == report


def test_eval_per_metric_k_flags_and_the_deprecated_k(
    feats: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    d = feats["dir"]
    base = ["eval", str(d / "real.npy"), str(d / "fake.npy"), "--metrics", "prdc,pr", "--json"]
    assert cli.main(base + ["--prdc-k", "4", "--pr-k", "2"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["options"]["prdc"]["k"] == 4 and report["options"]["pr"]["k"] == 2 and "--k" not in out.err
    # --k works as before (every requested metric it used to set) and says so on stderr, in one line
    assert cli.main(base + ["--k", "2"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["options"]["prdc"]["k"] == 2 and report["options"]["pr"]["k"] == 2
    note = [line for line in out.err.splitlines() if "--k" in line]
    assert len(note) == 1 and "deprecated" in note[0] and "prdc, pr" in note[0]
    # a per-metric flag wins over --k for its metric
    assert cli.main(base + ["--k", "2", "--prdc-k", "6"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert (
        report["options"]["prdc"]["k"] == 6
        and report["options"]["pr"]["k"] == 2
        and "set k of pr " in out.err
    )


def test_eval_table_default(tmp_path: Path, feats: dict[str, Any]) -> None:
    d = feats["dir"]
    proc = run_cli(
        "eval", "--real", str(d / "real.npy"), "--fake", str(d / "fake.pt"), "--k", "4", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("real: ") and "N=300" in lines[0] and "D=12" in lines[0]
    for label in ("FID", "KID", "precision (k=4)", "recall (k=4)", "density (k=4)", "coverage (k=4)"):
        assert any(line.startswith(label) for line in lines), label
    fid_line = next(line for line in lines if line.startswith("FID"))
    want = fm.fid(torch.from_numpy(feats["real"]), torch.from_numpy(feats["fake"]))
    assert float(fid_line.split()[1]) == pytest.approx(want, rel=1e-5)


def test_eval_with_stats_files(
    tmp_path: Path, feats: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:

    d = feats["dir"]
    stats_path = tmp_path / "real_stats.npz"
    assert cli.main(["stats", str(d / "real.npy"), "-o", str(stats_path)]) == 0
    capsys.readouterr()
    # pytorch-fid style file without a sample count, for the fake side
    f = torch.from_numpy(feats["fake"])
    np.savez(tmp_path / "fake_mu_sigma.npz", mu=f.mean(0).numpy(), sigma=torch.cov(f.T).numpy())

    proc = run_cli("eval", "--real", str(stats_path), "--fake", str(d / "fake.npy"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report["metrics"]) == {"fid"}
    assert "only fid" in proc.stderr  # default metrics reduced, and the user is told
    want = fm.fid(torch.from_numpy(feats["real"]), f)
    assert report["metrics"]["fid"] == pytest.approx(want, rel=1e-9)

    assert (
        cli.main(["eval", "--real", str(stats_path), "--fake", str(tmp_path / "fake_mu_sigma.npz"), "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["metrics"]["fid"] == pytest.approx(want, rel=1e-9)

    rc = cli.main(["eval", "--real", str(stats_path), "--fake", str(d / "fake.npy"), "--metrics", "fid,kid"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "only fid" in err and "kid" in err, err


def test_eval_inception_score_from_logits(
    tmp_path: Path, feats: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:

    logits = np.random.default_rng(1).standard_normal((200, 10)) * 3
    np.save(tmp_path / "logits.npy", logits)
    d = feats["dir"]
    rc = cli.main(
        [
            "eval",
            "--real",
            str(d / "real.npy"),
            "--fake",
            str(d / "fake.npy"),
            "--metrics",
            "is",
            "--logits",
            str(tmp_path / "logits.npy"),
            "--splits",
            "4",
            "--json",
        ]
    )
    assert rc == 0
    got = json.loads(capsys.readouterr().out)["metrics"]
    want = fm.inception_score(torch.from_numpy(logits), splits=4)
    assert got["is_mean"] == pytest.approx(want["is_mean"], rel=1e-12)
    assert got["is_std"] == pytest.approx(want["is_std"], rel=1e-12, abs=1e-15)
    assert (
        cli.main(["eval", "--real", str(d / "real.npy"), "--fake", str(d / "fake.npy"), "--metrics", "is"])
        == 2
    )


# ------------------------------------------------------------------------------------ bad input
def _write_bad(tmp: Path, kind: str) -> Path:
    good = np.random.default_rng(2).standard_normal((50, 12))
    if kind == "missing":
        return tmp / "does_not_exist.npy"
    if kind == "truncated_npy":
        p = tmp / "trunc.npy"
        np.save(p, good)
        p.write_bytes(p.read_bytes()[:300])
        return p
    if kind == "garbage_npy":
        p = tmp / "garbage.npy"
        p.write_bytes(b"this is not numpy at all")
        return p
    if kind == "object_npy":
        p = tmp / "obj.npy"
        np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
        return p
    if kind == "one_d":
        p = tmp / "one_d.npy"
        np.save(p, good[:, 0])
        return p
    if kind == "three_d":
        p = tmp / "three_d.npy"
        np.save(p, good.reshape(5, 10, 12))
        return p
    if kind == "nan":
        p = tmp / "nan.npy"
        bad = good.copy()
        bad[3, 4] = np.nan
        np.save(p, bad)
        return p
    if kind == "int":
        p = tmp / "int.npy"
        np.save(p, (good * 10).astype(np.int64))
        return p
    if kind == "one_row":
        p = tmp / "one_row.npy"
        np.save(p, good[:1])
        return p
    if kind == "unknown_suffix":
        p = tmp / "feats.txt"
        np.savetxt(p, good)
        return p
    if kind == "garbage_npz":
        p = tmp / "garbage.npz"
        p.write_bytes(b"PK\x03\x04 broken zip")
        return p
    if kind == "npz_two_arrays":
        p = tmp / "two.npz"
        np.savez(p, a=good, b=good)
        return p
    if kind == "npz_bad_stats":
        p = tmp / "bad_stats.npz"
        np.savez(p, mu=np.zeros(12), sigma=np.zeros((12, 5)))
        return p
    if kind == "garbage_pt":
        p = tmp / "garbage.pt"
        p.write_bytes(b"\x80\x04not a torch file")
        return p
    if kind == "pickle_pt":
        p = tmp / "evil.pt"  # a pickle that would call a function if loaded without weights_only
        with open(p, "wb") as fh:
            pickle.dump({"features": torch.zeros(3, 12), "f": os.getcwd}, fh)
        return p
    if kind == "directory_without_images":
        p = tmp / "empty_dir"
        p.mkdir()
        return p
    raise AssertionError(kind)


BAD_KINDS = [
    "missing",
    "truncated_npy",
    "garbage_npy",
    "object_npy",
    "one_d",
    "three_d",
    "nan",
    "int",
    "one_row",
    "unknown_suffix",
    "garbage_npz",
    "npz_two_arrays",
    "npz_bad_stats",
    "garbage_pt",
    "pickle_pt",
    "directory_without_images",
]
NEEDLES = {
    "missing": "does not exist",
    "object_npy": "pickled object",
    "one_d": "2-D",
    "three_d": "channels",  # a 3-D array reads as images: the layout cannot be told
    "nan": "non-finite",
    "int": "integer",
    "unknown_suffix": "unknown file type",
    "npz_two_arrays": "exactly one 2-D",
    "npz_bad_stats": "sigma",
    "directory_without_images": "no image",
}


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_eval_bad_input_is_one_line(
    tmp_path: Path, feats: dict[str, Any], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write_bad(tmp_path, kind)
    rc = cli.main(["eval", "--real", str(feats["dir"] / "real.npy"), "--fake", str(bad), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fastgan eval: error: "), err
    assert str(bad) in err or kind == "directory_without_images" and bad.name in err, err
    if kind in NEEDLES:
        assert NEEDLES[kind] in err, err


def test_bad_input_in_subprocess(tmp_path: Path, feats: dict[str, Any]) -> None:
    d = feats["dir"]
    trunc = _write_bad(tmp_path, "truncated_npy")
    assert_user_error(
        run_cli("eval", "--real", str(d / "real.npy"), "--fake", str(trunc), cwd=tmp_path), str(trunc)
    )


def test_dim_mismatch_and_stats_of_bad_file(
    tmp_path: Path, feats: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "d7.npy", np.zeros((20, 7)) + np.arange(7))
    assert (
        cli.main(["eval", "--real", str(feats["dir"] / "real.npy"), "--fake", str(tmp_path / "d7.npy")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "D=12" in err and "D=7" in err, err
    obj = _write_bad(tmp_path, "object_npy")
    assert cli.main(["stats", str(obj), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastgan stats: error: ") and "pickled object" in err, err


def test_unknown_metric(feats: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    d = feats["dir"]
    rc = cli.main(
        ["eval", "--real", str(d / "real.npy"), "--fake", str(d / "fake.npy"), "--metrics", "fid,bogus"]
    )
    err = capsys.readouterr().err.strip()
    from fastgan.evaluation.registry import METRICS

    assert rc == 2 and err == (
        f"fastgan eval: error: --metrics: unknown metric 'bogus'; choose from {', '.join(METRICS)} (or 'all')"
    ), err


def test_eval_newer_metrics(feats: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """The newer metric names are accepted and give the library functions' values."""
    d = feats["dir"]
    names = ["fd", "cmmd", "vendi", "sliced_wasserstein", "p_precision_recall"]
    if hasattr(fm, "top_precision_recall"):
        names.append("top_pr")
    assert (
        cli.main(
            [
                "eval",
                "--real",
                str(d / "real.npy"),
                "--fake",
                str(d / "fake.npy"),
                "--metrics",
                ",".join(names),
                "--json",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    got = json.loads(capsys.readouterr().out)["metrics"]
    r, f = torch.from_numpy(feats["real"]), torch.from_numpy(feats["fake"])
    assert got["fd"] == pytest.approx(fm.fd(r, f), rel=1e-12)
    assert got["cmmd"] == fm.cmmd(r, f) and got["vendi"] == fm.vendi(f)
    assert got["sliced_wasserstein"] == fm.sliced_wasserstein(
        r, f, generator=torch.Generator().manual_seed(3)
    )
    ppr = fm.p_precision_recall(r, f)
    assert (got["p_precision"], got["p_recall"]) == (ppr["p_precision"], ppr["p_recall"])
    if "top_pr" in names:
        top = fm.top_precision_recall(r, f)
        assert (got["top_precision"], got["top_recall"]) == (top["top_precision"], top["top_recall"])
    # the table names them
    assert (
        cli.main(
            ["eval", "--real", str(d / "real.npy"), "--fake", str(d / "fake.npy"), "--metrics", "fd,vendi"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert any(line.startswith("FD ") for line in out.splitlines()) and "Vendi" in out


def test_eval_library_errors_are_one_line(feats: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    d = feats["dir"]
    # k larger than the sample count: the library refuses, the CLI reports it on one line
    rc = cli.main(
        [
            "eval",
            "--real",
            str(d / "real.npy"),
            "--fake",
            str(d / "fake.npy"),
            "--metrics",
            "prdc",
            "--prdc-k",
            "100000",
        ]
    )  # (--k would add its one-line deprecation note)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("fastgan eval: error: "), err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["eval", "x.npy", "y.npy", "--batch-size", "0"])
    assert exc.value.code == 2 and "--batch-size" in capsys.readouterr().err
    assert cli.main(["eval", "--real", "x.npy"]) == 2  # FAKE missing: one line, exit 2
    assert "fastgan eval REAL FAKE" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- demo
def _read_png(path: Path) -> tuple[int, int]:
    """Validate the PNG container (signature, chunk CRCs), check that something was drawn on a
    white page, and return (width, height)."""
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc
        pos += 12 + length
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("L"))
    assert pixels.min() < 100 and pixels.max() == 255 and np.median(pixels) == 255
    return pixels.shape[1], pixels.shape[0]


def test_demo_quick_writes_figures(tmp_path: Path) -> None:
    proc = run_cli("demo", "--quick", "--out", "out", "--seed", "1", cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # no progress bars without a terminal; the only stderr allowed is the documented warning of a
    # build without the extension (each warning is two lines: the message and the source line)
    lines = proc.stderr.splitlines()
    other = [
        line
        for i, line in enumerate(lines)
        if "FastganFallbackWarning" not in line and not (i and "FastganFallbackWarning" in lines[i - 1])
    ]
    assert other == [], proc.stderr[-3000:]
    if _ext.HAS_EXT:
        assert proc.stderr == ""
    out = tmp_path / "out"
    for name in ("fits.png", "truncation.png"):
        w, h = _read_png(out / name)
        assert w > 800 and h > 400
    results = json.loads((out / "results.json").read_text())
    names = [f["label"] for f in results["fits"]]
    assert names == ["GAN", "KL", "sq. Hellinger"]
    assert [f["divergence"] for f in results["fits"]] == ["gan", "kl", "squared_hellinger"]
    for f in results["fits"]:
        for key in ("fid", "precision", "recall", "density", "coverage"):
            assert key in f
    ring = results["truncation"]["targets"]["ring"]
    assert [r["psi"] for r in ring] == [0.25, 0.5, 0.75, 1.0]
    assert all(0.0 <= r["precision"] <= 1.0 and 0.0 <= r["recall"] <= 1.0 for r in ring)
    # the table printed for the user carries the same numbers
    gan_line = next(line for line in proc.stdout.splitlines() if line.startswith("GAN "))
    assert float(gan_line.split()[1]) == pytest.approx(results["fits"][0]["fid"], rel=1e-5)


def test_demo_divergence_aliases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names go through fastgan.divergences.get_divergence (aliases included)."""
    assert (
        cli.main(
            [
                "demo",
                "--quick",
                "--steps",
                "2",
                "--out",
                str(tmp_path / "o"),
                "--divergences",
                "tv, hellinger",
                "--json",
            ]
        )
        == 0
    )
    results = json.loads(capsys.readouterr().out)
    assert [f["divergence"] for f in results["fits"]] == ["total_variation", "squared_hellinger"]
    assert json.loads((tmp_path / "o" / "results.json").read_text()) == results


def test_demo_rejects_unknown_divergence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["demo", "--quick", "--out", str(tmp_path / "o"), "--divergences", "gan,nonsense"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "nonsense" in err and len(err.splitlines()) == 1


# -------------------------------------------------------------------------------- image folders
def _image_folder(path: Path, seed: int, n: int = 3) -> Path:
    """A folder of uint8 image stacks saved as .npy (readable without Pillow)."""
    path.mkdir()
    g = np.random.default_rng(seed)
    np.save(path / "a.npy", g.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))
    np.save(path / "b.npy", g.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))
    return path


def test_image_folder_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = _image_folder(tmp_path / "real", 0)
    fake = _image_folder(tmp_path / "fake", 1)
    rc = cli.main(["eval", "--real", str(real), "--fake", str(fake), "--weights", str(tmp_path / "nope.pth")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "weights" in err and "no such file" in err, err
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    rc = cli.main(["eval", "--real", str(real), "--fake", str(fake), "--weights", str(tmp_path / "junk.pth")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "junk.pth" in err and "state dict" in err, err


@pytest.mark.slow
def test_image_folders_match_extract_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Folders through the CLI == extract_features + fid with the same (random) Inception weights."""
    from fastgan.features import InceptionV3FID, extract_features

    torch.manual_seed(0)
    net = InceptionV3FID(random_init=True)
    weights = tmp_path / "inception_random.pth"
    torch.save(net.state_dict(), weights)
    real = _image_folder(tmp_path / "real", 0, n=1)
    fake = _image_folder(tmp_path / "fake", 1, n=1)
    assert (
        cli.main(
            [
                "eval",
                "--real",
                str(real),
                "--fake",
                str(fake),
                "--metrics",
                "fid",
                "--weights",
                str(weights),
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["real"]["kind"] == "images" and report["real"]["n"] == 2
    assert report["real"]["arrays"]["inception"] == [2, 2048]
    fr = extract_features(str(real), net, progress=False)
    ff = extract_features(str(fake), net, progress=False)
    assert report["metrics"]["fid"] == pytest.approx(float(fm.fid(fr, ff)), rel=1e-6)


# ----------------------------------------------------------------------- errors, imports, tables
@pytest.mark.parametrize("exc_type", [RuntimeError, TypeError])
def test_library_bug_is_not_a_user_error(
    feats: dict[str, Any], monkeypatch: pytest.MonkeyPatch, exc_type: type[Exception]
) -> None:
    """Only user errors become exit status 2; a bug in the library keeps its exception and traceback."""

    def broken(*args: Any, **kwargs: Any) -> float:
        raise exc_type("a bug inside the metric")

    monkeypatch.setattr(fm, "fid", broken)  # what evaluate computes FID with
    d = feats["dir"]
    with pytest.raises(exc_type, match="a bug inside the metric"):
        cli.main(["eval", "--real", str(d / "real.npy"), "--fake", str(d / "fake.npy"), "--metrics", "fid"])


def test_library_bug_exit_status_in_subprocess(tmp_path: Path, feats: dict[str, Any]) -> None:
    d = feats["dir"]
    code = textwrap.dedent(f"""
        import sys
        import fastgan.metrics as fm
        from fastgan.cli import main

        def broken(*args, **kwargs):
            raise RuntimeError("a bug inside the metric")

        fm.KID.compute = broken
        sys.exit(main(["eval", "--real", {str(d / "real.npy")!r}, "--fake", {str(d / "fake.npy")!r},
                       "--metrics", "kid"]))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" in proc.stderr and "RuntimeError: a bug inside the metric" in proc.stderr


def test_eval_of_feature_files_imports_no_compiler_stack(tmp_path: Path, feats: dict[str, Any]) -> None:
    """``fastgan eval`` on feature files never loads torch._dynamo / torch._inductor (seconds of start-up)."""
    d = feats["dir"]
    code = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from fastgan.cli import main

        with contextlib.redirect_stdout(io.StringIO()):
            rc = main(["eval", "--real", {str(d / "real.npy")!r}, "--fake", {str(d / "fake.pt")!r},
                       "--metrics", "fid,kid,prdc,pr", "--kid-subsets", "5", "--json"])
        print(json.dumps({{"rc": rc, "loaded": [m for m in ("torch._dynamo", "torch._inductor") if m in sys.modules]}}))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"rc": 0, "loaded": []}


def _fastgan_imports(path: Path) -> set[str]:
    """Every fastgan module imported anywhere in ``path`` (module level or inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.startswith("fastgan")}


def test_cli_and_demo_import_graph_has_no_cycle() -> None:
    root = Path(fastgan.__file__).parent
    assert not any(n.startswith("fastgan.cli") for n in _fastgan_imports(root / "demo.py"))
    assert _fastgan_imports(root / "cli" / "table.py") == set()
    # the library never reaches back into the command line
    for module in sorted(root.rglob("*.py")):
        if "cli" not in module.relative_to(root).parts and module.name != "__main__.py":
            assert not any(n.startswith("fastgan.cli") for n in _fastgan_imports(module)), module
    assert not (root / "_io.py").exists() and not (root / "_plot.py").exists()


def test_format_table() -> None:
    table = format_table([["a", 1.5, 2], ["long name", 1e-5, float("nan")]], header=["name", "x", "y"])
    assert table.splitlines() == [
        "name                  x    y",
        "---------  ------------  ---",
        "a              1.500000    2",
        "long name  1.000000e-05  nan",
    ]
    assert format_table([]) == ""
