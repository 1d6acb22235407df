"""The ``fastgan`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from fastgan._info import backends, format_backends


def _cmd_info(args: argparse.Namespace) -> int:
    info = backends()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_backends(info))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgan", description="Fast, exact GAN losses and metrics.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="show which backends (C++, CUDA, faiss) are available")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"fastgan {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
