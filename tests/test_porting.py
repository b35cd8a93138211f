"""Code ported from scipy, torch, JAX or scikit-learn gets the peer's numbers or a clear error.

Each test pins one of the porting traps of issue 15: a call that used to give
a different number than the peer without a word. The peer is the oracle where
it is installed.
"""

import numpy as np
import pytest
from helpers import requires_scipy, requires_torch
from numpy.testing import assert_allclose

import softmaxkit as sk


# --- temperature: one number per slice, never per class -------------------


@pytest.mark.parametrize(
    "function",
    [
        sk.softmax,
        sk.log_softmax,
        lambda x, **kw: sk.entropy(logits=x, **kw),
        lambda x, **kw: sk.gumbel_softmax(x, seed=0, **kw),
    ],
    ids=["softmax", "log_softmax", "entropy", "gumbel_softmax"],
)
def test_a_temperature_that_varies_along_the_classes_is_refused(function):
    # Pins: temperature=[1, 2, 4] on a (3, 3) input divided class j by t[j]
    # (every row came out [0.36, 0.36, 0.28]).
    x = np.tile([1.0, 2.0, 3.0], (3, 1))
    with pytest.raises(ValueError, match=r"temperature of shape \(3,\) varies along axis 1.*\(3, 1\)"):
        function(x, temperature=[1.0, 2.0, 4.0])


def test_a_temperature_per_row_divides_each_row():
    x = np.tile([1.0, 2.0, 3.0], (3, 1))
    t = np.array([1.0, 2.0, 4.0])
    expected = np.stack([sk.softmax(x[i], temperature=t[i]) for i in range(3)])
    assert_allclose(sk.softmax(x, temperature=t[:, None]), expected, rtol=1e-15)


def test_a_temperature_per_column_is_fine_when_the_softmax_runs_over_rows():
    x = np.tile([1.0, 2.0, 3.0], (3, 1)).T  # softmax over axis 0: one slice per column
    t = np.array([1.0, 2.0, 4.0])
    expected = np.stack([sk.softmax(x[:, j], temperature=t[j]) for j in range(3)], axis=1)
    assert_allclose(sk.softmax(x, axis=0, temperature=t), expected, rtol=1e-15)


def test_a_vjp_refuses_a_temperature_per_class_too():
    y = sk.softmax(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="varies along axis 1"):
        sk.softmax_vjp(y, np.ones((3, 3)), temperature=[1.0, 2.0, 4.0])


# --- logsumexp: scipy's and jax's default axis and return_sign -------------


@requires_scipy
def test_logsumexp_reduces_every_axis_by_default_as_scipy():
    # Pins: sk.logsumexp(2-D) returned one value per row (axis=-1).
    import scipy.special

    x = np.arange(12.0).reshape(3, 4)
    result = sk.logsumexp(x)
    assert result.shape == ()
    assert_allclose(result, scipy.special.logsumexp(x), rtol=1e-15)


def test_logsumexp_reduces_every_axis_by_default_as_jax():
    jax = pytest.importorskip("jax")

    x = np.arange(12.0).reshape(3, 4)
    assert_allclose(sk.logsumexp(jax.numpy.asarray(x)), jax.nn.logsumexp(x), rtol=1e-15)
    assert_allclose(sk.logsumexp(x), jax.scipy.special.logsumexp(x), rtol=1e-15)


SIGNED_CASES = [
    ([1.0, 1.0, 1.0], [1.0, -1.0, -1.0]),  # scipy's test: (1, -1)
    ([1.0, 1.0], [1.0, -1.0]),  # a zero sum: (-inf, 0)
    ([1.0, 2.0], [-1.0, -1.0]),
    ([0.0, -40.0], [1.0, -1e-10]),  # a dominant term keeps its relative accuracy
    ([np.inf, 1.0], [-1.0, 1.0]),  # (inf, -1)
    ([np.inf, np.inf], [1.0, -1.0]),  # (nan, nan)
    ([np.nan, 1.0], [1.0, 1.0]),
    ([-np.inf, -np.inf], [1.0, 1.0]),
    ([1.0, 2.0, 3.0], [0.5, 2.0, 1.0]),
]


@requires_scipy
@pytest.mark.parametrize("a, b", SIGNED_CASES, ids=str)
def test_return_sign_matches_scipy(a, b):
    import scipy.special

    with np.errstate(all="ignore"):
        expected = scipy.special.logsumexp(a, b=b, return_sign=True)
    value, sign = sk.logsumexp(a, b=b, return_sign=True)
    assert_allclose(value, expected[0], rtol=1e-15)
    assert_allclose(sign, expected[1], rtol=0)


# jax rounds log(1 - 1e-10 e^-40) to 0 (scipy and softmaxkit keep -4.2e-28): not a jax oracle case.
@pytest.mark.parametrize("a, b", [case for case in SIGNED_CASES if case[1] != [1.0, -1e-10]], ids=str)
def test_return_sign_matches_jax(a, b):
    jax = pytest.importorskip("jax")

    expected = jax.scipy.special.logsumexp(np.array(a), b=np.array(b), return_sign=True)
    value, sign = sk.logsumexp(jax.numpy.asarray(a), b=jax.numpy.asarray(b), return_sign=True)
    assert_allclose(value, expected[0], rtol=1e-15)
    assert_allclose(sign, expected[1], rtol=0)


def test_return_sign_of_an_axis_and_of_an_empty_sum():
    value, sign = sk.logsumexp([[1.0, 2.0], [1.0, 1.0]], b=[[1.0, -1.0], [1.0, -1.0]], axis=1, return_sign=True)
    assert_allclose(value, [np.log(np.e**2 - np.e), -np.inf], rtol=1e-15)
    assert_allclose(sign, [-1.0, 0.0])
    value, sign = sk.logsumexp(np.empty(0), return_sign=True)
    assert (float(value), float(sign)) == (-np.inf, 0.0)  # jax's sign; scipy says -1


def test_integer_input_with_float32_weights_follows_jax_promotion():
    # Pins: int32 x with float32 b came back float64 where jax gives float32.
    jnp = pytest.importorskip("jax.numpy")
    import jax.scipy.special

    x = jnp.arange(6, dtype=jnp.int32).reshape(2, 3)
    b = jnp.ones(3, dtype=jnp.float32)
    assert sk.logsumexp(x, b=b).dtype == jax.scipy.special.logsumexp(x, b=b).dtype == jnp.float32


@requires_scipy
def test_integer_input_with_float32_weights_follows_numpy_promotion():
    import scipy.special

    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.ones(3, dtype=np.float32)
    assert sk.logsumexp(x, b=b).dtype == scipy.special.logsumexp(x, b=b).dtype == np.float64


# --- scalar results: always a 0-d array of the input's library -------------

X = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
TARGET = np.array([0, 2])
FULL_REDUCTIONS = {
    "logsumexp": lambda: sk.logsumexp(X),
    "logsumexp_b": lambda: sk.logsumexp(X, b=np.ones(3)),
    "entropy": lambda: sk.entropy(logits=X[0]),
    "entropy_probs": lambda: sk.entropy(probs=[0.9, 0.1]),
    "kl_divergence": lambda: sk.kl_divergence(logits_p=X[0], logits_q=X[1]),
    "cross_entropy": lambda: sk.cross_entropy(X, TARGET),
    "nll_loss": lambda: sk.nll_loss(sk.log_softmax(X), TARGET),
    "sparsemax_loss": lambda: sk.sparsemax_loss(X, TARGET),
    "entmax15_loss": lambda: sk.entmax15_loss(X, TARGET),
    "linear_cross_entropy": lambda: sk.linear_cross_entropy(X, np.ones((4, 3)), TARGET),
}


@pytest.mark.parametrize("name", FULL_REDUCTIONS)
def test_a_full_reduction_of_numpy_input_is_a_0d_ndarray(name):
    # Pins: entropy and kl_divergence returned NumPy scalars (np.float64)
    # where cross_entropy returned a 0-d array.
    result = FULL_REDUCTIONS[name]()
    assert type(result) is np.ndarray and result.shape == ()


# --- JAX: no inf or NaN made from finite input (jax.debug_infs / debug_nans) --


def _jax_calls():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.asarray([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    y = sk.softmax(x)
    target = jnp.asarray([0, 2])
    return {
        "softmax": lambda: sk.softmax(x),
        "softmax_temperature": lambda: sk.softmax(x, temperature=0.5),
        "log_softmax": lambda: sk.log_softmax(x),
        "logsumexp": lambda: sk.logsumexp(x),
        "logsumexp_b": lambda: sk.logsumexp(x, b=jnp.asarray([1.0, 2.0, 0.5]), axis=-1),
        "logsumexp_sign": lambda: sk.logsumexp(x, b=jnp.asarray([1.0, -2.0, 0.5]), return_sign=True),
        "softmax_vjp": lambda: sk.softmax_vjp(y, x),
        "log_softmax_vjp": lambda: sk.log_softmax_vjp(jnp.log(y), x),
        "softmax_vjp_temperature": lambda: sk.softmax_vjp(y, x, temperature=jnp.asarray([[0.5], [2.0]])),
        "softmax_jacobian": lambda: sk.softmax_jacobian(probs=y),
        "entropy": lambda: sk.entropy(logits=x),
        "entropy_probs": lambda: sk.entropy(probs=y),
        "kl_divergence": lambda: sk.kl_divergence(logits_p=x, logits_q=2 * x),
        "cross_entropy": lambda: sk.cross_entropy(x, target),
        "cross_entropy_grad": lambda: sk.cross_entropy_grad(x, target),
        "nll_loss": lambda: sk.nll_loss(sk.log_softmax(x), target),
        "sparsemax": lambda: sk.sparsemax(x),
        "entmax15": lambda: sk.entmax15(x),
        "entmax_bisect": lambda: sk.entmax_bisect(x, alpha=1.3),
        "sparsemax_loss": lambda: sk.sparsemax_loss(x, target),
        "entmax15_loss": lambda: sk.entmax15_loss(x, target),
        "gumbel_softmax": lambda: sk.gumbel_softmax(x, seed=0),
        "hardmax": lambda: sk.hardmax(x),
        "sigmoid": lambda: sk.sigmoid(x),
        "log_sigmoid": lambda: sk.log_sigmoid(x),
        "topk": lambda: sk.topk(x, 2),
        "linear_cross_entropy": lambda: sk.linear_cross_entropy(x, jnp.ones((4, 3)), target),
    }


JAX_CALLS = [
    "softmax", "softmax_temperature", "log_softmax", "logsumexp", "logsumexp_b", "logsumexp_sign",
    "softmax_vjp", "log_softmax_vjp", "softmax_vjp_temperature", "softmax_jacobian", "entropy",
    "entropy_probs", "kl_divergence", "cross_entropy", "cross_entropy_grad", "nll_loss", "sparsemax",
    "entmax15", "entmax_bisect", "sparsemax_loss", "entmax15_loss", "gumbel_softmax", "hardmax",
    "sigmoid", "log_sigmoid", "topk", "linear_cross_entropy",
]  # fmt: skip


@pytest.mark.parametrize("mode", ["debug_nans", "debug_infs"])
@pytest.mark.parametrize("name", JAX_CALLS)
def test_finite_input_makes_no_inf_or_nan_under_jax_debug_modes(name, mode):
    # Pins: every call raised FloatingPointError under jax.debug_infs(True) or
    # debug_nans(True): the spec built arrays of inf/NaN even for finite input.
    # (Masks, segments and top-k filtering write -inf by definition, as jax's
    # own softmax(where=) and segment_max do under debug_infs.)
    jax = pytest.importorskip("jax")

    call = _jax_calls()[name]
    with getattr(jax, mode)(True):
        jax.block_until_ready(call())


# --- torch ----------------------------------------------------------------


def test_import_softmaxkit_torch_without_torch_says_what_to_install():
    # Pins: a bare "ModuleNotFoundError: No module named 'torch'".
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; import softmaxkit.torch"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "ImportError: softmaxkit.torch needs PyTorch, which is not installed: pip install torch" in result.stderr


@requires_torch
@pytest.mark.parametrize("shape", [(5,), (4, 5), (4, 5, 3)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_nll_loss_matches_torch(shape, reduction):
    # Pins: softmaxkit.torch had no nll_loss.
    import torch
    import torch.nn.functional as F

    import softmaxkit.torch as skt

    generator = torch.Generator().manual_seed(0)
    logp = torch.randn(shape, dtype=torch.float64, generator=generator).log_softmax(0 if len(shape) == 1 else 1)
    logp.requires_grad_(True)
    target_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    target = torch.randint(0, 5, target_shape, generator=generator)
    if target.ndim:
        target.view(-1)[0] = -100
    weight = torch.tensor([0.5, 2.0, 1.0, 1.5, 0.25], dtype=torch.float64)
    ours = skt.nll_loss(logp, target, weight, reduction=reduction)
    theirs = F.nll_loss(logp, target, weight, reduction=reduction)
    assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-14)
    (grad_ours,) = torch.autograd.grad(ours.sum(), logp)
    (grad_theirs,) = torch.autograd.grad(theirs.sum(), logp)
    assert_allclose(grad_ours.numpy(), grad_theirs.numpy(), rtol=1e-14)


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("options", [{}, {"temperature": 0.7}, {"where": [True, True, False, True]}], ids=["plain", "temperature", "where"])
def test_torch_double_backward(name, options):
    # Pins: autograd.grad(..., create_graph=True) then backward raised "no
    # autograd formula registered for softmaxkit.softmax_backward".
    import torch

    import softmaxkit.torch as skt

    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    if "where" in options:
        options = {"where": torch.tensor([options["where"]] * 3)}
    function = getattr(skt, name)
    assert torch.autograd.gradgradcheck(lambda v: function(v, 1, **options), (x,))


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_torch_hessian_vector_product_matches_torch(name):
    import torch
    import torch.nn.functional as F

    import softmaxkit.torch as skt

    generator = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    v = torch.randn(3, 4, dtype=torch.float64, generator=generator)

    def hvp(function):
        (g,) = torch.autograd.grad((function(x, 1) * v).sum(), x, create_graph=True)
        (h,) = torch.autograd.grad((g * g).sum(), x)
        return h.numpy()

    assert_allclose(hvp(getattr(skt, name)), hvp(getattr(F, name)), rtol=1e-12, atol=1e-15)


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_torch_call_forms_of_torch_nn_functional(name):
    import torch
    import torch.nn.functional as F

    import softmaxkit.torch as skt

    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    ours, theirs = getattr(skt, name), getattr(F, name)
    for call in (lambda f: f(x, 1), lambda f: f(x, dim=-1), lambda f: f(x, 0, dtype=torch.float64),
                 lambda f: f(x, dim=1, dtype=torch.float64), lambda f: f(x.double(), 1, dtype=torch.float32)):  # fmt: skip
        result, expected = call(ours), call(theirs)
        assert result.dtype == expected.dtype
        assert_allclose(result.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_torch_dim_none_is_refused_with_the_reason(name):
    # torch deprecated choosing dim implicitly; softmaxkit.torch never guesses.
    import torch

    import softmaxkit.torch as skt

    with pytest.raises(TypeError, match=r"dim must be given: torch deprecated choosing it implicitly \(dim=None\)"):
        getattr(skt, name)(torch.zeros(2, 3), dim=None)


@requires_torch
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_torch_losses_refuse_numpy_arrays(name):
    # Pins: softmaxkit.torch.cross_entropy(numpy_array) raised AttributeError.
    import softmaxkit.torch as skt

    with pytest.raises(TypeError, match=r"input must be a torch.Tensor, got numpy.ndarray; softmaxkit's own"):
        getattr(skt, name)(np.zeros((2, 3)), np.array([0, 1]))
