"""The package as a whole: light import, version, public names, installed files, docs."""

import ast
import doctest
import importlib
import importlib.metadata
import json
import pathlib
import pkgutil
import re
import subprocess
import sys

import pytest

import softmaxkit as sk

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "softmaxkit"
ALLOWED_THIRD_PARTY = {"numpy", "array_api_compat"}
OPTIONAL_DEPENDENCIES = {"torch", "scipy", "matplotlib", "sklearn", "triton", "playwright"}


def test_import_loads_only_numpy_and_array_api_compat():
    code = (
        "import sys, json; before = set(sys.modules); import softmaxkit; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    top_level = {name.split(".")[0] for name in loaded}
    stdlib = set(sys.stdlib_module_names) | {"_distutils_hack"}
    third_party = {name for name in top_level if name not in stdlib and not name.startswith("_")}
    assert third_party <= ALLOWED_THIRD_PARTY | {"softmaxkit"}, third_party


# What ``import softmaxkit`` loads: the core functions and the backends they
# dispatch to. The losses, the variants and every tool load on first use (the
# import had grown to ~90 ms over NumPy's own when everything loaded eagerly).
LOADED_BY_IMPORT = {
    "softmaxkit",
    "softmaxkit._backend",
    "softmaxkit._backends",
    "softmaxkit._chunks",
    "softmaxkit._core",
    "softmaxkit._dispatch",
    "softmaxkit._family",
    "softmaxkit._host",
    "softmaxkit._lazy",
    "softmaxkit._reference",
    "softmaxkit._stable",
    "softmaxkit._streams",
    "softmaxkit._threads",
    "softmaxkit._typing",
    "softmaxkit._validate",
    "softmaxkit.variants",
}


def modules_loaded_by(code):
    program = (
        "import sys, json; before = set(sys.modules); " + code + "; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return set(json.loads(run.stdout))


def test_import_loads_only_the_core_modules_of_softmaxkit():
    loaded = {name for name in modules_loaded_by("import softmaxkit") if name.startswith("softmaxkit")}
    assert loaded == LOADED_BY_IMPORT


@pytest.mark.parametrize(
    ("name", "module"),
    [("cross_entropy", "softmaxkit.losses"), ("sparsemax", "softmaxkit.variants.sparsemax"),
     ("entropy", "softmaxkit.variants.information")],
)  # fmt: skip
def test_a_lazy_name_loads_its_module_on_first_use(name, module):
    loaded = modules_loaded_by(f"import softmaxkit; softmaxkit.{name}")
    assert module in loaded
    assert "softmaxkit.variants.sampled" not in loaded


def test_numpy_calls_run_without_torch():
    # torch is the caller's to import: the kernel backend's NumPy path never needs it.
    loaded = modules_loaded_by(
        "import numpy as np, softmaxkit as sk; "
        "assert sk.cross_entropy_and_grad([[0.0, 1.0, 2.0]], [2]).grad.shape == (1, 3)"
    )
    assert "torch" not in loaded


def test_lazy_names_are_the_objects_of_their_modules():
    from softmaxkit import losses, variants
    from softmaxkit.variants import sampled

    assert sk.cross_entropy is losses.cross_entropy
    assert sk.sparsemax is variants.sparsemax is sys.modules["softmaxkit.variants.sparsemax"].sparsemax
    assert sk.SampledSoftmaxResult is sampled.SampledSoftmaxResult
    assert set(sk.__all__) <= set(dir(sk))
    assert set(variants.__all__) <= set(dir(variants))


def test_lazy_names_and_imported_submodules_are_kept_in_their_package():
    # Later lookups are plain attribute reads, without the package's __getattr__.
    from softmaxkit import variants

    value = variants.entmax15
    assert vars(variants)["entmax15"] is value
    # and an imported submodule is an attribute of its package, as usual
    from softmaxkit import calibration, losses

    assert vars(sk)["losses"] is losses
    assert vars(sk)["calibration"] is calibration


def type_checking_exports(package: pathlib.Path) -> dict[str, str]:
    """``{name: module}`` of the ``from .module import name as name`` lines under
    ``if TYPE_CHECKING:`` in ``package/__init__.py``: what type checkers see.
    ``from .module import *`` there stands for that package's lazy names."""
    tree = ast.parse((package / "__init__.py").read_text())
    block = next(s for s in tree.body if isinstance(s, ast.If) and ast.unparse(s.test) == "TYPE_CHECKING")
    found = {}
    for statement in block.body:
        assert isinstance(statement, ast.ImportFrom) and statement.level == 1
        module = "." + statement.module
        for alias in statement.names:
            if alias.name == "*":
                found.update(dict.fromkeys(type_checking_exports(package / statement.module), module))
            else:
                assert alias.asname == alias.name, "an import as itself marks a re-export"
                found[alias.name] = module
    return found


@pytest.mark.parametrize("package", ["softmaxkit", "softmaxkit.variants"])
def test_type_checkers_see_the_lazy_names_where_they_load_from(package):
    # The names are listed twice (the imports type checkers read, the table
    # export_lazily reads at run time): the two agree, each name and its module.
    module = importlib.import_module(package)
    seen = type_checking_exports(pathlib.Path(module.__file__).parent)
    assert module._lazy_locations == seen
    assert set(seen) <= set(module.__all__)


def test_the_public_submodules_are_attributes_after_a_plain_import():
    loaded = modules_loaded_by(
        "import softmaxkit; assert softmaxkit.losses.nll_loss is softmaxkit.nll_loss; "
        "assert softmaxkit.variants.topk is softmaxkit.topk"
    )
    assert {"softmaxkit.losses", "softmaxkit.variants.sampling"} <= loaded


@pytest.mark.parametrize("first", ["import softmaxkit.variants.sparsemax", "softmaxkit.sparsemax"])
def test_the_function_sparsemax_wins_over_its_module_of_the_same_name(first):
    # The module softmaxkit.variants.sparsemax defines the function sparsemax.
    modules_loaded_by(
        f"import softmaxkit; {first}; import types; "
        "assert not isinstance(softmaxkit.variants.sparsemax, types.ModuleType); "
        "assert softmaxkit.sparsemax is softmaxkit.variants.sparsemax"
    )


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="'softmaxkit' has no attribute 'sofmax'"):
        sk.sofmax
    with pytest.raises(AttributeError, match="'softmaxkit.variants' has no attribute 'x'"):
        sk.variants.x


def test_star_import_gives_every_public_name():
    namespace = {}
    exec("from softmaxkit import *", namespace)
    assert set(sk.__all__) - {"__version__"} <= set(namespace)


def test_version_matches_the_installed_metadata():
    assert sk.__version__ == importlib.metadata.version("softmaxkit")


def test_all_names_exist_and_are_documented():
    for name in sk.__all__:
        obj = getattr(sk, name)
        if callable(obj) and not isinstance(obj, type):
            assert "Examples" in (obj.__doc__ or ""), f"{name} has no Examples section"


def package_modules():
    """Every module of the package, private ones included (their functions are
    re-exported, and doctest only looks at objects defined in the module itself)."""
    names = ["softmaxkit"] + [
        info.name for info in pkgutil.walk_packages(sk.__path__, prefix="softmaxkit.")
        if not info.name.endswith("__main__")
    ]
    return names


# Modules for people (not only re-exported functions): each must show an example.
MODULES_WITH_EXAMPLES = {
    "softmaxkit.datasets",
    "softmaxkit.calibration.metrics",
    "softmaxkit.calibration.temperature",
    "softmaxkit.calibration.vector",
    "softmaxkit.models.softmax_regression",
    "softmaxkit.plot",
    "softmaxkit.cli.explain",
    "softmaxkit.cli.demo",
    "softmaxkit.explorer.page",
    "softmaxkit._progress",
}


@pytest.mark.parametrize("name", package_modules())
def test_docstring_examples_run(name):
    """Every docstring example of the package runs here, once (the documentation's
    doctest build runs only the guides' blocks: docs/conf.py)."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in OPTIONAL_DEPENDENCIES:
            raise
        pytest.skip(f"needs the optional dependency {exc.name}")
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test)
    assert runner.failures == 0
    assert runner.tries > 0 or name not in MODULES_WITH_EXAMPLES, f"{name} has no examples"


def test_the_public_functions_have_examples():
    # They run in test_docstring_examples_run, with the module that defines them.
    finder = doctest.DocTestFinder(recurse=False)
    functions = [name for name in sk.__all__ if callable(getattr(sk, name)) and not isinstance(getattr(sk, name), type)]
    without = [name for name in functions if not any(t.examples for t in finder.find(getattr(sk, name), name))]
    assert without == []


@pytest.mark.skipif(not SOURCE.is_dir(), reason="runs from a source checkout")
def test_every_source_file_is_installed():
    installed = pathlib.Path(sk.__file__).parent
    missing = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*")
        if path.is_file()
        and path.name != "meson.build"
        and "__pycache__" not in path.parts
        and not path.suffix in (".c", ".h")
        and not (installed / path.relative_to(SOURCE)).exists()
    ]
    assert missing == [], "add these to a meson.build install list"


@pytest.mark.skipif(not (ROOT / ".ci" / "run").is_file(), reason="runs from a source checkout")
def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert len(blocks) >= 2, "README starts with two bash blocks: install + run, install + test"
    test_command = blocks[1].strip()
    assert "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
