"""
The temperature sweep of [0.95, 0.99, 0.98]
===========================================

Three nearly equal logits, 0.95, 0.99 and 0.98, give nearly equal probabilities at
temperature T = 1. Lowering the temperature (raising β = 1/T) sharpens the distribution: at
β = 500 (T = 0.002) the largest logit takes 99.3 % of the mass, and as T goes to 0 softmax
becomes the one-hot ``hardmax``. At high temperature every class tends to 1/K.
"""

import numpy as np

import softmaxkit as sk
from softmaxkit.plot import temperature_sweep

logits = np.array([0.95, 0.99, 0.98])
print("p at T = 1:    ", sk.softmax(logits).round(4))
print("p at β = 500:  ", sk.softmax(logits, temperature=1 / 500).round(4))
print("hardmax:       ", sk.hardmax(logits))

fig = temperature_sweep(logits, labels=["a", "b", "c"])
