"""Modelled scaling of vocabulary-parallel cross-entropy, from one measured throughput.

    python benchmarks/scaling.py [--tokens 8192] [--latency-us 10] [--bandwidth-gbs 25]

Measures (on this machine, one process) the throughput of
softmaxkit.distributed.vocab_parallel_cross_entropy, forward + backward, on
float32 logits in a process group of one rank: logits per second. Then
models, for 8-64 ranks and 128k-1M classes, the time of one step over
``--tokens`` rows: each rank's compute (its ``C / P`` classes at the
measured throughput) plus the two all-reduces of the forward pass, each
costed as a ring all-reduce, ``latency + 2 (P - 1) / P * bytes / bandwidth``,
with the message sizes of softmaxkit/distributed.py. The latency and the
bandwidth are assumptions (the defaults are an ordinary 200 Gb/s
interconnect), not measurements: say which you used when you quote the table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.distributed as dist

from softmaxkit.distributed import vocab_parallel_cross_entropy

RANKS = [8, 16, 32, 64]
CLASSES = [131072, 262144, 524288, 1048576]
# Values per row in each forward all-reduce for float32 logits (computed in
# float64, 8 bytes each): the maximum; then k, t and the target's shifted
# logit (label smoothing adds the sum of the shifted logits). The backward
# communicates nothing; the class counts add P values to the first message.
VALUE_BYTES = 8
MAX_VALUES_PER_ROW = 1
SUM_VALUES_PER_ROW = 3


def measured_throughput(rows: int, classes: int, repeat: int) -> float:
    """Logits per second of forward + backward on one rank."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        x = torch.randn(rows, classes).requires_grad_()
        target = torch.randint(0, classes, (rows,))
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            x.grad = None
            vocab_parallel_cross_entropy(x, target).backward()
            times.append(time.perf_counter() - start)
        return rows * classes / statistics.median(times[1:])
    finally:
        dist.destroy_process_group()


def all_reduce_seconds(n_bytes: float, ranks: int, latency: float, bandwidth: float) -> float:
    return latency + 2 * (ranks - 1) / ranks * n_bytes / bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=8192, help="rows per step")
    parser.add_argument("--latency-us", type=float, default=10.0)
    parser.add_argument("--bandwidth-gbs", type=float, default=25.0, help="GB/s per rank")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--assume-glogits", type=float, default=None,
        help="skip the measurement and assume this many G logits/s per rank (e.g. a GPU's)",
    )  # fmt: skip
    args = parser.parse_args()
    latency, bandwidth = args.latency_us * 1e-6, args.bandwidth_gbs * 1e9

    if args.assume_glogits is None:
        throughput = measured_throughput(256, 16384, args.repeat)
        print(f"measured: {throughput / 1e6:.1f} M logits/s forward+backward on one rank "
              f"({torch.get_num_threads()} threads, float32 logits, (256, 16384))")  # fmt: skip
    else:
        throughput = args.assume_glogits * 1e9
        print(f"assumed (not measured): {args.assume_glogits} G logits/s forward+backward per rank")
    print(f"modelled: {args.tokens} tokens per step, ring all-reduce, latency {args.latency_us} us, "
          f"{args.bandwidth_gbs} GB/s per rank")  # fmt: skip
    max_bytes = args.tokens * MAX_VALUES_PER_ROW * VALUE_BYTES
    sum_bytes = args.tokens * SUM_VALUES_PER_ROW * VALUE_BYTES
    print(f"all-reduce messages per step: {max_bytes / 2**10:.0f} KiB (max) + {sum_bytes / 2**10:.0f} KiB (sum), "
          "independent of the number of classes; the full logits would be "
          f"{args.tokens * CLASSES[0] * 4 / 2**30:.0f}-{args.tokens * CLASSES[-1] * 4 / 2**30:.0f} GiB")  # fmt: skip
    print()
    print(f"{'classes':>9}{'ranks':>7}{'compute ms':>12}{'comm ms':>10}{'step ms':>12}"
          f"{'comm share':>12}{'speedup vs 1 rank':>19}")  # fmt: skip
    for classes in CLASSES:
        single = args.tokens * classes / throughput
        for ranks in RANKS:
            compute = single / ranks
            comm = all_reduce_seconds(max_bytes + ranks * VALUE_BYTES, ranks, latency, bandwidth)
            comm += all_reduce_seconds(sum_bytes, ranks, latency, bandwidth)
            step = compute + comm
            print(f"{classes:>9}{ranks:>7}{compute * 1e3:>12.3f}{comm * 1e3:>10.3f}{step * 1e3:>12.3f}"
                  f"{comm / step:>12.2%}{single / step:>19.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
