"""The parser and the subcommands of the ``fastgan`` command line (see :mod:`fastgan.cli`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Optional, Sequence

from fastgan._info import backends, format_backends
from fastgan.cli.table import format_table

__all__ = ["build_parser", "main", "METRICS", "DEFAULT_METRICS", "UsageError"]

#: metric name -> what it needs ("stats": statistics or features; "features": per-sample features of
#: both sets; "logits": classifier logits of the fake samples)
METRICS: dict[str, str] = {
    "fid": "stats",
    "kid": "features",
    "prdc": "features",
    "pr": "features",
    "is": "logits",
}
DEFAULT_METRICS = ("fid", "kid", "prdc")
#: names of fastgan.features.presets.PRESETS (spelled out so that ``--help`` does not import the networks)
PRESET_NAMES = ("pytorch-fid", "torch-fidelity", "clean-fid")
DEFAULT_PRESET = "pytorch-fid"


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
def _load(path: str, args: argparse.Namespace, *, want_logits: bool = False) -> Any:
    from fastgan.cli.io import load_input

    return load_input(
        path,
        extractor=args.extractor,
        weights=args.weights,
        batch_size=args.batch_size,
        device=args.device,
        want_logits=want_logits,
        progress=_progress_flag(args),
        preset=args.preset,
    )


def _cmd_stats(args: argparse.Namespace) -> int:
    import fastgan.metrics as fm

    src = _load(args.features, args)
    if src.kind == "stats":
        raise UsageError(f"{args.features}: is already a statistics file (mu, sigma); expected features")
    out = args.output
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise UsageError(f"-o {out}: directory {out_dir} does not exist")
    stats = fm.FeatureStats()
    stats.update(src.features)
    fm.save_stats(out, stats)
    n, d = src.features.shape
    if args.json:
        _echo(json.dumps({"input": src.describe(), "output": out, "count": int(n), "dim": int(d)}))
    else:
        _echo(f"wrote {out}: FID statistics of {n} samples, D={d} (mean [D], covariance [D, D], float64)")
    return 0


# ---------------------------------------------------------------------------------------------- eval
def _parse_metrics(spec: Optional[str]) -> tuple[list[str], bool]:
    """Returns (metric names in order, whether the user named them explicitly)."""
    if spec is None:
        return list(DEFAULT_METRICS), False
    names: list[str] = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name == "all":
            names.extend(m for m in METRICS if m != "is" and m not in names)
            continue
        if name not in METRICS:
            raise UsageError(f"--metrics: unknown metric {name!r}; choose from {', '.join(METRICS)} (or 'all')")
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("--metrics: no metric named")
    return names, True


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Load both sides, compute the requested metrics; returns the JSON report."""
    import torch
    from tqdm import tqdm

    import fastgan.metrics as fm

    names, explicit = _parse_metrics(args.metrics)
    need_logits = "is" in names and args.logits is None
    real = _load(args.real, args)
    fake = _load(args.fake, args, want_logits=need_logits)
    if real.dim != fake.dim:
        raise UsageError(
            f"feature dimensions differ: --real {args.real} has D={real.dim}, --fake {args.fake} has D={fake.dim}"
        )
    notes: list[str] = []
    stats_inputs = [f"{flag} {src.path}" for flag, src in (("--real", real), ("--fake", fake)) if src.kind == "stats"]
    if stats_inputs:
        impossible = [m for m in names if METRICS[m] == "features"]
        if impossible and explicit:
            raise UsageError(
                f"{' and '.join(stats_inputs)}: a statistics file (mu, sigma) supports only fid; "
                f"{', '.join(impossible)} {'needs' if len(impossible) == 1 else 'need'} per-sample features "
                "(pass .npy/.pt features or an image folder)"
            )
        if impossible:
            notes.append(f"only fid computed: {' and '.join(stats_inputs)} holds statistics, not per-sample features")
        names = [m for m in names if METRICS[m] != "features"]

    logits = None
    if "is" in names:
        if args.logits is not None:
            from fastgan.cli.io import load_features_file

            lsrc = load_features_file(args.logits)
            if lsrc.features is None:
                raise UsageError(f"--logits {args.logits}: expected classifier logits [N, C], got a statistics file")
            logits = lsrc.features
        elif fake.logits is not None:
            logits = fake.logits
        else:
            raise UsageError(
                "metric 'is' needs classifier logits of the fake samples: pass --logits FILE ([N, C]) "
                "or a fake image folder with --extractor inception"
            )

    device = torch.device(args.device)

    def on_device(t: Any) -> Any:
        return t.to(device) if t is not None else None

    def side(src: Any) -> Any:
        """What fid() takes for one side: features or FeatureStats (CPU), or (mu, sigma) on the device."""
        if src.features is not None:
            return on_device(src.features)
        if device.type == "cpu":
            return src.stats
        return src.stats.mean.to(device), src.stats.cov.to(device)

    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    enabled = sys.stderr.isatty() if _progress_flag(args) is None else False
    with tqdm(total=len(names), desc="metrics", unit="metric", disable=not enabled) as bar:
        for name in names:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            if name == "fid":
                results["fid"] = float(fm.fid(side(real), side(fake)))
            elif name == "kid":
                n_min = min(real.features.shape[0], fake.features.shape[0])
                subset_size = args.kid_subset_size
                if subset_size > n_min:
                    notes.append(f"kid subset size reduced from {subset_size} to {n_min} (the smaller sample count)")
                    subset_size = n_min
                gen = torch.Generator().manual_seed(args.seed)  # KID draws its subsets on the CPU
                out = fm.kid(on_device(real.features), on_device(fake.features),
                             subsets=args.kid_subsets, subset_size=subset_size, generator=gen)
                results.update({key: float(out[key]) for key in ("kid_mean", "kid_std")})
            elif name == "prdc":
                k = args.k if args.k is not None else 5
                out = fm.prdc(on_device(real.features), on_device(fake.features), k=k)
                results.update({key: float(out[key]) for key in ("precision", "recall", "density", "coverage")})
                results["prdc_k"] = k
            elif name == "pr":
                k = args.k if args.k is not None else 3
                out = fm.precision_recall(on_device(real.features), on_device(fake.features), k=k)
                results["pr_precision"] = float(out["precision"])
                results["pr_recall"] = float(out["recall"])
                results["pr_k"] = k
            elif name == "is":
                out = fm.inception_score(on_device(logits), splits=args.splits)
                results.update({key: float(out[key]) for key in ("is_mean", "is_std")})
            timings[name] = time.perf_counter() - t0
            bar.update(1)
    return {
        "real": real.describe(),
        "fake": fake.describe(),
        "metrics": results,
        "seconds": {k: round(v, 4) for k, v in timings.items()},
        "notes": notes,
    }


#: table rows of ``fastgan eval``: (result key, label, std key, metric it belongs to)
_ROWS = (
    ("fid", "FID", None, "fid"),
    ("kid_mean", "KID", "kid_std", "kid"),
    ("precision", "precision (k={prdc_k})", None, "prdc"),
    ("recall", "recall (k={prdc_k})", None, "prdc"),
    ("density", "density (k={prdc_k})", None, "prdc"),
    ("coverage", "coverage (k={prdc_k})", None, "prdc"),
    ("pr_precision", "precision (k={pr_k})", None, "pr"),
    ("pr_recall", "recall (k={pr_k})", None, "pr"),
    ("is_mean", "Inception Score", "is_std", "is"),
)


def _cmd_eval(args: argparse.Namespace) -> int:
    report = _evaluate(args)
    if args.json:
        _echo(json.dumps(report, indent=2))
        for n in report["notes"]:
            _echo(f"note: {n}", err=True)
        return 0
    m = report["metrics"]
    for tag in ("real", "fake"):
        d = report[tag]
        n = f"N={d['n']}, " if d["n"] is not None else ""
        _echo(f"{tag}: {d['path']} ({d['kind']}, {n}D={d['dim']})")
    _echo()
    rows = [[label.format(**m), m[key], m[std_key] if std_key else "", f"{report['seconds'][metric]:.3f}"]
            for key, label, std_key, metric in _ROWS if key in m]
    _echo(format_table(rows, header=["metric", "value", "std", "time [s]"]))
    for n in report["notes"]:
        _echo(f"note: {n}")
    return 0


# ---------------------------------------------------------------------------------------------- demo
def _demo_tables(results: dict[str, Any]) -> str:
    """The demo's two tables (fits; truncation sweep) as text."""
    fits = [[f["label"], f["fid"], f["precision"], f["recall"], f["density"], f["coverage"],
             f"{f['modes']}/{results['config']['n_modes']}", f"{f['train_seconds']:.1f}"] for f in results["fits"]]
    fit_table = format_table(fits, header=["divergence", "FID", "precision", "recall", "density", "coverage",
                                           "modes", "train [s]"])
    sweeps = list(results["truncation"]["targets"].items())
    header = ["psi"] + [f"{key} ({target})" for target, _ in sweeps for key in ("precision", "recall")]
    rows = [[f"{sweeps[0][1][j]['psi']:g}"] + [r[j][key] for _, r in sweeps for key in ("precision", "recall")]
            for j in range(len(sweeps[0][1]))]
    return "\n".join([fit_table, "", f"truncation trick ({results['truncation']['generator']} generators, "
                      f"latent z -> psi * z; precision / recall with k={results['truncation']['k']}):",
                      format_table(rows, header=header)])


def _cmd_demo(args: argparse.Namespace) -> int:
    from fastgan import demo

    divergences = [s.strip() for s in args.divergences.split(",") if s.strip()] if args.divergences else None
    results = demo.run(out_dir=args.out, steps=args.steps, seed=args.seed, quick=args.quick,
                       divergences=divergences, threads=args.threads, progress=_progress_flag(args))
    if args.json:
        _echo(json.dumps(results, indent=2))
        return 0
    cfg = results["config"]
    _echo(f"fastgan demo: f-GANs on {cfg['data']}, {cfg['steps']} steps each "
          f"(metrics on {cfg['n_eval']} raw 2-D samples, k={cfg['k']})")
    _echo()
    _echo(_demo_tables(results))
    _echo()
    _echo(f"figures: {', '.join(results['figures'])}; numbers: {results['results_file']}")
    _echo(f"total time: {results['total_seconds']:.1f} s")
    return 0


# ----------------------------------------------------------------------------------- convert-weights
def _cmd_convert_weights(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fastgan.features.weights import TRUST_NOTE, WeightsError, _is_torchscript, convert_weights

    if not args.trusted and os.path.isfile(args.input) and _is_torchscript(Path(args.input)):
        raise UsageError(f"{args.input}: is a TorchScript archive; pass --trusted to convert it. {TRUST_NOTE}")
    try:
        info = convert_weights(args.input, args.output, args.model, trusted=args.trusted)
    except WeightsError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _echo(json.dumps({"input": args.input, "output": args.output, "model": args.model, **info}))
    else:
        _echo(f"wrote {args.output}: {info['tensors']} tensors for --extractor {args.model} "
              f"(from a {info['source']}, mapped by {info['mapping']}"
              f"{', ' + str(info['dropped']) + ' unused tensors dropped' if info['dropped'] else ''}); "
              "load it with --weights")
    return 0


# -------------------------------------------------------------------------------------------- parser
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("image folders")
    g.add_argument("--extractor", choices=("inception", "vgg16"), default="inception",
                   help="feature network for image folders (default: inception, 2048-D pool3)")
    g.add_argument("--weights", metavar="PATH", help="weights file of the feature network (never downloaded)")
    g.add_argument("--batch-size", type=_positive_int, default=64, help="images per batch (default: 64)")
    g.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET,
                   help="reference whose image pipeline (resize, pixel scaling) is reproduced "
                   f"(default: {DEFAULT_PRESET}; see fastgan.features.presets)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (default: shown when stderr is a terminal)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastgan`` command."""
    parser = argparse.ArgumentParser(prog="fastgan", description="Fast, exact GAN losses and metrics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,stats,eval,convert-weights,demo}")

    p = sub.add_parser("info", help="show which backends (C++, CUDA, faiss) are available")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("stats", help="save FID statistics (mean, covariance) of a feature file or image folder",
                       description="Compute float64 FID statistics of FEATURES and save them with "
                       "fastgan.metrics.save_stats (an .npz with mu and sigma).")
    p.add_argument("features", metavar="FEATURES", help="feature file (.npy/.npz/.pt, [N, D]) or image folder")
    p.add_argument("-o", "--output", required=True, metavar="STATS.npz", help="output statistics file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    _add_source_options(p)
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("eval", help="evaluate fake against real samples (FID, KID, precision/recall, ...)",
                       description="Evaluate --fake against --real. Inputs: feature files (.npy/.npz/.pt "
                       "holding [N, D] floats), statistics files (.npz with mu/sigma; FID only) or image "
                       "folders (--extractor, --weights).")
    p.add_argument("--real", required=True, metavar="R", help="real features, statistics or image folder")
    p.add_argument("--fake", required=True, metavar="F", help="fake features, statistics or image folder")
    p.add_argument("--metrics", metavar="LIST",
                   help="comma-separated: fid, kid, prdc (precision/recall/density/coverage, k=5), "
                   "pr (precision/recall, k=3), is (needs logits), all (default: fid,kid,prdc)")
    p.add_argument("--k", type=_positive_int, help="neighbourhood size for prdc / pr (default: 5 / 3)")
    p.add_argument("--kid-subsets", type=_positive_int, default=100, help="KID subsets (default: 100)")
    p.add_argument("--kid-subset-size", type=_positive_int, default=1000, help="KID subset size (default: 1000)")
    p.add_argument("--splits", type=_positive_int, default=10, help="Inception Score splits (default: 10)")
    p.add_argument("--logits", metavar="FILE", help="classifier logits [N, C] of the fake samples, for 'is'")
    p.add_argument("--seed", type=int, default=0, help="seed of the KID subsets (default: 0)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_source_options(p)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("convert-weights", help="convert a weights file (e.g. TorchScript vgg16.pt) into a "
                       "weights-only state dict, once",
                       description="Convert IN (a state dict in a reference's layout, or a TorchScript "
                       "archive with --trusted) into OUT, a weights-only state dict with fastgan's names, "
                       "checked key by key. Trust: a TorchScript file is a program; reading it trusts its "
                       "contents. Convert only files from a source you trust; fastgan itself only ever "
                       "loads the weights-only result.")
    p.add_argument("input", metavar="IN", help="weights file to convert")
    p.add_argument("output", metavar="OUT", help="output state dict (.pth)")
    p.add_argument("--model", choices=("inception", "vgg16"), required=True, help="the network the weights are for")
    p.add_argument("--trusted", action="store_true",
                   help="I trust IN: allow reading a TorchScript archive (torch.jit.load)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=_cmd_convert_weights)

    p = sub.add_parser("demo", help="train small f-GANs on a 2-D mixture and evaluate them (CPU, no data)",
                       description="Train small f-GANs (GAN, KL, squared Hellinger, ...) on a "
                       "built-in 2-D mixture of Gaussians, evaluate the samples with FID and "
                       "precision/recall/density/coverage, sweep the truncation psi, and write PNG figures.")
    p.add_argument("--out", default="fastgan-demo", metavar="DIR", help="output folder (default: ./fastgan-demo)")
    p.add_argument("--steps", type=_positive_int, help="training steps per divergence (default: 1000; --quick: 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    p.add_argument("--divergences", metavar="LIST",
                   help="comma-separated divergences to train (default: gan,kl,hellinger; any name or alias of "
                   "fastgan.divergences, e.g. reverse_kl, pearson, neyman, js, jeffrey, total_variation)")
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads while training (default: 1)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (default: shown when stderr is a terminal)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``fastgan`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    User errors (``ValueError`` from input validation, including :class:`UsageError` and
    :class:`fastgan.cli.io.InputError`; ``OSError`` on files) print one line on stderr and give 2;
    argparse exits with 2 itself. Any other exception propagates.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        _echo(f"fastgan {args.command}: interrupted", err=True)
        return 130
    except (ValueError, OSError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        _echo(f"fastgan {args.command}: error: {msg}", err=True)
        return 2
