"""SoftmaxRegression: scikit-learn's estimator contract and LogisticRegression's optimum."""

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_allclose, assert_array_equal

pytestmark = pytest.mark.skipif(
    not (has_module("sklearn") and has_module("scipy")), reason="needs scikit-learn and scipy"
)

if has_module("sklearn") and has_module("scipy"):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.estimator_checks import parametrize_with_checks

    from softmaxkit.models import SoftmaxRegression
    from softmaxkit.models.softmax_regression import _Objective

    ESTIMATORS = [SoftmaxRegression()]
else:  # pragma: no cover - the module is skipped
    ESTIMATORS = []

    def parametrize_with_checks(estimators):
        # No checks to run: pytest reports the empty parameter set as skipped.
        return pytest.mark.parametrize(("estimator", "check"), [])


# Tight tolerances on both sides, so the comparison is of the optima, not of
# where two optimisers happened to stop.
TIGHT = {"max_iter": 10000, "tol": 1e-10}


def relative_difference(ours, theirs):
    """max |ours - theirs| / max |theirs|: agreement relative to the array's scale."""
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


@parametrize_with_checks(ESTIMATORS)
# One of sklearn's checks fits 100 iterations on unscaled data and expects
# (as for LogisticRegression) nothing worse than a ConvergenceWarning.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_passes_scikit_learns_estimator_checks(estimator, check):
    check(estimator)


def digits():
    from softmaxkit.datasets import load_digits

    data = load_digits()
    return data.data / 16.0, data.target


def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def synthetic():
    from sklearn.datasets import make_classification

    return make_classification(n_samples=600, n_features=12, n_informative=8, n_classes=5,
                               random_state=0)  # fmt: skip


def binary():
    X, y = iris()
    return X[50:], y[50:]  # versicolor vs virginica: not separable


PROBLEMS = {"digits": digits, "iris": iris, "synthetic": synthetic, "binary": binary}


@pytest.mark.parametrize("C", [0.1, 10.0], ids=["C=0.1", "C=10"])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_same_optimum_as_logistic_regression(problem, C):
    X, y = PROBLEMS[problem]()
    ours = SoftmaxRegression(C=C, **TIGHT).fit(X, y)
    theirs = LogisticRegression(C=C, **TIGHT).fit(X, y)
    assert ours.coef_.shape == theirs.coef_.shape
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
    assert relative_difference(ours.intercept_, theirs.intercept_) < 1e-4
    assert relative_difference(ours.predict_proba(X), theirs.predict_proba(X)) < 1e-4
    assert_array_equal(ours.predict(X), theirs.predict(X))


def test_binary_decision_and_probabilities_match_scikit_learns_layout():
    X, y = binary()
    ours = SoftmaxRegression(**TIGHT).fit(X, y)
    theirs = LogisticRegression(**TIGHT).fit(X, y)
    d = ours.decision_function(X)
    assert d.shape == (len(X),)
    assert_allclose(ours.predict_proba(X)[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-12)
    assert_allclose(d, theirs.decision_function(X), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("weights", ["sample_weight", "class_weight"])
def test_weights_give_logistic_regressions_optimum(weights):
    X, y = synthetic()
    if weights == "sample_weight":
        fit_args = {"sample_weight": np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))}
        params = {}
    else:
        fit_args, params = {}, {"class_weight": {0: 3.0, 1: 0.5, 2: 1.0, 3: 2.0, 4: 1.0}}
    ours = SoftmaxRegression(**TIGHT, **params).fit(X, y, **fit_args)
    theirs = LogisticRegression(**TIGHT, **params).fit(X, y, **fit_args)
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4


def test_no_intercept_gives_logistic_regressions_optimum():
    X, y = iris()
    ours = SoftmaxRegression(fit_intercept=False, **TIGHT).fit(X, y)
    theirs = LogisticRegression(fit_intercept=False, **TIGHT).fit(X, y)
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
    assert_array_equal(ours.intercept_, np.zeros(3))


@pytest.mark.parametrize("case", ["multiclass", "binary", "smoothed", "no_intercept"])
def test_objective_gradient_matches_finite_differences(case, rng):
    X = rng.normal(size=(40, 3))
    n_classes = 2 if case == "binary" else 4
    target = rng.integers(0, n_classes, size=40)
    n_rows = 1 if case == "binary" else n_classes
    objective = _Objective(
        X, target, rng.uniform(0.5, 1.5, size=40) / 40, 0.3, n_rows=n_rows,
        binary=case == "binary", fit_intercept=case != "no_intercept",
        label_smoothing=0.2 if case == "smoothed" else 0.0,
    )  # fmt: skip
    params = rng.normal(size=n_rows * (3 if case == "no_intercept" else 4))
    _, grad = objective(params)
    step = 1e-6
    numeric = [
        (objective(params + step * e)[0] - objective(params - step * e)[0]) / (2 * step)
        for e in np.eye(len(params))
    ]
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_label_smoothing_lowers_the_confidence():
    X, y = digits()
    plain = SoftmaxRegression(C=10.0, max_iter=1000).fit(X, y)
    smoothed = SoftmaxRegression(C=10.0, max_iter=1000, label_smoothing=0.2).fit(X, y)
    assert smoothed.predict_proba(X).max(axis=1).mean() < plain.predict_proba(X).max(axis=1).mean() - 0.05


def test_predict_log_proba_stays_finite_where_probabilities_underflow():
    X = np.array([[-1.0], [1.0]])
    model = SoftmaxRegression(C=1e6, **TIGHT).fit(X, [0, 1])
    far = np.array([[500.0]])
    assert model.predict_proba(far)[0, 0] == 0.0
    log_p = model.predict_log_proba(far)
    assert np.isfinite(log_p[0, 0]) and log_p[0, 0] < -700
    assert_allclose(log_p[0, 0], -model.decision_function(far)[0], rtol=1e-12)


def test_warm_start_resumes_from_the_previous_optimum():
    X, y = iris()
    model = SoftmaxRegression(warm_start=True, **TIGHT).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_[0] <= 2
    assert_allclose(model.coef_, first, rtol=1e-6)


def test_running_out_of_iterations_warns_with_what_to_do():
    X, y = digits()
    with pytest.warns(ConvergenceWarning, match=r"max_iter=5 .*Increase max_iter, scale the features"):
        SoftmaxRegression(max_iter=5).fit(X * 16, y)


def test_verbose_prints_the_objective_per_iteration(capsys):
    X, y = iris()
    model = SoftmaxRegression(verbose=1, max_iter=1000).fit(X, y)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == model.n_iter_[0]
    assert lines[0].startswith("SoftmaxRegression: iteration 1, objective ")


def test_input_is_not_modified():
    X, y = iris()
    X_before, weights = X.copy(), np.ones(len(y))
    SoftmaxRegression(class_weight="balanced", max_iter=500).fit(X, y, sample_weight=weights)
    assert_array_equal(X, X_before)
    assert_array_equal(weights, np.ones(len(y)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"C": 0.0}, "C must be a finite number > 0, got 0.0"),
        ({"C": float("inf")}, "C must be a finite number > 0, got inf"),
        ({"max_iter": 0}, "max_iter must be an int >= 1, got 0"),
        ({"max_iter": 2.5}, "max_iter must be an int >= 1, got 2.5"),
        ({"tol": -1.0}, "tol must be a number > 0, got -1.0"),
        ({"label_smoothing": 1.5}, r"label_smoothing must be a number in \[0, 1\], got 1.5"),
        ({"class_weight": "equal"}, "class_weight must be None, 'balanced' or a dict, got 'equal'"),
        ({"fit_intercept": "yes"}, "fit_intercept must be True or False, got 'yes'"),
        ({"verbose": -1}, "verbose must be an int >= 0, got -1"),
    ],
    ids=["C=0", "C=inf", "max_iter=0", "max_iter=2.5", "tol<0", "smoothing>1", "class_weight",
         "fit_intercept", "verbose<0"],  # fmt: skip
)
def test_bad_parameters_name_the_parameter_and_value(params, message):
    X, y = iris()
    with pytest.raises(ValueError, match=message):
        SoftmaxRegression(**params).fit(X, y)


def test_one_class_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 3"):
        SoftmaxRegression().fit(np.ones((4, 2)), [3, 3, 3, 3])


@pytest.mark.parametrize("n_features, limited", [(4, True), (600, False)])
def test_narrow_problems_are_fitted_with_one_blas_thread(monkeypatch, n_features, limited):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    outside = blas_threads()
    seen = []
    original = _Objective.__call__

    def recording(self, flat):
        seen.append(blas_threads())
        return original(self, flat)

    monkeypatch.setattr(_Objective, "__call__", recording)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, n_features))
    SoftmaxRegression(max_iter=1000).fit(X, np.arange(40) % 3)
    assert seen and all(threads == ([1] * len(outside) if limited else outside) for threads in seen)
    assert blas_threads() == outside  # restored after the fit
