"""softmaxkit.plot: the figures hold the data they claim (checked on the data, not pixels)."""

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_allclose

import softmaxkit as sk

pytestmark = pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")

if has_module("matplotlib"):
    from softmaxkit.calibration import expected_calibration_error, reliability_curve
    import softmaxkit.plot as sk_plot
    from softmaxkit.plot import loss_curve, probability_bars, reliability_diagram, temperature_sweep


@pytest.fixture
def predictions(rng):
    logits = 3.0 * rng.normal(size=(500, 4))
    labels = rng.integers(0, 4, size=500)
    return np.asarray(sk.softmax(logits)), labels


def bar_heights(ax, container=0):
    return np.array([bar.get_height() for bar in ax.containers[container]])


def bar_widths(ax, container=0):
    return np.array([bar.get_width() for bar in ax.containers[container]])


def tick_names(ax):
    return [label.get_text() for label in ax.get_yticklabels()]


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
        bars = fig.axes[0].containers[0]
        lefts = np.array([bar.get_x() for bar in bars])
        rights = lefts + np.array([bar.get_width() for bar in bars])
        # Equal-count bins: the 20/40/60/80 % quantiles of the confidences, then 0 and 1 outside.
        inner = np.quantile(probs.max(axis=1), [0.2, 0.4, 0.6, 0.8])
        assert_allclose(lefts, [0.0, *inner], rtol=1e-12)
        assert_allclose(rights, [*inner, 1.0], rtol=1e-12)

    def test_bins_are_shaded_by_how_many_predictions_they_hold(self, predictions):
        # Was: a bin of 3 predictions looked as weighty as one of 300.
        probs, labels = predictions
        fig = reliability_diagram(probs, labels, n_bins=10)
        count = reliability_curve(probs, labels, n_bins=10).count
        alpha = np.array([bar.get_facecolor()[3] for bar in fig.axes[0].containers[0]])
        filled = count > 0
        assert_allclose(alpha[filled], 0.12 + 0.88 * count[filled] / count.max())
        assert alpha[np.argmax(count)] == 1.0

    def test_the_legend_names_both_directions_of_the_gap(self, predictions):
        # Was: the colour of a gap where accuracy > confidence was not in the legend.
        fig = reliability_diagram(*predictions)
        names = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
        assert "gap, confidence > accuracy" in names and "gap, accuracy > confidence" in names

    def test_gap_colour_says_over_or_underconfident(self):
        from matplotlib.colors import to_rgb

        probs = np.array([[0.9, 0.1]] * 10 + [[0.55, 0.45]] * 10)
        labels = np.array([0] * 5 + [1] * 5 + [0] * 10)  # 50% right at 0.9, 100% at 0.55
        gaps = reliability_diagram(probs, labels, n_bins=5).axes[0].containers[1]
        colours = {to_rgb(bar.get_edgecolor()) for bar in gaps if bar.get_height() > 0}
        assert colours == {to_rgb("#d62728"), to_rgb("#ff7f0e")}

    def test_one_axes_takes_the_reliability_panel_only(self, predictions):
        from matplotlib.figure import Figure

        ax = Figure().subplots()
        fig = reliability_diagram(*predictions, n_bins=10, ax=ax)
        assert fig.axes == [ax]
        assert_allclose(bar_heights(ax)[reliability_curve(*predictions, n_bins=10).count > 0],
                        reliability_curve(*predictions, n_bins=10).accuracy[
                            reliability_curve(*predictions, n_bins=10).count > 0])  # fmt: skip

    def test_logits_instead_of_probabilities_are_refused(self):
        with pytest.raises(ValueError, match="probs must lie in"):
            reliability_diagram([[2.0, -1.0]], [0])


class TestProbabilityBars:
    def test_left_bars_are_the_logits_and_right_bars_their_softmax(self):
        logits = [3.0, -1.0, 0.5, 0.5]
        fig = probability_bars(logits, temperature=2.0, labels=list("abcd"))
        assert_allclose(bar_widths(fig.axes[0]), logits)
        assert_allclose(bar_widths(fig.axes[1]), sk.softmax(np.array(logits) / 2.0))
        assert tick_names(fig.axes[0]) == list("abcd")

    def test_value_labels_never_round_a_small_probability_to_zero(self):
        # Was: a row of "0.00" labels for every class below 0.005.
        logits = np.array([10.0, 0.0, -5.0, 3.0, 2.0, 1.0, -1.0, -2.0])
        fig = probability_bars(logits)
        texts = [t.get_text() for t in fig.axes[1].texts]
        p = np.asarray(sk.softmax(logits))
        assert "0.00" not in texts
        assert_allclose([float(t) for t in texts], p, rtol=0.051)

    @pytest.mark.parametrize("n_classes", [31, 300, 100_000])
    def test_many_classes_show_the_top_ones_and_the_others_added_up(self, rng, n_classes):
        logits = rng.normal(size=n_classes)
        p = np.asarray(sk.softmax(logits))
        fig = probability_bars(logits)
        top = np.argsort(-logits, kind="stable")[: sk_plot.TOP_ROWS]
        widths = bar_widths(fig.axes[1])
        assert len(widths) == sk_plot.TOP_ROWS + 1  # never one bar per class
        assert_allclose(widths[:-1], p[top])
        assert_allclose(widths[-1], 1.0 - p[top].sum(), rtol=1e-9)
        assert tick_names(fig.axes[0]) == [str(k) for k in top] + [f"others ({n_classes - 20:,})"]
        others = fig.axes[0].containers[0][-1]  # the range of the others' logits
        rest = np.delete(logits, top)
        assert_allclose([others.get_x(), others.get_x() + others.get_width()], [rest.min(), rest.max()])
        assert f"the last row adds up the other {n_classes - 20:,}" in fig.get_supxlabel()

    def test_up_to_max_rows_every_class_has_its_bar_in_order(self):
        logits = np.arange(sk_plot.MAX_ROWS, dtype=float)
        fig = probability_bars(logits)
        assert_allclose(bar_widths(fig.axes[0]), logits)
        assert fig.get_supxlabel() == ""

    def test_draws_into_given_axes(self):
        from matplotlib.figure import Figure

        fig = Figure()
        left, right = fig.subplots(1, 2)
        assert probability_bars([1.0, 2.0], ax=(left, right)) is fig
        assert_allclose(bar_widths(right), sk.softmax([1.0, 2.0]))
        single = Figure().subplots()
        probability_bars([1.0, 2.0], ax=single)
        assert_allclose(bar_widths(single), sk.softmax([1.0, 2.0]))

    def test_ax_and_figure_together_are_refused(self):
        from matplotlib.figure import Figure

        fig = Figure()
        with pytest.raises(TypeError, match="give ax or figure, not both"):
            probability_bars([1.0, 2.0], ax=fig.subplots(), figure=fig)
        with pytest.raises(TypeError, match="ax must be one matplotlib Axes or 2 of them"):
            probability_bars([1.0, 2.0], ax="left")

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

    def test_sweep_reaches_past_a_marked_cold_temperature_and_marks_it(self):
        # Was: at β = 500 on [0.95, 0.99, 0.98] the sweep stopped near β = 250, unmarked.
        fig = temperature_sweep([0.95, 0.99, 0.98], temperature=0.002)
        ax = fig.axes[0]
        beta = ax.lines[0].get_xdata()
        assert beta.max() >= 5000
        marks = [line for line in ax.lines if line.get_label().startswith("β = 500")]
        assert len(marks) == 1 and marks[0].get_xdata()[0] == pytest.approx(500)
        curves = np.column_stack([line.get_ydata() for line in ax.lines[:3]])
        assert_allclose(curves[-1], [0.0, 1.0, 0.0], atol=1e-6)  # one-hot at the cold end
        assert_allclose(curves[0], 1 / 3, atol=0.01)  # uniform at the hot end

    @pytest.mark.parametrize("n_classes", [11, 30_000])
    def test_many_classes_draw_the_top_curves_and_the_others_added_up(self, rng, n_classes):
        logits = rng.normal(size=n_classes)
        temperatures = np.array([100.0, 1.0, 0.1])
        fig = temperature_sweep(logits, temperatures=temperatures)
        lines = fig.axes[0].lines
        top = np.argsort(-logits, kind="stable")[: sk_plot.TOP_CURVES - 1]
        p = np.asarray(sk.softmax(logits[None, :] / temperatures[:, None], axis=1))
        for line, k in zip(lines, top):
            assert_allclose(line.get_ydata(), p[:, k])
        others = lines[sk_plot.TOP_CURVES - 1]
        assert others.get_label() == f"others: {n_classes - 9:,} classes added up"
        assert_allclose(others.get_ydata(), 1.0 - p[:, top].sum(axis=1), rtol=1e-9, atol=1e-15)

    def test_the_uniform_line_and_beta_1_are_named_in_the_legend(self):
        legend = temperature_sweep([2.0, 1.0, 0.1]).axes[0].get_legend()
        names = [text.get_text() for text in legend.get_texts()]
        assert "1/K = 0.333: uniform" in names and "β = 1: plain softmax" in names

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
    assert_allclose(bar_widths(top.axes[1]), sk.softmax([1.0, 2.0]))


def test_loss_curve_draws_into_given_axes():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert loss_curve(ax=ax) is ax.get_figure()
    assert_allclose(ax.lines[0].get_ydata(), -np.log(ax.lines[0].get_xdata()))


# ---------------------------------------------------------------- what the eye sees


def drawn_texts(fig):
    """(text, window box) of every piece of text the figure draws, after drawing it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        # Tick labels are drawn only for the ticks inside the view.
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if low - 1e-9 * abs(high - low) <= tick.get_loc() <= high + 1e-9 * abs(high - low):
                    boxes += [(t.get_text(), t.get_window_extent(renderer))
                              for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text()]  # fmt: skip
    ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for tick in axis.get_major_ticks() + axis.get_minor_ticks() for t in (tick.label1, tick.label2)}  # fmt: skip
    for text in fig.findobj(Text):
        if id(text) not in ticks and text.get_visible() and text.get_text().strip():
            boxes.append((text.get_text(), text.get_window_extent(renderer)))
    return boxes, fig.bbox


def assert_readable(fig):
    """No two texts overlap and every text lies inside the figure."""
    boxes, frame = drawn_texts(fig)
    for name, box in boxes:
        assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1, f"{name!r} runs off the figure"
        assert box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1, f"{name!r} runs off the figure"
    for i, (first, a) in enumerate(boxes):
        for second, b in boxes[i + 1 :]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_x <= 1 or overlap_y <= 1, f"{first!r} and {second!r} overlap"


@pytest.mark.parametrize("n_classes", [2, 3, 30, 300, 30_000])
def test_no_label_collides_at_any_number_of_classes(rng, n_classes):
    # Was: 100 classes smeared the tick labels and ran the legend off the figure.
    logits = 3.0 * rng.normal(size=n_classes)
    assert_readable(probability_bars(logits, temperature=0.5))
    assert_readable(temperature_sweep(logits, temperature=0.5))


def test_no_label_collides_in_the_loss_curve_and_the_reliability_diagram(predictions):
    # Was: "a coin flip" was printed over "confident and right"; the legend lay on the bars.
    assert_readable(loss_curve())
    assert_readable(reliability_diagram(*predictions))


def test_no_label_collides_at_the_seeds_beta_500():
    assert_readable(temperature_sweep([0.95, 0.99, 0.98], temperature=0.002))
    assert_readable(probability_bars([0.95, 0.99, 0.98], temperature=0.002))
