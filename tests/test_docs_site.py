"""The built documentation site, opened in chromium as a reader would.

The site is built by ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(README.md, "Documentation"; ``.ci/run`` does it before the tests). These tests serve it on
127.0.0.1 and check that the search finds a function, that an API page shows the
parameters, and that the gallery's pictures load, with nothing fetched from elsewhere.
Without a built site they are skipped, unless SOFTMAXKIT_REQUIRE_DOCS=1 (as in CI).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time
from pathlib import Path

import pytest
from browser_support import chromium_context

SITE = Path(os.environ.get("SOFTMAXKIT_DOCS_HTML", Path(__file__).resolve().parent.parent / "docs/_build/html"))


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        message = f"no built documentation site at {SITE} (sphinx-build -b html docs docs/_build/html)"
        if os.environ.get("SOFTMAXKIT_REQUIRE_DOCS") == "1":
            pytest.fail(message + "; SOFTMAXKIT_REQUIRE_DOCS=1 forbids skipping", pytrace=False)
        pytest.skip(message)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            pass

    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a tab closed mid-response; the page tests judge what the browser saw

    server = QuietServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(SITE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium_context(tmp_path_factory.mktemp("docs-profile"), viewport={"width": 1280, "height": 900}) as context:
        yield context


@pytest.fixture
def page(browser, site_url):
    """A tab that records console errors and requests to anywhere but the site."""
    opened = browser.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    opened.on(
        "request",
        lambda r: None if r.url.startswith((site_url, "data:", "about:")) else problems.append(f"request to {r.url}"),
    )
    yield opened
    opened.close()
    assert problems == []


def wait_until(page, expression: str, timeout: float = 15.0):
    """Poll a JavaScript expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
    return value


def test_the_search_finds_log_softmax(page, site_url):
    page.goto(f"{site_url}/search.html?q=log_softmax")
    links = wait_until(
        page,
        "(() => { const a = Array.from(document.querySelectorAll('#search-results a'))"
        ".map(a => a.getAttribute('href')); return a.length ? a : null; })()",
    )
    assert any("softmaxkit.log_softmax.html" in link for link in links), links


def test_the_api_page_of_softmax_shows_its_parameters(page, site_url):
    page.goto(f"{site_url}/api/generated/softmaxkit.softmax.html")
    headings = page.evaluate("Array.from(document.querySelectorAll('dt.field-odd, dt.field-even')).map(d => d.textContent)")
    assert any("Parameters" in h for h in headings), headings
    assert any("Returns" in h for h in headings), headings
    parameters = page.evaluate(
        "Array.from(document.querySelectorAll('dd.field-odd dl > dt strong, dd.field-even dl > dt strong'))"
        ".map(s => s.textContent)"
    )
    assert {"x", "axis", "temperature", "where"} <= set(parameters), parameters
    assert page.locator("text=softmaxkit 0.").count() + page.locator(".navbar-version").count() > 0


def test_the_gallery_pictures_load(page, site_url):
    page.goto(f"{site_url}/gallery/index.html")
    thumbnails = page.evaluate(
        "Array.from(document.querySelectorAll('.sphx-glr-thumbcontainer img'))"
        ".map(img => [img.getAttribute('src'), img.complete && img.naturalWidth > 0])"
    )
    assert len(thumbnails) >= 5, thumbnails
    assert all(loaded for _, loaded in thumbnails), thumbnails
    page.goto(f"{site_url}/gallery/plot_temperature_sweep.html")
    wait_until(page, "document.readyState === 'complete'")
    pictures = page.evaluate(
        "Array.from(document.querySelectorAll('img.sphx-glr-single-img, img.sphx-glr-multi-img'))"
        ".map(img => img.naturalWidth)"
    )
    assert pictures and all(width > 100 for width in pictures), pictures
