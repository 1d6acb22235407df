"""Registration of fastgan's native ops: the one helper behind every op with a compiled kernel.

Each op is one forward function (which picks the compiled kernel or the torch reference, see
:mod:`fastgan._dispatch`) and one backward function, registered twice:

* ``torch.library.custom_op("fastgan::<name>")`` with ``register_fake`` (output shapes for
  tracing) and ``register_autograd``: the path under ``torch.compile(fullgraph=True)``, where the
  op stays one node of the graph;
* an eager ``torch.autograd.Function`` twin running the same forward, setup and backward
  functions, without the custom-op dispatch layers (their Python cost per call is comparable to
  the kernels at GAN batch sizes).

One name per op runs from ``csrc`` to Python: the binding ``fastgan._C.<name>_cpu`` /
``<name>_cuda``, the custom op ``fastgan::<name>``, the wrapper ``<name>_ext`` and the reference
``<name>_ref``.

Registration only uses ``torch.library`` (imported by ``torch`` itself): it does not import the
compiler stack (``torch._dynamo``), and eager calls never reach it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch

__all__ = ["NativeOp"]


def _twin(
    name: str,
    forward: Callable[..., Any],
    setup_context: Callable[[Any, tuple[Any, ...], Any], None],
    backward: Callable[..., Any],
) -> type[torch.autograd.Function]:
    """The eager autograd.Function with the op's arguments, forward, setup and backward."""

    def fwd(ctx: Any, *args: Any) -> Any:
        out = forward(*args)
        setup_context(ctx, args, out)
        return out

    def bwd(ctx: Any, *grads: Any) -> Any:
        return backward(ctx, *grads)

    doc = f"Eager twin of fastgan::{name}."
    body = {"forward": staticmethod(fwd), "backward": staticmethod(bwd), "__doc__": doc}
    return type(f"{name}_eager", (torch.autograd.Function,), body)


class NativeOp:
    """A native op: the registered custom op (:attr:`op`) and its eager twin (:attr:`eager`).

    Args:
        name: the op's name; registered as ``fastgan::<name>``.
        forward: the implementation, fully type-annotated (``torch.library`` infers the schema
            from the annotations); returns a Tensor or a tuple of Tensors.
        fake: same signature as ``forward``; returns empty tensors of the output shapes and dtypes.
        setup_context: ``(ctx, inputs, output) -> None``, saves what ``backward`` needs.
        backward: ``(ctx, *grad_outputs) -> tuple`` with one gradient (or None) per input.
        eager: an autograd.Function to use as the eager twin instead of the one built from
            ``forward`` / ``setup_context`` / ``backward``; it must compute the same values and
            gradients. When its ``apply`` does not take the op's arguments, call :attr:`op` and
            :attr:`eager` directly instead of the instance.

    Calling the instance with the op's arguments runs :attr:`op` while ``torch.compile`` traces
    (graphs stay whole) and ``eager.apply`` otherwise.
    """

    def __init__(
        self,
        name: str,
        forward: Callable[..., Any],
        *,
        fake: Callable[..., Any],
        setup_context: Callable[[Any, tuple[Any, ...], Any], None],
        backward: Callable[..., Any],
        eager: Optional[type[torch.autograd.Function]] = None,
    ) -> None:
        self.name = name
        self.op = torch.library.custom_op(f"fastgan::{name}", forward, mutates_args=())
        self.op.register_fake(fake)
        self.op.register_autograd(backward, setup_context=setup_context)
        self.eager = eager if eager is not None else _twin(name, forward, setup_context, backward)

    def __call__(self, *args: Any) -> Any:
        if torch.compiler.is_compiling():
            return self.op(*args)
        return self.eager.apply(*args)

    def __repr__(self) -> str:
        return f"NativeOp(fastgan::{self.name})"
