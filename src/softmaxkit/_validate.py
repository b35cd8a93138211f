"""Argument checks shared by every public function.

Each check raises ``TypeError`` (wrong kind of thing) or ``ValueError`` (right
kind, bad value) with a message that names the argument and shows the value,
so a user can see at once which argument to fix.
"""

from __future__ import annotations

import math
import operator
from typing import Any, cast, get_args

import array_api_compat
import numpy as np

from . import _host
from ._typing import Reduction

REDUCTIONS = get_args(Reduction)


def namespace(primary: Any, *others: Any) -> Any:
    """Return the array-API namespace that a call computes in.

    That is the namespace of ``primary`` (the input, or the logits) when it is
    an array; else of the first array among ``others``; else NumPy's (so plain
    lists work everywhere). Arguments from another library are converted to
    this one by :func:`as_array`.
    """
    for candidate in (primary, *others):
        # A numpy.ma array is NumPy's (as_array refuses or unwraps it): it picks NumPy
        # as a plain NumPy array does, whatever library the other arguments are from.
        if array_api_compat.is_array_api_obj(candidate):
            return array_api_compat.array_namespace(candidate)
    return array_api_compat.array_namespace(np.empty(0))  # pragma: no mutate


def float_dtype_of(xp: Any, x: Any, *, name: str) -> Any:
    """The floating dtype in which ``x`` is returned.

    Floating dtypes are kept; integer and boolean arrays promote to the
    namespace's default floating dtype; complex arrays are refused.
    """
    if xp.isdtype(x.dtype, "complex floating"):
        raise TypeError(f"{name} must be real, got complex dtype {x.dtype}")
    if xp.isdtype(x.dtype, "real floating"):
        if getattr(x.dtype, "isnative", True) is False:
            # NumPy's other byte order: '>f8' != float64 would compute in
            # float32, uncompensated. Results come in native byte order.
            return x.dtype.newbyteorder("=")
        return x.dtype
    if xp.isdtype(x.dtype, ("integral", "bool")):
        info = xp.__array_namespace_info__()
        return info.default_dtypes(device=array_api_compat.device(x))["real floating"]
    raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")


def not_masked(value: Any, *, name: str) -> Any:
    """``value``, or the data of a ``numpy.ma`` array with no entry masked.

    Every other library (and ``np.asarray``) reads a masked array's data and
    drops its mask, which would silently include the masked entries, so a
    mask that hides anything is refused with the way to say it instead.
    """
    if not isinstance(value, np.ma.MaskedArray):
        return value
    if not np.ma.getmaskarray(value).any():
        return value.data
    raise TypeError(
        f"{name} is a numpy.ma masked array with masked entries, which would be ignored; "
        f"pass {name}.filled(0) with where=~{name}.mask where the function takes where=, "
        f"or leave the masked entries out"
    )


def as_array(xp: Any, value: Any, *, like: Any | None = None, name: str) -> Any:
    """Convert ``value`` to an array of ``xp`` (on the device of ``like``)."""
    value = not_masked(value, name=name)
    device = None if like is None else array_api_compat.device(like)
    if array_api_compat.is_array_api_obj(value):
        if array_api_compat.array_namespace(value) is not xp:
            try:
                value = np.asarray(value)
            except Exception as exc:  # pragma: no cover - exotic mixes only
                raise TypeError(
                    f"{name} is an array of a different library than the input; "
                    f"got {type(value).__module__}.{type(value).__name__}"
                ) from exc
        else:
            return value
    try:
        return xp.asarray(value, device=device)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {value!r}") from exc


def normalize_axis(axis: Any, ndim: int, *, name: str = "axis") -> tuple[int, ...]:
    """Return ``axis`` as a sorted tuple of non-negative axes.

    ``axis`` may be an int, a tuple of ints, or ``None`` (all axes).
    """
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    normalized = []
    for a in axes:
        if isinstance(a, bool):
            raise TypeError(f"{name} must be an int, a tuple of ints or None, got {axis!r}")
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(
                f"{name} must be an int, a tuple of ints or None, got {axis!r}"
            ) from None
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{name} {a} is out of bounds for an array of dimension {ndim}"
            )
        normalized.append(a % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{name} contains a repeated axis: {axis!r}")
    return tuple(sorted(normalized))


def single_axis(axis: Any, ndim: int, *, name: str = "axis") -> int:
    """Return a single non-negative axis (no tuples, no None)."""
    if axis is None or isinstance(axis, tuple):
        raise TypeError(f"{name} must be a single int, got {axis!r}")
    return normalize_axis(axis, ndim, name=name)[0]


def class_axis(x: Any, axis: Any, *, name: str) -> int:
    """The class axis of the scores ``x`` (named ``name``): a single axis, which a 0-d ``x`` lacks."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have a class axis, got a 0-d array")
    return single_axis(axis, x.ndim)


def integer_array(xp: Any, a: Any, *, name: str) -> Any:
    """``a`` (an array of ``xp``) if it holds integers (ids, labels); TypeError naming ``name`` if not."""
    if not xp.isdtype(a.dtype, "integral"):
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    return a


def integer_vector(
    xp: Any, value: Any, *, like: Any, name: str, length: int, length_name: str = "", meaning: str = ""
) -> Any:
    """``value`` as a 1-D integer array of ``xp`` with ``length`` entries (ids, classes).

    TypeError naming ``name`` where it is not integer; ValueError where its shape is not
    ``(length,)``, the message naming the argument the length comes from (``length_name``)
    or saying what the entries are (``meaning``).
    """
    a = integer_array(xp, as_array(xp, value, like=like, name=name), name=name)
    if tuple(a.shape) != (length,):
        expected = f"({length_name},) = ({length},)" if length_name else f"({length},)"
        raise ValueError(
            f"{name} must have shape {expected}{', ' + meaning if meaning else ''}, got {tuple(a.shape)}"
        )
    return a


def _as_float(value: Any, *, name: str) -> float:
    """``float(value)``, with an int too large for a float (2**2000) named as a ValueError."""
    try:
        return float(value)
    except OverflowError:
        digits = len(str(abs(int(value))))
        raise ValueError(
            f"{name} must be a finite number, got an int of {digits} digits, "
            f"too large for a float"
        ) from None


def finite_scalar(value: Any, *, name: str) -> float:
    """Return ``value`` as a Python float, refusing bools, non-numbers and non-finite values."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    number = _as_float(value, name=name)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number!r}")
    return number


def temperature(
    value: Any, xp: Any, x: Any, compute_dtype: Any, axes: tuple[int, ...]
) -> float | Any:
    """Validate a temperature: a finite number > 0, or an array of them.

    Returns a Python float, or an array in ``compute_dtype`` that broadcasts
    against ``x``. An array temperature is one number per slice: it must not
    vary along the reduced ``axes``. NumPy broadcasting would line a 1-D
    temperature of length ``rows`` up with the class axis of a ``(rows, n)``
    input and divide each class by a different number, which nobody means
    and which no error would reveal; it is refused with the shape to use.
    """
    if not array_api_compat.is_array_api_obj(value) and not isinstance(value, (list, tuple)):
        if isinstance(value, bool) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"temperature must be a number > 0 or an array of them, got {value!r}"
            )
        t = _as_float(value, name="temperature")
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {t!r}")
        return t
    t = as_array(xp, value, like=x, name="temperature")
    if not xp.isdtype(t.dtype, ("real floating", "integral")):
        raise TypeError(f"temperature must be a real array, got dtype {t.dtype}")
    _check_broadcast(t.shape, x.shape, name="temperature")
    _check_constant_along(t.shape, x.shape, axes, name="temperature")
    t = xp.astype(t, compute_dtype)
    bad = concrete_bool(xp.any(~(xp.isfinite(t) & (t > 0))))
    if bad:
        # Read on the host: XLA on the CPU reads a subnormal T as 0 (not > 0),
        # which is no error (divide_by_temperature takes it as the T -> 0 limit).
        flat = host_values(t)
        worst = flat[~(np.isfinite(flat) & (flat > 0))]
        if worst.size:
            raise ValueError(
                f"temperature must contain only finite numbers > 0, got {float(worst[0])!r}"
            )
    return t


def where_mask(where: Any, xp: Any, x: Any) -> Any | None:
    """Validate ``where``: a boolean mask broadcastable to ``x`` (returned broadcast)."""
    if where is None:
        return None
    mask = as_array(xp, where, like=x, name="where")
    if mask.dtype != xp.bool:
        raise TypeError(f"where must be a boolean array, got dtype {mask.dtype}")
    _check_broadcast(mask.shape, x.shape, name="where")
    return xp.broadcast_to(mask, x.shape)


def out_array(out: Any, xp: Any, shape: tuple[int, ...], dtype: Any) -> None:
    """Check an ``out=`` argument: an array of ``xp`` with the result's shape and dtype."""
    if not array_api_compat.is_array_api_obj(out) or array_api_compat.array_namespace(out) is not xp:
        raise TypeError(
            f"out must be an array of the same library as the input, got "
            f"{type(out).__module__}.{type(out).__name__}"
        )
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"out must have the result's shape {tuple(shape)}, got {tuple(out.shape)}")
    if out.dtype != dtype and not _same_type_other_byte_order(out.dtype, dtype):
        raise TypeError(f"out must have the result's dtype {dtype}, got {out.dtype}")
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError("out must be writable, got a read-only array")


def _same_type_other_byte_order(a: Any, b: Any) -> bool:
    """NumPy dtypes that differ only in byte order (a big-endian ``out=`` is valid, as in NumPy)."""
    if not isinstance(a, np.dtype) or not isinstance(b, np.dtype):
        return False
    return a.newbyteorder("=") == b.newbyteorder("=")


def reduction(value: Any) -> Reduction:
    if value not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {value!r}")
    return cast(Reduction, value)


def label_smoothing(value: Any) -> float:
    """Validate a label smoothing: a real number in [0, 1]."""
    smoothing = finite_scalar(value, name="label_smoothing")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {smoothing!r}")
    return smoothing


def integer(
    value: Any, *, name: str, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Validate an integer argument: an int or integer scalar (not a bool), within bounds.

    The one integer check: a non-integer is a ``TypeError``, one outside
    ``[minimum, maximum]`` a ``ValueError``. The bounds keep a value that
    Python accepts (``2**63``) from reaching a C integer or an allocation,
    where it would fail without naming ``name``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {number}")
    return number


#: Class ids and ignore_index are compared with int64 targets.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def ignore_index(value: Any) -> int:
    """Validate an ignore_index: an int (not a bool) that fits the int64 targets."""
    return integer(value, name="ignore_index", minimum=INT64_MIN, maximum=INT64_MAX)


def concrete_bool(flag: Any) -> bool | None:
    """``bool(flag)`` for an eager 0-d array; ``None`` for a lazy or traced one.

    Value checks (targets in range, temperatures > 0) run on eager arrays and
    are skipped on lazy ones (Dask, JAX under ``jit``), which cannot be
    inspected without computing them.
    """
    if array_api_compat.is_dask_array(flag):
        return None
    try:
        return bool(flag)
    except Exception:  # a tracer that refuses concretisation
        return None


def host_values(x: Any) -> np.ndarray:
    """The values of ``x`` as a flat NumPy array, as stored (for checks that failed)."""
    return _host.to_numpy(x).reshape(-1)


def _check_broadcast(
    shape: tuple[int, ...], target_shape: tuple[int, ...], *, name: str
) -> None:
    """Raise unless an array of ``shape`` broadcasts to ``target_shape``."""
    ok = len(shape) <= len(target_shape) and all(
        s in (1, t) for s, t in zip(reversed(shape), reversed(target_shape))
    )
    if not ok:
        raise ValueError(
            f"{name} of shape {tuple(shape)} does not broadcast to the input's "
            f"shape {tuple(target_shape)}"
        )


def _check_constant_along(
    shape: tuple[int, ...], target_shape: tuple[int, ...], axes: tuple[int, ...], *, name: str
) -> None:
    """Raise when an array of ``shape``, broadcast to ``target_shape``, varies along ``axes``."""
    padded = (1,) * (len(target_shape) - len(shape)) + tuple(shape)
    varying = [a for a in axes if padded[a] != 1 and target_shape[a] != 1]
    if varying:
        per_slice = tuple(1 if a in axes else n for a, n in enumerate(target_shape))
        raise ValueError(
            f"{name} of shape {tuple(shape)} varies along axis {varying[0]}, the axis "
            f"the softmax is taken over (the input has shape {tuple(target_shape)}); "
            f"one {name} per slice has shape {per_slice}: for a (rows,) array t pass "
            f"t[:, None]"
        )


def probabilities(
    xp: Any,
    p: Any,
    axes: tuple[int, ...],
    *,
    name: str,
    normalised: bool,
    other: str = "logits",
    input_dtype: Any = None,
) -> None:
    """Check ``p`` (an array in its compute dtype) holds probabilities over ``axes``.

    Finite and >= 0; with ``normalised``, also <= 1 and summing to 1 over each
    slice, within 1e-4 (float32 softmax output is within ~1e-6) or the
    rounding of ``n`` entries of ``input_dtype`` (float16). Logits passed
    where probabilities belong are the usual cause, so the message names the
    argument that takes them (``other``). Lazy arrays are not inspected (see
    :func:`concrete_bool`).
    """
    bad = ~(xp.isfinite(p) & (p >= 0))
    if normalised:
        bad = bad | (p > 1)
    if concrete_bool(xp.any(bad)):
        flat = host_values(p)
        worst = flat[host_values(bad)][0]
        limits = "[0, 1]" if normalised else "[0, inf)"
        raise ValueError(
            f"{name} must be finite and in {limits}, got {float(worst)!r}; "
            f"pass {other}= for {other}"
        )
    if not normalised or 0 in p.shape:
        return
    n = math.prod(p.shape[a] for a in axes)
    eps = float(xp.finfo(p.dtype if input_dtype is None else input_dtype).eps)
    sums = xp.sum(p, axis=axes)
    off = xp.abs(sums - 1.0) > max(1e-4, n * eps)
    if concrete_bool(xp.any(off)):
        total = host_values(sums)[host_values(off)][0]
        raise ValueError(
            f"{name} must sum to 1 over axis {axes[0] if len(axes) == 1 else axes}, "
            f"a slice sums to {float(total)!r}; pass {other}= for {other}"
        )
