"""``softmaxkit apply`` and ``calibrate -o`` in blocks of rows, with a progress bar on a terminal.

A ``.npy`` input is streamed from its file a block of rows at a time, and the
output is written block by block into the atomically-placed file (issue 16):
the files written are those of the whole-array path, byte for byte where the
format allows (``.npy``, text), a bar appears when standard error is a
terminal (checked on a pseudo-terminal) and nothing when it is not, and the
command line's contract (one line, exit 2, no partial file) holds when a
block fails.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
from helpers import has_module

import softmaxkit as sk
from softmaxkit.calibration import TemperatureScaler
from softmaxkit.cli import _io
from softmaxkit.cli.__main__ import main

needs_tqdm = pytest.mark.skipif(not has_module("tqdm"), reason="needs tqdm (the progress extra)")


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few hundred bytes: a few rows each, so every test input takes many."""
    monkeypatch.setattr(_io, "BLOCK_BYTES", 512)


def whole_path_bytes(tmp_path, array, suffix, key="probabilities"):
    """What the whole-array writer (``_io.write_array``) writes for ``array``."""
    path = tmp_path / f"whole{suffix}"
    _io.write_array(array, str(path), npz_key=key)
    return path


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("suffix", [".npy", ".csv", ".txt"])
@pytest.mark.parametrize("options", [[], ["--log"], ["-T", "0.25"]], ids=["softmax", "log", "T"])
def test_apply_in_blocks_writes_the_bytes_of_the_whole_file_path(tmp_path, rng, small_blocks, dtype,
                                                                  suffix, options):  # fmt: skip
    x = rng.normal(scale=5.0, size=(203, 9)).astype(dtype)
    x[7, 2] = -np.inf
    x[11] = -np.inf  # a row with no finite entry
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / f"out{suffix}"
    assert main(["apply", str(tmp_path / "x.npy"), "-o", str(out), *options]) == 0
    function = sk.log_softmax if "--log" in options else sk.softmax
    temperature = float(options[1]) if "-T" in options else 1.0
    expected = function(x, axis=-1, temperature=temperature)
    assert out.read_bytes() == whole_path_bytes(tmp_path, expected, suffix).read_bytes()


def test_apply_in_blocks_along_a_middle_axis_and_into_npz(tmp_path, rng, small_blocks):
    x = rng.normal(size=(40, 6, 5))
    np.savez(tmp_path / "x.npz", logits=x)
    out = tmp_path / "out.npz"
    assert main(["apply", str(tmp_path / "x.npz"), "--key", "logits", "--axis", "1", "-o", str(out)]) == 0
    with np.load(out) as archive:
        assert list(archive) == ["probabilities"]
        np.testing.assert_array_equal(archive["probabilities"], sk.softmax(x, axis=1))


def test_apply_normalises_the_last_axis_by_default(tmp_path, rng, small_blocks):
    x = rng.normal(size=(20, 3, 4))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npy"
    assert main(["apply", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), sk.softmax(x, axis=-1))


@pytest.mark.parametrize("axis", ["0", "-2"])
def test_apply_along_the_axis_of_the_rows_normalises_whole_columns(tmp_path, rng, small_blocks, axis):
    # Not in blocks of rows: each column needs every row.
    x = rng.normal(size=(100, 3))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npy"
    assert main(["apply", str(tmp_path / "x.npy"), "--axis", axis, "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), sk.softmax(x, axis=0))


def test_apply_in_blocks_to_standard_output(tmp_path, rng, small_blocks, capsys):
    x = rng.normal(size=(50, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["apply", str(tmp_path / "x.npy")]) == 0
    assert capsys.readouterr().out == _io.format_text(sk.softmax(x), " ")


@pytest.mark.parametrize("shape", [(0, 5), (1, 5), (7, 1)], ids=["no_rows", "one_row", "one_column"])
def test_apply_in_blocks_of_degenerate_shapes(tmp_path, small_blocks, shape):
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npy"
    assert main(["apply", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    assert out.read_bytes() == whole_path_bytes(tmp_path, sk.softmax(x), ".npy").read_bytes()


def test_a_streamed_input_may_exceed_the_limit_of_an_input_read_whole(tmp_path, rng, small_blocks,
                                                                      monkeypatch, capsys):  # fmt: skip
    # Only the whole-array path holds the input in memory: apply over the
    # rows streams it; along axis 0 (every row needed at once) it is refused.
    x = rng.normal(size=(300, 8))
    np.save(tmp_path / "x.npy", x)
    monkeypatch.setattr(_io, "max_input_bytes", lambda: 4096)
    out = tmp_path / "out.npy"
    assert main(["apply", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out), sk.softmax(x))
    with pytest.raises(SystemExit) as exit_info:
        main(["apply", str(tmp_path / "x.npy"), "--axis", "0"])
    assert exit_info.value.code == 2
    assert "needs 19200 bytes, more than the 4096" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_a_read_failing_after_some_blocks_leaves_no_file(tmp_path, rng, small_blocks, monkeypatch,
                                                         capsys, suffix):  # fmt: skip
    x = rng.normal(size=(100, 8))
    np.save(tmp_path / "x.npy", x)
    reads = 0
    read_into = _io._read_into

    def failing(handle, buffer, name):
        nonlocal reads
        reads += 1
        if reads == 4:
            raise OSError(5, "Input/output error")
        read_into(handle, buffer, name)

    monkeypatch.setattr(_io, "_read_into", failing)
    with pytest.raises(SystemExit) as exit_info:
        main(["apply", str(tmp_path / "x.npy"), "-o", str(tmp_path / f"out{suffix}")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"softmaxkit: error: {tmp_path / 'x.npy'}: not a valid .npy file (Input/output error)\n"
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


def test_a_bad_axis_is_reported_before_anything_is_written(tmp_path, rng, small_blocks, capsys):
    np.save(tmp_path / "x.npy", rng.normal(size=(30, 4)))
    with pytest.raises(SystemExit):
        main(["apply", str(tmp_path / "x.npy"), "--axis", "2", "-o", str(tmp_path / "out.npy")])
    assert "axis 2 is out of bounds" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_calibrate_writes_in_blocks_what_the_scaler_gives_for_every_row(tmp_path, rng, small_blocks,
                                                                       capsys, suffix):  # fmt: skip
    logits = rng.normal(scale=4.0, size=(400, 5))
    labels = np.argmax(logits + rng.normal(scale=3.0, size=logits.shape), axis=1)
    np.save(tmp_path / "z.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    fit_logits, fit_labels = logits[:200], labels[:200]
    np.save(tmp_path / "fz.npy", fit_logits)
    np.save(tmp_path / "fy.npy", fit_labels)
    out = tmp_path / f"p{suffix}"
    assert main(["calibrate", str(tmp_path / "z.npy"), str(tmp_path / "y.npy"),
                 "--fit-logits", str(tmp_path / "fz.npy"), "--fit-labels", str(tmp_path / "fy.npy"),
                 "-o", str(out)]) == 0  # fmt: skip
    expected = TemperatureScaler().fit(fit_logits, fit_labels).predict_proba(logits)
    assert out.read_bytes() == whole_path_bytes(tmp_path, expected, suffix).read_bytes()


# ---------------------------------------------------------------- the bar


def run_on_a_terminal(arguments, *, terminal):
    """Run the command line in a child whose standard error is a pseudo-terminal
    (or a pipe), with blocks of 4 KiB and no delay before a bar; its stderr."""
    program = (
        "import sys; from softmaxkit import _progress; from softmaxkit.cli import _io; "
        "from softmaxkit.cli.__main__ import main; "
        "_progress.DELAY_SECONDS = 0.0; _io.BLOCK_BYTES = 4096; sys.exit(main(sys.argv[1:]))"
    )
    command = [sys.executable, "-c", program, *map(str, arguments)]
    if not terminal:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr
    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, where tqdm draws nothing.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    written = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        assert ready, "no output for two minutes"
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child has closed the terminal
            break
        if not chunk:
            break
        written += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0, written
    return written.decode(errors="replace")


@pytest.fixture
def big_logits(tmp_path, rng):
    path = tmp_path / "x.npy"
    np.save(path, rng.normal(size=(2000, 16)))
    labels = tmp_path / "y.npy"
    np.save(labels, rng.integers(0, 16, size=2000))
    return path, labels


@needs_tqdm
def test_apply_shows_a_bar_on_a_terminal(tmp_path, big_logits):
    written = run_on_a_terminal(["apply", big_logits[0], "-o", tmp_path / "p.npy"], terminal=True)
    # (tqdm redraws at most every 0.1 s: the count shown may stop short of 2000.)
    assert "softmaxkit apply:" in written and "/2000 [" in written and "row/s" in written
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), sk.softmax(np.load(big_logits[0])))


@needs_tqdm
def test_calibrate_shows_its_reading_and_writing_on_a_terminal(tmp_path, big_logits):
    written = run_on_a_terminal(["calibrate", *big_logits, "-o", tmp_path / "p.csv"], terminal=True)
    assert f"reading {big_logits[0]}" in written and "softmaxkit calibrate" in written


@pytest.mark.parametrize("command", ["apply", "calibrate"])
def test_no_bar_where_standard_error_is_not_a_terminal(tmp_path, big_logits, command):
    arguments = [big_logits[0]] if command == "apply" else list(big_logits)
    assert run_on_a_terminal([command, *arguments, "-o", tmp_path / "p.npy"], terminal=False) == ""
