"""softmaxkit: softmax and its whole family, done right.

Accurate to the last bit that matters, with one explicit edge-case policy,
on NumPy, PyTorch, JAX, CuPy, Dask and any other array-API library.

>>> import softmaxkit as sk
>>> sk.softmax([1.0, 2.0, 3.0])
array([0.09003057, 0.24472847, 0.66524096])
"""

from typing import TYPE_CHECKING

from . import _lazy, variants  # the package alone: its names load on first use
from ._core import (
    hardmax,
    log_sigmoid,
    log_softmax,
    log_softmax_vjp,
    logsumexp,
    sigmoid,
    softmax,
    softmax_jacobian,
    softmax_vjp,
)
from ._threads import get_num_threads, set_num_threads

if TYPE_CHECKING:  # at run time, export_lazily below imports these on first use
    from .losses import (
        CrossEntropyResult as CrossEntropyResult,
        LinearCrossEntropyResult as LinearCrossEntropyResult,
        cross_entropy as cross_entropy,
        cross_entropy_and_grad as cross_entropy_and_grad,
        cross_entropy_grad as cross_entropy_grad,
        linear_cross_entropy as linear_cross_entropy,
        linear_cross_entropy_and_grad as linear_cross_entropy_and_grad,
        nll_loss as nll_loss,
    )
    from .variants import *  # noqa: F403 (the names are listed in variants.__all__)

_LOSSES = (
    "CrossEntropyResult",
    "LinearCrossEntropyResult",
    "cross_entropy",
    "cross_entropy_and_grad",
    "cross_entropy_grad",
    "linear_cross_entropy",
    "linear_cross_entropy_and_grad",
    "nll_loss",
)
# The losses and the variants (and their dependencies) load when first used.
_lazy.export_lazily(
    __name__,
    {**dict.fromkeys(_LOSSES, ".losses"), **dict.fromkeys(_lazy.exported(variants), ".variants")},
    submodules=("losses", "variants"),
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "get_num_threads",
    "hardmax",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "set_num_threads",
    "sigmoid",
    "softmax",
    "softmax_jacobian",
    "softmax_vjp",
    *_LOSSES,
    *_lazy.exported(variants),
]
