"""Convolution, Pooling, Flatten, BatchNorm over images and the composed Network: float64
central differences and PyTorch autograd on every backend, the torch specialization against the
Array API path, SimpleConvNet trained by the Trainer, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest
from _gradcheck import assert_grad_close, one_thread  # noqa: F401 - an autouse fixture
from test_layers import _b64, _check_layer, _dev

import xpnet
from xpnet.backend import get_backend
from xpnet.layers import BatchNormalization, Dropout
from xpnet.nn.conv import Convolution, Flatten, Pooling, col2im, im2col
from xpnet.nn.network import Network, SimpleConvNet

CONVS = [(1, 0), (2, 1)]  # (stride, pad)
POOLS = [("max", 2, 2, 0), ("max", 3, 2, 1), ("average", 3, 2, 1)]  # mode, size, stride, pad


def _conv(b, rng, stride, pad, kernel=False):
    params = {"W": _dev(b, rng.normal(size=(4, 3, 3, 3))), "b": _dev(b, rng.normal(size=4))}
    layer = Convolution(params, "W", "b", stride, pad)
    if not kernel:
        layer.kernel = None  # the Array API path (im2col/col2im)
    return layer, params


def _out(layer, b, x):
    return b.to_numpy(layer.forward(_dev(b, x), True)).shape


# ---------------------------------------------------------------------- central differences
@pytest.mark.parametrize("stride,pad", CONVS)
def test_convolution_gradients(backend_name, rng, stride, pad):
    b = _b64(backend_name)
    layer, params = _conv(b, rng, stride, pad)
    x = rng.normal(size=(2, 3, 6, 5))
    _check_layer(b, layer, x, params, ("W", "b"), rng.normal(size=_out(layer, b, x)))


@pytest.mark.parametrize("mode,size,stride,pad", POOLS)
def test_pooling_gradients(backend_name, rng, mode, size, stride, pad):
    b = _b64(backend_name)
    layer = Pooling(size, size, stride, pad, mode, b.xp)
    x = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) * 0.1  # no ties for the max
    _check_layer(b, layer, x, {}, (), rng.normal(size=_out(layer, b, x)))


def test_batchnorm_over_images_gradients(backend_name, rng):
    b = _b64(backend_name)
    params = {"gamma": _dev(b, rng.uniform(0.5, 2.0, size=3)), "beta": _dev(b, rng.normal(size=3))}
    layer = BatchNormalization(params, "gamma", "beta")
    x = rng.normal(loc=1.0, scale=2.0, size=(4, 3, 3, 2))
    _check_layer(b, layer, x, params, ("gamma", "beta"), rng.normal(size=x.shape))
    assert b.to_numpy(layer.running_mean).shape == (3,)  # per channel


def test_flatten_and_dropout_on_images(backend_name, rng):
    b = _b64(backend_name)
    x = rng.normal(size=(2, 3, 4, 4))
    _check_layer(b, Flatten(b.xp), x, {}, (), rng.normal(size=(2, 48)))
    drop = Dropout(b, ratio=0.5)
    y = b.to_numpy(drop.forward(_dev(b, x), True))
    mask = b.to_numpy(drop.mask)
    assert mask.shape == x.shape and set(np.unique(mask)) <= {0.0, 2.0}
    np.testing.assert_allclose(y, x * mask)
    np.testing.assert_allclose(b.to_numpy(drop.backward(_dev(b, x))), x * mask)


def test_im2col_col2im_are_adjoint(backend_name, rng):
    """<im2col(x), c> = <x, col2im(c)>: col2im is the transpose im2col's backward needs."""
    b = _b64(backend_name)
    x, c = rng.normal(size=(2, 2, 5, 6)), rng.normal(size=(2, 2, 9, 3, 3))
    cols = b.to_numpy(im2col(b.xp, _dev(b, x), 3, 3, 2, 1))
    back = b.to_numpy(col2im(b.xp, _dev(b, c), x.shape, 3, 3, 2, 1))
    assert cols.shape == c.shape
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)


# ---------------------------------------------------------------------- PyTorch autograd
def _torch_grads(f, x, *params):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in (x, *params)]
    y = f(*ts)
    r = np.random.default_rng(1).normal(size=tuple(y.shape))
    (y * torch.tensor(r)).sum().backward()
    return y.detach().numpy(), r, [t.grad.numpy() for t in ts]


def _assert_like_torch(b, layer, x, expected, r, grads, keys=()):
    np.testing.assert_allclose(b.to_numpy(layer.forward(_dev(b, x), True)), expected,
                               rtol=1e-10, atol=1e-12)
    dx = layer.backward(_dev(b, r))
    for got, want, name in zip([dx, *(layer.grads[k] for k in keys)], grads, ["x", *keys],
                               strict=True):
        assert_grad_close(b.to_numpy(got), want, 1e-10, f"d{name}")


@pytest.mark.parametrize("stride,pad", CONVS)
@pytest.mark.parametrize("kernel", [False, True], ids=["array-api", "backend"])
def test_convolution_like_torch(backend_name, rng, stride, pad, kernel):
    torch = pytest.importorskip("torch")
    b = _b64(backend_name)
    layer, params = _conv(b, rng, stride, pad, kernel)
    x = rng.normal(size=(2, 3, 7, 6))
    expected, r, grads = _torch_grads(
        lambda x, w, bias: torch.nn.functional.conv2d(x, w, bias, stride, pad), x,
        b.to_numpy(params["W"]), b.to_numpy(params["b"]))
    _assert_like_torch(b, layer, x, expected, r, grads, ("W", "b"))


@pytest.mark.parametrize("mode,size,stride,pad", POOLS)
def test_pooling_like_torch(backend_name, rng, mode, size, stride, pad):
    torch = pytest.importorskip("torch")
    b = _b64(backend_name)
    f = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    x = rng.normal(size=(2, 3, 7, 6))
    expected, r, grads = _torch_grads(lambda x: f(x, size, stride, pad), x)
    _assert_like_torch(b, Pooling(size, size, stride, pad, mode, b.xp), x, expected, r, grads)


def test_batchnorm_over_images_like_torch(backend_name, rng):
    torch = pytest.importorskip("torch")
    b = _b64(backend_name)
    gamma, beta = rng.uniform(0.5, 2.0, size=3), rng.normal(size=3)
    layer = BatchNormalization({"gamma": _dev(b, gamma), "beta": _dev(b, beta)}, "gamma", "beta")
    x = rng.normal(loc=1.0, scale=2.0, size=(4, 3, 5, 5))
    mean, var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    expected, r, grads = _torch_grads(
        lambda x, g, be: torch.nn.functional.batch_norm(x, mean, var, g, be, True, 0.1, 1e-5),
        x, gamma, beta)
    _assert_like_torch(b, layer, x, expected, r, grads, ("gamma", "beta"))
    np.testing.assert_allclose(b.to_numpy(layer.running_var), x.var(axis=(0, 2, 3)), rtol=1e-12)


def test_torch_convolution_agrees_with_the_array_api_path(rng):
    """backend.conv2d (torch's) and im2col/col2im give the same network gradients (float32)."""
    pytest.importorskip("torch")
    nets = [_small_cnn("torch", random_state=0) for _ in range(2)]
    assert nets[0].backend.conv2d is not None
    for layer in nets[1].layers.values():
        if isinstance(layer, Convolution):
            layer.kernel = None
    x, t = rng.normal(size=(6, 1, 8, 8)), rng.integers(0, 3, size=6)
    losses = [net.loss(x, t, train_flg=True) for net in nets]
    grads = [net.gradient(x, t) for net in nets]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for key in nets[0].params:
        np.testing.assert_allclose(*(net.backend.to_numpy(g[key]) for net, g in
                                     zip(nets, grads, strict=True)), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------- composed networks
def _small_cnn(backend, **kw):
    return Network([("conv", {"filter_num": 3, "filter_size": 3, "pad": 1}), "batchnorm", "relu",
                    ("pool", {"pool_h": 2}), ("conv", {"filter_num": 4, "filter_size": 3,
                                                      "stride": 2, "pad": 1}),
                    ("batchnorm", {"eps": 1e-6}), "tanh", ("pool", {"mode": "average"}),
                    "flatten", ("dense", {"units": 5}), "relu", ("dropout", {"ratio": 0.3}),
                    ("dense", {"units": 3})], (1, 8, 8), backend=backend, **kw)


def test_network_gradient_matches_central_differences(backend_name, rng):
    """conv-BN-ReLU-pool x2 -> dense in one flat buffer: backprop = numerical_gradient."""
    net = _small_cnn(backend_name, dtype="float64", weight_decay_lambda=0.1, l1=0.01,
                     random_state=0)
    assert list(net.param_shapes) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2",
                                      "beta2", "W3", "b3", "W4", "b4"]
    assert net.param_shapes["W2"] == (4, 3, 3, 3) and net.param_shapes["W3"] == (4, 5)
    x, t = rng.normal(size=(5, 1, 8, 8)), rng.integers(0, 3, size=5)
    analytic = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t, h=1e-6)  # Dropout's masks frozen meanwhile
    for key in net.params:
        assert_grad_close(net.backend.to_numpy(analytic[key]), net.backend.to_numpy(
            numeric[key]), 1e-5, key, atol=1e-7)


def test_images_and_flat_rows_are_the_same_input(backend_name, rng):
    net = _small_cnn(backend_name, random_state=0)
    x = rng.normal(size=(4, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(net.predict(x), net.predict(x.reshape(4, -1)))
    with pytest.raises(ValueError, match=r"samples of shape \(1, 8, 8\)"):
        net.predict(np.zeros((4, 2, 8, 8)))


@pytest.mark.parametrize("layers,match", [
    (["softmax"], "layers\\[0\\]"),
    ([("dense", {"units": 3})], "put 'flatten' before it"),
    ([("conv", {"filter_num": 2, "filter_size": 9}), "flatten"], "does not fit"),
    ([("conv", {"filters": 2}), "flatten"], "filters"),
    ([("conv", {"filter_num": 2, "filter_size": 3})], "end with 'flatten' or 'dense'"),
    ([("dense", 3)], "a layer name or a \\(name, arguments\\) pair"),
])
def test_network_errors_name_the_layer_and_the_fix(layers, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Network(layers, (1, 8, 8))


def test_multilayer_net_is_a_composed_network():
    net = xpnet.MultiLayerNetExtend(4, [8, 6], 3, use_batchnorm=True, use_dropout=True)
    assert isinstance(net, Network)
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
                                "Affine2", "BatchNorm2", "Activation_function2", "Dropout2",
                                "Affine3"]
    assert net.get_config()["hidden_size_list"] == [8, 6]


# ---------------------------------------------------------------------- the book's SimpleConvNet
def test_simple_conv_net_has_the_books_api():
    net = SimpleConvNet(input_dim=(1, 28, 28), conv_param={"filter_num": 30, "filter_size": 5,
                                                           "pad": 0, "stride": 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01, random_state=0)
    shapes = {k: tuple(v.shape) for k, v in net.params.items()}
    assert shapes == {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert np.std(net.params["W1"]) == pytest.approx(0.01, rel=0.1)
    x, t = np.zeros((3, 1, 28, 28), np.float32), np.array([1, 2, 3])
    assert net.predict(x).shape == (3, 10) and isinstance(net.loss(x, t), float)
    assert 0.0 <= net.accuracy(x, t, batch_size=2) <= 1.0
    assert set(net.gradient(x, t)) == set(shapes)


def _digits_images(digits, n):
    return digits.x_train[:n].reshape(-1, 1, 8, 8), digits.y_train[:n]


def test_simple_conv_net_trains_with_the_trainer(backend_name, digits):
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 8, "filter_size": 3},
                        hidden_size=32, output_size=10, weight_init_std="he",
                        backend=backend_name, random_state=0)
    x, t = _digits_images(digits, 300)
    trainer = xpnet.Trainer(net, x, t, digits.x_test.reshape(-1, 1, 8, 8), digits.y_test,
                            epochs=6, mini_batch_size=50, optimizer="Adam",
                            optimizer_param={"lr": 0.01}, verbose=False)
    history = trainer.train()
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["test_acc"][-1] > 0.7


def test_simple_conv_net_save_load_round_trip(backend_name, digits, tmp_path):
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 4, "filter_size": 3,
                                                         "pad": 1},
                        hidden_size=16, backend=backend_name, random_state=0)
    x, t = _digits_images(digits, 100)
    xpnet.Trainer(net, x, t, epochs=1, mini_batch_size=50, verbose=False).train()
    loaded = xpnet.load(xpnet.save(net, tmp_path / "cnn.npz"))
    assert type(loaded) is SimpleConvNet and loaded.get_config() == net.get_config()
    assert loaded.backend.spec == net.backend.spec
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    composed = _small_cnn(backend_name, random_state=0)
    composed.gradient(x[:8], t[:8] % 3)  # BatchNorm's running statistics move
    again = xpnet.load(xpnet.save(composed, tmp_path / "net.npz"))
    np.testing.assert_array_equal(again.predict(x), composed.predict(x))


def test_float32_stays_float32(rng):
    net = _small_cnn("numpy", random_state=0)
    x = rng.normal(size=(2, 1, 8, 8))
    assert net.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, [0, 1]).values())
    assert get_backend("numpy").conv2d is not None  # NumPy's own (tests/test_conv_kernels.py)
