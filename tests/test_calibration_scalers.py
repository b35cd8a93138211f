"""TemperatureScaler and VectorScaler: exact optima, float32 input, errors."""

import warnings

import numpy as np
import pytest
from helpers import has_module, requires_scipy, requires_torch
from numpy.testing import assert_allclose

import softmaxkit as sk
from softmaxkit.calibration import CalibrationWarning, TemperatureScaler, VectorScaler


def sampled_labels(rng, logits):
    """Labels drawn from softmax(logits): these logits are calibrated by construction."""
    cumulative = np.cumsum(sk.softmax(logits), axis=1)
    return (rng.uniform(size=(len(logits), 1)) > cumulative).sum(axis=1)


@pytest.fixture
def overconfident(rng):
    """netcal PR #66's regression data: 2000 x 5 latent logits, the model reports 3x them."""
    latent = rng.normal(size=(2000, 5))
    return 3.0 * latent, sampled_labels(rng, latent)


@pytest.fixture
def calibrated(rng):
    """Logits of spread 1.6 with labels drawn from their softmax: T near 1, above the
    first guess (the rows' mean spread, 1.4), so the search brackets the root going up
    and the first Newton iterate, the bracket's middle, lies above the root."""
    logits = 1.6 * rng.normal(size=(2000, 5))
    return logits, sampled_labels(rng, logits)


@pytest.fixture
def sharp(rng):
    """Calibrated logits of spread 5: the NLL's curvature changes fast, and Newton steps
    leave the bracket, so the fit takes bisection steps (their midpoints matter)."""
    logits = 5.0 * rng.normal(size=(500, 5))
    return logits, sampled_labels(rng, logits)


class TestTemperatureScaler:
    @pytest.mark.parametrize("data", ["overconfident", "calibrated", "sharp"])
    def test_temperature_minimises_the_nll_to_machine_precision(self, request, data):
        from scipy.optimize import minimize_scalar

        logits, labels = request.getfixturevalue(data)
        scaler = TemperatureScaler().fit(logits, labels)
        reference = minimize_scalar(
            lambda t: float(sk.cross_entropy(logits / t, labels)),
            bounds=(0.5, 10.0), method="bounded", options={"xatol": 1e-10},
        )  # fmt: skip
        assert scaler.temperature_ == pytest.approx(reference.x, rel=1e-7)

    def test_derivative_of_the_nll_is_zero_at_the_fit(self, overconfident):
        logits, labels = overconfident
        beta = 1.0 / TemperatureScaler().fit(logits, labels).temperature_
        h = 1e-5 * beta
        slope = (
            float(sk.cross_entropy(logits * (beta + h), labels))
            - float(sk.cross_entropy(logits * (beta - h), labels))
        ) / (2 * h)
        assert abs(slope) < 1e-8

    def test_recovers_the_overconfidence_factor(self, rng):
        latent = rng.normal(size=(50000, 5))
        labels = sampled_labels(rng, latent)
        assert TemperatureScaler().fit(3.0 * latent, labels).temperature_ == pytest.approx(
            3.0, rel=0.03
        )

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_float32_input_is_not_a_no_op_netcal_66(self, overconfident, dtype):
        # netcal returned T = 1 unchanged for float32 input (a zero finite-difference
        # gradient). The fit must lower the NLL by > 0.2 and agree across dtypes.
        logits, labels = overconfident
        scaler = TemperatureScaler().fit(logits.astype(dtype), labels)
        assert scaler.nll_before_ - scaler.nll_after_ > 0.2
        reference = TemperatureScaler().fit(logits, labels).temperature_
        assert scaler.temperature_ == pytest.approx(reference, abs=1e-4)

    def test_converges_in_a_few_newton_steps(self, overconfident):
        # One step to bracket the root from the first guess, then Newton's quadratic
        # convergence: errors of about 1e-1, 1e-2, 1e-4, 1e-8, then below rounding.
        assert 1 <= TemperatureScaler().fit(*overconfident).n_iter_ <= 6

    def test_repr_shows_the_fitted_temperature(self, overconfident):
        assert repr(TemperatureScaler()) == "TemperatureScaler()"
        scaler = TemperatureScaler().fit(*overconfident)
        assert repr(scaler) == f"TemperatureScaler(temperature_={scaler.temperature_:.6g})"

    def test_all_zero_logits_keep_the_temperature_1(self):
        # No information and a flat NLL (every T gives uniform probabilities): the
        # slope is 0 at the first guess, which is T = 1 on logits of spread 0.
        scaler = TemperatureScaler().fit(np.zeros((4, 3)), [0, 1, 2, 0])
        assert (scaler.temperature_, scaler.n_iter_) == (1.0, 0)

    def test_shifting_each_row_does_not_change_the_temperature(self, overconfident, rng):
        logits, labels = overconfident
        shifted = logits + rng.normal(size=(len(logits), 1)) * 100
        assert TemperatureScaler().fit(shifted, labels).temperature_ == pytest.approx(
            TemperatureScaler().fit(logits, labels).temperature_, rel=1e-9
        )

    def test_transform_and_predict_proba(self, overconfident):
        logits, labels = overconfident
        scaler = TemperatureScaler().fit(logits, labels)
        assert_allclose(scaler.transform(logits), logits / scaler.temperature_)
        probs = scaler.predict_proba(logits)
        assert_allclose(probs, sk.softmax(logits / scaler.temperature_), rtol=1e-14)
        assert sk.calibration.expected_calibration_error(probs, labels) < (
            sk.calibration.expected_calibration_error(sk.softmax(logits), labels)
        )

    def test_binary_decisions_equal_the_logits_0_d(self, rng):
        d = 4.0 * rng.normal(size=1000)
        labels = (rng.uniform(size=1000) < 1 / (1 + np.exp(-d / 4.0))).astype(int)
        one_d = TemperatureScaler().fit(d, labels)
        two_d = TemperatureScaler().fit(np.stack([np.zeros_like(d), d], axis=1), labels)
        assert one_d.temperature_ == pytest.approx(two_d.temperature_, rel=1e-12)
        assert one_d.predict_proba(d).shape == (1000, 2)
        assert_allclose(one_d.transform(d), d / one_d.temperature_)

    @requires_torch
    def test_torch_logits_stay_torch(self, overconfident):
        import torch

        logits, labels = overconfident
        scaler = TemperatureScaler().fit(torch.tensor(logits, dtype=torch.float32), labels)
        out = scaler.predict_proba(torch.tensor(logits, dtype=torch.float32))
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32

    def test_probabilities_instead_of_logits_warn_gpleiss_29(self, overconfident):
        logits, labels = overconfident
        with pytest.warns(CalibrationWarning, match="logits look like probabilities"):
            TemperatureScaler().fit(sk.softmax(logits), labels)

    def test_probabilities_with_exact_zeros_and_ones_warn_too(self):
        # The rule is "every entry in [0, 1] and every row sums to 1": both bounds closed.
        probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
        with pytest.warns(CalibrationWarning, match="logits look like probabilities") as record:
            TemperatureScaler().fit(probs, [0, 1, 0, 1])
        # Attributed to the line that called fit (here), not to softmaxkit's code.
        assert [w.filename for w in record] == [__file__]

    def test_a_row_with_an_entry_above_1_is_not_taken_for_probabilities(self):
        # It sums to 1 within 1e-4 (the metrics' tolerance), but 1 + 5e-5 is no probability.
        logits = np.array([[1.0 + 5e-5, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            TemperatureScaler().fit(logits, [0, 1, 0, 1])

    def test_labels_that_are_always_the_argmax_warn_and_go_towards_zero(self):
        logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
        with pytest.warns(CalibrationWarning, match="temperature goes to 0") as record:
            scaler = TemperatureScaler().fit(logits, [0, 1, 0])
        assert [w.filename for w in record] == [__file__]  # the caller's line, not ours
        assert_allclose(scaler.predict_proba(logits), np.eye(2)[[0, 1, 0]], atol=1e-15)
        # The search starts at T = the rows' mean spread and divides T by 4 per step
        # (exactly: powers of 2), counting each step, until every softmax is one-hot in
        # float64: at T = spread / 4**4 the smallest margin, 1, gives exp(-307) = 4e-134,
        # at T = spread / 4**5 it underflows to 0 (the NLL is flat from there).
        spread = np.mean(np.std(logits, axis=1))
        assert scaler.n_iter_ == 5
        assert scaler.temperature_ * 4.0**scaler.n_iter_ == spread

    def test_anti_informative_logits_warn_and_go_towards_infinity(self):
        logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
        with pytest.warns(CalibrationWarning, match="temperature goes to infinity") as record:
            scaler = TemperatureScaler().fit(logits, [1, 0, 1])
        assert [w.filename for w in record] == [__file__]
        # T multiplied by 4 per step from the rows' mean spread, counting each step,
        # up to the first power of 4 past the search's range of 1e8 (4**14).
        spread = np.mean(np.std(logits, axis=1))
        assert scaler.n_iter_ == 14
        assert scaler.temperature_ == spread * 4.0**14

    def test_no_warning_on_ordinary_data(self, overconfident):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            TemperatureScaler().fit(*overconfident)

    @pytest.mark.parametrize(
        ("logits", "labels", "error", "message"),
        [
            ([[1.0, np.inf]], [0], ValueError, "logits must be finite, got inf at row 0, class 1"),
            ([[1.0, np.nan]], [0], ValueError, "logits must be finite, got nan"),
            ([[1.0, 2.0]], [2], ValueError, r"labels must be class indices in \[0, 2\), got 2"),
            ([[1.0, 2.0]], [-1], ValueError, r"labels must be class indices in \[0, 2\), got -1"),
            (np.zeros((0, 3)), np.zeros(0, dtype=int), ValueError, "logits is empty"),
            ([[1.0, 2.0]], [0, 1], ValueError, r"labels must have shape \(1,\)"),
            ([[1.0, 2.0]], ["a"], TypeError, "labels must be integer class indices"),
        ],
        ids=["inf", "nan", "label-too-big", "label-negative", "empty", "label-shape", "str-labels"],
    )
    def test_bad_input(self, logits, labels, error, message):
        with pytest.raises(error, match=message):
            TemperatureScaler().fit(logits, labels)


@pytest.mark.parametrize("method", ["transform", "predict_proba"])
def test_zero_d_logits_are_refused_after_fit(method):
    scaler = TemperatureScaler().fit([[1.0, 2.0], [2.0, 1.0], [0.0, 1.0]], [1, 0, 0])
    with pytest.raises(ValueError, match=r"logits must have shape \(N, K\) or \(N,\), got a 0-d array"):
        getattr(scaler, method)(np.float64(1.0))


@pytest.mark.parametrize("method", ["transform", "predict_proba"])
@pytest.mark.parametrize("make", [TemperatureScaler, VectorScaler])
def test_use_before_fit_is_an_error(make, method):
    with pytest.raises(ValueError, match=f"this {make.__name__} is not fitted yet"):
        getattr(make(), method)([[1.0, 2.0]])


@requires_scipy
class TestVectorScaler:
    def test_recovers_per_class_scale_and_bias(self, rng):
        latent = rng.normal(size=(40000, 3))
        labels = sampled_labels(rng, latent)
        scaler = VectorScaler().fit(latent * [2.0, 0.5, 1.0] + [1.0, 0.0, -1.0], labels)
        assert_allclose(scaler.scale_, [0.5, 2.0, 1.0], atol=0.06)
        assert_allclose(scaler.bias_, np.array([-0.5, 0.0, 1.0]) - 1 / 6, atol=0.06)
        assert scaler.bias_.sum() == pytest.approx(0.0, abs=1e-12)

    def test_gradient_is_zero_at_the_fit(self, overconfident):
        logits, labels = overconfident
        scaler = VectorScaler().fit(logits, labels)
        _, grad = sk.cross_entropy_and_grad(logits * scaler.scale_ + scaler.bias_, labels)
        assert np.max(np.abs(np.sum(grad * logits, axis=0))) < 1e-7
        assert np.max(np.abs(np.sum(grad, axis=0))) < 1e-7

    def test_fits_at_least_as_well_as_temperature_scaling(self, overconfident):
        # vector scaling contains temperature scaling (a = 1/T, b = 0)
        vector = VectorScaler().fit(*overconfident)
        temperature = TemperatureScaler().fit(*overconfident)
        assert vector.nll_after_ <= temperature.nll_after_ + 1e-12

    def test_float32_input_is_not_a_no_op(self, overconfident):
        logits, labels = overconfident
        scaler = VectorScaler().fit(logits.astype(np.float32), labels)
        assert scaler.nll_before_ - scaler.nll_after_ > 0.2

    def test_transform_scales_and_shifts_each_class_of_the_last_axis(self, rng):
        logits = 3.0 * rng.normal(size=(200, 3))
        scaler = VectorScaler().fit(logits, rng.integers(0, 3, size=200))
        batch = rng.normal(size=(2, 4, 3))
        assert_allclose(scaler.transform(batch), batch * scaler.scale_ + scaler.bias_, rtol=1e-15)

    def test_a_tol_below_float64s_reach_ends_at_the_optimum_without_a_warning(self, rng):
        # L-BFGS-B then stops when the NLL stops decreasing (ftol): a success, not
        # a non-convergence (pytest turns a CalibrationWarning into an error).
        latent = rng.normal(size=(300, 3))
        logits, labels = 3.0 * latent, sampled_labels(rng, latent)
        scaler = VectorScaler(tol=1e-300).fit(logits, labels)
        _, grad = sk.cross_entropy_and_grad(logits * scaler.scale_ + scaler.bias_, labels)
        assert np.max(np.abs(np.sum(grad * logits, axis=0))) < 1e-8
        assert np.max(np.abs(np.sum(grad, axis=0))) < 1e-8

    def test_predict_proba_is_softmax_of_transform(self, overconfident):
        logits, labels = overconfident
        scaler = VectorScaler().fit(logits, labels)
        assert_allclose(scaler.predict_proba(logits), sk.softmax(scaler.transform(logits)))

    def test_wrong_number_of_classes_in_transform(self, overconfident):
        scaler = VectorScaler().fit(*overconfident)
        with pytest.raises(ValueError, match="logits must have 5 classes"):
            scaler.transform(np.zeros((2, 3)))

    def test_non_convergence_warns_with_advice(self, overconfident):
        with pytest.warns(CalibrationWarning, match="did not converge in 1 iterations") as record:
            VectorScaler(max_iter=1).fit(*overconfident)
        assert record[0].filename == __file__  # the warning points at the caller's fit

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_iter": 0}, "max_iter must be >= 1, got 0"),
            ({"tol": -1.0}, "tol must be a number > 0, got -1.0"),
            ({"tol": 0.0}, "tol must be a number > 0, got 0.0"),
            ({"tol": None}, "tol must be a number > 0, got None"),
        ],
        ids=["max-iter", "tol", "tol-0", "tol-none"],
    )
    def test_bad_parameters(self, overconfident, kwargs, message):
        with pytest.raises(ValueError, match=message):
            VectorScaler(**kwargs).fit(*overconfident)

    # Issue 13: max_iter goes through _validate.integer: a non-integer is a TypeError.
    @pytest.mark.parametrize("max_iter", [2.5, True, "10"])
    def test_a_non_integer_max_iter_is_a_type_error(self, overconfident, max_iter):
        with pytest.raises(TypeError, match=f"max_iter must be an int, got {max_iter!r}"):
            VectorScaler(max_iter=max_iter).fit(*overconfident)


@pytest.mark.parametrize("scale", [1e160, 1e-300, 2.0**1000])
def test_temperature_scales_with_the_logits_without_overflow(rng, scale):
    # Pins issue #14 item 4: finite logits of size 1e160 overflowed the
    # variance's squares (a RuntimeWarning, then ZeroDivisionError).
    z = rng.normal(size=(300, 4))
    labels = (rng.uniform(size=(300, 1)) > np.cumsum(sk.softmax(2 * z), axis=1)).sum(axis=1)
    reference = TemperatureScaler().fit(z, labels)
    scaled = TemperatureScaler().fit(z * scale, labels)
    assert_allclose(scaled.temperature_ / scale, reference.temperature_, rtol=1e-12)
    assert_allclose(scaled.nll_after_, reference.nll_after_, rtol=1e-12)


# --- scikit-learn's estimator protocol (issue 15) --------------------------

requires_sklearn = pytest.mark.skipif(not has_module("sklearn"), reason="needs scikit-learn")
SCALERS = [TemperatureScaler, lambda: VectorScaler(max_iter=50)]


@requires_sklearn
@pytest.mark.parametrize("make", SCALERS, ids=["temperature", "vector"])
def test_clone_gives_an_unfitted_copy_with_the_same_parameters(make, overconfident):
    # Pins: sklearn.base.clone(TemperatureScaler()) raised TypeError (no get_params).
    from sklearn.base import clone

    fitted = make().fit(*overconfident)
    copy = clone(fitted)
    assert type(copy) is type(fitted) and copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "n_iter_")
    assert_allclose(copy.fit(*overconfident).predict_proba(overconfident[0]), fitted.predict_proba(overconfident[0]))


def test_get_and_set_params():
    scaler = VectorScaler()
    assert scaler.get_params() == {"max_iter": 1000, "tol": 1e-8}
    assert scaler.set_params(max_iter=5) is scaler and scaler.max_iter == 5
    assert TemperatureScaler().get_params() == {}
    with pytest.raises(ValueError, match=r"invalid parameter 'C' for estimator VectorScaler; valid parameters are \['max_iter', 'tol'\]"):
        scaler.set_params(C=1.0)


@requires_sklearn
@pytest.mark.parametrize("make", SCALERS, ids=["temperature", "vector"])
def test_scikit_learn_reads_that_fit_needs_the_labels(make):
    # The tag scikit-learn's meta-estimators and checks read (check_requires_y_none
    # runs only when it is set): a calibrator cannot be fitted without labels.
    from sklearn.utils import get_tags

    assert get_tags(make()).target_tags.required is True


@requires_sklearn
def test_a_bad_parameter_set_later_is_refused_in_fit(overconfident):
    scaler = VectorScaler().set_params(max_iter=0)
    with pytest.raises(ValueError, match="max_iter must be >= 1, got 0"):
        scaler.fit(*overconfident)


# The checks of sklearn.utils.estimator_checks that apply to a calibrator. The
# others feed generic (X, y) whose classes need not match X's columns, as the
# labels of logits must, or ask for sparse and complex input.
ESTIMATOR_CHECKS = [
    "check_no_attributes_set_in_init", "check_dont_overwrite_parameters", "check_estimators_unfitted",
    "check_do_not_raise_errors_in_init_or_set_params", "check_estimators_dtypes",
    "check_pipeline_consistency", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_parameters_default_constructible", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_get_params_invariance",
    "check_set_params", "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_estimator_repr",
]  # fmt: skip


@requires_sklearn
@pytest.mark.parametrize("check", ESTIMATOR_CHECKS)
@pytest.mark.parametrize("make", SCALERS, ids=["temperature", "vector"])
def test_scikit_learn_estimator_checks(make, check):
    from sklearn.utils import estimator_checks

    scaler = make()
    with warnings.catch_warnings():
        # The generic data is not logits: the scalers warn about it, and
        # scikit-learn warns that they do not inherit its BaseEstimator.
        warnings.simplefilter("ignore")
        getattr(estimator_checks, check)(type(scaler).__name__, scaler)
