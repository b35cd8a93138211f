"""sampled_softmax_loss (+ grad) and sample_candidates, with tf.nn.sampled_softmax_loss's semantics.

TensorFlow is not installed: the reference below is a line-by-line NumPy
transcription of TF's ``_compute_sampled_logits`` followed by
``softmax_cross_entropy_with_logits`` (accidental hits get ``-FLOAT_MAX``
added, labels ``1/num_true`` on the true columns), checked on given samples.
"""

import numpy as np
import pytest
from helpers import assert_agree
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk

scipy_stats = pytest.importorskip("scipy.stats")


def tf_reference(weights, biases, labels, inputs, sample, *, remove_accidental_hits=True,
                 subtract_log_q=True):  # fmt: skip
    """TF's _compute_sampled_logits + softmax_cross_entropy_with_logits, per example."""
    candidates, true_count, sampled_count = (np.asarray(a) for a in sample)
    labels = np.asarray(labels)
    num_true = labels.shape[1]
    true_logits = np.einsum("bd,btd->bt", inputs, weights[labels]) + biases[labels]
    sampled_logits = inputs @ weights[candidates].T + biases[candidates]
    if subtract_log_q:
        true_logits = true_logits - np.log(true_count)
        sampled_logits = sampled_logits - np.log(sampled_count)
    if remove_accidental_hits:
        hits = (labels[:, :, None] == candidates[None, None, :]).any(axis=1)
        sampled_logits = sampled_logits + np.where(hits, -np.finfo(np.float64).max, 0.0)
    logits = np.concatenate([true_logits, sampled_logits], axis=1)
    target = np.concatenate([np.full(true_logits.shape, 1.0 / num_true), np.zeros(sampled_logits.shape)], 1)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -(target * log_probs).sum(axis=1)


def problem(rng, *, batch=4, dim=3, num_classes=12, num_true=1):
    weights = rng.normal(size=(num_classes, dim))
    biases = rng.normal(size=num_classes)
    inputs = rng.normal(size=(batch, dim))
    labels = rng.integers(0, num_classes, size=(batch, num_true))
    return weights, biases, labels, inputs


# ---------------------------------------------------------------- hand-checked


def test_hand_checked_single_example():
    # One example, true class 0, sample {1, 2}, expected counts 1: logits [2, 0, 2]
    # (class 2 is [1, 1] . [2, 0] = 2), so the loss is log(e^2 + 1 + e^2) - 2.
    weights = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    sample = sk.CandidateSample(np.array([1, 2]), np.ones((1, 1)), np.ones(2))
    loss = sk.sampled_softmax_loss(
        weights, np.zeros(3), [[0]], np.array([[2.0, 0.0]]), 2, 3, sampled_candidates=sample
    )
    assert_allclose(loss, np.log(2 * np.e**2 + 1) - 2, rtol=1e-15)


def test_hand_checked_log_q_correction():
    # Expected counts 2 (true) and 0.5 (sampled) shift the logits by -log 2 and +log 2.
    weights = np.zeros((2, 1))
    sample = sk.CandidateSample(np.array([1]), np.full((1, 1), 2.0), np.array([0.5]))
    loss = sk.sampled_softmax_loss(
        weights, np.zeros(2), [[0]], np.zeros((1, 1)), 1, 2, sampled_candidates=sample
    )
    assert_allclose(loss, np.log(1 + 4.0), rtol=1e-15)  # -log(e^-l2 / (e^-l2 + e^l2))


def test_accidental_hit_is_removed():
    # The true class 0 is also sampled: without removal it counts twice.
    weights = np.array([[1.0], [0.0]])
    sample = sk.CandidateSample(np.array([0, 1]), np.ones((1, 1)), np.ones(2))
    args = (weights, np.zeros(2), [[0]], np.array([[1.0]]), 2, 2)
    removed = sk.sampled_softmax_loss(*args, sampled_candidates=sample)
    kept = sk.sampled_softmax_loss(*args, sampled_candidates=sample, remove_accidental_hits=False)
    assert_allclose(removed, np.log(np.e + 1) - 1, rtol=1e-15)
    assert_allclose(kept, np.log(2 * np.e + 1) - 1, rtol=1e-15)


# ---------------------------------------------------------------- against TF's formula


@pytest.mark.parametrize("sampler", ["log_uniform", "uniform", "unigram"])
@pytest.mark.parametrize("num_true", [1, 2])
@pytest.mark.parametrize("unique", [True, False], ids=["unique", "with_replacement"])
def test_matches_tf_formula_on_a_drawn_sample(rng, sampler, num_true, unique):
    weights, biases, labels, inputs = problem(rng, num_true=num_true)
    unigrams = rng.integers(1, 50, size=12) if sampler == "unigram" else None
    sample = sk.sample_candidates(labels, 6, 12, num_true=num_true, sampler=sampler, unique=unique,
                                  unigrams=unigrams, seed=1)  # fmt: skip
    loss = sk.sampled_softmax_loss(weights, biases, labels, inputs, 6, 12, num_true=num_true,
                                   sampled_candidates=sample, reduction="none")  # fmt: skip
    assert_allclose(loss, tf_reference(weights, biases, labels, inputs, sample), rtol=1e-13)


@pytest.mark.parametrize("remove", [True, False])
@pytest.mark.parametrize("subtract", [True, False])
def test_flags_match_tf_formula(rng, remove, subtract):
    weights, biases, labels, inputs = problem(rng)
    sample = sk.sample_candidates(labels, 8, 12, seed=3)
    loss = sk.sampled_softmax_loss(weights, biases, labels, inputs, 8, 12, sampled_candidates=sample,
                                   remove_accidental_hits=remove, subtract_log_q=subtract,
                                   reduction="none")  # fmt: skip
    expected = tf_reference(weights, biases, labels, inputs, sample,
                            remove_accidental_hits=remove, subtract_log_q=subtract)  # fmt: skip
    assert_allclose(loss, expected, rtol=1e-13)


def test_reductions(rng):
    weights, biases, labels, inputs = problem(rng)
    kwargs = dict(sampled_candidates=sk.sample_candidates(labels, 5, 12, seed=0))
    per_example = sk.sampled_softmax_loss(weights, biases, labels, inputs, 5, 12, reduction="none", **kwargs)
    assert per_example.shape == (4,)
    total = sk.sampled_softmax_loss(weights, biases, labels, inputs, 5, 12, reduction="sum", **kwargs)
    mean = sk.sampled_softmax_loss(weights, biases, labels, inputs, 5, 12, **kwargs)
    assert_allclose([total, mean], [per_example.sum(), per_example.mean()], rtol=1e-15)


def test_bare_candidate_ids_use_the_sampler_probabilities(rng):
    weights, biases, labels, inputs = problem(rng)
    candidates = np.array([3, 7, 11])
    p = lambda c: np.log1p(1.0 / (np.asarray(c) + 1.0)) / np.log(13.0)  # noqa: E731
    sample = (candidates, 3 * p(labels), 3 * p(candidates))
    loss = sk.sampled_softmax_loss(weights, biases, labels, inputs, 3, 12, sampled_candidates=candidates,
                                   reduction="none")  # fmt: skip
    assert_allclose(loss, tf_reference(weights, biases, labels, inputs, sample), rtol=1e-13)


# ---------------------------------------------------------------- limit: full cross-entropy


def full_cross_entropy(weights, biases, labels, inputs):
    return sk.cross_entropy(inputs @ weights.T + biases, labels[:, 0], reduction="none")


def test_equals_full_cross_entropy_with_every_class_sampled(rng):
    weights, biases, labels, inputs = problem(rng, batch=6, num_classes=20)
    loss = sk.sampled_softmax_loss(weights, biases, labels, inputs, 20, 20, sampler="uniform",
                                   reduction="none", seed=0)  # fmt: skip
    assert_allclose(loss, full_cross_entropy(weights, biases, labels, inputs), rtol=1e-13)


def test_tends_to_full_cross_entropy_as_num_sampled_grows(rng):
    # Uniform without replacement: the log Q correction is one constant, so each loss is
    # the cross-entropy over the true class and the sample, below the full one, and the
    # gap (averaged over draws) shrinks to 0 as the sample covers every class.
    num_classes = 64
    weights, biases, labels, inputs = problem(rng, batch=16, dim=4, num_classes=num_classes)
    full = full_cross_entropy(weights, biases, labels, inputs)
    gaps = []
    for num_sampled in (4, 16, 32, 56, 63, 64):
        losses = [
            sk.sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                                    sampler="uniform", reduction="none", seed=seed)  # fmt: skip
            for seed in range(20)
        ]
        assert np.all(np.array(losses) <= full + 1e-12)
        gaps.append(float(np.mean(full - np.array(losses))))
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-12 and gaps[0] > 0.5


# ---------------------------------------------------------------- gradient


@pytest.mark.parametrize("num_true", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(rng, num_true, reduction):
    weights, biases, labels, inputs = problem(rng, batch=3, dim=2, num_classes=6, num_true=num_true)
    # The sample holds a true class of some example, so accidental hits and repeated
    # classes (true in one example, sampled for all) are both exercised.
    sample = sk.sample_candidates(labels, 3, 6, num_true=num_true, seed=2)
    candidates = np.concatenate([[labels[0, 0]], np.setdiff1d(np.asarray(sample.candidates), labels[0])[:2]])
    kwargs = dict(num_true=num_true, sampled_candidates=candidates, reduction=reduction)

    params = {"weights": weights, "biases": biases, "inputs": inputs}

    def loss(p):
        return float(sk.sampled_softmax_loss(p["weights"], p["biases"], labels, p["inputs"], 3, 6, **kwargs))

    grad = sk.sampled_softmax_loss_grad(weights, biases, labels, inputs, 3, 6, **kwargs)
    h = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            step = np.zeros_like(value)
            step[idx] = h
            difference = loss({**params, name: value + step}) - loss({**params, name: value - step})
            numeric[idx] = difference / (2 * h)
        assert_allclose(getattr(grad, name), numeric, atol=1e-8, err_msg=name)


def test_loss_and_grad_agree_with_the_separate_functions(rng):
    weights, biases, labels, inputs = problem(rng)
    kwargs = dict(sampled_candidates=sk.sample_candidates(labels, 5, 12, seed=0))
    both = sk.sampled_softmax_loss_and_grad(weights, biases, labels, inputs, 5, 12, **kwargs)
    grad = sk.sampled_softmax_loss_grad(weights, biases, labels, inputs, 5, 12, **kwargs)
    assert_allclose(both.loss, sk.sampled_softmax_loss(weights, biases, labels, inputs, 5, 12, **kwargs))
    for got, expected in zip(both.grad, grad):
        assert_allclose(got, expected, rtol=1e-15)


def test_gradient_is_zero_for_classes_outside_the_sample(rng):
    weights, biases, labels, inputs = problem(rng)
    candidates = np.array([0, 1, 2])
    grad = sk.sampled_softmax_loss_grad(weights, biases, labels, inputs, 3, 12, sampled_candidates=candidates)
    untouched = np.setdiff1d(np.arange(12), np.concatenate([candidates, labels.ravel()]))
    assert_array_equal(grad.weights[untouched], 0.0)
    assert_array_equal(grad.biases[untouched], 0.0)


def test_torch_inputs_match_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    weights, biases, labels, inputs = problem(rng)
    candidates = np.array([2, 5, 9, 11])
    kwargs = dict(sampled_candidates=torch.asarray(candidates), sampler="uniform", reduction="sum")
    w, b, x = (torch.asarray(a, requires_grad=True) for a in (weights, biases, inputs))
    # The sampled logits written out in torch, then autograd.
    t = torch.asarray(labels[:, 0])
    c = torch.asarray(candidates)
    hits = t[:, None] == c[None, :]
    logits = torch.cat([(x * w[t]).sum(1, keepdim=True) + b[t][:, None],
                        (x @ w[c].T + b[c]).masked_fill(hits, -torch.inf)], 1)  # fmt: skip
    torch.nn.functional.cross_entropy(logits, torch.zeros(4, dtype=torch.int64), reduction="sum").backward()
    got = sk.sampled_softmax_loss_grad(*(torch.asarray(a) for a in (weights, biases, labels, inputs)),
                                       4, 12, **kwargs)  # fmt: skip
    assert isinstance(got.weights, torch.Tensor)
    for name, peer in (("weights", w), ("biases", b), ("inputs", x)):
        assert_allclose(getattr(got, name).numpy(), peer.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- sample_candidates


def test_unique_sample_has_distinct_classes_and_tf_expected_counts():
    s = sk.sample_candidates([[0]], 50, 100, sampler="log_uniform", seed=4)
    candidates = np.asarray(s.candidates)
    assert np.unique(candidates).size == 50
    p = np.log1p(1.0 / (candidates + 1.0)) / np.log(101.0)
    # The tries n solve the counts: 1 - (1 - p)^n, one n for every candidate.
    tries = np.log1p(-np.asarray(s.sampled_expected_count)) / np.log1p(-p)
    assert_allclose(tries, np.round(tries[0]), rtol=1e-7)  # ill-conditioned near count 1
    assert tries[0] >= 50


def test_with_replacement_expected_count_is_num_sampled_times_p():
    s = sk.sample_candidates([[5]], 30, 100, sampler="log_uniform", unique=False, seed=4)
    assert_allclose(s.true_expected_count, [[30 * np.log1p(1 / 6) / np.log(101.0)]], rtol=1e-14)


@pytest.mark.parametrize("sampler", ["log_uniform", "unigram"])
def test_draw_frequencies_match_the_sampler_chi_square(sampler):
    num_classes = 10
    counts = np.arange(1, num_classes + 1) ** 2
    s = sk.sample_candidates([[0]], 20000, num_classes, sampler=sampler, unique=False,
                             unigrams=counts if sampler == "unigram" else None, seed=11)  # fmt: skip
    observed = np.bincount(np.asarray(s.candidates), minlength=num_classes)
    if sampler == "log_uniform":
        p = np.log1p(1.0 / (np.arange(num_classes) + 1.0)) / np.log(num_classes + 1.0)
    else:
        p = counts / counts.sum()
    assert scipy_stats.chisquare(observed, 20000 * p).pvalue > 1e-3


def test_seed_is_reproducible_and_accepts_a_generator():
    a = sk.sample_candidates([[0]], 5, 100, seed=7)
    b = sk.sample_candidates([[0]], 5, 100, seed=np.random.default_rng(7))
    assert_array_equal(a.candidates, b.candidates)


# ------------------------------------------- unique sampling: bounded memory and time


@pytest.mark.parametrize(
    "unigrams, distortion",
    [([1e12, 1.0, 1.0], 1.0), (np.arange(1, 11.0), 100.0), ([1.0, 1e-300], 1.0),
     (np.r_[1e15, np.ones(9)], 1.0)],
    ids=["heavy_head", "distortion_100", "tiny_tail", "every_class_of_a_heavy_head"],
)  # fmt: skip
def test_unique_sampling_of_rarely_new_classes_is_bounded(unigrams, distortion):
    # Pins issue #14 item 1: the rejection loop doubled its buffer until a class
    # with probability 1e-12 (or 1e-100, 1e-300) came up: 24 GB, then killed.
    import tracemalloc

    num_classes = len(unigrams)
    tracemalloc.start()
    s = sk.sample_candidates([[0]], num_classes, num_classes, sampler="unigram",
                             unigrams=np.asarray(unigrams), distortion=distortion, seed=3)  # fmt: skip
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    assert_array_equal(np.sort(s.candidates), np.arange(num_classes))
    counts = np.asarray(s.sampled_expected_count)
    assert np.all((counts > 0) & (counts <= 1))


def _ordered_pairs(forced: bool, monkeypatch, draws: int) -> tuple[np.ndarray, np.ndarray]:
    from softmaxkit.variants import sampled

    # 0 tries before the continuation: it draws the whole sample; a huge
    # number: rejection draws it (as TF does).
    monkeypatch.setattr(sampled, "_TRIES_PER_CLASS", 0 if forced else 1 << 40)
    p = np.array([0.5, 0.3, 0.1, 0.1])
    rng = np.random.default_rng(5)
    pairs, tries = np.empty((draws, 2), dtype=np.int64), np.empty(draws)
    for i in range(draws):
        s = sk.sample_candidates([[0]], 2, 4, sampler="unigram", unigrams=p, seed=rng)
        pairs[i] = s.candidates
        c, q = np.asarray(s.sampled_expected_count)[1], p[pairs[i, 1]]
        # TF's counts: S p_c when no try was rejected, else 1 - (1 - p_c)^tries.
        tries[i] = 2 if c == 2 * q else np.log1p(-c) / np.log1p(-q)
    return pairs, tries


@pytest.mark.parametrize("forced", [True, False], ids=["continuation", "rejection"])
def test_unique_sample_is_successive_sampling_with_geometric_tries(forced, monkeypatch):
    # TF's rejection and the exact continuation that bounds it draw the same
    # process: the ordered pair (a, b) has probability p_a p_b / (1 - p_a), and
    # the tries are 1 + Geometric(1 - p_a), so E[tries] = 1 + sum_a p_a / (1 - p_a).
    draws = 3000
    pairs, tries = _ordered_pairs(forced, monkeypatch, draws)
    p = np.array([0.5, 0.3, 0.1, 0.1])
    expected = np.array([[p[a] * p[b] / (1 - p[a]) if a != b else 0.0 for b in range(4)]
                         for a in range(4)])  # fmt: skip
    observed = np.zeros((4, 4))
    np.add.at(observed, (pairs[:, 0], pairs[:, 1]), 1)
    off_diagonal = ~np.eye(4, dtype=bool)
    assert scipy_stats.chisquare(observed[off_diagonal], draws * expected[off_diagonal]).pvalue > 1e-3
    assert_allclose(np.round(tries), tries, atol=1e-6)
    mean = 1 + np.sum(p / (1 - p))
    # Var of Geom(1 - p_a) mixed over a (law of total variance), for a 5-sigma band.
    var = np.sum(p * p / (1 - p) ** 2) + np.sum(p / (1 - p) ** 2) - np.sum(p / (1 - p)) ** 2
    assert abs(tries.mean() - mean) < 5 * np.sqrt(var / draws)


def test_unique_sample_of_every_log_uniform_class_finishes():
    # Rejection would need ~C^2 tries for the rarest class; the continuation does not.
    s = sk.sample_candidates([[0]], 5000, 5000, sampler="log_uniform", seed=2)
    assert_array_equal(np.sort(s.candidates), np.arange(5000))


# ---------------------------------------------------------------- errors


def test_unique_sample_larger_than_the_classes_is_refused():
    with pytest.raises(ValueError, match=r"num_sampled \(11\) exceeds the 10 classes"):
        sk.sample_candidates([[0]], 11, 10)


def test_label_out_of_range_is_refused(rng):
    weights, biases, labels, inputs = problem(rng)
    with pytest.raises(ValueError, match=r"labels contains 12, outside \[0, 12\)"):
        sk.sampled_softmax_loss(weights, biases, np.full((4, 1), 12), inputs, 3, 12)


def test_mismatched_weights_are_refused(rng):
    weights, biases, labels, inputs = problem(rng)
    with pytest.raises(ValueError, match=r"weights must have shape \(num_classes, dim\) = \(13, dim\)"):
        sk.sampled_softmax_loss(weights, biases, labels, inputs, 3, 13)


def test_unknown_sampler_is_refused(rng):
    with pytest.raises(ValueError, match="sampler must be one of"):
        sk.sample_candidates([[0]], 3, 10, sampler="zipf")


def test_unigram_needs_counts():
    with pytest.raises(ValueError, match="needs unigrams"):
        sk.sample_candidates([[0]], 3, 10, sampler="unigram")


def test_float_labels_are_refused(rng):
    weights, biases, labels, inputs = problem(rng)
    with pytest.raises(TypeError, match="labels must be an integer array"):
        sk.sampled_softmax_loss(weights, biases, labels.astype(float), inputs, 3, 12)


@pytest.mark.parametrize("as_sample", [False, True], ids=["array", "CandidateSample"])
def test_given_candidates_of_another_length_or_dtype_are_refused(rng, as_sample):
    # Both forms of sampled_candidates pass one check (validate.integer_vector):
    # 3 candidates for num_sampled=4, then float candidates.
    weights, biases, labels, inputs = problem(rng)

    def given(candidates):
        if not as_sample:
            return candidates
        return sk.CandidateSample(candidates, np.ones(labels.shape), np.ones(4))

    with pytest.raises(ValueError, match=r"sampled_candidates must have shape \(num_sampled,\) = \(4,\), got \(3,\)"):
        sk.sampled_softmax_loss(weights, biases, labels, inputs, 4, 12, sampled_candidates=given(np.array([0, 4, 7])))
    with pytest.raises(TypeError, match="sampled_candidates must be an integer array"):
        sk.sampled_softmax_loss(weights, biases, labels, inputs, 4, 12,
                                sampled_candidates=given(np.array([0.0, 4.0, 7.0, 9.0])))  # fmt: skip


def test_every_backend_matches_numpy(rng, backend):
    weights, biases, labels, inputs = problem(rng)
    candidates = np.array([0, 4, 7, 9])
    expected = sk.sampled_softmax_loss_and_grad(weights, biases, labels, inputs, 4, 12,
                                                sampled_candidates=candidates, reduction="none")  # fmt: skip
    arrays = [backend.asarray(a) for a in (weights, biases)]
    arrays += [backend.asarray(labels, dtype="int64"), backend.asarray(inputs)]
    given = backend.asarray(candidates, dtype="int64")
    got = sk.sampled_softmax_loss_and_grad(*arrays, 4, 12, reduction="none", sampled_candidates=given)
    assert backend.is_native(got.loss)
    assert_allclose(backend.to_numpy(got.loss), expected.loss, rtol=1e-13)
    for name in ("inputs", "weights", "biases"):
        # Sums of terms of either sign (p - y): the error is relative to the terms.
        # (atol=1e-16, below an ulp of terms near 1, failed where the kernel's
        # exponential and another library's differ by an ulp.)
        want = getattr(expected.grad, name)
        assert_agree(backend.to_numpy(getattr(got.grad, name)), want, scale=np.abs(want).max())


def test_no_sample_skips_the_log_q_correction(rng):
    # Pins issue #14 item 5: num_sampled=0 took log(0) (a warning) and gave +inf logits.
    weights, biases, labels, inputs = problem(rng, num_true=2)
    loss = sk.sampled_softmax_loss(weights, biases, labels, inputs, 0, 12, num_true=2,
                                   reduction="none", seed=0)  # fmt: skip
    true_logits = np.einsum("bd,btd->bt", inputs, weights[labels]) + biases[labels]
    assert_allclose(loss, -sk.log_softmax(true_logits).mean(axis=1), rtol=1e-13)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_empty_batch_gives_empty_loss_and_zero_gradient(rng, reduction):
    # Pins issue #14 item 5: a 0-row batch raised "cannot reshape array of size 0".
    weights, biases, _, _ = problem(rng)
    loss, grad = sk.sampled_softmax_loss_and_grad(
        weights, biases, np.zeros((0, 1), dtype=np.int64), np.ones((0, 3)), 4, 12,
        reduction=reduction, seed=0,
    )  # fmt: skip
    assert_array_equal(loss, np.zeros(0) if reduction == "none" else 0.0)
    assert grad.inputs.shape == (0, 3)
    assert_array_equal(grad.weights, np.zeros_like(weights))


# ---------------------------------------------------------------- what mutation testing found untested


def tf_rejection_reference(seed, num_sampled, num_classes, sampler, unigrams=None):
    """TF's unique candidate sampler on one long stream of the seed's uniform doubles.

    Each try maps one double to a class (``floor(u C)``; log-uniform
    ``floor(exp(u log(C + 1))) - 1``; unigram: the inverse of the cumulative
    counts); a class already drawn is rejected. Returns the first
    ``num_sampled`` distinct classes in order and the number of tries.
    """
    u = np.random.default_rng(seed).random(64 * num_sampled)
    if sampler == "uniform":
        stream = np.floor(u * num_classes)
    elif sampler == "log_uniform":
        stream = np.floor(np.exp(u * np.log(num_classes + 1.0))) - 1.0
    else:
        cumulative = np.cumsum(unigrams / np.sum(unigrams))
        stream = np.searchsorted(cumulative, u * cumulative[-1], side="right")
    found: list[int] = []
    for tries, value in enumerate(stream.astype(int), start=1):
        if value not in found:
            found.append(value)
            if len(found) == num_sampled:
                return np.array(found), tries
    raise AssertionError("the stream is too short")


@pytest.mark.parametrize(
    "sampler, num_sampled, num_classes",
    [("uniform", 9, 10), ("log_uniform", 20, 30), ("unigram", 7, 8)],
)
def test_unique_sample_is_tf_rejection_of_the_seeds_draws(sampler, num_sampled, num_classes):
    # Within the tries budget the sample is TF's rejection sampling itself, drawn in
    # rounds of 2 * num_sampled (at least 16) tries: the same sample as one long
    # stream, and the tries up to the last new class (not to the end of its round).
    unigrams = np.arange(1.0, num_classes + 1) ** 2 if sampler == "unigram" else None
    expected, tries = tf_rejection_reference(5, num_sampled, num_classes, sampler, unigrams)
    assert tries > max(2 * num_sampled, 16)  # more than one round
    s = sk.sample_candidates([[0]], num_sampled, num_classes, sampler=sampler, unigrams=unigrams, seed=5)
    assert_array_equal(s.candidates, expected)
    p = {"uniform": np.full(num_classes, 1.0 / num_classes),
         "log_uniform": np.log1p(1.0 / np.arange(1.0, num_classes + 1)) / np.log(num_classes + 1.0),
         "unigram": None if unigrams is None else unigrams / unigrams.sum()}[sampler]  # fmt: skip
    assert_allclose(s.sampled_expected_count, -np.expm1(tries * np.log1p(-p[expected])), rtol=1e-14)
    assert_allclose(s.true_expected_count, -np.expm1(tries * np.log1p(-p[[[0]]])), rtol=1e-14)


def test_the_loss_holds_no_gradient_and_no_copy_of_the_weights(rng):
    # The point of a sampled softmax is a class count too large for the full
    # layer: the loss reads num_sampled rows of weights and copies none; the
    # gradient holds its output (a weights-shaped array) and little more.
    import tracemalloc

    weights, biases, labels, inputs = problem(rng, num_classes=20000, dim=8)
    args = (weights, biases, labels, inputs, 16, 20000)
    sk.sampled_softmax_loss_grad(*args, seed=0)  # imports and caches outside the count
    peaks = []
    for function in (sk.sampled_softmax_loss, sk.sampled_softmax_loss_grad):
        tracemalloc.start()
        function(*args, seed=0)
        peaks.append(tracemalloc.get_traced_memory()[1] / weights.nbytes)
        tracemalloc.stop()
    assert peaks[0] < 0.25 and 1.0 <= peaks[1] < 1.5, peaks


def _leaves(result):
    """The arrays of a result: itself, or those of a (nested) named tuple."""
    return [leaf for part in result for leaf in _leaves(part)] if isinstance(result, tuple) else [result]


def test_defaults_are_the_documented_values(rng):
    # num_true 1, the log-uniform sampler, unique, distortion 1, hits removed,
    # log Q subtracted, the mean: each function's defaults, one sample (seed).
    weights, biases, labels, inputs = problem(rng)
    documented = dict(num_true=1, unique=True, remove_accidental_hits=True, subtract_log_q=True,
                      reduction="mean", seed=4)  # fmt: skip
    unigrams = rng.integers(1, 9, size=12)
    for function in (sk.sampled_softmax_loss, sk.sampled_softmax_loss_grad, sk.sampled_softmax_loss_and_grad):
        for sampler_kwargs in ({}, {"sampler": "unigram", "unigrams": unigrams}):
            implicit = function(weights, biases, labels, inputs, 5, 12, seed=4, **sampler_kwargs)
            explicit = function(weights, biases, labels, inputs, 5, 12, **documented,
                                **(sampler_kwargs or {"sampler": "log_uniform"}),
                                **({"distortion": 1.0} if sampler_kwargs else {}))  # fmt: skip
            for got, expected in zip(_leaves(implicit), _leaves(explicit), strict=True):
                assert_array_equal(got, expected, err_msg=function.__name__)
    s = sk.sample_candidates(labels, 5, 12, sampler="unigram", unigrams=unigrams, seed=4)
    t = sk.sample_candidates(labels, 5, 12, num_true=1, sampler="unigram", unique=True, unigrams=unigrams,
                             distortion=1.0, seed=4)  # fmt: skip
    for got, expected in zip(s, t):
        assert_array_equal(got, expected)


def test_one_dimensional_labels_are_one_true_class_each(rng):
    weights, biases, labels, inputs = problem(rng)
    sample = sk.sample_candidates(labels, 5, 12, seed=0)
    column = sk.sampled_softmax_loss_and_grad(weights, biases, labels, inputs, 5, 12, sampled_candidates=sample)
    flat = sk.sampled_softmax_loss_and_grad(weights, biases, labels[:, 0], inputs, 5, 12, sampled_candidates=sample)
    assert_array_equal(flat.loss, column.loss)
    assert_array_equal(sk.sample_candidates(labels[:, 0], 5, 12, seed=0).true_expected_count,
                       sample.true_expected_count)  # fmt: skip


def test_unigram_distortion_zero_is_uniform_over_the_counted_classes():
    # distortion 0: every class with a count has weight 1 (0**0 would give the
    # uncounted ones weight 1 too): p = 1/3 on classes 0, 1, 3 and 0 on class 2.
    s = sk.sample_candidates([[2], [3]], 6, 4, sampler="unigram", unigrams=[5.0, 1.0, 0.0, 2.0],
                             distortion=0.0, unique=False, seed=1)  # fmt: skip
    assert_allclose(s.true_expected_count, [[0.0], [2.0]], rtol=1e-15)
    assert_allclose(s.sampled_expected_count, 2.0, rtol=1e-15)
    assert not np.isin(2, s.candidates)


def test_unique_unigram_sample_counts_only_classes_with_counts():
    with pytest.raises(ValueError, match=r"num_sampled \(3\) exceeds the 2 classes"):
        sk.sample_candidates([[0]], 3, 4, sampler="unigram", unigrams=[1.0, 0.0, 2.0, 0.0])
    s = sk.sample_candidates([[0]], 2, 4, sampler="unigram", unigrams=[1.0, 0.0, 2.0, 0.0], seed=0)
    assert_array_equal(np.sort(s.candidates), [0, 2])


def test_class_ids_up_to_two_to_the_53_are_accepted():
    # Ids are floor(u * C) in float64: exact up to 2**53 classes, refused above.
    drawn = sk.sample_candidates([[0]], 3, 2**53, sampler="uniform", unique=False, seed=0).candidates
    assert_array_equal(drawn, np.floor(np.random.default_rng(0).random(3) * 2.0**53).astype(np.int64))
    s = sk.sample_candidates([[2**53 - 1]], 3, 2**53, sampler="uniform", seed=0)
    assert np.all((np.asarray(s.candidates) >= 0) & (np.asarray(s.candidates) < 2**53))
    assert_allclose(s.true_expected_count, -np.expm1(3 * np.log1p(-(2.0**-53))), rtol=1e-12)
    with pytest.raises(ValueError, match="num_classes must be <= 9007199254740992, got 9007199254740993"):
        sk.sample_candidates([[0]], 3, 2**53 + 1, sampler="uniform", seed=0)


def _call(rng, change):
    weights, biases, labels, inputs = problem(rng)
    arguments = dict(weights=weights, biases=biases, labels=labels, inputs=inputs, num_sampled=3, num_classes=12)
    arguments.update(change(arguments))
    return sk.sampled_softmax_loss(**arguments, seed=0)


REFUSED = {
    "unique": (lambda a: {"unique": 1}, TypeError, "unique must be a bool, got 1"),
    "remove_accidental_hits": (lambda a: {"remove_accidental_hits": "yes"}, TypeError,
                               "remove_accidental_hits must be a bool, got 'yes'"),
    "subtract_log_q": (lambda a: {"subtract_log_q": 0}, TypeError, "subtract_log_q must be a bool, got 0"),
    "labels_rows": (lambda a: {"labels": a["labels"][:3]}, ValueError, "labels has 3 rows but inputs has 4"),
    "labels_num_true": (lambda a: {"labels": np.zeros((4, 2), np.int64)}, ValueError,
                        r"labels must have shape \(batch, num_true\) = \(batch, 1\), got \(4, 2\)"),
    "labels_3d": (lambda a: {"labels": np.zeros((4, 1, 1), np.int64)}, ValueError,
                  r"labels must have shape \(batch, num_true\) = \(batch, 1\), got \(4, 1, 1\)"),
    "labels_1d_num_true_2": (lambda a: {"labels": np.zeros(4, np.int64), "num_true": 2}, ValueError,
                             r"= \(batch, 2\), got \(4,\)"),
    "biases_length": (lambda a: {"biases": np.zeros(11)}, ValueError, r"biases must have shape \(12,\), got \(11,\)"),
    "biases_2d": (lambda a: {"biases": np.zeros((12, 1))}, ValueError,
                  r"biases must have shape \(12,\), got \(12, 1\)"),
    "inputs_dim": (lambda a: {"inputs": a["inputs"][:, :2]}, ValueError,
                   r"inputs must have shape \(batch, 3\) to match weights, got \(4, 2\)"),
    "inputs_3d": (lambda a: {"inputs": a["inputs"][:, :, None]}, ValueError,
                  r"inputs must have shape \(batch, 3\) to match weights, got \(4, 3, 1\)"),
    "distortion": (lambda a: {"sampler": "unigram", "unigrams": np.ones(12), "distortion": -1}, ValueError,
                   r"distortion must be >= 0, got -1\.0"),
    "unigrams_shape": (lambda a: {"sampler": "unigram", "unigrams": np.ones(11)}, ValueError,
                       r"unigrams must have shape \(12,\), got \(11,\)"),
    "unigrams_negative": (lambda a: {"sampler": "unigram", "unigrams": np.r_[-1.0, np.ones(11)]}, ValueError,
                          "unigrams must be finite, non-negative and not all zero"),
    "unigrams_infinite": (lambda a: {"sampler": "unigram", "unigrams": np.r_[np.inf, np.ones(11)]}, ValueError,
                          "unigrams must be finite, non-negative and not all zero"),
    "unigrams_zero": (lambda a: {"sampler": "unigram", "unigrams": np.zeros(12)}, ValueError,
                      "unigrams must be finite, non-negative and not all zero"),
    "unigrams_without_unigram": (lambda a: {"sampler": "uniform", "unigrams": np.ones(12)}, ValueError,
                                 "unigrams is only used with sampler='unigram', got sampler='uniform'"),
    "candidates_shape": (lambda a: {"sampled_candidates": [0, 1]}, ValueError,
                         r"sampled_candidates must have shape \(num_sampled,\) = \(3,\), got \(2,\)"),
    "candidates_out_of_range": (lambda a: {"sampled_candidates": [0, 1, 12]}, ValueError,
                                r"sampled_candidates contains 12, outside \[0, 12\)"),
    "true_counts_shape": (
        lambda a: {"sampled_candidates": sk.CandidateSample(np.arange(3), np.ones((4, 2)), np.ones(3))},
        ValueError, r"sampled_candidates.true_expected_count must have the labels' shape \(4, 1\), got \(4, 2\)"),
    "sampled_counts_shape": (
        lambda a: {"sampled_candidates": sk.CandidateSample(np.arange(3), np.ones((4, 1)), np.ones(4))},
        ValueError, r"sampled_candidates.sampled_expected_count must have shape \(3,\), got \(4,\)"),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSED)
def test_bad_arguments_are_refused_naming_them(rng, case):
    change, error, message = REFUSED[case]
    with pytest.raises(error, match=message):
        _call(rng, change)


def test_sample_candidates_refuses_a_non_bool_unique():
    with pytest.raises(TypeError, match="unique must be a bool, got 1"):
        sk.sample_candidates([[0]], 3, 10, unique=1)


def test_a_class_without_count_is_never_drawn_by_the_continuation():
    # The heavy head makes rejection hand over to the exact continuation, which
    # must leave class 2 (count 0) out of its keys: it is never drawn.
    s = sk.sample_candidates([[2]], 3, 4, sampler="unigram", unigrams=[1e12, 1.0, 0.0, 1.0], seed=3)
    assert_array_equal(np.sort(s.candidates), [0, 1, 3])
    assert_array_equal(s.true_expected_count, [[0.0]])
    counts = np.asarray(s.sampled_expected_count)
    assert np.all((counts > 0) & (counts <= 1))


def test_the_continuation_serves_a_unigram_sampler_of_any_size(monkeypatch):
    # The dense bound limits only the analytic samplers (a unigram sampler has
    # its probabilities already): with it lowered below the class count, a
    # heavy head over 100 classes (most without count) still finishes, where
    # rejection would wait ~1e12 tries for each rare class.
    from softmaxkit.variants import sampled

    monkeypatch.setattr(sampled, "_DENSE_CLASSES", 4)
    # Count rejection's draws, and stop a loop that never hands over (it
    # would run for hours, not fail).
    draws, draw = [], sampled._Sampler.draw

    def counted(self, rng, n):
        draws.append(n)
        if len(draws) > 100:
            raise AssertionError("rejection kept drawing: the continuation never took over")
        return draw(self, rng, n)

    monkeypatch.setattr(sampled._Sampler, "draw", counted)
    unigrams = np.r_[1e12, 1.0, 1.0, np.zeros(97)]
    s = sk.sample_candidates([[0]], 3, 100, sampler="unigram", unigrams=unigrams, seed=0)
    assert_array_equal(np.sort(s.candidates), [0, 1, 2])
    # Rounds of 16 draws until the budget of 16 tries per class wanted (48).
    assert draws == [16, 16, 16]


def test_no_candidate_or_a_single_class_is_a_valid_sample():
    # num_sampled may be 0 (no candidate, expected counts 0) and num_classes 1
    # (the one class, drawn on the first try: expected count 1; p = 1 each
    # of 3 tries with replacement: 3), as TF's samplers allow.
    s = sk.sample_candidates([[0], [1]], 0, 10, seed=0)
    assert s.candidates.shape == (0,) and s.sampled_expected_count.shape == (0,)
    assert_array_equal(s.true_expected_count, [[0.0], [0.0]])
    s = sk.sample_candidates([[0]], 1, 1, sampler="uniform", seed=0)
    assert_array_equal(s.candidates, [0])
    assert_array_equal(s.true_expected_count, [[1.0]])
    s = sk.sample_candidates([[0]], 3, 1, sampler="log_uniform", unique=False, seed=0)
    assert_array_equal(s.candidates, [0, 0, 0])
    assert_array_equal(s.sampled_expected_count, [3.0, 3.0, 3.0])


def test_the_loss_of_a_single_class(rng):
    # One class is certain: loss 0 once the accidental hit (the sampled class
    # is the true one) is removed; kept, the two equal logits give log 2.
    weights, biases, inputs = rng.normal(size=(1, 3)), rng.normal(size=1), rng.normal(size=(2, 3))
    args = (weights, biases, [[0], [0]], inputs, 1, 1)
    assert_array_equal(sk.sampled_softmax_loss(*args, seed=0, reduction="none"), [0.0, 0.0])
    kept = sk.sampled_softmax_loss(*args, seed=0, reduction="none", remove_accidental_hits=False)
    assert_allclose(kept, [np.log(2.0)] * 2, rtol=1e-15)


def test_a_class_without_count_expects_0_even_after_infinite_tries():
    # Class 1's share (1e-310) makes the continuation's wait overflow: the
    # tries are inf, every drawn class is expected once (1 - (1 - p)^inf), and
    # class 2 (count 0) still 0 times, not inf * log1p(0) = NaN.
    s = sk.sample_candidates([[2]], 2, 3, sampler="unigram", unigrams=[1.0, 1e-310, 0.0], seed=0)
    assert_array_equal(np.sort(s.candidates), [0, 1])
    assert_array_equal(s.sampled_expected_count, [1.0, 1.0])
    assert_array_equal(s.true_expected_count, [[0.0]])


def test_the_continuation_of_a_sample_of_every_class_has_finite_counts(monkeypatch):
    # Nine shares of 1/9 add up to 1 + 2**-52 in the continuation's suffix
    # sums: the first class's unseen mass is 1 (one try), not log1p(-1 - eps) = NaN.
    from softmaxkit.variants import sampled

    monkeypatch.setattr(sampled, "_TRIES_PER_CLASS", 0)  # the continuation draws all
    s = sk.sample_candidates([[0]], 9, 9, sampler="uniform", seed=0)
    assert_array_equal(np.sort(s.candidates), np.arange(9))
    counts = np.asarray(s.sampled_expected_count)
    assert np.all((counts > 0) & (counts <= 1)) and np.all(counts == counts[0])
    assert_array_equal(s.true_expected_count, [[counts[0]]])
