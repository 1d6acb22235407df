"""Peers: TopP&R against top-pr, CMMD against clip-mmd, Vendi against vendi-score (identical
embeddings), and the DINOv2 / CLIP preprocessing against torchvision's transforms as dgm-eval
and clip-mmd compose them. Each test skips when its package does not import."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import torch

from fastgan.metrics import cmmd, top_precision_recall, vendi
from fastgan.metrics.topological import projection_matrix

pytestmark = pytest.mark.peers


def clouds(n: int, m: int, d: int, seed: int, shift: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, d)).astype(np.float32),
        (1.1 * rng.standard_normal((m, d)) + shift).astype(np.float32),
    )


@pytest.mark.parametrize(
    "n,m,d,alpha",
    [(600, 500, 64, 0.1), (500, 450, 256, 0.1), (700, 650, 64, 0.2), (400, 420, 16, 0.1)],
)
def test_top_pr_equals_top_pr_package(n: int, m: int, d: int, alpha: float) -> None:
    """Same projection (seed 99), same bootstrap draws (RandomState(42)): same counts, same values."""
    tp = pytest.importorskip("top_pr.top_pr")
    x, y = clouds(n, m, d, seed=d + n)
    np.random.seed(42)  # top-pr seeds numpy with 42 itself when it projects (D > 32); below, the caller does
    ref = tp.compute_top_pr(
        real_features=x, fake_features=y, alpha=alpha, kernel="cosine", random_proj=True, f1_score=False
    )
    st: dict = {}
    got = top_precision_recall(torch.from_numpy(x), torch.from_numpy(y), alpha=alpha, stats=st)
    assert got["top_precision"] == float(ref["fidelity"])
    assert got["top_recall"] == float(ref["diversity"])
    assert 0 < got["top_precision"] < 1
    # the real side's confidence band from the reference's own function, on the same projected
    # features and bandwidth (its densities use float32 distances: 1e-5 relative)
    px = torch.from_numpy(x) @ projection_matrix(d, 32, 99).T if d > 32 else torch.from_numpy(x)
    np.random.seed(42)
    c_r, _ = tp.confband_est(px.numpy(), st["bandwidth_real"], alpha=alpha, kernel="cosine", p_val=True)
    assert st["threshold_real"] == pytest.approx(float(c_r), rel=1e-5)


def test_top_pr_version() -> None:
    pytest.importorskip("top_pr")
    assert importlib.metadata.version("top-pr") == "0.2.1"  # the version the docstring states


def test_cmmd_equals_clip_mmd_on_identical_embeddings() -> None:
    calc = pytest.importorskip("clip_mmd.calculation")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((700, 768))
    y = rng.standard_normal((600, 768)) + 0.05
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # CLIP embeddings are unit vectors
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    ref64 = float(calc.mmd(torch.from_numpy(x), torch.from_numpy(y)))  # float64 in, float64 out
    assert cmmd(x, y) == pytest.approx(ref64, rel=1e-9)
    ref32 = float(calc.mmd(torch.from_numpy(x).float(), torch.from_numpy(y).float()))
    assert cmmd(x.astype(np.float32), y.astype(np.float32)) == pytest.approx(ref32, rel=1e-3)


def test_vendi_equals_vendi_score_on_identical_embeddings() -> None:
    ref = pytest.importorskip("vendi_score.vendi")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64))
    assert vendi(x) == pytest.approx(float(ref.score_dual(x)), rel=1e-10)
    assert vendi(x, q=2) == pytest.approx(float(ref.score_dual(x, q=2)), rel=1e-10)


# ----------------------------------------------------------------------------- preprocessing
def uint8_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("h,w", [(32, 32), (64, 48), (299, 299), (512, 384)])
def test_dgm_eval_transform_bitwise(h: int, w: int) -> None:
    tf = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    from fastgan.features.foundation import foundation_preprocess

    x = uint8_images(2, h, w, seed=h + w)
    # dgm-eval DINOv2Encoder.transform (clean_resize=False), mean/std as its numpy arrays
    compose = tf.Compose([tf.Resize((224, 224), tf.InterpolationMode.BICUBIC), tf.ToTensor()])
    norm = tf.Normalize(np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))
    want = torch.stack([norm(compose(Image.fromarray(a.numpy()))) for a in x.permute(0, 2, 3, 1)])
    assert torch.equal(foundation_preprocess(x, "dgm-eval"), want)


@pytest.mark.parametrize("h,w", [(336, 336), (64, 64), (512, 512), (300, 400)])
def test_cmmd_transform_bitwise(h: int, w: int) -> None:
    tf = pytest.importorskip("torchvision.transforms")
    from PIL import Image

    from fastgan.features.foundation import foundation_preprocess

    x = uint8_images(2, h, w, seed=h * w)
    # even size differences: torchvision's CenterCrop box equals CMMD's (w - l) // 2 offsets
    side = min(h, w)
    compose = tf.Compose(
        [
            tf.CenterCrop(side),
            tf.Resize((336, 336), tf.InterpolationMode.BICUBIC),
            tf.ToTensor(),
            tf.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
        ]
    )
    want = torch.stack([compose(Image.fromarray(a.numpy())) for a in x.permute(0, 2, 3, 1)])
    assert torch.equal(foundation_preprocess(x, "cmmd", 336), want)
    data = pytest.importorskip("clip_mmd.data")
    if h == w:  # clip-mmd's resizer (resize the short side, then crop) equals the crop-then-resize on squares
        got = foundation_preprocess(x, "cmmd", 336)
        for i, a in enumerate(x.permute(0, 2, 3, 1)):
            im = data.resizer(Image.fromarray(a.numpy()), (336, 336))
            u = torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255
            mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(3, 1, 1)
            std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(3, 1, 1)
            assert torch.equal(got[i], (u - mean) / std)
