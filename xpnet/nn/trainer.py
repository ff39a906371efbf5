"""The one training loop: epochs, History, early stopping, divergence handling, progress bar.

Every model trains through :class:`Trainer`: the book's networks, the seed models (whose
``fit`` builds a Trainer and brings its own epoch: the seeds' ``training``/``gen_batch``) and
the scikit-learn estimators.  Data is validated and moved to the device once.  An epoch of a
network draws a device-side permutation and visits every sample once, updating the one flat
parameter buffer; its loss stays on the device, and the epoch's numbers become Python floats
together, once per epoch (or once per ``check_every`` epochs): no per-step host sync.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from typing import Any

from ..backends.validation import check_choice, check_lengths, check_positive
from .network import EVAL_CHUNK, evaluate
from .optimizers import Optimizer, make_optimizer

__all__ = ["Trainer", "History", "DivergenceError", "EVAL_CHUNK", "report_divergence",
           "evaluate", "EXPLOSION_FACTOR", "EXPLOSION_FLOOR"]

#: A finite training loss above ``EXPLOSION_FACTOR * max(start, EXPLOSION_FLOOR)`` counts as a
#: divergence, like a NaN (``start``: the loss before this run's first step, i.e. its first
#: mini-batch, or its first epoch for a model with its own epoch).  A healthy run ends below its
#: start; cross-entropy starts near ln(classes), and no run that learns ever rises 10^4-fold
#: above max(start, 1), while an exploding one (SGD at lr=1e6: 1e26) passes it within an epoch.
EXPLOSION_FACTOR, EXPLOSION_FLOOR = 1e4, 1.0


class DivergenceError(FloatingPointError):
    """Training produced a NaN, infinite or exploding loss (raised with
    ``on_divergence="raise"``; see :data:`EXPLOSION_FACTOR`).

    Example:
        >>> import numpy as np
        >>> from xpnet import SingleLayer
        >>> x, y = np.array([[1e18], [-1e18]]), np.array([0, 1])
        >>> with np.errstate(all="ignore"):  # the overflow is the point here
        ...     SingleLayer(learning_rate=1e30, on_divergence="raise").fit(x, y, epochs=8)
        Traceback (most recent call last):
        ...
        xpnet.nn.trainer.DivergenceError: SingleLayer.fit diverged at epoch ...: the loss ...
    """


class History(dict):
    """The one record of training: curve name -> list of Python floats, one per epoch.

    Curves (see :attr:`CURVES`): ``loss`` (training loss, penalty included), ``val_loss``,
    ``train_acc``, ``test_acc``, ``val_acc`` (classifiers) or ``val_score`` (R^2 of
    regressors), and ``lr``.  Each is stored once; the book's ``train_loss_list``, the seed
    models' ``losses``/``val_losses`` and scikit-learn's ``loss_curve_``/``validation_scores_``
    are views of these lists.  ``best_epoch``, ``stopped_epoch`` (1-based) and ``diverged``
    say how training ended.

    Example:
        >>> h = History()
        >>> h.add(loss=0.7, val_acc=0.8)
        >>> h["loss"], h.panel("val_acc")
        ([0.7], 'accuracy')
    """

    #: curve name -> (panel it is drawn on, its label in a legend)
    CURVES = {"loss": ("loss", "training loss"), "val_loss": ("loss", "validation loss"),
              "train_acc": ("accuracy", "training accuracy"),
              "test_acc": ("accuracy", "test accuracy"),
              "val_acc": ("accuracy", "validation accuracy"),
              "val_score": ("score", "validation R^2"), "lr": ("learning rate", "learning rate")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.diverged = False
        #: the training loss of every iteration (mini-batch step) of the networks' epochs
        self.iter_loss: list[float] = []

    def add(self, **values: float) -> None:
        """Append one value to each named curve."""
        for key, value in values.items():
            self.setdefault(key, []).append(value)

    def curve(self, key: str) -> list[float]:
        """The list behind curve ``key`` (created empty), for views that append to it."""
        return self.setdefault(key, [])

    @property
    def val_scores(self) -> list[float]:
        """The validation score of each epoch: accuracy for classifiers, R^2 otherwise."""
        return self.get("val_acc", self.get("val_score", []))

    @classmethod
    def panel(cls, key: str) -> str:
        """The panel a curve is drawn on ("loss", "accuracy", "score", "learning rate")."""
        return cls.CURVES.get(key, ("loss" if "loss" in key else "score", key))[0]

    def to_config(self) -> dict[str, Any]:
        """JSON-ready form (for model files)."""
        return {"curves": {k: list(v) for k, v in self.items()}, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "diverged": self.diverged,
                "iter_loss": list(self.iter_loss)}

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> History:
        """The inverse of :meth:`to_config` (TypeError/ValueError for malformed input)."""
        history = cls()
        if config is None:
            return history
        curves = config["curves"]
        if not isinstance(curves, dict):
            raise TypeError(f"history curves must be a mapping, got {type(curves).__name__}")
        for key, values in curves.items():
            history[str(key)] = [float(v) for v in values]
        for key in ("best_epoch", "stopped_epoch"):
            value = config.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"history {key}={value!r} must be an integer or null")
            setattr(history, key, value)
        history.diverged = bool(config.get("diverged", False))
        history.iter_loss = [float(v) for v in config.get("iter_loss", [])]
        return history


class Trainer:
    """The book's Trainer, on every backend, with every epoch recorded.

    Args:
        network: a network (:class:`~xpnet.MultiLayerNetExtend`, :class:`~xpnet.MultiLayerNet`)
            or any model with the same training interface: ``backend``, ``xp``,
            ``is_classifier``, ``flat``/``flat_gradient(x, t)`` (or its own
            ``train_epoch(x, t)``), ``evaluate(x, t)``, ``get_state()``/``set_state()``,
            ``nonfinite_probe()`` and, for ``check_input=True``, ``_x``/``_t``; the book's
            networks and xpnet's seed models have them all.
        x_train, t_train: training data (host or the network's backend).
        x_test, t_test: data whose accuracy is recorded each epoch (``test_acc_list``).
        epochs, mini_batch_size: an epoch visits every training sample once.
        optimizer, optimizer_param: a name ("sgd", "momentum", "nesterov", "adagrad",
            "rmsprop", "adam", "adamw") and its arguments, or an Optimizer instance.
        evaluate_sample_num_per_epoch: evaluate accuracy on the first N samples only.
        verbose: show a tqdm progress bar and the final test accuracy.
        x_val, t_val: validation data, recorded each epoch (val_loss, val_acc) and watched by
            early stopping, which falls back to the test data when they are not given.
        patience: stop after this many epochs without an improvement of ``min_delta`` in
            ``monitor`` ("val_loss", "val_acc", "val_score" or "loss"); None disables it.
        restore_best_weights: with ``patience``, end with the best epoch's weights, however
            training ends (early stop, last epoch, divergence or KeyboardInterrupt).
        shuffle: draw a new permutation every epoch (else use the data's order).
        lr_schedule: callable ``(lr0, epoch, epochs) -> lr`` (see xpnet.optimizers).
        on_divergence: "warn" (default) or "raise" when the loss or the weights become
            NaN/inf, or the loss explodes (:data:`EXPLOSION_FACTOR`); the network keeps its
            last finite weights (or its best ones) and the optimizer's state is reset (its
            moments are NaN by then).  A KeyboardInterrupt first records the epochs completed.
        evaluate: record train/test accuracy each epoch (the book's behaviour).
        check_input: validate the data (shape, labels, NaN/inf; one scan of each array).
            ``False`` skips the scans for data that was just validated by the same rules
            (xpnet's estimators and seed models do this); lengths and widths are still checked.
        history: a :class:`History` to continue (the seed models' and estimators' curves
            carry over between calls); a new one by default.
        check_every: epochs between host syncs (the finiteness check); more than 1 only without
            ``patience``.  A divergence goes back to the weights of the last check.

    Example:
        >>> import numpy as np, xpnet
        >>> x, t = np.eye(4, dtype="float32"), np.arange(4) % 2
        >>> net = xpnet.MultiLayerNet(4, [8], 2, random_state=0)
        >>> history = xpnet.Trainer(net, x, t, epochs=3, verbose=False).train()
        >>> len(history["loss"])
        3
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
                 check_input: bool = True, history: History | None = None,
                 check_every: int = 1) -> None:
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
        self.check_every = check_positive("check_every", check_every, integer=True)
        if self.check_every > 1 and self.patience is not None:
            raise ValueError(f"check_every={check_every} needs patience=None: early stopping "
                             f"looks at every epoch")
        # validated and moved to the device once
        prepare = self._prepare if check_input else self._move
        self.x_train, self.t_train = prepare(x_train, t_train, "x_train", "t_train")
        self.x_test = self.t_test = self.x_val = self.t_val = None
        if x_test is not None:
            self.x_test, self.t_test = prepare(x_test, t_test, "x_test", "t_test")
        if x_val is not None:
            self.x_val, self.t_val = prepare(x_val, t_val, "x_val", "t_val")
        elif self.x_test is not None and self.patience is not None:
            # early stopping without validation data watches the test data; otherwise the
            # test data is recorded once, as test_acc (never again as val_*)
            self.x_val, self.t_val = self.x_test, self.t_test
        if self.patience is not None and self.monitor != "loss" and self.x_val is None:
            raise ValueError(f"monitor={self.monitor!r} needs validation data; pass x_val/t_val "
                             f"(or x_test/t_test), or use monitor='loss'")
        self.train_size = int(self.x_train.shape[0])
        self.iter_per_epoch = max(math.ceil(self.train_size / self.batch_size), 1)
        self.max_iter = self.epochs * self.iter_per_epoch
        self.current_epoch = self.current_iter = 0
        self.history = History() if history is None else history
        self._pending: list[tuple[dict[str, Any], Any, float]] = []  # epochs not synced yet
        self._open: tuple[Any, Any, int, Any] | None = None  # train_step's unfinished epoch
        self._iter_losses: Any = None
        # the last two checks: (weights, epoch, curve lengths, iteration count); None before
        self._good: tuple[Any, int, dict[str, int], int] | None = None
        self._previous: tuple[Any, int, dict[str, int], int] | None = None
        self._start_loss: float | None = None  # the explosion bound's reference

    # ------------------------------------------------------------------ the book's lists
    @property
    def train_loss_list(self) -> list[float]:
        """The training loss of each iteration, as in the book: a view of
        ``history.iter_loss`` (the per-epoch mean is ``history["loss"]``).  While a
        :meth:`train_step` epoch is unfinished it is a copy that includes that epoch's steps so
        far (read from the device then)."""
        if self._open is None:
            return self.history.iter_loss
        _, losses, i, _ = self._open
        return self.history.iter_loss + self.network.backend.to_numpy(losses[:i]).tolist()

    @property
    def train_acc_list(self) -> list[float]:
        """Training accuracy of each epoch (a view of ``history["train_acc"]``)."""
        return self.history.curve("train_acc")

    @property
    def test_acc_list(self) -> list[float]:
        """Test accuracy of each epoch (a view of ``history["test_acc"]``)."""
        return self.history.curve("test_acc")

    @property
    def val_loss_list(self) -> list[float]:
        """Validation loss of each epoch (a view of ``history["val_loss"]``)."""
        return self.history.curve("val_loss")

    # ------------------------------------------------------------------ inputs
    def _prepare(self, x: Any, t: Any, x_name: str, t_name: str) -> tuple[Any, Any]:
        check_lengths(x, t, x_name, t_name)
        return self.network._x(x, x_name), self.network._t(t, t_name)

    def _move(self, x: Any, t: Any, x_name: str, t_name: str) -> tuple[Any, Any]:
        """check_input=False: lengths and width only, then onto the device (no scans)."""
        check_lengths(x, t, x_name, t_name)
        net = self.network
        xd = net.backend.asarray(x, name=x_name)
        shape = tuple(getattr(net, "input_shape", ()))  # a network's sample shape
        if shape and tuple(xd.shape[1:]) not in (shape, (math.prod(shape),)):
            raise ValueError(f"{x_name} has shape {tuple(xd.shape)}; the network expects "
                             f"(n_samples, {', '.join(map(str, shape))}) or flat rows")
        if not hasattr(net, "_t"):  # a seed model: its targets are ready as they are
            return xd, net.backend.asarray(t, name=t_name)
        if net.is_classifier and getattr(t, "ndim", 1) == 1:
            return xd, net.backend.asarray(t, dtype=net.backend.index_dtype, name=t_name)
        return xd, net._t(t, t_name)

    # ------------------------------------------------------------------ one iteration, one epoch
    def _batch(self, i: int, order: Any) -> tuple[Any, Any]:
        """Mini-batch ``i`` of the epoch whose sample order is ``order`` (None: data order)."""
        x, t, bs, n = self.x_train, self.t_train, self.batch_size, self.train_size
        start, stop = i * bs, min((i + 1) * bs, n)
        if order is None:
            return x[start:stop, ...], t[start:stop, ...]
        idx = order[start:stop]
        xp = self.network.xp
        return xp.take(x, idx, axis=0), xp.take(t, idx, axis=0)

    def _step(self, xb: Any, tb: Any, losses: Any, i: int) -> Any:
        """One iteration: gradient of the batch, one flat optimizer step; the batch's loss
        (before the step) goes to ``losses[i]`` on the device.  Returns the loss."""
        net = self.network
        loss, grad = net.flat_gradient(xb, tb)
        self.optimizer.update({"flat": net.flat}, {"flat": grad})
        losses[i] = loss
        self.current_iter += 1
        return loss

    def _new_epoch(self) -> tuple[Any, Any]:
        """(sample order, a device buffer for the epoch's per-iteration losses)."""
        backend = self.network.backend
        order = backend.permutation(self.train_size) if self.shuffle else None
        return order, backend.xp.zeros((self.iter_per_epoch,), dtype=backend.dtype,
                                       device=backend.device)

    def _run_epoch(self) -> Any:
        """One pass over the training data; the mean training loss as a 0-d device array.

        A model with its own ``train_epoch`` (the seed models) runs it; a network runs its
        ``iter_per_epoch`` iterations here, keeping their losses in ``self._iter_losses``.
        """
        net = self.network
        own_epoch = getattr(net, "train_epoch", None)
        if own_epoch is not None:
            self._iter_losses = None
            return own_epoch(self.x_train, self.t_train)
        order, losses = self._new_epoch()
        loss_sum = 0.0
        for i in range(self.iter_per_epoch):
            xb, tb = self._batch(i, order)
            loss_sum = loss_sum + self._step(xb, tb, losses, i) * xb.shape[0]
        self._iter_losses = losses
        return loss_sum / self.train_size

    def train_step(self) -> None:
        """One iteration with the book's meaning: one mini-batch step, its loss appended to
        ``train_loss_list``.  After ``iter_per_epoch`` steps the epoch is recorded (its
        accuracies, History, the finiteness check) with one host sync; the losses reach the
        host then, or when ``train_loss_list`` is read.  A model with its own epoch (the
        seed models) runs one whole epoch per call.

        Example:
            >>> import numpy as np, xpnet
            >>> net = xpnet.MultiLayerNet(4, [8], 2, random_state=0)
            >>> trainer = xpnet.Trainer(net, np.eye(4), np.arange(4) % 2, epochs=1,
            ...                         mini_batch_size=2, verbose=False)
            >>> trainer.train_step(); trainer.current_iter, len(trainer.train_loss_list)
            (1, 1)
        """
        self._begin()
        if getattr(self.network, "train_epoch", None) is not None:
            self._close_epoch(self._run_epoch())
            return
        if self._open is None:
            self._open = (*self._new_epoch(), 0, 0.0)
        order, losses, i, loss_sum = self._open
        xb, tb = self._batch(i, order)
        loss_sum = loss_sum + self._step(xb, tb, losses, i) * xb.shape[0]
        self._open = (order, losses, i + 1, loss_sum)
        if i + 1 == self.iter_per_epoch:
            self._open = None
            self._iter_losses = losses
            self._close_epoch(loss_sum / self.train_size)

    def _close_epoch(self, loss: Any) -> list[dict[str, float]] | None:
        """Queue the finished epoch; every ``check_every`` epochs (and at the last one) sync
        and commit the queue.  Returns the committed records (None: not yet, or diverged)."""
        self.current_epoch += 1
        self._pending.append(({"loss": loss, **self._epoch_metrics()}, self._iter_losses,
                              self.optimizer.lr))
        if self.current_epoch % self.check_every and self.current_epoch < self.epochs:
            return None
        return self._commit()

    def _epoch_metrics(self) -> dict[str, Any]:
        """This epoch's evaluations as 0-d device arrays (no sync yet)."""
        net = self.network
        pending: dict[str, Any] = {}
        score_key = "val_acc" if net.is_classifier else "val_score"
        if self.x_val is not None:
            pending["val_loss"], pending[score_key] = net.evaluate(self.x_val, self.t_val)
        if self.evaluate and net.is_classifier:
            k = min(self.evaluate_sample_num_per_epoch or self.train_size, self.train_size)
            pending["train_acc"] = net.evaluate(self.x_train[:k, ...], self.t_train[:k, ...])[1]
            if self.x_test is not None:  # the whole test set unless a sample size is given
                kt = min(self.evaluate_sample_num_per_epoch or self.x_test.shape[0],
                         self.x_test.shape[0])
                pending["test_acc"] = net.evaluate(self.x_test[:kt, ...],
                                                   self.t_test[:kt, ...])[1]
        return pending

    def _commit(self) -> list[dict[str, float]] | None:
        """Bring the queued epochs' numbers to the host in one sync, with a NaN probe of the
        weights (an epoch's loss is computed before its last step: only the probe sees that
        step).  Finite and below the explosion bound: append them to the History and remember
        these weights as the last good ones.  Not: restore the last good weights, reset the
        optimizer, warn or raise, and return None.  A finite explosion in the first epoch
        after a check goes back one check further: that check's weights made that loss (an
        epoch's loss is computed before its steps; with one step per epoch, entirely)."""
        net, history = self.network, self.history
        queued = self._pending
        scalars = [v for record, _, _ in queued for v in record.values()]
        scalars.append(net.nonfinite_probe())
        floats = net.backend.host_floats(
            scalars, [losses for _, losses, _ in queued if losses is not None])
        self._pending = []  # cleared once synced: an interrupted sync is committed again
        records, offset = [], 0
        for record, _, _ in queued:
            records.append(dict(zip(record, floats[offset:offset + len(record)], strict=True)))
            offset += len(record)
        iterations = floats[len(scalars):]
        first = iterations[0] if iterations else records[0]["loss"]
        if self._start_loss is None and math.isfinite(first):
            self._start_loss = first
        bound = EXPLOSION_FACTOR * max(self._start_loss or 0.0, EXPLOSION_FLOOR)
        bad = next((i for i, r in enumerate(records) if not r["loss"] <= bound), None)
        if bad is not None or not math.isfinite(floats[len(scalars) - 1]):
            loss = None if bad is None else records[bad]["loss"]
            if bad == 0 and math.isfinite(loss) and self._previous is not None:
                self._good, self._previous = self._previous, None
            state, kept, lengths, n_iter = self._good
            net.set_state(state)
            for key, values in history.items():  # the curves back to that check
                del values[lengths.get(key, 0):]
            del history.iter_loss[n_iter:]
            self.optimizer.reset()
            history.diverged = True
            what = ("the weights became NaN/inf" if loss is None else
                    f"the loss became {loss}" if not math.isfinite(loss) else
                    f"the loss grew to {loss:g}, over {EXPLOSION_FACTOR:g} x "
                    f"max(its start {self._start_loss:g}, {EXPLOSION_FLOOR:g})")
            self._diverged(self.current_epoch if bad is None else
                           self.current_epoch - len(records) + bad + 1, what, kept)
            return None
        for record, (_, _, lr) in zip(records, queued, strict=True):
            history.add(**record, lr=lr)
        history.iter_loss.extend(iterations)
        self._previous, self._good = self._good, self._check()
        return records

    def _check(self) -> tuple[Any, int, dict[str, int], int]:
        """The weights and History now: what a divergence goes back to."""
        history = self.history
        return (self.network.get_state(), self.current_epoch,
                {k: len(v) for k, v in history.items()}, len(history.iter_loss))

    def _begin(self) -> None:
        """Before the first step: rebind the book's ``params`` and bind the optimizer."""
        if self._good is not None:
            return
        net = self.network
        if hasattr(net, "params_are_bound") and not net.params_are_bound():
            net.rebind()
        bind = getattr(self.optimizer, "bind", None)
        if bind is not None:
            bind(net.backend)
        # a network's steps; a model with its own epoch (the seed models) takes no compiled
        # kernels, so it makes the backend load none
        if getattr(net, "train_epoch", None) is None:
            net.backend.expect_steps(self.max_iter)
        self._good, self._previous = self._check(), None

    # ------------------------------------------------------------------ the loop
    def train(self) -> History:
        """Train for ``epochs`` (or until early stopping); returns the History."""
        net, history = self.network, self.history
        history.best_epoch = history.stopped_epoch = None  # how THIS call ends
        history.diverged = False
        self._good = None
        self._begin()
        lr0 = self.optimizer.lr
        best_value, best_state, wait = math.inf, None, 0
        monitor = self.monitor
        if monitor in ("val_acc", "val_score"):  # the validation score, whichever it is
            monitor = "val_acc" if net.is_classifier else "val_score"
        sign = 1.0 if monitor in ("loss", "val_loss") else -1.0
        bar = _progress(self.epochs, self.verbose)
        try:
            for epoch in bar:
                if self.lr_schedule is not None:
                    self.optimizer.lr = float(self.lr_schedule(lr0, epoch, self.epochs))
                records = self._close_epoch(self._run_epoch())
                if history.diverged:
                    if (history.best_epoch or 0) > self._good[1]:  # undone with its check
                        best_state = history.best_epoch = None
                    break
                if records is None:
                    continue
                if self.verbose:
                    bar.set_postfix({k: f"{v:.4f}" for k, v in records[-1].items()})
                if self.patience is None:
                    continue
                value = sign * records[-1][monitor]
                if value < best_value - self.min_delta:
                    best_value, wait = value, 0
                    history.best_epoch = self.current_epoch
                    if self.restore_best_weights:
                        best_state = self._good[0]
                else:
                    wait += 1
                    if wait >= self.patience:
                        history.stopped_epoch = self.current_epoch
                        break
        except KeyboardInterrupt:  # record the epochs completed (a NaN among them: rolled back)
            if self._pending:
                with contextlib.suppress(DivergenceError):
                    self._commit()
            raise
        finally:
            if self.verbose:
                bar.close()
            self.optimizer.lr = lr0
            if best_state is not None:
                net.set_state(best_state)
        if self.verbose and self.x_test is not None and self.evaluate and net.is_classifier:
            print(f"test acc: {net.accuracy(self.x_test, self.t_test):.4f}")
        return history

    def _diverged(self, epoch: int, what: str, kept: int) -> None:
        net = self.network
        kept_text = ("its initial weights" if kept == 0 else f"the weights after epoch {kept}")
        lr_text = f"{getattr(net, 'lr_name', 'lr')}={self.optimizer.lr:g}"
        report_divergence(f"{getattr(net, 'fit_name', 'training')} diverged at epoch {epoch}: "
                          f"{what}; the model keeps {kept_text} (the last finite ones "
                          f"checked).", lr_text, self.on_divergence, stacklevel=5)


def report_divergence(what: str, lr_text: str, on_divergence: str, stacklevel: int) -> None:
    """Warn (or raise :class:`DivergenceError`) with ``what`` plus the hint that fixes it.

    Example:
        >>> report_divergence("Diverged.", "lr=10", "raise", stacklevel=2)
        Traceback (most recent call last):
        ...
        xpnet.nn.trainer.DivergenceError: Diverged. Lower the learning rate (lr=10) or scale ...
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     report_divergence("Diverged.", "lr=10", "warn", stacklevel=2)
        >>> caught[0].category.__name__
        'RuntimeWarning'
    """
    msg = (f"{what} Lower the learning rate ({lr_text}) or scale the inputs (e.g. sklearn's "
           f"StandardScaler)")
    if on_divergence == "raise":
        raise DivergenceError(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=stacklevel)


def _progress(epochs: int, verbose: bool) -> Any:
    """The epochs, through a tqdm progress bar when ``verbose`` (tqdm is imported only then:
    in a notebook without ipywidgets, tqdm.auto warns on import)."""
    if not verbose:
        return range(epochs)
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(range(epochs), desc="train", unit="epoch", leave=True)
