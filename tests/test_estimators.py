"""MLPClassifier / MLPRegressor: scikit-learn's estimator checks, tools and behaviours."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import xpnet
import xpnet.estimators as est_mod
from xpnet import MLPClassifier, MLPRegressor
from xpnet.backend import get_backend, library_of
from xpnet.backends.validation import check_features

SMALL = dict(hidden_layer_sizes=(10,), max_iter=100, learning_rate_init=0.01)
#: the same MLP given as a layer list: the estimator builds a Network instead
LAYERS = dict(layers=[("dense", {"units": 10}), "relu"], max_iter=100, learning_rate_init=0.01)


@parametrize_with_checks(  # no expected failures: dtype="auto" computes float64 data in float64
    [MLPClassifier(**SMALL, dtype="float64"), MLPRegressor(**SMALL, dtype="float64"),
     MLPClassifier(**SMALL), MLPRegressor(**SMALL), MLPClassifier(**LAYERS),
     MLPRegressor(**LAYERS)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------------- scikit-learn tools
def test_pipeline_and_grid_search_on_breast_cancer():
    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, stratify=y, test_size=0.25, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(max_iter=60, random_state=0,
                                           learning_rate_init=0.01))])
    grid = GridSearchCV(pipe, {"mlp__alpha": [1e-4, 1.0],
                               "mlp__hidden_layer_sizes": [(4,), (16,)]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(x_tr, y_tr)
    assert set(grid.best_params_) == {"mlp__alpha", "mlp__hidden_layer_sizes"}
    assert len(grid.cv_results_["mean_test_score"]) == 4
    score = grid.score(x_te, y_te)
    assert isinstance(score, float)
    assert score >= 0.95
    proba = grid.predict_proba(x_te)
    assert proba.shape == (len(y_te), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_string_labels_multiclass_and_binary(digits):
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    y_tr, y_te = names[digits.y_train], names[digits.y_test]
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, learning_rate_init=0.01,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(digits.x_train, y_tr)
    assert list(clf.classes_) == sorted(names)
    pred = clf.predict(digits.x_test)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert clf.score(digits.x_test, y_te) >= 0.9

    yes_no = np.where(digits.y_train % 2 == 0, "even", "odd")
    binary = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        binary.fit(digits.x_train, yes_no)
    proba = binary.predict_proba(digits.x_test)
    assert proba.shape == (len(digits.x_test), 2)  # a 2-way softmax
    assert binary.network_.output_size == 2
    assert set(binary.predict(digits.x_test)) <= {"even", "odd"}


# ---------------------------------------------------------------------- fitting behaviour
def _quiet_fit(model, x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def test_partial_fit_equals_fit_and_keeps_the_optimizer(cancer):
    x, y = cancer.x_train, cancer.y_train
    params = dict(hidden_layer_sizes=(8,), random_state=3, learning_rate_init=0.01,
                  n_iter_no_change=1000, batch_size=64)
    full = _quiet_fit(MLPClassifier(max_iter=4, **params), x, y)
    inc = MLPClassifier(**params)
    with pytest.raises(ValueError, match="classes must be passed"):
        inc.partial_fit(x, y)
    inc.partial_fit(x, y, classes=np.array([0, 1]))
    opt = inc._optimizer
    for _ in range(3):
        inc.partial_fit(x, y)
    assert inc._optimizer is opt and opt.t["flat"] == 4 * int(np.ceil(len(x) / 64))
    assert inc.n_iter_ == 1 and inc.t_ == 4 * len(x)
    assert len(inc.loss_curve_) == 4
    np.testing.assert_allclose(inc.loss_curve_, full.loss_curve_, rtol=1e-6)
    np.testing.assert_array_equal(inc.predict_proba(x), full.predict_proba(x))
    with pytest.raises(ValueError, match="classes not in"):
        inc.partial_fit(x, y + 5)
    with pytest.raises(ValueError, match="not the same"):
        inc.partial_fit(x, y, classes=np.array([0, 1, 2]))


def test_partial_fit_regressor_and_early_stopping_refused(rng):
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5])
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        reg.partial_fit(x, y)
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 3
    assert reg.predict(x).shape == (50,)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(x, y)


def test_warm_start_continues(cancer):
    x, y = cancer.x_train, cancer.y_train
    params = dict(hidden_layer_sizes=(8,), random_state=1, n_iter_no_change=1000)
    ten = _quiet_fit(MLPClassifier(max_iter=10, **params), x, y)
    warm = _quiet_fit(MLPClassifier(max_iter=5, warm_start=True, **params), x, y)
    opt, net = warm._optimizer, warm.network_
    _quiet_fit(warm, x, y)
    # the weights continue; the optimizer is built afresh by each fit, as in scikit-learn
    # (issue 13: it was carried over, so set_params(learning_rate_init=...) had no effect)
    assert warm._optimizer is not opt and warm.network_ is net
    assert warm._optimizer.t["flat"] == opt.t["flat"] == 5 * int(np.ceil(len(x) / 200))
    assert len(warm.loss_curve_) == 10 and warm.n_iter_ == 5 and warm.t_ == 10 * len(x)
    np.testing.assert_allclose(warm.loss_curve_[:5], ten.loss_curve_[:5], rtol=1e-6)
    assert max(warm.loss_curve_[5:]) < warm.loss_curve_[0]  # continued, not restarted
    # without warm_start a second fit starts over
    cold = _quiet_fit(MLPClassifier(max_iter=5, **params), x, y)
    first = list(cold.loss_curve_)
    _quiet_fit(cold, x, y)
    assert cold.loss_curve_ == first
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(x[y == 0], y[y == 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x_is_refused_before_the_fitted_model_changes(cancer, dtype, bad):
    """scikit-learn's message for NaN/inf in X (xpnet reads float matrices for it once, then
    tells validate_data to skip its own pass), raised before anything of a fitted model
    changes: a refit on a bad matrix of another width keeps n_features_in_ and the network;
    predict refuses bad rows alike; lists go through scikit-learn's own check."""
    x, y = cancer.x_train.astype(dtype), cancer.y_train
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0), x, y)
    net, before = clf.network_, clf.predict_proba(x)
    wide = np.hstack([x, x[:, :3]])
    wide[len(x) // 2, -1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.fit(wide, y)
    assert clf.n_features_in_ == x.shape[1] and clf.network_ is net
    np.testing.assert_array_equal(clf.predict_proba(x), before)
    rows = x[:5].copy()
    rows[-1, -1] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.predict(rows)
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.predict(rows.tolist())


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_prediction_finds_nan_and_inf_in_its_forward_pass(backend_name, cancer, to_numpy):
    """predict/predict_proba leave the NaN/inf check of features that go in as they are to
    the forward pass (Network.forward_unchecked): a NaN or infinity in any chunk of rows,
    host or device input, still gets the error (and no NumPy warning first); finite rows get
    the probabilities the checked path gives."""
    x, y = cancer.x_train.astype("float32"), cancer.y_train
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0,
                                   backend=backend_name), x, y)
    backend = clf.network_.backend
    clf.network_.eval_chunk = 64  # several chunks: the check runs in each
    want = to_numpy(clf.network_.last_layer.probabilities(  # the checked path, same chunks
        clf._scores(check_features(x, backend, "X"))))
    for on_device in (False, True):
        data = (lambda a: backend.asarray(a)) if on_device else (lambda a: a)
        np.testing.assert_array_equal(to_numpy(clf.predict_proba(data(x))), want)
        for row in (0, 100, len(x) - 1):
            for bad in (np.nan, np.inf, -np.inf):
                rows = x.copy()
                rows[row, 3] = bad
                with pytest.raises(ValueError, match="NaN|infinity"):
                    clf.predict_proba(data(rows))
                with pytest.raises(ValueError, match="NaN|infinity"):
                    clf.predict(data(rows))


def test_early_stopping_restores_best_weights(digits, monkeypatch):
    held_out = {}
    original = est_mod.train_test_split

    def recording_split(*args, **kwargs):
        train_idx, val_idx = original(*args, **kwargs)
        held_out["val"] = val_idx
        return train_idx, val_idx

    monkeypatch.setattr(est_mod, "train_test_split", recording_split)
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.05, early_stopping=True,
                        validation_fraction=0.2, n_iter_no_change=3, max_iter=200,
                        random_state=0)
    clf.fit(digits.x_train, digits.y_train)
    scores = clf.validation_scores_
    assert isinstance(scores, list) and len(scores) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.n_iter_ < 200  # stopped early
    assert clf.best_loss_ is None
    assert clf.best_validation_score_ == max(scores)
    best_epoch = clf.history_.best_epoch
    assert clf.history_.stopped_epoch == clf.n_iter_ == best_epoch + 3
    val = held_out["val"]
    # stratified hold-out of validation_fraction
    assert len(val) == int(np.ceil(0.2 * len(digits.x_train)))
    per_class = np.bincount(digits.y_train[val], minlength=10)
    assert np.all(np.abs(per_class - 0.2 * np.bincount(digits.y_train)) <= 1)  # stratified
    # the weights in place are those of the best epoch, not of the last one
    restored = clf.score(digits.x_train[val], digits.y_train[val])
    assert restored == pytest.approx(scores[best_epoch - 1], abs=1e-6)


def test_convergence_warning_only_when_max_iter_is_reached(cancer):
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3).fit(cancer.x_train, cancer.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=500, tol=10.0,
                            n_iter_no_change=2, random_state=0)
        clf.fit(cancer.x_train, cancer.y_train)
    assert clf.n_iter_ == 3  # the first epoch, then 2 without an improvement of tol
    assert clf.history_.stopped_epoch == 3
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_seed_004_comparison_config(cancer):
    """Seed 004 trains sklearn's MLPClassifier with this config (val accuracy 0.989)."""
    mlp = MLPClassifier(hidden_layer_sizes=(10,), activation="logistic", solver="sgd",
                        alpha=0.01, batch_size=32, learning_rate_init=0.1, max_iter=1000,
                        random_state=0)
    mlp.fit(cancer.x_train, cancer.y_train)
    assert mlp.score(cancer.x_val, cancer.y_val) >= 0.97
    # sklearn's alpha scaling: alpha / (2 B) ||W||^2 per mini-batch of B samples
    assert mlp.network_.weight_decay_lambda == pytest.approx(0.01 / 32)
    assert mlp.network_.activation == "logistic"
    assert type(mlp._optimizer).__name__ == "SGD"


@pytest.mark.parametrize("solver", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop"])
def test_every_solver_learns(solver, cancer):
    lr = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.05, "rmsprop": 0.005}
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, learning_rate_init=lr[solver],
                        max_iter=15, random_state=0)
    _quiet_fit(clf, cancer.x_train, cancer.y_train)
    assert type(clf._optimizer).__name__.lower() == solver
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(cancer.x_val, cancer.y_val) >= 0.9


def test_digits_accuracy_on_every_backend(backend_name, digits):
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=25, learning_rate_init=0.01,
                        random_state=0, backend=backend_name)
    _quiet_fit(clf, digits.x_train, digits.y_train)
    assert clf.network_.backend.name == backend_name.split(":")[0]
    score = clf.score(digits.x_test, digits.y_test)
    assert isinstance(score, float) and score >= 0.95
    # NumPy in, NumPy out
    pred = clf.predict(digits.x_test)
    assert isinstance(pred, np.ndarray) and pred.dtype == clf.classes_.dtype
    # the model's own arrays stay on its device (no host round trip) and come back as such
    b = get_backend(backend_name)
    x_dev = b.asarray(digits.x_test)
    pred_dev = clf.predict(x_dev)
    assert library_of(pred_dev) == library_of(x_dev)
    np.testing.assert_array_equal(b.to_numpy(pred_dev), pred)
    proba_dev = clf.predict_proba(x_dev)
    assert library_of(proba_dev) == library_of(x_dev)
    np.testing.assert_allclose(b.to_numpy(proba_dev), clf.predict_proba(digits.x_test),
                               rtol=1e-5, atol=1e-6)
    y_dev = b.asarray(digits.y_test, dtype="int64")
    assert clf.score(x_dev, y_dev) == pytest.approx(score)


def test_fit_on_device_arrays(backend_name, rng):
    b = get_backend(backend_name)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=0.05,
                        random_state=0, backend=backend_name, early_stopping=True)
    _quiet_fit(clf, b.asarray(x), b.asarray(y, dtype="int64"))
    assert clf.n_features_in_ == 4 and list(clf.classes_) == [0, 1]
    assert clf.score(x, y) >= 0.9
    t = x @ np.array([1.0, -1.0, 0.5, 0.0], dtype=np.float32)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.02,
                       random_state=0, backend=backend_name)
    _quiet_fit(reg, b.asarray(x), b.asarray(t))
    out = reg.predict(b.asarray(x))
    assert library_of(out) == library_of(b.asarray(x)) and tuple(out.shape) == (200,)
    assert reg.score(b.asarray(x), b.asarray(t)) >= 0.9


def test_regression_r2_and_output_shapes(rng):
    x = rng.uniform(-2, 2, size=(400, 2))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.01,
                       random_state=0)
    _quiet_fit(reg, x, y)
    assert reg.predict(x).shape == (400,)
    assert reg.score(x, y) >= 0.95
    assert reg.out_activation_ == "identity" and reg.network_.loss_name == "mse"
    y2 = np.column_stack([y, -y])
    reg2 = _quiet_fit(MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0),
                      x, y2)
    assert reg2.predict(x).shape == (400, 2) and reg2.n_outputs_ == 2
    with pytest.raises(ValueError, match="output"):
        _quiet_fit(MLPRegressor(warm_start=True, max_iter=1), x, y).fit(x, y2)


def test_extras_batchnorm_dropout_l1(cancer):
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), batchnorm=True, dropout=0.2, l1=1e-3,
                        activation="tanh", max_iter=20, random_state=0)
    _quiet_fit(clf, cancer.x_train, cancer.y_train)
    net = clf.network_
    assert net.use_batchnorm and net.use_dropout and net.dropout_ratio == 0.2
    assert net.weight_init_std == "xavier" and net.l1 > 0
    assert [c.shape for c in clf.coefs_] == [(30, 16), (16, 8), (8, 2)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (8,), (2,)]
    assert clf.score(cancer.x_val, cancer.y_val) >= 0.9
    p1, p2 = clf.predict_proba(cancer.x_val), clf.predict_proba(cancer.x_val)
    np.testing.assert_array_equal(p1, p2)  # eval mode: no dropout at prediction


@pytest.mark.parametrize(("param", "value", "match"), [
    ("solver", "lbfgs", "solver='lbfgs'"),
    ("activation", "softplus", "activation='softplus'"),
    ("alpha", -1.0, "alpha=-1.0"),
    ("batch_size", 0, "batch_size=0"),
    ("hidden_layer_sizes", (10, 0), "hidden_layer_sizes"),
    ("validation_fraction", 1.0, "validation_fraction=1.0"),
    ("weight_init", "bogus", "weight_init='bogus'"),
    ("max_iter", 0, "max_iter=0"),
    ("random_state", -3, "random_state=-3"),
])
def test_bad_parameters_are_named(param, value, match, cancer):
    clf = MLPClassifier(**{param: value})  # no validation in __init__ (sklearn convention)
    with pytest.raises(ValueError, match=match):
        clf.fit(cancer.x_train, cancer.y_train)


def test_unfitted_and_pickled(backend_name, cancer):
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, shuffle=False,
                        backend=backend_name)
    with pytest.raises(NotFittedError):
        clf.predict(cancer.x_val)
    _quiet_fit(clf, cancer.x_train, cancer.y_train)
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.network_.backend.spec == clf.network_.backend.spec
    np.testing.assert_array_equal(copy.predict_proba(cancer.x_val),
                                  clf.predict_proba(cancer.x_val))
    # the optimizer's state survives: both continue alike (a fresh Adam would not: its
    # bias-corrected first steps move every weight by about the learning rate)
    fresh = pickle.loads(pickle.dumps(clf))
    fresh._optimizer.reset()
    for model in (clf, copy, fresh):
        model.partial_fit(cancer.x_train, cancer.y_train)
    p_clf, p_copy = clf.predict_proba(cancer.x_val), copy.predict_proba(cancer.x_val)
    np.testing.assert_allclose(p_copy, p_clf, rtol=1e-5, atol=1e-6)
    assert np.abs(fresh.predict_proba(cancer.x_val) - p_clf).max() > 1e-4


def test_public_names():
    assert xpnet.MLPClassifier is MLPClassifier and xpnet.MLPRegressor is MLPRegressor
    assert {"MLPClassifier", "MLPRegressor", "save", "load"} <= set(xpnet.__all__)
