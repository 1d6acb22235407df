"""Feature-level parity of the presets: fastgan's pool3 features and logits against pytorch-fid,
torch-fidelity and clean-fid, from the same image files and the same weights.

Weights: fastgan's Inception-v3 with random weights and data-dependent batch-norm statistics
(one pass in training mode with cumulative averaging over a calibration batch, so every layer's
running mean / variance are those of its actual inputs and the features do not collapse),
saved in each reference's file layout and loaded by the reference the way its users load
weights (pytorch-fid: the state dict its ``fid_inception_v3`` downloads; torch-fidelity:
``feature_extractor_weights_path``). clean-fid's network is a TorchScript file that cannot be
rebuilt with other weights, so its own pipeline (``get_files_features`` with its "clean" resize
and its ``InceptionV3W.forward`` normalisation) runs with pytorch-fid's network holding the same
weights in place of the TorchScript layers.

Images: PNG files the test writes, 32, 64, 299 and 512 px, RGB and greyscale, read by each
package with its own loader. Batch size 1 on both sides (convolution kernels may pick other
algorithms for other batch sizes).

Tolerances, per case:
* bitwise: pool3 of all three presets, torch-fidelity's unbiased logits, the VGG-16 fc2 features
  (same float32 operations in the same order);
* <= 1e-5 relative (to the largest magnitude): torch-fidelity's biased logits (it adds the fc
  bias after the product, fastgan's ``F.linear`` fuses it into ``addmm``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fastgan.features import VGG16FC2, InceptionV3FID, extract_features
from peers.conftest import cleanfid_wrapper, need_module, record, vgg16_state_dict

pytestmark = pytest.mark.peers

SIZES = (32, 64, 299, 512)
BIASED_LOGITS_RTOL = 1e-5


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    files = []
    for i, s in enumerate(SIZES):
        # smooth random images (a low-resolution pattern upsampled) plus noise: natural-ish statistics
        base = rng.integers(0, 256, (4, 4, 3)).astype(np.float64)
        yy, xx = np.meshgrid(np.linspace(0, 3, s), np.linspace(0, 3, s), indexing="ij")
        img = base[yy.astype(int), xx.astype(int)] * 0.7 + rng.integers(0, 77, (s, s, 3))
        rgb = np.clip(img, 0, 255).astype(np.uint8)
        for kind, arr in (("rgb", rgb), ("grey", rgb[..., 0])):
            path = root / f"{i}_{s}_{kind}.png"
            Image.fromarray(arr).save(path)
            files.append(str(path))
    return root, sorted(files)


#: fastgan's Inception runs batch norm folded into the convolutions (oneDNN's blocked tensors, the NCHW
#: kernels, under pytorch-fid's preset;
#: channels-last with conv + ReLU in one oneDNN call under the others, whose spatial kernels round
#: about twice as much) on the CPU (fastgan/features/inception.py): the same network with another
#: rounding. Its features are held to the project's parity bound for pytorch-fid, 1e-6 of their scale (the
#: bound for torch-fidelity and clean-fid is 1e-5); VGG-16 keeps torchvision's layout: bitwise.
FEATURES_RTOL = 1e-6
#: torch-fidelity's and clean-fid's bound
FEATURES_RTOL_PEER = 1e-5


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def _report(peer: str, quantity: str, a: torch.Tensor, b: torch.Tensor, tol: str = "bitwise") -> None:
    record(peer, quantity, a, b, tol=tol)


def _not_collapsed(f: torch.Tensor) -> None:
    assert float(f.std(dim=0).mean()) > 1e-3 * float(f.abs().mean()), (
        "features collapsed; the test would be vacuous"
    )


def _pytorch_fid_net(
    sd: dict[str, torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> Any:
    import pytorch_fid.inception as pfi

    path = tmp_path / "pt_inception-test.pth"
    torch.save({k: v for k, v in sd.items()}, path)  # the layout of pytorch-fid's weight file
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: torch.load(path, weights_only=True))
    return pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], **kw).eval()


def test_pytorch_fid_preset(
    inception_sd: dict[str, torch.Tensor],
    images: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_module("pytorch_fid")
    from pytorch_fid.fid_score import get_activations

    ref_net = _pytorch_fid_net(inception_sd, tmp_path, monkeypatch)
    ref = torch.from_numpy(
        get_activations(images[1], ref_net, batch_size=1, dims=2048, device="cpu", num_workers=0)
    )
    # the state dict of pytorch-fid's module (its "blocks" layout) loads into fastgan as well
    mod_file = tmp_path / "pytorch_fid_module.pth"
    torch.save(ref_net.state_dict(), mod_file)
    for weights, kind in (
        (tmp_path / "pt_inception-test.pth", "its weight file"),
        (mod_file, "its module's state dict"),
    ):
        net = InceptionV3FID(weights=weights, preset="pytorch-fid")
        got = extract_features(images[0], net, batch_size=1, progress=False)
        _report(
            "pytorch-fid",
            f"pool3 features from PNG files ({kind})",
            got,
            ref,
            f"<= {FEATURES_RTOL:g} of scale",
        )
        _not_collapsed(ref)
        assert _max_rel(got, ref) <= FEATURES_RTOL
    assert not net.has_logits


def _fidelity_extractor(features: list[str], weights: Path, cls: str = "inception") -> Any:
    if cls == "inception":
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as C

        name = "inception-v3-compat"
    else:
        from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16 as C

        name = "vgg16"
    return C(name, features, feature_extractor_weights_path=str(weights), verbose=False).eval()


def _fidelity_features(ext: Any, files: list[str]) -> list[torch.Tensor]:
    from torch_fidelity.datasets import ImagesPathDataset

    ds = ImagesPathDataset(files)
    outs: list[list[torch.Tensor]] = []
    with torch.no_grad():
        for i in range(len(ds)):
            outs.append(list(ext(ds[i][None])))
    return [torch.cat(col) for col in zip(*outs)]


def test_torch_fidelity_preset(
    inception_sd: dict[str, torch.Tensor], images: tuple[Path, list[str]], tmp_path: Path
) -> None:
    need_module("torch_fidelity")
    wfile = tmp_path / "weights-inception-test.pth"
    torch.save(inception_sd, wfile)  # torch-fidelity's weight file layout (torchvision names)
    ext = _fidelity_extractor(["2048", "logits_unbiased", "logits"], wfile)
    pool3, unbiased, biased = _fidelity_features(ext, images[1])
    # its module's own state_dict loads into fastgan, key by key
    mod_file = tmp_path / "fidelity_module.pth"
    torch.save(ext.state_dict(), mod_file)
    for weights, kind in ((wfile, "its weight file"), (mod_file, "its module's state dict")):
        net = InceptionV3FID(weights=weights, preset="torch-fidelity")
        f, lg = extract_features(images[0], net, batch_size=1, return_logits=True, progress=False)
        tol = f"<= {FEATURES_RTOL_PEER:g} of scale"
        _report("torch-fidelity", f"pool3 features from PNG files ({kind})", f, pool3, tol)
        _report("torch-fidelity", f"logits_unbiased from PNG files ({kind})", lg, unbiased, tol)
        _not_collapsed(pool3)
        assert _max_rel(f, pool3) <= FEATURES_RTOL_PEER
        assert _max_rel(lg, unbiased) <= FEATURES_RTOL_PEER
    net.output = "logits"
    lb = extract_features(images[0], net, batch_size=1, progress=False)
    _report(
        "torch-fidelity",
        "logits (with fc bias) from PNG files",
        lb,
        biased,
        f"<= {BIASED_LOGITS_RTOL:g} relative",
    )
    assert _max_rel(lb, biased) <= BIASED_LOGITS_RTOL


def test_clean_fid_preset(
    inception_sd: dict[str, torch.Tensor],
    images: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_module("cleanfid")
    need_module("pytorch_fid")
    from cleanfid.fid import get_files_features

    pfid = _pytorch_fid_net(inception_sd, tmp_path, monkeypatch, resize_input=False, normalize_input=False)

    w = cleanfid_wrapper(pfid)
    ref = torch.from_numpy(
        get_files_features(
            images[1],
            model=w,
            num_workers=0,
            batch_size=1,
            device=torch.device("cpu"),
            mode="clean",
            verbose=False,
        )
    )
    net = InceptionV3FID(random_init=True, preset="clean-fid")
    net.load_state_dict(inception_sd)
    got = extract_features(images[0], net, batch_size=1, progress=False)
    _report(
        "clean-fid",
        "pool3 features from PNG files (clean mode)",
        got,
        ref,
        f"<= {FEATURES_RTOL_PEER:g} of scale",
    )
    _not_collapsed(ref)
    assert _max_rel(got, ref) <= FEATURES_RTOL_PEER


def test_torch_fidelity_vgg16(images: tuple[Path, list[str]], tmp_path: Path) -> None:
    need_module("torch_fidelity")
    need_module("torchvision")
    wfile = tmp_path / "vgg16-test.pth"
    torch.save(vgg16_state_dict(), wfile)  # torchvision's VGG-16 layout, the file torch-fidelity loads
    ext = _fidelity_extractor(["fc2_relu"], wfile, cls="vgg16")
    (ref,) = _fidelity_features(ext, images[1])
    mod_file = tmp_path / "fidelity_vgg_module.pth"
    torch.save(ext.state_dict(), mod_file)
    for weights, kind in ((wfile, "its weight file"), (mod_file, "its module's state dict")):
        net = VGG16FC2(weights=weights, preset="torch-fidelity")
        got = extract_features(images[0], net, batch_size=1, progress=False)
        _report("torch-fidelity", f"VGG-16 fc2_relu features from PNG files ({kind})", got, ref)
        _not_collapsed(ref)
        assert torch.equal(got, ref)
