"""Layers and losses: float64 central-difference gradient checks on every backend, numerical
stability of the losses, BatchNorm's running statistics and inverted Dropout."""

from __future__ import annotations

import numpy as np
import pytest
from _gradcheck import (  # one_thread: an autouse fixture
    assert_grad_close,
    central_difference,
    one_thread,  # noqa: F401
)

from xpnet.backend import get_backend, library_of
from xpnet.layers import BatchNormalization, Dense, Dropout, ReLU, Sigmoid, Tanh
from xpnet.losses import BinaryCrossEntropy, MeanSquaredError, SoftmaxCrossEntropy

RTOL = 1e-6


def _b64(backend_name: str):
    return get_backend(backend_name, dtype="float64", random_state=0)


def _dev(b, a):
    return b.asarray(np.asarray(a, dtype=np.float64))


def _check_layer(b, layer, x, params: dict, keys: tuple[str, ...], R: np.ndarray,
                 train: bool = True) -> None:
    """Check dx and d(param) of the objective sum(layer.forward(x) * R) by central differences.

    ``params`` is the mapping the layer reads (its entries are replaced while perturbing)."""
    xp = b.xp
    Rd = _dev(b, R)
    xd = _dev(b, x)
    out = layer.forward(xd, train)
    dx = b.to_numpy(layer.backward(Rd)).copy()
    grads = {k: b.to_numpy(layer.grads[k]).copy() for k in keys}

    def objective(x_host: np.ndarray) -> float:
        return b.to_float(xp.sum(layer.forward(_dev(b, x_host), train) * Rd))

    assert b.to_numpy(out).shape == R.shape
    assert_grad_close(dx, central_difference(objective, x), RTOL, "dx")
    for key in keys:
        base = params[key]
        host = b.to_numpy(base).copy()

        def objective_p(p_host: np.ndarray, key: str = key) -> float:
            params[key] = _dev(b, p_host)
            return b.to_float(xp.sum(layer.forward(xd, train) * Rd))

        try:
            numeric = central_difference(objective_p, host)
        finally:
            params[key] = base
        assert_grad_close(grads[key], numeric, RTOL, f"d{key}")


# ---------------------------------------------------------------------- layer gradients
def test_dense_gradients(backend_name, rng):
    b = _b64(backend_name)
    x = rng.normal(size=(5, 4))
    params = {"W": _dev(b, rng.normal(size=(4, 3))), "b": _dev(b, rng.normal(size=3))}
    layer = Dense(params, "W", "b")
    _check_layer(b, layer, x, params, ("W", "b"), rng.normal(size=(5, 3)))
    # the book's names, and the bias gradient sums over the batch axis (seed 001's bug)
    assert b.to_numpy(layer.db).shape == (3,)
    assert b.to_numpy(layer.dW).shape == (4, 3)


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh])
def test_activation_gradients(backend_name, rng, cls):
    b = _b64(backend_name)
    x = rng.normal(size=(6, 4))
    x = np.where(np.abs(x) < 0.1, 0.5, x)  # keep ReLU's kink out of the differences
    _check_layer(b, cls(b.xp), x, {}, (), rng.normal(size=(6, 4)))


def test_activations_values(backend_name):
    b = get_backend(backend_name)
    x = np.array([[-2.0, 0.0, 3.0]], dtype=np.float32)
    xd = b.asarray(x)
    np.testing.assert_allclose(b.to_numpy(ReLU(b.xp).forward(xd)), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(b.to_numpy(Sigmoid(b.xp).forward(xd)), 1 / (1 + np.exp(-x)),
                               rtol=1e-6)
    np.testing.assert_allclose(b.to_numpy(Tanh(b.xp).forward(xd)), np.tanh(x), rtol=1e-6)
    big = b.to_numpy(Sigmoid(b.xp).forward(b.asarray(np.array([[-1e4, 1e4]], np.float32))))
    assert np.all(np.isfinite(big))  # no overflow, no NaN
    np.testing.assert_allclose(big, [[0.0, 1.0]], atol=1e-30)


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-14)])
def test_sigmoid_activation_is_the_logistic_function(backend_name, dtype, rtol):
    # the activation against the exact 1 / (1 + exp(-z)) (float64 on the host): relatively
    # accurate down to the floor at z = -80 (small values are not flushed to 0), in [0, 1],
    # without overflow far out on either side
    b = get_backend(backend_name, dtype=dtype)
    z = np.concatenate([np.linspace(-80.0, 60.0, 4001), [-1e4, -90.0, 90.0, 1e4]]).astype(dtype)
    exact = 1.0 / (1.0 + np.exp(-np.clip(z.astype(np.float64), -80.0, 700.0)))
    got = b.to_numpy(Sigmoid(b.xp).forward(b.asarray(z))).astype(np.float64)
    assert np.all((got > 0.0) & (got <= 1.0))
    np.testing.assert_allclose(got, exact, rtol=rtol, atol=0.0)


def test_probabilities_keep_the_sigmoids_relative_accuracy_near_zero(backend_name):
    # probabilities (whose logarithms users take): sigmoid(-30) is 9.4e-14, not 0
    b = get_backend(backend_name)
    z = b.asarray(np.array([[-30.0], [0.0]], dtype=np.float32))
    p = b.to_numpy(BinaryCrossEntropy(b.xp).probabilities(z)).astype(np.float64)
    np.testing.assert_allclose(p[:, -1], [1.0 / (1.0 + np.exp(30.0)), 0.5], rtol=1e-5)


def test_batchnorm_gradients_training_mode(backend_name, rng):
    b = _b64(backend_name)
    x = rng.normal(loc=2.0, scale=3.0, size=(6, 4))
    params = {"gamma": _dev(b, rng.uniform(0.5, 2.0, size=4)),
              "beta": _dev(b, rng.normal(size=4))}
    layer = BatchNormalization(params, "gamma", "beta")
    _check_layer(b, layer, x, params, ("gamma", "beta"), rng.normal(size=(6, 4)))
    assert b.to_numpy(layer.dgamma).shape == (4,)


def test_dropout_gradient_with_frozen_mask(backend_name, rng):
    b = _b64(backend_name)
    x = rng.normal(size=(8, 5))
    layer = Dropout(b, ratio=0.4)
    layer.forward(_dev(b, x), True)
    mask = b.to_numpy(layer.mask).copy()
    layer.freeze_mask = True
    R = rng.normal(size=(8, 5))
    _check_layer(b, layer, x, {}, (), R)
    np.testing.assert_array_equal(b.to_numpy(layer.mask), mask)  # the mask stayed frozen
    np.testing.assert_allclose(b.to_numpy(layer.backward(_dev(b, R))), R * mask)


# ---------------------------------------------------------------------- loss gradients
def _check_loss(b, loss, z: np.ndarray, t) -> None:
    value = loss.forward(_dev(b, z), t)
    assert np.asarray(b.to_numpy(value)).shape == ()
    dz = b.to_numpy(loss.backward(1.0)).copy()
    numeric = central_difference(lambda zh: b.to_float(loss.forward(_dev(b, zh), t)), z)
    assert_grad_close(dz, numeric, RTOL, type(loss).__name__)
    # backward(dout) scales linearly (a loss used inside a larger graph)
    loss.forward(_dev(b, z), t)
    np.testing.assert_allclose(b.to_numpy(loss.backward(2.5)), 2.5 * dz, rtol=1e-12)


def test_softmax_cross_entropy_integer_labels(backend_name, rng):
    b = _b64(backend_name)
    z = rng.normal(size=(5, 3)) * 2.0
    labels = np.array([0, 2, 1, 2, 0])
    t = b.asarray(labels, dtype="int64")
    _check_loss(b, SoftmaxCrossEntropy(b.xp), z, t)
    # value: the mean of -log softmax at the label
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(5), labels]))
    assert b.to_float(SoftmaxCrossEntropy(b.xp).forward(_dev(b, z), t)) == \
        pytest.approx(expected, rel=1e-12)


def test_softmax_cross_entropy_one_hot_labels(backend_name, rng):
    b = _b64(backend_name)
    z = rng.normal(size=(5, 3)) * 2.0
    labels = np.array([1, 0, 2, 2, 1])
    onehot = np.eye(3)[labels]
    _check_loss(b, SoftmaxCrossEntropy(b.xp), z, _dev(b, onehot))
    # the same value as integer labels
    v_int = SoftmaxCrossEntropy(b.xp).forward(_dev(b, z), b.asarray(labels, dtype="int64"))
    v_hot = SoftmaxCrossEntropy(b.xp).forward(_dev(b, z), _dev(b, onehot))
    assert b.to_float(v_int) == pytest.approx(b.to_float(v_hot), rel=1e-12)


def test_binary_cross_entropy_from_logits(backend_name, rng):
    b = _b64(backend_name)
    z = rng.normal(size=(7, 1)) * 3.0
    y = (rng.uniform(size=(7, 1)) > 0.5).astype(np.float64)
    _check_loss(b, BinaryCrossEntropy(b.xp), z, _dev(b, y))
    s = 1 / (1 + np.exp(-z))
    expected = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s))
    assert b.to_float(BinaryCrossEntropy(b.xp).forward(_dev(b, z), _dev(b, y))) == \
        pytest.approx(expected, rel=1e-10)


def test_mean_squared_error(backend_name, rng):
    b = _b64(backend_name)
    y = rng.normal(size=(4, 3))
    t = rng.normal(size=(4, 3))
    _check_loss(b, MeanSquaredError(b.xp), y, _dev(b, t))
    assert b.to_float(MeanSquaredError(b.xp).forward(_dev(b, y), _dev(b, t))) == \
        pytest.approx(0.5 * np.mean((y - t) ** 2), rel=1e-12)


# ---------------------------------------------------------------------- stability
def test_softmax_loss_stable_for_huge_logits(backend_name):
    b = get_backend(backend_name)  # float32, where exp(1e4) overflows
    z = b.asarray(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], dtype=np.float32))
    loss = SoftmaxCrossEntropy(b.xp)
    value = b.to_float(loss.forward(z, b.asarray(np.array([0, 2]), dtype="int64")))
    assert np.isfinite(value)
    assert value == pytest.approx(5000.0, rel=1e-5)  # (0 + 1e4) / 2
    dz = b.to_numpy(loss.backward())
    assert np.all(np.isfinite(dz))
    np.testing.assert_allclose(dz, [[0, 0, 0], [0, 0.5, -0.5]], atol=1e-6)


def test_binary_cross_entropy_stable_for_large_logits(backend_name):
    b = get_backend(backend_name)
    z = b.asarray(np.array([[1e3], [-1e3], [1e3], [-1e3]], dtype=np.float32))
    y = b.asarray(np.array([[1.0], [0.0], [0.0], [1.0]], dtype=np.float32))
    loss = BinaryCrossEntropy(b.xp)
    value = b.to_float(loss.forward(z, y))
    assert np.isfinite(value)
    assert value == pytest.approx(500.0, rel=1e-6)  # (0 + 0 + 1e3 + 1e3) / 4
    dz = b.to_numpy(loss.backward())
    np.testing.assert_allclose(dz, [[0.0], [0.0], [0.25], [-0.25]], atol=1e-7)


# ---------------------------------------------------------------------- BatchNorm statistics
def _bn(b, rng, n_features=4, running="average"):
    params = {"gamma": b.asarray(rng.uniform(0.5, 2.0, size=n_features)),
              "beta": b.asarray(rng.normal(size=n_features))}
    return BatchNormalization(params, "gamma", "beta", momentum=0.9, running=running)


def _skewed_batch(rng, n=32):
    """Features whose means and variances differ (so mean-for-variance bugs show)."""
    mean = np.array([3.0, -1.0, 5.0, 0.5])
    std = np.array([2.0, 0.5, 1.0, 3.0])
    return (rng.normal(size=(n, 4)) * std + mean).astype(np.float32)


def test_batchnorm_eval_matches_training_after_many_passes(backend_name, rng):
    b = get_backend(backend_name)
    bn = _bn(b, rng)
    x = b.asarray(_skewed_batch(rng))
    for _ in range(200):
        y_train = bn.forward(x, train=True)
    y_eval = bn.forward(x, train=False)
    np.testing.assert_allclose(b.to_numpy(y_eval), b.to_numpy(y_train), atol=1e-4)
    # and the training output is normalized per feature
    xhat = (b.to_numpy(y_train) - b.to_numpy(bn.params["beta"])) / b.to_numpy(bn.params["gamma"])
    np.testing.assert_allclose(xhat.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(xhat.var(axis=0), 1.0, rtol=1e-3)


def test_batchnorm_running_var_uses_batch_variance(backend_name, rng):
    """Regression test for seed 003, which updated running_var from the batch mean (with
    PyTorch's buffers: 0 and 1 at first, then the moving average from the first step)."""
    b = get_backend(backend_name)
    bn = _bn(b, rng, running="pytorch")
    xh = _skewed_batch(rng)
    bn.forward(b.asarray(xh), train=True)
    mean = xh.astype(np.float64).mean(axis=0)
    var = xh.astype(np.float64).var(axis=0)  # biased, as normalization uses
    np.testing.assert_allclose(b.to_numpy(bn.running_mean), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.to_numpy(bn.running_var), 0.9 + 0.1 * var, rtol=1e-5)
    assert not np.allclose(b.to_numpy(bn.running_var), 0.9 + 0.1 * mean, rtol=1e-2)
    # eval mode uses the running statistics, not the batch's
    y = b.to_numpy(bn.forward(b.asarray(xh), train=False))
    gamma, beta = b.to_numpy(bn.params["gamma"]), b.to_numpy(bn.params["beta"])
    expected = (xh - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + bn.eps) * gamma + beta
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_batchnorm_running_statistics_are_right_from_the_first_step(backend_name, rng):
    """The default running statistics: the batch's own after one step, the plain average of
    the batches until the moving average takes over (1/k < 1 - momentum), whatever the
    scale: a batch variance of 1e-6 is not drowned by an initial 1."""
    b = get_backend(backend_name)
    bn = _bn(b, rng)
    batches = [_skewed_batch(rng) * 1e-3 for _ in range(12)]
    for k, xh in enumerate(batches, start=1):
        bn.forward(b.asarray(xh), train=True)
        seen = np.stack([x.astype(np.float64) for x in batches[:k]])
        if k == 1:
            np.testing.assert_allclose(b.to_numpy(bn.running_var), seen[0].var(axis=0),
                                       rtol=1e-4)
        if k <= 10:  # 1/k >= 1 - momentum: the plain average so far
            np.testing.assert_allclose(b.to_numpy(bn.running_mean),
                                       seen.mean(axis=1).mean(axis=0), rtol=1e-4, atol=1e-9)
            np.testing.assert_allclose(b.to_numpy(bn.running_var),
                                       seen.var(axis=1).mean(axis=0), rtol=1e-4)
    assert bn.num_batches_tracked == 12
    y = b.to_numpy(bn.forward(b.asarray(batches[-1]), train=False))
    assert np.all(np.abs(y) < 10.0)  # normalized by the small variance, not by 1
    with pytest.raises(ValueError, match="running='torch'"):
        BatchNormalization(bn.params, running="torch")


# ---------------------------------------------------------------------- Dropout
def test_dropout_identity_in_eval(backend_name, rng):
    b = get_backend(backend_name)
    xh = rng.normal(size=(16, 10)).astype(np.float32)
    layer = Dropout(b, ratio=0.5)
    out = layer.forward(b.asarray(xh), train=False)
    np.testing.assert_array_equal(b.to_numpy(out), xh)
    np.testing.assert_array_equal(b.to_numpy(layer.backward(b.asarray(xh))), xh)


def test_dropout_inverted_scaling_in_training(backend_name, rng):
    b = get_backend(backend_name, random_state=1)
    ratio = 0.3
    xh = (rng.normal(size=(64, 50)) + 5.0).astype(np.float32)  # no zeros in x
    layer = Dropout(b, ratio=ratio)
    out = layer.forward(b.asarray(xh), train=True)
    mask = layer.mask
    # the mask is drawn on the device, by the backend's own library
    assert library_of(mask) == b.name
    if b.device is not None:
        assert mask.device == b.device
    y = b.to_numpy(out)
    dropped = y == 0.0
    kept = ~dropped
    np.testing.assert_allclose(y[kept], xh[kept] / (1.0 - ratio), rtol=1e-6)
    assert abs(dropped.mean() - ratio) < 0.04  # 3200 units: std 0.008
    # a fresh mask each training pass
    layer.forward(b.asarray(xh), train=True)
    assert not np.array_equal(b.to_numpy(layer.mask), b.to_numpy(mask))
    with pytest.raises(ValueError, match="dropout_ratio"):
        Dropout(b, ratio=1.0)
