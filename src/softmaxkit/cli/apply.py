"""``softmaxkit apply``: softmax (or log_softmax) of an array file."""

from __future__ import annotations

import argparse
from typing import Any

from .. import _core
from . import _io


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "apply",
        help="apply softmax or log_softmax to an array file",
        description=f"Apply softmax (or log_softmax) to INPUT ({_io.INPUT_FORMATS}). "
        f"Text files hold one row per line. The output format follows the suffix of "
        f"OUTPUT ({_io.OUTPUT_FORMATS}); without -o the result is printed as text.",
    )
    parser.add_argument("input", metavar="INPUT", help="input file, or - for standard input")
    parser.add_argument("-o", "--output", metavar="OUTPUT", help="output file")
    parser.add_argument("--key", help="the array to read from an .npz input")
    parser.add_argument("--axis", type=int, default=-1, help="the axis to normalise (default -1)")
    parser.add_argument(
        "--temperature", "-T", type=float, default=1.0, metavar="T", help="temperature (default 1)"
    )
    parser.add_argument("--log", action="store_true", help="write log-probabilities")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _io.check_destination(args.output)
    logits = _io.read_array(args.input, key=args.key)
    function = _core.log_softmax if args.log else _core.softmax
    result = function(logits, axis=args.axis, temperature=args.temperature)
    _io.write_array(
        result, args.output, npz_key="log_probabilities" if args.log else "probabilities"
    )
    return 0
