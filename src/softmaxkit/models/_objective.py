r"""The objective SoftmaxRegression minimises, its gradient and Hessian, chunk by chunk.

With ``s_i`` the sample weights (normalised to sum to 1), ``Z = X W^T + b``
the logits and ``l2 = 1 / (C S)`` (``S`` the sum of the raw weights):

.. math:: f(W, b) = \sum_i s_i\, \ell(z_i, y_i) + \frac{l_2}{2}\lVert W\rVert_F^2,
   \qquad \nabla_W f = (s \odot G)^T X + l_2 W, \quad \nabla_b f = \textstyle\sum_i s_i g_i,

where ``ell`` is the cross-entropy and ``G`` its gradient with respect to the
logits, ``softmax(z_i) - t_i`` (``t_i`` the one-hot target, smoothed when
asked). Both come from :func:`softmaxkit.cross_entropy_and_grad` (the
compiled fused kernel for NumPy), one chunk of rows at a time, so no more
than one chunk of logits exists at once.

The Hessian of the cross-entropy with respect to one row's logits is the
softmax Jacobian ``diag(p) - p p^T`` (whatever the target or smoothing), so
a Hessian-vector product in the direction ``(V, v)`` is exact and costs two
matrix products and no exponential:

.. math:: \Delta z_i = V x_i + v, \qquad
   r_i = s_i\, p_i \odot (\Delta z_i - p_i^T \Delta z_i), \qquad
   H(V, v) = (R^T X + l_2 V,\ \textstyle\sum_i r_i).

It needs the probabilities ``p_i`` of the current point, which the last
gradient evaluation kept (``P = G + t``: no second softmax). The full Hessian
(for the Newton-Cholesky solver) has the blocks
``X~^T diag(s (delta_kl p_k - p_k p_l)) X~`` with ``X~ = [X, 1]``.

``X`` is a dense C-contiguous array or a CSR matrix or array (rows are sliced
by views of its arrays, never densified). Its dtype (float32 or float64) is
the dtype of the products and of the cross-entropy; the parameters, the
sums over chunks and the penalty are float64.

Two classes are handled as scikit-learn does: one free row ``w`` and the
logits ``[0, w x + b]``, whose softmax is ``[1 - sigmoid(d), sigmoid(d)]``.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import scipy.sparse as sparse

from .._core import softmax
from ..losses import cross_entropy_and_grad

# Rows per chunk: about this many logits per chunk (2 MiB of float64, small
# enough to stay in cache, large enough that per-chunk Python does not show).
LOGITS_PER_CHUNK = 2**18
# The preconditioner uses the features' full Gram matrix up to this width
# (an eigendecomposition of width^3 flops, once per fit), its diagonal above.
_GRAM_WIDTH = 1024
# Rows per block of a weighted Gram matrix.
_GRAM_BLOCK = 256
# Curvatures this far below the largest are taken as zero (the pseudo-inverse).
_SINGULAR = 1e-12


class MultinomialObjective:
    """The mean penalised cross-entropy of a linear model in flat parameters.

    The flat parameters are the C-ordered ``(n_rows, n_features + 1)`` array
    ``[W, b]`` (``[W]`` without an intercept), ``n_rows = n_classes`` or 1 for
    two classes.

    Parameters
    ----------
    X : ndarray or CSR sparse matrix/array, shape (n_samples, n_features)
    target : int ndarray, shape (n_samples,)
        Class indices in ``range(n_classes)``.
    weights : float64 ndarray, shape (n_samples,)
        Sample weights summing to 1.
    l2 : float
        Penalty strength on ``W`` (0 for none).
    n_classes : int
    fit_intercept : bool
    label_smoothing : float
    chunk_rows : int, optional
        Rows per chunk (default: about ``LOGITS_PER_CHUNK`` logits).
    executor : concurrent.futures.Executor, optional
        Where the chunks' work runs (a thread pool: NumPy's products and the
        kernel release the GIL); serial without one. Results are summed in
        chunk order either way, so they do not depend on the thread count.
    """

    def __init__(
        self,
        X: Any,
        target: np.ndarray,
        weights: np.ndarray,
        l2: float,
        *,
        n_classes: int,
        fit_intercept: bool,
        label_smoothing: float = 0.0,
        chunk_rows: int | None = None,
        executor: Executor | None = None,
    ):
        self.n_samples, self.n_features = X.shape
        self.n_classes = n_classes
        self.binary = n_classes == 2
        self.n_rows = 1 if self.binary else n_classes
        self.fit_intercept = fit_intercept
        self.l2 = float(l2)
        self.label_smoothing = float(label_smoothing)
        self.dtype = X.dtype
        self.is_sparse = _is_sparse(X)
        self.executor = executor
        self._X, self._target, self._weights = X, target, weights
        if chunk_rows is None:
            chunk_rows = max(1, LOGITS_PER_CHUNK // n_classes)
        self.chunks = [
            _Chunk(_rows(X, start, min(start + chunk_rows, self.n_samples)),
                   target[start:start + chunk_rows], weights[start:start + chunk_rows])
            for start in range(0, self.n_samples, chunk_rows)
        ]  # fmt: skip
        self.n_params = self.n_rows * (self.n_features + int(fit_intercept))
        self.probabilities: list[np.ndarray] | None = None  # of the last keep=True evaluation
        self._spectrum: tuple[np.ndarray, np.ndarray | None] | None = None  # of the features' Gram matrix

    def split(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The free ``W`` (n_rows, n_features) and ``b`` (n_rows,) of flat parameters."""
        params = flat.reshape(self.n_rows, -1)
        W = params[:, : self.n_features]
        b = params[:, self.n_features] if self.fit_intercept else np.zeros(self.n_rows)
        return W, b

    def join(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flat parameters of the free ``W`` and ``b`` (``b`` dropped without an intercept)."""
        return (np.hstack([W, b[:, None]]) if self.fit_intercept else W).ravel()

    def value_and_grad(self, flat: np.ndarray, *, keep: bool = False) -> tuple[float, np.ndarray]:
        """The objective and its flat gradient; ``keep``: remember the
        probabilities for :meth:`hessian_product` and :meth:`hessian`."""
        W, b = self.split(flat)
        W_all, b_all = self._all_classes(W, b)
        W_t = np.ascontiguousarray(W_all.T, dtype=self.dtype)
        b_all = b_all.astype(self.dtype, copy=False)
        kept: list[Any] = [None] * len(self.chunks)
        if keep:
            self.probabilities = None  # the last point's, freed before the new ones exist

        def part(index: int, chunk: _Chunk) -> tuple[float, np.ndarray, np.ndarray]:
            logits = chunk.X @ W_t
            logits += b_all
            losses, grad = cross_entropy_and_grad(
                logits, chunk.target, label_smoothing=self.label_smoothing, reduction="none"
            )
            del logits  # before the probabilities: one chunk-sized array fewer at the peak
            if keep:
                kept[index] = self._probabilities_from(grad, chunk.target)  # a new array
            grad *= chunk.weights_column(grad.dtype)
            return (float(np.dot(chunk.weights, losses)), chunk.transposed_times(grad),
                    chunk.column_sums(grad))  # fmt: skip

        value, grad_W, grad_b = _sum_in_order(self._map(part, range(len(self.chunks)), self.chunks))
        if keep:
            self.probabilities = kept
        grad_W, grad_b = self._free(self._finish(grad_W), grad_b)
        value += 0.5 * self.l2 * float(np.sum(W * W))
        grad_W += self.l2 * W
        return value, self.join(grad_W, grad_b)

    def subsample(self, n_rows: int, seed: int = 0) -> MultinomialObjective:
        """The same objective on ``n_rows`` rows drawn without replacement (weights
        rescaled to sum to 1, the same penalty): a Hessian estimate for large problems."""
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(self.n_samples, size=n_rows, replace=False))
        X = self._X[rows]
        weights = self._weights[rows]
        return MultinomialObjective(
            X, self._target[rows], weights / np.sum(weights), self.l2, n_classes=self.n_classes,
            fit_intercept=self.fit_intercept, label_smoothing=self.label_smoothing,
            executor=self.executor,
        )  # fmt: skip

    def remember(self, flat: np.ndarray) -> None:
        """Keep the probabilities at ``flat`` for the Hessian (no gradient computed)."""
        W, b = self.split(flat)
        W_all, b_all = self._all_classes(W, b)
        W_t = np.ascontiguousarray(W_all.T, dtype=self.dtype)
        b_all = b_all.astype(self.dtype, copy=False)
        self.probabilities = None

        def part(chunk: _Chunk) -> np.ndarray:
            logits = chunk.X @ W_t
            logits += b_all
            return softmax(logits, axis=1)

        self.probabilities = list(self._map(part, self.chunks))

    def hessian_product(self, flat_direction: np.ndarray) -> np.ndarray:
        """The Hessian (at the last ``keep=True`` point) times a flat direction."""
        V, v = self.split(flat_direction)
        V_all, v_all = self._all_classes(V, v)
        V_t = np.ascontiguousarray(V_all.T, dtype=self.dtype)
        v_all = v_all.astype(self.dtype, copy=False)

        def part(chunk: _Chunk, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            r = chunk.X @ V_t
            r += v_all
            # r_i = s_i p_i * (dz_i - p_i . dz_i), in place on dz.
            r -= np.einsum("ij,ij->i", p, r)[:, None]
            r *= p
            r *= chunk.weights_column(r.dtype)
            return chunk.transposed_times(r), chunk.column_sums(r)

        out_W, out_b = _sum_in_order(self._map(part, self.chunks, self._kept()))
        out_W, out_b = self._free(self._finish(out_W), out_b)
        out_W += self.l2 * V
        return self.join(out_W, out_b)

    def preconditioner(self) -> Callable[[np.ndarray], np.ndarray]:
        """An approximate inverse of the Hessian at the last ``keep=True`` point.

        The Kronecker approximation ``H ~ A (x) B + l2 I``, exact when every
        row's softmax Jacobian is the same: ``A = sum_i s_i (diag(p_i) - p_i
        p_i^T)`` over the classes, ``B = X~^T diag(s) X~`` over the features
        (made once; its diagonal when ``X`` is sparse or wider than
        ``_GRAM_WIDTH``). The eigenvectors of ``A`` and ``B`` diagonalise the
        approximation, so applying its inverse costs a few products of the
        parameters' size and nothing over the rows. Where it is singular (no
        penalty: all classes moved together; features that are always zero),
        the pseudo-inverse, which keeps conjugate gradients out of the flat
        directions as the Hessian does.
        """
        class_values, class_vectors = np.linalg.eigh(self._class_curvature())
        feature_values, feature_vectors = self._feature_spectrum()
        scale = np.multiply.outer(np.maximum(class_values, 0.0), feature_values) + self.l2
        inverse = np.zeros_like(scale)
        np.divide(1.0, scale, out=inverse, where=scale > scale.max() * _SINGULAR)
        if feature_vectors is None:  # diagonal B
            return lambda flat: (class_vectors @ (inverse * (class_vectors.T @ flat.reshape(scale.shape)))).ravel()

        def apply(flat: np.ndarray) -> np.ndarray:
            rotated = class_vectors.T @ flat.reshape(scale.shape) @ feature_vectors
            rotated *= inverse
            flat_step: np.ndarray = (class_vectors @ rotated @ feature_vectors.T).ravel()
            return flat_step

        return apply

    def _class_curvature(self) -> np.ndarray:
        """``sum_i s_i (diag(p_i) - p_i p_i^T)`` over the free rows (K x K, or 1 x 1 for two classes)."""

        def part(chunk: _Chunk, p: np.ndarray) -> tuple[np.ndarray]:
            weighted = p * chunk.weights_column(p.dtype)
            return (np.diag(np.sum(weighted, axis=0)) - weighted.T @ p,)

        (A,) = _sum_in_order(self._map(part, self.chunks, self._kept()))
        curvature: np.ndarray = A[1:, 1:] if self.binary else A
        return curvature

    def _feature_spectrum(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Eigenvalues and eigenvectors of ``B = X~^T diag(s) X~`` (made once);
        for sparse or wide X the diagonal of B and None."""
        if self._spectrum is None:
            width = self.n_features + int(self.fit_intercept)
            if self.is_sparse or width > _GRAM_WIDTH:
                def part(chunk: _Chunk) -> tuple[np.ndarray]:
                    return (_weighted_squares(chunk.X, chunk.weights, self.fit_intercept),)

                (diagonal,) = _sum_in_order(self._map(part, self.chunks))
                self._spectrum = diagonal, None
            else:
                def part(chunk: _Chunk) -> tuple[np.ndarray]:
                    return (_weighted_gram(chunk.X, chunk.weights, self.fit_intercept),)

                (B,) = _sum_in_order(self._map(part, self.chunks))
                values, vectors = np.linalg.eigh(B)
                self._spectrum = np.maximum(values, 0.0), vectors
        return self._spectrum

    def hessian(self) -> np.ndarray:
        """The full (n_params, n_params) Hessian at the last ``keep=True`` point."""
        k_rows = range(1, 2) if self.binary else range(self.n_classes)
        width = self.n_features + int(self.fit_intercept)
        H = np.zeros((self.n_rows, width, self.n_rows, width))
        for chunk, p in zip(self.chunks, self._kept()):
            p = p.astype(np.float64, copy=False)
            s = chunk.weights
            for a, k in enumerate(k_rows):
                for c, l in enumerate(k_rows):
                    if c < a:
                        continue
                    curvature = s * p[:, k] * ((k == l) - p[:, l])
                    H[a, :, c, :] += _weighted_gram(chunk.X, curvature, self.fit_intercept)
        for a in range(self.n_rows):
            for c in range(a):
                H[a, :, c, :] = H[c, :, a, :].T
            H[a, : self.n_features, a, : self.n_features] += self.l2 * np.eye(self.n_features)
        return H.reshape(self.n_params, self.n_params)

    def _map(self, function: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
        """``function(*items)`` for ``items in zip(*iterables)``, in order, on the
        executor's threads when there is one (each chunk's products then run on one core)."""
        if self.executor is None or len(self.chunks) == 1:
            return map(function, *iterables)
        return self.executor.map(function, *iterables)

    def _finish(self, accumulated: np.ndarray) -> np.ndarray:
        """The (n_classes, n_features) sum of :meth:`_Chunk.transposed_times`'s
        products, which come as ``X^T M`` for sparse X (so no chunk adds strided)."""
        return accumulated.T if self.is_sparse else accumulated

    def _all_classes(self, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Free parameters -> one row per class (two classes: a zero row first)."""
        if self.binary:
            return np.vstack([np.zeros_like(W), W]), np.concatenate([[0.0], b])
        return W, b

    def _free(self, grad_W: np.ndarray, grad_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-class gradients -> the gradients of the free parameters."""
        if self.binary:
            return grad_W[1:], grad_b[1:]
        return grad_W, grad_b

    def _probabilities_from(self, grad: np.ndarray, target: np.ndarray) -> np.ndarray:
        """softmax(z) = G + t for G the unweighted gradient and t the (smoothed) target."""
        eps = self.label_smoothing
        p = grad + eps / self.n_classes if eps else grad.copy()
        p[np.arange(len(target)), target] += 1.0 - eps
        return p

    def _kept(self) -> list[np.ndarray]:
        if self.probabilities is None:
            raise RuntimeError("value_and_grad(..., keep=True) must come before a Hessian")
        return self.probabilities


class _Chunk:
    """Rows of X with their targets and weights, and the products the objective needs."""

    def __init__(self, X: Any, target: np.ndarray, weights: np.ndarray):
        self.X, self.target, self.weights = X, target, weights
        self._columns: dict[np.dtype, np.ndarray] = {}
        self._ones = np.ones(X.shape[0], dtype=X.dtype)

    def weights_column(self, dtype: np.dtype) -> np.ndarray:
        """The weights as an (n, 1) column of ``dtype`` (made once per dtype)."""
        if dtype not in self._columns:
            self._columns[dtype] = self.weights.astype(dtype)[:, None]
        return self._columns[dtype]

    def transposed_times(self, M: np.ndarray) -> np.ndarray:
        """``M^T X`` for M (n, n_classes); for sparse X its transpose ``X^T M``
        (see ``MultinomialObjective._finish``)."""
        product: np.ndarray = self.X.T @ M if _is_sparse(self.X) else M.T @ self.X
        return product

    def column_sums(self, M: np.ndarray) -> np.ndarray:
        """``M``'s column sums (a BLAS product: numpy's axis-0 sum of a narrow
        matrix takes 3x as long)."""
        sums: np.ndarray = self._ones @ M
        return sums


def _is_sparse(X: Any) -> bool:
    """Whether X is a SciPy sparse array or matrix. (A plain bool: scipy-stubs'
    ``issparse`` narrows X to an abstract base without CSR's attributes.)"""
    return bool(sparse.issparse(X))


def _rows(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of X: a view for arrays; for CSR, a matrix on views of its arrays."""
    if not _is_sparse(X):
        return X[start:stop]
    first, last = X.indptr[start], X.indptr[stop]
    return type(X)(
        (X.data[first:last], X.indices[first:last], X.indptr[start : stop + 1] - first),
        shape=(stop - start, X.shape[1]),
        copy=False,
    )


def _sum_in_order(parts: Iterable[tuple[Any, ...]]) -> list[Any]:
    """The fieldwise sums of the chunks' partial results, added chunk after chunk
    as they come (the same rounding whatever threads computed them; no more
    partial results held than the threads run ahead)."""
    sums: list[Any] = []
    for fields in parts:
        if not sums:
            sums = [field + 0.0 for field in fields]  # new arrays (or floats) to add into
            continue
        for i, field in enumerate(fields):
            sums[i] += field  # in place for arrays
    return sums


def _weighted_squares(X: Any, c: np.ndarray, with_ones: bool) -> np.ndarray:
    """The diagonal of ``X~^T diag(c) X~``."""
    if _is_sparse(X):
        squares = np.asarray(X.multiply(X).T @ c).ravel()
    else:
        squares = (X * X).T @ c
    return np.append(squares, np.sum(c)) if with_ones else squares


def _weighted_gram(X: Any, c: np.ndarray, with_ones: bool) -> np.ndarray:
    """``X~^T diag(c) X~`` (dense), ``X~ = [X, 1]`` with the ones column or ``X``."""
    if _is_sparse(X):
        gram = (X.T @ X.multiply(c[:, None]).tocsr()).toarray()
        cross = np.asarray(X.T @ c).ravel()
    else:
        # In blocks of rows: the weighted copy of X is one block, not a chunk.
        gram = np.zeros((X.shape[1], X.shape[1]))
        for start in range(0, X.shape[0], _GRAM_BLOCK):
            block = X[start : start + _GRAM_BLOCK].astype(np.float64, copy=False)
            gram += block.T @ (block * c[start : start + _GRAM_BLOCK, None])
        cross = X.T @ c
    if not with_ones:
        dense: np.ndarray = gram
        return dense
    n = gram.shape[0]
    out = np.empty((n + 1, n + 1))
    out[:n, :n], out[:n, n], out[n, :n], out[n, n] = gram, cross, cross, np.sum(c)
    return out
