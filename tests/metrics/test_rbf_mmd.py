"""CMMD: float64 brute force with direct differences, the clip-mmd package, errors, the class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.metrics.rbf_mmd import CMMD, KEY_CMMD, cmmd, rbf_kernel_sum


def brute_cmmd(
    x: np.ndarray, y: np.ndarray, sigma: float = 10.0, scale: float = 1000.0, unbiased: bool = False
) -> float:
    """The definition with an explicit N x M kernel matrix of direct differences (float64)."""
    gamma = 1.0 / (2.0 * sigma**2)

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-gamma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    if unbiased:
        off_x = kxx[~np.eye(n, dtype=bool)].sum() / (n * (n - 1))
        off_y = kyy[~np.eye(m, dtype=bool)].sum() / (m * (m - 1))
        return scale * (off_x + off_y - 2 * kxy.mean())
    return scale * (kxx.mean() + kyy.mean() - 2 * kxy.mean())


def clouds(n: int, m: int, d: int, seed: int, offset: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) + offset
    y = 1.1 * torch.randn(m, d, generator=g, dtype=torch.float64) + offset + 0.2
    return x, y


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("block_size", [None, 5, 64])
def test_matches_float64_brute_force(unbiased: bool, block_size: int | None) -> None:
    x, y = clouds(173, 131, 12, seed=1)
    got = cmmd(x, y, unbiased=unbiased, block_size=block_size)
    ref = brute_cmmd(x.numpy(), y.numpy(), unbiased=unbiased)
    assert got == pytest.approx(ref, rel=1e-12)


def test_far_from_origin_features_stay_exact() -> None:
    # the expanded |a|^2 + |b|^2 - 2ab form cancels badly far from the origin; the shift keeps it exact
    x, y = clouds(90, 70, 6, seed=2, offset=1e4)
    assert cmmd(x, y, sigma=3.0) == pytest.approx(brute_cmmd(x.numpy(), y.numpy(), sigma=3.0), rel=1e-11)


def test_sigma_and_scale_are_used() -> None:
    x, y = clouds(60, 50, 5, seed=3)
    assert cmmd(x, y, sigma=2.5, scale=1.0) == pytest.approx(
        brute_cmmd(x.numpy(), y.numpy(), sigma=2.5, scale=1.0), rel=1e-12
    )


def test_float32_tiles_close() -> None:
    x, y = clouds(200, 150, 16, seed=4)
    ref = brute_cmmd(x.numpy(), y.numpy())
    assert cmmd(x.float(), y.float(), dtype=torch.float32) == pytest.approx(ref, rel=1e-4)


def test_identical_sets_give_zero_biased() -> None:
    x, _ = clouds(50, 1, 4, seed=5)
    assert cmmd(x, x) == pytest.approx(0.0, abs=1e-12)


def test_kernel_sum_symmetric_equals_full() -> None:
    x, _ = clouds(77, 1, 3, seed=6)
    g = 0.05
    sym = rbf_kernel_sum(x, None, g, block_size=10)
    full = float(np.exp(-g * ((x.numpy()[:, None] - x.numpy()[None]) ** 2).sum(-1)).sum())
    assert sym == pytest.approx(full, rel=1e-13)


def test_matches_clip_mmd_package() -> None:
    calc = pytest.importorskip("clip_mmd.calculation")
    x, y = clouds(400, 300, 32, seed=7)
    ref = float(calc.mmd(x, y))  # the reference's biased estimator, on float64 inputs
    assert cmmd(x, y) == pytest.approx(ref, rel=1e-10)
    ref_eff = calc.mmd_efficient(x.numpy(), y.numpy(), precision=torch.float64)
    assert cmmd(x, y) == pytest.approx(ref_eff, rel=1e-10)


def test_errors_name_the_argument() -> None:
    x, y = clouds(10, 10, 4, seed=8)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="real"):
        cmmd(bad, y)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        cmmd(x, y[:, :3])
    with pytest.raises(ValueError, match="fake"):
        cmmd(x, y[:1], unbiased=True)
    with pytest.raises(ValueError, match="sigma"):
        cmmd(x, y, sigma=0.0)
    with pytest.raises(ValueError, match="fake"):
        cmmd(x, y[:0])


def test_class_protocol_merge_state_dict() -> None:
    x, y = clouds(80, 60, 5, seed=9)
    ref = cmmd(x, y, unbiased=True)
    a, b = CMMD(unbiased=True), CMMD(unbiased=True)
    a.update(x[:30], real=True)
    a.update(y[:10], real=False)
    b.update(x[30:], real=True)
    b.update(y[10:], real=False)
    a.merge(b)
    assert a.compute() == pytest.approx(ref, rel=1e-12)
    c = CMMD(unbiased=True)
    c.load_state_dict(a.state_dict())
    assert c.compute() == pytest.approx(ref, rel=1e-12)
    c.reset()
    with pytest.raises(ValueError, match="empty"):
        c.compute()
    assert KEY_CMMD == "cmmd"


def test_exports_are_functions_after_submodule_imports() -> None:
    import importlib

    import fastgan.metrics as fm

    for mod in ("rbf_mmd", "diversity", "sliced", "probabilistic", "frechet"):
        importlib.import_module(f"fastgan.metrics.{mod}")
    for name in ("cmmd", "vendi", "sliced_wasserstein", "p_precision_recall", "fd"):
        assert callable(getattr(fm, name)), name
    x = torch.randn(30, 3, dtype=torch.float64)
    assert fm.fd(x, x + 1.0) == fm.fid(x, x + 1.0)


@pytest.mark.parametrize("block_size", [1, 3, 7, 16, 100])
def test_kernel_sum_tiles_and_diagonal_split(block_size: int) -> None:
    # panels of block_size rows, diagonal blocks split in halves, columns in chunks of 2 * block_size
    x, y = clouds(53, 41, 4, seed=10)
    g = 0.07
    xn, yn = x.numpy(), y.numpy()
    full_xx = float(np.exp(-g * ((xn[:, None] - xn[None]) ** 2).sum(-1)).sum())
    full_xy = float(np.exp(-g * ((xn[:, None] - yn[None]) ** 2).sum(-1)).sum())
    assert rbf_kernel_sum(x, None, g, block_size=block_size) == pytest.approx(full_xx, rel=1e-13)
    assert rbf_kernel_sum(x, y, g, block_size=block_size) == pytest.approx(full_xy, rel=1e-13)


def test_inputs_are_not_modified() -> None:
    x, y = clouds(40, 30, 5, seed=11)
    x0, y0 = x.clone(), y.clone()
    rbf_kernel_sum(x, None, 0.1)
    rbf_kernel_sum(x, y, 0.1)
    cmmd(x, y)
    assert torch.equal(x, x0) and torch.equal(y, y0)


def test_float32_inputs_float64_tiles_exact() -> None:
    # float32 features are widened once; the value is the float64 brute force on the same numbers
    x, y = clouds(120, 90, 10, seed=12)
    x32, y32 = x.float(), y.float()
    ref = brute_cmmd(x32.double().numpy(), y32.double().numpy())
    assert cmmd(x32, y32) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("threads", [1, 3])
def test_worker_threads_same_value_and_setting_restored(threads: int) -> None:
    x, y = clouds(150, 110, 6, seed=13)
    ref = brute_cmmd(x.numpy(), y.numpy(), unbiased=True)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = cmmd(x, y, unbiased=True, block_size=16)  # dozens of tiles shared among the threads
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(old)
    assert got == pytest.approx(ref, rel=1e-12)
