"""Compile every Triton kernel of softmaxkit.triton for a CUDA GPU, without a GPU.

Run as a script (``python tests/triton_compile_check.py [--all | SUBSTRING...]``;
by default the ``QUICK`` variants) in a process
WITHOUT ``TRITON_INTERPRET``: Triton's interpreter accepts code that its
compiler refuses (a plain global read in a kernel, mismatched types across
branches, ...), so the interpreter tests alone do not show that the kernels
build for a GPU. Triton's compiler and its bundled ``ptxas`` run on the CPU:
this script lowers each kernel, for the dtype and option combinations the
launchers use, to a cubin for ``sm_90`` (an H100) and prints one line per
variant; it exits non-zero on the first failure.
"""

from __future__ import annotations

import itertools
import os
import sys

if os.environ.get("TRITON_INTERPRET") == "1":
    sys.exit("run without TRITON_INTERPRET=1: this script checks the real compiler")

import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from softmaxkit.triton._config import FP_FUSION
from softmaxkit.triton._cross_entropy_kernels import cross_entropy_kernel
from softmaxkit.triton._linear_cross_entropy_kernels import (
    linear_ce_backward_kernel,
    linear_ce_combine_kernel,
    linear_ce_forward_kernel,
)
from softmaxkit.triton._softmax_kernels import (
    logsumexp_kernel,
    softmax_backward_kernel,
    softmax_forward_kernel,
)

TARGET = GPUTarget("cuda", 90, 32)
ACC = {"fp32": (tl.float32, 3.4028234663852886e38), "fp64": (tl.float64, 1.7976931348623157e308)}


def compile_kernel(kernel, pointers: dict[str, str], floats: set[str], constants: dict,
                   num_warps: int) -> None:  # fmt: skip
    names = kernel.arg_names
    signature = {}
    for name in names:
        if name in constants:
            signature[name] = "constexpr"
        elif name in pointers:
            signature[name] = pointers[name]
        elif name in floats:
            signature[name] = "fp32"
        else:
            signature[name] = "i64" if name.endswith("stride") or name == "ignore_index" else "i32"
    source = ASTSource(
        fn=kernel, signature=signature,
        constexprs={(names.index(k),): v for k, v in constants.items()},
    )  # fmt: skip
    options = {"num_warps": num_warps, "enable_fp_fusion": FP_FUSION}  # as the launchers pass
    compiled = triton.compile(source, target=TARGET, options=options)
    assert compiled.asm["cubin"], kernel.fn.__name__


def softmax_variants():
    for dtype, log, masked, single in itertools.product(("bf16", "fp32", "fp64"), (False, True),
                                                          (False, True), (True, False)):  # fmt: skip
        acc, fmax = ACC["fp64" if dtype == "fp64" else "fp32"]
        accname = "fp64" if dtype == "fp64" else "fp32"
        block = 8192 if single else 4096
        common = dict(LOG=log, HAS_T=masked, HAS_MASK=masked, BLOCK=block, SINGLE_BLOCK=single,
                      ACC=acc)  # fmt: skip
        yield (f"softmax_forward {dtype} log={log} mask/T={masked} single={single}",
               softmax_forward_kernel,
               {"x_ptr": f"*{dtype}", "y_ptr": f"*{dtype}", "t_ptr": f"*{accname}",
                "mask_ptr": "*u8"},
               set(), dict(common, FMAX=fmax, COMPENSATE=dtype == "fp64"), 8)  # fmt: skip
        yield (f"softmax_backward {dtype} log={log} mask/T={masked} single={single}",
               softmax_backward_kernel,
               {"y_ptr": f"*{dtype}", "g_ptr": f"*{dtype}", "dx_ptr": f"*{dtype}",
                "t_ptr": f"*{accname}", "mask_ptr": "*u8"},
               set(), common, 8)  # fmt: skip


def logsumexp_variants():
    for dtype, masked in itertools.product(("bf16", "fp32", "fp64"), (False, True)):
        accname = "fp64" if dtype == "fp64" else "fp32"
        yield (f"logsumexp {dtype} mask/T={masked}", logsumexp_kernel,
               {"x_ptr": f"*{dtype}", "out_ptr": f"*{dtype}", "t_ptr": f"*{accname}",
                "mask_ptr": "*u8"},
               set(),
               dict(HAS_T=masked, HAS_MASK=masked, BLOCK=4096, ACC=ACC[accname][0],
                    COMPENSATE=dtype == "fp64"),
               8)  # fmt: skip


def cross_entropy_variants():
    for dtype, indices, smooth, single in itertools.product(("bf16", "fp32", "fp64"), (True, False),
                                                             (False, True), (True, False)):  # fmt: skip
        accname = "fp64" if dtype == "fp64" else "fp32"
        acc, fmax = ACC[accname]
        yield (f"cross_entropy {dtype} indices={indices} smooth={smooth} single={single}",
               cross_entropy_kernel,
               {"z_ptr": f"*{dtype}", "target_ptr": "*i64" if indices else f"*{dtype}",
                "weight_ptr": f"*{accname}", "scalars_ptr": f"*{accname}",
                "loss_ptr": f"*{accname}", "grad_ptr": f"*{dtype}"},
               set(),
               dict(CLASS_INDICES=indices, HAS_WEIGHT=True, SMOOTH=smooth, WRITE_GRAD=True,
                    BLOCK=8192 if single else 4096, SINGLE_BLOCK=single, ACC=acc, FMAX=fmax,
                    COMPENSATE=dtype == "fp64"),
               8)  # fmt: skip


def linear_cross_entropy_variants():
    for dtype, smooth in itertools.product(("bf16", "fp32"), (False, True)):
        acc, fmax = ACC["fp32"]
        tiles = (dict(BLOCK_N=128, BLOCK_V=128, BLOCK_D=64) if dtype == "bf16"
                 else dict(BLOCK_N=64, BLOCK_V=64, BLOCK_D=32))  # fmt: skip
        flags = dict(HAS_BIAS=True, HAS_WEIGHT=True, SMOOTH=smooth, ACC=acc, UPCAST=False,
                     IEEE=dtype == "fp32")  # fmt: skip
        ptrs = {"h_ptr": f"*{dtype}", "c_ptr": f"*{dtype}", "bias_ptr": f"*{dtype}",
                "target_ptr": "*i64", "weight_ptr": "*fp32"}  # fmt: skip
        yield (f"linear_ce_forward {dtype} smooth={smooth}", linear_ce_forward_kernel,
               dict(ptrs, partial_ptr="*fp32"), set(), dict(flags, FMAX=fmax, **tiles), 8)
        yield (f"linear_ce_backward {dtype} smooth={smooth}", linear_ce_backward_kernel,
               dict(ptrs, lse_ptr="*fp32", grad_out_ptr=f"*{dtype}", scalars_ptr="*fp32",
                    dh_ptr="*fp32", dc_ptr="*fp32", dbias_ptr="*fp32"),
               {"filter_eps"},
               dict(flags, COMPUTE_DH=True, COMPUTE_DC=True, COMPUTE_DBIAS=True, FILTER=True,
                    GROUP_N=8, **tiles),
               8)  # fmt: skip
        yield (f"linear_ce_combine (for {dtype}) smooth={smooth}", linear_ce_combine_kernel,
               {"partial_ptr": "*fp32", "target_ptr": "*i64", "weight_ptr": "*fp32",
                "scalars_ptr": "*fp32", "loss_ptr": "*fp32", "lse_ptr": "*fp32"},
               set(), dict(HAS_WEIGHT=True, SMOOTH=smooth, BLOCK_N=128, ACC=acc, FMAX=fmax), 4)


# One or two variants per kernel, the most general ones: what the test suite
# compiles (all variants take a few minutes, ``--all``).
QUICK = {
    "softmax_forward bf16 log=False mask/T=True single=False",
    "softmax_forward fp64 log=True mask/T=True single=True",
    "softmax_backward bf16 log=True mask/T=True single=False",
    "logsumexp bf16 mask/T=True",
    "logsumexp fp64 mask/T=True",
    "cross_entropy bf16 indices=True smooth=True single=False",
    "cross_entropy fp64 indices=False smooth=True single=True",
    "linear_ce_forward bf16 smooth=True",
    "linear_ce_backward bf16 smooth=True",
    "linear_ce_combine (for bf16) smooth=True",
}


def main() -> int:
    variants = [*softmax_variants(), *logsumexp_variants(), *cross_entropy_variants(),
                *linear_cross_entropy_variants()]  # fmt: skip
    everything = "--all" in sys.argv[1:]
    filters = [a for a in sys.argv[1:] if a != "--all"]
    for label, kernel, pointers, floats, constants, warps in variants:
        if filters:
            if not any(f in label for f in filters):
                continue
        elif not everything and label not in QUICK:
            continue
        compile_kernel(kernel, pointers, floats, constants, warps)
        print("compiled", label, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
