"""Seed 000: mini-batch gradient descent, batch size 1 (stochastic), 32, 128 and the full batch.

The seed trains ``MinibatchNetwork(l2=0.01, batch_size=...)`` (one sigmoid hidden layer of 10
units, N(0, 1) initial weights) on the scaled breast-cancer split for 100 epochs with each batch
size and compares the loss curves: the smaller the batch, the noisier the curve and the faster
it falls per epoch (more updates per pass); the larger, the closer to full-batch descent.

    python examples/seed000_minibatch.py [--smoke] [--out DIR] [--backend NAME]

Writes ``seed000_minibatch.png`` (training and validation loss per batch size).
"""

from __future__ import annotations

import argparse
import time

from _args import example_parser

import xpnet
from xpnet.datasets import load_breast_cancer_split
from xpnet.plot import plot_grid


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    epochs = 5 if args.smoke else 100
    data = load_breast_cancer_split()
    # the seed's "batch" network used batch_size=350, about the 364 training samples
    batch_sizes = {"stochastic (1)": 1, "32": 32, "128": 128, "batch (350)": 350}
    train, val = {}, {}
    for label, batch_size in batch_sizes.items():
        net = xpnet.MinibatchNetwork(l2=0.01, batch_size=batch_size, backend=args.backend,
                                     random_state=42)
        start = time.perf_counter()
        net.fit(data.x_train, data.y_train, epochs=epochs, x_val=data.x_val, y_val=data.y_val)
        seconds = time.perf_counter() - start
        train[label], val[label] = net.losses, net.val_losses
        print(f"batch_size={batch_size:>3}: val accuracy {net.score(data.x_val, data.y_val):.4f}"
              f", final loss {net.losses[-1]:.4f}, {seconds:.2f}s for {epochs} epochs")
    path = plot_grid([("training loss", train), ("validation loss", val)],
                     args.out / "seed000_minibatch.png", ncols=2,
                     suptitle=f"MinibatchNetwork(l2=0.01) on breast cancer ({args.backend})",
                     ylabel="loss")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
