"""What the functional layer needs to know about an array library.

One fact varies between libraries and devices: whether float64 is available
(JAX without x64, Apple MPS and some accelerators lack it). Everything else is
plain array API.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np


def compute_dtype(xp: Any, dtype: Any, device: Any) -> Any:
    """The dtype the softmax family computes in for inputs of ``dtype``.

    float16 and bfloat16 compute in float32. float32 computes in float64 where
    the device has it, which makes float32 results correctly rounded in all
    but rare ties; float64 computes in float64 with compensated arithmetic, and
    a floating dtype of 64 bits or more that is not float64 (NumPy's
    longdouble) in itself, so that no dtype computes in a narrower one.
    """
    if dtype == xp.float64:
        return xp.float64
    if dtype == xp.float32:
        return xp.float64 if has_float64(xp, device) else xp.float32
    if xp.finfo(dtype).bits < 32:  # float16, bfloat16
        return xp.float32
    return dtype


def has_float64(xp: Any, device: Any) -> bool:
    try:
        dtypes = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    except Exception:  # an old namespace without the inspection API
        return True
    if "float64" not in dtypes:
        return False
    if array_api_compat.is_jax_namespace(xp):
        # jax lists float64 even when x64 mode is off, then silently makes float32.
        return bool(xp.asarray(0.0, dtype=xp.float64).dtype == xp.float64)
    return True


def cast(xp: Any, values: Any, dtype: Any) -> Any:
    """``values`` in the output ``dtype``, without NumPy's overflow warning.

    A result computed in a wider dtype can lie beyond the output's range
    (``log_softmax`` of float16 ``[60000, -60000]`` is ``-120000`` at the
    second entry); rounding it to ``-inf`` is the correctly rounded result,
    not an error, so NumPy's "overflow encountered in cast" is not raised.
    """
    with np.errstate(over="ignore"):
        result = xp.astype(values, dtype, copy=False)
    # One rule for scalar results: a full reduction is a 0-d array of the
    # input's library, as in torch, JAX and the array API; NumPy's reductions
    # give NumPy scalars (np.float64), which are made 0-d arrays here.
    return np.asarray(result) if isinstance(result, np.generic) else result
