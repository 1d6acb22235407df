"""End to end: image folders -> metric values, each reference's own image API against fastgan's
``extract_features(preset=...)`` followed by the metric with the same ``preset=``.

The test writes two folders of PNG files (sizes 32, 64, 299 and 512, RGB and greyscale): "real"
and "fake" (another seed, brighter patterns). Every package reads them with its own loader and
runs the same random weights (data-dependent BatchNorm statistics, ``peers.conftest``) in its own
network: torch-fidelity ``calculate_metrics`` (its weight-file option), clean-fid ``compute_fid`` /
``compute_kid`` in "clean" mode (its pipeline with pytorch-fid's network holding the weights in
place of the TorchScript graph, which cannot take other weights), pytorch-fid
``calculate_fid_given_paths`` (its weight loader pointed at the file). Batch size 1 on both sides,
so the features are bitwise equal (``test_features_parity.py``) and every difference below comes
from the metric arithmetic.

Conventions: torch-fidelity's ``input1`` is the generated folder (its precision is the fraction
of ``input1`` inside the real manifold, its KID rounds draw ``input1`` first): fastgan's ``fake``.
clean-fid's ``compute_kid(fdir1, fdir2)`` draws ``fdir2`` first: ``fdir1`` = real, ``fdir2`` =
fake, the order of its ``kernel_distance(reference, generated)``.

Tolerances, per case (the recorded differences are in the README's parity table):

* IS (torch-fidelity): 1e-12 relative; both float64 on the same float32 logits and splits.
* KID: the rounds are the reference's (proved by running the reference's own function on float64
  copies of the same features: 1e-12 relative). On the float32 features the references evaluate
  each round in float32 (numpy GEMM and sums), fastgan in float64: the difference is bounded by
  ``KID_F32_RTOL`` times the round's kernel scale (the mean |k| of its blocks), float32
  rounding of sums of m^2 kernel values that cancel down to the KID.
* precision / recall (torch-fidelity): identical counts (its fractions are float32 means).
* density / coverage (prdc on the VGG-16 features of the folders): identical counts.
* FID: with a few dozen images the covariances are singular (N < 2048), where the references'
  ``sqrtm`` / ``eigvals`` of S1 S2 are inaccurate: fastgan equals the exact float64 value (nuclear
  norm of ``Xc Yc^T``) to 1e-9 of the FID scale ``|mu1 - mu2|^2 + tr S1 + tr S2``, and each
  reference lies within its own error bound (``singular_tol``, plus the float32 mean that
  torch-fidelity and clean-fid take: ``FID_MEAN_F32`` of the scale) or raises (pytorch-fid's
  "Imaginary component").
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import fastgan.metrics as M
from fastgan.features import VGG16FC2, InceptionV3FID, extract_features
from peers.conftest import (
    cleanfid_wrapper,
    frechet_oracle,
    need_module,
    record,
    vgg16_state_dict,
    write_images,
)

pytestmark = [pytest.mark.peers, pytest.mark.slow]

N_REAL, N_FAKE = 12, 10
SIZES = (32, 64, 299, 512)
KID_SUBSETS, KID_SUBSET_SIZE = 10, 8  # torch-fidelity; clean-fid: its own 100 rounds, size clamped
IS_SPLITS = 5  # torch-fidelity's isc_splits (its shuffle is the preset's)
SEED = 7  # numpy's global seed before clean-fid's compute_kid
EXACT = 1e-12
#: fastgan's Inception runs batch norm folded into the convolutions, oneDNN's blocked tensors (the NCHW
#: kernels) under pytorch-fid's preset
#: and channels-last under the others on the CPU (fastgan/features/inception.py): the same network
#: with another rounding; values computed from the features are compared at the project's
#: parity bound for pytorch-fid (1e-6 relative; torch-fidelity and clean-fid are allowed 1e-5)
LAYOUT_RTOL = 1e-6
#: torch-fidelity's and clean-fid's bound (their presets run channels-last: about twice the rounding)
PEER_RTOL = 1e-5
#: the covariance: products of two features, each within LAYOUT_RTOL of its scale
STATS_RTOL = 4 * LAYOUT_RTOL
KID_F32_RTOL = 1e-5  # of the kernel scale, see the module docstring
FID_RTOL = 1e-9  # fastgan vs the exact float64 value, of the FID scale
FID_MEAN_F32 = 1e-6  # float32 means (torch-fidelity, clean-fid), of the FID scale


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("folders")
    write_images(root / "real", N_REAL, 10, SIZES)
    write_images(root / "fake", N_FAKE, 11, SIZES, brightness=0.95)
    return root / "real", root / "fake"


def _extract(folder: Path, net: nn.Module, logits: bool = False) -> Any:
    return extract_features(str(folder), net, batch_size=1, return_logits=logits, progress=False)


def fid_scale(x: np.ndarray, y: np.ndarray) -> float:
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + np.trace(np.cov(x, rowvar=False)) + np.trace(np.cov(y, rowvar=False)))


def singular_tol(x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of a reference's ``tr sqrt(S1 S2)`` for singular S1 S2: d rounding-noise
    eigenvalues of size ~ eps ||S1|| ||S2||, whose square roots add up (10x margin, x2 for FID)."""
    d = x.shape[1]
    norm = float(np.linalg.norm(np.cov(x, rowvar=False), 2) * np.linalg.norm(np.cov(y, rowvar=False), 2))
    return 20.0 * d * math.sqrt(np.finfo(np.float64).eps * norm)


def check_fid(
    peer: str, ours: float, theirs: Any, real: torch.Tensor, fake: torch.Tensor, mean_f32: bool
) -> None:
    """fastgan = exact float64 FID; the peer within its own accuracy (or its documented error)."""
    x, y = real.double().numpy(), fake.double().numpy()
    exact, scale = frechet_oracle(x, y), fid_scale(x, y)
    record(
        peer,
        "FID from the folders: fastgan vs exact float64 (N < D: singular covariances)",
        ours,
        exact,
        tol=f"<= {FID_RTOL:g} of the FID scale",
        scale=scale,
    )
    assert abs(ours - exact) <= FID_RTOL * scale
    if isinstance(theirs, Exception):
        assert "Imaginary component" in str(theirs)
        return
    tol = singular_tol(x, y) + (FID_MEAN_F32 * scale if mean_f32 else 0.0)
    record(
        peer,
        "FID from the folders: fastgan vs the reference (its sqrtm of a singular product)",
        ours,
        theirs,
        tol=f"<= its own error bound ({tol / scale:.1e} of the FID scale)",
        scale=scale,
    )
    assert abs(ours - theirs) <= tol


def kernel_scale(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Mean |k(a, b)| over all real and fake pairs, k the KID polynomial kernel."""
    z = torch.cat([real, fake]).double()
    return float(((z @ z.T) / z.shape[1] + 1.0).pow(3).abs().mean())


# ------------------------------------------------------------------------------------------------
# torch-fidelity: calculate_metrics(isc, fid, kid) and calculate_metrics(prc) on the folders
# ------------------------------------------------------------------------------------------------
def test_torch_fidelity_end_to_end(
    folders: tuple[Path, Path], inception_sd: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    need_module("torch_fidelity")
    need_module("torchvision")
    import torch_fidelity
    from torch_fidelity.metric_kid import kid_features_to_metric

    real_dir, fake_dir = folders
    wfile, vfile = tmp_path / "inception.pth", tmp_path / "vgg16.pth"
    torch.save(inception_sd, wfile)
    torch.save(vgg16_state_dict(), vfile)
    common = dict(
        input1=str(fake_dir), input2=str(real_dir), cuda=False, batch_size=1, cache=False, verbose=False
    )
    theirs = torch_fidelity.calculate_metrics(
        isc=True,
        isc_splits=IS_SPLITS,
        fid=True,
        kid=True,
        kid_subsets=KID_SUBSETS,
        kid_subset_size=KID_SUBSET_SIZE,
        feature_extractor_weights_path=str(wfile),
        **common,
    )
    theirs_prc = torch_fidelity.calculate_metrics(
        prc=True, feature_extractor_weights_path=str(vfile), **common
    )

    net = InceptionV3FID(weights=wfile, preset="torch-fidelity")
    real = _extract(real_dir, net)
    fake, fake_logits = _extract(fake_dir, net, logits=True)

    # Inception Score of input1: its shuffle (RandomState(2020)), contiguous splits
    ours_is = M.inception_score(fake_logits, IS_SPLITS, preset="torch-fidelity")
    for key, their_key in ((M.KEY_IS_MEAN, "inception_score_mean"), (M.KEY_IS_STD, "inception_score_std")):
        record(
            "torch-fidelity",
            f"IS from the folders ({key})",
            ours_is[key],
            theirs[their_key],
            tol=f"<= {PEER_RTOL:g} of the IS mean",
        )
        # the std (a difference of split scores) relative to the mean, as bench_eval compares it
        assert abs(ours_is[key] - theirs[their_key]) <= PEER_RTOL * abs(theirs["inception_score_mean"])

    # KID: its rounds (RandomState(2020), input1 = fake first), its float32 arithmetic
    ours_kid = M.kid(real, fake, KID_SUBSETS, KID_SUBSET_SIZE, preset="torch-fidelity", dtype=torch.float64)
    same64 = kid_features_to_metric(
        fake.double(),
        real.double(),
        kid_subsets=KID_SUBSETS,
        kid_subset_size=KID_SUBSET_SIZE,
        rng_seed=2020,
        verbose=False,
    )
    ks = kernel_scale(real, fake)
    for key, their_key in (
        (M.KEY_KID_MEAN, "kernel_inception_distance_mean"),
        (M.KEY_KID_STD, "kernel_inception_distance_std"),
    ):
        record(
            "torch-fidelity",
            f"KID from the folders, same rounds, float64 copies ({key})",
            ours_kid[key],
            same64[their_key],
            tol=f"<= {EXACT:g} relative",
        )
        assert abs(ours_kid[key] - same64[their_key]) <= EXACT * abs(same64[their_key])
        record(
            "torch-fidelity",
            f"KID from the folders, its float32 rounds ({key})",
            ours_kid[key],
            theirs[their_key],
            tol=f"<= {KID_F32_RTOL:g} of the kernel scale",
            scale=ks,
        )
        assert abs(ours_kid[key] - theirs[their_key]) <= KID_F32_RTOL * ks

    # FID
    check_fid(
        "torch-fidelity", M.fid(real, fake), theirs["frechet_inception_distance"], real, fake, mean_f32=True
    )

    # precision / recall with its VGG-16 fc2_relu features: k = 3, <=
    vgg = VGG16FC2(weights=vfile, preset="torch-fidelity")
    real_v, fake_v = _extract(real_dir, vgg), _extract(fake_dir, vgg)
    ours_pr = M.precision_recall(real_v, fake_v, preset="torch-fidelity")
    for key, n in ((M.KEY_PRECISION, N_FAKE), (M.KEY_RECALL, N_REAL)):
        ours_count, their_count = round(ours_pr[key] * n), round(theirs_prc[key] * n)
        record(
            "torch-fidelity",
            f"{key} from the folders (count of samples)",
            ours_count,
            their_count,
            tol="exact",
            scale=n,
        )
        assert ours_count == their_count and np.float32(ours_pr[key]) == np.float32(theirs_prc[key])
    assert 0.0 < ours_pr[M.KEY_PRECISION] < 1.0 or 0.0 < ours_pr[M.KEY_RECALL] < 1.0, "vacuous"

    # density / coverage (the prdc package) on the same VGG-16 features, float64 copies, its '<'
    if importlib.util.find_spec("prdc") is not None:
        import prdc as prdc_pkg

        theirs_dc = prdc_pkg.compute_prdc(real_v.double().numpy(), fake_v.double().numpy(), nearest_k=5)
        ours_dc = M.prdc(real_v, fake_v, k=5, strict=True)
        for key in (M.KEY_PRECISION, M.KEY_RECALL, M.KEY_DENSITY, M.KEY_COVERAGE):
            n = 5 * N_FAKE if key == M.KEY_DENSITY else (N_FAKE if key == M.KEY_PRECISION else N_REAL)
            ours_count, their_count = round(ours_dc[key] * n), round(float(theirs_dc[key]) * n)
            record(
                "prdc",
                f"{key} on the folders' VGG-16 features (count)",
                ours_count,
                their_count,
                tol="exact",
                scale=n,
            )
            assert ours_count == their_count, key


# ------------------------------------------------------------------------------------------------
# clean-fid: compute_fid and compute_kid on the folders, mode="clean"
# ------------------------------------------------------------------------------------------------
def _clean_fid_model(
    sd: dict[str, torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> nn.Module:
    """clean-fid's InceptionV3W (its normalisation) around pytorch-fid's network with ``sd``."""
    import pytorch_fid.inception as pfi

    path = tmp_path / "pt_inception-test.pth"
    torch.save(dict(sd), path)
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: torch.load(path, weights_only=True))
    pfid = pfi.InceptionV3(
        [pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False, normalize_input=False
    ).eval()

    return cleanfid_wrapper(pfid)


def test_clean_fid_end_to_end(
    folders: tuple[Path, Path],
    inception_sd: dict[str, torch.Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_module("cleanfid")
    need_module("pytorch_fid")
    import cleanfid.fid as cfid

    real_dir, fake_dir = folders
    w = _clean_fid_model(inception_sd, tmp_path, monkeypatch)
    monkeypatch.setattr(cfid, "build_feature_extractor", lambda *a, **k: w)
    kw = dict(mode="clean", num_workers=0, batch_size=1, device=torch.device("cpu"), verbose=False)
    theirs_fid = float(cfid.compute_fid(str(real_dir), str(fake_dir), custom_feat_extractor=w, **kw))
    np.random.seed(SEED)
    theirs_kid = float(cfid.compute_kid(str(real_dir), str(fake_dir), **kw))

    net = InceptionV3FID(random_init=True, preset="clean-fid")
    net.load_state_dict(inception_sd)
    real, fake = _extract(real_dir, net), _extract(fake_dir, net)

    # KID: 100 rounds of min(N_real, N_fake, 1000) rows, numpy's global RNG (fake rows first)
    f64 = torch.float64  # the same rounds' float64 sums (the float32 default is compared below)
    ours = M.kid(real, fake, preset="clean-fid", seed=SEED, dtype=f64)[M.KEY_KID_MEAN]
    np.random.seed(SEED)
    assert (
        M.kid(real, fake, preset="clean-fid", dtype=f64)[M.KEY_KID_MEAN] == ours
    )  # global RNG = RandomState(seed)
    np.random.seed(SEED)
    same64 = float(cfid.kernel_distance(real.double().numpy(), fake.double().numpy()))
    record(
        "clean-fid",
        "KID from the folders, same rounds, float64 copies (kid_mean)",
        ours,
        same64,
        tol=f"<= {EXACT:g} relative",
    )
    assert abs(ours - same64) <= EXACT * abs(same64)
    ks = kernel_scale(real, fake)
    record(
        "clean-fid",
        "KID from the folders, its float32 rounds (kid_mean)",
        ours,
        theirs_kid,
        tol=f"<= {KID_F32_RTOL:g} of the kernel scale",
        scale=ks,
    )
    assert abs(ours - theirs_kid) <= KID_F32_RTOL * ks

    check_fid("clean-fid", M.fid(real, fake), theirs_fid, real, fake, mean_f32=True)


# ------------------------------------------------------------------------------------------------
# pytorch-fid: calculate_fid_given_paths on the folders
# ------------------------------------------------------------------------------------------------
def test_pytorch_fid_end_to_end(
    folders: tuple[Path, Path],
    inception_sd: dict[str, torch.Tensor],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_module("pytorch_fid")
    import pytorch_fid.inception as pfi
    from pytorch_fid import fid_score

    real_dir, fake_dir = folders
    path = tmp_path / "pt_inception-test.pth"
    torch.save(dict(inception_sd), path)
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: torch.load(path, weights_only=True))
    seen: list[tuple[np.ndarray, np.ndarray]] = []  # its statistics, as its FID receives them
    frechet = fid_score.calculate_frechet_distance

    def spy(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, **kw: Any) -> Any:
        seen.append((mu1, s1))
        return frechet(mu1, s1, mu2, s2, **kw)

    monkeypatch.setattr(fid_score, "calculate_frechet_distance", spy)
    theirs: Any
    try:
        theirs = float(
            fid_score.calculate_fid_given_paths(
                [str(real_dir), str(fake_dir)], batch_size=1, device="cpu", dims=2048, num_workers=0
            )
        )
    except ValueError as exc:  # scipy's sqrtm of the singular product: "Imaginary component"
        theirs = exc
    ((mu, sigma),) = seen

    net = InceptionV3FID(weights=path, preset="pytorch-fid")
    real, fake = _extract(real_dir, net), _extract(fake_dir, net)
    stats = M.FeatureStats.from_features(real)
    record(
        "pytorch-fid",
        "FID statistics from the folders (mean)",
        stats.mean,
        mu,
        tol=f"<= {LAYOUT_RTOL:g} relative",
    )
    record(
        "pytorch-fid",
        "FID statistics from the folders (covariance)",
        stats.cov,
        sigma,
        tol=f"<= {STATS_RTOL:g} relative",
    )
    assert np.abs(stats.mean.numpy() - mu).max() <= LAYOUT_RTOL * np.abs(mu).max()
    assert np.abs(stats.cov.numpy() - sigma).max() <= STATS_RTOL * np.abs(sigma).max()
    check_fid("pytorch-fid", M.fid(real, fake), theirs, real, fake, mean_f32=False)
