"""sampled_softmax_loss (+ grad) and sample_candidates, with tf.nn.sampled_softmax_loss's semantics.

TensorFlow is not installed: the reference below is a line-by-line NumPy
transcription of TF's ``_compute_sampled_logits`` followed by
``softmax_cross_entropy_with_logits`` (accidental hits get ``-FLOAT_MAX``
added, labels ``1/num_true`` on the true columns), checked on given samples.
"""

import numpy as np
import pytest
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

    with pytest.raises(ValueError, match=r"sampled_candidates must have shape \(4,\), .* got shape \(3,\)"):
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
        got_grad = backend.to_numpy(getattr(got.grad, name))
        assert_allclose(got_grad, getattr(expected.grad, name), rtol=1e-13, atol=1e-16)


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
