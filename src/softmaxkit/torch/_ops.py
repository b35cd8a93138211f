"""The registered custom ops (``torch.ops.softmaxkit.*``) behind softmaxkit.torch.

Each op is opaque to torch.compile (a fake implementation gives the shapes
and dtypes, so a compiled graph keeps the op as one node, without a graph
break) and has its backward registered, itself a custom op or plain torch
arithmetic, so autograd and AOTAutograd work. The values come from
softmaxkit's functional layer through :mod:`._dispatch`, which also validates
the arguments (softmaxkit's own checks, in one place).

No ``from __future__ import annotations`` here: torch.library reads the op
schema from the annotations.
"""

from typing import Optional

import torch

from . import _dispatch

Tensor = torch.Tensor


def _fresh(result: Tensor, *inputs: Optional[Tensor]) -> Tensor:
    """``result``, copied if it shares memory with an input (a custom op may not alias)."""
    for tensor in inputs:
        if tensor is not None and result.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr():
            return result.clone()
    return result


def _float_dtype(x: Tensor) -> torch.dtype:
    """The dtype softmaxkit returns for ``x``: its own if floating, else torch's default."""
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


# ---- softmax and log_softmax ---------------------------------------------------------------


def _define_softmax(name: str) -> None:
    @torch.library.custom_op(f"softmaxkit::{name}", mutates_args=())
    def forward(x: Tensor, dim: int, temperature: float, where: Optional[Tensor]) -> Tensor:
        result = _dispatch.call(name, x, dim=dim, temperature=temperature, where=where)
        return _fresh(result, x, where)

    @forward.register_fake
    def _(x, dim, temperature, where):
        return torch.empty_like(x, dtype=_float_dtype(x))

    @torch.library.custom_op(f"softmaxkit::{name}_backward", mutates_args=())
    def backward_op(
        y: Tensor, grad: Tensor, dim: int, temperature: float, where: Optional[Tensor]
    ) -> Tensor:
        result = _dispatch.call(f"{name}_vjp", y, grad, dim=dim, temperature=temperature, where=where)
        return _fresh(result, y, grad, where)

    @backward_op.register_fake
    def _(y, grad, dim, temperature, where):
        return torch.empty_like(y, dtype=torch.promote_types(y.dtype, grad.dtype))

    def setup_context(ctx, inputs, output):
        _, ctx.dim, ctx.temperature, where = inputs
        ctx.save_for_backward(output, where)

    def backward(ctx, grad):
        output, where = ctx.saved_tensors
        grad_x = backward_op(output, grad, ctx.dim, ctx.temperature, where)
        return grad_x.to(output.dtype), None, None, None

    forward.register_autograd(backward, setup_context=setup_context)


_define_softmax("softmax")
_define_softmax("log_softmax")


# ---- cross-entropy -------------------------------------------------------------------------


@torch.library.custom_op("softmaxkit::cross_entropy", mutates_args=())
def cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Optional[Tensor],
    dim: int,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    want_grad: bool,
) -> tuple[Tensor, Tensor]:
    """The loss and, when ``want_grad``, its gradient (else an empty tensor).

    The gradient comes from the same softmax as the loss, in the forward pass;
    the backward only scales it by the upstream gradient.
    """
    options = {
        "weight": weight, "ignore_index": ignore_index, "label_smoothing": label_smoothing,
        "reduction": reduction,
    }  # fmt: skip
    if want_grad:
        loss, grad = _dispatch.call("cross_entropy_and_grad", logits, target, dim=dim, **options)
    else:
        loss = _dispatch.call("cross_entropy", logits, target, dim=dim, **options)
        grad = logits.new_empty(0, dtype=_float_dtype(logits))
    return _fresh(loss, logits, target, weight), _fresh(grad, logits, target, weight)


@cross_entropy.register_fake
def _(logits, target, weight, dim, ignore_index, label_smoothing, reduction, want_grad):
    dtype = _float_dtype(logits)
    if reduction != "none":
        shape = ()
    elif target.is_floating_point():
        shape = logits.shape[:dim] + logits.shape[dim + 1 :]
    else:
        shape = target.shape
    grad = torch.empty_like(logits, dtype=dtype) if want_grad else logits.new_empty(0, dtype=dtype)
    return logits.new_empty(shape, dtype=dtype), grad


def _setup_cross_entropy(ctx, inputs, output):
    ctx.dim, ctx.reduction, ctx.want_grad = inputs[3], inputs[6], inputs[7]
    ctx.save_for_backward(output[1])


def _cross_entropy_backward(ctx, grad_loss, _grad_of_grad):
    (grad,) = ctx.saved_tensors
    if not ctx.want_grad:
        raise RuntimeError(
            "softmaxkit::cross_entropy was called without want_grad; call it through "
            "softmaxkit.torch.cross_entropy, which asks for the gradient when autograd needs it"
        )
    if ctx.reduction == "none" and grad.ndim > 0:
        grad_loss = grad_loss.unsqueeze(ctx.dim)
    return grad * grad_loss, None, None, None, None, None, None, None


cross_entropy.register_autograd(_cross_entropy_backward, setup_context=_setup_cross_entropy)
