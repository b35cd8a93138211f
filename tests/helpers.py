"""Helpers shared by the tests: array libraries, ulp errors, optional peers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from numpy.testing import assert_array_equal


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


requires_torch = pytest.mark.skipif(not has_module("torch"), reason="needs torch")
requires_scipy = pytest.mark.skipif(not has_module("scipy"), reason="needs scipy")


class Backend:
    """One array library: how to make its arrays and read them back as NumPy.

    ``numpy_spec`` is NumPy with the compiled kernel switched off: the array-API
    code, which is the specification, run on NumPy arrays (``numpy`` takes the
    kernel whenever it is built).
    """

    def __init__(self, name: str):
        self.name = name
        self.kernel = name != "numpy_spec"
        # XLA on the CPU flushes subnormal results to zero.
        self.flushes_subnormals = name == "jax"
        if name in ("numpy", "numpy_spec"):
            import array_api_compat.numpy as xp

            self.xp = xp
        elif name == "array_api_strict":
            import array_api_strict as xp

            self.xp = xp
        elif name == "torch":
            import array_api_compat.torch as xp

            self.xp = xp
        elif name == "dask":
            import array_api_compat.dask.array as xp

            self.xp = xp
        elif name == "jax":
            import jax.numpy as xp

            self.xp = xp
        else:  # pragma: no cover
            raise ValueError(name)

    def asarray(self, values, dtype: str = "float64"):
        values = np.asarray(values)
        if self.name == "torch":
            import torch

            return torch.asarray(values.astype(dtype))
        if self.name == "dask":
            import dask.array as da

            return da.from_array(values.astype(dtype), chunks=2)
        return self.xp.asarray(values.astype(dtype))

    def to_numpy(self, array) -> np.ndarray:
        if self.name == "torch":
            return array.detach().cpu().numpy()
        if self.name == "dask":
            return np.asarray(array.compute())
        return np.asarray(array)

    def call(self, function, *arrays, **kwargs):
        """``function(*arrays, **kwargs)`` on this library, read back as NumPy.

        The positional arguments are NumPy arrays (or values NumPy takes), and so
        are the keyword arguments that are NumPy arrays: each is made this library's
        array of the same dtype. Other keyword arguments pass as they are.
        """
        from softmaxkit import _dispatch

        converted = [self.asarray(a, dtype=np.asarray(a).dtype.name) for a in arrays]
        options = {
            key: self.asarray(value, dtype=value.dtype.name) if isinstance(value, np.ndarray) else value
            for key, value in kwargs.items()
        }
        with _dispatch.use_kernel(self.kernel):
            return self.to_numpy(function(*converted, **options))

    def is_native(self, array) -> bool:
        import array_api_compat

        return array_api_compat.array_namespace(array) is self.xp

    def __repr__(self) -> str:
        return self.name


BACKEND_NAMES = [
    name
    for name, module in [
        ("numpy", "numpy"),
        ("numpy_spec", "numpy"),
        ("array_api_strict", "array_api_strict"),
        ("torch", "torch"),
        ("dask", "dask"),
        ("jax", "jax"),
    ]
    if has_module(module)
]


# The paths that compute the specification's numbers: the kernel, the array-API code
# on NumPy, and the array-API code on the two other libraries with float16 and
# eager values (array-api-strict has no float16; dask's graphs are checked in
# test_backends.py and test_dask.py).
SPEC_PATHS = [name for name in BACKEND_NAMES if name in ("numpy", "numpy_spec", "torch", "jax")]


def ulp_error(actual, reference) -> np.ndarray:
    """|actual - reference| in units of the last place of ``actual``'s dtype at ``reference``.

    ``reference`` holds mpmath numbers (or anything mpmath.mpf accepts); an
    infinite reference must be matched exactly (error 0, else inf).
    """
    import mpmath

    actual = np.asarray(actual)
    out = np.empty(actual.shape, dtype=np.float64)
    for idx in np.ndindex(actual.shape):
        ref = mpmath.mpf(reference[idx])
        value = actual[idx]
        if mpmath.isinf(ref):
            out[idx] = 0.0 if value == float(ref) else np.inf
            continue
        ulp = np.spacing(actual.dtype.type(abs(float(ref))))
        out[idx] = float(abs(mpmath.mpf(float(value)) - ref) / mpmath.mpf(float(ulp)))
    return out


def mpmath_softmax_family(x):
    """mpmath softmax, log_softmax and logsumexp of each row of ``x``.

    The normaliser is split as in the library, ``log(k + t) = log k + log1p(t / k)``
    (k entries at the maximum, t the sum of the others), so that log-probabilities
    near 0 keep their relative accuracy at 40 digits.
    """
    import mpmath

    mpmath.mp.dps = 40
    rows, _ = x.shape
    p = np.empty(x.shape, dtype=object)
    logp = np.empty(x.shape, dtype=object)
    lse = np.empty(rows, dtype=object)
    for i in range(rows):
        shifted = [mpmath.mpf(float(v)) - mpmath.mpf(float(x[i].max())) for v in x[i]]
        k = sum(1 for d in shifted if d == 0)
        t = mpmath.fsum(mpmath.exp(d) for d in shifted if d != 0)
        log_norm = mpmath.log(k) + mpmath.log1p(t / k)
        lse[i] = mpmath.mpf(float(x[i].max())) + log_norm
        for j, d in enumerate(shifted):
            logp[i, j] = d - log_norm
            p[i, j] = mpmath.exp(logp[i, j])
    return p, logp, lse


# ---- the compiled kernel against the array-API path (its specification) ----

# The documented accuracy of each path against the exact value (README, checked on
# every path by tests/test_accuracy.py): float16 correctly rounded from float32 work,
# float32 within 1 ulp, float64 within 4. Two paths that each meet it differ by at
# most twice that (float16: both round nearly the same float32 value, 1 ulp apart).
DOCUMENTED_ULP = {np.dtype(np.float16): 0.5, np.dtype(np.float32): 1, np.dtype(np.float64): 4}
MAX_ULP = {dtype: max(1, 2 * ulps) for dtype, ulps in DOCUMENTED_ULP.items()}


def spec(function, *args, **kwargs):
    """``function`` computed by the array-API code, with the kernel switched off."""
    from softmaxkit import _dispatch

    with _dispatch.use_kernel(False):
        return function(*args, **kwargs)


def assert_agree(actual, expected, *, scale=None):
    """Same dtype, shape and NaN/inf pattern; finite values within MAX_ULP ulps.

    With ``scale``, the ulps are those of ``scale`` (for results that cancel,
    such as gradients, whose error is relative to the terms, not the result).
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    native = expected.dtype.newbyteorder("=")
    assert actual.dtype.newbyteorder("=") == native
    assert actual.shape == expected.shape
    assert_array_equal(np.isnan(actual), np.isnan(expected))
    infinite = np.isinf(expected)
    assert_array_equal(actual[infinite], expected[infinite])
    finite = np.isfinite(expected)
    a = actual[finite].astype(np.float64)
    e = expected[finite].astype(np.float64)
    size = np.abs(expected[finite]).astype(native) if scale is None else native.type(scale)
    spacing = np.maximum(np.spacing(size).astype(np.float64), np.finfo(native).smallest_subnormal)
    err = np.abs(a - e) / spacing
    assert err.size == 0 or err.max() <= MAX_ULP[native], f"{err.max()} ulp"


def backend_cases():
    """``(id, backend, to_array)`` for every registered backend (``softmaxkit._backends``)
    but the reference, with each kind of array it takes here: NumPy arrays, CPU
    torch tensors, and for Triton CPU tensors under its interpreter (set
    ``TRITON_INTERPRET=1`` before triton is imported). A backend registered
    later is picked up here, so the agreement tests cover it at once."""
    from softmaxkit import _backends

    kinds = [("numpy", np.asarray)]
    if has_module("torch"):
        import torch

        kinds.append(("torch", lambda a: None if a is None else torch.from_numpy(np.asarray(a))))
    cases = []
    for backend in _backends.registered():
        if backend.NAME == "reference":
            continue
        for kind, convert in kinds:
            sample = convert(np.zeros((2, 3)))
            interpreted = backend.NAME == "triton" and kind == "torch" and has_module("triton")
            if backend.takes(sample) or interpreted:
                cases.append(pytest.param(backend, convert, id=f"{backend.NAME}-{kind}"))
    return cases
