"""The manual's generated parts: an API entry for every public name, the README's headline table
equal to what the bench results give, and the README's length.

The generators live in ``docs/gen`` (run by the site build, ``mkdocs build --strict -f
docs/mkdocs.yml``); these tests import them directly and need no mkdocs.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from gen import api, bench, figures, readme_table, tables  # noqa: E402


@pytest.mark.parametrize("package", api.PACKAGES)
def test_every_public_name_has_an_api_entry(package: str) -> None:
    """Each name of ``__all__`` has a heading on its package's page: a ``:::`` entry of the object
    that defines it, or a line linking to the entry of the same object elsewhere."""
    text = api.page(package)
    entries = set(re.findall(r"^::: (\S+)$", text, re.MULTILINE))
    aliases = set(re.findall(r"\{ #(\S+) \}$", text, re.MULTILINE))
    module = importlib.import_module(package)
    assert module.__all__, package
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        target = next(e.target for e in api.entries(package) if e.public == f"{package}.{name}")
        assert target.rsplit(".", 1)[1] == name or f"{package}.{name}" in aliases or target in entries
        if target not in entries and f"{package}.{name}" not in aliases:
            missing.append(name)
        if target in entries and not isinstance(obj, (str, int, float, tuple, dict, list)):
            # the entry names the defining object: importing its path gives the same object
            mod_path, attr = target.rsplit(".", 1)
            try:
                found = getattr(importlib.import_module(mod_path), attr)
            except ModuleNotFoundError:  # a nested qualname (Class.method): resolve stepwise
                outer, inner = mod_path.rsplit(".", 1)
                found = getattr(getattr(importlib.import_module(outer), inner), attr)
            assert found is obj, (name, target)
    assert not missing, f"{package}: no API entry for {missing}"


def test_alias_links_point_at_entries() -> None:
    """A name shown as a link (``fastgan.evaluate``) links to a ``:::`` entry of the page it names."""
    pages = {p: api.page(p) for p in api.PACKAGES}
    for package, text in pages.items():
        for page, anchor in re.findall(r"\]\((fastgan[\w.]*)\.md#([\w.]+)\)", text):
            assert f"::: {anchor}" in pages[page], (package, page, anchor)


def test_readme_headline_table_is_generated() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table.render(text) == text, "run: python docs/gen/readme_table.py"


def test_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_headline_table_reads_the_results() -> None:
    """Every peers.json case that ran appears in the table with its measured fastgan time."""
    table = bench.headline_table()
    for title, size, ours, _ in bench.peers_groups() or []:
        assert f"| {title} | {size} | {bench.secs(ours['warm_median_s'])} |" in table


def test_a_malformed_results_file_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "peers.json").write_text('{"results": "not a list"}')
    (tmp_path / "modern.json").write_text("{not json")
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    with pytest.raises(bench.BenchFormatError, match="peers.json"):
        bench.peers_table()
    with pytest.raises(bench.BenchFormatError, match="modern.json"):
        bench.modern_table("modern.json")
    assert "not in this checkout" in bench.eval_table()  # an absent file is a note, not an error


def test_divergence_table_has_every_registry_entry() -> None:
    from fastgan.divergences import DIVERGENCES

    table = tables.divergence_table()
    rows = [line for line in table.splitlines()[2:] if line.startswith("| `")]
    assert {r.split("`")[1] for r in rows} == set(DIVERGENCES)
    cells = [re.split(r"(?<!\\)\|", r)[1:-1] for r in rows]  # a Markdown table splits at unescaped pipes
    assert all(len(c) == 7 for c in cells), "a cell holds an unescaped '|'"


def test_figures_are_drawn_from_the_registry_and_the_results() -> None:
    pytest.importorskip("matplotlib")
    from fastgan.divergences import DIVERGENCES

    drawn = figures.render_all()
    assert set(drawn) == set(figures.FIGURES)  # the committed bench results hold data for every figure
    assert all(png.startswith(b"\x89PNG") for png in drawn.values())
    assert {d.name for _, d in figures.registry()} == set(DIVERGENCES)
