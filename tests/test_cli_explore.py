"""``softmaxkit explore``: serving, exporting, opening the browser, and its errors."""

from __future__ import annotations

import errno
import http.client
import os
import socket
import webbrowser
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from explorer_support import URL_LINE, Explorer

from softmaxkit.cli.__main__ import main
from softmaxkit.explorer import page, server


def fetch(url: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", parts.path or "/")
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


class TestServe:
    def test_prints_a_loopback_url_and_serves_the_page_there(self):
        with Explorer("--port", "0") as explorer:
            assert URL_LINE.match(explorer.url)
            status, body = fetch(explorer.url)
        assert status == 200
        assert body == page.read_page_file("index.html")

    def test_the_url_fragment_carries_the_logits_names_and_temperature(self):
        with Explorer("0.95", "0.99", "0.98", "--names", "a,b,c", "--beta", "500") as explorer:
            assert urlsplit(explorer.url).fragment == "z=0.95,0.99,0.98&names=a,b,c&T=0.002"

    def test_the_page_without_its_fragment_opens_on_the_command_lines_view(self):
        # Was: the address without its #... part showed the dog/cat/bird defaults.
        with Explorer("0.95", "0.99", "0.98", "--beta", "500") as explorer:
            status, body = fetch(explorer.url.split("#")[0])
        assert status == 200
        assert body == page.index_html("z=0.95,0.99,0.98&T=0.002").encode()
        assert b'content="z=0.95,0.99,0.98&amp;T=0.002"' in body

    def test_without_logits_the_page_keeps_its_defaults(self):
        with Explorer("--port", "0") as explorer:
            assert fetch(explorer.url)[1] == page.read_page_file("index.html")

    def test_negative_logits_are_values_not_options(self):
        with Explorer("-inf", "-1e5", "2") as explorer:
            assert urlsplit(explorer.url).fragment == "z=-inf,-100000,2"

    def test_opens_the_browser_on_the_url_unless_told_not_to(self, monkeypatch, capsys):
        opened = []

        def open_and_stop(url):
            opened.append(url)
            raise KeyboardInterrupt  # stands for Ctrl-C, before serve_forever blocks

        monkeypatch.setattr(webbrowser, "open", open_and_stop)
        assert main(["explore", "1", "2", "--port", "0"]) == 130
        printed = capsys.readouterr().out.strip()
        assert opened == [printed]
        assert printed.endswith("/#z=1,2")

    def test_no_browser_opens_nothing(self, monkeypatch, capsys):
        def refuse(url):
            raise AssertionError(f"opened {url}")

        def stop(self, poll_interval=0.5):
            raise KeyboardInterrupt

        monkeypatch.setattr(webbrowser, "open", refuse)
        monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", stop)
        assert main(["explore", "--no-browser"]) == 130
        assert URL_LINE.match(capsys.readouterr().out.strip())


class TestExport:
    def test_writes_the_self_contained_page(self, tmp_path):
        target = tmp_path / "explorer.html"
        assert main(["explore", "--export", str(target)]) == 0
        assert target.read_text() == page.standalone_html()

    def test_says_what_it_wrote(self, tmp_path, capsys):
        # Was: silence on success.
        target = tmp_path / "explorer.html"
        assert main(["explore", "1", "2", "--export", str(target)]) == 0
        size = round(target.stat().st_size / 1024)
        assert capsys.readouterr().out == (
            f"wrote {target} ({size} KiB): the explorer as one file; open it in a browser, offline too\n"
        )

    def test_the_file_opens_on_the_given_view(self, tmp_path):
        target = tmp_path / "dog.html"
        main(["explore", "4.8", "1.21", "2.385", "--names", "dog,cat,bird", "-T", "2",
              "--export", str(target)])
        expected = page.state_fragment([4.8, 1.21, 2.385], names=["dog", "cat", "bird"], temperature=2)
        assert target.read_text() == page.standalone_html(expected)

    def test_replaces_an_existing_file_whole(self, tmp_path):
        target = tmp_path / "explorer.html"
        target.write_text("old")
        main(["explore", "--export", str(target)])
        assert target.read_text() == page.standalone_html()
        assert os.listdir(tmp_path) == ["explorer.html"]

    @pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
    def test_the_file_gets_the_usual_permissions_not_private_ones(self, tmp_path):
        # A bug: the atomic write's temporary file is 0600, and the export kept it.
        target = tmp_path / "explorer.html"
        previous = os.umask(0o022)
        try:
            main(["explore", "--export", str(target)])
        finally:
            os.umask(previous)
        assert target.stat().st_mode & 0o777 == 0o644


def run_failing(argv: list[str], capsys, monkeypatch) -> str:
    def served(self, poll_interval=0.5):
        raise AssertionError(f"{argv} was not refused: it serves the page")

    # A refusal that is missing would otherwise serve forever, and the test hang.
    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", served)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["explore", "-T", "-1"], "explore: --temperature must be a finite number > 0, got -1.0"),
        (["explore", "-T", "inf"], "explore: --temperature must be a finite number > 0, got inf"),
        (["explore", "-T", "0"], "explore: --temperature must be a finite number > 0, got 0.0"),
        (["explore", "--beta", "0"], "explore: --beta must be a finite number > 0"),
        (["explore", "--beta", "1e-320"], "whose 1/β is finite, got 1e-320"),
        (["explore", "-T", "1", "--beta", "1"], "not allowed with argument"),
        (["explore", "1", "x"], "argument Z: 'x' is not a number"),
        (["explore", "1", "2", "--names", "a"], "explore: --names has 1 names for 2 logits: 'a'"),
        (["explore", "--names", "a,b"], "explore: --names needs the logits they name"),
        (["explore", "--port", "70000"], "the port must be from 0 to 65535, got 70000"),
        (["explore", "--port", "65536"], "the port must be from 0 to 65535, got 65536"),
        (["explore", "--port", "http"], "argument --port: 'http' is not a port number"),
        (["explore", "--port", "8000", "--export", "x.html"], "--port has no effect with --export"),
        (["explore", *["1"] * 100_001], "explore: at most 100000 logits, got 100001"),
    ],
    ids=["negative-T", "infinite-T", "zero-T", "zero-beta", "beta-underflows-T", "T-and-beta",
         "not-a-number", "names-count", "names-without-logits", "port-range", "port-65536", "port-word",
         "export-and-port", "too-many-logits"],
)
def test_bad_arguments_fail_in_one_line(argv, message, capsys, monkeypatch):
    assert message in run_failing(argv, capsys, monkeypatch)


@pytest.mark.parametrize(
    ("argv", "port", "fragment"),
    [
        ([], 0, ""),
        (["--port", "65535"], 65535, ""),
        (["1", "2", "-T", "0.5"], 0, "z=1,2&T=0.5"),
        (["1", "2", "--beta", "0.5"], 0, "z=1,2&T=2"),
        (["1", "--beta", "1e-308"], 0, "z=1&T=1e308"),  # 1/beta is finite, if barely
        (["1"] * 100_000, 0, "z=" + ",".join(["1"] * 100_000)),
    ],
    ids=["default-port-0", "port-65535", "T-below-1", "beta-below-1", "tiny-beta", "the-most-logits"],
)
def test_serves_on_the_port_and_the_view_asked_for(argv, port, fragment, monkeypatch, capsys):
    requested = []
    make_server = server.make_server

    def record(port, fragment):
        requested.append((port, fragment))
        return make_server(0, fragment)  # a free port: the test needs none of those named

    monkeypatch.setattr(server, "make_server", record)
    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", lambda self, poll_interval=0.5: None)
    assert main(["explore", "--no-browser", *argv]) == 0  # the server stopped: no error
    assert requested == [(port, fragment)]
    assert capsys.readouterr().out.strip().endswith(f"/#{fragment}" if fragment else "/")


def test_export_into_a_missing_folder_fails_without_writing(tmp_path, capsys, monkeypatch):
    target = tmp_path / "missing" / "x.html"
    error = run_failing(["explore", "--export", str(target)], capsys, monkeypatch)
    assert f"{target}: the folder {target.parent} does not exist" in error
    assert list(tmp_path.iterdir()) == []


def test_a_taken_port_fails_in_one_line(capsys, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        error = run_failing(["explore", "--no-browser", "--port", str(port)], capsys, monkeypatch)
    reason = os.strerror(errno.EADDRINUSE)  # the error's words, without "[Errno 98]"
    assert error == f"softmaxkit: error: explore: cannot listen on 127.0.0.1:{port} ({reason})\n"


def test_help_lists_explore(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "explore" in capsys.readouterr().out
