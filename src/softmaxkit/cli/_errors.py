"""How the command line reports a problem: one line on stderr, exit status 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class CLIError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        # fail() says "softmaxkit: error:"; name only the subcommand, if any.
        command = self.prog.removeprefix("softmaxkit").strip()
        fail(f"{command}: {message} (see --help)" if command else f"{message} (see --help)")


def fail(message: str) -> NoReturn:
    print(f"softmaxkit: error: {message}", file=sys.stderr)
    raise SystemExit(2)
