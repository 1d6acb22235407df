"""FID variants built on :mod:`fastgan.metrics.frechet`: bootstrap interval, intra-class FID, FID_inf.

Each evaluates many Frechet distances at once: the trace-sqrt evaluations are stacked and batched
(in groups bounded by :data:`BATCH_MEMORY_BYTES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch

from fastgan._checks import check_features, check_positive_int
from fastgan._compat import renamed_kwarg
from fastgan.linalg import trace_sqrt_product
from fastgan.metrics._base import KEY_FID
from fastgan.metrics._stats import FeatureStats
from fastgan.metrics.frechet import fid, frechet_from_terms, mu_sigma_of
from fastgan.metrics.stats_io import check_mu_sigma

__all__ = ["BATCH_MEMORY_BYTES", "fid_bootstrap", "fid_infinity", "fid_per_class"]

#: Memory (bytes) that batched trace-sqrt evaluations may use for stacked D x D matrices.
BATCH_MEMORY_BYTES = 1 << 30


# ----------------------------------------------------------------------------- many FIDs
def _group_size(d: int) -> int:
    return max(1, BATCH_MEMORY_BYTES // max(1, 8 * 6 * d * d))


def _batched_tsp(s1: torch.Tensor, s2: torch.Tensor, impl: str) -> torch.Tensor:
    """trace_sqrt_product over a leading batch, in groups bounded by BATCH_MEMORY_BYTES."""
    d = s2.shape[-1]
    g = _group_size(d)
    b = max(s1.shape[0] if s1.dim() == 3 else 1, s2.shape[0] if s2.dim() == 3 else 1)
    outs = []
    for start in range(0, b, g):
        sl = slice(start, min(b, start + g))
        a = s1[sl] if s1.dim() == 3 else s1
        outs.append(trace_sqrt_product(a, s2[sl] if s2.dim() == 3 else s2, impl=impl).to(torch.float64))
    return torch.cat(outs)


def _fids_from_batches(
    mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor, impl: str
) -> torch.Tensor:
    """FIDs for stacked statistics (mu [B, D] or [D], sigma [B, D, D] or [D, D])."""
    d = mu2.shape[-1]
    tsp = _batched_tsp(s1, s2, impl)
    diff = mu1 - mu2
    dmu2 = (diff * diff).sum(-1)
    tr1 = torch.diagonal(s1, dim1=-2, dim2=-1).sum(-1)
    tr2 = torch.diagonal(s2, dim1=-2, dim2=-1).sum(-1)
    dmu2, tr1, tr2 = torch.broadcast_tensors(dmu2, tr1, tr2)
    return frechet_from_terms(dmu2, tr1, tr2, tsp, d)


def _weighted_stats(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (divisor n - 1) of the multiset with multiplicities ``w``."""
    n = float(w.sum())
    mean = (w @ x) / n
    y = x - mean
    return mean, (y.t() @ (y * w[:, None])) / (n - 1)


@renamed_kwarg("n_boot", "n_bootstrap")
def fid_bootstrap(
    real_features: Any,
    fake_features: Any,
    *,
    n_bootstrap: int = 100,
    ci: float = 0.95,
    generator: Optional[torch.Generator] = None,
    impl: str = "auto",
) -> dict[str, float]:
    """FID with a percentile bootstrap confidence interval.

    Both sets are resampled with replacement ``n_bootstrap`` times; the ``n_bootstrap`` trace-sqrt
    evaluations are batched.

    Args:
        real_features (Tensor[N, D]), fake_features (Tensor[M, D]).
        n_bootstrap: number of bootstrap replicates (>= 2); ``n_boot=`` is its deprecated name.
        ci: confidence level in (0, 1).
        generator: random source of the resampling (CPU generator).

    Returns:
        ``{"fid": FID of the full sets, "fid_low": lower, "fid_high": upper}``: the bootstrap
        percentile interval at level ``ci``.
    """
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=2)
    if not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci: must be in (0, 1), got {ci}")
    xr = check_features(real_features, "real_features", min_rows=2).detach().to(torch.float64)
    xf = check_features(fake_features, "fake_features", min_rows=2).detach().to(torch.float64)
    if xr.shape[1] != xf.shape[1]:
        raise ValueError(
            f"real_features and fake_features: feature dimensions differ ({xr.shape[1]} vs {xf.shape[1]})"
        )
    xf = xf.to(xr.device)
    point = float(fid(xr, xf, impl=impl))
    n, m, d = xr.shape[0], xf.shape[0], xr.shape[1]
    g = _group_size(d)
    vals = []
    for start in range(0, n_bootstrap, g):
        cnt = min(g, n_bootstrap - start)
        mus1, covs1, mus2, covs2 = [], [], [], []
        for _ in range(cnt):
            ir = torch.randint(n, (n,), generator=generator)
            jf = torch.randint(m, (m,), generator=generator)
            wr = torch.bincount(ir, minlength=n).to(xr)
            wf = torch.bincount(jf, minlength=m).to(xf)
            a, b = _weighted_stats(xr, wr)
            mus1.append(a)
            covs1.append(b)
            a, b = _weighted_stats(xf, wf)
            mus2.append(a)
            covs2.append(b)
        vals.append(
            _fids_from_batches(
                torch.stack(mus1), torch.stack(covs1), torch.stack(mus2), torch.stack(covs2), impl
            )
        )
    boot = torch.cat(vals)
    alpha = (1.0 - float(ci)) / 2.0
    q = torch.quantile(boot, torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64, device=boot.device))
    return {KEY_FID: point, "fid_low": float(q[0]), "fid_high": float(q[1])}


def fid_per_class(
    real_features: Any,
    real_labels: Any,
    fake_features: Any,
    fake_labels: Any,
    *,
    impl: str = "auto",
) -> dict[str, Any]:
    """Intra-class FID (Miyato & Koyama 2018): FID within each class, and the mean over classes.

    Args:
        real_features (Tensor[N, D]), real_labels (Tensor[N] int).
        fake_features (Tensor[M, D]), fake_labels (Tensor[M] int).

    Returns:
        ``{"per_class": {label: fid}, "mean": float}`` over the classes present in both sets
        (each needs >= 2 samples on both sides; classes present on one side only raise).
    """
    xr = check_features(real_features, "real_features", min_rows=2).detach()
    xf = check_features(fake_features, "fake_features", min_rows=2).detach().to(xr.device)
    if xr.shape[1] != xf.shape[1]:
        raise ValueError(
            f"real_features and fake_features: feature dimensions differ ({xr.shape[1]} vs {xf.shape[1]})"
        )
    labels = []
    for lab, x, name in ((real_labels, xr, "real_labels"), (fake_labels, xf, "fake_labels")):
        t = torch.as_tensor(lab, device=xr.device)
        if t.dim() != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"{name}: expected shape [{x.shape[0]}], got {tuple(t.shape)}")
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name}: expected integer labels, got {t.dtype}")
        labels.append(t)
    lr, lf = labels
    cr = set(lr.unique().tolist())
    cf = set(lf.unique().tolist())
    if cr != cf:
        raise ValueError(
            f"real_labels and fake_labels: classes present on one side only: real-only {sorted(cr - cf)}, "
            f"fake-only {sorted(cf - cr)}"
        )
    classes = sorted(cr)
    mus1, covs1, mus2, covs2 = [], [], [], []
    for c in classes:
        a = xr[lr == c]
        b = xf[lf == c]
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise ValueError(
                f"class {c}: needs >= 2 samples on both sides, got {a.shape[0]} real and {b.shape[0]} fake"
            )
        sa = FeatureStats.from_features(a)
        sb = FeatureStats.from_features(b)
        mus1.append(sa.mean)
        covs1.append(sa.cov)
        mus2.append(sb.mean)
        covs2.append(sb.cov)
    vals = _fids_from_batches(
        torch.stack(mus1), torch.stack(covs1), torch.stack(mus2), torch.stack(covs2), impl
    )
    return {"per_class": {c: float(v) for c, v in zip(classes, vals)}, "mean": float(vals.mean())}


def fid_infinity(
    real: Any,
    fake_features: Any,
    *,
    sizes: Optional[Sequence[int]] = None,
    generator: Optional[torch.Generator] = None,
    return_fit: bool = False,
    impl: str = "auto",
) -> Union[float, dict[str, Any]]:
    """Bias-free FID_inf (Chong & Forsyth 2020): FID at several N, linear fit against 1/N, read at 0.

    For each N in ``sizes`` a random subset (without replacement) of N fake samples is scored
    against the full reference; the trace-sqrt evaluations are batched.

    Args:
        real: Tensor[N_r, D] features, :class:`FeatureStats` or ``(mu, sigma)`` of the reference.
        fake_features (Tensor[M, D]).
        sizes: subset sizes (each in [2, M]); default 15 evenly spaced sizes in [M / 10, M]
            (the paper uses 5k..50k out of 50k).
        generator: random source of the subsets.
        return_fit: also return the fit.

    Returns:
        FID_inf as a float, or ``{"fid_inf", "slope", "sizes", "fids"}`` when ``return_fit``.
    """
    xf = check_features(fake_features, "fake_features", min_rows=3).detach()
    m, d = xf.shape
    if isinstance(real, (FeatureStats, tuple)):
        mu_r, s_r = mu_sigma_of(real, "real")
        mu_r, s_r = check_mu_sigma(mu_r, s_r, " (real)")
    else:
        st = FeatureStats.from_features(check_features(real, "real", min_rows=2))
        mu_r, s_r = st.mean, st.cov
    if mu_r.shape[0] != d:
        raise ValueError(f"real and fake_features: feature dimensions differ ({mu_r.shape[0]} vs {d})")
    if sizes is None:
        sizes = sorted({int(round(v)) for v in np.linspace(max(2, m // 10), m, 15)})
    sizes = [check_positive_int(s, "sizes[i]", minimum=2) for s in sizes]
    if len(set(sizes)) < 2:
        raise ValueError(f"sizes: need at least two distinct sizes, got {sizes}")
    if max(sizes) > m:
        raise ValueError(f"sizes: largest size {max(sizes)} exceeds the {m} fake samples")
    xf = xf.to(mu_r.device)
    mus, covs = [], []
    for size in sizes:
        idx = torch.randperm(m, generator=generator)[:size].to(xf.device)
        st = FeatureStats.from_features(xf[idx])
        mus.append(st.mean)
        covs.append(st.cov)
    vals = _fids_from_batches(mu_r, s_r, torch.stack(mus), torch.stack(covs), impl)
    inv = torch.tensor([1.0 / s for s in sizes], dtype=torch.float64, device=vals.device)
    design = torch.stack([torch.ones_like(inv), inv], dim=1)
    coef = torch.linalg.lstsq(design.cpu(), vals.cpu().unsqueeze(1)).solution.squeeze(1)
    if return_fit:
        return {
            "fid_inf": float(coef[0]),
            "slope": float(coef[1]),
            "sizes": list(sizes),
            "fids": vals.cpu().tolist(),
        }
    return float(coef[0])
