"""Random hyper-parameter search (seed 003's chapter 6.5), serial, in local processes or on Dask.

The book's recipe: draw each hyper-parameter at random from a range (log-uniform for the learning
rate and the weight decay), train briefly, keep the validation accuracy, look at the best trials
and narrow the ranges. :func:`random_search` does the drawing with scikit-learn's
``ParameterSampler`` (so one ``random_state`` draws the same trials everywhere), runs the trials
one after another, in ``n_jobs`` local processes (joblib's loky backend) or on a Dask cluster
(``client=``), and returns a :class:`SearchResult` that prints, tabulates and plots them.

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
counted through :mod:`xpnet.backend`).
"""

from __future__ import annotations

import argparse
import inspect
import math
import numbers
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend, get_backend
from .plot import history_of, plot_grid

__all__ = [
    "SearchResult",
    "add_arguments",
    "log_uniform",
    "random_search",
    "run_cli",
    "uniform",
]

_DASK_FIX = 'pip install "xpnet[dask]"'
#: curve keys, most preferred first: (validation, train) pairs for the plot
_VAL_KEYS = ("val_acc", "val_score", "test_acc")
_TRAIN_KEYS = ("train_acc", "train_score")
_SEED_FIT_ARGS = ("epochs",)


# ================================================================== distributions
def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name}={value!r} must be a finite number")
    return float(value)


def log_uniform(low: float, high: float) -> Any:
    """A distribution whose logarithm is uniform on ``[log low, log high]``.

    ``log_uniform(1e-6, 1e-2)`` is seed 003's ``10 ** np.random.uniform(-6, -2)``. Returns a
    frozen ``scipy.stats.loguniform``: ``rvs(random_state=...)`` draws from it, and
    ``ParameterSampler`` accepts it.
    """
    from scipy.stats import loguniform

    low, high = _check_number("low", low), _check_number("high", high)
    if not 0.0 < low < high:
        raise ValueError(f"log_uniform(low={low!r}, high={high!r}) needs 0 < low < high, "
                         f"e.g. log_uniform(1e-6, 1e-2)")
    return loguniform(low, high)


def uniform(low: float, high: float) -> Any:
    """The uniform distribution on ``[low, high]`` (a frozen ``scipy.stats.uniform``)."""
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
        elif isinstance(dist, (list, tuple, np.ndarray)) and not isinstance(dist, str):
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


def _plain(value: Any) -> Any:
    """NumPy scalars as Python scalars (readable, JSON-friendly); other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _draw(space: dict[str, Any], n_trials: int, random_state: int) -> list[dict[str, Any]]:
    """The trials' parameters, exactly as ``ParameterSampler`` draws them."""
    from sklearn.model_selection import ParameterSampler

    sampler = ParameterSampler(space, n_iter=n_trials, random_state=random_state)
    return [{k: _plain(v) for k, v in params.items()} for params in sampler]


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
        out = []
        for rank, i in enumerate(self._order(), start=1):
            out.append({
                "rank": rank,
                "trial": i,
                "score": self.scores[i],
                "params": dict(self.params[i]),
                "error": self.errors[i],
                "seed": self.seeds[i] if i < len(self.seeds) else None,
                "seconds": self.seconds[i] if i < len(self.seconds) else None,
            })
        return out

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
        records = []
        for row in self.rows():
            record = {k: row[k] for k in ("rank", "trial", "score")}
            record.update({f"param_{k}": v for k, v in row["params"].items()})
            record.update({k: row[k] for k in ("error", "seed", "seconds")})
            records.append(record)
        return pd.DataFrame.from_records(records)

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
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


def _plot_curves(curves: Mapping[str, list[float]]) -> tuple[dict[str, list[float]], bool]:
    """({"train": ..., "validation": ...}, whether both are accuracies in [0, 1]) picked from a
    trial's curves (losses when it has no accuracy or score curves)."""
    val_key = next((k for k in _VAL_KEYS if curves.get(k)), None)
    train_key = next((k for k in _TRAIN_KEYS if curves.get(k)), None)
    if val_key is not None or train_key is not None:
        out = {}
        if train_key is not None:
            out["train"] = curves[train_key]
        if val_key is not None:
            out["validation"] = curves[val_key]
        return out, val_key != "val_score" and train_key != "train_score"
    out = {}
    if curves.get("loss"):
        out["train loss"] = curves["loss"]
    if curves.get("val_loss"):
        out["validation loss"] = curves["val_loss"]
    return out, False


# ================================================================== one trial
def _accepted(fn: Callable, names: Sequence[str]) -> frozenset[str]:
    """Which of ``names`` ``fn`` takes as keyword arguments."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return frozenset()
    ps = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ps.values()):
        return frozenset(names)
    return frozenset(n for n in names if n in ps and ps[n].kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))


def _curves_of(obj: Any) -> dict[str, list[float]]:
    """Per-epoch curves of a fitted model or a returned history ({} when there are none)."""
    hist = getattr(obj, "history_", None)
    source = hist if isinstance(hist, Mapping) else obj
    try:
        return {k: list(v) for k, v in history_of(source).items()}
    except TypeError:
        return {}


def _read_result(out: Any) -> tuple[float, dict[str, list[float]]]:
    """(score, curves) from what a ``train(params)`` callable returned."""
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


@dataclass(frozen=True)
class _Runner:
    """Everything a worker needs to run trials (picklable: no arrays, no modules)."""

    kind: str  # "estimator", "seed" or "callable"
    model: Any  # unfitted estimator | seed model class | callable
    init_kwargs: Mapping[str, Any]  # seed models: constructor arguments
    fit_params: Mapping[str, Any]
    epoch_scores: bool = False  # estimators: one partial_fit per epoch, scored each epoch

    def run(self, index: int, params: dict[str, Any], seed: int, backend: str | None,
            X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> dict[str, Any]:
        """One trial; an exception becomes the trial's ``error`` (score nan)."""
        start = time.perf_counter()
        score, curves, error = math.nan, {}, None
        try:
            if self.kind == "estimator":
                score, curves = self._estimator(params, seed, backend, X_train, y_train,
                                                X_val, y_val)
            elif self.kind == "seed":
                score, curves = self._seed_model(params, backend, X_train, y_train, X_val, y_val)
            else:
                score, curves = self._callable(params, seed, X_train, y_train, X_val, y_val)
        except Exception as err:  # noqa: BLE001 - a failed trial is recorded, not fatal
            error = f"{type(err).__name__}: {err}"
            score = math.nan
        return {"index": index, "params": params, "score": score, "curves": curves,
                "error": error, "seed": seed, "seconds": time.perf_counter() - start}

    def _estimator(self, params, seed, backend, X_train, y_train, X_val, y_val):
        from sklearn.base import clone

        est = clone(self.model)
        current = est.get_params()
        extra: dict[str, Any] = {}
        if "random_state" in current and current["random_state"] is None \
                and "random_state" not in params:
            extra["random_state"] = seed
        if backend is not None:
            extra["backend"] = backend
        est.set_params(**extra, **params)
        if self.epoch_scores:
            return self._estimator_by_epoch(est, X_train, y_train, X_val, y_val)
        fit_kw = dict(self.fit_params)
        accepted = _accepted(est.fit, ("X_val", "y_val", "validation_data"))
        if {"X_val", "y_val"} <= accepted:
            fit_kw.update(X_val=X_val, y_val=y_val)
        elif "validation_data" in accepted:
            fit_kw["validation_data"] = (X_val, y_val)
        est.fit(X_train, y_train, **fit_kw)
        return float(est.score(X_val, y_val)), _curves_of(est)

    def _estimator_by_epoch(self, est, X_train, y_train, X_val, y_val):
        """``max_iter`` calls of ``partial_fit``, scoring train and validation after each."""
        from sklearn.base import is_classifier

        classify = is_classifier(est)
        train_key, val_key = ("train_acc", "val_acc") if classify else ("train_score",
                                                                         "val_score")
        kw = {"classes": np.unique(np.asarray(y_train))} if classify else {}
        train, val = [], []
        for _ in range(int(est.get_params()["max_iter"])):
            est.partial_fit(X_train, y_train, **kw, **self.fit_params)
            train.append(float(est.score(X_train, y_train)))
            val.append(float(est.score(X_val, y_val)))
        curves = {"loss": [float(v) for v in getattr(est, "loss_curve_", None) or []],
                  train_key: train, val_key: val}
        return val[-1], {k: v for k, v in curves.items() if v}

    def _seed_model(self, params, backend, X_train, y_train, X_val, y_val):
        kwargs, fit_kw = dict(self.init_kwargs), dict(self.fit_params)
        for name, value in params.items():
            (fit_kw if name in _SEED_FIT_ARGS and name not in kwargs else kwargs)[name] = value
        if backend is not None:
            kwargs["backend"] = backend
        net = self.model(**kwargs)
        net.fit(X_train, y_train, x_val=X_val, y_val=y_val, **fit_kw)
        return float(net.score(X_val, y_val)), _curves_of(net)

    def _callable(self, params, seed, X_train, y_train, X_val, y_val):
        data = {"random_state": seed, "X_train": X_train, "y_train": y_train, "X_val": X_val,
                "y_val": y_val}
        accepted = _accepted(self.model, tuple(data))
        kw = {k: v for k, v in data.items() if k in accepted
              and (k == "random_state" or X_train is not None)}
        return _read_result(self.model(dict(params), **kw, **self.fit_params))


def _run_chunk(runner: _Runner, items: list[tuple[int, dict, int, str | None]], X_train: Any,
               y_train: Any, X_val: Any, y_val: Any) -> list[dict[str, Any]]:
    """Run trials one after another (a chunk shares one device)."""
    return [runner.run(i, p, s, b, X_train, y_train, X_val, y_val) for i, p, s, b in items]


# ================================================================== the model
def _is_seed_model(model: Any) -> bool:
    from ..nn.seed_models import SingleLayer

    return isinstance(model, SingleLayer)


def _seed_init_kwargs(model: Any) -> dict[str, Any]:
    """The constructor arguments that re-create a seed model (read back from the instance)."""
    out: dict[str, Any] = {}
    sig = inspect.signature(type(model).__init__)
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name == "backend":
            out[name] = model.backend.spec
        elif name == "dtype":
            out[name] = model.backend.dtype_name
        elif name == "random_state":
            out[name] = model.backend.seed  # the model's own seed is kept
        elif name == "learning_rate" and hasattr(model, "lr"):
            out[name] = model.lr
        elif hasattr(model, name):
            out[name] = getattr(model, name)
    return out


def _make_runner(model: Any, space: dict[str, Any], fit_params: Mapping[str, Any],
                 epoch_scores: bool = False) -> tuple[_Runner, str, Any]:
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
        return _Runner("seed", type(model), init, dict(fit_params)), "seed", model.backend
    if all(hasattr(model, a) for a in ("get_params", "set_params", "fit", "score")):
        from sklearn.base import clone

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
        return (_Runner("estimator", clone(model), {}, dict(fit_params), bool(epoch_scores)),
                "estimator", valid.get("backend"))
    if callable(model):
        return _Runner("callable", model, {}, dict(fit_params)), "callable", None
    raise TypeError(
        f"model={model!r} is not an estimator (get_params/set_params/fit/score), a seed model "
        f"or a callable train(params) -> history; pass e.g. xpnet.MLPClassifier(...)"
    )


def _is_classifier(model: Any, kind: str, y: Any) -> bool:
    if kind == "seed":
        return True
    if kind == "estimator":
        from sklearn.base import is_classifier

        return bool(is_classifier(model))
    if y is None:
        return False
    from sklearn.utils.multiclass import type_of_target

    return type_of_target(y) in ("binary", "multiclass")


# ================================================================== GPUs
def _gpu_library(backend: Any) -> tuple[str, int | None] | None:
    """("cupy" | "torch", pinned device index or None) for a GPU backend setting, else None."""
    if isinstance(backend, Backend):
        return (backend.name, None) if backend.is_gpu else None
    name = getattr(backend, "__name__", backend)
    if not isinstance(name, str):
        return None
    parts = name.strip().lower().split(":")
    if parts[0] == "cupy":
        index = parts[1].replace("cuda", "") if len(parts) > 1 else ""
        return "cupy", (int(index) if index.isdigit() else None)
    if parts[0] == "torch" and len(parts) > 1 and parts[1] == "cuda":
        return "torch", (int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None)
    return None


def _gpu_count(library: str) -> int:
    """How many GPUs the library sees here (through xpnet.backend; raises its clear error)."""
    backend = get_backend("cupy" if library == "cupy" else "torch:cuda")
    module = backend._module  # the library module the Backend resolved (cupy or torch)
    if library == "cupy":
        return int(module.cuda.runtime.getDeviceCount())
    return int(module.cuda.device_count())


def _device_spec(library: str, index: int) -> str:
    return f"cupy:{index}" if library == "cupy" else f"torch:cuda:{index}"


# ================================================================== running
def _check_n_jobs(n_jobs: Any) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs={n_jobs!r} must be a non-zero integer: 1 runs trials here, "
                         f"k > 1 in k processes, -1 in one process per CPU")
    return int(n_jobs)


def _dask_client(client: Any) -> tuple[Any, bool]:
    """(Client, whether we opened it) for a Client or a scheduler address."""
    try:
        import distributed
    except ImportError as err:
        raise ImportError(f"client= needs dask.distributed, which is not installed; "
                          f"fix: {_DASK_FIX}") from err
    if isinstance(client, str):
        return distributed.Client(client, set_as_default=False), True
    if isinstance(client, distributed.Client):
        return client, False
    raise TypeError(f"client={client!r} must be a dask.distributed.Client or a scheduler "
                    f"address such as 'tcp://127.0.0.1:8786'")


def _execute(runner: _Runner, tasks: list[list[tuple]], data: tuple, n_jobs: int,
             client: Any) -> Iterator[list[dict[str, Any]]]:
    """Yield each task's results as it completes (serially, with loky, or on Dask)."""
    if client is None and (n_jobs == 1 or len(tasks) == 1):
        for items in tasks:
            yield _run_chunk(runner, items, *data)
        return
    from joblib import Parallel, delayed, parallel_config

    if client is None:
        config = {"backend": "loky"}
    else:
        scatter = [d for d in data if d is not None]
        config = {"backend": "dask", "client": client, "scatter": scatter or None}
    with parallel_config(**config):
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(delayed(_run_chunk)(runner, items, *data) for items in tasks)


def _tasks(trials: list[dict], seeds: list[int], backend: Any, n_jobs: int, client: Any
           ) -> tuple[list[list[tuple]], int]:
    """(chunks of (index, params, seed, device spec), n_jobs): one trial per chunk on CPUs,
    one chunk per GPU (or per Dask worker thread) for GPU backends."""
    gpu = _gpu_library(backend)
    if gpu is None:
        return [[(i, p, seeds[i], None)] for i, p in enumerate(trials)], n_jobs
    library, pinned = gpu
    if client is not None:  # each worker thread uses its worker's default device
        slots = max(1, sum(client.nthreads().values()))
        devices = [None] * slots
    elif pinned is not None:
        devices = [_device_spec(library, pinned)]
    else:
        devices = [_device_spec(library, g) for g in range(max(1, _gpu_count(library)))]
    n = len(devices)
    tasks = [[(i, trials[i], seeds[i], devices[g]) for i in range(g, len(trials), n)]
             for g in range(n)]
    tasks = [t for t in tasks if t]
    return tasks, len(tasks)


def _progress(total: int, verbose: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="search", unit="trial", disable=not verbose, leave=True)


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
        model: an estimator (cloned per trial, ``set_params(**params)``; its ``random_state``
            is kept unless it is None, then each trial gets its own seed), a seed model
            (re-created per trial from its constructor arguments with the trial's parameters
            overriding; ``epochs`` may also be searched) or a callable ``train(params)``
            returning a history dict with a final "score" (it is also given ``random_state=``,
            ``X_train=``, ``y_train=``, ``X_val=``, ``y_val=`` when it takes those keywords).
        space: name -> :func:`log_uniform` / :func:`uniform` / list of choices / any
            ``scipy.stats`` distribution. Trials are drawn by scikit-learn's
            ``ParameterSampler(space, n_iter=n_trials, random_state=random_state)``.
        X, y: the data; when ``X_val`` is None, ``validation_fraction`` of it is held out
            with ``train_test_split`` (stratified for classification) for scoring. May be
            None for a callable that loads its own data.
        n_trials: how many parameter draws to try.
        validation_fraction: share held out for validation when ``X_val`` is None.
        X_val, y_val: explicit validation data (then all of X, y is used for training).
        random_state: seeds the draws, the split and the trials' seeds; None draws one
            (kept in the result's ``random_state``).
        n_jobs: trials run in this many local processes (joblib's loky backend; -1: one per
            CPU). With a GPU backend ("cupy", "torch:cuda") it is forced to the number of
            visible GPUs, one trial at a time per GPU, each chunk of trials given its device
            ("cupy:0", "cupy:1", ...); a backend naming a device ("cupy:1") runs serially.
        client: a ``dask.distributed.Client`` or a scheduler address ("tcp://host:8786"):
            trials run on that Dask cluster through joblib's dask backend. With a GPU backend
            each worker thread runs one chunk of trials on its default device, so start one
            single-threaded worker per GPU (dask-cuda's ``LocalCUDACluster`` does).
        verbose: show a progress bar over completed trials.
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
    """
    space = _check_space(space)
    if isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r} must be a positive integer, e.g. n_trials=20")
    if random_state is None:
        random_state = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    elif isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral) \
            or random_state < 0:
        raise TypeError(f"random_state={random_state!r} must be a non-negative int or None; "
                        f"pass e.g. random_state=0")
    random_state = int(random_state)
    n_jobs = _check_n_jobs(n_jobs)
    runner, kind, backend = _make_runner(model, space, fit_params or {}, epoch_scores)
    data = _split(model, kind, X, y, X_val, y_val, validation_fraction, random_state)

    trials = _draw(space, int(n_trials), random_state)
    seeds = [_trial_seed(random_state, i) for i in range(len(trials))]
    owned = False
    if client is not None:
        client, owned = _dask_client(client)
    try:
        tasks, n_jobs = _tasks(trials, seeds, backend if kind != "callable" else None, n_jobs,
                               client)
        results: list[dict[str, Any] | None] = [None] * len(trials)
        bar = _progress(len(trials), verbose)
        try:
            for chunk in _execute(runner, tasks, data, n_jobs, client):
                for res in chunk:
                    results[res["index"]] = res
                bar.update(len(chunk))
        finally:
            bar.close()
    finally:
        if owned:
            client.close()
    done = [r for r in results if r is not None]
    if len(done) != len(trials):  # a worker lost a task without an error: should not happen
        raise RuntimeError(f"only {len(done)} of {len(trials)} trials came back from the workers")
    errors = [r["error"] for r in done]
    if all(e is not None for e in errors):
        raise RuntimeError(f"all {len(done)} trials failed; the first (trial 0, params "
                           f"{done[0]['params']}) raised {errors[0]}")
    classify = _is_classifier(model, kind, y if y_val is None else y_val)
    if score_name is None:
        score_name = "score" if kind == "callable" else ("val acc" if classify else "val R^2")
    return SearchResult(
        params=[r["params"] for r in done],
        scores=[float(r["score"]) for r in done],
        curves=[r["curves"] for r in done],
        errors=errors,
        seeds=[r["seed"] for r in done],
        seconds=[r["seconds"] for r in done],
        random_state=random_state,
        score_name=score_name,
    )


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
    from sklearn.model_selection import train_test_split

    stratify = y if _is_classifier(model, kind, y) else None
    try:
        X_train, X_v, y_train, y_v = train_test_split(
            X, y, test_size=validation_fraction, random_state=random_state, stratify=stratify)
    except ValueError as err:
        raise ValueError(f"cannot hold out validation_fraction={validation_fraction} of y "
                         f"stratified ({err}); pass X_val and y_val, or a larger "
                         f"validation_fraction") from err
    return X_train, y_train, X_v, y_v


# ================================================================== command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``xpnet search``'s options to ``parser`` (seed 003's search by default)."""
    from .datasets import DATASETS

    parser.add_argument("--dataset", default="digits",
                        help=f"one of {', '.join(DATASETS)} (default: digits); the search "
                             f"scores on its validation split")
    parser.add_argument("--train-size", type=int, default=None, metavar="N",
                        help="use only the first N training rows (seed 003 used 500)")
    parser.add_argument("--trials", type=int, default=20, help="parameter draws (default: 20)")
    parser.add_argument("--epochs", type=int, default=50, help="epochs per trial (default: 50)")
    parser.add_argument("--hidden", default="100,100",
                        help="hidden layer sizes, comma-separated (default: 100,100)")
    parser.add_argument("--lr", nargs=2, type=float, default=(1e-6, 1e-2),
                        metavar=("LOW", "HIGH"),
                        help="log-uniform learning-rate range (default: 1e-6 1e-2)")
    parser.add_argument("--weight-decay", nargs=2, type=float, default=(1e-8, 1e-4),
                        metavar=("LOW", "HIGH"),
                        help="log-uniform weight-decay (alpha) range (default: 1e-8 1e-4)")
    parser.add_argument("--top", type=int, default=10, help="rows of the table (default: 10)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="local worker processes (-1: one per CPU; default: 1)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 "
                             '(needs pip install "xpnet[dask]")')
    parser.add_argument("--plot", default=None, metavar="PATH",
                        help="write the grid of the best trials' curves to PATH (PNG)")
    parser.add_argument("--random-state", type=int, default=0,
                        help="seed of the draws, the split and the trials (default: 0)")
    parser.add_argument("--backend", default="numpy",
                        help="array backend: numpy, torch, cupy, torch:cuda, ... (default: numpy)")


def _parse_hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in str(text).split(",") if s.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--hidden={text!r} must be positive integers separated by commas, "
                         f"e.g. --hidden 100,100")
    return sizes


def _cli_data(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    from .datasets import load_dataset

    name = str(args.dataset).lower().replace("-", "_")
    kw: dict[str, Any] = {}
    if args.train_size is not None:
        if args.train_size < 2:
            raise ValueError(f"--train-size={args.train_size} must be at least 2")
        if name in ("mnist", "fashion_mnist"):
            kw["n_train"] = args.train_size
    split = load_dataset(args.dataset, **kw)
    x, y = split.x_train, split.y_train
    if args.train_size is not None:
        x, y = x[:args.train_size], y[:args.train_size]
    return x, y, split.x_val, split.y_val


def run_cli(args: argparse.Namespace) -> int:
    """Run ``xpnet search`` from parsed :func:`add_arguments` options; returns the exit code.

    Seed 003's search with an :class:`~xpnet.estimators.MLPClassifier` (plain SGD, mini-batches
    of 100, ``--epochs`` epochs per trial, scored on the dataset's validation split after every
    epoch); prints the best ``--top`` trials and writes the grid of curves with ``--plot``.
    Errors (a bad dataset name, a backend that cannot be had) propagate to the caller.
    """
    from .estimators import MLPClassifier

    hidden = _parse_hidden(args.hidden)
    for name in ("trials", "epochs", "top"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}={getattr(args, name)} must be a positive integer")
    x, y, x_val, y_val = _cli_data(args)
    model = MLPClassifier(hidden_layer_sizes=hidden, solver="sgd", max_iter=args.epochs,
                          batch_size=100, backend=args.backend)
    space = {"learning_rate_init": log_uniform(*args.lr),
             "alpha": log_uniform(*args.weight_decay)}
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else (
        f"{args.n_jobs} local processes" if args.n_jobs != 1 else "this process")
    print(f"random search: {args.trials} trials x {args.epochs} epochs of MLPClassifier"
          f"{hidden} (sgd) on {args.dataset} ({len(x)} train / {len(x_val)} validation rows), "
          f"backend={args.backend!r}, random_state={args.random_state}, in {where}",
          file=sys.stderr)
    result = random_search(model, space, x, y, n_trials=args.trials, X_val=x_val, y_val=y_val,
                           random_state=args.random_state, n_jobs=args.n_jobs,
                           client=args.scheduler, verbose=True, epoch_scores=True)
    print("=========== Hyper-Parameter Optimization Result ===========")
    print(result.format_table(args.top))
    if result.n_failed:
        print(f"{result.n_failed} of {len(result)} trials failed (their errors are listed)")
    if args.plot:
        path = result.plot(args.plot, top=min(20, len(result)))
        print(f"wrote {path}")
    return 0
