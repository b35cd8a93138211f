"""Checks and reshapes shared by the launchers: torch tensors in, 2-D row views out.

The launchers are the layer under ``softmaxkit.torch``; they check what is
cheap to check (types, dtypes, devices, shapes, scalar options) and, when
``validate=True``, the values that need a device-to-host read (temperatures
> 0, class indices in range). Every error names the argument and the value.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import triton.language as tl

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class Compute(NamedTuple):
    """How a kernel computes for one input dtype."""

    acc: Any  # tl.float32 or tl.float64
    fmax: float  # the largest finite value of acc
    compensate: bool  # compensated subtraction of the maximum (float64, as in _stable)
    torch_dtype: torch.dtype


def compute_for(dtype: torch.dtype) -> Compute:
    """float16/bfloat16/float32 compute in float32, float64 in float64 (compensated)."""
    if dtype == torch.float64:
        return Compute(tl.float64, torch.finfo(torch.float64).max, True, torch.float64)
    return Compute(tl.float32, torch.finfo(torch.float32).max, False, torch.float32)


def check_float_tensor(x: Any, *, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be float16, bfloat16, float32 or float64, got dtype {x.dtype}"
        )
    return x


def check_same_device(reference: torch.Tensor, other: torch.Tensor, *, name: str) -> None:
    if other.device != reference.device:
        raise ValueError(f"{name} is on {other.device}, the input is on {reference.device}")


def check_dim(dim: Any, ndim: int) -> int:
    """A single axis as a non-negative int (0-d tensors are refused by the callers)."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim {dim} is out of bounds for a tensor of dimension {ndim}")
    return dim % ndim


class Rows(NamedTuple):
    """A tensor seen as ``(n_rows, n_cols)`` rows along ``dim`` (unit column stride)."""

    data: torch.Tensor  # 2-D, stride(1) == 1
    moved_shape: tuple[int, ...]  # the shape with dim moved last
    dim: int

    def restore(self, rows: torch.Tensor) -> torch.Tensor:
        """Give a ``(n_rows, n_cols)`` result the layout of the input."""
        return rows.reshape(self.moved_shape).movedim(-1, self.dim)


def as_rows(x: torch.Tensor, dim: int) -> Rows:
    """``x`` with ``dim`` last, flattened to rows; copies only when a view cannot do it."""
    moved = x.movedim(dim, -1)
    n_cols = moved.shape[-1]
    # The row count is explicit: reshape(-1, 0) is ambiguous for an empty axis.
    rows = moved.reshape(math.prod(moved.shape[:-1]), n_cols)
    if rows.stride(1) != 1 and n_cols > 1:
        rows = rows.contiguous()
    return Rows(rows, tuple(moved.shape), dim)


def mask_rows(where: Any, x: torch.Tensor, dim: int) -> torch.Tensor:
    """``where`` broadcast to ``x`` and seen as uint8 rows (a view when it can be:
    a mask broadcast along the batch axes costs no memory)."""
    if not isinstance(where, torch.Tensor):
        raise TypeError(f"where must be a boolean torch.Tensor, got {type(where).__name__}")
    if where.dtype != torch.bool:
        raise TypeError(f"where must be a boolean tensor, got dtype {where.dtype}")
    check_same_device(x, where, name="where")
    full = _broadcast(where, x, name="where")
    moved = full.movedim(dim, -1)
    # A view whenever reshape can make one (the kernels take both strides).
    return moved.reshape(math.prod(moved.shape[:-1]), moved.shape[-1]).view(torch.uint8)


def _broadcast(option: torch.Tensor, x: torch.Tensor, *, name: str) -> torch.Tensor:
    """``option`` broadcast to ``x``'s shape (a view), or a ValueError naming it."""
    try:
        return torch.broadcast_to(option, x.shape)
    except RuntimeError:
        raise ValueError(
            f"{name} of shape {tuple(option.shape)} does not broadcast to the input's shape "
            f"{tuple(x.shape)}"
        ) from None


def temperature_rows(
    temperature: Any, x: torch.Tensor, dim: int, compute: Compute, *, validate: bool
) -> torch.Tensor | None:
    """The temperature as one value per row (a stride-0 view for a scalar), or
    ``None`` for exactly 1. An array temperature must be constant along ``dim``."""
    if isinstance(temperature, torch.Tensor):
        check_same_device(x, temperature, name="temperature")
        if temperature.dtype == torch.bool or temperature.is_complex():
            raise TypeError(f"temperature must be a real tensor, got dtype {temperature.dtype}")
        full = _broadcast(temperature, x, name="temperature")
        if temperature.ndim > x.ndim - dim - 1 and temperature.shape[dim - x.ndim] != 1:
            raise ValueError(
                f"temperature must have length 1 along dim {dim} (one temperature per row), "
                f"got shape {tuple(temperature.shape)}"
            )
        per_row = full.movedim(dim, -1)[..., 0].reshape(-1).to(compute.torch_dtype)
        if validate and per_row.numel() and not bool(
            torch.all(torch.isfinite(per_row) & (per_row > 0))
        ):
            bad = per_row[~(torch.isfinite(per_row) & (per_row > 0))][0]
            raise ValueError(
                f"temperature must contain only finite numbers > 0, got {float(bad)!r}"
            )
        return per_row
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number > 0 or a tensor, got {temperature!r}")
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {t!r}")
    if t == 1.0:
        return None
    return torch.full((1,), t, dtype=compute.torch_dtype, device=x.device).expand(
        max(1, math.prod(s for i, s in enumerate(x.shape) if i != dim))
    )


def or_dummy(tensor: torch.Tensor | None, dummy: torch.Tensor) -> torch.Tensor:
    """A pointer argument for an absent optional input (the kernel never reads it)."""
    return dummy if tensor is None else tensor
