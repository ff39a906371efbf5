"""The book's chapter-6 semantics ("Deep Learning from Scratch"), on every backend.

A written-out NumPy float64 reference of the book's update rules (from the formulas, not the
book's code) runs in lock-step with MultiLayerNetExtend + Trainer from the same weights and
batches; the Trainer's lists, train_step and current_iter mean what the book's mean.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backends import library_of

RNG = np.random.default_rng(7)
X = RNG.normal(size=(60, 5))
T = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)


def _host(net, arrays):
    return {k: np.array(net.backend.to_numpy(v), dtype=np.float64) for k, v in arrays.items()}


# ---------------------------------------------------------------------- the reference
def _reference_gradient(p, x, t, n_hidden, lam, eps=1e-6):
    """Loss and gradients of Affine-BatchNorm-ReLU (x n_hidden) - Affine - softmax CE with
    weight decay lam/2 sum W^2, written from the formulas in float64."""
    caches, h = [], x
    for i in range(1, n_hidden + 1):
        z = h @ p[f"W{i}"] + p[f"b{i}"]
        mu, var = z.mean(axis=0), z.var(axis=0)
        std = np.sqrt(var + eps)
        zhat = (z - mu) / std
        a = np.maximum(p[f"gamma{i}"] * zhat + p[f"beta{i}"], 0.0)
        caches.append((h, zhat, std, a))
        h = a
    k = n_hidden + 1
    s = h @ p[f"W{k}"] + p[f"b{k}"]
    e = np.exp(s - s.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(y[np.arange(n), t]).mean()
    loss += 0.5 * lam * sum((p[f"W{i}"] ** 2).sum() for i in range(1, k + 1))
    g = {}
    d = y.copy()
    d[np.arange(n), t] -= 1.0
    d /= n
    g[f"W{k}"], g[f"b{k}"] = h.T @ d, d.sum(axis=0)
    d = d @ p[f"W{k}"].T
    for i in range(n_hidden, 0, -1):
        h_in, zhat, std, a = caches[i - 1]
        d = d * (a > 0)
        g[f"gamma{i}"], g[f"beta{i}"] = (d * zhat).sum(axis=0), d.sum(axis=0)
        dz_hat = d * p[f"gamma{i}"]
        d = (n * dz_hat - dz_hat.sum(axis=0) - zhat * (dz_hat * zhat).sum(axis=0)) / (n * std)
        g[f"W{i}"], g[f"b{i}"] = h_in.T @ d, d.sum(axis=0)
        d = d @ p[f"W{i}"].T
    for i in range(1, k + 1):
        g[f"W{i}"] = g[f"W{i}"] + lam * p[f"W{i}"]
    return loss, g


def _reference_step(name, p, g, state, lr):
    """The book's optimizers, from their published rules."""
    for key in p:
        if name == "sgd":
            p[key] -= lr * g[key]
        elif name == "momentum":
            v = state.setdefault(key, np.zeros_like(p[key]))
            v *= 0.9
            v -= lr * g[key]
            p[key] += v
        elif name == "adagrad":
            h = state.setdefault(key, np.zeros_like(p[key]))
            h += g[key] * g[key]
            p[key] -= lr * g[key] / (np.sqrt(h) + 1e-7)
        elif name == "rmsprop":
            h = state.setdefault(key, np.zeros_like(p[key]))
            h *= 0.99
            h += 0.01 * g[key] * g[key]
            p[key] -= lr * g[key] / (np.sqrt(h) + 1e-7)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "rmsprop"])
def test_lock_step_with_the_books_rules(optimizer, backend_name):
    net = xpnet.MultiLayerNetExtend(5, [6, 4], 3, use_batchnorm=True, weight_decay_lambda=0.01,
                                    weight_init_std=0.3, backend=backend_name, dtype="float64",
                                    random_state=0)
    ref = _host(net, net.params)
    trainer = xpnet.Trainer(net, X, T, epochs=3, mini_batch_size=16, optimizer=optimizer,
                            optimizer_param={"lr": 0.05}, shuffle=False, verbose=False)
    trainer.train()
    state, losses = {}, []
    for _ in range(3):
        for start in range(0, len(X), 16):
            xb, tb = X[start:start + 16], T[start:start + 16]
            loss, g = _reference_gradient(ref, xb, tb, 2, 0.01)
            losses.append(loss)
            _reference_step(optimizer, ref, g, state, 0.05)
    for key, value in _host(net, net.params).items():
        # atol: the biases before BatchNorm have a zero gradient: only rounding moves them
        np.testing.assert_allclose(value, ref[key], rtol=1e-9, atol=1e-9, err_msg=key)
    np.testing.assert_allclose(trainer.train_loss_list, losses, rtol=1e-9)


# ---------------------------------------------------------------------- the Trainer's meanings
def test_test_accuracy_is_measured_on_the_whole_test_set(backend_name):
    """Before: x_test[:len(x_train)] was evaluated (0.98 listed against 0.126 here)."""
    x_train, t_train = X[:10], T[:10]
    x_test = np.concatenate([X[:10], X])
    t_test = np.concatenate([T[:10], (T + 1) % 3])  # the first 10 rows agree, the rest not
    net = xpnet.MultiLayerNetExtend(5, [8], 3, backend=backend_name, random_state=0)
    trainer = xpnet.Trainer(net, x_train, t_train, x_test, t_test, epochs=2, verbose=False)
    trainer.train()
    assert trainer.test_acc_list[-1] == pytest.approx(net.accuracy(x_test, t_test), abs=1e-6)
    sampled = xpnet.Trainer(net, x_train, t_train, x_test, t_test, epochs=1, verbose=False,
                            evaluate_sample_num_per_epoch=10)
    sampled.train()
    assert sampled.test_acc_list[-1] == pytest.approx(net.accuracy(x_test[:10], t_test[:10]),
                                                      abs=1e-6)


def test_train_step_and_current_iter_mean_what_the_books_mean(backend_name):
    """The book's loop: ``for i in range(trainer.max_iter): trainer.train_step()``; one loss
    per iteration, one accuracy per epoch, the same run as ``train()``."""
    kw = dict(epochs=3, mini_batch_size=16, optimizer="adam", optimizer_param={"lr": 0.01},
              verbose=False)
    net_a = xpnet.MultiLayerNetExtend(5, [8], 3, backend=backend_name, random_state=0)
    by_train = xpnet.Trainer(net_a, X, T, X, T, **kw)
    by_train.train()
    net_b = xpnet.MultiLayerNetExtend(5, [8], 3, backend=backend_name, random_state=0)
    by_step = xpnet.Trainer(net_b, X, T, X, T, **kw)
    assert by_step.iter_per_epoch == 4 and by_step.max_iter == 12
    for i in range(by_step.max_iter):
        by_step.train_step()
        assert by_step.current_iter == i + 1 and len(by_step.train_loss_list) == i + 1
    assert by_step.current_epoch == by_train.current_epoch == 3
    assert len(by_step.train_acc_list) == len(by_step.test_acc_list) == 3
    np.testing.assert_allclose(by_step.train_loss_list, by_train.train_loss_list, rtol=1e-6)
    np.testing.assert_allclose(net_b.backend.to_numpy(net_b.flat),
                               net_a.backend.to_numpy(net_a.flat), rtol=1e-6)
    per_epoch = np.asarray(by_train.train_loss_list).reshape(3, 4)
    sizes = np.array([16, 16, 16, 12])
    np.testing.assert_allclose(by_train.history["loss"], per_epoch @ sizes / 60, rtol=1e-5)


def test_the_same_random_state_is_the_same_run_on_every_backend(backend_name):
    """The epoch's shuffle is drawn on the host from the seed and moved once, so without
    dropout every backend computes the same training (here against NumPy, in float64)."""
    nets = []
    for name in ("numpy", backend_name):
        net = xpnet.MultiLayerNetExtend(5, [8, 6], 3, use_batchnorm=True, dtype="float64",
                                        backend=name, random_state=3)
        xpnet.Trainer(net, X, T, epochs=3, mini_batch_size=16, optimizer="adam",
                      optimizer_param={"lr": 0.01}, verbose=False).train()
        nets.append(net.backend.to_numpy(net.flat))
    # atol: the biases before BatchNorm have a zero gradient: only rounding moves them
    np.testing.assert_allclose(nets[1], nets[0], rtol=1e-9, atol=1e-8)


def test_dropout_ration_is_the_books_keyword():
    net = xpnet.MultiLayerNetExtend(5, [8], 3, use_dropout=True, dropout_ration=0.15)
    assert net.dropout_ratio == 0.15 and net.get_config()["dropout_ratio"] == 0.15


def test_gradient_returns_the_networks_arrays_for_the_books_update(backend_name):
    """``network.gradient`` keeps gradients on the network's backend, keyed like ``params``,
    so the book's ``optimizer.update(network.params, grads)`` works on every backend."""
    net = xpnet.MultiLayerNetExtend(5, [8], 3, use_batchnorm=True, backend=backend_name,
                                    random_state=0)
    grads = net.gradient(X[:8], T[:8])
    assert set(grads) == set(net.params)
    assert {library_of(g) for g in grads.values()} == {library_of(net.flat)}
    before = net.loss(X, T)
    opt = xpnet.SGD(lr=0.1)
    for _ in range(20):
        opt.update(net.params, net.gradient(X, T))
    assert net.loss(X, T) < before


# ---------------------------------------------------------------------- BatchNorm at small scales
@pytest.mark.parametrize("scale", [0.01, 0.003])
def test_batchnorm_eval_tracks_training_early_at_small_weight_scales(scale, digits):
    """With PyTorch's buffers (running variance starting at 1) a network whose batch variance
    is ~1e-6 evaluates at chance for epochs; the default running statistics do not."""
    accuracy = {}
    for running in ("average", "pytorch"):
        net = xpnet.MultiLayerNetExtend(64, [100, 100, 100], 10, use_batchnorm=True,
                                        weight_init_std=scale, batchnorm_running=running,
                                        random_state=0)
        trainer = xpnet.Trainer(net, digits.x_train, digits.y_train, epochs=2,
                                mini_batch_size=100, optimizer="sgd",
                                optimizer_param={"lr": 0.01}, verbose=False)
        trainer.train()
        accuracy[running] = trainer.train_acc_list[-1]
    assert accuracy["average"] > 0.5 > 0.2 > accuracy["pytorch"]
