"""The fused f-GAN term as a native op (``fastgan::fdiv_term``, registered by :class:`fastgan._ops.NativeOp`).

One op computes, in a single pass over the critic outputs, ``coef * term(v)``
(elementwise, or summed) together with ``coef * dterm/dv``, which is saved for
the backward pass: backward is ``grad_out * saved_grad`` with no recomputation.
Its eager twin (:class:`_FusedTermsFunction`) takes one or more terms in one autograd
node; on CUDA it stores no derivative and the backward kernel recomputes it from ``v``
fused with ``grad_out`` (bitwise the same gradient, one n-element write and read fewer).
The backend (compiled kernel ``fastgan._C.fdiv_term_cpu`` / ``fdiv_term_cuda``, or the
torch reference :func:`fastgan.losses._ref.fdiv_term_ref`) is chosen inside the op by
:func:`fastgan._dispatch.use_extension` (op name ``"fdiv_term"``).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from fastgan import _ext
from fastgan._dispatch import use_extension
from fastgan._ops import NativeOp
from fastgan.divergences import alpha_consts
from fastgan.losses._ref import fdiv_term_ref

__all__ = ["fdiv_term", "fdiv_term_ext", "fdiv_term_backward_ext", "fused_term", "fused_terms_sum"]

OP_NAME = "fdiv_term"


def fdiv_term_ext(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, store_grad: bool = True
) -> tuple[Tensor, Optional[Tensor]]:
    """Run the compiled kernel (CPU or CUDA) on ``x`` (no dispatch, no autograd).

    Shapes: x (Tensor[...]) -> (out Tensor[] if reduce else Tensor[...], grad Tensor[...]).
    ``store_grad=False`` (CUDA only) skips the derivative and returns ``grad=None``; the backward
    pass then recomputes it from ``x`` with :func:`fdiv_term_backward_ext`.
    """
    C = _ext.assert_has_ext(OP_NAME)
    x = x.detach().contiguous()
    n = x.numel()
    cuda = x.device.type == "cuda"
    grad = torch.empty_like(x) if store_grad or not cuda else None
    out = torch.empty((), dtype=x.dtype, device=x.device) if reduce else torch.empty_like(x)
    code = _ext.dtype_code(x)
    if cuda:
        if reduce:
            ws = torch.empty(int(C.fdiv_term_cuda_workspace_size(n)), dtype=torch.float64, device=x.device)
            ws_ptr, ws_n = ws.data_ptr(), ws.numel()
        else:
            ws, ws_ptr, ws_n = None, 0, 0
        g_ptr, g_n = (grad.data_ptr(), n) if grad is not None else (0, 0)
        C.fdiv_term_cuda(
            x.data_ptr(),
            out.data_ptr(),
            g_ptr,
            n,
            out.numel(),
            g_n,
            code,
            int(kernel_id),
            int(term),
            bool(reduce),
            float(alpha),
            float(coef),
            ws_ptr,
            ws_n,
            _ext.device_index(x),
            _ext.stream_handle(x),
        )
        del ws  # the stream-ordered caching allocator keeps it valid until the kernel ran
    else:
        assert grad is not None
        C.fdiv_term_cpu(
            x.data_ptr(),
            out.data_ptr(),
            grad.data_ptr(),
            n,
            out.numel(),
            grad.numel(),
            code,
            int(kernel_id),
            int(term),
            bool(reduce),
            float(alpha),
            float(coef),
            _ext.num_threads(),
        )
    return out, grad


def fdiv_term_backward_ext(
    x: Tensor, grad_out: Tensor, kernel_id: int, term: int, alpha: float, coef: float
) -> Tensor:
    """Gradient of ``fdiv_term_ext`` w.r.t. ``x`` on the GPU, recomputed from ``x``.

    Shapes: x (Tensor[...]), grad_out (Tensor[] for a reduced output, or x's shape) -> Tensor[...].
    Bitwise equal to ``grad_out * fdiv_term_ext(x, ...)[1]`` (the saved-derivative route), in one
    pass that reads x and grad_out and writes the result: on a GPU the arithmetic is free and the
    saved buffer would cost a write and a read of ``x.numel()`` elements.
    """
    C = _ext.assert_has_ext(OP_NAME)
    xd = x.detach().contiguous()
    go = grad_out.detach().to(dtype=xd.dtype).contiguous()
    grad = torch.empty_like(xd)
    C.fdiv_term_cuda_backward(
        xd.data_ptr(),
        go.data_ptr(),
        grad.data_ptr(),
        xd.numel(),
        go.numel(),
        grad.numel(),
        _ext.dtype_code(xd),
        int(kernel_id),
        int(term),
        float(alpha),
        float(coef),
        _ext.device_index(xd),
        _ext.stream_handle(xd),
    )
    return grad


def _fdiv_term_impl(
    x: Tensor,
    kernel_id: int,
    term: int,
    alpha: float,
    coef: float,
    reduce: bool,
    impl: str,
    store_grad: bool = True,
) -> tuple[Tensor, Optional[Tensor]]:
    """(out, grad) from the chosen backend; ``grad`` is None only when ``store_grad`` is False and the
    CUDA kernel ran (its backward recomputes the derivative, :func:`fdiv_term_backward_ext`)."""
    if use_extension(OP_NAME, impl, x, deterministic_cuda=True):
        return fdiv_term_ext(x, kernel_id, term, alpha, coef, reduce, store_grad=store_grad)
    return fdiv_term_ref(x, kernel_id, term, alpha_consts(kernel_id, alpha), coef, reduce)


def _fdiv_term_forward(
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
    out, grad = _fdiv_term_impl(x, kernel_id, term, alpha, coef, reduce, impl)
    assert grad is not None
    return out, grad


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


Spec = tuple[int, int, float, float]  # (kernel_id, term, alpha, coef)


class _FusedTermsFunction(torch.autograd.Function):
    """Eager-mode twin of ``fastgan::fdiv_term`` for one or more terms in one autograd node.

    ``forward(ctx, specs, reduce, impl, *xs)``: term ``i`` is ``fdiv_term(xs[i], *specs[i], reduce,
    impl)[0]``; with ``reduce`` the node returns their sum (one 0-d tensor, e.g. a whole critic
    loss), else one elementwise tensor per input. Same values and gradients as the registered op,
    without the custom-op dispatch layers, in one node instead of one per term: at GAN batch sizes
    the Python cost per node, not the kernels, dominates.

    Gradients: on the CPU (and on the torch reference route) the derivative computed in the forward
    pass is saved and backward is ``grad_out * saved`` (the saved buffer itself when ``grad_out`` is
    the scalar 1). On CUDA with the compiled kernel nothing is saved but ``x``: the backward kernel
    recomputes the derivative fused with the multiplication by ``grad_out`` (bitwise the same).
    """

    @staticmethod
    def forward(ctx: Any, specs: tuple[Spec, ...], reduce: bool, impl: str, *xs: Tensor) -> Any:
        outs: list[Tensor] = []
        saved: list[Tensor] = []
        recompute: list[bool] = []
        for x, (kernel_id, term, alpha, coef) in zip(xs, specs):
            out, grad = _fdiv_term_impl(x, kernel_id, term, alpha, coef, reduce, impl, store_grad=False)
            saved.append(x if grad is None else grad)
            recompute.append(grad is None)
            outs.append(out)
        ctx.save_for_backward(*saved)
        ctx.specs, ctx.reduce, ctx.recompute = specs, reduce, recompute
        if not reduce:
            return tuple(outs)
        total = outs[0]
        for o in outs[1:]:
            total = total + o
        return total

    @staticmethod
    def backward(ctx: Any, *grad_outs: Optional[Tensor]) -> tuple[Any, ...]:  # type: ignore[override]
        tensors = ctx.saved_tensors
        grads: list[Optional[Tensor]] = []
        for i, (t, spec, recompute) in enumerate(zip(tensors, ctx.specs, ctx.recompute)):
            grad_out = grad_outs[0] if ctx.reduce else grad_outs[i]
            if grad_out is None:
                grads.append(None)
            elif recompute:
                grads.append(fdiv_term_backward_ext(t, grad_out, *spec))
            else:
                grads.append(_grad_input(t, grad_out, may_alias=True))
        return (None, None, None, *grads)


fdiv_term = NativeOp(
    OP_NAME,
    _fdiv_term_forward,
    fake=_fdiv_term_fake,
    setup_context=_setup_context,
    backward=_backward,
    eager=_FusedTermsFunction,
)


def fused_term(
    x: Tensor, kernel_id: int, term: int, alpha: float, coef: float, reduce: bool, impl: str
) -> Tensor:
    """``fdiv_term(x, ...)[0]`` (Tensor[] if ``reduce`` else Tensor[...] like ``x``), the loss term of
    :mod:`fastgan.losses`: the registered op while tracing for ``torch.compile`` (graphs stay
    whole), its eager twin otherwise."""
    if torch.compiler.is_compiling():
        return fdiv_term.op(x, kernel_id, term, alpha, coef, reduce, impl)[0]
    out = fdiv_term.eager.apply(((kernel_id, term, alpha, coef),), reduce, impl, x)
    return out if reduce else out[0]


def fused_terms_sum(terms: tuple[tuple[Tensor, Spec], ...], impl: str) -> Tensor:
    """``sum_i coef_i * sum term_i(x_i)`` over several (x, spec) pairs (Tensor[]): one autograd node
    in eager mode, the registered op per term under ``torch.compile``."""
    if torch.compiler.is_compiling():
        total: Optional[Tensor] = None
        for x, spec in terms:
            v = fdiv_term.op(x, *spec, True, impl)[0]
            total = v if total is None else total + v
        assert total is not None
        return total
    specs = tuple(spec for _, spec in terms)
    return fdiv_term.eager.apply(specs, True, impl, *(x for x, _ in terms))
