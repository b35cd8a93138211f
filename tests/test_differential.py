"""A hypothesis-driven differential suite over every public function (issue #14, "Done means").

Hypothesis draws the arrays (float16/32/64; shapes with empty axes; NaN and
+-inf mixed in; every layout of tests/test_kernel_layouts.py: reversed,
transposed, stepped, broadcast, unaligned, byte-swapped, odd unit strides),
the axis, a temperature (a number or one per row) and a ``where=`` mask, and
checks each function against an independent computation:

* ``spec``: every public function (tests/reliability_catalogue.py) with the
  compiled kernel on against the array-API specification (kernel off);
* ``layout``: every public function on a drawn layout against the same
  values in a plain C-contiguous array (bit for bit), the input untouched;
* ``peers``: scipy.special, torch.nn.functional, jax.nn, scipy.stats, the
  entmax package and scikit-learn, where the semantics match;
* ``mpmath``: softmax, log_softmax, logsumexp, sigmoid, log_sigmoid and
  entropy at 40 digits, within the README's ulp bounds;
* ``errors``: bad arguments to every public function taking them give a
  one-line ValueError/TypeError naming the argument.

The README's promises hold throughout: pytest runs with
``filterwarnings=error``, so any warning fails a case; any exception other
than a one-line ValueError/TypeError fails it. The settings are
reproducible (``derandomize``, no example database) and sized for CI.
"""

from __future__ import annotations

import math
import os

# Triton's interpreter runs the kernels on the CPU; it must be chosen before
# softmaxkit.triton defines them (as in tests/test_triton_interpreter.py).
os.environ["TRITON_INTERPRET"] = "1"

import numpy as np
import pytest
from helpers import DOCUMENTED_ULP, MAX_ULP, assert_agree, has_module, spec, ulp_error
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reliability_catalogue import CALLS, LINEAR
from test_kernel_layouts import LAYOUTS, in_layout

import softmaxkit as sk
from softmaxkit import calibration

DTYPES = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]
def reproducible(max_examples: int) -> settings:
    """CI settings: the same examples every run, no example database, no deadline."""
    return settings(
        max_examples=max_examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )  # fmt: skip

# Values exactly representable in float16, so one drawn array means the same in every dtype.
FINITE = st.floats(-60, 60, width=16)
WITH_SPECIALS = st.one_of(FINITE, FINITE, FINITE, st.sampled_from([np.inf, -np.inf, np.nan]))


@st.composite
def matrices(draw, *, dtypes=DTYPES, min_side=0, elements=WITH_SPECIALS, max_side=6, extreme=False):
    """A (rows, n) array in a drawn dtype, C-contiguous (layouts are applied apart).

    With ``extreme``, sometimes scaled so that its largest values reach the
    dtype's range (float16 65504, float32 3e38, float64 1e308).
    """
    dtype = draw(st.sampled_from(dtypes))
    shape = (draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side)))
    values = draw(hnp.arrays(np.float64, shape, elements=elements))
    if extreme and draw(st.booleans()):
        values = values * (float(np.finfo(dtype).max) / 64.0)  # FINITE lies within +-60
    return values.astype(dtype)


def _outcome(call, x):
    """The result of ``call(x)``, or the one-line ValueError/TypeError it raised."""
    try:
        return call(x)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert "\n" not in message and message, f"{type(error).__name__}: {message!r}"
        return error


def _as_arrays(result):
    """A result as a tuple of NumPy arrays (tuples, NamedTuples and scalars alike)."""
    if isinstance(result, tuple):
        return tuple(np.asarray(part) for part in result)
    if hasattr(result, "toarray"):  # scipy.sparse results
        return (np.asarray(result.toarray()),)
    return (np.asarray(result),)


def _assert_same_outcome(actual, expected):
    """The same error, or the same values: bit for bit, but for floats that a
    kernel loop chosen by the layout may round differently within the
    documented ulps (found here: float32 ``softmax(axis=0)`` of a reversed
    array, 1 ulp from the plain array's correctly rounded 8.423464e-12)."""
    if isinstance(expected, Exception):
        assert type(actual) is type(expected) and str(actual) == str(expected), (actual, expected)
        return
    assert not isinstance(actual, Exception), actual
    for a, e in zip(_as_arrays(actual), _as_arrays(expected), strict=True):
        assert a.shape == e.shape and a.dtype.newbyteorder("=") == e.dtype.newbyteorder("=")
        if a.dtype.kind == "f":
            _assert_close_in_ulps(a, e)
        else:
            np.testing.assert_array_equal(a, e)


def _assert_close_in_ulps(a, e):
    """The same NaN/inf pattern; finite values within MAX_ULP of their result's largest magnitude."""
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    np.testing.assert_array_equal(a[np.isinf(e)], e[np.isinf(e)])
    finite = np.isfinite(e)
    if finite.any():
        scale = float(np.max(np.abs(e[finite].astype(np.float64))))
        assert_agree(a[finite], e[finite], scale=max(scale, float(np.finfo(e.dtype).tiny)))


# ------------------------------------------------------------ every function: layouts


def _catalogue_elements(name):
    # The linear layers take features, not logits (see reliability_catalogue).
    return FINITE if name in LINEAR else WITH_SPECIALS


@pytest.mark.parametrize("name", CALLS)
@reproducible(25)
@given(data=st.data())
def test_layout_every_function_gives_the_values_of_a_plain_array(name, data):
    """Also pins the catalogue's own sampled_softmax_loss call (``% 0`` warned on 0 classes)."""
    x = data.draw(matrices(elements=_catalogue_elements(name), extreme=name not in LINEAR))
    view = in_layout(x, data.draw(st.sampled_from(LAYOUTS)), data.draw)
    plain = np.ascontiguousarray(view).astype(view.dtype.newbyteorder("="))
    before = view.copy()
    _assert_same_outcome(_outcome(CALLS[name], view), _outcome(CALLS[name], plain))
    np.testing.assert_array_equal(view, before)  # the input is never modified


# ------------------------------------------------------------ every function: kernel vs spec


def _assert_agree_loosely(actual, expected):
    """Kernel against spec: the same NaN/inf pattern; integers equal; floats within
    MAX_ULP of the largest magnitude of their result (gradients and losses cancel)."""
    if isinstance(expected, Exception):
        _assert_same_outcome(actual, expected)
        return
    assert not isinstance(actual, Exception), actual
    for a, e in zip(_as_arrays(actual), _as_arrays(expected), strict=True):
        assert a.shape == e.shape and a.dtype == e.dtype
        if a.dtype.kind == "f":
            _assert_close_in_ulps(a, e)
        else:
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("name", CALLS)
@reproducible(25)
@given(data=st.data())
def test_spec_every_function_agrees_with_the_specification(name, data):
    x = data.draw(matrices(elements=_catalogue_elements(name), extreme=name not in LINEAR))
    _assert_agree_loosely(_outcome(CALLS[name], x), _outcome(lambda v: spec(CALLS[name], v), x))


# ------------------------------------------------------------ the family's options: kernel vs spec


@st.composite
def family_arguments(draw):
    """x, axis, temperature (None, a number, or one per row) and where (None or a mask)."""
    x = draw(matrices(extreme=True))
    axis = draw(st.sampled_from([-1, 0, 1, (0, 1)]))
    temperature = draw(
        st.one_of(
            st.none(),
            st.sampled_from([0.25, 1.0, 3.0, 1e-3, 1e3]),
            hnp.arrays(np.float64, (x.shape[0], 1), elements=st.floats(0.1, 10)),
        )
    )
    if temperature is not None and not isinstance(temperature, float) and axis != -1:
        temperature = None  # one per row is constant along the last axis only
    where = draw(st.one_of(st.none(), hnp.arrays(np.bool_, x.shape)))
    return x, axis, temperature, where


@reproducible(300)
@given(family_arguments(), st.sampled_from(["softmax", "log_softmax"]))
def test_spec_softmax_options_agree_with_the_specification(arguments, name):
    x, axis, temperature, where = arguments
    options = {"axis": axis, "where": where}
    if temperature is not None:
        options["temperature"] = temperature
    function = getattr(sk, name)
    _assert_agree_loosely(
        _outcome(lambda v: function(v, **options), x),
        _outcome(lambda v: spec(function, v, **options), x),
    )


@reproducible(200)
@given(family_arguments())
def test_spec_logsumexp_options_agree_with_the_specification(arguments):
    x, axis, _, where = arguments
    _assert_agree_loosely(
        _outcome(lambda v: sk.logsumexp(v, axis=axis, where=where), x),
        _outcome(lambda v: spec(sk.logsumexp, v, axis=axis, where=where), x),
    )


# ------------------------------------------------------------ peers


def _close(actual, expected, dtype, *, ulps=None):
    """Within a few ulp of the peer, relative to the larger of the value and 1."""
    eps = float(np.finfo(dtype).eps)
    tolerance = (ulps or 4 * MAX_ULP[np.dtype(dtype)]) * eps
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


PEER_ELEMENTS = st.one_of(FINITE, FINITE, FINITE, st.just(-np.inf))


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
@reproducible(200)
@given(matrices(dtypes=[np.dtype(np.float64)], min_side=1, elements=PEER_ELEMENTS))
def test_peers_scipy_special(x):
    from scipy import special

    live = ~np.all(x == -np.inf, axis=-1)
    with np.errstate(invalid="ignore"):  # scipy warns (and gives NaN) on an all -inf row
        p, logp = special.softmax(x, axis=-1), special.log_softmax(x, axis=-1)
        lse = special.logsumexp(x, axis=-1)
    _close(sk.softmax(x)[live], p[live], x.dtype)
    _close(sk.log_softmax(x)[live], logp[live], x.dtype)
    _close(sk.logsumexp(x, axis=-1), lse, x.dtype)
    _close(sk.sigmoid(x), special.expit(x), x.dtype)
    _close(sk.log_sigmoid(x), special.log_expit(x), x.dtype)


@pytest.mark.skipif(not has_module("torch"), reason="needs torch")
@reproducible(200)
@given(
    matrices(dtypes=[np.dtype(np.float32), np.dtype(np.float64)], min_side=1, elements=FINITE),
    st.floats(0.0, 0.5),
)
def test_peers_torch_functional(x, smoothing):
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(x.astype(np.float64))
    _close(sk.softmax(x), F.softmax(t, dim=-1).numpy().astype(x.dtype), x.dtype)
    _close(sk.log_softmax(x), F.log_softmax(t, dim=-1).numpy().astype(x.dtype), x.dtype)
    target = np.arange(x.shape[0]) % x.shape[1]
    expected = F.cross_entropy(t, torch.from_numpy(target), label_smoothing=smoothing).item()
    _close(float(sk.cross_entropy(x, target, label_smoothing=smoothing)), expected, x.dtype)
    q = x[::-1].copy()
    expected = F.kl_div(
        F.log_softmax(torch.from_numpy(q.astype(np.float64)), -1), F.log_softmax(t, -1),
        log_target=True, reduction="none",
    ).sum(-1).numpy()  # fmt: skip
    _close(sk.kl_divergence(logits_p=x, logits_q=q), expected.astype(x.dtype), x.dtype, ulps=64)


@pytest.mark.skipif(not has_module("jax"), reason="needs jax")
@reproducible(100)
@given(matrices(dtypes=[np.dtype(np.float32)], min_side=1, elements=FINITE))
def test_peers_jax_nn(x):
    import jax

    # JAX compiles every operation anew for each shape it meets: the peer is
    # called on one row at a time (6 shapes (n,), not 36 shapes (rows, n)),
    # which cuts this test's time 6-fold; each row is its own softmax anyway.
    rows = [jax.numpy.asarray(row) for row in x]
    expected = {
        name: np.stack([np.asarray(function(row)) for row in rows])
        for name, function in [
            ("softmax", jax.nn.softmax), ("log_softmax", jax.nn.log_softmax),
            ("logsumexp", lambda row: jax.nn.logsumexp(row, axis=-1)),
        ]
    }  # fmt: skip
    # XLA's CPU division is not correctly rounded (tests/test_accuracy.py): a few ulp.
    _close(sk.softmax(x), expected["softmax"], x.dtype, ulps=16)
    _close(sk.log_softmax(x), expected["log_softmax"], x.dtype, ulps=16)
    _close(sk.logsumexp(x, axis=-1), expected["logsumexp"], x.dtype, ulps=16)


@pytest.mark.skipif(not has_module("entmax"), reason="needs entmax")
@reproducible(150)
@given(matrices(dtypes=[np.dtype(np.float64)], min_side=1, elements=FINITE))
def test_peers_entmax_package(x):
    import entmax
    import torch

    t = torch.from_numpy(x)
    _close(sk.sparsemax(x), entmax.sparsemax(t, dim=-1).numpy(), x.dtype, ulps=64)
    _close(sk.entmax15(x), entmax.entmax15(t, dim=-1).numpy(), x.dtype, ulps=64)
    # Both bisect to within 2**-50 of the threshold.
    np.testing.assert_allclose(
        sk.entmax_bisect(x, alpha=1.3, n_iter=50),
        entmax.entmax_bisect(t, alpha=1.3, dim=-1, n_iter=50).numpy(), atol=1e-9,
    )  # fmt: skip


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
@reproducible(150)
@given(matrices(dtypes=[np.dtype(np.float64)], min_side=1, elements=st.floats(0, 8, width=16)))
def test_peers_scipy_stats_entropy(p):
    from scipy import stats

    p = p + 0.125  # positive sums
    _close(sk.entropy(probs=p), stats.entropy(p, axis=-1), p.dtype, ulps=64)
    q = p[::-1].copy()
    _close(sk.kl_divergence(probs_p=p, probs_q=q), stats.entropy(p, q, axis=-1), p.dtype, ulps=64)


@pytest.mark.skipif(not has_module("sklearn"), reason="needs scikit-learn")
@reproducible(100)
@given(matrices(dtypes=[np.dtype(np.float64)], min_side=2, elements=FINITE))
def test_peers_sklearn_metrics(z):
    from sklearn import metrics

    p = sk.softmax(z)
    classes = np.arange(z.shape[1])
    y = classes[np.arange(z.shape[0]) % z.shape[1]]
    # scikit-learn clips probabilities at float64's eps before the log; softmaxkit does not.
    assume(np.all(p[np.arange(len(y)), y] > np.finfo(np.float64).eps))
    expected = metrics.log_loss(y, p, labels=classes)
    _close(calibration.negative_log_likelihood(p, y), expected, p.dtype, ulps=256)
    # scikit-learn's multiclass Brier score is the mean squared distance to the one-hot labels.
    one_hot = (y[:, None] == classes).astype(float)
    _close(calibration.brier_score(p, y), np.mean(np.sum((p - one_hot) ** 2, axis=1)), p.dtype, ulps=64)


@pytest.mark.skipif(not has_module("torch"), reason="needs torch")
@reproducible(200)
@given(
    matrices(dtypes=[np.dtype(np.float32), np.dtype(np.float64)], min_side=1, elements=FINITE),
    st.data(),
)
def test_peers_torch_cross_entropy_and_nll_options(x, data):
    import torch
    import torch.nn.functional as F

    n, c = x.shape
    target = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    if data.draw(st.booleans()):
        target[data.draw(st.integers(0, n - 1))] = -100  # ignored
    weight = data.draw(st.one_of(st.none(), hnp.arrays(np.float64, c, elements=st.floats(0.0, 3.0))))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = data.draw(st.sampled_from([0.0, 0.1, 0.7]))
    t = torch.from_numpy(x.astype(np.float64))
    w = None if weight is None else torch.from_numpy(weight)
    options = {"weight": weight, "reduction": reduction}
    with np.errstate(all="ignore"):
        expected = F.cross_entropy(
            t, torch.from_numpy(target), weight=w, reduction=reduction, label_smoothing=smoothing
        ).numpy()  # fmt: skip
        expected_nll = F.nll_loss(
            F.log_softmax(t, -1), torch.from_numpy(target), weight=w, reduction=reduction
        ).numpy()  # fmt: skip
    actual = sk.cross_entropy(x, target, label_smoothing=smoothing, **options)
    # torch's mean over no weight is NaN (0 / 0): the same here.
    _close_or_both_nan(actual, expected.astype(x.dtype), x.dtype)
    _close_or_both_nan(sk.nll_loss(sk.log_softmax(x), target, **options), expected_nll.astype(x.dtype), x.dtype)


def _close_or_both_nan(actual, expected, dtype):
    actual, expected = np.asarray(actual), np.asarray(expected)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    keep = ~np.isnan(expected)
    _close(actual[keep], expected[keep], dtype, ulps=64)


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
@reproducible(200)
@given(
    matrices(dtypes=[np.dtype(np.float64)], min_side=1, elements=PEER_ELEMENTS),
    st.data(),
)
def test_peers_scipy_logsumexp_with_weights_and_sign(x, data):
    from scipy import special

    b = data.draw(hnp.arrays(np.float64, x.shape, elements=st.sampled_from([-2.0, -0.5, 0.0, 1.0, 3.0])))
    axis = data.draw(st.sampled_from([-1, 0, None]))
    with np.errstate(all="ignore"):
        expected, expected_sign = special.logsumexp(x, axis=axis, b=b, return_sign=True)
    actual, sign = sk.logsumexp(x, axis=axis, b=b, return_sign=True)
    # Where the weighted sum cancels (exactly 0 in [1, 1, 1, 1] with b = [-2, 3, -0.5, -0.5]),
    # softmaxkit's -inf is exact and scipy's rounding leaves a tiny number: compared where
    # the sum keeps at least 1e-6 of its terms' magnitude.
    with np.errstate(all="ignore"):
        magnitude = special.logsumexp(x, axis=axis, b=np.abs(b))
    defined = np.isfinite(expected) & (expected > magnitude + math.log(1e-6))
    _close(np.asarray(actual)[defined], np.asarray(expected)[defined], x.dtype, ulps=64)
    np.testing.assert_array_equal(np.asarray(sign)[defined], np.asarray(expected_sign)[defined])


@pytest.mark.skipif(not has_module("torch"), reason="needs torch")
@reproducible(150)
@given(matrices(dtypes=[np.dtype(np.float64)], min_side=1, elements=FINITE), st.data())
def test_peers_torch_autograd_and_entmax_against_the_vjps(x, data):
    import entmax
    import torch

    g = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-4, 4)))
    t = torch.from_numpy(x).requires_grad_(True)
    for forward, vjp, peer in (
        (sk.softmax, sk.softmax_vjp, lambda v: torch.softmax(v, -1)),
        (sk.log_softmax, sk.log_softmax_vjp, lambda v: torch.log_softmax(v, -1)),
        (sk.sparsemax, sk.sparsemax_vjp, lambda v: entmax.sparsemax(v, dim=-1)),
        (sk.entmax15, sk.entmax15_vjp, lambda v: entmax.entmax15(v, dim=-1)),
    ):
        (expected,) = torch.autograd.grad(peer(t), t, torch.from_numpy(g))
        _close(vjp(forward(x), g), expected.numpy(), x.dtype, ulps=256)


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
@reproducible(150)
@given(
    hnp.arrays(np.float64, st.integers(1, 12), elements=PEER_ELEMENTS),
    st.data(),
)
def test_peers_segment_softmax_against_scipy_per_segment(x, data):
    from scipy import special

    ids = data.draw(hnp.arrays(np.int64, x.shape, elements=st.integers(0, 3)))
    temperature = data.draw(st.sampled_from([0.5, 1.0, 4.0]))
    actual = sk.segment_softmax(x, ids, temperature=temperature)
    log_actual = sk.segment_log_softmax(x, ids, temperature=temperature)
    lse = sk.segment_logsumexp(x, ids)
    for segment in np.unique(ids):
        entries = ids == segment
        with np.errstate(invalid="ignore"):
            expected = special.softmax(x[entries] / temperature)
            expected_lse = special.logsumexp(x[entries])
        if np.all(x[entries] == -np.inf):  # softmaxkit: zeros and -inf; scipy: NaN
            assert np.all(actual[entries] == 0) and np.all(log_actual[entries] == -np.inf)
            continue
        _close(actual[entries], expected, x.dtype, ulps=64)
        _close(np.exp(log_actual[entries]), expected, x.dtype, ulps=64)
        _close(lse[segment], expected_lse, x.dtype, ulps=64)


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
@reproducible(100)
@given(matrices(dtypes=[np.dtype(np.float64)], min_side=1, elements=FINITE), st.data())
def test_peers_sparse_softmax_is_the_masked_dense_softmax(x, data):
    import scipy.sparse

    stored = data.draw(hnp.arrays(np.bool_, x.shape))
    a = scipy.sparse.csr_array(np.where(stored, x, 0.0))
    a.eliminate_zeros()
    kept = a.toarray() != 0
    dense = sk.softmax(x, where=kept)
    _close(sk.sparse_softmax(a).toarray(), np.where(kept, dense, 0.0), x.dtype)


@reproducible(200)
@given(family_arguments())
def test_peers_variants_options_are_their_definitions(arguments):
    """where= is the entries at -inf, a temperature is x / T: for every variant taking them."""
    x, axis, temperature, where = arguments
    if isinstance(axis, tuple):
        axis = -1
    t = 1.0 if temperature is None else temperature
    with np.errstate(over="ignore"):
        z = x.astype(np.float64) / t
    # The definition's plain quotient overflows beyond float64 where softmaxkit shifts
    # first (x / T of a finite x is finite: a lone such logit has probability 1), so the
    # two are compared only where every quotient of a finite entry is finite.
    assume(np.all(np.isfinite(z) | ~np.isfinite(x)))
    excluded = np.where(where, z, -np.inf) if where is not None else z
    for function in (sk.sparsemax, sk.entmax15):
        actual = _outcome(lambda v: function(v, axis=axis, temperature=t, where=where), x)
        expected = _outcome(lambda v: function(excluded, axis=axis).astype(v.dtype), x)
        if not isinstance(expected, Exception):
            _assert_agree_loosely(actual, expected)
    probs = _outcome(lambda v: sk.softmax(excluded, axis=axis), x)
    if isinstance(probs, Exception):
        return
    with np.errstate(all="ignore"):
        terms = np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0)
    terms = np.where(np.isnan(probs), np.nan, terms)  # a NaN slice has NaN entropy
    expected = (0.0 - np.sum(terms, axis=axis)).astype(x.dtype)
    actual = sk.entropy(logits=x, axis=axis, temperature=t, where=where)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    keep = ~np.isnan(expected)
    # Relative to log(n), the entropy's range: its terms have both signs' logs.
    scale = max(1.0, math.log(max(x.shape[axis], 1)))
    np.testing.assert_allclose(
        actual[keep], expected[keep], atol=8 * np.finfo(x.dtype).eps * scale, rtol=8 * np.finfo(x.dtype).eps
    )  # fmt: skip


@reproducible(200)
@given(family_arguments())
def test_peers_hardmax_is_the_first_argmax(arguments):
    x, axis, _, where = arguments
    if isinstance(axis, tuple):
        axis = -1
    actual = _outcome(lambda v: sk.hardmax(v, axis=axis, where=where), x)
    if isinstance(actual, Exception) or x.shape[axis] == 0:
        return
    z = x if where is None else np.where(where, x, -np.inf)
    moved = np.moveaxis(z, axis, -1)
    nan = np.any(np.isnan(moved), axis=-1)
    no_nan = np.where(np.isnan(moved), -np.inf, moved)
    first = np.argmax(no_nan, axis=-1)
    # An all -inf (or all excluded) slice gives zeros, as softmax does.
    live = np.max(no_nan, axis=-1) > -np.inf
    expected = ((np.arange(moved.shape[-1]) == first[..., None]) & live[..., None]).astype(x.dtype)
    expected[nan] = np.nan
    np.testing.assert_array_equal(np.moveaxis(actual, axis, -1), expected)


# ------------------------------------------------------------ mpmath


@reproducible(100)
@given(
    matrices(dtypes=[np.dtype(np.float32), np.dtype(np.float64)], min_side=1, max_side=5,
             elements=st.floats(-200, 200, allow_subnormal=False, width=32)),
)  # fmt: skip
def test_mpmath_softmax_family_within_the_documented_ulps(x):
    from helpers import mpmath_softmax_family

    p, logp, lse = mpmath_softmax_family(x.astype(np.float64))
    bound = max(1, DOCUMENTED_ULP[x.dtype]) + 0.5  # the float32 result of a float64 value rounds once more
    assert ulp_error(sk.softmax(x), p).max() <= bound
    assert ulp_error(sk.log_softmax(x), logp).max() <= bound
    assert ulp_error(sk.logsumexp(x, axis=-1), lse).max() <= bound


@reproducible(100)
@given(st.floats(-700, 700, allow_subnormal=False))
def test_mpmath_sigmoid_and_log_sigmoid(value):
    import mpmath

    mpmath.mp.dps = 40
    z = mpmath.mpf(value)
    sigmoid = 1 / (1 + mpmath.exp(-z))
    # log1p, not log(sigmoid): 1 - 1e-26 keeps too few digits at 40 for its log.
    log_sigmoid = -mpmath.log1p(mpmath.exp(-z))
    assert ulp_error(sk.sigmoid(np.array([value])), np.array([sigmoid], object)).max() <= 2
    assert ulp_error(sk.log_sigmoid(np.array([value])), np.array([log_sigmoid], object)).max() <= 2


@reproducible(60)
@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-30, 30)))
def test_mpmath_entropy(x):
    import mpmath

    mpmath.mp.dps = 40
    top = max(mpmath.mpf(float(v)) for v in x)
    weights = [mpmath.exp(mpmath.mpf(float(v)) - top) for v in x]
    total = mpmath.fsum(weights)
    exact = -mpmath.fsum(w / total * mpmath.log(w / total) for w in weights)
    # Entropy sums terms of both signs' logs: relative to log(n), its largest possible value.
    scale = max(float(exact), math.log(len(x)), 1.0)
    assert abs(float(sk.entropy(logits=x)) - float(exact)) <= 16 * np.finfo(np.float64).eps * scale


# ------------------------------------------------------------ errors


X = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
Y = np.array([0, 2])
P = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])

# name -> (call taking the bad value, the argument's name): every public function
# that takes an axis, a temperature, a mask or a reduction.
_AXIS_CALLS = {
    "softmax": lambda a: sk.softmax(X, axis=a),
    "log_softmax": lambda a: sk.log_softmax(X, axis=a),
    "logsumexp": lambda a: sk.logsumexp(X, axis=a),
    "softmax_vjp": lambda a: sk.softmax_vjp(P, X, axis=a),
    "log_softmax_vjp": lambda a: sk.log_softmax_vjp(np.log(P), X, axis=a),
    "hardmax": lambda a: sk.hardmax(X, axis=a),
    "sparsemax": lambda a: sk.sparsemax(X, axis=a),
    "entmax15": lambda a: sk.entmax15(X, axis=a),
    "entmax_bisect": lambda a: sk.entmax_bisect(X, axis=a),
    "gumbel_softmax": lambda a: sk.gumbel_softmax(X, axis=a, seed=0),
    "sample": lambda a: sk.sample(X, axis=a, seed=0),
    "entropy": lambda a: sk.entropy(logits=X, axis=a),
    "kl_divergence": lambda a: sk.kl_divergence(logits_p=X, logits_q=X, axis=a),
    "cross_entropy": lambda a: sk.cross_entropy(X, Y, axis=a),
    "sparsemax_loss": lambda a: sk.sparsemax_loss(X, Y, axis=a),
    "segment_softmax": lambda a: sk.segment_softmax(X, [0, 0, 1], axis=a),
}
_TEMPERATURE_CALLS = {
    "softmax": lambda t: sk.softmax(X, temperature=t),
    "log_softmax": lambda t: sk.log_softmax(X, temperature=t),
    "softmax_vjp": lambda t: sk.softmax_vjp(P, X, temperature=t),
    "sparsemax": lambda t: sk.sparsemax(X, temperature=t),
    "entmax15": lambda t: sk.entmax15(X, temperature=t),
    "gumbel_softmax": lambda t: sk.gumbel_softmax(X, t, seed=0),
    "entropy": lambda t: sk.entropy(logits=X, temperature=t),
    "segment_softmax": lambda t: sk.segment_softmax(X, [0, 1], temperature=t),
}
_WHERE_CALLS = {
    "softmax": lambda w: sk.softmax(X, where=w),
    "log_softmax": lambda w: sk.log_softmax(X, where=w),
    "logsumexp": lambda w: sk.logsumexp(X, where=w),
    "hardmax": lambda w: sk.hardmax(X, where=w),
    "sparsemax": lambda w: sk.sparsemax(X, where=w),
    "gumbel_softmax": lambda w: sk.gumbel_softmax(X, seed=0, where=w),
    "sample": lambda w: sk.sample(X, seed=0, where=w),
    "entropy": lambda w: sk.entropy(logits=X, where=w),
    "kl_divergence": lambda w: sk.kl_divergence(logits_p=X, logits_q=X, where=w),
}
BAD_AXES = st.one_of(
    st.integers(2, 2**70), st.integers(-(2**70), -3), st.floats(), st.text(max_size=3),
    st.just(np.array([0, 1])),
)  # fmt: skip
BAD_TEMPERATURES = st.one_of(
    st.floats(max_value=0.0), st.sampled_from([np.inf, np.nan, True, "2", 2**2000, -1]),
    st.just(np.array([1.0, 2.0, 3.0])), st.just(np.array([[1.0], [-1.0]])),
)  # fmt: skip
BAD_MASKS = st.sampled_from(
    [np.ones((2, 3), int), np.ones((3, 2), bool), np.ones(4, bool), "yes", np.ones((2, 3))]
)


def _assert_refused(call, value, name):
    with pytest.raises((ValueError, TypeError)) as caught:
        call(value)
    message = str(caught.value)
    assert "\n" not in message, message
    assert name in message, message


@pytest.mark.parametrize("function", _AXIS_CALLS)
@reproducible(15)
@given(value=BAD_AXES)
def test_errors_a_bad_axis_is_refused_by_name(function, value):
    _assert_refused(_AXIS_CALLS[function], value, "axis")


@pytest.mark.parametrize("function", _TEMPERATURE_CALLS)
@reproducible(15)
@given(value=BAD_TEMPERATURES)
def test_errors_a_bad_temperature_is_refused_by_name(function, value):
    _assert_refused(_TEMPERATURE_CALLS[function], value, "temperature")


@pytest.mark.parametrize("function", _WHERE_CALLS)
@reproducible(5)
@given(value=BAD_MASKS)
def test_errors_a_bad_where_is_refused_by_name(function, value):
    _assert_refused(_WHERE_CALLS[function], value, "where")


# ------------------------------------------------------------ regressions found by this suite


@pytest.mark.parametrize("function", [sk.segment_softmax, sk.segment_log_softmax, sk.segment_logsumexp])
def test_segments_of_rows_with_no_columns(function):
    # Found by test_spec_every_function_agrees_with_the_specification: with the
    # kernel, segments along axis 0 of a (1, 0) array raised "cannot reshape
    # array of size 0 into shape (0)" (the padded layout's reshape(-1, 0)).
    x = np.empty((3, 0), np.float32)
    result = function(x, [0, 0, 1])
    assert result.shape == ((2, 0) if function is sk.segment_logsumexp else (3, 0))
    assert result.dtype == np.float32


def test_logsumexp_of_a_difference_that_rounds_to_minus_the_maximum_does_not_warn():
    # Found by test_spec_logsumexp_options_agree_with_the_specification: the
    # spec's clamp bound (shift - max) is rounded, so (bound - shift) overflowed
    # and NumPy warned "overflow encountered in subtract".
    x = np.array([[25.0, -40.0]]) * (np.finfo(np.float64).max / 64)
    from softmaxkit import _dispatch

    with _dispatch.use_kernel(False):
        assert sk.logsumexp(x, axis=-1)[0] == x[0, 0]
        np.testing.assert_array_equal(sk.log_softmax(x), [[0.0, -np.inf]])


def test_an_empty_array_of_temperatures_is_an_empty_result():
    # Found by test_spec_softmax_options_agree_with_the_specification: the
    # kernel path took np.min of an empty temperature array (ValueError).
    x = np.empty((0, 0), np.float16)
    result = sk.softmax(x, temperature=np.empty((0, 1)))
    assert result.shape == (0, 0) and result.dtype == np.float16


# ------------------------------------------------------------ N-D and 1-D input


def _moved_to_rows(call, x, axis, *, reduces):
    """``call(rows, -1)`` on ``x``'s slices along ``axis`` as the rows of a 2-D array,
    brought back to ``x``'s layout: the reference for an N-D or 1-D call."""
    moved = np.moveaxis(x, axis, -1)
    rows = np.ascontiguousarray(moved).reshape(math.prod(moved.shape[:-1]), moved.shape[-1])
    result = call(rows, -1)
    if isinstance(result, Exception):
        return result
    if reduces:
        return np.asarray(result).reshape(moved.shape[:-1])
    return np.moveaxis(np.asarray(result).reshape(moved.shape), -1, axis)


# name -> (call(x, axis), reduces, random): the functions of one class axis.
# Random ones draw their noise in x's C order, so they keep the class axis last.
AXIS_CALLS = {
    "softmax": (lambda x, a: sk.softmax(x, axis=a), False, False),
    "log_softmax_temperature": (lambda x, a: sk.log_softmax(x, axis=a, temperature=0.5), False, False),
    "logsumexp": (lambda x, a: sk.logsumexp(x, axis=a), True, False),
    "sparsemax": (lambda x, a: sk.sparsemax(x, axis=a), False, False),
    "entmax15": (lambda x, a: sk.entmax15(x, axis=a), False, False),
    "entmax_bisect": (lambda x, a: sk.entmax_bisect(x, alpha=1.3, axis=a, n_iter=30), False, False),
    "hardmax": (lambda x, a: sk.hardmax(x, axis=a), False, False),
    "entropy": (lambda x, a: sk.entropy(logits=x, axis=a), True, False),
    "kl_divergence": (lambda x, a: sk.kl_divergence(logits_p=x, logits_q=x[::-1], axis=a), True, False),
    "gumbel_softmax": (lambda x, a: sk.gumbel_softmax(x, 0.5, axis=a, seed=0), False, True),
    "gumbel_softmax_hard": (lambda x, a: sk.gumbel_softmax(x, hard=True, axis=a, seed=0), False, True),
    "sample": (lambda x, a: sk.sample(x, axis=a, seed=0), True, True),
}


@pytest.mark.parametrize("name", AXIS_CALLS)
@reproducible(12)
@given(data=st.data())
def test_layout_nd_and_1d_input_gives_the_values_of_its_rows(name, data):
    """1-D, 3-D and 4-D input (empty axes included) against the same slices as a 2-D array."""
    call, reduces, random = AXIS_CALLS[name]
    shape = data.draw(st.sampled_from([1, 3, 4]).flatmap(lambda n: st.tuples(*[st.integers(0, 4)] * n)))
    x = data.draw(hnp.arrays(st.sampled_from(DTYPES), shape, elements=WITH_SPECIALS))
    axis = x.ndim - 1 if random else data.draw(st.integers(0, x.ndim - 1))
    if name == "kl_divergence":  # q reversed along axis 0 in both calls
        call = lambda v, a, axis=axis: sk.kl_divergence(  # noqa: E731
            logits_p=v, logits_q=np.flip(v, 0) if v.ndim == x.ndim else _flipped_rows(x, axis), axis=a
        )
    actual = _outcome(lambda v: call(v, axis), x)
    expected = _moved_to_rows(lambda rows, a: _outcome(lambda v: call(v, a), rows), x, axis, reduces=reduces)
    if isinstance(expected, Exception) or isinstance(actual, Exception):
        assert type(actual) is type(expected), (actual, expected)
    else:
        _assert_same_outcome(actual, expected)


def _flipped_rows(x, axis):
    """``np.flip(x, 0)`` laid out as :func:`_moved_to_rows` lays out ``x``."""
    moved = np.moveaxis(np.flip(x, 0), axis, -1)
    return np.ascontiguousarray(moved).reshape(math.prod(moved.shape[:-1]), moved.shape[-1])


# ------------------------------------------------------------ softmaxkit.torch and Triton


def _torch():
    return pytest.importorskip("torch")


@st.composite
def torch_arguments(draw):
    """A float32/float64 matrix with specials, a temperature, a mask and a layout (transposed or not)."""
    x = draw(matrices(dtypes=DTYPES[1:], min_side=1))
    temperature = draw(st.sampled_from([1.0, 0.5, 4.0]))
    where = draw(st.one_of(st.none(), hnp.arrays(np.bool_, x.shape)))
    return x, temperature, where, draw(st.booleans())


@pytest.mark.skipif(not has_module("torch"), reason="needs torch")
@reproducible(15)
@given(torch_arguments(), st.sampled_from(["softmax", "log_softmax"]))
def test_torch_functional_is_the_numpy_function(arguments, name):
    """softmaxkit.torch on CPU tensors (contiguous or a transposed view) against NumPy's call."""
    torch = _torch()
    import softmaxkit.torch as skt

    x, temperature, where, transposed = arguments
    tensor = torch.from_numpy(x.T.copy()).T if transposed else torch.from_numpy(x.copy())
    mask = None if where is None else torch.from_numpy(where)
    actual = _outcome(lambda t: getattr(skt, name)(t, -1, temperature=temperature, where=mask), tensor)
    expected = _outcome(lambda v: getattr(sk, name)(v, temperature=temperature, where=where), x)
    _assert_same_outcome(actual if isinstance(actual, Exception) else actual.numpy(), expected)


@pytest.mark.skipif(not has_module("torch"), reason="needs torch")
@reproducible(40)
@given(matrices(dtypes=DTYPES[1:], min_side=1, elements=FINITE), st.data())
def test_torch_losses_are_the_numpy_losses(x, data):
    """cross_entropy and nll_loss of softmaxkit.torch against the public NumPy losses."""
    torch = _torch()
    import softmaxkit.torch as skt

    target = data.draw(hnp.arrays(np.int64, x.shape[0], elements=st.integers(-1, x.shape[1] - 1)))
    target = np.where(target < 0, -100, target)  # ignored rows among them
    options = {
        "reduction": data.draw(st.sampled_from(["mean", "sum", "none"])),
        "label_smoothing": data.draw(st.sampled_from([0.0, 0.1])),
    }
    ours = skt.cross_entropy(torch.from_numpy(x), torch.from_numpy(target), **options)
    _assert_same_outcome(ours.numpy(), sk.cross_entropy(x, target, **options))
    logp = sk.log_softmax(x)
    ours = skt.nll_loss(torch.from_numpy(logp), torch.from_numpy(target), reduction=options["reduction"])
    _assert_same_outcome(ours.numpy(), sk.nll_loss(logp, target, reduction=options["reduction"]))


def _triton_softmax():
    """softmaxkit.triton.softmax under Triton's interpreter (as tests/test_triton_interpreter.py)."""
    _torch()
    pytest.importorskip("triton")
    from softmaxkit.triton import _config
    from softmaxkit.triton import softmax as tsm

    return tsm, _config


# The kernels compute float32 in float32 (test_triton_interpreter.py's tolerances).
TRITON_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}


@pytest.mark.skipif(not (has_module("triton") and has_module("torch")), reason="needs triton, torch")
@reproducible(6)
@given(matrices(dtypes=DTYPES[1:], min_side=1, max_side=3), st.sampled_from(["softmax", "log_softmax", "logsumexp"]), st.booleans())
def test_triton_kernels_are_the_specification(x, name, online):
    """The Triton kernels (one block per row, or an online sweep of blocks of 2) against the spec."""
    torch = _torch()
    tsm, config = _triton_softmax()
    options = {"config": config.row_config(x.shape[1], max_block=2) if online else None}
    ours = getattr(tsm, name)(torch.from_numpy(x), **options).numpy()
    expected = spec(getattr(sk, name), x.astype(np.float64), axis=-1)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(ours[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)])
    rtol = TRITON_RTOL[x.dtype]
    np.testing.assert_allclose(ours[finite], expected[finite].astype(x.dtype), rtol=rtol, atol=rtol * 1e-6 if name == "softmax" else rtol)


# ------------------------------------------------------------ softmaxkit.distributed


@pytest.fixture(scope="module")
def one_rank_group():
    """A gloo process group of one rank, in this process, removed afterwards."""
    torch = _torch()
    dist = torch.distributed
    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed unavailable, or a group already initialised")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield dist.group.WORLD
    dist.destroy_process_group()


@pytest.mark.skipif(not has_module("torch"), reason="needs torch")
@reproducible(30)
@given(data=st.data())
def test_distributed_one_rank_is_the_numpy_function(one_rank_group, data):
    """vocab_parallel_* on one rank (the whole vocabulary) against the public functions."""
    torch = _torch()
    from softmaxkit import distributed

    x = data.draw(matrices(dtypes=DTYPES[1:], min_side=1, elements=st.one_of(FINITE, st.just(-np.inf))))
    t = torch.from_numpy(x)
    _assert_same_outcome(
        distributed.vocab_parallel_log_softmax(t, group=one_rank_group).numpy(), sk.log_softmax(x)
    )
    _assert_same_outcome(distributed.vocab_parallel_softmax(t, group=one_rank_group).numpy(), sk.softmax(x))
    target = data.draw(hnp.arrays(np.int64, x.shape[0], elements=st.integers(0, x.shape[1] - 1)))
    finite = np.isfinite(np.take_along_axis(x, target[:, None], 1))[:, 0]
    target = np.where(finite, target, -100)  # a -inf target's loss is inf in both; kept finite here
    smoothing = data.draw(st.sampled_from([0.0, 0.2]))
    if smoothing and not np.isfinite(x).all():
        smoothing = 0.0  # smoothing over a -inf class is inf in both: the plain loss is compared
    ours = distributed.vocab_parallel_cross_entropy(
        t, torch.from_numpy(target), group=one_rank_group, label_smoothing=smoothing, reduction="none"
    )
    expected = sk.cross_entropy(x, target, label_smoothing=smoothing, reduction="none")
    np.testing.assert_allclose(ours.numpy(), expected, rtol=8 * np.finfo(x.dtype).eps, atol=8 * np.finfo(x.dtype).eps)


# ------------------------------------------------------------ SoftmaxRegression, plot, CLI


@pytest.mark.skipif(not has_module("sklearn"), reason="needs scikit-learn")
@reproducible(4)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(4, 12), st.integers(1, 3)), elements=st.floats(-5, 5, width=16)),
    st.integers(2, 4),
)
def test_softmax_regression_probabilities_are_softmax_of_its_scores(features, n_classes):
    from softmaxkit.models import SoftmaxRegression

    labels = np.arange(features.shape[0]) % n_classes
    model = SoftmaxRegression(max_iter=20).fit(features, labels)
    scores = model.decision_function(features)
    if scores.ndim == 1:  # two classes: the score of the second against 0 (sklearn's convention)
        scores = np.stack([np.zeros_like(scores), scores], axis=1)
    np.testing.assert_array_equal(model.predict_proba(features), sk.softmax(scores))
    np.testing.assert_array_equal(model.predict_log_proba(features), sk.log_softmax(scores))
    np.testing.assert_array_equal(model.predict(features), model.classes_[np.argmax(scores, axis=1)])


@pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")
@reproducible(4)
@given(
    hnp.arrays(np.float64, st.integers(2, 8), elements=st.floats(-30, 30, width=16)),
    st.sampled_from([0.5, 1.0, 3.0]),
)
def test_plot_probability_bars_draw_the_softmax(logits, temperature):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from softmaxkit.plot import probability_bars

    figure = probability_bars(logits, temperature=temperature)
    try:
        widths = np.array([bar.get_width() for bar in figure.axes[1].containers[0]])
        heights = np.array([bar.get_width() for bar in figure.axes[0].containers[0]])
    finally:
        plt.close(figure)
    # Rows in class order, as drawn: the logits panel names each row's class.
    order = np.array([np.flatnonzero(logits == v)[0] for v in heights]) if len(set(logits)) == len(logits) else None
    p = sk.softmax(logits, temperature=temperature)
    if order is not None:
        np.testing.assert_array_equal(widths, p[order])
    np.testing.assert_allclose(np.sort(widths), np.sort(p), rtol=0, atol=0)


@reproducible(6)
@given(
    matrices(dtypes=DTYPES[1:], min_side=1),
    st.sampled_from([0, 1, -1]),
    st.sampled_from([1.0, 0.5]),
    st.booleans(),
    st.sampled_from([".npy", ".npz", ".csv"]),
)
def test_cli_apply_writes_the_values_of_the_function(x, axis, temperature, log, suffix):
    """``softmaxkit apply`` in this process, through a file, against softmax/log_softmax."""
    import contextlib
    import io
    import tempfile

    from softmaxkit.cli.__main__ import main

    function = sk.log_softmax if log else sk.softmax
    expected = _outcome(lambda v: function(v, axis=axis, temperature=temperature), x)
    with tempfile.TemporaryDirectory() as folder:
        source, output = os.path.join(folder, "x.npy"), os.path.join(folder, "y" + suffix)
        np.save(source, x)
        options = ["--axis", str(axis), "-T", repr(temperature), *(["--log"] if log else [])]
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = main(["apply", source, "-o", output, *options])
        if isinstance(expected, Exception):
            assert status == 2 and stderr.getvalue().count("\n") == 1, stderr.getvalue()
            assert not os.path.exists(output)  # no partial file
            return
        assert status == 0, stderr.getvalue()
        if suffix == ".npy":
            written = np.load(output)
        elif suffix == ".npz":
            with np.load(output) as archive:
                written = archive["log_probabilities" if log else "probabilities"]
        else:
            written = np.loadtxt(output, delimiter=",", ndmin=2)
    if suffix == ".csv":  # text: the shortest digits that read back as x's dtype
        np.testing.assert_array_equal(written.astype(x.dtype), expected)
    else:
        np.testing.assert_array_equal(written, expected)


@reproducible(10)
@given(st.sampled_from(["-T", "--axis"]), st.sampled_from(["0", "-1", "nan", "inf", "abc", "7"]))
def test_cli_bad_options_are_one_line_and_exit_2(option, value):
    import contextlib
    import io
    import tempfile

    from softmaxkit.cli.__main__ import main

    if option == "-T" and value == "7" or option == "--axis" and value in ("0", "-1"):
        return  # valid
    with tempfile.TemporaryDirectory() as folder:
        source, output = os.path.join(folder, "x.npy"), os.path.join(folder, "y.npy")
        np.save(source, np.ones((2, 3)))
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                status = main(["apply", source, "-o", output, option, value])
            except SystemExit as exit_:  # argparse's own errors exit from within
                status = exit_.code
        message = stderr.getvalue()
        assert status == 2 and message.count("\n") == 1 and "Traceback" not in message, message
        assert os.listdir(folder) == ["x.npy"]  # no output, no partial file
