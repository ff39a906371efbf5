"""Bad input at every public entry point: a clear error that names the argument, the bad value
and the fix, and a model left exactly as it was.  Plus the inputs that must simply work."""

from __future__ import annotations

import importlib.util
import math
import re
import warnings

import numpy as np
import pytest
from _gradcheck import one_thread  # noqa: F401 - autouse fixture: one BLAS/torch thread

import xpnet
from xpnet.backend import get_backend

pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer:UserWarning")

HAVE_ESTIMATORS = importlib.util.find_spec("xpnet.estimators") is not None
NO_ESTIMATORS = pytest.mark.skipif(not HAVE_ESTIMATORS,
                                   reason="xpnet/estimators.py (MLPClassifier) does not exist yet")

N, D = 24, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, D))
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
Y[:2] = [0, 1]


def _est(name: str):
    from xpnet import estimators  # noqa: PLC0415 - only when present

    return getattr(estimators, name)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- entry points
class Entry:
    """One public entry point: ``call(model, x, y)`` on a model built by ``make(backend)``.

    ``x_name``/``y_name`` are the argument names its errors must mention.  ``sklearn``
    entries (the estimators) validate host data with scikit-learn's ``validate_data`` and
    keep its messages (scikit-learn's own estimator checks expect them), so their cases use
    scikit-learn's wording (:data:`SKLEARN_X`).
    """

    def __init__(self, name, make, call, x_name="x", y_name="y", fits=False,
                 uses_y=True, sklearn=False, marks=()):
        self.name, self.make, self.call = name, make, call
        self.x_name, self.y_name, self.fits, self.uses_y = x_name, y_name, fits, uses_y
        self.sklearn, self.marks = sklearn, marks

    def param(self):
        return pytest.param(self, id=self.name, marks=self.marks)


def _seed(cls, **kw):
    def make(b):
        return _quiet(cls(backend=b, random_state=0, **kw).fit, X, Y, epochs=3)
    return make


def _net(b):
    return xpnet.MultiLayerNetExtend(D, [4], 2, use_batchnorm=True, use_dropout=True,
                                     dropout_ratio=0.2, backend=b, random_state=0)


def _fitted_est(name):
    def make(b):
        est = _est(name)(hidden_layer_sizes=(4,), max_iter=2, backend=b, random_state=0,
                         dtype="float32")  # a float32 model: float64 data can overflow it
        return _quiet(est.fit, X, Y)
    return make


def _state(model) -> dict[str, np.ndarray]:
    """Host copies of the learned arrays of any model kind (flat buffer, w1..., coefs)."""
    conv = get_backend("numpy").to_numpy
    if hasattr(model, "flat"):
        out = {"flat": conv(model.flat)}
        for i, bn in enumerate(model.batchnorm_layers()):
            out[f"rm{i}"], out[f"rv{i}"] = conv(bn.running_mean), conv(bn.running_var)
        return out
    if hasattr(model, "network"):  # Trainer
        return _state(model.network)
    if hasattr(model, "get_params_arrays"):  # seed models
        return {k: conv(v) for k, v in model.get_params_arrays().items()}
    return _state(model.network_)  # estimators


def _seed_fit(m, x, y):
    return m.fit(x, y, epochs=2)


ENTRIES = [
    Entry("SingleLayer.fit", _seed(xpnet.SingleLayer), _seed_fit, fits=True),
    Entry("SingleLayer.predict", _seed(xpnet.SingleLayer), lambda m, x, y: m.predict(x),
          uses_y=False),
    Entry("DualLayer.fit", _seed(xpnet.DualLayer, units=3), _seed_fit, fits=True),
    Entry("DualLayer.predict", _seed(xpnet.DualLayer, units=3), lambda m, x, y: m.predict(x),
          uses_y=False),
    Entry("MinibatchNetwork.fit", _seed(xpnet.MinibatchNetwork, units=3, batch_size=8),
          _seed_fit, fits=True),
    Entry("MinibatchNetwork.predict", _seed(xpnet.MinibatchNetwork, units=3, batch_size=8),
          lambda m, x, y: m.predict(x), uses_y=False),
    Entry("MultiLayerNetExtend.predict", _net, lambda m, x, y: m.predict(x), uses_y=False),
    Entry("MultiLayerNetExtend.loss", _net, lambda m, x, y: m.loss(x, y, train_flg=True),
          y_name="t"),
    Entry("MultiLayerNetExtend.gradient", _net, lambda m, x, y: m.gradient(x, y), y_name="t"),
    Entry("Trainer", _net, lambda m, x, y: xpnet.Trainer(m, x, y, epochs=1, verbose=False),
          x_name="x_train", y_name="t_train"),
    Entry("MLPClassifier.fit", _fitted_est("MLPClassifier"), lambda m, x, y: m.fit(x, y),
          x_name="X", sklearn=True, fits=True, marks=NO_ESTIMATORS),
    Entry("MLPClassifier.predict", _fitted_est("MLPClassifier"), lambda m, x, y: m.predict(x),
          x_name="X", sklearn=True, uses_y=False, marks=NO_ESTIMATORS),
    Entry("MLPRegressor.fit", _fitted_est("MLPRegressor"), lambda m, x, y: m.fit(x, y),
          x_name="X", sklearn=True, fits=True, marks=NO_ESTIMATORS),
    Entry("MLPRegressor.predict", _fitted_est("MLPRegressor"), lambda m, x, y: m.predict(x),
          x_name="X", sklearn=True, uses_y=False, marks=NO_ESTIMATORS),
]
ENTRY_PARAMS = [e.param() for e in ENTRIES]
WITH_Y = [e.param() for e in ENTRIES if e.uses_y]


def _foreign(backend_name: str, x: np.ndarray):
    """``x`` as an array of a library other than the model's (torch, or strict for torch)."""
    if backend_name.startswith("torch") or backend_name == "cupy":
        import array_api_strict  # noqa: PLC0415

        return array_api_strict.asarray(x)
    torch = pytest.importorskip("torch")
    return torch.asarray(x)


def _on_backend(backend_name: str, x: np.ndarray):
    """``x`` moved unvalidated onto the backend (dtype kept as float)."""
    b = get_backend(backend_name, dtype="float64" if x.dtype == np.float64 else "float32")
    return b.xp.asarray(x, device=b.device)


def _nan(x):
    x = x.copy()
    x[3, 1] = np.nan
    return x


def _object(x):
    x = x.astype(object)
    x[2, 2] = "x"
    return x


def _inf(x):
    x = x.copy()
    x[5, 0] = -np.inf
    return x


# (id, transform of (backend_name, X) -> bad X, exception, regex the message must match)
BAD_X = [
    ("nan", lambda b, x: _nan(x), ValueError, r"NaN or infinity.*impute"),
    ("inf", lambda b, x: _inf(x), ValueError, r"NaN or infinity.*impute"),
    ("nan-list", lambda b, x: _nan(x).tolist(), ValueError, r"NaN or infinity"),
    ("nan-on-device", lambda b, x: _on_backend(b, _nan(x)), ValueError, r"NaN or infinity"),
    ("float32-overflow", lambda b, x: x * 1e300, ValueError, r"overflows float32.*float64"),
    ("1-D", lambda b, x: x[:, 0], ValueError, r"must be 2-D.*reshape\(-1, 1\)"),
    ("3-D", lambda b, x: x[:, :, None], ValueError, r"must be 2-D.*shape \(24, 3, 1\)"),
    ("0-samples", lambda b, x: x[:0], ValueError, r"0 samples.*at least one row"),
    ("strings", lambda b, x: np.full(x.shape, "a"), TypeError, r"non-numeric dtype.*encode"),
    ("object", lambda b, x: _object(x), TypeError, r"non-numeric dtype object"),
    ("ragged", lambda b, x: [[1.0, 2.0, 3.0], [1.0]] * (N // 2), ValueError,
     r"could not be read as an array"),
    ("foreign-library", lambda b, x: _foreign(b, x), TypeError,
     r"array but this model runs on backend=.*pass a NumPy array"),
]


#: scikit-learn's wording for the same cases (arrays of another library: xpnet's TypeError)
SKLEARN_X = {
    "nan": r"Input X contains NaN", "inf": r"Input X contains infinity",
    "nan-list": r"Input X contains NaN", "nan-on-device": r"X contains NaN",
    "float32-overflow": r"overflows float32.*float64",
    "1-D": r"Expected 2D array, got 1D array instead.*reshape\(-1, 1\)",
    "3-D": r"Found array with dim 3", "0-samples": r"Found array with 0 sample\(s\)",
    "strings": r"could not convert string to float", "object": r"could not convert string",
    "ragged": r"inhomogeneous|sequence",
    "foreign-library": r"X is a \w+ array but this model runs on backend=.*pass a NumPy array",
}


def _check_message(err: BaseException, name: str, pattern: str) -> None:
    msg = str(err)
    assert msg.startswith(name) or f" {name} " in msg or f"{name}=" in msg or \
        f"{name}[" in msg, f"the message does not name {name!r}: {msg}"
    assert re.search(pattern, msg, re.S), msg


def _assert_unchanged(before: dict, model) -> None:
    after = _state(model)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)


def _reference(model):
    """What the model predicts before a failed call (compared after it)."""
    if hasattr(model, "predict"):
        return np.asarray(get_backend("numpy").to_numpy(model.predict(X)), dtype=float)
    return None


@pytest.mark.parametrize("case", BAD_X, ids=[c[0] for c in BAD_X])
@pytest.mark.parametrize("entry", ENTRY_PARAMS)
def test_bad_features(entry, case, backend_name):
    key, transform, exc, pattern = case
    model = entry.make(backend_name)
    before, ref = _state(model), _reference(model)
    bad = transform(backend_name, X)
    y = Y[:0] if key == "0-samples" else Y
    with pytest.raises(exc if not entry.sklearn or key == "foreign-library" else ValueError) \
            as info:
        entry.call(model, bad, y)
    if entry.sklearn:
        assert re.search(SKLEARN_X[key], str(info.value), re.S), info.value
    else:
        _check_message(info.value, entry.x_name, pattern)
    _assert_unchanged(before, model)
    if ref is not None:
        after = np.asarray(get_backend("numpy").to_numpy(model.predict(X)), dtype=float)
        np.testing.assert_array_equal(ref, after)


@pytest.mark.parametrize("entry", [e.param() for e in ENTRIES if not e.fits])
def test_feature_count_differs(entry, backend_name):
    """Predict-like calls need the width the model was built/fitted with (a refit may
    change it)."""
    model = entry.make(backend_name)
    before = _state(model)
    wide = np.hstack([X, X[:, :1]])
    with pytest.raises(ValueError) as info:
        entry.call(model, wide, Y)
    pattern = (rf"X has 4 features, but {type(model).__name__} is expecting {D} features"
               if entry.sklearn else rf"4 features but the model expects {D}")
    _check_message(info.value, entry.x_name, pattern)
    _assert_unchanged(before, model)


@pytest.mark.parametrize("entry", WITH_Y)
def test_lengths_differ(entry, backend_name):
    model = entry.make(backend_name)
    before = _state(model)
    with pytest.raises(ValueError) as info:
        entry.call(model, X, Y[:-3])
    if entry.sklearn:
        assert f"inconsistent numbers of samples: [{N}, {N - 3}]" in str(info.value)
    else:
        _check_message(info.value, entry.x_name, rf"{N} samples but {entry.y_name} has {N - 3}")
    _assert_unchanged(before, model)


@pytest.mark.parametrize("entry", WITH_Y)
def test_targets_none_or_nan(entry, backend_name):
    model = entry.make(backend_name)
    before = _state(model)
    y = Y.astype(float)
    y[4] = np.nan
    with pytest.raises(ValueError) as info:
        entry.call(model, X, y)
    assert entry.y_name in str(info.value)
    assert re.search(r"NaN|non-integer|Input .* contains NaN", str(info.value)), info.value
    with pytest.raises((ValueError, TypeError)):
        entry.call(model, X, None)
    _assert_unchanged(before, model)


@pytest.mark.parametrize("entry", [e.param() for e in ENTRIES if e.uses_y and e.name.startswith(
    ("MultiLayerNetExtend.", "Trainer"))])
@pytest.mark.parametrize("labels, pattern", [
    (np.full(N, 0.5), r"non-integer values.*integers 0\.\.1"),
    (np.full(N, 2), r"labels in \[2, 2\].*output_size=2"),
    (np.full(N, -1), r"labels in \[-1, -1\].*output_size=2"),
    (np.array(["a", "b"] * (N // 2)), r"dtype <U1.*MLPClassifier"),
], ids=["continuous", "too-large", "negative", "strings"])
def test_network_labels(entry, labels, pattern, backend_name):
    model = entry.make(backend_name)
    before = _state(model)
    with pytest.raises((ValueError, TypeError)) as info:
        entry.call(model, X, labels)
    _check_message(info.value, entry.y_name, pattern)
    _assert_unchanged(before, model)


def test_network_labels_on_device(backend_name):
    """Float labels already on the backend are checked there (no silent truncation)."""
    net = _net(backend_name)
    b = net.backend
    with pytest.raises(ValueError, match=r"t holds non-integer values"):
        net.loss(X, b.xp.asarray(np.full(N, 0.5), device=b.device))
    with pytest.raises(ValueError, match=r"t holds labels in \[0, 5\].*output_size=2"):
        net.loss(X, b.xp.asarray(np.arange(N) % 6, device=b.device))
    with pytest.raises(ValueError, match=r"one-hot of width 2"):
        net.loss(X, b.xp.asarray(np.zeros((N, 3)), device=b.device))
    onehot = np.eye(2)[Y]
    assert math.isclose(net.loss(X, b.xp.asarray(onehot, device=b.device)), net.loss(X, Y),
                        rel_tol=1e-5)
    assert math.isclose(net.loss(X, b.xp.asarray(Y, device=b.device)), net.loss(X, Y),
                        rel_tol=1e-6)


def test_regression_target_shape(backend_name):
    net = xpnet.MultiLayerNetExtend(D, [4], 2, loss="mse", backend=backend_name, random_state=0)
    with pytest.raises(ValueError, match=r"t has shape \(24,\) but the model has 2 output"):
        net.loss(X, X[:, 0])
    assert math.isfinite(net.loss(X, X[:, :2]))
    one = xpnet.MultiLayerNetExtend(D, [4], 1, loss="mse", backend=backend_name, random_state=0)
    assert math.isclose(one.loss(X, X[:, 0]), one.loss(X, X[:, :1]), rel_tol=1e-6)


@pytest.mark.parametrize("cls", [xpnet.SingleLayer, xpnet.DualLayer, xpnet.MinibatchNetwork])
@pytest.mark.parametrize("labels", [np.full(N, 0.5), np.full(N, 3), np.where(Y, 1, -1)],
                         ids=["half", "three", "plus-minus-one"])
def test_seed_models_need_binary_targets(cls, labels, backend_name):
    model = _seed(cls)(backend_name)
    before = _state(model)
    with pytest.raises(ValueError, match=rf"y holds values other than 0 and 1.*{cls.__name__}"
                       r" is a binary logistic model"):
        model.fit(X, labels, epochs=2)
    _assert_unchanged(before, model)
    assert model.n_features_in_ == D
    with pytest.raises(ValueError, match=r"y_val holds values other than 0 and 1"):
        model.fit(X, Y, x_val=X, y_val=labels, epochs=2) if cls is not xpnet.MinibatchNetwork \
            else model.fit(X, Y, 2, X, labels)
    _assert_unchanged(before, model)


@pytest.mark.parametrize("cls", [xpnet.SingleLayer, xpnet.DualLayer, xpnet.MinibatchNetwork])
@pytest.mark.parametrize("value", [0, 1])
def test_seed_models_train_on_one_class(cls, value, backend_name):
    """Logistic models are permissive: one class is a valid (if dull) training set."""
    y = np.full(N, value)
    model = cls(backend=backend_name, random_state=0).fit(X, y, epochs=20)
    assert all(math.isfinite(v) for v in model.losses)
    assert model.losses[-1] < model.losses[0]
    assert model.score(X, y) >= 0.5


def test_seed_model_failed_fit_keeps_width(backend_name):
    """A fit that fails validation must not change what predict expects."""
    model = _seed(xpnet.DualLayer, units=3)(backend_name)
    wide = np.hstack([X, X])
    with pytest.raises(ValueError):
        model.fit(wide, np.full(N, 0.5), epochs=2)
    assert model.n_features_in_ == D
    with pytest.raises(ValueError, match="6 features but the model expects 3"):
        model.predict(wide)
    model.predict(X)


def test_wrong_device_is_refused():
    """array_api_strict on its non-default device: an array on another device is refused."""
    strict = pytest.importorskip("array_api_strict")
    net = _net("array_api_strict:device1")
    with pytest.raises(ValueError, match=r"x is on device .*CPU_DEVICE.*device1.*move it"):
        net.predict(strict.asarray(X, dtype=strict.float32))
    on_device = strict.asarray(X, dtype=strict.float32, device=strict.Device("device1"))
    assert net.predict(on_device).shape == (N, 2)


def test_not_fitted_seed_model():
    with pytest.raises(RuntimeError, match=r"not fitted yet; call fit"):
        xpnet.DualLayer().predict(X)


# --------------------------------------------------------------------------- hyperparameters
def _mlne(**kw):
    args = dict(input_size=D, hidden_size_list=[4], output_size=2)
    args.update(kw)
    return lambda: xpnet.MultiLayerNetExtend(**args)


def _trainer(**kw):
    return lambda: xpnet.Trainer(_net("numpy"), X, Y, verbose=False, **kw)


def _fit_epochs(cls, epochs):
    return lambda: cls(random_state=0).fit(X, Y, epochs=epochs)


HYPER = [
    # (id, call, exception, regex naming argument, value and fix)
    ("SingleLayer-lr-0", lambda: xpnet.SingleLayer(learning_rate=0), ValueError,
     r"learning_rate=0 must be a number > 0; pass e\.g\. learning_rate=0\.01"),
    ("SingleLayer-lr-neg", lambda: xpnet.SingleLayer(learning_rate=-0.1), ValueError,
     r"learning_rate=-0\.1 must be"),
    ("SingleLayer-lr-nan", lambda: xpnet.SingleLayer(learning_rate=float("nan")), ValueError,
     r"learning_rate=nan must be"),
    ("SingleLayer-lr-str", lambda: xpnet.SingleLayer(learning_rate="0.1"), TypeError,
     r"learning_rate='0\.1' must be a number"),
    ("SingleLayer-l2-neg", lambda: xpnet.SingleLayer(l2=-1), ValueError, r"l2=-1 must be .*>= 0"),
    ("SingleLayer-on_divergence", lambda: xpnet.SingleLayer(on_divergence="ignore"), ValueError,
     r"on_divergence='ignore' is not a known choice; use one of warn, raise"),
    ("SingleLayer-epochs-0", _fit_epochs(xpnet.SingleLayer, 0), ValueError,
     r"epochs=0 must be an integer > 0"),
    ("DualLayer-epochs-neg", _fit_epochs(xpnet.DualLayer, -5), ValueError,
     r"epochs=-5 must be an integer > 0"),
    ("DualLayer-epochs-float", _fit_epochs(xpnet.DualLayer, 2.5), TypeError,
     r"epochs=2\.5 must be an integer"),
    ("DualLayer-units-0", lambda: xpnet.DualLayer(units=0), ValueError,
     r"units=0 must be an integer > 0; pass e\.g\. units=1"),
    ("DualLayer-units-neg", lambda: xpnet.DualLayer(units=-3), ValueError, r"units=-3 must be"),
    ("DualLayer-units-float", lambda: xpnet.DualLayer(units=2.0), TypeError,
     r"units=2\.0 must be an integer"),
    ("Minibatch-batch-0", lambda: xpnet.MinibatchNetwork(batch_size=0), ValueError,
     r"batch_size=0 must be an integer > 0"),
    ("Minibatch-batch-neg", lambda: xpnet.MinibatchNetwork(batch_size=-32), ValueError,
     r"batch_size=-32 must be"),
    ("Minibatch-epochs-0", _fit_epochs(xpnet.MinibatchNetwork, 0), ValueError,
     r"epochs=0 must be"),
    ("seed-dtype-int32", lambda: xpnet.DualLayer(dtype="int32"), ValueError,
     r"dtype='int32' is not a floating dtype.*float32"),
    ("seed-dtype-int", lambda: xpnet.SingleLayer(dtype=int), ValueError,
     r"dtype=<class 'int'> is not a floating dtype"),
    ("seed-backend", lambda: xpnet.MinibatchNetwork(backend="jaxx"), ValueError,
     r"backend='jaxx' is not a known backend; use one of numpy"),
    ("MLNE-hidden-0", _mlne(hidden_size_list=[4, 0]), ValueError,
     r"hidden_size_list\[1\]=0 must be an integer > 0"),
    ("MLNE-hidden-neg", _mlne(hidden_size_list=[-2]), ValueError,
     r"hidden_size_list\[0\]=-2 must be"),
    ("MLNE-hidden-none", _mlne(hidden_size_list=None), TypeError,
     r"hidden_size_list=None must be a list of layer widths; pass e\.g\."),
    ("MLNE-hidden-str", _mlne(hidden_size_list="10"), TypeError, r"hidden_size_list='10' must"),
    ("MLNE-input-0", _mlne(input_size=0), ValueError, r"input_size=0 must be an integer > 0"),
    ("MLNE-output-neg", _mlne(output_size=-1), ValueError, r"output_size=-1 must be"),
    ("MLNE-dropout-1", _mlne(use_dropout=True, dropout_ratio=1.0), ValueError,
     r"dropout_ratio=1\.0 must be in \[0, 1\); pass e\.g\. dropout_ratio=0\.5"),
    ("MLNE-dropout-neg", _mlne(use_dropout=True, dropout_ratio=-0.1), ValueError,
     r"dropout_ratio=-0\.1 must be in \[0, 1\)"),
    ("MLNE-dropout-str", _mlne(dropout_ratio="half"), TypeError, r"dropout_ratio='half' must"),
    ("MLNE-activation", _mlne(activation="gelu"), ValueError,
     r"activation='gelu' is not a known choice; use one of relu"),
    ("MLNE-init", _mlne(weight_init_std="uniformish"), ValueError,
     r"weight_init(_std)?='uniformish' is not a known initializer; use one of"),
    ("MLNE-init-neg", _mlne(weight_init_std=-0.1), ValueError,
     r"weight_init(_std)?=-0\.1: a standard deviation must be finite and >= 0"),
    ("MLNE-loss", _mlne(loss="hinge"), ValueError, r"loss='hinge' is not a known choice"),
    ("MLNE-decay-neg", _mlne(weight_decay_lambda=-1e-3), ValueError,
     r"weight_decay_lambda=-0\.001 must be a number >= 0"),
    ("MLNE-dtype-int32", _mlne(dtype="int32"), ValueError, r"dtype='int32' is not a floating"),
    ("MLNE-dtype-int", _mlne(dtype=int), ValueError, r"dtype=<class 'int'> is not a floating"),
    ("MLNE-backend", _mlne(backend="tensorflow"), ValueError,
     r"backend='tensorflow' is not a known backend"),
    ("MLNE-backend-type", _mlne(backend=3), TypeError, r"backend=3 must be a string"),
    ("MLNE-random_state", _mlne(random_state="seed"), TypeError,
     r"random_state='seed' must be an int or None"),
    ("Trainer-epochs-0", _trainer(epochs=0), ValueError, r"epochs=0 must be an integer > 0"),
    ("Trainer-batch-0", _trainer(mini_batch_size=0), ValueError,
     r"mini_batch_size=0 must be an integer > 0"),
    ("Trainer-batch-neg", _trainer(mini_batch_size=-5), ValueError, r"mini_batch_size=-5 must"),
    ("Trainer-batch-float", _trainer(mini_batch_size=10.0), TypeError,
     r"mini_batch_size=10\.0 must be an integer"),
    ("Trainer-optimizer", _trainer(optimizer="lbfgs"), ValueError,
     r"optimizer='lbfgs' is not a known optimizer; use one of sgd"),
    ("Trainer-lr-0", _trainer(optimizer_param={"lr": 0}), ValueError,
     r"lr=0 must be a positive finite number, e\.g\. lr=0\.01"),
    ("Trainer-lr-neg", _trainer(optimizer="adam", optimizer_param={"lr": -1e-3}), ValueError,
     r"lr=-0\.001 must be a positive"),
    ("Trainer-lr-inf", _trainer(optimizer_param={"lr": float("inf")}), ValueError,
     r"lr=inf must be a positive finite"),
    ("Trainer-optimizer-param", _trainer(optimizer_param={"learning_rate": 0.1}), TypeError,
     r"optimizer_param=\{'learning_rate': 0\.1\} does not fit SGD"),
    ("Trainer-on_divergence", _trainer(on_divergence="ignore"), ValueError,
     r"on_divergence='ignore' is not a known choice; use one of warn, raise"),
    ("Trainer-monitor", _trainer(monitor="accuracy", patience=2), ValueError,
     r"monitor='accuracy' is not a known choice; use one of val_loss"),
    ("Trainer-patience-0", _trainer(patience=0), ValueError, r"patience=0 must be an integer"),
    ("Trainer-no-val", _trainer(patience=2, monitor="val_loss"), ValueError,
     r"monitor='val_loss' needs validation data; pass x_val/t_val"),
]


@pytest.mark.parametrize("case", HYPER, ids=[c[0] for c in HYPER])
def test_bad_hyperparameters(case):
    _, call, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        call()


EST_HYPER = [
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": (4, -1)}, "hidden_layer_sizes"),
    ({"learning_rate_init": 0.0}, "learning_rate_init"),
    ({"learning_rate_init": -0.1}, "learning_rate_init"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": -8}, "batch_size"),
    ({"max_iter": 0}, "max_iter"),
    ({"activation": "gelu"}, "activation"),
    ({"solver": "lbfgs2"}, "solver"),
    ({"alpha": -1.0}, "alpha"),
    ({"backend": "tensorflow"}, "backend"),
    ({"dtype": "int32"}, "dtype"),
]


@NO_ESTIMATORS
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
@pytest.mark.parametrize("params, arg", EST_HYPER, ids=[a for _, a in EST_HYPER])
def test_estimator_bad_hyperparameters(name, params, arg):
    est = _est(name)(**params)
    with pytest.raises((ValueError, TypeError)) as info:
        est.fit(X, Y)
    assert arg in str(info.value), info.value
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


@NO_ESTIMATORS
def test_classifier_rejects_continuous_targets():
    clf = _est("MLPClassifier")(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, X[:, 0])
    assert not hasattr(clf, "classes_")
    fitted = _quiet(clf.fit, X, Y)
    before = _state(fitted)
    ref = fitted.predict(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        fitted.fit(X, X[:, 0])
    _assert_unchanged(before, fitted)
    np.testing.assert_array_equal(ref, fitted.predict(X))


@NO_ESTIMATORS
def test_classifier_single_class():
    """The estimator's documented choice: one class trains a 1-way output that predicts it
    (scikit-learn's check_classifiers_one_label accepts this or a clear error)."""
    clf = _quiet(_est("MLPClassifier")(hidden_layer_sizes=(4,), max_iter=2,
                                       random_state=0).fit, X, np.full(N, "only"))
    assert list(clf.classes_) == ["only"]
    assert set(clf.predict(X)) == {"only"}
    np.testing.assert_allclose(clf.predict_proba(X), 1.0)


# --------------------------------------------------------------------------- what must work
def test_python_lists_work_everywhere(backend_name):
    xl, yl = X.tolist(), Y.tolist()
    for cls in (xpnet.SingleLayer, xpnet.DualLayer, xpnet.MinibatchNetwork):
        model = cls(backend=backend_name, random_state=0).fit(xl, yl, epochs=2)
        assert model.predict(xl).shape == (N, 1)
        assert isinstance(model.score(xl, yl), float)
    net = _net(backend_name)
    trainer = xpnet.Trainer(net, xl, yl, xl, yl, epochs=2, mini_batch_size=8, verbose=False)
    trainer.train()
    assert len(trainer.history["loss"]) == 2
    assert len(trainer.train_loss_list) == 2 * trainer.iter_per_epoch  # one per iteration
    assert isinstance(net.predict(xl), np.ndarray) and net.predict(xl).shape == (N, 2)
    assert 0.0 <= net.accuracy(xl, yl) <= 1.0


def test_float64_input_stays_float32_inside(backend_name):
    net = _net(backend_name)
    trainer = xpnet.Trainer(net, X.astype(np.float64), Y, epochs=1, verbose=False)
    assert trainer.x_train.dtype == net.backend.dtype == net.xp.float32
    out = net.predict(X.astype(np.float64))
    assert out.dtype == np.float32
    trainer.train()
    assert net.flat.dtype == net.xp.float32
    # float64 arrays of the model's own library are cast too
    dev64 = _on_backend(backend_name, X.astype(np.float64))
    assert net.predict(dev64).dtype == net.xp.float32
    model = xpnet.DualLayer(backend=backend_name, random_state=0).fit(X, Y, epochs=1)
    assert model.w1.dtype == model.xp.float32
    assert model.predict_proba(X).dtype == np.float32


def test_integer_and_bool_features_work(backend_name):
    net = _net(backend_name)
    assert net.predict((X > 0).astype(np.int32)).dtype == np.float32
    assert net.predict(X > 0).shape == (N, 2)


def test_batch_larger_than_data_one_epoch_one_unit(backend_name):
    net = xpnet.MultiLayerNetExtend(D, [1], 2, backend=backend_name, random_state=0)
    trainer = xpnet.Trainer(net, X, Y, epochs=1, mini_batch_size=10 * N, verbose=False)
    trainer.train()
    assert len(trainer.train_loss_list) == 1 and math.isfinite(trainer.train_loss_list[0])
    mb = xpnet.MinibatchNetwork(units=1, batch_size=10 * N, backend=backend_name,
                                random_state=0).fit(X, Y, epochs=1)
    assert len(mb.losses) == 1 and mb.w1.shape == (D, 1)
    dual = xpnet.DualLayer(units=1, backend=backend_name).fit(X, Y, epochs=1)
    assert len(dual.losses) == 1
    single = net.predict(X[:1])
    assert single.shape == (1, 2)


def test_no_hidden_layer_network(backend_name):
    net = xpnet.MultiLayerNetExtend(D, [], 2, backend=backend_name, random_state=0)
    xpnet.Trainer(net, X, Y, epochs=2, verbose=False).train()
    assert net.predict(X).shape == (N, 2)


@NO_ESTIMATORS
def test_estimators_accept_strings_lists_big_batches():
    clf = _est("MLPClassifier")
    labels = np.where(Y == 1, "spam", "ham")
    model = _quiet(clf(hidden_layer_sizes=(1,), max_iter=1, batch_size=10 * N,
                       random_state=0).fit, X.tolist(), labels.tolist())
    pred = model.predict(X)
    assert set(np.unique(pred)) <= {"spam", "ham"}
    assert set(model.classes_) == {"spam", "ham"}
    reg = _quiet(_est("MLPRegressor")(hidden_layer_sizes=(1,), max_iter=1,
                                      random_state=0).fit, X.tolist(), X[:, 0].tolist())
    assert np.asarray(reg.predict(X)).shape[0] == N
