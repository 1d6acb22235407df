"""Input builders shared by the tests and the benchmarks (DESIGN.md section 3 item 12).

The benchmarks import these (``bench/conftest.py`` puts ``tests/`` on ``sys.path``), so a timed
case and the test that checks the same op are built from the same inputs. Every builder draws
from a seed or a ``torch.Generator`` only (never the global RNG), on the CPU.
"""

from __future__ import annotations

from typing import Union

import torch

Seed = Union[int, torch.Generator]


def _gen(seed: Seed) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)


def pool3_like(n: int, d: int, seed: Seed, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Tensor[n, d] of ``|N(0, 1)|``: Inception pool3 features are non-negative (averaged ReLUs).

    ``seed``: an int, or a generator to draw several sets from one stream.
    """
    return torch.randn(n, d, generator=_gen(seed), dtype=dtype).abs()


def sample_covariance(batch: int, n: int, seed: Seed, *, shift: float = 0.0) -> torch.Tensor:
    """Tensor[batch, n, n] float64: ``X^T X / (2 n)`` of ``X = N(0, 1) + shift`` with ``2 n`` rows.

    A well-conditioned PSD batch (the FID trace-term inputs).
    """
    x = torch.randn(batch, 2 * n, n, generator=_gen(seed), dtype=torch.float64)
    if shift:
        x = x + shift
    return x.mT @ x / (2 * n)
