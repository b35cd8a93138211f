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
    hardmax as hardmax,
    log_sigmoid as log_sigmoid,
    log_softmax as log_softmax,
    log_softmax_vjp as log_softmax_vjp,
    logsumexp as logsumexp,
    sigmoid as sigmoid,
    softmax as softmax,
    softmax_jacobian as softmax_jacobian,
    softmax_vjp as softmax_vjp,
)
from ._threads import get_num_threads as get_num_threads, set_num_threads as set_num_threads

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
    from .variants import *  # noqa: F403 (variants' names, imported there as themselves)

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

__version__ = "0.1.0"

# The losses and the variants (and their dependencies) load when first used.
# No literal __all__: type checkers take the names imported as themselves above
# (and the star import) as the exports, where a literal __all__ would have to
# list the lazy names a third time (mypy reads only string literals in it); at
# run time export_lazily makes __all__ the eager names and then the lazy ones.
_lazy.export_lazily(
    __name__,
    {**dict.fromkeys(_LOSSES, ".losses"), **dict.fromkeys(_lazy.exported(variants), ".variants")},
    submodules=("losses", "variants"),
    eager=(
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
    ),
)
