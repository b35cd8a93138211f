"""segment_softmax, segment_log_softmax, segment_logsumexp.

References: hand-checked values, the dense masked softmax of the core on the
same data (one row per segment), scipy.special.logsumexp per segment, and
the three implementation paths (NumPy reduceat, torch scatter, the generic
sorted scan on array-api-strict) against each other.
"""

import numpy as np
import pytest
from helpers import BACKEND_NAMES, requires_scipy, requires_torch
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk

# Every test runs on both NumPy layouts (tests/variants/conftest.py).
pytestmark = pytest.mark.usefixtures("segment_layout")

INF, NAN = np.inf, np.nan


def sigmoid(t):
    return 1 / (1 + np.exp(-t))


def dense_reference(x, ids, num_segments, **kwargs):
    """Segment softmax through the core's masked softmax: one row per segment."""
    x = np.asarray(x, dtype=float)
    ids = np.asarray(ids)
    rows = np.broadcast_to(x, (num_segments, x.shape[0]))
    mask = ids[None, :] == np.arange(num_segments)[:, None]
    table = sk.softmax(rows, axis=-1, where=mask, **kwargs)
    return table[ids, np.arange(x.shape[0])]


def test_hand_checked_values():
    y = sk.segment_softmax([1.0, 2.0, 5.0, 0.0, 0.0], [0, 0, 1, 2, 2])
    assert_allclose(y, [sigmoid(-1), sigmoid(1), 1.0, 0.5, 0.5], rtol=1e-15)


def test_a_temperature_never_overflows_the_quotient():
    # x / 0.1 overflows in segment 0; segment 1 must be divided as before.
    x, ids = [1e308, 9e307, 1.0, 2.0], [0, 0, 1, 1]
    p = sk.segment_softmax(x, ids, temperature=0.1)
    assert_array_equal(p[:2], [1.0, 0.0])
    assert_allclose(p[2:], [sigmoid(-10.0), sigmoid(10.0)], rtol=1e-15)
    assert_allclose(sk.segment_log_softmax(x, ids, temperature=0.1)[1], -1e308, rtol=1e-15)


def test_the_padded_layout_places_each_entry_and_refuses_unequal_segments():
    from softmaxkit.variants._segments import Segments

    layout = Segments(np, np.array([2, 0, 2, 2, 0]), 4).padded_layout(4.0)
    assert layout.longest == 3
    assert_array_equal(layout.flat % layout.longest, [0, 0, 1, 2, 1])  # rank in the segment
    assert_array_equal(layout.flat, [6, 0, 7, 8, 1])
    # 101 segments padded to the longest (100) would be 50x the 200 entries.
    skewed = np.array([0] * 100 + list(range(1, 101)))
    assert Segments(np, skewed, 101).padded_layout(4.0) is None
    # Exactly max_padding times the entries is still padded: 4 segments of up to 4 entries.
    assert Segments(np, np.array([1, 1, 1, 1]), 4).padded_layout(4.0).longest == 4
    assert Segments(np, np.array([1, 1, 1, 1]), 5).padded_layout(4.0) is None


def test_dense_zero_is_a_value_not_a_gap():
    # pyg-team/pytorch_geometric#2911: all entries given are in the softmax, zeros included.
    y = sk.segment_softmax([0.0, 9.0, 0.0], [0, 0, 0])
    assert_allclose(y, sk.softmax([0.0, 9.0, 0.0]), rtol=1e-15)


def test_matches_the_dense_masked_softmax(rng):
    x = rng.normal(size=200) * 5
    ids = rng.integers(0, 17, size=200)
    assert_allclose(sk.segment_softmax(x, ids), dense_reference(x, ids, 17), rtol=1e-14)


def test_unsorted_ids_give_the_permuted_sorted_result(rng):
    x = rng.normal(size=100)
    ids = rng.integers(0, 9, size=100)
    order = np.argsort(ids, kind="stable")
    sorted_result = sk.segment_softmax(x[order], ids[order])
    assert_allclose(sk.segment_softmax(x, ids)[order], sorted_result, rtol=1e-15)


@pytest.mark.parametrize("num_segments", [1, 5, 40])
def test_each_segment_sums_to_one(rng, num_segments):
    x = rng.normal(size=300) * 10
    ids = rng.integers(0, num_segments, size=300)
    totals = np.bincount(ids, weights=sk.segment_softmax(x, ids), minlength=num_segments)
    present = np.bincount(ids, minlength=num_segments) > 0
    assert_allclose(totals[present], 1.0, rtol=1e-14)


def test_temperature_divides_the_scores(rng):
    x = rng.normal(size=50)
    ids = rng.integers(0, 4, size=50)
    assert_allclose(
        sk.segment_softmax(x, ids, temperature=0.25), sk.segment_softmax(x / 0.25, ids), rtol=1e-14
    )


def test_where_excludes_entries():
    y = sk.segment_softmax([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 1], where=[True, False, True, False])
    assert_allclose(y, [sigmoid(-2), 0.0, sigmoid(2), 0.0], rtol=1e-15)


def test_feature_axes_are_independent(rng):
    x = rng.normal(size=(30, 3))  # 30 edges, 3 attention heads
    ids = rng.integers(0, 5, size=30)
    y = sk.segment_softmax(x, ids)
    for head in range(3):
        assert_allclose(y[:, head], sk.segment_softmax(x[:, head], ids), rtol=1e-15)


def test_axis_selects_the_segmented_axis(rng):
    x = rng.normal(size=(4, 30))
    ids = rng.integers(0, 5, size=30)
    assert_allclose(sk.segment_softmax(x, ids, axis=1), sk.segment_softmax(x.T, ids).T, rtol=1e-15)


def test_log_softmax_is_finite_where_softmax_underflows():
    y = sk.segment_log_softmax([1000.0, 0.0, -5.0, 3.0], [0, 0, 0, 1])
    assert_allclose(y, [0.0, -1000.0, -1005.0, 0.0], rtol=1e-15)


def test_log_softmax_is_the_log_of_softmax(rng):
    x = rng.normal(size=80)
    ids = rng.integers(0, 6, size=80)
    assert_allclose(
        sk.segment_log_softmax(x, ids), np.log(sk.segment_softmax(x, ids)), rtol=1e-13
    )


@requires_scipy
def test_logsumexp_matches_scipy_per_segment(rng):
    from scipy.special import logsumexp

    x = rng.normal(size=120) * 30
    ids = rng.integers(0, 7, size=120)
    expected = [logsumexp(x[ids == s]) for s in range(7)]
    assert_allclose(sk.segment_logsumexp(x, ids), expected, rtol=1e-14)


def test_logsumexp_of_an_empty_segment_is_minus_inf():
    y = sk.segment_logsumexp([0.0, 0.0, 1000.0], [0, 0, 2], num_segments=4)
    assert_allclose(y, [np.log(2), -INF, 1000.0, -INF], rtol=1e-15)


def test_logsumexp_keeps_feature_axes():
    x = np.array([[0.0, 1.0], [0.0, 1.0], [5.0, 6.0]])
    y = sk.segment_logsumexp(x, [1, 1, 0])
    assert_allclose(y, [[5.0, 6.0], [np.log(2), 1 + np.log(2)]], rtol=1e-15)


EDGE_X = [INF, 1.0, NAN, 2.0, -INF, -INF, INF, INF, 0.0, 3.0]
EDGE_IDS = [0, 0, 1, 1, 2, 2, 3, 3, 3, 4]


def test_edge_case_policy_softmax():
    y = sk.segment_softmax(EDGE_X, EDGE_IDS)
    assert_array_equal(y[:2], [1.0, 0.0])  # +inf takes the limit
    assert np.isnan(y[2:4]).all()  # NaN stays in its segment
    assert_array_equal(y[4:6], [0.0, 0.0])  # all -inf: zeros
    assert_array_equal(y[6:9], [0.5, 0.5, 0.0])  # two +inf share the mass
    assert y[9] == 1.0  # untouched by its neighbours


def test_edge_case_policy_logsumexp():
    y = sk.segment_logsumexp(EDGE_X, EDGE_IDS)
    assert y[0] == INF and np.isnan(y[1]) and y[2] == -INF and y[3] == INF and y[4] == 3.0
    # A NaN alone in its segment: the segment's count of NaN entries is 1.
    assert_allclose(sk.segment_logsumexp([1.0, NAN, 0.0], [1, 0, 1]), [NAN, np.logaddexp(1.0, 0.0)], rtol=1e-15)


def test_empty_input_gives_empty_output():
    y = sk.segment_softmax(np.empty(0), np.empty(0, dtype=np.int64))
    assert y.shape == (0,)
    assert_array_equal(
        sk.segment_logsumexp(np.empty(0), np.empty(0, dtype=np.int64), num_segments=2), [-INF, -INF]
    )
    for num_segments in (0, None):  # None: max(ids) + 1 of no ids, 0 segments
        lse = sk.segment_logsumexp(np.empty(0), np.empty(0, dtype=np.int64), num_segments=num_segments)
        assert lse.shape == (0,)


def test_float32_is_kept_and_correctly_rounded(rng):
    x = rng.normal(size=64).astype(np.float32) * 20
    ids = rng.integers(0, 5, size=64)
    y = sk.segment_softmax(x, ids)
    assert y.dtype == np.float32
    assert_array_equal(y, sk.segment_softmax(x.astype(np.float64), ids).astype(np.float32))


def test_inputs_are_not_mutated(rng):
    x = rng.normal(size=20)
    ids = rng.integers(0, 3, size=20)
    x_copy, ids_copy = x.copy(), ids.copy()
    sk.segment_softmax(x, ids, where=np.ones(20, dtype=bool))
    assert_array_equal(x, x_copy)
    assert_array_equal(ids, ids_copy)


# The three implementation paths must agree, including on the edge cases.


def _on_every_path(x, ids, **kwargs):
    import array_api_strict

    results = {
        "numpy": sk.segment_softmax(np.asarray(x), np.asarray(ids), **kwargs),
        "scan": np.asarray(
            sk.segment_softmax(array_api_strict.asarray(x), array_api_strict.asarray(ids), **kwargs)
        ),
    }
    try:
        import torch
    except ImportError:
        return results
    results["torch"] = sk.segment_softmax(torch.asarray(x), torch.asarray(ids), **kwargs).numpy()
    return results


@pytest.mark.parametrize("case", ["random", "edge"])
def test_the_implementation_paths_agree(rng, case):
    pytest.importorskip("array_api_strict")
    if case == "random":
        x = rng.normal(size=(257, 2)) * 10
        ids = rng.integers(0, 19, size=257)
    else:
        x, ids = np.array(EDGE_X), np.array(EDGE_IDS)
    results = _on_every_path(x, ids)
    for name, values in results.items():
        assert_allclose(values, results["numpy"], rtol=1e-15, atol=0, err_msg=name)


def test_on_every_backend(backend, rng):
    x = rng.normal(size=40)
    ids = rng.integers(0, 6, size=40)
    y = sk.segment_softmax(backend.asarray(x), backend.asarray(ids, dtype="int64"), num_segments=6)
    assert backend.is_native(y)
    assert_allclose(backend.to_numpy(y), sk.segment_softmax(x, ids), rtol=1e-15)
    lse = sk.segment_logsumexp(backend.asarray(x), backend.asarray(ids, dtype="int64"), num_segments=6)
    assert_allclose(backend.to_numpy(lse), sk.segment_logsumexp(x, ids, num_segments=6), rtol=1e-15)


# JAX takes the scan path as array-api-strict does, compiling each new shape (~30 s).
@pytest.mark.parametrize("backend", [name for name in BACKEND_NAMES if name != "jax"], indirect=True)
def test_empty_segments_and_empty_input_on_each_path(backend):
    # Segments 1 and 3 are empty (logsumexp -inf); segment 0's one entry comes first
    # in sorted order, where a scan finds its last position at 0.
    x = np.array([[5.0, -5.0], [1000.0, -1000.0], [0.0, 1.0], [0.0, 1.0]])
    ids = np.array([2, 0, 2, 2])
    lse = sk.segment_logsumexp(backend.asarray(x), backend.asarray(ids, dtype="int64"), num_segments=4)
    expected = [[1000.0, -1000.0], [-INF, -INF], [5 + np.log1p(2 * np.exp(-5.0)), 1 + np.log(2 + np.exp(-6.0))], [-INF, -INF]]
    assert_allclose(backend.to_numpy(lse), expected, rtol=1e-15)
    # More segments than entries (relabelled where the ids can be read; on Dask,
    # before 2026-12-02, a NaN count of unique ids and a ValueError).
    p = sk.segment_softmax(backend.asarray(x), backend.asarray(ids, dtype="int64"), num_segments=6)
    assert_allclose(backend.to_numpy(p), sk.segment_softmax(x, ids), rtol=1e-15)
    assert_array_equal(backend.to_numpy(p)[1], [1.0, 1.0])
    none = backend.asarray(np.empty((0, 2))), backend.asarray(np.empty(0, dtype=np.int64), dtype="int64")
    assert_array_equal(backend.to_numpy(sk.segment_logsumexp(*none, num_segments=2)), np.full((2, 2), -INF))
    assert backend.to_numpy(sk.segment_softmax(*none, num_segments=2)).shape == (0, 2)


STREAMED = {
    "softmax": sk.segment_softmax,
    "softmax_temperature": lambda *args, **kwargs: sk.segment_softmax(*args, temperature=0.5, **kwargs),
    "log_softmax": sk.segment_log_softmax,
    "logsumexp": sk.segment_logsumexp,
}


@pytest.mark.parametrize("name", STREAMED)
def test_a_streamed_vector_gives_the_values_of_one_call(name, monkeypatch):
    # 8 blocks of 4 KiB: a block of entries at a time, per-segment numbers
    # accumulated across blocks. Segment 0 holds scores past half the float
    # maximum (x / 0.5 overflows there: shifted by its maximum first; x / 1.0
    # never needs it), 1 a +inf, 2 a NaN, 3 only -inf; 64 and 65 no entry.
    from softmaxkit import _chunks

    function = STREAMED[name]

    rng = np.random.default_rng(3)
    ids = rng.integers(0, 64, 4096)
    x = 30.0 * rng.normal(size=4096)  # x - max inexact: its TwoSum error matters
    x[ids == 0] = np.linspace(1.0e308, 1.7e308, np.count_nonzero(ids == 0))
    x[np.flatnonzero(ids == 1)[2]] = INF
    x[np.flatnonzero(ids == 2)[1]] = NAN
    x[ids == 3] = -INF
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)
    streamed = function(x, ids, num_segments=66)
    monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 40)
    whole = function(x, ids, num_segments=66)
    assert_array_equal(np.isnan(streamed), np.isnan(whole))
    assert_allclose(streamed, whole, rtol=4 * np.finfo(float).eps, atol=0)
    if name == "logsumexp":
        assert streamed[0] == 1.7e308 and streamed[1] == INF and np.isnan(streamed[2])
        assert_array_equal(streamed[[3, 64, 65]], -INF)


@requires_torch
def test_matches_a_torch_scatter_segment_softmax(rng):
    # torch_geometric.utils.softmax: scatter-max, exp, scatter-add, divide.
    import torch

    x = torch.asarray(rng.normal(size=(100, 4)))
    ids = torch.asarray(rng.integers(0, 10, size=100))
    index = ids[:, None].expand_as(x)
    seg_max = torch.zeros(10, 4, dtype=x.dtype).scatter_reduce(0, index, x, "amax", include_self=False)
    e = (x - seg_max[ids]).exp()
    reference = e / torch.zeros(10, 4, dtype=x.dtype).index_add(0, ids, e)[ids]
    assert_allclose(sk.segment_softmax(x, ids).numpy(), reference.numpy(), rtol=1e-14)


# Errors name the argument and the value.


def test_float_ids_are_refused():
    with pytest.raises(TypeError, match="segment_ids must be an integer array"):
        sk.segment_softmax([1.0, 2.0], [0.0, 1.0])


def test_ids_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match=r"segment_ids must have shape \(3,\)"):
        sk.segment_softmax([1.0, 2.0, 3.0], [0, 1])


@pytest.mark.parametrize("bad_id", [-1, 3])
def test_ids_out_of_range_are_refused(bad_id):
    with pytest.raises(ValueError, match=rf"segment_ids contains {bad_id}, outside \[0, 3\)"):
        sk.segment_softmax([1.0, 2.0], [0, bad_id], num_segments=3)


@pytest.mark.parametrize("function", [sk.segment_softmax, sk.segment_log_softmax, sk.segment_logsumexp])
def test_a_zero_dimensional_x_is_refused(function):
    with pytest.raises(ValueError, match="x must have at least one dimension, got a 0-d array"):
        function(np.float64(1.0), [0])


def test_negative_num_segments_is_refused():
    with pytest.raises(ValueError, match="num_segments must be >= 0, got -1"):
        sk.segment_softmax([1.0], [0], num_segments=-1)


def test_lazy_arrays_need_num_segments():
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.arange(4.0), chunks=2)
    ids = da.from_array(np.array([0, 0, 1, 1]), chunks=2)
    with pytest.raises(ValueError, match="num_segments is required for lazy arrays"):
        sk.segment_softmax(x, ids)


def test_array_temperature_is_refused():
    with pytest.raises(TypeError, match="temperature must be a number"):
        sk.segment_softmax([1.0, 2.0], [0, 0], temperature=np.array([1.0, 2.0]))


@pytest.mark.parametrize("num_segments", [2**16, 2**16 + 5], ids=["uint16_sort_key", "int64_sort_key"])
def test_many_segments_around_the_radix_sort_limit(rng, num_segments):
    # Low ids too: past 2**16 a uint16 sort key would put id 65536 + k with id k.
    # segment_logsumexp keeps the ids as given (the softmaxes relabel them 0..k-1
    # when the segments outnumber the entries, as here).
    low, high = rng.integers(0, 6, size=40), rng.integers(num_segments - 300, num_segments, size=1960)
    ids = rng.permutation(np.concatenate([low, high]))
    x = rng.normal(size=2000)
    maxima = np.full(num_segments, -np.inf)
    np.maximum.at(maxima, ids, x)
    e = np.exp(x - maxima[ids])
    sums = np.bincount(ids, weights=e, minlength=num_segments)
    assert_allclose(sk.segment_softmax(x, ids, num_segments=num_segments), e / sums[ids], rtol=1e-14)
    with np.errstate(divide="ignore"):
        expected = maxima + np.log(sums)  # -inf for the empty segments
    assert_allclose(sk.segment_logsumexp(x, ids, num_segments=num_segments), expected, rtol=1e-14)
