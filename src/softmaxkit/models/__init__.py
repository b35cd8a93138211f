"""Classifiers built on softmax (need the ``ml`` extra: scikit-learn and SciPy).

* :class:`SoftmaxRegression`: multinomial logistic regression with the
  scikit-learn estimator API (dense or sparse ``X``), fitted by Newton-CG,
  Newton-Cholesky or L-BFGS on :func:`softmaxkit.cross_entropy_and_grad`.
"""

from .softmax_regression import SoftmaxRegression

__all__ = ["SoftmaxRegression"]
