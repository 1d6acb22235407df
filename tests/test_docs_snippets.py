"""Every code snippet of the manual runs: README.md and docs/pages/**/*.md.

For each Markdown file, the ```python blocks run in order in one namespace (a page may build on
its earlier blocks), and every ``fastgan ...`` command of its ```bash / ```console blocks runs
through ``fastgan.cli.main`` and must exit with status 0. Other shell lines (``pip``, ``mkdocs``,
``bash .ci/run``, ``torchrun``, ``python bench/...``) are not run. Everything runs offline (the
suite's autouse fixture) in a fresh folder that holds what the pages use:

* ``real/`` and ``fake/``: folders of small PNG images;
* ``real_feats.npy``, ``fake_feats.npy``, ``fake_feats.pt``: feature arrays ``[N, 16]``;
* ``fake_logits.npy``: Inception-like logits ``[N, 1008]``;

and every feature network ``fastgan.evaluate`` / ``fastgan eval`` builds is a small random
network (:class:`TinyNet`) instead of Inception-v3, whose published weights are not downloaded.

A block opts out only with a marker on the line before its fence that gives a reason, e.g.
``<!-- docs-test: skip needs a GPU -->``; a marker without a reason fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ("python", "py")
SHELL = ("bash", "console", "sh", "shell")
_FENCE = re.compile(r"^(\s*)```(\w*)")
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(.*?)-->")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the reason, when the block opts out


def manual_files() -> list[Path]:
    """README.md and every page of the site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs" / "pages").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of ``path`` (any indentation), with their opt-out markers."""
    lines = path.read_text(encoding="utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip = _SKIP.search(prev)
        reason = skip.group(1).strip() if skip else None
        out.append(Block(path, start + 1, lang, textwrap.dedent("\n".join(body)), reason))
    return out


def fastgan_commands(code: str) -> list[list[str]]:
    """The ``fastgan ...`` command lines of a shell block (continuations joined, comments cut)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    out = []
    for line in joined.split("\n"):
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        for part in line.split("&&"):
            argv = shlex.split(part, comments=True)
            if argv[:1] == ["fastgan"]:
                out.append(argv[1:])
            elif argv[:3] == ["python", "-m", "fastgan"]:
                out.append(argv[3:])
    return out


def _runnable(path: Path) -> bool:
    return any(b.lang in PYTHON + SHELL and b.skip is None for b in blocks(path))


class TinyNet(torch.nn.Module):
    """The stand-in feature network: float images [B, 3, 16, 16] in [0, 1] -> features [B, 8]."""

    input_size = 16
    resize = "bilinear"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def _fixtures(folder: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for side, shift in (("real", 0), ("fake", 40)):
        (folder / side).mkdir()
        for i in range(24):
            pixels = np.clip(rng.integers(0, 200, (16, 16, 3)) + shift, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / side / f"{i:03d}.png")
    real = rng.standard_normal((300, 16)).astype(np.float32)
    fake = (1.1 * rng.standard_normal((300, 16)) + 0.1).astype(np.float32)
    np.save(folder / "real_feats.npy", real)
    np.save(folder / "fake_feats.npy", fake)
    torch.save(torch.from_numpy(fake), folder / "fake_feats.pt")
    np.save(folder / "fake_logits.npy", (3 * rng.standard_normal((300, 1008))).astype(np.float32))


def _tiny_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every place the evaluation looks ``build_extractor`` up builds a :class:`TinyNet`."""
    import importlib

    for name in ("fastgan.evaluation.embed", "fastgan.evaluation.stages", "fastgan.features.extract"):
        module = importlib.import_module(name)
        if hasattr(module, "build_extractor"):
            monkeypatch.setattr(module, "build_extractor", lambda name, weights=None, **kwargs: TinyNet())


def test_markers_give_a_reason() -> None:
    """An opt-out marker must say why the block cannot run here."""
    bad = [f"{b.path.relative_to(ROOT)}:{b.line}" for p in manual_files() for b in blocks(p) if b.skip == ""]
    assert not bad, f"docs-test skip markers without a reason: {bad}"


def test_the_manual_has_snippets() -> None:
    """The extraction finds the pages' code (a broken fence parser would skip everything)."""
    found = [b for p in manual_files() for b in blocks(p) if b.lang in PYTHON and b.skip is None]
    assert len(found) >= 10
    assert any(fastgan_commands(b.code) for p in manual_files() for b in blocks(p) if b.lang in SHELL)


@pytest.mark.parametrize(
    "path", [p for p in manual_files() if _runnable(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_snippets_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fixtures(tmp_path)
    _tiny_networks(monkeypatch)
    monkeypatch.chdir(tmp_path)
    from fastgan.cli import main

    namespace: dict[str, Any] = {"__name__": "__docs__"}
    where = path.relative_to(ROOT)
    for b in blocks(path):
        if b.skip is not None:
            continue
        if b.lang in PYTHON:
            try:
                exec(compile(b.code, f"{where}:{b.line}", "exec"), namespace)
            except Exception:
                pytest.fail(f"{where}:{b.line}: the python block failed:\n{traceback.format_exc()}")
        elif b.lang in SHELL:
            for argv in fastgan_commands(b.code):
                try:
                    status = main(argv)
                except SystemExit as e:
                    status = e.code
                out = capsys.readouterr()
                assert status in (0, None), (
                    f"{where}:{b.line}: `fastgan {' '.join(argv)}` exited with {status}:\n{out.err[-2000:]}"
                )
    assert os.getcwd() == str(tmp_path)
