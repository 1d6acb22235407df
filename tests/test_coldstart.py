"""Start-up: a one-off Frechet distance or loss must not import the compiler stack or sympy.

Each check runs in a fresh interpreter (the test process itself has imported everything).
No timing assertions here: ``bench/bench_coldstart.py`` measures the first call against warm calls.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, sys
import torch
import fastgan.metrics
import fastgan.losses
from fastgan.linalg import sqrtm_sym
g = torch.Generator().manual_seed(0)
x = torch.randn(300, 160, generator=g, dtype=torch.float64)
y = torch.randn(300, 160, generator=g, dtype=torch.float64) + 0.1
fd = fastgan.metrics.frechet_distance(x.mean(0), torch.cov(x.T), y.mean(0), torch.cov(y.T))
a = torch.eye(4, dtype=torch.float64).requires_grad_(True)
sqrtm_sym(a).sum().backward()
v = torch.randn(64, requires_grad=True)
fastgan.losses.minimax_discriminator_loss(v, v.detach() + 1).backward()
mods = {m: m in sys.modules for m in ("torch._dynamo", "torch._inductor", "sympy")}
print(json.dumps({**mods, "fd": float(fd)}))
"""


def test_metrics_and_losses_do_not_import_compiler_stack() -> None:
    cmd = [sys.executable, "-c", CHILD]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["fd"] > 0
    assert not result["torch._dynamo"], "eager fastgan calls imported torch._dynamo"
    assert not result["torch._inductor"], "eager fastgan calls imported torch._inductor"
    assert not result["sympy"], "eager fastgan calls imported sympy (e.g. through torch.broadcast_shapes)"
