"""The weight files fastgan knows by name: where they come from, where the peers keep them, how they are fetched.

One table (:data:`KNOWN_WEIGHTS`) lists, per feature network, the file name, the publisher's URL,
the expected sha256 (the full digest where known, else the torch.hub-style prefix that the file
name carries) and the places where other tools already store the same file. :func:`fetch` turns a
table entry into a verified local file, in this order:

1. fastgan's cache directory (:func:`fastgan.features.weights.cache_dir`: ``$FASTGAN_CACHE``, else
   ``$XDG_CACHE_HOME/fastgan``, default ``~/.cache/fastgan``);
2. the peers' copies: torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``, where
   pytorch-fid, torch-fidelity, torchvision and the DINOv2 hub models save theirs) and the Hugging
   Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, where open_clip saves the CLIP files).
   They are read in place, never modified; a copy whose hash differs is skipped with a warning;
3. a download into the cache directory, unless offline: a temporary ``.part`` file in the same
   folder, a progress bar on a terminal, up to ``FASTGAN_DOWNLOAD_RETRIES`` (3) tries on a cut
   connection, a time-out or a server error, and a rename into place only after the hash is
   verified. A failed or corrupt download leaves nothing behind and raises one
   :class:`~fastgan.features.weights.WeightsError` line.

Environment:

* ``FASTGAN_OFFLINE=1``: never touch the network; a missing file is an error naming the file, the
  URL and the folder to put it in.
* ``FASTGAN_WEIGHTS_MIRROR=<base URL>``: fetch ``<base URL>/<file name>`` instead of the publisher's
  URL (an institution's mirror holding the same files under the same names; the hash is checked
  all the same).
* ``FASTGAN_DOWNLOAD_TIMEOUT`` (seconds without a byte, default 60), ``FASTGAN_DOWNLOAD_RETRIES``.

A downloaded file is verified once; a ``<file>.sha256`` note beside it (digest, size, mtime)
spares hashing it again on every load while the file is unchanged. Files without a published
digest (DINOv2, the CLIP towers) are trusted on first use: their digest is recorded at download
and checked from then on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

__all__ = [
    "KnownWeights",
    "KNOWN_WEIGHTS",
    "known_weights",
    "offline",
    "mirror",
    "fetch",
    "download_file",
    "locate",
    "peer_dirs",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class KnownWeights:
    """One weight file fastgan can fetch by name.

    Attributes:
        name: the network name (``build_extractor`` spelling).
        filename: file name in fastgan's cache and on a mirror.
        url: the publisher's URL.
        sha256: expected sha256: the full digest, or a prefix of >= 8 hex digits (torch.hub's
            convention of a digest prefix in the file name); None: trusted on first use.
        torch_hub: file names under torch.hub's checkpoint folder that hold the same weights.
        hf_repo: Hugging Face repository whose snapshot holds ``hf_file`` (open_clip's copy).
        hf_file: file name inside that repository.
        source: who publishes the file, for messages and the docs.
    """

    name: str
    filename: str
    url: str
    sha256: Optional[str]
    torch_hub: tuple[str, ...] = ()
    hf_repo: Optional[str] = None
    hf_file: Optional[str] = None
    source: str = ""


_INCEPTION = "pt_inception-2015-12-05-6726825d.pth"
_TORCHVISION_VGG16 = "vgg16-397923af.pth"
_LPIPS_VGG16 = "lpips-v0.1-vgg.pth"


def _dinov2(size: str) -> KnownWeights:
    tag = f"dinov2_vit{size}14"
    return KnownWeights(
        f"dinov2-vit-{size}14",
        f"{tag}_pretrain.pth",
        f"https://dl.fbaipublicfiles.com/dinov2/{tag}/{tag}_pretrain.pth",
        None,
        torch_hub=(f"{tag}_pretrain.pth",),
        source="Meta DINOv2 release (torch.hub facebookresearch/dinov2)",
    )


def _clip(name: str, repo: str) -> KnownWeights:
    file = "open_clip_model.safetensors"
    return KnownWeights(
        name,
        f"{repo.split('/')[-1]}.{file}",
        f"https://huggingface.co/{repo}/resolve/main/{file}",
        None,
        hf_repo=repo,
        hf_file=file,
        source=f"OpenAI CLIP weights as open_clip publishes them ({repo})",
    )


#: name -> :class:`KnownWeights`; the default weights of every network fastgan builds by name.
KNOWN_WEIGHTS: dict[str, KnownWeights] = {
    w.name: w
    for w in (
        KnownWeights(
            "inception",
            _INCEPTION,
            f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{_INCEPTION}",
            "6726825d",
            # pytorch-fid's file, and torch-fidelity's copy of the same converted TF weights
            torch_hub=(_INCEPTION, "weights-inception-2015-12-05-6726825d.pth"),
            source="the TF FID Inception weights converted by pytorch-fid (also torch-fidelity's)",
        ),
        KnownWeights(
            "vgg16",
            _TORCHVISION_VGG16,
            f"https://download.pytorch.org/models/{_TORCHVISION_VGG16}",
            "397923af",
            torch_hub=(_TORCHVISION_VGG16,),
            source="torchvision VGG16_Weights.IMAGENET1K_V1 (torch-fidelity's and prdc's VGG-16)",
        ),
        KnownWeights(
            "lpips-vgg16",
            _LPIPS_VGG16,
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
            # the digest of lpips/weights/v0.1/vgg.pth as the lpips 0.1.4 wheel ships it
            "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            source="the LPIPS v0.1 linear layers of the VGG-16 trunk (lpips package, Zhang et al. 2018); "
            "torch-fidelity re-publishes them as weights-vgg16-lpips.pth",
        ),
        _dinov2("s"),
        _dinov2("b"),
        _dinov2("l"),
        _dinov2("g"),
        _clip("clip-vit-b32", "timm/vit_base_patch32_clip_224.openai"),
        _clip("clip-vit-b16", "timm/vit_base_patch16_clip_224.openai"),
        _clip("clip-vit-l14", "timm/vit_large_patch14_clip_224.openai"),
        _clip("clip-vit-l14-336", "timm/vit_large_patch14_clip_336.openai"),
    )
}

#: digests of peers' files known to differ in name only (torch-fidelity's Inception copy)
_FULL_DIGESTS: dict[str, str] = {
    "weights-inception-2015-12-05-6726825d.pth": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
}


def known_weights(name: str) -> KnownWeights:
    """The table entry of network ``name`` (``"inception"``, ``"vgg16"``, ``"dinov2-vit-l14"``, ...)."""
    key = str(name).lower().replace("_", "-")
    if key in ("inceptionv3", "inception-v3"):
        key = "inception"
    if key == "vgg":
        key = "vgg16"
    if key not in KNOWN_WEIGHTS:
        raise ValueError(f"name: no known weights for {name!r}; one of {tuple(KNOWN_WEIGHTS)}")
    return KNOWN_WEIGHTS[key]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def offline() -> bool:
    """``FASTGAN_OFFLINE`` is set: nothing is fetched from the network."""
    return _env_flag("FASTGAN_OFFLINE")


def mirror() -> Optional[str]:
    """``FASTGAN_WEIGHTS_MIRROR`` (a base URL) or None."""
    base = os.environ.get("FASTGAN_WEIGHTS_MIRROR", "").strip()
    return base.rstrip("/") or None


def _env_number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {raw!r}")
    return value


def user_cache_root() -> str:
    """``$XDG_CACHE_HOME``, else ``~/.cache``: where fastgan, torch and Hugging Face keep their caches."""
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def peer_dirs() -> dict[str, Path]:
    """The peers' weight folders: ``{"torch_hub": ..., "hf_hub": ...}`` (they may not exist)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(user_cache_root(), "torch")
    hf = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(user_cache_root(), "huggingface"), "hub"
    )
    return {
        "torch_hub": Path(torch_home).expanduser() / "hub" / "checkpoints",
        "hf_hub": Path(hf).expanduser(),
    }


def _peer_candidates(w: KnownWeights) -> list[Path]:
    dirs = peer_dirs()
    out = [dirs["torch_hub"] / f for f in w.torch_hub]
    if w.hf_repo and w.hf_file:
        snapshots = dirs["hf_hub"] / ("models--" + w.hf_repo.replace("/", "--")) / "snapshots"
        if snapshots.is_dir():
            out += sorted(snapshots.glob(f"*/{w.hf_file}"))
    return out


# ----------------------------------------------------------------------------------------- hashing
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_digest(expected: Optional[str], got: str) -> bool:
    return expected is None or got.startswith(expected.lower())


def _note_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _read_note(path: Path) -> Optional[tuple[str, str]]:
    """``(digest, size-and-mtime stamp)`` recorded beside ``path``, or None."""
    try:
        digest, stamp = _note_path(path).read_text().strip().split(" ", 1)
    except (OSError, ValueError):
        return None
    return (digest, stamp) if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def _write_note(path: Path, digest: str) -> None:
    try:  # best effort: a read-only cache still works, it is only hashed again next time
        _note_path(path).write_text(f"{digest} {_stamp(path)}\n")
    except OSError:
        pass


def verified_digest(path: Path, expected: Optional[str], *, record: bool) -> Optional[str]:
    """The file's sha256 if it matches ``expected`` (a digest or a prefix), else None.

    ``record``: the file lives in fastgan's cache: its note spares the hashing while the file is
    unchanged, and where ``expected`` is None the recorded digest is expected (trust on first use).
    """
    note = _read_note(path) if record else None
    fresh = note is not None and note[1] == _stamp(path)
    digest = note[0] if note is not None and fresh else _sha256(path)
    if expected is None and note is not None:
        expected = note[0]
    if not _check_digest(expected, digest):
        return None
    if record and not fresh:
        _write_note(path, digest)
    return digest


# ---------------------------------------------------------------------------------------- download
class DownloadError(OSError):
    """One failed try; ``retry`` says whether another try may succeed."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def _bar(total: Optional[int], desc: str, progress: Optional[bool]) -> Any:
    from fastgan._progress import progress_bar

    return progress_bar(
        progress, total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
    )


def _try_once(url: str, out: Any, timeout: float, desc: str, progress: Optional[bool]) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "fastgan"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code in (408, 429)
        raise DownloadError(f"HTTP {exc.code} {exc.reason}", retry) from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot connect ({exc.reason})", True) from None
    except (socket.timeout, TimeoutError):
        raise DownloadError(f"no answer within {timeout:g} s", True) from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        got = 0
        read = getattr(response, "read1", response.read)  # what has arrived, so a stall is counted exactly
        with _bar(total, desc, progress) as bar:
            while True:
                try:
                    block = read(_CHUNK)
                except (socket.timeout, TimeoutError):
                    raise DownloadError(
                        f"stalled after {got} bytes (no data for {timeout:g} s)", True
                    ) from None
                except (OSError, ValueError) as exc:  # http.client.IncompleteRead is a ValueError
                    raise DownloadError(
                        f"connection cut after {got} bytes ({type(exc).__name__})", True
                    ) from None
                if not block:
                    break
                out.write(block)
                got += len(block)
                bar.update(len(block))
    if total is not None and got != total:
        raise DownloadError(f"connection cut after {got} of {total} bytes", True)


def _pause(seconds: float) -> None:
    """The back-off between tries (1, 2, 4, ... s)."""
    time.sleep(seconds)


def download_file(
    url: str,
    target: Path,
    *,
    sha256: Optional[str],
    what: str,
    progress: Optional[bool] = None,
    retries: Optional[int] = None,
    timeout: Optional[float] = None,
) -> Path:
    """Fetch ``url`` into ``target`` through a temporary file renamed into place once verified.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        target: final path (its folder is created).
        sha256: expected digest or prefix (None: recorded, not checked).
        what: the network's name, for messages.
        progress: progress bar on stderr (None: only on a terminal).
        retries: tries in all (default ``FASTGAN_DOWNLOAD_RETRIES``, 3).
        timeout: seconds without a byte before a try fails (default ``FASTGAN_DOWNLOAD_TIMEOUT``, 60).

    Raises:
        WeightsError: every try failed, or the file's hash differs (nothing is left behind).
    """
    from fastgan.features.weights import WeightsError

    tries = int(retries if retries is not None else _env_number("FASTGAN_DOWNLOAD_RETRIES", 3, 1))
    wait = float(timeout if timeout is not None else _env_number("FASTGAN_DOWNLOAD_TIMEOUT", 60.0, 0.001))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    except OSError as exc:
        raise WeightsError(
            f"{what}: cannot write to the weights cache {target.parent} ({exc.strerror or exc}); "
            "set FASTGAN_CACHE to a writable folder"
        ) from None
    tmp = Path(tmp_name)
    logger.info("%s: downloading %s to %s", what, url, target)
    try:
        for attempt in range(1, tries + 1):
            try:
                with os.fdopen(fd, "wb") if attempt == 1 else open(tmp, "wb") as out:
                    _try_once(url, out, wait, f"{what} weights", progress)
                break
            except DownloadError as exc:
                if not exc.retry or attempt == tries:
                    raise WeightsError(
                        f"{what}: download of {url} failed: {exc} (try {attempt} of {tries}); nothing was "
                        f"saved. Retry, set FASTGAN_WEIGHTS_MIRROR, or put the file at {target}"
                    ) from None
                logger.warning("%s: download of %s failed (%s); trying again", what, url, exc)
                _pause(2.0 ** (attempt - 1))
        digest = _sha256(tmp)
        if not _check_digest(sha256, digest):
            raise WeightsError(
                f"{what}: sha256 mismatch for the download of {url} (expected {sha256}"
                f"{'...' if len(sha256 or '') < 64 else ''}, got {digest}): corrupt or not these weights; "
                "nothing was saved"
            )
        if sha256 is None:
            logger.warning(
                "%s: %s has no published sha256; recorded %s and trusted from now on", what, url, digest
            )
        os.replace(tmp, target)  # atomic: a half-written file never sits under the final name
        _write_note(target, digest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


# ------------------------------------------------------------------------------------------- fetch
def locate(w: KnownWeights, cache: Path) -> Optional[Path]:
    """A verified local copy of ``w``: fastgan's cache first, then the peers' folders; else None."""
    mine = cache / w.filename
    if mine.is_file():
        if verified_digest(mine, w.sha256, record=True) is not None:
            return mine
        logger.warning("%s: %s does not have the expected sha256; ignoring it", w.name, mine)
    for cand in _peer_candidates(w):
        if not cand.is_file():
            continue
        expected = _FULL_DIGESTS.get(cand.name, w.sha256)
        if verified_digest(cand, expected, record=False) is not None:
            logger.info("%s: using %s (found in a peer's cache)", w.name, cand)
            return cand
        logger.warning("%s: %s does not have the expected sha256; ignoring it", w.name, cand)
    return None


def fetch(
    name: str,
    *,
    cache: Path,
    download: Optional[bool] = None,
    progress: Optional[bool] = None,
) -> Path:
    """The verified local file of the known weights ``name``, downloaded when missing.

    Args:
        name: a :data:`KNOWN_WEIGHTS` name.
        cache: fastgan's cache folder.
        download: None: fetch when missing unless ``FASTGAN_OFFLINE`` is set; False: never fetch;
            True: fetch (``FASTGAN_OFFLINE`` still wins).
        progress: download progress bar (None: only on a terminal).

    Raises:
        WeightsError: offline (or ``download=False``) and not found, or the download failed.
    """
    from fastgan.features.weights import WeightsError

    w = known_weights(name)
    found = locate(w, cache)
    if found is not None:
        return found
    target = cache / w.filename
    base = mirror()
    url = f"{base}/{w.filename}" if base else w.url
    if offline() or download is False:
        why = "FASTGAN_OFFLINE is set" if offline() else "download=False"
        raise WeightsError(
            f"{w.name}: weights file {w.filename} is not in {cache} and {why}: fetch {url} on a machine "
            f"with network access and save it as {target} (or pass weights=PATH / --weights PATH)"
        )
    return download_file(url, target, sha256=w.sha256, what=w.name, progress=progress)
