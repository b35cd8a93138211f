"""Arrays go in and come back as the same kind, dtype and device, on every library."""

import importlib.util

import numpy as np
import pytest
from helpers import requires_torch
from numpy.testing import assert_allclose

import softmaxkit as sk
from softmaxkit import _dispatch


def test_the_kernel_is_on_where_it_is_built():
    # The kernel's tests skip themselves where the extension is not built: a
    # planner that never loaded a built one would skip them all and pass.
    assert _dispatch.available() == (importlib.util.find_spec("softmaxkit._kernel") is not None)
    assert _dispatch.enabled()


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _hardmax(x):
    return (np.arange(x.shape[-1]) == x.argmax(axis=-1)[..., None]).astype(x.dtype)


# Each function beside a plain NumPy formula of it in float64 (fine at these small
# logits): the reference is independent of softmaxkit, so the NumPy case is not
# compared with itself.
CASES = [
    ("softmax", lambda x: sk.softmax(x), _softmax),
    ("log_softmax", lambda x: sk.log_softmax(x), _log_softmax),
    ("logsumexp", lambda x: sk.logsumexp(x, axis=-1), lambda x: np.log(np.exp(x).sum(axis=-1))),
    ("sigmoid", lambda x: sk.sigmoid(x), lambda x: 1 / (1 + np.exp(-x))),
    ("log_sigmoid", lambda x: sk.log_sigmoid(x), lambda x: -np.log1p(np.exp(-x))),
    ("hardmax", lambda x: sk.hardmax(x), _hardmax),
    ("softmax_vjp", lambda x: sk.softmax_vjp(sk.softmax(x), x),
     lambda x: _softmax(x) * (x - (x * _softmax(x)).sum(axis=-1, keepdims=True))),
    ("log_softmax_vjp", lambda x: sk.log_softmax_vjp(sk.log_softmax(x), x),
     lambda x: x - _softmax(x) * x.sum(axis=-1, keepdims=True)),
    ("softmax_jacobian", lambda x: sk.softmax_jacobian(probs=sk.softmax(x)),
     lambda x: np.einsum("...i,ij->...ij", _softmax(x), np.eye(x.shape[-1]))
     - _softmax(x)[..., :, None] * _softmax(x)[..., None, :]),
]  # fmt: skip
FUNCTIONS = [pytest.param(function, reference, id=name) for name, function, reference in CASES]


@pytest.mark.parametrize(("function", "reference"), FUNCTIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_library_and_dtype_out(backend, function, reference, dtype):
    values = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 3.0, -2.0, 1.0]])
    x = backend.asarray(values, dtype=dtype)
    y = function(x)
    assert backend.is_native(y)
    assert y.dtype == x.dtype
    tolerance = 1e-6 if dtype == "float32" else 1e-14
    assert_allclose(backend.to_numpy(y), reference(values.astype(dtype).astype(np.float64)), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("function", "reference"), FUNCTIONS)
def test_integer_input_promotes_to_the_default_float(backend, function, reference):
    x = backend.asarray([[1, 2, 3, 4]], dtype="int64")
    y = function(x)
    default = backend.xp.__array_namespace_info__().default_dtypes()["real floating"]
    assert y.dtype == default
    assert_allclose(backend.to_numpy(y), reference(np.array([[1.0, 2.0, 3.0, 4.0]])), rtol=1e-6, atol=1e-7)


def test_bool_input_promotes(backend):
    y = sk.softmax(backend.asarray([True, False], dtype="bool"))
    assert_allclose(backend.to_numpy(y), [np.e / (1 + np.e), 1 / (1 + np.e)], rtol=1e-6)


def test_python_lists_give_numpy_float64():
    y = sk.softmax([[1, 2], [3, 4]])
    assert isinstance(y, np.ndarray) and y.dtype == np.float64


def test_numpy_float32_is_kept():
    y = sk.log_softmax(np.array([1.0, 2.0], dtype=np.float32))
    assert y.dtype == np.float32


@requires_torch
class TestTorch:
    def test_bfloat16_computes_in_float32(self):
        import torch

        x = torch.tensor([1000.0, 999.0, -5.0], dtype=torch.bfloat16)
        y = sk.softmax(x)
        assert y.dtype == torch.bfloat16
        expected = torch.softmax(x.float(), dim=-1).to(torch.bfloat16)
        assert torch.equal(y, expected)

    def test_float16_logsumexp(self):
        import torch

        x = torch.tensor([60000.0, 60000.0], dtype=torch.float16)
        y = sk.logsumexp(x)
        assert y.dtype == torch.float16
        assert float(y) == float(torch.tensor(60000.0 + np.log(2), dtype=torch.float16))

    def test_temperature_tensor(self):
        import torch

        x = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=torch.float64)
        t = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
        y = sk.softmax(x, temperature=t)
        assert_allclose(y.numpy(), [sk.softmax([1.0, 2.0]), sk.softmax([0.5, 1.0])], rtol=1e-15)

    def test_where_tensor(self):
        import torch

        x = torch.tensor([1.0, 2.0, 3.0])
        y = sk.softmax(x, where=torch.tensor([True, False, True]))
        assert isinstance(y, torch.Tensor)
        assert y[1].item() == 0.0

    def test_numpy_temperature_with_torch_input(self):
        import torch

        y = sk.softmax(torch.tensor([[1.0, 2.0]]), temperature=np.array([[2.0]]))
        assert isinstance(y, torch.Tensor)
        assert_allclose(y.numpy(), [sk.softmax([0.5, 1.0])], rtol=1e-6)

    def test_requires_grad_input_is_accepted(self):
        import torch

        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = sk.softmax(x)
        assert_allclose(y.detach().numpy(), [0.09003057, 0.24472847, 0.66524096], atol=1e-7)


def test_dask_stays_lazy_and_chunked():
    pytest.importorskip("dask")
    import dask.array as da

    x = da.from_array(np.arange(12.0).reshape(3, 4), chunks=(1, 2))
    y = sk.softmax(x, axis=-1)
    assert isinstance(y, da.Array)
    assert_allclose(y.compute(), sk.softmax(np.arange(12.0).reshape(3, 4)), rtol=1e-15)
    lse = sk.logsumexp(x, axis=0)
    assert isinstance(lse, da.Array)
    assert_allclose(lse.compute(), sk.logsumexp(np.arange(12.0).reshape(3, 4), axis=0), rtol=1e-15)


def test_jax_without_float64_computes_float32_with_compensation():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(False):
        # x / T = [60, 0.2, 10.1]: the other probabilities (e^-59.8 ~ 1e-26, e^-49.9)
        # are normal float32 numbers, and 60 - 0.2 rounds by ~2e-6, so without the
        # compensated shift they are ~15 ulp off (the earlier row [60, -59.9, 0.1]
        # underflowed them to 0 and passed without it).
        x = jax.numpy.asarray([[30.0, 0.1, 5.05], [-jax.numpy.inf] * 3], dtype="float32")
        y = jax.jit(lambda v: sk.softmax(v, temperature=0.5))(x)
        assert y.dtype == jax.numpy.float32
        expected = sk.softmax(np.asarray(x, dtype=np.float64), temperature=0.5)
        assert_allclose(np.asarray(y), expected, rtol=3e-7, atol=1e-45)


def test_jax_gradients_flow_through_the_array_api_path():
    jax = pytest.importorskip("jax")
    grad = jax.grad(lambda v: sk.logsumexp(v))(jax.numpy.asarray([1.0, 2.0]))
    assert_allclose(np.asarray(grad), sk.softmax([1.0, 2.0]), rtol=1e-15)


def test_bad_temperature_array_is_reported_on_every_eager_library(eager_backend):
    backend = eager_backend
    x = backend.asarray([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"temperature must contain only finite numbers > 0, got -2.0"):
        sk.softmax(x, temperature=backend.asarray([[1.0], [-2.0]]))


def test_class_index_out_of_range_is_reported_on_every_eager_library(eager_backend):
    backend = eager_backend
    x = backend.asarray([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"target contains class index 5"):
        sk.cross_entropy(x, backend.asarray([0, 5], dtype="int64"))


def test_dask_values_are_not_computed_for_checks():
    da = pytest.importorskip("dask.array")
    calls = []

    def record(block):
        calls.append(block.shape)
        return block

    target = da.from_array(np.array([0, 1]), chunks=1).map_blocks(record, dtype=np.int64)
    loss = sk.cross_entropy(da.from_array(np.zeros((2, 3)), chunks=1), target)
    assert calls == [] or all(shape == (0,) for shape in calls)  # dask may probe with empty blocks
    assert_allclose(loss.compute(), np.log(3.0), rtol=1e-15)


@requires_torch
def test_numpy_arguments_follow_a_torch_input():
    import torch

    logits = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    loss = sk.cross_entropy(logits, np.array([2]), weight=np.array([1.0, 1.0, 2.0]))
    assert isinstance(loss, torch.Tensor)
    assert_allclose(loss.numpy(), sk.cross_entropy(logits.numpy(), [2]), rtol=1e-15)
