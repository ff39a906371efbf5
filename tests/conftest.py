"""Shared fixtures: every test that takes ``backend_name`` runs on every available backend.

CPU backends (numpy, array_api_strict on its non-default device, torch) always run where
installed; set XPNET_REQUIRE_TORCH=1 (CI does) to fail instead of skipping when torch is
missing. GPU backends (cupy, torch:cuda) run when a GPU is present; XPNET_REQUIRE_CUPY=1
(ci/gpu.sh) makes a missing CuPy or GPU a failure, never a skip.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from xpnet.backend import BackendUnavailableError, get_backend


def _available(name: str) -> bool:
    try:
        get_backend(name)
    except (BackendUnavailableError, ImportError):
        return False
    return True


REQUIRE_CUPY = os.environ.get("XPNET_REQUIRE_CUPY") == "1"
REQUIRE_TORCH = os.environ.get("XPNET_REQUIRE_TORCH") == "1" or REQUIRE_CUPY

CPU_BACKENDS = ["numpy", "array_api_strict:device1", "torch"]
GPU_BACKENDS = ["cupy", "torch:cuda"]


def _backend_params() -> list:
    params = []
    for name in CPU_BACKENDS:
        if name == "torch" and not REQUIRE_TORCH and importlib.util.find_spec("torch") is None:
            params.append(pytest.param(name, marks=pytest.mark.skip(reason="torch not installed")))
        else:
            params.append(name)
    for name in GPU_BACKENDS:
        required = REQUIRE_CUPY
        if required or _available(name):
            params.append(name)
        else:
            params.append(pytest.param(name, marks=pytest.mark.skip(reason=f"{name}: no GPU")))
    return params


BACKEND_PARAMS = _backend_params()
#: the CPU backends installed here (torch only where it is, or where it is required)
CPU_AVAILABLE = [name for name in CPU_BACKENDS if name in BACKEND_PARAMS]


@pytest.fixture(params=BACKEND_PARAMS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """A ``backend=`` string; GPU names are skipped without a GPU (unless required)."""
    return request.param


@pytest.fixture
def to_numpy():
    """Convert any backend's array to NumPy."""
    conv = get_backend("numpy")
    return conv.to_numpy


@pytest.fixture(scope="session")
def cancer():
    """The seeds' breast-cancer split, scaled."""
    from xpnet.datasets import load_breast_cancer_split

    return load_breast_cancer_split()


@pytest.fixture(scope="session")
def digits():
    from xpnet.datasets import load_digits_split

    return load_digits_split()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A required backend that is missing fails the run at once (no silent skips)."""
    if REQUIRE_CUPY:
        for name in GPU_BACKENDS:
            get_backend(name)  # raises BackendUnavailableError with the fix
    if REQUIRE_TORCH:
        get_backend("torch")
