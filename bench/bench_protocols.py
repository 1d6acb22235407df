"""The ADM evaluator's metrics against transcriptions of its formulas: speed and agreement.

Metrics (fastgan function | reference formulas, written here in numpy after
openai/guided-diffusion ``evaluations/evaluator.py``; the script itself needs TensorFlow and the
graph, so it cannot run here):

* ``adm_pr``: :func:`fastgan.metrics.adm_precision_recall` (``fp16=True``, the evaluator's step) |
  ``ManifoldEstimator`` in numpy: float16 ``|u|^2 - 2 u.v + |v|^2`` per 10000 x 10000 block with the
  float32 fallback, ``np.partition`` radii, ``<=`` membership;
* ``adm_pr_fp32``: the same with ``fp16=False`` | the float32 formula in numpy;
* ``sfid``: :func:`fastgan.metrics.sfid` on 2023-d features | ``np.cov`` + ``scipy.linalg.sqrtm``
  (``FIDStatistics.frechet_distance``);
* ``adm_is``: :func:`fastgan.metrics.adm_inception_score` | ``compute_inception_score``'s loop over
  5000-row splits (softmax in float64 here).

Every (metric, implementation) pair runs on identical seeded float32 features (real ``|randn|``,
fake ``1.1 |randn| + 0.1``, like pool3), after a warm-up call; ``seconds`` is the wall time of one
call. ``value`` is the metric; ``agree`` the absolute difference to the reference's value.

Run (plain Python; an idle machine for real numbers)::

    python bench/bench_protocols.py            # N = 10k, D = 2048 (pool3) / 2023 (sFID)
    python bench/bench_protocols.py --quick    # N = 400, D = 64: a smoke check (seconds)

Results: ``bench/results/protocols[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _np_d16(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h = np.float16
    u16, v16 = u.astype(h), v.astype(h)
    nu = (u16.astype(np.float64) ** 2).astype(h).astype(np.float32).sum(1).astype(h)
    nv = (v16.astype(np.float64) ** 2).astype(h).astype(np.float32).sum(1).astype(h)
    two_m = (2.0 * (u16.astype(np.float32) @ v16.astype(np.float32).T).astype(h).astype(np.float64)).astype(h)
    d = (nu.astype(np.float64)[:, None] - two_m.astype(np.float64)).astype(h)
    return np.maximum((d.astype(np.float64) + nv.astype(np.float64)[None, :]).astype(h), h(0))


def _np_block(u: np.ndarray, v: np.ndarray, fp16: bool) -> np.ndarray:
    if fp16:
        d = _np_d16(u, v)
        if np.isfinite(d).all():
            return d.astype(np.float32)
    nu, nv = (u * u).sum(1), (v * v).sum(1)
    return np.maximum(nu[:, None] - 2 * (u @ v.T) + nv[None, :], 0).astype(np.float32)


def _np_radii(x: np.ndarray, k: int, fp16: bool, block: int) -> np.ndarray:
    rows = []
    for a in range(0, len(x), block):
        d = np.concatenate(
            [_np_block(x[a : a + block], x[b : b + block], fp16) for b in range(0, len(x), block)], 1
        )
        rows.append(np.partition(d, k, axis=1)[:, k])
    return np.concatenate(rows)


def _np_adm_pr(x: np.ndarray, y: np.ndarray, fp16: bool, k: int = 3, block: int = 10000) -> dict[str, float]:
    rx, ry = _np_radii(x, k, fp16, block), _np_radii(y, k, fp16, block)
    x_in, y_in = np.zeros(len(x), bool), np.zeros(len(y), bool)
    for a in range(0, len(x), block):
        for b in range(0, len(y), block):
            d = _np_block(x[a : a + block], y[b : b + block], fp16)
            x_in[a : a + block] |= (d <= ry[None, b : b + block]).any(1)
            y_in[b : b + block] |= (d <= rx[a : a + block, None]).any(0)
    return {"precision": float(y_in.mean()), "recall": float(x_in.mean())}


def _np_frechet(x: np.ndarray, y: np.ndarray) -> float:
    import scipy.linalg

    x, y = x.astype(np.float64), y.astype(np.float64)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _np_is(logits: np.ndarray, split: int = 5000) -> float:
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(0, len(p), split):
        q = p[i : i + split]
        scores.append(np.exp((q * (np.log(q) - np.log(q.mean(0, keepdims=True)))).sum(1).mean()))
    return float(np.mean(scores))


def _cases(n: int, d: int) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    import torch

    import fastgan.metrics as fm

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g).abs()
    y = 1.1 * torch.randn(n, d, generator=g).abs() + 0.1
    xs, ys = x[:, : min(d, 2023)], y[:, : min(d, 2023)]
    logits = torch.randn(n, 1008, generator=g) * 3
    xn, yn, xsn, ysn = x.numpy(), y.numpy(), xs.numpy(), ys.numpy()
    return {
        "adm_pr": (lambda: fm.adm_precision_recall(x, y), lambda: _np_adm_pr(xn, yn, True)),
        "adm_pr_fp32": (lambda: fm.adm_precision_recall(x, y, fp16=False), lambda: _np_adm_pr(xn, yn, False)),
        "sfid": (lambda: fm.sfid(xs, ys), lambda: _np_frechet(xsn, ysn)),
        "adm_is": (lambda: fm.adm_inception_score(logits)["is_mean"], lambda: _np_is(logits.numpy())),
    }


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    fn()  # warm-up
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _diff(a: Any, b: Any) -> float:
    if isinstance(a, dict):
        return max(abs(a[k] - b[k]) for k in a)
    return abs(float(a) - float(b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 400, D = 64 (a smoke check)")
    args = ap.parse_args()
    n, d = (400, 64) if args.quick else (10000, 2048)
    rows = []
    for name, (fg, ref) in _cases(n, d).items():
        v_fg, t_fg = _timed(fg)
        v_ref, t_ref = _timed(ref)
        rows.append(
            {
                "metric": name,
                "n": n,
                "d": d,
                "fastgan": {"value": v_fg, "seconds": t_fg},
                "reference_formulas": {"value": v_ref, "seconds": t_ref},
                "agree": _diff(v_fg, v_ref),
            }
        )
        print(
            f"{name:12s} fastgan {t_fg:8.3f} s   numpy formulas {t_ref:8.3f} s   |diff| {rows[-1]['agree']:.3g}"
        )
    out = os.path.join(HERE, "results", f"protocols{'_quick' if args.quick else ''}.json")
    with open(out, "w") as f:
        json.dump({"benchmark": "protocols", "rows": rows}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
