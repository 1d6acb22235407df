"""Adapters that plug fastgan's metrics into other frameworks.

* :mod:`fastgan.integrations.torchmetrics` -- ``torchmetrics.Metric`` classes (FID, KID, IS,
  precision / recall / density / coverage) computed by fastgan; needs the optional
  ``torchmetrics`` dependency (``pip install "fastgan[torchmetrics]"``).

Nothing is imported here: ``import fastgan`` and ``import fastgan.integrations`` never import
an optional framework.
"""

from __future__ import annotations

__all__: list[str] = []
