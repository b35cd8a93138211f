"""Shared fixtures: a seeded generator and the array libraries to test on."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from helpers import BACKEND_NAMES, SPEC_PATHS, Backend, has_module
from hypothesis import settings

settings.register_profile("dev", deadline=None, max_examples=200)
settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

if has_module("jax"):
    # The backend tests compare float64 results; JAX makes float32 unless x64 is on.
    # test_backends.py checks the float32-only mode separately. JAX reads the
    # variable when it is imported, so runs that never use JAX (tools/sanitize.sh,
    # test_kernel.py's other-ISA subprocesses) do not import it here (2 s each).
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        os.environ["JAX_ENABLE_X64"] = "1"


def pytest_runtest_setup(item):
    """PyTorch on one intra-op thread, from the first test after it is imported.

    The tests' tensors are small: with its default of one OpenMP thread per
    core, each torch call wakes the pool and its idle threads spin, which made
    the torch peers of tests/test_differential.py take 5-6x the CPU time (and
    far more wall time on a loaded machine). No test depends on torch's own
    thread count (softmaxkit's kernel threads are its own, see _threads.py).
    """
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


def _switched(name: str):
    """The backend ``name``, with the kernel off for the whole test when it is ``numpy_spec``."""
    from softmaxkit import _dispatch

    chosen = Backend(name)
    with _dispatch.use_kernel(chosen.kernel):
        yield chosen


@pytest.fixture(params=BACKEND_NAMES)
def backend(request) -> Backend:
    yield from _switched(request.param)


@pytest.fixture(params=[name for name in BACKEND_NAMES if name != "dask"])
def eager_backend(request) -> Backend:
    """The libraries whose values can be read without computing a graph."""
    yield from _switched(request.param)


@pytest.fixture(scope="module", params=SPEC_PATHS)
def path(request) -> Backend:
    """A path that computes the specification (kernel, array-API code on NumPy, torch, JAX).

    Module-scoped so that hypothesis tests can take it; call through ``path.call``,
    which switches the kernel for the call only.
    """
    return Backend(request.param)
