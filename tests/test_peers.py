"""Agreement with scipy.special and torch.nn.functional where they are defined.

Peers differ from softmaxkit where the edge-case policy says so (+inf, all
-inf rows, empty arrays: see test_core_edge_cases.py) and in accuracy: their
log_softmax at a dominant class is off by about eps * max|x| in absolute terms
(scipy#19521, torch#113708), so log-probabilities are compared with that
absolute tolerance; test_accuracy.py measures who is right.
"""

import numpy as np
import pytest
from helpers import requires_scipy, requires_torch
from numpy.testing import assert_allclose

import softmaxkit as sk

def peer_log_tolerance(x):
    """The absolute error of a peer's log_softmax: a few ulps of the largest |x|."""
    return 4 * np.finfo(x.dtype).eps * np.abs(x).max()


SHAPES_AND_AXES = [((7,), -1), ((4, 9), -1), ((4, 9), 0), ((3, 4, 5), 1), ((3, 4, 5), (0, 2)), ((2, 3), None)]


@requires_scipy
@pytest.mark.parametrize("shape, axis", SHAPES_AND_AXES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_scipy_special(rng, shape, axis, name):
    import scipy.special

    x = rng.normal(scale=5.0, size=shape)
    atol = peer_log_tolerance(x) if name == "log_softmax" else 1e-300
    assert_allclose(getattr(sk, name)(x, axis=axis), getattr(scipy.special, name)(x, axis=axis), rtol=1e-13, atol=atol)


@requires_scipy
def test_scipy_logsumexp_with_b(rng):
    import scipy.special

    x = rng.normal(size=(5, 6))
    b = rng.uniform(0, 2, size=(5, 6))
    assert_allclose(sk.logsumexp(x, b=b, axis=0), scipy.special.logsumexp(x, b=b, axis=0), rtol=1e-13)


@requires_scipy
def test_scipy_expit_and_log_expit(rng):
    import scipy.special

    x = rng.normal(scale=30.0, size=100)
    assert_allclose(sk.sigmoid(x), scipy.special.expit(x), rtol=1e-15)
    assert_allclose(sk.log_sigmoid(x), scipy.special.log_expit(x), rtol=1e-14)


@requires_torch
@pytest.mark.parametrize("shape, dim", [((7,), 0), ((4, 9), -1), ((4, 9), 0), ((3, 4, 5), 1)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_softmax_and_log_softmax(rng, shape, dim, dtype):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(rng.normal(scale=5.0, size=shape).astype(dtype))
    tolerance = 2e-6 if dtype == "float32" else 1e-13
    assert_allclose(sk.softmax(x, axis=dim).numpy(), F.softmax(x, dim=dim).numpy(), rtol=tolerance, atol=1e-30)
    assert_allclose(
        sk.log_softmax(x, axis=dim).numpy(),
        F.log_softmax(x, dim=dim).numpy(),
        rtol=tolerance,
        atol=peer_log_tolerance(x.numpy()),
    )
    assert_allclose(sk.logsumexp(x, axis=dim).numpy(), torch.logsumexp(x, dim=dim).numpy(), rtol=tolerance)


@requires_torch
def test_torch_autograd_matches_the_vjps(rng):
    import torch

    x = torch.tensor(rng.normal(size=(3, 5)), requires_grad=True)
    g = torch.tensor(rng.normal(size=(3, 5)))
    torch.softmax(x / 0.5, dim=-1).backward(g)
    y = sk.softmax(x.detach(), temperature=0.5)
    assert_allclose(sk.softmax_vjp(y, g, temperature=0.5).numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-15)

    x.grad = None
    torch.log_softmax(x, dim=0).backward(g)
    logp = sk.log_softmax(x.detach(), axis=0)
    assert_allclose(sk.log_softmax_vjp(logp, g, axis=0).numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-15)


@requires_torch
def test_torch_jacobian(rng):
    import torch

    x = torch.tensor(rng.normal(size=4))
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, dim=0), x)
    assert_allclose(sk.softmax_jacobian(probs=sk.softmax(x)).numpy(), jac.numpy(), atol=1e-15)
