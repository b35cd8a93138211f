"""
The cross-entropy loss curve
============================

Cross-entropy is −log p of the true class. It is 0 when the model is certain and right,
log 2 ≈ 0.69 for a coin flip between two classes, and grows without bound when the model is
confident and wrong: that is why overconfident models are punished by their NLL.
"""

from softmaxkit.plot import loss_curve

fig = loss_curve()
