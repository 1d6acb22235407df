"""``fastgan demo``: f-GANs with several divergences on a 2-D toy mixture, evaluated and plotted.

Needs no data, no weights and no GPU; the default run takes well under two minutes on two CPU
cores. What it does:

1. The real distribution is a mixture of 8 Gaussians (std 0.1) on a circle of radius 2.
2. For each divergence (default: GAN, KL and squared Hellinger, the panel of Nowozin et al. 2016
   shown in the lecture; ``--divergences`` adds e.g. ``reverse_kl``, ``pearson``, ``js``) a small MLP
   generator ``G: R^4 -> R^2`` and critic ``V: R^2 -> R`` are trained with
   :func:`fastgan.losses.fgan_discriminator_loss` and :func:`fastgan.losses.fgan_generator_loss`
   (the critic maximises ``E_real[g_f(V)] - E_fake[f*(g_f(V))]``, the generator uses the
   non-saturating objective of the f-GAN paper).
3. Each generator's samples are evaluated against fresh real samples with FID,
   precision / recall / density / coverage (:mod:`fastgan.metrics`). The metrics are computed
   directly on the 2-D samples (no feature network), so FID here is the Frechet distance of
   Gaussians fitted to the 2-D point clouds. "modes" counts the mixture components that received
   at least a quarter of their fair share of samples within 3 std of their centre.
4. The truncation trick: for the GAN generator, the latent is pulled towards its mean with
   :func:`fastgan.truncation.psi_truncation` for a range of psi, and
   :func:`fastgan.truncation.truncation_sweep` records precision and recall for each psi.
5. Figures (PNG) and a ``results.json`` are written to ``--out``: ``fits.png`` (real vs generated
   samples per divergence) and ``truncation.png`` (precision / recall against psi). They are drawn
   with matplotlib when it is installed and with a small built-in rasteriser otherwise
   (``FASTGAN_DEMO_PLOTTER=builtin`` forces the latter).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

#: default divergences, in display order
DEFAULT_DIVERGENCES: tuple[str, ...] = ("gan", "kl", "hellinger")
#: accepted spellings -> candidate names in :data:`fastgan.divergences.DIVERGENCES`
_ALIASES: dict[str, tuple[str, ...]] = {
    "gan": ("gan",),
    "kl": ("kl", "kullback_leibler", "forward_kl"),
    "reverse_kl": ("reverse_kl", "rkl", "reverse-kl"),
    "hellinger": ("squared_hellinger", "hellinger", "sq_hellinger"),
    "pearson": ("pearson", "pearson_chi2", "chi2"),
    "js": ("js", "jensen_shannon", "jsd"),
    "neyman": ("neyman", "neyman_chi2"),
    "total_variation": ("total_variation", "tv"),
}
_LABELS: dict[str, str] = {
    "gan": "GAN",
    "kl": "KL",
    "reverse_kl": "reverse KL",
    "hellinger": "sq. Hellinger",
    "pearson": "Pearson chi2",
    "js": "Jensen-Shannon",
    "neyman": "Neyman chi2",
    "total_variation": "total variation",
}

N_MODES = 8
#: truncation targets: short key -> figure title
_TARGETS = {"ring": "8-Gaussian ring", "blob": "one correlated Gaussian"}
RADIUS = 2.0
MODE_STD = 0.1
LATENT_DIM = 4


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
    def make(cls, *, quick: bool = False, steps: Optional[int] = None, seed: int = 0,
             divergences: Optional[Sequence[str]] = None) -> "DemoConfig":
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
    """One trained divergence: its metrics and samples."""

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


def sample_real(n: int, generator: Optional[torch.Generator] = None, dataset: str = "ring") -> torch.Tensor:
    """n samples (Tensor[n, 2]) of the 8-Gaussian ring, or of the single correlated Gaussian ``"blob"``."""
    if dataset == "blob":
        return torch.randn(n, 2, generator=generator) @ _BLOB_FACTOR.T
    k = torch.randint(0, N_MODES, (n,), generator=generator)
    return mode_centers()[k] + MODE_STD * torch.randn(n, 2, generator=generator)


#: Cholesky-like factor of the "blob" covariance [[1, 0.8], [0.8, 1]]
_BLOB_FACTOR = torch.tensor([[1.0, 0.0], [0.8, 0.6]])


def modes_covered(samples: torch.Tensor) -> int:
    """Components holding >= 1/4 of a fair share of samples within 3 std of their centre."""
    d = torch.cdist(samples.double(), mode_centers().double())
    near, idx = d.min(dim=1)
    hits = torch.bincount(idx[near <= 3 * MODE_STD], minlength=N_MODES)
    return int((hits >= 0.25 * samples.shape[0] / N_MODES).sum())


# --------------------------------------------------------------------------------------- models
def _mlp(d_in: int, d_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, d_out),
    )


def resolve_divergence(name: str) -> str:
    """Map a demo name (``gan``, ``kl``, ``reverse_kl``, ``hellinger`` ...) to the registry's name."""
    from fastgan.divergences import DIVERGENCES

    key = name.strip().lower().replace("-", "_")
    for cand in _ALIASES.get(key, (key,)):
        if cand in DIVERGENCES:
            return cand
    raise ValueError(f"--divergences: unknown divergence {name!r}; available: {', '.join(sorted(DIVERGENCES))}")


def train_fgan(divergence: str, cfg: DemoConfig, seed: int,
               on_step: Optional[Callable[[int], None]] = None, dataset: str = "ring",
               steps: Optional[int] = None) -> tuple[nn.Module, list[float]]:
    """Train a generator/critic pair with the f-GAN objective of ``divergence``.

    Returns the generator and the critic loss every 10 steps.
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
        d_loss = fgan_discriminator_loss(critic(real).squeeze(1), critic(fake.detach()).squeeze(1), divergence)
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
    """FID and precision / recall / density / coverage of 2-D samples (metrics on the raw points)."""
    import fastgan.metrics as fm

    out: dict[str, float] = {}
    if not torch.isfinite(fake).all():
        return {"fid": float("nan"), "precision": float("nan"), "recall": float("nan"),
                "density": float("nan"), "coverage": float("nan"), "modes": 0}
    out["fid"] = float(fm.fid(real.double(), fake.double()))
    pr = fm.prdc(real, fake, nearest_k=k)
    for key in ("precision", "recall", "density", "coverage"):
        out[key] = float(pr[key])
    out["modes"] = modes_covered(fake)
    return out


def truncation_curve(gen: nn.Module, real: torch.Tensor, cfg: DemoConfig, seed: int) -> list[dict[str, float]]:
    """Precision / recall (and FID) of ``gen`` for each psi, latent pulled towards its mean (0)."""
    from fastgan.truncation import psi_truncation, truncation_sweep

    z = torch.randn(cfg.n_eval, LATENT_DIM, generator=torch.Generator().manual_seed(seed))
    z_avg = torch.zeros(LATENT_DIM)

    @torch.no_grad()
    def sample_fn(psi: float) -> torch.Tensor:
        return gen(psi_truncation(z, z_avg, psi))

    rows = truncation_sweep(sample_fn, list(cfg.psis), real, metrics=("precision", "recall", "fid"), k=3)
    return [{k: float(v) for k, v in row.items()} for row in rows]


# -------------------------------------------------------------------------------------- figures
def _have_matplotlib() -> bool:
    if os.environ.get("FASTGAN_DEMO_PLOTTER", "") == "builtin":
        return False
    try:
        import matplotlib  # noqa: F401
    except Exception:
        return False
    return True


def plot_fits(path: str, real: np.ndarray, fits: Sequence[FitResult]) -> str:
    """Write the real-vs-generated scatter panels; returns the plotter used."""
    lim = RADIUS + 1.0
    if _have_matplotlib():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(fits) + 1, figsize=(3.0 * (len(fits) + 1), 3.6), squeeze=False)
        axes = axes[0]
        axes[0].scatter(real[:, 0], real[:, 1], s=2, c="0.3", alpha=0.4)
        axes[0].set_title("real data", fontsize=10)
        for i, f in enumerate(fits):
            ax = axes[i + 1]
            ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", alpha=0.4)
            ax.scatter(f.samples[:, 0], f.samples[:, 1], s=2, color=[c / 255 for c in _color(i)], alpha=0.4)
            m = f.metrics
            ax.set_title(f.name, fontsize=10)
            ax.set_xlabel(f"FID {m['fid']:.3f}  modes {m['modes']}/8\n"
                          f"P {m['precision']:.2f}  R {m['recall']:.2f}  C {m['coverage']:.2f}", fontsize=8)
        for ax in axes:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle("f-GAN fits of an 8-Gaussian ring (grey: real, colour: generated)", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return "matplotlib"

    from fastgan import _plot

    panel, gap, top, side = 230, 24, 46, 16
    n = len(fits) + 1
    canvas = _plot.Canvas(side * 2 + n * panel + (n - 1) * gap, top + panel + 52)
    canvas.text(canvas.width / 2, 8, "f-GAN fits of an 8-Gaussian ring (grey: real, colour: generated)",
                _plot.BLACK, anchor="center")
    for i in range(n):
        ax = _plot.Axes(canvas, side + i * (panel + gap), top, panel, panel, (-lim, lim), (-lim, lim))
        if i == 0:
            ax.scatter(real[:, 0], real[:, 1], (70, 70, 70), radius=1.0, alpha=0.35)
            ax.frame(title="real data", ticks=False)
            continue
        f = fits[i - 1]
        ax.scatter(real[:, 0], real[:, 1], (170, 170, 170), radius=1.0, alpha=0.3)
        samples = f.samples[np.isfinite(f.samples).all(axis=1)]
        ax.scatter(samples[:, 0], samples[:, 1], _color(i - 1), radius=1.0, alpha=0.35)
        ax.frame(title=f.name, ticks=False)
        m = f.metrics
        canvas.text(ax.left + panel / 2, top + panel + 8, f"FID {m['fid']:.3f}  modes {m['modes']}/8", anchor="center")
        canvas.text(ax.left + panel / 2, top + panel + 22,
                    f"P {m['precision']:.2f} R {m['recall']:.2f} C {m['coverage']:.2f}", anchor="center")
    canvas.save(path)
    return "builtin"


def plot_truncation(path: str, sweeps: Sequence[tuple[str, Sequence[dict[str, float]]]], name: str) -> str:
    """One panel per target: precision and recall of the truncated generator against psi."""
    if _have_matplotlib():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(sweeps), figsize=(4.6 * len(sweeps), 3.8), squeeze=False)
        for ax, (title, rows) in zip(axes[0], sweeps):
            psis = [r["psi"] for r in rows]
            ax.plot(psis, [r["precision"] for r in rows], "o-", label="precision")
            ax.plot(psis, [r["recall"] for r in rows], "s-", label="recall")
            ax.set_xlabel("psi (latent pulled to its mean)")
            ax.set_ylim(-0.02, 1.05)
            ax.set_title(f"{name} generator: {_TARGETS.get(title, title)}", fontsize=10)
            ax.legend(loc="lower right")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return "matplotlib"

    from fastgan import _plot

    w, h, gap = 330, 250, 90
    canvas = _plot.Canvas(70 + len(sweeps) * (w + gap), h + 110)
    canvas.text(canvas.width / 2, 8, f"truncation trick: {name} generator, z -> psi * z", anchor="center")
    for i, (title, rows) in enumerate(sweeps):
        psis = [r["psi"] for r in rows]
        ax = _plot.Axes(canvas, 70 + i * (w + gap), 50, w, h, (0.0, 1.0), (0.0, 1.05))
        ax.frame(title=_TARGETS.get(title, title), xlabel="psi", ylabel="precision / recall" if i == 0 else None)
        ax.plot(psis, [r["precision"] for r in rows], _plot.PALETTE[0])
        ax.plot(psis, [r["recall"] for r in rows], _plot.PALETTE[1])
        ax.legend([("precision", _plot.PALETTE[0]), ("recall", _plot.PALETTE[1])], corner="bottom-right")
    canvas.save(path)
    return "builtin"


def _color(i: int) -> tuple[int, int, int]:
    from fastgan._plot import PALETTE

    return PALETTE[i % len(PALETTE)]


# ------------------------------------------------------------------------------------------- run
def _table(fits: Sequence[FitResult]) -> str:
    from fastgan.cli import format_table

    rows = [[f.name, f.metrics["fid"], f.metrics["precision"], f.metrics["recall"], f.metrics["density"],
             f.metrics["coverage"], f"{f.metrics['modes']}/8", f"{f.seconds:.1f}"] for f in fits]
    return format_table(rows, header=["divergence", "FID", "precision", "recall", "density", "coverage",
                                      "modes", "train [s]"])


def _progress(total: int, desc: str, enabled: bool) -> Any:
    try:
        from fastgan._progress import Progress
    except ImportError:  # pragma: no cover - the module ships with fastgan
        return None
    return Progress(total=total, desc=desc, enabled=None if enabled else False, unit="step")


def run(out_dir: str = "fastgan-demo", steps: Optional[int] = None, seed: int = 0, quick: bool = False,
        divergences: Optional[str] = None, threads: Optional[int] = None, progress: bool = True,
        json_out: bool = False) -> int:
    """Run the demo (see the module docstring); prints a table and writes figures to ``out_dir``.

    Returns:
        0 (the process exit status).
    """
    t_start = time.perf_counter()
    names = [s.strip() for s in divergences.split(",") if s.strip()] if divergences else None
    cfg = DemoConfig.make(quick=quick, steps=steps, seed=seed, divergences=names)
    resolved = [(n, resolve_divergence(n)) for n in cfg.divergences]
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--out {out_dir}: exists and is not a directory")
    os.makedirs(out_dir, exist_ok=True)

    old_threads = torch.get_num_threads()
    # The networks are tiny: one thread avoids synchronisation overhead that costs more than it gains.
    torch.set_num_threads(threads if threads is not None else 1)
    try:
        with torch.random.fork_rng(devices=[]):
            eval_gen = torch.Generator().manual_seed(seed + 1000)
            real_eval = sample_real(cfg.n_eval, eval_gen)
            fits: list[FitResult] = []
            gens: dict[str, nn.Module] = {}
            for i, (short, div) in enumerate(resolved):
                label = _LABELS.get(short.lower().replace("-", "_"), div)
                bar = _progress(cfg.steps, f"training {label:>14}", progress)
                t0 = time.perf_counter()
                gen, losses = train_fgan(div, cfg, seed * 100 + i, on_step=bar.update if bar else None)
                seconds = time.perf_counter() - t0
                if bar:
                    bar.close()
                with torch.no_grad():
                    z = torch.randn(cfg.n_eval, LATENT_DIM, generator=torch.Generator().manual_seed(seed + 2000))
                    fake = gen(z)
                fits.append(FitResult(label, div, fake.numpy(), evaluate(real_eval, fake, cfg.k), seconds, losses))
                gens[div] = gen
            # Truncation: the GAN generator of the ring, and a GAN trained on a single Gaussian, where the
            # latent mean maps into the data's densest region (the textbook case of the trick).
            base = next((f for f in fits if f.divergence == resolve_divergence("gan")), fits[0])
            trunc_name = base.name
            bar = _progress(max(cfg.steps // 2, 1), f"training {trunc_name + ' (blob)':>14}", progress)
            blob_gen, _ = train_fgan(base.divergence, cfg, seed * 100 + 99, on_step=bar.update if bar else None,
                                     dataset="blob", steps=max(cfg.steps // 2, 1))
            if bar:
                bar.close()
            real_blob = sample_real(cfg.n_eval, eval_gen, "blob")
            sweeps = [
                ("ring", truncation_curve(gens[base.divergence], real_eval, cfg, seed + 3000)),
                ("blob", truncation_curve(blob_gen, real_blob, cfg, seed + 3000)),
            ]
    finally:
        torch.set_num_threads(old_threads)

    fits_png = os.path.join(out_dir, "fits.png")
    trunc_png = os.path.join(out_dir, "truncation.png")
    plotter = plot_fits(fits_png, real_eval.numpy(), fits)
    plot_truncation(trunc_png, sweeps, trunc_name)
    total = time.perf_counter() - t_start

    results = {
        "config": {"steps": cfg.steps, "batch_size": cfg.batch_size, "n_eval": cfg.n_eval, "k": cfg.k,
                   "seed": cfg.seed, "latent_dim": LATENT_DIM, "hidden": cfg.hidden, "lr": cfg.lr,
                   "data": f"{N_MODES} Gaussians, std {MODE_STD}, on a circle of radius {RADIUS}",
                   "metrics_on": "raw 2-D samples (no feature network)"},
        "fits": [{"divergence": f.divergence, "label": f.name, **f.metrics, "train_seconds": round(f.seconds, 2)}
                 for f in fits],
        "truncation": {"generator": trunc_name, "targets": {t: rows for t, rows in sweeps}},
        "figures": [fits_png, trunc_png],
        "plotter": plotter,
        "total_seconds": round(total, 2),
    }
    with open(os.path.join(out_dir, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2, default=float)

    if json_out:
        print(json.dumps(results, indent=2, default=float))
        return 0
    print(f"fastgan demo: f-GANs on {N_MODES} Gaussians on a ring, {cfg.steps} steps each "
          f"(metrics on {cfg.n_eval} raw 2-D samples, k={cfg.k})")
    print()
    print(_table(fits))
    print()
    from fastgan.cli import format_table

    print(f"truncation trick ({trunc_name} generators, latent z -> psi * z; precision/recall with k=3):")
    header = ["psi"] + [f"{k} ({t})" for t, _ in sweeps for k in ("precision", "recall")]
    table = [[f"{sweeps[0][1][j]['psi']:g}"] + [rows[j][k] for _, rows in sweeps for k in ("precision", "recall")]
             for j in range(len(sweeps[0][1]))]
    print(format_table(table, header=header))
    print()
    print(f"figures: {fits_png}, {trunc_png} ({plotter}); numbers: {os.path.join(out_dir, 'results.json')}")
    print(f"total time: {total:.1f} s")
    sys.stdout.flush()
    return 0
