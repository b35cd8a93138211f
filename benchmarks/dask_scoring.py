"""Score a logits file larger than you want in memory, chunk by chunk, with Dask.

    python benchmarks/dask_scoring.py [--rows 8192] [--classes 16384] [--block-rows 512]

Writes a float32 ``.npy`` file of random logits (rows x classes) and its
targets to a temporary folder, then computes, through softmaxkit on a Dask
array read lazily from the file, the mean cross-entropy, the per-row
logsumexp and the per-row probability of the target, block of rows by block
of rows. Prints the time, the file size and the peak resident memory of a
fresh process that does only the scoring (VmHWM), which stays near
a few ``threads x block`` however large the file; and checks the mean loss against
NumPy on a sample of rows. This is the example of docs/dask.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np


class NpyBlocks:
    """A ``.npy`` file that Dask reads one block at a time.

    Each read maps the file, copies the block out and unmaps it again, so the
    pages read do not stay in this process's memory (``np.load(mmap_mode="r")``
    handed to Dask directly would keep every page it has touched mapped).
    """

    def __init__(self, path: str):
        self.path = path
        header = np.load(path, mmap_mode="r")
        self.shape, self.dtype, self.ndim = header.shape, header.dtype, header.ndim
        del header

    def __getitem__(self, index):
        mapped = np.load(self.path, mmap_mode="r")
        block = np.array(mapped[index])
        del mapped
        return block


def score(logits_path: str, target_path: str, *, block_rows: int) -> dict:
    """Per-row cross-entropy, logsumexp and target probability of a logits file."""
    import dask
    import dask.array as da

    import softmaxkit as sk

    source = NpyBlocks(logits_path)
    # Whole rows per block: each block holds every class of its rows, so the
    # reductions over the class axis stay inside one task.
    logits = da.from_array(source, chunks=(block_rows, -1), asarray=False)
    target = da.from_array(np.load(target_path, mmap_mode="r"), chunks=block_rows)
    per_row = sk.cross_entropy(logits, target, reduction="none")  # lazy: nothing read yet
    lse = sk.logsumexp(logits, axis=-1)
    # One pass over the file computes all three (Dask shares the reads).
    per_row, lse, target_prob = dask.compute(per_row, lse, da.exp(-per_row))
    return {"loss": per_row, "logsumexp": lse, "target_prob": target_prob}


def write_inputs(folder: pathlib.Path, rows: int, classes: int, block_rows: int) -> tuple[str, str]:
    """A float32 logits file written block by block (never whole in memory) and its targets."""
    rng = np.random.default_rng(0)
    logits_path, target_path = str(folder / "logits.npy"), str(folder / "target.npy")
    out = np.lib.format.open_memmap(logits_path, mode="w+", dtype=np.float32, shape=(rows, classes))
    for start in range(0, rows, block_rows):
        stop = min(start + block_rows, rows)
        out[start:stop] = rng.standard_normal((stop - start, classes), dtype=np.float32) * 3
    out.flush()
    del out
    np.save(target_path, rng.integers(0, classes, size=rows))
    return logits_path, target_path


def _scoring_process(logits_path: str, target_path: str, block_rows: int) -> None:
    """Run in a fresh interpreter: score, then report the time and the peak memory."""
    import dask.array  # noqa: F401  (imports are not part of the time)

    import softmaxkit  # noqa: F401

    start = time.perf_counter()
    result = score(logits_path, target_path, block_rows=block_rows)
    seconds = time.perf_counter() - start
    np.save(sys.argv[1], result["loss"])
    print(json.dumps({"seconds": seconds, "peak_mib": peak_memory_mib()}))


def peak_memory_mib() -> float:
    """This process's peak resident memory (Linux's VmHWM).

    Not ``ru_maxrss``: it carries over the parent's peak through fork and
    exec, and the parent has just written the file.
    """
    status = pathlib.Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--classes", type=int, default=16384)
    parser.add_argument("--block-rows", type=int, default=512)
    args = parser.parse_args()

    import softmaxkit as sk

    with tempfile.TemporaryDirectory() as folder:
        logits_path, target_path = write_inputs(pathlib.Path(folder), args.rows, args.classes, args.block_rows)
        losses_path = str(pathlib.Path(folder) / "losses.npy")
        code = (
            f"import sys; sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r}); "
            f"import dask_scoring; dask_scoring._scoring_process({logits_path!r}, {target_path!r}, {args.block_rows})"
        )
        report = json.loads(subprocess.run([sys.executable, "-c", code, losses_path], check=True, capture_output=True, text=True).stdout)
        baseline = json.loads(subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r}); "
             "import json, dask.array, softmaxkit, dask_scoring; print(json.dumps(dask_scoring.peak_memory_mib()))"],
            check=True, capture_output=True, text=True,
        ).stdout)  # fmt: skip
        # Check the answer on a sample of rows read whole with NumPy.
        step = max(args.rows // 256, 1)
        sample = np.array(np.load(logits_path, mmap_mode="r")[::step])
        expected = sk.cross_entropy(sample, np.load(target_path)[::step], reduction="none")
        losses = np.load(losses_path)
        worst = float(np.max(np.abs(losses[::step] - expected) / expected))

    import os

    file_mib = args.rows * args.classes * 4 / 2**20
    block_mib = args.block_rows * args.classes * 4 / 2**20
    print(f"logits file        {args.rows} x {args.classes} float32 = {file_mib:.0f} MiB")
    print(f"block              {args.block_rows} rows = {block_mib:.1f} MiB (float64 compute: {2 * block_mib:.1f} MiB)")
    print(f"threads            {os.cpu_count()}")
    print(f"time               {report['seconds']:.2f} s ({file_mib / report['seconds']:.0f} MiB/s)")
    print(f"peak memory        {report['peak_mib']:.0f} MiB (import alone: {baseline:.0f} MiB)")
    print(f"mean loss          {losses.mean():.6f}; every {step}th row against NumPy: max relative difference {worst:.1e}")


if __name__ == "__main__":
    main()
