"""Starting ``softmaxkit explore`` as a subprocess, for the CLI and browser tests."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
from pathlib import Path

URL_LINE = re.compile(r"^http://127\.0\.0\.1:(\d+)/(#\S*)?$")


def softmaxkit_command() -> list[str]:
    """The installed ``softmaxkit`` script beside this Python, else ``python -m softmaxkit``."""
    script = Path(sys.executable).with_name("softmaxkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "softmaxkit"]


class Explorer:
    """A running ``softmaxkit explore --no-browser``: its process and the URL it printed."""

    # The server starts in a fresh interpreter: on a loaded 2-core CI machine that took
    # over 30 s (a rebuild of the editable extension, or other jobs), a wait, not a failure.
    def __init__(self, *args: str, timeout: float = 120.0):
        # Without PYTHONUNBUFFERED (which some shells and CI runners set): a user's
        # terminal or pipe buffers stdout, so the URL reaches them only if explore flushes it.
        environment = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
        self.process = subprocess.Popen(
            [*softmaxkit_command(), "explore", "--no-browser", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self.url = self._read_url(timeout)

    def _read_url(self, timeout: float) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.stop()
                raise AssertionError(f"softmaxkit explore printed no URL within {timeout} s")
        line = self.process.stdout.readline().rstrip("\n")
        if not URL_LINE.match(line):
            self.stop()
            raise AssertionError(
                f"softmaxkit explore printed {line!r}, not a URL; stderr: {self.process.stderr.read()!r}"
            )
        return line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()

    def __enter__(self) -> Explorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
