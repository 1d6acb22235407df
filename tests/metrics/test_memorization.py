"""Memorization metrics (AuthPct, MIFID, C_T, FLD, FLS): float64 brute-force oracles written here,
independently of fastgan.metrics.memorization*, plus properties and the stateful classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastgan.metrics import memorization_fld as mfld
from fastgan.metrics.memorization import MIFID, AuthPct, authpct, max_abs_cosine, mifid, nearest_neighbor
from fastgan.metrics.memorization_ct import CTScore, c_t_statistic, ct_score, mann_whitney_z
from fastgan.metrics.memorization_fld import FLD, FLS, fld, fls


def _sq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """float64 squared distances by direct differences (the oracle's distance)."""
    a, b = a.double(), b.double()
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _grid(n: int, d: int, seed: int) -> torch.Tensor:
    """Small-integer features: many exact ties and duplicates."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (n, d), generator=g).float()


# ------------------------------------------------------------------------------ nearest neighbours
@pytest.mark.parametrize("ties", [False, True])
def test_nearest_neighbor_matches_brute_force(ties: bool, device: str) -> None:
    g = torch.Generator().manual_seed(1)
    if ties:
        q, b = _grid(70, 5, 2), _grid(90, 5, 3)
    else:
        q, b = torch.randn(70, 9, generator=g) * 50 + 1e3, torch.randn(90, 9, generator=g) * 50 + 1e3
    d2, idx = nearest_neighbor(q.to(device), b.to(device), block_size=16)
    d2, idx = d2.cpu(), idx.cpu()
    full = _sq(q, b)
    want = full.min(1).values
    assert torch.equal(d2, want)
    # smallest index among the exact ties
    want_idx = torch.tensor([int((full[i] == want[i]).nonzero()[0]) for i in range(q.shape[0])])
    assert torch.equal(idx, want_idx)


def _authpct_oracle(x: torch.Tensor, y: torch.Tensor) -> float:
    dxx = _sq(x, x)
    dxx.fill_diagonal_(math.inf)
    r = dxx.min(1).values
    dyx = _sq(y, x)
    d1 = dyx.min(1).values
    hits = 0
    for j in range(y.shape[0]):
        i = int((dyx[j] == d1[j]).nonzero()[0])
        hits += int(r[i] < d1[j])
    return 100.0 * hits / y.shape[0]


@pytest.mark.parametrize("ties", [False, True])
def test_authpct_float64_oracle(ties: bool) -> None:
    g = torch.Generator().manual_seed(4)
    if ties:
        x, y = _grid(80, 4, 5), _grid(60, 4, 6)
    else:
        x = torch.randn(120, 6, generator=g, dtype=torch.float64)
        y = torch.cat(
            [
                x[:30] + 1e-4 * torch.randn(30, 6, generator=g, dtype=torch.float64),
                torch.randn(40, 6, generator=g, dtype=torch.float64),
            ]
        )
    assert authpct(x, y, block_size=32) == _authpct_oracle(x, y)


def test_authpct_copies_and_strangers() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 3, generator=g)
    assert authpct(x, x[:40]) == 0.0  # a copy is at distance 0: never authentic
    assert authpct(x, torch.randn(30, 3, generator=g) + 1e3) == 100.0


def test_authpct_faiss_engine_agrees() -> None:
    from fastgan.metrics import knn

    if knn.faiss_module() is None:
        pytest.skip("faiss not installed")
    x, y = _grid(80, 4, 7), _grid(50, 4, 8)
    assert authpct(x, y, impl="faiss") == authpct(x, y, impl="torch")


# ------------------------------------------------------------------------------ MIFID
def _fid_oracle(x: np.ndarray, y: np.ndarray) -> float:
    import scipy.linalg

    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _cos_oracle(x: np.ndarray, y: np.ndarray) -> float:
    x = x[x.sum(1) != 0]
    y = y[y.sum(1) != 0]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    return float((1 - np.abs(xn @ yn.T)).min(1).mean())


def test_max_abs_cosine_matches_brute_force(device: str) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(60, 7, generator=g)
    y = torch.cat([-x[:10] * 3, torch.randn(50, 7, generator=g)])  # |cos| = 1 exactly for the flips
    got = max_abs_cosine(x.to(device), y.to(device), block_size=8).cpu()
    xd, yd = x.double().numpy(), y.double().numpy()
    want = np.abs(
        (xd / np.linalg.norm(xd, axis=1, keepdims=True)) @ (yd / np.linalg.norm(yd, axis=1, keepdims=True)).T
    ).max(1)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("near", [False, True])
def test_mifid_float64_oracle(near: bool) -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(200, 32, generator=g, dtype=torch.float64).abs()
    x[:3] = 0.0  # zero rows are dropped from the cosine term
    y = x + (1e-3 if near else 3.0) * torch.randn(200, 32, generator=g, dtype=torch.float64)
    st: dict = {}
    got = mifid(x, y, stats=st)
    fid = _fid_oracle(x.numpy(), y.numpy())
    d = _cos_oracle(x.numpy(), y.numpy())
    want = fid / ((d if d < 0.1 else 1.0) + 10e-15)
    assert (d < 0.1) == near
    assert got == pytest.approx(want, rel=1e-8)
    assert st["cosine_distance"] == pytest.approx(d, rel=1e-12, abs=1e-15)


def test_mifid_zero_fid_and_eps_check() -> None:
    x = torch.randn(50, 3, dtype=torch.float64)
    assert mifid(x, x) == 0.0
    with pytest.raises(ValueError, match="cosine_distance_eps"):
        mifid(x, x, cosine_distance_eps=0.0)


# ------------------------------------------------------------------------------ C_T
def test_mann_whitney_z_matches_scipy() -> None:
    from scipy.stats import mannwhitneyu

    g = torch.Generator().manual_seed(0)
    lq = torch.randint(0, 6, (37,), generator=g).double()
    lp = torch.randint(0, 6, (52,), generator=g).double()
    u = mannwhitneyu(lq.numpy(), lp.numpy(), alternative="less").statistic
    n, m = 52, 37
    want = (u - (n * m / 2 - 0.5)) / math.sqrt(n * m * (n + m + 1) / 12)
    assert mann_whitney_z(lq, lp) == pytest.approx(want, rel=1e-13)


def _ct_oracle(t, p, q, tl, pl, ql, tau) -> float:
    from scipy.stats import mannwhitneyu

    m, n = len(q), len(p)
    k = int(max(tl.max(), pl.max(), ql.max())) + 1
    zs, wq, wp = np.zeros(k), np.bincount(ql, minlength=k) / m, np.bincount(pl, minlength=k) / n
    for c in range(len(np.unique(pl))):
        pc, qc, tc = p[pl == c], q[ql == c], t[tl == c]
        if len(qc) == 0:
            continue
        lp = np.sqrt(((pc[:, None] - tc[None]) ** 2).sum(-1).min(1))
        lq = np.sqrt(((qc[:, None] - tc[None]) ** 2).sum(-1).min(1))
        u = mannwhitneyu(lq, lp, alternative="less").statistic
        nn, mm = len(pc), len(qc)
        zs[c] = (u - (nn * mm / 2 - 0.5)) / np.sqrt(nn * mm * (nn + mm + 1) / 12)
    keep = wq > tau
    return float(wp[keep] @ zs[keep] / wp[keep].sum())


def _blobs(g: torch.Generator, n: int, d: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.tensor(
        [[0.0] * d, [20.0] + [0.0] * (d - 1), [0.0, 20.0] + [0.0] * (d - 2)], dtype=torch.float64
    )
    lab = torch.arange(n) % 3
    return centers[lab] + torch.randn(n, d, generator=g, dtype=torch.float64), lab


def test_c_t_statistic_float64_oracle() -> None:
    g = torch.Generator().manual_seed(2)
    t, tl = _blobs(g, 300)
    p, pl = _blobs(g, 120)
    q, ql = _blobs(g, 90)
    q[:20] = t[:20] + 1e-3  # a few copies
    got = c_t_statistic(t, p, q, tl, pl, ql, block_size=16)
    want = _ct_oracle(t.numpy(), p.numpy(), q.numpy(), tl.numpy(), pl.numpy(), ql.numpy(), 20 / 90)
    assert got == pytest.approx(want, rel=1e-12)


def test_ct_score_full_pipeline_matches_sklearn_reference() -> None:
    """PCA + k-means as dgm-eval (scikit-learn) on well-separated cells: the same partition (up to
    the labels' order, which C_T ignores), hence the same statistic."""
    sklearn = pytest.importorskip("sklearn")
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    assert sklearn
    g = torch.Generator().manual_seed(6)
    d = 70  # > 64: the PCA step runs
    t, _ = _blobs(g, 300, d)
    p, _ = _blobs(g, 150, d)
    q, _ = _blobs(g, 150, d)
    q[:60] = t[:60] + 1e-2 * torch.randn(60, d, generator=g, dtype=torch.float64)
    pca = PCA(n_components=64).fit(t.numpy())
    tt, pp, qq = (pca.transform(a.numpy()) for a in (t, p, q))
    km = KMeans(n_clusters=3, n_init=10, random_state=0).fit(tt)
    want = _ct_oracle(tt, pp, qq, km.predict(tt), km.predict(pp), km.predict(qq), 20 / 150)
    assert ct_score(t, p, q) == pytest.approx(want, rel=1e-9)
    assert want < -2  # the copies are detected


def test_ct_errors() -> None:
    g = torch.Generator().manual_seed(0)
    t, tl = _blobs(g, 30)
    with pytest.raises(ValueError, match="cell 2 lacks"):
        c_t_statistic(t, t[:6], t[:6], tl % 2, torch.tensor([0, 1, 0, 1, 0, 2]), tl[:6] * 0)
    with pytest.raises(ValueError, match="tau"):
        c_t_statistic(t, t, t[:3], tl, tl, tl[:3], tau=0.9)


# ------------------------------------------------------------------------------ FLD / FLS oracles
def _ll(d, ls, dim, two_pi=True):
    out = -0.5 * d / torch.exp(ls) - dim / 2 * ls
    return out - dim / 2 * math.log(2 * math.pi) if two_pi else out


def _fld_fit_oracle(mus, x, g, epochs, lr, bs):
    """marcojira/fld MoG.fit with a dense float64 distance matrix."""
    n, dim = x.shape
    mean_x = x.mean(0)
    x = x[torch.randperm(n, generator=g)]
    dists = _sq(x, mus)
    ls = ((dists.min(0).values + 1e-3) / dim).log().requires_grad_(True)
    lo = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([ls, lo], lr=lr)
    for _ in range(epochs):
        for i, batch in enumerate(x.split(bs)):
            opt.zero_grad()
            pll = _ll(dists[i * bs : (i + 1) * bs], ls, dim) - math.log(len(mus))
            oll = _ll(0.81 * _sq(batch, mean_x[None]), lo, dim)
            loss = -torch.logsumexp(torch.cat([pll, oll], 1), 1).mean() / dim
            loss.backward()
            opt.step()
            with torch.no_grad():
                ls.data = ls.clamp(-40, 20).data
    return ls.detach()


def _nll_oracle(x, mus, ls, two_pi=True):
    return -torch.logsumexp(_ll(_sq(x, mus), ls, x.shape[1], two_pi) - math.log(len(mus)), 1)


def _fld_oracle(t, p, q, seed, epochs, lr, bs, gen_size):
    g = torch.Generator().manual_seed(seed)
    if len(q) > gen_size:
        q = q[torch.randperm(len(q), generator=g)[:gen_size]]
    mean, std = p.mean(0), p.std(0)
    t, p, q = ((a - mean) / std for a in (t, p, q))
    ls = _fld_fit_oracle(q, t, g, epochs, lr, bs)
    nll = _nll_oracle(p, q, ls).mean() / t.shape[1]
    tb = t[torch.randperm(len(t), generator=g)]
    split = min(len(q), len(t) // 2)
    lb = _fld_fit_oracle(tb[:split], tb[split:], g, epochs, lr, bs)
    base = _nll_oracle(p, tb[:split], lb).mean() / t.shape[1]
    return float(100 * (nll - base))


@pytest.mark.parametrize("chunk", [1 << 22, 37])  # one chunk per batch, or many (streamed gradient)
def test_fld_float64_oracle(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(mfld, "CHUNK_ELEMS", chunk)
    g = torch.Generator().manual_seed(8)
    t = torch.randn(90, 4, generator=g, dtype=torch.float64)
    p = torch.randn(50, 4, generator=g, dtype=torch.float64)
    q = torch.cat([t[:30], torch.randn(35, 4, generator=g, dtype=torch.float64)])
    kw = {"epochs": 4, "lr": 0.5, "batch_size": 40, "gen_size": 60}
    got = fld(t, p, q, seed=3, cache_mb=0.0, **kw)
    want = _fld_oracle(t, p, q, 3, kw["epochs"], kw["lr"], kw["batch_size"], kw["gen_size"])
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_fld_cache_gives_the_same_value() -> None:
    g = torch.Generator().manual_seed(9)
    t, p, q = (torch.randn(n, 3, generator=g, dtype=torch.float64) for n in (60, 30, 30))
    assert fld(t, p, q, epochs=3, cache_mb=0.0) == pytest.approx(
        fld(t, p, q, epochs=3, cache_mb=100.0), rel=1e-12
    )


def test_fld_modes_and_memorization() -> None:
    g = torch.Generator().manual_seed(10)
    t, p = torch.randn(300, 3, generator=g), torch.randn(150, 3, generator=g)
    fresh = torch.randn(150, 3, generator=g)
    copies = t[:150].clone()
    assert fld(t, p, copies, epochs=10) > fld(t, p, fresh, epochs=10)
    assert fld(t, p, copies, epochs=10, eval_set="gap") < fld(t, p, fresh, epochs=10, eval_set="gap")
    with pytest.raises(ValueError, match="eval_set"):
        fld(t, p, fresh, eval_set="nope")


def _fls_oracle(t, p, q, seed, steps, lr):
    g = torch.Generator().manual_seed(seed)
    n = min(len(t) // 2, len(p), len(q))
    p = p[torch.randperm(len(p), generator=g)[:n]]
    q = q[torch.randperm(len(q), generator=g)[:n]]
    tt = t[torch.randperm(len(t), generator=g)[: 2 * n]]
    tr, base = tt[:n], tt[n:]
    allf = torch.cat([tr, base, p, q])
    mean, std = allf.mean(0), allf.std(0)
    tr, base, p, q = ((a - mean) / std for a in (tr, base, p, q))

    def opt(mus):
        ls = torch.zeros(len(mus), dtype=torch.float64, requires_grad=True)
        o = torch.optim.Adam([ls], lr=lr)
        sch = torch.optim.lr_scheduler.MultiStepLR(o, milestones=[steps // 2], gamma=0.1)
        d = _sq(tr, mus)
        for _ in range(steps):
            loss = -torch.logsumexp(_ll(d, ls, tr.shape[1], False) + math.log(1 / d.shape[1]), 1).mean()
            o.zero_grad()
            loss.backward()
            o.step()
            sch.step()
            with torch.no_grad():
                ls.data = ls.clamp(-100, 20).data
        return ls.detach()

    gen_nll = _nll_oracle(p, q, opt(q), two_pi=False).mean()
    base_nll = _nll_oracle(p, base, opt(base), two_pi=False).mean()
    return float(100 * math.e ** (-2 * (gen_nll - base_nll) / t.shape[1]))


@pytest.mark.parametrize("chunk", [1 << 22, 29])
def test_fls_float64_oracle(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(mfld, "CHUNK_ELEMS", chunk)
    g = torch.Generator().manual_seed(11)
    t = torch.randn(100, 4, generator=g, dtype=torch.float64)
    p = torch.randn(45, 4, generator=g, dtype=torch.float64)
    q = torch.randn(40, 4, generator=g, dtype=torch.float64)
    got = fls(t, p, q, steps=12, seed=5, cache_mb=0.0)
    assert got == pytest.approx(_fls_oracle(t, p, q, 5, 12, 0.5), rel=1e-9)


# ------------------------------------------------------------------------------ classes
@pytest.mark.parametrize(
    "make,fn",
    [
        (lambda: AuthPct(), lambda x, t, y: authpct(x, y)),
        (lambda: MIFID(), lambda x, t, y: mifid(x, y)),
        (lambda t: CTScore(test=t), lambda x, t, y: ct_score(x, t, y)),
        (lambda t: FLD(test=t, epochs=2), lambda x, t, y: fld(x, t, y, epochs=2)),
        (lambda t: FLS(test=t, steps=3), lambda x, t, y: fls(x, t, y, steps=3)),
    ],
)
def test_classes_merge_state_and_value(make, fn) -> None:
    import inspect

    g = torch.Generator().manual_seed(12)
    x, _ = _blobs(g, 90)
    t, _ = _blobs(g, 60)
    y, _ = _blobs(g, 90)  # 30 per cell > tau = 20 / 90
    needs_test = len(inspect.signature(make).parameters) == 1
    a, b = (make(t[:30]) if needs_test else make()), (make(t[30:]) if needs_test else make())
    a.update(x[:50], real=True)
    b.update(x[50:], real=True)
    a.update(y[:20], real=False)
    b.update(y[20:], real=False)
    a.merge(b)
    assert a.compute() == pytest.approx(fn(x, t, y), rel=1e-12)
    c = make(None) if needs_test else make()
    c.load_state_dict(a.state_dict())
    assert c.compute() == pytest.approx(fn(x, t, y), rel=1e-12)


@pytest.mark.parametrize("cls", [CTScore, FLD, FLS])
def test_missing_test_set_is_a_clear_error(cls) -> None:
    m = cls()
    m.update(torch.randn(20, 2), real=True)
    m.update(torch.randn(20, 2), real=False)
    with pytest.raises(ValueError, match="held-out real test set"):
        m.compute()


def test_fits_run_under_no_grad_and_inference_mode() -> None:
    g = torch.Generator().manual_seed(13)
    t, p, q = (torch.randn(n, 3, generator=g) for n in (80, 40, 40))
    want = (fld(t, p, q, epochs=2), fls(t, p, q, steps=3))
    with torch.inference_mode():
        assert (fld(t, p, q, epochs=2), fls(t, p, q, steps=3)) == want
    with torch.no_grad():
        assert (fld(t, p, q, epochs=2), fls(t, p, q, steps=3)) == want
