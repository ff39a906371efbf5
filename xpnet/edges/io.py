"""Portable model files: one ``.npz`` of named arrays plus a JSON description, never pickle.

A model describes itself (:mod:`xpnet.nn.state`: its config, small fitted values, named arrays,
the models it holds and its host generator's state); this module only packs that description
into a container, bounds and checks what it reads back, and writes atomically.  It knows no
class's internals.

``save(model, path)`` writes every array (as NumPy, whatever backend trained it) and a UTF-8
JSON document stored as the uint8 entry ``__config__``::

    {"format": "xpnet", "format_version": 2, "class": "MLPClassifier", "config": {...},
     "fitted": {...}, "network": {"class": "MultiLayerNetExtend", "config": {...},
     "backend": "numpy", "seed": 0, "dtype": "float32", "rng_state": {...}, "fitted": {}},
     "optimizer": {...}, "arrays": {"network.params.W1": {"shape": [30, 10],
     "dtype": "float32"}, ...}}

A node's keys beyond ``class``/``config``/``fitted``/``backend``/``seed``/``dtype``/``rng_state``
are the models it holds; an array ``network.params.W1`` belongs to the node ``network``.  A
fitted scikit-learn ``Pipeline`` of the scalers in :data:`TRANSFORMERS` followed by an xpnet
model is saved as ``{"class": "Pipeline", "steps": [{"name", "class", "config" (get_params),
"fitted" (n_features_in_, ...)}, ...], "final": name, "model": {node}}`` with the arrays
``steps.<i>.<attribute>`` and ``model.<...>``: xpnet's own allow-listed description rather than
``skops.io``, so one reader bounds and validates every file the same way, with no new
dependency.  Arrays must be finite.  The file is written atomically (a temporary file in the
same directory, created with the umask's permissions, locked, flushed and fsync'ed, then
``os.replace``); temporary files that killed saves of the same target left are removed.

``load(path, backend=None, allow_nonfinite=False)`` validates before anything is trusted or
allocated: a zip archive of plain ``.npy`` members (stored or deflated, not encrypted), a
bounded ``__config__`` entry (size, JSON depth, integers within int64), a known format and
version, classes from fixed allow-lists (no class is ever imported by name), constructor
arguments the class accepts; every array's listed shape against the total the file can hold,
its ``.npy`` header and zip size against the listing, and its shape and dtype against the
array of that name the rebuilt model holds, all before the array is read; finally its values
(finite).  Anything else raises ValueError naming the file and the problem.  ``backend=None``
loads on the backend recorded in the file when it can be had here, else on NumPy with a
warning.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from .. import __version__
from ..backends import allocation_budget, get_backend
from ..nn.network import MultiLayerNet, MultiLayerNetExtend, Network, SimpleConvNet
from ..nn.optimizers import OPTIMIZERS
from ..nn.seed_models import DualLayer, MinibatchNetwork, RandomInitNetwork, SingleLayer
from ..nn.state import Saveable, describe, init_parameters, rebuild
from .estimators import MLPClassifier, MLPRegressor

try:
    import fcntl  # a live save holds a lock on its temporary file
except ImportError:  # pragma: no cover - Windows: stale temporary files are left alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["save", "load", "MODEL_CLASSES", "TRANSFORMERS", "FORMAT", "FORMAT_VERSION",
           "CONFIG_KEY"]

FORMAT = "xpnet"
FORMAT_VERSION = 2
#: the entry holding the UTF-8 JSON config (as a uint8 array)
CONFIG_KEY = "__config__"
#: the model classes a file may name at its top (the allow-list: nothing else is ever built)
MODEL_CLASSES: dict[str, type] = {cls.__name__: cls for cls in (
    SingleLayer, DualLayer, RandomInitNetwork, MinibatchNetwork, MultiLayerNet,
    MultiLayerNetExtend, Network, SimpleConvNet, MLPClassifier, MLPRegressor)}
#: the scikit-learn steps a saved Pipeline may hold before its model, and their fitted arrays
TRANSFORMERS: dict[type, tuple[str, ...]] = {
    StandardScaler: ("mean_", "var_", "scale_"), MaxAbsScaler: ("max_abs_", "scale_"),
    MinMaxScaler: ("min_", "scale_", "data_min_", "data_max_", "data_range_"),
    RobustScaler: ("center_", "scale_")}
_TRANSFORMER_NAMES = {cls.__name__: cls for cls in TRANSFORMERS}
#: ... and the classes of the models they hold
_CLASSES: dict[str, type] = {**MODEL_CLASSES, **{c.__name__: c for c in OPTIMIZERS.values()}}
#: the keys of a node that are not models it holds
_NODE_KEYS = ("class", "config", "fitted", "backend", "seed", "dtype", "rng_state")
_HEADER = ("format", "format_version", "saved_class", "xpnet_version", "arrays")

_FLOATS = ("float32", "float64")
_MAX_CONFIG_BYTES = 64 * 2**20
_MAX_DEPTH = 32  # JSON nesting
_MAX_NDIM = 32
#: the most array bytes a file may declare: 64 MiB, or 4x its own size (xpnet stores arrays
#: uncompressed: a small file declaring huge arrays is a zip bomb)
_MIN_BUDGET, _BUDGET_RATIO = 64 * 2**20, 4
_MAX_FEATURES = 2**20  # a reference scaler is fitted on 2 rows


class _Invalid(ValueError):
    """A model file that fails validation (the message names the file and the problem)."""


# ====================================================================== public API
def save(model: Any, path: str | os.PathLike) -> Path:
    """Write ``model`` (an xpnet model, or a fitted Pipeline of scalers and one) to ``path``
    as a portable ``.npz`` (atomically; no pickle).

    The file is written exactly at ``path`` (no suffix is added; ``.npz`` is customary), with
    the permissions the umask gives a new file (an existing file keeps its mode).  Works for
    every backend: arrays are copied to NumPy first.  Returns the path written.

    Example:
        >>> import xpnet, tempfile, os
        >>> net = xpnet.MultiLayerNet(4, [8], 3, random_state=0)
        >>> path = xpnet.save(net, os.path.join(tempfile.mkdtemp(), "net.npz"))
        >>> xpnet.load(path).get_config() == net.get_config()
        True

    Raises:
        TypeError: ``model`` (or a pipeline step) is not something xpnet can save.
        ValueError: a setting or fitted value cannot be stored as JSON, an array holds NaN
            or infinite values, or a pipeline is not fitted.
    """
    path = Path(os.fspath(path))
    arrays: dict[str, np.ndarray] = {}
    if isinstance(model, Pipeline):
        node = _pack_pipeline(model, arrays)
    else:
        node = _pack(describe(_saveable(model, "model"), to_host=True), "", arrays)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "saved_class": f"{type(model).__module__}.{type(model).__qualname__}",
              "xpnet_version": __version__}  # also in a checkout that was never installed
    config = {**header, **node, "arrays": {key: {"shape": list(arr.shape),
                                                 "dtype": arr.dtype.name}
                                           for key, arr in arrays.items()}}
    _bounded(config, f"cannot save {path}")  # what load would refuse is never written
    blob = json.dumps(config, sort_keys=True, allow_nan=True).encode("utf-8")  # all JSON types
    entries = {CONFIG_KEY: np.frombuffer(blob, dtype=np.uint8), **arrays}
    _atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **entries))
    return path


def load(path: str | os.PathLike, backend: Any = None, allow_nonfinite: bool = False) -> Any:
    """Read a model (or Pipeline) written by :func:`save`, validated before anything is
    trusted or allocated.

    Args:
        path: the model file.
        backend: where to put the model ("numpy", "torch", "cupy", ...). None: the backend
            recorded in the file if it can be had here, else NumPy (with a RuntimeWarning).
        allow_nonfinite: load arrays holding NaN or infinite values (a diverged model) instead
            of refusing them.

    Example:
        >>> import xpnet, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
        >>> net = xpnet.load(xpnet.save(xpnet.MultiLayerNet(4, [8], 3), path), backend="numpy")
        >>> type(net).__name__
        'MultiLayerNet'

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not an xpnet model file, truncated, corrupt, tampered with, too large for
            its size, holding non-finite values, or written by a newer xpnet (the message
            names the path and what is wrong).
        BackendUnavailableError: an explicitly requested backend cannot be had.
    """
    path = Path(os.fspath(path))
    if backend is not None:
        get_backend(backend)  # an unknown or unavailable backend fails here, unwrapped
    with _Archive(path, allow_nonfinite) as archive:
        config, where = archive.config, archive.where
        if config.get("class") == "Pipeline":
            return _load_pipeline(config, archive, backend)
        if config.get("class") not in MODEL_CLASSES:
            raise _Invalid(f"{where}: class={config.get('class')!r} is not a model class xpnet "
                           f"loads; known: {', '.join(MODEL_CLASSES)} and Pipeline")
        return _load_model(config, "", archive, backend)


# ====================================================================== writing
def _class_name(cls: type, allowed: dict[str, type]) -> str | None:
    """The most derived allow-listed class that ``cls`` is or inherits from."""
    return next((name for base in cls.__mro__ for name, candidate in allowed.items()
                 if base is candidate), None)


def _saveable(model: Any, what: str) -> Saveable:
    if not isinstance(model, Saveable) or _class_name(type(model), MODEL_CLASSES) is None:
        raise TypeError(f"{what}={type(model).__name__} cannot be saved: xpnet.save handles "
                        f"{', '.join(MODEL_CLASSES)} (and their subclasses), alone or as the "
                        f"last step of a Pipeline of {', '.join(_TRANSFORMER_NAMES)}")
    return model


def _add_array(arrays: dict[str, np.ndarray], key: str, arr: Any) -> None:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.name not in _FLOATS:
        raise ValueError(f"cannot save array {key!r} of dtype {arr.dtype}: model files hold "
                         f"float32 or float64 arrays only")
    if not np.isfinite(arr).all():
        raise ValueError(f"cannot save array {key!r}: it holds NaN or infinite values (the "
                         f"model diverged); retrain it (e.g. with a smaller learning rate) "
                         f"before saving")
    arrays[key] = arr


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
    node.update((key, desc[key]) for key in _NODE_KEYS[3:] if key in desc)
    for key, arr in desc["arrays"].items():
        _add_array(arrays, prefix + key, arr)
    for key, child in desc["children"].items():
        node[key] = _pack(child, f"{prefix}{key}.", arrays)
    return node


def _pack_pipeline(pipe: Pipeline, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The node of a fitted Pipeline: each scaler's parameters, fitted values and arrays
    (:data:`TRANSFORMERS`), then its final xpnet model."""
    if not pipe.steps:
        raise TypeError("an empty Pipeline cannot be saved")
    *steps, (final, model) = pipe.steps
    nodes = []
    for i, (name, step) in enumerate(steps):
        if type(step) not in TRANSFORMERS:
            raise TypeError(f"pipeline step {name!r} ({type(step).__name__}) cannot be saved: "
                            f"xpnet.save handles Pipelines of "
                            f"{', '.join(_TRANSFORMER_NAMES)} followed by one of "
                            f"{', '.join(MODEL_CLASSES)}")
        attrs = TRANSFORMERS[type(step)]
        if not hasattr(step, "n_features_in_"):
            raise ValueError(f"pipeline step {name!r} is not fitted; fit the pipeline before "
                             f"saving it")
        fitted = {k: v.tolist() if isinstance(v, np.ndarray) else v
                  for k, v in vars(step).items() if k.endswith("_") and k not in attrs}
        for attr in attrs:
            if getattr(step, attr, None) is not None:
                _add_array(arrays, f"steps.{i}.{attr}", getattr(step, attr))
        nodes.append({"name": name, "class": type(step).__name__,
                      "config": _jsonable(step.get_params(), f"step {name!r} parameter"),
                      "fitted": _jsonable(fitted, f"step {name!r} fitted value")})
    model = _saveable(model, f"pipeline step {final!r}")
    return {"class": "Pipeline", "steps": nodes, "final": final,
            "model": _pack(describe(model, to_host=True), "model.", arrays)}


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write via a locked temporary file in the target directory, fsync, then
    ``os.replace``; first remove what killed saves of ``path`` left."""
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: directory {directory} does not exist")
    _remove_stale_temporaries(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else None
    tmp = directory / f".{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until closed: after os.replace
        with os.fdopen(fd, "wb", closefd=False) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    _fsync_dir(directory)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.{name}.*.tmp`` files beside ``path`` that no live save holds locked."""
    if fcntl is None:
        return
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            fd = os.open(tmp, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: a save is writing it
                os.unlink(tmp)
            finally:
                os.close(fd)


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


def _bounded(value: Any, where: str, depth: int = 0) -> None:
    """ValueError unless ``value`` nests at most ``_MAX_DEPTH`` deep and its integers fit
    int64 (what every reader of the config can take without RecursionError or overflow)."""
    if depth > _MAX_DEPTH:
        raise _Invalid(f"{where}: the JSON config nests deeper than {_MAX_DEPTH} levels")
    if isinstance(value, int) and not -2**63 <= value < 2**63:
        raise _Invalid(f"{where}: the JSON config holds the integer {value:.3e}, beyond int64")
    for item in value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else ()):
        _bounded(item, where, depth + 1)


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


class _Spec(NamedTuple):
    """An array's listed shape and dtype (what is checked before it is read)."""

    shape: tuple[int, ...]
    dtype: np.dtype


class _Archive:
    """An open model file: its validated config and listing (``specs``), every entry's
    ``.npy`` header and zip size checked against them; arrays are read one at a time by
    :meth:`read` once the rebuilt model has asked for them.  Any failure is a ValueError
    naming the file."""

    def __init__(self, path: Path, allow_nonfinite: bool) -> None:
        self.where, self.allow_nonfinite = str(path), allow_nonfinite
        where = self.where
        if not path.exists():
            raise FileNotFoundError(f"{where}: no such model file")
        if not path.is_file():
            raise ValueError(f"{where} is not a file; pass the path of a model written by "
                             f"xpnet.save")
        if not self._guard(lambda: zipfile.is_zipfile(path)):
            raise ValueError(f"{where} is not an xpnet model file: not a .npz (zip) archive "
                             f"({_sniff(path)}); model files are written by xpnet.save")
        self.zip = self._guard(lambda: zipfile.ZipFile(path))
        try:
            self._open(path.stat().st_size)
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.zip.close()

    def _guard(self, read: Callable[[], Any]) -> Any:
        """``read()``, with every error of a damaged file turned into one ValueError."""
        try:
            return read()
        except _Invalid:
            raise
        except Exception as err:  # noqa: BLE001 - zipfile/zlib/npy raise many kinds
            detail = f"{type(err).__name__}: {err}"
            if "pickle" in detail.lower() or "object arrays" in detail.lower():
                detail = f"it holds pickled Python objects, which xpnet never loads ({err})"
            raise ValueError(f"{self.where}: cannot read the model file: it is truncated, "
                             f"corrupt or not an xpnet model ({detail})") from None

    def _open(self, file_size: int) -> None:
        where = self.where
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in self.zip.infolist():
            problem = ("is encrypted" if info.flag_bits & 0x1 else "is not a .npy entry"
                       if not info.filename.endswith(".npy") else None
                       if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                       else f"uses compression method {info.compress_type}")
            if problem:
                raise _Invalid(f"{where}: cannot read the model file: entry "
                               f"{info.filename!r} {problem} (xpnet files hold plain .npy "
                               f"entries); the file was damaged or not written by xpnet.save")
            self.members[info.filename[:-4]] = info
        if CONFIG_KEY not in self.members:
            raise _Invalid(f"{where} is not an xpnet model file: it has no {CONFIG_KEY!r} "
                           f"entry (a .npz written by something other than xpnet.save)")
        self._check_entry(CONFIG_KEY, None)
        raw = self.read(CONFIG_KEY)
        try:
            config = json.loads(raw.tobytes().decode("utf-8"))
        except RecursionError:
            raise _Invalid(f"{where}: {CONFIG_KEY!r} nests too deeply") from None
        except ValueError as err:  # also UnicodeDecodeError, JSONDecodeError, int digits
            raise _Invalid(f"{where}: {CONFIG_KEY!r} is not valid UTF-8 JSON ({err})") from None
        _bounded(config, where)
        if not isinstance(config, dict):
            raise _Invalid(f"{where}: {CONFIG_KEY!r} must hold a JSON object")
        _check_header(config, where)
        self.config, self.specs = config, _listing(config, where)
        stored = set(self.members) - {CONFIG_KEY}
        missing, extra = sorted(set(self.specs) - stored), sorted(stored - set(self.specs))
        if missing:
            raise _Invalid(f"{where}: arrays listed in the config are missing from the file: "
                           f"{missing}")
        if extra:
            raise _Invalid(f"{where}: the file holds arrays the config does not list: {extra}")
        declared = sum(math.prod(s.shape) * s.dtype.itemsize for s in self.specs.values())
        budget = max(_MIN_BUDGET, _BUDGET_RATIO * file_size)
        if declared > budget:
            raise _Invalid(f"{where}: the config lists {declared} bytes of arrays, more than a "
                           f"{file_size}-byte model file can hold ({budget}); the file was "
                           f"damaged or built to exhaust memory")
        for key, spec in self.specs.items():
            self._check_entry(key, spec)

    def _check_entry(self, key: str, spec: _Spec | None) -> None:
        """The ``.npy`` header and zip size of entry ``key`` must match its listing (``spec``;
        None: the config entry, 1-D uint8 of at most ``_MAX_CONFIG_BYTES``): nothing that
        could be large is read or allocated before."""
        info = self.members[key]

        def header() -> tuple[tuple[int, ...], np.dtype, int]:
            with self.zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                reader = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if reader is None:
                    raise _Invalid(f"{self.where}: entry {key!r} has .npy format {version}")
                shape, _, dtype = reader(f)
                return shape, dtype, f.tell()

        shape, dtype, offset = self._guard(header)
        if dtype.hasobject:
            raise _Invalid(f"{self.where}: entry {key!r} holds pickled Python objects, which "
                           f"xpnet never loads")
        if spec is None and (dtype != np.uint8 or len(shape) != 1
                             or shape[0] > _MAX_CONFIG_BYTES):
            raise _Invalid(f"{self.where}: {key!r} must be a 1-D uint8 array of UTF-8 JSON "
                           f"of at most {_MAX_CONFIG_BYTES} bytes, not {dtype} of shape {shape}")
        if spec is not None and (dtype != spec.dtype or tuple(shape) != spec.shape):
            raise _Invalid(f"{self.where}: array {key!r} has shape {list(shape)} and dtype "
                           f"{dtype} but the config says shape {list(spec.shape)} and dtype "
                           f"{spec.dtype}")
        if info.file_size != offset + math.prod(shape) * dtype.itemsize:
            raise _Invalid(f"{self.where}: entry {key!r} holds {info.file_size} bytes, not "
                           f"what its .npy header declares; the file was damaged or edited")

    def read(self, key: str) -> np.ndarray:
        """The array ``key`` (its entry already checked): finite unless allowed."""
        def data() -> np.ndarray:
            with self.zip.open(self.members[key]) as f:
                return np.load(f, allow_pickle=False)

        arr = self._guard(data)
        if key != CONFIG_KEY and not self.allow_nonfinite and not np.isfinite(arr).all():
            raise _Invalid(f"{self.where}: array {key!r} holds NaN or infinite values (a "
                           f"diverged model); retrain it, or pass allow_nonfinite=True to "
                           f"load it anyway")
        return arr


def _check_header(config: dict[str, Any], where: str) -> None:
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


def _listing(config: dict[str, Any], where: str) -> dict[str, _Spec]:
    """The config's ``arrays`` listing as specs: float dtypes, bounded shapes."""
    listing = config.get("arrays")
    if not isinstance(listing, dict):
        raise _Invalid(f"{where}: the config has no 'arrays' listing")
    specs = {}
    for key, spec in listing.items():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if not (isinstance(shape, list) and len(shape) <= _MAX_NDIM and all(
                type(d) is int and 0 <= d < 2**40 for d in shape)) \
                or spec.get("dtype") not in _FLOATS:
            raise _Invalid(f"{where}: the listing of array {key!r} must give a shape (list of "
                           f"at most {_MAX_NDIM} ints) and a dtype in {_FLOATS}, got {spec!r}")
        specs[key] = _Spec(tuple(shape), np.dtype(spec["dtype"]))
    return specs


# ====================================================================== validating
def _unpack(node: Any, prefix: str, arrays: dict[str, Any], where: str) -> dict[str, Any]:
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
    unknown = sorted(set(config) - set(init_parameters(cls)) - {"dtype"})
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
        if "rng_state" in node:  # checked where it is restored (nn.state)
            desc["rng_state"] = node["rng_state"]
    children = [k for k in node if k not in _NODE_KEYS and not (prefix == "" and k in _HEADER)]
    desc["arrays"] = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)
                      and not any(k.startswith(f"{prefix}{child}.") for child in children)}
    for key in children:
        desc["children"][key] = _unpack(node[key], f"{prefix}{key}.", arrays, where)
    return desc


def _check_arrays(expected: dict[str, Any], arrays: dict[str, Any], prefix: str, what: str,
                  where: str) -> None:
    """The file's arrays (specs) must be exactly the ones ``expected`` (the rebuilt model's):
    the same names, shapes and dtypes."""
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


def _load_model(node: dict[str, Any], prefix: str, archive: _Archive, backend: Any) -> Any:
    """Rebuild the model of ``node`` (its arrays under ``prefix``); each model's arrays are
    checked against it, then read."""
    where = archive.where

    def check(model: Saveable, arrays: dict[str, Any], path: str) -> None:
        what = f"{(prefix + path).rstrip('.') + ' ' if prefix + path else ''}" \
               f"{type(model).__name__}"
        _check_arrays(model.state_arrays(), arrays, prefix + path, what, where)
        arrays.update((k, archive.read(prefix + path + k)) for k in arrays)

    description = _unpack(node, prefix, archive.specs, where)
    listed = sum(math.prod(spec.shape) for spec in archive.specs.values())
    try:
        with allocation_budget(listed):  # the config may not describe more than the file holds
            return rebuild(description, backend, check=check, where=where)
    except _Invalid:
        raise
    except MemoryError:
        raise ValueError(f"{where}: the config describes a model too large to build here; the "
                         f"file was damaged or built to exhaust memory") from None
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
        raise ValueError(f"{where}: invalid model description for {node['class']} "
                         f"({type(err).__name__}: {err}); the file was damaged or edited"
                         ) from None


def _load_pipeline(config: dict[str, Any], archive: _Archive, backend: Any) -> Pipeline:
    """A Pipeline from its node: each scaler rebuilt and checked, then the final model."""
    where, nodes, final = archive.where, config.get("steps"), config.get("final")
    names = [n.get("name") if isinstance(n, dict) else None for n in nodes] + [final] \
        if isinstance(nodes, list) else []
    if not names or not all(isinstance(n, str) and n and "__" not in n for n in names) \
            or len(set(names)) != len(names):
        raise _Invalid(f"{where}: a Pipeline needs 'steps' (a list of steps) and a 'final' "
                       f"step name, all distinct non-empty strings without '__'")
    steps = [(node["name"], _transformer(node, f"steps.{i}.", archive))
             for i, node in enumerate(nodes)]
    claimed = tuple(f"steps.{i}." for i in range(len(nodes))) + ("model.",)
    stray = sorted(k for k in archive.specs if not k.startswith(claimed))
    if stray:
        raise _Invalid(f"{where}: the file holds arrays outside the pipeline's steps: {stray}")
    if not isinstance(config.get("model"), dict) or \
            config["model"].get("class") not in MODEL_CLASSES:
        raise _Invalid(f"{where}: the pipeline's final step must be one of "
                       f"{', '.join(MODEL_CLASSES)}")
    return Pipeline([*steps, (final, _load_model(config["model"], "model.", archive, backend))])


def _transformer(node: dict[str, Any], prefix: str, archive: _Archive) -> Any:
    """One scaler: built by its constructor from the file's parameters, its arrays checked
    against a reference fitted on zeros of ``n_features_in_`` columns, then set."""
    where, name = archive.where, node["name"]
    cls = _TRANSFORMER_NAMES.get(node.get("class"))
    params, fitted = node.get("config"), node.get("fitted")
    n = fitted.get("n_features_in_") if isinstance(fitted, dict) else None
    if cls is None or not isinstance(params, dict) or type(n) is not int \
            or not 0 < n <= _MAX_FEATURES:
        raise _Invalid(f"{where}: pipeline step {name!r}: class={node.get('class')!r} must be "
                       f"one of {', '.join(_TRANSFORMER_NAMES)}, with a config and "
                       f"n_features_in_ in [1, {_MAX_FEATURES}]")
    arrays = {k[len(prefix):]: v for k, v in archive.specs.items() if k.startswith(prefix)}
    dtype = next(iter(arrays.values())).dtype if arrays else np.float64
    try:
        step = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        reference = clone(step).fit(np.zeros((2, n), dtype=dtype))
    except (TypeError, ValueError) as err:
        raise _Invalid(f"{where}: pipeline step {name!r}: invalid {cls.__name__} parameters "
                       f"({err})") from None
    attrs = TRANSFORMERS[cls]
    _check_arrays({a: getattr(reference, a) for a in attrs if getattr(reference, a) is not None},
                  arrays, prefix, f"pipeline step {name!r} ({cls.__name__})", where)
    values = {**{a: None for a in attrs}, **{k: archive.read(prefix + k) for k in arrays}}
    def listing(value: Any, kinds: tuple[type, ...]) -> bool:
        return isinstance(value, list) and len(value) == n and all(
            type(v) in kinds for v in value)

    checks = {"n_features_in_": lambda v: True, "feature_names_in_": lambda v: listing(v, (str,)),
              "n_samples_seen_": lambda v: type(v) in (int, float) or listing(v, (int,))}
    for key, value in fitted.items():
        if key not in checks or not checks[key](value):
            raise _Invalid(f"{where}: pipeline step {name!r}: fitted {key}={value!r} is not "
                           f"a fitted value of {cls.__name__} with {n} features")
        values[key] = np.asarray(value, dtype=object if key == "feature_names_in_" else None) \
            if isinstance(value, list) else value
    for key, value in values.items():
        setattr(step, key, value)
    return step
