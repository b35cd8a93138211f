"""Eager short paths of softmaxkit.torch: the default calls on plain CPU tensors.

A call of a custom op (``_ops``) passes torch's dispatcher, the op's Python
wrappers and its registered autograd: about 100 us on a loaded 2-core AVX2
machine, where torch's whole softmax forward + backward of a (4, 10) tensor
takes about 60 us. When only eager autograd sees a call (no torch.compile
or export trace, no jit trace, no torch-function or dispatch mode, no
functorch transform: :func:`only_eager_autograd`), the commonest calls
(softmax and log_softmax over the last axis, cross-entropy of (N, C) logits
and int64 class indices without class weights, every other option at its
default) run here instead, as ``torch.autograd.Function``\\ s over the C
kernel's short paths, with the ops' numbers and gradients: same forward,
same backward, and double backward through the ops' own backward op.
Everything else, and every call these do not take, goes through the ops.
"""

from __future__ import annotations

from typing import Any, cast

import torch

import softmaxkit

from .. import _backends
from .._typing import Reduction
from . import _ops  # noqa: F401  (registers torch.ops.softmaxkit)

_C = torch._C


def only_eager_autograd() -> bool:
    """Whether nothing but eager autograd sees a call made now (no trace, mode or
    transform, which see the custom ops instead)."""
    return not (
        torch.compiler.is_compiling()
        or _C._len_torch_function_stack()
        or _C._len_torch_dispatch_stack()
        or _C._functorch.peek_interpreter_stack() is not None
        or _C._get_tracing_state() is not None
    )


def _needs_graph(x: torch.Tensor) -> bool:
    return x.requires_grad and torch.is_grad_enabled()


# ---- softmax and log_softmax ---------------------------------------------------------------


def softmax(input: Any, dim: Any, *, log: bool) -> torch.Tensor | None:
    """softmax or log_softmax of a plain CPU float32/64 tensor over its last axis, every
    option at its default; None where this path does not take the call."""
    if type(input) is not torch.Tensor or type(dim) is not int or not input.is_cpu:
        return None
    if input.dtype is not torch.float32 and input.dtype is not torch.float64:
        return None
    if input.ndim == 0 or (dim != -1 and dim != input.ndim - 1) or not only_eager_autograd():
        return None
    if _needs_graph(input):
        result: torch.Tensor = _Softmax.apply(input, log)  # type: ignore[no-untyped-call]
        return result
    return _forward(input, log)


def _forward(x: torch.Tensor, log: bool) -> torch.Tensor:
    """The kernel's short path, else the public function (a layout it does not take)."""
    result = _backends.fast_tensor_softmax(x, -1, log)
    if result is None:
        result = (softmaxkit.log_softmax if log else softmaxkit.softmax)(x.detach(), axis=-1)
    return result


class _Softmax(torch.autograd.Function):
    """softmax / log_softmax over the last axis with the custom ops' forward and backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, log: bool) -> torch.Tensor:
        y = _forward(x, log)
        ctx.log = log
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (y,) = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph: the ops' backward op, which autograd differentiates again.
            op = torch.ops.softmaxkit.log_softmax_backward if ctx.log else torch.ops.softmaxkit.softmax_backward
            return op(y, grad, y.ndim - 1, 1.0, None).to(y.dtype), None
        vjp = softmaxkit.log_softmax_vjp if ctx.log else softmaxkit.softmax_vjp
        # (The public function takes its own short path, _backends.fast_vjp, where it can.)
        return vjp(y, grad, axis=-1).to(y.dtype), None


# ---- cross-entropy -------------------------------------------------------------------------


def cross_entropy(
    input: Any, target: Any, ignore_index: Any, label_smoothing: Any, reduction: Any
) -> torch.Tensor | None:
    """Cross-entropy of plain (N, C) CPU float32/64 logits against int64 class indices
    (N,), no class weights, no temperature, no mask; None where this path does not
    take the call."""
    if type(input) is not torch.Tensor or type(target) is not torch.Tensor:
        return None
    if type(ignore_index) is not int or type(label_smoothing) is not float:
        return None
    if not 0.0 <= label_smoothing <= 1.0 or reduction not in _REDUCTIONS:
        return None
    if not (input.is_cpu and target.is_cpu and input.ndim == 2 and target.dtype is torch.int64):
        return None
    if input.dtype is not torch.float32 and input.dtype is not torch.float64:
        return None
    if not only_eager_autograd():
        return None
    options = (ignore_index, label_smoothing, reduction)
    if _needs_graph(input):
        loss: torch.Tensor = _CrossEntropy.apply(input, target, *options)  # type: ignore[no-untyped-call]
        return loss
    found = _backends.fast_tensor_cross_entropy(input, target, *options, want_grad=False)
    return None if found is None else found[0]


_REDUCTIONS = ("mean", "sum", "none")


class _CrossEntropy(torch.autograd.Function):
    """The loss and, from the same softmax, its gradient (scaled in the backward), as the
    ``cross_entropy`` op computes them."""

    @staticmethod
    def forward(
        ctx: Any, logits: torch.Tensor, target: torch.Tensor, ignore_index: int,
        smoothing: float, reduction: str,
    ) -> torch.Tensor:  # fmt: skip
        options = (ignore_index, smoothing, reduction)
        found = _backends.fast_tensor_cross_entropy(logits, target, *options, want_grad=True)
        if found is None:  # a layout the kernel does not take, a class index out of range
            found = softmaxkit.cross_entropy_and_grad(
                logits.detach(), target, axis=-1, ignore_index=ignore_index,
                label_smoothing=smoothing, reduction=cast(Reduction, reduction),
            )  # fmt: skip
        loss, grad = found
        ctx.unsqueeze = reduction == "none"
        ctx.save_for_backward(grad)
        result: torch.Tensor = loss
        return result

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (grad,) = ctx.saved_tensors
        if ctx.unsqueeze:
            return grad * grad_loss.unsqueeze(-1), None, None, None, None
        if not torch.is_grad_enabled() and grad_loss.item() == 1.0:
            # loss.backward(): the gradient as the forward made it, without a copy
            # (an upstream gradient of 1 is the commonest call). Autograd copies it
            # before accumulating it into a .grad while the graph still holds it
            # (retain_graph), and otherwise hands this very tensor on, no other
            # reference to it left.
            return grad, None, None, None, None
        return grad * grad_loss, None, None, None, None
