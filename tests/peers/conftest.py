"""Peers suite: fastgan against the reference packages on identical inputs.

Every test here carries the ``peers`` marker and skips itself when the reference package it
compares with cannot be imported. torchmetrics and prdc import beside the default environment's
torch; pytorch-fid, torch-fidelity and clean-fid import torchvision and run in the environment
``tests/peers/make_env.sh`` builds (see bench/README.md).

Measured differences: every comparison goes through :func:`record`; with the environment
variable ``FASTGAN_PEERS_RECORD`` set to a file path, the session writes all of them there as
JSON (one entry per comparison: peer, version, quantity, test, max absolute and relative
difference, bitwise equality, the tolerance asserted), and ``tests/peers/parity_table.py`` turns
that file into the README's parity table.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
import torch

#: import name -> distribution name of each reference package.
PEERS = {
    "pytorch_fid": "pytorch-fid",
    "torch_fidelity": "torch-fidelity",
    "cleanfid": "clean-fid",
    "torchmetrics": "torchmetrics",
    "prdc": "prdc",
}


def pytest_report_header(config: pytest.Config) -> str:
    import fastgan

    found = []
    for name, dist in PEERS.items():
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
            found.append(f"{dist}: not importable ({type(exc).__name__})")
        else:
            found.append(f"{dist} {importlib.metadata.version(dist)}")
    return f"peers: {', '.join(found)}; fastgan from {fastgan.__file__}"


def gaussian_features(n: int, d: int, seed: int, *, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Seeded float64 features with a non-trivial covariance: Tensor-free ``[n, d]`` array."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / math.sqrt(d)
    return (rng.standard_normal((n, d)) @ mix) * scale + shift


def logits(n: int, c: int, seed: int, *, temperature: float = 3.0) -> np.ndarray:
    """Seeded float64 classifier logits ``[n, c]`` with peaked, varied predictions."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)) * temperature


def frechet_oracle(x: np.ndarray, y: np.ndarray) -> float:
    """Float64 brute-force FID of two feature sets ``[n, d]``, ``[m, d]`` with ``numpy.cov``
    moments. With centred ``Xc``, ``Yc``, the non-zero eigenvalues of ``S1 S2`` are the squared
    singular values of ``Xc Yc^T`` over ``(n - 1)(m - 1)``, so ``tr sqrt(S1 S2)`` is that matrix's
    nuclear norm: exact for singular covariances (n < d) too, where a square root of the
    product's rounding-level eigenvalues would cost sqrt(eps) each."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mu1, y - mu2
    tr_sqrt = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / math.sqrt((len(x) - 1) * (len(y) - 1))
    diff = mu1 - mu2
    tr1 = np.einsum("ij,ij->", xc, xc) / (len(x) - 1)
    tr2 = np.einsum("ij,ij->", yc, yc) / (len(y) - 1)
    return float(diff @ diff + tr1 + tr2 - 2.0 * tr_sqrt)


class Identity(torch.nn.Module):
    """Feature module that returns its input: feeds precomputed features to torchmetrics'
    image metrics. ``num_features`` spares torchmetrics' FID its dummy-image probe."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# ------------------------------------------------------------------------------------------------
# measured differences
# ------------------------------------------------------------------------------------------------
RECORD_ENV = "FASTGAN_PEERS_RECORD"
_RECORDS: list[dict[str, Any]] = []


def peer_version(dist: str) -> str:
    """``"<dist> <version>"`` of an installed distribution (``"<dist> ?"`` when not installed)."""
    try:
        return f"{dist} {importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} ?"


def record(
    peer: str,
    quantity: str,
    ours: Any,
    theirs: Any,
    *,
    tol: str,
    scale: Optional[float] = None,
) -> dict[str, Any]:
    """Record one comparison (and return it): fastgan's value(s) against the peer's.

    Args:
        peer: distribution name (``"torch-fidelity"``); its installed version is looked up.
        quantity: what was compared, as the table shows it.
        ours, theirs: floats, arrays or tensors of one shape.
        tol: the tolerance the test asserts, in words (``"bitwise"``, ``"<= 1e-12 relative"``).
        scale: divisor of the relative difference (default: max |theirs|, at least tiny).
    """
    a = np.asarray(ours.detach().cpu().double() if torch.is_tensor(ours) else ours, dtype=np.float64)
    b = np.asarray(theirs.detach().cpu().double() if torch.is_tensor(theirs) else theirs, dtype=np.float64)
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    ref = float(np.abs(b).max()) if scale is None else float(scale)
    entry = {
        "peer": peer,
        "version": peer_version(peer).split(" ", 1)[1],
        "quantity": quantity,
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
        "max_abs_diff": diff,
        "max_rel_diff": diff / ref if ref > 0 else (0.0 if diff == 0 else math.inf),
        "bitwise": bool(a.shape == b.shape and np.array_equal(a, b)),
        "tolerance": tol,
        "ours": a.tolist() if a.size <= 8 else None,
        "theirs": b.tolist() if b.size <= 8 else None,
    }
    _RECORDS.append(entry)
    print(f"[parity] {peer} {quantity}: max |diff| {diff:.3e}, relative {entry['max_rel_diff']:.3e} ({tol})")
    return entry


@pytest.fixture(scope="session", autouse=True)
def _write_records() -> Iterator[None]:
    """At the end of the session, write the recorded comparisons to ``$FASTGAN_PEERS_RECORD``."""
    yield
    path = os.environ.get(RECORD_ENV)
    if path and _RECORDS:
        import torch as _torch

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "torch": _torch.__version__,
            "numpy": np.__version__,
            "peers": {dist: peer_version(dist).split(" ", 1)[1] for dist in PEERS.values()},
        }
        Path(path).write_text(json.dumps({"meta": meta, "records": _RECORDS}, indent=1) + "\n")


# ------------------------------------------------------------------------------------------------
# networks with random weights (shared by the feature-level and the end-to-end tests)
# ------------------------------------------------------------------------------------------------
def calibrate_batchnorm(net: torch.nn.Module, x: torch.Tensor) -> None:
    """Random BN affine parameters, running statistics = the statistics of ``x``'s activations
    (one pass in training mode with cumulative averaging), so the features do not collapse."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2 + 0.1)
                m.reset_running_stats()
                m.momentum = None  # cumulative average: one pass stores the batch statistics
        net.train()
        net(x)
        net.eval()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1


@pytest.fixture(scope="session")
def inception_sd() -> dict[str, torch.Tensor]:
    """fastgan's Inception-v3 state dict: random weights, data-dependent BN statistics."""
    from fastgan.features import InceptionV3FID

    torch.manual_seed(0)
    net = InceptionV3FID(random_init=True)
    g = torch.Generator().manual_seed(2)
    calib = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8, generator=g)
    calibrate_batchnorm(net, calib)
    return {k: v.clone() for k, v in net.state_dict().items()}


def vgg16_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's VGG-16 with variance-preserving random weights (fc2 does not vanish)."""
    import torchvision

    torch.manual_seed(3)
    tv = torchvision.models.vgg16(weights=None)
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.bias.normal_(0.0, 0.05)
    return tv.state_dict()


def write_images(
    root: Path, n: int, seed: int, sizes: tuple[int, ...], *, brightness: float = 0.7
) -> list[str]:
    """``n`` PNG files in ``root`` (cycling through ``sizes``, every other one greyscale): smooth
    random patterns (a 4 x 4 colour grid upsampled) plus noise. Returns the sorted paths."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        s = sizes[i % len(sizes)]
        base = rng.integers(0, 256, (4, 4, 3)).astype(np.float64)
        yy, xx = np.meshgrid(np.linspace(0, 3, s), np.linspace(0, 3, s), indexing="ij")
        img = base[yy.astype(int), xx.astype(int)] * brightness + rng.integers(0, 77, (s, s, 3))
        rgb = np.clip(img, 0, 255).astype(np.uint8)
        grey = (i // len(sizes)) % 2 == 1
        path = root / f"{i:03d}_{s}_{'grey' if grey else 'rgb'}.png"
        Image.fromarray(rgb[..., 0] if grey else rgb).save(path)
        files.append(str(path))
    return sorted(files)


def need_module(module: str) -> None:
    """Skip the calling test unless ``module`` imports (a peer may be installed but fail to import,
    e.g. without torchvision underneath)."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not importable")
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        pytest.skip(f"{module} does not import: {type(exc).__name__}: {exc}")


def cleanfid_wrapper(pfid: torch.nn.Module) -> torch.nn.Module:
    """clean-fid's ``InceptionV3W`` (its own input normalisation in ``forward``) around
    pytorch-fid's ``InceptionV3`` ``pfid`` (built with ``resize_input=False``,
    ``normalize_input=False``), standing in for the TorchScript graph clean-fid downloads."""
    from cleanfid.inception_torchscript import InceptionV3W

    class Layers(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return pfid(x)[0]

    w = InceptionV3W.__new__(InceptionV3W)
    torch.nn.Module.__init__(w)
    w.layers, w.resize_inside = Layers(), False
    return w
