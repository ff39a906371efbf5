"""Random hyper-parameter search: sampling, trial kinds, failures, parallel and Dask runs, plots."""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import ParameterSampler

from xpnet import DualLayer, History, MultiLayerNetExtend, SingleLayer, Trainer
from xpnet import search as S
from xpnet.backends import parse_backend
from xpnet.search import SearchResult, log_uniform, random_search, uniform

SPACE = {"lr": log_uniform(1e-3, 1e-1), "wd": log_uniform(1e-8, 1e-4)}


# ------------------------------------------------------------------ helpers (module level:
# trials run in other processes import them from here)
def train_mlp(params, random_state, X_train, y_train, X_val, y_val, backend="numpy", epochs=3):
    """Seed 003's __train(lr, weight_decay) on a tiny MultiLayerNetExtend."""
    net = MultiLayerNetExtend(X_train.shape[1], [16], 10, weight_decay_lambda=params["wd"],
                              backend=backend, random_state=random_state)
    trainer = Trainer(net, X_train, y_train, X_val, y_val, epochs=epochs, mini_batch_size=100,
                      optimizer="sgd", optimizer_param={"lr": params["lr"]}, verbose=False)
    return trainer.train()


def flaky(params):
    """Fails for small ``a``; returns a history dict with an explicit score otherwise."""
    if params["a"] < 0.5:
        raise ValueError(f"a={params['a']} is too small")
    return {"loss": [1.0, 0.5], "val_acc": [0.4, params["a"]], "score": params["a"]}


class Recorder(ClassifierMixin, BaseEstimator):
    """A minimal scikit-learn classifier: its score is ``alpha``; it records its seed and
    keeps its curves in a History (``history_``), as xpnet's estimators do."""

    def __init__(self, alpha=0.1, random_state=None, backend="numpy"):
        self.alpha = alpha
        self.random_state = random_state
        self.backend = backend

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.seen_ = (len(X), self.random_state, self.backend)
        self.history_ = History(loss=[1.0, 0.5], train_acc=[0.5, 0.6], val_acc=[0.4, 0.5])
        return self

    def score(self, X, y):
        return float(self.alpha)


class RecorderRegressor(RegressorMixin, Recorder):
    """The same, as a regressor (scored as R^2, split without stratification)."""

    def score(self, X, y):
        return float(self.alpha)


@pytest.fixture(scope="module")
def digits_small(digits):
    return digits.x_train[:300], digits.y_train[:300], digits.x_val[:100], digits.y_val[:100]


@pytest.fixture(scope="module")
def serial_result(digits_small):
    x, y, xv, yv = digits_small
    return random_search(train_mlp, SPACE, x, y, n_trials=4, X_val=xv, y_val=yv,
                         random_state=3)


def _assert_same(a: SearchResult, b: SearchResult) -> None:
    assert a.params == b.params
    assert a.seeds == b.seeds
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.errors == b.errors
    for ca, cb in zip(a.curves, b.curves, strict=True):
        assert ca.keys() == cb.keys()
        for key in ca:
            np.testing.assert_allclose(ca[key], cb[key], rtol=1e-6)


# ------------------------------------------------------------------ distributions, sampling
def test_log_uniform_bounds_and_spread():
    dist = log_uniform(1e-6, 1e-2)
    draws = dist.rvs(size=4000, random_state=0)
    assert draws.min() >= 1e-6 and draws.max() <= 1e-2
    logs = np.log10(draws)
    # uniform in the exponent: mean -4, a quarter of the draws per decade
    assert abs(logs.mean() + 4.0) < 0.1
    assert abs(np.mean(logs < -5) - 0.25) < 0.03
    assert dist.rvs(random_state=1) == log_uniform(1e-6, 1e-2).rvs(random_state=1)


def test_uniform_bounds():
    draws = uniform(-1.0, 3.0).rvs(size=2000, random_state=0)
    assert draws.min() >= -1.0 and draws.max() <= 3.0
    assert abs(draws.mean() - 1.0) < 0.1


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1e-3, 1e-2), (1e-2, 1e-2), (1.0, 0.1)])
def test_log_uniform_rejects_bad_bounds(low, high):
    with pytest.raises(ValueError, match="0 < low < high"):
        log_uniform(low, high)


def test_distribution_arguments_are_checked():
    with pytest.raises(ValueError, match="low < high"):
        uniform(2.0, 1.0)
    with pytest.raises(TypeError, match="low="):
        log_uniform("1e-3", 1.0)
    with pytest.raises(TypeError, match="high="):
        uniform(0.0, math.inf)


def test_same_random_state_draws_parameter_sampler_trials(digits_small):
    x, y, xv, yv = digits_small
    space = {"lr": log_uniform(1e-3, 1e-1), "wd": [0.0, 1e-6, 1e-4], "size": uniform(0, 1)}
    result = random_search(lambda p: {"score": p["lr"]}, space, n_trials=6, random_state=11)
    expected = list(ParameterSampler(space, n_iter=6, random_state=11))
    assert result.params == expected
    assert all(type(v) is float for p in result.params for v in p.values())
    again = random_search(lambda p: {"score": p["lr"]}, space, n_trials=6, random_state=11)
    assert again.params == result.params and again.seeds == result.seeds
    other = random_search(lambda p: {"score": p["lr"]}, space, n_trials=6, random_state=12)
    assert other.params != result.params


def test_random_state_none_is_recorded_and_reproduces():
    result = random_search(flaky, {"a": uniform(0.5, 1.0)}, n_trials=3)
    assert isinstance(result.random_state, int)
    again = random_search(flaky, {"a": uniform(0.5, 1.0)}, n_trials=3,
                          random_state=result.random_state)
    assert again.params == result.params and again.seeds == result.seeds


# ------------------------------------------------------------------ the three kinds of model
def test_callable_with_multilayernet_on_every_backend(backend_name, digits_small):
    x, y, xv, yv = digits_small
    result = random_search(train_mlp, SPACE, x, y, n_trials=2, X_val=xv, y_val=yv,
                           random_state=0, fit_params={"backend": backend_name, "epochs": 2},
                           score_name="val acc")
    assert result.errors == [None, None]
    for scores, curves in zip(result.scores, result.curves, strict=True):
        assert 0.0 <= scores <= 1.0
        # the book's Trainer gets the validation rows as its test data: the last test_acc
        assert scores == curves["test_acc"][-1]
        assert len(curves["loss"]) == len(curves["train_acc"]) == 2
    assert result.best_score == max(result.scores)
    assert result.best_params == result.params[int(np.argmax(result.scores))]


def test_seed_model_is_recreated_per_trial(backend_name, cancer):
    base = DualLayer(units=4, l2=0.01, backend=backend_name, random_state=5)
    space = {"learning_rate": log_uniform(1e-2, 1.0), "units": [2, 8]}
    result = random_search(base, space, cancer.x_train, cancer.y_train, n_trials=3,
                           X_val=cancer.x_val, y_val=cancer.y_val, random_state=0,
                           fit_params={"epochs": 5})
    assert result.errors == [None] * 3
    assert result.score_name == "val acc"
    for params, score, curves in zip(result.params, result.scores, result.curves, strict=True):
        net = DualLayer(units=params["units"], learning_rate=params["learning_rate"], l2=0.01,
                        backend=backend_name, random_state=5)
        net.fit(cancer.x_train, cancer.y_train, x_val=cancer.x_val, y_val=cancer.y_val,
                epochs=5)
        assert score == pytest.approx(net.score(cancer.x_val, cancer.y_val))
        np.testing.assert_allclose(curves["loss"], net.losses, rtol=1e-5)
        assert len(curves["val_loss"]) == 5


def test_seed_model_failing_trials_are_recorded(cancer):
    space = {"units": [0, 3], "learning_rate": log_uniform(0.05, 0.5)}
    result = random_search(DualLayer(), space, cancer.x_train, cancer.y_train, n_trials=6,
                           random_state=1, fit_params={"epochs": 3})
    units = [p["units"] for p in result.params]
    assert set(units) == {0, 3}
    for u, score, error, curves in zip(units, result.scores, result.errors, result.curves,
                                       strict=True):
        if u == 0:
            assert math.isnan(score) and curves == {}
            assert error.startswith("ValueError") and "units" in error
        else:
            assert error is None and 0.0 <= score <= 1.0
    rows = result.rows()
    assert [r["params"]["units"] for r in rows[-units.count(0):]] == [0] * units.count(0)
    assert result.n_failed == units.count(0)
    assert result.best_params["units"] == 3


def test_seed_model_epochs_can_be_searched(cancer):
    result = random_search(SingleLayer(), {"epochs": [2, 4]}, cancer.x_train, cancer.y_train,
                           n_trials=2, random_state=0)
    assert sorted(len(c["loss"]) for c in result.curves) == [2, 4]
    # validation split held out of X: stratified, validation_fraction of the rows
    assert all(len(c["val_loss"]) == len(c["loss"]) for c in result.curves)


def test_callable_failures_recorded_and_all_failing_raises():
    result = random_search(flaky, {"a": uniform(0.0, 1.0)}, n_trials=8, random_state=0)
    for params, score, error in zip(result.params, result.scores, result.errors, strict=True):
        if params["a"] < 0.5:
            assert math.isnan(score) and "ValueError: a=" in error
        else:
            assert error is None and score == params["a"]
    assert 0 < result.n_failed < 8
    assert result.best_score == max(p["a"] for p in result.params)
    with pytest.raises(RuntimeError, match=r"all 3 trials failed.*ValueError: a="):
        random_search(flaky, {"a": uniform(0.0, 0.4)}, n_trials=3, random_state=0)


def test_callable_without_score_is_a_recorded_error():
    def no_score(params):
        return {"loss": [1.0, 0.9]}

    with pytest.raises(RuntimeError, match="without a score"):
        random_search(no_score, {"a": [1, 2]}, n_trials=2, random_state=0)


def test_estimator_protocol_seeds_and_split(cancer):
    x, y = cancer.x_train, cancer.y_train
    result = random_search(Recorder(), {"alpha": uniform(0.0, 1.0)}, x, y, n_trials=3,
                           validation_fraction=0.25, random_state=4)
    assert result.score_name == "val acc"
    assert result.scores == [p["alpha"] for p in result.params]
    assert result.curves[0] == {"loss": [1.0, 0.5], "train_acc": [0.5, 0.6],
                                "val_acc": [0.4, 0.5]}
    # random_state None: each trial's clone got the trial's own seed
    assert len(set(result.seeds)) == 3
    assert result.seeds == [S._trial_seed(4, i) for i in range(3)]
    # the model's own random_state is kept
    kept = random_search(Recorder(random_state=7), {"alpha": [0.1, 0.2]}, x, y, n_trials=2,
                         random_state=4)
    assert kept.errors == [None, None]
    reg = random_search(RecorderRegressor(), {"alpha": [0.3]}, x, y.astype(float), n_trials=1,
                        random_state=0)
    assert reg.score_name == "val R^2" and reg.scores == [0.3]


def test_estimator_runner_sets_seed_and_device(cancer):
    runner, kind, backend = S._make_runner(Recorder(), {"alpha": [0.1]}, {})
    assert kind == "estimator" and backend == "numpy"
    seen = []

    class Spy(Recorder):
        def fit(self, X, y):
            seen.append((len(X), self.random_state, self.backend, self.alpha))
            return super().fit(X, y)

    data = (cancer.x_train, cancer.y_train, cancer.x_val, cancer.y_val)
    spy_runner = S._make_runner(Spy(), {"alpha": [0.1]}, {})[0]
    _, _, _, _, error, _, _ = S._run_chunk(spy_runner, [(0, {"alpha": 0.3}, 1234, "cupy:1")],
                                           *data)[0]
    assert error is None
    assert seen == [(len(cancer.x_train), 1234, "cupy:1", 0.3)]
    spy_runner = S._make_runner(Spy(random_state=9), {"alpha": [0.1]}, {})[0]
    S._run_chunk(spy_runner, [(0, {"alpha": 0.3}, 1234, None)], *data)
    assert seen[-1] == (len(cancer.x_train), 9, "numpy", 0.3)


# ------------------------------------------------------------------ parallel and Dask
def test_n_jobs_matches_serial(serial_result, digits_small):
    x, y, xv, yv = digits_small
    parallel = random_search(train_mlp, SPACE, x, y, n_trials=4, X_val=xv, y_val=yv,
                             random_state=3, n_jobs=2)
    _assert_same(serial_result, parallel)
    assert serial_result.errors == [None] * 4


def test_dask_cluster_matches_serial(serial_result, digits_small):
    distributed = pytest.importorskip("distributed")
    x, y, xv, yv = digits_small
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            on_client = random_search(train_mlp, SPACE, x, y, n_trials=4, X_val=xv, y_val=yv,
                                      random_state=3, client=client)
        on_address = random_search(train_mlp, SPACE, x, y, n_trials=4, X_val=xv, y_val=yv,
                                   random_state=3, client=cluster.scheduler_address)
    _assert_same(serial_result, on_client)
    _assert_same(serial_result, on_address)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[dask\]"'):
        random_search(flaky, {"a": [1.0]}, n_trials=1, client="tcp://127.0.0.1:8786")


def test_gpu_backends_get_one_chunk_per_device(monkeypatch):
    def backend_on_a_gpu_machine(spec):  # what get_backend builds where two GPUs are seen
        name, device = parse_backend(spec)
        return SimpleNamespace(is_gpu=name == "cupy" or (device or "").startswith("cuda"))

    monkeypatch.setattr(S, "get_backend", backend_on_a_gpu_machine)
    monkeypatch.setattr(S, "_gpu_count", lambda backend: 2)
    trials = [{"a": i} for i in range(5)]
    seeds = list(range(100, 105))
    tasks, n_jobs = S._tasks(trials, seeds, "cupy", 8, None)
    assert n_jobs == 2
    assert [[(i, b) for i, _, _, b in t] for t in tasks] == [
        [(0, "cupy:0"), (2, "cupy:0"), (4, "cupy:0")], [(1, "cupy:1"), (3, "cupy:1")]]
    tasks, n_jobs = S._tasks(trials, seeds, "torch:cuda", 1, None)
    assert n_jobs == 2 and tasks[1][0][3] == "torch:cuda:1"
    tasks, n_jobs = S._tasks(trials, seeds, "cupy:1", 4, None)  # a pinned device: serial
    assert n_jobs == 1 and {b for _, _, _, b in tasks[0]} == {"cupy:1"}
    tasks, n_jobs = S._tasks(trials, seeds, "torch", 4, None)  # CPU: one trial per task
    assert n_jobs == 4 and len(tasks) == 5 and tasks[3] == [(3, {"a": 3}, 103, None)]
    assert S._gpu_devices("numpy") is None and S._gpu_devices("torch:cpu") is None


# ------------------------------------------------------------------ results
def test_rows_top_and_table():
    result = random_search(flaky, {"a": uniform(0.0, 1.0)}, n_trials=8, random_state=0)
    rows = result.rows()
    scores = [r["score"] for r in rows if r["error"] is None]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in rows] == list(range(1, 9))
    assert all(r["error"] is not None for r in rows[len(scores):])
    assert rows[0]["trial"] == result.best_index and rows[0]["params"] == result.best_params
    assert result.top(2) == rows[:2]
    with pytest.raises(ValueError, match="positive integer"):
        result.top(0)
    table = result.format_table(3)
    assert table.splitlines()[0].startswith("Best-1 ") and f"{result.best_score:.4f}" in table


def test_to_frame_without_pandas_says_how_to_fix(monkeypatch):
    result = random_search(flaky, {"a": [0.7, 0.9]}, n_trials=2, random_state=0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        result.to_frame()


def test_to_frame_with_pandas():
    pytest.importorskip("pandas")
    result = random_search(flaky, {"a": [0.7, 0.9, 0.1]}, n_trials=3, random_state=0)
    frame = result.to_frame()
    assert list(frame.columns[:4]) == ["rank", "trial", "score", "param_a"]
    assert frame["param_a"].tolist()[:2] == [0.9, 0.7]


def test_plot_writes_png(serial_result, tmp_path):
    path = serial_result.plot(tmp_path / "grid.png", top=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    losses_only = random_search(lambda p: {"loss": [1.0, p["a"]], "score": p["a"]},
                                {"a": [0.2, 0.4]}, n_trials=2, random_state=0)
    assert losses_only.plot(tmp_path / "loss").suffix == ".png"
    no_curves = random_search(lambda p: {"score": p["a"]}, {"a": [0.2]}, n_trials=1,
                              random_state=0)
    with pytest.raises(ValueError, match="no trial has per-epoch curves"):
        no_curves.plot(tmp_path / "none.png")


# ------------------------------------------------------------------ argument errors
@pytest.mark.parametrize("space, error, match", [
    ({}, ValueError, "space is empty"),
    ([("a", [1])], TypeError, "must be a dict"),
    ({"a": 0.1}, TypeError, r"space\['a'\]=0.1 is not a distribution"),
    ({"a": "abc"}, TypeError, "list of choices"),
    ({"a": []}, ValueError, "empty list"),
])
def test_bad_space(space, error, match):
    with pytest.raises(error, match=match):
        random_search(flaky, space, n_trials=1)


def test_bad_arguments(cancer):
    x, y = cancer.x_train, cancer.y_train
    space = {"a": [1.0]}
    with pytest.raises(ValueError, match="n_trials=0"):
        random_search(flaky, space, n_trials=0)
    with pytest.raises(ValueError, match="n_jobs=0"):
        random_search(flaky, space, n_trials=1, n_jobs=0)
    with pytest.raises(TypeError, match="random_state="):
        random_search(flaky, space, n_trials=1, random_state=-1)
    with pytest.raises(TypeError, match="is a class"):
        random_search(DualLayer, {"units": [2]}, x, y, n_trials=1)
    with pytest.raises(ValueError, match=r"\['unit'\] are not arguments of DualLayer"):
        random_search(DualLayer(), {"unit": [2]}, x, y, n_trials=1)
    with pytest.raises(ValueError, match=r"\['alfa'\] are not parameters of Recorder"):
        random_search(Recorder(), {"alfa": [2]}, x, y, n_trials=1)
    with pytest.raises(ValueError, match="X and y are required"):
        random_search(DualLayer(), {"units": [2]}, n_trials=1)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        random_search(DualLayer(), {"units": [2]}, x, y, X_val=x, n_trials=1)
    with pytest.raises(ValueError, match="validation_fraction=1.5"):
        random_search(DualLayer(), {"units": [2]}, x, y, validation_fraction=1.5, n_trials=1)
    with pytest.raises(TypeError, match="not an estimator"):
        random_search(42, space, n_trials=1)


def test_bad_client():
    pytest.importorskip("distributed")
    with pytest.raises(TypeError, match="dask.distributed.Client or a scheduler address"):
        random_search(flaky, {"a": [1.0]}, n_trials=1, client=3)


# ------------------------------------------------------------------ xpnet estimators
def test_epoch_scores_needs_an_estimator_with_partial_fit(cancer):
    x, y = cancer.x_train, cancer.y_train
    with pytest.raises(ValueError, match="estimators with partial_fit only"):
        random_search(DualLayer(), {"units": [2]}, x, y, n_trials=1, epoch_scores=True)
    with pytest.raises(ValueError, match="needs an estimator with partial_fit"):
        random_search(Recorder(), {"alpha": [0.1]}, x, y, n_trials=1, epoch_scores=True)


MLP_SPACE = {"learning_rate_init": log_uniform(1e-2, 2e-1), "alpha": [1e-5, 1e-3]}


def _mlp(**kw):
    estimators = pytest.importorskip("xpnet.estimators")
    kw = {"hidden_layer_sizes": (8,), "solver": "sgd", "batch_size": 50, "max_iter": 3, **kw}
    return estimators.MLPClassifier(**kw)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_classifier_trials_match_refits(backend_name, digits_small):
    from sklearn.base import clone

    x, y, xv, yv = digits_small
    model = _mlp(backend=backend_name)
    by_epoch = random_search(model, MLP_SPACE, x, y, n_trials=2, X_val=xv, y_val=yv,
                             random_state=5, epoch_scores=True)
    fitted = random_search(model, MLP_SPACE, x, y, n_trials=2, X_val=xv, y_val=yv,
                           random_state=5)
    assert by_epoch.params == fitted.params and by_epoch.seeds == fitted.seeds
    assert by_epoch.errors == fitted.errors == [None, None]
    for i, params in enumerate(by_epoch.params):
        curves = by_epoch.curves[i]
        assert set(curves) == {"loss", "train_acc", "val_acc"}
        assert len(curves["loss"]) == len(curves["val_acc"]) == 3
        assert by_epoch.scores[i] == curves["val_acc"][-1]
        # a trial is the model cloned with the trial's parameters and seed
        refit = clone(model).set_params(random_state=by_epoch.seeds[i], **params).fit(x, y)
        assert fitted.scores[i] == pytest.approx(refit.score(xv, yv))
        assert fitted.curves[i]["loss"] == pytest.approx(refit.loss_curve_, rel=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_classifier_random_state_is_kept(digits_small):
    x, y, xv, yv = digits_small
    space = {"alpha": [1e-4, 1e-4]}  # two trials with equal parameters
    kept = random_search(_mlp(random_state=7), space, x, y, n_trials=2, X_val=xv, y_val=yv,
                         random_state=0)
    assert kept.curves[0]["loss"] == kept.curves[1]["loss"]
    own = random_search(_mlp(), space, x, y, n_trials=2, X_val=xv, y_val=yv, random_state=0)
    assert own.curves[0]["loss"] != own.curves[1]["loss"]  # each trial seeded by the search


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_invalid_hidden_size_is_recorded(digits_small):
    x, y, xv, yv = digits_small
    result = random_search(_mlp(), {"hidden_layer_sizes": [(0,), (4,)]}, x, y, n_trials=2,
                           X_val=xv, y_val=yv, random_state=0)
    bad = [i for i, p in enumerate(result.params) if p["hidden_layer_sizes"] == (0,)]
    assert len(bad) == 1 and result.n_failed == 1
    assert "hidden_layer_sizes" in result.errors[bad[0]]
    assert result.best_params == {"hidden_layer_sizes": (4,)}
    with pytest.raises(ValueError, match="early stopping"):
        random_search(_mlp(early_stopping=True), {"alpha": [0.1]}, x, y, n_trials=1,
                      epoch_scores=True)
