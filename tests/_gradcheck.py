"""Test helpers: central-difference gradient checking (host-side NumPy float64), and a fixture
that keeps BLAS and torch to one thread.

``central_difference(f, x)`` perturbs each element of a host array by +-h and differences a
scalar objective; ``assert_grad_close`` compares an analytic gradient with it by a max-norm
relative error.  The objective decides how the perturbed host array reaches the backend.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import numpy as np
import pytest

__all__ = ["central_difference", "relative_error", "assert_grad_close", "one_thread"]


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, element by element (``x`` is not modified)."""
    x = np.array(x, dtype=np.float64, copy=True)
    grad = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = float(f(x.copy()))
        x[idx] = old - h
        f_minus = float(f(x.copy()))
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(max |a|, max |n|) (0 when both are exactly zero)."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    assert a.shape == n.shape, f"shape {a.shape} != {n.shape}"
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(n), initial=0.0)))
    diff = float(np.max(np.abs(a - n), initial=0.0))
    return 0.0 if scale == 0.0 else diff / scale


def assert_grad_close(analytic: np.ndarray, numeric: np.ndarray, rtol: float = 1e-6,
                      name: str = "gradient", atol: float = 1e-8) -> None:
    """Fail with the worst element when the relative error exceeds ``rtol``.

    ``atol`` bounds the absolute error of gradients that are zero in exact arithmetic (e.g. the
    bias before a BatchNorm), where the relative error is rounding noise over noise."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    err = relative_error(a, n)
    diff = float(np.max(np.abs(a - n), initial=0.0))
    if not (err <= rtol or diff <= atol):  # also catches NaN
        worst = np.unravel_index(int(np.argmax(np.abs(a - n))), a.shape) if a.size else ()
        raise AssertionError(
            f"{name}: relative error {err:.3g} > {rtol:g}; worst element {worst}: "
            f"analytic {a[worst] if a.size else a!r} vs numeric {n[worst] if n.size else n!r}"
        )


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run a test module with one BLAS/OpenMP thread and one torch thread (restored after).

    The tests' arrays are tiny: worker threads only add contention on a busy 2-core machine
    (measured there: torch 15 s instead of 0.5 s, NumPy/OpenBLAS 2.8 s instead of 0.6 s for one
    digits training).  Import this fixture into a test module to make it autouse there."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    torch = None
    if importlib.util.find_spec("torch") is not None:
        import torch
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def adam_reference(p, g, m, v, b1, b2, lr_t, eps_t):
    """Adam's step in float64 NumPy: the published formula in the form Adam.step uses
    (lr_t and eps_t carry the bias correction); returns the new (p, m, v)."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - lr_t * m / (np.sqrt(v) + eps_t), m, v
