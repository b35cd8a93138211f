"""softmax, log_softmax, logsumexp, their vector-Jacobian products, and relatives.

Written once against the Python array API: NumPy, PyTorch, JAX, CuPy, Dask and
array-api-strict arrays go in and come back as the same kind of array on the
same device. This module is the specification; a compiled kernel may stand in
for it on NumPy arrays (chosen in ``_backends``) and must agree with it.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import array_api_compat
import numpy as np

from . import _backend, _backends, _chunks, _family, _stable, _streams
from . import _validate as validate
from ._typing import ArrayLike, ArrayT, Axis, Nested, NumPyArray

# Shared docstring text, so that the parameter descriptions and the
# edge-case policy read the same in every function.
_EDGE_CASES = """\
    The edge-case policy, shared by the whole family:

    * no overflow or underflow for any finite input (the maximum is
      subtracted first, with its rounding error compensated);
    * entries where ``where`` is False are excluded: probability exactly 0,
      log-probability ``-inf``;
    * a slice whose entries are all ``-inf`` or all excluded gives
      probabilities 0, log-probabilities ``-inf`` and logsumexp ``-inf``;
    * ``+inf`` entries take the limit: the probability is split equally among
      the ``+inf`` entries of the slice, 0 elsewhere; logsumexp is ``+inf``;
    * a NaN makes its own slice NaN and nothing else;
    * a zero-length axis gives an empty result (logsumexp: ``-inf``).

    float16 and bfloat16 are computed in float32, float32 in float64 where the
    device has it, float64 in float64 with a compensated subtraction of the
    maximum. A temperature divides the input once before the shift, so its
    rounding (half an ulp of ``x / temperature``) is part of the input; a
    slice where that quotient would overflow is shifted by its maximum
    before the division. A temperature below the compute dtype's smallest
    normal number is its ``T -> 0`` limit (the mass split among the slice's
    maxima) on every library: XLA on the CPU reads it as 0. The vjps divide
    by such a temperature as by an infinitesimal: their gradient is ``+-inf``
    where it is nonzero and 0 where it is 0."""


@overload
def softmax(
    x: ArrayT,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    out: ArrayT | None = None,
) -> ArrayT: ...
@overload
def softmax(
    x: Nested,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    out: NumPyArray | None = None,
) -> NumPyArray: ...


def softmax(
    x: Any, /, axis: Any = -1, *, temperature: Any = 1.0, where: Any = None, out: Any = None
) -> Any:
    r"""Softmax: ``exp(x / T)`` normalised to sum to one over ``axis``.

    .. math:: \mathrm{softmax}(x)_i = \frac{e^{x_i/T}}{\sum_j e^{x_j/T}}

    Parameters
    ----------
    x : array_like
        Logits. Any array of an array-API library (NumPy, PyTorch, JAX, CuPy,
        Dask, array-api-strict) or a nested list. Integer and boolean input
        promotes to the library's default floating dtype; complex input is
        refused.
    axis : int, tuple of ints or None, optional
        The axis or axes the probabilities sum over; ``None`` means all axes.
        Default: the last axis.
    temperature : float or array_like, optional
        A finite number > 0, or an array of them that broadcasts against
        ``x`` with length 1 along ``axis``: one temperature per slice, e.g.
        shape ``(rows, 1)`` for a ``(rows, n)`` input. A temperature that
        varies along ``axis`` (a ``(rows,)`` array would, by broadcasting) is
        refused. The result is ``softmax(x / temperature)``;
        the inverse temperature beta is ``1 / temperature``. Small
        temperatures tend to the one-hot argmax, large ones to uniform.
    where : array_like of bool, optional
        Mask broadcastable to ``x``; entries where it is False are excluded
        and get probability exactly 0.
    out : array, optional
        An array of the result's shape and dtype, of the same library as
        ``x``, to write the result into (it may be ``x`` itself); it is also
        returned. Not for immutable arrays (JAX).

    Returns
    -------
    array
        Probabilities, the shape and floating dtype of ``x`` (integer input:
        the default floating dtype), same library and device.

    Raises
    ------
    ValueError
        ``axis`` out of range, ``temperature`` not a finite number > 0,
        ``where`` not broadcastable to ``x``, ``out`` of the wrong shape.
    TypeError
        complex or non-numeric ``x``, a non-boolean ``where``, ``out`` of the
        wrong dtype or library.

    Notes
    -----
{edge_cases}

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.softmax([1.0, 2.0, 3.0])
    array([0.09003057, 0.24472847, 0.66524096])
    >>> sk.softmax([0.95, 0.99, 0.98], temperature=1 / 500).round(4)
    array([0.    , 0.9933, 0.0067])
    >>> sk.softmax([[1.0, 2.0], [float("-inf"), float("-inf")]])
    array([[0.26894142, 0.73105858],
           [0.        , 0.        ]])
    >>> sk.softmax([1.0, 2.0, 3.0], where=[True, False, True])
    array([0.11920292, 0.        , 0.88079708])
    """
    return _softmax_or_log(x, axis, temperature, where, out, log=False)


@overload
def log_softmax(
    x: ArrayT,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    out: ArrayT | None = None,
) -> ArrayT: ...
@overload
def log_softmax(
    x: Nested,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
    out: NumPyArray | None = None,
) -> NumPyArray: ...


def log_softmax(
    x: Any, /, axis: Any = -1, *, temperature: Any = 1.0, where: Any = None, out: Any = None
) -> Any:
    r"""Log-softmax: ``x / T - logsumexp(x / T)`` over ``axis``.

    .. math:: \log\mathrm{softmax}(x)_i = x_i/T - \log\sum_j e^{x_j/T}

    Computed directly, never as ``log(softmax(x))``: it stays finite where the
    probability underflows (``log_softmax([1000, 0]) == [0, -1000]``) and keeps
    full relative accuracy at a dominant class.

    Parameters
    ----------
    x, axis, temperature, where, out
        As in :func:`softmax`. Excluded entries get ``-inf``.

    Returns
    -------
    array
        Log-probabilities, the shape and floating dtype of ``x``.

    Raises
    ------
    ValueError, TypeError
        As in :func:`softmax`.

    Notes
    -----
{edge_cases}

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.log_softmax([1000.0, 0.0])
    array([    0., -1000.])
    >>> float(sk.log_softmax([1.0, 2.0, 3.0])[2])
    -0.4076059644443803
    """
    return _softmax_or_log(x, axis, temperature, where, out, log=True)


def _softmax_or_log(x: Any, axis: Any, temperature: Any, where: Any, out: Any, *, log: bool) -> Any:
    if (
        type(x) is np.ndarray
        and type(axis) is int  # not -1.0 (refused), not an array (no == to bool)
        and axis == -1
        and where is None
        and (out is None or type(out) is np.ndarray)
        and type(temperature) is float
        and temperature == 1.0
    ):
        # The commonest call, on a NumPy array with every option at its
        # default: nothing to validate beyond what fast_softmax checks.
        result = _backends.fast_softmax(x, log, out)
        if result is not None:
            return result
    elif (
        out is None
        and where is None
        and type(axis) is int
        and type(temperature) is float
        and temperature == 1.0
    ):
        # The same call on a CPU torch tensor (softmaxkit.torch's forward pass).
        result = _backends.fast_tensor_softmax(x, axis, log)
        if result is not None:
            return result
    v = _family.validated(x, axis, temperature, where)
    if out is not None:
        validate.out_array(out, v.xp, v.x.shape, v.out_dtype)
    plan = None
    no_temperature = isinstance(v.temperature, float) and v.temperature == 1.0
    if not (no_temperature and _backends.kernel_available()):
        # x / T is formed in the compute dtype (float64 for float32), as are
        # the spec's temporaries: a block at a time, so the peak is the output
        # plus one block's temporaries. (Without a temperature the kernel
        # needs nothing beyond the output.)
        plan = _chunks.plan(v.x, v.axes)
    if plan is not None and plan.kind == "stream":
        return _streams.softmax(
            v.x, plan.axis, v.temperature, v.mask, v.work_dtype, v.out_dtype, log=log, out=out
        )
    if plan is not None:
        return _chunks.by_rows(
            lambda block, mask, t: _softmax_or_log(block, v.axes, t, mask, None, log=log),
            v.x, out=out, along=plan.axis, broadcast=(v.mask, v.temperature),
        )  # fmt: skip
    xp = v.xp
    layout = _family.row_layout(tuple(v.x.shape), v.axes)
    z = _family.to_rows(xp, v.x, layout)
    mask = None if v.mask is None else _family.to_rows(xp, v.mask, layout)
    t = v.temperature
    t = t if isinstance(t, float) else _family.to_rows(xp, t, layout)
    # With one reduced axis the rows are a view of out: the backend writes into it.
    out_rows = None
    if out is not None and len(layout.reduced_shape) == 1:
        out_rows = _family.to_rows(xp, out, layout)
    result = _backends.compute(
        lambda backend: backend.softmax_rows(z, log=log, mask=mask, temperature=t, out=out_rows),
        z, mask, out_rows,
    )  # fmt: skip
    if out_rows is not None:
        return out
    return _store(_backend.cast(xp, _family.from_rows(xp, result, layout), v.out_dtype), out)


def _store(result: Any, out: Any) -> Any:
    if out is None:
        return result
    out[...] = result
    return out


@overload
def logsumexp(
    x: ArrayT,
    /,
    axis: Axis = None,
    *,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    b: ArrayLike | None = None,
    return_sign: Literal[False] = False,
) -> ArrayT: ...
@overload
def logsumexp(
    x: ArrayT,
    /,
    axis: Axis = None,
    *,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    b: ArrayLike | None = None,
    return_sign: Literal[True],
) -> tuple[ArrayT, ArrayT]: ...
@overload
def logsumexp(
    x: Nested,
    /,
    axis: Axis = None,
    *,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    b: ArrayLike | None = None,
    return_sign: Literal[False] = False,
) -> NumPyArray: ...
@overload
def logsumexp(
    x: Nested,
    /,
    axis: Axis = None,
    *,
    keepdims: bool = False,
    where: ArrayLike | None = None,
    b: ArrayLike | None = None,
    return_sign: Literal[True],
) -> tuple[NumPyArray, NumPyArray]: ...


def logsumexp(
    x: Any,
    /,
    axis: Any = None,
    *,
    keepdims: bool = False,
    where: Any = None,
    b: Any = None,
    return_sign: bool = False,
) -> Any:
    r"""The log of the sum of exponentials over ``axis``, without overflow.

    .. math:: \mathrm{logsumexp}(x) = \log \sum_i b_i e^{x_i}

    The signature and defaults of ``scipy.special.logsumexp`` and
    ``jax.nn.logsumexp``: ``axis=None`` reduces every axis.

    Parameters
    ----------
    x : array_like
        Input (see :func:`softmax`).
    axis : int, tuple of ints or None, optional
        Axes to reduce. Default ``None``: all of them, as in SciPy and JAX
        (a 2-D input gives a 0-d result; pass ``axis=-1`` for one value per
        row).
    keepdims : bool, optional
        Keep the reduced axes with length 1.
    where : array_like of bool, optional
        Entries where it is False are left out of the sum.
    b : array_like, optional
        Weights, broadcast together with ``x`` as in
        ``scipy.special.logsumexp``. Entries with ``b == 0`` are left out
        (so ``x`` may be ``inf`` or NaN there). A negative total gives NaN
        unless ``return_sign`` is True.
    return_sign : bool, optional
        Return ``(log|s|, sign(s))`` of the weighted sum ``s``, as SciPy and
        JAX do, so that negative weights can give a negative sum: the sign
        is 1, -1, or 0 where the sum is 0 (the value is then ``-inf``), and
        NaN where the value is NaN.

    Returns
    -------
    array, or (array, array) with ``return_sign``
        The reduced array (a 0-d array for a full reduction); floating
        dtype of ``x``, promoted with ``b`` by the array library's own rules
        (JAX: int32 with float32 is float32; NumPy: int64 with float32 is
        float64).

    Notes
    -----
    An empty reduction or an all ``-inf`` (or all excluded) slice gives
    ``-inf``; a slice holding ``+inf`` gives ``+inf``; a NaN gives NaN. The
    result keeps full relative accuracy when one term dominates
    (``logsumexp([0, -40]) == 4.248354255291589e-18``). SciPy gives the sign
    of an empty sum as -1; here it is 0, as in JAX.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> float(sk.logsumexp([1000.0, 1000.0]))  # 1000 + log(2)
    1000.6931471805599
    >>> float(sk.logsumexp([0.0, -40.0]))
    4.248354255291589e-18
    >>> float(sk.logsumexp([1.0, 10000.0], b=[1.0, 0.0]))
    1.0
    >>> sk.logsumexp([[0.0, 0.0], [0.0, 0.0]])  # all axes: log 4
    array(1.38629436)
    >>> sk.logsumexp([[0.0, 0.0], [0.0, 0.0]], axis=-1)
    array([0.69314718, 0.69314718])
    >>> value, sign = sk.logsumexp([1.0, 1.0, 1.0], b=[1.0, -1.0, -1.0], return_sign=True)
    >>> float(value), float(sign)  # log|e - 2e| = 1, negative
    (1.0, -1.0)
    """
    xp = validate.namespace(x, b)
    x = validate.as_array(xp, x, name="x")
    out_dtype = validate.float_dtype_of(xp, x, name="x")
    weights = None
    if b is not None:
        weights = validate.as_array(xp, b, like=x, name="b")
        validate.float_dtype_of(xp, weights, name="b")
        # The library's own promotion of the two (int32 x with float32 b is
        # float32 in JAX and torch, float64 in NumPy), made floating.
        out_dtype = validate.float_dtype_of(
            xp, xp.empty(0, dtype=xp.result_type(x.dtype, weights.dtype)), name="x"
        )
        x, weights = xp.broadcast_arrays(x, weights)
    if not isinstance(keepdims, bool):
        raise TypeError(f"keepdims must be a bool, got {keepdims!r}")
    if not isinstance(return_sign, bool):
        raise TypeError(f"return_sign must be a bool, got {return_sign!r}")
    v = _family.validated(xp.astype(x, out_dtype, copy=False), axis, 1.0, where)
    layout = _family.row_layout(tuple(v.x.shape), v.axes)
    z = _family.to_rows(xp, v.x, layout)
    mask = None if v.mask is None else _family.to_rows(xp, v.mask, layout)
    rows_b = None if weights is None else _family.to_rows(xp, weights, layout)
    result = _backends.compute(
        lambda backend: backend.logsumexp_rows(z, mask=mask, b=rows_b, return_sign=return_sign),
        z, mask, rows_b,
    )  # fmt: skip

    def finish(values: Any) -> Any:
        values = _family.reduced_from_rows(xp, values, layout, keepdims=keepdims)
        return _backend.cast(xp, values, v.out_dtype)

    if return_sign:
        return finish(result[0]), finish(result[1])
    return finish(result)


@overload
def softmax_vjp(
    y: ArrayT,
    g: ArrayLike,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def softmax_vjp(
    y: Nested,
    g: ArrayLike,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def softmax_vjp(
    y: Any, g: Any, /, axis: Any = -1, *, temperature: Any = 1.0, where: Any = None
) -> Any:
    r"""Vector-Jacobian product of softmax: the gradient with respect to ``x``.

    Given ``y = softmax(x, axis, temperature=T, where=m)`` and the upstream
    gradient ``g`` (d loss / d y), returns d loss / d x:

    .. math:: \frac{1}{T}\, y \odot \left(g - \textstyle\sum_{axis} g \odot y\right)

    without forming the Jacobian. Excluded entries (``where`` False) get
    exactly 0, and whatever ``g`` holds there (even inf or NaN) is ignored.
    A temperature below the compute dtype's smallest normal number is the
    ``T -> 0`` limit, as in :func:`softmax`: the gradient is divided as by an
    infinitesimal, ``+-inf`` where it is nonzero, 0 where it is 0 (at a
    slice's single maximum, where the limit is flat), NaN where NaN.

    Parameters
    ----------
    y : array_like
        The softmax output.
    g : array_like
        Upstream gradient, the shape of ``y``.
    axis, temperature, where
        The values the forward call used (see :func:`softmax`).

    Returns
    -------
    array
        d loss / d x, the shape and array type of ``y``.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.softmax_vjp([0.2, 0.3, 0.5], [1.0, 0.0, 0.0])
    array([ 0.16, -0.06, -0.1 ])
    """
    return _vjp(y, g, axis, temperature, where, log=False)


@overload
def log_softmax_vjp(
    logp: ArrayT,
    g: ArrayLike,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def log_softmax_vjp(
    logp: Nested,
    g: ArrayLike,
    /,
    axis: Axis = -1,
    *,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def log_softmax_vjp(
    logp: Any, g: Any, /, axis: Any = -1, *, temperature: Any = 1.0, where: Any = None
) -> Any:
    r"""Vector-Jacobian product of log_softmax: the gradient with respect to ``x``.

    Given ``logp = log_softmax(x, axis, temperature=T, where=m)`` and the
    upstream gradient ``g`` (d loss / d logp), returns d loss / d x:

    .. math:: \frac{1}{T}\left(g - e^{\log p} \textstyle\sum_{axis} g\right)

    Excluded entries (``where`` False) get exactly 0 and their ``g`` is left
    out of the sum. A temperature below the compute dtype's smallest normal
    number is the ``T -> 0`` limit, as in :func:`softmax_vjp`.

    Parameters
    ----------
    logp : array_like
        The log_softmax output.
    g : array_like
        Upstream gradient, the shape of ``logp``.
    axis, temperature, where
        The values the forward call used (see :func:`softmax`).

    Returns
    -------
    array
        d loss / d x, the shape and array type of ``logp``.

    Examples
    --------
    >>> import numpy as np, softmaxkit as sk
    >>> logp = np.log([0.25, 0.75])
    >>> sk.log_softmax_vjp(logp, [1.0, 0.0])
    array([ 0.75, -0.75])
    """
    return _vjp(logp, g, axis, temperature, where, log=True)


def _vjp(y: Any, g: Any, axis: Any, temperature: Any, where: Any, *, log: bool) -> Any:
    if where is None and type(axis) is int and type(temperature) is float and temperature == 1.0:
        # The commonest call (a backward pass) on NumPy arrays or CPU torch
        # tensors: nothing to validate beyond what the kernel's short path checks.
        grad = _backends.fast_vjp(y, g, axis, log)
        if grad is not None:
            return grad
    xp, y, g, axes, mask, t, out_dtype = _family.prepare_vjp(
        y, g, axis, temperature, where, name="logp" if log else "y"
    )
    layout = _family.row_layout(tuple(y.shape), axes)
    rows_y, rows_g = _family.to_rows(xp, y, layout), _family.to_rows(xp, g, layout)
    mask = None if mask is None else _family.to_rows(xp, mask, layout)
    t = t if isinstance(t, float) else _family.to_rows(xp, t, layout)
    grad = _backends.compute(
        lambda backend: backend.softmax_vjp_rows(
            rows_y, rows_g, log=log, mask=mask, temperature=t, out_dtype=out_dtype
        ),
        rows_y, rows_g, mask,
    )  # fmt: skip
    return _backend.cast(xp, _family.from_rows(xp, grad, layout), out_dtype)


@overload
def softmax_jacobian(*, probs: ArrayT) -> ArrayT: ...
@overload
def softmax_jacobian(*, logits: ArrayT) -> ArrayT: ...
@overload
def softmax_jacobian(*, probs: Nested) -> NumPyArray: ...
@overload
def softmax_jacobian(*, logits: Nested) -> NumPyArray: ...


def softmax_jacobian(y: Any = None, /, *, probs: Any = None, logits: Any = None) -> Any:
    r"""The Jacobian of softmax over the last axis: ``diag(p) - p pᵀ``.

    For teaching and small problems; use :func:`softmax_vjp` to
    backpropagate, which never builds this ``(..., n, n)`` array.

    Parameters
    ----------
    probs : array_like, optional
        Softmax output ``p``, shape ``(..., n)``: each slice in [0, 1] and
        summing to 1.
    logits : array_like, optional
        Logits ``x``; the Jacobian is that of ``softmax(x)`` at ``x``.
        Exactly one of ``probs`` and ``logits`` is given, by keyword: the
        Jacobian of logits read as probabilities is silently wrong.

    Returns
    -------
    array
        Shape ``(..., n, n)``: entry ``[..., i, j]`` is d p_i / d x_j.

    Raises
    ------
    TypeError
        A positional argument, or not exactly one of ``probs``, ``logits``.
    ValueError
        ``probs`` outside [0, 1] or not summing to 1 (logits, most likely);
        a 0-d input.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.softmax_jacobian(logits=[1.0, 2.0, 3.0]).round(8)
    array([[ 0.08192507, -0.02203304, -0.05989202],
           [-0.02203304,  0.18483645, -0.1628034 ],
           [-0.05989202, -0.1628034 ,  0.22269543]])
    >>> sk.softmax_jacobian(probs=[0.5, 0.5])
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    if y is not None:
        raise TypeError(
            "softmax_jacobian() takes its input by keyword, to say what it is: "
            "softmax_jacobian(probs=p) for softmax output, softmax_jacobian(logits=x) for logits"
        )
    if (probs is None) == (logits is None):
        raise TypeError("give exactly one of probs= and logits=")
    name = "probs" if logits is None else "logits"
    given = probs if logits is None else logits
    xp = validate.namespace(given)
    given = validate.as_array(xp, given, name=name)
    out_dtype = validate.float_dtype_of(xp, given, name=name)
    if given.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a 0-d array")
    # float16 products overflow past 256: computed in the wider compute dtype.
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(given))
    if logits is None:
        y = xp.astype(given, work_dtype, copy=False)
        validate.probabilities(
            xp, y, (y.ndim - 1,), name="probs", normalised=True, input_dtype=out_dtype
        )
    else:
        y = xp.astype(softmax(xp.astype(given, out_dtype, copy=False)), work_dtype)
    n = y.shape[-1]
    eye = xp.eye(n, dtype=work_dtype, device=array_api_compat.device(y))
    return _backend.cast(xp, eye * y[..., None, :] - y[..., :, None] * y[..., None, :], out_dtype)


@overload
def sigmoid(x: ArrayT, /) -> ArrayT: ...
@overload
def sigmoid(x: Nested, /) -> NumPyArray: ...


def sigmoid(x: Any, /) -> Any:
    r"""The logistic function ``1 / (1 + exp(-x))``, stable for any input.

    The two-class identity ``softmax([0, x])[1] == sigmoid(x)`` holds exactly.

    Parameters
    ----------
    x : array_like
        Real input of any shape (the logit of class 1 against class 0).

    Returns
    -------
    array
        ``sigmoid(x)`` elementwise in ``x``'s floating dtype: exactly 0 at
        ``-inf``, 1 at ``+inf``, NaN at NaN; never a warning.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.sigmoid([-1000.0, 0.0, 1000.0])
    array([0. , 0.5, 1. ])
    """
    plan = _chunks.plan(x, None)
    if plan is not None:
        return _chunks.by_rows(sigmoid, x, along=plan.axis)
    xp, z, out_dtype = _elementwise_input(x)
    e = xp.exp(-xp.abs(z))
    result = xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return _backend.cast(xp, result, out_dtype)


@overload
def log_sigmoid(x: ArrayT, /) -> ArrayT: ...
@overload
def log_sigmoid(x: Nested, /) -> NumPyArray: ...


def log_sigmoid(x: Any, /) -> Any:
    r"""``log(sigmoid(x)) = -log(1 + exp(-x))``, stable for any input.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    array
        ``log(sigmoid(x))`` elementwise in ``x``'s floating dtype: ``-inf`` at
        ``-inf``, 0 at ``+inf``, NaN at NaN, and about ``x`` (not ``-inf``)
        for very negative ``x``; never a warning.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.log_sigmoid([-1000.0, 0.0, 1000.0])
    array([-1.00000000e+03, -6.93147181e-01,  0.00000000e+00])
    """
    plan = _chunks.plan(x, None)
    if plan is not None:
        return _chunks.by_rows(log_sigmoid, x, along=plan.axis)
    xp, z, out_dtype = _elementwise_input(x)
    result = xp.minimum(z, 0.0) - xp.log1p(xp.exp(-xp.abs(z)))
    return _backend.cast(xp, result, out_dtype)


def _elementwise_input(x: Any) -> tuple[Any, Any, Any]:
    xp = validate.namespace(x)
    x = validate.as_array(xp, x, name="x")
    out_dtype = validate.float_dtype_of(xp, x, name="x")
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(x))
    return xp, xp.astype(x, work_dtype), out_dtype


@overload
def hardmax(x: ArrayT, /, axis: int = -1, *, where: ArrayLike | None = None) -> ArrayT: ...
@overload
def hardmax(x: Nested, /, axis: int = -1, *, where: ArrayLike | None = None) -> NumPyArray: ...


def hardmax(x: Any, /, axis: int = -1, *, where: Any = None) -> Any:
    """One-hot of the argmax along ``axis``: the temperature -> 0 limit of softmax.

    Ties go to the first index (where softmax would split the mass). An all
    ``-inf`` or all-excluded slice gives zeros and a NaN slice gives NaN, as
    in :func:`softmax`.

    Parameters
    ----------
    x : array_like
        Logits of any array-API library, or a nested list.
    axis : int, optional
        The axis along which one entry is 1. Default: the last axis.
    where : array_like of bool, optional
        Entries that take part (broadcast against ``x``); excluded entries
        are 0.

    Returns
    -------
    array
        One-hot slices (0 and 1) in ``x``'s floating dtype, the shape of ``x``.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.hardmax([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    array([[0., 1., 0.],
           [1., 0., 0.]])
    """
    xp = validate.namespace(x)
    x = validate.as_array(xp, x, name="x")
    out_dtype = validate.float_dtype_of(xp, x, name="x")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a 0-d array")
    ax = validate.single_axis(axis, x.ndim)
    mask = validate.where_mask(where, xp, x)
    z = xp.astype(x, out_dtype)
    if mask is not None:
        z = xp.where(mask, z, -xp.inf)
    if z.shape[ax] == 0:
        return z
    is_nan = xp.isnan(z)
    nan_slice = xp.any(is_nan, axis=ax, keepdims=True)
    z = xp.where(is_nan, -xp.inf, z)
    first = xp.argmax(z, axis=ax, keepdims=True)
    positions = xp.reshape(
        xp.arange(z.shape[ax], device=array_api_compat.device(z)),
        tuple(-1 if a == ax else 1 for a in range(z.ndim)),
    )
    one_hot = (positions == first) & (xp.max(z, axis=ax, keepdims=True) > -xp.inf)
    return _stable.with_nan_slices(xp, xp.astype(one_hot, out_dtype), nan_slice)


softmax.__doc__ = (softmax.__doc__ or "").replace("{edge_cases}", _EDGE_CASES)
log_softmax.__doc__ = (log_softmax.__doc__ or "").replace("{edge_cases}", _EDGE_CASES)
