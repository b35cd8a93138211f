"""Order statistics of a slice given block by block: a few passes, bounded memory.

A slice too large to sort (one huge row, see :mod:`._streams`) can still
give the ``k``-th largest of its values (the cut of top-k sampling) or the
value at which the mass of the values above it, in descending order,
reaches a bound (the cut of nucleus sampling). Both are the smallest value
``v`` of the slice whose *weight above* (the count, or the total weight, of
the entries strictly greater than ``v``) is below a limit: with weights 1
and limit ``k`` that is the ``k``-th largest value, ties counted, as
``sort(values, descending)[k - 1]``.

It is found digit by digit of an integer key that orders as the values do
(radix selection), 16 bits a pass: four passes over the blocks, each adding
up a histogram of the counts and weights of the next digit among the values
that share the digits found so far (``2**16`` of each, 1 MiB). The weight
above a bucket is the base found so far plus the buckets above it, added in
descending order as a cumulative sum would add them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

_DIGIT_BITS = 16
_BUCKETS = 1 << _DIGIT_BITS  # pragma: no mutate
_SIGN = 1 << 63

#: The blocks of a slice (a callable called once per pass): its values (float,
#: no NaN) and their weights (None: 1 each).
Blocks = Callable[[], Iterator[tuple[np.ndarray, Any]]]


def smallest_with_weight_above_below(blocks: Blocks, limit: float) -> float:
    """The smallest value ``v`` of the blocks with ``weight(values > v) < limit`` (``limit > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([3.0, -1.0, 5.0, 3.0, 0.5])
    >>> def blocks():
    ...     yield values[:2], None
    ...     yield values[2:], None
    >>> smallest_with_weight_above_below(blocks, 3)  # the 3rd largest: 5, 3, 3
    3.0
    >>> def weighted():
    ...     yield values, np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    >>> smallest_with_weight_above_below(weighted, 0.7)  # 0.4 + 0.2 above the second 3
    3.0
    """
    prefix, base = 0, 0.0
    for level in range(64 // _DIGIT_BITS):
        shift = 64 - _DIGIT_BITS * (level + 1)
        counts = np.zeros(_BUCKETS, np.int64)
        weights = np.zeros(_BUCKETS)
        weighted = False
        for values, weight in blocks():
            keys = _keys(values)
            if weight is not None:
                weight = np.ravel(weight)
            if level:
                inside = (keys >> (shift + _DIGIT_BITS)) == prefix
                keys = keys[inside]
                weight = None if weight is None else weight[inside]
                del inside
            digits = ((keys >> shift) & (_BUCKETS - 1)).astype(np.intp)
            del keys
            counts += np.bincount(digits, minlength=_BUCKETS)
            if weight is not None:
                weighted = True
                weights += np.bincount(digits, weights=weight, minlength=_BUCKETS)
        w = weights if weighted else counts.astype(np.float64)
        # The weight above each bucket: the buckets above it, highest first.
        above = base + (np.cumsum(w[::-1])[::-1] - w)
        # The lowest bucket that holds a value and has less than the limit
        # above it holds the answer (the highest bucket always qualifies).
        digit = int(np.flatnonzero((counts > 0) & (above < limit))[0])
        prefix, base = (prefix << _DIGIT_BITS) | digit, float(above[digit])
    return _value(prefix)


def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integers that order as ``values`` do (float64; ``-0.0`` as ``0.0``)."""
    # + 0.0 turns -0.0 into 0.0: the two compare equal, so they must share a key.
    bits = (np.ravel(values).astype(np.float64, copy=False) + 0.0).view(np.uint64)
    # Negative numbers order backwards in their bits: flip them all; set the
    # sign bit of the others so that they follow.
    return np.where(bits >= _SIGN, ~bits, bits | np.uint64(_SIGN))  # pragma: no mutate


def _value(key: int) -> float:
    """The float64 whose :func:`_keys` is ``key``."""
    bits = key ^ _SIGN if key >= _SIGN else ~key & (_SIGN | (_SIGN - 1))
    return float(np.array([bits], np.uint64).view(np.float64)[0])
