"""Chapter 7 ("Deep Learning from Scratch"): a convolutional network on Fashion-MNIST.

conv 5x5 (16 filters, pad 2) - BatchNorm - ReLU - max pool 2x2
-> conv 3x3 (32 filters, pad 1) - BatchNorm - ReLU - max pool 2x2
-> dense 100 - ReLU - dropout 0.3 -> dense 10, composed with ``xpnet.Network`` from a list of
layers and trained by the same ``Trainer`` as chapter 6's networks (Adam, lr 0.001 with a cosine
schedule, mini-batches of 100, float32).  The images go in as (N, 1, 28, 28); im2col is
written with Array API slices, so the same script runs with ``--backend torch`` or
``--backend array_api_strict``.

The recorded run (benchmarks/results/ch7-convnet.md) reached 0.9123 test accuracy after the
default 10 epochs (46 s/epoch on a 2-core machine).  Like the book's figure 7-24, it draws the
first layer's 16 filters before and after training.

    python examples/ch7_convnet.py [--smoke] [--out DIR] [--backend NAME] [--epochs N]

Fashion-MNIST is read from $XPNET_DATA/fashion-mnist, ~/.xpnet/datasets/fashion-mnist or
/usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist); ``--smoke`` falls back to
scikit-learn's 8x8 digits where it is not installed.  Writes ``ch7_convnet_history.png`` (loss
and accuracy per epoch) and ``ch7_convnet_filters.png``.
"""

from __future__ import annotations

import time

import numpy as np
from _args import example_parser

import xpnet
from xpnet.datasets import installed, load_dataset
from xpnet.plot import plot_history

LAYERS = [("conv", {"filter_num": 16, "filter_size": 5, "pad": 2}), "batchnorm", "relu",
          ("pool", {"pool_h": 2}),
          ("conv", {"filter_num": 32, "filter_size": 3, "pad": 1}), "batchnorm", "relu",
          ("pool", {"pool_h": 2}),
          "flatten", ("dense", {"units": 100}), "relu", ("dropout", {"ratio": 0.3}),
          ("dense", {"units": 10})]


def images(x: np.ndarray) -> np.ndarray:
    """Flat rows of square grayscale pixels as (N, 1, side, side) images."""
    side = int(round(np.sqrt(x.shape[1])))
    return x.reshape(len(x), 1, side, side)


def plot_filters(before: np.ndarray, after: np.ndarray, path, title: str):
    """The first layer's filters (FN, 1, FH, FW) before and after training: one row each,
    every filter a small grayscale image (scaled to its own range, as the book draws them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = before.shape[0]
    fig = Figure(figsize=(0.6 * n + 1.2, 2.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, n, squeeze=False)
    for row, (label, weights) in enumerate((("before", before), ("after", after))):
        for i, ax in enumerate(axes[row]):
            ax.imshow(weights[i, 0], cmap="gray_r", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label)
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = example_parser(__doc__)
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: 10; smoke: 1)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (1 if args.smoke else 10)
    name = "fashion_mnist" if installed("fashion_mnist") or not args.smoke else "digits"
    # all 60000 training images (no validation rows held out), the 10000 test images
    data = load_dataset(name, dtype="float32",
                        **({"validation_fraction": 0.0} if name == "fashion_mnist" else {}))
    x_train, y_train = images(data.x_train), data.y_train
    x_test, y_test = images(data.x_test), data.y_test
    if args.smoke:  # only check that everything runs
        x_train, y_train, x_test, y_test = x_train[:500], y_train[:500], x_test[:500], y_test[:500]
    print(f"{name}: {len(x_train)} training and {len(x_test)} test images of shape "
          f"{x_train.shape[1:]}, backend {args.backend}")

    net = xpnet.Network(LAYERS, input_shape=x_train.shape[1:], backend=args.backend,
                        dtype="float32", random_state=0)
    before = net.backend.to_numpy(net.params["W1"]).copy()
    trainer = xpnet.Trainer(net, x_train, y_train, x_test, y_test, epochs=epochs,
                            mini_batch_size=100, optimizer="adam", optimizer_param={"lr": 1e-3},
                            lr_schedule=xpnet.optimizers.CosineLR(),  # settle, don't overfit
                            verbose=not args.smoke)
    start = time.perf_counter()
    history = trainer.train()
    seconds = time.perf_counter() - start
    accuracy = net.accuracy(x_test, y_test)
    print(f"test accuracy {accuracy:.4f} after {epochs} epochs in {seconds:.1f}s "
          f"({seconds / epochs:.1f} s/epoch)")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    written = [
        plot_history(history, out / "ch7_convnet_history.png",
                     title=f"conv-BN-ReLU-pool x2 -> dense on {name} ({args.backend})"),
        plot_filters(before, net.backend.to_numpy(net.params["W1"]),
                     out / "ch7_convnet_filters.png",
                     title=f"first-layer filters (16 x 5x5) before and after {epochs} epochs"),
    ]
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
