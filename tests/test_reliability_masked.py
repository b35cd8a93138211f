"""numpy.ma masked arrays: a mask that hides entries is refused by name, never ignored.

Pins issue #14 item 6: ``sk.softmax(np.ma.array([1., 2., 3.], mask=[0, 1, 0]))``
returned ``[0.090, 0.245, 0.665]``, the softmax of the hidden 2.0 included.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from reliability_catalogue import CALLS

import softmaxkit as sk
from softmaxkit import calibration

# The sparse entries build a scipy.sparse array, which has no masked form.
MASKABLE = [name for name in CALLS if not name.startswith("sparse_")]


def _x() -> np.ndarray:
    return np.linspace(-3, 3, 24).reshape(4, 6)


@pytest.mark.parametrize("name", MASKABLE)
def test_a_mask_that_hides_entries_is_refused(name):
    masked = np.ma.array(_x(), mask=np.resize([False, True, False], (4, 6)))
    with pytest.raises(TypeError, match=r"masked array with masked entries.*where="):
        CALLS[name](masked)


@pytest.mark.parametrize("name", MASKABLE)
def test_a_mask_that_hides_nothing_gives_the_plain_result(name):
    plain = CALLS[name](_x())
    got = CALLS[name](np.ma.array(_x(), mask=np.zeros((4, 6), bool)))
    _assert_same(got, plain)


def _assert_same(got, expected):
    assert type(got) is type(expected)
    if isinstance(expected, tuple):
        for a, b in zip(got, expected, strict=True):
            _assert_same(a, b)
    elif expected is not None:
        assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda m: sk.cross_entropy(_x(), m.astype(int)), "target"),
        (lambda m: sk.softmax_vjp(sk.softmax(_x()), m), "g"),
        (lambda m: sk.kl_divergence(logits_p=_x(), logits_q=m), "logits_q"),
        (lambda m: sk.logsumexp(_x(), b=m), "b"),
        (lambda m: calibration.brier_score(sk.softmax(_x()), m[:, 1].astype(int)), "labels"),
    ],
    ids=["target", "g", "logits_q", "b", "labels"],
)
def test_every_array_argument_is_checked(call, name):
    masked = np.ma.array(np.abs(_x()), mask=np.resize([False, True], (4, 6)))
    with pytest.raises(TypeError, match=rf"^{name} is a numpy.ma masked array"):
        call(masked)
