"""``softmaxkit demo``: train a softmax classifier on the built-in digits and calibrate it.

The story in one run: a nearly unregularised softmax regression is accurate
but overconfident; temperature scaling, fitted on a validation split, fixes
the confidence without changing a single prediction; label smoothing is the
training-time alternative. The pictures go to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .. import _core
from ..calibration import (
    TemperatureScaler,
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)
from ..datasets import load_digits
from . import _io
from ._errors import CLIError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Weak regularisation: the model fits the training digits almost perfectly
# and so is overconfident on new ones, which is what calibration is about.
_C = 1000.0
_LABEL_SMOOTHING = 0.1
_MAX_ITER = 300
_SHADES = " .:-=+*#%@"  # 10 grey levels for the 0..16 pixels


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train and calibrate a softmax classifier on the built-in digits",
        description="Train softmax regression on the built-in UCI digits (1,797 8x8 images), "
        "print accuracy, NLL, Brier score and ECE on held-out digits before and after "
        "temperature scaling and with label smoothing, show a few digits with their top-3 "
        "probabilities, and write the pictures as PNG files into --out. Needs scikit-learn "
        'and SciPy (pip install "softmaxkit[ml]"); the pictures need matplotlib '
        '("softmaxkit[plot]").',
    )
    parser.add_argument("--out", default="softmaxkit-demo", metavar="DIR",
                        help="folder for the PNG files (default softmaxkit-demo/)")  # fmt: skip
    parser.add_argument("--no-plots", action="store_true", help="skip the pictures")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/validation/test split")
    parser.set_defaults(run=run)


class Split(NamedTuple):
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    images_test: np.ndarray


def split_digits(seed: int) -> Split:
    """60% train, 20% validation (for the temperature), 20% test; pixels scaled to [0, 1]."""
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    n_train, n_valid = int(0.6 * len(order)), int(0.2 * len(order))
    parts = np.split(order, [n_train, n_train + n_valid])
    X, y = digits.data / 16.0, digits.target
    train, valid, test = parts
    return Split(X[train], y[train], X[valid], y[valid], X[test], y[test], digits.images[test])


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

        from ..models import SoftmaxRegression
    except ImportError:
        raise CLIError(
            'demo needs scikit-learn and SciPy for the classifier: pip install "softmaxkit[ml]"'
        ) from None
    plots = not args.no_plots and _check_plot_folder(args.out)
    data = split_digits(args.seed)
    print(f"UCI digits: {len(data.y_train)} training, {len(data.y_valid)} validation, "
          f"{len(data.y_test)} test images (8x8 pixels, 10 classes)\n")  # fmt: skip

    # One BLAS thread: these matrices are small, and extra threads only
    # contend for the cores (and make the iteration count depend on them).
    with threadpool_limits(limits=1):
        plain, smoothed = _train_both(SoftmaxRegression, data)
    logits_test = plain.decision_function(data.X_test)
    scaler = TemperatureScaler().fit(plain.decision_function(data.X_valid), data.y_valid)
    probs_before = np.asarray(_core.softmax(logits_test, axis=1))
    probs_after = np.asarray(scaler.predict_proba(logits_test))
    probs_smoothed = smoothed.predict_proba(data.X_test)

    print(f"\nTemperature fitted on the validation digits: T = {scaler.temperature_:.3f} "
          f"({'the model was overconfident' if scaler.temperature_ > 1 else 'the model was underconfident'})\n")  # fmt: skip
    print(f"On the {len(data.y_test)} test digits (lower is better except accuracy):")
    rows = [
        ("softmax regression", probs_before),
        (f"+ temperature scaling (T = {scaler.temperature_:.2f})", probs_after),
        (f"label smoothing {_LABEL_SMOOTHING:g} instead", probs_smoothed),
    ]
    scores = [Scores.of(probs, data.y_test) for _, probs in rows]
    print(_metrics_table([name for name, _ in rows], scores))
    plain, scaled, smoothed = scores
    print("\n" + narration(plain, scaled, smoothed, len(data.y_test)) + "\n")

    shown = _digits_to_show(probs_before, data.y_test)
    print("A few test digits, with the top-3 probabilities before -> after temperature scaling:\n")
    for i in shown:
        print(_digit_report(data.images_test[i], data.y_test[i], probs_before[i], probs_after[i]))

    if plots:
        written = _write_pictures(args.out, data, probs_before, probs_after, logits_test[shown[0]],
                                  f"a test digit (true digit {data.y_test[shown[0]]}): its logits and "
                                  f"probabilities")  # fmt: skip
        print(f"Pictures written to {args.out}{os.sep}: " + ", ".join(written))
    elif not args.no_plots:
        print('matplotlib is not installed, so no pictures were drawn: pip install "softmaxkit[plot]"')
    print(f"\nDone in {time.perf_counter() - started:.1f} s.")
    return 0


def _train_both(estimator: Any, data: Split) -> tuple[Any, Any]:
    plain = _train(estimator(C=_C, max_iter=_MAX_ITER), data, "softmax regression")
    smoothed = _train(
        estimator(C=_C, max_iter=_MAX_ITER, label_smoothing=_LABEL_SMOOTHING),
        data, f"with label smoothing {_LABEL_SMOOTHING:g}",
    )  # fmt: skip
    return plain, smoothed


def _train(model: Any, data: Split, name: str) -> Any:
    bar = _ProgressBar(f"training {name}", model.max_iter)
    model.set_params(callback=bar.update).fit(data.X_train, data.y_train)
    bar.finish(model.n_iter_[0])
    return model


class _ProgressBar:
    """One line on stderr, redrawn in place: ``[#####.....] iteration 40/300``."""

    def __init__(self, label: str, total: int, width: int = 30):
        self.label, self.total, self.width = label, total, width
        self.started = time.perf_counter()
        self.interactive = sys.stderr.isatty()

    def update(self, iteration: int, objective: float) -> None:
        if self.interactive:
            self._draw(iteration, f"objective {objective:.4f}")

    def finish(self, iterations: int) -> None:
        seconds = time.perf_counter() - self.started
        # A converged fit fills the bar: it stopped early because it was done.
        done = "converged in" if iterations < self.total else "stopped after"
        self._draw(self.total, f"{done} {iterations} iterations, {seconds:.1f} s")
        sys.stderr.write("\n")
        sys.stderr.flush()

    def _draw(self, iteration: int, note: str) -> None:
        filled = int(self.width * min(iteration, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        sys.stderr.write(f"\r{self.label:<40} [{bar}] {note:<45}")
        sys.stderr.flush()


class Scores(NamedTuple):
    """What the table shows of one set of predicted probabilities, and their mean confidence."""

    accuracy: float
    nll: float
    brier: float
    ece: float
    confidence: float

    @classmethod
    def of(cls, probs: np.ndarray, labels: np.ndarray) -> Scores:
        return cls(float(np.mean(np.argmax(probs, axis=1) == labels)),
                   negative_log_likelihood(probs, labels), brier_score(probs, labels),
                   expected_calibration_error(probs, labels), float(np.mean(probs.max(axis=1))))  # fmt: skip


def _metrics_table(names: list[str], scores: list[Scores]) -> str:
    header = f"  {'':<40} {'accuracy':>9} {'NLL':>7} {'Brier':>7} {'ECE':>7}"
    lines = [header]
    for name, s in zip(names, scores):
        lines.append(f"  {name:<40} {s.accuracy:>9.4f} {s.nll:>7.4f} {s.brier:>7.4f} {s.ece:>7.4f}")
    return "\n".join(lines)


def narration(plain: Scores, scaled: Scores, smoothed: Scores, count: int) -> str:
    """What the table's numbers say about ``count`` test predictions, in words: written
    from the numbers, so that it never praises an improvement that did not happen.

    >>> plain = Scores(0.96, 0.114, 0.053, 0.0269, 0.98)
    >>> scaled = Scores(0.96, 0.090, 0.048, 0.0287, 0.95)
    >>> print(narration(plain, scaled, Scores(0.96, 0.25, 0.09, 0.15, 0.81), 360))
    Temperature scaling never changes a prediction (same argmax), only the confidence.
    Here it lowered the NLL (0.1140 -> 0.0900) and the Brier score (0.0530 -> 0.0480) but
    raised the ECE (0.0269 -> 0.0287): the ECE sorts 360 predictions into 15 bins, a coarse
    measure at this size; the NLL, which temperature scaling minimises, needs no bins.
    Label smoothing lowered the confidence at training time by too much: a mean confidence
    of 0.8100 for an accuracy of 0.9600 (underconfident), ECE 0.1500.
    """
    lowered: list[str] = []
    raised: list[str] = []
    for name, before, after in (("NLL", plain.nll, scaled.nll), ("Brier score", plain.brier, scaled.brier),
                                ("ECE", plain.ece, scaled.ece)):  # fmt: skip
        # Compared as printed, so that the words agree with the table's digits.
        before, after = round(before, 4), round(after, 4)
        change = f"the {name} ({before:.4f} -> {after:.4f})"
        if after != before:
            (lowered if after < before else raised).append(change)  # pragma: no mutate
    if lowered or raised:
        said = ["lowered " + _and(lowered)] if lowered else []
        said += ["raised " + _and(raised)] if raised else []
        scaling = "Here it " + " but ".join(said)
        if lowered and any(name.startswith("the ECE") for name in raised):
            scaling += (f": the ECE sorts {count} predictions into 15 bins, a coarse measure "
                        "at this size; the NLL, which temperature scaling minimises, needs "
                        "no bins")  # fmt: skip
        scaling += "."
    else:
        scaling = "Here it changed none of the NLL, the Brier score and the ECE in the 4th decimal."
    if smoothed.confidence >= plain.confidence:
        how = "did not lower the confidence here"
    elif smoothed.confidence < smoothed.accuracy:
        how = "lowered the confidence at training time by too much"
    else:
        how = "lowered the confidence at training time, but not below the accuracy"
    verdict = "underconfident" if smoothed.confidence < smoothed.accuracy else "overconfident"
    smoothing = (f"Label smoothing {how}: a mean confidence of {smoothed.confidence:.4f} for an "
                 f"accuracy of {smoothed.accuracy:.4f} ({verdict}), ECE {smoothed.ece:.4f}.")  # fmt: skip
    paragraphs = ["Temperature scaling never changes a prediction (same argmax), only the confidence.",
                  scaling, smoothing]  # fmt: skip
    return "\n".join(textwrap.fill(p, 88) for p in paragraphs)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _digits_to_show(probs: np.ndarray, labels: np.ndarray) -> list[int]:
    """A confident right answer, a hesitant one, and a mistake (when there is one)."""
    confidence = probs.max(axis=1)
    right = np.flatnonzero(probs.argmax(axis=1) == labels)
    wrong = np.flatnonzero(probs.argmax(axis=1) != labels)
    # Right with about 95% (temperature scaling moves it visibly), and the least sure right one.
    chosen = [int(right[np.argmin(np.abs(confidence[right] - 0.95))]),
              int(right[np.argmin(confidence[right])])]  # fmt: skip
    if wrong.size:
        chosen.append(int(wrong[np.argmax(confidence[wrong])]))
    return chosen


def _digit_report(image: np.ndarray, label: int, before: np.ndarray, after: np.ndarray) -> str:
    art = ["".join(_SHADES[min(int(v) * len(_SHADES) // 17, len(_SHADES) - 1)] * 2 for v in row)
           for row in image]  # fmt: skip
    top = np.argsort(-before, kind="stable")[:3]
    verdict = "right" if top[0] == label else "WRONG"
    notes = [f"true digit: {label}   predicted: {top[0]} ({verdict})", ""]
    notes += [f"  {k}: {before[k]:7.2%} -> {after[k]:7.2%}" for k in top]
    if label not in top:
        notes += [f"  ({label}: {before[label]:7.2%} -> {after[label]:7.2%}, the true digit)"]
    notes += [""] * (len(art) - len(notes))  # pragma: no mutate
    return "\n".join(f"    |{a}|   {n}" for a, n in zip(art, notes)) + "\n"


def _check_plot_folder(out: str) -> bool:
    """False when matplotlib is missing; an error when ``out`` cannot be a folder."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    if os.path.exists(out) and not os.path.isdir(out):
        raise CLIError(f"--out {out}: exists and is not a folder")
    return True


def _write_pictures(out: str, data: Split, before: np.ndarray, after: np.ndarray,
                    one_logit_row: np.ndarray, digit_title: str) -> list[str]:  # fmt: skip
    from .. import plot

    os.makedirs(out, exist_ok=True)
    names = [str(k) for k in range(10)]
    figures = {
        "reliability-before.png": plot.reliability_diagram(
            before, data.y_test, title="test digits, before temperature scaling"),
        "reliability-after.png": plot.reliability_diagram(
            after, data.y_test, title="test digits, after temperature scaling"),
        "probability-bars.png": plot.probability_bars(one_logit_row, labels=names),
        "temperature-sweep.png": plot.temperature_sweep(one_logit_row, labels=names),
        "loss-curve.png": plot.loss_curve(),
    }  # fmt: skip
    figures["probability-bars.png"].suptitle(digit_title)
    for name, figure in figures.items():
        def save(handle: IO[bytes], figure: Figure = figure) -> None:
            figure.savefig(handle, dpi=100, format="png")

        _io.write_atomically(os.path.join(out, name), save)
    return list(figures)
