"""KID subset drawing: rows per round under a preset's rule and the rounds' row indices.

The reference packages' RNG conventions (torch ``randperm`` as torchmetrics draws, numpy
``RandomState.choice`` as torch-fidelity and clean-fid draw) live here; the public names are
re-exported by :mod:`fastgan.metrics.kernel_distance`.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from fastgan._checks import check_positive_int
from fastgan.metrics.conventions import PresetLike, get_conventions

__all__ = ["kid_subset_indices", "kid_subset_size"]


def kid_subset_size(n_real: int, n_fake: int, subset_size: int, rule: str = "error") -> int:
    """The rows per round m for ``subset_size`` under a preset's rule.

    ``rule="error"`` (fastgan, torch-fidelity): ``m = subset_size``, a ValueError when it exceeds
    either sample count. ``rule="clamp"`` (clean-fid): ``m = min(n_real, n_fake, subset_size)``.
    Either way m >= 2 (the unbiased estimator needs two rows per side).
    """
    m = check_positive_int(subset_size, "subset_size", minimum=2)
    if rule == "clamp":
        m = min(m, n_real, n_fake)
        if m < 2:
            raise ValueError(
                f"subset_size: the unbiased estimator needs at least 2 samples per side, got "
                f"{n_real} real and {n_fake} fake"
            )
        return m
    if rule != "error":
        raise ValueError(f"rule: must be 'error' or 'clamp', got {rule!r}")
    for n, name in ((n_real, "real"), (n_fake, "fake")):
        if m > n:
            raise ValueError(
                f"subset_size ({m}) is larger than the number of {name} samples ({n}); "
                f"use subset_size <= {min(n_real, n_fake)} or provide more samples"
            )
    return m


def kid_subset_indices(
    n_real: int,
    n_fake: int,
    subsets: int,
    subset_size: int,
    generator: Optional[torch.Generator] = None,
    *,
    preset: PresetLike = None,
    seed: Optional[int] = None,
    subset_rule: Optional[str] = None,
    rng: Optional[str] = None,
    draw_first: Optional[str] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of every KID round, drawn without replacement within a round.

    Without a preset (and with ``generator=``): round s uses ``randperm(n_real)[:m]`` then
    ``randperm(n_fake)[:m]`` from ``generator`` (in that order, round by round), so a seeded
    generator fixes every subset. A preset whose ``kid_rng`` is ``"numpy"`` draws round by round
    ``choice(n, m, replace=False)`` from ``numpy.random.RandomState(seed)`` (``seed`` None: the
    preset's ``kid_seed``; None there too: numpy's global RNG, which this advances), first for
    the side ``kid_draw_first`` names. ``generator=`` (torch draws) and ``seed=`` override the
    preset's RNG; the subset size follows the preset's ``kid_subset_rule``
    (:func:`kid_subset_size`).

    Args:
        n_real, n_fake: sample counts.
        subsets: number of rounds S.
        subset_size: rows per round (before the preset's rule).
        generator: torch generator (torch draws; a CUDA generator draws on its device).
        preset: name, :class:`~fastgan.features.Preset` or :class:`~fastgan.metrics.conventions.MetricConventions` (None: ``"pytorch-fid"``,
            fastgan's defaults).
        seed: seed of the preset's RNG (torch: ``torch.Generator().manual_seed(seed)``).
        subset_rule, rng, draw_first: the preset's ``kid_subset_rule``, ``kid_rng`` and
            ``kid_draw_first`` given as values (None: the preset's).

    Returns:
        (Tensor[S, m] int64, Tensor[S, m] int64) real and fake rows, on the CPU.

    Matches: torch-fidelity 0.4.0 ``kid_features_to_metric`` (``preset="torch-fidelity"``,
    features_1 = generated), clean-fid 0.1.35 ``kernel_distance(real, fake)``
    (``preset="clean-fid"``), torchmetrics ``KernelInceptionDistance`` (no preset, global torch RNG).
    """
    p = get_conventions(preset)
    subsets = check_positive_int(subsets, "subsets")
    m = kid_subset_size(
        n_real, n_fake, subset_size, p.kid_subset_rule if subset_rule is None else subset_rule
    )
    if generator is not None and seed is not None:
        raise ValueError("seed, generator: pass at most one of them")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
    rng = "torch" if generator is not None else (p.kid_rng if rng is None else rng)
    if seed is None and generator is None:
        seed = p.kid_seed
    first_fake = (p.kid_draw_first if draw_first is None else draw_first) == "fake"
    if rng == "numpy":
        draw = (np.random.RandomState(seed) if seed is not None else np.random).choice
        out_r, out_f = np.empty((subsets, m), np.int64), np.empty((subsets, m), np.int64)
        for s in range(subsets):
            if first_fake:
                out_f[s] = draw(n_fake, m, replace=False)
                out_r[s] = draw(n_real, m, replace=False)
            else:
                out_r[s] = draw(n_real, m, replace=False)
                out_f[s] = draw(n_fake, m, replace=False)
        return torch.from_numpy(out_r), torch.from_numpy(out_f)
    if rng != "torch":
        raise ValueError(f"preset: kid_rng must be 'torch' or 'numpy', got {rng!r}")
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    dev = (
        generator.device if generator is not None else torch.device("cpu")
    )  # a CUDA generator draws on its GPU
    idx_r = torch.empty(subsets, m, dtype=torch.int64, device=dev)
    idx_f = torch.empty(subsets, m, dtype=torch.int64, device=dev)
    for s in range(subsets):
        if first_fake:
            idx_f[s] = torch.randperm(n_fake, generator=generator, device=dev)[:m]
            idx_r[s] = torch.randperm(n_real, generator=generator, device=dev)[:m]
        else:
            idx_r[s] = torch.randperm(n_real, generator=generator, device=dev)[:m]
            idx_f[s] = torch.randperm(n_fake, generator=generator, device=dev)[:m]
    return idx_r.cpu(), idx_f.cpu()
