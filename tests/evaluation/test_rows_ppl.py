"""Perceptual path length through fastgan.evaluate / fastgan eval: the ``ppl`` row, a Sampler as
the fake input, the same value as the function, the message for any other input, and the command
line's --sampler MODULE:NAME. The LPIPS network is a random one (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fastgan
from fastgan import cli
from fastgan.evaluation import Sampler, rows_ppl
from fastgan.evaluation.registry import METRICS, resolve_options
from fastgan.features import LPIPSVGG16
from fastgan.metrics import PerceptualPathLength, ppl

from .test_api import _images, tiny_nets  # noqa: F401  (the fixture of tiny feature networks)


def G(z: torch.Tensor) -> torch.Tensor:
    """z [B, 8] -> [B, 3, 16, 16] in [-1, 1]."""
    w = torch.linspace(-1, 1, 8 * 3 * 4 * 4).reshape(8, 48)
    return torch.tanh(z @ w).reshape(-1, 3, 4, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)


@pytest.fixture
def lpips_net(monkeypatch: pytest.MonkeyPatch) -> LPIPSVGG16:
    torch.manual_seed(1)
    net = LPIPSVGG16(random_init=True)
    built: list[dict] = []

    def build(opts: dict, device: object) -> LPIPSVGG16:
        built.append(dict(opts))
        return net

    monkeypatch.setattr(rows_ppl, "build_distance", build)
    net.built = built  # type: ignore[attr-defined]
    return net


def test_row() -> None:
    spec = METRICS["ppl"]
    assert spec.keys == ("ppl", "ppl_std") and spec.needs == "generator" and not spec.in_all
    opts = resolve_options("ppl", "pytorch-fid")
    assert opts["convention"] == "stylegan3" and opts["n"] is None
    assert isinstance(spec.factory(opts), PerceptualPathLength)


def test_evaluate_equals_the_function(lpips_net: LPIPSVGG16) -> None:
    s = Sampler(G, 8, n=12, seed=3, batch_size=5)
    r = fastgan.evaluate(None, s, metrics="ppl")
    assert sorted(r) == ["ppl", "ppl_std"]
    assert r["ppl"] == pytest.approx(ppl(s, distance=lpips_net)["ppl"], rel=1e-12)
    assert r.info["options"]["ppl"]["convention"] == "stylegan3"
    opts = {"ppl": {"n": 9, "epsilon": 1e-2, "sampling": "full", "convention": "torch-fidelity"}}
    r2 = fastgan.evaluate(None, s, metrics="ppl", options=opts, seed=7)
    want = ppl(s, distance=lpips_net, n=9, epsilon=1e-2, sampling="full", convention="torch-fidelity", seed=7)
    assert r2["ppl"] == pytest.approx(want["ppl"], rel=1e-12)
    assert r2["ppl"] != r["ppl"]
    assert lpips_net.built[-1]["convention"] == "torch-fidelity"  # type: ignore[attr-defined]


def test_build_distance_resizes_as_the_convention() -> None:
    with pytest.raises(fastgan.features.WeightsError, match="vgg16-397923af.pth"):
        rows_ppl.build_distance({"convention": "torch-fidelity"}, "cpu")


def test_other_inputs_are_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match=r"fake: ppl measures a generator: pass fake=fastgan.Sampler"):
        fastgan.evaluate(x, x, metrics="ppl")
    with pytest.raises(ValueError, match=r"fake: ppl measures a generator"):
        fastgan.evaluate(x, x, metrics="fid,ppl")
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, np.random.default_rng(0).standard_normal((10, 4)))
    np.save(b, np.random.default_rng(1).standard_normal((10, 4)))
    assert cli.main(["eval", str(a), str(b), "--metrics", "ppl"]) == 2
    err = capsys.readouterr().err
    assert "fake: ppl measures a generator" in err and "fastgan eval --sampler MODULE:NAME" in err


def test_cli_sampler(
    lpips_net: LPIPSVGG16,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """fastgan eval --sampler MODULE:NAME --metrics ppl: the same value as evaluate with that Sampler."""
    (tmp_path / "my_gen.py").write_text(
        "import torch\n"
        "from fastgan.evaluation import Sampler\n"
        "W = torch.linspace(-1, 1, 8 * 48).reshape(8, 48)\n"
        "def G(z):\n"
        "    return torch.tanh(z @ W).reshape(-1, 3, 4, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)\n"
        "def make():\n"
        "    return Sampler(G, 8, n=12, seed=3, batch_size=5)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli.main(["eval", "--sampler", "my_gen:make", "--metrics", "ppl", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["metrics"]
    want = fastgan.evaluate(None, Sampler(G, 8, n=12, seed=3, batch_size=5), metrics="ppl")
    assert got["ppl"] == pytest.approx(want["ppl"], rel=1e-12)
    # what the flag refuses, by name
    for argv, msg in (
        (["--sampler", "my_gen"], "MODULE:NAME"),
        (["--sampler", "no_such_module_xyz:make"], "cannot import"),
        (["--sampler", "my_gen:nothing"], "no attribute"),
        (["--sampler", "my_gen:W"], "not a fastgan.Sampler"),
        (["a", "b", "--sampler", "my_gen:make"], "--sampler: it is FAKE"),
    ):
        assert cli.main(["eval", *argv, "--metrics", "ppl"]) == 2
        assert msg in capsys.readouterr().err


@pytest.mark.usefixtures("tiny_nets")
def test_ppl_beside_the_feature_metrics(lpips_net: LPIPSVGG16) -> None:
    """fid and ppl in one call: the Sampler's images are embedded for fid, its paths measured for ppl."""
    s = Sampler(G, 8, n=10, seed=2, batch_size=4)
    res = fastgan.evaluate(_images(4, 12), s, metrics="fid,ppl")
    assert sorted(res) == ["fid", "ppl", "ppl_std"]
    assert res["ppl"] == pytest.approx(ppl(s, distance=lpips_net)["ppl"], rel=1e-12)
    alone = fastgan.evaluate(_images(4, 12), s, metrics="fid")
    assert res["fid"] == alone["fid"]


def _rank_worker(rank: int, world: int, port: int, out: Any) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(1)
        net = LPIPSVGG16(random_init=True)
        rows_ppl.build_distance = lambda opts, device: net  # type: ignore[assignment]
        measured: list[tuple[int, int]] = []
        measure = PerceptualPathLength.measure

        def spy(self: Any, G: Any, start: int = 0, stop: Any = None, **kw: Any) -> Any:
            measured.append((start, stop))
            return measure(self, G, start, stop, **kw)

        PerceptualPathLength.measure = spy  # type: ignore[method-assign]
        res = fastgan.evaluate(None, Sampler(G, 8, n=11, seed=3, batch_size=4), metrics="ppl")
        PerceptualPathLength.measure = measure  # type: ignore[method-assign]
        out.put((rank, dict(res), ppl(Sampler(G, 8, n=11, seed=3), distance=net), measured))
    finally:
        dist.destroy_process_group()


def test_ranks_share_the_paths() -> None:
    """Two gloo ranks measure paths 0..4 and 5..10; both report the single-process value."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    procs = [ctx.Process(target=_rank_worker, args=(r, 2, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = [queue.get() for _ in range(2)]
    results.sort(key=lambda r: r[0])
    assert [r[3] for r in results] == [[(0, 5)], [(5, 11)]]  # each path measured once, by one rank
    assert results[0][1] == results[1][1]  # every rank reports the same
    for _, got, want, _ in results:  # the shards' batches differ: float32 convolutions round differently
        assert got["ppl"] == pytest.approx(want["ppl"], rel=1e-6)
        assert got["ppl_std"] == pytest.approx(want["ppl_std"], rel=1e-6)
