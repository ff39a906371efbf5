"""Every docstring example in the package runs and shows what it says: the examples are the
first code a reader copies, so they are tested like the rest (``doctest`` on each module;
a module whose optional library is missing here is skipped, not failed)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import xpnet

MODULES = sorted(m.name for m in pkgutil.walk_packages(xpnet.__path__, "xpnet.")
                 if not m.name.endswith("__main__"))
#: modules whose examples run an optional library (an extra of pyproject.toml)
NEEDS = {"xpnet.edges.onnx_export": ("ndonnx", "onnxruntime")}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    for library in NEEDS.get(name, ()):
        pytest.importorskip(library, reason=f"{name}'s examples need {library}")
    try:
        module = importlib.import_module(name)
    except ImportError as err:
        pytest.skip(f"{name} needs an optional library: {err}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (above)"


def test_every_module_is_checked():
    assert {"xpnet.nn.layers", "xpnet.backends.numpy_backend", "xpnet.edges.io",
            "xpnet.tools.cli"} <= set(MODULES)
