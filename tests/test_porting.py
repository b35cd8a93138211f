"""Code ported from scipy, torch, JAX or scikit-learn gets the peer's numbers or a clear error.

Each test pins one of the porting traps of issue 15: a call that used to give
a different number than the peer without a word. The peer is the oracle where
it is installed.
"""

import numpy as np
import pytest
from helpers import requires_scipy
from numpy.testing import assert_allclose

import softmaxkit as sk


# --- temperature: one number per slice, never per class -------------------


@pytest.mark.parametrize(
    "function",
    [
        sk.softmax,
        sk.log_softmax,
        lambda x, **kw: sk.entropy(logits=x, **kw),
        lambda x, **kw: sk.gumbel_softmax(x, seed=0, **kw),
    ],
    ids=["softmax", "log_softmax", "entropy", "gumbel_softmax"],
)
def test_a_temperature_that_varies_along_the_classes_is_refused(function):
    # Pins: temperature=[1, 2, 4] on a (3, 3) input divided class j by t[j]
    # (every row came out [0.36, 0.36, 0.28]).
    x = np.tile([1.0, 2.0, 3.0], (3, 1))
    with pytest.raises(ValueError, match=r"temperature of shape \(3,\) varies along axis 1.*\(3, 1\)"):
        function(x, temperature=[1.0, 2.0, 4.0])


def test_a_temperature_per_row_divides_each_row():
    x = np.tile([1.0, 2.0, 3.0], (3, 1))
    t = np.array([1.0, 2.0, 4.0])
    expected = np.stack([sk.softmax(x[i], temperature=t[i]) for i in range(3)])
    assert_allclose(sk.softmax(x, temperature=t[:, None]), expected, rtol=1e-15)


def test_a_temperature_per_column_is_fine_when_the_softmax_runs_over_rows():
    x = np.tile([1.0, 2.0, 3.0], (3, 1)).T  # softmax over axis 0: one slice per column
    t = np.array([1.0, 2.0, 4.0])
    expected = np.stack([sk.softmax(x[:, j], temperature=t[j]) for j in range(3)], axis=1)
    assert_allclose(sk.softmax(x, axis=0, temperature=t), expected, rtol=1e-15)


def test_a_vjp_refuses_a_temperature_per_class_too():
    y = sk.softmax(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="varies along axis 1"):
        sk.softmax_vjp(y, np.ones((3, 3)), temperature=[1.0, 2.0, 4.0])


# --- logsumexp: scipy's and jax's default axis and return_sign -------------


@requires_scipy
def test_logsumexp_reduces_every_axis_by_default_as_scipy():
    # Pins: sk.logsumexp(2-D) returned one value per row (axis=-1).
    import scipy.special

    x = np.arange(12.0).reshape(3, 4)
    result = sk.logsumexp(x)
    assert result.shape == ()
    assert_allclose(result, scipy.special.logsumexp(x), rtol=1e-15)


def test_logsumexp_reduces_every_axis_by_default_as_jax():
    jax = pytest.importorskip("jax")

    x = np.arange(12.0).reshape(3, 4)
    assert_allclose(sk.logsumexp(jax.numpy.asarray(x)), jax.nn.logsumexp(x), rtol=1e-15)
    assert_allclose(sk.logsumexp(x), jax.scipy.special.logsumexp(x), rtol=1e-15)


SIGNED_CASES = [
    ([1.0, 1.0, 1.0], [1.0, -1.0, -1.0]),  # scipy's test: (1, -1)
    ([1.0, 1.0], [1.0, -1.0]),  # a zero sum: (-inf, 0)
    ([1.0, 2.0], [-1.0, -1.0]),
    ([0.0, -40.0], [1.0, -1e-10]),  # a dominant term keeps its relative accuracy
    ([np.inf, 1.0], [-1.0, 1.0]),  # (inf, -1)
    ([np.inf, np.inf], [1.0, -1.0]),  # (nan, nan)
    ([np.nan, 1.0], [1.0, 1.0]),
    ([-np.inf, -np.inf], [1.0, 1.0]),
    ([1.0, 2.0, 3.0], [0.5, 2.0, 1.0]),
]


@requires_scipy
@pytest.mark.parametrize("a, b", SIGNED_CASES, ids=str)
def test_return_sign_matches_scipy(a, b):
    import scipy.special

    with np.errstate(all="ignore"):
        expected = scipy.special.logsumexp(a, b=b, return_sign=True)
    value, sign = sk.logsumexp(a, b=b, return_sign=True)
    assert_allclose(value, expected[0], rtol=1e-15)
    assert_allclose(sign, expected[1], rtol=0)


# jax rounds log(1 - 1e-10 e^-40) to 0 (scipy and softmaxkit keep -4.2e-28): not a jax oracle case.
@pytest.mark.parametrize("a, b", [case for case in SIGNED_CASES if case[1] != [1.0, -1e-10]], ids=str)
def test_return_sign_matches_jax(a, b):
    jax = pytest.importorskip("jax")

    expected = jax.scipy.special.logsumexp(np.array(a), b=np.array(b), return_sign=True)
    value, sign = sk.logsumexp(jax.numpy.asarray(a), b=jax.numpy.asarray(b), return_sign=True)
    assert_allclose(value, expected[0], rtol=1e-15)
    assert_allclose(sign, expected[1], rtol=0)


def test_return_sign_of_an_axis_and_of_an_empty_sum():
    value, sign = sk.logsumexp([[1.0, 2.0], [1.0, 1.0]], b=[[1.0, -1.0], [1.0, -1.0]], axis=1, return_sign=True)
    assert_allclose(value, [np.log(np.e**2 - np.e), -np.inf], rtol=1e-15)
    assert_allclose(sign, [-1.0, 0.0])
    value, sign = sk.logsumexp(np.empty(0), return_sign=True)
    assert (float(value), float(sign)) == (-np.inf, 0.0)  # jax's sign; scipy says -1


def test_integer_input_with_float32_weights_follows_jax_promotion():
    # Pins: int32 x with float32 b came back float64 where jax gives float32.
    jnp = pytest.importorskip("jax.numpy")
    import jax.scipy.special

    x = jnp.arange(6, dtype=jnp.int32).reshape(2, 3)
    b = jnp.ones(3, dtype=jnp.float32)
    assert sk.logsumexp(x, b=b).dtype == jax.scipy.special.logsumexp(x, b=b).dtype == jnp.float32


@requires_scipy
def test_integer_input_with_float32_weights_follows_numpy_promotion():
    import scipy.special

    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.ones(3, dtype=np.float32)
    assert sk.logsumexp(x, b=b).dtype == scipy.special.logsumexp(x, b=b).dtype == np.float64


# --- scalar results: always a 0-d array of the input's library -------------

X = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
TARGET = np.array([0, 2])
FULL_REDUCTIONS = {
    "logsumexp": lambda: sk.logsumexp(X),
    "logsumexp_b": lambda: sk.logsumexp(X, b=np.ones(3)),
    "entropy": lambda: sk.entropy(logits=X[0]),
    "entropy_probs": lambda: sk.entropy(probs=[0.9, 0.1]),
    "kl_divergence": lambda: sk.kl_divergence(logits_p=X[0], logits_q=X[1]),
    "cross_entropy": lambda: sk.cross_entropy(X, TARGET),
    "nll_loss": lambda: sk.nll_loss(sk.log_softmax(X), TARGET),
    "sparsemax_loss": lambda: sk.sparsemax_loss(X, TARGET),
    "entmax15_loss": lambda: sk.entmax15_loss(X, TARGET),
    "linear_cross_entropy": lambda: sk.linear_cross_entropy(X, np.ones((4, 3)), TARGET),
}


@pytest.mark.parametrize("name", FULL_REDUCTIONS)
def test_a_full_reduction_of_numpy_input_is_a_0d_ndarray(name):
    # Pins: entropy and kl_divergence returned NumPy scalars (np.float64)
    # where cross_entropy returned a 0-d array.
    result = FULL_REDUCTIONS[name]()
    assert type(result) is np.ndarray and result.shape == ()
