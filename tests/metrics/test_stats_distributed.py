"""FeatureStats.sync / FID.sync over 2 gloo processes equal the single-process statistics."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fastgan.metrics.frechet import FID, FeatureStats


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _data() -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return torch.randn(701, 12, generator=g, dtype=torch.float64) * 3 + 1e3  # offset stresses the merge


# shard boundaries per rank (rank 1 of the "empty" case sees nothing)
SHARDS = {"uneven": [(0, 250), (250, 701)], "empty": [(0, 701), (701, 701)]}


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        for case in SHARDS:
            _run_case(rank, case, out_dir)
    finally:
        dist.destroy_process_group()


def _run_case(rank: int, case: str, out_dir: str) -> None:
    x = _data()
    lo, hi = SHARDS[case][rank]
    stats = FeatureStats()
    for i in range(lo, hi, 64):
        stats.update(x[i : min(hi, i + 64)].float() if rank == 0 else x[i : min(hi, i + 64)])
    stats.sync()
    metric = FID()
    if hi > lo:
        metric.update(x[lo:hi], real=True)
        metric.update(x[lo:hi] + 1.0, real=False)
    metric.sync()
    torch.save(
        {"state": stats.state_dict(), "fid": metric.compute()}, os.path.join(out_dir, f"{case}{rank}.pt")
    )


def test_sync_matches_single_process(tmp_path: Path) -> None:
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    port = _free_port()
    mp.start_processes(_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True, start_method="spawn")
    for case in SHARDS:
        _check_case(tmp_path, case)


def _check_case(tmp_path: Path, case: str) -> None:
    x = _data()
    single = FeatureStats()
    lo, hi = SHARDS[case][0]
    single.update(x[lo:hi].float())  # rank 0 fed float32
    lo, hi = SHARDS[case][1]
    single.update(x[lo:hi])
    for rank in range(2):
        res = torch.load(tmp_path / f"{case}{rank}.pt")
        got = FeatureStats()
        got.load_state_dict(res["state"])
        assert got.count == 701
        torch.testing.assert_close(got.mean, single.mean, rtol=1e-13, atol=1e-10)
        torch.testing.assert_close(got.cov, single.cov, rtol=1e-10, atol=1e-10)
        assert res["fid"] == pytest.approx(12.0, rel=1e-7)  # shifted copy: FID = ||1||^2 * D


def test_sync_is_noop_without_process_group() -> None:
    s = FeatureStats().update(torch.randn(10, 3))
    before = s.cov.clone()
    assert s.sync() is s
    torch.testing.assert_close(s.cov, before)
