"""The other flavours of softmax, with the conventions and edge-case policy of the core.

Segment and sparse softmax, sampled softmax, sparsemax and entmax, Gumbel
softmax, sampling from logits (top-k, top-p, min-p), and entropy and KL
divergence from logits. Everything here is also available as
``softmaxkit.<name>``.
"""

from .gumbel import gumbel_softmax
from .information import entropy, kl_divergence
from .sampled import (
    CandidateSample,
    SampledSoftmaxGrad,
    SampledSoftmaxResult,
    sample_candidates,
    sampled_softmax_loss,
    sampled_softmax_loss_and_grad,
    sampled_softmax_loss_grad,
)
from .sampling import TopK, sample, topk
from .segment import segment_log_softmax, segment_logsumexp, segment_softmax
from .sparse import sparse_log_softmax, sparse_softmax
from .sparsemax import (
    entmax15,
    entmax15_loss,
    entmax15_vjp,
    entmax_bisect,
    entmax_bisect_vjp,
    sparsemax,
    sparsemax_loss,
    sparsemax_vjp,
)

__all__ = [
    "CandidateSample",
    "SampledSoftmaxGrad",
    "SampledSoftmaxResult",
    "TopK",
    "entropy",
    "gumbel_softmax",
    "kl_divergence",
    "sample",
    "sample_candidates",
    "sampled_softmax_loss",
    "sampled_softmax_loss_and_grad",
    "sampled_softmax_loss_grad",
    "topk",
    "entmax15",
    "entmax15_loss",
    "entmax15_vjp",
    "entmax_bisect",
    "entmax_bisect_vjp",
    "segment_log_softmax",
    "segment_logsumexp",
    "segment_softmax",
    "sparse_log_softmax",
    "sparse_softmax",
    "sparsemax",
    "sparsemax_loss",
    "sparsemax_vjp",
]
