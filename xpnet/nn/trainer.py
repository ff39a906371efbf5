"""Training loop: mini-batch epochs, History, early stopping, divergence, progress bar.

Data is validated and moved to the device once.  Each epoch draws a device-side permutation and
visits every sample exactly once; the loss is summed on the device and becomes a Python float
once per epoch (no per-step host sync).  All parameters are updated by the optimizer as one flat
buffer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from ..backends.validation import check_choice, check_lengths, check_positive
from .network import MultiLayerNetExtend
from .optimizers import Optimizer, make_optimizer

__all__ = ["Trainer", "History", "DivergenceError", "EVAL_CHUNK", "report_divergence"]

#: samples per forward pass when evaluating (bounds memory on large sets)
EVAL_CHUNK = 8192


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss (raised with ``on_divergence="raise"``)."""


class History(dict):
    """Per-epoch curves: ``loss``, ``val_loss``, ``train_acc``, ``val_acc``/``test_acc``,
    ``val_score``, ``lr`` (lists of Python floats), plus ``best_epoch`` and ``stopped_epoch``."""

    def __init__(self) -> None:
        super().__init__()
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.diverged = False

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.setdefault(key, []).append(value)


def evaluate(network: MultiLayerNetExtend, x: Any, t: Any, chunk: int = EVAL_CHUNK
             ) -> tuple[Any, Any]:
    """(mean loss without penalty, score) on device data, in chunks, in eval mode.

    The score is accuracy for classification networks and R^2 for regression ones; both are
    0-d device arrays (the caller decides when to sync).
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


class Trainer:
    """The book's Trainer, on every backend, with every epoch recorded.

    Args:
        network: a :class:`~xpnet.MultiLayerNetExtend` (or any object with the book's
            ``params``/``gradient``/``loss``/``accuracy``).
        x_train, t_train: training data (host or the network's backend).
        x_test, t_test: data whose accuracy is recorded each epoch (``test_acc_list``).
        epochs, mini_batch_size: an epoch visits every training sample once.
        optimizer, optimizer_param: a name ("sgd", "momentum", "nesterov", "adagrad",
            "rmsprop", "adam", "adamw") and its arguments, or an Optimizer instance.
        evaluate_sample_num_per_epoch: evaluate accuracy on the first N samples only.
        verbose: show a tqdm progress bar and the final test accuracy.
        x_val, t_val: validation data for early stopping (defaults to the test data).
        patience: stop after this many epochs without an improvement of ``min_delta`` in
            ``monitor`` ("val_loss", "val_acc", "val_score" or "loss"); None disables it.
        restore_best_weights: with ``patience``, end with the best epoch's weights, however
            training ends (early stop, last epoch, divergence or KeyboardInterrupt).
        shuffle: draw a new permutation every epoch (else use the data's order).
        lr_schedule: callable ``(lr0, epoch, epochs) -> lr`` (see xpnet.optimizers).
        on_divergence: "warn" (default) or "raise" when the loss becomes NaN/inf; the
            network keeps its last finite weights (or its best ones with early stopping).
        evaluate: record train/test accuracy each epoch (the book's behaviour).
        check_input: validate the data (shape, labels, NaN/inf; one scan of each array).
            ``False`` skips the scans for data that was just validated by the same rules
            (xpnet's estimators do this); only the lengths and widths are still checked.
    """

    def __init__(self, network: Any, x_train: Any, t_train: Any, x_test: Any = None,
                 t_test: Any = None, epochs: int = 20, mini_batch_size: int = 100,
                 optimizer: str | Optimizer = "SGD", optimizer_param: dict | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, verbose: bool = True, *,
                 x_val: Any = None, t_val: Any = None, patience: int | None = None,
                 min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best_weights: bool = True, shuffle: bool = True,
                 lr_schedule: Callable[[float, int, int], float] | None = None,
                 on_divergence: str = "warn", evaluate: bool = True,
                 check_input: bool = True) -> None:
        self.network = network
        self.epochs = check_positive("epochs", epochs, integer=True)
        self.batch_size = check_positive("mini_batch_size", mini_batch_size, integer=True)
        if optimizer_param is None:
            optimizer_param = {"lr": 0.01}
        self.optimizer = make_optimizer(optimizer, **optimizer_param)
        self.evaluate_sample_num_per_epoch = (
            None if evaluate_sample_num_per_epoch is None else
            check_positive("evaluate_sample_num_per_epoch", evaluate_sample_num_per_epoch,
                           integer=True))
        self.verbose = bool(verbose)
        self.patience = (None if patience is None else
                         check_positive("patience", patience, integer=True))
        self.min_delta = check_positive("min_delta", min_delta, allow_zero=True)
        self.monitor = check_choice("monitor", monitor, ("val_loss", "val_acc", "val_score",
                                                          "loss"))
        self.restore_best_weights = bool(restore_best_weights)
        self.shuffle = bool(shuffle)
        self.lr_schedule = lr_schedule
        self.on_divergence = check_choice("on_divergence", on_divergence, ("warn", "raise"))
        self.evaluate = bool(evaluate)
        # validated and moved to the device once
        prepare = self._prepare if check_input else self._move
        self.x_train, self.t_train = prepare(x_train, t_train, "x_train", "t_train")
        self.x_test = self.t_test = self.x_val = self.t_val = None
        if x_test is not None:
            self.x_test, self.t_test = prepare(x_test, t_test, "x_test", "t_test")
        if x_val is not None:
            self.x_val, self.t_val = prepare(x_val, t_val, "x_val", "t_val")
        elif self.x_test is not None:
            self.x_val, self.t_val = self.x_test, self.t_test
        if self.patience is not None and self.monitor != "loss" and self.x_val is None:
            raise ValueError(f"monitor={self.monitor!r} needs validation data; pass x_val/t_val "
                             f"(or x_test/t_test), or use monitor='loss'")
        self.train_size = int(self.x_train.shape[0])
        self.iter_per_epoch = max(math.ceil(self.train_size / self.batch_size), 1)
        self.max_iter = self.epochs * self.iter_per_epoch
        self.current_epoch = 0
        self.history = History()
        self.train_loss_list: list[float] = []
        self.train_acc_list: list[float] = []
        self.test_acc_list: list[float] = []
        self.val_loss_list: list[float] = []

    def _prepare(self, x: Any, t: Any, x_name: str, t_name: str) -> tuple[Any, Any]:
        check_lengths(x, t, x_name, t_name)
        return self.network._x(x, x_name), self.network._t(t, t_name)

    def _move(self, x: Any, t: Any, x_name: str, t_name: str) -> tuple[Any, Any]:
        """check_input=False: lengths and width only, then onto the device (no scans)."""
        check_lengths(x, t, x_name, t_name)
        net = self.network
        xd = net.backend.asarray(x, name=x_name)
        if xd.ndim != 2 or xd.shape[1] != net.input_size:
            raise ValueError(f"{x_name} has shape {tuple(xd.shape)}; the network expects "
                             f"(n_samples, {net.input_size})")
        if net.is_classifier and getattr(t, "ndim", 1) == 1:
            return xd, net.backend.asarray(t, dtype=net.backend.index_dtype, name=t_name)
        return xd, net._t(t, t_name)

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(self) -> float:
        """One pass over the training data; the mean training loss as a Python float."""
        net, opt, backend = self.network, self.optimizer, self.network.backend
        xp, x, t, bs, n = net.xp, self.x_train, self.t_train, self.batch_size, self.train_size
        params = {"flat": net.flat}
        order = backend.permutation(n) if self.shuffle else None
        loss_sum = 0.0
        for start in range(0, n, bs):
            if order is None:
                xb, tb = x[start:min(start + bs, n), ...], t[start:min(start + bs, n), ...]
            else:
                idx = order[start:min(start + bs, n)]
                xb, tb = xp.take(x, idx, axis=0), xp.take(t, idx, axis=0)
            loss, grad = net.flat_gradient(xb, tb)
            opt.update(params, {"flat": grad})
            loss_sum = loss_sum + loss * xb.shape[0]
        # + 0 * max|w|: NaN once a weight is NaN/inf, so the same sync also catches weights that
        # the last step blew up (the loss above was computed before that step)
        return backend.to_float(loss_sum + 0.0 * xp.max(xp.abs(net.flat))) / n

    # ------------------------------------------------------------------ the loop
    def train(self) -> History:
        """Train for ``epochs`` (or until early stopping); returns the History."""
        net = self.network
        if not net.params_are_bound():
            net.rebind()
        lr0 = self.optimizer.lr
        best_value = math.inf
        best_state = None
        last_good = net.get_state()
        wait = 0
        sign = -1.0 if self.monitor in ("val_acc", "val_score") else 1.0
        bar = _progress(self.epochs, self.verbose)
        try:
            for epoch in bar:
                if self.lr_schedule is not None:
                    self.optimizer.lr = float(self.lr_schedule(lr0, epoch, self.epochs))
                loss = self._run_epoch()
                self.current_epoch = epoch + 1
                if not math.isfinite(loss):
                    net.set_state(last_good)
                    self.history.diverged = True
                    self._diverged(epoch + 1, loss)
                    break
                last_good = net.get_state()
                record = self._record(loss)
                if self.verbose:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in record.items()})
                if self.patience is None:
                    continue
                value = sign * record[self.monitor]
                if value < best_value - self.min_delta:
                    best_value, wait = value, 0
                    self.history.best_epoch = epoch + 1
                    if self.restore_best_weights:
                        best_state = last_good
                else:
                    wait += 1
                    if wait >= self.patience:
                        self.history.stopped_epoch = epoch + 1
                        break
        finally:
            bar.close()
            self.optimizer.lr = lr0
            if best_state is not None:
                net.set_state(best_state)
        if self.verbose and self.x_test is not None and self.evaluate:
            print(f"test acc: {net.accuracy(self.x_test, self.t_test):.4f}")
        return self.history

    def _record(self, loss: float) -> dict[str, float]:
        """Evaluate once per epoch (one host sync for all metrics) and append to the lists."""
        net, backend = self.network, self.network.backend
        pending: dict[str, Any] = {}
        if self.x_val is not None:
            pending["val_loss"], pending["val_score"] = evaluate(net, self.x_val, self.t_val)
        classify = net.is_classifier
        if self.evaluate and classify:
            k = self.evaluate_sample_num_per_epoch
            k = min(k or self.train_size, self.train_size)
            xs, ts = self.x_train[:k, ...], self.t_train[:k, ...]
            pending["train_acc"] = evaluate(net, xs, ts)[1]
            if self.x_test is not None:
                kt = min(k, self.x_test.shape[0])
                xt, tt = self.x_test[:kt, ...], self.t_test[:kt, ...]
                pending["test_acc"] = evaluate(net, xt, tt)[1]
        record = {"loss": loss}
        if pending:
            values = backend.to_numpy(net.xp.stack([net.xp.reshape(
                net.xp.asarray(v, dtype=backend.dtype, device=backend.device), ()) for v in
                pending.values()]))
            record.update({k: float(v) for k, v in zip(pending, values, strict=True)})
        if "val_score" in record and classify:
            record["val_acc"] = record["val_score"]
        self.history.add(**record, lr=self.optimizer.lr)
        self.train_loss_list.append(loss)
        if "train_acc" in record:
            self.train_acc_list.append(record["train_acc"])
        if "test_acc" in record:
            self.test_acc_list.append(record["test_acc"])
        if "val_loss" in record:
            self.val_loss_list.append(record["val_loss"])
        return record

    def _diverged(self, epoch: int, loss: float) -> None:
        report_divergence(f"training diverged at epoch {epoch}: the loss became {loss}; the "
                          f"network keeps its last finite weights.", f"lr={self.optimizer.lr:g}",
                          self.on_divergence, stacklevel=4)


def report_divergence(what: str, lr_text: str, on_divergence: str, stacklevel: int) -> None:
    """Warn (or raise :class:`DivergenceError`) with ``what`` plus the hint that fixes it."""
    msg = (f"{what} Lower the learning rate ({lr_text}) or scale the inputs (e.g. sklearn's "
           f"StandardScaler)")
    if on_divergence == "raise":
        raise DivergenceError(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=stacklevel)


class _NoBar:
    def __init__(self, n: int) -> None:
        self._it = range(n)

    def __iter__(self):  # noqa: ANN204
        return iter(self._it)

    def set_postfix(self, *a: Any, **k: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(epochs: int, verbose: bool) -> Any:
    if not verbose:
        return _NoBar(epochs)
    from tqdm.auto import tqdm  # noqa: PLC0415 - only when a bar is shown

    return tqdm(range(epochs), desc="train", unit="epoch", leave=True)
