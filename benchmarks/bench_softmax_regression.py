"""Fit time of SoftmaxRegression against scikit-learn's LogisticRegression, side by side.

    python benchmarks/bench_softmax_regression.py                 # digits and 200000 x 100, 50 classes
    python benchmarks/bench_softmax_regression.py --rows 50000 --repeats 1

Both get the same C, tol and max_iter (L-BFGS on the same objective), so they
stop at the same optimum; the table shows the accuracy of each as the check
of "equal accuracy", the median fit time over --repeats fits, and the ratio
sklearn / softmaxkit (> 1: softmaxkit is faster). SoftmaxRegression limits BLAS
to one thread on narrow problems (see softmaxkit/models/softmax_regression.py),
so scikit-learn is timed both as it runs by default and under the same limit.
A memory copy of X is timed as the floor of touching the data once.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from softmaxkit.datasets import load_digits
from softmaxkit.models import SoftmaxRegression


def median_fit(make, X, y, repeats):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        times.append(time.perf_counter() - started)
    return float(np.median(times)), model


def synthetic(rows, features, classes, seed=0):
    """Gaussian features; labels drawn from a softmax of a random linear model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    W = rng.standard_normal((classes, features)) * (2.0 / np.sqrt(features))
    logits = X @ W.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(rows, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return X, np.minimum(y, classes - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args()

    digits = load_digits()
    problems = {
        "digits 1797 x 64, 10 classes": (digits.data / 16.0, digits.target),
        f"synthetic {args.rows} x {args.features}, {args.classes} classes":
            synthetic(args.rows, args.features, args.classes),
    }
    settings = {"C": args.C, "tol": args.tol, "max_iter": args.max_iter}
    print(f"C={args.C:g}, tol={args.tol:g}, max_iter={args.max_iter}; median of {args.repeats} fits\n")
    print(f"{'problem':<38} {'fit':<14} {'seconds':>8} {'iters':>6} {'accuracy':>9} {'sk/ours':>7}")
    for name, (X, y) in problems.items():
        copy_time = float(np.median([_timed(X.copy) for _ in range(args.repeats)]))
        ours_time, ours = median_fit(lambda: SoftmaxRegression(**settings), X, y, args.repeats)
        theirs_time, theirs = median_fit(lambda: LogisticRegression(**settings), X, y, args.repeats)
        with threadpool_limits(limits=1, user_api="blas"):
            one_time, one = median_fit(lambda: LogisticRegression(**settings), X, y, args.repeats)
        print(f"{name:<38} {'copy of X':<14} {copy_time:>8.4f}")
        print(f"{'':<38} {'softmaxkit':<14} {ours_time:>8.3f} {ours.n_iter_[0]:>6} "
              f"{ours.score(X, y):>9.4f}")
        for label, seconds, model in [("scikit-learn", theirs_time, theirs),
                                      ("sklearn 1 BLAS", one_time, one)]:
            print(f"{'':<38} {label:<14} {seconds:>8.3f} {model.n_iter_[0]:>6} "
                  f"{model.score(X, y):>9.4f} {seconds / ours_time:>6.2f}x")


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
