"""Every valid array layout through the kernel path, against the array-API path.

The kernel takes C-ordered rows or columns; ``_dispatch`` must bring any other
layout there (issue 14, item 2): negative strides, zero strides (broadcast
views), unaligned data, other byte orders, axes of length 1 with arbitrary
strides, and ``out=`` arrays of all of these kinds. Hypothesis draws the
layouts; each result must agree with the spec (``use_kernel(False)``).
"""

import numpy as np
import pytest
from helpers import assert_agree, spec
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import softmaxkit as sk
from softmaxkit import _dispatch

pytestmark = pytest.mark.skipif(not _dispatch.available(), reason="the kernel is not built")

DTYPES = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]
LAYOUTS = ["plain", "reversed", "transposed", "stepped", "broadcast", "unaligned", "swapped", "odd unit strides"]


def unaligned_copy(a):
    """A C-contiguous copy of ``a`` whose data start one byte past an aligned address."""
    raw = np.zeros(a.nbytes + a.itemsize + 1, np.uint8)
    start = (-raw.ctypes.data) % a.itemsize + 1  # aligned address + 1
    view = np.frombuffer(raw.data, a.dtype, count=a.size, offset=start).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned or a.size == 0
    return view


def odd_unit_strides(a):
    """``a`` with strides 3 (bytes: not even a multiple of the item size) on its axes of length 1."""
    strides = tuple(3 if n == 1 else s for n, s in zip(a.shape, a.strides))
    return np.lib.stride_tricks.as_strided(a, a.shape, strides, writeable=False)


def in_layout(a, layout, draw):
    """``a`` (C-contiguous) in ``layout``: the same values, other strides, flags or bytes."""
    if a.ndim == 0 and layout in ("reversed", "transposed", "stepped", "broadcast"):
        return a
    if layout == "reversed":
        axis = draw(st.integers(0, a.ndim - 1))
        return np.flip(np.flip(a, axis).copy(), axis)  # negative stride on axis
    if layout == "transposed":
        order = draw(st.permutations(range(a.ndim)))
        return np.transpose(a.transpose(order).copy(), np.argsort(order))
    if layout == "stepped":
        return np.repeat(a, 2, axis=-1)[..., ::2]
    if layout == "broadcast":
        # zero strides: the values of a's first row along a new leading axis of 3
        if a.size == 0:
            return a
        return np.broadcast_to(a[:1], a.shape)
    if layout == "unaligned":
        return unaligned_copy(a)
    if layout == "swapped":
        return a.astype(a.dtype.newbyteorder())
    if layout == "odd unit strides":
        return odd_unit_strides(a)
    return a


EXTREMES = st.one_of(st.floats(-60, 60, width=16), st.sampled_from([np.inf, -np.inf, np.nan]))


@st.composite
def arrays(draw, dtypes=DTYPES, min_side=0, elements=EXTREMES):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=5))
    if draw(st.booleans()):  # axes of length 1 often
        shape = tuple(1 if draw(st.booleans()) else n for n in shape)
    a = draw(hnp.arrays(np.float64, shape, elements=elements)).astype(dtype)
    layout = draw(st.sampled_from(LAYOUTS))
    return in_layout(a, layout, draw), layout


def axes_of(draw, ndim):
    return draw(
        st.one_of(
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        )
    )


@settings(max_examples=300, deadline=None)
@given(arrays(), st.data())
def test_softmax_family_agrees_in_every_layout(drawn, data):
    x, _ = drawn
    axis = axes_of(data.draw, x.ndim)
    for function in (sk.softmax, sk.log_softmax, sk.logsumexp):
        assert_agree(function(x, axis=axis), spec(function, x, axis=axis))


@settings(max_examples=200, deadline=None)
@given(arrays(dtypes=[np.dtype(np.float32), np.dtype(np.float64)]), st.sampled_from(LAYOUTS), st.data())
def test_out_of_every_layout_receives_the_result(drawn, out_layout, data):
    x, _ = drawn
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    for function in (sk.softmax, sk.log_softmax):
        expected = spec(function, x, axis=axis)
        out = in_layout(np.full(x.shape, 7.0, x.dtype.newbyteorder("=")), out_layout, data.draw)
        if not out.flags.writeable:  # broadcast and as_strided views are read-only: not an out=
            out = np.array(out)
        result = function(x, axis=axis, out=out)
        assert result is out
        assert_agree(out, expected)


@settings(max_examples=200, deadline=None)
@given(arrays(min_side=1, elements=st.floats(0, 1, width=16)), st.sampled_from(LAYOUTS), st.data())
def test_vjps_agree_in_every_layout(drawn, g_layout, data):
    y, _ = drawn
    axis = data.draw(st.integers(-y.ndim, y.ndim - 1))
    g = in_layout(np.ascontiguousarray(y[::-1]) * 0.5, g_layout, data.draw)
    # The gradients cancel (g - sum): compare in ulps of the largest term, as
    # test_kernel.test_vjps does (y in [0, 1] read as log-probabilities: exp(y) <= e).
    scale = float(np.abs(g).max()) * y.shape[axis] * np.e if y.size else None
    for function in (sk.softmax_vjp, sk.log_softmax_vjp):
        assert_agree(function(y, g, axis=axis), spec(function, y, g, axis=axis), scale=scale)


@settings(max_examples=200, deadline=None)
@given(
    arrays(dtypes=[np.dtype(np.float32), np.dtype(np.float64)], min_side=1, elements=st.floats(-60, 60)),
    st.sampled_from(LAYOUTS),
    st.sampled_from(LAYOUTS),
    st.data(),
)
def test_cross_entropy_agrees_in_every_layout(drawn, target_layout, weight_layout, data):
    logits, _ = drawn
    n_classes = logits.shape[-1]
    batch = logits.shape[:-1]
    target = data.draw(hnp.arrays(np.int64, batch, elements=st.integers(0, n_classes - 1)))
    target = in_layout(target, target_layout, data.draw)
    weight = in_layout(np.linspace(0.5, 2.0, n_classes), weight_layout, data.draw)
    for options in ({}, {"weight": weight}, {"reduction": "none"}):
        actual = sk.cross_entropy_and_grad(logits, target, **options)
        expected = spec(sk.cross_entropy_and_grad, logits, target, **options)
        scale = np.max(np.abs(expected.loss), initial=1.0)
        assert_agree(actual.loss, expected.loss, scale=scale)
        assert_agree(actual.grad, expected.grad, scale=1.0)


# ---- the cases of issue 14 -------------------------------------------------


def test_a_negative_stride_on_an_axis_of_length_one():
    # AssertionError in _dispatch._planned before: NumPy calls the view
    # C-contiguous, so the "copy" kept its negative stride.
    x = np.ones((1, 3))[::-1]
    assert_agree(sk.logsumexp(x), spec(sk.logsumexp, x))
    assert_agree(sk.softmax(x, axis=0), spec(sk.softmax, x, axis=0))
    assert_agree(sk.log_softmax(x), spec(sk.log_softmax, x))


UNALIGNED = np.frombuffer(b"\0" + np.arange(3.0).tobytes(), np.float64, offset=1)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: sk.softmax(x),
        lambda x: sk.log_softmax(x),
        lambda x: sk.logsumexp(x),
        lambda x: sk.softmax_vjp(x, x),
        lambda x: sk.log_softmax_vjp(x, x),
        lambda x: sk.cross_entropy_and_grad(x[None], np.array([1])),
        lambda x: sk.cross_entropy_and_grad(np.ones((1, 3)), x[None] / 3),
        lambda x: sk.cross_entropy_and_grad(np.ones((1, 3)), np.array([1]), weight=x + 1),
    ],
    ids=["softmax", "log_softmax", "logsumexp", "softmax_vjp", "log_softmax_vjp",
         "cross_entropy logits", "cross_entropy probabilities", "cross_entropy weight"],
)  # fmt: skip
def test_contiguous_but_unaligned_input(call):
    # "x and out must be aligned" (ValueError) from the binding before.
    assert not UNALIGNED.flags.aligned
    actual, expected = call(UNALIGNED), spec(call, UNALIGNED)
    pairs = zip(actual, expected) if isinstance(actual, tuple) else [(actual, expected)]
    for a, e in pairs:
        assert_agree(a, e, scale=1.0)


def test_unaligned_class_indices():
    target = np.frombuffer(b"\0" + np.array([0, 2]).tobytes(), np.int64, offset=1)
    assert not target.flags.aligned
    logits = np.arange(6.0).reshape(2, 3)
    assert_agree(sk.cross_entropy(logits, target), spec(sk.cross_entropy, logits, target))


def test_an_unaligned_out():
    out = unaligned_copy(np.zeros(3))
    sk.softmax(np.arange(3.0), out=out)
    assert_agree(out, spec(sk.softmax, np.arange(3.0)))
