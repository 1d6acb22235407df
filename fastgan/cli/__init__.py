"""The ``fastgan`` command line (also ``python -m fastgan``).

Subcommands:

* ``fastgan info``: which backends (C++ kernels, CUDA, faiss) this installation has.
* ``fastgan stats FEATURES -o stats.npz``: FID statistics (mean, covariance) of a feature file or
  image folder, saved with :func:`fastgan.metrics.save_stats`; the input is read and embedded as
  ``eval`` reads its inputs (``--preset``, ``--cache``, ``--num-workers``, ``--skip-bad``, ...).
* ``fastgan eval --real R --fake F [--metrics fid,kid,prdc,pr,is,fd,cmmd,...] [--preset P]``:
  evaluate fake against real with :func:`fastgan.evaluate` (same options: ``--cache``,
  ``--num-workers``, ``--skip-bad``, ``--k``, ``--kid-subsets``, ``--splits``, ``--seed``,
  ``--json``, ...). ``R`` / ``F`` are image folders, feature files (``.npy`` / ``.npz`` /
  ``.pt``, ``[N, D]``) or statistics files (``.npz`` with ``mu`` / ``sigma``: FID only). Under
  ``torchrun --nproc_per_node=N -m fastgan eval ...`` the process group is initialised (gloo on
  the CPU, NCCL with ``--device cuda``, one GPU per rank), the inputs are sharded across the
  ranks and rank 0 prints the result.
* ``fastgan demo``: train small f-GANs on a 2-D toy mixture and evaluate them (no data, no weights).

Exit status: 0 on success; 2 on a user error (bad path, malformed file, wrong shape, dimension
mismatch, unknown metric, an argument the library refuses), printed as one line
``fastgan <command>: error: <reason>`` on stderr; any other exception is a bug and propagates
with its traceback.

Modules: :mod:`fastgan.cli.commands` (the subcommands and :func:`main`; inputs are read by
:func:`fastgan.evaluation.open_source` and embedded by :mod:`fastgan.evaluation.embed`),
:mod:`fastgan.cli.parser` (the parser and its option tables), :mod:`fastgan.cli.table` (text tables). Heavy imports (torch, the metrics, the demo) happen
inside the subcommand that needs them.
"""

from __future__ import annotations

from fastgan.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
