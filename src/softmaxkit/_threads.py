"""How many threads the compiled kernels may use.

The count is, in order of precedence: the value given to
:func:`set_num_threads`; the environment variable ``SOFTMAXKIT_NUM_THREADS``,
read when a kernel needs it (never at import); the number of CPUs this process
may run on. Results do not depend on it: the kernels cut their work into
blocks fixed by the shape, never by the thread count.
"""

from __future__ import annotations

import os
import threading

from . import _validate as validate

ENV_VARIABLE = "SOFTMAXKIT_NUM_THREADS"

_lock = threading.Lock()
_chosen: int | None = None


def set_num_threads(n: int | None) -> None:
    """Set the number of threads the compiled kernels use; ``None`` restores the default.

    The setting is global to the process (all Python threads share it) and
    takes precedence over ``SOFTMAXKIT_NUM_THREADS``.

    Parameters
    ----------
    n : int or None
        A positive number of threads, or ``None`` for the default (the
        environment variable if set, else the number of usable CPUs).

    Raises
    ------
    TypeError
        ``n`` is not an int (or None).
    ValueError
        ``n`` is not positive.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.set_num_threads(2)
    >>> sk.get_num_threads()
    2
    >>> sk.set_num_threads(None)
    """
    global _chosen
    if n is not None:
        n = _positive_int(n, name="n")
    with _lock:
        _chosen = n


def get_num_threads() -> int:
    """The number of threads the compiled kernels use (see :func:`set_num_threads`).

    Returns
    -------
    int
        The count set by :func:`set_num_threads`, else ``SOFTMAXKIT_NUM_THREADS``,
        else the number of CPUs this process may use.

    Examples
    --------
    >>> import softmaxkit as sk
    >>> sk.get_num_threads() >= 1
    True
    """
    chosen = _chosen
    if chosen is not None:
        return chosen
    from_env = os.environ.get(ENV_VARIABLE)
    if from_env is not None and from_env.strip():
        try:
            return _positive_int(int(from_env), name=ENV_VARIABLE)
        except ValueError:
            raise ValueError(
                f"{ENV_VARIABLE} must be a positive integer, got {from_env!r}"
            ) from None
    return _cpu_count()


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


#: The kernel takes a C int; more threads than this only cost memory and start-up.
MAX_THREADS = 1024


def _positive_int(value: object, *, name: str) -> int:
    n = validate.integer(value, name=name)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"{name} must be a number of threads from 1 to {MAX_THREADS}, got {n}")
    return n
