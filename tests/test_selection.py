"""The radix selection over blocks (``softmaxkit._selection``) on its own.

``sample``'s streamed filters (tests/variants/test_sampling.py) reach it only
through draws, which rarely turn on the last bit of a cut or on a value at a
boundary of the integer keys; these compare the cut with its definition, the
smallest value ``v`` whose weight above (``values > v``) is below the limit,
computed by brute force.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softmaxkit import _selection

# Values at the boundaries of the keys: both zeros (key 2**63), negative numbers
# with an odd last bit of their mantissa, the extremes of float64 and infinities.
_BELOW_MINUS_ONE = float(np.nextafter(-1.0, -2.0))
_POOL = [0.0, -0.0, 1.0, -1.0, _BELOW_MINUS_ONE, 5e-324, -5e-324, 2.5, -2.5, 1.7e308, -1.7e308, np.inf, -np.inf]


def _blocks(parts, weights=None):
    """The blocks callable of ``parts`` (a block may be 2-D: a block of a column)."""

    def blocks():
        for i, part in enumerate(parts):
            yield part, None if weights is None else weights[i]

    return blocks


def _reference(values, weights, limit):
    """The smallest value with ``weight(values > v) < limit``, by brute force."""
    values = np.concatenate([np.ravel(v) for v in values])
    weights = np.ones_like(values) if weights is None else np.concatenate([np.ravel(w) for w in weights])
    return min(v for v in values if weights[values > v].sum() < limit)


@pytest.mark.parametrize(
    ("values", "limit", "expected"),
    [
        ([3.0, 0.0, -2.0], 2, 0.0),  # the answer's key is 2**63, the smallest non-negative one
        ([3.0, -0.0, -2.0], 2, 0.0),
        ([-1.0, _BELOW_MINUS_ONE, -3.0], 2, _BELOW_MINUS_ONE),  # a negative value's last bit
        ([-5e-324, -1.0], 1, -5e-324),
        ([4.0, -7.0, 2.0], 10, -7.0),  # more than the slice's count: its minimum
        ([-np.inf, 1.0, -np.inf], 3, -np.inf),
        ([1.7e308, np.inf, -1.7e308], 1, np.inf),
    ],
)
def test_the_kth_largest_of_values_at_the_keys_edges(values, limit, expected):
    found = _selection.smallest_with_weight_above_below(_blocks([np.array(values)]), limit)
    assert found == expected
    assert found == _reference([np.array(values)], None, limit)


def test_minus_zero_and_zero_are_one_value():
    # They compare equal: one key, counted as ties, given back as 0.0.
    keys = _selection._keys(np.array([-0.0, 0.0]))
    assert keys[0] == keys[1]
    found = _selection.smallest_with_weight_above_below(_blocks([np.array([-0.0, -1.0])]), 1)
    assert found == 0.0
    assert not np.signbit(found)


def test_weights_of_zero_and_a_limit_past_the_total():
    # The value 1.0 weighs nothing: every value has weight 1 above it at most.
    values, weights = [np.array([3.0, 1.0])], [np.array([1.0, 0.0])]
    assert _selection.smallest_with_weight_above_below(_blocks(values, weights), 1.5) == 1.0
    assert _selection.smallest_with_weight_above_below(_blocks(values, weights), 1.0) == 3.0


def test_blocks_of_a_column_with_their_weights():
    column = np.array([[0.5], [2.0], [-1.0], [2.0]])
    weights = np.array([[0.25], [0.25], [0.125], [0.5]])
    blocks = _blocks([column[:2], column[2:]], [weights[:2], weights[2:]])
    # Above 0.5: the two 2.0s, 0.75; above 2.0: nothing.
    assert _selection.smallest_with_weight_above_below(blocks, 0.8) == 0.5
    assert _selection.smallest_with_weight_above_below(blocks, 0.75) == 2.0


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    values=st.lists(st.sampled_from(_POOL) | st.floats(allow_nan=False), min_size=1, max_size=12),
    quarters=st.none() | st.lists(st.integers(0, 8), min_size=12, max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=3),
    column=st.booleans(),
    limit=st.integers(1, 50).map(lambda n: n / 4),
)
def test_the_cut_is_its_definition(values, quarters, cuts, column, limit):
    # Weights in quarters add up exactly, whatever the order.
    values = np.array(values)
    weights = None if quarters is None else np.array(quarters[: values.size]) / 4
    edges = [0, *sorted(c for c in cuts if c < values.size), values.size]
    shape = (-1, 1) if column else (-1,)
    parts = [values[a:b].reshape(shape) for a, b in zip(edges, edges[1:])]
    part_weights = None if weights is None else [weights[a:b].reshape(shape) for a, b in zip(edges, edges[1:])]
    found = _selection.smallest_with_weight_above_below(_blocks(parts, part_weights), limit)
    assert found == _reference(parts, part_weights, limit)
