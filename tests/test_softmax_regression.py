"""SoftmaxRegression: scikit-learn's estimator contract and LogisticRegression's optimum."""

import functools

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk

pytestmark = pytest.mark.skipif(
    not (has_module("sklearn") and has_module("scipy")), reason="needs scikit-learn and scipy"
)

if has_module("sklearn") and has_module("scipy"):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.estimator_checks import parametrize_with_checks

    from softmaxkit.models import SoftmaxRegression
    from softmaxkit.models._objective import MultinomialObjective
    from softmaxkit.models._solvers import SOLVERS

    ESTIMATORS = [SoftmaxRegression()]
else:  # pragma: no cover - the module is skipped
    ESTIMATORS = []
    SOLVERS = ()

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


def full_rank():
    """Not separable (1% of the labels flipped) and no collinear features: with
    C = inf the optimum exists and is unique."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=600, n_features=12, n_informative=8, n_redundant=0,
                               n_classes=5, random_state=0)  # fmt: skip


PROBLEMS = {"digits": digits, "iris": iris, "synthetic": synthetic, "binary": binary,
            "full_rank": full_rank}  # fmt: skip


def fit_logistic_regression(X, y, sample_weight=None, **params):
    """LogisticRegression at a tight tolerance, its BLAS on one thread: its
    several hundred small products per fit take 10-100x longer with two
    OpenBLAS threads on a loaded 2-core machine (digits at C=10: 96 s
    instead of about 1 s); the optimum is the same."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return LogisticRegression(**TIGHT, **params).fit(X, y, sample_weight=sample_weight)


@functools.lru_cache(maxsize=None)
def reference(problem, **params):
    """LogisticRegression's fit at a tight tolerance (shared by the solvers' tests)."""
    X, y = PROBLEMS[problem]()
    return fit_logistic_regression(X, y, **params)


def assert_same_optimum(ours, theirs, X):
    """coef, intercept and probabilities within 1e-4 relative; the same predictions."""
    assert ours.coef_.shape == theirs.coef_.shape
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
    assert relative_difference(ours.intercept_, theirs.intercept_) < 1e-4
    assert relative_difference(ours.predict_proba(X), theirs.predict_proba(X)) < 1e-4
    assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("C", [0.1, 10.0], ids=["C=0.1", "C=10"])
@pytest.mark.parametrize("problem", PROBLEMS)
def test_every_solver_reaches_logistic_regressions_optimum(problem, C, solver):
    X, y = PROBLEMS[problem]()
    ours = SoftmaxRegression(C=C, solver=solver, **TIGHT).fit(X, y)
    assert ours.solver_ == solver
    assert_same_optimum(ours, reference(problem, C=C), X)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("problem", ["full_rank", "binary"])
def test_no_penalty_reaches_logistic_regressions_optimum(problem, solver):
    # C = inf: the optimum exists because neither problem is separable.
    X, y = PROBLEMS[problem]()
    ours = SoftmaxRegression(C=np.inf, solver=solver, **TIGHT).fit(X, y)
    assert_same_optimum(ours, reference(problem, C=np.inf), X)


SPARSE_FORMATS = ["csr_array", "csr_matrix", "csc_array", "csc_matrix"]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("form", SPARSE_FORMATS)
def test_sparse_input_reaches_logistic_regressions_optimum(form, solver):
    import scipy.sparse as sparse

    X, y = synthetic()
    X[np.abs(X) < 1.0] = 0.0  # about 70% zeros
    X_sparse = getattr(sparse, form)(X)
    ours = SoftmaxRegression(solver=solver, **TIGHT).fit(X_sparse, y)
    theirs = fit_logistic_regression(X_sparse, y)
    assert_same_optimum(ours, theirs, X)
    assert_allclose(ours.predict_proba(X_sparse), ours.predict_proba(X), rtol=1e-12)


def test_sparse_input_is_not_densified(monkeypatch):
    import scipy.sparse as sparse

    def refuse(self, *args, **kwargs):
        raise AssertionError("X was densified")

    X, y = synthetic()
    X[np.abs(X) < 1.0] = 0.0
    X_sparse = sparse.csr_array(X)
    monkeypatch.setattr(sparse.csr_array, "toarray", refuse)
    monkeypatch.setattr(sparse.csr_array, "todense", refuse)
    for solver in ("lbfgs", "newton-cg"):
        SoftmaxRegression(solver=solver).fit(X_sparse, y)


def test_binary_decision_and_probabilities_match_scikit_learns_layout():
    X, y = binary()
    ours = SoftmaxRegression(**TIGHT).fit(X, y)
    theirs = fit_logistic_regression(X, y)
    d = ours.decision_function(X)
    assert d.shape == (len(X),)
    assert_allclose(ours.predict_proba(X)[:, 1], 1 / (1 + np.exp(-d)), rtol=1e-12)
    assert_allclose(d, theirs.decision_function(X), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("weights", ["sample_weight", "class_weight", "balanced+sample_weight"])
def test_weights_give_logistic_regressions_optimum(weights, solver):
    X, y = synthetic()
    y = np.where(y == 4, 3, y) if weights.startswith("balanced") else y  # unequal class sizes
    sample_weight = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    fit_args = {} if weights == "class_weight" else {"sample_weight": sample_weight}
    params = {"sample_weight": {}, "class_weight": {"class_weight": {0: 3.0, 1: 0.5, 2: 1.0, 3: 2.0, 4: 1.0}},
              "balanced+sample_weight": {"class_weight": "balanced"}}[weights]  # fmt: skip
    ours = SoftmaxRegression(solver=solver, **TIGHT, **params).fit(X, y, **fit_args)
    theirs = fit_logistic_regression(X, y, **params, **fit_args)
    assert_same_optimum(ours, theirs, X)


def test_float32_input_is_fitted_in_float32_to_logistic_regressions_optimum():
    X, y = digits()
    X32 = X.astype(np.float32)
    ours = SoftmaxRegression(C=0.1, tol=1e-6, max_iter=1000).fit(X32, y)
    theirs = reference("digits", C=0.1)
    # float32 products: the optimum to float32's resolution of the gradient.
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-3
    assert relative_difference(ours.predict_proba(X), theirs.predict_proba(X)) < 1e-3


@pytest.mark.parametrize("solver", SOLVERS)
def test_no_intercept_gives_logistic_regressions_optimum(solver):
    X, y = iris()
    ours = SoftmaxRegression(fit_intercept=False, solver=solver, **TIGHT).fit(X, y)
    theirs = reference("iris", fit_intercept=False)
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
    assert_array_equal(ours.intercept_, np.zeros(3))


OBJECTIVE_CASES = ["multiclass", "binary", "smoothed", "no_intercept", "sparse", "chunked"]


def small_objective(case, rng):
    import scipy.sparse as sparse

    X = rng.normal(size=(40, 3))
    if case == "sparse":
        X[rng.uniform(size=X.shape) < 0.5] = 0.0
        X = sparse.csr_array(X)
    n_classes = 2 if case == "binary" else 4
    objective = MultinomialObjective(
        X, rng.integers(0, n_classes, size=40), rng.uniform(0.5, 1.5, size=40) / 40, 0.3,
        n_classes=n_classes, fit_intercept=case != "no_intercept",
        label_smoothing=0.2 if case == "smoothed" else 0.0,
        chunk_rows=7 if case in ("chunked", "sparse") else None,
    )  # fmt: skip
    return objective, rng.normal(size=objective.n_params)


def central_difference(function, params, step=1e-6):
    return np.array([(function(params + step * e) - function(params - step * e)) / (2 * step)
                     for e in np.eye(len(params))])  # fmt: skip


@pytest.mark.parametrize("case", OBJECTIVE_CASES)
def test_objective_gradient_matches_finite_differences(case, rng):
    objective, params = small_objective(case, rng)
    _, grad = objective.value_and_grad(params)
    numeric = central_difference(lambda p: objective.value_and_grad(p)[0], params)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", OBJECTIVE_CASES)
def test_hessian_matches_finite_differences_of_the_gradient(case, rng):
    objective, params = small_objective(case, rng)
    objective.value_and_grad(params, keep=True)
    numeric = central_difference(lambda p: objective.value_and_grad(p)[1], params).T
    H = objective.hessian()
    assert_allclose(H, numeric, rtol=1e-6, atol=1e-9)
    assert_allclose(H, H.T, rtol=1e-12)
    direction = rng.normal(size=objective.n_params)
    assert_allclose(objective.hessian_product(direction), H @ direction, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("layout", ["dense", "sparse"])
def test_preconditioner_inverts_the_hessian_where_the_kronecker_form_is_exact(layout, rng):
    # At zero every row has the same probabilities, so without an intercept
    # H = A (x) B + l2 I exactly; sparse X uses B's diagonal, exact here
    # because every row has one nonzero feature (the columns are orthogonal).
    import scipy.sparse as sparse

    n, n_features, n_classes = 60, 4, 3
    if layout == "dense":
        X = rng.normal(size=(n, n_features))
    else:
        X = sparse.csr_array((rng.uniform(0.5, 2.0, size=n), rng.integers(0, n_features, size=n),
                              np.arange(n + 1)), shape=(n, n_features))  # fmt: skip
    objective = MultinomialObjective(
        X, rng.integers(0, n_classes, size=n), np.full(n, 1.0 / n), 0.3, n_classes=n_classes,
        fit_intercept=False,
    )  # fmt: skip
    objective.value_and_grad(np.zeros(objective.n_params), keep=True)
    H = objective.hessian()
    precondition = objective.preconditioner()
    M = np.column_stack([precondition(e) for e in np.eye(objective.n_params)])
    assert_allclose(M @ H, np.eye(objective.n_params), atol=1e-10)


@pytest.mark.parametrize("case", OBJECTIVE_CASES)
def test_preconditioner_is_symmetric_positive_definite(case, rng):
    # What conjugate gradients need of it, at any point, with or without intercept.
    objective, params = small_objective(case, rng)
    objective.value_and_grad(params, keep=True)
    precondition = objective.preconditioner()
    M = np.column_stack([precondition(e) for e in np.eye(objective.n_params)])
    assert_allclose(M, M.T, rtol=1e-10, atol=1e-14)
    assert np.linalg.eigvalsh(M).min() > 0


def test_remembered_probabilities_give_the_same_hessian(rng):
    objective, params = small_objective("chunked", rng)
    direction = rng.normal(size=objective.n_params)
    objective.value_and_grad(params, keep=True)
    kept = objective.hessian_product(direction)
    objective.remember(params)
    assert_allclose(objective.hessian_product(direction), kept, rtol=1e-12, atol=1e-15)


def test_subsample_is_the_objective_on_the_drawn_rows(rng):
    objective, params = small_objective("multiclass", rng)
    part = objective.subsample(25, seed=3)
    rows = np.sort(np.random.default_rng(3).choice(40, size=25, replace=False))
    weights = objective.chunks[0].weights[rows]
    alone = MultinomialObjective(
        objective.chunks[0].X[rows], objective.chunks[0].target[rows], weights / weights.sum(),
        0.3, n_classes=4, fit_intercept=True,
    )  # fmt: skip
    assert_allclose(part.value_and_grad(params)[1], alone.value_and_grad(params)[1], rtol=1e-12)


@pytest.mark.parametrize(("problem", "solver"), [("iris", "newton-cholesky"), ("digits", "newton-cg")])
def test_auto_picks_the_full_hessian_only_for_few_parameters(problem, solver):
    X, y = PROBLEMS[problem]()
    assert SoftmaxRegression().fit(X, y).solver_ == solver


def test_auto_picks_newton_cg_for_sparse_input():
    import scipy.sparse as sparse

    X, y = digits()
    assert SoftmaxRegression(max_iter=1000).fit(sparse.csr_array(X), y).solver_ == "newton-cg"


def test_large_problems_estimate_the_curvature_on_a_subsample(monkeypatch):
    from softmaxkit.models import _solvers

    monkeypatch.setattr(_solvers, "_HESSIAN_ROWS", 200)
    X, y = synthetic()
    drawn = []
    original = MultinomialObjective.subsample
    monkeypatch.setattr(MultinomialObjective, "subsample",
                        lambda self, n, **kw: drawn.append(n) or original(self, n, **kw))  # fmt: skip
    ours = SoftmaxRegression(solver="newton-cg", **TIGHT).fit(X, y)
    assert drawn == [200]
    # The gradient stays exact, so the optimum does too.
    assert_same_optimum(ours, reference("synthetic"), X)


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


@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_resumes_from_the_previous_optimum(solver):
    X, y = iris()
    model = SoftmaxRegression(warm_start=True, solver=solver, **TIGHT).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_[0] <= 2
    assert_allclose(model.coef_, first, rtol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_running_out_of_iterations_warns_with_what_to_do(solver):
    X, y = digits()
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2 .*Increase max_iter, scale the features"):
        model = SoftmaxRegression(max_iter=2, solver=solver).fit(X * 16, y)
    assert model.n_iter_.tolist() == [2]


@pytest.mark.parametrize("solver", SOLVERS)
def test_n_iter_counts_the_iterations_reported(solver):
    X, y = iris()
    seen = []
    model = SoftmaxRegression(solver=solver, max_iter=1000,
                              callback=lambda i, value: seen.append(value)).fit(X, y)  # fmt: skip
    assert len(seen) == model.n_iter_[0] > 0
    assert all(later <= earlier for earlier, later in zip(seen, seen[1:]))


def test_verbose_prints_the_objective_per_iteration(capsys):
    X, y = iris()
    model = SoftmaxRegression(verbose=1, max_iter=1000).fit(X, y)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == model.n_iter_[0]
    assert lines[0].startswith("SoftmaxRegression: iteration 1, objective ")


# Issue 13: the demo's progress bar went through the private _fit(on_iteration=);
# the public route is the callback parameter.
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "newton-cholesky"])
def test_callback_sees_each_iteration_and_the_objective(solver):
    X, y = iris()
    seen = []
    model = SoftmaxRegression(C=0.5, solver=solver, max_iter=1000,
                              callback=lambda i, value: seen.append((i, value))).fit(X, y)  # fmt: skip
    assert [i for i, _ in seen] == list(range(1, model.n_iter_[0] + 1))
    # The last value is the objective at the fitted coefficients: the mean
    # cross-entropy plus ||W||^2 / (2 C n).
    mean_loss = sk.cross_entropy(model.decision_function(X), np.searchsorted(model.classes_, y))
    penalty = np.sum(model.coef_**2) / (2 * model.C * len(y))
    assert seen[-1][1] == pytest.approx(mean_loss + penalty, rel=1e-9)


def test_a_callback_that_is_not_callable_is_a_type_error():
    X, y = iris()
    with pytest.raises(TypeError, match="callback must be a callable or None, got 'print'"):
        SoftmaxRegression(callback="print").fit(X, y)


def test_the_convergence_warning_points_at_the_caller():
    X, y = iris()
    with pytest.warns(ConvergenceWarning) as record:
        SoftmaxRegression(max_iter=2).fit(X, y)
    assert record[0].filename == __file__


def test_input_is_not_modified():
    X, y = iris()
    X_before, weights = X.copy(), np.ones(len(y))
    SoftmaxRegression(class_weight="balanced", max_iter=500).fit(X, y, sample_weight=weights)
    assert_array_equal(X, X_before)
    assert_array_equal(weights, np.ones(len(y)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"C": 0.0}, r"C must be a number > 0 \(np.inf for no penalty\), got 0.0"),
        ({"C": float("nan")}, r"C must be a number > 0 \(np.inf for no penalty\), got nan"),
        ({"solver": "sag"}, r"solver must be one of \['auto', 'lbfgs', 'newton-cg', 'newton-cholesky'\], got 'sag'"),
        ({"max_iter": 0}, "max_iter must be >= 1, got 0"),
        ({"tol": -1.0}, "tol must be a number > 0, got -1.0"),
        ({"label_smoothing": 1.5}, r"label_smoothing must be a number in \[0, 1\], got 1.5"),
        ({"class_weight": "equal"}, "class_weight must be None, 'balanced' or a dict, got 'equal'"),
        ({"fit_intercept": "yes"}, "fit_intercept must be True or False, got 'yes'"),
        ({"verbose": -1}, "verbose must be >= 0, got -1"),
    ],
    ids=["C=0", "C=nan", "solver", "max_iter=0", "tol<0", "smoothing>1", "class_weight",
         "fit_intercept", "verbose<0"],  # fmt: skip
)
def test_bad_parameters_name_the_parameter_and_value(params, message):
    X, y = iris()
    with pytest.raises(ValueError, match=message):
        SoftmaxRegression(**params).fit(X, y)


# Issue 13: the integer parameters go through _validate.integer, so a
# non-integer is a TypeError (it was a ValueError, unlike every other function).
@pytest.mark.parametrize(
    ("params", "message"),
    [({"max_iter": 2.5}, "max_iter must be an int, got 2.5"),
     ({"max_iter": True}, "max_iter must be an int, got True"),
     ({"verbose": "1"}, "verbose must be an int, got '1'")],
    ids=["max_iter=2.5", "max_iter=True", "verbose=str"],
)  # fmt: skip
def test_a_non_integer_count_is_a_type_error(params, message):
    X, y = iris()
    with pytest.raises(TypeError, match=message):
        SoftmaxRegression(**params).fit(X, y)


def test_one_class_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 3"):
        SoftmaxRegression().fit(np.ones((4, 2)), [3, 3, 3, 3])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=3
def test_products_are_computed_with_one_blas_thread(monkeypatch):
    # Pins the default-threads slowdown: threaded BLAS on chunk-sized products
    # beside the kernel's threads (200000 x 100, 50 classes: 14x slower than
    # one thread on a loaded 2-core machine). The chunks are the parallel work.
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    outside = blas_threads()
    seen = []
    original = MultinomialObjective.value_and_grad

    def recording(self, flat, **kwargs):
        seen.append(blas_threads())
        return original(self, flat, **kwargs)

    monkeypatch.setattr(MultinomialObjective, "value_and_grad", recording)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 600))  # 5.4e6 multiply-adds per chunk product
    SoftmaxRegression(max_iter=3).fit(X, np.arange(3000) % 3)
    assert seen and all(threads == [1] * len(outside) for threads in seen)
    assert blas_threads() == outside  # restored after the fit


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_chunks_run_on_softmaxkits_threads_with_the_same_result(monkeypatch, solver):
    import threading

    import softmaxkit as sk
    from softmaxkit.models import _objective

    monkeypatch.setattr(_objective, "LOGITS_PER_CHUNK", 500)  # 100 rows of 5 classes: 6 chunks
    X, y = synthetic()
    threads = set()
    original = _objective._Chunk.transposed_times

    def recording(self, M):
        threads.add(threading.get_ident())
        return original(self, M)

    monkeypatch.setattr(_objective._Chunk, "transposed_times", recording)
    fits = {}
    try:
        for n_threads in (1, 2):
            sk.set_num_threads(n_threads)
            threads.clear()
            fits[n_threads] = SoftmaxRegression(solver=solver, **TIGHT).fit(X, y)
            fits[n_threads].threads = set(threads)
    finally:
        sk.set_num_threads(None)
    assert fits[1].threads == {threading.get_ident()}
    assert threading.get_ident() not in fits[2].threads
    # Partial sums are added in chunk order whatever thread made them: the same bits.
    assert_array_equal(fits[2].coef_, fits[1].coef_)
    assert_array_equal(fits[2].intercept_, fits[1].intercept_)
