"""softmaxkit.plot: the figures hold the data they claim (checked on the data, not pixels)."""

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_allclose

import softmaxkit as sk

pytestmark = pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")

if has_module("matplotlib"):
    from softmaxkit.calibration import expected_calibration_error, reliability_curve
    from softmaxkit.plot import loss_curve, probability_bars, reliability_diagram, temperature_sweep


@pytest.fixture
def predictions(rng):
    logits = 3.0 * rng.normal(size=(500, 4))
    labels = rng.integers(0, 4, size=500)
    return np.asarray(sk.softmax(logits)), labels


def bar_heights(ax, container=0):
    return np.array([bar.get_height() for bar in ax.containers[container]])


class TestReliabilityDiagram:
    def test_bars_are_the_accuracy_per_bin_and_the_gap_spans_to_the_confidence(self, predictions):
        probs, labels = predictions
        fig = reliability_diagram(probs, labels, n_bins=10)
        curve = reliability_curve(probs, labels, n_bins=10)
        filled = curve.count > 0
        accuracy = bar_heights(fig.axes[0], 0)
        gap_low = np.array([bar.get_y() for bar in fig.axes[0].containers[1]])
        gap_high = gap_low + bar_heights(fig.axes[0], 1)
        assert_allclose(accuracy[filled], curve.accuracy[filled])
        assert_allclose(gap_low[filled], np.minimum(curve.accuracy, curve.confidence)[filled])
        assert_allclose(gap_high[filled], np.maximum(curve.accuracy, curve.confidence)[filled])
        assert_allclose(fig.axes[0].lines[0].get_ydata(), curve.confidence[filled])

    def test_histogram_counts_every_prediction_per_bin(self, predictions):
        probs, labels = predictions
        fig = reliability_diagram(probs, labels, n_bins=10)
        counts = bar_heights(fig.axes[1])
        assert_allclose(counts, reliability_curve(probs, labels, n_bins=10).count)
        assert counts.sum() == len(labels)

    def test_title_states_the_ece(self, predictions):
        probs, labels = predictions
        fig = reliability_diagram(probs, labels, title="model A")
        ece = expected_calibration_error(probs, labels)
        assert fig.axes[0].get_title() == f"model A\nECE = {ece:.3f} (500 predictions, 15 bins)"

    def test_quantile_bins_have_their_own_edges(self, predictions):
        probs, labels = predictions
        fig = reliability_diagram(probs, labels, n_bins=5, strategy="quantile")
        lefts = [bar.get_x() for bar in fig.axes[0].containers[0]]
        assert_allclose(lefts, reliability_curve(probs, labels, n_bins=5, strategy="quantile").bin_edges[:-1])

    def test_logits_instead_of_probabilities_are_refused(self):
        with pytest.raises(ValueError, match="probs must lie in"):
            reliability_diagram([[2.0, -1.0]], [0])


class TestProbabilityBars:
    def test_left_bars_are_the_logits_and_right_bars_their_softmax(self):
        logits = [3.0, -1.0, 0.5, 0.5]
        fig = probability_bars(logits, temperature=2.0, labels=list("abcd"))
        assert_allclose(bar_heights(fig.axes[0]), logits)
        assert_allclose(bar_heights(fig.axes[1]), sk.softmax(np.array(logits) / 2.0))
        assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == list("abcd")

    def test_wrong_number_of_labels(self):
        with pytest.raises(ValueError, match="labels must name all 3 classes, got 2"):
            probability_bars([1.0, 2.0, 3.0], labels=["a", "b"])

    def test_a_matrix_is_refused(self):
        with pytest.raises(ValueError, match=r"one row of at least 2 logits.*\(2, 2\)"):
            probability_bars(np.ones((2, 2)))


class TestTemperatureSweep:
    def test_lines_are_softmax_at_each_inverse_temperature(self):
        logits = np.array([2.0, 1.0, 0.1])
        temperatures = np.array([50.0, 2.0, 1.0, 0.1])
        fig = temperature_sweep(logits, temperatures=temperatures)
        lines = fig.axes[0].lines[:3]
        assert_allclose(lines[0].get_xdata(), 1.0 / temperatures)
        probs = np.column_stack([line.get_ydata() for line in lines])
        assert_allclose(probs, sk.softmax(logits[None, :] / temperatures[:, None], axis=1))

    def test_default_sweep_goes_from_nearly_uniform_to_nearly_argmax(self):
        lines = temperature_sweep([2.0, 1.0, 0.1]).axes[0].lines[:3]
        first = [line.get_ydata()[0] for line in lines]
        last = [line.get_ydata()[-1] for line in lines]
        assert_allclose(first, 1 / 3, atol=0.01)
        assert_allclose(last, [1.0, 0.0, 0.0], atol=1e-12)
        assert fig_x_scale(temperature_sweep([2.0, 1.0])) == "log"

    def test_bad_temperatures(self):
        with pytest.raises(ValueError, match="temperatures must be finite numbers > 0"):
            temperature_sweep([1.0, 2.0], temperatures=[1.0, 0.0])


def fig_x_scale(fig):
    return fig.axes[0].get_xscale()


def test_loss_curve_is_minus_log_p():
    line = loss_curve().axes[0].lines[0]
    p, loss = line.get_xdata(), line.get_ydata()
    assert p.min() > 0 and p.max() == 1.0
    assert_allclose(loss, -np.log(p))


def test_figures_are_not_registered_with_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    loss_curve()
    assert plt.get_fignums() == before


def test_probability_bars_draw_into_a_given_subfigure():
    from matplotlib.figure import Figure

    outer = Figure()
    top, _ = outer.subfigures(2, 1)
    returned = probability_bars([1.0, 2.0], figure=top)
    assert returned is top
    assert_allclose(bar_heights(top.axes[1]), sk.softmax([1.0, 2.0]))
