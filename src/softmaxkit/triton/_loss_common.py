"""Launcher-side pieces shared by the cross-entropy and linear cross-entropy launchers:
option checks, the "mean" denominator, the per-call scalars and the reductions.

Everything stays on the device: the denominator, the scalars and the
reduced loss are tensors, so a launch never waits for a device-to-host read
(except the opt-in check of the class indices).
"""

from __future__ import annotations

from typing import Any

import torch

from ._tensors import check_float_tensor, check_same_device

REDUCTIONS = ("mean", "sum", "none")


def check_loss_options(
    weight: Any, ignore_index: Any, label_smoothing: Any, reduction: Any, n_classes: int,
    like: torch.Tensor,
) -> float:  # fmt: skip
    """Check the options every cross-entropy takes; return the smoothing as a float."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int, got {ignore_index!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)):
        raise TypeError(f"label_smoothing must be a real number, got {label_smoothing!r}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {eps!r}")
    check_class_vector(weight, "weight", n_classes, like)
    return eps


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
    if not flat.numel():
        return
    bad = (flat != ignore_index) & ((flat < 0) | (flat >= n_classes))
    if bool(bad.any()):
        raise ValueError(
            f"target contains class index {int(flat[bad][0])}, outside [0, {n_classes}) "
            f"and not ignore_index ({ignore_index})"
        )


def index_denominator(
    flat: torch.Tensor, w: torch.Tensor | None, ignore_index: int, n_classes: int, acc: torch.dtype
) -> torch.Tensor:
    """What "mean" divides by for class indices: the summed weights of the
    targets that are not ignored (their count without weights)."""
    valid = flat != ignore_index
    if w is None:
        return valid.to(acc).sum()
    if not n_classes:
        return torch.zeros((), dtype=acc, device=flat.device)
    picked = w[flat.clamp(0, n_classes - 1)]
    return torch.where(valid, picked, 0.0).sum()


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
        grad_scale = 1.0 / torch.where(denominator == 0, 1.0, denominator)
    else:
        grad_scale = torch.ones((), dtype=acc, device=device)
    constants = torch.tensor([1.0 - eps, eps / n_classes if n_classes else 0.0], dtype=acc,
                             device=device)  # fmt: skip
    return torch.cat([constants, torch.stack([weight_total, grad_scale]).to(acc)])


def reduce_rows(
    per_row: torch.Tensor, denominator: torch.Tensor, reduction: str, batch_shape: tuple[int, ...]
) -> torch.Tensor:
    """The per-row losses reduced; the mean over no counted target is NaN, as in torch."""
    if reduction == "none":
        return per_row.reshape(batch_shape)
    total = per_row.sum()
    if reduction == "sum":
        return total
    safe = torch.where(denominator == 0, 1.0, denominator)
    return torch.where(denominator == 0, float("nan"), total / safe)
