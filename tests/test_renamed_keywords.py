"""Deprecated keyword names (fastgan/_compat.py): the old name warns and gives the same numbers.

One name per idea: ``n_bootstrap`` (not ``n_boot``), ``threshold`` for a truncation threshold
(``psi`` is StyleGAN's interpolation factor); the Sampler's ``truncation=`` is tested in
tests/evaluation/test_sampler.py."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import pytest
import torch

from fastgan._compat import renamed_kwarg
from fastgan.metrics import fid_bootstrap
from fastgan.truncation import truncated_normal


def test_renamed_kwarg_helper() -> None:
    @renamed_kwarg("old", "new")
    def f(a: int, *, new: int = 1) -> int:
        return a + new

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(1, new=2) == 3 and f(1) == 2  # the new name never warns
    with pytest.warns(DeprecationWarning, match=r"f: the keyword old= is deprecated.*pass new="):
        assert f(1, old=2) == 3
    with pytest.raises(TypeError, match="pass new= only"):
        f(1, old=2, new=2)
    assert list(inspect.signature(f).parameters) == ["a", "new"]


def test_fid_bootstrap_n_boot() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(40, 6, generator=g, dtype=torch.float64),
        torch.randn(50, 6, generator=g, dtype=torch.float64),
    )
    new = fid_bootstrap(x, y, n_bootstrap=12, generator=torch.Generator().manual_seed(3))
    with pytest.warns(DeprecationWarning, match="n_boot= is deprecated.*n_bootstrap="):
        old = fid_bootstrap(x, y, n_boot=12, generator=torch.Generator().manual_seed(3))
    assert old == new


def test_truncated_normal_psi_is_threshold() -> None:
    new = truncated_normal((64, 8), threshold=0.7, generator=torch.Generator().manual_seed(5))
    with pytest.warns(DeprecationWarning, match="psi= is deprecated.*threshold="):
        old = truncated_normal((64, 8), psi=0.7, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(old, new, rtol=0, atol=0)
    assert float(new.abs().max()) <= 0.7


def test_plot_truncation_sweep_moved_to_plotting() -> None:
    import fastgan.plotting
    import fastgan.truncation

    assert fastgan.truncation.plot_truncation_sweep is fastgan.plotting.plot_truncation_sweep
    from fastgan.truncation import plot_truncation_sweep  # the old import keeps working

    assert plot_truncation_sweep is fastgan.plotting.plot_truncation_sweep


def test_plotting_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fastgan.plotting import plot_truncation_sweep

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r'pip install "fastgan\[plot\]"'):
        plot_truncation_sweep([{"psi": 1.0, "precision": 0.5}])


def test_convert_weights_model_is_extractor(tmp_path: Path) -> None:
    from fastgan.cli import commands
    from fastgan.features import VGG16FC2, convert_weights

    src = tmp_path / "vgg.pth"
    torch.save(VGG16FC2(random_init=True).state_dict(), src)
    new = convert_weights(src, tmp_path / "a.pth", extractor="vgg16")
    with pytest.warns(
        DeprecationWarning, match="convert_weights: the keyword model= is deprecated.*pass extractor="
    ):
        old = convert_weights(src, tmp_path / "b.pth", model="vgg16")
    assert new == old and (tmp_path / "a.pth").read_bytes() != b""
    assert (
        torch.load(tmp_path / "a.pth", weights_only=True).keys()
        == torch.load(tmp_path / "b.pth", weights_only=True).keys()
    )
    for flag in ("--extractor", "--model"):  # the CLI's former spelling is still accepted
        assert (
            commands.main(["convert-weights", str(src), str(tmp_path / f"c{flag}.pth"), flag, "vgg16"]) == 0
        )
