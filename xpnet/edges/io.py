"""Portable model files: one ``.npz`` of named arrays plus a JSON description, never pickle.

A model describes itself (:mod:`xpnet.nn.state`: its config, small fitted values, named arrays
and the models it holds); this module only packs that description into a container, bounds
and checks what it reads back, and writes atomically.  It knows no class's internals.

``save(model, path)`` writes every array (as NumPy, whatever backend trained it) and a UTF-8
JSON document stored as the uint8 entry ``__config__``::

    {"format": "xpnet", "format_version": 2, "class": "MLPClassifier", "config": {...},
     "fitted": {...}, "network": {"class": "MultiLayerNetExtend", "config": {...},
     "backend": "numpy", "seed": 0, "dtype": "float32", "fitted": {}}, "optimizer": {...},
     "arrays": {"network.params.W1": {"shape": [30, 10], "dtype": "float32"}, ...}}

A node's keys beyond ``class``/``config``/``fitted``/``backend``/``seed``/``dtype`` are the
models it holds; an array ``network.params.W1`` belongs to the node ``network``.  The file is
written atomically (a temporary file in the same directory, flushed and fsync'ed, then
``os.replace``), so a crash mid-save leaves the previous file intact.

``load(path, backend=None)`` opens it with ``np.load(..., allow_pickle=False)`` and validates
before anything is trusted: a zip archive, a bounded ``__config__`` entry, a known format and
version, classes from a fixed allow-list (no class is ever imported by name), constructor
arguments the class accepts, and then, generically, every array in the file against the
array of the same name that the rebuilt model holds (name, shape, dtype).  Anything else
raises ValueError naming the file and the problem.  ``backend=None`` loads on the backend
recorded in the file when it can be had here, else on NumPy with a warning.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..backends import get_backend
from ..nn.network import MultiLayerNet, MultiLayerNetExtend
from ..nn.optimizers import OPTIMIZERS
from ..nn.seed_models import DualLayer, MinibatchNetwork, RandomInitNetwork, SingleLayer
from ..nn.state import Saveable, _init_parameters, describe, rebuild
from .estimators import MLPClassifier, MLPRegressor

__all__ = ["save", "load", "MODEL_CLASSES", "FORMAT", "FORMAT_VERSION", "CONFIG_KEY"]

FORMAT = "xpnet"
FORMAT_VERSION = 2
#: the entry holding the UTF-8 JSON config (as a uint8 array)
CONFIG_KEY = "__config__"
#: the model classes a file may name at its top (the allow-list: nothing else is ever built)
MODEL_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    SingleLayer, DualLayer, RandomInitNetwork, MinibatchNetwork, MultiLayerNet,
    MultiLayerNetExtend, MLPClassifier, MLPRegressor)}
#: ... and the classes of the models they hold
_CLASSES: dict[str, type] = {**MODEL_CLASSES, **{c.__name__: c for c in OPTIMIZERS.values()}}
#: the keys of a node that are not models it holds
_NODE_KEYS = ("class", "config", "fitted", "backend", "seed", "dtype")

_FLOATS = ("float32", "float64")
_MAX_CONFIG_BYTES = 64 * 2**20


class _Invalid(ValueError):
    """A model file that fails validation (the message names the file and the problem)."""


# ====================================================================== public API
def save(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` as a portable ``.npz`` (atomically; no pickle).

    The file is written exactly at ``path`` (no suffix is added; ``.npz`` is customary).
    Works for every backend: arrays are copied to NumPy first.  Returns the path written.

    Example:
        >>> import xpnet, tempfile, os
        >>> net = xpnet.MultiLayerNet(4, [8], 3, random_state=0)
        >>> path = xpnet.save(net, os.path.join(tempfile.mkdtemp(), "net.npz"))
        >>> xpnet.load(path).get_config() == net.get_config()
        True

    Raises:
        TypeError: ``model`` is not a model xpnet can save.
        ValueError: a setting or fitted value cannot be stored as JSON.
    """
    path = Path(os.fspath(path))
    if not isinstance(model, Saveable) or _class_name(type(model), MODEL_CLASSES) is None:
        raise TypeError(f"model={type(model).__name__} cannot be saved: xpnet.save handles "
                        f"{', '.join(MODEL_CLASSES)} (and their subclasses)")
    arrays: dict[str, np.ndarray] = {}
    node = _pack(describe(model, to_host=True), "", arrays)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "saved_class": f"{type(model).__module__}.{type(model).__qualname__}",
              "xpnet_version": importlib.metadata.version("xpnet")}
    config = {**header, **node, "arrays": {key: {"shape": list(arr.shape),
                                                 "dtype": arr.dtype.name}
                                           for key, arr in arrays.items()}}
    blob = json.dumps(config, sort_keys=True, allow_nan=True).encode("utf-8")  # all JSON types
    entries = {CONFIG_KEY: np.frombuffer(blob, dtype=np.uint8), **arrays}
    _atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **entries))
    return path


def load(path: str | os.PathLike, backend: Any = None) -> Any:
    """Read a model written by :func:`save`, validated before anything is trusted.

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
    where = str(path)
    if config.get("class") not in MODEL_CLASSES:
        raise _Invalid(f"{where}: class={config.get('class')!r} is not a model class xpnet "
                       f"loads; known: {', '.join(MODEL_CLASSES)}")
    description = _unpack(config, "", arrays, where)
    try:
        return rebuild(description, backend, check=lambda m, a, p: _check_arrays(m, a, p, where),
                       where=where)
    except _Invalid:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"{where}: invalid model description for {config['class']} "
                         f"({type(err).__name__}: {err}); the file was damaged or edited"
                         ) from None


# ====================================================================== writing
def _class_name(cls: type, allowed: dict[str, type]) -> str | None:
    """The most derived allow-listed class that ``cls`` is or inherits from."""
    return next((name for base in cls.__mro__ for name, candidate in allowed.items()
                 if base is candidate), None)


def _pack(desc: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """A JSON node for one model of :func:`~xpnet.nn.state.describe`'s output; its arrays go
    to ``arrays`` under ``prefix``."""
    cls = desc["class"]
    name = _class_name(cls, _CLASSES)
    if name is None:
        raise TypeError(f"{prefix or 'model'} of class {cls.__name__} cannot be saved: model "
                        f"files hold {', '.join(_CLASSES)} (and their subclasses)")
    node = {"class": name, "config": _jsonable(desc["config"], f"{name} config"),
            "fitted": _jsonable(desc["values"], f"{name} fitted value")}
    for key in ("backend", "seed", "dtype"):
        if key in desc:
            node[key] = desc[key]
    for key, arr in desc["arrays"].items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in _FLOATS:
            raise ValueError(f"cannot save array {prefix + key!r} of dtype {arr.dtype}: model "
                             f"files hold float32 or float64 arrays only")
        arrays[prefix + key] = arr
    for key, child in desc["children"].items():
        node[key] = _pack(child, f"{prefix}{key}.", arrays)
    return node


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
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _jsonable(values: dict[str, Any], name: str) -> dict[str, Any]:
    """``values`` as plain JSON types (tuples -> lists, NumPy scalars and arrays -> Python);
    ValueError naming the entry that JSON cannot hold."""
    def numpy_value(value: Any) -> Any:
        if isinstance(value, np.generic) or (isinstance(value, np.ndarray)
                                             and value.dtype.kind in "biuf"):
            return value.tolist()
        raise TypeError(f"a {type(value).__name__} cannot be stored in the JSON config")

    out = {}
    for key, value in values.items():
        try:
            out[str(key)] = json.loads(json.dumps(value, default=numpy_value))
        except (TypeError, ValueError) as err:
            raise ValueError(f"cannot save {name} {key}={value!r}: {err}; use numbers, "
                             f"strings or tuples") from None
    return out


# ====================================================================== reading
#: the first bytes of files that are not model files, and what to call them
_SIGNATURES = ((b"\x80", "it looks like a Python pickle, which xpnet never loads"),
               (b"PK", "it is a truncated or damaged zip archive"),
               (b"\x93NUMPY", "it is a single .npy array, not an .npz archive"))


def _sniff(path: Path) -> str:
    """A short guess at what a non-zip file is, for the error message."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as err:
        return f"it cannot be read: {err}"
    if not head:
        return "it is empty"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
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
    raw = npz[CONFIG_KEY]  # np.load(allow_pickle=False) gives arrays only
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_CONFIG_BYTES:
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
    if type(version) is int and version > FORMAT_VERSION:
        raise _Invalid(f"{where} was written with format_version={version}, newer than this "
                       f"xpnet reads ({FORMAT_VERSION}); upgrade xpnet to load it")
    if type(version) is not int or version != FORMAT_VERSION:
        raise _Invalid(f"{where}: format_version={version!r} is not supported (this xpnet "
                       f"reads {FORMAT_VERSION})")
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
        if list(arr.shape) != spec["shape"] or arr.dtype.name != spec["dtype"]:
            raise _Invalid(f"{where}: array {key!r} has shape {list(arr.shape)} and dtype "
                           f"{arr.dtype} but the config says shape {spec['shape']} and dtype "
                           f"{spec['dtype']}")
        arrays[key] = arr
    return config, arrays


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)


# ====================================================================== validating
def _unpack(node: Any, prefix: str, arrays: dict[str, np.ndarray], where: str
            ) -> dict[str, Any]:
    """The description :func:`~xpnet.nn.state.rebuild` takes, from a JSON node: classes from
    the allow-list only, constructor arguments the class accepts, a bounded seed.  A node
    owns the arrays under its prefix that no child claims (the top node: every other)."""
    label = prefix.rstrip(".").replace(".", " ") + " " if prefix else ""
    if not isinstance(node, dict):
        raise _Invalid(f"{where}: {label}must be a JSON object")
    name = node.get("class")
    if name not in _CLASSES:
        raise _Invalid(f"{where}: {label}class={name!r} is not a model class xpnet loads")
    cls = _CLASSES[name]
    config, fitted = node.get("config"), node.get("fitted", {})
    if not isinstance(config, dict) or not isinstance(fitted, dict):
        raise _Invalid(f"{where}: {label}config and fitted must be JSON objects")
    unknown = sorted(set(config) - set(_init_parameters(cls)[1:]) - {"dtype"})
    if unknown:
        raise _Invalid(f"{where}: unknown {name} parameters {unknown}")
    desc: dict[str, Any] = {"class": cls, "config": config, "values": fitted, "children": {}}
    if "backend" in node:
        seed = node.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise _Invalid(f"{where}: {label}seed={seed!r} must be an integer in [0, 2**32)")
        if node.get("dtype", "float32") not in _FLOATS:
            raise _Invalid(f"{where}: {label}dtype={node.get('dtype')!r} must be one of "
                           f"{_FLOATS}")
        desc.update(backend=node["backend"], seed=seed, dtype=node.get("dtype", "float32"))
    children = [k for k in node if k not in _NODE_KEYS and not (prefix == "" and k in _HEADER)]
    own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix) and not any(
        k.startswith(f"{prefix}{child}.") for child in children)}
    desc["arrays"] = own
    for key in children:
        desc["children"][key] = _unpack(node[key], f"{prefix}{key}.", arrays, where)
    return desc


_HEADER = ("format", "format_version", "saved_class", "xpnet_version", "arrays")


def _check_arrays(model: Any, arrays: dict[str, np.ndarray], prefix: str, where: str) -> None:
    """The file's arrays for ``model`` must be exactly the ones the rebuilt model holds: the
    same names, shapes and dtypes."""
    expected = model.state_arrays()
    what = f"{prefix.rstrip('.') + ' ' if prefix else ''}{type(model).__name__}"
    missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or extra:
        raise _Invalid(f"{where}: the arrays do not match the {what} described by the config "
                       f"(missing: {missing}, unexpected: {extra})")
    for key, want in expected.items():
        got, want_dtype = arrays[key], str(want.dtype).rsplit(".", 1)[-1]
        if tuple(got.shape) != tuple(want.shape) or got.dtype.name != want_dtype:
            raise _Invalid(f"{where}: array {prefix + key!r} has shape {tuple(got.shape)} and "
                           f"dtype {got.dtype} but the {what} needs shape {tuple(want.shape)} "
                           f"and uses {want_dtype}")
