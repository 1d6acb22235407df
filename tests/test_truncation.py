"""Truncation trick: exact truncated normal (KS vs scipy), psi truncation, w_avg, sweeps."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from scipy import stats

from fastgan.truncation import (
    INVERSE_CDF_BELOW,
    biggan_truncated_noise,
    estimate_w_avg,
    plot_truncation_sweep,
    psi_truncation,
    truncated_normal,
    truncation_sweep,
)

PSIS = [0.05, 0.3, INVERSE_CDF_BELOW, 0.7, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("psi", PSIS)
@pytest.mark.parametrize("method", ["auto", "rejection", "inverse_cdf"])
def test_ks_against_scipy_truncnorm(psi: float, method: str) -> None:
    g = torch.Generator().manual_seed(int(psi * 1000) + len(method))
    z = truncated_normal((40_000,), psi, generator=g, dtype=torch.float64, method=method)
    p = stats.kstest(z.numpy(), stats.truncnorm(-psi, psi).cdf).pvalue
    assert p > 1e-4, f"KS p-value {p}"


@pytest.mark.parametrize("psi", [0.1, 0.6, 1.5])
def test_moments(psi: float) -> None:
    z = truncated_normal((200_000,), psi, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    var = stats.truncnorm(-psi, psi).var()
    # sample mean ~ N(0, var/n), sample variance ~ N(var, (mu4 - var^2)/n); 5 sigma bounds
    n = z.numel()
    mu4 = stats.truncnorm(-psi, psi).moment(4)
    assert abs(float(z.mean())) < 5 * math.sqrt(var / n)
    assert abs(float(z.var()) - var) < 5 * math.sqrt((mu4 - var**2) / n)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("psi", [0.01, 0.7, 0.9999999, 1.1])
def test_bounds_respected_in_every_dtype(dtype: torch.dtype, psi: float) -> None:
    z = truncated_normal((50_000,), psi, generator=torch.Generator().manual_seed(1), dtype=dtype)
    assert z.dtype == dtype and z.shape == (50_000,)
    assert float(z.double().abs().max()) <= psi
    assert torch.isfinite(z).all()


def test_psi_semantics() -> None:
    g = torch.Generator().manual_seed(0)
    small = truncated_normal((10_000,), 0.5, generator=g)
    large = truncated_normal((10_000,), 3.0, generator=g)
    assert float(small.std()) < float(large.std())
    assert float(small.abs().max()) > 0.45  # threshold, not a rescaling: mass reaches the bound
    plain = truncated_normal((4, 3), math.inf, generator=torch.Generator().manual_seed(5))
    assert torch.equal(plain, torch.randn(4, 3, generator=torch.Generator().manual_seed(5)))


def test_biggan_convention_scales() -> None:
    z = biggan_truncated_noise(
        (20_000,), 0.5, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    assert float(z.abs().max()) <= 1.0
    p = stats.kstest(z.numpy(), stats.truncnorm(-2, 2, scale=0.5).cdf).pvalue
    assert p > 1e-4


def test_generator_reproducibility_and_shape() -> None:
    for method in ("rejection", "inverse_cdf"):
        a = truncated_normal((3, 5, 7), 0.8, generator=torch.Generator().manual_seed(3), method=method)
        b = truncated_normal((3, 5, 7), 0.8, generator=torch.Generator().manual_seed(3), method=method)
        c = truncated_normal((3, 5, 7), 0.8, generator=torch.Generator().manual_seed(4), method=method)
        assert a.shape == (3, 5, 7) and torch.equal(a, b) and not torch.equal(a, c)
    assert truncated_normal(6, 1.0).shape == (6,)
    assert truncated_normal((0, 4), 1.0).shape == (0, 4)


@pytest.mark.parametrize("psi", [0.0, -1.0, float("nan"), "0.5", True])
def test_bad_psi(psi: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        truncated_normal((3,), psi)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="method"):
        truncated_normal((3,), 1.0, method="clip")
    with pytest.raises(TypeError, match="dtype"):
        truncated_normal((3,), 1.0, dtype=torch.int32)
    with pytest.raises(ValueError, match="shape"):
        truncated_normal((-1,), 1.0)


def test_psi_truncation_formula_and_cutoff() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 6, 8, generator=g)
    w_avg = torch.randn(8, generator=g)
    out = psi_truncation(w, w_avg, 0.7)
    torch.testing.assert_close(out, w_avg + 0.7 * (w - w_avg))
    assert torch.equal(psi_truncation(w, w_avg, 1.0), w)
    torch.testing.assert_close(psi_truncation(w, w_avg, 0.0), w_avg.expand_as(w))
    cut = psi_truncation(w, w_avg, 0.5, cutoff=2)
    torch.testing.assert_close(cut[:, :2], w_avg + 0.5 * (w[:, :2] - w_avg))
    assert torch.equal(cut[:, 2:], w[:, 2:])
    assert torch.equal(psi_truncation(w, w_avg, 0.5, cutoff=0), w)
    per_layer = torch.randn(6, 8, generator=g)
    torch.testing.assert_close(psi_truncation(w, per_layer, 0.3), per_layer + 0.3 * (w - per_layer))
    w2 = torch.randn(4, 8, generator=g)
    torch.testing.assert_close(psi_truncation(w2, w_avg, torch.tensor(0.25)), w_avg + 0.25 * (w2 - w_avg))
    assert psi_truncation(w2, w_avg, 0.5).data_ptr() != w2.data_ptr()  # out of place


def test_psi_truncation_errors() -> None:
    w, avg = torch.randn(3, 4), torch.zeros(4)
    with pytest.raises(ValueError, match="cutoff"):
        psi_truncation(w, avg, 0.5, cutoff=1)
    with pytest.raises(ValueError, match="w_avg"):
        psi_truncation(w, torch.zeros(5), 0.5)
    with pytest.raises(ValueError, match="psi"):
        psi_truncation(w, avg, float("inf"))
    with pytest.raises(ValueError, match="w:"):
        psi_truncation(torch.randn(4), avg, 0.5)
    with pytest.raises(TypeError, match="w:"):
        psi_truncation(w.long(), avg, 0.5)


def test_estimate_w_avg_linear_mapping() -> None:
    # For an affine mapping w = A z + b, E[w] = b; the estimate's error is A z_bar with z_bar ~ N(0, I/n).
    g = torch.Generator().manual_seed(0)
    mapping = torch.nn.Linear(16, 8)
    with torch.no_grad():
        mapping.bias.copy_(torch.arange(8.0))
    est = estimate_w_avg(mapping, n=20_000, z_dim=16, batch_size=3000, generator=g)
    assert est.shape == (8,)
    row_norm = mapping.weight.detach().norm(dim=1)
    assert torch.all((est - mapping.bias.detach()).abs() < 5 * row_norm / math.sqrt(20_000))
    # reproducible with the generator; per-layer outputs give [L, D]
    again = estimate_w_avg(
        mapping, n=20_000, z_dim=16, batch_size=3000, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(est, again)
    layered = estimate_w_avg(lambda z: mapping(z)[:, None].expand(-1, 3, -1), n=100, z_dim=16)
    assert layered.shape == (3, 8)
    with pytest.raises(ValueError, match="z_dim"):
        estimate_w_avg(lambda z: z, n=10)
    with pytest.raises(ValueError, match="mapping"):
        estimate_w_avg(lambda z: z.sum(), n=10, z_dim=3)


def test_truncation_sweep_with_real_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    # the sweep only routes to the metric functions; pin them to their torch references so
    # this test does not depend on the state of the compiled extension
    monkeypatch.setenv("FASTGAN_BACKEND", "torch")
    pytest.importorskip("fastgan.metrics.manifold")
    pytest.importorskip("fastgan.metrics.frechet")
    from fastgan.metrics.frechet import fid
    from fastgan.metrics.manifold import precision_recall

    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=g, dtype=torch.float64)
    base = torch.randn(300, 4, generator=g, dtype=torch.float64)
    calls: list[float] = []

    def sample_fn(psi: float) -> torch.Tensor:
        calls.append(psi)
        return base * psi  # psi-truncation of a generator whose w_avg is 0

    table = truncation_sweep(sample_fn, [0.2, 0.6, 1.0], real)
    assert calls == [0.2, 0.6, 1.0]
    assert [row["psi"] for row in table] == [0.2, 0.6, 1.0]
    for row in table:
        fake = base * row["psi"]
        pr = precision_recall(real, fake, k=3)
        assert row["precision"] == pytest.approx(float(pr["precision"]))
        assert row["recall"] == pytest.approx(float(pr["recall"]))
        assert row["fid"] == pytest.approx(float(fid(real, fake)))
    # the trade-off: stronger truncation -> less recall, worse FID
    assert table[0]["recall"] < table[2]["recall"]
    assert table[0]["fid"] > table[2]["fid"]
    with pytest.raises(ValueError, match="unknown metric"):
        truncation_sweep(sample_fn, [1.0], real, metrics=("accuracy",))
    with pytest.raises(ValueError, match="psis"):
        truncation_sweep(sample_fn, [], real)


def test_truncation_sweep_kid_only() -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.randn(60, 3, generator=g)
    table = truncation_sweep(
        lambda psi: real * psi,
        [0.5, 1.0],
        real,
        metrics=("kid",),
        kid_kwargs=dict(subsets=3, subset_size=20, seed=0),
    )
    # the registry's keys (was "kid"); kid_kwargs are the registry's KID options (was any kid() keyword)
    assert set(table[0]) == {"psi", "n_fake", "kid_mean", "kid_std"}
    assert table[0]["kid_mean"] > table[1]["kid_mean"]


def _sweep_table() -> list[dict[str, float]]:
    return [
        {"psi": 0.5, "n_fake": 10.0, "precision": 0.9, "recall": 0.2, "fid": 30.0},
        {"psi": 1.0, "n_fake": 10.0, "precision": 0.7, "recall": 0.6, "fid": 10.0},
    ]


def test_plot_truncation_sweep_figure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = tmp_path / "sweep.png"
    fig = plot_truncation_sweep(_sweep_table(), str(path), title="my sweep")
    assert isinstance(fig.canvas, FigureCanvasAgg)  # rendered off-screen, no pyplot figure
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax, twin = fig.axes
    assert ax.get_title() == "my sweep"
    assert "psi" in ax.get_xlabel() and ax.get_ylabel() == "precision / recall (fraction)"
    assert twin.get_ylabel().startswith("FID")
    assert [list(line.get_xdata()) for line in ax.get_lines()] == [[0.5, 1.0]] * 2
    assert [t.get_text() for t in twin.get_legend().get_texts()] == ["precision", "recall", "FID"]
    # every curve stays below the band the legend occupies
    assert ax.get_ylim()[1] > 1.0 and twin.get_ylim()[1] > 30.0


def test_plot_truncation_sweep_into_given_axes() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert (
        plot_truncation_sweep(
            [{k: v for k, v in row.items() if k != "fid"} for row in _sweep_table()], ax=right
        )
        is fig
    )
    assert len(fig.axes) == 2 and not left.get_lines()  # no twin axis without FID / KID
    assert [line.get_label() for line in right.get_lines()] == ["precision", "recall"]


def test_plot_truncation_sweep_errors() -> None:
    with pytest.raises(ValueError, match="table: empty"):
        plot_truncation_sweep([])
    with pytest.raises(ValueError, match="psi"):
        plot_truncation_sweep([{"precision": 0.5}])
    with pytest.raises(ValueError, match="no metric column"):
        plot_truncation_sweep([{"psi": 1.0, "n_fake": 3.0}])


def test_truncation_imports_matplotlib_lazily() -> None:
    code = "import sys, fastgan.truncation; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
