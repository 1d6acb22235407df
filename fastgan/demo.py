"""``fastgan demo``: f-GANs with several divergences on a 2-D toy mixture, evaluated and plotted.

Needs no data, no weights and no GPU. What it does:

1. The real distribution is a mixture of 8 Gaussians (std 0.1) on a circle of radius 2.
2. For each divergence (default: GAN, KL and squared Hellinger, the panel of Nowozin et al. 2016;
   any name or alias of :func:`fastgan.divergences.get_divergence` works) a small MLP generator
   ``G: R^4 -> R^2`` and critic ``V: R^2 -> R`` are trained with
   :func:`fastgan.losses.fgan_discriminator_loss` and :func:`fastgan.losses.fgan_generator_loss`
   (the critic maximises ``E_real[g_f(V)] - E_fake[f*(g_f(V))]``, the generator uses the
   non-saturating objective of the f-GAN paper).
3. Each generator's samples are evaluated against fresh real samples with FID and
   precision / recall / density / coverage (:mod:`fastgan.metrics`). The metrics are computed
   directly on the 2-D samples (no feature network), so FID here is the Frechet distance of
   Gaussians fitted to the 2-D point clouds. "modes" counts the mixture components that received
   at least a quarter of their fair share of samples within 3 std of their centre.
4. The truncation trick: for the GAN generator of the ring and for a GAN trained on a single
   correlated Gaussian, the latent is pulled towards its mean with
   :func:`fastgan.truncation.psi_truncation` for a range of psi, and
   :func:`fastgan.truncation.truncation_sweep` records precision, recall and FID for each psi.
5. Written to ``out_dir``: ``fits.png`` (real vs generated samples per divergence, drawn here),
   ``truncation.png`` (:func:`fastgan.truncation.plot_truncation_sweep`, one panel per target)
   and ``results.json`` (every number, the dict :func:`run` returns).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, cast

import numpy as np
import torch
from torch import nn

from fastgan._progress import progress_enabled

__all__ = [
    "DemoConfig",
    "FitResult",
    "run",
    "train_fgan",
    "evaluate",
    "truncation_curve",
    "plot_fits",
    "plot_truncation",
    "sample_real",
    "mode_centers",
    "modes_covered",
]

#: default divergences, in display order
DEFAULT_DIVERGENCES: tuple[str, ...] = ("gan", "kl", "hellinger")
#: display labels of registry names (others are shown by their registry name)
_LABELS: dict[str, str] = {
    "gan": "GAN",
    "kl": "KL",
    "reverse_kl": "reverse KL",
    "squared_hellinger": "sq. Hellinger",
    "pearson": "Pearson χ²",
    "neyman": "Neyman χ²",
    "js": "Jensen-Shannon",
    "jeffrey": "Jeffrey",
    "total_variation": "total variation",
}

N_MODES = 8
RADIUS = 2.0
MODE_STD = 0.1
LATENT_DIM = 4
#: truncation targets: key -> panel title
_TARGETS = {"ring": f"{N_MODES}-Gaussian ring", "blob": "correlated Gaussian"}
#: neighbourhood size of the truncation sweep's precision / recall (Kynkaanniemi et al.)
TRUNCATION_K = 3
#: resolution of the saved figures
DPI = 150


@dataclass
class DemoConfig:
    """Sizes of one demo run (``quick`` shrinks everything for smoke tests)."""

    steps: int = 1000
    batch_size: int = 256
    hidden: int = 64
    lr: float = 1e-3
    n_eval: int = 2000
    k: int = 5
    psis: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    divergences: tuple[str, ...] = DEFAULT_DIVERGENCES
    seed: int = 0

    @classmethod
    def make(
        cls,
        *,
        quick: bool = False,
        steps: Optional[int] = None,
        seed: int = 0,
        divergences: Optional[Sequence[str]] = None,
    ) -> DemoConfig:
        """The default sizes, shrunk by ``quick``, with ``steps`` / ``divergences`` overriding them."""
        cfg = cls(seed=seed)
        if quick:
            cfg.steps, cfg.n_eval, cfg.batch_size = 100, 400, 128
            cfg.psis = (0.25, 0.5, 0.75, 1.0)
        if steps is not None:
            cfg.steps = steps
        if divergences is not None:
            cfg.divergences = tuple(divergences)
        return cfg


@dataclass
class FitResult:
    """One trained divergence: its metrics and samples (``samples``: ndarray[n_eval, 2])."""

    name: str
    divergence: str
    samples: np.ndarray
    metrics: dict[str, float]
    seconds: float
    d_losses: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------------------- data
def mode_centers() -> torch.Tensor:
    """Centres of the mixture components, Tensor[8, 2] (float32)."""
    ang = torch.arange(N_MODES, dtype=torch.float64) * (2 * math.pi / N_MODES)
    return (RADIUS * torch.stack([torch.cos(ang), torch.sin(ang)], dim=1)).float()


#: Cholesky factor of the "blob" covariance [[1, 0.8], [0.8, 1]]
_BLOB_FACTOR = torch.tensor([[1.0, 0.0], [0.8, 0.6]])


def sample_real(n: int, generator: Optional[torch.Generator] = None, dataset: str = "ring") -> torch.Tensor:
    """n samples (Tensor[n, 2]) of the 8-Gaussian ring, or of the single correlated Gaussian ``"blob"``."""
    if dataset == "blob":
        return torch.randn(n, 2, generator=generator) @ _BLOB_FACTOR.T
    k = torch.randint(0, N_MODES, (n,), generator=generator)
    return mode_centers()[k] + MODE_STD * torch.randn(n, 2, generator=generator)


def modes_covered(samples: torch.Tensor) -> int:
    """Components holding >= 1/4 of a fair share of ``samples`` (Tensor[n, 2]) within 3 std of their centre."""
    d = torch.cdist(samples.double(), mode_centers().double())
    near, idx = d.min(dim=1)
    hits = torch.bincount(idx[near <= 3 * MODE_STD], minlength=N_MODES)
    return int((hits >= 0.25 * samples.shape[0] / N_MODES).sum())


# --------------------------------------------------------------------------------------- models
def _mlp(d_in: int, d_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, d_out),
    )


def train_fgan(
    divergence: str,
    cfg: DemoConfig,
    seed: int,
    on_step: Optional[Callable[[int], Any]] = None,
    dataset: str = "ring",
    steps: Optional[int] = None,
) -> tuple[nn.Module, list[float]]:
    """Train a generator/critic pair with the f-GAN objective of ``divergence``.

    Args:
        divergence: a name accepted by :func:`fastgan.divergences.get_divergence`.
        cfg: sizes and optimiser settings.
        seed: seeds the initial weights and the training batches.
        on_step: called with 1 after every step (e.g. a progress bar's ``update``).
        dataset: ``"ring"`` or ``"blob"`` (see :func:`sample_real`).
        steps: number of steps (default: ``cfg.steps``).

    Returns:
        The generator (``Tensor[B, 4] -> Tensor[B, 2]``) and the critic loss every 10 steps.
    """
    from fastgan.losses import fgan_discriminator_loss, fgan_generator_loss

    torch.manual_seed(seed)
    data_gen = torch.Generator().manual_seed(seed + 1)
    gen = _mlp(LATENT_DIM, 2, cfg.hidden)
    critic = _mlp(2, 1, cfg.hidden)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    losses: list[float] = []
    for step in range(cfg.steps if steps is None else steps):
        real = sample_real(cfg.batch_size, data_gen, dataset)
        z = torch.randn(cfg.batch_size, LATENT_DIM, generator=data_gen)
        fake = gen(z)
        d_loss = cast(  # reduction "mean": a 0-d tensor
            torch.Tensor,
            fgan_discriminator_loss(critic(real).squeeze(1), critic(fake.detach()).squeeze(1), divergence),
        )
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = fgan_generator_loss(critic(fake).squeeze(1), divergence, mode="nonsaturating")
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if step % 10 == 0:
            losses.append(float(d_loss.detach()))
        if on_step is not None:
            on_step(1)
    return gen, losses


def evaluate(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """FID, precision / recall / density / coverage and modes of 2-D samples (metrics on the raw points).

    Args:
        real (Tensor[N, 2]): reference samples.
        fake (Tensor[M, 2]): generated samples; non-finite ones (a diverged run) give NaN metrics.
        k: neighbourhood size of :func:`fastgan.metrics.prdc` (metric ``prdc`` of the registry).
    """
    from fastgan.evaluation.registry import resolve_options, run_metric

    if not torch.isfinite(fake).all():
        return {
            "fid": math.nan,
            "precision": math.nan,
            "recall": math.nan,
            "density": math.nan,
            "coverage": math.nan,
            "modes": 0,
        }
    out: dict[str, float] = dict(run_metric("fid", real.double(), fake.double(), {})[0])
    out.update(run_metric("prdc", real, fake, resolve_options("prdc", None, options={"k": k}))[0])
    out["modes"] = modes_covered(fake)
    return out


def truncation_curve(
    gen: nn.Module, real: torch.Tensor, cfg: DemoConfig, seed: int
) -> list[dict[str, float]]:
    """Precision / recall (k = :data:`TRUNCATION_K`) and FID of ``gen`` for each psi of ``cfg.psis``.

    The latent is pulled towards its mean (0): ``z -> psi * z``.
    """
    from fastgan.truncation import psi_truncation, truncation_sweep

    z = torch.randn(cfg.n_eval, LATENT_DIM, generator=torch.Generator().manual_seed(seed))
    z_avg = torch.zeros(LATENT_DIM)

    @torch.no_grad()
    def sample_fn(psi: float) -> torch.Tensor:
        return gen(psi_truncation(z, z_avg, psi))

    rows = truncation_sweep(
        sample_fn, list(cfg.psis), real, metrics=("precision", "recall", "fid"), k=TRUNCATION_K
    )
    return [{key: float(v) for key, v in row.items()} for row in rows]


# -------------------------------------------------------------------------------------- figures
def plot_fits(path: str, real: np.ndarray, fits: Sequence[FitResult], steps: int) -> None:
    """Save one scatter panel of the real samples and one per divergence (real in grey, generated in colour).

    Args:
        path: the PNG to write.
        real (ndarray[N, 2]): real samples.
        fits: the trained divergences.
        steps: training steps per divergence (for the title).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    lim = RADIUS + 1.0
    n = len(fits) + 1
    fig = Figure(figsize=(2.9 * n, 3.7), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
    axes[0].scatter(real[:, 0], real[:, 1], s=3, color="0.25", alpha=0.5, linewidths=0, rasterized=True)
    axes[0].set_title(f"real data\n{N_MODES} Gaussians, std {MODE_STD:g}", fontsize=9)
    for i, f in enumerate(fits):
        ax = axes[i + 1]
        samples = f.samples[np.isfinite(f.samples).all(axis=1)]
        ax.scatter(real[:, 0], real[:, 1], s=3, color="0.78", alpha=0.5, linewidths=0, rasterized=True)
        ax.scatter(samples[:, 0], samples[:, 1], s=3, color=f"C{i}", alpha=0.6, linewidths=0, rasterized=True)
        m = f.metrics
        ax.set_title(
            f"{f.name}\nFID {m['fid']:.3g}, P {m['precision']:.2f}, R {m['recall']:.2f}, "
            f"modes {int(m['modes'])}/{N_MODES}",
            fontsize=9,
        )
    for ax in axes:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("$x_1$ (data units)")
        ax.grid(alpha=0.25, linewidth=0.5)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("$x_2$ (data units)")
    handles = [Line2D([], [], linestyle="", marker="o", markersize=5, color="0.6", label="real samples")]
    handles += [
        Line2D([], [], linestyle="", marker="o", markersize=5, color=f"C{i}", label=f"generated: {f.name}")
        for i, f in enumerate(fits)
    ]
    # below the panels; the tight bounding box of savefig keeps it in the image
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(
        f"f-GAN fits of an {N_MODES}-Gaussian ring ({steps} training steps each, "
        f"{real.shape[0]} samples per panel)",
        fontsize=10,
    )
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1)


def plot_truncation(path: str, sweeps: Sequence[tuple[str, Sequence[dict[str, float]]]], name: str) -> None:
    """Save one :func:`fastgan.truncation.plot_truncation_sweep` panel per target.

    Args:
        path: the PNG to write.
        sweeps: ``(target key, truncation_sweep table)`` pairs.
        name: label of the generators (for the title).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from fastgan.truncation import plot_truncation_sweep

    fig = Figure(figsize=(5.2 * len(sweeps), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(sweeps), squeeze=False)[0]
    for ax, (target, rows) in zip(axes, sweeps):
        plot_truncation_sweep(rows, ax=ax, title=f"{name} generator, {_TARGETS.get(target, target)}")
    fig.suptitle(
        f"Truncation trick: latent $z \\to \\psi z$ (precision / recall with k = {TRUNCATION_K})", fontsize=10
    )
    fig.savefig(path, dpi=DPI)


# ------------------------------------------------------------------------------------------- run
def run(
    out_dir: str = "fastgan-demo",
    *,
    steps: Optional[int] = None,
    seed: int = 0,
    quick: bool = False,
    divergences: Optional[Sequence[str]] = None,
    threads: Optional[int] = None,
    progress: Optional[bool] = None,
) -> dict[str, Any]:
    """Run the demo (see the module docstring): train, evaluate, write the figures and ``results.json``.

    Args:
        out_dir: output folder (created if missing).
        steps: training steps per divergence (default 1000, 100 with ``quick``).
        seed: seeds everything.
        quick: a small run for smoke tests.
        divergences: names for :func:`fastgan.divergences.get_divergence` (default
            :data:`DEFAULT_DIVERGENCES`).
        threads: torch CPU threads while training (default 1: the networks are tiny).
        progress: one progress bar per training run on stderr (None: only when stderr is a terminal).

    Returns:
        The content of ``results.json``: ``config``, ``fits`` (per divergence: label, metrics,
        training seconds), ``truncation`` (the sweep tables), ``figures``, ``results_file``,
        ``total_seconds``.

    Raises:
        ValueError: an unknown divergence name, or ``out_dir`` exists and is not a directory.
    """
    from tqdm import tqdm

    from fastgan.divergences import get_divergence

    t_start = time.perf_counter()
    cfg = DemoConfig.make(quick=quick, steps=steps, seed=seed, divergences=divergences)
    resolved = [get_divergence(n).name for n in cfg.divergences]
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir: {out_dir} exists and is not a directory")
    os.makedirs(out_dir, exist_ok=True)
    enabled = progress_enabled(progress)

    def train(label: str, div: str, seed_: int, **kw: Any) -> tuple[nn.Module, list[float], float]:
        total = kw.get("steps") or cfg.steps
        t0 = time.perf_counter()
        with tqdm(
            total=total, desc=f"training {label}", unit="step", disable=not enabled, leave=False
        ) as bar:
            gen, losses = train_fgan(div, cfg, seed_, on_step=bar.update, **kw)
        return gen, losses, time.perf_counter() - t0

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads if threads is not None else 1)
    try:
        with torch.random.fork_rng(devices=[]):
            eval_gen = torch.Generator().manual_seed(seed + 1000)
            real_eval = sample_real(cfg.n_eval, eval_gen)
            fits: list[FitResult] = []
            gens: dict[str, nn.Module] = {}
            for i, div in enumerate(resolved):
                label = _LABELS.get(div, div)
                gen, losses, seconds = train(label, div, seed * 100 + i)
                with torch.no_grad():
                    z = torch.randn(
                        cfg.n_eval, LATENT_DIM, generator=torch.Generator().manual_seed(seed + 2000)
                    )
                    fake = gen(z)
                fits.append(
                    FitResult(label, div, fake.numpy(), evaluate(real_eval, fake, cfg.k), seconds, losses)
                )
                gens[div] = gen
            # Truncation: the GAN generator of the ring, and a GAN trained on a single Gaussian, where the
            # latent mean maps into the data's densest region (the textbook case of the trick).
            base = next((f for f in fits if f.divergence == "gan"), fits[0])
            blob_steps = max(cfg.steps // 2, 1)
            blob_gen, _, _ = train(
                f"{base.name} (blob)", base.divergence, seed * 100 + 99, dataset="blob", steps=blob_steps
            )
            real_blob = sample_real(cfg.n_eval, eval_gen, "blob")
            sweeps = [
                ("ring", truncation_curve(gens[base.divergence], real_eval, cfg, seed + 3000)),
                ("blob", truncation_curve(blob_gen, real_blob, cfg, seed + 3000)),
            ]
    finally:
        torch.set_num_threads(old_threads)

    fits_png = os.path.join(out_dir, "fits.png")
    trunc_png = os.path.join(out_dir, "truncation.png")
    results_file = os.path.join(out_dir, "results.json")
    plot_fits(fits_png, real_eval.numpy(), fits, cfg.steps)
    plot_truncation(trunc_png, sweeps, base.name)

    results: dict[str, Any] = {
        "config": {
            "steps": cfg.steps,
            "batch_size": cfg.batch_size,
            "n_eval": cfg.n_eval,
            "k": cfg.k,
            "seed": cfg.seed,
            "latent_dim": LATENT_DIM,
            "hidden": cfg.hidden,
            "lr": cfg.lr,
            "n_modes": N_MODES,
            "data": f"{N_MODES} Gaussians (std {MODE_STD}) on a circle of radius {RADIUS}",
            "metrics_on": "raw 2-D samples (no feature network)",
        },
        "fits": [
            {"divergence": f.divergence, "label": f.name, **f.metrics, "train_seconds": round(f.seconds, 2)}
            for f in fits
        ],
        "truncation": {"generator": base.name, "k": TRUNCATION_K, "targets": {t: rows for t, rows in sweeps}},
        "figures": [fits_png, trunc_png],
        "results_file": results_file,
    }
    results["total_seconds"] = round(time.perf_counter() - t_start, 2)
    with open(results_file, "w") as fh:
        json.dump(results, fh, indent=2)
    return results
