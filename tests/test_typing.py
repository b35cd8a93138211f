"""Types for editors and type checkers: py.typed, precise signatures, a stub for the extension.

mypy --strict runs on a user's code that calls the public API (and on the
README's examples): it must pass, and see the array type each call returns.
"""

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
README = Path(__file__).resolve().parents[1] / "README.md"

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


def run_mypy(tmp_path: Path, cache: Path, code: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "user_code.py"
    snippet.write_text(code)
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
def test_mypy_refuses_a_positional_entropy(tmp_path, mypy_cache):
    # The keyword-only input kind is visible to the type checker too.
    result = run_mypy(tmp_path, mypy_cache, "import softmaxkit as sk\nsk.entropy([0.9, 0.1])\n")
    assert result.returncode == 1 and "No overload variant" in result.stdout, result.stdout
