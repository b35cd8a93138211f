"""Fit time and peak memory of SoftmaxRegression against scikit-learn's LogisticRegression.

    python benchmarks/bench_softmax_regression.py                  # the three problems below
    python benchmarks/bench_softmax_regression.py --problems digits --repeats 9

Problems: digits (1797 x 64, 10 classes); a 200000 x 100 dense problem with
50 classes; a bag-of-words-like CSR problem (100000 x 50000 at 0.1% density,
20 classes). Both sides get the same C, tol and max_iter, so both stop at the
same optimum (scikit-learn's lbfgs; softmaxkit's solver="auto", named in the
table); the accuracy columns check it. Each fit is timed with both sides on
one thread (threadpoolctl's limit on BLAS and OpenMP, which scikit-learn's
loss uses, and ``softmaxkit.set_num_threads(1)``) and with each at its
defaults (SoftmaxRegression runs its chunks on softmaxkit's threads, each
chunk's products on one BLAS thread; scikit-learn threads BLAS and its loss).
Runs are interleaved (ours, theirs, ours, ...) and the table shows medians of
wall time and of process CPU time (all threads), since the machine may be
shared; the ratios are sklearn / softmaxkit (> 1: softmaxkit is faster). Peak memory is tracemalloc's peak of one fit of
each (allocations during the fit; X itself is not counted).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

import softmaxkit as sk
from softmaxkit.datasets import load_digits
from softmaxkit.models import SoftmaxRegression


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@contextmanager
def thread_limit(one_thread):
    """Every side on one thread (BLAS, OpenMP, softmaxkit's threads), or each at its defaults."""
    if not one_thread:
        yield
        return
    sk.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        sk.set_num_threads(None)


def interleaved_times(makers, X, y, repeats, one_thread):
    """Median wall and CPU (process) times of each maker's fit, the sides
    alternating; the last models."""
    times = {name: [] for name in makers}
    cpu = {name: [] for name in makers}
    models = {}
    with thread_limit(one_thread):
        for _ in range(repeats):
            for name, make in makers.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                models[name] = fit_quietly(make(), X, y)
                times[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
    median = lambda runs: {name: float(np.median(t)) for name, t in runs.items()}  # noqa: E731
    return median(times), median(cpu), models


def peak_memory(make, X, y):
    """tracemalloc's peak (bytes) during one fit."""
    tracemalloc.start()
    try:
        fit_quietly(make(), X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


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


def sparse_text(rows, features, classes, *, words_per_row=50, seed=0):
    """A bag-of-words-like CSR matrix: Zipfian word frequencies, L2-normalised
    log term counts, ``words_per_row`` draws per row (0.1% density for 50 of
    50000); labels drawn from a softmax of a random linear model of the words."""
    import scipy.sparse as sparse

    rng = np.random.default_rng(seed)
    frequency = 1.0 / (np.arange(features) + 10.0) ** 1.1
    words = rng.choice(features, size=(rows, words_per_row), p=frequency / frequency.sum())
    counts = sparse.csr_array(
        (np.ones(words.size), words.ravel(), np.arange(0, words.size + 1, words_per_row)),
        shape=(rows, features),
    )
    counts.sum_duplicates()
    counts.data = 1.0 + np.log(counts.data)
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    X = sparse.csr_array(sparse.diags_array(1.0 / norms) @ counts)
    W = rng.standard_normal((classes, features)) * 8.0
    logits = X @ W.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(rows, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return X, np.minimum(y, classes - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="digits,dense,sparse")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args()

    digits = load_digits()
    # (name, data, C): the sparse problem's C=1 optimum takes scikit-learn more
    # than 100 iterations (half a minute each fit); C=0.1 keeps the run short.
    problems = {
        "digits": ("digits 1797 x 64, 10 classes", lambda: (digits.data / 16.0, digits.target), 1.0),
        "dense": ("dense 200000 x 100, 50 classes", lambda: synthetic(200_000, 100, 50), 1.0),
        "sparse": ("CSR 100000 x 50000, 20 cl, C=0.1", lambda: sparse_text(100_000, 50_000, 20), 0.1),
    }
    print(f"C=1 unless named, tol={args.tol:g}, max_iter={args.max_iter}; median of {args.repeats} "
          f"interleaved fits\n")  # fmt: skip
    print(f"{'problem':<32} {'threads':<9} {'fit':<24} {'seconds':>8} {'cpu s':>8} {'iters':>6} "
          f"{'accuracy':>9} {'sk/ours':>7} {'cpu':>7} {'peak MiB':>9}")  # fmt: skip
    for key in args.problems.split(","):
        name, load, C = problems[key]
        X, y = load()
        settings = {"C": C, "tol": args.tol, "max_iter": args.max_iter}
        makers = {"softmaxkit": lambda: SoftmaxRegression(**settings),
                  "scikit-learn": lambda: LogisticRegression(**settings)}  # fmt: skip
        runs = [(threads, *interleaved_times(makers, X, y, args.repeats, one_thread))
                for threads, one_thread in [("1 thread", True), ("default", False)]]  # fmt: skip
        # After the timed fits, so that first-call imports are not counted.
        peaks = {side: peak_memory(make, X, y) / 2**20 for side, make in makers.items()}
        for threads, times, cpu, models in runs:
            ours = models["softmaxkit"]
            for side in makers:
                model = models[side]
                label = f"{side} ({ours.solver_})" if side == "softmaxkit" else f"{side} (lbfgs)"
                ratio = f"{times[side] / times['softmaxkit']:>6.2f}x" if side != "softmaxkit" else ""
                cpu_ratio = f"{cpu[side] / cpu['softmaxkit']:>6.2f}x" if side != "softmaxkit" else ""
                print(f"{name:<32} {threads:<9} {label:<24} {times[side]:>8.3f} {cpu[side]:>8.3f} "
                      f"{model.n_iter_[0]:>6} {model.score(X, y):>9.4f} {ratio:>7} {cpu_ratio:>7} "
                      f"{peaks[side]:>9.1f}", flush=True)
            agreement = np.max(np.abs(ours.predict_proba(X) - models["scikit-learn"].predict_proba(X)))
            print(f"{'':<32} {'':<9} largest |probability difference| {agreement:.1e}", flush=True)

if __name__ == "__main__":
    main()
