"""``fastgan.backends()``: what this installation can run."""

from __future__ import annotations

import platform
import sys
from typing import Any

import numpy as np
import torch

from fastgan import _ext
from fastgan._dispatch import backend_setting


def _faiss() -> dict[str, Any]:
    """faiss as the k-NN engines see it (:func:`fastgan.metrics.knn.faiss_info`)."""
    try:
        from fastgan.metrics.knn import faiss_info

        return faiss_info()
    except Exception as exc:  # never let the report fail
        return {"installed": False, "flavour": None, "version": None, "gpus": 0, "error": str(exc)}


def _knn_impl() -> str:
    """What ``impl="auto"`` of the exact k-NN metrics (PRDC, realism) runs."""
    try:
        from fastgan.metrics.knn import default_impl

        return default_impl()
    except Exception as exc:  # never let the report fail
        return f"unavailable ({exc})"


def backends() -> dict[str, Any]:
    """Report the available backends.

    Returns:
        dict with keys

        * ``cpp`` (bool): the C++ kernels of ``fastgan._C`` are loaded.
        * ``cuda_compiled`` (bool): ``_C`` contains CUDA kernels.
        * ``cuda_usable`` (bool): those kernels see a GPU.
        * ``cuda`` (dict): device count, runtime/driver versions and a message.
        * ``extension_error`` (str | None): why ``_C`` failed to load.
        * ``backend_setting`` (str): ``FASTGAN_BACKEND`` (auto / ext / torch).
        * ``faiss`` (dict): installed, flavour (cpu / gpu), version, GPU count.
        * ``knn_impl`` (str): what ``impl="auto"`` of the exact k-NN metrics runs.
        * ``torch_cuda`` (bool): torch sees a GPU.
        * ``versions`` (dict): fastgan, the loaded extension's (None without it; equal to
            fastgan's for a matching build), torch, numpy, python, platform.
        * ``weights`` (dict): the weights cache folder, ``offline`` (``FASTGAN_OFFLINE``) and the
            ``mirror`` (``FASTGAN_WEIGHTS_MIRROR``) of :mod:`fastgan.features.hub`.

    Example:
        >>> import fastgan
        >>> isinstance(fastgan.backends()["cpp"], bool)
        True
    """
    from fastgan import __version__
    from fastgan.features import hub
    from fastgan.features.weights import cache_dir

    return {
        "cpp": _ext.HAS_EXT,
        "cuda_compiled": _ext.HAS_CUDA_EXT,
        "cuda_usable": _ext.cuda_usable(),
        "cuda": _ext.cuda_info(),
        "extension_error": _ext.EXT_ERROR,
        "backend_setting": backend_setting(),
        "faiss": _faiss(),
        "knn_impl": _knn_impl(),
        "torch_cuda": torch.cuda.is_available(),
        "versions": {
            "fastgan": __version__,
            "extension": getattr(_ext._C, "__version__", None),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "weights": {"cache": str(cache_dir()), "offline": hub.offline(), "mirror": hub.mirror()},
    }


def format_backends(info: dict[str, Any]) -> str:
    """Human-readable multi-line summary of :func:`backends`."""
    cuda = info["cuda"]
    faiss = info["faiss"]
    lines = [
        f"fastgan {info['versions']['fastgan']} (torch {info['versions']['torch']}, "
        f"numpy {info['versions']['numpy']}, python {info['versions']['python']})",
        f"  C++ kernels loaded   : {'yes' if info['cpp'] else 'no'}"
        + (f" ({info['extension_error']})" if info["extension_error"] else ""),
        f"  CUDA kernels compiled: {'yes' if info['cuda_compiled'] else 'no'}",
        f"  CUDA usable          : {'yes' if info['cuda_usable'] else 'no'}"
        + (f" ({cuda['message']})" if cuda.get("message") else f" ({cuda['device_count']} device(s))"),
        f"  torch sees CUDA      : {'yes' if info['torch_cuda'] else 'no'}",
        "  faiss                : "
        + (
            f"{faiss['flavour']} {faiss['version']} ({faiss['gpus']} GPU(s))"
            if faiss["installed"]
            else "not installed"
        ),
        f"  FASTGAN_BACKEND      : {info['backend_setting']}",
        f"  weights cache        : {info['weights']['cache']}"
        + (" (offline)" if info["weights"]["offline"] else "")
        + (f" (mirror {info['weights']['mirror']})" if info["weights"]["mirror"] else ""),
    ]
    ext = info["versions"].get("extension")
    if ext is not None and ext != info["versions"]["fastgan"]:
        lines.append(f"  warning: the loaded fastgan._C is version {ext}: rebuild it (pip install .)")
    return "\n".join(lines)
