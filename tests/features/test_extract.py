"""extract_features (fastgan/features/extract.py): layouts, folders, loaders, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgan.features import InceptionV3FID, extract_features
from features.conftest import TinyNet


def test_extract_layouts_and_dtypes() -> None:
    torch.manual_seed(0)
    net = TinyNet()
    g = torch.Generator().manual_seed(1)
    u8 = torch.randint(0, 256, (7, 12, 12, 3), dtype=torch.uint8, generator=g)
    a = extract_features(u8, net, batch_size=3)
    b = extract_features(u8.permute(0, 3, 1, 2).contiguous(), net, batch_size=7)
    c = extract_features(u8.numpy().astype(np.float32) / 255.0, net, batch_size=2)
    expected = net(
        F.interpolate(
            u8.permute(0, 3, 1, 2).float() / 255, size=(16, 16), mode="bilinear", align_corners=False
        )
    )
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
