"""Types for editors and type checkers: py.typed, precise signatures, a stub for the extension.

mypy --strict runs on the package itself (with pyproject.toml's [tool.mypy]),
on a user's code that calls the public API and on the README's examples: each
must pass, a call must come back as the array type it was given, and no
public function or method may return Any.
"""

import importlib
import inspect
import re
import subprocess
import sys
import sysconfig
from importlib import resources
from pathlib import Path

import pytest
from helpers import has_module

import softmaxkit

requires_mypy = pytest.mark.skipif(not has_module("mypy"), reason="needs mypy")
ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYPROJECT = ROOT / "pyproject.toml"
# The sources that pyproject.toml's [tool.mypy] names: an installed copy in
# site-packages cannot be checked by path (mypy reads it as shadowing the
# libraries beside it).
PACKAGE = ROOT / "src" / "softmaxkit"

USER_CODE = '''
import numpy as np
import numpy.typing as npt
import softmaxkit as sk
from softmaxkit.calibration import TemperatureScaler, expected_calibration_error

x: npt.NDArray[np.float64] = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
p: npt.NDArray[np.float64] = sk.softmax(x)
logp = sk.log_softmax(x, axis=-1, temperature=2.0)
lse = sk.logsumexp(x)
value, sign = sk.logsumexp(x, b=np.ones(3), return_sign=True)
from_list = sk.softmax([1.0, 2.0, 3.0])
h = sk.entropy(logits=x)
kl = sk.kl_divergence(probs_p=p, probs_q=p)
jac = sk.softmax_jacobian(probs=p)
grad = sk.softmax_vjp(p, np.ones_like(p))
loss = sk.cross_entropy(x, np.array([0, 2]))
ece: float = expected_calibration_error(p, [0, 2])
scaler = TemperatureScaler().fit(x, np.array([0, 2]))
print(p.sum(axis=-1), logp.max(), float(lse), value.round(3), sign, from_list.argmax())
print(h, kl, jac.shape, grad.shape, loss, ece, scaler.temperature_)
reveal_type(sk.softmax(x))
reveal_type(sk.softmax([1.0, 2.0]))
reveal_type(sk.logsumexp(x, return_sign=True))
reveal_type(sk.entropy(probs=[0.5, 0.5]))
'''

# The losses, variants, calibration and the classifier, each call with the
# type mypy must reveal for it (F64: a float64 NumPy array, as given; ANY_NP:
# a NumPy array from lists, or whose dtype the call decides).
F64 = r"numpy\.ndarray\[tuple\[Any, \.\.\.\], numpy\.dtype\[numpy\.float64\]\]"
ANY_NP = r"numpy\.ndarray\[tuple\[Any, \.\.\.\], numpy\.dtype\[Any\]\]"
PRECISE_CALLS = [
    ("sk.cross_entropy(x, y)", F64),
    ("sk.cross_entropy([[1.0, 2.0]], [1], reduction='none')", ANY_NP),
    ("sk.cross_entropy_and_grad(x, y).grad", F64),
    ("sk.cross_entropy_grad(x, y, label_smoothing=0.1)", F64),
    ("sk.nll_loss(x, y)", F64),
    ("sk.linear_cross_entropy(x, w, [0, 3], chunk_size=2)", F64),
    ("sk.linear_cross_entropy_and_grad(x, w, [0, 3]).grad_bias", rf"{F64} \| None"),
    ("sk.sparsemax(x)", F64),
    ("sk.entmax_bisect([1.0, 2.0], alpha=1.5)", ANY_NP),
    ("sk.sparsemax_loss(x, y)", F64),
    ("sk.entmax15_vjp(x, x)", F64),
    ("sk.gumbel_softmax(x, 0.5, seed=0)", F64),
    ("sk.segment_softmax(x, [0, 0])", F64),
    ("sk.topk(x, 2).indices", F64),
    ("sk.sample(x, top_k=2, seed=0)", F64),
    ("sk.sample_candidates([[0], [3]], 4, 10, sampler='uniform', seed=0).candidates", ANY_NP),
    ("sk.sampled_softmax_loss_and_grad(w, np.zeros(4), [[0], [1]], x, 2, 4).grad.weights", F64),
    ("TemperatureScaler().fit(x, y).predict_proba(x)", F64),
    ("VectorScaler().fit(x, y).transform([[1.0, 2.0, 3.0]])", ANY_NP),
    ("expected_calibration_error(sk.softmax(x), y, norm='max')", "float"),
    ("reliability_curve(sk.softmax(x), y).accuracy", ANY_NP),
    ("SoftmaxRegression(C=10.0).fit(x, y).predict_proba(x)", ANY_NP),
]
PRECISE_CODE = """
import numpy as np
import numpy.typing as npt
import softmaxkit as sk
from softmaxkit.calibration import (
    TemperatureScaler, VectorScaler, expected_calibration_error, reliability_curve,
)
from softmaxkit.models import SoftmaxRegression

x: npt.NDArray[np.float64] = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0]])
y: npt.NDArray[np.int64] = np.array([0, 2])
w: npt.NDArray[np.float64] = np.ones((4, 3))
""" + "".join(f"reveal_type({call})\n" for call, _ in PRECISE_CALLS)

# The public modules whose functions and methods are checked for Any returns.
PUBLIC_MODULES = [
    "softmaxkit", "softmaxkit.calibration", "softmaxkit.models", "softmaxkit.plot",
    "softmaxkit.datasets", "softmaxkit.distributed", "softmaxkit.torch",
    "softmaxkit.triton.softmax", "softmaxkit.triton.cross_entropy",
    "softmaxkit.triton.linear_cross_entropy",
]


def readme_examples() -> str:
    """The README's ``>>>`` lines as a module (outputs dropped)."""
    lines = [line[4:] for line in README.read_text().splitlines() if line.startswith(">>> ")]
    return "\n".join(lines) + "\n"


# The optional libraries that softmaxkit imports inside functions are left
# unanalysed (as Any): mypy would otherwise spend minutes on torch and jax.
# NumPy, whose types the signatures use, is analysed.
MYPY_CONFIG = """\
[mypy]
[mypy-torch.*,jax.*,jaxlib.*,scipy.*,sklearn.*,dask.*,matplotlib.*,triton.*,cupy.*,array_api_strict.*]
follow_imports = skip
ignore_missing_imports = True
"""


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory):
    """One mypy cache for the module's runs: NumPy's stubs are analysed once."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(scope="module")
def project_mypy_cache(tmp_path_factory):
    """The cache of the runs under pyproject.toml's configuration (torch analysed once)."""
    return tmp_path_factory.mktemp("mypy-cache-project")


def run_mypy(
    tmp_path: Path, cache: Path, code: str, *, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """mypy --strict on ``code`` as a user's module; ``config`` None: the
    optional libraries unanalysed (MYPY_CONFIG), else that configuration."""
    snippet = tmp_path / "user_code.py"
    snippet.write_text(code)
    if config is None:
        config = tmp_path / "mypy.ini"
        config.write_text(MYPY_CONFIG)
    env = {"PATH": "/usr/bin:/bin"}
    package_parent = Path(softmaxkit.__file__).resolve().parents[1]
    if package_parent != Path(sysconfig.get_paths()["purelib"]).resolve():
        # An editable or in-tree checkout: point mypy at the sources. An
        # installed package is found in site-packages through its py.typed.
        env["MYPYPATH"] = str(package_parent)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--config-file", str(config), "--cache-dir", str(cache), str(snippet)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip


def test_py_typed_and_the_extension_stub_are_shipped():
    # Pins: mypy said "missing library stubs or py.typed marker".
    package = resources.files("softmaxkit")
    assert package.joinpath("py.typed").is_file()
    stub = package.joinpath("_kernel.pyi").read_text()
    for name in ("reduce", "last_axis", "vjp", "cross_entropy", "isa"):
        assert re.search(rf"^def {name}\(", stub, re.MULTILINE), name


@requires_mypy
def test_mypy_strict_passes_on_user_code_and_sees_the_returned_array_types(tmp_path, mypy_cache):
    result = run_mypy(tmp_path, mypy_cache, USER_CODE)
    revealed = re.findall(r'Revealed type is "(.*)"', result.stdout)
    assert result.returncode == 0 and len(revealed) == 4, result.stdout
    assert [line for line in result.stdout.splitlines() if "error:" in line] == []
    ndarray = r"numpy\.ndarray\[.*\]"
    assert re.fullmatch(ndarray, revealed[0]) and re.fullmatch(ndarray, revealed[1]), revealed
    assert re.fullmatch(rf"tuple\[{ndarray}, {ndarray}\]", revealed[2]), revealed[2]
    assert re.fullmatch(ndarray, revealed[3]), revealed[3]


@requires_mypy
def test_mypy_strict_passes_on_the_readme_examples(tmp_path, mypy_cache):
    result = run_mypy(tmp_path, mypy_cache, "import softmaxkit as sk\n" + readme_examples())
    assert result.returncode == 0, result.stdout


@requires_mypy
def test_mypy_sees_every_public_name_through_a_star_import(tmp_path, mypy_cache):
    # Pins: `from softmaxkit import *` gave mypy only the eagerly imported
    # names; the lazy losses and variants reached __all__ by *-unpacking, which
    # mypy does not read, so `cross_entropy` was "not defined".
    names = [name for name in softmaxkit.__all__ if name != "__version__"]
    code = "from softmaxkit import *\n" + "".join(f"print({name})\n" for name in names)
    result = run_mypy(tmp_path, mypy_cache, code)
    assert result.returncode == 0, result.stdout


@requires_mypy
def test_mypy_refuses_a_positional_entropy(tmp_path, mypy_cache):
    # The keyword-only input kind is visible to the type checker too.
    result = run_mypy(tmp_path, mypy_cache, "import softmaxkit as sk\nsk.entropy([0.9, 0.1])\n")
    assert result.returncode == 1 and "No overload variant" in result.stdout, result.stdout


@requires_mypy
@pytest.mark.skipif(
    not has_module("torch"), reason="softmaxkit.torch is typed against torch's own annotations"
)
def test_mypy_strict_passes_on_the_package(tmp_path, project_mypy_cache):
    # Pins: `mypy --strict src/softmaxkit` reported 243 errors (untyped torch
    # ops and triton helpers, Any returned from typed functions, ...).
    result = subprocess.run(
        # --follow-imports=silent as run_mypy: the two share the cache.
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--config-file", str(PYPROJECT), "--cache-dir", str(project_mypy_cache), str(PACKAGE)],
        capture_output=True, text=True, cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0 and "Success: no issues found" in result.stdout, result.stdout


@requires_mypy
def test_the_losses_variants_calibration_and_classifier_return_precise_types(tmp_path, mypy_cache):
    result = run_mypy(tmp_path, mypy_cache, PRECISE_CODE)
    assert result.returncode == 0, result.stdout
    revealed = re.findall(r'Revealed type is "(.*)"', result.stdout)
    assert len(revealed) == len(PRECISE_CALLS), result.stdout
    for (call, expected), found in zip(PRECISE_CALLS, revealed):
        assert re.fullmatch(expected, found), (call, found)


def public_callables() -> list[tuple[str, str]]:
    """``(module, module.name)`` (or ``module.Class.method``) for every public
    function and method of the public modules that import here (an optional
    library missing leaves its module out)."""
    found = []
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        names = getattr(module, "__all__", None) or [
            name for name, obj in vars(module).items()
            if not name.startswith("_") and callable(obj)
            and getattr(obj, "__module__", "").startswith(module_name)
        ]  # fmt: skip
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if issubclass(obj, (tuple, Warning)):
                    continue  # result tuples (their fields are checked by the calls) and warnings
                found += [(module_name, f"{module_name}.{name}.{method}")
                          for method, member in vars(obj).items()
                          if not method.startswith("_") and inspect.isfunction(member)]  # fmt: skip
            elif callable(obj):
                found.append((module_name, f"{module_name}.{name}"))
    return found


@requires_mypy
def test_no_public_function_or_method_returns_any(tmp_path, project_mypy_cache):
    # torch and the other libraries are analysed here (pyproject.toml's
    # configuration), so a Tensor is a Tensor and not Any.
    found = public_callables()
    targets = [target for _, target in found]
    modules = sorted({module for module, _ in found})
    code = "".join(f"import {m}\n" for m in modules) + "".join(f"reveal_type({t})\n" for t in targets)
    result = run_mypy(tmp_path, project_mypy_cache, code, config=PYPROJECT)
    assert result.returncode == 0, result.stdout
    revealed = re.findall(r'Revealed type is "(.*)"', result.stdout)
    assert len(revealed) == len(targets) > 60, result.stdout
    returning_any = [t for t, r in zip(targets, revealed) if re.search(r"-> Any\b", r)]
    assert returning_any == [], returning_any


@requires_mypy
def test_mypy_refuses_an_unknown_reduction(tmp_path, mypy_cache):
    code = "import softmaxkit as sk\nsk.cross_entropy([[0.0, 1.0]], [1], reduction='average')\n"
    result = run_mypy(tmp_path, mypy_cache, code)
    assert result.returncode == 1 and "No overload variant" in result.stdout, result.stdout
