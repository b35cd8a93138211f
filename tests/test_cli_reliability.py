"""The command line's contract under hostile inputs, full disks, closed pipes and signals.

Every failure is one line on stderr starting ``softmaxkit: error:``, exit
status 2 (SIGTERM included), no traceback, and no output file left behind,
not even after ``kill -9``. Pins issue #14 item 7.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from test_cli import assert_one_line_error, softmaxkit

from softmaxkit.cli import _io
from softmaxkit.cli.__main__ import main


def _command() -> list[str]:
    executable = shutil.which("softmaxkit")
    return [executable] if executable else [sys.executable, "-m", "softmaxkit"]


def _npy_header(shape, descr="<f8") -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return header.getvalue()


@pytest.fixture
def logits(tmp_path):
    path = tmp_path / "logits.npy"
    np.save(path, np.arange(6.0).reshape(2, 3))
    return path


# ---------------------------------------------------------------- arguments


def test_no_arguments_says_error_once():
    result = softmaxkit()
    assert_one_line_error(result, "the following arguments are required: COMMAND")
    assert result.stderr.count("softmaxkit") == 1


def test_a_subcommand_usage_error_names_the_subcommand_once():
    result = softmaxkit("apply")
    assert_one_line_error(result, "softmaxkit: error: apply: the following arguments")
    assert result.stderr.count("softmaxkit") == 1


# ---------------------------------------------------------------- hostile inputs


def test_npz_with_a_member_that_is_not_an_array(tmp_path, logits):
    path = tmp_path / "mixed.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", logits.read_bytes())
        archive.writestr("notes.txt", "hello")
    assert_one_line_error(softmaxkit("apply", path), "'notes.txt', which is not a .npy array")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_a_header_claiming_a_trillion_elements_is_refused_unread(tmp_path, suffix):
    forged = _npy_header((10**12,)) + bytes(64)
    path = tmp_path / f"forged{suffix}"
    if suffix == ".npy":
        path.write_bytes(forged)
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("x.npy", forged)
    result = softmaxkit("apply", path)
    assert_one_line_error(result, "claims a (1000000000000,) float64 array", "only 64 bytes")


def test_a_zip_bomb_beyond_the_input_limit_is_refused(tmp_path, monkeypatch, capsys):
    # 8 MB of zeros deflate to 8 KB; with the limit at 1 MB they are refused
    # before anything is decompressed into memory.
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros(10**6))
    assert path.stat().st_size < 20_000
    monkeypatch.setattr(_io, "max_input_bytes", lambda: 1 << 20)
    with pytest.raises(SystemExit) as exit_info:
        main(["apply", str(path)])
    assert exit_info.value.code == 2
    assert "needs 8000000 bytes, more than the 1048576" in capsys.readouterr().err


def test_fortran_order_and_float16_arrays_still_load(tmp_path):
    x = np.asfortranarray(np.arange(6.0, dtype=np.float16).reshape(2, 3))
    np.save(tmp_path / "f.npy", x)
    np.savez(tmp_path / "f.npz", x=x)
    for name in ("f.npy", "f.npz"):
        assert_array_text(softmaxkit("apply", tmp_path / name, "--axis", 0), x)


def assert_array_text(result, x):
    assert result.returncode == 0, result.stderr
    got = np.array([line.split() for line in result.stdout.splitlines()], dtype=np.float64)
    expected = np.exp(x - x.max(axis=0)) / np.exp(x - x.max(axis=0)).sum(axis=0)
    np.testing.assert_allclose(got, expected, rtol=2e-3)


# ---------------------------------------------------------------- where the output goes


def test_a_full_disk_on_stdout(logits):
    with open("/dev/full", "w") as full:
        result = subprocess.run([*_command(), "apply", str(logits)], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=60)  # fmt: skip
    assert_one_line_error(result, "no space left on the device")


def test_a_full_disk_for_an_output_file_leaves_nothing(tmp_path, logits):
    # /dev/full as -o: its folder /dev cannot hold a temporary file either way.
    result = softmaxkit("apply", logits, "-o", "/dev/full")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_stdout_closed_at_start(logits):
    result = subprocess.run(f"{' '.join(_command())} apply {logits} >&-", shell=True,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert_one_line_error(result, "standard output is closed")


def test_stdout_closed_at_start_is_fine_with_an_output_file(tmp_path, logits):
    result = subprocess.run(f"{' '.join(_command())} apply {logits} -o {tmp_path / 'p.npy'} >&-",
                            shell=True, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "p.npy").shape == (2, 3)


def test_a_reader_that_goes_away(tmp_path):
    path = tmp_path / "wide.npy"
    np.save(path, np.zeros((200, 1000)))
    process = subprocess.Popen([*_command(), "apply", str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    process.stdout.close()  # before the command has written anything
    with process.stderr:
        stderr = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "standard output was closed" in stderr


def test_a_plot_into_a_missing_folder_fails_before_printing(tmp_path):
    pytest.importorskip("matplotlib")
    result = softmaxkit("explain", 1, 2, 3, "--plot", tmp_path / "missing" / "p.png")
    assert_one_line_error(result, "does not exist")
    assert result.stdout == ""


# ---------------------------------------------------------------- signals


def _slow_write(tmp_path) -> tuple[subprocess.Popen, str]:
    """apply on an input whose text output takes seconds to format and write."""
    source = tmp_path / "big.npy"
    np.save(source, np.random.default_rng(0).normal(size=(1500, 1000)))
    out = tmp_path / "out" / "p.txt"
    out.parent.mkdir()
    process = subprocess.Popen([*_command(), "apply", str(source), "-o", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    return process, out.parent


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_sigterm_leaves_no_partial_file(tmp_path, delay):
    process, folder = _slow_write(tmp_path)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        # A fast machine finished before the signal: only the whole output is there.
        assert os.listdir(folder) == ["p.txt"], stderr
        assert (folder / "p.txt").read_text().count("\n") == 1500
        return
    if process.returncode == -signal.SIGTERM:
        # Still importing, before main() handles SIGTERM: nothing was written.
        assert os.listdir(folder) == []
        return
    # Exit 2 as every other failure (it was 143, the shell's code for a kill).
    assert process.returncode == 2, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("softmaxkit: error: terminated")
    assert os.listdir(folder) == []


def test_sigterm_while_the_parser_is_built_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """Pins a traceback and exit 1 (found by re-running issue #14's kill list: the
    signal arrived inside argparse, before the handlers of the run itself)."""
    from softmaxkit.cli import __main__ as cli_main

    build = cli_main.build_parser

    def interrupted_build():
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to main()'s handler here
        return build()

    monkeypatch.setattr(cli_main, "build_parser", interrupted_build)
    source = tmp_path / "x.npy"
    np.save(source, np.ones((2, 3)))
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["apply", str(source), "-o", str(tmp_path / "y.npy")])
    assert exit_.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr == "softmaxkit: error: terminated by SIGTERM; no output file was left half-written\n"
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_kill_9_leaves_no_partial_file(tmp_path, delay):
    process, folder = _slow_write(tmp_path)
    time.sleep(delay)
    process.kill()
    process.communicate(timeout=120)
    left = os.listdir(folder)
    # Nothing, or (if it finished first) the whole output: never a temporary file.
    assert left in ([], ["p.txt"])
    if left:
        assert len((folder / "p.txt").read_text().splitlines()) == 1500


# ---------------------------------------------------------------- calibrate


def test_calibrate_huge_finite_logits(tmp_path, rng):
    z = rng.normal(size=(400, 3))
    labels = (rng.uniform(size=(400, 1)) > np.cumsum(np.exp(z) / np.exp(z).sum(1, keepdims=True), 1)).sum(1)
    np.save(tmp_path / "z.npy", z * 1e160)
    np.save(tmp_path / "y.npy", labels)
    result = softmaxkit("calibrate", tmp_path / "z.npy", tmp_path / "y.npy", "--json")
    assert result.returncode == 0, result.stderr
    assert '"temperature"' in result.stdout


def test_calibrate_vector_without_scipy(tmp_path, rng):
    np.save(tmp_path / "z.npy", rng.normal(size=(40, 3)))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 40))
    hide_scipy = (
        "import sys; sys.modules.update({m: None for m in ('scipy', 'scipy.optimize')}); "
        "from softmaxkit.cli.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_scipy, "calibrate", str(tmp_path / "z.npy"),
         str(tmp_path / "y.npy"), "--method", "vector"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert_one_line_error(result, "calibrate: ", "pip install scipy")


def test_warnings_are_one_line_without_a_source_path(tmp_path, rng):
    # Probabilities passed as logits: the scaler warns (CalibrationWarning).
    probs = rng.dirichlet(np.ones(3), size=60)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 60))
    result = softmaxkit("calibrate", tmp_path / "p.npy", tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr
    warning_lines = result.stderr.strip().splitlines()
    assert warning_lines and all(line.startswith("softmaxkit: warning: ") for line in warning_lines)
    assert ".py" not in result.stderr
