"""Hypothesis strategies that reach the edge cases of the softmax family, and what they reach.

Uniform floats almost never give a NaN, an infinity, a row of -inf or an
overflowing quotient x / T: in 100 examples of ``st.floats()`` arrays the
property tests once saw no NaN, two +inf and no all -inf row. These draw
each of them on purpose, in a share of the examples that
``test_core_properties.py::test_the_strategy_reaches_every_edge_case`` asserts.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308, 1.7e308, 0.0])
# Temperatures below 1 make x / T overflow for |x| near the largest float, and 1e-310
# (subnormal) for any |x| above 0.02.
TEMPERATURES = st.one_of(
    st.just(1.0),
    st.floats(0.05, 20.0),
    st.sampled_from([1e-3, 0.5, 1e-300, 1e-310, 1e300]),
)


@st.composite
def logits(draw, *, max_dims: int = 2, max_side: int = 6):
    """Rows of logits mixing finite values with NaN, +-inf, +-1e308, and rows set to -inf."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side))
    elements = st.one_of(FINITE, FINITE, SPECIAL)  # one entry in three special
    x = draw(hnp.arrays(np.float64, shape, elements=elements))
    if x.ndim > 1 and draw(st.booleans()):
        x[draw(st.integers(0, x.shape[0] - 1))] = -np.inf  # an all -inf row
    return x


@st.composite
def softmax_arguments(draw):
    """``(x, where, temperature)``: logits, an optional mask, a number or a per-row array."""
    x = draw(logits())
    where = draw(st.one_of(st.none(), hnp.arrays(np.bool_, x.shape)))
    # Each edge case also on a coin of its own, so that its share does not hang on
    # the element draws (hypothesis mixes the constants of the imported modules into
    # those, so what they give moves with the test files a run imports): a row with
    # nothing included (of several, or by the mask), then NaN, +inf and -inf kept by
    # the mask outside that row, a temperature array, and x / T overflowing (an
    # entry near the largest float, T < 1).
    dead_row = None
    if (x.ndim > 1 or where is not None) and draw(st.booleans()):
        dead_row = tuple(draw(st.integers(0, n - 1)) for n in x.shape[:-1])
        if where is not None:
            where[dead_row] = False
        else:
            x[dead_row] = -np.inf

    def plant(value):
        entry = tuple(draw(st.integers(0, n - 1)) for n in x.shape)
        if entry[:-1] != dead_row:
            x[entry] = value
            if where is not None:
                where[entry] = True

    for special in (np.nan, np.inf, -np.inf):
        if draw(st.booleans()):
            plant(special)
    if draw(st.booleans()):
        temperature = draw(hnp.arrays(np.float64, (*x.shape[:-1], 1), elements=TEMPERATURES))
    else:
        temperature = draw(TEMPERATURES)  # 1.0 among them
    if draw(st.booleans()):
        plant(draw(st.sampled_from([1e308, -1e308, 1.7e308])))
        temperature = np.minimum(temperature, 0.5)
    return x, where, temperature


def cases(x: np.ndarray, where, temperature) -> set[str]:
    """The edge cases an example holds, by name (for ``hypothesis.event`` and the coverage check)."""
    included = np.ones(x.shape, dtype=bool) if where is None else where
    seen = set()
    if np.isnan(x[included]).any():
        seen.add("NaN")
    if (x[included] == np.inf).any():
        seen.add("+inf")
    if (x[included] == -np.inf).any():
        seen.add("-inf")
    dead = np.all((x == -np.inf) | ~included, axis=-1)
    if dead.any():
        seen.add("row with nothing included")
    if where is not None:
        seen.add("mask")
    if not np.isscalar(temperature) and np.ndim(temperature) > 0:
        seen.add("temperature array")
    t = np.asarray(temperature, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        quotient = x / t
    if (np.isfinite(x) & np.isinf(quotient) & included).any():
        seen.add("x / T overflows")
    return seen
