"""The fused f-GAN term as a torch custom op (``fastgan::fdiv_term``).

One op computes, in a single pass over the critic outputs, ``coef * term(v)``
(elementwise, or summed) together with ``coef * dterm/dv``, which is saved for
the backward pass: backward is ``grad_out * saved_grad`` with no recomputation.
The op is registered with ``torch.library.custom_op`` + ``register_fake`` +
``register_autograd``, so it works eagerly and under
``torch.compile(fullgraph=True)``. The backend (compiled kernel or the torch
reference in :mod:`fastgan.losses._ref`) is chosen inside the op by
:func:`fastgan._dispatch.use_extension` (op name ``"fgan_loss"``).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from fastgan import _ext
from fastgan._dispatch import use_extension
from fastgan.losses._ref import fdiv_term_ref

__all__ = ["fdiv_term", "fdiv_term_ext", "fdiv_term_eager", "fused_term"]

OP_NAME = "fgan_loss"


def fdiv_term_ext(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool
) -> tuple[Tensor, Tensor]:
    """Run the compiled kernel (CPU or CUDA) on ``x`` (no dispatch, no autograd).

    Shapes: x (Tensor[...]) -> (out Tensor[] if reduce else Tensor[...], grad Tensor[...]).
    """
    C = _ext.assert_has_ext(OP_NAME)
    x = x.detach().contiguous()
    n = x.numel()
    grad = torch.empty_like(x)
    out = torch.empty((), dtype=x.dtype, device=x.device) if reduce else torch.empty_like(x)
    code = _ext.dtype_code(x)
    if x.device.type == "cuda":
        if reduce:
            ws = torch.empty(int(C.fdiv_cuda_workspace_size(n)), dtype=torch.float64, device=x.device)
            ws_ptr, ws_n = ws.data_ptr(), ws.numel()
        else:
            ws, ws_ptr, ws_n = None, 0, 0
        C.fdiv_cuda(x.data_ptr(), out.data_ptr(), grad.data_ptr(), n, out.numel(), grad.numel(), code,
                    int(kernel_id), int(term), bool(reduce), float(alpha), float(coef), ws_ptr, ws_n,
                    _ext.device_index(x), _ext.stream_handle(x))
        del ws  # the stream-ordered caching allocator keeps it valid until the kernel ran
    else:
        C.fdiv_cpu(x.data_ptr(), out.data_ptr(), grad.data_ptr(), n, out.numel(), grad.numel(), code,
                   int(kernel_id), int(term), bool(reduce), float(alpha), float(coef), _ext.num_threads())
    return out, grad


def _consts(kernel_id: int, alpha: float) -> tuple[float, float, float, float]:
    from fastgan.divergences import _alpha_consts

    return _alpha_consts(kernel_id, alpha)


def _fdiv_term_impl(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, impl: str
) -> tuple[Tensor, Tensor]:
    if use_extension(OP_NAME, impl, x, deterministic_cuda=True):
        return fdiv_term_ext(x, kernel_id, term, alpha, coef, reduce)
    return fdiv_term_ref(x, kernel_id, term, _consts(kernel_id, alpha), coef, reduce)


@torch.library.custom_op("fastgan::fdiv_term", mutates_args=())
def fdiv_term(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, impl: str
) -> tuple[Tensor, Tensor]:
    """Fused f-GAN term: ``(coef * [sum] term(x), coef * dterm/dx)``.

    Args:
        x (Tensor[...]): critic outputs (float16/bfloat16/float32/float64).
        kernel_id: fused closed form (``Divergence.kernel_id``).
        term: 0 = ``g_f(x)``, 1 = ``f*(g_f(x))``.
        alpha: alpha-family parameter (ignored by other kernels).
        coef: scale applied to the value and the derivative.
        reduce: sum over all elements (0-d output) instead of elementwise.
        impl: "auto" | "ext" | "torch".

    Returns:
        (out, grad): out Tensor[] or Tensor[...] in x.dtype; grad Tensor[...]
        (the derivative saved for backward; it carries no gradient itself).
    """
    return _fdiv_term_impl(x, kernel_id, term, alpha, coef, reduce, impl)


@fdiv_term.register_fake
def _fdiv_term_fake(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, impl: str
) -> tuple[Tensor, Tensor]:
    out = x.new_empty(()) if reduce else torch.empty_like(x, memory_format=torch.contiguous_format)
    return out, torch.empty_like(x, memory_format=torch.contiguous_format)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])
    # The second output never receives a gradient: do not materialise zeros for it.
    ctx.set_materialize_grads(False)


def _grad_input(saved: Tensor, grad_out: Tensor, *, may_alias: bool = False) -> Tensor:
    # backward = grad_out * saved derivative, no recomputation. Memory traffic,
    # not arithmetic, bounds this step: when grad_out is the scalar 1 (the usual
    # loss.backward() on a reduced loss; read on CPU only, where it costs no
    # device sync) the saved buffer itself is the gradient, no new tensor. The
    # buffer is never modified, so retain_graph / repeated backward stay exact
    # (autograd copies it if it is still referenced when accumulated).
    # Only the eager autograd.Function takes this shortcut (may_alias=True): the
    # registered op's backward is also traced by AOTAutograd, where grad_out is
    # a fake tensor whose value cannot be read (and where is_compiling() is not
    # reliably set across torch versions).
    if (
        may_alias
        and grad_out.dim() == 0
        and grad_out.device.type == "cpu"
        and not torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
        and float(grad_out) == 1.0
    ):
        return saved
    return grad_out * saved


def _backward(ctx: Any, grad_out: Optional[Tensor], grad_grad: Optional[Tensor]) -> tuple[Any, ...]:
    (saved,) = ctx.saved_tensors
    none = (None,) * 6
    if grad_out is None:
        return (None,) + none
    return (_grad_input(saved, grad_out),) + none


fdiv_term.register_autograd(_backward, setup_context=_setup_context)


class _FdivTermFunction(torch.autograd.Function):
    """Eager-mode twin of ``fastgan::fdiv_term``: same implementation and backward, without the
    custom-op dispatch layers (about 0.1 ms per call in Python), which dominate at GAN batch sizes."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool,
                impl: str) -> Tensor:
        out, grad = _fdiv_term_impl(x, kernel_id, term, alpha, coef, reduce, impl)
        ctx.save_for_backward(grad)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        (saved,) = ctx.saved_tensors
        return (_grad_input(saved, grad_out, may_alias=True),) + (None,) * 6


def fdiv_term_eager(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, impl: str
) -> Tensor:
    """``fdiv_term(...)[0]`` through a plain autograd.Function (eager mode only)."""
    return _FdivTermFunction.apply(x, kernel_id, term, alpha, coef, reduce, impl)


def fused_term(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, impl: str
) -> Tensor:
    """The loss term used by :mod:`fastgan.losses`: the registered custom op while tracing for
    ``torch.compile`` (so graphs stay whole), its lighter autograd.Function twin in eager mode."""
    if torch.compiler.is_compiling():
        return fdiv_term(x, kernel_id, term, alpha, coef, reduce, impl)[0]
    return fdiv_term_eager(x, kernel_id, term, alpha, coef, reduce, impl)
