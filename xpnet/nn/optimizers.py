"""Optimizers with the book's ``update(params, grads)`` on dicts of arrays of any backend.

Each follows its published rule and updates ``params`` in place (so views into a flat parameter
buffer, and layers reading the dict, see the change). State is created lazily with
``zeros_like``.  Training hands the whole flat parameter buffer over as ONE entry, so a step is a
few whole-buffer operations instead of a handful per layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from ..backends import backend_of
from .state import Saveable, init_parameters

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW",
           "OPTIMIZERS", "make_optimizer", "StepLR", "ExponentialLR", "CosineLR"]


class Optimizer(Saveable):
    """Base class.  ``lr`` may be changed between steps (learning-rate schedules do).

    A subclass writes ``step(key, p, g)``, updating the array ``p`` in place.

    Example:
        >>> import numpy as np
        >>> class SignSGD(Optimizer):
        ...     def step(self, key, p, g):
        ...         p -= self.lr * np.sign(g)
        >>> params = {"w": np.array([1.0, 2.0])}
        >>> SignSGD(lr=0.5).update(params, {"w": np.array([3.0, -0.1])})
        >>> params["w"].tolist()
        [0.5, 2.5]
    """

    def __init__(self, lr: float, fused: bool = True) -> None:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 \
                or not math.isfinite(lr):
            raise ValueError(f"lr={lr!r} must be a positive finite number, e.g. lr=0.01")
        self.lr = float(lr)
        self.state: dict[str, dict[str, Any]] = {}
        self.xp: Any = None  # set once, by bind (or from the first parameter's backend)
        self.fused = bool(fused)
        self.backend: Any = None

    def bind(self, backend: Any) -> Optimizer:
        """Use ``backend``'s namespace (and its fused kernel, where the optimizer has one and
        ``fused=True``) from now on; returns self.  Unbound, the optimizer binds itself to the
        backend of the first array it steps on (the book's ``update`` on plain dicts).

        Example:
            >>> from xpnet.backends import get_backend
            >>> opt = Adam(lr=0.01).bind(get_backend("numpy"))
            >>> opt.xp is opt.backend.xp and opt.fused_adam is not None
            True
        """
        self.backend, self.xp = backend, backend.xp
        return self

    def _slot(self, key: str, like: Any, *names: str) -> list[Any]:
        """The optimizer's per-parameter state arrays, created as zeros on first use."""
        if self.backend is None:
            self.bind(backend_of(like))
        slot = self.state.get(key)
        if slot is None or slot[names[0]].shape != like.shape:
            slot = self.state[key] = {n: self.xp.zeros_like(like) for n in names}
        return [slot[n] for n in names]

    def update(self, params: MutableMapping[str, Any], grads: Mapping[str, Any]) -> None:
        """Apply one step to every ``params[key]`` that has a ``grads[key]``."""
        for key, g in grads.items():
            self.step(key, params[key], g)

    def step(self, key: str, p: Any, g: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the accumulated state (moments, step count)."""
        self.state.clear()

    # ------------------------------------------------------------------ description
    #: the names of the per-parameter state arrays (their one home: saving reads them here)
    slots: tuple[str, ...] = ()

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments: each is kept as the attribute of the same name."""
        return {name: getattr(self, name) for name in init_parameters(type(self))}

    def state_values(self) -> dict[str, Any]:
        return {"keys": list(self.state), "t": dict(getattr(self, "t", {}))}

    def state_arrays(self) -> dict[str, Any]:
        return {f"{key}.{slot}": arrays[slot] for key, arrays in self.state.items()
                for slot in self.slots}

    def load_state(self, values: dict[str, Any], children: dict[str, Any]) -> None:
        """Take the step counts and the state's keys; the arrays follow (zeros until then,
        shaped by :meth:`init_state` or by the arrays themselves)."""
        keys, t = values.get("keys", []), values.get("t", {})
        if children or not isinstance(keys, list) or not isinstance(t, dict) or any(
                not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in t.values()):
            raise ValueError(f"optimizer state keys={keys!r}, t={t!r}: expected a list of keys "
                             f"and non-negative step counts")
        if hasattr(self, "t"):
            self.t = {str(k): v for k, v in t.items()}
        self._keys = [str(k) for k in keys]

    def init_state(self, params: Mapping[str, Any]) -> None:
        """Zero state for ``params`` (the layout a loaded state must match)."""
        for key, p in params.items():
            if self.slots:
                self._slot(key, p, *self.slots)

    def load_state_arrays(self, arrays: dict[str, Any]) -> None:
        backend = self.backend
        for key in getattr(self, "_keys", list(self.state)):
            self.state[key] = {slot: backend.asarray(arrays[f"{key}.{slot}"], name=key)
                               for slot in self.slots}


class SGD(Optimizer):
    """w <- w - lr g

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> SGD(lr=0.1).update(params, grads)
        >>> params["w"].round(4).tolist()
        [0.9, 2.1]
    """

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def step(self, key: str, p: Any, g: Any) -> None:
        p -= self.lr * g


class Momentum(Optimizer):
    """v <- mu v - lr g;  w <- w + v  (Polyak's heavy ball)

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> opt = Momentum(lr=0.1, momentum=0.9)
        >>> opt.update(params, grads)
        >>> opt.update(params, grads)  # the second step is 1.9 times the first
        >>> params["w"].round(4).tolist(), opt.state["w"]["v"].round(4).tolist()
        ([0.71, 2.29], [-0.19, 0.19])
    """

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _unit("momentum", momentum)

    def step(self, key: str, p: Any, g: Any) -> None:
        (v,) = self._slot(key, p, "v")
        v *= self.momentum
        v -= self.lr * g
        p += v


class Nesterov(Momentum):
    """Nesterov momentum (Sutskever et al. 2013, as in PyTorch's ``nesterov=True``):
    w <- w + mu^2 v - (1 + mu) lr g;  v <- mu v - lr g  (Momentum's arguments and state)

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> Nesterov(lr=0.1, momentum=0.9).update(params, grads)
        >>> params["w"].round(4).tolist()
        [0.81, 2.19]
    """

    def step(self, key: str, p: Any, g: Any) -> None:
        (v,) = self._slot(key, p, "v")
        mu = self.momentum
        p += (mu * mu) * v
        p -= ((1.0 + mu) * self.lr) * g
        v *= mu
        v -= self.lr * g


class AdaGrad(Optimizer):
    """h <- h + g^2;  w <- w - lr g / (sqrt(h) + eps)

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> opt = AdaGrad(lr=0.1)
        >>> opt.update(params, grads)
        >>> params["w"].round(4).tolist(), opt.state["w"]["h"].tolist()
        ([0.9, 2.1], [1.0, 1.0])
    """

    slots = ("h",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.eps = eps

    def step(self, key: str, p: Any, g: Any) -> None:
        (h,) = self._slot(key, p, "h")
        h += g * g
        p -= self.lr * g / (self.xp.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h <- d h + (1 - d) g^2;  w <- w - lr g / (sqrt(h) + eps)

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> opt = RMSprop(lr=0.01, decay_rate=0.99)
        >>> opt.update(params, grads)  # h = 0.01 g^2, so the first step is lr / 0.1
        >>> params["w"].round(4).tolist(), opt.state["w"]["h"].round(4).tolist()
        ([0.9, 2.1], [0.01, 0.01])
    """

    slots = ("h",)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, eps: float = 1e-7) -> None:
        super().__init__(lr)
        self.decay_rate, self.eps = _unit("decay_rate", decay_rate), eps

    def step(self, key: str, p: Any, g: Any) -> None:
        (h,) = self._slot(key, p, "h")
        h *= self.decay_rate
        h += (1.0 - self.decay_rate) * (g * g)
        p -= self.lr * g / (self.xp.sqrt(h) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction:
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).

    Computed in the paper's efficient form (Section 2): lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),
    w <- w - lr_t m / (sqrt(v) + eps sqrt(1 - b2^t)), which is algebraically the same.
    NumPy's kernel stores moments below the smallest normal number as 0 (subnormal arithmetic
    doubles its time; the weights come out the same).

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> opt = Adam(lr=0.1)
        >>> opt.update(params, grads)  # the first step is lr * sign(g)
        >>> params["w"].round(4).tolist(), opt.t
        ([0.9, 2.1], {'w': 1})
    """

    weight_decay = 0.0
    #: the backend's Adam kernel (chosen by bind), or None: the Array API code below runs
    fused_adam: Any = None

    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, fused: bool = True) -> None:
        super().__init__(lr, fused)
        self.beta1, self.beta2 = _unit("beta1", beta1), _unit("beta2", beta2)
        self.eps = eps
        self.t: dict[str, int] = {}

    def step(self, key: str, p: Any, g: Any) -> None:
        m, v = self._slot(key, p, "m", "v")
        t = self.t[key] = self.t.get(key, 0) + 1
        b1, b2 = self.beta1, self.beta2
        if self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay
        c2 = math.sqrt(1.0 - b2**t)
        lr_t = self.lr * c2 / (1.0 - b1**t)
        if self.fused_adam is not None:  # the same step, in the backend's own kernel
            self.fused_adam(p, g, m, v, b1, b2, lr_t, self.eps * c2)
            return
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        p -= lr_t * m / (self.xp.sqrt(v) + self.eps * c2)

    def bind(self, backend: Any) -> Adam:
        super().bind(backend)
        self.fused_adam = backend.ops.adam if self.fused else None
        return self

    def reset(self) -> None:
        super().reset()
        self.t.clear()


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): w <- w (1 - lr wd) first.

    Example:
        >>> import numpy as np
        >>> params, grads = {"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, -1.0])}
        >>> AdamW(lr=0.1, weight_decay=0.01).update(params, grads)
        >>> params["w"].round(4).tolist()  # Adam's step on w * (1 - 0.1 * 0.01)
        [0.899, 2.098]
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, fused: bool = True) -> None:
        super().__init__(lr, beta1, beta2, eps, fused)
        self.weight_decay = float(weight_decay)


#: optimizer names (case-insensitive) -> classes
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def make_optimizer(optimizer: str | Optimizer, **params: Any) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", ...) and its parameters, or the instance given.

    Example:
        >>> opt = make_optimizer("Adam", lr=0.01)
        >>> type(opt).__name__, opt.lr, make_optimizer(opt) is opt
        ('Adam', 0.01, True)
        >>> make_optimizer("adamx")
        Traceback (most recent call last):
        ...
        ValueError: optimizer='adamx' is not a known optimizer; use one of sgd, momentum, ...
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={optimizer!r} is not a known optimizer; use one of "
            f"{', '.join(OPTIMIZERS)} or an xpnet.optimizers.Optimizer instance"
        )
    cls = OPTIMIZERS[optimizer.lower()]
    try:
        return cls(**params)
    except TypeError as err:
        raise TypeError(f"optimizer_param={params!r} does not fit {cls.__name__}: {err}") from None


def _unit(name: str, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be in [0, 1)")
    return float(value)


# ------------------------------------------------------------ learning-rate schedules
class StepLR:
    """lr(epoch) = lr0 * gamma ** (epoch // step_size)

    Example:
        >>> schedule = StepLR(step_size=10, gamma=0.5)
        >>> [schedule(0.1, epoch, 30) for epoch in (0, 9, 10, 20)]
        [0.1, 0.1, 0.05, 0.025]
    """

    def __init__(self, step_size: int = 10, gamma: float = 0.5) -> None:
        self.step_size, self.gamma = step_size, gamma

    def __call__(self, lr0: float, epoch: int, epochs: int) -> float:
        return lr0 * self.gamma ** (epoch // self.step_size)


class ExponentialLR:
    """lr(epoch) = lr0 * gamma ** epoch

    Example:
        >>> schedule = ExponentialLR(gamma=0.5)
        >>> [round(schedule(0.1, epoch, 3), 4) for epoch in range(3)]
        [0.1, 0.05, 0.025]
    """

    def __init__(self, gamma: float = 0.95) -> None:
        self.gamma = gamma

    def __call__(self, lr0: float, epoch: int, epochs: int) -> float:
        return lr0 * self.gamma**epoch


class CosineLR:
    """lr(epoch) = min_lr + (lr0 - min_lr) * (1 + cos(pi * epoch / epochs)) / 2

    Example:
        >>> schedule = CosineLR(min_lr=0.0)
        >>> [round(schedule(0.1, epoch, 4), 4) for epoch in range(5)]
        [0.1, 0.0854, 0.05, 0.0146, 0.0]
    """

    def __init__(self, min_lr: float = 0.0) -> None:
        self.min_lr = min_lr

    def __call__(self, lr0: float, epoch: int, epochs: int) -> float:
        return self.min_lr + (lr0 - self.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
