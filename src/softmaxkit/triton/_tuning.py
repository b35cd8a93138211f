"""A small cached autotuner for the kernels whose launch writes only fresh outputs.

On a CUDA device the first call for a tuning key times each candidate
config (median of a few launches, CUDA events) and caches the fastest for
the process; later calls with the same key reuse it. Anywhere else (CPU
tensors under Triton's interpreter), while a CUDA graph is being captured,
or when there is a single candidate, the first candidate (the heuristic)
is used untimed. Only launches that are idempotent (they overwrite their
outputs and accumulate nothing) are tuned, since tuning runs them several
times.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import torch

Config = TypeVar("Config")

_best: dict[Hashable, object] = {}

_WARMUP = 1
_REPEATS = 5


def pick(
    key: Hashable,
    candidates: Sequence[Config],
    launch: Callable[[Config], object],
    device: torch.device,
    *,
    timer: Callable[[Callable[[], object]], float] | None = None,
) -> Config:
    """The config to launch with: cached, timed once per key on CUDA, else the first.

    ``launch(config)`` runs the kernel once with ``config``. ``timer`` (for
    tests) replaces the CUDA-event timer; it receives a no-argument callable
    and returns seconds.
    """
    if key in _best:
        return _best[key]  # type: ignore[return-value]
    if len(candidates) == 1:
        return candidates[0]
    if timer is None:
        if device.type != "cuda" or torch.cuda.is_current_stream_capturing():
            return candidates[0]
        timer = _cuda_time
    times = [timer(functools.partial(launch, c)) for c in candidates]
    best = candidates[min(range(len(candidates)), key=times.__getitem__)]
    _best[key] = best
    return best


def clear() -> None:
    """Forget every tuned choice (the next call of each key times again)."""
    _best.clear()


def _cuda_time(run: Callable[[], object]) -> float:
    for _ in range(_WARMUP):
        run()
    samples: list[float] = []
    for _ in range(_REPEATS):
        # torch leaves Event's constructor unannotated.
        start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        start.record()
        run()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return statistics.median(samples)
