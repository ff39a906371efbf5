"""Property-based tests (hypothesis) over shapes, batch sizes, dtypes and layer stacks, on every
backend: output shapes, backprop against central differences, finiteness for bounded finite
inputs, and eval-mode predictions that do not depend on how the input is split into batches."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from _gradcheck import assert_grad_close, one_thread  # noqa: F401 - autouse fixture
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import xpnet
from xpnet.backend import get_backend

to_numpy = get_backend("numpy").to_numpy
SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@st.composite
def networks(draw, smooth: bool = False, dtypes=("float32", "float64")):
    """Keyword arguments of a MultiLayerNetExtend: a random layer stack."""
    activations = ["sigmoid", "tanh", "identity"] + ([] if smooth else ["relu"])
    return dict(
        input_size=draw(st.integers(1, 5)),
        hidden_size_list=draw(st.lists(st.integers(1, 6), min_size=0, max_size=3)),
        output_size=draw(st.integers(1, 4)),
        activation=draw(st.sampled_from(activations)),
        use_batchnorm=draw(st.booleans()),
        use_dropout=draw(st.booleans()),
        dropout_ratio=draw(st.sampled_from([0.0, 0.2, 0.5])),
        weight_init_std=draw(st.sampled_from(["relu", "xavier", "lecun", 0.5])),
        dtype=draw(st.sampled_from(dtypes)),
        random_state=draw(st.integers(0, 2**16)),
    )


def _data(kw: dict, n: int, seed: int, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-scale, scale, size=(n, kw["input_size"]))
    t = rng.integers(0, kw["output_size"], size=n)
    return x, t


@settings(max_examples=30, **SETTINGS)
@given(kw=networks(), n=st.integers(1, 17), seed=st.integers(0, 1000),
       scale=st.sampled_from([1e-3, 1.0, 100.0]))
def test_shapes_and_finiteness(backend_name, kw, n, seed, scale):
    """Any stack, any batch size, any bounded finite input: (n, out) finite outputs, a finite
    loss and finite gradients of the right shapes, in train and eval mode."""
    net = xpnet.MultiLayerNetExtend(backend=backend_name, **kw)
    x, t = _data(kw, n, seed, scale)
    for train in (False, True):
        y = net.predict(x, train_flg=train)
        assert isinstance(y, np.ndarray) and y.shape == (n, kw["output_size"])
        assert y.dtype == np.dtype(kw["dtype"]) and np.isfinite(y).all()
    loss = net.loss(x, t, train_flg=True)
    assert np.isfinite(loss)
    grads = net.gradient(x, t)
    assert set(grads) == set(net.params)
    for key, g in grads.items():
        g = to_numpy(g)
        assert g.shape == tuple(net.param_shapes[key]) and np.isfinite(g).all(), key


@settings(max_examples=15, **SETTINGS)
@given(kw=networks(smooth=True, dtypes=("float64",)), n=st.integers(2, 5),
       seed=st.integers(0, 1000), decay=st.sampled_from([0.0, 0.1]),
       loss=st.sampled_from(["softmax_cross_entropy", "mse", "binary_cross_entropy"]))
def test_backprop_matches_central_differences(backend_name, kw, n, seed, decay, loss):
    """float64, small stacks, smooth activations: gradient() == numerical_gradient() (dropout
    masks frozen, BatchNorm in training mode, weight decay included)."""
    if loss == "binary_cross_entropy":
        kw["output_size"] = 1
    net = xpnet.MultiLayerNetExtend(backend=backend_name, weight_decay_lambda=decay, loss=loss,
                                    **kw)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, kw["input_size"]))
    if loss == "softmax_cross_entropy":
        t = rng.integers(0, kw["output_size"], size=n)
    elif loss == "mse":
        t = rng.normal(size=(n, kw["output_size"]))
    else:
        t = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    analytic = net.gradient(x, t)  # draws the dropout masks that numerical_gradient freezes
    numeric = net.numerical_gradient(x, t)
    for key in net.params:
        assert_grad_close(to_numpy(analytic[key]), to_numpy(numeric[key]), rtol=1e-5,
                          atol=1e-7, name=key)


@settings(max_examples=25, **SETTINGS)
@given(kw=networks(), n=st.integers(2, 40), cuts=st.lists(st.integers(1, 39), max_size=4),
       seed=st.integers(0, 1000), train_steps=st.integers(0, 2))
def test_predict_is_invariant_to_batch_splitting(backend_name, kw, n, cuts, seed, train_steps):
    """Eval mode (BatchNorm on running statistics, dropout off): predicting chunks and
    concatenating equals predicting the whole array."""
    net = xpnet.MultiLayerNetExtend(backend=backend_name, **kw)
    x, t = _data(kw, n, seed)
    if train_steps:  # move the running statistics away from their initial values
        xpnet.Trainer(net, x, t, epochs=train_steps, mini_batch_size=8, verbose=False,
                      optimizer="adam", optimizer_param={"lr": 0.01}).train()
    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    whole = net.predict(x)
    parts = np.concatenate([net.predict(x[a:b]) for a, b in pairwise(bounds)])
    rtol = 1e-5 if kw["dtype"] == "float32" else 1e-12
    np.testing.assert_allclose(parts, whole, rtol=rtol, atol=rtol)
    again = net.predict(x)  # eval mode draws nothing and changes nothing
    np.testing.assert_array_equal(again, whole)


@settings(max_examples=20, **SETTINGS)
@given(cls=st.sampled_from([xpnet.SingleLayer, xpnet.DualLayer, xpnet.MinibatchNetwork]),
       n=st.integers(1, 30), d=st.integers(1, 4), units=st.integers(1, 5),
       batch=st.integers(1, 40), epochs=st.integers(1, 3), seed=st.integers(0, 1000),
       dtype=st.sampled_from(["float32", "float64"]))
def test_seed_models_shapes_and_splitting(backend_name, cls, n, d, units, batch, epochs, seed,
                                          dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, 2, size=n)
    kw = {} if cls is xpnet.SingleLayer else {"units": units}
    if cls is xpnet.MinibatchNetwork:
        kw["batch_size"] = batch
    model = cls(backend=backend_name, dtype=dtype, random_state=seed, **kw)
    model.fit(x, y, epochs=epochs)
    assert len(model.losses) == epochs and np.isfinite(model.losses).all()
    proba = model.predict_proba(x)
    assert proba.shape == (n, 1) and proba.dtype == np.dtype(dtype)
    assert ((proba >= 0) & (proba <= 1)).all()
    assume(n >= 2)
    half = n // 2
    parts = np.concatenate([model.predict_proba(x[:half]), model.predict_proba(x[half:])])
    np.testing.assert_allclose(parts, proba, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x), proba > 0.5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float64_input_never_promotes(dtype, backend_name):
    """Deterministic companion: host float64, int and bool inputs keep the model's dtype."""
    net = xpnet.MultiLayerNetExtend(3, [4], 2, use_batchnorm=True, dtype=dtype,
                                    backend=backend_name, random_state=0)
    for x in (np.ones((2, 3)), np.ones((2, 3), dtype=np.int64), np.ones((2, 3), dtype=bool)):
        assert net.predict(x).dtype == np.dtype(dtype)
        grads = net.gradient(x, [0, 1])
        assert all(g.dtype == net.backend.dtype for g in grads.values())
