"""Softmax within segments: the groups of entries given by an integer id each.

Ragged batches and graph attention (softmax over the incoming edges of each
node) need a softmax whose "rows" are groups of entries of a flat array,
``torch_geometric.utils.softmax(src, index)``. Here the groups are formed by
``_segments`` (sorting or the library's scatter kernels, one vectorised pass,
no Python loop over segments) and the shift by the maximum, the sums and the
edge-case policy are those of :func:`softmaxkit.softmax`. On NumPy, segments
of similar lengths are padded into the rows of a dense array instead and
computed by the compiled kernel (:func:`_padded`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, overload

import array_api_compat
import numpy as np

from .. import _backend, _backends, _chunks, _core, _host, _stable
from .. import _validate as validate
from .._typing import ArrayLike, ArrayT, Nested, NumPyArray
from ._segments import PaddedLayout, SegmentReduction, Segments

_NOTES = """\
    Entries are grouped along ``axis`` by ``segment_ids``; the trailing axes
    of ``x`` (e.g. attention heads) are independent. The ids need not be
    sorted; the output is in the input's order. Within a segment the
    edge-case policy of :func:`softmaxkit.softmax` applies: ``-inf`` and
    excluded entries (``where`` False) get probability 0, a segment with only
    such entries gets zeros, ``+inf`` entries share the mass equally, a NaN
    makes its segment NaN."""


class _PreparedSegments(NamedTuple):
    xp: Any
    z: Any  # input / temperature, compute dtype, segment axis first
    segments: Segments
    mask: Any | None  # segment axis first
    axis: int
    out_dtype: Any
    compensate: bool


@overload
def segment_softmax(
    x: ArrayT,
    segment_ids: ArrayLike,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def segment_softmax(
    x: Nested,
    segment_ids: ArrayLike,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def segment_softmax(
    x: Any,
    segment_ids: Any,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    temperature: Any = 1.0,
    where: Any = None,
) -> Any:
    r"""Softmax over the entries of each segment.

    .. math:: y_i = \frac{e^{x_i/T}}{\sum_{j:\,s_j = s_i} e^{x_j/T}}

    Parameters
    ----------
    x : array_like
        Scores, any array-API array. The segments run along ``axis``.
    segment_ids : array_like of int
        One id in ``[0, num_segments)`` per entry along ``axis`` (shape
        ``(x.shape[axis],)``), sorted or not.
    num_segments : int, optional
        The number of segments; default ``max(segment_ids) + 1``. Required
        for lazy arrays (Dask), whose ids cannot be inspected.
    axis : int, optional
        The axis the ids label. Default 0, as in ``torch_geometric`` and
        TensorFlow's segment operations (not -1 as elsewhere in softmaxkit:
        the ids usually label edges or tokens, the leading axis).
    temperature : float, optional
        A finite number > 0: the result is the segment softmax of ``x / T``.
    where : array_like of bool, optional
        Mask broadcastable to ``x``; False entries are excluded (probability 0).

    Returns
    -------
    array
        The shape and floating dtype of ``x``; each segment sums to one
        (or is all zeros, see Notes).

    Raises
    ------
    ValueError
        ids out of range or of the wrong length, ``num_segments`` negative or
        missing for lazy arrays, a bad ``temperature`` or ``axis``.
    TypeError
        non-integer ids, complex ``x``.

    Notes
    -----
{notes}

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.segment_softmax([1.0, 2.0, 5.0, 0.0, 0.0], [0, 0, 1, 2, 2]).round(6)
    array([0.268941, 0.731059, 1.      , 0.5     , 0.5     ])
    >>> sk.segment_softmax([0.0, 9.0, 0.0], [0, 0, 1])  # a lone entry gets 1
    array([1.23394576e-04, 9.99876605e-01, 1.00000000e+00])
    """
    return _segment_softmax(
        segment_softmax, x, segment_ids, num_segments, axis, temperature, where, log=False
    )


@overload
def segment_log_softmax(
    x: ArrayT,
    segment_ids: ArrayLike,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def segment_log_softmax(
    x: Nested,
    segment_ids: ArrayLike,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    temperature: ArrayLike = 1.0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def segment_log_softmax(
    x: Any,
    segment_ids: Any,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    temperature: Any = 1.0,
    where: Any = None,
) -> Any:
    r"""Log of :func:`segment_softmax`, computed directly (finite where it underflows).

    Parameters
    ----------
    x, segment_ids, num_segments, axis, temperature, where
        As in :func:`segment_softmax`. Excluded entries get ``-inf``.

    Returns
    -------
    array
        Log-probabilities within each segment, the shape of ``x``; ``-inf``
        for excluded entries and all over an all ``-inf`` segment.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.segment_log_softmax([1000.0, 0.0, 3.0], [0, 0, 1])
    array([    0., -1000.,     0.])
    """
    return _segment_softmax(
        segment_log_softmax, x, segment_ids, num_segments, axis, temperature, where, log=True
    )


@overload
def segment_logsumexp(
    x: ArrayT,
    segment_ids: ArrayLike,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    where: ArrayLike | None = None,
) -> ArrayT: ...
@overload
def segment_logsumexp(
    x: Nested,
    segment_ids: ArrayLike,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    where: ArrayLike | None = None,
) -> NumPyArray: ...


def segment_logsumexp(
    x: Any,
    segment_ids: Any,
    /,
    *,
    num_segments: int | None = None,
    axis: int = 0,
    where: Any = None,
) -> Any:
    r"""``log(sum(exp(x)))`` over each segment, without overflow.

    Parameters
    ----------
    x, segment_ids, num_segments, axis, where
        As in :func:`segment_softmax`.

    Returns
    -------
    array
        Shape ``x.shape`` with ``axis`` replaced by ``num_segments``: one value
        per segment, ``-inf`` for an empty segment (the log of an empty sum).

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.segment_logsumexp([0.0, 0.0, 1000.0], [0, 0, 2], num_segments=4)
    array([6.93147181e-01,           -inf, 1.00000000e+03,           -inf])
    """
    blocked = _in_blocks(segment_logsumexp, x, segment_ids, num_segments, axis, where)
    if blocked is None:
        blocked = _streamed(x, segment_ids, num_segments, 1.0, where, kind="logsumexp")
    if blocked is not None:
        return blocked
    p = _prepare(x, segment_ids, num_segments, axis, 1.0, where)
    xp = p.xp
    padded = _padded(p)
    if padded is not None:
        dense, mask, _ = padded
        value = _core.logsumexp(dense, axis=1, where=mask)
        return _backend.cast(xp, xp.moveaxis(value, 0, p.axis), p.out_dtype)
    s = _shift(p)
    per_entry = _stable.logsumexp_from(xp, s)
    # Every entry of a segment holds the same value, so the segment maximum
    # picks it; NaN cannot be reduced by every path, so it is carried apart.
    is_nan = xp.isnan(per_entry)
    value = p.segments.max(xp.where(is_nan, -xp.inf, per_entry))  # pragma: no mutate
    nan_segment = p.segments.sum(xp.astype(is_nan, value.dtype)) > 0
    value = xp.where(nan_segment, xp.nan, value)
    value = xp.moveaxis(value, 0, p.axis)
    return _backend.cast(xp, value, p.out_dtype)


def _segment_softmax(
    public: Any, x: Any, segment_ids: Any, num_segments: Any, axis: Any,
    temperature: Any, where: Any, *, log: bool,
) -> Any:  # fmt: skip
    """segment_softmax or segment_log_softmax (``public``, which the blocks call again)."""
    blocked = _in_blocks(
        public, x, segment_ids, num_segments, axis, where, temperature=temperature
    )
    if blocked is None:
        kind = "log_softmax" if log else "softmax"
        blocked = _streamed(x, segment_ids, num_segments, temperature, where, kind=kind)
    if blocked is not None:
        return blocked
    p = _prepare(x, segment_ids, num_segments, axis, temperature, where, relabel=True)
    return softmax_of_prepared(p, log=log)


def _in_blocks(
    function: Any, x: Any, segment_ids: Any, num_segments: Any, axis: Any, where: Any, **options: Any
) -> Any | None:
    """``function`` over blocks of a large NumPy ``x`` cut along an axis the ids do not label.

    The float64 copy, the padded layout and the values are whole-array
    temporaries (9 to 13 times a float32 input); the slices across the
    segment axis are independent, so a block at a time keeps the peak near
    the result, with the values of one call. None where it does not apply.
    """
    temperature = options.get("temperature", 1.0)  # pragma: no mutate
    if not (
        where is None
        and isinstance(temperature, (int, float))
        and type(x) is np.ndarray
        and x.ndim >= 2
        and x.dtype.kind == "f"
    ):
        return None
    ax = validate.single_axis(axis, x.ndim)
    along = 1 if ax == 0 else 0
    if not _chunks.applies(x, (ax,), along=along):
        return None
    return _chunks.by_rows(
        lambda block: function(block, segment_ids, num_segments=num_segments, axis=ax, **options),
        x, along=along,
    )  # fmt: skip


class _Entrywise:
    """The identity as a ``_stable.Reduction``: each entry's own value, to be
    accumulated into its segment by the caller (``np.maximum.at``, ``np.add.at``)."""

    def max(self, v: Any) -> Any:
        return v

    def sum(self, v: Any) -> Any:
        return v

    def compensated_sum(self, v: Any) -> Any:
        return v

    def any(self, v: Any) -> Any:
        return v


def _streamed(
    x: Any, segment_ids: Any, num_segments: Any, temperature: Any, where: Any, *, kind: str
) -> Any | None:
    """A segment function of a large 1-D NumPy ``x``, a block of entries at a time; None otherwise.

    No other axis can be cut, so the entries are read in blocks, in passes
    (as ``_streams``): the temperature's guard, the maximum and NaN of each
    segment, the two parts of each normaliser, then the result. The
    per-segment numbers are accumulated with ``ufunc.at`` (a few numbers per
    segment, at most one per entry); the values are those of one call to
    within the rounding of the sums, added in another order.
    """
    (where,) = _chunks.on_host(x, where)
    if not (
        type(x) is np.ndarray
        and x.ndim == 1
        and x.dtype.kind == "f"
        and isinstance(temperature, (int, float))
        and _chunks.plan_for(x, 0, where) is not None
    ):
        return None
    xp = validate.namespace(x)
    ids = segment_ids_array(xp, segment_ids, like=x, length=x.shape[0])
    n_segments = resolve_num_segments(xp, ids, num_segments)
    if kind != "logsumexp" and n_segments > ids.shape[0]:
        labels, ids = xp.unique_inverse(ids)  # as _prepare(relabel=True)
        n_segments = labels.shape[0]
    out_dtype = validate.float_dtype_of(xp, x, name="x")
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(x))
    t = validate.temperature(temperature, xp, x, work_dtype, ())
    mask = validate.where_mask(where, xp, x)
    compensate = work_dtype == out_dtype
    step = _chunks.CHUNK_BYTES // x.itemsize
    blocks = [slice(start, start + step) for start in range(0, x.shape[0], step)]
    entrywise = _Entrywise()

    def mask_of(b: slice) -> Any:
        return None if mask is None else mask[b]

    guard = None
    if t != 1.0:
        shifted, top = np.zeros(n_segments, bool), np.full(n_segments, -np.inf)
        for b in blocks:
            flag, value = _stable.temperature_shift(
                np, x[b].astype(work_dtype), t, entrywise, where=mask_of(b)
            )
            np.logical_or.at(shifted, ids[b], flag)
            np.maximum.at(top, ids[b], value)
        guard = shifted, top

    def logits(b: slice) -> Any:
        z = x[b].astype(work_dtype)
        if guard is not None:
            shift = (guard[0][ids[b]], guard[1][ids[b]])
            z = _stable.divide_by_temperature(np, z, t, (0,), where=mask_of(b), shift=shift)  # pragma: no mutate
        return _stable.exclude(np, z, entrywise, where=mask_of(b))

    zmax, nan = np.full(n_segments, -np.inf), np.zeros(n_segments, bool)
    for b in blocks:
        z, is_nan = logits(b)
        np.maximum.at(zmax, ids[b], z)
        np.logical_or.at(nan, ids[b], is_nan)
    k, total = np.zeros(n_segments), np.zeros(n_segments)
    for b in blocks:
        sums = _stable.shift_and_sum(np, logits(b)[0], zmax[ids[b]], entrywise, compensate=compensate)
        np.add.at(k, ids[b], sums.k)
        np.add.at(total, ids[b], sums.t)
    # The normalisers replace the sums in place, a block of segments at a
    # time: a segment per entry must not cost many full-size temporaries.
    for start in range(0, n_segments, step):
        part = slice(start, start + step)
        sums = _stable.Sums(None, None, None, k[part], total[part], None)
        whole = _stable.normalise(np, sums, nan[part])
        k[part], total[part] = whole.norm, whole.log_norm
    norm, log_norm = k, total
    if kind == "logsumexp":
        shift = np.where(zmax == np.inf, np.inf, np.where(np.isfinite(zmax), zmax, 0.0))
        per_segment = _stable.Shifted(None, None, None, norm, log_norm, shift, nan)
        return _backend.cast(xp, _stable.logsumexp_from(np, per_segment), out_dtype)
    finish = _stable.log_softmax_from if kind == "log_softmax" else _stable.softmax_from
    result = np.empty(x.shape, out_dtype)
    for b in blocks:
        sums = _stable.shift_and_sum(np, logits(b)[0], zmax[ids[b]], entrywise, compensate=compensate)
        i = ids[b]
        # softmax_from and log_softmax_from do not read the shift.
        block = _stable.Shifted(
            sums.diff, sums.diff_lo, sums.exp_diff, norm[i], log_norm[i], None, nan[i]
        )
        result[b] = _backend.cast(np, finish(np, block), out_dtype)
    return result


def _prepare(
    x: Any,
    segment_ids: Any,
    num_segments: Any,
    axis: Any,
    temperature: Any,
    where: Any,
    *,
    relabel: bool = False,
) -> _PreparedSegments:
    """Validate and prepare; ``relabel`` when the result does not depend on the ids' values.

    Ids are labels: softmax within segments is the same for ``[0, 0, 1]`` and
    ``[0, 0, 2**40]``. Relabelled to ``0..k-1`` when they exceed the entries,
    the per-segment work is bounded by the number of entries, not by the
    largest id (which would otherwise size a 2**40-row array).
    """
    xp = validate.namespace(x, segment_ids)
    x = validate.as_array(xp, x, name="x")
    validate.float_dtype_of(xp, x, name="x")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a 0-d array")
    ax = validate.single_axis(axis, x.ndim)
    ids = segment_ids_array(xp, segment_ids, like=x, length=x.shape[ax])
    n_segments = resolve_num_segments(xp, ids, num_segments)
    # Not a Dask array's: their count is unknown until computed (a NaN shape that
    # made segment_softmax fail whenever num_segments exceeded the entries).
    if relabel and n_segments > ids.shape[0] and not array_api_compat.is_dask_array(ids):
        labels, ids = xp.unique_inverse(ids)
        n_segments = labels.shape[0]
    return prepare_trusted(xp, x, ids, n_segments, axis=ax, temperature=temperature, where=where)


def prepare_trusted(
    xp: Any, x: Any, ids: Any, num_segments: int, *, axis: int, temperature: Any, where: Any
) -> _PreparedSegments:
    """The preparation after the ids are known to be valid (the sparse formats' own ids)."""
    out_dtype = validate.float_dtype_of(xp, x, name="x")
    work_dtype = _backend.compute_dtype(xp, out_dtype, array_api_compat.device(x))
    z = xp.astype(x, work_dtype)
    t = validate.temperature(temperature, xp, x, work_dtype, ())  # arrays refused below
    if not isinstance(t, float):
        raise TypeError("temperature must be a number here, got an array")
    mask = validate.where_mask(where, xp, x)
    z = xp.moveaxis(z, axis, 0)
    mask = None if mask is None else xp.moveaxis(mask, axis, 0)
    segments = Segments(xp, ids, num_segments)
    if t != 1.0:
        z = _stable.divide_by_temperature(
            xp, z, t, (0,), where=mask, reduction=SegmentReduction(segments)  # pragma: no mutate
        )
    return _PreparedSegments(xp, z, segments, mask, axis, out_dtype, work_dtype == out_dtype)


def softmax_of_prepared(p: _PreparedSegments, *, log: bool) -> Any:
    """Segment (log-)softmax of prepared input, in the input's axis order and dtype."""
    padded = _padded(p)
    if padded is not None:
        dense, mask, layout = padded
        function = _core.log_softmax if log else _core.softmax
        values = function(dense, axis=1, where=mask)
        return _finish(p, _segment_rows(values)[layout.flat])
    s = _shift(p)
    values = _stable.log_softmax_from(p.xp, s) if log else _stable.softmax_from(p.xp, s)
    return _finish(p, values)


# The dense layout is used while it holds at most this many times the entries.
_MAX_PADDING = 4.0  # pragma: no mutate


def _padded(p: _PreparedSegments) -> tuple[Any, Any | None, PaddedLayout] | None:
    """NumPy input as a ``(num_segments, longest, ...)`` array (and its mask), a row per segment.

    The compiled kernel then computes the segments as the rows of a masked
    softmax, with the same policy (the kernel agrees with the array-API code
    it replaces): in benchmarks/variants.py, 400000 entries in 20000 segments
    went from 146 ms to 26 ms; the sort and the scatter are most of the rest. None where the kernel is not built, for other
    libraries, and for very unequal segments.
    """
    if not _backends.named("kernel").takes(p.z):
        return None
    layout = p.segments.padded_layout(_MAX_PADDING)
    if layout is None:
        return None
    rest = p.z.shape[1:]
    shape = (p.segments.num_segments, layout.longest, *rest)
    # The padding is -inf: probability 0, left out of every sum, as if excluded.
    dense = np.full(shape, -np.inf, dtype=p.z.dtype)
    _segment_rows(dense)[layout.flat] = p.z
    if p.mask is None:
        return dense, None, layout
    mask = np.zeros(shape, dtype=bool)
    _segment_rows(mask)[layout.flat] = p.mask
    return dense, mask, layout


def _segment_rows(dense: Any) -> Any:
    """A ``(num_segments, longest, ...)`` array as ``(num_segments * longest, ...)`` (a view).

    The length is spelled out: ``reshape(-1, ...)`` cannot infer it when a
    trailing axis is empty (x of shape ``(n, 0)``).
    """
    return dense.reshape((dense.shape[0] * dense.shape[1], *dense.shape[2:]))


def _shift(p: _PreparedSegments) -> _stable.Shifted:
    return _stable.shift_by_max(
        p.xp, p.z, (0,), where=p.mask, compensate=p.compensate,  # pragma: no mutate
        reduction=SegmentReduction(p.segments),
    )  # fmt: skip


def _finish(p: _PreparedSegments, values: Any) -> Any:
    xp = p.xp
    return _backend.cast(xp, xp.moveaxis(values, 0, p.axis), p.out_dtype)


def segment_ids_array(xp: Any, segment_ids: Any, *, like: Any, length: int) -> Any:
    """Validate ids: a 1-D integer array of ``length`` entries (values checked later)."""
    return validate.integer_vector(
        xp, segment_ids, like=like, name="segment_ids", length=length,
        meaning="one id per entry along the segment axis",
    )  # fmt: skip


def resolve_num_segments(xp: Any, ids: Any, num_segments: int | None) -> int:
    """``num_segments`` validated (default ``max(ids) + 1``), with the ids checked against it."""
    if num_segments is not None:
        num_segments = validate.integer(num_segments, name="num_segments")
        if num_segments < 0:
            raise ValueError(f"num_segments must be >= 0, got {num_segments}")
    if array_api_compat.is_dask_array(ids):
        if num_segments is None:
            raise ValueError("num_segments is required for lazy arrays (the ids cannot be read)")
        return num_segments
    flat = _host.to_numpy(ids)
    if num_segments is None:
        num_segments = int(flat.max()) + 1 if flat.size else 0
    bad = (flat < 0) | (flat >= num_segments)
    if bad.any():
        raise ValueError(
            f"segment_ids contains {int(flat[bad][0])}, outside [0, {num_segments}) "
            f"(num_segments={num_segments})"
        )
    return num_segments


segment_softmax.__doc__ = (segment_softmax.__doc__ or "").replace("{notes}", _NOTES)
