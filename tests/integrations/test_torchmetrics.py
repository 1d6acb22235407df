"""fastgan.integrations.torchmetrics against torchmetrics' own classes, fastgan and the prdc package."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import nn

tm = pytest.importorskip("torchmetrics")

from torchmetrics.image.fid import FrechetInceptionDistance as TMFrechetInceptionDistance  # noqa: E402
from torchmetrics.image.inception import InceptionScore as TMInceptionScore  # noqa: E402
from torchmetrics.image.kid import KernelInceptionDistance as TMKernelInceptionDistance  # noqa: E402

import fastgan.metrics as M  # noqa: E402
from fastgan.integrations.torchmetrics import (  # noqa: E402
    FrechetInceptionDistance,
    InceptionScore,
    KernelInceptionDistance,
    PrecisionRecallDensityCoverage,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Metric `.*` will save all extracted features:UserWarning"),
    pytest.mark.filterwarnings("ignore:The ``compute`` method of metric .* was called before:UserWarning"),
]


class Identity(nn.Module):
    """Feature "extractor" that returns its input: torchmetrics then sees exactly our features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, d, generator=g, dtype=torch.float64)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return (base @ mix) * scale + shift


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _kid_pair(result: dict[str, float]) -> tuple[float, float]:
    return float(result["kid_mean"]), float(result["kid_std"])


def _is_pair(result: dict[str, float]) -> tuple[float, float]:
    return float(result["is_mean"]), float(result["is_std"])


def _fake_distributed(metric: tm.Metric, others: list[tm.Metric]) -> None:
    """Make ``compute`` run torchmetrics' distributed sync, with ``others`` as the other ranks.

    The gather returns this rank's tensor followed by the same state of each other metric; each
    side's list state must hold one tensor (torchmetrics then passes that very tensor to the gather).
    """

    def gather(t: torch.Tensor, group: Any = None) -> list[torch.Tensor]:
        for name in metric._defaults:
            value = getattr(metric, name)
            if (value[0] if isinstance(value, list) else value) is t:
                out = [t]
                for o in others:
                    v = getattr(o, name)
                    out.append(v[0] if isinstance(v, list) else v)
                return out
        raise AssertionError("gather got a tensor that is not a state")

    metric.dist_sync_fn = gather
    metric.distributed_available_fn = lambda: True


# ----------------------------------------------------------------------------- import behaviour
def test_import_fastgan_does_not_import_torchmetrics() -> None:
    code = (
        "import sys, fastgan, fastgan.metrics, fastgan.integrations\n"
        "fastgan.metrics.fid\n"
        "assert 'torchmetrics' not in sys.modules, 'torchmetrics was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_torchmetrics_gives_install_hint() -> None:
    code = (
        "import sys\n"
        "sys.modules['torchmetrics'] = None\n"
        "try:\n"
        "    import fastgan.integrations.torchmetrics\n"
        "except ModuleNotFoundError as e:\n"
        "    assert 'pip install \"fastgan[torchmetrics]\"' in str(e), str(e)\n"
        "    assert e.name == 'torchmetrics'\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- FID
def test_fid_matches_torchmetrics_and_fastgan() -> None:
    d = 24
    real, fake = _features(300, d, 0, shift=0.5), _features(250, d, 1, shift=0.7, scale=1.3)
    ours = FrechetInceptionDistance(feature=d)
    ref = TMFrechetInceptionDistance(feature=Identity(d))
    for chunk in real.split(64):
        ours.update(chunk, real=True)
        ref.update(chunk, real=True)
    for chunk in fake.split(40):
        ours.update(chunk, real=False)
        ref.update(chunk, real=False)
    got = ours.compute()
    want = ref.compute()
    assert got.dim() == 0 and got.dtype == torch.float64
    assert want.dtype == torch.float64  # float64 features: torchmetrics computes and returns float64
    assert _rel(float(got), float(want)) < 1e-6
    assert _rel(float(got), float(M.fid(real, fake))) < 1e-10


def test_fid_exact_with_large_offset() -> None:
    """Centred state: features offset by 1e4 (raw moments lose ~8 digits) still match fastgan's fid."""
    d = 16
    real, fake = _features(400, d, 2, shift=1e4), _features(300, d, 3, shift=1e4 + 0.3, scale=0.9)
    ours = FrechetInceptionDistance(feature=d)
    for chunk in real.split(37):
        ours.update(chunk, real=True)
    for chunk in fake.split(53):
        ours.update(chunk, real=False)
    assert _rel(float(ours.compute()), float(M.fid(real, fake))) < 1e-10


def test_fid_batches_equal_one_batch_and_reset() -> None:
    d = 12
    real, fake = _features(200, d, 4), _features(150, d, 5, shift=0.2)
    one = FrechetInceptionDistance(feature=d)
    one.update(real, real=True)
    one.update(fake, real=False)
    many = FrechetInceptionDistance(feature=d)
    for chunk in real.split(7):
        many.update(chunk, real=True)
    for chunk in fake.split(11):
        many.update(chunk, real=False)
    assert _rel(float(many.compute()), float(one.compute())) < 1e-12
    assert many.feature_stats(True).count == 200

    many.reset()
    assert many.feature_stats(True).count == 0 and many.feature_stats(False).count == 0
    with pytest.raises(RuntimeError, match="at least 2 real"):
        many.compute()

    keep = FrechetInceptionDistance(feature=d, reset_real_features=False)
    keep.update(real, real=True)
    keep.update(fake[:10], real=False)
    keep.reset()
    keep.update(fake, real=False)
    assert keep.feature_stats(True).count == 200
    assert _rel(float(keep.compute()), float(one.compute())) < 1e-12


def test_fid_merge_state_forward_and_sync() -> None:
    d = 10
    real, fake = _features(120, d, 6), _features(100, d, 7, shift=0.4)
    whole = FrechetInceptionDistance(feature=d)
    whole.update(real, real=True)
    whole.update(fake, real=False)
    want = float(whole.compute())

    a, b = FrechetInceptionDistance(feature=d), FrechetInceptionDistance(feature=d)
    a.update(real[:50], real=True)
    a.update(fake[:70], real=False)
    b.update(real[50:], real=True)
    b.update(fake[70:], real=False)
    a.merge_state(b)
    assert _rel(float(a.compute()), want) < 1e-12

    fwd = FrechetInceptionDistance(feature=d, reset_real_features=False)
    fwd.update(real, real=True)
    batch_vals = [fwd(chunk, real=False) for chunk in fake.split(25)]
    # each forward value pairs the batch with every real sample seen so far
    assert _rel(float(batch_vals[0]), float(M.fid(real, fake[:25]))) < 1e-10
    assert _rel(float(fwd.compute()), want) < 1e-12
    assert math.isnan(float(FrechetInceptionDistance(feature=d)(real, real=True)))  # no fakes yet

    r0, r1 = FrechetInceptionDistance(feature=d), FrechetInceptionDistance(feature=d)
    r0.update(real[:30], real=True)
    r0.update(fake[:60], real=False)
    r1.update(real[30:], real=True)
    r1.update(fake[60:], real=False)
    _fake_distributed(r0, [r1])
    assert _rel(float(r0.compute()), want) < 1e-12
    assert r0.feature_stats(True).count == 30


def test_fid_extractor_and_arguments() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 6))
    m = FrechetInceptionDistance(feature=None, extractor=net, input_img_size=(3, 4, 4))
    assert m.num_features == 6
    imgs = torch.randint(0, 256, (20, 3, 4, 4), dtype=torch.uint8)
    m.update(imgs, real=True)
    m.update(imgs.flip(0), real=False)
    feats = net(imgs.float() / 255).detach()
    assert _rel(float(m.compute()) + 1.0, float(M.fid(feats, feats.flip(0))) + 1.0) < 1e-10
    with pytest.raises(TypeError, match="imgs: normalize=False expects uint8"):
        m.update(imgs.float() / 255, real=True)
    m_norm = FrechetInceptionDistance(feature=net, normalize=True, input_img_size=(3, 4, 4))
    m_norm.update(imgs.float() / 255, real=True)
    with pytest.raises(ValueError, match="feature: FrechetInceptionDistance needs"):
        FrechetInceptionDistance(feature=None)
    with pytest.raises(TypeError, match="a name is not a network here"):
        FrechetInceptionDistance(feature="logits_unbiased")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feature, extractor"):
        FrechetInceptionDistance(feature=net, extractor=net)
    with pytest.raises(ValueError, match="expected feature dimension D = 8"):
        FrechetInceptionDistance(feature=8).update(torch.randn(4, 5), real=True)


# ----------------------------------------------------------------------------- KID
def test_kid_matches_torchmetrics_on_identical_subsets() -> None:
    d = 16
    real, fake = _features(150, d, 8), _features(130, d, 9, shift=0.3)
    ours = KernelInceptionDistance(feature=d, subsets=20, subset_size=50)
    ref = TMKernelInceptionDistance(feature=Identity(d), subsets=20, subset_size=50)
    for chunk in real.split(40):
        ours.update(chunk, real=True)
        ref.update(chunk, real=True)
    for chunk in fake.split(40):
        ours.update(chunk, real=False)
        ref.update(chunk, real=False)
    torch.manual_seed(1234)
    want = ref.compute()
    torch.manual_seed(1234)
    got = ours.compute()
    assert got[0].dtype == torch.float64 and got[0].dim() == 0
    assert _rel(float(got[0]), float(want[0])) < 1e-9
    assert _rel(float(got[1]), float(want[1])) < 1e-9


def test_kid_seeded_matches_fastgan_kid_and_definition() -> None:
    d = 8
    real, fake = _features(60, d, 10), _features(50, d, 11, shift=0.5)
    ours = KernelInceptionDistance(
        feature=None, subsets=4, subset_size=20, degree=2, gamma=0.3, coef=0.5, seed=7
    )
    ours.update(real, real=True)
    ours.update(fake, real=False)
    got = ours.compute()
    want = _kid_pair(
        M.kid(
            real,
            fake,
            subsets=4,
            subset_size=20,
            degree=2,
            gamma=0.3,
            coef0=0.5,
            generator=torch.Generator().manual_seed(7),
            dtype=torch.float64,
        )
    )
    assert _rel(float(got[0]), want[0]) < 1e-12 and _rel(float(got[1]), want[1]) < 1e-12
    assert torch.equal(ours.compute()[0], got[0])  # a seed makes compute reproducible

    # the definition, on the same subsets
    g = torch.Generator().manual_seed(7)
    vals = []
    for _ in range(4):
        x = real[torch.randperm(60, generator=g)[:20]]
        y = fake[torch.randperm(50, generator=g)[:20]]
        kxx, kyy, kxy = (((a @ b.T) * 0.3 + 0.5) ** 2 for a, b in ((x, x), (y, y), (x, y)))
        m = 20
        vals.append(
            (kxx.sum() - kxx.diag().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diag().sum()) / (m * (m - 1))
            - 2 * kxy.sum() / m**2
        )
    v = torch.stack(vals)
    assert _rel(float(got[0]), float(v.mean())) < 1e-12
    assert _rel(float(got[1]), float(v.std(correction=0))) < 1e-10


def test_kid_batches_reset_merge_forward_sync() -> None:
    d = 6
    real, fake = _features(80, d, 12), _features(70, d, 13, shift=0.2)
    kw = dict(feature=d, subsets=5, subset_size=30, seed=3)
    one = KernelInceptionDistance(**kw)
    one.update(real, real=True)
    one.update(fake, real=False)
    want = one.compute()

    many = KernelInceptionDistance(**kw)
    for chunk in real.split(9):
        many.update(chunk, real=True)
    for chunk in fake.split(13):
        many.update(chunk, real=False)
    assert torch.allclose(torch.stack(many.compute()), torch.stack(want), rtol=1e-12, atol=0)

    a, b = KernelInceptionDistance(**kw), KernelInceptionDistance(**kw)
    a.update(real[:40], real=True)
    a.update(fake[:35], real=False)
    b.update(real[40:], real=True)
    b.update(fake[35:], real=False)
    b.merge_state(a)  # torchmetrics puts the incoming rows first: a's rows, then b's, as in `one`
    assert torch.allclose(torch.stack(b.compute()), torch.stack(want), rtol=1e-12, atol=0)

    s0, s1 = KernelInceptionDistance(**kw), KernelInceptionDistance(**kw)
    s0.update(real[:40], real=True)
    s0.update(fake[:35], real=False)
    s1.update(real[40:], real=True)
    s1.update(fake[35:], real=False)
    _fake_distributed(s0, [s1])
    assert torch.allclose(torch.stack(s0.compute()), torch.stack(want), rtol=1e-12, atol=0)

    keep = KernelInceptionDistance(**kw, reset_real_features=False)
    keep.update(real, real=True)
    vals = [keep(chunk, real=False) for chunk in fake.split(35)]
    assert all(v[0].dim() == 0 for v in vals)
    assert torch.allclose(torch.stack(keep.compute()), torch.stack(want), rtol=1e-12, atol=0)
    keep.reset()
    assert sum(t.shape[0] for t in keep.real_features) == 80 and len(keep.fake_features) == 0

    many.reset()
    with pytest.raises(RuntimeError, match="both real and fake"):
        many.compute()
    small = KernelInceptionDistance(feature=d, subsets=2, subset_size=100)
    small.update(real, real=True)
    small.update(fake, real=False)
    with pytest.raises(ValueError, match="subset_size"):
        small.compute()


# ----------------------------------------------------------------------------- IS
def test_inception_score_matches_torchmetrics_under_its_conventions() -> None:
    n, c, s = 120, 11, 6  # s divides n: torch.chunk and fastgan's floor splits coincide
    g = torch.Generator().manual_seed(14)
    logits = torch.randn(n, c, generator=g, dtype=torch.float64) * 3
    ref = TMInceptionScore(feature=Identity(c), splits=s)
    for chunk in logits.split(32):
        ref.update(chunk)
    torch.manual_seed(99)
    perm = torch.randperm(n)
    torch.manual_seed(99)
    want = ref.compute()

    ours = InceptionScore(splits=s)
    for chunk in logits[perm].split(25):
        ours.update(chunk)
    got = ours.compute()
    assert got[0].dtype == torch.float64
    assert _rel(float(got[0]), float(want[0])) < 1e-10
    # torchmetrics' std divides by S - 1, fastgan's by S
    assert _rel(float(got[1]) * math.sqrt(s / (s - 1)), float(want[1])) < 1e-8


def test_inception_score_matches_fastgan_batches_reset_merge_forward() -> None:
    g = torch.Generator().manual_seed(15)
    logits = torch.randn(103, 7, generator=g) * 2
    want = _is_pair(M.inception_score(logits, splits=5))
    many = InceptionScore(feature=7, splits=5)
    for chunk in logits.split(10):
        many.update(chunk)
    got = many.compute()
    assert _rel(float(got[0]), want[0]) < 1e-12 and _rel(float(got[1]), want[1]) < 1e-10

    a, b = InceptionScore(splits=5), InceptionScore(splits=5)
    a.update(logits[:40])
    b.update(logits[40:])
    b.merge_state(a)  # incoming rows first: the splits see the rows in the original order
    assert _rel(float(b.compute()[0]), want[0]) < 1e-12

    s0, s1 = InceptionScore(splits=5), InceptionScore(splits=5)
    s0.update(logits[:50])
    s1.update(logits[50:])
    _fake_distributed(s0, [s1])
    assert _rel(float(s0.compute()[0]), want[0]) < 1e-12

    fwd = InceptionScore(splits=5)
    batch = fwd(logits[:3])  # fewer rows than splits: the batch value uses 3 splits
    assert _rel(float(batch[0]), _is_pair(M.inception_score(logits[:3], splits=3))[0]) < 1e-12
    fwd(logits[3:])
    assert _rel(float(fwd.compute()[0]), want[0]) < 1e-12
    fwd.reset()
    with pytest.raises(RuntimeError, match="no logits"):
        fwd.compute()
    with pytest.raises(ValueError, match="expected feature dimension D = 7"):
        many.update(torch.randn(3, 8))


# ----------------------------------------------------------------------------- PRDC
def test_prdc_matches_fastgan_and_prdc_package() -> None:
    prdc_pkg = pytest.importorskip("prdc")
    real, fake = _features(90, 5, 16), _features(80, 5, 17, shift=0.3)
    for strict in (False, True):
        ours = PrecisionRecallDensityCoverage(k=4, strict=strict)
        for chunk in real.split(30):
            ours.update(chunk, real=True)
        for chunk in fake.split(30):
            ours.update(chunk, real=False)
        got = ours.compute()
        want = M.prdc(real, fake, 4, strict=strict)
        assert set(got) == {"precision", "recall", "density", "coverage"}
        for key, value in want.items():
            assert got[key].dtype == torch.float64
            assert float(got[key]) == pytest.approx(value, rel=1e-12, abs=0)
        if strict:  # the prdc package decides membership with "<"
            pkg = prdc_pkg.compute_prdc(real.numpy(), fake.numpy(), nearest_k=4)
            for key in got:
                assert float(got[key]) == pytest.approx(float(pkg[key]), rel=1e-12, abs=0)


def test_prdc_ties_follow_strict() -> None:
    x = torch.arange(8.0, dtype=torch.float64).reshape(8, 1)
    loose, strict = PrecisionRecallDensityCoverage(k=2), PrecisionRecallDensityCoverage(k=2, strict=True)
    for m in (loose, strict):
        m.update(x, real=True)
        m.update(x, real=False)
    assert float(loose.compute()["density"]) == 1.5
    assert float(strict.compute()["density"]) == pytest.approx(M.prdc(x, x, 2, strict=True)["density"])


def test_prdc_merge_forward_sync_reset() -> None:
    real, fake = _features(60, 4, 18), _features(50, 4, 19, shift=0.5)
    want = M.prdc(real, fake, 3)

    a, b = PrecisionRecallDensityCoverage(k=3), PrecisionRecallDensityCoverage(k=3)
    a.update(real[:20], real=True)
    a.update(fake[:25], real=False)
    b.update(real[20:], real=True)
    b.update(fake[25:], real=False)
    a.merge_state(b)
    assert {k: float(v) for k, v in a.compute().items()} == pytest.approx(want, rel=1e-12)

    s0, s1 = PrecisionRecallDensityCoverage(k=3), PrecisionRecallDensityCoverage(k=3)
    s0.update(real[:20], real=True)
    s0.update(fake[:25], real=False)
    s1.update(real[20:], real=True)
    s1.update(fake[25:], real=False)
    _fake_distributed(s0, [s1])
    assert {k: float(v) for k, v in s0.compute().items()} == pytest.approx(want, rel=1e-12)

    fwd = PrecisionRecallDensityCoverage(k=3, reset_real_features=False)
    fwd.update(real, real=True)
    first = fwd(fake[:20], real=False)
    assert {k: float(v) for k, v in first.items()} == pytest.approx(M.prdc(real, fake[:20], 3), rel=1e-12)
    assert math.isnan(float(fwd(fake[20:22], real=False)["precision"]))  # k >= batch size
    fwd(fake[22:], real=False)
    assert {k: float(v) for k, v in fwd.compute().items()} == pytest.approx(want, rel=1e-12)
    fwd.reset()
    assert len(fwd.real_features) == 1 and len(fwd.fake_features) == 0
