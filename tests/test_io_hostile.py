"""Model files against hostile input (memory bombs, damaged zip headers, deep or huge JSON,
non-finite weights), file modes and stale temporaries, the shuffle generator's state, and
Pipelines of scalers saved without pickle."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import struct
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CPU_AVAILABLE
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

import xpnet
from xpnet.backend import get_backend

X, Y = load_breast_cancer(return_X_y=True)
MiB = 2**20


def _clf(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return xpnet.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0,
                                   **kw).fit(X[:200], Y[:200])


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _config(members: dict[str, bytes]) -> dict:
    raw = members["__config__.npy"]
    return json.loads(raw[raw.index(b"\n") + 1:])  # after the .npy header


def _npy_header(shape, dtype="<f4") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _write(path: Path, members: dict[str, bytes], config: dict | None = None, bomb=None,
           deep: int = 0):
    """A zip of ``members`` (``config`` replacing the config entry, its value "DEEP" nested
    ``deep`` lists deep); ``bomb=(name, header, n_zero_bytes)`` streams a deflated member of
    zeros without holding it in memory."""
    if config is not None:
        blob = json.dumps(config).replace('"DEEP"', "[" * deep + "]" * deep).encode()
        members = {**members, "__config__.npy": _npy_header((len(blob),), "|u1") + blob}
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if bomb is not None:
            name, header, n = bomb
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                f.write(header)
                chunk = bytes(MiB)
                for _ in range(n // MiB):
                    f.write(chunk)


def _fails_small(path: Path, match: str, **kw) -> None:
    """load raises ValueError naming the file, allocating under 32 MiB on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            xpnet.load(path, **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value) and match in str(info.value), str(info.value)
    assert peak < 32 * MiB, peak


# ---------------------------------------------------------------------- memory bombs
@pytest.fixture
def net_file(tmp_path):
    net = xpnet.MultiLayerNet(30, [6], 2, random_state=0)
    return xpnet.save(net, tmp_path / "net.npz")


def test_array_header_claiming_a_terabyte_is_refused_unread(net_file, tmp_path):
    members = _members(net_file)
    members["params.W1.npy"] = _npy_header((10**6, 10**6)) + bytes(64)
    config = _config(members)
    path = tmp_path / "bomb.npz"
    _write(path, members, config)  # the listing still says (30, 6)
    _fails_small(path, "shape [1000000, 1000000]")
    config["arrays"]["params.W1"]["shape"] = [10**6, 10**6]  # the listing agrees
    _write(path, members, config)
    _fails_small(path, "more than a")
    config["config"].update(input_size=10**6, hidden_size_list=[10**6])  # and the architecture
    _write(path, members, config)
    _fails_small(path, "more than a")


@pytest.mark.parametrize("architecture", [
    {"hidden_size_list": [20000, 20000]},  # 400 million weights: 1.6 GB if drawn
    {"input_size": 300000},
])
def test_a_config_describing_a_huge_model_is_refused_before_drawing_it(net_file, tmp_path,
                                                                      architecture):
    """The listing is honest and small; only the config's architecture is huge: the model
    may not draw more initial values than the file lists, so nothing that large is made."""
    members = _members(net_file)
    config = _config(members)
    config["config"].update(architecture)
    path = tmp_path / "huge-config.npz"
    _write(path, members, config)
    _fails_small(path, "more than the")


def test_compressed_zeros_are_refused_before_inflating(net_file, tmp_path):
    members = _members(net_file)
    del members["params.W1.npy"]
    config = _config(members)
    n = 128 * MiB
    shape = [n // 4 // 4096, 4096]
    path = tmp_path / "zip-bomb.npz"
    _write(path, members, config, bomb=("params.W1.npy", _npy_header(shape), n))
    assert path.stat().st_size < 2 * MiB
    _fails_small(path, "shape")  # header disagrees with the listing
    config["arrays"]["params.W1"]["shape"] = shape
    config["config"].update(input_size=shape[0] * 4096 // 6 + 1)
    _write(path, members, config, bomb=("params.W1.npy", _npy_header(shape), n))
    _fails_small(path, "more than a")
    # a small header over a large member: the zip entry's size gives it away
    config = _config(members)
    _write(path, members, config, bomb=("params.W1.npy", _npy_header((30, 6)), 64 * MiB))
    _fails_small(path, "bytes, not what its .npy header declares")


def test_bit_flips_in_zip_headers_are_value_errors(tmp_path):
    path = xpnet.save(xpnet.SingleLayer(random_state=0).fit(X[:50], Y[:50], epochs=1),
                      tmp_path / "m.npz")
    data = path.read_bytes()
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x05\x06"))
    first_central = data.find(b"PK\x01\x02")
    positions = [*range(0, 64), *range(first_central, len(data))]
    for member in (b"PK\x03\x04",):
        at = data.find(member, 1)
        positions += range(at, at + 64)
    assert central > 0
    damaged = tmp_path / "damaged.npz"
    outcomes = set()
    for i in sorted(set(positions)):
        for bit in (0x01, 0x08, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= bit
            damaged.write_bytes(bytes(flipped))
            try:
                xpnet.load(damaged)
                outcomes.add("loaded")
            except ValueError as err:
                assert str(damaged) in str(err)
                outcomes.add("ValueError")
    assert "ValueError" in outcomes
    # the two named in the issue: an "encrypted" flag and an unknown compression method
    for offset, value in ((6, 0x01), (8, 99)):
        flipped = bytearray(data)
        for at in (0, first_central + 2):  # local header and central directory entry
            flipped[at + offset] = value
        damaged.write_bytes(bytes(flipped))
        with pytest.raises(ValueError, match=str(damaged)):
            xpnet.load(damaged)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda c: c["fitted"].update(deep="DEEP"), "nest"),
    (lambda c: c["fitted"]["classes_"].update(values=[0, 10**30]), "beyond int64"),
    (lambda c: c["fitted"].update(n_iter_=-(2**70)), "beyond int64"),
    (lambda c: c["network"].update(rng_state={"key": [0] * 3, "pos": 0}), "rng_state"),
    (lambda c: c["network"]["rng_state"].update(pos=10**6), "rng_state"),
])
def test_hostile_json_is_a_value_error(edit, match, tmp_path):
    path = xpnet.save(_clf(), tmp_path / "clf.npz")
    members = _members(path)
    config = _config(members)
    edit(config)
    for deep in (100_000, 100) if "DEEP" in json.dumps(config) else (0,):
        _write(path, members, config, deep=deep)
        with pytest.raises(ValueError) as info:
            xpnet.load(path)
        assert str(path) in str(info.value) and match in str(info.value), str(info.value)


# ---------------------------------------------------------------------- non-finite weights
def test_nonfinite_weights_refused_at_save_and_load(net_file, tmp_path):
    net = xpnet.load(net_file)
    net.params["W1"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"'params.W1'.*NaN or infinite"):
        xpnet.save(net, tmp_path / "nan.npz")
    assert not (tmp_path / "nan.npz").exists()
    members = _members(net_file)
    w1 = np.load(net_file)["params.W1"]
    w1[1, 2] = np.inf
    members["params.W1.npy"] = _npy_header(w1.shape) + w1.tobytes()
    path = tmp_path / "inf.npz"
    _write(path, members)
    with pytest.raises(ValueError, match="'params.W1' holds NaN or infinite.*allow_nonfinite"):
        xpnet.load(path)
    loaded = xpnet.load(path, allow_nonfinite=True)
    assert np.isinf(loaded.params["W1"][1, 2])


# ---------------------------------------------------------------------- files on disk
def test_saved_files_honour_the_umask_and_keep_an_existing_mode(tmp_path):
    net = xpnet.MultiLayerNet(3, [2], 2, random_state=0)
    old = os.umask(0o077)
    try:
        assert stat.S_IMODE(xpnet.save(net, tmp_path / "private.npz").stat().st_mode) == 0o600
        os.umask(0o022)
        assert stat.S_IMODE(xpnet.save(net, tmp_path / "shared.npz").stat().st_mode) == 0o644
        (tmp_path / "shared.npz").chmod(0o640)
        assert stat.S_IMODE(xpnet.save(net, tmp_path / "shared.npz").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_save_removes_what_killed_saves_left(tmp_path):
    stale = [tmp_path / ".model.npz.1a2b3c.tmp", tmp_path / ".model.npz.ffff.tmp"]
    live = tmp_path / ".model.npz.live.tmp"
    others = [tmp_path / ".other.npz.1a2b.tmp", tmp_path / "model.npz.tmp"]
    for p in [*stale, live, *others]:
        p.write_bytes(b"PK\x03\x04 half an archive")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # a save in progress in another process
        xpnet.save(xpnet.MultiLayerNet(3, [2], 2), tmp_path / "model.npz")
    assert not any(p.exists() for p in stale)
    assert live.exists() and all(p.exists() for p in others)


# ---------------------------------------------------------------------- the shuffle generator
def test_save_load_then_partial_fit_equals_continuing(tmp_path):
    clf = _clf(shuffle=True, batch_size=32)
    loaded = xpnet.load(xpnet.save(clf, tmp_path / "clf.npz"))
    for model in (clf, loaded):
        model.partial_fit(X[:200], Y[:200])
        model.partial_fit(X[:200], Y[:200])
    np.testing.assert_allclose(loaded.predict_proba(X[200:]), clf.predict_proba(X[200:]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(loaded.network_.backend.host_rng.get_state()[1],
                                  clf.network_.backend.host_rng.get_state()[1])
    # the networks' own training loop too: one more epoch of shuffled mini-batches
    net = xpnet.MultiLayerNet(30, [6], 2, random_state=3)
    xpnet.Trainer(net, X[:200], Y[:200], epochs=1, mini_batch_size=16, verbose=False).train()
    again = xpnet.load(xpnet.save(net, tmp_path / "net.npz"))
    for model in (net, again):
        xpnet.Trainer(model, X[:200], Y[:200], epochs=1, mini_batch_size=16,
                      verbose=False).train()
    np.testing.assert_allclose(again.flat, net.flat, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- pipelines
SCALERS = [StandardScaler(), MinMaxScaler(feature_range=(-1, 1)), MaxAbsScaler(),
           RobustScaler(quantile_range=(10.0, 90.0)), StandardScaler(with_mean=False)]


@pytest.mark.parametrize("scaler", SCALERS, ids=lambda s: type(s).__name__)
def test_pipeline_round_trip(scaler, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = Pipeline([("scale", scaler), ("clf", xpnet.MLPClassifier(
            hidden_layer_sizes=(6,), max_iter=3, random_state=0))]).fit(X[:200], Y[:200])
    path = xpnet.save(pipe, tmp_path / "pipe.npz")
    loaded = xpnet.load(path)
    assert isinstance(loaded, Pipeline) and [n for n, _ in loaded.steps] == ["scale", "clf"]
    assert loaded[0].get_params() == pipe[0].get_params()
    np.testing.assert_array_equal(loaded.predict(X[200:]), pipe.predict(X[200:]))
    np.testing.assert_array_equal(loaded.predict_proba(X[200:]), pipe.predict_proba(X[200:]))
    for target in CPU_AVAILABLE:
        moved = xpnet.load(path, backend=target)
        assert moved[-1].network_.backend.spec == get_backend(target).spec
        np.testing.assert_allclose(moved.predict_proba(X[200:]), pipe.predict_proba(X[200:]),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["MultiLayerNetExtend", "DualLayer", "MLPRegressor"])
def test_pipeline_of_any_model_kind(kind, tmp_path):
    x = StandardScaler().fit(X[:200])
    if kind == "MultiLayerNetExtend":
        model = xpnet.MultiLayerNetExtend(30, [5], 2, use_batchnorm=True, random_state=0)
    elif kind == "DualLayer":
        model = xpnet.DualLayer(units=4, random_state=0).fit(x.transform(X[:200]), Y[:200],
                                                             epochs=2)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = xpnet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=2).fit(
                x.transform(X[:200]), np.c_[Y[:200], 1.0 - Y[:200]])
    pipe = Pipeline([("scale", x), ("model", model)])
    loaded = xpnet.load(xpnet.save(pipe, tmp_path / "p.npz"))
    assert type(loaded[-1]) is type(model)
    got = loaded[-1].predict(loaded[:-1].transform(X[200:]))
    want = model.predict(x.transform(X[200:]))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_pipeline_keeps_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X[:200], columns=[f"f{i}" for i in range(30)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = xpnet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
        pipe = Pipeline([("s", StandardScaler()), ("m", MinMaxScaler()), ("clf", clf)])
        pipe.fit(frame, Y[:200])
    loaded = xpnet.load(xpnet.save(pipe, tmp_path / "p.npz"))
    assert list(loaded[0].feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(loaded.predict(frame), pipe.predict(frame))


def test_pipelines_xpnet_cannot_save(tmp_path):
    with pytest.raises(TypeError, match=r"step 'pca' \(PCA\).*StandardScaler"):
        xpnet.save(Pipeline([("pca", PCA(2).fit(X)), ("clf", _clf())]), tmp_path / "p.npz")
    with pytest.raises(TypeError, match="step 'lr'.*LogisticRegression"):
        xpnet.save(Pipeline([("s", StandardScaler().fit(X)), ("lr", LogisticRegression())]),
                   tmp_path / "p.npz")
    with pytest.raises(ValueError, match="step 's' is not fitted"):
        xpnet.save(Pipeline([("s", StandardScaler()), ("clf", _clf())]), tmp_path / "p.npz")
    assert not (tmp_path / "p.npz").exists()


def _edit_pipeline(path: Path, edit) -> None:
    members = _members(path)
    config = _config(members)
    edit(config, members)
    _write(path, members, config)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda c, m: c["steps"][0].update({"class": "FunctionTransformer"}), "must be one of"),
    (lambda c, m: c["steps"][0]["config"].update(evil=1), "invalid StandardScaler param"),
    (lambda c, m: c["steps"][0]["config"].update(with_mean="yes"), "with_mean"),
    (lambda c, m: c["steps"][0]["fitted"].update(n_features_in_=29), "needs shape (29,)"),
    (lambda c, m: c["steps"][0]["fitted"].update(n_features_in_=2**40), "n_features_in_"),
    (lambda c, m: c["steps"][0]["fitted"].update(evil_=1), "fitted evil_"),
    (lambda c, m: c["steps"][0]["config"].update(with_std=False), "unexpected: ['scale_', "),
    (lambda c, m: c.update(final="scale"), "distinct"),
    (lambda c, m: c["model"].update({"class": "Pipeline"}), "final step must be"),
    (lambda c, m: (c["arrays"].update({"x": {"shape": [1], "dtype": "float64"}}),
                   m.update({"x.npy": _npy_header((1,), "<f8") + bytes(8)})), "outside"),
])
def test_tampered_pipeline_file(edit, match, tmp_path):
    pipe = Pipeline([("scale", StandardScaler().fit(X[:200])), ("clf", _clf())])
    path = xpnet.save(pipe, tmp_path / "p.npz")
    _edit_pipeline(path, edit)
    with pytest.raises(ValueError) as info:
        xpnet.load(path)
    assert str(path) in str(info.value) and match in str(info.value), str(info.value)
