"""softmaxkit.torch's forward + backward beside torch's, each side alone in its own process.

    python benchmarks/torch_steps.py [--steps 40] [--threads 1] [--shape N C ...]

``torch_ops.py`` times the sides in interleaved rounds of one process, where the
page faults of fresh outputs move between the sides with the state of the heap.
Here every side runs alone in a fresh process: 10 steps to warm up, then the
median process CPU time of ``--steps`` steps and the minor page faults a step
(``getrusage``). Process CPU time is what a side costs even on a loaded
machine; with ``--threads 1`` it is also the time the step takes. Every side
allocates its outputs and gradients, as a training step does. ``vs torch`` =
torch / softmaxkit (above 1: softmaxkit is cheaper).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

SIDES = ("softmax", "log_softmax", "cross_entropy")


def measure(library: str, side: str, shape: tuple[int, int], steps: int, threads: int) -> dict:
    """One side's median CPU time a step (seconds) and faults a step, in this process."""
    import torch

    import softmaxkit as sk
    import softmaxkit.torch as skt

    torch.set_num_threads(threads)
    sk.set_num_threads(threads)
    functions = skt if library == "softmaxkit" else torch.nn.functional
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=generator) * 3).requires_grad_()
    upstream = torch.randn(shape, generator=generator)
    target = torch.randint(0, shape[1], (shape[0],), generator=generator)

    def step() -> None:
        x.grad = None
        if side == "cross_entropy":
            functions.cross_entropy(x, target).backward()
        else:
            getattr(functions, side)(x, -1).backward(upstream)

    for _ in range(10):
        step()
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(steps):
        start = time.process_time()
        step()
        times.append(time.process_time() - start)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
    return {"seconds": statistics.median(times), "faults": faults / steps}


def in_fresh_process(library: str, side: str, shape: tuple[int, int], steps: int, threads: int) -> dict:
    argv = [sys.executable, __file__, "--one", library, side, "--steps", str(steps),
            "--threads", str(threads), "--shape", str(shape[0]), str(shape[1])]  # fmt: skip
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps a side (median)")
    parser.add_argument("--threads", type=int, default=1, help="threads on every side")
    parser.add_argument("--shape", type=int, nargs=2, action="append", metavar=("N", "C"),
                        help="a batch shape (repeatable; default (4, 10) and (4096, 1000))")  # fmt: skip
    parser.add_argument("--one", nargs=2, metavar=("LIBRARY", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = [tuple(s) for s in args.shape] if args.shape else [(4, 10), (4096, 1000)]
    if args.one:
        print(json.dumps(measure(*args.one, shapes[0], args.steps, args.threads)))
        return
    import torch

    print(f"torch {torch.__version__}, {args.threads} thread(s) a side, one process a side, "
          f"median CPU time of {args.steps} steps")  # fmt: skip
    print(f"{'case':40s}{'softmaxkit':>12s}{'faults':>9s}{'torch':>12s}{'faults':>9s}{'vs torch':>10s}")
    for shape in shapes:
        for side in SIDES:
            ours, theirs = (in_fresh_process(library, side, shape, args.steps, args.threads)
                            for library in ("softmaxkit", "torch"))  # fmt: skip
            print(f"{side + ' fwd+bwd ' + str(shape):40s}{fmt_time(ours['seconds']):>12s}"
                  f"{ours['faults']:>9.1f}{fmt_time(theirs['seconds']):>12s}{theirs['faults']:>9.1f}"
                  f"{theirs['seconds'] / ours['seconds']:>10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
