"""f-GANs on real images: scikit-learn's 8 x 8 handwritten digits, evaluated without a likelihood.

What the lecture does, on a real data set that installs with a package (no download):

1. **Feature network.** A small CNN classifier is trained once (seeded) on a stratified 75 %
   split of ``sklearn.datasets.load_digits`` (1,797 real 8 x 8 digits) and its accuracy on the
   held-out 25 % is reported. It plays the part Inception-v3 plays for natural images (the
   MNIST practice of many GAN papers): its 64-d penultimate layer feeds FID and
   precision / recall / density / coverage, its softmax feeds the Inception Score.
2. **Training.** A DCGAN-sized generator (z projected to 4x4, one transposed convolution to
   8x8, batch norm, tanh) and critic (8x8 -> 4x4 -> 2x2 -> 1, strided convolutions) are
   trained on the training split with the fused f-GAN losses of :mod:`fastgan.losses` for
   GAN, KL, reverse KL, Pearson chi^2, squared Hellinger and Jensen-Shannon. Every divergence
   runs the same code: the same seed (so the same initial weights and batches), the same
   optimiser, the same loss calls ``fgan_discriminator_loss(v_real, v_fake, name)`` and
   ``fgan_generator_loss(v_fake, name, mode="nonsaturating")`` (f-GAN Section 3.2, the update
   the paper trains with; ``--g-loss saturating`` for eq. 6); only the name differs. (In the
   f-GAN parametrisation the JS losses are the GAN losses plus constants, so those two runs
   are identical step for step; the script notes it.)
3. **In-loop evaluation** every ``--eval-every`` steps, through the public API a user has in a
   training loop: a :class:`fastgan.Sampler` over the generator (fixed latents, the same at
   every evaluation), :func:`fastgan.features.extract_features` with the classifier, and the
   metrics against the real side, which is embedded **once** before training: its
   :class:`~fastgan.metrics.FeatureStats` sit in a :class:`fastgan.metrics.FID` as fixed
   ``real_stats`` and its features are reused by :func:`fastgan.metrics.prdc`. The wall time of
   each evaluation is recorded next to that of the training steps between evaluations.
4. **After training:** the truncation sweep of each generator
   (:func:`fastgan.truncation.truncation_sweep`; BigGAN threshold truncation of z through
   ``Sampler(threshold=psi)``), and the floor any model can reach: a held-out real split's IS
   and its FID / PRDC against the training split, with as many samples as every generator gets.

Outputs in ``--out``: ``samples.png`` (real digits beside a grid per divergence),
``curves.png`` (FID, IS, precision, recall, density, coverage over training, floor dashed),
``truncation.png`` (precision / recall / FID vs psi per divergence, and the precision-recall
plane), ``results.json`` (every number). See ``examples/README.md`` for a default run's numbers.

Run (CPU, seeded; needs the ``digits`` extra: ``pip install "fastgan[digits]"``)::

    python examples/digits_fgan.py --out digits-out           # default: a few minutes on 2 cores
    python examples/digits_fgan.py --out /tmp/q --quick       # CI-sized, well under a minute
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

import fastgan
import fastgan.metrics as fm
from fastgan.features import extract_features
from fastgan.losses import fgan_discriminator_loss, fgan_generator_loss
from fastgan.truncation import plot_truncation_sweep, truncation_sweep

DIVERGENCES = ("gan", "kl", "reverse_kl", "pearson", "squared_hellinger", "js")
LABELS = {
    "gan": "GAN",
    "kl": "KL",
    "reverse_kl": "reverse KL",
    "pearson": "Pearson $\\chi^2$",
    "squared_hellinger": "squared Hellinger",
    "js": "Jensen-Shannon",
}
METRIC_KEYS = ("fid", "is_mean", "precision", "recall", "density", "coverage")
Z_DIM = 32
NUM_CLASSES = 10
#: neighbourhood size of precision / recall / density / coverage everywhere (in-loop and sweep)
K = 5


@dataclass
class Config:
    steps: int = 2000
    eval_every: int = 200
    batch_size: int = 64
    lr: float = 2e-4  # Adam, betas (0.5, 0.999), both players (DCGAN)
    g_loss: str = "nonsaturating"  # fgan_generator_loss mode: "nonsaturating" (f-GAN 3.2) or "saturating"
    n_eval: int = 0  # generated samples per evaluation; 0: as many as the held-out real split
    clf_epochs: int = 20
    psis: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    divergences: tuple[str, ...] = DIVERGENCES
    seed: int = 0
    eval_batch: int = 250
    test_fraction: float = 0.25
    #: torch intra-op threads during the run (restored afterwards). These 8 x 8 networks are too
    #: small to gain from several threads, and on a busy machine extra threads only wait for cores.
    threads: int = 1

    @classmethod
    def make(
        cls,
        *,
        quick: bool = False,
        steps: Optional[int] = None,
        seed: int = 0,
        divergences: Optional[Sequence[str]] = None,
        eval_every: Optional[int] = None,
    ) -> Config:
        cfg = cls(steps=300, eval_every=100, clf_epochs=15, psis=(0.5, 1.0, 2.0)) if quick else cls()
        if steps is not None:
            cfg.steps = steps
        if eval_every is not None:
            cfg.eval_every = eval_every
        cfg.eval_every = max(1, min(cfg.eval_every, cfg.steps))
        cfg.seed = seed
        if divergences is not None:
            cfg.divergences = tuple(divergences)
        return cfg


# ------------------------------------------------------------------------------------------- data
@dataclass
class Digits:
    train_u8: torch.Tensor  # uint8 [N, 1, 8, 8], 0..255 (what the Sampler makes of G's output)
    test_u8: torch.Tensor
    train_y: torch.Tensor
    test_y: torch.Tensor

    @property
    def train_pm1(self) -> torch.Tensor:
        """The training images in [-1, 1], the generator's output range."""
        return self.train_u8.float() / 127.5 - 1.0


def load_digits_split(seed: int, test_fraction: float) -> Digits:
    """scikit-learn's 1,797 digits (values 0..16), as uint8 images, stratified split seeded by ``seed``.

    0..16 maps to 0..255 exactly as a generator output v / 8 - 1 in [-1, 1] does through
    :class:`fastgan.Sampler` (``x * 127.5 + 128``, clamped), so real and generated images reach
    the classifier through the same quantisation.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.floor(d.images.astype(np.float64) * (255.0 / 16.0) + 0.5).clip(0, 255).astype(np.uint8)
    idx = np.arange(len(d.target))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=d.target, random_state=seed)
    t = torch.from_numpy(x)[:, None]
    y = torch.from_numpy(d.target.astype(np.int64))
    return Digits(t[tr].contiguous(), t[te].contiguous(), y[tr], y[te])


# ------------------------------------------------------------------------- the feature network
class DigitClassifier(nn.Module):
    """8 x 8 digit classifier; the feature network of this domain.

    Input: images ``Tensor[B, 3, 8, 8]`` in [0, 1] (what :func:`fastgan.features.extract_features`
    feeds a module; the three channels are equal). ``forward`` returns the 64-d penultimate layer
    (after ReLU), ``features_and_logits`` also the 10 class logits (softmax -> IS), ``logits`` is
    the training path.
    """

    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4 x 4
            nn.Flatten(),
            nn.Linear(32 * 16, self.feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(self.feature_dim, NUM_CLASSES))

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1, keepdim=True) * 2.0 - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self._prep(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(self._prep(x))
        return f, self.head(f)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self._prep(x)))


def train_classifier(data: Digits, cfg: Config) -> tuple[DigitClassifier, dict[str, float]]:
    """Train the classifier on the training split (seeded, Adam, +-1 pixel shifts); accuracy on both
    splits."""
    torch.manual_seed(cfg.seed + 101)
    gen = torch.Generator().manual_seed(cfg.seed + 102)
    clf = DigitClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3, weight_decay=1e-4)
    x = data.train_u8.float() / 255.0
    y = data.train_y
    t0 = time.perf_counter()
    clf.train()
    for _ in range(cfg.clf_epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            b = perm[i : i + 64]
            xb = x[b]
            # augmentation: a random shift by up to one pixel (zero padded)
            dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            if dy:
                xb[:, :, 0 if dy > 0 else -1, :] = 0
            if dx:
                xb[:, :, :, 0 if dx > 0 else -1] = 0
            loss = nn.functional.cross_entropy(clf.logits(xb), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    clf.eval()
    with torch.no_grad():
        acc_tr = float((clf.logits(x).argmax(1) == y).float().mean())
        acc_te = float((clf.logits(data.test_u8.float() / 255.0).argmax(1) == data.test_y).float().mean())
    for p in clf.parameters():
        p.requires_grad_(False)
    return clf, {
        "train_accuracy": acc_tr,
        "test_accuracy": acc_te,
        "chance": 1.0 / NUM_CLASSES,
        "epochs": cfg.clf_epochs,
        "seconds": time.perf_counter() - t0,
    }


# ------------------------------------------------------------------------------------ real side
@dataclass
class RealReference:
    """The real side, embedded once: features, their FID statistics, and the held-out floor."""

    features: torch.Tensor  # [N_train, 64]
    stats: Any  # fastgan.metrics.FeatureStats of the training split
    test_features: torch.Tensor
    test_logits: torch.Tensor
    embed_seconds: float


def embed_real(clf: nn.Module, data: Digits, cfg: Config) -> RealReference:
    t0 = time.perf_counter()
    feats = extract_features(data.train_u8, clf, batch_size=cfg.eval_batch, progress=False)
    stats = fm.FeatureStats()
    stats.update(feats)
    test_feats, test_logits = extract_features(
        data.test_u8, clf, batch_size=cfg.eval_batch, progress=False, return_logits=True
    )
    return RealReference(feats, stats, test_feats, test_logits, time.perf_counter() - t0)


def classes_covered(logits: torch.Tensor) -> int:
    """Digit classes predicted for at least a quarter of their fair share (2.5 %) of the samples."""
    share = torch.bincount(logits.argmax(1), minlength=NUM_CLASSES).double() / logits.shape[0]
    return int((share >= 0.25 / NUM_CLASSES).sum())


def metrics_of(
    ref: RealReference, fid_metric: Any, feats: torch.Tensor, logits: torch.Tensor
) -> dict[str, float]:
    """FID (fixed real statistics), IS, PRDC (real features reused) and classes covered."""
    fid_metric.reset()  # the fake side only: the real statistics are fixed
    fid_metric.update(feats, real=False)
    out = {"fid": fid_metric.compute()}
    out.update(fm.inception_score(logits))
    out.update(fm.prdc(ref.features, feats, k=K))
    out["classes"] = classes_covered(logits)
    return out


def real_floor(ref: RealReference) -> dict[str, float]:
    """Held-out real digits as if they were a generator's samples: the best a model can score."""
    out = metrics_of(ref, fm.FID(real_stats=ref.stats), ref.test_features, ref.test_logits)
    out["n"] = int(ref.test_features.shape[0])
    return out


# ---------------------------------------------------------------------------------- the models
class Generator(nn.Module):
    """DCGAN-style: z (32) -> project and reshape to 64 x 4 x 4 -> transposed convolution to
    32 x 8 x 8 -> 1 x 8 x 8 in (-1, 1).

    Batch norm after the projection and the transposed convolution (DCGAN); tanh output.
    """

    def __init__(self, z_dim: int = Z_DIM) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(z_dim, 64 * 4 * 4), nn.BatchNorm1d(64 * 4 * 4), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.BatchNorm2d(32),
            nn.ReLU(),  # 8 x 8
            nn.Conv2d(32, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, 64, 4, 4))


class Critic(nn.Module):
    """DCGAN-style: 1 x 8 x 8 -> 32 x 4 x 4 -> 64 x 2 x 2 -> one raw output v per image (no
    output activation: the divergence's g_f is applied inside the loss)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(64 * 2 * 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


# ------------------------------------------------------------------------------------ training
@dataclass
class RunResult:
    divergence: str
    status: str = "ok"  # "ok" | "diverged" | "collapsed"
    note: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    untrained: dict[str, float] = field(default_factory=dict)
    truncation: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    steps_done: int = 0
    n_evals: int = 0
    losses: list[dict[str, float]] = field(default_factory=list)
    truncation_seconds: float = 0.0
    v_abs_max: float = 0.0  # largest |critic output| over training (real and fake batches)
    same_as: str = ""  # an earlier divergence whose run this one repeated metric for metric


def eval_sampler(G: nn.Module, cfg: Config, n: int, truncation: Optional[float] = None) -> fastgan.Sampler:
    """The generator as a metric input: the same latents (seed) at every evaluation."""
    return fastgan.Sampler(G, Z_DIM, n=n, seed=cfg.seed + 7, threshold=truncation, batch_size=cfg.eval_batch)


def embed_generator(
    G: nn.Module, clf: nn.Module, cfg: Config, n: int, truncation: Optional[float] = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and logits of ``n`` samples of ``G`` (eval mode: batch norm on its running statistics)."""
    was = G.training
    G.eval()
    try:
        return extract_features(
            eval_sampler(G, cfg, n, truncation),
            clf,
            batch_size=cfg.eval_batch,
            progress=False,
            return_logits=True,
        )
    finally:
        G.train(was)


def train_one(
    name: str, data: Digits, clf: nn.Module, ref: RealReference, cfg: Config, log: Callable[[str], None]
) -> tuple[Generator, RunResult]:
    """Train G and the critic with the f-GAN losses of ``name``, evaluating every ``cfg.eval_every`` steps."""
    torch.manual_seed(cfg.seed)  # the same initial weights for every divergence
    batches = torch.Generator().manual_seed(cfg.seed + 1)  # ... and the same batches and latents
    G, D = Generator(), Critic()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    real_all = data.train_pm1
    fid_metric = fm.FID(real_stats=ref.stats)  # real statistics fixed once; each eval fills the fake side
    n_eval = cfg.n_eval or int(ref.test_features.shape[0])
    res = RunResult(divergence=name)

    def evaluate(step: int, train_seconds: float) -> bool:
        t0 = time.perf_counter()
        try:
            feats, logits = embed_generator(G, clf, cfg, n_eval)
        except ValueError as exc:  # the Sampler refuses NaN / Inf images
            res.status, res.note = "diverged", f"step {step}: generator output not finite ({exc})"
            return False
        row: dict[str, float] = {"step": step, **metrics_of(ref, fid_metric, feats, logits)}
        dt = time.perf_counter() - t0
        row["eval_seconds"] = dt
        row["train_seconds"] = train_seconds  # the steps since the previous evaluation
        res.eval_seconds += dt
        res.n_evals += 1
        res.history.append(row)
        log(
            f"  {name:>17} step {step:5d}: FID {row['fid']:8.2f}  IS {row['is_mean']:5.2f}  "
            f"P {row['precision']:.3f}  R {row['recall']:.3f}  D {row['density']:.3f}  "
            f"C {row['coverage']:.3f}  "
            f"classes {row['classes']:2d}  (eval {dt:.2f} s, steps {train_seconds:.2f} s)"
        )
        return True

    evaluate(0, 0.0)
    res.untrained = dict(res.history[0])
    t_block = 0.0
    v_max = 0.0
    for step in range(1, cfg.steps + 1):
        t0 = time.perf_counter()
        idx = torch.randint(0, real_all.shape[0], (cfg.batch_size,), generator=batches)
        real = real_all[idx]
        z = torch.randn(cfg.batch_size, Z_DIM, generator=batches)
        fake = G(z)
        # critic step: minimise -F = E_Q f*(g_f(v_fake)) - E_P g_f(v_real)
        v_real, v_fake = D(real), D(fake.detach())
        d_loss = fgan_discriminator_loss(v_real, v_fake, name)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # generator step: non-saturating -E_Q g_f(v_fake) (f-GAN Section 3.2),
        # or saturating -E_Q f*(g_f(v_fake)) (eq. 6)
        g_loss = fgan_generator_loss(D(fake), name, mode=cfg.g_loss)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        t_block += time.perf_counter() - t0
        res.steps_done = step
        dl, gl = float(d_loss.detach()), float(g_loss.detach())
        # largest critic output seen: the exponential conjugates (KL's exp(v - 1), ...) overflow
        # float32 only beyond |v| ~ 88
        v_max = max(v_max, float(v_real.detach().abs().max()), float(v_fake.detach().abs().max()))
        if step % 50 == 0:
            res.losses.append({"step": step, "d_loss": dl, "g_loss": gl, "v_abs_max": v_max})
            res.v_abs_max = max(res.v_abs_max, v_max)
            v_max = 0.0
        if not (math.isfinite(dl) and math.isfinite(gl)):
            res.v_abs_max = max(res.v_abs_max, v_max)
            res.status = "diverged"
            res.note = f"step {step}: non-finite loss (critic {dl}, generator {gl})"
            res.train_seconds += t_block
            log(f"  {name:>17} diverged at step {step}: critic loss {dl}, generator loss {gl}")
            break
        if step % cfg.eval_every == 0 or step == cfg.steps:
            res.train_seconds += t_block
            if not evaluate(step, t_block):
                break
            t_block = 0.0
    res.v_abs_max = max(res.v_abs_max, v_max)
    if res.status == "ok":
        res.final = {k: v for k, v in res.history[-1].items() if k not in ("eval_seconds", "train_seconds")}
        f = res.final
        if f["classes"] < 7 or f["recall"] < 0.1:
            res.status = "collapsed"
            res.note = (
                f"{f['classes']} of 10 digit classes among the samples (each >= 2.5 %), "
                f"recall {f['recall']:.3f}"
            )
    return G, res


def sweep(G: nn.Module, clf: nn.Module, ref: RealReference, cfg: Config, n: int) -> list[dict[str, float]]:
    """Precision / recall / density / coverage / FID vs the BigGAN threshold psi (|z_i| <= psi)."""

    def sample_fn(psi: float) -> torch.Tensor:
        return embed_generator(G, clf, cfg, n, truncation=psi)[0]

    rows = truncation_sweep(
        sample_fn,
        cfg.psis,
        ref.features,
        metrics=("precision", "recall", "density", "coverage", "fid"),
        k=K,
        density_k=K,
    )
    return [{k: float(v) for k, v in r.items()} for r in rows]


# ------------------------------------------------------------------------------------- figures
def _figure(w: float, h: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(imgs: torch.Tensor, rows: int = 8) -> np.ndarray:
    """uint8 [n, C, 8, 8] -> one [rows * 9 - 1, cols * 9 - 1] mosaic with 1-pixel gaps."""
    imgs = imgs[:, 0].numpy()
    cols = -(-len(imgs) // rows)
    out = np.full((rows * 9 - 1, cols * 9 - 1), 255, dtype=np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        out[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = im
    return out


def plot_samples(
    path: str, data: Digits, gens: dict[str, nn.Module], results: dict[str, RunResult], cfg: Config
) -> None:
    panels: list[tuple[str, np.ndarray]] = [("real (held-out)", _grid(data.test_u8[:64]))]
    for name, G in gens.items():
        r = results[name]
        G.eval()
        try:
            imgs = eval_sampler(G, cfg, 64).generate(0, 64).cpu()
            title = LABELS[name]
            if r.final:
                title += f"\nFID {r.final['fid']:.1f}, IS {r.final['is_mean']:.2f}"
            if r.status != "ok":
                title += f" ({r.status})"
            panels.append((title, _grid(imgs)))
        except ValueError:
            blank = np.full((71, 71), 255, np.uint8)
            panels.append((f"{LABELS[name]}\n(diverged: no finite samples)", blank))
        finally:
            G.train()
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig = _figure(3.0 * cols, 3.3 * rows)
    for i, (title, img) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"scikit-learn digits: 64 samples per divergence after {cfg.steps} steps (same latents)", fontsize=10
    )
    fig.savefig(path, dpi=130)


def plot_curves(path: str, results: dict[str, RunResult], floor: dict[str, float]) -> None:
    names = {
        "fid": "FID (classifier features)",
        "is_mean": "IS (classifier softmax)",
        **{key: f"{key} (k = {K})" for key in ("precision", "recall", "density", "coverage")},
    }
    fig = _figure(12, 6.5)
    for i, key in enumerate(METRIC_KEYS):
        ax = fig.add_subplot(2, 3, i + 1)
        for j, (name, r) in enumerate(results.items()):
            if r.history:
                label = LABELS[name] + ("" if r.status == "ok" else f" ({r.status})")
                if r.same_as:
                    label += f" (= {LABELS[r.same_as]})"
                ax.plot(
                    [h["step"] for h in r.history],
                    [h[key] for h in r.history],
                    marker="o",
                    markersize=3,
                    color=f"C{j}",
                    label=label,
                    linestyle="--" if r.same_as else "-",
                )
        ax.axhline(floor[key], color="k", linestyle="--", linewidth=1, label="held-out real")
        if key == "fid":
            ax.set_yscale("log")
        ax.set_title(names[key], fontsize=10)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(
        "In-loop evaluation (dashed: held-out real digits vs the training split, the floor)", fontsize=10
    )
    fig.savefig(path, dpi=130)


def plot_truncation(path: str, results: dict[str, RunResult], floor: dict[str, float]) -> None:
    done = [(n, r) for n, r in results.items() if r.truncation]
    if not done:
        return
    cols = 4
    rows = -(-(len(done) + 1) // cols)
    fig = _figure(4.2 * cols, 3.6 * rows)
    for i, (name, r) in enumerate(done):
        ax = fig.add_subplot(rows, cols, i + 1)
        table = [{k: row[k] for k in ("psi", "precision", "recall", "fid")} for row in r.truncation]
        title = LABELS[name] + ("" if r.status == "ok" else f" ({r.status})")
        plot_truncation_sweep(table, ax=ax, title=title)
        ax.set_xlabel("threshold $\\psi$ ($|z_i| \\leq \\psi$)")
    ax = fig.add_subplot(rows, cols, len(done) + 1)
    for j, (name, r) in enumerate(results.items()):
        if r.truncation:
            ax.plot(
                [row["recall"] for row in r.truncation],
                [row["precision"] for row in r.truncation],
                marker="o",
                markersize=3,
                color=f"C{j}",
                linestyle="--" if r.same_as else "-",
                label=LABELS[name] + (f" (= {LABELS[r.same_as]})" if r.same_as else ""),
            )
            first = r.truncation[0]
            ax.annotate(f"{first['psi']:g}", (first["recall"], first["precision"]), fontsize=6, color=f"C{j}")
    ax.plot([floor["recall"]], [floor["precision"]], "k*", markersize=9, label="held-out real")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title("precision vs recall along $\\psi$ (label: smallest $\\psi$)", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=130)


# ------------------------------------------------------------------------------------------ run
def run(cfg: Config, out_dir: str, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything: classifier, real side, one training run per divergence, sweeps, figures, JSON."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, out_dir, log)
    finally:
        torch.set_num_threads(threads)


def _run(cfg: Config, out_dir: str, log: Callable[[str], None]) -> dict[str, Any]:
    t_all = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    data = load_digits_split(cfg.seed, cfg.test_fraction)
    clf, clf_info = train_classifier(data, cfg)
    log(
        f"classifier: held-out accuracy {clf_info['test_accuracy']:.4f} "
        f"(train {clf_info['train_accuracy']:.4f}, chance {clf_info['chance']:.2f}), "
        f"{clf_info['seconds']:.1f} s"
    )
    ref = embed_real(clf, data, cfg)
    floor = real_floor(ref)
    n_eval = cfg.n_eval or floor["n"]
    log(
        f"real side embedded once ({ref.features.shape[0]} train + {floor['n']} held-out, "
        f"{ref.embed_seconds:.2f} s); "
        f"floor: held-out FID {floor['fid']:.2f}, IS {floor['is_mean']:.2f}, P {floor['precision']:.3f}, "
        f"R {floor['recall']:.3f}, D {floor['density']:.3f}, C {floor['coverage']:.3f}"
    )
    gens: dict[str, nn.Module] = {}
    results: dict[str, RunResult] = {}
    for name in cfg.divergences:
        log(
            f"{name}: {cfg.steps} steps, batch {cfg.batch_size}, evaluation every {cfg.eval_every} steps "
            f"on {n_eval} samples"
        )
        G, r = train_one(name, data, clf, ref, cfg, log)
        gens[name], results[name] = G, r
        if r.status != "diverged":
            t0 = time.perf_counter()
            r.truncation = sweep(G, clf, ref, cfg, n_eval)
            r.truncation_seconds = time.perf_counter() - t0
        if r.note:
            log(f"  {name}: {r.status}: {r.note}")

    # two divergences whose losses differ by a constant train identically (JS is GAN + log 4)
    def trajectory(r: RunResult) -> list[dict[str, float]]:
        return [{k: v for k, v in h.items() if not k.endswith("_seconds")} for h in r.history]

    names = list(results)
    for i, a in enumerate(names):
        for b in names[:i]:
            if results[a].history and trajectory(results[a]) == trajectory(results[b]):
                same = (
                    f"the same trajectory as {b!r} "
                    "(every in-loop metric equal: the losses differ by a constant)"
                )
                results[a].note = f"{results[a].note}; {same}" if results[a].note else same
                results[a].same_as = b
                log(f"{a}: {same}")
                break

    plot_samples(os.path.join(out_dir, "samples.png"), data, gens, results, cfg)
    plot_curves(os.path.join(out_dir, "curves.png"), results, floor)
    plot_truncation(os.path.join(out_dir, "truncation.png"), results, floor)

    out: dict[str, Any] = {
        "config": asdict(cfg),
        "fastgan_version": fastgan.__version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "data": {
            "train": int(data.train_u8.shape[0]),
            "held_out": int(data.test_u8.shape[0]),
            "n_eval": n_eval,
            "feature_dim": DigitClassifier.feature_dim,
            "k": K,
        },
        "classifier": clf_info,
        "real_embed_seconds": ref.embed_seconds,
        "held_out_real": floor,
        "runs": {},
        "figures": ["samples.png", "curves.png", "truncation.png"],
    }
    for name, r in results.items():
        d = asdict(r)
        steps = max(r.steps_done, 1)
        d["seconds_per_step"] = r.train_seconds / steps
        d["seconds_per_eval"] = r.eval_seconds / max(r.n_evals, 1)
        d["eval_share_of_loop"] = r.eval_seconds / max(r.eval_seconds + r.train_seconds, 1e-12)
        out["runs"][name] = d
    out["total_seconds"] = time.perf_counter() - t_all
    with open(os.path.join(out_dir, "results.json"), "w") as fh:
        json.dump(out, fh, indent=2, allow_nan=True)
    log(summary(out))
    return out


def summary(out: dict[str, Any]) -> str:
    f = out["held_out_real"]
    lines = [
        (
            f"{'':>18} {'status':>9} {'FID':>8} {'IS':>5} {'prec':>6} {'rec':>6} {'dens':>6} {'cov':>6} "
            f"{'cls':>3} {'s/step':>7} {'s/eval':>6} {'eval%':>5}"
        ),
        (
            f"{'held-out real':>18} {'floor':>9} {f['fid']:8.2f} {f['is_mean']:5.2f} {f['precision']:6.3f} "
            f"{f['recall']:6.3f} {f['density']:6.3f} {f['coverage']:6.3f} {f['classes']:3d}"
        ),
    ]
    for name, r in out["runs"].items():
        u = r["final"] or {k: math.nan for k in (*METRIC_KEYS, "classes")}
        lines.append(
            f"{name:>18} {r['status']:>9} {u['fid']:8.2f} {u['is_mean']:5.2f} {u['precision']:6.3f} "
            f"{u['recall']:6.3f} {u['density']:6.3f} {u['coverage']:6.3f} {u['classes']:3.0f} "
            f"{r['seconds_per_step'] * 1e3:5.2f}ms {r['seconds_per_eval']:6.3f} "
            f"{100 * r['eval_share_of_loop']:4.1f}%"
        )
    first = next(iter(out["runs"].values()), None)
    if first and first["untrained"]:
        u = first["untrained"]
        lines.append(
            f"{'untrained G':>18} {'':>9} {u['fid']:8.2f} {u['is_mean']:5.2f} {u['precision']:6.3f} "
            f"{u['recall']:6.3f} {u['density']:6.3f} {u['coverage']:6.3f} {u['classes']:3.0f}"
        )
    c = out["classifier"]
    lines.append(f"classifier held-out accuracy {c['test_accuracy']:.4f}; total {out['total_seconds']:.1f} s")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="digits-fgan-out", help="output folder (figures and results.json)")
    ap.add_argument("--quick", action="store_true", help="CI-sized run (fewer steps, evaluations and psis)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per divergence")
    ap.add_argument("--eval-every", type=int, default=None, help="steps between in-loop evaluations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--lr", type=float, default=None, help="Adam learning rate of both players (default 2e-4)"
    )
    ap.add_argument(
        "--g-loss",
        choices=("nonsaturating", "saturating"),
        default="nonsaturating",
        help="fgan_generator_loss mode (default: nonsaturating, f-GAN Section 3.2)",
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1: the networks are tiny)"
    )
    ap.add_argument(
        "--divergences",
        default=",".join(DIVERGENCES),
        help=f"comma-separated divergence names (default: {','.join(DIVERGENCES)})",
    )
    args = ap.parse_args(argv)
    divs = [d.strip() for d in args.divergences.split(",") if d.strip()]
    from fastgan.divergences import get_divergence

    for d in divs:
        get_divergence(d)  # an unknown name fails here, before any training
        if d not in LABELS:
            LABELS[d] = d
    if args.steps is not None and args.steps < 1:
        ap.error("--steps must be >= 1")
    cfg = Config.make(
        quick=args.quick, steps=args.steps, seed=args.seed, divergences=divs, eval_every=args.eval_every
    )
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    cfg.threads = args.threads
    cfg.g_loss = args.g_loss
    if args.lr is not None:
        if not args.lr > 0:
            ap.error("--lr must be > 0")
        cfg.lr = args.lr
    return run(cfg, args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
