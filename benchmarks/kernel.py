"""softmaxkit's compiled kernel against torch, scipy and a 2-thread memory copy.

Run: python benchmarks/kernel.py [--repeat N] [--quick]

For each case it prints the median time of softmaxkit, torch, scipy and a
2-thread copy of the same data (torch ``clone`` with 2 threads), and the ratios
softmaxkit / copy and torch / softmaxkit. softmaxkit and torch run with 2
threads. Goals (issue 3): softmax and log_softmax within 1.5x the copy,
>= 2x faster than torch on rows of 32000 or more and never slower; axis 0 of
(32000, 1024) within 2x the copy; (4096, 10) float32 >= 5x faster than torch;
a (3,) call <= 2 us; cross_entropy_and_grad >= 3x faster than torch's forward
+ backward. Also the time of ``import softmaxkit`` (in a fresh interpreter).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import timeit

import numpy as np

import softmaxkit as sk
from softmaxkit import _dispatch

THREADS = 2


def median_time(function, repeat: int) -> float:
    """Median seconds per call over ``repeat`` timed runs (each long enough to measure)."""
    function()  # warm up (and load the extension)
    number, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(number):
            function()
        elapsed = time.perf_counter() - start
        if elapsed > 0.02 or number >= 1 << 20:
            break
        number *= 4
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def peers():
    try:
        import torch
    except ImportError:
        torch = None
    try:
        import scipy.special as special
    except ImportError:
        special = None
    return torch, special


def softmax_cases(quick: bool):
    shapes = [(4096, 1000), (1024, 32000), (64, 262144), (1, 10**7), (4096, 10)]
    if quick:
        shapes = [(4096, 1000), (4096, 10)]
    for op in ("softmax", "log_softmax"):
        for dtype in ("float32", "float64"):
            for shape in shapes:
                if shape == (4096, 10) and dtype == "float64":
                    continue
                yield op, dtype, shape, -1
    yield "softmax", "float32", (8000, 1024) if quick else (32000, 1024), 0


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f}us"
    return f"{seconds * 1e3:.2f}ms"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def row(label, ours, torch_time, scipy_time, copy_time):
    return (
        f"{label:<38} {fmt_time(ours):>10} {fmt_time(torch_time):>10} {fmt_time(scipy_time):>10} "
        f"{fmt_time(copy_time):>10} {fmt_ratio(ours / copy_time if copy_time else None):>8} "
        f"{fmt_ratio(torch_time / ours if torch_time else None):>8}"
    )


def import_time(module: str, repeat: int) -> float:
    """Median cumulative seconds of ``import module`` in a fresh interpreter (-X importtime)."""
    times = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        last = [line for line in out.stderr.splitlines() if line.rstrip().endswith(f" {module}")][-1]
        times.append(int(last.split("|")[1]) / 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--quick", action="store_true", help="smaller cases only")
    args = parser.parse_args()
    torch, special = peers()
    sk.set_num_threads(THREADS)
    if torch is not None:
        torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    print(f"kernel ISA: {_dispatch.isa()}; threads: {THREADS}; median of {args.repeat} runs")
    print(
        f"{'case':<38} {'softmaxkit':>10} {'torch':>10} {'scipy':>10} {'copy(2t)':>10} "
        f"{'sk/copy':>8} {'torch/sk':>8}"
    )
    for op, dtype, shape, axis in softmax_cases(args.quick):
        x = (rng.standard_normal(shape) * 5).astype(dtype)
        ours = median_time(lambda: getattr(sk, op)(x, axis=axis), args.repeat)
        torch_time = scipy_time = copy_time = None
        if torch is not None:
            tx = torch.from_numpy(x)
            torch_op = getattr(torch, op)
            torch_time = median_time(lambda: torch_op(tx, dim=axis), args.repeat)
            copy_time = median_time(lambda: tx.clone(), args.repeat)
        if special is not None:
            scipy_time = median_time(lambda: getattr(special, op)(x, axis=axis), args.repeat)
        label = f"{op} {dtype} {shape} axis={axis}"
        print(row(label, ours, torch_time, scipy_time, copy_time), flush=True)

    ce_shapes = [(4096, 1000)] if args.quick else [(4096, 1000), (1024, 32000)]
    for shape in ce_shapes:
        logits = (rng.standard_normal(shape) * 5).astype(np.float32)
        target = rng.integers(0, shape[1], size=shape[0])
        ours = median_time(lambda: sk.cross_entropy_and_grad(logits, target), args.repeat)
        torch_time = copy_time = None
        if torch is not None:
            tt = torch.from_numpy(target)

            def torch_forward_backward():
                tz = torch.from_numpy(logits).requires_grad_()
                torch.nn.functional.cross_entropy(tz, tt).backward()
                return tz.grad

            torch_time = median_time(torch_forward_backward, args.repeat)
            tz = torch.from_numpy(logits)
            copy_time = median_time(lambda: tz.clone(), args.repeat)
        label = f"cross_entropy_and_grad float32 {shape}"
        print(row(label, ours, torch_time, None, copy_time), flush=True)

    tiny = np.array([1.0, 2.0, 3.0])
    calls = 100_000
    per_call = min(timeit.repeat(lambda: sk.softmax(tiny), number=calls, repeat=args.repeat)) / calls
    print(f"softmax of a (3,) float64 array: {per_call * 1e6:.2f} us per call (best of {args.repeat} x {calls})")
    if torch is not None:
        t3 = torch.from_numpy(tiny)
        per_call = min(timeit.repeat(lambda: torch.softmax(t3, dim=-1), number=calls, repeat=args.repeat)) / calls
        print(f"torch.softmax of a (3,) float64 tensor: {per_call * 1e6:.2f} us per call")

    imports = import_time("softmaxkit", args.repeat)
    numpy_only = import_time("numpy", args.repeat)
    print(
        f"import softmaxkit: {imports * 1e3:.1f}ms cumulative "
        f"(import numpy alone: {numpy_only * 1e3:.1f}ms); "
        "the extension is loaded on first use, not at import"
    )


if __name__ == "__main__":
    main()
