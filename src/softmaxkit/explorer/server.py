"""A tiny web server for the explorer page, on 127.0.0.1 only.

It serves the page's three files and nothing else (no directory listing, no
other file of the package), answers every other path with 404, and logs
nothing. The page makes no requests of its own: a Content-Security-Policy
header allows only its own script and style sheet.
"""

from __future__ import annotations

from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .page import PAGE_FILES, index_html, read_page_file

#: Loopback only: the page is for the person at this computer, never for the network.
HOST = "127.0.0.1"

_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class PageHandler(BaseHTTPRequestHandler):
    """GET and HEAD for ``/`` (index.html) and the page's files."""

    server_version = "softmaxkit-explorer"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal shows the page's URL, not a line per request."""

    def _respond(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        name = "index.html" if path == "/" else path.lstrip("/")
        if name not in PAGE_FILES:
            body = b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        else:
            body = self.server.index_page if name == "index.html" else read_page_file(name)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", PAGE_FILES[name])
            self.send_header("Content-Security-Policy", _POLICY)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def make_server(port: int = 0, fragment: str = "") -> ThreadingHTTPServer:
    """A server for the page bound to 127.0.0.1:``port``; port 0 picks a free port.
    ``fragment`` (from :func:`~softmaxkit.explorer.page.state_fragment`) is the view the
    page opens on when its URL has none.

    The socket is bound and listening when this returns; call
    ``serve_forever()`` to answer requests. Raises OSError when the port is
    taken.

    >>> server = make_server(0)
    >>> server.server_address[0], server.server_address[1] > 0
    ('127.0.0.1', True)
    >>> server.server_close()
    """
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    httpd = ThreadingHTTPServer((HOST, port), PageHandler)
    httpd.index_page = index_html(fragment).encode()
    return httpd


def page_url(server: ThreadingHTTPServer, fragment: str = "") -> str:
    """The page's address on ``server``, with ``#fragment`` when one is given."""
    url = f"http://{HOST}:{server.server_address[1]}/"
    return f"{url}#{fragment}" if fragment else url
