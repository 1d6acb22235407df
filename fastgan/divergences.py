"""The f-divergence registry used by the f-GAN losses.

An f-divergence between a data distribution P (density pi) and a model Q
(density p) is ``D_f(P || Q) = E_Q[f(pi(x) / p(x))]`` for a convex generator
``f`` with ``f(1) = 0``. Its variational lower bound (Nguyen et al. 2010; used by
f-GAN) is

    D_f(P || Q) >= sup_T  E_P[T(x)] - E_Q[f*(T(x))],

with ``f*`` the Fenchel conjugate, tight at ``T*(x) = f'(pi(x) / p(x))``. The
critic network outputs an unconstrained ``v``; the output activation ``g_f`` maps
it into the domain of ``f*`` so that ``T = g_f(v)``.

Every entry below is pinned to Nowozin, Cseke, Tomioka, "f-GAN: Training
Generative Neural Samplers using Variational Divergence Minimization"
(NeurIPS 2016), Table 1 (generators), Table 2 / Table 6 (g_f, dom f*, f*, f'(1)).
The registry is data: one :class:`Divergence` record per entry; the losses and
the fused kernels dispatch on ``Divergence.kernel_id`` (csrc/fdiv/fdiv.h,
``fastgan/losses/_ref.py``).

Decisions on the known subtleties (each also in the entry's ``notes``):

* **Pearson chi^2.** ``f(u) = (u - 1)^2`` on ``u >= 0`` has the exact conjugate
  ``t^2/4 + t`` only for ``t >= -2`` (below, the supremum sits at ``u = 0`` and
  equals ``-1``). We keep the paper's ``f*(t) = t^2/4 + t`` on all of R (the
  conjugate of the same polynomial extended to u in R). It is >= the exact
  conjugate everywhere, so ``E_P[T] - E_Q[f*(T)]`` is still a lower bound on
  D_f, and it is tight at the optimum ``T* = 2(pi/p - 1) >= -2``; unlike the
  exact conjugate it never has a zero gradient. Matches: f-GAN Table 6.
* **Jensen-Shannon.** The paper's generator ``f(u) = u log u - (u + 1) log((1 + u)/2)``
  together with its Table 6 conjugate ``-log(2 - e^t)`` measures
  ``KL(P || M) + KL(Q || M) = 2 * JSD(P || Q)`` (M the mixture), although
  Table 1 writes the divergence with a factor 1/2. We keep the paper's unscaled
  ``f`` and ``f*`` (so the losses equal the paper's), and document that
  :func:`fastgan.losses.variational_bound` with ``"js"`` estimates **2 * JSD**
  (in nats; divide by 2 for JSD). The "gan" entry estimates ``2 * JSD - log 4``.
* **Jeffrey.** ``f*(t) = W(e^{1-t}) + 1/W(e^{1-t}) + t - 2`` with W the
  principal branch of the Lambert W function, implemented in fastgan (host and
  device, Halley iteration on ``l = log W(e^y)``, see csrc/fdiv/fdiv.h); no
  scipy needed.
* **alpha-divergence.** ``f(u) = (u^a - 1 - a (u - 1)) / (a (a - 1))``,
  ``a not in {0, 1}``. For ``a < 1`` the paper's activation
  ``1/(1 - a) - log(1 + e^{-v})`` and ``dom f* = (-inf, 1/(1 - a))``. For ``a > 1``
  the paper uses ``g_f(v) = v`` on R and writes ``f*(t) = ((a-1) t + 1)^{a/(a-1)}/a - 1/a``,
  which is undefined for ``t < -1/(a-1)``; we use the exact conjugate over
  ``u >= 0``, which continues it by the constant ``-1/a`` there (zero gradient).
* **GAN.** The paper's generator ``u log u - (u + 1) log(u + 1)`` has
  ``f(1) = -log 4`` (the only entry without ``f(1) = 0``): it measures
  ``2 * JSD - log 4``, whose value at P = Q is ``-log 4``. Kept as in the paper so
  the losses are Goodfellow et al.'s.
* **Total variation.** ``f(u) = |u - 1| / 2`` is not differentiable at 1; its
  ``f'(1)`` is the subgradient 0 (Table 6 lists 0).

``f*`` returns ``+inf`` outside its domain (the supremum is unbounded there).

Example:
    >>> from fastgan.divergences import get_divergence
    >>> d = get_divergence("gan")
    >>> float(d.f_prime_at_1)  # -log 2
    -0.6931471805599453
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor

from fastgan._divergence_math import lambert_w0, log_lambert_w0_exp

__all__ = [
    "Divergence",
    "DivergenceFamily",
    "DIVERGENCES",
    "KERNEL_IDS",
    "get_divergence",
    "divergence_names",
    "lambert_w0",
    "log_lambert_w0_exp",
]

Fn = Callable[[Tensor], Tensor]

#: Kernel ids shared with csrc/fdiv/fdiv.h (enum Kernel). WGAN and HINGE are not
#: f-divergences; they let the everyday GAN losses reuse the fused kernel.
KERNEL_IDS: dict[str, int] = {
    "kl": 0,
    "reverse_kl": 1,
    "pearson": 2,
    "neyman": 3,
    "squared_hellinger": 4,
    "jeffrey": 5,
    "js": 6,
    "gan": 7,
    "total_variation": 8,
    "alpha_lt1": 9,
    "alpha_gt1": 10,
    "wgan": 11,
    "hinge": 12,
}

_LOG2 = math.log(2.0)
_INF = float("inf")


@dataclass(frozen=True)
class Divergence:
    """One f-divergence: generator, conjugate, output activation and kernel id.

    Attributes:
        name: registry name (``"kl"``, ``"gan"``, ``"alpha"``, ...).
        f: generator ``f(u)`` for ``u >= 0`` (Tensor -> Tensor, elementwise).
        f_prime: derivative ``f'(u)`` (for ``u > 0``).
        conjugate: Fenchel conjugate ``f*(t)``; ``+inf`` outside ``domain``.
        domain: ``(lo, hi)`` of ``dom f*`` (``-inf``/``inf`` for unbounded ends).
        domain_closed: whether ``lo`` / ``hi`` belong to the domain.
        activation: output activation ``g_f(v)``, maps R into ``dom f*``.
        activation_inverse: ``g_f^{-1}(t)`` on the range of ``g_f`` (the raw
            critic output that realises a given T, e.g. the optimal critic).
        f_prime_at_1: ``f'(1)``, the critic value where P = Q (the optimal critic
            on identical distributions).
        kernel_id: id of the fused closed form in csrc/fdiv/fdiv.h.
        alpha: parameter of the alpha family (None otherwise).
        measures: what ``E_Q f(pi/p)`` equals in words (e.g. ``"2 * JSD(P || Q)"``).
        reference: the table row this entry matches.
        notes: conventions chosen where the literature is ambiguous.
    """

    name: str
    f: Fn
    f_prime: Fn
    conjugate: Fn
    domain: tuple[float, float]
    domain_closed: tuple[bool, bool]
    activation: Fn
    activation_inverse: Fn
    f_prime_at_1: float
    kernel_id: int
    alpha: Optional[float] = None
    measures: str = ""
    reference: str = ""
    notes: str = ""

    def in_domain(self, t: Tensor) -> Tensor:
        """Boolean mask of ``t`` inside ``dom f*``."""
        lo, hi = self.domain
        lo_ok = (t >= lo) if self.domain_closed[0] else (t > lo)
        hi_ok = (t <= hi) if self.domain_closed[1] else (t < hi)
        return lo_ok & hi_ok

    def consts(self) -> tuple[float, float, float, float]:
        """Kernel constants (c0, c1, c2, c3) derived from alpha (zeros otherwise)."""
        return alpha_consts(self.kernel_id, self.alpha)


def alpha_consts(kernel_id: int, alpha: Optional[float]) -> tuple[float, float, float, float]:
    """Kernel constants (c0, c1, c2, c3) of ``kernel_id`` at ``alpha`` (zeros for kernels without
    alpha); shared with the fused losses' reference path (:mod:`fastgan.losses._fused`)."""
    if kernel_id == KERNEL_IDS["alpha_lt1"]:
        a = float(alpha)  # type: ignore[arg-type]
        return 1.0 / (1.0 - a), math.log(1.0 - a), a / (a - 1.0), 1.0 / a
    if kernel_id == KERNEL_IDS["alpha_gt1"]:
        a = float(alpha)  # type: ignore[arg-type]
        return a - 1.0, a / (a - 1.0), 1.0 / (a - 1.0), 1.0 / a
    return 0.0, 0.0, 0.0, 0.0


@dataclass(frozen=True)
class DivergenceFamily:
    """A registry entry: builds a :class:`Divergence` from its parameters.

    Attributes:
        name: canonical name.
        build: ``build(**params) -> Divergence``.
        params: parameter names the family takes (empty for fixed divergences).
        aliases: other accepted names.
        description: one line for listings.
    """

    name: str
    build: Callable[..., Divergence]
    params: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""
    _cache: dict[tuple[Any, ...], Divergence] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, **params: Any) -> Divergence:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            accepted = ", ".join(self.params) if self.params else "no parameters"
            raise TypeError(
                f"divergence {self.name!r} got unexpected parameter(s) {unknown}; it takes {accepted}"
            )
        missing = [p for p in self.params if p not in params]
        if missing:
            raise TypeError(
                f"divergence {self.name!r} needs parameter(s) {missing}, e.g. get_divergence("
                f"{self.name!r}, {missing[0]}=0.5)"
            )
        key = tuple(params[p] for p in self.params)
        if key not in self._cache:
            self._cache[key] = self.build(**params)
        return self._cache[key]


# ------------------------------------------------------------ the entries
def _where_domain(t: Tensor, mask: Tensor, value: Tensor) -> Tensor:
    return torch.where(mask, value, torch.full_like(value, _INF))


def _xlogx(u: Tensor) -> Tensor:
    return torch.special.xlogy(u, u)


def _kl() -> Divergence:
    return Divergence(
        name="kl",
        f=lambda u: _xlogx(u),
        f_prime=lambda u: torch.log(u) + 1.0,
        conjugate=lambda t: torch.exp(t - 1.0),
        domain=(-_INF, _INF),
        domain_closed=(False, False),
        activation=lambda v: v,
        activation_inverse=lambda t: t,
        f_prime_at_1=1.0,
        kernel_id=KERNEL_IDS["kl"],
        measures="KL(P || Q)",
        reference="f-GAN Table 6, row Kullback-Leibler: g_f(v) = v, f*(t) = exp(t - 1), f'(1) = 1",
    )


def _reverse_kl() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        m = t < 0
        tm = torch.where(m, t, -torch.ones_like(t))
        return _where_domain(t, m, -1.0 - torch.log(-tm))

    return Divergence(
        name="reverse_kl",
        f=lambda u: -torch.log(u),
        f_prime=lambda u: -1.0 / u,
        conjugate=conj,
        domain=(-_INF, 0.0),
        domain_closed=(False, False),
        activation=lambda v: -torch.exp(-v),
        activation_inverse=lambda t: -torch.log(-t),
        f_prime_at_1=-1.0,
        kernel_id=KERNEL_IDS["reverse_kl"],
        measures="KL(Q || P)",
        reference="f-GAN Table 6, row Reverse KL: g_f(v) = -exp(-v), f*(t) = -1 - log(-t), f'(1) = -1",
    )


def _pearson() -> Divergence:
    return Divergence(
        name="pearson",
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        conjugate=lambda t: 0.25 * t * t + t,
        domain=(-_INF, _INF),
        domain_closed=(False, False),
        activation=lambda v: v,
        activation_inverse=lambda t: t,
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["pearson"],
        measures="Pearson chi^2(P || Q) = E_Q[(pi/p - 1)^2]",
        reference="f-GAN Table 6, row Pearson chi^2: g_f(v) = v, f*(t) = t^2/4 + t, f'(1) = 0",
        notes=(
            "f*(t) = t^2/4 + t on all of R (paper). It equals the exact conjugate of (u-1)^2 on u >= 0 "
            "for t >= -2 and exceeds it (exact: -1) for t < -2, so the variational bound stays a valid "
            "lower bound, tight at T* = 2(pi/p - 1) >= -2."
        ),
    )


def _neyman() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        m = t < 1.0
        tm = torch.where(m, t, torch.zeros_like(t))
        return _where_domain(t, m, 2.0 - 2.0 * torch.sqrt(1.0 - tm))

    return Divergence(
        name="neyman",
        f=lambda u: (1.0 - u) ** 2 / u,
        f_prime=lambda u: 1.0 - 1.0 / (u * u),
        conjugate=conj,
        domain=(-_INF, 1.0),
        domain_closed=(False, False),
        activation=lambda v: 1.0 - torch.exp(v),
        activation_inverse=lambda t: torch.log1p(-t),
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["neyman"],
        measures="Neyman chi^2(P || Q) = E_Q[(1 - pi/p)^2 / (pi/p)]",
        reference="f-GAN Table 6, row Neyman chi^2: g_f(v) = 1 - exp(v), f*(t) = 2 - 2 sqrt(1 - t), f'(1) = 0",
    )


def _hellinger() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        m = t < 1.0
        tm = torch.where(m, t, torch.zeros_like(t))
        return _where_domain(t, m, tm / (1.0 - tm))

    return Divergence(
        name="squared_hellinger",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / torch.sqrt(u),
        conjugate=conj,
        domain=(-_INF, 1.0),
        domain_closed=(False, False),
        activation=lambda v: 1.0 - torch.exp(v),
        activation_inverse=lambda t: torch.log1p(-t),
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["squared_hellinger"],
        measures="squared Hellinger E_Q[(sqrt(pi/p) - 1)^2] (no factor 1/2)",
        reference="f-GAN Table 6, row Squared Hellinger: g_f(v) = 1 - exp(v), f*(t) = t/(1 - t), f'(1) = 0",
    )


def _jeffrey() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        w = torch.exp(log_lambert_w0_exp(1.0 - t))
        return w + 1.0 / w + t - 2.0

    return Divergence(
        name="jeffrey",
        f=lambda u: (u - 1.0) * torch.log(u),
        f_prime=lambda u: torch.log(u) + 1.0 - 1.0 / u,
        conjugate=conj,
        domain=(-_INF, _INF),
        domain_closed=(False, False),
        activation=lambda v: v,
        activation_inverse=lambda t: t,
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["jeffrey"],
        measures="Jeffrey KL(P || Q) + KL(Q || P)",
        reference=(
            "f-GAN Table 6, row Jeffrey: g_f(v) = v, f*(t) = W(e^{1-t}) + 1/W(e^{1-t}) + t - 2, f'(1) = 0"
        ),
        notes="W = principal Lambert W, computed in log space (log W(e^y)) so no overflow for any t.",
    )


def _js() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        m = t < _LOG2
        tm = torch.where(m, t, torch.zeros_like(t))
        return _where_domain(t, m, -torch.log(2.0 - torch.exp(tm)))

    return Divergence(
        name="js",
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log((u + 1.0) / 2.0),
        f_prime=lambda u: torch.log(2.0 * u / (u + 1.0)),
        conjugate=conj,
        domain=(-_INF, _LOG2),
        domain_closed=(False, False),
        activation=lambda v: _LOG2 - torch.nn.functional.softplus(-v),
        activation_inverse=lambda t: -torch.log(torch.expm1(_LOG2 - t)),
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["js"],
        measures="2 * JSD(P || Q) = KL(P || M) + KL(Q || M), M = (P + Q)/2",
        reference=(
            "f-GAN Table 6, row Jensen-Shannon: g_f(v) = log 2 - log(1 + e^{-v}), "
            "f*(t) = -log(2 - e^t), f'(1) = 0"
        ),
        notes=(
            "Unscaled paper generator f(u) = u log u - (u+1) log((1+u)/2): D_f = 2 * JSD "
            "(Table 1 writes JSD with a factor 1/2; Table 6's f* belongs to the unscaled f)."
        ),
    )


def _gan() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        m = t < 0.0
        tm = torch.where(m, t, -torch.ones_like(t))
        return _where_domain(t, m, -torch.log(-torch.expm1(tm)))

    return Divergence(
        name="gan",
        f=lambda u: _xlogx(u) - (u + 1.0) * torch.log(u + 1.0),
        f_prime=lambda u: torch.log(u / (u + 1.0)),
        conjugate=conj,
        domain=(-_INF, 0.0),
        domain_closed=(False, False),
        activation=lambda v: -torch.nn.functional.softplus(-v),
        activation_inverse=lambda t: -torch.log(torch.expm1(-t)),
        f_prime_at_1=-_LOG2,
        kernel_id=KERNEL_IDS["gan"],
        measures="2 * JSD(P || Q) - log 4 (Goodfellow et al. 2014's minimax value)",
        reference=(
            "f-GAN Table 6, row GAN: g_f(v) = -log(1 + e^{-v}), f*(t) = -log(1 - e^t), f'(1) = -log 2"
        ),
        notes=(
            "The paper's GAN generator has f(1) = -log 4, not 0: D_f = 2 * JSD - log 4 is 0 only up to "
            "that constant (its minimum, at P = Q, is -log 4)."
        ),
    )


def _total_variation() -> Divergence:
    def conj(t: Tensor) -> Tensor:
        return _where_domain(t, t.abs() <= 0.5, t)

    return Divergence(
        name="total_variation",
        f=lambda u: 0.5 * (u - 1.0).abs(),
        f_prime=lambda u: 0.5 * torch.sign(u - 1.0),
        conjugate=conj,
        domain=(-0.5, 0.5),
        domain_closed=(True, True),
        activation=lambda v: 0.5 * torch.tanh(v),
        activation_inverse=lambda t: torch.atanh(2.0 * t),
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["total_variation"],
        measures="total variation sup_A |P(A) - Q(A)| = (1/2) E_Q|pi/p - 1|",
        reference="f-GAN Table 2, row Total variation: g_f(v) = tanh(v)/2, f*(t) = t on |t| <= 1/2",
        notes="f is not differentiable at 1; f'(1) is the subgradient 0.",
    )


def _alpha(alpha: float) -> Divergence:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha: expected a real number, got {type(alpha).__name__}")
    a = float(alpha)
    if not math.isfinite(a):
        raise ValueError(f"alpha: must be finite, got {alpha!r}")
    if a == 0.0 or a == 1.0:
        limit = "reverse KL ('reverse_kl')" if a == 0.0 else "KL ('kl')"
        raise ValueError(
            f"alpha: must not be 0 or 1 (the limit alpha -> {a:g} is {limit}; use that entry), got {a}"
        )

    def f(u: Tensor) -> Tensor:
        return (torch.pow(u, a) - 1.0 - a * (u - 1.0)) / (a * (a - 1.0))

    def f_prime(u: Tensor) -> Tensor:
        return (torch.pow(u, a - 1.0) - 1.0) / (a - 1.0)

    p = a / (a - 1.0)
    if a < 1.0:
        hi = 1.0 / (1.0 - a)

        def conj(t: Tensor) -> Tensor:
            m = t < hi
            b = torch.where(m, (a - 1.0) * t + 1.0, torch.ones_like(t))
            return _where_domain(t, m, torch.pow(b, p) / a - 1.0 / a)

        return Divergence(
            name="alpha",
            f=f,
            f_prime=f_prime,
            conjugate=conj,
            domain=(-_INF, hi),
            domain_closed=(False, False),
            activation=lambda v: hi - torch.nn.functional.softplus(-v),
            activation_inverse=lambda t: -torch.log(torch.expm1(hi - t)),
            f_prime_at_1=0.0,
            kernel_id=KERNEL_IDS["alpha_lt1"],
            alpha=a,
            measures=f"alpha-divergence, alpha = {a:g}",
            reference=(
                "f-GAN Table 6, row alpha-div. (alpha < 1, alpha != 0): g_f(v) = 1/(1-alpha) - "
                "log(1 + e^{-v}), f*(t) = ((alpha-1) t + 1)^{alpha/(alpha-1)}/alpha - 1/alpha"
            ),
        )

    def conj_gt1(t: Tensor) -> Tensor:
        b = torch.clamp((a - 1.0) * t + 1.0, min=0.0)
        return torch.pow(b, p) / a - 1.0 / a

    return Divergence(
        name="alpha",
        f=f,
        f_prime=f_prime,
        conjugate=conj_gt1,
        domain=(-_INF, _INF),
        domain_closed=(False, False),
        activation=lambda v: v,
        activation_inverse=lambda t: t,
        f_prime_at_1=0.0,
        kernel_id=KERNEL_IDS["alpha_gt1"],
        alpha=a,
        measures=f"alpha-divergence, alpha = {a:g}",
        reference="f-GAN Table 6, row alpha-div. (alpha > 1): g_f(v) = v, dom f* = R",
        notes=(
            "f*(t) = (max(0, (alpha-1) t + 1)^{alpha/(alpha-1)} - 1)/alpha: the exact conjugate over u >= 0 "
            "(the paper's expression is undefined for t < -1/(alpha-1); there the sup is -1/alpha at u = 0)."
        ),
    )


def _fixed(
    name: str, build: Callable[[], Divergence], aliases: tuple[str, ...], description: str
) -> DivergenceFamily:
    return DivergenceFamily(name=name, build=lambda: build(), aliases=aliases, description=description)


#: name -> :class:`DivergenceFamily`. Call an entry (or :func:`get_divergence`)
#: to get the :class:`Divergence` record.
DIVERGENCES: dict[str, DivergenceFamily] = {
    fam.name: fam
    for fam in [
        _fixed("kl", _kl, ("forward_kl", "kullback_leibler"), "Kullback-Leibler KL(P || Q)"),
        _fixed("reverse_kl", _reverse_kl, ("rkl", "backward_kl"), "reverse KL(Q || P)"),
        _fixed("pearson", _pearson, ("pearson_chi2", "chi2"), "Pearson chi^2"),
        _fixed("neyman", _neyman, ("neyman_chi2",), "Neyman chi^2"),
        _fixed("squared_hellinger", _hellinger, ("hellinger",), "squared Hellinger"),
        _fixed("jeffrey", _jeffrey, ("jeffreys",), "Jeffrey (symmetric KL)"),
        _fixed("js", _js, ("jensen_shannon", "jsd"), "Jensen-Shannon, measures 2*JSD"),
        _fixed("gan", _gan, ("minimax",), "original GAN, measures 2*JSD - log 4"),
        _fixed("total_variation", _total_variation, ("tv",), "total variation"),
        DivergenceFamily(
            name="alpha",
            build=_alpha,
            params=("alpha",),
            aliases=("alpha_divergence",),
            description="alpha-divergence family (alpha != 0, 1)",
        ),
    ]
}

_ALIASES: dict[str, str] = {a: fam.name for fam in DIVERGENCES.values() for a in (fam.name,) + fam.aliases}


def divergence_names() -> list[str]:
    """Canonical registry names."""
    return list(DIVERGENCES)


def get_divergence(name: str | Divergence | DivergenceFamily, **params: Any) -> Divergence:
    """Look up a divergence by name (case-insensitive, aliases accepted).

    Args:
        name: registry name such as ``"kl"``, ``"gan"``, ``"alpha"``, or an
            already-built :class:`Divergence` (returned unchanged, no params
            allowed) or a :class:`DivergenceFamily`.
        **params: family parameters, e.g. ``alpha=0.5`` for ``"alpha"``.

    Returns:
        The :class:`Divergence` record.

    Raises:
        ValueError: unknown name, or a bad parameter value (alpha in {0, 1}).
        TypeError: missing / unexpected parameters.

    Matches: f-GAN (Nowozin et al. 2016) Table 6 conventions; see the module docstring.

    Example:
        >>> get_divergence("alpha", alpha=0.5).kernel_id
        9
    """
    if isinstance(name, Divergence):
        if params:
            raise TypeError("get_divergence: parameters cannot be applied to an already-built Divergence")
        return name
    if isinstance(name, DivergenceFamily):
        return name(**params)
    if not isinstance(name, str):
        raise TypeError(f"divergence: expected a name (str) or a Divergence, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    canonical = _ALIASES.get(key)
    if canonical is None:
        raise ValueError(
            f"divergence: unknown name {name!r}; known: {', '.join(DIVERGENCES)} "
            f"(aliases: {', '.join(sorted(a for a in _ALIASES if a not in DIVERGENCES))})"
        )
    return DIVERGENCES[canonical](**params)


def _check_mapping(m: Mapping[str, DivergenceFamily]) -> None:  # import-time sanity of the table
    ids = set()
    for fam in m.values():
        for alias in fam.aliases:
            assert alias not in m, alias
    for k in KERNEL_IDS.values():
        assert k not in ids
        ids.add(k)


_check_mapping(DIVERGENCES)
