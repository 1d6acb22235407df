"""Sampler (fastgan/evaluation/sampler.py): per-sample determinism, truncation, uint8 output, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastgan.evaluation.sampler import LATENT_BLOCK, Sampler, block_seed, to_uint8_images
from fastgan.truncation import psi_truncation, truncated_normal


class ToyG(nn.Module):
    """z [B, 8] -> images [B, 3, 4, 4] in (-1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 48)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z)).view(-1, 3, 4, 4)


class ToyStyleG(nn.Module):
    """StyleGAN-like: mapping z -> w [B, 6], synthesis w -> images."""

    def __init__(self) -> None:
        super().__init__()
        self.mapping = nn.Linear(8, 6)
        self.syn = nn.Linear(6, 48)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.syn(w)).view(-1, 3, 4, 4)


def test_samples_do_not_depend_on_batch_size_or_range() -> None:
    torch.manual_seed(0)
    G = ToyG()
    a = torch.cat(list(Sampler(G, 8, n=11, seed=3, batch_size=4)))
    b = torch.cat(list(Sampler(G, 8, n=11, seed=3, batch_size=11)))
    s = Sampler(G, 8, n=11, seed=3, batch_size=2)
    assert a.dtype == torch.uint8 and a.shape == (11, 3, 4, 4)
    # G is a per-row map here, so the images are equal exactly when the latents are
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(s.generate(5, 9), a[5:9], rtol=0, atol=0)
    assert len(s) == 6 and len(Sampler(G, 8, n=11, batch_size=11)) == 1
    # sample i's latent is row i of its block's draw (the definition)
    z7 = torch.randn(LATENT_BLOCK, 8, generator=torch.Generator().manual_seed(block_seed(3, 0)))[7]
    torch.testing.assert_close(s.latents(7, 8)[0], z7, rtol=0, atol=0)
    assert not torch.equal(Sampler(G, 8, n=11, seed=4).latents(0, 11), s.latents(0, 11))


@pytest.mark.parametrize("truncation", [None, 0.5, 1.5])
def test_latents_across_blocks_depend_only_on_seed_and_index(truncation: float | None) -> None:
    """Ranges that cut the block grid anywhere, in any order, give the rows of the per-block draws."""
    n = 2 * LATENT_BLOCK + 37
    s = Sampler(ToyG(), 3, n=n, seed=5, threshold=truncation)
    g = [torch.Generator().manual_seed(block_seed(5, j)) for j in range(3)]
    if truncation is None:
        want = torch.cat([torch.randn(LATENT_BLOCK, 3, generator=gj) for gj in g])[:n]
    else:
        want = torch.cat([truncated_normal((LATENT_BLOCK, 3), truncation, generator=gj) for gj in g])[:n]
        assert float(want.abs().max()) <= truncation
    cuts = [(LATENT_BLOCK - 3, LATENT_BLOCK + 4), (0, 1), (n - 1, n), (5, n), (2 * LATENT_BLOCK, n), (7, 7)]

    def fresh(n: int, batch_size: int = 64) -> Sampler:
        return Sampler(ToyG(), 3, n=n, seed=5, threshold=truncation, batch_size=batch_size)

    for a, b in cuts:  # a fresh sampler per range, and the same one in another order
        torch.testing.assert_close(fresh(n).latents(a, b), want[a:b], rtol=0, atol=0)
    for a, b in reversed(cuts):
        torch.testing.assert_close(s.latents(a, b), want[a:b], rtol=0, atol=0)
    # batch sizes that do not divide the block, and a smaller n: the same samples
    for bs in (1000, 333):
        s_bs = fresh(n, bs)
        got = torch.cat([s_bs.latents(a, min(a + bs, n)) for a in range(0, n, bs)])
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(fresh(10).latents(0, 10), want[:10], rtol=0, atol=0)
    # the returned rows are a copy: writing to them leaves the next draw alone
    s.latents(0, 4).zero_()
    torch.testing.assert_close(s.latents(0, 4), want[:4], rtol=0, atol=0)


def test_z_truncation_uses_the_truncated_normal() -> None:
    s = Sampler(ToyG(), 8, n=20, threshold=0.5)
    z = s.latents(0, 20)
    assert float(z.abs().max()) <= 0.5
    g = torch.Generator().manual_seed(block_seed(0, 0))
    want = truncated_normal((LATENT_BLOCK, 8), 0.5, generator=g)[13]
    torch.testing.assert_close(z[13], want, rtol=0, atol=0)


def test_w_truncation_matches_the_definition() -> None:
    torch.manual_seed(1)
    G = ToyStyleG()
    w_avg = torch.randn(6)
    s = Sampler(G, 8, n=5, mode="w", psi=0.7, w_avg=w_avg)
    with torch.no_grad():
        w = G.mapping(s.latents(0, 5))
        want = to_uint8_images(G.synthesis(w_avg + 0.7 * (w - w_avg)))
    got = s.generate(0, 5)
    assert (got.int() - want.int()).abs().max() <= 1  # lerp vs the written-out formula: one rounding step
    with torch.no_grad():
        exact = to_uint8_images(G.synthesis(psi_truncation(w, w_avg, 0.7)))
    torch.testing.assert_close(got, exact, rtol=0, atol=0)
    # psi = 1 (or None) is no truncation and needs no w_avg
    plain = Sampler(G, 8, n=5, mode="w")
    with torch.no_grad():
        torch.testing.assert_close(plain.generate(0, 5), to_uint8_images(G.synthesis(w)), rtol=0, atol=0)
    # without w_avg it is estimated from the mapping (E[Az + b] = b for a linear mapping)
    est = Sampler(G, 8, n=5, mode="w", psi=0.5, w_avg_samples=20_000)
    assert est.w_avg is not None
    torch.testing.assert_close(est.w_avg, G.mapping.bias.detach(), rtol=0, atol=0.05)


def test_uint8_conversion_is_stylegans() -> None:
    x = torch.linspace(-1.2, 1.2, 1001).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    want = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    torch.testing.assert_close(to_uint8_images(x), want, rtol=0, atol=0)
    # (0, 1) outputs: round(255 x)
    y = torch.rand(1, 3, 5, 5)
    torch.testing.assert_close(
        to_uint8_images(y, (0, 1)), (y * 255 + 0.5).floor().to(torch.uint8), rtol=0, atol=0
    )


def test_generator_errors_name_the_batch() -> None:
    bad_shape = Sampler(lambda z: torch.zeros(z.shape[0], 4, 4), 8, n=6, batch_size=3)
    with pytest.raises(ValueError, match=r"G: batch 0 \(samples 0..2\).*\[3, 3, H, W\]"):
        next(iter(bad_shape))

    calls = []

    def nan_g(z: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        x = torch.zeros(z.shape[0], 3, 2, 2)
        if len(calls) == 2:  # the second batch, its last sample
            x[-1, 0, 0, 0] = float("nan")
        return x

    s = Sampler(nan_g, 8, n=6, batch_size=3)
    with pytest.raises(
        ValueError, match=r"batch 1 \(samples 3..5\).*NaN/Inf in 1 sample\(s\), first at sample 5"
    ):
        list(s)
    with pytest.raises(ValueError, match="truncation"):
        Sampler(ToyG(), 8, threshold=0.0)
    with pytest.raises(ValueError, match="mapping"):
        Sampler(ToyG(), 8, mode="w")
    with pytest.raises(ValueError, match="mode"):
        Sampler(ToyG(), 8, mode="x")
    with pytest.raises(TypeError, match="G"):
        Sampler(3, 8)  # type: ignore[arg-type]


def test_fingerprint() -> None:
    torch.manual_seed(0)
    G = ToyG()
    a = Sampler(G, 8, n=10, seed=1)
    assert a.fingerprint == Sampler(G, 8, n=10, seed=1, batch_size=3).fingerprint  # batch size: same samples
    assert a.fingerprint != Sampler(G, 8, n=10, seed=2).fingerprint
    assert a.fingerprint != Sampler(G, 8, n=10, seed=1, threshold=0.5).fingerprint
    G2 = ToyG()
    assert a.fingerprint != Sampler(G2, 8, n=10, seed=1).fingerprint
    assert Sampler(lambda z: z, 8).fingerprint is None
    d = a.describe()
    assert d["n"] == 10 and d["fingerprint"] == a.fingerprint


def test_fingerprint_follows_training_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastgan.evaluation.sampler as sampler_mod

    G = ToyG()
    s = Sampler(G, 8, n=10)
    before = s.fingerprint
    hashed: list[int] = []
    real = sampler_mod._tensor_bytes
    monkeypatch.setattr(sampler_mod, "_tensor_bytes", lambda t: hashed.append(1) or real(t))
    assert s.fingerprint == before and not hashed  # remembered: no rehash of unchanged weights
    with torch.no_grad():
        G.fc.weight.add_(1e-3)  # an in-place update, as an optimizer step
    assert s.fingerprint != before and hashed


def test_random_generators_are_reproducible_and_leave_the_global_rng_alone() -> None:
    def noisy(z: torch.Tensor) -> torch.Tensor:  # draws noise from the global RNG, as noise_mode="random"
        return torch.tanh(z[:, :12].reshape(-1, 3, 2, 2) + torch.randn(z.shape[0], 3, 2, 2))

    s = Sampler(noisy, 16, n=5, batch_size=2)
    torch.manual_seed(123)
    a = torch.cat(list(s))
    after = torch.rand(3)
    torch.manual_seed(7)
    b = torch.cat(list(s))
    torch.manual_seed(123)
    assert torch.equal(a, b) and torch.equal(torch.rand(3), after)


def test_deprecated_truncation_keyword_warns_and_samples_the_same() -> None:
    """truncation= (one keyword for two ideas) still works: threshold= in z space, psi= in w space."""
    with pytest.warns(DeprecationWarning, match="truncation= is deprecated.*threshold="):
        old = Sampler(g0 := ToyG(), 8, n=10, seed=3, truncation=0.5)
    new = Sampler(g0, 8, n=10, seed=3, threshold=0.5)
    assert old.fingerprint == new.fingerprint and old.threshold == new.threshold == 0.5
    torch.testing.assert_close(old.generate(0, 10), new.generate(0, 10), rtol=0, atol=0)
    torch.manual_seed(1)
    G, w_avg = ToyStyleG(), torch.randn(6)
    with pytest.warns(DeprecationWarning, match="truncation= is deprecated.*psi="):
        old_w = Sampler(G, 8, n=5, mode="w", truncation=0.7, w_avg=w_avg)
    new_w = Sampler(G, 8, n=5, mode="w", psi=0.7, w_avg=w_avg)
    assert old_w.fingerprint == new_w.fingerprint and old_w.psi == 0.7 and old_w.threshold is None
    with torch.no_grad():
        torch.testing.assert_close(old_w.generate(0, 5), new_w.generate(0, 5), rtol=0, atol=0)
    with pytest.raises(TypeError, match="threshold= only"):
        Sampler(ToyG(), 8, truncation=0.5, threshold=0.5)
    with pytest.raises(ValueError, match="mode='w'"):
        Sampler(ToyG(), 8, psi=0.5)
    with pytest.raises(ValueError, match="mode='z'"):
        Sampler(G, 8, mode="w", threshold=0.5, w_avg=w_avg)
