"""scikit-learn's parameter protocol, without importing scikit-learn.

An estimator's parameters are the arguments of its ``__init__``, stored
unchanged under the same names; ``get_params`` and ``set_params`` read and
write them. That is all ``sklearn.base.clone``, ``GridSearchCV`` and
``Pipeline`` need, and the scalers stay importable without scikit-learn.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11


class Params:
    """``get_params`` / ``set_params`` from the signature of ``__init__``, as ``sklearn.base.BaseEstimator``."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    # deep is ignored (no nested estimators), so its default changes nothing.
    def get_params(self, deep: bool = True) -> dict[str, Any]:  # pragma: no mutate
        """The estimator's parameters: ``{name: value}`` for each argument of ``__init__``.

        ``deep`` is accepted for scikit-learn's protocol; these estimators
        hold no other estimators.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set parameters by name; returns the estimator (scikit-learn's protocol)."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {valid}"
                )
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags (called by scikit-learn only, so it is importable here):
        ``fit`` needs the labels; the input is a matrix of logits."""
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=True),
            transformer_tags=TransformerTags(),
        )


def not_fitted(estimator: Any) -> Exception:
    """The error for a method called before ``fit``: scikit-learn's NotFittedError where installed.

    NotFittedError is a ValueError, as the error is without scikit-learn.
    """
    message = f"this {type(estimator).__name__} is not fitted yet: call fit(logits, labels)"
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:
        return ValueError(message)
    error: Exception = NotFittedError(message)
    return error
