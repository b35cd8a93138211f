"""``softmaxkit explore``: the interactive softmax explorer, served or exported.

``softmaxkit explore`` serves the page on 127.0.0.1 (a free port unless
``--port`` says otherwise), prints its URL and opens the browser unless
``--no-browser``; Ctrl-C stops it. ``--export FILE.html`` writes the page as one
self-contained file instead, which works offline from a file:// URL. Logits,
``--names`` and ``--temperature``/``--beta`` choose the view it opens on.
"""

from __future__ import annotations

import argparse
import webbrowser
from typing import Any

from ..explorer import page, server
from . import _io
from ._errors import CLIError
from .explain import chosen_temperature, number_argument


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="open the interactive softmax explorer in the browser",
        description="Serve the softmax explorer on 127.0.0.1 and open it in the browser: "
        "type logits, turn the temperature, and watch the probabilities, the loss and "
        "the entropy move. With --export, write the page as one self-contained HTML file.",
    )
    parser.add_argument(
        "logits", nargs="*", type=number_argument, metavar="Z", help="the logits to open the page on"
    )
    parser.add_argument(
        "--names", metavar="NAMES", help="class names, separated by commas (dog,cat,bird)"
    )
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--temperature", "-T", type=number_argument, metavar="T", help="temperature T > 0 (default 1)"
    )
    scale.add_argument("--beta", "-b", type=number_argument, metavar="B", help="inverse temperature 1/T")
    parser.add_argument(
        "--port", type=_port, metavar="P", help="port on 127.0.0.1 (default 0: any free port)"
    )
    parser.add_argument(
        "--no-browser",
        dest="browser",
        action="store_false",
        help="print the URL but do not open a browser",
    )
    parser.add_argument(
        "--export",
        metavar="FILE.html",
        help="write the page as one self-contained HTML file instead of serving it",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if len(args.logits) > page.MAX_LOGITS:
        raise CLIError(f"explore: at most {page.MAX_LOGITS} logits, got {len(args.logits)}")
    fragment = page.state_fragment(
        args.logits or None, names=_names(args), temperature=chosen_temperature(args, "explore")
    )
    if args.export is not None:
        if args.port is not None:
            raise CLIError("explore: --port has no effect with --export, which serves nothing")
        html = page.standalone_html(fragment).encode()
        _io.write_atomically(args.export, lambda handle: handle.write(html))
        print(f"wrote {args.export} ({len(html) / 1024:.0f} KiB): the explorer as one file; "
              f"open it in a browser, offline too")  # fmt: skip
        return 0
    port = 0 if args.port is None else args.port
    try:
        httpd = server.make_server(port, fragment)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CLIError(f"explore: cannot listen on {server.HOST}:{port} ({reason})") from None
    with httpd:
        url = server.page_url(httpd, fragment)
        print(url, flush=True)
        if args.browser:
            webbrowser.open(url)
        httpd.serve_forever()
    return 0


def _names(args: argparse.Namespace) -> list[str] | None:
    if args.names is None:
        return None
    names = [name.strip() for name in args.names.split(",")]
    if not args.logits:
        raise CLIError("explore: --names needs the logits they name")
    if len(names) != len(args.logits):
        raise CLIError(
            f"explore: --names has {len(names)} names for {len(args.logits)} logits: {args.names!r}"
        )
    return names


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text.strip()!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be from 0 to 65535, got {port}")
    return port
