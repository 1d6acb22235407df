"""The rows of the metric table for the ADM evaluator's metrics (Dhariwal & Nichol 2021,
openai/guided-diffusion ``evaluations/evaluator.py``): ``sfid`` (the Frechet distance of the 2023-d
spatial Inception features) and ``adm_pr`` (precision / recall on pool3 with its float16 distance
step). Its FID is the ``fid`` row and its Inception Score the ``is`` row under ``preset="adm"``
(splits of 5000). The named protocols that fix metrics, options and sample counts
(``fid50k_full``, ...) are in :mod:`fastgan.evaluation.protocols`.

:mod:`fastgan.evaluation.registry` joins this module's :data:`ROWS` into
:data:`~fastgan.evaluation.registry.METRICS`; :mod:`fastgan.evaluation.spec` explains the fields.
"""

from __future__ import annotations

from typing import Any

from fastgan.evaluation.spec import MetricSpec, Option

__all__ = ["ROWS", "ADM_METRICS"]

#: what ``preset="adm"`` computes when no metric is named: the evaluator's five numbers
ADM_METRICS: tuple[str, ...] = ("fid", "sfid", "is", "adm_pr")


def _sfid(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import SFID

    return SFID(real_stats=opts.get("real_stats"))


def _adm_pr(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import ADMPrecisionRecall

    return ADMPrecisionRecall(
        k=opts["k"],
        fp16=opts["fp16"],
        row_batch_size=opts["row_batch_size"],
        col_batch_size=opts["col_batch_size"],
    )


ROWS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "sfid",
        ("sfid",),
        "spatial",
        "stats",
        (),
        _sfid,
        "sFID: Frechet distance of the 2023-d spatial Inception features (ADM evaluator)",
    ),
    MetricSpec(
        "adm_pr",
        ("adm_precision", "adm_recall"),
        "inception",
        "bank",
        (
            Option("k", "pr_k", minimum=1),
            Option("fp16", "pr_fp16"),
            Option("row_batch_size", default=10000, minimum=1),
            Option("col_batch_size", default=10000, minimum=1),
        ),
        _adm_pr,
        "precision / recall as the ADM evaluator (pool3, k = 3, float16 distances under preset adm)",
        rename={"precision": "adm_precision", "recall": "adm_recall"},
    ),
)
