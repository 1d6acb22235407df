"""Embed one input once: decode each image once and feed every requested network.

:func:`embed` reads a :class:`~fastgan.evaluation.sources.Source` in batches and runs all
extractors on each decoded batch (Inception pool3 and its logits come from one forward pass),
optionally through the resumable chunk cache of :mod:`fastgan.evaluation.cache`, and only over
this rank's shard of the samples.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fastgan._checks import check_positive_int
from fastgan._progress import progress_bar
from fastgan.evaluation.cache import (
    PIPELINE_VERSION,
    Chunk,
    FeatureCache,
    chunk_grid,
    content_fingerprint,
    numeric_key,
)
from fastgan.evaluation.sampler import module_fingerprint
from fastgan.evaluation.sources import Source, open_source
from fastgan.features.embedding import embed_batch, is_native
from fastgan.features.fast import fast_module
from fastgan.features.networks import build_extractor, network_key
from fastgan.features.presets import Preset, get_preset

__all__ = ["Embedding", "embed", "shard_range", "DEFAULT_CHUNK_ROWS"]

logger = logging.getLogger(__name__)

#: target rows per cache chunk (rounded to a multiple of the batch size)
DEFAULT_CHUNK_ROWS = 4096


@dataclass
class Embedding:
    """What :func:`embed` produced for one input (this rank's rows only).

    Attributes:
        arrays: ``"inception"`` (Tensor[n, 2048] pool3) with ``"logits"`` (Tensor[n, 1008],
            fc without bias, from the same forward pass), ``"vgg16"`` (Tensor[n, 4096] fc2),
            any other extractor by its name; ``{"features": Tensor[n, D]}`` for a features input;
            empty for statistics. CPU tensors, float32 for fastgan's networks.
        stats: the :class:`~fastgan.metrics.FeatureStats` of a statistics input, else None.
        offset: global index of this shard's first sample (``rank * N // world``).
        n_total: N, the number of samples of the whole input (all ranks, skipped ones included).
        skipped: ``"path: reason"`` of unreadable files skipped in this shard (``skip_bad``).
        seconds_network: time spent in the networks (preprocessing on the device + forward
            passes; CUDA-synchronised).
        seconds_total: wall time of the call.
        rows_computed: samples embedded by this call; rows_cached: samples read from the cache.
        source: :meth:`Source.describe` of the input.
        cache_dirs: the cache folder of each extractor (empty when not cached).
    """

    arrays: dict[str, torch.Tensor]
    stats: Any = None
    offset: int = 0
    n_total: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds_network: float = 0.0
    seconds_total: float = 0.0
    rows_computed: int = 0
    rows_cached: int = 0
    source: dict[str, Any] = field(default_factory=dict)
    cache_dirs: dict[str, str] = field(default_factory=dict)


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous block ``[rank * n // world, (rank + 1) * n // world)`` of rank ``rank``."""
    return rank * n // world, (rank + 1) * n // world


def _check_shard(shard: Any) -> tuple[int, int]:
    if not isinstance(shard, (tuple, list)) or len(shard) != 2:
        raise ValueError(f"shard: expected (rank, world_size), got {shard!r}")
    rank, world = shard
    world = check_positive_int(world, "shard world_size")
    rank = check_positive_int(rank, "shard rank", minimum=0)
    if rank >= world:
        raise ValueError(f"shard: rank {rank} must be < world_size {world}")
    return rank, world


def _canonical(name: str) -> str:
    """``"inception"`` for any spelling of it in the network table, and for ``"logits"`` and
    ``"spatial"`` (they come from the same forward pass); any other name as given (it keys the arrays)."""
    if name.lower().replace("-", "").replace("_", "") in _PASS_OUTPUTS or network_key(name) == "inception":
        return "inception"
    return name


#: arrays that come out of the Inception forward pass besides pool3 (extractor names that mean it)
_PASS_OUTPUTS = ("logits", "spatial")


class _Net:
    """One extractor and how to feed it a decoded batch (``spatial``: the Inception pass also
    returns the 2023-d sFID features, computed only when a metric needs them)."""

    def __init__(
        self,
        name: str,
        module: Any,
        device: torch.device,
        dtype: torch.dtype,
        spatial: bool = False,
        fast: bool = False,
    ) -> None:
        self.name = name
        self.fast = fast  # the networks in reduced precision (fastgan.features.fast)
        self.module = module
        self.device = device
        self.dtype = dtype
        self.native = is_native(module)
        self.logits = (
            name == "inception"
            and bool(getattr(module, "has_logits", False))
            and hasattr(module, "logits_from_pool3")
        )
        self.spatial = spatial and name == "inception" and self.native and hasattr(module, "spatial_dim")
        self.keys = [name] + (["logits"] if self.logits else []) + (["spatial"] if self.spatial else [])
        self.resize = getattr(module, "resize", "bilinear")
        size = getattr(module, "input_size", None)
        self.size = None if size is None or self.resize == "none" else (int(size), int(size))

    def __call__(self, imgs: Any) -> list[torch.Tensor]:
        """One decoded batch -> the outputs of :attr:`keys` (the step extract_features runs too)."""
        if self.native:
            emb, lg, sp = self.module.embed, self.logits, self.spatial
            fn = (lambda x: emb(x, with_logits=True, with_spatial=True)) if lg and sp else emb
            if lg != sp:
                fn = (lambda x: emb(x, with_logits=True)) if lg else (lambda x: emb(x, with_spatial=True))
        else:  # a plain network on float [0, 1] images at its input size
            fn = self.module
        if self.fast:
            fn = fast_module(fn, self.device)
        return embed_batch(
            fn,
            self.module,
            imgs,
            native=self.native,
            size=self.size,
            mode=self.resize,
            device=self.device,
            dtype=self.dtype,
            name=self.name,
            who=f"extractor {self.name!r}",
        )

    def weights_id(self) -> Optional[str]:
        if not isinstance(self.module, nn.Module):
            return None
        if not any(True for _ in self.module.state_dict()):
            return "none"
        return module_fingerprint(self.module)

    def key_fields(self, source: Source, preset: str, fingerprint: Optional[str]) -> Optional[dict[str, Any]]:
        wid = self.weights_id()
        if wid is None or fingerprint is None or source.n is None:
            return None
        label = source.path.rstrip("/").split("/")[-1] if source.path else source.origin
        return {
            "label": label,
            "source_fingerprint": fingerprint,
            "n": source.n,
            "skip_bad": bool(source.skip_bad),  # a run that skips bad files must not serve one that raises
            "extractor": self.name,
            "network": type(self.module).__qualname__,
            "resize": self.resize,
            "preset": preset,
            "dtype": str(self.dtype).replace("torch.", ""),
            **({"fast": True} if self.fast else {}),
            "weights_sha256": wid,
            "outputs": self.keys,
            "pipeline_version": PIPELINE_VERSION,
            **numeric_key(self.device),  # thread count etc.: they change the features' last bits
        }


def _key_fingerprint(src: Source, verify: bool) -> Optional[str]:
    """The fingerprint the cache key uses: the source's (files: path, size, mtime), or with
    ``verify`` a sha256 of the files' contents (:func:`fastgan.evaluation.cache.content_fingerprint`;
    in-memory arrays and generators are fingerprinted by content already)."""
    if not verify or src.fingerprint is None:
        return src.fingerprint
    if src.origin in ("folder", "files"):
        return content_fingerprint(src.files)
    if src.origin == "array" and src.path is not None:  # an image stack read from one file
        return content_fingerprint([src.path])
    return src.fingerprint


def _build_nets(
    extractors: Sequence[str],
    models: Optional[Mapping[str, Any]],
    weights: Optional[Mapping[str, Optional[str]]],
    preset: Preset,
    device: torch.device,
    dtype: torch.dtype,
) -> list[_Net]:
    names: list[str] = []
    for e in extractors:
        if not isinstance(e, str):
            raise TypeError(f"extractors: expected names, got {type(e).__name__} (pass modules with models=)")
        c = _canonical(e)
        if c not in names:
            names.append(c)
    if not names:
        raise ValueError("extractors: at least one extractor is needed for an images input")
    given = {(_canonical(k)): v for k, v in (models or {}).items()}
    weights = {(_canonical(k)): v for k, v in (weights or {}).items()}
    nets = []
    for name in names:
        if name in given:
            module = given[name]
            have = getattr(module, "preset", None)
            if have is not None and get_preset(have).name != preset.name:
                raise ValueError(
                    f"models[{name!r}]: built with preset {get_preset(have).name!r}, not {preset.name!r}"
                )
            if isinstance(module, nn.Module):
                module = module.to(device)
        else:
            module = build_extractor(name, weights=weights.get(name), preset=preset, device=device)
        if dtype == torch.float64 and isinstance(module, nn.Module):
            module = module.to(dtype=torch.float64)  # a float64 pipeline: weights and arithmetic in float64
        spatial = name == "inception" and any(e.lower() == "spatial" for e in extractors)
        nets.append(_Net(name, module, device, dtype, spatial=spatial, fast=preset.pipeline.fast))
    if any(e.lower() == "spatial" for e in extractors):
        if not next(n for n in nets if n.name == "inception").spatial:
            raise ValueError(
                "extractors: 'spatial' (the sFID features) needs fastgan's InceptionV3FID, not another module"
            )
    if any(e.lower() == "logits" for e in extractors):
        if not next(n for n in nets if n.name == "inception").logits:
            raise ValueError(
                "extractors: 'logits' needs an Inception network with its fc layer (the TF FID weights)"
            )
    return nets


def _bar(enabled: Optional[bool], total: Optional[int], desc: str) -> tqdm:
    return progress_bar(enabled, total=total, desc=desc, unit="img")


def embed(
    source: Any,
    *,
    extractors: Sequence[str] = ("inception",),
    preset: Optional[str] = None,
    weights: Optional[Mapping[str, Optional[str]]] = None,
    batch_size: int = 50,
    num_workers: int = 0,
    device: Optional[torch.device | str] = None,
    cache_dir: Optional[str] = None,
    progress: Optional[bool] = None,
    shard: tuple[int, int] = (0, 1),
    models: Optional[Mapping[str, Any]] = None,
    chunk_rows: Optional[int] = None,
    name: str = "input",
    verify: bool = False,
) -> Embedding:
    """Embed an input once with every requested network (this rank's shard only).

    Args:
        source: a :class:`~fastgan.evaluation.sources.Source`, or anything
            :func:`~fastgan.evaluation.sources.open_source` accepts (opened with ``name``).
        extractors: network names: ``"inception"`` (gives ``"inception"`` pool3 and ``"logits"``
            in one pass), ``"vgg16"``, or any name :func:`fastgan.features.build_extractor` knows.
        preset: image pipeline of a reference (:mod:`fastgan.features.presets`; None: default).
        weights: weights file per extractor name (None: the network's default lookup).
        batch_size: images per forward pass. Batches follow the global grid of the sample order
            (``[k * batch_size, (k + 1) * batch_size)``), as :func:`fastgan.features.extract_features`.
        num_workers: DataLoader worker processes decoding image files (0: in this process).
        device: where the networks run (default: CUDA when available, else CPU). Decoded
            batches are pinned for CUDA.
        cache_dir: cache extracted features there (:mod:`fastgan.evaluation.cache`): chunks of
            rows written atomically; an interrupted run resumes from its completed chunks. Inputs
            without a fingerprint (a user DataLoader, a non-module generator) are not cached.
        progress: progress bar on stderr with rate and ETA (None: only when stderr is a terminal).
        shard: ``(rank, world_size)``: embed only ``[rank * N // world, (rank + 1) * N // world)``;
            concatenating the ranks' rows in rank order gives the single-process rows.
        models: already built networks by extractor name (used instead of building them; e.g.
            to share one network between the real and the fake side).
        chunk_rows: rows per cache chunk (rounded up to a multiple of ``batch_size``; default
            about :data:`DEFAULT_CHUNK_ROWS`).
        name: the input's name in messages when ``source`` is not a Source yet.
        verify: key the cache on a sha256 of the files' contents (each file read once more)
            instead of their paths, sizes and mtimes, which miss a rewrite that keeps the size
            and restores the mtime (see :mod:`fastgan.evaluation.cache`).

    Returns:
        :class:`Embedding`. For a features input, ``arrays == {"features": rows of the shard}``;
        for statistics, ``stats`` is set and ``arrays`` is empty (statistics are not sharded:
        every rank gets them, with ``offset = 0``).

    Raises:
        ValueError: unknown extractor, unreadable image (named), a network returning the wrong
            shape, an input of unknown length with ``world_size > 1``, no readable image.

    Matches: :func:`fastgan.features.extract_features` bit for bit (same decode, same batches,
    same network calls) for every extractor; Inception pool3 + logits as torch-fidelity's
    single forward pass.

    >>> emb = embed(torch.zeros(4, 8), name="real")  # features pass through
    >>> emb.arrays["features"].shape
    torch.Size([4, 8])
    """
    t0 = time.perf_counter()
    batch_size = check_positive_int(batch_size, "batch_size")
    num_workers = check_positive_int(num_workers, "num_workers", minimum=0)
    rank, world = _check_shard(shard)
    src = source if isinstance(source, Source) else open_source(source, name=name)
    if src.kind != "images":
        return _passthrough(src, rank, world, t0)

    resolved = get_preset(preset)  # hands a resolved Preset back as it is (evaluate resolves it once)
    preset_name, dtype = resolved.name, resolved.pipeline.dtype
    dev = (
        torch.device(device)
        if device is not None
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    nets = _build_nets(extractors, models, weights, resolved, dev, dtype)
    if src.n is None and world > 1:
        raise ValueError(
            f"shard: {src.name} has no known length (an iterable without len), so it cannot be split across "
            f"{world} ranks; pass a DataLoader over a sized dataset"
        )
    lo, hi = shard_range(src.n, rank, world) if src.n is not None else (0, None)
    out = Embedding(arrays={}, offset=lo, n_total=int(src.n or 0), source=src.describe())
    out.skipped.extend(src.skipped if rank == 0 else [])
    run = _Pass(src, out, batch_size, num_workers, dev, (lo, hi))
    was_training = [(n, n.module.training) for n in nets if isinstance(n.module, nn.Module)]
    for n, _ in was_training:
        n.module.eval()
    try:
        desc = f"{src.name}: {'+'.join(n.name for n in nets)}"
        with torch.inference_mode(), _bar(progress, None if hi is None else hi - lo, desc) as bar:
            run.bar = bar
            caches = _open_caches(src, nets, cache_dir, preset_name, bool(verify))
            out.cache_dirs = {k: str(c.dir) for k, c in caches.items()}
            chunks = _chunks(run, nets, caches, chunk_rows)
    finally:
        for n, training in was_training:
            n.module.train(training)
    _assemble(out, chunks, nets, lo, hi)
    if not any(v.shape[0] for v in out.arrays.values()) and (hi is None or hi > lo):
        raise ValueError(
            f"{src.name}: no readable images (all {len(out.skipped)} skipped)"
            if out.skipped
            else f"{src.name}: no images were found in the input"
        )
    if hi is None:
        out.n_total = sum(int(c.valid.shape[0]) for c in chunks)
    out.seconds_network = run.timer.total
    out.seconds_total = time.perf_counter() - t0
    return out


def _passthrough(src: Source, rank: int, world: int, t0: float) -> Embedding:
    """A statistics input (every rank gets it, ``offset = 0``) or this rank's rows of a features input."""
    if src.kind == "stats":
        return Embedding(
            arrays={},
            stats=src.stats,
            offset=0,
            n_total=int(src.n or 0),
            source=src.describe(),
            seconds_total=time.perf_counter() - t0,
        )
    assert src.features is not None
    lo, hi = shard_range(src.features.shape[0], rank, world)
    return Embedding(
        arrays={"features": src.features[lo:hi]},
        offset=lo,
        n_total=int(src.features.shape[0]),
        source=src.describe(),
        seconds_total=time.perf_counter() - t0,
    )


def _open_caches(
    src: Source, nets: list[_Net], cache_dir: Optional[str], preset: str, verify: bool
) -> dict[str, FeatureCache]:
    """The feature cache of each network whose rows can be cached (a fingerprinted input of known length)."""
    caches: dict[str, FeatureCache] = {}
    if cache_dir is None or src.n is None:
        return caches
    fingerprint = _key_fingerprint(src, verify)
    for net in nets:
        fields = net.key_fields(src, preset, fingerprint)
        if fields is not None:
            caches[net.name] = FeatureCache(cache_dir, fields)
    if not caches:
        logger.info("embed: %s is not cached (no content fingerprint)", src.name)
    return caches


class _Pass:
    """One embedding pass over the shard ``[lo, hi)`` of a source: decodes batches and runs networks."""

    def __init__(
        self,
        src: Source,
        out: Embedding,
        batch_size: int,
        num_workers: int,
        device: torch.device,
        shard: tuple[int, Optional[int]],
    ) -> None:
        self.src = src
        self.out = out
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin = device.type == "cuda"
        self.timer = _Timer(device)
        self.lo, self.hi = shard
        self.bar: Any = None

    def compute(self, a: int, b: Optional[int], todo: list[_Net]) -> Chunk:
        """Rows of samples [a, b) for the networks ``todo`` (one decode of each batch).

        The range is widened to whole batches of the global grid (a user DataLoader: to its
        own batches), so every sample is embedded in the same batch as in a single-process
        run, whatever the shard borders; the caller cuts the rows it needs."""
        src, batch_size = self.src, self.batch_size
        a0 = (a // batch_size) * batch_size
        b0 = None if b is None else min(-(-b // batch_size) * batch_size, src.n if src.n is not None else b)
        parts: dict[str, list[torch.Tensor]] = {k: [] for n in todo for k in n.keys}
        valid: list[np.ndarray] = []
        skipped: list[str] = []
        first: Optional[int] = None
        stop_seen = a
        for batch in src.batches(
            a0, b0, batch_size=batch_size, num_workers=self.num_workers, pin_memory=self.pin, whole=True
        ):
            first = batch.start if first is None else first
            mask = np.ones(batch.stop - batch.start, dtype=np.bool_)
            for i, msg in batch.bad:
                mask[i - batch.start] = False
                skipped.append(msg)
            if len(batch):
                with self.timer:
                    for net in todo:
                        for k, o in zip(net.keys, net(batch.images)):
                            parts[k].append(o)
            valid.append(mask)
            stop_seen = batch.stop
            done = max(0, min(batch.stop, b if b is not None else batch.stop) - max(batch.start, a))
            self.out.rows_computed += done
            _tick(self.bar, batch.start, batch.stop, self.lo, self.hi)
        arrays = {k: (torch.cat(v).numpy() if v else np.zeros((0, 0), np.float32)) for k, v in parts.items()}
        return Chunk(
            a if first is None else first,
            stop_seen,
            arrays,
            np.concatenate(valid) if valid else np.zeros(0, np.bool_),
            skipped,
        )


def _chunks(
    run: _Pass, nets: list[_Net], caches: dict[str, FeatureCache], chunk_rows: Optional[int]
) -> list[Chunk]:
    """The shard as chunks: through the cache (chunk by chunk), else in one pass."""
    src, lo, hi, batch_size = run.src, run.lo, run.hi, run.batch_size
    if hi is not None and hi == lo and src.n:
        # an empty shard (N < world): embed one batch anyway, so that the empty arrays
        # still have the right feature dimension [0, D]
        p = min(lo, src.n - 1)
        return [run.compute(p, p + 1, nets)]
    if not (caches and hi is not None):
        return [run.compute(lo, hi, nets)]
    crows = chunk_rows if chunk_rows is not None else DEFAULT_CHUNK_ROWS
    crows = batch_size * math.ceil(check_positive_int(crows, "chunk_rows") / batch_size)
    assert src.n is not None
    pieces = [g for g in chunk_grid(src.n, crows) if g[1] > lo and g[0] < hi]
    chunks = [
        _cached_chunk(a, b, nets, caches, batch_size, run.compute, run.bar, run.out, (lo, hi))
        for a, b in pieces
    ]
    for c in caches.values():
        c.write_manifest(src.n, crows, batch_size, {"source": src.describe()})
    return chunks


def _cached_chunk(
    a: int,
    b: int,
    nets: list[_Net],
    caches: dict[str, FeatureCache],
    batch_size: int,
    compute: Callable[..., Chunk],
    bar: tqdm,
    out: Embedding,
    shard: tuple[int, Optional[int]],
) -> Chunk:
    """Chunk [a, b) for every network: reuse the cached ones, compute the rest in one decode."""
    have: dict[str, Chunk] = {}
    for net in nets:
        c = caches.get(net.name)
        got = c.load(a, b, batch_size) if c is not None else None
        if got is not None:
            have[net.name] = got
    todo = [n for n in nets if n.name not in have]
    if not todo:
        out.rows_cached += b - a
        _tick(bar, a, b, *shard)
        first = next(iter(have.values()))
        arrays = {k: v for ch in have.values() for k, v in ch.arrays.items()}
        return Chunk(a, b, arrays, first.valid, first.skipped)
    fresh = compute(a, b, todo)
    for net in todo:
        if net.name in caches:
            caches[net.name].save(
                Chunk(a, b, {k: fresh.arrays[k] for k in net.keys}, fresh.valid, fresh.skipped), batch_size
            )
    for ch in have.values():
        if not np.array_equal(ch.valid, fresh.valid):
            raise RuntimeError(
                f"feature cache: the cached chunk [{a}, {b}) marks other samples unreadable than this run "
                "(did the files change without changing size or mtime?); clear the cache folder"
            )
        fresh.arrays.update(ch.arrays)
    return fresh


def _tick(bar: tqdm, a: int, b: int, lo: int, hi: Optional[int]) -> None:
    """Advance the bar by the samples of [a, b) inside this shard [lo, hi)."""
    bar.update(max(0, (b if hi is None else min(b, hi)) - max(a, lo)))


def _assemble(out: Embedding, chunks: list[Chunk], nets: list[_Net], lo: int, hi: Optional[int]) -> None:
    """Cut the shard [lo, hi) out of the (possibly larger) chunks and concatenate."""
    keys = [k for n in nets for k in n.keys]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for ch in chunks:
        a = max(lo, ch.start) - ch.start
        b = (min(hi, ch.stop) if hi is not None else ch.stop) - ch.start
        r0, r1 = int(ch.valid[:a].sum()), int(ch.valid[:b].sum())
        for k in keys:
            parts[k].append(ch.arrays[k][r0:r1])
        if ch.skipped:
            bad = np.flatnonzero(~ch.valid)
            # skipped[] lists the chunk's bad samples in index order
            out.skipped.extend(m for i, m in zip(bad, ch.skipped) if a <= i < b)
    out.arrays = {
        k: torch.from_numpy(np.ascontiguousarray(np.concatenate([p for p in v if p.size] or v)))
        for k, v in parts.items()
    }


class _Timer:
    """Accumulated wall time of the ``with`` blocks (CUDA-synchronised)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.total = 0.0
        self._t = 0.0

    def __enter__(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self._t = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self.total += time.perf_counter() - self._t
