"""The "Do it! 딥러닝 입문" networks with the seeds' own API, on every backend.

SingleLayer (logistic regression), DualLayer (one sigmoid hidden layer, ones-initialized as in
seed 001), RandomInitNetwork (N(0, 1) initial weights) and MinibatchNetwork (mini-batches).
They keep the seeds' attribute and method names (``w1, b1, w2, b2``, ``losses``,
``val_losses``, ``forpass``, ``backprop``, ``training``, ``activation``, ``init_weights``,
``reg_loss``, ``update_val_loss``, ``gen_batch``, ``predict``, ``score``) so the seeds' code
and subclasses still run, and reuse xpnet's sigmoid, logistic loss, penalties and SGD.

Fixed seed bugs: the hidden bias gradient sums over the batch axis only, validation data is
optional, losses are computed stably from logits, and penalties enter loss and gradient alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..backends import get_backend
from ..backends.validation import (
    check_binary_targets,
    check_choice,
    check_features,
    check_lengths,
    check_positive,
    is_host,
)
from .init import init_scale
from .layers import sigmoid
from .losses import binary_cross_entropy_from_logits, penalty, penalty_grad
from .optimizers import SGD
from .state import Saveable
from .trainer import History, Trainer

__all__ = ["SingleLayer", "DualLayer", "RandomInitNetwork", "MinibatchNetwork"]


class SingleLayer(Saveable):
    """Logistic regression trained by full-batch gradient descent (the seeds' SingleLayer).

    Args:
        learning_rate: step size of gradient descent.
        l1, l2: penalty strengths; the penalty is divided by the sample count like the loss.
        backend, dtype, random_state: see :func:`xpnet.backend.get_backend`.
        on_divergence: "warn" (default) or "raise" (:class:`xpnet.DivergenceError`) when the
            loss or the weights become NaN/inf during ``fit``; either way the model keeps the
            last finite weights checked (every ``divergence_check_every`` epochs) and
            ``losses`` ends with the epochs that led to them.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [2, 3], [3, 2], [3, 3]])
        >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> model = SingleLayer(learning_rate=0.5).fit(x, y, epochs=20)
        >>> model.w.shape, model.predict(x).ravel().astype(int).tolist(), model.score(x, y)
        ((2, 1), [0, 0, 0, 0, 1, 1, 1, 1], 1.0)
        >>> len(model.losses), model.losses[-1] < model.losses[0]
        (20, True)
    """

    _weight_names: tuple[str, ...] = ("w",)
    _param_names: tuple[str, ...] = ("w", "b")
    #: epochs between the finiteness checks of ``fit`` (one host sync each, plus one at the end)
    divergence_check_every: int = 100
    #: for the Trainer: labels are classes; how divergence messages name fit and its rate
    is_classifier = True
    lr_name = "learning_rate"

    def __init__(self, learning_rate: float = 0.1, l1: float = 0, l2: float = 0, *,
                 backend: Any = "numpy", dtype: Any = "float32",
                 random_state: int | None = None, on_divergence: str = "warn") -> None:
        self.lr = check_positive("learning_rate", learning_rate)
        self.on_divergence = check_choice("on_divergence", on_divergence, ("warn", "raise"))
        self.l1 = check_positive("l1", l1, allow_zero=True)
        self.l2 = check_positive("l2", l2, allow_zero=True)
        self.backend = get_backend(backend, dtype, random_state)
        self.xp = self.backend.xp
        self._sgd = SGD(self.lr)
        #: every curve of every fit (``losses`` and ``val_losses`` are views of it)
        self.history = History()
        self.w = self.b = None
        self.n_features_in_: int | None = None
        self._logits = None
        self._reg: Any = None  # this epoch's penalty, shared by its train and val losses

    # ------------------------------------------------------------------ the seeds' methods
    def init_weights(self, n_features: int) -> None:
        """w = ones (as in the book's chapter 5), b = 0."""
        self.w = self._init((n_features, 1), "ones")
        self.b = self.backend.zeros((1,))

    def _init(self, shape: tuple[int, int], rule: str | float) -> Any:
        scale = init_scale(rule, *shape)
        return self.xp.asarray(self.backend.host_init(shape, scale), device=self.backend.device)

    def forpass(self, x: Any) -> Any:
        """Logits z = x w + b."""
        return x @ self.w + self.b

    def activation(self, z: Any) -> Any:
        """The sigmoid (:func:`~xpnet.nn.layers.sigmoid`)."""
        return sigmoid(self.xp, z)

    def backprop(self, x: Any, err: Any) -> tuple[Any, ...]:
        """Mean gradients of the logistic loss given err = a - y, in ``_param_names`` order."""
        err = err / x.shape[0]  # the mean's 1/m, once
        return x.T @ err, self.xp.sum(err, axis=0)

    def _weights(self) -> list[Any]:
        return [getattr(self, name) for name in self._weight_names]

    def reg_loss(self) -> Any:
        """l1 * sum|w| + l2/2 * sum w^2 over the weights (not divided by m)."""
        total = 0.0
        for w in self._weights():
            total = total + penalty(self.xp, w, self.l1, self.l2)
        return total

    def training(self, x: Any, y: Any, m: int) -> Any:
        """One gradient step on (x, y); returns the activations before the step."""
        z = self.forpass(x)
        self._logits = z
        a = self.activation(z)
        sgd, penalized = self._sgd, self.l1 or self.l2
        sgd.lr = self.lr
        for name, grad in zip(self._param_names, self.backprop(x, a - y), strict=True):
            value = getattr(self, name)
            if penalized and name in self._weight_names:  # the penalty's gradient, over m
                grad = grad + penalty_grad(self.xp, value, self.l1 / m, self.l2 / m)
            if isinstance(value, (int, float)):  # the seeds' ``self.b2 = 0``: an array to step
                value = self.backend.asarray(value) + self.xp.zeros_like(grad)
            sgd.step(name, value, grad)  # in place: the optimizer's rule for one array
            setattr(self, name, value)
        return a

    def _batch_loss_sum(self, y: Any, a: Any) -> Any:
        """Summed logistic loss of the last ``training`` call (from its logits)."""
        if self._logits is not None:
            return binary_cross_entropy_from_logits(self.xp, self._logits, y)
        xp, eps = self.xp, 1e-7  # a subclass's own training(): fall back to clipped probs
        a = xp.clip(a, eps, 1.0 - eps)
        return -xp.sum(y * xp.log(a) + (1.0 - y) * xp.log(1.0 - a))

    def fit(self, x: Any, y: Any, x_val: Any = None, y_val: Any = None,
            epochs: int = 100) -> SingleLayer:
        """Full-batch gradient descent for ``epochs``; appends to ``losses`` (and
        ``val_losses`` when validation data is given)."""
        epochs = check_positive("epochs", epochs, integer=True)
        xd, yd, xv, yv = self._prepare(x, y, x_val, y_val)
        self.init_weights(xd.shape[1])
        self._train(epochs, xd, yd, xv, yv)
        return self

    def _train(self, epochs: int, xd: Any, yd: Any, xv: Any, yv: Any) -> None:
        """Train through xpnet's one loop (:class:`~xpnet.Trainer`) with this model's own
        epoch (:meth:`train_epoch`).  The loss and a finiteness probe of the weights reach
        the host every ``divergence_check_every`` epochs (one sync each); on a NaN/inf the
        weights go back to the last finite check, ``losses``/``val_losses`` keep the epochs
        before it, and fit warns or raises (``on_divergence``)."""
        Trainer(self, xd, yd, epochs=epochs, optimizer=self._sgd, verbose=False,
                x_val=xv, t_val=yv, shuffle=False, on_divergence=self.on_divergence,
                evaluate=False, check_input=False, history=self.history,
                check_every=max(int(self.divergence_check_every), 1)).train()

    def train_epoch(self, x: Any, y: Any) -> Any:
        """One epoch (here: one full-batch step); its mean loss plus penalty, on the device."""
        self._logits = None
        a = self.training(x, y, x.shape[0])
        self._reg = self.reg_loss()
        return (self._batch_loss_sum(y, a) + self._reg) / x.shape[0]

    # ------------------------------------------------------------------ for the Trainer
    @property
    def fit_name(self) -> str:
        return f"{type(self).__name__}.fit"

    @property
    def losses(self) -> list[float]:
        """The training loss of every epoch of every fit (a view of ``history["loss"]``)."""
        return self.history.curve("loss")

    @losses.setter
    def losses(self, values: list[float]) -> None:
        self.history["loss"] = list(values)

    @property
    def val_losses(self) -> list[float]:
        """The validation loss of every epoch (a view of ``history["val_loss"]``)."""
        return self.history.curve("val_loss")

    @val_losses.setter
    def val_losses(self, values: list[float]) -> None:
        self.history["val_loss"] = list(values)

    def evaluate(self, x: Any, y: Any) -> tuple[Any, Any]:
        """(validation loss with this epoch's penalty, accuracy) as 0-d device arrays."""
        xp = self.xp
        z = self.forpass(x)  # once, for the loss and the accuracy
        hit = (z > 0.0) == (y > 0.5)  # y holds 0.0 and 1.0
        return self._val_loss(x, y, self._reg, z), xp.mean(xp.astype(hit, self.backend.dtype))

    def nonfinite_probe(self) -> Any:
        """0 while every learned array is finite, else NaN (a 0-d device array)."""
        xp = self.xp
        total = 0.0
        for name in self._param_names:
            total = total + 0.0 * xp.max(xp.abs(self.backend.asarray(getattr(self, name))))
        return total

    def get_state(self) -> dict[str, Any]:
        """Device copies of the learned arrays (to restore after a divergence); a subclass's
        Python scalar (the seeds' ``self.b2 = 0``) is kept as it is."""
        values = {name: getattr(self, name) for name in self._param_names}
        return {name: self.xp.asarray(v, copy=True) if self.backend.owns(v) else v
                for name, v in values.items()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`get_state` copy."""
        for name, value in state.items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ validation loss
    def _val_loss(self, x_val: Any, y_val: Any, reg: Any = None, z: Any = None) -> Any:
        z = self.forpass(x_val) if z is None else z
        reg = self.reg_loss() if reg is None else reg
        return (binary_cross_entropy_from_logits(self.xp, z, y_val) + reg) / x_val.shape[0]

    def update_val_loss(self, x_val: Any, y_val: Any) -> None:
        """Append the validation loss (no-op without validation data)."""
        if x_val is None or y_val is None:
            return
        xv = self._features(x_val, "x_val")
        yv = self._targets(y_val, xv.shape[0], "y_val")
        self.val_losses.append(self.backend.to_float(self._val_loss(xv, yv)))

    # ------------------------------------------------------------------ inputs
    def _features(self, x: Any, name: str) -> Any:
        if getattr(self, self._param_names[0]) is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(x, y) "
                               f"first")
        return check_features(x, self.backend, name, n_features=self.n_features_in_)

    def _targets(self, y: Any, n: int, name: str) -> Any:
        return check_binary_targets(y, self.backend, n, name, type(self).__name__)

    def _prepare(self, x: Any, y: Any, x_val: Any, y_val: Any) -> tuple[Any, Any, Any, Any]:
        """Validate everything before touching the model (a failed fit changes nothing)."""
        check_lengths(x, y, "x", "y")
        xd = check_features(x, self.backend, "x")
        yd = self._targets(y, xd.shape[0], "y")
        if (x_val is None) != (y_val is None):
            raise ValueError("pass both x_val and y_val, or neither")
        xv = yv = None
        if x_val is not None:
            check_lengths(x_val, y_val, "x_val", "y_val")
            xv = check_features(x_val, self.backend, "x_val", n_features=int(xd.shape[1]))
            yv = self._targets(y_val, xv.shape[0], "y_val")
        self.n_features_in_ = int(xd.shape[1])
        return xd, yd, xv, yv

    # ------------------------------------------------------------------ predictions
    def predict(self, x: Any) -> Any:
        """Boolean predictions of shape (n, 1), z > 0; NumPy in, NumPy out."""
        xd = self._features(x, "x")
        out = self.forpass(xd) > 0.0
        return self.backend.to_numpy(out) if is_host(x) else out

    def predict_proba(self, x: Any) -> Any:
        """Probability of class 1, shape (n, 1)."""
        xd = self._features(x, "x")
        out = self.activation(self.forpass(xd))
        return self.backend.to_numpy(out) if is_host(x) else out

    def score(self, x: Any, y: Any) -> float:
        """Accuracy as a Python float."""
        xd = self._features(x, "x")
        yd = self._targets(y, xd.shape[0], "y")
        xp = self.xp
        hit = xp.astype(self.forpass(xd) > 0.0, self.backend.dtype) == yd
        return self.backend.to_float(xp.mean(xp.astype(hit, self.backend.dtype)))

    def get_params_arrays(self) -> dict[str, Any]:
        """The learned arrays by the seeds' names."""
        return {name: getattr(self, name) for name in self._param_names}

    # ------------------------------------------------------------------ description
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (the seeds' names), for saving and copying."""
        config = {"learning_rate": self.lr, "l1": self.l1, "l2": self.l2,
                  "on_divergence": self.on_divergence, "dtype": self.backend.dtype_name}
        for name in ("units", "batch_size"):
            if hasattr(self, name):
                config[name] = getattr(self, name)
        return config

    def state_values(self) -> dict[str, Any]:
        return {"n_features_in_": self.n_features_in_, "history": self.history.to_config()}

    def _shapes(self, n_features: int) -> dict[str, tuple[int, ...]]:
        """The learned arrays' shapes for ``n_features`` inputs (as ``init_weights`` makes)."""
        if self._param_names == ("w", "b"):
            return {"w": (n_features, 1), "b": (1,)}
        return {"w1": (n_features, self.units), "b1": (self.units,), "w2": (self.units, 1),
                "b2": (1,)}

    def state_arrays(self) -> dict[str, Any]:
        """The learned arrays in the model's dtype and the base class's shapes (a seed
        subclass's ``self.b2 = 0`` or float64 host weights included); empty before fit."""
        if self.n_features_in_ is None or getattr(self, self._param_names[0]) is None:
            return {}
        xp, out = self.xp, {}
        for name, shape in self._shapes(self.n_features_in_).items():
            value = self.backend.asarray(getattr(self, name))
            if math.prod(value.shape) != math.prod(shape):
                raise ValueError(f"{type(self).__name__}.{name} has shape {tuple(value.shape)} "
                                 f"but {shape} is expected for {self.n_features_in_} features")
            out[name] = xp.reshape(value, shape)
        return out

    def load_state(self, values: dict[str, Any], children: dict[str, Saveable]) -> None:
        n = values.get("n_features_in_")
        if children or (n is not None and (not isinstance(n, int) or isinstance(n, bool)
                                           or n < 1)):
            raise ValueError(f"n_features_in_={n!r} must be a positive integer or null, and "
                             f"a seed model holds no other models")
        self.history = History.from_config(values.get("history"))
        self.n_features_in_ = n
        if n is not None:
            self.init_weights(n)

    def load_state_arrays(self, arrays: dict[str, Any]) -> None:
        for name, value in arrays.items():
            setattr(self, name, self.backend.asarray(value, name=name))


class DualLayer(SingleLayer):
    """One sigmoid hidden layer of ``units`` and a sigmoid output (seed 001's DualLayer).

    ``init_weights`` uses ones, as the seed does: it converges slowly (the seed's lesson);
    :class:`RandomInitNetwork` shows the difference random weights make.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [2, 3], [3, 2], [3, 3]])
        >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> model = DualLayer(units=4, learning_rate=0.5).fit(x, y, epochs=20)
        >>> model.w1.shape, model.w2.shape, model.predict(x).shape
        ((2, 4), (4, 1), (8, 1))
        >>> model.losses[-1] < model.losses[0]
        True
    """

    _weight_names = ("w1", "w2")
    _param_names = ("w1", "b1", "w2", "b2")

    def __init__(self, units: int = 10, learning_rate: float = 0.1, l1: float = 0,
                 l2: float = 0, *, backend: Any = "numpy", dtype: Any = "float32",
                 random_state: int | None = None, on_divergence: str = "warn") -> None:
        super().__init__(learning_rate, l1, l2, backend=backend, dtype=dtype,
                         random_state=random_state, on_divergence=on_divergence)
        self.units = check_positive("units", units, integer=True)
        self.w1 = self.b1 = self.w2 = self.b2 = self.a1 = None

    def init_weights(self, n_features: int) -> None:
        """w1, w2 = ones; b1, b2 = zeros (seed 001)."""
        self.w1 = self._init((n_features, self.units), "ones")
        self.b1 = self.backend.zeros((self.units,))
        self.w2 = self._init((self.units, 1), "ones")
        self.b2 = self.backend.zeros((1,))

    def forpass(self, x: Any) -> Any:
        z1 = x @ self.w1 + self.b1
        self.a1 = self.activation(z1)
        return self.a1 @ self.w2 + self.b2

    def backprop(self, x: Any, err: Any) -> tuple[Any, ...]:
        xp = self.xp
        err = err / x.shape[0]  # the mean's 1/m, once: every gradient below is linear in err
        w2_grad = self.a1.T @ err
        b2_grad = xp.sum(err, axis=0)
        # err (m, 1) times w2^T (1, units): an outer product, i.e. err @ w2.T, as a broadcast
        # (one multiply per element either way: the same numbers, without a BLAS call)
        err_to_hidden = (err * self.w2.T) * self.a1 * (1.0 - self.a1)
        w1_grad = x.T @ err_to_hidden
        b1_grad = xp.sum(err_to_hidden, axis=0)  # axis=0: one gradient per hidden unit
        return w1_grad, b1_grad, w2_grad, b2_grad


class RandomInitNetwork(DualLayer):
    """DualLayer with N(0, 1) initial weights drawn from ``random_state`` (seed 001).

    Example:
        >>> import numpy as np
        >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [2, 3], [3, 2], [3, 3]])
        >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> model = RandomInitNetwork(units=4, learning_rate=0.5, random_state=0)
        >>> model.fit(x, y, epochs=5).predict_proba(x).shape
        (8, 1)
        >>> len(model.losses), model.losses[-1] < model.losses[0]
        (5, True)
    """

    def init_weights(self, n_features: int) -> None:
        self.w1 = self._init((n_features, self.units), "normal")
        self.b1 = self.backend.zeros((self.units,))
        self.w2 = self._init((self.units, 1), "normal")
        self.b2 = self.backend.zeros((1,))


class MinibatchNetwork(RandomInitNetwork):
    """RandomInitNetwork trained with mini-batches of ``batch_size`` (seeds 000 and 004).

    Example:
        >>> import numpy as np
        >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [2, 3], [3, 2], [3, 3]])
        >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> model = MinibatchNetwork(units=4, batch_size=4, learning_rate=0.5, random_state=0)
        >>> model.fit(x, y, epochs=5, x_val=x, y_val=y).predict(x).shape
        (8, 1)
        >>> len(model.losses), len(model.val_losses)
        (5, 5)
    """

    def __init__(self, units: int = 10, batch_size: int = 32, learning_rate: float = 0.1,
                 l1: float = 0, l2: float = 0, *, backend: Any = "numpy",
                 dtype: Any = "float32", random_state: int | None = None,
                 on_divergence: str = "warn") -> None:
        super().__init__(units, learning_rate, l1, l2, backend=backend, dtype=dtype,
                         random_state=random_state, on_divergence=on_divergence)
        self.batch_size = check_positive("batch_size", batch_size, integer=True)

    def gen_batch(self, x: Any, y: Any) -> Iterator[tuple[Any, Any]]:
        """Yield (x_batch, y_batch) covering every sample once, in a new device-side order."""
        xp, n, bs = self.xp, x.shape[0], self.batch_size
        order = self.backend.permutation(n)
        for start in range(0, n, bs):
            idx = order[start:min(start + bs, n)]
            yield xp.take(x, idx, axis=0), xp.take(y, idx, axis=0)

    def fit(self, x: Any, y: Any, epochs: int = 100, x_val: Any = None,
            y_val: Any = None) -> MinibatchNetwork:
        """Mini-batch gradient descent; note the seeds' argument order (epochs third)."""
        epochs = check_positive("epochs", epochs, integer=True)
        xd, yd, xv, yv = self._prepare(x, y, x_val, y_val)
        self.init_weights(xd.shape[1])
        self._train(epochs, xd, yd, xv, yv)
        return self

    def train_epoch(self, x: Any, y: Any) -> Any:
        """One pass over the mini-batches of :meth:`gen_batch`; the mean loss plus penalty."""
        loss = 0.0
        for x_batch, y_batch in self.gen_batch(x, y):
            self._logits = None
            a = self.training(x_batch, y_batch, x_batch.shape[0])
            loss = loss + self._batch_loss_sum(y_batch, a)
        self._reg = self.reg_loss()
        return (loss + self._reg) / x.shape[0]
