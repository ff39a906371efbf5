"""Issue 13, reliability round 2: recovery after divergence (class 2), interrupts (class 3),
copies and pickles whatever ``backend=`` is (class 5), scikit-learn's dtype rule (class 6)."""

from __future__ import annotations

import copy
import importlib.util
import os
import pickle
import subprocess
import sys
import warnings

import array_api_strict
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

import xpnet
from xpnet.backends import Backend, NamespaceBackend, get_backend
from xpnet.nn.trainer import EXPLOSION_FACTOR, Trainer

to_numpy = get_backend("numpy").to_numpy
RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 4))
Y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)


def _fit(model, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kw)


def _finite_state(optimizer) -> bool:
    return all(np.isfinite(to_numpy(a)).all() for a in optimizer.state_arrays().values())


# ------------------------------------------------------------------ class 2: divergence
def test_rollback_resets_the_optimizer_and_fit_builds_a_new_one(backend_name):
    clf = xpnet.MLPClassifier((8,), learning_rate_init=1e30, max_iter=5, batch_size=40,
                              random_state=0, backend=backend_name)
    with pytest.warns(RuntimeWarning, match="diverged at epoch 1"), \
            np.errstate(all="ignore"):
        clf.fit(X * 1e15, Y)
    assert clf.history_.diverged and clf._optimizer.state == {} and clf._optimizer.t == {}
    net, weights = clf.network_, to_numpy(clf.network_.flat).copy()
    # the warning's advice works: a new rate, fresh moments, the same (rolled back) weights
    clf.set_params(learning_rate_init=0.05, warm_start=True, max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _fit(clf, X, Y)
    assert clf.network_ is net and clf._optimizer.lr == 0.05 and _finite_state(clf._optimizer)
    assert not clf.history_.diverged and clf.score(X, Y) > 0.9
    assert not np.array_equal(to_numpy(net.flat), weights)
    # partial_fit keeps the optimizer fit built
    opt = clf._optimizer
    clf.partial_fit(X, Y)
    assert clf._optimizer is opt


@pytest.mark.parametrize("on_divergence", ["warn", "raise"])
def test_a_finite_loss_explosion_is_a_divergence(on_divergence, backend_name):
    """Full-batch SGD at lr=1e6: epoch 2's loss is ~1e11, finite.  Epoch 1's loss was fine,
    but its step made epoch 2's: the model goes back to its initial weights."""
    net = xpnet.MultiLayerNetExtend(4, [16], 2, backend=backend_name, random_state=0)
    start = to_numpy(net.flat).copy()
    trainer = Trainer(net, X, Y, epochs=5, mini_batch_size=len(X), optimizer="sgd",
                      optimizer_param={"lr": 1e6}, verbose=False, on_divergence=on_divergence)
    error = pytest.raises(xpnet.DivergenceError, match="epoch 2: the loss grew to") \
        if on_divergence == "raise" else \
        pytest.warns(RuntimeWarning, match=r"epoch 2: the loss grew to .* x max\(its start "
                                           r".*keeps its initial weights")
    with error, np.errstate(all="ignore"):
        trainer.train()
    history = trainer.history
    assert history.diverged and history["loss"] == [] and history.iter_loss == []
    np.testing.assert_array_equal(to_numpy(net.flat), start)
    assert trainer.optimizer.state == {}


def test_explosion_bound_spares_healthy_runs():
    """Large healthy steps (the loss rises 4-fold, then falls) stay below the bound."""
    clf = xpnet.MLPRegressor((16,), solver="momentum", learning_rate_init=0.01, max_iter=30,
                             random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _fit(clf, X, 100.0 * X[:, 0])  # unscaled targets: a start loss of ~5000
    curve = clf.loss_curve_
    assert not clf.history_.diverged and len(curve) == clf.n_iter_ > 20
    assert 2 * curve[0] < max(curve) < EXPLOSION_FACTOR * curve[0]


# ------------------------------------------------------------------ class 3: interrupts
def _interrupt_epoch(monkeypatch, at: int) -> None:
    """Ctrl-C during epoch ``at`` (1-based) of every Trainer: after its first half."""
    original, calls = Trainer._run_epoch, []

    def run_epoch(self):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "_run_epoch", run_epoch)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_interrupted_estimator_records_completed_epochs(early_stopping, monkeypatch):
    clf = xpnet.MLPClassifier((8,), max_iter=50, random_state=0, early_stopping=early_stopping)
    _fit(clf, X, Y)  # a first call: the curves carry over
    before, n_train = len(clf.loss_curve_), int(clf.t_ / clf.n_iter_)
    clf.set_params(warm_start=True)
    _interrupt_epoch(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == before + 3
    assert clf.t_ == n_train * (before + 3) and clf.loss_ == clf.loss_curve_[-1]


@pytest.mark.parametrize("cls", [xpnet.DualLayer, xpnet.MinibatchNetwork],
                         ids=lambda c: c.__name__)
def test_interrupted_seed_model_keeps_its_losses(cls):
    """Checked every 100 epochs: the 7 epochs before Ctrl-C are recorded all the same."""

    class Interrupted(cls):
        def training(self, x, y, m):
            self.steps = getattr(self, "steps", 0) + 1
            if self.steps == 8:
                raise KeyboardInterrupt
            return super().training(x, y, m)

    kw = {"batch_size": 120} if cls is xpnet.MinibatchNetwork else {}
    model, clean = Interrupted(random_state=0, **kw), cls(random_state=0, **kw)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=300)
    clean.fit(X, Y, epochs=7)
    np.testing.assert_allclose(model.losses, clean.losses, rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(model.w2), to_numpy(clean.w2))


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed")
def test_ctrl_c_during_the_numba_import_does_not_break_training():
    """Ctrl-C deep inside numba's import (the first fit loads the kernels): the next fit
    imports it again and trains with the compiled kernels (it used to fail with "module
    'numba' has no attribute 'core'")."""
    script = """if True:
        import importlib.abc, sys, warnings
        class Interrupt(importlib.abc.MetaPathFinder):
            fired = False
            def find_spec(self, name, path, target=None):
                if name == "numba.core.extending" and not Interrupt.fired:
                    Interrupt.fired = True
                    raise KeyboardInterrupt
        sys.meta_path.insert(0, Interrupt())
        warnings.simplefilter("ignore")
        import numpy as np, xpnet
        from xpnet.backends import numpy_backend
        x = np.random.default_rng(0).normal(size=(300, 8)); y = (x[:, 0] > 0).astype(int)
        # hidden 64 x batch 200: ReLU on 12,800 values takes the compiled kernels at once
        clf = xpnet.MLPClassifier((64,), max_iter=30, learning_rate_init=0.02, random_state=0)
        try:
            clf.fit(x, y)
        except KeyboardInterrupt:
            print("interrupted", Interrupt.fired)
        clf.fit(x, y)
        print("kernels", numpy_backend._loops().AVAILABLE, clf.score(x, y) > 0.9)
    """
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "XPNET_NUMBA": "1"},
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.split() == ["interrupted", "True", "kernels", "True", "True"], out.stderr


# ------------------------------------------------------------------ class 5: copies
BACKENDS = {"module": lambda: array_api_strict,
            "strict-device1": lambda: get_backend("array_api_strict:device1", "float64", 3),
            "numpy-backend": lambda: get_backend("numpy", "float32", 5)}
COPIES = {"deepcopy": copy.deepcopy, "pickle": lambda m: pickle.loads(pickle.dumps(m))}


def _same_backend_param(a, b) -> bool:
    if isinstance(a, Backend):
        return type(a) is type(b) and repr(a) == repr(b)
    return a is b


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("which", BACKENDS)
def test_models_copy_and_pickle_whatever_the_backend(which, how):
    backend, copy_of = BACKENDS[which](), COPIES[how]
    dtype = backend.dtype_name if isinstance(backend, Backend) else "float32"
    net = xpnet.MultiLayerNetExtend(4, [5], 2, use_batchnorm=True, backend=backend,
                                    dtype=dtype, random_state=0)
    seed = xpnet.DualLayer(units=3, backend=backend, dtype=dtype).fit(X, Y, epochs=3)
    for model in (net, seed):
        twin = copy_of(model)
        np.testing.assert_array_equal(to_numpy(twin.predict(X)), to_numpy(model.predict(X)))
    for fitted in (False, True):
        clf = xpnet.MLPClassifier((5,), max_iter=3, random_state=0, backend=backend)
        if fitted:
            _fit(clf, X, Y)
        twin = copy_of(clf)
        assert _same_backend_param(twin.get_params()["backend"], backend)
        assert twin.get_params(deep=False).keys() == clf.get_params(deep=False).keys()
        if fitted:
            np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))


def test_backend_pickles_by_spec_and_starts_from_its_seed():
    for backend in (get_backend("array_api_strict:device1", "float64", 3),
                    Backend(array_api_strict, dtype="float64", random_state=1),
                    NamespaceBackend(array_api_strict, random_state=2)):  # by module name
        first = to_numpy(backend.permutation(6))
        twin = pickle.loads(pickle.dumps(backend))
        assert type(twin) is type(backend) and repr(twin) == repr(backend)
        assert twin.xp is backend.xp and twin.device == backend.device
        np.testing.assert_array_equal(to_numpy(twin.permutation(6)), first)


def test_grid_search_in_parallel_with_a_namespace_module():
    grid = GridSearchCV(xpnet.MLPClassifier((4,), max_iter=5, random_state=0,
                                            backend=array_api_strict),
                        {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2)
    _fit(grid, X, Y)
    assert grid.best_estimator_.backend is array_api_strict
    assert grid.best_estimator_.network_.backend.name == "array_api_strict"


# ------------------------------------------------------------------ class 6: dtypes
@pytest.mark.parametrize(("data", "dtype", "expected"), [
    ("float32", "auto", "float32"), ("float64", "auto", "float64"),
    ("int64", "auto", "float64"), ("float64", "float32", "float32")])
def test_auto_dtype_follows_scikit_learns_rule(data, dtype, expected):
    x = (X * 4).astype(data)
    clf = _fit(xpnet.MLPRegressor((6,), max_iter=3, random_state=0, dtype=dtype), x, X[:, 0])
    assert clf.network_.backend.dtype_name == expected
    assert clf.predict(x).dtype == (np.float64 if data == "int64" else np.dtype(data))
    if expected == data == "float64":  # a row's prediction does not depend on its batch
        full = clf.predict(x)
        for rows in (slice(0, 1), slice(3, 50), slice(7, 120)):
            np.testing.assert_allclose(clf.predict(x[rows]), full[rows], rtol=1e-12, atol=0)
