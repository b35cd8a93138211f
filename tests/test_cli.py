"""The softmaxkit command line: explain, apply, and the error rules.

Commands run in a subprocess through the installed console script, as a user
would run them; error cases check one line on stderr, exit status 2, no
traceback and no output file left behind.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk


def softmaxkit(*args, stdin=None, cwd=None):
    executable = shutil.which("softmaxkit")
    command = [executable] if executable else [sys.executable, "-m", "softmaxkit"]
    return subprocess.run(
        [*command, *map(str, args)], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("softmaxkit: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


class TestExplain:
    def test_beta_500_table(self):
        result = softmaxkit("explain", 0.95, 0.99, 0.98, "--beta", 500)
        assert result.returncode == 0, result.stderr
        rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
        assert [row[3] for row in rows] == ["1.95e+206", "9.46e+214", "6.37e+212"]
        assert [row[4] for row in rows] == ["0.00", "99.33", "0.67"]
        assert [row[5] for row in rows] == ["0", "1", "0"]

    def test_beta_1_percentages(self):
        result = softmaxkit("explain", 0.95, 0.99, 0.98)
        rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
        assert [row[4] for row in rows] == ["32.56", "33.89", "33.55"]

    def test_total_row(self):
        result = softmaxkit("explain", 1, 2, 3)
        total = next(line.split() for line in result.stdout.splitlines() if line.startswith("total"))
        assert total[1] == "3.02e+01"  # e + e^2 + e^3 = 30.19
        assert total[2] == "100.00" and total[3] == "1"

    def test_exp_of_a_million_is_printed_without_overflow(self):
        result = softmaxkit("explain", 1e6, 0)
        assert result.returncode == 0
        assert "3.03e+434294" in result.stdout

    def test_negative_and_infinite_logits_are_values_not_options(self):
        result = softmaxkit("explain", "-inf", "-1e3", "-2", "--temperature", "0.5")
        assert result.returncode == 0, result.stderr
        assert "T = 0.5" in result.stdout

    def test_json_matches_the_library(self):
        result = softmaxkit("explain", 4.8, 1.21, 2.385, "--temperature", 2, "--json")
        payload = json.loads(result.stdout)
        probabilities = [c["probability"] for c in payload["classes"]]
        assert_allclose(probabilities, sk.softmax([4.8, 1.21, 2.385], temperature=2.0), rtol=1e-15)
        losses = [c["loss"] for c in payload["classes"]]
        assert_allclose(losses, -sk.log_softmax([4.8, 1.21, 2.385], temperature=2.0), rtol=1e-15)
        assert payload["beta"] == 0.5
        assert [c["argmax"] for c in payload["classes"]] == [1, 0, 0]

    def test_json_writes_infinity_as_a_string(self):
        payload = json.loads(softmaxkit("explain", "-inf", 0, "--json").stdout)
        assert payload["classes"][0]["loss"] == "inf"
        assert payload["classes"][0]["exp"] == "0"

    def test_entropy_line(self):
        result = softmaxkit("explain", 0, 0, 0, 0)
        assert "effective number of classes exp(entropy) = 4" in result.stdout

    @pytest.mark.parametrize("flag, value", [("--beta", -1), ("--temperature", 0), ("--beta", "inf")])
    def test_bad_temperature(self, flag, value):
        assert_one_line_error(softmaxkit("explain", 1, 2, flag, value), flag, "finite number > 0")

    def test_not_a_number(self):
        # A subcommand's usage error names the subcommand (OneLineParser).
        result = softmaxkit("explain", 1, "abc")
        assert_one_line_error(result)
        assert result.stderr == "softmaxkit: error: explain: argument Z: 'abc' is not a number (see --help)\n"

    def test_temperature_and_beta_together(self):
        assert_one_line_error(softmaxkit("explain", 1, 2, "--beta", 2, "--temperature", 3), "not allowed with")


class TestApply:
    def test_stdin_to_stdout(self):
        result = softmaxkit("apply", "-", stdin="1 2 3\n0 0 0\n")
        values = np.array([line.split() for line in result.stdout.splitlines()], dtype=float)
        assert_allclose(values, sk.softmax([[1, 2, 3], [0, 0, 0]]), rtol=1e-16)

    def test_npy_round_trip_with_axis_temperature_and_log(self, tmp_path, rng):
        x = rng.normal(size=(4, 5)).astype(np.float32)
        np.save(tmp_path / "x.npy", x)
        result = softmaxkit("apply", tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--axis", 0, "--temperature", 2, "--log")
        assert result.returncode == 0, result.stderr
        y = np.load(tmp_path / "y.npy")
        assert y.dtype == np.float32
        assert_array_equal(y, sk.log_softmax(x, axis=0, temperature=2.0))

    def test_npz_with_key_to_csv(self, tmp_path):
        np.savez(tmp_path / "in.npz", logits=np.array([[1.0, 2.0]]), other=np.zeros(3))
        result = softmaxkit("apply", tmp_path / "in.npz", "--key", "logits", "-o", tmp_path / "out.csv")
        assert result.returncode == 0, result.stderr
        assert_allclose(np.loadtxt(tmp_path / "out.csv", delimiter=","), sk.softmax([1.0, 2.0]), rtol=1e-16)

    def test_csv_in_npz_out(self, tmp_path):
        (tmp_path / "in.csv").write_text("1,2,3\n3,2,1\n")
        softmaxkit("apply", tmp_path / "in.csv", "-o", tmp_path / "out.npz")
        with np.load(tmp_path / "out.npz") as archive:
            assert_allclose(archive["probabilities"], sk.softmax([[1, 2, 3], [3, 2, 1]]), rtol=1e-16)

    def test_tsv(self, tmp_path):
        (tmp_path / "in.tsv").write_text("0\t0\n")
        softmaxkit("apply", tmp_path / "in.tsv", "-o", tmp_path / "out.tsv")
        assert (tmp_path / "out.tsv").read_text() == "0.5\t0.5\n"

    def test_python_dash_m_works_too(self):
        result = subprocess.run([sys.executable, "-m", "softmaxkit", "apply", "-"], input="0 0", capture_output=True, text=True)
        assert result.stdout == "0.5 0.5\n"


class TestApplyErrors:
    def test_missing_file(self, tmp_path):
        assert_one_line_error(softmaxkit("apply", tmp_path / "nope.npy"), "nope.npy", "no such file")

    def test_pickled_npy_is_refused(self, tmp_path):
        np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        assert_one_line_error(softmaxkit("apply", tmp_path / "obj.npy"), "obj.npy", "Python objects")

    def test_corrupt_npy(self, tmp_path):
        (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
        assert_one_line_error(softmaxkit("apply", tmp_path / "bad.npy"), "bad.npy", "not a valid .npy file")

    def test_corrupt_npz(self, tmp_path):
        (tmp_path / "bad.npz").write_bytes(b"not a zip")
        assert_one_line_error(softmaxkit("apply", tmp_path / "bad.npz"), "bad.npz", "not a valid .npz file")

    def test_pickled_array_inside_npz_is_refused(self, tmp_path):
        np.savez(tmp_path / "obj.npz", a=np.array([{"a": 1}], dtype=object))
        assert_one_line_error(softmaxkit("apply", tmp_path / "obj.npz"), "obj.npz", "Python objects")

    def test_npz_needs_a_key_when_it_holds_several_arrays(self, tmp_path):
        np.savez(tmp_path / "two.npz", a=np.zeros(2), b=np.zeros(2))
        assert_one_line_error(softmaxkit("apply", tmp_path / "two.npz"), "holds 2 arrays (a, b)", "--key")

    def test_npz_unknown_key(self, tmp_path):
        np.savez(tmp_path / "one.npz", a=np.zeros(2))
        assert_one_line_error(softmaxkit("apply", tmp_path / "one.npz", "--key", "z"), "no array named 'z'")

    def test_csv_with_a_word(self, tmp_path):
        (tmp_path / "in.csv").write_text("1,2\n3,x\n")
        assert_one_line_error(softmaxkit("apply", tmp_path / "in.csv"), "in.csv: line 2: 'x' is not a number")

    def test_ragged_rows(self, tmp_path):
        (tmp_path / "in.csv").write_text("1,2\n3\n")
        assert_one_line_error(softmaxkit("apply", tmp_path / "in.csv"), "line 2 has 1 numbers, the first row has 2")

    def test_empty_stdin(self):
        assert_one_line_error(softmaxkit("apply", "-", stdin=""), "standard input: no numbers found")

    def test_complex_npy(self, tmp_path):
        np.save(tmp_path / "c.npy", np.array([1 + 2j]))
        assert_one_line_error(softmaxkit("apply", tmp_path / "c.npy"), "complex")

    def test_unknown_input_suffix(self, tmp_path):
        (tmp_path / "x.json").write_text("[1, 2]")
        assert_one_line_error(softmaxkit("apply", tmp_path / "x.json"), "unknown input format '.json'")

    def test_axis_out_of_range_leaves_no_output(self, tmp_path):
        out = tmp_path / "out.npy"
        assert_one_line_error(softmaxkit("apply", "-", "-o", out, "--axis", 3, stdin="1 2"), "axis 3 is out of bounds")
        assert not out.exists()

    def test_bad_temperature(self):
        assert_one_line_error(softmaxkit("apply", "-", "--temperature", -2, stdin="1 2"), "temperature must be a finite number > 0, got -2.0")

    def test_unknown_output_suffix_leaves_no_file(self, tmp_path):
        assert_one_line_error(softmaxkit("apply", "-", "-o", tmp_path / "out.xlsx", stdin="1 2"), "unknown output format '.xlsx'")
        assert os.listdir(tmp_path) == []

    def test_3d_array_as_text_leaves_no_file(self, tmp_path):
        np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
        assert_one_line_error(softmaxkit("apply", tmp_path / "cube.npy", "-o", tmp_path / "out.csv"), "3-D array")
        assert sorted(os.listdir(tmp_path)) == ["cube.npy"]

    def test_missing_output_folder(self, tmp_path):
        assert_one_line_error(softmaxkit("apply", "-", "-o", tmp_path / "no" / "out.npy", stdin="1"), "does not exist")

    def test_existing_output_is_kept_when_the_run_fails(self, tmp_path):
        out = tmp_path / "out.npy"
        np.save(out, np.arange(3.0))
        softmaxkit("apply", "-", "-o", out, "--axis", 9, stdin="1 2")
        assert_array_equal(np.load(out), np.arange(3.0))

    def test_key_with_a_non_npz_input(self):
        assert_one_line_error(softmaxkit("apply", "-", "--key", "a", stdin="1"), "--key applies only to .npz files")


class TestUsage:
    def test_no_command(self):
        # The top-level parser's error names no subcommand.
        result = softmaxkit()
        assert_one_line_error(result)
        assert result.stderr == "softmaxkit: error: the following arguments are required: COMMAND (see --help)\n"

    def test_unknown_command(self):
        assert_one_line_error(softmaxkit("frobnicate"), "invalid choice")

    def test_unknown_option(self):
        assert_one_line_error(softmaxkit("explain", 1, "--frob"), "unrecognized arguments: --frob")

    def test_version(self):
        result = softmaxkit("--version")
        assert result.stdout.strip() == f"softmaxkit {sk.__version__}"

    def test_help(self):
        result = softmaxkit("--help")
        assert result.returncode == 0 and "explain" in result.stdout and "apply" in result.stdout
