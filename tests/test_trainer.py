"""Trainer: convergence, one visit per sample per epoch, one record per epoch, early stopping
with restored weights (also on KeyboardInterrupt), divergence, schedules and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _gradcheck import one_thread  # noqa: F401 - autouse fixture

import xpnet
from xpnet.optimizers import StepLR
from xpnet.trainer import DivergenceError, evaluate


def _spy_epochs(trainer, net):
    """Snapshot ``net.flat`` (on the host) after every epoch the trainer runs."""
    snapshots = []
    original = trainer._run_epoch

    def run_epoch():
        loss = original()
        snapshots.append(net.backend.to_numpy(net.flat).copy())
        return loss

    trainer._run_epoch = run_epoch
    return snapshots


def _blobs(rng, n, d=5, classes=3):
    t = np.arange(n) % classes
    x = rng.normal(size=(n, d)) + 2.0 * np.eye(classes, d)[t]
    return x.astype(np.float32), t


# ---------------------------------------------------------------------- convergence
def test_converges_on_digits_with_adam_and_batchnorm(backend_name, digits):
    net = xpnet.MultiLayerNetExtend(64, [64, 64], 10, use_batchnorm=True, backend=backend_name,
                                    random_state=0)
    trainer = xpnet.Trainer(net, digits.x_train, digits.y_train, digits.x_test, digits.y_test,
                            epochs=15, mini_batch_size=64, optimizer="adam",
                            optimizer_param={"lr": 0.01}, verbose=False)
    history = trainer.train()
    assert trainer.test_acc_list[-1] >= 0.95
    assert net.accuracy(digits.x_test, digits.y_test) == pytest.approx(
        trainer.test_acc_list[-1], abs=1e-6)
    assert len(history["loss"]) == 15 and all(type(v) is float for v in history["loss"])
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["test_acc"] == trainer.test_acc_list


# ---------------------------------------------------------------------- epochs
def test_each_epoch_visits_every_sample_exactly_once(backend_name, rng):
    x, t = _blobs(rng, 37)  # 37 = 4 * 8 + 5: a short last batch
    x[:, 0] = np.arange(37)  # every row unique, and its label recoverable from it
    net = xpnet.MultiLayerNetExtend(5, [4], 3, backend=backend_name, random_state=0)
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original = net.flat_gradient

    def spy(xb, tb):
        seen.append((net.backend.to_numpy(xb).copy(), net.backend.to_numpy(tb).copy()))
        return original(xb, tb)

    net.flat_gradient = spy
    epochs, batch = 3, 8
    trainer = xpnet.Trainer(net, x, t, epochs=epochs, mini_batch_size=batch, optimizer="sgd",
                            verbose=False)
    trainer.train()
    per_epoch = math.ceil(37 / batch)
    assert len(seen) == epochs * per_epoch
    orders = []
    for e in range(epochs):
        calls = seen[e * per_epoch:(e + 1) * per_epoch]
        assert [len(xb) for xb, _ in calls] == [8, 8, 8, 8, 5]
        rows = np.concatenate([xb for xb, _ in calls])
        labels = np.concatenate([tb for _, tb in calls])
        order = rows[:, 0].astype(int)
        np.testing.assert_array_equal(np.sort(order), np.arange(37))  # the multiset of rows
        np.testing.assert_array_equal(rows, x[order])
        np.testing.assert_array_equal(labels, t[order])  # labels travel with their rows
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])  # a new permutation each epoch
    assert not np.array_equal(orders[0], np.arange(37))


def test_shuffle_false_keeps_the_data_order(rng):
    x, t = _blobs(rng, 10)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    seen = []
    original = net.flat_gradient
    net.flat_gradient = lambda xb, tb: (seen.append(np.array(xb)), original(xb, tb))[1]
    xpnet.Trainer(net, x, t, epochs=2, mini_batch_size=4, shuffle=False, verbose=False).train()
    np.testing.assert_array_equal(np.concatenate(seen), np.concatenate([x, x]))


def test_one_record_per_epoch_with_1347_samples_and_batch_100(rng):
    """The book's Trainer recorded one epoch in 30 here (a float iter_per_epoch)."""
    x, t = _blobs(rng, 1347)
    xt, tt = _blobs(rng, 50)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    trainer = xpnet.Trainer(net, x, t, xt, tt, epochs=4, mini_batch_size=100, verbose=False)
    trainer.train()
    assert trainer.iter_per_epoch == 14
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 4
    assert len(trainer.train_loss_list) == 4 * 14 == trainer.current_iter  # one per iteration
    assert len(trainer.history["loss"]) == len(trainer.history["lr"]) == 4
    for values in (trainer.train_acc_list, trainer.test_acc_list, trainer.train_loss_list):
        assert all(type(v) is float for v in values)
    assert trainer.train_acc_list[-1] == pytest.approx(net.accuracy(x, t), abs=1e-6)
    assert trainer.test_acc_list[-1] == pytest.approx(net.accuracy(xt, tt), abs=1e-6)


def test_evaluate_sample_num_per_epoch(rng):
    x, t = _blobs(rng, 60)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    trainer = xpnet.Trainer(net, x, t, x, t, epochs=1, mini_batch_size=20, verbose=False,
                            evaluate_sample_num_per_epoch=7)
    trainer.train()
    assert trainer.train_acc_list[0] == pytest.approx(net.accuracy(x[:7], t[:7]), abs=1e-6)


def test_verbose_prints_the_test_accuracy(rng, capsys):
    x, t = _blobs(rng, 30)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    xpnet.Trainer(net, x, t, x, t, epochs=2, mini_batch_size=10, verbose=True).train()
    assert "test acc" in capsys.readouterr().out


# ---------------------------------------------------------------------- early stopping
def _overfitting_setup(backend_name, digits, **kw):
    net = xpnet.MultiLayerNetExtend(64, [100, 100], 10, backend=backend_name, random_state=0,
                                    **kw)
    trainer = xpnet.Trainer(net, digits.x_train[:60], digits.y_train[:60],
                            x_val=digits.x_val, t_val=digits.y_val, epochs=100,
                            mini_batch_size=20, optimizer="adam", optimizer_param={"lr": 0.01},
                            verbose=False, patience=3, monitor="val_loss")
    return net, trainer


def test_early_stopping_restores_the_best_weights(backend_name, digits):
    net, trainer = _overfitting_setup(backend_name, digits, use_batchnorm=True)
    snapshots = _spy_epochs(trainer, net)
    history = trainer.train()
    val = history["val_loss"]
    assert history.stopped_epoch is not None and history.stopped_epoch < 100
    assert len(val) == history.stopped_epoch == len(snapshots)
    assert history.best_epoch == int(np.argmin(val)) + 1
    assert history.stopped_epoch == history.best_epoch + 3  # patience
    np.testing.assert_array_equal(net.backend.to_numpy(net.flat),
                                  snapshots[history.best_epoch - 1])
    assert not np.array_equal(snapshots[-1], snapshots[history.best_epoch - 1])
    # the restored network (weights AND BatchNorm running statistics) scores the best val loss
    loss, _ = evaluate(net, trainer.x_val, trainer.t_val)
    assert net.backend.to_float(loss) == pytest.approx(min(val), rel=1e-5)
    assert min(val) < val[-1]


def test_without_restore_keeps_the_last_weights(digits):
    net, trainer = _overfitting_setup("numpy", digits)
    trainer.restore_best_weights = False
    snapshots = _spy_epochs(trainer, net)
    history = trainer.train()
    assert history.stopped_epoch is not None
    np.testing.assert_array_equal(net.flat, snapshots[-1])


def test_keyboard_interrupt_restores_the_best_weights(backend_name, digits):
    net, trainer = _overfitting_setup(backend_name, digits, use_batchnorm=True)
    trainer.patience = 50
    snapshots = []
    original = trainer._run_epoch

    def run_epoch():
        loss = original()  # epoch 3 changes the weights, then the user presses Ctrl-C
        snapshots.append(net.backend.to_numpy(net.flat).copy())
        if len(snapshots) == 3:
            raise KeyboardInterrupt
        return loss

    trainer._run_epoch = run_epoch
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    history = trainer.history
    assert len(history["val_loss"]) == 2 and history.best_epoch in (1, 2)
    np.testing.assert_array_equal(net.backend.to_numpy(net.flat),
                                  snapshots[history.best_epoch - 1])
    loss, _ = evaluate(net, trainer.x_val, trainer.t_val)
    assert net.backend.to_float(loss) == pytest.approx(min(history["val_loss"]), rel=1e-5)


def test_patience_needs_validation_data(rng):
    x, t = _blobs(rng, 20)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    with pytest.raises(ValueError, match="x_val"):
        xpnet.Trainer(net, x, t, patience=2, monitor="val_loss", verbose=False)
    xpnet.Trainer(net, x, t, patience=2, monitor="loss", epochs=3, verbose=False).train()


# ---------------------------------------------------------------------- divergence
def _diverging(backend_name, digits, **kw):
    # unscaled pixels (0..16) and lr=1e6: BatchNorm + ReLU + SGD overflows in the first epoch
    net = xpnet.MultiLayerNetExtend(64, [32], 10, use_batchnorm=True, backend=backend_name,
                                    random_state=0)
    trainer = xpnet.Trainer(net, digits.x_train * 16.0, digits.y_train, epochs=5,
                            mini_batch_size=64, optimizer="sgd", optimizer_param={"lr": 1e6},
                            verbose=False, **kw)
    return net, trainer


def test_divergence_warns_and_keeps_finite_weights(backend_name, digits):
    net, trainer = _diverging(backend_name, digits)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            history = trainer.train()
    ours = [w for w in caught if "diverged" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    msg = str(ours[0].message)
    assert f"epoch {trainer.current_epoch}" in msg
    assert "learning rate" in msg.lower()
    assert history.diverged and len(history["loss"] if "loss" in history else []) < 5
    assert np.all(np.isfinite(net.backend.to_numpy(net.flat)))
    assert np.all(np.isfinite(net.predict(digits.x_test)))


def test_divergence_raise(backend_name, digits):
    net, trainer = _diverging(backend_name, digits, on_divergence="raise")
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match="epoch"):
        trainer.train()
    assert issubclass(DivergenceError, FloatingPointError)
    assert np.all(np.isfinite(net.backend.to_numpy(net.flat)))


# ---------------------------------------------------------------------- options and errors
def test_unknown_optimizer_names_the_argument(rng):
    x, t = _blobs(rng, 20)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    with pytest.raises(ValueError, match="optimizer"):
        xpnet.Trainer(net, x, t, optimizer="adamax", verbose=False)
    with pytest.raises(ValueError, match="lr"):
        xpnet.Trainer(net, x, t, optimizer="sgd", optimizer_param={"lr": 0}, verbose=False)


@pytest.mark.parametrize("kw, arg", [
    ({"epochs": 0}, "epochs"), ({"mini_batch_size": 0}, "mini_batch_size"),
    ({"monitor": "accuracy"}, "monitor"), ({"on_divergence": "ignore"}, "on_divergence"),
])
def test_trainer_argument_errors(rng, kw, arg):
    x, t = _blobs(rng, 20)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    with pytest.raises(ValueError, match=arg):
        xpnet.Trainer(net, x, t, verbose=False, **kw)


def test_trainer_data_errors(rng):
    x, t = _blobs(rng, 20)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, random_state=0)
    with pytest.raises(ValueError, match="x_train"):
        xpnet.Trainer(net, x, t[:10], verbose=False)
    with pytest.raises(ValueError, match="features"):
        xpnet.Trainer(net, x[:, :4], t, verbose=False)
    with pytest.raises(ValueError, match="output_size"):
        xpnet.Trainer(net, x, t + 1, verbose=False)


def test_lr_schedule_is_applied(backend_name, rng):
    x, t = _blobs(rng, 40)
    net = xpnet.MultiLayerNetExtend(5, [4], 3, backend=backend_name, random_state=0)
    trainer = xpnet.Trainer(net, x, t, epochs=5, mini_batch_size=10, optimizer="sgd",
                            optimizer_param={"lr": 0.1}, lr_schedule=StepLR(2, 0.5),
                            verbose=False)
    history = trainer.train()
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    assert trainer.optimizer.lr == 0.1  # restored afterwards

    # the scheduled rate is what the steps use: lr -> ~0 after the first epoch freezes weights
    net = xpnet.MultiLayerNetExtend(5, [4], 3, backend=backend_name, random_state=0)
    trainer = xpnet.Trainer(net, x, t, epochs=3, mini_batch_size=10, optimizer="sgd",
                            optimizer_param={"lr": 0.1}, verbose=False,
                            lr_schedule=lambda lr0, epoch, epochs: lr0 if epoch == 0 else 1e-30)
    snapshots = _spy_epochs(trainer, net)
    trainer.train()
    np.testing.assert_array_equal(snapshots[0], snapshots[2])
    assert not np.array_equal(snapshots[0], net.backend.to_numpy(
        xpnet.MultiLayerNetExtend(5, [4], 3, backend=backend_name, random_state=0).flat))


def test_check_input_false_trains_the_same_and_still_checks_lengths(backend_name, rng):
    """check_input=False skips the NaN/label scans (for data just validated), not the rest."""
    x, t = _blobs(rng, 90)
    results = []
    for check in (True, False):
        net = xpnet.MultiLayerNet(5, [8], 3, backend=backend_name, random_state=0)
        trainer = xpnet.Trainer(net, x, t, x_test=x[:30], t_test=t[:30], epochs=3,
                                mini_batch_size=16, optimizer="adam", verbose=False,
                                check_input=check)
        history = trainer.train()
        results.append((history["loss"], net.backend.to_numpy(net.flat)))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    net = xpnet.MultiLayerNet(5, [8], 3, backend=backend_name, random_state=0)
    with pytest.raises(ValueError, match="x_train.*t_train|t_train.*x_train"):
        xpnet.Trainer(net, x, t[:-1], check_input=False, verbose=False)
    with pytest.raises(ValueError, match=r"x_train has shape \(90, 4\).*\(n_samples, 5\)"):
        xpnet.Trainer(net, x[:, :4], t, check_input=False, verbose=False)
