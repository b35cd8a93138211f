r"""The minimisers SoftmaxRegression can use; each stops on scikit-learn's criteria.

* ``lbfgs``: SciPy's L-BFGS-B with scikit-learn's settings (``maxls=50``,
  ``ftol=64 eps``, ``gtol=tol``): one gradient evaluation (two passes over
  ``X``) per line-search step, usually one per iteration.
* ``newton-cg``: line-search Newton with the Newton system solved by
  conjugate gradients on exact Hessian-vector products (two passes over
  ``X``, no exponential). Forcing term ``min(0.1, sqrt(max|g|))`` (scikit-learn's
  newton-cg caps it at 0.5): inexact far from the optimum, then superlinear.
  The conjugate gradients are preconditioned by the inverse of a Kronecker
  approximation of the Hessian (classes x features,
  ``MultinomialObjective.preconditioner``), which follows the features'
  correlations and scales: on digits it cuts the Hessian products from 86
  to 33 per fit. It takes few gradient evaluations, so it wins where a
  gradient costs much more than a Hessian product or where L-BFGS needs
  many iterations.
* ``newton-cholesky``: the same Newton iteration with the full Hessian,
  formed and factored (``O(n_samples (K D)^2)`` and ``O((K D)^3)``): for
  problems with few parameters.

Newton stops when ``max|g| <= tol`` (scikit-learn's newton-cg criterion;
L-BFGS-B's ``gtol`` is the same for an unbounded problem), or when a full
step changes neither the objective beyond rounding nor the gradient for the
better (float64 has nothing more to give).

The multinomial objective is invariant when the same vector is added to
every class's parameters where nothing penalises it (the intercepts; with
``C = inf`` the whole rows), so its Hessian is singular in those directions.
The gradient never has a component there, and the Newton directions are
taken in the complement: conjugate gradients stay in it by construction
(Krylov spaces of the gradient); newton-cholesky adds the projector on those
directions before factoring, which leaves the step unchanged (or, without a
penalty, takes the pseudo-inverse step).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import scipy.linalg
from scipy.optimize import minimize

from ._objective import MultinomialObjective

SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky")

# A relative change of the objective below this is rounding (L-BFGS-B's ftol).
_FTOL = 64 * np.finfo(np.float64).eps
# Conjugate-gradient iterations per Newton step at most (scikit-learn's maxinner).
_MAX_INNER = 200
# Above twice this many samples, newton-cg's Hessian products use this many
# (a fixed random subset): the Newton direction needs the curvature only
# approximately (the gradient, which decides the optimum, is always exact),
# and the subset makes each product a small fraction of a gradient's cost.
# On 200000 x 100 with 50 classes, 20000 rows take the same 5 Newton steps as
# all 200000 (benchmarks/bench_softmax_regression.py).
_HESSIAN_ROWS = 20000
# Few enough parameters that forming and factoring the full Hessian costs
# less than conjugate gradients' products (iris: 15).
_CHOLESKY_PARAMS = 100
# Step halvings in the Armijo line search before giving up.
_MAX_HALVINGS = 40
# Conjugate gradients stop at a residual of min(_FORCING_CAP, sqrt(max|g|))
# times the gradient's (scikit-learn's forcing term, whose cap is 0.5): a
# cap of 0.1 solves the first Newton systems more accurately, which the
# preconditioned iterations make cheap; on 200000 x 100 with 50 classes it
# takes 5 Newton steps and 20 Hessian products instead of 6 and 27 (digits:
# unchanged, 4 and 33).
_FORCING_CAP = 0.1


class Solution(NamedTuple):
    params: np.ndarray  # flat
    n_iter: int
    converged: bool
    max_abs_grad: float


def choose_solver(objective: MultinomialObjective) -> str:
    """The solver for ``solver="auto"``: newton-cholesky for few parameters
    (a full Hessian of at most ``_CHOLESKY_PARAMS``), newton-cg otherwise
    (fewer passes over X than lbfgs on every problem of
    benchmarks/bench_softmax_regression.py, dense and sparse)."""
    return "newton-cholesky" if objective.n_params <= _CHOLESKY_PARAMS else "newton-cg"


def minimise(
    solver: str,
    objective: MultinomialObjective,
    start: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    on_iteration: Callable[[float], None],
) -> Solution:
    """Minimise ``objective`` from the flat ``start`` with ``solver``.

    ``on_iteration(objective_value)`` is called after each iteration.
    """
    if solver == "lbfgs":
        return _lbfgs(objective, start, tol, max_iter, on_iteration)
    direction = _cg_direction if solver == "newton-cg" else _cholesky_direction
    curvature = objective
    if solver == "newton-cg" and objective.n_samples > 2 * _HESSIAN_ROWS:
        curvature = objective.subsample(_HESSIAN_ROWS)
    return _newton(objective, curvature, start, tol, max_iter, on_iteration, direction)


def _lbfgs(
    objective: MultinomialObjective,
    start: np.ndarray,
    tol: float,
    max_iter: int,
    on_iteration: Callable[[float], object],
) -> Solution:
    last = [np.nan]

    def fun(flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective.value_and_grad(flat)
        last[0] = value
        return value, grad

    def callback(xk: np.ndarray) -> None:  # SciPy's name for the current point
        on_iteration(last[0])

    result = minimize(
        fun, start, method="L-BFGS-B", jac=True, callback=callback,
        options={"maxiter": int(max_iter), "maxls": 50, "gtol": float(tol), "ftol": _FTOL},
    )  # fmt: skip
    # status 1 is the iteration limit; 0 a converged stop (gtol or ftol).
    return Solution(result.x, int(result.nit), result.status != 1,
                    float(np.max(np.abs(result.jac))))  # fmt: skip


def _newton(
    objective: MultinomialObjective,
    curvature: MultinomialObjective,
    start: np.ndarray,
    tol: float,
    max_iter: int,
    on_iteration: Callable[[float], object],
    direction: Callable[[MultinomialObjective, np.ndarray, float], np.ndarray],
) -> Solution:
    x = np.array(start, dtype=np.float64)
    exact = curvature is objective
    value, grad = objective.value_and_grad(x, keep=exact)
    for iteration in range(max_iter + 1):
        largest = float(np.max(np.abs(grad))) if grad.size else 0.0
        if largest <= tol:
            return Solution(x, iteration, True, largest)
        if iteration == max_iter:
            return Solution(x, iteration, False, largest)
        if not exact:
            curvature.remember(x)
        step = direction(curvature, grad, largest)
        slope = float(grad @ step)
        t = 1.0
        for _ in range(_MAX_HALVINGS):
            trial = x + t * step
            new_value, new_grad = objective.value_and_grad(trial, keep=exact)
            if new_value <= value + 1e-4 * t * slope:
                break
            if abs(new_value - value) <= _FTOL * max(abs(value), abs(new_value), 1.0):
                # Rounding hides any decrease: let the gradient judge the step.
                if np.max(np.abs(new_grad)) < largest:
                    break
                return Solution(x, iteration, True, largest)  # float64 has nothing more
            t *= 0.5
        else:
            return Solution(x, iteration, True, largest)  # no decrease along a descent step
        x, value, grad = trial, new_value, new_grad
        on_iteration(value)
    raise AssertionError("unreachable")  # pragma: no cover


def _cg_direction(objective: MultinomialObjective, grad: np.ndarray, largest: float) -> np.ndarray:
    """Approximately solve ``H d = -grad`` by preconditioned conjugate gradients
    (a forcing term on the residual, see ``_FORCING_CAP``)."""
    stop = min(_FORCING_CAP, np.sqrt(largest)) * float(np.sum(np.abs(grad)))
    precondition = objective.preconditioner()
    d = np.zeros_like(grad)
    r = -grad
    z = precondition(r)
    p = z.copy()
    rz = float(r @ z)
    for i in range(_MAX_INNER):
        if float(np.sum(np.abs(r))) <= stop:
            break
        Hp = objective.hessian_product(p)
        curvature = float(p @ Hp)
        if not curvature > 0:
            # No curvature along p (C = inf, a flat direction): take what we have.
            return -grad if i == 0 else d
        alpha = rz / curvature
        d += alpha * p
        r -= alpha * Hp
        z = precondition(r)
        rz, rz_old = float(r @ z), rz
        p *= rz / rz_old
        p += z
    return d


def _cholesky_direction(objective: MultinomialObjective, grad: np.ndarray, largest: float) -> np.ndarray:
    """Solve ``H d = -grad`` with the full Hessian.

    With a penalty, ``H`` is positive definite except along the intercepts
    moved together (several classes): Cholesky of ``H + Q``, ``Q`` the
    projector on that direction, which the gradient never has a component
    in, so the step is unchanged. Without a penalty, whole rows moved
    together and combinations of collinear features are flat too: the
    pseudo-inverse step (by eigendecomposition), which like L-BFGS from zero
    takes no step along them.
    """
    H = objective.hessian()
    if objective.l2 == 0:
        eigenvalues, vectors = scipy.linalg.eigh(H, check_finite=False)
        seen = eigenvalues > eigenvalues[-1] * H.shape[0] * np.finfo(np.float64).eps
        step: np.ndarray = vectors[:, seen] @ ((vectors[:, seen].T @ -grad) / eigenvalues[seen])
        return step
    if objective.fit_intercept and not objective.binary:
        width = objective.n_features + 1
        intercepts = np.arange(objective.n_rows) * width + objective.n_features
        H[np.ix_(intercepts, intercepts)] += 1.0 / objective.n_rows
    solved: np.ndarray = scipy.linalg.cho_solve(scipy.linalg.cho_factor(H, check_finite=False), -grad,
                                                check_finite=False)  # fmt: skip
    return solved
