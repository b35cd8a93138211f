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


@pytest.mark.parametrize("shape", [(7, 3), (3, 7)], ids=["tall", "wide"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("axis", [0, 1])
def test_tall_and_wide_matrices_match_the_dense_masked_softmax(rng, shape, fmt, axis):
    # A segment per row (or column): as many segments as the matrix has rows
    # (columns), whichever of the two is larger.
    dense = random_sparse_dense(rng, shape=shape, density=0.6)
    y = sk.sparse_softmax(sparse.csr_array(dense).asformat(fmt), axis=axis).toarray()
    assert_allclose(y, sk.softmax(dense, axis=axis, where=dense != 0), rtol=1e-14, atol=1e-300)


def test_the_default_axis_is_the_last():
    # Of a 2-D matrix, -1 is the rows; of the log too.
    a = sparse.csr_array(np.array([[1.0, 0.0, 3.0], [2.0, 5.0, 0.0]]))
    assert_allclose(sk.sparse_softmax(a).data, [*sk.softmax([1.0, 3.0]), *sk.softmax([2.0, 5.0])], rtol=1e-15)
    assert_allclose(
        sk.sparse_log_softmax(a).data, [*sk.log_softmax([1.0, 3.0]), *sk.log_softmax([2.0, 5.0])], rtol=1e-15
    )


@pytest.mark.parametrize("dense", [np.array([1.0, 0.0, 2.0]), np.arange(1.0, 25.0).reshape(2, 3, 4)], ids=["1d", "3d"])
def test_a_coo_array_that_is_not_2d_is_refused(dense):
    # SciPy's COO arrays may have any number of dimensions; the rows of a matrix are
    # what the formats' index arrays give.
    with pytest.raises(ValueError, match=f"a must be a 2-D sparse matrix, got {dense.ndim} dimensions"):
        sk.sparse_softmax(sparse.coo_array(dense))


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

    @pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
    def test_the_default_axis_is_the_last_of_a_3d_tensor(self, rng, log):
        import torch

        a = torch.asarray(random_sparse_dense(rng, shape=(3, 4, 5))).to_sparse()
        function, peer = (sk.sparse_log_softmax, torch.sparse.log_softmax) if log else (sk.sparse_softmax, torch.sparse.softmax)
        expected = peer(a, dim=-1).to_dense().numpy()
        assert_allclose(function(a).to_dense().numpy(), expected, rtol=1e-13, atol=1e-16)

    @pytest.mark.parametrize("axis", [0, 1, 2], ids=["sparse", "dense1", "dense2"])
    def test_hybrid_coo_with_two_dense_dimensions(self, rng, axis):
        # One sparse dimension: the values are (nnz, 4, 5) blocks, and tensor axis 1
        # is the blocks' axis 1, not their last; axis 0 makes all entries one segment.
        import torch

        a = torch.asarray(random_sparse_dense(rng, shape=(3, 4, 5))).to_sparse(sparse_dim=1)
        expected = torch.sparse.softmax(a, dim=axis).to_dense().numpy()
        assert_allclose(sk.sparse_softmax(a, axis=axis).to_dense().numpy(), expected, rtol=1e-13, atol=1e-16)

    @torch_csr_notice
    @pytest.mark.parametrize("shape", [(7, 3), (3, 7)], ids=["tall", "wide"])
    @pytest.mark.parametrize("axis", [0, 1])
    def test_tall_and_wide_csr_tensors(self, rng, shape, axis):
        import torch

        dense = random_sparse_dense(rng, shape=shape, density=0.6)
        y = sk.sparse_softmax(torch.asarray(dense).to_sparse_csr(), axis=axis).to_dense().numpy()
        assert_allclose(y, sk.softmax(dense, axis=axis, where=dense != 0), rtol=1e-14, atol=1e-300)

    @pytest.mark.parametrize("axis", [0, 1, 2])
    def test_three_dimensional_coo_with_a_long_first_axis(self, rng, axis):
        # Entries that share every index but the reduced one form a segment: the
        # numbering of those index pairs must be one-to-one for any shape.
        import torch

        a = torch.asarray(random_sparse_dense(rng, shape=(5, 2, 3), density=0.7)).to_sparse()
        expected = torch.sparse.softmax(a, dim=axis).to_dense().numpy()
        y = sk.sparse_softmax(a, axis=axis)
        assert y.is_coalesced()
        assert_allclose(y.to_dense().numpy(), expected, rtol=1e-13, atol=1e-16)

    @torch_csr_notice
    def test_a_batched_csr_tensor_is_refused(self):
        import torch

        a = torch.arange(1.0, 25.0).reshape(2, 3, 4).to_sparse_csr()
        with pytest.raises(ValueError, match="a must be a 2-D sparse CSR tensor, got 3 dimensions"):
            sk.sparse_softmax(a)

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

