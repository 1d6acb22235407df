"""The stages of :func:`fastgan.evaluate` around the metrics: the shared state of one call, opening
the inputs (stage 1), embedding them (stage 2) and the report (stage 4). Stage 3, the metrics, is
:mod:`fastgan.evaluation.compute`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Optional

import torch

from fastgan.evaluation._dist import _collective, _rank_world, _rows
from fastgan.evaluation.arguments import weights_map
from fastgan.evaluation.registry import METRICS, MetricSpec

#: array name -> the extractor that produces it (logits come from the Inception pass)
_PRODUCER = {"logits": "inception", "spatial": "inception"}


@dataclass
class _Run:
    """What every stage of one :func:`evaluate` call shares."""

    group: Any
    rank: int
    world: int
    dev: Optional[torch.device]  # where the metrics run (None: where the features are)
    net_dev: torch.device  # where the networks run
    notes: list[str] = field(default_factory=list)
    #: stage 2's embed() settings, which the held-out test sets reuse (fastgan.evaluation.test_sets)
    embed_kw: dict[str, Any] = field(default_factory=dict)
    #: per metric, how a reduced-precision result was checked (KID's float64 check of a few rounds)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)


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


def _make_run(group: Any, dev: Optional[torch.device]) -> _Run:
    """The shared state of one call: this rank, the world size, the metrics' and the networks' devices."""
    rank, world = _rank_world(group)
    return _Run(
        group=group,
        rank=rank,
        world=world,
        dev=dev,
        net_dev=dev if dev is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu"),
    )


def _array_for(spec: MetricSpec, kind: str, extractor: Optional[str]) -> str:
    """Which array of an embedded input of ``kind`` the metric reads."""
    if kind != "images":
        return "features"
    if spec.needs in ("logits", "spatial"):  # always from the Inception pass, whatever extractor=
        return spec.needs
    if extractor is not None:
        return extractor
    if spec.needs == "vgg16":
        return "vgg16"
    return "inception"


def _versions() -> dict[str, str]:
    import fastgan

    return {"fastgan": fastgan.__version__, "torch": torch.__version__}


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
    from fastgan.evaluation.rows_ppl import check_generator_input
    from fastgan.evaluation.sources import open_source

    real = check_generator_input(names, real, fake)  # ppl: fake must be a Sampler; real may be None
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
        if spec.needs == "generator":  # reads the Sampler itself, no array
            continue
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
    if "spatial" in arrays:  # not a network: asks the Inception pass for its sFID features too
        out.append("spatial")
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
    wmap = weights_map(weights, extractor or "inception")
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
    run.embed_kw = kw
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
        e: build_extractor(e, weights=wmap.get(e), preset=preset, device=device)
        for e in ext_r
        if e in ext_f and e not in _PRODUCER
    }


def _embed_one(src: Any, arrays: list[str], **kw: Any) -> Any:
    """One input through :func:`fastgan.evaluation.embed.embed` (None when it needs no array)."""
    from fastgan.evaluation.embed import embed

    if src.kind == "images" and not arrays:
        return None  # e.g. the real images when only the Inception Score (of the fake side) is asked
    return embed(src, extractors=_extractors_for(arrays, src.kind), **kw)


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
            "checks": run.checks,
            "world_size": run.world,
            "versions": _versions(),
        }
    )
    return info


def _note_non_finite(run: _Run, values: dict[str, float]) -> None:
    """A note for each result that is not finite (after the report's notes)."""
    for key, v in values.items():
        if not math.isfinite(v):
            run.notes.append(f"{key} is not finite ({v})")
