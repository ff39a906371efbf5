"""Divergence: a NaN/inf loss (or weights) stops training with a warning (or DivergenceError)
naming the epoch and the fixes, and the model keeps its last finite (or best) weights."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pytest
from _gradcheck import one_thread  # noqa: F401 - autouse fixture: one BLAS/torch thread

import xpnet
from xpnet.backend import get_backend

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered",
                                        "ignore:invalid value encountered")

RNG = np.random.default_rng(1)
X = RNG.normal(size=(40, 3))
Y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
HINT = r"diverged at epoch {}.*Lower the learning rate.*scale the inputs"
SEED_CLASSES = [xpnet.SingleLayer, xpnet.DualLayer, xpnet.RandomInitNetwork,
                xpnet.MinibatchNetwork]
to_numpy = get_backend("numpy").to_numpy


def _blowup(cls):
    """``cls`` whose learning rate becomes infinite after ``after`` gradient steps: the
    weights become inf/NaN at a known epoch, on every backend and dtype."""

    class Blowup(cls):
        after = 10**9

        def training(self, x, y, m):
            self.steps = getattr(self, "steps", 0) + 1
            if self.steps > self.after:
                self.lr = math.inf
            return super().training(x, y, m)

    Blowup.__name__ = cls.__name__
    return Blowup


def _make(cls, backend_name, **kw):
    if issubclass(cls, xpnet.MinibatchNetwork):
        kw.setdefault("batch_size", 40)  # one step per epoch: `after` counts epochs
    return cls(backend=backend_name, random_state=0, **kw)


def _weights(model) -> dict[str, np.ndarray]:
    return {k: to_numpy(v) for k, v in model.get_params_arrays().items()}


@pytest.mark.parametrize("cls", SEED_CLASSES, ids=lambda c: c.__name__)
def test_seed_model_warns_and_keeps_finite_weights(cls, backend_name):
    model = _make(cls, backend_name, learning_rate=1e30)
    with pytest.warns(RuntimeWarning, match=HINT.format(r"\d+")) as record:
        model.fit(X * 1e18, Y, epochs=8)
    assert "learning_rate=1e+30" in str(record[-1].message)
    assert all(np.isfinite(w).all() for w in _weights(model).values())
    assert all(math.isfinite(v) for v in model.losses)
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()


@pytest.mark.parametrize("cls", SEED_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_seed_model_restores_last_checked_epoch(cls, dtype, backend_name):
    """Checked every epoch: the weights and losses are exactly those of a clean run that
    stopped before the blow-up."""
    after = 6
    model = _make(_blowup(cls), backend_name, dtype=dtype)
    model.after, model.divergence_check_every = after, 1
    with pytest.warns(RuntimeWarning, match=HINT.format(after + 1)) as record:
        model.fit(X, Y, x_val=X, y_val=Y, epochs=30) if cls is not xpnet.MinibatchNetwork \
            else model.fit(X, Y, 30, X, Y)
    msg = str(record[-1].message)
    assert f"keeps the weights after epoch {after} " in msg
    kept = after
    clean = _make(cls, backend_name, dtype=dtype)
    clean.fit(X, Y, x_val=X, y_val=Y, epochs=kept) if cls is not xpnet.MinibatchNetwork \
        else clean.fit(X, Y, kept, X, Y)
    assert len(model.losses) == len(model.val_losses) == kept
    np.testing.assert_allclose(model.losses, clean.losses, rtol=1e-6)
    for key, value in _weights(clean).items():
        np.testing.assert_array_equal(_weights(model)[key], value, err_msg=key)


@pytest.mark.parametrize("cls", [xpnet.DualLayer, xpnet.MinibatchNetwork],
                         ids=lambda c: c.__name__)
def test_seed_model_default_check_interval(cls):
    """With checks every 100 epochs, a blow-up in epoch 131 goes back to epoch 100 (the
    first NaN loss is epoch 132's: 131's was computed before its step)."""
    model = _make(_blowup(cls), "numpy")
    model.after = 130
    with pytest.warns(RuntimeWarning, match=r"diverged at epoch 132.*after epoch 100.*Lower"):
        model.fit(X, Y, epochs=250)
    assert len(model.losses) == 100
    clean = _make(cls, "numpy").fit(X, Y, epochs=100)
    for key, value in _weights(clean).items():
        np.testing.assert_array_equal(_weights(model)[key], value, err_msg=key)
    early = _make(_blowup(cls), "numpy")
    early.after = 3
    with pytest.warns(RuntimeWarning, match=r"keeps its initial weights"):
        early.fit(X, Y, epochs=250)
    assert early.losses == []
    assert np.isfinite(early.predict_proba(X)).all()


@pytest.mark.parametrize("cls", SEED_CLASSES, ids=lambda c: c.__name__)
def test_seed_model_raise(cls, backend_name):
    model = _make(cls, backend_name, learning_rate=1e30, on_divergence="raise")
    with pytest.raises(xpnet.DivergenceError, match=HINT.format(r"\d+")):
        model.fit(X * 1e18, Y, epochs=8)
    assert all(np.isfinite(w).all() for w in _weights(model).values())


def test_seed_model_losses_accumulate_across_fits():
    """The seeds append to ``losses`` on every fit; a divergence truncates only its own
    epochs."""
    model = _make(_blowup(xpnet.DualLayer), "numpy")
    model.fit(X, Y, epochs=5)
    model.steps, model.after, model.divergence_check_every = 0, 3, 1
    with pytest.warns(RuntimeWarning, match=HINT.format(4)):
        model.fit(X, Y, epochs=10)
    assert len(model.losses) == 5 + 3


def test_seed_model_healthy_fit_does_not_warn(backend_name):
    model = _make(xpnet.MinibatchNetwork, backend_name, batch_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, Y, epochs=130)
    assert len(model.losses) == 130 and model.losses[-1] < model.losses[0]


# --------------------------------------------------------------------------- Trainer
def _blowup_schedule(at: int):
    """A learning-rate schedule that explodes from epoch ``at`` (0-based) on."""
    return lambda lr0, epoch, epochs: lr0 if epoch < at else 1e300


def _trainer(backend_name, epochs=12, at=5, **kw):
    net = xpnet.MultiLayerNetExtend(3, [6], 2, use_batchnorm=kw.pop("bn", False),
                                    backend=backend_name, random_state=0)
    kw.setdefault("optimizer_param", {"lr": 0.1})
    trainer = xpnet.Trainer(net, X, Y, X, Y, epochs=epochs, mini_batch_size=40,
                            shuffle=False, verbose=False, lr_schedule=_blowup_schedule(at),
                            **kw)
    return net, trainer


@pytest.mark.parametrize("bn", [False, True], ids=["plain", "batchnorm"])
def test_trainer_keeps_last_finite_weights(bn, backend_name):
    net, trainer = _trainer(backend_name, bn=bn)
    with pytest.warns(RuntimeWarning, match=HINT.format(6)):
        history = trainer.train()
    assert history.diverged
    assert len(trainer.train_loss_list) == 5 and trainer.current_epoch == 6
    clean_net, clean = _trainer(backend_name, epochs=5, bn=bn)
    clean.train()
    np.testing.assert_array_equal(to_numpy(net.flat), to_numpy(clean_net.flat))
    for a, b in zip(net.batchnorm_layers(), clean_net.batchnorm_layers(), strict=True):
        np.testing.assert_array_equal(to_numpy(a.running_var), to_numpy(b.running_var))
    assert np.isfinite(net.predict(X)).all()
    assert trainer.optimizer.lr == 0.1  # the schedule's lr is undone


def test_trainer_raise(backend_name):
    net, trainer = _trainer(backend_name, on_divergence="raise")
    with pytest.raises(xpnet.DivergenceError, match=HINT.format(6)):
        trainer.train()
    assert np.isfinite(to_numpy(net.flat)).all()


def test_trainer_with_early_stopping_keeps_best(backend_name):
    net, trainer = _trainer(backend_name, at=4, patience=3, monitor="val_loss")
    with pytest.warns(RuntimeWarning, match=HINT.format(5)):
        history = trainer.train()
    best = history.best_epoch
    assert best is not None and best <= 4
    clean_net, clean = _trainer(backend_name, epochs=best)
    clean.train()
    np.testing.assert_array_equal(to_numpy(net.flat), to_numpy(clean_net.flat))


def test_trainer_huge_inputs(backend_name):
    """Divergence from the data itself (no schedule): huge inputs and a large step."""
    net = xpnet.MultiLayerNetExtend(3, [6], 2, backend=backend_name, random_state=0)
    trainer = xpnet.Trainer(net, X * 1e15, Y, epochs=20, mini_batch_size=8, verbose=False,
                            optimizer="sgd", optimizer_param={"lr": 1e20})
    with pytest.warns(RuntimeWarning, match=r"diverged at epoch \d+.*\(lr=1e\+20\) or scale"):
        trainer.train()
    assert np.isfinite(to_numpy(net.flat)).all()


# --------------------------------------------------------------------------- estimators
@pytest.mark.skipif(importlib.util.find_spec("xpnet.estimators") is None,
                    reason="xpnet/estimators.py does not exist yet")
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_estimator_divergence_warns_and_stays_finite(name, backend_name):
    from xpnet import estimators  # noqa: PLC0415

    est = getattr(estimators, name)(hidden_layer_sizes=(6,), solver="sgd",
                                    learning_rate_init=1e20, max_iter=20, batch_size=8,
                                    backend=backend_name, random_state=0)
    y = Y if name == "MLPClassifier" else X[:, 0] * 1e15
    with pytest.warns(RuntimeWarning, match=HINT.format(r"\d+")):
        est.fit(X * 1e15, y)
    assert est.history_.diverged
    assert all(np.isfinite(c).all() for c in est.coefs_)
    assert all(math.isfinite(v) for v in est.loss_curve_)
    pred = np.asarray(est.predict(X))
    assert pred.shape[0] == len(X)
