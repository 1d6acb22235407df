"""Turn the peers suite's recorded differences into the README's parity table (markdown).

    FASTGAN_PEERS_RECORD=bench/results/peers_parity.json python -m pytest tests/peers -m peers
    python tests/peers/parity_table.py bench/results/peers_parity.json [-o table.md]

One row per (reference, quantity): the number of cases (tests x parameters x sub-cases), the
largest absolute difference measured over them, the largest relative difference (relative to the
scale named by the tolerance: the reference's value by default, the FID scale
``|mu1 - mu2|^2 + tr S1 + tr S2``, the KID kernel scale or the sample count where the tolerance
says so) and the tolerance the tests assert.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ORDER = ("pytorch-fid", "torch-fidelity", "clean-fid", "torchmetrics", "prdc")
KINDS = ("PNG files", "identical", "folders")


def _num(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def table(data: dict[str, Any]) -> str:
    """Markdown table of ``data`` (the JSON the suite writes: ``{"meta": ..., "records": [...]}``)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in data["records"]:
        groups.setdefault((r["peer"], r["version"], r["quantity"]), []).append(r)
    first = {key: i for i, key in enumerate(groups)}

    def kind(quantity: str) -> int:  # features from image files, metrics on identical arrays, end to end
        return next((i for i, word in enumerate(KINDS) if word in quantity), len(KINDS))

    keys = sorted(
        groups, key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else len(ORDER), k[0], kind(k[2]), first[k])
    )
    meta = data.get("meta", {})
    lines = [
        f"Measured by the peers suite (torch {meta.get('torch', '?')}, numpy {meta.get('numpy', '?')}); "
        "one row per reference and quantity, the maximum over its cases.",
        "",
        "| reference | version | quantity | cases | max abs. difference | max rel. difference | asserted |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for key in keys:
        rows = groups[key]
        peer, version, quantity = key
        diff = max(r["max_abs_diff"] for r in rows)
        rel = max(r["max_rel_diff"] for r in rows)
        bitwise = all(r["bitwise"] for r in rows)
        tols = sorted({r["tolerance"] for r in rows})
        shown = "0 (bitwise)" if bitwise and tols == ["bitwise"] else _num(diff)
        lines.append(
            f"| {peer} | {version} | {quantity} | {len(rows)} | {shown} | {_num(rel)} | {'; '.join(tols)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("records", type=Path, help="JSON written with FASTGAN_PEERS_RECORD")
    ap.add_argument("-o", "--output", type=Path, help="markdown file (default: stdout)")
    args = ap.parse_args(argv)
    text = table(json.loads(args.records.read_text()))
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
