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
from ..backends.base import _into

__all__ = ["Layer", "Activation", "Dense", "Affine", "ReLU", "Relu", "Sigmoid", "Tanh", "Identity",
           "BatchNormalization", "BatchNorm", "Dropout", "ACTIVATIONS", "sigmoid"]


def sigmoid(xp: Any, z: Any) -> Any:
    """Logistic function 1 / (1 + exp(-z)); z is floored at -80 so exp never overflows
    (float32 included), which changes nothing above ~1e-35.

    Example:
        >>> import numpy as np
        >>> sigmoid(np, np.array([0.0, -1000.0])).tolist()
        [0.5, 1.8048513878454153e-35]
    """
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

    # ---------------------------------------------------------------- in a Network's layer list
    #: the layer's name in a network's ``layers``, numbered there ("Affine1", "Conv1");
    #: empty: the class's name
    label = ""
    #: ``forward`` returns a new array that the layer does not keep, so the next layer of a
    #: network may overwrite it (an activation then works in place)
    fresh_output = False

    @classmethod
    def declare(cls, in_shape: tuple[int, ...], **args: Any
                ) -> tuple[tuple[int, ...], dict[str, tuple[tuple[int, ...], Any]]]:
        """(shape of one output sample, parameters) of this layer in a network, given the shape
        of one input sample and the layer's arguments.  Parameters are named by role ("W",
        "b", "gamma", ...) in buffer order -> (shape, initial value): "zeros", "ones", or
        ``(fan_in, fan_out)``, drawn by the network's weight rule.  Here: no parameters, no
        arguments, the input's shape.

        Example:
            >>> Dense.declare((784,), units=100)[1]["W"]
            ((784, 100), (784, 100))
        """
        if args:
            raise TypeError(f"{cls.__name__} takes no arguments in a network, got {args}")
        return tuple(in_shape), {}

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, **args: Any) -> Layer:
        """This layer inside ``net`` (its ``params``, ``xp``, ``backend`` and ``wiring``: the
        gradient views and kernels); ``keys`` maps the roles :meth:`declare` named to the
        network's parameter names; ``first``: nothing before it needs the input's gradient."""
        return cls(net.xp)


def _grad_setup(layer: Any, like: Any, grad_buffers: MutableMapping[str, Any] | None,
                ops: Backend | None) -> None:
    """Gradient outputs: preallocated views (from a network) or, standalone, new arrays
    (through the kernels of ``like``'s backend)."""
    layer.grad_buffers = grad_buffers if grad_buffers is not None else {}
    layer.ops = ops if ops is not None else backend_of(like)


class Dense(Layer):
    """y = x W + b.  Backward: dW = x^T dout, db = sum_rows(dout), dx = dout W^T.

    ``input_grad=False`` skips dx for the first layer (nobody needs the input's gradient).

    Example:
        >>> import numpy as np
        >>> params = {"W": np.ones((3, 2)), "b": np.array([0.0, 1.0])}
        >>> layer = Dense(params)
        >>> layer.forward(np.ones((4, 3))).tolist()[0]
        [3.0, 4.0]
        >>> dx = layer.backward(np.ones((4, 2)))
        >>> dx.shape, layer.dW.tolist()[0], layer.db.tolist()
        ((4, 3), [4.0, 4.0], [4.0, 4.0])
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
        # one kernel where the backend has it (torch.addmm), else the bias goes in place
        # onto the fresh product: one array, not two
        return self.ops.affine(x, self.params[self.w_key], self.params[self.b_key])

    def forward_relu(self, x: Any) -> Any:
        """max(x W + b, 0): this layer's forward and a ReLU's after it in one step, as a
        network runs them (one pass over the product for the bias and the ReLU, on NumPy:
        ~15 us less per 128 x 256 training batch); :meth:`forward` itself gives x W + b."""
        self.x = x
        return self.ops.affine_relu(x, self.params[self.w_key], self.params[self.b_key])

    def forward_checked(self, x: Any, relu: bool) -> tuple[Any, bool]:
        """(x W + b, with a ReLU after it when ``relu``; True when x W + b is all finite):
        :meth:`forward_relu` or :meth:`forward` for features not yet checked for NaN/inf
        (``Network.forward_unchecked``)."""
        self.x = x
        return self.ops.affine_checked(x, self.params[self.w_key], self.params[self.b_key],
                                       relu)

    def reaches_every_input(self) -> bool:
        """True when no row of W is all zeros: every input feature meets a non-zero weight, so a
        NaN or infinity in a feature leaves x W non-finite whatever the BLAS skips."""
        xp = self.xp  # the smallest row maximum of |W| (0.07 ms for 784 x 256 on torch, where
        # any(W != 0) takes 0.33 ms); a NaN weight answers False, which is safe
        return bool(xp.min(xp.max(xp.abs(self.params[self.w_key]), axis=1)) > 0.0)

    def backward(self, dout: Any) -> Any:
        ops, buf = self.ops, self.grad_buffers
        self.grads[self.w_key] = ops.matmul(self.x.T, dout, out=buf.get(self.w_key))
        self.grads[self.b_key] = ops.sum_rows(dout, out=buf.get(self.b_key))
        return dout @ self.params[self.w_key].T if self.input_grad else None

    label = "Affine"
    fresh_output = True

    @classmethod
    def declare(cls, in_shape: tuple[int, ...], units: int
                ) -> tuple[tuple[int, ...], dict[str, tuple[tuple[int, ...], Any]]]:
        if len(in_shape) != 1:
            raise ValueError(f"dense needs flat samples but gets shape {tuple(in_shape)}; put "
                             f"'flatten' before it")
        return (units,), {"W": ((in_shape[0], units), (in_shape[0], units)),
                          "b": ((units,), "zeros")}

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, units: int) -> Dense:
        return cls(net.params, keys["W"], keys["b"], not first, net.xp, **net.wiring)

    @property
    def dW(self) -> Any:  # the book's names
        return self.grads[self.w_key]

    @property
    def db(self) -> Any:
        return self.grads[self.b_key]


Affine = Dense


class Activation(Layer):
    """An element-wise activation (the networks' "Activation_function" layers); ``xp`` is
    looked up from the first input when not given.

    Example:
        >>> [cls.__name__ for cls in Activation.__subclasses__()]
        ['ReLU', 'Sigmoid', 'Tanh', 'Identity']
    """

    label = "Activation_function"
    #: the input is a fresh array nothing else holds (set by a network when the layer before
    #: has ``fresh_output``): ReLU then rectifies it in place, with no new array
    owns_input = False

    def __init__(self, xp: Any = None, ops: Backend | None = None) -> None:
        super().__init__()
        self.xp, self.ops, self.out = xp, ops, None

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, **args: Any) -> Activation:
        return cls(net.xp, net.backend.ops)


class ReLU(Activation):
    """y = max(x, 0).  Backward: dout where x > 0, else 0.

    Example:
        >>> import numpy as np
        >>> relu = ReLU()
        >>> relu.forward(np.array([-1.0, 2.0])), relu.backward(np.array([5.0, 5.0]))
        (array([0., 2.]), array([0., 5.]))
    """

    def forward(self, x: Any, train: bool = False) -> Any:
        xp = self.xp or namespace_of(x)
        self.xp = xp
        # in place in eval mode only: a 10,000-row batch then allocates 10 MB less, while a
        # training batch's product, just written by two BLAS threads, is quicker to read into
        # a new array than to rewrite (measured: 18 vs 13 us for 128 x 256)
        in_place = self.owns_input and not train
        self.out = self.ops.relu_owned(x) if in_place else xp.maximum(x, 0.0)
        return self.out

    def backward(self, dout: Any) -> Any:
        if self.ops is None:  # a layer of its own (the book's Relu()): from its first input
            self.ops = backend_of(self.out)
        return self.ops.relu_grad(self.out, dout)


Relu = ReLU


class Sigmoid(Activation):
    """y = 1 / (1 + exp(-x)).  Backward: dout * y * (1 - y).

    Example:
        >>> import numpy as np
        >>> layer = Sigmoid()
        >>> layer.forward(np.array([0.0])), layer.backward(np.array([1.0]))
        (array([0.5]), array([0.25]))
    """

    def forward(self, x: Any, train: bool = False) -> Any:
        self.xp = self.xp or namespace_of(x)
        self.out = sigmoid(self.xp, x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * self.out * (1.0 - self.out)


class Tanh(Activation):
    """y = tanh(x).  Backward: dout * (1 - y^2).

    Example:
        >>> import numpy as np
        >>> layer = Tanh()
        >>> layer.forward(np.array([0.0])), layer.backward(np.array([2.0]))
        (array([0.]), array([2.]))
    """

    def forward(self, x: Any, train: bool = False) -> Any:
        self.xp = self.xp or namespace_of(x)
        self.out = self.xp.tanh(x)
        return self.out

    def backward(self, dout: Any) -> Any:
        return dout * (1.0 - self.out * self.out)


class Identity(Activation):
    """y = x (the "identity" activation of scikit-learn).

    Example:
        >>> import numpy as np
        >>> Identity().forward(np.array([-1.5]))
        array([-1.5])
    """

    def forward(self, x: Any, train: bool = False) -> Any:
        return x

    def backward(self, dout: Any) -> Any:
        return dout


#: activation names -> layer classes
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "logistic": Sigmoid, "tanh": Tanh,
               "identity": Identity, "linear": Identity}


class BatchNormalization(Layer):
    """Batch normalization (Ioffe & Szegedy 2015) per feature of (N, D) inputs, and per channel
    of (N, C, H, W) images (statistics over N, H and W, as PyTorch's BatchNorm2d).

    Training: xhat = (x - mean_B) / sqrt(var_B + eps), y = gamma * xhat + beta, and the running
    statistics move toward the batch mean and (biased) batch VARIANCE.
    Eval: the running statistics replace the batch ones.
    Backward (closed form, M values per feature: N, or N*H*W for images):
    dx = (M dxhat - sum(dxhat) - xhat sum(dxhat xhat)) / (M std).

    ``running`` says how the running statistics start:

    - "average" (default): the plain average of the batch statistics seen so far, until that
      weighs the newest batch less than the moving average would (1/k < 1 - momentum), then
      the moving average with ``momentum``.  Right from the first step at any weight scale:
      a batch variance of 1e-6 is the running variance at once.
    - "pytorch": PyTorch's buffers: mean 0 and variance 1 at first, then the moving average
      from the first step, so early eval-mode outputs lean on the initial 1 for about
      1 / (1 - momentum) steps.

    ``num_batches_tracked`` counts the training batches seen (PyTorch's name).

    Example:
        >>> import numpy as np
        >>> bn = BatchNormalization({"gamma": np.ones(2), "beta": np.zeros(2)})
        >>> y = bn.forward(np.array([[1.0, 10.0], [3.0, 30.0]]), train=True)
        >>> y.round(3).tolist(), bn.running_mean.tolist(), bn.num_batches_tracked
        ([[-1.0, -1.0], [1.0, 1.0]], [2.0, 20.0], 1)
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
        self.xhat = self.std = self.image = None

    label = "BatchNorm"
    fresh_output = True

    @classmethod
    def declare(cls, in_shape: tuple[int, ...], momentum: float = 0.9, eps: float = 1e-5,
                running: str = "average"
                ) -> tuple[tuple[int, ...], dict[str, tuple[tuple[int, ...], Any]]]:
        if len(in_shape) not in (1, 3):
            raise ValueError(f"batchnorm normalizes features (D,) or images (C, H, W), not "
                             f"samples of shape {tuple(in_shape)}")
        return tuple(in_shape), {"gamma": ((in_shape[0],), "ones"),
                                 "beta": ((in_shape[0],), "zeros")}

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, momentum: float = 0.9,
              eps: float = 1e-5, running: str = "average") -> BatchNormalization:
        return cls(net.params, keys["gamma"], keys["beta"], momentum, eps, net.xp,
                   running=running, **net.wiring)

    def _stat(self, a: Any) -> Any:
        """``a`` (one value per feature or channel) shaped to broadcast against the input."""
        return a if self.image is None else self.xp.reshape(a, self.image)

    def _sum(self, a: Any, out: Any = None) -> Any:
        """The sum of ``a`` per feature (over the batch) or per channel (over N, H, W)."""
        if self.image is None:
            return self.ops.sum_rows(a, out=out)
        return _into(self.xp.sum(a, axis=(0, 2, 3)), out)

    def forward(self, x: Any, train: bool = False) -> Any:
        xp = self.xp
        self.image = None if x.ndim == 2 else (1, x.shape[1], 1, 1)
        gamma = self._stat(self.params[self.gamma_key])
        beta = self._stat(self.params[self.beta_key])
        if not train:
            return ((x - self._stat(self.running_mean))
                    / xp.sqrt(self._stat(self.running_var) + self.eps) * gamma + beta)
        axes = 0 if self.image is None else (0, 2, 3)
        mean = xp.mean(x, axis=axes)
        xc = x - self._stat(mean)
        var = xp.mean(xc * xc, axis=axes)
        self.std = self._stat(xp.sqrt(var + self.eps))
        self.xhat = xc / self.std
        self.num_batches_tracked += 1
        w = 1.0 - self.momentum  # the newest batch's weight in the running statistics
        if self.running == "average":
            w = max(w, 1.0 / self.num_batches_tracked)
        self.running_mean = (1.0 - w) * self.running_mean + w * mean
        self.running_var = (1.0 - w) * self.running_var + w * var
        return gamma * self.xhat + beta

    def backward(self, dout: Any) -> Any:
        xhat, buf = self.xhat, self.grad_buffers
        m = dout.shape[0] if self.image is None else dout.shape[0] * dout.shape[2] * dout.shape[3]
        self.grads[self.beta_key] = self._sum(dout, out=buf.get(self.beta_key))
        self.grads[self.gamma_key] = self._sum(dout * xhat, out=buf.get(self.gamma_key))
        dxhat = dout * self._stat(self.params[self.gamma_key])
        return (m * dxhat - self._stat(self._sum(dxhat))
                - xhat * self._stat(self._sum(dxhat * xhat))) / (m * self.std)

    @property
    def dgamma(self) -> Any:  # the book's names
        return self.grads[self.gamma_key]

    @property
    def dbeta(self) -> Any:
        return self.grads[self.beta_key]


BatchNorm = BatchNormalization


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``ratio`` and scale the
    survivors by 1 / (1 - ratio); in eval, the identity.  Masks are drawn on the device, in
    the input's shape (features or images alike).

    ``freeze_mask = True`` reuses the last mask (for numerical gradient checks).

    Example:
        >>> import numpy as np
        >>> from xpnet.backends import get_backend
        >>> drop = Dropout(get_backend("numpy", random_state=0), ratio=0.5)
        >>> sorted(set(drop.forward(np.ones(1000), train=True).tolist()))  # 0 or 1 / (1 - 0.5)
        [0.0, 2.0]
        >>> drop.forward(np.ones(3)).tolist()  # eval: the identity
        [1.0, 1.0, 1.0]
    """

    def __init__(self, backend: Any, ratio: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"dropout_ratio={ratio!r} must be in [0, 1); e.g. 0.5")
        self.backend, self.ratio = backend, float(ratio)
        self.mask = None
        self.freeze_mask = False

    @classmethod
    def declare(cls, in_shape: tuple[int, ...], ratio: float = 0.5
                ) -> tuple[tuple[int, ...], dict[str, tuple[tuple[int, ...], Any]]]:
        return tuple(in_shape), {}

    @classmethod
    def build(cls, net: Any, keys: dict[str, str], first: bool, ratio: float = 0.5) -> Dropout:
        return cls(net.backend, ratio)

    def forward(self, x: Any, train: bool = False) -> Any:
        if not train or self.ratio == 0.0:
            self.mask = None
            return x
        if not (self.freeze_mask and self.mask is not None and self.mask.shape == x.shape):
            self.mask = self.backend.dropout_mask(tuple(x.shape), 1.0 - self.ratio)
        return x * self.mask

    def backward(self, dout: Any) -> Any:
        return dout if self.mask is None else dout * self.mask
