"""Inception Score: closed forms, a float64 numpy oracle, splits, merging, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fastgan.metrics.inception import InceptionScore, inception_score, split_index, torch_fidelity_order


def _pair(out: dict[str, float]) -> tuple[float, float]:
    assert set(out) == {"is_mean", "is_std"} and all(type(v) is float for v in out.values())
    return out["is_mean"], out["is_std"]


def numpy_is(probs: np.ndarray, splits: int) -> tuple[float, float]:
    """Direct float64 statement of Salimans et al.: contiguous chunks, np.std (ddof=0)."""
    n = probs.shape[0]
    scores = []
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def softmax64(logits: torch.Tensor) -> np.ndarray:
    x = logits.double().numpy()
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def test_uniform_predictions_give_one() -> None:
    mean, std = _pair(inception_score(torch.full((37, 11), 3.0), splits=5))
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 7, 300])
def test_one_hot_evenly_covered_gives_num_classes(num_classes: int) -> None:
    # each split holds every class equally often -> p(y) uniform, p(y|x) one-hot -> IS = C
    reps, splits = 3, 2
    labels = torch.arange(num_classes).repeat(reps * splits)
    probs = torch.nn.functional.one_hot(labels, num_classes).double()
    mean, std = _pair(inception_score(probs, splits=splits, input="probs"))
    assert mean == pytest.approx(num_classes, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9 * num_classes)
    # the same from extreme logits: log-softmax keeps it finite (no 0 * log 0 NaN)
    mean_l, _ = _pair(inception_score(probs * 1e4, splits=splits))
    assert mean_l == pytest.approx(num_classes, rel=1e-9)


@pytest.mark.parametrize("n,splits", [(100, 10), (103, 10), (10, 3), (57, 1), (20, 20)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_numpy_oracle(n: int, splits: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(n * 31 + splits)
    logits = (torch.randn(n, 13, generator=g) * 3).to(dtype)
    mean, std = _pair(inception_score(logits, splits=splits))
    ref_mean, ref_std = numpy_is(softmax64(logits), splits)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8, abs=1e-12)
    # probabilities in, same answer
    probs = torch.from_numpy(softmax64(logits))
    mean_p, std_p = _pair(inception_score(probs, splits=splits, input="probs"))
    assert mean_p == pytest.approx(ref_mean, rel=1e-10)
    assert std_p == pytest.approx(ref_std, rel=1e-8, abs=1e-12)


def test_split_index_matches_chunk_boundaries() -> None:
    for n in (1, 5, 10, 17, 100, 101):
        for s in range(1, n + 1):
            bounds = torch.tensor([i * n // s for i in range(s + 1)])
            j = torch.arange(n)
            expected = torch.searchsorted(bounds, j, right=True) - 1
            assert torch.equal(split_index(j, n, s), expected), (n, s)


def test_remainder_sizes() -> None:
    sid = split_index(torch.arange(10), 10, 3)
    assert torch.bincount(sid).tolist() == [3, 3, 4]


def test_split_order_is_deterministic_and_matters() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(60, 5, generator=g) * 2
    a = inception_score(logits, splits=6)
    assert a == inception_score(logits.clone(), splits=6)
    perm = torch.randperm(60, generator=g)
    b = inception_score(logits, splits=6, order=perm)
    assert b == inception_score(logits[perm], splits=6)
    assert b != a  # different chunks -> different split scores
    assert inception_score(logits, splits=1) == pytest.approx(inception_score(logits, splits=1, order=perm))


def test_torch_fidelity_order_is_numpy_permutation() -> None:
    order = torch_fidelity_order(50)
    assert torch.equal(order, torch.from_numpy(np.random.RandomState(2020).permutation(50)))


def test_state_streaming_equals_functional() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(103, 9, generator=g) * 2
    expected = inception_score(logits, splits=10)
    for bs in (1, 7, 50, 103):
        m = InceptionScore(splits=10, num_samples=103)
        for i in range(0, 103, bs):
            m.update(logits[i : i + bs])
        assert m.compute() == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_merge_is_associative_and_order_free() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(90, 6, generator=g)
    expected = inception_score(logits, splits=9)
    idx = torch.arange(90)
    parts = [(logits[i::3], idx[i::3]) for i in range(3)]  # interleaved shards with global indices
    states = []
    for x, ix in parts:
        s = InceptionScore(splits=9, num_samples=90)
        s.update(x, index=ix)
        states.append(s)

    def fresh(k: int) -> InceptionScore:
        s = InceptionScore(splits=9, num_samples=90)
        s.update(parts[k][0], index=parts[k][1])
        return s

    left = fresh(0).merge(fresh(1)).merge(fresh(2))
    right = fresh(2).merge(fresh(1).merge(fresh(0)))
    assert left.compute() == pytest.approx(expected, rel=1e-12)
    assert right.compute() == pytest.approx(expected, rel=1e-12)


def test_streaming_round_robin_without_num_samples() -> None:
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(40, 5, generator=g)
    m = InceptionScore(splits=4)
    m.update(logits[:13])
    m.update(logits[13:])
    order = torch.cat([torch.arange(s, 40, 4) for s in range(4)])  # split s = rows j with j % 4 == s
    assert m.compute() == pytest.approx(inception_score(logits[order], splits=4), rel=1e-12)


def test_std_is_population_std() -> None:
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(40, 5, generator=g) * 3
    m = InceptionScore(splits=4, num_samples=40)
    m.update(logits)
    scores = m.split_scores()
    _, std = _pair(m.compute())
    assert std == pytest.approx(float(np.std(scores.numpy())), rel=1e-12)
    assert std != pytest.approx(float(np.std(scores.numpy(), ddof=1)), rel=1e-6)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="2-D"):
        inception_score(torch.zeros(10))
    with pytest.raises(ValueError, match="at least splits"):
        inception_score(torch.zeros(5, 3), splits=10)
    with pytest.raises(ValueError, match="non-finite"):
        inception_score(torch.tensor([[0.0, float("nan")], [0.0, 1.0]]), splits=1)
    with pytest.raises(ValueError, match="negative"):
        inception_score(torch.tensor([[1.5, -0.5], [0.5, 0.5]]), splits=1, input="probs")
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.tensor([[0.2, 0.2], [0.5, 0.5]]), splits=1, input="probs")
    with pytest.raises(ValueError, match="input"):
        inception_score(torch.zeros(4, 3), splits=1, input="softmax")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        inception_score(torch.zeros(4, 3, dtype=torch.int64), splits=1)
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.zeros(4, 3), splits=0)
    with pytest.raises(ValueError, match="classes"):
        inception_score(torch.zeros(4, 1), splits=1)
    with pytest.raises(ValueError, match="permutation"):
        inception_score(torch.zeros(4, 3), splits=1, order=torch.tensor([0, 0, 1, 2]))
    m = InceptionScore(splits=2, num_samples=4)
    with pytest.raises(RuntimeError, match="no samples"):
        m.compute()
    m.update(torch.zeros(3, 3))
    with pytest.raises(RuntimeError, match="num_samples=4"):
        m.compute()
    with pytest.raises(ValueError, match="classes"):
        m.update(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="split configuration"):
        m.merge(InceptionScore(splits=3, num_samples=4))


def test_is_never_below_one() -> None:
    g = torch.Generator().manual_seed(6)
    for _ in range(5):
        mean, _ = _pair(inception_score(torch.randn(30, 4, generator=g) * 1e-6, splits=3))
        assert mean >= 1.0 and math.isfinite(mean)


# ------------------------------------------------------- fused float64 logits pass
def reference_split_sums(
    logits: torch.Tensor, sid: torch.Tensor, splits: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sufficient statistics by their definition: float64 log-softmax, p = exp(log p), xlogy."""
    logp = torch.log_softmax(logits.double(), dim=1)
    p = logp.exp()
    count = torch.bincount(sid, minlength=splits)
    sum_p = torch.zeros(splits, logits.shape[1], dtype=torch.float64).index_add_(0, sid, p)
    sum_plogp = torch.zeros(splits, dtype=torch.float64).index_add_(0, sid, torch.special.xlogy(p, p).sum(1))
    return count, sum_p, sum_plogp


@pytest.mark.parametrize("n,c", [(1, 2), (130, 1008), (2000, 1008), (5, (1 << 17) + 3), (333, 7)])
def test_split_sums_match_definition(n: int, c: int) -> None:
    # (5, 2**17 + 3): more classes than one block holds elements (one row per block)
    from fastgan.metrics.inception import split_sums

    g = torch.Generator().manual_seed(n + c)
    logits = torch.randn(n, c, generator=g) * 5
    splits = min(n, 4)
    sid = split_index(torch.arange(n), n, splits)
    count, sum_p, sum_plogp = split_sums(logits, sid, splits)
    want = reference_split_sums(logits, sid, splits)
    assert torch.equal(count, want[0])
    torch.testing.assert_close(sum_p, want[1], rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(sum_plogp, want[2], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 4.0, 30.0])
def test_matches_float64_definition_to_1e12(scale: float) -> None:
    # Inception-sized logits (C = 1008): equal to the float64 definition within 1e-12 relative.
    # (Larger scales push probabilities into subnormals, where the oracle's own log(mean p)
    # breaks down; test_huge_finite_logits covers the extremes.)
    g = torch.Generator().manual_seed(int(scale))
    logits = torch.randn(3000, 1008, generator=g) * scale
    for splits in (1, 10, 7):
        mean, std = _pair(inception_score(logits, splits=splits))
        ref_mean, ref_std = numpy_is(softmax64(logits), splits)
        assert mean == pytest.approx(ref_mean, rel=1e-12)
        # std is a difference of nearly equal split scores: compare on the scale of the mean
        assert std == pytest.approx(ref_std, abs=1e-12 * ref_mean)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_input_dtypes_use_exact_float64(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(11)
    logits = (torch.randn(200, 50, generator=g) * 3).to(dtype)
    mean, std = _pair(inception_score(logits, splits=4))
    ref_mean, ref_std = numpy_is(softmax64(logits), 4)  # the rounded logits, read exactly
    assert mean == pytest.approx(ref_mean, rel=1e-12)
    assert std == pytest.approx(ref_std, abs=1e-12 * ref_mean)


def test_huge_finite_logits() -> None:
    # finite float32 extremes: x - max stays finite in float64, exp underflows to an exact 0
    logits = torch.tensor([[3e38, -3e38, 0.0], [-3e38, 3e38, 3e38], [0.0, 0.0, -3e38]], dtype=torch.float32)
    mean, _ = _pair(inception_score(logits, splits=1))
    ref_mean, _ = numpy_is(softmax64(logits), 1)
    assert mean == pytest.approx(ref_mean, rel=1e-12)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_logits_are_counted(bad: float) -> None:
    logits = torch.zeros(300, 1008)
    logits[7, 3] = bad
    logits[250, 1000] = bad  # a later block
    with pytest.raises(ValueError, match="logits_or_probs: contains 2 non-finite"):
        inception_score(logits, splits=2)
    m = InceptionScore(splits=2)
    with pytest.raises(ValueError, match="logits: contains 2 non-finite"):
        m.update(logits)
    assert m.count is None or int(m.count.sum()) == 0  # nothing was added


def test_class_with_index_matches_functional_on_large_logits() -> None:
    g = torch.Generator().manual_seed(12)
    logits = torch.randn(1000, 1008, generator=g) * 6
    expected = inception_score(logits, splits=10)
    perm = torch.randperm(1000, generator=g)
    m = InceptionScore(splits=10, num_samples=1000)
    for i in range(0, 1000, 333):  # shuffled arrival, global indices given
        m.update(logits[perm[i : i + 333]], index=perm[i : i + 333])
    assert m.compute() == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- presets
def test_preset_torch_fidelity_shuffles_like_it() -> None:
    """torch-fidelity: rows permuted by RandomState(2020).permutation(N), then 10 contiguous chunks
    (oracle: the numpy statement on the permuted rows)."""
    z = torch.randn(203, 15, generator=torch.Generator().manual_seed(3)) * 3
    perm = np.random.RandomState(2020).permutation(203)
    want = numpy_is(softmax64(z)[perm], 10)
    got = inception_score(z, preset="torch-fidelity")
    np.testing.assert_allclose(_pair(got), want, rtol=1e-12)
    # explicit arguments override: order=arange keeps the input order, splits= the count
    np.testing.assert_allclose(
        _pair(inception_score(z, order=torch.arange(203), preset="torch-fidelity")),
        numpy_is(softmax64(z), 10),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        _pair(inception_score(z, splits=4, preset="torch-fidelity")),
        numpy_is(softmax64(z)[perm], 4),
        rtol=1e-12,
    )
    # presets without a shuffle: the input order
    for preset in (None, "pytorch-fid", "clean-fid"):
        np.testing.assert_allclose(
            _pair(inception_score(z, preset=preset)), numpy_is(softmax64(z), 10), rtol=1e-12
        )


def test_preset_class_streams_the_shuffled_splits() -> None:
    z = torch.randn(157, 12, generator=torch.Generator().manual_seed(4)) * 2
    want = inception_score(z, preset="torch-fidelity")
    m = InceptionScore(num_samples=157, preset="torch-fidelity")
    for a in range(0, 157, 40):
        m.update(z[a : a + 40])
    np.testing.assert_allclose(_pair(m.compute()), _pair(want), rtol=1e-12)
    # out-of-order arrival with explicit indices, in two merged states
    idx = torch.randperm(157, generator=torch.Generator().manual_seed(0))
    a, b = (
        InceptionScore(num_samples=157, preset="torch-fidelity"),
        InceptionScore(num_samples=157, preset="torch-fidelity"),
    )
    a.update(z[idx[:70]], index=idx[:70])
    b.update(z[idx[70:]], index=idx[70:])
    np.testing.assert_allclose(_pair(a.merge(b).compute()), _pair(want), rtol=1e-12)
    # state round trip keeps the shuffle; a state without it does not load
    c = InceptionScore(num_samples=157, preset="torch-fidelity")
    c.load_state_dict(a.state_dict())
    assert c.compute() == a.compute()
    plain = InceptionScore(num_samples=157)
    with pytest.raises(ValueError, match="shuffle"):
        plain.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="shuffle"):
        plain.merge(a)
    with pytest.raises(ValueError, match="num_samples"):
        InceptionScore(preset="torch-fidelity")
    with pytest.raises(ValueError, match="num_samples"):
        InceptionScore(num_samples=157, preset="torch-fidelity").update(z[:2], index=torch.tensor([0, 157]))
