"""The backend's kernels: compiled (numba) and fallback paths compute exactly what the plain
Array API code computes, and gradients written into the network's flat buffer are the same as
freshly allocated ones."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from _gradcheck import adam_reference

import xpnet
from xpnet.backends import (
    Backend,
    NumpyBackend,
    backend_of,
    get_backend,
    namespace_of,
    numpy_backend,
)
from xpnet.backends import numba_kernels as cpu_kernels
from xpnet.layers import Dense, ReLU
from xpnet.optimizers import Adam

needs_numba = pytest.mark.skipif(not cpu_kernels.AVAILABLE, reason=cpu_kernels.REASON)


def _adam_state(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p, g, m = (rng.normal(size=n).astype(dtype) for _ in range(3))
    v = (rng.normal(size=n) ** 2).astype(dtype)
    return p, g, m, v


def _counting(monkeypatch, name):
    """Replace numba_kernels.<name> by a wrapper that records the size of each call."""
    calls, real = [], getattr(cpu_kernels, name)

    def spy(*args):
        calls.append(args[0].size)
        return real(*args)

    monkeypatch.setattr(cpu_kernels, name, spy)
    return calls


def _without_numba(monkeypatch):
    monkeypatch.setattr(cpu_kernels, "AVAILABLE", False)  # as without numba: the ufunc paths


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_adam_is_bitwise_the_ufunc_chain(dtype, monkeypatch):
    """Same IEEE operations in the same order: the one-pass kernel and the twelve in-place
    ufuncs agree to the last bit, in float32 too (no fast-math, no float64 detour)."""
    n = NumpyBackend.COMPILED_MIN_SIZE + 7
    b = NumpyBackend()
    a, c = _adam_state(n, dtype), _adam_state(n, dtype)
    calls = _counting(monkeypatch, "adam")
    for _ in range(3):
        b.adam(*a, 0.9, 0.999, 3e-3, 1e-8)
    assert calls == [n] * 3  # the compiled pass really ran
    _without_numba(monkeypatch)
    for _ in range(3):
        b.adam(*c, 0.9, 0.999, 3e-3, 1e-8)
    assert calls == [n] * 3
    for x, y in zip(a, c, strict=True):
        assert x.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("use_kernels", [True, False])
def test_numpy_adam_matches_the_formula(use_kernels, monkeypatch):
    if use_kernels and not cpu_kernels.AVAILABLE:
        pytest.skip(cpu_kernels.REASON)
    if not use_kernels:
        _without_numba(monkeypatch)
    n = NumpyBackend.COMPILED_MIN_SIZE + 1
    p, g, m, v = _adam_state(n, "float64", seed=1)
    want = adam_reference(p, g, m, v, 0.9, 0.999, 1e-2, 1e-8)
    NumpyBackend().adam(p, g, m, v, 0.9, 0.999, 1e-2, 1e-8)
    for got, exp in zip((p, m, v), want, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-14, atol=1e-15)


def test_numpy_adam_takes_non_contiguous_and_mixed_dtypes():
    """Arrays the compiled pass cannot run on in place (views, a float64 gradient for float32
    weights) take the kernel's in-place ufuncs: the optimizer's Array API step, bit for bit on
    views and to float32 rounding for the dtype mix."""
    b = NumpyBackend()
    for cut, gdtype in ((slice(None, None, 2), "float32"), (slice(None), "float64")):
        p, g, m, v = _adam_state(20, "float32")
        g = g.astype(gdtype)
        fused, plain = {"w": p[cut]}, {"w": p.copy()[cut]}
        grads = {"w": g[cut]}
        for opt, params in ((Adam(1e-3).bind(b), fused), (Adam(1e-3, fused=False), plain)):
            assert (opt.fused_adam is not None) == (params is fused)
            for _ in range(2):
                opt.update(params, grads)
        if gdtype == "float32":
            np.testing.assert_array_equal(fused["w"], plain["w"])
        np.testing.assert_allclose(fused["w"], plain["w"], rtol=1e-6)
        assert fused["w"].dtype == np.float32


@needs_numba
def test_adam_bound_to_numpy_runs_the_compiled_kernel_on_a_big_buffer(monkeypatch):
    """Optimizer.bind chooses the backend's Adam once; an unbound optimizer (the book's
    update on plain dicts) and one whose state was restored by hand bind themselves from the
    first array, so none of them loses the compiled kernel."""
    calls = _counting(monkeypatch, "adam")
    b = get_backend("numpy", dtype="float64")
    n = NumpyBackend.COMPILED_MIN_SIZE
    grads = {"flat": b.asarray(np.ones(n))}
    bound = Adam(lr=0.01).bind(b)
    assert bound.backend is b and bound.xp is b.xp and bound.fused_adam is not None
    bound.update({"flat": b.zeros(n)}, grads)
    assert calls == [n]
    unbound = Adam(lr=0.01)
    unbound.update({"flat": b.zeros(n)}, grads)
    assert isinstance(unbound.backend, NumpyBackend) and unbound.backend is backend_of(b.zeros(1))
    assert calls == [n, n]
    restored = Adam(lr=0.01)  # as a loader restores xp and state
    restored.xp, restored.state = b.xp, {"flat": {"m": b.zeros(n), "v": b.zeros(n)}}
    restored.update({"flat": b.zeros(n)}, grads)
    assert calls == [n, n, n]
    plain = Adam(lr=0.01, fused=False)
    plain.update({"flat": b.zeros(n)}, grads)
    assert plain.fused_adam is None and calls == [n, n, n]


EDGE = [0.0, -0.0, 1.5, -2.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, -80.0, -80.5]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scalar", [0.0, -80.0, 0, 0.1])
def test_fast_maximum_is_np_maximum(dtype, scalar):
    """Big arrays take the compiled path; the result equals np.maximum bit for bit, NaN and
    signed zeros included, with NumPy's dtype rules for a Python scalar."""
    xp = get_backend("numpy").xp
    rng = np.random.default_rng(0)
    x = rng.normal(scale=100, size=(64, 160)).astype(dtype)  # 10240 >= the threshold
    x.flat[:len(EDGE)] = EDGE
    got, want = xp.maximum(x, scalar), np.maximum(x, scalar)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_where_is_np_where(dtype):
    xp = get_backend("numpy").xp
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 96)).astype(dtype)
    x.flat[:len(EDGE)] = EDGE
    cond = rng.random(x.shape) > 0.5
    for scalar in (0.0, 2.5, -1):
        got, want = xp.where(cond, x, scalar), np.where(cond, x, scalar)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))
    # shapes that broadcast, arrays as both operands, small arrays: NumPy's own path
    np.testing.assert_array_equal(xp.where(cond[:1], x, 0.0), np.where(cond[:1], x, 0.0))
    np.testing.assert_array_equal(xp.where(cond, x, x[::-1]), np.where(cond, x, x[::-1]))
    np.testing.assert_array_equal(xp.maximum(x[:2], 0.0), np.maximum(x[:2], 0.0))
    np.testing.assert_array_equal(xp.maximum(x.T, 0.0), np.maximum(x.T, 0.0))


def test_without_numba_everything_still_trains():
    """XPNET_NUMBA=0: kernels off, the ufunc paths train the same network to the same loss."""
    code = (
        "import numpy as np, xpnet\n"
        "from xpnet import cpu_kernels\n"
        "assert not cpu_kernels.AVAILABLE and 'XPNET_NUMBA=0' in cpu_kernels.REASON\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=(512, 300)).astype('float32'); t = rng.integers(0, 4, 512)\n"
        "net = xpnet.MultiLayerNet(300, [256], 4, random_state=0)\n"
        "h = xpnet.Trainer(net, x, t, epochs=2, mini_batch_size=64, optimizer='adam',\n"
        "                  optimizer_param={'lr': 1e-3}, verbose=False).train()\n"
        "print(repr(h['loss'][-1]))\n"
    )
    env = dict(os.environ, XPNET_NUMBA="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 300)).astype("float32")
    t = rng.integers(0, 4, 512)
    net = xpnet.MultiLayerNet(300, [256], 4, random_state=0)  # 78k parameters: compiled Adam
    h = xpnet.Trainer(net, x, t, epochs=2, mini_batch_size=64, optimizer="adam",
                      optimizer_param={"lr": 1e-3}, verbose=False).train()
    assert math.isfinite(h["loss"][-1])
    assert float(out) == pytest.approx(h["loss"][-1], rel=1e-5)


def test_backend_ops_describe_what_runs():
    assert "numba" in get_backend("numpy").ops.describe() or not cpu_kernels.AVAILABLE
    assert get_backend("array_api_strict").ops.describe() == "array-api"


# ---------------------------------------------------------------- gradients in a flat buffer
def test_backward_writes_into_grad_flat_and_gradient_returns_copies(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5, 3], 3, use_batchnorm=True, weight_decay_lambda=0.1,
                                    backend=backend_name, dtype="float64", random_state=0)
    b = net.backend
    x1, t1 = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    x2, t2 = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    g1 = net.gradient(x1, t1)
    kept = {k: b.to_numpy(v).copy() for k, v in g1.items()}
    net.gradient(x2, t2)  # must not change what the first call returned
    for k in kept:
        np.testing.assert_array_equal(b.to_numpy(g1[k]), kept[k])
    # backward's views ARE the flat buffer the optimizer steps on
    loss, flat = net.flat_gradient(b.asarray(x1), b.asarray(t1, dtype="int64"))
    assert flat is net.grad_flat
    views = net.backward()
    np.testing.assert_allclose(
        np.concatenate([b.to_numpy(views[k]).ravel() for k in net.params]),
        b.to_numpy(net.grad_flat), rtol=0, atol=0)


def test_standalone_dense_returns_fresh_gradients(backend_name, rng):
    """A Dense built by hand (no network buffers) allocates its gradients, so a kept dW is
    not overwritten by the next backward."""
    b = get_backend(backend_name, dtype="float64")
    params = {"W": b.asarray(rng.normal(size=(3, 2))), "b": b.asarray(np.zeros(2))}
    layer = Dense(params)
    assert isinstance(layer.ops, Backend) and layer.ops is backend_of(params["W"])
    layer.forward(b.asarray(rng.normal(size=(4, 3))))
    layer.backward(b.asarray(np.ones((4, 2))))
    dw1 = layer.dW
    first = b.to_numpy(dw1).copy()
    layer.forward(b.asarray(rng.normal(size=(4, 3))))
    layer.backward(b.asarray(2 * np.ones((4, 2))))
    np.testing.assert_array_equal(b.to_numpy(dw1), first)
    assert layer.dW is not dw1


def test_ops_out_matches_plain(backend_name, rng):
    """matmul/sum_rows into a view give the same numbers as the plain operators."""
    b = get_backend(backend_name, dtype="float64")
    xp, ops = b.xp, b.ops
    a, c = b.asarray(rng.normal(size=(6, 4))), b.asarray(rng.normal(size=(6, 3)))
    flat = b.zeros(12 + 3 + 5)
    w_out = xp.reshape(flat[:12], (4, 3))
    s_out = flat[12:15]
    assert ops.matmul(a.T, c, out=w_out) is w_out
    assert ops.sum_rows(c, out=s_out) is s_out
    np.testing.assert_allclose(b.to_numpy(flat[:12]).reshape(4, 3), b.to_numpy(a.T @ c),
                               rtol=1e-13)
    np.testing.assert_allclose(b.to_numpy(flat[12:15]), b.to_numpy(xp.sum(c, axis=0)),
                               rtol=1e-13)
    assert not np.any(b.to_numpy(flat[15:]))  # nothing written past the views
    np.testing.assert_allclose(b.to_numpy(ops.matmul(a.T, c)), b.to_numpy(a.T @ c), rtol=1e-13)


def test_relu_layer_uses_fast_path_and_agrees(rng):
    """ReLU forward/backward on a big batch (compiled where/maximum) equal NumPy's formulas."""
    b = get_backend("numpy")
    relu = ReLU(b.xp)
    x = rng.normal(size=(256, 64)).astype("float32")
    d = rng.normal(size=x.shape).astype("float32")
    np.testing.assert_array_equal(relu.forward(x, True), np.maximum(x, 0.0))
    np.testing.assert_array_equal(relu.backward(d), np.where(x > 0, d, 0.0))
    assert namespace_of(x) is not b.xp  # the model's namespace is the backend's own


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_softmax_cross_entropy_is_the_array_api_loss(dtype, monkeypatch):
    """The one-pass kernel gives the Array API code's loss and gradient: big logits (shifted,
    no overflow), a row of ties, and a label outside [0, C), which matches no class in both."""
    from xpnet.losses import SoftmaxCrossEntropy

    rng = np.random.default_rng(4)
    z = (rng.normal(size=(200, 10)) * 30).astype(dtype)
    z[0] = 1e4
    z[1, 3] = -1e4
    t = rng.integers(0, 10, 200)
    t[5] = 10
    b = get_backend("numpy", dtype=dtype)
    fused, plain = SoftmaxCrossEntropy(b.xp, b.ops), SoftmaxCrossEntropy(b.xp)
    assert fused.fused is not None and plain.fused is None
    calls = _counting(monkeypatch, "softmax_cross_entropy")
    tol = 2e-6 if dtype == "float32" else 1e-13
    lf, lp = fused.forward(z, t), plain.forward(z, t)
    assert calls == [z.size]  # the kernel really runs
    assert lf.dtype == lp.dtype == np.dtype(dtype) and lf.shape == ()
    np.testing.assert_allclose(lf, lp, rtol=tol)
    np.testing.assert_allclose(fused.backward(2.0), plain.backward(2.0), rtol=tol, atol=tol)
    # one-hot targets take the Array API path; small logits NumPy's ufuncs while numba is not
    # loaded (no numba start-up for toy models), and the kernel once it is: the same result
    onehot = np.eye(10, dtype=dtype)[t % 10]
    np.testing.assert_allclose(fused.forward(z, onehot), plain.forward(z, onehot), rtol=tol)
    with monkeypatch.context() as m:
        m.setattr(numpy_backend, "_kernels", None)  # as in a process that never loaded numba
        np.testing.assert_allclose(fused.forward(z[:4], t[:4]), plain.forward(z[:4], t[:4]),
                                   rtol=tol)
    assert calls == [z.size]
    np.testing.assert_allclose(fused.forward(z[:4], t[:4]), plain.forward(z[:4], t[:4]),
                               rtol=tol)
    assert calls == [z.size, 40]
    z[7, 2] = np.nan  # NaN logits give a NaN loss, as in the Array API code
    assert np.isnan(fused.forward(z, t)) and np.isnan(plain.forward(z, t))


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_softmax_is_the_array_api_softmax(dtype, monkeypatch):
    """The compiled row-wise softmax (predict_proba's) equals the Array API formula to rounding:
    big logits without overflow, ties, NaN rows; small logits take NumPy's path until numba
    is loaded."""
    from xpnet.losses import softmax

    rng = np.random.default_rng(5)
    z = (rng.normal(size=(300, 10)) * 30).astype(dtype)
    z[0], z[1, 3], z[2, 4] = 1e4, -1e4, np.nan
    b = get_backend("numpy", dtype=dtype)
    calls = _counting(monkeypatch, "shift_rows")
    tol = 2e-6 if dtype == "float32" else 1e-13
    got, want = softmax(b.xp, z, b.ops), softmax(b.xp, z)
    assert calls == [z.size] and got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert np.isnan(got[2]).all() and np.isnan(want[2]).all()
    monkeypatch.setattr(numpy_backend, "_kernels", None)  # numba's start-up not paid yet
    for small in (z[3:5], z[5:6]):
        np.testing.assert_allclose(softmax(b.xp, small, b.ops), softmax(b.xp, small), rtol=tol)
    assert calls == [z.size]


def test_fast_sum_and_max_are_numpys(rng):
    """The namespace's sum/max/mean shortcuts return what np.sum/np.max/np.mean return
    (values bit for bit, types, dtypes, shapes, keepdims, all-axis scalars); integer and bool
    input and empty arrays keep the compat rules."""
    xp = get_backend("numpy").xp
    for dtype in ("float32", "float64"):
        x = rng.normal(size=(37, 5, 3)).astype(dtype)
        for axis in (None, 0, 1, (0, 1), (0, 2), -1):
            for keepdims in (False, True):
                for ours, numpys in ((xp.sum, np.sum), (xp.max, np.max), (xp.mean, np.mean)):
                    got = ours(x, axis=axis, keepdims=keepdims)
                    want = numpys(x, axis=axis, keepdims=keepdims)
                    assert type(got) is type(want) and got.dtype == want.dtype
                    assert np.shape(got) == np.shape(want)
                    np.testing.assert_array_equal(got, want)
    with pytest.warns(RuntimeWarning):
        assert np.isnan(xp.mean(np.zeros(0, dtype="float32")))
    import array_api_compat.numpy as compat_np

    ints = np.arange(6, dtype=np.int8)
    assert xp.sum(ints).dtype == compat_np.sum(ints).dtype == np.int64  # the standard's rule
    assert int(xp.sum(np.ones(300, dtype=bool))) == 300
    assert xp.sum(np.ones(3), dtype=np.float32).dtype == np.float32


def test_each_model_owns_its_kernels_object():
    """Scratch buffers are per model: two networks (e.g. in two threads) never share them."""
    a = xpnet.MultiLayerNet(3, [4], 2, random_state=0)
    b = xpnet.MultiLayerNet(3, [4], 2, random_state=0)
    assert a.backend.ops is not b.backend.ops
    assert isinstance(a.backend.ops, NumpyBackend)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_rows_kernels_are_the_array_api_reference(dtype, monkeypatch):
    """add_rows, sum_rows and relu_grad: the compiled passes (they really run on a big batch)
    give exactly what the Array API reference of the generic Backend gives, NaN, infinities
    and signed zeros included, into ``out`` views too; odd inputs take NumPy's path."""
    b, ref = NumpyBackend(dtype=dtype), Backend(b_xp := get_backend("numpy").xp, dtype=dtype)
    rng = np.random.default_rng(3)
    z = rng.normal(scale=10, size=(128, 96)).astype(dtype)  # 12288 >= the threshold
    z.flat[:len(EDGE)] = EDGE
    bias, d = rng.normal(size=96).astype(dtype), rng.normal(size=z.shape).astype(dtype)
    calls = {name: _counting(monkeypatch, name) for name in ("add_rows", "column_sums",
                                                            "relu_grad")}

    def same(got, want):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"),
                                      want.view(f"u{want.itemsize}"))

    same(b.add_rows(z.copy(), bias), ref.add_rows(z.copy(), bias))
    same(b.sum_rows(z), ref.sum_rows(z))
    flat = np.zeros(100, dtype=dtype)
    assert b.sum_rows(z, out=flat[2:98]) is not None and not flat[:2].any()
    same(flat[2:98], ref.sum_rows(z))
    same(b.relu_grad(z, d), ref.relu_grad(z, d))
    assert [len(c) for c in calls.values()] == [1, 2, 1]  # the compiled passes ran
    # small, broadcast or mixed inputs: NumPy's own operations, the same results
    same(b.add_rows(z[:4].copy(), bias), ref.add_rows(z[:4].copy(), bias))
    same(b.sum_rows(z[:, ::2]), ref.sum_rows(z[:, ::2]))
    same(b.relu_grad(z, d[:1]), ref.relu_grad(z, d[:1]))
    assert b_xp is b.xp


@needs_numba
def test_compiled_kernels_take_every_size_once_loaded_and_long_runs_load_them(monkeypatch):
    """Before numba is loaded a small array takes NumPy's ufuncs (a toy model never pays the
    start-up); a run of COMPILE_AFTER_STEPS steps or more loads the kernels, and from then on
    every size takes them, with the same results."""
    monkeypatch.setattr(numpy_backend, "_kernels", None)
    b = NumpyBackend()
    small = np.linspace(-1.0, 1.0, 12, dtype="float32").reshape(3, 4)
    calls = _counting(monkeypatch, "relu_grad")
    want = np.where(small > 0, small, 0.0)
    np.testing.assert_array_equal(b.relu_grad(small, small), want)
    b.expect_steps(NumpyBackend.COMPILE_AFTER_STEPS - 1)
    np.testing.assert_array_equal(b.relu_grad(small, small), want)
    assert calls == [] and numpy_backend._kernels is None
    b.expect_steps(NumpyBackend.COMPILE_AFTER_STEPS)
    assert numpy_backend._kernels is cpu_kernels
    np.testing.assert_array_equal(b.relu_grad(small, small), want)
    assert calls == [12]
    x = np.eye(4, dtype="float32")  # a Trainer announces its run to the backend
    seen = []
    net = xpnet.MultiLayerNet(4, [8], 2, random_state=0)
    monkeypatch.setattr(net.backend, "expect_steps", seen.append)
    xpnet.Trainer(net, x, np.arange(4) % 2, epochs=3, mini_batch_size=2, verbose=False).train()
    assert seen == [6]


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict"])
def test_relu_after_a_fresh_output_works_in_place_and_standalone_never(backend_name):
    """In a network, a ReLU after a Dense/BatchNorm/Conv output (a fresh array nothing else
    holds) rectifies it in place on NumPy in eval mode (no new array per forward); the
    results, and the gradients, are those of the same network computed without that; a ReLU
    of its own never overwrites what it is given."""
    x = np.random.default_rng(2).normal(size=(96, 100)).astype("float32")
    t = np.arange(96) % 3
    net = xpnet.MultiLayerNetExtend(100, [128, 128], 3, use_batchnorm=True, random_state=0,
                                    backend=backend_name)
    plain = xpnet.MultiLayerNetExtend(100, [128, 128], 3, use_batchnorm=True, random_state=0,
                                      backend=backend_name)
    relus = [ly for ly in net.layers.values() if isinstance(ly, ReLU)]
    assert relus and all(r.owns_input for r in relus)
    for r in (ly for ly in plain.layers.values() if isinstance(ly, ReLU)):
        r.owns_input = False
    np.testing.assert_array_equal(net.predict(x), plain.predict(x))
    for key, g in net.gradient(x, t).items():
        np.testing.assert_array_equal(net.backend.to_numpy(g),
                                      plain.backend.to_numpy(plain.gradient(x, t)[key]))
    if backend_name == "numpy":  # the ReLU's output is the array the layer before returned
        seen = {}
        before = net.layers["BatchNorm1"]
        forward = before.forward
        before.forward = lambda v, train=False: seen.setdefault("bn", forward(v, train))
        net.predict(x)
        assert relus[0].out is seen["bn"]
    alone, given = ReLU(), x.copy()
    alone.forward(given)
    np.testing.assert_array_equal(given, x)
    # a layer replaced by one whose output is not fresh (it keeps it): the ReLU after it no
    # longer owns its input, and what that layer keeps is left as it was

    class Keeps(xpnet.layers.Layer):
        def forward(self, v, train=False):
            self.kept = v + 0.0  # a new array, which this layer holds on to
            return self.kept

        def backward(self, dout):
            return dout

    keeps = net.layers["BatchNorm1"] = Keeps()
    net.forward(net.backend.asarray(x), False)
    assert not relus[0].owns_input
    assert float(net.backend.to_numpy(keeps.kept).min()) < 0.0


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_stores_subnormal_moments_as_zero_and_keeps_the_weights(compiled, dtype,
                                                                      monkeypatch):
    """A weight whose gradient stays 0 would keep a subnormal first moment (slow arithmetic):
    NumPy's Adam stores moments below the smallest normal number as 0, compiled or not;
    the weights come out exactly as the unflushed formula gives them, and NaN stays NaN."""
    if compiled and not cpu_kernels.AVAILABLE:
        pytest.skip(cpu_kernels.REASON)
    if not compiled:
        _without_numba(monkeypatch)
    tiny = np.finfo(dtype).tiny
    n = NumpyBackend.COMPILED_MIN_SIZE + 5
    rng = np.random.default_rng(7)
    p = rng.normal(size=n).astype(dtype)
    g = np.zeros(n, dtype=dtype)
    g[:100] = rng.normal(size=100)
    m = np.full(n, 1.05 * tiny, dtype=dtype)  # times 0.9: subnormal after one step
    v = np.full(n, 1e-4, dtype=dtype)
    v[-3:] = tiny  # times 0.999: subnormal
    m[-1] = np.nan
    want_p = p - dtype_lr(dtype) * (0.9 * m + 0.1 * g) / (np.sqrt(0.999 * v + 0.001 * g * g)
                                                           + 1e-8)
    NumpyBackend(dtype=dtype).adam(p, g, m, v, 0.9, 0.999, dtype_lr(dtype), 1e-8)
    assert np.all(m[100:-1] == 0) and np.isnan(m[-1]) and np.all(v[-3:] == 0)
    assert not np.any((m != 0) & (np.abs(m) < tiny)) and not np.any((v != 0) & (v < tiny))
    np.testing.assert_array_equal(p[100:-1], want_p[100:-1])
    assert np.isnan(p[-1])
    # the kernel restores the thread's floating-point mode: NumPy still makes subnormals
    assert np.float32(1e-38) * np.float32(0.01) != 0


def dtype_lr(dtype):
    return np.dtype(dtype).type(1e-3)


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_relu_kernel_is_np_maximum(dtype):
    """ReLU over its own input (eval mode) is np.maximum(x, 0) bit for bit, NaN and signed
    zeros included, at a length that leaves a vector remainder."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=10_007).astype(dtype)
    x[:len(EDGE)] = EDGE
    want = np.maximum(x, x.dtype.type(0))
    cpu_kernels.maximum_scalar_in_place(x, x.dtype.type(0))
    np.testing.assert_array_equal(x.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))
    relu_input = rng.normal(size=(300, 70)).astype(dtype)
    out = get_backend("numpy", dtype=dtype).relu_owned(relu_input)
    assert out is relu_input and float(out.min()) == 0.0


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_all_finite_finds_every_nan_and_inf_anywhere(compiled, dtype, monkeypatch):
    """The host finite check (a compiled test of the exponent bits once numba is loaded, else
    NumPy's sum) is exactly np.isfinite(x).all(): a single NaN, +inf or -inf at the start,
    in a vector remainder or at the end is found; the largest finite values, whose sum
    overflows, are finite."""
    if compiled and not cpu_kernels.AVAILABLE:
        pytest.skip(cpu_kernels.REASON)
    monkeypatch.setattr(numpy_backend, "_kernels", cpu_kernels if compiled else None)
    x = np.random.default_rng(4).normal(size=(701, 97)).astype(dtype)
    assert numpy_backend.all_finite(x)
    big = np.full((300, 300), np.finfo(dtype).max, dtype=dtype)
    assert numpy_backend.all_finite(big) and numpy_backend.all_finite(-big)
    for where in (0, 5, x.size // 2, x.size - 3, x.size - 1):
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y.flat[where] = bad
            assert not numpy_backend.all_finite(y), (where, bad)
            strided = y[:, ::2]  # not contiguous: NumPy's path
            assert numpy_backend.all_finite(strided) == bool(np.isfinite(strided).all())
    assert numpy_backend.all_finite(np.arange(10)) and numpy_backend.all_finite(np.ones(3, bool))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bias_and_relu_in_one_pass_is_the_two_steps(dtype):
    """affine_relu (a Dense and the ReLU after it, one compiled pass on NumPy) is max(x W + b, 0)
    bit for bit, NaN and signed zeros included, and the reference on every other path."""
    rng = np.random.default_rng(6)
    b = get_backend("numpy", dtype=dtype)
    x = rng.normal(size=(300, 40)).astype(dtype)
    w = rng.normal(size=(40, 33)).astype(dtype)
    bias = rng.normal(size=33).astype(dtype)
    x[0, :5] = [np.nan, np.inf, 0.0, 0.0, 0.0]
    want = np.maximum(x @ w + bias, x.dtype.type(0))
    got = b.affine_relu(x, w, bias)
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{got.itemsize}"))
    ref = Backend.affine_relu(b, x, w, bias)  # the reference: affine, then relu_owned
    np.testing.assert_array_equal(ref, want)
    if cpu_kernels.AVAILABLE:
        z = (x @ w)[:, :7].copy()
        z[0, :3] = [np.nan, -0.0, 0.0]
        zero_bias = np.zeros(7, dtype)
        expect = np.maximum(z + zero_bias, z.dtype.type(0))
        cpu_kernels.add_rows_relu(z, zero_bias)
        np.testing.assert_array_equal(z.view(f"u{z.itemsize}"), expect.view(f"u{z.itemsize}"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("relu", [True, False])
def test_checked_bias_pass_is_the_reference_bit_for_bit(dtype, relu, monkeypatch):
    """affine_checked on NumPy (bias, finite test and ReLU in one compiled pass) gives the
    reference's array bit for bit (NaN and signed zeros included) and its flag, compiled or
    not (XPNET_NUMBA=0's path)."""
    rng = np.random.default_rng(9)
    b = get_backend("numpy", dtype=dtype)
    x = rng.normal(size=(300, 40)).astype(dtype)
    w = rng.normal(size=(40, 33)).astype(dtype)
    bias = rng.normal(size=33).astype(dtype)
    bias[:2] = [-0.0, 0.0]
    for bad in (None, np.nan, np.inf, -np.inf):
        y = x.copy()
        if bad is not None:
            y[123, 4] = bad
        with np.errstate(all="ignore"):
            z = y @ w + bias
        want = np.maximum(z, z.dtype.type(0)) if relu else z
        for compiled in (True, False):
            if compiled and not cpu_kernels.AVAILABLE:
                continue
            monkeypatch.setattr(numpy_backend, "_kernels", cpu_kernels if compiled else None)
            got, finite = b.affine_checked(y, w, bias, relu)
            assert finite is (bad is None)
            np.testing.assert_array_equal(got.view(f"u{got.itemsize}"),
                                          want.view(f"u{got.itemsize}"))
    if cpu_kernels.AVAILABLE:  # the kernel alone: ties, signed zeros, NaN, +-inf
        z = np.array([[0.0, -0.0, np.nan, np.inf, -np.inf, -1.0, 2.0]], dtype)
        zero = np.zeros(7, dtype)
        for low in (0.0, -np.inf):
            out = z.copy()
            finite = cpu_kernels.add_rows_max_finite(out, zero, z.dtype.type(low))
            assert finite is False
            want = np.maximum(z + zero, z.dtype.type(low))  # -0.0 + 0.0 is +0.0
            np.testing.assert_array_equal(out.view(f"u{z.itemsize}"), want.view(f"u{z.itemsize}"))
        assert cpu_kernels.add_rows_max_finite(z[:, [0, 1, 5, 6]].copy(), zero[:4],
                                               z.dtype.type(0.0)) is True


def test_forward_runs_dense_and_relu_as_one_step_with_the_same_result(backend_name):
    """A network runs each Dense with the ReLU after it as one step: the scores, each ReLU's
    ``out`` and (training) the gradients are those of the layers run one by one, a Dense's own
    forward still gives x W + b (negative values included), and a layer replaced in ``layers``
    (the book's code may do it) is used, not the old pair."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(50, 12)).astype("float32")
    net = xpnet.MultiLayerNetExtend(12, [16, 16], 3, random_state=0, backend=backend_name)
    xd = net.backend.asarray(x)
    steps = net._steps()
    assert [type(layer).__name__ for layer, relu in steps if relu is not None] == ["Dense"] * 2
    got = net.backend.to_numpy(net.forward(xd, False))
    one_by_one, h = {}, xd
    for key, layer in net.layers.items():
        h = layer.forward(h, False)
        one_by_one[key] = net.backend.to_numpy(h).copy()
    np.testing.assert_allclose(got, one_by_one["Affine3"], rtol=1e-6, atol=1e-6)
    assert one_by_one["Affine1"].min() < 0  # the Dense alone: no ReLU in it
    net.forward(xd, False)
    for key in ("Activation_function1", "Activation_function2"):
        np.testing.assert_allclose(net.backend.to_numpy(net.layers[key].out), one_by_one[key],
                                   rtol=1e-6, atol=1e-6)
    # training: the same scores and the same gradients as the layers one by one
    t = net.backend.asarray(np.arange(50) % 3, dtype=net.backend.index_dtype)
    loss = net.backend.to_float(net.forward_loss(xd, t, train=True))
    fused_grads = {k: net.backend.to_numpy(g).copy() for k, g in net.backward().items()}
    h = xd
    for layer in net.layers.values():
        h = layer.forward(h, True)
    assert net.backend.to_float(net.last_layer.forward(h, t)) == pytest.approx(loss, rel=1e-6)
    plain_grads = net.backward()
    for key, g in fused_grads.items():
        np.testing.assert_allclose(g, net.backend.to_numpy(plain_grads[key]), rtol=1e-5,
                                   atol=1e-6)
    net.layers["Activation_function1"] = xpnet.layers.Sigmoid(net.xp)
    swapped = net.backend.to_numpy(net.forward(xd, False))
    h = xd
    for layer in net.layers.values():
        h = layer.forward(h, False)
    np.testing.assert_allclose(swapped, net.backend.to_numpy(h), rtol=1e-6, atol=1e-6)
    assert not np.allclose(swapped, got)
    # and backward goes through the layer that is there now
    net.forward_loss(xd, t, train=True)
    w1 = net.backend.to_numpy(net.backward()["W1"]).copy()
    h = xd
    for layer in net.layers.values():
        h = layer.forward(h, True)
    net.last_layer.forward(h, t)
    dout = net.last_layer.backward(1.0)
    for layer in reversed(net.layers.values()):
        dout = layer.backward(dout)
    np.testing.assert_allclose(w1, net.backend.to_numpy(net.layers["Affine1"].dW), rtol=1e-5,
                               atol=1e-7)
