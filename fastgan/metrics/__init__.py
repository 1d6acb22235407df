"""Evaluation metrics for generative models.

Pure functions (features -> statistics -> value) with thin stateful classes on top:

* FID: :func:`fid`, :func:`fid_from_stats`, :func:`frechet_distance`, :class:`FeatureStats`
  (module :mod:`fastgan.metrics.frechet`); :func:`save_stats`, :func:`load_stats` (module
  :mod:`fastgan.metrics.stats_io`);
  :func:`fid_bootstrap`, :func:`fid_per_class`, :func:`fid_infinity`
  (module :mod:`fastgan.metrics.frechet_extra`)
* precision / recall / density / coverage / realism: :func:`prdc`, :func:`precision_recall`,
  :func:`density_coverage`, :func:`realism_score` (module :mod:`fastgan.metrics.manifold`)
* Inception Score: :func:`inception_score` (module :mod:`fastgan.metrics.inception`)
* KID: :func:`kid` (module :mod:`fastgan.metrics.kernel_distance`)
* TopP&R: :func:`top_precision_recall`, :class:`TopPrecisionRecall`
  (module :mod:`fastgan.metrics.topological`)
* perceptual path length of a generator: :func:`ppl`, :class:`PerceptualPathLength` (module
  :mod:`fastgan.metrics.path_length`; the LPIPS distance is given, e.g.
  :class:`fastgan.features.LPIPSVGG16`; ``update(distances)``, ``measure(G, start, stop)``)
* memorization (is the model copying its training set): :func:`authpct`, :func:`mifid`
  (module :mod:`fastgan.metrics.memorization`), :func:`ct_score` (module
  :mod:`fastgan.metrics.memorization_ct`), :func:`fld`, :func:`fls` (module
  :mod:`fastgan.metrics.memorization_fld`); C_T, FLD and FLS also read a held-out real test set

Every stateful class (:class:`FID`, :class:`KID`, :class:`InceptionScore`, :class:`PRDC`)
implements one protocol, :class:`Metric` (module :mod:`fastgan.metrics._base`):
``update(features, *, real)`` (Inception Score: ``update(logits, *, index=None)``),
``compute()``, ``reset()``, ``merge(other)``, ``sync(group=None)`` (the one distributed
mechanism: all-reduce of statistics, tensor all-gather of feature banks) and
``state_dict()`` / ``load_state_dict()``.

Return types: a function or ``compute()`` returns a ``float`` for one value (FID), or a
``dict[str, float]`` keyed by the ``KEY_*`` constants below for several (``kid_mean``,
``kid_std``, ``is_mean``, ``is_std``, ``precision``, ...); a 0-d tensor only when an input
requires grad.

Names are resolved lazily so importing :mod:`fastgan.metrics` stays cheap. No submodule shares
a name with a function, so ``fastgan.metrics.fid`` is always the function, whatever was imported.
"""

from __future__ import annotations

from fastgan._lazy import lazy_exports

# public name -> submodule that defines it (or a full dotted path)
_EXPORTS: dict[str, str] = {
    # _base.py: the protocol and the result keys
    "Metric": "_base",
    "KEY_FID": "_base",
    "KEY_KID_MEAN": "_base",
    "KEY_KID_STD": "_base",
    "KEY_IS_MEAN": "_base",
    "KEY_IS_STD": "_base",
    "KEY_PRECISION": "_base",
    "KEY_RECALL": "_base",
    "KEY_DENSITY": "_base",
    "KEY_COVERAGE": "_base",
    # memorization.py, memorization_ct.py, memorization_fld.py: is the model copying its training set
    "authpct": "memorization",
    "AuthPct": "memorization",
    "KEY_AUTHPCT": "memorization",
    "mifid": "memorization",
    "MIFID": "memorization",
    "KEY_MIFID": "memorization",
    "nearest_neighbor": "memorization",
    "ct_score": "memorization_ct",
    "c_t_statistic": "memorization_ct",
    "CTScore": "memorization_ct",
    "KEY_CT": "memorization_ct",
    "fld": "memorization_fld",
    "FLD": "memorization_fld",
    "KEY_FLD": "memorization_fld",
    "fls": "memorization_fld",
    "FLS": "memorization_fld",
    "KEY_FLS": "memorization_fld",
    # warnings
    "NegativeFIDWarning": "frechet",
    "NotPSDWarning": "fastgan.linalg",  # defined in fastgan.linalg._ref, exported by fastgan.linalg
    # frechet.py
    "FeatureStats": "frechet",
    "fid": "frechet",
    "fid_from_stats": "frechet",
    "fid_to_standard_normal": "frechet",
    "frechet_distance": "frechet",
    "save_stats": "stats_io",
    "load_stats": "stats_io",
    "fid_bootstrap": "frechet_extra",
    "fid_per_class": "frechet_extra",
    "fid_infinity": "frechet_extra",
    "FID": "frechet",
    # manifold.py
    "prdc": "manifold",
    "precision_recall": "manifold",
    "density_coverage": "manifold",
    "realism_score": "manifold",
    "PRDC": "manifold",
    # inception.py
    "inception_score": "inception",
    "InceptionScore": "inception",
    # kernel_distance.py
    "kid": "kernel_distance",
    "KID": "kernel_distance",
    # metrics of feature sets beyond FID/KID: Frechet distance on any features, CMMD, Vendi,
    # sliced Wasserstein, P-precision / P-recall
    "fd": "frechet",
    "cmmd": "rbf_mmd",
    "CMMD": "rbf_mmd",
    "KEY_CMMD": "rbf_mmd",
    "vendi": "diversity",
    "vendi_from_kernel": "diversity",
    "Vendi": "diversity",
    "KEY_VENDI": "diversity",
    "sliced_wasserstein": "sliced",
    "SlicedWasserstein": "sliced",
    "KEY_SLICED_WASSERSTEIN": "sliced",
    "p_precision_recall": "probabilistic",
    "p_precision": "probabilistic",
    "p_recall": "probabilistic",
    "PPrecisionRecall": "probabilistic",
    "KEY_P_PRECISION": "probabilistic",
    "KEY_P_RECALL": "probabilistic",
    # topological.py: TopP&R
    "top_precision_recall": "topological",
    "TopPrecisionRecall": "topological",
    "KEY_TOP_PRECISION": "topological",
    "KEY_TOP_RECALL": "topological",
    # path_length.py: perceptual path length of a generator (LPIPS distance given)
    "ppl": "path_length",
    "PerceptualPathLength": "path_length",
    "KEY_PPL": "path_length",
    "KEY_PPL_STD": "path_length",
    # the precision / recall family and kernel variants: PRD, rarity, clipped density / coverage,
    # KID with an RBF kernel, MIND
    "prd": "prd_curves",
    "prd_curve": "prd_curves",
    "prd_f_beta": "prd_curves",
    "prd_from_distributions": "prd_curves",
    "PRD": "prd_curves",
    "KEY_PRD_F_BETA": "prd_curves",
    "KEY_PRD_F_BETA_INV": "prd_curves",
    "rarity": "rarity_knn",
    "rarity_score": "rarity_knn",
    "Rarity": "rarity_knn",
    "KEY_RARITY_MEAN": "rarity_knn",
    "KEY_RARITY_INSIDE": "rarity_knn",
    "clipped_density_coverage": "clipped",
    "clipped_density": "clipped",
    "clipped_coverage": "clipped",
    "coverage_calibration": "clipped",
    "ClippedDensityCoverage": "clipped",
    "KEY_CLIPPED_DENSITY": "clipped",
    "KEY_CLIPPED_COVERAGE": "clipped",
    "kid_rbf": "kernel_rbf",
    "KIDRBF": "kernel_rbf",
    "KEY_KID_RBF_MEAN": "kernel_rbf",
    "KEY_KID_RBF_STD": "kernel_rbf",
    "mind": "sliced",
    "MIND": "sliced",
    "KEY_MIND": "sliced",
    # spatial.py: sFID; adm.py: the ADM evaluator's precision / recall, IS and reference batches
    "sfid": "spatial",
    "SFID": "spatial",
    "spatial_features": "spatial",
    "KEY_SFID": "spatial",
    "adm_precision_recall": "adm",
    "adm_pairwise_distances": "adm",
    "adm_manifold_radii": "adm",
    "ADMPrecisionRecall": "adm",
    "adm_inception_score": "adm",
    "ADMInceptionScore": "adm",
    "ADMReference": "adm",
    "load_adm_reference": "adm",
    "save_adm_reference": "adm",
    "KEY_ADM_PRECISION": "adm",
    "KEY_ADM_RECALL": "adm",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
