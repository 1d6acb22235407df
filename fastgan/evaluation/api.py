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

import json
import math
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Optional, Union

import torch

from fastgan._checks import check_positive_int
from fastgan.evaluation.registry import (
    DEFAULT_METRICS,
    METRICS,
    MetricSpec,
    given_options,
    keyword_targets,
    parse_metrics,
    resolve_options,
    run_metric,
)
from fastgan.metrics._base import BankMetric

__all__ = ["evaluate", "EvalResult", "check_device"]

#: array name -> the extractor that produces it (logits come from the Inception pass)
_PRODUCER = {"logits": "inception"}
#: names of the Inception network (lower case, without "-" / "_")
_INCEPTION_ALIASES = ("inception", "inceptionv3")


class EvalResult(Mapping[str, float]):
    """The result of :func:`evaluate`: a read-only mapping ``{result key: float}`` plus ``info``.

    Keys are the metrics' result keys in table order (``fid``, ``kid_mean``, ``kid_std``,
    ``precision``, ``recall``, ``density``, ``coverage``, ``pr_precision``, ``pr_recall``,
    ``is_mean``, ``is_std``, ``fd``, ``cmmd``, ...; see :data:`fastgan.evaluation.METRICS`).

    ``info`` (JSON-serialisable dict):

    * ``real`` / ``fake`` (/ ``logits``): each input described (:meth:`Source.describe`: kind,
      path or type, n, fingerprint) plus ``arrays`` (name -> ``[N, D]``) and ``skipped_files``
      (``skip_bad=True``);
    * ``computed``: the metrics computed (names); ``options``: per metric, the conventions used
      (k, KID subsets, IS splits, seed, ...); ``preset``: the preset's name and table row;
    * ``seconds``: ``total``, ``embed_real``, ``embed_fake``, ``network`` (seconds in the
      feature networks, this rank) and one entry per metric;
    * ``notes``: everything the user should know (metrics skipped, sizes reduced);
    * ``world_size``, ``versions`` (fastgan, torch).

    ``to_dict()`` gives ``{"metrics": {...}, **info}``; ``to_json()`` its JSON text;
    ``EvalResult.from_dict`` / ``from_json`` read them back.
    """

    def __init__(self, values: Mapping[str, float], info: Optional[dict[str, Any]] = None) -> None:
        self._values = {str(k): float(v) for k, v in values.items()}
        self.info: dict[str, Any] = dict(info or {})

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def notes(self) -> list[str]:
        """The notes of :attr:`info` (possibly empty)."""
        return list(self.info.get("notes", []))

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics": {key: float}, **info}`` (plain Python values)."""
        return {"metrics": dict(self._values), **self.info}

    def to_json(self, indent: Optional[int] = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or not isinstance(d.get("metrics"), Mapping):
            raise ValueError("d: expected a mapping with a 'metrics' mapping (EvalResult.to_dict output)")
        info = {k: v for k, v in d.items() if k != "metrics"}
        return cls(d["metrics"], info)

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EvalResult):
            return self._values == other._values and self.info == other.info
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v:.6g}" for k, v in self._values.items())
        return f"EvalResult({body})"


# ----------------------------------------------------------------------------- distributed
def _rank_world(group: Any) -> tuple[int, int]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        if group is not None:
            raise ValueError("group: given, but torch.distributed is not initialised")
        return 0, 1
    return int(dist.get_rank(group)), int(dist.get_world_size(group))


def _all_ok(ok: bool, group: Any, world: int, device: Optional[torch.device]) -> bool:
    """True when every rank reports ok (one all-reduce of a flag; no-op with one rank)."""
    if world == 1:
        return ok
    import torch.distributed as dist

    from fastgan.metrics._base import comm_device

    flag = torch.tensor([0 if ok else 1], dtype=torch.int64, device=comm_device(group, device))
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=group)
    return int(flag.item()) == 0


def _collective(fn: Any, group: Any, world: int, device: Optional[torch.device], what: str) -> Any:
    """Run a rank-local step; if it fails on any rank, every rank raises (no rank waits forever).

    The failing rank re-raises its own exception; the others raise a ValueError that says so.
    """
    try:
        out = fn()
    except BaseException:
        _all_ok(False, group, world, device)
        raise
    if not _all_ok(True, group, world, device):
        raise ValueError(f"{what}: failed on another rank (its error is printed by that rank)")
    return out


class _Banks(BankMetric):
    """The real and fake rows of one array pair: gathered from every rank by :meth:`BankMetric.sync`
    (one tensor all-gather per side, rank order = the single-process order), then shared by every
    bank metric (KID, PRDC, pr, CMMD, ...) instead of one gather per metric."""

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Tensor[N, D] real rows, Tensor[M, D] fake rows)."""
        return self._bank(real=True), self._bank(real=False)


# ----------------------------------------------------------------------------- helpers
def _check_optional_int(value: Any, name: str, minimum: int = 1) -> Optional[int]:
    return None if value is None else check_positive_int(value, name, minimum=minimum)


def check_device(device: Any, name: str = "device") -> Optional[torch.device]:
    """``device`` as a ``torch.device`` that exists here (None stays None), else a one-line ValueError
    naming ``name`` (``"device"``; the command line passes ``"--device"``).

    Refused: a string torch cannot parse (``"foo"``), CUDA without a usable GPU, a GPU index
    beyond the ones present, MPS where it is not available, any other device type on which an
    empty tensor cannot be created.
    """
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)) or isinstance(device, bool):
        raise ValueError(f"{name}: expected a device name such as 'cpu' or 'cuda:0', got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if len(why) > 120:
            why = why[:117] + "..."
        raise ValueError(
            f"{name}: {str(device)!r} is not a torch device (e.g. cpu, cuda, cuda:1): {why}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}: {str(device)!r}: no CUDA GPU is available here "
                "(torch.cuda.is_available() is False); use cpu"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"{name}: {str(device)!r}: there {'is' if count == 1 else 'are'} only {count} "
                f"CUDA device(s) here (cuda:0 .. cuda:{count - 1})"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{name}: {str(device)!r}: MPS is not available here; use cpu")
    elif dev.type not in ("cpu", "meta"):
        try:
            torch.empty(0, device=dev)
        except Exception as exc:  # whatever the backend raises: the device is not usable
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise ValueError(f"{name}: {str(device)!r} is not usable here: {why}") from None
    return dev


def _weights_map(weights: Any, primary: str) -> dict[str, Optional[str]]:
    """``weights=``: a path (for the primary feature network) or ``{extractor name: path}``."""
    if weights is None:
        return {}
    if isinstance(weights, (str, os.PathLike)):
        out: dict[str, Optional[str]] = {primary: os.fspath(weights)}
    elif isinstance(weights, Mapping):
        out = {}
        for key, path in weights.items():
            if not isinstance(key, str):
                raise TypeError(f"weights: keys must be extractor names (str), got {type(key).__name__}")
            out[key] = None if path is None else os.fspath(path)
    else:
        raise TypeError(
            f"weights: expected a path or a dict {{extractor: path}}, got {type(weights).__name__}"
        )
    for key, path in out.items():
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"weights: {path} ({key}): no such file")
    return out


def _array_for(spec: MetricSpec, kind: str, extractor: Optional[str]) -> str:
    """Which array of an embedded input of ``kind`` the metric reads."""
    if kind != "images":
        return "features"
    if spec.needs == "logits":
        return "logits"
    if extractor is not None:
        return extractor
    if spec.needs == "vgg16":
        return "vgg16"
    return "inception"


def _versions() -> dict[str, str]:
    import fastgan

    return {"fastgan": fastgan.__version__, "torch": torch.__version__}


def _rows(emb: Any, group: Any, world: int, device: Optional[torch.device]) -> dict[str, int]:
    """Rows of an :class:`Embedding` over all ranks: ``offset`` (of this rank's first row),
    ``local``, ``total`` (rows embedded: skipped files excluded) and ``skipped`` (all ranks).

    One all-gather of two integers per rank; every rank must call it in the same order.
    """
    arrays = getattr(emb, "arrays", {}) or {}
    local = int(next(iter(arrays.values())).shape[0]) if arrays else 0
    skipped = len(getattr(emb, "skipped", []) or [])
    if world == 1:
        return {"offset": 0, "local": local, "total": local, "skipped": skipped}
    from fastgan.metrics._base import comm_device, gather_meta

    metas = gather_meta([local, skipped], group, comm_device(group, device))  # in rank order
    rank = _rank_world(group)[0]
    return {
        "offset": sum(m[0] for m in metas[:rank]),
        "local": local,
        "total": sum(m[0] for m in metas),
        "skipped": sum(m[1] for m in metas),
    }


# ----------------------------------------------------------------------------- evaluate
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
        preset: ``"pytorch-fid"`` | ``"torch-fidelity"`` | ``"clean-fid"`` or a
            :class:`~fastgan.features.Preset`: the image pipeline and every metric convention
            (KID subsets and subset rule, IS splits and shuffle, precision / recall k and ``<=``).
        cache_dir: folder of the on-disk feature cache (None: no cache; see
            :mod:`fastgan.evaluation.cache`). An entry is reused when its key matches: the
            input's fingerprint, the network and its weights, the preset, ``skip_bad``, and the
            arithmetic settings that change the features' last bits (device, torch version, CPU
            thread count). What the default fingerprint trusts: for image files their relative
            paths, sizes and modification times, so a file rewritten with the same size and its
            mtime restored (``cp -p``, ``rsync -t``, ``touch -r``) still hits the old features;
            pass ``verify=True`` where that can happen. Reading a complete entry writes nothing.
        verify: fingerprint image files by a sha256 of their contents (every file read once
            more per run) instead of their paths, sizes and mtimes.
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
        seed: seed of the random draws (KID subsets, sliced-Wasserstein directions). None: the
            preset's KID seed (torch-fidelity: 2020, drawn with its numpy RandomState as it
            does), else 0 (every run and every rank draws the same subsets).
        skip_bad: skip unreadable image files (listed in ``info``) instead of raising.
        progress: tqdm progress bars on stderr (None: only when stderr is a terminal).
        group: ``torch.distributed`` process group (default: the world group when initialised).
        logits: classifier logits ``[N, C]`` of the fake samples (array, tensor or file) for
            ``is`` when ``fake`` is not images.

    Returns:
        :class:`EvalResult` (``Mapping[str, float]`` + ``info``); the same on every rank.

    Raises:
        ValueError / TypeError naming the argument (``"fake: ..."``, ``"metrics: ..."``,
        ``"kid_subset_size: ..."``, ``"device: ..."`` for a device that does not parse or does not
        exist here, e.g. ``cuda`` without a GPU); a statistics input with a metric that needs per-sample
        features named explicitly.

    Matches: each metric's reference through its function (see :mod:`fastgan.metrics`) with
    the preset's conventions.

    >>> import torch, fastgan
    >>> g = torch.Generator().manual_seed(0)
    >>> r = fastgan.evaluate(torch.randn(200, 8, generator=g), torch.randn(150, 8, generator=g) + 1,
    ...                      metrics="fid,prdc")
    >>> sorted(r)
    ['coverage', 'density', 'fid', 'precision', 'recall']
    """
    t_start = time.perf_counter()
    from fastgan.features.presets import get_preset

    # ---- the arguments, and THE resolution of the preset (everything below gets plain values)
    names = parse_metrics(metrics)
    p = get_preset(preset)
    if k is not None:
        warnings.warn(
            f"evaluate: k= is deprecated; it set k of {', '.join(keyword_targets('k', names)) or 'no metric'}"
            "; pass options={'prdc': {'k': ...}, 'pr': {...}, 'p_precision_recall': {...}}",
            DeprecationWarning,
            stacklevel=2,
        )
    given = given_options(
        names,
        options,
        k=_check_optional_int(k, "k"),
        kid_subsets=_check_optional_int(kid_subsets, "kid_subsets"),
        kid_subset_size=_check_optional_int(kid_subset_size, "kid_subset_size", minimum=2),
        splits=_check_optional_int(splits, "splits"),
        seed=_check_seed(seed),
    )
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: must be a non-negative integer, got {num_workers!r}")
    extractor = _check_extractor(extractor)
    dev = check_device(device, "device")
    rank, world = _rank_world(group)
    run = _Run(
        group=group,
        rank=rank,
        world=world,
        dev=dev,
        net_dev=dev if dev is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu"),
    )

    # ---- 1. open the inputs
    inputs = _open_inputs(
        run,
        real,
        fake,
        logits,
        names,
        explicit=metrics is not DEFAULT_METRICS,
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
    for key, v in values.items():
        if not math.isfinite(v):
            run.notes.append(f"{key} is not finite ({v})")
    return EvalResult(values, info)


# ----------------------------------------------------------------------------- evaluate's stages
@dataclass
class _Run:
    """What every stage of one :func:`evaluate` call shares."""

    group: Any
    rank: int
    world: int
    dev: Optional[torch.device]  # where the metrics run (None: where the features are)
    net_dev: torch.device  # where the networks run
    notes: list[str] = field(default_factory=list)


@dataclass
class _Inputs:
    """The opened inputs and the metrics they allow (stage 1)."""

    names: list[str]
    real: Any
    fake: Any
    logits: Any = None


@dataclass
class _Embedded:
    """The embeddings of the inputs (stage 2; None: that input needed no array)."""

    real: Any
    fake: Any
    logits: Any = None


def _check_seed(seed: Any) -> Optional[int]:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
    return seed  # type: ignore[no-any-return]


def _check_extractor(extractor: Any) -> Optional[str]:
    if extractor is not None and not isinstance(extractor, str):
        raise TypeError(f"extractor: expected a name (str) or None, got {type(extractor).__name__}")
    if extractor is not None and extractor.lower().replace("-", "").replace("_", "") in _INCEPTION_ALIASES:
        return "inception"  # the array name embed() gives Inception, whatever alias was used
    return extractor


def _open_inputs(
    run: _Run,
    real: Any,
    fake: Any,
    logits: Any,
    names: list[str],
    *,
    explicit: bool,
    extractor: Optional[str],
    no_vgg: Optional[str],
    skip_bad: bool,
    cache_dir: Any,
) -> _Inputs:
    """Stage 1: classify each input and drop (with a note) or refuse the metrics it cannot give."""
    from fastgan.evaluation.sources import open_source

    exclude = [cache_dir] if cache_dir else []
    src_r = open_source(real, name="real", skip_bad=skip_bad, exclude=exclude)
    src_f = open_source(fake, name="fake", skip_bad=skip_bad, exclude=exclude)

    stats_sides = [n for n, s in (("real", src_r), ("fake", src_f)) if s.kind == "stats"]
    if stats_sides:  # metrics a statistics input cannot give
        impossible = [m for m in names if not METRICS[m].stats_ok]
        what = " and ".join(stats_sides)
        if impossible and explicit:
            raise ValueError(
                f"{what}: a statistics input (mu, sigma) supports only fid; "
                f"{', '.join(impossible)} {'needs' if len(impossible) == 1 else 'need'} per-sample features "
                "(pass features or images)"
            )
        if impossible:
            run.notes.append(f"only fid computed: {what} holds statistics, not per-sample features")
        names = [m for m in names if METRICS[m].stats_ok]

    src_l = None  # the Inception Score reads logits of the fake samples
    if "is" in names:
        if logits is not None:
            src_l = open_source(logits, name="logits")
            if src_l.kind != "features":
                raise ValueError(f"logits: expected classifier logits [N, C], got a {src_l.kind} input")
        elif src_f.kind != "images":
            raise ValueError(
                "metrics: 'is' needs classifier logits of the fake samples: pass fake images "
                "(or a generator) or logits= (an [N, C] array or file)"
            )
    elif logits is not None:
        run.notes.append("logits= ignored: the Inception Score was not requested")

    images = "images" in (src_r.kind, src_f.kind)
    if extractor is None and images:
        newer = [m for m in names if METRICS[m].needs == "extractor"]
        if newer:
            run.notes.append(
                f"{', '.join(newer)} on Inception pool3 features (pass extractor= for another network)"
            )
    if "pr" in names and extractor is None and no_vgg is not None and images:
        raise ValueError(
            f"metrics: 'pr' on images needs VGG-16, which preset {no_vgg!r} does not define; "
            "use another preset or pass extractor="
        )
    return _Inputs(names, src_r, src_f, src_l)


def _arrays_needed(inputs: _Inputs, kind: str, side: str, extractor: Optional[str]) -> list[str]:
    """The arrays of one side (of input ``kind``) that the requested metrics read."""
    out: list[str] = []
    for m in inputs.names:
        spec = METRICS[m]
        if spec.needs == "logits" and (side != "fake" or inputs.logits is not None):
            continue
        a = _array_for(spec, kind, extractor)
        if a not in out:
            out.append(a)
    return out


def _extractors_for(arrays: list[str], kind: str) -> list[str]:
    """The networks that produce ``arrays`` (none for a feature input)."""
    if kind != "images":
        return []
    out: list[str] = []
    for a in arrays:
        e = _PRODUCER.get(a, a)
        if e not in out:
            out.append(e)
    return out


def _embed_inputs(
    run: _Run,
    inputs: _Inputs,
    *,
    extractor: Optional[str],
    preset: Any,
    weights: Any,
    batch_size: int,
    num_workers: int,
    cache_dir: Any,
    progress: Optional[bool],
    verify: bool,
) -> _Embedded:
    """Stage 2: every network in one pass over each input; a network both sides need is built once, here.

    ``preset`` is the resolved :class:`~fastgan.features.Preset`, given as is to the networks built
    here and to ``embed`` (``get_preset`` returns a Preset unchanged)."""
    need_r = _arrays_needed(inputs, inputs.real.kind, "real", extractor)
    need_f = _arrays_needed(inputs, inputs.fake.kind, "fake", extractor)
    wmap = _weights_map(weights, extractor or "inception")
    ext_r, ext_f = _extractors_for(need_r, inputs.real.kind), _extractors_for(need_f, inputs.fake.kind)
    models = _collective(
        partial(_build_shared, ext_r, ext_f, wmap, preset, run.net_dev),
        run.group,
        run.world,
        run.dev,
        "extractor",
    )

    kw = dict(
        preset=preset,
        weights=wmap,
        models=models,
        batch_size=batch_size,
        num_workers=num_workers,
        device=run.net_dev,
        cache_dir=cache_dir,
        progress=progress,
        shard=(run.rank, run.world),
        verify=verify,
    )
    emb_r = _collective(partial(_embed_one, inputs.real, need_r, **kw), run.group, run.world, run.dev, "real")
    emb_f = _collective(partial(_embed_one, inputs.fake, need_f, **kw), run.group, run.world, run.dev, "fake")
    emb_l = None
    if inputs.logits is not None:
        emb_l = _collective(
            partial(_embed_one, inputs.logits, ["features"], **kw), run.group, run.world, run.dev, "logits"
        )
    return _Embedded(emb_r, emb_f, emb_l)


def _build_shared(
    ext_r: list[str], ext_f: list[str], wmap: dict[str, Optional[str]], preset: Any, device: torch.device
) -> dict[str, Any]:
    """The networks both sides need, built (and their weights read) once, from the resolved preset."""
    from fastgan.features.extract import build_extractor

    return {
        e: build_extractor(e, weights=wmap.get(e), preset=preset, device=device) for e in ext_r if e in ext_f
    }


def _embed_one(src: Any, arrays: list[str], **kw: Any) -> Any:
    """One input through :func:`fastgan.evaluation.embed.embed` (None when it needs no array)."""
    from fastgan.evaluation.embed import embed

    if src.kind == "images" and not arrays:
        return None  # e.g. the real images when only the Inception Score (of the fake side) is asked
    return embed(src, extractors=_extractors_for(arrays, src.kind), **kw)


def _local(emb: Any, array: str, side: str, dev: Optional[torch.device]) -> torch.Tensor:
    """This rank's rows of one array of an embedding (on ``dev`` when given)."""
    t = emb.arrays.get(array)
    if t is None:
        raise RuntimeError(f"{side}: the embedding lacks array {array!r} (has {sorted(emb.arrays)})")
    return t if dev is None else t.to(dev)


def _gathered(
    run: _Run,
    emb: _Embedded,
    a_r: str,
    a_f: str,
    name: str,
    banks: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and fake rows of all ranks: one :class:`_Banks` synced once per array pair, shared by the
    bank metrics through ``banks``."""
    if (a_r, a_f) not in banks:
        x, y = _local(emb.real, a_r, "real", run.dev), _local(emb.fake, a_f, "fake", run.dev)
        if x.shape[1] != y.shape[1]:
            raise ValueError(
                f"real and fake: feature dimensions differ (D={x.shape[1]} vs D={y.shape[1]}) for {name}"
            )
        shared = _Banks()
        for t, is_real in ((x, True), (y, False)):
            if t.shape[0]:
                shared.update(t, real=is_real)
        shared.sync(run.group)
        banks[(a_r, a_f)] = shared.compute()
    return banks[(a_r, a_f)]


def _inception_score(run: _Run, spec: MetricSpec, emb: _Embedded, opts: dict[str, Any]) -> dict[str, float]:
    """The Inception Score from the logits of every rank (split sums all-reduced)."""
    if emb.logits is not None:
        lg, emb_src = _local(emb.logits, "features", "logits", run.dev), emb.logits
    else:
        lg, emb_src = _local(emb.fake, "logits", "fake", run.dev), emb.fake
    rows = _rows(emb_src, run.group, run.world, run.dev)
    offset, n_local, n_total = rows["offset"], rows["local"], rows["total"]
    if n_total < opts["splits"]:
        raise ValueError(f"splits: {opts['splits']} splits need at least as many fake samples, got {n_total}")
    index = torch.arange(offset, offset + n_local, dtype=torch.int64)  # global sample indices
    metric = spec.factory({**opts, "num_samples": n_total})
    if n_local:
        metric.update(lg, index=index.to(lg.device))
    metric.sync(run.group)
    return spec.result(metric.compute())


def _compute_metrics(
    run: _Run,
    inputs: _Inputs,
    emb: _Embedded,
    conventions: Any,
    given: dict[str, dict[str, Any]],
    extractor: Optional[str],
    progress: Optional[bool],
) -> tuple[dict[str, float], dict[str, dict[str, Any]], dict[str, float]]:
    """Stage 3: each metric with its options (:func:`resolve_options`), by how its state combines.

    Returns:
        (values, the options each metric ran with, seconds per metric).
    """
    values: dict[str, float] = {}
    used: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    banks: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}
    for name in inputs.names:
        spec = METRICS[name]
        t0 = time.perf_counter()
        opts = resolve_options(name, conventions, options=given[name])
        if spec.state == "stats":
            values.update(
                spec.result(
                    _frechet(
                        spec,
                        inputs.real,
                        inputs.fake,
                        emb.real,
                        emb.fake,
                        extractor,
                        run.group,
                        run.world,
                        run.dev,
                    )
                )
            )
        elif spec.state == "logits":
            values.update(_inception_score(run, spec, emb, opts))
        else:
            x, y = _gathered(
                run,
                emb,
                _array_for(spec, inputs.real.kind, extractor),
                _array_for(spec, inputs.fake.kind, extractor),
                name,
                banks,
            )
            result, notes = run_metric(name, x, y, opts, given=frozenset(given[name]), progress=progress)
            values.update(result)
            run.notes.extend(notes)
        used[name] = opts
        seconds[name] = round(time.perf_counter() - t0, 6)
    return values, used, seconds


def _describe(run: _Run, src: Any, emb: Any) -> dict[str, Any]:
    """One input as reported in ``info`` (its description, arrays, rows computed / cached, skipped files)."""
    d = dict(src.describe())
    if emb is None:
        d["arrays"] = {}
        return d
    arrays = getattr(emb, "arrays", {}) or {}
    rows = _rows(emb, run.group, run.world, run.dev)
    d["arrays"] = {a: [rows["total"], int(t.shape[1])] for a, t in arrays.items()}
    if src.kind == "images":  # this rank's rows: run through the networks / read from the cache
        d["rows_computed"] = int(getattr(emb, "rows_computed", 0))
        d["rows_cached"] = int(getattr(emb, "rows_cached", 0))
    skipped = list(getattr(emb, "skipped", []) or [])
    if rows["skipped"]:
        d["skipped_files"] = skipped  # this rank's; the count covers every rank
        d["skipped"] = rows["skipped"]
        run.notes.append(f"{rows['skipped']} unreadable file(s) skipped in {d.get('path', d['name'])}")
    return d


def _report(
    run: _Run,
    inputs: _Inputs,
    emb: _Embedded,
    preset: Any,
    extractor: Optional[str],
    options: dict[str, dict[str, Any]],
    seconds: dict[str, float],
    t_start: float,
) -> dict[str, Any]:
    """Stage 4: :attr:`EvalResult.info`."""
    info: dict[str, Any] = {
        "real": _describe(run, inputs.real, emb.real),
        "fake": _describe(run, inputs.fake, emb.fake),
    }
    if emb.logits is not None:
        info["logits"] = _describe(run, inputs.logits, emb.logits)
    embed_s = {
        key: round(0.0 if e is None else float(getattr(e, "seconds_total", 0.0) or 0.0), 6)
        for e, key in ((emb.real, "embed_real"), (emb.fake, "embed_fake"))
    }
    network = sum(
        float(getattr(e, "seconds_network", 0.0) or 0.0)
        for e in (emb.real, emb.fake, emb.logits)
        if e is not None
    )
    info.update(
        {
            "computed": inputs.names,
            "options": options,
            "preset": preset.as_dict(),
            "extractor": extractor,
            "seconds": {
                "total": round(time.perf_counter() - t_start, 6),
                **embed_s,
                "network": round(network, 6),
                **seconds,
            },
            "notes": run.notes,
            "world_size": run.world,
            "versions": _versions(),
        }
    )
    return info


def _frechet(
    spec: MetricSpec,
    src_r: Any,
    src_f: Any,
    emb_r: Any,
    emb_f: Any,
    extractor: Optional[str],
    group: Any,
    world: int,
    device: Optional[torch.device],
) -> float:
    """FID / FD through :func:`fastgan.metrics.fid`, the routine of a direct call, so that the exact
    method it picks (low-rank factors for a side of at most D + 1 rows) is also taken here.

    Each side of per-sample features is given to it as its rows gathered from every rank (one
    all-gather) when it has at most D + 1 rows in all, which the low-rank routes need and which
    are few; otherwise as float64 :class:`~fastgan.metrics.FeatureStats` all-reduced across the
    ranks (O(D^2) whatever N). A statistics input is given as is. With one process and two
    feature inputs this is exactly ``fid(real, fake)``.
    """
    from fastgan.metrics import FeatureStats, fid

    sides = ((src_r, emb_r, "real"), (src_f, emb_f, "fake"))
    fixed = {side: emb.stats for src, emb, side in sides if src.kind == "stats"}
    feats = {
        side: _local(emb, _array_for(spec, src.kind, extractor), side, device)
        for src, emb, side in sides
        if src.kind != "stats"
    }
    dims = {side: int(st.mean.shape[0]) for side, st in fixed.items()}
    dims.update({side: int(t.shape[1]) for side, t in feats.items()})
    if dims["real"] != dims["fake"]:
        raise ValueError(f"real and fake: feature dimensions differ (D={dims['real']} vs D={dims['fake']})")
    d = dims["real"]
    # next to given statistics, the features are used on the statistics' device
    target = next(iter(fixed.values())).mean.device if fixed else None
    args: dict[str, Any] = dict(fixed)
    for side, t in feats.items():
        t = t if target is None else t.to(target)
        total = int(t.shape[0])
        if world > 1:
            from fastgan.metrics._base import comm_device, gather_meta

            total = sum(m[0] for m in gather_meta([total], group, comm_device(group, device)))
        if world == 1:
            args[side] = t  # one process: the rows, as a direct call
        elif total - 1 <= d:  # few rows: all of them, in rank order (the single-process rows)
            bank = _Banks()
            if t.shape[0]:
                bank.update(t, real=True)
            bank.sync(group)
            args[side] = bank._bank(real=True).to(t.device)
        else:
            st = FeatureStats(device=t.device)
            if t.shape[0]:
                st.update(t)
            args[side] = st.sync(group)
    return float(fid(args["real"], args["fake"]))
