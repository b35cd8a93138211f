"""Pictures that explain softmax and calibration (matplotlib: the ``plot`` extra).

* :func:`reliability_diagram`: accuracy against confidence per bin, the gap
  shaded, bins shaded by how many predictions they hold, the confidence
  histogram underneath, the ECE in the title.
* :func:`probability_bars`: logits and their softmax probabilities side by side.
* :func:`temperature_sweep`: each class's probability as the inverse
  temperature β = 1/T goes from near 0 (uniform) to large (argmax).
* :func:`loss_curve`: the cross-entropy ``-log p`` against ``p``.

Each function builds a :class:`matplotlib.figure.Figure` without pyplot and
returns it: nothing is shown and no global figure state is touched. Save it
with ``fig.savefig("file.png")``; in a notebook it displays as the cell's value.
To draw into your own figure, pass ``ax=`` (axes you made, e.g. with
``plt.subplots``) or ``figure=`` (an empty Figure or SubFigure).

Any number of classes: past :data:`MAX_ROWS` classes the bars show the
:data:`TOP_ROWS` most probable ones and one "others" row that adds up the
rest, and the sweep draws the :data:`TOP_CURVES` most probable classes and
one "others" curve; the picture says so. Nothing grows with the number of
classes but the arithmetic, so 100,000 classes draw in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence, overload

import numpy as np

from ._core import softmax
from ._typing import ArrayLike, AxesArg, BinStrategy, FigureT, Labels
from .calibration._inputs import as_numpy, probabilities_and_labels
from .calibration.metrics import expected_calibration_error, reliability_curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure

__all__ = [
    "loss_curve",
    "probability_bars",
    "probability_bars_height",
    "reliability_diagram",
    "temperature_sweep",
]

#: Up to this many classes every class gets its own bar.
MAX_ROWS = 30
#: Past MAX_ROWS: bars for this many most probable classes, then one "others" row.
TOP_ROWS = 20
#: Curves in the temperature sweep: every class up to this many, else the most
#: probable TOP_CURVES - 1 and one "others" curve.
TOP_CURVES = 10

_ACCURACY = "#1f77b4"
_OVERCONFIDENT = "#d62728"
_UNDERCONFIDENT = "#ff7f0e"
_NEUTRAL = "#7f7f7f"
_OTHERS = "#555555"
# Bins are shaded by their share of the fullest bin's predictions, down to this.
_FAINTEST = 0.12
# Sweep probabilities are computed this many numbers at a time (memory stays small
# at 100,000 classes).
_SWEEP_CHUNK = 1 << 20


@overload
def reliability_diagram(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    title: str | None = None,
    ax: None = None,
    figure: None = None,
) -> Figure: ...
@overload
def reliability_diagram(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    title: str | None = None,
    ax: None = None,
    figure: FigureT,
) -> FigureT: ...
@overload
def reliability_diagram(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    title: str | None = None,
    ax: AxesArg,
    figure: None = None,
) -> Figure | SubFigure: ...


def reliability_diagram(
    probs: Any,
    labels: Any,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    title: str | None = None,
    ax: Any = None,
    figure: Any = None,
) -> Figure | SubFigure:
    """Reliability diagram: does a stated confidence of 80% mean 80% right?

    The top panel has one bar per bin at the bin's accuracy, a band from the
    accuracy to the bin's mean confidence (the gap ECE averages: red where
    the model is overconfident, orange where underconfident) and the
    diagonal of perfect calibration. Each bin is shaded by how many
    predictions it holds relative to the fullest bin, so a bin of 3
    predictions is faint next to one of 300, as it weighs in the ECE. The
    bottom panel counts the predictions per bin. Bins as in
    :mod:`softmaxkit.calibration.metrics`.

    Parameters
    ----------
    probs, labels, n_bins, strategy
        As in :func:`softmaxkit.calibration.reliability_curve`.
    title : str, optional
        Placed before the ECE in the title.
    ax : matplotlib.axes.Axes or a pair of them, optional
        Draw into these axes: one Axes takes the reliability panel only, a
        pair ``(top, bottom)`` takes it and the histogram.
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure, e.g. one panel of
        ``Figure.subfigures``, instead of a new one. Not with ``ax``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn in: ``axes[0]`` (bars: ``containers[0]`` accuracy,
        ``containers[1]`` the gap from ``min(accuracy, confidence)`` to the
        max; ``lines[0]`` the mean confidences of the non-empty bins) and
        ``axes[1]`` (histogram: ``containers[0]``), where ``axes`` is the
        figure's axes or, with ``ax=``, the axes given.

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
    fig, axes = _axes(ax, figure, 2, figsize=(5.5, 7.0),
                      subplots={"nrows": 2, "sharex": True, "height_ratios": [3, 1]})  # fmt: skip
    top = axes[0]
    left, width = curve.bin_edges[:-1], np.diff(curve.bin_edges)
    filled = curve.count > 0
    accuracy = np.where(filled, curve.accuracy, 0.0)
    confidence = np.where(filled, curve.confidence, 0.0)
    weight = curve.count / max(int(curve.count.max()), 1)
    shade = np.where(filled, _FAINTEST + (1.0 - _FAINTEST) * weight, 0.0)
    top.bar(left, accuracy, width=width, align="edge", color=_rgba(_ACCURACY, shade),
            edgecolor="white")  # fmt: skip
    # The gap spans accuracy..confidence whichever is larger: above the bar
    # for overconfidence, inside it for underconfidence.
    gap_colour = np.where(confidence >= accuracy, _OVERCONFIDENT, _UNDERCONFIDENT)
    top.bar(left, np.abs(confidence - accuracy), bottom=np.minimum(accuracy, confidence),
            width=width, align="edge", color=[_rgba(c, 0.35 * s) for c, s in zip(gap_colour, shade)],
            edgecolor=[_rgba(c, 0.3 + 0.7 * s) for c, s in zip(gap_colour, shade)],
            hatch="//")  # fmt: skip
    centres = left + width / 2
    top.plot(centres[filled], confidence[filled], "_", color="black", markersize=12,
             markeredgewidth=2, linestyle="none")  # fmt: skip
    top.plot([0, 1], [0, 1], "--", color="black", linewidth=1)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    heading = f"ECE = {ece:.3f} ({len(y)} predictions, {curve.count.size} bins)"
    top.set_title(heading if title is None else f"{title}\n{heading}")
    legend = _reliability_legend()
    if len(axes) == 1:
        top.set_xlabel("confidence (largest predicted probability)")
        top.legend(handles=legend, loc="upper left", frameon=False, fontsize="small")
        return fig
    bottom = axes[1]
    counts = bottom.bar(left, curve.count, width=width, align="edge", color=_NEUTRAL,
                        edgecolor="white")  # fmt: skip
    # Small bins are invisible next to a full one: their counts say how
    # little a bar above rests on.
    bottom.bar_label(counts, labels=[str(n) if n else "" for n in curve.count], fontsize="small")
    bottom.set_ylim(0, 1.25 * max(int(curve.count.max()), 1))
    bottom.set(xlabel="confidence (largest predicted probability)", ylabel="predictions")
    # Below the histogram, where no bar can hide it.
    fig.legend(handles=legend, loc="outside lower center", ncols=2, frameon=False, fontsize="small")
    return fig


@overload
def probability_bars(
    logits: ArrayLike,
    *,
    temperature: float = 1.0,
    labels: Sequence[str] | None = None,
    ax: None = None,
    figure: None = None,
) -> Figure: ...
@overload
def probability_bars(
    logits: ArrayLike,
    *,
    temperature: float = 1.0,
    labels: Sequence[str] | None = None,
    ax: None = None,
    figure: FigureT,
) -> FigureT: ...
@overload
def probability_bars(
    logits: ArrayLike,
    *,
    temperature: float = 1.0,
    labels: Sequence[str] | None = None,
    ax: AxesArg,
    figure: None = None,
) -> Figure | SubFigure: ...


def probability_bars(
    logits: Any,
    *,
    temperature: float = 1.0,
    labels: Any = None,
    ax: Any = None,
    figure: Any = None,
) -> Figure | SubFigure:
    """The logits of one prediction beside their softmax probabilities.

    Shows how softmax turns scores into probabilities: the order is kept,
    differences are exponentiated, and a temperature flattens (T > 1) or
    sharpens (T < 1) the result. One row per class; past :data:`MAX_ROWS`
    classes, the :data:`TOP_ROWS` most probable ones (most probable first)
    and a last row "others" with the rest: their probabilities added up and
    the range of their logits.

    Parameters
    ----------
    logits : array_like
        One row of finite logits, shape (K,), K >= 2.
    temperature : float, optional
        The probabilities are ``softmax(logits / temperature)``.
    labels : sequence of str, optional
        Class names (default "0", "1", ...).
    ax : matplotlib.axes.Axes or a pair of them, optional
        One Axes takes the probabilities only; a pair ``(left, right)`` the
        logits and the probabilities.
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure instead of a new one. Not with ``ax``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn in. Horizontal bars, first row at the top:
        ``axes[0]`` the logits, ``axes[1]`` the probabilities (bar lengths
        ``bar.get_width()`` in ``containers[0]`` of each), the y tick labels
        the class names.

    Examples
    --------
    >>> from softmaxkit.plot import probability_bars
    >>> fig = probability_bars([2.0, 1.0, 0.1], labels=["cat", "dog", "bird"])
    >>> [round(float(bar.get_width()), 3) for bar in fig.axes[1].containers[0]]
    [0.659, 0.242, 0.099]
    """
    z = _one_row(logits)
    names = _class_names(labels, z.size)
    p = np.asarray(softmax(z, temperature=temperature))
    rows = _rows(z, p, names)
    fig, axes = _axes(ax, figure, 2, figsize=(9, probability_bars_height(z.size)),
                      subplots={"ncols": 2, "sharey": True})  # fmt: skip
    positions = np.arange(len(rows.names))
    prob_ax = axes[-1]
    if len(axes) == 2:
        _logit_panel(axes[0], rows, positions)
    bars = prob_ax.barh(positions, rows.probabilities, color=_ACCURACY)
    if rows.others:
        bars[-1].set(color=_OTHERS, hatch="//", edgecolor="white")
    prob_ax.bar_label(bars, labels=[_format_probability(v) for v in rows.probabilities],
                      padding=3, fontsize="small")  # fmt: skip
    suffix = "" if temperature == 1.0 else f" / {temperature:g}"
    prob_ax.set(title=f"probabilities = softmax(logits{suffix})", xlabel="probability",
                xlim=(0, 1.2), xticks=[0, 0.25, 0.5, 0.75, 1.0])  # fmt: skip
    _class_axis(axes[0], positions, rows.names)
    if rows.others:
        fig.supxlabel(
            f"The {len(rows.names) - 1} most probable of {z.size:,} classes; the last row adds "
            f"up the other {rows.others:,}.",
            fontsize="small",
        )
    return fig


def probability_bars_height(n_classes: int) -> float:
    """The height in inches of :func:`probability_bars`'s own figure for ``n_classes``.

    It grows with the rows drawn, at most ``TOP_ROWS + 1`` of them past
    ``MAX_ROWS`` classes: use it to size a figure that holds the bars beside
    other panels.

    Parameters
    ----------
    n_classes : int
        The number of classes (logits) the bars will show.

    Returns
    -------
    float
        The height in inches, at least 2.8.

    Examples
    --------
    >>> from softmaxkit.plot import probability_bars_height
    >>> probability_bars_height(3), probability_bars_height(100_000)
    (2.8, 7.8)
    """
    rows = n_classes if n_classes <= MAX_ROWS else TOP_ROWS + 1
    return round(max(2.8, 1.5 + 0.3 * rows), 2)


@overload
def temperature_sweep(
    logits: ArrayLike,
    *,
    temperature: float | None = None,
    temperatures: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    ax: None = None,
    figure: None = None,
) -> Figure: ...
@overload
def temperature_sweep(
    logits: ArrayLike,
    *,
    temperature: float | None = None,
    temperatures: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    ax: None = None,
    figure: FigureT,
) -> FigureT: ...
@overload
def temperature_sweep(
    logits: ArrayLike,
    *,
    temperature: float | None = None,
    temperatures: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    ax: AxesArg,
    figure: None = None,
) -> Figure | SubFigure: ...


def temperature_sweep(
    logits: Any,
    *,
    temperature: float | None = None,
    temperatures: Any = None,
    labels: Any = None,
    ax: Any = None,
    figure: Any = None,
) -> Figure | SubFigure:
    """Each class's probability as the inverse temperature β = 1/T grows.

    At β near 0 (hot) softmax is uniform; at large β (cold) it becomes the
    argmax; β = 1 is the plain softmax (dotted line, named on the top axis).
    Past :data:`TOP_CURVES` classes, the most probable classes get a curve
    each and one dashed curve adds up the others.

    Parameters
    ----------
    logits : array_like
        One row of finite logits, shape (K,), K >= 2.
    temperature : float, optional
        A temperature to mark (solid line, named on the top axis); the
        default sweep reaches ten times past it.
    temperatures : array_like, optional
        Temperatures T > 0 to draw. Default: 200 values of β = 1/T, evenly
        spaced on a log scale from where softmax is within 1% of uniform
        (``β = min(0.01, 0.1 / ptp)``, ``ptp`` the logits' max - min) to
        where it is one-hot to the eye (``β = max(100, 20 / gap)``, ``gap``
        the distance from the largest logit to the next one), widened to
        a tenth and ten times the marked β.
    labels : sequence of str, optional
        Class names for the legend.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure instead of a new one. Not with ``ax``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn in. One line per class drawn (most probable first
        past TOP_CURVES classes, else in class order) in ``axes[0].lines``,
        x data β = 1/T; with ``others`` the last of them.

    Examples
    --------
    >>> from softmaxkit.plot import temperature_sweep
    >>> fig = temperature_sweep([2.0, 1.0, 0.1], temperatures=[100.0, 1.0, 0.01])
    >>> [round(float(v), 3) for v in fig.axes[0].lines[0].get_ydata()]
    [0.337, 0.659, 1.0]
    """
    z = _one_row(logits)
    names = _class_names(labels, z.size)
    marked = None if temperature is None else 1.0 / _positive(temperature, "temperature")
    if marked == 1.0:
        marked = None  # the dotted line of plain softmax marks it already
    if temperatures is None:
        beta = _default_betas(z, marked)
    else:
        beta = 1.0 / _positive_array(temperatures, "temperatures")
    if z.size <= TOP_CURVES:
        shown, others = np.arange(z.size), 0
    else:
        shown, others = _most_probable(z, TOP_CURVES - 1), z.size - (TOP_CURVES - 1)
    p_shown, p_others = _sweep(z, beta, shown)
    fig, axes = _axes(ax, figure, 1, figsize=(8.5, 4.6), subplots={})
    ax = axes[0]
    for column, k in enumerate(shown):
        ax.plot(beta, p_shown[:, column], label=f"{names[k]} (logit {z[k]:.3g})")
    if others:
        ax.plot(beta, p_others, color=_OTHERS, linestyle="-.",
                label=f"others: {others:,} classes added up")  # fmt: skip
    ax.axhline(1.0 / z.size, color=_NEUTRAL, linestyle="--", linewidth=0.8,
               label=f"1/K = {1.0 / z.size:.3g}: uniform")  # fmt: skip
    ax.axvline(1.0, color="black", linestyle=":", linewidth=1, label="β = 1: plain softmax")
    if marked is not None:
        ax.axvline(marked, color="black", linewidth=1.2,
                   label=f"β = {marked:.3g} (T = {1.0 / marked:.3g})")  # fmt: skip
    ax.set_xscale("log")
    ax.set(ylabel="probability", ylim=(0, 1.02), xlim=(beta.min(), beta.max()),
           xlabel="inverse temperature β = 1/T (log scale)\n"
                  "← hot: close to uniform                         cold: close to the argmax →")  # fmt: skip
    _name_marked_betas(ax, marked)
    ax.set_title("softmax(β · logits) as the inverse temperature β grows")
    ax.legend(frameon=False, fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


@overload
def loss_curve(
    *,
    ax: None = None,
    figure: None = None,
) -> Figure: ...
@overload
def loss_curve(
    *,
    ax: None = None,
    figure: FigureT,
) -> FigureT: ...
@overload
def loss_curve(
    *,
    ax: AxesArg,
    figure: None = None,
) -> Figure | SubFigure: ...


def loss_curve(*, ax: Any = None, figure: Any = None) -> Figure | SubFigure:
    """The cross-entropy ``-log p`` of the true class against its probability ``p``.

    Being confident and wrong costs the most: ``p = 0.01`` costs 4.6 nats,
    ten times ``p = 0.63``; a confident right answer costs almost nothing.

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    figure : matplotlib.figure.Figure or SubFigure, optional
        Draw into this (empty) figure instead of a new one. Not with ``ax``.

    Returns
    -------
    matplotlib.figure.Figure
        The curve in ``axes[0].lines[0]`` (x = p, y = -log p).

    Examples
    --------
    >>> from softmaxkit.plot import loss_curve
    >>> line = loss_curve().axes[0].lines[0]
    >>> x, y = line.get_xdata(), line.get_ydata()
    >>> bool(abs(y[0] + float(__import__("numpy").log(x[0]))) < 1e-12)
    True
    """
    p = np.linspace(0.005, 1.0, 400)
    fig, axes = _axes(ax, figure, 1, figsize=(6, 4), subplots={})
    ax = axes[0]
    ax.plot(p, -np.log(p), color=_OVERCONFIDENT, linewidth=2)
    # Each note in its own corner of the curve: wrong high on the left, the coin
    # flip above its point, right low on the right, so that no two can meet.
    notes = ((0.01, "confident and wrong", (0.08, 4.4), "left"),
             (0.5, "a coin flip", (0.3, 1.9), "center"),
             (0.99, "confident and right", (0.97, 1.0), "right"))  # fmt: skip
    for q, what, where, side in notes:
        ax.plot([q], [-np.log(q)], "o", color="black")
        ax.annotate(f"{what}:\np = {q:g}, loss = {-np.log(q):.2f}", (q, -np.log(q)), xytext=where,
                    ha=side, va="bottom", arrowprops={"arrowstyle": "-", "color": _NEUTRAL})  # fmt: skip
    ax.set(xlabel="probability given to the true class, p", ylabel="cross-entropy loss, -log p",
           title="Cross-entropy punishes confident mistakes most", xlim=(0, 1.02), ylim=(0, 5.5))  # fmt: skip
    return fig


# ---------------------------------------------------------------------- building blocks


class _Rows(NamedTuple):
    """What the bars show: one row per class, or the top classes and "others"."""

    names: list[str]
    logits: np.ndarray  # for "others": their largest logit
    probabilities: np.ndarray  # for "others": their sum
    others: int  # how many classes the last row adds up (0: no such row)
    others_low: float  # the smallest logit among the others


def _rows(z: np.ndarray, p: np.ndarray, names: list[str]) -> _Rows:
    if z.size <= MAX_ROWS:
        return _Rows(names, z, p, 0, 0.0)
    top = _most_probable(z, TOP_ROWS)
    rest = np.ones(z.size, dtype=bool)
    rest[top] = False
    others = int(rest.sum())
    return _Rows(
        [names[k] for k in top] + [f"others ({others:,})"],
        np.append(z[top], z[rest].max()),
        np.append(p[top], p[rest].sum()),
        others,
        float(z[rest].min()),
    )


def _most_probable(z: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest logits, largest first (ties: lower index first).

    The order of the logits is the order of the probabilities at every
    temperature, so one ranking serves the bars and the sweep.
    """
    candidates = np.argpartition(-z, count - 1)[:count] if count < z.size else np.arange(z.size)
    return candidates[np.lexsort((candidates, -z[candidates]))]


def _logit_panel(ax: Any, rows: _Rows, positions: np.ndarray) -> None:
    logits = rows.logits.copy()
    if rows.others:
        logits[-1] = 0.0  # drawn below as the range of the others' logits
    bars = ax.barh(positions, logits, color=_NEUTRAL)
    text = [f"{v:.3g}" for v in rows.logits]
    if rows.others:
        low, high = rows.others_low, rows.logits[-1]
        bars[-1].set(x=low, width=high - low, color=_OTHERS, hatch="//", edgecolor="white")
        text[-1] = f"{low:.3g} … {high:.3g}"
    ax.bar_label(bars, labels=text, padding=3, fontsize="small")
    ax.axvline(0, color="black", linewidth=0.8)
    # Room beside the bars for their labels, on whichever side they end.
    low = min(0.0, float(np.min(logits)), rows.others_low if rows.others else 0.0)
    high = max(0.0, float(np.max(rows.logits)))
    pad = 0.35 * max(high - low, 1e-300)
    ax.set(title="logits (any real number)", xlabel="logit",
           xlim=(low - (pad if low < 0 else 0.05 * pad), high + pad))  # fmt: skip


def _class_axis(ax: Any, positions: np.ndarray, names: list[str]) -> None:
    ax.set_yticks(positions, labels=[_shorten(name) for name in names])
    ax.set_ylim(len(names) - 0.5, -0.5)  # first row at the top


def _shorten(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _format_probability(p: float) -> str:
    """Three significant digits and never a row of "0.00": 0.659, 0.0123, 4.5e-05, 0."""
    if p == 0:
        return "0"
    if p >= 0.995:
        return "1" if p == 1 else f"{p:.4g}"
    return f"{p:.2g}" if p < 1e-3 else f"{p:.3g}"


def _default_betas(z: np.ndarray, marked: float | None) -> np.ndarray:
    spread = max(float(np.ptp(z)), 1e-300)
    distinct = np.unique(z)
    gap = float(distinct[-1] - distinct[-2]) if distinct.size > 1 else spread
    low, high = min(0.01, 0.1 / spread), max(100.0, 20.0 / max(gap, 1e-300))
    if marked is not None:
        low, high = min(low, marked / 10.0), max(high, marked * 10.0)
    return np.geomspace(low, high, 200)


def _sweep(z: np.ndarray, beta: np.ndarray, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """softmax(β z) at each β: the shown columns, and the sum of the others."""
    rows = max(1, _SWEEP_CHUNK // z.size)
    p_shown, p_others = [], []
    rest = np.ones(z.size, dtype=bool)
    rest[shown] = False
    for start in range(0, beta.size, rows):
        p = np.asarray(softmax(beta[start : start + rows, None] * z[None, :], axis=1))
        p_shown.append(p[:, shown])
        p_others.append(p[:, rest].sum(axis=1))
    return np.concatenate(p_shown), np.concatenate(p_others)


def _name_marked_betas(ax: Any, marked: float | None) -> None:
    """Name β = 1 and the marked β on a top axis, where no curve can cover the words;
    where the two are too close for two names, the marked one only (the legend has both)."""
    ticks, names = [1.0], ["T = 1"]
    if marked is not None:
        here = f"T = {1.0 / marked:.3g}"
        if abs(np.log10(marked)) < 1.0:
            ticks, names = [marked], [here]
        else:
            ticks, names = [1.0, marked], [names[0], here]
    top = ax.secondary_xaxis("top")
    top.set_xticks(ticks, labels=names, fontsize="small")
    top.set_xticks([], minor=True)


def _reliability_legend() -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Patch(color=_ACCURACY, label="accuracy in the bin"),
        Patch(color=_rgba(_ACCURACY, 0.25), label="fainter: fewer predictions"),
        Patch(facecolor=_rgba(_OVERCONFIDENT, 0.35), edgecolor=_OVERCONFIDENT, hatch="//",
              label="gap, confidence > accuracy"),  # fmt: skip
        Patch(facecolor=_rgba(_UNDERCONFIDENT, 0.35), edgecolor=_UNDERCONFIDENT, hatch="//",
              label="gap, accuracy > confidence"),  # fmt: skip
        Line2D([], [], marker="_", color="black", markersize=12, markeredgewidth=2,
               linestyle="none", label="mean confidence in the bin"),  # fmt: skip
        Line2D([], [], color="black", linestyle="--", linewidth=1, label="perfect calibration"),
    ]


def _rgba(colour: str, alpha: Any) -> Any:
    """``colour`` with opacity ``alpha`` (one value, or one colour per value of an array)."""
    from matplotlib.colors import to_rgba

    if np.ndim(alpha) == 0:
        return to_rgba(colour, float(alpha))
    return [to_rgba(colour, float(a)) for a in alpha]


def _axes(ax: Any, figure: Any, count: int, *, figsize: tuple[float, float],
          subplots: dict[str, Any]) -> tuple[Figure | SubFigure, list[Any]]:  # fmt: skip
    """The figure to draw in and its axes: the caller's ``ax``, or new axes in ``figure``
    (a new constrained-layout Figure when None). ``ax`` may be one Axes or ``count`` of them."""
    if ax is not None:
        if figure is not None:
            raise TypeError("give ax or figure, not both")
        axes = [ax] if hasattr(ax, "plot") else list(ax)
        if len(axes) not in (1, count) or not all(hasattr(a, "plot") for a in axes):
            want = "one matplotlib Axes" + (f" or {count} of them" if count > 1 else "")
            raise TypeError(f"ax must be {want}, got {ax!r}")
        return axes[0].get_figure(), axes
    if figure is None:
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(
                'softmaxkit.plot needs matplotlib: pip install matplotlib (or "softmaxkit[plot]")'
            ) from None
        figure = Figure(figsize=figsize, layout="constrained")
    made = figure.subplots(**subplots)
    return figure, list(np.atleast_1d(made))


def _one_row(logits: Any) -> np.ndarray:
    z = np.asarray(as_numpy(logits, name="logits"), dtype=np.float64)
    if z.ndim != 1 or z.size < 2:
        raise ValueError(f"logits must be one row of at least 2 logits, shape (K,), got shape {z.shape}")
    bad = np.flatnonzero(~np.isfinite(z))
    if bad.size:
        shown = z.tolist() if z.size <= 20 else f"{z[bad[0]]} at index {bad[0]} of {z.size}"
        raise ValueError(f"logits must be finite, got {shown}")
    return z


def _positive(value: Any, name: str) -> float:
    number = float(value)
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _positive_array(values: Any, name: str) -> np.ndarray:
    t = np.asarray(as_numpy(values, name=name), dtype=np.float64).ravel()
    if t.size == 0 or not np.all(np.isfinite(t) & (t > 0)):
        raise ValueError(f"{name} must be finite numbers > 0, got {t.tolist()}")
    return t


def _class_names(labels: Any, n_classes: int) -> list[str]:
    if labels is None:
        return [str(k) for k in range(n_classes)]
    names = [str(name) for name in labels]
    if len(names) != n_classes:
        raise ValueError(f"labels must name all {n_classes} classes, got {len(names)}: {names}")
    return names

