"""The redesign's promises: each fact has one home, and what the duplication broke stays fixed.

- a model describes itself, and io/pickle/deepcopy rebuild it from that description alone,
  with the optimizer bound to its backend again (the compiled Adam kernel included);
- one History per model, with the book's lists, the seeds' losses and scikit-learn's curves
  as views of it, and plots that read only it;
- one training loop: the seed models train through Trainer;
- Layer's interface is the base class's.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import xpnet
from xpnet.edges import plot
from xpnet.nn.layers import Layer
from xpnet.nn.state import Saveable


def _fit_clf(cancer, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return xpnet.MLPClassifier(hidden_layer_sizes=(300,), max_iter=2, random_state=0,
                                   **kw).fit(cancer.x_train, cancer.y_train)


# ---------------------------------------------------------------------- the Adam kernel
def test_adam_stays_bound_after_load_unpickle_and_warm_start(cancer, tmp_path):
    """The fused Adam comes from the backend when the optimizer is bound: after a load, an
    unpickle or a warm-start refit the optimizer is bound again, never left without it."""
    clf = _fit_clf(cancer, warm_start=True)
    assert clf._optimizer.backend is not None and clf._optimizer.fused_adam is not None
    loaded = xpnet.load(xpnet.save(clf, tmp_path / "m.npz"))
    unpickled = pickle.loads(pickle.dumps(clf))
    copied = copy.deepcopy(clf)
    for model in (loaded, unpickled, copied):
        opt = model._optimizer
        assert opt.backend is not None and opt.fused_adam is not None
        assert opt.backend.xp is model.network_.backend.xp or opt.backend.spec == "numpy"
        np.testing.assert_allclose(model.predict_proba(cancer.x_val),
                                   clf.predict_proba(cancer.x_val), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(cancer.x_train, cancer.y_train)  # warm start: the same optimizer, bound
    assert clf._optimizer.fused_adam is not None
    assert len(clf.loss_curve_) == 4


# ---------------------------------------------------------------------- self-description
@pytest.mark.parametrize("make", [
    lambda: xpnet.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, use_dropout=True,
                                      random_state=0),
    lambda: xpnet.MultiLayerNet(6, [5], 3, random_state=0),
    lambda: xpnet.DualLayer(units=3, random_state=0),
    lambda: xpnet.MinibatchNetwork(units=3, batch_size=8, random_state=0),
], ids=["extend", "multilayer", "dual", "minibatch"])
def test_models_copy_and_pickle_through_their_description(make, backend_name, rng):
    """copy.deepcopy and pickle work for every model on every backend (a Backend holds
    modules, which cannot be pickled: models go through their description instead)."""
    model = make()
    model = type(model)(**{**model.get_config(), "backend": backend_name, "random_state": 0})
    x = rng.normal(size=(24, 6))
    t = (x[:, 0] > 0).astype(np.int64)
    if isinstance(model, xpnet.SingleLayer):
        model.fit(x, t, epochs=3)
    else:
        t = np.arange(24) % 3
        xpnet.Trainer(model, x, t, epochs=2, mini_batch_size=8, verbose=False).train()
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert type(clone) is type(model) and isinstance(clone, Saveable)
        assert clone.get_config() == model.get_config()
        assert clone.backend.spec == model.backend.spec
        for key, value in model.state_arrays().items():
            np.testing.assert_array_equal(clone.backend.to_numpy(clone.state_arrays()[key]),
                                          model.backend.to_numpy(value), err_msg=key)
        np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_io_names_no_class_internals():
    """io asks models for their description; it never spells out a class's attributes."""
    import inspect

    from xpnet.edges import io

    source = inspect.getsource(io)
    for internal in ("_build_params", "param_shapes", "running_mean", "loss_curve_", "w1",
                     "hidden_size_list", '"m", "v"', "classes_"):
        assert internal not in source, internal


# ---------------------------------------------------------------------- one History
def test_the_curves_are_views_of_one_history(cancer, digits):
    clf = _fit_clf(cancer, early_stopping=True)
    assert clf.loss_curve_ is clf.history_["loss"]
    assert clf.validation_scores_ is clf.history_["val_acc"]
    assert "val_score" not in clf.history_  # stored once: accuracy for a classifier
    dual = xpnet.DualLayer(units=3).fit(cancer.x_train, cancer.y_train, cancer.x_val,
                                        cancer.y_val, epochs=4)
    assert dual.losses is dual.history["loss"] and dual.val_losses is dual.history["val_loss"]
    net = xpnet.MultiLayerNet(64, [16], 10, random_state=0)
    trainer = xpnet.Trainer(net, digits.x_train, digits.y_train, digits.x_test, digits.y_test,
                            epochs=2, verbose=False)
    trainer.train()
    assert trainer.train_loss_list is trainer.history.iter_loss  # per iteration, as the book
    assert trainer.test_acc_list is trainer.history["test_acc"]
    for model in (clf, dual, trainer):
        assert plot.history_of(model) is (getattr(model, "history_", None) or model.history)


def _panels(monkeypatch, model) -> dict[str, list[str]]:
    """The y-label and legend entries of each panel plot_history draws for ``model``."""
    figures = []
    monkeypatch.setattr(plot, "_save", lambda fig, path: figures.append(fig) or path)
    plot.plot_history(model, "unused.png")
    return {ax.get_ylabel(): [t.get_text() for t in ax.get_legend().get_texts()]
            for ax in figures[0].axes}


def test_plot_history_draws_each_curve_once_where_it_belongs(cancer, monkeypatch):
    """Before: lr sat on the accuracy panel, and val_score overlaid an identical val_acc."""
    clf = _fit_clf(cancer, early_stopping=True)
    assert _panels(monkeypatch, clf.history_) == {"loss": ["training loss", "validation loss"],
                                                 "accuracy": ["validation accuracy"]}
    reg = xpnet.MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, early_stopping=True,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(cancer.x_train, cancer.x_train[:, 0])
    assert _panels(monkeypatch, reg) == {"loss": ["training loss", "validation loss"],
                                         "R^2": ["validation R^2"]}
    scheduled = xpnet.History(loss=[1.0, 0.5], lr=[0.1, 0.05])
    assert _panels(monkeypatch, scheduled) == {"loss": ["training loss"],
                                               "learning rate": ["learning rate"]}


# ---------------------------------------------------------------------- one loop, one Layer
def test_seed_models_train_through_the_trainer(cancer, monkeypatch):
    calls = []
    original = xpnet.Trainer.train

    def spy(self):
        calls.append(type(self.network).__name__)
        return original(self)

    monkeypatch.setattr(xpnet.Trainer, "train", spy)
    xpnet.DualLayer(units=3).fit(cancer.x_train, cancer.y_train, epochs=2)
    xpnet.MinibatchNetwork(units=3).fit(cancer.x_train, cancer.y_train, epochs=2)
    assert calls == ["DualLayer", "MinibatchNetwork"]


def test_layer_interface_is_the_base_class():
    assert Layer.forward is not object.__dict__.get("forward")
    for method in ("forward", "backward"):
        assert method in vars(Layer)

    class Half(Layer):
        pass

    with pytest.raises(NotImplementedError, match="Half must define forward"):
        Half().forward(np.ones(2))

    class Scale(Layer):
        def forward(self, x, train=False):
            return 2.0 * x

        def backward(self, dout):
            return 2.0 * dout

    assert Scale().backward(np.ones(2)).tolist() == [2.0, 2.0]


def test_fit_records_validation_data_like_keras(cancer):
    """``fit(X, y, validation_data=(X_val, y_val))`` records the validation curves (the
    default ``xpnet train`` plot shows them beside the training loss)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = xpnet.MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, random_state=0).fit(
            cancer.x_train, cancer.y_train, validation_data=(cancer.x_val, cancer.y_val))
    history = clf.history_
    assert len(history["val_loss"]) == len(history["val_acc"]) == len(history["loss"]) == 4
    assert history["val_acc"][-1] == pytest.approx(clf.score(cancer.x_val, cancer.y_val))
    assert clf.validation_scores_ is history["val_acc"] and clf.n_iter_ == 4
    with pytest.raises(TypeError, match="validation_data"):
        clf.fit(cancer.x_train, cancer.y_train, validation_data=[cancer.x_val])
