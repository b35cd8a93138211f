"""Peak memory of the softmax family on large NumPy inputs, measured with tracemalloc.

NumPy reports its allocations to tracemalloc, so the traced peak of a call
is the memory it allocated at once: the result plus its temporaries. The
bounds are the README's table ("Memory"). Pins issue #14 item 3
(``softmax(x, temperature=2.0)`` on float32 peaked at 5x the output; entropy
16x, kl_divergence 20x, sparsemax 18x, entmax15 26x, gumbel_softmax 18x,
sigmoid 10x; on 4096 x 1024 float32, segment_softmax 13.5x, sample and
sparsemax_loss 18.5x the input).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import _chunks

# The README's unit ("Memory"): 256 KiB of input, the size of _chunks.CHUNK_BYTES. Written
# out, not read from the module, so that larger blocks (a larger peak) fail these bounds.
BLOCK = 256 * 1024


def _ids(n: int) -> np.ndarray:
    """Segment ids for ``n`` entries, unsorted, of unequal lengths."""
    return np.random.default_rng(1).integers(0, max(1, n // 8), n)


def _targets(x: np.ndarray) -> np.ndarray:
    return np.random.default_rng(2).integers(0, x.shape[-1], x.shape[0])


# name -> (call, blocks): the peak may exceed the result by ``blocks`` times
# BLOCK (256 KiB), whatever the input's size: large inputs are
# computed a block of rows at a time. The README's table ("Memory") lists them.
CASES = {
    "softmax": (lambda x: sk.softmax(x), 1),
    "softmax_axis0": (lambda x: sk.softmax(x, axis=0), 1),
    "softmax_temperature": (lambda x: sk.softmax(x, temperature=2.0), 8),
    "log_softmax_temperature": (lambda x: sk.log_softmax(x, temperature=0.5), 8),
    "logsumexp": (lambda x: sk.logsumexp(x, axis=-1), 1),
    "sigmoid": (sk.sigmoid, 12),
    "log_sigmoid": (sk.log_sigmoid, 10),
    "sparsemax": (sk.sparsemax, 21),
    "entmax15": (sk.entmax15, 29),
    "entmax_bisect": (lambda x: sk.entmax_bisect(x, n_iter=20), 20),
    "gumbel_softmax": (lambda x: sk.gumbel_softmax(x, seed=0), 21),
    "entropy": (lambda x: sk.entropy(logits=x), 18),
    "kl_divergence": (lambda x: sk.kl_divergence(logits_p=x, logits_q=x), 22),
    # Also one float64 loss per row (8 bytes a row) while reducing.
    "cross_entropy": (lambda x: sk.cross_entropy(x, np.zeros(x.shape[0], int)), 2),
    "cross_entropy_grad": (lambda x: sk.cross_entropy_grad(x, np.zeros(x.shape[0], int)), 2),
    # Segments along axis 0 are computed a block of columns at a time.
    "segment_softmax": (lambda x: sk.segment_softmax(x, _ids(x.shape[0]), temperature=0.5), 16),
    "segment_log_softmax": (lambda x: sk.segment_log_softmax(x, _ids(x.shape[0])), 16),
    "segment_logsumexp": (lambda x: sk.segment_logsumexp(x, _ids(x.shape[0])), 12),
    "segment_softmax_last_axis": (
        lambda x: sk.segment_softmax(x, _ids(x.shape[1]), axis=-1), 14,
    ),
    # The result is one int64 index per row and draw; the noise is drawn per
    # block from the one generator: the draws of one call. The noise and its
    # sum with the logits are a block's size times the draws (size=3: 36).
    "sample": (lambda x: sk.sample(x, seed=0), 17),
    "sample_filtered": (
        lambda x: sk.sample(x, temperature=0.7, top_k=50, top_p=0.9, min_p=0.01, size=3, seed=0),
        36,
    ),
    "sample_generator": (lambda x: sk.sample(x, size=2, seed=np.random.default_rng(7)), 26),
    # Also one float64 loss per row and the targets (8 bytes a row each).
    "sparsemax_loss": (lambda x: sk.sparsemax_loss(x, _targets(x)), 20),
    "sparsemax_loss_none": (lambda x: sk.sparsemax_loss(x, _targets(x), reduction="none"), 20),
    "entmax15_loss": (lambda x: sk.entmax15_loss(x, _targets(x), reduction="sum"), 28),
}
# Calls holding two arrays of one 8-byte value per row besides the result.
_PER_ROW = {"sparsemax_loss", "sparsemax_loss_none", "entmax15_loss"}


def _peak(call, x) -> tuple[int, object]:
    # Warm caches (imports, the kernel) outside the measurement, on two rows: a
    # whole warm-up call cost as much as the measured one, and anything it left
    # behind for a large input could only have lowered the measured peak.
    call(x[:2])
    tracemalloc.start()
    try:
        result = call(x)
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def large(request):
    # 8 MiB of float32, 16 MiB of float64: 32 or 64 blocks; the bounds do
    # not grow with the input (checked at four times this size by hand).
    return np.random.default_rng(0).normal(size=(4096, 512)).astype(request.param)


@pytest.mark.parametrize("name", CASES)
def test_peak_is_the_result_and_a_few_blocks(large, name):
    call, blocks = CASES[name]
    peak, result = _peak(call, large)
    rows = 8 * large.shape[0] if name.startswith("cross_entropy") else 0
    rows = 16 * large.shape[0] if name in _PER_ROW else rows
    extra = peak - np.asarray(result).nbytes - rows
    assert extra <= blocks * BLOCK, f"{name}: {extra / BLOCK:.1f} blocks beyond the result"


@pytest.mark.parametrize("name", CASES)
def test_blocks_give_the_values_of_one_call(large, name, monkeypatch):
    call = CASES[name][0]
    blocked = call(large)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)  # one call, no blocks
    np.testing.assert_array_equal(blocked, call(large))
