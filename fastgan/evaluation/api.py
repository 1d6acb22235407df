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
from collections.abc import Mapping
from typing import Any, Iterator, Optional, Sequence, Union

import torch

from fastgan._checks import check_positive_int
from fastgan.evaluation.registry import DEFAULT_METRICS, METRICS, MetricSpec, parse_metrics, resolve_options
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
    def from_dict(cls, d: Mapping[str, Any]) -> "EvalResult":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or not isinstance(d.get("metrics"), Mapping):
            raise ValueError("d: expected a mapping with a 'metrics' mapping (EvalResult.to_dict output)")
        info = {k: v for k, v in d.items() if k != "metrics"}
        return cls(d["metrics"], info)

    @classmethod
    def from_json(cls, text: str) -> "EvalResult":
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
        raise ValueError(f"{name}: {str(device)!r} is not a torch device (e.g. cpu, cuda, cuda:1): {why}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}: {str(device)!r}: no CUDA GPU is available here "
                             "(torch.cuda.is_available() is False); use cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{name}: {str(device)!r}: there {'is' if count == 1 else 'are'} only {count} "
                             f"CUDA device(s) here (cuda:0 .. cuda:{count - 1})")
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


def _array_for(spec: MetricSpec, kind: str, extractor: Optional[str], preset: Any) -> str:
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
    return {"offset": sum(m[0] for m in metas[:rank]), "local": local, "total": sum(m[0] for m in metas),
            "skipped": sum(m[1] for m in metas)}


# ----------------------------------------------------------------------------- evaluate
def evaluate(
    real: Any,
    fake: Any,
    *,
    metrics: Union[str, Sequence[str]] = DEFAULT_METRICS,
    extractor: Optional[str] = None,
    preset: Any = "pytorch-fid",
    cache_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    device: Optional[Union[str, torch.device]] = None,
    batch_size: int = 50,
    num_workers: int = 0,
    weights: Any = None,
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
        k: neighbourhood size of prdc / pr / p_precision_recall (default: 5 / the preset's
            ``pr_k`` / 4).
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

    explicit = metrics is not DEFAULT_METRICS
    names = parse_metrics(metrics)
    p = get_preset(preset)
    k = _check_optional_int(k, "k")
    kid_subsets = _check_optional_int(kid_subsets, "kid_subsets")
    kid_subset_size = _check_optional_int(kid_subset_size, "kid_subset_size", minimum=2)
    splits = _check_optional_int(splits, "splits")
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: must be a non-negative integer, got {num_workers!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
    if extractor is not None and not isinstance(extractor, str):
        raise TypeError(f"extractor: expected a name (str) or None, got {type(extractor).__name__}")
    if extractor is not None and extractor.lower().replace("-", "").replace("_", "") in _INCEPTION_ALIASES:
        extractor = "inception"  # the array name embed() gives Inception, whatever alias was used
    dev = check_device(device, "device")
    rank, world = _rank_world(group)

    from fastgan.evaluation.embed import embed
    from fastgan.evaluation.sources import open_source

    notes: list[str] = []
    src_r = open_source(real, name="real", skip_bad=skip_bad, exclude=[cache_dir] if cache_dir else [])
    src_f = open_source(fake, name="fake", skip_bad=skip_bad, exclude=[cache_dir] if cache_dir else [])

    # ---- metrics a statistics input cannot give
    stats_sides = [n for n, s in (("real", src_r), ("fake", src_f)) if s.kind == "stats"]
    if stats_sides:
        impossible = [m for m in names if not METRICS[m].stats_ok]
        what = " and ".join(stats_sides)
        if impossible and explicit:
            raise ValueError(
                f"{what}: a statistics input (mu, sigma) supports only fid; "
                f"{', '.join(impossible)} {'needs' if len(impossible) == 1 else 'need'} per-sample features "
                "(pass features or images)"
            )
        if impossible:
            notes.append(f"only fid computed: {what} holds statistics, not per-sample features")
        names = [m for m in names if METRICS[m].stats_ok]

    # ---- the Inception Score reads logits of the fake samples
    src_l = None
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
        notes.append("logits= ignored: the Inception Score was not requested")

    if extractor is None and "images" in (src_r.kind, src_f.kind):
        newer = [m for m in names if METRICS[m].needs == "extractor"]
        if newer:
            notes.append(
                f"{', '.join(newer)} on Inception pool3 features (pass extractor= for another network)"
            )
    if "pr" in names and extractor is None and p.vgg_resize is None and "images" in (src_r.kind, src_f.kind):
        raise ValueError(
            f"metrics: 'pr' on images needs VGG-16, which preset {p.name!r} does not define; "
            "use another preset or pass extractor="
        )

    # ---- which arrays each side needs
    def arrays_needed(kind: str, side: str) -> list[str]:
        out: list[str] = []
        for m in names:
            spec = METRICS[m]
            if spec.needs == "logits" and (side != "fake" or src_l is not None):
                continue
            a = _array_for(spec, kind, extractor, p)
            if a not in out:
                out.append(a)
        return out

    def extractors_for(arrays: list[str], kind: str) -> list[str]:
        if kind != "images":
            return []
        out: list[str] = []
        for a in arrays:
            e = _PRODUCER.get(a, a)
            if e not in out:
                out.append(e)
        return out

    need_r = arrays_needed(src_r.kind, "real")
    need_f = arrays_needed(src_f.kind, "fake")
    primary = extractor or "inception"
    wmap = _weights_map(weights, primary)

    # a network both sides need is built (and its weights read) once
    ext_r, ext_f = extractors_for(need_r, src_r.kind), extractors_for(need_f, src_f.kind)
    net_dev = dev if dev is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def build_shared() -> dict[str, Any]:
        from fastgan.features.extract import build_extractor

        return {e: build_extractor(e, weights=wmap.get(e), preset=p.name, device=net_dev)
                for e in ext_r if e in ext_f}

    models = _collective(build_shared, group, world, dev, "extractor")

    def run_embed(src: Any, arrays: list[str]) -> Any:
        if src.kind == "images" and not arrays:
            return None  # e.g. the real images when only the Inception Score (of the fake side) is asked
        return embed(
            src, extractors=extractors_for(arrays, src.kind), preset=p.name, weights=wmap, models=models,
            batch_size=batch_size, num_workers=num_workers, device=net_dev, cache_dir=cache_dir,
            progress=progress, shard=(rank, world), verify=verify,
        )

    emb_r = _collective(lambda: run_embed(src_r, need_r), group, world, dev, "real")
    emb_f = _collective(lambda: run_embed(src_f, need_f), group, world, dev, "fake")
    emb_l = None
    if src_l is not None:
        emb_l = _collective(lambda: run_embed(src_l, ["features"]), group, world, dev, "logits")

    def local(emb: Any, array: str, side: str) -> torch.Tensor:
        t = emb.arrays.get(array)
        if t is None:
            raise RuntimeError(f"{side}: the embedding lacks array {array!r} (has {sorted(emb.arrays)})")
        return t if dev is None else t.to(dev)

    # ---- every metric from the one pass
    values: dict[str, float] = {}
    options: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    banks: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def gathered(a_r: str, a_f: str, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and fake rows of all ranks: one :class:`_Banks` synced once, shared by the bank metrics."""
        if (a_r, a_f) not in banks:
            x, y = local(emb_r, a_r, "real"), local(emb_f, a_f, "fake")
            if x.shape[1] != y.shape[1]:
                raise ValueError(
                    f"real and fake: feature dimensions differ (D={x.shape[1]} vs D={y.shape[1]}) for {name}"
                )
            shared = _Banks()
            for t, is_real in ((x, True), (y, False)):
                if t.shape[0]:
                    shared.update(t, real=is_real)
            shared.sync(group)
            banks[(a_r, a_f)] = shared.compute()
        return banks[(a_r, a_f)]

    for name in names:
        spec = METRICS[name]
        t0 = time.perf_counter()
        opts = resolve_options(name, p, k=k, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                               splits=splits, seed=seed)
        options[name] = dict(opts)
        if spec.state == "stats":
            values.update(spec.result(_frechet(spec, src_r, src_f, emb_r, emb_f, extractor, p, local, group,
                                               world, dev)))
        elif spec.state == "logits":
            if emb_l is not None:
                lg, emb_src = local(emb_l, "features", "logits"), emb_l
            else:
                lg, emb_src = local(emb_f, "logits", "fake"), emb_f
            rows = _rows(emb_src, group, world, dev)
            offset, n_local, n_total = rows["offset"], rows["local"], rows["total"]
            opts["num_samples"] = n_total
            if n_total < opts["splits"]:
                raise ValueError(
                    f"splits: {opts['splits']} splits need at least as many fake samples, got {n_total}"
                )
            index = torch.arange(offset, offset + n_local, dtype=torch.int64)  # global sample indices
            metric = spec.factory({**opts, "preset": p})
            if n_local:
                metric.update(lg, index=index.to(lg.device))
            metric.sync(group)
            values.update(spec.result(metric.compute()))
        else:
            a_r = _array_for(spec, src_r.kind, extractor, p)
            a_f = _array_for(spec, src_f.kind, extractor, p)
            x, y = gathered(a_r, a_f, name)
            if name == "kid":
                n_min = min(x.shape[0], y.shape[0])
                if opts["subset_size"] > n_min:
                    if kid_subset_size is not None and opts["subset_rule"] == "error":
                        side = "real" if x.shape[0] == n_min else "fake"
                        raise ValueError(f"kid_subset_size: {opts['subset_size']} is larger than the number "
                                         f"of {side} samples ({n_min})")
                    notes.append(f"kid subset size reduced from {opts['subset_size']} to {n_min} "
                                 "(the smaller sample count)")
                    opts["subset_size"] = n_min
                    options[name]["subset_size"] = n_min
            metric = spec.factory({**opts, "progress": progress, "preset": p})
            metric.update(x, real=True)
            metric.update(y.to(x.device), real=False)
            values.update(spec.result(metric.compute()))
        seconds[name] = round(time.perf_counter() - t0, 6)
    del banks

    # ---- the report
    def describe(src: Any, emb: Any) -> dict[str, Any]:
        d = dict(src.describe())
        if emb is None:
            d["arrays"] = {}
            return d
        arrays = getattr(emb, "arrays", {}) or {}
        rows = _rows(emb, group, world, dev)
        d["arrays"] = {a: [rows["total"], int(t.shape[1])] for a, t in arrays.items()}
        if src.kind == "images":  # this rank's rows: run through the networks / read from the cache
            d["rows_computed"] = int(getattr(emb, "rows_computed", 0))
            d["rows_cached"] = int(getattr(emb, "rows_cached", 0))
        skipped = list(getattr(emb, "skipped", []) or [])
        if rows["skipped"]:
            d["skipped_files"] = skipped  # this rank's; the count covers every rank
            d["skipped"] = rows["skipped"]
            notes.append(f"{rows['skipped']} unreadable file(s) skipped in {d.get('path', d['name'])}")
        return d

    info: dict[str, Any] = {"real": describe(src_r, emb_r), "fake": describe(src_f, emb_f)}
    if emb_l is not None:
        info["logits"] = describe(src_l, emb_l)
    embeddings = [e for e in (emb_r, emb_f, emb_l) if e is not None]
    for e, key in ((emb_r, "embed_real"), (emb_f, "embed_fake")):
        seconds_embed = 0.0 if e is None else float(getattr(e, "seconds_total", 0.0) or 0.0)
        seconds[key] = round(seconds_embed, 6)
    network = sum(float(getattr(e, "seconds_network", 0.0) or 0.0) for e in embeddings)
    info.update({
        "computed": names,
        "options": options,
        "preset": p.as_dict(),
        "extractor": extractor,
        "seconds": {
            "total": round(time.perf_counter() - t_start, 6),
            "embed_real": seconds.pop("embed_real"),
            "embed_fake": seconds.pop("embed_fake"),
            "network": round(network, 6),
            **seconds,
        },
        "notes": notes,
        "world_size": world,
        "versions": _versions(),
    })
    for key, v in values.items():
        if not math.isfinite(v):
            notes.append(f"{key} is not finite ({v})")
    return EvalResult(values, info)


def _frechet(spec: MetricSpec, src_r: Any, src_f: Any, emb_r: Any, emb_f: Any, extractor: Optional[str],
             preset: Any, local: Any, group: Any, world: int, device: Optional[torch.device]) -> float:
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
    feats = {side: local(emb, _array_for(spec, src.kind, extractor, preset), side)
             for src, emb, side in sides if src.kind != "stats"}
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
