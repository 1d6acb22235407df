"""The ADM evaluator's conventions (Dhariwal & Nichol, 2021): precision / recall with its fp16
distance step, the Inception Score on 5000-sample splits, and its reference batches.

Every ImageNet diffusion paper since ADM reports the numbers of one TensorFlow script,
openai/guided-diffusion ``evaluations/evaluator.py``. Its FID is TTUR's (``np.cov``, divisor
n - 1: :func:`fastgan.metrics.fid`), its sFID is :func:`fastgan.metrics.spatial.sfid`; the two
conventions of its own are here:

* **precision / recall** (:func:`adm_precision_recall`, after Kynkaanniemi et al. 2019), on the
  Inception ``pool3`` features (not VGG-16): the radius of a sample is the k-th (k = 3) *squared*
  distance to its own set, read at index k of the sorted row *including the sample itself*
  (``np.partition(row, [0..k])[k]``); a point is in the other set's manifold when its squared
  distance to some sample is ``<=`` that sample's radius. Distances are computed in blocks of
  ``row_batch_size x col_batch_size`` (10000 x 10000) by ``DistanceBlock``: the features are cast
  to float16 and ``max(|u|^2 - 2 u.v + |v|^2, 0)`` is evaluated in float16; a block with any
  non-finite entry is recomputed in float32 (``tf.cond``). ``fp16=False`` computes every block in
  float32. :func:`adm_pairwise_distances` is that step; it rounds where the graph rounds (each
  float16 op result; the matrix product and the sum of squares accumulated in float32 and rounded
  once, as TensorFlow's float16 GEMM and reductions do on GPU with
  ``TF_FP16_MATMUL_USE_FP32_COMPUTE``'s default). The accumulation order inside TensorFlow's
  kernels is not reproducible here, so the float16 distances can differ from the evaluator's in
  their last bit on rare entries (see ``docs/pages/metrics/protocols.md``).
* **Inception Score** (:class:`ADMInceptionScore`, :func:`adm_inception_score`): softmax of the
  logits without the fc bias, splits of ``split_size = 5000`` consecutive samples in input order
  (the last split holds the remainder: ``ceil(N / 5000)`` splits), the mean over splits (the
  evaluator prints no std; fastgan also returns the population std).

Reference batches (:func:`load_adm_reference`, :func:`save_adm_reference`): an ``.npz`` with
``arr_0`` (uint8 images [N, H, W, 3], NHWC) and optionally ``mu`` [2048], ``sigma`` [2048, 2048],
``mu_s`` [2023], ``sigma_s`` [2023, 2023] (``np.mean`` / ``np.cov`` of the pool3 and spatial
features). The evaluator uses the stored statistics for FID / sFID when ``mu`` is present and
always embeds ``arr_0`` for precision / recall (and the Inception Score of a sample batch).

Matches: openai/guided-diffusion ``evaluations/evaluator.py`` (``ManifoldEstimator`` with
``nhood_sizes=(3,)``, ``clamp_to_percentile=None``, ``DistanceBlock``,
``_batch_pairwise_distances``, ``compute_inception_score(split_size=5000)``,
``read_statistics``); kynkaat/improved-precision-and-recall-metric ``precision_recall.py``
(which it adapts).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from fastgan._checks import check_features, check_positive_int
from fastgan.metrics._base import KEY_PRECISION, KEY_RECALL, BankMetric
from fastgan.metrics.inception import InceptionScore

__all__ = [
    "KEY_ADM_PRECISION",
    "KEY_ADM_RECALL",
    "ADM_BLOCK",
    "ADM_IS_SPLIT_SIZE",
    "adm_pairwise_distances",
    "adm_manifold_radii",
    "adm_precision_recall",
    "ADMPrecisionRecall",
    "ADMInceptionScore",
    "adm_inception_score",
    "ADMReference",
    "load_adm_reference",
    "save_adm_reference",
]

#: result keys of the evaluator's precision / recall in :func:`fastgan.evaluate` (beside ``pr``'s)
KEY_ADM_PRECISION = "adm_precision"
KEY_ADM_RECALL = "adm_recall"
#: the evaluator's row / column batch size of the distance blocks
ADM_BLOCK = 10000
#: the evaluator's Inception Score split size
ADM_IS_SPLIT_SIZE = 5000

#: elements of one float64 sub-tile of a distance block (bounds the temporaries, ~32 MB)
_TILE_ELEMENTS = 1 << 22


def _half(t: torch.Tensor) -> torch.Tensor:
    """Round to float16 (a float64 value of float16 operands is exact, so rounding once is IEEE float16)."""
    return t.to(torch.float16)


def _sq_norms_fp16(x16: torch.Tensor) -> torch.Tensor:
    """``reduce_sum(square(x), 1)`` of float16 rows: squares rounded to float16, summed in float32,
    rounded to float16."""
    sq = _half(x16.double() * x16.double())
    return _half(sq.float().sum(1, dtype=torch.float32))


def _distances_fp16(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The float16 branch of the graph: ``max(|u|^2 - 2 u.v + |v|^2, 0)``, each op rounded to float16."""
    u16, v16 = u.to(torch.float16), v.to(torch.float16)
    nu, nv = _sq_norms_fp16(u16), _sq_norms_fp16(v16)
    # float16 values are exact in float32 (and TF32): the products are exact, the sums float32
    two_m = _half(2.0 * _half(u16.float() @ v16.float().T).double())
    d = _half(nu.double()[:, None] - two_m.double())
    return torch.clamp_min(_half(d.double() + nv.double()[None, :]), 0.0)


def _distances_fp32(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The float32 branch: the same formula on the float32 features."""
    u32, v32 = u.float(), v.float()
    nu, nv = (u32 * u32).sum(1), (v32 * v32).sum(1)
    return torch.clamp_min(nu[:, None] - 2.0 * (u32 @ v32.T) + nv[None, :], 0.0)


def adm_pairwise_distances(u: torch.Tensor, v: torch.Tensor, *, fp16: bool = True) -> torch.Tensor:
    """Squared Euclidean distances of two blocks of rows, as the evaluator's ``DistanceBlock``.

    Args:
        u (Tensor[B1, D]), v (Tensor[B2, D]): float features (one block each).
        fp16: True: the evaluator's step: cast to float16, ``max(|u|^2 - 2 u.v + |v|^2, 0)`` with
            each op rounded to float16 (the product and the sums accumulated in float32), then
            float32; when any entry of the block is not finite, the whole block in float32.
            False: the float32 formula for every block.

    Returns:
        Tensor[B1, B2] float32 squared distances (not square-rooted, as the evaluator's radii).

    Matches: guided-diffusion ``evaluator.py`` ``_batch_pairwise_distances`` under ``DistanceBlock``'s
    ``tf.cond(reduce_all(is_finite(d16)), d16 -> float32, float32 fallback)``.

    >>> adm_pairwise_distances(torch.zeros(2, 3), torch.ones(1, 3)).flatten().tolist()
    [3.0, 3.0]
    """
    if fp16:
        d = _distances_fp16(u, v)
        if bool(torch.isfinite(d).all()):
            return d.float()
    return _distances_fp32(u, v)


def _tiles(n_rows: int, n_cols: int) -> int:
    """Rows per sub-tile of a block with ``n_cols`` columns."""
    return max(1, min(n_rows, _TILE_ELEMENTS // max(1, n_cols)))


def _block_reduce(
    u: torch.Tensor, v: torch.Tensor, fp16: bool, reduce: Callable[[int, torch.Tensor], Any]
) -> list[Any]:
    """``reduce(a, distances of rows [a, a + t) x v)`` over the sub-tiles of one evaluator block.

    The float16 / float32 choice is made for the whole block, as ``tf.cond`` does: the tiles are
    reduced in float16 and, if any entry of the block is not finite, all of them again in float32."""
    step = _tiles(u.shape[0], v.shape[0])
    starts = range(0, u.shape[0], step)
    if fp16:
        out = []
        for a in starts:
            d = _distances_fp16(u[a : a + step], v)
            if not bool(torch.isfinite(d).all()):
                break
            out.append(reduce(a, d.float()))
        else:
            return out
    return [reduce(a, _distances_fp32(u[a : a + step], v)) for a in starts]


def _inside(
    rad_rows: torch.Tensor, rad_cols: torch.Tensor, a: int, d: torch.Tensor
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Of one tile (rows ``[a, a + t)`` of a real block x a fake block): the rows inside some fake
    ball (recall) and the columns inside some real ball (precision), ``<=`` as the evaluator."""
    return a, (d <= rad_cols[None, :]).any(dim=1), (d <= rad_rows[a : a + d.shape[0], None]).any(dim=0)


def _check_blocks(row_batch_size: int, col_batch_size: int) -> tuple[int, int]:
    return (
        check_positive_int(row_batch_size, "row_batch_size"),
        check_positive_int(col_batch_size, "col_batch_size"),
    )


def adm_manifold_radii(
    features: Any,
    k: int = 3,
    *,
    fp16: bool = True,
    row_batch_size: int = ADM_BLOCK,
    col_batch_size: int = ADM_BLOCK,
) -> torch.Tensor:
    """The radius of each sample: the value at index ``k`` of its sorted squared distances to every
    sample of its set, itself included (so the k-th other sample when the self distance is the
    smallest, as it is unless float16 rounding makes it larger).

    Args:
        features (Tensor[N, D]): N > k.
        k: neighbourhood size (the evaluator's ``nhood_sizes=(3,)``).
        fp16, row_batch_size, col_batch_size: the distance step and its block grid
            (:func:`adm_pairwise_distances`).

    Returns:
        Tensor[N] float32 squared radii. Memory: one block's sub-tiles and N x (k + 1) values.

    Matches: guided-diffusion ``ManifoldEstimator.manifold_radii`` (``np.partition`` at
    ``seq = [0..k]``, column ``k``; ``clamp_to_percentile=None``).
    """
    x = check_features(features, "features", min_rows=1)
    k = check_positive_int(k, "k")
    rb, cb = _check_blocks(row_batch_size, col_batch_size)
    n = x.shape[0]
    if n <= k:
        raise ValueError(f"features: needs more than k={k} rows, got {n}")
    radii = torch.empty(n, dtype=torch.float32, device=x.device)
    for r0 in range(0, n, rb):
        rows = x[r0 : r0 + rb]
        best = torch.full((rows.shape[0], 0), float("inf"), dtype=torch.float32, device=x.device)
        for c0 in range(0, n, cb):
            cols = x[c0 : c0 + cb]
            parts = _block_reduce(
                rows,
                cols,
                fp16,
                lambda _, d: torch.topk(d, min(k + 1, d.shape[1]), dim=1, largest=False).values,
            )
            cand = torch.cat([best, torch.cat(parts)], dim=1)
            best = torch.topk(cand, min(k + 1, cand.shape[1]), dim=1, largest=False).values
        radii[r0 : r0 + rb] = best.max(dim=1).values
    return radii


def adm_precision_recall(
    real_features: Any,
    fake_features: Any,
    *,
    k: int = 3,
    fp16: bool = True,
    row_batch_size: int = ADM_BLOCK,
    col_batch_size: int = ADM_BLOCK,
) -> dict[str, float]:
    """Precision and recall as the ADM evaluator computes them.

    precision = fraction of fake samples within the radius (``<=``) of some real sample;
    recall = fraction of real samples within the radius of some fake sample; radii from
    :func:`adm_manifold_radii` of each set, distances from :func:`adm_pairwise_distances`
    (real rows x fake columns, in the evaluator's blocks).

    Args:
        real_features (Tensor[N, D]): the reference batch's Inception pool3 features.
        fake_features (Tensor[M, D]): the sample batch's.
        k: neighbourhood size (3).
        fp16: the evaluator's float16 distance step (default), or float32 throughout.
        row_batch_size, col_batch_size: the block grid (10000 x 10000); with ``fp16`` it decides
            which entries share a float32 fallback, so keep the evaluator's for its numbers.

    Returns:
        ``{"precision": float, "recall": float}``.

    Matches: guided-diffusion ``Evaluator.compute_prec_recall`` / ``ManifoldEstimator.evaluate_pr``.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 4, generator=g)
    >>> adm_precision_recall(x, x)
    {'precision': 1.0, 'recall': 1.0}
    """
    x = check_features(real_features, "real_features", min_rows=1)
    y = check_features(fake_features, "fake_features", min_rows=1)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"real_features and fake_features: feature dimensions differ ({x.shape[1]} vs {y.shape[1]})"
        )
    y = y.to(x.device)
    rb, cb = _check_blocks(row_batch_size, col_batch_size)
    r_real = adm_manifold_radii(x, k, fp16=fp16, row_batch_size=rb, col_batch_size=cb)
    r_fake = adm_manifold_radii(y, k, fp16=fp16, row_batch_size=rb, col_batch_size=cb)
    real_in = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)  # recall
    fake_in = torch.zeros(y.shape[0], dtype=torch.bool, device=x.device)  # precision
    for r0 in range(0, x.shape[0], rb):
        rows, rad_rows = x[r0 : r0 + rb], r_real[r0 : r0 + rb]
        for c0 in range(0, y.shape[0], cb):
            cols, rad_cols = y[c0 : c0 + cb], r_fake[c0 : c0 + cb]

            for a, r_in, f_in in _block_reduce(rows, cols, fp16, partial(_inside, rad_rows, rad_cols)):
                real_in[r0 + a : r0 + a + r_in.shape[0]] |= r_in
                fake_in[c0 : c0 + f_in.shape[0]] |= f_in
    return {
        KEY_PRECISION: float(fake_in.double().mean()),
        KEY_RECALL: float(real_in.double().mean()),
    }


class ADMPrecisionRecall(BankMetric):
    """Stateful :func:`adm_precision_recall`: feature banks (all-gathered by :meth:`sync`), the
    evaluator's computation at :meth:`compute`.

    >>> m = ADMPrecisionRecall()
    >>> x = torch.randn(20, 4)
    >>> m.update(x, real=True); m.update(x, real=False)
    >>> m.compute()
    {'precision': 1.0, 'recall': 1.0}
    """

    def __init__(
        self,
        k: int = 3,
        *,
        fp16: bool = True,
        row_batch_size: int = ADM_BLOCK,
        col_batch_size: int = ADM_BLOCK,
    ) -> None:
        super().__init__()
        self.k = check_positive_int(k, "k")
        self.fp16 = bool(fp16)
        self.row_batch_size, self.col_batch_size = _check_blocks(row_batch_size, col_batch_size)

    def compute(self) -> dict[str, float]:
        """``{"precision", "recall"}`` of every sample seen."""
        return adm_precision_recall(
            self._bank(real=True),
            self._bank(real=False),
            k=self.k,
            fp16=self.fp16,
            row_batch_size=self.row_batch_size,
            col_batch_size=self.col_batch_size,
        )


class ADMInceptionScore(InceptionScore):
    """The evaluator's Inception Score state: split s holds the samples with global index in
    ``[s * split_size, (s + 1) * split_size)`` (the last split the remainder), float64 sums.

    Args:
        num_samples: N (needed: it fixes the number of splits, ``ceil(N / split_size)``).
        split_size: 5000.
        input: ``"logits"`` (the unbiased Inception logits) or ``"probs"``.

    >>> m = ADMInceptionScore(num_samples=7, split_size=5)
    >>> m.update(torch.zeros(7, 3)); round(m.compute()["is_mean"], 9)
    1.0
    """

    def __init__(
        self,
        num_samples: int,
        split_size: int = ADM_IS_SPLIT_SIZE,
        input: Any = "logits",
        device: Optional[Union[torch.device, str]] = None,
    ) -> None:
        n = check_positive_int(num_samples, "num_samples")
        self.split_size = check_positive_int(split_size, "split_size")
        super().__init__(
            splits=math.ceil(n / self.split_size),
            num_samples=n,
            input=input,
            device=device,
            shuffle_seed=None,
        )

    def _split_ids(self, index: torch.Tensor) -> torch.Tensor:
        return torch.div(index, self.split_size, rounding_mode="floor")

    def merge(self, other: InceptionScore) -> ADMInceptionScore:
        """Add ``other``'s sums (same ``split_size`` and ``num_samples`` required)."""
        if getattr(other, "split_size", None) != self.split_size:
            raise ValueError(
                f"other: split_size differs ({self.split_size} vs {getattr(other, 'split_size', None)})"
            )
        super().merge(other)
        return self


def adm_inception_score(
    logits_or_probs: Any, *, split_size: int = ADM_IS_SPLIT_SIZE, input: Any = "logits"
) -> dict[str, float]:
    """The evaluator's Inception Score: ``exp(mean_x KL(p(.|x) || p_s))`` per split of
    ``split_size`` consecutive rows (the last one shorter when ``split_size`` does not divide N),
    averaged over splits.

    Args:
        logits_or_probs (Tensor[N, C]): Inception logits without the fc bias (or probabilities).
        split_size: rows per split (5000).
        input: ``"logits"`` or ``"probs"``.

    Returns:
        ``{"is_mean": mean over splits, "is_std": population std over splits}``.

    Matches: guided-diffusion ``Evaluator.compute_inception_score`` (``softmax(pool3 @ W)``,
    ``range(0, N, split_size)``, ``np.mean(scores)``), with float64 sums instead of its float32.

    >>> adm_inception_score(torch.zeros(12, 4), split_size=5)["is_mean"]
    1.0
    """
    x = torch.as_tensor(logits_or_probs)
    if x.dim() != 2:
        raise ValueError(f"logits_or_probs: expected Tensor[N, C], got shape {tuple(x.shape)}")
    m = ADMInceptionScore(num_samples=int(x.shape[0]), split_size=split_size, input=input)
    m.update(x)
    return m.compute()


# ---------------------------------------------------------------------------------------------- npz
@dataclass
class ADMReference:
    """One evaluator batch (``.npz``).

    Attributes:
        images (np.ndarray[N, H, W, 3] uint8): ``arr_0``.
        mu, sigma: pool3 statistics ([2048], [2048, 2048] float64) or None.
        mu_s, sigma_s: spatial statistics ([2023], [2023, 2023]) or None.
    """

    images: np.ndarray
    mu: Optional[np.ndarray] = None
    sigma: Optional[np.ndarray] = None
    mu_s: Optional[np.ndarray] = None
    sigma_s: Optional[np.ndarray] = None

    @property
    def has_stats(self) -> bool:
        """Whether FID and sFID statistics are stored (the evaluator then uses them, not ``arr_0``)."""
        return self.mu is not None


_STAT_KEYS = ("mu", "sigma", "mu_s", "sigma_s")


def load_adm_reference(path: Union[str, os.PathLike[str]]) -> ADMReference:
    """Read an evaluator batch: ``arr_0`` images (uint8 NHWC) and, when present, ``mu``, ``sigma``,
    ``mu_s``, ``sigma_s`` (all four or none). No pickle is loaded.

    Raises:
        ValueError: naming the path: no ``arr_0``, images not [N, H, W, 3] uint8, a partial or
            mis-shaped set of statistics.
    """
    p = Path(path)
    with np.load(p, allow_pickle=False) as z:
        keys = set(z.files)
        if "arr_0" not in keys:
            raise ValueError(f"{p}: not an ADM batch (no 'arr_0' images; has {sorted(keys)})")
        images = np.asarray(z["arr_0"])
        stats = {k: np.asarray(z[k]) for k in _STAT_KEYS if k in keys}
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{p}: arr_0 must be uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
    if stats and len(stats) != 4:
        raise ValueError(
            f"{p}: has {sorted(stats)} of the statistics; expected all of {list(_STAT_KEYS)} or none"
        )
    for m, s in (("mu", "sigma"), ("mu_s", "sigma_s")):
        if m in stats and (stats[m].ndim != 1 or stats[s].shape != (stats[m].shape[0],) * 2):
            raise ValueError(f"{p}: {m} {stats[m].shape} and {s} {stats[s].shape} do not fit ([D], [D, D])")
    return ADMReference(images, **stats)


def save_adm_reference(
    path: Union[str, os.PathLike[str]],
    images: Any,
    *,
    pool3: Any = None,
    spatial: Any = None,
) -> Path:
    """Write an evaluator batch: ``arr_0`` (uint8 NHWC) and, given the features of those images,
    ``mu`` / ``sigma`` (pool3) and ``mu_s`` / ``sigma_s`` (spatial) in float64 (``np.mean``,
    ``np.cov``: divisor n - 1). Written atomically (temporary file, then ``os.replace``).

    Args:
        path: the ``.npz`` to write.
        images (array [N, H, W, 3] uint8): the batch's images.
        pool3 (Tensor[N, 2048]), spatial (Tensor[N, 2023]): both or neither
            (:func:`fastgan.evaluation.adm_reference.write_adm_reference` computes them).

    Returns:
        The path written.
    """
    arr = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"images: expected uint8 [N, H, W, 3], got {arr.dtype} {arr.shape}")
    if (pool3 is None) != (spatial is None):
        raise ValueError("pool3 and spatial: give both (FID and sFID statistics) or neither")
    out: dict[str, np.ndarray] = {"arr_0": arr}
    if pool3 is not None:
        for name, f, mk, sk in (("pool3", pool3, "mu", "sigma"), ("spatial", spatial, "mu_s", "sigma_s")):
            x = check_features(f, name, min_rows=2).double().cpu().numpy()
            if x.shape[0] != arr.shape[0]:
                raise ValueError(f"{name}: {x.shape[0]} rows for {arr.shape[0]} images")
            out[mk] = x.mean(axis=0)
            out[sk] = np.cov(x, rowvar=False)
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, **out)  # type: ignore[arg-type]
    os.replace(tmp, p)
    return p
