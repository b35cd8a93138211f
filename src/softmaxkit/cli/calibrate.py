"""``softmaxkit calibrate``: fit temperature (or vector) scaling on held-out logits.

The fit uses either separate files (``--fit-logits``/``--fit-labels``) or a
seeded random fraction of the rows (``--fit-fraction``); the metrics before
and after are measured on the rows not used for fitting. The fit and the
metrics are computed before anything is written; the calibrated
probabilities (``-o``) are then computed and written a block of rows at a
time, with a bar on a terminal, and every file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

from .. import _core, _progress
from ..calibration import (
    TemperatureScaler,
    VectorScaler,
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)
from ..calibration._inputs import logits_and_labels
from . import _io
from ._errors import CLIError

_PLOT_FORMATS = (".png", ".pdf", ".svg")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="fit temperature or vector scaling and report calibration before/after",
        description="Fit temperature scaling (or vector scaling) on held-out LOGITS (N x K) and "
        f"integer LABELS (N), each {_io.INPUT_FORMATS}. It fits on --fit-logits/--fit-labels "
        "when given, else on a random --fit-fraction of the rows, and reports accuracy, NLL, "
        "Brier score, ECE and MCE before and after on the other rows. -o writes the calibrated "
        "probabilities of all rows of LOGITS.",
    )
    parser.add_argument("logits", metavar="LOGITS", help="logits file (N x K)")
    parser.add_argument("labels", metavar="LABELS", help="labels file (N integers)")
    parser.add_argument("--method", choices=("temperature", "vector"), default="temperature",
                        help="temperature (default) or vector scaling (needs SciPy)")  # fmt: skip
    parser.add_argument("--fit-fraction", type=float, default=0.5, metavar="F",
                        help="fraction of the rows to fit on (default 0.5)")  # fmt: skip
    parser.add_argument("--fit-logits", metavar="FILE", help="separate logits to fit on")
    parser.add_argument("--fit-labels", metavar="FILE", help="separate labels to fit on")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fit/evaluation split")
    parser.add_argument("--bins", type=int, default=15, help="bins of ECE and the diagram (default 15)")
    parser.add_argument("--plot", metavar="FILE", help="write the reliability diagrams (.png, .pdf, .svg)")
    parser.add_argument("-o", "--output", metavar="OUTPUT", help="write calibrated probabilities")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if (args.fit_logits is None) != (args.fit_labels is None):
        raise CLIError("calibrate: give both --fit-logits and --fit-labels, or neither")
    if args.plot is not None and os.path.splitext(args.plot)[1].lower() not in _PLOT_FORMATS:
        raise CLIError(f"--plot {args.plot}: use a {', '.join(_PLOT_FORMATS)} file")
    _io.check_destination(args.output)
    _io.check_destination(args.plot)
    logits = _io.read_array(args.logits)
    labels = _labels(_io.read_array(args.labels), args.labels)
    # Checked whole, before any split, so an error names the row in the file.
    logits_and_labels(logits, labels)
    # The report and -o work on (N, K) rows: the library's (N,) binary decision
    # values would be one distribution over the rows in the "before" softmax.
    _rows_of_classes(logits, "LOGITS", len(labels))
    if args.fit_logits is not None:
        fit_logits = _io.read_array(args.fit_logits)
        fit_labels = _labels(_io.read_array(args.fit_labels), args.fit_labels)
        _rows_of_classes(fit_logits, f"--fit-logits {args.fit_logits}", len(fit_labels), logits.shape[1])
        eval_logits, eval_labels = logits, labels
    else:
        fit_rows, eval_rows = _split(len(labels), args.fit_fraction, args.seed)
        fit_logits, fit_labels = logits[fit_rows], labels[fit_rows]
        eval_logits, eval_labels = logits[eval_rows], labels[eval_rows]

    scaler = TemperatureScaler() if args.method == "temperature" else VectorScaler()
    scaler.fit(fit_logits, fit_labels)
    before = np.asarray(_core.softmax(np.asarray(eval_logits, dtype=np.float64), axis=-1))
    after = np.asarray(scaler.predict_proba(np.asarray(eval_logits, dtype=np.float64)))
    report = {
        "method": args.method,
        "fitted_on": len(fit_labels),
        "evaluated_on": len(eval_labels),
        **_parameters(scaler),
        "before": _metrics(before, eval_labels, args.bins),
        "after": _metrics(after, eval_labels, args.bins),
    }
    figure = None
    if args.plot is not None:
        figure = _diagrams(before, after, eval_labels, args.bins, _method_name(report))
    # Everything is computed; now write (each file atomically).
    if args.output is not None:
        _write_calibrated(scaler, logits, args.output)
    if figure is not None:
        suffix = os.path.splitext(args.plot)[1].lower()[1:]
        _io.write_atomically(args.plot, lambda handle: figure.savefig(handle, format=suffix))
    print(json.dumps(report, indent=2) if args.json else _table(report))
    return 0


def _write_calibrated(scaler: Any, logits: np.ndarray, destination: str) -> None:
    """The calibrated probabilities of every row of ``logits``, a block of rows at a time
    (a scaler works on each row alone)."""
    rows = _io.RowBlocks.of(logits, "LOGITS")
    with _progress.progress(len(logits), "softmaxkit calibrate", unit="row") as advance:

        def calibrated() -> Any:
            for block in rows.blocks(rows.rows_per_block()):
                yield np.asarray(scaler.predict_proba(np.asarray(block, dtype=np.float64)))
                advance(len(block))

        _io.write_rows(destination, len(logits), calibrated(), npz_key="probabilities")


def _labels(array: np.ndarray, source: str) -> np.ndarray:
    """A column or row of labels from a file as a 1-D array."""
    if array.ndim == 2 and 1 in array.shape:
        return array.ravel()
    if array.ndim != 1:
        raise CLIError(f"{source}: labels must be one integer per row, got shape {array.shape}")
    return array


def _rows_of_classes(logits: np.ndarray, source: str, n_rows: int, n_classes: int | None = None) -> None:
    """Refuse logits that are not one row of ``n_classes`` (any K when None) per label."""
    if logits.ndim != 2 or logits.shape[0] != n_rows or n_classes not in (None, logits.shape[1]):
        k = "K" if n_classes is None else n_classes
        raise CLIError(f"{source} must have shape ({n_rows}, {k}), one row per label, got {logits.shape}")


def _split(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0.0 < fraction < 1.0:
        raise CLIError(f"--fit-fraction must be in (0, 1), got {fraction!r}")
    n_fit = int(round(fraction * n_rows))
    if n_fit < 1 or n_fit >= n_rows:
        raise CLIError(
            f"--fit-fraction {fraction} of {n_rows} rows leaves no rows to fit on or to evaluate "
            f"on; use more rows or separate --fit-logits/--fit-labels"
        )
    order = np.random.default_rng(seed).permutation(n_rows)
    return order[:n_fit], order[n_fit:]


def _parameters(scaler: Any) -> dict[str, Any]:
    if isinstance(scaler, TemperatureScaler):
        return {"temperature": scaler.temperature_}
    return {"scale": scaler.scale_.tolist(), "bias": scaler.bias_.tolist()}


def _metrics(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, float]:
    labels = labels.astype(np.intp)
    return {
        "accuracy": float(np.mean(np.argmax(probs, axis=-1) == labels)),
        "nll": negative_log_likelihood(probs, labels),
        "brier": brier_score(probs, labels),
        "ece": expected_calibration_error(probs, labels, n_bins=n_bins),
        "mce": expected_calibration_error(probs, labels, n_bins=n_bins, norm="max"),
    }


def _table(report: dict[str, Any]) -> str:
    if report["method"] == "temperature":
        fitted = f"temperature T = {report['temperature']:.6g}"
    else:
        fitted = "per-class scale " + " ".join(f"{a:.3g}" for a in report["scale"])
    lines = [
        f"{report['method']} scaling fitted on {report['fitted_on']} rows: {fitted}",
        f"metrics on {report['evaluated_on']} held-out rows:",
        f"  {'':<10} {'before':>10} {'after':>10}",
    ]
    for name in ("accuracy", "nll", "brier", "ece", "mce"):
        lines.append(f"  {name:<10} {report['before'][name]:>10.4f} {report['after'][name]:>10.4f}")
    return "\n".join(lines)


def _method_name(report: dict[str, Any]) -> str:
    if report["method"] == "temperature":
        return f"temperature scaling (T = {report['temperature']:.3g})"
    return "vector scaling"


def _diagrams(before: np.ndarray, after: np.ndarray, labels: np.ndarray, n_bins: int,
              method: str) -> Any:  # fmt: skip
    """The before and after reliability diagrams side by side in one figure, titled with
    the method, their histograms on one count scale so that the two compare at a glance."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise CLIError('--plot needs matplotlib: pip install "softmaxkit[plot]"') from None
    from .. import plot

    figure = Figure(figsize=(11, 7.0), layout="constrained")
    panels: Any = figure.subfigures(1, 2)  # an array of two SubFigures
    titles = ("before calibration", f"after {method}")
    for panel, probs, title in zip(panels, (before, after), titles):
        plot.reliability_diagram(probs, labels, n_bins=n_bins, title=title, figure=panel)
    highest = max(panel.axes[1].get_ylim()[1] for panel in panels)
    for panel in panels:
        panel.axes[1].set_ylim(0, highest)
    return figure
