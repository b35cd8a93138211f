"""The other flavours of softmax, with the conventions and edge-case policy of the core.

Segment and sparse softmax, sampled softmax, sparsemax and entmax, Gumbel
softmax, sampling from logits (top-k, top-p, min-p), and entropy and KL
divergence from logits. Everything here is also available as
``softmaxkit.<name>``.
"""

from typing import TYPE_CHECKING

from .. import _lazy

# The names are listed twice, and only twice: type checkers and IDEs read the
# imports below (a name imported "as itself" is this package's export, so no
# literal __all__ is needed), while the run time reads _LOCATIONS, which loads
# each module on first use and gives __all__; the imports cannot be that table
# without running them (eager) or reading this file at import time (fails where
# only .pyc files ship). tests/test_package.py checks that the two agree.
if TYPE_CHECKING:
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
