"""Moving arrays between the input's library and device and host NumPy: the one place that does.

Used for what the array API cannot do on the device: seeded random draws,
reading ids and values to validate them or to name a bad one in an error
message, and the NumPy-only steps of calibration.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array on the host (computing a lazy array)."""
    values: np.ndarray
    if array_api_compat.is_torch_array(x):
        values = x.detach().cpu().resolve_conj().resolve_neg().numpy()
    elif array_api_compat.is_cupy_array(x):
        values = x.get()
    else:
        values = np.asarray(x)
    return values


def from_numpy(xp: Any, values: np.ndarray, *, like: Any, dtype: Any) -> Any:
    """NumPy ``values`` as an array of ``xp`` in ``dtype`` on the device of ``like``."""
    if array_api_compat.is_torch_namespace(xp):
        import torch

        return torch.from_numpy(values).to(device=like.device, dtype=dtype)
    return xp.astype(xp.asarray(values, device=array_api_compat.device(like)), dtype)
