r"""Vector scaling (Guo et al. 2017): a scale and a bias per class.

The calibrated logits are ``a * z + b`` (``a``, ``b`` of length K), fitted by
minimising the mean NLL of held-out labels. The NLL is convex in ``(a, b)``
(cross-entropy of logits that are linear in the parameters), so L-BFGS-B
(SciPy) reaches the global minimum; it runs in float64 on the analytic
gradient from :func:`softmaxkit.cross_entropy_and_grad`, never on finite
differences (which see a zero gradient on float32 input: netcal#61/#66).

``b`` is only determined up to a constant (softmax ignores a shift), so
the fitted ``b`` is centred to sum to 0. Vector scaling has 2K parameters
against temperature scaling's one: it can fix per-class biases, and it can
over-fit a small validation set.
"""

from __future__ import annotations

import warnings
from typing import Any, overload

import numpy as np

from .. import _validate as validate
from .._core import softmax
from .._typing import ArrayLike, ArrayT, Nested, NumPyArray
from ..losses import cross_entropy, cross_entropy_and_grad
from ._inputs import as_logits, logits_and_labels, warn_if_probabilities
from ._params import Params, not_fitted
from .temperature import CalibrationWarning

__all__ = ["VectorScaler"]


class VectorScaler(Params):
    """Fit a per-class scale and bias on held-out logits: ``a * z + b``.

    A scikit-learn estimator (``get_params``/``set_params``; ``clone``
    works); the parameters are validated in :meth:`fit`, as scikit-learn
    asks.

    Parameters
    ----------
    max_iter : int, optional
        L-BFGS-B iterations at most (default 1000).
    tol : float, optional
        Stop when every component of the gradient of the mean NLL is below
        ``tol`` (default 1e-8).

    Attributes
    ----------
    scale_, bias_ : numpy.ndarray
        ``a`` and ``b``, shape (K,); ``bias_`` sums to 0.
    n_iter_ : int
        L-BFGS-B iterations taken.
    nll_before_, nll_after_ : float
        The mean NLL on the fitting data before and after.

    Notes
    -----
    Needs SciPy (the ``ml`` extra). As for :class:`TemperatureScaler`, fit on
    logits, not probabilities; a 1-D input is a binary decision ``d``, taken
    as the logits ``[0, d]``.

    Examples
    --------
    Labels drawn from softmax(z); the model reports ``z * [2, 0.5, 1] + [1, 0, -1]``,
    which vector scaling undoes (up to sampling noise):

    >>> import numpy as np, softmaxkit as sk
    >>> from softmaxkit.calibration import VectorScaler
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(20000, 3))
    >>> labels = (rng.uniform(size=(20000, 1)) > np.cumsum(sk.softmax(z), axis=1)).sum(axis=1)
    >>> scaler = VectorScaler().fit(z * [2.0, 0.5, 1.0] + [1.0, 0.0, -1.0], labels)
    >>> np.round(scaler.scale_, 1).tolist(), np.round(scaler.bias_, 1).tolist()
    ([0.5, 2.0, 1.0], [-0.6, -0.2, 0.8])
    """

    def __init__(self, *, max_iter: int = 1000, tol: float = 1e-8):
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, logits: ArrayLike, labels: ArrayLike) -> VectorScaler:
        """Fit ``scale_`` and ``bias_`` on ``logits`` (N, K) and ``labels`` (N,).

        Raises
        ------
        ValueError
            As :meth:`TemperatureScaler.fit`; also a bad ``max_iter`` or ``tol``.
        TypeError
            A non-integer ``max_iter``.
        ImportError
            SciPy is not installed.
        """
        try:
            from scipy.optimize import minimize
        except ImportError:  # pragma: no cover - scipy is a test dependency
            raise ImportError(
                "VectorScaler needs SciPy: pip install scipy (or softmaxkit[ml])"
            ) from None
        max_iter = validate.integer(self.max_iter, name="max_iter", minimum=1)
        if not (isinstance(self.tol, (int, float)) and self.tol > 0):
            raise ValueError(f"tol must be a number > 0, got {self.tol!r}")
        z, y = logits_and_labels(logits, labels)
        warn_if_probabilities(z, "vector scaling", CalibrationWarning)
        k = z.shape[1]

        def nll_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
            a, b = params[:k], params[k:]
            loss, grad_logits = cross_entropy_and_grad(z * a + b, y)
            return float(loss), np.concatenate([np.sum(grad_logits * z, axis=0),
                                                np.sum(grad_logits, axis=0)])  # fmt: skip

        start = np.concatenate([np.ones(k), np.zeros(k)])
        result = minimize(
            nll_and_grad, start, jac=True, method="L-BFGS-B",
            # ftol is a backstop at a few float64 epsilons: near the optimum the NLL's
            # relative decrease falls past 2e-15 and 1e-15 in the same iteration.
            options={"maxiter": max_iter, "gtol": float(self.tol), "ftol": 1e-15},  # pragma: no mutate
        )  # fmt: skip
        if not result.success and np.max(np.abs(result.jac)) > self.tol:
            warnings.warn(
                f"VectorScaler did not converge in {result.nit} iterations "
                f"(largest gradient component {np.max(np.abs(result.jac)):.2g} > tol "
                f"{self.tol:g}; {result.message}); increase max_iter, or use "
                f"TemperatureScaler, which has one parameter and always converges",
                CalibrationWarning,
                stacklevel=2,
            )
        self.scale_ = result.x[:k].copy()
        # The b part of every gradient sums to 0 (softmax ignores a shift), and
        # L-BFGS-B without bounds steps only along gradients and their differences,
        # so from b = 0 the fitted b sums to 0 already: centring removes rounding.
        self.bias_ = result.x[k:] - np.mean(result.x[k:])  # pragma: no mutate
        self.n_iter_ = int(result.nit)
        self.nll_before_ = float(cross_entropy(z, y))
        self.nll_after_ = float(cross_entropy(z * self.scale_ + self.bias_, y))
        return self

    @overload
    def transform(self, logits: ArrayT) -> ArrayT: ...
    @overload
    def transform(self, logits: Nested) -> NumPyArray: ...

    def transform(self, logits: Any) -> Any:
        """The calibrated logits ``scale_ * logits + bias_`` (same array library)."""
        if not hasattr(self, "scale_"):
            raise not_fitted(self)
        z = as_logits(logits)
        if z.shape[-1] != self.scale_.shape[0]:
            raise ValueError(
                f"logits must have {self.scale_.shape[0]} classes (as in fit), got shape "
                f"{tuple(z.shape)}"
            )
        xp_scale = _like(z, self.scale_)
        return z * xp_scale + _like(z, self.bias_)

    @overload
    def predict_proba(self, logits: ArrayT) -> ArrayT: ...
    @overload
    def predict_proba(self, logits: Nested) -> NumPyArray: ...

    def predict_proba(self, logits: Any) -> Any:
        """Calibrated probabilities ``softmax(scale_ * logits + bias_)``."""
        return softmax(self.transform(logits))

    def __repr__(self) -> str:
        return f"VectorScaler(max_iter={self.max_iter!r}, tol={self.tol!r})"


def _like(z: Any, values: np.ndarray) -> Any:
    """``values`` as an array of ``z``'s library, dtype and device."""
    import array_api_compat

    xp = array_api_compat.array_namespace(z)
    return xp.asarray(values, dtype=z.dtype, device=array_api_compat.device(z))
