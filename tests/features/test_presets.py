"""Presets (fastgan/features/presets.py) and their preprocessing, against the formulas they name.

Oracles: pytorch-fid ``2 * bilinear(u / 255) - 1``; torch-fidelity TF1 ``resize_bilinear``
(float32 coordinates, width then height) then ``(u - 128) / 128``, written out in numpy
float32; clean-fid Pillow bicubic on each channel as a mode "F" image, clip to [0, 255], then
``(u - 128) / 128`` (Pillow called directly). All comparisons of the preprocessed input are
bitwise (same float32 operations in the same order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.features import VGG16FC2, InceptionV3FID, extract_features
from fastgan.features.presets import PRESET_NAMES, PRESETS, get_preset, preset_table
from fastgan.features.resize import RESIZE_MODES, resize_images

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

SIZES = (32, 64, 299, 512)


def _u8(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)


def _tf1_numpy(a: np.ndarray, out: int) -> np.ndarray:
    """TF1 resize_bilinear of float32 [C, H, W] to out x out, in numpy float32."""
    c, h, w = a.shape

    def coords(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.arange(out, dtype=np.float32) * np.float32(n_in / out)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (src - lo.astype(np.float32)).astype(np.float32)

    ylo, yhi, dy = coords(h)
    xlo, xhi, dx = coords(w)
    top = a[:, ylo][:, :, xlo] + (a[:, ylo][:, :, xhi] - a[:, ylo][:, :, xlo]) * dx[None, None, :]
    bot = a[:, yhi][:, :, xlo] + (a[:, yhi][:, :, xhi] - a[:, yhi][:, :, xlo]) * dx[None, None, :]
    return (top + (bot - top) * dy[None, :, None]).astype(np.float32)


def _pil_bicubic_numpy(a: np.ndarray, out: int) -> np.ndarray:
    """Pillow bicubic of each channel of float32 [C, H, W], as mode "F" images."""
    return np.stack(
        [np.asarray(Image.fromarray(ch.astype(np.float32)).resize((out, out), Image.BICUBIC)) for ch in a]
    )


def test_preset_table_is_complete_and_valid() -> None:
    assert PRESET_NAMES == ("pytorch-fid", "torch-fidelity", "clean-fid", "adm")
    for p in PRESETS.values():
        assert p.resize in RESIZE_MODES and p.pixels in ("unit", "byte")
        assert p.vgg_resize is None or p.vgg_resize in RESIZE_MODES
        assert p.is_logits == "logits_unbiased" and p.pr_k >= 1 and p.kid_subset_rule in ("error", "clamp")
        assert p.kid_rng in ("torch", "numpy") and p.kid_draw_first in ("real", "fake") and p.prdc_k >= 1
        assert p.matches.split()[0] == p.name
    rows = preset_table()
    assert [r["name"] for r in rows] == list(PRESET_NAMES) and rows[0]["dtype"] == "float32"
    assert get_preset(None).name == "pytorch-fid"
    assert (
        get_preset("torch_fidelity").name == "torch-fidelity" and get_preset("CleanFID").name == "clean-fid"
    )
    assert get_preset(PRESETS["clean-fid"]) is PRESETS["clean-fid"]
    with pytest.raises(ValueError, match="preset"):
        get_preset("tf2")
    with pytest.raises(ValueError, match="preset"):
        InceptionV3FID(random_init=True, preset="nope")


@pytest.mark.parametrize("size", SIZES)
def test_tf1_resize_is_bitwise_the_tf_formula(size: int) -> None:
    x = _u8(2, size, size + 3, size).float()  # non-square: the two axes use different scales
    got = resize_images(x, 299, "bilinear_tf1")
    want = np.stack([_tf1_numpy(a, 299) for a in x.numpy()])
    assert torch.equal(got, torch.from_numpy(want))


def test_pil_bicubic_resize_matches_pillow() -> None:
    x = _u8(2, 40, 33, 1).float()
    got = resize_images(x, (50, 21), "bicubic_pil")
    for i in range(2):
        for c in range(3):
            ref = np.asarray(Image.fromarray(x[i, c].numpy()).resize((21, 50), Image.BICUBIC))
            assert np.array_equal(got[i, c].numpy(), ref)
    assert resize_images(x, (40, 33), "bicubic_pil") is x


@pytest.mark.parametrize("size", SIZES)
def test_inception_preprocessing_per_preset(size: int) -> None:
    u = _u8(2, size, size, 10 + size)
    a = u.numpy().astype(np.float32)
    # pytorch-fid: 2 * bilinear(u / 255) - 1
    net = InceptionV3FID(random_init=True)
    want = 2 * F.interpolate(u.float() / 255, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert torch.equal(net.preprocess(u), want)
    # torch-fidelity: TF1 bilinear on u, (x - 128) / 128
    net = InceptionV3FID(random_init=True, preset="torch-fidelity")
    want = (np.stack([_tf1_numpy(im, 299) for im in a]) - np.float32(128)) / np.float32(128)
    assert torch.equal(net.preprocess(u), torch.from_numpy(want))
    # clean-fid: Pillow bicubic of each channel as float32, clip to [0, 255], (x - 128) / 128
    net = InceptionV3FID(random_init=True, preset="clean-fid")
    want = (
        np.clip(np.stack([_pil_bicubic_numpy(im, 299) for im in a]), 0, 255) - np.float32(128)
    ) / np.float32(128)
    assert torch.equal(net.preprocess(u), torch.from_numpy(want.astype(np.float32)))


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_float_input_is_scaled_like_uint8(preset: str) -> None:
    # float images in [0, 1] are u / 255; 0..255 presets multiply back (exact up to float32 rounding)
    u = _u8(1, 48, 40, 5)
    net = InceptionV3FID(random_init=True, preset=preset)
    torch.testing.assert_close(net.preprocess(u.float() / 255), net.preprocess(u), rtol=0, atol=1e-6)
    d = net.preprocess(u, dtype=torch.float64)
    assert d.dtype == torch.float64
    torch.testing.assert_close(d.float(), net.preprocess(u), rtol=0, atol=5e-5)  # float32 resize error


def test_preset_resize_override_and_errors() -> None:
    net = InceptionV3FID(random_init=True, preset="torch-fidelity", resize="bilinear")
    u = _u8(1, 32, 32, 6)
    want = (F.interpolate(u.float(), size=(299, 299), mode="bilinear", align_corners=False) - 128) / 128
    assert torch.equal(net.preprocess(u), want)
    with pytest.raises(TypeError, match="uint8"):
        net.preprocess(u.to(torch.int32))
    with pytest.raises(ValueError, match="no VGG-16"):
        VGG16FC2(random_init=True, preset="clean-fid")


def test_vgg_torch_fidelity_normalisation() -> None:
    u = _u8(2, 32, 32, 7)
    net = VGG16FC2(random_init=True, preset="torch-fidelity")
    assert (net.resize, net.normalize) == ("bilinear_tf1", "imagenet_byte")
    mean = torch.tensor([255 * 0.485, 255 * 0.456, 255 * 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([255 * 0.229, 255 * 0.224, 255 * 0.225]).view(1, 3, 1, 1)
    resized = torch.from_numpy(np.stack([_tf1_numpy(a, 224) for a in u.numpy().astype(np.float32)]))
    assert torch.equal(net.preprocess(u), (resized - mean) / std)
    default = VGG16FC2(random_init=True)
    want = (
        F.interpolate(u.float() / 255, size=(224, 224), mode="bilinear", align_corners=False)
        - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    ) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.equal(default.preprocess(u), want)


def test_extract_features_uses_the_preset_on_uint8(
    inception: InceptionV3FID, inception_file: Path, tmp_path: Path
) -> None:
    u = _u8(2, 32, 32, 8)
    net = InceptionV3FID(random_init=True, preset="torch-fidelity")
    net.load_state_dict(inception.state_dict())
    with torch.inference_mode():
        direct = net.pool3_from_input(net.preprocess(u))
    got = extract_features(u, net, batch_size=2)
    assert torch.equal(got, direct)  # uint8 reaches the network's preprocessing as uint8
    named = extract_features(
        u[:1].permute(0, 2, 3, 1).numpy(),
        "inception",
        weights=str(inception_file),
        preset="torch-fidelity",
        batch_size=1,
    )
    torch.testing.assert_close(named, direct[:1], rtol=1e-5, atol=1e-6)
    # a PNG folder with different sizes and a greyscale image: one image at a time
    Image.fromarray(u[0].permute(1, 2, 0).numpy()).save(tmp_path / "a.png")
    grey = u[1, 0].numpy()
    Image.fromarray(grey).save(tmp_path / "b.png")
    folder = extract_features(tmp_path, net, batch_size=2)
    torch.testing.assert_close(folder[0], direct[0], rtol=0, atol=0)
    with torch.inference_mode():
        g3 = torch.from_numpy(grey)[None, None].expand(1, 3, -1, -1)
        torch.testing.assert_close(folder[1], net.pool3_from_input(net.preprocess(g3))[0], rtol=0, atol=0)
    # presets change the numbers (0..255 TF1 scaling vs 2 u / 255 - 1 bilinear)
    ref = extract_features(u[:1], inception, batch_size=1, resize="bilinear")
    assert not torch.allclose(ref, got[:1], rtol=1e-7, atol=0)
    with pytest.raises(ValueError, match="built with preset"):
        extract_features(u, net, preset="clean-fid")
    with pytest.raises(ValueError, match="fastgan's feature networks"):
        extract_features(u, lambda t: t.mean(dim=(2, 3)), preset="clean-fid")


def test_cli_preset_option(
    tmp_path: Path, inception: InceptionV3FID, inception_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from fastgan.cli import commands

    assert commands.PRESET_NAMES == PRESET_NAMES and commands.DEFAULT_PRESET == get_preset(None).name
    u = _u8(3, 32, 32, 9)
    for i in range(3):
        Image.fromarray(u[i].permute(1, 2, 0).numpy()).save(tmp_path / f"{i}.png")
    out = tmp_path / "stats.npz"
    rc = commands.main(
        [
            "stats",
            str(tmp_path),
            "-o",
            str(out),
            "--weights",
            str(inception_file),
            "--preset",
            "clean-fid",
            "--no-progress",
            "--json",
        ]
    )
    assert rc == 0 and json.loads(capsys.readouterr().out)["count"] == 3
    net = InceptionV3FID(weights=inception_file, preset="clean-fid")
    feats = extract_features(u, net).double()
    with np.load(out) as z:
        np.testing.assert_allclose(z["mu"], feats.mean(0).numpy(), rtol=1e-6, atol=1e-9)
    with pytest.raises(SystemExit):
        commands.main(["stats", str(tmp_path), "-o", str(out), "--preset", "tf2"])


def test_metric_conventions_of_the_rows() -> None:
    """The metric fields state each reference's conventions (read from their 0.4.0 / 0.1.35 code):
    the default row is fastgan's own defaults, so preset=None changes nothing."""
    pf, tf, cf = (PRESETS[n] for n in PRESET_NAMES[:3])
    assert (pf.is_shuffle_seed, pf.kid_rng, pf.kid_seed, pf.kid_draw_first, pf.kid_subset_rule) == (
        None,
        "torch",
        None,
        "real",
        "error",
    )
    assert (tf.is_shuffle_seed, tf.kid_rng, tf.kid_seed, tf.kid_draw_first, tf.kid_subset_rule) == (
        2020,
        "numpy",
        2020,
        "fake",
        "error",
    )
    assert (cf.is_shuffle_seed, cf.kid_rng, cf.kid_seed, cf.kid_draw_first, cf.kid_subset_rule) == (
        None,
        "numpy",
        None,
        "fake",
        "clamp",
    )
    assert not cf.kid_std and tf.kid_std
    for p in (pf, tf, cf):
        assert (p.is_splits, p.kid_subsets, p.kid_subset_size, p.kid_degree, p.kid_gamma, p.kid_coef0) == (
            10,
            100,
            1000,
            3,
            None,
            1.0,
        )
        assert (p.pr_k, p.pr_inclusive, p.prdc_k) == (3, True, 5)
