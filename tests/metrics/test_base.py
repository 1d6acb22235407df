"""The Metric protocol: every stateful metric has update/compute/reset/merge/sync/state_dict.

sync() is checked over 2 gloo processes on the CPU (ranks with different row counts, one rank
possibly empty): the result equals the single-process one (FID/KID/IS to 1e-12 relative,
PRDC exactly).
"""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import fastgan.metrics as fm
from fastgan.metrics import FID, KID, PRDC, FeatureStats, InceptionScore, Metric
from fastgan.metrics._base import all_gather_rows

N_REAL, N_FAKE, D, C = 83, 71, 6, 7
# rows per rank (contiguous, so rank order is sample order); the "empty" case leaves rank 1 without samples
SHARDS = {"uneven": (30, 53), "empty": (83, 0)}


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    real = torch.randn(N_REAL, D, generator=g, dtype=torch.float64) * 2 + 5
    fake = torch.randn(N_FAKE, D, generator=g, dtype=torch.float64) * 2.2 + 5.3
    logits = torch.randn(N_REAL, C, generator=g, dtype=torch.float64) * 3
    return {"real": real, "fake": fake, "logits": logits}


def _metrics() -> dict[str, Metric]:
    return {
        "fid": FID(),
        "kid": KID(subsets=5, subset_size=20, seed=3),
        "is": InceptionScore(splits=4, num_samples=N_REAL),
        "prdc": PRDC(k=3),
    }


def _feed(
    metrics: dict[str, Metric], data: dict[str, torch.Tensor], lo_r: int, hi_r: int, lo_f: int, hi_f: int
) -> None:
    for name, m in metrics.items():
        if name == "is":
            for i in range(lo_r, hi_r, 8):
                j = min(hi_r, i + 8)
                m.update(data["logits"][i:j], index=torch.arange(i, j))
            continue
        for i in range(lo_r, hi_r, 8):
            m.update(data["real"][i : min(hi_r, i + 8)], real=True)
        for i in range(lo_f, hi_f, 13):
            m.update(data["fake"][i : min(hi_f, i + 13)], real=False)


def _single() -> dict[str, Any]:
    metrics = _metrics()
    _feed(metrics, _data(), 0, N_REAL, 0, N_FAKE)
    return {name: m.compute() for name, m in metrics.items()}


def _shard(case: str, rank: int) -> tuple[int, int, int, int]:
    r0, _ = SHARDS[case]
    f0 = r0 * N_FAKE // N_REAL
    if rank == 0:
        return 0, r0, 0, f0
    return r0, N_REAL, f0, N_FAKE


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.set_num_threads(1)
        data = _data()
        results: dict[str, Any] = {}
        for case in SHARDS:
            metrics = _metrics()
            _feed(metrics, data, *_shard(case, rank))
            for m in metrics.values():
                assert m.sync() is m
            results[case] = {name: m.compute() for name, m in metrics.items()}
            results[case]["fid_count"] = (metrics["fid"].real.count, metrics["fid"].fake.count)
        # banks of mixed dtypes and an empty rank: promoted, rank order
        local = torch.arange(6.0).reshape(3, 2) if rank == 0 else None
        results["gather_empty"] = all_gather_rows(local)
        local = torch.ones(rank + 1, 2, dtype=torch.float32 if rank == 0 else torch.float64) * rank
        results["gather_mixed"] = all_gather_rows(local)
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_sync_over_two_ranks_equals_single_process(tmp_path: Path) -> None:
    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="spawn"
    )
    want = _single()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        for case in SHARDS:
            res = got[case]
            assert res["fid_count"] == (N_REAL, N_FAKE)
            assert type(res["fid"]) is float
            assert res["fid"] == pytest.approx(want["fid"], rel=1e-12)
            assert res["kid"] == pytest.approx(want["kid"], rel=1e-12)
            assert res["is"] == pytest.approx(want["is"], rel=1e-12)
            assert res["prdc"] == want["prdc"]  # exact
        torch.testing.assert_close(got["gather_empty"], torch.arange(6.0).reshape(3, 2), rtol=0, atol=0)
        mixed = got["gather_mixed"]
        assert mixed.dtype == torch.float64 and mixed.tolist() == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]


# ----------------------------------------------------------------------------- single process
def test_every_metric_implements_the_protocol() -> None:
    for cls in (FID, KID, InceptionScore, PRDC):
        assert issubclass(cls, Metric)
        assert getattr(fm, cls.__name__) is cls
    for method in ("update", "compute", "reset", "merge", "sync", "state_dict", "load_state_dict"):
        assert getattr(Metric, method).__isabstractmethod__


def test_sync_is_noop_without_process_group() -> None:
    assert not dist.is_initialized()
    metrics = _metrics()
    _feed(metrics, _data(), 0, N_REAL, 0, N_FAKE)
    before = {name: m.compute() for name, m in metrics.items()}
    for m in metrics.values():
        assert m.sync() is m
    assert {name: m.compute() for name, m in metrics.items()} == before
    s = FeatureStats().update(torch.randn(10, 3))
    cov = s.cov.clone()
    assert s.sync() is s
    torch.testing.assert_close(s.cov, cov, rtol=0, atol=0)
    t = torch.randn(4, 3)
    assert all_gather_rows(t) is t


def test_merge_of_shards_equals_single_process() -> None:
    data = _data()
    want = _single()
    parts = []
    for lo_r, hi_r, lo_f, hi_f in ((0, 20, 0, 15), (20, 21, 15, 40), (21, 83, 40, 71)):
        metrics = _metrics()
        _feed(metrics, data, lo_r, hi_r, lo_f, hi_f)
        parts.append(metrics)
    for name in want:
        merged = parts[0][name]
        merged.merge(parts[1][name]).merge(parts[2][name])
        got = merged.compute()
        if name == "prdc":
            assert got == want[name]
        else:
            assert got == pytest.approx(want[name], rel=1e-12)
    # statistics merge in any order (associative, commutative); banks concatenate
    fids = []
    for order in ((0, 1, 2), (2, 0, 1)):
        parts = []
        for lo_r, hi_r, lo_f, hi_f in ((0, 20, 0, 15), (20, 21, 15, 40), (21, 83, 40, 71)):
            m = FID()
            _feed({"fid": m}, data, lo_r, hi_r, lo_f, hi_f)
            parts.append(m)
        acc = parts[order[0]]
        acc.merge(parts[order[1]].merge(parts[order[2]]))
        fids.append(acc.compute())
    assert fids[0] == pytest.approx(fids[1], rel=1e-12)
    with pytest.raises(TypeError, match="other"):
        FID().merge(KID())  # type: ignore[arg-type]


def _roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_state_dict_roundtrip_every_metric() -> None:
    data = _data()
    for name, m in _metrics().items():
        _feed({name: m}, data, 0, N_REAL, 0, N_FAKE)
        fresh = _metrics()[name]
        fresh.load_state_dict(_roundtrip(m.state_dict()))
        assert fresh.compute() == m.compute()
        # an empty metric round-trips too
        empty = _metrics()[name]
        empty.load_state_dict(_roundtrip(_metrics()[name].state_dict()))
        with pytest.raises((ValueError, RuntimeError)):
            empty.compute()
        # reset forgets every sample
        m.reset()
        with pytest.raises((ValueError, RuntimeError)):
            m.compute()
    with pytest.raises(KeyError):
        KID().load_state_dict({"real": None})
    with pytest.raises(ValueError, match="split configuration"):
        InceptionScore(splits=3).load_state_dict(InceptionScore(splits=4).state_dict())


def test_fid_fixed_reference_survives_merge_state_and_reset() -> None:
    data = _data()
    ref = FeatureStats.from_features(data["real"])
    m = FID(real_stats=(ref.mean, ref.cov))
    assert m.real.count is None and m.real_fixed
    m.update(data["fake"], real=False)
    want = fm.fid(data["real"], data["fake"])
    assert m.compute() == pytest.approx(want, rel=1e-10)
    other = FID(real_stats=(ref.mean, ref.cov))
    m.merge(other)
    m.reset()
    assert m.real.count is None
    m.load_state_dict(_roundtrip(FID(real_stats=ref).state_dict()))
    assert m.real_fixed and m.real.count == N_REAL


def test_result_keys() -> None:
    assert (fm.KEY_FID, fm.KEY_KID_MEAN, fm.KEY_KID_STD, fm.KEY_IS_MEAN, fm.KEY_IS_STD) == (
        "fid",
        "kid_mean",
        "kid_std",
        "is_mean",
        "is_std",
    )
    assert (fm.KEY_PRECISION, fm.KEY_RECALL, fm.KEY_DENSITY, fm.KEY_COVERAGE) == (
        "precision",
        "recall",
        "density",
        "coverage",
    )
    out = _single()
    assert type(out["fid"]) is float
    assert set(out["kid"]) == {fm.KEY_KID_MEAN, fm.KEY_KID_STD}
    assert set(out["is"]) == {fm.KEY_IS_MEAN, fm.KEY_IS_STD}
    assert set(out["prdc"]) == {fm.KEY_PRECISION, fm.KEY_RECALL, fm.KEY_DENSITY, fm.KEY_COVERAGE}
    for d in (out["kid"], out["is"], out["prdc"]):
        assert all(type(v) is float for v in d.values())
