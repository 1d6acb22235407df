"""One-time conversion of a reference's weights file into fastgan's weights-only state dict.

Above the networks (it builds them from :data:`fastgan.features.networks.NETWORKS` to check the
result), below nothing: :mod:`fastgan.features.weights` loads and verifies files and knows no
network. ``fastgan convert-weights`` is this function on the command line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fastgan._compat import renamed_kwarg
from fastgan.features.networks import NETWORKS
from fastgan.features.weights import (
    TRUST_NOTE,
    WeightsError,
    check_state_dict,
    is_torchscript,
    load_state_dict_file,
    load_weights_into,
)

__all__ = ["convert_weights", "TRUST_NOTE"]

logger = logging.getLogger(__name__)


def _map_by_order(
    model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str
) -> tuple[dict[str, torch.Tensor], int]:
    """Pair the source tensors with the model's entries in order, shape by shape."""
    skip = ".num_batches_tracked"
    target = [(k, v) for k, v in model.state_dict().items() if not k.endswith(skip)]
    # BatchNorm step counters (0-d integers) hold no weights, whatever their name
    src = [
        (k, v)
        for k, v in sd.items()
        if not (k.endswith(skip) or (v.dim() == 0 and not v.is_floating_point()))
    ]
    if len(src) < len(target):
        raise WeightsError(
            f"{source}: holds {len(src)} tensors, {type(model).__name__} needs {len(target)}; "
            "not this architecture"
        )
    out: dict[str, torch.Tensor] = {}
    for (tk, tv), (sk, sv) in zip(target, src):
        if tuple(tv.shape) != tuple(sv.shape):
            raise WeightsError(
                f"{source}: cannot map by order: source {sk!r} {tuple(sv.shape)} would become "
                f"{tk!r} {tuple(tv.shape)}; not this architecture (or its tensors are stored in another order)"
            )
        out[tk] = sv
    return out, len(src) - len(target)


@renamed_kwarg("model", "extractor")
def convert_weights(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    extractor: str,
    *,
    trusted: bool = False,
) -> dict[str, Any]:
    """One-time conversion of a weights file into a weights-only state dict with fastgan's names.

    Args:
        src: a state dict file in a reference's layout (read weights-only), or a TorchScript
            archive (read with ``torch.jit.load``, only with ``trusted=True``: see :data:`TRUST_NOTE`).
        dst: output file (``torch.save`` of a ``{name: Tensor}`` dict).
        extractor: ``"inception"`` (:class:`~fastgan.features.InceptionV3FID`) or ``"vgg16"``
            (:class:`~fastgan.features.VGG16FC2`).
        trusted: allow reading a TorchScript archive.

    Returns:
        a summary: ``{"source": "state_dict" | "torchscript", "mapping": "names" | "order",
        "tensors": int, "dropped": int}`` (``dropped``: trailing source tensors without a
        counterpart, e.g. a 1000-way classifier head).

    Names are mapped as :func:`check_state_dict` does (``module.`` / ``model.`` prefixes,
    pytorch-fid's ``blocks.`` layout); if that fails, tensors are paired in order, each pair
    checked for equal shape. The written file is loaded back into the model with strict checks.
    """
    if extractor not in NETWORKS:
        raise ValueError(f"extractor: must be {' or '.join(repr(k) for k in NETWORKS)}, got {extractor!r}")
    p = Path(src)
    if not p.is_file():
        raise WeightsError(f"{p}: does not exist")
    if is_torchscript(p):
        if not trusted:
            raise WeightsError(
                f"{p}: is a TorchScript archive; converting it needs trusted=True. {TRUST_NOTE}"
            )
        logger.warning("reading TorchScript archive %s (trusted by the caller)", p)
        sd: dict[str, torch.Tensor] = dict(torch.jit.load(str(p), map_location="cpu").state_dict())
        kind = "torchscript"
    else:
        sd = load_state_dict_file(p)
        kind = "state_dict"
    net = NETWORKS[extractor](random_init=True)
    ignore = ("classifier.6.",) if extractor == "vgg16" else ()
    try:
        out = check_state_dict(net, sd, ignore_unexpected=ignore, source=str(p))
        mapping, dropped = "names", len(sd) - len(out)
    except WeightsError:
        out, dropped = _map_by_order(net, sd, str(p))
        mapping = "order"
    out = {k: v.detach().clone().contiguous() for k, v in out.items()}
    torch.save(out, dst)
    load_weights_into(net, dst)  # strict, key by key
    return {"source": kind, "mapping": mapping, "tensors": len(out), "dropped": max(dropped, 0)}
