"""Feature extractors: architecture, strict weights-only loading, resizing, extract_features."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fastgan.features import InceptionV3FID, VGG16FC2, WeightsError, extract_features, resize_images
from fastgan.features.inception import _avg3
from fastgan.features.weights import check_state_dict, load_state_dict_file, resolve_weights

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def inception() -> InceptionV3FID:
    torch.manual_seed(0)
    net = InceptionV3FID(random_init=True, resize="none")
    # random BN statistics so that loading them is observable
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


@pytest.fixture(scope="module")
def inception_file(inception: InceptionV3FID, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "inception-test.pth"
    torch.save(inception.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def vgg() -> VGG16FC2:
    torch.manual_seed(1)
    return VGG16FC2(random_init=True, resize="none")


class TinyNet(nn.Module):
    """Cheap extractor with the same protocol (input_size, resize) for extract_features tests."""

    input_size = 16
    resize = "bilinear"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (16, 16)
        return self.conv(x).mean(dim=(2, 3))


# ------------------------------------------------------------------------- architecture


def test_inception_layout_and_keys(inception: InceptionV3FID) -> None:
    sd = inception.state_dict()
    assert sd["fc.weight"].shape == (1008, 2048)
    assert sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert sd["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert sd["Mixed_6e.branch7x7_2.conv.weight"].shape == (192, 192, 1, 7)
    assert not any(k.endswith(".bias") and ".conv." in k for k in sd)  # convolutions have no bias
    assert all(m.eps == 1e-3 for m in inception.modules() if isinstance(m, nn.BatchNorm2d))
    assert not any(k.startswith("AuxLogits") for k in sd)


def test_inception_block_widths(inception: InceptionV3FID) -> None:
    widths: dict[str, int] = {}
    hooks = [
        getattr(inception, name).register_forward_hook(lambda m, i, o, name=name: widths.__setitem__(name, o.shape[1]))
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
    ]
    x = torch.rand(1, 3, 75, 75)
    try:
        f, logits = inception.features_and_logits(x)
    finally:
        for h in hooks:
            h.remove()
    assert widths == {"Mixed_5b": 256, "Mixed_5c": 288, "Mixed_5d": 288, "Mixed_6a": 768,
                      "Mixed_6e": 768, "Mixed_7a": 1280, "Mixed_7b": 2048, "Mixed_7c": 2048}
    assert f.shape == (1, 2048) and logits.shape == (1, 1008)
    assert bool((f >= 0).all())  # average of ReLU outputs
    torch.testing.assert_close(logits, f @ inception.fc.weight.T)  # IS logits: no bias
    inception.output = "logits"
    try:
        torch.testing.assert_close(inception(x), f @ inception.fc.weight.T + inception.fc.bias)
    finally:
        inception.output = "pool3"


def test_tf_average_pool_excludes_padding() -> None:
    ones = torch.ones(1, 2, 4, 4)
    torch.testing.assert_close(_avg3(ones), ones)  # TF divides by the valid count at borders
    assert F.avg_pool2d(ones, 3, 1, 1)[0, 0, 0, 0] < 1  # PyTorch's default would not


def test_inception_e2_uses_max_pool(inception: InceptionV3FID) -> None:
    assert inception.Mixed_7c.max_pool and not inception.Mixed_7b.max_pool


@pytest.mark.slow
def test_inception_full_resolution_one_image(inception: InceptionV3FID) -> None:
    net = InceptionV3FID(random_init=True)  # resize on
    net.load_state_dict(inception.state_dict())
    x = torch.rand(1, 3, 32, 32)
    out = net(x)
    assert out.shape == (1, 2048)
    torch.testing.assert_close(out, inception(F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)))


def test_vgg_fc2(vgg: VGG16FC2) -> None:
    sd = vgg.state_dict()
    assert sd["features.0.weight"].shape == (64, 3, 3, 3)
    assert sd["features.28.weight"].shape == (512, 512, 3, 3)
    assert sd["classifier.0.weight"].shape == (4096, 25088)
    assert sd["classifier.3.weight"].shape == (4096, 4096)
    assert not any(k.startswith("classifier.6") for k in sd)
    out = vgg(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 4096) and bool((out >= 0).all())  # post-ReLU


def test_vgg_state_dict_with_head_is_accepted(vgg: VGG16FC2) -> None:
    sd = dict(vgg.state_dict())
    sd["classifier.6.weight"] = torch.zeros(1000, 4096)
    sd["classifier.6.bias"] = torch.zeros(1000)
    kept = check_state_dict(vgg, sd, ignore_unexpected=("classifier.6.",))
    assert "classifier.6.weight" not in kept
    sd["classifier.7.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match="unexpected keys: classifier.7.weight"):
        check_state_dict(vgg, sd, ignore_unexpected=("classifier.6.",))


def test_vgg_requires_weights() -> None:
    with pytest.raises(ValueError, match="needs a weights file"):
        VGG16FC2()


# ------------------------------------------------------------------------------ weights


def test_weights_round_trip(inception: InceptionV3FID, inception_file: Path) -> None:
    net = InceptionV3FID(weights=inception_file, resize="none")
    for (k, a), b in zip(inception.state_dict().items(), net.state_dict().values()):
        assert torch.equal(a, b), k
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_weights_sha256(inception_file: Path) -> None:
    digest = hashlib.sha256(inception_file.read_bytes()).hexdigest()
    assert resolve_weights(inception_file, sha256=digest) == inception_file
    assert resolve_weights(inception_file, sha256=digest[:10].upper()) == inception_file
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_weights(inception_file, sha256="0" * 64)
    with pytest.raises(ValueError, match="hex digits"):
        resolve_weights(inception_file, sha256="xyz")


def test_bad_state_dicts(inception: InceptionV3FID) -> None:
    sd = dict(inception.state_dict())
    missing = {k: v for k, v in sd.items() if k != "fc.bias"}
    with pytest.raises(WeightsError, match="1 missing keys: fc.bias"):
        check_state_dict(inception, missing)
    extra = dict(sd, **{"head.weight": torch.zeros(2)})
    with pytest.raises(WeightsError, match="unexpected keys: head.weight"):
        check_state_dict(inception, extra)
    wrong = dict(sd, **{"fc.weight": torch.zeros(1000, 2048)})
    with pytest.raises(WeightsError, match=r"shape mismatches: fc.weight: file \(1000, 2048\) vs model \(1008, 2048\)"):
        check_state_dict(inception, wrong)
    # DataParallel prefix and files without BatchNorm step counters are accepted
    prefixed = {"module." + k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    assert set(check_state_dict(inception, prefixed)) == set(sd)


def test_bad_files(tmp_path: Path, inception: InceptionV3FID) -> None:
    small = tmp_path / "small.pth"
    torch.save({"foo": torch.zeros(3)}, small)
    with pytest.raises(WeightsError, match="missing keys"):
        InceptionV3FID(weights=small)
    pickled = tmp_path / "module.pth"
    torch.save(nn.Linear(2, 2), pickled)  # a pickled module, not a state dict
    with pytest.raises(WeightsError, match="weights-only state dict"):
        load_state_dict_file(pickled)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(WeightsError, match="cannot be read"):
        load_state_dict_file(garbage)
    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(WeightsError, match="dict of tensors"):
        load_state_dict_file(not_dict)
    wrapped = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"a": torch.ones(1)}, "epoch": 3}, wrapped)
    assert list(load_state_dict_file(wrapped)) == ["a"]
    with pytest.raises(WeightsError, match="does not exist"):
        InceptionV3FID(weights=tmp_path / "nope.pth")


def test_missing_default_weights_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match="not available locally") as info:
        InceptionV3FID()
    msg = str(info.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg and str(tmp_path / "cache") in msg and "download=True" in msg


def test_url_cache_and_download(tmp_path: Path, inception_file: Path) -> None:
    url = inception_file.resolve().as_uri()  # file:// URL: exercises the download path offline
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="not available locally"):
        resolve_weights(url, cache=cache)
    digest = hashlib.sha256(inception_file.read_bytes()).hexdigest()
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_weights(url, cache=cache, download=True, sha256="1" * 64)
    assert not (cache / inception_file.name).exists()  # a failed check leaves nothing behind
    path = resolve_weights(url, cache=cache, download=True, sha256=digest)
    assert path == cache / inception_file.name and path.read_bytes() == inception_file.read_bytes()
    assert resolve_weights(url, cache=cache) == path  # now served from the cache
    assert [p.name for p in cache.iterdir()] == [inception_file.name]  # no temporary files left


# ------------------------------------------------------------------------------- resize


def test_resize_modes() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 10, 13, generator=g)
    torch.testing.assert_close(resize_images(x, 20), F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False))
    # upsampling: antialias changes nothing; downsampling: it does
    torch.testing.assert_close(resize_images(x, 20, "bilinear_antialias"), resize_images(x, 20))
    assert not torch.allclose(resize_images(x, 4, "bilinear_antialias"), resize_images(x, 4))
    assert resize_images(x, (10, 13)) is x and resize_images(x, 7, "none") is x
    with pytest.raises(ValueError, match="resize"):
        resize_images(x, 5, "nearest")


def test_resize_tf1_formula() -> None:
    # TF1 resize_bilinear (align_corners=False, no half-pixel): src = dst * in / out
    x = torch.rand(1, 1, 5, 7, dtype=torch.float64)
    out = resize_images(x, (8, 3), "bilinear_tf1")
    a = x[0, 0].numpy()
    ref = np.empty((8, 3))
    for i in range(8):
        for j in range(3):
            sy, sx = i * 5 / 8, j * 7 / 3
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            fy, fx = sy - y0, sx - x0
            top = a[y0, x0] + (a[y0, x1] - a[y0, x0]) * fx
            bot = a[y1, x0] + (a[y1, x1] - a[y1, x0]) * fx
            ref[i, j] = top + (bot - top) * fy
    np.testing.assert_allclose(out[0, 0].numpy(), ref, rtol=1e-12)


# ---------------------------------------------------------------------- extract_features


def test_extract_layouts_and_dtypes() -> None:
    torch.manual_seed(0)
    net = TinyNet()
    g = torch.Generator().manual_seed(1)
    u8 = torch.randint(0, 256, (7, 12, 12, 3), dtype=torch.uint8, generator=g)
    a = extract_features(u8, net, batch_size=3)
    b = extract_features(u8.permute(0, 3, 1, 2).contiguous(), net, batch_size=7)
    c = extract_features(u8.numpy().astype(np.float32) / 255.0, net, batch_size=2)
    expected = net(F.interpolate(u8.permute(0, 3, 1, 2).float() / 255, size=(16, 16), mode="bilinear", align_corners=False))
    assert a.shape == (7, 5) and a.device.type == "cpu" and a.dtype == torch.float32
    torch.testing.assert_close(a, expected.detach())
    torch.testing.assert_close(b, a)
    torch.testing.assert_close(c, a)
    gray = extract_features(u8[..., :1], net, batch_size=4)
    torch.testing.assert_close(gray, extract_features(u8[..., :1].expand(-1, -1, -1, 3), net))


def test_extract_errors() -> None:
    net = TinyNet()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        extract_features(torch.rand(2, 3, 8, 8) * 2 - 1, net)
    with pytest.raises(ValueError, match="layout"):
        extract_features(torch.zeros(2, 3, 5, 3, dtype=torch.uint8), net)
    with pytest.raises(TypeError, match="uint8 or floating"):
        extract_features(torch.zeros(2, 3, 8, 8, dtype=torch.int32), net)
    with pytest.raises(FileNotFoundError):
        extract_features("/nonexistent/folder", net)
    with pytest.raises(ValueError, match="Tensor\\[B, D\\]"):
        extract_features(torch.rand(2, 3, 8, 8), lambda x: x)
    with pytest.raises(ValueError, match="unknown name"):
        extract_features(torch.rand(2, 3, 8, 8), "resnet")
    with pytest.raises(ValueError, match="features_and_logits"):
        extract_features(torch.rand(2, 3, 8, 8), net, return_logits=True)


def test_extract_folder_of_npy(tmp_path: Path) -> None:
    net = TinyNet()
    g = torch.Generator().manual_seed(2)
    imgs = torch.randint(0, 256, (5, 10, 10, 3), dtype=torch.uint8, generator=g).numpy()
    np.save(tmp_path / "a_single.npy", imgs[0])
    np.save(tmp_path / "b_stack.npy", imgs[1:4])
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "c.npy", imgs[4])
    (tmp_path / "notes.txt").write_text("ignored")
    out = extract_features(tmp_path, net, batch_size=2)
    torch.testing.assert_close(out, extract_features(imgs, net))
    single = extract_features(tmp_path / "b_stack.npy", net)
    torch.testing.assert_close(single, out[1:4])
    listed = extract_features([str(tmp_path / "sub" / "c.npy"), str(tmp_path / "a_single.npy")], net)
    torch.testing.assert_close(listed, out[[4, 0]])


def test_extract_mixed_sizes_are_resized_per_image(tmp_path: Path) -> None:
    net = TinyNet()
    a = np.full((8, 8, 3), 100, np.uint8)
    b = np.full((20, 12, 3), 200, np.uint8)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    out = extract_features(tmp_path, net, batch_size=2)
    torch.testing.assert_close(out[0], extract_features(a[None], net)[0])
    torch.testing.assert_close(out[1], extract_features(b[None], net)[0])


def test_extract_png_folder(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    try:
        import PIL  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="Pillow"):
            extract_features(tmp_path, TinyNet())
        return
    from PIL import Image

    img = np.random.default_rng(0).integers(0, 256, (9, 9, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    net = TinyNet()
    torch.testing.assert_close(extract_features(tmp_path, net), extract_features(img[None], net))


def test_extract_dataloader_and_callable() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(10, 3, 16, 16, generator=g)
    ds = torch.utils.data.TensorDataset(x, torch.arange(10))
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    fn = lambda t: t.mean(dim=(2, 3))  # noqa: E731
    torch.testing.assert_close(extract_features(loader, fn), x.mean(dim=(2, 3)))
    dicts = [{"image": x[:6]}, {"image": x[6:]}]
    torch.testing.assert_close(extract_features(dicts, fn), x.mean(dim=(2, 3)))
    gen = (x[i : i + 3] for i in range(0, 10, 3))
    torch.testing.assert_close(extract_features(gen, fn), x.mean(dim=(2, 3)))


def test_extract_restores_training_mode_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    net = TinyNet().train()
    extract_features(torch.rand(5, 3, 16, 16), net, batch_size=2, progress=True)
    assert net.training
    err = capsys.readouterr().err
    assert "5/5" in err and "features" in err
    extract_features(torch.rand(5, 3, 16, 16), net, batch_size=2, progress=False)
    assert capsys.readouterr().err == ""


def test_extract_with_inception_logits_and_named(inception: InceptionV3FID, inception_file: Path) -> None:
    x = torch.rand(1, 3, 75, 75)
    f, logits = extract_features(x, inception, batch_size=1, return_logits=True)
    assert f.shape == (1, 2048) and logits.shape == (1, 1008)
    torch.testing.assert_close(logits, f @ inception.fc.weight.T, rtol=1e-5, atol=1e-5)
    named = extract_features(x, "inception", weights=str(inception_file), resize="none")
    torch.testing.assert_close(named, f, rtol=1e-5, atol=1e-5)
