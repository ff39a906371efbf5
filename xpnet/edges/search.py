"""Random hyper-parameter search (seed 003's chapter 6.5) on scikit-learn, joblib and Dask.

The book's recipe: draw each hyper-parameter at random from a range (log-uniform for the learning
rate and the weight decay), train briefly, keep the validation accuracy, look at the best trials
and narrow the ranges. scikit-learn draws, clones and splits, joblib runs the trials (here, in
local processes or on Dask; :func:`random_search` says which function does what); xpnet adds each
trial's per-epoch curves (:func:`xpnet.plot.history_of`), one device per worker for GPU backends,
seed models and callables as trial targets, and the :class:`SearchResult` that prints,
tabulates and plots the trials.

What a trial trains, ``model``, is one of:

* an xpnet / scikit-learn estimator (``get_params``/``set_params``/``fit``/``score``): cloned per
  trial with :func:`sklearn.base.clone`, given the trial's parameters with ``set_params``, fitted
  on the training rows and scored (accuracy or R^2) on the validation rows;
* a seed model (:class:`~xpnet.SingleLayer`, :class:`~xpnet.DualLayer`, ...): re-created per trial
  from its constructor arguments with the trial's parameters overriding them, fitted with
  ``x_val``/``y_val`` and scored on them;
* a callable ``train(params) -> history``: a dict of per-epoch lists ("loss", "val_loss",
  "train_acc", "val_acc"/"val_score", ...) with a final "score", or any object
  :func:`xpnet.plot.history_of` can read (a Trainer's History, a fitted model).

A host-side edge module: NumPy, and no array library named (a backend says if it is a GPU one).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone, is_classifier
from sklearn.model_selection import ParameterSampler, train_test_split
from sklearn.utils import check_random_state

from ..backends import Backend, get_backend, parse_backend
from ..backends.validation import check_fraction, check_positive
from ..nn.trainer import History
from .plot import history_of, plot_grid

__all__ = ["SearchResult", "log_uniform", "random_search", "uniform"]

_DASK_FIX = 'pip install -e ".[dask]" in an xpnet checkout'
#: curve keys, most preferred first: a callable's score and the plot's (train, validation)
_VAL_KEYS = ("val_acc", "val_score", "test_acc")
_TRAIN_KEYS = ("train_acc", "train_score")
#: a seed model's searchable arguments of ``fit`` (the others are its constructor's)
_SEED_FIT_ARGS = ("epochs",)
#: the keywords a callable ``train(params, ...)`` may take, in the order of (seed, *data)
_CALLABLE_ARGS = ("random_state", "X_train", "y_train", "X_val", "y_val")
#: one trial: (index, params, seed, device spec or None)
Trial = tuple[int, dict[str, Any], int, str | None]


# ================================================================== distributions
def _check_bounds(kind: str, low: Any, high: Any, positive: bool, example: str
                  ) -> tuple[float, float]:
    """(low, high) as floats: finite, ordered (and positive for a log scale), or the error."""
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise TypeError(f"{name}={value!r} must be a finite number")
    if not (0.0 < low < high if positive else low < high):
        raise ValueError(f"{kind}(low={low!r}, high={high!r}) needs {'0 < ' * positive}low < "
                         f"high, e.g. {kind}{example}")
    return float(low), float(high)


def log_uniform(low: float, high: float) -> Any:
    """A distribution whose logarithm is uniform on ``[log low, log high]``: a frozen
    ``scipy.stats.loguniform``, which ``ParameterSampler`` draws from.

    Example:
        >>> lr = log_uniform(1e-6, 1e-2)  # seed 003's 10 ** np.random.uniform(-6, -2)
        >>> bool(1e-6 <= lr.rvs(random_state=0) <= 1e-2)
        True
    """
    from scipy.stats import loguniform

    return loguniform(*_check_bounds("log_uniform", low, high, True, "(1e-6, 1e-2)"))


def uniform(low: float, high: float) -> Any:
    """The uniform distribution on ``[low, high]`` (a frozen ``scipy.stats.uniform``).

    Example:
        >>> bool(0.0 <= uniform(0.0, 0.5).rvs(random_state=0) <= 0.5)
        True
    """
    from scipy.stats import uniform as scipy_uniform

    low, high = _check_bounds("uniform", low, high, False, "(0.0, 0.5)")
    return scipy_uniform(loc=low, scale=high - low)


def _check_space(space: Any) -> dict[str, Any]:
    """``space`` as a dict of name -> distribution or list of choices, checked (scikit-learn's
    ParameterSampler would take a string as a list of letters and an empty list until drawn)."""
    if not isinstance(space, Mapping):
        raise TypeError(f"space={space!r} must be a dict mapping parameter names to "
                        f"distributions, e.g. {{'learning_rate': log_uniform(1e-6, 1e-2)}}")
    if not space:
        raise ValueError("space is empty; give at least one parameter, e.g. "
                         "{'learning_rate': log_uniform(1e-6, 1e-2)}")
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if not isinstance(name, str):
            raise TypeError(f"space key {name!r} must be a parameter name (a string)")
        if not hasattr(dist, "rvs") and not isinstance(dist, (list, tuple, np.ndarray)):
            raise TypeError(
                f"space[{name!r}]={dist!r} is not a distribution or a list of choices; use "
                f"log_uniform(low, high), uniform(low, high), a list such as [32, 64] (a single "
                f"value as [{dist!r}]) or a scipy.stats distribution"
            )
        if not hasattr(dist, "rvs") and len(dist) == 0:
            raise ValueError(f"space[{name!r}] is an empty list; give at least one choice")
        out[name] = dist if hasattr(dist, "rvs") else list(dist)
    return out


def _trial_seed(random_state: int, index: int) -> int:
    """A deterministic 31-bit seed for trial ``index`` of a search seeded ``random_state``."""
    return int(np.random.SeedSequence([random_state, index]).generate_state(1)[0] >> 1)


# ================================================================== the result
def _params_text(params: Mapping[str, Any]) -> str:
    """``lr=0.001, alpha=3.2e-06``: a trial's parameters, short."""
    return ", ".join(f"{name}={v:.2g}" if isinstance(v, float) else f"{name}={v!r}"
                     for name, v in params.items())


@dataclass
class SearchResult:
    """The trials of a :func:`random_search`, in the order they were drawn.

    Attributes:
        params: each trial's parameters.
        scores: each trial's validation score (accuracy for classifiers, R^2 for regressors,
            the callable's "score"); nan for a trial that failed.
        curves: each trial's per-epoch curves, e.g. {"loss": [...], "val_acc": [...]}.
        errors: None, or "ErrorType: message" for a trial that raised.
        seeds: the seed each trial was given (its model's ``random_state`` when that was None).
        seconds: each trial's wall time.
        random_state: the seed of the search (drawn at random when None was passed).
        score_name: what the score is ("val acc", "val R^2" or "score").

    Example:
        >>> result = SearchResult([{"lr": 0.1}, {"lr": 0.01}], [0.5, 0.9], [{}, {}], [None, None])
        >>> result.best_params, result.best_score
        ({'lr': 0.01}, 0.9)
    """

    params: list[dict[str, Any]]
    scores: list[float]
    curves: list[dict[str, list[float]]]
    errors: list[str | None]
    seeds: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    random_state: int | None = None
    score_name: str = "score"
    _rows: list[dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """The rows, computed once: best first, failed (non-finite) trials last, ties in trial
        order (a stable sort of the trial indices)."""
        n = len(self.params)
        order = sorted(range(n), key=lambda i: -self.scores[i] if math.isfinite(self.scores[i])
                       else math.inf)
        seeds, seconds = self.seeds or [None] * n, self.seconds or [None] * n
        self._rows = [{"rank": rank, "trial": i, "score": self.scores[i],
                       "params": dict(self.params[i]), "error": self.errors[i],
                       "seed": seeds[i], "seconds": seconds[i]}
                      for rank, i in enumerate(order, start=1)]

    def __len__(self) -> int:
        return len(self.params)

    @property
    def best_index(self) -> int:
        """Index of the best trial (highest finite score)."""
        if not self._rows:
            raise ValueError("this SearchResult holds no trials")
        return self._rows[0]["trial"]

    @property
    def best_params(self) -> dict[str, Any]:
        """Parameters of the best trial."""
        return dict(self.params[self.best_index])

    @property
    def best_score(self) -> float:
        """Score of the best trial."""
        return self.scores[self.best_index]

    @property
    def n_failed(self) -> int:
        """How many trials raised."""
        return sum(e is not None for e in self.errors)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per trial, best first: rank, trial, score, params, error, seed, seconds."""
        return list(self._rows)

    def top(self, k: int = 10) -> list[dict[str, Any]]:
        """The best ``k`` rows (see :meth:`rows`)."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k={k!r} must be a positive integer, e.g. top(10)")
        return self._rows[:int(k)]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (parameters as ``param_<name>`` columns)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("SearchResult.to_frame() needs pandas, which is not installed; "
                              "fix: pip install pandas (or use SearchResult.rows())") from err
        frame = pd.DataFrame.from_records(self._rows)
        params = pd.DataFrame.from_records(frame.pop("params").tolist()).add_prefix("param_")
        return pd.concat([frame.iloc[:, :3], params, frame.iloc[:, 3:]], axis=1)

    def format_table(self, k: int = 10) -> str:
        """The best ``k`` trials as text: rank, score and parameters (seed 003's printout)."""
        lines = []
        for row in self.top(k):
            params = _params_text(row["params"])
            score = "failed" if row["error"] else f"{row['score']:.4f}"
            error = f" | {row['error']}" if row["error"] else ""
            lines.append(f"Best-{row['rank']:<3d} ({self.score_name} {score}) | {params}{error}")
        return "\n".join(lines)

    def plot(self, path: str | Path, top: int = 20, ncols: int = 5) -> Path:
        """Seed 003's grid: the best ``top`` trials' train (dashed) and validation (solid)
        accuracies or scores (else losses), each panel titled with its rank, score and
        parameters, on [0, 1] when all are accuracies (:meth:`xpnet.History.panel`), the
        y-axis named after what is drawn; returns the written file's path."""
        panels = [(f"Best-{row['rank']} ({self.score_name} {row['score']:.3f})\n"
                   f"{_params_text(row['params'])}", _plot_curves(self.curves[row["trial"]]))
                  for row in self.top(top)]
        panels = [(title, curves) for title, curves in panels if curves]
        if not panels:
            raise ValueError("SearchResult.plot: no trial has per-epoch curves to draw "
                             "(a callable should return per-epoch lists such as 'val_acc')")
        panel_kinds = {History.panel(key) for _, curves in panels for key in curves}
        return plot_grid(panels, path, ncols=ncols,
                         ylim=(0.0, 1.0) if panel_kinds == {"accuracy"} else None,
                         suptitle=f"random search: best {len(panels)} of {len(self)} trials",
                         styles=dict.fromkeys(("loss", *_TRAIN_KEYS), "--"),
                         ylabel=" / ".join(sorted(panel_kinds)))

    def __repr__(self) -> str:
        if not self.params:
            return "SearchResult(0 trials)"
        return (f"SearchResult({len(self)} trials, {self.n_failed} failed, best "
                f"{self.score_name}={self.best_score:.4f} with {self.best_params})")


def _plot_curves(curves: Mapping[str, list[float]]) -> dict[str, list[float]]:
    """A trial's panel, by curve key: its first train and validation accuracy or score curves
    (in the order of preference of the keys), else its losses."""
    keys = [next((k for k in group if curves.get(k)), None) for group in (_TRAIN_KEYS, _VAL_KEYS)]
    keys = [k for k in keys if k] or [k for k in ("loss", "val_loss") if curves.get(k)]
    return {k: curves[k] for k in keys}


# ================================================================== the model and one trial
def _make_runner(model: Any, space: dict[str, Any], fit_params: Mapping[str, Any],
                 epoch_scores: bool = False) -> tuple[Callable, str, Any]:
    """(runner, kind, backend setting) for ``model``, decided once, its space's names checked:
    ``runner(params, seed, device, data) -> (score, curves)`` is :func:`_trial`, picklable."""
    from ..nn.seed_models import SingleLayer

    if isinstance(model, type):
        raise TypeError(f"model={model.__name__} is a class; pass an instance, e.g. "
                        f"model={model.__name__}(...)")
    if isinstance(model, SingleLayer):  # re-created from its own description, on its backend
        init = {**model.get_config(), "backend": model.backend.spec,
                "random_state": model.backend.seed}  # its own seed, which every trial keeps
        kind, target, backend, what = "seed", partial(type(model), **init), model.backend, \
            "arguments"
        valid: Mapping[str, Any] = {**init, **dict.fromkeys(_SEED_FIT_ARGS)}
    elif all(hasattr(model, a) for a in ("get_params", "set_params", "fit", "score")):
        valid = model.get_params(deep=True)
        kind, target, backend, what = "estimator", clone(model), valid.get("backend"), \
            "parameters"
    elif callable(model):
        kind, target, backend, what, valid = "callable", model, None, "", space
    else:
        raise TypeError(
            f"model={model!r} is not an estimator (get_params/set_params/fit/score), a seed "
            f"model or a callable train(params) -> history; pass e.g. xpnet.MLPClassifier(...)"
        )
    unknown = sorted(set(space) - set(valid))
    if unknown:
        raise ValueError(f"space names {unknown} are not {what} of {type(model).__name__}; "
                         f"valid names: {sorted(valid)}")
    if epoch_scores and kind != "estimator":
        raise ValueError("epoch_scores=True applies to estimators with partial_fit only; "
                         "pass epoch_scores=False for a seed model or a callable")
    if epoch_scores and not (hasattr(model, "partial_fit") and "max_iter" in valid):
        raise ValueError(f"epoch_scores=True needs an estimator with partial_fit and a "
                         f"max_iter parameter (epochs); {type(model).__name__} lacks one; "
                         f"pass epoch_scores=False")
    if epoch_scores and valid.get("early_stopping"):
        raise ValueError("epoch_scores=True trains with partial_fit, which has no early "
                         "stopping; set the model's early_stopping=False or pass "
                         "epoch_scores=False")
    return partial(_trial, kind, target, dict(fit_params), bool(epoch_scores)), kind, backend


def _accepted(fn: Callable, names: Iterable[str]) -> set[str]:
    """Which of ``names`` ``fn`` takes as keyword arguments (all of them with ``**kwargs``)."""
    try:
        ps = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is p.VAR_KEYWORD for p in ps):
        return set(names)
    return {p.name for p in ps if p.name in names and p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                                   p.KEYWORD_ONLY)}


def _curves_of(obj: Any) -> dict[str, list[float]]:
    """Per-epoch curves of a fitted model or a returned history ({} when there are none)."""
    try:
        return dict(history_of(obj))
    except TypeError:
        return {}


def _trial(kind: str, target: Any, fit_params: Mapping[str, Any], epoch_scores: bool,
           params: dict[str, Any], seed: int, device: str | None, data: tuple
           ) -> tuple[float, dict[str, list[float]]]:
    """One trial of :func:`_make_runner`'s ``kind`` (the module's docstring says what each
    does): (validation score, per-epoch curves). An estimator gets the trial's seed when its own
    ``random_state`` is None; a seed model keeps its own, and ``epochs`` goes to its ``fit``."""
    X_train, y_train, X_val, y_val = data
    fit_kw, extra = dict(fit_params), ({} if device is None else {"backend": device})
    if kind == "callable":
        given = dict(zip(_CALLABLE_ARGS, (seed, *data), strict=True))
        kw = {k: v for k, v in given.items() if k in _accepted(target, _CALLABLE_ARGS)
              and (k == "random_state" or X_train is not None)}
        out = target(dict(params), **kw, **fit_kw)
        curves = _curves_of(out)
        return _score_of(out, curves), curves
    if kind == "seed":
        fit_kw.update((k, v) for k, v in params.items() if k in _SEED_FIT_ARGS)
        model = target(**{**{k: v for k, v in params.items() if k not in _SEED_FIT_ARGS},
                          **extra})
    else:
        model = clone(target)
        if "random_state" not in params and model.get_params().get("random_state", 0) is None:
            extra["random_state"] = seed  # the estimator has a random_state, left None
        model.set_params(**{**extra, **params})
        if epoch_scores:
            return _by_epoch(model, fit_kw, data)
    accepted = _accepted(model.fit, ("X_val", "x_val"))  # a seed model's, or as xpnet's
    for name in sorted(accepted)[:1]:  # "X_val" before "x_val" (a **kwargs fit gets X_val)
        fit_kw.update({name: X_val, "y_val": y_val})
    model.fit(X_train, y_train, **fit_kw)
    return float(model.score(X_val, y_val)), _curves_of(model)


def _by_epoch(est: Any, fit_params: Mapping[str, Any], data: tuple
              ) -> tuple[float, dict[str, list[float]]]:
    """``max_iter`` calls of ``partial_fit``, scoring train and validation after each."""
    X_train, y_train, X_val, y_val = data
    classify = is_classifier(est)
    kw = {"classes": np.unique(np.asarray(y_train))} if classify else {}
    train_key, val_key = ("train_acc", "val_acc") if classify else ("train_score", "val_score")
    curves: dict[str, list[float]] = {"loss": [], train_key: [], val_key: []}
    for _ in range(int(est.get_params()["max_iter"])):
        est.partial_fit(X_train, y_train, **kw, **fit_params)
        curves["loss"] += _curves_of(est).get("loss", [])[-1:]  # this epoch's loss
        curves[train_key].append(float(est.score(X_train, y_train)))
        curves[val_key].append(float(est.score(X_val, y_val)))
    return curves[val_key][-1], {k: v for k, v in curves.items() if v}


def _score_of(out: Any, curves: Mapping[str, list[float]]) -> float:
    """A callable's score: the "score" its dict holds (a per-epoch list: its last value), else
    the last value of its validation curve (a History, a fitted model)."""
    score = out.get("score") if isinstance(out, Mapping) else None
    if isinstance(score, (list, tuple)):
        score = score[-1] if score else None
    if score is None:
        score = next((curves[k][-1] for k in _VAL_KEYS if curves.get(k)), None)
    if score is None:
        raise ValueError(
            f"train(params) returned {type(out).__name__} without a score; return a dict with "
            f"a final 'score' float (and per-epoch lists such as 'val_acc')"
        )
    return float(score)


def _run_chunk(runner: Callable, chunk: list[Trial], *data: Any) -> list[tuple]:
    """Run trials one after another (a chunk shares one device): (index, params, score,
    curves, error, seed, seconds) each; an exception becomes the trial's ``error`` (score nan).
    ``data`` comes as separate arguments for Dask's scatter."""
    out = []
    for index, params, seed, device in chunk:
        start = time.perf_counter()
        try:
            score, curves = runner(params, seed, device, data)
            error = None
        except Exception as err:  # noqa: BLE001 - a failed trial is recorded, not fatal
            score, curves, error = math.nan, {}, f"{type(err).__name__}: {err}"
        out.append((index, params, score, curves, error, seed, time.perf_counter() - start))
    return out


def _is_classifier(model: Any, kind: str, y: Any) -> bool:
    """Whether scores are accuracies: seed models, classifiers, a callable's class labels."""
    if kind != "callable":
        return kind == "seed" or bool(is_classifier(model))
    from sklearn.utils.multiclass import type_of_target

    return y is not None and type_of_target(y) in ("binary", "multiclass")


# ================================================================== one device per worker
def _gpu_count(backend: Backend) -> int:
    """How many GPUs ``backend``'s library sees here (xpnet.backends has no public count yet:
    this asks the library module the backend opened, through its CUDA API)."""
    cuda = backend._module.cuda
    return int(cuda.device_count() if hasattr(cuda, "device_count")
               else cuda.runtime.getDeviceCount())


def _gpu_devices(backend: Any) -> list[str] | None:
    """The ``backend=`` specs a GPU backend's trials spread over (None for a CPU backend, as
    the backend built here says): the device a string names ("cupy:1", "torch:cuda:1") alone,
    else one per GPU ("cupy:0", ... for "cupy"; "torch:cuda:0", ... for "torch:cuda")."""
    built = backend if backend is None or isinstance(backend, Backend) else get_backend(backend)
    if built is None or not built.is_gpu:
        return None
    name, device = parse_backend(backend if isinstance(backend, str) else built.spec)
    stem, _, index = (device or "").rpartition(":")  # "cuda:1" -> "cuda", "1"; "cuda": "", "cuda"
    if index.isdigit() and isinstance(backend, str):
        return [backend]
    stem = stem if index.isdigit() else index
    return [f"{name}:{stem}:{g}" if stem else f"{name}:{g}"
            for g in range(max(1, _gpu_count(built)))]


def _tasks(trials: list[dict], seeds: list[int], backend: Any, n_jobs: int, client: Any
           ) -> tuple[list[list[Trial]], int]:
    """(chunks of trials, n_jobs): one trial per chunk on CPUs; for GPU backends one chunk per
    GPU, given its device, or per Dask worker thread (on its worker's default device; a worker
    then says whether the backend runs on a GPU, as it may see GPUs this process lacks)."""
    devices = _gpu_devices(backend) if client is None else (
        client.submit(_gpu_devices, backend).result()
        and [None] * max(1, sum(client.nthreads().values())))
    if not devices:  # (one trial runs here: no pool of processes started for it)
        return [[(i, p, seeds[i], None)] for i, p in enumerate(trials)], (
            n_jobs if len(trials) > 1 else 1)
    tasks = [[(i, trials[i], seeds[i], device) for i in range(g, len(trials), len(devices))]
             for g, device in enumerate(devices)]
    tasks = [t for t in tasks if t]
    return tasks, len(tasks)


def _dask_client(client: Any) -> contextlib.AbstractContextManager:
    """A context holding the Dask Client: None, a Client (left open) or a scheduler address
    (a Client opened here and closed on leaving)."""
    if client is None:
        return contextlib.nullcontext()
    try:
        import distributed
    except ImportError as err:
        raise ImportError(f"client= needs dask.distributed, which is not installed; "
                          f"fix: {_DASK_FIX}") from err
    if isinstance(client, str):
        return distributed.Client(client, set_as_default=False)
    if isinstance(client, distributed.Client):
        return contextlib.nullcontext(client)
    raise TypeError(f"client={client!r} must be a dask.distributed.Client or a scheduler "
                    f"address such as 'tcp://127.0.0.1:8786'")


# ================================================================== the search
def random_search(
    model: Any,
    space: Mapping[str, Any],
    X: Any = None,
    y: Any = None,
    n_trials: int = 100,
    validation_fraction: float = 0.2,
    X_val: Any = None,
    y_val: Any = None,
    random_state: int | None = None,
    n_jobs: int = 1,
    client: Any = None,
    verbose: bool = False,
    *,
    fit_params: Mapping[str, Any] | None = None,
    score_name: str | None = None,
    epoch_scores: bool = False,
) -> SearchResult:
    """Random hyper-parameter search: train ``n_trials`` models with parameters drawn from
    ``space`` and score each on validation data.

    Args:
        model: an estimator, a seed model or a callable (see the module's docstring). An
            estimator's ``random_state`` is kept unless it is None, then each trial gets its own
            seed; a seed model may also have ``epochs`` searched; a callable ``train(params)``
            is also given ``random_state=``, ``X_train=``, ``y_train=``, ``X_val=``, ``y_val=``
            when it takes those keywords.
        space: name -> :func:`log_uniform` / :func:`uniform` / list of choices / any
            ``scipy.stats`` distribution. Trials are drawn by scikit-learn's
            ``ParameterSampler(space, n_iter=n_trials, random_state=random_state)``.
        X, y: the data; when ``X_val`` is None, ``validation_fraction`` of it is held out
            with ``train_test_split`` (stratified for classification) for scoring. May be
            None for a callable that loads its own data.
        n_trials: how many parameter draws to try.
        validation_fraction: share held out for validation when ``X_val`` is None.
        X_val, y_val: explicit validation data (then all of X, y is used for training).
        random_state: seeds the draws, the split and the trials' seeds; None draws one with
            ``check_random_state`` (kept in the result's ``random_state``).
        n_jobs: trials run in this many local processes (joblib's loky backend; -1: one per
            CPU). With a GPU backend ("cupy", "torch:cuda") it is forced to the number of
            visible GPUs, one trial at a time per GPU, each chunk of trials given its device
            ("cupy:0", "cupy:1", ...); a backend naming a device ("cupy:1") runs serially.
        client: a ``dask.distributed.Client`` or a scheduler address ("tcp://host:8786"):
            trials run on that Dask cluster through joblib's dask backend. With a GPU backend
            each worker thread runs one chunk of trials on its default device, so start one
            single-threaded worker per GPU (dask-cuda's ``LocalCUDACluster`` does).
        verbose: report progress (joblib's messages on stderr) as trials complete.
        fit_params: extra keyword arguments for every ``fit`` (or callable) call, e.g.
            ``{"epochs": 50}`` for a seed model.
        score_name: what the score is, for tables and plot titles (default: "val acc" for
            classifiers, "val R^2" for regressors, "score" for a callable).
        epoch_scores: for an estimator with ``partial_fit`` (xpnet's MLPs): train exactly
            ``max_iter`` epochs, one ``partial_fit`` each, and record the train and validation
            score after every epoch (the curves of seed 003's grid). The estimator's own
            stopping rule (``n_iter_no_change``) is then not applied. Without it the
            estimator's ``fit`` runs as it is and its curves are its ``history_`` /
            ``loss_curve_`` (validation curves only if ``fit`` takes ``X_val``/``y_val``).

    Returns:
        A :class:`SearchResult`; the same ``random_state`` gives the same parameters and
        scores serially, with ``n_jobs`` and on Dask.

    Raises:
        RuntimeError: every trial failed (the message carries the first error).

    Example:
        >>> from xpnet import MLPClassifier
        >>> result = random_search(MLPClassifier(max_iter=20), {"alpha": log_uniform(1e-6, 1e-2),
        ...                        "learning_rate_init": [1e-3, 1e-2]}, X, y, n_trials=10,
        ...                        n_jobs=2, random_state=0)  # doctest: +SKIP
        >>> print(result.format_table(3))  # doctest: +SKIP
    """
    space = _check_space(space)
    n_trials = check_positive("n_trials", n_trials, integer=True)
    if random_state is None:  # drawn here, and kept in the result so that it can be rerun
        random_state = int(check_random_state(None).randint(2**31 - 1))
    elif isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral) \
            or random_state < 0:
        raise TypeError(f"random_state={random_state!r} must be a non-negative int or None; "
                        f"pass e.g. random_state=0")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs={n_jobs!r} must be a non-zero integer: 1 runs trials here, "
                         f"k > 1 in k processes, -1 in one process per CPU")
    runner, kind, backend = _make_runner(model, space, fit_params or {}, epoch_scores)
    data = _split(model, kind, X, y, X_val, y_val, validation_fraction, int(random_state))

    sampler = ParameterSampler(space, n_iter=n_trials, random_state=int(random_state))
    # NumPy scalars as Python scalars (readable, JSON-friendly)
    trials = [{k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
              for params in sampler]
    seeds = [_trial_seed(int(random_state), i) for i in range(len(trials))]
    with _dask_client(client) as client:
        tasks, n_jobs = _tasks(trials, seeds, backend, int(n_jobs), client)
        config: dict[str, Any] = {"backend": "loky"} if client is None else {
            "backend": "dask", "client": client,
            "scatter": [d for d in data if d is not None] or None}
        with parallel_config(**config):
            chunks = Parallel(n_jobs=n_jobs, verbose=10 if verbose else 0)(
                delayed(_run_chunk)(runner, chunk, *data) for chunk in tasks)
    done = sorted(trial for chunk in chunks for trial in chunk)  # in the order they were drawn
    _, params, scores, curves, errors, seeds, seconds = map(list, zip(*done, strict=True))
    if all(e is not None for e in errors):
        raise RuntimeError(f"all {len(errors)} trials failed; the first (trial 0, params "
                           f"{params[0]}) raised {errors[0]}")
    if score_name is None:
        classify = _is_classifier(model, kind, y if y_val is None else y_val)
        score_name = "score" if kind == "callable" else ("val acc" if classify else "val R^2")
    return SearchResult(params, [float(s) for s in scores], curves, errors, seeds, seconds,
                        int(random_state), score_name)


def _split(model: Any, kind: str, X: Any, y: Any, X_val: Any, y_val: Any,
           validation_fraction: float, random_state: int) -> tuple[Any, Any, Any, Any]:
    """(X_train, y_train, X_val, y_val): the given validation data, or a held-out share."""
    if (X_val is None) != (y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")
    if X is None or y is None:
        if kind != "callable":
            raise ValueError(f"X and y are required to train {type(model).__name__}; "
                             f"pass random_search(model, space, X, y, ...)")
        if X is not None or y is not None:
            raise ValueError("pass both X and y, or neither")
        return None, None, X_val, y_val
    if X_val is not None:
        return X, y, X_val, y_val
    validation_fraction = check_fraction("validation_fraction", validation_fraction)
    stratify = y if _is_classifier(model, kind, y) else None
    try:
        X_train, X_v, y_train, y_v = train_test_split(
            X, y, test_size=validation_fraction, random_state=random_state, stratify=stratify)
    except ValueError as err:
        raise ValueError(f"cannot hold out validation_fraction={validation_fraction} of the "
                         f"rows ({err}); pass X_val and y_val, or a larger "
                         f"validation_fraction") from err
    return X_train, y_train, X_v, y_v
