"""One validation layer for every public entry point.

Each check raises ValueError or TypeError whose message names the argument, the bad value and
the fix.  Host data is checked on the host before it moves; arrays already on the model's
device are checked there with one reduction (one host sync per call, never per step).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .backend import Backend, library_of

__all__ = ["check_features", "check_targets", "check_class_labels", "check_lengths",
           "check_positive", "check_fraction", "check_choice", "is_host"]


def is_host(x: Any) -> bool:
    """True for host data (NumPy arrays, lists, tuples, scalars)."""
    return library_of(x) in (None, "numpy")


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else type(x).__name__


def check_features(x: Any, backend: Backend, name: str = "x",
                   n_features: int | None = None) -> Any:
    """Validate a 2-D finite numeric feature matrix and move it onto ``backend`` once.

    ``n_features`` (when given) is the width the model was built or fitted with.
    """
    if x is None:
        raise ValueError(f"{name} is None; pass a 2-D array of shape (n_samples, n_features)")
    if is_host(x):
        try:
            host = np.asarray(x)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{name} could not be read as an array ({err}); pass a 2-D "
                             f"numeric array of shape (n_samples, n_features)") from None
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{name} has non-numeric dtype {host.dtype}; encode categorical "
                            f"columns as numbers (e.g. sklearn's OneHotEncoder) first")
        _check_shape(host.shape, name, n_features)
        if host.dtype.kind == "f" and not np.isfinite(host).all():
            bad = np.argwhere(~np.isfinite(host))[0]
            raise ValueError(f"{name} contains NaN or infinity (first at row {bad[0]}, column "
                             f"{bad[1]}); impute or drop those values before training")
        return backend.asarray(host, name=name)
    arr = backend.asarray(x, name=name)  # TypeError for a foreign library
    _check_shape(tuple(arr.shape), name, n_features)
    if not bool(backend.xp.all(backend.xp.isfinite(arr))):
        raise ValueError(f"{name} contains NaN or infinity; impute or drop those values "
                         f"before training")
    return arr


def _check_shape(shape: tuple[int, ...], name: str, n_features: int | None) -> None:
    if len(shape) != 2:
        hint = " (a single feature? use x.reshape(-1, 1))" if len(shape) == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape "
                         f"{tuple(shape)}{hint}")
    if shape[0] == 0:
        raise ValueError(f"{name} has 0 samples (shape {tuple(shape)}); pass at least one row")
    if shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {tuple(shape)})")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(f"{name} has {shape[1]} features but the model expects {n_features}; "
                         f"pass data with the same columns the model was built/fitted with")


def check_lengths(x: Any, y: Any, x_name: str = "x", y_name: str = "y") -> None:
    """``x`` and ``y`` must have the same number of samples."""
    nx, ny = _length(x), _length(y)
    if nx != ny:
        raise ValueError(f"{x_name} has {nx} samples but {y_name} has {ny}; "
                         f"they must have the same length")


def _length(a: Any) -> int:
    shape = getattr(a, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(a)


def check_targets(y: Any, backend: Backend, name: str = "y") -> Any:
    """Finite numeric regression or 0/1 targets, moved onto the backend as floats."""
    if y is None:
        raise ValueError(f"{name} is None; pass the targets")
    if is_host(y):
        host = np.asarray(y)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"{name} has non-numeric dtype {host.dtype}; pass numbers")
        if host.size == 0:
            raise ValueError(f"{name} is empty; pass at least one target")
        if host.dtype.kind == "f" and not np.isfinite(host).all():
            raise ValueError(f"{name} contains NaN or infinity; drop those samples")
        return backend.asarray(host, name=name)
    return backend.asarray(y, name=name)


def check_class_labels(t: Any, backend: Backend, n_classes: int, name: str = "t") -> Any:
    """Integer class labels in [0, n_classes) (1-D) or one-hot rows (2-D), moved once.

    Returned as int64 labels (1-D) or float one-hot (2-D).
    """
    if t is None:
        raise ValueError(f"{name} is None; pass integer class labels")
    host = np.asarray(t) if is_host(t) else None
    if host is None:
        arr = backend.asarray(t, dtype=t.dtype, name=name)
        if arr.ndim == 1:
            lo, hi = int(backend.xp.min(arr)), int(backend.xp.max(arr))
            _check_range(lo, hi, n_classes, name)
            return backend.xp.astype(arr, backend.index_dtype)
        return backend.xp.astype(arr, backend.dtype)
    if host.ndim == 2 and host.shape[1] == n_classes:
        return backend.asarray(host, name=name)
    if host.ndim == 2 and host.shape[1] == 1:
        host = host[:, 0]
    if host.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels or one-hot of width {n_classes}, "
                         f"got {_describe(host)}")
    if host.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label")
    if host.dtype.kind == "f":
        if not np.isfinite(host).all() or not np.all(host == np.round(host)):
            odd = host[~np.isfinite(host) | (host != np.round(host))][:3]
            raise ValueError(f"{name} holds non-integer values (e.g. {odd}); "
                             f"class labels must be integers 0..{n_classes - 1} (use "
                             f"xpnet.MLPClassifier for arbitrary labels)")
    elif host.dtype.kind not in "biu":
        raise TypeError(f"{name} has dtype {host.dtype}; class labels must be integers "
                        f"0..{n_classes - 1} (xpnet.MLPClassifier accepts any label type)")
    _check_range(int(host.min()), int(host.max()), n_classes, name)
    return backend.asarray(host.astype(np.int64), dtype=backend.index_dtype, name=name)


def _check_range(lo: int, hi: int, n_classes: int, name: str) -> None:
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"{name} holds labels in [{lo}, {hi}] but the model has "
                         f"output_size={n_classes}; labels must be in [0, {n_classes - 1}] "
                         f"(raise output_size or re-encode the labels)")


def check_positive(name: str, value: Any, integer: bool = False, allow_zero: bool = False) -> Any:
    """A positive (or non-negative) finite number, optionally an integer."""
    ok_type = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "an integer" if integer else "a number"
        raise TypeError(f"{name}={value!r} must be {kind}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={value!r} must be {bound}")
    return int(value) if integer else float(value)


def check_fraction(name: str, value: Any, hi_inclusive: bool = False) -> float:
    """A number in [0, 1) (or [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be a number in [0, 1)")
    if not (0.0 <= value < 1.0 or (hi_inclusive and value == 1.0)):
        raise ValueError(f"{name}={value!r} must be in [0, 1{']' if hi_inclusive else ')'}")
    return float(value)


def check_choice(name: str, value: Any, choices: Any) -> str:
    """A case-insensitive name among ``choices``."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(str, choices))}")
    return value.lower()
