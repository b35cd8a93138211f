"""Random inputs through both paths: the kernel must agree with the array-API code.

Shapes, strides (slices, transposes, reversed axes), reduced axes, dtypes,
byte orders, masks, infinities and NaNs are all drawn by hypothesis.
"""

import numpy as np
import pytest
from helpers import assert_agree, spec
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxkit as sk
from softmaxkit import _dispatch

pytestmark = pytest.mark.skipif(not _dispatch.available(), reason="the kernel is not built")

DTYPES = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64), np.dtype(">f8")]


@st.composite
def inputs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7))
    elements = st.one_of(
        st.floats(-80, 80, width=16),
        st.sampled_from([np.inf, -np.inf, np.nan, 0.0, 60.0, -60.0]),
    )
    base = draw(hnp.arrays(np.float64, shape, elements=elements)).astype(dtype)
    # A layout: reversed, transposed or sliced views of the drawn array.
    view = draw(st.sampled_from(["plain", "reversed", "transposed", "strided"]))
    if view == "reversed":
        base = base[::-1]
    elif view == "transposed":
        base = base.T
    elif view == "strided":
        base = np.repeat(base, 2, axis=-1)[..., ::2]
    ndim = base.ndim
    axis = draw(
        st.one_of(
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        )
    )
    mask = draw(st.one_of(st.none(), hnp.arrays(np.bool_, base.shape)))
    return base, axis, mask


@given(inputs())
def test_softmax_family_agrees(drawn):
    x, axis, mask = drawn
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x, axis=axis, where=mask), spec(function, x, axis=axis, where=mask))


@given(inputs(), st.floats(0.1, 10.0))
def test_temperature_agrees(drawn, temperature):
    x, axis, mask = drawn
    for function in (sk.softmax, sk.log_softmax):
        expected = spec(function, x, axis=axis, where=mask, temperature=temperature)
        assert_agree(function(x, axis=axis, where=mask, temperature=temperature), expected)
