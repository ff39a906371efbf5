"""Seed 001: a two-layer network in NumPy, ones-initialized, and what random weights change.

``DualLayer(l2=0.01)`` starts from weights that are all ones: every hidden unit computes the same
thing, the loss curve is bumpy at first and training is slow (the seed reports 0.978 validation
accuracy after 20000 full-batch epochs). ``RandomInitNetwork(l2=0.01)`` draws N(0, 1) weights
(``np.random.seed(42)`` in the seed, ``random_state=42`` here) and its loss falls smoothly in
500 epochs.

    python examples/seed001_dual_layer.py [--smoke] [--out DIR] [--backend NAME]

Writes ``seed001_dual_layer.png`` (ones init) and ``seed001_random_init.png``.
"""

from __future__ import annotations

import argparse
import time

from _args import example_parser

import xpnet
from xpnet.datasets import load_breast_cancer_split
from xpnet.plot import plot_curves


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__)
    parser.add_argument("--epochs", type=int, default=None,
                        help="DualLayer epochs (default: 20000 as in the seed; 300 with --smoke)")
    return parser.parse_args(argv)


def fit(model: xpnet.DualLayer, data, epochs: int) -> float:
    """Fit on the training split with validation losses; returns the seconds it took."""
    start = time.perf_counter()
    model.fit(data.x_train, data.y_train, data.x_val, data.y_val, epochs=epochs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dual_epochs = args.epochs or (300 if args.smoke else 20000)
    random_epochs = 100 if args.smoke else 500
    data = load_breast_cancer_split()

    dual = xpnet.DualLayer(l2=0.01, backend=args.backend)
    seconds = fit(dual, data, dual_epochs)
    print(f"DualLayer (ones init), {dual_epochs} epochs: val accuracy "
          f"{dual.score(data.x_val, data.y_val):.4f} ({seconds:.1f}s; the seed: 0.978 after 20000)")
    path = plot_curves({"train_loss": dual.losses, "val_loss": dual.val_losses},
                       args.out / "seed001_dual_layer.png", ylim=(0, 0.3),
                       title=f"DualLayer(l2=0.01), ones init, {dual_epochs} epochs")
    print(f"wrote {path}")

    rand = xpnet.RandomInitNetwork(l2=0.01, backend=args.backend, random_state=42)
    seconds = fit(rand, data, random_epochs)
    print(f"RandomInitNetwork, {random_epochs} epochs: val accuracy "
          f"{rand.score(data.x_val, data.y_val):.4f} ({seconds:.1f}s)")
    path = plot_curves({"train_loss": rand.losses, "val_loss": rand.val_losses},
                       args.out / "seed001_random_init.png", ylim=(0, 0.7),
                       title=f"RandomInitNetwork(l2=0.01), N(0, 1) init, {random_epochs} epochs")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
