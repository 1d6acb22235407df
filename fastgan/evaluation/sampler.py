"""Sampling a generator on the fly: uint8 image batches, deterministic per sample index.

:class:`Sampler` turns a generator network into an input of :func:`fastgan.evaluation.embed.embed`
(and of ``fastgan.evaluate``): images are produced batch by batch and embedded straight away;
nothing is written to disk.

Determinism: latents are drawn in blocks of :data:`LATENT_BLOCK` samples on a fixed global
grid: block ``j`` (samples ``j * LATENT_BLOCK .. (j + 1) * LATENT_BLOCK - 1``) is one draw
``Tensor[LATENT_BLOCK, z_dim]`` from a ``torch.Generator`` seeded with :func:`block_seed`
``(seed, j)``, and sample ``i`` is row ``i % LATENT_BLOCK`` of block ``i // LATENT_BLOCK``. So
sample ``i`` depends only on ``seed`` and ``i``: not on the batch size, the number of samples,
the number of ranks the samples are sharded over, or the order the batches are produced in. One
vectorised draw per block (instead of one generator per sample) keeps the latents of 50k
samples well under a second, truncated or not.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import weakref
from collections.abc import Iterator
from typing import Any, Callable, Optional

import torch
from torch import nn

from fastgan._checks import check_positive_int
from fastgan._compat import warn_renamed

__all__ = ["Sampler", "sample_seed", "block_seed", "to_uint8_images", "module_fingerprint", "LATENT_BLOCK"]

#: samples per latent block (fixed: changing it changes every sample's latent)
LATENT_BLOCK = 1024


def _seed_of(text: str) -> int:
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def sample_seed(seed: int, index: int) -> int:
    """The 63-bit seed derived from ``(seed, index)`` (sha256 of ``"seed:index"``); the Sampler
    uses it for its auxiliary draws (the w_avg estimate, a generator's own noise per batch)."""
    return _seed_of(f"{int(seed)}:{int(index)}")


def block_seed(seed: int, block: int) -> int:
    """The 63-bit generator seed of latent block ``block`` (sha256 of ``"seed:z-block:block"``)."""
    return _seed_of(f"{int(seed)}:z-block:{int(block)}")


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes()


#: module -> (signature of its tensors' storage and version counters, digest): a module is
#: hashed again only after one of its tensors was replaced or modified in place
_DIGESTS: weakref.WeakKeyDictionary[nn.Module, tuple[Any, str]] = weakref.WeakKeyDictionary()


def _module_digest(m: nn.Module) -> str:
    sd = sorted((k, v) for k, v in m.state_dict(keep_vars=True).items() if isinstance(v, torch.Tensor))
    # Tensor._version counts in-place writes (optimizer steps included), so an unchanged
    # signature means unchanged bytes
    sig = tuple((k, v.data_ptr(), v._version, v.dtype, tuple(v.shape)) for k, v in sd)
    hit = _DIGESTS.get(m)
    if hit is not None and hit[0] == sig:
        return hit[1]
    h = hashlib.sha256(type(m).__qualname__.encode())
    for k, v in sd:
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(_tensor_bytes(v))
    digest = h.hexdigest()
    _DIGESTS[m] = (sig, digest)
    return digest


def module_fingerprint(*modules: Any) -> Optional[str]:
    """sha256 over the state dicts (names, dtypes, shapes, bytes) of ``modules``; None when one is
    not an ``nn.Module`` (a plain function cannot be identified by its content).

    Digests are remembered per module and recomputed only when a tensor of the module was
    replaced or written in place (e.g. by a training step), so repeated calls are cheap."""
    h = hashlib.sha256()
    for m in modules:
        if m is None:
            h.update(b"none")
            continue
        if not isinstance(m, nn.Module):
            return None
        h.update(_module_digest(m).encode())
    return h.hexdigest()


def to_uint8_images(x: torch.Tensor, output_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Float images in ``output_range`` -> uint8: ``floor((x - lo) * 255 / (hi - lo) + 0.5)``, clamped.

    For ``(-1, 1)`` this is exactly ``(x * 127.5 + 128).clamp(0, 255).to(torch.uint8)``.

    Matches: StyleGAN2-ADA / StyleGAN3 ``metric_utils`` (generator output -> uint8 before the
    feature network).
    """
    lo, hi = float(output_range[0]), float(output_range[1])
    scale = 255.0 / (hi - lo)
    return (x * scale + (0.5 - lo * scale)).clamp_(0, 255).to(torch.uint8)


def _truncation_arg(
    mode: str, threshold: Optional[float], psi: Optional[float], truncation: Optional[float]
) -> tuple[Optional[float], str]:
    """The truncation value of a Sampler and the keyword that gave it (for messages).

    ``threshold=`` belongs to ``mode="z"``, ``psi=`` to ``mode="w"``; the deprecated
    ``truncation=`` meant whichever of the two the mode uses."""
    if truncation is not None:
        new = "threshold" if mode == "z" else "psi"
        if threshold is not None or psi is not None:
            raise TypeError(f"Sampler: pass {new}= only (truncation= is its deprecated name)")
        warn_renamed("Sampler", "truncation", new, stacklevel=4)
        return truncation, "truncation"
    if threshold is not None and mode != "z":
        raise ValueError("threshold: the z-space truncation threshold needs mode='z' (in w space pass psi=)")
    if psi is not None and mode != "w":
        raise ValueError("psi: StyleGAN's w-space truncation needs mode='w' (in z space pass threshold=)")
    return (threshold, "threshold") if mode == "z" else (psi, "psi")


class Sampler:
    """Images from a generator, in uint8 batches [B, 3, H, W], drawn on the fly.

    Args:
        G: the generator: in ``mode="z"`` a callable ``z (Tensor[B, z_dim]) -> images
            (Tensor[B, C, H, W])`` with C = 3 (or 1, repeated); in ``mode="w"`` its
            ``synthesis`` (or ``G`` itself when it has none) maps w to images.
        z_dim: latent size.
        n: number of samples.
        seed: sample ``i``'s latent is row ``i % LATENT_BLOCK`` of the draw
            ``Tensor[LATENT_BLOCK, z_dim]`` of a generator seeded with :func:`block_seed`
            ``(seed, i // LATENT_BLOCK)`` (see the module docstring).
        threshold: ``mode="z"`` only: truncation threshold of the truncated normal (every
            coordinate conditioned on ``|z| <= threshold``,
            :func:`fastgan.truncation.truncated_normal`). None: plain N(0, I).
        psi: ``mode="w"`` only: StyleGAN's ``w' = w_avg + psi (w - w_avg)``
            (:func:`fastgan.truncation.psi_truncation`). None (or 1): no truncation.
        truncation: deprecated name of ``threshold`` (``mode="z"``) or ``psi`` (``mode="w"``),
            which it meant depending on ``mode``; warns, same samples.
        mode: ``"z"`` or ``"w"``.
        batch_size: samples per call of G.
        device: where z is fed to G (default: G's first parameter's device, else CPU).
            Latents are always drawn on the CPU (the same z on any device).
        output_range: value range of G's float output (StyleGAN: (-1, 1)); uint8 outputs are
            taken as they are.
        w_avg (Tensor[D] or Tensor[L, D]): centre of w for ``mode="w"`` (default: the mapping's
            ``w_avg`` attribute, else estimated with :func:`fastgan.truncation.estimate_w_avg`
            from ``w_avg_samples`` latents seeded by ``seed``).
        mapping: ``z -> w`` for ``mode="w"`` (default: ``G.mapping``).
        w_avg_samples: latents for the w_avg estimate.

    G should be deterministic given z (StyleGAN: ``noise_mode="const"``); if it draws from the
    global RNG, it runs on a forked RNG seeded by the batch (reproducible for a given batch
    size, and the caller's RNG state is left untouched). A StyleGAN2/3 network with a class
    input needs its label bound, e.g. ``mapping=lambda z: G.mapping(z, None)``.

    ``len(sampler)`` is the number of batches (as for a DataLoader); ``sampler.n`` the number of
    samples. Iteration yields uint8 Tensor[B, 3, H, W] on ``device``.

    Matches: StyleGAN2-ADA / StyleGAN3 metric sampling (z ~ N(0, I), ``truncation_psi`` in w
    space, ``x * 127.5 + 128`` clamped to uint8); BigGAN-style threshold truncation in z space.

    >>> G = lambda z: torch.tanh(z[:, :12].reshape(-1, 3, 2, 2))
    >>> s = Sampler(G, z_dim=16, n=5, batch_size=2)
    >>> [tuple(b.shape) for b in s]
    [(2, 3, 2, 2), (2, 3, 2, 2), (1, 3, 2, 2)]
    """

    seed: int
    batch_size: int
    mode: str
    truncation: Optional[float]
    output_range: tuple[float, float]
    device: torch.device

    def __init__(
        self,
        G: Callable[..., torch.Tensor],
        z_dim: int,
        n: int = 50_000,
        *,
        seed: int = 0,
        threshold: Optional[float] = None,
        psi: Optional[float] = None,
        mode: str = "z",
        batch_size: int = 64,
        device: Optional[torch.device | str] = None,
        output_range: tuple[float, float] = (-1.0, 1.0),
        w_avg: Optional[torch.Tensor] = None,
        mapping: Optional[Callable[..., torch.Tensor]] = None,
        w_avg_samples: int = 100_000,
        truncation: Optional[float] = None,
    ) -> None:
        if not callable(G):
            raise TypeError(f"G: expected a callable generator, got {type(G).__name__}")
        self.G = G
        self.z_dim = check_positive_int(z_dim, "z_dim")
        self.n = check_positive_int(n, "n")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
        self.seed = int(seed)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if mode not in ("z", "w"):
            raise ValueError(f"mode: must be 'z' or 'w', got {mode!r}")
        self.mode = mode
        truncation, name = _truncation_arg(mode, threshold, psi, truncation)
        if truncation is not None:
            if (
                isinstance(truncation, bool)
                or not isinstance(truncation, numbers.Real)
                or math.isnan(truncation)
            ):
                raise ValueError(f"{name}: the truncation must be a real number or None, got {truncation!r}")
            truncation = float(truncation)
            if mode == "z" and truncation <= 0:
                raise ValueError(f"{name}: the z-space truncation threshold must be > 0, got {truncation}")
            if mode == "w" and not math.isfinite(truncation):
                raise ValueError(f"{name}: the w-space truncation psi must be finite, got {truncation}")
        #: the truncation in effect: ``threshold`` (mode "z") or ``psi`` (mode "w"); one key of the
        #: fingerprint, so cached features of samplers built with ``truncation=`` stay valid
        self.truncation = truncation
        self.threshold = truncation if mode == "z" else None
        self.psi = truncation if mode == "w" else None
        if (
            len(output_range) != 2
            or not all(math.isfinite(float(v)) for v in output_range)
            or float(output_range[1]) <= float(output_range[0])
        ):
            raise ValueError(f"output_range: expected (low, high) with low < high, got {output_range!r}")
        self.output_range = (float(output_range[0]), float(output_range[1]))
        self._cached: Optional[tuple[int, torch.Tensor]] = None  # (block index, latents)
        if device is None:
            p = next(iter(G.parameters()), None) if isinstance(G, nn.Module) else None
            device = p.device if p is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.mapping: Optional[Callable[..., torch.Tensor]] = None
        self.synthesis: Callable[..., torch.Tensor] = G
        self.w_avg: Optional[torch.Tensor] = None
        if mode == "w":
            mapping = mapping if mapping is not None else getattr(G, "mapping", None)
            if mapping is None or not callable(mapping):
                raise ValueError(
                    "mapping: mode='w' needs a z -> w mapping (pass mapping= or give G a .mapping)"
                )
            self.mapping = mapping
            self.synthesis = getattr(G, "synthesis", G)
            if w_avg is None:
                w_avg = getattr(mapping, "w_avg", None)
            if w_avg is None and self.truncation is not None and self.truncation != 1.0:
                from fastgan.truncation import estimate_w_avg

                gen = torch.Generator(device=self.device.type).manual_seed(sample_seed(self.seed, -1))
                w_avg = estimate_w_avg(
                    mapping, n=w_avg_samples, z_dim=self.z_dim, generator=gen, device=self.device
                )
            if w_avg is not None and not isinstance(w_avg, torch.Tensor):
                raise TypeError(f"w_avg: expected a Tensor, got {type(w_avg).__name__}")
            self.w_avg = w_avg.detach() if w_avg is not None else None
        elif w_avg is not None or mapping is not None:
            raise ValueError("w_avg / mapping: only used with mode='w'")

    # -- sizes --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __repr__(self) -> str:
        return (
            f"Sampler(n={self.n}, z_dim={self.z_dim}, seed={self.seed}, mode={self.mode!r}, "
            f"{'threshold' if self.mode == 'z' else 'psi'}={self.truncation}, batch_size={self.batch_size}, "
            f"device={str(self.device)!r})"
        )

    # -- sampling -----------------------------------------------------------------------------
    def _block(self, j: int) -> torch.Tensor:
        """Latent block ``j``: Tensor[LATENT_BLOCK, z_dim] float32 on the CPU (the last one is kept)."""
        if self._cached is not None and self._cached[0] == j:
            return self._cached[1]
        g = torch.Generator().manual_seed(block_seed(self.seed, j))
        shape = (LATENT_BLOCK, self.z_dim)
        if self.mode == "z" and self.truncation is not None:
            from fastgan.truncation import truncated_normal

            z = truncated_normal(shape, self.truncation, generator=g)
        else:
            z = torch.randn(shape, generator=g)
        self._cached = (j, z)
        return z

    def latents(self, start: int, stop: int) -> torch.Tensor:
        """z of samples ``start .. stop - 1``: Tensor[stop - start, z_dim] float32 on the CPU.

        Cut from the latent blocks the range covers (see the module docstring); the last block
        drawn is kept, so consecutive batches inside one block draw it once."""
        if not 0 <= start <= stop <= self.n:
            raise ValueError(f"start, stop: need 0 <= start <= stop <= n={self.n}, got {start}, {stop}")
        parts = []
        a = start
        while a < stop:
            j = a // LATENT_BLOCK
            b = min(stop, (j + 1) * LATENT_BLOCK)
            parts.append(self._block(j)[a - j * LATENT_BLOCK : b - j * LATENT_BLOCK])
            a = b
        if not parts:
            return torch.empty(0, self.z_dim)
        return parts[0].clone() if len(parts) == 1 else torch.cat(parts)

    @torch.no_grad()
    def generate(self, start: int, stop: int) -> torch.Tensor:
        """Samples ``start .. stop - 1`` as uint8 Tensor[stop - start, 3, H, W] on ``device``
        (one call of G; ``start`` need not be a multiple of ``batch_size``)."""
        z = self.latents(start, stop).to(self.device)
        where = f"batch {start // self.batch_size} (samples {start}..{stop - 1})"
        # G may draw from the global RNG (e.g. StyleGAN's noise_mode="random"): run it on a
        # forked RNG seeded by the batch, so a run is reproducible and the caller's RNG untouched
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed(sample_seed(self.seed, -2 - start))
            x = self._run(z, where)
        return self._check_output(x, start, stop, where)

    def _run(self, z: torch.Tensor, where: str) -> Any:
        if self.mode == "w":
            assert self.mapping is not None
            w = self.mapping(z)
            if not isinstance(w, torch.Tensor) or w.dim() not in (2, 3) or w.shape[0] != z.shape[0]:
                raise ValueError(
                    f"mapping: {where}: expected w of shape [B, D] or [B, L, D] with B={z.shape[0]}, got "
                    f"{tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__}"
                )
            if self.truncation is not None and self.truncation != 1.0:
                from fastgan.truncation import psi_truncation

                assert self.w_avg is not None
                w = psi_truncation(w, self.w_avg, self.truncation)
            return self.synthesis(w)
        return self.G(z)

    def _check_output(self, x: Any, start: int, stop: int, where: str) -> torch.Tensor:
        b = stop - start
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"G: {where}: expected a Tensor [B, 3, H, W], got {type(x).__name__}")
        if x.dim() != 4 or x.shape[0] != b or x.shape[1] not in (1, 3):
            raise ValueError(
                f"G: {where}: expected images of shape [{b}, 3, H, W] (or 1 channel), got {tuple(x.shape)}"
            )
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.dtype == torch.uint8:
            return x.contiguous()
        if not x.is_floating_point():
            raise ValueError(f"G: {where}: expected float or uint8 images, got {x.dtype}")
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            bad = (~finite).flatten(1).any(1).nonzero().flatten()
            raise ValueError(
                f"G: {where}: output contains NaN/Inf in {bad.numel()} sample(s), first at sample "
                f"{start + int(bad[0])}"
            )
        return to_uint8_images(
            x.float() if x.dtype in (torch.float16, torch.bfloat16) else x, self.output_range
        )

    def __iter__(self) -> Iterator[torch.Tensor]:
        for start in range(0, self.n, self.batch_size):
            yield self.generate(start, min(start + self.batch_size, self.n))

    # -- identity -----------------------------------------------------------------------------
    def _args(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "z_dim": self.z_dim,
            "seed": self.seed,
            "mode": self.mode,
            "truncation": self.truncation,
            "output_range": list(self.output_range),
            "seed_rule": f"blocks of {LATENT_BLOCK}: sha256(seed:z-block:j)[:8]",
        }

    @property
    def fingerprint(self) -> Optional[str]:
        """sha256 over G's (and the mapping's) state dict bytes, w_avg and the sampling
        arguments; None when G is not an ``nn.Module`` (its content cannot be hashed)."""
        # recomputed on each access (cheap: module digests are remembered until G changes),
        # so a generator trained between two evaluations never hits a stale cache entry
        mods: list[Any] = [self.G]
        if (
            self.mode == "w"
            and self.mapping is not None
            and self.mapping is not getattr(self.G, "mapping", None)
        ):
            mods.append(self.mapping)
        weights = module_fingerprint(*mods)
        if weights is None:
            return None
        h = hashlib.sha256(weights.encode())
        h.update(json.dumps(self._args(), sort_keys=True).encode())
        if self.w_avg is not None:
            h.update(_tensor_bytes(self.w_avg))
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable summary (sampling arguments and fingerprint)."""
        return {
            "type": "Sampler",
            "generator": type(self.G).__name__,
            **self._args(),
            "fingerprint": self.fingerprint,
        }
