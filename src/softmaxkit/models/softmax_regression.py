r"""Softmax regression (multinomial logistic regression), the scikit-learn way.

The fitted ``W`` (``coef_``, one row per class) and ``b`` (``intercept_``)
minimise the same objective as scikit-learn's
``LogisticRegression(C=C, solver="lbfgs")``:

.. math:: \frac{1}{S}\Big(\sum_i s_i\, \ell\big(W x_i + b,\ y_i\big)
          + \frac{1}{2C}\lVert W\rVert_F^2\Big), \qquad S = \sum_i s_i,

where ``s_i`` is the sample weight times the class weight of ``y_i`` and
``ell`` the cross-entropy of the logits (with label smoothing when asked).
The intercept is not penalised; ``C = inf`` drops the penalty. Dividing by
``S`` does not move the optimum; it makes ``tol`` mean the same as in
scikit-learn (the largest component of the gradient of this mean objective).

The objective, its gradient and its exact Hessian products are in
``_objective.py`` (chunked: the logits never exist beyond one chunk; dense
or CSR ``X``, float32 or float64), the minimisers in ``_solvers.py``. Every
solver starts from zero (or the previous fit with ``warm_start``) and stops
on scikit-learn's criteria, so all reach scikit-learn's optimum.

Two classes are handled as scikit-learn does: one coefficient row ``w``,
decision ``d = w x + b`` and ``P(class 1) = sigmoid(d)``; internally these are
the logits ``[0, d]``, whose softmax is exactly ``[1 - sigmoid(d), sigmoid(d)]``.
"""

from __future__ import annotations

import functools
import numbers
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, Literal

import numpy as np

try:
    import scipy.sparse as sparse
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
    from threadpoolctl import ThreadpoolController

    from ._objective import MultinomialObjective
    from ._solvers import SOLVERS, choose_solver, minimise
except ImportError as exc:  # pragma: no cover - the ml extra is a test dependency
    raise ImportError(
        f"softmaxkit.models needs scikit-learn and SciPy ({exc}); install them with "
        f'pip install "softmaxkit[ml]"'
    ) from None

from .. import _validate as validate
from .._core import log_softmax, softmax
from .._progress import progress
from .._threads import get_num_threads
from .._typing import ArrayLike, Labels, MatrixLike, NumPyArray, Solver

__all__ = ["SoftmaxRegression"]


# scikit-learn ships no types: its base classes are Any to a type checker.
class SoftmaxRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Multinomial logistic regression, fitted by Newton or L-BFGS on softmaxkit's fused loss.

    Parameters
    ----------
    C : float, default=1.0
        Inverse strength of the L2 penalty on ``coef_`` (as in scikit-learn:
        the penalty is ``||W||^2 / (2 C)`` against the *sum* of the losses).
        ``np.inf``: no penalty (scikit-learn's ``C=np.inf``); the optimum
        then exists only where the classes are not separable.
    fit_intercept : bool, default=True
        Fit an (unpenalised) intercept per class.
    max_iter : int, default=100
        Iterations at most (L-BFGS iterations, or Newton steps).
    tol : float, default=1e-4
        Stop when every component of the gradient of the mean objective is
        at most ``tol`` (scikit-learn's criterion).
    class_weight : dict, "balanced" or None, default=None
        Multiplies each sample's weight by its class's weight, as in
        scikit-learn ("balanced": ``n_samples / (n_classes * count)``, with
        counts weighted by ``sample_weight``).
    solver : {"auto", "lbfgs", "newton-cg", "newton-cholesky"}, default="auto"
        "lbfgs": SciPy's L-BFGS-B. "newton-cg": Newton steps solved by
        conjugate gradients on exact Hessian-vector products (few passes over
        ``X`` where L-BFGS needs many iterations). "newton-cholesky": Newton
        with the full Hessian (problems with few parameters). "auto" picks
        by the problem's shape (the fitted ``solver_`` says which). All reach
        the same optimum.
    label_smoothing : float, default=0.0
        In [0, 1]: train against ``(1 - eps) onehot + eps / K`` (torch's
        convention), the training-time cure for overconfidence. 0 gives
        scikit-learn's optimum.
    warm_start : bool, default=False
        Start from the previous fit's coefficients when the shapes match.
    verbose : int, default=0
        > 0 prints the objective at every iteration to stderr.
    callback : callable or None, default=None
        Called as ``callback(iteration, objective)`` after each iteration
        (``iteration`` counts from 1; ``objective`` is the penalised mean
        loss being minimised), for a caller's own progress display or
        logging. Without it, a fit that lasts shows a progress bar on a
        terminal (with tqdm installed); with it, the callback reports instead.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features) for two classes
    intercept_ : ndarray of shape (n_classes,), or (1,) for two classes
    n_iter_ : ndarray of shape (1,)
        Iterations taken (L-BFGS iterations or Newton steps).
    solver_ : str
        The solver used.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Notes
    -----
    Needs scikit-learn and SciPy (the ``ml`` extra). ``X`` may be a SciPy
    sparse matrix or array (CSR as is; CSC is converted to CSR, as
    scikit-learn does); it is never densified. float32 ``X`` is worked in
    float32 (half the memory traffic) when ``tol >= 1e-6``, which float32
    gradients resolve; otherwise in float64. The logits exist one chunk of
    rows at a time; the chunks run on :func:`softmaxkit.set_num_threads`'s
    thread count, each chunk's matrix products on one BLAS thread (no more
    busy threads than cores), and the result does not depend on the count. A :class:`sklearn.exceptions.ConvergenceWarning` says
    what to change when ``max_iter`` runs out.

    Examples
    --------
    >>> from softmaxkit.datasets import load_digits
    >>> from softmaxkit.models import SoftmaxRegression
    >>> digits = load_digits()
    >>> model = SoftmaxRegression(C=0.1, max_iter=500).fit(digits.data / 16, digits.target)
    >>> model.coef_.shape, round(model.score(digits.data / 16, digits.target), 2)
    ((10, 64), 0.96)
    >>> model.predict_proba(digits.data[:1] / 16).argmax(axis=1).tolist()
    [0]
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        max_iter: int = 100,
        tol: float = 1e-4,
        class_weight: dict[Any, float] | Literal["balanced"] | None = None,
        solver: Solver = "auto",
        label_smoothing: float = 0.0,
        warm_start: bool = False,
        verbose: int = 0,
        callback: Callable[[int, float], object] | None = None,
    ):
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.solver = solver
        self.label_smoothing = label_smoothing
        self.warm_start = warm_start
        self.verbose = verbose
        self.callback = callback

    def fit(
        self, X: MatrixLike, y: Labels, sample_weight: ArrayLike | None = None
    ) -> SoftmaxRegression:
        """Fit the model to ``X`` (n_samples, n_features) and labels ``y``.

        Raises
        ------
        ValueError
            Bad parameters (the message names the parameter and value), a
            single class in ``y``, non-finite ``X``, shapes that do not match.
        TypeError
            A non-integer ``max_iter`` or ``verbose``; a ``callback`` that is not callable.
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X: Any, y: Any, sample_weight: Any) -> SoftmaxRegression:
        """:meth:`fit`, on inputs typed as loosely as ``validate_data`` takes them."""
        self._check_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32],
                             order="C", reset=True)  # fmt: skip
        if X.dtype == np.float32 and self.tol < _FLOAT32_TOL:
            X = X.astype(np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
        if len(classes) < 2:
            raise ValueError(
                f"y must hold at least 2 classes to fit a classifier, got only one class: "
                f"{classes.tolist()[0]!r}"
            )
        target = encoder.transform(y).astype(np.intp)
        weights = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.class_weight is not None:
            per_class = compute_class_weight(
                self.class_weight, classes=classes, y=y, sample_weight=sample_weight
            )
            weights = weights * per_class[target]
        total_weight = float(np.sum(weights))
        if not total_weight > 0:
            raise ValueError(f"sample_weight must have a positive sum, got {total_weight!r}")

        # Threads: the chunks' work runs on softmaxkit's thread count (each
        # chunk's products on one BLAS thread). Threaded BLAS inside a loop
        # of chunk-sized products, next to the kernel's own threads, makes
        # more busy threads than cores: on a loaded 2-core machine it took
        # 14x longer than one thread (benchmarks/README.md).
        n_threads = get_num_threads()
        with (
            ThreadPoolExecutor(n_threads) if n_threads > 1 else nullcontext() as executor,
            _one_blas_thread(),
            progress(int(self.max_iter), "SoftmaxRegression.fit", unit="iteration") as advance,
        ):
            objective = MultinomialObjective(
                X, target, weights / total_weight, 1.0 / (self.C * total_weight),
                n_classes=len(classes), fit_intercept=self.fit_intercept,
                label_smoothing=float(self.label_smoothing), executor=executor,
            )  # fmt: skip
            solver = choose_solver(objective) if self.solver == "auto" else self.solver
            iteration = 0

            def report(value: float) -> None:
                nonlocal iteration
                iteration += 1
                if self.verbose:
                    print(f"SoftmaxRegression: iteration {iteration}, objective {value:.10g}",
                          file=sys.stderr)  # fmt: skip
                if self.callback is not None:
                    self.callback(iteration, value)
                else:
                    advance(1)  # a bar on a terminal for a fit that lasts (a callback reports instead)

            solution = minimise(solver, objective, self._start(objective), tol=float(self.tol),
                                max_iter=int(self.max_iter), on_iteration=report)  # fmt: skip
        if not solution.converged:
            warnings.warn(
                f"SoftmaxRegression did not converge in max_iter={self.max_iter} iterations "
                f"(largest gradient component {solution.max_abs_grad:.3g} > tol={self.tol:g}). "
                f"Increase max_iter, scale the features (e.g. sklearn's StandardScaler, or "
                f"divide pixels by their maximum), or regularise more (smaller C).",
                ConvergenceWarning,
                stacklevel=3,  # warn <- _fit <- fit <- the caller
            )
        W, b = objective.split(solution.params)
        self.classes_ = classes
        self.coef_ = W.copy()
        self.intercept_ = b.copy()
        self.n_iter_ = np.array([solution.n_iter], dtype=np.int32)
        self.solver_ = solver
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _start(self, objective: MultinomialObjective) -> np.ndarray:
        """Zero, or the previous fit with ``warm_start`` when its shape fits."""
        coef = getattr(self, "coef_", None) if self.warm_start else None
        if coef is not None and coef.shape == (objective.n_rows, objective.n_features):
            return objective.join(coef, self.intercept_)
        return np.zeros(objective.n_params)

    def decision_function(self, X: MatrixLike) -> NumPyArray:
        """The logits ``X @ coef_.T + intercept_``: (n_samples, n_classes), or (n_samples,) for two classes."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32],
                          reset=False)  # fmt: skip
        scores: NumPyArray = np.asarray(X @ self.coef_.T, dtype=np.float64) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: MatrixLike) -> NumPyArray:
        """The most probable class of each sample."""
        logits = self._logits(X)  # first: it checks that the model is fitted
        predicted: NumPyArray = self.classes_[np.argmax(logits, axis=1)]
        return predicted

    def predict_proba(self, X: MatrixLike) -> NumPyArray:
        """``softmax`` of the logits: (n_samples, n_classes), ordered as ``classes_``."""
        return softmax(self._logits(X), axis=1)

    def predict_log_proba(self, X: MatrixLike) -> NumPyArray:
        """``log_softmax`` of the logits (exact, also where a probability underflows to 0)."""
        return log_softmax(self._logits(X), axis=1)

    def _logits(self, X: MatrixLike) -> NumPyArray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.stack([np.zeros_like(scores), scores], axis=1)
        return scores

    def _check_params(self) -> None:
        if not _is_real(self.C) or not self.C > 0 or np.isnan(self.C):
            raise ValueError(f"C must be a number > 0 (np.inf for no penalty), got {self.C!r}")
        validate.integer(self.max_iter, name="max_iter", minimum=1)
        if not _is_real(self.tol) or not self.tol > 0:
            raise ValueError(f"tol must be a number > 0, got {self.tol!r}")
        if not _is_real(self.label_smoothing) or not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be a number in [0, 1], got {self.label_smoothing!r}")
        if not (self.class_weight is None or self.class_weight == "balanced"
                or isinstance(self.class_weight, dict)):  # fmt: skip
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}"
            )
        if not (isinstance(self.solver, str) and self.solver in ("auto", *SOLVERS)):
            raise ValueError(
                f"solver must be one of {['auto', *SOLVERS]}, got {self.solver!r}"
            )
        for name in ("fit_intercept", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        validate.integer(self.verbose, name="verbose", minimum=0)
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be a callable or None, got {self.callback!r}")


# float32 gradients carry relative rounding near 1e-7; below this tol, float32
# X is converted to float64 so that the stopping test can be met.
_FLOAT32_TOL = 1e-6

@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's thread pools (BLAS), found once: finding them reads the
    loaded libraries (4 ms, a tenth of a digits fit)."""
    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """A context in which NumPy's BLAS runs on one thread."""
    return _threadpools().limit(limits=1, user_api="blas")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

