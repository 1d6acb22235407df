"""Peers: MIFID against torchmetrics' MemorizationInformedFrechetInceptionDistance on identical
features (its feature extractor replaced by the identity). dgm-eval and marcojira/fld (the references
of AuthPct, C_T, FLD and FLS) are not on PyPI: tests/metrics/test_memorization.py checks those
metrics against float64 transcriptions of the reference formulas instead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics import mifid
from peers.conftest import record

pytestmark = pytest.mark.peers


class _Identity(torch.nn.Module):
    """A 'feature extractor' that returns its input (torchmetrics' custom-extractor path)."""

    num_features = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.parametrize("near", [False, True])
def test_mifid_equals_torchmetrics(near: bool) -> None:
    mod = pytest.importorskip("torchmetrics.image.mifid")
    rng = np.random.default_rng(3 + near)
    x = np.abs(rng.standard_normal((500, 16)))
    x[:4] = 0.0  # rows whose sum is 0 are dropped by both
    y = x + (1e-3 if near else 2.0) * rng.standard_normal((500, 16))
    metric = mod.MemorizationInformedFrechetInceptionDistance(feature=_Identity(), normalize=False)
    metric.set_dtype(torch.float64)
    metric.update(torch.from_numpy(x), real=True)
    metric.update(torch.from_numpy(y), real=False)
    theirs = float(metric.compute())
    st: dict = {}
    ours = mifid(torch.from_numpy(x), torch.from_numpy(y), stats=st)
    assert (st["cosine_distance"] < 0.1) == near
    record(
        "torchmetrics",
        f"MIFID ({'memorized' if near else 'not memorized'})",
        ours,
        theirs,
        tol="<= 1e-6 relative",
    )
    # torchmetrics takes the FID from the eigenvalues of S1 S2 (float64): ~1e-9 relative
    assert ours == pytest.approx(theirs, rel=1e-6)
