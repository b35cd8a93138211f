"""Calibration metrics against hand values, an independent implementation and scikit-learn."""

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk
from softmaxkit.calibration import (
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    expected_calibration_error_interval,
    negative_log_likelihood,
    reliability_curve,
)

requires_sklearn = pytest.mark.skipif(not has_module("sklearn"), reason="needs scikit-learn")


def guo_ece(probs, labels, n_bins=15):
    """Guo et al.'s ``_ECELoss`` convention, written out independently: bins (lower, upper]."""
    confidences = probs.max(axis=1)
    accuracies = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for lower, upper in zip(edges[:-1], edges[1:]):
        in_bin = (confidences > lower) & (confidences <= upper)
        if in_bin.mean() > 0:
            gap = abs(confidences[in_bin].mean() - accuracies[in_bin].mean())
            ece += gap * in_bin.mean()
    return ece


def random_predictions(rng, n=500, k=4, sharpness=3.0):
    probs = sk.softmax(sharpness * rng.normal(size=(n, k)))
    labels = rng.integers(0, k, size=n)
    return probs, labels


class TestHandValues:
    def test_confidence_exactly_one_is_in_the_last_bin_torchmetrics_3510(self):
        curve = reliability_curve([0.95, 1.0], [1, 0])
        assert curve.count.sum() == 2 and curve.count[-1] == 2
        assert expected_calibration_error([0.95, 1.0], [1, 0]) == pytest.approx(0.475)

    def test_confidence_on_an_edge_goes_to_the_bin_below(self):
        # 0.5 is the upper edge of the first of 2 bins: (0, 0.5] holds it.
        curve = reliability_curve([[0.5, 0.5], [0.3, 0.7]], [0, 1], n_bins=2)
        assert_array_equal(curve.count, [1, 1])

    def test_probability_zero_is_counted_in_the_first_bin(self):
        # classwise: class 1 has p = 0 in both rows; Guo's rule would drop them.
        error = classwise_calibration_error([[1.0, 0.0], [1.0, 0.0]], [0, 0], n_bins=10)
        assert error == 0.0
        curve = reliability_curve([[0.0, 1.0], [0.0, 1.0]], [1, 1], n_bins=10)
        assert curve.count[-1] == 2

    def test_two_bins_by_hand(self):
        # confidences 0.9 (right), 0.8 (wrong), 0.6 (right), 0.3 in a 3-class row (wrong)
        probs = [[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.6, 0.4, 0.0], [0.3, 0.3, 0.4]]
        labels = [0, 1, 0, 0]
        # bin (0, 0.5]: conf 0.4, acc 0 -> gap 0.4 (1 of 4);
        # bin (0.5, 1]: conf (0.9+0.8+0.6)/3, acc 2/3 -> gap 0.1 (3 of 4)
        assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(
            0.25 * 0.4 + 0.75 * 0.1
        )
        assert expected_calibration_error(probs, labels, n_bins=2, norm="max") == pytest.approx(0.4)
        assert expected_calibration_error(probs, labels, n_bins=2, norm="l2") == pytest.approx(
            np.sqrt(0.25 * 0.16 + 0.75 * 0.01)
        )

    def test_reliability_curve_by_hand(self):
        curve = reliability_curve([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 0, 0], n_bins=2)
        assert_allclose(curve.bin_edges, [0.0, 0.5, 1.0])
        assert_array_equal(curve.count, [0, 3])
        assert np.isnan(curve.confidence[0]) and np.isnan(curve.accuracy[0])
        assert curve.confidence[1] == pytest.approx((0.9 + 0.8 + 0.6) / 3)
        assert curve.accuracy[1] == pytest.approx(2 / 3)

    def test_brier_by_hand(self):
        assert brier_score([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], [0, 0]) == pytest.approx(
            (0.09 + 0.04 + 0.01 + 2.0) / 2
        )

    def test_nll_by_hand_and_infinite_for_a_zero_probability(self):
        assert negative_log_likelihood([[0.25, 0.75]], [1]) == pytest.approx(-np.log(0.75))
        assert negative_log_likelihood([[1.0, 0.0]], [1]) == np.inf

    def test_classwise_by_hand(self):
        assert classwise_calibration_error([[0.8, 0.2], [0.8, 0.2]], [0, 1], n_bins=5) == (
            pytest.approx(0.3)
        )

    def test_perfect_one_hot_predictions_have_zero_error(self):
        probs = np.eye(3)[[0, 1, 2, 1]]
        labels = [0, 1, 2, 1]
        assert expected_calibration_error(probs, labels) == 0.0
        assert brier_score(probs, labels) == 0.0
        assert negative_log_likelihood(probs, labels) == 0.0


class TestAgainstIndependentImplementations:
    @pytest.mark.parametrize("n_bins", [1, 10, 15, 40])
    def test_ece_equals_guos_ece_loss(self, rng, n_bins):
        probs, labels = random_predictions(rng)
        assert expected_calibration_error(probs, labels, n_bins=n_bins) == pytest.approx(
            guo_ece(probs, labels, n_bins), rel=1e-12
        )

    def test_quantile_bins_are_equal_count_chunks_of_the_sorted_confidences(self, rng):
        probs, labels = random_predictions(rng, n=300)
        n_bins = 10
        curve = reliability_curve(probs, labels, n_bins=n_bins, strategy="quantile")
        assert_array_equal(curve.count, np.full(n_bins, 30))
        order = np.argsort(probs.max(axis=1))
        conf = probs.max(axis=1)[order]
        right = (probs.argmax(axis=1) == labels)[order]
        gaps = [abs(c.mean() - r.mean()) for c, r in zip(np.split(conf, n_bins), np.split(right, n_bins))]
        assert expected_calibration_error(
            probs, labels, n_bins=n_bins, strategy="quantile"
        ) == pytest.approx(np.mean(gaps), rel=1e-12)

    def test_quantile_edges_span_zero_to_one(self, rng):
        # The outer edges are 0 and 1 (the bins cover every possible confidence),
        # not the smallest and largest confidence seen.
        probs, labels = random_predictions(rng, n=300)
        confidence = probs.max(axis=1)
        assert 0 < confidence.min() and confidence.max() < 1
        edges = reliability_curve(probs, labels, n_bins=10, strategy="quantile").bin_edges
        assert edges[0] == 0.0 and edges[-1] == 1.0
        assert_allclose(edges[1:-1], np.quantile(confidence, np.arange(1, 10) / 10), rtol=1e-15)

    def test_classwise_is_the_mean_of_one_vs_rest_binary_errors(self, rng):
        probs, labels = random_predictions(rng, k=3)
        per_class = []
        for k in range(3):
            conf = probs[:, k]
            hit = labels == k
            edges = np.linspace(0, 1, 16)
            total = 0.0
            for lower, upper in zip(edges[:-1], edges[1:]):
                in_bin = ((conf > lower) | (lower == 0)) & (conf <= upper)
                if in_bin.any():
                    total += in_bin.mean() * abs(conf[in_bin].mean() - hit[in_bin].mean())
            per_class.append(total)
        assert classwise_calibration_error(probs, labels) == pytest.approx(np.mean(per_class))

    @requires_sklearn
    def test_brier_equals_sklearn_unscaled_multiclass_brier(self, rng):
        from sklearn.metrics import brier_score_loss

        probs, labels = random_predictions(rng)
        expected = brier_score_loss(labels, probs, labels=range(4), scale_by_half=False)
        assert brier_score(probs, labels) == pytest.approx(expected, rel=1e-12)

    @requires_sklearn
    def test_nll_equals_sklearn_log_loss(self, rng):
        from sklearn.metrics import log_loss

        probs, labels = random_predictions(rng)
        assert negative_log_likelihood(probs, labels) == pytest.approx(
            log_loss(labels, probs, labels=range(4)), rel=1e-12
        )

    def test_nll_equals_cross_entropy_of_the_logits(self, rng):
        logits = rng.normal(size=(50, 6))
        labels = rng.integers(0, 6, size=50)
        assert negative_log_likelihood(sk.softmax(logits), labels) == pytest.approx(
            float(sk.cross_entropy(logits, labels)), rel=1e-12
        )


class TestProperties:
    def test_calibrated_by_construction_has_small_ece_and_overconfident_large(self, rng):
        logits = rng.normal(size=(20000, 5))
        probs = sk.softmax(logits)
        labels = (rng.uniform(size=(20000, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
        assert expected_calibration_error(probs, labels) < 0.02
        assert expected_calibration_error(sk.softmax(3 * logits), labels) > 0.15

    def test_bins_partition_the_predictions(self, rng):
        probs, labels = random_predictions(rng, n=137)
        for strategy in ("uniform", "quantile"):
            assert reliability_curve(probs, labels, strategy=strategy).count.sum() == 137

    def test_accepts_torch_tensors(self, rng):
        torch = pytest.importorskip("torch")
        probs, labels = random_predictions(rng)
        assert expected_calibration_error(
            torch.tensor(probs, requires_grad=True), torch.tensor(labels)
        ) == pytest.approx(expected_calibration_error(probs, labels))

    def test_float32_probabilities_are_accepted(self, rng):
        probs, labels = random_predictions(rng)
        assert expected_calibration_error(probs.astype(np.float32), labels) == pytest.approx(
            expected_calibration_error(probs, labels), abs=1e-6
        )


class TestInterval:
    def test_interval_contains_the_ece_and_is_reproducible(self, rng):
        probs, labels = random_predictions(rng)
        first = expected_calibration_error_interval(probs, labels, n_resamples=200, seed=3)
        again = expected_calibration_error_interval(probs, labels, n_resamples=200, seed=3)
        assert first == again
        assert first.low <= first.ece <= first.high
        assert first.ece == expected_calibration_error(probs, labels)
        assert first.confidence_level == 0.95

    @pytest.mark.parametrize("level", [0.95, 0.5])
    def test_interval_is_the_central_percentile_interval_of_the_bootstrap(self, rng, level):
        # The documented procedure written out: resample the rows with the seeded
        # generator, take the ECE of each resample, and cut (1 - level) / 2 off each tail.
        probs, labels = random_predictions(rng, n=400)
        ci = expected_calibration_error_interval(probs, labels, n_resamples=300, confidence_level=level, seed=5)
        generator = np.random.default_rng(5)
        resampled = []
        for _ in range(300):
            rows = generator.integers(0, len(labels), size=len(labels))
            resampled.append(expected_calibration_error(probs[rows], labels[rows]))
        tail = (1 - level) / 2
        assert_allclose([ci.low, ci.high], np.quantile(resampled, [tail, 1 - tail]), rtol=1e-12)
        inside = np.mean((ci.low <= np.array(resampled)) & (np.array(resampled) <= ci.high))
        assert abs(inside - level) <= 0.01

    def test_interval_narrows_with_more_data(self, rng):
        small = random_predictions(rng, n=200)
        large = random_predictions(rng, n=5000)
        width = [
            (lambda ci: ci.high - ci.low)(
                expected_calibration_error_interval(*data, n_resamples=200)
            )
            for data in (small, large)
        ]
        assert width[1] < width[0] / 2

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [({"n_resamples": 0}, "n_resamples must be >= 1, got 0"),
         ({"confidence_level": 1.0}, r"confidence_level must be in \(0, 1\)"),
         ({"confidence_level": 0.0}, r"confidence_level must be in \(0, 1\), got 0.0")],
        ids=["no-resamples", "level-1", "level-0"],
    )  # fmt: skip
    def test_bad_interval_arguments(self, rng, kwargs, message):
        probs, labels = random_predictions(rng)
        with pytest.raises(ValueError, match=message):
            expected_calibration_error_interval(probs, labels, **kwargs)

    def test_one_resample_is_allowed_and_is_the_interval(self, rng):
        # The smallest valid n_resamples (the check once read "< 2" or "<= 1" under mutation).
        probs, labels = random_predictions(rng, n=50)
        ci = expected_calibration_error_interval(probs, labels, n_resamples=1, seed=2)
        rows = np.random.default_rng(2).integers(0, 50, size=50)
        assert ci.low == ci.high == pytest.approx(expected_calibration_error(probs[rows], labels[rows]), rel=1e-12)

    def test_the_documented_defaults(self, rng):
        # "n_resamples (default 1000)", "seed (default 0, so the interval is reproducible)".
        probs, labels = random_predictions(rng, n=60)
        explicit = expected_calibration_error_interval(probs, labels, n_resamples=1000, seed=0, confidence_level=0.95)
        assert expected_calibration_error_interval(probs, labels) == explicit


class TestErrors:
    @pytest.mark.parametrize(
        ("probs", "labels", "message"),
        [
            ([[0.5, 0.5], [2.0, -1.0]], [0, 0], r"probs must lie in \[0, 1\], got 2.0 at row 1, class 0 \(pass softmax\(logits\)"),
            ([[0.6, 0.6]], [0], r"row 0 sums to 1.2.*softmax\(logits\)"),
            ([[0.5, 0.5]], [2], r"labels must be class indices in \[0, 2\), got 2"),
            ([[0.5, 0.5]], [0, 1], r"labels must have shape \(1,\)"),
            (np.zeros((0, 3)), [], "probs is empty"),
            ([[1.0]], [0], "K >= 2"),
            ([[np.nan, 1.0]], [0], r"probs must lie in \[0, 1\], got nan"),
        ],
        ids=["logits", "unnormalised", "label-range", "label-shape", "empty", "one-class", "nan"],
    )
    def test_bad_inputs_raise_value_error(self, probs, labels, message):
        with pytest.raises(ValueError, match=message):
            expected_calibration_error(probs, labels)

    @pytest.mark.parametrize("off", [-1.0, 1.0], ids=["below", "above"])
    def test_rows_may_sum_to_1_within_the_documented_1e_4(self, off):
        # reliability_curve: "rows summing to 1 (within 1e-4)". |sum - 1| is a multiple of
        # 2**-53 near 1, so no row sits on the bound: 0.99e-4 is in, 1.01e-4 out.
        inside = 0.5 + off * 0.99e-4
        assert brier_score([[0.5, inside]], [0]) == pytest.approx(0.25 + inside**2, rel=1e-15)
        with pytest.raises(ValueError, match="each row of probs must sum to 1, row 0 sums to"):
            brier_score([[0.5, 0.5 + off * 1.01e-4]], [0])

    @pytest.mark.parametrize("dtype", [bool, complex])
    def test_probabilities_of_a_non_real_dtype_are_a_type_error(self, dtype):
        with pytest.raises(TypeError, match=f"probs must be a real array, got dtype {np.dtype(dtype)}"):
            brier_score(np.array([[1, 0]], dtype=dtype), [0])

    @pytest.mark.parametrize(
        ("labels", "error", "message"),
        [(np.array([[True, False]] * 3), ValueError, r"labels must have shape \(3,\)"),
         (np.array([["a", "b"]] * 3), TypeError, "labels must be integer class indices")],
        ids=["bool", "str"],
    )  # fmt: skip
    def test_two_d_labels_that_are_not_numbers_are_not_said_to_be_swapped(self, labels, error, message):
        # Only numbers can be probabilities: these labels are wrong, not in probs' place.
        with pytest.raises(error, match=message):
            brier_score([0.0, 1.0, 1.0], labels)

    def test_float_labels_that_are_not_integers_are_a_type_error(self):
        with pytest.raises(TypeError, match="labels must be integer class indices"):
            brier_score([[0.5, 0.5]], [0.5])

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [({"n_bins": 0}, "n_bins must be >= 1, got 0"),
         ({"n_bins": 10**7}, "n_bins must be <= 1000000, got 10000000"),
         ({"strategy": "equal"}, r"strategy must be one of \['uniform', 'quantile'\], got 'equal'"),
         ({"norm": "l3"}, r"norm must be one of \['l1', 'l2', 'max'\], got 'l3'")],
        ids=["zero-bins", "too-many-bins", "strategy", "norm"],
    )  # fmt: skip
    def test_bad_options(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            expected_calibration_error([[0.5, 0.5]], [0], **kwargs)

    def test_at_most_a_million_bins(self):
        assert expected_calibration_error([[0.7, 0.3]], [0], n_bins=10**6) == pytest.approx(0.3)
        with pytest.raises(ValueError, match="n_bins must be <= 1000000, got 1000001"):
            expected_calibration_error([[0.7, 0.3]], [0], n_bins=10**6 + 1)

    # Issue 13: the counts go through _validate.integer, so a non-integer is a
    # TypeError (it was a ValueError, unlike every other function).
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [({"n_bins": 2.5}, "n_bins must be an int, got 2.5"),
         ({"n_bins": True}, "n_bins must be an int, got True"),
         ({"n_resamples": 10.0}, "n_resamples must be an int, got 10.0")],
        ids=["float-bins", "bool-bins", "float-resamples"],
    )  # fmt: skip
    def test_a_non_integer_count_is_a_type_error(self, kwargs, message):
        function = expected_calibration_error_interval if "n_resamples" in kwargs else expected_calibration_error
        with pytest.raises(TypeError, match=message):
            function([[0.5, 0.5]], [0], **kwargs)

    def test_an_integer_scalar_of_numpy_is_taken(self):
        probs, labels = [[0.9, 0.1], [0.3, 0.7]], [0, 1]
        assert expected_calibration_error(probs, labels, n_bins=np.int64(5)) == (
            expected_calibration_error(probs, labels, n_bins=5)
        )


METRICS = [
    expected_calibration_error,
    classwise_calibration_error,
    brier_score,
    negative_log_likelihood,
    reliability_curve,
    lambda p, y, **kw: expected_calibration_error_interval(p, y, n_resamples=5, **kw),
]
METRIC_IDS = ["ece", "classwise", "brier", "nll", "curve", "interval"]


class TestComingFromScikitLearn:
    @pytest.mark.parametrize("metric", METRICS, ids=METRIC_IDS)
    @pytest.mark.parametrize(
        ("y_true", "y_prob"),
        [([0, 1, 1], [0.2, 0.9, 0.7]),
         ([0, 2, 1], [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.2, 0.6, 0.2]]),
         (np.array([0.0, 1.0, 1.0]), np.array([0.2, 0.9, 0.7])),
         ([0, 1, 1], [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])],
        ids=["binary", "multiclass", "float-labels", "one-hot"],
    )  # fmt: skip
    def test_scikit_learn_argument_order_is_said_to_look_swapped(self, metric, y_true, y_prob):
        # Pins: ECE(y_true, y_prob) said "probs must lie in [0, 1], got -1.0" (1 - label 2),
        # or took binary labels as probabilities.
        with pytest.raises(ValueError, match="probs and labels look swapped.*scikit-learn's take"):
            metric(y_true, y_prob)

    @pytest.mark.parametrize("labels", [[0, 1, 0], [0.0, 1.0, 0.0], [False, True, False]], ids=["int", "float", "bool"])
    def test_binary_probabilities_of_exactly_0_and_1_are_not_taken_for_labels(self, labels):
        # Integer-valued probabilities next to integer-valued labels are not a swap;
        # the last row puts probability 1 on the wrong class: (0 - 1)**2 + (1 - 0)**2 = 2.
        assert brier_score([0.0, 1.0, 1.0], np.array(labels)) == pytest.approx(2 / 3, rel=1e-15)

    def test_a_binary_probability_out_of_range_is_shown_as_given(self):
        # Pins: probs=[0.5, 2.0] reported "got -1.0", the value of 1 - p.
        with pytest.raises(ValueError, match=r"got 2.0 at row 1 "):
            expected_calibration_error([0.5, 2.0], [0, 1])

    @requires_sklearn
    @pytest.mark.parametrize("metric", [negative_log_likelihood, brier_score], ids=["nll", "brier"])
    def test_classes_map_labels_to_columns_as_sklearn_labels(self, rng, metric):
        from sklearn.metrics import brier_score_loss, log_loss

        probs, index = random_predictions(rng, n=50, k=3)
        names = np.array(["cat", "dog", "emu"])
        # A label set in which some class never occurs: sklearn needs labels= then.
        index[index == 1] = 0
        peer = log_loss if metric is negative_log_likelihood else brier_score_loss
        expected = peer(names[index], probs, labels=names)
        assert_allclose(metric(probs, names[index], classes=names), expected, rtol=1e-12)

    def test_classes_in_any_order(self, rng):
        probs, index = random_predictions(rng, n=40, k=3)
        columns = np.array([30, 10, 20])
        assert_allclose(
            expected_calibration_error(probs, columns[index], classes=columns),
            expected_calibration_error(probs, index),
            rtol=1e-15,
        )

    @pytest.mark.parametrize(
        ("classes", "labels", "message"),
        [(["a", "b"], ["a", "c"], r"labels must be among classes \['a', 'b'\], got 'c' \(at row 1\)"),
         (["a", "b", "c"], ["a", "b"], "classes must name each of the 2 columns"),
         (["a", "a"], ["a", "a"], "classes must not repeat a label")],
        ids=["unknown", "count", "repeat"],
    )  # fmt: skip
    def test_bad_classes(self, classes, labels, message):
        with pytest.raises(ValueError, match=message):
            negative_log_likelihood([[0.5, 0.5], [0.2, 0.8]], labels, classes=classes)

    def test_string_labels_without_classes_say_to_pass_classes(self):
        with pytest.raises(TypeError, match="pass classes="):
            negative_log_likelihood([[0.5, 0.5]], ["a"])

    def test_one_default_number_of_bins(self):
        # Pins: the demo's diagrams used 10 bins, the ECE in its table 15.
        import inspect

        from softmaxkit import plot

        functions = [reliability_curve, expected_calibration_error, classwise_calibration_error,
                     expected_calibration_error_interval, plot.reliability_diagram]  # fmt: skip
        defaults = {inspect.signature(f).parameters["n_bins"].default for f in functions}
        assert defaults == {15}
