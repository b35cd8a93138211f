"""nn.Module wrappers of softmaxkit.torch.functional (which checks the arguments)."""

from __future__ import annotations

import torch

from .._typing import Reduction
from . import functional


class Softmax(torch.nn.Module):
    """:func:`softmaxkit.torch.softmax` as a module, like ``torch.nn.Softmax``.

    Parameters
    ----------
    dim : int, optional
        The class axis. Default: the last axis.
    temperature : float, optional
        A finite number > 0 dividing the input (default 1).

    Examples
    --------
    >>> import torch, softmaxkit.torch as skt
    >>> skt.Softmax(dim=-1)(torch.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """

    def __init__(self, dim: int = -1, *, temperature: float = 1.0):
        super().__init__()
        self.dim, self.temperature = dim, temperature

    def forward(self, input: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
        return functional.softmax(input, self.dim, temperature=self.temperature, where=where)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, temperature={self.temperature}"


class LogSoftmax(Softmax):
    """:func:`softmaxkit.torch.log_softmax` as a module, like ``torch.nn.LogSoftmax``.

    Parameters
    ----------
    dim : int, optional
        The class axis. Default: the last axis.
    temperature : float, optional
        A finite number > 0 dividing the input (default 1).

    Examples
    --------
    >>> import torch, softmaxkit.torch as skt
    >>> skt.LogSoftmax(dim=0)(torch.tensor([0.0, float("-inf")]))
    tensor([0., -inf])
    """

    def forward(self, input: torch.Tensor, where: torch.Tensor | None = None) -> torch.Tensor:
        return functional.log_softmax(input, self.dim, temperature=self.temperature, where=where)


class CrossEntropyLoss(torch.nn.Module):
    """:func:`softmaxkit.torch.cross_entropy` as a module, like ``torch.nn.CrossEntropyLoss``.

    Parameters
    ----------
    weight : torch.Tensor, optional
        One weight per class, shape ``(C,)``.
    ignore_index : int, optional
        A class-index target equal to it counts for nothing (default -100).
    reduction : {"mean", "sum", "none"}, optional
        As ``torch.nn.CrossEntropyLoss``; "mean" divides by the summed weights
        of the targets that count.
    label_smoothing : float, optional
        In [0, 1] (default 0).
    temperature : float, optional
        A finite number > 0 dividing the logits (default 1).

    Examples
    --------
    >>> import torch, softmaxkit.torch as skt
    >>> loss = skt.CrossEntropyLoss(label_smoothing=0.1)
    >>> loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))
    tensor(0.6931)
    """

    weight: torch.Tensor | None  # a buffer (register_buffer): declared for type checkers

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        *,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        temperature: float = 1.0,
    ):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing, self.temperature = label_smoothing, temperature

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, where: torch.Tensor | None = None
    ) -> torch.Tensor:
        return functional.cross_entropy(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
            label_smoothing=self.label_smoothing, temperature=self.temperature, where=where,
        )  # fmt: skip


class LinearCrossEntropyLoss(torch.nn.Module):
    """A ``torch.nn.Linear(H, C)`` output layer and its cross-entropy, without the logits.

    Holds the layer's ``weight`` (C, H) and ``bias`` (C,) as parameters;
    ``forward(input, target)`` is :func:`softmaxkit.torch.linear_cross_entropy`.

    Parameters
    ----------
    in_features : int
        ``H``, the size of each input row.
    num_classes : int
        ``C``, the number of classes.
    bias : bool, optional
        Whether the layer has a bias (default True).
    class_weight : torch.Tensor, optional
        One weight per class, shape ``(C,)`` (the ``weight`` of
        ``torch.nn.CrossEntropyLoss``; ``weight`` here is the layer's matrix).
    ignore_index, reduction, label_smoothing
        As in :class:`CrossEntropyLoss`.
    chunk_size : int, optional
        Rows per chunk of the logits (default: chosen from ``C``).
    device, dtype : optional
        Where and in which dtype the parameters are created.

    Examples
    --------
    >>> import torch, softmaxkit.torch as skt
    >>> head = skt.LinearCrossEntropyLoss(4, 3)
    >>> with torch.no_grad():
    ...     _ = head.weight.zero_(), head.bias.zero_()
    >>> round(head(torch.ones(2, 4), torch.tensor([0, 2])).item(), 4)  # uniform: log 3
    1.0986
    """

    class_weight: torch.Tensor | None  # a buffer (register_buffer): declared for type checkers

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        bias: bool = True,
        class_weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        chunk_size: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        layer = torch.nn.Linear(in_features, num_classes, bias=bias, device=device, dtype=dtype)
        self.weight, self.bias = layer.weight, layer.bias
        self.register_buffer("class_weight", class_weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing, self.chunk_size = label_smoothing, chunk_size

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return functional.linear_cross_entropy(
            input, self.weight, target, bias=self.bias, weight=self.class_weight,
            ignore_index=self.ignore_index, label_smoothing=self.label_smoothing,
            reduction=self.reduction, chunk_size=self.chunk_size,
        )  # fmt: skip
