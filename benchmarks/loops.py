"""The compiled kernel's inner loops: their size, llvm-mca's throughput, perf's samples.

    python benchmarks/loops.py [--object softmax_f32] [--function row] [--cpu icelake-server]
    python benchmarks/loops.py --perf perf.data

Without ``--perf``: every innermost loop (a backward branch with no other loop
inside) of the AVX-512 objects of the editable build
(``build/editable/.../libsk_loops_avx512f.a.p/*.o``, disassembled with
``objdump -d --no-show-raw-insn``) that holds at least one 512-bit vector
operation, with its instruction count and ``llvm-mca``'s estimate of cycles a
loop iteration (simulated over 500 iterations: ports and dependencies) and
its block reciprocal throughput (ports alone). The vector width (16 floats,
8 doubles) gives the elements an iteration.

With ``--perf DATA`` (from ``perf record -e cpu-clock -F 4000 python ...``; this
VM has no hardware counters, but the timer samples instruction addresses):
each innermost loop's share of the samples taken in the extension module, and
the module's share of all samples.

Addresses are the build's own: they move with every change of the C sources.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

BUILD = Path(__file__).resolve().parent.parent / "build" / "editable" / "src" / "softmaxkit" / "_kernels"
OBJECTS = BUILD / "libsk_loops_avx512f.a.p"
MODULE = next(BUILD.glob("_kernel.*.so"), BUILD / "_kernel.so")


@dataclass(frozen=True)
class Instruction:
    address: int
    mnemonic: str
    operands: str
    function: str


@dataclass(frozen=True)
class Loop:
    function: str
    start: int  # index into the instruction list
    end: int  # the backward branch, inclusive


def disassemble(path: Path) -> list[Instruction]:
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    instructions, function = [], "?"
    for line in text.splitlines():
        if header := re.match(r"^[0-9a-f]+ <(.+)>:$", line):
            function = header.group(1)
        elif body := re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line):
            instructions.append(Instruction(int(body.group(1), 16), body.group(2), body.group(3), function))
    return instructions


def innermost_loops(instructions: list[Instruction]) -> list[Loop]:
    index = {ins.address: i for i, ins in enumerate(instructions)}
    loops = []
    for i, ins in enumerate(instructions):
        target = re.match(r"([0-9a-f]+) <", ins.operands)
        if ins.mnemonic.startswith("j") and target and int(target.group(1), 16) in index:
            start = index[int(target.group(1), 16)]
            if start <= i:
                loops.append(Loop(ins.function, start, i))
    return [a for a in loops
            if not any(b != a and a.start <= b.start and b.end <= a.end for b in loops)]  # fmt: skip


def mca(body: list[Instruction], cpu: str) -> tuple[float, float]:
    """(cycles an iteration over 500 iterations, block reciprocal throughput)."""
    lines = ["loop:"]
    for ins in body:
        operands = re.sub(r"\s+<[^>]*>$", "", ins.operands)
        lines.append(f"{ins.mnemonic} loop" if ins.mnemonic.startswith("j") else f"{ins.mnemonic} {operands}")
    report = subprocess.run(["llvm-mca", f"-mcpu={cpu}", "-iterations=500"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    cycles = float(re.search(r"Total Cycles:\s+(\d+)", report).group(1)) / 500
    return cycles, float(re.search(r"Block RThroughput:\s+([\d.]+)", report).group(1))


def list_loops(objects: list[str], function: str | None, cpu: str) -> None:
    for name in objects:
        instructions = disassemble(OBJECTS / f"{name}.c.o")
        print(f"{name}.c.o (llvm-mca -mcpu={cpu}: cycles an iteration / ports-only bound)")
        for loop in innermost_loops(instructions):
            body = instructions[loop.start : loop.end + 1]
            if (function and loop.function != function) or not any("zmm" in i.operands for i in body):
                continue
            cycles, bound = mca(body, cpu)
            counts = collections.Counter(i.mnemonic for i in body)
            mix = " ".join(f"{m}:{c}" for m, c in sorted(counts.items()) if m.startswith("v") or m.startswith("pref"))
            print(f"  {loop.function}+{body[0].address:#x}..{body[-1].address:#x}: {len(body)} instructions, "
                  f"{cycles:.1f} / {bound:.1f} cycles  [{mix}]")  # fmt: skip


def perf_shares(data: str, top: int) -> None:
    instructions = disassemble(MODULE)
    addresses = [i.address for i in instructions]
    loops = innermost_loops(instructions)
    starts = collections.defaultdict(set)  # a static function's name may recur
    previous = None
    for ins in instructions:
        if ins.function != previous:
            starts[ins.function].add(ins.address)
            previous = ins.function
    samples = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,symoff,dso"],
                             capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    # The module's load address, from samples in functions whose name is unique.
    bases = collections.Counter()
    for line in samples:
        fields = line.split()
        where = re.match(r"(\S+)\+0x([0-9a-f]+)$", fields[1]) if len(fields) > 2 else None
        if where and MODULE.name in line and len(starts.get(where.group(1), ())) == 1:
            (start,) = starts[where.group(1)]
            bases[int(fields[0], 16) - start - int(where.group(2), 16)] += 1
    base = bases.most_common(1)[0][0] if bases else 0
    shares, total, in_module = collections.Counter(), 0, 0
    for line in samples:
        if not line.split():
            continue
        total += 1
        if MODULE.name not in line:
            continue
        in_module += 1
        address = int(line.split()[0], 16) - base
        k = bisect.bisect_right(addresses, address) - 1
        inside = [lp for lp in loops if lp.start <= k <= lp.end]
        if inside:
            lp = inside[0]
            shares[f"{lp.function} loop {addresses[lp.start]:#x} ({lp.end - lp.start + 1} instructions)"] += 1
        else:
            shares[f"{instructions[k].function if k >= 0 else '?'}, outside its inner loops"] += 1
    print(f"{in_module} of {total} samples in {MODULE.name} ({100 * in_module / max(total, 1):.1f}%); of those:")
    for name, count in shares.most_common(top):
        print(f"  {100 * count / in_module:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--object", action="append", default=[], metavar="NAME",
                        help="softmax_f32, softmax_f64, softmax_columns_f32, cross_entropy (default: all)")  # fmt: skip
    parser.add_argument("--function", help="only the loops of this function (e.g. row)")
    parser.add_argument("--cpu", default="icelake-server",
                        help="llvm-mca's CPU model (LLVM 14 models sapphirerapids as icelake-server)")  # fmt: skip
    parser.add_argument("--perf", metavar="DATA", help="samples per loop from a perf.data file")
    parser.add_argument("--top", type=int, default=12, help="lines of --perf output")
    args = parser.parse_args()
    if args.perf:
        perf_shares(args.perf, args.top)
    else:
        objects = args.object or ["softmax_f32", "softmax_f64", "softmax_columns_f32", "cross_entropy"]
        list_loops(objects, args.function, args.cpu)


if __name__ == "__main__":
    main()
