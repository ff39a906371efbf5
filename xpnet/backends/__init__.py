"""The one place that names array libraries.

A model resolves ``backend=`` once, when it is built, into a :class:`Backend`: an object of its
library's class (``NumpyBackend``, ``TorchBackend``, ``CupyBackend``, ``StrictBackend``, or
``NamespaceBackend`` for any other namespace module), holding the Array API namespace ``xp``, the
device, the float dtype, a seeded generator, and the kernels its library does better: the fast
paths are chosen when the backend is built (``backend.ops.adam`` is a callable, or None and the
Array API reference runs).  Layers, losses and optimizers hold ``xp`` and never look it up
again.  There is no global state: two models on two backends live side by side in one process.

Adding a backend is one module here (a ``Backend`` subclass) plus its line in ``BACKENDS``.
"""

from __future__ import annotations

import types
from typing import Any

import array_api_compat

from .base import (
    Backend,
    BackendUnavailableError,
    _dtype_name,
    allocation_budget,
    is_host,
    library_of,
    namespace_of,
)
from .cupy_backend import CupyBackend
from .namespace import NamespaceBackend
from .numpy_backend import NumpyBackend
from .strict_backend import StrictBackend
from .torch_backend import TorchBackend

__all__ = [
    "Backend", "BackendUnavailableError", "BACKENDS", "BACKEND_NAMES", "get_backend",
    "parse_backend", "backend_of", "namespace_of", "library_of", "is_host", "NumpyBackend",
    "TorchBackend", "CupyBackend", "StrictBackend", "NamespaceBackend", "allocation_budget",
]

#: backend names -> classes: the one table ``backend=`` strings resolve through
BACKENDS: dict[str, type[Backend]] = {"numpy": NumpyBackend, "cupy": CupyBackend,
                                      "torch": TorchBackend, "array_api_strict": StrictBackend}
#: the names ``backend=`` accepts (each may carry ":device", e.g. "torch:cuda")
BACKEND_NAMES = tuple(BACKENDS)
_ALIASES = {"np": "numpy", "strict": "array_api_strict"}


def parse_backend(spec: str) -> tuple[str, str | None]:
    """Split a ``backend=`` string into (name, device or None); the one parser of them.

    Example:
        >>> parse_backend("torch:cuda:1"), parse_backend("Strict")
        (('torch', 'cuda:1'), ('array_api_strict', None))
    """
    name, _, device = spec.strip().partition(":")
    name = name.lower().replace("-", "_")
    return _ALIASES.get(name, name), (device or None)


def get_backend(
    backend: Any = "numpy", dtype: Any = "float32", random_state: int | None = None
) -> Backend:
    """Resolve ``backend=`` once into a :class:`Backend` of its library's class.

    Args:
        backend: "numpy" (default), "cupy", "torch", "torch:cuda", "array_api_strict",
            "array_api_strict:device1", a namespace module, or a Backend (returned as is
            when dtype matches).
        dtype: "float32" (default) or "float64".
        random_state: seed for initial weights (host) and device draws.

    Raises:
        ValueError: unknown backend name or non-float dtype.
        BackendUnavailableError: the library is not installed or there is no GPU.

    Example:
        >>> b = get_backend("numpy", dtype="float64", random_state=0)
        >>> type(b).__name__, b.spec, b.dtype_name
        ('NumpyBackend', 'numpy', 'float64')
    """
    if isinstance(backend, Backend):
        if backend.dtype_name == _dtype_name(dtype) and random_state in (None, backend.seed):
            return backend
        return type(backend)(backend.xp, backend.device, dtype, random_state)
    if backend is None:
        backend = "numpy"
    if isinstance(backend, types.ModuleType):
        mod_name = backend.__name__.split(".")[-1]
        if mod_name in BACKENDS:
            backend = mod_name
        elif hasattr(backend, "__array_api_version__"):
            return NamespaceBackend(backend, None, dtype, random_state)
        else:
            raise ValueError(
                f"backend={backend.__name__!r} is a module but not an Array API namespace "
                f"(no __array_api_version__); pass one of {', '.join(BACKEND_NAMES)}"
            )
    if not isinstance(backend, str):
        raise TypeError(
            f"backend={backend!r} must be a string such as 'numpy' or 'torch:cuda', "
            f"a namespace module or a Backend"
        )
    name, device = parse_backend(backend)
    if name not in BACKENDS:
        raise ValueError(
            f"backend={backend!r} is not a known backend; use one of {', '.join(BACKEND_NAMES)} "
            f"(optionally with ':device', e.g. 'torch:cuda'), a namespace module, or a Backend"
        )
    return BACKENDS[name](None, device, dtype, random_state)


_SHARED: dict[tuple[str, str, str], Backend] = {}


def backend_of(x: Any) -> Backend:
    """The backend of array ``x``'s library, device and float dtype (shared, built once for
    each): what an optimizer or a layer built without a model binds to.

    Example:
        >>> import numpy as np
        >>> b = backend_of(np.zeros(3))
        >>> type(b).__name__, b is backend_of(np.ones(2))
        ('NumpyBackend', True)
    """
    lib, device, xp = library_of(x), array_api_compat.device(x), namespace_of(x)
    dtype = "float64" if x.dtype == xp.float64 else "float32"
    key = (lib or xp.__name__, str(device), dtype)
    backend = _SHARED.get(key)
    if backend is None:
        cls = BACKENDS.get(lib)
        backend = _SHARED[key] = (cls(None, device, dtype, 0) if cls is not None
                                  else NamespaceBackend(xp, device, dtype, 0))
    return backend
