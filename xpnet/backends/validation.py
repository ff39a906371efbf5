"""One validation layer for every public entry point.

Each check raises ValueError or TypeError whose message names the argument, the bad value and
the fix.  Host data is checked on the host before it moves; arrays already on the model's
library are checked there with one reduction (one host sync per call, never per step), and
must sit on the model's device (no silent transfers).  Nothing here mutates a model, so a call
that fails validation leaves the model exactly as it was.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import Backend, is_host, namespace_of
from .numpy_backend import all_finite

__all__ = ["check_features", "check_targets", "check_class_labels", "check_binary_targets",
           "check_lengths", "check_positive", "check_fraction", "check_choice",
           "check_hidden_sizes", "check_device", "is_host"]  # is_host: backends' own


def _host_array(x: Any, name: str, what: str) -> np.ndarray:
    """``np.asarray(x)`` with a readable error for None, ragged or unreadable input."""
    if x is None:
        raise ValueError(f"{name} is None; pass {what}")
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} could not be read as an array ({err}); pass {what}") from None


def _same_device(a: Any, b: Any) -> bool:
    """Loose device equality: torch.device('cuda') matches cuda:0, CuPy devices by id."""
    if a is None or b is None:
        return True
    if hasattr(a, "type") and hasattr(b, "type"):  # torch.device
        return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)
    if hasattr(a, "id") and hasattr(b, "id"):  # cupy.cuda.Device
        return a.id == b.id
    return a == b


def check_device(x: Any, backend: Backend, name: str = "x", dtype: Any = None) -> Any:
    """An array of the model's own library, cast to ``dtype`` (default: the model's float
    dtype); it must already sit on the model's device, and another library's array raises
    TypeError (never a silent transfer).

    Example:
        >>> import numpy as np, array_api_strict
        >>> from xpnet.backends import get_backend
        >>> backend = get_backend("numpy")
        >>> check_device(np.zeros((2, 3)), backend).dtype
        dtype('float32')
        >>> check_device(array_api_strict.zeros(2), backend)
        Traceback (most recent call last):
        ...
        TypeError: x is a array_api_strict array but this model runs on backend='numpy'; ...
    """
    arr = backend.asarray(x, dtype=dtype, name=name)  # TypeError for a foreign library
    dev = getattr(arr, "device", None)
    if not _same_device(dev, backend.device):
        raise ValueError(f"{name} is on device {dev} but the model runs on {backend.spec!r} "
                         f"(device {backend.device_name}); move it first (e.g. "
                         f"x.to_device(...)/x.to(...)) or pass a NumPy array (moved once)")
    return arr


def _host_float(host: np.ndarray, backend: Backend, name: str, fix: str) -> np.ndarray:
    """Cast numeric host data to the model's dtype, refusing NaN/inf and float32 overflow."""
    # integers and booleans are always finite in float32/64; floats are read once (no boolean
    # temporary), and only data with a NaN/inf, or one that overflowed in the cast, gets the
    # element-wise look that finds the culprit
    with np.errstate(over="ignore", invalid="ignore"):
        cast = host.astype(backend.dtype_name, copy=False)
    if host.dtype.kind == "f" and not all_finite(cast):
        finite = np.isfinite(cast)
        if not finite.all():
            where = tuple(int(i) for i in np.argwhere(~finite)[0])
            value = host[where].item()
            at = f"at index {where if len(where) != 1 else where[0]}"
            if np.isfinite(value):
                raise ValueError(f"{name} holds {value!r} {at}, which overflows "
                                 f"{backend.dtype_name}; scale the inputs (e.g. sklearn's "
                                 f"StandardScaler) or use dtype='float64'")
            raise ValueError(f"{name} contains NaN or infinity (first {at}: {value!r}); {fix}")
    return cast


def _numeric(x: Any, backend: Backend, name: str, what: str, type_fix: str, finite_fix: str,
             check_shape: Callable[[tuple[int, ...]], None], finite: bool = True) -> Any:
    """Numeric data moved onto ``backend`` once, in the model's float dtype: host data is read,
    checked (dtype, ``check_shape``, finite values) and cast on the host; arrays of the model's
    own library are checked where they are, with one reduction (none without ``finite``)."""
    if not is_host(x):
        arr = check_device(x, backend, name)
        check_shape(tuple(arr.shape))
        if finite and not backend.all_finite(arr):
            raise ValueError(f"{name} contains NaN or infinity; {finite_fix}")
        return arr
    host = _host_array(x, name, what)
    if host.dtype.kind not in "biuf":
        raise TypeError(f"{name} has non-numeric dtype {host.dtype}; {type_fix}")
    check_shape(host.shape)
    return backend.asarray(_host_float(host, backend, name, finite_fix), name=name)


def check_features(x: Any, backend: Backend, name: str = "x",
                   n_features: int | None = None, finite: bool = True) -> Any:
    """Validate a 2-D finite numeric feature matrix and move it onto ``backend`` once.

    ``n_features`` (when given) is the width the model was built or fitted with.  Host data
    of any numeric dtype is cast to the model's float dtype (float64 input to a float32 model
    becomes float32) and checked for NaN/inf (the cast can overflow); ``finite=False`` leaves
    that check of an array of the model's own library to the caller (a prediction makes it
    in its forward pass: ``Network.forward_unchecked``).

    Example:
        >>> from xpnet.backends import get_backend
        >>> backend = get_backend("numpy")
        >>> x = check_features([[1, 2], [3, 4]], backend)
        >>> x.shape, x.dtype
        ((2, 2), dtype('float32'))
        >>> check_features([1.0, 2.0], backend)
        Traceback (most recent call last):
        ...
        ValueError: x must be 2-D (n_samples, n_features), got shape (2,) (a single feature? ...
    """
    return _numeric(x, backend, name, "a 2-D numeric array of shape (n_samples, n_features)",
                    "encode categorical columns as numbers (e.g. sklearn's OneHotEncoder) and "
                    "convert the array to float first",
                    "impute or drop those values (e.g. sklearn's SimpleImputer) first",
                    lambda shape: _check_shape(shape, name, n_features), finite)


def _check_shape(shape: tuple[int, ...], name: str, n_features: int | None) -> None:
    if len(shape) != 2:
        hint = (" (a single feature? use x.reshape(-1, 1); a single sample? use "
                "x.reshape(1, -1))" if len(shape) == 1 else
                "; flatten each sample first, e.g. x.reshape(len(x), -1)")
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape "
                         f"{tuple(shape)}{hint}")
    for size, what, fix in zip(shape, ("samples", "features"), ("row", "column"), strict=True):
        if size == 0:
            raise ValueError(f"{name} has 0 {what} (shape {tuple(shape)}); pass at least one "
                             f"{fix}")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(f"{name} has {shape[1]} features but the model expects {n_features}; "
                         f"pass data with the same columns the model was built/fitted with")


def check_lengths(x: Any, y: Any, x_name: str = "x", y_name: str = "y") -> None:
    """``x`` and ``y`` must have the same number of samples.

    Example:
        >>> check_lengths([[1.0], [2.0]], [0, 1])  # same length: returns None
        >>> check_lengths([[1.0], [2.0], [3.0]], [0, 1])
        Traceback (most recent call last):
        ...
        ValueError: x has 3 samples but y has 2; they must have the same length
    """
    if y is None:
        raise ValueError(f"{y_name} is None; pass one target per row of {x_name}")
    nx, ny = _length(x, x_name), _length(y, y_name)
    if nx != ny:
        raise ValueError(f"{x_name} has {nx} samples but {y_name} has {ny}; "
                         f"they must have the same length")


def _length(a: Any, name: str) -> int:
    shape = getattr(a, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise ValueError(f"{name} is a scalar ({a!r}); pass one value per sample")
        return int(shape[0])
    try:
        return len(a)
    except TypeError:
        raise TypeError(f"{name} of type {type(a).__name__} has no length; pass an array or "
                        f"a list") from None


def check_targets(y: Any, backend: Backend, name: str = "y",
                  n_outputs: int | None = None) -> Any:
    """Finite numeric regression or 0/1 targets, moved onto the backend as floats.

    With ``n_outputs`` the shape must be (n,) or (n, 1) for one output, (n, n_outputs)
    otherwise.

    Example:
        >>> from xpnet.backends import get_backend
        >>> backend = get_backend("numpy")
        >>> check_targets([0.5, 1.5], backend, n_outputs=1).shape
        (2,)
        >>> check_targets([[1.0, 2.0]], backend, n_outputs=1)
        Traceback (most recent call last):
        ...
        ValueError: y has shape (1, 2) but the model has 1 output(s); pass targets of shape ...
    """
    return _numeric(y, backend, name, "one number per sample", "pass numbers (for class labels "
                    "use a classifier, e.g. xpnet.MLPClassifier)", "drop those samples",
                    lambda shape: _check_target_shape(shape, name, n_outputs))


def _check_target_shape(shape: tuple[int, ...], name: str, n_outputs: int | None) -> None:
    if math.prod(shape) == 0:
        raise ValueError(f"{name} is empty; pass at least one target")
    if n_outputs is None:
        return
    ok = (len(shape) == 2 and shape[1] == n_outputs) or (n_outputs == 1 and len(shape) == 1)
    if not ok:
        want = "(n_samples,) or (n_samples, 1)" if n_outputs == 1 else \
            f"(n_samples, {n_outputs})"
        raise ValueError(f"{name} has shape {tuple(shape)} but the model has {n_outputs} "
                         f"output(s); pass targets of shape {want} or change output_size")


def check_binary_targets(y: Any, backend: Backend, n: int, name: str = "y",
                         model: str = "this model") -> Any:
    """0/1 targets of a binary logistic model, one per sample, as an (n, 1) float array.

    A single class (all zeros or all ones) is allowed: logistic regression trains on it.

    Example:
        >>> from xpnet.backends import get_backend
        >>> backend = get_backend("numpy")
        >>> check_binary_targets([0, 1, 1], backend, 3).shape
        (3, 1)
        >>> check_binary_targets([0, 2, 1], backend, 3)
        Traceback (most recent call last):
        ...
        ValueError: y holds values other than 0 and 1 (e.g. [2.]); this model is a binary ...
    """
    yd = check_targets(y, backend, name)
    if yd.ndim > 2 or (yd.ndim == 2 and yd.shape[1] != 1) or yd.shape[0] != n:
        raise ValueError(f"{name} must hold one 0/1 target per sample ({n}), got shape "
                         f"{tuple(yd.shape)}; pass a 1-D array of length {n}")
    xp = backend.xp
    odd = xp.logical_and(yd != 0.0, yd != 1.0)
    if bool(xp.any(odd)):
        example = backend.to_numpy(yd).ravel()
        example = example[(example != 0) & (example != 1)][:3]
        raise ValueError(f"{name} holds values other than 0 and 1 (e.g. {example}); "
                         f"{model} is a binary logistic model: encode the classes as 0/1 "
                         f"(e.g. (y == positive_label).astype(int)) or use "
                         f"xpnet.MLPClassifier for other labels")
    return xp.reshape(yd, (n, 1))


def check_class_labels(t: Any, backend: Backend, n_classes: int, name: str = "t") -> Any:
    """Integer class labels in [0, n_classes) (1-D) or one-hot rows (2-D), moved once.

    Returned as int64 labels (1-D) or float one-hot (2-D).

    Example:
        >>> from xpnet.backends import get_backend
        >>> backend = get_backend("numpy")
        >>> check_class_labels([0, 2, 1], backend, 3).tolist()
        [0, 2, 1]
        >>> check_class_labels([0, 3], backend, 3)
        Traceback (most recent call last):
        ...
        ValueError: t holds labels in [0, 3] but the model has output_size=3; labels must be ...
    """
    arr = (_host_array(t, name, f"integer class labels 0..{n_classes - 1}") if is_host(t)
           else check_device(t, backend, name, dtype=t.dtype))
    if arr.ndim == 2 and arr.shape[1] == n_classes and n_classes > 1:  # one-hot rows
        return _numeric(arr, backend, name, "one-hot rows", f"pass one-hot rows of 0/1 "
                        f"numbers (width {n_classes})", "drop those samples", lambda shape: None)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels or one-hot of width {n_classes}, "
                         f"got shape {tuple(arr.shape)}; pass labels of shape (n_samples,)")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one label")
    host = is_host(arr)
    if host and arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; class labels must be integers "
                        f"0..{n_classes - 1} (xpnet.MLPClassifier accepts any label type)")
    # integrality and range in one reduction where the labels are (one sync on a device)
    xp = namespace_of(arr)
    as_float = xp.astype(arr, xp.float64 if host else backend.dtype)
    integral = xp.all(xp.logical_and(xp.isfinite(as_float), as_float == xp.round(as_float)))
    lo, hi, ok = (float(v) for v in backend.to_numpy(xp.stack(
        [xp.min(as_float), xp.max(as_float), xp.astype(integral, as_float.dtype)])))
    if not ok:
        values = backend.to_numpy(as_float)
        bad = values[~np.isfinite(values) | (values != np.round(values))][:3]
        raise ValueError(f"{name} holds non-integer values (e.g. {bad}); class labels must be "
                         f"integers 0..{n_classes - 1} (use xpnet.MLPClassifier for arbitrary "
                         f"labels, or a regression loss for continuous targets)")
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"{name} holds labels in [{int(lo)}, {int(hi)}] but the model has "
                         f"output_size={n_classes}; labels must be in [0, {n_classes - 1}] "
                         f"(raise output_size or re-encode the labels)")
    return backend.asarray(arr.astype(np.int64) if host else arr, dtype=backend.index_dtype,
                           name=name)


def check_positive(name: str, value: Any, integer: bool = False, allow_zero: bool = False) -> Any:
    """A positive (or non-negative) finite number, optionally an integer.

    Example:
        >>> check_positive("lr", 0.1), check_positive("epochs", 5, integer=True)
        (0.1, 5)
        >>> check_positive("lr", -1)
        Traceback (most recent call last):
        ...
        ValueError: lr=-1 must be a number > 0; pass e.g. lr=0.01
    """
    ok_type = numbers.Integral if integer else numbers.Real
    kind = "an integer" if integer else "a number"
    bound = ">= 0" if allow_zero else "> 0"
    example = ("0" if allow_zero else "1") if integer else ("0.0" if allow_zero else "0.01")
    if isinstance(value, bool) or not isinstance(value, ok_type):
        raise TypeError(f"{name}={value!r} must be {kind} {bound}; pass e.g. {name}={example}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}={value!r} must be {kind} {bound}; pass e.g. {name}={example}")
    return int(value) if integer else float(value)


def check_fraction(name: str, value: Any, hi_inclusive: bool = False) -> float:
    """A number in [0, 1) (or [0, 1]).

    Example:
        >>> check_fraction("dropout", 0.5)
        0.5
        >>> check_fraction("dropout", 1.0)
        Traceback (most recent call last):
        ...
        ValueError: dropout=1.0 must be in [0, 1); pass e.g. dropout=0.5
    """
    interval = f"[0, 1{']' if hi_inclusive else ')'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be a number in {interval}; pass e.g. "
                        f"{name}=0.5")
    if not (0.0 <= value < 1.0 or (hi_inclusive and value == 1.0)):
        raise ValueError(f"{name}={value!r} must be in {interval}; pass e.g. {name}=0.5")
    return float(value)


def check_choice(name: str, value: Any, choices: Any) -> str:
    """A case-insensitive name among ``choices``.

    Example:
        >>> check_choice("activation", "ReLU", ("relu", "tanh"))
        'relu'
        >>> check_choice("activation", "gelu", ("relu", "tanh"))
        Traceback (most recent call last):
        ...
        ValueError: activation='gelu' is not a known choice; use one of relu, tanh
    """
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"{name}={value!r} is not a known choice; use one of "
                         f"{', '.join(map(str, choices))}")
    return value.lower()


def check_hidden_sizes(name: str, value: Any) -> list[int]:
    """Layer widths: an int, a sequence of positive ints (may be empty), or a string of them
    separated by commas ("256,128"; "" for none).  The one parser of layer sizes: the
    networks, the estimators, the command line, search and bench all use it.

    Example:
        >>> check_hidden_sizes("hidden", "256, 128")
        [256, 128]
    """
    if isinstance(value, str):
        text = value
        try:
            value = [int(part) for part in text.replace(" ", "").split(",") if part]
        except ValueError:
            raise ValueError(f"{name}={text!r} must be positive integers separated by commas, "
                             f"e.g. {name}='256,128'") from None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, bytes) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name}={value!r} must be a list of layer widths; pass e.g. "
                        f"{name}=[100, 100] (or [] for no hidden layer)")
    return [check_positive(f"{name}[{i}]", h, integer=True) for i, h in enumerate(value)]
