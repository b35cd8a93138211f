"""Peak memory on inputs that cannot be cut into blocks of leading rows (issue #14 item 3).

One huge row, a 1-D input, ``axis=0``, a ``where=`` mask, a temperature per
row: on main before this file these were computed whole (softmax with a
temperature 5x the input, sigmoid of a (1, n) row 10x, entropy 16x, kl 20x,
sparsemax 18-20x, entmax15 26-28x, gumbel_softmax 18x, sample 16x). They are
now cut along another axis (the columns of ``axis=0``, a mask and a
temperature cut with their block: the values of one call, bit for bit) or,
when a single slice is large, computed in blocks along the reduced axis
(``_streams``: the values of one call to within the rounding of the sums).
Measured as tests/test_reliability_memory.py does: the traced peak beyond
the result, in blocks of 256 KiB (``BLOCK``); the inputs are 16 blocks
(float32), so computing them whole exceeds every bound here.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import _chunks

BLOCK = 256 * 1024  # the README's unit, as in test_reliability_memory.py

_RNG = np.random.default_rng(0)
ROW = (4.0 * _RNG.normal(size=(1, 1 << 20))).astype(np.float32)  # one huge row
VECTOR = ROW[0].copy()
WIDE = (4.0 * _RNG.normal(size=(4096, 256))).astype(np.float32)  # axis=0, where=, per-row T
TALL = (4.0 * _RNG.normal(size=(1 << 19, 2))).astype(np.float32)  # axis=0, long columns
MASK = _RNG.random(WIDE.shape) > 0.1
ROW_T = 0.5 + _RNG.random((WIDE.shape[0], 1))
ROW_MASK = ROW > -6.0
IDS = _RNG.integers(0, VECTOR.size // 8, VECTOR.size)  # unsorted, of unequal lengths
PROBS = _RNG.random(ROW.shape).astype(np.float32)  # unnormalised weights, one huge row
# Every score within 1 of the maximum: sparsemax's support is 46k of the 1M entries,
# and all of them could be in it (the sort gathered the whole row).
NEAR_CONSTANT = (1e-3 * _RNG.random((1, 1 << 20))).astype(np.float32)
# Options that are not NumPy arrays: validation converts them, and so do the blocks now.
MASK_LIST = MASK.tolist()
ROW_T_LIST = ROW_T.tolist()

# name -> (call, blocks beyond the result, streamed): a streamed call adds
# the blocks' partial sums in another order than one call does.
CASES = {
    "softmax_T_one_row": (lambda: sk.softmax(ROW, temperature=2.0), 24, True),
    "log_softmax_T_vector": (lambda: sk.log_softmax(VECTOR, temperature=0.5), 24, True),
    "softmax_T_where_one_row": (lambda: sk.softmax(ROW, temperature=2.0, where=ROW_MASK), 24, True),
    "softmax_T_axis0": (lambda: sk.softmax(WIDE, axis=0, temperature=2.0), 8, False),
    "softmax_T_axis0_tall": (lambda: sk.softmax(TALL, axis=0, temperature=2.0), 24, True),
    "softmax_T_where": (lambda: sk.softmax(WIDE, temperature=2.0, where=MASK), 8, False),
    "softmax_row_temperatures": (lambda: sk.softmax(WIDE, temperature=ROW_T), 8, False),
    "sigmoid_one_row": (lambda: sk.sigmoid(ROW), 12, False),
    "log_sigmoid_one_row": (lambda: sk.log_sigmoid(ROW), 12, False),
    "entropy_one_row": (lambda: sk.entropy(logits=ROW), 26, True),
    "entropy_axis0": (lambda: sk.entropy(logits=WIDE, axis=0), 18, False),
    "entropy_where": (lambda: sk.entropy(logits=WIDE, where=MASK), 18, False),
    "entropy_row_temperatures": (lambda: sk.entropy(logits=WIDE, temperature=ROW_T), 18, False),
    "kl_one_row": (lambda: sk.kl_divergence(logits_p=ROW, logits_q=ROW[:, ::-1]), 33, True),
    "kl_axis0": (lambda: sk.kl_divergence(logits_p=WIDE, logits_q=WIDE[::-1], axis=0), 22, False),
    "kl_where": (lambda: sk.kl_divergence(logits_p=WIDE, logits_q=WIDE[::-1], where=MASK), 22, False),
    "sparsemax_one_row": (lambda: sk.sparsemax(ROW, temperature=8.0), 24, True),
    "sparsemax_axis0": (lambda: sk.sparsemax(WIDE, axis=0), 21, False),
    "sparsemax_where": (lambda: sk.sparsemax(WIDE, where=MASK), 21, False),
    "sparsemax_row_temperatures": (lambda: sk.sparsemax(WIDE, temperature=ROW_T), 21, False),
    "entmax15_vector": (lambda: sk.entmax15(VECTOR, temperature=2.0), 24, True),
    "entmax15_axis0": (lambda: sk.entmax15(WIDE, axis=0), 29, False),
    "entmax_bisect_one_row": (lambda: sk.entmax_bisect(ROW, alpha=1.3, n_iter=20), 24, True),
    "entmax_bisect_axis0_tall": (lambda: sk.entmax_bisect(TALL, axis=0, n_iter=20), 24, True),
    "gumbel_softmax_one_row": (lambda: sk.gumbel_softmax(ROW, 0.5, seed=0), 38, True),
    "gumbel_softmax_axis0": (lambda: sk.gumbel_softmax(WIDE, axis=0, seed=0), 38, True),
    "gumbel_softmax_where": (lambda: sk.gumbel_softmax(WIDE, where=MASK, seed=0), 21, False),
    "gumbel_softmax_row_temperatures": (
        lambda: sk.gumbel_softmax(WIDE, ROW_T, seed=0), 21, False,
    ),
    # The result is one int64 index per slice and draw.
    "sample_one_row": (lambda: sk.sample(ROW, size=3, seed=0), 26, False),
    "sample_greedy_vector": (lambda: sk.sample(VECTOR, temperature=0, seed=0), 26, False),
    "sample_axis0": (lambda: sk.sample(WIDE, axis=0, size=2, seed=0), 26, False),
    "sample_where": (lambda: sk.sample(WIDE, where=MASK, seed=0), 17, False),
    # Also a few numbers per segment: IDS has 2**17 segments, 6 MiB (24 blocks)
    # at about 50 bytes each (max, NaN, the normaliser's two parts, the temperature's guard).
    "segment_softmax_vector": (lambda: sk.segment_softmax(VECTOR, IDS, temperature=0.5), 46 + 24, True),
    "segment_log_softmax_vector": (
        lambda: sk.segment_log_softmax(VECTOR, IDS, where=VECTOR > -8), 46 + 24, True,
    ),
    "segment_logsumexp_vector": (lambda: sk.segment_logsumexp(VECTOR, IDS), 28 + 24, True),
    # Computed whole before (issue #14, the list left open): one huge row of the
    # losses (18.5x and 26x the input), of a hard Gumbel sample (19.5x), of the
    # information from probabilities (8-16x); options given as lists (15-16x).
    "sparsemax_loss_one_row": (lambda: sk.sparsemax_loss(ROW, [7]), 28, True),
    "entmax15_loss_one_row": (lambda: sk.entmax15_loss(ROW, [7], reduction="none"), 28, True),
    "gumbel_softmax_hard_one_row": (lambda: sk.gumbel_softmax(ROW, 0.5, hard=True, seed=0), 22, False),
    "gumbel_softmax_hard_axis0": (lambda: sk.gumbel_softmax(TALL, axis=0, hard=True, seed=0), 22, False),
    "entropy_probs_one_row": (lambda: sk.entropy(probs=PROBS), 14, True),
    "kl_probs_one_row": (lambda: sk.kl_divergence(probs_p=PROBS, probs_q=PROBS[:, ::-1]), 20, True),
    "kl_logits_probs_one_row": (lambda: sk.kl_divergence(logits_p=ROW, probs_q=PROBS), 34, True),
    # Was 12.5x the input (200 blocks): the threshold is found over the blocks.
    "sparsemax_near_constant_row": (lambda: sk.sparsemax(NEAR_CONSTANT), 24, True),
}

# As CASES, for the peak alone (their values against one call are compared on
# smaller slices below: one call on these rows takes seconds). Each was computed
# with every score that could be in the support gathered: entmax15 20.4x the
# input (326 blocks), entmax_bisect 12.4x (198), entmax15_loss 20.4x (and
# sparsemax_loss 12.4x, whose threshold is sparsemax's); now the threshold is
# found over the blocks.
NEAR_CONSTANT_CASES = {
    "entmax15_near_constant_row": (lambda: sk.entmax15(NEAR_CONSTANT), 24),
    "entmax_bisect_near_constant_row": (
        lambda: sk.entmax_bisect(NEAR_CONSTANT[:, : 1 << 19], alpha=1.3, n_iter=4), 24,
    ),
    "entmax15_loss_near_constant_row": (
        lambda: sk.entmax15_loss(NEAR_CONSTANT[:, : 1 << 19], [7]), 28,
    ),
}

# Filtered draws from one huge slice (a 1.2 MiB float32 row, 4.6 blocks, just past the
# size that is streamed; axis=0 of a tall array, two such slices): computed whole before,
# 18-20x the input (84-94 blocks for the row; 34x with every filter and size=3). Now the filters' thresholds are found in passes over the blocks
# (tests/variants/test_sampling.py compares the draws with one call's).
SHORT_ROW = ROW[:, :300_000]
FILTERED_SAMPLE_CASES = {
    "sample_top_k_one_row": (lambda: sk.sample(SHORT_ROW, top_k=50, seed=0), 28),
    "sample_top_p_vector": (lambda: sk.sample(SHORT_ROW[0], top_p=0.9, seed=0), 36),
    "sample_min_p_one_row": (lambda: sk.sample(SHORT_ROW, min_p=0.05, seed=0), 30),
    "sample_top_k_axis0": (
        lambda: sk.sample(TALL[:300_000], axis=0, top_k=1000, seed=0),
        42,
    ),
}

CASES |= {
    # The converted mask is one byte an entry (4 blocks here).
    "sparsemax_where_list": (lambda: sk.sparsemax(WIDE, where=MASK_LIST), 21 + 4, False),
    "gumbel_softmax_where_list": (lambda: sk.gumbel_softmax(WIDE, where=MASK_LIST, seed=0), 21 + 4, False),
    "entropy_row_temperatures_list": (lambda: sk.entropy(logits=WIDE, temperature=ROW_T_LIST), 18, False),
    "sparsemax_loss_axis0": (
        lambda: sk.sparsemax_loss(WIDE, np.arange(256) % 7, axis=0, reduction="none"), 20, False,
    ),
}


def _peak(call) -> tuple[int, object]:
    call()  # warm caches (imports, the kernel) outside the measurement
    tracemalloc.start()
    try:
        result = call()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", CASES)
def test_peak_is_the_result_and_a_few_blocks(name):
    call, blocks, _ = CASES[name]
    peak, result = _peak(call)
    extra = peak - np.asarray(result).nbytes
    assert extra <= blocks * BLOCK, f"{name}: {extra / BLOCK:.1f} blocks beyond the result"


@pytest.mark.parametrize("name", [*NEAR_CONSTANT_CASES, *FILTERED_SAMPLE_CASES])
def test_a_near_constant_row_or_filtered_draws_peak_at_a_few_blocks(name):
    call, blocks = (NEAR_CONSTANT_CASES | FILTERED_SAMPLE_CASES)[name]
    peak, result = _peak(call)
    extra = peak - np.asarray(result).nbytes
    assert extra <= blocks * BLOCK, f"{name}: {extra / BLOCK:.1f} blocks beyond the result"


@pytest.mark.parametrize("name", CASES)
def test_blocks_give_the_values_of_one_call(name, monkeypatch):
    call, _, streamed = CASES[name]
    blocked = call()
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)  # one call, no blocks
    whole = call()
    if streamed:
        assert np.array_equal(np.isnan(blocked), np.isnan(whole))
        np.testing.assert_allclose(blocked, whole, rtol=4 * np.finfo(whole.dtype).eps, atol=0)
    else:
        np.testing.assert_array_equal(blocked, whole)


def test_a_streamed_gumbel_softmax_leaves_the_generator_where_one_call_does(monkeypatch):
    seeded = np.random.default_rng(3)
    sk.gumbel_softmax(ROW, seed=seeded)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    whole = np.random.default_rng(3)
    sk.gumbel_softmax(ROW, seed=whole)
    np.testing.assert_array_equal(seeded.random(4), whole.random(4))


def test_a_torch_mask_travels_with_the_blocks():
    torch = pytest.importorskip("torch")
    mask = torch.from_numpy(MASK)
    peak, result = _peak(lambda: sk.sparsemax(WIDE, where=mask))
    extra = peak - result.nbytes
    # Before: 15x the input (245 blocks), computed whole; now as a NumPy mask, plus its copy.
    assert extra <= (21 + 4) * BLOCK, f"{extra / BLOCK:.1f} blocks"
    np.testing.assert_array_equal(result, sk.sparsemax(WIDE, where=MASK))


def test_a_streamed_hard_gumbel_sample_leaves_the_generator_where_one_call_does(monkeypatch):
    seeded = np.random.default_rng(3)
    streamed = sk.gumbel_softmax(ROW, hard=True, seed=seeded)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    whole = np.random.default_rng(3)
    np.testing.assert_array_equal(streamed, sk.gumbel_softmax(ROW, hard=True, seed=whole))
    np.testing.assert_array_equal(seeded.random(4), whole.random(4))


@pytest.mark.parametrize("kind", ["negative", "zeros"])
def test_streamed_probabilities_are_refused_as_in_one_call(kind, monkeypatch):
    probs = PROBS.copy()
    if kind == "negative":
        probs[0, 700_000] = -0.5
    else:
        probs[:] = 0.0
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)
    with pytest.raises(ValueError) as streamed:
        sk.entropy(probs=probs)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    with pytest.raises(ValueError) as whole:
        sk.entropy(probs=probs)
    assert str(streamed.value) == str(whole.value)
    assert str(streamed.value).startswith("probs must")


@pytest.mark.parametrize(
    "row",
    [
        np.array([[1.0, np.inf, 3.0, np.inf] * 4096]),
        np.array([[1.0, np.nan, 3.0, 2.0] * 4096]),
        np.full((1, 16384), -np.inf),
    ],
    ids=["plus_inf", "nan", "all_minus_inf"],
)
@pytest.mark.parametrize(
    "function",
    [
        "softmax", "log_softmax", "sparsemax", "entmax15", "entmax_bisect", "entropy",
        "gumbel_hard", "sparsemax_loss", "entmax15_loss",
    ],
)
def test_a_streamed_slice_keeps_the_edge_case_policy(row, function, monkeypatch):
    call = {
        "softmax": lambda x: sk.softmax(x, temperature=2.0),
        "log_softmax": lambda x: sk.log_softmax(x, temperature=2.0),
        "sparsemax": sk.sparsemax,
        "entmax15": sk.entmax15,
        "entmax_bisect": lambda x: sk.entmax_bisect(x, alpha=1.7, n_iter=30),
        "entropy": lambda x: sk.entropy(logits=x),
        "gumbel_hard": lambda x: sk.gumbel_softmax(x, hard=True, seed=0),
        "sparsemax_loss": lambda x: sk.sparsemax_loss(x, [2]),
        "entmax15_loss": lambda x: sk.entmax15_loss(x, [1], reduction="none"),
    }[function]
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)  # 8 blocks of 4 KiB per row
    streamed = call(row)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    whole = call(row)
    assert np.array_equal(np.isnan(streamed), np.isnan(whole))
    np.testing.assert_allclose(streamed, whole, rtol=4 * np.finfo(whole.dtype).eps, atol=0)


THRESHOLDS = {
    "sparsemax": sk.sparsemax,
    "entmax15": sk.entmax15,
    "entmax15_temperature_where": lambda x: sk.entmax15(x, temperature=0.7, where=x < 0.9 * x.max()),
    "entmax_bisect_1.3": lambda x: sk.entmax_bisect(x, alpha=1.3, n_iter=25),
    "entmax_bisect_2": lambda x: sk.entmax_bisect(x, alpha=2.0, n_iter=25),
    "entmax_bisect_3": lambda x: sk.entmax_bisect(x, alpha=3.0),  # p = sqrt(s - tau): steep at 0
}


@pytest.mark.parametrize(
    ("spread", "ties"), [(1e-3, False), (0.5, False), (2.0, False), (0.5, True)],
    ids=["near_constant", "spread_0.5", "spread_2", "ties"],
)
@pytest.mark.parametrize("function", THRESHOLDS)
def test_the_threshold_over_blocks_is_the_sorts(function, spread, ties, monkeypatch):
    """The threshold found over the blocks (a slice with more scores near its maximum than
    are gathered: Michelot's iteration for sparsemax, the closed form's test with Newton's
    lower bounds for entmax15, the bisection's sums for entmax_bisect) against one call:
    the same support; values within 4 ulp, or a few ulp of the scores where ``s - tau``
    cancels (the threshold's sums are added in another order)."""
    rng = np.random.default_rng(5)
    row = spread * (rng.integers(0, 8, (2, 8192)) / 8 if ties else rng.random((2, 8192)))
    call = THRESHOLDS[function]
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)  # 2048 scores gathered at most
    streamed = call(row)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    whole = call(row)
    np.testing.assert_array_equal(streamed > 0, whole > 0)
    eps = np.finfo(whole.dtype).eps
    np.testing.assert_allclose(streamed, whole, rtol=4 * eps, atol=8 * eps * spread)


def test_entmax15_over_blocks_does_not_overshoot(monkeypatch):
    """The closed form of a set larger than the support overshoots (halved scores
    ``[0, 0, -0.999]`` from -1: -0.667, above the threshold -0.707): the iteration
    must not stop at that set's threshold."""
    row = np.tile([0.0, 0.0, -1.998], 2048)[None, :]
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)
    streamed = sk.entmax15(row)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    whole = sk.entmax15(row)
    np.testing.assert_array_equal(streamed > 0, whole > 0)
    np.testing.assert_allclose(streamed, whole, rtol=4 * np.finfo(float).eps, atol=0)
