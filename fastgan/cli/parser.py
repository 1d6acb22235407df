"""The parser of the ``fastgan`` command line (see :mod:`fastgan.cli`): its option tables, the hints for
peers' spellings, and :func:`make_parser`, which :func:`fastgan.cli.commands.build_parser` calls with the
subcommands. Imports neither torch nor the networks (``fastgan --help`` stays fast)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

__all__ = [
    "PRESET_NAMES",
    "DEFAULT_PRESET",
    "METRIC_NAMES",
    "NETWORK_NAMES",
    "OPTION_FLAGS",
    "PEER_HINTS",
    "make_parser",
]

#: a subcommand: parsed arguments -> exit status
Handler = Callable[[argparse.Namespace], int]

#: names of fastgan.features.presets.PRESETS and of fastgan.evaluation.METRICS (spelled out so that
#: ``--help`` imports neither torch nor the networks; a test checks both against their tables)
PRESET_NAMES = ("pytorch-fid", "torch-fidelity", "clean-fid", "adm")
DEFAULT_PRESET = "pytorch-fid"
#: names of fastgan.evaluation.protocols.PROTOCOLS (spelled out for the same reason)
PROTOCOL_NAMES = ("fid50k_full", "kid50k_full", "pr50k3_full", "is50k", "fd_dinov2", "adm")
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
    "prd",
    "rarity",
    "clipped_dc",
    "kid_rbf",
    "mind",
    "authpct",
    "mifid",
    "ct",
    "fld",
    "fls",
    "sfid",
    "adm_pr",
    "ppl",
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

#: ``fastgan eval --real-test``: the third input of the memorization metrics that need one
_REAL_TEST_HELP = (
    "held-out real test set for ct, fld and fls (REAL is then the training set): features "
    "(.npy/.npz/.pt [N, D]), or images embedded as REAL's when REAL is images"
)

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


# ------------------------------------------------------------------------------------------- options
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
    p.add_argument(
        "--float64",
        action="store_true",
        help="embed in float64 (network weights and pixels): features that do not depend on the batch size",
    )


_ADM_HELP = (
    "write an ADM evaluator reference batch instead (arr_0 uint8 images, mu / sigma of pool3, "
    "mu_s / sigma_s of the sFID features; preset adm); FEATURES must be images"
)


def _add_convention_options(p: argparse.ArgumentParser) -> None:
    """``fastgan eval``'s options that override the preset's metric conventions, and ``--protocol``."""
    p.add_argument("--kid-subsets", type=_positive_int, help="KID subsets (default: the preset's, 100)")
    p.add_argument(
        "--kid-subset-size",
        type=_positive_int,
        help="KID subset size (default: the preset's 1000, reduced to the sample count with a note)",
    )
    p.add_argument("--splits", type=_positive_int, help="Inception Score splits (default: the preset's, 10)")
    p.add_argument(
        "--seed",
        type=int,
        help="seed of the KID subsets and other draws (default: the preset's "
        "KID seed, torch-fidelity 2020; else 0)",
    )
    p.add_argument(
        "--protocol",
        choices=PROTOCOL_NAMES,
        help="a named protocol fixing metrics, options, preset and sample counts "
        "(see fastgan.evaluation.protocols); other sample counts are reported in a note",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="--protocol: sample counts other than the protocol's are an error",
    )


def make_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The argument parser of the ``fastgan`` command; ``handlers``: subcommand -> its function (``func``)."""
    parser = argparse.ArgumentParser(prog="fastgan", description="Fast, exact GAN losses and metrics.")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{info,stats,eval,convert-weights,demo}"
    )

    p = sub.add_parser("info", help="show which backends (C++, CUDA, faiss) are available")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=handlers["info"])

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
    p.add_argument("--adm", action="store_true", help=_ADM_HELP)
    p.set_defaults(func=handlers["stats"])

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
        "--sampler",
        metavar="MODULE:NAME",
        help="FAKE from a generator: MODULE:NAME is a fastgan.Sampler, or a function returning one "
        "(imported with the current directory on the path); needed by --metrics ppl",
    )
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
    _add_convention_options(p)
    p.add_argument(
        "--logits",
        metavar="FILE",
        help="classifier logits [N, C] of the fake samples, for 'is' when --fake is not an image folder",
    )
    p.add_argument("--real-test", metavar="PATH", help=_REAL_TEST_HELP)
    p.add_argument(
        "--fast",
        action="store_true",
        help="the networks in reduced precision (bfloat16 on CPUs that have it, float16 on CUDA): "
        "faster, features move by ~3e-3, FID beyond the presets' parity; never for published numbers",
    )
    p.set_defaults(func=handlers["eval"])

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
    p.add_argument(
        "--extractor",
        "--model",
        dest="extractor",
        choices=NETWORK_NAMES,
        required=True,
        help="the network the weights are for (--model: its former spelling)",
    )
    p.add_argument(
        "--trusted",
        action="store_true",
        help="I trust IN: allow reading a TorchScript archive (torch.jit.load)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=handlers["convert-weights"])

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
    p.set_defaults(func=handlers["demo"])
    return parser
