"""The block planner of large NumPy inputs (``softmaxkit._chunks``) on its own.

tests/test_reliability_memory*.py measure what the plans buy (the peak memory)
and that the blocks give the values of one call; these pin the rules at their
boundaries: when an input counts as large, which axis is cut, when a slice is
streamed instead, which options travel with the blocks, and how
:func:`by_rows` cuts and stitches. The planner reads only an input's type,
shape and size, so its large inputs are broadcast views that hold one number.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from softmaxkit import _chunks
from softmaxkit._chunks import Plan

LIMIT = 4 * _chunks.CHUNK_BYTES  # an input of more bytes than this is large
ITEMS = LIMIT // 8  # float64 entries in LIMIT bytes


def _shaped(*shape: int) -> np.ndarray:
    """A float64 array of ``shape`` (a view of one number: its nbytes counts every entry)."""
    return np.broadcast_to(np.zeros(()), shape)


@pytest.mark.parametrize(
    ("shape", "reduced", "in_order", "expected"),
    [
        # LIMIT bytes is small; more is large, cut into blocks of rows.
        ((2, ITEMS // 2), (1,), False, None),
        ((2, ITEMS // 2 + 1), (1,), False, Plan("blocks", 0)),
        # A block of one row may hold LIMIT bytes; a longer row is streamed.
        ((2, ITEMS), (1,), False, Plan("blocks", 0)),
        ((2, ITEMS + 1), (1,), False, Plan("stream", 1)),
        # Axes of length 1 are no cut, even in order; the columns of axis=0.
        ((1, 4 * ITEMS, 8), (2,), True, Plan("blocks", 1)),
        ((8, ITEMS), (0,), False, Plan("blocks", 1)),
        # In order, no cut after a reduced axis or past an axis too large to cut.
        ((8, ITEMS), (0,), True, Plan("stream", 0)),
        ((4, ITEMS, 2), (2,), False, Plan("blocks", 1)),
        ((4, ITEMS, 2), (2,), True, Plan("stream", 2)),
        # Elementwise (no reduced axis): one huge row is cut along its entries.
        ((1, 2 * ITEMS), None, False, Plan("blocks", 1)),
        ((1, 2 * ITEMS), None, True, Plan("blocks", 1)),
        # Two reduced axes cannot stream: the first other axis of length > 1 is cut,
        # however large its blocks, unless the blocks must be in order.
        ((2, ITEMS, 4), (1, 2), False, Plan("blocks", 0)),
        ((2, ITEMS, 4), (1, 2), True, None),
        ((1, 2, 2, 2 * ITEMS, 2 * ITEMS), (1, 2), False, Plan("blocks", 3)),
        ((2, 2, 2, 2 * ITEMS, 2 * ITEMS), (1, 2), False, Plan("blocks", 0)),
        # Only a reduced axis of length > 1 is a slice to stream.
        ((2 * ITEMS, 1, 2 * ITEMS), (1,), False, Plan("blocks", 0)),
        ((2 * ITEMS, 2, 2 * ITEMS), (1,), False, Plan("stream", 1)),
        # Nothing to cut and no slice to stream.
        ((1, 2 * ITEMS), (0, 1), False, None),
    ],
)
def test_plan_at_its_boundaries(shape, reduced, in_order, expected):
    assert _chunks.plan(_shaped(*shape), reduced, in_order=in_order) == expected


def test_plan_defaults_to_any_order_and_leaves_other_arrays_whole():
    assert _chunks.plan(_shaped(8, ITEMS), (0,)) == Plan("blocks", 1)
    assert _chunks.plan(_shaped(8, ITEMS).view(np.matrix), (0,)) is None


@pytest.mark.parametrize(
    ("axis", "expected"),
    [(1, Plan("stream", 1)), (-1, Plan("stream", 1)), (0, Plan("blocks", 1)), (-2, Plan("blocks", 1)),
     (2, None), (-3, None), (np.int64(1), None), (True, None)],
)  # fmt: skip
def test_plan_for_one_int_axis(axis, expected):
    assert _chunks.plan_for(_shaped(2, ITEMS + 1), axis) == expected


def test_plan_for_numpy_input_in_order():
    x = _shaped(8, ITEMS)
    assert _chunks.plan_for(x, 0) == Plan("blocks", 1)
    assert _chunks.plan_for(x, 0, in_order=True) == Plan("stream", 0)
    assert _chunks.plan_for([[0.0] * 4] * 2, 0) is None


@pytest.mark.parametrize(
    ("option", "travels"),
    [(None, True), (2.0, True), (3, True), (np.zeros(()), True), (np.zeros((1, 1)), True),
     (np.zeros((2, 1)), True), (_shaped(ITEMS + 1), True), (_shaped(2, ITEMS + 1), True),
     (True, False), ([1.0, 2.0], False), (np.zeros((1, 2, 1)), False), (np.zeros((3, 1)), False),
     (np.zeros(3), False)],
    ids=["none", "float", "int", "zero_d", "one", "per_row", "per_class", "full",
         "bool", "list", "more_axes", "wrong_rows", "wrong_classes"],
)  # fmt: skip
def test_plan_for_only_with_options_that_travel(option, travels):
    expected = Plan("stream", 1) if travels else None
    assert _chunks.plan_for(_shaped(2, ITEMS + 1), -1, option) == expected
    assert _chunks.plan_for(_shaped(2, ITEMS + 1), -1, None, option) == expected


def test_an_option_may_not_broadcast_the_input_larger():
    x = _shaped(1, 2 * ITEMS)
    assert _chunks.plan_for(x, -1, np.zeros((1, 1))) == Plan("stream", 1)
    assert _chunks.plan_for(x, -1, np.zeros((3, 1))) is None


def test_on_host_converts_number_lists_and_leaves_the_rest():
    x = np.zeros(3)
    array, number = np.ones(3), np.float32(2.0)
    kept = _chunks.on_host(x, None, 2, 0.5, number, array)
    assert kept[0] is None and kept[1] == 2 and kept[2] == 0.5
    assert kept[3] is number and kept[4] is array
    mask, temperatures = _chunks.on_host(x, [True, False, True], [[1], [2]])
    assert mask.dtype == bool
    assert_array_equal(mask, [True, False, True])
    assert temperatures.dtype.kind == "i" and temperatures.shape == (2, 1)
    words, ragged = ["a", "b"], [[1.0], [1.0, 2.0]]
    assert _chunks.on_host(x, words, ragged) == (words, ragged)
    # Beside other input, options are left to that input's library.
    listed = _chunks.on_host(x.tolist(), [True], 2.0)
    assert type(listed[0]) is list and listed[1] == 2.0


@pytest.mark.parametrize(
    ("shape", "reduced", "along", "expected"),
    [((2, ITEMS // 2), None, 0, False), ((2, ITEMS // 2 + 1), None, 0, True), ((2, ITEMS), None, 0, True),
     ((1, 2 * ITEMS), None, 0, False), ((1, 2 * ITEMS), None, 1, True), ((2 * ITEMS,), None, 0, True),
     ((2 * ITEMS,), (0,), 0, False), ((2 * ITEMS,), None, 1, False),
     ((4, ITEMS), (1,), 0, True), ((4, ITEMS), (0,), 0, False), ((4, ITEMS), (0,), 1, True)],
)  # fmt: skip
def test_applies(shape, reduced, along, expected):
    assert _chunks.applies(_shaped(*shape), reduced, along=along) is expected


def test_applies_along_the_leading_axis_of_numpy_arrays():
    assert _chunks.applies(_shaped(4, ITEMS), (1,)) is True
    assert _chunks.applies(_shaped(1, 4 * ITEMS), None) is False
    assert _chunks.applies(_shaped(4, ITEMS).view(np.matrix), (1,)) is False


def _recording(function, seen):
    def record(*blocks):
        seen.append(blocks[0].shape)
        return function(*blocks)

    return record


@pytest.mark.parametrize(
    ("dtype", "shape", "sizes"),
    [(np.float64, (10, 3), [2] * 5), (np.float64, (10, 13), [1] * 10), (np.float64, (10, 1), [8, 2]),
     (np.int8, (100, 1), [64, 36])],
)  # fmt: skip
def test_by_rows_cuts_blocks_of_at_most_chunk_bytes(monkeypatch, dtype, shape, sizes):
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 64)  # rows of 24, 104, 8 and 1 bytes
    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    seen = []
    result = _chunks.by_rows(_recording(lambda a: 2 * a, seen), x)
    assert_array_equal(result, 2 * x)
    assert [shape[0] for shape in seen] == sizes


def test_by_rows_along_another_axis_with_a_reduced_axis_dropped(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 96)  # 48 bytes a column: 2 columns a block
    x = np.arange(60.0).reshape(2, 3, 10) ** 2
    seen = []
    result = _chunks.by_rows(_recording(lambda a: a.sum(axis=0), seen), x, along=2, reduced=0)
    assert_array_equal(result, x.sum(axis=0))
    assert [shape[2] for shape in seen] == [2] * 5
    # A reduced axis after the cut leaves the result's axis where it is.
    rows = _chunks.by_rows(lambda a: a.max(axis=2), x, along=1, reduced=2)
    assert_array_equal(rows, x.max(axis=2))


def test_by_rows_cuts_the_options_that_vary_along_the_axis(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 64)  # 32 bytes a row: 2 rows a block
    x = np.arange(40.0).reshape(10, 4)
    mask = (np.arange(40) % 3 > 0).reshape(10, 4)
    per_row = np.arange(1.0, 11.0)[:, None]
    per_class = np.array([1.0, 2.0, 3.0, 4.0])  # fewer axes: aligned, passed whole

    def weighted(block, where, t, s, c):
        return np.where(where, block, 0.0) * t * s + c

    result = _chunks.by_rows(weighted, x, broadcast=(mask, per_row, per_class, 0.5))
    assert_array_equal(result, np.where(mask, x, 0.0) * per_row * per_class + 0.5)
    result = _chunks.by_rows(weighted, x, broadcast=(mask[:1], per_row, 1.0, 0.0))
    assert_array_equal(result, np.where(mask[:1], x, 0.0) * per_row)
    # Two rows, one a block: an option of two rows is cut too.
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 16)
    result = _chunks.by_rows(weighted, x[:2], broadcast=(mask[:2], per_row[:2], 1.0, 0.0))
    assert_array_equal(result, np.where(mask[:2], x[:2], 0.0) * per_row[:2])


def test_by_rows_writes_into_out(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 64)
    x = np.arange(30.0).reshape(10, 3)
    out = np.full((10, 3), np.nan, np.float32)
    assert _chunks.by_rows(np.negative, x, out=out) is out
    assert_array_equal(out, -x)
    assert _chunks.by_rows(lambda a: a.astype(np.float32), x).dtype == np.float32
