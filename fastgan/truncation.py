"""The truncation trick: BigGAN truncated latents, StyleGAN w-space truncation, sweeps.

* :func:`truncated_normal` -- z ~ N(0, I) conditioned on every coordinate |z_i| <= threshold
  (Brock et al. 2018, "Elements of z which fall outside a predefined range are
  resampled"). Exact: rejection sampling that redraws only the rejected entries, or, for
  small thresholds, inverse-CDF sampling (see the function's docstring).
* :func:`biggan_truncated_noise` -- the official BigGAN sample code's variant: truncate at
  +-2, then *scale* by ``truncation`` (the other fork of DESIGN 10).
* :func:`psi_truncation` -- StyleGAN: w' = w_avg + psi (w - w_avg), optionally only for
  the first ``cutoff`` layers of a [N, L, D] w (Karras et al. 2019).
* :func:`estimate_w_avg` -- Monte-Carlo estimate of E_z[mapping(z)].
* :func:`truncation_sweep` -- precision, recall, FID, ... as a function of psi (the
  diversity / fidelity trade-off); its figure: :func:`fastgan.plotting.plot_truncation_sweep`
  (still importable from here; matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional

import torch

from fastgan._checks import check_positive_int
from fastgan._compat import renamed_kwarg
from fastgan._lazy import lazy_exports

__all__ = [
    "truncated_normal",
    "biggan_truncated_noise",
    "psi_truncation",
    "estimate_w_avg",
    "truncation_sweep",
    "INVERSE_CDF_BELOW",
]

#: Thresholds below this use the inverse-CDF sampler. Rejection accepts a coordinate with
#: probability 2*Phi(psi) - 1 (0.68 at psi = 1, 0.38 at psi = 0.5, 0.08 at psi = 0.1), so for
#: small psi it needs many rounds (~log(numel) / -log(1 - acceptance)) and draws
#: numel / acceptance normals; the inverse-CDF sampler costs the same at any psi, so it is
#: the faster choice for small psi and rejection for large psi.
INVERSE_CDF_BELOW = 1.0

_SAMPLING_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_psi(psi: Any, name: str = "psi", allow_inf: bool = True) -> float:
    if isinstance(psi, torch.Tensor):
        if psi.numel() != 1:
            raise ValueError(f"{name}: expected a scalar, got a tensor of shape {tuple(psi.shape)}")
        psi = psi.item()
    if isinstance(psi, bool) or not isinstance(psi, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(psi).__name__}")
    value = float(psi)
    if math.isnan(value) or value <= 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name}: must be a positive{'' if allow_inf else ' finite'} number, got {psi!r}")
    return value


def _bound_in_dtype(psi: float, dtype: torch.dtype) -> float:
    """Largest value of ``dtype`` that is <= psi (so |z| <= bound implies |z| <= psi)."""
    b = torch.tensor(psi, dtype=torch.float64).to(dtype)
    if float(b) > psi:
        b = torch.nextafter(b, torch.zeros((), dtype=dtype))
    return float(b)


@renamed_kwarg("psi", "threshold")
def truncated_normal(
    shape: Sequence[int] | torch.Size | int,
    threshold: float,
    generator: Optional[torch.Generator] = None,
    dtype: torch.dtype = torch.float32,
    device: Optional[torch.device | str] = None,
    method: str = "auto",
) -> torch.Tensor:
    """Standard normal samples with every coordinate conditioned on |z| <= threshold.

    Args:
        shape: output shape, e.g. ``(N, z_dim)``.
        threshold: truncation threshold (> 0; ``math.inf`` gives plain N(0, 1)); ``psi=`` is its
            deprecated name (``psi`` is the StyleGAN interpolation factor, :func:`psi_truncation`).
        generator: ``torch.Generator`` on ``device`` (None: global RNG).
        dtype: output floating dtype.
        device: output device (default: the generator's device, else CPU).
        method: ``"auto"`` (inverse CDF for threshold < :data:`INVERSE_CDF_BELOW`, rejection
            otherwise), ``"rejection"`` or ``"inverse_cdf"``.

    Returns:
        Tensor[shape] with density N(z|0,1) / (2 Phi(t) - 1) on [-t, t] (t = ``threshold``), per
        coordinate, i.i.d.; every value satisfies |z| <= threshold exactly (after rounding to ``dtype``).

    Sampling (both exact in distribution):

    * rejection: draw N(0, 1); redraw only the entries with |z| > threshold (vectorised over the
      indices still rejected, loop until none are left). Acceptance 2 Phi(threshold) - 1 per entry,
      so few rounds for threshold >= 0.5.
    * inverse CDF: u ~ U(Phi(-threshold), Phi(threshold)), z = Phi^{-1}(u) (``torch.special.ndtr``
      / ``ndtri``), evaluated in float64 so that even tiny thresholds keep full resolution, then
      rounded to ``dtype`` and clamped to the representable bound. One pass, no loop;
      used for small thresholds where rejection would need many rounds. (For large ones the tails
      would lose resolution in 1 - Phi(threshold), which is why rejection is used there.)

    Matches: Brock et al. 2018 (BigGAN) "truncation trick" as a threshold-only truncation:
    values outside [-threshold, threshold] are resampled, not clipped and not rescaled. For the
    official BigGAN sample code's "truncate at 2 then multiply by truncation" see
    :func:`biggan_truncated_noise`.

    >>> z = truncated_normal((4, 128), threshold=0.7, generator=torch.Generator().manual_seed(0))
    >>> bool(z.abs().max() <= 0.7)
    True
    """
    threshold = _check_psi(threshold, "threshold")
    dims = (int(shape),) if isinstance(shape, (int, numbers.Integral)) else tuple(int(s) for s in shape)
    if any(s < 0 for s in dims):
        raise ValueError(f"shape: sizes must be >= 0, got {dims}")
    if dtype not in _SAMPLING_DTYPES:
        raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
    if method not in ("auto", "rejection", "inverse_cdf"):
        raise ValueError(f"method: must be 'auto', 'rejection' or 'inverse_cdf', got {method!r}")
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    device = torch.device(device)
    if generator is not None and generator.device.type != device.type:
        raise ValueError(f"generator: is on {generator.device} but device={device}")
    if math.isinf(threshold):
        return torch.randn(dims, generator=generator, dtype=dtype, device=device)
    if method == "auto":
        method = "inverse_cdf" if threshold < INVERSE_CDF_BELOW else "rejection"
    bound = _bound_in_dtype(threshold, dtype)
    if method == "inverse_cdf":
        lo = float(torch.special.ndtr(torch.tensor(-threshold, dtype=torch.float64)))
        hi = 1.0 - lo  # Phi(threshold) = 1 - Phi(-threshold): symmetric, avoids rounding asymmetry
        u = torch.rand(dims, generator=generator, dtype=torch.float64, device=device)
        z = torch.special.ndtri(lo + (hi - lo) * u)
        return z.to(dtype).clamp_(-bound, bound)
    # Rejection in float32 at least (half-precision normals are coarse); redraw rejects only.
    work = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    wbound = bound if work == dtype else _bound_in_dtype(bound, work)
    z = torch.randn(dims, generator=generator, dtype=work, device=device)
    flat = z.view(-1)
    # Track the indices still rejected, so each round only touches (and re-tests) those:
    # total work O(numel / acceptance) instead of O(numel * rounds).
    idx = (flat.abs() > wbound).nonzero().squeeze(1)
    while idx.numel():
        fresh = torch.randn(idx.numel(), generator=generator, dtype=work, device=device)
        flat[idx] = fresh
        idx = idx[fresh.abs() > wbound]
    return z.to(dtype)


def biggan_truncated_noise(
    shape: Sequence[int] | torch.Size | int,
    truncation: float,
    generator: Optional[torch.Generator] = None,
    dtype: torch.dtype = torch.float32,
    device: Optional[torch.device | str] = None,
    threshold: float = 2.0,
) -> torch.Tensor:
    """BigGAN's released sampling convention: ``truncation * TruncNormal(-threshold, threshold)``.

    Matches: the official BigGAN sample code (``truncnorm(-2, 2) * truncation``), which
    scales the truncated normal rather than moving its threshold; values lie in
    [-threshold * truncation, threshold * truncation] and have std shrunk by ``truncation``.
    """
    truncation = _check_psi(truncation, "truncation", allow_inf=False)
    z = truncated_normal(
        shape,
        threshold,
        generator=generator,
        dtype=torch.float64 if dtype == torch.float64 else torch.float32,
        device=device,
    )
    return (z * truncation).to(dtype)


def psi_truncation(
    w: torch.Tensor,
    w_avg: torch.Tensor,
    psi: float | torch.Tensor,
    cutoff: Optional[int] = None,
) -> torch.Tensor:
    """StyleGAN truncation in w space: ``w' = w_avg + psi * (w - w_avg)`` (out of place).

    Args:
        w (Tensor[N, D] or Tensor[N, L, D]): intermediate latents (L = number of layers).
        w_avg (Tensor[D] or Tensor[L, D]): centre of mass of w (see :func:`estimate_w_avg`).
        psi: scalar (float or 0-d tensor); 1 = no truncation, 0 = every w replaced by w_avg.
            Any real value is accepted (psi < 0 extrapolates to the "anti-face", psi > 1
            exaggerates); NaN / inf are refused.
        cutoff: only for [N, L, D] inputs: truncate layers ``l < cutoff`` and leave the rest
            untouched (None: all layers).

    Returns:
        Tensor of w's shape and dtype.

    Matches: Karras et al. 2019 (StyleGAN, ``truncation_psi`` / ``truncation_cutoff``:
    layers with index < cutoff are interpolated towards w_avg); StyleGAN2/3 ``w_avg.lerp(w, psi)``.

    >>> w = torch.ones(2, 4); psi_truncation(w, torch.zeros(4), 0.5)[0, 0].item()
    0.5
    """
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise TypeError("w: expected a floating-point torch.Tensor")
    if not isinstance(w_avg, torch.Tensor) or not w_avg.is_floating_point():
        raise TypeError("w_avg: expected a floating-point torch.Tensor")
    if w.dim() not in (2, 3):
        raise ValueError(f"w: expected [N, D] or [N, L, D], got shape {tuple(w.shape)}")
    if isinstance(psi, torch.Tensor):
        if psi.numel() != 1:
            raise ValueError(f"psi: expected a scalar, got shape {tuple(psi.shape)}")
        psi_t = psi.reshape(()).to(device=w.device, dtype=w.dtype)
        if not bool(torch.isfinite(psi_t)):
            raise ValueError("psi: must be finite")
    else:
        if isinstance(psi, bool) or not isinstance(psi, numbers.Real) or not math.isfinite(float(psi)):
            raise ValueError(f"psi: must be a finite real number, got {psi!r}")
        psi_t = torch.tensor(float(psi), device=w.device, dtype=w.dtype)
    d = w.shape[-1]
    if w_avg.shape[-1] != d or w_avg.dim() > 2:
        raise ValueError(f"w_avg: expected [D] or [L, D] with D={d}, got shape {tuple(w_avg.shape)}")
    if w_avg.dim() == 2 and (w.dim() != 3 or w_avg.shape[0] != w.shape[1]):
        raise ValueError(
            f"w_avg: shape {tuple(w_avg.shape)} needs w of shape [N, {w_avg.shape[0]}, {d}], got {tuple(w.shape)}"
        )
    w_avg = w_avg.to(device=w.device, dtype=w.dtype)
    if cutoff is None:
        return torch.lerp(w_avg.expand_as(w), w, psi_t)
    if w.dim() != 3:
        raise ValueError("cutoff: needs a per-layer w of shape [N, L, D]")
    cutoff = check_positive_int(cutoff, "cutoff", minimum=0)
    out = w.clone()
    c = min(cutoff, w.shape[1])
    avg = w_avg if w_avg.dim() == 1 else w_avg[:c]
    out[:, :c] = torch.lerp(avg.expand_as(w[:, :c]), w[:, :c], psi_t)
    return out


@torch.no_grad()
def estimate_w_avg(
    mapping: Callable[..., torch.Tensor],
    n: int = 100_000,
    z_dim: Optional[int] = None,
    batch_size: int = 1000,
    generator: Optional[torch.Generator] = None,
    device: Optional[torch.device | str] = None,
    **mapping_kwargs: Any,
) -> torch.Tensor:
    """Monte-Carlo estimate of w_avg = E_{z ~ N(0, I)} mapping(z), accumulated in float64.

    Args:
        mapping: callable ``z (Tensor[B, z_dim]) -> w (Tensor[B, D] or Tensor[B, L, D])``
            (extra keyword arguments, e.g. class labels, are passed through).
        n: number of latents.
        z_dim: latent size (default: ``mapping.z_dim`` if present).
        batch_size: latents per call.
        generator: draws z (its device is used unless ``device`` is given).
        device: where z is created (default: generator's device, else the first
            parameter's device of an ``nn.Module`` mapping, else CPU).

    Returns:
        Tensor[D] (or Tensor[L, D]) in the mapping's output dtype, on its output device.

    Matches: StyleGAN's tracked ``dlatent_avg`` / ``w_avg``, estimated here directly instead
    of by an exponential moving average during training.
    """
    n = check_positive_int(n, "n")
    batch_size = check_positive_int(batch_size, "batch_size")
    if z_dim is None:
        z_dim = getattr(mapping, "z_dim", None)
        if z_dim is None:
            raise ValueError("z_dim: not given and the mapping has no z_dim attribute")
    z_dim = check_positive_int(z_dim, "z_dim")
    if device is None:
        if generator is not None:
            device = generator.device
        elif isinstance(mapping, torch.nn.Module):
            p = next(iter(mapping.parameters()), None)
            device = p.device if p is not None else torch.device("cpu")
        else:
            device = torch.device("cpu")
    total: Optional[torch.Tensor] = None
    out_dtype = torch.float32
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        z = torch.randn(b, z_dim, generator=generator, device=device)
        w = mapping(z, **mapping_kwargs)
        if not isinstance(w, torch.Tensor) or w.dim() not in (2, 3) or w.shape[0] != b:
            raise ValueError(
                f"mapping: must return Tensor[B, D] or Tensor[B, L, D] with B={b}, got "
                f"{tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__}"
            )
        out_dtype = w.dtype
        s = w.sum(dim=0, dtype=torch.float64)
        total = s if total is None else total + s
        done += b
    assert total is not None
    return (total / n).to(out_dtype)


#: the sweep's metric names -> (the registry metric that computes it, the registry keys it reports)
_SWEEP_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "precision": ("pr", ("pr_precision",)),
    "recall": ("pr", ("pr_recall",)),
    "density": ("prdc", ("density",)),
    "coverage": ("prdc", ("coverage",)),
    "fid": ("fid", ("fid",)),
    "kid": ("kid", ("kid_mean", "kid_std")),
}
_METRIC_CHOICES = tuple(_SWEEP_METRICS)
#: registry keys reported under the sweep's own column names (precision / recall of ``pr``, k = 3)
_COLUMNS = {"pr_precision": "precision", "pr_recall": "recall"}


def truncation_sweep(
    sample_fn: Callable[[float], Any],
    psis: Iterable[float],
    real_features: Any,
    metrics: Sequence[str] = ("precision", "recall", "fid"),
    k: int = 3,
    density_k: int = 5,
    kid_kwargs: Optional[dict[str, Any]] = None,
) -> list[dict[str, float]]:
    """Evaluate metrics of generated samples for each truncation value psi.

    Every metric is computed through the metric registry (:data:`fastgan.evaluation.METRICS`,
    :func:`fastgan.evaluation.registry.run_metric`) with its default conventions, as
    :func:`fastgan.evaluate` computes it on features.

    Args:
        sample_fn: ``psi -> fake features (Tensor[M, D])``; it generates samples with that
            truncation and embeds them (e.g. with :func:`fastgan.features.extract_features`).
        psis: truncation values, evaluated in the given order.
        real_features (Tensor[N, D]): reference features (computed once, reused).
        metrics: any of ``"precision"``, ``"recall"`` (metric ``pr``:
            ``fastgan.metrics.precision_recall`` with ``k``), ``"density"``, ``"coverage"``
            (metric ``prdc`` with ``density_k``), ``"fid"`` (:func:`fastgan.metrics.fid`),
            ``"kid"`` (metric ``kid``, reported as ``kid_mean`` and ``kid_std``).
        k: neighbourhood size for precision / recall (Kynkaanniemi et al.: 3).
        density_k: neighbourhood size for density / coverage (Naeem et al.: 5).
        kid_kwargs: options of metric ``kid`` (``subsets``, ``subset_size``, ``seed``, ...: its
            registry options; ``seed`` default 0, so every psi draws the same subsets).

    Returns:
        One dict per psi: ``{"psi": psi, "n_fake": M, <key>: value, ...}`` with the keys
        ``precision``, ``recall``, ``density``, ``coverage``, ``fid``, ``kid_mean``, ``kid_std``
        of the metrics requested.

    >>> table = truncation_sweep(lambda psi: fake_feats(psi), [0.5, 0.7, 1.0], real)  # doctest: +SKIP
    """
    from fastgan._checks import check_features
    from fastgan.evaluation.registry import given_options, resolve_options, run_metric

    metrics = tuple(metrics)
    for name in metrics:
        if name not in _METRIC_CHOICES:
            raise ValueError(f"metrics: unknown metric {name!r}; choose from {_METRIC_CHOICES}")
    if not metrics:
        raise ValueError("metrics: at least one metric is needed")
    psis = [float(p) for p in psis]
    if not psis:
        raise ValueError("psis: at least one truncation value is needed")
    real = check_features(real_features, "real_features")
    wanted = list(dict.fromkeys(_SWEEP_METRICS[m][0] for m in metrics))  # registry metrics, in order
    keys = [key for m in metrics for key in _SWEEP_METRICS[m][1]]
    given = given_options(wanted, {"pr": {"k": k}, "prdc": {"k": density_k}, "kid": dict(kid_kwargs or {})})

    rows: list[dict[str, float]] = []
    for psi in psis:
        fake = check_features(sample_fn(psi), f"sample_fn({psi})")
        if fake.shape[1] != real.shape[1]:
            raise ValueError(
                f"sample_fn({psi}): feature dimension {fake.shape[1]} != real_features' {real.shape[1]}"
            )
        row: dict[str, float] = {"psi": psi, "n_fake": float(fake.shape[0])}
        for name in wanted:
            opts = resolve_options(name, None, options=given[name])
            result, _ = run_metric(name, real, fake, opts, given=frozenset(given[name]))
            row.update({_COLUMNS.get(key, key): v for key, v in result.items() if key in keys})
        rows.append(row)
    return rows


# the figure moved to fastgan.plotting (matplotlib is an optional extra); the old name stays importable
__getattr__, __dir__ = lazy_exports(__name__, globals(), {"plot_truncation_sweep": "fastgan.plotting"})
