"""Fit a single Gaussian to a 1-D mixture under different f-divergences (f-GAN, Section 4.1).

The f-GAN paper (Nowozin, Cseke, Tomioka 2016) approximates a mixture of
Gaussians by one Gaussian Q = N(mu, sigma^2), trained adversarially against a
small MLP critic with the variational bound

    F(theta, omega) = E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))],

and compares the learned (mu, sigma) with the exact minimiser of
D_f(P || Q). This script does the same with ``fastgan.losses``: the critic
minimises ``fgan_discriminator_loss`` (= -F), the generator minimises
``fgan_generator_loss(mode="saturating")`` (= -E_Q f*(g_f(V)), the part of F
that depends on it). The exact minimiser is found by quadrature of
D_f(P || Q) = int q(x) f(pi(x)/q(x)) dx (Simpson on a fine grid) and
scipy.optimize (Nelder-Mead over mu, log sigma).

Run: ``python examples/gaussian_mixture.py`` (CPU, seeded). Prints a table of
learned vs exact (mu, sigma).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.integrate
import scipy.optimize
import torch
from torch import nn

from fastgan.divergences import get_divergence
from fastgan.losses import fgan_discriminator_loss, fgan_generator_loss

# The target mixture P: weights, means, standard deviations.
WEIGHTS = np.array([0.35, 0.65])
MEANS = np.array([-1.5, 1.5])
STDS = np.array([0.5, 0.8])

DIVERGENCES = ["gan", "kl", "reverse_kl", "squared_hellinger", "pearson", "js"]


def log_mixture_pdf_np(x: np.ndarray) -> np.ndarray:
    comps = [
        np.log(w) - 0.5 * ((x - m) / s) ** 2 - np.log(s * math.sqrt(2 * math.pi))
        for w, m, s in zip(WEIGHTS, MEANS, STDS)
    ]
    return np.logaddexp.reduce(np.stack(comps), axis=0)


def sample_mixture(n: int, generator: torch.Generator) -> torch.Tensor:
    comp = torch.multinomial(torch.as_tensor(WEIGHTS), n, replacement=True, generator=generator)
    z = torch.randn(n, generator=generator, dtype=torch.float64)
    return (torch.as_tensor(MEANS)[comp] + torch.as_tensor(STDS)[comp] * z).float().unsqueeze(1)


def exact_divergence(name: str, mu: float, sigma: float) -> float:
    """D_f(P || N(mu, sigma^2)) = int q f(pi/q) dx by composite Simpson on a fine grid covering both
    densities (the integrand is smooth; f comes from the fastgan registry)."""
    f = get_divergence(name).f
    lo = min(MEANS.min() - 10 * STDS.max(), mu - 12 * sigma)
    hi = max(MEANS.max() + 10 * STDS.max(), mu + 12 * sigma)
    x = np.linspace(lo, hi, 20001)
    log_q = -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))
    u = np.exp(np.clip(log_mixture_pdf_np(x) - log_q, -700.0, 700.0))
    integrand = np.exp(log_q) * f(torch.from_numpy(u)).numpy()
    return float(scipy.integrate.simpson(integrand, x=x))


def exact_minimiser(name: str) -> tuple[float, float, float]:
    """argmin over (mu, log sigma) of D_f(P || N(mu, sigma^2)); returns (mu, sigma, D_f)."""
    mean = float((WEIGHTS * MEANS).sum())
    var = float((WEIGHTS * (STDS**2 + MEANS**2)).sum()) - mean**2
    starts = [(mean, 0.5 * math.log(var)), (MEANS[np.argmax(WEIGHTS)], math.log(STDS[np.argmax(WEIGHTS)]))]
    best = None
    for x0 in starts:
        res = scipy.optimize.minimize(
            lambda p: exact_divergence(name, p[0], math.exp(p[1])),
            np.array(x0),
            method="Nelder-Mead",
            options={"xatol": 1e-5, "fatol": 1e-9, "maxiter": 400},
        )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    return float(best.x[0]), float(math.exp(best.x[1])), float(best.fun)


class Critic(nn.Module):
    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def train(name: str, steps: int, batch: int, seed: int) -> tuple[float, float]:
    """Adversarial fit of N(mu, sigma^2); returns (mu, sigma) averaged over the last 20% of steps."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    critic = Critic()
    mu = torch.zeros((), requires_grad=True)
    log_sigma = torch.zeros((), requires_grad=True)
    opt_d = torch.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam([mu, log_sigma], lr=5e-3, betas=(0.5, 0.999))
    trace: list[tuple[float, float]] = []
    for step in range(steps):
        real = sample_mixture(batch, gen)
        fake = mu + torch.exp(log_sigma) * torch.randn(batch, 1, generator=gen)
        v_real, v_fake = critic(real), critic(fake)
        d_loss = fgan_discriminator_loss(v_real, v_fake, name)
        g_loss = fgan_generator_loss(v_fake, name, mode="saturating")
        # single-step method (f-GAN Algorithm 1): both players updated from one forward pass
        d_grads = torch.autograd.grad(d_loss, list(critic.parameters()), retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, [mu, log_sigma])
        for p, g in zip(critic.parameters(), d_grads):
            p.grad = g
        mu.grad, log_sigma.grad = g_grads
        opt_d.step()
        opt_g.step()
        if step >= int(0.8 * steps):
            trace.append((float(mu), float(torch.exp(log_sigma))))
    arr = np.array(trace)
    return float(arr[:, 0].mean()), float(arr[:, 1].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--divergences", nargs="*", default=DIVERGENCES)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny models: one thread is fastest and reproducible
    print(
        f"target P: mixture of N({MEANS[0]}, {STDS[0]}^2) x {WEIGHTS[0]} + N({MEANS[1]}, {STDS[1]}^2) "
        f"x {WEIGHTS[1]}; model Q = N(mu, sigma^2)"
    )
    header = (
        f"{'divergence':<18} {'learned mu':>10} {'sigma':>7}   {'exact mu':>9} {'sigma':>7}   "
        f"{'D_f(learned)':>12} {'D_f(exact)':>10}   {'time':>6}"
    )
    rows = []
    for name in args.divergences:
        t0 = time.perf_counter()
        mu, sigma = train(name, args.steps, args.batch, args.seed)
        emu, esigma, edf = exact_minimiser(name)
        ldf = exact_divergence(name, mu, sigma)
        rows.append(
            f"{name:<18} {mu:>10.3f} {sigma:>7.3f}   {emu:>9.3f} {esigma:>7.3f}   {ldf:>12.4f} "
            f"{edf:>10.4f}   {time.perf_counter() - t0:>5.1f}s"
        )
        print(rows[-1], flush=True)
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
