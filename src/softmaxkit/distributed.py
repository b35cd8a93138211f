"""Softmax, log_softmax and cross-entropy over a class axis split across processes.

Vocabulary (tensor) parallelism: each rank of a ``torch.distributed`` process
group holds a contiguous slice of the classes, ``local_logits`` of shape
``(..., C_r)``, rank 0 the first ``C_0`` classes, rank 1 the next ``C_1`` and
so on (the slices may have different lengths, even zero). The rows (the
leading axes) and the targets are the same on every rank. The full class axis
is never gathered; per row the ranks exchange:

1. one all-reduce (max) of the local maxima, which also carries each rank's
   class count (so uneven splits need no extra message);
2. one all-reduce (sum) of the two parts of the normaliser ``k + t`` (see
   ``softmaxkit._stable``) and, for the loss, the target's shifted logit (and
   its rounding error, for float64 input) and, with label smoothing, the sum
   of the shifted logits.

That is ``(1 + 2)`` values per row for log_softmax and softmax and ``(1 + 3)``
to ``(1 + 5)`` for cross_entropy, in the compute dtype (float64 for float32
and float64 logits, float32 for float16 and bfloat16), plus one per rank. The
backward of softmax and log_softmax all-reduces one value per row; the
backward of cross_entropy communicates nothing (the gradient is formed in the
forward pass, where every piece of it is local).

Each rank computes exactly what the single-process functions compute on its
slice: the same compensated shift by the (global) maximum and the same
edge-case policy, so the results agree with :func:`softmaxkit.log_softmax`
and :func:`softmaxkit.cross_entropy` up to the order of the sums.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import array_api_compat
import torch
import torch.distributed as dist

from . import _backend, _stable, _targets
from . import _validate as validate
from ._typing import Reduction

# float32 holds every integer up to 2**24 exactly: the class counts travel in
# the max all-reduce in the compute dtype.
_MAX_CLASSES_PER_RANK_FLOAT32 = 2**24


def vocab_parallel_log_softmax(local_logits: torch.Tensor, *, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """This rank's slice of ``log_softmax`` over a class axis split across ranks.

    Parameters
    ----------
    local_logits : torch.Tensor
        This rank's logits, shape ``(..., C_r)``: the classes this rank holds
        along the last axis. The leading axes are the same on every rank.
    group : torch.distributed.ProcessGroup, optional
        The ranks that share the class axis, in class order. Default: the
        default process group.

    Returns
    -------
    torch.Tensor
        This rank's slice of the log-probabilities, the shape and floating
        dtype of ``local_logits``; differentiable (the backward all-reduces
        one value per row).

    Raises
    ------
    ValueError
        no initialised process group, this process not in ``group``, a 0-d
        ``local_logits``.
    TypeError
        ``local_logits`` not a real floating or integer tensor.

    Notes
    -----
    The edge-case policy of :func:`softmaxkit.log_softmax` holds for the whole
    row, whichever ranks hold the special values: a row that is ``-inf``
    everywhere gives ``-inf``, ``+inf`` entries share the probability mass, a
    NaN on any rank makes the row NaN on every rank.

    Examples
    --------
    A process group of one rank, which holds every class:

    >>> import torch, torch.distributed as dist
    >>> from softmaxkit.distributed import vocab_parallel_log_softmax
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> vocab_parallel_log_softmax(torch.tensor([[1000.0, 0.0]]))
    tensor([[    0., -1000.]])
    >>> dist.destroy_process_group()
    """
    return _apply(_Normalised, local_logits, group, True)


def vocab_parallel_softmax(local_logits: torch.Tensor, *, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """This rank's slice of ``softmax`` over a class axis split across ranks.

    Raises and the edge-case policy are those of
    :func:`vocab_parallel_log_softmax`.

    Parameters
    ----------
    local_logits : torch.Tensor
        This rank's consecutive slice of the class axis (the last axis), any
        batch shape; the slices of all ranks together are the full logits.
    group : ProcessGroup, optional
        The ``torch.distributed`` group the class axis is split over (default:
        the world).

    Returns
    -------
    torch.Tensor
        This rank's slice of the probabilities (they sum to one over the
        whole class axis, all ranks together); differentiable.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from softmaxkit.distributed import vocab_parallel_softmax
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> vocab_parallel_softmax(torch.tensor([[0.0, float("inf"), float("inf")]]))
    tensor([[0.0000, 0.5000, 0.5000]])
    >>> dist.destroy_process_group()
    """
    return _apply(_Normalised, local_logits, group, False)


def vocab_parallel_cross_entropy(
    local_logits: torch.Tensor,
    target: torch.Tensor,
    *,
    group: dist.ProcessGroup | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Cross-entropy of class-index targets with the class axis split across ranks.

    The value of ``torch.nn.functional.cross_entropy(logits, target, ...)``
    (and of :func:`softmaxkit.cross_entropy`) for the logits that all ranks
    hold together, the same on every rank.

    Parameters
    ----------
    local_logits : torch.Tensor
        This rank's logits, shape ``(..., C_r)`` (see
        :func:`vocab_parallel_log_softmax`).
    target : torch.Tensor
        Global class indices in ``[0, C)`` (``C`` the total over the ranks)
        or ``ignore_index``, shape ``local_logits.shape[:-1]``, the same on
        every rank.
    group : torch.distributed.ProcessGroup, optional
        As in :func:`vocab_parallel_log_softmax`.
    label_smoothing : float, optional
        In [0, 1]: the target becomes ``(1 - eps) * onehot + eps / C``.
    ignore_index : int, optional
        Rows whose target equals it contribute no loss and no gradient and are
        left out of the mean.
    reduction : {"mean", "sum", "none"}, optional
        "mean" divides by the number of rows not ignored (NaN when there are
        none, as in torch).

    Returns
    -------
    torch.Tensor
        0-d for "mean" and "sum", shape ``target.shape`` for "none"; the
        floating dtype of ``local_logits``. Differentiable with respect to
        ``local_logits``; the backward communicates nothing.

    Raises
    ------
    ValueError
        a target outside ``[0, C)`` that is not ``ignore_index``, a target of
        the wrong shape, ``label_smoothing`` outside [0, 1], an unknown
        ``reduction``, and what :func:`vocab_parallel_log_softmax` refuses.
    TypeError
        a target that is not an integer tensor, a non-integer
        ``ignore_index``.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from softmaxkit.distributed import vocab_parallel_cross_entropy
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> vocab_parallel_cross_entropy(logits, torch.tensor([0, 1]))
    tensor(0.1269, dtype=torch.float64)
    >>> dist.destroy_process_group()
    """
    checked = _targets.check_options(ignore_index, label_smoothing, reduction)
    options = _LossOptions(group, checked.smoothing, checked.ignore_index, checked.reduction)
    return _apply(_CrossEntropy, local_logits, target, options)


class _LossOptions(NamedTuple):
    group: Any
    smoothing: float
    ignore_index: int
    reduction: str


class _Piece(NamedTuple):
    """One rank's slice of the rows, shifted by the global maximum."""

    xp: Any
    sums: _stable.Sums  # k and t are still this rank's share
    nan_slice: Any  # this rank's slice holds a NaN
    class_start: int  # global index of this rank's first class
    n_classes: int  # over all ranks
    out_dtype: torch.dtype
    compensate: bool


def _shift_by_global_max(local_logits: Any, group: Any) -> _Piece:
    """Step 1: exclude NaNs, all-reduce the maxima (and the class counts), shift."""
    if not isinstance(local_logits, torch.Tensor):
        raise TypeError(
            f"local_logits must be a torch.Tensor, got {type(local_logits).__name__}"
        )
    if local_logits.ndim == 0:
        raise ValueError("local_logits must have a class axis, got a 0-d tensor")
    rank, world_size = _rank_and_size(group)
    xp = array_api_compat.array_namespace(local_logits)
    out_dtype = validate.float_dtype_of(xp, local_logits, name="local_logits")
    work_dtype = _backend.compute_dtype(xp, out_dtype, local_logits.device)
    n_local = local_logits.shape[-1]
    if work_dtype == torch.float32 and n_local > _MAX_CLASSES_PER_RANK_FLOAT32:
        raise ValueError(
            f"local_logits holds {n_local} classes; at most {_MAX_CLASSES_PER_RANK_FLOAT32} "
            f"per rank for {out_dtype} logits"
        )
    reduction = _stable.AxesReduction(xp, (local_logits.ndim - 1,))
    z, nan_slice = _stable.exclude(xp, local_logits.detach().to(work_dtype), reduction)
    if n_local:
        local_max = torch.amax(z, dim=-1, keepdim=True)
    else:  # a rank may hold no classes: it contributes -inf to the maximum
        local_max = z.new_full((*z.shape[:-1], 1), -torch.inf)
    counts = z.new_zeros(world_size)
    counts[rank] = n_local
    message = torch.cat([local_max.reshape(-1), counts])
    dist.all_reduce(message, op=dist.ReduceOp.MAX, group=group)
    zmax = message[: local_max.numel()].reshape(local_max.shape)
    all_counts = [int(c) for c in message[local_max.numel() :].tolist()]
    sums = _stable.shift_and_sum(xp, z, zmax, reduction, compensate=work_dtype == out_dtype)
    return _Piece(
        xp, sums, nan_slice, sum(all_counts[:rank]), sum(all_counts), out_dtype,
        work_dtype == out_dtype,
    )  # fmt: skip


def _normalise_across_ranks(
    piece: _Piece, group: Any, extra: tuple[Any, ...] = ()
) -> tuple[_stable.Shifted, tuple[Any, ...]]:
    """Step 2: all-reduce (sum) the normaliser's parts and ``extra`` per-row values.

    A NaN anywhere in a row travels as a NaN in ``t``, so every rank learns it.
    """
    xp, sums = piece.xp, piece.sums
    t = xp.where(piece.nan_slice, xp.nan, sums.t)
    message = torch.cat([sums.k, t, *extra], dim=-1)
    dist.all_reduce(message, op=dist.ReduceOp.SUM, group=group)
    k, t, *totals = torch.split(message, 1, dim=-1)
    shifted = _stable.normalise(xp, sums._replace(k=k, t=t), xp.isnan(t))
    return shifted, tuple(totals)


def _apply(function: type[torch.autograd.Function], *args: Any) -> torch.Tensor:
    """``function.apply(*args)``, typed (torch leaves ``Function.apply`` unannotated)."""
    result: torch.Tensor = function.apply(*args)  # type: ignore[no-untyped-call]
    return result


def _rank_and_size(group: Any) -> tuple[int, int]:
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "group: torch.distributed has no initialised process group; call "
            "torch.distributed.init_process_group first"
        )
    rank = dist.get_rank(group)
    if rank < 0:
        raise ValueError(f"group: this process is not a member of {group!r}")
    return rank, dist.get_world_size(group)


def _all_reduce_sum(values: torch.Tensor, group: Any) -> torch.Tensor:
    values = values.contiguous()
    dist.all_reduce(values, op=dist.ReduceOp.SUM, group=group)
    return values


class _Normalised(torch.autograd.Function):
    """softmax (``log`` False) or log_softmax of logits whose classes are split across ranks."""

    @staticmethod
    def forward(ctx: Any, local_logits: torch.Tensor, group: Any, log: bool) -> torch.Tensor:
        piece = _shift_by_global_max(local_logits, group)
        shifted, _ = _normalise_across_ranks(piece, group)
        values_from = _stable.log_softmax_from if log else _stable.softmax_from
        values: torch.Tensor = values_from(piece.xp, shifted).to(piece.out_dtype)
        ctx.group, ctx.log = group, log
        ctx.save_for_backward(values)
        return values

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        # The vjp's sums over the classes run over all ranks' classes.
        (values,) = ctx.saved_tensors
        work = _backend.compute_dtype(torch, values.dtype, values.device)

        def row_sum(v: torch.Tensor) -> torch.Tensor:
            return _all_reduce_sum(v.sum(dim=-1, keepdim=True), ctx.group)

        y, g = values.to(work), grad.to(work)
        return _stable.softmax_vjp_from(torch, y, g, log=ctx.log, row_sum=row_sum).to(values.dtype), None, None


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, local_logits: torch.Tensor, target: torch.Tensor, options: _LossOptions
    ) -> torch.Tensor:
        piece = _shift_by_global_max(local_logits, options.group)
        target = _checked_target(target, local_logits, piece.n_classes, options.ignore_index)
        xp, sums, eps = piece.xp, piece.sums, options.smoothing
        valid = target != options.ignore_index
        local_index = target - piece.class_start
        owned = valid & (local_index >= 0) & (local_index < sums.diff.shape[-1])
        # The target's shifted logit and its rounding error come from the rank
        # that holds the class; the others add zeros.
        extra = [_pick(sums.diff, local_index, owned), _pick(sums.diff_lo, local_index, owned)]
        if not piece.compensate:
            extra.pop()  # diff_lo is all zeros
        if eps > 0:
            extra.append(torch.sum(sums.diff + sums.diff_lo, dim=-1, keepdim=True))
        shifted, totals = _normalise_across_ranks(piece, options.group, tuple(extra))
        log_norm = xp.where(shifted.norm > 0, shifted.log_norm, 0.0)
        target_logp = (totals[0] - log_norm) + (totals[1] if piece.compensate else 0.0)
        per_row = -target_logp
        if eps > 0:
            # sum_c logp_c = sum_c (d_c + d_lo_c) - C * log_norm
            all_logp = totals[-1] - piece.n_classes * log_norm
            per_row = (1.0 - eps) * per_row - (eps / piece.n_classes) * all_logp
        per_row = _stable.with_nan_slices(xp, per_row, shifted.nan_slice)[..., 0]
        per_row = xp.where(valid, per_row, 0.0)
        count = _targets.index_denominator(
            xp, target, None, options.ignore_index, piece.n_classes, per_row.dtype
        )
        loss = _targets.reduce(xp, per_row, count, options.reduction)

        ctx.reduction = options.reduction
        if ctx.needs_input_grad[0]:
            # p - (1 - eps) * onehot(y) - eps / C on rows not ignored, local classes only.
            probs = _stable.softmax_from(xp, shifted)
            one_hot = torch.zeros_like(probs)
            one_hot[owned, local_index[owned]] = 1.0
            grad = probs - (1.0 - eps) * one_hot - eps / max(piece.n_classes, 1)
            grad = xp.where(valid[..., None], grad, 0.0)
            if options.reduction == "mean":
                grad = grad / _targets.nonzero(xp, count)
            ctx.save_for_backward(grad.to(piece.out_dtype))
        result: torch.Tensor = loss.to(piece.out_dtype)
        return result

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (grad,) = ctx.saved_tensors
        scale = grad_loss[..., None] if ctx.reduction == "none" else grad_loss
        return grad * scale, None, None


def _pick(values: torch.Tensor, local_index: torch.Tensor, owned: torch.Tensor) -> torch.Tensor:
    """``values[..., local_index]`` where ``owned``, 0 elsewhere, keeping a size-1 last axis."""
    if values.shape[-1] == 0:
        return values.new_zeros((*values.shape[:-1], 1))
    safe = torch.where(owned, local_index, 0)[..., None]
    return torch.where(owned[..., None], torch.gather(values, -1, safe), 0.0)


def _checked_target(
    target: Any, local_logits: torch.Tensor, n_classes: int, ignore_index: int
) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise TypeError(
            f"target must hold integer class indices (vocabulary-parallel cross-entropy "
            f"takes no probability targets), got dtype {target.dtype}"
        )
    batch_shape = tuple(local_logits.shape[:-1])
    if tuple(target.shape) != batch_shape:
        raise ValueError(
            f"target must have shape {batch_shape} (local_logits' shape without the "
            f"class axis), got {tuple(target.shape)}"
        )
    _targets.check_class_range(array_api_compat.array_namespace(target), target, n_classes, ignore_index)
    return target.to(local_logits.device, torch.int64)
