"""Bad arguments raise ValueError or TypeError naming the argument and the value."""

import numpy as np
import pytest

import softmaxkit as sk

SOFTMAX_LIKE = [sk.softmax, sk.log_softmax]
REDUCERS = [sk.softmax, sk.log_softmax, sk.logsumexp]


@pytest.mark.parametrize("function", REDUCERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [2, -3, (0, 5)])
def test_axis_out_of_range(function, axis):
    with pytest.raises(ValueError, match=r"axis -?\d+ is out of bounds for an array of dimension 2"):
        function(np.zeros((2, 3)), axis=axis)


@pytest.mark.parametrize("function", REDUCERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [1.0, "0", True, [0]])
def test_axis_of_the_wrong_type(function, axis):
    with pytest.raises(TypeError, match="axis must be an int, a tuple of ints or None"):
        function(np.zeros((2, 3)), axis=axis)


def test_repeated_axis():
    with pytest.raises(ValueError, match=r"axis contains a repeated axis: \(1, -1\)"):
        sk.softmax(np.zeros((2, 3)), axis=(1, -1))


def test_0d_input_needs_axis_none():
    with pytest.raises(ValueError, match="axis -1 is out of bounds for an array of dimension 0"):
        sk.softmax(3.0)


@pytest.mark.parametrize("function", SOFTMAX_LIKE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("temperature", [0.0, -1.0, np.inf, np.nan])
def test_temperature_must_be_finite_and_positive(function, temperature):
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got"):
        function([1.0, 2.0], temperature=temperature)


def test_temperature_message_shows_the_value():
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got -1.0"):
        sk.softmax([1.0, 2.0], temperature=-1)


@pytest.mark.parametrize("temperature", ["1", True, None, 1j])
def test_temperature_of_the_wrong_type(temperature):
    with pytest.raises(TypeError, match="temperature must be a number > 0"):
        sk.softmax([1.0, 2.0], temperature=temperature)


def test_temperature_array_with_a_bad_entry():
    with pytest.raises(ValueError, match=r"temperature must contain only finite numbers > 0, got -2.0"):
        sk.softmax(np.zeros((2, 3)), temperature=np.array([[1.0], [-2.0]]))


def test_temperature_array_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"temperature of shape \(2,\) does not broadcast to the input's shape \(2, 3\)"):
        sk.softmax(np.zeros((2, 3)), temperature=np.array([1.0, 2.0]))


def test_where_must_be_boolean():
    with pytest.raises(TypeError, match="where must be a boolean array, got dtype float64"):
        sk.softmax([1.0, 2.0], where=np.array([1.0, 0.0]))


def test_where_must_broadcast():
    with pytest.raises(ValueError, match=r"where of shape \(3,\) does not broadcast to the input's shape \(2,\)"):
        sk.softmax([1.0, 2.0], where=[True, False, True])


def test_where_may_not_expand_the_input():
    with pytest.raises(ValueError, match=r"where of shape \(2, 2\) does not broadcast"):
        sk.log_softmax([1.0, 2.0], where=np.ones((2, 2), dtype=bool))


@pytest.mark.parametrize("function", REDUCERS + [sk.sigmoid, sk.hardmax], ids=lambda f: f.__name__)
def test_complex_input_is_refused(function):
    with pytest.raises(TypeError, match="x must be real, got complex dtype complex128"):
        function(np.array([1 + 1j, 2.0]))


def test_non_numeric_input_is_refused():
    with pytest.raises(TypeError):
        sk.softmax(["a", "b"])


def test_keepdims_must_be_bool():
    with pytest.raises(TypeError, match="keepdims must be a bool, got 1"):
        sk.logsumexp([1.0, 2.0], keepdims=1)
    with pytest.raises(TypeError, match="return_sign must be a bool, got 1"):
        sk.logsumexp([1.0, 2.0], return_sign=1)


def test_b_that_does_not_broadcast():
    with pytest.raises(ValueError):
        sk.logsumexp(np.zeros(3), b=np.ones(4))


def test_vjp_shapes_must_match():
    with pytest.raises(ValueError, match=r"g must have the shape of the forward output \(3,\), got \(2,\)"):
        sk.softmax_vjp([0.2, 0.3, 0.5], [1.0, 0.0])


def test_hardmax_axis_must_be_single():
    with pytest.raises(TypeError, match=r"axis must be a single int, got \(0, 1\)"):
        sk.hardmax(np.zeros((2, 2)), axis=(0, 1))


@pytest.mark.parametrize(
    "function",
    [lambda x: sk.softmax_jacobian(probs=x), lambda x: sk.softmax_jacobian(logits=x), sk.hardmax],
    ids=["softmax_jacobian-probs", "softmax_jacobian-logits", "hardmax"],
)
def test_0d_input_is_refused_where_an_axis_is_needed(function):
    with pytest.raises(ValueError, match="got a 0-d array"):
        function(np.float64(1.0))


def test_out_must_be_an_array_of_the_input_library():
    with pytest.raises(TypeError, match="out must be an array of the same library as the input, got builtins.list"):
        sk.softmax(np.zeros(3), out=[0.0, 0.0, 0.0])


def test_out_in_the_other_byte_order_is_accepted():
    # NumPy's own ufuncs take a big-endian out= for a native result.
    x = np.array([1.0, 2.0, 3.0])
    out = np.empty(3, dtype=np.dtype(np.float64).newbyteorder("S"))
    assert sk.softmax(x, out=out) is out
    np.testing.assert_array_equal(out, sk.softmax(x))


def test_out_of_another_dtype_of_a_library_without_byte_orders():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="out must have the result's dtype torch.float64, got torch.float32"):
        sk.softmax(torch.zeros(3, dtype=torch.float64), out=torch.empty(3, dtype=torch.float32))
