"""``fastgan.evaluate(real, fake, ...)``: every metric from one embedding pass per input.

The steps (each input is read and embedded exactly once):

1. :func:`fastgan.evaluation.sources.open_source` classifies each input: an image folder, a list
   of image paths, an image or feature array / tensor, a feature or statistics file, a
   ``DataLoader``, or a :class:`~fastgan.evaluation.Sampler` (a generator).
2. The requested metrics decide the arrays (:mod:`fastgan.evaluation.registry`): Inception pool3
   and its logits come from the same forward pass; VGG-16 runs only when ``pr`` is requested on
   images; ``extractor=`` replaces the feature network of every feature-set metric.
3. :func:`fastgan.evaluation.embed.embed` runs every network in one pass over the decoded images
   (optionally through the on-disk cache) and returns only this rank's shard of the rows.
4. Each metric's :class:`~fastgan.metrics.Metric` is fed with ``update(..., real=)``, merged
   across ranks with :meth:`~fastgan.metrics.Metric.sync` (all-reduce of float64 statistics for
   FID / IS, one tensor all-gather per feature array for the bank metrics) and computed.

Distributed: inside an initialised ``torch.distributed`` process group (or with ``group=``)
every input is sharded across the ranks (rank r embeds the contiguous rows
``[r N / W, (r + 1) N / W)``), every rank must call :func:`evaluate` with the same arguments,
and every rank returns the same :class:`EvalResult`. Given the same features, FID, KID and the
Inception Score equal the single-process values to ~1e-12 relative (sums in a different order),
PRDC and the other k-NN metrics exactly. Images embedded on the CPU are the same features only
at the same thread count and batch size: oneDNN's convolutions round by thread count, and
``torchrun`` sets ``OMP_NUM_THREADS=1`` where a plain run uses every core (see
:mod:`fastgan.evaluation.cache`, which keys on the thread count).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import torch

from fastgan.evaluation.arguments import (
    _check_extractor,
    _check_loader,
    _resolve_given,
    check_device,
    weights_map,
)
from fastgan.evaluation.compute import _compute_metrics
from fastgan.evaluation.protocols import protocol_report, setup_call
from fastgan.evaluation.registry import DEFAULT_METRICS, parse_metrics
from fastgan.evaluation.result import EvalResult
from fastgan.evaluation.stages import _embed_inputs, _make_run, _note_non_finite, _open_inputs, _report

__all__ = ["evaluate", "EvalResult", "check_device", "weights_map"]


def evaluate(
    real: Any,
    fake: Any,
    *,
    metrics: Union[str, Sequence[str]] = DEFAULT_METRICS,
    extractor: Optional[str] = None,
    preset: Any = "pytorch-fid",
    cache_dir: Optional[Union[str, os.PathLike[str]]] = None,
    device: Optional[Union[str, torch.device]] = None,
    batch_size: int = 50,
    num_workers: int = 0,
    weights: Any = None,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    k: Optional[int] = None,
    kid_subsets: Optional[int] = None,
    kid_subset_size: Optional[int] = None,
    splits: Optional[int] = None,
    seed: Optional[int] = None,
    skip_bad: bool = False,
    progress: Optional[bool] = None,
    group: Any = None,
    logits: Any = None,
    verify: bool = False,
    protocol: Optional[str] = None,
    strict: bool = False,
    float64: bool = False,
    fast: bool = False,
) -> EvalResult:
    """Evaluate ``fake`` against ``real`` with every requested metric, embedding each input once.

    Args:
        real, fake: an image folder (path), a list of image paths, a features / statistics file
            (``.npy`` / ``.npz`` / ``.pt``), images ``Tensor[N, H, W, 3]`` / ``[N, 3, H, W]``
            (uint8, or float in [0, 1]), features ``Tensor[N, D]`` (float, used as given),
            a :class:`~fastgan.metrics.FeatureStats` (FID only), a ``DataLoader`` of image batches,
            or a :class:`~fastgan.evaluation.Sampler` (``fake=fastgan.Sampler(G, z_dim, n=50_000)``).
        metrics: names or a comma-separated string (:data:`fastgan.evaluation.METRICS`: fid, kid,
            prdc, pr, is, fd, cmmd, vendi, sliced_wasserstein, p_precision_recall, top_pr; ``"all"``
            = fid, kid, prdc, pr). Default: fid, kid, prdc.
        extractor: feature network for the feature-set metrics on images (default: Inception-v3
            pool3; ``pr`` uses VGG-16 fc2 as its references do). Any name that
            :func:`fastgan.features.build_extractor` accepts. The Inception Score always uses the
            Inception logits.
        preset: ``"pytorch-fid"`` | ``"torch-fidelity"`` | ``"clean-fid"`` | ``"adm"`` or a
            :class:`~fastgan.features.Preset`: the image pipeline and every metric convention
            (``"adm"`` without ``metrics``: fid, sfid, is, adm_pr).
        cache_dir: folder of the on-disk feature cache (None: no cache). An entry is reused when its
            key matches (:mod:`fastgan.evaluation.cache`): the input's fingerprint (image files: paths,
            sizes, mtimes; ``verify=True``: a sha256 of their contents, for files rewritten with the
            same size and mtime), network, weights, preset, ``skip_bad``, device, torch, CPU threads.
        device: where the networks and the metrics run (None: the networks on CUDA when
            available, else the CPU; the metrics on the CPU). Under ``torchrun`` with NCCL pass
            this rank's GPU (``cuda:LOCAL_RANK``).
        batch_size: images per forward pass. num_workers: ``DataLoader`` workers for decoding.
        weights: weights file of the feature network (``extractor`` or Inception), or a dict
            ``{extractor name: path}``. Nothing is downloaded.
        options: per-metric options ``{metric: {option: value}}``, e.g.
            ``{"prdc": {"k": 5}, "pr": {"k": 3}, "kid": {"subsets": 50}}`` (each metric's options
            and defaults: :data:`fastgan.evaluation.METRICS`, :class:`~fastgan.evaluation.registry.Option`);
            they override the shared keywords below and the preset.
        k: deprecated (DeprecationWarning): one neighbourhood size for prdc, pr and
            p_precision_recall at once (their defaults: 5 / the preset's ``pr_k`` / 4); use ``options``.
        kid_subsets, kid_subset_size, splits: KID rounds and rows per round, IS splits
            (default: the preset's). A default subset size larger than a sample count is reduced
            to it with a note; an explicit one that is too large is an error.
        seed: seed of the random draws (KID subsets, sliced-Wasserstein directions). None: the preset's
            KID seed (torch-fidelity: 2020, with its numpy RandomState), else 0 (same draws on every rank).
        skip_bad: skip unreadable image files (listed in ``info``) instead of raising.
        progress: tqdm bars on stderr (None: when stderr is a terminal). group: ``torch.distributed``
            process group (default: the world group when initialised).
        logits: classifier logits ``[N, C]`` of the fake samples (array, tensor, file) for ``is``.
        protocol: a named protocol (:data:`fastgan.evaluation.protocols.PROTOCOLS`: fid50k_full,
            kid50k_full, pr50k3_full, is50k, fd_dinov2, adm) fixing metrics, options, preset and sample
            counts; other counts add a note (``strict=True``: a ValueError). float64: embed in float64
            (weights and inputs), features independent of the batch size.
        fast: the networks in reduced precision (:mod:`fastgan.features.fast`; bfloat16 / float16):
            features move by ~3e-3, FID beyond the presets' parity: never for published numbers.

    Returns:
        :class:`EvalResult` (``Mapping[str, float]`` + ``info``); the same on every rank.

    Raises:
        ValueError: (or TypeError) naming the argument (``"fake: ..."``, ``"metrics: ..."``,
            ``"kid_subset_size: ..."``, ``"device: ..."`` for a device that does not parse or does not
            exist here, e.g. ``cuda`` without a GPU); a statistics input with a metric that needs
            per-sample features named explicitly.

    Matches: each metric's reference through its function (:mod:`fastgan.metrics`), preset's conventions.

    >>> import torch, fastgan
    >>> g = torch.Generator().manual_seed(0)
    >>> r = fastgan.evaluate(torch.randn(200, 8, generator=g), torch.randn(150, 8, generator=g) + 1,
    ...                      metrics="fid,prdc")
    >>> sorted(r)
    ['coverage', 'density', 'fid', 'precision', 'recall']
    """
    t_start = time.perf_counter()
    # ---- the arguments, the protocol and THE resolution of the preset (below: plain values)
    proto, metrics, p, options, extractor, explicit = setup_call(
        metrics, preset, options, extractor, protocol, float64, DEFAULT_METRICS, fast=fast
    )
    names = parse_metrics(metrics)
    given = _resolve_given(
        names,
        options,
        k=k,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        splits=splits,
        seed=seed,
    )
    batch_size = _check_loader(batch_size, num_workers)
    extractor = _check_extractor(extractor)
    run = _make_run(group, check_device(device, "device"))

    # ---- 1. open the inputs
    inputs = _open_inputs(
        run,
        real,
        fake,
        logits,
        names,
        explicit=explicit,
        extractor=extractor,
        no_vgg=p.name if p.pipeline.vgg_resize is None else None,
        skip_bad=skip_bad,
        cache_dir=cache_dir,
    )

    # ---- 2. embed each input once (the preset's image pipeline goes to the networks as the resolved Preset)
    emb = _embed_inputs(
        run,
        inputs,
        extractor=extractor,
        preset=p,
        weights=weights,
        batch_size=batch_size,
        num_workers=num_workers,
        cache_dir=cache_dir,
        progress=progress,
        verify=verify,
    )

    # ---- 3. every metric from the one pass (its options as plain values, from the preset's conventions)
    values, opts_used, seconds = _compute_metrics(run, inputs, emb, p.conventions, given, extractor, progress)

    # ---- 4. the report
    info = _report(run, inputs, emb, p, extractor, opts_used, seconds, t_start)
    return _finish(run, values, info, proto, strict)


def _finish(run: Any, values: dict[str, float], info: dict[str, Any], proto: Any, strict: bool) -> EvalResult:
    """The result: the protocol's report (and its notes) when one was named, non-finite values noted."""
    if proto is not None:
        info["protocol"], proto_notes = protocol_report(proto, values, info, strict=strict)
        run.notes.extend(proto_notes)
    _note_non_finite(run, values)
    return EvalResult(values, info)
