"""Launchers of the fused cross-entropy kernel: torch tensors in, torch tensors out.

Semantics are ``softmaxkit.cross_entropy`` / ``cross_entropy_and_grad``
(which are ``torch.nn.functional.cross_entropy``'s, class axis ``dim``):
class-index or probability targets, class ``weight``, ``ignore_index``,
``label_smoothing`` and the reductions, including torch's two different
weighted means (pytorch/pytorch#107680) and NaN for a mean over no counted
target. The edge cases follow ``softmaxkit._stable``: a ``-inf`` logit
excludes its class, ``+inf`` logits take the limit, a NaN makes its row NaN
(an ignored row stays 0). float16/bfloat16/float32 compute in float32
(see ``softmax``'s module notes on float32 accuracy), float64 in float64.

For an autograd Function (issue 7): call :func:`cross_entropy_and_grad` in
``forward`` and save ``grad``; in ``backward`` return ``grad * grad_output``
(a 0-d ``grad_output`` for "mean"/"sum"; for "none", ``grad_output`` has the
batch shape and multiplies each row: ``grad * grad_output.unsqueeze(dim)``).
With ``overwrite_logits=True`` the gradient is written over the logits
(Liger's memory trick): only when the logits are not needed afterwards.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .._typing import Reduction
from . import _config, _tuning
from ._cross_entropy_kernels import cross_entropy_kernel
from ._loss_common import (
    check_class_indices,
    check_loss_options,
    index_denominator,
    loss_scalars,
    reduce_rows,
)
from ._tensors import (
    as_rows,
    check_dim,
    check_float_tensor,
    check_same_device,
    compute_for,
    or_dummy,
)


class CrossEntropyResult(NamedTuple):
    """The loss and its gradient with respect to the logits."""

    loss: torch.Tensor
    grad: torch.Tensor


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    /,
    *,
    dim: int = -1,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """The cross-entropy loss alone (no gradient written), as ``softmaxkit.cross_entropy``.

    Parameters
    ----------
    logits : torch.Tensor
        float16, bfloat16, float32 or float64; the classes along ``dim``.
    target : torch.Tensor
        Class indices (an integer tensor with the logits' shape without
        ``dim``) or probabilities (a floating tensor with the logits' shape).
    dim : int
        The class axis (torch's ``(N, C, d1, ...)`` layout is ``dim=1``; a
        non-last ``dim`` costs a transposed copy).
    weight : torch.Tensor, optional
        One weight per class, shape ``(C,)``.
    ignore_index : int
        A class-index target equal to it counts for nothing.
    label_smoothing : float
        In [0, 1].
    reduction : {"mean", "sum", "none"}
    config : RowConfig, optional
        Force the launch parameters (tests use tiny blocks).
    validate : bool
        Check that class indices are in range or ``ignore_index`` (one
        device-to-host read). Unchecked out-of-range indices never read out
        of bounds: their rows come out NaN.

    Returns
    -------
    torch.Tensor
        0-d for "mean" and "sum", the batch shape for "none"; the logits' dtype.

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.cross_entropy import cross_entropy
        logits = torch.zeros(2, 2, device="cuda")
        cross_entropy(logits, torch.tensor([1, -100], device="cuda"))
        # tensor(0.6931, device='cuda:0')
    """
    return _launch(
        logits, target, dim, weight, ignore_index, label_smoothing, reduction, config, validate,
        write_grad=False, overwrite_logits=False,
    ).loss  # fmt: skip


def cross_entropy_and_grad(
    logits: torch.Tensor,
    target: torch.Tensor,
    /,
    *,
    dim: int = -1,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    overwrite_logits: bool = False,
    config: _config.RowConfig | None = None,
    validate: bool = True,
) -> CrossEntropyResult:
    """The loss and its gradient with respect to the logits from one read of the logits.

    As ``softmaxkit.cross_entropy_and_grad``.

    Parameters
    ----------
    logits, target, dim, weight, ignore_index, label_smoothing, reduction, config, validate
        As in :func:`cross_entropy`.
    overwrite_logits : bool
        Write the gradient over ``logits`` (which must then be contiguous
        along ``dim`` rows, i.e. ``dim`` last and row-major) and return it as
        ``grad``: no extra memory, the logits are lost.

    Returns
    -------
    CrossEntropyResult
        ``(loss, grad)``; ``grad`` has the logits' shape and dtype and is the
        gradient of the reduced loss (for "none", of the sum of the losses).

    Examples
    --------
    On a CUDA device (not run here: the tests make the same calls on CPU
    tensors under ``TRITON_INTERPRET=1``)::

        import torch
        from softmaxkit.triton.cross_entropy import cross_entropy_and_grad
        loss, grad = cross_entropy_and_grad(torch.zeros(1, 2, device="cuda"),
                                            torch.tensor([1], device="cuda"))
        grad
        # tensor([[ 0.5000, -0.5000]], device='cuda:0')
    """
    return _launch(
        logits, target, dim, weight, ignore_index, label_smoothing, reduction, config, validate,
        write_grad=True, overwrite_logits=overwrite_logits,
    )  # fmt: skip


class _Targets(NamedTuple):
    rows: torch.Tensor  # (n_rows,) int64 indices, or (n_rows, C) probabilities
    class_indices: bool


def _check_targets(
    target: Any, logits: torch.Tensor, dim: int, ignore_index: int, validate: bool
) -> _Targets:
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    check_same_device(logits, target, name="target")
    n_classes = logits.shape[dim]
    batch_shape = tuple(s for i, s in enumerate(logits.shape) if i != dim)
    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(f"target must be class indices or probabilities, got dtype {target.dtype}")
    if not target.is_floating_point():
        if tuple(target.shape) != batch_shape:
            raise ValueError(
                f"target of class indices must have shape {batch_shape} (the logits' shape "
                f"{tuple(logits.shape)} without dim {dim}), got {tuple(target.shape)}"
            )
        flat = target.reshape(-1).to(torch.int64)
        if validate:
            check_class_indices(flat, n_classes, ignore_index)
        return _Targets(flat, True)
    if tuple(target.shape) != tuple(logits.shape):
        raise ValueError(
            f"target of probabilities must have the logits' shape {tuple(logits.shape)}, "
            f"got {tuple(target.shape)} (class indices must be an integer tensor)"
        )
    return _Targets(as_rows(target, dim).data, False)


def _launch(
    logits: Any, target: Any, dim: Any, weight: Any, ignore_index: Any, label_smoothing: Any,
    reduction: Any, config: Any, validate: bool, *, write_grad: bool, overwrite_logits: bool,
) -> CrossEntropyResult:  # fmt: skip
    logits = check_float_tensor(logits, name="logits")
    if logits.ndim == 0:
        raise ValueError("logits must have a class axis, got a 0-d tensor")
    dim = check_dim(dim, logits.ndim)
    ignore_index, eps, reduction = check_loss_options(
        weight, ignore_index, label_smoothing, reduction, logits.shape[dim], logits
    )
    targets = _check_targets(target, logits, dim, ignore_index, validate)
    compute = compute_for(logits.dtype)
    acc = compute.torch_dtype
    rows = as_rows(logits, dim)
    n_rows, n_classes = rows.data.shape
    w = None if weight is None else weight.to(acc).contiguous()

    if overwrite_logits:
        if rows.data.data_ptr() != logits.data_ptr() or not logits.is_contiguous() or dim != logits.ndim - 1:
            raise ValueError(
                "overwrite_logits needs contiguous logits with the classes along the last dim"
            )
        grad = rows.data
    else:
        grad = torch.empty((n_rows, n_classes) if write_grad else (0, 0), dtype=logits.dtype,
                           device=logits.device)  # fmt: skip

    if targets.class_indices:
        denominator = index_denominator(targets.rows, w, ignore_index, n_classes, acc)
    else:
        # Probability targets: "mean" divides by the number of rows, weighted or not.
        denominator = torch.tensor(float(n_rows), dtype=acc, device=logits.device)
    scalars = loss_scalars(eps, n_classes, w, denominator, reduction, acc, logits.device)
    per_row = torch.zeros(n_rows, dtype=acc, device=logits.device)

    if n_rows and n_classes:
        grad_arg = grad if write_grad else rows.data

        def launch(cfg: _config.RowConfig) -> None:
            cross_entropy_kernel[(n_rows,)](
                rows.data, targets.rows, or_dummy(w, rows.data), scalars, per_row, grad_arg,
                n_classes, rows.data.stride(0), targets.rows.stride(0), grad_arg.stride(0),
                ignore_index,
                CLASS_INDICES=targets.class_indices, HAS_WEIGHT=w is not None, SMOOTH=eps > 0,
                WRITE_GRAD=write_grad, BLOCK=cfg.block, SINGLE_BLOCK=cfg.single_block,
                ACC=compute.acc, FMAX=compute.fmax, COMPENSATE=compute.compensate,
                num_warps=cfg.num_warps, enable_fp_fusion=_config.FP_FUSION,
            )  # fmt: skip

        if config is None and not overwrite_logits:
            key = ("cross_entropy", logits.dtype, _config.shape_class(n_classes), targets.class_indices,
                   w is not None, eps > 0, write_grad, logits.device)  # fmt: skip
            config = _tuning.pick(key, _config.row_config_candidates(n_classes), launch, logits.device)
        launch(config or _config.row_config(n_classes))
    elif write_grad and not overwrite_logits:
        grad.zero_()

    loss = reduce_rows(per_row, denominator, reduction, rows.moved_shape[:-1]).to(logits.dtype)
    if not write_grad:
        return CrossEntropyResult(loss, grad)
    return CrossEntropyResult(loss, rows.restore(grad) if not overwrite_logits else logits)
