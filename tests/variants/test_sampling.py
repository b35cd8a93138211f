"""sample (temperature, top-k, top-p, min-p) and topk.

The draws are checked by a chi-square test with a fixed seed against the
filtered softmax, computed here independently (sorting in NumPy);
topk against torch.topk.
"""

import numpy as np
import pytest
from helpers import DOCUMENTED_ULP, mpmath_softmax_family, requires_torch, ulp_error
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk

scipy_stats = pytest.importorskip("scipy.stats")

LOGITS = np.array([2.0, 1.5, 1.0, 0.3, 0.0, -0.5, -1.0, -3.0])
DRAWS = 20000


def reference_distribution(logits, *, temperature=1.0, top_k=None, top_p=None, min_p=None):
    """The filtered softmax, one filter at a time in Hugging Face's order."""
    p = np.exp(logits / temperature - np.max(logits / temperature))
    p /= p.sum()
    if top_k is not None:
        p = np.where(p >= np.sort(p)[::-1][top_k - 1], p, 0.0)
        p /= p.sum()
    if top_p is not None:
        order = np.argsort(-p)
        mass_before = np.cumsum(p[order]) - p[order]
        kept = np.zeros(p.shape, bool)
        kept[order[mass_before < top_p]] = True
        p = np.where(kept, p, 0.0) / p[kept].sum()
    if min_p is not None:
        p = np.where(p >= min_p * p.max(), p, 0.0)
        p /= p.sum()
    return p


def assert_draws_follow(draws, expected):
    observed = np.bincount(np.asarray(draws).ravel(), minlength=expected.size)
    assert_array_equal(observed[expected == 0], 0)
    kept = expected > 0
    assert scipy_stats.chisquare(observed[kept], observed.sum() * expected[kept]).pvalue > 1e-3


@pytest.mark.parametrize(
    "filters",
    [{}, {"temperature": 0.5}, {"temperature": 3.0}, {"top_k": 3}, {"top_p": 0.7}, {"min_p": 0.2},
     {"temperature": 2.0, "top_k": 5, "top_p": 0.8, "min_p": 0.1}],
    ids=["plain", "cold", "hot", "top_k", "top_p", "min_p", "all_filters"],
)  # fmt: skip
def test_frequencies_match_the_filtered_softmax_chi_square(filters):
    draws = sk.sample(LOGITS, size=DRAWS, seed=20261123, **filters)
    assert draws.shape == (DRAWS,)
    assert_draws_follow(draws, reference_distribution(LOGITS, **filters))


def test_top_k_keeps_exactly_k_classes():
    draws = sk.sample(LOGITS, top_k=2, size=2000, seed=1)
    assert set(np.unique(draws)) == {0, 1}


def test_top_p_keeps_the_classes_until_the_mass_is_reached():
    # p = [0.5, 0.3, 0.2]: 0.5 < 0.6 so the second class is kept, then 0.8 >= 0.6 stops.
    draws = sk.sample(np.log([0.5, 0.3, 0.2]), top_p=0.6, size=2000, seed=1)
    assert set(np.unique(draws)) == {0, 1}


def test_top_p_stops_when_the_mass_reaches_top_p_exactly():
    # p = [1/2, 1/4, 1/8, 1/8], exact in binary: the mass before the third class is
    # 0.75 = top_p, which is reached, so the nucleus is the first two classes only.
    draws = sk.sample(np.log([0.5, 0.25, 0.125, 0.125]), top_p=0.75, size=2000, seed=1)
    assert set(np.unique(draws)) == {0, 1}


def test_top_p_always_keeps_the_most_probable_class():
    assert set(np.unique(sk.sample(np.log([0.9, 0.1]), top_p=0.01, size=500, seed=1))) == {0}


def test_min_p_threshold_is_relative_to_the_largest():
    # p = [0.5, 0.3, 0.2] and min_p 0.5: keep p >= 0.25.
    draws = sk.sample(np.log([0.5, 0.3, 0.2]), min_p=0.5, size=2000, seed=1)
    assert set(np.unique(draws)) == {0, 1}


def test_the_narrowest_filters_keep_the_most_probable_class():
    # top_k = 1 and min_p = 1 are greedy decoding; min_p = 1 keeps ties with the largest.
    greedy = np.full(200, np.argmax(LOGITS))
    assert_array_equal(sk.sample(LOGITS, top_k=1, size=200, seed=2), greedy)
    assert_array_equal(sk.sample(LOGITS, min_p=1.0, size=200, seed=2), greedy)
    assert set(np.unique(sk.sample([1.0, 5.0, 5.0], min_p=1.0, size=200, seed=2))) == {1, 2}


def test_the_widest_filters_keep_every_class():
    # top_k = K, top_p = 1 and min_p = 0 filter nothing: the draws of no filter.
    plain = sk.sample(LOGITS, size=200, seed=2)
    for filters in ({"top_k": LOGITS.size}, {"top_p": 1.0}, {"min_p": 0.0}):
        assert_array_equal(sk.sample(LOGITS, size=200, seed=2, **filters), plain)


def test_zero_draws_give_an_empty_result():
    assert sk.sample(LOGITS, size=0, seed=0).shape == (0,)
    assert sk.sample(np.zeros((3, 2)), size=(2, 0), seed=0).shape == (3, 2, 0)


def test_float32_logits_draw_without_a_sum_to_one_complaint():
    # apollo#5, dynet#699: float32 softmax output fed to np.random.choice failed
    # "probabilities do not sum to 1"; sample works from the logits directly.
    logits = np.array([-0.14982196688652039, 0.28194859623908997], dtype=np.float32)
    assert_draws_follow(sk.sample(logits, size=4000, seed=0), sk.softmax(logits.astype(np.float64)))


def test_zero_temperature_is_argmax():
    logits = np.random.default_rng(3).normal(size=(6, 9))
    draws = sk.sample(logits, temperature=0, size=5, seed=0)
    assert_array_equal(draws, np.repeat(np.argmax(logits, axis=-1)[:, None], 5, axis=1))
    # The logits as given, not scaled: halved, the smallest subnormal would tie with 0.
    assert_array_equal(sk.sample([5e-324, 0.0], temperature=0, size=16, seed=0), np.zeros(16))


def test_zero_temperature_of_a_streamed_slice_is_argmax(monkeypatch):
    # A slice larger than a block (its own route): the logits as given, too.
    from softmaxkit import _chunks

    row = np.zeros(4096)
    row[7] = 5e-324
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1024)
    assert_array_equal(sk.sample(row, temperature=0, size=16, seed=0), np.full(16, 7))


def test_zero_temperature_breaks_ties_uniformly():
    assert_draws_follow(sk.sample([1.0, 5.0, 5.0], temperature=0, size=4000, seed=0), np.array([0, 0.5, 0.5]))


def test_rows_and_axis(rng):
    logits = rng.normal(size=(3, 4, 5))
    draws = sk.sample(logits, axis=1, size=(2, 6), seed=0)
    assert draws.shape == (3, 5, 2, 6)
    assert draws.min() >= 0 and draws.max() < 4


def test_negative_infinity_and_masked_classes_are_never_drawn():
    draws = sk.sample([0.0, -np.inf, 0.0, 1.0], where=[True, True, True, False], size=3000, seed=0)
    assert_draws_follow(draws, np.array([0.5, 0.0, 0.5, 0.0]))


def test_positive_infinity_takes_the_limit():
    assert_draws_follow(sk.sample([np.inf, 0.0, np.inf], size=3000, seed=0), np.array([0.5, 0.0, 0.5]))


def test_seed_is_reproducible_and_accepts_a_generator():
    a = sk.sample(LOGITS, size=50, seed=5)
    assert_array_equal(a, sk.sample(LOGITS, size=50, seed=5))
    assert_array_equal(a, sk.sample(LOGITS, size=50, seed=np.random.default_rng(5)))
    assert not np.array_equal(a, sk.sample(LOGITS, size=50, seed=6))


def test_same_seed_same_draws_on_every_backend(backend):
    logits = np.random.default_rng(0).normal(size=(3, 6))
    draws = sk.sample(backend.asarray(logits), top_k=4, size=7, seed=9)
    assert backend.is_native(draws)
    assert_array_equal(backend.to_numpy(draws), sk.sample(logits, top_k=4, size=7, seed=9))


def test_slice_with_nothing_to_draw_is_refused():
    with pytest.raises(ValueError, match="no class to draw from"):
        sk.sample([[0.0, 1.0], [-np.inf, -np.inf]], seed=0)


def test_nan_slice_is_refused():
    with pytest.raises(ValueError, match="no class to draw from"):
        sk.sample([0.0, np.nan], seed=0)


def test_a_0d_array_or_no_classes_is_refused():
    with pytest.raises(ValueError, match="logits must have a class axis, got a 0-d array"):
        sk.sample(1.0, seed=0)
    with pytest.raises(ValueError, match="logits has no classes along axis 1 to draw from"):
        sk.sample(np.zeros((2, 0)), seed=0)


BLOCK_ROWS = np.random.default_rng(4).normal(scale=3.0, size=(7, 300))
LONG_ROW = np.random.default_rng(5).normal(scale=3.0, size=2000)
# Slabs larger than a block of 1 KiB along axis 0, rows smaller: the noise of one call
# is in C order, so the rows are streamed slice by slice, not cut along axis 1 (with
# axis=0, the moved slabs are cut into 3-D blocks).
SLABS = np.random.default_rng(6).normal(scale=3.0, size=(2, 3, 200))


@pytest.mark.parametrize(
    "draw",
    [lambda: sk.sample(BLOCK_ROWS, temperature=0.7, top_k=20, top_p=0.8, min_p=0.05, size=3, seed=1),
     lambda: sk.sample(BLOCK_ROWS, temperature=0, size=2, seed=1),
     lambda: sk.sample(LONG_ROW, temperature=0.5, size=20, seed=1),
     lambda: sk.sample(LONG_ROW, where=LONG_ROW < 4.0, size=20, seed=1),
     lambda: sk.sample(LONG_ROW, top_k=50, top_p=0.9, size=20, seed=1),
     lambda: sk.sample(SLABS, size=2, seed=1),
     lambda: sk.sample(SLABS, axis=0, size=2, seed=1)],
    ids=["rows_filtered", "rows_greedy", "one_row_cold", "one_row_where", "one_row_filtered",
         "slabs_in_order", "slabs_axis0"],
)  # fmt: skip
def test_large_input_drawn_in_blocks_gives_the_draws_of_one_call(monkeypatch, draw):
    # Large NumPy input is drawn a block of rows at a time, or one long row in
    # passes, with the noise drawn in the order of one call: the same seed gives
    # the same draws as the whole-array computation. A 1 KiB block size sends
    # these small arrays down those routes (test_reliability_memory_slices has
    # the plain cases at full size; these pass the filters, T = 0, a temperature
    # and a mask through the routes).
    from softmaxkit import _chunks

    whole = draw()
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1024)
    assert_array_equal(draw(), whole)


def _streamed_and_whole(call, *, kernel):
    """``call(seed)`` with one slice streamed in blocks of 1 KiB, and as one call (with the
    compiled kernel or without): the draws or the message of the error, and the generators'
    next numbers."""
    from softmaxkit import _chunks, _dispatch

    results = []
    for chunk in (1024, 1 << 40):
        saved, _chunks.CHUNK_BYTES = _chunks.CHUNK_BYTES, chunk
        generator = np.random.default_rng(11)
        try:
            with _dispatch.use_kernel(kernel or chunk == 1024):
                results.append((call(generator), generator.random(2)))
        except ValueError as error:
            results.append((str(error), None))
        finally:
            _chunks.CHUNK_BYTES = saved
    return results


def _assert_same_draws(call, *, kernel=True):
    (streamed, after_streamed), (whole, after_whole) = _streamed_and_whole(call, kernel=kernel)
    assert_array_equal(streamed, whole)
    assert_array_equal(after_streamed, after_whole)


_TIES = np.repeat([1.0, 0.5, 0.0, -2.0], [3, 40, 200, 1500])  # probabilities tied in groups


@pytest.mark.parametrize(
    ("x", "kwargs"),
    [(_TIES, {"top_k": 3}), (_TIES, {"top_k": 4}), (_TIES, {"top_k": 42}), (_TIES, {"top_k": 43}),
     (_TIES, {"top_k": 1743}), (_TIES, {"top_k": 10**6}), (_TIES, {"top_p": 0.3}),
     (_TIES, {"top_p": 5e-324}), (_TIES, {"top_p": 1.0, "min_p": 0.0}), (_TIES, {"top_p": 0.9999}),
     (_TIES, {"min_p": 1.0}), (_TIES, {"min_p": 0.2, "top_k": 5}),
     (_TIES, {"temperature": 0.0, "top_k": 2, "top_p": 0.1, "min_p": 0.5}),
     (np.r_[LONG_ROW, np.inf, np.inf], {"top_p": 0.5}),
     (np.where(LONG_ROW > 1.0, -np.inf, LONG_ROW), {"top_k": 1900, "top_p": 0.95}),
     (LONG_ROW.astype(np.float16), {}), (np.tile(LONG_ROW, 2).astype(np.float16), {"top_p": 0.7}),
     (LONG_ROW.astype(np.float32), {"top_k": 300, "min_p": 0.01}),
     (np.stack([LONG_ROW, LONG_ROW[::-1]], axis=1), {"axis": 0, "top_p": 0.6, "size": 3}),
     (LONG_ROW[None, :], {"top_k": 7, "where": LONG_ROW < 5.0, "size": (2, 2)}),
     (np.r_[LONG_ROW, np.nan], {"top_k": 5}), (np.full(2000, -np.inf), {"top_p": 0.5})],
    ids=["k_3", "k_4", "k_42", "k_43", "k_1743", "k_huge", "p_0.3", "p_tiny", "p_1_min_p_0",
         "p_0.9999", "min_p_1", "min_p_top_k", "greedy_filtered", "plus_inf",
         "minus_inf", "float16", "float16_top_p", "float32", "axis0", "where_size", "nan",
         "all_minus_inf"],
)  # fmt: skip
def test_a_streamed_filtered_slice_gives_the_draws_of_one_call(x, kwargs):
    """A huge slice with top-k, top-p or min-p (issue #14: computed whole, 18-34x the input)
    is now streamed: the thresholds of one call (ties, k past the classes, p and min_p at their
    ends) found in passes, the same draws, the generator left where one call leaves it."""
    kwargs = {"size": 5} | kwargs
    _assert_same_draws(lambda seed: sk.sample(x, seed=seed, **kwargs))


def test_a_cut_within_rounding_follows_the_array_api_arithmetic():
    """min_p = exp(-0.5) is the ratio of the classes at 0.5 to those at 1.0: whether they are
    kept turns on the last bit of the renormalised probabilities, and there one call's own two
    paths disagree (the compiled kernel drops them, the array-API path keeps them). The
    streamed slice computes them as the array-API path does, its normaliser added by blocks."""
    call = lambda seed: sk.sample(_TIES, min_p=np.exp(-0.5), size=8, seed=seed)  # noqa: E731
    _assert_same_draws(call, kernel=False)


def test_the_streamed_filters_renormalise_to_the_documented_accuracy():
    """The probabilities that top-p and min-p cut on a streamed slice are one call's softmax:
    float64 within 4 ulp of mpmath, its normaliser compensated across the blocks (plain
    sums and shifts reached 126 ulp on these logits, whose shifts round in their last bits)."""
    from softmaxkit.variants import sampling

    logp = np.random.default_rng(7).normal(scale=30.0, size=512) - 5.0
    blocks = lambda: ((logp[i : i + 128], np.ones(128, bool)) for i in range(0, logp.size, 128))  # noqa: E731
    probs = sampling._renormalised(blocks, logp.dtype)
    streamed = np.concatenate([probs(*block) for block in blocks()])
    exact, _, _ = mpmath_softmax_family(logp[None, :])
    assert ulp_error(streamed, exact[0]).max() <= DOCUMENTED_ULP[logp.dtype]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(600, 1500),
    values=st.sampled_from(["normal", "ties", "wide"]),
    dtype=st.sampled_from([np.float64, np.float32]),
    tall=st.booleans(),
    temperature=st.sampled_from([1.0, 0.3, 4.0]),
    top_k=st.none() | st.integers(1, 1600),
    top_p=st.none() | st.floats(1e-6, 1.0),
    min_p=st.none() | st.floats(0.0, 1.0),
    data=st.data(),
)
def test_streamed_filters_draw_as_one_call(n, values, dtype, tall, temperature, top_k, top_p, min_p, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="row seed"))
    row = {"normal": rng.normal(size=n), "ties": rng.integers(-3, 3, n) / 2.0,
           "wide": rng.normal(scale=30.0, size=n)}[values]  # fmt: skip
    row = row.astype(dtype)
    n_bytes = row.nbytes
    x, axis = (np.stack([row, row[::-1]], axis=1), 0) if tall else (row, -1)
    if n_bytes <= 4096:  # too small to stream with blocks of 1 KiB: make it longer
        x = np.concatenate([x, x], axis=0)
    _assert_same_draws(
        lambda seed: sk.sample(
            x, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, size=2,
            seed=seed, axis=axis,
        )
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [({"temperature": -1.0}, ValueError, "temperature must be >= 0"),
     ({"top_k": 0}, ValueError, "top_k must be >= 1, got 0"),
     ({"top_k": 1.5}, TypeError, "top_k must be an int"),
     ({"top_p": 0.0}, ValueError, r"top_p must be in \(0, 1\], got 0.0"),
     ({"min_p": 1.5}, ValueError, r"min_p must be in \[0, 1\], got 1.5"),
     ({"size": -1}, ValueError, "size must be >= 0, got -1"),
     ({"size": (2, -1)}, ValueError, r"size\[1\] must be >= 0, got -1"),
     ({"size": 2.0}, TypeError, "size must be an int, got 2.0"),
     ({"size": (2, True)}, TypeError, r"size\[1\] must be an int, got True"),
     ({"seed": -3}, ValueError, "seed must be >= 0, got -3"),
     ({"seed": "a"}, TypeError, "seed must be an int, a numpy.random.Generator or None, got 'a'"),
     ({"seed": 2.0}, TypeError, "seed must be an int, a numpy.random.Generator or None, got 2.0")],
    ids=["temperature", "top_k", "top_k_type", "top_p", "min_p", "size", "size_tuple", "size_type",
         "size_tuple_type", "seed", "seed_type", "seed_float"],
)  # fmt: skip
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        sk.sample(LOGITS, **kwargs)


# ---------------------------------------------------------------- topk


def test_topk_hand_checked():
    values, indices = sk.topk([1.0, 5.0, 3.0, 5.0], 3)
    assert_array_equal(values, [5.0, 5.0, 3.0])
    assert_array_equal(indices, [1, 3, 2])


@requires_torch
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("axis", [0, 1])
def test_topk_matches_torch(rng, largest, axis):
    import torch

    # Few distinct values: many ties, and a NaN (torch: larger than every number).
    x = rng.integers(0, 4, size=(6, 7)).astype(float)
    x[2, 3] = np.nan
    got = sk.topk(x, 3, axis=axis, largest=largest)
    expected = torch.topk(torch.asarray(x), 3, dim=axis, largest=largest, sorted=True)
    assert_array_equal(got.values, expected.values.numpy())
    # torch's order among ties is not documented on CPU; the values at the
    # indices must match and the indices be distinct.
    assert_array_equal(np.take_along_axis(x, got.indices, axis=axis), got.values)
    assert all(len(set(col)) == 3 for col in np.moveaxis(got.indices, axis, -1).reshape(-1, 3))


def test_topk_ties_go_to_the_lower_index():
    assert_array_equal(sk.topk([2.0, 7.0, 7.0, 7.0], 2).indices, [1, 2])
    assert_array_equal(sk.topk([2.0, 1.0, 1.0], 2, largest=False).indices, [1, 2])


def test_topk_integers_keep_their_dtype():
    values, indices = sk.topk(np.array([3, 9, 1], dtype=np.int32), 2)
    assert values.dtype == np.int32
    assert_array_equal(values, [9, 3])


def test_topk_on_every_backend(rng, backend):
    # 3-D: the axis moved last is not axis 1 (Dask's one-hot selection reads shape[-1]).
    x = rng.normal(size=(3, 5, 2))
    got = sk.topk(backend.asarray(x), 2, axis=0)
    assert backend.is_native(got.values)
    expected = sk.topk(x, 2, axis=0)
    assert_allclose(backend.to_numpy(got.values), expected.values, rtol=0)
    assert_array_equal(backend.to_numpy(got.indices), expected.indices)


def test_topk_nan_is_larger_than_every_number():
    # torch.topk's order, checked here without torch: NaN first when largest, last otherwise.
    values, indices = sk.topk([1.0, np.nan, 3.0], 2)
    assert_array_equal(values, [np.nan, 3.0])
    assert_array_equal(indices, [1, 2])
    assert_array_equal(sk.topk([1.0, np.nan, 3.0], 2, largest=False).indices, [0, 2])


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
def test_topk_of_every_entry_is_a_stable_sort(dtype, largest):
    # 60 entries of 3 values: every tie goes to the lower index (a quicksort, used
    # by NumPy beyond 16 entries, would not keep that order).
    x = np.random.default_rng(6).integers(0, 3, size=60).astype(dtype)
    expected = np.argsort(-x if largest else x, kind="stable")
    got = sk.topk(x, x.size, largest=largest)
    assert_array_equal(got.indices, expected)
    assert_array_equal(got.values, x[expected])


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [(([True, False], 1), {}, TypeError, "x must be a real numeric array, got dtype bool"),
     ((np.array([1j, 2j]), 1), {}, TypeError, "x must be a real numeric array, got dtype complex128"),
     ((1.0, 0), {}, ValueError, "x must have at least one dimension, got a 0-d array"),
     (([1.0, 2.0], 1), {"largest": 1}, TypeError, "largest must be a bool, got 1"),
     (([1.0, 2.0], 1), {"sorted": 0}, TypeError, "sorted must be a bool, got 0")],
    ids=["bool", "complex", "0d", "largest", "sorted"],
)  # fmt: skip
def test_topk_bad_arguments_are_refused(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        sk.topk(*args, **kwargs)


def test_topk_k_zero_gives_empty():
    assert sk.topk(np.ones((2, 3)), 0).values.shape == (2, 0)


def test_topk_k_too_large_is_refused():
    with pytest.raises(ValueError, match=r"k must be in \[0, 3\] \(the length of axis 0\), got 4"):
        sk.topk([1.0, 2.0, 3.0], 4)


def test_a_lazy_slice_with_nothing_to_draw_gives_minus_one():
    # Documented: a lazy array (Dask) cannot be checked, so such a slice draws -1.
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.array([[0.0, 1.0], [-np.inf, -np.inf]]))
    assert_array_equal(np.asarray(sk.sample(x, size=3, seed=0))[1], [-1, -1, -1])
