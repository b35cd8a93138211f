"""The Triton backend: softmaxkit's row primitives (see ``softmaxkit._backends``) for CUDA tensors.

``softmaxkit._backends`` imports this module the first time a CUDA tensor
reaches a public function, and the arrays come already validated and in the
canonical layout (``(*rows, n)``, the reduced axis last), so every launcher
here runs with ``dim=-1`` and ``validate=False`` (no device-to-host read).
Accuracy as in the launchers' modules: float32 computes in float32, within a
few ulps of the reference. Weighted logsumexp (``b``) and ``return_sign`` are
left to the reference (torch ops on the device).

The fused linear cross-entropy (``linear_cross_entropy``) is the optional
whole-operation override of ``softmaxkit.linear_cross_entropy`` for CUDA
tensors: the logits are never stored, not even one chunk of them.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import _backends
from .._typing import Reduction
from . import cross_entropy as _cross_entropy
from . import linear_cross_entropy as _linear
from . import softmax as _softmax

NAME = "triton"


def takes(*arrays: Any) -> bool:
    """CUDA tensors (the interpreter's CPU tensors only when a test forces this backend)."""
    tensors = [a for a in arrays if a is not None]
    return bool(tensors) and all(isinstance(a, torch.Tensor) and a.is_cuda for a in tensors)


def softmax_rows(z: Any, *, log: bool, mask: Any, temperature: Any, out: Any) -> Any:
    launch = _softmax.log_softmax if log else _softmax.softmax
    values = launch(z, -1, temperature=temperature, where=mask, validate=False)
    if out is None:
        return values
    out.copy_(values)
    return out


def logsumexp_rows(z: Any, *, mask: Any, b: Any = None, return_sign: bool = False) -> Any:
    if b is not None or return_sign:
        return None  # the reference's torch ops compute it on the device
    return _softmax.logsumexp(z, -1, where=mask, validate=False)


def softmax_vjp_rows(
    y: Any, g: Any, *, log: bool, mask: Any, temperature: Any, out_dtype: Any
) -> Any:
    launch = _softmax.log_softmax_vjp if log else _softmax.softmax_vjp
    return launch(y, g, -1, temperature=temperature, where=mask, validate=False).to(out_dtype)


def cross_entropy_rows(
    z: Any, target: Any, *, class_indices: bool, weight: Any, ignore_index: int,
    smoothing: float, grad_divisor: Any, want_grad: bool,
) -> _backends.RowLosses:  # fmt: skip
    options = {
        "dim": -1, "weight": weight, "ignore_index": ignore_index,
        "label_smoothing": smoothing, "reduction": "none", "validate": False,
    }  # fmt: skip
    if not want_grad:
        return _backends.RowLosses(_cross_entropy.cross_entropy(z, target, **options), None)
    loss, grad = _cross_entropy.cross_entropy_and_grad(z, target, **options)
    if not (isinstance(grad_divisor, float) and grad_divisor == 1.0):
        grad = grad / grad_divisor
    return _backends.RowLosses(loss, grad)


def linear_cross_entropy(
    input: Any, linear_weight: Any, target: Any, *, bias: Any, weight: Any, ignore_index: int,
    label_smoothing: float, reduction: Reduction, want_grad: bool,
) -> Any:  # fmt: skip
    """The whole of ``softmaxkit.linear_cross_entropy(_and_grad)`` for CUDA tensors of
    class-index targets, or None where the fused kernel does not take the call."""
    if not target.dtype.is_floating_point and input.dtype == linear_weight.dtype:
        forward = _linear.linear_cross_entropy_forward(
            input, linear_weight, target, bias=bias, weight=weight, ignore_index=ignore_index,
            label_smoothing=label_smoothing, reduction=reduction, validate=False,
        )  # fmt: skip
        if not want_grad:
            return forward.loss, None
        grad_output = torch.ones_like(forward.loss)
        grads = _linear.linear_cross_entropy_backward(
            grad_output, input, linear_weight, target, forward.lse, bias=bias, weight=weight,
            ignore_index=ignore_index, label_smoothing=label_smoothing, reduction=reduction,
        )  # fmt: skip
        return forward.loss, grads
    return None
