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

from collections.abc import Iterator
from typing import Any

from .backend import get_backend
from .init import init_scale
from .layers import sigmoid
from .losses import binary_cross_entropy_from_logits, penalty, penalty_grad
from .optimizers import SGD
from .validation import check_features, check_lengths, check_positive, check_targets, is_host

__all__ = ["SingleLayer", "DualLayer", "RandomInitNetwork", "MinibatchNetwork"]


class SingleLayer:
    """Logistic regression trained by full-batch gradient descent (the seeds' SingleLayer).

    Args:
        learning_rate: step size of gradient descent.
        l1, l2: penalty strengths; the penalty is divided by the sample count like the loss.
        backend, dtype, random_state: see :func:`xpnet.backend.get_backend`.
    """

    _weight_names: tuple[str, ...] = ("w",)
    _param_names: tuple[str, ...] = ("w", "b")

    def __init__(self, learning_rate: float = 0.1, l1: float = 0, l2: float = 0, *,
                 backend: Any = "numpy", dtype: Any = "float32",
                 random_state: int | None = None) -> None:
        self.lr = check_positive("learning_rate", learning_rate)
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
        params = {name: getattr(self, name) for name in self._param_names}
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
        pending, pending_val = [], []
        for _ in range(epochs):
            self._logits = None
            a = self.training(xd, yd, m)
            pending.append((self._batch_loss_sum(yd, a) + self.reg_loss()) / m)
            if xv is not None:
                pending_val.append(self._val_loss(xv, yv))
        self._flush(pending, pending_val)
        return self

    # ------------------------------------------------------------------ validation loss
    def _val_loss(self, x_val: Any, y_val: Any) -> Any:
        z = self.forpass(x_val)
        return (binary_cross_entropy_from_logits(self.xp, z, y_val) + self.reg_loss()) \
            / x_val.shape[0]

    def update_val_loss(self, x_val: Any, y_val: Any) -> None:
        """Append the validation loss (no-op without validation data)."""
        if x_val is None or y_val is None:
            return
        xv = self._features(x_val, "x_val")
        yv = self._targets(y_val, xv.shape[0], "y_val")
        self.val_losses.append(self.backend.to_float(self._val_loss(xv, yv)))

    def _flush(self, pending: list[Any], pending_val: list[Any]) -> None:
        """Turn the device-side per-epoch losses into Python floats, with one sync each."""
        xp, b = self.xp, self.backend
        for values, out in ((pending, self.losses), (pending_val, self.val_losses)):
            if values:
                out.extend(float(v) for v in b.to_numpy(xp.stack(
                    [xp.reshape(xp.asarray(v), ()) for v in values])))

    # ------------------------------------------------------------------ inputs
    def _features(self, x: Any, name: str) -> Any:
        if getattr(self, self._param_names[0]) is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(x, y) "
                               f"first")
        return check_features(x, self.backend, name, n_features=self.n_features_in_)

    def _targets(self, y: Any, n: int, name: str) -> Any:
        yd = check_targets(y, self.backend, name)
        if yd.ndim > 2 or (yd.ndim == 2 and yd.shape[1] != 1) or yd.shape[0] != n:
            raise ValueError(f"{name} must hold one 0/1 target per sample ({n}), got shape "
                             f"{tuple(yd.shape)}")
        return self.xp.reshape(yd, (n, 1))

    def _prepare(self, x: Any, y: Any, x_val: Any, y_val: Any) -> tuple[Any, Any, Any, Any]:
        self.n_features_in_ = None
        check_lengths(x, y, "x", "y")
        xd = check_features(x, self.backend, "x")
        self.n_features_in_ = int(xd.shape[1])
        yd = self._targets(y, xd.shape[0], "y")
        if (x_val is None) != (y_val is None):
            raise ValueError("pass both x_val and y_val, or neither")
        xv = yv = None
        if x_val is not None:
            check_lengths(x_val, y_val, "x_val", "y_val")
            xv = check_features(x_val, self.backend, "x_val", n_features=self.n_features_in_)
            yv = self._targets(y_val, xv.shape[0], "y_val")
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
                 random_state: int | None = None) -> None:
        super().__init__(learning_rate, l1, l2, backend=backend, dtype=dtype,
                         random_state=random_state)
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
                 dtype: Any = "float32", random_state: int | None = None) -> None:
        super().__init__(units, learning_rate, l1, l2, backend=backend, dtype=dtype,
                         random_state=random_state)
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
        pending, pending_val = [], []
        for _ in range(epochs):
            loss = 0.0
            for x_batch, y_batch in self.gen_batch(xd, yd):
                self._logits = None
                a = self.training(x_batch, y_batch, x_batch.shape[0])
                loss = loss + self._batch_loss_sum(y_batch, a)
            pending.append((loss + self.reg_loss()) / n)
            if xv is not None:
                pending_val.append(self._val_loss(xv, yv))
        self._flush(pending, pending_val)
        return self
