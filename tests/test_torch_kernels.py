"""The torch backend's kernels and namespace functions compute what the Array API reference
computes (``Backend``'s kernels, ``xpnet.nn.optimizers.Adam``'s and ``xpnet.nn.losses``' code,
array_api_compat's functions), on the fast paths and on their fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _gradcheck import adam_reference

from xpnet.backends import Backend, get_backend, torch_backend

torch = pytest.importorskip("torch")


_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch:cuda: no GPU")


@pytest.fixture(params=["float32", "float64",
                        pytest.param("float32:cuda", marks=_CUDA),
                        pytest.param("float64:cuda", marks=_CUDA)])
def tb(request):
    dtype, _, device = request.param.partition(":")
    return get_backend(f"torch:{device}" if device else "torch", dtype, 0)


def _np(a):
    """A tensor of any device as float64 NumPy."""
    return a.detach().cpu().double().numpy()


def _adam_state(tb, n, seed=0):
    rng = np.random.default_rng(seed)
    p, g, m = (rng.normal(size=n) for _ in range(3))
    v = rng.normal(size=n) ** 2
    return [tb.asarray(a) for a in (p, g, m, v)]


@pytest.mark.parametrize("n", [torch_backend.TorchBackend.FUSED_ADAM_MIN_SIZE + 5, 100])
@pytest.mark.parametrize("b1,b2", [(0.9, 0.999), (0.0, 0.0), (0.5, 1.0 - 2.0**-40)])
def test_adam_is_the_published_formula(tb, n, b1, b2):
    """The fused kernel (big buffers) and the in-place chain (small ones) both take xpnet's
    bias correction through lr_t and eps_t: three steps agree with the float64 formula, and
    the fused kernel's step count (+inf: both of its corrections exactly 1) never moves."""
    p, g, m, v = state = _adam_state(tb, n)
    ref = [_np(a).copy() for a in (p, m, v)]
    for t in range(1, 4):
        c2 = math.sqrt(1.0 - b2**t)
        lr_t, eps_t = 3e-3 * c2 / (1.0 - b1**t), 1e-8 * c2
        tb.adam(*state, b1, b2, lr_t, eps_t)
        ref = list(adam_reference(ref[0], _np(g), ref[1], ref[2], b1, b2, lr_t,
                                   eps_t))
    tol = 1e-5 if tb.dtype_name == "float32" else 1e-12
    for got, want in zip((p, m, v), ref, strict=True):
        assert got.dtype == tb.dtype
        np.testing.assert_allclose(_np(got), want, rtol=tol, atol=tol)
    for step in tb._inf_steps.values():
        assert math.isinf(step.item())


def test_fused_adam_and_the_chain_agree(tb):
    """The same step through both paths (the chain forced by hiding the fused kernel)."""
    n = torch_backend.TorchBackend.FUSED_ADAM_MIN_SIZE * 3
    a, c = _adam_state(tb, n), _adam_state(tb, n)
    for _ in range(5):
        tb.adam(*a, 0.9, 0.999, 1e-3, 1e-8)
    assert tb._inf_steps  # the fused kernel ran
    fused, tb._fused_adam = tb._fused_adam, None
    try:
        for _ in range(5):
            tb.adam(*c, 0.9, 0.999, 1e-3, 1e-8)
    finally:
        tb._fused_adam = fused
    tol = 1e-6 if tb.dtype_name == "float32" else 1e-14
    for x, y in zip(a, c, strict=True):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)


def test_adam_takes_the_chain_for_views_and_mixed_buffers(tb):
    """Non-contiguous buffers take the in-place chain (the fused kernel wants contiguous
    tensors of one dtype) and still follow the formula."""
    n = torch_backend.TorchBackend.FUSED_ADAM_MIN_SIZE * 2
    p, g, m, v = (a[::2] for a in _adam_state(tb, 2 * n))
    assert not p.is_contiguous()
    want = adam_reference(*(_np(a) for a in (p, g, m, v)), 0.9, 0.999, 1e-3, 1e-8)
    tb.adam(p, g, m, v, 0.9, 0.999, 1e-3, 1e-8)
    assert not tb._inf_steps
    for got, ref in zip((p, m, v), want, strict=True):
        np.testing.assert_allclose(_np(got), ref, rtol=1e-5, atol=1e-6)


def test_affine_is_the_product_plus_the_bias(tb):
    """torch.addmm against the reference (x @ w, then the bias added to every row), on
    contiguous and transposed inputs; other arguments take the reference itself."""
    rng = np.random.default_rng(5)
    x, w, b = (tb.asarray(rng.normal(size=s)) for s in ((130, 784), (784, 33), (33,)))
    tol = 1e-5 if tb.dtype_name == "float32" else 1e-12
    for xs in (x, x.T.contiguous().T):
        want = tb.add_rows(xs @ w, b)
        got = tb.affine(xs, w, b)
        assert got.dtype == tb.dtype and got.shape == (130, 33)
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    bias_2d = b[None, :]  # not a 1-d bias: the reference's broadcast
    torch.testing.assert_close(tb.affine(x, w, bias_2d), x @ w + bias_2d)


def test_relu_owned_rectifies_in_place_as_the_reference(tb):
    """relu_owned writes max(x, 0) over the fresh x itself, bit for bit the reference's new
    array (NaN, infinities and signed zeros included); integer tensors take the reference."""
    rng = np.random.default_rng(2)
    z = rng.normal(size=(64, 33))
    z[0, :6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, -1e-300]
    z = tb.asarray(z)
    want = Backend.relu_owned(tb, z.clone())  # the Array API reference: a new array
    got = tb.relu_owned(z)
    assert got.data_ptr() == z.data_ptr() and got.dtype == tb.dtype
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.signbit(got), torch.signbit(want))
    ints = torch.tensor([-2, 3], device=tb.device)
    assert tb.relu_owned(ints).tolist() == [0, 3]


def test_relu_grad_is_the_reference_everywhere(tb):
    """``where(y > 0, dout, 0)`` to the bit, NaN and infinities in ``y`` included (NaN > 0 is
    false: 0), and ``y`` is left as it was."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=(64, 33))
    y[0, :6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300]
    y, dout = tb.asarray(y), tb.asarray(rng.normal(size=(64, 33)))
    dout[1, 0] = math.nan
    before = y.clone()
    got = tb.relu_grad(y, dout)
    want = Backend.relu_grad(tb, y, dout)  # the Array API reference
    assert got.dtype == want.dtype and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(y, before, rtol=0, atol=0, equal_nan=True)


def test_relu_grad_falls_back_for_mixed_arguments(tb):
    y = tb.asarray(np.array([[1.0, -1.0]]))
    dout = torch.ones((2, 2), dtype=tb.dtype, device=tb.device)  # broadcast: the reference's where
    np.testing.assert_array_equal(_np(tb.relu_grad(y, dout)), [[1, 0], [1, 0]])


def test_softmax_is_the_reference(tb):
    """The reference's operations in the same order (two in place): equal to the bit."""
    rng = np.random.default_rng(2)
    z = tb.asarray(rng.normal(scale=30.0, size=(257, 10)))
    z[0] = tb.asarray(np.array([1e30, 1.0, -1e30, 0, 0, 0, 0, 0, 0, 0]))
    before = z.clone()
    xp = tb.xp
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    want = e / xp.sum(e, axis=1, keepdims=True)
    got = tb.softmax(z)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(z, before, rtol=0, atol=0)  # the logits are not touched


def test_softmax_of_other_shapes_is_the_formula(tb):
    z = tb.asarray(np.array([1.0, 2.0, 3.0]))[None, :][:, [2, 0, 1]]
    np.testing.assert_allclose(_np(tb.softmax(z).sum(dim=1)), [1.0], rtol=1e-6)
    v = tb.asarray(np.arange(6.0)).reshape(2, 3, 1)[:, :, 0].T  # a transposed view
    want = np.exp(_np(v) - _np(v).max(1, keepdims=True))
    np.testing.assert_allclose(_np(tb.softmax(v)), want / want.sum(1, keepdims=True))


@pytest.mark.parametrize("size", [10, 40_000])
@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, "overflow"])
def test_all_finite_is_the_reference(tb, size, bad):
    """Backend.all_finite on torch (the sum's shortcut) answers as ``all(isfinite(x))`` does,
    whether the sum proves every value finite, finds a NaN/inf, or overflows on finite
    values; the tensor is not changed."""
    x = tb.asarray(np.random.default_rng(3).normal(size=size))
    if bad == "overflow":
        big = torch.finfo(tb.dtype).max
        x[: size // 2 + 1] = big / 2  # finite values whose sum is infinite
    elif bad is not None:
        x[size // 3] = bad
    before = x.clone()
    want = bool(torch.all(torch.isfinite(x)))
    assert tb.all_finite(x) is want
    assert want is (bad in (None, "overflow"))
    torch.testing.assert_close(x, before, rtol=0, atol=0, equal_nan=True)


def test_all_finite_of_other_dtypes_and_shapes(tb):
    assert tb.all_finite(torch.arange(70_000, device=tb.device))
    assert tb.all_finite(torch.zeros(5, dtype=torch.bool, device=tb.device))
    m = tb.asarray(np.ones((300, 200)))
    m[7, 9] = math.nan
    assert not tb.all_finite(m) and not tb.all_finite(m.T)  # a transposed view too
    assert tb.all_finite(tb.asarray(np.ones((300, 200))).T)
    assert not tb.all_finite(torch.tensor([1.0, math.inf], dtype=torch.float16))
    assert tb.all_finite(torch.full((10,), 60000.0, dtype=torch.float16))  # the sum overflows


@pytest.mark.parametrize("size", [7, torch_backend.ALL_BYTES_MIN_SIZE + 1])
def test_all_is_compats(tb, size):
    """The namespace's ``all``: the same 0-d boolean answer as array_api_compat's, for every
    pattern of a boolean array, and compat's own answer for axes and other dtypes."""
    import array_api_compat.torch as compat

    xp = tb.xp
    for fill in (True, False):
        b = torch.full((size,), fill, device=tb.device)
        for flip in (None, 0, size - 1):
            c = b.clone()
            if flip is not None:
                c[flip] = not fill
            got, want = xp.all(c), compat.all(c)
            assert got.dtype == torch.bool and got.shape == () and bool(got) == bool(want)
    m = torch.ones((size, 3), dtype=torch.bool, device=tb.device)
    m[0, 1] = False
    assert not bool(xp.all(m)) and not bool(xp.all(m.T))  # a transposed view too
    torch.testing.assert_close(xp.all(m, axis=0), compat.all(m, axis=0))
    assert xp.all(m, keepdims=True).shape == (1, 1)
    assert bool(xp.all(torch.ones(size, device=tb.device)))
    assert not bool(xp.all(torch.zeros(size, device=tb.device)))


def test_device_features_are_checked_through_the_namespace(tb):
    """A model's own tensors with a NaN are refused as before (validation asks the backend's
    ``all_finite``)."""
    from xpnet.backends.validation import check_features

    x = tb.asarray(np.ones((100, 784)))
    assert check_features(x, tb) is x
    x[50, 3] = math.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        check_features(x, tb)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_on_torch_agrees_with_numpy():
    """MLPClassifier trained on torch (fused Adam, the one-kernel ReLU gradient) and on NumPy:
    the same losses and probabilities, to float32 rounding."""
    from xpnet import MLPClassifier

    rng = np.random.default_rng(4)
    x = rng.normal(size=(512, 20)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    kw = dict(hidden_layer_sizes=(64, 32), batch_size=64, max_iter=3, random_state=0,
              learning_rate_init=1e-2, tol=0.0, n_iter_no_change=10**9)
    est_np = MLPClassifier(**kw).fit(x, y)
    est_t = MLPClassifier(backend="torch", **kw).fit(x, y)
    np.testing.assert_allclose(est_t.loss_curve_, est_np.loss_curve_, rtol=1e-4)
    p_t = est_t.predict_proba(torch.as_tensor(x))
    assert isinstance(p_t, torch.Tensor)
    np.testing.assert_allclose(p_t.numpy(), est_np.predict_proba(x), rtol=1e-3, atol=1e-5)
