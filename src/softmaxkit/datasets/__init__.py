"""Small data sets shipped inside softmaxkit, so the demo runs without a download.

* :func:`load_digits`: the UCI handwritten digits (1,797 8x8 images, 10 classes),
  CC BY 4.0, E. Alpaydin and C. Kaynak (1998); see ``DIGITS_LICENSE.txt`` beside
  this file.
"""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["Digits", "load_digits"]


class Digits(NamedTuple):
    """The digits data: ``data`` (1797, 64) float64 pixels 0..16, ``target`` (1797,) int64."""

    data: np.ndarray
    target: np.ndarray

    @property
    def images(self) -> np.ndarray:
        """The pixels as (1797, 8, 8) images, row by row."""
        return self.data.reshape(-1, 8, 8)


def load_digits() -> Digits:
    """Load the UCI handwritten digits shipped with softmaxkit.

    1,797 grey-level 8x8 images of the digits 0 to 9 (about 180 of each), each
    pixel an integer 0..16: the test set of E. Alpaydin and C. Kaynak's
    "Optical Recognition of Handwritten Digits" (UCI, 1998, CC BY 4.0), the
    same values as ``sklearn.datasets.load_digits``.

    Returns
    -------
    Digits
        The named tuple ``(data, target)``: ``data`` float64 (1797, 64),
        ``target`` int64 (1797,); ``.images`` is ``data`` as (1797, 8, 8).

    Examples
    --------
    >>> from softmaxkit.datasets import load_digits
    >>> digits = load_digits()
    >>> digits.data.shape, digits.images.shape, int(digits.target[0])
    ((1797, 64), (1797, 8, 8), 0)
    >>> int(digits.data.max()), sorted(set(digits.target.tolist())) == list(range(10))
    (16, True)
    """
    source = resources.files(__package__).joinpath("digits.npz")
    with source.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
        data = archive["data"].astype(np.float64)
        target = archive["target"].astype(np.int64)
    return Digits(data, target)
