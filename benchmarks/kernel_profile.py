"""Cycles and instructions per element: softmaxkit's kernel against onnxruntime's.

    python benchmarks/kernel_profile.py [--repeat 7] [--case REGEX ...]

Issue 12 asks, for every speed goal the kernel does not meet, what stands in
the way: cycles per element against the loop's instruction count. This
machine's VM exposes no hardware counters (``perf stat -e cycles``: not
supported), so the three figures come from elsewhere, one thread each:

* instructions per element: valgrind's callgrind (``apt-get install
  valgrind``) counts what one call executes (after a warm-up call, the
  counters zeroed before it and dumped after it by ``callgrind_control``);
  valgrind runs AVX2 code at most, so both sides take their AVX2 loops there;
* nanoseconds per element: one thread on each side, the process pinned to
  one core, the fastest of ``--repeat`` interleaved rounds (``kernel.py``'s
  rounds: the fastest, since this VM's host takes the core away at times and
  a round it disturbs is only ever slower; outputs
  preallocated: softmaxkit ``out=``, onnxruntime's I/O binding, ``np.copyto``);
* the clock: a chain of dependent integer adds (one cycle each on x86-64),
  compiled with ``cc`` and timed on the same core, so cycles per element is
  nanoseconds per element times the clock measured, turbo included.

Instructions per cycle then says which side keeps the core busier: at equal
instructions per cycle, the difference in time is the difference in
instructions (for softmaxkit, the operations its accuracy takes). Only the
x86-64 AVX2 case is comparable: where the CPU has AVX-512, the timed loops
are AVX-512 ones and valgrind's are not (the header then says so).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kernel
import softmaxkit as sk
from softmaxkit import _dispatch

CASES = [
    kernel.Case("softmax", "float32", (4096, 1000)),
    kernel.Case("log_softmax", "float32", (4096, 1000)),
    kernel.Case("softmax", "float32", (1024, 32000)),
    kernel.Case("softmax", "float32", (64, 262144)),
    kernel.Case("softmax", "float64", (1024, 32000)),
    kernel.Case("softmax", "float32", (32000, 1024), axis=0),
]
SIDES = ("softmaxkit", "onnxruntime")
CHAIN_ADDS = 100_000_000  # the clock's chain: long enough to time (~30 ms)

CLOCK_SOURCE = r"""
/* n dependent adds of 1 (eight per iteration): n cycles on x86-64 */
unsigned long add_chain(unsigned long n) {
    unsigned long x = 0;
    for (unsigned long i = 0; i < n / 8; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    return x;
}
"""


def clock_hz() -> float | None:
    """Cycles per second of this core, from a timed chain of dependent adds (None: no cc or not x86-64)."""
    if shutil.which("cc") is None or os.uname().machine != "x86_64":
        return None
    with tempfile.TemporaryDirectory() as folder:
        source, library = Path(folder) / "chain.c", Path(folder) / "chain.so"
        source.write_text(CLOCK_SOURCE)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", str(source), "-o", str(library)], check=True)
        add_chain = ctypes.CDLL(str(library)).add_chain
        add_chain.argtypes, add_chain.restype = [ctypes.c_ulong], ctypes.c_ulong
        add_chain(CHAIN_ADDS // 10)  # warm up: the core leaves its idle clock
        best = min(timed(lambda: add_chain(CHAIN_ADDS)) for _ in range(5))
    return CHAIN_ADDS / best


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def case_input(case: kernel.Case) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(case.shape) * 5).astype(case.dtype)


def side_call(side: str, case: kernel.Case, x: np.ndarray, out: np.ndarray, ort_modules, spin: bool = True):
    """One side's preallocated call of the case (None: onnxruntime not installed).

    spin=False: onnxruntime's idle threads do not spin, which callgrind would
    count (it runs one thread at a time) as instructions of the call."""
    if side == "copy":
        return lambda: np.copyto(out, x)
    if side == "softmaxkit":
        function = getattr(sk, case.op)
        return lambda: function(x, axis=case.axis, out=out)
    return None if ort_modules is None else kernel.OrtOp(ort_modules, case.op, x, out, case.axis, spin)


# ---- instructions (the child runs under callgrind) -------------------------


def count_child(side: str, labels: list[str]) -> None:
    """Under callgrind: for each case, warm up, say "ready", wait, run one call, say "done"."""
    sk.set_num_threads(1)
    ort_modules = kernel.load_onnxruntime() if side == "onnxruntime" else None
    for case in CASES:
        if case.label not in labels:
            continue
        x = case_input(case)
        out = np.empty_like(x)
        call = side_call(side, case, x, out, ort_modules, spin=False)
        if call is None:
            return  # onnxruntime is not installed
        call()
        print("ready", flush=True)
        sys.stdin.readline()
        call()
        print("done", flush=True)
        sys.stdin.readline()


def count_instructions(side: str, cases: list[kernel.Case]) -> dict[str, float]:
    """Instructions per element of one call of each case, counted by callgrind (empty: no valgrind)."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return {}
    counts = {}
    with tempfile.TemporaryDirectory() as folder:
        out_file = Path(folder) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                   sys.executable, __file__, "--count-child", side,
                   *[arg for case in cases for arg in ("--case", re.escape(case.label))]]  # fmt: skip
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        for part, case in enumerate(cases, start=1):
            if child.stdout.readline().strip() != "ready":
                break  # onnxruntime is not installed
            subprocess.run(["callgrind_control", "--zero", str(child.pid)], check=True, capture_output=True)
            child.stdin.write("go\n")
            child.stdin.flush()
            child.stdout.readline()  # "done"
            subprocess.run(["callgrind_control", "--dump", str(child.pid)], check=True, capture_output=True)
            summary = re.search(r"^summary: *(\d+)", Path(f"{out_file}.{part}").read_text(), re.M)
            counts[case.label] = int(summary.group(1)) / np.prod(case.shape)
            child.stdin.write("go\n")
            child.stdin.flush()
        child.stdin.close()
        child.wait()
    return counts


# ---- main ------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per case (the fastest counts)")
    parser.add_argument("--case", action="append", default=[], metavar="REGEX",
                        help="run only the cases whose label matches (repeatable)")  # fmt: skip
    parser.add_argument("--count-child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    wanted = [re.compile(pattern) for pattern in args.case]
    cases = [c for c in CASES if not wanted or any(p.search(c.label) for p in wanted)]
    if args.count_child:
        count_child(args.count_child, [c.label for c in cases])
        return

    kernel.THREADS = 1
    sk.set_num_threads(1)
    # One core for the whole process: onnxruntime runs its one intra-op
    # thread's work beside the calling thread, and the pair would otherwise
    # wander between the cores (and their caches) as the scheduler moves them.
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    ort_modules = kernel.load_onnxruntime()
    hz = clock_hz()
    instructions = {side: count_instructions(side, cases) for side in SIDES}
    print(f"one thread; kernel ISA timed: {_dispatch.isa()}, counted: avx2 (valgrind); "
          f"clock {'-' if hz is None else f'{hz / 1e9:.2f} GHz'} (dependent adds); "
          f"fastest of {args.repeat} rounds; "
          f"onnxruntime {ort_modules[1].__version__ if ort_modules else 'not installed'}")  # fmt: skip
    if _dispatch.isa() != "avx2":
        print("(the timed loops are not the counted ones: instructions per cycle is not comparable)")
    print(f"{'case':<36} {'side':<12} {'instr/elem':>10} {'ns/elem':>8} {'cycles/elem':>11} {'instr/cycle':>11}")
    for case in cases:
        x = case_input(case)
        out = np.empty_like(x)
        sides = {side: side_call(side, case, x, out, ort_modules) for side in ("copy", *SIDES)}
        rounds = kernel.round_times({s: f for s, f in sides.items() if f is not None}, args.repeat)
        times = {side: min(values) for side, values in rounds.items()}
        for row, side in enumerate(sides):
            ns = times[side] / x.size * 1e9 if side in times else None
            cycles = None if ns is None or hz is None else ns * hz / 1e9
            count = instructions.get(side, {}).get(case.label)
            print(f"{case.label if row == 0 else '':<36} {side:<12} {fmt(count, 2):>10} {fmt(ns, 3):>8} "
                  f"{fmt(cycles, 2):>11} {fmt(None if count is None or not cycles else count / cycles, 2):>11}",
                  flush=True)  # fmt: skip


def fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
