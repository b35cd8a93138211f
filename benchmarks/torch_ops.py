"""softmaxkit.torch on CPU tensors beside torch's own ops, forward + backward.

    python benchmarks/torch_ops.py [--repeat 7] [--dtype float32] [--case REGEX ...]

For each case, the median time of softmaxkit.torch and of torch.nn.functional
(forward, then ``backward`` of a random upstream gradient, or of the mean
loss), and of ``x.copy()`` of the input's NumPy view: every side allocates its
outputs and gradients, so a fresh copy is the limit (``torch.clone`` is not
used as a baseline: torch does not ask for huge pages, so it measures page
faults). The masked rows time the forward pass with a boolean mask
(``where=``) against torch's ``masked_fill`` + ``softmax``, for
softmaxkit.torch and for the public ``softmaxkit.softmax`` on a torch tensor.
Sides are timed in interleaved rounds (as benchmarks/kernel.py does), with 2
threads on every side. Ratios: ``vs torch`` = torch / softmaxkit (above 1:
softmaxkit is faster), ``vs copy`` = softmaxkit / copy.

Goal (issue 12): at least as fast as torch on every row.
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import torch
from kernel import THREADS, fmt_ratio, fmt_time, median_times

import softmaxkit as sk
import softmaxkit.torch as skt

SOFTMAX_SHAPES = [(4096, 1000), (1024, 32000), (64, 262144)]
CROSS_ENTROPY_SHAPES = [(4096, 1000), (1024, 32000)]
MASKED_SHAPES = [(4096, 1000)]


def backward_step(forward, x, upstream):
    def run():
        x.grad = None
        forward(x).backward(upstream)

    return run


def cases(dtype):
    """(label, {side: callable}) for every case, built lazily."""
    for name in ("softmax", "log_softmax"):
        for shape in SOFTMAX_SHAPES if name == "softmax" else SOFTMAX_SHAPES[:1]:
            def build(name=name, shape=shape):
                x = (torch.randn(shape, dtype=dtype) * 3).requires_grad_()
                upstream = torch.randn(shape, dtype=dtype)
                ours, theirs = getattr(skt, name), getattr(torch.nn.functional, name)
                return x, {
                    "sk": backward_step(lambda t: ours(t, -1), x, upstream),
                    "torch": backward_step(lambda t: theirs(t, -1), x, upstream),
                }

            yield f"{name} fwd+bwd {tuple(shape)}", build
    for shape in CROSS_ENTROPY_SHAPES:
        def build(shape=shape):
            x = (torch.randn(shape, dtype=dtype) * 3).requires_grad_()
            target = torch.randint(0, shape[1], shape[:1])
            return x, {
                "sk": backward_step(lambda t: skt.cross_entropy(t, target), x, None),
                "torch": backward_step(lambda t: torch.nn.functional.cross_entropy(t, target), x, None),
            }

        yield f"cross_entropy fwd+bwd {tuple(shape)}", build
    for shape in MASKED_SHAPES:
        def build(shape=shape):
            x = torch.randn(shape, dtype=dtype) * 3
            mask = torch.rand(shape) > 0.3
            return x, {
                "sk": lambda: skt.softmax(x, -1, where=mask),
                "sk public": lambda: sk.softmax(x, axis=-1, where=mask),
                "torch": lambda: torch.softmax(x.masked_fill(~mask, -torch.inf), dim=-1),
            }

        yield f"masked softmax forward {tuple(shape)}", build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per case (median)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--case", action="append", default=[], metavar="REGEX",
                        help="run only the cases whose label matches (repeatable)")  # fmt: skip
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)
    sk.set_num_threads(THREADS)
    wanted = [re.compile(pattern) for pattern in args.case]
    print(f"torch {torch.__version__}, {THREADS} threads on every side, {args.dtype}, "
          f"median of {args.repeat} rounds")  # fmt: skip
    print(f"{'case':<42} {'softmaxkit':>10} {'torch':>10} {'x.copy()':>10} {'vs torch':>8} "
          f"{'vs copy':>8}  {'sk public':>10}")  # fmt: skip
    for label, build in cases(dtype):
        if wanted and not any(p.search(label) for p in wanted):
            continue
        x, sides = build()
        data = x.detach().numpy()
        sides["x.copy()"] = data.copy
        t = median_times(sides, args.repeat)
        print(f"{label:<42} {fmt_time(t['sk']):>10} {fmt_time(t['torch']):>10} "
              f"{fmt_time(t['x.copy()']):>10} {fmt_ratio(t['torch'], t['sk']):>8} "
              f"{fmt_ratio(t['sk'], t['x.copy()']):>8}  {fmt_time(t.get('sk public')):>10}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
