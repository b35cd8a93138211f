"""The registered custom ops (``torch.ops.softmaxkit.*``) behind softmaxkit.torch.

Each op is a public softmaxkit function applied to the tensors, with its
backward registered: the public function validates the arguments and its
one dispatch point (``softmaxkit._backends``) picks who computes (the C
kernel through zero-copy NumPy views for CPU tensors, Triton for CUDA
tensors, torch's own ops otherwise). Inside an op autograd does not track
the tensors; the gradients come from the registered backward.

Each op is opaque to torch.compile (a fake implementation gives the shapes
and dtypes, so a compiled graph keeps the op as one node, without a graph
break), and its backward is itself a custom op or plain torch arithmetic,
so autograd and AOTAutograd work.

No ``from __future__ import annotations`` here: torch.library reads the op
schema from the annotations.
"""

from typing import Any, Callable, Optional, cast

import torch

import softmaxkit
from softmaxkit._typing import Reduction

Tensor = torch.Tensor


def _fresh(result: Tensor, *inputs: Optional[Tensor]) -> Tensor:
    """``result``, copied if it shares memory with an input (a custom op may not alias)."""
    for tensor in inputs:
        if tensor is not None and result.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr():
            return result.clone()
    return result


def _data(*tensors: Optional[Tensor]) -> tuple[Any, ...]:
    """The tensors outside autograd (which an op's inputs still say they require):
    the public functions then serve CPU tensors from the C kernel."""
    return tuple(None if t is None else t.detach() for t in tensors)


def _float_dtype(x: Tensor) -> torch.dtype:
    """The dtype softmaxkit returns for ``x``: its own if floating, else torch's default."""
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


# ---- softmax and log_softmax ---------------------------------------------------------------


def _vjp_backward(log: bool, y: Tensor, g: Tensor, gg: Tensor, dim: int, temperature: float,
                  where: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """The gradients of the vjp ``out(y, g)`` with respect to ``y`` and ``g``, given ``gg = d/d out``.

    softmax: ``out = y (g - <g, y>) / T``, so ``d/dg = y (gg - <gg, y>) / T`` and
    ``d/dy = (gg (g - <g, y>) - g <gg, y>) / T``. log_softmax: ``out = (g - p
    sum(g)) / T`` with ``p = exp(y)``, so ``d/dg = (gg - <gg, p>) / T`` and
    ``d/dy = -gg p sum(g) / T``. Excluded entries (``where`` False) of ``out``
    are 0 whatever ``y`` and ``g`` are, so they pass no gradient. Plain torch
    arithmetic: autograd differentiates it again for third derivatives.
    """
    if where is not None:
        gg = gg.masked_fill(~where, 0.0)
        g = g.masked_fill(~where, 0.0)

    def total(v: Tensor) -> Tensor:
        return v.sum(dim, keepdim=True)

    if log:
        p = y.exp()
        grad_g = (gg - total(gg * p)) / temperature
        grad_y = -gg * p * total(g) / temperature
    else:
        grad_g = y * (gg - total(gg * y)) / temperature
        grad_y = (gg * (g - total(g * y)) - g * total(gg * y)) / temperature
    if where is not None:
        grad_g = grad_g.masked_fill(~where, 0.0)
    return grad_y, grad_g


def _define_softmax(
    name: str, forward_function: Callable[..., Tensor], vjp_function: Callable[..., Tensor]
) -> None:
    @torch.library.custom_op(f"softmaxkit::{name}", mutates_args=())
    def forward(x: Tensor, dim: int, temperature: float, where: Optional[Tensor]) -> Tensor:
        result = forward_function(*_data(x), axis=dim, temperature=temperature, where=where)
        return _fresh(result, x, where)

    # (The fake and autograd functions' annotations are for mypy: torch reads
    # the op's schema from the custom_op functions' annotations only.)
    @forward.register_fake
    def _(x: Tensor, dim: int, temperature: float, where: Optional[Tensor]) -> Tensor:
        return torch.empty_like(x, dtype=_float_dtype(x))

    @torch.library.custom_op(f"softmaxkit::{name}_backward", mutates_args=())
    def backward_op(
        y: Tensor, grad: Tensor, dim: int, temperature: float, where: Optional[Tensor]
    ) -> Tensor:
        result = vjp_function(*_data(y, grad), axis=dim, temperature=temperature, where=where)
        return _fresh(result, y, grad, where)

    @backward_op.register_fake
    def _(y: Tensor, grad: Tensor, dim: int, temperature: float, where: Optional[Tensor]) -> Tensor:
        return torch.empty_like(y, dtype=torch.promote_types(y.dtype, grad.dtype))

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        _, ctx.dim, ctx.temperature, where = inputs
        ctx.save_for_backward(output, where)

    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        output, where = ctx.saved_tensors
        grad_x = backward_op(output, grad, ctx.dim, ctx.temperature, where)
        return grad_x.to(output.dtype), None, None, None

    forward.register_autograd(backward, setup_context=setup_context)

    # The backward's own backward, for double backward (torch.autograd.grad(...,
    # create_graph=True), Hessian-vector products), as F.softmax has it.
    def setup_backward_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        y, grad, ctx.dim, ctx.temperature, where = inputs
        ctx.save_for_backward(y, grad, where)

    def backward_of_backward(
        ctx: Any, grad_of_grad_x: Tensor
    ) -> tuple[Tensor, Tensor, None, None, None]:
        y, grad, where = ctx.saved_tensors
        grad_y, grad_g = _vjp_backward(
            name == "log_softmax", y, grad, grad_of_grad_x, ctx.dim, ctx.temperature, where
        )
        return grad_y.to(y.dtype), grad_g.to(grad.dtype), None, None, None

    backward_op.register_autograd(backward_of_backward, setup_context=setup_backward_context)


_define_softmax("softmax", softmaxkit.softmax, softmaxkit.softmax_vjp)
_define_softmax("log_softmax", softmaxkit.log_softmax, softmaxkit.log_softmax_vjp)


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
    options: dict[str, Any] = {
        "axis": dim, "weight": weight, "ignore_index": ignore_index,
        "label_smoothing": label_smoothing, "reduction": reduction,
    }  # fmt: skip
    plain_logits, plain_target, options["weight"] = _data(logits, target, weight)
    if want_grad:
        loss, grad = softmaxkit.cross_entropy_and_grad(plain_logits, plain_target, **options)
    else:
        loss = softmaxkit.cross_entropy(plain_logits, plain_target, **options)
        grad = logits.new_empty(0, dtype=_float_dtype(logits))
    return _fresh(loss, logits, target, weight), _fresh(grad, logits, target, weight)


@cross_entropy.register_fake
def _(
    logits: Tensor,
    target: Tensor,
    weight: Optional[Tensor],
    dim: int,
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    want_grad: bool,
) -> tuple[Tensor, Tensor]:
    dtype = _float_dtype(logits)
    shape: tuple[int, ...]
    if reduction != "none":
        shape = ()
    elif target.is_floating_point():
        shape = logits.shape[:dim] + logits.shape[dim + 1 :]
    else:
        shape = target.shape
    grad = torch.empty_like(logits, dtype=dtype) if want_grad else logits.new_empty(0, dtype=dtype)
    return logits.new_empty(shape, dtype=dtype), grad


def _setup_cross_entropy(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
    ctx.dim, ctx.reduction, ctx.want_grad = inputs[3], inputs[6], inputs[7]
    ctx.save_for_backward(output[1])
    # The gradient output is never differentiated (the backward ignores its
    # upstream gradient): without this autograd would fill a tensor of zeros
    # the logits' size for it on every backward.
    ctx.set_materialize_grads(False)


def _cross_entropy_backward(
    ctx: Any, grad_loss: Optional[Tensor], _grad_of_grad: Optional[Tensor]
) -> tuple[Optional[Tensor], ...]:
    (grad,) = ctx.saved_tensors
    if not ctx.want_grad:
        raise RuntimeError(
            "softmaxkit::cross_entropy was called without want_grad; call it through "
            "softmaxkit.torch.cross_entropy, which asks for the gradient when autograd needs it"
        )
    if grad_loss is None:  # (autograd asks only when the loss has a gradient)
        return (None,) * 8
    if ctx.reduction == "none" and grad.ndim > 0:
        grad_loss = grad_loss.unsqueeze(ctx.dim)
    return grad * grad_loss, None, None, None, None, None, None, None


cross_entropy.register_autograd(_cross_entropy_backward, setup_context=_setup_cross_entropy)


# ---- linear cross-entropy ------------------------------------------------------------------
#
# softmaxkit.linear_cross_entropy(_and_grad) never hold all the logits (the
# chunk loop of softmaxkit._linear, or the fused Triton kernel for CUDA
# tensors). The forward keeps only the loss; the backward recomputes the
# logits, weighting each row by its upstream gradient.


@torch.library.custom_op("softmaxkit::linear_cross_entropy", mutates_args=())
def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    chunk_size: Optional[int],
) -> Tensor:
    """The loss of rows ``input`` (N, H) against class indices ``target`` (N,)."""
    input, linear_weight, bias, target, weight = _data(input, linear_weight, bias, target, weight)
    loss = softmaxkit.linear_cross_entropy(
        input, linear_weight, target, bias=bias, weight=weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=cast(Reduction, reduction), chunk_size=chunk_size,
    )  # fmt: skip
    return _fresh(loss, input)


@linear_cross_entropy.register_fake
def _(
    input: Tensor,
    linear_weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    chunk_size: Optional[int],
) -> Tensor:
    return input.new_empty(input.shape[:1] if reduction == "none" else ())


@torch.library.custom_op("softmaxkit::linear_cross_entropy_backward", mutates_args=())
def linear_cross_entropy_backward(
    input: Tensor,
    linear_weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    chunk_size: Optional[int],
    grad_loss: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of ``grad_loss * loss``: input, linear_weight, bias (empty if None).

    For "none", the gradient of ``sum(grad_loss * per-row losses)`` is the
    gradient of the sum with ``grad_loss`` as the rows' ``sample_weight``.
    """
    input, linear_weight, bias, target, weight, grad_loss = _data(
        input, linear_weight, bias, target, weight, grad_loss
    )
    if reduction == "none":
        sample_weight, reduction, scale = grad_loss, "sum", None
    else:
        sample_weight, scale = None, grad_loss
    result = softmaxkit.linear_cross_entropy_and_grad(
        input, linear_weight, target, bias=bias, weight=weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=cast(Reduction, reduction),
        sample_weight=sample_weight, chunk_size=chunk_size,
    )  # fmt: skip
    grads = [result.grad_input, result.grad_weight,
             input.new_empty(0) if result.grad_bias is None else result.grad_bias]  # fmt: skip
    if scale is not None:
        grads = [g * scale for g in grads]
    grad_input, grad_weight, grad_bias = (_fresh(g, input, linear_weight, bias) for g in grads)
    return grad_input, grad_weight, grad_bias


@linear_cross_entropy_backward.register_fake
def _(
    input: Tensor,
    linear_weight: Tensor,
    bias: Optional[Tensor],
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
    chunk_size: Optional[int],
    grad_loss: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    n_bias = 0 if bias is None else bias.shape[0]
    return torch.empty_like(input), torch.empty_like(linear_weight), input.new_empty(n_bias)


def _setup_linear_cross_entropy(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    input, linear_weight, bias, target, weight, *ctx.options = inputs
    ctx.has_bias = bias is not None
    ctx.save_for_backward(input, linear_weight, bias, target, weight)


def _linear_cross_entropy_backward(ctx: Any, grad_loss: Tensor) -> tuple[Optional[Tensor], ...]:
    input, linear_weight, bias, target, weight = ctx.saved_tensors
    grad_input, grad_linear, grad_bias = linear_cross_entropy_backward(
        input, linear_weight, bias, target, weight, *ctx.options, grad_loss
    )
    return (grad_input, grad_linear, grad_bias if ctx.has_bias else None,
            None, None, None, None, None, None)  # fmt: skip


linear_cross_entropy.register_autograd(
    _linear_cross_entropy_backward, setup_context=_setup_linear_cross_entropy
)
