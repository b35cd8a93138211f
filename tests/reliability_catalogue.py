"""One valid call of every public array function, driven by one (rows, n) float array.

The reliability suites (no warnings, every layout, masked arrays, peak memory)
run each entry on inputs they build; an entry makes whatever else the call
needs (targets, segment ids, a gradient) from the input's shape, so a new
public function is tested everywhere by adding one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import softmaxkit as sk
from softmaxkit import calibration


def _targets(x: np.ndarray) -> np.ndarray:
    return np.arange(x.shape[0]) % max(x.shape[-1], 1)


def _ids(x: np.ndarray) -> np.ndarray:
    """Segment ids along axis 0: pairs of rows."""
    return np.arange(x.shape[0]) // 2


def _gradient(x: np.ndarray) -> np.ndarray:
    """A finite upstream gradient of x's shape and dtype (vjps take any finite g)."""
    return np.resize(np.array([1.0, -2.0, 0.5, 0.0, 3.0], x.dtype), x.shape)


def _probabilities(x: np.ndarray) -> np.ndarray:
    return np.asarray(sk.softmax(x))


def _sparse(x: np.ndarray) -> Any:
    import scipy.sparse

    return scipy.sparse.csr_array(np.where(np.arange(x.shape[-1]) % 2 == 0, x, 0.0))


# name -> a valid call on x (rows, n); x is never modified by the call.
# The linear layers' inputs are features, not logits: their products can
# overflow or meet inf * 0 for inputs beyond the edge-case policy's.
LINEAR = ("linear_cross_entropy", "linear_cross_entropy_and_grad", "sampled_softmax_loss")
CALLS: dict[str, Callable[[np.ndarray], Any]] = {
    "softmax": lambda x: sk.softmax(x),
    "softmax_temperature": lambda x: sk.softmax(x, temperature=2.0),
    "softmax_axis0": lambda x: sk.softmax(x, axis=0),
    "log_softmax": lambda x: sk.log_softmax(x),
    "log_softmax_temperature": lambda x: sk.log_softmax(x, temperature=0.5),
    "logsumexp": lambda x: sk.logsumexp(x, axis=-1),
    "logsumexp_b": lambda x: sk.logsumexp(x, axis=-1, b=np.ones(x.shape[-1], x.dtype)),
    "softmax_vjp": lambda x: sk.softmax_vjp(sk.softmax(x), _gradient(x)),
    "log_softmax_vjp": lambda x: sk.log_softmax_vjp(sk.log_softmax(x), _gradient(x)),
    "softmax_jacobian": lambda x: sk.softmax_jacobian(probs=sk.softmax(x)),
    "sigmoid": lambda x: sk.sigmoid(x),
    "log_sigmoid": lambda x: sk.log_sigmoid(x),
    "hardmax": lambda x: sk.hardmax(x),
    "cross_entropy": lambda x: sk.cross_entropy(x, _targets(x)),
    "cross_entropy_probs": lambda x: sk.cross_entropy(x, _probabilities(x).astype(x.dtype)),
    "cross_entropy_grad": lambda x: sk.cross_entropy_grad(x, _targets(x)),
    "cross_entropy_and_grad": lambda x: sk.cross_entropy_and_grad(x, _targets(x), label_smoothing=0.1),
    "nll_loss": lambda x: sk.nll_loss(sk.log_softmax(x), _targets(x)),
    "linear_cross_entropy": lambda x: sk.linear_cross_entropy(x, x[:3], _targets(x) % 3),
    "linear_cross_entropy_and_grad": lambda x: sk.linear_cross_entropy_and_grad(
        x, x[:3], _targets(x) % 3
    ),
    "entropy": lambda x: sk.entropy(logits=x),
    "entropy_probs": lambda x: sk.entropy(probs=sk.softmax(x)),
    "kl_divergence": lambda x: sk.kl_divergence(logits_p=x, logits_q=x[::-1]),
    "gumbel_softmax": lambda x: sk.gumbel_softmax(x, seed=0),
    "gumbel_softmax_hard": lambda x: sk.gumbel_softmax(x, hard=True, seed=0),
    "sample": lambda x: sk.sample(x, seed=0, top_p=0.9),
    "topk": lambda x: sk.topk(x, 1),
    "sparsemax": lambda x: sk.sparsemax(x),
    "sparsemax_vjp": lambda x: sk.sparsemax_vjp(sk.sparsemax(x), _gradient(x)),
    "sparsemax_loss": lambda x: sk.sparsemax_loss(x, _targets(x)),
    "entmax15": lambda x: sk.entmax15(x),
    "entmax15_vjp": lambda x: sk.entmax15_vjp(sk.entmax15(x), _gradient(x)),
    "entmax15_loss": lambda x: sk.entmax15_loss(x, _targets(x)),
    "entmax_bisect": lambda x: sk.entmax_bisect(x, n_iter=20),
    "entmax_bisect_vjp": lambda x: sk.entmax_bisect_vjp(sk.entmax_bisect(x, n_iter=20), _gradient(x)),
    "segment_softmax": lambda x: sk.segment_softmax(x, _ids(x)),
    "segment_log_softmax": lambda x: sk.segment_log_softmax(x, _ids(x)),
    "segment_logsumexp": lambda x: sk.segment_logsumexp(x, _ids(x)),
    "sparse_softmax": lambda x: sk.sparse_softmax(_sparse(x)),
    "sparse_log_softmax": lambda x: sk.sparse_log_softmax(_sparse(x)),
    "sampled_softmax_loss": lambda x: sk.sampled_softmax_loss(
        x.T[:, :2], np.zeros(x.shape[1], x.dtype), _targets(x)[:2] % max(x.shape[1], 1), x[:2, :2],
        min(2, x.shape[1]), x.shape[1], seed=0,
    ),
    "brier_score": lambda x: calibration.brier_score(_probabilities(x), _targets(x)),
    "negative_log_likelihood": lambda x: calibration.negative_log_likelihood(
        _probabilities(x), _targets(x)
    ),
    "expected_calibration_error": lambda x: calibration.expected_calibration_error(
        _probabilities(x), _targets(x)
    ),
    "classwise_calibration_error": lambda x: calibration.classwise_calibration_error(
        _probabilities(x), _targets(x)
    ),
    "reliability_curve": lambda x: calibration.reliability_curve(_probabilities(x), _targets(x)),
}
