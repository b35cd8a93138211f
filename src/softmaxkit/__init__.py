"""softmaxkit: softmax and its whole family, done right.

Accurate to the last bit that matters, with one explicit edge-case policy,
on NumPy, PyTorch, JAX, CuPy, Dask and any other array-API library.

>>> import softmaxkit as sk
>>> sk.softmax([1.0, 2.0, 3.0])
array([0.09003057, 0.24472847, 0.66524096])
"""

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
from .losses import (
    CrossEntropyResult,
    cross_entropy,
    cross_entropy_and_grad,
    cross_entropy_grad,
    LinearCrossEntropyResult,
    linear_cross_entropy,
    linear_cross_entropy_and_grad,
    nll_loss,
)
from ._threads import get_num_threads, set_num_threads
from .variants import *  # noqa: F403 (the names are listed in variants.__all__)
from .variants import __all__ as _variants_all

__version__ = "0.1.0"

__all__ = [
    "CrossEntropyResult",
    "__version__",
    "cross_entropy",
    "cross_entropy_and_grad",
    "cross_entropy_grad",
    "get_num_threads",
    "hardmax",
    "LinearCrossEntropyResult",
    "linear_cross_entropy",
    "linear_cross_entropy_and_grad",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_vjp",
    "logsumexp",
    "nll_loss",
    "set_num_threads",
    "sigmoid",
    "softmax",
    "softmax_jacobian",
    "softmax_vjp",
    *_variants_all,
]
