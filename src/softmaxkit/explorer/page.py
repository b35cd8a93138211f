"""The explorer page's files, the URL fragment that sets its view, and the one-file export.

The page is three static files installed with the package (``index.html``,
``explorer.js``, ``explorer.css``). It reads its view (logits, class names,
temperature) from the URL fragment ``#z=...&names=...&T=...``, falling back to
the ``softmaxkit-initial-state`` meta tag of ``index.html``, which the server
and the export set to the command line's view (:func:`index_html`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Sequence
from importlib import resources
from urllib.parse import quote

#: The files the page is made of, with the Content-Type each is served with.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}

#: The most logits the page takes (explorer.js holds the same number).
MAX_LOGITS = 100_000

_STYLESHEET_TAG = '<link rel="stylesheet" href="explorer.css">'
_SCRIPT_TAG = '<script src="explorer.js" defer></script>'
_STATE_META = '<meta id="initial-state" name="softmaxkit-initial-state" content="'


def read_page_file(name: str) -> bytes:
    """The bytes of one of the page's files (a name in ``PAGE_FILES``)."""
    if name not in PAGE_FILES:
        raise ValueError(f"name must be one of {sorted(PAGE_FILES)}, got {name!r}")
    return resources.files(__package__).joinpath(name).read_bytes()


def state_fragment(
    logits: Sequence[float] | None = None,
    *,
    names: Sequence[str] | None = None,
    temperature: float | None = None,
) -> str:
    """The URL fragment (without ``#``) that opens the page on this view.

    Parts left as None are not set, so the page shows its defaults for them.
    Numbers are written in their shortest round-trip form, so the page reads
    back exactly the same floats.

    >>> state_fragment([0.95, 0.99, 0.98], temperature=0.002)
    'z=0.95,0.99,0.98&T=0.002'
    >>> state_fragment([1e308, float("-inf")], names=["big one", "small"])
    'z=1e308,-inf&names=big%20one,small'
    """
    parts = []
    if logits is not None:
        parts.append("z=" + ",".join(_number_token(v) for v in logits))
    if names is not None:
        parts.append("names=" + ",".join(quote(name, safe="") for name in names))
    if temperature is not None:
        parts.append("T=" + _number_token(temperature))
    return "&".join(parts)


def standalone_html(fragment: str = "") -> str:
    """The page as one self-contained HTML file: the script and style sheet inlined.

    ``fragment`` (from :func:`state_fragment`) becomes the view the file opens
    on; an empty one keeps the page's default view. The file loads nothing from
    anywhere: a Content-Security-Policy allows only its own inline script and
    style (by hash) and data: images.
    """
    page = read_page_file("index.html").decode()
    style = "\n" + read_page_file("explorer.css").decode()
    script = "\n" + read_page_file("explorer.js").decode()
    if "</script" in script.lower() or "</style" in style.lower():
        # Inlined, these would end the element early; the page's own files never hold them.
        raise RuntimeError("explorer.js or explorer.css holds a closing tag and cannot be inlined")
    policy = (
        "default-src 'none'; "
        f"script-src '{_csp_hash(script)}'; style-src '{_csp_hash(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    page = _replace_once(page, _STYLESHEET_TAG, f"<style>{style}</style>")
    page = _replace_once(page, _SCRIPT_TAG, f"<script>{script}</script>")
    page = _replace_once(
        page,
        '<meta charset="utf-8">',
        f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{policy}">',
    )
    return _with_initial_state(page, fragment)


def index_html(fragment: str = "") -> str:
    """``index.html`` opening on the view ``fragment`` (from :func:`state_fragment`) when its
    URL has no fragment of its own; an empty one keeps the page's default view.

    >>> 'content="z=1,2&amp;T=0.5"' in index_html(state_fragment([1, 2], temperature=0.5))
    True
    """
    return _with_initial_state(read_page_file("index.html").decode(), fragment)


def _with_initial_state(page: str, fragment: str) -> str:
    if not fragment:
        return page
    start = page.index(_STATE_META) + len(_STATE_META)
    end = page.index('"', start)
    return page[:start] + html.escape(fragment, quote=True) + page[end:]


def _number_token(value: float) -> str:
    """Shortest round-trip text of a float, as the page writes it into its URL."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace("e+", "e")


def _csp_hash(content: str) -> str:
    digest = hashlib.sha256(content.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"index.html must hold {old!r} exactly once")
    return text.replace(old, new)
