"""sparse_softmax and sparse_log_softmax on SciPy and PyTorch sparse arrays.

The peer is torch.sparse.softmax / log_softmax (unstored entries excluded),
applied to the same matrix; SciPy results are checked against it too.
"""

import numpy as np
import pytest
from helpers import requires_torch
from numpy.testing import assert_allclose, assert_array_equal

import softmaxkit as sk

# Every test runs on both NumPy layouts (tests/variants/conftest.py).
pytestmark = pytest.mark.usefixtures("segment_layout")

sparse = pytest.importorskip("scipy.sparse")

# The CSR tensors the tests build trigger torch's "CSR support is in beta" notice.
torch_csr_notice = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")


def random_sparse_dense(rng, shape=(6, 7), density=0.4):
    dense = rng.normal(size=shape) * 3
    dense[rng.random(shape) > density] = 0.0
    dense[2] = 0.0  # an empty row
    return dense


def torch_reference(dense, axis, log=False):
    import torch

    t = torch.asarray(dense).to_sparse()
    function = torch.sparse.log_softmax if log else torch.sparse.softmax
    return function(t, dim=axis).to_dense().numpy()


def test_hand_checked_csr():
    a = sparse.csr_array(np.array([[0.0, 9.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]]))
    y = sk.sparse_softmax(a)
    assert y.format == "csr" and y.nnz == 3
    assert_array_equal(y.toarray(), [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])


def test_unstored_entries_are_not_exp_zero():
    # Row [0, 2, 0] with only the 2 stored: the 2 gets everything.
    a = sparse.coo_array(([2.0], ([0], [1])), shape=(1, 3))
    assert_array_equal(sk.sparse_softmax(a).toarray(), [[0.0, 1.0, 0.0]])


def test_explicitly_stored_zeros_take_part():
    a = sparse.csr_array((np.array([0.0, 0.0]), np.array([0, 2]), np.array([0, 2])), shape=(1, 3))
    assert_array_equal(sk.sparse_softmax(a).data, [0.5, 0.5])


@requires_torch
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_scipy_matches_torch_sparse(rng, fmt, axis, log):
    dense = random_sparse_dense(rng)
    a = sparse.csr_array(dense).asformat(fmt)
    function = sk.sparse_log_softmax if log else sk.sparse_softmax
    y = function(a, axis=axis)
    assert y.format == fmt
    stored = a.toarray() != 0
    assert_allclose(y.toarray()[stored], torch_reference(dense, axis, log)[stored], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparsity_pattern_and_class_are_kept(rng, fmt):
    a = sparse.csr_matrix(random_sparse_dense(rng)).asformat(fmt)
    y = sk.sparse_softmax(a)
    assert type(y) is type(a)
    assert_array_equal(y.toarray() != 0, a.toarray() != 0)


def test_rows_sum_to_one_and_empty_rows_stay_empty(rng):
    a = sparse.csr_array(random_sparse_dense(rng))
    totals = sk.sparse_softmax(a).sum(axis=1)
    row_has_entries = np.diff(a.indptr) > 0
    assert_allclose(totals[row_has_entries], 1.0, rtol=1e-15)
    assert_array_equal(totals[~row_has_entries], 0.0)


def test_a_matrix_with_no_stored_entries():
    # pytorch/pytorch#82107: nnz == 0 divided by zero.
    y = sk.sparse_softmax(sparse.csr_array((3, 4)))
    assert y.nnz == 0 and y.shape == (3, 4)


def test_duplicate_coo_entries_are_one_entry_and_the_input_is_untouched():
    a = sparse.coo_array(([1.0, 2.0, 3.0], ([0, 0, 0], [1, 1, 2])), shape=(1, 3))
    data_before = a.data.copy()
    y = sk.sparse_softmax(a)
    assert_allclose(y.toarray(), [[0.0, 0.5, 0.5]], rtol=1e-15)  # 1 + 2 and 3
    assert_array_equal(a.data, data_before)
    assert a.nnz == 3


def test_temperature(rng):
    a = sparse.csr_array(random_sparse_dense(rng))
    assert_allclose(
        sk.sparse_softmax(a, temperature=4.0).data, sk.sparse_softmax(a / 4.0).data, rtol=1e-14
    )


def test_integer_data_gives_float64():
    a = sparse.csr_array(np.array([[1, 0, 3]]))
    y = sk.sparse_softmax(a)
    assert y.dtype == np.float64
    assert_allclose(y.data, sk.softmax([1.0, 3.0]), rtol=1e-15)


def test_float32_is_kept():
    a = sparse.csr_array(np.array([[1.0, 0.0, 3.0]], dtype=np.float32))
    assert sk.sparse_softmax(a).dtype == np.float32


def test_edge_cases_per_row():
    dense = np.array([[np.inf, 1.0, 0.0], [-np.inf, -np.inf, 0.0], [np.nan, 1.0, 0.0], [1.0, 1.0, 0.0]])
    y = sk.sparse_softmax(sparse.csr_array(dense)).toarray()
    assert_array_equal(y[0], [1.0, 0.0, 0.0])
    assert_array_equal(y[1], [0.0, 0.0, 0.0])
    assert np.isnan(y[2, :2]).all()
    assert_array_equal(y[3], [0.5, 0.5, 0.0])


@requires_torch
class TestTorch:
    @pytest.mark.parametrize("axis", [0, 1, -1])
    @pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
    def test_coo_matches_torch(self, rng, axis, log):
        import torch

        dense = random_sparse_dense(rng)
        a = torch.asarray(dense).to_sparse()
        function = sk.sparse_log_softmax if log else sk.sparse_softmax
        y = function(a, axis=axis)
        assert y.layout == torch.sparse_coo
        assert_allclose(y.to_dense().numpy(), torch_reference(dense, axis, log), rtol=1e-13, atol=1e-16)

    @torch_csr_notice
    @pytest.mark.parametrize("axis", [0, 1, -1])
    def test_csr_matches_torch(self, rng, axis):
        import torch

        dense = random_sparse_dense(rng)
        y = sk.sparse_softmax(torch.asarray(dense).to_sparse_csr(), axis=axis)
        assert y.layout == torch.sparse_csr
        stored = dense != 0
        expected = torch_reference(dense, axis)[stored]
        assert_allclose(y.to_dense().numpy()[stored], expected, rtol=1e-13, atol=1e-16)

    @pytest.mark.parametrize("axis", [0, 1, 2])
    def test_three_dimensional_coo(self, rng, axis):
        import torch

        dense = random_sparse_dense(rng, shape=(3, 4, 5))
        a = torch.asarray(dense).to_sparse()
        expected = torch.sparse.softmax(a, dim=axis).to_dense()
        got = sk.sparse_softmax(a, axis=axis).to_dense().numpy()
        assert_allclose(got, expected.numpy(), rtol=1e-13, atol=1e-16)

    @pytest.mark.parametrize("axis", [0, 1, 2], ids=["sparse0", "sparse1", "dense"])
    def test_hybrid_coo_with_a_dense_dimension(self, rng, axis):
        import torch

        dense = random_sparse_dense(rng, shape=(3, 4, 5))
        a = torch.asarray(dense).to_sparse(sparse_dim=2)
        expected = torch.sparse.softmax(a, dim=axis).to_dense()
        got = sk.sparse_softmax(a, axis=axis).to_dense().numpy()
        assert_allclose(got, expected.numpy(), rtol=1e-13, atol=1e-16)

    def test_float32_tensor(self, rng):
        import torch

        dense = random_sparse_dense(rng).astype(np.float32)
        a = torch.asarray(dense).to_sparse()
        y = sk.sparse_softmax(a)
        assert y.dtype == torch.float32
        assert_allclose(y.to_dense().numpy(), torch.sparse.softmax(a, dim=1).to_dense().numpy(), rtol=1e-6)

    def test_uncoalesced_input(self):
        import torch

        a = torch.sparse_coo_tensor(
            [[0, 0, 0], [1, 1, 2]], [1.0, 2.0, 3.0], size=(1, 3), check_invariants=True
        )
        assert_allclose(sk.sparse_softmax(a).to_dense().numpy(), [[0.0, 0.5, 0.5]], rtol=1e-7)

    def test_no_stored_entries(self):
        import torch

        no_indices = torch.empty(2, 0, dtype=torch.int64)
        a = torch.sparse_coo_tensor(no_indices, torch.empty(0), size=(3, 4), check_invariants=True)
        y = sk.sparse_softmax(a)
        assert y._nnz() == 0 and tuple(y.shape) == (3, 4)


def test_dense_input_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"softmaxkit.softmax\(x, where=mask\)"):
        sk.sparse_softmax(np.ones((2, 2)))


def test_unsupported_scipy_format_is_refused():
    with pytest.raises(TypeError, match="got format 'bsr'"):
        sk.sparse_softmax(sparse.bsr_array(np.eye(2)))


def test_axis_out_of_range_is_refused():
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        sk.sparse_softmax(sparse.csr_array(np.eye(2)), axis=2)

