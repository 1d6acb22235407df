"""The row of the metric table for perceptual path length (``ppl``), the one metric of a generator
rather than of two feature sets, and its stage in :func:`fastgan.evaluate`.

``ppl`` has ``needs="generator"`` and ``state="generator"``: it reads no embedding. It needs
``fake`` to be a :class:`~fastgan.evaluation.Sampler` (:func:`check_generator_input` says so,
naming the argument, for any other input; ``fastgan eval`` takes folders and files only, so it
gets the same message); with only generator metrics requested, ``real`` may be None (it is not
read). :func:`generator_metric` measures this rank's share of the paths
(``[r n / W, (r + 1) n / W)``; each path depends only on the seed and its index), gathers the
distances of every rank and computes the value; the LPIPS-VGG16 network is built there, on the
Sampler's device (its weights: ``options={"ppl": {"weights": ..., "lin_weights": ...}}``, else
the known files).
"""

from __future__ import annotations

from typing import Any, Optional

from fastgan.evaluation.spec import MetricSpec, Option

__all__ = ["GENERATOR_METRICS", "ROWS", "build_distance", "check_generator_input", "generator_metric"]


def _ppl(opts: dict[str, Any]) -> Any:
    from fastgan.metrics import PerceptualPathLength

    overrides = {k: opts[k] for k in ("epsilon", "sampling", "crop") if opts.get(k) is not None}
    return PerceptualPathLength(
        convention=opts["convention"], space=opts.get("space"), seed=opts.get("seed"), **overrides
    )


def build_distance(opts: dict[str, Any], device: Any) -> Any:
    """The LPIPS-VGG16 network of the ``ppl`` options (resized as the convention says), on ``device``."""
    from fastgan.features.lpips import LPIPSVGG16
    from fastgan.metrics.path_length import CONVENTIONS

    resize = CONVENTIONS[opts["convention"]]["resize"]
    net = LPIPSVGG16(weights=opts.get("weights"), lin_weights=opts.get("lin_weights"), resize=resize)
    return net.to(device)


ROWS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ppl",
        ("ppl", "ppl_std"),
        "generator",
        "generator",
        (
            Option("convention", default="stylegan3"),
            Option("n", minimum=1),
            Option("epsilon"),
            Option("sampling"),
            Option("space"),
            Option("crop"),
            Option("seed", keyword="seed"),
            Option("weights"),
            Option("lin_weights"),
        ),
        _ppl,
        "perceptual path length of a generator (LPIPS-VGG16; fake = a Sampler)",
    ),
)

#: the metrics that read the generator itself (fake must be a Sampler)
GENERATOR_METRICS = tuple(s.name for s in ROWS)


def check_generator_input(names: list[str], real: Any, fake: Any) -> Any:
    """The ``real`` input to open: ``fake`` when it is None and every requested metric reads the
    generator (nothing is read from it), else ``real``.

    Raises:
        ValueError naming ``fake`` when a generator metric is requested and ``fake`` is not a Sampler.
    """
    wanted = [m for m in names if m in GENERATOR_METRICS]
    if not wanted:
        return real
    from fastgan.evaluation.sampler import Sampler

    if not isinstance(fake, Sampler):
        raise ValueError(
            f"fake: {', '.join(wanted)} measures a generator: pass fake=fastgan.Sampler(G, z_dim, n=...) "
            f"(got {type(fake).__name__}: images and features hold no latent paths); on the command line: "
            "fastgan eval --sampler MODULE:NAME --metrics ppl"
        )
    if real is None and len(wanted) == len(names):
        return fake
    return real


def generator_metric(
    run: Any, spec: MetricSpec, sampler: Any, opts: dict[str, Any], progress: Optional[bool]
) -> dict[str, float]:
    """One generator metric: this rank's paths measured, the distances of every rank gathered."""
    metric = spec.factory(opts)
    metric.distance = build_distance(opts, sampler.device)
    n = int(opts["n"]) if opts.get("n") is not None else int(sampler.n)
    start, stop = run.rank * n // run.world, (run.rank + 1) * n // run.world
    seed = opts["seed"] if opts.get("seed") is not None else sampler.seed
    if stop > start:
        metric.measure(sampler, start, stop, n=n, seed=seed)
    metric.sync(run.group)
    return spec.result(metric.compute())
