"""fastgan.evaluate(): equal to the metric functions called directly; one pass per input; errors; JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fastgan
import fastgan.metrics as fm
from fastgan.evaluation import EvalResult, Sampler, evaluate
from fastgan.features.presets import prepare_pixels
from fastgan.metrics.inception import torch_fidelity_order


@pytest.fixture(scope="module")
def data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "real": torch.randn(120, 12, generator=g, dtype=torch.float64),
        "fake": 0.9 * torch.randn(97, 12, generator=g, dtype=torch.float64) + 0.3,
        "logits": 3 * torch.randn(97, 10, generator=g, dtype=torch.float64),
    }


# ----------------------------------------------------------------------------- equal to direct calls
def test_features_equal_direct_calls(data: dict[str, torch.Tensor]) -> None:
    r, f, lg = data["real"], data["fake"], data["logits"]
    res = evaluate(r, f, metrics="fid,kid,prdc,pr,is", logits=lg, kid_subset_size=50)
    assert list(res) == [
        "fid",
        "kid_mean",
        "kid_std",
        "precision",
        "recall",
        "density",
        "coverage",
        "pr_precision",
        "pr_recall",
        "is_mean",
        "is_std",
    ]
    assert res["fid"] == pytest.approx(fm.fid(r, f), rel=1e-12)
    one = fm.FID()
    one.update(r, real=True)
    one.update(f, real=False)
    assert res["fid"] == one.compute()
    kid = fm.kid(r, f, subsets=100, subset_size=50, generator=torch.Generator().manual_seed(0))
    assert (res["kid_mean"], res["kid_std"]) == (kid["kid_mean"], kid["kid_std"])
    assert {k: res[k] for k in ("precision", "recall", "density", "coverage")} == fm.prdc(r, f, k=5)
    pr = fm.precision_recall(r, f, k=3)
    assert (res["pr_precision"], res["pr_recall"]) == (pr["precision"], pr["recall"])
    isc = fm.inception_score(lg, splits=10)
    assert (res["is_mean"], res["is_std"]) == (isc["is_mean"], isc["is_std"])
    assert res.info["options"]["kid"]["subset_size"] == 50 and res.info["options"]["prdc"]["k"] == 5
    assert res.notes == []


def test_options_reach_the_metrics(data: dict[str, torch.Tensor]) -> None:
    r, f, lg = data["real"], data["fake"], data["logits"]
    res = evaluate(
        r,
        f,
        metrics=["kid", "prdc", "is"],
        logits=lg,
        k=3,
        kid_subsets=7,
        kid_subset_size=20,
        splits=4,
        seed=5,
    )
    kid = fm.kid(r, f, subsets=7, subset_size=20, generator=torch.Generator().manual_seed(5))
    assert (res["kid_mean"], res["kid_std"]) == (kid["kid_mean"], kid["kid_std"])
    assert res["coverage"] == fm.prdc(r, f, k=3)["coverage"]
    assert res["is_mean"] == fm.inception_score(lg, splits=4)["is_mean"]


def test_per_metric_options_and_the_deprecated_k(data: dict[str, torch.Tensor]) -> None:
    r, f = data["real"], data["fake"]
    res = evaluate(r, f, metrics="prdc,pr,p_precision_recall", options={"prdc": {"k": 3}, "pr": {"k": 2}})
    assert res.info["options"]["prdc"]["k"] == 3 and res.info["options"]["pr"]["k"] == 2
    assert res.info["options"]["p_precision_recall"]["k"] == 4  # its default
    assert res["coverage"] == fm.prdc(r, f, k=3)["coverage"]
    assert res["pr_recall"] == fm.precision_recall(r, f, k=2)["recall"]
    # k= still sets all three at once, as before, with a DeprecationWarning naming them
    with pytest.warns(DeprecationWarning, match="prdc, pr, p_precision_recall"):
        old = evaluate(r, f, metrics="prdc,pr,p_precision_recall", k=2)
    assert all(old.info["options"][m]["k"] == 2 for m in ("prdc", "pr", "p_precision_recall"))
    new = evaluate(
        r,
        f,
        metrics="prdc,pr,p_precision_recall",
        options={"prdc": {"k": 2}, "pr": {"k": 2}, "p_precision_recall": {"k": 2}},
    )
    assert dict(old) == dict(new)
    with pytest.raises(ValueError, match="options"):
        evaluate(r, f, metrics="prdc", options={"prdc": {"neighbours": 3}})


def test_torch_fidelity_preset_shuffles_the_inception_score(data: dict[str, torch.Tensor]) -> None:
    lg = data["logits"]
    res = evaluate(data["real"], data["fake"], metrics="is", logits=lg, preset="torch-fidelity")
    want = fm.inception_score(lg, splits=10, order=torch_fidelity_order(lg.shape[0], 2020))
    # the rows are summed in input order (split by index), not permuted first: equal up to rounding
    assert res["is_mean"] == pytest.approx(want["is_mean"], rel=1e-12)
    assert res["is_std"] == pytest.approx(want["is_std"], rel=1e-10)
    assert res["is_mean"] != fm.inception_score(lg, splits=10)["is_mean"]


@pytest.mark.parametrize("preset", ["torch-fidelity", "clean-fid"])
def test_kid_follows_the_preset(data: dict[str, torch.Tensor], preset: str) -> None:
    """The preset's subset draws (numpy RandomState, generated rows first) and seed."""
    r, f = data["real"], data["fake"]
    res = evaluate(r, f, metrics="kid", kid_subsets=5, kid_subset_size=30, preset=preset)
    seed = 2020 if preset == "torch-fidelity" else 0
    want = fm.kid(r, f, subsets=5, subset_size=30, preset=preset, seed=seed)
    assert (res["kid_mean"], res["kid_std"]) == (want["kid_mean"], want["kid_std"])
    assert res.info["options"]["kid"]["seed"] == seed
    other = fm.kid(r, f, subsets=5, subset_size=30, generator=torch.Generator().manual_seed(seed))
    assert res["kid_mean"] != other["kid_mean"]


def test_kid_subset_size_rule(data: dict[str, torch.Tensor]) -> None:
    r, f = data["real"], data["fake"]
    # default size 1000 > 97 samples: reduced, with a note
    res = evaluate(r, f, metrics="kid", kid_subsets=3)
    assert res.info["options"]["kid"]["subset_size"] == 97
    assert any("subset size reduced from 1000 to 97" in n for n in res.notes)
    want = fm.kid(r, f, subsets=3, subset_size=97, generator=torch.Generator().manual_seed(0))
    assert res["kid_mean"] == want["kid_mean"]
    # an explicit size too large: an error under the pytorch-fid / torch-fidelity rule ...
    with pytest.raises(ValueError, match="^kid_subset_size: 500 is larger than the number of fake samples"):
        evaluate(r, f, metrics="kid", kid_subset_size=500)
    # ... and reduced under clean-fid's rule
    res = evaluate(r, f, metrics="kid", kid_subsets=3, kid_subset_size=500, preset="clean-fid")
    assert res.info["options"]["kid"]["subset_size"] == 97


def test_newer_metrics_equal_direct_calls(data: dict[str, torch.Tensor]) -> None:
    r, f = data["real"], data["fake"]
    names = ["fd", "cmmd", "vendi", "sliced_wasserstein", "p_precision_recall"]
    res = evaluate(r, f, metrics=names, seed=2)
    assert res["fd"] == pytest.approx(fm.fd(r, f), rel=1e-12)
    assert res["cmmd"] == fm.cmmd(r, f)
    assert res["vendi"] == fm.vendi(f)
    sw = fm.sliced_wasserstein(r, f, generator=torch.Generator().manual_seed(2))
    assert res["sliced_wasserstein"] == sw
    ppr = fm.p_precision_recall(r, f, k=4)
    assert (res["p_precision"], res["p_recall"]) == (ppr["p_precision"], ppr["p_recall"])


def test_top_pr(data: dict[str, torch.Tensor]) -> None:
    top = getattr(fm, "top_precision_recall", None)
    if top is None:
        pytest.skip("fastgan.metrics.top_precision_recall is not in this version")
    r, f = data["real"], data["fake"]
    res = evaluate(r, f, metrics="top_pr")
    want = top(r, f)
    assert (res["top_precision"], res["top_recall"]) == (want["top_precision"], want["top_recall"])


def test_statistics_inputs(data: dict[str, torch.Tensor]) -> None:
    r, f = data["real"], data["fake"]
    st = fm.FeatureStats()
    st.update(r)
    res = evaluate(st, f)  # default metrics: reduced to fid, with a note
    assert list(res) == ["fid"] and any("only fid" in n for n in res.notes)
    assert res["fid"] == pytest.approx(fm.fid(r, f), rel=1e-10)
    res2 = evaluate(f, st)  # a fixed fake side works too (the distance is symmetric)
    assert res2["fid"] == pytest.approx(res["fid"], rel=1e-10)
    sf = fm.FeatureStats()
    sf.update(f)
    assert evaluate(st, sf)["fid"] == pytest.approx(res["fid"], rel=1e-10)
    with pytest.raises(ValueError, match="supports only fid; kid needs per-sample features"):
        evaluate(st, f, metrics="fid,kid")


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"metrics": "fid,bogus"}, "^metrics: unknown metric 'bogus'"),
        ({"metrics": []}, "^metrics: no metric named"),
        ({"k": 0}, "^k"),
        ({"kid_subsets": -1}, "^kid_subsets"),
        ({"splits": 0}, "^splits"),
        ({"batch_size": 0}, "^batch_size"),
        ({"num_workers": -1}, "^num_workers"),
        ({"preset": "nope"}, "^preset"),
        ({"metrics": "is"}, "^metrics: 'is' needs classifier logits"),
        ({"weights": "no/such/file.pth"}, "^weights: no/such/file.pth"),
        ({"group": object()}, "^group"),
    ],
)
def test_errors_name_the_argument(data: dict[str, torch.Tensor], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate(data["real"], data["fake"], **kwargs)


def test_input_errors(data: dict[str, torch.Tensor]) -> None:
    r = data["real"]
    with pytest.raises(ValueError, match=r"real and fake: feature dimensions differ \(D=12 vs D=7\)"):
        evaluate(r, torch.randn(30, 7), metrics="fid")
    with pytest.raises(ValueError, match="D=12 vs D=7"):
        evaluate(r, torch.randn(30, 7), metrics="prdc")
    bad = data["fake"].clone()
    bad[3, 1] = math.nan
    with pytest.raises(ValueError, match="fake"):
        evaluate(r, bad)
    with pytest.raises(TypeError, match="seed"):
        evaluate(r, data["fake"], seed=1.5)
    with pytest.raises(ValueError, match="prdc|k"):
        evaluate(r, data["fake"], metrics="prdc", k=500)


# ----------------------------------------------------------------------------- result object
def test_result_json_round_trip(data: dict[str, torch.Tensor]) -> None:
    res = evaluate(data["real"], data["fake"], metrics="fid,prdc")
    d = json.loads(res.to_json())
    assert d["metrics"] == dict(res) and d["computed"] == ["fid", "prdc"]
    assert d["real"]["kind"] == "features" and d["real"]["n"] == 120
    assert d["fake"]["arrays"] == {"features": [97, 12]}
    assert d["preset"]["name"] == "pytorch-fid" and d["world_size"] == 1
    assert set(d["seconds"]) >= {"total", "embed_real", "embed_fake", "network", "fid", "prdc"}
    assert d["versions"]["fastgan"] == fastgan.__version__
    back = EvalResult.from_json(res.to_json())
    assert back == res and dict(back) == dict(res) and back.info == res.info
    assert all(isinstance(v, float) for v in res.values())
    assert "fid=" in repr(res)
    with pytest.raises(ValueError, match="^d: expected"):
        EvalResult.from_dict({"fid": 1.0})


def test_module_is_callable(data: dict[str, torch.Tensor]) -> None:
    a = fastgan.evaluate(data["real"], data["fake"], metrics="fid")
    b = evaluate(data["real"], data["fake"], metrics="fid")
    assert dict(a) == dict(b)
    assert fastgan.EvalResult is EvalResult and fastgan.Sampler is Sampler


# ----------------------------------------------------------------------------- one pass over images
class TinyInception(nn.Module):
    """Inception's protocol (preprocess / embed with logits / logits_from_pool3), tiny and counting."""

    input_size = 16
    resize = "bilinear"
    has_logits = True

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 5)
        self.rows = 0
        self.calls = 0

    def preprocess(self, x: torch.Tensor, dtype: Any = None) -> torch.Tensor:
        return 2 * prepare_pixels(x, 16, pixels="unit", resize="bilinear", dtype=dtype) - 1

    def logits_from_pool3(self, f: torch.Tensor, bias: bool = False) -> torch.Tensor:
        return 30 * F.linear(f, self.fc.weight)  # confident enough for an Inception Score well above 1

    def embed(self, x: torch.Tensor, with_logits: bool = False) -> Any:
        self.rows += x.shape[0]
        self.calls += 1
        f = torch.tanh(self.conv(x)).mean(dim=(2, 3))
        return (f, self.logits_from_pool3(f)) if with_logits else f


class TinyVGG(nn.Module):
    """A plain network on float [0, 1] images (the extract_features protocol), counting."""

    input_size = 16
    resize = "bilinear"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


@pytest.fixture
def tiny_nets(monkeypatch: pytest.MonkeyPatch) -> list[nn.Module]:
    """Replace the feature networks by tiny ones; returns every network built, in order."""
    import fastgan.evaluation.embed as emb
    import fastgan.features.extract as ext

    built: list[nn.Module] = []

    def build(name: str, weights: Any = None, device: Any = None, **kwargs: Any) -> nn.Module:
        net = TinyInception() if name.startswith("incep") else TinyVGG()
        built.append(net)
        return net

    monkeypatch.setattr(ext, "build_extractor", build)
    monkeypatch.setattr(emb, "build_extractor", build)
    return built


def _images(seed: int, n: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, 20, 20), dtype=np.uint8))


def test_one_pass_feeds_every_metric(tiny_nets: list[nn.Module]) -> None:
    real, fake = _images(0, 14), _images(1, 11)
    res = evaluate(real, fake, metrics="fid,kid,prdc,is", kid_subsets=4, k=3, splits=2, batch_size=4)
    # one network, built once for both sides; every image through it exactly once
    assert [type(n).__name__ for n in tiny_nets] == ["TinyInception"]
    net = tiny_nets[0]
    assert isinstance(net, TinyInception)
    assert net.rows == 14 + 11 and net.calls == math.ceil(14 / 4) + math.ceil(11 / 4)
    assert res.info["real"]["arrays"] == {"inception": [14, 6], "logits": [14, 5]}
    # the same numbers as the metrics on the network's outputs
    ref = TinyInception()
    with torch.no_grad():
        fr, _ = ref.embed(ref.preprocess(real), with_logits=True)
        ff, lf = ref.embed(ref.preprocess(fake), with_logits=True)
    want = evaluate(fr, ff, metrics="fid,kid,prdc,is", kid_subsets=4, k=3, splits=2, logits=lf)
    assert res["fid"] == pytest.approx(want["fid"], rel=1e-9)
    for key in ("kid_mean", "kid_std", "precision", "recall", "density", "coverage", "is_mean", "is_std"):
        assert res[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key


def test_vgg_only_for_pr(tiny_nets: list[nn.Module]) -> None:
    real, fake = _images(2, 9), _images(3, 8)
    res = evaluate(real, fake, metrics="fid,pr", k=2)
    names = sorted(type(n).__name__ for n in tiny_nets)
    assert names == ["TinyInception", "TinyVGG"]
    assert all(n.rows == 9 + 8 for n in tiny_nets)  # type: ignore[attr-defined]
    assert set(res.info["fake"]["arrays"]) == {"inception", "logits", "vgg16"}
    vgg = TinyVGG()
    with torch.no_grad():
        xr = vgg(F.interpolate(real.float() / 255, size=16, mode="bilinear", align_corners=False))
        xf = vgg(F.interpolate(fake.float() / 255, size=16, mode="bilinear", align_corners=False))
    pr = fm.precision_recall(xr, xf, k=2)
    assert (res["pr_precision"], res["pr_recall"]) == (pr["precision"], pr["recall"])
    # extractor= replaces the feature network of every feature-set metric; IS keeps Inception logits
    tiny_nets.clear()
    res = evaluate(real, fake, metrics="fid,pr", extractor="vgg16", k=2)
    assert [type(n).__name__ for n in tiny_nets] == ["TinyVGG"]
    assert res.info["real"]["arrays"] == {"vgg16": [9, 4]}
    with pytest.raises(ValueError, match="'pr' on images needs VGG-16"):
        evaluate(real, fake, metrics="pr", preset="clean-fid")


def test_only_what_is_needed_is_embedded(tiny_nets: list[nn.Module]) -> None:
    real, fake = _images(7, 5), _images(8, 6)
    res = evaluate(real, fake, metrics="is", splits=2)  # the Inception Score reads the fake side only
    assert [n.rows for n in tiny_nets] == [6]  # type: ignore[attr-defined]
    assert res.info["real"]["arrays"] == {} and res.info["seconds"]["embed_real"] == 0.0
    tiny_nets.clear()
    res = evaluate(real, fake, metrics="fid", extractor="Inception-V3")  # an alias of the default network
    assert [type(n).__name__ for n in tiny_nets] == ["TinyInception"]
    assert res.info["extractor"] == "inception" and "inception" in res.info["fake"]["arrays"]


def test_cache_dir(tiny_nets: list[nn.Module], tmp_path: Any) -> None:
    real, fake = _images(5, 9), _images(6, 7)
    first = evaluate(real, fake, metrics="fid,prdc", k=2, cache_dir=tmp_path / "cache")
    assert first.info["real"]["rows_computed"] == 9 and first.info["real"]["rows_cached"] == 0
    tiny_nets.clear()
    again = evaluate(real, fake, metrics="fid,prdc", k=2, cache_dir=tmp_path / "cache")
    assert dict(again) == dict(first)
    assert again.info["real"]["rows_cached"] == 9 and again.info["fake"]["rows_cached"] == 7
    assert all(n.rows == 0 for n in tiny_nets)  # type: ignore[attr-defined]


def test_generator_input(tiny_nets: list[nn.Module]) -> None:
    """fake=Sampler(G, ...): the generated images are embedded on the fly, like the same images given."""

    class G(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 3 * 20 * 20)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.lin(z)).reshape(-1, 3, 20, 20)

    torch.manual_seed(0)
    gen = G()
    sampler = Sampler(gen, 4, n=10, seed=1, batch_size=3)
    real = _images(4, 12)
    res = evaluate(real, sampler, metrics="fid,prdc", k=2)
    images = sampler.generate(0, 10)
    assert images.dtype == torch.uint8 and images.shape == (10, 3, 20, 20)
    again = evaluate(real, images, metrics="fid,prdc", k=2)
    assert dict(res) == dict(again)
    assert res.info["fake"]["kind"] == "images"


# ----------------------------------------------------------------------------- issue 23
def test_fid_takes_the_route_of_the_direct_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """60 vs 4 rows at D = 2048 took 21.9 s in evaluate against 0.1 s in fm.fid: evaluate formed both
    2048 x 2048 covariances and eigendecomposed them. It now calls fm.fid itself, which factors the
    small sides (at most D + 1 rows); the D x D trace-sqrt must not run."""
    import fastgan.metrics.frechet as fr

    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(60, 2048, generator=g), torch.randn(4, 2048, generator=g)
    want = fm.fid(r, f)
    routes: list[tuple[bool, bool]] = []
    real_sides = fr._fid_sides

    def spy(a: Any, b: Any, impl: str) -> Any:
        routes.append((a.z is not None, b.z is not None))
        return real_sides(a, b, impl)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the D x D covariance route was taken")

    monkeypatch.setattr(fr, "_fid_sides", spy)
    monkeypatch.setattr(fr, "_trace_sqrt_fid", refuse)
    monkeypatch.setattr(fm.FeatureStats, "update", refuse)
    res = evaluate(r, f, metrics="fid")
    assert routes == [(True, True)]  # both sides as Helmert factors, as fm.fid does
    assert res["fid"] == want
    # a statistics input with the small side: the factor of the small side against the covariance
    routes.clear()
    monkeypatch.undo()
    st = fm.FeatureStats.from_features(r)
    want = fm.fid(st, f)
    monkeypatch.setattr(fr, "_fid_sides", spy)
    monkeypatch.setattr(fr, "_trace_sqrt_fid", refuse)
    assert evaluate(st, f, metrics="fid")["fid"] == want
    assert routes == [(False, True)]


@pytest.mark.parametrize(
    "device,match",
    [
        ("foo", "^device: 'foo' is not a torch device"),
        ("cuda:99", "^device: 'cuda:99': "),
        (3.5, "^device: expected a device name"),
    ],
)
def test_bad_device_is_one_line_naming_it(data: dict[str, torch.Tensor], device: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        evaluate(data["real"], data["fake"], metrics="fid", device=device)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_one_line_naming_device(data: dict[str, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="^device: 'cuda': no CUDA GPU is available here"):
        evaluate(data["real"], data["fake"], metrics="fid", device="cuda")


def test_statistics_files_with_a_bad_covariance_name_the_input(tmp_path: Any) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, mu=np.zeros(2), sigma=np.eye(2))
    for sigma, match in (
        (np.diag([4.0, -3.0]), "most negative eigenvalue -3"),
        (-np.eye(2), "most negative eigenvalue -1"),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), "not symmetric"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "non-finite"),
    ):
        np.savez(b, mu=np.zeros(2), sigma=sigma)
        with pytest.raises(ValueError, match=f"^fake: {b}: invalid statistics file: 'sigma'.*{match}"):
            evaluate(a, b, metrics="fid")
        with pytest.raises(ValueError, match=f"^real: {b}: "):
            evaluate(b, a, metrics="fid")


def _png_folder(root: Any, n: int, bad: int | None = None) -> Any:
    from PIL import Image

    root.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        path = root / f"{i:03d}.png"
        if i == bad:
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
        else:
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path)
    return root


def test_cache_made_with_skip_bad_does_not_serve_a_run_without_it(
    tiny_nets: list[nn.Module], tmp_path: Any
) -> None:
    """Issue 23 case 5: the cache ignored skip_bad, so a run without it succeeded on a cache filled
    with it, where an uncached run fails on the unreadable file."""
    from fastgan.evaluation.sources import ImageReadError

    folder = _png_folder(tmp_path / "imgs", 7, bad=2)
    other = _images(9, 6)
    kw: dict[str, Any] = dict(metrics="fid", batch_size=2)
    with pytest.raises(ImageReadError, match="002.png"):
        evaluate(folder, other, **kw)
    cache = tmp_path / "cache"
    first = evaluate(folder, other, skip_bad=True, cache_dir=cache, **kw)
    assert first.info["real"]["skipped"] == 1 and first.info["real"]["arrays"]["inception"][0] == 6
    with pytest.raises(ImageReadError, match="002.png"):
        evaluate(folder, other, cache_dir=cache, **kw)
    again = evaluate(folder, other, skip_bad=True, cache_dir=cache, **kw)
    assert again.info["real"]["rows_computed"] == 0 and dict(again) == dict(first)


def test_cache_inside_the_input_folder_hits_with_skip_bad(tiny_nets: list[nn.Module], tmp_path: Any) -> None:
    """Issue 23 case 6: with the cache inside an input folder and skip_bad, every run listed the cache's
    own chunk files as (unreadable) images, so the fingerprint changed and the cache never hit. The
    listing now leaves the cache out (sources.list_folder, evaluate's exclude=cache_dir) and the key
    holds nothing that changes from run to run."""
    folder = _png_folder(tmp_path / "imgs", 6)
    cache = folder / "cache"
    other = _images(10, 5)
    kw: dict[str, Any] = dict(metrics="fid", batch_size=2, skip_bad=True, cache_dir=cache)
    first = evaluate(folder, other, **kw)
    assert first.info["real"]["rows_computed"] == 6
    fingerprint = first.info["real"]["fingerprint"]
    for _ in range(2):
        again = evaluate(folder, other, **kw)
        assert again.info["real"]["fingerprint"] == fingerprint
        assert (again.info["real"]["rows_cached"], again.info["real"]["rows_computed"]) == (6, 0)
        assert again.info["real"]["n"] == 6 and "skipped" not in again.info["real"]
        assert dict(again) == dict(first)
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert len(entries) == 2  # one per input (real folder, fake array), never a new one per run
