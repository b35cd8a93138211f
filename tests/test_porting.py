"""Code ported from scipy, torch, JAX or scikit-learn gets the peer's numbers or a clear error.

Each test pins one of the porting traps of issue 15: a call that used to give
a different number than the peer without a word. The peer is the oracle where
it is installed.
"""

import numpy as np
import pytest
from helpers import requires_scipy
from numpy.testing import assert_allclose

import softmaxkit as sk


# --- temperature: one number per slice, never per class -------------------


@pytest.mark.parametrize(
    "function",
    [sk.softmax, sk.log_softmax, sk.entropy, lambda x, **kw: sk.gumbel_softmax(x, seed=0, **kw)],
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
