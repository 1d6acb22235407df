"""A resumable, atomic on-disk cache of extracted features, in chunks of rows.

Layout (one folder per key under ``cache_dir``)::

    <cache_dir>/
      <label>-<extractor>-<preset>-w<weights12>-p<pipeline>-<key12>/
        chunk-b0050-0000000000-0000004000.npz     rows [0, 4000), computed in batches of 50
        chunk-b0050-0000004000-0000008000.npz
        ...
        manifest.json                             written last, once every chunk exists

The key is the JSON of (source fingerprint, number of samples, extractor name and class,
resize mode, preset, dtype, sha256 of the network's state dict, the unreadable-file policy
``skip_bad``, :data:`PIPELINE_VERSION`, and the arithmetic environment of
:func:`numeric_key`: device type, torch version, and on the CPU the thread count and SIMD level,
on CUDA the GPU and its cuDNN / TF32 settings); the folder name shows its readable parts and
ends with the first 12 hex digits of its sha256 (a folder with that suffix is found whatever its
label, so renaming an input folder -- same fingerprint -- still hits the cache).

What the fingerprint trusts: by default an image folder's fingerprint is the sha256 of each
file's relative path, size and modification time (:mod:`fastgan.evaluation.sources`), so a file
rewritten with the same size whose mtime is then restored (``cp -p``, ``rsync -t``, ``touch -r``,
an archive extracted again) is *not* noticed and its old features are reused. ``verify=True``
(``--verify``) keys the cache on :func:`content_fingerprint` instead: a sha256 of every file's
bytes, read once per run.

Why the arithmetic environment is in the key: the networks' CPU convolutions (oneDNN) and
matrix products pick their blocking by thread count and batch size, so the same images give
features that differ in the last bits (Inception pool3 between 1 and 2 threads: 4.8e-8 absolute
measured with random weights, features up to 0.2; 4.4e-5 absolute reported with the FID
weights). ``torchrun`` sets ``OMP_NUM_THREADS=1``, a plain run uses every core. No cheap
deterministic path exists (with oneDNN off, 1.4-1.6x slower, the convolutions still differ at 8
threads and the fc layer by batch size), so the cache instead never mixes rows computed under
different settings: each setting has its own entry, and the batch size is in every chunk's name.

Chunks cover fixed global row ranges ``[k * chunk_rows, (k + 1) * chunk_rows)`` of the sample
order, whatever the number of ranks: a run with any world size reuses every chunk a previous
run completed (each rank computes the chunks that overlap its shard; a chunk straddling two
shards is computed by both and written twice with identical content). ``chunk_rows`` is a
multiple of the batch size, so the batches inside a chunk are those of an uninterrupted run:
results assembled from cached and fresh chunks are bit-identical to a run without the cache
(on the same device and settings). The batch size is part of the chunk's name: a different
batch size recomputes rather than mixing batch groupings.

Reading a complete entry writes nothing (a cache on a read-only mount works): folders are created
only when missing and ``manifest.json`` is rewritten only when its content would change.

Atomicity: a chunk is written to ``.tmp-*`` (a name that never matches ``chunk-*.npz``),
flushed, ``fsync``-ed and renamed with ``os.replace``; the directory is then ``fsync``-ed.
A process killed at any point leaves either a complete chunk or none. Every chunk stores the
sha256 of each of its arrays; a chunk that does not load or verify is recomputed with a
warning. The manifest (``json``, also written by rename) records the key and the
chunk list for people and tools; loading never depends on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = [
    "PIPELINE_VERSION",
    "FeatureCache",
    "Chunk",
    "cache_key",
    "chunk_grid",
    "content_fingerprint",
    "numeric_key",
]

logger = logging.getLogger(__name__)

#: Version of the image -> feature pipeline (decode, resize, networks). Bump it whenever a
#: change alters extracted features, so that old cache entries are not reused.
PIPELINE_VERSION = "4"  # 2: 8-bit decoding of 16-bit images; 3: BN folded, NHWC; 4: blocked (pytorch-fid)

_CHUNK_RE = re.compile(r"^chunk-b(\d+)-(\d{10})-(\d{10})\.npz$")
_TMP_MAX_AGE_S = 24 * 3600


def chunk_grid(n: int, chunk_rows: int) -> list[tuple[int, int]]:
    """The global chunk ranges ``[(0, c), (c, 2c), ..., (.., n)]``."""
    return [(a, min(a + chunk_rows, n)) for a in range(0, n, chunk_rows)]


def numeric_key(device: Any) -> dict[str, Any]:
    """What changes the rounding of a network's output on ``device``, beyond the inputs and weights.

    ``torch`` (version: kernels change between releases) and the device type; on the CPU the
    intra-op thread count (``torch.get_num_threads()``: oneDNN and the BLAS block the work by
    it), the SIMD level ATen dispatches to and whether oneDNN is enabled; on CUDA the GPU's name,
    the cuDNN version and its ``benchmark`` / ``deterministic`` / TF32 settings (algorithm choice).
    """
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    out: dict[str, Any] = {"torch": torch.__version__, "device_type": dev.type}
    if dev.type == "cpu":
        out["threads"] = int(torch.get_num_threads())
        out["cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
        out["mkldnn"] = bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    elif dev.type == "cuda":
        cudnn = torch.backends.cudnn
        out["gpu"] = torch.cuda.get_device_name(dev)
        out["cudnn"] = [
            cudnn.version(),
            bool(cudnn.benchmark),
            bool(cudnn.deterministic),
            bool(cudnn.allow_tf32),
        ]
        out["matmul_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
    return out


def content_fingerprint(paths: Any) -> str:
    """sha256 over the contents of ``paths`` in order (each file's suffix and sha256 of its bytes).

    What ``verify=True`` keys the cache on: any change of any byte changes it, whatever the
    size and mtime; renaming or moving the files (same order, same suffixes) does not.
    """
    h = hashlib.sha256(b"content-v1\n")
    for p in paths:
        f = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                f.update(block)
        h.update(f"{Path(p).suffix.lower()}\0{f.hexdigest()}\n".encode())
    return h.hexdigest()


def _label(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.")
    return s[:40] or "input"


def cache_key(fields: dict[str, Any]) -> tuple[str, str]:
    """(readable folder name, full sha256) of the key ``fields`` (JSON-serialisable).

    ``fields`` must hold ``label``, ``extractor``, ``preset`` and ``weights_sha256``; ``label``
    is only for reading and does not enter the hash.
    """
    hashed = {k: v for k, v in fields.items() if k != "label"}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()
    w = str(fields.get("weights_sha256", "none"))
    name = "-".join(
        [
            _label(str(fields.get("label", "input"))),
            _label(str(fields["extractor"])),
            _label(str(fields["preset"])),
            "w" + (w[:12] if len(w) == 64 else _label(w)),
            "p" + PIPELINE_VERSION,
            digest[:12],
        ]
    )
    return name, digest


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).view(np.uint8).tobytes()).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """``write(fileobj)`` to a temporary file next to ``path``, fsync, rename onto ``path``."""
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}.part"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


@dataclass
class Chunk:
    """The cached rows of one chunk ``[start, stop)``.

    ``arrays`` hold the rows of the readable samples only; ``valid`` (bool[stop - start])
    marks which samples they are; ``skipped`` lists the unreadable files.
    """

    start: int
    stop: int
    arrays: dict[str, np.ndarray]
    valid: np.ndarray
    skipped: list[str]


class FeatureCache:
    """One cache entry (folder) for one key; see the module docstring for the layout.

    Args:
        root: the cache directory (created if missing).
        fields: the key (see :func:`cache_key`).
    """

    def __init__(self, root: str | os.PathLike[str], fields: dict[str, Any]) -> None:
        self.root = Path(root)
        self.fields = dict(fields)
        name, self.digest = cache_key(fields)
        if not self.root.is_dir():  # an existing folder is left alone (it may be read-only)
            self.root.mkdir(parents=True, exist_ok=True)
        existing = sorted(p for p in self.root.glob(f"*-{self.digest[:12]}") if p.is_dir())
        self.dir = existing[0] if existing else self.root / name
        if not self.dir.is_dir():
            self.dir.mkdir(exist_ok=True)
        self._clean_stale_tmp()

    def _clean_stale_tmp(self) -> None:
        now = time.time()
        for p in self.dir.glob(".tmp-*"):
            try:
                if now - p.stat().st_mtime > _TMP_MAX_AGE_S:
                    p.unlink()
            except OSError:
                pass

    def chunk_path(self, start: int, stop: int, batch_size: int) -> Path:
        """Final path of chunk ``[start, stop)`` computed in batches of ``batch_size``."""
        return self.dir / f"chunk-b{batch_size:04d}-{start:010d}-{stop:010d}.npz"

    def load(self, start: int, stop: int, batch_size: int) -> Optional[Chunk]:
        """The verified chunk, or None when absent; a corrupt chunk is deleted with a warning
        (it is recomputed by the caller)."""
        path = self.chunk_path(start, stop, batch_size)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if meta["key"] != self.digest or meta["start"] != start or meta["stop"] != stop:
                    raise ValueError("chunk belongs to another key or range")
                valid = z["valid"]
                arrays = {k: z[k] for k in meta["arrays"]}
            if valid.shape != (stop - start,) or valid.dtype != np.bool_:
                raise ValueError("bad validity mask")
            rows = int(valid.sum())
            for k, a in arrays.items():
                info = meta["arrays"][k]
                if list(a.shape) != info["shape"] or str(a.dtype) != info["dtype"] or a.shape[0] != rows:
                    raise ValueError(f"array {k!r}: shape/dtype {a.shape}/{a.dtype} differ from the record")
                if _sha(a) != info["sha256"]:
                    raise ValueError(f"array {k!r}: checksum mismatch")
            if _sha(valid) != meta["valid_sha256"]:
                raise ValueError("validity mask: checksum mismatch")
        except Exception as exc:  # any failure to read means: recompute
            warnings.warn(
                f"feature cache: chunk {path} is corrupt ({exc}); recomputing it",
                RuntimeWarning,
                stacklevel=2,
            )
            try:
                path.unlink()
            except OSError:
                pass
            return None
        return Chunk(start, stop, arrays, valid, list(meta.get("skipped", [])))

    def save(self, chunk: Chunk, batch_size: int) -> Path:
        """Write ``chunk`` atomically (temp file, fsync, rename); returns its path."""
        meta = {
            "key": self.digest,
            "start": chunk.start,
            "stop": chunk.stop,
            "batch_size": batch_size,
            "arrays": {
                k: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": _sha(a)}
                for k, a in chunk.arrays.items()
            },
            "valid_sha256": _sha(chunk.valid),
            "skipped": chunk.skipped,
        }
        payload: dict[str, np.ndarray] = dict(chunk.arrays)
        payload["valid"] = np.ascontiguousarray(chunk.valid, dtype=np.bool_)
        payload["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        path = self.chunk_path(chunk.start, chunk.stop, batch_size)
        _atomic_write(path, lambda f: np.savez(f, **payload))  # type: ignore[arg-type]  # numpy's stub
        return path

    def write_manifest(
        self, n_total: int, chunk_rows: int, batch_size: int, extra: Optional[dict[str, Any]] = None
    ) -> bool:
        """Write ``manifest.json`` if every chunk of the grid is present; returns whether the entry is
        complete.

        An existing manifest with the same key, grid and chunks is left as it is (reading a complete
        entry writes nothing); one that cannot be written (read-only folder) is skipped with a
        warning in the log, since loading never depends on it.
        """
        chunks = []
        for a, b in chunk_grid(n_total, chunk_rows):
            p = self.chunk_path(a, b, batch_size)
            if not p.is_file():
                return False
            chunks.append({"file": p.name, "start": a, "stop": b})
        manifest = {
            "key": self.fields,
            "key_sha256": self.digest,
            "n_total": n_total,
            "chunk_rows": chunk_rows,
            "batch_size": batch_size,
            "pipeline_version": PIPELINE_VERSION,
            "chunks": chunks,
            "complete": True,
            **(extra or {}),
        }
        path = self.dir / "manifest.json"
        if self._manifest_current(path, manifest):
            return True
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        try:
            _atomic_write(path, lambda f: f.write(data))
        except OSError as exc:
            logger.warning("feature cache: cannot write %s (%s); the cache works without it", path, exc)
        return True

    @staticmethod
    def _manifest_current(path: Path, manifest: dict[str, Any]) -> bool:
        """Whether ``path`` already records ``manifest`` (all but the ``extra`` descriptions, which
        e.g. name the input as it was spelled)."""
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        same = (
            "key",
            "key_sha256",
            "n_total",
            "chunk_rows",
            "batch_size",
            "pipeline_version",
            "chunks",
            "complete",
        )
        return isinstance(old, dict) and all(old.get(k) == manifest[k] for k in same)
