"""Forward + backward of softmaxkit.torch's ops on CPU tensors, beside torch's own.

    python benchmarks/torch_ops.py [--repeat 5] [--dtype float32]

For the shapes of the kernel benchmark (issue 3), prints the median time of
forward + backward of softmax (a random upstream gradient) and of
cross_entropy (mean over class-index targets) for softmaxkit.torch and
torch.nn.functional, the time of a copy of the logits (``clone``), and the
ratios. softmaxkit.torch runs on softmaxkit's public NumPy functions, which
use the compiled kernel where it is built in and the array-API path
otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import softmaxkit.torch as skt

SOFTMAX_SHAPES = [(4096, 1000), (1024, 32000), (64, 262144)]
CROSS_ENTROPY_SHAPES = [(4096, 1000), (1024, 32000)]


def median_seconds(run, repeat: int) -> float:
    run()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def softmax_step(function, x, upstream):
    def run():
        x.grad = None
        function(x, -1).backward(upstream)

    return run


def cross_entropy_step(function, x, target):
    def run():
        x.grad = None
        function(x, target).backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}, median of {args.repeat}")
    print(f"{'op (forward+backward)':<30}{'shape':>16}{'softmaxkit':>12}{'torch':>12}{'copy':>12}"
          f"{'sk/torch':>10}{'sk/copy':>10}")  # fmt: skip
    cases = [("softmax", shape) for shape in SOFTMAX_SHAPES]
    cases += [("cross_entropy", shape) for shape in CROSS_ENTROPY_SHAPES]
    for name, shape in cases:
        x = (torch.randn(shape, dtype=dtype) * 3).requires_grad_()
        if name == "softmax":
            upstream = torch.randn(shape, dtype=dtype)
            ours = softmax_step(skt.softmax, x, upstream)
            theirs = softmax_step(torch.nn.functional.softmax, x, upstream)
        else:
            target = torch.randint(0, shape[1], shape[:1])
            ours = cross_entropy_step(skt.cross_entropy, x, target)
            theirs = cross_entropy_step(torch.nn.functional.cross_entropy, x, target)
        t_ours = median_seconds(ours, args.repeat)
        t_theirs = median_seconds(theirs, args.repeat)
        t_copy = median_seconds(lambda: x.detach().clone(), args.repeat)
        print(f"{name:<30}{str(shape):>16}{t_ours * 1e3:>10.2f}ms{t_theirs * 1e3:>10.2f}ms"
              f"{t_copy * 1e3:>10.2f}ms{t_ours / t_theirs:>10.2f}{t_ours / t_copy:>10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
