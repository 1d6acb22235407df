"""Weights on first use: a loopback HTTP server serves a good file, a corrupt one, a 404, a cut
connection, a slow one and a stalled one, so the whole download path runs without the internet."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from fastgan.features import hub
from fastgan.features.weights import WeightsError, resolve_weights

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: dict[str, int] = {}

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        mode, _, name = self.path.strip("/").partition("/")
        self.hits[mode] = self.hits.get(mode, 0) + 1
        body = self.files.get(name)
        if mode == "missing" or body is None:
            self.send_error(404, "Not Found")
            return
        if mode == "flaky" and self.hits[mode] == 1:
            mode = "cut"
        if mode == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(1.5)
            return
        step = len(body) // 8 if mode == "slow" else len(body)
        for i in range(0, len(body), step):
            self.wfile.write(body[i : i + step])
            self.wfile.flush()
            if mode == "slow":
                time.sleep(0.05)


@pytest.fixture
def server() -> Iterator[str]:
    """``http://127.0.0.1:PORT``: ``/<mode>/<file name>`` with mode good, corrupt, missing, cut,
    flaky (cut on the first request), slow (eight pieces, 50 ms apart) or stall (1.5 s silence)."""
    _Handler.files = {}
    _Handler.hits = {}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> hub.KnownWeights:
    """The Inception entry with the test payload's digest (the real file is 95 MB)."""
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    entry = dataclasses.replace(hub.KNOWN_WEIGHTS["inception"], sha256=digest)
    monkeypatch.setitem(hub.KNOWN_WEIGHTS, "inception", entry)
    _Handler.files[entry.filename] = PAYLOAD
    monkeypatch.delenv("FASTGAN_OFFLINE")
    monkeypatch.setenv("FASTGAN_DOWNLOAD_TIMEOUT", "1")
    monkeypatch.setattr(hub, "_pause", lambda s: None)  # no back-off pauses between tries
    return entry


def _cache() -> Path:
    return Path(os.environ["FASTGAN_CACHE"])


def _left(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_mirror_download_verified_and_noted(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", server + "/good/")
    path = hub.fetch("inception", cache=_cache())
    assert path == _cache() / known.filename and path.read_bytes() == PAYLOAD
    assert _left(_cache()) == [known.filename, known.filename + ".sha256"]
    # second use: from the cache, not the network, not hashed again while the file is unchanged
    monkeypatch.setattr(hub, "_sha256", lambda p: pytest.fail("hashed again"))
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", server + "/missing/")
    assert hub.fetch("inception", cache=_cache()) == path


@pytest.mark.parametrize(
    "mode, needle",
    [
        ("corrupt", "sha256 mismatch"),
        ("missing", "HTTP 404 Not Found (try 1 of 3)"),
        ("cut", "connection cut after 524288 of 1048576 bytes (try 3 of 3)"),
        ("stall", "stalled after 1000 bytes (no data for 1 s) (try 3 of 3)"),
    ],
)
def test_failed_download_leaves_nothing(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch, mode: str, needle: str
) -> None:
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/{mode}")
    with pytest.raises(WeightsError) as info:
        hub.fetch("inception", cache=_cache())
    msg = str(info.value)
    assert needle in msg and "\n" not in msg and f"{server}/{mode}/{known.filename}" in msg, msg
    assert _left(_cache()) == []  # no partial file, no note


def test_retry_after_a_cut_connection(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/flaky")
    assert hub.fetch("inception", cache=_cache()).read_bytes() == PAYLOAD
    assert _Handler.hits["flaky"] == 2


def test_slow_server_within_the_timeout(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/slow")
    assert hub.fetch("inception", cache=_cache()).read_bytes() == PAYLOAD


def test_offline_never_connects(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTGAN_OFFLINE", "1")
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/good")
    with pytest.raises(WeightsError, match="FASTGAN_OFFLINE is set") as info:
        hub.fetch("inception", cache=_cache())
    assert f"save it as {_cache() / known.filename}" in str(info.value)
    assert _Handler.hits == {} and _left(_cache()) == []


def test_peer_caches_are_used_in_place(
    known: hub.KnownWeights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytorch-fid's / torch-fidelity's file in torch.hub's checkpoints; open_clip's in the HF cache."""
    monkeypatch.setenv("FASTGAN_OFFLINE", "1")
    ckpt = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / known.filename).write_bytes(PAYLOAD)
    assert hub.fetch("inception", cache=_cache()) == ckpt / known.filename
    assert _left(_cache()) == [] and _left(ckpt) == [known.filename]  # nothing written anywhere
    (ckpt / known.filename).write_bytes(PAYLOAD[:-1])  # a corrupt peer copy is skipped, not used
    with pytest.raises(WeightsError, match="FASTGAN_OFFLINE"):
        hub.fetch("inception", cache=_cache())
    clip = hub.KNOWN_WEIGHTS["clip-vit-b32"]
    snap = (
        Path(os.environ["HF_HOME"]) / "hub" / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots"
    )
    (snap / "0123abc").mkdir(parents=True)
    (snap / "0123abc" / "open_clip_model.safetensors").write_bytes(b"clip")
    assert hub.fetch(clip.name, cache=_cache()) == snap / "0123abc" / "open_clip_model.safetensors"


def test_trust_on_first_use_for_unpublished_digests(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    dino = hub.KNOWN_WEIGHTS["dinov2-vit-s14"]
    assert dino.sha256 is None
    _Handler.files[dino.filename] = PAYLOAD
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/good")
    path = hub.fetch(dino.name, cache=_cache())
    assert (path.parent / (path.name + ".sha256")).read_text().split()[0] == hashlib.sha256(
        PAYLOAD
    ).hexdigest()
    path.write_bytes(PAYLOAD[::-1])  # changed after the first use: refused, downloaded again
    assert hub.fetch(dino.name, cache=_cache()).read_bytes() == PAYLOAD


def test_resolve_weights_passes_through(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/good")
    with pytest.raises(WeightsError, match="download=False"):
        resolve_weights(None, known="inception", download=False)
    assert resolve_weights(None, known="inception").read_bytes() == PAYLOAD
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_weights(None, known="inception", sha256="0" * 64)


def test_bad_environment_values(
    server: str, known: hub.KnownWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/good")
    monkeypatch.setenv("FASTGAN_DOWNLOAD_RETRIES", "zero")
    with pytest.raises(ValueError, match="FASTGAN_DOWNLOAD_RETRIES: expected a number"):
        hub.fetch("inception", cache=_cache())


@pytest.mark.slow
def test_eval_downloads_the_inception_weights_through_the_mirror(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``fastgan eval REAL FAKE`` on a fresh cache: the weights come from the mirror, once; offline
    and corrupt cases are one line, exit 2, and leave the cache empty."""
    import numpy as np

    from fastgan import cli
    from fastgan.features import InceptionV3FID

    torch.manual_seed(0)
    weights = tmp_path / "random.pth"
    torch.save(InceptionV3FID(random_init=True).state_dict(), weights)
    blob = weights.read_bytes()
    entry = dataclasses.replace(hub.KNOWN_WEIGHTS["inception"], sha256=hashlib.sha256(blob).hexdigest())
    monkeypatch.setitem(hub.KNOWN_WEIGHTS, "inception", entry)
    _Handler.files[entry.filename] = blob
    g = np.random.default_rng(0)
    for side in ("real", "fake"):
        (tmp_path / side).mkdir()
        np.save(tmp_path / side / "x.npy", g.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    args = ["eval", str(tmp_path / "real"), str(tmp_path / "fake"), "--metrics", "fid", "--no-progress"]

    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/good")
    assert cli.main(args + ["--offline"]) == 2  # FASTGAN_OFFLINE is set by the suite; --offline too
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and entry.filename in err and "offline" in err.lower(), err
    monkeypatch.delenv("FASTGAN_OFFLINE")
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/corrupt")
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sha256 mismatch" in err and _left(_cache()) == [], err
    monkeypatch.setenv("FASTGAN_WEIGHTS_MIRROR", f"{server}/good")
    assert cli.main(args) == 0
    assert "FID" in capsys.readouterr().out
    assert _Handler.hits.get("good") == 1 and _left(_cache()) == [entry.filename, entry.filename + ".sha256"]
    assert cli.main(args) == 0  # second run: from the cache
    assert _Handler.hits.get("good") == 1
