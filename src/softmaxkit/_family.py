"""The documented internal API that the members of the softmax family are written against.

A function of the family (``softmax``, a variant in ``variants/``) validates
its arguments and brings the input to the compute dtype with :func:`prepare`,
computes on ``Prepared.z`` over ``Prepared.axes`` with ``_stable``, and
returns :func:`finish` of the values; a vector-Jacobian product uses
:func:`prepare_vjp`, :func:`to_work_dtype` and :func:`finish_vjp`. Every
check and dtype rule lives here or in ``_validate``, so a new variant is one
module written against these few names.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import array_api_compat

from . import _backend, _stable
from . import _validate as validate


class Validated(NamedTuple):
    xp: Any
    x: Any  # the input as an array of xp, dtype unchanged
    axes: tuple[int, ...]
    temperature: Any  # a Python float, or an array in work_dtype
    mask: Any | None  # bool, broadcast to x's shape
    out_dtype: Any
    work_dtype: Any


def validated(x: Any, axis: Any, temperature: Any, where: Any, *, name: str = "x") -> Validated:
    """Validate the family's arguments; ``name`` is what the input is called (x, logits)."""
    xp = validate.namespace(x)
    x = validate.as_array(xp, x, name=name)
    out_dtype = validate.float_dtype_of(xp, x, name=name)
    if not xp.isdtype(x.dtype, "real floating"):
        # Integers and booleans become floats here, so that they take the
        # same (kernel) path as the floats they equal.
        x = xp.astype(x, out_dtype)
    axes = validate.normalize_axis(axis, x.ndim)
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(x))
    t = validate.temperature(temperature, xp, x, work_dtype, axes)
    mask = validate.where_mask(where, xp, x)
    return Validated(xp, x, axes, t, mask, out_dtype, work_dtype)


class Prepared(NamedTuple):
    xp: Any
    z: Any  # input / temperature, in the compute dtype
    axes: tuple[int, ...]
    mask: Any | None
    out_dtype: Any
    compensate: bool
    added_axis: bool  # axis=() or a 0-d input: a trailing axis of length 1 was added


def prepare(x: Any, axis: Any, temperature: Any, where: Any, *, name: str = "x") -> Prepared:
    """Validate the arguments and bring ``x`` (called ``name``) to the compute dtype."""
    return prepare_validated(validated(x, axis, temperature, where, name=name))


def prepare_validated(v: Validated) -> Prepared:
    xp, axes, mask = v.xp, v.axes, v.mask
    z = xp.astype(v.x, v.work_dtype)
    t = v.temperature
    added_axis = not axes
    if added_axis:
        # Softmax over no axes: every entry is its own slice of length 1.
        z = z[..., None]
        mask = None if mask is None else mask[..., None]
        t = t if isinstance(t, float) else t[..., None]
        axes = (z.ndim - 1,)
    if not (isinstance(t, float) and t == 1.0):
        z = _stable.divide_by_temperature(xp, z, t, axes, where=mask)
    return Prepared(xp, z, axes, mask, v.out_dtype, v.work_dtype == v.out_dtype, added_axis)


def has_empty_axis(p: Prepared) -> bool:
    return any(p.z.shape[a] == 0 for a in p.axes)


def finish(p: Prepared, values: Any) -> Any:
    if p.added_axis:
        values = values[..., 0]
    return _backend.cast(p.xp, values, p.out_dtype)


def prepare_vjp(
    y: Any, g: Any, axis: Any, temperature: Any, where: Any, *, name: str = "y"
) -> tuple[Any, Any, Any, tuple[int, ...], Any, Any, Any]:
    """Validate a vjp's arguments; ``name`` is what the forward output is called (y, logp)."""
    xp = validate.namespace(y, g)
    y = validate.as_array(xp, y, name=name)
    y_dtype = validate.float_dtype_of(xp, y, name=name)  # before shapes: "abc" is 0-d
    g = validate.as_array(xp, g, like=y, name="g")
    out_dtype = xp.result_type(y_dtype, validate.float_dtype_of(xp, g, name="g"))
    if tuple(g.shape) != tuple(y.shape):
        raise ValueError(
            f"g must have the shape of the forward output {tuple(y.shape)}, got {tuple(g.shape)}"
        )
    axes = validate.normalize_axis(axis, y.ndim)
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(y))
    t = validate.temperature(temperature, xp, y, work_dtype, axes)
    mask = validate.where_mask(where, xp, y)
    return xp, y, g, axes, mask, t, out_dtype


def to_work_dtype(xp: Any, y: Any, g: Any, out_dtype: Any) -> tuple[Any, Any]:
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(y))
    return xp.astype(y, work_dtype), xp.astype(g, work_dtype)


def finish_vjp(xp: Any, grad: Any, t: Any, mask: Any | None, out_dtype: Any) -> Any:
    grad = _stable.divide_gradient_by_temperature(xp, grad, t)
    if mask is not None:
        grad = xp.where(mask, grad, 0.0)
    return _backend.cast(xp, grad, out_dtype)


# ---- the canonical (rows, n) layout that backends take ----------------------


class RowLayout(NamedTuple):
    """How an array maps onto the backends' layout: the reduced axes moved
    last and merged into one, ``(*kept, n)``; the kept axes are the rows."""

    order: tuple[int, ...]  # the kept axes, then the reduced ones
    kept_shape: tuple[int, ...]
    reduced_shape: tuple[int, ...]

    @property
    def n(self) -> int:
        return math.prod(self.reduced_shape)


def row_layout(shape: tuple[int, ...], axes: tuple[int, ...]) -> RowLayout:
    """The layout reducing ``axes`` (sorted; ``()`` makes every entry its own row of 1)."""
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    return RowLayout(
        kept + tuple(axes), tuple(shape[a] for a in kept), tuple(shape[a] for a in axes)
    )


def to_rows(xp: Any, a: Any, layout: RowLayout) -> Any:
    """``a`` (of the layout's shape, or broadcastable to it with length 1 along
    the reduced axes, as a per-row temperature) in the ``(*kept, n)`` layout:
    a view when one reduced axis is moved, a reshape (maybe a copy) when
    several are merged."""
    ndim = len(layout.order)
    if a.ndim < ndim:
        a = xp.reshape(a, (1,) * (ndim - a.ndim) + tuple(a.shape))
    a = xp.permute_dims(a, layout.order)
    kept = tuple(a.shape[: len(layout.kept_shape)])
    if len(layout.reduced_shape) == 1:
        return a
    return xp.reshape(a, kept + (math.prod(a.shape[len(kept) :]),))


def from_rows(xp: Any, values: Any, layout: RowLayout) -> Any:
    """A ``(*kept, n)`` result back in the original axis order and shape."""
    if len(layout.reduced_shape) != 1:
        values = xp.reshape(values, layout.kept_shape + layout.reduced_shape)
    inverse = tuple(sorted(range(len(layout.order)), key=layout.order.__getitem__))
    return xp.permute_dims(values, inverse)


def reduced_from_rows(xp: Any, values: Any, layout: RowLayout, *, keepdims: bool) -> Any:
    """A ``(*kept,)`` result (a reduction over the rows) in the original axis
    order, with the reduced axes kept as length 1 when ``keepdims``."""
    if not keepdims:
        return values
    ones = (1,) * len(layout.reduced_shape)
    return from_rows(xp, xp.reshape(values, layout.kept_shape + ones), layout._replace(reduced_shape=ones))
