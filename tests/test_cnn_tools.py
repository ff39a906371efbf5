"""Images through the tools: the estimators' ``layers=``/``input_shape=`` (fit on (N, C, H, W) or
flat rows, pickled, saved and loaded), ``xpnet train --model cnn`` saved, predicted and
exported, and what each refuses."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import xpnet
from xpnet.cli import main
from xpnet.nn.state import describe, rebuild

CONV = [("conv", {"filter_num": 4, "filter_size": 3, "pad": 1}), "batchnorm", "relu",
        ("pool", {"pool_h": 2}), "flatten"]
RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(120, 1, 8, 8)).astype(np.float32)
LABELS = (IMAGES[:, 0, :4].sum(axis=(1, 2)) > IMAGES[:, 0, 4:].sum(axis=(1, 2))).astype(int)


def _fit(model, x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


@pytest.fixture(scope="module")
def cnn():
    return _fit(xpnet.MLPClassifier(layers=CONV, max_iter=60, batch_size=20,
                                    learning_rate_init=0.01, random_state=0), IMAGES, LABELS)


def test_classifier_learns_images_and_takes_flat_rows(cnn):
    assert type(cnn.network_) is xpnet.Network
    assert cnn.input_shape_ == (1, 8, 8) and cnn.n_features_in_ == 64
    assert cnn.n_layers_ == 3  # scikit-learn's count: input, the conv, the output
    assert [w.shape for w in cnn.coefs_] == [(4, 1, 3, 3), (64, 2)]
    assert cnn.score(IMAGES, LABELS) > 0.9
    np.testing.assert_array_equal(cnn.predict_proba(IMAGES.reshape(120, -1)),
                                  cnn.predict_proba(IMAGES))


def test_pickle_and_model_file_keep_the_network(cnn, tmp_path):
    path = xpnet.save(cnn, tmp_path / "cnn.npz")
    for copy in (pickle.loads(pickle.dumps(cnn)), xpnet.load(path)):
        assert copy.input_shape_ == (1, 8, 8) and copy.get_params() == cnn.get_params() | {
            "layers": copy.layers}
        np.testing.assert_array_equal(copy.predict_proba(IMAGES), cnn.predict_proba(IMAGES))


def test_load_refuses_a_network_that_does_not_match(cnn):
    desc = describe(cnn, to_host=True)
    desc["config"]["layers"] = [["dense", {"units": 4}], ["relu", {}]]
    with pytest.raises(ValueError, match="do not match the network"):
        rebuild(desc)
    desc["config"]["layers"] = None  # an MLP estimator handed a conv Network
    with pytest.raises(ValueError, match="must be a MultiLayerNetExtend"):
        rebuild(desc)


def test_regressor_on_flat_rows_with_input_shape_and_device_arrays(backend_name):
    y = IMAGES[:, 0].mean(axis=(1, 2))
    reg = _fit(xpnet.MLPRegressor(layers=[*CONV, ("dense", {"units": 8}), "relu"],
                                  input_shape=(1, 8, 8), max_iter=3, random_state=0,
                                  backend=backend_name), IMAGES.reshape(120, -1), y)
    assert reg.input_shape_ == (1, 8, 8) and reg.predict(IMAGES).shape == (120,)
    backend = reg.network_.backend
    on_device = reg.predict(backend.asarray(IMAGES))  # images of the model's own library
    np.testing.assert_allclose(backend.to_numpy(on_device), reg.predict(IMAGES), atol=1e-5)


def test_mlp_flattens_images():
    mlp = _fit(xpnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
               IMAGES, LABELS)
    assert type(mlp.network_) is xpnet.MultiLayerNetExtend and mlp.input_shape_ == (1, 8, 8)
    assert mlp.predict(IMAGES.reshape(120, -1)).shape == (120,)


@pytest.mark.parametrize("params, x, match", [
    (dict(input_shape=(2, 8, 8)), IMAGES, r"images of shape \(1, 8, 8\).*input_shape=\(2, 8, 8\)"),
    (dict(input_shape=(1, 7, 7)), IMAGES.reshape(120, -1), "input_shape=.* holds 49 values"),
    (dict(layers=CONV, batchnorm=True), IMAGES, "with layers= put 'batchnorm'"),
    (dict(layers="conv"), IMAGES, "layers='conv' must be None"),
    (dict(input_shape=(0, 8)), IMAGES, "input_shape=.* tuple of integers >= 1"),
    (dict(layers=[("conv", {"filter_num": 2, "filter_size": 9})]), IMAGES, "does not fit"),
])
def test_mistakes_name_the_parameter(params, x, match):
    with pytest.raises(ValueError, match=match):
        xpnet.MLPClassifier(max_iter=1, **params).fit(x, LABELS)


def test_predict_refuses_other_images(cnn):
    with pytest.raises(ValueError, match=r"fitted on \(1, 8, 8\)"):
        cnn.predict(IMAGES[:, :, :4])


# ------------------------------------------------------------------------- command line
def test_cli_trains_saves_and_predicts_a_cnn(tmp_path, capsys, digits):
    model = tmp_path / "cnn.npz"
    assert main(["train", "--model", "cnn", "--filters", "4,8", "--hidden", "16", "--epochs",
                 "3", "--batch-size", "16", "--lr", "0.01", "--quiet", "--no-plot", "--save",
                 str(model)]) == 0
    out = capsys.readouterr().out
    assert "model=cnn dataset=digits" in out and float(out.split("test_acc=")[1][:6]) > 0.5
    pipe = xpnet.load(model)
    net = pipe.steps[-1][1]
    assert type(net) is xpnet.Network and net.input_shape == (1, 8, 8)
    assert [net.param_shapes[k] for k in ("W1", "W2", "W3", "W4")] == [
        (4, 1, 3, 3), (8, 4, 3, 3), (32, 16), (16, 10)]
    rows = digits.x_test[:5] * 16.0  # raw pixels: the saved Pipeline scales them
    csv = tmp_path / "rows.csv"
    np.savetxt(csv, rows, delimiter=",")
    assert main(["predict", "--model-file", str(model), "--input", str(csv)]) == 0
    labels = [int(v) for v in capsys.readouterr().out.split()]
    assert labels == list(net.predict(pipe[:-1].transform(rows)).argmax(axis=1))


def test_cli_exports_a_cnn(tmp_path):
    pytest.importorskip("ndonnx")
    ort = pytest.importorskip("onnxruntime")
    model, onnx = tmp_path / "cnn.npz", tmp_path / "cnn.onnx"
    assert main(["train", "--model", "cnn", "--filters", "4", "--hidden", "8", "--epochs", "1",
                 "--quiet", "--no-plot", "--save", str(model)]) == 0
    xpnet.export_onnx(xpnet.load(model), onnx)  # the TypeError itself, not exit status 2
    assert main(["export", str(model), str(onnx)]) == 0
    rows = np.random.default_rng(1).uniform(0, 16, size=(7, 64)).astype(np.float32)
    pipe = xpnet.load(model)
    label = ort.InferenceSession(str(onnx)).run(["label"], {"x": rows})[0]
    np.testing.assert_array_equal(label, pipe.steps[-1][1].predict(
        pipe[:-1].transform(rows)).argmax(axis=1))


@pytest.mark.parametrize("argv, needle", [
    (["--model", "cnn", "--dataset", "breast_cancer"], "needs a dataset of square images"),
    (["--model", "mlp", "--filters", "8"], "--filters applies to --model cnn only"),
    (["--model", "cnn", "--filters", "8,8,8,8"], "does not fit images"),
])
def test_cli_cnn_mistakes_are_one_line(argv, needle, capsys):
    assert main(["train", *argv, "--epochs", "1", "--quiet", "--no-plot"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xpnet: error: ") and needle in err and "\n" not in err
