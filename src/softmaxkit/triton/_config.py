"""Launch parameters, chosen per call from the shape (never by probing a device at import).

Each kernel family has a small frozen config. The launchers take an optional
``config=`` so that a caller (a test, the benchmark, a tuner) can force one;
otherwise they ask the heuristics here, whose answers are cached per shape
class. Tests force tiny blocks so that the multi-block (long-row) and
multi-tile paths run on small shapes under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import triton

# A row up to this many elements is kept whole in registers: with 32 warps
# that is 32 float32 values per thread (the Triton tutorial and Liger use the
# same bound; beyond it registers spill and the online path is faster).
MAX_SINGLE_BLOCK = 32768
# Contraction of a * b + c into one fused multiply-add, passed to every
# launch so that the kernels do not depend on Triton's default (3.9 warns
# that it is unset, 3.10 flips it). Safe here: the compensated float64 steps
# (TwoSum) are additions only, and nothing relies on a product being rounded
# before it is added.
FP_FUSION = True
# Block of the online (long-row) path: 16 float32 values per thread for each
# of the 4 lane accumulators at 8 warps.
ONLINE_BLOCK = 4096


class RowConfig(NamedTuple):
    """Launch parameters of the row kernels (softmax family, cross-entropy).

    ``block`` is a power of two. When ``single_block`` is true the whole row
    (``n_cols <= block``) is one block; otherwise the row is swept in blocks
    of ``block`` elements by the online path.
    """

    block: int
    single_block: bool
    num_warps: int


class LinearCrossEntropyConfig(NamedTuple):
    """Tiles of the fused linear cross-entropy kernels.

    ``block_n`` rows (tokens) by ``block_v`` classes, reduced over the hidden
    size in steps of ``block_d`` (each at least 16, a ``tl.dot`` minimum);
    ``vocab_splits`` programs share the classes of a row block in the forward
    kernel (more parallelism when there are few row blocks); ``group_n`` row
    blocks are swept together in the backward kernel so their classifier
    tiles stay in L2; ``slab_classes`` bounds the classes whose float32
    classifier gradient is accumulated at once (a multiple of ``block_v``).
    """

    block_n: int
    block_v: int
    block_d: int
    vocab_splits: int
    group_n: int
    slab_classes: int
    num_warps: int
    num_stages: int


def row_config(n_cols: int, *, max_block: int | None = None) -> RowConfig:
    """The heuristic launch parameters for rows of ``n_cols`` elements.

    ``max_block`` (a power of two) caps the block size; a row longer than the
    cap takes the online path. Tests use it to force that path on small rows.
    """
    cap = MAX_SINGLE_BLOCK if max_block is None else max_block
    if cap < 1 or cap & (cap - 1):
        raise ValueError(f"max_block must be a power of two >= 1, got {max_block!r}")
    return _row_config(triton.next_power_of_2(max(n_cols, 1)), cap)


@functools.lru_cache(maxsize=256)
def _row_config(padded_cols: int, cap: int) -> RowConfig:
    if padded_cols <= cap:
        return RowConfig(padded_cols, True, _warps_for(padded_cols))
    block = min(cap, ONLINE_BLOCK)
    return RowConfig(block, False, _warps_for(block))


def shape_class(n_cols: int) -> int:
    """The part of a row length that a tuning key holds: rows in one class
    have the same candidate configs (``row_config_candidates``), so a config
    tuned for one of them is valid for all."""
    size: int = triton.next_power_of_2(max(n_cols, 1))
    return size


def row_config_candidates(n_cols: int) -> tuple[RowConfig, ...]:
    """The heuristic first, then the alternatives a tuner may time on a GPU."""
    best = row_config(n_cols)
    if best.single_block:
        others = [best._replace(num_warps=w) for w in (8, 16, 32) if w != best.num_warps]
    else:
        others = [RowConfig(b, False, _warps_for(b)) for b in (2048, 8192) if b != best.block]
    return (best, *others)


def _warps_for(block: int) -> int:
    # About 32 elements per thread at most, 1 to 32 warps.
    return max(1, min(32, block // 1024))


def linear_cross_entropy_config(
    n_rows: int, n_classes: int, hidden: int, element_size: int, n_programs_wanted: int
) -> LinearCrossEntropyConfig:
    """Tiles for ``n_rows`` tokens, ``n_classes`` classes and hidden size ``hidden``.

    128 x 128 tiles with 64-wide hidden steps feed the tensor cores with
    16-bit inputs (float32 inputs take 64 x 64 x 32 to stay within shared
    memory). The vocabulary is split so that about ``n_programs_wanted``
    programs run in the forward kernel; the float32 classifier gradient is
    accumulated in slabs of at most 1/8 of the classes (and at least one
    tile) so that it never needs more than 1/4 of the memory of a 16-bit
    classifier gradient.
    """
    if element_size >= 4:
        block_n, block_v, block_d, warps, stages = 64, 64, 32, 4, 3
    else:
        block_n, block_v, block_d, warps, stages = 128, 128, 64, 8, 3
    block_n = min(block_n, max(16, triton.next_power_of_2(n_rows)))
    block_v = min(block_v, max(16, triton.next_power_of_2(n_classes)))
    block_d = min(block_d, max(16, triton.next_power_of_2(hidden)))
    row_blocks = triton.cdiv(n_rows, block_n)
    class_blocks = triton.cdiv(n_classes, block_v)
    splits = max(1, min(class_blocks, triton.cdiv(n_programs_wanted, row_blocks)))
    slab_blocks = max(1, triton.cdiv(class_blocks, 8))
    return LinearCrossEntropyConfig(
        block_n, block_v, block_d, splits, 8, slab_blocks * block_v, warps, stages
    )
