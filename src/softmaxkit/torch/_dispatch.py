"""Where a softmaxkit.torch op runs: the one place that looks at the tensor's device and dtype.

- float32/float64 CPU tensors: softmaxkit's public NumPy functions on
  zero-copy NumPy views of the tensors (so the compiled kernel serves them
  once it is built in; the result comes back with ``torch.from_numpy``, no
  copy either);
- CUDA tensors: the Triton kernels (``softmaxkit.triton``) when they import,
  else softmaxkit's array-API path on the tensors themselves, which runs
  torch's own ops on the GPU; never a host copy;
- anything else (bfloat16/float16 on the CPU, other devices): the array-API
  path on the tensors.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch

import softmaxkit

NUMPY = "numpy"
TRITON = "triton"
ARRAY_API = "array_api"

_NUMPY_DTYPES = (torch.float32, torch.float64)


def route(x: torch.Tensor) -> str:
    """Which implementation serves ``x``: NUMPY, TRITON or ARRAY_API."""
    if x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES:
        return NUMPY
    if x.device.type == "cuda" and triton_module() is not None:
        return TRITON
    return ARRAY_API


def triton_module() -> Any | None:
    """``softmaxkit.triton`` (the GPU kernels), or None where it does not import."""
    try:
        return importlib.import_module("softmaxkit.triton")
    except ImportError:
        return None


def call(name: str, x: torch.Tensor, *arrays: Any, dim: int, **options: Any) -> Any:
    """``softmaxkit.<name>(x, *arrays, axis=dim, **options)`` on the route of ``x``.

    ``arrays`` and tensor ``options`` are tensors on the device of ``x`` (or
    None); the result is a tensor, or a tuple of tensors for a function that
    returns a NamedTuple.
    """
    kind = route(x)
    if kind == TRITON:
        return getattr(triton_module(), name)(x, *arrays, dim=dim, **options)
    if kind == ARRAY_API:
        return getattr(softmaxkit, name)(x, *arrays, axis=dim, **options)
    arrays = tuple(_numpy_view(a) for a in arrays)
    options = {key: _numpy_view(value) for key, value in options.items()}
    result = getattr(softmaxkit, name)(_numpy_view(x), *arrays, axis=dim, **options)
    if isinstance(result, tuple):
        return tuple(_tensor(r) for r in result)
    return _tensor(result)


def _numpy_view(value: Any) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    # .numpy() shares memory; it refuses tensors that need grad or carry a
    # lazy negation/conjugation bit, which resolve_* materialise.
    return value.detach().resolve_conj().resolve_neg().numpy()


def _tensor(array: Any) -> torch.Tensor:
    array = np.asarray(array)
    if not array.flags.writeable:  # torch.from_numpy warns on read-only memory
        array = array.copy()
    return torch.from_numpy(array)
