"""Bad arguments to any public function: ValueError or TypeError naming the argument.

Pins issue #14 item 9: messages that named another argument (``nll_loss``
said "logits", ``sparsemax("abc")`` blamed the axis, ``log_softmax_vjp``
said "y"), OverflowError for ``ignore_index=2**63`` or ``temperature=2**2000``,
``axis=-1.0`` accepted on one path only, ``axis=np.array([0, 1])`` raising
"truth value ambiguous", ``set_num_threads(2**31)`` accepted then failing
every call, and ids that sized a 2**40-row array.
"""

from __future__ import annotations

import inspect
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import softmaxkit as sk
from softmaxkit import _chunks, _dispatch, calibration

X = np.linspace(-1, 1, 12).reshape(3, 4)
T = np.array([0, 1, 2])

# Valid positional arguments of each public array function (keyword ones in KEYWORDS).
VALID = {
    "softmax": (X,), "log_softmax": (X,), "logsumexp": (X,),
    "softmax_vjp": (sk.softmax(X), X), "log_softmax_vjp": (sk.log_softmax(X), X),
    "softmax_jacobian": (), "sigmoid": (X,), "log_sigmoid": (X,), "hardmax": (X,),
    "cross_entropy": (X, T), "cross_entropy_grad": (X, T), "cross_entropy_and_grad": (X, T),
    "nll_loss": (sk.log_softmax(X), T),
    "linear_cross_entropy": (X, X, T), "linear_cross_entropy_and_grad": (X, X, T),
    "entropy": (), "kl_divergence": (), "gumbel_softmax": (X,), "sample": (X,),
    "topk": (X, 1), "sparsemax": (X,), "sparsemax_vjp": (sk.sparsemax(X), X),
    "sparsemax_loss": (X, T), "entmax15": (X,), "entmax15_vjp": (sk.entmax15(X), X),
    "entmax15_loss": (X, T), "entmax_bisect": (X,),
    "entmax_bisect_vjp": (sk.entmax_bisect(X), X),
    "segment_softmax": (X, T), "segment_log_softmax": (X, T), "segment_logsumexp": (X, T),
    "sample_candidates": (T, 2, 4),
    "sampled_softmax_loss": (X, np.zeros(3), T, X, 2, 3),
    "brier_score": (sk.softmax(X), T), "negative_log_likelihood": (sk.softmax(X), T),
    "expected_calibration_error": (sk.softmax(X), T),
    "classwise_calibration_error": (sk.softmax(X), T), "reliability_curve": (sk.softmax(X), T),
}  # fmt: skip

KEYWORDS = {
    "softmax_jacobian": {"probs": sk.softmax(X)},
    "entropy": {"logits": X},
    "kl_divergence": {"logits_p": X, "logits_q": X},
    "logsumexp": {"axis": -1},
}

BAD_ARRAYS = {
    "string": "abc",
    "object": object(),
    "complex": np.ones((3, 4), complex),
    "none": None,
    "ragged": [[1.0], [1.0, 2.0]],
}


def _function(name):
    return getattr(sk, name, None) or getattr(calibration, name)


def _array_cases():
    for name, args in VALID.items():
        parameters = list(inspect.signature(_function(name)).parameters.values())
        for position, parameter in enumerate(parameters[: len(args)]):
            if isinstance(args[position], int):
                continue  # counts and k: their own tests
            for label in BAD_ARRAYS:
                yield pytest.param(name, position, parameter.name, label,
                                   id=f"{name}-{parameter.name}-{label}")  # fmt: skip
        for keyword, value in KEYWORDS.get(name, {}).items():
            if isinstance(value, np.ndarray):
                for label in BAD_ARRAYS:
                    yield pytest.param(name, keyword, keyword, label, id=f"{name}-{keyword}-{label}")


@pytest.mark.parametrize("name, position, parameter, label", list(_array_cases()))
def test_a_bad_array_is_named_in_the_message(name, position, parameter, label):
    args, kwargs = list(VALID[name]), dict(KEYWORDS.get(name, {}))
    if isinstance(position, str):
        kwargs[position] = BAD_ARRAYS[label]
    else:
        args[position] = BAD_ARRAYS[label]
    with pytest.raises((ValueError, TypeError)) as error:
        _function(name)(*args, **kwargs)
    assert parameter in str(error.value)


def test_the_valid_calls_run():
    for name, args in VALID.items():
        _function(name)(*args, **KEYWORDS.get(name, {}))


# ---------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sk.set_num_threads(2**31), "n must be a number of threads from 1 to 1024"),
        (lambda: sk.cross_entropy(X, T, ignore_index=2**63), "ignore_index must be <= 9223372036854775807"),
        (lambda: sk.softmax(X, temperature=2**2000), "temperature must be a finite number"),
        (lambda: sk.entropy(logits=X, temperature=-(2**2000)), "temperature must be a finite number"),
        (lambda: sk.sample_candidates(T, 3, 2**70, seed=0), "num_classes must be <= 9007199254740992"),
        (lambda: calibration.expected_calibration_error(sk.softmax(X), T, n_bins=10**12),
         "n_bins must be <= 1000000"),
        (lambda: sk.sample_candidates(T, 2, 4, seed="x"), "seed must be an int"),
        (lambda: sk.topk(np.array(["a", "b"]), 1), "x must be a real numeric array"),
        (lambda: sk.topk(np.array(["2020-01-01"], "datetime64[D]"), 1),
         "x must be a real numeric array"),
    ],
    ids=["threads", "ignore_index", "temperature", "negative_temperature", "num_classes",
         "n_bins", "seed", "topk_strings", "topk_dates"],
)  # fmt: skip
def test_scalar_messages_name_the_argument(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_threads_setting_that_is_accepted_works():
    try:
        sk.set_num_threads(1024)
        assert sk.get_num_threads() == 1024
        sk.softmax(np.ones((4, 100_000)))  # the kernel takes it
    finally:
        sk.set_num_threads(None)


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel", "spec"])
@pytest.mark.parametrize(
    "function", [sk.softmax, sk.log_softmax, sk.logsumexp, sk.sparsemax, sk.hardmax,
                 lambda x, axis: sk.entropy(logits=x, axis=axis)],
    ids=["softmax", "log_softmax", "logsumexp", "sparsemax", "hardmax", "entropy"],
)
@given(axis=st.one_of(
    st.floats(allow_nan=True), st.integers(min_value=2, max_value=2**70),
    st.integers(max_value=-3, min_value=-(2**70)), st.text(max_size=3), st.just(np.array([0, 1])),
    st.just(np.array(-1.0)), st.just(True),
))  # fmt: skip
def test_a_bad_axis_is_refused_on_every_path(kernel, function, axis):
    with _dispatch.use_kernel(kernel), pytest.raises((ValueError, TypeError), match="axis"):
        function(X, axis=axis)


@pytest.mark.parametrize(
    "function", [sk.softmax, sk.log_softmax, sk.sparsemax, sk.entmax15,
                 lambda x, temperature: sk.entropy(logits=x, temperature=temperature)],
    ids=["softmax", "log_softmax", "sparsemax", "entmax15", "entropy"],
)
@given(temperature=st.one_of(
    st.floats().filter(lambda t: not t > 0 or t == float("inf")),
    st.integers(max_value=0), st.integers(min_value=2**1100, max_value=2**3000),
    st.text(max_size=3), st.booleans(),
))  # fmt: skip
def test_a_bad_temperature_is_refused_by_name(function, temperature):
    with pytest.raises((ValueError, TypeError), match="temperature"):
        function(X, temperature=temperature)


@pytest.mark.parametrize("function", [sk.softmax, sk.log_softmax])
def test_a_read_only_out_is_named(function):
    out = np.empty_like(X)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable"):
        function(X, out=out, temperature=2.0)


# ---------------------------------------------------------------- segment ids are labels


@pytest.mark.parametrize("streamed", [False, True], ids=["one_call", "streamed"])
@pytest.mark.parametrize("function", [sk.segment_softmax, sk.segment_log_softmax])
def test_huge_segment_ids_cost_no_memory(function, streamed, monkeypatch):
    # Streamed: a 1-D x of 8 blocks (of 4 KiB here) is read a block at a time, and
    # its per-segment numbers would be 2**40 long too without the relabelling.
    x = np.arange(4096.0) / 100 if streamed else np.arange(5.0)
    ids = np.arange(x.shape[0]) % 5
    if streamed:
        monkeypatch.setattr(_chunks, "CHUNK_BYTES", 1 << 12)
    tracemalloc.start()
    got = function(x, np.array([0, 0, 1, 1, 2**40])[ids])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20  # was 2**40 rows: 8 TiB
    np.testing.assert_array_equal(got, function(x, np.array([0, 0, 1, 1, 2])[ids]))
