"""Portable model files: one ``.npz`` of named arrays plus a JSON config, never pickle.

``save(model, path)`` writes every learned array (as NumPy, whatever backend trained it) and a
UTF-8 JSON document stored as the uint8 entry ``__config__``::

    {"format": "xpnet", "format_version": 1, "class": "MLPClassifier", ...,
     "arrays": {"network.params.W1": {"shape": [30, 10], "dtype": "float32"}, ...}}

The file is written atomically (a temporary file in the same directory, flushed and fsync'ed,
then ``os.replace``), so a crash mid-save leaves the previous file intact.

``load(path, backend=None)`` opens it with ``np.load(..., allow_pickle=False)`` and validates
everything before building a model: a zip archive, a ``__config__`` entry, a known format and
version, a class from a fixed allow-list (no class is ever imported by name), and array names,
shapes and dtypes that match both the listing and the architecture the config describes.
Anything else raises ValueError naming the file and the problem. ``backend=None`` loads on the
backend recorded in the file when it can be had here, else on NumPy with a warning (a model
trained with CuPy loads on a CPU machine).

Supported: SingleLayer, DualLayer, RandomInitNetwork, MinibatchNetwork (and subclasses, saved
as their xpnet base class), MultiLayerNet, MultiLayerNetExtend, MLPClassifier, MLPRegressor.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import stat
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..backends import Backend, BackendUnavailableError, get_backend

__all__ = ["save", "load", "MODEL_CLASSES", "FORMAT", "FORMAT_VERSION", "CONFIG_KEY"]

FORMAT = "xpnet"
FORMAT_VERSION = 1
#: the entry holding the UTF-8 JSON config (as a uint8 array)
CONFIG_KEY = "__config__"
#: the classes a model file may name: nothing else is ever built
MODEL_CLASSES = ("SingleLayer", "DualLayer", "RandomInitNetwork", "MinibatchNetwork",
                 "MultiLayerNet", "MultiLayerNetExtend", "MLPClassifier", "MLPRegressor")

_FLOATS = ("float32", "float64")
_MAX_CONFIG_BYTES = 64 * 2**20
_SEED_PARAMS = {
    "SingleLayer": ("learning_rate", "l1", "l2"),
    "DualLayer": ("units", "learning_rate", "l1", "l2"),
    "RandomInitNetwork": ("units", "learning_rate", "l1", "l2"),
    "MinibatchNetwork": ("units", "batch_size", "learning_rate", "l1", "l2"),
}
_OPTIMIZER_SLOTS = {"SGD": (), "Momentum": ("v",), "Nesterov": ("v",), "AdaGrad": ("h",),
                    "RMSprop": ("h",), "Adam": ("m", "v"), "AdamW": ("m", "v")}
_NET_KEYS = ("input_size", "hidden_size_list", "output_size", "activation", "weight_init_std",
             "weight_decay_lambda", "use_dropout", "dropout_ratio", "use_batchnorm", "l1",
             "loss", "dtype")


class _Invalid(ValueError):
    """A model file that fails validation (the message names the file and the problem)."""


def _classes() -> dict[str, type]:
    """The allow-list: class names -> xpnet's own classes (imported here, never by name)."""
    from ..nn.network import MultiLayerNet, MultiLayerNetExtend  # noqa: PLC0415
    from ..nn.seed_models import (  # noqa: PLC0415
        DualLayer,
        MinibatchNetwork,
        RandomInitNetwork,
        SingleLayer,
    )
    from .estimators import MLPClassifier, MLPRegressor  # noqa: PLC0415 - avoid a cycle

    return {"SingleLayer": SingleLayer, "DualLayer": DualLayer,
            "RandomInitNetwork": RandomInitNetwork, "MinibatchNetwork": MinibatchNetwork,
            "MultiLayerNet": MultiLayerNet, "MultiLayerNetExtend": MultiLayerNetExtend,
            "MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}


def _base_class_name(model: Any) -> str:
    """The most derived allow-listed xpnet class ``model`` is an instance of."""
    known = _classes()
    for cls in type(model).__mro__:
        for name, candidate in known.items():
            if cls is candidate:
                return name
    raise TypeError(f"model={type(model).__name__} cannot be saved: xpnet.save handles "
                    f"{', '.join(MODEL_CLASSES)} (and their subclasses)")


# ====================================================================== public API
def save(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` as a portable ``.npz`` (atomically; no pickle).

    The file is written exactly at ``path`` (no suffix is added; ``.npz`` is customary).
    Works for every backend: arrays are copied to NumPy first. Returns the path written.

    Raises:
        TypeError: ``model`` is not a model xpnet can save.
        ValueError: a setting or fitted attribute cannot be stored as JSON.
    """
    path = Path(os.fspath(path))
    from .. import __version__  # noqa: PLC0415 - the package is initialized by now

    name = _base_class_name(model)
    if name in _SEED_PARAMS:
        config, arrays = _seed_payload(model, name)
    elif name in ("MultiLayerNet", "MultiLayerNetExtend"):
        meta = _portable_network(model)
        config, arrays = {"network": meta}, _prefixed("network.", meta.pop("arrays"))
    else:
        config, arrays = _estimator_payload(model)
    saved_as = f"{type(model).__module__}.{type(model).__qualname__}"
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "class": name,
              "saved_class": saved_as, "xpnet_version": __version__}
    config = {**header, **config}
    for key, arr in arrays.items():
        if arr.dtype.name not in _FLOATS:
            raise ValueError(f"cannot save array {key!r} of dtype {arr.dtype}: model files hold "
                             f"float32 or float64 arrays only")
    config["arrays"] = {key: {"shape": list(arr.shape), "dtype": arr.dtype.name}
                        for key, arr in arrays.items()}
    try:
        blob = json.dumps(config, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot save {type(model).__name__}: its config is not JSON "
                         f"serializable ({err})") from None
    entries = {CONFIG_KEY: np.frombuffer(blob, dtype=np.uint8), **arrays}
    _atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **entries))
    return path


def load(path: str | os.PathLike, backend: Any = None) -> Any:
    """Read a model written by :func:`save`, validated before anything is built.

    Args:
        path: the model file.
        backend: where to put the model ("numpy", "torch", "cupy", ...). None: the backend
            recorded in the file if it can be had here, else NumPy (with a RuntimeWarning).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not an xpnet model file, truncated, corrupt, tampered with, or written
            by a newer xpnet (the message names the path and what is wrong).
        BackendUnavailableError: an explicitly requested backend cannot be had.
    """
    path = Path(os.fspath(path))
    if backend is not None:
        get_backend(backend)  # an unknown or unavailable backend fails here, unwrapped
    config, arrays = _read(path)
    name = config["class"]
    where = str(path)
    try:
        if name in _SEED_PARAMS:
            return _build_seed(name, config, arrays, backend, where)
        if name in ("MultiLayerNet", "MultiLayerNetExtend"):
            meta = _section(config, "network", where)
            if meta.get("class") != name:
                raise _Invalid(f"{where}: the network section names class "
                               f"{meta.get('class')!r} but the file is a {name}")
            return _restore_network({**meta, "arrays": _unprefixed("network.", arrays)},
                                    backend, where)
        return _build_estimator(name, config, arrays, backend, where)
    except _Invalid:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"{where}: invalid model config for {name} ({type(err).__name__}: "
                         f"{err}); the file was damaged or edited") from None


# ====================================================================== writing
def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write via a temporary file in the target directory, fsync, then ``os.replace``."""
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: directory {directory} does not exist")
    mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {prefix + k: v for k, v in arrays.items()}


def _unprefixed(prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _host(backend: Backend, x: Any) -> np.ndarray:
    return np.ascontiguousarray(backend.to_numpy(x))


def _portable_network(net: Any) -> dict[str, Any]:
    """{"class", "config", "backend", "seed", "arrays"} of a MultiLayerNet(Extend)."""
    b = net.backend
    arrays = {f"params.{key}": _host(b, net.params[key]) for key in net.param_shapes}
    for i, bn in enumerate(net.batchnorm_layers(), start=1):
        arrays[f"batchnorm{i}.running_mean"] = _host(b, bn.running_mean)
        arrays[f"batchnorm{i}.running_var"] = _host(b, bn.running_var)
    name = "MultiLayerNet" if _base_class_name(net) == "MultiLayerNet" else "MultiLayerNetExtend"
    return {"class": name, "config": _jsonable(net.get_config(), "network config"),
            "backend": b.spec, "seed": int(b.seed), "arrays": arrays}


def _portable_optimizer(opt: Any, backend: Backend) -> dict[str, Any] | None:
    """{"class", "params", "t", "state" keys, "arrays"} of an xpnet optimizer (None for
    optimizers of other classes, whose state cannot be described)."""
    from ..nn.optimizers import OPTIMIZERS  # noqa: PLC0415

    name = type(opt).__name__
    if name not in _OPTIMIZER_SLOTS or OPTIMIZERS.get(name.lower()) is not type(opt):
        return None
    sig = inspect.signature(type(opt).__init__)
    params = {p: float(getattr(opt, p)) for p in sig.parameters if p != "self"}
    arrays, keys = {}, []
    for key, slot in opt.state.items():
        if "." in key:
            return None
        keys.append(key)
        for s in _OPTIMIZER_SLOTS[name]:
            arrays[f"{key}.{s}"] = _host(backend, slot[s])
    t = {k: int(v) for k, v in getattr(opt, "t", {}).items()}
    return {"class": name, "params": params, "keys": keys, "t": t, "arrays": arrays}


def _seed_payload(model: Any, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    cls = _classes()[name]
    if tuple(type(model)._param_names) != tuple(cls._param_names):
        raise ValueError(f"cannot save {type(model).__name__}: its parameters "
                         f"{type(model)._param_names} differ from {name}'s "
                         f"{cls._param_names}, which the file format describes")
    b = model.backend
    params = {"learning_rate": float(model.lr), "l1": float(model.l1), "l2": float(model.l2)}
    if name != "SingleLayer":
        params["units"] = int(model.units)
    if name == "MinibatchNetwork":
        params["batch_size"] = int(model.batch_size)
    values = {k: getattr(model, k, None) for k in cls._param_names}
    arrays: dict[str, np.ndarray] = {}
    n_features = getattr(model, "n_features_in_", None)
    if any(v is None for v in values.values()):
        if any(v is not None for v in values.values()):
            raise ValueError(f"cannot save {type(model).__name__}: some of "
                             f"{cls._param_names} are set and some are None")
    else:
        host = {k: np.asarray(b.to_numpy(v)) for k, v in values.items()}
        first = host[cls._param_names[0]]
        if n_features is None:
            n_features = int(first.shape[0]) if first.ndim == 2 else int(first.size)
        expected = _seed_shapes(name, int(n_features), params.get("units"))
        for k, arr in host.items():
            shape = expected[k]
            if arr.size != math.prod(shape):
                raise ValueError(f"cannot save {type(model).__name__}: {k} has shape "
                                 f"{arr.shape} but {shape} is expected for "
                                 f"{n_features} features")
            if arr.dtype.name not in _FLOATS:
                arr = arr.astype(np.float64)
            arrays[f"weights.{k}"] = np.ascontiguousarray(arr.reshape(shape))
    fitted = {"n_features_in_": None if n_features is None else int(n_features),
              "losses": [_to_float(b, v) for v in model.losses],
              "val_losses": [_to_float(b, v) for v in model.val_losses]}
    config = {"params": params, "backend": b.spec, "dtype": b.dtype_name, "seed": int(b.seed),
              "fitted": fitted}
    return config, arrays


def _to_float(backend: Backend, v: Any) -> float:
    return v if isinstance(v, float) else float(np.asarray(backend.to_numpy(v)).reshape(()))


def _seed_shapes(name: str, n_features: int, units: int | None) -> dict[str, tuple[int, ...]]:
    if name == "SingleLayer":
        return {"w": (n_features, 1), "b": (1,)}
    return {"w1": (n_features, units), "b1": (units,), "w2": (units, 1), "b2": (1,)}


def _estimator_payload(est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    name = _base_class_name(est)
    cls = _classes()[name]
    params = est.get_params(deep=False)
    params = {k: params[k] for k in cls._get_param_names() if k in params}
    fitted_net = est.__dict__.get("network_")
    if not isinstance(params.get("backend"), str):
        if fitted_net is None:
            raise ValueError(f"cannot save {type(est).__name__} with backend="
                             f"{params.get('backend')!r}: pass the backend as a string such as "
                             f"'numpy' or 'torch'")
        params["backend"] = fitted_net.backend.spec
    rs = params.get("random_state")
    if rs is not None and not (isinstance(rs, (int, np.integer)) and not isinstance(rs, bool)):
        params["random_state"] = None  # a RandomState instance is not portable
    config: dict[str, Any] = {"params": _jsonable(params, "estimator parameters")}
    arrays: dict[str, np.ndarray] = {}
    if fitted_net is None:
        config["fitted"] = None
        return config, arrays
    meta = _portable_network(fitted_net)
    arrays.update(_prefixed("network.", meta.pop("arrays")))
    config["network"] = meta
    opt = est.__dict__.get("_optimizer")
    opt_meta = None if opt is None else _portable_optimizer(opt, fitted_net.backend)
    if opt_meta is not None:
        arrays.update(_prefixed("optimizer.", opt_meta.pop("arrays")))
    config["optimizer"] = opt_meta
    fitted: dict[str, Any] = {}
    for key in ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "loss_",
                "loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_",
                "n_iter_", "t_"):
        if key in est.__dict__:
            fitted[key] = _jsonable(est.__dict__[key], key)
    if "classes_" in est.__dict__:
        fitted["classes_"] = _encode_labels(np.asarray(est.classes_), "classes_")
    if "feature_names_in_" in est.__dict__:
        fitted["feature_names_in_"] = [str(v) for v in est.feature_names_in_]
    hist = est.__dict__.get("history_")
    if hist is not None:
        fitted["history_"] = {"curves": _jsonable(dict(hist), "history_"),
                              "best_epoch": hist.best_epoch,
                              "stopped_epoch": hist.stopped_epoch,
                              "diverged": bool(hist.diverged)}
    config["fitted"] = fitted
    return config, arrays


def _encode_labels(values: np.ndarray, name: str) -> dict[str, Any]:
    kind = values.dtype.kind
    if kind not in "biufUO" or values.ndim != 1:
        raise ValueError(f"cannot save {name} of dtype {values.dtype} and shape "
                         f"{values.shape}: labels must be numbers, booleans or strings")
    items = values.tolist()
    if kind == "O" and not all(isinstance(v, (str, int, float, bool)) for v in items):
        raise ValueError(f"cannot save {name}: object labels must be str, int, float or bool")
    return {"values": items, "dtype": values.dtype.str}


def _decode_labels(spec: Any, where: str, name: str) -> np.ndarray:
    if not isinstance(spec, dict) or not isinstance(spec.get("values"), list) \
            or not isinstance(spec.get("dtype"), str):
        raise _Invalid(f"{where}: fitted {name} must be {{'values': [...], 'dtype': '...'}}")
    try:
        dtype = np.dtype(spec["dtype"])
    except TypeError:
        raise _Invalid(f"{where}: {name} has an unknown dtype {spec['dtype']!r}") from None
    if dtype.kind not in "biufUO":
        raise _Invalid(f"{where}: {name} has dtype {dtype}; labels must be numbers, booleans "
                       f"or strings")
    values = spec["values"]
    if dtype.kind == "O":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return np.asarray(values, dtype=dtype)


def _jsonable(value: Any, name: str) -> Any:
    """``value`` as plain JSON types (tuples -> lists, NumPy scalars -> Python)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{name}[{k!r}]") for k, v in value.items()}
    raise ValueError(f"cannot save {name}={value!r}: a {type(value).__name__} cannot be "
                     f"stored in the JSON config; use numbers, strings or tuples")


# ====================================================================== reading
def _sniff(path: Path) -> str:
    """A short guess at what a non-zip file is, for the error message."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as err:
        return f"it cannot be read: {err}"
    if not head:
        return "it is empty"
    if head[:1] == b"\x80":
        return "it looks like a Python pickle, which xpnet never loads"
    if head.startswith(b"PK"):
        return "it is a truncated or damaged zip archive"
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array, not an .npz archive"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "it holds unrecognized binary data"
    return "it looks like a text file"


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Open and validate the container: (config, arrays) or ValueError."""
    where = str(path)
    if not path.exists():
        raise FileNotFoundError(f"{where}: no such model file")
    if not path.is_file():
        raise ValueError(f"{where} is not a file; pass the path of a model written by "
                         f"xpnet.save")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{where} is not an xpnet model file: not a .npz (zip) archive "
                         f"({_sniff(path)}); model files are written by xpnet.save")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return _read_npz(npz, where)
    except _Invalid:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            KeyError, zlib.error, UnicodeDecodeError) as err:
        detail = str(err)
        if "pickle" in detail.lower() or "object arrays" in detail.lower():
            detail = f"it holds pickled Python objects, which xpnet never loads ({err})"
        raise ValueError(f"{where}: cannot read the model file: it is truncated, corrupt or "
                         f"not an xpnet model ({detail})") from None


def _read_npz(npz: Any, where: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    names = list(npz.files)
    if CONFIG_KEY not in names:
        raise _Invalid(f"{where} is not an xpnet model file: it has no {CONFIG_KEY!r} entry "
                       f"(a .npz written by something other than xpnet.save)")
    raw = npz[CONFIG_KEY]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1 \
            or raw.size > _MAX_CONFIG_BYTES:
        raise _Invalid(f"{where}: {CONFIG_KEY!r} must be a 1-D uint8 array of UTF-8 JSON")
    try:
        config = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _Invalid(f"{where}: {CONFIG_KEY!r} is not valid UTF-8 JSON ({err})") from None
    if not isinstance(config, dict):
        raise _Invalid(f"{where}: {CONFIG_KEY!r} must hold a JSON object")
    if config.get("format") != FORMAT:
        raise _Invalid(f"{where} is not an xpnet model file: format={config.get('format')!r} "
                       f"(expected {FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Invalid(f"{where}: format_version={version!r} is not a valid version")
    if version > FORMAT_VERSION:
        raise _Invalid(f"{where} was written with format_version={version}, newer than this "
                       f"xpnet reads ({FORMAT_VERSION}); upgrade xpnet to load it")
    if version != FORMAT_VERSION:
        raise _Invalid(f"{where}: format_version={version} is not supported (this xpnet reads "
                       f"{FORMAT_VERSION})")
    name = config.get("class")
    if name not in MODEL_CLASSES:
        raise _Invalid(f"{where}: class={name!r} is not a model class xpnet loads; known: "
                       f"{', '.join(MODEL_CLASSES)}")
    listing = config.get("arrays")
    if not isinstance(listing, dict):
        raise _Invalid(f"{where}: the config has no 'arrays' listing")
    stored = set(names) - {CONFIG_KEY}
    missing = sorted(set(listing) - stored)
    extra = sorted(stored - set(listing))
    if missing:
        raise _Invalid(f"{where}: arrays listed in the config are missing from the file: "
                       f"{missing}")
    if extra:
        raise _Invalid(f"{where}: the file holds arrays the config does not list: {extra}")
    arrays: dict[str, np.ndarray] = {}
    for key, spec in listing.items():
        if not isinstance(spec, dict) or not _is_shape(spec.get("shape")) \
                or spec.get("dtype") not in _FLOATS:
            raise _Invalid(f"{where}: the listing of array {key!r} must give a shape (list of "
                           f"ints) and a dtype in {_FLOATS}, got {spec!r}")
        arr = npz[key]
        if not isinstance(arr, np.ndarray):
            raise _Invalid(f"{where}: entry {key!r} is not a NumPy array")
        if list(arr.shape) != spec["shape"]:
            raise _Invalid(f"{where}: array {key!r} has shape {list(arr.shape)} but the config "
                           f"says {spec['shape']}")
        if arr.dtype.name != spec["dtype"]:
            raise _Invalid(f"{where}: array {key!r} has dtype {arr.dtype} but the config says "
                           f"{spec['dtype']}")
        arrays[key] = arr
    return config, arrays


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)


def _section(config: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = config.get(key)
    if not isinstance(value, dict):
        raise _Invalid(f"{where}: the config has no {key!r} section")
    return value


def _check_arrays(arrays: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]],
                  where: str, what: str, dtype: str | None = None) -> None:
    """The arrays must be exactly ``expected`` (names and shapes) for the architecture."""
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise _Invalid(f"{where}: the arrays do not match the {what} described by the config "
                       f"(missing: {missing}, unexpected: {extra})")
    for key, shape in expected.items():
        if tuple(arrays[key].shape) != tuple(shape):
            raise _Invalid(f"{where}: array {key!r} has shape {tuple(arrays[key].shape)} but "
                           f"the {what} needs {tuple(shape)}")
        if dtype is not None and arrays[key].dtype.name != dtype:
            raise _Invalid(f"{where}: array {key!r} has dtype {arrays[key].dtype} but the "
                           f"{what} uses {dtype}")


def _positive_int(value: Any, where: str, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _Invalid(f"{where}: {name}={value!r} must be a positive integer")
    return value


def _seed_of(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise _Invalid(f"{where}: seed={value!r} must be an integer in [0, 2**32)")
    return value


def _resolve_backend(saved: Any, requested: Any, dtype: str, seed: int, where: str) -> Backend:
    """The requested backend, else the saved one if it can be had, else NumPy (warned)."""
    if dtype not in _FLOATS:
        raise _Invalid(f"{where}: dtype={dtype!r} must be one of {_FLOATS}")
    if requested is not None:
        return get_backend(requested, dtype, seed)
    if not isinstance(saved, str):
        raise _Invalid(f"{where}: backend={saved!r} must be a backend name")
    try:
        return get_backend(saved, dtype, seed)
    except (BackendUnavailableError, ImportError, ValueError, TypeError) as err:
        warnings.warn(f"{where} was saved on backend={saved!r}, which is not available here "
                      f"({err}); loading it on NumPy instead (pass backend= to choose)",
                      RuntimeWarning, stacklevel=4)
        return get_backend("numpy", dtype, seed)


def _network_shapes(cfg: dict[str, Any], where: str) -> tuple[dict[str, tuple[int, ...]], int]:
    """Parameter shapes (the order of ``MultiLayerNetExtend._build_params``) and the
    number of BatchNorm layers the config describes."""
    hidden = cfg.get("hidden_size_list")
    if not isinstance(hidden, list):
        raise _Invalid(f"{where}: hidden_size_list={hidden!r} must be a list of integers")
    sizes = [_positive_int(cfg.get("input_size"), where, "input_size"),
             *[_positive_int(h, where, "hidden_size_list[i]") for h in hidden],
             _positive_int(cfg.get("output_size"), where, "output_size")]
    bn = bool(cfg.get("use_batchnorm", False))
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(1, len(sizes)):
        shapes[f"W{i}"] = (sizes[i - 1], sizes[i])
        shapes[f"b{i}"] = (sizes[i],)
        if bn and i < len(sizes) - 1:
            shapes[f"gamma{i}"] = (sizes[i],)
            shapes[f"beta{i}"] = (sizes[i],)
    return shapes, (len(hidden) if bn else 0)


def _restore_network(meta: dict[str, Any], backend: Any, where: str) -> Any:
    """Rebuild a MultiLayerNet(Extend) from :func:`_portable_network` output, validated."""
    name = meta.get("class")
    if name not in ("MultiLayerNet", "MultiLayerNetExtend"):
        raise _Invalid(f"{where}: network class={name!r} is not MultiLayerNet(Extend)")
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise _Invalid(f"{where}: the network has no config")
    unknown = sorted(set(cfg) - set(_NET_KEYS))
    if unknown:
        raise _Invalid(f"{where}: unknown network config keys {unknown}")
    arrays = meta.get("arrays", {})
    shapes, n_bn = _network_shapes(cfg, where)
    expected = {f"params.{k}": s for k, s in shapes.items()}
    hidden = cfg["hidden_size_list"]
    for i in range(1, n_bn + 1):
        expected[f"batchnorm{i}.running_mean"] = (hidden[i - 1],)
        expected[f"batchnorm{i}.running_var"] = (hidden[i - 1],)
    dtype = cfg.get("dtype", "float32")
    _check_arrays(arrays, expected, where, f"{name} {cfg['input_size']}-"
                  f"{'-'.join(map(str, hidden))}{'-' if hidden else ''}{cfg['output_size']}",
                  dtype=dtype)
    b = _resolve_backend(meta.get("backend"), backend, dtype, _seed_of(meta.get("seed"), where),
                         where)
    kwargs = {k: v for k, v in cfg.items() if k != "dtype"}
    if name == "MultiLayerNet":
        if kwargs.pop("use_dropout", False) or kwargs.pop("use_batchnorm", False):
            raise _Invalid(f"{where}: a MultiLayerNet has no dropout or batchnorm")
        kwargs.pop("dropout_ratio", None)
    net = _classes()[name](**kwargs, backend=b, dtype=dtype, random_state=b.seed)
    if dict(net.param_shapes) != shapes:  # pragma: no cover - guards _network_shapes
        raise _Invalid(f"{where}: the network's parameters do not match the file")
    flat = np.concatenate([arrays[f"params.{k}"].ravel() for k in net.param_shapes]) \
        if shapes else np.zeros(0, dtype=dtype)
    running = [(b.asarray(arrays[f"batchnorm{i}.running_mean"]),
                b.asarray(arrays[f"batchnorm{i}.running_var"]))
               for i in range(1, n_bn + 1)]
    net.set_state({"flat": b.asarray(flat), "running": running})
    return net


def _restore_optimizer(meta: dict[str, Any], net: Any, where: str) -> Any:
    """Rebuild an optimizer from :func:`_portable_optimizer` output for ``net``'s flat
    buffer (state arrays validated against its size)."""
    from ..nn.optimizers import OPTIMIZERS  # noqa: PLC0415

    name = meta.get("class")
    if name not in _OPTIMIZER_SLOTS:
        raise _Invalid(f"{where}: optimizer class={name!r} is not one of "
                       f"{', '.join(_OPTIMIZER_SLOTS)}")
    params = meta.get("params")
    keys = meta.get("keys")
    t = meta.get("t", {})
    if not isinstance(params, dict) or not isinstance(keys, list) or not isinstance(t, dict):
        raise _Invalid(f"{where}: the optimizer section is malformed")
    if any(k != "flat" for k in keys) or any(k not in keys for k in t):
        raise _Invalid(f"{where}: optimizer state keys {keys} do not match the network "
                       f"(expected ['flat'])")
    n = int(net.flat.shape[0])
    expected = {f"{k}.{s}": (n,) for k in keys for s in _OPTIMIZER_SLOTS[name]}
    arrays = meta.get("arrays", {})
    _check_arrays(arrays, expected, where, "optimizer state")
    opt = OPTIMIZERS[name.lower()](**params)
    b = net.backend
    opt.xp = b.xp
    opt.state = {k: {s: b.asarray(arrays[f"{k}.{s}"]) for s in _OPTIMIZER_SLOTS[name]}
                 for k in keys}
    if hasattr(opt, "t"):
        for k, v in t.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise _Invalid(f"{where}: optimizer step count t[{k!r}]={v!r} must be an int")
        opt.t = dict(t)
    return opt


def _build_seed(name: str, config: dict[str, Any], arrays: dict[str, np.ndarray],
                backend: Any, where: str) -> Any:
    params = _section(config, "params", where)
    allowed = _SEED_PARAMS[name]
    if sorted(params) != sorted(allowed):
        raise _Invalid(f"{where}: {name} parameters must be {sorted(allowed)}, got "
                       f"{sorted(params)}")
    fitted = _section(config, "fitted", where)
    n_features = fitted.get("n_features_in_")
    weights = _unprefixed("weights.", arrays)
    if len(weights) != len(arrays):
        raise _Invalid(f"{where}: unexpected arrays {sorted(set(arrays) - set(weights))}")
    cls = _classes()[name]
    if n_features is None:
        _check_arrays(weights, {}, where, f"unfitted {name}")
    else:
        n_features = _positive_int(n_features, where, "n_features_in_")
        units = params.get("units")
        if name != "SingleLayer":
            units = _positive_int(units, where, "units")
        _check_arrays(weights, _seed_shapes(name, n_features, units), where,
                      f"{name} with {n_features} features")
    for key in ("losses", "val_losses"):
        values = fitted.get(key, [])
        if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise _Invalid(f"{where}: fitted {key} must be a list of numbers")
    b = _resolve_backend(config.get("backend"), backend, config.get("dtype"),
                         _seed_of(config.get("seed"), where), where)
    model = cls(**params, backend=b, dtype=b.dtype_name, random_state=b.seed)
    model.n_features_in_ = n_features
    model.losses = [float(v) for v in fitted.get("losses", [])]
    model.val_losses = [float(v) for v in fitted.get("val_losses", [])]
    for key, arr in weights.items():
        setattr(model, key, b.asarray(arr))
    return model


_FITTED_TYPES: dict[str, tuple[type, ...]] = {
    "n_features_in_": (int,), "n_outputs_": (int,), "n_layers_": (int,),
    "out_activation_": (str,), "loss_": (float, int), "loss_curve_": (list,),
    "best_loss_": (float, int, type(None)), "validation_scores_": (list, type(None)),
    "best_validation_score_": (float, int, type(None)), "n_iter_": (int,), "t_": (int,),
}


def _build_estimator(name: str, config: dict[str, Any], arrays: dict[str, np.ndarray],
                     backend: Any, where: str) -> Any:
    cls = _classes()[name]
    params = _section(config, "params", where)
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise _Invalid(f"{where}: unknown {name} parameters {unknown}")
    params = dict(params)
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    est = cls(**params)
    est._check_params()
    fitted = config.get("fitted")
    if fitted is None:
        if arrays:
            raise _Invalid(f"{where}: an unfitted {name} holds arrays {sorted(arrays)}")
        if backend is not None:
            est.backend = backend
        return est
    if not isinstance(fitted, dict):
        raise _Invalid(f"{where}: 'fitted' must be an object or null")
    for key, value in fitted.items():
        types = _FITTED_TYPES.get(key)
        if types is None and key not in ("classes_", "feature_names_in_", "history_"):
            raise _Invalid(f"{where}: unknown fitted attribute {key!r}")
        if types is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise _Invalid(f"{where}: fitted {key}={value!r} has the wrong type")
        if isinstance(value, list) and key != "feature_names_in_" and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise _Invalid(f"{where}: fitted {key} must be a list of numbers")
    expected_prefixes = ("network.", "optimizer.")
    stray = sorted(k for k in arrays if not k.startswith(expected_prefixes))
    if stray:
        raise _Invalid(f"{where}: unexpected arrays {stray}")
    net_meta = _section(config, "network", where)
    if net_meta.get("class") != "MultiLayerNetExtend":
        raise _Invalid(f"{where}: an estimator's network must be a MultiLayerNetExtend")
    loss = net_meta.get("config", {}).get("loss")
    want_loss = "mse" if name == "MLPRegressor" else "softmax_cross_entropy"
    if loss != want_loss:
        raise _Invalid(f"{where}: a {name} network uses loss={want_loss!r}, not {loss!r}")
    net = _restore_network({**net_meta, "arrays": _unprefixed("network.", arrays)}, backend,
                           where)
    cfg = net.get_config()
    if fitted.get("n_features_in_") != cfg["input_size"]:
        raise _Invalid(f"{where}: n_features_in_={fitted.get('n_features_in_')!r} does not "
                       f"match the network's input_size={cfg['input_size']}")
    if fitted.get("n_outputs_", cfg["output_size"]) != cfg["output_size"]:
        raise _Invalid(f"{where}: n_outputs_={fitted.get('n_outputs_')!r} does not match the "
                       f"network's output_size={cfg['output_size']}")
    opt_meta = config.get("optimizer")
    opt_arrays = _unprefixed("optimizer.", arrays)
    if opt_meta is None:
        if opt_arrays:
            raise _Invalid(f"{where}: optimizer arrays without an optimizer section")
        opt = est._make_optimizer()
    elif isinstance(opt_meta, dict):
        opt = _restore_optimizer({**opt_meta, "arrays": opt_arrays}, net, where)
    else:
        raise _Invalid(f"{where}: 'optimizer' must be an object or null")
    for key in _FITTED_TYPES:
        if key in fitted:
            setattr(est, key, fitted[key])
    if name == "MLPClassifier":
        classes = _decode_labels(fitted.get("classes_"), where, "classes_")
        if classes.shape != (cfg["output_size"],):
            raise _Invalid(f"{where}: {classes.shape[0]} classes_ but the network has "
                           f"{cfg['output_size']} outputs")
        est.classes_ = classes
    elif "classes_" in fitted:
        raise _Invalid(f"{where}: an MLPRegressor has no classes_")
    if "feature_names_in_" in fitted:
        names = fitted["feature_names_in_"]
        if not isinstance(names, list) or len(names) != cfg["input_size"] or \
                not all(isinstance(v, str) for v in names):
            raise _Invalid(f"{where}: feature_names_in_ must list {cfg['input_size']} strings")
        est.feature_names_in_ = np.asarray(names, dtype=object)
    est.history_ = _decode_history(fitted.get("history_"), where)
    est.network_ = net
    est._optimizer = opt
    saved = params.get("backend")
    if backend is not None or not isinstance(saved, str) or \
            _spec_or_none(saved) != net.backend.spec:
        est.backend = net.backend.spec
    return est


def _spec_or_none(spec: str) -> str | None:
    """The canonical spec of a backend name if it can be had here, else None."""
    try:
        return get_backend(spec).spec
    except (BackendUnavailableError, ImportError, ValueError, TypeError):
        return None


def _decode_history(spec: Any, where: str) -> Any:
    from ..nn.trainer import History  # noqa: PLC0415

    hist = History()
    if spec is None:
        return hist
    if not isinstance(spec, dict) or not isinstance(spec.get("curves"), dict):
        raise _Invalid(f"{where}: fitted history_ is malformed")
    for key, values in spec["curves"].items():
        if not isinstance(values, list):
            raise _Invalid(f"{where}: history_[{key!r}] must be a list")
        hist[key] = [float(v) for v in values]
    hist.best_epoch = spec.get("best_epoch")
    hist.stopped_epoch = spec.get("stopped_epoch")
    hist.diverged = bool(spec.get("diverged", False))
    return hist
