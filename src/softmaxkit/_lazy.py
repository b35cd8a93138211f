"""Names of a package imported on first use, so that ``import softmaxkit`` stays light.

A package says where each of its lazily exported names lives
(:func:`export_lazily`); the first lookup of such a name imports that module
and keeps the value in the package's namespace, so later lookups are plain
attribute reads. Type checkers see the names through the package's
``if TYPE_CHECKING:`` imports.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package module whose exported names are imported when first looked up."""

    _lazy_locations: Mapping[str, str]
    _lazy_submodules: frozenset[str]

    def __getattr__(self, name: str) -> Any:
        if name in self._lazy_locations:
            module = importlib.import_module(self._lazy_locations[name], self.__name__)
            value = getattr(module, name)
        elif name in self._lazy_submodules:
            value = importlib.import_module(f".{name}", self.__name__)
        else:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | set(self._lazy_locations) | self._lazy_submodules)

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule makes it an attribute of its package. Where a
        # submodule and an exported function share a name (variants.sparsemax)
        # the function must win, whichever was imported first, as it did when
        # the package imported everything eagerly.
        if name in self._lazy_locations and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def export_lazily(
    package: str,
    locations: Mapping[str, str],
    submodules: Iterable[str] = (),
    eager: Iterable[str] = (),
) -> None:
    """Make the names of ``locations`` attributes of ``package`` that load on first use.

    ``locations`` maps each name to the module, relative to ``package``, that
    defines it; ``submodules`` are imported when looked up as attributes
    (``softmaxkit.losses`` after a plain ``import softmaxkit``). The
    package's ``__all__`` is the names ``eager`` (its public names already
    imported) and then those of ``locations``: type checkers see the names
    through the package's ``if TYPE_CHECKING:`` imports, so the package has no
    literal ``__all__`` to keep in step.

    >>> import softmaxkit
    >>> softmaxkit.cross_entropy.__module__
    'softmaxkit.losses'
    """
    module = sys.modules[package]
    module.__dict__["_lazy_locations"] = dict(locations)
    module.__dict__["_lazy_submodules"] = frozenset(submodules)
    module.__dict__["__all__"] = [*eager, *locations]
    module.__class__ = _LazyPackage


def exported(package: types.ModuleType) -> list[str]:
    """The names that :func:`export_lazily` made attributes of ``package``, in their order.

    >>> import softmaxkit.variants
    >>> exported(softmaxkit.variants)[:2]
    ['CandidateSample', 'SampledSoftmaxGrad']
    """
    locations: Mapping[str, str] = package.__dict__["_lazy_locations"]
    return list(locations)
