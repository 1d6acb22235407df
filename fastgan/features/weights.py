"""Weight files for the feature extractors: resolve, (optionally) download, verify, load.

Weights are plain state dicts read with ``torch.load(weights_only=True)``: no pickled
code runs. Loading is strict: every missing key, unexpected key and shape mismatch is
reported in one clear error (a handful of known-unused keys, such as a classifier head
the extractor does not use, may be declared ignorable by the model).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

import torch

__all__ = [
    "WeightsError",
    "cache_dir",
    "resolve_weights",
    "load_state_dict_file",
    "check_state_dict",
    "load_weights_into",
    "sha256_file",
    "is_torchscript",
    "TRUST_NOTE",
]

logger = logging.getLogger(__name__)


class WeightsError(ValueError):
    """A weights file is missing, corrupt, of the wrong format or does not fit the model."""


def cache_dir(path: Optional[str | os.PathLike[str]] = None) -> Path:
    """Directory for downloaded weights: ``path``, else ``$FASTGAN_CACHE``, else
    ``$XDG_CACHE_HOME/fastgan`` (default ``~/.cache/fastgan``)."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("FASTGAN_CACHE")
    if env:
        return Path(env).expanduser()
    from fastgan.features import hub

    return Path(hub.user_cache_root()) / "fastgan"


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha(path: Path, sha256: Optional[str]) -> None:
    if sha256 is None:
        return
    want = sha256.lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", want):
        raise ValueError(f"sha256: expected 8 to 64 hex digits (a full digest or a prefix), got {sha256!r}")
    got = sha256_file(path)
    if not got.startswith(want):
        raise WeightsError(
            f"{path}: sha256 mismatch (expected {want}{'...' if len(want) < 64 else ''}, got {got}); "
            "the file is corrupt or not the expected weights: delete it and fetch it again"
        )


def _is_url(s: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", s))


def resolve_weights(
    weights: Optional[str | os.PathLike[str]],
    *,
    known: Optional[str] = None,
    default_url: Optional[str] = None,
    sha256: Optional[str] = None,
    download: Optional[bool] = None,
    cache: Optional[str | os.PathLike[str]] = None,
    what: str = "model",
    progress: Optional[bool] = None,
) -> Path:
    """Turn a ``weights`` argument into a verified local file.

    Args:
        weights: a local path, a URL, or None (the network's default file: ``known``, else
            ``default_url``).
        known: name of the default file in :data:`fastgan.features.hub.KNOWN_WEIGHTS`: found in
            the cache or a peer's cache, else downloaded (see :func:`fastgan.features.hub.fetch`).
        default_url: URL used when ``weights`` and ``known`` are None.
        sha256: expected sha256 (full hex digest or a prefix of >= 8 digits). Verified for
            local files and downloads; None: the known file's digest, else not verified.
        download: None: fetch a missing file unless ``FASTGAN_OFFLINE`` is set (the default, as
            the peers do); False: never; True: fetch (``FASTGAN_OFFLINE`` still wins).
        cache: cache directory (see :func:`cache_dir`).
        what: model name for messages.
        progress: download progress bar on stderr (None: only on a terminal).

    Raises:
        WeightsError: the file is missing (with instructions), the download failed, or the
            checksum differs.
    """
    from fastgan.features import hub

    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", sha256):
        raise ValueError(f"sha256: expected 8 to 64 hex digits (a full digest or a prefix), got {sha256!r}")
    if weights is None and known is not None:
        path = hub.fetch(known, cache=cache_dir(cache), download=download, progress=progress)
        _check_sha(path, sha256)
        return path
    if weights is None and default_url is None:
        raise WeightsError(f"{what}: no weights given; pass weights='path/to/file.pth'")
    src = str(weights) if weights is not None else str(default_url)
    if not _is_url(src):
        path = Path(src).expanduser()
        if not path.is_file():
            raise WeightsError(f"{what}: weights file {str(path)!r} does not exist")
        _check_sha(path, sha256)
        return path
    name = src.rstrip("/").rsplit("/", 1)[-1] or "weights.pth"
    target = cache_dir(cache) / name
    if target.is_file():
        _check_sha(target, sha256)
        return target
    if hub.offline() or download is False:
        why = "FASTGAN_OFFLINE is set" if hub.offline() else "download=False"
        raise WeightsError(
            f"{what}: weights are not available locally and {why}: fetch {src} on a machine with network "
            f"access and save it as {str(target)!r} (the cache directory; set FASTGAN_CACHE to move it), "
            f"or pass weights='/path/to/{name}'"
        )
    if sha256 is None:
        logger.warning("%s: weights from %s are not checksum-verified (no sha256 given)", what, src)
    return hub.download_file(src, target, sha256=sha256, what=what, progress=progress)


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(weights_only=True)`` onto the CPU.

    Accepts a plain ``{name: Tensor}`` mapping, or a checkpoint dict holding one under
    ``"state_dict"``/``"model"``. Anything else (TorchScript archives, pickled modules)
    is refused with an explanation.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weights file {str(p)!r} does not exist")
    if is_torchscript(p):  # torch.load would hand such an archive to torch.jit.load
        raise WeightsError(
            f"{p}: is a TorchScript archive (a program), not a weights-only state dict; fastgan never loads "
            "one silently. Convert it once, if you trust it: `fastgan convert-weights IN OUT --model "
            "inception|vgg16 --trusted` (see fastgan.features.weights.TRUST_NOTE)"
        )
    try:
        obj: Any = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError ... by format
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{p}: cannot be read as a weights-only state dict ({type(exc).__name__}: {msg}). "
            "fastgan loads only plain state dicts; for a TorchScript model or a pickled nn.Module, "
            "load it yourself in a trusted environment and save `torch.save(model.state_dict(), path)`"
        ) from exc
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if (
                isinstance(inner, Mapping)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(
            f"{p}: expected a non-empty dict of tensors (a state dict), got {type(obj).__name__}"
        )
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"{p}: not a state dict: entries {bad[:5]} are not (str -> Tensor)")
    return dict(obj)


#: pytorch-fid's ``InceptionV3`` module groups the torchvision layers in ``blocks``: its
#: ``state_dict()`` keys ``blocks.<i>.<j>.`` map to these names (pooling layers hold no weights).
_PYTORCH_FID_BLOCKS = {
    "blocks.0.0.": "Conv2d_1a_3x3.",
    "blocks.0.1.": "Conv2d_2a_3x3.",
    "blocks.0.2.": "Conv2d_2b_3x3.",
    "blocks.1.0.": "Conv2d_3b_1x1.",
    "blocks.1.1.": "Conv2d_4a_3x3.",
    "blocks.2.0.": "Mixed_5b.",
    "blocks.2.1.": "Mixed_5c.",
    "blocks.2.2.": "Mixed_5d.",
    "blocks.2.3.": "Mixed_6a.",
    "blocks.2.4.": "Mixed_6b.",
    "blocks.2.5.": "Mixed_6c.",
    "blocks.2.6.": "Mixed_6d.",
    "blocks.2.7.": "Mixed_6e.",
    "blocks.3.0.": "Mixed_7a.",
    "blocks.3.1.": "Mixed_7b.",
    "blocks.3.2.": "Mixed_7c.",
}


def _strip_prefix(sd: dict[str, torch.Tensor], expected: Iterable[str]) -> dict[str, torch.Tensor]:
    """Map the layouts of the references onto fastgan's names (then checked key by key):

    * ``module.<name>`` (DataParallel / DDP checkpoints);
    * ``model.<name>`` (``state_dict()`` of torch-fidelity's ``FeatureExtractorVGG16``, which
      holds a torchvision VGG-16 as ``self.model``);
    * ``blocks.<i>.<j>.<name>`` (``state_dict()`` of pytorch-fid's ``InceptionV3`` module).

    torch-fidelity's ``FeatureExtractorInceptionV3`` and the pytorch-fid / torch-fidelity weight
    files already use fastgan's (torchvision's) names.
    """
    exp = set(expected)
    if not sd or set(sd) & exp:
        return sd
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in sd):
            return _strip_prefix({k[len(prefix) :]: v for k, v in sd.items()}, expected)
    if all(k.startswith("blocks.") for k in sd):
        out = {}
        for k, v in sd.items():
            head = ".".join(k.split(".")[:3]) + "."
            out[_PYTORCH_FID_BLOCKS.get(head, head) + k[len(head) :]] = v
        return out
    return sd


def check_state_dict(
    model: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    ignore_unexpected: Iterable[str] = (),
    optional: Iterable[str] = (),
    source: str = "state_dict",
) -> dict[str, torch.Tensor]:
    """Strict key/shape comparison; returns the entries to load.

    Args:
        model: target module.
        state_dict: candidate weights.
        ignore_unexpected: key prefixes that may be present but are not used (dropped).
        optional: key prefixes that may be missing (the caller handles their absence; the
            returned dict then lacks them).
        source: name for messages (usually the file path).

    Raises:
        WeightsError: listing missing keys, unexpected keys and shape mismatches.
    """
    expected = model.state_dict()
    sd = _strip_prefix(dict(state_dict), expected)
    prefixes = tuple(ignore_unexpected)
    sd = {k: v for k, v in sd.items() if not (prefixes and k.startswith(prefixes) and k not in expected)}
    # Files saved by old torch versions lack BatchNorm's step counter; it does not affect eval.
    for k in set(expected) - set(sd):
        if k.endswith(".num_batches_tracked"):
            sd[k] = expected[k].clone()
    opt = tuple(optional)
    missing = sorted(k for k in set(expected) - set(sd) if not (opt and k.startswith(opt)))
    unexpected = sorted(set(sd) - set(expected))
    shapes = sorted(
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(sd) & set(expected)
        if tuple(sd[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:
        parts = []
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        ):
            if items:
                more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:8])}{more}")
        raise WeightsError(
            f"{source}: weights do not fit {type(model).__name__}: "
            + "; ".join(parts)
            + ". Check that the file holds this architecture's weights."
        )
    return sd


def load_weights_into(
    model: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    ignore_unexpected: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> set[str]:
    """Load a weights-only state dict file into ``model`` with strict checks.

    Returns:
        the model keys (among ``optional``) that the file did not hold, left as they were.
    """
    sd = load_state_dict_file(path)
    sd = check_state_dict(model, sd, ignore_unexpected=ignore_unexpected, optional=optional, source=str(path))
    absent = set(model.state_dict()) - set(sd)
    model.load_state_dict(sd, strict=not absent)
    return absent


#: What ``convert_weights`` / ``fastgan convert-weights`` requires of a TorchScript input.
TRUST_NOTE = (
    "A TorchScript file (such as the StyleGAN2/3 metrics' vgg16.pt or inception-2015-12-05.pt) is a "
    "program, not a weights file: reading it with torch.jit.load deserialises its code (this "
    "conversion never runs it) and trusts the archive's contents. Convert only files from a source "
    "you trust (check their sha256 against the publisher's); the output is a plain state dict that "
    "fastgan then reads with torch.load(weights_only=True)."
)


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``code/`` or ``constants.pkl``): a
    program, which fastgan never loads as weights (see :data:`TRUST_NOTE`); only the zip listing is read."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n or n.endswith("/constants.pkl") for n in z.namelist())


def __getattr__(name: str) -> Any:
    """``convert_weights`` lives in :mod:`fastgan.features.convert` (above the networks; this module
    knows none of them); it stays importable from here, resolved on first use."""
    if name == "convert_weights":
        from fastgan.features.convert import convert_weights

        return convert_weights
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
