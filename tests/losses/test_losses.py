"""f-GAN and everyday GAN losses: tiers agree, gradients, numerical range, estimator properties."""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np
import pytest
import scipy.integrate
import torch
import torch.nn.functional as F

from fastgan import _dispatch, _ext
from fastgan.divergences import KERNEL_IDS, get_divergence
from fastgan.losses import (
    fgan_discriminator_loss,
    fgan_generator_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
    minimax_discriminator_loss,
    minimax_generator_loss,
    nonsaturating_generator_loss,
    variational_bound,
    wgan_discriminator_loss,
    wgan_generator_loss,
)
from fastgan.losses._fused import fdiv_term, fdiv_term_backward_ext, fdiv_term_ext, fused_term
from fastgan.losses._ref import fdiv_term_ref

D64 = torch.float64

DIV_CASES: list[tuple[str, dict]] = [
    ("kl", {}),
    ("reverse_kl", {}),
    ("pearson", {}),
    ("neyman", {}),
    ("squared_hellinger", {}),
    ("jeffrey", {}),
    ("js", {}),
    ("gan", {}),
    ("total_variation", {}),
    ("alpha", {"alpha": 0.5}),
    ("alpha", {"alpha": -1.0}),
    ("alpha", {"alpha": 2.0}),
    ("alpha", {"alpha": 3.0}),
]
DIV_IDS = [n + (f"-{p['alpha']}" if p else "") for n, p in DIV_CASES]
# (kernel id, alpha) for every fused kernel, including WGAN and hinge
KERNELS: list[tuple[int, float]] = [
    (get_divergence(n, **p).kernel_id, float(p.get("alpha", 0.0))) for n, p in DIV_CASES
] + [(KERNEL_IDS["wgan"], 0.0), (KERNEL_IDS["hinge"], 0.0)]
KERNEL_NAMES = DIV_IDS + ["wgan", "hinge"]
REL = {torch.float64: 1e-12, torch.float32: 1e-6}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _consts(kernel_id: int, alpha: float) -> tuple[float, float, float, float]:
    from fastgan.divergences import alpha_consts

    return alpha_consts(kernel_id, alpha)


def _logits(n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    v = 3.0 * torch.randn(n, generator=g, dtype=D64)
    v[:6] = torch.tensor([0.0, -1.0, 1.0, 15.0, -15.0, 1e-9], dtype=D64)
    return v.to(dtype)


# -------------------------------------------------------- all tiers agree
@pytest.mark.ext
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernel_id,alpha", KERNELS, ids=KERNEL_NAMES)
def test_ext_matches_torch_reference(kernel_id: int, alpha: float, dtype: torch.dtype) -> None:
    """C++ kernel == pure-torch reference: elementwise values, derivatives and sums, both terms."""
    x = _logits(5000, dtype)
    rel = REL[dtype]
    c = _consts(kernel_id, alpha)
    for term in (0, 1):
        out_e, g_e = fdiv_term_ext(x, kernel_id, term, alpha, -0.7, False)
        out_r, g_r = fdiv_term_ref(x, kernel_id, term, c, -0.7, False)
        torch.testing.assert_close(out_e, out_r, rtol=rel, atol=rel)
        torch.testing.assert_close(g_e, g_r, rtol=rel, atol=rel)
        for coef in (1.0, 1.0 / x.numel()):
            s_e, gs_e = fdiv_term_ext(x, kernel_id, term, alpha, coef, True)
            s_r, gs_r = fdiv_term_ref(x, kernel_id, term, c, coef, True)
            assert s_e.shape == () and s_e.dtype == dtype
            scale = float(out_r.double().abs().sum() * abs(coef) / 0.7)
            torch.testing.assert_close(s_e, s_r, rtol=rel, atol=rel * scale + 1e-300)
            torch.testing.assert_close(gs_e, gs_r, rtol=rel, atol=rel * abs(coef))


@pytest.mark.ext
@pytest.mark.parametrize("name,params", DIV_CASES, ids=DIV_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_public_losses_ext_vs_torch(name: str, params: dict, reduction: str) -> None:
    div = get_divergence(name, **params)
    for dtype in (torch.float64, torch.float32):
        rel = REL[dtype]
        real = _logits(700, dtype, seed=1).reshape(7, 100)
        fake = _logits(300, dtype, seed=2).reshape(3, 10, 10)
        results = {}
        for impl in ("ext", "torch"):
            r = real.clone().requires_grad_(True)
            f = fake.clone().requires_grad_(True)
            d = fgan_discriminator_loss(r, f, div, reduction=reduction, impl=impl)
            gs = fgan_generator_loss(f, div, mode="saturating", reduction=reduction, impl=impl)
            gn = fgan_generator_loss(f, div, mode="nonsaturating", reduction=reduction, impl=impl)
            if reduction == "none":
                assert isinstance(d, tuple) and d[0].shape == real.shape and d[1].shape == fake.shape
                assert gs.shape == fake.shape and gn.shape == fake.shape
                total = d[0].sum() + d[1].sum() + gs.sum() + gn.sum()
                vals = [d[0], d[1], gs, gn]
            else:
                assert d.shape == () and gs.shape == ()
                total = d + gs + gn
                vals = [d, gs, gn]
            total.backward()
            results[impl] = (vals, r.grad, f.grad)
        for a, b in zip(results["ext"][0], results["torch"][0]):
            torch.testing.assert_close(
                a, b, rtol=rel, atol=rel * max(1.0, float(b.detach().double().abs().max()))
            )
        for a, b in zip(results["ext"][1:], results["torch"][1:]):
            torch.testing.assert_close(a, b, rtol=rel, atol=rel)


@pytest.mark.ext
def test_native_threads_bitwise_reproducible() -> None:
    """Sums use fixed blocks, so any thread count gives the same bits."""
    C = _ext._C
    x = _logits(700_001, torch.float32, seed=8)
    results = []
    for threads in (1, 2, 3):
        out, g = torch.empty(()), torch.empty_like(x)
        C.fdiv_term_cpu(
            x.data_ptr(),
            out.data_ptr(),
            g.data_ptr(),
            x.numel(),
            1,
            x.numel(),
            0,
            KERNEL_IDS["js"],
            1,
            True,
            0.0,
            1.0 / x.numel(),
            threads,
        )
        results.append((out.clone(), g.clone()))
    for out, g in results[1:]:
        assert torch.equal(out, results[0][0]) and torch.equal(g, results[0][1])


def test_large_float32_sum_accuracy() -> None:
    """Sums of 2M float32 terms agree with a float64 oracle (blocked float32 + float64 accumulation)."""
    x = _logits(2_000_000, torch.float32, seed=3)
    oracle = F.softplus(x.double()).mean()
    for impl in ("torch",) + (("ext",) if _ext.HAS_EXT else ()):
        out, _ = fdiv_term.op(x, KERNEL_IDS["gan"], 1, 0.0, 1.0 / x.numel(), True, impl)
        assert abs(float(out) - float(oracle)) <= 1e-6 * float(oracle)


# ------------------------------------------------------ meaning of the losses
@pytest.mark.parametrize("name,params", DIV_CASES, ids=DIV_IDS)
def test_losses_match_naive_float64_definitions(name: str, params: dict) -> None:
    """D loss = E_Q f*(g(v)) - E_P g(v) = -variational bound; G losses per the paper; in float64."""
    d = get_divergence(name, **params)
    real = torch.linspace(-3, 3, 61, dtype=D64)
    fake = torch.linspace(-2.5, 2.0, 46, dtype=D64)
    t_real = d.activation(real)
    f_fake = d.conjugate(d.activation(fake))
    bound = t_real.mean() - f_fake.mean()
    for impl in ("torch",) + (("ext",) if _ext.HAS_EXT else ()):
        torch.testing.assert_close(variational_bound(real, fake, d, impl=impl), bound, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            fgan_discriminator_loss(real, fake, d, impl=impl), -bound, rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            fgan_generator_loss(fake, d, "saturating", impl=impl), -f_fake.mean(), rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            fgan_generator_loss(fake, d, "nonsaturating", impl=impl),
            -d.activation(fake).mean(),
            rtol=1e-12,
            atol=1e-12,
        )
        torch.testing.assert_close(
            fgan_generator_loss(fake, d, reduction="sum", impl=impl), -f_fake.sum(), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("impl", ["torch", pytest.param("ext", marks=pytest.mark.ext)])
def test_everyday_losses_match_torch_compositions(impl: str) -> None:
    real = _logits(500, D64, 4).requires_grad_(True)
    fake = _logits(400, D64, 5).requires_grad_(True)
    pairs = [
        (
            lambda: minimax_discriminator_loss(real, fake, impl=impl),
            lambda: (
                F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            ),
        ),
        (
            lambda: fgan_discriminator_loss(real, fake, "gan", impl=impl),
            lambda: F.softplus(-real).mean() + F.softplus(fake).mean(),
        ),
        (
            lambda: minimax_generator_loss(fake, impl=impl),
            lambda: -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)),
        ),
        (
            lambda: nonsaturating_generator_loss(fake, impl=impl),
            lambda: F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)),
        ),
        (lambda: wgan_discriminator_loss(real, fake, impl=impl), lambda: fake.mean() - real.mean()),
        (lambda: wgan_generator_loss(fake, impl=impl), lambda: -fake.mean()),
        (
            lambda: hinge_discriminator_loss(real, fake, impl=impl),
            lambda: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
        ),
        (lambda: hinge_generator_loss(fake, impl=impl), lambda: -fake.mean()),
        (
            lambda: hinge_discriminator_loss(real, fake, reduction="sum", impl=impl),
            lambda: F.relu(1 - real).sum() + F.relu(1 + fake).sum(),
        ),
    ]
    for ours, theirs in pairs:
        a = ours()
        ga = torch.autograd.grad(a, (real, fake), allow_unused=True, materialize_grads=True)
        b = theirs()
        gb = torch.autograd.grad(b, (real, fake), allow_unused=True, materialize_grads=True)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        for x, y in zip(ga, gb):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)
    parts = minimax_discriminator_loss(real, fake, reduction="none", impl=impl)
    torch.testing.assert_close(parts[0], F.softplus(-real))
    torch.testing.assert_close(parts[1], F.softplus(fake))


@pytest.mark.parametrize("impl", ["torch", pytest.param("ext", marks=pytest.mark.ext)])
@pytest.mark.parametrize("name,params", DIV_CASES, ids=DIV_IDS)
def test_gradcheck_float64(name: str, params: dict, impl: str) -> None:
    d = get_divergence(name, **params)
    real = (1.5 * torch.randn(6, 2, dtype=D64)).requires_grad_(True)
    fake = (1.5 * torch.randn(5, dtype=D64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda r, f: fgan_discriminator_loss(r, f, d, impl=impl), (real, fake))
    assert torch.autograd.gradcheck(
        lambda r, f: fgan_discriminator_loss(r, f, d, reduction="none", impl=impl), (real, fake)
    )
    assert torch.autograd.gradcheck(lambda f: 2.5 * fgan_generator_loss(f, d, impl=impl), (fake,))
    assert torch.autograd.gradcheck(
        lambda f: fgan_generator_loss(f, d, mode="nonsaturating", reduction="sum", impl=impl), (fake,)
    )
    # create_graph=True takes the out-of-place grad_out * saved path: same gradient
    (g_plain,) = torch.autograd.grad(fgan_discriminator_loss(real, fake, d, impl=impl), real)
    (g_graph,) = torch.autograd.grad(
        fgan_discriminator_loss(real, fake, d, impl=impl), real, create_graph=True
    )
    torch.testing.assert_close(g_graph.detach(), g_plain, rtol=0, atol=0)


def test_retain_graph_and_scaled_backward_are_exact() -> None:
    real = torch.randn(50, dtype=D64, requires_grad=True)
    fake = torch.randn(40, dtype=D64, requires_grad=True)
    loss = fgan_discriminator_loss(real, fake, "kl")
    loss.backward(retain_graph=True)
    g1 = real.grad.clone()  # type: ignore[union-attr]
    loss.backward()
    torch.testing.assert_close(real.grad, 2 * g1)
    real.grad = None
    (3.0 * fgan_discriminator_loss(real, fake, "kl")).backward()
    torch.testing.assert_close(real.grad, 3 * g1)


# ------------------------------------------------------- numerical range
FINITE_EVERYWHERE = {"gan", "js", "pearson", "total_variation", "wgan", "hinge"}


@pytest.mark.parametrize("impl", ["torch", pytest.param("ext", marks=pytest.mark.ext)])
@pytest.mark.parametrize("kernel_id,alpha", KERNELS, ids=KERNEL_NAMES)
def test_extreme_logits_float32(kernel_id: int, alpha: float, impl: str) -> None:
    """Logits up to +-1e4 in float32: no NaN ever; finite and accurate wherever the float64 value is
    inside float32's range; +-inf (documented genuine overflow) exactly where it is not."""
    name = KERNEL_NAMES[KERNELS.index((kernel_id, alpha))]
    v64 = torch.tensor(
        [
            -1e4,
            -1e3,
            -200.0,
            -100.0,
            -88.0,
            -50.0,
            -20.0,
            -1e-30,
            0.0,
            1e-30,
            20.0,
            50.0,
            88.0,
            100.0,
            200.0,
            1e3,
            1e4,
        ],
        dtype=D64,
    )
    v32 = v64.float()
    c = _consts(kernel_id, alpha)
    for term in (0, 1):
        ref_val, ref_grad = fdiv_term_ref(v64, kernel_id, term, c, 1.0, False)
        if impl == "ext":
            val, grad = fdiv_term_ext(v32, kernel_id, term, alpha, 1.0, False)
        else:
            val, grad = fdiv_term_ref(v32, kernel_id, term, c, 1.0, False)
        for got, want in ((val, ref_val), (grad, ref_grad)):
            assert not torch.isnan(got).any(), (name, term, got)
            fits = want.abs() < 3.0e38
            torch.testing.assert_close(got.double()[fits], want[fits], rtol=2e-6, atol=1e-30)
            # outside float32's range: overflow to inf of the right sign
            assert torch.isinf(got[~fits]).all()
            assert torch.equal(torch.sign(got.double()[~fits]), torch.sign(want[~fits]))
        if name in FINITE_EVERYWHERE:
            assert torch.isfinite(val).all() and torch.isfinite(grad).all(), name


def test_documented_overflow_sides() -> None:
    """The loss sides that genuinely diverge for large logits, as documented in fastgan.losses."""
    big = torch.tensor([1e4], dtype=torch.float32)
    assert fgan_generator_loss(big, "kl").item() == -math.inf  # -E exp(v - 1)
    assert fgan_discriminator_loss(-big, torch.zeros(1), "reverse_kl").item() == math.inf  # E exp(-v)
    assert fgan_discriminator_loss(big, torch.zeros(1), "squared_hellinger").item() == math.inf
    assert fgan_discriminator_loss(torch.zeros(1), -big, "squared_hellinger").item() == math.inf
    assert fgan_generator_loss(big, "jeffrey").item() == -math.inf
    for name in ("gan", "js", "pearson", "total_variation"):
        for s in (1.0, -1.0):
            assert math.isfinite(fgan_discriminator_loss(s * big, -s * big, name).item())
            assert math.isfinite(fgan_generator_loss(s * big, name).item())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("impl", ["torch", pytest.param("ext", marks=pytest.mark.ext)])
def test_half_precision_inputs(dtype: torch.dtype, impl: str) -> None:
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    for name, params in DIV_CASES:
        d = get_divergence(name, **params)
        real = _logits(400, dtype, 6).clamp(-4, 4).requires_grad_(True)
        fake = _logits(300, dtype, 7).clamp(-4, 4).requires_grad_(True)
        loss = fgan_discriminator_loss(real, fake, d, impl=impl)
        assert loss.dtype == dtype
        loss.backward()
        assert real.grad.dtype == dtype  # type: ignore[union-attr]
        r64 = real.detach().double().requires_grad_(True)
        f64 = fake.detach().double().requires_grad_(True)
        want = fgan_discriminator_loss(r64, f64, d, impl="torch")
        want.backward()
        scale = max(1.0, abs(float(want)))
        assert abs(float(loss) - float(want)) <= tol * scale, name
        torch.testing.assert_close(real.grad.double(), r64.grad, rtol=tol, atol=tol / 400)  # type: ignore[union-attr]
        torch.testing.assert_close(fake.grad.double(), f64.grad, rtol=tol, atol=tol / 300 * scale)  # type: ignore[union-attr]


# ---------------------------------------- the estimator on known Gaussians
MU_P, MU_Q, SIGMA = 0.0, 0.5, 1.0


def _npdf(x: np.ndarray, mu: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / SIGMA) ** 2) / (SIGMA * math.sqrt(2 * math.pi))


# Generators f(u) written independently of the registry (f-GAN Table 1, Nowozin et al. 2016).
def _f_numpy(name: str, alpha: float) -> Callable[[np.ndarray], np.ndarray]:
    table = {
        "kl": lambda u: u * np.log(u),
        "reverse_kl": lambda u: -np.log(u),
        "pearson": lambda u: (u - 1) ** 2,
        "neyman": lambda u: (1 - u) ** 2 / u,
        "squared_hellinger": lambda u: (np.sqrt(u) - 1) ** 2,
        "jeffrey": lambda u: (u - 1) * np.log(u),
        "js": lambda u: -(u + 1) * np.log((1 + u) / 2) + u * np.log(u),
        "gan": lambda u: u * np.log(u) - (u + 1) * np.log(u + 1),
        "total_variation": lambda u: 0.5 * np.abs(u - 1),
        "alpha": lambda u: (u**alpha - 1 - alpha * (u - 1)) / (alpha * (alpha - 1)),
    }
    return table[name]


def _quadrature_divergence(name: str, alpha: float) -> float:
    f = _f_numpy(name, alpha)
    val, _ = scipy.integrate.quad(
        lambda x: _npdf(x, MU_Q) * f(_npdf(x, MU_P) / _npdf(x, MU_Q)),
        -14,
        14,
        limit=400,
        epsabs=1e-12,
        epsrel=1e-12,
    )
    return float(val)


@pytest.mark.parametrize("name,params", DIV_CASES, ids=DIV_IDS)
def test_optimal_critic_attains_divergence(name: str, params: dict) -> None:
    """With T*(x) = f'(pi(x)/p(x)) the bound estimates D_f(P || Q) (quadrature; KL also in closed form)
    within a Monte-Carlo tolerance from the sample std; perturbed critics give a lower bound."""
    d = get_divergence(name, **params)
    alpha = float(params.get("alpha", 0.0))
    exact = _quadrature_divergence(name, alpha)
    if name == "kl":
        assert exact == pytest.approx((MU_P - MU_Q) ** 2 / (2 * SIGMA**2), rel=1e-9)
    g = torch.Generator().manual_seed(11)
    n = 100_000
    xp = MU_P + SIGMA * torch.randn(n, generator=g, dtype=D64)
    xq = MU_Q + SIGMA * torch.randn(n, generator=g, dtype=D64)

    def log_ratio(x: torch.Tensor) -> torch.Tensor:  # log pi(x) - log p(x)
        return (-0.5 * (x - MU_P) ** 2 + 0.5 * (x - MU_Q) ** 2) / SIGMA**2

    def critic(x: torch.Tensor) -> torch.Tensor:
        if name == "total_variation":  # T* = +-1/2 sits on dom f*'s boundary: tanh(30)/2 == 1/2 in float64
            return 30.0 * torch.sign(log_ratio(x))
        return d.activation_inverse(d.f_prime(torch.exp(log_ratio(x))))

    vp, vq = critic(xp), critic(xq)
    t_p = d.activation(vp)
    f_q = d.conjugate(d.activation(vq))
    mc_std = math.sqrt(float(t_p.var()) / n + float(f_q.var()) / n)
    best = {}
    for impl in ("torch",) + (("ext",) if _ext.HAS_EXT else ()):
        est = float(variational_bound(vp, vq, d, impl=impl))
        assert abs(est - exact) <= 5 * mc_std + 1e-9, (est, exact, mc_std)
        best[impl] = est
        perturbed = (
            ((0.0, 0.05), (0.0, 0.02))
            if name == "total_variation"
            else ((0.5, 1.0), (-0.5, 1.0), (0.0, 1.5), (0.0, 0.6))
        )
        for shift, scale in perturbed:
            worse = float(variational_bound(scale * vp + shift, scale * vq + shift, d, impl=impl))
            assert worse < est, (shift, scale, worse, est)
            assert worse <= exact + 5 * mc_std


# ------------------------------------------------------------ bad input
def test_bad_inputs_raise_with_argument_names() -> None:
    x = torch.randn(4)
    with pytest.raises(ValueError, match="unknown name"):
        fgan_discriminator_loss(x, x, "wasserstein")
    with pytest.raises(ValueError, match="reduction"):
        fgan_discriminator_loss(x, x, "gan", reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        fgan_generator_loss(x, "gan", mode="fancy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="real_out"):
        fgan_discriminator_loss(torch.ones(4, dtype=torch.int64), x, "gan")
    with pytest.raises(TypeError, match="fake_out"):
        fgan_generator_loss(torch.ones(4, dtype=torch.int32), "gan")
    with pytest.raises(TypeError, match="fake_out"):
        wgan_generator_loss([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="different devices"):
        fgan_discriminator_loss(x, torch.randn(4, device="meta"), "gan")
    with pytest.raises(TypeError, match="different dtypes"):
        hinge_discriminator_loss(x, x.double())
    with pytest.raises(ValueError, match="empty"):
        fgan_discriminator_loss(torch.empty(0), x, "kl")
    with pytest.raises(ValueError, match="impl"):
        fgan_generator_loss(x, "kl", impl="fast")
    with pytest.raises(TypeError, match="needs parameter"):
        fgan_generator_loss(x, "alpha")
    with pytest.raises(ValueError, match="alpha"):
        fgan_generator_loss(x, get_divergence("alpha", alpha=1.0))
    # sum / none of an empty batch are fine
    assert fgan_generator_loss(torch.empty(0), "gan", reduction="sum").item() == 0.0
    assert fgan_generator_loss(torch.empty(0, 3), "gan", reduction="none").shape == (0, 3)


@pytest.mark.ext
def test_native_binding_checks_sizes() -> None:
    C = _ext._C
    x = torch.randn(10)
    g = torch.empty(10)
    out = torch.empty(10)
    args = dict(dtype=0, kernel=7, term=1, alpha=0.0, coef=1.0, num_threads=1)
    with pytest.raises(ValueError, match="out buffer has 10 elements, expected 1"):
        C.fdiv_term_cpu(x.data_ptr(), out.data_ptr(), g.data_ptr(), 10, 10, 10, reduce=True, **args)
    with pytest.raises(ValueError, match="grad buffer has 9 elements"):
        C.fdiv_term_cpu(x.data_ptr(), out.data_ptr(), g.data_ptr(), 10, 10, 9, reduce=False, **args)
    with pytest.raises(ValueError, match="unknown kernel id"):
        C.fdiv_term_cpu(
            x.data_ptr(), out.data_ptr(), g.data_ptr(), 10, 10, 10, reduce=False, **{**args, "kernel": 42}
        )
    with pytest.raises(ValueError, match="dtype"):
        C.fdiv_term_cpu(
            x.data_ptr(), out.data_ptr(), g.data_ptr(), 10, 10, 10, reduce=False, **{**args, "dtype": 7}
        )
    with pytest.raises(ValueError, match="alpha < 1"):
        C.fdiv_term_cpu(
            x.data_ptr(),
            out.data_ptr(),
            g.data_ptr(),
            10,
            10,
            10,
            reduce=False,
            **{**args, "kernel": 9, "alpha": 0.0},
        )
    with pytest.raises(ValueError, match="n must be >= 0"):
        C.fdiv_term_cpu(x.data_ptr(), out.data_ptr(), g.data_ptr(), -1, 10, 10, reduce=False, **args)
    with pytest.raises(ValueError, match="null"):
        C.fdiv_term_cpu(0, out.data_ptr(), g.data_ptr(), 10, 10, 10, reduce=False, **args)
    if not _ext.HAS_CUDA_EXT:
        with pytest.raises(RuntimeError, match="no CUDA kernels"):
            C.fdiv_term_cuda(
                x.data_ptr(), out.data_ptr(), g.data_ptr(), 10, 10, 10, 0, 7, 1, False, 0.0, 1.0, 0, 0, 0, 0
            )
    # The CUDA backward entry validates its sizes before touching any device (runs without a GPU too).
    bargs = dict(dtype=0, kernel=7, term=1, alpha=0.0, coef=1.0, device=0, stream=0)
    with pytest.raises(ValueError, match="grad_out has 3 elements, expected 1 or n = 10"):
        C.fdiv_term_cuda_backward(x.data_ptr(), g.data_ptr(), out.data_ptr(), 10, 3, 10, **bargs)
    with pytest.raises(ValueError, match="grad buffer has 9 elements"):
        C.fdiv_term_cuda_backward(x.data_ptr(), g.data_ptr(), out.data_ptr(), 10, 1, 9, **bargs)
    with pytest.raises(ValueError, match="unknown kernel id"):
        C.fdiv_term_cuda_backward(
            x.data_ptr(), g.data_ptr(), out.data_ptr(), 10, 1, 10, **{**bargs, "kernel": 42}
        )
    with pytest.raises(ValueError, match="null"):
        C.fdiv_term_cuda_backward(x.data_ptr(), 0, out.data_ptr(), 10, 1, 10, **bargs)
    # the forward's "no derivative" form (null grad, grad_numel 0) is CUDA-only
    with pytest.raises(ValueError, match="grad buffer has 0 elements"):
        C.fdiv_term_cpu(x.data_ptr(), out.data_ptr(), 0, 10, 10, 0, reduce=False, **args)


def test_fallback_without_extension(no_ext: None) -> None:
    x = torch.randn(20, dtype=D64, requires_grad=True)
    with pytest.warns(_dispatch.FastganFallbackWarning):
        loss = fgan_generator_loss(x, "js")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fgan_generator_loss(x, "js")  # warned once per op and reason
    loss.backward()
    torch.testing.assert_close(loss, -(F.softplus(x) - math.log(2)).mean())
    with pytest.raises(RuntimeError, match="impl='ext'"):
        fgan_generator_loss(x, "js", impl="ext")


def test_non_contiguous_and_multidim_inputs() -> None:
    base = torch.randn(6, 8, dtype=D64)
    x = base.t()  # non-contiguous
    assert not x.is_contiguous()
    for impl in ("torch",) + (("ext",) if _ext.HAS_EXT else ()):
        none = fgan_generator_loss(x, "gan", reduction="none", impl=impl)
        assert none.shape == x.shape
        torch.testing.assert_close(none, -F.softplus(x))
        xr = x.clone().requires_grad_(True)
        fgan_generator_loss(xr, "gan", impl=impl).backward()
        torch.testing.assert_close(xr.grad, -torch.sigmoid(x) / x.numel())


# ------------------------------------------------------------ torch.compile
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph(backend: str) -> None:
    torch._dynamo.reset()
    div = get_divergence("alpha", alpha=0.5)

    def step(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d = fgan_discriminator_loss(real, fake, "gan") + hinge_discriminator_loss(real, fake)
        g = fgan_generator_loss(fake, div, mode="nonsaturating") + variational_bound(real, fake, "kl")
        return d + 0.5 * g

    compiled = torch.compile(step, fullgraph=True, backend=backend)
    real = torch.randn(64, dtype=D64, requires_grad=True)
    fake = torch.randn(32, dtype=D64, requires_grad=True)
    want = step(real, fake)
    gw = torch.autograd.grad(want, (real, fake))
    got = compiled(real, fake)
    gg = torch.autograd.grad(got, (real, fake))
    torch.testing.assert_close(got, want)
    for a, b in zip(gg, gw):
        torch.testing.assert_close(a, b)


def test_opcheck() -> None:
    x = torch.randn(33, dtype=D64, requires_grad=True)
    for args in (
        (KERNEL_IDS["gan"], 1, 0.0, 0.5, True, "auto"),
        (KERNEL_IDS["jeffrey"], 1, 0.0, -1.0, False, "auto"),
    ):
        torch.library.opcheck(
            torch.ops.fastgan.fdiv_term.default,
            (x, *args),
            test_utils=("test_schema", "test_faketensor", "test_autograd_registration"),
        )


# ------------------------------------------------------------------- CUDA
@pytest.mark.cuda
class TestCuda:
    """The CUDA tier against the torch reference on the GPU (skipped without a GPU)."""

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
    @pytest.mark.parametrize("kernel_id,alpha", KERNELS, ids=KERNEL_NAMES)
    def test_kernel_vs_torch(self, kernel_id: int, alpha: float, dtype: torch.dtype) -> None:
        if not _ext.cuda_usable():
            pytest.skip("fastgan._C has no usable CUDA kernels")
        x = _logits(100_003, dtype).cuda()
        c = _consts(kernel_id, alpha)
        tol = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
        for term in (0, 1):
            out_e, g_e = fdiv_term_ext(x, kernel_id, term, alpha, 0.3, False)
            out_r, g_r = fdiv_term_ref(x, kernel_id, term, c, 0.3, False)
            torch.testing.assert_close(out_e, out_r, rtol=tol, atol=tol)
            torch.testing.assert_close(g_e, g_r, rtol=tol, atol=tol)
            s_e, _ = fdiv_term_ext(x, kernel_id, term, alpha, 1.0 / x.numel(), True)
            s_r, _ = fdiv_term_ref(x, kernel_id, term, c, 1.0 / x.numel(), True)
            scale = float(out_r.double().abs().mean() / 0.3)
            torch.testing.assert_close(s_e.double(), s_r.double(), rtol=tol, atol=tol * scale)

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
    @pytest.mark.parametrize("kernel_id,alpha", KERNELS, ids=KERNEL_NAMES)
    def test_recomputed_backward_is_saved_route(
        self, kernel_id: int, alpha: float, dtype: torch.dtype
    ) -> None:
        """The eager CUDA node saves only x and recomputes the derivative in backward: bitwise the same
        gradients as grad_out * the derivative the forward kernel stores (the registered op's route),
        for a scalar upstream gradient (reduced loss) and an elementwise one (reduction="none")."""
        if not _ext.cuda_usable():
            pytest.skip("fastgan._C has no usable CUDA kernels")
        x = _logits(70_001, dtype).cuda()
        for term in (0, 1):
            _, saved = fdiv_term_ext(x, kernel_id, term, alpha, -0.7, False)
            gos = [
                torch.tensor(2.5, dtype=dtype, device="cuda"),
                torch.randn(x.shape, generator=torch.Generator().manual_seed(1)).to(dtype).cuda(),
            ]
            for go in gos:
                got = fdiv_term_backward_ext(x, go, kernel_id, term, alpha, -0.7)
                assert torch.equal(got, go * saved)
            # end to end through autograd, against the registered op
            for reduce in (True, False):
                xe = x.clone().requires_grad_(True)
                xo = x.clone().requires_grad_(True)
                out_e = fused_term(xe, kernel_id, term, alpha, 0.25, reduce, "ext")
                out_o = fdiv_term.op(xo, kernel_id, term, alpha, 0.25, reduce, "ext")[0]
                assert torch.equal(out_e, out_o)
                up = gos[0] if reduce else gos[1]
                (out_e * up).sum().backward()
                (out_o * up).sum().backward()
                assert torch.equal(xe.grad, xo.grad)

    def test_backward_kernel_reads_upstream_on_device(self) -> None:
        """No host sync on grad_out: a CUDA-graph capture of forward + backward replays correctly."""
        if not _ext.cuda_usable():
            pytest.skip("fastgan._C has no usable CUDA kernels")
        real = torch.randn(4096, device="cuda", requires_grad=True)
        fake = torch.randn(4096, device="cuda", requires_grad=True)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):  # warm up the caching allocator outside the capture
                real.grad = fake.grad = None
                minimax_discriminator_loss(real, fake).backward()
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        real.grad = fake.grad = None
        with torch.cuda.graph(graph):
            loss = minimax_discriminator_loss(real, fake)
            loss.backward()
        with torch.no_grad():
            real.copy_(torch.randn(4096, device="cuda"))
        graph.replay()
        torch.cuda.synchronize()
        want = F.softplus(-real.detach()).mean() + F.softplus(fake.detach()).mean()
        torch.testing.assert_close(loss, want)
        torch.testing.assert_close(real.grad, -torch.sigmoid(-real.detach()) / 4096)

    def test_losses_on_gpu(self) -> None:
        real = torch.randn(1000, device="cuda", requires_grad=True)
        fake = torch.randn(1000, device="cuda", requires_grad=True)
        loss = minimax_discriminator_loss(real, fake)
        loss.backward()
        want = F.softplus(-real.detach()).mean() + F.softplus(fake.detach()).mean()
        torch.testing.assert_close(loss, want)
        torch.testing.assert_close(real.grad, -torch.sigmoid(-real.detach()) / 1000)
        with pytest.raises(ValueError, match="different devices"):
            minimax_discriminator_loss(real, fake.detach().cpu())
