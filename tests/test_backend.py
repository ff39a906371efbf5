"""The backend contract: resolution and its errors, seeded reproducibility across backends,
device-side random numbers, the asarray rules, and models on several backends side by side."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import re
import types

import numpy as np
import pytest
from _gradcheck import one_thread  # noqa: F401 - autouse fixture

import xpnet
from xpnet.backends import (
    BACKEND_NAMES,
    BACKENDS,
    Backend,
    BackendUnavailableError,
    NamespaceBackend,
    NumpyBackend,
    StrictBackend,
    TorchBackend,
    backend_of,
    get_backend,
    library_of,
    parse_backend,
)


def _has_cuda_cupy() -> bool:
    try:
        get_backend("cupy")
    except BackendUnavailableError:
        return False
    return True


def _same_device(b: Backend, arr) -> bool:
    return b.device is None or arr.device == b.device


# ---------------------------------------------------------------------- resolution errors
@pytest.mark.parametrize("bad", ["nump", "jax", "tensorflow", "cuda"])
def test_unknown_backend_name(bad):
    with pytest.raises(ValueError) as info:
        get_backend(bad)
    msg = str(info.value)
    assert "backend=" in msg and repr(bad) in msg
    for name in BACKEND_NAMES:
        assert name in msg


def test_unknown_backend_through_a_model():
    with pytest.raises(ValueError, match="backend="):
        xpnet.MultiLayerNetExtend(4, [3], 2, backend="numpyy")
    with pytest.raises(ValueError, match="backend="):
        xpnet.DualLayer(backend="gpu")


def test_backend_wrong_type():
    with pytest.raises(TypeError, match="backend="):
        get_backend(3.5)


def test_cupy_unavailable_error():
    if _has_cuda_cupy():
        pytest.skip("CuPy and a GPU are present: backend='cupy' works here")
    with pytest.raises(BackendUnavailableError) as info:
        get_backend("cupy")
    err = info.value
    assert isinstance(err, ImportError) and isinstance(err, RuntimeError)
    if importlib.util.find_spec("cupy") is None:
        assert 'pip install -e ".[cuda12]"' in str(err)  # from a checkout: not on PyPI yet
    else:  # CuPy installed but no usable GPU
        assert "GPU" in str(err) and "backend=" in str(err)
    # the same error from a model, never a silent fallback to NumPy
    with pytest.raises(BackendUnavailableError):
        xpnet.MultiLayerNetExtend(4, [3], 2, backend="cupy")


def test_torch_cuda_unavailable_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this PyTorch sees a CUDA GPU")
    with pytest.raises(BackendUnavailableError, match="CUDA") as info:
        get_backend("torch:cuda")
    assert "backend='torch'" in str(info.value)  # says what to use instead


def test_numpy_has_no_gpu_device():
    with pytest.raises(ValueError, match="backend="):
        get_backend("numpy:cuda")


@pytest.mark.parametrize("dtype", ["int32", "int64", "float16", "bool", np.int32, "double!"])
def test_dtype_must_be_float32_or_float64(backend_name, dtype):
    with pytest.raises(ValueError, match="dtype"):
        get_backend(backend_name, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float64])
def test_dtype_accepted(backend_name, dtype):
    b = get_backend(backend_name, dtype=dtype)
    assert b.dtype_name == np.dtype(dtype).name
    assert b.zeros((2,)).dtype == b.dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_all_finite_on_every_backend(backend_name, dtype):
    """Backend.all_finite answers as the reference ``all(isfinite(x))``: every element checked
    (first, middle, last; NaN, +inf, -inf), finite values whose sum overflows accepted, a
    transposed view, and the array left as it was."""
    b = get_backend(backend_name, dtype=dtype)
    host = np.random.default_rng(5).normal(size=(300, 70)).astype(dtype)
    assert b.all_finite(b.asarray(host)) is True
    big = np.full((300, 70), np.finfo(dtype).max / 2, dtype=dtype)
    assert b.all_finite(b.asarray(big)) is True and b.all_finite(b.asarray(-big)) is True
    for where in ((0, 0), (150, 33), (299, 69)):
        for bad in (np.nan, np.inf, -np.inf):
            y = host.copy()
            y[where] = bad
            arr = b.asarray(y)
            assert b.all_finite(arr) is False, (where, bad)
            assert b.all_finite(b.xp.matrix_transpose(arr)) is False
            np.testing.assert_array_equal(b.to_numpy(arr), y)  # not changed


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("relu", [True, False])
def test_affine_checked_is_affine_then_a_finite_test(backend_name, dtype, relu):
    """Backend.affine_checked gives x W + b (ReLU'd when asked) as affine/affine_relu do, and
    says whether x W + b is all finite: NaN/inf in x (first, middle, last row), NaN/inf/huge
    values in the bias, and finite x whose products overflow; without NumPy's warnings (the
    flag is the answer to them)."""
    b = get_backend(backend_name, dtype=dtype)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(300, 20)).astype(dtype)
    w = rng.normal(size=(20, 33)).astype(dtype)
    bias = rng.normal(size=33).astype(dtype)
    want = x.astype("float64") @ w.astype("float64") + bias
    want = np.maximum(want, 0.0) if relu else want
    z, finite = b.affine_checked(b.asarray(x), b.asarray(w), b.asarray(bias), relu)
    assert finite is True
    np.testing.assert_allclose(b.to_numpy(z), want, rtol=1e-4 if dtype == "float32" else 1e-12,
                               atol=1e-4 if dtype == "float32" else 1e-12)
    for row in (0, 150, 299):
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[row, 7] = bad
            assert b.affine_checked(b.asarray(y), b.asarray(w), b.asarray(bias), relu)[1] is False
    huge = np.full_like(x, np.finfo(dtype).max / 4)  # finite, but the sums overflow
    assert b.affine_checked(b.asarray(huge), b.asarray(np.abs(w)), b.asarray(bias),
                            relu)[1] is False
    for bad in (np.nan, np.inf):
        hot = bias.copy()
        hot[-1] = bad
        assert b.affine_checked(b.asarray(x), b.asarray(w), b.asarray(hot), relu)[1] is False


def test_random_state_type():
    with pytest.raises(TypeError, match="random_state"):
        get_backend("numpy", random_state=1.5)


# ---------------------------------------------------------------------- reproducibility
def test_same_seed_same_initial_weights_on_every_backend(backend_name):
    kw = {"activation": "relu", "use_batchnorm": True, "random_state": 123}
    ref = xpnet.MultiLayerNetExtend(6, [5, 4], 3, **kw)
    net = xpnet.MultiLayerNetExtend(6, [5, 4], 3, backend=backend_name, **kw)
    np.testing.assert_array_equal(net.backend.to_numpy(net.flat), ref.backend.to_numpy(ref.flat))
    assert library_of(net.flat) == net.backend.name
    other = xpnet.MultiLayerNetExtend(6, [5, 4], 3, backend=backend_name,
                                      **{**kw, "random_state": 124})
    assert not np.array_equal(net.backend.to_numpy(net.flat),
                              other.backend.to_numpy(other.flat))


def test_same_seed_same_random_init_network_weights(backend_name):
    ref = xpnet.RandomInitNetwork(random_state=42)
    ref.init_weights(30)
    model = xpnet.RandomInitNetwork(random_state=42, backend=backend_name)
    model.init_weights(30)
    to_np = model.backend.to_numpy
    np.testing.assert_array_equal(to_np(model.w1), to_np(ref.w1))
    np.testing.assert_array_equal(to_np(model.w2), to_np(ref.w2))
    # random_state=42 draws the seed's np.random.seed(42); np.random.normal(0, 1, ...) weights
    legacy = np.random.RandomState(42)
    np.testing.assert_allclose(to_np(model.w1), legacy.normal(0, 1, (30, 10)), rtol=1e-6)
    np.testing.assert_allclose(to_np(model.w2), legacy.normal(0, 1, (10, 1)), rtol=1e-6)


def test_same_seed_same_device_draws(backend_name):
    a = get_backend(backend_name, random_state=5)
    b = get_backend(backend_name, random_state=5)
    np.testing.assert_array_equal(a.to_numpy(a.permutation(20)), b.to_numpy(b.permutation(20)))
    np.testing.assert_array_equal(a.to_numpy(a.uniform((3, 4))), b.to_numpy(b.uniform((3, 4))))


# ---------------------------------------------------------------------- device-side draws
def test_permutation_is_a_permutation_on_the_device(backend_name):
    b = get_backend(backend_name, random_state=0)
    perm = b.permutation(1000)
    assert library_of(perm) == b.name and _same_device(b, perm)
    host = b.to_numpy(perm)
    assert host.shape == (1000,)
    np.testing.assert_array_equal(np.sort(host), np.arange(1000))
    assert not np.array_equal(host, np.arange(1000))
    assert not np.array_equal(b.to_numpy(b.permutation(1000)), host)  # a new one each call
    # usable as an index array with xp.take
    x = b.asarray(np.arange(1000, dtype=np.float32)[:, None])
    np.testing.assert_array_equal(b.to_numpy(b.xp.take(x, perm, axis=0))[:, 0], host)


def test_dropout_mask_rate_and_scaling(backend_name):
    b = get_backend(backend_name, random_state=0)
    keep = 0.7
    mask = b.dropout_mask((250, 400), keep)
    assert library_of(mask) == b.name and _same_device(b, mask)
    assert mask.dtype == b.dtype
    host = b.to_numpy(mask).astype(np.float64)
    values = np.unique(host)
    np.testing.assert_allclose(values, [0.0, 1.0 / keep], rtol=1e-6)
    # 100000 entries: std of the zero fraction 0.0014, of the mean 0.002
    assert abs((host == 0).mean() - (1 - keep)) < 0.01
    assert abs(host.mean() - 1.0) < 0.015


def test_normal_and_uniform_draws(backend_name):
    b = get_backend(backend_name, random_state=0)
    n = b.to_numpy(b.normal((200, 100), std=2.0))
    u = b.to_numpy(b.uniform((200, 100)))
    assert abs(n.mean()) < 0.05 and abs(n.std() - 2.0) < 0.05
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01


# ---------------------------------------------------------------------- asarray rules
def test_asarray_moves_host_data_to_the_backend(backend_name):
    b = get_backend(backend_name)
    for host in (np.ones((3, 2)), [[1.0, 2.0]], np.arange(4)):
        arr = b.asarray(host)
        assert library_of(arr) == b.name and _same_device(b, arr)
        assert arr.dtype == b.dtype
    labels = b.asarray(np.array([0, 2, 1]), dtype="int64")
    assert labels.dtype == b.xp.int64
    # an array of the backend itself is used as it is
    arr = b.asarray(np.ones(3))
    assert b.asarray(arr) is arr


def test_foreign_array_raises_type_error():
    torch = pytest.importorskip("torch")
    net = xpnet.MultiLayerNetExtend(4, [3], 2, random_state=0)  # numpy
    with pytest.raises(TypeError, match="torch"):
        net.predict(torch.ones((2, 4)))
    with pytest.raises(TypeError, match="torch"):
        get_backend("numpy").asarray(torch.ones(3))
    model = xpnet.DualLayer()
    with pytest.raises(TypeError, match="torch"):
        model.fit(torch.ones((4, 3)), np.array([0, 1, 0, 1]), epochs=1)


def test_strict_array_on_device1_stays_on_device1():
    strict = pytest.importorskip("array_api_strict")
    dev1 = strict.Device("device1")
    b = get_backend("array_api_strict:device1")
    x = strict.asarray(np.ones((2, 4), dtype=np.float32), device=dev1)
    assert b.asarray(x).device == dev1
    net = xpnet.MultiLayerNetExtend(4, [3], 2, backend="array_api_strict:device1",
                                    random_state=0)
    out = net.predict(x)
    assert library_of(out) == "array_api_strict" and out.device == dev1
    assert net.flat.device == dev1
    # a strict array on the default device is refused with a clear message, not mixed
    x_cpu = strict.asarray(np.ones((2, 4), dtype=np.float32))
    with pytest.raises((ValueError, TypeError), match="device"):
        net.predict(x_cpu)


def test_outputs_follow_the_input_kind(backend_name, rng):
    net = xpnet.MultiLayerNetExtend(4, [5], 3, backend=backend_name, random_state=0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    t = np.array([0, 1, 2, 0, 1, 2])
    out = net.predict(x)
    assert type(out) is np.ndarray and out.shape == (6, 3)
    xd = net.backend.asarray(x)
    out_d = net.predict(xd)
    assert library_of(out_d) == net.backend.name and _same_device(net.backend, out_d)
    np.testing.assert_allclose(net.backend.to_numpy(out_d), out, rtol=1e-6)
    assert type(net.loss(x, t)) is float and type(net.accuracy(x, t)) is float
    td = net.backend.asarray(t, dtype="int64")
    assert type(net.loss(xd, td)) is float and type(net.accuracy(xd, td)) is float
    assert net.loss(xd, td) == pytest.approx(net.loss(x, t), rel=1e-6)


def test_to_numpy_and_to_float(backend_name):
    b = get_backend(backend_name)
    arr = b.asarray(np.array([[1.5, 2.0]]))
    host = b.to_numpy(arr)
    assert type(host) is np.ndarray
    np.testing.assert_array_equal(host, [[1.5, 2.0]])
    value = b.to_float(b.xp.sum(arr))
    assert type(value) is float and value == 3.5
    b.sync()  # a no-op on CPU, never an error


# ---------------------------------------------------------------------- no global state
def test_models_on_several_backends_live_in_one_process(rng):
    names = ["numpy", "array_api_strict:device1"]
    if importlib.util.find_spec("torch") is not None:
        names.append("torch")
    x = rng.normal(size=(40, 4)).astype(np.float64)
    t = (x[:, 0] > 0).astype(np.int64)
    nets = [xpnet.MultiLayerNetExtend(4, [6], 2, backend=n, dtype="float64", random_state=3)
            for n in names]
    trainers = [xpnet.Trainer(net, x, t, epochs=1, mini_batch_size=10, optimizer="sgd",
                              optimizer_param={"lr": 0.1}, verbose=False, shuffle=False)
                for net in nets]
    for _ in range(3):  # interleaved: no backend leaks into another model
        for tr in trainers:
            tr.train()
    flats = [net.backend.to_numpy(net.flat) for net in nets]
    for net, flat in zip(nets, flats, strict=True):
        assert library_of(net.flat) == net.backend.name
        assert type(net.predict(x)) is np.ndarray
        np.testing.assert_allclose(flat, flats[0], rtol=1e-9, atol=1e-12)
    assert not np.array_equal(flats[0], nets[0].backend.to_numpy(
        xpnet.MultiLayerNetExtend(4, [6], 2, dtype="float64", random_state=3).flat))
    assert xpnet.MultiLayerNetExtend(4, [3], 2).backend.name == "numpy"  # default untouched


# ---------------------------------------------------------------------- one class per library
def test_each_backend_is_an_object_of_its_library_class(backend_name):
    b = get_backend(backend_name, random_state=0)
    name, _ = parse_backend(backend_name)
    assert type(b) is BACKENDS[name] and b.name == name
    assert isinstance(b, Backend) and b.ops is b  # the backend is its own kernels object
    assert {"numpy": NumpyBackend, "array_api_strict": StrictBackend,
            "torch": TorchBackend}.get(name, BACKENDS[name]) is BACKENDS[name]
    # another dtype or seed: a new backend of the same class, on the same device
    other = get_backend(b, dtype="float64", random_state=1)
    assert type(other) is type(b) and other.spec == b.spec and other.dtype_name == "float64"
    assert get_backend(b) is b
    # backend_of: the (shared) backend of an array's library and device
    arr = b.zeros(2)
    assert type(backend_of(arr)) is type(b) and backend_of(arr) is backend_of(b.zeros(3))
    assert backend_of(other.zeros(2)).dtype_name == "float64"  # an optimizer's state follows
    assert _same_device(b, backend_of(arr).zeros(1))


def test_fast_paths_are_chosen_when_the_backend_is_built():
    """A kernel is a callable, or None and the Array API reference runs: never a sentinel."""
    strict = get_backend("array_api_strict")
    assert strict.adam is None and strict.softmax_cross_entropy is None
    assert callable(get_backend("numpy").adam)
    if importlib.util.find_spec("torch") is not None:
        torch = get_backend("torch")
        assert callable(torch.adam) and torch.softmax_cross_entropy is None


def test_parse_backend_is_the_one_parser():
    assert parse_backend(" Torch:cuda:1 ") == ("torch", "cuda:1")
    assert parse_backend("np") == ("numpy", None)
    assert parse_backend("strict:device1") == ("array_api_strict", "device1")
    assert parse_backend("array-api-strict") == ("array_api_strict", None)


def test_a_namespace_module_gets_the_generic_backend():
    strict = pytest.importorskip("array_api_strict")
    ns = types.ModuleType("mylib")
    ns.__dict__.update({k: v for k, v in vars(strict).items() if not k.startswith("__")})
    ns.__array_api_version__ = strict.__array_api_version__
    b = get_backend(ns, dtype="float64", random_state=0)
    assert type(b) is NamespaceBackend and b.name == "mylib" and b.xp is ns
    assert b.adam is None and b.describe() == "array-api"
    np.testing.assert_array_equal(b.to_numpy(b.asarray([1.0, 2.0])), [1.0, 2.0])
    assert type(get_backend(strict)) is StrictBackend  # a known library's module: its class


#: modules owned elsewhere that still switch on a backend's name (to move into the classes)
PENDING: set[str] = set()


_ABOUT_A_BACKEND = re.compile(r"name|lib|backend|spec|device|parts|key")


def _name_comparisons(path: pathlib.Path) -> list[str]:
    """Lines of ``path`` that compare a backend's name, library or spec with a backend name
    ("numpy", "torch", ...); package names and substring tests of paths are not switches."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and _ABOUT_A_BACKEND.search(ast.unparse(node.left)):
            for side in node.comparators:
                elts = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                if any(isinstance(e, ast.Constant) and e.value in BACKEND_NAMES for e in elts):
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_outside_the_backends_switches_on_a_backend_name():
    """A backend is an object of its library's class: no module of the math, the edges or the
    tools compares a name with "numpy", "cupy", "torch" or "array_api_strict"."""
    root = pathlib.Path(xpnet.__file__).parent
    offenders = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith("backends/") and (found := _name_comparisons(path)):
            offenders[rel] = found
    assert not {rel: f for rel, f in offenders.items() if rel not in PENDING}
    assert _name_comparisons(root / "backends" / "__init__.py") == []  # the table decides
