"""Launching Debian's chromium through Playwright, for the explorer's and the docs' page tests.

The tests are skipped only when chromium or Playwright's Python package is missing, and fail
instead when SOFTMAXKIT_REQUIRE_BROWSER=1 (as in CI).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import has_module

CHROMIUM = os.environ.get("SOFTMAXKIT_CHROMIUM", "/usr/bin/chromium")
# The network is closed: without the background-networking flags chromium keeps trying.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def skip_or_fail_without_browser() -> None:
    missing = [
        what
        for what, present in [
            ("Playwright's Python package (pip install playwright)", has_module("playwright")),
            (f"chromium at {CHROMIUM} (apt-get install chromium)", os.access(CHROMIUM, os.X_OK)),
        ]
        if not present
    ]
    if missing:
        message = "the browser tests need " + " and ".join(missing)
        if os.environ.get("SOFTMAXKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; SOFTMAXKIT_REQUIRE_BROWSER=1 forbids skipping", pytrace=False)
        pytest.skip(message)


@contextlib.contextmanager
def chromium_context(profile: Path, **options: Any) -> Iterator[Any]:
    """A persistent chromium context with a fresh profile (skips or fails without one)."""
    skip_or_fail_without_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **options
        )
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
