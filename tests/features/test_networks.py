"""The network table (fastgan.features.networks), weight conversion above it (fastgan.features.convert),
and the one image path (fastgan.features.images / embedding) that extract_features and evaluate share."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import fastgan.features as ff
from fastgan.cli import commands
from fastgan.features import convert, images, weights
from fastgan.features.networks import ALIASES, NETWORKS, build_extractor, network_key

PKG = Path(ff.__file__).resolve().parents[1]


def _imports(path: Path, top_level_only: bool) -> list[ast.ImportFrom]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    return [n for n in nodes if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("fastgan")]


def test_cli_names_match_the_table() -> None:
    assert commands.NETWORK_NAMES == tuple(NETWORKS)
    assert set(ALIASES.values()) <= set(NETWORKS)


@pytest.mark.parametrize(
    "name,key",
    [
        ("inception", "inception"),
        ("Inception-V3", "inception"),
        ("inception_v3", "inception"),
        ("VGG", "vgg16"),
        ("vgg-16", "vgg16"),
        ("dinov2-vit-l14", None),
        ("resnet", None),
    ],
)
def test_network_key(name: str, key: str | None) -> None:
    assert network_key(name) == key


def test_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown name 'resnet'"):
        build_extractor("resnet")


def test_convert_weights_is_importable_from_every_old_place() -> None:
    assert ff.convert_weights is convert.convert_weights is weights.convert_weights
    with pytest.raises(AttributeError):
        weights.no_such_name  # noqa: B018


def test_weights_knows_no_network_and_features_no_evaluation() -> None:
    """weights.py loads files and imports no network (no cycle); features/ never imports evaluation/
    at import time; no private name crosses a subpackage."""
    for node in _imports(PKG / "features" / "weights.py", top_level_only=False):
        assert node.module in ("fastgan.features", "fastgan.features.convert"), (
            node.module
        )  # hub; lazy convert
    for path in sorted((PKG / "features").glob("*.py")):
        for node in _imports(path, top_level_only=True):
            assert not node.module.startswith("fastgan.evaluation"), (path.name, node.module)
    readers = [
        *sorted((PKG / "features").glob("*.py")),
        *(PKG / "evaluation" / f for f in ("sources.py", "array_files.py", "embed.py")),
        PKG / "cli" / "commands.py",
    ]
    for path in readers:
        for node in _imports(path, top_level_only=False):
            other = node.module.split(".")[1] if node.module.count(".") else ""
            if other != path.parent.name and (path.parent.name != "cli" or other == "features"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private or other.startswith("_"), (path.name, node.module, private)


def test_unpack_batch() -> None:
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    assert images.unpack_batch(x, "b") is x
    assert images.unpack_batch((x, torch.zeros(2)), "b") is x
    assert images.unpack_batch({"img": x, "label": 0}, "b") is x
    with pytest.raises(ValueError, match="^b 3: dict without an 'image'"):
        images.unpack_batch({"label": 0}, "b 3")
    with pytest.raises(ValueError, match="^b: empty"):
        images.unpack_batch([], "b")


def test_sources_and_extract_read_through_images(tmp_path: Path) -> None:
    """Both entry points list a folder with the same function (the cache is left out for both)."""
    from fastgan.evaluation import sources
    from fastgan.features import extract

    np = pytest.importorskip("numpy")
    for i in range(3):
        np.save(tmp_path / f"{i}.npy", np.zeros((4, 4, 3), np.uint8))
    cache = tmp_path / "c-inception-pytorch-fid-wabc-p1-0123456789ab"
    cache.mkdir()
    (cache / "manifest.json").write_text("{}")
    assert sources.list_folder is images.list_folder
    assert (
        extract.list_image_files(tmp_path)
        == images.list_folder(tmp_path)[0]
        == sorted(tmp_path.glob("*.npy"))
    )
