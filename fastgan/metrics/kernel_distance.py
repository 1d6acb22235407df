"""Kernel Inception Distance (Binkowski et al., 2018): unbiased MMD^2, polynomial kernel.

For real features X and fake features Y (rows in R^D), each of ``subsets`` rounds draws
``m = subset_size`` rows of X and m rows of Y without replacement (independently per
round) and evaluates the unbiased estimator

    MMD_u^2 = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2,

with k(x, y) = (gamma * x.y + coef0) ** degree, gamma = 1/D by default. KID is the
mean over rounds; the reported std is the population std over rounds (ddof=0).

Matches: Binkowski et al. 2018 (``polynomial_mmd_averages``), torch-fidelity
``kid_features_to_metric`` (degree 3, gamma 1/D, coef0 1, ``np.std``, error if
``subset_size`` exceeds either sample count) and torchmetrics
``KernelInceptionDistance`` (``std(unbiased=False)``). By default the subsets come from
``torch.randperm`` (real rows then fake rows per round, as torchmetrics draws them) on the
global torch RNG or an explicit ``torch.Generator``. ``preset="torch-fidelity"`` draws them as it
does (``numpy.random.RandomState(2020).choice(N, m, replace=False)``, generated rows first),
``preset="clean-fid"`` as ``kernel_distance`` does (numpy's global RNG or ``RandomState(seed)``;
subset size clamped to the sample counts): the reference's rounds (:mod:`fastgan.features.presets`). The references evaluate each round in the
features' dtype with numpy sums; fastgan sums in float64: on float32 features the two differ by
the references' float32 rounding (measured in the peers suite), on float64 ones by ~1e-12.

Evaluation strategies (``method``; same numbers up to floating-point summation order)
------------------------------------------------------------------------------------

* ``"subsets"``: per round. On the CPU through numpy's BLAS (:mod:`fastgan.metrics._kid_cpu`:
  ``?syrk`` for K_XX and K_YY, half the multiply-adds, rounds on a thread pool, each block
  reduced in one float64 pass by :func:`fastgan.linalg.kernel_row_sums`); elsewhere
  batched ``baddbmm`` over the upper block-triangle of K_XX and K_YY (row blocks of about
  ``BLOCK_ROWS``). The kernel is applied in place and each block reduced after its GEMM.
* ``"full"``: one Gram pass over the *union* of the rows that any round uses (all rows when
  the rounds cover the samples). Tiles of ``k(x_i, x_j)`` (upper block-triangle for K_XX and
  K_YY) are reduced against the round-membership matrix P (row counts per round; ``P K`` then a
  row-wise dot with P): every round's block sums without gathering m x m blocks; about
  (U_x^2 / 2 + U_y^2 / 2 + U_x U_y) D multiply-adds for U distinct rows, plus the reduction.
* ``"auto"``: the cheaper of the two under the cost model of :mod:`fastgan.metrics._kid_bounds`.

Precision: float32 with a measured check
----------------------------------------

Network features (float32) run float32 GEMMs, as the reference packages do, with the kernel
entries (on the CPU's native path; float32 elsewhere) and every sum in float64; then ``ceil(subsets / 50)`` rounds are recomputed in float64 and the
result falls back to float64 when one differs by more than ``tol`` (1e-3) times the std over
rounds (the largest difference is reported: ``stats``, ``EvalResult.info["checks"]``). Float64
features, or ``dtype=torch.float64``, take the exact path (~1e-12 relative). The certified
worst-case bound of the float32 path (:mod:`fastgan.metrics._kid_bounds`) is still reported.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Optional

import torch

from fastgan._checks import check_features, check_positive_int, check_same_device, check_same_dim
from fastgan.metrics import _kid_bounds as kb
from fastgan.metrics import _kid_cpu
from fastgan.metrics._base import KEY_KID_MEAN, KEY_KID_STD, BankMetric
from fastgan.metrics._bounds import ieee_matmul
from fastgan.metrics._kid_subsets import kid_subset_indices
from fastgan.metrics._kid_subsets import kid_subset_size as kid_subset_size  # re-export
from fastgan.metrics.conventions import PresetLike, get_conventions

__all__ = ["kid", "KID", "kid_subset_indices", "mmd2_subsets", "polynomial_kernel"]

logger = logging.getLogger(__name__)

Method = Literal["auto", "full", "subsets"]
DEFAULT_MAX_MEMORY = 1 << 30  # bytes of temporaries per call (gathered rows, kernel blocks and tiles)
DEFAULT_TOL = 1e-3  # fall back to float64 when checked rounds differ by more than this x the std over rounds


def polynomial_kernel(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: Optional[float] = None, coef0: float = 1.0
) -> torch.Tensor:
    """k(x, y) = (gamma x.y + coef0) ** degree for all pairs.

    Args:
        x (Tensor[..., N, D]), y (Tensor[..., M, D]): feature rows (batched allowed).
        gamma: default 1/D.

    Returns:
        Tensor[..., N, M] in the inputs' dtype.
    """
    g = 1.0 / x.shape[-1] if gamma is None else float(gamma)
    k = torch.matmul(x, y.transpose(-1, -2))
    return k.mul_(g).add_(coef0).pow_(degree)


# ----------------------------------------------------------------------------- kernel blocks
def _kernel_(
    out: torch.Tensor, a: torch.Tensor, bt: torch.Tensor, gamma: float, coef0: float, degree: int
) -> torch.Tensor:
    """out <- (gamma a @ bt + coef0) ** degree in place (batched or not)."""
    if out.dim() == 3:
        out.baddbmm_(a, bt, beta=0, alpha=gamma)
    else:
        out.addmm_(a, bt, beta=0, alpha=gamma)
    out.add_(coef0)
    if degree != 1:
        out.pow_(degree)
    return out


def _sum_last2(k: torch.Tensor) -> torch.Tensor:
    """float64 sum over the last two dims: rows summed in the compute dtype, then float64."""
    if k.dtype == torch.float64:
        return k.sum(dim=(-1, -2))
    return k.sum(dim=-1).to(torch.float64).sum(dim=-1)


def _sym_offdiag_sums(
    xs: torch.Tensor, gamma: float, coef0: float, degree: int, buf: torch.Tensor
) -> torch.Tensor:
    """sum_{i != j} k(x_i, x_j) per batch entry of xs (Tensor[B, m, D]) -> Tensor[B] float64.

    Only the upper block-triangle is multiplied; off-diagonal blocks count twice.
    """
    bsz, m, _ = xs.shape
    total = torch.zeros(bsz, dtype=torch.float64, device=xs.device)
    blocks = kb.blocks(m)
    for i, (lo, hi) in enumerate(blocks):
        for lo2, hi2 in blocks[i:]:
            out = buf[: bsz * (hi - lo) * (hi2 - lo2)].view(bsz, hi - lo, hi2 - lo2)
            _kernel_(out, xs[:, lo:hi], xs[:, lo2:hi2].transpose(1, 2), gamma, coef0, degree)
            s = _sum_last2(out)
            if lo2 == lo:
                total += s - torch.diagonal(out, dim1=1, dim2=2).sum(dim=-1, dtype=torch.float64)
            else:
                total += 2.0 * s
    return total


def _combine(sxx: torch.Tensor, syy: torch.Tensor, sxy: torch.Tensor, m: int) -> torch.Tensor:
    return (sxx + syy) / (m * (m - 1)) - 2.0 * sxy / (m * m)


def _mmd2_subsets(
    x: torch.Tensor,
    y: torch.Tensor,
    idx_r: torch.Tensor,
    idx_f: torch.Tensor,
    degree: int,
    gamma: float,
    coef0: float,
    batch: int,
) -> torch.Tensor:
    m = idx_r.shape[1]
    out = torch.empty(idx_r.shape[0], dtype=torch.float64, device=x.device)
    buf = torch.empty(min(batch, idx_r.shape[0]) * m * m, dtype=x.dtype, device=x.device)
    for s0 in range(0, idx_r.shape[0], batch):
        ir, jf = idx_r[s0 : s0 + batch], idx_f[s0 : s0 + batch]
        xs = torch.index_select(x, 0, ir.reshape(-1)).view(*ir.shape, -1)  # [B, m, D]
        ys = torch.index_select(y, 0, jf.reshape(-1)).view(*jf.shape, -1)
        sxx = _sym_offdiag_sums(xs, gamma, coef0, degree, buf)
        syy = _sym_offdiag_sums(ys, gamma, coef0, degree, buf)
        kxy = buf[: xs.shape[0] * m * m].view(-1, m, m)
        _kernel_(kxy, xs, ys.transpose(1, 2), gamma, coef0, degree)
        out[s0 : s0 + batch] = _combine(sxx, syy, _sum_last2(kxy), m)
    return out


def _membership(idx: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(union rows Tensor[U], membership counts Tensor[S, U]) of the rounds' indices."""
    rows, inv = torch.unique(idx, return_inverse=True)
    p = torch.zeros(idx.shape[0], rows.shape[0], dtype=dtype, device=idx.device)
    p.scatter_add_(1, inv, torch.ones_like(inv, dtype=dtype))  # counts: rows may repeat
    return rows, p


def _union_sums(
    a: torch.Tensor,
    b: Optional[torch.Tensor],
    pa: torch.Tensor,
    pb: torch.Tensor,
    degree: int,
    gamma: float,
    coef0: float,
    tile_rows: int,
) -> torch.Tensor:
    """Per round: sum_{i, j in round} k(a_i, b_j) (b None: a against itself, i != j) -> Tensor[S] float64.

    a (Tensor[U_a, D]), b (Tensor[U_b, D]) are the union rows; pa (Tensor[S, U_a]), pb the
    memberships (row counts) in the compute dtype. Each tile's P K product sums at most ``tile_rows``
    entries in the compute dtype; everything after is float64.
    """
    sym = b is None
    other = a if b is None else b
    total = torch.zeros(pa.shape[0], dtype=torch.float64, device=a.device)
    buf = torch.empty(tile_rows * other.shape[0], dtype=a.dtype, device=a.device)
    for i0 in range(0, a.shape[0], tile_rows):
        i1 = min(a.shape[0], i0 + tile_rows)
        j0 = i0 if sym else 0
        k = _kernel_(
            buf[: (i1 - i0) * (other.shape[0] - j0)].view(i1 - i0, -1),
            a[i0:i1],
            other[j0:].T,
            gamma,
            coef0,
            degree,
        )
        w = (pa[:, i0:i1] @ k).to(torch.float64)  # [S, U_b - j0]: sum over this tile's rows
        pcols = pb[:, j0:].to(torch.float64)
        if not sym:
            total += (w * pcols).sum(dim=1)
            continue
        blk = i1 - i0
        total += (w[:, :blk] * pcols[:, :blk]).sum(dim=1) + 2.0 * (w[:, blk:] * pcols[:, blk:]).sum(dim=1)
        total -= pa[:, i0:i1].to(torch.float64) @ torch.diagonal(k[:, :blk]).to(torch.float64)
    return total


def _mmd2_full(
    x: torch.Tensor,
    y: torch.Tensor,
    idx_r: torch.Tensor,
    idx_f: torch.Tensor,
    degree: int,
    gamma: float,
    coef0: float,
    tile_rows: int,
) -> torch.Tensor:
    m = idx_r.shape[1]
    rx, px = _membership(idx_r, x.dtype)
    ry, py = _membership(idx_f, x.dtype)
    xu, yu = x[rx], y[ry]
    sxx = _union_sums(xu, None, px, px, degree, gamma, coef0, tile_rows)
    syy = _union_sums(yu, None, py, py, degree, gamma, coef0, tile_rows)
    sxy = _union_sums(xu, yu, px, py, degree, gamma, coef0, tile_rows)
    return _combine(sxx, syy, sxy, m)


def _mmd2_eval(
    x: torch.Tensor,
    y: torch.Tensor,
    idx_r: torch.Tensor,
    idx_f: torch.Tensor,
    degree: int,
    g: float,
    coef0: float,
    dtype: torch.dtype,
    method: str,
    max_memory: int,
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(values Tensor[S] float64, bounds Tensor[S] float64, method used)."""
    s, m = idx_r.shape
    d = x.shape[1]
    cast_u = max(kb.cast_roundoff(x.dtype, dtype), kb.cast_roundoff(y.dtype, dtype))
    xc = x.to(dtype).contiguous()
    yc = y.to(dtype).contiguous()
    itemsize = torch.empty((), dtype=dtype).element_size()
    syrk = x.device.type == "cpu" and _kid_cpu.cpu_path() == "numpy"
    chosen = kb.choose_method(method, idx_r, idx_f, d, dtype, max_memory, syrk)
    shape = (x.shape[0], y.shape[0], d, s, m)
    logger.debug("kid: method=%s dtype=%s (N_x=%d, N_y=%d, D=%d, subsets=%d, m=%d)", chosen, dtype, *shape)
    with ieee_matmul(x.device) as u_mm:
        if chosen == "full":
            n_max = max(x.shape[0], y.shape[0])
            tile = max(1, min(kb.BLOCK_ROWS, max_memory // max(1, 2 * n_max * itemsize)))
            vals = _mmd2_full(xc, yc, idx_r, idx_f, degree, g, coef0, tile)
            # P K sums a tile's rows (products with the counts); float64 sums over columns and tiles
            row_terms, sum_terms = tile + 1, n_max + (n_max // tile + 1) + 4
        else:
            if syrk:
                vals = _kid_cpu.mmd2_rounds_numpy(xc, yc, idx_r, idx_f, degree, g, coef0)
            else:
                per_round = (2 * m * d + m * m) * itemsize
                batch = max(1, min(s, max_memory // per_round))
                vals = _mmd2_subsets(xc, yc, idx_r, idx_f, degree, g, coef0, batch)
            row_terms, sum_terms = m, m + 2 * len(kb.blocks(m)) ** 2 + 4
    # float32 matmuls that could not be kept in IEEE precision (TF32 / bf16): bound with the bf16 roundoff
    tf32 = dtype == torch.float32 and u_mm > kb.unit_roundoff(torch.float32)
    bound_dtype = torch.bfloat16 if tf32 else dtype
    beta = kb.entry_bound_poly(d, degree, g, coef0, bound_dtype, cast_u, row_terms, sum_terms)
    bounds = kb.round_bounds(x, y, idx_r, idx_f, beta)
    return vals, bounds, chosen


def _prepare(
    real: Any,
    fake: Any,
    idx_real: Any,
    idx_fake: Any,
    degree: int,
    gamma: Optional[float],
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int, float]:
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    check_same_device([x, y], ["real", "fake"])
    degree = check_positive_int(degree, "degree")
    if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise TypeError(f"dtype: expected a floating dtype, got {dtype}")
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    idx_r = torch.as_tensor(idx_real).to(device=x.device, dtype=torch.int64)
    idx_f = torch.as_tensor(idx_fake).to(device=x.device, dtype=torch.int64)
    if idx_r.dim() != 2 or idx_r.shape != idx_f.shape:
        raise ValueError(
            f"idx_real, idx_fake: expected two [S, m] index tensors of one shape, got "
            f"{tuple(idx_r.shape)} and {tuple(idx_f.shape)}"
        )
    if idx_r.shape[1] < 2:
        raise ValueError(f"subset size must be >= 2 for the unbiased estimator, got {idx_r.shape[1]}")
    for idx, n, name in ((idx_r, x.shape[0], "idx_real"), (idx_f, y.shape[0], "idx_fake")):
        if bool((idx < 0).any()) or bool((idx >= n).any()):
            raise ValueError(f"{name}: indices must lie in [0, {n})")
    return x, y, idx_r, idx_f, degree, g


def mmd2_subsets(
    real: Any,
    fake: Any,
    idx_real: torch.Tensor,
    idx_fake: torch.Tensor,
    degree: int = 3,
    gamma: Optional[float] = None,
    coef0: float = 1.0,
    dtype: torch.dtype = torch.float64,
    method: Method = "auto",
    max_memory: int = DEFAULT_MAX_MEMORY,
    stats: Optional[dict[str, Any]] = None,
) -> torch.Tensor:
    """Unbiased polynomial-kernel MMD^2 of each round, given the rounds' row indices.

    Args:
        real (Tensor[N_x, D]), fake (Tensor[N_y, D]): features (same device).
        idx_real (Tensor[S, m] int64), idx_fake (Tensor[S, m] int64): rows of each round
            (see :func:`kid_subset_indices`); m >= 2 (a row repeated within a round counts
            as distinct samples, as a gather would).
        degree, gamma, coef0: kernel (gamma None -> 1/D).
        dtype: compute dtype of the GEMMs and kernel entries (sums always accumulate in
            float64; float64 is the exact path).
        method: ``"auto"``, ``"full"`` or ``"subsets"`` (module docstring).
        max_memory: byte budget for temporaries.
        stats: if a dict, receives ``"method"`` (the one used), ``"dtype"`` and
            ``"error_bound"`` (Tensor[S] float64: certified bound on each round's absolute
            error, see the module docstring).

    Returns:
        Tensor[S] float64 MMD_u^2 per round (on the features' device).

    Matches: torch-fidelity ``mmd2`` / torchmetrics ``maximum_mean_discrepancy`` on the same rows.
    """
    x, y, idx_r, idx_f, degree, g = _prepare(real, fake, idx_real, idx_fake, degree, gamma, dtype)
    vals, bounds, chosen = _mmd2_eval(x, y, idx_r, idx_f, degree, g, coef0, dtype, method, max_memory)
    if stats is not None:
        stats.update(method=chosen, dtype=dtype, error_bound=bounds)
    return vals


def kid(
    real: Any,
    fake: Any,
    subsets: Optional[int] = None,
    subset_size: Optional[int] = None,
    degree: Optional[int] = None,
    gamma: Optional[float] = None,
    coef0: Optional[float] = None,
    generator: Optional[torch.Generator] = None,
    dtype: Optional[torch.dtype] = None,
    method: Method = "auto",
    max_memory: int = DEFAULT_MAX_MEMORY,
    tol: Optional[float] = DEFAULT_TOL,
    stats: Optional[dict[str, Any]] = None,
    *,
    preset: PresetLike = None,
    seed: Optional[int] = None,
    subset_rule: Optional[str] = None,
    rng: Optional[str] = None,
    draw_first: Optional[str] = None,
    check_rounds: Optional[int] = None,
) -> dict[str, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

    Args:
        real (Tensor[N_x, D]): reference features (e.g. Inception pool3, 2048-d).
        fake (Tensor[N_y, D]): generated-sample features.
        subsets: number of rounds (None: the preset's, 100).
        subset_size: rows per round m (None: the preset's, 1000). 2 <= m <= min(N_x, N_y);
            larger is an error (as in torch-fidelity) unless the preset clamps it
            (``"clean-fid"``: ``m = min(N_x, N_y, subset_size)``).
        degree, gamma, coef0: polynomial kernel (None: the preset's, degree 3, gamma 1/D, coef0 1).
        generator: ``torch.Generator`` that draws the subsets with ``torch.randperm`` (overrides
            a preset's numpy RNG; None: the preset's RNG, for the default preset torch's global
            CPU RNG; a CUDA generator draws on its device, giving different subsets than a CPU one).
        dtype: compute dtype of the GEMMs and kernel entries; sums always accumulate in
            float64. None (default): the features' precision, as the references compute
            (float64 features: float64; float32, float16, bfloat16: float32). ``torch.float32``
            is checked a posteriori: ``check_rounds`` rounds are recomputed in float64 and the
            whole result is recomputed in float64 when one differs by more than ``tol`` times
            the std over rounds. ``torch.float64`` is the exact path (~1e-12 relative).
        method: ``"auto"`` | ``"full"`` | ``"subsets"`` (same values up to rounding; see the
            module docstring; ``"auto"`` uses the cost model).
        max_memory: byte budget for temporaries.
        tol: the a-posteriori check's tolerance, relative to the std over rounds (default
            1e-3; measured float32 differences on Inception features are ~1e-6 of it). None:
            never fall back (the difference is still measured and reported).
        stats: if a dict, receives ``"method"``, ``"dtype"`` (of the returned values),
            ``"check_rounds"`` (indices of the rounds recomputed in float64),
            ``"check_max_diff"`` (their largest absolute difference, float; 0 for float64),
            ``"fallback"`` (True if the check forced the float64 recomputation),
            ``"error_bound"`` (float: the certified worst-case bound on ``|kid_mean - exact|``,
            exact = the same rounds in exact arithmetic; far above the measured difference,
            :mod:`fastgan.metrics._kid_bounds`), ``"error_bound_rounds"`` (Tensor[S]),
            ``"subset_size"`` (m used) and ``"rounds"`` (Tensor[S] float64, each round's MMD_u^2).
        preset: ``"pytorch-fid"`` (None: fastgan's defaults), ``"torch-fidelity"`` or
            ``"clean-fid"`` (:mod:`fastgan.features.presets`): subset count and size, the
            subset-size rule, the kernel and how the rounds' rows are drawn (see
            :func:`kid_subset_indices`). Explicit arguments override it.
        seed: seed of the preset's subset RNG (``"torch-fidelity"``: its ``rng_seed``, default
            2020; ``"clean-fid"``: ``RandomState(seed)``, which reproduces clean-fid run after
            ``numpy.random.seed(seed)``; with ``seed=None`` this draws from numpy's global RNG
            as clean-fid does; default preset: ``torch.Generator().manual_seed(seed)``).
            Not together with ``generator``. Why a function takes ``seed=`` here (the API's rule is
            ``generator=``): a preset reproduces a reference's numpy ``RandomState`` stream, which
            an int seeds and no ``torch.Generator`` can stand in for.
        subset_rule, rng, draw_first: the subset-size rule, the subset RNG and whose rows each
            round draws first (None: the preset's; see :func:`kid_subset_indices`).
        check_rounds: rounds the check recomputes in float64 (None: ``ceil(subsets / 50)``; 0: none).

    Returns:
        ``{"kid_mean": mean, "kid_std": std}`` of MMD_u^2 over rounds (floats); std with
        divisor ``subsets`` (ddof=0). clean-fid reports the mean only (its ``compute_kid``
        value is ``kid_mean``).

    Matches: Binkowski et al. 2018; torch-fidelity 0.4.0 ``kid_features_to_metric`` (same
    rounds with ``preset="torch-fidelity"``, ``real`` = its ``input2``, ``fake`` = ``input1``);
    clean-fid 0.1.35 ``kernel_distance(real, fake)`` (``preset="clean-fid"``); torchmetrics
    ``KernelInceptionDistance`` (defaults 100 x 1000, degree 3, coef0 1; same rounds with the
    default preset and its global-RNG seed).

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 8, generator=g)
    >>> out = kid(x, x + 3, subsets=5, subset_size=20, generator=g)
    >>> out["kid_mean"] > 0
    True
    """
    x = check_features(real, "real")
    y = check_features(fake, "fake")
    check_same_dim(x, y, "real", "fake")
    if tol is not None and not (float(tol) >= 0.0):
        raise ValueError(f"tol: expected a non-negative number or None, got {tol!r}")
    if check_rounds is not None:
        check_rounds = check_positive_int(check_rounds, "check_rounds", minimum=0)
    p = get_conventions(preset)
    subsets = p.kid_subsets if subsets is None else subsets
    subset_size = p.kid_subset_size if subset_size is None else subset_size
    degree = p.kid_degree if degree is None else degree
    gamma = p.kid_gamma if gamma is None else gamma
    coef0 = p.kid_coef0 if coef0 is None else float(coef0)
    idx_r, idx_f = kid_subset_indices(
        x.shape[0],
        y.shape[0],
        subsets,
        subset_size,
        generator,
        preset=p,
        seed=seed,
        subset_rule=subset_rule,
        rng=rng,
        draw_first=draw_first,
    )
    if dtype is None:  # the features' precision: float64 stays exact, float32 and below run float32
        dtype = torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32
    x, y, idx_r, idx_f, degree, g = _prepare(x, y, idx_r, idx_f, degree, gamma, dtype)
    vals, bounds, chosen = _mmd2_eval(x, y, idx_r, idx_f, degree, g, coef0, dtype, method, max_memory)
    check = kb.check_rounds(
        lambda a, b, ir, jf: _mmd2_eval(a, b, ir, jf, degree, g, coef0, torch.float64, "subsets", max_memory)[
            0
        ],
        (x, y, idx_r, idx_f),
        vals,
        dtype,
        check_rounds,
        tol,
    )
    if check["fallback"]:
        logger.info(
            "kid: %s rounds differ from float64 by up to %.3g (tol %s x std %.3g): recomputing in float64",
            dtype,
            check["max_diff"],
            tol,
            check["spread"],
        )
        vals, bounds, chosen = _mmd2_eval(
            x, y, idx_r, idx_f, degree, g, coef0, torch.float64, method, max_memory
        )
    if stats is not None:
        stats.update(
            method=chosen,
            dtype=torch.float64 if check["fallback"] else dtype,
            error_bound=float(bounds.mean()),
            error_bound_rounds=bounds,
            fallback=check["fallback"],
            check_rounds=check["rounds"],
            check_max_diff=check["max_diff"],
            subset_size=int(idx_r.shape[1]),
            rounds=vals,
        )
    return {KEY_KID_MEAN: float(vals.mean()), KEY_KID_STD: float(vals.std(correction=0))}


class KID(BankMetric):
    """Stateful KID: banks of real and fake features (no compact statistic exists).

    Implements the :class:`~fastgan.metrics.Metric` protocol. :meth:`merge` concatenates the
    banks; :meth:`sync` all-gathers them over ``torch.distributed`` ranks in rank order. The
    subsets index the concatenated banks, so the result equals a single process fed the
    samples in the same order (rank 0's rows first).

    Args: as :func:`kid` (``subsets``, ``subset_size``, ``degree``, ``gamma``, ``coef0``,
        ``dtype``, ``method``, ``tol``, ``check_rounds``, ``preset``, ``subset_rule``, ``rng``,
        ``draw_first``; None:
        the preset's values), plus ``seed``
        for the subset RNG used by :meth:`compute` (None: the preset's ``kid_seed``, else 2020;
        ``compute()`` is always reproducible, like torch-fidelity's ``rng_seed``). The RNG is the
        preset's (torch ``Generator`` for the default preset, numpy ``RandomState`` for
        ``"torch-fidelity"`` / ``"clean-fid"``).

    >>> m = KID(subsets=3, subset_size=10)
    >>> m.update(torch.randn(20, 4), real=True); m.update(torch.randn(20, 4) + 1, real=False)
    >>> m.compute()["kid_mean"] > 0
    True
    """

    def __init__(
        self,
        subsets: Optional[int] = None,
        subset_size: Optional[int] = None,
        degree: Optional[int] = None,
        gamma: Optional[float] = None,
        coef0: Optional[float] = None,
        seed: Optional[int] = None,
        dtype: Optional[torch.dtype] = None,
        method: Method = "auto",
        tol: Optional[float] = DEFAULT_TOL,
        *,
        preset: PresetLike = None,
        subset_rule: Optional[str] = None,
        rng: Optional[str] = None,
        draw_first: Optional[str] = None,
        check_rounds: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.preset = get_conventions(preset)
        self.subset_rule, self.rng, self.draw_first = subset_rule, rng, draw_first
        p = self.preset
        self.subsets = check_positive_int(p.kid_subsets if subsets is None else subsets, "subsets")
        self.subset_size = check_positive_int(
            p.kid_subset_size if subset_size is None else subset_size, "subset_size", minimum=2
        )
        self.degree = check_positive_int(p.kid_degree if degree is None else degree, "degree")
        self.gamma = p.kid_gamma if gamma is None else gamma
        self.coef0 = float(p.kid_coef0 if coef0 is None else coef0)
        if seed is None:
            seed = 2020 if p.kid_seed is None else p.kid_seed
        self.seed = int(seed)
        self.dtype = dtype
        self.method: Method = method
        self.tol = tol
        self.check_rounds = check_rounds
        #: the ``stats`` of the last :meth:`compute` (method, dtype, the float64 check, ...)
        self.last_stats: dict[str, Any] = {}

    def compute(self) -> dict[str, float]:
        """``{"kid_mean", "kid_std"}`` of MMD_u^2 over rounds (see :func:`kid`)."""
        if not self.real_features or not self.fake_features:
            raise RuntimeError("KID.compute: both real and fake features must be added first")
        x = self._bank(real=True)
        y = self._bank(real=False).to(x.device)
        return kid(
            x,
            y,
            self.subsets,
            self.subset_size,
            self.degree,
            self.gamma,
            self.coef0,
            dtype=self.dtype,
            method=self.method,
            tol=self.tol,
            preset=self.preset,
            seed=self.seed,
            subset_rule=self.subset_rule,
            rng=self.rng,
            draw_first=self.draw_first,
            check_rounds=self.check_rounds,
            stats=self.last_stats,
        )
