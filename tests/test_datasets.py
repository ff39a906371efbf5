"""Tests for xpnet.datasets: IDX parsing, directory search, downloads and the splits."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from xpnet import datasets

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """Encode ``array`` as an IDX file (big-endian)."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array, dtype=dtype).tobytes()


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> Path:
    data = idx_bytes(array, code)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def fake_mnist(directory: Path, kind: str = "train", n: int = 5, gz: bool = False, seed: int = 0):
    """Write a tiny MNIST-like image/label pair; return the arrays written."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if kind == "train" else "t10k"
    ext = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real data directory is visible: HOME, XPNET_DATA and the system dir are in tmp."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XPNET_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_roundtrip(tmp_path, suffix):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = datasets.read_idx(write_idx(tmp_path / f"a-idx3-ubyte{suffix}", a))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)
    out[0, 0, 0] = 7  # writable copy


@pytest.mark.parametrize(
    "code, dtype",
    [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
def test_read_idx_other_types_native_endian(tmp_path, code, dtype):
    a = np.array([[-3, 1], [2, 100]], dtype=dtype)
    out = datasets.read_idx(write_idx(tmp_path / "x.idx", a, code))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_read_idx_bad_magic_names_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="bad.idx"):
        datasets.read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")  # unknown type
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(path)


@pytest.mark.parametrize("ndim", [0, 5])
def test_read_idx_bad_ndim(tmp_path, ndim):
    path = tmp_path / "nd.idx"
    path.write_bytes(bytes([0, 0, 8, ndim]) + b"\x00" * 32)
    with pytest.raises(ValueError, match="dimensions"):
        datasets.read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_truncated_and_trailing(tmp_path, suffix):
    good = idx_bytes(np.zeros((3, 4), dtype=np.uint8))
    for name, data, found in [("short", good[:-2], 10), ("long", good + b"\x00\x00\x00", 15)]:
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(gzip.compress(data) if suffix else data)
        with pytest.raises(
            ValueError, match=f"corrupt IDX file .*{name}.*expected 12 bytes of data, found {found}"
        ):
            datasets.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x02")
    with pytest.raises(ValueError, match="corrupt"):
        datasets.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8)))[:-6])
    with pytest.raises(ValueError, match="corrupt IDX file"):
        datasets.read_idx(path)


# --------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("loader", [datasets.load_mnist, datasets.load_fashion_mnist])
def test_load_from_path(isolated, loader, gz):
    images, labels = fake_mnist(isolated / "d", "test", n=4, gz=gz)
    x, y = loader(isolated / "d", "test")
    assert x.shape == (4, 784) and x.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_allclose(x, images.reshape(4, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_load_options(isolated):
    images, _ = fake_mnist(isolated / "d", "train", n=3)
    x, _ = datasets.load_mnist(isolated / "d", flatten=False, normalize=False, dtype=None)
    assert x.shape == (3, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, images)
    x, _ = datasets.load_mnist(isolated / "d", dtype="float64")
    assert x.dtype == np.float64 and x.max() <= 1.0


@pytest.mark.parametrize("flatten", [True, False])
def test_load_images_as_nchw(isolated, flatten):
    """images=True: (n, 1, 28, 28), the convolution layers' layout, whatever flatten says."""
    images, _ = fake_mnist(isolated / "d", "train", n=3)
    x, _ = datasets.load_fashion_mnist(isolated / "d", images=True, flatten=flatten)
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], images / 255.0, rtol=1e-6)
    x, _ = datasets.load_idx("mnist", isolated / "d", images=True, normalize=False, dtype=None)
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:, 0], images)

def test_load_bad_kind(isolated):
    with pytest.raises(ValueError, match="kind"):
        datasets.load_mnist(isolated, kind="validation")


def test_load_mismatched_counts(isolated):
    d = isolated / "d"
    write_idx(d / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="3 images .* 4 labels"):
        datasets.load_mnist(d)


def test_load_wrong_ndim(isolated):
    d = isolated / "d"
    write_idx(d / "train-images-idx3-ubyte", np.zeros((3, 784), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="shape"):
        datasets.load_mnist(d)


def test_data_dirs_order(isolated, monkeypatch):
    home, system = isolated / "home", isolated / "system"
    assert datasets.data_dirs("fashion-mnist") == [
        home / ".xpnet/datasets/fashion-mnist",
        system / "fashion-mnist",
    ]
    monkeypatch.setenv("XPNET_DATA", str(isolated / "xp"))
    assert datasets.data_dirs("mnist", path=isolated / "p") == [
        isolated / "p",
        isolated / "xp/mnist",
        home / ".xpnet/datasets/mnist",
        system / "mnist",
    ]
    assert datasets.data_dirs("fashion_mnist")[0] == isolated / "xp/fashion-mnist"
    with pytest.raises(ValueError, match="name"):
        datasets.data_dirs("cifar10")


def test_search_first_complete_dir_wins(isolated, monkeypatch):
    monkeypatch.setenv("XPNET_DATA", str(isolated / "xp"))
    _, sys_labels = fake_mnist(isolated / "system/fashion-mnist", "test", n=2, seed=1)
    _, y = datasets.load_fashion_mnist(kind="test")
    np.testing.assert_array_equal(y, sys_labels)
    _, home_labels = fake_mnist(isolated / "home/.xpnet/datasets/fashion-mnist", "test", 3, seed=2)
    np.testing.assert_array_equal(datasets.load_fashion_mnist(kind="test")[1], home_labels)
    # an incomplete directory (labels missing) is skipped
    write_idx(isolated / "xp/fashion-mnist/t10k-images-idx3-ubyte", np.zeros((1, 28, 28), "u1"))
    np.testing.assert_array_equal(datasets.load_fashion_mnist(kind="test")[1], home_labels)
    (isolated / "xp/fashion-mnist/t10k-images-idx3-ubyte").unlink()
    _, xp_labels = fake_mnist(isolated / "xp/fashion-mnist", "test", n=4, gz=True, seed=3)
    np.testing.assert_array_equal(datasets.load_fashion_mnist(kind="test")[1], xp_labels)
    _, path_labels = fake_mnist(isolated / "p", "test", n=5, seed=4)
    np.testing.assert_array_equal(
        datasets.load_fashion_mnist(isolated / "p", "test")[1], path_labels
    )


def test_not_found_message(isolated):
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist(kind="train")
    message = str(info.value)
    for needle in [
        str(isolated / "system/fashion-mnist"),
        ".xpnet",
        "path=",
        "XPNET_DATA",
        "dataset-fashion-mnist",
        "download=True",
    ]:
        assert needle in message


@pytest.fixture
def mirror(isolated, monkeypatch):
    """A local 'mirror' of gzipped MNIST files served by a monkeypatched ``_fetch``."""
    src = isolated / "mirror"
    arrays = {
        kind: fake_mnist(src, kind, n=6, gz=True, seed=i)
        for i, kind in enumerate(["train", "test"])
    }
    calls = []

    def fetch(url, dest):
        calls.append(url)
        shutil.copyfile(src / url.rsplit("/", 1)[1], dest)

    monkeypatch.setattr(datasets, "_fetch", fetch)
    monkeypatch.setitem(datasets.MIRRORS, "mnist", ["https://example.invalid/mnist/"])
    monkeypatch.setitem(datasets.MD5, "mnist", {})
    monkeypatch.setitem(
        datasets.SHA256,
        "mnist",
        {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in src.iterdir()},
    )
    return arrays, calls


def test_download_into_home(isolated, mirror):
    arrays, calls = mirror
    x, y = datasets.load_mnist(kind="test", download=True)
    target = isolated / "home/.xpnet/datasets/mnist"
    assert sorted(p.name for p in target.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    np.testing.assert_array_equal(y, arrays["test"][1])
    assert calls == [
        "https://example.invalid/mnist/t10k-images-idx3-ubyte.gz",
        "https://example.invalid/mnist/t10k-labels-idx1-ubyte.gz",
    ]
    datasets.load_mnist(kind="test", download=True)  # already there: no new fetch
    assert len(calls) == 2


def test_download_into_xpnet_data_and_path(isolated, mirror, monkeypatch):
    monkeypatch.setenv("XPNET_DATA", str(isolated / "xp"))
    datasets.load_mnist(download=True)
    assert (isolated / "xp/mnist/train-images-idx3-ubyte.gz").is_file()
    datasets.load_mnist(isolated / "p", kind="test", download=True)
    assert (isolated / "p/t10k-labels-idx1-ubyte.gz").is_file()


def test_download_digest_mismatch(isolated, mirror, monkeypatch):
    monkeypatch.setitem(datasets.SHA256["mnist"], "t10k-images-idx3-ubyte.gz", "0" * 64)
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz.*expected 0{64}, got"):
        datasets.load_mnist(kind="test", download=True)
    target = isolated / "home/.xpnet/datasets/mnist"
    assert list(target.iterdir()) == []  # the temporary file was removed


def test_download_md5_mismatch(isolated, mirror, monkeypatch):
    monkeypatch.setitem(datasets.MD5, "mnist", {"t10k-labels-idx1-ubyte.gz": "f" * 32})
    with pytest.raises(ValueError, match="md5 mismatch.*t10k-labels"):
        datasets.load_mnist(kind="test", download=True)
    names = [p.name for p in (isolated / "home/.xpnet/datasets/mnist").iterdir()]
    assert names == ["t10k-images-idx3-ubyte.gz"]  # verified file kept, bad one removed


def test_download_tries_next_mirror(isolated, mirror, monkeypatch):
    _, calls = mirror
    good = datasets._fetch

    def flaky(url, dest):
        if "down.invalid" in url:
            calls.append(url)
            raise OSError("connection refused")
        good(url, dest)

    monkeypatch.setattr(datasets, "_fetch", flaky)
    monkeypatch.setitem(
        datasets.MIRRORS, "mnist", ["https://down.invalid/", "https://example.invalid/mnist/"]
    )
    datasets.load_mnist(kind="test", download=True)
    assert len(calls) == 4
    monkeypatch.setitem(datasets.MIRRORS, "mnist", ["https://down.invalid/"])
    with pytest.raises(OSError, match="could not download"):
        datasets.load_mnist(kind="train", download=True)
    assert not list((isolated / "home/.xpnet/datasets/mnist").glob("*.part"))


def test_published_digests_are_well_formed():
    for table, length in [(datasets.MD5, 32), (datasets.SHA256, 64)]:
        assert set(table) == set(datasets.MIRRORS)
        for digests in table.values():
            assert all(len(d) == length and int(d, 16) >= 0 for d in digests.values())


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_test_split():
    x, y = datasets.load_fashion_mnist(REAL_FASHION, "test")
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


# --------------------------------------------------------------------------- splits


def test_breast_cancer_split():
    s = datasets.load_breast_cancer_split()
    assert (s.x_train.shape, s.x_val.shape, s.x_test.shape) == ((364, 30), (91, 30), (114, 30))
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64
    assert len(s.feature_names) == 30 and s.target_names == ("malignant", "benign")
    np.testing.assert_allclose(s.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(s.x_train.std(axis=0), 1.0, atol=1e-4)
    fractions = [np.mean(y) for y in (s.y_train, s.y_val, s.y_test)]
    assert max(fractions) - min(fractions) < 0.02  # stratified
    assert "x_train=(364, 30)" in repr(s)


def test_breast_cancer_matches_recipe():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_all, x_test, y_all, y_test = train_test_split(x, y, stratify=y, test_size=0.2, random_state=7)
    x_train, _, y_train, _ = train_test_split(
        x_all, y_all, stratify=y_all, test_size=0.2, random_state=7
    )
    scaler = StandardScaler().fit(x_train)
    s = datasets.load_breast_cancer_split(random_state=7, dtype="float64")
    np.testing.assert_array_equal(s.x_test, scaler.transform(x_test))
    np.testing.assert_array_equal(s.y_train, y_train)
    raw = datasets.load_breast_cancer_split(random_state=7, scale=False)
    np.testing.assert_allclose(raw.x_train, x_train.astype(np.float32))


def test_digits_split():
    s = datasets.load_digits_split()
    assert s.x_train.shape[1] == 64 and len(s.target_names) == 10
    assert len(s.x_train) + len(s.x_val) + len(s.x_test) == 1797
    assert s.x_train.dtype == np.float32 and 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
    assert set(np.unique(s.y_test)) == set(range(10))
    assert datasets.load_digits_split(scale=False).x_train.max() == 16.0


def test_load_dataset_dispatch():
    assert datasets.DATASETS == ("breast_cancer", "digits", "fashion_mnist", "mnist")
    for name in ("breast_cancer", "breast-cancer", "cancer", "Cancer"):
        assert datasets.load_dataset(name).x_train.shape == (364, 30)
    assert datasets.load_dataset("digits", dtype="float64").x_val.dtype == np.float64


def test_load_dataset_unknown_name():
    with pytest.raises(ValueError, match="name='cifar'") as info:
        datasets.load_dataset("cifar")
    for valid in datasets.DATASETS:
        assert valid in str(info.value)


def test_load_dataset_idx_split(isolated):
    d = isolated / "d"
    _, labels = fake_mnist(d, "train", n=20)
    fake_mnist(d, "test", n=7)
    s = datasets.load_dataset("fashion-mnist", path=d)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (18, 2, 7)
    np.testing.assert_array_equal(s.y_val, labels[18:])  # validation = end of the train file
    assert s.x_train.shape[1] == 784 and s.target_names[0] == "T-shirt/top"
    s = datasets.load_dataset("mnist", path=d, n_train=10, validation_fraction=0.2)
    assert (len(s.x_train), len(s.x_val)) == (8, 2)
    np.testing.assert_array_equal(s.y_val, labels[8:10])
    assert s.target_names == tuple("0123456789")
    with pytest.raises(ValueError, match="validation_fraction"):
        datasets.load_dataset("mnist", path=d, validation_fraction=1.0)


def test_load_dataset_images(isolated):
    d = isolated / "d"
    images, _ = fake_mnist(d, "train", n=20)
    fake_mnist(d, "test", n=7)
    s = datasets.load_dataset("fashion", path=d, images=True)
    assert (s.x_train.shape, s.x_val.shape, s.x_test.shape) == \
        ((18, 1, 28, 28), (2, 1, 28, 28), (7, 1, 28, 28))
    np.testing.assert_allclose(s.x_val[:, 0], images[18:] / 255.0, rtol=1e-6)
    flat = datasets.load_dataset("fashion", path=d)
    np.testing.assert_array_equal(s.x_train.reshape(18, -1), flat.x_train)
    assert s.feature_names == flat.feature_names and len(s.feature_names) == 784


def test_resolve_name_from_the_one_table():
    for name, canonical in [("cancer", "breast_cancer"), ("Breast-Cancer", "breast_cancer"),
                            ("fashion", "fashion_mnist"), ("fashion-mnist", "fashion_mnist"),
                            ("MNIST", "mnist"), ("digits", "digits")]:
        assert datasets.resolve_name(name) == canonical
    with pytest.raises(ValueError, match="name='cifar'") as info:
        datasets.resolve_name("cifar")
    for valid in datasets.DATASETS:
        assert valid in str(info.value)


def test_installed_finds_the_first_complete_directory(isolated, monkeypatch):
    assert datasets.installed("mnist") is None
    fake_mnist(isolated / "p", "train")
    assert datasets.installed("mnist", isolated / "p") is None  # the test files are missing
    fake_mnist(isolated / "p", "test", gz=True)
    assert datasets.installed("mnist", isolated / "p") == isolated / "p"
    fake_mnist(isolated / "system/fashion-mnist", "train")
    fake_mnist(isolated / "system/fashion-mnist", "test")
    assert datasets.installed("fashion") == isolated / "system/fashion-mnist"
    with pytest.raises(ValueError, match="name"):
        datasets.installed("digits")
