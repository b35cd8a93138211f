r"""Softmax regression (multinomial logistic regression), the scikit-learn way.

The fitted ``W`` (``coef_``, one row per class) and ``b`` (``intercept_``)
minimise the same objective as scikit-learn's
``LogisticRegression(C=C, solver="lbfgs")``:

.. math:: \frac{1}{S}\Big(\sum_i s_i\, \ell\big(W x_i + b,\ y_i\big)
          + \frac{1}{2C}\lVert W\rVert_F^2\Big), \qquad S = \sum_i s_i,

where ``s_i`` is the sample weight times the class weight of ``y_i`` and
``ell`` the cross-entropy of the logits (with label smoothing when asked).
The intercept is not penalised. Dividing by ``S`` does not move the optimum;
it makes ``tol`` mean the same as in scikit-learn (the largest component of
the projected gradient of this mean objective).

The loss and its gradient come from
:func:`softmaxkit.linear_cross_entropy_and_grad`, which never holds all the
logits at once, and SciPy's L-BFGS-B minimises it with scikit-learn's
settings (``maxls=50``, ``ftol=64 eps``, ``gtol=tol``), from zero.

Two classes are handled as scikit-learn does: one coefficient row ``w``,
decision ``d = w x + b`` and ``P(class 1) = sigmoid(d)``; internally these are
the logits ``[0, d]``, whose softmax is exactly ``[1 - sigmoid(d), sigmoid(d)]``.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from typing import Any, Callable

import numpy as np

try:
    from scipy.optimize import minimize
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
    from threadpoolctl import threadpool_limits
except ImportError as exc:  # pragma: no cover - the ml extra is a test dependency
    raise ImportError(
        f"softmaxkit.models needs scikit-learn and SciPy ({exc}); install them with "
        f'pip install "softmaxkit[ml]"'
    ) from None

from .._core import log_softmax, softmax
from .. import _linear
from .._progress import progress

__all__ = ["SoftmaxRegression"]


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression trained on softmaxkit's chunked cross-entropy.

    Parameters
    ----------
    C : float, default=1.0
        Inverse strength of the L2 penalty on ``coef_`` (as in scikit-learn:
        the penalty is ``||W||^2 / (2 C)`` against the *sum* of the losses).
    fit_intercept : bool, default=True
        Fit an (unpenalised) intercept per class.
    max_iter : int, default=100
        L-BFGS iterations at most.
    tol : float, default=1e-4
        Stop when every component of the projected gradient of the mean
        objective is at most ``tol``.
    class_weight : dict, "balanced" or None, default=None
        Multiplies each sample's weight by its class's weight, as in
        scikit-learn.
    label_smoothing : float, default=0.0
        In [0, 1]: train against ``(1 - eps) onehot + eps / K`` (torch's
        convention), the training-time cure for overconfidence. 0 gives
        scikit-learn's optimum.
    warm_start : bool, default=False
        Start from the previous fit's coefficients when the shapes match.
    verbose : int, default=0
        > 0 prints the objective at every iteration to stderr.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features), or (1, n_features) for two classes
    intercept_ : ndarray of shape (n_classes,), or (1,) for two classes
    n_iter_ : ndarray of shape (1,)
        L-BFGS iterations taken.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Notes
    -----
    Needs scikit-learn and SciPy (the ``ml`` extra). Computation is in
    float64. A :class:`sklearn.exceptions.ConvergenceWarning` says what to
    change when ``max_iter`` runs out.

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
        class_weight: Any = None,
        label_smoothing: float = 0.0,
        warm_start: bool = False,
        verbose: int = 0,
    ):
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.warm_start = warm_start
        self.verbose = verbose

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegression:
        """Fit the model to ``X`` (n_samples, n_features) and labels ``y``.

        Raises
        ------
        ValueError
            Bad parameters (the message names the parameter and value), a
            single class in ``y``, non-finite ``X``, shapes that do not match.
        """
        return self._fit(X, y, sample_weight)

    def _fit(
        self, X: Any, y: Any, sample_weight: Any = None, *, on_iteration: Callable | None = None
    ) -> SoftmaxRegression:
        """:meth:`fit`, calling ``on_iteration(iteration, max_iter, objective)``
        after each L-BFGS iteration (the demo's progress bar)."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, reset=True)
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

        binary = len(classes) == 2
        n_rows = 1 if binary else len(classes)
        n_features = X.shape[1]
        start = np.zeros((n_rows, n_features + 1))
        if self.warm_start and getattr(self, "coef_", None) is not None:
            if self.coef_.shape == (n_rows, n_features):
                start[:, :n_features] = self.coef_
                start[:, n_features] = self.intercept_
        objective = _Objective(
            X, target, weights / total_weight, 1.0 / (self.C * total_weight),
            n_rows=n_rows, binary=binary, fit_intercept=self.fit_intercept,
            label_smoothing=float(self.label_smoothing),
        )  # fmt: skip

        iteration = 0

        def report(params: np.ndarray) -> None:
            nonlocal iteration
            iteration += 1
            if self.verbose:
                print(f"SoftmaxRegression: iteration {iteration}, objective "
                      f"{objective.last_value:.10g}", file=sys.stderr)  # fmt: skip
            if on_iteration is not None:
                on_iteration(iteration, self.max_iter, objective.last_value)
            else:
                advance(1)

        x0 = start if self.fit_intercept else start[:, :n_features]
        # A bar on a terminal for a fit that lasts (none beside the demo's own bar).
        with _blas_threads_for(n_features), progress(int(self.max_iter), "SoftmaxRegression.fit",
                                                     unit="iteration") as advance:  # fmt: skip
            result = minimize(
                objective, x0.ravel(), method="L-BFGS-B", jac=True, callback=report,
                options={"maxiter": int(self.max_iter), "maxls": 50, "gtol": float(self.tol),
                         "ftol": 64 * np.finfo(float).eps},
            )  # fmt: skip
        params = result.x.reshape(n_rows, -1)
        if result.status == 1:  # the iteration limit, not a converged stop
            warnings.warn(
                f"SoftmaxRegression did not converge in max_iter={self.max_iter} iterations "
                f"(largest gradient component {np.max(np.abs(result.jac)):.3g} > tol={self.tol:g}). "
                f"Increase max_iter, scale the features (e.g. sklearn's StandardScaler, or "
                f"divide pixels by their maximum), or regularise more (smaller C).",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.classes_ = classes
        self.coef_ = params[:, :n_features].copy()
        self.intercept_ = params[:, n_features].copy() if self.fit_intercept else np.zeros(n_rows)
        self.n_iter_ = np.array([result.nit], dtype=np.int32)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits ``X @ coef_.T + intercept_``: (n_samples, n_classes), or (n_samples,) for two classes."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample."""
        logits = self._logits(X)  # first: it checks that the model is fitted
        return self.classes_[np.argmax(logits, axis=1)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``softmax`` of the logits: (n_samples, n_classes), ordered as ``classes_``."""
        return softmax(self._logits(X), axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log_softmax`` of the logits (exact, also where a probability underflows to 0)."""
        return log_softmax(self._logits(X), axis=1)

    def _logits(self, X: Any) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.stack([np.zeros_like(scores), scores], axis=1)
        return scores

    def _check_params(self) -> None:
        if not _is_real(self.C) or not self.C > 0 or not np.isfinite(self.C):
            raise ValueError(f"C must be a finite number > 0, got {self.C!r}")
        if not _is_int(self.max_iter) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1, got {self.max_iter!r}")
        if not _is_real(self.tol) or not self.tol > 0:
            raise ValueError(f"tol must be a number > 0, got {self.tol!r}")
        if not _is_real(self.label_smoothing) or not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be a number in [0, 1], got {self.label_smoothing!r}")
        if not (self.class_weight is None or self.class_weight == "balanced"
                or isinstance(self.class_weight, dict)):  # fmt: skip
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}"
            )
        for name in ("fit_intercept", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not _is_int(self.verbose) or self.verbose < 0:
            raise ValueError(f"verbose must be an int >= 0, got {self.verbose!r}")


class _Objective:
    """The mean objective and its gradient in the flat parameters L-BFGS sees."""

    def __init__(self, X, target, weights, l2, *, n_rows, binary, fit_intercept, label_smoothing):
        self.X, self.target, self.weights, self.l2 = X, target, weights, l2
        self.n_rows, self.binary = n_rows, binary
        self.fit_intercept, self.label_smoothing = fit_intercept, label_smoothing
        self.last_value = np.nan

    def __call__(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        n_features = self.X.shape[1]
        params = flat.reshape(self.n_rows, -1)
        W = params[:, :n_features]
        b = params[:, n_features] if self.fit_intercept else np.zeros(self.n_rows)
        if self.binary:
            # The logits [0, d]: the softmax of two classes with one free row.
            W, b = np.vstack([np.zeros_like(W), W]), np.concatenate([[0.0], b])
        # linear_cross_entropy_and_grad without grad_input, which L-BFGS never uses.
        res = _linear.chunked(
            self.X, W, self.target, bias=b, weight=None, ignore_index=-100,
            label_smoothing=self.label_smoothing, reduction="sum", sample_weight=self.weights,
            chunk_size=None, want_grad=True, want_grad_input=False,
        )  # fmt: skip
        grad_w, grad_b = res.grad_weight, res.grad_bias
        if self.binary:
            grad_w, grad_b = grad_w[1:], grad_b[1:]
        W_free = params[:, :n_features]
        value = float(res.loss) + 0.5 * self.l2 * float(np.sum(W_free * W_free))
        grad_w = grad_w + self.l2 * W_free
        grad = np.hstack([grad_w, grad_b[:, None]]) if self.fit_intercept else grad_w
        self.last_value = value
        return value, grad.ravel()


# Below this many features the objective's matrix products (one chunk of
# about 2**18 logits at a time) are too small for BLAS threads to pay: waking
# them between products costs more than they save. On 2 cores,
# benchmarks/bench_softmax_regression.py times scikit-learn's own digits fit
# at 0.84 s with two OpenBLAS threads and 0.067 s with one.
_BLAS_THREADS_FROM_FEATURES = 512


def _blas_threads_for(n_features: int) -> Any:
    """One BLAS thread while fitting narrow problems; the default otherwise."""
    limit = 1 if n_features < _BLAS_THREADS_FROM_FEATURES else None
    return threadpool_limits(limits=limit, user_api="blas")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
