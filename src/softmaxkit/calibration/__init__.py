"""Calibration: measure whether softmax probabilities can be believed, and fix them.

* :class:`TemperatureScaler`, :class:`VectorScaler`: fitted on held-out logits.
* Metrics: :func:`expected_calibration_error` (top-label ECE, RMS, MCE),
  :func:`expected_calibration_error_interval` (bootstrap interval),
  :func:`classwise_calibration_error`, :func:`brier_score`,
  :func:`negative_log_likelihood`, :func:`reliability_curve`. The binning is
  documented exactly in :mod:`softmaxkit.calibration.metrics`.
"""

from .metrics import (
    ECEInterval,
    ReliabilityCurve,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    expected_calibration_error_interval,
    negative_log_likelihood,
    reliability_curve,
)
from .temperature import CalibrationWarning, TemperatureScaler
from .vector import VectorScaler

__all__ = [
    "CalibrationWarning",
    "ECEInterval",
    "ReliabilityCurve",
    "TemperatureScaler",
    "VectorScaler",
    "brier_score",
    "classwise_calibration_error",
    "expected_calibration_error",
    "expected_calibration_error_interval",
    "negative_log_likelihood",
    "reliability_curve",
]
