"""Types of the compiled extension ``softmaxkit._kernel`` (src/softmaxkit/_kernels/_binding.c).

Private: the functional layer calls it through ``_dispatch``. Arrays are
NumPy float32/float64 arrays with the layouts each docstring in the binding
states; outputs are written in place.
"""

import numpy as np
from numpy.typing import NDArray

_Floats = NDArray[np.float32] | NDArray[np.float64]

def reduce(
    op: int, x: _Floats, out: _Floats, mask: NDArray[np.bool_] | None, n_threads: int, /
) -> None: ...
def last_axis(log: bool, x: _Floats, out: _Floats, /) -> None: ...
def vjp(
    log: bool,
    y: _Floats,
    g: _Floats,
    out: _Floats,
    mask: NDArray[np.bool_] | None,
    temperature: float,
    n_threads: int,
    /,
) -> None: ...
def cross_entropy(
    logits: _Floats,
    target: NDArray[np.int64] | None,
    probs: _Floats | None,
    weight: NDArray[np.float64] | None,
    smoothing_weight: float,
    ignore_index: int,
    smoothing: float,
    grad_scale: float,
    loss: NDArray[np.float64],
    grad: _Floats | None,
    n_threads: int,
    /,
) -> None: ...
def isa() -> str: ...
