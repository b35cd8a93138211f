"""No public function warns on the README's edge-case inputs, in any float dtype, on either path.

pytest turns warnings into errors, so each case fails if NumPy reports an
overflow (float16 ``log_softmax([60000, -60000])`` is ``-120000`` rounded to
``-inf``: a correct result, not an error), an ``inf - inf`` or a ``0 * inf``.
A ``ValueError`` or ``TypeError`` is an answer (a metric refuses NaN
probabilities); any other exception fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from reliability_catalogue import CALLS, LINEAR

from softmaxkit import _dispatch

DTYPES = [np.float16, np.float32, np.float64]


def _edge_inputs(dtype) -> dict[str, np.ndarray]:
    info = np.finfo(dtype)
    shape = (4, 6)
    return {
        "moderate": np.linspace(-3, 3, 24).reshape(shape).astype(dtype),
        "extreme": np.resize([info.max, -info.max, 0, info.max / 2, -info.max / 3, 1], shape).astype(dtype),
        "nonfinite": np.resize([np.inf, -np.inf, np.nan, 0, 1, -np.inf], shape).astype(dtype),
        "subnormal": np.resize(
            [info.smallest_subnormal, -info.smallest_subnormal, 0, info.tiny, 1e-3, 0], shape
        ).astype(dtype),
        "all_neg_inf": np.full(shape, -np.inf, dtype),
    }


CASES = [
    pytest.param(name, dtype, label, kernel, id=f"{name}-{np.dtype(dtype).name}-{label}-{path}")
    for name in CALLS
    for dtype in DTYPES
    for label in _edge_inputs(np.float64)
    for kernel, path in ((True, "kernel"), (False, "spec"))
    # Features, not logits: products of 1e308 overflow, inf * 0 is NaN.
    if not (name in LINEAR and label in ("extreme", "nonfinite", "all_neg_inf"))
]


@pytest.mark.parametrize("name, dtype, label, kernel", CASES)
def test_no_warning_on_edge_inputs(name, dtype, label, kernel):
    # Pins issue #14 item 5 (float16 log_softmax, cross_entropy,
    # segment_log_softmax, kl_divergence, softmax_vjp warned "overflow in
    # cast"; sparsemax/entmax15 losses formed 0 * inf on all -inf rows).
    x = _edge_inputs(dtype)[label]
    before = x.copy()
    with _dispatch.use_kernel(kernel):
        try:
            CALLS[name](x)
        except (ValueError, TypeError):
            pass
    np.testing.assert_array_equal(x, before)  # inputs are never modified


def test_float16_log_softmax_rounds_beyond_range_to_minus_inf():
    # The README's own example, with its value: -120000 is past float16's 65504.
    import softmaxkit as sk

    got = sk.log_softmax(np.array([60000, -60000], np.float16))
    np.testing.assert_array_equal(got, np.array([0, -np.inf], np.float16))
