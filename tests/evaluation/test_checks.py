"""evaluate() reports how KID's float32 result was checked (info["checks"]) and falls back when told."""

from __future__ import annotations

import torch

import fastgan
from fastgan.metrics import kid


def _sets() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g) + 0.2


def test_kid_check_reported_in_info() -> None:
    r, f = _sets()
    res = fastgan.evaluate(r, f, metrics="kid", kid_subsets=60, kid_subset_size=100)
    check = res.info["checks"]["kid"]
    assert check["dtype"] == "float32" and check["rounds_checked"] == 2 and check["fallback"] is False
    assert 0 < check["max_diff"] <= check["tol"] * check["spread"]
    assert check["spread"] == res["kid_std"]
    # the same numbers as the function with the same (default-preset) subsets and a seed of 0
    want = kid(r, f, subsets=60, subset_size=100, generator=torch.Generator().manual_seed(0))
    assert res["kid_mean"] == want["kid_mean"]


def test_kid_check_fallback_through_options() -> None:
    r, f = _sets()
    res = fastgan.evaluate(
        r, f, metrics="kid", kid_subsets=10, kid_subset_size=100, options={"kid": {"tol": 0.0}}
    )
    assert res.info["checks"]["kid"]["fallback"] is True and res.info["checks"]["kid"]["dtype"] == "float64"
    exact = kid(r, f, 10, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert res["kid_mean"] == exact["kid_mean"]
