"""gumbel_softmax: relaxed one-hot samples, exact one-hots with hard=True.

Peer: torch.nn.functional.gumbel_softmax, compared in distribution (the
noise streams differ): the argmax frequencies are softmax(logits) for both
(chi-square), and the mean soft samples agree within their standard error.
"""

import numpy as np
import pytest
from helpers import requires_torch
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk
from softmaxkit.variants import _random

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

LOGITS = np.array([1.0, 0.5, -0.5, -2.0])
N = 20000


def many(logits, **kwargs):
    return sk.gumbel_softmax(np.broadcast_to(logits, (N, logits.size)), **kwargs)


def test_soft_samples_are_distributions(rng):
    y = sk.gumbel_softmax(rng.normal(size=(5, 6)), 0.7, seed=0)
    assert np.all(y >= 0)
    assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-15)


def test_hard_samples_are_exact_one_hots_of_the_soft_argmax(rng):
    logits = rng.normal(size=(50, 6))
    soft = sk.gumbel_softmax(logits, 0.5, seed=3)
    hard = sk.gumbel_softmax(logits, 0.5, hard=True, seed=3)
    assert_array_equal(hard, np.eye(6)[np.argmax(soft, axis=-1)])


def test_argmax_frequencies_are_the_softmax_chi_square():
    counts = many(LOGITS, hard=True, seed=7).sum(axis=0)
    assert scipy_stats.chisquare(counts, N * sk.softmax(LOGITS)).pvalue > 1e-3


def test_low_temperature_is_nearly_one_hot():
    y = many(LOGITS, temperature=0.01, seed=1)
    # Only draws whose two best noisy logits lie within ~0.05 stay soft (a few percent).
    assert np.mean(y.max(axis=-1) > 0.99) > 0.95


def test_high_temperature_is_nearly_uniform():
    y = many(LOGITS, temperature=1000.0, seed=1)
    assert_allclose(y, 0.25, atol=0.02)


@requires_torch
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_mean_soft_sample_matches_torch(temperature):
    import torch

    torch.manual_seed(0)
    peer = torch.nn.functional.gumbel_softmax(
        torch.asarray(np.broadcast_to(LOGITS, (N, LOGITS.size)).copy()), tau=temperature
    ).numpy()
    ours = many(LOGITS, temperature=temperature, seed=0)
    standard_error = np.hypot(ours.std(axis=0), peer.std(axis=0)) / np.sqrt(N)
    assert np.all(np.abs(ours.mean(axis=0) - peer.mean(axis=0)) < 5 * standard_error)


@requires_torch
def test_hard_frequencies_match_torch():
    import torch

    torch.manual_seed(0)
    peer = torch.nn.functional.gumbel_softmax(
        torch.asarray(np.broadcast_to(LOGITS, (N, LOGITS.size)).copy()), hard=True
    ).numpy().sum(axis=0)
    ours = many(LOGITS, hard=True, seed=0).sum(axis=0)
    assert scipy_stats.chi2_contingency(np.stack([ours, peer])).pvalue > 1e-3


@pytest.mark.parametrize(
    "temperature", [None, 1.0, 2.0, 0.25, np.array([[0.5], [2.0]])], ids=["default", "1", "2", "0.25", "per_row"]
)
def test_a_sample_is_the_softmax_of_the_logits_plus_the_seeds_gumbel_noise(temperature):
    # The definition, with the noise of the same seed: softmax((logits + G) / T),
    # T = 1 by default (each temperature is a different sample, 1 and 2 included).
    logits = np.array([[1.0, 0.5, -0.5, -2.0], [0.0, 1.0, 2.0, 3.0]])
    noise = _random.gumbel_noise(np.random.default_rng(5), logits.shape)
    t = 1.0 if temperature is None else temperature
    expected = scipy_special.softmax((logits + noise) / t, axis=-1)
    args = () if temperature is None else (temperature,)
    assert_allclose(sk.gumbel_softmax(logits, *args, seed=5), expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_a_subnormal_temperature_gives_the_one_hot_of_the_largest_noisy_logit(backend, hard):
    # The noise divided by T = 5e-324 overflowed ("overflow encountered in divide", an
    # error here) before it was added to the logits: now the sum is divided, as softmax
    # divides x / T, and the largest sum takes the whole mass, on every library.
    logits = np.array([[1.0, 0.5, -0.5, -2.0], [0.0, 1.0, 2.0, 3.0], [3.0, 3.0, 3.0, 3.0]])
    noise = _random.gumbel_noise(np.random.default_rng(5), logits.shape)
    y = sk.gumbel_softmax(backend.asarray(logits), 5e-324, hard=hard, seed=5)
    assert_array_equal(backend.to_numpy(y), np.eye(4)[np.argmax(logits + noise, axis=-1)])


def test_logits_further_apart_than_the_largest_float_come_back_at_a_large_temperature():
    # x - max(x) is below -max here, but (x + G) / T is [1, -1] + G / T: the noise is added
    # to the halves of the shifted logits, which stay finite, and divided by T after.
    logits = np.array([1e308, -1e308])
    noise = _random.gumbel_noise(np.random.default_rng(5), logits.shape)
    expected = scipy_special.softmax(logits / 1e308 + noise / 1e308)
    assert_allclose(sk.gumbel_softmax(logits, 1e308, seed=5), expected, rtol=1e-15)
    assert expected[1] > 0.1


def test_the_noise_is_kept_where_the_logits_are_large():
    # Two equal logits of 1e20 (an ulp of 16384): the noise is added to the shifted logits,
    # 0 and 0, not to 1e20, where it would round away and give [0.5, 0.5] every time.
    noise = _random.gumbel_noise(np.random.default_rng(5), (2,))
    expected = scipy_special.softmax(noise / 0.5)
    assert_allclose(sk.gumbel_softmax(np.array([1e20, 1e20]), 0.5, seed=5), expected, rtol=1e-15)


def test_no_seed_draws_fresh_noise():
    # seed=None (the default): entropy from the operating system, a new sample each call.
    first, second = sk.gumbel_softmax(LOGITS), sk.gumbel_softmax(LOGITS, seed=None)
    assert_allclose(first.sum(), 1.0, rtol=1e-15)
    assert_allclose(second.sum(), 1.0, rtol=1e-15)
    assert not np.array_equal(first, second)


def test_noise_is_finite_when_the_uniform_draw_is_zero():
    # torch#22442: -log(-log(U)) with U = 0 gave inf and then NaN.
    class ZeroUniforms:
        def random(self, shape):
            return np.zeros(shape)

    noise = _random.gumbel_noise(ZeroUniforms(), (3,))
    assert np.all(np.isfinite(noise)) and np.all(np.abs(noise) < 37.5)


def test_seed_is_reproducible_and_the_same_on_every_backend(backend):
    logits = np.random.default_rng(0).normal(size=(3, 5))
    y = sk.gumbel_softmax(backend.asarray(logits), 0.5, seed=11)
    assert backend.is_native(y)
    assert_allclose(backend.to_numpy(y), sk.gumbel_softmax(logits, 0.5, seed=11), rtol=1e-13)


def test_generator_seed_continues_its_stream():
    g = np.random.default_rng(4)
    first = sk.gumbel_softmax(LOGITS, seed=g)
    assert not np.array_equal(first, sk.gumbel_softmax(LOGITS, seed=g))
    assert_array_equal(first, sk.gumbel_softmax(LOGITS, seed=np.random.default_rng(4)))


def test_masked_and_negative_infinity_classes_are_never_drawn():
    y = many(np.array([0.0, -np.inf, 0.0, 3.0]), where=np.array([True, True, True, False]), seed=0)
    assert_array_equal(y[:, 1:4:2], 0.0)


def test_positive_infinity_classes_share_the_draws():
    y = many(np.array([np.inf, 0.0, np.inf]), hard=True, seed=0)
    assert_array_equal(y[:, 1], 0.0)
    assert scipy_stats.chisquare(y.sum(axis=0)[[0, 2]]).pvalue > 1e-3


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
@pytest.mark.parametrize("shape", [(2, 0), (0,), (0, 3)])
def test_an_empty_input_gives_an_empty_sample(shape, hard):
    # No class to draw (or no row): an empty result of the input's shape and dtype,
    # not the maximum of nothing.
    y = sk.gumbel_softmax(np.zeros(shape, np.float32), 0.5, hard=hard, seed=0)
    assert y.shape == shape and y.dtype == np.float32


def test_nan_slice_and_dead_slice():
    y = sk.gumbel_softmax(np.array([[0.0, np.nan], [-np.inf, -np.inf]]), seed=0)
    assert np.isnan(y[0]).all()
    assert_array_equal(y[1], 0.0)


@pytest.mark.parametrize("temperature", [0.0, -1.0, np.inf])
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_bad_temperature_is_refused(temperature, hard):
    # torch#184031: tau = 0 gave all NaN, with hard=True too.
    with pytest.raises(ValueError, match="temperature"):
        sk.gumbel_softmax(LOGITS, temperature, hard=hard, seed=0)


def test_non_bool_hard_is_refused():
    with pytest.raises(TypeError, match="hard must be a bool, got 1"):
        sk.gumbel_softmax(LOGITS, hard=1)
