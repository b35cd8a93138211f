"""entropy and kl_divergence from logits or probabilities, against SciPy, torch and mpmath."""

import numpy as np
import pytest
from helpers import requires_torch
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk

special = pytest.importorskip("scipy.special")
scipy_stats = pytest.importorskip("scipy.stats")


def test_entropy_matches_scipy(rng):
    x = rng.normal(size=(4, 6)) * 3
    assert_allclose(sk.entropy(logits=x), scipy_stats.entropy(special.softmax(x, axis=-1), axis=-1), rtol=1e-13)


def test_entropy_axis_and_temperature(rng):
    x = rng.normal(size=(4, 6))
    expected = scipy_stats.entropy(special.softmax(x / 2.0, axis=0), axis=0)
    assert_allclose(sk.entropy(logits=x, axis=0, temperature=2.0), expected, rtol=1e-13)


def test_entropy_of_uniform_is_log_n():
    assert_allclose(sk.entropy(logits=np.zeros(7)), np.log(7), rtol=1e-15)


def test_entropy_with_underflowing_probabilities_is_not_nan():
    # p = softmax([0, -1000]) holds an exact 0: p log p must count as 0, not NaN.
    assert float(sk.entropy(logits=[0.0, -1000.0])) == 0.0


def test_entropy_tiny_probability_mpmath():
    import mpmath

    mpmath.mp.dps = 50
    x = [0.0, -30.0]
    z = mpmath.exp(0) + mpmath.exp(-30)
    p = [mpmath.exp(v) / z for v in x]
    expected = -sum(q * mpmath.log(q) for q in p)
    assert_allclose(sk.entropy(logits=x), float(expected), rtol=1e-13)


@pytest.mark.parametrize("x", [[0.1, -100.3], [1.7, -60.9]])
def test_entropy_keeps_its_accuracy_where_the_shift_rounds(x):
    # x - max is rounded (0.1 is not a float): its error, up to half an ulp of 100,
    # moves p of the small entry by ~25 eps unless the shift is compensated, and
    # the entropy, ~p (1 - log p), with it.
    import mpmath

    with mpmath.workdps(80):  # 1 - p of the large entry is ~1e-44
        p = [mpmath.exp(v) / sum(mpmath.exp(w) for w in x) for v in x]
        expected = -sum(q * mpmath.log(q) for q in p)
    assert_allclose(sk.entropy(logits=np.array(x)), float(expected), rtol=1e-15)


def test_entropy_edge_cases():
    assert_allclose(sk.entropy(logits=[np.inf, np.inf, 0.0]), np.log(2), rtol=1e-15)
    assert float(sk.entropy(logits=[-np.inf, -np.inf])) == 0.0
    assert np.isnan(sk.entropy(logits=[0.0, np.nan]))
    assert_array_equal(sk.entropy(logits=np.empty((3, 0))), np.zeros(3))
    assert_allclose(sk.entropy(logits=[0.0, 0.0, 9.0], where=[True, True, False]), np.log(2), rtol=1e-15)


def test_information_over_no_axis_is_that_of_one_class_distributions():
    # axis=() makes every entry its own slice of one class (p = 1): entropy and KL 0,
    # NaN where the entry is NaN, 0 where it is excluded (NaN there is ignored).
    x = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, -np.inf]])
    where = np.array([True, False, True])
    t = np.array([[2.0], [3.0]])
    expected = [[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]]
    assert_array_equal(sk.entropy(logits=x, axis=(), where=where, temperature=t), expected)
    assert_array_equal(sk.kl_divergence(logits_p=x, logits_q=2 * x, axis=(), where=where), expected)


def test_kl_matches_scipy_rel_entr(rng):
    a, b = rng.normal(size=(2, 5, 6)) * 2
    p, q = special.softmax(a, axis=-1), special.softmax(b, axis=-1)
    assert_allclose(sk.kl_divergence(logits_p=a, logits_q=b), special.rel_entr(p, q).sum(axis=-1), rtol=1e-12)


@requires_torch
def test_kl_matches_torch_kl_div(rng):
    import torch

    a, b = rng.normal(size=(2, 5, 6)) * 2
    log_p = torch.log_softmax(torch.asarray(a), dim=-1)
    log_q = torch.log_softmax(torch.asarray(b), dim=-1)
    expected = torch.nn.functional.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1)
    assert_allclose(sk.kl_divergence(logits_p=a, logits_q=b), expected.numpy(), rtol=1e-12)


def test_kl_of_equal_logits_is_zero_and_shift_invariant(rng):
    a = rng.normal(size=6)
    assert_allclose(sk.kl_divergence(logits_p=a, logits_q=a + 100.0), 0.0, atol=1e-15)


def test_kl_where_p_is_zero_ignores_q():
    # p = [1, 0]: KL = -log q_0, whatever q_1 is (the term 0 log(0/q) is 0).
    assert_allclose(sk.kl_divergence(logits_p=[0.0, -np.inf], logits_q=[0.0, 5.0]), np.log1p(np.exp(5.0)), rtol=1e-15)


def test_kl_is_infinite_where_q_has_no_mass():
    assert float(sk.kl_divergence(logits_p=[0.0, 0.0], logits_q=[0.0, -np.inf])) == np.inf
    # From probabilities too: a zero weight's log is -inf (scipy.stats.entropy says inf).
    assert float(sk.kl_divergence(probs_p=[1.0, 1.0], probs_q=[2.0, 0.0])) == np.inf
    assert float(sk.kl_divergence(logits_p=[0.0, 0.0], probs_q=[2.0, 0.0])) == np.inf


def test_kl_where_excludes_the_entries_from_both_distributions(backend):
    # The mask applies to q as to p: each is renormalised over the kept classes,
    # and whatever the excluded entries hold (here NaN in q) plays no part.
    a = np.array([[1.0, 2.0, 3.0, 9.0], [0.5, -1.0, 0.0, 2.0]])
    b = np.array([[0.5, -1.0, 2.0, np.nan], [1.0, 1.0, -3.0, 7.0]])
    mask = np.array([[True, True, True, False], [True, False, True, True]])
    kl = backend.to_numpy(
        sk.kl_divergence(
            logits_p=backend.asarray(a), logits_q=backend.asarray(b), where=backend.asarray(mask, dtype="bool")
        )
    )
    for row in range(2):
        p = special.softmax(a[row][mask[row]])
        q = special.softmax(b[row][mask[row]])
        assert_allclose(kl[row], np.sum(p * np.log(p / q)), rtol=1e-13)


def test_kl_and_entropy_of_an_empty_axis_are_zero(backend):
    empty = backend.asarray(np.zeros((3, 0)))
    assert_array_equal(backend.to_numpy(sk.kl_divergence(logits_p=empty, logits_q=empty)), [0.0, 0.0, 0.0])
    assert_array_equal(backend.to_numpy(sk.entropy(logits=empty)), [0.0, 0.0, 0.0])
    # Probabilities too: an empty sum of weights is no slice of zeros to refuse.
    assert_array_equal(backend.to_numpy(sk.entropy(probs=empty)), [0.0, 0.0, 0.0])
    assert_array_equal(backend.to_numpy(sk.kl_divergence(probs_p=empty, logits_q=empty)), [0.0, 0.0, 0.0])


def test_kl_broadcasts(rng):
    a = rng.normal(size=(3, 4))
    b = rng.normal(size=4)
    assert_allclose(sk.kl_divergence(logits_p=a, logits_q=b), [float(sk.kl_divergence(logits_p=row, logits_q=b)) for row in a], rtol=1e-15)


def test_kl_shapes_that_do_not_broadcast_are_refused():
    with pytest.raises(ValueError, match=r"^logits_p of shape \(3,\) and logits_q of shape \(4,\) do not broadcast"):
        sk.kl_divergence(logits_p=np.zeros(3), logits_q=np.zeros(4))
    # Each argument named as it was given.
    with pytest.raises(ValueError, match=r"^probs_p of shape \(3,\) and probs_q of shape \(4,\) do not broadcast"):
        sk.kl_divergence(probs_p=np.ones(3), probs_q=np.ones(4))


def test_information_on_every_backend(rng, backend):
    a, b = rng.normal(size=(2, 3, 5))
    h = sk.entropy(logits=backend.asarray(a))
    kl = sk.kl_divergence(logits_p=backend.asarray(a), logits_q=backend.asarray(b))
    assert backend.is_native(h) and backend.is_native(kl)
    assert_allclose(backend.to_numpy(h), sk.entropy(logits=a), rtol=1e-14)
    assert_allclose(backend.to_numpy(kl), sk.kl_divergence(logits_p=a, logits_q=b), rtol=1e-14)


# --- the input kind is said by keyword (issue 15) -------------------------


def test_entropy_of_probabilities_matches_scipy_stats_entropy(rng):
    # Pins: sk.entropy([0.9, 0.1]) read the probabilities as logits (0.619, scipy 0.325).
    pk = rng.uniform(0.0, 1.0, size=(4, 6))
    assert_allclose(sk.entropy(probs=pk), scipy_stats.entropy(pk, axis=-1), rtol=1e-14)
    assert_allclose(sk.entropy(probs=[0.9, 0.1]), scipy_stats.entropy([0.9, 0.1]), rtol=1e-15)


def test_entropy_of_probabilities_matches_torch_categorical(rng):
    torch = pytest.importorskip("torch")

    pk = rng.uniform(0.0, 1.0, size=(4, 6))
    pk[0, 2] = 0.0
    expected = torch.distributions.Categorical(probs=torch.from_numpy(pk)).entropy().numpy()
    assert_allclose(sk.entropy(probs=pk), expected, rtol=1e-14)


def test_kl_divergence_of_probabilities_matches_scipy_stats_entropy(rng):
    pk, qk = rng.uniform(0.1, 1.0, size=(2, 3, 5))
    pk[1, 0] = 0.0
    assert_allclose(sk.kl_divergence(probs_p=pk, probs_q=qk), scipy_stats.entropy(pk, qk, axis=-1), rtol=1e-13)


def test_kl_divergence_mixes_logits_and_probabilities(rng):
    a, b = rng.normal(size=(2, 3, 5))
    expected = sk.kl_divergence(logits_p=a, logits_q=b)
    assert_allclose(sk.kl_divergence(probs_p=special.softmax(a, axis=-1), logits_q=b), expected, rtol=1e-13)
    assert_allclose(sk.kl_divergence(logits_p=a, probs_q=special.softmax(b, axis=-1)), expected, rtol=1e-13)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sk.entropy([0.9, 0.1]),
        lambda: sk.kl_divergence([0.5, 0.5], [0.9, 0.1]),
        lambda: sk.softmax_jacobian([1.0, 2.0]),
    ],
    ids=["entropy", "kl_divergence", "softmax_jacobian"],
)
def test_a_positional_input_is_refused_with_the_keywords_to_use(call):
    with pytest.raises(TypeError, match="by keyword"):
        call()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sk.entropy(logits=[1.0], probs=[1.0]), "exactly one of logits= and probs="),
        (lambda: sk.entropy(), "exactly one of logits= and probs="),
        (lambda: sk.kl_divergence(logits_p=[1.0], probs_p=[1.0], logits_q=[1.0]), "exactly one of logits_p= and probs_p="),
        (lambda: sk.kl_divergence(logits_p=[1.0]), "exactly one of logits_q= and probs_q="),
        (lambda: sk.softmax_jacobian(), "exactly one of probs= and logits="),
    ],
    ids=["entropy-both", "entropy-neither", "kl-both-p", "kl-no-q", "jacobian-neither"],
)
def test_exactly_one_input_kind(call, message):
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sk.entropy(probs=[0.5, -0.5]), r"probs must be finite and in \[0, inf\), got -0.5; pass logits="),
        (lambda: sk.entropy(probs=[0.0, 0.0]), "probs must have a positive sum"),
        (lambda: sk.entropy(probs=[0.5, 0.5], temperature=2.0), "temperature applies to logits"),
        (lambda: sk.kl_divergence(probs_p=[0.5, 0.5], probs_q=[np.inf, 1.0]), "probs_q must be finite"),
        (lambda: sk.softmax_jacobian(probs=[1.0, 2.0]), r"probs must be finite and in \[0, 1\], got 2.0; pass logits="),
        (lambda: sk.softmax_jacobian(probs=[0.2, 0.3]), "probs must sum to 1 over axis 0, a slice sums to 0.5"),
    ],
    ids=["negative", "zero-sum", "temperature", "kl-inf", "jacobian-logits", "jacobian-unnormalised"],
)
def test_bad_probabilities_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_softmax_jacobian_of_logits_is_that_of_their_softmax(rng):
    x = rng.normal(size=(3, 4))
    assert_allclose(sk.softmax_jacobian(logits=x), sk.softmax_jacobian(probs=sk.softmax(x)), rtol=1e-15)


def test_softmax_jacobian_takes_float16_softmax_output():
    p = sk.softmax(np.linspace(-3, 3, 50).astype(np.float16))
    assert sk.softmax_jacobian(probs=p).dtype == np.float16


def test_entropy_of_probabilities_excludes_masked_classes():
    assert_allclose(sk.entropy(probs=[0.25, 0.25, 0.5], where=[True, True, False]), np.log(2), rtol=1e-15)


_ROW = np.ones((1, 4096))
_COMPLEX_ROW = np.ones((1, 4096), dtype=complex)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: sk.entropy(probs=_ROW, temperature=2.0), ValueError, "temperature applies to logits, not to probs;"),
        (lambda: sk.entropy(probs=_COMPLEX_ROW), TypeError, "probs must be real"),
        (lambda: sk.kl_divergence(logits_p=_ROW, probs_q=_COMPLEX_ROW), TypeError, "probs_q must be real"),
        (lambda: sk.kl_divergence(probs_p=_COMPLEX_ROW, logits_q=_ROW), TypeError, "probs_p must be real"),
    ],
    ids=["entropy-probs-temperature", "entropy-complex-probs", "kl-complex-probs-q", "kl-complex-probs-p"],
)
def test_a_streamed_slice_is_refused_as_one_call(call, error, message, monkeypatch):
    # A slice larger than a block is streamed (its own validation): the same
    # refusal, naming the argument as it was given.
    from softmaxkit import _chunks

    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1024)
    with pytest.raises(error) as streamed:
        call()
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    with pytest.raises(error) as whole:
        call()
    assert str(streamed.value) == str(whole.value)
    assert str(streamed.value).startswith(message)


def test_a_lazy_slice_of_zero_weights_is_nan_not_a_silent_zero():
    # Found by mutation testing (the total > 0 guard of the normalisation): a
    # Dask array's weights are not checked, and a slice of zeros gave an
    # entropy of 0 (and a KL of 0 or inf) where NumPy refuses it and
    # scipy.stats.entropy([0, 0]) is NaN.
    da = pytest.importorskip("dask.array")
    weights = da.from_array(np.array([[0.0, 0.0], [1.0, 3.0]]), chunks=1)
    ones = da.from_array(np.ones((2, 2)), chunks=1)
    expected = scipy_stats.entropy([1.0, 3.0])
    assert_allclose(sk.entropy(probs=weights).compute(), [np.nan, expected], rtol=1e-15)
    kl = scipy_stats.entropy([1.0, 3.0], [1.0, 1.0])
    assert_allclose(sk.kl_divergence(probs_p=weights, probs_q=ones).compute(), [np.nan, kl], rtol=1e-15)
    kl_q = scipy_stats.entropy([1.0, 1.0], [1.0, 3.0])
    assert_allclose(sk.kl_divergence(logits_p=ones, probs_q=weights).compute(), [np.nan, kl_q], rtol=1e-15)


def test_a_large_p_with_a_broadcast_or_listed_q_is_one_call(rng, monkeypatch):
    # Only a NumPy q of p's shape goes through the large-input routes: a q
    # that broadcasts, or a list, is computed as one call whatever the size.
    from softmaxkit import _chunks

    p, q = rng.normal(size=(3, 300)), rng.normal(size=300)
    expected = [float(sk.kl_divergence(logits_p=row, logits_q=q)) for row in p]
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1024)
    assert_allclose(sk.kl_divergence(logits_p=p, logits_q=q), expected, rtol=1e-14)
    assert_allclose(sk.kl_divergence(logits_p=p, logits_q=q.tolist()), expected, rtol=1e-14)
