"""Peak extra memory and time of linear_cross_entropy(_and_grad) against materialised logits.

    python benchmarks/bench_linear_cross_entropy_memory.py            # 10^6 x 256, 1000 classes
    python benchmarks/bench_linear_cross_entropy_memory.py --rows 100000

The inputs (float32) are made first; tracemalloc then measures the peak of the
allocations made *during* each call (NumPy reports its buffers to tracemalloc).
Side by side, in one process: a plain copy of X (the cost of touching the
data once) and the naive ``cross_entropy(X @ W.T + b, y)``, which holds all
N x C logits (run only where they fit in --naive-limit-gb).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import softmaxkit as sk

GB = 1024**3
_NAIVE_FACTOR = 24


def measure(label, function, repeats):
    """Median time and the largest peak of extra memory over ``repeats`` calls."""
    times, peaks = [], []
    for _ in range(repeats):
        tracemalloc.start()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return label, float(np.median(times)), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-limit-gb", type=float, default=4.0,
                        help="skip the naive version when its logits would exceed this")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features), dtype=np.float32)
    # A Python float keeps W float32 (a NumPy float64 scalar would make it float64).
    W = rng.standard_normal((args.classes, args.features), dtype=np.float32) / float(np.sqrt(args.features))
    b = rng.standard_normal(args.classes, dtype=np.float32)
    y = rng.integers(0, args.classes, size=args.rows)
    logits_bytes = args.rows * args.classes * 4
    print(f"X: {args.rows} x {args.features} float32 ({X.nbytes / GB:.2f} GB), {args.classes} classes; "
          f"the float32 logits would take {logits_bytes / GB:.2f} GB")

    results = [
        measure("copy of X (reference)", lambda: X.copy(), args.repeats),
        measure("linear_cross_entropy", lambda: sk.linear_cross_entropy(X, W, y, bias=b), args.repeats),
        measure("linear_cross_entropy_and_grad",
                lambda: sk.linear_cross_entropy_and_grad(X, W, y, bias=b), args.repeats),
    ]
    # Measured at 10^5 rows: the naive version peaks at about 23x the float32
    # logits (the logits, their float64 copy and cross_entropy's temporaries).
    if _NAIVE_FACTOR * logits_bytes <= args.naive_limit_gb * GB:
        results.append(measure("naive cross_entropy(X @ W.T + b)",
                               lambda: sk.cross_entropy(X @ W.T + b, y), args.repeats))
    else:
        print(f"(naive cross_entropy(X @ W.T + b) skipped: it would hold about "
              f"{_NAIVE_FACTOR * logits_bytes / GB:.1f} GB; raise --naive-limit-gb to run it)")

    print(f"\n{'':<36} {'median s':>9} {'peak extra MB':>14} {'x logits size':>14}")
    for label, seconds, peak in results:
        print(f"{label:<36} {seconds:>9.3f} {peak / 2**20:>14.1f} {peak / logits_bytes:>14.4f}")


if __name__ == "__main__":
    main()
