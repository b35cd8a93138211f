"""The compiled kernel's accuracy, in ulps of the exact result (mpmath).

Goals (issue 12): float32 softmax and log_softmax within 2 ulp (computed in
float32 lanes with a compensated shift), float64 within 4 ulp, logsumexp
within 1 ulp, at logit spreads of +-60 and more, where SciPy, PyTorch and
onnxruntime are 60-120 ulp off. Every ISA build the CPU can run is measured
(the ``isa`` fixture).
"""

import mpmath
import numpy as np
import pytest
from helpers import spec, ulp_error
from numpy.testing import assert_array_equal

import softmaxkit as sk
from softmaxkit import _dispatch

pytestmark = pytest.mark.skipif(not _dispatch.available(), reason="the kernel is not built")

GOAL = {np.float32: 2.0, np.float64: 4.0}
LSE_GOAL = 1.0


def exact(row, at=None):
    """softmax, log_softmax and logsumexp of one row, as mpmath numbers.

    120 digits: log_softmax at a dominant maximum is -log1p(t) with t as
    small as 1e-100 here, which a 40-digit sum 1 + t would lose. ``at``:
    the indices whose softmax and log_softmax are wanted (default all); the
    logsumexp is always that of the whole row. On the 40000-entry rows, whose
    tests sample a few hundred entries, this halves the mpmath work.
    """
    with mpmath.workdps(120):
        values = [mpmath.mpf(float(v)) for v in row]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in values))
        wanted = values if at is None else [values[i] for i in at]
        log_p = [v - lse for v in wanted]
        p = [mpmath.exp(v) for v in log_p]
    as_array = lambda values: np.array(values, dtype=object)  # noqa: E731
    return as_array(p), as_array(log_p), lse


def spread_rows(rng, spread, n_rows, n):
    rows = rng.uniform(-spread, spread, size=(n_rows, n))
    rows[:, 0] = spread  # the maximum and the minimum are both there
    rows[:, 1] = -spread
    return rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spread", [1.0, 60.0, 120.0])
def test_softmax_log_softmax_logsumexp_within_the_goal(rng, dtype, spread):
    x = spread_rows(rng, spread, 6, 60).astype(dtype)
    p, log_p, lse = sk.softmax(x), sk.log_softmax(x), sk.logsumexp(x, axis=-1)
    for i, row in enumerate(x):
        ref_p, ref_log_p, ref_lse = exact(row)
        assert ulp_error(p[i], ref_p).max() <= GOAL[dtype]
        assert ulp_error(log_p[i], ref_log_p).max() <= GOAL[dtype]
        assert ulp_error(lse[i : i + 1], np.array([ref_lse], dtype=object)).max() <= LSE_GOAL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spread", [20.0, 60.0])  # float32: the short exponential or not
def test_softmax_over_a_non_last_axis_within_the_goal(rng, dtype, spread):
    x = spread_rows(rng, spread, 20, 50).astype(dtype).T.copy()  # reduce axis 0
    p = sk.softmax(x, axis=0)
    for j in range(x.shape[1]):
        assert ulp_error(p[:, j], exact(x[:, j])[0]).max() <= GOAL[dtype]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_row_of_several_blocks_within_the_goal(rng, dtype):
    # 40000 > SK_BLOCK entries: the row is reduced in two blocks whose sums
    # are combined; the maximum sits in the second block.
    x = (rng.standard_normal(40_000) * 30).astype(dtype)
    x[35_000] = 200.0
    sample = rng.choice(x.size, 400, replace=False)
    sample[0] = 35_000
    ref_p, ref_log_p, ref_lse = exact(x, at=sample)
    p, log_p = sk.softmax(x), sk.log_softmax(x)
    assert ulp_error(p[sample], ref_p).max() <= GOAL[dtype]
    assert ulp_error(log_p[sample], ref_log_p).max() <= GOAL[dtype]
    assert ulp_error(sk.logsumexp(x, axis=-1)[None], np.array([ref_lse], dtype=object)).max() <= LSE_GOAL


@pytest.mark.parametrize("spread", [40.0, 45.0])  # every x - max within 86 (the short exp) or not
def test_float32_rows_within_the_goal_at_every_tail_length(rng, spread):
    # Rows of more than SK_F32_SHORT_ROW entries, each tail length of a
    # vector; the three rows take the shift's three error formulas (max and
    # min of either sign), and a NaN anywhere makes its row NaN.
    for n in [65, 66, 67, 70, 71, 72, 1000]:
        x = spread_rows(rng, spread, 4, n) + np.array([[spread / 2], [-spread / 2], [-2 * spread], [0.0]])
        x[3, n // 2] = np.nan
        x = x.astype(np.float32)
        p, log_p = sk.softmax(x), sk.log_softmax(x)
        for i, row in enumerate(x[:3]):
            ref_p, ref_log_p, _ = exact(row)
            assert ulp_error(p[i], ref_p).max() <= GOAL[np.float32], (n, i)
            assert ulp_error(log_p[i], ref_log_p).max() <= GOAL[np.float32], (n, i)
        assert np.isnan(p[3]).all() and np.isnan(log_p[3]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_range_down_to_underflow(rng, dtype):
    # Rows [d, 0]: softmax at d is exp(d) / (1 + exp(d)), over the whole range
    # of exp, into the subnormals.
    low = -100.0 if dtype == np.float32 else -740.0
    d = rng.uniform(low, 0.0, 300)
    x = np.stack([d, np.zeros_like(d)], axis=-1).astype(dtype)
    p = sk.softmax(x)[:, 0]
    with mpmath.workdps(40):
        ref = [mpmath.exp(mpmath.mpf(float(v))) / (1 + mpmath.exp(mpmath.mpf(float(v)))) for v in x[:, 0]]
    assert ulp_error(p, np.array(ref, dtype=object)).max() <= GOAL[dtype]


@pytest.mark.parametrize("n", [3, 10, 64, 1000])
def test_log_softmax_at_a_dominant_class_keeps_relative_accuracy_in_float32(rng, n):
    # At the maximum, log_softmax is -log1p(t) with t = the sum of the other
    # terms, here about 1e-8: t must be summed to relative accuracy. Short
    # rows go one row per SIMD lane, so all of t lands in one lane's
    # accumulator, where a plain float32 sum of t loses its relative accuracy.
    x = rng.uniform(-25.0, -15.0, size=(40, n)).astype(np.float32)
    x[:, 0] = 0.0
    log_p = sk.log_softmax(x)
    for i in range(0, 40, 7):
        assert ulp_error(log_p[i], exact(x[i])[1]).max() <= GOAL[np.float32]


@pytest.mark.parametrize("layout", ["short_rows", "rows", "long_rows", "columns"])
@pytest.mark.parametrize("top", [0.0, 100.0, 1e5, -3e5])
def test_log_softmax_at_a_dominant_class_far_from_zero_within_the_goal(rng, layout, top):
    # The float32 output pass is (x - hi) - lo with hi + lo = max + log(norm):
    # at the maximum, x - hi cancels exactly and -log1p(t) ~ -1e-8 must keep
    # its relative accuracy however large the maximum is (its ulp is 0.03 at
    # 3e5, so forming max + log(norm) in float32 would return 0 there).
    n = {"short_rows": 10, "rows": 1000, "long_rows": 40_000, "columns": 1000}[layout]
    rows = 1 if layout == "long_rows" else 5
    x = (np.float32(top) + rng.uniform(-25.0, -15.0, size=(rows, n))).astype(np.float32)
    x[:, 3] = top
    log_p = sk.log_softmax(x.T.copy(), axis=0).T if layout == "columns" else sk.log_softmax(x)
    for i in range(rows):
        sample = rng.choice(n, min(n, 200), replace=False)
        sample[0] = 3
        ref = exact(x[i], at=sample)[1]
        assert log_p[i, 3] < 0
        assert ulp_error(log_p[i, sample], ref).max() <= GOAL[np.float32]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_loss_within_the_goal(rng, dtype):
    logits = spread_rows(rng, 60.0, 8, 40).astype(dtype)
    target = rng.integers(0, 40, size=8)
    loss = sk.cross_entropy(logits, target, reduction="none")
    ref = np.array([-exact(row)[1][t] for row, t in zip(logits, target)], dtype=object)
    assert ulp_error(loss, ref).max() <= GOAL[dtype]


@pytest.mark.parametrize("n", [37, 250])  # the tail alone, and vectors before it
def test_cross_entropy_at_a_dominant_class_keeps_relative_accuracy_in_float32(rng, n):
    # At a dominant target the loss is log1p(t), t the sum of the other terms
    # (about 1e-8 here): the fused float32 rows sum t apart from the maxima,
    # with every rounding error kept, in both forms of the exponential (row 1
    # has terms that underflow).
    x = rng.uniform(-25.0, -15.0, size=(3, n)).astype(np.float32)
    x[:, 0] = 0.0
    x[1, 5::7] = -100.0
    loss = sk.cross_entropy_and_grad(x, np.zeros(3, np.int64), reduction="none").loss
    ref = np.array([-exact(row)[1][0] for row in x], dtype=object)
    assert ulp_error(loss, ref).max() <= GOAL[np.float32]


@pytest.mark.parametrize("spread", [20.0, 60.0])  # all within 86 of the maximum, and not
@pytest.mark.parametrize("n", [37, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_gradient_within_the_goal(rng, spread, n, dtype):
    # Off the target the gradient (reduction "sum") is softmax itself, computed
    # in float32 or float64 lanes with the compensated shift (issue 12: at
    # most 2 ulp for float32, 4 for float64).
    logits = spread_rows(rng, spread, 6, n).astype(dtype)
    target = rng.integers(0, n, size=6)
    grad = sk.cross_entropy_grad(logits, target, reduction="sum")
    for i, row in enumerate(logits):
        off_target = np.arange(n) != target[i]
        assert ulp_error(grad[i][off_target], exact(row)[0][off_target]).max() <= GOAL[dtype]


def test_float64_exp_is_within_an_ulp_with_the_compensated_shift(rng):
    # Rows [a, m] with a - m < -40: the normaliser is exactly 1, so softmax at
    # a is the kernel's exp(a - m) itself, with a - m rounded and its rounding
    # error fed into the exp (the error term once was scaled by 1 + r instead
    # of exp(r): 4-6 ulp off). The goal for the exp is below one ulp.
    m = rng.uniform(50.0, 200.0, 400)
    a = m - rng.uniform(40.0, 740.0, 400)
    p = sk.softmax(np.stack([a, m], axis=-1))[:, 0]
    with mpmath.workdps(40):  # helpers.ulp_error would round the reference to a double first
        errors = [
            abs(mpmath.mpf(float(value)) - mpmath.exp(mpmath.mpf(float(u)) - mpmath.mpf(float(v))))
            / mpmath.mpf(float(np.spacing(value)))
            for value, u, v in zip(p, a, m)
        ]
    assert max(errors) < 1.0


@pytest.mark.parametrize("spread", [699.0, 745.0])
def test_float64_lanes_within_the_goal_across_the_exponent_range(rng, spread):
    # Rows of 67 (two-vector steps and a tail) reaching 699 below the maximum
    # take the exponential whose scaling adds to the exponent bits (every
    # result normal); reaching 745 below, the general scaling (results that
    # are subnormal, rounded once).
    x = rng.uniform(-spread, 0.0, size=(3, 67)) + 20.0
    x[:, 0], x[:, 1] = 20.0, 20.0 - spread
    p, log_p = sk.softmax(x), sk.log_softmax(x)
    for i, row in enumerate(x):
        ref_p, ref_log_p, _ = exact(row)
        assert ulp_error(p[i], ref_p).max() <= GOAL[np.float64]
        assert ulp_error(log_p[i], ref_log_p).max() <= GOAL[np.float64]


@pytest.mark.parametrize("function", [sk.log_softmax, sk.softmax, sk.logsumexp], ids=lambda f: f.__name__)
def test_huge_rounding_error_of_the_shift_does_not_leak_into_underflowed_terms(function):
    # The shift 1.97e134 - 3.27e150 rounds by about 1e134; exp of the clamped
    # argument once carried that correction and gave log_softmax -1e-300
    # instead of 0 at the maximum (found by hypothesis).
    x = np.array([[3.27339061e150, 1.97007111e134], [-1e300, 1e300]])
    assert_array_equal(function(x), spec(function, x))


# float64 rows run in float64 lanes (8 a vector with AVX-512, 4 with AVX2, two
# vectors a step), each row ending in a partial vector: these lengths hit every
# tail size of both widths, and a length past the two-vector step.
F64_TAIL_LENGTHS = [*range(1, 34), 67, 1000]


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_float64_lanes_within_the_goal_at_every_tail_length(rng, masked):
    # Logits in +-60: x - max rounds (the TwoSum error fed into the exp is
    # worth up to 2^-48, 30 ulp, when dropped), and the table-driven exp, the
    # double-double normaliser and both output passes are measured at every
    # tail position. Excluded entries must give exactly 0 (softmax) and -inf.
    for n in F64_TAIL_LENGTHS:
        x = spread_rows(rng, 60.0, 2, n) if n > 1 else rng.uniform(-60, 60, (2, 1))
        mask = rng.random(x.shape) < 0.6 if masked else np.ones(x.shape, bool)
        mask[:, 0] = True  # at least one entry included
        p, log_p = sk.softmax(x, where=mask), sk.log_softmax(x, where=mask)
        for i, row in enumerate(np.where(mask, x, -np.inf)):
            ref_p, ref_log_p, _ = exact(row)
            assert ulp_error(p[i], ref_p).max() <= GOAL[np.float64], (n, i)
            assert ulp_error(log_p[i], ref_log_p).max() <= GOAL[np.float64], (n, i)


@pytest.mark.parametrize("n", [3, 10, 64, 1000])
def test_log_softmax_at_a_dominant_class_keeps_relative_accuracy_in_float64(rng, n):
    # At the maximum, log_softmax is -log1p(t) with t, the sum of the other
    # terms, between 1e-26 and 1e-20 here: far below the ulp of the
    # normaliser 1 + t, so it must live in the normaliser's low part.
    x = rng.uniform(-60.0, -45.0, size=(20, n))
    x[:, 0] = rng.uniform(0.0, 3.0, 20)
    log_p = sk.log_softmax(x)
    for i in range(0, 20, 3):
        assert ulp_error(log_p[i], exact(x[i])[1]).max() <= GOAL[np.float64]
