"""
Sparsemax against softmax
=========================

Softmax gives every class some probability; sparsemax (Martins & Astudillo, 2016) is the
Euclidean projection onto the probability simplex and gives exact zeros to classes far below
the leaders. Here the logits of two classes are [t, 0]: softmax's p₀ is the logistic
sigmoid of t, sparsemax's is the "hard sigmoid" clip((t + 1) / 2, 0, 1), and entmax-1.5 lies
between them.
"""

import numpy as np
from matplotlib.figure import Figure

import softmaxkit as sk

t = np.linspace(-3, 3, 301)
logits = np.stack([t, np.zeros_like(t)], axis=1)

fig = Figure(figsize=(6.5, 4), layout="constrained")
ax = fig.subplots()
ax.plot(t, sk.softmax(logits)[:, 0], label="softmax")
ax.plot(t, sk.entmax15(logits)[:, 0], label="entmax-1.5")
ax.plot(t, sk.sparsemax(logits)[:, 0], label="sparsemax")
ax.set_xlabel("logit difference t = z₀ − z₁")
ax.set_ylabel("probability of class 0")
ax.set_title("Two classes: softmax is never 0 or 1, sparsemax is outside |t| < 1")
ax.legend()

print(sk.sparsemax([0.175, 0.0, -2.0]))
