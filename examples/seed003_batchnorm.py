"""Seed 003: batch normalization, dropout and optimizers ("Deep Learning from Scratch" ch. 6).

1. Batch normalization against none, for 16 initial weight scales ``np.logspace(0, -4, 16)``:
   a 5 x 100 ReLU network, SGD lr=0.01, mini-batches of 100, training accuracy per epoch.
   With BatchNorm the network learns at almost every scale; without it, small scales leave
   the signal vanishing and the largest one diverges.
2. Dropout 0.15 against none on 300 training samples and a 6 x 100 network (the seed's
   overfitting set-up): training vs test accuracy per epoch.
3. SGD, Momentum, AdaGrad, Adam and RMSprop on a 4 x 100 network.

Runs on scikit-learn's digits (8x8 images) by default; ``--fashion`` uses Fashion-MNIST (the
first 5000 training images) when it is installed (Debian's dataset-fashion-mnist package puts
it in /usr/share/datasets/fashion-mnist, or set XPNET_DATA).

    python examples/seed003_batchnorm.py [--smoke] [--out DIR] [--backend NAME] [--fashion]

Writes ``seed003_batchnorm_grid.png``, ``seed003_dropout.png`` and ``seed003_optimizers.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np
from _args import example_parser

import xpnet
from xpnet.datasets import load_dataset
from xpnet.plot import plot_curves, plot_grid


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__)
    parser.add_argument("--fashion", action="store_true",
                        help="use Fashion-MNIST instead of scikit-learn's digits")
    return parser.parse_args(argv)


def train(data, hidden: list[int], epochs: int, backend: str, *, x=None, y=None, test=True,
          optimizer: str = "sgd", lr: float = 0.01, batch_size: int = 100, **net_options):
    """Train a ReLU network with the Trainer (which records the training accuracy, and the
    test accuracy with ``test``, each epoch); returns the Trainer."""
    x = data.x_train if x is None else x
    y = data.y_train if y is None else y
    net = xpnet.MultiLayerNetExtend(x.shape[1], hidden, 10, backend=backend, random_state=0,
                                    **net_options)
    x_test, y_test = (data.x_test, data.y_test) if test else (None, None)
    trainer = xpnet.Trainer(net, x, y, x_test, y_test, epochs=epochs,
                            mini_batch_size=batch_size, optimizer=optimizer,
                            optimizer_param={"lr": lr}, verbose=False)
    trainer.train()
    return trainer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = "fashion_mnist" if args.fashion else "digits"
    options = {"n_train": 500 if args.smoke else 5000} if args.fashion else {}
    data = load_dataset(name, **options)
    if args.smoke and len(data.x_test) > 1000:
        data = dataclasses.replace(data, x_test=data.x_test[:1000], y_test=data.y_test[:1000])
    # --smoke: only check that everything runs; a few hundred samples are enough
    x_train, y_train = (data.x_train[:300], data.y_train[:300]) if args.smoke else (None, None)
    print(f"{name}: {len(data.x_train)} training and {len(data.x_test)} test samples")
    out, backend = args.out, args.backend
    written = []

    # 1. BatchNorm vs none over 16 weight scales
    epochs = 2 if args.smoke else 20
    panels, diverged = [], 0
    start = time.perf_counter()
    for scale in np.logspace(0, -4, num=16):
        curves = {}
        for label, batchnorm in (("BatchNorm", True), ("no BatchNorm", False)):
            with warnings.catch_warnings():  # counted below from the History instead
                warnings.simplefilter("ignore", RuntimeWarning)
                trainer = train(data, [100] * 5, epochs, backend, x=x_train, y=y_train,
                                test=False, weight_init_std=float(scale), use_batchnorm=batchnorm)
            diverged += trainer.history.diverged
            # a NaN at the end: the plot marks where a diverged run stopped
            curves[label] = trainer.train_acc_list + [float("nan")] * trainer.history.diverged
        panels.append((f"W: {scale:.2g}", curves))
    print(f"1. BatchNorm grid: 32 networks x {epochs} epochs in "
          f"{time.perf_counter() - start:.1f}s ({diverged} diverged and stopped early)")
    for title, curves in panels[::5]:
        accs = ", ".join(f"{k} {v[-1]:.2f}" if v else f"{k} -" for k, v in curves.items())
        print(f"   {title:<9} final training accuracy: {accs}")
    written.append(plot_grid(panels, out / "seed003_batchnorm_grid.png", ncols=4, ylim=(0, 1),
                             suptitle=f"training accuracy with and without BatchNorm ({name})",
                             ylabel="training accuracy"))

    # 2. dropout against overfitting: 300 samples, a 6 x 100 network
    epochs = 10 if args.smoke else 300
    n = 300
    panels = []
    for ratio in (0.0, 0.15):
        trainer = train(data, [100] * 6, epochs, backend, x=data.x_train[:n], y=data.y_train[:n],
                        use_dropout=ratio > 0, dropout_ratio=ratio or 0.5)
        label = f"dropout {ratio}" if ratio else "no dropout"
        panels.append((label, {"train": trainer.train_acc_list, "test": trainer.test_acc_list}))
        print(f"2. {label:<12} {n} samples, {epochs} epochs: train accuracy "
              f"{trainer.train_acc_list[-1]:.3f}, test accuracy {trainer.test_acc_list[-1]:.3f}")
    written.append(plot_grid(panels, out / "seed003_dropout.png", ncols=2, ylim=(0, 1),
                             suptitle=f"overfitting and dropout ({name}, {n} samples)",
                             ylabel="accuracy"))

    # 3. optimizers
    epochs = 2 if args.smoke else 30
    curves = {}
    for optimizer, lr in (("sgd", 0.01), ("momentum", 0.01), ("adagrad", 0.01), ("adam", 0.001),
                          ("rmsprop", 0.001)):
        trainer = train(data, [100] * 4, epochs, backend, x=x_train, y=y_train,
                        optimizer=optimizer, lr=lr, batch_size=128)
        curves[optimizer] = trainer.train_loss_list
        print(f"3. {optimizer:<9} lr={lr:<6} loss {trainer.train_loss_list[-1]:.4f}, test "
              f"accuracy {trainer.test_acc_list[-1]:.3f}")
    written.append(plot_curves(curves, out / "seed003_optimizers.png",
                               title=f"optimizers, 4 x 100 ReLU network ({name})"))

    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
