"""The other flavours of softmax, with the conventions and edge-case policy of the core.

Segment and sparse softmax, sampled softmax, sparsemax and entmax, Gumbel
softmax, sampling from logits (top-k, top-p, min-p), and entropy and KL
divergence from logits. Everything here is also available as
``softmaxkit.<name>``.
"""

from .segment import segment_log_softmax, segment_logsumexp, segment_softmax
from .sparse import sparse_log_softmax, sparse_softmax

__all__ = [
    "segment_log_softmax",
    "segment_logsumexp",
    "segment_softmax",
    "sparse_log_softmax",
    "sparse_softmax",
]
