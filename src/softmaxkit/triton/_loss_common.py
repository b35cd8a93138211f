"""Launcher-side pieces shared by the cross-entropy and linear cross-entropy launchers:
option checks, the "mean" denominator, the per-call scalars and the reductions,
each the rule of ``softmaxkit._targets`` applied to the launcher's tensors.

Everything stays on the device: the denominator, the scalars and the
reduced loss are tensors, so a launch never waits for a device-to-host read
(except the opt-in check of the class indices).
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as torch_xp
import torch

from .. import _targets
from ._tensors import check_float_tensor, check_same_device


def check_loss_options(
    weight: Any, ignore_index: Any, label_smoothing: Any, reduction: Any, n_classes: int,
    like: torch.Tensor,
) -> _targets.Options:  # fmt: skip
    """Check the options every cross-entropy takes (``softmaxkit._targets``' rules) and ``weight``."""
    options = _targets.check_options(ignore_index, label_smoothing, reduction)
    check_class_vector(weight, "weight", n_classes, like)
    return options


def check_class_vector(vector: Any, name: str, n_classes: int, like: torch.Tensor) -> None:
    """A per-class float vector (``weight``, ``bias``) of shape ``(n_classes,)``, or None."""
    if vector is None:
        return
    check_float_tensor(vector, name=name)
    check_same_device(like, vector, name=name)
    if tuple(vector.shape) != (n_classes,):
        raise ValueError(
            f"{name} must have one entry per class ({n_classes},), got shape {tuple(vector.shape)}"
        )


def check_class_indices(flat: torch.Tensor, n_classes: int, ignore_index: int) -> None:
    """Refuse an index outside ``[0, n_classes)`` that is not ``ignore_index`` (one host read)."""
    if flat.numel():
        _targets.check_class_range(torch_xp, flat, n_classes, ignore_index)


def index_denominator(
    flat: torch.Tensor, w: torch.Tensor | None, ignore_index: int, n_classes: int, acc: torch.dtype
) -> torch.Tensor:
    """What "mean" divides by for class indices (see ``softmaxkit._targets``), on the device."""
    denominator: torch.Tensor = _targets.index_denominator(torch_xp, flat, w, ignore_index, n_classes, acc)
    return denominator


def loss_scalars(
    eps: float, n_classes: int, w: torch.Tensor | None, denominator: torch.Tensor,
    reduction: str, acc: torch.dtype, device: torch.device,
) -> torch.Tensor:  # fmt: skip
    """The kernels' per-call scalars, in the order of ``_cross_entropy_kernels``'
    ``ONE_MINUS_EPS``, ``EPS_OVER_C``, ``WEIGHT_TOTAL``, ``GRAD_SCALE``."""
    weight_total = (
        torch.tensor(float(n_classes), dtype=acc, device=device) if w is None else w.sum()
    )
    if reduction == "mean":
        grad_scale = 1.0 / _targets.nonzero(torch_xp, denominator)
    else:
        grad_scale = torch.ones((), dtype=acc, device=device)
    constants = torch.tensor([1.0 - eps, eps / n_classes if n_classes else 0.0], dtype=acc,
                             device=device)  # fmt: skip
    return torch.cat([constants, torch.stack([weight_total, grad_scale]).to(acc)])


def reduce_rows(
    per_row: torch.Tensor, denominator: torch.Tensor, reduction: str, batch_shape: tuple[int, ...]
) -> torch.Tensor:
    """The per-row losses reduced (see ``softmaxkit._targets.reduce``), "none" in the batch shape."""
    if reduction == "none":
        return per_row.reshape(batch_shape)
    reduced: torch.Tensor = _targets.reduce(torch_xp, per_row, denominator, reduction)
    return reduced
