"""Peers suite: fastgan against the reference packages on identical inputs.

Every test here carries the ``peers`` marker and skips itself when the reference package it
compares with cannot be imported. torchmetrics and prdc import beside the default environment's
torch; pytorch-fid, torch-fidelity and clean-fid import torchvision and run in the environment
``tests/peers/make_env.sh`` builds (see bench/README.md).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math

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
