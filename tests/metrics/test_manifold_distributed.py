"""PRDC over feature banks sharded across 2 processes (gloo, CPU) equals the single-process result."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastgan.metrics import PRDC

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.normal(size=(101, 12)).astype(np.float32))
    fake = torch.from_numpy((rng.normal(size=(87, 12)) * 1.1 + 0.05).astype(np.float32))
    return real, fake


def _worker(rank: int, world: int, port: int, out: mp.SimpleQueue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        real, fake = _data()
        metric = PRDC(k=4)
        # uneven shards and batches: rank r takes rows r, r + world, ...
        rs = real[rank::world]
        fs = fake[rank::world]
        for i in range(0, len(rs), 7):
            metric.update(rs[i : i + 7], real=True)
        for i in range(0, len(fs), 11):
            metric.update(fs[i : i + 11], real=False)
        metric.sync()
        out.put((rank, metric.compute()))
    finally:
        dist.destroy_process_group()


def test_sharded_banks_equal_single_process():
    world = 2
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, queue)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = dict(queue.get() for _ in range(world))
    real, fake = _data()
    single = PRDC(k=4)
    single.update(real, real=True)
    single.update(fake, real=False)
    expected = single.compute()
    assert results[0] == expected
    assert results[1] == expected
