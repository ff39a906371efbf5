"""The NumPy backend's own convolution (strided-view im2col, BLAS products, slice-add col2im)
computes what the Array API reference (``xpnet.nn.conv``'s im2col/col2im) computes: forward,
dx, dW and db in float64 over strides, paddings, channels and window shapes, and a whole
network's gradient in float32."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.backends import get_backend
from xpnet.nn.conv import Convolution
from xpnet.nn.network import SimpleConvNet

# (N, C, H, W), (FN, FH, FW), stride, pad
CASES = [((2, 1, 7, 6), (3, 3, 3), 1, 0), ((2, 3, 7, 6), (4, 3, 3), 2, 1),
         ((3, 2, 8, 8), (5, 2, 2), 2, 0), ((2, 3, 6, 5), (4, 3, 2), 1, 2),
         ((1, 4, 9, 7), (2, 5, 5), 3, 1), ((2, 2, 5, 5), (3, 1, 1), 1, 0)]


def _layers(rng, x_shape, w_shape, stride, pad, input_grad=True):
    """(the NumPy kernel's layer, the Array API reference's layer), same float64 params."""
    ops = get_backend("numpy", dtype="float64")
    fn, fh, fw = w_shape
    params = {"W": rng.normal(size=(fn, x_shape[1], fh, fw)), "b": rng.normal(size=fn)}
    fast, ref = (Convolution(dict(params), stride=stride, pad=pad, input_grad=input_grad,
                             ops=ops) for _ in range(2))
    ref.kernel = None
    assert fast.kernel is not None
    return fast, ref


@pytest.mark.parametrize("x_shape,w_shape,stride,pad", CASES)
def test_numpy_convolution_equals_the_array_api_path(rng, x_shape, w_shape, stride, pad):
    fast, ref = _layers(rng, x_shape, w_shape, stride, pad)
    x = rng.normal(size=x_shape)
    y = fast.forward(x, True)
    np.testing.assert_allclose(y, ref.forward(x, True), rtol=1e-12, atol=1e-12)
    assert y.flags.c_contiguous and y.dtype == np.float64
    dout = rng.normal(size=y.shape)
    dx = fast.backward(dout)
    np.testing.assert_allclose(dx, ref.backward(dout), rtol=1e-12, atol=1e-12)
    assert dx.shape == x_shape
    for key in ("W", "b"):
        np.testing.assert_allclose(fast.grads[key], ref.grads[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape,w_shape,stride,pad", CASES[:2])
def test_numpy_convolution_without_input_gradient(rng, x_shape, w_shape, stride, pad):
    fast, ref = _layers(rng, x_shape, w_shape, stride, pad, input_grad=False)
    x = rng.normal(size=x_shape)
    dout = rng.normal(size=fast.forward(x, True).shape)
    ref.forward(x, True)
    assert fast.backward(dout) is None and ref.backward(dout) is None
    for key in ("W", "b"):
        np.testing.assert_allclose(fast.grads[key], ref.grads[key], rtol=1e-12, atol=1e-12)


def test_numpy_kernel_in_a_float32_network(rng):
    """SimpleConvNet's loss and gradients agree with the kernel and with the reference."""
    conv = {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1}
    nets = [SimpleConvNet((2, 10, 10), conv, hidden_size=8, output_size=3, random_state=0)
            for _ in range(2)]
    layers = [layer for layer in nets[1].layers.values() if isinstance(layer, Convolution)]
    assert layers and all(layer.kernel is not None for layer in layers)
    for layer in layers:
        layer.kernel = None
    x = rng.normal(size=(6, 2, 10, 10)).astype(np.float32)
    t = rng.integers(0, 3, size=6)
    losses = [net.loss(x, t, train_flg=True) for net in nets]
    grads = [net.gradient(x, t) for net in nets]
    assert float(losses[0]) == pytest.approx(float(losses[1]), rel=1e-5)
    for key in nets[0].params:
        assert grads[0][key].dtype == grads[1][key].dtype == np.float32
        np.testing.assert_allclose(grads[0][key], grads[1][key], rtol=1e-4, atol=1e-6)
