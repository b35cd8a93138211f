"""Properties of the softmax family, checked with hypothesis on random inputs."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal, assert_array_max_ulp

import softmaxkit as sk
from softmaxkit import _dispatch

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
rows = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6), elements=finite)
wild_rows = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6), elements=any_float)
dtypes = st.sampled_from([np.float16, np.float32, np.float64])


@given(rows, dtypes)
def test_probabilities_sum_to_one(x, dtype):
    y = sk.softmax(x.astype(dtype))
    tolerance = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-14}[dtype]
    assert_allclose(y.astype(np.float64).sum(axis=-1), 1.0, rtol=tolerance)
    assert np.all((y >= 0) & (y <= 1))


@given(rows, st.floats(-1e3, 1e3))
def test_shift_invariance(x, c):
    shifted = x + c
    # Only shifts that are exact in float64 leave the input itself unchanged.
    assume(np.array_equal(shifted - c, x))
    assert_allclose(sk.softmax(shifted), sk.softmax(x), rtol=1e-12, atol=1e-300)


@given(rows)
def test_order_is_preserved(x):
    y = sk.softmax(x)
    order = np.argsort(x, axis=-1, kind="stable")
    assert np.all(np.diff(np.take_along_axis(y, order, axis=-1), axis=-1) >= 0)


@given(rows)
def test_log_softmax_is_x_minus_logsumexp(x):
    expected = x - sk.logsumexp(x, axis=-1, keepdims=True)
    assert_allclose(sk.log_softmax(x), expected, rtol=1e-12, atol=1e-12)


@given(rows)
def test_exp_of_log_softmax_is_softmax(x):
    assert_allclose(np.exp(sk.log_softmax(x)), sk.softmax(x), rtol=1e-12, atol=1e-300)


@given(rows)
def test_small_temperature_tends_to_hardmax_when_the_max_is_unique(x):
    top_two = np.sort(x, axis=-1)[..., -2:] if x.shape[-1] > 1 else None
    assume(top_two is None or np.all(top_two[..., 1] - top_two[..., 0] > 1e-2))
    assert_allclose(sk.softmax(x, temperature=1e-5), sk.hardmax(x), atol=1e-12)


@given(rows)
def test_large_temperature_tends_to_uniform(x):
    n = x.shape[-1]
    assert_allclose(sk.softmax(x, temperature=1e9), np.full(x.shape, 1.0 / n), rtol=1e-5)


@given(wild_rows)
def test_policy_on_any_input(x):
    """Whatever the input: NaN rows are all NaN; other rows are valid distributions
    (or all zeros for all -inf rows), and the three functions agree."""
    p, logp, lse = sk.softmax(x), sk.log_softmax(x), sk.logsumexp(x, axis=-1)
    nan_rows = np.isnan(x).any(axis=-1)
    assert np.isnan(p[nan_rows]).all() and np.isnan(logp[nan_rows]).all() and np.isnan(lse[nan_rows]).all()
    dead = ~nan_rows & np.all(x == -np.inf, axis=-1)
    assert_array_equal(p[dead], 0.0)
    assert_array_equal(lse[dead], -np.inf)
    live = ~nan_rows & ~dead
    assert_allclose(p[live].sum(axis=-1), 1.0, rtol=1e-14)
    assert_allclose(np.exp(logp[live]), p[live], rtol=1e-12, atol=1e-300)
    assert not np.isnan(logp[live]).any()


@given(rows, st.data())
def test_where_matches_dropping_the_entries(x, data):
    x = x.reshape(-1)
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    assume(mask.any())
    y = sk.softmax(x, where=mask)
    assert_allclose(y[mask], sk.softmax(x[mask]), rtol=1e-14)
    assert_array_equal(y[~mask], 0.0)
    assert_allclose(sk.logsumexp(x, where=mask), sk.logsumexp(x[mask]), rtol=1e-14)


@given(rows)
def test_axis_none_equals_flattening(x):
    assert_allclose(sk.softmax(x, axis=None).reshape(-1), sk.softmax(x.reshape(-1)), rtol=1e-14)


@given(st.floats(-700, 700))
def test_two_class_identity(x):
    # Exact on the array-API path, which shares NumPy's exp with sigmoid; the
    # compiled kernel's own exp puts it within 2 ulp (tests/test_core_values.py).
    with _dispatch.use_kernel(False):
        assert sk.softmax([0.0, x])[1] == sk.sigmoid(x)
    assert_array_max_ulp(sk.softmax([0.0, x])[1], sk.sigmoid(x), maxulp=2)
