"""The explorer's localhost server: binds 127.0.0.1 only, serves the page's files and nothing else."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

from softmaxkit.explorer import page, server


@pytest.fixture
def running():
    httpd = server.make_server(0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def request(httpd, path: str, method: str = "GET") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=10)
    connection.request(method, path)
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_binds_to_loopback_only_on_a_free_port(running):
    host, port = running.server_address
    assert host == "127.0.0.1"
    assert 0 < port <= 65535


def test_page_url_names_the_bound_port_and_the_fragment(running):
    port = running.server_address[1]
    assert server.page_url(running) == f"http://127.0.0.1:{port}/"
    assert server.page_url(running, "z=1,2") == f"http://127.0.0.1:{port}/#z=1,2"


@pytest.mark.parametrize(
    ("path", "name"),
    [("/", "index.html"), ("/index.html", "index.html"), ("/?z=1", "index.html"),
     ("/explorer.js", "explorer.js"), ("/explorer.css", "explorer.css")],
    ids=["root", "index", "root-with-query", "script", "style"],
)
def test_serves_the_page_files_with_their_content_type(running, path, name):
    response = request(running, path)
    assert response.status == 200
    assert response.body == page.read_page_file(name)
    assert response.getheader("Content-Type") == page.PAGE_FILES[name]
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_sends_a_policy_that_forbids_loading_anything_from_elsewhere(running):
    policy = request(running, "/").getheader("Content-Security-Policy")
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src" not in policy  # falls back to default-src 'none'


@pytest.mark.parametrize(
    "path",
    ["/page.py", "/server.py", "/__init__.py", "/../__init__.py", "/explorer/", "/favicon.ico",
     "/%2e%2e/_core.py"],
)
def test_answers_404_for_anything_else(running, path):
    response = request(running, path)
    assert response.status == 404
    assert response.body == b"not found\n"


def test_head_sends_headers_without_a_body(running):
    response = request(running, "/explorer.js", method="HEAD")
    assert response.status == 200
    assert response.body == b""
    assert int(response.getheader("Content-Length")) == len(page.read_page_file("explorer.js"))


def test_logs_nothing(running, capsys):
    request(running, "/")
    request(running, "/missing")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("port", [-1, 65536, "8000", 80.0], ids=["negative", "too-big", "str", "float"])
def test_make_server_rejects_a_bad_port(port):
    with pytest.raises(ValueError, match=rf"port must be an integer from 0 to 65535, got {port!r}"):
        server.make_server(port)


def test_make_server_raises_oserror_when_the_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            server.make_server(taken.getsockname()[1])


# ------------------------------------------------ hardening (issue #14 item 8)


def raw_exchange(httpd, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", httpd.server_address[1]), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_host_names_with_the_port_are_served(running, host):
    port = running.server_address[1]
    reply = raw_exchange(running, f"GET / HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.0 200")


@pytest.mark.parametrize(
    "host_line",
    ["Host: attacker.example:{port}", "Host: 127.0.0.1", "Host: 127.0.0.1:1", "Host: localhost.evil:{port}", ""],
    ids=["rebinding", "no_port", "other_port", "suffix", "missing"],
)
def test_other_host_headers_are_forbidden(running, host_line):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name: it must not read the page.
    port = running.server_address[1]
    head = f"GET / HTTP/1.0\r\n{host_line.format(port=port)}\r\n\r\n" if host_line else "GET / HTTP/1.0\r\n\r\n"
    reply = raw_exchange(running, head.encode())
    assert reply.startswith(b"HTTP/1.0 403")
    assert b"<html" not in reply.lower()


def test_server_header_names_no_python_version(running):
    response = request(running, "/")
    assert response.getheader("Server") == "softmaxkit-explorer"


@pytest.mark.parametrize(
    "raw",
    [b"GARBAGE\r\n\r\n", b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"],
    ids=["malformed", "unsupported_method", "long_line"],
)
def test_error_pages_carry_the_security_headers(running, raw):
    reply = raw_exchange(running, raw).decode("latin-1")
    head = reply.split("\r\n\r\n")[0]
    assert head.split()[1] in ("400", "414", "501")
    assert "Content-Security-Policy: default-src 'none'" in head
    assert "X-Content-Type-Options: nosniff" in head


def test_an_idle_connection_is_closed_after_the_timeout():
    httpd = server.make_server(0, timeout=0.5)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", httpd.server_address[1]), timeout=10) as s:
            assert s.recv(1) == b""  # closed by the server, not by our 10 s timeout
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_a_client_that_resets_mid_response_prints_nothing(running, capfd):
    import struct

    port = running.server_address[1]
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"GET /explorer.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        # SO_LINGER 0: close() sends a reset, as a browser tab killed mid-load does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    request(running, "/")  # the server still answers
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Error" not in err
