"""The arguments of :func:`fastgan.evaluate` checked: the device, the weights, the extractor name,
the seed and the shared metric keywords."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any, Optional

import torch

from fastgan._checks import check_positive_int
from fastgan.evaluation.registry import given_options, keyword_targets

__all__ = ["check_device", "weights_map"]

#: names of the Inception network (lower case, without "-" / "_")
_INCEPTION_ALIASES = ("inception", "inceptionv3")


def _check_optional_int(value: Any, name: str, minimum: int = 1) -> Optional[int]:
    return None if value is None else check_positive_int(value, name, minimum=minimum)


def check_device(device: Any, name: str = "device") -> Optional[torch.device]:
    """``device`` as a ``torch.device`` that exists here (None stays None), else a one-line ValueError
    naming ``name`` (``"device"``; the command line passes ``"--device"``).

    Refused: a string torch cannot parse (``"foo"``), CUDA without a usable GPU, a GPU index
    beyond the ones present, MPS where it is not available, any other device type on which an
    empty tensor cannot be created.
    """
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)) or isinstance(device, bool):
        raise ValueError(f"{name}: expected a device name such as 'cpu' or 'cuda:0', got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if len(why) > 120:
            why = why[:117] + "..."
        raise ValueError(
            f"{name}: {str(device)!r} is not a torch device (e.g. cpu, cuda, cuda:1): {why}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}: {str(device)!r}: no CUDA GPU is available here "
                "(torch.cuda.is_available() is False); use cpu"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"{name}: {str(device)!r}: there {'is' if count == 1 else 'are'} only {count} "
                f"CUDA device(s) here (cuda:0 .. cuda:{count - 1})"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{name}: {str(device)!r}: MPS is not available here; use cpu")
    elif dev.type not in ("cpu", "meta"):
        try:
            torch.empty(0, device=dev)
        except Exception as exc:  # whatever the backend raises: the device is not usable
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise ValueError(f"{name}: {str(device)!r} is not usable here: {why}") from None
    return dev


def weights_map(weights: Any, primary: str) -> dict[str, Optional[str]]:
    """``weights=``: a path (for the primary feature network) or ``{extractor name: path}``."""
    if weights is None:
        return {}
    if isinstance(weights, (str, os.PathLike)):
        out: dict[str, Optional[str]] = {primary: os.fspath(weights)}
    elif isinstance(weights, Mapping):
        out = {}
        for key, path in weights.items():
            if not isinstance(key, str):
                raise TypeError(f"weights: keys must be extractor names (str), got {type(key).__name__}")
            out[key] = None if path is None else os.fspath(path)
    else:
        raise TypeError(
            f"weights: expected a path or a dict {{extractor: path}}, got {type(weights).__name__}"
        )
    for key, path in out.items():
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"weights: {path} ({key}): no such file")
    return out


def _check_seed(seed: Any) -> Optional[int]:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")
    return seed  # type: ignore[no-any-return]


def _check_extractor(extractor: Any) -> Optional[str]:
    if extractor is not None and not isinstance(extractor, str):
        raise TypeError(f"extractor: expected a name (str) or None, got {type(extractor).__name__}")
    if extractor is not None and extractor.lower().replace("-", "").replace("_", "") in _INCEPTION_ALIASES:
        return "inception"  # the array name embed() gives Inception, whatever alias was used
    return extractor


def _resolve_given(
    names: list[str],
    options: Optional[Mapping[str, Mapping[str, Any]]],
    *,
    k: Any,
    kid_subsets: Any,
    kid_subset_size: Any,
    splits: Any,
    seed: Any,
) -> dict[str, dict[str, Any]]:
    """The options the caller gave, per metric (:func:`given_options`), the shared keywords checked
    (``k=`` warns: it is deprecated)."""
    if k is not None:
        warnings.warn(
            f"evaluate: k= is deprecated; it set k of {', '.join(keyword_targets('k', names)) or 'no metric'}"
            "; pass options={'prdc': {'k': ...}, 'pr': {...}, 'p_precision_recall': {...}}",
            DeprecationWarning,
            stacklevel=3,
        )
    return given_options(
        names,
        options,
        k=_check_optional_int(k, "k"),
        kid_subsets=_check_optional_int(kid_subsets, "kid_subsets"),
        kid_subset_size=_check_optional_int(kid_subset_size, "kid_subset_size", minimum=2),
        splits=_check_optional_int(splits, "splits"),
        seed=_check_seed(seed),
    )


def _check_loader(batch_size: Any, num_workers: Any) -> int:
    """``batch_size`` checked and returned; ``num_workers`` a non-negative integer."""
    batch_size = check_positive_int(batch_size, "batch_size")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: must be a non-negative integer, got {num_workers!r}")
    return batch_size
