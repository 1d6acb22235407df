"""The third input of :func:`fastgan.evaluate`: the held-out real test set of C_T, FLD and FLS.

Given as the option ``test`` of those metrics (``options={"fld": {"test": X}}``,
``fastgan eval --real-test PATH``). Features (an ``[N, D]`` array / tensor or a feature file) are
read by the rows' ``fit`` hook (:mod:`fastgan.evaluation.rows_memorization`); images (a folder, a
file list, an image stack) are embedded here, by :func:`fastgan.evaluation.embed.embed` with the
settings of stage 2 (:attr:`fastgan.evaluation.stages._Run.embed_kw`: the resolved preset, the
weights, the networks already built, the batch size and the cache), into the array the metric
reads from the real side. Each rank embeds the whole test set (it is not sharded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from fastgan.evaluation.registry import METRICS
from fastgan.evaluation.rows_memorization import TEST_SET_METRICS, TestFeatures
from fastgan.evaluation.stages import _array_for, _extractors_for, _Inputs, _Run

__all__ = ["embed_test_sets"]


def embed_test_sets(
    run: _Run, inputs: _Inputs, given: dict[str, dict[str, Any]], extractor: Optional[str]
) -> None:
    """Replace every image test set in ``given`` (per-metric given options, updated in place) by its
    embedding, a :class:`~fastgan.evaluation.rows_memorization.TestFeatures` that reports the path.

    Raises:
        ValueError: the test set holds images but the real input is features (or statistics), or
            the test input is statistics.
    """
    from fastgan.evaluation.embed import embed
    from fastgan.evaluation.sources import open_source

    done: dict[tuple[str, str], Any] = {}
    for name in inputs.names:
        opts = given.get(name) or {}
        value = opts.get("test")
        if (
            name not in TEST_SET_METRICS
            or isinstance(value, TestFeatures)
            or not isinstance(value, (str, Path))
        ):
            continue
        where = f"options[{name!r}]['test']"
        src = open_source(value, name=where)
        if src.kind == "stats":
            raise ValueError(
                f"{where}: {value} holds statistics (mu, sigma); {name} needs per-sample test features"
            )
        if src.kind != "images":
            continue  # features: read by the row's fit hook
        if inputs.real.kind != "images":
            raise ValueError(
                f"{where}: {value} holds images but the real input is {inputs.real.kind}; give the test set "
                "in the same form as the training set (features, or images embedded by the same network)"
            )
        array = _array_for(METRICS[name], "images", extractor)
        key = (str(value), array)
        if key not in done:
            kw = {**run.embed_kw, "shard": (0, 1)}
            emb = embed(src, extractors=_extractors_for([array], "images"), name=where, **kw)
            done[key] = emb.arrays[array]
        wrapped = TestFeatures(str(value))
        wrapped.features = done[key]
        given[name] = {**opts, "test": wrapped}
