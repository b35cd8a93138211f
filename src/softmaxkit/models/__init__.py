"""Classifiers built on softmax (need the ``ml`` extra: scikit-learn and SciPy).

* :class:`SoftmaxRegression`: multinomial logistic regression with the
  scikit-learn estimator API, trained on :func:`softmaxkit.linear_cross_entropy_and_grad`.
"""

from .softmax_regression import SoftmaxRegression

__all__ = ["SoftmaxRegression"]
