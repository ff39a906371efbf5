"""The seeds' networks (SingleLayer, DualLayer, RandomInitNetwork, MinibatchNetwork) on every
backend with the seeds' breast-cancer split: the seeds' accuracies, their API and types, a
float64 gradient check of backprop + penalty, agreement across backends, and input errors.

Run time: DualLayer's 20000 ones-initialized epochs take ~5 s on NumPy but 30-150 s on
array_api_strict and torch (per-operation overhead on 364 x 30 arrays), so the 20000-epoch run
is NumPy's; every other backend is held to NumPy's float64 trajectory over 200 epochs, which
makes their 20000-epoch results NumPy's too.  MinibatchNetwork runs 500 epochs except on
array_api_strict (100 epochs, where both batch sizes already reach the seed's 0.978).
"""

from __future__ import annotations

import numpy as np
import pytest
from _gradcheck import (  # one_thread: an autouse fixture
    assert_grad_close,
    central_difference,
    one_thread,  # noqa: F401
)

import xpnet
from xpnet.backend import library_of
from xpnet.losses import binary_cross_entropy_from_logits


def _fit(model, c, epochs, with_val=True):
    """Call fit with the seeds' argument order for each class."""
    val = {"x_val": c.x_val, "y_val": c.y_val} if with_val else {}
    return model.fit(c.x_train, c.y_train, epochs=epochs, **val)


def _check_history(model, epochs, with_val=True):
    assert len(model.losses) == epochs
    assert all(type(v) is float for v in model.losses)
    assert all(np.isfinite(model.losses))
    if with_val:
        assert len(model.val_losses) == epochs
        assert all(type(v) is float for v in model.val_losses)
    else:
        assert model.val_losses == []


# ---------------------------------------------------------------------- the seeds' results
def test_dual_layer_reaches_the_seeds_accuracy_after_20000_epochs(cancer):
    """Seed 001: DualLayer(l2=0.01), ones-initialized, 20000 epochs -> 0.978 (NumPy)."""
    model = xpnet.DualLayer(l2=0.01)
    _fit(model, cancer, 20000)
    assert model.score(cancer.x_val, cancer.y_val) >= 0.97
    _check_history(model, 20000)
    assert model.losses[-1] < model.losses[0]


def test_dual_layer_trajectory_matches_numpy(backend_name, cancer):
    """Every backend computes NumPy's DualLayer training, epoch by epoch (float64)."""
    epochs = 200
    ref = _fit(xpnet.DualLayer(l2=0.01, dtype="float64"), cancer, epochs)
    model = _fit(xpnet.DualLayer(l2=0.01, dtype="float64", backend=backend_name), cancer, epochs)
    np.testing.assert_allclose(model.losses, ref.losses, rtol=1e-9)
    np.testing.assert_allclose(model.val_losses, ref.val_losses, rtol=1e-9)
    for name in ("w1", "b1", "w2", "b2"):
        np.testing.assert_allclose(model.backend.to_numpy(getattr(model, name)),
                                   getattr(ref, name), rtol=1e-8, atol=1e-10, err_msg=name)
    assert model.score(cancer.x_val, cancer.y_val) == ref.score(cancer.x_val, cancer.y_val)


def test_random_init_network_500_epochs(backend_name, cancer):
    model = xpnet.RandomInitNetwork(l2=0.01, random_state=42, backend=backend_name)
    _fit(model, cancer, 500)
    assert model.score(cancer.x_val, cancer.y_val) >= 0.97
    _check_history(model, 500)
    # random weights: a smooth, fast descent (the seed's lesson against ones)
    assert model.losses[-1] < 0.5 * model.losses[0]


@pytest.mark.parametrize("batch_size", [32, 128])
def test_minibatch_network_500_epochs(backend_name, cancer, batch_size):
    epochs = 100 if backend_name.startswith("array_api_strict") else 500
    model = xpnet.MinibatchNetwork(l2=0.01, batch_size=batch_size, random_state=42,
                                   backend=backend_name)
    _fit(model, cancer, epochs)
    assert model.score(cancer.x_val, cancer.y_val) >= 0.97
    _check_history(model, epochs)


# ---------------------------------------------------------------------- API and types
@pytest.mark.parametrize("cls", [xpnet.SingleLayer, xpnet.DualLayer, xpnet.RandomInitNetwork,
                                 xpnet.MinibatchNetwork])
def test_fit_without_validation_data(backend_name, cancer, cls):
    model = cls(random_state=0, backend=backend_name)
    _fit(model, cancer, 5, with_val=False)
    _check_history(model, 5, with_val=False)
    score = model.score(cancer.x_val, cancer.y_val)
    assert type(score) is float and 0.0 <= score <= 1.0
    pred = model.predict(cancer.x_val)
    assert type(pred) is np.ndarray and pred.dtype == np.bool_
    assert pred.shape == (len(cancer.x_val), 1)
    assert score == pytest.approx(np.mean(pred[:, 0] == cancer.y_val), abs=1e-6)
    proba = model.predict_proba(cancer.x_val)
    assert type(proba) is np.ndarray and proba.shape == pred.shape
    np.testing.assert_array_equal(proba > 0.5, pred)
    # the logistic function of the logits, relatively accurate near 0 too
    z = model.backend.to_numpy(model.forpass(model.backend.asarray(cancer.x_val - 40.0)))
    far = model.predict_proba(cancer.x_val - 40.0).astype(np.float64)
    np.testing.assert_allclose(far, 1.0 / (1.0 + np.exp(-np.maximum(z, -80.0))), rtol=1e-5)


def test_device_input_gives_device_output(backend_name, cancer):
    model = _fit(xpnet.RandomInitNetwork(random_state=0, backend=backend_name), cancer, 3)
    xd = model.backend.asarray(cancer.x_val)
    pred = model.predict(xd)
    assert library_of(pred) == model.backend.name
    np.testing.assert_array_equal(model.backend.to_numpy(pred), model.predict(cancer.x_val))
    assert type(model.score(xd, cancer.y_val)) is float


def test_update_val_loss_appends_a_float(cancer):
    model = _fit(xpnet.DualLayer(), cancer, 3, with_val=False)
    model.update_val_loss(cancer.x_val, cancer.y_val)
    assert len(model.val_losses) == 1 and type(model.val_losses[0]) is float
    model.update_val_loss(None, None)  # a no-op, as fit without validation data needs
    assert len(model.val_losses) == 1


def test_seed_001_subclass_style_on_numpy(cancer):
    """Seed 001's own RandomInitNetwork: host arrays from np.random and ``self.b2 = 0``."""

    class SeedRandomInitNetwork(xpnet.DualLayer):
        def init_weights(self, n_features):
            np.random.seed(42)
            self.w1 = np.random.normal(0, 1, (n_features, self.units))
            self.b1 = np.zeros(self.units)
            self.w2 = np.random.normal(0, 1, (self.units, 1))
            self.b2 = 0

    model = SeedRandomInitNetwork(l2=0.01)
    model.fit(cancer.x_train, cancer.y_train, cancer.x_val, cancer.y_val, epochs=500)
    assert model.score(cancer.x_val, cancer.y_val) >= 0.97
    _check_history(model, 500)
    b2 = np.asarray(model.b2)
    assert np.all(b2 != 0), "b2 = 0 must be trained too"
    # the same training as the built-in RandomInitNetwork (same np.random.seed(42) weights)
    ref = _fit(xpnet.RandomInitNetwork(l2=0.01, random_state=42, dtype="float64"), cancer, 500)
    np.testing.assert_allclose(model.losses, ref.losses, rtol=1e-5)


# ---------------------------------------------------------------------- gradients
def _host_objective(params: dict, x, y, l1, l2, dual: bool) -> float:
    """(sum of logistic losses + l1 sum|W| + l2/2 sum W^2) / m, in NumPy float64."""
    if dual:
        a1 = 1.0 / (1.0 + np.exp(-(x @ params["w1"] + params["b1"])))
        z = a1 @ params["w2"] + params["b2"]
        weights = [params["w1"], params["w2"]]
    else:
        z = x @ params["w"] + params["b"]
        weights = [params["w"]]
    bce = np.sum(np.logaddexp(0.0, z) - y * z)
    reg = sum(l1 * np.abs(w).sum() + 0.5 * l2 * (w * w).sum() for w in weights)
    return float((bce + reg) / len(x))


@pytest.mark.parametrize("cls", [xpnet.RandomInitNetwork, xpnet.SingleLayer])
def test_backprop_and_penalty_gradient(backend_name, rng, cls):
    """The step ``training`` takes is lr times the gradient of (bce_sum + reg_loss) / m."""
    l1, l2, lr = 0.03, 0.2, 1.0
    model = cls(learning_rate=lr, l1=l1, l2=l2, dtype="float64", random_state=3,
                backend=backend_name)
    b, xp = model.backend, model.xp
    m = 12
    x = rng.normal(size=(m, 5))
    y = (rng.uniform(size=(m, 1)) > 0.5).astype(np.float64)
    xd, yd = b.asarray(x), b.asarray(y)
    model.init_weights(5)
    names = model._param_names
    for name in names:  # biases off zero too
        value = b.to_numpy(getattr(model, name)) + rng.normal(scale=0.1, size=getattr(
            model, name).shape)
        setattr(model, name, b.asarray(value))
    base = {name: b.to_numpy(getattr(model, name)).copy() for name in names}
    dual = cls is not xpnet.SingleLayer

    def device_objective(name: str, value: np.ndarray) -> float:
        old = getattr(model, name)
        setattr(model, name, b.asarray(value))
        try:
            z = model.forpass(xd)
            return b.to_float((binary_cross_entropy_from_logits(xp, z, yd) + model.reg_loss())
                              / m)
        finally:
            setattr(model, name, old)

    # the backend's loss is the NumPy formula
    assert device_objective(names[0], base[names[0]]) == pytest.approx(
        _host_objective(base, x, y, l1, l2, dual), rel=1e-12)
    numeric = {name: central_difference(lambda v, name=name: device_objective(name, v),
                                        base[name]) for name in names}
    model.training(xd, yd, m)  # updates every parameter (in place where it can)
    for name in names:
        step = (base[name] - b.to_numpy(getattr(model, name))) / lr
        assert_grad_close(step, numeric[name], 1e-6, name)


def test_one_training_step_agrees_across_backends(backend_name, cancer):
    def one_step(backend):
        model = xpnet.RandomInitNetwork(l1=0.001, l2=0.01, dtype="float64", random_state=42,
                                        backend=backend)
        bk = model.backend
        x, y = bk.asarray(cancer.x_train), bk.asarray(cancer.y_train.reshape(-1, 1))
        model.init_weights(x.shape[1])
        a = model.training(x, y, x.shape[0])
        return {"a": bk.to_numpy(a), **{n: bk.to_numpy(getattr(model, n)) for n in
                                        model._param_names}}

    ref, got = one_step("numpy"), one_step(backend_name)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, atol=1e-12, err_msg=key)


# ---------------------------------------------------------------------- errors
def test_input_errors(backend_name, cancer):
    model = xpnet.DualLayer(backend=backend_name)
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(cancer.x_val)
    with pytest.raises(RuntimeError, match="fit"):
        model.score(cancer.x_val, cancer.y_val)
    with pytest.raises(ValueError, match="2-D") as info:
        model.fit(cancer.x_train[:, 0], cancer.y_train, epochs=1)
    assert "x" in str(info.value)
    with pytest.raises(ValueError, match="samples"):
        model.fit(cancer.x_train, cancer.y_train[:-1], epochs=1)
    with pytest.raises(ValueError, match="x_val"):
        model.fit(cancer.x_train, cancer.y_train, cancer.x_val[:, :5], cancer.y_val, epochs=1)
    nan_x = cancer.x_train.copy()
    nan_x[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN") as info:
        model.fit(nan_x, cancer.y_train, epochs=1)
    assert str(info.value).startswith("x ")
    nan_val = cancer.x_val.copy()
    nan_val[0, 0] = np.inf
    with pytest.raises(ValueError, match="x_val"):
        model.fit(cancer.x_train, cancer.y_train, nan_val, cancer.y_val, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(cancer.x_train, cancer.y_train, epochs=0)
    model.fit(cancer.x_train, cancer.y_train, epochs=2)
    with pytest.raises(ValueError, match="features"):
        model.predict(cancer.x_val[:, :10])
    with pytest.raises(ValueError, match="2-D"):
        model.predict(cancer.x_val[0])


@pytest.mark.parametrize("kw, arg", [
    ({"learning_rate": 0}, "learning_rate"), ({"l2": -1.0}, "l2"), ({"l1": -0.1}, "l1"),
    ({"units": 0}, "units"),
])
def test_constructor_errors(kw, arg):
    with pytest.raises(ValueError, match=arg):
        xpnet.DualLayer(**kw)
