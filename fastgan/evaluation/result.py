"""The result of :func:`fastgan.evaluate`: :class:`EvalResult` (a read-only mapping plus ``info``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Optional

__all__ = ["EvalResult"]


class EvalResult(Mapping[str, float]):
    """The result of :func:`evaluate`: a read-only mapping ``{result key: float}`` plus ``info``.

    Keys are the metrics' result keys in table order (``fid``, ``kid_mean``, ``kid_std``,
    ``precision``, ``recall``, ``density``, ``coverage``, ``pr_precision``, ``pr_recall``,
    ``is_mean``, ``is_std``, ``fd``, ``cmmd``, ...; see :data:`fastgan.evaluation.METRICS`).

    ``info`` (JSON-serialisable dict):

    * ``real`` / ``fake`` (/ ``logits``): each input described (:meth:`Source.describe`: kind,
      path or type, n, fingerprint) plus ``arrays`` (name -> ``[N, D]``) and ``skipped_files``
      (``skip_bad=True``);
    * ``computed``: the metrics computed (names); ``options``: per metric, the conventions used
      (k, KID subsets, IS splits, seed, ...); ``preset``: the preset's name and table row;
    * ``seconds``: ``total``, ``embed_real``, ``embed_fake``, ``network`` (seconds in the
      feature networks, this rank) and one entry per metric;
    * ``notes``: everything the user should know (metrics skipped, sizes reduced);
    * ``checks``: per metric, how a float32 result was checked (KID: ``rounds_checked`` rounds
      recomputed in float64, their largest absolute difference ``max_diff``, the ``tol`` times the
      std over rounds (``spread``) it is held to, and ``fallback`` when the float64 result replaced it);
    * ``world_size``, ``versions`` (fastgan, torch).

    ``to_dict()`` gives ``{"metrics": {...}, **info}``; ``to_json()`` its JSON text;
    ``EvalResult.from_dict`` / ``from_json`` read them back.
    """

    def __init__(self, values: Mapping[str, float], info: Optional[dict[str, Any]] = None) -> None:
        self._values = {str(k): float(v) for k, v in values.items()}
        self.info: dict[str, Any] = dict(info or {})

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def notes(self) -> list[str]:
        """The notes of :attr:`info` (possibly empty)."""
        return list(self.info.get("notes", []))

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics": {key: float}, **info}`` (plain Python values)."""
        return {"metrics": dict(self._values), **self.info}

    def to_json(self, indent: Optional[int] = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or not isinstance(d.get("metrics"), Mapping):
            raise ValueError("d: expected a mapping with a 'metrics' mapping (EvalResult.to_dict output)")
        info = {k: v for k, v in d.items() if k != "metrics"}
        return cls(d["metrics"], info)

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EvalResult):
            return self._values == other._values and self.info == other.info
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v:.6g}" for k, v in self._values.items())
        return f"EvalResult({body})"
