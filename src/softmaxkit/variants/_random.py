"""Randomness for the sampling variants: one seeded NumPy generator per call.

Noise is drawn on the CPU with NumPy's ``Generator`` and moved to the input's
library and device (``_host.from_numpy``). That makes a seed give the same
draws on every array library, at the cost of a host-to-device copy.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def generator(seed: Any) -> np.random.Generator:
    """A generator from ``seed``: an int, a ``numpy.random.Generator`` (used as is) or None.

    None draws fresh entropy from the operating system (not reproducible).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def gumbel_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard Gumbel draws ``-log(E)``, ``E ~ Exp(1)``, always finite (float64).

    ``E = -log1p(-U)`` with ``U`` uniform on ``[0, 1)`` in steps of 2**-53.
    The one draw ``U = 0`` (probability 2**-53) would give ``E = 0`` and
    ``-log(0) = inf``, the NaN source of pytorch/pytorch#22442; it is given
    the middle of its cell instead, ``E = 2**-54``, so the noise stays below
    37.5 in absolute value.
    """
    exponential = -np.log1p(-rng.random(shape))
    np.maximum(exponential, 2.0**-54, out=exponential)
    return -np.log(exponential)

