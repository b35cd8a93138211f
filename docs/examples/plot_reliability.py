"""
Reliability before and after temperature scaling
================================================

A nearly unregularised softmax regression on the built-in digits is accurate but
overconfident: its bars (accuracy per confidence bin) lie below the diagonal. Temperature
scaling, fitted on a validation split, divides the logits by one number T > 1; the
predictions do not change, the confidence does, and the expected calibration error (ECE)
drops.
"""

import numpy as np

import softmaxkit as sk
from softmaxkit.calibration import TemperatureScaler, expected_calibration_error
from softmaxkit.datasets import load_digits
from softmaxkit.models import SoftmaxRegression
from softmaxkit.plot import reliability_diagram

digits = load_digits()
order = np.random.default_rng(0).permutation(len(digits.target))
X, y = digits.data[order] / 16.0, digits.target[order]
train, valid, test = slice(0, 1000), slice(1000, 1400), slice(1400, None)

model = SoftmaxRegression(C=1000.0, max_iter=300).fit(X[train], y[train])
logits_valid = model.decision_function(X[valid])
logits_test = model.decision_function(X[test])
scaler = TemperatureScaler().fit(logits_valid, y[valid])

before = sk.softmax(logits_test)
after = sk.softmax(logits_test, temperature=scaler.temperature_)
print(f"fitted temperature T = {scaler.temperature_:.3f}")
print(f"ECE before: {expected_calibration_error(before, y[test]):.4f}")
print(f"ECE after:  {expected_calibration_error(after, y[test]):.4f}")

fig_before = reliability_diagram(before, y[test], title="before temperature scaling")
fig_after = reliability_diagram(after, y[test], title=f"after temperature scaling (T = {scaler.temperature_:.2f})")
