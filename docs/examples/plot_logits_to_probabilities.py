"""
From logits to probabilities
============================

``probability_bars`` shows the logits and the probabilities softmax makes of them side by
side: the ranking is kept, the differences are exponentiated. A logit 2 above another gives
e² ≈ 7.4 times its probability.
"""

from softmaxkit.plot import probability_bars

fig = probability_bars([4.8, 1.21, 2.385], labels=["dog", "cat", "bird"])
