"""Launchers of the fused linear cross-entropy: ``cross_entropy(hidden @ classifier.T + bias, target)``
without ever storing the logits.

Semantics are ``softmaxkit.cross_entropy`` applied to the logits
``hidden @ classifier.T + bias`` (float32 accumulation of the products for
16-bit inputs): class-index targets, class ``weight``, ``ignore_index``,
``label_smoothing`` and the reductions. Probability targets are not offered
(they would be as large as the logits this avoids).

Memory: the forward keeps ``lse`` (one float per token) for the backward.
The backward accumulates the hidden gradient in float32 (``N x D``) and the
classifier gradient in float32 slabs of ``config.slab_classes`` classes
(by default at most 1/8 of the classes, i.e. at most 1/4 of a 16-bit
classifier gradient), cast into the returned gradients slab by slab; for
float32 and float64 inputs it accumulates straight into the returned
gradients.

For an autograd Function (issue 7): ``forward`` calls
:func:`linear_cross_entropy_forward` and saves ``hidden``, ``classifier``,
``bias``, ``target``, ``weight`` and the returned ``lse``; ``backward`` calls
:func:`linear_cross_entropy_backward` with ``grad_output`` and the same
options.
"""

from __future__ import annotations

import functools
import os
from typing import Any, NamedTuple

import torch
import triton

from .._typing import Reduction
from . import _config, _tuning
from ._linear_cross_entropy_kernels import (
    N_FIELDS,
    linear_ce_backward_kernel,
    linear_ce_combine_kernel,
    linear_ce_forward_kernel,
)
from ._loss_common import (
    check_class_indices,
    check_class_vector,
    check_loss_options,
    index_denominator,
    loss_scalars,
    reduce_rows,
)
from ._tensors import check_float_tensor, check_same_device, compute_for, or_dummy
_COMBINE_BLOCK = 128


class LinearCrossEntropyForward(NamedTuple):
    """The loss, and the per-token logsumexp of the logits that the backward needs."""

    loss: torch.Tensor
    lse: torch.Tensor  # (N,) float32 (float64 for float64 input); NaN for a NaN row


class LinearCrossEntropyGrads(NamedTuple):
    """Gradients with respect to the inputs (``None`` where not requested or absent)."""

    hidden: torch.Tensor | None
    classifier: torch.Tensor | None
    bias: torch.Tensor | None


class _Problem(NamedTuple):
    hidden: torch.Tensor  # (N, D), unit column stride
    classifier: torch.Tensor  # (V, D), unit column stride
    bias: torch.Tensor | None
    target: torch.Tensor  # (N,) int64
    weight: torch.Tensor | None  # (V,) in the compute dtype
    batch_shape: tuple[int, ...]
    eps: float
    reduction: Reduction
    ignore_index: int
    compute: Any
    scalars: torch.Tensor  # [1 - eps, eps / V, sum of weights, 1 / mean denominator]
    denominator: torch.Tensor


def linear_cross_entropy_forward(
    hidden: torch.Tensor,
    classifier: torch.Tensor,
    target: torch.Tensor,
    /,
    *,
    bias: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    config: _config.LinearCrossEntropyConfig | None = None,
    validate: bool = True,
) -> LinearCrossEntropyForward:
    """Cross-entropy of ``hidden @ classifier.T + bias`` against ``target``, logits never stored.

    Parameters
    ----------
    hidden : torch.Tensor
        ``(..., D)`` float16, bfloat16, float32 or float64 activations.
    classifier : torch.Tensor
        ``(V, D)``, the dtype of ``hidden`` (``torch.nn.Linear``'s weight).
    target : torch.Tensor
        Integer class indices, ``hidden``'s shape without the last axis.
    bias : torch.Tensor, optional
        ``(V,)``.
    weight : torch.Tensor, optional
        One weight per class, ``(V,)``.
    ignore_index, label_smoothing, reduction
        As in ``softmaxkit.cross_entropy``.
    config : LinearCrossEntropyConfig, optional
        Force the tiles (tests use 16 x 16 x 16); by default chosen from the
        shape and, on CUDA, the forward tiles are tuned once per shape class.
    validate : bool
        Check that class indices are in range or ``ignore_index`` (one
        device-to-host read).

    Returns
    -------
    LinearCrossEntropyForward
        ``(loss, lse)``: the loss (0-d, or the batch shape for "none") in
        ``hidden``'s dtype and the per-token logsumexp.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.linear_cross_entropy import linear_cross_entropy_forward
        hidden = torch.zeros(4, 8, device="cuda")
        classifier = torch.zeros(3, 8, device="cuda")
        target = torch.tensor([0, 1, 2, 0], device="cuda")
        loss, lse = linear_cross_entropy_forward(hidden, classifier, target)
        loss
        # tensor(1.0986, device='cuda:0')
    """
    p = _prepare(hidden, classifier, target, bias, weight, ignore_index, label_smoothing,
                 reduction, validate)  # fmt: skip
    n_rows, dim_hidden = p.hidden.shape
    n_classes = p.classifier.shape[0]
    acc = p.compute.torch_dtype
    per_row = torch.zeros(n_rows, dtype=acc, device=p.hidden.device)
    lse = torch.full((n_rows,), float("-inf"), dtype=acc, device=p.hidden.device)
    if n_rows and n_classes:
        cfg = config or _forward_config(p)
        splits = cfg.vocab_splits
        per_split = triton.cdiv(triton.cdiv(n_classes, splits), cfg.block_v) * cfg.block_v
        splits = triton.cdiv(n_classes, per_split)
        partial = torch.empty((N_FIELDS, splits, n_rows), dtype=acc, device=p.hidden.device)
        linear_ce_forward_kernel[(triton.cdiv(n_rows, cfg.block_n), splits)](
            p.hidden, p.classifier, or_dummy(p.bias, p.hidden), p.target, or_dummy(p.weight, p.hidden),
            partial, n_rows, n_classes, dim_hidden, p.hidden.stride(0), p.classifier.stride(0),
            per_split, p.ignore_index,
            HAS_BIAS=p.bias is not None, HAS_WEIGHT=p.weight is not None, SMOOTH=p.eps > 0,
            BLOCK_N=cfg.block_n, BLOCK_V=cfg.block_v, BLOCK_D=cfg.block_d,
            ACC=p.compute.acc, FMAX=p.compute.fmax, UPCAST=_upcast(p), IEEE=_ieee(p),
            num_warps=cfg.num_warps, num_stages=cfg.num_stages,
            enable_fp_fusion=_config.FP_FUSION,
        )  # fmt: skip
        linear_ce_combine_kernel[(triton.cdiv(n_rows, _COMBINE_BLOCK),)](
            partial, p.target, or_dummy(p.weight, p.hidden), p.scalars, per_row, lse,
            n_rows, n_classes, splits, p.ignore_index,
            HAS_WEIGHT=p.weight is not None, SMOOTH=p.eps > 0, BLOCK_N=_COMBINE_BLOCK,
            ACC=p.compute.acc, FMAX=p.compute.fmax, enable_fp_fusion=_config.FP_FUSION,
        )  # fmt: skip
    loss = reduce_rows(per_row, p.denominator, p.reduction, p.batch_shape)
    return LinearCrossEntropyForward(loss.to(p.hidden.dtype), lse)


def linear_cross_entropy_backward(
    grad_output: torch.Tensor,
    hidden: torch.Tensor,
    classifier: torch.Tensor,
    target: torch.Tensor,
    lse: torch.Tensor,
    /,
    *,
    bias: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    filter_eps: float | None = None,
    grad_hidden: bool = True,
    grad_classifier: bool = True,
    config: _config.LinearCrossEntropyConfig | None = None,
) -> LinearCrossEntropyGrads:
    """Gradients of :func:`linear_cross_entropy_forward`'s loss, recomputing the logits tile by tile.

    Parameters
    ----------
    grad_output : torch.Tensor
        The upstream gradient: 0-d for "mean"/"sum", the batch shape for "none".
    hidden, classifier, target, bias, weight, ignore_index, label_smoothing, reduction
        Exactly as given to the forward.
    lse : torch.Tensor
        The forward's ``lse``.
    filter_eps : float, optional
        Skip the tiles whose every entry of ``dloss/dlogits`` (before the
        ``grad_output`` and mean scaling) is below it in magnitude; the error
        bound is in ``_linear_cross_entropy_kernels``' docstring. ``None``
        (default) computes every tile. CCE's choice for 16-bit inputs is
        ``torch.finfo(dtype).eps / 32`` (``2**-12`` in bfloat16).
    grad_hidden, grad_classifier : bool
        Which gradients to compute (the bias gradient comes with a bias).
    config : LinearCrossEntropyConfig, optional
        Force the tiles and the slab size.

    Returns
    -------
    LinearCrossEntropyGrads
        ``(hidden, classifier, bias)`` in the inputs' shapes and dtypes.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.linear_cross_entropy import (
            linear_cross_entropy_backward, linear_cross_entropy_forward)
        hidden = torch.randn(4, 8, device="cuda")
        classifier = torch.randn(3, 8, device="cuda")
        target = torch.tensor([0, 1, 2, 0], device="cuda")
        loss, lse = linear_cross_entropy_forward(hidden, classifier, target)
        grads = linear_cross_entropy_backward(torch.ones(()), hidden, classifier, target, lse)
        grads.hidden.shape, grads.classifier.shape
        # (torch.Size([4, 8]), torch.Size([3, 8]))
    """
    p = _prepare(hidden, classifier, target, bias, weight, ignore_index, label_smoothing,
                 reduction, validate=False)  # fmt: skip
    n_rows, dim_hidden = p.hidden.shape
    n_classes = p.classifier.shape[0]
    device = p.hidden.device
    acc = p.compute.torch_dtype
    if filter_eps is not None and not (isinstance(filter_eps, (int, float)) and filter_eps >= 0):
        raise ValueError(f"filter_eps must be a number >= 0 or None, got {filter_eps!r}")
    grad_out = _grad_output_rows(grad_output, p, n_rows)
    lse = _check_lse(lse, p, n_rows)

    dh_acc = torch.zeros((n_rows, dim_hidden), dtype=acc, device=device) if grad_hidden else None
    dc_out = torch.zeros_like(classifier) if grad_classifier else None
    dbias_acc = torch.zeros(n_classes, dtype=acc, device=device) if p.bias is not None else None
    if n_rows and n_classes and dim_hidden and (grad_hidden or grad_classifier or p.bias is not None):
        cfg = config or _default_config(p)
        direct = dc_out is not None and dc_out.dtype == acc
        slab = n_classes if direct else cfg.slab_classes
        dc_slab = None
        if dc_out is not None and not direct:
            dc_slab = torch.empty((min(slab, n_classes), dim_hidden), dtype=acc, device=device)
        for begin in range(0, n_classes, slab):
            end = min(begin + slab, n_classes)
            if direct:
                dc_acc = dc_out
            elif dc_slab is not None:
                dc_acc = dc_slab[: end - begin].zero_()
            else:
                dc_acc = None
            grid = (triton.cdiv(n_rows, cfg.block_n) * triton.cdiv(end - begin, cfg.block_v),)
            linear_ce_backward_kernel[grid](
                p.hidden, p.classifier, or_dummy(p.bias, p.hidden), p.target, or_dummy(p.weight, p.hidden),
                lse, grad_out, p.scalars, or_dummy(dh_acc, lse), or_dummy(dc_acc, lse), or_dummy(dbias_acc, lse),
                n_rows, n_classes, dim_hidden, p.hidden.stride(0), p.classifier.stride(0),
                grad_out.stride(0), begin, end, p.ignore_index,
                0.0 if filter_eps is None else float(filter_eps),
                COMPUTE_DH=dh_acc is not None, COMPUTE_DC=dc_acc is not None,
                COMPUTE_DBIAS=dbias_acc is not None, FILTER=filter_eps is not None,
                HAS_BIAS=p.bias is not None, HAS_WEIGHT=p.weight is not None, SMOOTH=p.eps > 0,
                BLOCK_N=cfg.block_n, BLOCK_V=cfg.block_v, BLOCK_D=cfg.block_d, GROUP_N=cfg.group_n,
                ACC=p.compute.acc, UPCAST=_upcast(p), IEEE=_ieee(p),
                num_warps=cfg.num_warps, num_stages=cfg.num_stages,
                enable_fp_fusion=_config.FP_FUSION,
            )  # fmt: skip
            if dc_slab is not None and dc_out is not None and dc_acc is not None:
                dc_out[begin:end].copy_(dc_acc)
    return LinearCrossEntropyGrads(
        None if dh_acc is None else dh_acc.to(hidden.dtype).reshape(hidden.shape),
        dc_out,
        None if dbias_acc is None or bias is None else dbias_acc.to(bias.dtype),
    )


def _prepare(
    hidden: Any, classifier: Any, target: Any, bias: Any, weight: Any, ignore_index: Any,
    label_smoothing: Any, reduction: Any, validate: bool,
) -> _Problem:  # fmt: skip
    hidden = check_float_tensor(hidden, name="hidden")
    classifier = check_float_tensor(classifier, name="classifier")
    check_same_device(hidden, classifier, name="classifier")
    if hidden.ndim == 0:
        raise ValueError("hidden must have a feature axis, got a 0-d tensor")
    if classifier.ndim != 2 or classifier.shape[1] != hidden.shape[-1]:
        raise ValueError(
            f"classifier must have shape (classes, {hidden.shape[-1]}) to match hidden of shape "
            f"{tuple(hidden.shape)}, got {tuple(classifier.shape)}"
        )
    if classifier.dtype != hidden.dtype:
        raise TypeError(
            f"classifier must have hidden's dtype {hidden.dtype}, got {classifier.dtype}"
        )
    n_classes = classifier.shape[0]
    ignore_index, eps, reduction = check_loss_options(
        weight, ignore_index, label_smoothing, reduction, n_classes, hidden
    )
    check_class_vector(bias, "bias", n_classes, hidden)
    batch_shape = tuple(hidden.shape[:-1])
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    check_same_device(hidden, target, name="target")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if tuple(target.shape) != batch_shape:
        raise ValueError(
            f"target must have shape {batch_shape} (hidden's shape without the last axis), "
            f"got {tuple(target.shape)}"
        )
    flat_target = target.reshape(-1).to(torch.int64).contiguous()
    if validate:
        check_class_indices(flat_target, n_classes, ignore_index)
    compute = compute_for(hidden.dtype)
    acc = compute.torch_dtype
    w = None if weight is None else weight.to(acc).contiguous()
    denominator = index_denominator(flat_target, w, ignore_index, n_classes, acc)
    scalars = loss_scalars(eps, n_classes, w, denominator, reduction, acc, hidden.device)
    return _Problem(
        _unit_columns(hidden.reshape(-1, hidden.shape[-1])), _unit_columns(classifier),
        None if bias is None else bias.contiguous(), flat_target, w, batch_shape, eps,
        reduction, ignore_index, compute, scalars, denominator,
    )  # fmt: skip


def _unit_columns(matrix: torch.Tensor) -> torch.Tensor:
    return matrix if matrix.stride(-1) == 1 else matrix.contiguous()


def _grad_output_rows(grad_output: Any, p: _Problem, n_rows: int) -> torch.Tensor:
    """The upstream gradient as one value per row (a stride-0 view for a 0-d one)."""
    if not isinstance(grad_output, torch.Tensor):
        raise TypeError(f"grad_output must be a torch.Tensor, got {type(grad_output).__name__}")
    check_same_device(p.hidden, grad_output, name="grad_output")
    expected = p.batch_shape if p.reduction == "none" else ()
    if tuple(grad_output.shape) != expected:
        raise ValueError(
            f"grad_output must have shape {expected} for reduction {p.reduction!r}, "
            f"got {tuple(grad_output.shape)}"
        )
    flat = grad_output.reshape(-1)
    if p.reduction != "none":
        flat = flat.expand(max(n_rows, 1))
    return flat


def _check_lse(lse: Any, p: _Problem, n_rows: int) -> torch.Tensor:
    if not isinstance(lse, torch.Tensor) or tuple(lse.shape) != (n_rows,):
        raise ValueError(f"lse must be the forward's (N,) = ({n_rows},) tensor, got {lse!r:.80}")
    return lse.to(p.compute.torch_dtype).contiguous()


def _default_config(p: _Problem) -> _config.LinearCrossEntropyConfig:
    n_rows, dim_hidden = p.hidden.shape
    return _config.linear_cross_entropy_config(
        n_rows, p.classifier.shape[0], dim_hidden, p.hidden.element_size(),
        4 * _sm_count(p.hidden.device),
    )


def _forward_config(p: _Problem) -> _config.LinearCrossEntropyConfig:
    """The heuristic tiles, or on CUDA the fastest of a few block sizes (timed once per shape class)."""
    best = _default_config(p)
    if p.hidden.device.type != "cuda":
        return best
    candidates = [best] + [
        best._replace(block_n=bn, block_v=bv, num_warps=w)
        for bn, bv, w in ((64, 128, 4), (128, 64, 4), (64, 64, 4))
        if (bn, bv) != (best.block_n, best.block_v) and bn <= best.block_n
    ]
    n_rows, dim_hidden = p.hidden.shape
    key = ("linear_cross_entropy", p.hidden.dtype, n_rows.bit_length(),
           p.classifier.shape[0].bit_length(), dim_hidden, p.hidden.device)  # fmt: skip

    def launch(cfg: _config.LinearCrossEntropyConfig) -> None:
        linear_cross_entropy_forward(
            p.hidden, p.classifier, p.target, bias=p.bias, weight=p.weight,
            ignore_index=p.ignore_index, label_smoothing=p.eps, reduction=p.reduction,
            config=cfg, validate=False,
        )  # fmt: skip

    return _tuning.pick(key, candidates, launch, p.hidden.device)


@functools.lru_cache(maxsize=16)
def _sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device, asked once per device (4 elsewhere)."""
    if device.type != "cuda":
        return 4
    return torch.cuda.get_device_properties(device).multi_processor_count


def _upcast(p: _Problem) -> bool:
    """Work around the bfloat16 ``tl.dot`` of Triton's interpreter (see ``_dot``)."""
    return p.hidden.dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1"


def _ieee(p: _Problem) -> bool:
    return p.hidden.dtype == torch.float32
