"""The state of the metrics that need three feature sets (C_T, FLD, FLS): training, generated and a
held-out real test set.

``update(features, real=True)`` fills the training bank, ``real=False`` the generated bank (the
:class:`~fastgan.metrics.Metric` protocol); the test set is given at construction (``test=``)
or added with :meth:`TestSetMetric.update_test`. ``merge`` / ``sync`` / ``state_dict`` carry
the three banks.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from fastgan._checks import check_features
from fastgan.metrics._base import BankMetric, all_gather_rows, world_size

__all__ = ["TestSetMetric", "missing_test_message"]


def missing_test_message(metric: str) -> str:
    """The error text when ``metric`` has no test set: how to give one."""
    return (
        f"{metric}: needs a held-out real test set besides the training set (real) and the generated "
        f"set (fake): pass test= (features [N, D]), options={{'{metric}': {{'test': features or a "
        "feature file}} to fastgan.evaluate, or --real-test PATH to fastgan eval"
    )


class TestSetMetric(BankMetric):
    """Feature banks of the training set (real), the generated set (fake) and a real test set.

    Args:
        test (Tensor[n, D] | ndarray | None): the held-out real test features.

    Under ``torch.distributed``, :meth:`sync` gathers the test bank like the other two: give each
    rank its own share of the test rows (``test=`` or :meth:`update_test`), not the whole set.
    """

    __test__ = False  # not a pytest test class
    #: the metric's name in error messages
    metric_name = "metric"

    def __init__(self, *, test: Any = None) -> None:
        super().__init__()
        self.test_features: list[torch.Tensor] = []
        if test is not None:
            self.update_test(test)

    def update_test(self, features: Any) -> None:
        """Append a batch of held-out real test features (Tensor[B, D], stored detached)."""
        t = check_features(features, "test features").detach()
        ref = next((b[0] for b in (self.test_features, self.real_features, self.fake_features) if b), None)
        if ref is not None and ref.shape[1] != t.shape[1]:
            raise ValueError(
                f"test features: feature dimension {t.shape[1]} differs from earlier batches ({ref.shape[1]})"
            )
        self.test_features.append(t)

    def _test_bank(self) -> torch.Tensor:
        if not self.test_features:
            raise ValueError(missing_test_message(self.metric_name))
        parts = self.test_features
        return parts[0] if len(parts) == 1 else torch.cat([p.to(parts[0].device) for p in parts])

    def reset(self) -> None:
        """Drop the three banks."""
        super().reset()
        self.test_features = []

    def merge(self, other: Any) -> TestSetMetric:
        """Append ``other``'s three banks after this one's (in place); returns self."""
        super().merge(other)
        self.test_features.extend(other.test_features)
        return self

    def sync(self, group: Any = None) -> TestSetMetric:
        """Gather the three banks from every rank of ``group`` (rank order)."""
        if world_size(group) == 1:
            return self
        dev: Optional[torch.device] = next(
            (b[0].device for b in (self.real_features, self.fake_features, self.test_features) if b), None
        )
        super().sync(group)
        local = torch.cat(self.test_features) if self.test_features else None
        gathered = all_gather_rows(local, group, device=dev)
        self.test_features = [] if gathered is None else [gathered]
        return self

    def state_dict(self) -> dict[str, Any]:
        """``{"real", "fake", "test"}``: CPU copies of the banks (None when empty)."""
        out = super().state_dict()
        out["test"] = self._test_bank().detach().cpu().clone() if self.test_features else None
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the three banks from :meth:`state_dict` output."""
        if "test" not in state:
            raise KeyError("state: missing key 'test'")
        super().load_state_dict(state)
        self.test_features = []
        if state["test"] is not None:
            self.update_test(state["test"])
