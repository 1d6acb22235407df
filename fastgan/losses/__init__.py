"""GAN losses on raw critic outputs: f-GAN (any f-divergence) and the everyday losses.

All losses take the critic's raw outputs ``v`` (logits, any shape, any float
dtype) and run through one fused kernel per term (``fastgan::fdiv_term``, see
:mod:`fastgan.losses._fused`; in eager mode through its autograd.Function twin,
which skips the custom-op dispatch overhead): the value and its derivative are
computed in a single pass and the derivative is saved for backward. They are drop-in: call
``.backward()`` on the result, use them under ``torch.compile(fullgraph=True)``.

f-GAN (Nowozin, Cseke, Tomioka 2016, eq. 6 and Section 3): with
``T = g_f(v)`` the critic maximises, and the generator minimises, the
variational bound ``F = E_P[g_f(v_real)] - E_Q[f*(g_f(v_fake))]``.

* :func:`fgan_discriminator_loss` = ``-F`` = ``E_Q[f*(g_f(v_fake))] - E_P[g_f(v_real)]``
* :func:`fgan_generator_loss`, ``mode="saturating"``: ``-E_Q[f*(g_f(v_fake))]``
  (the part of F that depends on the generator); ``mode="nonsaturating"``:
  ``-E_Q[g_f(v_fake)]`` (the paper's Section 3.2 alternative update).
* :func:`variational_bound` = ``F``, the estimate of ``D_f(P || Q)`` (a lower
  bound, tight for the optimal critic ``T* = f'(pi/p)``).

Everyday losses (same kernel, other kernel ids):

* minimax (Goodfellow et al. 2014): D ``E softplus(-v_real) + E softplus(v_fake)``,
  G (saturating) ``-E softplus(v_fake)``; :func:`nonsaturating_generator_loss`
  ``E softplus(-v_fake)``. Identical to the f-GAN losses with ``"gan"``.
* WGAN (Arjovsky et al. 2017): D ``E v_fake - E v_real``, G ``-E v_fake``
  (no weight clipping / gradient penalty here).
* hinge (Lim & Ye 2017; Miyato et al. 2018): D ``E relu(1 - v_real) + E relu(1 + v_fake)``,
  G ``-E v_fake``.

Reductions: ``"mean"`` (default) and ``"sum"`` return a 0-d tensor. ``"none"``
returns per-element terms: for a generator loss a tensor of ``fake_out``'s
shape; for a discriminator loss a tuple ``(real_terms, fake_terms)`` of the
shapes of ``real_out`` and ``fake_out`` (the mean loss is
``real_terms.mean() + fake_terms.mean()``). Outputs have the input dtype; sums
are accumulated in float32 (float64 for float64 inputs).

Numerical range: every term is evaluated from a closed form (softplus, log1p,
expm1, Lambert W in log space) and is finite wherever its true value is
representable. Terms that grow exponentially in ``v`` genuinely overflow to
``+-inf`` (never NaN) once the true value exceeds the dtype's range:
KL's ``exp(v - 1)`` (fake side) and reverse KL's ``-exp(-v)`` (real side), Neyman
and squared Hellinger (``exp(v)`` on the real side, ``exp(v/2)`` resp. ``exp(-v)``
on the fake side), Jeffrey's ``~exp(v - 1)`` for large positive fake logits, and
the alpha family's power growth. GAN, JS, Pearson, total variation, WGAN and
hinge stay finite for all finite logits. A discriminator loss adds the two sides, so
when one side overflows to ``+inf`` and the other to ``-inf`` the sum is NaN (IEEE
``inf - inf``: the true value's sign is not determined by the rounded terms); in
the registry only Neyman chi^2 can do this (float32: real logits above ~88.7 together
with fake logits above ~177.4).

Matches: f-GAN Table 6 conventions (see :mod:`fastgan.divergences` for the
Pearson, JS, Jeffrey and alpha decisions).
"""

from __future__ import annotations

from typing import Literal, Union

import torch  # noqa: F401  (the docstring examples use it)
from torch import Tensor

from fastgan._checks import check_choice
from fastgan.divergences import KERNEL_IDS, Divergence, DivergenceFamily, get_divergence
from fastgan.losses._fused import fused_term, fused_terms_sum

__all__ = [
    "fgan_discriminator_loss",
    "fgan_generator_loss",
    "variational_bound",
    "minimax_discriminator_loss",
    "minimax_generator_loss",
    "nonsaturating_generator_loss",
    "wgan_discriminator_loss",
    "wgan_generator_loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
]

DivergenceLike = Union[str, Divergence, DivergenceFamily]
Reduction = Literal["mean", "sum", "none"]
LossOutput = Union[Tensor, tuple[Tensor, Tensor]]
_REDUCTIONS = ("mean", "sum", "none")
_ACT, _CONJ = 0, 1
_WGAN, _HINGE, _GAN = KERNEL_IDS["wgan"], KERNEL_IDS["hinge"], KERNEL_IDS["gan"]


def _check_logits(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of critic outputs, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating-point tensor (float16/bfloat16/float32/float64), "
            f"got {x.dtype}; convert explicitly, e.g. {name}.float()"
        )
    return x


def _check_pair(real_out: object, fake_out: object) -> tuple[Tensor, Tensor]:
    real = _check_logits(real_out, "real_out")
    fake = _check_logits(fake_out, "fake_out")
    if real.device != fake.device:
        raise ValueError(
            f"real_out and fake_out are on different devices ({real.device} vs {fake.device}); "
            "move them to one device"
        )
    if real.dtype != fake.dtype:
        raise TypeError(f"real_out and fake_out have different dtypes ({real.dtype} vs {fake.dtype})")
    return real, fake


def _coef(x: Tensor, name: str, sign: float, reduction: str) -> float:
    """The fused op's coef for ``sign * reduction(term(x))``: ``sign / numel`` for a mean."""
    if reduction != "mean":
        return sign
    if x.numel() == 0:
        raise ValueError(f"{name}: is empty; the mean of no critic outputs is undefined")
    return sign / x.numel()


def _term(
    x: Tensor, name: str, kernel_id: int, term: int, alpha: float, sign: float, reduction: str, impl: str
) -> Tensor:
    """sign * reduction(term(x)) through the fused op."""
    coef = _coef(x, name, sign, reduction)
    return fused_term(x, kernel_id, term, alpha, coef, reduction != "none", impl)


def _resolve(divergence: DivergenceLike) -> tuple[int, float]:
    d = get_divergence(divergence)
    return d.kernel_id, float(d.alpha) if d.alpha is not None else 0.0


def _d_loss(
    real: Tensor, fake: Tensor, kernel_id: int, alpha: float, reduction: str, impl: str
) -> LossOutput:
    if reduction != "none":
        # Both terms in one autograd node (same values as summing the two reduced terms).
        cr = _coef(real, "real_out", -1.0, reduction)
        cf = _coef(fake, "fake_out", 1.0, reduction)
        terms = ((real, (kernel_id, _ACT, alpha, cr)), (fake, (kernel_id, _CONJ, alpha, cf)))
        return fused_terms_sum(terms, impl)
    real_terms = _term(real, "real_out", kernel_id, _ACT, alpha, -1.0, reduction, impl)
    fake_terms = _term(fake, "fake_out", kernel_id, _CONJ, alpha, 1.0, reduction, impl)
    if reduction == "none":
        return real_terms, fake_terms
    return real_terms + fake_terms


def fgan_discriminator_loss(
    real_out: Tensor,
    fake_out: Tensor,
    divergence: DivergenceLike,
    reduction: Reduction = "mean",
    impl: str = "auto",
) -> LossOutput:
    """f-GAN critic loss ``E_Q[f*(g_f(v_fake))] - E_P[g_f(v_real)]`` (minimise it).

    Args:
        real_out (Tensor[*R]): raw critic outputs on data samples.
        fake_out (Tensor[*F]): raw critic outputs on generated samples (same
            device and dtype as ``real_out``; shapes may differ).
        divergence: registry name (``"gan"``, ``"kl"``, ...), or a
            :class:`~fastgan.divergences.Divergence` (e.g. ``get_divergence("alpha", alpha=0.5)``).
        reduction: ``"mean"`` | ``"sum"`` (Tensor[]) | ``"none"`` (tuple
            ``(real_terms Tensor[*R] = -g_f(v_real), fake_terms Tensor[*F] = f*(g_f(v_fake)))``).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"`` (see :mod:`fastgan._dispatch`).

    Returns:
        The loss (negated variational bound), or the per-element terms.

    Matches: Nowozin et al. 2016, eq. 6 (the critic maximises F(theta, omega)).

    Example:
        >>> real, fake = torch.randn(8), torch.randn(8)
        >>> loss = fgan_discriminator_loss(real, fake, "gan")  # = BCE-with-logits D loss
    """
    real, fake = _check_pair(real_out, fake_out)
    check_choice(reduction, "reduction", _REDUCTIONS)
    kernel_id, alpha = _resolve(divergence)
    return _d_loss(real, fake, kernel_id, alpha, reduction, impl)


def fgan_generator_loss(
    fake_out: Tensor,
    divergence: DivergenceLike,
    mode: Literal["saturating", "nonsaturating"] = "saturating",
    reduction: Reduction = "mean",
    impl: str = "auto",
) -> Tensor:
    """f-GAN generator loss (minimise it).

    Args:
        fake_out (Tensor[*F]): raw critic outputs on generated samples.
        divergence: registry name or :class:`~fastgan.divergences.Divergence`.
        mode: ``"saturating"``: ``-E_Q[f*(g_f(v))]`` (the generator minimises
            the bound; the real-data term does not depend on it).
            ``"nonsaturating"``: ``-E_Q[g_f(v)]`` (the paper's alternative,
            stronger gradients early in training; for ``"gan"`` it is the usual
            non-saturating loss ``E softplus(-v)``).
        reduction: ``"mean"`` | ``"sum"`` (Tensor[]) | ``"none"`` (Tensor[*F]).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Returns:
        The loss (Tensor[] or Tensor[*F]).

    Matches: Nowozin et al. 2016, eq. 6 (saturating) and Section 3.2 (non-saturating).
    """
    fake = _check_logits(fake_out, "fake_out")
    check_choice(mode, "mode", ("saturating", "nonsaturating"))
    check_choice(reduction, "reduction", _REDUCTIONS)
    kernel_id, alpha = _resolve(divergence)
    term = _CONJ if mode == "saturating" else _ACT
    return _term(fake, "fake_out", kernel_id, term, alpha, -1.0, reduction, impl)


def variational_bound(
    real_out: Tensor, fake_out: Tensor, divergence: DivergenceLike, impl: str = "auto"
) -> Tensor:
    """Estimate ``E_P[g_f(v_real)] - E_Q[f*(g_f(v_fake))]`` of ``D_f(P || Q)``.

    A lower bound on ``D_f(P || Q)`` for any critic, tight (in expectation) for
    ``g_f(v) = f'(pi(x)/p(x))``. For ``"js"`` it estimates ``2 * JSD`` and for
    ``"gan"`` ``2 * JSD - log 4`` (see :mod:`fastgan.divergences`).

    Args:
        real_out (Tensor[*R]): raw critic outputs on samples of P (data).
        fake_out (Tensor[*F]): raw critic outputs on samples of Q (model).
        divergence: registry name or :class:`~fastgan.divergences.Divergence`.
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Returns:
        Tensor[] (differentiable).

    Matches: Nowozin et al. 2016, eq. 4 / 6; Nguyen, Wainwright, Jordan 2010.
    """
    real, fake = _check_pair(real_out, fake_out)
    kernel_id, alpha = _resolve(divergence)
    return _term(real, "real_out", kernel_id, _ACT, alpha, 1.0, "mean", impl) + _term(
        fake, "fake_out", kernel_id, _CONJ, alpha, -1.0, "mean", impl
    )


def minimax_discriminator_loss(
    real_out: Tensor, fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto"
) -> LossOutput:
    """``E softplus(-v_real) + E softplus(v_fake)`` = binary cross-entropy on logits.

    Args:
        real_out (Tensor[*R]), fake_out (Tensor[*F]): raw critic logits.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (tuple ``(softplus(-v_real), softplus(v_fake))``).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Goodfellow et al. 2014 (-V(D, G)); equal to ``fgan_discriminator_loss(..., "gan")``.
    """
    real, fake = _check_pair(real_out, fake_out)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _d_loss(real, fake, _GAN, 0.0, reduction, impl)


def minimax_generator_loss(fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto") -> Tensor:
    """Saturating generator loss ``E log(1 - D(G(z))) = -E softplus(v_fake)``.

    Args:
        fake_out (Tensor[*F]): raw critic logits on generated samples.
        reduction: ``"mean"`` | ``"sum"`` (Tensor[]) | ``"none"`` (Tensor[*F]).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Goodfellow et al. 2014, eq. 1 (generator side).
    """
    fake = _check_logits(fake_out, "fake_out")
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _term(fake, "fake_out", _GAN, _CONJ, 0.0, -1.0, reduction, impl)


def nonsaturating_generator_loss(
    fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto"
) -> Tensor:
    """Non-saturating generator loss ``-E log D(G(z)) = E softplus(-v_fake)``.

    Args:
        fake_out (Tensor[*F]): raw critic logits on generated samples.
        reduction: ``"mean"`` | ``"sum"`` (Tensor[]) | ``"none"`` (Tensor[*F]).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Goodfellow et al. 2014, Section 3 ("maximize log D(G(z))").
    """
    fake = _check_logits(fake_out, "fake_out")
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _term(fake, "fake_out", _GAN, _ACT, 0.0, -1.0, reduction, impl)


def wgan_discriminator_loss(
    real_out: Tensor, fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto"
) -> LossOutput:
    """Wasserstein critic loss ``E v_fake - E v_real`` (add your Lipschitz penalty separately).

    Args:
        real_out (Tensor[*R]), fake_out (Tensor[*F]): raw critic outputs.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (tuple ``(-v_real, v_fake)``).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Arjovsky, Chintala, Bottou 2017, Algorithm 1.
    """
    real, fake = _check_pair(real_out, fake_out)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _d_loss(real, fake, _WGAN, 0.0, reduction, impl)


def wgan_generator_loss(fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto") -> Tensor:
    """Wasserstein generator loss ``-E v_fake``.

    Args:
        fake_out (Tensor[*F]): raw critic outputs on generated samples.
        reduction: ``"mean"`` | ``"sum"`` (Tensor[]) | ``"none"`` (Tensor[*F]).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Arjovsky, Chintala, Bottou 2017, Algorithm 1.
    """
    fake = _check_logits(fake_out, "fake_out")
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _term(fake, "fake_out", _WGAN, _ACT, 0.0, -1.0, reduction, impl)


def hinge_discriminator_loss(
    real_out: Tensor, fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto"
) -> LossOutput:
    """Hinge critic loss ``E relu(1 - v_real) + E relu(1 + v_fake)``.

    Args:
        real_out (Tensor[*R]), fake_out (Tensor[*F]): raw critic outputs.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (tuple ``(relu(1 - v_real), relu(1 + v_fake))``).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Lim & Ye 2017 (Geometric GAN); Miyato et al. 2018 (SN-GAN), eq. 16.
    The subgradient at the kink is 0 (as ``torch.relu``).
    """
    real, fake = _check_pair(real_out, fake_out)
    check_choice(reduction, "reduction", _REDUCTIONS)
    return _d_loss(real, fake, _HINGE, 0.0, reduction, impl)


def hinge_generator_loss(fake_out: Tensor, reduction: Reduction = "mean", impl: str = "auto") -> Tensor:
    """Hinge-GAN generator loss ``-E v_fake``.

    Args:
        fake_out (Tensor[*F]): raw critic outputs on generated samples.
        reduction: ``"mean"`` | ``"sum"`` (Tensor[]) | ``"none"`` (Tensor[*F]).
        impl: ``"auto"`` | ``"ext"`` | ``"torch"``.

    Matches: Miyato et al. 2018 (SN-GAN), eq. 17.
    """
    return wgan_generator_loss(fake_out, reduction, impl)
