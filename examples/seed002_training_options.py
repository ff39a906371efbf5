"""Seed 002: the options that make a network train well, on the breast-cancer data.

One small network (30 inputs, one sigmoid hidden layer of 10 units, as in the seed) trained six
ways, each drawn as one figure:

1. weight initialization: ones (every hidden unit stays identical), N(0, 1), Xavier, He;
2. regularization: none, L1, L2, both (elastic net), with ``RandomInitNetwork``;
3. learning rate: 0.01, 0.1, 1.0 with ``RandomInitNetwork``;
4. a validation curve and early stopping with a patience (best weights restored);
5. dropout 0.5 on the hidden layer against none (inverted dropout, identity at test time);
6. optimizers: plain gradient descent, momentum, RMSprop, Adam.

The seed's own code has bugs xpnet does not copy (Xavier's std is sqrt(2/(fan_in+fan_out)),
dropout is applied to hidden units and not to the output, Adam's bias correction uses beta**t,
every optimizer updates the biases with the learning rate).

    python examples/seed002_training_options.py [--smoke] [--out DIR] [--backend NAME]

Writes ``seed002_weight_init.png``, ``seed002_regularization.png``,
``seed002_learning_rate.png``, ``seed002_early_stopping.png``, ``seed002_dropout.png`` and
``seed002_optimizers.png``.
"""

from __future__ import annotations

import argparse

from _args import example_parser

import xpnet
from xpnet.datasets import load_breast_cancer_split
from xpnet.plot import plot_curves, plot_grid, plot_history


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__)
    return parser.parse_args(argv)


def train_net(data, backend: str, epochs: int, *, init: str = "xavier", optimizer: str = "sgd",
              lr: float = 0.1, dropout: float = 0.0, batch_size: int | None = None,
              patience: int | None = None) -> tuple[xpnet.MultiLayerNetExtend, xpnet.History]:
    """A 30-10-2 sigmoid network trained by the Trainer (full batch unless batch_size)."""
    net = xpnet.MultiLayerNetExtend(
        data.x_train.shape[1], [10], 2, activation="sigmoid", weight_init_std=init,
        use_dropout=dropout > 0, dropout_ratio=dropout or 0.5, backend=backend, random_state=42)
    trainer = xpnet.Trainer(
        net, data.x_train, data.y_train, epochs=epochs,
        mini_batch_size=batch_size or len(data.x_train), optimizer=optimizer,
        optimizer_param={"lr": lr}, verbose=False, x_val=data.x_val, t_val=data.y_val,
        patience=patience, evaluate=False)
    return net, trainer.train()


def report(name: str, model, data, extra: str = "") -> None:
    score = model.accuracy if hasattr(model, "accuracy") else model.score
    print(f"  {name:<22} test accuracy {score(data.x_test, data.y_test):.4f}  {extra}".rstrip())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    epochs = 20 if args.smoke else 1000
    data = load_breast_cancer_split()
    out, backend = args.out, args.backend
    written = []

    print(f"1. weight initialization ({epochs} full-batch epochs, SGD lr=0.1)")
    curves = {}
    for init in ("ones", "normal", "xavier", "he"):
        net, history = train_net(data, backend, epochs, init=init)
        curves[init] = history["loss"]
        report(init, net, data)
    written.append(plot_curves(curves, out / "seed002_weight_init.png", ylim=(0, 0.8),
                               title="initial weights (sigmoid hidden layer)"))

    print(f"2. regularization (RandomInitNetwork, {epochs} epochs)")
    # the penalty is divided by the sample count like the loss (m = 364 here), so the seed's
    # 0.01 barely shows; 1.0 makes the effect visible
    curves = {}
    for name, l1, l2 in (("none", 0, 0), ("L2 0.01 (seed)", 0, 0.01), ("L1 1.0", 1.0, 0),
                         ("L2 1.0", 0, 1.0), ("L1 + L2 1.0", 1.0, 1.0)):
        model = xpnet.RandomInitNetwork(l1=l1, l2=l2, backend=backend, random_state=42)
        model.fit(data.x_train, data.y_train, epochs=epochs)
        curves[name] = model.losses
        xp, to_float = model.xp, model.backend.to_float
        report(name, model, data, f"sum|w1| {to_float(xp.sum(xp.abs(model.w1))):8.2f}")
    written.append(plot_curves(curves, out / "seed002_regularization.png", ylim=(0, 1.0),
                               title="L1 / L2 penalties (loss includes the penalty)"))

    print(f"3. learning rate (RandomInitNetwork, {epochs} epochs)")
    curves = {}
    for lr in (0.01, 0.1, 1.0):
        model = xpnet.RandomInitNetwork(learning_rate=lr, backend=backend, random_state=42)
        model.fit(data.x_train, data.y_train, epochs=epochs)
        curves[f"lr={lr}"] = model.losses
        report(f"lr={lr}", model, data)
    written.append(plot_curves(curves, out / "seed002_learning_rate.png", ylim=(0, 1.0),
                               title="learning rate (RandomInitNetwork)"))

    patience = 3 if args.smoke else 10
    es_epochs = 15 if args.smoke else 500
    print(f"4. validation curve and early stopping (mini-batch 32, patience {patience})")
    net, history = train_net(data, backend, es_epochs, batch_size=32, lr=0.1,
                             patience=patience)
    stopped = history.stopped_epoch or len(history["loss"])
    print(f"  stopped after epoch {stopped}, best epoch {history.best_epoch} restored")
    report("early stopping", net, data)
    written.append(plot_history(
        {"loss": history["loss"], "val_loss": history["val_loss"],
         "val_acc": history["val_acc"]}, out / "seed002_early_stopping.png",
        title=f"early stopping: stopped at epoch {stopped}, best {history.best_epoch}"))

    print(f"5. dropout ({epochs} epochs)")
    panels = []
    for ratio in (0.0, 0.5):
        net, history = train_net(data, backend, epochs, dropout=ratio)
        name = f"dropout {ratio}" if ratio else "no dropout"
        panels.append((name, {"loss": history["loss"], "val_loss": history["val_loss"]}))
        report(name, net, data)
    written.append(plot_grid(panels, out / "seed002_dropout.png", ncols=2, ylim=(0, 0.8),
                             suptitle="dropout on the hidden layer", ylabel="loss"))

    print(f"6. optimizers ({epochs} full-batch epochs)")
    curves = {}
    for optimizer, lr in (("sgd", 0.1), ("momentum", 0.01), ("rmsprop", 0.01), ("adam", 0.01)):
        net, history = train_net(data, backend, epochs, optimizer=optimizer, lr=lr)
        curves[f"{optimizer} lr={lr}"] = history["loss"]
        report(optimizer, net, data)
    written.append(plot_curves(curves, out / "seed002_optimizers.png", ylim=(0, 0.8),
                               title="optimizers (full batch)"))

    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
