"""``softmaxkit explain``: the words and the edge cases of its table (run in process)."""

import json
import math

import numpy as np
import pytest
from helpers import has_module

import softmaxkit as sk
from softmaxkit.cli.__main__ import main
from softmaxkit.cli.explain import explain, format_exp, shifted_logits


def run(capsys, *args):
    assert main(["explain", *map(str, args)]) == 0
    return capsys.readouterr().out


def one_line_error(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *map(str, args)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("softmaxkit: error: ")
    return err


def column(text, name):
    """The values of one column of the table, as text, for the class rows."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.lstrip().startswith("class"))
    names = ["class", "z", "z − max", "e^(βz)", "p (%)", "argmax", "−log p"]
    rows = []
    for line in lines[header + 1 :]:
        if line.lstrip().startswith("total"):
            break
        rows.append(line.split()[names.index(name)])
    return rows


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("-T", "0", "explain: --temperature must be a finite number > 0, got 0.0"),
        ("-T", "nan", "explain: --temperature must be a finite number > 0, got nan"),
        ("--beta", "-1", "explain: --beta must be a finite number > 0 whose 1/β is finite, got -1.0"),
        # 1/β overflows: the refusal names --beta, the option given, not the temperature
        ("--beta", "1e-320", "explain: --beta must be a finite number > 0 whose 1/β is finite, got 1e-320"),
    ],
)
def test_a_scale_that_is_no_finite_temperature_is_refused_by_its_option(capsys, option, value, message):
    assert one_line_error(capsys, "1", "2", option, value).rstrip("\n").endswith(message)


def test_one_logit_is_singular(capsys):
    # Was: "softmax of 1 logits".
    assert run(capsys, 5).startswith("softmax of 1 logit at T = 1 (β = 1)\n")
    assert run(capsys, 5, 6).startswith("softmax of 2 logits at")


def test_a_dead_row_says_so_instead_of_an_effective_class(capsys):
    # Was: all p = 0 beside "effective number of classes = 1".
    text = run(capsys, "-inf", "-inf")
    assert "every logit is -inf: a dead row, so every p is 0" in text
    assert "effective number of classes" not in text.replace("no effective number of classes", "")
    assert column(text, "p (%)") == ["0.00", "0.00"]
    payload = json.loads(run(capsys, "-inf", "-inf", "--json"))
    assert payload["dead_row"] is True and payload["entropy"] == "nan"
    assert json.loads(run(capsys, 1, 2, "--json"))["dead_row"] is False


def test_a_one_hot_row_still_has_one_effective_class(capsys):
    text = run(capsys, 0, "-inf")
    assert "effective number of classes exp(entropy) = 1" in text


@pytest.mark.parametrize(
    ("logits", "expected"),
    [
        ([1.0, math.inf, 2.0, math.inf], [-math.inf, 0.0, -math.inf, 0.0]),
        ([-math.inf, -math.inf], [-math.inf, -math.inf]),
        ([1.0, math.nan, 3.0], [-2.0, math.nan, 0.0]),
        ([-math.inf, 2.0], [-math.inf, 0.0]),
    ],
    ids=["plus-inf", "dead-row", "nan", "minus-inf"],
)
def test_z_minus_max_takes_the_limits_softmax_takes(logits, expected):
    # Was: nan for an inf entry (inf - inf), where the page shows 0.
    np.testing.assert_array_equal(shifted_logits(np.array(logits)), expected)


def test_z_minus_max_column_of_an_inf_row(capsys):
    text = run(capsys, 1, "inf", 2, "inf")
    assert column(text, "z − max") == ["-inf", "0", "-inf", "0"]
    assert column(text, "p (%)") == ["0.00", "50.00", "0.00", "50.00"]


@pytest.mark.parametrize("token", ["1e309", "-1e309", "2e400", "1" + "0" * 400])
def test_a_decimal_beyond_float64_is_refused_not_made_inf(capsys, token):
    # Was: 1e309 silently became inf.
    err = one_line_error(capsys, "--", token, "2")
    assert f"'{token}' is beyond the largest float64" in err
    assert ("write -inf" if token.startswith("-") else "write inf") in err


def test_inf_written_as_a_word_is_still_taken(capsys):
    assert column(run(capsys, "--", "-Infinity", "inf", "1e308"), "z") == ["-inf", "inf", "1e+308"]


@pytest.mark.parametrize("temperature", [0.3, 3.0])
def test_the_explanation_agrees_with_softmaxkit(rng, temperature):
    # At 0.3 the row is nearly one-hot (entropy 1e-22, inside approx's absolute 1e-12):
    # only the 3.0 case, entropy 0.115, checks the entropy's sign and its p log p terms.
    z = rng.normal(size=50) * 10
    result = explain(z, temperature)
    np.testing.assert_allclose([r.probability for r in result.rows], sk.softmax(z, temperature=temperature))
    assert [r.log_exp for r in result.rows] == (z / temperature).tolist()
    p, log_p = sk.softmax(z / temperature), sk.log_softmax(z / temperature)
    assert result.entropy == pytest.approx(-np.sum(p * log_p), rel=1e-12)
    assert result.log_total == pytest.approx(float(sk.logsumexp(z / temperature)), rel=1e-15)


def test_the_default_temperature_is_1():
    assert explain([1.0, 2.0]) == explain([1.0, 2.0], 1.0)
    assert explain([1.0, 2.0]).temperature == 1.0


def test_a_temperature_shows_its_beta_and_scales_every_exponential(capsys):
    text = run(capsys, 1, 2, "-T", 0.5)
    assert text.startswith("softmax of 2 logits at T = 0.5 (β = 2)\n")
    assert column(text, "e^(βz)") == ["7.39e+00", "5.46e+01"]  # e^2, e^4
    text = run(capsys, 1, 2, "-T", 0.5, "--json")
    assert text.startswith('{\n  "temperature": 0.5,\n  "beta": 2.0,\n')
    payload = json.loads(text)
    assert payload["total"]["exp"] == "6.20e+01"  # e^2 + e^4 = 61.99


def test_json_of_a_temperature_whose_beta_overflows(capsys):
    # Was: "softmaxkit: error: explain: Out of range float values are not JSON compliant: inf",
    # where the table prints β = inf.
    assert "(β = inf)" in run(capsys, 1, 2, "-T", "5e-324")
    payload = json.loads(run(capsys, 1, 2, "-T", "5e-324", "--json"))
    assert (payload["temperature"], payload["beta"]) == (5e-324, "inf")


def test_a_certain_class_loses_0_not_minus_0(capsys):
    # -log 1 is -0.0, and so is the entropy of a one-hot row: both print as 0.
    text = run(capsys, 0, "-inf")
    assert column(text, "−log p") == ["0", "inf"]
    assert "entropy 0 nats;" in text
    payload = json.loads(run(capsys, 0, "-inf", "--json"))
    assert [math.copysign(1.0, c) for c in (payload["classes"][0]["loss"], payload["entropy"])] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("log_value", "expected"),
    [
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "0"),
        (math.log(9.999), "1.00e+01"),  # the mantissa rounds up to 10: carried into the exponent
        (math.log(0.09999), "1.00e-01"),
        (math.log(1.2349), "1.23e+00"),  # rounded once, to 3 digits (1.235 would print 1.24)
        (1e13 * math.log(10.0), "10^(1e+13)"),  # from 10^13 on, the exponent alone
        (-1e13 * math.log(10.0), "10^(-1e+13)"),
        (0.99e13 * math.log(10.0), "1.00e+9900000000000"),
    ],
    ids=["nan", "inf", "minus-inf", "carry", "carry-negative", "one-rounding", "huge", "tiny", "below-huge"],
)
def test_format_exp(log_value, expected):
    assert format_exp(log_value) == expected


def test_a_nan_logit_makes_its_row_and_the_totals_nan(capsys):
    text = run(capsys, 1, "nan", 3)
    assert column(text, "e^(βz)") == ["2.72e+00", "nan", "2.01e+01"]
    assert column(text, "p (%)") == ["nan", "nan", "nan"]


needs_matplotlib = pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")


@needs_matplotlib
def test_plot_at_beta_500_sweeps_past_it_and_marks_it(tmp_path, capsys, monkeypatch):
    # Was: the sweep stopped near β = 250 and did not mark the chosen β.
    import softmaxkit.cli.explain as cli_explain

    drawn = {}
    real = cli_explain.explain_figure
    monkeypatch.setattr(cli_explain, "explain_figure",
                        lambda *a: drawn.setdefault("figure", real(*a)))  # fmt: skip
    run(capsys, 0.95, 0.99, 0.98, "-b", 500, "--plot", tmp_path / "b.png")
    sweep = drawn["figure"].subfigs[1].axes[0]
    assert max(sweep.lines[0].get_xdata()) >= 5000
    assert [line.get_xdata()[0] for line in sweep.lines if line.get_label().startswith("β = 500")] == [500]


@needs_matplotlib
def test_plot_of_ten_thousand_logits_draws_a_few_dozen_bars(tmp_path, capsys, monkeypatch, rng):
    # Was: 10,000 bars, 10,000 curves and a 10,000-entry legend (2 min 44 s, and a warning).
    import softmaxkit.cli.explain as cli_explain

    drawn = {}
    real = cli_explain.explain_figure
    monkeypatch.setattr(cli_explain, "explain_figure",
                        lambda *a: drawn.setdefault("figure", real(*a)))  # fmt: skip
    logits = np.round(rng.normal(size=10_000), 4)
    run(capsys, "--plot", tmp_path / "many.png", "--", *logits)
    bars, sweep = drawn["figure"].subfigs
    assert [len(ax.containers[0]) for ax in bars.axes] == [21, 21]
    assert len(sweep.axes[0].lines) <= 12
    assert (tmp_path / "many.png").read_bytes()[:4] == b"\x89PNG"
