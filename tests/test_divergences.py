"""The f-divergence registry: definitions, conjugates, activations, Lambert W."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch

from fastgan import _ext
from fastgan.divergences import (
    DIVERGENCES,
    KERNEL_IDS,
    Divergence,
    get_divergence,
    lambert_w0,
    log_lambert_w0_exp,
)
from fastgan.losses._ref import ACTIVATION, CONJUGATE, fused_term_ref

D64 = torch.float64

# Every registry entry, the alpha family on both sides of 1 and at negative alpha.
CASES: list[tuple[str, dict]] = [(n, {}) for n in DIVERGENCES if n != "alpha"] + [
    ("alpha", {"alpha": 0.5}),
    ("alpha", {"alpha": -1.0}),
    ("alpha", {"alpha": 0.3}),
    ("alpha", {"alpha": 2.0}),
    ("alpha", {"alpha": 3.0}),
]
IDS = [n + (f"-{p['alpha']}" if p else "") for n, p in CASES]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _div(name: str, params: dict) -> Divergence:
    return get_divergence(name, **params)


# ------------------------------------------------------------------ registry
def test_required_names_and_aliases() -> None:
    for name in [
        "kl",
        "reverse_kl",
        "pearson",
        "neyman",
        "squared_hellinger",
        "jeffrey",
        "js",
        "gan",
        "total_variation",
        "alpha",
    ]:
        assert name in DIVERGENCES
    assert get_divergence("Jensen-Shannon").name == "js"
    assert get_divergence("hellinger").name == "squared_hellinger"
    assert get_divergence("TV").name == "total_variation"
    d = get_divergence("gan")
    assert get_divergence(d) is d
    assert get_divergence(DIVERGENCES["kl"]).name == "kl"
    assert get_divergence("alpha", alpha=0.5) is get_divergence("alpha", alpha=0.5)  # cached record


def test_kernel_ids_unique_and_match_entries() -> None:
    assert len(set(KERNEL_IDS.values())) == len(KERNEL_IDS)
    for name, params in CASES:
        d = _div(name, params)
        if name == "alpha":
            want = KERNEL_IDS["alpha_lt1"] if params["alpha"] < 1 else KERNEL_IDS["alpha_gt1"]
        else:
            want = KERNEL_IDS[name]
        assert d.kernel_id == want
        assert d.reference.startswith("f-GAN Table")


def test_bad_names_and_params() -> None:
    with pytest.raises(ValueError, match="unknown name 'wasserstein'"):
        get_divergence("wasserstein")
    with pytest.raises(TypeError, match="needs parameter"):
        get_divergence("alpha")
    with pytest.raises(TypeError, match="unexpected parameter"):
        get_divergence("kl", alpha=0.5)
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="alpha: must not be 0 or 1"):
            get_divergence("alpha", alpha=bad)
    with pytest.raises(ValueError, match="finite"):
        get_divergence("alpha", alpha=float("nan"))
    with pytest.raises(TypeError, match="alpha"):
        get_divergence("alpha", alpha="0.5")
    with pytest.raises(TypeError):
        get_divergence(3)  # type: ignore[arg-type]


# ---------------------------------------------------------- the definitions
@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_f_of_one_is_zero_and_f_prime(name: str, params: dict) -> None:
    d = _div(name, params)
    one = torch.ones((), dtype=D64)
    # f(1) = 0, except the paper's GAN generator (documented: it measures 2 JSD - log 4)
    want = -math.log(4.0) if name == "gan" else 0.0
    assert abs(float(d.f(one)) - want) < 1e-15
    # f' against a central difference of f (away from TV's kink at 1)
    u = torch.tensor([0.05, 0.3, 0.7, 1.5, 2.0, 4.0, 9.0], dtype=D64)
    h = 1e-6 * u
    fd = (d.f(u + h) - d.f(u - h)) / (2 * h)
    torch.testing.assert_close(d.f_prime(u), fd, rtol=1e-7, atol=1e-8)
    # f'(1): derivative at 1, or for TV a subgradient between the one-sided slopes
    if name == "total_variation":
        assert -0.5 <= d.f_prime_at_1 <= 0.5
    else:
        assert float(d.f_prime(one)) == pytest.approx(d.f_prime_at_1, abs=1e-15)
    # convexity on a grid: second differences >= 0
    grid = torch.linspace(0.01, 10.0, 2001, dtype=D64)
    fv = d.f(grid)
    assert bool(((fv[2:] - 2 * fv[1:-1] + fv[:-2]) >= -1e-12).all())


def _numeric_conjugate(t: float, u: torch.Tensor, fu: torch.Tensor, smooth: bool) -> tuple[float, float]:
    """sup_u (u t - f(u)) on the grid, refined by a parabola through the top 3 points when f is
    smooth (not at total variation's kink); also the maximising u."""
    vals = u * t - fu
    i = int(torch.argmax(vals))
    best = float(vals[i])
    if smooth and 0 < i < len(u) - 1:
        x0, x1, x2 = (float(u[j]) for j in (i - 1, i, i + 1))
        y0, y1, y2 = (float(vals[j]) for j in (i - 1, i, i + 1))
        den = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
        b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den
        c = (x1 * x2 * (x1 - x2) * y0 + x2 * x0 * (x2 - x0) * y1 + x0 * x1 * (x0 - x1) * y2) / den
        if a < 0:
            xv = -b / (2 * a)
            best = max(best, c - b * b / (4 * a))
            return best, xv
    return best, float(u[i])


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_conjugate_is_the_fenchel_conjugate(name: str, params: dict) -> None:
    """f*(t) == sup_{u >= 0} (u t - f(u)) on a grid, for t = g_f(v) over a range of v."""
    d = _div(name, params)
    u = torch.cat([torch.zeros(1, dtype=D64), torch.logspace(-7, 3.5, 300001, dtype=D64)])
    fu = d.f(u)
    fu = torch.where(torch.isnan(fu), torch.full_like(fu, math.inf), fu)
    ts = d.activation(torch.linspace(-4.0, 4.0, 33, dtype=D64))
    checked = 0
    for t in ts.tolist():
        sup, umax = _numeric_conjugate(t, u, fu, smooth=name != "total_variation")
        if umax >= float(u[-2]):  # maximiser beyond the grid: not checkable here
            continue
        fstar = float(d.conjugate(torch.tensor(t, dtype=D64)))
        if name == "pearson" and t < -2.0:
            # documented: the paper's t^2/4 + t exceeds the exact conjugate (-1) below t = -2
            assert sup == pytest.approx(-1.0, abs=1e-9)
            assert fstar > sup
        else:
            assert fstar == pytest.approx(sup, rel=1e-6, abs=1e-7), (t, fstar, sup)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_activation_maps_into_domain_and_inverse(name: str, params: dict) -> None:
    d = _div(name, params)
    v = torch.linspace(-30.0, 30.0, 601, dtype=D64)
    t = d.activation(v)
    assert bool(d.in_domain(t).all())
    assert torch.isfinite(d.conjugate(t)).all() or name in ("kl", "jeffrey", "alpha")
    vv = torch.linspace(-5.0, 5.0, 41, dtype=D64)
    torch.testing.assert_close(d.activation_inverse(d.activation(vv)), vv, rtol=1e-9, atol=1e-9)
    # outside the domain the conjugate is +inf
    lo, hi = d.domain
    if math.isfinite(hi):
        assert float(d.conjugate(torch.tensor(hi + 1.0, dtype=D64))) == math.inf
    # the critic value for P = Q is reachable: g_f(v) = f'(1) for some finite v
    v1 = d.activation_inverse(torch.tensor(d.f_prime_at_1, dtype=D64))
    assert math.isfinite(float(v1))


@pytest.mark.parametrize("name,params", CASES, ids=IDS)
@pytest.mark.parametrize("term", [ACTIVATION, CONJUGATE])
def test_fused_closed_form_matches_naive_composition(name: str, params: dict, term: int) -> None:
    """The fused closed forms equal activation / conjugate(activation) of the registry, and their
    derivatives equal autograd through that naive float64 composition."""
    d = _div(name, params)
    v = torch.linspace(-12.0, 12.0, 481, dtype=D64).requires_grad_(True)
    naive = d.activation(v) if term == ACTIVATION else d.conjugate(d.activation(v))
    (dnaive,) = torch.autograd.grad(naive.sum(), v)
    val, grad = fused_term_ref(v.detach(), d.kernel_id, term, d.consts())
    ok = torch.isfinite(naive)
    assert int(ok.sum()) > 400
    torch.testing.assert_close(val[ok], naive.detach()[ok], rtol=1e-9, atol=1e-10)
    ok = ok & torch.isfinite(dnaive)
    torch.testing.assert_close(grad[ok], dnaive[ok], rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------- Lambert W
def _w_grid() -> np.ndarray:
    return np.concatenate(
        [
            -np.exp(-1) + np.logspace(-12, -1, 40),
            np.linspace(-0.3, -1e-3, 40),
            np.array([0.0, 1e-300, 1e-30, 1e-8]),
            np.logspace(-6, 300, 200),
        ]
    )


def _check_w(w: np.ndarray, x: np.ndarray) -> None:
    ref = scipy.special.lambertw(x).real
    near_branch = x < -np.exp(-1) + 1e-4
    far = x > -0.35
    mid = ~near_branch & ~far
    # a few ulp away from the branch point; W is ill-conditioned as x -> -1/e
    np.testing.assert_allclose(w[far], ref[far], rtol=2e-15, atol=1e-300)
    np.testing.assert_allclose(w[mid], ref[mid], rtol=1e-12)
    # near the branch point W' is unbounded: only ~sqrt(eps) absolute accuracy is meaningful
    np.testing.assert_allclose(w[near_branch], ref[near_branch], rtol=0, atol=1e-7)


def test_lambert_w0_torch_vs_scipy() -> None:
    x = _w_grid()
    w = lambert_w0(torch.from_numpy(x)).numpy()
    _check_w(w, x)
    assert math.isnan(float(lambert_w0(torch.tensor(-0.5, dtype=D64))))


@pytest.mark.ext
def test_native_log_lambert_w0_exp_vs_scipy() -> None:
    """The kernels' log form gives W0 itself: W0(x) = exp(log_lambert_w0_exp(log x)) for x > 0."""
    x = torch.from_numpy(_w_grid())
    x = x[x > 0]
    y = torch.log(x)
    out = torch.empty_like(y)
    _ext._C._log_lambert_w0_exp(y.data_ptr(), out.data_ptr(), y.numel(), 1)
    ref = scipy.special.lambertw(x.numpy()).real
    # exp turns the log form's absolute error (a few ulp of |l| <= 690) into W's relative error
    np.testing.assert_allclose(torch.exp(out).numpy(), ref, rtol=5e-14, atol=0)
    yf = y.float()
    outf = torch.empty_like(yf)
    _ext._C._log_lambert_w0_exp(yf.data_ptr(), outf.data_ptr(), yf.numel(), 0)
    reff = scipy.special.lambertw(torch.exp(yf.double()).numpy()).real
    np.testing.assert_allclose(torch.exp(outf.double()).numpy(), reff, rtol=1e-6, atol=0)


def _log_w_exp_ref(y: np.ndarray) -> np.ndarray:
    """log W0(e^y) in 50-digit arithmetic (the float64 composition loses accuracy near y = 1)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        return np.array([float(mpmath.log(mpmath.lambertw(mpmath.exp(mpmath.mpf(float(v)))))) for v in y])


@pytest.mark.parametrize("native", [False, True])
def test_log_lambert_w0_exp(native: bool) -> None:
    if native and not _ext.HAS_EXT:
        pytest.skip("needs the compiled extension")
    y_mid = np.concatenate(
        [np.linspace(-700, 700, 201), 1.0 + np.logspace(-12, 0, 30), 1.0 - np.logspace(-12, 0, 30)]
    )
    y_big = np.array([800.0, 1e4, 1e8, 1e15, 1e300])
    for dtype, rtol in ((D64, 4e-15), (torch.float32, 5e-7)):
        y = torch.from_numpy(np.concatenate([y_mid, y_big])).to(dtype)
        if native:
            out = torch.empty_like(y)
            _ext._C._log_lambert_w0_exp(
                y.data_ptr(), out.data_ptr(), y.numel(), 0 if dtype == torch.float32 else 1
            )
        else:
            out = log_lambert_w0_exp(y)
        yd = y.double().numpy()
        mid = np.abs(yd) <= 700
        ref = _log_w_exp_ref(yd[mid])
        np.testing.assert_allclose(out.double().numpy()[mid], ref, rtol=rtol, atol=rtol * 1e-3)
        # beyond exp's range: the defining equation l + e^l = y holds, checked as l = log(y - l)
        lw = out.double().numpy()[~mid]
        yb = yd[~mid]
        finite = np.isfinite(yb)
        assert np.all(np.isfinite(lw[finite]))
        np.testing.assert_allclose(lw[finite], np.log(yb[finite] - lw[finite]), rtol=4 * rtol)
