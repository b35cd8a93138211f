"""``softmaxkit explain --plot``: the picture of the same logits, or a one-line error."""

import numpy as np
import pytest
from helpers import has_module

from softmaxkit.cli.__main__ import main

pytestmark = pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")


def test_plot_writes_bars_and_sweep_of_the_logits(tmp_path, capsys, monkeypatch):
    import softmaxkit.cli.explain as explain

    drawn = {}
    real = explain.explain_figure

    def spy(logits, temperature, path):
        drawn["figure"] = real(logits, temperature, path)
        return drawn["figure"]

    monkeypatch.setattr(explain, "explain_figure", spy)
    assert main(["explain", "2", "1", "0.1", "-T", "0.5", "--plot", str(tmp_path / "e.png")]) == 0
    assert capsys.readouterr().out.startswith("softmax of 3 logits at T = 0.5")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bars, sweep = drawn["figure"].subfigs
    heights = [bar.get_width() for bar in bars.axes[1].containers[0]]
    e = np.exp(np.array([2.0, 1.0, 0.1]) / 0.5)
    assert heights == pytest.approx(e / e.sum(), rel=1e-12)
    assert len(sweep.axes[0].lines) >= 3
    # The bars' panel grows with the classes; the sweep's stays 4.6 inches tall.
    from softmaxkit import plot

    assert drawn["figure"].get_size_inches().tolist() == [9.5, plot.probability_bars_height(3) + 4.6]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["2", "inf", "--plot", "e.png"], "explain: logits must be finite, got [2.0, inf]"),
        (["2", "1", "--plot", "e.jpg"], "explain: --plot e.jpg: use a .png, .pdf or .svg file"),
    ],
    ids=["infinite-logit", "format"],
)
def test_plot_errors_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *argv])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"softmaxkit: error: {message}\n"
    assert list(tmp_path.iterdir()) == []
