"""Accuracy in ulps against mpmath, and against SciPy on the same inputs.

The inputs are rows of logits spread over ±60, the range where plain
``exp(x - max) / sum`` loses up to ~100 ulp to the rounding of ``x - max``
(SciPy and PyTorch do). The reference is computed from the exact input values
at 40 significant digits.

Every bound is checked on each path that computes the specification (the
``path`` fixture): the compiled kernel, and the array-API code itself on NumPy,
PyTorch and JAX, so that neither can lean on the other.
"""

import numpy as np
import pytest
from helpers import mpmath_softmax_family as reference
from helpers import requires_scipy, ulp_error

import softmaxkit as sk


def spread_logits(rng, dtype, rows=24, columns=12, spread=60.0):
    x = rng.uniform(-spread, spread, size=(rows, columns))
    # Values with many significant bits make x - max inexact.
    x[:, 0] = spread * (1 - 2.0**-20)
    return x.astype(dtype)


NAMES = ["softmax", "log_softmax", "logsumexp"]


def ulps(path, result, references) -> np.ndarray:
    """The ulp errors of ``result``; on a path that flushes subnormal results to
    zero (XLA on the CPU does), a subnormal reference is matched by 0 or itself."""
    errors = ulp_error(result, references)
    if path.flushes_subnormals:
        tiny = np.finfo(result.dtype).tiny
        subnormal = np.abs(references.astype(np.float64)) < tiny
        assert np.all(np.abs(result[subnormal]) < tiny)
        errors[subnormal] = 0.0
    return errors


def make_case(dtype):
    x = spread_logits(np.random.default_rng(7), dtype)
    return x, dict(zip(NAMES, reference(x)))


@pytest.fixture(scope="module")
def float32_case():
    return make_case(np.float32)


@pytest.fixture(scope="module")
def float64_case():
    return make_case(np.float64)


@pytest.mark.parametrize("name", NAMES)
def test_float32_within_1_ulp(path, float32_case, name):
    x, references = float32_case
    result = path.call(getattr(sk, name), x, axis=-1)
    assert result.dtype == np.float32
    assert ulps(path, result, references[name]).max() <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_float64_within_4_ulp(path, float64_case, name):
    x, references = float64_case
    assert ulps(path, path.call(getattr(sk, name), x, axis=-1), references[name]).max() <= 4.0


@requires_scipy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_no_worse_than_scipy(float32_case, float64_case, dtype, name):
    import scipy.special

    x, references = float32_case if dtype == "float32" else float64_case
    ours = ulp_error(getattr(sk, name)(x, axis=-1), references[name])
    theirs = ulp_error(getattr(scipy.special, name)(x, axis=-1), references[name])
    assert ours.max() <= theirs.max()
    assert ours.mean() <= theirs.mean()


def test_temperature_is_as_accurate_as_dividing_first(path, rng):
    # The documented contract: softmax(x, temperature=t) is softmax of the
    # quotient x / t as the array library divides (correctly rounded, except on
    # JAX, whose CPU division is within an ulp or so: up to ~300 ulp of p at these
    # logits, so it is compared with JAX's own quotient).
    x = rng.uniform(-60, 60, size=(8, 10))
    t = 0.37
    p, logp, _ = reference(path.call(lambda v: v / t, x))
    assert ulps(path, path.call(sk.softmax, x, temperature=t), p).max() <= 4.0
    assert ulps(path, path.call(sk.log_softmax, x, temperature=t), logp).max() <= 4.0


def test_float16_is_correctly_rounded_from_float32_work(path, rng):
    x = rng.uniform(-8, 8, size=(16, 6)).astype(np.float16)
    p, _, _ = reference(x.astype(np.float64))
    assert ulps(path, path.call(sk.softmax, x), p).max() <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_long_double_is_as_accurate_as_float64(float64_case, name):
    # NumPy's longdouble once computed in float32 (1e-7 off, some 1e9 float64 ulps).
    x, references = float64_case
    result = getattr(sk, name)(x.astype(np.longdouble), axis=-1)
    assert result.dtype == np.longdouble
    assert ulp_error(result.astype(np.float64), references[name]).max() <= 4.0


def test_float64_within_4_ulp_when_the_reduced_axes_are_strided(path, rng):
    # At a dominant entry log_softmax is about -t and logsumexp about t, t the
    # sum of the 239 other terms (~1e-14 each): as accurate as that sum. NumPy
    # adds the reduced axes (0, 1) of a C-ordered array one term after another
    # rather than pairwise, and the array-API path, summing with xp.sum, was
    # 4.6 ulp off here (6.2 on other draws; the kernel 0.9): it now adds
    # pairwise with TwoSum (_stable.AxesReduction.compensated_sum).
    x = rng.uniform(-40.0, -30.0, size=(6, 40, 9))
    x[0, 0, :] = 0.0
    p, logp, lse = reference(np.moveaxis(x, 2, 0).reshape(9, 240))
    for name, references in (("softmax", p), ("log_softmax", logp)):
        result = np.moveaxis(path.call(getattr(sk, name), x, axis=(0, 1)), 2, 0).reshape(9, 240)
        assert ulps(path, result, references).max() <= 4.0, name
    assert ulps(path, path.call(sk.logsumexp, x, axis=(0, 1)), lse).max() <= 4.0


def test_float64_logsumexp_keeps_the_terms_that_cancelling_weights_hide(path):
    # The terms below the maximum are b * exp(x - max): here +-1e20, +-2e20 and
    # +-7e19 times e**-1, which cancel exactly, around a few small terms. Added
    # plainly (pairwise or in order) the small terms vanish into the large ones and
    # the result is log(1) = 0, as SciPy's is; the pairwise sum with TwoSum carries
    # each addition's rounding error through every level and recovers them.
    import mpmath

    b = np.array([1, 1e20, 1, 1e-3, -1e20, 2e20, 3, -2e20, 1e-5, 7e19, 0.5, -7e19])
    x = np.where(np.arange(b.size) == 0, 0.0, -1.0)
    mpmath.mp.dps = 40
    exact = mpmath.log(mpmath.fsum(mpmath.mpf(w) * mpmath.exp(v) for v, w in zip(x, b)))
    result = path.call(sk.logsumexp, x, b=b)
    assert ulps(path, result.reshape(1), np.array([exact])).max() <= 4.0
