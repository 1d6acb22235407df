"""The three feature banks of C_T / FLS sharded across 2 processes (gloo, CPU): after sync, every rank
computes the value of the rank-ordered concatenation of the shards (training, generated AND test)."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastgan.metrics import FLS, CTScore, ct_score, fls

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0, 0], [12, 0, 0], [0, 12, 0]])
    sets = [centers[np.arange(n) % 3] + rng.normal(size=(n, 3)) for n in (150, 91, 93)]
    return tuple(torch.from_numpy(s) for s in sets)  # type: ignore[return-value]


def _worker(rank: int, world: int, port: int, out: mp.SimpleQueue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        train, test, fake = _data()
        values = []
        for metric in (CTScore(), FLS(steps=3)):
            metric.update(train[rank::world], real=True)
            metric.update(fake[rank::world], real=False)
            metric.update_test(test[rank::world])
            metric.sync()
            values.append(metric.compute())
        out.put((rank, values))
    finally:
        dist.destroy_process_group()


def test_sharded_three_banks_equal_the_gathered_order() -> None:
    world = 2
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = dict(queue.get() for _ in range(world))
    train, test, fake = (torch.cat([s[r::world] for r in range(world)]) for s in _data())
    want = [ct_score(train, test, fake), fls(train, test, fake, steps=3)]
    assert results[0] == want
    assert results[1] == want
