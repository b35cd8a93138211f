"""softmaxkit.plot pixel by pixel: each picture against a baseline PNG in the repository.

The other plot tests check the data a figure holds; these catch what they
cannot see: a label moved onto a curve, a legend run off the edge, a colour
gone. Rendering is pinned the way matplotlib pins its own image tests: the
Agg backend (figures are drawn on FigureCanvasAgg, never a GUI), matplotlib's
default style, its bundled DejaVu Sans with hinting off
(``matplotlib.testing.set_font_settings_for_testing``), so a fresh machine
draws the same pixels; ``compare_images`` allows an RMS difference of TOLERANCE
(0-255 grey levels) for anti-aliasing between FreeType builds.

After an intended change to a picture, look at the new images, then write them
as the baselines with ``SOFTMAXKIT_UPDATE_BASELINES=1 python -m pytest
tests/test_plot_images.py`` and commit them. A failed comparison leaves the
image drawn and its difference image in the test's tmp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import has_module

import softmaxkit as sk

pytestmark = pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")

BASELINES = Path(__file__).parent / "baseline_images" / "plot"
TOLERANCE = 3.0
DPI = 60


def predictions(n=400, k=5, seed=7):
    """Overconfident made-up predictions: logits with a bump at the true class, scaled up."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.5
    return np.asarray(sk.softmax(3.0 * logits, axis=1)), labels


def logits(k, seed=5):
    return 2.0 * np.random.default_rng(seed).normal(size=k)


def pictures():
    from softmaxkit import plot

    return {
        "bars-3": lambda: plot.probability_bars([2.0, 1.0, 0.1], labels=["cat", "dog", "bird"]),
        "bars-30": lambda: plot.probability_bars(logits(30)),
        "bars-30000": lambda: plot.probability_bars(logits(30_000)),
        "sweep-beta-500": lambda: plot.temperature_sweep([0.95, 0.99, 0.98], temperature=0.002),
        "sweep-300": lambda: plot.temperature_sweep(logits(300), temperature=0.5),
        "loss-curve": lambda: plot.loss_curve(),
        "reliability": lambda: plot.reliability_diagram(*predictions(), n_bins=10, title="made up"),
    }


@pytest.fixture
def pinned_rendering():
    import matplotlib
    import matplotlib.style
    from matplotlib.testing import set_font_settings_for_testing, set_reproducibility_for_testing

    with matplotlib.rc_context():
        matplotlib.style.use("default")
        set_font_settings_for_testing()
        set_reproducibility_for_testing()
        yield


@pytest.mark.parametrize("name", sorted(pictures()) if has_module("matplotlib") else [])
def test_picture_matches_its_baseline(pinned_rendering, tmp_path, name):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.testing.compare import compare_images

    figure = pictures()[name]()
    FigureCanvasAgg(figure)
    drawn = tmp_path / f"{name}.png"
    figure.savefig(drawn, dpi=DPI)
    baseline = BASELINES / f"{name}.png"
    if os.environ.get("SOFTMAXKIT_UPDATE_BASELINES") == "1":
        BASELINES.mkdir(parents=True, exist_ok=True)
        baseline.write_bytes(drawn.read_bytes())
    assert baseline.exists(), f"no baseline {baseline}: see this module's docstring"
    problem = compare_images(str(baseline), str(drawn), tol=TOLERANCE)
    assert problem is None, problem


def test_a_moved_label_fails_the_comparison(pinned_rendering, tmp_path):
    """The comparison is sharp enough to see a label move by a few pixels."""
    from matplotlib.testing.compare import compare_images

    figure = pictures()["loss-curve"]()
    figure.axes[0].texts[1].set_position((0.45, 2.3))  # "a coin flip", moved a little
    drawn = tmp_path / "moved.png"
    figure.savefig(drawn, dpi=DPI)
    assert compare_images(str(BASELINES / "loss-curve.png"), str(drawn), tol=TOLERANCE) is not None
