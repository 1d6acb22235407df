"""The subcommands of the ``fastgan`` command line and :func:`main` (see :mod:`fastgan.cli`); the parser
and its option tables are in :mod:`fastgan.cli.parser`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional

from fastgan._info import backends, format_backends
from fastgan.cli.parser import (  # noqa: F401 - the option tables, importable here as before
    _FIDELITY_METRIC_FLAGS,
    DEFAULT_PRESET,
    METRIC_NAMES,
    NETWORK_NAMES,
    OPTION_FLAGS,
    PEER_HINTS,
    PRESET_NAMES,
    _peer_hint,
    make_parser,
)
from fastgan.cli.table import format_table

__all__ = ["build_parser", "main", "UsageError"]


class UsageError(ValueError):
    """A bad combination of arguments found by the CLI itself (one line on stderr, exit status 2)."""


def _echo(text: str = "", *, err: bool = False) -> None:
    """One line of the command's output on stdout (or stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def _progress_flag(args: argparse.Namespace) -> Optional[bool]:
    """``--no-progress`` -> False; otherwise None (bars only when stderr is a terminal)."""
    return False if getattr(args, "no_progress", False) else None


# ---------------------------------------------------------------------------------------------- info
def _cmd_info(args: argparse.Namespace) -> int:
    info = backends()
    _echo(json.dumps(info, indent=2, default=str) if args.json else format_backends(info))
    return 0


# --------------------------------------------------------------------------------------------- stats
def _cmd_stats(args: argparse.Namespace) -> int:
    """``fastgan stats``: the input through :func:`fastgan.evaluation.sources.open_source` and
    :func:`fastgan.evaluation.embed.embed` (as ``fastgan eval``), then float64 statistics."""
    import fastgan.metrics as fm
    from fastgan.evaluation.api import check_device, weights_map
    from fastgan.evaluation.embed import embed
    from fastgan.evaluation.sources import open_source

    name = "FEATURES"
    out = args.output
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise UsageError(f"-o {out}: directory {out_dir} does not exist")
    check_device(args.device, "--device")
    if args.adm:
        return _write_adm(args, out)
    src = open_source(args.features, name=name, skip_bad=args.skip_bad)
    if src.kind == "stats":
        raise UsageError(f"{args.features}: is already a statistics file (mu, sigma); expected features")
    emb = embed(
        src,
        extractors=(args.extractor,),
        preset=_preset_arg(args),
        weights=weights_map(_weights_arg(args.weights), args.extractor),
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        device=args.device,
        cache_dir=args.cache,
        progress=_progress_flag(args),
        verify=args.verify,
    )
    (features,) = [v for k, v in emb.arrays.items() if k != "logits"]  # logits: Inception's by-product
    n, d = (int(v) for v in features.shape)
    if n < 2:
        raise ValueError(f"{name}: {args.features}: the covariance needs at least 2 samples, got {n}")
    stats = fm.FeatureStats()
    stats.update(features)
    fm.save_stats(out, stats)
    notes = [f"{len(emb.skipped)} unreadable file(s) skipped, e.g. {emb.skipped[0]}"] if emb.skipped else []
    if args.json:
        info = {**src.describe(), "dim": d, "skipped_files": emb.skipped}
        _echo(json.dumps({"input": info, "output": out, "count": n, "dim": d}))
        for note in notes:
            _echo(f"note: {note}", err=True)
    else:
        _echo(f"wrote {out}: FID statistics of {n} samples, D={d} (mean [D], covariance [D, D], float64)")
        for note in notes:
            _echo(f"note: {note}")
    return 0


# ---------------------------------------------------------------------------------------------- eval
def _preset_arg(args: argparse.Namespace) -> Any:
    """``--preset``, with a float64 image pipeline under ``--float64``."""
    if not args.float64:
        return args.preset
    from fastgan.evaluation.protocols import with_float64
    from fastgan.features.presets import get_preset

    return with_float64(get_preset(args.preset))


def _write_adm(args: argparse.Namespace, out: str) -> int:
    """``fastgan stats IMAGES -o REF.npz --adm``: the ADM evaluator's reference batch."""
    from fastgan.evaluation.adm_reference import write_adm_reference
    from fastgan.evaluation.api import weights_map

    path = write_adm_reference(
        out,
        args.features,
        weights=weights_map(_weights_arg(args.weights), "inception").get("inception"),
        device=args.device,
        batch_size=args.batch_size,
        float64=args.float64,
        progress=_progress_flag(args),
    )
    if args.json:
        _echo(json.dumps({"input": str(args.features), "output": str(path), "format": "adm"}))
    else:
        _echo(
            f"wrote {path}: ADM reference batch (arr_0 images, mu / sigma, mu_s / sigma_s; float64 statistics)"
        )
    return 0


def _weights_arg(values: Optional[list[str]]) -> Any:
    """``--weights PATH`` (the feature network's) or ``--weights NAME=PATH`` (repeatable)."""
    if not values:
        return None
    named = [v for v in values if "=" in v and not os.path.exists(v)]
    if not named:
        if len(values) > 1:
            raise UsageError("--weights: give one PATH, or NAME=PATH once per network")
        return values[0]
    if len(named) != len(values):
        raise UsageError("--weights: do not mix PATH and NAME=PATH")
    out: dict[str, str] = {}
    for v in named:
        key, path = v.split("=", 1)
        out[key.strip()] = path
    return out


def _init_distributed(args: argparse.Namespace) -> tuple[bool, int, Optional[str]]:
    """Under ``torchrun`` (RANK / WORLD_SIZE set): initialise the process group.

    Returns (whether this call initialised it, rank, device for this rank). gloo on the CPU,
    nccl when ``--device`` is CUDA (each rank then uses ``cuda:LOCAL_RANK``).
    """
    device = args.device
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return False, 0, device
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return False, int(dist.get_rank()), device
    cuda = device is not None and device.startswith("cuda")
    if cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True, int(dist.get_rank()), device


def _inputs(args: argparse.Namespace) -> tuple[Any, Any]:
    """REAL and FAKE, positional (as pytorch-fid takes them) or as --real / --fake; with --sampler
    FAKE is that generator (the one positional input is REAL; none: only generator metrics)."""
    sampler = getattr(args, "sampler", None)
    if sampler is not None:
        given = [v for v in (args.real_pos, args.fake_pos, args.real, args.fake) if v is not None]
        if args.fake is not None or args.fake_pos is not None or len(given) > 1:
            raise UsageError("--sampler: it is FAKE; give at most one other input (REAL)")
        return (given[0] if given else None), _load_sampler(sampler)
    out = []
    for side in ("real", "fake"):
        pos, opt = getattr(args, f"{side}_pos"), getattr(args, side)
        if pos is not None and opt is not None and pos != opt:
            raise UsageError(f"--{side}: given twice ({opt!r} and the positional {pos!r}); give it once")
        value = pos if pos is not None else opt
        if value is None:
            raise UsageError("give the two inputs: fastgan eval REAL FAKE (or --real R --fake F)")
        out.append(value)
    return out[0], out[1]


def _load_sampler(spec: str) -> Any:
    """``MODULE:NAME`` -> the :class:`fastgan.Sampler` it names (a function is called, no arguments)."""
    import importlib
    import os
    import sys

    from fastgan.evaluation.sampler import Sampler

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise UsageError(f"--sampler: expected MODULE:NAME, e.g. mytraining.eval:make_sampler, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"--sampler: cannot import {module!r}: {exc}") from exc
    for part in name.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"--sampler: {module!r} has no attribute {name!r}")
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, Sampler):
        obj = obj()
    if not isinstance(obj, Sampler):
        raise UsageError(f"--sampler: {spec} gave a {type(obj).__name__}, not a fastgan.Sampler")
    return obj


def _evaluate(args: argparse.Namespace, device: Optional[str]) -> Any:
    """``fastgan eval``'s arguments -> :func:`fastgan.evaluation.evaluate`."""
    from fastgan.evaluation.api import evaluate
    from fastgan.evaluation.registry import DEFAULT_METRICS, parse_metrics

    real, fake = _inputs(args)
    extra = [m for flag, m in _FIDELITY_METRIC_FLAGS.items() if getattr(args, flag.lstrip("-"))]
    if args.metrics is None and not extra:
        metrics = DEFAULT_METRICS
    else:
        listed = [] if args.metrics is None else list(parse_metrics(args.metrics, arg="--metrics"))
        metrics = tuple(dict.fromkeys(listed + extra))
    return evaluate(
        real,
        fake,
        metrics=metrics,
        extractor=args.extractor,
        preset=args.preset,
        cache_dir=args.cache,
        device=device,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        weights=_weights_arg(args.weights),
        options=_metric_options(args, metrics),
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        splits=args.splits,
        seed=args.seed,
        skip_bad=args.skip_bad,
        progress=_progress_flag(args),
        logits=args.logits,
        verify=args.verify,
        protocol=args.protocol,
        strict=args.strict,
        float64=args.float64,
        fast=args.fast,
    )


def _metric_options(args: argparse.Namespace, metrics: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The per-metric option flags as ``evaluate(options=)``; the deprecated ``--k`` sets ``k`` of every
    requested metric that the old shared keyword set and that has no flag of its own (one note on stderr)."""
    from fastgan.evaluation.registry import keyword_targets, parse_metrics

    options: dict[str, dict[str, Any]] = {}
    for flag, (metric, option, _) in OPTION_FLAGS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            options.setdefault(metric, {})[option] = value
    if getattr(args, "real_test", None) is not None:
        from fastgan.evaluation.rows_memorization import TEST_SET_METRICS

        for m in parse_metrics(list(metrics)):
            if m in TEST_SET_METRICS:
                options.setdefault(m, {})["test"] = args.real_test
    if args.k is not None:
        targets = [
            m for m in keyword_targets("k", parse_metrics(list(metrics))) if "k" not in options.get(m, {})
        ]
        for m in targets:
            options.setdefault(m, {})["k"] = args.k
        _echo(
            f"fastgan eval: --k is deprecated; it set k of {', '.join(targets) or 'no metric'} "
            "(use --prdc-k / --pr-k / --ppr-k)",
            err=True,
        )
    return options


def _label(key: str, info: dict[str, Any]) -> tuple[str, Optional[str]]:
    """Table label and std key of a result key."""
    from fastgan.evaluation.registry import METRICS

    opts = info.get("options", {})
    labels = {
        "fid": "FID",
        "kid_mean": "KID",
        "is_mean": "Inception Score",
        "fd": "FD",
        "cmmd": "CMMD",
        "vendi": "Vendi",
        "sliced_wasserstein": "sliced Wasserstein",
    }
    std = {"kid_mean": "kid_std", "is_mean": "is_std"}.get(key)
    for name, spec in METRICS.items():
        if key in spec.keys and "k" in opts.get(name, {}):
            base = key[3:] if key.startswith("pr_") else key.replace("_", " ")
            return f"{base} (k={opts[name]['k']})", std
    if key == "fd" and info.get("extractor"):
        return f"FD ({info['extractor']})", std
    return labels.get(key, key.replace("_", " ")), std


def _metric_of(key: str) -> str:
    from fastgan.evaluation.registry import METRICS

    return next(name for name, spec in METRICS.items() if key in spec.keys)


def _cmd_eval(args: argparse.Namespace) -> int:
    from fastgan.evaluation.api import check_device

    check_device(args.device, "--device")  # before torchrun's set_device: one line, exit 2
    created, rank, device = _init_distributed(args)
    try:
        result = _evaluate(args, device)
    finally:
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()
    if rank != 0:
        return 0
    notes = result.notes
    if args.json:
        _echo(result.to_json())
        for n in notes:
            _echo(f"note: {n}", err=True)
        return 0
    info = result.info
    for tag in ("real", "fake"):
        d = info[tag]
        n = f"N={d['n']}, " if d.get("n") is not None else ""
        dims = ", ".join(
            f"{a} D={shape[1]}" if a != "features" else f"D={shape[1]}"
            for a, shape in d.get("arrays", {}).items()
        )
        if d["kind"] == "stats":
            dims = "statistics"
        _echo(f"{tag}: {d.get('path') or d.get('type') or d.get('origin')} ({d['kind']}, {n}{dims})")
    _echo()
    std_keys = {"kid_std", "is_std"}
    rows = []
    for key, value in result.items():
        if key in std_keys:
            continue
        label, std = _label(key, info)
        seconds = info["seconds"].get(_metric_of(key), 0.0)
        rows.append([label, value, result[std] if std else "", f"{seconds:.3f}"])
    _echo(format_table(rows, header=["metric", "value", "std", "time [s]"]))
    sec = info["seconds"]
    _echo(f"time: {sec['total']:.2f} s (networks {sec['network']:.2f} s)")
    for key, value in info.get("protocol", {}).get("results", {}).items():
        _echo(f"{info['protocol']['name']}: {key} = {value:.6g}")
    for n in notes:
        _echo(f"note: {n}")
    return 0


# ---------------------------------------------------------------------------------------------- demo
def _demo_tables(results: dict[str, Any]) -> str:
    """The demo's two tables (fits; truncation sweep) as text."""
    fits = [
        [
            f["label"],
            f["fid"],
            f["precision"],
            f["recall"],
            f["density"],
            f["coverage"],
            f"{f['modes']}/{results['config']['n_modes']}",
            f"{f['train_seconds']:.1f}",
        ]
        for f in results["fits"]
    ]
    fit_table = format_table(
        fits, header=["divergence", "FID", "precision", "recall", "density", "coverage", "modes", "train [s]"]
    )
    sweeps = list(results["truncation"]["targets"].items())
    header = ["psi"] + [f"{key} ({target})" for target, _ in sweeps for key in ("precision", "recall")]
    rows = [
        [f"{sweeps[0][1][j]['psi']:g}"] + [r[j][key] for _, r in sweeps for key in ("precision", "recall")]
        for j in range(len(sweeps[0][1]))
    ]
    return "\n".join(
        [
            fit_table,
            "",
            f"truncation trick ({results['truncation']['generator']} generators, "
            f"latent z -> psi * z; precision / recall with k={results['truncation']['k']}):",
            format_table(rows, header=header),
        ]
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from fastgan import demo

    divergences = [s.strip() for s in args.divergences.split(",") if s.strip()] if args.divergences else None
    results = demo.run(
        out_dir=args.out,
        steps=args.steps,
        seed=args.seed,
        quick=args.quick,
        divergences=divergences,
        threads=args.threads,
        progress=_progress_flag(args),
    )
    if args.json:
        _echo(json.dumps(results, indent=2))
        return 0
    cfg = results["config"]
    _echo(
        f"fastgan demo: f-GANs on {cfg['data']}, {cfg['steps']} steps each "
        f"(metrics on {cfg['n_eval']} raw 2-D samples, k={cfg['k']})"
    )
    _echo()
    _echo(_demo_tables(results))
    _echo()
    _echo(f"figures: {', '.join(results['figures'])}; numbers: {results['results_file']}")
    _echo(f"total time: {results['total_seconds']:.1f} s")
    return 0


# ----------------------------------------------------------------------------------- convert-weights
def _cmd_convert_weights(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fastgan.features.convert import convert_weights
    from fastgan.features.weights import TRUST_NOTE, WeightsError, is_torchscript

    if not args.trusted and os.path.isfile(args.input) and is_torchscript(Path(args.input)):
        raise UsageError(
            f"{args.input}: is a TorchScript archive; pass --trusted to convert it. {TRUST_NOTE}"
        )
    try:
        info = convert_weights(args.input, args.output, args.extractor, trusted=args.trusted)
    except WeightsError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _echo(json.dumps({"input": args.input, "output": args.output, "extractor": args.extractor, **info}))
    else:
        _echo(
            f"wrote {args.output}: {info['tensors']} tensors for --extractor {args.extractor} "
            f"(from a {info['source']}, mapped by {info['mapping']}"
            f"{', ' + str(info['dropped']) + ' unused tensors dropped' if info['dropped'] else ''}); "
            "load it with --weights"
        )
    return 0


# -------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastgan`` command (:func:`fastgan.cli.parser.make_parser`)."""
    return make_parser(
        {
            "info": _cmd_info,
            "stats": _cmd_stats,
            "eval": _cmd_eval,
            "convert-weights": _cmd_convert_weights,
            "demo": _cmd_demo,
        }
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``fastgan`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    User errors (``ValueError`` from input validation, including :class:`UsageError` and the input
    errors of :func:`fastgan.evaluation.sources.open_source`; ``OSError`` on files) print one line on
    stderr and give 2; argparse exits with 2 itself. Any other exception propagates.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:
        hint = _peer_hint(argv[1:])
        if hint is not None:
            _echo(f"fastgan eval: error: {hint}", err=True)
            return 2
    args = build_parser().parse_args(argv)
    if getattr(args, "offline", False):
        os.environ["FASTGAN_OFFLINE"] = "1"  # the weights lookup reads it (fastgan.features.hub)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        _echo(f"fastgan {args.command}: interrupted", err=True)
        return 130
    except (ValueError, OSError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        _echo(f"fastgan {args.command}: error: {msg}", err=True)
        return 2
