"""xpnet.export_onnx: onnxruntime's outputs equal xpnet's predictions for every model kind, at
several batch sizes (the batch dimension is dynamic); unsupported objects raise clearly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import CPU_AVAILABLE
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

import xpnet

pytest.importorskip("ndonnx")
ort = pytest.importorskip("onnxruntime")

BATCHES = (1, 7, 64)
RNG = np.random.default_rng(0)
X = (RNG.normal(size=(64, 5)) * [1.0, 2.0, 0.5, 3.0, 1.0] + [0.0, 1.0, -2.0, 0.0, 5.0]
     ).astype(np.float32)
Y3 = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1.0)
Y2 = (X[:, 0] + X[:, 3] > 0).astype(np.int64)
YR = np.stack([X[:, 0] - 0.5 * X[:, 2], X[:, 1] * X[:, 3]], axis=1).astype(np.float32)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _net(cls, loss="softmax_cross_entropy", backend="numpy", dtype="float32", **kw):
    out = 3 if loss == "softmax_cross_entropy" else 2
    net = cls(5, [8, 6], out, loss=loss, backend=backend, dtype=dtype, random_state=0, **kw)
    t = Y3 if loss == "softmax_cross_entropy" else YR
    xpnet.Trainer(net, X, t, epochs=3, mini_batch_size=16, verbose=False).train()
    return net


def _fit(est, y, x=X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(x, y)


def _network_reference(net, x):
    z = net.backend.to_numpy(net.predict(x))
    if net.is_classifier:
        return {"probabilities": _softmax(z), "label": z.argmax(axis=1)}
    return {"predictions": z}


def _reference(model, x):
    """What xpnet (or the Pipeline) predicts, under the ONNX output names."""
    if isinstance(model, xpnet.Network):
        return _network_reference(model, x)
    if hasattr(model, "predict_proba"):
        return {"probabilities": model.predict_proba(x), "label": model.predict(x)}
    return {"predictions": model.predict(x)}


MLP = dict(hidden_layer_sizes=[8, 6], max_iter=5, random_state=0)
KINDS = {
    "MultiLayerNet": lambda: _net(xpnet.MultiLayerNet),
    "MultiLayerNetExtend-bn-dropout": lambda: _net(xpnet.MultiLayerNetExtend, use_batchnorm=True,
                                                   use_dropout=True, activation="tanh"),
    "MultiLayerNetExtend-mse-float64": lambda: _net(xpnet.MultiLayerNetExtend, loss="mse",
                                                    dtype="float64", use_batchnorm=True),
    "SingleLayer": lambda: xpnet.SingleLayer(l2=0.01, random_state=0).fit(X, Y2, epochs=5),
    "DualLayer": lambda: xpnet.DualLayer(units=4, random_state=0).fit(X, Y2, epochs=5),
    "RandomInitNetwork": lambda: xpnet.RandomInitNetwork(units=4, random_state=0).fit(
        X, Y2, epochs=5),
    "MinibatchNetwork": lambda: xpnet.MinibatchNetwork(units=4, batch_size=16,
                                                       random_state=0).fit(X, Y2, epochs=3),
    "MLPClassifier": lambda: _fit(xpnet.MLPClassifier(batchnorm=True, dropout=0.2, **MLP),
                                  Y3 * 10 - 5),
    "MLPClassifier-strings": lambda: _fit(xpnet.MLPClassifier(**MLP),
                                          np.array(["ant", "bee", "cat"])[Y3]),
    "MLPClassifier-bool": lambda: _fit(xpnet.MLPClassifier(**MLP), Y2.astype(bool)),
    "MLPRegressor": lambda: _fit(xpnet.MLPRegressor(**MLP), YR[:, 0]),
    "MLPRegressor-2-outputs": lambda: _fit(xpnet.MLPRegressor(**MLP), YR),
    "Pipeline-StandardScaler": lambda: _fit(
        make_pipeline(StandardScaler(), xpnet.MLPClassifier(**MLP)), Y3),
    "Pipeline-scalers": lambda: _fit(
        make_pipeline(RobustScaler(), MaxAbsScaler(), MinMaxScaler(clip=True), "passthrough",
                      xpnet.MLPRegressor(**MLP)), YR),
}


def _session(model, tmp_path, **kw):
    path = xpnet.export_onnx(model, tmp_path / "model.onnx", **kw)
    assert path.is_file()
    return ort.InferenceSession(str(path))


def _check(model, session, x=X):
    names = [o.name for o in session.get_outputs()]
    for n in BATCHES:
        got = dict(zip(names, session.run(None, {"x": x[:n]}), strict=True))
        want = _reference(model, x[:n])
        assert sorted(got) == sorted(want)
        for key, value in want.items():
            value = np.asarray(value)
            assert got[key].shape == value.shape, key
            if value.dtype.kind in "fc":
                np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-5, err_msg=key)
            else:
                np.testing.assert_array_equal(got[key], value, err_msg=key)


@pytest.mark.parametrize("kind", list(KINDS))
def test_onnxruntime_matches_predictions(kind, tmp_path):
    model = KINDS[kind]()
    _check(model, _session(model, tmp_path))


#: images (64, 1, 6, 6): the graph takes them as flat rows of 36 pixels, as predict does
IMAGES = RNG.normal(size=(64, 1, 6, 6)).astype(np.float32)
CONV = [("conv", {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 2}), "batchnorm",
        "relu", ("pool", {"pool_h": 2, "pad": 1}),
        ("pool", {"pool_h": 2, "stride": 1, "mode": "average"}), "flatten"]


def _trained(net):
    xpnet.Trainer(net, IMAGES, Y3, epochs=2, mini_batch_size=16, verbose=False).train()
    return net


CNN_KINDS = {
    "Network-conv-pad-stride-pools": lambda: _trained(xpnet.Network(
        [*CONV, ("dense", {"units": 3})], (1, 6, 6), random_state=0)),
    "SimpleConvNet": lambda: _trained(xpnet.SimpleConvNet(
        (1, 6, 6), {"filter_num": 2, "filter_size": 3}, hidden_size=5, output_size=3,
        random_state=0)),
    "MLPClassifier-layers": lambda: _fit(
        xpnet.MLPClassifier(layers=CONV, max_iter=5, random_state=0), Y3 * 10 - 5, x=IMAGES),
    "Pipeline-MLPRegressor-layers": lambda: _fit(make_pipeline(StandardScaler(), (
        xpnet.MLPRegressor(layers=CONV, input_shape=(1, 6, 6), max_iter=5, random_state=0))),
        YR, x=IMAGES.reshape(64, -1)),
}


@pytest.mark.parametrize("kind", list(CNN_KINDS))
def test_convolutional_networks_export(kind, tmp_path):
    """A network of images runs im2col's slices, stack and permute_dims on ndonnx's symbolic
    batch (padded convolutions and pools, strides, BatchNorm per channel)."""
    model = CNN_KINDS[kind]()
    _check(model, _session(model, tmp_path), IMAGES.reshape(64, -1))


@pytest.mark.parametrize("backend", [name for name in CPU_AVAILABLE if name != "numpy"])
def test_models_trained_on_any_backend_export(backend, tmp_path):
    """The export rebuilds from the model's host description, whatever it trained on (NumPy:
    every test above)."""
    net = _net(xpnet.MultiLayerNetExtend, backend=backend, use_batchnorm=True)
    _check(net, _session(net, tmp_path))


def test_opset_and_graph_input(tmp_path):
    onnx = pytest.importorskip("onnx")
    net = KINDS["MultiLayerNet"]()
    session = _session(net, tmp_path, opset=20)
    proto = onnx.load(tmp_path / "model.onnx")
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {20}
    (inp,) = session.get_inputs()
    assert inp.name == "x" and inp.type == "tensor(float)" and inp.shape[1] == 5
    assert not isinstance(inp.shape[0], int)  # the batch dimension is dynamic
    # folded: the weights are constants, not the rebuilt model's buffer and its updates
    assert not {"ScatterND", "Slice"} & {node.op_type for node in proto.graph.node}
    _check(net, session)
    with pytest.raises(ValueError, match=r"opset=17: onnx cannot convert.*opset=None"):
        xpnet.export_onnx(net, tmp_path / "old.onnx", opset=17)


def test_unsupported_objects_raise_clearly(tmp_path):
    with pytest.raises(TypeError, match=r"model=dict cannot be exported.*MLPClassifier"):
        xpnet.export_onnx({}, tmp_path / "m.onnx")
    pipe = _fit(make_pipeline(PCA(2), xpnet.MLPClassifier(**MLP)), Y2)
    with pytest.raises(TypeError, match=r"step 'pca' is a PCA.*StandardScaler"):
        xpnet.export_onnx(pipe, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match=r"model=PCA cannot be exported"):
        xpnet.export_onnx(make_pipeline(StandardScaler(), PCA(2)).fit(X), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"not fitted.*call fit"):
        xpnet.export_onnx(xpnet.DualLayer(), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_writes_a_model_onnxruntime_runs(tmp_path, capsys):
    """``xpnet export MODEL.npz MODEL.onnx``: the saved estimator's probabilities and labels."""
    from xpnet.tools.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = xpnet.MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
        clf.fit(X, np.array(["a", "b", "c"])[Y3])
    saved = xpnet.save(clf, tmp_path / "clf.npz")
    assert main(["export", str(saved), str(tmp_path / "clf.onnx")]) == 0
    assert "clf.onnx" in capsys.readouterr().out
    session = ort.InferenceSession(str(tmp_path / "clf.onnx"))
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: X}),
                       strict=True))
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(outputs["label"], clf.predict(X))
    assert main(["export", str(saved), str(tmp_path)]) == 2  # a directory: refused up front
