"""Shared fixtures: a seeded generator and the array libraries to test on."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import BACKEND_NAMES, Backend, has_module
from hypothesis import settings

settings.register_profile("dev", deadline=None, max_examples=200)
settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

if has_module("jax"):
    # The backend tests compare float64 results; JAX makes float32 unless x64 is on.
    # test_backends.py checks the float32-only mode separately.
    import jax

    jax.config.update("jax_enable_x64", True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261123)


@pytest.fixture(params=BACKEND_NAMES)
def backend(request) -> Backend:
    return Backend(request.param)


@pytest.fixture(params=[name for name in BACKEND_NAMES if name != "dask"])
def eager_backend(request) -> Backend:
    """The libraries whose values can be read without computing a graph."""
    return Backend(request.param)
