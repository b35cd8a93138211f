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


# ---- linear cross-entropy ------------------------------------------------------------------
#
# The logits input @ linear_weight.T + bias are never held whole: the forward
# computes them chunk_size rows at a time and keeps only the per-row losses;
# the backward recomputes each chunk and accumulates the three gradients.


def _chunks(n_rows: int, chunk_size: int):
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def _chunk_logits(input: Tensor, linear_weight: Tensor, bias: Optional[Tensor], rows: slice) -> Tensor:
    logits = input[rows] @ linear_weight.T
    return logits if bias is None else logits + bias


@torch.library.custom_op("softmaxkit::linear_cross_entropy", mutates_args=())
def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    chunk_size: int,
) -> Tensor:
    """Per-row losses (reduction "none") of rows ``input`` (N, H) against ``target`` (N,)."""
    losses = [
        _dispatch.call(
            "cross_entropy", _chunk_logits(input, linear_weight, bias, rows), target[rows], dim=1,
            weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
            reduction="none",
        )  # fmt: skip
        for rows in _chunks(input.shape[0], chunk_size)
    ]
    if not losses:
        return input.new_empty(0)
    return torch.cat(losses)


@linear_cross_entropy.register_fake
def _(input, linear_weight, bias, target, weight, ignore_index, label_smoothing, chunk_size):
    return input.new_empty(input.shape[:1])


@torch.library.custom_op("softmaxkit::linear_cross_entropy_backward", mutates_args=())
def linear_cross_entropy_backward(
    input: Tensor,
    linear_weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    chunk_size: int,
    grad_rows: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of ``sum(grad_rows * per-row losses)``: input, linear_weight, bias (empty if None)."""
    grad_input = torch.zeros_like(input)
    grad_linear = torch.zeros_like(linear_weight)
    grad_bias = input.new_zeros(0 if bias is None else bias.shape[0])
    for rows in _chunks(input.shape[0], chunk_size):
        # cross_entropy_and_grad, not cross_entropy_grad: the Triton launchers have only the former.
        _, grad_logits = _dispatch.call(
            "cross_entropy_and_grad", _chunk_logits(input, linear_weight, bias, rows),
            target[rows], dim=1, weight=weight, ignore_index=ignore_index,
            label_smoothing=label_smoothing, reduction="none",
        )  # fmt: skip
        grad_logits = grad_logits * grad_rows[rows, None]
        grad_input[rows] = grad_logits @ linear_weight
        grad_linear += grad_logits.T @ input[rows]
        if bias is not None:
            grad_bias += grad_logits.sum(dim=0)
    return grad_input, grad_linear, grad_bias


@linear_cross_entropy_backward.register_fake
def _(input, linear_weight, bias, target, weight, ignore_index, label_smoothing, chunk_size, grad_rows):
    n_bias = 0 if bias is None else bias.shape[0]
    return torch.empty_like(input), torch.empty_like(linear_weight), input.new_empty(n_bias)


def _setup_linear_cross_entropy(ctx, inputs, output):
    input, linear_weight, bias, target, weight, *ctx.options = inputs
    ctx.has_bias = bias is not None
    ctx.save_for_backward(input, linear_weight, bias, target, weight)


def _linear_cross_entropy_backward(ctx, grad_rows):
    input, linear_weight, bias, target, weight = ctx.saved_tensors
    grad_input, grad_linear, grad_bias = linear_cross_entropy_backward(
        input, linear_weight, bias, target, weight, *ctx.options, grad_rows
    )
    return grad_input, grad_linear, grad_bias if ctx.has_bias else None, None, None, None, None, None


linear_cross_entropy.register_autograd(
    _linear_cross_entropy_backward, setup_context=_setup_linear_cross_entropy
)
