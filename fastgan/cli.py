"""The ``fastgan`` command line (also ``python -m fastgan``).

Subcommands:

* ``fastgan info``: which backends (C++ kernels, CUDA, faiss) this installation has.
* ``fastgan stats FEATURES -o stats.npz``: FID statistics (mean, covariance) of a feature file or
  image folder, saved with :func:`fastgan.metrics.save_stats`.
* ``fastgan eval --real R --fake F [--metrics fid,kid,prdc,pr,is]``: evaluate fake against real.
  ``R`` / ``F`` are feature files (``.npy`` / ``.npz`` / ``.pt``, ``[N, D]``), statistics files
  (``.npz`` with ``mu`` / ``sigma``: FID only) or image folders (``--extractor``, ``--weights``).
* ``fastgan demo``: train small f-GANs on a 2-D toy mixture and evaluate them (no data, no weights).

Exit status: 0 on success, 2 on a user error (bad path, malformed file, wrong shape, dimension
mismatch, unknown metric), printed as one line ``fastgan <command>: error: <reason>`` on stderr.
Set ``FASTGAN_DEBUG=1`` to get the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

from fastgan._info import backends, format_backends

#: metric name -> what it needs ("features": per-sample features of both sets; "logits": classifier logits)
METRICS: dict[str, str] = {
    "fid": "stats",
    "kid": "features",
    "prdc": "features",
    "pr": "features",
    "is": "logits",
}
DEFAULT_METRICS = ("fid", "kid", "prdc")


class UsageError(Exception):
    """A user error detected by the CLI itself (printed as one line, exit status 2)."""


# ----------------------------------------------------------------------------------------- progress
def _status(enabled: bool) -> Callable[[str], None]:
    """A one-line 'what is running now' note on stderr, shown only on a terminal."""
    show = enabled and sys.stderr.isatty()

    def note(msg: str) -> None:
        if show:
            sys.stderr.write(f"\r\033[K{msg}")
            sys.stderr.flush()
            if not msg:
                sys.stderr.write("\r\033[K")

    return note


# ---------------------------------------------------------------------------------------------- info
def _cmd_info(args: argparse.Namespace) -> int:
    info = backends()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_backends(info))
    return 0


# --------------------------------------------------------------------------------------------- stats
def _load(path: str, args: argparse.Namespace, *, want_logits: bool = False) -> Any:
    from fastgan import _io

    return _io.load_input(
        path,
        extractor=getattr(args, "extractor", "inception"),
        weights=getattr(args, "weights", None),
        batch_size=getattr(args, "batch_size", 64),
        device=getattr(args, "device", "cpu"),
        want_logits=want_logits,
        progress=not getattr(args, "no_progress", False),
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
        print(json.dumps({"input": src.describe(), "output": out, "count": int(n), "dim": int(d)}))
    else:
        print(f"wrote {out}: FID statistics of {n} samples, D={d} (mean [D], covariance [D, D], float64)")
    return 0


# ---------------------------------------------------------------------------------------------- eval
def _parse_metrics(spec: Optional[str]) -> tuple[list[str], bool]:
    """Returns (metric names in order, whether the user named them explicitly)."""
    if spec is None:
        return list(DEFAULT_METRICS), False
    names = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name == "all":
            names.extend(m for m in METRICS if m != "is")
            continue
        if name not in METRICS:
            raise UsageError(f"--metrics: unknown metric {name!r}; choose from {', '.join(METRICS)} (or 'all')")
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("--metrics: no metric named")
    return names, True


def _to_float(x: Any) -> float:
    if hasattr(x, "item"):
        return float(x.item())
    return float(x)


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import fastgan.metrics as fm

    names, explicit = _parse_metrics(args.metrics)
    note = _status(not args.no_progress)
    need_logits = "is" in names and args.logits is None
    note("loading real ...")
    real = _load(args.real, args)
    note("loading fake ...")
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
            from fastgan import _io

            lsrc = _io.load_features_file(args.logits)
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

    # fastgan's ops are torch.library custom ops; their first call imports torch._dynamo (seconds).
    # Pay that once here so the per-metric times below measure the metrics.
    note("initialising torch ...")
    import torch._dynamo  # noqa: F401

    device = torch.device(args.device)
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}

    def on_device(t: Any) -> Any:
        return t.to(device) if t is not None else None

    def side(src: Any) -> Any:
        if src.features is not None:
            return on_device(src.features)
        if device.type == "cpu":
            return src.stats
        mu, sigma = src.stats if isinstance(src.stats, tuple) else (src.stats.mean, src.stats.cov)
        return mu.to(device), sigma.to(device)

    for name in names:
        note(f"computing {name} ...")
        t0 = time.perf_counter()
        if name == "fid":
            # fid() takes features, FeatureStats or (mu, sigma) on either side.
            results["fid"] = _to_float(fm.fid(side(real), side(fake)))
        elif name == "kid":
            n_min = min(real.features.shape[0], fake.features.shape[0])
            subset_size = args.kid_subset_size
            if subset_size > n_min:
                notes.append(f"kid subset size reduced from {subset_size} to {n_min} (the smaller sample count)")
                subset_size = n_min
            gen = torch.Generator().manual_seed(args.seed)  # KID draws its subsets on the CPU
            mean, std = fm.kid(
                on_device(real.features), on_device(fake.features),
                subsets=args.kid_subsets, subset_size=subset_size, generator=gen,
            )
            results["kid"] = _to_float(mean)
            results["kid_std"] = _to_float(std)
        elif name == "prdc":
            k = args.k if args.k is not None else 5
            out = fm.prdc(on_device(real.features), on_device(fake.features), nearest_k=k)
            for key in ("precision", "recall", "density", "coverage"):
                results[key] = _to_float(out[key])
            results["prdc_k"] = k
        elif name == "pr":
            k = args.k if args.k is not None else 3
            out = fm.precision_recall(on_device(real.features), on_device(fake.features), k=k)
            results["pr_precision"] = _to_float(out["precision"])
            results["pr_recall"] = _to_float(out["recall"])
            results["pr_k"] = k
        elif name == "is":
            mean, std = fm.inception_score(on_device(logits), splits=args.splits)
            results["is"] = _to_float(mean)
            results["is_std"] = _to_float(std)
        timings[name] = time.perf_counter() - t0
    note("")
    return {
        "real": real.describe(),
        "fake": fake.describe(),
        "metrics": results,
        "seconds": {k: round(v, 4) for k, v in timings.items()},
        "notes": notes,
    }


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.6e}"
        return f"{v:.6f}"
    return str(v)


def format_table(rows: Sequence[Sequence[Any]], header: Optional[Sequence[str]] = None) -> str:
    """Left-aligned first column, right-aligned others, columns separated by two spaces."""
    cells = [[_fmt(c) for c in r] for r in rows]
    if header is not None:
        cells = [list(header)] + cells
    if not cells:
        return ""
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(max(len(r) for r in cells))]
    lines = []
    for j, r in enumerate(cells):
        parts = [r[0].ljust(widths[0])] + [c.rjust(widths[i + 1]) for i, c in enumerate(r[1:])]
        lines.append("  ".join(parts).rstrip())
        if header is not None and j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


_ROWS = (  # (result key, label, std key)
    ("fid", "FID", None),
    ("kid", "KID", "kid_std"),
    ("precision", "precision (k={prdc_k})", None),
    ("recall", "recall (k={prdc_k})", None),
    ("density", "density (k={prdc_k})", None),
    ("coverage", "coverage (k={prdc_k})", None),
    ("pr_precision", "precision (k={pr_k})", None),
    ("pr_recall", "recall (k={pr_k})", None),
    ("is", "Inception Score", "is_std"),
)


def _cmd_eval(args: argparse.Namespace) -> int:
    report = _evaluate(args)
    if args.json:
        print(json.dumps(report, indent=2))
        for n in report["notes"]:
            print(f"note: {n}", file=sys.stderr)
        return 0
    m = report["metrics"]

    def src_line(tag: str, d: dict[str, Any]) -> str:
        n = f"N={d['n']}, " if d["n"] is not None else ""
        return f"{tag}: {d['path']} ({d['kind']}, {n}D={d['dim']})"

    print(src_line("real", report["real"]))
    print(src_line("fake", report["fake"]))
    print()
    rows = []
    for key, label, std_key in _ROWS:
        if key in m:
            rows.append([label.format(**m), m[key], m[std_key] if std_key else "", f"{report['seconds'].get(_metric_of(key), 0):.3f}"])
    print(format_table(rows, header=["metric", "value", "std", "time [s]"]))
    for n in report["notes"]:
        print(f"note: {n}")
    return 0


def _metric_of(key: str) -> str:
    if key in ("precision", "recall", "density", "coverage"):
        return "prdc"
    if key.startswith("pr_"):
        return "pr"
    return key


# ---------------------------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from fastgan import demo

    return demo.run(
        out_dir=args.out,
        steps=args.steps,
        seed=args.seed,
        quick=args.quick,
        divergences=args.divergences,
        threads=args.threads,
        progress=not args.no_progress,
        json_out=args.json,
    )


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
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgan", description="Fast, exact GAN losses and metrics.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,stats,eval,demo}")

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

    p = sub.add_parser("demo", help="train small f-GANs on a 2-D mixture and evaluate them (CPU, no data)",
                       description="Train small f-GANs (GAN, KL, squared Hellinger, ...) on a "
                       "built-in 2-D mixture of Gaussians, evaluate the samples with FID and "
                       "precision/recall/density/coverage, sweep the truncation psi, and write PNG figures.")
    p.add_argument("--out", default="fastgan-demo", metavar="DIR", help="output folder (default: ./fastgan-demo)")
    p.add_argument("--steps", type=_positive_int, help="training steps per divergence (default: 1000; --quick: 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests (a few seconds)")
    p.add_argument("--divergences", metavar="LIST",
                   help="comma-separated divergences to train (default: gan,kl,hellinger; also reverse_kl, "
                   "pearson, neyman, js, jeffrey, total_variation)")
    p.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice, at most 2)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from fastgan._io import InputError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"fastgan {args.command}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, InputError, ValueError, TypeError, OSError, ImportError, RuntimeError, MemoryError,
            ArithmeticError) as exc:
        if os.environ.get("FASTGAN_DEBUG", "") not in ("", "0"):
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"fastgan {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
