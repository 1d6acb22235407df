"""The blocks a page asks for with ``<!-- gen:NAME -->``, generated at build time.

Each entry of :data:`TABLES` returns Markdown. The data comes from the code (the divergence
registry, the metric table of ``fastgan.evaluation``) or from ``bench/results/*.json`` (through
:mod:`gen.bench` and ``tests/peers/parity_table.py``), never typed into a page.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any, Callable

from gen import bench, figures

#: the formulas of f-GAN (Nowozin, Cseke, Tomioka 2016, Tables 1, 2 and 6) in LaTeX, per registry
#: name: generator f(u), output activation g_f(v), conjugate f*(t). The domain, f'(1) and what
#: each entry measures are read from the registry itself; a registry name without a row here
#: fails the build.
FORMULAS: dict[str, tuple[str, str, str]] = {
    "kl": (r"u \log u", r"v", r"e^{t-1}"),
    "reverse_kl": (r"-\log u", r"-e^{-v}", r"-1-\log(-t)"),
    "pearson": (r"(u-1)^2", r"v", r"\tfrac{1}{4}t^2+t"),
    "neyman": (r"\frac{(1-u)^2}{u}", r"1-e^{v}", r"2-2\sqrt{1-t}"),
    "squared_hellinger": (r"(\sqrt{u}-1)^2", r"1-e^{v}", r"\frac{t}{1-t}"),
    "jeffrey": (r"(u-1)\log u", r"v", r"W(e^{1-t})+\frac{1}{W(e^{1-t})}+t-2"),
    "js": (r"u\log u-(u+1)\log\frac{u+1}{2}", r"\log 2-\log(1+e^{-v})", r"-\log(2-e^{t})"),
    "gan": (r"u\log u-(u+1)\log(u+1)", r"-\log(1+e^{-v})", r"-\log(1-e^{t})"),
    "total_variation": (r"\tfrac{1}{2}\lvert u-1\rvert", r"\tfrac{1}{2}\tanh v", r"t"),
    "alpha": (
        r"\frac{u^\alpha-1-\alpha(u-1)}{\alpha(\alpha-1)}",
        r"\frac{1}{1-\alpha}-\log(1+e^{-v})\ (\alpha<1);\ v\ (\alpha>1)",
        r"\frac{1}{\alpha}\max(0,(\alpha-1)t+1)^{\frac{\alpha}{\alpha-1}}-\frac{1}{\alpha}",
    ),
}


def _num(x: float) -> str:
    if math.isinf(x):
        return r"\infty" if x > 0 else r"-\infty"
    for value, text in ((math.log(2), r"\log 2"), (-math.log(2), r"-\log 2")):
        if abs(x - value) < 1e-12:
            return text
    return f"{x:g}"


def _domain(d: Any) -> str:
    (lo, hi), (lo_c, hi_c) = d.domain, d.domain_closed
    le, lt, ge, gt = r"\le", "<", r"\ge", ">"
    if math.isinf(lo) and math.isinf(hi):
        return r"\mathbb{R}"
    if math.isinf(lo):
        return f"t {le if hi_c else lt} {_num(hi)}"
    if math.isinf(hi):
        return f"t {ge if lo_c else gt} {_num(lo)}"
    return f"{_num(lo)} {le if lo_c else lt} t {le if hi_c else lt} {_num(hi)}"


def divergence_table() -> str:
    lines = [
        "| name (aliases) | $f(u)$ | $g_f(v)$ | $f^*(t)$ | $\\operatorname{dom} f^*$ | $f'(1)$ | estimates |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    from fastgan.divergences import DIVERGENCES

    labels = dict(figures.registry())
    for name, fam in DIVERGENCES.items():
        if name not in FORMULAS:
            raise KeyError(
                f"docs/gen/tables.py: no formulas for the divergence {name!r} (add a FORMULAS row)"
            )
        f, g, conj = FORMULAS[name]
        built = [d for label, d in labels.items() if d.name == name]
        aliases = ", ".join(f"`{a}`" for a in fam.aliases)
        for d in built:
            shown = f"`{name}`" + (f" (alpha = {d.alpha:g})" if d.alpha is not None else "")
            lines.append(
                f"| {shown} ({aliases}) | ${f}$ | ${g}$ | ${conj}$ | ${_domain(d)}$ | ${_num(d.f_prime_at_1)}$ "
                f"| {d.measures.replace('|', chr(92) + '|')} |"
            )
    return "\n".join(lines) + "\n"


def metrics_table() -> str:
    """The metric table of ``fastgan.evaluate`` / ``fastgan eval`` (``fastgan.evaluation.METRICS``)."""
    from fastgan.evaluation import METRICS

    lines = [
        "| name | result keys | reads | in `all` | what |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, spec in METRICS.items():
        keys = ", ".join(f"`{k}`" for k in spec.keys)
        lines.append(
            f"| `{name}` | {keys} | {spec.needs} | {'yes' if spec.in_all else ''} | {spec.description} |"
        )
    return "\n".join(lines) + "\n"


def parity_table() -> str:
    """``tests/peers/parity_table.py`` on ``bench/results/peers_parity.json``."""
    data = bench.load("peers_parity.json")
    if data is None:
        return bench.missing("peers_parity.json")
    bench.need(data, "records", "peers_parity.json", list)
    path = bench.ROOT / "tests" / "peers" / "parity_table.py"
    spec = importlib.util.spec_from_file_location("_fastgan_parity_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return str(module.table(data))
    except (KeyError, TypeError) as e:
        raise bench.BenchFormatError(f"bench/results/peers_parity.json: {type(e).__name__}: {e}") from e


TABLES: dict[str, Callable[[], str]] = {
    "divergence_table": divergence_table,
    "metrics_table": metrics_table,
    "parity_table": parity_table,
    "headline": bench.headline_table,
    "perf_peers": bench.peers_table,
    "perf_modern": lambda: bench.modern_table("modern.json"),
    "perf_modern_quick": lambda: bench.modern_table("modern_quick.json"),
    "perf_memorization": bench.memorization_table,
    "perf_family": bench.family_table,
    "perf_eval": bench.eval_table,
    "perf_embedding": bench.embedding_table,
    "perf_losses": bench.losses_plain_table,
    "perf_cpu": lambda: bench.ops_table("cpu.json"),
    "perf_cuda": lambda: bench.ops_table("cuda.json"),
    "figure_conjugates": lambda: figures.link("figures/conjugates.png", "Fenchel conjugates of the registry"),
    "figure_activations": lambda: figures.link(
        "figures/activations.png", "output activations of the registry"
    ),
    "figure_peer_ratios": lambda: figures.link("figures/peer_ratios.png", "time ratio per reference package"),
    "figure_scaling": lambda: figures.link("figures/scaling.png", "time against the number of samples"),
}
