"""Layers: short forward/backward pairs, written once against the Array API namespace ``xp``.

Every layer has ``forward(x, train=False) -> y`` and ``backward(dout) -> dx``. Layers with
parameters read them from a ``params`` mapping by key at each call (they never keep their own
copy, so an optimizer may update the arrays in place or replace them) and leave their gradients
in ``self.grads`` under the same keys.  A network hands them ``grad_buffers`` (views into its one
flat gradient buffer) and its backend's ``ops``; the gradients are then written straight into
those views, so the optimizer's flat step needs no concatenation.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ..backends import Backend, backend_of, namespace_of

__all__ = ["Layer", "Dense", "Affine", "ReLU", "Relu", "Sigmoid", "Tanh", "Identity",
           "BatchNormalization", "BatchNorm", "Dropout", "ACTIVATIONS", "sigmoid"]


def sigmoid(xp: Any, z: Any) -> Any:
    """Logistic function 1 / (1 + exp(-z)); z is floored at -80 so exp never overflows
    (float32 included), which changes nothing above ~1e-35."""
    return 1.0 / (1.0 + xp.exp(-xp.maximum(z, -80.0)))


class Layer:
    """Base class: ``forward(x, train=False) -> y`` and ``backward(dout) -> dx``.

    A layer with parameters reads them by key from a ``params`` mapping and leaves their
    gradients in ``self.grads`` under the same keys; a layer without parameters keeps
    ``grads`` empty.  A new layer is a subclass with these two methods (see docs/extending.md).

    Example:
        >>> import numpy as np
        >>> relu = ReLU()
        >>> relu.forward(np.array([-1.0, 2.0]))
        array([0., 2.])
    """

    def __init__(self) -> None:
        self.grads: dict[str, Any] = {}

    def forward(self, x: Any, train: bool = False) -> Any:
        """The layer's output for ``x``; ``train`` selects training behaviour (dropout,
        batch statistics)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x, train)")

    def backward(self, dout: Any) -> Any:
        """The gradient with respect to the last ``forward``'s input, given ``dout``, the
        gradient with respect to its output; parameter gradients go to ``self.grads``."""
        raise NotImplementedError(f"{type(self).__name__} must define backward(dout)")


def _grad_setup(layer: Any, like: Any, grad_buffers: MutableMapping[str, Any] | None,
                ops: Backend | None) -> None:
    """Gradient outputs: preallocated views (from a network) or, standalone, new arrays
    (through the kernels of ``like``'s backend)."""
    layer.grad_buffers = grad_buffers if grad_buffers is not None else {}
    layer.ops = ops if ops is not None else backend_of(like)


class Dense(Layer):
    """y = x W + b.  Backward: dW = x^T dout, db = sum_rows(dout), dx = dout W^T.

    ``input_grad=False`` skips dx for the first layer (nobody needs the input's gradient).
    """

    def __init__(self, params: MutableMapping[str, Any], w_key: str = "W", b_key: str = "b",
                 input_grad: bool = True, xp: Any = None, *,
                 grad_buffers: MutableMapping[str, Any] | None = None,
                 ops: Backend | None = None) -> None:
        super().__init__()
        self.params, self.w_key, self.b_key = params, w_key, b_key
        self.input_grad = input_grad
        self.xp = xp or namespace_of(params[w_key])
        _grad_setup(self, params[w_key], grad_buffers, ops)
        self.x = None

    def forward(self, x: Any, train: bool = False) -> Any:
        self.x = x
        z = x @ self.params[self.w_key]
        z += self.params[self.b_key]  # in place on the fresh product: one array, not two
        return z

    def backward(self, dout: Any) -> Any:
        ops, buf = self.ops, self.grad_buffers
        self.grads[self.w_key] = ops.matmul(self.x.T, dout, out=buf.get(self.w_key))
        self.grads[self.b_key] = ops.sum_rows(dout, out=buf.get(self.b_key))
        return dout @ self.params[self.w_key].T if self.input_grad else None

    @property
    def dW(self) -> Any:  # the book's names
        return self.grads[self.w_key]

    @property
    def db(self) -> Any:
        return self.grads[self.b_key]


Affine = Dense


class ReLU(Layer):
    """y = max(x, 0).  Backward: dout where x > 0, else 0."""

    def __init__(self, xp: Any = None) -> None:
        super().__init__()
        self.xp, self.out = xp, None

    def forward(self, x: Any, train: bool = False) -> Any:
        xp = self.xp or namespace_of(x)
        self.xp = xp
        self.out = xp.maximum(x, 0.0)
        return self.out

    def backward(self, dout: Any) -> Any:
        return self.xp.where(self.out > 0.0, dout, 0.0)


Relu = ReLU


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)).  Backward: dout * y * (1 - y)."""

    def __init__(self, xp: Any = None) -> None:
        super().__init__()
        self.xp, self.out = xp, None

    def forward(self, x: Any, train: bool = False) -> Any:
        self.xp = self.xp or namespace_of(x)
        self.out = sigmoid(self.xp, x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * self.out * (1.0 - self.out)


class Tanh(Layer):
    """y = tanh(x).  Backward: dout * (1 - y^2)."""

    def __init__(self, xp: Any = None) -> None:
        super().__init__()
        self.xp, self.out = xp, None

    def forward(self, x: Any, train: bool = False) -> Any:
        self.xp = self.xp or namespace_of(x)
        self.out = self.xp.tanh(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * (1.0 - self.out * self.out)


class Identity(Layer):
    """y = x (the "identity" activation of scikit-learn)."""

    def __init__(self, xp: Any = None) -> None:
        super().__init__()

    def forward(self, x: Any, train: bool = False) -> Any:
        return x

    def backward(self, dout: Any) -> Any:
        return dout


#: activation names -> layer classes
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "logistic": Sigmoid, "tanh": Tanh,
               "identity": Identity, "linear": Identity}


class BatchNormalization(Layer):
    """Per-feature batch normalization (Ioffe & Szegedy 2015).

    Training: xhat = (x - mean_B) / sqrt(var_B + eps), y = gamma * xhat + beta, and the running
    statistics move toward the batch mean and (biased) batch VARIANCE.
    Eval: the running statistics replace the batch ones.
    Backward (closed form): dx = (N dxhat - sum(dxhat) - xhat sum(dxhat xhat)) / (N std).

    ``running`` says how the running statistics start:

    - "average" (default): the plain average of the batch statistics seen so far, until that
      weighs the newest batch less than the moving average would (1/k < 1 - momentum), then
      the moving average with ``momentum``.  Right from the first step at any weight scale:
      a batch variance of 1e-6 is the running variance at once.
    - "pytorch": PyTorch's buffers: mean 0 and variance 1 at first, then the moving average
      from the first step, so early eval-mode outputs lean on the initial 1 for about
      1 / (1 - momentum) steps.

    ``num_batches_tracked`` counts the training batches seen (PyTorch's name).
    """

    #: the ways the running statistics can start
    RUNNING = ("average", "pytorch")

    def __init__(self, params: MutableMapping[str, Any], gamma_key: str = "gamma",
                 beta_key: str = "beta", momentum: float = 0.9, eps: float = 1e-5,
                 xp: Any = None, *, grad_buffers: MutableMapping[str, Any] | None = None,
                 ops: Backend | None = None, running: str = "average") -> None:
        super().__init__()
        self.params, self.gamma_key, self.beta_key = params, gamma_key, beta_key
        self.momentum, self.eps = momentum, eps
        if running not in self.RUNNING:
            raise ValueError(f"running={running!r} must be one of {self.RUNNING}")
        self.running = running
        gamma = params[gamma_key]
        self.xp = xp = xp or namespace_of(gamma)
        _grad_setup(self, gamma, grad_buffers, ops)
        self.running_mean = xp.zeros_like(gamma)
        self.running_var = xp.ones_like(gamma)
        self.num_batches_tracked = 0
        self.xhat = self.std = None

    def forward(self, x: Any, train: bool = False) -> Any:
        xp = self.xp
        gamma, beta = self.params[self.gamma_key], self.params[self.beta_key]
        if not train:
            return (x - self.running_mean) / xp.sqrt(self.running_var + self.eps) * gamma + beta
        mean = xp.mean(x, axis=0)
        xc = x - mean
        var = xp.mean(xc * xc, axis=0)
        self.std = xp.sqrt(var + self.eps)
        self.xhat = xc / self.std
        self.num_batches_tracked += 1
        w = 1.0 - self.momentum  # the newest batch's weight in the running statistics
        if self.running == "average":
            w = max(w, 1.0 / self.num_batches_tracked)
        self.running_mean = (1.0 - w) * self.running_mean + w * mean
        self.running_var = (1.0 - w) * self.running_var + w * var
        return gamma * self.xhat + beta

    def backward(self, dout: Any) -> Any:
        xp, xhat = self.xp, self.xhat
        n, ops, buf = dout.shape[0], self.ops, self.grad_buffers
        self.grads[self.beta_key] = ops.sum_rows(dout, out=buf.get(self.beta_key))
        self.grads[self.gamma_key] = ops.sum_rows(dout * xhat, out=buf.get(self.gamma_key))
        dxhat = dout * self.params[self.gamma_key]
        return (n * dxhat - xp.sum(dxhat, axis=0)
                - xhat * xp.sum(dxhat * xhat, axis=0)) / (n * self.std)

    @property
    def dgamma(self) -> Any:  # the book's names
        return self.grads[self.gamma_key]

    @property
    def dbeta(self) -> Any:
        return self.grads[self.beta_key]


BatchNorm = BatchNormalization


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``ratio`` and scale the
    survivors by 1 / (1 - ratio); in eval, the identity.  Masks are drawn on the device.

    ``freeze_mask = True`` reuses the last mask (for numerical gradient checks).
    """

    def __init__(self, backend: Any, ratio: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"dropout_ratio={ratio!r} must be in [0, 1); e.g. 0.5")
        self.backend, self.ratio = backend, float(ratio)
        self.mask = None
        self.freeze_mask = False

    def forward(self, x: Any, train: bool = False) -> Any:
        if not train or self.ratio == 0.0:
            self.mask = None
            return x
        if not (self.freeze_mask and self.mask is not None and self.mask.shape == x.shape):
            self.mask = self.backend.dropout_mask(tuple(x.shape), 1.0 - self.ratio)
        return x * self.mask

    def backward(self, dout: Any) -> Any:
        return dout if self.mask is None else dout * self.mask
