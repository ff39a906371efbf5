"""MultiLayerNet / MultiLayerNetExtend: the "Deep Learning from Scratch" chapter-6 networks.

Affine -> [BatchNorm] -> activation -> [Dropout], repeated per hidden layer, then Affine and a
loss layer.  All parameters live in ONE flat buffer on the device; ``params`` holds named views
into it ('W1', 'b1', 'gamma1', 'beta1', ...), so the book's ``optimizer.update(net.params,
grads)`` works and training can update every parameter with a few whole-buffer operations.
Backpropagation writes the gradients into views of a second flat buffer laid out the same way,
which is what the optimizer steps on.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..backends import Backend, get_backend
from ..backends.validation import (
    check_choice,
    check_class_labels,
    check_features,
    check_fraction,
    check_hidden_sizes,
    check_lengths,
    check_positive,
    check_targets,
    is_host,
)
from . import layers as L
from .init import init_scale
from .losses import LOSSES, penalty, penalty_grad
from .state import Saveable

__all__ = ["MultiLayerNetExtend", "MultiLayerNet", "evaluate", "EVAL_CHUNK"]

#: samples per forward pass when evaluating (bounds memory on large sets)
EVAL_CHUNK = 8192


def evaluate(network: Any, x: Any, t: Any, chunk: int = EVAL_CHUNK) -> tuple[Any, Any]:
    """(mean loss without penalty, score) of a network on device data, in chunks, in eval mode.

    The score is accuracy for classification networks and R^2 (pooled over outputs) for
    regression ones; both are 0-d device arrays (the caller decides when to sync).
    """
    xp = network.xp
    n = x.shape[0]
    loss_sum, score_sum = 0.0, 0.0
    classify = network.is_classifier
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        xb, tb = x[start:stop, ...], t[start:stop, ...]
        y = network.forward(xb, False)
        loss_sum = loss_sum + network.last_layer.forward(y, tb) * xb.shape[0]
        if classify:
            pred = xp.argmax(y, axis=1)
            label = tb if tb.ndim == 1 else xp.argmax(tb, axis=1)
            score_sum = score_sum + xp.sum(xp.astype(pred == label, network.backend.dtype))
        else:
            diff = y - xp.reshape(xp.astype(tb, y.dtype), y.shape)
            score_sum = score_sum + xp.sum(diff * diff)
    if classify:
        return loss_sum / n, score_sum / n
    tt = xp.reshape(xp.astype(t, network.backend.dtype), (n, -1))
    centered = tt - xp.mean(tt, axis=0)
    ss_tot = xp.sum(centered * centered)
    return loss_sum / n, 1.0 - score_sum / xp.where(ss_tot > 0, ss_tot, 1.0)


class MultiLayerNetExtend(Saveable):
    """A fully connected network with optional BatchNorm, Dropout, weight decay and L1.

    Args:
        input_size: number of input features.
        hidden_size_list: units of each hidden layer, e.g. [100, 100].
        output_size: number of classes (or regression outputs).
        activation: "relu", "sigmoid"/"logistic", "tanh" or "identity".
        weight_init_std: "relu"/"he" (sqrt(2/fan_in)), "sigmoid"/"xavier" (the book's Xavier,
            sqrt(1/fan_in)), "glorot" (sqrt(2/(fan_in+fan_out))), "normal", "ones", or a
            float standard deviation (the table in :mod:`xpnet.nn.init`).
        weight_decay_lambda: L2 strength; adds lambda/2 * sum(W^2) to the loss.
        use_dropout, dropout_ratio: inverted dropout after each hidden activation
            (``dropout_ration=``, the book's spelling, is accepted too).
        use_batchnorm: batch normalization before each hidden activation, with the book's
            eps (1e-6); ``batchnorm_running`` says how its running statistics start (see
            :class:`~xpnet.nn.layers.BatchNormalization`: "average", right from the first
            step, or "pytorch", PyTorch's buffers).
        l1: L1 strength; adds l1 * sum|W| to the loss.
        loss: "softmax_cross_entropy" (classification), "mse" or "binary_cross_entropy".
        backend, dtype, random_state: see :func:`xpnet.backend.get_backend`.
    """

    def __init__(self, input_size: int, hidden_size_list: list[int] | tuple[int, ...],
                 output_size: int, activation: str = "relu", weight_init_std: str | float = "relu",
                 weight_decay_lambda: float = 0, use_dropout: bool = False,
                 dropout_ratio: float = 0.5, use_batchnorm: bool = False, *, l1: float = 0.0,
                 loss: str = "softmax_cross_entropy", backend: Any = "numpy",
                 dtype: Any = "float32", random_state: int | None = None,
                 batchnorm_running: str = "average", dropout_ration: float | None = None
                 ) -> None:
        if dropout_ration is not None:  # the book's keyword
            dropout_ratio = dropout_ration
        self.input_size = check_positive("input_size", input_size, integer=True)
        self.output_size = check_positive("output_size", output_size, integer=True)
        if isinstance(hidden_size_list, str):  # "100,100" is the command line's spelling
            raise TypeError(f"hidden_size_list={hidden_size_list!r} must be a list of layer "
                            f"widths; pass e.g. hidden_size_list=[100, 100]")
        self.hidden_size_list = check_hidden_sizes("hidden_size_list", hidden_size_list)
        self.hidden_layer_num = len(self.hidden_size_list)
        self.activation = check_choice("activation", activation, L.ACTIVATIONS)
        self.loss_name = check_choice("loss", loss, LOSSES)
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = check_positive("weight_decay_lambda", weight_decay_lambda,
                                                  allow_zero=True)
        self.l1 = check_positive("l1", l1, allow_zero=True)
        self.use_dropout = bool(use_dropout)
        self.dropout_ratio = check_fraction("dropout_ratio", dropout_ratio)
        self.use_batchnorm = bool(use_batchnorm)
        self.batchnorm_running = check_choice("batchnorm_running", batchnorm_running,
                                              L.BatchNormalization.RUNNING)
        self.backend: Backend = get_backend(backend, dtype, random_state)
        self.xp = self.backend.xp
        self._build_params()
        self._build_layers()

    # ------------------------------------------------------------------ construction
    def _build_params(self) -> None:
        """Draw every parameter on the host, pack them into one flat buffer, move it once."""
        sizes = [self.input_size, *self.hidden_size_list, self.output_size]
        b = self.backend
        shapes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        host = []
        for i in range(1, len(sizes)):
            fan_in, fan_out = sizes[i - 1], sizes[i]
            shapes[f"W{i}"] = (fan_in, fan_out)
            host.append(b.host_init((fan_in, fan_out),
                                    init_scale(self.weight_init_std, fan_in, fan_out,
                                               "weight_init_std", book=True)))
            shapes[f"b{i}"] = (fan_out,)
            host.append(b.host_init((fan_out,), "zeros"))
            if self.use_batchnorm and i < len(sizes) - 1:
                shapes[f"gamma{i}"] = (fan_out,)
                host.append(b.host_init((fan_out,), "ones"))
                shapes[f"beta{i}"] = (fan_out,)
                host.append(b.host_init((fan_out,), "zeros"))
        self.param_shapes = shapes
        self.weight_keys = tuple(k for k in shapes if k.startswith("W"))
        self.flat = b.flat_from_host(host)
        self.params: dict[str, Any] = {}
        self._bind_views()
        # backward writes every gradient into its view of this buffer (aligned with ``flat``)
        self.grad_flat = self.xp.zeros_like(self.flat)
        self._grad_views = self._views_of(self.grad_flat)

    def _views_of(self, flat: Any) -> dict[str, Any]:
        """Views of a flat buffer, one per parameter key, shaped like the parameter."""
        views, offset = {}, 0
        for key, shape in self.param_shapes.items():
            n = 1
            for d in shape:
                n *= d
            views[key] = self.xp.reshape(flat[offset:offset + n], shape)
            offset += n
        return views

    def _bind_views(self) -> None:
        """Point ``params`` at views of ``flat`` (after building or after a reload)."""
        self.params.update(self._views_of(self.flat))
        self._views = dict(self.params)

    def _build_layers(self) -> None:
        self.layers: OrderedDict[str, L.Layer] = OrderedDict()
        act = L.ACTIVATIONS[self.activation]
        n = self.hidden_layer_num
        out = {"grad_buffers": self._grad_views, "ops": self.backend.ops}
        for i in range(1, n + 1):
            self.layers[f"Affine{i}"] = L.Dense(self.params, f"W{i}", f"b{i}", i > 1, self.xp,
                                                **out)
            if self.use_batchnorm:
                self.layers[f"BatchNorm{i}"] = L.BatchNormalization(
                    self.params, f"gamma{i}", f"beta{i}", eps=1e-6, xp=self.xp,
                    running=self.batchnorm_running, **out)
            self.layers[f"Activation_function{i}"] = act(self.xp)
            if self.use_dropout:
                self.layers[f"Dropout{i}"] = L.Dropout(self.backend, self.dropout_ratio)
        self.layers[f"Affine{n + 1}"] = L.Dense(self.params, f"W{n + 1}", f"b{n + 1}", n > 0,
                                                self.xp, **out)
        self.last_layer = LOSSES[self.loss_name](self.xp, self.backend.ops)
        self._reversed = list(self.layers.values())[::-1]

    def params_are_bound(self) -> bool:
        """True while every ``params`` entry is still its view into ``flat``."""
        return all(self.params.get(k) is v for k, v in self._views.items())

    def rebind(self) -> None:
        """Copy entries of ``params`` that were replaced by new arrays back into ``flat``."""
        for key, view in self._views.items():
            value = self.params[key]
            if value is not view:
                view[...] = self.backend.asarray(value, name=f"params[{key!r}]")
        self.params.update(self._views)

    # ------------------------------------------------------------------ inputs
    def _x(self, x: Any, name: str = "x") -> Any:
        return check_features(x, self.backend, name, n_features=self.input_size)

    @property
    def is_classifier(self) -> bool:
        """True when the last layer is softmax cross-entropy (labels are classes)."""
        return self.loss_name in ("softmax_cross_entropy", "cross_entropy")

    def _t(self, t: Any, name: str = "t") -> Any:
        if self.is_classifier:
            return check_class_labels(t, self.backend, self.output_size, name)
        return check_targets(t, self.backend, name, n_outputs=self.output_size)

    def _xt(self, x: Any, t: Any) -> tuple[Any, Any]:
        check_lengths(x, t, "x", "t")
        return self._x(x), self._t(t)

    # ------------------------------------------------------------------ device-side core
    def forward(self, x: Any, train: bool = False) -> Any:
        """Scores for a device batch ``x`` (no validation, no conversion)."""
        for layer in self.layers.values():
            x = layer.forward(x, train)
        return x

    def penalty(self) -> Any:
        """The L1/L2 penalty over all weights (0.0 when both strengths are zero)."""
        if not (self.l1 or self.weight_decay_lambda):
            return 0.0
        total = 0.0
        for key in self.weight_keys:
            total = total + penalty(self.xp, self.params[key], self.l1, self.weight_decay_lambda)
        return total

    def forward_loss(self, x: Any, t: Any, train: bool = False) -> Any:
        """The mean loss plus penalty as a 0-d device array (no host sync)."""
        return self.last_layer.forward(self.forward(x, train), t) + self.penalty()

    def backward(self) -> dict[str, Any]:
        """Backpropagate the last ``forward_loss`` into ``grad_flat``; returns its views by key
        (penalty included).  The next backward overwrites them: copy what you keep, or use
        :meth:`gradient`."""
        dout = self.last_layer.backward(1.0)
        for layer in self._reversed:
            dout = layer.backward(dout)
        grads = self._grad_views
        if self.l1 or self.weight_decay_lambda:
            for key in self.weight_keys:
                grads[key] += penalty_grad(self.xp, self.params[key], self.l1,
                                           self.weight_decay_lambda)
        return grads

    def flat_gradient(self, x: Any, t: Any) -> tuple[Any, Any]:
        """(loss, gradient as one flat buffer aligned with ``flat``) for a device batch.
        The buffer is ``grad_flat`` itself, overwritten by the next call."""
        loss = self.forward_loss(x, t, train=True)
        self.backward()
        return loss, self.grad_flat

    # ------------------------------------------------------------------ the book's API
    def predict(self, x: Any, train_flg: bool = False) -> Any:
        """Scores (logits) for ``x``; NumPy in, NumPy out."""
        xd = self._x(x)
        y = self.forward(xd, train_flg)
        return self.backend.to_numpy(y) if is_host(x) else y

    def loss(self, x: Any, t: Any, train_flg: bool = False) -> float:
        """Mean loss plus weight penalty, as a Python float."""
        xd, td = self._xt(x, t)
        return self.backend.to_float(self.forward_loss(xd, td, train_flg))

    def accuracy(self, x: Any, t: Any) -> float:
        """Fraction of samples whose highest score is the label (labels or one-hot)."""
        xd, td = self._xt(x, t)
        return self.backend.to_float(self.correct_count(xd, td)) / xd.shape[0]

    def correct_count(self, x: Any, t: Any) -> Any:
        """Number of correct predictions on a device batch, as a 0-d device array."""
        xp = self.xp
        y = xp.argmax(self.forward(x, False), axis=1)
        if t.ndim != 1:
            t = xp.argmax(t, axis=1)
        return xp.sum(xp.astype(y == t, self.backend.dtype))

    def gradient(self, x: Any, t: Any) -> dict[str, Any]:
        """Gradients of ``loss(x, t, train_flg=True)`` by backpropagation, keyed like
        ``params`` (weight decay and L1 included).  Arrays of the model's backend."""
        xd, td = self._xt(x, t)
        self.forward_loss(xd, td, train=True)
        self.backward()
        return self._views_of(self.xp.asarray(self.grad_flat, copy=True))

    def numerical_gradient(self, x: Any, t: Any, h: float | None = None) -> dict[str, Any]:
        """Central differences of ``loss(x, t, train_flg=True)`` for every parameter element
        (slow; for checking ``gradient``).  Dropout masks are frozen while it runs."""
        xd, td = self._xt(x, t)
        h = h if h is not None else (1e-5 if self.backend.dtype_name == "float64" else 1e-2)
        drops = [ly for ly in self.layers.values() if isinstance(ly, L.Dropout)]
        for d in drops:
            d.freeze_mask = d.mask is not None
        to_float, flat = self.backend.to_float, self.flat
        values = []
        try:
            for i in range(flat.shape[0]):
                old = to_float(flat[i])
                flat[i] = old + h
                f_plus = to_float(self.forward_loss(xd, td, True))
                flat[i] = old - h
                f_minus = to_float(self.forward_loss(xd, td, True))
                flat[i] = old
                values.append((f_plus - f_minus) / (2 * h))
        finally:
            for d in drops:
                d.freeze_mask = False
        return self._views_of(self.backend.asarray(values))

    evaluate = evaluate  # the function above, as a method: net.evaluate(x, t)

    def nonfinite_probe(self) -> Any:
        """A 0-d device array: 0 while every weight is finite, else NaN (for the Trainer's
        once-per-epoch check, folded into its one host sync)."""
        return 0.0 * self.xp.max(self.xp.abs(self.flat))

    # ------------------------------------------------------------------ state
    def state_arrays(self) -> dict[str, Any]:
        """Every parameter (views into ``flat``) and BatchNorm's running statistics."""
        arrays = {f"params.{key}": self._views[key] for key in self.param_shapes}
        for i, bn in enumerate(self.batchnorm_layers(), start=1):
            arrays[f"batchnorm{i}.running_mean"] = bn.running_mean
            arrays[f"batchnorm{i}.running_var"] = bn.running_var
        return arrays

    def batchnorm_layers(self) -> list[L.BatchNormalization]:
        return [ly for ly in self.layers.values() if isinstance(ly, L.BatchNormalization)]

    def get_state(self) -> dict[str, Any]:
        """A device-side copy of everything training changes (weights + running stats)."""
        xp = self.xp
        return {"flat": xp.asarray(self.flat, copy=True),
                "running": [(xp.asarray(b.running_mean, copy=True),
                             xp.asarray(b.running_var, copy=True), b.num_batches_tracked)
                            for b in self.batchnorm_layers()]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`get_state` copy in place (views stay valid)."""
        self.flat[...] = state["flat"]
        for bn, running in zip(self.batchnorm_layers(), state["running"], strict=True):
            bn.running_mean, bn.running_var, bn.num_batches_tracked = running

    def state_values(self) -> dict[str, Any]:
        """How many batches each BatchNorm layer has seen (its running statistics' age)."""
        return {"batchnorm_batches": [b.num_batches_tracked for b in self.batchnorm_layers()]}

    def load_state(self, values: dict[str, Any], children: dict[str, Any]) -> None:
        counts = values.get("batchnorm_batches", [])
        layers = self.batchnorm_layers()
        if children or not isinstance(counts, list) or len(counts) not in (0, len(layers)) or \
                any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts):
            raise ValueError(f"batchnorm_batches={counts!r} must list {len(layers)} counts")
        for bn, count in zip(layers, counts):
            bn.num_batches_tracked = count

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly) that rebuild this architecture."""
        return {"input_size": self.input_size, "hidden_size_list": list(self.hidden_size_list),
                "output_size": self.output_size, "activation": self.activation,
                "weight_init_std": self.weight_init_std,
                "weight_decay_lambda": self.weight_decay_lambda, "use_dropout": self.use_dropout,
                "dropout_ratio": self.dropout_ratio, "use_batchnorm": self.use_batchnorm,
                "l1": self.l1, "loss": self.loss_name, "dtype": self.backend.dtype_name,
                "batchnorm_running": self.batchnorm_running}

    def __repr__(self) -> str:
        sizes = "-".join(map(str, [self.input_size, *self.hidden_size_list, self.output_size]))
        return (f"{type(self).__name__}({sizes}, activation={self.activation!r}, "
                f"batchnorm={self.use_batchnorm}, dropout={self.use_dropout}, "
                f"backend={self.backend.spec!r})")


class MultiLayerNet(MultiLayerNetExtend):
    """The book's plain MultiLayerNet: MultiLayerNetExtend without BatchNorm and Dropout."""

    def __init__(self, input_size: int, hidden_size_list: list[int] | tuple[int, ...],
                 output_size: int, activation: str = "relu", weight_init_std: str | float = "relu",
                 weight_decay_lambda: float = 0, *, l1: float = 0.0,
                 loss: str = "softmax_cross_entropy", backend: Any = "numpy",
                 dtype: Any = "float32", random_state: int | None = None) -> None:
        super().__init__(input_size, hidden_size_list, output_size, activation, weight_init_std,
                         weight_decay_lambda, l1=l1, loss=loss, backend=backend, dtype=dtype,
                         random_state=random_state)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("use_dropout", "dropout_ratio", "use_batchnorm", "batchnorm_running"):
            del config[key]
        return config
