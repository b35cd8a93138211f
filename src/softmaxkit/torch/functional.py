"""softmax, log_softmax and cross_entropy with torch.nn.functional's signatures.

Drop-in for ``torch.nn.functional.softmax`` / ``log_softmax`` /
``cross_entropy`` plus softmaxkit's ``temperature`` and ``where``, with
softmaxkit's accuracy and edge-case policy (a row with every entry excluded
gives probabilities 0, not NaN; ``+inf`` entries share the mass). Each is a
registered custom op over the public function of the same name, with its
backward, so autograd and ``torch.compile(fullgraph=True)`` work; in eager
mode the commonest calls on plain CPU tensors skip the op's dispatch, with
its numbers (``_eager``). Only torch's conventions are handled here (``dim``, ``dtype``, a 0-d input, the
``(..., H)`` rows of the linear loss); the public functions check the
arguments and choose who computes.
"""

from __future__ import annotations

from typing import Any

import torch

import softmaxkit

from .. import _validate as validate
from .._typing import Reduction
from . import _eager
from . import _ops  # noqa: F401  (registers torch.ops.softmaxkit)


def softmax(
    input: torch.Tensor,
    dim: int,
    *,
    dtype: torch.dtype | None = None,
    temperature: float = 1.0,
    where: torch.Tensor | None = None,
) -> torch.Tensor:
    """``softmax(input / temperature)`` along ``dim``, as ``torch.nn.functional.softmax``.

    Parameters
    ----------
    input : torch.Tensor
        Logits.
    dim : int
        The axis the probabilities sum over.
    dtype : torch.dtype, optional
        Cast ``input`` to it first (as torch's ``dtype``).
    temperature : float, optional
        A finite number > 0.
    where : torch.Tensor of bool, optional
        Broadcastable to ``input``; False entries get probability exactly 0.

    Returns
    -------
    torch.Tensor
        The shape of ``input``, its floating dtype (or ``dtype``).

    Examples
    --------
    >>> import torch
    >>> from softmaxkit.torch import softmax
    >>> softmax(torch.tensor([[1.0, 2.0, 3.0]]), dim=-1)
    tensor([[0.0900, 0.2447, 0.6652]])
    >>> softmax(torch.tensor([[1.0, 2.0]]), dim=1, where=torch.tensor([[False, False]]))
    tensor([[0., 0.]])
    """
    if dtype is None and where is None and type(temperature) is float and temperature == 1.0:
        result = _eager.softmax(input, dim, log=False)
        if result is not None:
            return result
    return _softmax_family(torch.ops.softmaxkit.softmax, input, dim, dtype, temperature, where)


def log_softmax(
    input: torch.Tensor,
    dim: int,
    *,
    dtype: torch.dtype | None = None,
    temperature: float = 1.0,
    where: torch.Tensor | None = None,
) -> torch.Tensor:
    """``log_softmax(input / temperature)`` along ``dim``, as ``torch.nn.functional.log_softmax``.

    Excluded entries give ``-inf``.

    Parameters
    ----------
    input, dim, dtype, temperature, where
        As in :func:`softmax`.

    Returns
    -------
    torch.Tensor
        The log-probabilities, the shape of ``input`` (in ``dtype`` if given).

    Examples
    --------
    >>> import torch
    >>> from softmaxkit.torch import log_softmax
    >>> log_softmax(torch.tensor([1000.0, 0.0], dtype=torch.float64), dim=0)
    tensor([    0., -1000.], dtype=torch.float64)
    """
    if dtype is None and where is None and type(temperature) is float and temperature == 1.0:
        result = _eager.softmax(input, dim, log=True)
        if result is not None:
            return result
    return _softmax_family(torch.ops.softmaxkit.log_softmax, input, dim, dtype, temperature, where)


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
    where: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy from logits, as ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    input : torch.Tensor
        Logits, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``: the classes
        along axis 1 (axis 0 for 1-d input), as in torch.
    target : torch.Tensor
        Class indices (integer, the shape of ``input`` without the class axis)
        or class probabilities (floating, the shape of ``input``).
    weight : torch.Tensor, optional
        A weight per class (length C).
    ignore_index, reduction, label_smoothing
        As in torch.
    temperature : float, optional
        The loss of ``input / temperature``.
    where : torch.Tensor of bool, optional
        Broadcastable to ``input``; classes where it is False are excluded
        from the softmax (probability 0) for that row.

    Returns
    -------
    torch.Tensor
        0-d for "mean" and "sum", per row for "none".

    Examples
    --------
    >>> import torch
    >>> from softmaxkit.torch import cross_entropy
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> cross_entropy(logits, torch.tensor([0, 1]))
    tensor(0.1269, dtype=torch.float64)
    """
    if weight is None and where is None and type(temperature) is float and temperature == 1.0:
        eager_loss = _eager.cross_entropy(input, target, ignore_index, label_smoothing, reduction)
        if eager_loss is not None:
            return eager_loss
    _check_tensors(input=input, target=target, weight=weight, where=where)
    dim = 1 if input.ndim >= 2 else 0
    temperature = validate.finite_scalar(temperature, name="temperature")
    if temperature != 1.0 or where is not None:
        # log_softmax checks the temperature and the mask; the loss of
        # log-probabilities is the loss of the logits they come from.
        input = log_softmax(input, dim, temperature=temperature, where=where)
    want_grad = torch.is_grad_enabled() and input.requires_grad
    loss: torch.Tensor
    loss, _ = torch.ops.softmaxkit.cross_entropy(
        input, target, weight, dim, ignore_index, label_smoothing, reduction, want_grad
    )
    return loss


def nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Negative log-likelihood of log-probabilities, as ``torch.nn.functional.nll_loss``.

    ``softmaxkit.nll_loss`` with torch's class axis (1, or 0 for 1-d
    input); ``cross_entropy(x, t) == nll_loss(log_softmax(x, 1), t)``.

    Parameters
    ----------
    input : torch.Tensor
        Log-probabilities, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.
    target : torch.Tensor
        Class indices, the shape of ``input`` without the class axis.
    weight : torch.Tensor, optional
        A weight per class (length C).
    ignore_index, reduction
        As in torch.

    Returns
    -------
    torch.Tensor
        0-d for "mean" and "sum", per row for "none".

    Examples
    --------
    >>> import torch
    >>> from softmaxkit.torch import log_softmax, nll_loss
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> nll_loss(log_softmax(logits, 1), torch.tensor([0, 1]))
    tensor(0.1269, dtype=torch.float64)
    """
    _check_tensors(input=input, target=target, weight=weight)
    # The public function is differentiable array-API code (a gather, a
    # weight, a division): on tensors autograd follows it, to any order.
    return softmaxkit.nll_loss(
        input, target, axis=1 if input.ndim >= 2 else 0, weight=weight,
        ignore_index=ignore_index, reduction=reduction,
    )  # fmt: skip


def linear_cross_entropy(
    input: torch.Tensor,
    linear_weight: torch.Tensor,
    target: torch.Tensor,
    /,
    *,
    bias: torch.Tensor | None = None,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    chunk_size: int | None = None,
) -> torch.Tensor:
    """``cross_entropy(input @ linear_weight.T + bias, target)`` without holding all the logits.

    The logits are computed ``chunk_size`` rows at a time, in the forward pass
    (which keeps only the per-row losses) and again in the backward pass
    (which accumulates the gradients of ``input``, ``linear_weight`` and
    ``bias``), so the memory is ``chunk_size x C`` rather than ``N x C``.

    Parameters
    ----------
    input : torch.Tensor
        Hidden states, shape ``(..., H)``.
    linear_weight : torch.Tensor
        The output layer's weight, shape ``(C, H)`` (as ``torch.nn.Linear``).
    target : torch.Tensor
        Class indices, shape ``input.shape[:-1]``.
    bias : torch.Tensor, optional
        The output layer's bias, shape ``(C,)``.
    weight, ignore_index, label_smoothing, reduction
        As in :func:`cross_entropy`.
    chunk_size : int, optional
        Rows per chunk; default: as many as make about 4M logits. CUDA
        tensors take the fused Triton kernel, which holds no chunk of logits.

    Returns
    -------
    torch.Tensor
        0-d for "mean" and "sum", shape ``target.shape`` for "none".

    Examples
    --------
    >>> import torch
    >>> from softmaxkit.torch import linear_cross_entropy
    >>> hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> layer = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    >>> linear_cross_entropy(hidden, layer, torch.tensor([0, 1]))
    tensor(0.1269, dtype=torch.float64)
    """
    _check_tensors(input=input, linear_weight=linear_weight, target=target)
    if input.ndim < 1:
        raise ValueError("input must have a feature axis (..., H), got a 0-d tensor")
    if tuple(target.shape) != tuple(input.shape[:-1]):
        raise ValueError(
            f"target must have shape {tuple(input.shape[:-1])} (input's without the last "
            f"axis), got {tuple(target.shape)}"
        )
    if chunk_size is None and isinstance(linear_weight, torch.Tensor) and linear_weight.ndim == 2:
        # Larger chunks than the NumPy default: torch's matmuls and the ops
        # around them pay a per-call overhead (2**22 logits: 1.6x faster at
        # 2048 x 256 x 1000 than 2**18).
        chunk_size = max(1, _LOGITS_PER_CHUNK // max(linear_weight.shape[0], 1))
    # torch's (..., H) layout as the (N, H) rows of softmaxkit.linear_cross_entropy,
    # which checks every argument.
    loss: torch.Tensor = torch.ops.softmaxkit.linear_cross_entropy(
        input.reshape(-1, input.shape[-1]), linear_weight, bias, target.reshape(-1), weight,
        ignore_index, label_smoothing, reduction, chunk_size,
    )  # fmt: skip
    return loss.reshape(target.shape) if reduction == "none" else loss


_LOGITS_PER_CHUNK = 2**22


def _check_tensors(**tensors: Any) -> None:
    for name, value in tensors.items():
        if value is not None and not isinstance(value, torch.Tensor):
            kind = type(value)
            raise TypeError(
                f"{name} must be a torch.Tensor, got {kind.__module__}.{kind.__qualname__}; "
                f"softmaxkit's own functions (softmaxkit.cross_entropy, ...) take arrays of "
                f"any library"
            )


def _softmax_family(
    op: Any, input: Any, dim: Any, dtype: Any, temperature: Any, where: Any
) -> torch.Tensor:
    """``op`` (the custom op of softmax or log_softmax) on ``input``, as torch's functions take it."""
    _check_tensors(input=input, where=where)
    if dim is None:
        raise TypeError(
            "dim must be given: torch deprecated choosing it implicitly (dim=None); "
            "pass dim=-1 for the last axis"
        )
    dim = validate.integer(dim, name="dim")
    temperature = validate.finite_scalar(temperature, name="temperature")
    if dtype is not None:
        input = input.to(dtype)
    if input.ndim == 0:  # torch treats a 0-d tensor as one class
        if dim not in (0, -1):
            raise ValueError(f"dim {dim} is out of range for a 0-d input")
        one_class: torch.Tensor = op(input.reshape(1), 0, temperature, where)
        return one_class[0]
    result: torch.Tensor = op(input, dim, temperature, where)
    return result
