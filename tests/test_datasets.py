"""The digits shipped inside the package."""

import numpy as np
import pytest
from helpers import has_module
from numpy.testing import assert_array_equal

from softmaxkit.datasets import load_digits


def test_digits_shape_dtype_and_range():
    digits = load_digits()
    assert digits.data.shape == (1797, 64) and digits.data.dtype == np.float64
    assert digits.target.shape == (1797,) and digits.target.dtype == np.int64
    assert digits.data.min() == 0 and digits.data.max() == 16
    assert_array_equal(np.bincount(digits.target),
                       [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])  # fmt: skip


def test_images_are_the_rows_reshaped():
    digits = load_digits()
    assert_array_equal(digits.images[5], digits.data[5].reshape(8, 8))


@pytest.mark.skipif(not has_module("sklearn"), reason="needs scikit-learn")
def test_digits_equal_scikit_learns_copy_exactly():
    from sklearn.datasets import load_digits as sklearn_digits

    ours, theirs = load_digits(), sklearn_digits()
    assert_array_equal(ours.data, theirs.data)
    assert_array_equal(ours.target, theirs.target)


def test_licence_note_is_installed_beside_the_data():
    from importlib import resources

    note = resources.files("softmaxkit.datasets").joinpath("DIGITS_LICENSE.txt").read_text()
    assert "CC BY 4.0" in note and "Alpaydin" in note
