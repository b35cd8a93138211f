"""Slices streamed in blocks along their axis (``softmaxkit._streams``), against one call.

tests/test_reliability_memory_slices.py measures the peaks of the streamed routes and
compares their values on float32 inputs (computed in float64, so the compensated
arithmetic of float64 work is not seen there) and on the edge-case rows; these pin
what those leave open: float64 slices, whose compensation must be that of one call,
temperatures given as arrays, a slice streamed along ``axis=0``, the tie rule of a hard
sample, and the gathered support of sparsemax and entmax15 (the values of one call, bit
for bit) up to its limit. ``CHUNK_BYTES`` is made small, so rows of 16384 entries are
streamed in blocks of 512 float64 entries.
"""

from __future__ import annotations

import numpy as np
import pytest

import softmaxkit as sk
from softmaxkit import _chunks
from softmaxkit.variants import _random

CHUNK = 1 << 12  # 512 float64 entries a block; a float64 row past 2048 entries is streamed
_RNG = np.random.default_rng(11)
# exp(z - max) of the entries far below the maximum is where TwoSum matters: with
# z = x / T down to -1200, z - max rounds by up to 2**-44, 256 eps of exp(z - max).
WIDE64 = _RNG.uniform(-600.0, 1.0, (1, 16384))  # (on a grid of 2**-43: no rounding of x - x')
WIDE64[0, 7] = 1.0 + _RNG.random()  # the maximum, with every bit set at random


def _streamed_and_whole(call, monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", CHUNK)
    streamed = call()
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)  # one call, no blocks
    return streamed, call()


def _assert_close(streamed, whole):
    info = np.finfo(whole.dtype)  # (subnormal results keep fewer digits)
    np.testing.assert_allclose(streamed, whole, rtol=4 * info.eps, atol=info.smallest_normal)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sk.softmax(WIDE64, temperature=0.5),
        lambda: sk.gumbel_softmax(WIDE64, 2.0, seed=0),
    ],
    ids=["softmax", "gumbel_softmax"],
)
def test_a_float64_slice_keeps_the_compensation_of_one_call(call, monkeypatch):
    streamed, whole = _streamed_and_whole(call, monkeypatch)
    assert np.count_nonzero(whole > 0) > 1000  # the small probabilities are there to compare
    _assert_close(streamed, whole)


def test_a_temperature_array_is_cut_with_the_blocks(monkeypatch):
    x = WIDE64.reshape(2, 8192) / 100.0
    t = np.array([[0.5], [3.0]])
    streamed, whole = _streamed_and_whole(lambda: sk.softmax(x, temperature=t), monkeypatch)
    _assert_close(streamed, whole)


def test_entropy_streamed_along_axis0(monkeypatch):
    x = WIDE64.reshape(-1, 4) / 100.0  # four columns of 4096: each one streamed slice
    streamed, whole = _streamed_and_whole(lambda: sk.entropy(logits=x, axis=0), monkeypatch)
    assert streamed.shape == (4,)
    _assert_close(streamed, whole)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_a_sample_takes_the_first_of_maxima_in_different_blocks(hard, monkeypatch):
    """Two noisy logits equal to the last bit, in the first and the fourth block, the
    others -inf: hardmax, as argmax, takes the first, and a temperature of 5e-324 makes
    the soft sample that one-hot too (the noise divided by T overflowed there, a warning,
    before the noise was added first)."""
    noise = _random.gumbel_noise(np.random.default_rng(0), (1, 16384))[0]
    first = int(np.argmax(noise[:512]))
    later = 1536 + np.arange(512)
    ties = later[(noise[later] <= noise[first]) & ((noise[first] - noise[later]) + noise[later] == noise[first])]
    x = np.full((1, 16384), -np.inf)
    x[0, first], x[0, ties[0]] = 0.0, noise[first] - noise[ties[0]]
    streamed, whole = _streamed_and_whole(
        lambda: sk.gumbel_softmax(x, 5e-324, hard=hard, seed=0), monkeypatch
    )
    assert np.flatnonzero(whole).tolist() == [first] and whole[0, first] == 1.0
    np.testing.assert_array_equal(streamed, whole)


def test_a_streamed_gumbel_softmax_keeps_the_compensation_of_its_normaliser(monkeypatch):
    """Every noisy logit but one is -9 (the noise, under half an ulp of -9 * 2**53, rounds
    away before the division by T = 2**53); the largest, G / T, lies near half an ulp of 9
    above 0, so each difference rounds by about 4 eps of its exponential, all the same way,
    and those terms are most of the normaliser. Its TwoSum, and the blocks' sums added with
    TwoSum, keep the result within 1.5 eps of the exact softmax of the noisy logits (mpmath;
    0 here): uncompensated it is 4.5 eps off, the blocks' sums added plainly 2.2 eps."""
    mpmath = pytest.importorskip("mpmath")
    t = 2.0**53
    noise = _random.gumbel_noise(np.random.default_rng(0), (1, 16384))
    largest = int(np.argmin(np.abs(noise[0] - 8.0)))
    x = np.full((1, 16384), -9.0 * t)
    x[0, largest] = 0.0
    values, where, counts = np.unique((x[0] + noise[0]) / t, return_inverse=True, return_counts=True)
    mpmath.mp.dps = 40
    exps = [mpmath.exp(mpmath.mpf(float(v))) for v in values]
    norm = mpmath.fsum(c * e for c, e in zip(counts.tolist(), exps))
    exact = np.array([float(e / norm) for e in exps])[where]
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", CHUNK)
    streamed = sk.gumbel_softmax(x, t, seed=0)[0]
    assert np.max(np.abs(streamed - exact) / exact) <= 1.5 * np.finfo(np.float64).eps


def _near_the_maximum(count: int, width: float, at_edge: int) -> np.ndarray:
    """A float64 row of 16384 whose ``count`` entries lie within ``width`` of its maximum 0.25
    (spread over the blocks), ``at_edge`` more exactly ``width`` below it, the rest far below."""
    rng = np.random.default_rng(3)
    row = np.full((1, 16384), -10.0)
    where = rng.choice(row.size, count + at_edge, replace=False)
    row[0, where[:count]] = -width * rng.random(count)
    row[0, where[0]] = 0.0
    row[0, where[count:]] = -width
    return row + 0.25


@pytest.mark.parametrize(
    ("call", "width"), [(sk.sparsemax, 1.0), (sk.entmax15, 2.0)], ids=["sparsemax", "entmax15"]
)
def test_the_scores_gathered_up_to_the_limit_give_one_calls_values(call, width, monkeypatch):
    """Up to ``CHUNK_BYTES // 2`` scores that can be in the support (scaled above -1) are
    gathered and mapped as one call maps them: its values bit for bit (found over the
    blocks, the threshold's sums would round otherwise). Scores exactly at -1 are in no
    support, and neither gathered nor given a probability."""
    row = _near_the_maximum(CHUNK // 2, width, at_edge=40)
    streamed, whole = _streamed_and_whole(lambda: call(row), monkeypatch)
    assert np.count_nonzero(whole) > 50
    np.testing.assert_array_equal(streamed, whole)


def test_a_streamed_slice_with_one_finite_class_draws_it(monkeypatch):
    row = np.full(16384, -np.inf)
    row[9000] = 3.0
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", CHUNK)
    assert sk.sample(row, size=3, seed=0).tolist() == [9000, 9000, 9000]
