"""xpnet.save / xpnet.load: portable .npz files, cross-backend, validated, written atomically."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import CPU_AVAILABLE as CPU_TARGETS
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import xpnet
import xpnet.io as xio
from xpnet.backend import get_backend

KINDS = ["SingleLayer", "DualLayer", "RandomInitNetwork", "MinibatchNetwork", "MultiLayerNet",
         "MultiLayerNetExtend", "Network", "SimpleConvNet", "MLPClassifier", "MLPRegressor"]
REPO = Path(__file__).resolve().parents[1]


def _host(x):
    return np.asarray(get_backend("numpy").to_numpy(x))


def _make(kind: str, backend: str, data):
    """A briefly trained model of ``kind`` on ``backend``."""
    x, y = data.x_train[:120], data.y_train[:120]
    common = dict(backend=backend, random_state=0)
    if kind == "SingleLayer":
        return xpnet.SingleLayer(l2=0.01, **common).fit(x, y, epochs=5)
    if kind == "DualLayer":
        return xpnet.DualLayer(units=4, l1=0.001, **common).fit(x, y, epochs=3)
    if kind == "RandomInitNetwork":
        return xpnet.RandomInitNetwork(units=4, **common).fit(x, y, data.x_val, data.y_val,
                                                                 epochs=3)
    if kind == "MinibatchNetwork":
        return xpnet.MinibatchNetwork(units=4, batch_size=32, **common).fit(x, y, epochs=2)
    if kind in ("MultiLayerNet", "MultiLayerNetExtend", "Network", "SimpleConvNet"):
        if kind == "MultiLayerNet":
            net = xpnet.MultiLayerNet(30, [6], 2, weight_decay_lambda=0.01, **common)
        elif kind == "SimpleConvNet":  # the 30 features as one 5 x 6 image
            net = xpnet.SimpleConvNet(input_dim=(1, 5, 6), conv_param={
                "filter_num": 2, "filter_size": 3, "pad": 1, "stride": 1}, hidden_size=4,
                output_size=2, **common)
        elif kind == "Network":
            net = xpnet.Network([("conv", {"filter_num": 2, "filter_size": 3, "pad": 1}),
                                 "batchnorm", "relu", ("pool", {"pool_h": 2}), "flatten",
                                 ("dense", {"units": 2})], input_shape=(1, 5, 6), **common)
        else:
            net = xpnet.MultiLayerNetExtend(30, [6, 5], 2, use_batchnorm=True, use_dropout=True,
                                            dropout_ratio=0.2, **common)
        xpnet.Trainer(net, x, y, epochs=2, mini_batch_size=32, verbose=False).train()
        return net
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "MLPClassifier":
            labels = np.array(["benign", "malignant"])[y]
            return xpnet.MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, **common).fit(
                x, labels)
        return xpnet.MLPRegressor(hidden_layer_sizes=(6,), max_iter=3, **common).fit(
            x, y.astype(np.float64) * 2.0 - 1.0)


def _outputs(model, x) -> list[np.ndarray]:
    """Every prediction a model offers, as NumPy arrays (labels first)."""
    if isinstance(model, xpnet.SingleLayer):
        return [_host(model.predict(x)), _host(model.predict_proba(x))]
    if isinstance(model, xpnet.MLPClassifier):
        return [model.predict(x), model.predict_proba(x)]
    if isinstance(model, xpnet.MLPRegressor):
        return [model.predict(x)]
    logits = _host(model.predict(x))
    return [np.argmax(logits, axis=1), logits]


def _same_predictions(loaded, original, x, exact: bool) -> None:
    for got, want in zip(_outputs(loaded, x), _outputs(original, x), strict=True):
        if exact or got.dtype.kind not in "f":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _backend_spec(model) -> str:
    net = model.network_ if isinstance(model, (xpnet.MLPClassifier, xpnet.MLPRegressor)) \
        else model
    return net.backend.spec


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_across_backends(kind, backend_name, cancer, tmp_path):
    model = _make(kind, backend_name, cancer)
    path = xpnet.save(model, tmp_path / "model.npz")
    assert path == tmp_path / "model.npz" and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp files left
    x = cancer.x_val
    same = xpnet.load(path)  # the saved backend
    assert type(same) is type(model)
    assert _backend_spec(same) == _backend_spec(model)
    _same_predictions(same, model, x, exact=True)
    for target in CPU_TARGETS:
        loaded = xpnet.load(path, backend=target)
        assert type(loaded) is type(model)
        assert _backend_spec(loaded) == get_backend(target).spec
        _same_predictions(loaded, model, x, exact=False)
    # and back: a model loaded elsewhere saves and reloads on the original backend
    moved = xpnet.load(path, backend="numpy")
    again = xpnet.load(xpnet.save(moved, tmp_path / "again.npz"), backend=backend_name)
    _same_predictions(again, model, x, exact=False)


def test_seed_model_state_survives(cancer, tmp_path):
    model = _make("RandomInitNetwork", "numpy", cancer)
    loaded = xpnet.load(xpnet.save(model, tmp_path / "m.npz"))
    assert loaded.losses == model.losses and len(loaded.losses) == 3
    assert loaded.val_losses == model.val_losses and len(loaded.val_losses) == 3
    assert (loaded.units, loaded.lr, loaded.l1, loaded.l2) == (4, model.lr, 0.0, 0.0)
    assert loaded.n_features_in_ == 30
    mb = xpnet.load(xpnet.save(_make("MinibatchNetwork", "numpy", cancer), tmp_path / "b.npz"))
    assert mb.batch_size == 32
    unfitted = xpnet.load(xpnet.save(xpnet.DualLayer(units=3), tmp_path / "u.npz"))
    assert unfitted.w1 is None and unfitted.units == 3


def test_batchnorm_running_stats_and_config_survive(cancer, tmp_path):
    net = _make("MultiLayerNetExtend", "numpy", cancer)
    loaded = xpnet.load(xpnet.save(net, tmp_path / "n.npz"))
    assert loaded.get_config() == net.get_config()
    for a, b in zip(loaded.batchnorm_layers(), net.batchnorm_layers(), strict=True):
        np.testing.assert_array_equal(a.running_mean, b.running_mean)
        np.testing.assert_array_equal(a.running_var, b.running_var)
        assert not np.all(b.running_var == 1.0)  # really trained statistics
    np.testing.assert_array_equal(loaded.flat, net.flat)


class SeedStyleDual(xpnet.DualLayer):
    """Seed 001's way of writing init_weights: NumPy float64 arrays, whatever the backend."""

    def init_weights(self, n_features):
        self.w1 = np.ones((n_features, self.units)) * 0.01
        self.b1 = np.zeros(self.units)
        self.w2 = np.ones((self.units, 1)) * 0.01
        self.b2 = np.zeros(1)


def test_seed_subclass_with_float64_numpy_weights(cancer, tmp_path):
    model = SeedStyleDual(units=3).fit(cancer.x_train, cancer.y_train, epochs=3)
    assert isinstance(model.w1, np.ndarray) and model.w1.dtype == np.float64
    path = xpnet.save(model, tmp_path / "seed.npz")
    with np.load(path, allow_pickle=False) as npz:
        config = json.loads(npz["__config__"].tobytes())
        assert npz["w1"].dtype == np.float32  # saved in the model's dtype
    assert config["class"] == "DualLayer"
    assert config["saved_class"].endswith("SeedStyleDual")
    loaded = xpnet.load(path)
    assert type(loaded) is xpnet.DualLayer and loaded.w1.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict(cancer.x_val), model.predict(cancer.x_val))
    np.testing.assert_allclose(loaded.predict_proba(cancer.x_val),
                               model.predict_proba(cancer.x_val), rtol=1e-5)


def test_estimator_state_survives_and_training_continues(cancer, tmp_path):
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, shuffle=False,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(cancer.x_train, np.array(["no", "yes"])[cancer.y_train])
    loaded = xpnet.load(xpnet.save(clf, tmp_path / "clf.npz"))
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    for key in ("n_features_in_", "n_outputs_", "loss_curve_", "best_loss_", "n_iter_", "t_",
                "validation_scores_", "best_validation_score_", "out_activation_"):
        assert getattr(loaded, key) == getattr(clf, key), key
    assert loaded.history_["loss"] == clf.history_["loss"]
    assert loaded._optimizer.t == clf._optimizer.t
    # the optimizer's moments were saved: one more epoch gives the same weights (to rounding:
    # reductions may round differently for differently aligned buffers), unlike a fresh Adam
    fresh = xpnet.load(tmp_path / "clf.npz")
    fresh._optimizer.reset()
    for model in (clf, loaded, fresh):
        model.partial_fit(cancer.x_train, np.array(["no", "yes"])[cancer.y_train])
    want = clf.predict_proba(cancer.x_val)
    np.testing.assert_allclose(loaded.predict_proba(cancer.x_val), want, rtol=1e-5, atol=1e-6)
    assert np.abs(fresh.predict_proba(cancer.x_val) - want).max() > 1e-4
    # an unfitted estimator keeps its parameters
    bare = xpnet.load(xpnet.save(xpnet.MLPRegressor(hidden_layer_sizes=(3, 2), alpha=0.5),
                                 tmp_path / "bare.npz"))
    assert bare.hidden_layer_sizes == (3, 2) and bare.alpha == 0.5
    with pytest.raises(NotFittedError):
        bare.predict(cancer.x_val)


def test_early_stopping_estimator_round_trip(cancer, tmp_path):
    reg = xpnet.MLPRegressor(hidden_layer_sizes=(4,), early_stopping=True, max_iter=5,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(cancer.x_train, cancer.y_train.astype(float))
    loaded = xpnet.load(xpnet.save(reg, tmp_path / "r.npz"))
    assert loaded.validation_scores_ == reg.validation_scores_
    assert loaded.best_loss_ is None
    assert loaded.best_validation_score_ == reg.best_validation_score_


def test_unavailable_saved_backend_falls_back_to_numpy(cancer, tmp_path):
    model = _make("MLPClassifier", "numpy", cancer)
    path = xpnet.save(model, tmp_path / "m.npz")
    _rewrite(path, edit=lambda c: c["network"].update(backend="cupy:cuda:99"))
    with pytest.warns(RuntimeWarning, match="not available here"):
        loaded = xpnet.load(path)
    assert loaded.network_.backend.name == "numpy" and loaded.backend == "numpy"
    _same_predictions(loaded, model, cancer.x_val, exact=True)
    with pytest.raises(ValueError, match="backend='nope'"):
        xpnet.load(path, backend="nope")


def test_save_rejects_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot be saved"):
        xpnet.save(object(), tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        xpnet.save(xpnet.MLPClassifier(), tmp_path / "missing" / "x.npz")
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        xpnet.save(xpnet.MLPClassifier(hidden_layer_sizes={"a": object()}), tmp_path / "x.npz")


# ---------------------------------------------------------------------- invalid files
def _entries(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _rewrite(path: Path, edit=None, drop=(), add=None, listed=True) -> None:
    """Rewrite a model file: edit its JSON config, drop or add arrays (listed or not)."""
    entries = _entries(path)
    config = json.loads(entries.pop("__config__").tobytes())
    if edit is not None:
        edit(config)
    for key in drop:
        entries.pop(key)
    for key, arr in (add or {}).items():
        entries[key] = arr
        if listed:
            config["arrays"][key] = {"shape": list(arr.shape), "dtype": arr.dtype.name}
    entries["__config__"] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **entries)


@pytest.fixture
def saved(cancer, tmp_path):
    """A saved MLPClassifier (with its optimizer state) and the model itself."""
    model = _make("MLPClassifier", "numpy", cancer)
    return xpnet.save(model, tmp_path / "model.npz"), model


def _load_fails(path: Path, match: str) -> None:
    with pytest.raises(ValueError) as info:
        xpnet.load(path)
    assert str(path) in str(info.value)
    assert re.search(match, str(info.value)), str(info.value)


def test_valid_file_loads_with_allow_pickle_false(saved, monkeypatch):
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    xpnet.load(saved[0])
    assert calls and all(kw.get("allow_pickle") is False for kw in calls)


def test_truncated_file(saved):
    path = saved[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _load_fails(path, "truncated")


def test_corrupted_bytes_inside_the_archive(saved):
    path = saved[0]
    data = bytearray(path.read_bytes())
    start = data.find(b"\x93NUMPY", 200)  # an array's payload, well inside the archive
    for i in range(start + 200, start + 260):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    _load_fails(path, "corrupt|CRC|truncated")


@pytest.mark.parametrize(("content", "match"), [
    (b"", "empty"),
    (b"hello, I am a text file\n", "text file"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", "single .npy"),
    (b"PK\x03\x04\x14\x00\x00\x00", "truncated or damaged zip"),
])
def test_files_that_are_not_archives(content, match, tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    _load_fails(path, match)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones((3, 3)), bias=np.zeros(3))
    _load_fails(path, "no '__config__' entry")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        xpnet.load(tmp_path / "nothing.npz")
    with pytest.raises(ValueError, match="not a file"):
        xpnet.load(tmp_path)


class _Evil:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_renamed_npz_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps({"w": _Evil(marker)}))
    _load_fails(path, "pickle")
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # control: the payload really runs code when unpickled
    assert marker.exists()


def test_pickled_object_array_inside_npz_is_never_unpickled(saved, tmp_path):
    path = saved[0]
    marker = tmp_path / "pwned"
    entries = _entries(path)
    config = json.loads(entries["__config__"].tobytes())
    evil = np.empty(1, dtype=object)
    evil[0] = _Evil(marker)
    entries["network.params.W1"] = evil
    config["arrays"]["network.params.W1"] = {"shape": [1], "dtype": "float32"}
    entries["__config__"] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    np.savez(path, allow_pickle=True, **entries)
    _load_fails(path, "pickled Python objects")
    assert not marker.exists()


def _set(path_keys, value):
    def edit(config):
        node = config
        for key in path_keys[:-1]:
            node = node[key]
        node[path_keys[-1]] = value
    return edit


@pytest.mark.parametrize(("edit", "match"), [
    (_set(["format_version"], 3), "newer than this xpnet reads"),
    (_set(["format_version"], 0), "format_version=0"),
    (_set(["format_version"], "1"), "format_version='1'"),
    (_set(["format"], "keras"), "format='keras'"),
    (_set(["class"], "os.system"), "class='os.system' is not a model class"),
    (_set(["class"], "MLPRegressor"), "loss"),
    (_set(["arrays", "network.params.W1", "shape"], [30, 7]), "has shape .* config says"),
    (_set(["arrays", "network.params.W1", "dtype"], "float64"), "dtype float32 but the config"),
    (_set(["arrays", "network.params.W1", "dtype"], "object"), "dtype in"),
    (_set(["network", "config", "hidden_size_list"], [7]), "needs|do not match"),
    (_set(["network", "config", "input_size"], 31), "needs|do not match"),
    (_set(["network", "config", "activation"], "evil"), "activation"),
    (_set(["network", "class"], "Evil"), "network class='Evil' is not a model class"),
    (_set(["network", "seed"], -1), "seed=-1"),
    (_set(["config", "evil"], 1), "unknown MLPClassifier parameters"),
    (_set(["config", "solver"], "lbfgs"), "solver='lbfgs'"),
    (_set(["fitted", "n_features_in_"], 3), "n_features_in_=3"),
    (_set(["fitted", "classes_", "values"], ["a", "b", "c"]), "classes_"),
    (_set(["fitted", "classes_", "dtype"], "|V8"), "labels must be"),
    (_set(["fitted", "evil_"], 1), "unknown fitted attribute"),
    (_set(["optimizer", "class"], "Evil"), "optimizer class='Evil'"),
    (_set(["optimizer", "fitted", "keys"], ["other"]), "optimizer state keys"),
    (lambda c: c.pop("arrays"), "no 'arrays' listing"),
])
def test_tampered_config(saved, edit, match):
    _rewrite(saved[0], edit=edit)
    _load_fails(saved[0], match)


def test_tampered_arrays(saved):
    path, _ = saved
    original = path.read_bytes()

    def fresh():
        path.write_bytes(original)

    # an array listed in the config but missing from the file
    _rewrite(path, drop=["network.params.b1"])
    _load_fails(path, r"missing from the file: \['network.params.b1'\]")
    # missing from both: the architecture notices
    fresh()
    _rewrite(path, drop=["network.params.b1"],
             edit=lambda c: c["arrays"].pop("network.params.b1"))
    _load_fails(path, r"missing: \['params.b1'\]")
    # an extra array the config does not list
    fresh()
    _rewrite(path, add={"network.params.W9": np.ones(3, np.float32)}, listed=False)
    _load_fails(path, "does not list")
    # an extra array, listed: not part of the architecture
    fresh()
    _rewrite(path, add={"network.params.W9": np.ones(3, np.float32)})
    _load_fails(path, r"unexpected: \['params.W9'\]")
    # a stray array outside the network and optimizer
    fresh()
    _rewrite(path, add={"payload": np.ones(3, np.float32)})
    _load_fails(path, r"unexpected: \['payload'\]")
    # shape and dtype changed consistently (listing and array): the architecture notices
    fresh()
    entries = _entries(path)
    w1 = entries["network.params.W1"]
    _rewrite(path, add={"network.params.W1": w1[:, :5]})
    _load_fails(path, "needs")
    fresh()
    _rewrite(path, add={"network.params.W1": w1.astype(np.float64)})
    _load_fails(path, "uses float32")
    # optimizer state of the wrong size
    fresh()
    _rewrite(path, add={"optimizer.flat.m": np.zeros(5, np.float32)})
    _load_fails(path, "optimizer Adam needs")
    # the config entry itself damaged
    fresh()
    entries = _entries(path)
    entries["__config__"] = np.frombuffer(b"{not json", dtype=np.uint8)
    np.savez(path, **entries)
    _load_fails(path, "not valid UTF-8 JSON")
    fresh()
    entries["__config__"] = np.arange(4, dtype=np.float32)
    np.savez(path, **entries)
    _load_fails(path, "uint8")


def test_tampered_seed_model_file(cancer, tmp_path):
    path = xpnet.save(_make("DualLayer", "numpy", cancer), tmp_path / "dual.npz")
    _rewrite(path, edit=_set(["config", "units"], 5))
    _load_fails(path, "needs")
    path = xpnet.save(_make("DualLayer", "numpy", cancer), tmp_path / "dual2.npz")
    _rewrite(path, edit=_set(["config", "evil"], 5))
    _load_fails(path, "unknown DualLayer parameters")


# ---------------------------------------------------------------------- atomic writes
def test_failed_save_keeps_the_previous_file(cancer, tmp_path, monkeypatch):
    first = _make("MultiLayerNet", "numpy", cancer)
    path = xpnet.save(first, tmp_path / "model.npz")
    before = path.read_bytes()
    second = xpnet.MultiLayerNet(30, [6], 2, random_state=1)

    def crashing_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half of an archive")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", crashing_savez)
    with pytest.raises(OSError, match="No space left"):
        xpnet.save(second, path)

    def interrupted_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        xpnet.save(second, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # temp files removed
    _same_predictions(xpnet.load(path), first, cancer.x_val, exact=True)


def test_killed_during_save_leaves_a_loadable_file(tmp_path):
    """SIGKILL a process that saves a large model over and over: the file always loads."""
    path = tmp_path / "big.npz"
    script = tmp_path / "saver.py"
    script.write_text(textwrap.dedent("""
        import sys
        import xpnet
        net = xpnet.MultiLayerNet(500, [2000], 10, random_state=0)  # ~1M parameters, 4 MB
        i = 0
        while True:
            net.flat[0] = float(i)
            xpnet.save(net, sys.argv[1])
            print(i, flush=True)
            i += 1
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        done, stamps = [], []
        for line in proc.stdout:
            done.append(int(line))
            stamps.append(time.monotonic())
            if len(done) == 4:
                break
        assert len(done) == 4, proc.stderr.read().decode()
        # kill a third of the way into the next save (the saves are back to back)
        time.sleep((stamps[-1] - stamps[0]) / 3 / 3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    loaded = xpnet.load(path)
    assert float(loaded.flat[0]) >= 3.0  # a complete save, the fourth or a later one
    assert loaded.flat.shape == (500 * 2000 + 2000 + 2000 * 10 + 10,)
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert all(p.name.startswith(".big.npz.") for p in leftovers)  # never the model file


def test_format_constants():
    assert xio.FORMAT == "xpnet" and xio.FORMAT_VERSION == 2
    assert set(xio.MODEL_CLASSES) == set(KINDS)
