"""The ADM preset, ADM reference batches as inputs, and the named protocols through
``fastgan.evaluate``, with a tiny stand-in Inception (the real weights are not available here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

import fastgan
from fastgan.evaluation.protocols import PROTOCOLS, get_protocol, protocol_arguments
from fastgan.metrics import save_adm_reference


class TinyInception(torch.nn.Module):
    """The interface of InceptionV3FID that ``embed`` uses: uint8 images -> (pool3 [B, 6],
    unbiased logits [B, 5], spatial [B, 2 * 4 * 4]) from one pass."""

    input_size = 8
    resize = "bilinear"
    has_logits = True
    spatial_dim = 32

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def preprocess(self, x: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        x = x.to(dtype or self.fc.weight.dtype) / 255 if x.dtype == torch.uint8 else x.to(dtype or x.dtype)
        return F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)

    def logits_from_pool3(self, f: torch.Tensor, bias: bool = False) -> torch.Tensor:
        return F.linear(f, self.fc.weight, self.fc.bias if bias else None)

    def embed(self, x: torch.Tensor, with_logits: bool = False, with_spatial: bool = False) -> Any:
        m = torch.tanh(self.conv(x))
        f = m.mean(dim=(2, 3))
        s = F.avg_pool2d(m, 2)[:, :2].permute(0, 2, 3, 1).flatten(1)
        out = [f] + ([self.logits_from_pool3(f)] if with_logits else []) + ([s] if with_spatial else [])
        return tuple(out) if len(out) > 1 else out[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.preprocess(x))


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> TinyInception:
    import fastgan.evaluation.embed as emb
    import fastgan.features.extract as ext

    net = TinyInception()

    def build(name: str, weights: Any = None, **kwargs: Any) -> TinyInception:
        assert name == "inception", name
        return net

    monkeypatch.setattr(ext, "build_extractor", build)
    monkeypatch.setattr(emb, "build_extractor", build)
    return net


def _images(n: int, seed: int, shift: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 200, (n, 12, 12, 3), generator=g, dtype=torch.uint8) + shift).to(torch.uint8)


def _direct(net: TinyInception, imgs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with torch.no_grad():
        f, lg, s = net.embed(net.preprocess(imgs.permute(0, 3, 1, 2)), with_logits=True, with_spatial=True)
    return f.double().numpy(), lg.double().numpy(), s.double().numpy()


def _frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _ttur(x: np.ndarray, y: np.ndarray) -> float:
    return _frechet(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def test_adm_preset_gives_the_evaluators_five_numbers(tiny: TinyInception) -> None:
    real, fake = _images(40, 0), _images(30, 1, 30)
    r = fastgan.evaluate(real, fake, preset="adm", options={"is": {"split_size": 7}}, device="cpu")
    assert set(r) == {"fid", "sfid", "is_mean", "is_std", "adm_precision", "adm_recall"}
    fr, _, sr = _direct(tiny, real)
    ff, lf, sf = _direct(tiny, fake)
    assert r["fid"] == pytest.approx(_ttur(fr, ff), rel=1e-6)
    assert r["sfid"] == pytest.approx(_ttur(sr, sf), rel=1e-6)
    assert r.info["options"]["adm_pr"]["fp16"] is True and r.info["options"]["adm_pr"]["k"] == 3
    # IS on splits of 7 consecutive samples (30 = 7 + 7 + 7 + 7 + 2), float64 oracle
    p = np.exp(lf - lf.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = [
        np.exp((q * (np.log(q) - np.log(q.mean(0, keepdims=True)))).sum(1).mean())
        for q in (p[i : i + 7] for i in range(0, 30, 7))
    ]
    assert r["is_mean"] == pytest.approx(float(np.mean(scores)), rel=1e-5)


def test_adm_reference_batch_statistics_are_used(tiny: TinyInception, tmp_path: Path) -> None:
    real, fake = _images(40, 2), _images(30, 3, 20)
    rng = np.random.default_rng(0)
    other_f, other_s = rng.standard_normal((40, 6)), rng.standard_normal((40, 32))  # not real's features
    ref = save_adm_reference(
        tmp_path / "ref.npz", real.numpy(), pool3=torch.from_numpy(other_f), spatial=torch.from_numpy(other_s)
    )
    r = fastgan.evaluate(str(ref), fake, preset="adm", device="cpu")
    ff, _, sf = _direct(tiny, fake)
    z = np.load(ref)
    assert r["fid"] == pytest.approx(
        _frechet(z["mu"], z["sigma"], ff.mean(0), np.cov(ff, rowvar=False)), rel=1e-6
    )
    assert r["sfid"] == pytest.approx(
        _frechet(z["mu_s"], z["sigma_s"], sf.mean(0), np.cov(sf, rowvar=False)), rel=1e-6
    )
    assert r.info["real"]["reference_stats"] == ["inception", "spatial"]
    # precision / recall come from the arr_0 images: the same as with the images themselves
    plain = fastgan.evaluate(real, fake, preset="adm", metrics="adm_pr", device="cpu")
    assert (r["adm_precision"], r["adm_recall"]) == (plain["adm_precision"], plain["adm_recall"])


def test_adm_sample_batch_with_labels_reads_arr_0(tiny: TinyInception, tmp_path: Path) -> None:
    fake = _images(20, 4)
    np.savez(tmp_path / "samples.npz", arr_0=fake.numpy(), arr_1=np.arange(20))
    a = fastgan.evaluate(
        _images(25, 5), str(tmp_path / "samples.npz"), preset="adm", metrics="fid", device="cpu"
    )
    b = fastgan.evaluate(_images(25, 5), fake, preset="adm", metrics="fid", device="cpu")
    assert a["fid"] == b["fid"]


def test_sfid_needs_the_inception_pass_not_extractor_features() -> None:
    x, y = torch.randn(30, 4, dtype=torch.float64), torch.randn(25, 4, dtype=torch.float64) + 1
    r = fastgan.evaluate(x, y, metrics="sfid")  # feature inputs are used as given
    assert r["sfid"] == pytest.approx(_ttur(x.numpy(), y.numpy()), rel=1e-9)


def test_protocol_fixes_metrics_options_and_notes_counts() -> None:
    x, y = torch.randn(60, 5), torch.randn(40, 5) + 0.5
    r = fastgan.evaluate(x, y, protocol="kid50k_full")
    assert set(r) == {"kid_mean", "kid_std"}
    kid = r.info["options"]["kid"]
    assert (kid["subsets"], kid["subset_size"], kid["subset_rule"], kid["rng"], kid["draw_first"]) == (
        100,
        40,  # min(N_real, N_fake, 1000): stylegan3's clamp
        "clamp",
        "numpy",
        "fake",
    )
    proto = r.info["protocol"]
    assert proto["name"] == "kid50k_full" and proto["results"] == {"kid50k_full": r["kid_mean"]}
    assert proto["conforms"] is False and proto["differences"]
    assert any("40 generated samples given; kid50k_full fixes 50000" in n for n in r.notes)
    with pytest.raises(ValueError, match="fixes 50000"):
        fastgan.evaluate(x, y, protocol="kid50k_full", strict=True)


def test_protocol_is50k_options() -> None:
    logits = torch.randn(50, 7)
    r = fastgan.evaluate(torch.randn(20, 3), torch.randn(50, 3), protocol="is50k", logits=logits)
    assert r.info["options"]["is"]["splits"] == 10 and r.info["options"]["is"]["shuffle_seed"] is None
    assert r.info["protocol"]["results"]["is50k_mean"] == r["is_mean"]
    assert r["is_mean"] == pytest.approx(
        fastgan.metrics.inception_score(logits, splits=10)["is_mean"], rel=1e-12
    )


def test_protocol_refuses_conflicting_arguments() -> None:
    x, y = torch.randn(20, 3), torch.randn(20, 3)
    with pytest.raises(ValueError, match="fixes the metrics"):
        fastgan.evaluate(x, y, protocol="fid50k_full", metrics="kid")
    with pytest.raises(ValueError, match="fixes preset"):
        fastgan.evaluate(x, y, protocol="fid50k_full", preset="clean-fid")
    with pytest.raises(ValueError, match=r"options\['kid'\]\['subsets'\]"):
        fastgan.evaluate(x, y, protocol="kid50k_full", options={"kid": {"subsets": 5}})
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("fid10k")


def test_protocol_table_rows_are_valid() -> None:
    from fastgan.evaluation.registry import METRICS
    from fastgan.features.presets import PRESETS

    for p in PROTOCOLS.values():
        assert all(m in METRICS for m in p.metrics) and p.preset in PRESETS and p.num_fake == 50000
        keys = {k for m in p.metrics for k in METRICS[m].keys}
        assert set(p.keys) <= keys and p.matches
        for m, opts in p.options.items():
            assert set(opts) <= set(METRICS[m].option_names)
    assert PROTOCOLS["pr50k3_full"].max_real == 200000 and PROTOCOLS["kid50k_full"].max_real == 1000000
    assert PROTOCOLS["fd_dinov2"].extractor == "dinov2-vit-l14-edm2"
    _, preset, opts, _ = protocol_arguments(
        PROTOCOLS["pr50k3_full"],
        metrics=("fid",),
        default_metrics=("fid",),
        preset="pytorch-fid",
        default_preset="pytorch-fid",
        options={"pr": {"progress": None}} if False else None,
        extractor=None,
    )
    assert preset == "torch-fidelity" and opts == {"pr": {"k": 3, "strict": False}}


def test_write_adm_reference_round_trip(tiny: TinyInception, tmp_path: Path) -> None:
    from fastgan.evaluation.adm_reference import write_adm_reference
    from fastgan.metrics import load_adm_reference

    imgs = _images(15, 9)
    out = write_adm_reference(
        tmp_path / "ref.npz", imgs, models={"inception": tiny}, batch_size=4, device="cpu"
    )
    ref = load_adm_reference(out)
    np.testing.assert_array_equal(ref.images, imgs.numpy())
    f, _, s = _direct(tiny, imgs)
    np.testing.assert_allclose(ref.mu, f.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ref.sigma, np.cov(f, rowvar=False), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ref.mu_s, s.mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ref.sigma_s, np.cov(s, rowvar=False), rtol=1e-5, atol=1e-7)
    # read back as the real side: FID against its own images' features is ~0
    r = fastgan.evaluate(str(out), imgs, preset="adm", metrics="fid,sfid", device="cpu")
    assert abs(r["fid"]) < 1e-6 and abs(r["sfid"]) < 1e-6


def test_adm_preset_rows() -> None:
    from fastgan.features.presets import get_preset

    adm, tf = get_preset("adm"), get_preset("torch-fidelity")
    assert adm.pipeline.resize == tf.pipeline.resize == "bilinear_tf1" and adm.pipeline.pixels == "byte"
    assert adm.vgg_resize is None  # its precision / recall is on pool3: metric adm_pr
    assert (adm.is_split_size, adm.pr_fp16, adm.pr_k, adm.pr_inclusive) == (5000, True, 3, True)
    assert tf.is_split_size is None and not tf.pr_fp16
    with pytest.raises(ValueError, match="VGG-16"):
        fastgan.evaluate(_images(10, 0), _images(10, 1), preset="adm", metrics="pr")


def test_edm2_dinov2_preprocessing() -> None:
    from fastgan.features.foundation import FOUNDATION_MODELS, foundation_preprocess

    u = _images(2, 11).permute(0, 3, 1, 2).contiguous()
    got = foundation_preprocess(u, "edm2")
    # EDM2's DINOv2Detector: float32 0..255 -> bicubic antialias 224 -> / 255 -> ImageNet normalisation
    x = F.interpolate(u.to(torch.float32), size=(224, 224), mode="bicubic", antialias=True) / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(got, (x - mean) / std, rtol=0, atol=1e-6)
    assert not torch.allclose(
        got, foundation_preprocess(u, "dgm-eval"), atol=1e-3
    )  # not dgm-eval's PIL resize
    m = FOUNDATION_MODELS["dinov2-vit-l14-edm2"]
    assert (m.arch, m.dim, m.input_size, m.preset, m.weights) == (
        "vit_large_patch14_dinov2",
        1024,
        224,
        "edm2",
        "dinov2-vit-l14",
    )
