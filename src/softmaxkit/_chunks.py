"""Bounded memory for large NumPy inputs: compute a block of slices at a time.

The array-API code forms whole-array temporaries (a float64 copy of float32
input, the shifted logits, a sort for sparsemax...), so its peak memory is a
multiple of the input. Every slice along the reduced axis is independent of
the others, so a large NumPy input can be cut into blocks along an axis that
is not reduced (the leading rows; the columns of ``axis=0``; the classes of a
``(1, n)`` input for an elementwise function), each computed as a small call
and written into one preallocated result: the peak is then the result plus
the temporaries of one block of about ``CHUNK_BYTES``. A ``where=`` mask and
a per-slice temperature travel with their block. The values are those of the
whole call, bit for bit (each slice is computed alike either way).

When no such axis helps (a 1-D input, one huge row, ``axis=0`` of a tall
thin array), the slices themselves are too large: :mod:`._streams` computes
them in blocks along the reduced axis instead (:func:`plan` says which).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

#: Input bytes per block: small, so the block's temporaries (up to ~26 times
#: it, entmax15 on float32) stay a fraction of a large result; large enough
#: that a call's overhead (tens of microseconds) is small against its work.
CHUNK_BYTES = 1 << 18


class Plan(NamedTuple):
    """How to compute a large input: ``"blocks"`` of slices cut along ``axis``,
    or ``"stream"`` each slice in blocks along the reduced ``axis``."""

    kind: str
    axis: int


def plan(
    x: Any, reduced_axes: tuple[int, ...] | None, *, in_order: bool = False
) -> Plan | None:
    """How to keep the memory of a call on ``x`` bounded; None for small or non-NumPy input.

    ``reduced_axes`` are non-negative axes, or None for an elementwise
    function. With ``in_order`` the blocks must follow each other in C order
    (random noise drawn block by block is then the noise of one call): only
    an axis before which every axis has length 1 qualifies.
    A ``"stream"`` plan is returned only for one reduced axis, when no cut
    gives blocks of at most ``4 * CHUNK_BYTES``.
    """
    if not (type(x) is np.ndarray and x.nbytes > 4 * CHUNK_BYTES):
        return None
    reduced = () if reduced_axes is None else reduced_axes
    for axis, length in enumerate(x.shape):
        if length <= 1:
            continue
        if axis in reduced:
            if in_order:
                break  # a later cut would interleave this axis's entries
            continue
        if x.nbytes // length <= 4 * CHUNK_BYTES:
            return Plan("blocks", axis)
        if in_order:
            break
    if len(reduced) == 1 and x.shape[reduced[0]] > 1:
        return Plan("stream", reduced[0])
    cut = next((a for a, n in enumerate(x.shape) if n > 1 and a not in reduced), None)
    return None if cut is None or in_order else Plan("blocks", cut)


def plan_for(x: Any, axis: Any, *options: Any, in_order: bool = False) -> Plan | None:
    """:func:`plan` for a public function's ``x`` and one int ``axis``, with ``options``.

    None unless each option (a ``where=`` mask, a temperature) can travel
    with the blocks: None, a number, or a NumPy array that broadcasts to
    ``x``. Anything else is computed whole, where it is validated.
    """
    if not (type(x) is np.ndarray and type(axis) is int and -x.ndim <= axis < x.ndim):
        return None
    if not all(_travels(option, x) for option in options):
        return None
    return plan(x, (axis % x.ndim,), in_order=in_order)


def on_host(x: Any, *options: Any) -> tuple[Any, ...]:
    """``options`` (a ``where=`` mask, a temperature) as NumPy arrays when ``x`` is one.

    Validation converts a list, a CPU torch tensor, a JAX or Dask array given
    beside a NumPy ``x`` into a NumPy array anyway; converting it first lets
    it travel with the blocks of :func:`plan_for` instead of forcing the
    whole-array path (issue #14: a list or torch mask made sparsemax peak at
    15x the input). What NumPy cannot convert is left as given, to be
    validated (and refused) where it is used.
    """
    if type(x) is not np.ndarray:
        return options
    return tuple(_numpy_or_given(value) for value in options)


def _numpy_or_given(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, np.number, np.ndarray)):
        return value
    try:
        converted = np.asarray(value)
    except Exception:  # a GPU tensor, an object NumPy cannot read: validated where used
        return value
    # Strings and objects: left for validation to name them as given.
    return converted if converted.dtype.kind in "biuf" else value


def _travels(value: Any, x: np.ndarray) -> bool:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return True
    if type(value) is not np.ndarray or value.ndim > x.ndim:
        return False
    try:
        return np.broadcast_shapes(value.shape, x.shape) == x.shape
    except ValueError:
        return False


def applies(x: Any, reduced_axes: tuple[int, ...] | None, *, along: int = 0) -> bool:
    """True when ``x`` is a large NumPy array whose axis ``along`` is not reduced."""
    return (
        type(x) is np.ndarray
        and x.ndim > along
        and x.shape[along] > 1
        and x.nbytes > 4 * CHUNK_BYTES
        and (reduced_axes is None or (x.ndim >= 2 and along not in reduced_axes))
    )


def by_rows(
    function: Callable[..., Any],
    *arrays: np.ndarray,
    out: Any = None,
    along: int = 0,
    broadcast: tuple[Any, ...] = (),
    reduced: int | None = None,
) -> np.ndarray:
    """``function(*blocks, *broadcast_blocks)`` over blocks along axis ``along``, stitched together.

    The ``arrays`` share their length along that axis (the leading rows by
    default); ``function`` returns an array whose axis ``along`` is that of
    its blocks. Each of ``broadcast`` (None, a number, or an array that
    broadcasts against ``arrays[0]``: a mask, a temperature per slice) is
    passed cut to the block where it varies along the axis, and whole where
    it does not. A ``function`` that drops its ``reduced`` axis returns
    blocks cut along ``along - 1`` when ``reduced < along``. With ``out``,
    blocks are written into it (and it is returned).
    """
    rows = arrays[0].shape[along]
    ndim = arrays[0].ndim
    step = max(1, CHUNK_BYTES // max(1, arrays[0].nbytes // rows))
    before = (slice(None),) * along
    # ``reduced == along`` never comes (the cut axis is one :func:`plan` found unreduced):
    # ``<`` and ``<=`` agree on every call.
    result_along = along - 1 if reduced is not None and reduced < along else along  # pragma: no mutate
    result_before = (slice(None),) * result_along
    extras = [_aligned(value, ndim) for value in broadcast]
    result: np.ndarray | None = out
    for start in range(0, rows, step):
        index = (*before, slice(start, start + step))
        cut = [
            value[index] if isinstance(value, np.ndarray) and value.shape[along] > 1 else value
            for value in extras
        ]
        block = function(*(a[index] for a in arrays), *cut)
        if result is None:
            shape = list(block.shape)
            shape[result_along] = rows
            result = np.empty(shape, block.dtype)
        result[(*result_before, slice(start, start + step))] = block
    assert result is not None, "by_rows is only called on arrays with rows"
    return result


def _aligned(value: Any, ndim: int) -> Any:
    """``value`` with leading axes of length 1 up to ``ndim`` (a view), if it is an array."""
    # (``<=`` would reshape an array of ``ndim`` axes to its own shape: the same view.)
    if isinstance(value, np.ndarray) and value.ndim < ndim:  # pragma: no mutate
        return value.reshape((1,) * (ndim - value.ndim) + value.shape)
    return value
