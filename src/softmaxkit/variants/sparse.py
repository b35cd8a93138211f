"""Softmax over the stored entries of a sparse matrix or tensor.

The unstored entries of a sparse array are not zeros here but absent: they
get probability 0, not ``exp(0) / sum``, which is what ``torch.sparse.softmax``
and ``tf.sparse.softmax`` compute (pytorch/pytorch#23651) and what users of
scatter softmax expect (pyg-team/pytorch_geometric#2911). A row (or column)
with no stored entry stays empty (pytorch/pytorch#82107 divided by zero there).

Each sparse format is reduced to a segment softmax of its stored values, the
segments being the rows (or columns) the values lie in; the ids come from
the format's own index arrays, so the result keeps the format and the
sparsity pattern. SciPy and PyTorch are imported only when their arrays are
passed in.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import array_api_compat

from .. import _validate as validate
from .._typing import SparseT
from .segment import prepare_trusted, softmax_of_prepared

_SCIPY_FORMATS = ("csr", "csc", "coo")


def sparse_softmax(a: SparseT, /, axis: int = -1, *, temperature: float = 1.0) -> SparseT:
    r"""Softmax over the stored entries along ``axis`` of a sparse array.

    .. math:: y_{ij} = \frac{e^{a_{ij}/T}}{\sum_{k \text{ stored in row } i} e^{a_{ik}/T}}

    Parameters
    ----------
    a : sparse array
        A SciPy sparse array or matrix in CSR, CSC or COO format, or a
        PyTorch sparse COO or CSR tensor. Duplicate COO entries are summed
        first (they are one entry of the matrix); explicitly stored zeros are
        stored entries and take part (``exp(0)``).
    axis : int, optional
        The axis the probabilities sum over: -1 (default, within each row of a
        matrix) or any other axis. For a PyTorch COO tensor with dense
        dimensions, a dense axis is an ordinary softmax of the values.
    temperature : float, optional
        A finite number > 0: the softmax of ``a / T`` over the stored entries.

    Returns
    -------
    sparse array
        The same library, format, shape and sparsity pattern as ``a``
        (canonical: sorted indices, no duplicates), with the probabilities as
        values in the floating dtype of ``a`` (integer data: float64).

    Raises
    ------
    TypeError
        ``a`` not a supported sparse array (a dense array: use
        :func:`softmaxkit.softmax` with ``where=``), or a bad ``axis`` type.
    ValueError
        ``axis`` out of range, a bad ``temperature``.

    Notes
    -----
    Within each row the edge-case policy of :func:`softmaxkit.softmax`
    applies to the stored values: ``-inf`` gets 0, a row of only ``-inf``
    gets zeros, ``+inf`` entries share the mass, a NaN makes its row NaN.

    Examples
    --------
    >>> import numpy as np, scipy.sparse, softmaxkit as sk
    >>> a = scipy.sparse.csr_array(np.array([[0.0, 9.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]]))
    >>> y = sk.sparse_softmax(a)
    >>> y.toarray()
    array([[0. , 1. , 0. ],
           [0. , 0. , 0. ],
           [0.5, 0. , 0.5]])
    >>> y.format, y.nnz
    ('csr', 3)
    """
    return cast(SparseT, _sparse(a, axis, temperature, log=False))


def sparse_log_softmax(
    a: SparseT, /, axis: int = -1, *, temperature: float = 1.0
) -> SparseT:
    r"""Log of :func:`sparse_softmax` over the stored entries, computed directly.

    The stored values become log-probabilities; unstored entries stay
    unstored (their log-probability is ``-inf``, not the 0 a dense view shows).

    Parameters
    ----------
    a, axis, temperature
        As in :func:`sparse_softmax`.

    Returns
    -------
    sparse matrix or tensor
        The same kind and sparsity pattern as ``a``, the stored values
        replaced by their log-probabilities.

    Examples
    --------
    >>> import scipy.sparse, softmaxkit as sk
    >>> a = scipy.sparse.coo_array(([1000.0, 0.0], ([0, 0], [0, 2])), shape=(2, 3))
    >>> sk.sparse_log_softmax(a).data
    array([    0., -1000.])
    """
    return cast(SparseT, _sparse(a, axis, temperature, log=True))


def _sparse(a: Any, axis: Any, temperature: Any, *, log: bool) -> Any:
    if type(a).__module__.startswith("scipy.sparse"):
        return _scipy(a, axis, temperature, log)
    if _is_torch_sparse(a):
        return _torch(a, axis, temperature, log)
    raise TypeError(
        "a must be a SciPy sparse array or matrix (CSR, CSC, COO) or a PyTorch sparse "
        f"COO or CSR tensor, got {type(a).__module__}.{type(a).__name__}; for a dense "
        "array use softmaxkit.softmax(x, where=mask)"
    )


def _is_torch_sparse(a: Any) -> bool:
    if not array_api_compat.is_torch_array(a):
        return False
    import torch

    return a.layout in (torch.sparse_coo, torch.sparse_csr)


def _segment_values(values: Any, ids: Any, num_segments: int, temperature: Any, log: bool) -> Any:
    """Segment (log-)softmax of the stored values along their first axis."""
    xp = array_api_compat.array_namespace(values)
    p = prepare_trusted(xp, values, ids, num_segments, axis=0, temperature=temperature, where=None)
    return softmax_of_prepared(p, log=log)


def _scipy(a: Any, axis: Any, temperature: Any, log: bool) -> Any:
    import numpy as np

    fmt = a.format
    if fmt not in _SCIPY_FORMATS:
        raise TypeError(
            f"a must be a SciPy sparse array in one of the formats {list(_SCIPY_FORMATS)}, "
            f"got format {fmt!r}; convert it first (a.tocsr())"
        )
    if a.ndim != 2:
        raise ValueError(f"a must be a 2-D sparse matrix, got {a.ndim} dimensions")
    ax = validate.single_axis(axis, 2)
    if not a.has_canonical_format:
        # Duplicates are one entry of the matrix: sum them (on a copy, never the input).
        a = a.copy()
        a.sum_duplicates()
    if fmt == "coo":
        row, col = a.coords
        ids, n_segments = (col, a.shape[1]) if ax == 0 else (row, a.shape[0])
    else:
        # The compressed axis of CSR is the rows, of CSC the columns.
        compressed_axis = 0 if fmt == "csr" else 1
        reduced_along_compressed = ax != compressed_axis
        if reduced_along_compressed:
            n_segments = a.shape[compressed_axis]
            ids = np.repeat(np.arange(n_segments), np.diff(a.indptr))
        else:
            n_segments = a.shape[1 - compressed_axis]
            ids = a.indices
    data = _segment_values(np.asarray(a.data), ids, n_segments, temperature, log)
    out = a.copy()
    out.data = data
    return out


def _torch(a: Any, axis: Any, temperature: Any, log: bool) -> Any:
    import torch

    if a.layout == torch.sparse_csr:
        if a.ndim != 2:
            raise ValueError(f"a must be a 2-D sparse CSR tensor, got {a.ndim} dimensions")
        ax = validate.single_axis(axis, 2)
        crow, col, values = a.crow_indices(), a.col_indices(), a.values()
        if ax == 1:
            counts = crow[1:] - crow[:-1]
            rows = torch.arange(a.shape[0], device=values.device)
            ids, n_segments = torch.repeat_interleave(rows, counts), a.shape[0]
        else:
            ids, n_segments = col, a.shape[1]
        new_values = _segment_values(values, ids, n_segments, temperature, log)
        # The index arrays are those of a valid tensor: no need to check them
        # again. torch's "CSR support is in beta" notice was the caller's to
        # see when they made `a`; it is not repeated from here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                crow, col, new_values, size=a.shape, check_invariants=False  # pragma: no mutate
            )
    a = a.coalesce()
    ax = validate.single_axis(axis, a.ndim)
    indices, values = a.indices(), a.values()
    sparse_dims = a.sparse_dim()
    if ax >= sparse_dims:
        # A dense dimension: an ordinary softmax of each stored block.
        from .._core import log_softmax, softmax

        dense_axis = ax - sparse_dims + 1
        function = log_softmax if log else softmax
        new_values = function(values, axis=dense_axis, temperature=temperature)
    else:
        others = [d for d in range(sparse_dims) if d != ax]
        if others:
            # Entries in the same segment share every sparse index but the reduced one.
            # Numbered through one int64 key per entry (torch.unique over index
            # columns, dim=1, is ~50x slower); the key is below the tensor's numel,
            # which torch keeps within int64.
            key = torch.zeros_like(indices[0])  # pragma: no mutate
            for d in others:
                key = key * a.shape[d] + indices[d]
            _, ids = torch.unique(key, return_inverse=True)
            n_segments = int(ids.max()) + 1 if ids.numel() else 0
        else:
            ids = torch.zeros(indices.shape[1], dtype=torch.int64, device=indices.device)
            n_segments = 1  # pragma: no mutate
        new_values = _segment_values(values, ids, n_segments, temperature, log)
    return torch.sparse_coo_tensor(
        indices, new_values, size=a.shape, is_coalesced=True, check_invariants=False
    )

