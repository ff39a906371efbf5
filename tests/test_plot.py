"""Tests for xpnet.plot: curve extraction and the PNG writers."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from xpnet import plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- history_of


def test_history_of_seed_model():
    model = SimpleNamespace(losses=[1.0, 0.5], val_losses=np.array([1.2, 0.7]), w=None)
    assert plot.history_of(model) == {"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}


def test_history_of_trainer():
    trainer = SimpleNamespace(
        train_loss_list=[2.0, 1.0, 0.5],
        train_acc_list=[0.5, 0.8],
        test_acc_list=[0.4, 0.7],
        val_loss_list=[],
    )
    h = plot.history_of(trainer)
    assert h == {"loss": [2.0, 1.0, 0.5], "train_acc": [0.5, 0.8], "test_acc": [0.4, 0.7]}
    assert all(isinstance(v, float) for v in h["loss"])


def test_history_of_sklearn_estimator():
    from sklearn.neural_network import MLPClassifier

    est = SimpleNamespace(loss_curve_=[0.9, 0.3], validation_scores_=[0.6, 0.9])
    assert plot.history_of(est) == {"loss": [0.9, 0.3], "val_score": [0.6, 0.9]}
    x = np.random.default_rng(0).normal(size=(60, 3))
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, early_stopping=True)
    with pytest.warns(Warning):  # ConvergenceWarning after 5 iterations
        clf.fit(x, (x[:, 0] > 0).astype(int))
    assert set(plot.history_of(clf)) == {"loss", "val_score"}


def test_history_of_dict_and_history_attribute():
    h = {"loss": (1, 2), "val_acc": np.array([0.5]), "empty": []}
    assert plot.history_of(h) == {"loss": [1.0, 2.0], "val_acc": [0.5]}
    keras_like = SimpleNamespace(history={"loss": [3.0]})
    assert plot.history_of(keras_like) == {"loss": [3.0]}


@pytest.mark.parametrize("bad", [SimpleNamespace(w=1), SimpleNamespace(losses=[]), {}, 3])
def test_history_of_nothing(bad):
    with pytest.raises(TypeError, match="model"):
        plot.history_of(bad)


# --------------------------------------------------------------------------- writers


def test_plot_history_two_panels(tmp_path):
    trainer = SimpleNamespace(
        train_loss_list=[2, 1, 0.5], train_acc_list=[0.5, 0.8], test_acc_list=[0.4, 0.7]
    )
    out = plot.plot_history(trainer, tmp_path / "a/b/history.png", title="t", logy=True)
    assert out == tmp_path / "a/b/history.png"
    assert_png(out)


def test_plot_history_single_panel_and_suffix(tmp_path):
    out = plot.plot_history({"loss": [1, 0.5], "val_loss": [1.1, 0.6]}, tmp_path / "h")
    assert out.suffix == ".png"
    assert_png(out)
    assert_png(plot.plot_history({"val_acc": [0.1, 0.9]}, str(tmp_path / "acc.png")))


def test_plot_curves(tmp_path):
    curves = {"SGD": [2.3, 1.5, 1.0], "Adam": np.array([2.3, 0.8, 0.3]), "AdaGrad": [2.3, 1.0]}
    out = plot.plot_curves(curves, tmp_path / "opt.png", title="optimizers", ylim=(0, 2.5))
    assert_png(out)
    with pytest.raises(ValueError):
        plot.plot_curves({}, tmp_path / "empty.png")


def test_plot_grid(tmp_path):
    panels = [
        (f"w={w:.3g}", {"BatchNorm": [0.1, 0.5, 0.9], "normal": [0.1, 0.2, 0.3]})
        for w in np.logspace(0, -4, 16)
    ]
    out = plot.plot_grid(panels, tmp_path / "bn.png", ylim=(0, 1), suptitle="BatchNorm")
    assert_png(out)
    assert_png(plot.plot_grid(panels[:3], tmp_path / "few.png", ncols=5))
    with pytest.raises(ValueError):
        plot.plot_grid([], tmp_path / "none.png")


def test_plot_bench(tmp_path):
    rows = [
        {"backend": "numpy", "device": "cpu", "seconds_per_epoch": 4.2},
        {"backend": "cupy", "device": "H100", "seconds_per_epoch": 0.3, "speedup": 14.0},
        {"backend": "torch", "seconds_per_epoch": 0.5, "speedup": None},
    ]
    assert_png(plot.plot_bench(rows, tmp_path / "bench.png", title="MNIST MLP"))
    with pytest.raises(ValueError, match=r"rows\[0\]"):
        plot.plot_bench([{"backend": "numpy"}], tmp_path / "bad.png")


def test_no_pyplot_state(tmp_path):
    plot.plot_curves({"a": [1, 2]}, tmp_path / "c.png")
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []
