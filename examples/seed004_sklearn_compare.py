"""Seed 004: mini-batches of 32 and 128, then scikit-learn's MLPClassifier against xpnet's.

First ``MinibatchNetwork(l2=0.01)`` with batch sizes 32 and 128 for 500 epochs (the seed reports
0.978 validation accuracy for both; 128 gives a smoother but slower-falling loss). Then the
seed's scikit-learn model, ``MLPClassifier(hidden_layer_sizes=(10,), activation='logistic',
solver='sgd', alpha=0.01, batch_size=32, learning_rate_init=0.1, max_iter=1000)`` (the seed
reports 0.989), next to ``xpnet.MLPClassifier`` with the same arguments, which also runs on
``--backend torch`` or ``cupy``.

Note that scikit-learn's "sgd" adds Nesterov momentum 0.9 by default while xpnet's "sgd" is
plain SGD; xpnet's ``solver="nesterov"`` is the same rule as scikit-learn's default, so it is
shown as well. Both stop when the loss stops improving (``tol``, ``n_iter_no_change``).

    python examples/seed004_sklearn_compare.py [--smoke] [--out DIR] [--backend NAME]

Writes ``seed004_minibatch.png`` and ``seed004_sklearn_compare.png``.
"""

from __future__ import annotations

import argparse
import time
import warnings

from _args import example_parser
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP

import xpnet
from xpnet.datasets import load_breast_cancer_split
from xpnet.plot import plot_curves, plot_grid

SEED_SETTINGS = dict(hidden_layer_sizes=(10,), activation="logistic", solver="sgd", alpha=0.01,
                     batch_size=32, learning_rate_init=0.1, max_iter=1000)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = load_breast_cancer_split()
    written = []

    epochs = 10 if args.smoke else 500
    panels = []
    for batch_size in (32, 128):
        net = xpnet.MinibatchNetwork(l2=0.01, batch_size=batch_size, backend=args.backend,
                                     random_state=42)
        net.fit(data.x_train, data.y_train, epochs=epochs, x_val=data.x_val, y_val=data.y_val)
        panels.append((f"batch_size={batch_size}",
                       {"train_loss": net.losses, "val_loss": net.val_losses}))
        print(f"MinibatchNetwork batch_size={batch_size:<3} {epochs} epochs: val accuracy "
              f"{net.score(data.x_val, data.y_val):.4f} (the seed: 0.978)")
    written.append(plot_grid(panels, args.out / "seed004_minibatch.png", ncols=2, ylim=(0, 0.7),
                             suptitle="MinibatchNetwork(l2=0.01) on breast cancer",
                             ylabel="loss"))

    settings = dict(SEED_SETTINGS, max_iter=15 if args.smoke else SEED_SETTINGS["max_iter"])
    models = {
        "scikit-learn sgd (Nesterov 0.9)": SklearnMLP(**settings, random_state=42),
        f"xpnet sgd ({args.backend})": xpnet.MLPClassifier(**settings, backend=args.backend,
                                                           random_state=42),
        f"xpnet nesterov ({args.backend})": xpnet.MLPClassifier(
            **dict(settings, solver="nesterov"), backend=args.backend, random_state=42),
    }
    curves = {}
    for name, model in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(data.x_train, data.y_train)
        seconds = time.perf_counter() - start
        curves[name] = model.loss_curve_
        print(f"{name:<34} val accuracy {model.score(data.x_val, data.y_val):.4f}, "
              f"{model.n_iter_:>4} epochs in {seconds:.2f}s")
    written.append(plot_curves(curves, args.out / "seed004_sklearn_compare.png", ylim=(0, 0.7),
                               title="MLPClassifier((10,), logistic, alpha=0.01, batch 32)"))
    print("(the seed: scikit-learn 0.989)")
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
