"""TopP&R: a float64 brute force of the definition (full distance matrices, normalised densities,
the reference's projection and bootstrap draws), the bandwidth, tiles, errors, the class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from fastgan.metrics.topological import (
    KEY_TOP_PRECISION,
    KEY_TOP_RECALL,
    TopPrecisionRecall,
    balloon_bandwidth,
    projection_matrix,
    top_precision_recall,
)


def project(x: np.ndarray, dim: int) -> np.ndarray:
    """The reference's projection: nn.Linear initialised by xavier_normal_ after manual_seed(99)."""
    with torch.random.fork_rng():
        lin = torch.nn.Linear(x.shape[1], dim, bias=False)
        torch.manual_seed(99)
        torch.nn.init.xavier_normal_(lin.weight)
        with torch.no_grad():
            return lin(torch.from_numpy(x).float()).numpy()


def brute_bandwidth(z: np.ndarray, k: int) -> float:
    d = cdist(z, z)
    b = [np.sort(d[i, i + 1 :])[k - 1] for i in range(len(z) - k)]
    return float(np.sort(b)[int(len(b) * 0.5) - 1])


def kde(data: np.ndarray, points: np.ndarray, h: float) -> np.ndarray:
    """Cosine-kernel density with the reference's constant (pi / (4 h))^d / n."""
    d = cdist(points, data)
    k = np.where(d <= h, np.cos(0.5 * np.pi * d / h), 0.0)
    return (np.pi / (4 * h)) ** data.shape[1] * k.sum(1) / len(data)


def brute(x: np.ndarray, y: np.ndarray, alpha: float = 0.1, proj: int | None = 32, seed: int = 42) -> dict:
    if proj is not None and x.shape[1] > proj:
        x, y = project(x, proj), project(y, proj)
    x, y = x.astype(np.float64), y.astype(np.float64)
    k = 5 * x.shape[1]
    rs = np.random.RandomState(seed)
    out = {}
    for name, z in (("real", x), ("fake", y)):
        n = len(z)
        h = brute_bandwidth(z, k)
        p = kde(z, z, h)
        theta = [
            np.sqrt(n) * np.abs(p - kde(z[rs.choice(n, size=n, replace=True)], z, h)).max() for _ in range(10)
        ]
        out[name] = (h, np.quantile(theta, 1 - alpha) / np.sqrt(n), p)
    (hx, cx, px), (hy, cy, py) = out["real"], out["fake"]
    fake_at_x = kde(y, x, hy)
    real_at_y = kde(x, y, hx)
    in_x, in_y = px > cx, py > cy
    return {
        KEY_TOP_PRECISION: float(np.sum(in_y & (real_at_y > cx)) / np.sum(in_y)),
        KEY_TOP_RECALL: float(np.sum(in_x & (fake_at_x > cy)) / np.sum(in_x)),
        "bandwidth_real": hx,
        "bandwidth_fake": hy,
        "threshold_real": cx,
        "threshold_fake": cy,
        "real_in_support": int(in_x.sum()),
        "fake_in_support": int(in_y.sum()),
    }


def clouds(n: int, m: int, d: int, seed: int, shift: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (1.2 * rng.standard_normal((m, d)) + shift).astype(np.float32)
    return x, y


@pytest.mark.parametrize(
    "n,m,d,alpha",
    [(300, 260, 8, 0.1), (240, 300, 5, 0.3), (260, 240, 48, 0.1)],  # the last one is projected to 32
)
def test_matches_brute_force(n: int, m: int, d: int, alpha: float) -> None:
    x, y = clouds(n, m, d, seed=d)
    st: dict = {}
    got = top_precision_recall(torch.from_numpy(x), torch.from_numpy(y), alpha=alpha, stats=st)
    want = brute(x, y, alpha=alpha)
    assert got[KEY_TOP_PRECISION] == want[KEY_TOP_PRECISION]
    assert got[KEY_TOP_RECALL] == want[KEY_TOP_RECALL]
    for key in ("bandwidth_real", "bandwidth_fake", "threshold_real", "threshold_fake"):
        assert st[key] == pytest.approx(want[key], rel=1e-10), key
    assert st["real_in_support"] == want["real_in_support"]
    assert st["fake_in_support"] == want["fake_in_support"]
    assert 0 < got[KEY_TOP_PRECISION] < 1  # the case exercises both kinds of decision


def test_projection_matrix_is_the_seeded_xavier_linear() -> None:
    w = projection_matrix(70, 32, 99)
    assert w.shape == (32, 70) and w.dtype == torch.float32
    with torch.random.fork_rng():
        lin = torch.nn.Linear(70, 32, bias=False)
        torch.manual_seed(99)
        torch.nn.init.xavier_normal_(lin.weight)
    assert torch.equal(w, lin.weight.detach())
    assert not torch.equal(w, projection_matrix(70, 32, 100))


@pytest.mark.parametrize("block_size", [7, 64, None])
def test_bandwidth_and_tiles(block_size: int | None) -> None:
    x, y = clouds(230, 200, 6, seed=1)
    assert balloon_bandwidth(torch.from_numpy(x), 30, block_size=block_size) == pytest.approx(
        brute_bandwidth(x.astype(np.float64), 30), rel=1e-14
    )
    ref = top_precision_recall(x, y)
    assert top_precision_recall(x, y, block_size=block_size) == ref


def test_given_bandwidths_skip_the_estimate() -> None:
    x, y = clouds(260, 240, 6, seed=2)
    st: dict = {}
    want = top_precision_recall(x, y, stats=st)
    hx, hy = st["bandwidth_real"], st["bandwidth_fake"]
    st2: dict = {}
    assert top_precision_recall(x, y, bandwidth=(hx, hy), stats=st2) == want
    assert (st2["bandwidth_real"], st2["bandwidth_fake"]) == (hx, hy)
    # a given bandwidth needs no k-th neighbour: small sets work
    assert set(top_precision_recall(x[:20], y[:20], bandwidth=4.0)) == {KEY_TOP_PRECISION, KEY_TOP_RECALL}
    with pytest.raises(ValueError, match="real: no sample.s density exceeds its confidence band"):
        top_precision_recall(x[:20], y[:20], bandwidth=2.0)


def test_float64_and_float32_without_projection_agree_on_float32_values() -> None:
    x, y = clouds(220, 210, 6, seed=4)
    assert top_precision_recall(x, y) == top_precision_recall(x.astype(np.float64), y.astype(np.float64))


def test_disjoint_and_identical_supports() -> None:
    x, y = clouds(250, 250, 4, seed=5, shift=0.0)
    far = top_precision_recall(x, y + 100.0)
    assert far == {KEY_TOP_PRECISION: 0.0, KEY_TOP_RECALL: 0.0}
    same = top_precision_recall(x, x, bandwidth=1.5)
    assert same[KEY_TOP_PRECISION] == 1.0  # every fake sample in its support is in the real one


def test_errors() -> None:
    x, y = clouds(200, 200, 4, seed=6)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="real: contains 1 non-finite"):
        top_precision_recall(bad, y)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        top_precision_recall(x, y[:, :3])
    with pytest.raises(ValueError, match=r"fake: needs more than k = 20 samples"):
        top_precision_recall(x, y[:20])
    with pytest.raises(ValueError, match=r"real: needs more than k = 160 samples .* after projection"):
        top_precision_recall(np.ones((100, 40), np.float32), np.ones((300, 40), np.float32))
    with pytest.raises(ValueError, match="alpha: must lie in"):
        top_precision_recall(x, y, alpha=1.0)
    with pytest.raises(ValueError, match="bandwidth: must be finite"):
        top_precision_recall(x, y, bandwidth=(1.0, -1.0))
    with pytest.raises(ValueError, match="bandwidth: expected a number or a"):
        top_precision_recall(x, y, bandwidth=(1.0, 2.0, 3.0))
    with pytest.raises(TypeError, match="n_bootstrap: expected an integer"):
        top_precision_recall(x, y, n_bootstrap=2.5)
    with pytest.raises(ValueError, match="real: the bandwidth is 0"):
        top_precision_recall(np.zeros((60, 2), np.float32), y[:, :2])
    with pytest.raises(ValueError, match="k: must be >= 1"):
        top_precision_recall(x, y, k=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        TopPrecisionRecall(kk=3)


def test_metric_class_batches_merge_state() -> None:
    x, y = clouds(260, 230, 6, seed=7)
    want = top_precision_recall(x, y, alpha=0.2)
    a, b = TopPrecisionRecall(alpha=0.2), TopPrecisionRecall(alpha=0.2)
    a.update(torch.from_numpy(x[:100]), real=True)
    a.update(torch.from_numpy(y[:50]), real=False)
    b.update(torch.from_numpy(x[100:]), real=True)
    b.update(torch.from_numpy(y[50:]), real=False)
    assert a.merge(b).compute() == want
    c = TopPrecisionRecall(alpha=0.2)
    c.load_state_dict(a.state_dict())
    assert c.compute() == want
    c.reset()
    with pytest.raises(ValueError, match="real bank is empty"):
        c.compute()


def test_no_n_by_n_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every distance tile is at most block_size^2 (the largest float64 buffer is O(N))."""
    import fastgan.metrics.topological as top

    seen = []
    orig = top._Centred.sqdist

    def spy(self, s0, e0, other, s1, e1):  # type: ignore[no-untyped-def]
        out = orig(self, s0, e0, other, s1, e1)
        seen.append(out.numel())
        return out

    monkeypatch.setattr(top._Centred, "sqdist", spy)
    x, y = clouds(300, 280, 5, seed=8)
    want = top_precision_recall(x, y)
    seen.clear()
    assert top_precision_recall(x, y, block_size=50) == want
    assert seen and max(seen) <= 50 * 50
