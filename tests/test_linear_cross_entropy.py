"""linear_cross_entropy: cross_entropy(X @ W.T + b) in row chunks, and its gradients."""

import tracemalloc

import numpy as np
import pytest
from helpers import requires_torch
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk


def problem(rng, n=23, d=5, c=4, *, probabilities=False):
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(c, d))
    b = rng.normal(size=c)
    if probabilities:
        target = rng.dirichlet(np.ones(c), size=n)
    else:
        target = rng.integers(0, c, size=n)
    return x, w, b, target


OPTIONS = [
    pytest.param({}, id="plain"),
    pytest.param({"label_smoothing": 0.2}, id="smoothing"),
    pytest.param({"weight": np.array([0.5, 2.0, 1.0, 3.0])}, id="class-weight"),
    pytest.param(
        {"weight": np.array([0.5, 2.0, 1.0, 3.0]), "label_smoothing": 0.1}, id="weight+smoothing"
    ),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", OPTIONS)
def test_loss_equals_cross_entropy_of_the_full_logits(rng, reduction, options):
    x, w, b, y = problem(rng)
    y[[2, 9]] = -100
    expected = sk.cross_entropy(x @ w.T + b, y, reduction=reduction, **options)
    actual = sk.linear_cross_entropy(x, w, y, bias=b, reduction=reduction, chunk_size=5, **options)
    assert_allclose(actual, expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probability_targets_equal_cross_entropy(rng, reduction):
    x, w, b, q = problem(rng, probabilities=True)
    expected = sk.cross_entropy(x @ w.T + b, q, reduction=reduction, label_smoothing=0.1)
    actual = sk.linear_cross_entropy(
        x, w, q, bias=b, reduction=reduction, label_smoothing=0.1, chunk_size=4
    )
    assert_allclose(actual, expected, rtol=1e-13)


@pytest.mark.parametrize("chunk_size", [1, 3, 22, 23, 1000])
def test_result_does_not_depend_on_the_chunk_size(rng, chunk_size):
    # 23 rows: chunks of 1, of 3 (the last one 2), 22 + 1, and one chunk (23, 1000),
    # each against the unchunked loss and its gradients by the chain rule.
    x, w, b, y = problem(rng)
    logits = x @ w.T + b
    g = sk.cross_entropy_grad(logits, y)
    reference = (sk.cross_entropy(logits, y), g @ w, g.T @ x, g.sum(axis=0))
    result = sk.linear_cross_entropy_and_grad(x, w, y, bias=b, chunk_size=chunk_size)
    for got, want in zip(result, reference):
        assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("options", OPTIONS)
def test_gradients_match_finite_differences(rng, reduction, options):
    x, w, b, y = problem(rng, n=7, d=3)
    y[4] = -100
    result = sk.linear_cross_entropy_and_grad(
        x, w, y, bias=b, reduction=reduction, chunk_size=3, **options
    )

    def numeric_gradient(which):
        arrays = {"x": x, "w": w, "b": b}
        base = arrays[which]
        grad = np.zeros_like(base)
        h = 1e-6
        for index in np.ndindex(base.shape):
            values = []
            for step in (h, -h):
                moved = dict(arrays)
                moved[which] = base.copy()
                moved[which][index] += step
                values.append(
                    sk.linear_cross_entropy(
                        moved["x"], moved["w"], y, bias=moved["b"], reduction=reduction, **options
                    )
                )
            grad[index] = (values[0] - values[1]) / (2 * h)
        return grad

    assert_allclose(result.grad_input, numeric_gradient("x"), rtol=1e-6, atol=1e-8)
    assert_allclose(result.grad_weight, numeric_gradient("w"), rtol=1e-6, atol=1e-8)
    assert_allclose(result.grad_bias, numeric_gradient("b"), rtol=1e-6, atol=1e-8)


def test_none_reduction_gradients_are_those_of_the_sum(rng):
    x, w, b, y = problem(rng)
    none = sk.linear_cross_entropy_and_grad(x, w, y, bias=b, reduction="none")
    total = sk.linear_cross_entropy_and_grad(x, w, y, bias=b, reduction="sum")
    assert_allclose(np.sum(none.loss), total.loss, rtol=1e-14)
    for got, want in zip(none[1:], total[1:]):
        assert_allclose(got, want, rtol=1e-14)


def test_without_bias_grad_bias_is_none(rng):
    x, w, _, y = problem(rng)
    result = sk.linear_cross_entropy_and_grad(x, w, y)
    assert result.grad_bias is None
    assert_allclose(result.loss, sk.cross_entropy(x @ w.T, y), rtol=1e-14)


@pytest.mark.parametrize("probabilities", [False, True], ids=["indices", "probabilities"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_integer_sample_weights_equal_repeated_rows(rng, reduction, probabilities):
    # With probability targets too: "mean" divides by the sum of the sample weights.
    x, w, b, y = problem(rng, probabilities=probabilities)
    counts = rng.integers(0, 4, size=len(y))
    weighted = sk.linear_cross_entropy_and_grad(
        x, w, y, bias=b, sample_weight=counts.astype(float), reduction=reduction, chunk_size=6
    )
    repeated = sk.linear_cross_entropy_and_grad(
        np.repeat(x, counts, axis=0), w, np.repeat(y, counts, axis=0), bias=b, reduction=reduction
    )
    assert_allclose(weighted.loss, repeated.loss, rtol=1e-13)
    assert_allclose(weighted.grad_weight, repeated.grad_weight, rtol=1e-12, atol=1e-14)
    assert_allclose(weighted.grad_bias, repeated.grad_bias, rtol=1e-12, atol=1e-14)


def test_zero_sample_weight_drops_a_row_even_with_an_infinite_loss():
    x = np.array([[1.0], [1.0]])
    w = np.array([[np.inf], [0.0]])  # row 0's target class 1 has probability 0
    loss = sk.linear_cross_entropy(x, w, [1, 0], sample_weight=[0.0, 1.0], reduction="sum")
    assert loss == 0.0


def test_single_row_input(rng):
    x, w, b, y = problem(rng)
    result = sk.linear_cross_entropy_and_grad(x[0], w, y[0], bias=b, reduction="none")
    assert result.loss.shape == ()
    assert result.grad_input.shape == x[0].shape
    assert_allclose(result.loss, sk.cross_entropy(x[:1] @ w.T + b, y[:1], reduction="none")[0])


@pytest.mark.parametrize(
    ("reduction", "expected"), [("mean", np.nan), ("sum", 0.0)], ids=["mean", "sum"]
)
def test_empty_batch(reduction, expected):
    result = sk.linear_cross_entropy_and_grad(
        np.zeros((0, 3)), np.ones((2, 3)), np.zeros(0, dtype=int), reduction=reduction
    )
    assert_array_equal(result.loss, expected)
    assert result.grad_input.shape == (0, 3)
    assert_array_equal(result.grad_weight, np.zeros((2, 3)))


def test_empty_batch_none_gives_empty_losses():
    loss = sk.linear_cross_entropy(
        np.zeros((0, 3)), np.ones((2, 3)), np.zeros(0, dtype=int), reduction="none"
    )
    assert loss.shape == (0,)


def test_all_ignored_mean_is_nan_with_zero_gradients(rng):
    x, w, b, _ = problem(rng)
    result = sk.linear_cross_entropy_and_grad(x, w, np.full(len(x), -100), bias=b)
    assert np.isnan(result.loss)
    assert not np.any(result.grad_weight) and not np.any(result.grad_input)


def test_float32_in_float32_out_close_to_float64(rng):
    x, w, b, y = problem(rng)
    single = sk.linear_cross_entropy_and_grad(
        x.astype(np.float32), w.astype(np.float32), y, bias=b.astype(np.float32)
    )
    double = sk.linear_cross_entropy_and_grad(x, w, y, bias=b)
    for got, want in zip(single, double):
        assert got.dtype == np.float32
        assert_allclose(got, want, rtol=2e-6, atol=1e-6)


def test_float32_logits_are_the_float32_product(rng):
    # Float32 input multiplies in float32 (BLAS speed, as torch and a plain x @ w.T):
    # each row's loss is cross_entropy of those float32 logits, bit for bit (one chunk).
    x, w, b, y = problem(rng, n=200, d=30, c=10)
    x, w, b = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    expected = sk.cross_entropy(x @ w.T + b, y, reduction="none")
    assert expected.dtype == np.float32
    assert_array_equal(sk.linear_cross_entropy(x, w, y, bias=b, reduction="none"), expected)


def test_inputs_are_not_mutated(rng):
    x, w, b, y = problem(rng)
    copies = [a.copy() for a in (x, w, b, y)]
    sk.linear_cross_entropy_and_grad(x, w, y, bias=b, sample_weight=np.ones(len(y)))
    for original, copy in zip((x, w, b, y), copies):
        assert_array_equal(original, copy)


def _traced_peak(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("n_rows", "n_classes", "rows_per_chunk"),
    [(600, 1000, 262), (3, 2**18 + 1, 1), (2**17 + 1, 1, 2**18)],
    ids=["1000-classes", "more-classes-than-2**18", "one-class"],
)
def test_the_default_chunk_is_the_documented_2_18_logits(rng, monkeypatch, n_rows, n_classes, rows_per_chunk):
    # The docstring: "Default: about 2**18 logits per chunk (max(1, 2**18 // C) rows)".
    import softmaxkit.losses

    x, w = rng.normal(size=(n_rows, 1)), rng.normal(size=(n_classes, 1))
    y = rng.integers(0, n_classes, size=n_rows)
    chunk_rows = []
    cross_entropy = softmaxkit.losses.cross_entropy

    def each_chunk(logits, target, **options):
        chunk_rows.append(logits.shape[0])
        return cross_entropy(logits, target, **options)

    monkeypatch.setattr(softmaxkit.losses, "cross_entropy", each_chunk)
    loss = sk.linear_cross_entropy(x, w, y)
    starts = range(0, n_rows, rows_per_chunk)
    assert chunk_rows == [min(rows_per_chunk, n_rows - start) for start in starts]
    monkeypatch.undo()
    assert loss == pytest.approx(float(sk.cross_entropy(x @ w.T, y)), rel=1e-12)


def test_peak_memory_grows_with_the_chunk_not_with_the_batch(rng):
    # 500 classes: 4000 more rows would add 16 MB of float64 logits. The
    # chunked pass adds only its O(rows x features) outputs (grad_input, 0.3 MB).
    d, c = 10, 500
    w = rng.normal(size=(c, d)) * 0.1
    peaks = []
    for n in (4000, 8000):
        x = rng.normal(size=(n, d))
        y = rng.integers(0, c, size=n)
        peaks.append(
            _traced_peak(lambda: sk.linear_cross_entropy_and_grad(x, w, y, chunk_size=64))
        )
    extra_logits = 4000 * c * 8
    assert peaks[1] - peaks[0] < 0.05 * extra_logits, peaks
    assert peaks[1] < 0.25 * 2 * extra_logits, peaks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"linear_weight": np.ones((4, 6))}, r"linear_weight must have shape \(C, 5\)"),
        ({"bias": np.ones(3)}, r"bias must have shape \(4,\)"),
        ({"target": np.zeros(22, dtype=int)}, r"target must have shape \(23,\)"),
        ({"sample_weight": np.ones(5)}, r"sample_weight must have shape \(23,\)"),
        ({"chunk_size": 0}, "chunk_size must be >= 1, got 0"),
        ({"input": np.ones((2, 3, 5))}, "input must have shape"),
        ({"target": np.full(23, 9)}, r"class index 9, outside \[0, 4\)"),
        ({"weight": np.ones(3)}, r"weight must have one entry per class \(4,\)"),
        ({"input": np.ones(5), "target": np.zeros(1, dtype=int)},
         r"target for a single input row must have shape \(\), got \(1,\)"),
        ({"input": np.ones(5), "target": np.full((1, 4), 0.25)},
         r"target for a single input row must have shape \(4,\), got \(1, 4\)"),
    ],
    ids=["weight-shape", "bias-shape", "target-shape", "sample-weight-shape", "chunk-zero",
         "3d-input", "class-out-of-range", "class-weight-shape", "one-row-index-shape",
         "one-row-probabilities-shape"],
)  # fmt: skip
def test_bad_arguments_raise_value_error_naming_them(rng, kwargs, message):
    x, w, b, y = problem(rng)
    arguments = {"input": x, "linear_weight": w, "target": y}
    arguments.update({k: v for k, v in kwargs.items() if k in arguments})
    options = {k: v for k, v in kwargs.items() if k not in arguments}
    with pytest.raises(ValueError, match=message):
        sk.linear_cross_entropy(
            arguments["input"], arguments["linear_weight"], arguments["target"], **options
        )


def test_options_are_checked_even_for_an_empty_batch():
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 2.0"):
        sk.linear_cross_entropy(
            np.zeros((0, 3)), np.ones((2, 3)), np.zeros(0, dtype=int), label_smoothing=2.0
        )


@pytest.mark.parametrize("chunk_size", [1.5, True], ids=["float", "bool"])
def test_non_integer_chunk_size_is_a_type_error(rng, chunk_size):
    x, w, _, y = problem(rng)
    with pytest.raises(TypeError, match="chunk_size must be an int"):
        sk.linear_cross_entropy(x, w, y, chunk_size=chunk_size)


def test_runs_on_every_backend(backend, rng):
    x, w, b, y = problem(rng)
    result = sk.linear_cross_entropy_and_grad(
        backend.asarray(x), backend.asarray(w), backend.asarray(y, dtype="int64"),
        bias=backend.asarray(b), chunk_size=5,
    )  # fmt: skip
    reference = sk.linear_cross_entropy_and_grad(x, w, y, bias=b)
    for got, want in zip(result, reference):
        assert backend.is_native(got)
        assert_allclose(backend.to_numpy(got), want, rtol=1e-12, atol=1e-15)


def test_an_empty_batch_on_every_eager_backend(eager_backend):
    # No chunk runs: the gradient of the input is made empty, (0, D), in the input's library.
    x, w = eager_backend.asarray(np.zeros((0, 3))), eager_backend.asarray(np.ones((2, 3)))
    target = eager_backend.asarray(np.zeros(0, dtype=np.int64), dtype="int64")
    result = sk.linear_cross_entropy_and_grad(x, w, target)
    assert eager_backend.is_native(result.grad_input)
    assert tuple(result.grad_input.shape) == (0, 3)
    assert_array_equal(eager_backend.to_numpy(result.grad_weight), np.zeros((2, 3)))


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", OPTIONS)
def test_matches_torch_linear_cross_entropy(rng, reduction, options):
    import torch
    import torch.nn.functional as F

    x, w, b, y = problem(rng)
    y[5] = -100
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch_options = {k: torch.tensor(v) if k == "weight" else v for k, v in options.items()}
    expected = F.linear_cross_entropy(
        xt, wt, torch.tensor(y), linear_bias=bt, reduction=reduction, **torch_options
    )
    expected.sum().backward()
    result = sk.linear_cross_entropy_and_grad(
        x, w, y, bias=b, reduction=reduction, chunk_size=4, **options
    )
    assert_allclose(result.loss, expected.detach().numpy(), rtol=1e-12)
    assert_allclose(result.grad_input, xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert_allclose(result.grad_weight, wt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert_allclose(result.grad_bias, bt.grad.numpy(), rtol=1e-12, atol=1e-15)


@requires_torch
def test_matches_torch_with_probability_targets(rng):
    import torch
    import torch.nn.functional as F

    x, w, b, q = problem(rng, probabilities=True)
    expected = F.linear_cross_entropy(
        torch.tensor(x), torch.tensor(w), torch.tensor(q), linear_bias=torch.tensor(b),
        label_smoothing=0.05,
    )  # fmt: skip
    actual = sk.linear_cross_entropy(x, w, q, bias=b, label_smoothing=0.05, chunk_size=3)
    assert_allclose(actual, expected.numpy(), rtol=1e-12)


def test_input_is_not_copied(rng):
    """Regression: astype's default copy=True copied X, O(rows x features) extra memory."""
    X = rng.normal(size=(20000, 64))  # 10 MB
    W = rng.normal(size=(200, 64))
    y = rng.integers(0, 200, size=20000)
    # What remains is a few 100 x 200 chunk temporaries and the targets (about 2 MB).
    assert _traced_peak(lambda: sk.linear_cross_entropy(X, W, y, chunk_size=100)) < X.nbytes / 2


def test_weights_are_not_copied(rng):
    """A vocabulary's weights can be the largest array of the call: no copy of W either."""
    W = rng.normal(size=(20000, 64))  # 10 MB
    x = rng.normal(size=(4, 64))
    y = rng.integers(0, 20000, size=4)
    # What remains is a few 4 x 20000 chunk temporaries (0.6 MB each). Until
    # 2026-12-02 the loss without a gradient also allocated the gradient's W-sized zeros.
    assert _traced_peak(lambda: sk.linear_cross_entropy(x, W, y)) < 0.5 * W.nbytes


def test_numpy_grad_input_is_written_in_place_not_concatenated(rng):
    # The chunks' grad_input used to be concatenated, holding it twice at the peak.
    x = rng.standard_normal((20000, 256))
    w = rng.standard_normal((16, 256))
    y = rng.integers(0, 16, size=20000)
    assert _traced_peak(lambda: sk.linear_cross_entropy_and_grad(x, w, y)) < 1.5 * x.nbytes
    result = sk.linear_cross_entropy_and_grad(x, w, y)
    assert_allclose(result.grad_input, sk.cross_entropy_and_grad(x @ w.T, y).grad @ w, rtol=1e-10)


def test_no_classes_and_every_target_ignored():
    # Pins issue #14 item 4: ZeroDivisionError with a (0, d) weight.
    loss, grad_input, grad_weight, _ = sk.linear_cross_entropy_and_grad(
        np.ones((2, 3)), np.ones((0, 3)), np.array([-100, -100]), reduction="sum"
    )
    assert loss == 0.0
    assert_array_equal(grad_input, np.zeros((2, 3)))
    assert grad_weight.shape == (0, 3)
