"""The parser and the subcommands of the ``fastgan`` command line (see :mod:`fastgan.cli`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional

from fastgan._info import backends, format_backends
from fastgan.cli.table import format_table

__all__ = ["build_parser", "main", "UsageError"]

#: names of fastgan.features.presets.PRESETS and of fastgan.evaluation.METRICS (spelled out so that
#: ``--help`` imports neither torch nor the networks; a test checks both against their tables)
PRESET_NAMES = ("pytorch-fid", "torch-fidelity", "clean-fid")
DEFAULT_PRESET = "pytorch-fid"
METRIC_NAMES = (
    "fid",
    "kid",
    "prdc",
    "pr",
    "is",
    "fd",
    "cmmd",
    "vendi",
    "sliced_wasserstein",
    "p_precision_recall",
    "top_pr",
)
#: the names of fastgan.features.networks.NETWORKS, the networks ``convert-weights`` converts for
#: (spelled out for the same reason; tests/features/test_networks.py checks them against the table)
NETWORK_NAMES = ("inception", "vgg16")
#: the per-metric option flags of ``fastgan eval``: flag -> (metric, option, help), the ``Option.flag`` s of
#: fastgan.evaluation.METRICS (spelled out for the same reason; the same test checks them)
OPTION_FLAGS = {
    "--prdc-k": ("prdc", "k", "prdc's neighbourhood size (default: the preset's 5)"),
    "--pr-k": ("pr", "k", "pr's neighbourhood size (default: the preset's 3)"),
    "--ppr-k": ("p_precision_recall", "k", "p_precision_recall's neighbourhood size (default: 4)"),
}


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
    from fastgan.evaluation.api import _weights_map, check_device
    from fastgan.evaluation.embed import embed
    from fastgan.evaluation.sources import open_source

    name = "FEATURES"
    out = args.output
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise UsageError(f"-o {out}: directory {out_dir} does not exist")
    check_device(args.device, "--device")
    src = open_source(args.features, name=name, skip_bad=args.skip_bad)
    if src.kind == "stats":
        raise UsageError(f"{args.features}: is already a statistics file (mu, sigma); expected features")
    emb = embed(
        src,
        extractors=(args.extractor,),
        preset=args.preset,
        weights=_weights_map(_weights_arg(args.weights), args.extractor),
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


#: torch-fidelity's metric switches, accepted as they are
_FIDELITY_METRIC_FLAGS = {"--isc": "is", "--fid": "fid", "--kid": "kid", "--prc": "pr"}

#: options of pytorch-fid's and torch-fidelity's command lines that fastgan spells otherwise: one line each
PEER_HINTS = {
    "--input1": "torch-fidelity's --input1/--input2 are positional here: fastgan eval REAL FAKE",
    "--input2": "torch-fidelity's --input1/--input2 are positional here: fastgan eval REAL FAKE",
    "--gpu": "torch-fidelity's --gpu N is --device cuda:N here",
    "--cuda": "torch-fidelity's --cuda is --device cuda here",
    "--no-cuda": "torch-fidelity's --no-cuda is --device cpu here (the default)",
    "--dims": "pytorch-fid's --dims: fastgan uses the 2048-d pool3 features (pytorch-fid's default); other "
    "embeddings: --extractor NAME",
    "--save-stats": "pytorch-fid's --save-stats is a command here: fastgan stats IMAGES -o STATS.npz",
    "--feature-extractor": "torch-fidelity's --feature-extractor is --extractor NAME here",
    "--feature-extractor-weights-path": "torch-fidelity's --feature-extractor-weights-path is --weights PATH here",
    "--silent": "torch-fidelity's --silent is --no-progress here",
    "--verbose": "fastgan eval prints its table; progress bars show on a terminal (--no-progress turns them off)",
    "--save-cpu-ram": "not needed: fastgan eval streams the images and keeps only the features",
}


def _peer_hint(argv: Sequence[str]) -> Optional[str]:
    """The hint for the first option of ``fastgan eval`` that is a peer's spelling, or None."""
    for token in argv:
        if token == "--":
            break
        flag = token.split("=", 1)[0]
        if flag in PEER_HINTS:
            return f"{flag}: {PEER_HINTS[flag]}"
    return None


def _inputs(args: argparse.Namespace) -> tuple[str, str]:
    """REAL and FAKE, positional (as pytorch-fid takes them) or as --real / --fake."""
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
        info = convert_weights(args.input, args.output, args.model, trusted=args.trusted)
    except WeightsError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _echo(json.dumps({"input": args.input, "output": args.output, "model": args.model, **info}))
    else:
        _echo(
            f"wrote {args.output}: {info['tensors']} tensors for --extractor {args.model} "
            f"(from a {info['source']}, mapped by {info['mapping']}"
            f"{', ' + str(info['dropped']) + ' unused tensors dropped' if info['dropped'] else ''}); "
            "load it with --weights"
        )
    return 0


# -------------------------------------------------------------------------------------------- parser
def _int_at_least(minimum: int, what: str) -> Any:
    """An argparse ``type=`` accepting integers >= ``minimum`` (``what``: "positive", ...)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {v}")
        return v

    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    """How inputs are read and embedded: the options ``stats`` and ``eval`` share."""
    p.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default=DEFAULT_PRESET,
        help="reference whose image pipeline (resize, pixel scaling) and metric conventions are "
        f"reproduced (default: {DEFAULT_PRESET}; see fastgan.features.presets)",
    )
    p.add_argument(
        "--weights",
        metavar="PATH",
        action="append",
        help="weights file of the feature network, or NAME=PATH per network (repeatable; default: "
        "the published file, found in fastgan's or a peer's cache or downloaded once and verified)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="never touch the network (as FASTGAN_OFFLINE=1): a missing weights file is an error "
        "that names the file and where to put it",
    )
    p.add_argument(
        "--cache", metavar="DIR", help="feature cache folder (resumable; reused when inputs are unchanged)"
    )
    p.add_argument("--batch-size", type=_positive_int, default=50, help="images per batch (default: 50)")
    p.add_argument(
        "--num-workers", type=_non_negative_int, default=0, help="image decoding workers (default: 0)"
    )
    p.add_argument(
        "--skip-bad", action="store_true", help="skip unreadable image files (listed in the report)"
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="--cache: key the cache on a sha256 of every file's contents (reads each file once) "
        "instead of trusting unchanged names, sizes and mtimes",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device, e.g. cpu or cuda (default: cpu; eval under torchrun: cuda means cuda:LOCAL_RANK)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (rate, ETA) on stderr (default: shown when stderr is a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastgan`` command."""
    parser = argparse.ArgumentParser(prog="fastgan", description="Fast, exact GAN losses and metrics.")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{info,stats,eval,convert-weights,demo}"
    )

    p = sub.add_parser("info", help="show which backends (C++, CUDA, faiss) are available")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "stats",
        help="save FID statistics (mean, covariance) of a feature file or image folder",
        description="Compute float64 FID statistics of FEATURES and save them with "
        "fastgan.metrics.save_stats (an .npz with mu and sigma). FEATURES is read as "
        "fastgan eval reads its inputs (same image pipeline, cache and options).",
    )
    p.add_argument(
        "features",
        metavar="FEATURES",
        help="feature file (.npy/.npz/.pt, [N, D]), image folder, image file or image stack",
    )
    p.add_argument("-o", "--output", required=True, metavar="STATS.npz", help="output statistics file")
    p.add_argument(
        "--extractor",
        metavar="NAME",
        default="inception",
        help="feature network for images (default: inception, 2048-D pool3; e.g. vgg16)",
    )
    _add_input_options(p)
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser(
        "eval",
        help="evaluate fake against real samples (FID, KID, precision/recall, ...)",
        description="Evaluate FAKE against REAL with fastgan.evaluate: each input is "
        "embedded once and every metric reads that one pass. Inputs: image folders, feature "
        "files (.npy/.npz/.pt holding [N, D] floats), statistics files (.npz with mu/sigma; "
        "FID only). Under torchrun (torchrun --nproc_per_node=N -m fastgan eval ...) the "
        "inputs are sharded across the ranks and rank 0 prints the result.",
    )
    p.add_argument("real_pos", nargs="?", metavar="REAL", help="real image folder, features or statistics")
    p.add_argument("fake_pos", nargs="?", metavar="FAKE", help="fake image folder, features or statistics")
    p.add_argument("--real", metavar="R", help="REAL given as an option")
    p.add_argument("--fake", metavar="F", help="FAKE given as an option")
    p.add_argument(
        "--metrics",
        metavar="LIST",
        help="comma-separated: " + ", ".join(METRIC_NAMES) + "; all = fid,kid,prdc,pr "
        "(default: fid,kid,prdc)",
    )
    for flag, metric in _FIDELITY_METRIC_FLAGS.items():
        p.add_argument(
            flag, action="store_true", help=f"torch-fidelity's spelling: add {metric} to --metrics"
        )
    p.add_argument(
        "--extractor",
        metavar="NAME",
        help="feature network for the feature-set metrics on images (default: inception; "
        "pr: vgg16); the Inception Score always uses Inception logits",
    )
    _add_input_options(p)
    for flag, (_, _, text) in OPTION_FLAGS.items():
        p.add_argument(flag, type=_positive_int, metavar="K", help=text)
    p.add_argument(
        "--k",
        type=_positive_int,
        help="deprecated: one neighbourhood size for prdc / pr / "
        "p_precision_recall (use --prdc-k / --pr-k / --ppr-k)",
    )
    p.add_argument("--kid-subsets", type=_positive_int, help="KID subsets (default: the preset's, 100)")
    p.add_argument(
        "--kid-subset-size",
        type=_positive_int,
        help="KID subset size (default: the preset's 1000, reduced to the sample count with a note)",
    )
    p.add_argument("--splits", type=_positive_int, help="Inception Score splits (default: the preset's, 10)")
    p.add_argument(
        "--logits",
        metavar="FILE",
        help="classifier logits [N, C] of the fake samples, for 'is' when --fake is not an image folder",
    )
    p.add_argument(
        "--seed",
        type=int,
        help="seed of the KID subsets and other draws (default: the preset's "
        "KID seed, torch-fidelity 2020; else 0)",
    )
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "convert-weights",
        help="convert a weights file (e.g. TorchScript vgg16.pt) into a weights-only state dict, once",
        description="Convert IN (a state dict in a reference's layout, or a TorchScript "
        "archive with --trusted) into OUT, a weights-only state dict with fastgan's names, "
        "checked key by key. Trust: a TorchScript file is a program; reading it trusts its "
        "contents. Convert only files from a source you trust; fastgan itself only ever "
        "loads the weights-only result.",
    )
    p.add_argument("input", metavar="IN", help="weights file to convert")
    p.add_argument("output", metavar="OUT", help="output state dict (.pth)")
    p.add_argument("--model", choices=NETWORK_NAMES, required=True, help="the network the weights are for")
    p.add_argument(
        "--trusted",
        action="store_true",
        help="I trust IN: allow reading a TorchScript archive (torch.jit.load)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=_cmd_convert_weights)

    p = sub.add_parser(
        "demo",
        help="train small f-GANs on a 2-D mixture and evaluate them (CPU, no data)",
        description="Train small f-GANs (GAN, KL, squared Hellinger, ...) on a "
        "built-in 2-D mixture of Gaussians, evaluate the samples with FID and "
        "precision/recall/density/coverage, sweep the truncation psi, and write PNG figures.",
    )
    p.add_argument(
        "--out", default="fastgan-demo", metavar="DIR", help="output folder (default: ./fastgan-demo)"
    )
    p.add_argument(
        "--steps", type=_positive_int, help="training steps per divergence (default: 1000; --quick: 100)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    p.add_argument(
        "--divergences",
        metavar="LIST",
        help="comma-separated divergences to train (default: gan,kl,hellinger; any name or alias of "
        "fastgan.divergences, e.g. reverse_kl, pearson, neyman, js, jeffrey, total_variation)",
    )
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads while training (default: 1)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars on stderr (default: shown when stderr is a terminal)",
    )
    p.set_defaults(func=_cmd_demo)
    return parser


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
