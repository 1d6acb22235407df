"""Feature likelihood divergence and score, FLD and FLS (Jiralerspong et al., NeurIPS 2023), streamed.

"Feature Likelihood Score: Evaluating the Generalization of Generative Models Using Samples"
(renamed Feature Likelihood Divergence). Both fit a mixture of isotropic Gaussians centred at
the generated features, one bandwidth per Gaussian, by maximising the likelihood of the
TRAINING features (Adam), then score the likelihood of the held-out TEST features, against a
baseline mixture of the same kind centred at real training samples. Copying the training set
gives narrow Gaussians on the training points that explain the test set badly.

* **FLD** (marcojira/fld ``fld/metrics/FLD.py`` and ``fld/MoG.py``; the current reference):
  features normalised by the test set's mean and standard deviation; at most ``gen_size``
  (10000) generated samples; bandwidths initialised at ``log((min_i d_ij + 1e-3) / D)`` and fit
  by Adam (lr 0.5, 50 epochs of shuffled batches of 10000 training rows) with an extra Gaussian
  at the training mean (distances scaled by 0.81, weight 1, its own bandwidth), ``log sigma^2``
  clamped to ``[-40, 20]``; ``NLL = -mean log p(x) / D`` of the test set;
  ``FLD = 100 (NLL_gen - NLL_baseline)`` with the baseline mixture centred at a random half of
  the training set (at most as many points as generated samples) fit to the other half.
  ``eval_set="train"`` scores the training set instead, ``"gap"`` returns
  ``100 (NLL_train - NLL_test)`` of the generated mixture (negative: memorization).
* **FLS** (dgm-eval ``dgm_eval/metrics/fls.py`` ``compute_fls`` with the subsampling of
  ``dgm_eval/__main__.py``): ``n = min(l / 2, n_test, m)`` samples of each set and ``2 n``
  training samples split into a training half and a baseline half; features normalised by the
  mean and std of all of them; bandwidths from 0, 100 full-batch Adam steps (lr 0.5, x0.1 after
  50), clamped to ``[-100, 20]``, no extra Gaussian; ``FLS = 100 exp(-2 (NLL_gen - NLL_base) / D)``
  with unnormalised NLLs (higher is better, 100 at par with the baseline).

Streaming: every step needs the training-by-generated squared distances; they are computed in
row chunks (one GEMM of shifted features each) and the gradient of a batch is accumulated over
its chunks (the loss is a sum of per-row terms), so no N x M matrix is formed unless it fits
``cache_mb``, where it is kept across epochs as the references keep it. float64 inputs are
computed in float64 throughout (the oracle tests), others in float32 as the references.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch

from fastgan._checks import (
    check_choice,
    check_features,
    check_positive_int,
    check_same_device,
    check_same_dim,
)
from fastgan.metrics.memorization_base import TestSetMetric

__all__ = ["FLD", "FLS", "KEY_FLD", "KEY_FLS", "fld", "fls", "mog_nll"]

#: Result keys.
KEY_FLD = "fld"
KEY_FLS = "fls"
#: FLD's extra Gaussian at the training mean sees distances scaled by (1 - 0.1)**2 (marcojira/fld).
_ORIGIN_SCALE = (1.0 - 0.1) ** 2
_LOG_2PI = math.log(2.0 * math.pi)
#: elements of one distance chunk (rows x generated samples)
CHUNK_ELEMS = 1 << 22
EVAL_SETS = ("test", "train", "gap")


class _Distances:
    """Squared distances of row chunks of ``x`` to the centres ``mus`` (one GEMM per chunk)."""

    def __init__(self, x: torch.Tensor, mus: torch.Tensor, cache_mb: float) -> None:
        shift = mus.mean(0, dtype=torch.float64).to(mus.dtype)
        self.x, self.shift = x, shift
        self.mc = mus - shift
        self.mn = self.mc.square().sum(1)
        m = mus.shape[0]
        self.chunk = max(1, CHUNK_ELEMS // max(1, m))
        self.cache: Optional[torch.Tensor] = None
        if x.shape[0] * m * x.element_size() <= cache_mb * 2**20:
            self.cache = torch.cat(
                [self._compute(s, min(x.shape[0], s + self.chunk)) for s in range(0, x.shape[0], self.chunk)]
            )

    def _compute(self, s: int, e: int) -> torch.Tensor:
        xc = self.x[s:e] - self.shift
        d = torch.addmm(self.mn.unsqueeze(0), xc, self.mc.T, alpha=-2.0)
        return d.add_(xc.square().sum(1, keepdim=True)).clamp_min_(0.0)

    def rows(self, s: int, e: int) -> torch.Tensor:
        return self.cache[s:e] if self.cache is not None else self._compute(s, e)

    def chunks(self, s: int, e: int) -> Any:
        for a in range(s, e, self.chunk):
            yield a, min(e, a + self.chunk)

    def col_min(self) -> torch.Tensor:
        out = torch.full_like(self.mn, math.inf)
        for s, e in self.chunks(0, self.x.shape[0]):
            out = torch.minimum(out, self.rows(s, e).min(0).values)
        return out


def _pairwise_ll(d: torch.Tensor, log_s: torch.Tensor, dim: int, two_pi: bool) -> torch.Tensor:
    """``log N(x_i | mu_j, exp(log_s_j) I)`` from squared distances (without ``2 pi`` for FLS)."""
    out = (-0.5 * d) / torch.exp(log_s) - (dim / 2.0) * log_s
    return out - (dim / 2.0) * _LOG_2PI if two_pi else out


def mog_nll(
    x: torch.Tensor,
    mus: torch.Tensor,
    log_sigmas: torch.Tensor,
    *,
    two_pi: bool = True,
    cache_mb: float = 0.0,
) -> torch.Tensor:
    """Per-row ``-log (1/M sum_j N(x_i | mu_j, sigma_j^2 I))`` (Tensor[N], float64), streamed.

    Args:
        x (Tensor[N, D]): evaluated rows.
        mus (Tensor[M, D]): the Gaussians' centres.
        log_sigmas (Tensor[M]): ``log sigma_j^2`` (the references' ``log_sigmas``).
        two_pi: include the ``-D/2 log 2 pi`` term (FLD's MoG does, dgm-eval's FLS does not).
        cache_mb: 0 (no cache of the distances).
    """
    dist = _Distances(x, mus, cache_mb)
    dim, m = x.shape[1], mus.shape[0]
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    ls = log_sigmas.detach().to(x.dtype)
    for s, e in dist.chunks(0, x.shape[0]):
        pll = _pairwise_ll(dist.rows(s, e), ls, dim, two_pi) - math.log(m)
        out[s:e] = -torch.logsumexp(pll, dim=1).to(torch.float64)
    return out


def _fit_fld(mus: torch.Tensor, x: torch.Tensor, gen: torch.Generator, opts: dict[str, Any]) -> torch.Tensor:
    """marcojira/fld ``MoG.fit``: the bandwidths of the Gaussians at ``mus`` fit to ``x`` (returns log sigma^2)."""
    n, dim = x.shape
    mean_x = x.mean(0, dtype=torch.float64).to(x.dtype)
    x = x[torch.randperm(n, generator=gen).to(x.device)]
    dist = _Distances(x, mus, opts["cache_mb"])
    log_s = ((dist.col_min() + 1e-3) / dim).log().requires_grad_(True)
    log_o = torch.tensor(0.0, dtype=x.dtype, device=x.device, requires_grad=True)
    origin_d = _ORIGIN_SCALE * (x - mean_x).square().sum(1)
    optim = torch.optim.Adam([log_s, log_o], lr=opts["lr"])
    bs, log_m = opts["batch_size"], math.log(mus.shape[0])
    for _epoch in range(opts["epochs"]):
        for b0 in range(0, n, bs):
            b1 = min(n, b0 + bs)
            optim.zero_grad()
            for s, e in dist.chunks(b0, b1):
                pll = _pairwise_ll(dist.rows(s, e), log_s, dim, True) - log_m
                oll = _pairwise_ll(origin_d[s:e].unsqueeze(1), log_o, dim, True)
                lls = torch.logsumexp(torch.cat([pll, oll], 1), dim=1)
                (-lls.sum() / ((b1 - b0) * dim)).backward()
            optim.step()
            with torch.no_grad():
                log_s.clamp_(-40.0, 20.0)
    return log_s.detach()


def _fit_fls(mus: torch.Tensor, x: torch.Tensor, opts: dict[str, Any]) -> torch.Tensor:
    """dgm-eval ``optimize_sigmas``: full-batch Adam from log sigma^2 = 0 (returns log sigma^2)."""
    n, dim = x.shape
    dist = _Distances(x, mus, opts["cache_mb"])
    log_s = torch.zeros(mus.shape[0], dtype=x.dtype, device=x.device, requires_grad=True)
    optim = torch.optim.Adam([log_s], lr=opts["lr"])
    sched = torch.optim.lr_scheduler.MultiStepLR(optim, milestones=[opts["steps"] // 2], gamma=0.1)
    log_m = math.log(mus.shape[0])
    for _step in range(opts["steps"]):
        optim.zero_grad()
        for s, e in dist.chunks(0, n):
            pll = _pairwise_ll(dist.rows(s, e), log_s, dim, False) - log_m
            (-torch.logsumexp(pll, dim=1).sum() / n).backward()
        optim.step()
        sched.step()
        with torch.no_grad():
            log_s.clamp_(-100.0, 20.0)
    return log_s.detach()


def _normalize(sets: list[torch.Tensor], by: torch.Tensor, name: str) -> list[torch.Tensor]:
    """``(x - mean) / std`` with the float64 mean and unbiased std of ``by`` (torch ``std``)."""
    b = by.to(torch.float64)
    mean, std = b.mean(0), b.std(0)
    if not bool((std > 0).all()):
        raise ValueError(
            f"{name}: a feature is constant (zero standard deviation); the features cannot be normalised"
        )
    return [((s.to(torch.float64) - mean) / std).to(s.dtype) for s in sets]


def _inputs(train: Any, test: Any, fake: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = check_features(train, "train", min_rows=2)
    p = check_features(test, "test", min_rows=2)
    q = check_features(fake, "fake", min_rows=1)
    for a, name in ((p, "test"), (q, "fake")):
        check_same_dim(t, a, "train", name)
    check_same_device([t, p, q], ["train", "test", "fake"])
    wd = torch.float64 if torch.float64 in (t.dtype, p.dtype, q.dtype) else torch.float32
    # clones: inference-mode inputs cannot enter the autograd graph of the fits
    with torch.inference_mode(False):
        return t.detach().to(wd).clone(), p.detach().to(wd).clone(), q.detach().to(wd).clone()


def _run(fn: Callable[[], float]) -> float:
    """``fn()`` with autograd on, also under ``torch.no_grad`` / ``torch.inference_mode`` (the fits use Adam)."""
    with torch.inference_mode(False), torch.enable_grad():
        return fn()


def fld(
    train: Any,
    test: Any,
    fake: Any,
    *,
    eval_set: str = "test",
    gen_size: int = 10000,
    epochs: int = 50,
    lr: float = 0.5,
    batch_size: int = 10000,
    baseline_nll: Optional[float] = None,
    seed: int = 0,
    cache_mb: float = 4096.0,
) -> float:
    """Feature Likelihood Divergence (Jiralerspong et al. 2023; module docstring).

    Args:
        train (Tensor[l, D] | ndarray): TRAINING features (``real`` of :func:`fastgan.evaluate`).
        test (Tensor[n, D] | ndarray): held-out real features, same D and device.
        fake (Tensor[m, D] | ndarray): generated features.
        eval_set: ``"test"`` (FLD), ``"train"`` or ``"gap"`` (the reference's ``eval_feat``).
        gen_size: at most this many generated samples (a random subset; reference 10000).
        epochs, lr, batch_size: Adam's schedule (reference 50, 0.5, 10000).
        baseline_nll: a known baseline NLL (else computed, as the reference).
        seed: seed of the random subsets and shuffles (CPU ``torch.Generator``).
        cache_mb: keep the training-by-generated distances when they fit in this many MiB.

    Returns:
        float (lower is better; ``"gap"``: negative when the training set is memorised).

    Matches: marcojira/fld ``fld/metrics/FLD.py`` (``FLD.compute_metric``, ``get_baseline_nll``)
    and ``fld/MoG.py`` (``MoG.fit``, ``get_dim_adjusted_nlls``): the constants of the module
    docstring; the baseline is computed on the already-normalised features without normalising
    them again (the reference re-normalises by the normalised test set's mean 0 and std 1, a
    no-op up to rounding); the random draws are torch's from ``seed``, not the reference's.

    >>> g = torch.Generator().manual_seed(0)
    >>> tr, te = torch.randn(400, 3, generator=g), torch.randn(200, 3, generator=g)
    >>> fld(tr, te, tr[:200], epochs=5) > fld(tr, te, torch.randn(200, 3, generator=g), epochs=5)
    True
    """
    t, p, q = _inputs(train, test, fake)
    check_choice(eval_set, "eval_set", EVAL_SETS)
    gen_size = check_positive_int(gen_size, "gen_size")
    opts = {
        "epochs": check_positive_int(epochs, "epochs"),
        "batch_size": check_positive_int(batch_size, "batch_size"),
        "lr": float(lr),
        "cache_mb": float(cache_mb),
    }
    g = torch.Generator().manual_seed(int(seed))

    def go() -> float:
        qq = q
        if qq.shape[0] > gen_size:
            qq = qq[torch.randperm(qq.shape[0], generator=g)[:gen_size].to(qq.device)]
        tn, pn, qn = _normalize([t, p, qq], p, "test")
        log_s = _fit_fld(qn, tn, g, opts)
        if eval_set == "gap":
            return 100.0 * float(mog_nll(tn, qn, log_s).mean() - mog_nll(pn, qn, log_s).mean()) / t.shape[1]
        nll = float(mog_nll(pn if eval_set == "test" else tn, qn, log_s).mean()) / t.shape[1]
        base = baseline_nll
        if base is None:
            tb = tn[torch.randperm(tn.shape[0], generator=g).to(tn.device)]
            split = min(qn.shape[0], tn.shape[0] // 2)
            log_b = _fit_fld(tb[:split], tb[split:], g, opts)
            base = float(mog_nll(pn, tb[:split], log_b).mean()) / t.shape[1]
        return 100.0 * (nll - float(base))

    return _run(go)


def fls(
    train: Any,
    test: Any,
    fake: Any,
    *,
    steps: int = 100,
    lr: float = 0.5,
    seed: int = 0,
    cache_mb: float = 4096.0,
) -> float:
    """Feature Likelihood Score as dgm-eval computes it (module docstring).

    Args:
        train (Tensor[l, D] | ndarray): TRAINING features, ``l >= 4``.
        test (Tensor[n, D] | ndarray): held-out real features, same D and device.
        fake (Tensor[m, D] | ndarray): generated features.
        steps, lr: full-batch Adam steps and learning rate (x0.1 after half the steps; reference
            100, 0.5).
        seed: seed of the subsets (CPU ``torch.Generator``).
        cache_mb: keep the distances when they fit in this many MiB.

    Returns:
        float (higher is better; 100 at par with the training-set baseline).

    Matches: dgm-eval ``dgm_eval/metrics/fls.py`` (``compute_fls``, ``optimize_sigmas``,
    ``nll``) with the subsets of ``dgm_eval/__main__.py`` (``reduced_n = min(l // 2, n, m)``,
    ``2 reduced_n`` training rows split in halves); its random draws are numpy's, ours torch's.

    >>> g = torch.Generator().manual_seed(0)
    >>> tr, te = torch.randn(400, 3, generator=g), torch.randn(200, 3, generator=g)
    >>> fls(tr, te, tr[:200], steps=10) < fls(tr, te, torch.randn(200, 3, generator=g), steps=10)
    True
    """
    t, p, q = _inputs(train, test, fake)
    if t.shape[0] < 4:
        raise ValueError(f"train: FLS needs at least 4 training samples, got {t.shape[0]}")
    opts = {"steps": check_positive_int(steps, "steps"), "lr": float(lr), "cache_mb": float(cache_mb)}
    g = torch.Generator().manual_seed(int(seed))

    def go() -> float:
        n = min(t.shape[0] // 2, p.shape[0], q.shape[0])

        def pick(a: torch.Tensor, k: int) -> torch.Tensor:
            return a[torch.randperm(a.shape[0], generator=g)[:k].to(a.device)]

        pp, qq, tt = pick(p, n), pick(q, n), pick(t, 2 * n)
        tr, base = tt[:n], tt[n:]
        tr, base, pp, qq = _normalize([tr, base, pp, qq], torch.cat([tr, base, pp, qq]), "train/test/fake")
        dim = t.shape[1]
        gen_nll = float(mog_nll(pp, qq, _fit_fls(qq, tr, opts), two_pi=False).mean())
        base_nll = float(mog_nll(pp, base, _fit_fls(base, tr, opts), two_pi=False).mean())
        return 100.0 * math.exp(-2.0 * (gen_nll - base_nll) / dim)

    return _run(go)


class _ThreeSet(TestSetMetric):
    fn: Callable[..., float] = staticmethod(fld)

    def __init__(self, *, test: Any = None, **kwargs: Any) -> None:
        super().__init__(test=test)
        self.kwargs = kwargs

    def compute(self) -> float:
        """The metric of the three banks (training = real, generated = fake, test)."""
        x = self._bank(real=True)
        return type(self).fn(
            x, self._test_bank().to(x.device), self._bank(real=False).to(x.device), **self.kwargs
        )


class FLD(_ThreeSet):
    """Stateful FLD: banks of training (``real=True``), generated and test features (``test=`` or
    :meth:`update_test`); keywords as :func:`fld`.

    >>> g = torch.Generator().manual_seed(0)
    >>> m = FLD(test=torch.randn(100, 2, generator=g), epochs=2)
    >>> m.update(torch.randn(200, 2, generator=g), real=True)
    >>> m.update(torch.randn(100, 2, generator=g), real=False)
    >>> isinstance(m.compute(), float)
    True
    """

    metric_name = "fld"
    fn = staticmethod(fld)


class FLS(_ThreeSet):
    """Stateful FLS (dgm-eval): banks as :class:`FLD`; keywords as :func:`fls`.

    >>> g = torch.Generator().manual_seed(0)
    >>> m = FLS(test=torch.randn(100, 2, generator=g), steps=2)
    >>> m.update(torch.randn(200, 2, generator=g), real=True)
    >>> m.update(torch.randn(100, 2, generator=g), real=False)
    >>> m.compute() > 0
    True
    """

    metric_name = "fls"
    fn = staticmethod(fls)
