"""Pictures that explain softmax and calibration (matplotlib: the ``plot`` extra).

* :func:`reliability_diagram`: accuracy against confidence per bin, the gap
  shaded, the confidence histogram underneath, the ECE in the title.
* :func:`probability_bars`: logits and their softmax probabilities side by side.
* :func:`temperature_sweep`: each class's probability as the inverse
  temperature beta = 1/T goes from near 0 (uniform) to large (argmax).
* :func:`loss_curve`: the cross-entropy ``-log p`` against ``p``.

Each function builds a :class:`matplotlib.figure.Figure` without pyplot and
returns it: nothing is shown and no global figure state is touched. Save it
with ``fig.savefig("file.png")``; in a notebook it displays as the cell's value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._core import softmax
from .calibration._inputs import as_numpy, probabilities_and_labels
from .calibration.metrics import expected_calibration_error, reliability_curve

__all__ = ["loss_curve", "probability_bars", "reliability_diagram", "temperature_sweep"]

_ACCURACY = "#1f77b4"
_GAP = "#d62728"
_NEUTRAL = "#7f7f7f"


def _figure(**kwargs: Any):
    """A new constrained-layout Figure, or an ImportError that says what to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'softmaxkit.plot needs matplotlib: pip install matplotlib (or "softmaxkit[plot]")'
        ) from None
    return Figure(layout="constrained", **kwargs)


def reliability_diagram(
    probs: Any,
    labels: Any,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    title: str | None = None,
    figure: Any = None,
):
    """Reliability diagram: does a stated confidence of 80% mean 80% right?

    The top panel has one bar per bin at the bin's accuracy, a red band
    from the accuracy to the bin's mean confidence (the gap ECE averages)
    and the diagonal of perfect calibration; the bottom panel counts the
    predictions per bin. Bins as in :mod:`softmaxkit.calibration.metrics`.

    Parameters
    ----------
    probs, labels, n_bins, strategy
        As in :func:`softmaxkit.calibration.reliability_curve`.
    title : str, optional
        Placed before the ECE in the title.
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure, e.g. one panel of
        ``Figure.subfigures``, instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0]`` (bars: ``containers[0]`` accuracy, ``containers[1]``
        the gap from ``min(accuracy, confidence)`` to the max; ``lines[0]``
        the mean confidences of the non-empty bins) and ``fig.axes[1]``
        (histogram: ``containers[0]``).

    Examples
    --------
    >>> from softmaxkit.plot import reliability_diagram
    >>> fig = reliability_diagram([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]], [0, 0, 0], n_bins=5)
    >>> fig.axes[0].get_title()
    'ECE = 0.400 (3 predictions, 5 bins)'
    """
    p, y = probabilities_and_labels(probs, labels)
    curve = reliability_curve(p, y, n_bins=n_bins, strategy=strategy)
    ece = expected_calibration_error(p, y, n_bins=n_bins, strategy=strategy)
    fig = _figure(figsize=(5.5, 6.5)) if figure is None else figure
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    left, width = curve.bin_edges[:-1], np.diff(curve.bin_edges)
    filled = curve.count > 0
    accuracy = np.where(filled, curve.accuracy, 0.0)
    confidence = np.where(filled, curve.confidence, 0.0)
    top.bar(left, accuracy, width=width, align="edge", color=_ACCURACY, edgecolor="white",
            label="accuracy in the bin")  # fmt: skip
    # The gap spans accuracy..confidence whichever is larger: above the bar
    # for overconfidence, inside it for underconfidence.
    top.bar(left, np.abs(confidence - accuracy), bottom=np.minimum(accuracy, confidence),
            width=width, align="edge", color=_GAP, alpha=0.35, edgecolor=_GAP, hatch="//",
            label="gap to the mean confidence")  # fmt: skip
    centres = left + width / 2
    top.plot(centres[filled], confidence[filled], "_", color="black", markersize=12,
             markeredgewidth=2, linestyle="none", label="mean confidence in the bin")  # fmt: skip
    top.plot([0, 1], [0, 1], "--", color="black", linewidth=1, label="perfect calibration")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    top.legend(loc="upper left", frameon=False)
    heading = f"ECE = {ece:.3f} ({len(y)} predictions, {curve.count.size} bins)"
    top.set_title(heading if title is None else f"{title}\n{heading}")
    counts = bottom.bar(left, curve.count, width=width, align="edge", color=_NEUTRAL,
                        edgecolor="white")  # fmt: skip
    # Small bins are invisible next to a full one: their counts say how
    # little a bar above rests on.
    bottom.bar_label(counts, labels=[str(n) if n else "" for n in curve.count], fontsize="small")
    bottom.set_ylim(0, 1.25 * max(int(curve.count.max()), 1))
    bottom.set(xlabel="confidence (largest predicted probability)", ylabel="predictions")
    return fig


def probability_bars(logits: Any, *, temperature: float = 1.0, labels: Any = None, figure: Any = None):
    """The logits of one prediction beside their softmax probabilities.

    Shows how softmax turns scores into probabilities: the order is kept,
    differences are exponentiated, and a temperature flattens (T > 1) or
    sharpens (T < 1) the result.

    Parameters
    ----------
    logits : array_like
        One row of logits, shape (K,).
    temperature : float, optional
        The probabilities are ``softmax(logits / temperature)``.
    labels : sequence of str, optional
        Class names (default "0", "1", ...).
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[0]`` the logits, ``fig.axes[1]`` the probabilities (bars in
        ``containers[0]`` of each).

    Examples
    --------
    >>> from softmaxkit.plot import probability_bars
    >>> fig = probability_bars([2.0, 1.0, 0.1], labels=["cat", "dog", "bird"])
    >>> [round(float(bar.get_height()), 3) for bar in fig.axes[1].containers[0]]
    [0.659, 0.242, 0.099]
    """
    z = _one_row(logits)
    names = _class_names(labels, z.size)
    p = np.asarray(softmax(z, temperature=temperature))
    fig = _figure(figsize=(9, 3.6)) if figure is None else figure
    left, right = fig.subplots(1, 2)
    positions = np.arange(z.size)
    left.bar(positions, z, color=_NEUTRAL)
    left.axhline(0, color="black", linewidth=0.8)
    left.set(title="logits (any real number)", ylabel="logit", xticks=positions)
    left.set_xticklabels(names)
    bars = right.bar(positions, p, color=_ACCURACY)
    right.bar_label(bars, labels=[f"{v:.2f}" for v in p], padding=2)
    suffix = "" if temperature == 1.0 else f" / {temperature:g}"
    right.set(title=f"probabilities = softmax(logits{suffix})",
              ylabel="probability", ylim=(0, 1.1), xticks=positions)  # fmt: skip
    right.set_xticklabels(names)
    return fig


def temperature_sweep(
    logits: Any, *, temperatures: Any = None, labels: Any = None, figure: Any = None
):
    """Each class's probability as the inverse temperature beta = 1/T grows.

    At beta near 0 (hot) softmax is uniform; at large beta (cold) it becomes
    the argmax; beta = 1 is the plain softmax (dotted line).

    Parameters
    ----------
    logits : array_like
        One row of logits, shape (K,).
    temperatures : array_like, optional
        Temperatures T > 0 to draw. Default: 200 values of beta = 1/T,
        evenly spaced on a log scale from ``min(0.01, 0.1 / ptp)`` to
        ``max(100, 10 / ptp)``, where ``ptp`` is the logits' max - min.
    labels : sequence of str, optional
        Class names for the legend.
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        One line per class in ``fig.axes[0].lines[:K]``, x data beta = 1/T.

    Examples
    --------
    >>> from softmaxkit.plot import temperature_sweep
    >>> fig = temperature_sweep([2.0, 1.0, 0.1], temperatures=[100.0, 1.0, 0.01])
    >>> [round(float(v), 3) for v in fig.axes[0].lines[0].get_ydata()]
    [0.337, 0.659, 1.0]
    """
    z = _one_row(logits)
    names = _class_names(labels, z.size)
    if temperatures is None:
        # Wide enough that both ends are reached for logits of any spread.
        spread = max(float(np.ptp(z)), 1e-300)
        beta = np.geomspace(min(0.01, 0.1 / spread), max(100.0, 10.0 / spread), 200)
    else:
        t = np.asarray(as_numpy(temperatures, name="temperatures"), dtype=np.float64).ravel()
        if t.size == 0 or not np.all(np.isfinite(t) & (t > 0)):
            raise ValueError(f"temperatures must be finite numbers > 0, got {t.tolist()}")
        beta = 1.0 / t
    p = np.asarray(softmax(beta[:, None] * z[None, :], axis=1))
    fig = _figure(figsize=(8, 4.2)) if figure is None else figure
    ax = fig.subplots()
    for k in range(z.size):
        ax.plot(beta, p[:, k], label=f"{names[k]} (logit {z[k]:.3g})")
    ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
    ax.axhline(1.0 / z.size, color=_NEUTRAL, linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set(xlabel="inverse temperature beta = 1/T (log scale)", ylabel="probability", ylim=(0, 1.02),
           title="softmax(beta * logits) as the inverse temperature beta grows")  # fmt: skip
    ax.text(0.02, 0.55, "hot (T large):\nclose to uniform", transform=ax.transAxes, va="bottom")
    ax.text(0.98, 0.55, "cold (T small):\nclose to argmax", transform=ax.transAxes, va="bottom",
            ha="right")  # fmt: skip
    ax.text(1.0, 0.02, " T = 1: plain softmax", transform=ax.get_xaxis_transform(), va="bottom",
            fontsize="small")  # fmt: skip
    ax.legend(frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def loss_curve():
    """The cross-entropy ``-log p`` of the true class against its probability ``p``.

    Being confident and wrong costs the most: ``p = 0.01`` costs 4.6 nats,
    ten times ``p = 0.63``; a confident right answer costs almost nothing.

    Returns
    -------
    matplotlib.figure.Figure
        The curve in ``fig.axes[0].lines[0]`` (x = p, y = -log p).

    Examples
    --------
    >>> from softmaxkit.plot import loss_curve
    >>> line = loss_curve().axes[0].lines[0]
    >>> x, y = line.get_xdata(), line.get_ydata()
    >>> bool(abs(y[0] + float(__import__("numpy").log(x[0]))) < 1e-12)
    True
    """
    p = np.linspace(0.005, 1.0, 400)
    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(p, -np.log(p), color=_GAP, linewidth=2)
    points = ((0.01, "confident and wrong", "left"), (0.5, "a coin flip", "left"),
              (0.99, "confident and right", "right"))  # fmt: skip
    for q, where, side in points:
        ax.plot([q], [-np.log(q)], "o", color="black")
        ax.annotate(f"{where}:\np = {q:g}, loss = {-np.log(q):.2f}", (q, -np.log(q)),
                    xytext=(10, 10) if side == "left" else (-4, 24), textcoords="offset points",
                    ha=side)  # fmt: skip
    ax.set(xlabel="probability given to the true class, p", ylabel="cross-entropy loss, -log p",
           title="Cross-entropy punishes confident mistakes most", xlim=(0, 1.02), ylim=(0, 5.5))  # fmt: skip
    return fig


def _one_row(logits: Any) -> np.ndarray:
    z = np.asarray(as_numpy(logits, name="logits"), dtype=np.float64)
    if z.ndim != 1 or z.size < 2:
        raise ValueError(f"logits must be one row of at least 2 logits, shape (K,), got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be finite, got {z.tolist()}")
    return z


def _class_names(labels: Any, n_classes: int) -> list[str]:
    if labels is None:
        return [str(k) for k in range(n_classes)]
    names = [str(name) for name in labels]
    if len(names) != n_classes:
        raise ValueError(f"labels must name all {n_classes} classes, got {len(names)}: {names}")
    return names
