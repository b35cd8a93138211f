"""``softmaxkit explain``: softmax step by step, the table a learner wants.

One row per logit: z, z - max, e^(βz), the probability, the one-hot argmax and
the loss -log p if that class were the truth; totals underneath. e^(βz) is
computed in log space and written in scientific notation, so it never
overflows: β = 500 on [0.95, 0.99, 0.98] shows e^(475) as 1.95e+206.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from . import _io
from ._errors import CLIError

_LN10 = math.log(10.0)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show softmax of a few logits step by step",
        description="Show softmax of the logits step by step: z, z - max, e^(βz) (in log "
        "space, so it never overflows), the probability, the one-hot argmax and the loss "
        "-log p if that class were the truth.",
    )
    parser.add_argument("logits", nargs="+", type=number_argument, metavar="Z", help="the logits")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--temperature", "-T", type=number_argument, metavar="T", help="temperature T > 0 (default 1)"
    )
    scale.add_argument("--beta", "-b", type=number_argument, metavar="B", help="inverse temperature 1/T")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--plot", metavar="FILE",
                        help="also draw the probability bars and the temperature sweep "
                             "(.png, .pdf or .svg; needs matplotlib)")  # fmt: skip
    parser.set_defaults(run=run)


class ExplainRow(NamedTuple):
    logit: float
    shifted: float  # z - max
    log_exp: float  # βz, the natural log of e^(βz)
    probability: float
    argmax: float  # 1.0 for the argmax, else 0.0 (NaN when a logit is NaN)
    loss: float  # -log p


class Explanation(NamedTuple):
    temperature: float
    rows: list[ExplainRow]
    log_total: float  # log of the sum of e^(βz)
    entropy: float  # nats

    @property
    def effective_classes(self) -> float:
        return math.exp(self.entropy)


def explain(logits: Any, temperature: float = 1.0) -> Explanation:
    """Compute the step-by-step table for ``logits`` at ``temperature``.

    A dead row (every logit -inf) has every p = 0 and no distribution: its
    entropy is NaN, not the 0 of a one-hot row.
    """
    z = np.asarray(logits, dtype=np.float64)
    probs = _core.softmax(z, temperature=temperature)
    log_probs = _core.log_softmax(z, temperature=temperature)
    one_hot = _core.hardmax(z)
    with np.errstate(all="ignore"):  # inf / T stays inf
        scaled = z / temperature
    # "+ 0.0" turns -0.0 (the loss of a certain class) into 0.0 for display.
    rows = [
        ExplainRow(float(a), float(b), float(c), float(p), float(h), float(-lp) + 0.0)
        for a, b, c, p, h, lp in zip(z, shifted_logits(z), scaled, probs, one_hot, log_probs)
    ]
    plogp = probs * np.where(probs > 0, log_probs, 0.0)
    entropy = math.nan if is_dead_row(z) else float(-np.sum(plogp)) + 0.0
    return Explanation(temperature, rows, float(_core.logsumexp(scaled)), entropy)


def is_dead_row(z: np.ndarray) -> bool:
    """Every logit -inf: softmax gives all zeros, a row with no distribution."""
    return bool(np.all(z == -np.inf))


def shifted_logits(z: np.ndarray) -> np.ndarray:
    """z - max(z) with the limits softmax takes (and the explorer page shows).

    A NaN stays NaN and the maximum is over the other entries; where the
    maximum is +inf, the +inf entries are at 0 and the rest at -inf; in a
    dead row every entry is -inf.

    >>> shifted_logits(np.array([1.0, np.inf, 2.0, np.inf])).tolist()
    [-inf, 0.0, -inf, 0.0]
    >>> shifted_logits(np.array([-np.inf, -np.inf])).tolist()
    [-inf, -inf]
    """
    present = z[~np.isnan(z)]
    top = float(present.max()) if present.size else -math.inf
    if top == math.inf:
        shifted = np.where(z == math.inf, 0.0, -math.inf)
    elif top == -math.inf:
        shifted = np.full_like(z, -math.inf)
    else:
        shifted = z - top
    return np.where(np.isnan(z), math.nan, shifted)


def format_exp(log_value: float) -> str:
    """``e^log_value`` in scientific notation with 3 significant digits, never overflowing.

    >>> format_exp(475.0), format_exp(1e6), format_exp(0.0)
    ('1.95e+206', '3.03e+434294', '1.00e+00')
    """
    if math.isnan(log_value):
        return "nan"
    if math.isinf(log_value):
        return "inf" if log_value > 0 else "0"
    log10 = log_value / _LN10
    exponent = math.floor(log10)
    if abs(log10) >= 1e13:
        # The fractional part of log10 no longer holds three digits.
        return f"10^({log10:.6g})"
    mantissa = round(10.0 ** (log10 - exponent), 2)
    if mantissa >= 10.0:
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return f"{mantissa:.2f}e{exponent:+03d}"


def format_table(result: Explanation) -> str:
    beta = 1.0 / result.temperature
    lines = [
        f"softmax of {len(result.rows)} logit{'' if len(result.rows) == 1 else 's'} at "
        f"T = {result.temperature:.6g} (β = {beta:.6g})",
        "",
        f"{'class':>5}  {'z':>10}  {'z − max':>10}  {'e^(βz)':>12}  {'p (%)':>8}  "
        f"{'argmax':>6}  {'−log p':>10}",
    ]
    for index, row in enumerate(result.rows):
        lines.append(
            f"{index:>5}  {row.logit:>10.6g}  {row.shifted:>10.6g}  {format_exp(row.log_exp):>12}"
            f"  {100 * row.probability:>8.2f}  {row.argmax:>6g}  {row.loss:>10.6g}"
        )
    total_p = sum(r.probability for r in result.rows)
    total_hot = sum(r.argmax for r in result.rows)
    lines.append(
        f"{'total':>5}  {'':>10}  {'':>10}  {format_exp(result.log_total):>12}  "
        f"{100 * total_p:>8.2f}  {total_hot:>6g}"
    )
    if is_dead_row(np.array([row.logit for row in result.rows])):
        summary = ("every logit is -inf: a dead row, so every p is 0 and there is no\n"
                   "distribution (no entropy, no effective number of classes)")  # fmt: skip
    else:
        summary = (f"entropy {result.entropy:.6g} nats; effective number of classes "
                   f"exp(entropy) = {result.effective_classes:.6g}")  # fmt: skip
    lines += ["", summary]
    return "\n".join(lines) + "\n"


def format_json(result: Explanation) -> str:
    payload = {
        "temperature": result.temperature,
        "beta": _json_number(1.0 / result.temperature),  # inf for T = 5e-324, as the table says
        "classes": [
            {
                "index": index,
                "logit": _json_number(row.logit),
                "shifted": _json_number(row.shifted),
                "log_exp": _json_number(row.log_exp),
                "exp": format_exp(row.log_exp),
                "probability": _json_number(row.probability),
                "argmax": _json_number(row.argmax),
                "loss": _json_number(row.loss),
            }
            for index, row in enumerate(result.rows)
        ],
        "total": {
            "log_exp": _json_number(result.log_total),
            "exp": format_exp(result.log_total),
            "probability": _json_number(sum(r.probability for r in result.rows)),
        },
        "dead_row": is_dead_row(np.array([row.logit for row in result.rows])),
        "entropy": _json_number(result.entropy),
        "effective_classes": _json_number(result.effective_classes),
    }
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"


def run(args: argparse.Namespace) -> int:
    _io.check_destination(args.plot)  # before the table is printed
    temperature = chosen_temperature(args, "explain") or 1.0
    result = explain(args.logits, temperature)
    figure = None if args.plot is None else explain_figure(args.logits, temperature, args.plot)
    print(format_json(result) if args.json else format_table(result), end="")
    if figure is not None:
        suffix = os.path.splitext(args.plot)[1].lower()[1:]
        _io.write_atomically(args.plot, lambda handle: figure.savefig(handle, format=suffix))
    return 0


def explain_figure(logits: list[float], temperature: float, path: str) -> Any:
    """Probability bars at ``temperature`` above the temperature sweep with that
    temperature marked, for ``--plot``. Any number of logits: past a few dozen the
    bars show the most probable classes and one row for the others."""
    if os.path.splitext(path)[1].lower() not in (".png", ".pdf", ".svg"):
        raise CLIError(f"explain: --plot {path}: use a .png, .pdf or .svg file")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise CLIError('explain: --plot needs matplotlib: pip install "softmaxkit[plot]"') from None
    from .. import plot

    bars_height, sweep_height = plot.probability_bars_height(len(logits)), 4.6
    figure = Figure(figsize=(9.5, bars_height + sweep_height), layout="constrained")
    panels: Any = figure.subfigures(2, 1, height_ratios=[bars_height, sweep_height])
    top, bottom = panels  # an array of two SubFigures
    plot.probability_bars(logits, temperature=temperature, figure=top)
    plot.temperature_sweep(logits, temperature=temperature, figure=bottom)
    return figure


def number_argument(text: str) -> float:
    """A number from the command line; a decimal too large for a float64 (1e309) is refused,
    not read as inf (type inf if that is meant)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text.strip()!r} is not a number") from None
    if math.isinf(value) and "inf" not in text.lower():
        raise argparse.ArgumentTypeError(
            f"{text.strip()!r} is beyond the largest float64 (1.8e308) and would become "
            f"{'-' if value < 0 else ''}inf; write {'-' if value < 0 else ''}inf if that is meant"
        )
    return value


def chosen_temperature(args: argparse.Namespace, command: str) -> float | None:
    """The temperature ``--temperature`` or ``--beta`` asks for (None for neither),
    refusing, in the words of the option given, what is not a finite T > 0 (a β so
    small that 1/β overflows included)."""
    if args.temperature is not None:
        if not (math.isfinite(args.temperature) and args.temperature > 0):
            raise CLIError(
                f"{command}: --temperature must be a finite number > 0, got {args.temperature!r}"
            )
        return float(args.temperature)
    if args.beta is not None:
        if not (math.isfinite(args.beta) and args.beta > 0 and math.isfinite(1.0 / args.beta)):
            raise CLIError(
                f"{command}: --beta must be a finite number > 0 whose 1/β is finite, got {args.beta!r}"
            )
        return float(1.0 / args.beta)
    return None


def _json_number(value: float) -> float | str:
    """JSON has no inf or NaN: those are written as the strings "inf", "-inf", "nan"."""
    return value if math.isfinite(value) else str(value)
