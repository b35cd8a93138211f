"""A progress bar for long work, on a terminal only (tqdm, the ``progress`` extra).

Long loops (``linear_cross_entropy`` over millions of rows, a classifier's fit)
report each step to :func:`progress`. A bar appears on standard error when tqdm
is installed, standard error is a terminal, and the work has lasted
:data:`DELAY_SECONDS`; otherwise, in a script's log, a notebook or a pipe,
nothing is written and nothing is slowed down.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Work that ends sooner than this never shows a bar.
DELAY_SECONDS = 1.0


@contextlib.contextmanager
def progress(total: int, description: str, unit: str = "step") -> Iterator[Callable[[int], object]]:
    """Yield ``advance(steps=1)``, which moves a bar of ``total`` steps on a terminal.

    >>> with progress(3, "counting") as advance:
    ...     for _ in range(3):
    ...         advance(1)
    """
    stream = sys.stderr
    bar = None
    if stream is not None and stream.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            bar = tqdm(total=total, desc=description, unit=unit, file=stream, leave=False,
                       delay=DELAY_SECONDS, dynamic_ncols=True)  # fmt: skip
    if bar is None:
        yield _nothing
        return
    try:
        yield bar.update
    finally:
        bar.close()


def tracked(steps: Iterable[T], total: int, description: str, unit: str = "step") -> Iterator[T]:
    """The items of ``steps``, moving a bar of ``total`` steps on a terminal as each is done.

    >>> [chunk for chunk in tracked(range(0, 10, 4), 3, "chunks")]
    [0, 4, 8]
    """
    with progress(total, description, unit) as advance:
        for step in steps:
            yield step
            advance(1)


def _nothing(steps: int = 1) -> None:
    """Progress where no bar is shown."""
