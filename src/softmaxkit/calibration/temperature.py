r"""Temperature scaling (Guo et al. 2017): one temperature for all the logits.

The fitted temperature ``T`` minimises the negative log-likelihood of held-out
labels under ``softmax(z / T)``. Written in the inverse temperature
``beta = 1 / T``, the NLL

.. math:: f(\beta) = \frac{1}{N}\sum_i \Big(\log\sum_k e^{\beta z_{ik}} - \beta z_{i y_i}\Big)

is convex (a log-sum-exp of linear functions of beta), with

.. math:: f'(\beta) = \frac{1}{N}\sum_i \big(\mathrm{E}_{p_i}[z_i] - z_{iy_i}\big), \qquad
          f''(\beta) = \frac{1}{N}\sum_i \mathrm{Var}_{p_i}[z_i] \ge 0,

where ``p_i = softmax(beta z_i)``. So ``f'`` is increasing and its root is
found exactly by a safeguarded Newton iteration inside a sign-changing
bracket (Numerical Recipes' ``rtsafe``): no learning rate, no iteration
budget to tune (gpleiss/temperature_scaling#20, #28), and beta stays > 0 by
construction (gpleiss#31). Everything is computed in float64 whatever the
input dtype: with float32 input, a finite-difference optimiser sees a zero
gradient and returns T = 1 unchanged (netcal#61, fixed by netcal PR #66).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, overload

import numpy as np

from .._core import softmax
from .._typing import ArrayLike, ArrayT, Nested, NumPyArray
from ..losses import cross_entropy
from ._inputs import as_logits, logits_and_labels, warn_if_probabilities
from ._params import Params, not_fitted

__all__ = ["CalibrationWarning", "TemperatureScaler"]

# The search for a bracket stops at beta in [1e-8, 1e8] times the first guess:
# past that the optimum is "T = infinity" (the logits carry no information about
# the labels) or "T = 0" (every sample is right by a margin: hardmax). The search
# moves beta by exact factors of 4, so it stops at 4**14 (2.7e8) times the guess, or
# its inverse: any bound between 4**13 (6.7e7) and 4**14 stops it at the same step.
_BETA_RANGE = 1e8  # pragma: no mutate


class CalibrationWarning(UserWarning):
    """A calibration fit that ended at a bound, or inputs that look wrong."""


class TemperatureScaler(Params):
    """Fit one temperature on held-out logits; divide logits by it.

    A scikit-learn estimator: no parameters, ``get_params``/``set_params``,
    so ``sklearn.base.clone`` and pipelines take it.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature T > 0 (probabilities are ``softmax(z / T)``).
    n_iter_ : int
        Newton/bisection steps taken.
    nll_before_, nll_after_ : float
        The mean NLL on the fitting data at T = 1 and at ``temperature_``.

    Notes
    -----
    Fit on logits, never on probabilities: softmax is not injective, and
    temperature-scaling probabilities makes calibration worse
    (gpleiss/temperature_scaling#29). A :class:`CalibrationWarning` is
    raised when every row of the input lies in [0, 1] and sums to 1. A 1-D
    input is a binary decision ``d`` (``P(class 1) = sigmoid(d)``), handled
    as the logits ``[0, d]``.

    Examples
    --------
    Labels drawn from softmax(z); the model reports the overconfident ``3 z``:

    >>> import numpy as np, softmaxkit as sk
    >>> from softmaxkit.calibration import TemperatureScaler
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(20000, 5))
    >>> labels = (rng.uniform(size=(20000, 1)) > np.cumsum(sk.softmax(z), axis=1)).sum(axis=1)
    >>> scaler = TemperatureScaler().fit(3.0 * z, labels)
    >>> round(scaler.temperature_, 1)
    3.0
    >>> scaler.predict_proba(3.0 * z).shape
    (20000, 5)
    """

    def __init__(self) -> None:
        pass

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> TemperatureScaler:
        """Fit the temperature on ``logits`` (N, K) and integer ``labels`` (N,).

        Raises
        ------
        ValueError
            Empty input, non-finite logits, labels outside [0, K), shapes that
            do not match.
        TypeError
            Non-integer labels, non-real logits.
        """
        z, y = logits_and_labels(logits, labels)
        warn_if_probabilities(z, "temperature scaling", CalibrationWarning)
        beta, n_iter = _fit_beta(z, y)
        self.temperature_ = 1.0 / beta
        self.n_iter_ = n_iter
        self.nll_before_ = float(cross_entropy(z, y))
        self.nll_after_ = float(cross_entropy(z * beta, y))
        return self

    @overload
    def transform(self, logits: ArrayT) -> ArrayT: ...
    @overload
    def transform(self, logits: Nested) -> NumPyArray: ...

    def transform(self, logits: Any) -> Any:
        """The scaled logits ``logits / temperature_`` (same array library and shape)."""
        self._check_fitted()
        return as_logits(logits, binary_to_two=False) / self.temperature_

    @overload
    def predict_proba(self, logits: ArrayT) -> ArrayT: ...
    @overload
    def predict_proba(self, logits: Nested) -> NumPyArray: ...

    def predict_proba(self, logits: Any) -> Any:
        """Calibrated probabilities ``softmax(logits / temperature_)`` over the last axis.

        A 1-D input (binary decisions) gives (N, 2) probabilities.
        """
        self._check_fitted()
        return softmax(as_logits(logits), temperature=self.temperature_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "temperature_"):
            raise not_fitted(self)

    def __repr__(self) -> str:
        if hasattr(self, "temperature_"):
            return f"TemperatureScaler(temperature_={self.temperature_:.6g})"
        return "TemperatureScaler()"


def _slope_and_curvature(z: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float]:
    """``f'(beta)`` and ``f''(beta)`` of the mean NLL (module notes)."""
    p = softmax(z, temperature=1.0 / beta)
    # Logits relative to the label's: E_p[z] - z_y is then a sum of small
    # terms, not the difference of two large ones, so it keeps its sign and
    # size even when p is nearly one-hot (the bracket search relies on that).
    relative = z - z[np.arange(len(y)), y][:, None]
    gap = np.sum(p * relative, axis=1)
    # Two-pass variance: E[(z - E z)^2] never cancels to a negative number.
    variance = np.sum(p * (relative - gap[:, None]) ** 2, axis=1)
    return float(np.mean(gap)), float(np.mean(variance))


def _fit_beta(z: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """The root of ``f'`` for ``z`` brought to a scale where nothing overflows.

    ``f`` depends on ``beta z`` only, so fitting ``z / s`` gives ``beta s``.
    ``s`` is the power of two nearest above the largest ``|z|``: dividing by
    it is exact, and the variance's squares of ``z`` (1e160 squared) and the
    differences ``z - z_y`` then stay finite.
    """
    largest = float(np.max(np.abs(z), initial=0.0))
    scale = 2.0 ** math.frexp(largest)[1] if largest > 0 else 1.0
    beta, n_iter = _fit_scaled_beta(z / scale, y)
    return beta / scale, n_iter


def _fit_scaled_beta(z: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """The root of the increasing ``f'``: bracket it, then safeguarded Newton."""
    # A first guess on the logits' own scale, so the bracket search is short.
    spread = float(np.mean(np.std(z, axis=1)))
    guess = 1.0 / spread if spread > 0 else 1.0
    lo = hi = guess
    slope, _ = _slope_and_curvature(z, y, guess)
    if slope == 0.0:
        return guess, 0
    n_iter = 0
    if slope < 0:
        while slope < 0:
            lo, hi = hi, hi * 4.0
            n_iter += 1
            slope, curvature = _slope_and_curvature(z, y, hi)
            # curvature 0: every softmax is one-hot in float64, the NLL is flat
            # (0) from here on, so there is no finite optimum to find.
            if hi > guess * _BETA_RANGE or curvature == 0.0:
                _warn_bound(hi, "0 (every label is the argmax by a margin: the fit goes to hardmax)")
                return hi, n_iter
    else:
        while slope > 0:
            hi, lo = lo, lo / 4.0
            n_iter += 1
            if lo < guess / _BETA_RANGE:
                _warn_bound(lo, "infinity (the logits carry no information about these labels)")
                return lo, n_iter
            slope, _ = _slope_and_curvature(z, y, lo)
    # rtsafe: a Newton step when it stays inside [lo, hi] and shrinks the
    # step fast enough, else bisection; f' is increasing, so the bracket
    # always keeps the root. A slope of exactly 0 needs no test of its own:
    # the Newton step is then 0 and the convergence test stops at that beta.
    # (The curvature there is > 0: 0 means every softmax is one-hot, or split
    # among equal logits, at beta and so at every larger beta: f' would be
    # the same at hi, where it is > 0 or the curvature is > 0.)
    beta = 0.5 * (lo + hi)
    step_before = hi - lo
    for _ in range(200):
        n_iter += 1
        slope, curvature = _slope_and_curvature(z, y, beta)
        if slope < 0:
            lo = beta
        else:
            hi = beta
        newton = beta - slope / curvature if curvature > 0 else math.nan
        if abs(newton - beta) <= 1e-14 * beta:
            # Converged: the step is below the rounding of beta itself.
            beta = min(max(newton, lo), hi)
            break
        if lo < newton < hi and abs(newton - beta) < 0.5 * step_before:
            step_before, beta = abs(newton - beta), newton
        else:
            step_before, beta = hi - lo, 0.5 * (lo + hi)
        if hi - lo <= 1e-14 * hi:
            break
    return beta, n_iter


def _warn_bound(beta: float, limit: str) -> None:
    warnings.warn(
        f"the validation NLL keeps decreasing as the temperature goes to {limit}; "
        f"stopped at temperature {1.0 / beta:.3g}. Fit on more (or more varied) "
        f"held-out data",
        CalibrationWarning,
        stacklevel=5,  # _warn_bound <- _fit_scaled_beta <- _fit_beta <- fit <- the caller
    )
