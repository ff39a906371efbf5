"""scikit-learn compatible ``MLPClassifier`` and ``MLPRegressor`` built on xpnet's pieces.

Both estimators follow scikit-learn's parameter names and fitted attributes, and train a
:class:`~xpnet.network.MultiLayerNetExtend` (or, given ``layers=``, a
:class:`~xpnet.network.Network` of any layers: convolutions too) with the
:class:`~xpnet.trainer.Trainer` (there is no second training loop here). They run on every
xpnet backend (``backend="torch"``, ...), so ``Pipeline``, ``GridSearchCV`` and
``cross_val_score`` work with GPU training too.

Differences from ``sklearn.neural_network`` worth knowing:

* ``solver`` names xpnet's optimizers: "sgd" is plain SGD (scikit-learn's "sgd" adds
  Nesterov momentum 0.9 by default; use ``solver="nesterov"`` for that), plus "momentum",
  "nesterov", "adagrad", "rmsprop" and "adam". There is no "lbfgs" and no learning-rate
  schedule.
* ``alpha`` keeps scikit-learn's scaling. Its ``_backprop`` adds
  ``alpha / (2 n) * sum(W**2)`` to the mean loss of each call, where ``n`` is the number of
  samples in that call, i.e. the mini-batch; so here the network's
  ``weight_decay_lambda = alpha / B`` with ``B`` the effective batch size (the two differ
  only on an epoch's last, shorter batch). ``l1`` is scaled the same way
  (``l1 / B * sum|W|``). The penalty is part of ``loss_curve_``, as in scikit-learn.
* Binary problems use a 2-way softmax (``predict_proba`` has shape ``(n, 2)``); a single
  class gets a 1-way output that always predicts it.
* Without early stopping, training stops once the training loss has not improved by ``tol``
  for ``n_iter_no_change`` consecutive epochs; with ``early_stopping=True`` the validation
  score (accuracy, or R^2 pooled over all outputs) is monitored the same way and the best
  epoch's weights are restored. The improvement counters restart with every ``fit`` call (also with
  ``warm_start``), while ``loss_curve_`` and ``t_`` carry over.  As in scikit-learn, ``fit``
  builds a new optimizer from the current parameters every call (with ``warm_start`` too: after
  ``set_params(learning_rate_init=...)`` it steps with the new rate and fresh moments from the
  weights it has); ``partial_fit`` continues its optimizer.
* A divergence (NaN/inf or an exploding loss, see ``xpnet.nn.trainer.EXPLOSION_FACTOR``) puts
  back the last finite weights, resets the optimizer and warns; a KeyboardInterrupt keeps the
  epochs completed in ``n_iter_``, ``t_`` and ``loss_curve_``.
* ``dtype="auto"`` (the default) follows scikit-learn's dtype rule rather than xpnet's float32
  default: the model trains in the float dtype of the ``X`` of its first fit (float32 data in
  float32, float64 data in float64, anything else in float64).  So a float64 model answers
  float64 data, and a row's prediction does not change in the last bit with the batch it sits
  in (a float32 model fed float64 data can: BLAS rounds float32 sums differently for different
  batch sizes, which scikit-learn's ``check_methods_subset_invariance`` flags).  Pass
  ``dtype="float32"`` for float32 speed on float64 data.
* Extra parameters: ``l1``, ``batchnorm``, ``dropout``, ``weight_init``, ``backend``
  (a name, a namespace module or a Backend; copies and pickles keep what was passed),
  ``dtype``, ``layers`` and ``input_shape``. Sample weights are not supported.
* Images: ``X`` may be (n_samples, C, H, W), or flat rows (n_samples, C*H*W) with
  ``input_shape=(C, H, W)``; ``n_features_in_`` is C*H*W either way and ``input_shape_`` the
  sample shape.  ``layers`` (the layer list :class:`~xpnet.network.Network` takes, without
  the output layer, which the estimator adds for the classes or targets) replaces
  ``hidden_layer_sizes``, ``activation``, ``batchnorm`` and ``dropout``::

      MLPClassifier(layers=[("conv", {"filter_num": 16, "filter_size": 3, "pad": 1}),
                            "batchnorm", "relu", ("pool", {"pool_h": 2}), "flatten",
                            ("dense", {"units": 100}), "relu"])

Arrays of the model's own backend (e.g. torch tensors with ``backend="torch"``) are used
where they are, without a trip through the host; predictions then come back as arrays of that
library. Host data (NumPy, lists, pandas) is validated with scikit-learn's ``validate_data``
and predictions come back as NumPy arrays in the input's float dtype (computed in the model's
``dtype``).
"""

from __future__ import annotations

import copy
import math
import numbers
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ..backends import Backend, get_backend, is_host, namespace_of
from ..backends.base import ModuleRef
from ..backends.numpy_backend import all_finite
from ..backends.validation import check_features, check_hidden_sizes, check_lengths, check_targets
from ..nn.init import INITIALIZERS, auto_rule
from ..nn.layers import ACTIVATIONS as LAYER_ACTIVATIONS
from ..nn.network import MultiLayerNetExtend, Network, chunk_bounds
from ..nn.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from ..nn.state import Saveable, describe, rebuild
from ..nn.trainer import History, Trainer

__all__ = ["MLPClassifier", "MLPRegressor", "ACTIVATIONS", "SOLVERS"]

#: the ``activation=`` names: xpnet's activation table (scikit-learn's four names among them)
ACTIVATIONS = tuple(LAYER_ACTIVATIONS)
#: the ``solver=`` names: xpnet's optimizers (AdamW aside: ``alpha`` is the weight decay here)
SOLVERS = tuple(name for name in OPTIMIZERS if name != "adamw")
#: fitted attributes a model file restores (beside classes_, feature_names_in_ and history_),
#: with their JSON types
_FITTED = {"n_features_in_": (int,), "input_shape_": (list,), "n_outputs_": (int,),
           "n_layers_": (int,), "out_activation_": (str,), "loss_": (float, int),
           "best_loss_": (float, int, type(None)),
           "best_validation_score_": (float, int, type(None)), "n_iter_": (int,), "t_": (int,)}

_FLOAT_DTYPES = (np.float64, np.float32)


class InvalidParameterError(ValueError, TypeError):
    """A parameter outside its constraint (both a ValueError and a TypeError, as scikit-learn's).

    Example:
        >>> MLPClassifier(alpha=-1).fit([[0.0], [1.0]], [0, 1])
        Traceback (most recent call last):
        ...
        xpnet.edges.estimators.InvalidParameterError: alpha=-1 must be a finite number >= 0
        >>> [issubclass(InvalidParameterError, kind) for kind in (ValueError, TypeError)]
        [True, True]
    """


def _number(lo: float, hi: float = math.inf, *, integer: bool = False, open_lo: bool = False,
            open_hi: bool = False) -> Callable[[Any], bool]:
    """A constraint: a finite number (an integer if asked) between ``lo`` and ``hi``."""
    def ok(value: Any) -> bool:
        kind = numbers.Integral if integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        return (value > lo if open_lo else value >= lo) and (value < hi if open_hi else value <= hi)
    return ok


_COUNT, _UNIT = (_number(1, integer=True), "an integer >= 1"), (
    _number(0, 1, open_hi=True), "a number in [0, 1)")
#: parameter -> (constraint, what it must be): the one table ``fit`` checks (scikit-learn's
#: declarative style, xpnet's messages: "alpha=-1.0 must be a finite number >= 0")
_CONSTRAINTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "hidden_layer_sizes": (lambda v: not isinstance(v, str),  # "100,50": the CLI's spelling
                           "an int or a tuple of ints, e.g. hidden_layer_sizes=(100,)"),
    "activation": (ACTIVATIONS.__contains__, f"one of {', '.join(map(repr, ACTIVATIONS))}"),
    "solver": (SOLVERS.__contains__, f"one of {', '.join(map(repr, SOLVERS))}"),
    "alpha": (_number(0), "a finite number >= 0"),
    "l1": (_number(0), "a finite number >= 0"),
    "tol": (_number(0), "a finite number >= 0"),
    "learning_rate_init": (_number(0, open_lo=True),
                           "a finite number > 0, e.g. learning_rate_init=0.001"),
    "epsilon": (_number(0, open_lo=True), "a finite number > 0, e.g. epsilon=1e-08"),
    "max_iter": _COUNT,
    "n_iter_no_change": _COUNT,
    "batch_size": (lambda v: v == "auto" if isinstance(v, str) else _COUNT[0](v),
                   "'auto' (min(200, n_samples)) or an integer >= 1"),
    "momentum": _UNIT, "beta_1": _UNIT, "beta_2": _UNIT, "dropout": _UNIT,
    "validation_fraction": (_number(0, 1, open_lo=True, open_hi=True),
                            "a number in (0, 1), e.g. 0.1"),
    **dict.fromkeys(("shuffle", "verbose", "warm_start", "early_stopping", "batchnorm"),
                    (lambda v: isinstance(v, (bool, np.bool_)), "True or False")),
    "weight_init": (lambda v: v == "auto" or v.lower() in INITIALIZERS if isinstance(v, str)
                    else _number(0)(v), f"'auto', an initializer name "
                    f"({', '.join(sorted(INITIALIZERS))}) or a float standard deviation >= 0"),
    "random_state": (lambda v: v is None or isinstance(v, np.random.RandomState) or
                     _number(0, 2**32, integer=True, open_hi=True)(v),
                     "None, an integer in [0, 2**32) or a numpy.random.RandomState"),
    "layers": (lambda v: v is None or isinstance(v, (list, tuple)) and len(v) > 0,
               "None (an MLP of hidden_layer_sizes) or a non-empty list of layers, e.g. "
               "[('conv', {'filter_num': 8, 'filter_size': 3}), 'relu', 'flatten']"),
    "input_shape": (lambda v: v is None or isinstance(v, (list, tuple)) and len(v) > 0 and
                    all(_COUNT[0](d) for d in v),
                    "None (the shape of X's samples) or a tuple of integers >= 1, e.g. "
                    "input_shape=(1, 28, 28)"),
}


class _BaseMLP(Saveable, BaseEstimator):
    """Shared parameters, fitting loop and prediction plumbing of the two estimators."""

    _loss: str = "softmax_cross_entropy"
    _monitor_name: str = "accuracy"

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        l1: float = 0.0,
        batch_size: int | str = "auto",
        learning_rate_init: float = 0.001,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int = 10,
        batchnorm: bool = False,
        dropout: float = 0.0,
        weight_init: str | float = "auto",
        backend: Any = "numpy",
        dtype: str = "auto",
        layers: list[Any] | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.l1 = l1
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.batchnorm = batchnorm
        self.dropout = dropout
        self.weight_init = weight_init
        self.backend = backend
        self.dtype = dtype
        self.layers = layers
        self.input_shape = input_shape

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> list[int]:
        """Validate every parameter against :data:`_CONSTRAINTS` (at fit time, as
        scikit-learn does); the hidden sizes."""
        for name, (ok, must) in _CONSTRAINTS.items():
            value = getattr(self, name)
            if not ok(value):
                raise InvalidParameterError(f"{name}={value!r} must be {must}")
        if self.layers is not None and (self.batchnorm or self.dropout):
            raise InvalidParameterError(
                f"batchnorm={self.batchnorm!r}, dropout={self.dropout!r} apply to the MLP of "
                f"hidden_layer_sizes; with layers= put 'batchnorm' or ('dropout', {{'ratio': "
                f"{self.dropout or 0.5}}}) in the list instead")
        return check_hidden_sizes("hidden_layer_sizes", self.hidden_layer_sizes)

    def _seed(self) -> int | None:
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        return None if rs is None else int(rs)

    def _make_optimizer(self) -> Optimizer:
        lr = float(self.learning_rate_init)
        params: dict[str, Any] = {"lr": lr}
        if self.solver in ("momentum", "nesterov"):
            params["momentum"] = float(self.momentum)
        elif self.solver == "adam":
            params.update(beta1=float(self.beta_1), beta2=float(self.beta_2),
                          eps=float(self.epsilon))
        return make_optimizer(self.solver, **params)

    def _fit_dtype(self, X: Any) -> Any:
        """``dtype``; for "auto" a Backend's own dtype, else the float dtype of ``X`` (a
        DataFrame's if all its columns share it), float64 for anything else (scikit-learn's
        rule)."""
        if not (isinstance(self.dtype, str) and self.dtype == "auto"):
            return self.dtype
        if isinstance(self.backend, Backend):
            return self.backend.dtype_name
        kinds = getattr(X, "dtypes", None)
        kinds = [getattr(X, "dtype", None)] if kinds is None else list(kinds)
        return "float32" if {str(k).rsplit(".", 1)[-1] for k in kinds} == {"float32"} \
            else "float64"

    def _weight_init(self) -> str | float:
        if isinstance(self.weight_init, str) and self.weight_init == "auto":
            return auto_rule(self.activation)
        return self.weight_init

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _on_device(x: Any, backend: Backend) -> bool:
        """True for arrays of the model's own (non-NumPy) library: used where they are."""
        return not is_host(x) and backend.owns(x)

    def _inputs(self, X: Any, y: Any, backend: Backend, reset: bool,
                finite_later: bool = False) -> tuple[Any, Any, Any, Callable[[], None] | None]:
        """(device features, ``y``, the NumPy dtype host results come back in, the function
        that raises the NaN/inf error where that check is left to the forward pass, else None).

        Features of the model's own library are checked where they are (the dtype is then
        None: results stay on the device); anything else is validated on the host by
        scikit-learn's ``validate_data`` (with ``y`` unless it is None, as in ``predict``),
        and host results come back in the validated input's float dtype, as in scikit-learn.
        Images (n_samples, C, H, W) are checked and reshaped to flat rows first.

        With ``finite_later`` (prediction), features that reach the network as they are (no
        cast) are not read for NaN/inf here: the forward pass checks them (:meth:`_scores`).
        """
        X, sample = self._rows(X, reset)
        if self._on_device(X, backend):
            x = check_features(X, backend, "X", n_features=None if reset else self.n_features_in_,
                               finite=not finite_later)
            if reset:
                self.n_features_in_ = int(x.shape[1])
                self.__dict__.pop("feature_names_in_", None)
                self._set_input_shape(sample)
            return x, y, None, (lambda: check_features(X, backend, "X")) if finite_later else None
        X = self._host(X, backend, "X")
        # a float matrix scikit-learn would take as it is gets xpnet's finite check (one read,
        # compiled where numba is loaded; scikit-learn's message when it fails), before
        # anything of the model changes, or in the forward pass when it goes in as it is;
        # other data gets scikit-learn's, after its conversion
        ready = type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES
        later = finite_later and ready and X.dtype == backend.dtype_name
        if ready and not later and not all_finite(X):
            assert_all_finite(X, estimator_name=type(self).__name__, input_name="X")
        if y is None:
            X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES,
                              ensure_all_finite=not ready)
        else:
            X, y = validate_data(self, X, self._host(y, backend, "y"), reset=reset,
                                 dtype=_FLOAT_DTYPES, ensure_all_finite=not ready,
                                 **self._y_check_params())
            if reset:
                self._set_input_shape(sample)
        if X.dtype == backend.dtype_name:  # shape and NaN/inf checked: no second scan
            reject = (lambda: assert_all_finite(X, estimator_name=type(self).__name__,
                                                input_name="X")) if later else None
            return backend.asarray(X, name="X"), y, X.dtype, reject
        # a cast to a narrower dtype (float64 data, float32 model) can still overflow
        return check_features(X, backend, "X"), y, X.dtype, None

    def _rows(self, X: Any, reset: bool) -> tuple[Any, tuple[int, ...] | None]:
        """(``X`` as flat rows, the shape of its samples) for images (n_samples, C, H, W);
        ``X`` as it is and None for anything else.  The sample shape must be ``input_shape``
        (when given) on a first fit and ``input_shape_`` after it."""
        shape = tuple(getattr(X, "shape", ()))
        if len(shape) != 4:
            return X, None
        sample = shape[1:]
        want = (None if self.input_shape is None else tuple(self.input_shape)) if reset \
            else self.input_shape_
        if want is not None and sample != want:
            raise ValueError(f"X holds images of shape {sample}, but the model "
                             f"{'takes input_shape=' if reset else 'was fitted on '}{want}; "
                             f"pass images (n_samples, {', '.join(map(str, want))}) or flat rows "
                             f"of {math.prod(want)} values")
        flat = (shape[0], math.prod(sample))
        return (np.reshape(X, flat) if is_host(X) else namespace_of(X).reshape(X, flat)), sample

    def _set_input_shape(self, sample: tuple[int, ...] | None) -> None:
        """``input_shape_`` on a first fit: the images' sample shape, else ``input_shape``
        (its size must be ``n_features_in_``), else (n_features_in_,)."""
        shape = sample or (tuple(self.input_shape) if self.input_shape is not None else
                           (self.n_features_in_,))
        if math.prod(shape) != self.n_features_in_:
            raise ValueError(f"input_shape={self.input_shape!r} holds {math.prod(shape)} values "
                             f"but X has {self.n_features_in_} features; pass the shape of one "
                             f"sample, e.g. input_shape=(1, 28, 28) for rows of 784 pixels")
        self.input_shape_ = tuple(int(d) for d in shape)

    @staticmethod
    def _host(a: Any, backend: Backend, name: str) -> Any:
        """Host data as it is; the model's own arrays copied to the host; arrays of another
        library refused with a TypeError (never converted silently)."""
        if is_host(a):
            return a
        return backend.to_numpy(backend.asarray(a, dtype=getattr(a, "dtype", None), name=name))

    def _y_check_params(self) -> dict[str, Any]:
        return {}

    def _predict_scores(self, X: Any) -> tuple[Any, Any]:
        """(network outputs for ``X`` in eval mode, the NumPy dtype of host results or None:
        see :meth:`_inputs`)."""
        check_is_fitted(self)
        x, _, host_dtype, reject = self._inputs(X, None, self.network_.backend, reset=False,
                                                finite_later=True)
        return self._scores(x, reject), host_dtype

    def _out(self, z: Any, host_dtype: Any) -> Any:
        """Device result as it is, or as a NumPy array of ``host_dtype``."""
        if host_dtype is None:
            return z
        return self.network_.backend.to_numpy(z).astype(host_dtype, copy=False)

    def _scores(self, x: Any, reject: Callable[[], None] | None = None) -> Any:
        """Network outputs in eval mode, in nearly equal chunks of at most the network's
        ``eval_chunk`` rows; for features not yet checked for NaN/inf, checked on the way
        (``Network.forward_unchecked``), with ``reject()`` raising the error."""
        net = self.network_
        bounds = chunk_bounds(x.shape[0], net.eval_chunk)
        parts = []
        for a, b in bounds:
            rows = x if len(bounds) == 1 else x[a:b, ...]
            if reject is None:
                parts.append(net.forward(rows, False))
                continue
            scores, finite = net.forward_unchecked(rows)
            if not finite:
                reject()
            parts.append(scores)
        return parts[0] if len(parts) == 1 else net.xp.concat(parts, axis=0)

    # ------------------------------------------------------------------ training
    def _fit(self, X: Any, y: Any, incremental: bool, classes: Any = None,
             validation_data: tuple[Any, Any] | None = None) -> _BaseMLP:
        sizes = self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True; set "
                             "early_stopping=False or call fit")
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             f"is None; pass the training targets")
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        backend = (get_backend(self.backend, self._fit_dtype(X), self._seed()) if first_pass
                   else self.network_.backend)
        x, y, host_dtype, _ = self._inputs(X, y, backend, reset=first_pass)
        if host_dtype is None:  # scikit-learn compared the lengths of host data
            check_lengths(x, y, "X", "y")
        t = self._targets(y, backend, first_pass, incremental, classes)  # on the device
        if first_pass:
            self._initialize(sizes, self._n_outputs(t), backend)
        elif self._n_outputs(t) != self.n_outputs_:
            raise ValueError(f"y has {self._n_outputs(t)} output(s) but the model was fitted "
                             f"with {self.n_outputs_}; pass targets of the same width or set "
                             f"warm_start=False")
        net = self.network_
        if not incremental or getattr(self, "_optimizer", None) is None:
            self._optimizer = self._make_optimizer()  # fit: from the current parameters
        x_val = t_val = None
        if self.early_stopping:
            x, t, x_val, t_val = self._split(x, t, backend)
        elif validation_data is not None:  # recorded each epoch, as Keras' fit does
            if not isinstance(validation_data, tuple) or len(validation_data) != 2:
                raise TypeError(f"validation_data must be a tuple (X_val, y_val), got "
                                f"{type(validation_data).__name__}")
            x_val, y_val, _, _ = self._inputs(*validation_data, backend, reset=False)
            t_val = self._targets(y_val, backend, False, True, None)
        n = int(x.shape[0])
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(f"Got batch_size={self.batch_size} larger than the {n} "
                              f"training samples; it is clipped to {n}", UserWarning,
                              stacklevel=3)
            batch = min(self.batch_size, n)
        # scikit-learn's scaling: alpha / (2 B) * ||W||^2 per mini-batch of B samples
        net.weight_decay_lambda = float(self.alpha) / batch
        net.l1 = float(self.l1) / batch
        epochs = 1 if incremental else int(self.max_iter)
        trainer = Trainer(
            net, x, t, epochs=epochs, mini_batch_size=batch, optimizer=self._optimizer,
            verbose=bool(self.verbose), x_val=x_val, t_val=t_val,
            patience=None if incremental else int(self.n_iter_no_change),
            min_delta=float(self.tol), monitor="val_score" if self.early_stopping else "loss",
            restore_best_weights=bool(self.early_stopping), shuffle=bool(self.shuffle),
            evaluate=False, check_input=False,  # x and t were validated above
            history=self.history_)
        try:
            history = trainer.train()
        finally:  # also after a KeyboardInterrupt: the epochs completed are counted
            self._record(trainer, n)
        if (not incremental and not history.diverged and history.stopped_epoch is None
                and trainer.current_epoch >= epochs):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          f"and the optimization hasn't converged yet; raise max_iter, raise "
                          f"tol or scale the inputs", ConvergenceWarning, stacklevel=3)
        return self

    def _initialize(self, sizes: list[int], n_outputs: int, backend: Backend) -> None:
        """Build the network and optimizer and reset the fitted curves (first pass)."""
        common = dict(weight_init_std=self._weight_init(), loss=self._loss, backend=backend,
                      dtype=backend.dtype_name, random_state=backend.seed)
        if self.layers is None:
            dropout = float(self.dropout)
            self.network_: Network = MultiLayerNetExtend(
                self.n_features_in_, sizes, n_outputs, activation=self.activation,
                use_dropout=dropout > 0, dropout_ratio=dropout if dropout > 0 else 0.5,
                use_batchnorm=bool(self.batchnorm), **common)
        else:
            self.network_ = Network([*self.layers, ("dense", {"units": n_outputs})],
                                    self.input_shape_, **common)
        self._optimizer = None  # built by _fit
        self.n_outputs_ = int(n_outputs)
        self.n_layers_ = len(self.network_.weight_keys) + 1  # scikit-learn: hidden + 2
        self.out_activation_ = "softmax" if self._loss != "mse" else "identity"
        #: every curve of every call since this first pass (``loss_curve_`` and
        #: ``validation_scores_`` are views of it)
        self.history_ = History()
        self.t_ = 0
        self.n_iter_ = 0
        if self.early_stopping:
            self.best_validation_score_: float | None = -math.inf
            self.best_loss_: float | None = None
        else:
            self.best_validation_score_ = None
            self.best_loss_ = math.inf

    def _split(self, x: Any, t: Any, backend: Backend) -> tuple[Any, Any, Any, Any]:
        """Hold out ``validation_fraction`` of the samples (stratified for classifiers)."""
        n = int(x.shape[0])
        stratify = backend.to_numpy(t) if self._loss != "mse" else None
        seed = int(backend.host_rng.randint(0, 2**31 - 1))
        try:
            train_idx, val_idx = train_test_split(
                np.arange(n), test_size=self.validation_fraction, random_state=seed,
                stratify=stratify)
        except ValueError as err:
            raise ValueError(f"early_stopping=True could not hold out "
                             f"validation_fraction={self.validation_fraction} of {n} samples "
                             f"({err}); pass more samples or set early_stopping=False") from None
        if val_idx.shape[0] < 2:
            raise ValueError("The validation set is too small (fewer than 2 samples). Increase "
                             "'validation_fraction' or the size of your dataset.")
        xp = backend.xp
        train, val = (backend.asarray(idx, dtype="int64") for idx in (train_idx, val_idx))
        return (xp.take(x, train, axis=0), xp.take(t, train, axis=0), xp.take(x, val, axis=0),
                xp.take(t, val, axis=0))

    def _record(self, trainer: Trainer, n_train: int) -> None:
        """scikit-learn's fitted numbers from the History after a call."""
        losses = self.history_.get("loss", [])
        self.n_iter_ = int(trainer.current_epoch)
        self.t_ += n_train * int(trainer.current_epoch)
        self.loss_ = losses[-1] if losses else math.nan
        if self.early_stopping:
            scores = self.history_.val_scores
            if scores:
                self.best_validation_score_ = max(scores)
            self.best_loss_ = None
        elif losses:
            self.best_loss_ = min(losses)

    @property
    def loss_curve_(self) -> list[float]:
        """The training loss of every epoch of every call (a view of ``history_["loss"]``)."""
        return self._history("loss_curve_").curve("loss")

    @property
    def validation_scores_(self) -> list[float] | None:
        """The validation score of every early-stopping epoch (a view of ``history_``); None
        when no epoch had validation data."""
        scores = self._history("validation_scores_").val_scores
        return scores if scores or self.early_stopping else None

    def _history(self, attribute: str) -> History:
        if "history_" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no {attribute} before fit")
        return self.history_

    def fit(self, X: Any, y: Any, validation_data: tuple[Any, Any] | None = None
            ) -> _BaseMLP:
        """Fit the model to ``X`` (n_samples, n_features) and targets ``y``.

        ``validation_data=(X_val, y_val)`` (as in Keras) records the validation loss and
        score of every epoch in ``history_`` (``validation_scores_``), without stopping on
        them; ``early_stopping=True`` holds out its own validation rows instead.

        With ``warm_start=True`` a fitted model continues from its weights, with an optimizer
        built afresh from the current parameters (as in scikit-learn; ``partial_fit`` keeps
        its optimizer).  Returns self.
        """
        return self._fit(X, y, incremental=False, validation_data=validation_data)

    # ------------------------------------------------------------------ inspection
    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices as NumPy arrays (copies), like scikit-learn's ``coefs_``."""
        return self._param_list("W")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors as NumPy arrays (copies), like scikit-learn's ``intercepts_``."""
        return self._param_list("b")

    def _param_list(self, prefix: str) -> list[np.ndarray]:
        if "network_" not in self.__dict__:
            raise AttributeError(f"this {type(self).__name__} is not fitted yet; call fit first")
        net = self.network_
        keys = [k for k in net.param_shapes if k[len(prefix):].isdigit() and k.startswith(prefix)]
        return [net.backend.to_numpy(net.params[k]).copy() for k in keys]

    # ------------------------------------------------------------------ description
    def get_config(self) -> dict[str, Any]:
        """The constructor parameters (JSON types), for model files and copies.  A backend
        given as a module or Backend is recorded as its spec (e.g. "torch")."""
        params = self.get_params(deep=False)
        if not isinstance(params["backend"], str):
            spec = (self.network_.backend.spec if "network_" in self.__dict__ else
                    _spec_or_none(params["backend"]))
            if spec is None:
                raise ValueError(f"cannot save {type(self).__name__} with backend="
                                 f"{params['backend']!r}: pass the backend as a string such as "
                                 f"'numpy' or 'torch'")
            params["backend"] = spec
        rs = params["random_state"]
        if rs is not None and not (isinstance(rs, numbers.Integral) and not isinstance(rs, bool)):
            params["random_state"] = None  # a RandomState instance is not portable
        for key in ("hidden_layer_sizes", "input_shape"):
            if isinstance(params[key], tuple):
                params[key] = list(params[key])
        if params["layers"] is not None:
            params["layers"] = _layer_list(params["layers"])
        return params

    def __reduce__(self) -> tuple[Any, ...]:
        # the model's description (nn.state), then the parameters exactly as passed: a module
        # travels by name (ModuleRef), a Backend by its spec, a RandomState as itself
        desc = describe(self, to_host=True)
        for key in ("backend", "seed", "dtype"):  # a Backend given as backend=: in params
            desc.pop(key, None)
        params = {k: ModuleRef(v) if isinstance(v, types.ModuleType) else v
                  for k, v in self.get_params(deep=False).items()}
        return _restored, (desc, params)

    def __sklearn_clone__(self) -> _BaseMLP:
        """scikit-learn's ``clone``: the parameters deep-copied, except a namespace module
        given as ``backend=`` (shared: a module cannot be copied, and need not be).

        Example:
            >>> import array_api_strict
            >>> from sklearn.base import clone
            >>> clone(MLPClassifier(backend=array_api_strict)).backend is array_api_strict
            True
        """
        new = type(self)(**{k: v if isinstance(v, types.ModuleType) else clone(v, safe=False)
                            for k, v in self.get_params(deep=False).items()})
        if "_metadata_request" in self.__dict__:
            new._metadata_request = copy.deepcopy(self._metadata_request)
        return new

    def state_values(self) -> dict[str, Any]:
        if "network_" not in self.__dict__:
            return {}
        values = {k: self.__dict__[k] for k in _FITTED if k in self.__dict__}
        values["input_shape_"] = list(self.input_shape_)
        values["history_"] = self.history_.to_config()
        if "classes_" in self.__dict__:
            values["classes_"] = _encode_labels(np.asarray(self.classes_))
        if "feature_names_in_" in self.__dict__:
            values["feature_names_in_"] = [str(v) for v in self.feature_names_in_]
        return values

    def state_children(self) -> dict[str, Saveable]:
        if "network_" not in self.__dict__:
            return {}
        children: dict[str, Saveable] = {"network": self.network_}
        if type(self._optimizer) in OPTIMIZERS.values():  # a custom optimizer is rebuilt
            children["optimizer"] = self._optimizer
        return children

    def load_state(self, values: dict[str, Any], children: dict[str, Saveable]) -> None:
        """Restore the fitted attributes, the network and the optimizer (checked against
        each other), as ``fit`` left them."""
        for key in ("hidden_layer_sizes", "input_shape"):
            if isinstance(getattr(self, key), list):
                setattr(self, key, tuple(getattr(self, key)))
        sizes = self._check_params()
        if not children:
            if values:
                raise ValueError(f"an unfitted {type(self).__name__} has no fitted values")
            return
        net = children.get("network")
        kind = Network if self.layers is not None else MultiLayerNetExtend
        if type(net) is not kind or set(children) - {"network", "optimizer"}:
            raise ValueError(f"this estimator's network must be a {kind.__name__} (layers="
                             f"{'None' if self.layers is None else '[...]'}), and it holds "
                             f"nothing but it and an optimizer; got {type(net).__name__}")
        if net.loss_name != self._loss:
            raise ValueError(f"a {type(self).__name__} network uses loss={self._loss!r}, not "
                             f"{net.loss_name!r}")
        for key, value in values.items():
            if key not in _FITTED and key not in ("classes_", "feature_names_in_", "history_"):
                raise ValueError(f"unknown fitted attribute {key!r}")
            if key in _FITTED and (not isinstance(value, _FITTED[key]) or
                                   isinstance(value, bool)):
                raise ValueError(f"fitted {key}={value!r} has the wrong type")
            if key in _FITTED:
                setattr(self, key, value)
        shape = tuple(values.get("input_shape_") or [values.get("n_features_in_")])
        if self.layers is None:  # an MLP: any sample shape of its number of features
            fits = list(net.hidden_size_list) == sizes and math.prod(shape) == net.input_size
        else:
            fits = shape == net.input_shape and \
                net.get_config()["layers"][:-1] == _layer_list(self.layers)
        if not fits or values.get("n_features_in_") != math.prod(shape) or \
                not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ValueError(f"n_features_in_={values.get('n_features_in_')!r}, input_shape_="
                             f"{list(shape)}, hidden_layer_sizes={self.hidden_layer_sizes!r} and "
                             f"layers={self.layers!r} do not match the network {net!r}")
        self.input_shape_ = shape
        if values.get("n_outputs_", net.output_size) != net.output_size:
            raise ValueError(f"n_outputs_={values.get('n_outputs_')!r} does not match the "
                             f"network's output_size={net.output_size}")
        if "classes_" in values or self._loss != "mse":
            classes = _decode_labels(values.get("classes_"))
            if self._loss == "mse" or classes.shape != (net.output_size,):
                raise ValueError(f"classes_ ({classes.shape[0]} labels) does not fit a "
                                 f"{type(self).__name__} with {net.output_size} outputs")
            self.classes_ = classes
        if "feature_names_in_" in values:
            names = values["feature_names_in_"]
            if not isinstance(names, list) or len(names) != net.input_size or \
                    not all(isinstance(v, str) for v in names):
                raise ValueError(f"feature_names_in_ must list {net.input_size} strings")
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.history_ = History.from_config(values.get("history_"))
        opt = children.get("optimizer") or self._make_optimizer()
        keys = getattr(opt, "_keys", ["flat"])
        if keys not in ([], ["flat"]):
            raise ValueError(f"optimizer state keys {keys} do not match the network "
                             f"(expected ['flat'])")
        opt.bind(net.backend)
        if keys:
            opt.init_state({"flat": net.flat})  # the layout the file's state must match
        self.network_, self._optimizer = net, opt
        if not isinstance(self.backend, str) or _spec_or_none(self.backend) != net.backend.spec:
            self.backend = net.backend.spec


def _layer_list(layers: Any) -> list[list[Any]]:
    """``layers`` as Network's config writes them (JSON): [name, arguments] pairs."""
    return [[spec, {}] if isinstance(spec, str) else
            [spec[0], dict(spec[1])] if isinstance(spec, (list, tuple)) and len(spec) == 2 and
            isinstance(spec[1], dict) else spec for spec in layers]


def _restored(desc: dict[str, Any], params: dict[str, Any]) -> _BaseMLP:
    """An unpickled estimator: rebuilt from its description, with its parameters as passed."""
    model = rebuild(desc)
    model.__dict__.update(params)
    return model


def _spec_or_none(backend: Any) -> str | None:
    """The canonical spec of a ``backend=`` value if it can be had here, else None."""
    try:
        return backend.spec if isinstance(backend, Backend) else get_backend(backend).spec
    except (ImportError, ValueError, TypeError):
        return None


def _encode_labels(values: np.ndarray) -> dict[str, Any]:
    """Class labels as JSON: their values and NumPy dtype string."""
    kind = values.dtype.kind
    if kind not in "biufUO" or values.ndim != 1:
        raise ValueError(f"cannot save classes_ of dtype {values.dtype} and shape "
                         f"{values.shape}: labels must be numbers, booleans or strings")
    items = values.tolist()
    if kind == "O" and not all(isinstance(v, (str, int, float, bool)) for v in items):
        raise ValueError("cannot save classes_: object labels must be str, int, float or bool")
    return {"values": items, "dtype": values.dtype.str}


def _decode_labels(spec: Any) -> np.ndarray:
    """The inverse of :func:`_encode_labels` (ValueError for anything else)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("values"), list) \
            or not isinstance(spec.get("dtype"), str):
        raise ValueError("fitted classes_ must be {'values': [...], 'dtype': '...'}")
    try:
        dtype = np.dtype(spec["dtype"])
    except TypeError:
        raise ValueError(f"classes_ has an unknown dtype {spec['dtype']!r}") from None
    if dtype.kind not in "biufUO":
        raise ValueError(f"classes_ has dtype {dtype}; labels must be numbers, booleans or "
                         f"strings")
    if dtype.kind == "O":
        out = np.empty(len(spec["values"]), dtype=object)
        out[:] = spec["values"]
        return out
    return np.asarray(spec["values"], dtype=dtype)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (softmax output, cross-entropy loss) on any backend.

    Parameters follow ``sklearn.neural_network.MLPClassifier``: ``hidden_layer_sizes``,
    ``activation`` ("relu", "logistic", "tanh", "identity"), ``solver`` ("sgd", "momentum",
    "nesterov", "adagrad", "rmsprop", "adam"), ``alpha`` (L2), ``batch_size`` ("auto" =
    min(200, n_samples)), ``learning_rate_init``, ``max_iter`` (epochs), ``shuffle``,
    ``random_state``, ``tol``, ``verbose`` (a tqdm progress bar), ``warm_start``,
    ``momentum``, ``early_stopping``, ``validation_fraction``, ``beta_1``, ``beta_2``,
    ``epsilon``, ``n_iter_no_change``; and xpnet's ``l1``, ``batchnorm``, ``dropout``,
    ``weight_init`` ("auto": He for relu, Xavier otherwise), ``backend`` and ``dtype``
    ("auto": the float dtype of the training data, scikit-learn's rule; see the module).
    See the module docstring for the differences from scikit-learn.

    Fitted attributes: ``classes_``, ``n_features_in_`` (``feature_names_in_``),
    ``n_outputs_``, ``loss_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``,
    ``best_validation_score_``, ``n_iter_``, ``t_``, ``network_`` (the
    :class:`~xpnet.MultiLayerNetExtend`), ``history_`` (the Trainer's History of the last
    call), ``coefs_`` and ``intercepts_`` (NumPy copies).

    Labels of any type (strings too) are encoded to 0..k-1 internally.

    Example:
        >>> import warnings
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(12, 3))
        >>> y = np.array(["cat", "dog", "fish"] * 4)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # 3 epochs do not converge (ConvergenceWarning)
        ...     clf = clf.fit(X, y)
        >>> clf.classes_.tolist(), clf.predict(X[:4]).shape, clf.predict_proba(X[:4]).shape
        (['cat', 'dog', 'fish'], (4,), (4, 3))
        >>> clf.n_iter_, [w.shape for w in clf.coefs_], set(clf.predict(X)) <= set(clf.classes_)
        (3, [(3, 8), (8, 3)], True)
    """

    def _targets(self, y: Any, backend: Backend, first_pass: bool, incremental: bool,
                 classes: Any) -> Any:
        """Labels checked and encoded to 0..k-1 on the host (where ``classes_`` lives)."""
        y = np.asarray(self._host(y, backend, "y"))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not (y.ndim == 1 and y.dtype.kind in "biu"):  # 1-d integers are classes as they are
            check_classification_targets(y)  # (scikit-learn's type_of_target: ~2 ms a 60k fit)
        if classes is not None:
            classes = np.unique(np.asarray(classes))
            if not first_pass and hasattr(self, "classes_") and not (
                    classes.shape == self.classes_.shape and np.all(classes == self.classes_)):
                raise ValueError(f"classes={classes!r} is not the same as on the earlier "
                                 f"fit/partial_fit call ({self.classes_!r}); pass the same "
                                 f"classes every time")
        if first_pass:
            self.classes_ = classes if classes is not None else np.unique(y)
        elif self.warm_start and not incremental:
            seen = np.unique(y)
            if seen.shape != self.classes_.shape or not np.all(seen == self.classes_):
                raise ValueError(f"warm_start can only be used where y has the same classes as "
                                 f"in the previous call to fit. Previously got "
                                 f"{self.classes_}, y has {seen}; set warm_start=False")
        return backend.asarray(self._encode(y), dtype=backend.index_dtype, name="y")

    def _encode(self, y: np.ndarray) -> np.ndarray:
        classes = self.classes_
        try:
            idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
            bad = classes[idx] != y
        except TypeError as err:
            raise ValueError(f"y holds labels that cannot be compared with classes_ "
                             f"{classes!r} ({err}); use labels of one type") from None
        if np.any(bad):
            unknown = np.unique(np.asarray(y)[bad])[:5]
            raise ValueError(f"y has classes not in self.classes_: {unknown!r} (classes_ is "
                             f"{classes!r}); refit with all classes or pass them to the first "
                             f"partial_fit via classes=")
        return idx.astype(np.int64)

    def _n_outputs(self, t: Any) -> int:
        return len(self.classes_)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer.

        ``classes`` (all labels that will ever be seen) is required on the first call.
        """
        if classes is None and "network_" not in self.__dict__:
            raise ValueError("classes must be passed on the first call to partial_fit, e.g. "
                             "partial_fit(X, y, classes=np.unique(y_all))")
        return self._fit(X, y, incremental=True, classes=classes)

    def predict(self, X: Any) -> Any:
        """Predicted labels; NumPy for host input, the model's library for its own arrays
        (numeric labels only; string labels always come back as NumPy)."""
        scores, host_dtype = self._predict_scores(X)
        xp = self.network_.xp
        idx = xp.argmax(scores, axis=1)
        backend = self.network_.backend
        if host_dtype is None and self.classes_.dtype.kind in "biuf":
            classes = xp.asarray(self.classes_, device=backend.device)
            return xp.take(classes, idx, axis=0)
        return self.classes_[backend.to_numpy(idx)]

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (n_samples, n_classes), columns ordered as ``classes_``."""
        scores, host_dtype = self._predict_scores(X)
        return self._out(self.network_.last_layer.probabilities(scores), host_dtype)

    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of :meth:`predict_proba`."""
        p = self.predict_proba(X)
        return np.log(p) if isinstance(p, np.ndarray) else self.network_.xp.log(p)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` as a Python float (computed on the device for
        arrays of the model's library)."""
        check_is_fitted(self)
        backend = self.network_.backend
        if sample_weight is None and self._on_device(X, backend):
            pred = self.predict(X)
            xp = backend.xp
            if is_host(pred):  # labels that only NumPy holds (strings)
                return float(np.mean(pred == np.asarray(backend.to_numpy(y))))
            yd = backend.asarray(y, dtype=pred.dtype, name="y")
            return backend.to_float(xp.mean(xp.astype(pred == yd, backend.dtype)))
        return float(super().score(X, y, sample_weight=sample_weight))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (identity output, half mean squared error) on any
    backend.

    Same parameters and attributes as :class:`MLPClassifier` (without ``classes_``).
    ``y`` may be 1-D or 2-D (several outputs); ``predict`` returns 1-D for a single output.

    Example:
        >>> import warnings
        >>> import numpy as np
        >>> X = np.arange(10.0).reshape(10, 1)
        >>> y = 2 * X[:, 0] + 1
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # 3 epochs do not converge (ConvergenceWarning)
        ...     one = reg.fit(X, y).predict(X[:3])
        ...     two = reg.fit(X, np.stack([y, -y], axis=1)).predict(X[:3])
        >>> one.shape, two.shape, reg.n_outputs_, len(reg.loss_curve_)
        ((3,), (3, 2), 2, 3)
    """

    _loss = "mse"
    _monitor_name = "R^2"

    def _y_check_params(self) -> dict[str, Any]:
        return {"multi_output": True, "y_numeric": True}

    def _targets(self, y: Any, backend: Backend, first_pass: bool, incremental: bool,
                 classes: Any) -> Any:
        """Finite numeric targets on the device, (n_samples,) for a single output."""
        if not self._on_device(y, backend) and np.ndim(y) == 2 and np.shape(y)[1] == 1:
            y = column_or_1d(y, warn=True)
        t = check_targets(y, backend, "y")
        return backend.xp.reshape(t, (-1,)) if t.ndim == 2 and t.shape[1] == 1 else t

    def _n_outputs(self, t: Any) -> int:
        return 1 if t.ndim == 1 else int(t.shape[1])

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer."""
        return self._fit(X, y, incremental=True)

    def predict(self, X: Any) -> Any:
        """Predictions (n_samples,) for a single output, else (n_samples, n_outputs)."""
        z, host_dtype = self._predict_scores(X)
        if self.n_outputs_ == 1:
            z = self.network_.xp.reshape(z, (-1,))
        return self._out(z, host_dtype)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 (uniform average over outputs) as a Python float (computed on the device
        for arrays of the model's library)."""
        check_is_fitted(self)
        backend = self.network_.backend
        if sample_weight is None and self._on_device(X, backend):
            xp = backend.xp
            pred = self.predict(X)
            yd = backend.asarray(y, name="y")
            yd = xp.reshape(yd, pred.shape)
            ss_res = xp.sum((yd - pred) ** 2, axis=0)
            ss_tot = xp.sum((yd - xp.mean(yd, axis=0)) ** 2, axis=0)
            r2 = 1.0 - ss_res / xp.where(ss_tot > 0, ss_tot, 1.0)
            return backend.to_float(xp.mean(r2))
        return float(super().score(X, y, sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
