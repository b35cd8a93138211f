"""``softmaxkit apply``: softmax (or log_softmax) of an array file."""

from __future__ import annotations

import argparse
from typing import Any

from .. import _core, _progress
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
    function = _core.log_softmax if args.log else _core.softmax
    npz_key = "log_probabilities" if args.log else "probabilities"
    with _io.row_blocks(args.input, key=args.key) as rows:
        if not _rows_are_independent(rows.shape, args.axis):
            result = function(rows.whole(), axis=args.axis, temperature=args.temperature)
            _io.write_array(result, args.output, npz_key=npz_key)
            return 0
        # Each row's result depends on that row alone: read, compute and
        # write a block of rows at a time, with a bar on a terminal.
        n_rows = rows.shape[0]
        with _progress.progress(n_rows, "softmaxkit apply", unit="row") as advance:

            def results() -> Any:
                for block in rows.blocks(rows.rows_per_block()):
                    yield function(block, axis=args.axis, temperature=args.temperature)
                    advance(len(block))

            _io.write_rows(args.output, n_rows, results(), npz_key=npz_key)
    return 0


def _rows_are_independent(shape: tuple[int, ...], axis: int) -> bool:
    """Whether the slices along ``axis`` lie within rows (axis 0), so that
    blocks of rows can be computed apart (an axis out of range is left to
    softmax to report)."""
    return len(shape) >= 2 and -len(shape) <= axis < len(shape) and axis % len(shape) != 0
