"""Networks whose parameters live in ONE flat buffer: :class:`Network`, composed from a list of
layer specifications, and the books' fixed networks built on it: ``MultiLayerNet`` /
``MultiLayerNetExtend`` ("Deep Learning from Scratch" chapter 6: Affine -> [BatchNorm] ->
activation -> [Dropout] per hidden layer, then Affine and a loss layer) and ``SimpleConvNet``
(chapter 7: Conv -> ReLU -> Pool -> Affine -> ReLU -> Affine).

Each layer class declares its parameters given the shape of its input (``Layer.declare``); the
network names them by role and count ('W1', 'b1', 'gamma1', 'beta1', 'W2', ...), draws them on
the host and moves them to the device once, as one flat buffer; ``params`` holds named views into
it, so the book's ``optimizer.update(net.params, grads)`` works and training can update every
parameter with a few whole-buffer operations.  Backpropagation writes the gradients into views
of a second flat buffer laid out the same way, which is what the optimizer steps on.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from typing import Any

from ..backends import Backend, get_backend, namespace_of
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
from .conv import Convolution, Flatten, Pooling
from .init import init_scale
from .losses import LOSSES, penalty, penalty_grad
from .state import Saveable

__all__ = ["Network", "MultiLayerNetExtend", "MultiLayerNet", "SimpleConvNet", "LAYERS",
           "evaluate", "chunk_bounds", "EVAL_CHUNK"]

#: the most samples per forward pass when evaluating (bounds memory on large sets); a bigger
#: set is cut into nearly equal chunks (:func:`chunk_bounds`): BLAS's products take about
#: twice as long per row in chunks of 2,048 rows as in chunks of 15,000 (2-core EPYC, OpenBLAS)
EVAL_CHUNK = 16384
#: the most activation values (per layer output) one evaluation chunk holds
_EVAL_VALUES = 2**25
#: layer names in a Network's list -> layer classes (each declares its parameters and builds
#: itself: ``Layer.declare`` / ``Layer.build``); a new layer is one entry here
LAYERS: dict[str, type[L.Layer]] = {
    "dense": L.Dense, "conv": Convolution, "pool": Pooling, "flatten": Flatten,
    "batchnorm": L.BatchNormalization, "dropout": L.Dropout, **L.ACTIVATIONS}


def chunk_bounds(n: int, most: int) -> list[tuple[int, int]]:
    """(start, stop) of the fewest nearly equal consecutive chunks of at most ``most`` rows
    that cover ``range(n)`` (no small last chunk for BLAS to run slowly on).

    Example:
        >>> chunk_bounds(10, 4)
        [(0, 3), (3, 6), (6, 10)]
    """
    k = max(1, -(-n // most))
    return [(n * i // k, n * (i + 1) // k) for i in range(k)]


def evaluate(network: Any, x: Any, t: Any, chunk: int | None = None) -> tuple[Any, Any]:
    """(mean loss without penalty, score) of a network on device data, in chunks (default: the
    network's ``eval_chunk``), in eval mode.

    The score is accuracy for classification networks and R^2 (pooled over outputs) for
    regression ones; both are 0-d device arrays (the caller decides when to sync).

    Example:
        >>> import numpy as np
        >>> net = MultiLayerNet(2, [4], 2, random_state=0)
        >>> loss, acc = evaluate(net, np.zeros((6, 2), dtype="float32"), np.zeros(6, dtype=int))
        >>> loss.shape, float(acc) in (0.0, 1.0)
        ((), True)
    """
    xp = network.xp
    n = x.shape[0]
    chunk = chunk or getattr(network, "eval_chunk", EVAL_CHUNK)
    loss_sum, score_sum = 0.0, 0.0
    classify = network.is_classifier
    for start, stop in chunk_bounds(n, chunk):
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



class Network(Saveable):
    """A network composed from a list of layer specifications, all its parameters views into
    one flat buffer; MLPs and CNNs alike, trained by the :class:`~xpnet.nn.trainer.Trainer`.

    Args:
        layers: the layers in order, each a name of :data:`LAYERS` ("relu", "flatten") or a
            pair (name, arguments): ``("dense", {"units": 100})``, ``("conv", {"filter_num":
            16, "filter_size": 3, "stride": 1, "pad": 1})``, ``("pool", {"pool_h": 2,
            "mode": "max"})``, ``("batchnorm", {"eps": 1e-5})``, ``("dropout", {"ratio":
            0.5})``.  The last layer's output is the scores the loss reads.
        input_shape: the shape of one sample: ``(D,)`` (or ``D``) for features, ``(C, H, W)``
            for images.  Images are accepted as (N, C, H, W) or as flat rows (N, C*H*W),
            reshaped on the device.
        loss: "softmax_cross_entropy" (classification), "mse" or "binary_cross_entropy".
        weight_init_std: the weight rule (:mod:`xpnet.nn.init`, the book's meanings) or a
            float standard deviation; fan_in is C*FH*FW for a convolution.
        weight_decay_lambda, l1: L2 (lambda/2 * sum W^2) and L1 (l1 * sum |W|) strengths over
            every weight ('W' parameters).
        backend, dtype, random_state: see :func:`xpnet.backend.get_backend`.

    Example:
        >>> import numpy as np
        >>> net = Network([("conv", {"filter_num": 4, "filter_size": 3, "pad": 1}), "relu",
        ...                ("pool", {"pool_h": 2}), "flatten", ("dense", {"units": 10})],
        ...               input_shape=(1, 8, 8), random_state=0)
        >>> net.param_shapes["W1"], net.param_shapes["W2"]
        ((4, 1, 3, 3), (64, 10))
        >>> net.predict(np.zeros((2, 64))).shape
        (2, 10)
    """

    def __init__(self, layers: list[Any], input_shape: int | tuple[int, ...] | list[int], *,
                 loss: str = "softmax_cross_entropy", weight_init_std: str | float = "relu",
                 weight_decay_lambda: float = 0, l1: float = 0.0, backend: Any = "numpy",
                 dtype: Any = "float32", random_state: int | None = None) -> None:
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        for d in shape:
            check_positive("input_shape", d, integer=True)
        self.input_shape = shape
        self.specs = [_spec(i, s) for i, s in enumerate(layers)]
        self.loss_name = check_choice("loss", loss, LOSSES)
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = check_positive("weight_decay_lambda", weight_decay_lambda,
                                                  allow_zero=True)
        self.l1 = check_positive("l1", l1, allow_zero=True)
        self.backend: Backend = get_backend(backend, dtype, random_state)
        self.xp = self.backend.xp
        self._build()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        """Declare every layer's parameters from its input shape, draw them on the host, pack
        them into one flat buffer moved once, then build the layers on views of it."""
        b, counts, shape = self.backend, {}, self.input_shape
        shapes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        host, keys, widest = [], [], 1
        for i, (kind, args) in enumerate(self.specs):
            try:
                shape, declared = LAYERS[kind].declare(shape, **args)
            except TypeError as err:
                raise TypeError(f"layers[{i}]=({kind!r}, {args}): {err}; see "
                                f"{LAYERS[kind].__name__}.declare") from None
            except ValueError as err:
                raise ValueError(f"layers[{i}]: {err}") from None
            own = {}
            for role, (pshape, init) in declared.items():
                counts[role] = counts.get(role, 0) + 1
                own[role] = key = f"{role}{counts[role]}"
                shapes[key] = pshape
                host.append(b.host_init(pshape, init if isinstance(init, str) else init_scale(
                    self.weight_init_std, *init, "weight_init_std", book=True)))
            keys.append(own)
            widest = max(widest, math.prod(shape))
        if len(shape) != 1:
            raise ValueError(f"layers: the last layer gives samples of shape {shape}; end "
                             f"with 'flatten' or 'dense' so the loss reads score vectors")
        self.output_size = shape[0]
        self.eval_chunk = max(1, min(EVAL_CHUNK, _EVAL_VALUES // widest))
        self.param_shapes = shapes
        self.weight_keys = tuple(k for k in shapes if k.startswith("W"))
        self.flat = b.flat_from_host(host)
        self.params: dict[str, Any] = {}
        self._bind_views()
        # backward writes every gradient into its view of this buffer (aligned with ``flat``)
        self.grad_flat = self.xp.zeros_like(self.flat)
        self._grad_views = self._views_of(self.grad_flat)
        #: what a layer built inside this network writes its gradients with (Layer.build)
        self.wiring = {"grad_buffers": self._grad_views, "ops": b.ops}
        self.layers: OrderedDict[str, L.Layer] = OrderedDict()
        labels: dict[str, int] = {}
        for i, ((kind, args), own) in enumerate(zip(self.specs, keys, strict=True)):
            layer = LAYERS[kind].build(self, own, i == 0, **args)
            label = layer.label or type(layer).__name__
            labels[label] = labels.get(label, 0) + 1
            self.layers[f"{label}{labels[label]}"] = layer
        self.last_layer = LOSSES[self.loss_name](self.xp, b.ops)
        self._steps_of: tuple[tuple[L.Layer, ...], list[Any]] | None = None
        self._steps()

    def _views_of(self, flat: Any) -> dict[str, Any]:
        """Views of a flat buffer, one per parameter key, shaped like the parameter."""
        views, offset = {}, 0
        for key, shape in self.param_shapes.items():
            n = math.prod(shape)
            views[key] = self.xp.reshape(flat[offset:offset + n], shape)
            offset += n
        return views

    def _bind_views(self) -> None:
        """Point ``params`` at views of ``flat`` (after building or after a reload)."""
        self.params.update(self._views_of(self.flat))
        self._views = dict(self.params)

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
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) > 2 and len(self.input_shape) > 1:  # images: checked as flat rows,
            # reshaped back in forward (an MLP's 3-D input gets check_features' "must be 2-D")
            if shape[1:] != self.input_shape:
                raise ValueError(f"{name} has shape {shape}; the network expects samples of "
                                 f"shape {self.input_shape} (or flat rows of "
                                 f"{math.prod(self.input_shape)} values)")
            x = namespace_of(x).reshape(x, (shape[0], -1))
        return check_features(x, self.backend, name, n_features=math.prod(self.input_shape))

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
        """Scores for a device batch ``x`` (no validation, no conversion); flat rows of
        images are reshaped to (N, C, H, W) first.  A Dense layer and the ReLU right after
        it run as one step (:meth:`Dense.forward_relu`), with the same result and the same
        state for backward."""
        if x.ndim != len(self.input_shape) + 1:
            x = self.xp.reshape(x, (-1, *self.input_shape))  # -1: the batch, maybe symbolic
        return self._run(self._steps(), x, train)

    @staticmethod
    def _run(steps: list[tuple[L.Layer, L.ReLU | None]], x: Any, train: bool) -> Any:
        for layer, relu in steps:
            if relu is None:
                x = layer.forward(x, train)
            else:
                x = relu.out = layer.forward_relu(x)  # what ReLU.backward reads
        return x

    def forward_unchecked(self, x: Any) -> tuple[Any, bool]:
        """(scores in eval mode, True) for device features ``x`` not yet checked for NaN and
        infinity, or (None, False) when ``x`` holds one: the check costs less than a read of
        ``x`` where the network starts with a Dense layer (prediction on 10,000 x 784 float32
        rows: 0.8-2.4 ms less on NumPy).

        A NaN or infinity in a row of ``x`` that meets a non-zero weight leaves that row of
        x W + b NaN or infinite (NaN times anything, infinity times a non-zero weight, and any
        sum holding them stay non-finite).  So when no row of W is all zeros, x W + b is
        tested in the pass that adds the bias (:meth:`Backend.affine_checked`), and ``x``
        itself is read only when that fails (a NaN/inf in ``x``; or finite values whose
        products overflow: then the scores are returned as :meth:`forward` gives them, with a
        RuntimeWarning).  Any other network reads ``x`` first.

        Example:
            >>> import numpy as np
            >>> net = Network([("dense", {"units": 3})], input_shape=2, random_state=0)
            >>> scores, finite = net.forward_unchecked(np.ones((4, 2), np.float32))
            >>> scores.shape, finite
            ((4, 3), True)
            >>> net.forward_unchecked(np.array([[1.0, np.nan]], np.float32))
            (None, False)
        """
        steps = self._steps()
        first, relu = steps[0]
        if x.ndim == len(self.input_shape) + 1 == 2 and type(first) is L.Dense \
                and first.reaches_every_input():
            z, finite = first.forward_checked(x, relu is not None)
            if not finite:
                if not self.backend.all_finite(x):
                    return None, False
                warnings.warn(f"the first layer's x W + b is not finite although x is "
                              f"(values too large for {self.backend.dtype_name}, or weights "
                              f"that are not): the scores hold inf or NaN; scale the inputs "
                              f"or use dtype='float64'", RuntimeWarning, stacklevel=2)
            if relu is not None:
                relu.out = z
            return self._run(steps[1:], z, False), True
        if not self.backend.all_finite(x):
            return None, False
        return self.forward(x, False), True

    def _steps(self) -> list[tuple[L.Layer, L.ReLU | None]]:
        """The forward as (layer, the ReLU it runs with or None) steps: a Dense followed by a
        ReLU that owns its input is one step.  Worked out again, with which activations own
        their input (those after a layer with a fresh output), whenever ``layers`` holds other
        layers than last time (the book's code may replace one)."""
        built = tuple(self.layers.values())
        if self._steps_of is not None and self._steps_of[0] == built:
            return self._steps_of[1]
        for before, layer in zip((None, *built[:-1]), built, strict=True):
            if isinstance(layer, L.Activation):  # after a fresh output: in place in eval mode
                layer.owns_input = before is not None and before.fresh_output
        steps, i = [], 0
        while i < len(built):
            layer, after = built[i], built[i + 1] if i + 1 < len(built) else None
            fused = (type(layer) is L.Dense and type(after) is L.ReLU and after.owns_input)
            steps.append((layer, after if fused else None))
            i += 2 if fused else 1
        self._steps_of = (built, steps)
        return steps

    @property
    def penalized(self) -> bool:
        """True when an L1 or L2 strength is set (the loss and gradients carry a penalty)."""
        return bool(self.l1 or self.weight_decay_lambda)

    def penalty(self) -> Any:
        """The L1/L2 penalty over all weights (0.0 when both strengths are zero)."""
        if not self.penalized:
            return 0.0
        total = 0.0
        for key in self.weight_keys:
            total = total + penalty(self.xp, self.params[key], self.l1, self.weight_decay_lambda)
        return total

    def forward_loss(self, x: Any, t: Any, train: bool = False) -> Any:
        """The mean loss plus penalty as a 0-d device array (no host sync)."""
        loss = self.last_layer.forward(self.forward(x, train), t)
        return loss + self.penalty() if self.penalized else loss

    def backward(self) -> dict[str, Any]:
        """Backpropagate the last ``forward_loss`` into ``grad_flat``; returns its views by key
        (penalty included).  The next backward overwrites them: copy what you keep, or use
        :meth:`gradient`."""
        dout = self.last_layer.backward(1.0)
        for layer, relu in reversed(self._steps()):  # the layers forward ran, in reverse
            if relu is not None:
                dout = relu.backward(dout)
            dout = layer.backward(dout)
        grads = self._grad_views
        if self.penalized:
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

    def accuracy(self, x: Any, t: Any, batch_size: int | None = None) -> float:
        """Fraction of samples whose highest score is the label (labels or one-hot), in
        chunks of ``batch_size`` (default: ``eval_chunk``)."""
        xd, td = self._xt(x, t)
        n = xd.shape[0]
        count = sum(self.correct_count(xd[start:stop, ...], td[start:stop, ...])
                    for start, stop in chunk_bounds(n, batch_size or self.eval_chunk))
        return self.backend.to_float(count) / n

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
        for bn, count in zip(layers, counts, strict=False):  # [] before any training
            bn.num_batches_tracked = count

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly) that rebuild this architecture."""
        return {"layers": [[kind, dict(args)] for kind, args in self.specs],
                "input_shape": list(self.input_shape), "loss": self.loss_name,
                "weight_init_std": self.weight_init_std,
                "weight_decay_lambda": self.weight_decay_lambda, "l1": self.l1,
                "dtype": self.backend.dtype_name}

    def __repr__(self) -> str:
        names = ", ".join(self.layers)
        return f"{type(self).__name__}({names}; backend={self.backend.spec!r})"


def _spec(i: int, spec: Any) -> tuple[str, dict[str, Any]]:
    """``layers[i]`` as (name, arguments): a name, or a (name, dict) pair (a list from JSON)."""
    kind, args = (spec, {}) if isinstance(spec, str) else (
        tuple(spec) if isinstance(spec, (tuple, list)) and len(spec) == 2 else (None, None))
    if not isinstance(kind, str) or not isinstance(args, dict):
        raise TypeError(f"layers[{i}]={spec!r} must be a layer name or a (name, arguments) "
                        f"pair, e.g. 'relu' or ('dense', {{'units': 100}})")
    return check_choice(f"layers[{i}]", kind, LAYERS), dict(args)


class MultiLayerNetExtend(Network):
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

    Example:
        >>> net = MultiLayerNetExtend(4, [8], 3, use_batchnorm=True, random_state=0)
        >>> list(net.param_shapes)
        ['W1', 'b1', 'gamma1', 'beta1', 'W2', 'b2']
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
        output_size = check_positive("output_size", output_size, integer=True)
        if isinstance(hidden_size_list, str):  # "100,100" is the command line's spelling
            raise TypeError(f"hidden_size_list={hidden_size_list!r} must be a list of layer "
                            f"widths; pass e.g. hidden_size_list=[100, 100]")
        self.hidden_size_list = check_hidden_sizes("hidden_size_list", hidden_size_list)
        self.hidden_layer_num = len(self.hidden_size_list)
        self.activation = check_choice("activation", activation, L.ACTIVATIONS)
        check_choice("loss", loss, LOSSES)
        self.use_dropout = bool(use_dropout)
        self.dropout_ratio = check_fraction("dropout_ratio", dropout_ratio)
        self.use_batchnorm = bool(use_batchnorm)
        self.batchnorm_running = check_choice("batchnorm_running", batchnorm_running,
                                              L.BatchNormalization.RUNNING)
        after = ([("batchnorm", {"eps": 1e-6, "running": self.batchnorm_running})]
                 if self.use_batchnorm else []) + [self.activation] + (
                 [("dropout", {"ratio": self.dropout_ratio})] if self.use_dropout else [])
        specs = [s for units in self.hidden_size_list for s in [("dense", {"units": units}),
                                                                *after]]
        super().__init__(specs + [("dense", {"units": output_size})], (self.input_size,),
                         loss=loss, weight_init_std=weight_init_std,
                         weight_decay_lambda=weight_decay_lambda, l1=l1, backend=backend,
                         dtype=dtype, random_state=random_state)

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
    """The book's plain MultiLayerNet: MultiLayerNetExtend without BatchNorm and Dropout.

    Example:
        >>> MultiLayerNet(4, [8], 3, random_state=0).param_shapes["W2"]
        (8, 3)
    """

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


class SimpleConvNet(Network):
    """The book's SimpleConvNet (chapter 7): conv - relu - pool - affine - relu - affine -
    softmax, with params 'W1' (filter_num, C, filter_size, filter_size), 'b1', 'W2', 'b2',
    'W3', 'b3' and the book's ``loss/predict/accuracy/gradient``.

    Args:
        input_dim: (C, H, W) of one image.
        conv_param: the convolution's 'filter_num', 'filter_size', 'pad', 'stride' (the
            book's defaults: 30, 5, 0, 1); the pooling is 2x2 with stride 2.
        hidden_size, output_size: units of the hidden Affine layer, and classes.
        weight_init_std: the weights' standard deviation (or a rule of :mod:`xpnet.nn.init`).
        backend, dtype, random_state: see :func:`xpnet.backend.get_backend`.

    Example:
        >>> net = SimpleConvNet(random_state=0)
        >>> net.params["W1"].shape, net.params["W2"].shape
        ((30, 1, 5, 5), (4320, 100))
    """

    CONV = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}

    def __init__(self, input_dim: tuple[int, ...] | list[int] = (1, 28, 28),
                 conv_param: dict[str, int] | None = None, hidden_size: int = 100,
                 output_size: int = 10, weight_init_std: str | float = 0.01, *,
                 backend: Any = "numpy", dtype: Any = "float32",
                 random_state: int | None = None) -> None:
        self.conv_param = {**self.CONV, **(conv_param or {})}
        self.hidden_size = check_positive("hidden_size", hidden_size, integer=True)
        check_positive("output_size", output_size, integer=True)
        super().__init__([("conv", self.conv_param), "relu",
                          ("pool", {"pool_h": 2, "pool_w": 2, "stride": 2}), "flatten",
                          ("dense", {"units": hidden_size}), "relu",
                          ("dense", {"units": output_size})], input_dim,
                         weight_init_std=weight_init_std, backend=backend, dtype=dtype,
                         random_state=random_state)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly) that rebuild this architecture."""
        return {"input_dim": list(self.input_shape), "conv_param": dict(self.conv_param),
                "hidden_size": self.hidden_size, "output_size": self.output_size,
                "weight_init_std": self.weight_init_std, "dtype": self.backend.dtype_name}
