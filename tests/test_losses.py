"""cross_entropy, its gradient and nll_loss: torch's semantics, hand values, finite differences."""

import itertools

import numpy as np
import pytest
from helpers import requires_torch
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk


class TestReferenceValues:
    def test_eshkol_552_sanity_case(self):
        # -log(softmax([2, 0])[0]) = log1p(exp(-2)), correctly rounded (mpmath).
        assert sk.cross_entropy([[2.0, 0.0], [0.0, 2.0]], [0, 1]) == 0.1269280110429725

    def test_weighted_mean_hard_targets_torch_107680(self):
        logits = [[2.3, 2.1, 4.5], [4.2, 3.2, 5.1]]
        loss = sk.cross_entropy(logits, [1, 2], weight=[25.0, 25.0, 100.0])
        assert_allclose(loss, 0.87048350145262, rtol=1e-13)

    def test_weighted_mean_one_hot_targets_torch_107680(self):
        # torch divides by the number of rows for probability targets (54.4052), not by
        # the summed weights (0.8705): softmaxkit follows torch and documents it.
        logits = [[2.3, 2.1, 4.5], [4.2, 3.2, 5.1]]
        loss = sk.cross_entropy(logits, np.eye(3)[[1, 2]], weight=[25.0, 25.0, 100.0])
        assert_allclose(loss, 54.40521884078875, rtol=1e-13)

    def test_uniform_logits(self):
        assert_allclose(sk.cross_entropy(np.zeros((4, 10)), [0, 3, 5, 9]), np.log(10), rtol=1e-15)

    def test_label_smoothing_by_hand(self):
        # (1 - eps) * (-log p_y) + eps / C * sum_c (-log p_c)
        logits = np.array([[1.0, 2.0, 3.0]])
        logp = sk.log_softmax(logits)[0]
        eps = 0.1
        expected = (1 - eps) * -logp[0] + eps / 3 * -logp.sum()
        assert_allclose(sk.cross_entropy(logits, [0], label_smoothing=eps), expected, rtol=1e-15)

    def test_sum_and_none(self):
        logits = np.array([[1.0, 2.0], [3.0, 0.5]])
        per_row = -sk.log_softmax(logits)[[0, 1], [1, 0]]
        assert_allclose(sk.cross_entropy(logits, [1, 0], reduction="none"), per_row, rtol=1e-15)
        assert_allclose(sk.cross_entropy(logits, [1, 0], reduction="sum"), per_row.sum(), rtol=1e-15)

    def test_class_axis_1_for_torch_layout(self, rng):
        logits = rng.normal(size=(2, 3, 4))  # (N, C, d1)
        target = rng.integers(0, 3, size=(2, 4))
        moved = np.moveaxis(logits, 1, -1)
        assert_allclose(sk.cross_entropy(logits, target, axis=1), sk.cross_entropy(moved, target), rtol=1e-15)

    def test_single_sample_with_0d_target(self):
        logits = np.array([1.0, 2.0, 3.0])
        assert_allclose(sk.cross_entropy(logits, np.array(2)), -sk.log_softmax(logits)[2], rtol=1e-15)

    def test_nll_loss_of_log_softmax_is_cross_entropy(self, rng):
        logits = rng.normal(size=(5, 4))
        target = rng.integers(0, 4, size=5)
        weight = rng.uniform(0.5, 2, size=4)
        assert_allclose(
            sk.nll_loss(sk.log_softmax(logits), target, weight=weight),
            sk.cross_entropy(logits, target, weight=weight),
            rtol=1e-14,
        )


class TestIgnoreIndex:
    def test_ignored_rows_contribute_nothing(self):
        logits = np.array([[1.0, 2.0], [5.0, -5.0], [0.3, 0.1]])
        loss = sk.cross_entropy(logits, [1, -100, 0])
        assert_allclose(loss, sk.cross_entropy(logits[[0, 2]], [1, 0]), rtol=1e-15)

    def test_all_ignored_mean_is_nan_and_gradient_zero(self):
        # torch#70348: the mean of no targets is NaN (torch's choice, kept), never a warning.
        logits = np.ones((3, 4))
        loss, grad = sk.cross_entropy_and_grad(logits, [-100, -100, -100])
        assert np.isnan(loss)
        assert_array_equal(grad, 0.0)
        assert sk.cross_entropy(logits, [-100] * 3, reduction="sum") == 0.0

    def test_weight_smoothing_and_ignored_target_torch_69339(self):
        # torch#69339 raised IndexError on this input; torch#73205 counted the ignored row
        # in the smoothing term. Expected: only row 2 counts, divided by its weight.
        logits = np.array([[1.0, 2.0], [3.0, 0.4]])
        weight = np.array([0.2, 0.3])
        eps = 0.1
        logp = sk.log_softmax(logits)[1]
        row = (1 - eps) * weight[1] * -logp[1] + eps / 2 * -(weight * logp).sum()
        loss = sk.cross_entropy(logits, [-100, 1], weight=weight, label_smoothing=eps)
        assert_allclose(loss, row / weight[1], rtol=1e-15)

    def test_ignore_index_that_is_a_valid_class(self):
        logits = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
        loss = sk.cross_entropy(logits, [1, 2], ignore_index=1)
        assert_allclose(loss, -sk.log_softmax(logits[1])[2], rtol=1e-15)


class TestEdgeCases:
    def test_masked_class_with_zero_probability_target_costs_nothing(self):
        logits = np.array([[0.0, 1.0, -np.inf]])
        loss = sk.cross_entropy(logits, np.array([[0.5, 0.5, 0.0]]))
        expected = -0.5 * sk.log_softmax(logits)[0, :2].sum()
        assert_allclose(loss, expected, rtol=1e-15)

    def test_smoothing_skips_a_zero_weight_class_at_minus_inf(self, backend):
        # The smoothing term sums weight * log p over the classes: a class of weight 0
        # adds 0 even where log p = -inf (torch forms 0 * -inf = NaN there).
        logits = np.array([[0.0, 1.0, -np.inf], [2.0, -1.0, -np.inf]])
        weight = np.array([1.0, 3.0, 0.0])
        loss = backend.to_numpy(
            sk.cross_entropy(
                backend.asarray(logits), backend.asarray([1, 0], dtype="int64"),
                weight=backend.asarray(weight), label_smoothing=0.2, reduction="none",
            )
        )
        logp = np.log(np.exp(logits[:, :2]) / np.exp(logits[:, :2]).sum(axis=1, keepdims=True))
        picked = np.array([weight[1] * logp[0, 1], weight[0] * logp[1, 0]])
        smooth = logp @ weight[:2]
        assert_allclose(loss, -(0.8 * picked + 0.2 / 3 * smooth), rtol=1e-14)

    def test_target_on_a_minus_inf_logit_is_infinite(self):
        assert sk.cross_entropy([[0.0, -np.inf]], [1]) == np.inf

    def test_huge_logits_do_not_overflow(self):
        loss, grad = sk.cross_entropy_and_grad([[1e308, -1e308, 0.0]], [0])
        assert loss == 0.0
        assert_array_equal(grad, [[0.0, 0.0, 0.0]])

    def test_float32_and_float16_keep_their_dtype(self):
        for dtype in (np.float32, np.float16):
            loss, grad = sk.cross_entropy_and_grad(np.array([[1.0, 2.0]], dtype=dtype), [0])
            assert loss.dtype == dtype and grad.dtype == dtype

    def test_empty_batch(self):
        loss, grad = sk.cross_entropy_and_grad(np.zeros((0, 3)), np.zeros(0, dtype=int))
        assert np.isnan(loss) and grad.shape == (0, 3)
        assert sk.cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int), reduction="sum") == 0.0

    def test_inputs_are_not_modified(self, rng):
        logits = rng.normal(size=(3, 4))
        target = np.array([0, -100, 3])
        before = logits.copy(), target.copy()
        sk.cross_entropy_and_grad(logits, target, label_smoothing=0.2)
        assert_array_equal(logits, before[0])
        assert_array_equal(target, before[1])


class TestGradient:
    @pytest.mark.parametrize(
        "kind, weighted, eps, reduction",
        list(itertools.product(["index", "probability"], [False, True], [0.0, 0.3], ["mean", "sum", "none"])),
    )
    def test_matches_finite_differences(self, rng, kind, weighted, eps, reduction):
        logits = rng.normal(size=(4, 5))
        target = np.array([0, 3, -100, 4]) if kind == "index" else sk.softmax(rng.normal(size=(4, 5)))
        weight = rng.uniform(0.5, 2.0, size=5) if weighted else None
        options = dict(weight=weight, label_smoothing=eps, reduction=reduction)
        grad = sk.cross_entropy_grad(logits, target, **options)

        def total(z):
            return np.sum(sk.cross_entropy(z, target, **options))

        h = 1e-6
        numeric = np.zeros_like(logits)
        for idx in np.ndindex(logits.shape):
            step = np.zeros_like(logits)
            step[idx] = h
            numeric[idx] = (total(logits + step) - total(logits - step)) / (2 * h)
        assert_allclose(grad, numeric, atol=1e-8)

    def test_plain_case_is_softmax_minus_one_hot(self, rng):
        logits = rng.normal(size=(3, 4))
        target = np.array([1, 0, 3])
        expected = (sk.softmax(logits) - np.eye(4)[target]) / 3
        assert_allclose(sk.cross_entropy_grad(logits, target), expected, rtol=1e-14, atol=1e-17)

    def test_gradient_along_axis_1(self, rng):
        logits = rng.normal(size=(2, 3, 4))
        target = rng.integers(0, 3, size=(2, 4))
        grad = sk.cross_entropy_grad(logits, target, axis=1)
        moved = sk.cross_entropy_grad(np.moveaxis(logits, 1, -1), target)
        assert_allclose(grad, np.moveaxis(moved, -1, 1), rtol=1e-15)

    def test_and_grad_returns_both(self, rng):
        logits = rng.normal(size=(3, 4))
        result = sk.cross_entropy_and_grad(logits, [0, 1, 2], label_smoothing=0.1)
        assert isinstance(result, sk.CrossEntropyResult)
        assert_allclose(result.loss, sk.cross_entropy(logits, [0, 1, 2], label_smoothing=0.1), rtol=1e-15)
        assert_allclose(result.grad, sk.cross_entropy_grad(logits, [0, 1, 2], label_smoothing=0.1), rtol=1e-15)


def torch_cases():
    """torch OpInfo-style samples: shapes (2, 3) and K-dim (2, 3, 1, 2), each option."""
    shapes = [(2, 3), (2, 3, 1, 2), (5, 10)]
    reductions = ["mean", "sum", "none"]
    for shape, reduction, kind, weighted, ignore, eps in itertools.product(
        shapes, reductions, ["index", "probability"], [False, True], [False, True], [0.0, 0.25]
    ):
        if kind == "probability" and ignore:
            continue
        yield pytest.param(shape, reduction, kind, weighted, ignore, eps,
                           id=f"{shape}-{reduction}-{kind}-w{int(weighted)}-i{int(ignore)}-eps{eps}")


@requires_torch
@pytest.mark.parametrize("shape, reduction, kind, weighted, ignore, eps", list(torch_cases()))
def test_agrees_with_torch(rng, shape, reduction, kind, weighted, ignore, eps):
    import torch
    import torch.nn.functional as F

    n_classes = shape[1]
    logits = rng.normal(size=shape)
    if kind == "index":
        target = rng.integers(0, n_classes, size=(shape[0],) + shape[2:])
        if ignore:
            target.flat[0] = 1  # ignore_index=1, as in torch's OpInfo
    else:
        target = sk.softmax(rng.normal(size=shape), axis=1)
    weight = rng.uniform(0.5, 2.0, size=n_classes) if weighted else None
    options = dict(reduction=reduction, label_smoothing=eps, ignore_index=1 if ignore else -100)

    logits_t = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(logits_t, torch.tensor(target), weight=None if weight is None else torch.tensor(weight), **options)
    expected.sum().backward()

    loss, grad = sk.cross_entropy_and_grad(logits, target, axis=1, weight=weight, **options)
    assert_allclose(loss, expected.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert_allclose(grad, logits_t.grad.numpy(), rtol=1e-12, atol=1e-15)


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_agrees_with_torch(rng, reduction):
    import torch
    import torch.nn.functional as F

    logp = sk.log_softmax(rng.normal(size=(6, 4)))
    target = np.array([0, 1, 2, 3, -100, 1])
    weight = rng.uniform(0.5, 2.0, size=4)
    expected = F.nll_loss(torch.tensor(logp), torch.tensor(target), weight=torch.tensor(weight), reduction=reduction)
    assert_allclose(sk.nll_loss(logp, target, weight=weight, reduction=reduction), expected.numpy(), rtol=1e-14)


@requires_torch
def test_torch_tensors_in_and_out():
    import torch

    logits = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float32)
    loss, grad = sk.cross_entropy_and_grad(logits, torch.tensor([2]))
    assert isinstance(loss, torch.Tensor) and loss.dtype == torch.float32
    assert isinstance(grad, torch.Tensor) and grad.shape == (1, 3)


class TestValidation:
    def test_class_index_out_of_range(self):
        with pytest.raises(ValueError, match=r"target contains class index 3, outside \[0, 3\) and not ignore_index \(-100\)"):
            sk.cross_entropy(np.zeros((2, 3)), [0, 3])

    def test_negative_label_that_is_not_ignore_index_torch_12670(self):
        with pytest.raises(ValueError, match="class index -4"):
            sk.cross_entropy(np.zeros((2, 3)), [0, -4], ignore_index=-1)

    def test_target_shape(self):
        with pytest.raises(ValueError, match=r"target of class indices must have shape \(2,\)"):
            sk.cross_entropy(np.zeros((2, 3)), [0, 1, 2])

    def test_float_target_of_the_batch_shape(self):
        with pytest.raises(ValueError, match="target of probabilities must have the logits' shape"):
            sk.cross_entropy(np.zeros((2, 3)), [0.0, 1.0])

    def test_bool_target(self):
        with pytest.raises(TypeError, match="target must be integer class indices or floating probabilities, got dtype bool"):
            sk.cross_entropy(np.zeros((2, 3)), np.array([True, False]))

    def test_weight_length(self):
        with pytest.raises(ValueError, match=r"weight must have one entry per class \(3,\), got shape \(2,\)"):
            sk.cross_entropy(np.zeros((2, 3)), [0, 1], weight=[1.0, 2.0])

    @pytest.mark.parametrize("eps", [-0.1, 1.5, np.nan])
    def test_label_smoothing_range(self, eps):
        with pytest.raises(ValueError, match="label_smoothing must"):
            sk.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=eps)

    def test_reduction(self):
        with pytest.raises(ValueError, match=r"reduction must be one of \['mean', 'sum', 'none'\], got 'avg'"):
            sk.cross_entropy(np.zeros((2, 3)), [0, 1], reduction="avg")

    def test_ignore_index_type(self):
        with pytest.raises(TypeError, match="ignore_index must be an int, got 1.5"):
            sk.cross_entropy(np.zeros((2, 3)), [0, 1], ignore_index=1.5)

    def test_0d_logits(self):
        with pytest.raises(ValueError, match="logits must have a class axis"):
            sk.cross_entropy(np.float64(1.0), 0)

    def test_nll_loss_needs_class_indices(self):
        with pytest.raises(TypeError, match="target must hold integer class indices"):
            sk.nll_loss(np.zeros((2, 3)), np.zeros((2, 3)))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_no_classes_and_every_target_ignored(smoothing, reduction):
    # Pins issue #14 item 4: eps / n_classes raised ZeroDivisionError with 0 classes.
    logits = np.empty((2, 0))
    loss, grad = sk.cross_entropy_and_grad(logits, np.array([-100, -100]),
                                           label_smoothing=smoothing, reduction=reduction)  # fmt: skip
    expected = {"mean": np.nan, "sum": 0.0, "none": np.zeros(2)}[reduction]
    assert_array_equal(loss, expected)
    assert grad.shape == (2, 0)


class TestBatchesOfMoreThanOneAxis:
    """(N, d, C) and (N, C, d) batches against the same rows as an (N * d, C) batch, with
    each default written out (the defaults were untested on more than two axes)."""

    def test_probability_targets_with_classes_on_axis_1(self, rng):
        logits = rng.normal(size=(2, 3, 4))  # (N, C, d1)
        q = sk.softmax(rng.normal(size=(2, 3, 4)), axis=1)
        loss, grad = sk.cross_entropy_and_grad(logits, q, axis=1)
        rows, q_rows = (np.moveaxis(a, 1, -1).reshape(8, 3) for a in (logits, q))
        assert_allclose(loss, -np.mean(np.sum(q_rows * sk.log_softmax(rows), axis=1)), rtol=1e-14)
        expected_grad = np.moveaxis(((sk.softmax(rows) - q_rows) / 8).reshape(2, 4, 3), -1, 1)
        assert_allclose(grad, expected_grad, rtol=1e-13, atol=1e-17)

    def test_classes_on_the_last_axis_by_default_and_minus_100_ignored(self, rng):
        # Each public function's own defaults (axis=-1, ignore_index=-100).
        logits = rng.normal(size=(2, 4, 3))  # (N, d1, C)
        target = rng.integers(0, 3, size=(2, 4))
        target[0, 1] = -100
        rows, flat = logits.reshape(8, 3), target.reshape(8)
        kept = flat != -100
        expected_loss = -np.mean(sk.log_softmax(rows)[kept, flat[kept]])
        expected_grad = np.where(kept[:, None], sk.softmax(rows) - np.eye(3)[flat % 3], 0.0) / 7
        loss, grad = sk.cross_entropy_and_grad(logits, target)
        for got in (loss, sk.cross_entropy(logits, target), sk.nll_loss(sk.log_softmax(logits), target)):
            assert_allclose(got, expected_loss, rtol=1e-14)
        for got in (grad, sk.cross_entropy_grad(logits, target)):
            assert_allclose(got, expected_grad.reshape(2, 4, 3), rtol=1e-13, atol=1e-17)

    def test_class_weights_on_a_batch_of_fewer_positions_than_classes(self, rng):
        # (N, d1, C) with d1 < C: the weighted mean divides by sum w[y] over the C classes.
        logits, target, w = rng.normal(size=(2, 2, 3)), np.array([[2, 0], [2, 1]]), np.array([0.5, 2.0, 3.0])
        picked = -sk.log_softmax(logits.reshape(4, 3))[np.arange(4), target.reshape(4)]
        expected = np.sum(w[target.reshape(4)] * picked) / np.sum(w[target])
        assert_allclose(sk.cross_entropy(logits, target, weight=w), expected, rtol=1e-14)

    def test_weighted_nll_loss_with_classes_on_axis_1(self, rng):
        # (N, C, d1) log-probabilities, as torch's nll_loss takes them: each position's
        # weight is that of its own class (summed over the classes, not the positions).
        log_probs = sk.log_softmax(rng.normal(size=(2, 3, 4)), axis=1)
        target = np.array([[0, 2, 1, 2], [1, -100, 0, 2]])
        w = np.array([0.5, 2.0, 3.0])
        rows, flat = np.moveaxis(log_probs, 1, -1).reshape(8, 3), target.reshape(8)
        kept = flat != -100
        per_row = np.zeros(8)
        per_row[kept] = -w[flat[kept]] * rows[kept, flat[kept]]
        loss = sk.nll_loss(log_probs, target, axis=1, weight=w, reduction="none")
        assert_allclose(loss, per_row.reshape(2, 4), rtol=1e-15)
        mean = sk.nll_loss(log_probs, target, axis=1, weight=w)
        assert_allclose(mean, per_row.sum() / w[flat[kept]].sum(), rtol=1e-14)

    def test_nll_loss_ignores_minus_100_by_default(self, rng):
        log_probs = sk.log_softmax(rng.normal(size=(4, 3)))
        target = np.array([0, -100, 2, 1])
        kept = [0, 2, 3]
        picked = -log_probs[kept, target[kept]]
        assert_allclose(sk.nll_loss(log_probs, target), picked.mean(), rtol=1e-15)
        assert_allclose(sk.nll_loss(log_probs, target, reduction="sum"), picked.sum(), rtol=1e-15)
        assert_array_equal(sk.nll_loss(log_probs, target, reduction="none"), [picked[0], 0.0, *picked[1:]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_a_byte_swapped_target_with_class_weights_gives_the_native_losses(reduction):
    # A regression of 2026-12-02: the "mean" divisor clipped the target itself,
    # and NumPy's clip refuses a byte-swapped int64 array (UFuncTypeError).
    logits = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
    weight = np.array([0.5, 2.0, 1.0])
    native = np.array([1, 2, -100])
    swapped = native.astype(">i8")
    expected = sk.cross_entropy(logits, native, weight=weight, reduction=reduction)
    got = sk.cross_entropy(logits, swapped, weight=weight, reduction=reduction)
    np.testing.assert_array_equal(got, expected)
    # the weighted mean: rows 0 and 1 only, divided by w[1] + w[2]
    if reduction == "mean":
        per_row = sk.cross_entropy(logits, native, weight=weight, reduction="none")
        assert got == pytest.approx((per_row[0] + per_row[1]) / 3.0, rel=1e-15)
