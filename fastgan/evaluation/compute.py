"""Stage 3 of :func:`fastgan.evaluate`: every requested metric from the one embedding pass, its
state combined across the ranks (float64 statistics for FID / FD, split sums for the Inception
Score, one all-gather per feature array shared by the bank metrics)."""

from __future__ import annotations

import time
from typing import Any, Optional

import torch

from fastgan.evaluation._dist import _Banks, _rows
from fastgan.evaluation.registry import METRICS, MetricSpec, resolve_options, run_metric
from fastgan.evaluation.rows_ppl import generator_metric
from fastgan.evaluation.stages import _array_for, _Embedded, _Inputs, _Run
from fastgan.evaluation.test_sets import embed_test_sets


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
    embed_test_sets(run, inputs, given, extractor)  # C_T / FLD / FLS: a held-out test set of images
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
        elif spec.state == "generator":  # ppl: the fake Sampler itself (rows_ppl.check_generator_input)
            values.update(generator_metric(run, spec, inputs.fake.sampler, opts, progress))
        else:
            x, y = _gathered(
                run,
                emb,
                _array_for(spec, inputs.real.kind, extractor),
                _array_for(spec, inputs.fake.kind, extractor),
                name,
                banks,
            )
            check: dict[str, Any] = {}
            result, notes = run_metric(
                name, x, y, opts, given=frozenset(given[name]), progress=progress, check=check
            )
            if check:
                run.checks[name] = check
            values.update(result)
            run.notes.extend(notes)
        used[name] = opts
        seconds[name] = round(time.perf_counter() - t0, 6)
    return values, used, seconds


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
    for src, _, side in sides:  # an ADM reference batch: its stored statistics, as the evaluator
        stored = getattr(src, "ref_stats", {}).get(_array_for(spec, src.kind, extractor))
        if stored is not None:
            fixed[side] = stored
    feats = {
        side: _local(emb, _array_for(spec, src.kind, extractor), side, device)
        for src, emb, side in sides
        if side not in fixed
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
