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
@pytest.mark.parametrize("axis", [1.0, -1.0, "0", True, [0]])
def test_axis_of_the_wrong_type(function, axis):
    # -1.0 == -1: the short path of the default options must not take it.
    with pytest.raises(TypeError, match="axis must be an int, a tuple of ints or None"):
        function(np.zeros((2, 3)), axis=axis)


@pytest.mark.parametrize("function", SOFTMAX_LIKE, ids=lambda f: f.__name__)
def test_a_float_axis_of_a_torch_tensor_is_refused(function):
    # -1.0 == -1: the torch short path of the default options must not take it.
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"axis must be an int, a tuple of ints or None, got -1.0"):
        function(torch.zeros((2, 3), dtype=torch.float64), axis=-1.0)


@pytest.mark.parametrize("vjp", [sk.softmax_vjp, sk.log_softmax_vjp], ids=lambda f: f.__name__)
def test_a_float_axis_of_a_vjp_is_refused(vjp):
    # -1.0 == -1: the vjps' short path of the default options must not take it.
    with pytest.raises(TypeError, match=r"axis must be an int, a tuple of ints or None, got -1.0"):
        vjp(np.array([0.25, 0.75]), np.array([1.0, 0.0]), axis=-1.0)


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
    "function, name",
    [(lambda x: sk.softmax_jacobian(probs=x), "probs"), (lambda x: sk.softmax_jacobian(logits=x), "logits"), (sk.hardmax, "x")],
    ids=["softmax_jacobian-probs", "softmax_jacobian-logits", "hardmax"],
)
def test_0d_input_is_refused_where_an_axis_is_needed(function, name):
    with pytest.raises(ValueError, match=rf"^{name} must have at least one dimension, got a 0-d array$"):
        function(np.float64(1.0))


@pytest.mark.parametrize("vjp, name", [(sk.softmax_vjp, "y"), (sk.log_softmax_vjp, "logp")], ids=["softmax_vjp", "log_softmax_vjp"])
def test_a_vjp_names_its_forward_output(vjp, name):
    with pytest.raises(TypeError, match=rf"^{name} must be a real numeric array, got dtype <U1$"):
        vjp(np.array(["a", "b"]), [1.0, 0.0])


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


def test_a_zero_in_a_temperature_array_is_refused_by_its_value():
    # 0 is the boundary of "> 0": the message shows it (no entry is left to show otherwise).
    with pytest.raises(ValueError, match=r"temperature must contain only finite numbers > 0, got 0.0"):
        sk.softmax(np.zeros((2, 3)), temperature=np.array([[1.0], [0.0]]))


@pytest.mark.parametrize("temperature", [np.array([[True], [True]]), np.array([[1j], [1j]])], ids=["bool", "complex"])
def test_a_temperature_array_must_be_real(temperature):
    with pytest.raises(TypeError, match=r"temperature must be a real array, got dtype (bool|complex128)"):
        sk.softmax(np.zeros((2, 3)), temperature=temperature)


@pytest.mark.parametrize(
    "smoothing, error, message",
    [
        ("0.1", TypeError, r"label_smoothing must be a real number, got '0.1'"),
        (True, TypeError, r"label_smoothing must be a real number, got True"),
        (np.nan, ValueError, r"label_smoothing must be finite, got nan"),
        (np.inf, ValueError, r"label_smoothing must be finite, got inf"),
        (1.5, ValueError, r"label_smoothing must be in \[0, 1\], got 1.5"),
    ],
    ids=["string", "bool", "nan", "inf", "above_one"],
)
def test_label_smoothing_is_a_finite_number_in_0_1(smoothing, error, message):
    with pytest.raises(error, match=message):
        sk.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=smoothing)


def test_label_smoothing_of_one_is_accepted_and_gives_the_uniform_target():
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    expected = np.mean(-sk.log_softmax(logits, axis=1).mean(axis=1))
    np.testing.assert_allclose(sk.cross_entropy(logits, [0, 2], label_smoothing=1.0), expected, rtol=1e-15)


@pytest.mark.parametrize("ignore_index", [-(2**63), 2**63 - 1], ids=["int64_min", "int64_max"])
def test_ignore_index_at_the_ends_of_int64_is_accepted(ignore_index):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    assert sk.cross_entropy(logits, [0, 2], ignore_index=ignore_index) == sk.cross_entropy(logits, [0, 2])


@pytest.mark.parametrize(
    "ignore_index, message",
    [(-(2**63) - 1, r"ignore_index must be >= -9223372036854775808, got -9223372036854775809"),
     (2**63, r"ignore_index must be <= 9223372036854775807, got 9223372036854775808")],
    ids=["below_int64", "above_int64"],
)
def test_ignore_index_outside_int64_is_refused(ignore_index, message):
    with pytest.raises(ValueError, match=message):
        sk.cross_entropy(np.zeros((2, 3)), [0, 1], ignore_index=ignore_index)


def test_weights_above_one_are_accepted_where_probabilities_need_no_normalising():
    # entropy(probs=...) normalises its weights: only softmax_jacobian's probs must be <= 1.
    np.testing.assert_allclose(sk.entropy(probs=[3.0, 1.0]), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)), rtol=1e-15)


def test_big_endian_input_on_the_spec_path_computes_in_the_native_dtype():
    from softmaxkit import _dispatch

    x = np.array([[0.0, 120.0, -3.5], [1e-3, 2.0, 30.0]])
    with _dispatch.use_kernel(False):
        got, want = sk.log_softmax(x.astype(">f8")), sk.log_softmax(x)
    assert got.dtype == np.float64 and got.dtype.isnative
    np.testing.assert_array_equal(got, want)


def test_arguments_of_another_library_are_converted_to_the_input_library():
    # NumPy input with torch weights, and a numpy.ma input (nothing masked) with a torch
    # target: NumPy results, the values of all-NumPy calls (a masked input once took torch's).
    torch = pytest.importorskip("torch")
    x, b, logits = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, 2.0]), np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    got = sk.logsumexp(x, b=torch.asarray(b))
    assert type(got) is np.ndarray and got == sk.logsumexp(x, b=b)
    got = sk.cross_entropy(np.ma.array(logits), torch.asarray([1, 2]))
    assert type(got) is np.ndarray and got == sk.cross_entropy(logits, np.array([1, 2]))


def test_softmax_jacobian_takes_probabilities_off_by_up_to_the_tolerance():
    # float16 probabilities: n * eps(float16) = 2 * 2**-10, met exactly by a sum of 1 + 2**-9.
    p = np.array([0.5, 0.5 + 2**-9], dtype=np.float16)
    y = p.astype(np.float32)
    np.testing.assert_array_equal(sk.softmax_jacobian(probs=p), (np.diag(y) - np.outer(y, y)).astype(np.float16))
    # float64: 1e-4, past which a sum (of a slice of a 2-D array) is refused.
    sk.softmax_jacobian(probs=[[0.5, 0.50009]])


@pytest.mark.parametrize(
    "probs, total",
    [(np.array([0.5, 0.5 + 2**-8], dtype=np.float16), "1.00390625"), ([[0.5, 0.50015]], "1.00015"), ([[0.2, 0.3]], "0.5")],
    ids=["float16", "float64", "one_row"],
)
def test_softmax_jacobian_refuses_probabilities_off_by_more(probs, total):
    with pytest.raises(ValueError, match=rf"probs must sum to 1 over axis \d, a slice sums to {total}"):
        sk.softmax_jacobian(probs=probs)


def test_a_temperature_array_that_varies_along_the_axis_is_refused():
    # Two temperatures along a class axis of two: each class would be divided by its own.
    with pytest.raises(ValueError, match=r"temperature of shape \(1, 2\) varies along axis 1, .* one temperature per slice has shape \(3, 1\)"):
        sk.softmax(np.zeros((3, 2)), temperature=np.array([[1.0, 2.0]]))
