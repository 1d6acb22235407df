"""Shared by the command-line tests: a tiny stand-in feature network the commands build instead of Inception."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest
import torch


class TinyNet(torch.nn.Module):
    """A stand-in feature network: float [0, 1] images [B, 3, 16, 16] -> features [B, 4]."""

    input_size = 16
    resize = "bilinear"

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def install_tiny_builder(
    monkeypatch: pytest.MonkeyPatch, check: Optional[Callable[[str, Any], None]] = None
) -> list[TinyNet]:
    """Every feature network the commands build is a fresh :class:`TinyNet` (returned in build order);
    ``check(name, weights)`` sees each request first."""
    import fastgan.evaluation.embed as emb

    built: list[TinyNet] = []

    def build(name: str, weights: Any = None, **kwargs: Any) -> TinyNet:
        if check is not None:
            check(name, weights)
        built.append(TinyNet())
        return built[-1]

    monkeypatch.setattr(emb, "build_extractor", build)
    return built
