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
    flags = {o.flag: (name, o.name) for name, spec in METRICS.items() for o in spec.options if o.flag}
    assert {flag: v[:2] for flag, v in commands.OPTION_FLAGS.items()} == flags


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
    assert (kid["subsets"], kid["subset_size"], kid["subset_rule"]) == (
        p.kid_subsets,
        p.kid_subset_size,
        p.kid_subset_rule,
    )
    want = (p.kid_degree, p.kid_gamma, p.kid_coef0, 0 if p.kid_seed is None else p.kid_seed)
    assert (kid["degree"], kid["gamma"], kid["coef0"], kid["seed"]) == want
    assert resolve_options("is", p) == {
        "splits": p.is_splits,
        "shuffle_seed": p.is_shuffle_seed,
        "split_size": p.is_split_size,
    }
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


def test_options_mapping_and_shared_keywords() -> None:
    p = get_preset("torch-fidelity")
    # one shared keyword reaches every metric that declares it; the per-metric mapping wins
    given = registry.given_options(["prdc", "pr", "p_precision_recall", "kid"], {"pr": {"k": 7}}, k=2)
    assert given == {"prdc": {"k": 2}, "pr": {"k": 7}, "p_precision_recall": {"k": 2}, "kid": {}}
    assert registry.keyword_targets("k") == ["prdc", "pr", "p_precision_recall"]
    assert resolve_options("prdc", p, options={"k": 9})["k"] == 9
    # the conventions alone are enough (what evaluate passes): the same options as the full preset
    for name in METRICS:
        assert (
            resolve_options(name, p.conventions) == resolve_options(name, p) == resolve_options(name, p.name)
        )
    with pytest.raises(ValueError, match=r"options\['prdc'\]: unknown option"):
        registry.given_options(["prdc"], {"prdc": {"kk": 3}})
    with pytest.raises(ValueError, match="unknown metric"):
        registry.given_options(["prdc"], {"nope": {"k": 3}})
    with pytest.raises(ValueError, match=r"options\['pr'\]\['k'\]"):
        registry.given_options(["pr"], {"pr": {"k": 0}})


def test_metrics_do_not_import_the_networks() -> None:
    import subprocess
    import sys

    code = (
        "import sys, fastgan.metrics as fm, fastgan.metrics.kernel_distance, fastgan.metrics.manifold, "
        "fastgan.metrics.inception, fastgan.metrics.conventions; "
        "print(any(m.startswith('fastgan.features') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_preset_composes_pipeline_and_conventions() -> None:
    from fastgan.metrics.conventions import CONVENTIONS, get_conventions

    for name, p in PRESETS.items():
        assert p.conventions is CONVENTIONS[name] and get_conventions(p) is p.conventions
        assert get_conventions(name) is p.conventions
        row = p.as_dict()
        assert all(getattr(p, key) == value for key, value in row.items() if key != "dtype")
        assert row["dtype"] == "float32" and p.dtype is torch.float32 and p.resize == p.pipeline.resize
