"""softmaxkit's Triton kernels against the memory limit and the peers, on one CUDA device.

Side by side in one process, median time of repeated launches (``triton.testing.do_bench``,
which flushes the L2 cache between launches):

* softmax and log_softmax forward on (4096, 32768) and (512, 262144), bfloat16 and float32:
  a device-to-device copy of the same bytes (the limit), ``torch.softmax``/``log_softmax``
  and ours. Goal: >= 85% of the copy's bandwidth and never slower than torch.
* cross-entropy forward+backward on (8192, 128256) bfloat16 logits: torch's
  ``F.cross_entropy`` + autograd, Liger-Kernel's ``LigerCrossEntropyLoss`` when importable,
  and ours (``cross_entropy_and_grad``). Goal: >= 1.5x torch.
* linear cross-entropy forward+backward, 8192 tokens x 4096 hidden, 128256 classes,
  bfloat16: torch (logits materialised), torch's chunked ``F.linear_cross_entropy``,
  Liger's fused linear cross-entropy and Cut Cross-Entropy when importable, and ours; time
  and peak memory above the inputs. Goal: at least as fast as Liger, peak memory <= 2x the
  inputs and gradients.

Run on a machine with a CUDA GPU and triton installed::

    python benchmarks/triton_gpu.py            # all tables
    python benchmarks/triton_gpu.py --quick    # smaller shapes, a smoke run

It prints markdown tables to paste into benchmarks/README.md (name the device).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable

import torch


def bench(fn: Callable[[], object]) -> float:
    """Median seconds of ``fn`` on the device."""
    import triton.testing

    return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median") / 1e3


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def softmax_table(shapes: list[tuple[int, int]]) -> None:
    from softmaxkit.triton import softmax as ours

    print("\n### softmax / log_softmax forward\n")
    print(row(["op", "shape", "dtype", "copy GB/s", "torch GB/s", "ours GB/s",
               "ours / copy", "ours / torch speed"]))  # fmt: skip
    print(row(["---"] * 8))
    for shape in shapes:
        for dtype in (torch.bfloat16, torch.float32):
            x = torch.randn(shape, device="cuda", dtype=dtype)
            out = torch.empty_like(x)
            moved = 2 * x.numel() * x.element_size()  # read x, write y
            t_copy = bench(lambda: out.copy_(x))
            for name, theirs, mine in (
                ("softmax", lambda: torch.softmax(x, -1), lambda: ours.softmax(x)),
                ("log_softmax", lambda: torch.log_softmax(x, -1), lambda: ours.log_softmax(x)),
            ):
                t_torch, t_ours = bench(theirs), bench(mine)
                print(row([
                    name, str(shape), str(dtype).removeprefix("torch."),
                    f"{moved / t_copy / 1e9:.0f}", f"{moved / t_torch / 1e9:.0f}",
                    f"{moved / t_ours / 1e9:.0f}", f"{t_copy / t_ours:.2f}",
                    f"{t_torch / t_ours:.2f}x",
                ]))  # fmt: skip
            del x, out
            torch.cuda.empty_cache()


def cross_entropy_table(n_rows: int, n_classes: int) -> None:
    from softmaxkit.triton import cross_entropy as ours

    print("\n### cross-entropy forward+backward (bfloat16, class indices)\n")
    logits = torch.randn(n_rows, n_classes, device="cuda", dtype=torch.bfloat16)
    target = torch.randint(0, n_classes, (n_rows,), device="cuda")
    grad = torch.empty_like(logits)
    moved = 2 * logits.numel() * logits.element_size()  # read logits, write the gradient
    leaf = logits.clone().requires_grad_()

    def torch_step() -> None:
        leaf.grad = None
        torch.nn.functional.cross_entropy(leaf, target).backward()

    candidates: dict[str, Callable[[], object]] = {
        "copy of the same bytes": lambda: grad.copy_(logits),
        "torch": torch_step,
    }
    if has("liger_kernel"):
        from liger_kernel.transformers import LigerCrossEntropyLoss

        liger = LigerCrossEntropyLoss()

        def liger_step() -> None:
            leaf.grad = None
            liger(leaf, target).backward()

        candidates["Liger-Kernel"] = liger_step
    # validate=False: the index check is a device-to-host read, which torch does not do either.
    candidates["softmaxkit (ours)"] = lambda: ours.cross_entropy_and_grad(
        logits, target, validate=False
    )
    times = {name: bench(fn) for name, fn in candidates.items()}
    print(row(["implementation", "ms", "GB/s", "torch / it"]))
    print(row(["---"] * 4))
    for name, t in times.items():
        print(row([name, f"{t * 1e3:.3f}", f"{moved / t / 1e9:.0f}", f"{times['torch'] / t:.2f}x"]))
    if "Liger-Kernel" not in times:
        print("\n(Liger-Kernel not importable: not measured)")


def linear_cross_entropy_table(n_tokens: int, hidden: int, n_classes: int) -> None:
    from softmaxkit.triton import linear_cross_entropy as ours

    print(f"\n### linear cross-entropy forward+backward ({n_tokens} tokens x {hidden} hidden, "
          f"{n_classes} classes, bfloat16)\n")  # fmt: skip
    dtype = torch.bfloat16
    h = (torch.randn(n_tokens, hidden, device="cuda", dtype=dtype) / hidden**0.5).requires_grad_()
    c = (torch.randn(n_classes, hidden, device="cuda", dtype=dtype) / 4).requires_grad_()
    target = torch.randint(0, n_classes, (n_tokens,), device="cuda")
    # Inputs and their gradients: the memory any implementation must hold.
    essential = 2 * (h.numel() + c.numel()) * h.element_size()

    def autograd_step(loss_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            h.grad = c.grad = None
            loss_fn().backward()

        return step

    candidates: dict[str, Callable[[], object]] = {
        "torch (logits materialised)": autograd_step(
            lambda: torch.nn.functional.cross_entropy((h @ c.T).float(), target)
        ),
    }
    if hasattr(torch.nn.functional, "linear_cross_entropy"):
        candidates["torch F.linear_cross_entropy"] = autograd_step(
            lambda: torch.nn.functional.linear_cross_entropy(h, c, target)
        )
    if has("liger_kernel"):
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        liger = LigerFusedLinearCrossEntropyLoss()
        candidates["Liger-Kernel"] = autograd_step(lambda: liger(c, h, target))
    if has("cut_cross_entropy"):
        from cut_cross_entropy import linear_cross_entropy as cce

        candidates["Cut Cross-Entropy"] = autograd_step(lambda: cce(h, c, target))

    def ours_step() -> None:
        forward = ours.linear_cross_entropy_forward(h.detach(), c.detach(), target, validate=False)
        ours.linear_cross_entropy_backward(
            torch.ones((), device="cuda", dtype=dtype), h.detach(), c.detach(), target,
            forward.lse,
        )  # fmt: skip

    candidates["softmaxkit (ours)"] = ours_step
    print(row(["implementation", "ms", "peak extra GiB", "peak / (inputs + grads)",
               "Liger / it"]))  # fmt: skip
    print(row(["---"] * 5))
    results = {}
    for name, fn in candidates.items():
        try:
            fn()  # compile and tune outside the measurement
            torch.cuda.synchronize()
            h.grad = c.grad = None
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            fn()
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
            results[name] = (bench(fn), peak)
        except torch.OutOfMemoryError:
            results[name] = (float("nan"), float("nan"))
        h.grad = c.grad = None
        torch.cuda.empty_cache()
    liger_time = results.get("Liger-Kernel", (float("nan"),))[0]
    inputs = (h.numel() + c.numel()) * h.element_size()
    for name, (t, peak) in results.items():
        print(row([name, f"{t * 1e3:.2f}", f"{peak / 2**30:.2f}",
                   f"{(peak + inputs) / essential:.2f}", f"{liger_time / t:.2f}x"]))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes (a smoke run)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("No CUDA device: the Triton GPU benchmark needs one (the kernels' correctness "
              "is tested on the CPU by tests/test_triton_interpreter.py).")  # fmt: skip
        return 0
    print(f"Device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"triton {__import__('triton').__version__}")  # fmt: skip
    if args.quick:
        softmax_table([(256, 32768)])
        cross_entropy_table(1024, 32000)
        linear_cross_entropy_table(1024, 1024, 32000)
    else:
        softmax_table([(4096, 32768), (512, 262144)])
        cross_entropy_table(8192, 128256)
        linear_cross_entropy_table(8192, 4096, 128256)
    return 0


if __name__ == "__main__":
    sys.exit(main())
