"""The metric table: names, keys, needs, options from the presets, factories."""

from __future__ import annotations

import pytest
import torch

import fastgan.metrics as fm
from fastgan.cli import commands
from fastgan.evaluation import registry
from fastgan.evaluation.registry import DEFAULT_METRICS, METRICS, get_metric, parse_metrics, resolve_options
from fastgan.features.presets import PRESET_NAMES, PRESETS, get_preset


def test_table_is_well_formed() -> None:
    keys: list[str] = []
    for name, spec in METRICS.items():
        assert spec.name == name and name == name.lower()
        assert spec.needs in registry.NEEDS and spec.state in registry.STATES
        assert spec.keys and all(isinstance(k, str) for k in spec.keys)
        keys.extend(spec.keys)
    assert len(keys) == len(set(keys)), "two metrics report the same key"
    assert [m for m, s in METRICS.items() if s.stats_ok] == ["fid"]
    assert set(DEFAULT_METRICS) <= set(METRICS)
    # the classic keys are the library's KEY_* constants
    assert METRICS["fid"].keys == (fm.KEY_FID,)
    assert METRICS["kid"].keys == (fm.KEY_KID_MEAN, fm.KEY_KID_STD)
    assert METRICS["is"].keys == (fm.KEY_IS_MEAN, fm.KEY_IS_STD)
    assert METRICS["prdc"].keys == (fm.KEY_PRECISION, fm.KEY_RECALL, fm.KEY_DENSITY, fm.KEY_COVERAGE)
    assert METRICS["cmmd"].keys == (fm.KEY_CMMD,) and METRICS["vendi"].keys == (fm.KEY_VENDI,)
    assert METRICS["sliced_wasserstein"].keys == (fm.KEY_SLICED_WASSERSTEIN,)
    assert METRICS["p_precision_recall"].keys == (fm.KEY_P_PRECISION, fm.KEY_P_RECALL)


def test_cli_spells_out_the_tables() -> None:
    """The CLI lists names without importing the tables (cheap --help); they must agree."""
    assert commands.METRIC_NAMES == tuple(METRICS)
    assert commands.PRESET_NAMES == PRESET_NAMES


def test_parse_metrics() -> None:
    assert parse_metrics(None) == list(DEFAULT_METRICS)
    assert parse_metrics("FID, kid,fid") == ["fid", "kid"]
    assert parse_metrics(["sliced-wasserstein", "is"]) == ["sliced_wasserstein", "is"]
    assert parse_metrics("all") == ["fid", "kid", "prdc", "pr"]
    assert parse_metrics("is,all") == ["is", "fid", "kid", "prdc", "pr"]
    with pytest.raises(ValueError, match=r"^--metrics: unknown metric 'bogus'; choose from fid, kid"):
        parse_metrics("fid,bogus", arg="--metrics")
    with pytest.raises(ValueError, match="metrics: no metric named"):
        parse_metrics(" , ")
    with pytest.raises(TypeError, match="metrics"):
        parse_metrics([3])  # type: ignore[list-item]
    assert get_metric("P-Precision-Recall").name == "p_precision_recall"


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_options_follow_the_preset(preset: str) -> None:
    p = get_preset(preset)
    kid = resolve_options("kid", p)
    assert (kid["subsets"], kid["subset_size"], kid["subset_rule"]) == (p.kid_subsets, p.kid_subset_size,
                                                                         p.kid_subset_rule)
    want = (p.kid_degree, p.kid_gamma, p.kid_coef0, 0 if p.kid_seed is None else p.kid_seed)
    assert (kid["degree"], kid["gamma"], kid["coef0"], kid["seed"]) == want
    assert resolve_options("is", p) == {"splits": p.is_splits, "shuffle_seed": p.is_shuffle_seed}
    assert resolve_options("pr", p) == {"k": p.pr_k, "strict": not p.pr_inclusive}
    assert resolve_options("prdc", p) == {"k": p.prdc_k, "strict": not p.pr_inclusive}
    assert resolve_options("sliced_wasserstein", p)["seed"] == 0
    # keyword arguments win over the preset
    kid = resolve_options("kid", p, kid_subsets=7, kid_subset_size=9, seed=3)
    assert (kid["subsets"], kid["subset_size"], kid["seed"]) == (7, 9, 3)
    assert resolve_options("is", p, splits=4)["splits"] == 4
    assert resolve_options("pr", p, k=2)["k"] == 2 and resolve_options("p_precision_recall", p, k=2)["k"] == 2


def test_preset_differences_reach_the_options() -> None:
    assert resolve_options("is", PRESETS["torch-fidelity"])["shuffle_seed"] == 2020
    assert resolve_options("is", PRESETS["pytorch-fid"])["shuffle_seed"] is None
    assert resolve_options("kid", PRESETS["clean-fid"])["subset_rule"] == "clamp"
    assert resolve_options("kid", PRESETS["torch-fidelity"])["seed"] == 2020
    assert resolve_options("kid", PRESETS["clean-fid"])["seed"] == 0  # the reference's global RNG: fixed here


@pytest.mark.parametrize("name", list(METRICS))
def test_factories_build_a_metric(name: str) -> None:
    spec = METRICS[name]
    if name == "top_pr" and registry.top_pr_function() is None:
        pytest.skip("fastgan.metrics.top_precision_recall is not in this version")
    opts = resolve_options(name, get_preset(None))
    if name == "is":
        opts["num_samples"] = 20
    metric = spec.factory({**opts, "preset": get_preset("torch-fidelity")})
    assert isinstance(metric, fm.Metric)


def test_result_keys() -> None:
    assert METRICS["fid"].result(1.5) == {"fid": 1.5}
    got = METRICS["pr"].result({"precision": 0.5, "recall": 0.25})
    assert got == {"pr_precision": 0.5, "pr_recall": 0.25}
    with pytest.raises(RuntimeError, match="lacks keys"):
        METRICS["kid"].result({"kid_mean": 1.0})
    assert isinstance(METRICS["fid"].result(torch.tensor(2.0))["fid"], float)
