"""The documentation site covers the public API, and the docstrings it shows are complete.

The site itself is built by ``sphinx-build`` (README.md, "Documentation"); these tests read
its sources, so they need no build: every public name of every public module has an entry
in an ``autosummary`` list of ``docs/api/``, and every public docstring has the numpydoc
sections a reader looks for (Parameters, Returns, Examples).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
from helpers import has_module

DOCS = Path(__file__).resolve().parent.parent / "docs"

# module -> the modules whose __all__ it documents, and extra requirements to import it.
PUBLIC_MODULES = {
    "softmaxkit": (),
    "softmaxkit.variants": (),
    "softmaxkit.calibration": (),
    "softmaxkit.models": ("sklearn", "scipy"),
    "softmaxkit.plot": (),
    "softmaxkit.datasets": (),
    "softmaxkit.torch": ("torch",),
    "softmaxkit.distributed": ("torch",),
    "softmaxkit.triton.softmax": ("torch", "triton"),
    "softmaxkit.triton.cross_entropy": ("torch", "triton"),
    "softmaxkit.triton.linear_cross_entropy": ("torch", "triton"),
}


def reference_entries() -> set[str]:
    """Full names listed in the autosummary directives of docs/api/*.rst."""
    entries: set[str] = set()
    for page in sorted((DOCS / "api").glob("*.rst")):
        module = None
        in_autosummary = False
        for line in page.read_text(encoding="utf-8").splitlines():
            directive = re.match(r"\.\. (currentmodule|module|automodule)::\s*(\S+)", line)
            if directive:
                module = directive.group(2)
                in_autosummary = False
            elif line.startswith(".. autosummary::"):
                in_autosummary = True
            elif in_autosummary and re.match(r"   [A-Za-z_][\w.]*$", line):
                entries.add(f"{module}.{line.strip()}")
            elif line and not line.startswith(" "):
                in_autosummary = False
    return entries


def public_names(module_name: str) -> list[str]:
    missing = [name for name in PUBLIC_MODULES[module_name] if not has_module(name)]
    if missing:
        pytest.skip(f"importing {module_name} needs {', '.join(missing)}")
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:  # modules without __all__: what they define themselves
        names = [
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == module_name
            and (inspect.isfunction(value) or inspect.isclass(value))
        ]
    return [name for name in names if name != "__version__"]


def documented_as(module_name: str, name: str) -> set[str]:
    # The variants are exported from softmaxkit and documented under that name.
    if module_name == "softmaxkit.variants":
        return {f"softmaxkit.{name}", f"softmaxkit.variants.{name}"}
    return {f"{module_name}.{name}"}


@pytest.mark.parametrize("module_name", list(PUBLIC_MODULES))
def test_every_public_name_has_a_reference_page(module_name):
    entries = reference_entries()
    missing = [name for name in public_names(module_name) if not documented_as(module_name, name) & entries]
    assert missing == [], f"no entry in docs/api/ for {module_name}: {missing}"


def test_the_reference_lists_no_name_that_does_not_exist():
    for entry in sorted(reference_entries()):
        module_name, _, name = entry.rpartition(".")
        requirements = PUBLIC_MODULES.get(module_name, ())
        if not all(has_module(requirement) for requirement in requirements):
            continue
        module = importlib.import_module(module_name)
        assert hasattr(module, name), f"docs/api/ lists {entry}, which does not exist"
def sections_missing(obj) -> list[str]:
    """The numpydoc sections a public function or class lacks."""
    from numpydoc.docscrape import ClassDoc, FunctionDoc

    doc = ClassDoc(obj) if inspect.isclass(obj) else FunctionDoc(obj)
    missing = []
    if not doc["Summary"]:
        missing.append("Summary")
    is_tuple = inspect.isclass(obj) and issubclass(obj, tuple)
    is_exception = inspect.isclass(obj) and issubclass(obj, BaseException)
    signature_target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        parameters = [
            p for p in inspect.signature(signature_target).parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    except (TypeError, ValueError):
        parameters = []
    if parameters and not (is_tuple or is_exception) and not doc["Parameters"]:
        missing.append("Parameters")
    returns_nothing = not inspect.isclass(obj) and inspect.signature(obj).return_annotation in (None, "None")
    if not inspect.isclass(obj) and not returns_nothing and not (doc["Returns"] or doc["Yields"]):
        missing.append("Returns")
    if not (is_tuple or is_exception) and not doc["Examples"]:
        missing.append("Examples")
    return missing


@pytest.mark.parametrize("module_name", list(PUBLIC_MODULES))
def test_every_public_docstring_has_the_numpydoc_sections(module_name):
    pytest.importorskip("numpydoc")
    module = importlib.import_module(module_name) if has_module(module_name.split(".")[0]) else None
    incomplete = {}
    for name in public_names(module_name):
        obj = getattr(module, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)):
            continue
        missing = sections_missing(obj)
        if missing:
            incomplete[name] = missing
    assert incomplete == {}, f"{module_name}: docstrings without these sections: {incomplete}"
