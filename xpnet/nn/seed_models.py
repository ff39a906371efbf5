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
from collections.abc import Callable, Iterator
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
from .trainer import report_divergence

__all__ = ["SingleLayer", "DualLayer", "RandomInitNetwork", "MinibatchNetwork"]


class SingleLayer:
    """Logistic regression trained by full-batch gradient descent (the seeds' SingleLayer).

    Args:
        learning_rate: step size of gradient descent.
        l1, l2: penalty strengths; the penalty is divided by the sample count like the loss.
        backend, dtype, random_state: see :func:`xpnet.backend.get_backend`.
        on_divergence: "warn" (default) or "raise" (:class:`xpnet.DivergenceError`) when the
            loss or the weights become NaN/inf during ``fit``; either way the model keeps the
            last finite weights checked (every ``divergence_check_every`` epochs) and
            ``losses`` ends with the epochs that led to them.
    """

    _weight_names: tuple[str, ...] = ("w",)
    _param_names: tuple[str, ...] = ("w", "b")
    #: epochs between the finiteness checks of ``fit`` (one host sync each, plus one at the end)
    divergence_check_every: int = 100

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
        self.losses: list[float] = []
        self.val_losses: list[float] = []
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
        """The sigmoid."""
        return sigmoid(self.xp, z)

    def backprop(self, x: Any, err: Any) -> tuple[Any, ...]:
        """Mean gradients of the logistic loss given err = a - y, in ``_param_names`` order."""
        m = x.shape[0]
        return x.T @ err / m, self.xp.sum(err, axis=0) / m

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
        grads = dict(zip(self._param_names, self.backprop(x, a - y), strict=True))
        if self.l1 or self.l2:
            for name in self._weight_names:
                grads[name] = grads[name] + penalty_grad(self.xp, getattr(self, name),
                                                         self.l1, self.l2) / m
        params = {}
        for name in self._param_names:
            value = getattr(self, name)
            if isinstance(value, (int, float)):  # the seeds' ``self.b2 = 0``: an array to step
                value = self.backend.asarray(value) + self.xp.zeros_like(grads[name])
            params[name] = value
        self._sgd.lr = self.lr
        self._sgd.update(params, grads)
        for name, value in params.items():
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
        m = xd.shape[0]
        self.init_weights(xd.shape[1])

        def run_epoch() -> Any:
            self._logits = None
            a = self.training(xd, yd, m)
            self._reg = self.reg_loss()
            return (self._batch_loss_sum(yd, a) + self._reg) / m

        self._train_epochs(epochs, run_epoch, xv, yv)
        return self

    def _train_epochs(self, epochs: int, run_epoch: Callable[[], Any], xv: Any, yv: Any
                      ) -> None:
        """Call ``run_epoch`` (one epoch; its loss as a device scalar) ``epochs`` times.

        Every ``divergence_check_every`` epochs, and at the end, the pending losses become
        Python floats together with a finiteness flag of the weights (one host sync).  On a
        NaN/inf the weights go back to the last finite snapshot, ``losses``/``val_losses`` keep
        the epochs before it, and fit warns or raises (``on_divergence``).
        """
        xp, dtype = self.xp, self.backend.dtype
        every = max(int(self.divergence_check_every), 1)
        good, good_epoch = self._snapshot(), 0
        pending, pending_val = [], []
        for epoch in range(1, epochs + 1):
            self._reg = None
            pending.append(run_epoch())
            if xv is not None:
                pending_val.append(self._val_loss(xv, yv, self._reg))
            if epoch % every and epoch < epochs:
                continue
            flags = [xp.astype(xp.all(xp.isfinite(self.backend.asarray(getattr(self, name)))),
                               dtype) for name in self._param_names]
            values = self._floats(pending + pending_val + flags)
            k, kv = len(pending), len(pending_val)
            losses, weights_ok = values[:k], all(values[k + kv:])
            bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
            if bad is None and weights_ok:
                self.losses.extend(losses)
                self.val_losses.extend(values[k:k + kv])
                pending, pending_val = [], []
                if epoch < epochs:
                    good, good_epoch = self._snapshot(), epoch
                continue
            for name, value in good.items():
                setattr(self, name, value)
            what = (f"the loss became {losses[bad]}" if bad is not None
                    else "the weights became NaN/inf")
            self._diverged(good_epoch + (k if bad is None else bad + 1), what, good_epoch)
            return

    def _snapshot(self) -> dict[str, Any]:
        """Device copies of the learned arrays (to restore after a divergence); a subclass's
        Python scalar (the seeds' ``self.b2 = 0``) is kept as it is."""
        values = {name: getattr(self, name) for name in self._param_names}
        return {name: self.xp.asarray(v, copy=True) if self.backend.owns(v) else v
                for name, v in values.items()}

    def _diverged(self, epoch: int, what: str, kept: int) -> None:
        kept_text = "its initial weights" if kept == 0 else f"the weights after epoch {kept}"
        report_divergence(f"{type(self).__name__}.fit diverged at epoch {epoch}: {what}; the "
                          f"model keeps {kept_text} (the last finite ones checked).",
                          f"learning_rate={self.lr:g}", self.on_divergence, stacklevel=5)

    # ------------------------------------------------------------------ validation loss
    def _val_loss(self, x_val: Any, y_val: Any, reg: Any = None) -> Any:
        z = self.forpass(x_val)
        reg = self.reg_loss() if reg is None else reg
        return (binary_cross_entropy_from_logits(self.xp, z, y_val) + reg) / x_val.shape[0]

    def update_val_loss(self, x_val: Any, y_val: Any) -> None:
        """Append the validation loss (no-op without validation data)."""
        if x_val is None or y_val is None:
            return
        xv = self._features(x_val, "x_val")
        yv = self._targets(y_val, xv.shape[0], "y_val")
        self.val_losses.append(self.backend.to_float(self._val_loss(xv, yv)))

    def _floats(self, values: list[Any]) -> list[float]:
        """Device scalars as Python floats, with one host sync for all of them."""
        xp = self.xp
        if all(getattr(v, "dtype", None) == self.backend.dtype for v in values):
            stacked = xp.stack(values)  # the usual case: 0-d arrays of the model's dtype
        else:  # Python floats or a seed subclass's float64 arrays among them
            stacked = xp.stack([xp.reshape(xp.asarray(v, dtype=self.backend.dtype), ())
                                for v in values])
        return [float(v) for v in self.backend.to_numpy(stacked)]

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
        """The learned arrays by the seeds' names (for saving)."""
        return {name: getattr(self, name) for name in self._param_names}


class DualLayer(SingleLayer):
    """One sigmoid hidden layer of ``units`` and a sigmoid output (seed 001's DualLayer).

    ``init_weights`` uses ones, as the seed does: it converges slowly (the seed's lesson);
    :class:`RandomInitNetwork` shows the difference random weights make.
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
        m = x.shape[0]
        xp = self.xp
        w2_grad = self.a1.T @ err / m
        b2_grad = xp.sum(err, axis=0) / m
        err_to_hidden = (err @ self.w2.T) * self.a1 * (1.0 - self.a1)
        w1_grad = x.T @ err_to_hidden / m
        b1_grad = xp.sum(err_to_hidden, axis=0) / m  # axis=0: one gradient per hidden unit
        return w1_grad, b1_grad, w2_grad, b2_grad


class RandomInitNetwork(DualLayer):
    """DualLayer with N(0, 1) initial weights drawn from ``random_state`` (seed 001)."""

    def init_weights(self, n_features: int) -> None:
        self.w1 = self._init((n_features, self.units), "normal")
        self.b1 = self.backend.zeros((self.units,))
        self.w2 = self._init((self.units, 1), "normal")
        self.b2 = self.backend.zeros((1,))


class MinibatchNetwork(RandomInitNetwork):
    """RandomInitNetwork trained with mini-batches of ``batch_size`` (seeds 000 and 004)."""

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
        n = xd.shape[0]
        self.init_weights(xd.shape[1])

        def run_epoch() -> Any:
            loss = 0.0
            for x_batch, y_batch in self.gen_batch(xd, yd):
                self._logits = None
                a = self.training(x_batch, y_batch, x_batch.shape[0])
                loss = loss + self._batch_loss_sum(y_batch, a)
            self._reg = self.reg_loss()
            return (loss + self._reg) / n

        self._train_epochs(epochs, run_epoch, xv, yv)
        return self
