"""Bounded memory for large NumPy inputs: compute a few leading rows at a time.

The array-API code forms whole-array temporaries (a float64 copy of float32
input, the shifted logits, a sort for sparsemax...), so its peak memory is a
multiple of the input. Every slice along the reduced axis is independent of
the others, so a large NumPy input can be cut into blocks of leading rows
(axis 0, when it is not reduced), each computed as a small call and written
into one preallocated result: the peak is then the result plus the
temporaries of one block of about ``CHUNK_BYTES``. (Segment functions, whose
leading axis is usually the reduced one, are cut along another axis.) The values are those of
the whole call, bit for bit (each slice is computed alike either way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Input bytes per block: small, so the block's temporaries (up to ~26 times
#: it, entmax15 on float32) stay a fraction of a large result; large enough
#: that a call's overhead (tens of microseconds) is small against its work.
CHUNK_BYTES = 1 << 18


def applies(x: Any, reduced_axes: tuple[int, ...] | None, *, along: int = 0) -> bool:
    """True when ``x`` is a large NumPy array whose axis ``along`` is not reduced.

    ``reduced_axes`` are non-negative axes, or None for an elementwise function.
    """
    return (
        type(x) is np.ndarray
        and x.ndim > along
        and x.shape[along] > 1
        and x.nbytes > 4 * CHUNK_BYTES
        and (reduced_axes is None or (x.ndim >= 2 and along not in reduced_axes))
    )


def by_rows(
    function: Callable[..., Any], *arrays: np.ndarray, out: Any = None, along: int = 0
) -> np.ndarray:
    """``function(*blocks)`` over blocks of ``arrays`` along axis ``along``, stitched together.

    The arrays share their length along that axis (the leading rows by
    default); ``function`` returns an array whose axis ``along`` is that of
    its blocks. With ``out``, blocks are written into it (and it is returned).
    """
    rows = arrays[0].shape[along]
    step = max(1, CHUNK_BYTES // max(1, arrays[0].nbytes // rows))
    before = (slice(None),) * along
    result: np.ndarray | None = out
    for start in range(0, rows, step):
        index = (*before, slice(start, start + step))
        block = function(*(a[index] for a in arrays))
        if result is None:
            shape = list(block.shape)
            shape[along] = rows
            result = np.empty(shape, block.dtype)
        result[index] = block
    assert result is not None, "by_rows is only called on arrays with rows"
    return result
