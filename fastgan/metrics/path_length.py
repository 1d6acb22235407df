"""Perceptual path length (PPL): how much a generator's images change along short latent steps
(Karras et al. 2019, "A Style-Based Generator Architecture for Generative Adversarial Networks").

For ``n`` paths ``i``, draw ``z0, z1 ~ N(0, I)`` and ``t ~ U(0, 1)`` (``sampling="full"``) or
``t = 0`` (``sampling="end"``), interpolate to ``t`` and ``t + epsilon`` in z
(``slerp`` or ``lerp``) or, through the mapping, in w (``lerp``), and measure

    d_i = LPIPS(G(a_i), G(b_i)) / epsilon^2,   a_i = interp(p0, p1, t),  b_i = interp(p0, p1, t + epsilon);

PPL is the mean of the ``d_i`` that lie between their ``lower`` and ``upper`` percentiles
(numpy's ``"lower"`` and ``"higher"`` percentile rules, bounds included): the outliers of the
first and last percent are discarded. ``ppl_std`` is the population standard deviation of the
kept ``d_i``. ``slerp`` is the spherical interpolation of the directions ``a / |a|``,
``b / |b|`` (its result has unit norm; a StyleGAN mapping normalises z anyway).

Images: the generator's float output in ``output_range`` is (1) centre-cropped when ``crop``
(rows ``3c..7c``, columns ``2c..6c`` with ``c = H // 8``: StyleGAN's face crop), (2)
box-averaged by the integer factor ``H // downsample`` of the *uncropped* side when it is above 1
(StyleGAN3: images larger than 256 x 256), (3) quantised to uint8
(``floor((x - lo) 255 / (hi - lo) + 0.5)``, clamped) when ``quantize``, else mapped to
[-1, 1], and (4) compared by ``distance`` (an LPIPS module: :class:`fastgan.features.LPIPSVGG16`,
which also resizes as torch-fidelity's ``ppl_sample_similarity_resize`` when built with
``resize=64``). The distances are divided by ``epsilon^2`` and accumulated in float64.

Latents: path ``i`` draws ``(z0, z1, t)`` from block ``i // 1024`` of a ``torch.Generator``
seeded with sha256 of ``"seed:ppl-block:j"`` (``z0`` then ``z1`` as ``Tensor[1024, z_dim]``,
then ``t`` as ``Tensor[1024]``), so a path depends only on ``seed`` and ``i`` (not on the batch
size or the ranks). The generator must be deterministic given its input (StyleGAN:
``noise_mode="const"``); it runs on an RNG forked and seeded per batch.

Conventions (:data:`CONVENTIONS`):

* ``"stylegan3"`` (default): ``epsilon = 1e-4``, ``sampling="end"``, ``slerp`` in z / ``lerp`` in
  w, float images, ``downsample=256``, no crop (StyleGAN3's ``ppl2_wend``; ``crop=True`` and
  ``sampling="full"`` give ``ppl_zfull`` / ``ppl_wfull`` / ``ppl_zend`` / ``ppl_wend``);
* ``"torch-fidelity"``: z space, ``lerp``, ``t = 0``, uint8 images (its
  ``ppl_sample_similarity_dtype="uint8"``), no crop, no downsampling, LPIPS on 64 x 64
  (``ppl_sample_similarity_resize=64``: pass ``distance=LPIPSVGG16(resize=64)``).

Matches: StyleGAN3 / StyleGAN2-ADA ``metrics/perceptual_path_length.py`` (``slerp``, ``lerp`` in
w, ``t + epsilon``, crop, the 256 x 256 box downsampling, ``np.percentile(d, 1,
interpolation="lower")`` and ``(d, 99, interpolation="higher")``, mean of the kept distances);
torch-fidelity ``metric_ppl.py`` (``calculate_ppl``: ``lerp(z0, z1, epsilon)`` from ``z0``,
``ppl_discard_percentile_lower/higher``, ``perceptual_path_length_mean`` / ``_std``). The LPIPS
distance: ``lpips.LPIPS(net="vgg")`` v0.1. The draws of the references' own RNGs are not
reproduced; :func:`path_distances` takes given latents for a draw-by-draw comparison.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any, Callable, Optional

import torch

from fastgan._checks import check_choice, check_positive_int
from fastgan.metrics._base import Metric, all_gather_rows, world_size

__all__ = [
    "CONVENTIONS",
    "KEY_PPL",
    "KEY_PPL_STD",
    "PATH_BLOCK",
    "PerceptualPathLength",
    "discard_outliers",
    "path_distances",
    "path_latents",
    "ppl",
    "ppl_from_distances",
    "slerp",
]

#: Result keys of :func:`ppl`: the mean of the kept distances and their standard deviation.
KEY_PPL = "ppl"
KEY_PPL_STD = "ppl_std"
#: paths per latent block (fixed: changing it changes every path's latents)
PATH_BLOCK = 1024

#: the options each reference fixes (``interpolation`` None: ``slerp`` in z, ``lerp`` in w)
CONVENTIONS: dict[str, dict[str, Any]] = {
    "stylegan3": dict(
        epsilon=1e-4,
        sampling="end",
        interpolation=None,
        crop=False,
        downsample=256,
        quantize=False,
        lower=1.0,
        upper=99.0,
        resize=None,
    ),
    "torch-fidelity": dict(
        epsilon=1e-4,
        sampling="end",
        interpolation="lerp",
        crop=False,
        downsample=None,
        quantize=True,
        lower=1.0,
        upper=99.0,
        resize=64,
    ),
}


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the directions of ``a`` and ``b`` (``Tensor[N, D]``) at ``t``
    (``Tensor[N, 1]``): ``a' cos(t w) + c sin(t w)``, ``w = acos(a'.b')``, ``c`` the unit part of
    ``b'`` orthogonal to ``a' = a / |a|``; the result is renormalised to unit length.

    Matches: StyleGAN3 ``metrics/perceptual_path_length.py`` ``slerp``.
    """
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(dim=-1, keepdim=True)
    angle = t * torch.acos(cos)
    ortho = b - cos * a
    ortho = ortho / ortho.norm(dim=-1, keepdim=True)
    out = a * torch.cos(angle) + ortho * torch.sin(angle)
    return out / out.norm(dim=-1, keepdim=True)


def _interp(kind: str, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    if kind == "slerp":
        return slerp(a, b, t)
    return torch.lerp(a, b, t.to(a.dtype))


def _path_seed(seed: int, block: int) -> int:
    digest = hashlib.sha256(f"{int(seed)}:ppl-block:{int(block)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def path_latents(
    seed: int, start: int, stop: int, z_dim: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(z0, z1, t)`` of paths ``start .. stop - 1``: float32 CPU tensors ``[n, z_dim]``,
    ``[n, z_dim]``, ``[n]`` (see the module docstring: one block of :data:`PATH_BLOCK` paths per
    seeded draw)."""
    if not 0 <= start <= stop:
        raise ValueError(f"start, stop: need 0 <= start <= stop, got {start}, {stop}")
    z_dim = check_positive_int(z_dim, "z_dim")
    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    a = start
    while a < stop:
        j = a // PATH_BLOCK
        g = torch.Generator().manual_seed(_path_seed(seed, j))
        z0 = torch.randn(PATH_BLOCK, z_dim, generator=g)
        z1 = torch.randn(PATH_BLOCK, z_dim, generator=g)
        t = torch.rand(PATH_BLOCK, generator=g)
        b = min(stop, (j + 1) * PATH_BLOCK)
        lo, hi = a - j * PATH_BLOCK, b - j * PATH_BLOCK
        parts.append((z0[lo:hi], z1[lo:hi], t[lo:hi]))
        a = b
    if not parts:
        return torch.empty(0, z_dim), torch.empty(0, z_dim), torch.empty(0)
    z0s, z1s, ts = zip(*parts)
    return torch.cat(z0s), torch.cat(z1s), torch.cat(ts)


def _prepare(
    x: Any,
    *,
    crop: bool,
    downsample: Optional[int],
    quantize: bool,
    output_range: tuple[float, float],
) -> torch.Tensor:
    """Generated images ``Tensor[2B, C, H, W]`` -> the distance's input (module docstring, steps 1-3)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in (1, 3):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"G: expected images [B, 3, H, W] (or 1 channel), got {got}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    side = int(x.shape[2])
    if crop:
        if x.shape[2] != x.shape[3]:
            raise ValueError(f"crop: needs square images, got {tuple(x.shape[2:])}")
        c = side // 8
        x = x[:, :, c * 3 : c * 7, c * 2 : c * 6]
    if x.dtype == torch.uint8:
        if downsample is not None and side // downsample > 1:
            raise ValueError("downsample: uint8 generator output cannot be box-averaged; return float images")
        return x
    if not x.is_floating_point():
        raise ValueError(f"G: expected float or uint8 images, got {x.dtype}")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    factor = side // downsample if downsample is not None else 1
    if factor > 1:
        n, c_, h, w = x.shape
        x = x.reshape(n, c_, h // factor, factor, w // factor, factor).mean((3, 5))
    lo, hi = output_range
    if quantize:
        scale = 255.0 / (hi - lo)
        return (x * scale + (0.5 - lo * scale)).clamp(0, 255).to(torch.uint8)
    if (lo, hi) != (-1.0, 1.0):
        x = (x - lo) * (2.0 / (hi - lo)) - 1.0
    return x


def path_distances(
    G: Callable[..., torch.Tensor],
    z0: torch.Tensor,
    z1: torch.Tensor,
    t: Optional[torch.Tensor] = None,
    *,
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epsilon: float = 1e-4,
    space: str = "z",
    interpolation: Optional[str] = None,
    mapping: Optional[Callable[..., torch.Tensor]] = None,
    crop: bool = False,
    downsample: Optional[int] = 256,
    quantize: bool = False,
    output_range: tuple[float, float] = (-1.0, 1.0),
    batch_size: int = 64,
    device: Optional[torch.device | str] = None,
    seed: int = 0,
) -> torch.Tensor:
    """The scaled distances ``d_i = LPIPS(G(a_i), G(b_i)) / epsilon^2`` of given paths.

    Args:
        G: ``z -> images`` (``space="z"``), or the synthesis ``w -> images`` (``space="w"``).
        z0, z1 (Tensor[N, z_dim]): the two latents of each path.
        t (Tensor[N] | None): the interpolation points (None: 0, ``sampling="end"``).
        distance: ``(x0, x1) -> Tensor[B]`` on the prepared images (an LPIPS module).
        epsilon: the step.
        space: ``"z"`` or ``"w"`` (then ``mapping`` maps z to w, ``[B, D]`` or ``[B, L, D]``).
        interpolation: ``"slerp"`` or ``"lerp"`` in z (None: ``slerp``); w is always ``lerp``.
        crop, downsample, quantize, output_range: the image steps (module docstring).
        batch_size: paths per call of ``G`` (each call generates ``2 * batch_size`` images).
        device: where ``G`` runs (None: its first parameter's device, else the CPU).
        seed: seeds the forked RNG of each batch (a generator that draws noise).

    Returns:
        Tensor[N] float64 on the CPU.
    """
    space = check_choice(space, "space", ("z", "w"))
    interp = (
        "lerp" if space == "w" else check_choice(interpolation or "slerp", "interpolation", ("slerp", "lerp"))
    )
    if space == "w" and interpolation not in (None, "lerp"):
        raise ValueError(f"interpolation: w space interpolates linearly (lerp), got {interpolation!r}")
    if space == "w" and mapping is None:
        raise ValueError(
            "mapping: space='w' needs a z -> w mapping (pass mapping= or a Sampler with mode='w')"
        )
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon: expected a small positive number, got {epsilon!r}")
    batch_size = check_positive_int(batch_size, "batch_size")
    if z0.dim() != 2 or z0.shape != z1.shape:
        raise ValueError(
            f"z0, z1: expected two [N, z_dim] tensors, got {tuple(z0.shape)} and {tuple(z1.shape)}"
        )
    n = int(z0.shape[0])
    # t and t + epsilon in the latents' dtype: float32 for drawn paths, as StyleGAN3 adds them
    tt = torch.zeros(n, dtype=z0.dtype) if t is None else t.reshape(-1).to(z0.dtype)
    if tt.shape[0] != n:
        raise ValueError(f"t: expected {n} interpolation points, got {tt.shape[0]}")
    dev = torch.device(device) if device is not None else _device_of(G)
    out = []
    for s in range(0, n, batch_size):
        e = min(s + batch_size, n)
        a, b, tb = z0[s:e].to(dev), z1[s:e].to(dev), tt[s:e].to(dev).unsqueeze(1)
        devices = [dev] if dev.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices, device_type=dev.type):
            torch.manual_seed(_path_seed(seed, -1 - s))
            if space == "w":
                assert mapping is not None
                w0, w1 = mapping(torch.cat([a, b])).chunk(2)
                tw = tb.reshape(-1, *([1] * (w0.dim() - 1)))
                p0, p1 = torch.lerp(w0, w1, tw.to(w0.dtype)), torch.lerp(w0, w1, (tw + epsilon).to(w0.dtype))
            else:
                p0, p1 = _interp(interp, a, b, tb), _interp(interp, a, b, tb + epsilon)
            img = _prepare(
                G(torch.cat([p0, p1])),
                crop=crop,
                downsample=downsample,
                quantize=quantize,
                output_range=output_range,
            )
            if img.shape[0] != 2 * (e - s):
                raise ValueError(
                    f"G: expected {2 * (e - s)} images for paths {s}..{e - 1}, got {img.shape[0]}"
                )
            x0, x1 = img.chunk(2)
            d = distance(x0, x1).reshape(-1)
        out.append(d.detach().double().cpu() / (epsilon * epsilon))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def _device_of(G: Any) -> torch.device:
    params = getattr(G, "parameters", None)
    p = next(iter(params()), None) if callable(params) else None
    return p.device if isinstance(p, torch.Tensor) else torch.device("cpu")


def discard_outliers(
    distances: Any, lower: Optional[float] = 1.0, upper: Optional[float] = 99.0
) -> torch.Tensor:
    """The distances between their ``lower`` and ``upper`` percentiles, bounds included.

    The bounds are numpy's ``np.percentile(d, lower, method="lower")`` (the sorted value at index
    ``floor((n - 1) lower / 100)``) and ``np.percentile(d, upper, method="higher")`` (index
    ``ceil((n - 1) upper / 100)``). None: that side is not cut.

    Matches: StyleGAN3 ``compute_ppl``; torch-fidelity ``calculate_ppl``.
    """
    d = torch.as_tensor(distances).to(torch.float64).reshape(-1)
    if d.numel() == 0:
        raise ValueError("distances: empty")
    if not bool(torch.isfinite(d).all()):
        raise ValueError("distances: contain NaN or Inf (a generator output or LPIPS is not finite)")
    for name, v in (("lower", lower), ("upper", upper)):
        if v is not None and not 0 < float(v) < 100:
            raise ValueError(f"{name}: a percentile strictly between 0 and 100, got {v!r}")
    if lower is not None and upper is not None and not float(lower) < float(upper):
        raise ValueError(f"lower, upper: need lower < upper, got {lower}, {upper}")
    s = torch.sort(d).values
    keep = torch.ones_like(d, dtype=torch.bool)
    if lower is not None:
        keep &= d >= s[math.floor((d.numel() - 1) * (float(lower) / 100.0))]
    if upper is not None:
        keep &= d <= s[math.ceil((d.numel() - 1) * (float(upper) / 100.0))]
    return d[keep]


def ppl_from_distances(
    distances: Any, lower: Optional[float] = 1.0, upper: Optional[float] = 99.0
) -> dict[str, float]:
    """``{"ppl": mean, "ppl_std": population std}`` of the distances kept by :func:`discard_outliers`.

    >>> ppl_from_distances(torch.arange(1.0, 101.0))
    {'ppl': 50.5, 'ppl_std': 28.86607004772212}
    """
    kept = discard_outliers(distances, lower, upper)
    mean = kept.mean()
    return {KEY_PPL: float(mean), KEY_PPL_STD: float((kept - mean).square().mean().sqrt())}


class _Source:
    """A generator as PPL reads it: from a :class:`fastgan.evaluation.Sampler` (duck-typed, so
    that this module does not import the evaluation layer) or from plain arguments."""

    def __init__(
        self, G: Any, z_dim: Optional[int], mapping: Any, space: Optional[str], kw: dict[str, Any]
    ) -> None:
        sampler = hasattr(G, "latents") and hasattr(G, "synthesis") and hasattr(G, "mode")
        self.sampler = G if sampler else None
        if sampler:
            self.space = space or G.mode
            if self.space == "w" and G.mode != "w" and mapping is None:
                mapping = getattr(G.G, "mapping", None)
            self.mapping = mapping if mapping is not None else G.mapping
            if self.space == "w":  # a mode='z' Sampler's G: its own synthesis when it has one
                self.G = G.synthesis if G.mode == "w" else getattr(G.G, "synthesis", G.G)
            else:
                self.G = G.G
            if self.space == "z" and G.mode == "w":
                raise ValueError("space: a Sampler with mode='w' generates from w; use space='w'")
            self.z_dim = int(G.z_dim)
            for key in ("seed", "batch_size", "output_range", "device"):
                kw.setdefault(key, getattr(G, key))
            kw.setdefault("n", G.n)
        else:
            if not callable(G):
                raise TypeError(f"G: expected a generator (callable) or a Sampler, got {type(G).__name__}")
            self.space = space or "z"
            self.mapping = mapping if mapping is not None else getattr(G, "mapping", None)
            self.G = getattr(G, "synthesis", G) if self.space == "w" else G
            if z_dim is None:
                raise ValueError("z_dim: the latent size is needed for a plain generator (or pass a Sampler)")
            self.z_dim = check_positive_int(z_dim, "z_dim")
        if z_dim is not None and sampler and int(z_dim) != self.z_dim:
            raise ValueError(f"z_dim: {z_dim} differs from the Sampler's {self.z_dim}")


def _options(convention: str, given: dict[str, Any]) -> dict[str, Any]:
    conv = check_choice(convention, "convention", tuple(CONVENTIONS))
    opts = dict(CONVENTIONS[conv])
    opts.update({k: v for k, v in given.items() if v is not None or k in ("downsample", "lower", "upper")})
    opts["sampling"] = check_choice(opts["sampling"], "sampling", ("end", "full"))
    return opts


class PerceptualPathLength(Metric):
    """Stateful PPL: a bank of scaled path distances (float64), the percentile cut in :meth:`compute`.

    Args: ``distance`` and the path options of :func:`ppl` (``convention``, ``epsilon``,
    ``space``, ``sampling``, ``interpolation``, ``crop``, ``downsample``, ``quantize``,
    ``lower``, ``upper``). ``update(distances)`` adds precomputed ``d_i`` (``Tensor[B]``);
    :meth:`measure` draws and measures paths ``start .. stop - 1`` of a generator. ``merge``
    concatenates, ``sync`` all-gathers the distances (the value ignores their order).

    >>> m = PerceptualPathLength()
    >>> m.update(torch.arange(1.0, 101.0)); m.compute()["ppl"]
    50.5
    """

    def __init__(
        self,
        distance: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
        *,
        convention: str = "stylegan3",
        **options: Any,
    ) -> None:
        if "resize" in options:
            raise TypeError("resize: the LPIPS network resizes; pass distance=LPIPSVGG16(resize=...)")
        unknown = set(options) - set(CONVENTIONS["stylegan3"]) - {"space", "seed"}
        if unknown:
            raise TypeError(f"PerceptualPathLength: unknown options {sorted(unknown)}")
        self.distance = distance
        self.space: Optional[str] = options.pop("space", None)
        self.seed = int(options.pop("seed", 0) or 0)
        self.options = _options(convention, options)
        self.distances: list[torch.Tensor] = []

    def update(self, features: Any, *, real: bool = False) -> None:
        """Add scaled path distances ``Tensor[B]`` (``real`` must be False: PPL has one side)."""
        if real:
            raise ValueError("real: perceptual path length measures the generator only (real=False)")
        d = torch.as_tensor(features).detach().to(torch.float64).reshape(-1).cpu()
        self.distances.append(d)

    def measure(
        self, G: Any, start: int = 0, stop: Optional[int] = None, *, z_dim: Optional[int] = None, **kw: Any
    ) -> torch.Tensor:
        """Draw and measure paths ``start .. stop - 1`` of ``G`` (a Sampler, or a generator with
        ``z_dim``; ``kw``: ``mapping``, ``batch_size``, ``device``, ``output_range``, ``n``) and add them.

        Returns:
            their distances, Tensor[stop - start] float64.
        """
        if self.distance is None:
            raise ValueError(
                "distance: PerceptualPathLength needs an LPIPS module (fastgan.features.LPIPSVGG16())"
            )
        src = _Source(G, z_dim, kw.pop("mapping", None), self.space, kw)
        kw.setdefault("seed", self.seed)
        n = kw.pop("n", None)
        stop = stop if stop is not None else n
        if stop is None:
            raise ValueError("n: the number of paths is needed (or pass a Sampler, whose n is used)")
        z0, z1, t = path_latents(kw["seed"], start, stop, src.z_dim)
        o = self.options
        d = path_distances(
            src.G,
            z0,
            z1,
            t if o["sampling"] == "full" else None,
            distance=self.distance,
            epsilon=o["epsilon"],
            space=src.space,
            interpolation=o["interpolation"],
            mapping=src.mapping,
            crop=o["crop"],
            downsample=o["downsample"],
            quantize=o["quantize"],
            **kw,
        )
        self.update(d)
        return d

    def compute(self) -> dict[str, float]:
        """``{"ppl", "ppl_std"}`` of every distance added (see :func:`ppl_from_distances`)."""
        if not self.distances:
            raise ValueError(
                "PerceptualPathLength.compute: no path measured: call measure() or update() first"
            )
        return ppl_from_distances(torch.cat(self.distances), self.options["lower"], self.options["upper"])

    def reset(self) -> None:
        """Forget every distance."""
        self.distances = []

    def merge(self, other: Any) -> PerceptualPathLength:
        """Append ``other``'s distances; returns self."""
        self._check_same_type(other)
        self.distances.extend(other.distances)
        return self

    def sync(self, group: Any = None) -> PerceptualPathLength:
        """Gather the distances of every rank of ``group`` (rank order)."""
        if world_size(group) == 1:
            return self
        local = torch.cat(self.distances).unsqueeze(1) if self.distances else None
        got = all_gather_rows(local, group, device=None if local is None else local.device)
        self.distances = [] if got is None else [got.reshape(-1)]
        return self

    def state_dict(self) -> dict[str, Any]:
        """``{"distances": Tensor[N] float64 | None}``."""
        return {"distances": torch.cat(self.distances).clone() if self.distances else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the distances from :meth:`state_dict` output."""
        if "distances" not in state:
            raise KeyError("state: missing key 'distances'")
        self.reset()
        if state["distances"] is not None:
            self.update(state["distances"])


def ppl(
    G: Any,
    z_dim: Optional[int] = None,
    *,
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n: Optional[int] = None,
    convention: str = "stylegan3",
    space: Optional[str] = None,
    mapping: Optional[Callable[..., torch.Tensor]] = None,
    seed: Optional[int] = None,
    batch_size: Optional[int] = None,
    device: Optional[torch.device | str] = None,
    output_range: Optional[Sequence[float]] = None,
    **options: Any,
) -> dict[str, float]:
    """Perceptual path length of a generator (module docstring: the definition and conventions).

    Args:
        G: a :class:`fastgan.evaluation.Sampler` (its generator, ``z_dim``, ``mode`` (the default
            ``space``), mapping, ``n``, ``seed``, ``batch_size``, ``device`` and ``output_range``
            are used; its truncation is not: both references measure the untruncated generator),
            or a callable ``z -> images`` with ``z_dim`` (``space="w"``: ``G.synthesis`` or ``G``
            maps w, ``mapping=`` or ``G.mapping`` maps z).
        distance: the image distance, ``(x0, x1) -> Tensor[B]``: :class:`fastgan.features.LPIPSVGG16`
            (``resize=64`` for torch-fidelity's convention).
        n: number of paths (default: the Sampler's ``n``; StyleGAN3 and torch-fidelity use 50 000).
        convention: ``"stylegan3"`` or ``"torch-fidelity"`` (:data:`CONVENTIONS`).
        space: ``"z"`` or ``"w"``.
        seed: seed of the path latents (default: the Sampler's, else 0).
        options: override the convention's ``epsilon``, ``sampling`` (``"end"`` / ``"full"``),
            ``interpolation``, ``crop``, ``downsample`` (None: none), ``quantize``, ``lower``,
            ``upper`` (None: that side is not cut).

    Returns:
        ``{"ppl": float, "ppl_std": float}``.

    Matches: StyleGAN3 ``metrics/perceptual_path_length.py``; torch-fidelity ``metric_ppl.py``
    (see the module docstring).

    >>> from fastgan.features import LPIPSVGG16
    >>> G = lambda z: torch.tanh(z[:, :12].reshape(-1, 3, 2, 2)).repeat(1, 1, 16, 16)
    >>> r = ppl(G, 16, n=8, distance=LPIPSVGG16(random_init=True))
    >>> sorted(r), r["ppl"] >= 0
    (['ppl', 'ppl_std'], True)
    """
    metric = PerceptualPathLength(distance, convention=convention, space=space, **options)
    kw: dict[str, Any] = {"mapping": mapping}
    for key, value in (
        ("n", n),
        ("seed", seed),
        ("batch_size", batch_size),
        ("device", device),
        ("output_range", None if output_range is None else (float(output_range[0]), float(output_range[1]))),
    ):
        if value is not None:
            kw[key] = value
    metric.measure(G, z_dim=z_dim, **kw)
    return metric.compute()
