"""The types in softmaxkit's public signatures.

A function returns the kind of array it is given (a NumPy array for a NumPy
array or a nested list, a torch tensor for a tensor, ...). The signatures say
so with a type variable bound to :class:`Array`, a protocol that every
array-API library's array satisfies, and an overload for nested lists and
Python numbers, which come back as NumPy arrays.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, TypeVar, Union

import numpy as np
from numpy.typing import NDArray


class Array(Protocol):
    """What softmaxkit needs of an array: a shape, a dtype, a number of dimensions."""

    @property
    def shape(self) -> tuple[Any, ...]: ...

    @property
    def dtype(self) -> Any: ...

    @property
    def ndim(self) -> int: ...


ArrayT = TypeVar("ArrayT", bound=Array)

#: Python numbers and (nested) sequences of them: computed as NumPy arrays.
Nested = Union[float, Sequence["Nested"]]

#: What a list-like input comes back as.
NumPyArray = NDArray[Any]

#: ``axis`` arguments: an int, a tuple of ints, or None for all axes.
Axis = Union[int, tuple[int, ...], None]

#: Arguments that take an array of any library, a nested list or a number.
ArrayLike = Union[Array, Nested, np.generic]
