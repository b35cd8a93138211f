"""A tiny web server for the explorer page, on 127.0.0.1 only.

It serves the page's three files and nothing else (no directory listing, no
other file of the package), answers every other path with 404, and logs
nothing. The page makes no requests of its own: a Content-Security-Policy
header allows only its own script and style sheet.

Hardening, since any web page the user visits can make the browser talk to
localhost:

* the ``Host`` header must name this server (``127.0.0.1``, ``localhost`` or
  ``[::1]`` with the served port), else 403: a DNS-rebinding page, whose
  requests carry its own host name, cannot read the explorer;
* every response, error pages included, carries the CSP, ``nosniff`` and
  ``no-store`` headers; the ``Server`` header names no Python version;
* a connection idle for ``timeout`` seconds is closed, so idle sockets
  cannot hold the server's threads; a client that disconnects mid-response
  is no error (no traceback on the terminal).
"""

from __future__ import annotations

import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .page import PAGE_FILES, index_html, read_page_file

#: Loopback only: the page is for the person at this computer, never for the network.
HOST = "127.0.0.1"

_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


#: Seconds a connection may stay idle (or take to send its request) before it is closed.
TIMEOUT = 10.0

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class PageHandler(BaseHTTPRequestHandler):
    """GET and HEAD for ``/`` (index.html) and the page's files."""

    server: _PageServer
    server_version = "softmaxkit-explorer"
    # A request line without a version (HTTP/0.9) would get a bare body, no
    # headers; answer it as HTTP/1.0, with them. Error pages are plain text.
    default_request_version = "HTTP/1.0"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def setup(self) -> None:
        # Read by StreamRequestHandler.setup from the instance (typeshed calls it a ClassVar).
        self.timeout = self.server.timeout_seconds  # type: ignore[misc]
        super().setup()

    def version_string(self) -> str:
        """The ``Server`` header: the name alone (the default adds Python's version)."""
        return self.server_version

    def end_headers(self) -> None:
        # Here rather than in _respond, so that the error pages BaseHTTPRequestHandler
        # writes itself (400 for a malformed request, 501 for other methods) get them too.
        self.send_header("Content-Security-Policy", _POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal shows the page's URL, not a line per request."""

    def _respond(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        name = "index.html" if path == "/" else path.lstrip("/")
        if not self._host_is_this_server():
            body = b"forbidden: this server answers only to its own address\n"
            self.send_response(HTTPStatus.FORBIDDEN)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        elif name not in PAGE_FILES:
            body = b"not found\n"
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        else:
            body = self.server.index_page if name == "index.html" else read_page_file(name)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", PAGE_FILES[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


    def _host_is_this_server(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        port = self.server.server_address[1]
        return host in {f"{name}:{port}" for name in _LOOPBACK_NAMES}


class _PageServer(ThreadingHTTPServer):
    """The threading server, quiet about clients that go away."""

    daemon_threads = True
    index_page: bytes
    timeout_seconds: float

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # the client closed the tab or reset the connection: not our error
        super().handle_error(request, client_address)


def make_server(
    port: int = 0, fragment: str = "", *, timeout: float = TIMEOUT
) -> ThreadingHTTPServer:
    """A server for the page bound to 127.0.0.1:``port``; port 0 picks a free port.
    ``fragment`` (from :func:`~softmaxkit.explorer.page.state_fragment`) is the view the
    page opens on when its URL has none.

    The socket is bound and listening when this returns; call
    ``serve_forever()`` to answer requests. Raises OSError when the port is
    taken. A connection idle for ``timeout`` seconds is closed.

    >>> server = make_server(0)
    >>> server.server_address[0], server.server_address[1] > 0
    ('127.0.0.1', True)
    >>> server.server_close()
    """
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ValueError(f"port must be an integer from 0 to 65535, got {port!r}")
    httpd = _PageServer((HOST, port), PageHandler)
    httpd.index_page = index_html(fragment).encode()
    httpd.timeout_seconds = timeout
    return httpd


def page_url(server: ThreadingHTTPServer, fragment: str = "") -> str:
    """The page's address on ``server``, with ``#fragment`` when one is given."""
    url = f"http://{HOST}:{server.server_address[1]}/"
    return f"{url}#{fragment}" if fragment else url
