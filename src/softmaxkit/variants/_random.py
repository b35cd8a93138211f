"""Randomness for the sampling variants: one seeded NumPy generator per call.

Noise is drawn on the CPU with NumPy's ``Generator`` and moved to the input's
library and device (``_host.from_numpy``). That makes a seed give the same
draws on every array library, at the cost of a host-to-device copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate as validate


def generator(seed: Any) -> np.random.Generator:
    """A generator from ``seed``: an int, a ``numpy.random.Generator`` (used as is) or None.

    None draws fresh entropy from the operating system (not reproducible).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    try:
        value = validate.integer(seed, name="seed", minimum=0)
    except TypeError:  # the integer rule's message, naming the other types seed may be
        raise TypeError(
            f"seed must be an int, a numpy.random.Generator or None, got {seed!r}"
        ) from None
    return np.random.default_rng(value)


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

