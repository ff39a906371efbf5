"""Losses (last layers) and weight penalties, written once against ``xp``.

A loss has ``forward(y, t) -> 0-d array`` (the mean over samples; no host sync) and
``backward(dout=1.0) -> dy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..backends import namespace_of
from .layers import sigmoid

__all__ = ["Loss", "SoftmaxCrossEntropy", "SoftmaxWithLoss", "BinaryCrossEntropy",
           "MeanSquaredError", "LOSSES", "softmax", "binary_cross_entropy_from_logits",
           "penalty", "penalty_grad"]


def softmax(xp: Any, z: Any, ops: Any = None) -> Any:
    """Row-wise softmax, shifted by the row max so exp never overflows; ``ops.softmax`` (a
    backend's kernel, or None) computes the same in one fused pass.

    Example:
        >>> import numpy as np
        >>> softmax(np, np.array([[0.0, 0.0], [1000.0, 0.0]])).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
    """
    if ops is not None and ops.softmax is not None:
        return ops.softmax(z)
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def binary_cross_entropy_from_logits(xp: Any, z: Any, y: Any) -> Any:
    """Sum over elements of -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - z y, with
    softplus(z) = log(1 + exp(z)) computed stably as ``logaddexp(z, 0)``.

    Example:
        >>> import numpy as np
        >>> round(float(binary_cross_entropy_from_logits(np, np.array([0.0, 800.0]),
        ...                                              np.array([1.0, 1.0]))), 6)
        0.693147
    """
    return xp.sum(xp.logaddexp(z, 0.0) - z * y)


class Loss:
    """Base class: ``xp`` (found from the first input when None) and ``ops``, a backend's
    kernels (``Backend.ops``), whose fused pass of its own formula a loss may take once.

    A loss also says what the scores z it reads predict (the one home of that fact: the CLI
    and the ONNX export ask it): :meth:`labels` (here: the values, regression) and
    ``probabilities`` (a method, or None where the scores have none).

    Example:
        >>> import numpy as np
        >>> z = np.array([[2.0, -1.0], [0.0, 3.0]])
        >>> SoftmaxCrossEntropy().labels(z), MeanSquaredError().probabilities is None
        (array([0, 1]), True)
    """

    #: scores -> probabilities, or None: regression has none
    probabilities: Callable[[Any], Any] | None = None

    def __init__(self, xp: Any = None, ops: Any = None) -> None:
        self.xp, self.ops = xp, ops

    def labels(self, z: Any) -> Any:
        """What scores ``z`` (of any namespace) predict: here the values themselves."""
        return z


class SoftmaxCrossEntropy(Loss):
    """Softmax + cross-entropy, mean over the batch.  Labels: integer classes (N,) or one-hot
    (N, C).  Backward: (softmax(z) - onehot(t)) / N.

    ``ops.softmax_cross_entropy`` (a backend's kernel, or None) computes the same loss and
    residual for integer labels in one fused pass; the Array API code below is what it computes.

    Example:
        >>> import numpy as np
        >>> loss = SoftmaxCrossEntropy()
        >>> round(float(loss.forward(np.zeros((2, 4)), np.array([0, 3]))), 4)  # ln 4
        1.3863
        >>> loss.backward().tolist()[0]
        [-0.375, 0.125, 0.125, 0.125]
    """

    def __init__(self, xp: Any = None, ops: Any = None) -> None:
        super().__init__(xp, ops)
        self.residual = self._classes = None
        self.fused = None if ops is None else ops.softmax_cross_entropy
        self._label_dtypes: dict[Any, bool] = {}  # dtype -> integral? (asked once per dtype)

    def forward(self, z: Any, t: Any) -> Any:
        xp = self.xp = self.xp or namespace_of(z)
        n = z.shape[0]
        if self.fused is not None and t.ndim == 1 and self._integral(t.dtype):
            total, self.residual = self.fused(z, t)
            return total / n
        shifted = z - xp.max(z, axis=1, keepdims=True)
        e = xp.exp(shifted)
        s = xp.sum(e, axis=1, keepdims=True)
        if t.ndim == 1:
            classes = self._classes
            if classes is None or classes.shape[0] != z.shape[1] or classes.dtype != t.dtype:
                classes = self._classes = xp.arange(z.shape[1], dtype=t.dtype,
                                                    device=_device(z))  # once, not per step
            onehot = xp.astype(t[:, None] == classes, z.dtype)
        else:
            onehot = xp.astype(t, z.dtype)
        self.residual = e / s - onehot
        logp = shifted - xp.log(s)
        return -xp.sum(logp * onehot) / n

    def backward(self, dout: Any = 1.0) -> Any:
        return self.residual * (dout / self.residual.shape[0])

    def labels(self, z: Any) -> Any:
        """The class index of the highest score of each row."""
        return namespace_of(z).argmax(z, axis=1)

    def probabilities(self, z: Any) -> Any:  # type: ignore[override]
        """softmax(z) row by row (the backend's fused pass for scores of its own library)."""
        owned = self.ops is not None and self.ops.owns(z)
        return softmax(namespace_of(z), z, self.ops if owned else None)

    def _integral(self, dtype: Any) -> bool:
        known = self._label_dtypes.get(dtype)
        if known is None:
            known = self._label_dtypes[dtype] = self.xp.isdtype(dtype, "integral")
        return known


SoftmaxWithLoss = SoftmaxCrossEntropy


class BinaryCrossEntropy(Loss):
    """Logistic loss from logits, mean over samples.  Backward: (sigmoid(z) - y) / N.

    Example:
        >>> import numpy as np
        >>> loss = BinaryCrossEntropy()
        >>> round(float(loss.forward(np.zeros((2, 1)), np.array([0.0, 1.0]))), 4)  # ln 2
        0.6931
        >>> loss.backward().ravel().tolist()
        [0.25, -0.25]
    """

    def __init__(self, xp: Any = None, ops: Any = None) -> None:
        super().__init__(xp, ops)
        self.z = self.y = None

    def forward(self, z: Any, y: Any) -> Any:
        xp = self.xp = self.xp or namespace_of(z)
        y = xp.astype(xp.reshape(y, z.shape), z.dtype)
        self.z, self.y = z, y
        return binary_cross_entropy_from_logits(xp, z, y) / z.shape[0]

    def backward(self, dout: Any = 1.0) -> Any:
        return (sigmoid(self.xp, self.z) - self.y) * (dout / self.z.shape[0])

    def labels(self, z: Any) -> Any:
        """True where the logit is positive (probability above 1/2)."""
        return z > 0.0

    def probabilities(self, z: Any) -> Any:  # type: ignore[override]
        """sigmoid(z), the probability of class 1."""
        return sigmoid(namespace_of(z), z)


class MeanSquaredError(Loss):
    """Half the mean squared error over all elements (scikit-learn's squared loss).
    Backward: (y - t) / size.

    Example:
        >>> import numpy as np
        >>> loss = MeanSquaredError()
        >>> float(loss.forward(np.array([[1.0], [3.0]]), np.array([0.0, 1.0])))
        1.25
        >>> loss.backward().ravel().tolist()
        [0.5, 1.0]
    """

    def __init__(self, xp: Any = None, ops: Any = None) -> None:
        super().__init__(xp, ops)
        self.diff = None

    def forward(self, y: Any, t: Any) -> Any:
        xp = self.xp = self.xp or namespace_of(y)
        self.diff = y - xp.astype(xp.reshape(t, y.shape), y.dtype)
        return xp.sum(self.diff * self.diff) / (2.0 * math.prod(y.shape))

    def backward(self, dout: Any = 1.0) -> Any:
        return self.diff * (dout / math.prod(self.diff.shape))


#: loss names -> classes
LOSSES = {"softmax_cross_entropy": SoftmaxCrossEntropy, "cross_entropy": SoftmaxCrossEntropy,
          "binary_cross_entropy": BinaryCrossEntropy, "mse": MeanSquaredError,
          "squared_error": MeanSquaredError}


def penalty(xp: Any, w: Any, l1: float, l2: float) -> Any:
    """l1 * sum|w| + l2 / 2 * sum w^2 (the seeds' reg_loss and the book's weight decay).

    Example:
        >>> import numpy as np
        >>> float(penalty(np, np.array([1.0, -2.0]), l1=0.1, l2=1.0))
        2.8
    """
    total = 0.0
    if l1:
        total = total + l1 * xp.sum(xp.abs(w))
    if l2:
        total = total + (0.5 * l2) * xp.sum(w * w)
    return total


def penalty_grad(xp: Any, w: Any, l1: float, l2: float) -> Any:
    """Gradient of :func:`penalty`: l1 * sign(w) + l2 * w (0.0 when both are zero).

    Example:
        >>> import numpy as np
        >>> penalty_grad(np, np.array([1.0, -2.0]), l1=0.1, l2=1.0).tolist()
        [1.1, -2.1]
    """
    if l1 and l2:
        return l1 * xp.sign(w) + l2 * w
    if l1:
        return l1 * xp.sign(w)
    return l2 * w if l2 else 0.0


def _device(x: Any) -> Any:
    return getattr(x, "device", None)
