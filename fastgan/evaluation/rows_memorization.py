"""The rows of the metric table for the memorization metrics (is the model copying its training set):
AuthPct, MIFID, the C_T data-copying test, FLD and FLS. ``real`` is the TRAINING set; C_T, FLD and
FLS also read a held-out real test set, the option ``test`` (``options={"fld": {"test": X}}`` with
X an ``[N, D]`` array / tensor or a feature file, or ``fastgan eval --real-test PATH``); a test
set of images is embedded by :func:`fastgan.evaluate`'s own pipeline (:mod:`fastgan.evaluation.test_sets`).
:mod:`fastgan.evaluation.registry` joins the row modules into
:data:`~fastgan.evaluation.registry.METRICS`; :mod:`fastgan.evaluation.spec` explains the fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from fastgan.evaluation.spec import MetricSpec, Option

__all__ = ["ROWS", "TEST_SET_METRICS", "TestFeatures", "load_test_features"]

#: the metrics that read the ``test`` option (a held-out real test set)
TEST_SET_METRICS = ("ct", "fld", "fls")


class TestFeatures(str):
    """A loaded test set in the options: the text (the path, or ``"features [n, D]"``) is what the
    result's ``options`` report (JSON-serialisable), :attr:`features` the tensor the metric reads."""

    __test__ = False  # not a pytest test class
    features: torch.Tensor


def load_test_features(value: Any, metric: str) -> Optional[torch.Tensor]:
    """The test features of option ``test``: None, a :class:`TestFeatures`, an ``[N, D]`` tensor /
    array, or the path of a feature file (``.npy`` / ``.npz`` / ``.pt``, read as ``fastgan eval``
    reads feature inputs). Images reach here only outside :func:`fastgan.evaluate` (which embeds
    them first): they are refused with the way to embed them."""
    if value is None:
        return None
    if isinstance(value, TestFeatures):
        return value.features
    if isinstance(value, (torch.Tensor, np.ndarray)):
        from fastgan._checks import check_features

        return check_features(value, f"options[{metric!r}]['test']", min_rows=2)
    if isinstance(value, (str, Path)):
        from fastgan.evaluation.array_files import read_array_file

        p = Path(value)
        where = f"options[{metric!r}]['test'] ({value})"
        if not p.is_file():
            raise ValueError(
                f"{where}: expected a feature file (.npy / .npz / .pt holding [N, D] floats); embed test "
                "images first with fastgan.features.extract_features(folder, extractor=..., preset=...) "
                "(the network and preset of the evaluation) and pass the features"
            )
        kind, data = read_array_file(p, name=where)
        if kind != "features":
            raise ValueError(f"{where}: holds {kind}, not per-sample features [N, D]")
        return data  # type: ignore[no-any-return]
    raise TypeError(
        f"options[{metric!r}]['test']: expected an [N, D] array or tensor or a feature file path, "
        f"got {type(value).__name__}"
    )


def _fit_test(opts: dict[str, Any], n_real: int, n_fake: int, given: frozenset[str]) -> list[str]:
    """Load the test set once; the options then report its path or shape (see :class:`TestFeatures`)."""
    value = opts.get("test")
    if value is None or isinstance(value, TestFeatures):
        return []
    t = load_test_features(value, "test")
    assert t is not None
    text = str(value) if isinstance(value, (str, Path)) else f"features {list(t.shape)}"
    wrapped = TestFeatures(text)
    wrapped.features = t
    opts["test"] = wrapped
    return []


# ------------------------------------------------------------------------------------ factories
def _authpct(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import AuthPct

    return AuthPct(progress=opts.get("progress"))


def _mifid(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import MIFID

    return MIFID(cosine_distance_eps=opts["cosine_distance_eps"], progress=opts.get("progress"))


def _ct(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import CTScore

    return CTScore(test=load_test_features(opts["test"], "ct"), cells=opts["cells"], seed=opts["seed"])


def _fld(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import FLD

    return FLD(
        test=load_test_features(opts["test"], "fld"),
        eval_set=opts["eval_set"],
        gen_size=opts["gen_size"],
        seed=opts["seed"],
    )


def _fls(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import FLS

    return FLS(test=load_test_features(opts["test"], "fls"), seed=opts["seed"])


# ------------------------------------------------------------------------------------ options
_TEST = Option("test", default=None)
_SEED = Option("seed", default=0, keyword="seed")

#: the rows, in the order results are reported
ROWS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "authpct",
        ("authpct",),
        "extractor",
        "bank",
        (),
        _authpct,
        "AuthPct: % of generated samples farther from their nearest training sample than it is from its own",
    ),
    MetricSpec(
        "mifid",
        ("mifid",),
        "inception",
        "bank",
        (Option("cosine_distance_eps", default=0.1),),
        _mifid,
        "memorization-informed FID (torchmetrics; FID / mean minimum cosine distance below 0.1)",
    ),
    MetricSpec(
        "ct",
        ("ct",),
        "extractor",
        "bank",
        (_TEST, Option("cells", default=3, minimum=1), _SEED),
        _ct,
        "C_T data-copying test (< 0: copying); needs a real test set (--real-test)",
        fit=_fit_test,
    ),
    MetricSpec(
        "fld",
        ("fld",),
        "extractor",
        "bank",
        (_TEST, Option("eval_set", default="test"), Option("gen_size", default=10000, minimum=1), _SEED),
        _fld,
        "feature likelihood divergence (marcojira/fld; lower is better); needs a real test set (--real-test)",
        fit=_fit_test,
    ),
    MetricSpec(
        "fls",
        ("fls",),
        "extractor",
        "bank",
        (_TEST, _SEED),
        _fls,
        "feature likelihood score (dgm-eval; higher is better); needs a real test set (--real-test)",
        fit=_fit_test,
    ),
)
