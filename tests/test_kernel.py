"""The compiled kernel agrees with the array-API path, which is the specification.

Every test computes the same call twice: through ``softmaxkit._dispatch`` (the
kernel takes NumPy input) and with ``_dispatch.use_kernel(False)`` (the
array-API code). float32 results must agree to an ulp (both are within one of
the correctly rounded value, so they may differ by one ulp at most twice over);
float64 to a few ulps; the edge-case policy (NaN, +-inf, masks, empty axes)
exactly.
"""

import itertools
import os
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest
from helpers import assert_agree, has_module, spec
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special as scipy_special

import softmaxkit as sk
from softmaxkit import _backends, _dispatch

pytestmark = pytest.mark.skipif(not _dispatch.available(), reason="the kernel is not built")

INF, NAN = np.inf, np.nan


class _CountingModule:
    def __init__(self, module):
        self.module, self.calls = module, 0

    def __getattr__(self, name):
        self.calls += 1
        return getattr(self.module, name)


def kernel_was_used(function, *args, **kwargs):
    """Whether the call reaches the compiled extension."""
    original = _dispatch._kernel()
    counting = _CountingModule(original)
    _dispatch._module = counting
    try:
        function(*args, **kwargs)
    finally:
        _dispatch._module = original
    return counting.calls > 0


# ---- layouts ---------------------------------------------------------------


def layouts(rng, dtype):
    base = (rng.standard_normal((6, 40, 9)) * 20).astype(dtype)
    big_endian = base.astype(np.dtype(dtype).newbyteorder(">"))
    read_only = base.copy()
    read_only.flags.writeable = False
    return {
        "c_order": base,
        "fortran": np.asfortranarray(base),
        "sliced": base[:, ::3, 1:8],
        "stepped_pairs": base[:, :, 1:5:2],  # an inner block of 2 entries, 2 apart
        "reversed": base[::-1, :, ::-1],
        "transposed": base.transpose(2, 0, 1),
        "big_endian": big_endian,
        "read_only": read_only,
        "one_row": base[0, :, 0],
    }


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax, sk.logsumexp], ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 1), (1, 2), (0, 2), None])
def test_layouts_and_axes(rng, dtype, function, axis):
    for name, x in layouts(rng, dtype).items():
        if axis is not None and x.ndim == 1 and axis not in (-1, 0):
            continue
        result = function(x, axis=axis)
        assert_agree(result, spec(function, x, axis=axis))


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
def test_the_kernel_takes_every_numpy_layout(rng, function):
    for name, x in layouts(rng, np.float32).items():
        for axis in (-1, 0):
            assert kernel_was_used(function, x, axis=axis), name


def _kernel_calls():
    """One call per kernel entry: the short paths (default options, small and
    large) and the full paths (another axis, a weight) of every operation."""
    rng = np.random.default_rng(5)
    x, big = rng.standard_normal((3, 5)), rng.standard_normal((64, 600))  # big: >= _SMALL
    y, g = sk.softmax(x), rng.standard_normal((3, 5))
    target = np.array([0, 4, 2])
    return {
        "softmax": (sk.softmax, (x,), {}),
        "softmax_large": (sk.log_softmax, (big,), {}),
        "softmax_axis0": (sk.log_softmax, (x,), {"axis": 0}),
        "logsumexp": (sk.logsumexp, (x,), {}),
        "vjp": (sk.softmax_vjp, (y, g), {}),
        "vjp_axis0": (sk.log_softmax_vjp, (y, g), {"axis": 0}),
        "cross_entropy": (sk.cross_entropy, (x, target), {}),
        "cross_entropy_weighted": (sk.cross_entropy, (x, target), {"weight": np.arange(1.0, 6.0)}),
    }


@pytest.mark.parametrize("name", list(_kernel_calls()))
def test_use_kernel_false_reaches_no_kernel_entry(name):
    # The spec tests compare the kernel with use_kernel(False): an entry that
    # ignores the switch compares the kernel with itself.
    function, args, kwargs = _kernel_calls()[name]
    assert kernel_was_used(function, *args, **kwargs)
    with _dispatch.use_kernel(False):
        assert not kernel_was_used(function, *args, **kwargs)
        assert not _dispatch.available() and not _dispatch.enabled()
    assert _dispatch.available() and _dispatch.enabled()


@pytest.mark.parametrize("name", list(_kernel_calls()))
def test_a_build_without_the_extension_computes_the_spec(name, monkeypatch):
    # _kernel() caches an ImportError: every entry (the short paths too) then
    # returns None and the reference computes.
    function, args, kwargs = _kernel_calls()[name]
    expected = spec(function, *args, **kwargs)
    monkeypatch.setattr(_dispatch, "_module", None)
    monkeypatch.setattr(_dispatch, "_load_error", ImportError("no extension"))
    assert not _dispatch.available() and _dispatch.isa() is None
    assert_array_equal(function(*args, **kwargs), expected, strict=True)


def test_the_entries_take_only_plain_arrays_while_the_kernel_is_on(rng):
    # _dispatch's entries return None for what the kernel does not take: an
    # ndarray subclass, or any call inside use_kernel(False).
    x = rng.standard_normal((3, 5))
    calls = {
        sk.softmax: lambda a: _dispatch.softmax(a, 1, log=False, temperature=1.0, mask=None, out=None),
        sk.logsumexp: lambda a: _dispatch.logsumexp(a, 1, keepdims=False, mask=None),
    }
    for function, call in calls.items():
        assert_agree(call(x), spec(function, x, axis=-1))
        assert call(np.ma.masked_array(x)) is None
        with _dispatch.use_kernel(False):
            assert call(x) is None


@pytest.mark.parametrize("case", ["fortran_out", "shifted_out", "unaligned_x"])
def test_a_large_default_call_hands_the_kernel_only_c_ordered_aligned_arrays(rng, case):
    # The short path's large branch reshapes x and out to (rows, n, 1): a
    # reshape of any other layout is a copy, which the kernel would write
    # instead of out, and an unaligned x is refused by the binding.
    x = rng.standard_normal((64, 600))  # >= _dispatch._SMALL elements
    expected = spec(sk.log_softmax, x)
    buffer = np.zeros(x.size + 1)
    out = None
    if case == "fortran_out":
        out = np.zeros(x.shape, order="F")
    elif case == "shifted_out":  # overlaps x one entry further on
        buffer[:-1] = x.ravel()
        x, out = buffer[:-1].reshape(x.shape), buffer[1:].reshape(x.shape)
    else:
        raw = np.zeros(x.nbytes + 9, np.uint8)
        start = (-raw.ctypes.data) % 8 + 1
        unaligned = np.frombuffer(raw.data, np.float64, count=x.size, offset=start).reshape(x.shape)
        unaligned[...] = x
        x = unaligned
        assert not x.flags.aligned
    result = sk.log_softmax(x, out=out)
    assert out is None or result is out
    assert_agree(result, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_a_large_default_call_of_another_dtype_gets_the_full_paths_values(rng, dtype):
    # The short path takes float32/64 only: the binding's reduce refuses other
    # element formats with a TypeError that its large branch does not catch.
    x = (rng.standard_normal((64, 600)) * 4).astype(dtype)  # >= _dispatch._SMALL elements
    assert_agree(sk.log_softmax(x), spec(sk.log_softmax, x))


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax, sk.logsumexp], ids=lambda f: f.__name__)
def test_integer_input_takes_the_path_of_the_equal_floats(function):
    # softmax([1, 2, 3]) once took the array-API path and softmax([1., 2., 3.])
    # the kernel, so the two differed in the last bit.
    assert kernel_was_used(function, np.array([[1, 2, 3], [0, 0, 0]]))
    assert_array_equal(function([[1, 2, 3], [0, 0, 0]]), function(np.array([[1.0, 2, 3], [0, 0, 0]])))


def test_big_endian_float64_is_computed_in_float64_on_both_paths(rng):
    # The array-API path once computed '>f8' input in float32 (1e-7 off).
    x = rng.standard_normal((3, 8)) * 20
    expected = spec(sk.softmax, x, axis=(0, 1))
    for result in (spec(sk.softmax, x.astype(">f8"), axis=(0, 1)), sk.softmax(x.astype(">f8"), axis=(0, 1))):
        assert result.dtype == np.float64  # native byte order
        assert_agree(result, expected)


def test_long_double_input_never_reaches_the_kernel():
    # The kernel reads float16/32/64 only: NumPy's longdouble ('g') is left to the
    # array-API path, whose values it gets (the binding would raise TypeError).
    x = np.linspace(-3, 3, 12).reshape(3, 4).astype(np.longdouble)
    target = np.array([0, 1, 3])
    for function, args in ((sk.softmax, ()), (sk.logsumexp, ()), (sk.cross_entropy, (target,))):
        assert not kernel_was_used(function, x, *args)
        assert_array_equal(function(x, *args), spec(function, x, *args), strict=True)


def test_other_libraries_never_reach_the_kernel():
    import array_api_strict as xps

    assert not kernel_was_used(sk.softmax, xps.asarray([1.0, 2.0]))


def test_masked_arrays_never_reach_the_kernel():
    # Refused before dispatch (issue #14 item 6): the kernel would read the hidden 2.0.
    x = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match="masked array"):
        kernel_was_used(sk.softmax, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_rows_split_into_blocks(rng, dtype):
    x = (rng.standard_normal((2, 100_003)) * 30).astype(dtype)
    x[1, 77_777] = 400.0  # the maximum far from the first block
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x), spec(function, x))


# Row lengths around the SIMD widths (8 and 16 float32 lanes, 4 and 8 float64
# lanes, unrolled by 4) and around SK_BLOCK = 32768, where rows become blocks.
ROW_LENGTHS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 1000]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", ROW_LENGTHS)
def test_row_lengths_around_the_vector_width(rng, dtype, n):
    x = (rng.standard_normal((37, n)) * 30).astype(dtype)
    x[5, n - 1] = 90.0  # a maximum in the tail lanes
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x), spec(function, x))


@pytest.mark.parametrize("rows", [2, 9])  # 9: whole rows a unit (driver.c's whole_rows)
@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
def test_in_place_on_long_rows_with_a_huge_maximum_in_another_block(rng, function, rows):
    # Softmax keeps a block's exponentials in out; in place, out is x. A
    # later block whose maximum is beyond the float32 lanes' range (2^20)
    # must not make the first block's output re-read x.
    x = (rng.standard_normal((rows, 70_000)) * 3).astype(np.float32)
    x[0, :32768] += 2.0**20 - 40.0  # block 1: maximum just below 2^20
    x[0, 50_000] = 2.0**20 + 1.0  # block 2: maximum beyond it
    expected = spec(function, x)
    function(x, out=x)
    assert_agree(x, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(2000, 70), (300, 3), (1700, 130), (300, 1030), (257, 1024)], ids=str
)
def test_column_mode_with_several_row_chunks_and_edge_columns(rng, dtype, shape):
    # float32 column mode reduces tiles of up to 512 slices (two tiles where
    # there are 128 or more, so (1700, 130) makes tiles of 80 and 50 and
    # (300, 1030) of 512, 512 and 6) over chunks of 65536 / tile rows, with a
    # running maximum: maxima in a later chunk (the sums so far rescaled), a
    # maximum growing in every chunk, a column that is -inf until a late
    # chunk, a +inf in a later chunk (the tile falls back to the portable
    # loops after writing exponentials), NaN and all -inf columns, partial
    # vectors of columns.
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    n, m = shape
    x[n - 1, 0] = 200.0
    x[:, 1] = -np.inf
    x[n // 2, min(2, m - 1)] = np.nan
    if m > 4:
        x[:, 3] = np.linspace(-300.0, 300.0, n)
        x[: n - 3, 4] = -np.inf
    expected = {f: spec(f, x, axis=0) for f in (sk.softmax, sk.log_softmax, sk.logsumexp)}
    for function, values in expected.items():
        assert_agree(function(x, axis=0), values)
    x[n - 2, m - 1] = np.inf
    for function in (sk.softmax, sk.log_softmax):
        assert_agree(function(x, axis=0), spec(function, x, axis=0))
        y = x.copy()
        function(y, axis=0, out=y)  # in place
        assert_agree(y, spec(function, x, axis=0))


def test_column_mode_streams_a_large_output_from_any_alignment(rng):
    # A float32 tile with 4 MiB of output or more is written with
    # non-temporal stores from out's first vector-aligned column on: rows of
    # 100 float32 (400 bytes) start at alternating alignments, an out one
    # float past an allocation's start at others, and each row ends in a
    # partial vector.
    x = (rng.standard_normal((10_500, 100)) * 20).astype(np.float32)
    x[-1, 0] = 200.0
    x[:, 1] = -np.inf
    x[5000, 2] = np.nan
    for function in (sk.softmax, sk.log_softmax):
        expected = spec(function, x, axis=0)
        assert_agree(function(x, axis=0), expected)
        out = np.empty(x.size + 1, np.float32)[1:].reshape(x.shape)
        assert function(x, axis=0, out=out) is out
        assert_agree(out, expected)


def test_column_mode_short_exponential_gives_the_general_forms_bits(rng):
    # A float32 tile whose columns all lie within 86 of their shift takes the
    # exponential's short form (per chunk of rows in the first pass, over all
    # rows in the second). Columns are reduced independently, so a column
    # must come out the same whether its tile takes the short form (x) or,
    # one column of it reaching 100 below its maximum, the general form (y):
    # (1300, 130) makes tiles of 80 and 50 columns (a partial vector) and
    # chunks of 819 rows; the maximum grows in the second chunk, a NaN stays
    # in its column.
    x = (rng.standard_normal((1300, 130)) * 5).astype(np.float32)
    x[1000, 5] = 30.0
    x[700, 100] = np.nan
    y = x.copy()
    y[0, 0] = -100.0  # the first chunk and the second pass of tile 1: general
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        fx, fy = function(x, axis=0), function(y, axis=0)
        assert_agree(fx, spec(function, x, axis=0))
        assert_array_equal(fx[..., 1:], fy[..., 1:])


@pytest.mark.parametrize("n", [2, 10, 64])
def test_short_rows_with_strided_rows_and_a_strided_out(rng, n):
    # Rows of at most 64 float32 go one row per SIMD lane, transposed 8 rows
    # by 8 columns at a time (softmax_f32.c's tile_in and tile_out) at any
    # row stride: whole loads may read between the rows, but the stores into
    # a strided out must stop at each row's end.
    wide = (rng.standard_normal((50, 3 * n)) * 20).astype(np.float32)
    out_wide = np.zeros((50, 2 * n), np.float32)
    for x in (wide[:, ::3], wide[:, :n]):
        for function in (sk.softmax, sk.log_softmax):
            expected = spec(function, x)
            assert_agree(function(x), expected)
            function(x, out=out_wide[:, :n])
            assert_agree(out_wide[:, :n], expected)
            assert not out_wide[:, n:].any()  # nothing written past the rows


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
def test_short_rows_at_every_length_and_tile_tail(rng, function):
    # Every row length up to 65 (each partial block of 8 columns of the
    # transposes), 19 rows (tiles of 8 or 16 rows and a partial one). Into a
    # contiguous out, a row's last block is stored whole, running into the
    # next rows (written after it), except at the end of the tile: nothing
    # past the out may change. In place too (x is read before out is written).
    for n in range(1, 66):
        x = (rng.standard_normal((19, n)) * 20).astype(np.float32)
        expected = spec(function, x)
        buffer = np.full(19 * n + 8, 7.0, np.float32)
        out = buffer[: 19 * n].reshape(19, n)
        function(x, out=out)
        assert_agree(out, expected)
        assert (buffer[19 * n :] == 7.0).all()
        function(x, out=x)
        assert_agree(x, expected)


def test_short_rows_log_softmax_with_and_without_tied_maxima(rng):
    # A short tile whose rows all have one maximum skips log(k) (k = 1) in
    # log_softmax's normalisers; one with a tie (k = 2, or 10: a constant
    # row), a dominant pair among them, takes log(k) + log1p(t / k). Tiles
    # of 8 and 16 rows: the first 16 rows hold the ties, the rest none.
    x = (rng.standard_normal((48, 10)) * 20).astype(np.float32)
    x[3, 7] = x[3].max()
    x[9] = 1.0
    x[12, :2] = 80.0
    expected = spec(sk.log_softmax, x)
    assert_agree(sk.log_softmax(x), expected)
    got = sk.log_softmax(x)
    np.testing.assert_allclose(got[9], -np.log(10.0), rtol=2**-23)
    np.testing.assert_allclose(got[12, :2], -np.log(2.0), rtol=2**-23)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [32767, 32768, 32769, 65536 + 5])
def test_row_lengths_around_the_block_size(rng, dtype, n):
    x = (rng.standard_normal((3, n)) * 30).astype(dtype)
    x[1, -1] = 300.0  # the maximum in the last (short) block
    x[2, :40000] = -np.inf  # a block without any finite entry
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x), spec(function, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 16, 17, 33, 1000, 40000])
def test_edge_values_in_the_tail_lanes_and_masked_rows(rng, dtype, n):
    # NaN, +inf and -inf at the last position (a partial vector), rows with
    # every entry excluded, and a mask that keeps a NaN out, at each length.
    x = (rng.standard_normal((7, n)) * 10).astype(dtype)
    x[0, -1] = np.nan
    x[1, -1] = np.inf
    x[2, :] = -np.inf
    x[3, -1] = -np.inf
    x[4, 0] = np.nan
    mask = rng.random((7, n)) < 0.7
    mask[4, 0] = False  # the NaN of row 4 is excluded
    mask[5, :] = False  # a fully masked row
    mask[6, -1] = True
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x), spec(function, x))
        assert_agree(function(x, where=mask), spec(function, x, where=mask))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keepdims(rng, dtype):
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    for axis in (0, 1, (1, 2)):
        result = sk.logsumexp(x, axis=axis, keepdims=True)
        assert_agree(result, spec(sk.logsumexp, x, axis=axis, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_temperature_scalar_and_array(rng, dtype):
    x = (rng.standard_normal((5, 7)) * 10).astype(dtype)
    per_row = np.array([[0.5], [1.0], [2.0], [3.0], [4.0]], dtype=dtype)
    per_column = np.linspace(0.5, 4.0, 7, dtype=dtype)
    for axis, per_slice in ((-1, per_row), (0, per_column)):
        for t in (0.25, 3.0, per_slice):
            for function in (sk.softmax, sk.log_softmax):
                assert_agree(function(x, axis=axis, temperature=t), spec(function, x, axis=axis, temperature=t))


# ---- the edge-case policy --------------------------------------------------

EDGE_ROWS = [
    [1.0, 2.0, 3.0, 4.0],
    [-INF, -INF, -INF, -INF],
    [INF, 1.0, 2.0, -INF],
    [INF, INF, 0.0, 1.0],
    [NAN, 1.0, 2.0, 3.0],
    [NAN, INF, -INF, 1.0],
    [1e308, -1e308, 0.0, 1.0],
    [1000.0, 1001.0, -1000.0, 0.0],
]
EDGE_MASKS = [
    None,
    [True, True, True, True],
    [False, True, True, False],
    [False, False, False, False],
    [True, False, True, True],
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", EDGE_MASKS, ids=str)
@pytest.mark.parametrize("axis", [-1, 0])
def test_edge_case_policy(dtype, mask, axis):
    with np.errstate(over="ignore"):
        x = np.array(EDGE_ROWS, dtype=dtype)
    where = None if mask is None else np.broadcast_to(np.array(mask), x.shape)
    if axis == 0:
        x, where = x.T.copy(), None if where is None else where.T.copy()
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        actual = function(x, axis=axis, where=where)
        assert_agree(actual, spec(function, x, axis=axis, where=where))


# Where the exponential underflows: the AVX-512 float32 loops no longer clamp
# x at max - 110 but zero every lane whose shifted value is below -104, so
# the lanes whose shift, shift error and 2^k are garbage (-1e30 - m, -inf,
# -FLT_MAX - m) must come out as exactly 0 (log_softmax: x - c, or -inf).
FAR_BELOW = [0.0, -103.9, -104.1, -110.5, -1e3, -1e30, -3e38, -np.inf]


@pytest.mark.parametrize("layout", ["short_rows", "rows", "long_rows", "columns"])
@pytest.mark.parametrize("top", [5.0, -7.0, 3e5])
def test_edge_case_entries_far_below_the_maximum(rng, layout, top):
    n = {"short_rows": 10, "rows": 300, "long_rows": 40_000, "columns": 300}[layout]
    x = (top + rng.uniform(-20.0, 0.0, (33, n))).astype(np.float32)
    x[:, 0] = top
    for i, offset in enumerate(FAR_BELOW):
        x[:, 1 + i :: len(FAR_BELOW) + 3] = np.float32(top + offset)
    axis = -1
    if layout == "columns":
        x, axis = x.T.copy(), 0
    for function in (sk.softmax, sk.log_softmax):
        actual = function(x, axis=axis)
        assert_agree(actual, spec(function, x, axis=axis))
    assert np.all(sk.softmax(x, axis=axis)[x < top - 104.5] == 0.0)


def ties_next_to_the_largest(dtype, count):
    """Positive x whose x - max rounds to a tie away from 0 (so that TwoSum's
    (x - max) - x, about -max, overflows), and their negatives' counterparts."""
    big = np.finfo(dtype).max
    candidates = (big * np.linspace(0.4, 0.5, 20_001)).astype(dtype)
    with np.errstate(over="ignore"):
        ties = candidates[np.isinf((candidates - big) - candidates)]
    assert ties.size >= count
    return ties[:: ties.size // count][:count]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["short_rows", "rows", "long_rows", "columns"])
def test_a_difference_next_to_the_largest_value_is_compensated_without_overflow(dtype, layout):
    # The shift's rounding error, x - max - fl(x - max), was found by TwoSum in the
    # order x, -max, whose (x - max) - x overflowed: log_softmax NaN at
    # [8.170265657957594e307, max] (the portable loops, the SIMD loops of a row
    # holding -inf, the rescale of a long row's blocks); in the order -max, x the
    # same at x = -max over a negative maximum. Every row here holds such entries.
    big = np.finfo(dtype).max
    n = {"short_rows": 3, "rows": 300, "long_rows": 70_000, "columns": 300}[layout]
    ties = ties_next_to_the_largest(dtype, 4)
    x = np.full((4, n), -1.0, dtype)
    x[0, 0], x[1, :: max(n // 7, 2)], x[2, : n // 2], x[3, 1] = ties  # x[2]: a block of them
    x[1, 1] = -np.inf
    x[:, -1] = big
    negative = np.full((2, n), -big, dtype)
    negative[:, -1] = dtype(-8.199799318411708e307) if dtype == np.float64 else dtype(-1.3e38)
    negative[1, 1] = -np.inf
    x = np.concatenate([x, negative])
    axis = -1
    if layout == "columns":
        x, axis = x.T.copy(), 0
    top = x.max(axis=axis, keepdims=True)  # each row's one maximum: the others' exp is 0
    with np.errstate(over="ignore"):
        expected_log = np.where(x == top, 0.0, x - top)
    expected = {
        sk.softmax: (x == top).astype(dtype),
        sk.log_softmax: expected_log,
        sk.logsumexp: np.squeeze(top, axis),
    }
    for function, values in expected.items():
        actual = function(x, axis=axis)
        assert_array_equal(actual, values, err_msg=function.__name__)
        assert_array_equal(actual, spec(function, x, axis=axis), err_msg=function.__name__)
    if axis == -1:
        targets = np.zeros(len(x), dtype=np.intp)
        assert_array_equal(sk.cross_entropy(x, targets, reduction="none"), -expected_log[:, 0])


@pytest.mark.parametrize("n", [10, 100, 1000, 40_000])
def test_edge_case_nan_anywhere_in_a_row_fills_the_row(n):
    # log_softmax's split sum adds by Fast2Sum on the larger and the smaller
    # of the accumulator and the term: its operand order must carry a NaN
    # whether it arrives first, in the middle, after the maximum or in a tail.
    x = np.tile(np.linspace(-5.0, 5.0, n, dtype=np.float32), (4, 1))
    for row, at in enumerate([0, n // 2, n - 1, n - 1 - n // 3]):
        x[row, at] = np.nan
    for function in (sk.softmax, sk.log_softmax):
        assert np.isnan(function(x)).all()


def test_float64_nan_with_a_payload_fills_the_row():
    # The float64 lanes scale exponentials by adding to their exponent bits
    # where every entry of a block is within 700 of the maximum, which would
    # turn a NaN whose payload has low bits set into a number: such rows must
    # be found NaN before.
    payload = np.array([0x7FF8000000000007, 0xFFF0000000000103], dtype=np.uint64).view(np.float64)
    x = np.tile(np.linspace(-5.0, 5.0, 67), (2, 1))
    x[0, 9], x[1, 40] = payload
    for function in (sk.softmax, sk.log_softmax):
        assert np.isnan(function(x)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", EDGE_MASKS, ids=str)
@pytest.mark.parametrize("temperature", [1e-3, 0.5, 7.0])
def test_edge_case_policy_with_a_temperature(dtype, mask, temperature):
    with np.errstate(over="ignore"):
        x = np.array(EDGE_ROWS, dtype=dtype)
    where = None if mask is None else np.broadcast_to(np.array(mask), x.shape)
    for function in (sk.softmax, sk.log_softmax):
        actual = function(x, temperature=temperature, where=where)
        assert_agree(actual, spec(function, x, temperature=temperature, where=where))


def test_a_temperature_with_quotients_in_range_but_above_half_the_maximum():
    # The spec shifts a slice holding an entry above half the maximum times
    # min(T, 2) before dividing, which moves log_softmax's entries by up to
    # thousands of ulps from those of the rounded quotients: the kernel once read
    # the plain quotients wherever none overflowed (5462 ulp off at T = 0.6).
    big = np.finfo(np.float64).max
    rng = np.random.default_rng(1)
    cold = rng.uniform(0.55 * big, 0.59 * big, (2, 4))  # x / 0.6: 0.92 to 0.98 of big
    warm = rng.uniform(0.76 * big, 0.99 * big, (2, 4))  # x / 1.5: 0.51 to 0.66 of big
    per_row = np.array([[0.6], [0.6], [1.5], [1.5]])
    for x, t in ((cold, 0.6), (warm, 1.5), (np.concatenate([cold, warm]), per_row)):
        for function in (sk.softmax, sk.log_softmax):
            assert_agree(function(x, temperature=t), spec(function, x, temperature=t))


@pytest.mark.parametrize("shape, axis", [((0,), -1), ((3, 0), -1), ((0, 3), -1), ((0, 3), 0), ((2, 0, 3), 1)])
def test_empty_arrays(shape, axis):
    x = np.ones(shape)
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x, axis=axis), spec(function, x, axis=axis))


def test_an_empty_batch_with_a_temperature_per_row():
    # The temperature array is as empty as the batch: it has no minimum to check.
    x, t = np.ones((0, 3)), np.ones((0, 1))
    for function in (sk.softmax, sk.log_softmax):
        assert_array_equal(function(x, temperature=t), spec(function, x, temperature=t), strict=True)


def test_zero_dimensional_and_empty_axes():
    for x, axis in ((np.float64(2.0), None), (np.float64(2.0), ()), (np.ones((2, 3)), ())):
        for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
            assert_agree(function(x, axis=axis), spec(function, x, axis=axis))


def test_the_fast_path_validates_like_the_full_path():
    with pytest.raises(TypeError, match="x"):
        sk.softmax(np.array([1 + 2j]))
    assert_agree(sk.softmax(np.array([1, 2, 3])), spec(sk.softmax, np.array([1, 2, 3])))
    assert_agree(sk.softmax(np.array([True, False])), spec(sk.softmax, np.array([True, False])))


def test_input_is_not_modified(rng):
    x = rng.standard_normal((4, 5))
    before = x.copy()
    sk.softmax(x)
    sk.log_softmax(x, axis=0)
    sk.cross_entropy_and_grad(x, np.array([0, 1, 2, 3]))
    assert_array_equal(x, before)


# ---- out= --------------------------------------------------------------------


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [-1, 0])
def test_out_receives_the_result(rng, function, axis):
    x = rng.standard_normal((8, 6)).astype(np.float32)
    out = np.full_like(x, 7.0)
    result = function(x, axis=axis, out=out)
    assert result is out
    assert_agree(out, spec(function, x, axis=axis))


def test_out_receives_a_result_computed_in_a_wider_dtype(rng):
    # float16 is computed in float32, and x / temperature in float64: the kernel
    # writes into a temporary of that dtype, which is then rounded into out.
    x = rng.standard_normal((8, 6))
    for dtype, options in ((np.float16, {}), (np.float32, {"temperature": 2.0})):
        out = np.full(x.shape, 7.0, dtype)
        assert sk.log_softmax(x.astype(dtype), out=out, **options) is out
        assert_agree(out, spec(sk.log_softmax, x.astype(dtype), **options))


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [-1, 0])
def test_out_may_alias_the_input(rng, function, axis):
    x = rng.standard_normal((8, 6))
    expected = spec(function, x, axis=axis)
    assert function(x, axis=axis, out=x) is x
    assert_agree(x, expected)


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
def test_out_that_overlaps_the_input_elsewhere_gets_the_result(rng, function):
    # The fast path for out= takes out only when it is x itself or apart
    # from it; an out shifted by one row over x takes the full path.
    buffer = (rng.standard_normal((9, 5)) * 10).astype(np.float32)
    x, out = buffer[:-1], buffer[1:]
    expected = spec(function, x.copy())
    assert function(x, out=out) is out
    assert_agree(out, expected)


@pytest.mark.parametrize("axis", [-1, 0])
def test_out_that_starts_where_the_input_does_with_other_strides_gets_the_result(rng, axis):
    # Only out laid over x entry for entry is written in place: every other row
    # of the same buffer would overwrite x's rows before they are read.
    buffer = rng.standard_normal((8, 5)) * 10
    x, out = buffer[:4], buffer[::2]
    expected = spec(sk.log_softmax, x.copy(), axis=axis)
    assert sk.log_softmax(x, axis=axis, out=out) is out
    assert_agree(out, expected)


@pytest.mark.parametrize("log", [False, True])
def test_the_small_call_binding_refuses_an_out_shifted_over_x(rng, log):
    # The binding checks the overlap itself (np.may_share_memory cost as much
    # as the softmax of a few entries): x's own memory is fine, a shifted
    # overlap would read entries already written, so it raises (and the
    # public functions take the full path, as above).
    from softmaxkit import _kernel

    buffer = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="overlaps"):
        _kernel.last_axis(log, buffer[:-1], buffer[1:])
    x = buffer.copy()
    expected = spec(sk.log_softmax if log else sk.softmax, x)
    view = x[...]  # another array object over the same memory
    _kernel.last_axis(log, x, view)
    assert_agree(x, expected)


def test_out_may_be_non_contiguous(rng):
    x = rng.standard_normal((5, 6))
    buffer = np.zeros((5, 12))
    out = buffer[:, ::2]
    sk.softmax(x, out=out)
    assert_agree(out, spec(sk.softmax, x))
    assert_array_equal(buffer[:, 1::2], 0.0)


def test_out_on_the_array_api_path(rng):
    x = rng.standard_normal((3, 4))
    out = np.empty_like(x)
    with _dispatch.use_kernel(False):
        assert sk.log_softmax(x, out=out) is out
    assert_agree(out, spec(sk.log_softmax, x))


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "spec"])
@pytest.mark.parametrize("axis", [None, (0, 2), ()], ids=["all", "axes_0_2", "no_axis"])
def test_out_receives_a_softmax_over_several_or_no_axes(rng, axis, kernel):
    # Rows of several reduced axes (or none) are no view of out: the result is
    # computed apart and copied into it.
    x = rng.standard_normal((3, 4, 5))
    out = np.full_like(x, 7.0)
    with _dispatch.use_kernel(kernel):
        assert sk.log_softmax(x, axis=axis, out=out) is out
        assert_array_equal(out, sk.log_softmax(x, axis=axis))
    # A reduction over no axis makes every entry its own slice: log 1 = 0.
    assert_agree(out, scipy_special.log_softmax(x, axis=axis) if axis != () else np.zeros_like(x))


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
def test_a_long_row_without_a_temperature_is_one_kernel_call(rng, function, monkeypatch):
    # The kernel needs nothing beyond the output: a row too long for a block is
    # not streamed in passes (whose sums round otherwise) but computed whole.
    from softmaxkit import _chunks

    x = rng.standard_normal((1, 16384)) * 4.0
    whole = function(x, axis=1)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)  # the row is 32 blocks
    assert_array_equal(function(x, axis=1), whole)


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax], ids=lambda f: f.__name__)
def test_out_is_written_without_a_temporary_of_the_result(rng, function):
    # The full path (axis=1, not the default -1) hands out's rows to the kernel,
    # which writes them: no result-sized array is made and copied.
    x = rng.standard_normal((128, 512))
    out = np.empty_like(x)
    function(x, axis=1, out=out)  # warm caches outside the measurement
    tracemalloc.start()
    try:
        function(x, axis=1, out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 4
    assert_agree(out, spec(function, x, axis=1))


def test_out_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"out must have the result's shape \(2, 3\)"):
        sk.softmax(np.ones((2, 3)), out=np.empty((3, 2)))


def test_out_of_the_wrong_dtype_is_rejected():
    with pytest.raises(TypeError, match="out must have the result's dtype float64"):
        sk.softmax(np.ones((2, 3)), out=np.empty((2, 3), dtype=np.float32))


def test_out_of_another_library_is_rejected():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="out must be an array of the same library"):
        sk.softmax(np.ones(3), out=torch.empty(3, dtype=torch.float64))


# ---- gradients ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("masked", [False, True])
def test_vjps(rng, dtype, axis, masked):
    x = (rng.standard_normal((4, 5, 6)) * 5).astype(dtype)
    g = rng.standard_normal((4, 5, 6)).astype(dtype)
    where = rng.random((4, 5, 6)) > 0.3 if masked else None
    for t in (1.0, 2.5):
        y = spec(sk.softmax, x, axis=axis, where=where, temperature=t)
        logp = spec(sk.log_softmax, x, axis=axis, where=where, temperature=t)
        # The gradients cancel (g - sum): compare in ulps of the largest term.
        scale = np.abs(g).max() * x.shape[axis] / t
        assert_agree(
            sk.softmax_vjp(y, g, axis=axis, where=where, temperature=t),
            spec(sk.softmax_vjp, y, g, axis=axis, where=where, temperature=t),
            scale=scale,
        )
        assert_agree(
            sk.log_softmax_vjp(logp, g, axis=axis, where=where, temperature=t),
            spec(sk.log_softmax_vjp, logp, g, axis=axis, where=where, temperature=t),
            scale=scale,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [3, 40, 300])
def test_vjps_of_an_infinite_gradient_follow_the_formula(dtype, n):
    # y (g - sum(g y)) with sum(g y) = +-inf: inf - inf is NaN at the infinite
    # entries, +-inf elsewhere. The float64 loops summed with Kahan's
    # compensation, whose error term (inf - acc) - y is NaN: the whole row came
    # out NaN ([[inf, 0, 0]]: [nan, nan, nan] for [nan, -inf, -inf]).
    x = np.tile(np.linspace(-2.0, 2.0, n, dtype=dtype), (4, 1))
    x[3, 1] = -np.inf
    g = np.zeros((4, n), dtype)
    g[0, 0] = np.inf
    g[1, 0], g[1, -1] = -np.inf, 1.0
    g[2, 1], g[2, 2] = np.inf, -np.inf  # the sum is NaN
    g[3, 1], g[3, -1] = np.inf, np.inf  # y = 0 at the first: 0 * inf is NaN
    y, logp = sk.softmax(x), sk.log_softmax(x)
    with np.errstate(invalid="ignore"):
        softmax_grad = sk.softmax_vjp(y, g)
        log_grad = sk.log_softmax_vjp(logp, g)
        expected = y.astype(np.float64) * (g - np.sum(g * y.astype(np.float64), axis=-1, keepdims=True))
        expected_log = g - np.exp(logp.astype(np.float64)) * np.sum(g.astype(np.float64), axis=-1, keepdims=True)
    for actual, formula, function, first in (
        (softmax_grad, expected, sk.softmax_vjp, y),
        (log_grad, expected_log, sk.log_softmax_vjp, logp),
    ):
        assert_array_equal(np.isnan(actual), np.isnan(formula), err_msg=function.__name__)
        infinite = np.isinf(formula)
        assert_array_equal(actual[infinite], formula[infinite], err_msg=function.__name__)
        with np.errstate(invalid="ignore"):
            assert_array_equal(actual, spec(function, first, g), err_msg=function.__name__)


def test_vjps_with_a_temperature_per_row(rng):
    # The kernel takes one temperature for all rows: an array goes to the spec.
    y = spec(sk.softmax, rng.standard_normal((3, 5)))
    g = rng.standard_normal((3, 5))
    t = np.array([[0.5], [2.0], [3.0]])
    for function, first in ((sk.softmax_vjp, y), (sk.log_softmax_vjp, np.log(y))):
        assert_array_equal(function(first, g, temperature=t), spec(function, first, g, temperature=t), strict=True)


# ---- cross-entropy -----------------------------------------------------------


def assert_losses_agree(actual, expected):
    # Both are sums of terms that cancel (p - target): compare in ulps of the
    # largest term, i.e. of the loss scale and of 1 (the largest p).
    loss = np.abs(np.asarray(expected.loss))
    loss_scale = np.max(loss[np.isfinite(loss)], initial=1.0)
    assert_agree(actual.loss, expected.loss, scale=loss_scale)
    if expected.grad is None:
        assert actual.grad is None
    else:
        grad = np.abs(expected.grad)
        grad_scale = np.max(grad[np.isfinite(grad)], initial=0.0)
        assert_agree(actual.grad, expected.grad, scale=max(grad_scale, np.finfo(expected.grad.dtype).tiny))


CE_OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"label_smoothing": 0.1},
    {"ignore_index": 2},
    {"weight": "w"},
    {"weight": "w", "label_smoothing": 0.2, "ignore_index": 1},
    {"weight": "w", "reduction": "none"},
]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=str)
def test_cross_entropy_with_class_indices(rng, dtype, options):
    logits = (rng.standard_normal((12, 7)) * 8).astype(dtype)
    target = rng.integers(0, 7, size=12)
    options = dict(options)
    if options.get("weight") == "w":
        options["weight"] = rng.random(7).astype(dtype)
    assert_losses_agree(
        sk.cross_entropy_and_grad(logits, target, **options), spec(sk.cross_entropy_and_grad, logits, target, **options)
    )
    loss = sk.cross_entropy(logits, target, **options)
    assert_agree(loss, spec(sk.cross_entropy, logits, target, **options), scale=np.abs(loss).max())
    grad = sk.cross_entropy_grad(logits, target, **options)
    assert_agree(grad, spec(sk.cross_entropy_grad, logits, target, **options), scale=np.abs(grad).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.3}, {"weight": "w"}, {"reduction": "none"}], ids=str)
def test_cross_entropy_with_probabilities(rng, dtype, options):
    logits = (rng.standard_normal((9, 5)) * 8).astype(dtype)
    target = spec(sk.softmax, rng.standard_normal((9, 5)).astype(dtype))
    options = dict(options)
    if options.get("weight") == "w":
        options["weight"] = rng.random(5).astype(dtype)
    assert_losses_agree(
        sk.cross_entropy_and_grad(logits, target, **options), spec(sk.cross_entropy_and_grad, logits, target, **options)
    )


def test_cross_entropy_over_a_class_axis_in_the_middle(rng):
    logits = rng.standard_normal((3, 5, 4, 2))
    target = rng.integers(0, 5, size=(3, 4, 2))
    assert_losses_agree(
        sk.cross_entropy_and_grad(logits, target, axis=1), spec(sk.cross_entropy_and_grad, logits, target, axis=1)
    )


def test_cross_entropy_with_every_target_ignored(rng):
    logits = rng.standard_normal((3, 4))
    target = np.full(3, -100)
    assert_losses_agree(sk.cross_entropy_and_grad(logits, target), spec(sk.cross_entropy_and_grad, logits, target))


def test_cross_entropy_with_extreme_logits():
    logits = np.array([[INF, 0.0, 1.0], [-INF, 0.0, 1.0], [1e300, -1e300, 0.0], [NAN, 0.0, 1.0]])
    target = np.array([0, 1, 2, 1])
    for reduction in ("none", "sum"):
        assert_losses_agree(
            sk.cross_entropy_and_grad(logits, target, reduction=reduction),
            spec(sk.cross_entropy_and_grad, logits, target, reduction=reduction),
        )


def test_cross_entropy_over_an_empty_class_axis():
    # No classes: each row's loss is an empty sum (the kernel leaves it to the spec).
    logits, target = np.zeros((2, 0)), np.zeros((2, 0))
    for reduction in ("none", "sum"):
        expected = spec(sk.cross_entropy_and_grad, logits, target, reduction=reduction)
        actual = sk.cross_entropy_and_grad(logits, target, reduction=reduction)
        assert_array_equal(actual.loss, np.zeros(2) if reduction == "none" else 0.0)
        assert_array_equal(actual.loss, expected.loss, strict=True)
        assert_array_equal(actual.grad, expected.grad, strict=True)


def test_cross_entropy_with_long_rows(rng):
    logits = (rng.standard_normal((2, 70_000)) * 10).astype(np.float32)
    target = np.array([5, 69_999])
    assert_losses_agree(sk.cross_entropy_and_grad(logits, target), spec(sk.cross_entropy_and_grad, logits, target))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_short_path_gives_the_full_paths_values(rng, dtype, monkeypatch):
    # NumPy logits against class indices without class weights skip the
    # registry (_backends.fast_array_cross_entropy): the same loss (value,
    # dtype, kind) and gradient as the full path, bit for bit.
    logits = (rng.standard_normal((9, 13)) * 4).astype(dtype)
    target = rng.integers(0, 13, size=9)
    target[2] = -100
    calls = [
        (function, reduction, smoothing)
        for function in (sk.cross_entropy_and_grad, sk.cross_entropy, sk.cross_entropy_grad)
        for reduction in ("none", "sum", "mean")
        for smoothing in (0.0, 0.2)
    ]
    taken = []
    original = _backends.fast_array_cross_entropy
    monkeypatch.setattr(_backends, "fast_array_cross_entropy", lambda *a, **k: taken.append(original(*a, **k)) or taken[-1])
    short = [f(logits, target, reduction=r, label_smoothing=e) for f, r, e in calls]
    assert len(taken) == len(calls) and None not in taken  # every call took the short path
    monkeypatch.setattr(_backends, "array_cross_entropy_takes", lambda *args: False)
    for (f, r, e), got in zip(calls, short):
        expected = f(logits, target, reduction=r, label_smoothing=e)
        for a, b in zip(*(x if f is sk.cross_entropy_and_grad else (x,) for x in (got, expected))):
            assert type(a) is type(b) and a.dtype == b.dtype
            assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("n", [37, 1000], ids=lambda n: f"n={n}")  # vector body and tail
@pytest.mark.parametrize("masked", [False, True], ids=["", "masked"])
def test_float32_vjps_in_vector_lanes(rng, n, masked):
    # vjp_f32.h: the row sum and the output in vector lanes, exp(y) in float32 lanes.
    x = (rng.standard_normal((5, n)) * 5).astype(np.float32)
    x[1, ::4] = -INF  # probability 0, log-probability -inf
    g = rng.standard_normal((5, n)).astype(np.float32)
    where = rng.random((5, n)) > 0.3 if masked else None
    if masked:
        where[:, 0] = True
        g[~where] = NAN  # an excluded entry's g is never read
    for t in (1.0, 2.5):
        y = spec(sk.softmax, x, where=where, temperature=t)
        logp = spec(sk.log_softmax, x, where=where, temperature=t)
        scale = np.nanmax(np.abs(g)) * n / t
        assert_agree(
            sk.softmax_vjp(y, g, where=where, temperature=t),
            spec(sk.softmax_vjp, y, g, where=where, temperature=t),
            scale=scale,
        )
        assert_agree(
            sk.log_softmax_vjp(logp, g, where=where, temperature=t),
            spec(sk.log_softmax_vjp, logp, g, where=where, temperature=t),
            scale=scale,
        )


def lane_logits(rng, rows, n, dtype=np.float32):
    """Logits with every kind of row the float32 and float64 lanes tell apart."""
    z = (rng.standard_normal((rows, n)) * 8).astype(dtype)  # within 86 of the max
    z[1] *= 20  # wider: exponentials underflow to subnormals and 0
    z[2, ::3] = -INF  # excluded classes
    return z


@pytest.mark.parametrize("n", [5, 37, 3000], ids=lambda n: f"n={n}")  # tail only, body + tail, chunks
@pytest.mark.parametrize("probabilities", [False, True], ids=["indices", "probabilities"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15], ids=lambda e: f"eps={e}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_lanes_agree_with_the_spec(rng, n, probabilities, weighted, smoothing, dtype):
    # The fused rows in float32 and float64 lanes (cross_entropy_f32.h,
    # cross_entropy_f64.h), one instance per option set.
    logits = lane_logits(rng, 6, n, dtype)
    if probabilities:
        target = spec(sk.softmax, rng.standard_normal((6, n)).astype(dtype))
        target[2, ::3] = 0.0  # no mass on the excluded classes
    else:
        target = rng.integers(0, n, size=6)
        target[2] = 1  # not an excluded class
        target[3] = -100  # an ignored row
    options = {"label_smoothing": smoothing}
    if weighted:
        options["weight"] = rng.random(n).astype(dtype)
    for reduction in ("none", "sum", "mean"):
        assert_losses_agree(
            sk.cross_entropy_and_grad(logits, target, reduction=reduction, **options),
            spec(sk.cross_entropy_and_grad, logits, target, reduction=reduction, **options),
        )
    # The loss alone keeps its exponentials in a stack chunk instead of the gradient.
    loss = sk.cross_entropy(logits, target, reduction="none", **options)
    expected = spec(sk.cross_entropy, logits, target, reduction="none", **options)
    finite = np.isfinite(expected)
    assert_agree(loss, expected, scale=np.abs(expected[finite]).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_rows_the_lanes_leave_to_the_general_loop(rng, dtype):
    logits = (rng.standard_normal((5, 37)) * 3).astype(dtype)
    logits[0, 5] = NAN
    logits[1, 7] = INF
    logits[2] = -INF
    logits[4, 9] = 2.0**41  # float64: too large a maximum to clamp below
    target = np.array([1, 7, 3, 2, 9])
    for reduction in ("none", "sum"):
        assert_losses_agree(
            sk.cross_entropy_and_grad(logits, target, reduction=reduction),
            spec(sk.cross_entropy_and_grad, logits, target, reduction=reduction),
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 37])
def test_cross_entropy_with_an_infinite_weight_or_target_is_infinite_as_the_formula(rng, dtype, n):
    # The fused rows split sum_j c_j logp_j into sum_j c_j (z_j - m) - log_norm
    # sum_j c_j, which is inf - inf or inf * 0 (NaN) where a coefficient is
    # infinite; the formula (the spec, torch) gives +inf. Such rows now go to the
    # general loop; the float64 compensated sums' totals, whose error terms are
    # NaN there, are the plain sums.
    logits = (rng.standard_normal((3, n)) * 3).astype(dtype)
    probabilities = rng.dirichlet(np.ones(n), size=3).astype(dtype)
    probabilities[0, 2] = INF
    weight = np.ones(n, dtype)
    weight[1] = INF
    calls = {
        "probabilities": (probabilities, {}),
        "probabilities, smoothing": (probabilities, dict(label_smoothing=0.1)),
        "classes, weighted, smoothing": (np.array([0, 2, 4]), dict(weight=weight, label_smoothing=0.1)),
    }
    for name, (target, kwargs) in calls.items():
        with np.errstate(invalid="ignore", over="ignore"):
            actual = sk.cross_entropy_and_grad(logits, target, reduction="none", **kwargs)
            expected = spec(sk.cross_entropy_and_grad, logits, target, reduction="none", **kwargs)
        assert not np.isnan(actual.loss).any(), name
        assert_array_equal(np.isinf(actual.loss), np.isinf(expected.loss), err_msg=name)
        assert_losses_agree(actual, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 37, 40000])
def test_cross_entropy_near_the_float_maximum_follows_torch(rng, dtype, n):
    # The formula (the spec, torch) sums w_j logp_j over the classes and
    # scales by eps / C after: class weights of 1e308, or logits 1.5e308
    # below the maximum, overflow there to +inf. The fused rows summed the
    # smaller (eps / C) w_j (z_j - m) and gave a finite loss (float32 too,
    # computed in float64: the mean divides by the target's weight of 1e308):
    # rows whose formula's terms may overflow now go to the general loop,
    # which forms them as the formula does.
    logits = (rng.standard_normal((3, n)) * 3).astype(dtype)
    logits[0, 1] = 20.0
    if dtype == np.float64:
        logits[1, 2:4] = -1.5e308
    weight = np.ones(n)
    weight[[1, 3]] = 1e308
    classes = np.array([1, 2, 4])
    probabilities = rng.dirichlet(np.ones(n), size=3).astype(dtype)
    calls = {
        "classes, weighted": (classes, dict(weight=weight)),
        "classes, unweighted": (classes, {}),
        "probabilities, weighted": (probabilities, dict(weight=weight)),
    }
    # The gradient's scale takes sum_c eps / C w_c, each term scaled first as
    # torch's backward does: eps / C sum(w) overflowed with these weights, and
    # was NaN at eps = 0 (0 * inf: every entry of a weighted gradient NaN).
    for (name, (target, kwargs)), eps, reduction in itertools.product(
        calls.items(), (0.0, 0.1), ("none", "mean")
    ):
        options = dict(label_smoothing=eps, reduction=reduction, **kwargs)
        with np.errstate(invalid="ignore", over="ignore"):
            actual = sk.cross_entropy_and_grad(logits, target, **options)
            expected = spec(sk.cross_entropy_and_grad, logits, target, **options)
            # the gradient cancels (p_y w_y - w_y): in ulps of its terms, the
            # largest weight over the mean's divisor (at most half the maximum)
            weighted_rows = np.sum(weight[classes]) if kwargs and target is classes else 3.0
            terms = np.max(kwargs.get("weight", 1.0)) / (weighted_rows if reduction == "mean" else 1.0)
            terms = min(terms, float(np.finfo(dtype).max) / 2)
        assert_agree(actual.loss, expected.loss)
        assert_agree(actual.grad, expected.grad, scale=terms)
        if dtype == np.float64 and has_module("torch"):
            import torch

            logits_t = torch.tensor(logits, requires_grad=True)
            weight_t = torch.tensor(kwargs["weight"]) if "weight" in kwargs else None
            torch_options = {k: v for k, v in options.items() if k != "weight"}
            loss_t = torch.nn.functional.cross_entropy(
                logits_t, torch.tensor(target), weight=weight_t, **torch_options
            )
            loss_t.sum().backward()
            # torch is less accurate (its log p 300 ulps off here, its p_y - 1
            # 1e-9 of the largest gradient entry): the same infinities and
            # NaNs, finite values to 1e-8 of the largest
            for ours, theirs in ((actual.loss, loss_t.detach().numpy()), (actual.grad, logits_t.grad.numpy())):
                largest = np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0)
                assert_allclose(ours, theirs, rtol=1e-8, atol=1e-8 * largest, err_msg=f"{name}, {options}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [9, 16, 300])
def test_vjps_whose_row_sum_overflows_follow_the_spec(rng, dtype, n):
    # Gradients of +-1e308: the row sum of finite terms overflows, to +inf,
    # -inf or NaN by the order of the additions (numpy's pairwise sum in the
    # spec; [M, M, -M, -M] in 8 lanes is NaN joined as numpy joins them, +inf
    # one lane after another). Such rows now sum in numpy's order.
    biggest = float(np.finfo(dtype).max)
    g = (biggest / rng.uniform(1.0, 4.0, (16, n)) * rng.choice([-1.0, 1.0], (16, n))).astype(dtype)
    x = (rng.standard_normal((16, n)) * 3).astype(dtype)
    where = rng.random((16, n)) > 0.2
    for mask in (None, where):
        y, logp = sk.softmax(x, where=mask), sk.log_softmax(x, where=mask)
        for function, first in ((sk.softmax_vjp, y), (sk.log_softmax_vjp, logp)):
            with np.errstate(invalid="ignore", over="ignore"):
                actual = function(first, g, where=mask)
                expected = spec(function, first, g, where=mask)
            assert_agree(actual, expected, scale=biggest / 2)


def test_cross_entropy_rejects_an_out_of_range_class():
    with pytest.raises(ValueError, match="target"):
        sk.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))


# ---- threads -----------------------------------------------------------------


@pytest.fixture
def restore_threads():
    yield
    sk.set_num_threads(None)


CASES = {
    "short_rows": ((300, 1000), -1),
    "tiny_rows": ((3000, 10), -1),
    "long_rows": ((2, 150_000), -1),
    # units of 4 rows (rows of SK_BLOCK / 4 or more, each prefetching the next)
    "rows_by_fours": ((41, 9000), -1),
    # units of 4 blocks that run across rows (10 blocks a row)
    "blocks_by_fours": ((3, 9 * 32768 + 5), -1),
    "columns": ((500, 300), 0),
    "column_chunks": ((1000, 130), 0),
    "column_tiles_of_512": ((300, 1030), 0),
    # rows of a few blocks, 8 or more of them: a whole row a unit
    "whole_long_rows": ((9, 70_000), -1),
    # fresh outputs of 4 MiB or more, faulted in before the threads write them
    "large_fresh_output": ((4, 300_000), -1),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_are_bitwise_identical_for_any_thread_count(rng, restore_threads, case, dtype):
    shape, axis = CASES[case]
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    results = []
    for n in (1, 2, 3):
        sk.set_num_threads(n)
        results.append(
            [sk.softmax(x, axis=axis), sk.log_softmax(x, axis=axis), sk.logsumexp(x, axis=axis)]
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax])
def test_a_large_out_that_is_a_file_mapping_gets_the_result(rng, restore_threads, tmp_path, function):
    # Outputs of 4 MiB or more not yet in memory are faulted in (for writing)
    # before the threads write them: a memory-mapped file's pages too.
    sk.set_num_threads(2)
    x = (rng.standard_normal((3, 400_000)) * 20).astype(np.float32)
    mapped = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32, shape=x.shape)
    out = np.asarray(mapped)  # a plain ndarray over the mapping: the kernel takes it
    assert function(x, out=out) is out
    mapped.flush()
    sk.set_num_threads(1)
    assert_array_equal(np.load(tmp_path / "out.npy"), function(x), strict=True)


def test_cross_entropy_is_bitwise_identical_for_any_thread_count(rng, restore_threads):
    logits = rng.standard_normal((200, 1000)).astype(np.float32)
    target = rng.integers(0, 1000, size=200)
    results = []
    for n in (1, 2, 3):
        sk.set_num_threads(n)
        results.append(sk.cross_entropy_and_grad(logits, target))
    for other in results[1:]:
        assert_array_equal(other.loss, results[0].loss, strict=True)
        assert_array_equal(other.grad, results[0].grad, strict=True)


FORKED_CHILD_SCRIPT = """
import os, select, sys
import numpy as np
import softmaxkit as sk

sk.set_num_threads(2)
x = (np.random.default_rng(0).standard_normal((256, 1000)) * 10).astype(np.float32)
expected = sk.softmax(x)  # the pool is running in the parent now
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    ok = np.array_equal(sk.softmax(x), expected)
    os.write(write_end, b"1" if ok else b"0")
    os._exit(0)
os.close(write_end)
ready, _, _ = select.select([read_end], [], [], 60)
answer = os.read(read_end, 1) if ready else b"timeout"
os.waitpid(pid, 0) if ready else os.kill(pid, 9)
sys.stdout.write(answer.decode())
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_the_thread_pool_works_in_a_forked_child():
    # The pool's workers do not survive fork: the child must start its own
    # instead of waiting for threads that do not exist (a hang, caught by the
    # timeout of the parent's wait). In a fresh interpreter: forking this one,
    # which may hold JAX's or torch's threads, makes those libraries warn.
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", FORKED_CHILD_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1"


def test_concurrent_calls_from_python_threads(rng):
    inputs = [(rng.standard_normal((64, 3000)) * 10).astype(np.float32) for _ in range(4)]
    expected = [spec(sk.softmax, x) for x in inputs]
    failures = []

    def work(i):
        for _ in range(5):
            result = sk.softmax(inputs[i])
            try:
                assert_agree(result, expected[i])
            except AssertionError as exc:  # pragma: no cover - reported below
                failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_set_num_threads_is_what_get_num_threads_reports(restore_threads):
    sk.set_num_threads(3)
    assert sk.get_num_threads() == 3


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)])
def test_set_num_threads_rejects_bad_values(bad, error):
    with pytest.raises(error, match="n must be"):
        sk.set_num_threads(bad)


def test_environment_variable_is_read_when_needed(monkeypatch, restore_threads):
    sk.set_num_threads(None)
    monkeypatch.setenv("SOFTMAXKIT_NUM_THREADS", "5")
    assert sk.get_num_threads() == 5
    monkeypatch.setenv("SOFTMAXKIT_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="SOFTMAXKIT_NUM_THREADS must be a positive integer, got 'zero'"):
        sk.get_num_threads()


def test_an_empty_environment_variable_is_the_default(monkeypatch, restore_threads):
    sk.set_num_threads(None)
    monkeypatch.setenv("SOFTMAXKIT_NUM_THREADS", "  ")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert sk.get_num_threads() == 7


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_the_default_is_the_cpus_this_thread_may_run_on(monkeypatch, restore_threads):
    sk.set_num_threads(None)
    monkeypatch.delenv("SOFTMAXKIT_NUM_THREADS", raising=False)
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})  # this thread only: the pid 0
        assert sk.get_num_threads() == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert sk.get_num_threads() == len(allowed)


@pytest.mark.parametrize("cpu_count, expected", [(6, 6), (None, 1)], ids=["known", "unknown"])
def test_the_default_off_linux_is_the_cpu_count(monkeypatch, restore_threads, cpu_count, expected):
    sk.set_num_threads(None)
    monkeypatch.delenv("SOFTMAXKIT_NUM_THREADS", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpu_count)
    assert sk.get_num_threads() == expected


def test_one_thread_is_accepted(restore_threads):
    sk.set_num_threads(1)
    assert sk.get_num_threads() == 1


def test_import_does_not_load_the_extension():
    code = "import sys, softmaxkit; print('softmaxkit._kernel' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_isa_is_reported():
    assert _dispatch.isa() in ("avx512f", "avx2", "baseline")


def test_dispatch_writes_into_a_torch_tensor_through_a_numpy_view(rng):
    # How softmaxkit.torch is meant to use the kernel: zero-copy NumPy views
    # of CPU tensors, the result written into the output tensor's memory.
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(rng.standard_normal((4, 7)).astype(np.float32))
    out = torch.empty_like(x)
    result = _dispatch.softmax(x.numpy(), 1, log=True, temperature=1.0, mask=None, out=out.numpy())
    assert result is not None
    assert np.shares_memory(result, out.numpy())
    assert_agree(out.numpy(), spec(sk.log_softmax, x.numpy()))


def _builds_below_the_chosen_one():
    """The ISA builds this CPU can run other than the one it picks (SOFTMAXKIT_ISA caps it)."""
    order = ["baseline", "avx2", "avx512f"]
    chosen = _dispatch.isa()
    return order[: order.index(chosen)] if chosen in order else []


@pytest.mark.parametrize("isa", _builds_below_the_chosen_one())
def test_every_other_isa_build_agrees_too(isa):
    # This CPU picks its best SIMD build; SOFTMAXKIT_ISA makes a fresh
    # process run another one (AVX2 where a CPU lacks AVX-512, the baseline
    # loops on aarch64 and old CPUs) on the agreement and accuracy tests.
    import os
    from pathlib import Path

    env = dict(os.environ, SOFTMAXKIT_ISA=isa)
    chosen = subprocess.run(
        [sys.executable, "-c", "from softmaxkit import _dispatch; print(_dispatch.isa())"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    assert chosen.stdout.strip() == isa
    selected = (
        "layouts_and_axes or edge_case or vjps or cross_entropy or long_rows or thread_count"
        " or short_rows or vector_width or masked or within_the_goal or underflow or dominant"
    )
    tests = [str(Path(__file__)), str(Path(__file__).with_name("test_kernel_accuracy.py"))]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-k", selected],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parent,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.parametrize(
    ("shape", "g_shape"), [((3, 0), (3, 0)), ((0, 3), (0, 3)), ((), ()), ((2, 3), (3,))], ids=str
)
def test_the_vjp_short_path_leaves_empty_0d_and_mismatched_inputs_to_the_full_path(shape, g_shape):
    # fast_vjp's refusals: an empty result is empty, a 0-d y and a g of another
    # shape are reported by the full path's checks, never by a reshape.
    y, g = np.full(shape, 0.25), np.ones(g_shape)
    if shape and shape == g_shape:
        assert_array_equal(sk.softmax_vjp(y, g), np.empty(shape), strict=True)
    else:
        with pytest.raises(ValueError, match="axis -1 is out of bounds|g must have the shape"):
            sk.softmax_vjp(y, g)
