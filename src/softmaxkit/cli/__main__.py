"""The ``softmaxkit`` command: parse the subcommand and report errors in one line."""

from __future__ import annotations

import errno
import os
import signal
import sys
import warnings
from types import FrameType
from typing import Any, Callable, TextIO

from .. import __version__
from . import _io, apply, calibrate, demo, explain, explore
from ._errors import CLIError, OneLineParser, fail

SUBCOMMANDS = (demo, explain, apply, calibrate, explore)
# Optional modules whose package has another name on PyPI.
_PACKAGES = {"sklearn": "scikit-learn"}


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="softmaxkit",
        description="softmax and its whole family, done right.",
    )
    parser.add_argument("--version", action="version", version=f"softmaxkit {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def protect_negative_numbers(argv: list[str]) -> list[str]:
    """Let ``-3`` or ``-1e5`` be a value rather than an option.

    argparse takes any word starting with ``-`` for an option unless it looks
    like a simple negative number, so ``explain -inf 2`` or ``--beta -1e3``
    would fail with a confusing message. A leading space makes argparse read
    the word as a value; ``float()`` and ``int()`` ignore the space.
    """
    protected = []
    for word in argv:
        if word.startswith("-") and word != "-" and _io.is_number(word):
            word = " " + word
        protected.append(word)
    return protected


def main(argv: list[str] | None = None) -> int:
    """Run the command; every failure is one line on stderr and exit status 2.

    Also handled here, for every subcommand: SIGTERM (one line, exit 2 as
    any other failure, outputs never half-written: see ``_io``), a closed or full standard
    output, a missing optional package, and warnings (one line each, without
    the library's source path).
    """
    previous_sigterm = _handle_sigterm()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _run(argv)
    except _Terminated:
        # Anywhere from here on: also while the parser is built or reads argv
        # (it was a traceback and exit 1 there).
        _quiet_stdout()
        fail("terminated by SIGTERM; no output file was left half-written")
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


def _run(argv: list[str] | None) -> int:
    if sys.stdout is None:  # started with standard output closed (>&-)
        sys.stdout = _ClosedStdout()
    parser = build_parser()
    args = parser.parse_args(protect_negative_numbers(sys.argv[1:] if argv is None else argv))
    try:
        status: int = args.run(args)
        _flush_stdout()
        return status
    except CLIError as exc:
        fail(str(exc))
    except (ValueError, TypeError) as exc:
        # The library's own checks: the message names the argument and value.
        fail(f"{args.command}: {exc}")
    except ImportError as exc:
        if exc.name is None:  # raised by softmaxkit itself, with the advice in it
            fail(f"{args.command}: {exc}")
        module = exc.name.split(".")[0]
        package = _PACKAGES.get(module, module)
        fail(f"{args.command}: needs {module}, which is not installed (pip install {package})")
    except MemoryError:
        fail(f"{args.command}: not enough memory for this input")
    except OSError as exc:
        _quiet_stdout()
        fail(f"{args.command}: {_os_reason(exc)}")
    except KeyboardInterrupt:
        return 130


class _Terminated(BaseException):
    """Raised by the SIGTERM handler, so that every cleanup (finally) runs."""


def _handle_sigterm() -> Callable[[int, FrameType | None], Any] | int | None:
    def terminate(signum: int, frame: object) -> None:
        raise _Terminated

    try:
        return signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread (main() called from a thread)
        return None


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    # One line, no source path: the user did not write that file.
    print(f"softmaxkit: warning: {message}", file=sys.stderr)


class _ClosedStdout:
    """Stands for a standard output that was closed at start: writing to it fails."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise ValueError("standard output is closed")


def _flush_stdout() -> None:
    """Flush standard output now, so a full disk or a closed pipe is reported here."""
    if sys.stdout is not None:
        sys.stdout.flush()


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit has nothing to fail on."""
    if sys.stdout is None:
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.EBADF and not exc.filename:
        return "standard output is closed; redirect it or write the result with -o"
    if exc.errno == errno.EPIPE:
        return "standard output was closed before the result was written"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device to write the result"
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


if __name__ == "__main__":
    raise SystemExit(main())
