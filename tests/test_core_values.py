"""Reference values for softmax, log_softmax, logsumexp and their gradients.

Values come from the seed examples of the issue, from SciPy's and MXNet's test
suites (rederived here with mpmath, see test_accuracy.py for the method), and
from hand computation.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal, assert_array_max_ulp

import softmaxkit as sk
from softmaxkit import _dispatch

INF = np.inf


class TestSeedExamples:
    def test_softmax_1_2_3(self):
        assert_allclose(sk.softmax([1, 2, 3]), [0.09003057, 0.24472847, 0.66524096], atol=5e-9)

    def test_dog_cat_bird(self):
        assert_allclose(sk.softmax([4.8, 1.21, 2.385]), [0.895, 0.025, 0.080], atol=5e-4)

    def test_close_logits_at_beta_1(self):
        percent = 100 * sk.softmax([0.95, 0.99, 0.98])
        assert_array_equal(np.round(percent, 2), [32.56, 33.89, 33.55])

    def test_close_logits_at_beta_500(self):
        percent = 100 * sk.softmax([0.95, 0.99, 0.98], temperature=1 / 500)
        assert_array_equal(np.round(percent, 2), [0.00, 99.33, 0.67])


class TestSoftmaxReferences:
    def test_arange_4_from_scipy_suite(self):
        expected = [0.03205860328008499, 0.08714431874203256, 0.23688281808991013, 0.6439142598879722]
        assert_allclose(sk.softmax(np.arange(4.0)), expected, rtol=1e-15)

    def test_wide_spread_rows_from_scipy_suite(self):
        x = np.array([[-25.0, 0, 25, 50], [1, 325, 749, 750]])
        expected = [
            [2.678636961770877e-33, 1.9287498479371314e-22, 1.3887943864771144e-11, 0.999999999986112],
            [0.0, 1.9444526359919372e-185, 0.2689414213699951, 0.7310585786300048],
        ]
        assert_allclose(sk.softmax(x, axis=1), expected, rtol=1e-14)

    def test_temperature_10_and_0_1_from_mxnet(self):
        assert_allclose(
            sk.softmax([1, 2, 3], temperature=10.0), [0.30060961, 0.33222499, 0.3671654], atol=5e-9
        )
        assert_allclose(
            sk.softmax([1, 2, 3], temperature=0.1),
            [2.06106005e-09, 4.53978686e-05, 9.99954600e-01],
            rtol=1e-7,
        )

    def test_keras_1_2_1(self):
        assert_allclose(sk.softmax([1, 2, 1]), [0.21194157, 0.5761169, 0.21194157], atol=5e-9)

    def test_axis_0_vs_axis_1(self):
        x = np.array([[1000.0, 0.0], [1000.0, 0.0]])
        assert_allclose(sk.softmax(x, axis=0), np.full((2, 2), 0.5))
        assert_allclose(sk.softmax(x, axis=1), [[1, 0], [1, 0]])

    @pytest.mark.parametrize("function", ["softmax", "log_softmax"])
    def test_temperature_2_on_the_last_axis_matches_scipy_on_half_the_logits(self, function):
        # Every option at its default but T: not the short path of T = 1.
        special = pytest.importorskip("scipy.special")
        x = np.array([[1.0, 2.0, 6.0], [0.5, -3.0, 4.0]])
        want = getattr(special, function)(x / 2.0, axis=-1)
        assert_allclose(getattr(sk, function)(x, temperature=2.0), want, rtol=1e-14)

    @pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "numpy_spec"])
    @pytest.mark.parametrize("function", ["softmax", "log_softmax"])
    def test_out_receives_the_values_on_either_path(self, kernel, function):
        special = pytest.importorskip("scipy.special")
        x = np.array([[1.0, 2.0, 6.0], [0.5, -3.0, 4.0]])
        out = np.full_like(x, np.nan)
        with _dispatch.use_kernel(kernel):
            assert getattr(sk, function)(x, out=out) is out
        assert_allclose(out, getattr(special, function)(x, axis=-1), rtol=1e-14)

    @pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "numpy_spec"])
    def test_a_rounded_shift_is_compensated(self, kernel):
        """-583.59... - -3.43... is rounded (the two are not within a factor of 2), by up
        to half an ulp of 580, 5.7e-14: exp of the rounded difference alone is off by
        about 470 ulp here. Correctly rounded (mpmath): 1.0903547016808437e-252."""
        with _dispatch.use_kernel(kernel):
            p = sk.softmax([-3.4302701762289347, -583.5952105530371])
        assert_array_max_ulp(p, [1.0, 1.0903547016808437e-252], maxulp=4)

    @pytest.mark.parametrize("axis", [1, -2])
    @pytest.mark.parametrize("function", ["softmax", "log_softmax"])
    def test_a_middle_axis_of_a_3d_array_matches_scipy(self, rng, function, axis):
        # The default options but the axis: not the short path of the last axis.
        special = pytest.importorskip("scipy.special")
        x = rng.normal(scale=3.0, size=(2, 3, 4))
        want = getattr(special, function)(x, axis=axis)
        assert_allclose(getattr(sk, function)(x, axis=axis), want, rtol=1e-14, atol=1e-15)

    def test_axis_none_normalises_everything_and_keeps_shape(self):
        x = np.log(np.array([[1.0, 2.0], [3.0, 4.0]]))
        y = sk.softmax(x, axis=None)
        assert y.shape == (2, 2)
        assert_allclose(y, [[0.1, 0.2], [0.3, 0.4]], rtol=1e-15)

    def test_axis_tuple_on_3d(self, rng):
        x = rng.normal(size=(2, 3, 4))
        y = sk.softmax(x, axis=(1, 2))
        expected = np.exp(x) / np.exp(x).sum(axis=(1, 2), keepdims=True)
        assert_allclose(y, expected, rtol=1e-14)

    def test_scalar_with_axis_none_is_one(self):
        assert sk.softmax(3.0, axis=None) == 1.0
        assert sk.log_softmax(3.0, axis=None) == 0.0

    def test_empty_axis_tuple_makes_every_entry_its_own_slice(self):
        assert_array_equal(sk.softmax([[1.0, -INF], [np.nan, 2.0]], axis=()), [[1, 0], [np.nan, 1]])

    def test_per_row_temperature(self):
        x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
        t = np.array([[1.0], [10.0]])
        expected = [sk.softmax(x[0]), sk.softmax(x[1], temperature=10.0)]
        assert_allclose(sk.softmax(x, temperature=t), expected, rtol=1e-15)

    def test_a_temperature_with_fewer_dimensions_than_x(self, rng):
        # t of shape (3, 1) broadcasts against x of shape (2, 3, 4): one temperature
        # per middle index, lined up by the trailing axes as NumPy does.
        x = rng.normal(size=(2, 3, 4))
        t = np.array([[0.5], [2.0], [4.0]])
        e = np.exp(x / t - (x / t).max(axis=-1, keepdims=True))
        assert_allclose(sk.softmax(x, temperature=t), e / e.sum(axis=-1, keepdims=True), rtol=1e-14)

    def test_where_equals_softmax_of_the_kept_entries(self):
        # jax tests/nn_test.py testSoftmaxWhereMask
        x = np.array([5.5, 1.3, -4.2, 0.9])
        m = np.array([True, False, True, True])
        y = sk.softmax(x, where=m)
        assert_allclose(y[m], sk.softmax(x[m]), rtol=1e-15)
        assert y[1] == 0.0


class TestLogSoftmaxReferences:
    def test_arange_4_from_scipy_suite(self):
        expected = [-3.4401896985611953, -2.4401896985611953, -1.4401896985611953, -0.44018969856119533]
        assert_allclose(sk.log_softmax(np.arange(4.0)), expected, rtol=1e-15)

    def test_large_gap(self):
        assert_array_equal(sk.log_softmax([1000.0, 1.0]), [0.0, -999.0])

    @pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "numpy_spec"])
    def test_a_difference_at_a_rounding_tie_is_rounded_once(self, kernel):
        """-2**53 - 1 lies halfway between -2**53 and -2**53 - 2: rounded once, to even,
        it is -2**53. Rounding z - max first and adding its TwoSum error after must give
        the same (the error's sign decides the tie: subtracted, it gave -2**53 + 1)."""
        with _dispatch.use_kernel(kernel):
            assert_array_equal(sk.log_softmax([1.0, -(2.0**53)]), [0.0, -(2.0**53)])

    def test_axis_0(self):
        x = np.array([[1000.0, 1.0], [1000.0, 1.0]])
        assert_allclose(sk.log_softmax(x, axis=0), np.full((2, 2), np.log(0.5)), rtol=1e-15)

    def test_dominant_class_keeps_relative_accuracy_scipy_19521(self, path):
        # scipy#19521 / torch#113708: float32 log_softmax([1 - log(eps), 0]) returned
        # exactly 0 at the maximum. The true value is -log1p(exp(-16.942385)) =
        # -4.3854664851e-08 (mpmath; the -1.19e-7 quoted in the research notes is eps itself).
        # On every path: the kernel, and the array-API code on NumPy, torch and JAX.
        eps = np.finfo(np.float32).eps
        x = np.array([1 - np.log(eps), 0], dtype=np.float32)
        y = path.call(sk.log_softmax, x)
        assert y.dtype == np.float32
        assert_allclose(y, [-4.3854664851e-08, -16.942385], rtol=2e-7)


class TestLogsumexpReferences:
    def test_two_equal_large(self):
        assert sk.logsumexp([1000.0, 1000.0]) == 1000 + np.log(2)

    def test_many_equal_large(self):
        assert_allclose(sk.logsumexp(np.full(1000, 10000.0)), 10000 + np.log(1000), rtol=1e-15)

    def test_small_term_is_not_lost_scipy_18295(self):
        assert sk.logsumexp([0.0, -40.0]) == 4.248354255291589e-18

    def test_tiny_values_summed_in_log_space(self):
        x = np.log(np.full((1000, 1000), 1e-40))
        assert_allclose(sk.logsumexp(x, axis=None), np.log(1e6 * 1e-40), rtol=1e-13)
        assert_allclose(sk.logsumexp(x, axis=0), np.full(1000, np.log(1000 * 1e-40)), rtol=1e-13)

    def test_mixed_rows_with_keepdims(self):
        x = np.array([[1e10, 1e-10], [-1e10, -INF]])
        assert_array_equal(sk.logsumexp(x, axis=-1, keepdims=True), [[1e10], [-1e10]])
        assert sk.logsumexp(x, axis=(0, 1)) == 1e10

    def test_b_weights(self):
        a = np.arange(200.0)
        b = np.arange(200.0, 0, -1)
        assert_allclose(sk.logsumexp(a, b=b), np.log(np.sum(b * np.exp(a))), rtol=1e-14)
        assert_allclose(sk.logsumexp([1000.0, 1000.0], b=[1.2, 1.2]), 1000 + np.log(2.4), rtol=1e-15)

    def test_b_zero_excludes_the_entry(self):
        assert sk.logsumexp([1.0, 10000.0], b=[1.0, 0.0]) == 1.0
        assert sk.logsumexp([1.0, INF], b=[1.0, 0.0]) == 1.0

    @pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "numpy_spec"])
    def test_b_cancelling_to_zero_and_negative(self, kernel):
        with _dispatch.use_kernel(kernel):
            assert sk.logsumexp([1.0, 1.0], b=[1.0, -1.0]) == -INF
            assert np.isnan(sk.logsumexp([1.0, 1.0, 1.0], b=[1.0, -1.0, -1.0]))
            # One entry at the maximum (k = 1) and the others summing to exactly -1
            # (exp(-1) * -e rounds to -1): log1p(-1), -inf without a warning.
            assert sk.logsumexp([0.0, -1.0], b=[1.0, -np.e], return_sign=True) == (-INF, 0.0)
            assert sk.logsumexp([0.0, -1.0], b=[1.0, -np.e]) == -INF  # the same, unsigned

    @pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "numpy_spec"])
    def test_b_summing_below_one(self, kernel):
        """Sums of weighted exponentials in (0, 1) and (-1, 0): their logs are negative, not
        NaN; and a weight below 1 at the maximum keeps log(k) + log1p(t / k) accurate where
        log(k + t) would lose t (k = 1 - 2**-20, t = e**-30: 1e-10 relative)."""
        mpmath = pytest.importorskip("mpmath")
        mpmath.mp.dps = 40
        below_one = float(mpmath.log(1 - 0.5 * mpmath.e**0.5))
        with _dispatch.use_kernel(kernel):
            assert_allclose(sk.logsumexp([0.0, 0.5], b=[1.0, -0.5]), below_one, rtol=1e-15)
            value, sign = sk.logsumexp([0.0, 0.5], b=[-1.0, 0.5], return_sign=True)
            assert (sign, value) == (-1.0, pytest.approx(below_one, rel=1e-15))
            k = 1.0 - 2.0**-20
            value, sign = sk.logsumexp([0.0, -30.0], b=[k, 1.0], return_sign=True)
            assert sign == 1.0
            assert_allclose(value, float(mpmath.log(mpmath.mpf(k) + mpmath.e**-30)), rtol=1e-15)

    def test_b_broadcasts_against_x(self, rng):
        a = rng.normal(size=(4, 1, 2, 1))
        b = rng.uniform(0.5, 2.0, size=(3, 1, 5))
        ab, bb = np.broadcast_arrays(a, b)
        expected = np.log(np.sum(bb * np.exp(ab), axis=-1))
        assert_allclose(sk.logsumexp(a, b=b, axis=-1), expected, rtol=1e-14)

    def test_where(self):
        assert_allclose(sk.logsumexp([0.0, 100.0], where=[True, False]), 0.0)

    def test_integer_input_promotes(self):
        assert_allclose(sk.logsumexp(np.array([20, 30, 100])), 100.0, rtol=1e-15)


class TestGradients:
    def test_softmax_vjp_reference(self):
        assert_allclose(sk.softmax_vjp([0.2, 0.3, 0.5], [1.0, 0.0, 0.0]), [0.16, -0.06, -0.10])

    def test_softmax_vjp_of_constant_g_is_zero(self):
        y = sk.softmax([0.3, -1.0, 2.0])
        assert_allclose(sk.softmax_vjp(y, [4.0, 4.0, 4.0]), 0.0, atol=1e-15)

    def test_jacobian_at_1_2_3(self):
        expected = [
            [0.08192507, -0.02203304, -0.05989202],
            [-0.02203304, 0.18483645, -0.1628034],
            [-0.05989202, -0.1628034, 0.22269543],
        ]
        assert_allclose(sk.softmax_jacobian(probs=sk.softmax([1, 2, 3])), expected, atol=5e-9)

    @pytest.mark.parametrize("temperature, scale", [(2.0, 0.5), (1.0, 1.0)])
    def test_vjps_at_a_temperature_are_those_at_1_divided_by_it(self, path, temperature, scale):
        # Every option at its default but T (T = 2: not the short path of T = 1), on
        # every path: the spec path once skipped the division at T = 2 unnoticed.
        y, g = np.array([0.2, 0.3, 0.5]), np.array([1.0, 0.0, 0.0])
        got = path.call(sk.softmax_vjp, y, g, temperature=temperature)
        assert_allclose(got, scale * np.array([0.16, -0.06, -0.1]), rtol=1e-14)
        logp, g = np.log([0.25, 0.75]), np.array([1.0, 0.0])
        got = path.call(sk.log_softmax_vjp, logp, g, temperature=temperature)
        assert_allclose(got, scale * np.array([0.75, -0.75]), rtol=1e-14)

    def test_vjp_with_a_temperature_per_row(self, path):
        # Every option at its default but an array T: not the short path.
        y, g = np.array([[0.2, 0.3, 0.5], [0.25, 0.25, 0.5]]), np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        got = path.call(sk.softmax_vjp, y, g, temperature=np.array([[1.0], [2.0]]))
        assert_allclose(got, [[0.16, -0.06, -0.1], [-0.03125, 0.09375, -0.0625]], rtol=1e-14)

    def test_vjp_equals_jacobian_product(self, rng):
        y = sk.softmax(rng.normal(size=(3, 5)))
        g = rng.normal(size=(3, 5))
        jac = sk.softmax_jacobian(probs=y)
        assert_allclose(sk.softmax_vjp(y, g), np.einsum("bij,bi->bj", jac, g), atol=1e-15)

    def test_vjp_of_a_3d_input_sums_over_the_classes_only(self, path, rng):
        # The rows' layout keeps a 3-D input 3-D, (*kept, n): the classes' sum is
        # over its last axis, on every path.
        y = sk.softmax(rng.normal(size=(2, 3, 4)))
        g = rng.normal(size=(2, 3, 4))
        expected = y * (g - np.sum(g * y, axis=-1, keepdims=True))
        assert_allclose(path.call(sk.softmax_vjp, y, g), expected, rtol=1e-13, atol=1e-16)

    @pytest.mark.parametrize("function, vjp", [(sk.softmax, sk.softmax_vjp), (sk.log_softmax, sk.log_softmax_vjp)])
    @pytest.mark.parametrize("temperature", [1.0, 0.3])
    def test_vjp_matches_finite_differences(self, rng, function, vjp, temperature):
        x = rng.normal(size=(2, 4))
        g = rng.normal(size=(2, 4))
        mask = np.array([[True, False, True, True], [True, True, True, True]])
        out = function(x, temperature=temperature, where=mask)
        grad = vjp(out, g, temperature=temperature, where=mask)

        def loss(x_):
            o = function(x_, temperature=temperature, where=mask)
            return np.sum(np.where(mask, g * o, 0.0))

        h = 1e-6
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = h
            numeric[idx] = (loss(x + e) - loss(x - e)) / (2 * h)
        assert_allclose(grad, numeric, atol=1e-8)

    def test_masked_entries_get_zero_gradient_even_with_huge_logits_jax_19490(self):
        x = np.array([36.0, 10000.0])
        mask = x < 1000
        y = sk.softmax(x, where=mask)
        assert_array_equal(sk.softmax_vjp(y, [1.0, 0.0], where=mask), [0.0, 0.0])

    def test_log_softmax_vjp_ignores_upstream_at_masked_entries(self):
        mask = np.array([True, True, False])
        logp = sk.log_softmax([0.0, 1.0, 5.0], where=mask)
        grad = sk.log_softmax_vjp(logp, [1.0, 0.0, np.nan], where=mask)
        p = sk.softmax([0.0, 1.0])
        assert_allclose(grad, [1 - p[0], -p[1], 0.0], rtol=1e-15)

    def test_all_masked_row_has_zero_gradient(self):
        mask = np.zeros(3, dtype=bool)
        y = sk.softmax([1.0, 2.0, 3.0], where=mask)
        assert_array_equal(sk.softmax_vjp(y, [1.0, 2.0, 3.0], where=mask), [0, 0, 0])
        logp = sk.log_softmax([1.0, 2.0, 3.0], where=mask)
        assert_array_equal(sk.log_softmax_vjp(logp, [1.0, 2.0, 3.0], where=mask), [0, 0, 0])


    @pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "numpy_spec"])
    def test_an_infinite_upstream_leaves_excluded_entries_at_zero(self, kernel):
        # sum(g * y) is inf: at the excluded entry y * (0 - inf) and 0 - exp(-inf) * inf are
        # 0 * inf = NaN before the mask's final 0. (The included entries are not finite.)
        mask = np.array([True, True, False])
        y, logp = sk.softmax([0.0, 1.0, 5.0], where=mask), sk.log_softmax([0.0, 1.0, 5.0], where=mask)
        with _dispatch.use_kernel(kernel), np.errstate(invalid="ignore"):  # (inf - inf)
            g = [INF, 1.0, 1.0]
            grads = sk.softmax_vjp(y, g, where=mask), sk.log_softmax_vjp(logp, g, where=mask)
        for grad in grads:
            assert grad[2] == 0.0 and not np.isfinite(grad[:2]).any()

class TestSigmoidAndHardmax:
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_two_class_identity_is_exact(self, rng, dtype):
        x = np.concatenate([rng.normal(scale=20, size=500), [0.0, -745.0, 745.0, 1e-300]]).astype(dtype)
        pairs = np.stack([np.zeros_like(x), x], axis=-1)
        # Exact on the array-API path, which shares NumPy's exp with sigmoid;
        # the compiled kernel has its own exp (see the next test).
        with _dispatch.use_kernel(False):
            assert_array_equal(sk.softmax(pairs)[:, 1], sk.sigmoid(x))

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_two_class_identity_within_two_ulps_by_the_kernel(self, rng, dtype):
        x = np.concatenate([rng.normal(scale=20, size=500), [0.0, -745.0, 745.0, 1e-300]]).astype(dtype)
        pairs = np.stack([np.zeros_like(x), x], axis=-1)
        # sigmoid (1 / (1 + exp(-x)) in NumPy) and the kernel's softmax are
        # each within about an ulp of the exact value.
        assert_array_max_ulp(sk.softmax(pairs)[:, 1], sk.sigmoid(x), maxulp=2)

    def test_sigmoid_extremes(self):
        assert_array_equal(sk.sigmoid([-INF, -1000.0, 0.0, 1000.0, INF]), [0, 0, 0.5, 1, 1])

    def test_log_sigmoid_is_stable(self):
        assert_allclose(sk.log_sigmoid([-1000.0, 0.0, 40.0]), [-1000.0, -np.log(2), -np.exp(-40.0)], rtol=1e-15)

    def test_hardmax_first_index_on_ties(self):
        assert_array_equal(sk.hardmax([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), [[0, 1, 0], [1, 0, 0]])

    def test_hardmax_is_the_zero_temperature_limit(self, rng):
        x = rng.normal(size=(5, 7))
        assert_allclose(sk.softmax(x, temperature=1e-4), sk.hardmax(x), atol=1e-12)

    def test_hardmax_edge_cases(self):
        x = np.array([[-INF, -INF], [np.nan, 1.0], [1.0, INF]])
        assert_array_equal(sk.hardmax(x), [[0, 0], [np.nan, np.nan], [0, 1]])
        assert_array_equal(sk.hardmax([5.0, 1.0], where=[False, True]), [0, 1])

    def test_hardmax_axis_0(self):
        assert_array_equal(sk.hardmax([[1.0, 5.0], [2.0, 0.0]], axis=0), [[0, 1], [1, 0]])

    def test_hardmax_of_a_length_one_axis_is_one_where_finite(self):
        # The one entry of each slice is its maximum: 1, not the entry itself.
        assert_array_equal(sk.hardmax([[3.0], [-2.0], [-INF], [np.nan]]), [[1.0], [1.0], [0.0], [np.nan]])

    def test_hardmax_of_a_zero_length_axis_is_empty(self):
        # No argmax of an empty slice is asked for.
        assert_array_equal(sk.hardmax(np.zeros((2, 0), np.int64)), np.zeros((2, 0)), strict=True)
