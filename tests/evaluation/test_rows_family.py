"""The precision / recall family rows (prd, rarity, clipped_dc, kid_rbf, mind): reachable by name from
fastgan.evaluate and fastgan eval, equal to the functions called directly, options and seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fastgan.metrics as fm
from fastgan import cli
from fastgan.evaluation import evaluate
from fastgan.evaluation.registry import METRICS

NAMES = ["prd", "rarity", "clipped_dc", "kid_rbf", "mind"]


@pytest.fixture(scope="module")
def data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "real": torch.randn(150, 10, generator=g, dtype=torch.float64),
        "fake": 1.1 * torch.randn(150, 10, generator=g, dtype=torch.float64) + 0.2,
    }


def test_rows_registered() -> None:
    for name in NAMES:
        spec = METRICS[name]
        assert spec.state == "bank" and spec.keys and spec.description


def test_evaluate_equals_direct_calls(data: dict[str, torch.Tensor]) -> None:
    r, f = data["real"], data["fake"]
    res = evaluate(
        r,
        f,
        metrics=NAMES,
        options={"prd": {"kmeans": "torch", "num_runs": 2}, "kid_rbf": {"subsets": 5, "subset_size": 60}},
    )
    want_prd = fm.prd(r, f, kmeans="torch", num_runs=2, seed=0)
    assert (res["prd_f_beta"], res["prd_f_beta_inv"]) == (want_prd["prd_f_beta"], want_prd["prd_f_beta_inv"])
    want_r = fm.rarity(r, f, k=3)
    assert (res["rarity_mean"], res["rarity_inside"]) == (want_r["rarity_mean"], want_r["rarity_inside"])
    want_c = fm.clipped_density_coverage(r, f, 5)
    assert res["clipped_density"] == want_c["clipped_density"]
    assert res["clipped_coverage"] == want_c["clipped_coverage"]
    want_k = fm.kid_rbf(r, f, 5, 60, 10.0, seed=0)
    assert (res["kid_rbf_mean"], res["kid_rbf_std"]) == (want_k["kid_rbf_mean"], want_k["kid_rbf_std"])
    assert res["mind"] == fm.mind(r, f, projections=1000, seed=2020)
    assert res.info["options"]["mind"] == {"projections": 1000, "seed": 2020, "equal_sizes": True}


def test_kid_rbf_follows_the_preset_and_seed(data: dict[str, torch.Tensor]) -> None:
    r, f = data["real"], data["fake"]
    res = evaluate(r, f, metrics="kid_rbf", kid_subsets=3, kid_subset_size=40, preset="torch-fidelity")
    want = fm.kid_rbf(r, f, 3, 40, preset="torch-fidelity", seed=2020)
    assert res["kid_rbf_mean"] == want["kid_rbf_mean"]
    res = evaluate(r, f, metrics="kid_rbf", kid_subsets=3, kid_subset_size=40, seed=4)
    assert res["kid_rbf_mean"] == fm.kid_rbf(r, f, 3, 40, seed=4)["kid_rbf_mean"]
    # the default subset size (1000) is reduced to the sample count, with KID's note
    res = evaluate(r, f, metrics="kid_rbf", kid_subsets=2)
    assert res.info["options"]["kid_rbf"]["subset_size"] == 150 and res.notes


def test_cli_eval_by_name(
    tmp_path: Path, data: dict[str, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    np.save(tmp_path / "real.npy", data["real"].numpy())
    np.save(tmp_path / "fake.npy", data["fake"].numpy())
    argv = ["eval", str(tmp_path / "real.npy"), str(tmp_path / "fake.npy"), "--json"]
    assert cli.main(argv + ["--metrics", "rarity,clipped_dc,mind,kid_rbf,prd", "--kid-subsets", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["computed"] == ["rarity", "clipped_dc", "mind", "kid_rbf", "prd"]
    values = report["metrics"]
    r, f = data["real"], data["fake"]
    assert values["mind"] == fm.mind(r, f)
    assert values["clipped_coverage"] == fm.clipped_coverage(r, f)
    assert set(values) >= {"prd_f_beta", "prd_f_beta_inv", "rarity_mean", "rarity_inside", "kid_rbf_mean"}
