"""The types in softmaxkit's public signatures.

A function returns the kind of array it is given (a NumPy array for a NumPy
array or a nested list, a torch tensor for a tensor, ...). The signatures say
so with a type variable bound to :class:`Array`, a protocol that every
array-API library's array satisfies, and an overload for nested lists and
Python numbers, which come back as NumPy arrays.
"""

from __future__ import annotations

import sys
import typing
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence, TypeVar, Union

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # optional libraries: their types are read by type checkers only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from scipy.sparse import sparray, spmatrix


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

#: The ``reduction`` of the losses, as torch names them.
Reduction = Literal["mean", "sum", "none"]

#: ``seed`` arguments: an int, a NumPy generator (used as is), or None for fresh entropy.
#: (A string: ``np.random`` is not imported by ``import softmaxkit``.)
Seed = Union[int, "np.random.Generator", None]

#: The proposal distributions of ``sample_candidates``.
Sampler = Literal["log_uniform", "uniform", "unigram"]

#: A SciPy sparse array or matrix, or a PyTorch sparse tensor: returned as the same kind.
SparseT = TypeVar("SparseT")

#: Class labels: integer column numbers, or labels of any type (strings too) with ``classes=``.
Labels = Union[ArrayLike, Sequence[str]]

#: A classifier's ``X``: a dense array (NumPy, or anything ``numpy.asarray``
#: takes) or a SciPy sparse matrix (CSR is used as is).
MatrixLike = Union[ArrayLike, "sparray", "spmatrix"]

#: The solvers of ``SoftmaxRegression``.
Solver = Literal["auto", "lbfgs", "newton-cg", "newton-cholesky"]

#: The binning of the calibration metrics, and the norm of the calibration error.
BinStrategy = Literal["uniform", "quantile"]
CalibrationNorm = Literal["l1", "l2", "max"]

#: The ``figure=`` of softmaxkit.plot, which returns the figure it drew in.
FigureT = TypeVar("FigureT", "Figure", "SubFigure")

#: The ``ax=`` of softmaxkit.plot: one Axes, or as many as the picture has panels.
AxesArg = Union["Axes", Sequence["Axes"]]

if sys.version_info >= (3, 11):
    from typing import NamedTuple as NamedTuple  # re-exported
else:
    # The result tuples are generic in their array type (``class
    # CrossEntropyResult(NamedTuple, Generic[ArrayT])``), which Python 3.10's
    # NamedTuple refuses ("Multiple inheritance with NamedTuple is not
    # supported"). Generic only matters to a type checker, so this NamedTuple
    # builds the tuple from the first base alone, as 3.11 does.
    def NamedTuple(typename: str, fields: Any = None, /, **kwargs: Any) -> Any:
        return typing.NamedTuple(typename, fields, **kwargs)

    NamedTuple.__mro_entries__ = lambda bases: typing.NamedTuple.__mro_entries__(  # type: ignore[attr-defined]
        (typing.NamedTuple,)
    )
