"""mkdocs hooks of the manual (docs/mkdocs.yml): everything generated at build time.

* the API pages (``api/<package>.md``, from each package's ``__all__``; :mod:`gen.api`);
* the figures (``figures/*.png``: the f-GAN conjugates and activations from the divergence
  registry, the performance plots from ``bench/results/*.json``; :mod:`gen.figures`);
* the tables written into a page where it says ``<!-- gen:NAME -->`` (:data:`gen.tables.TABLES`);
* the navigation of ``metrics/`` (every page of ``pages/metrics/``, the overview first) and of
  ``api/``, so a new page or package needs no edit of mkdocs.yml.

Nothing is written under ``docs/pages``: generated files exist only in the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
if str(_HERE.parent) not in sys.path:  # fastgan from the checkout when it is not installed
    sys.path.append(str(_HERE.parent))

from gen import api, figures, tables  # noqa: E402
from mkdocs.structure.files import File, Files  # noqa: E402

_MARKER = re.compile(r"<!--\s*gen:([a-z0-9_]+)\s*-->")
_TITLE = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def _page_title(text: str, fallback: str) -> str:
    m = _TITLE.search(text)
    return m.group(1).strip() if m else fallback


def _section(files: Files, folder: str, first: str = "index.md") -> list[Any]:
    """Every markdown page of ``folder/``: ``first`` at the top, then by title."""
    pages = [f for f in files.documentation_pages() if f.src_uri.startswith(f"{folder}/")]
    entries = []
    for f in pages:
        text = f.content_string
        entries.append((f.src_uri.rsplit("/", 1)[1] != first, _page_title(text, f.name).lower(), f.src_uri))
    return [uri for _, _, uri in sorted(entries)]


def on_pre_build(config: Any) -> None:
    """Forget what an earlier build of this process generated (``mkdocs serve`` rebuilds)."""
    figures.clear()
    api.clear()


def on_files(files: Files, config: Any) -> Files:
    for path, text in api.pages().items():
        files.append(File.generated(config, path, content=text))
    for path, data in figures.render_all().items():
        files.append(File.generated(config, path, content=data))
    nav = config["nav"]
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            ((title, target),) = item.items()
            if target == "metrics/":
                nav[i] = {title: _section(files, "metrics")}
            elif target == "api/":
                nav[i] = {title: [api.page_name(p) for p in api.PACKAGES]}
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in tables.TABLES:
            raise KeyError(f"{page.file.src_uri}: unknown generated block <!-- gen:{name} -->")
        return tables.TABLES[name]()

    return _MARKER.sub(one, markdown)
