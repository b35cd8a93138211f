"""``softmaxkit calibrate``: the fit, the report, the outputs and the one-line errors."""

import json
import warnings

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_allclose

import softmaxkit as sk
from softmaxkit.calibration import (
    CalibrationWarning,
    TemperatureScaler,
    expected_calibration_error,
    reliability_curve,
)
from softmaxkit.cli.__main__ import main


@pytest.fixture
def files(tmp_path, rng):
    """3x overconfident logits with labels drawn from the true softmax, as .npy and .txt."""
    latent = rng.normal(size=(1000, 4))
    labels = (rng.uniform(size=(1000, 1)) > np.cumsum(sk.softmax(latent), axis=1)).sum(axis=1)
    np.save(tmp_path / "logits.npy", 3.0 * latent)
    np.savetxt(tmp_path / "labels.txt", labels, fmt="%d")
    return tmp_path, 3.0 * latent, labels


def run_json(capsys, *argv):
    assert main(["calibrate", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fits_on_a_seeded_fraction_and_reports_on_the_rest(files, capsys):
    folder, logits, labels = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--fit-fraction", 0.4)
    order = np.random.default_rng(0).permutation(1000)
    fit, held_out = order[:400], order[400:]
    expected = TemperatureScaler().fit(logits[fit], labels[fit]).temperature_
    assert report["fitted_on"] == 400 and report["evaluated_on"] == 600
    assert report["temperature"] == pytest.approx(expected, rel=1e-12)
    assert report["before"]["ece"] == pytest.approx(
        expected_calibration_error(sk.softmax(logits[held_out]), labels[held_out]), rel=1e-12
    )
    assert report["after"]["ece"] < report["before"]["ece"]
    assert report["after"]["accuracy"] == report["before"]["accuracy"]


def test_every_reported_metric_is_its_definition(files, capsys):
    # Each number of the report, before and after, computed here from its
    # definition: top-label accuracy, mean -log p[label], Brier's sum of squares,
    # and the mean (ECE) and largest (MCE) gap of the 7-bin reliability curve.
    folder, logits, labels = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--bins", 7)
    held_out = np.random.default_rng(0).permutation(1000)[500:]
    y = labels[held_out]
    for when, probs in [("before", sk.softmax(logits[held_out])),
                        ("after", sk.softmax(logits[held_out] / report["temperature"]))]:  # fmt: skip
        metrics = report[when]
        curve = reliability_curve(probs, y, n_bins=7)
        gaps = np.abs(curve.accuracy - curve.confidence)[curve.count > 0]
        assert metrics["accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == y), rel=1e-15)
        assert metrics["nll"] == pytest.approx(-np.mean(np.log(probs[np.arange(500), y])), rel=1e-12)
        assert metrics["brier"] == pytest.approx(np.mean(np.sum((probs - np.eye(4)[y]) ** 2, axis=1)), rel=1e-12)
        assert metrics["ece"] == pytest.approx(np.sum(gaps * curve.count[curve.count > 0]) / 500, rel=1e-12)
        assert metrics["mce"] == pytest.approx(gaps.max(), rel=1e-12)


def test_separate_fit_files_are_used_for_the_fit(files, capsys):
    folder, logits, labels = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt",
                      "--fit-logits", folder / "logits.npy", "--fit-labels", folder / "labels.txt")  # fmt: skip
    assert report["fitted_on"] == report["evaluated_on"] == 1000
    assert report["temperature"] == pytest.approx(TemperatureScaler().fit(logits, labels).temperature_)


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
def test_vector_method_reports_scale_and_bias(files, capsys):
    folder, _, _ = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--method", "vector")
    assert len(report["scale"]) == len(report["bias"]) == 4
    assert_allclose(report["scale"], 1 / 3, rtol=0.25)


def test_output_holds_calibrated_probabilities_of_every_row(files, capsys):
    folder, logits, _ = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt", "-o", folder / "p.npy")
    written = np.load(folder / "p.npy")
    assert_allclose(written, sk.softmax(logits / report["temperature"]), rtol=1e-12)


def test_text_report_is_a_before_after_table(files, capsys):
    folder, _, _ = files
    assert main(["calibrate", str(folder / "logits.npy"), str(folder / "labels.txt")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("temperature scaling fitted on 500 rows: temperature T = ")
    assert lines[2].split() == ["before", "after"]
    assert [line.split()[0] for line in lines[3:]] == ["accuracy", "nll", "brier", "ece", "mce"]


@pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")
def test_text_report_of_vector_scaling_lists_the_scales(files, capsys):
    folder, _, _ = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--method", "vector")
    assert main(["calibrate", str(folder / "logits.npy"), str(folder / "labels.txt"), "--method", "vector"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "vector scaling fitted on 500 rows: per-class scale " + " ".join(
        f"{a:.3g}" for a in report["scale"]
    )


@pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")
def test_plot_writes_a_png(files, capsys):
    folder, _, _ = files
    run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--plot", folder / "d.png")
    assert (folder / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fit-fraction", "1.5"], "--fit-fraction must be in (0, 1), got 1.5"),
        (["--fit-fraction", "0"], "--fit-fraction must be in (0, 1), got 0.0"),
        (["--fit-fraction", "1"], "--fit-fraction must be in (0, 1), got 1.0"),
        (["--fit-logits", "x.npy"], "give both --fit-logits and --fit-labels, or neither"),
        (["--plot", "d.jpg"], "--plot d.jpg: use a .png, .pdf, .svg file"),
    ],
    ids=["fraction", "fraction-0", "fraction-1", "half-of-fit-files", "plot-format"],
)
def test_bad_options_are_one_line_errors_and_write_nothing(files, capsys, extra, message):
    folder, _, _ = files
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", str(folder / "logits.npy"), str(folder / "labels.txt"),
              "-o", str(folder / "out.npy"), *extra])  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (folder / "out.npy").exists()


def test_labels_out_of_range_name_the_row(files, capsys):
    folder, _, labels = files
    bad = labels.copy()
    bad[7] = 9
    np.savetxt(folder / "bad.txt", bad, fmt="%d")
    with pytest.raises(SystemExit):
        main(["calibrate", str(folder / "logits.npy"), str(folder / "bad.txt"),
              "-o", str(folder / "out.npy")])  # fmt: skip
    assert "labels must be class indices in [0, 4), got 9 (at row 7)" in capsys.readouterr().err
    assert not (folder / "out.npy").exists()


@pytest.mark.skipif(not has_module("matplotlib"), reason="needs matplotlib")
def test_plot_titles_name_the_method_and_the_histograms_share_a_scale(files, capsys, monkeypatch):
    # Was: titles "before"/"after" without the method, and each histogram on its own y-scale.
    import softmaxkit.cli.calibrate as calibrate

    drawn = {}
    real = calibrate._diagrams
    monkeypatch.setattr(calibrate, "_diagrams", lambda *a: drawn.setdefault("figure", real(*a)))
    folder, _, _ = files
    report = run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--plot", folder / "d.png")
    before, after = drawn["figure"].subfigs
    assert before.axes[0].get_title().startswith("before calibration\n")
    assert after.axes[0].get_title().startswith(
        f"after temperature scaling (T = {report['temperature']:.3g})\n"
    )
    assert before.axes[1].get_ylim() == after.axes[1].get_ylim()
    assert before.axes[1].get_ylim()[0] == 0
    tallest = max(max(b.get_height() for b in panel.axes[1].containers[0]) for panel in (before, after))
    assert before.axes[1].get_ylim()[1] >= tallest


def test_labels_as_a_one_dimensional_npy_file(files, capsys):
    # np.save(labels) is 1-D, a text column 2-D: both are one label per row.
    folder, _, labels = files
    np.save(folder / "labels.npy", labels)
    from_npy = run_json(capsys, folder / "logits.npy", folder / "labels.npy")
    assert from_npy == run_json(capsys, folder / "logits.npy", folder / "labels.txt")


def calibrate_error(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", *map(str, argv)])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_labels_of_several_columns_are_refused(files, capsys):
    folder, _, labels = files
    np.save(folder / "wide.npy", np.stack([labels, labels, labels], axis=1))
    err = calibrate_error(capsys, folder / "logits.npy", folder / "wide.npy")
    assert "labels must be one integer per row, got shape (1000, 3)" in err


@pytest.mark.parametrize("fit_files", [False, True], ids=["split", "fit-files"])
def test_binary_decision_values_need_a_k_column_file(files, capsys, fit_files):
    # 1-D logits pass the library's check (binary decision values) but the
    # split and the report work on (N, K) rows. Was, with separate fit files:
    # accepted, the "before" softmax taken over the 1000 rows as one
    # distribution (accuracy 0).
    folder, logits, labels = files
    np.save(folder / "decisions.npy", logits[:, 0])
    np.save(folder / "binary.npy", labels % 2)
    fit = ["--fit-logits", folder / "logits.npy", "--fit-labels", folder / "labels.txt"] if fit_files else []
    err = calibrate_error(capsys, folder / "decisions.npy", folder / "binary.npy", *fit)
    assert "LOGITS must have shape (1000, K), one row per label, got (1000,)" in err


def test_fit_logits_of_another_number_of_classes_are_refused(files, capsys):
    # Was: temperature scaling fitted on 3-class logits and applied to 4-class ones.
    folder, logits, labels = files
    np.save(folder / "three.npy", logits[:, :3])
    np.savetxt(folder / "three.txt", labels % 3, fmt="%d")
    err = calibrate_error(capsys, folder / "logits.npy", folder / "labels.txt",
                          "--fit-logits", folder / "three.npy", "--fit-labels", folder / "three.txt")  # fmt: skip
    assert f"--fit-logits {folder / 'three.npy'} must have shape (1000, 4), one row per label, got (1000, 3)" in err


@pytest.mark.parametrize("fraction", [0.1, 0.9], ids=["none-to-fit", "none-to-evaluate"])
def test_a_fraction_that_leaves_no_rows_on_one_side_is_refused(files, capsys, fraction):
    # 3 rows: round(0.3) = 0 to fit on, round(2.7) = 3 leaves none to evaluate on.
    folder, logits, labels = files
    np.save(folder / "three.npy", logits[:3])
    np.savetxt(folder / "three.txt", labels[:3], fmt="%d")
    err = calibrate_error(capsys, folder / "three.npy", folder / "three.txt", "--fit-fraction", fraction)
    assert f"--fit-fraction {fraction} of 3 rows leaves no rows to fit on or to evaluate on" in err


def test_one_row_to_fit_on_is_enough(files, capsys):
    folder, logits, labels = files
    np.save(folder / "three.npy", logits[:3])
    np.savetxt(folder / "three.txt", labels[:3], fmt="%d")
    with warnings.catch_warnings():
        # A fit on one row is degenerate; the CLI says so in one line, not an error.
        warnings.simplefilter("always", CalibrationWarning)
        assert main(["calibrate", str(folder / "three.npy"), str(folder / "three.txt"),
                     "--fit-fraction", "0.34", "--json"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["fitted_on"] == 1 and report["evaluated_on"] == 2
    assert err.startswith("softmaxkit: warning: the validation NLL")


@pytest.mark.skipif(not (has_module("matplotlib") and has_module("scipy")), reason="needs matplotlib and scipy")
def test_the_vector_method_is_named_in_the_plot_title(files, capsys, monkeypatch):
    import softmaxkit.cli.calibrate as calibrate

    drawn = {}
    real = calibrate._diagrams
    monkeypatch.setattr(calibrate, "_diagrams", lambda *a: drawn.setdefault("figure", real(*a)))
    folder, _, _ = files
    run_json(capsys, folder / "logits.npy", folder / "labels.txt", "--method", "vector", "--plot", folder / "d.png")
    assert drawn["figure"].subfigs[1].axes[0].get_title().startswith("after vector scaling\n")
