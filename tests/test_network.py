"""MultiLayerNet / MultiLayerNetExtend: whole-network gradient checks, the book's API on
views into one flat buffer, output types, initializers and argument errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _gradcheck import assert_grad_close, one_thread  # noqa: F401 - autouse fixture

import xpnet
from xpnet.backend import library_of
from xpnet.init import init_scale
from xpnet.layers import BatchNormalization, Dropout

BOOK_KEYS = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]


def _data(rng, n=8, d=4, classes=3):
    x = rng.normal(size=(n, d))
    t = np.arange(n) % classes
    return x, t


# ---------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_extend_gradient_matches_numerical(backend_name, rng, activation):
    net = xpnet.MultiLayerNetExtend(
        4, [5, 3], 3, activation=activation, weight_init_std="xavier",
        weight_decay_lambda=0.1, l1=0.05, use_dropout=True, dropout_ratio=0.3,
        use_batchnorm=True, backend=backend_name, dtype="float64", random_state=1)
    # move gamma/beta/biases off their initial 1/0 so every term of the check matters
    net.flat[...] = net.flat + net.backend.asarray(rng.normal(scale=0.1, size=net.flat.shape))
    x, t = _data(rng)
    # gradient() draws the dropout masks; numerical_gradient() reuses (freezes) them
    grads = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    assert list(net.params) == BOOK_KEYS
    assert set(grads) == set(numeric) == set(BOOK_KEYS)
    for key in BOOK_KEYS:
        a = net.backend.to_numpy(grads[key])
        assert a.shape == tuple(net.params[key].shape), key
        assert_grad_close(a, net.backend.to_numpy(numeric[key]), 1e-6, key)
    # every dropout layer did drop something (the check covered the masked path)
    masks = [net.backend.to_numpy(ly.mask) for ly in net.layers.values()
             if isinstance(ly, Dropout)]
    assert len(masks) == 2 and all((m == 0).any() for m in masks)


def test_plain_multilayer_net_gradient(backend_name, rng):
    net = xpnet.MultiLayerNet(4, [5], 3, activation="tanh", weight_decay_lambda=0.05,
                              backend=backend_name, dtype="float64", random_state=2)
    assert not any(isinstance(ly, (BatchNormalization, Dropout)) for ly in net.layers.values())
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    x, t = _data(rng)
    onehot = np.eye(3)[t]  # one-hot labels work as well
    grads = net.gradient(x, onehot)
    numeric = net.numerical_gradient(x, onehot)
    for key in net.params:
        assert_grad_close(net.backend.to_numpy(grads[key]),
                          net.backend.to_numpy(numeric[key]), 1e-6, key)


def test_flat_gradient_is_gradient_concatenated(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5, 3], 3, use_batchnorm=True, backend=backend_name,
                                    dtype="float64", random_state=0)
    x, t = _data(rng)
    grads = net.gradient(x, t)
    b = net.backend
    loss, flat_grad = net.flat_gradient(b.asarray(x), b.asarray(t, dtype="int64"))
    expected = np.concatenate([b.to_numpy(grads[k]).ravel() for k in net.params])
    np.testing.assert_allclose(b.to_numpy(flat_grad), expected, rtol=1e-12)
    assert tuple(flat_grad.shape) == tuple(net.flat.shape)
    assert b.to_float(loss) == pytest.approx(net.loss(x, t, train_flg=True), rel=1e-12)


def test_loss_includes_penalties(rng):
    net = xpnet.MultiLayerNet(4, [5], 3, weight_decay_lambda=0.3, l1=0.2, dtype="float64",
                              random_state=0)
    x, t = _data(rng)
    plain = xpnet.MultiLayerNet(4, [5], 3, dtype="float64", random_state=0)
    w = [net.params["W1"], net.params["W2"]]
    extra = sum(0.2 * np.abs(a).sum() + 0.15 * (a * a).sum() for a in w)
    assert net.loss(x, t) == pytest.approx(plain.loss(x, t) + extra, rel=1e-12)


# ---------------------------------------------------------------------- the book's API
def test_params_are_views_and_optimizer_update_changes_flat(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5, 3], 3, use_batchnorm=True, backend=backend_name,
                                    random_state=0)
    b = net.backend
    assert list(net.params) == BOOK_KEYS
    assert net.params_are_bound()
    x, t = _data(rng)
    grads = net.gradient(x, t)
    assert set(grads) == set(net.params)
    for key in net.params:
        assert library_of(grads[key]) == b.name
    before = b.to_numpy(net.flat).copy()
    opt = xpnet.optimizers.SGD(lr=0.5)
    opt.update(net.params, grads)
    after = b.to_numpy(net.flat)
    assert not np.array_equal(before, after)
    assert net.params_are_bound()  # still the same views
    np.testing.assert_array_equal(
        after, np.concatenate([b.to_numpy(net.params[k]).ravel() for k in net.params]))
    expected = before - 0.5 * np.concatenate([b.to_numpy(grads[k]).ravel() for k in net.params])
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)


def test_replaced_param_is_rebound_and_trained(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5], 3, backend=backend_name, random_state=0)
    b = net.backend
    new_w1 = np.full((4, 5), 0.25, dtype=np.float32)
    old_w1 = b.to_numpy(net.params["W1"]).copy()
    net.params["W1"] = b.asarray(new_w1)
    assert not net.params_are_bound()
    x, t = _data(rng, n=20)
    # predictions already use the new array
    np.testing.assert_allclose(
        net.predict(x),
        np.maximum(x @ new_w1, 0) @ b.to_numpy(net.params["W2"]) + b.to_numpy(net.params["b2"]),
        rtol=1e-5, atol=1e-6)
    xpnet.Trainer(net, x, t, epochs=1, mini_batch_size=10, optimizer="sgd",
                  optimizer_param={"lr": 1e-4}, verbose=False).train()
    assert net.params_are_bound()
    w1 = b.to_numpy(net.params["W1"])
    np.testing.assert_allclose(w1, new_w1, atol=1e-3)  # trained from the new value ...
    assert not np.array_equal(w1, new_w1)  # ... and actually trained
    assert not np.allclose(w1, old_w1, atol=0.1)
    np.testing.assert_array_equal(b.to_numpy(net.flat)[:20], w1.ravel())


def test_predict_loss_accuracy_types_and_values(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5], 3, use_batchnorm=True, use_dropout=True,
                                    backend=backend_name, random_state=0)
    x, t = _data(rng, n=12)
    y = net.predict(x)
    assert type(y) is np.ndarray and y.shape == (12, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(net.predict(x), y)  # eval mode: deterministic
    loss = net.loss(x, t)
    acc = net.accuracy(x, t)
    assert type(loss) is float and type(acc) is float
    assert acc == pytest.approx(np.mean(y.argmax(axis=1) == t))
    assert net.accuracy(x, np.eye(3)[t]) == acc  # one-hot labels
    assert net.loss(x, np.eye(3)[t]) == pytest.approx(loss, rel=1e-6)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("hidden", ["relu", "sigmoid", None])
def test_forward_unchecked_finds_every_nan_and_inf_and_otherwise_is_forward(backend_name,
                                                                           hidden):
    """Network.forward_unchecked: for finite features the scores of forward (bit for bit)
    and True; (None, False) for a NaN or infinity anywhere in x, including in a feature whose
    weights are all zero (then x is read itself); finite x whose first product overflows gives
    forward's scores with a RuntimeWarning; a network that does not start with a Dense layer
    reads x first."""
    layers = [("dense", {"units": 7}), *([hidden] if hidden else []), ("dense", {"units": 3})]
    net = xpnet.Network(layers, input_shape=5, dtype="float32", backend=backend_name,
                        random_state=0)
    b = net.backend
    host = np.random.default_rng(3).normal(size=(40, 5)).astype("float32")
    scores, finite = net.forward_unchecked(b.asarray(host))
    assert finite is True
    np.testing.assert_array_equal(b.to_numpy(scores), b.to_numpy(net.forward(b.asarray(host))))

    def refused(x):
        return net.forward_unchecked(b.asarray(x)) == (None, False)

    for where in ((0, 0), (20, 2), (39, 4)):
        for bad in (np.nan, np.inf, -np.inf):
            y = host.copy()
            y[where] = bad
            assert refused(y), (where, bad)
    first = net.layers["Affine1"]
    w1 = b.to_numpy(net.params["W1"]).copy()
    w1[2] = 0.0  # feature 2 meets no weight: its NaN would vanish in a BLAS that skips zeros
    net.params["W1"][...] = b.asarray(w1)
    assert first.reaches_every_input() is False
    y = host.copy()
    y[7, 2] = np.nan
    assert refused(y)
    assert net.forward_unchecked(b.asarray(host))[1] is True
    w1[0], w1[2] = 10.0, 1.0  # every feature reached again: the check rides on the product
    net.params["W1"][...] = b.asarray(w1)
    huge = np.full((3, 5), 3e38, dtype="float32")  # finite; 10 x 3e38 overflows float32
    with warnings.catch_warnings(record=True) as caught:  # and NumPy's in the layers after
        warnings.simplefilter("always")
        scores, finite = net.forward_unchecked(b.asarray(huge))
        expected = b.to_numpy(net.forward(b.asarray(huge)))
    assert finite is True and any("not finite although x is" in str(w.message) for w in caught)
    np.testing.assert_array_equal(b.to_numpy(scores), expected)
    starts_otherwise = xpnet.Network([("dropout", {"ratio": 0.5}),
                                      ("dense", {"units": 3})], input_shape=5,
                                     backend=backend_name, random_state=0)
    assert starts_otherwise.forward_unchecked(b.asarray(host))[1] is True
    y = host.copy()
    y[39, 4] = np.inf
    assert starts_otherwise.forward_unchecked(b.asarray(y)) == (None, False)


def test_get_state_set_state(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5], 3, use_batchnorm=True, backend=backend_name,
                                    random_state=0)
    x, t = _data(rng, n=16)
    state = net.get_state()
    before = net.predict(x)
    xpnet.Trainer(net, x, t, epochs=2, mini_batch_size=8, optimizer="adam", verbose=False,
                  optimizer_param={"lr": 0.1}).train()
    assert not np.allclose(net.predict(x), before)
    net.set_state(state)
    np.testing.assert_array_equal(net.predict(x), before)
    assert net.params_are_bound()


def test_get_config_rebuilds(backend_name):
    net = xpnet.MultiLayerNetExtend(4, [5, 6], 3, activation="tanh", use_batchnorm=True,
                                    weight_decay_lambda=0.1, backend=backend_name,
                                    random_state=0)
    cfg = net.get_config()
    twin = xpnet.MultiLayerNetExtend(**cfg, backend=backend_name, random_state=0)
    np.testing.assert_array_equal(twin.backend.to_numpy(twin.flat),
                                  net.backend.to_numpy(net.flat))
    assert "4-5-6-3" in repr(net)


# ---------------------------------------------------------------------- initializers
@pytest.mark.parametrize("init, expected", [
    ("normal", lambda i, o: 1.0),
    (0.05, lambda i, o: 0.05),
    ("xavier", lambda i, o: math.sqrt(2.0 / (i + o))),
    ("glorot", lambda i, o: math.sqrt(2.0 / (i + o))),
    ("lecun", lambda i, o: math.sqrt(1.0 / i)),
    ("sigmoid", lambda i, o: math.sqrt(1.0 / i)),
    ("he", lambda i, o: math.sqrt(2.0 / i)),
    ("relu", lambda i, o: math.sqrt(2.0 / i)),
])
def test_init_scale_exact_and_empirical(init, expected):
    assert init_scale(init, 30, 10) == pytest.approx(expected(30, 10), rel=1e-15)
    if init == "xavier":  # the book's classes give the book's "Xavier": sqrt(1 / fan_in)
        expected = lambda i, o: math.sqrt(1.0 / i)  # noqa: E731
        assert init_scale(init, 30, 10, book=True) == pytest.approx(expected(30, 10))
    net = xpnet.MultiLayerNet(400, [300], 2, weight_init_std=init, random_state=0)
    w1 = net.backend.to_numpy(net.params["W1"])
    # 120000 draws: the relative standard error of the std is 0.2 %
    assert w1.std() == pytest.approx(expected(400, 300), rel=0.02)
    assert abs(w1.mean()) < 0.01 * expected(400, 300)
    assert np.all(net.backend.to_numpy(net.params["b1"]) == 0)


def test_xavier_is_not_seed_002s_formula():
    """Seed 002 wrote 2 / sqrt(fan_in + fan_out)."""
    assert init_scale("xavier", 30, 10) != pytest.approx(2 / math.sqrt(40))


def test_ones_initializer(backend_name):
    net = xpnet.MultiLayerNet(3, [4], 2, weight_init_std="ones", backend=backend_name)
    for key in ("W1", "W2"):
        np.testing.assert_array_equal(net.backend.to_numpy(net.params[key]), 1.0)


def test_unknown_initializer_names_the_argument():
    with pytest.raises(ValueError, match="weight_init") as info:
        xpnet.MultiLayerNetExtend(4, [3], 2, weight_init_std="kaimingg")
    assert "'kaimingg'" in str(info.value) and "xavier" in str(info.value)
    with pytest.raises(ValueError, match="weight_init"):
        xpnet.MultiLayerNetExtend(4, [3], 2, weight_init_std=-0.1)


def test_unknown_activation_names_the_argument():
    with pytest.raises(ValueError, match="activation") as info:
        xpnet.MultiLayerNetExtend(4, [3], 2, activation="relu6")
    assert "'relu6'" in str(info.value) and "sigmoid" in str(info.value)


# ---------------------------------------------------------------------- input errors
def test_labels_out_of_range(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [3], 3, backend=backend_name, random_state=0)
    x = rng.normal(size=(4, 4))
    for bad in (np.array([0, 1, 2, 3]), np.array([0, -1, 1, 2])):
        with pytest.raises(ValueError, match="output_size"):
            net.loss(x, bad)
        with pytest.raises(ValueError, match="output_size"):
            net.gradient(x, bad)
    with pytest.raises(ValueError, match="output_size"):
        net.accuracy(net.backend.asarray(x), net.backend.asarray(np.array([0, 1, 2, 5]),
                                                                  dtype="int64"))


def test_wrong_feature_count(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [3], 3, backend=backend_name, random_state=0)
    with pytest.raises(ValueError, match="features"):
        net.predict(rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="2-D"):
        net.predict(rng.normal(size=4))
    with pytest.raises(ValueError, match="samples"):
        net.loss(rng.normal(size=(5, 4)), np.array([0, 1, 2]))


@pytest.mark.parametrize("kw, arg", [
    ({"input_size": 0}, "input_size"),
    ({"hidden_size_list": [3, -1]}, "hidden_size_list"),
    ({"weight_decay_lambda": -0.1}, "weight_decay_lambda"),
    ({"dropout_ratio": 1.0, "use_dropout": True}, "dropout_ratio"),
    ({"loss": "hinge"}, "loss"),
])
def test_constructor_argument_errors(kw, arg):
    args = {"input_size": 4, "hidden_size_list": [3], "output_size": 2, **kw}
    with pytest.raises(ValueError, match=arg):
        xpnet.MultiLayerNetExtend(**args)
