r"""Calibration metrics: ECE, classwise ECE, Brier score, NLL, reliability curves.

Binning, exactly (so numbers can be compared with other libraries)
------------------------------------------------------------------
``strategy="uniform"`` uses the ``n_bins + 1`` edges ``e_b = b / n_bins``
(``numpy.linspace(0, 1, n_bins + 1)``). Bin ``b`` holds the confidences ``c``
with ``e_b < c <= e_{b+1}``: closed on the right, like Guo et al.'s reference
``_ECELoss`` (``conf > lower & conf <= upper``). The first bin also holds
``c = 0`` and the last bin holds ``c = 1.0`` exactly, so every prediction is
counted once (torchmetrics#3510 puts 1.0 in a phantom extra bin; gpleiss's
code never counts 0).

``strategy="quantile"`` uses the same rule with the interior edges at the
quantiles ``numpy.quantile(c, b / n_bins)`` (default linear interpolation) of
the confidences, and the outer edges 0 and 1, so the bins hold about equally
many predictions; ties can leave a bin empty.

An empty bin contributes nothing. With ``N`` predictions, ``n_b`` in bin
``b``, ``acc_b`` the fraction of them that are right and ``conf_b`` their mean
confidence, the gaps ``|acc_b - conf_b|`` are combined by ``norm``:

* ``"l1"`` (ECE): ``sum_b n_b / N * |acc_b - conf_b|``;
* ``"l2"`` (RMS calibration error): ``sqrt(sum_b n_b / N * (acc_b - conf_b)^2)``;
* ``"max"`` (MCE): ``max_b |acc_b - conf_b|`` over the non-empty bins.

Top-label ECE uses each prediction's largest probability as its confidence
and "right" means the argmax (the first, on ties) is the label.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast, get_args

import numpy as np

from .. import _validate as validate
from .._typing import ArrayLike, BinStrategy, CalibrationNorm, Labels
from ._inputs import probabilities_and_labels

__all__ = [
    "ECEInterval",
    "ReliabilityCurve",
    "brier_score",
    "classwise_calibration_error",
    "expected_calibration_error",
    "expected_calibration_error_interval",
    "negative_log_likelihood",
    "reliability_curve",
]

_STRATEGIES = get_args(BinStrategy)
_NORMS = get_args(CalibrationNorm)


class ReliabilityCurve(NamedTuple):
    """Per-bin statistics; ``confidence`` and ``accuracy`` are NaN in empty bins."""

    bin_edges: np.ndarray  # (n_bins + 1,)
    confidence: np.ndarray  # (n_bins,) mean confidence in each bin
    accuracy: np.ndarray  # (n_bins,) fraction right in each bin
    # (A field named like tuple.count, which it hides: kept, it is the public name.)
    count: np.ndarray  # type: ignore[assignment]  # (n_bins,) predictions in each bin


class ECEInterval(NamedTuple):
    """An ECE and its bootstrap percentile confidence interval."""

    ece: float
    low: float
    high: float
    confidence_level: float


def reliability_curve(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    classes: Labels | None = None,
) -> ReliabilityCurve:
    """Top-label accuracy against confidence, per bin: the data of a reliability diagram.

    Parameters
    ----------
    probs : array_like
        Predicted probabilities, shape (N, K) with rows summing to 1 (within
        1e-4: float32 softmax output passes, logits and unnormalised scores
        do not), or (N,) for a binary problem's probability of class 1.
    labels : array_like of int
        The true classes, shape (N,), in [0, K): the column of ``probs``
        that is right. The order is (probs, labels), as in netcal and
        torchmetrics; a call in scikit-learn's order (labels first) is
        refused with a message saying that the arguments look swapped.
    n_bins : int, optional
        Number of bins: 15, as in Guo et al. 2017, everywhere in softmaxkit
        (the diagrams and the command line too).
    classes : array_like, optional
        The label of each column of ``probs`` (scikit-learn's ``labels=``
        of ``log_loss``): ``labels`` then holds such labels, of any type
        (strings too), not column numbers.
    strategy : {"uniform", "quantile"}, optional
        Equal-width bins or equal-count bins; see the module notes for the
        exact edges and which side of a bin is closed.

    Returns
    -------
    ReliabilityCurve
        ``(bin_edges, confidence, accuracy, count)``.

    Examples
    --------
    >>> from softmaxkit.calibration import reliability_curve
    >>> curve = reliability_curve([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 0, 0], n_bins=2)
    >>> curve.bin_edges.tolist(), curve.count.tolist()
    ([0.0, 0.5, 1.0], [0, 3])
    >>> curve.accuracy.tolist()
    [nan, 0.6666666666666666]
    """
    p, y = probabilities_and_labels(probs, labels, classes)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    return _binned(confidence, correct, _check_bins(n_bins), _check_strategy(strategy))


def expected_calibration_error(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    norm: CalibrationNorm = "l1",
    classes: Labels | None = None,
) -> float:
    """Top-label expected calibration error (ECE; ``norm="max"`` is the MCE).

    ``sum_b n_b / N * |acc_b - conf_b|`` over the bins of the top-label
    confidence: how far, on average, the confidence a model states is from
    the accuracy it achieves. 0 is perfectly calibrated (on these bins).
    See the module notes for the exact binning.

    Parameters
    ----------
    probs, labels, n_bins, strategy, classes
        As in :func:`reliability_curve`.
    norm : {"l1", "l2", "max"}, optional
        How the per-bin gaps are combined (module notes).

    Returns
    -------
    float

    Examples
    --------
    Two predictions of class 1 with confidence 0.95 and 1.0, one of them
    right: both fall in the last bin, whose gap is ``|0.5 - 0.975|``.

    >>> from softmaxkit.calibration import expected_calibration_error
    >>> round(expected_calibration_error([0.95, 1.0], [1, 0]), 12)
    0.475
    """
    curve = reliability_curve(probs, labels, n_bins=n_bins, strategy=strategy, classes=classes)
    return _ece_from_curve(curve, _check_norm(norm))


def expected_calibration_error_interval(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    norm: CalibrationNorm = "l1",
    n_resamples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | None = 0,
    classes: Labels | None = None,
) -> ECEInterval:
    """The ECE with a bootstrap percentile confidence interval.

    The predictions are resampled with replacement ``n_resamples`` times (the
    quantile edges are recomputed on each resample) and the interval is the
    ``(1 - confidence_level) / 2`` and ``(1 + confidence_level) / 2``
    percentiles of the resampled ECEs. It shows how much an ECE computed on a
    few hundred predictions can move; note that binned ECE is biased upward
    on small samples (Roelofs et al. 2020), which resampling does not remove.

    Parameters
    ----------
    probs, labels, n_bins, strategy, norm, classes
        As in :func:`expected_calibration_error`.
    n_resamples : int, optional
        Bootstrap resamples (default 1000).
    confidence_level : float, optional
        In (0, 1); default 0.95.
    seed : int or None, optional
        Seed of the resampling (default 0, so the interval is reproducible).

    Returns
    -------
    ECEInterval
        ``(ece, low, high, confidence_level)``.

    Examples
    --------
    >>> import numpy as np
    >>> from softmaxkit.calibration import expected_calibration_error_interval
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(size=500)
    >>> labels = (rng.uniform(size=500) < p1).astype(int)   # calibrated by construction
    >>> ci = expected_calibration_error_interval(p1, labels, n_resamples=200)
    >>> bool(ci.low <= ci.ece <= ci.high), ci.high < 0.1
    (True, True)
    """
    p, y = probabilities_and_labels(probs, labels, classes)
    n_bins, strategy, norm = _check_bins(n_bins), _check_strategy(strategy), _check_norm(norm)
    n_resamples = validate.integer(n_resamples, name="n_resamples", minimum=1)
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    ece = _ece_from_curve(_binned(confidence, correct, n_bins, strategy), norm)
    rng = np.random.default_rng(seed)
    resampled = np.empty(int(n_resamples))
    for r in range(int(n_resamples)):
        rows = rng.integers(0, len(y), size=len(y))
        resampled[r] = _ece_from_curve(
            _binned(confidence[rows], correct[rows], n_bins, strategy), norm
        )
    tail = (1.0 - confidence_level) / 2
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return ECEInterval(ece, float(low), float(high), float(confidence_level))


def classwise_calibration_error(
    probs: ArrayLike,
    labels: Labels,
    *,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    norm: CalibrationNorm = "l1",
    classes: Labels | None = None,
) -> float:
    """Classwise ECE (Kull et al. 2019): the calibration error of every class's probability.

    For each class ``k`` the predictions are binned by ``p_k`` (all N of
    them, whatever their argmax) and ``acc_b`` is the fraction of the bin
    whose label is ``k``; the per-class errors (combined over bins by
    ``norm``) are averaged over the classes. Catches miscalibration of the
    probabilities below the top one, which top-label ECE ignores.

    Parameters
    ----------
    probs, labels, n_bins, strategy, norm, classes
        As in :func:`expected_calibration_error`.

    Returns
    -------
    float

    Examples
    --------
    >>> from softmaxkit.calibration import classwise_calibration_error
    >>> round(classwise_calibration_error([[0.8, 0.2], [0.8, 0.2]], [0, 1], n_bins=5), 12)
    0.3
    """
    p, y = probabilities_and_labels(probs, labels, classes)
    n_bins, strategy, norm = _check_bins(n_bins), _check_strategy(strategy), _check_norm(norm)
    errors = [
        _ece_from_curve(_binned(p[:, k], (y == k).astype(np.float64), n_bins, strategy), norm)
        for k in range(p.shape[1])
    ]
    return float(np.mean(errors))


def brier_score(
    probs: ArrayLike, labels: Labels, *, classes: Labels | None = None
) -> float:
    """Brier's multi-class score: the mean over rows of ``sum_k (p_k - onehot_k)^2``.

    Brier's original definition (1950), between 0 (certain and right) and 2
    (certain and wrong); for a binary problem it is twice
    ``sklearn.metrics.brier_score_loss``, which counts one class only.

    Parameters
    ----------
    probs, labels, classes
        As in :func:`reliability_curve`.

    Returns
    -------
    float

    Examples
    --------
    >>> from softmaxkit.calibration import brier_score
    >>> round(brier_score([[0.7, 0.2, 0.1]], [0]), 12)   # 0.3^2 + 0.2^2 + 0.1^2
    0.14
    """
    p, y = probabilities_and_labels(probs, labels, classes)
    one_hot = np.zeros_like(p)
    one_hot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - one_hot) ** 2, axis=1)))


def negative_log_likelihood(
    probs: ArrayLike, labels: Labels, *, classes: Labels | None = None
) -> float:
    """The mean of ``-log p[label]``: the cross-entropy of the predictions.

    ``inf`` when a true class got probability 0. From logits,
    :func:`softmaxkit.cross_entropy` gives the same number more accurately
    (no rounding of tiny probabilities).

    ``sklearn.metrics.log_loss(labels, probs, labels=classes)`` gives the
    same number except where scikit-learn changes the input: it clips
    probabilities to ``[eps, 1 - eps]`` (a true class at probability 0
    costs ``-log(eps)``, 36.04 in float64, not ``inf``) and rescales rows
    that do not sum to 1 (with a warning), which are refused here.

    Parameters
    ----------
    probs, labels, classes
        As in :func:`reliability_curve`.

    Returns
    -------
    float

    Examples
    --------
    >>> from softmaxkit.calibration import negative_log_likelihood
    >>> round(negative_log_likelihood([[0.25, 0.75], [0.5, 0.5]], [1, 0]), 10)   # (log 4/3 + log 2) / 2
    0.4904146265
    >>> round(negative_log_likelihood([[0.25, 0.75], [0.5, 0.5]], ["dog", "cat"], classes=["cat", "dog"]), 10)
    0.4904146265
    """
    p, y = probabilities_and_labels(probs, labels, classes)
    picked = p[np.arange(len(y)), y]
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(picked)))


def _binned(confidence: np.ndarray, correct: np.ndarray, n_bins: int, strategy: str) -> ReliabilityCurve:
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
    # The number of interior edges strictly below c: bins (e_b, e_{b+1}], the
    # first one also taking 0 and the last one taking 1.0.
    index = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    right_sum = np.bincount(index, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, right_sum / count, np.nan)
    return ReliabilityCurve(edges, mean_conf, accuracy, count)


def _ece_from_curve(curve: ReliabilityCurve, norm: str) -> float:
    filled = curve.count > 0
    gaps = np.abs(curve.accuracy[filled] - curve.confidence[filled])
    share = curve.count[filled] / curve.count.sum()
    if norm == "l1":
        return float(np.sum(share * gaps))
    if norm == "l2":
        return float(np.sqrt(np.sum(share * gaps**2)))
    return float(np.max(gaps))


#: More bins than this hold no information and only cost memory (n_bins arrays).
MAX_BINS = 10**6


def _check_bins(n_bins: Any) -> int:
    return validate.integer(n_bins, name="n_bins", minimum=1, maximum=MAX_BINS)


def _check_strategy(strategy: Any) -> BinStrategy:
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {list(_STRATEGIES)}, got {strategy!r}")
    return cast(BinStrategy, strategy)


def _check_norm(norm: Any) -> CalibrationNorm:
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {list(_NORMS)}, got {norm!r}")
    return cast(CalibrationNorm, norm)
