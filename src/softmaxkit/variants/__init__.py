"""The other flavours of softmax, with the conventions and edge-case policy of the core.

Segment and sparse softmax, sampled softmax, sparsemax and entmax, Gumbel
softmax, sampling from logits (top-k, top-p, min-p), and entropy and KL
divergence from logits. Everything here is also available as
``softmaxkit.<name>``.
"""

from typing import TYPE_CHECKING

from .. import _lazy

if TYPE_CHECKING:  # at run time, export_lazily below imports each module on first use
    from .gumbel import gumbel_softmax as gumbel_softmax
    from .information import entropy as entropy, kl_divergence as kl_divergence
    from .sampled import (
        CandidateSample as CandidateSample,
        SampledSoftmaxGrad as SampledSoftmaxGrad,
        SampledSoftmaxResult as SampledSoftmaxResult,
        sample_candidates as sample_candidates,
        sampled_softmax_loss as sampled_softmax_loss,
        sampled_softmax_loss_and_grad as sampled_softmax_loss_and_grad,
        sampled_softmax_loss_grad as sampled_softmax_loss_grad,
    )
    from .sampling import TopK as TopK, sample as sample, topk as topk
    from .segment import (
        segment_log_softmax as segment_log_softmax,
        segment_logsumexp as segment_logsumexp,
        segment_softmax as segment_softmax,
    )
    from .sparse import sparse_log_softmax as sparse_log_softmax, sparse_softmax as sparse_softmax
    from .sparsemax import (
        entmax15 as entmax15,
        entmax15_loss as entmax15_loss,
        entmax15_vjp as entmax15_vjp,
        entmax_bisect as entmax_bisect,
        entmax_bisect_vjp as entmax_bisect_vjp,
        sparsemax as sparsemax,
        sparsemax_loss as sparsemax_loss,
        sparsemax_vjp as sparsemax_vjp,
    )

# Where each name lives: ``import softmaxkit`` loads none of these modules.
_LOCATIONS = {
    "CandidateSample": ".sampled",
    "SampledSoftmaxGrad": ".sampled",
    "SampledSoftmaxResult": ".sampled",
    "TopK": ".sampling",
    "entropy": ".information",
    "gumbel_softmax": ".gumbel",
    "kl_divergence": ".information",
    "sample": ".sampling",
    "sample_candidates": ".sampled",
    "sampled_softmax_loss": ".sampled",
    "sampled_softmax_loss_and_grad": ".sampled",
    "sampled_softmax_loss_grad": ".sampled",
    "topk": ".sampling",
    "entmax15": ".sparsemax",
    "entmax15_loss": ".sparsemax",
    "entmax15_vjp": ".sparsemax",
    "entmax_bisect": ".sparsemax",
    "entmax_bisect_vjp": ".sparsemax",
    "segment_log_softmax": ".segment",
    "segment_logsumexp": ".segment",
    "segment_softmax": ".segment",
    "sparse_log_softmax": ".sparse",
    "sparse_softmax": ".sparse",
    "sparsemax": ".sparsemax",
    "sparsemax_loss": ".sparsemax",
    "sparsemax_vjp": ".sparsemax",
}
_lazy.export_lazily(__name__, _LOCATIONS)

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
