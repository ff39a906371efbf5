"""Datasets as NumPy arrays: scikit-learn toy sets and the (Fashion-)MNIST IDX files.

This is a host-side edge of the library, so it uses NumPy directly; move the arrays to a
device with the backend of your choice.

MNIST and Fashion-MNIST are looked for, in this order, in ``path``, ``$XPNET_DATA/<name>``,
``~/.xpnet/datasets/<name>`` and ``/usr/share/datasets/<name>`` (where Debian's
``dataset-fashion-mnist`` package installs Fashion-MNIST); see :func:`data_dirs`.
With ``download=True`` missing files are fetched from :data:`MIRRORS` and checked against
the published digests before they are kept.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DATASETS", "FASHION_CLASSES", "IDX_DATASETS", "MIRRORS", "MD5", "SHA256",
           "SYSTEM_DATA_DIR", "Split", "data_dirs", "installed", "load_breast_cancer_split",
           "load_dataset", "load_digits_split", "load_fashion_mnist", "load_mnist", "read_idx",
           "resolve_name"]

SYSTEM_DATA_DIR = Path("/usr/share/datasets")
"""System-wide data directory (Debian's ``dataset-fashion-mnist`` installs here)."""

MIRRORS: dict[str, list[str]] = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
    "fashion-mnist": [
        # The S3 *website* endpoint serves plain HTTP only; the digests below protect it.
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}
"""Base URLs to download from, tried in order, per data directory name."""

SHA256: dict[str, dict[str, str]] = {"mnist": {}, "fashion-mnist": {}}
"""SHA-256 digests of the downloaded files (directory name -> file name -> hex digest).

The upstream projects publish MD5 digests only (see :data:`MD5`); add SHA-256 digests here
and they are checked too. Every known digest is verified."""

MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
"""Published MD5 digests of the ``.gz`` files (as used by torchvision)."""

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: the IDX format's type codes (its third byte) -> the dtype of the data, big-endian
_IDX_TYPES = {code: np.dtype(kind) for code, kind in (
    (0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8"))}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class _Dataset:
    """One dataset: its other names, and either the scikit-learn loader and the scaling of
    its features, or the directory of its IDX files and its class names."""

    aliases: tuple[str, ...] = ()
    sklearn: str | None = None  # the sklearn.datasets function
    scale: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None  # (x, x_train) -> x
    directory: str | None = None  # IDX files: the directory name under the data dirs
    classes: tuple[str, ...] = ()


def _standardize(x: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(x_train).transform(x)


#: the datasets by canonical name: the one table of them (names, aliases, sources)
_TABLE: dict[str, _Dataset] = {
    "breast_cancer": _Dataset(("breast-cancer", "cancer"), "load_breast_cancer", _standardize),
    "digits": _Dataset((), "load_digits", lambda x, _: x / 16.0),
    "fashion_mnist": _Dataset(("fashion-mnist", "fashion"), directory="fashion-mnist",
                              classes=FASHION_CLASSES),
    "mnist": _Dataset(directory="mnist", classes=tuple(str(i) for i in range(10))),
}
DATASETS: tuple[str, ...] = tuple(_TABLE)
"""Names accepted by :func:`load_dataset` (aliases: ``breast-cancer``, ``cancer``,
``fashion-mnist``, ``fashion``)."""
IDX_DATASETS: tuple[str, ...] = tuple(name for name, d in _TABLE.items() if d.directory)
"""The datasets read from IDX files (the others ship with scikit-learn)."""


def resolve_name(name: str) -> str:
    """The canonical name of dataset ``name`` (any case, ``-`` or ``_``, or an alias).

    Example:
        >>> resolve_name("Fashion-MNIST"), resolve_name("cancer")
        ('fashion_mnist', 'breast_cancer')

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    key = name.strip().lower() if isinstance(name, str) else None
    for canonical, dataset in _TABLE.items():
        if key is not None and key.replace("-", "_") in (canonical, *dataset.aliases):
            return canonical
    aliases = ", ".join(a for d in _TABLE.values() for a in d.aliases)
    raise ValueError(f"unknown dataset name={name!r}; valid names are {', '.join(DATASETS)} "
                     f"(aliases: {aliases})")


@dataclass(frozen=True, eq=False)
class Split:
    """A train / validation / test split; features ``(n, d)`` (or images ``(n, 1, h, w)``),
    labels int64 ``(n,)``.

    Example:
        >>> import numpy as np
        >>> x, y = np.zeros((4, 2), dtype=np.float32), np.array([0, 1, 0, 1])
        >>> split = Split(x, y, x[:2], y[:2], x[:2], y[:2], ("a", "b"), ("no", "yes"))
        >>> split.x_train.shape, split.x_val.shape, split.target_names
        ((4, 2), (2, 2), ('no', 'yes'))
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={getattr(self, k).shape}"
                           for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"))
        return f"Split({shapes}, dtype={self.x_train.dtype}, classes={len(self.target_names)})"


# --------------------------------------------------------------------------- sklearn sets


def _sklearn_split(name: str, random_state: int = 42, dtype: Any = "float32",
                   scale: bool = True) -> Split:
    """A scikit-learn toy set split 64% / 16% / 20% (stratified with ``random_state``); with
    ``scale`` the table's scaling, fitted on the training rows, is applied to all three."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    dataset = _TABLE[name]
    bunch = getattr(sklearn.datasets, dataset.sklearn)()
    x_train_all, x_test, y_train_all, y_test = train_test_split(
        bunch.data, bunch.target, stratify=bunch.target, test_size=0.2, random_state=random_state)
    x_train, x_val, y_train, y_val = train_test_split(
        x_train_all, y_train_all, stratify=y_train_all, test_size=0.2, random_state=random_state)
    xs = (x_train, x_val, x_test)
    if scale:
        xs = tuple(dataset.scale(x, x_train) for x in xs)
    x_train, x_val, x_test = (np.asarray(x, dtype=np.dtype(dtype)) for x in xs)
    y_train, y_val, y_test = (np.asarray(y, dtype=np.int64) for y in (y_train, y_val, y_test))
    return Split(x_train, y_train, x_val, y_val, x_test, y_test,
                 tuple(str(f) for f in bunch.feature_names),
                 tuple(str(t) for t in bunch.target_names))


def load_breast_cancer_split(random_state: int = 42, dtype: Any = "float32",
                             scale: bool = True) -> Split:
    """Wisconsin breast cancer, split 364 / 91 / 114 (stratified, 30 features).

    The test set is 20% of the data, the validation set 20% of the rest, both stratified
    with ``random_state``. With ``scale`` a ``StandardScaler`` fitted on the training rows
    is applied to all three parts.

    Example:
        >>> load_breast_cancer_split().x_train.shape
        (364, 30)
    """
    return _sklearn_split("breast_cancer", random_state, dtype, scale)


def load_digits_split(random_state: int = 42, dtype: Any = "float32", scale: bool = True) -> Split:
    """Scikit-learn's 8x8 digits (64 features, 10 classes), split like the breast cancer set.

    With ``scale`` the pixels (0..16) are divided by 16 to lie in ``[0, 1]``.

    Example:
        >>> load_digits_split().x_test.shape
        (360, 64)
    """
    return _sklearn_split("digits", random_state, dtype, scale)


# --------------------------------------------------------------------------- IDX files


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a native-endian array.

    Raises ``ValueError`` for a bad magic number or when the data size does not match the
    dimensions in the header (a truncated or padded file).

    Example:
        >>> import struct, tempfile
        >>> from pathlib import Path
        >>> header = struct.pack(">4B2I", 0, 0, 0x08, 2, 2, 3)  # uint8 data, 2 dims: 2 x 3
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = Path(tmp.name) / "tiny-idx2-ubyte"
        >>> _ = path.write_bytes(header + bytes(range(6)))
        >>> read_idx(path)
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
        >>> _ = path.write_bytes(header + bytes(5))  # one byte short
        >>> read_idx(path)
        Traceback (most recent call last):
        ...
        ValueError: corrupt IDX file ...: expected 6 bytes of data, found 5
        >>> tmp.cleanup()
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError) as e:
        raise ValueError(f"corrupt IDX file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"not an IDX file {path}: bad magic number {data[:4].hex() or '-'}")
    ndim = data[3]
    if not 1 <= ndim <= 4:
        raise ValueError(f"not an IDX file {path}: {ndim} dimensions (expected 1 to 4)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"corrupt IDX file {path}: header truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[data[2]]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        raise ValueError(f"corrupt IDX file {path}: expected {expected} bytes of data, "
                         f"found {found}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def _directory(name: str) -> str:
    """The IDX directory name of dataset ``name`` (ValueError for the scikit-learn sets)."""
    try:
        directory = _TABLE[resolve_name(name)].directory
    except ValueError:
        directory = None
    if directory is None:
        raise ValueError(f"name must be 'mnist' or 'fashion-mnist', got {name!r}")
    return directory


def data_dirs(name: str, path: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for dataset ``name`` ("mnist" or "fashion-mnist"), in order.

    ``path`` (if given), ``$XPNET_DATA/<name>`` (if set), ``~/.xpnet/datasets/<name>`` and
    ``SYSTEM_DATA_DIR/<name>``.

    Example:
        >>> dirs = data_dirs("fashion-mnist", "/data/fm")
        >>> dirs[0].as_posix(), dirs[-1].as_posix()
        ('/data/fm', '/usr/share/datasets/fashion-mnist')
    """
    name = _directory(name)
    dirs = [Path(path).expanduser()] if path is not None else []
    if os.environ.get("XPNET_DATA"):
        dirs.append(Path(os.environ["XPNET_DATA"]).expanduser() / name)
    dirs.append(Path.home() / ".xpnet" / "datasets" / name)
    dirs.append(SYSTEM_DATA_DIR / name)
    return dirs


def _find(directory: Path, stem: str) -> Path | None:
    """The file ``stem`` in ``directory``, plain or gzipped, or None."""
    return next((p for p in (directory / stem, directory / f"{stem}.gz") if p.is_file()), None)


def _files(directory: Path, stems: tuple[str, ...]) -> list[Path] | None:
    """The files of all ``stems`` in ``directory``, or None when one is missing."""
    found = [_find(directory, stem) for stem in stems]
    return found if all(found) else None


def installed(name: str, path: str | os.PathLike | None = None) -> Path | None:
    """The first of :func:`data_dirs` that holds all four IDX files of ``name`` (mnist or
    fashion_mnist, or an alias), or None.

    Example:
        >>> installed("mnist", "/nonexistent")  # doctest: +SKIP
        PosixPath('/home/me/.xpnet/datasets/mnist')
    """
    return next((d for d in data_dirs(name, path) if _files(d, _FILES["train"] + _FILES["test"])),
                None)


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to the file ``dest`` (tests replace this function)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out)


def _download(name: str, filename: str, target: Path) -> Path:
    """Fetch ``filename`` from the first mirror that answers, verify it, move it into place."""
    target.mkdir(parents=True, exist_ok=True)
    dest = target / filename
    errors = []
    for base in MIRRORS[name]:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=target)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                _fetch(base + filename, tmp)
            except OSError as e:  # URLError is an OSError: try the next mirror
                errors.append(f"{base + filename}: {e}")
                continue
            for algorithm, table in (("sha256", SHA256), ("md5", MD5)):
                expected = table.get(name, {}).get(filename)
                actual = hashlib.new(algorithm, tmp.read_bytes()).hexdigest()  # files of < 30 MB
                if expected is not None and actual != expected.lower():
                    raise ValueError(f"{algorithm} mismatch for downloaded file {filename} from "
                                     f"{base}: expected {expected}, got {actual}")
            os.replace(tmp, dest)
            return dest
        finally:
            tmp.unlink(missing_ok=True)
    raise OSError(f"could not download {filename}: " + "; ".join(errors))


def load_idx(name: str, path: str | os.PathLike | None = None, kind: str = "train", *,
             download: bool = False, flatten: bool = True, normalize: bool = True,
             dtype: Any = "float32", images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load ``kind`` ("train" or "test") of the IDX dataset ``name`` as ``(images, labels)``.

    ``name`` is "mnist" or "fashion_mnist" (or an alias). Images are ``(n, 784)``
    (``(n, 28, 28)`` unless ``flatten``; ``(n, 1, 28, 28)``, the (N, C, H, W) layout of the
    convolution layers, with ``images=True``, whatever ``flatten`` says), scaled to ``[0, 1]``
    when ``normalize``, cast to ``dtype`` (``None`` keeps uint8 when not normalizing); labels
    are int64. See :func:`data_dirs` for where the files are looked for; ``download`` fetches
    missing ones.

    Example:
        >>> load_idx("mnist", kind="test")[0].shape  # doctest: +SKIP
        (10000, 784)
        >>> load_idx("fashion_mnist", kind="test", images=True)[0].shape  # doctest: +SKIP
        (10000, 1, 28, 28)
    """
    if kind not in _FILES:
        raise ValueError(f"kind must be 'train' or 'test', got {kind!r}")
    name = _directory(name)
    stems = _FILES[kind]
    dirs = data_dirs(name, path)
    files = next(filter(None, (_files(d, stems) for d in dirs)), None)
    if files is None and download:
        target = dirs[0]  # path, else $XPNET_DATA/<name>, else ~/.xpnet/datasets/<name>
        files = [_find(target, s) or _download(name, f"{s}.gz", target) for s in stems]
    if files is None:
        searched = "\n".join(f"  {d}" for d in dirs)
        raise FileNotFoundError(
            f"{name} {kind} files ({stems[0]}[.gz], {stems[1]}[.gz]) not found in:\n"
            f"{searched}\nPass path=<directory>, set XPNET_DATA=<dir> (files in <dir>/{name}), "
            f"install the Debian package dataset-fashion-mnist (Fashion-MNIST only), "
            f"or pass download=True."
        )
    pixels, labels = read_idx(files[0]), read_idx(files[1])
    if pixels.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"expected images of shape (n, rows, cols) and labels of shape (n,), "
                         f"got {pixels.shape} from {files[0]} and {labels.shape} from {files[1]}")
    if len(pixels) != len(labels):
        raise ValueError(f"{len(pixels)} images in {files[0]} but {len(labels)} labels in "
                         f"{files[1]}")
    if images:  # one channel
        x = pixels[:, None]
    else:
        x = pixels.reshape(len(pixels), -1) if flatten else pixels
    if dtype is not None or normalize:
        x = x.astype("float32" if dtype is None else dtype)
    if normalize:
        x /= 255
    return x, labels.astype(np.int64)


def load_mnist(path: str | os.PathLike | None = None, kind: str = "train", **options: Any
               ) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST ``kind`` ("train" 60000 or "test" 10000 rows) as ``(images, labels)``;
    ``options`` (``download``, ``flatten``, ``normalize``, ``dtype``, ``images``) as
    :func:`load_idx`.

    Example:
        >>> x, y = load_mnist(kind="test")  # doctest: +SKIP
    """
    return load_idx("mnist", path, kind, **options)


def load_fashion_mnist(path: str | os.PathLike | None = None, kind: str = "train",
                       **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST ``kind`` ("train" or "test"); same conventions as :func:`load_mnist`.

    Example:
        >>> x, y = load_fashion_mnist(kind="test")  # doctest: +SKIP
        >>> load_fashion_mnist(kind="test", images=True)[0].shape  # doctest: +SKIP
        (10000, 1, 28, 28)
    """
    return load_idx("fashion_mnist", path, kind, **options)


def load_dataset(name: str, **kw: Any) -> Split:
    """Load a dataset by name (see :data:`DATASETS` and :func:`resolve_name`) as a
    :class:`Split`.

    ``breast_cancer`` and ``digits`` take ``random_state``, ``dtype`` and ``scale``.
    ``mnist`` and ``fashion_mnist`` take ``path``, ``download``, ``dtype``, ``scale``
    (divide by 255), ``n_train`` (keep only the first ``n_train`` training rows, for quick
    runs), ``validation_fraction`` (default 0.1): the validation rows are the last ones
    of the (possibly shortened) training set, so the split is deterministic, and ``images``:
    every part as (n, 1, 28, 28) images instead of (n, 784) rows.

    Example:
        >>> load_dataset("cancer").x_val.shape
        (91, 30)
        >>> load_dataset("fashion_mnist", images=True).x_test.shape  # doctest: +SKIP
        (10000, 1, 28, 28)
    """
    try:
        key = resolve_name(name)
    except ValueError as err:
        raise ValueError(f"load_dataset: {err}") from None
    if _TABLE[key].sklearn is not None:
        return _sklearn_split(key, **kw)
    return _idx_split(key, **kw)


def _idx_split(name: str, *, path: str | os.PathLike | None = None, download: bool = False,
               validation_fraction: float = 0.1, n_train: int | None = None,
               dtype: Any = "float32", scale: bool = True, images: bool = False) -> Split:
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    kw = dict(path=path, download=download, normalize=scale, dtype=dtype, images=images)
    x, y = load_idx(name, kind="train", **kw)
    x_test, y_test = load_idx(name, kind="test", **kw)
    if n_train is not None:
        x, y = x[:n_train], y[:n_train]
    n_fit = len(x) - int(round(len(x) * validation_fraction))
    features = tuple(f"pixel_{i}" for i in range(x[0].size))
    return Split(x[:n_fit], y[:n_fit], x[n_fit:], y[n_fit:], x_test, y_test, features,
                 _TABLE[name].classes)
