"""``softmaxkit.cli.__main__`` in process: how each kind of failure of a subcommand is reported.

A stand-in subcommand raises each failure; the command's contract is one line on stderr
starting ``softmaxkit: error:``, exit status 2 (130 for Ctrl-C), and no traceback.
"""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import threading
import warnings

import pytest

import softmaxkit as sk
from softmaxkit.cli import __main__ as cli
from softmaxkit.cli import apply
from softmaxkit.cli._errors import CLIError


@pytest.fixture
def raising(monkeypatch):
    """``softmaxkit apply -`` made to raise the given exception."""

    def make(exc):
        def run(args):
            raise exc

        monkeypatch.setattr(apply, "run", run)

    return make


def error_of(capsys, argv=("apply", "-")):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("softmaxkit: error: ")
    return err.removeprefix("softmaxkit: error: ").rstrip("\n")


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (CLIError("x.npy: no such file"), "x.npy: no such file"),
        (ValueError("axis 3 is out of range"), "apply: axis 3 is out of range"),
        (TypeError("temperature must be a number"), "apply: temperature must be a number"),
        (ImportError("tqdm is needed for the bar: pip install tqdm"), "apply: tqdm is needed for the bar: pip install tqdm"),
        (ImportError("no", name="sklearn.linear_model"), "apply: needs sklearn, which is not installed (pip install scikit-learn)"),
        (ImportError("no", name="scipy.special"), "apply: needs scipy, which is not installed (pip install scipy)"),
        (MemoryError(), "apply: not enough memory for this input"),
        (OSError(errno.EBADF, "Bad file descriptor"), "apply: standard output is closed; redirect it or write the result with -o"),
        (OSError(errno.EBADF, "Bad file descriptor", "out.npy"), "apply: out.npy: Bad file descriptor"),
        (OSError(errno.EPIPE, "Broken pipe"), "apply: standard output was closed before the result was written"),
        (OSError(errno.ENOSPC, "No space left on device"), "apply: no space left on the device to write the result"),
        (OSError(errno.EACCES, "Permission denied", "out.npy"), "apply: out.npy: Permission denied"),
        (OSError("no errno"), "apply: no errno"),
    ],
)  # fmt: skip
def test_each_failure_is_one_line_and_exit_2(raising, capsys, exc, message):
    raising(exc)
    assert error_of(capsys) == message


def test_ctrl_c_exits_130_quietly(raising, capsys):
    raising(KeyboardInterrupt())
    assert cli.main(["apply", "-"]) == 130
    assert capsys.readouterr().err == ""


def test_the_status_of_the_subcommand_is_returned_and_stdout_flushed(monkeypatch, capsys):
    monkeypatch.setattr(apply, "run", lambda args: print(args.input, end="") or 0)
    assert cli.main(["apply", "-"]) == 0
    assert capsys.readouterr().out == "-"


def test_a_closed_standard_output_at_start(monkeypatch, capsys):
    monkeypatch.setattr(apply, "run", lambda args: print("result") or 0)
    monkeypatch.setattr(sys, "stdout", None)
    assert error_of(capsys) == "apply: standard output is closed; redirect it or write the result with -o"


def test_warnings_are_one_line_without_a_source_path(monkeypatch, capsys):
    def run(args):
        warnings.warn("careful", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(apply, "run", run)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # not pytest's "error"
        assert cli.main(["apply", "-"]) == 0
    assert capsys.readouterr().err == "softmaxkit: warning: careful\n"


def test_sigterm_is_one_line_and_the_previous_handler_comes_back(monkeypatch, capsys):
    def run(args):
        signal.raise_signal(signal.SIGTERM)
        return 0

    monkeypatch.setattr(apply, "run", run)
    before = signal.getsignal(signal.SIGTERM)
    assert error_of(capsys) == "terminated by SIGTERM; no output file was left half-written"
    assert signal.getsignal(signal.SIGTERM) is before


def test_main_from_another_thread_runs_without_a_sigterm_handler(monkeypatch):
    monkeypatch.setattr(apply, "run", lambda args: 7)
    before = signal.getsignal(signal.SIGTERM)
    statuses = []
    thread = threading.Thread(target=lambda: statuses.append(cli.main(["apply", "-"])))
    thread.start()
    thread.join()
    assert statuses == [7] and signal.getsignal(signal.SIGTERM) is before


def test_negative_numbers_are_values_and_a_lone_dash_is_stdin():
    words = ["explain", "-3", "-1e5", "-inf", "-", "--beta", "-T", "-x1"]
    assert cli.protect_negative_numbers(words) == ["explain", " -3", " -1e5", " -inf", "-", "--beta", "-T", "-x1"]


def test_python_dash_m_of_the_cli_package_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "softmaxkit.cli", "--version"], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and result.stdout == f"softmaxkit {sk.__version__}\n"
