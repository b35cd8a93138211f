"""The ``softmaxkit`` command: parse the subcommand and report errors in one line."""

from __future__ import annotations

import sys

from .. import __version__
from . import apply, calibrate, demo, explain, explore
from ._errors import CLIError, OneLineParser, fail

SUBCOMMANDS = (demo, explain, apply, calibrate, explore)


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
        if word.startswith("-") and word != "-" and _is_number(word):
            word = " " + word
        protected.append(word)
    return protected


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(protect_negative_numbers(sys.argv[1:] if argv is None else argv))
    try:
        return args.run(args)
    except CLIError as exc:
        fail(str(exc))
    except (ValueError, TypeError) as exc:
        # The library's own checks: the message names the argument and value.
        fail(f"{args.command}: {exc}")
    except KeyboardInterrupt:
        return 130


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
