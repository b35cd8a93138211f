"""The edge-case policy, on every installed array library.

Each case is checked on softmax, log_softmax and logsumexp together, because
the point of the policy is that the three agree (SciPy's do not: scipy#23225).
Warnings are errors in this suite (pyproject.toml), so every test here also
checks that no warning is emitted.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk
from softmaxkit import _stable

INF = np.inf
NAN = np.nan


def run_all(backend, x, **kwargs):
    arr = backend.asarray(x)
    return (
        backend.to_numpy(sk.softmax(arr, **kwargs)),
        backend.to_numpy(sk.log_softmax(arr, **kwargs)),
        # logsumexp reduces every axis by default (as SciPy's): ask for the softmax's axis.
        backend.to_numpy(sk.logsumexp(arr, **{"axis": -1, **kwargs})),
    )


def test_no_overflow_for_large_logits(backend):
    p, logp, lse = run_all(backend, [1000.0, 1001.0])
    assert_allclose(p, [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-15)
    assert_allclose(logp, [-1 - np.log1p(np.exp(-1)), -np.log1p(np.exp(-1))], rtol=1e-15)
    assert_allclose(lse, 1001 + np.log1p(np.exp(-1)), rtol=1e-15)


def test_no_overflow_at_the_extremes_of_float64(backend):
    biggest = np.finfo(np.float64).max
    # Row 2: z - max overflows, and a bound on z, itself rounded, warned; rows 3 and 4:
    # -max - 0 and -max - 0.5 round to -max, no overflow: log_softmax is -max, not -inf
    # (the array-API path counted a difference within 2 ulp of -max as -inf for a positive
    # maximum, where the kernel gave -max); row 5: -1.2e308, far from overflowing.
    rows = [[1e308, -1e308], [7.022e307, -1.1236e308], [0.0, -biggest], [0.5, -biggest], [1e308, -2e307]]
    p, logp, lse = run_all(backend, rows)
    assert_array_equal(p, [[1.0, 0.0]] * 5)
    expected = [[0.0, -INF], [0.0, -INF], [0.0, -biggest], [0.0, -biggest], [0.0, -2e307 - 1e308]]
    assert_array_equal(logp, expected)
    assert_array_equal(lse, [1e308, 7.022e307, 0.0, 0.5, 1e308])


def test_a_difference_next_to_the_largest_double_is_compensated_without_overflow(backend):
    # z - shift rounds to a tie, away from 0: TwoSum's error of it, in the order z, -shift,
    # formed (z - shift) - z = -max - ulp / 2, which overflowed (row 1: NaN), and in the
    # order -shift, z the same at z = -max (row 2). The larger operand goes first now
    # (_stable.difference_error; the kernel's sk_diff_err).
    biggest = np.finfo(np.float64).max
    rows = [[8.170265657957594e307, biggest], [-biggest, -8.199799318411708e307]]
    p, logp, lse = run_all(backend, rows)
    assert_array_equal(p, [[0.0, 1.0], [0.0, 1.0]])
    assert_array_equal(logp, [[8.170265657957594e307 - biggest, 0.0], [8.199799318411708e307 - biggest, 0.0]])
    assert_array_equal(lse, [biggest, -8.199799318411708e307])


def test_a_temperature_never_overflows_the_quotient(backend):
    # x / 0.1 overflows to inf for both entries; dividing first gave [0.5, 0.5].
    # (A row of shape (1, 2): an axis of length 1 changes nothing.)
    x = backend.asarray([[1e308, 9e307]])
    p = backend.to_numpy(sk.softmax(x, temperature=0.1))
    logp = backend.to_numpy(sk.log_softmax(x, temperature=0.1))
    assert_array_equal(p, [[1.0, 0.0]])
    assert_allclose(logp, [[0.0, -1e308]], rtol=1e-15)  # (9e307 - 1e308) / 0.1


@pytest.mark.parametrize(
    ("x", "temperature", "expected"),
    [
        # shifted (an entry past max * T / 2): (0 - max / 2) / 0.5 is -max exactly, finite
        ([0.5, 0.0], 0.5, [0.0, -1.0]),
        # not shifted (T >= 2: no entry passes max * 1): max / 2 and -max / 2, finite
        ([1.0, 0.0], 2.0, [0.0, -0.5]),
        ([-1.0, 0.0], 2.0, [-0.5, 0.0]),
    ],
    ids=["shifted", "plain", "plain_negative"],
)
def test_a_quotient_at_the_overflow_bound_is_finite(backend, x, temperature, expected):
    """The temperature's overflow guard at its bounds (x in units of the float64 maximum):
    a quotient of exactly the maximum is no overflow."""
    biggest = np.finfo(np.float64).max
    x = backend.asarray(np.array(x) * biggest)
    logp = backend.to_numpy(sk.log_softmax(x, temperature=temperature))
    assert_array_equal(logp, np.array(expected) * biggest)


def test_a_slice_at_the_shift_bound_is_divided_as_x_over_t(backend):
    """A slice is shifted only where an entry passes max * T / 2 (a quotient past half the
    maximum); at that bound exactly it is divided as ``x / T``, bit for bit (shifted, 399 of
    these 1000 log-probabilities round otherwise)."""
    if backend.name == "jax":
        pytest.skip("XLA rounds a division by a constant as it chooses: no bit-for-bit x / T")
    bound = 0.5 * np.finfo(np.float64).max * 0.75
    x = np.concatenate([[bound], bound * np.random.default_rng(0).uniform(-1.0, 1.0, 999)])
    logp = backend.to_numpy(sk.log_softmax(backend.asarray(x), temperature=0.75))
    assert_array_equal(logp, backend.to_numpy(sk.log_softmax(backend.asarray(x / 0.75))))


def test_doubling_a_half_difference_is_exact_up_to_the_float_maximum():
    """``_stable.doubled`` (how gumbel_softmax brings ``(z - zmax + G) / T`` back from its
    halves): -max / 2 doubles to -max exactly, anything below it to -inf, without an
    overflow warning (an error in this suite)."""
    big = np.finfo(np.float64).max
    just_above = np.nextafter(-0.5 * big, 0.0)
    v = np.array([-0.5 * big, just_above, -0.75 * big, -big, 3.0])
    expected = np.array([-big, 2.0 * just_above, -np.inf, -np.inf, 6.0])
    assert_array_equal(_stable.doubled(np, v), expected)


def test_infinite_entries_whose_weights_cancel_give_nan(backend):
    # +inf * 1 + inf * -1 is inf - inf: NaN, value and sign (as scipy), not +inf.
    x, b = backend.asarray([np.inf, np.inf, 0.0]), backend.asarray([1.0, -1.0, 1.0])
    assert np.isnan(backend.to_numpy(sk.logsumexp(x, b=b)))
    assert np.isnan(backend.to_numpy(sk.logsumexp(x, b=b, return_sign=True)[1]))


def test_a_temperature_on_an_empty_axis(backend):
    x = backend.asarray(np.zeros((2, 0)))
    assert backend.to_numpy(sk.softmax(x, temperature=0.5)).shape == (2, 0)
    assert backend.to_numpy(sk.log_softmax(x, axis=0, temperature=0.5)).shape == (2, 0)


def test_a_temperature_on_an_empty_axis_of_a_variant():
    # The variants divide by the temperature before they look at the shape
    # (_family.prepare): the division must not take a maximum of nothing.
    assert sk.sparsemax(np.zeros((2, 0)), temperature=0.5).shape == (2, 0)


def test_an_overflowing_slice_leaves_the_other_slices_bit_for_bit(backend):
    x = [[1e308, -1e308, 3.0], [0.3, 1.7, -2.9]]
    temperature = backend.asarray([[1e-3], [0.7]])
    p = backend.to_numpy(sk.softmax(backend.asarray(x), temperature=temperature))
    logp = backend.to_numpy(sk.log_softmax(backend.asarray(x), temperature=temperature))
    assert_array_equal(p[0], [1.0, 0.0, 0.0])
    assert_array_equal(logp[0], [0.0, -INF, -INF])
    assert_array_equal(p[1], backend.to_numpy(sk.softmax(backend.asarray(x[1]) / 0.7)))


def test_an_excluded_entry_does_not_shift_its_slice(backend):
    # The huge excluded entry overflows x / t but must not set the shift.
    x, where = backend.asarray([1e308, 1.0, 2.0]), backend.asarray([False, True, True], dtype="bool")
    p = backend.to_numpy(sk.softmax(x, temperature=1e-300, where=where))
    assert_array_equal(p, [0.0, 0.0, 1.0])
    p = backend.to_numpy(sk.softmax(x, temperature=0.5, where=where))
    assert_allclose(p, [0.0, 1 / (1 + np.e**2), 1 / (1 + np.e**-2)], rtol=1e-15)


@pytest.mark.parametrize("temperature", [1.5, "array"])
def test_an_excluded_huge_entry_makes_no_overflow(backend, temperature):
    # 1.7e308 / 1.5 is finite but more than half the maximum, and the array-API
    # path doubled it (the doubling of shifted slices, computed everywhere and
    # discarded by where): "overflow encountered in multiply", an error here.
    # Found by test_core_properties.py's strategy ([1e308] masked, temperature [1.0]).
    if temperature == "array":
        temperature = backend.asarray([[1.0]])
        scale = 1.0
    else:
        scale = temperature
    x = backend.asarray([[1.7e308, 1.0, 2.0]])
    where = backend.asarray([[False, True, True]], dtype="bool")
    p = backend.to_numpy(sk.softmax(x, temperature=temperature, where=where))
    e = np.exp(1 / scale)
    assert_allclose(p, [[0.0, 1 / (1 + e), e / (1 + e)]], rtol=1e-15)


@pytest.mark.parametrize("temperature", [1e-310, 5e-324, "array"])
def test_a_subnormal_temperature_is_the_limit_at_zero(backend, temperature):
    """A T below the smallest normal number is the T -> 0 limit: the mass split among the
    maxima, on every library. XLA on the CPU read it as 0: x / 0 made every row NaN (and an
    array of it made the check of T > 0 raise an IndexError)."""
    x = [[1.0, 3.0, 3.0, -2.0], [0.0, 1.0, 2.0, 3.0], [-INF, 2.0, INF, NAN]]
    if temperature == "array":
        temperature = backend.asarray([[1e-310], [5e-324], [1e-320]])
    p = backend.to_numpy(sk.softmax(backend.asarray(x), temperature=temperature))
    logp = backend.to_numpy(sk.log_softmax(backend.asarray(x), temperature=temperature))
    assert_array_equal(p[:2], [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]])
    assert_array_equal(logp[:2], [[-INF, -np.log(2.0), -np.log(2.0), -INF], [-INF, -INF, -INF, 0.0]])
    assert np.isnan(p[2]).all() and np.isnan(logp[2]).all()


def test_a_subnormal_temperature_ignores_differences_below_it(backend):
    """The limit, not the exact quotients, wherever the logits differ by less than ~700 T:
    [0, 2e-310] / 1e-310 is [0, 2], but the rule (and the kernel with it) gives [0, 1]."""
    if backend.flushes_subnormals:
        pytest.skip("XLA on the CPU reads the subnormal logits as 0 too")
    p = backend.to_numpy(sk.softmax(backend.asarray([0.0, 2e-310]), temperature=1e-310))
    assert_array_equal(p, [0.0, 1.0])
    # The smallest normal T is divided: [0, 2].
    tiny = np.finfo(np.float64).smallest_normal
    p = backend.to_numpy(sk.softmax(backend.asarray([0.0, 2 * tiny]), temperature=tiny))
    assert_allclose(p, [1 / (1 + np.e**2), 1 / (1 + np.e**-2)], rtol=1e-15)


@pytest.mark.parametrize("temperature", [1e-310, "array"])
def test_a_subnormal_temperature_divides_the_vjps_as_the_limit_at_zero(backend, temperature):
    """At such a T the vjps are their T -> 0 limit, as the forward is: the gradient at T = 1
    divided by an infinitesimal, +-inf where it is nonzero, 0 where it is 0 (softmax's at a
    single maximum: the limit is flat there), NaN where NaN, on every library. XLA on the CPU
    read T as 0, and 0 / 0 was NaN; NumPy's kernel gave the exact quotients, finite for the
    third row's 2.5e-21 / 1e-310, and the array-API path warned of overflow."""
    if temperature == "array":
        temperature = backend.asarray([[1e-310], [5e-324], [1e-320], [1e-310]])
    half = -np.log(2.0)
    y = [[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 0.5, 0.0], [NAN] * 4]
    logp = [[-INF, half, half, -INF], [-INF, -INF, -INF, 0.0], [-INF, -INF, -INF, 0.0], [NAN] * 4]
    g = backend.asarray([[1.0, 2.0, -1.0, 0.5], [0.3, -0.2, 0.0, 1.0], [0.0, 1e-20, 0.0, 0.0], [1.0] * 4])
    grad = sk.softmax_vjp(backend.asarray(y), g, temperature=temperature)
    log_grad = sk.log_softmax_vjp(backend.asarray(logp), g, temperature=temperature)
    assert_array_equal(
        backend.to_numpy(grad), [[0.0, INF, -INF, 0.0], [0.0] * 4, [0.0, INF, -INF, 0.0], [NAN] * 4]
    )
    assert_array_equal(
        backend.to_numpy(log_grad),
        [[INF, INF, -INF, INF], [INF, -INF, 0.0, -INF], [0.0, INF, 0.0, -INF], [NAN] * 4],
    )


def test_the_smallest_gradient_at_a_subnormal_temperature_is_still_infinite(backend):
    """The limit's sign is the gradient's at T = 1 however small it is: 5e-324 gives +inf, not
    the 0 that any scaling of it before the sign is read would round to."""
    if backend.flushes_subnormals:
        pytest.skip("XLA on the CPU reads the subnormal gradient as 0 too")
    logp = backend.asarray([[-INF, -INF, -INF, 0.0]])
    g = backend.asarray([[5e-324, 0.0, -5e-324, 0.0]])
    log_grad = sk.log_softmax_vjp(logp, g, temperature=1e-310)
    assert_array_equal(backend.to_numpy(log_grad), [[INF, 0.0, -INF, 0.0]])


def test_a_temperature_subnormal_in_float32_divides_the_vjps_as_the_limit(backend):
    """float16 computes in float32, whose smallest normal number is 1.2e-38: 1e-40 is the
    T -> 0 limit there (JAX gave NaN), though a normal number in float64."""
    if backend.name == "array_api_strict":
        pytest.skip("array-api-strict has no float16")
    y = backend.asarray([[0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype="float16")
    g = backend.asarray([[1.0, 2.0, -1.0, 0.5], [0.3, -0.2, 0.0, 1.0]], dtype="float16")
    grad = sk.softmax_vjp(y, g, temperature=1e-40)
    log_grad = sk.log_softmax_vjp(sk.log_softmax(y, temperature=1e-40), g, temperature=1e-40)
    assert str(grad.dtype).endswith("float16") and str(log_grad.dtype).endswith("float16")
    assert_array_equal(backend.to_numpy(grad), [[0.0, INF, -INF, 0.0], [0.0] * 4])
    assert_array_equal(backend.to_numpy(log_grad), [[INF, INF, -INF, INF], [INF, -INF, 0.0, -INF]])

def test_float16_extremes(backend):
    if backend.name == "array_api_strict":
        pytest.skip("array-api-strict has no float16")
    x = backend.asarray([60000.0, -60000.0], dtype="float16")
    y = sk.softmax(x)
    assert str(y.dtype).endswith("float16")
    assert_array_equal(backend.to_numpy(y).astype(np.float64), [1.0, 0.0])


def test_all_negative_infinity_row(backend):
    p, logp, lse = run_all(backend, [[1.0, 2.0], [-INF, -INF]])
    assert_allclose(p[0], [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-15)
    assert_array_equal(p[1], [0.0, 0.0])
    assert_array_equal(logp[1], [-INF, -INF])
    assert_allclose(lse, [2.3132616875182228, -INF], rtol=1e-15)


def test_fully_masked_row(backend):
    x = [[5.5, 1.3, -4.2, 0.9], [5.5, 1.3, -4.2, 0.9]]
    mask = backend.asarray(np.array([[True, True, False, True], [False] * 4]), dtype="bool")
    p, logp, lse = run_all(backend, x, where=mask)
    assert_array_equal(p[1], 0.0)
    assert_array_equal(logp[1], -INF)
    assert lse[1] == -INF
    assert p[0, 2] == 0.0 and logp[0, 2] == -INF
    assert_allclose(p[0].sum(), 1.0, rtol=1e-15)


def test_masked_nan_and_inf_are_excluded(backend):
    mask = backend.asarray(np.array([True, True, False, False]), dtype="bool")
    p, logp, lse = run_all(backend, [0.0, 0.0, NAN, INF], where=mask)
    assert_array_equal(p, [0.5, 0.5, 0.0, 0.0])
    assert_allclose(lse, np.log(2), rtol=1e-15)


def test_single_positive_infinity_takes_the_limit(backend):
    p, logp, lse = run_all(backend, [INF, 0.0])
    assert_array_equal(p, [1.0, 0.0])
    assert_array_equal(logp, [0.0, -INF])
    assert lse == INF


def test_several_positive_infinities_share_the_mass(backend):
    p, logp, lse = run_all(backend, [1.0, INF, INF])
    assert_array_equal(p, [0.0, 0.5, 0.5])
    assert_allclose(logp, [-INF, -np.log(2), -np.log(2)], rtol=1e-15)
    assert lse == INF


def test_the_mass_of_positive_infinities_is_one_over_their_count_exactly(backend):
    """Each +inf entry is at the maximum and counts exactly 1 in the normaliser: log_softmax
    is -log(3) to the last bit (not computed through exp of a shifted value)."""
    p, logp, _ = run_all(backend, [INF, 1.0, INF, INF])
    assert_array_equal(p, [1 / 3, 0.0, 1 / 3, 1 / 3])
    assert_array_equal(logp, [-np.log(3.0), -INF, -np.log(3.0), -np.log(3.0)])


def test_positive_and_negative_infinity(backend):
    p, logp, lse = run_all(backend, [-INF, INF])
    assert_array_equal(p, [0.0, 1.0])
    assert_array_equal(logp, [-INF, 0.0])
    assert lse == INF


def test_nan_stays_in_its_row(backend):
    p, logp, lse = run_all(backend, [[NAN, 1.0], [1.0, 2.0]])
    assert np.isnan(p[0]).all() and np.isnan(logp[0]).all() and np.isnan(lse[0])
    assert_allclose(p[1], [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-15)
    assert np.isfinite(logp[1]).all() and np.isfinite(lse[1])


def test_nan_with_infinities_is_still_nan(backend):
    p, logp, lse = run_all(backend, [[NAN, INF, -INF]])
    assert np.isnan(p).all() and np.isnan(logp).all() and np.isnan(lse).all()


def test_empty_array(backend):
    p, logp, lse = run_all(backend, np.zeros(0))
    assert p.shape == (0,) and logp.shape == (0,)
    assert lse == -INF


def test_zero_length_axis_in_2d(backend):
    p, logp, lse = run_all(backend, np.zeros((3, 0)))
    assert p.shape == (3, 0) and logp.shape == (3, 0)
    assert lse.shape == (3,)  # (assert_array_equal would take a 0-d -inf too)
    assert_array_equal(lse, [-INF, -INF, -INF])


def test_zero_length_axis_of_two_row_axes_with_signs(backend):
    x = backend.asarray(np.zeros((2, 3, 0)))
    lse, sign = (backend.to_numpy(v) for v in sk.logsumexp(x, axis=-1, return_sign=True))
    assert lse.shape == sign.shape == (2, 3)
    assert (lse == -INF).all() and (sign == 0).all()


def test_zero_rows_is_empty_too(backend):
    assert backend.to_numpy(sk.softmax(backend.asarray(np.zeros((0, 4))))).shape == (0, 4)
    for n in (4, 1):
        x = backend.asarray(np.zeros((0, n)))
        assert backend.to_numpy(sk.logsumexp(x, axis=-1)).shape == (0,)
        lse, sign = sk.logsumexp(x, axis=-1, return_sign=True)
        assert backend.to_numpy(lse).shape == backend.to_numpy(sign).shape == (0,)


def test_pytorch_opinfo_zero_size_and_0d_samples():
    # torch OpInfo sample_inputs_softmax_variant: (S, 0, 0) along -1, and a 0-d input.
    assert sk.softmax(np.zeros((5, 0, 0)), axis=-1).shape == (5, 0, 0)
    assert sk.softmax(np.float64(2.0), axis=None) == 1.0


def test_inputs_are_not_modified(rng):
    x = rng.normal(size=(3, 4))
    x[0, 0] = INF
    x[1, 1] = NAN
    before = x.copy()
    mask = np.ones((3, 4), dtype=bool)
    mask[2, 2] = False
    for f in (sk.softmax, sk.log_softmax, sk.logsumexp):
        f(x, axis=-1, where=mask)
    assert_array_equal(x, before)


def test_read_only_input_works():
    x = np.array([1.0, 2.0, 3.0])
    x.flags.writeable = False
    assert_allclose(sk.softmax(x), [0.09003057317038046, 0.24472847105479764, 0.6652409557748218], rtol=1e-15)


@pytest.mark.parametrize("where", [None, [True, True, True, True], [True, True, True, False]], ids=["no-where", "where-all", "where-some"])
def test_a_zero_weight_excludes_its_entry_with_or_without_where(backend, where):
    # b == 0 drops an entry whatever it holds (NaN, +inf, the maximum), also
    # when a `where` mask is given beside it.
    x = backend.asarray([NAN, INF, 1.0, 2.0])
    b = backend.asarray([0.0, 0.0, 1.0, 1.0])
    mask = None if where is None else backend.asarray(np.array(where), dtype="bool")
    lse = backend.to_numpy(sk.logsumexp(x, b=b, where=mask))
    expected = 2.313261687518223 if where is None or where[3] else 1.0  # log(e + e^2) or log(e)
    assert_allclose(lse, expected, rtol=1e-15)


@pytest.mark.parametrize("weights", [None, [2.0, 0.5]], ids=["unweighted", "weighted"])
def test_logsumexp_over_no_axis_keeps_the_shape(backend, weights):
    # axis=() reduces over nothing: each entry is its own slice, logsumexp(x_i) = x_i
    # (weighted: x_i + log b_i), with or without keepdims.
    values = np.array([[1.0, -2.0], [INF, -INF]])
    x = backend.asarray(values)
    b = None if weights is None else backend.asarray(weights)
    expected = values if weights is None else values + np.log(weights)
    for keepdims in (False, True):
        lse = backend.to_numpy(sk.logsumexp(x, axis=(), b=b, keepdims=keepdims))
        assert lse.shape == (2, 2)
        assert_allclose(lse, expected, rtol=1e-15)
