"""examples/digits_fgan.py in its quick mode: what must hold for f-GANs evaluated on real digits.

One quick run (six divergences, 300 steps each, about 30 s on two CPU cores) is shared by the
tests below. The classifier the example trains is wrapped so that every forward pass it makes
through ``fastgan.features.extract_features`` is recorded: that is how the tests check that the
real set is embedded exactly once however many in-loop evaluations and truncation sweeps follow.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("sklearn", reason="the digits example needs scikit-learn (pip install 'fastgan[digits]')")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_fgan.py"


def _load_example() -> Any:
    name = "fastgan_example_digits_fgan"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(mod)
    return mod


def _keys(u8: torch.Tensor) -> set[bytes]:
    """One key per image (uint8 [N, 1, 8, 8]): its 64 pixel bytes."""
    return {row.numpy().tobytes() for row in u8.reshape(u8.shape[0], -1)}


class _Recorder:
    """Wraps the classifier's two entry points; sorts every batch it sees by where it came from."""

    def __init__(self, train_keys: set[bytes], test_keys: set[bytes]) -> None:
        self.train_keys, self.test_keys = train_keys, test_keys
        self.calls: list[tuple[str, int]] = []  # (source, rows) per forward pass

    def source(self, x: torch.Tensor) -> str:
        # extract_features hands the module float images in [0, 1] (uint8 / 255), 3 equal channels
        u8 = (x[:, 0] * 255.0).round().to(torch.uint8).reshape(x.shape[0], -1)
        keys = [row.numpy().tobytes() for row in u8]
        if all(k in self.train_keys for k in keys):
            return "real_train"
        if all(k in self.test_keys for k in keys):
            return "real_held_out"
        return "generated"

    def wrap(self, clf: torch.nn.Module) -> None:
        forward, both = clf.forward, clf.features_and_logits

        def counted_forward(x: torch.Tensor) -> torch.Tensor:
            self.calls.append((self.source(x), x.shape[0]))
            return forward(x)

        def counted_both(x: torch.Tensor) -> Any:
            self.calls.append((self.source(x), x.shape[0]))
            return both(x)

        clf.forward = counted_forward  # type: ignore[method-assign]
        clf.features_and_logits = counted_both  # type: ignore[method-assign]

    def rows(self, source: str) -> int:
        return sum(n for s, n in self.calls if s == source)

    def count(self, source: str) -> int:
        return sum(1 for s, _ in self.calls if s == source)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mod = _load_example()
    out_dir = tmp_path_factory.mktemp("digits")
    cfg = mod.Config.make(quick=True)
    data = mod.load_digits_split(cfg.seed, cfg.test_fraction)
    rec = _Recorder(_keys(data.train_u8), _keys(data.test_u8))
    train_classifier = mod.train_classifier

    def train_and_wrap(*args: Any, **kwargs: Any) -> Any:
        clf, info = train_classifier(*args, **kwargs)
        rec.wrap(clf)
        return clf, info

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mod, "train_classifier", train_and_wrap)
        results = mod.main(["--quick", "--out", str(out_dir)])
    return {"mod": mod, "results": results, "out": out_dir, "rec": rec, "cfg": cfg, "data": data}


def test_outputs_written(quick_run: dict[str, Any]) -> None:
    out = quick_run["out"]
    for name in ("samples.png", "curves.png", "truncation.png", "results.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["held_out_real"]["fid"] == pytest.approx(quick_run["results"]["held_out_real"]["fid"])
    assert set(on_disk["runs"]) == set(quick_run["mod"].DIVERGENCES)


def test_classifier_beats_chance_by_far(quick_run: dict[str, Any]) -> None:
    c = quick_run["results"]["classifier"]
    assert c["chance"] == pytest.approx(0.1)
    assert c["test_accuracy"] >= 0.9, c  # 9x chance on digits it never saw


def test_training_improves_every_divergence(quick_run: dict[str, Any]) -> None:
    runs = quick_run["results"]["runs"]
    assert list(runs) == list(quick_run["mod"].DIVERGENCES)
    for name, r in runs.items():
        assert r["status"] != "diverged", (name, r["note"])
        u, f = r["untrained"], r["final"]
        assert r["steps_done"] == quick_run["cfg"].steps
        assert math.isfinite(f["fid"]) and math.isfinite(f["is_mean"]), name
        assert f["fid"] < 0.5 * u["fid"], (name, u["fid"], f["fid"])
        assert f["is_mean"] > u["is_mean"] + 1.0, (name, u["is_mean"], f["is_mean"])
        assert f["recall"] > u["recall"] and f["coverage"] > u["coverage"], name


def test_held_out_real_fid_is_the_smallest(quick_run: dict[str, Any]) -> None:
    res = quick_run["results"]
    floor = res["held_out_real"]
    assert floor["n"] == res["data"]["n_eval"]  # as many samples as every generator gets
    fids = [h["fid"] for r in res["runs"].values() for h in r["history"]]
    fids += [row["fid"] for r in res["runs"].values() for row in r["truncation"]]
    assert len(fids) > 0
    assert floor["fid"] < min(fids), (floor["fid"], min(fids))
    assert floor["is_mean"] > max(r["final"]["is_mean"] for r in res["runs"].values())


def test_real_set_embedded_once(quick_run: dict[str, Any]) -> None:
    rec: _Recorder = quick_run["rec"]
    res, cfg, data = quick_run["results"], quick_run["cfg"], quick_run["data"]
    n_train, n_test = data.train_u8.shape[0], data.test_u8.shape[0]
    per_pass = -(-n_train // cfg.eval_batch)
    # the training split went through the classifier exactly once (its features and statistics
    # are reused by every in-loop evaluation and every truncation sweep), the held-out split once
    assert rec.rows("real_train") == n_train
    assert rec.count("real_train") == per_pass
    assert rec.rows("real_held_out") == n_test
    # ... while the generators were embedded at every evaluation and every psi of the sweeps
    n_evals = sum(r["n_evals"] for r in res["runs"].values())
    assert n_evals == len(res["runs"]) * (cfg.steps // cfg.eval_every + 1)
    n_sweep = sum(len(r["truncation"]) for r in res["runs"].values())
    assert rec.rows("generated") == (n_evals + n_sweep) * res["data"]["n_eval"]
