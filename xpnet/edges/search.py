"""Random hyper-parameter search (seed 003's chapter 6.5) on scikit-learn, joblib and Dask.

The book's recipe: draw each hyper-parameter at random from a range (log-uniform for the learning
rate and the weight decay), train briefly, keep the validation accuracy, look at the best trials
and narrow the ranges.

What comes from the libraries: scikit-learn draws the trials (``ParameterSampler`` over
``scipy.stats`` distributions, so one ``random_state`` draws the same trials everywhere), clones
estimators (``clone``), holds out the validation rows (``train_test_split``) and seeds the search
(``check_random_state``); joblib runs the trials (``Parallel``: in this process, in ``n_jobs``
local processes, or on a Dask cluster through its ``dask`` backend, ``client=``).
What xpnet adds: every trial's per-epoch curves (read with :func:`xpnet.plot.history_of`), one
device per worker for GPU backends, seed models and callables as trial targets, and the
:class:`SearchResult` that prints, tabulates and plots the trials.

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

This is a host-side edge module: it uses NumPy, and names no GPU library (GPU devices are
counted through :mod:`xpnet.backends`).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone, is_classifier
from sklearn.model_selection import ParameterSampler, train_test_split
from sklearn.utils import check_random_state

from ..backends import Backend, get_backend
from ..backends.validation import check_positive
from .plot import history_of, plot_grid

__all__ = [
    "SearchResult",
    "log_uniform",
    "random_search",
    "uniform",
]

_DASK_FIX = 'pip install "xpnet[dask]"'
#: curve keys, most preferred first: (validation, train) pairs for the plot
_VAL_KEYS = ("val_acc", "val_score", "test_acc")
_TRAIN_KEYS = ("train_acc", "train_score")
_SEED_FIT_ARGS = ("epochs",)
#: one trial: (index, params, seed, device spec or None)
Trial = tuple[int, dict[str, Any], int, str | None]


# ================================================================== distributions
def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}={value!r} must be a finite number")
    return float(value)


def log_uniform(low: float, high: float) -> Any:
    """A distribution whose logarithm is uniform on ``[log low, log high]``: a frozen
    ``scipy.stats.loguniform``, which ``ParameterSampler`` draws from.

    Example:
        >>> lr = log_uniform(1e-6, 1e-2)  # seed 003's 10 ** np.random.uniform(-6, -2)
        >>> 1e-6 <= lr.rvs(random_state=0) <= 1e-2
        True
    """
    from scipy.stats import loguniform

    low, high = _check_number("low", low), _check_number("high", high)
    if not 0.0 < low < high:
        raise ValueError(f"log_uniform(low={low!r}, high={high!r}) needs 0 < low < high, "
                         f"e.g. log_uniform(1e-6, 1e-2)")
    return loguniform(low, high)


def uniform(low: float, high: float) -> Any:
    """The uniform distribution on ``[low, high]`` (a frozen ``scipy.stats.uniform``).

    Example:
        >>> 0.0 <= uniform(0.0, 0.5).rvs(random_state=0) <= 0.5
        True
    """
    from scipy.stats import uniform as scipy_uniform

    low, high = _check_number("low", low), _check_number("high", high)
    if not low < high:
        raise ValueError(f"uniform(low={low!r}, high={high!r}) needs low < high, "
                         f"e.g. uniform(0.0, 0.5)")
    return scipy_uniform(loc=low, scale=high - low)


def _check_space(space: Any) -> dict[str, Any]:
    """``space`` as a dict of name -> distribution or list of choices, checked."""
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
        if hasattr(dist, "rvs"):
            out[name] = dist
        elif isinstance(dist, (list, tuple, np.ndarray)):
            if len(dist) == 0:
                raise ValueError(f"space[{name!r}] is an empty list; give at least one choice")
            out[name] = list(dist)
        else:
            raise TypeError(
                f"space[{name!r}]={dist!r} is not a distribution or a list of choices; use "
                f"log_uniform(low, high), uniform(low, high), a list such as [32, 64] (a single "
                f"value as [{dist!r}]) or a scipy.stats distribution"
            )
    return out


def _trial_seed(random_state: int, index: int) -> int:
    """A deterministic 31-bit seed for trial ``index`` of a search seeded ``random_state``."""
    return int(np.random.SeedSequence([random_state, index]).generate_state(1)[0] >> 1)


# ================================================================== the result
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

    def __len__(self) -> int:
        return len(self.params)

    def _order(self) -> list[int]:
        """Trial indices best first; failed (nan) trials last, ties by trial index."""
        def key(i: int) -> tuple[bool, float, int]:
            s = self.scores[i]
            ok = isinstance(s, float) and math.isfinite(s)
            return (not ok, -s if ok else 0.0, i)
        return sorted(range(len(self.params)), key=key)

    @property
    def best_index(self) -> int:
        """Index of the best trial (highest finite score)."""
        if not self.params:
            raise ValueError("this SearchResult holds no trials")
        return self._order()[0]

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
        def at(values: list, i: int) -> Any:
            return values[i] if i < len(values) else None
        return [{"rank": rank, "trial": i, "score": self.scores[i], "params": dict(self.params[i]),
                 "error": self.errors[i], "seed": at(self.seeds, i), "seconds": at(self.seconds, i)}
                for rank, i in enumerate(self._order(), start=1)]

    def top(self, k: int = 10) -> list[dict[str, Any]]:
        """The best ``k`` rows (see :meth:`rows`)."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"k={k!r} must be a positive integer, e.g. top(10)")
        return self.rows()[:int(k)]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (parameters as ``param_<name>`` columns)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("SearchResult.to_frame() needs pandas, which is not installed; "
                              "fix: pip install pandas (or use SearchResult.rows())") from err
        frame = pd.DataFrame.from_records(self.rows())
        params = pd.DataFrame.from_records(frame.pop("params").tolist()).add_prefix("param_")
        return pd.concat([frame.iloc[:, :3], params, frame.iloc[:, 3:]], axis=1)

    def format_table(self, k: int = 10) -> str:
        """The best ``k`` trials as text: rank, score and parameters (seed 003's printout)."""
        lines = []
        for row in self.top(k):
            params = ", ".join(f"{name}={_fmt(v)}" for name, v in row["params"].items())
            score = "failed" if row["error"] else f"{row['score']:.4f}"
            line = f"Best-{row['rank']:<3d} ({self.score_name} {score}) | {params}"
            if row["error"]:
                line += f" | {row['error']}"
            lines.append(line)
        return "\n".join(lines)

    def plot(self, path: str | Path, top: int = 20, ncols: int = 5) -> Path:
        """Seed 003's grid: the best ``top`` trials' train (dashed) and validation (solid)
        curves, titled "Best-i (val acc ...)"; returns the written file's path."""
        panels = []
        accuracy_only = True
        for row in self.top(top):
            curves, is_acc = _plot_curves(self.curves[row["trial"]])
            if not curves:
                continue
            accuracy_only = accuracy_only and is_acc
            score = f"{row['score']:.3f}" if math.isfinite(row["score"]) else "nan"
            panels.append((f"Best-{row['rank']} ({self.score_name} {score})", curves))
        if not panels:
            raise ValueError("SearchResult.plot: no trial has per-epoch curves to draw "
                             "(a callable should return per-epoch lists such as 'val_acc')")
        ylim = (0.0, 1.0) if accuracy_only else None
        return plot_grid(panels, path, ncols=ncols, ylim=ylim,
                         suptitle=f"random search: best {len(panels)} of {len(self)} trials",
                         styles={"train": "--", "validation": "-", "train loss": "--",
                                 "validation loss": "-"})

    def __repr__(self) -> str:
        if not self.params:
            return "SearchResult(0 trials)"
        return (f"SearchResult({len(self)} trials, {self.n_failed} failed, best "
                f"{self.score_name}={self.best_score:.4f} with {self.best_params})")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _plot_curves(curves: Mapping[str, list[float]]) -> tuple[dict[str, list[float]], bool]:
    """({"train": ..., "validation": ...}, whether both are accuracies in [0, 1]) picked from a
    trial's curves (losses when it has no accuracy or score curves)."""
    val_key = next((k for k in _VAL_KEYS if curves.get(k)), None)
    train_key = next((k for k in _TRAIN_KEYS if curves.get(k)), None)
    if val_key is None and train_key is None:
        labels = {"train loss": "loss", "validation loss": "val_loss"}
        return {label: curves[k] for label, k in labels.items() if curves.get(k)}, False
    labels = {"train": train_key, "validation": val_key}
    return ({label: curves[k] for label, k in labels.items() if k is not None},
            val_key != "val_score" and train_key != "train_score")


# ================================================================== one trial
# A runner is ``runner(params, seed, device, data) -> (score, curves)``, ``data`` being
# (X_train, y_train, X_val, y_val): a partial of one of the three functions below (picklable).
def _accepted(fn: Callable, names: Sequence[str]) -> set[str]:
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


def _estimator_trial(est: Any, fit_params: Mapping[str, Any], epoch_scores: bool,
                     params: dict[str, Any], seed: int, device: str | None, data: tuple
                     ) -> tuple[float, dict[str, list[float]]]:
    """``est`` cloned with the trial's parameters (and its seed when the estimator's own
    ``random_state`` is None, and its device), fitted and scored on the validation rows."""
    X_train, y_train, X_val, y_val = data
    est = clone(est)
    extra: dict[str, Any] = {} if device is None else {"backend": device}
    if "random_state" not in params and est.get_params().get("random_state", False) is None:
        extra["random_state"] = seed  # the estimator has a random_state, left None
    est.set_params(**extra, **params)
    if epoch_scores:
        return _estimator_by_epoch(est, fit_params, data)
    fit_kw = dict(fit_params)
    accepted = _accepted(est.fit, ("X_val", "y_val", "validation_data"))
    if {"X_val", "y_val"} <= accepted:
        fit_kw.update(X_val=X_val, y_val=y_val)
    elif "validation_data" in accepted:
        fit_kw["validation_data"] = (X_val, y_val)
    est.fit(X_train, y_train, **fit_kw)
    return float(est.score(X_val, y_val)), _curves_of(est)


def _estimator_by_epoch(est: Any, fit_params: Mapping[str, Any], data: tuple
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


def _seed_trial(cls: type, init_kwargs: Mapping[str, Any], fit_params: Mapping[str, Any],
                params: dict[str, Any], seed: int, device: str | None, data: tuple
                ) -> tuple[float, dict[str, list[float]]]:
    """The seed model re-created with the trial's parameters (``epochs`` goes to ``fit``; the
    model keeps its own seed), fitted with the validation rows and scored on them."""
    X_train, y_train, X_val, y_val = data
    kwargs, fit_kw = dict(init_kwargs), dict(fit_params)
    for name, value in params.items():
        (fit_kw if name in _SEED_FIT_ARGS and name not in kwargs else kwargs)[name] = value
    if device is not None:
        kwargs["backend"] = device
    net = cls(**kwargs)
    net.fit(X_train, y_train, x_val=X_val, y_val=y_val, **fit_kw)
    return float(net.score(X_val, y_val)), _curves_of(net)


def _callable_trial(fn: Callable, fit_params: Mapping[str, Any], params: dict[str, Any],
                    seed: int, device: str | None, data: tuple
                    ) -> tuple[float, dict[str, list[float]]]:
    """``fn(params)``, given the keywords it takes among ``random_state``, ``X_train``,
    ``y_train``, ``X_val`` and ``y_val``; its score and curves read from what it returns."""
    names = ("random_state", "X_train", "y_train", "X_val", "y_val")
    given = dict(zip(names, (seed, *data), strict=True))
    accepted = _accepted(fn, names)
    kw = {k: v for k, v in given.items() if k in accepted
          and (k == "random_state" or data[0] is not None)}
    out = fn(dict(params), **kw, **fit_params)
    curves = _curves_of(out)
    score = out.get("score") if isinstance(out, Mapping) else getattr(out, "score", None)
    if callable(score):
        score = None
    if isinstance(score, (list, tuple)):  # a per-epoch list: its last value
        score = score[-1] if score else None
    if score is None:
        score = next((curves[k][-1] for k in _VAL_KEYS if curves.get(k)), None)
    if score is None:
        raise ValueError(
            f"train(params) returned {type(out).__name__} without a score; return a dict with "
            f"a final 'score' float (and per-epoch lists such as 'val_acc')"
        )
    return float(score), curves


def _run_chunk(runner: Callable, chunk: list[Trial], *data: Any) -> list[dict[str, Any]]:
    """Run trials one after another (a chunk shares one device); an exception becomes the
    trial's ``error`` (score nan). ``data`` comes as separate arguments for Dask's scatter."""
    out = []
    for index, params, seed, device in chunk:
        start = time.perf_counter()
        try:
            score, curves = runner(params, seed, device, data)
            error = None
        except Exception as err:  # noqa: BLE001 - a failed trial is recorded, not fatal
            score, curves, error = math.nan, {}, f"{type(err).__name__}: {err}"
        out.append({"index": index, "params": params, "score": score, "curves": curves,
                    "error": error, "seed": seed, "seconds": time.perf_counter() - start})
    return out


# ================================================================== the model
def _is_seed_model(model: Any) -> bool:
    from ..nn.seed_models import SingleLayer

    return isinstance(model, SingleLayer)


def _seed_init_kwargs(model: Any) -> dict[str, Any]:
    """The constructor arguments that re-create a seed model: its own description, on its
    backend and with its own seed (which every trial keeps)."""
    return {**model.get_config(), "backend": model.backend.spec,
            "random_state": model.backend.seed}


def _make_runner(model: Any, space: dict[str, Any], fit_params: Mapping[str, Any],
                 epoch_scores: bool = False) -> tuple[Callable, str, Any]:
    """(runner, kind, backend setting) for ``model``, with the space's names checked."""
    if isinstance(model, type):
        raise TypeError(f"model={model.__name__} is a class; pass an instance, e.g. "
                        f"model={model.__name__}(...)")
    if epoch_scores and (_is_seed_model(model) or not hasattr(model, "get_params")):
        raise ValueError("epoch_scores=True applies to estimators with partial_fit only; "
                         "pass epoch_scores=False for a seed model or a callable")
    if _is_seed_model(model):
        init = _seed_init_kwargs(model)
        allowed = set(init) | set(_SEED_FIT_ARGS)
        unknown = sorted(set(space) - allowed)
        if unknown:
            raise ValueError(f"space names {unknown} are not arguments of "
                             f"{type(model).__name__}; valid names: {sorted(allowed)}")
        return partial(_seed_trial, type(model), init, dict(fit_params)), "seed", model.backend
    if all(hasattr(model, a) for a in ("get_params", "set_params", "fit", "score")):
        valid = model.get_params(deep=True)
        unknown = sorted(k for k in space if k not in valid)
        if unknown:
            raise ValueError(f"space names {unknown} are not parameters of "
                             f"{type(model).__name__}; valid names: {sorted(valid)}")
        if epoch_scores and not (hasattr(model, "partial_fit") and "max_iter" in valid):
            raise ValueError(f"epoch_scores=True needs an estimator with partial_fit and a "
                             f"max_iter parameter (epochs); {type(model).__name__} lacks one; "
                             f"pass epoch_scores=False")
        if epoch_scores and valid.get("early_stopping"):
            raise ValueError("epoch_scores=True trains with partial_fit, which has no early "
                             "stopping; set the model's early_stopping=False or pass "
                             "epoch_scores=False")
        runner = partial(_estimator_trial, clone(model), dict(fit_params), bool(epoch_scores))
        return runner, "estimator", valid.get("backend")
    if callable(model):
        return partial(_callable_trial, model, dict(fit_params)), "callable", None
    raise TypeError(
        f"model={model!r} is not an estimator (get_params/set_params/fit/score), a seed model "
        f"or a callable train(params) -> history; pass e.g. xpnet.MLPClassifier(...)"
    )


def _is_classifier(model: Any, kind: str, y: Any) -> bool:
    if kind in ("seed", "estimator"):
        return kind == "seed" or bool(is_classifier(model))
    from sklearn.utils.multiclass import type_of_target

    return y is not None and type_of_target(y) in ("binary", "multiclass")


# ================================================================== one device per worker
def _gpu_library(backend: Any) -> tuple[str, int | None] | None:
    """("cupy" | "torch", pinned device index or None) for a GPU backend setting, else None."""
    if isinstance(backend, Backend):
        return (backend.name, None) if backend.is_gpu else None
    name, _, device = str(getattr(backend, "__name__", backend)).strip().lower().partition(":")
    if name == "cupy" or (name == "torch" and device.startswith("cuda")):
        index = device.replace("cuda", "").strip(":")
        return name, (int(index) if index.isdigit() else None)
    return None


def _gpu_count(library: str) -> int:
    """How many GPUs the library sees here (through xpnet.backends; raises its clear error)."""
    backend = get_backend("cupy" if library == "cupy" else "torch:cuda")
    module = backend._module  # the library module the Backend resolved (cupy or torch)
    if library == "cupy":
        return int(module.cuda.runtime.getDeviceCount())
    return int(module.cuda.device_count())


def _tasks(trials: list[dict], seeds: list[int], backend: Any, n_jobs: int, client: Any
           ) -> tuple[list[list[Trial]], int]:
    """(chunks of trials, n_jobs): one trial per chunk on CPUs; for GPU backends one chunk per
    GPU, given its device ("cupy:0", "torch:cuda:1", ...), or per Dask worker thread."""
    gpu = _gpu_library(backend)
    if gpu is None:  # (one trial runs here: no pool of processes started for it)
        return [[(i, p, seeds[i], None)] for i, p in enumerate(trials)], (
            n_jobs if len(trials) > 1 else 1)
    library, pinned = gpu
    if client is not None:  # each worker thread uses its worker's default device
        devices: list[str | None] = [None] * max(1, sum(client.nthreads().values()))
    else:
        indices = [pinned] if pinned is not None else range(max(1, _gpu_count(library)))
        devices = [f"cupy:{g}" if library == "cupy" else f"torch:cuda:{g}" for g in indices]
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
    trials = [{k: _plain(v) for k, v in params.items()} for params in sampler]
    seeds = [_trial_seed(int(random_state), i) for i in range(len(trials))]
    with _dask_client(client) as client:
        tasks, n_jobs = _tasks(trials, seeds, backend, int(n_jobs), client)
        config: dict[str, Any] = {"backend": "loky"} if client is None else {
            "backend": "dask", "client": client,
            "scatter": [d for d in data if d is not None] or None}
        with parallel_config(**config):
            chunks = Parallel(n_jobs=n_jobs, verbose=10 if verbose else 0)(
                delayed(_run_chunk)(runner, chunk, *data) for chunk in tasks)
    done = sorted((r for chunk in chunks for r in chunk), key=lambda r: r["index"])
    errors = [r["error"] for r in done]
    if all(e is not None for e in errors):
        raise RuntimeError(f"all {len(done)} trials failed; the first (trial 0, params "
                           f"{done[0]['params']}) raised {errors[0]}")
    if score_name is None:
        classify = _is_classifier(model, kind, y if y_val is None else y_val)
        score_name = "score" if kind == "callable" else ("val acc" if classify else "val R^2")
    return SearchResult(
        params=[r["params"] for r in done],
        scores=[float(r["score"]) for r in done],
        curves=[r["curves"] for r in done],
        errors=errors,
        seeds=[r["seed"] for r in done],
        seconds=[r["seconds"] for r in done],
        random_state=int(random_state),
        score_name=score_name,
    )


def _plain(value: Any) -> Any:
    """NumPy scalars as Python scalars (readable, JSON-friendly); other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value


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
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction,
                                                               numbers.Real) \
            or not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction={validation_fraction!r} must be in (0, 1), "
                         f"e.g. 0.2, or pass X_val and y_val")
    stratify = y if _is_classifier(model, kind, y) else None
    try:
        X_train, X_v, y_train, y_v = train_test_split(
            X, y, test_size=validation_fraction, random_state=random_state, stratify=stratify)
    except ValueError as err:
        raise ValueError(f"cannot hold out validation_fraction={validation_fraction} of y "
                         f"stratified ({err}); pass X_val and y_val, or a larger "
                         f"validation_fraction") from err
    return X_train, y_train, X_v, y_v
