"""Quickstart: the README's usage example, on NumPy and (when a GPU is here) on CuPy.

    python examples/quickstart.py [--smoke] [--out DIR] [--backend NAME]

Trains the README's ``MultiLayerNetExtend`` (two hidden layers of 100, BatchNorm, Adam) on the
digits with the ``Trainer`` and writes ``curves.png``; then the same lines with
``backend="cupy"`` when CuPy and a CUDA device are available (``curves_cupy.png``). Finally the
README's scikit-learn style estimator, saved to and reloaded from a portable ``.npz``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _args import example_parser

import xpnet
from xpnet.datasets import load_digits_split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__, "where the files go")
    return parser.parse_args(argv)


def usage(backend: str, epochs: int, plot_path: Path) -> float:
    """The README's usage example, with the backend and the number of epochs as arguments."""
    d = load_digits_split()                                   # NumPy arrays, float32
    net = xpnet.MultiLayerNetExtend(64, [100, 100], 10, use_batchnorm=True, random_state=0,
                                    backend=backend)
    trainer = xpnet.Trainer(net, d.x_train, d.y_train, d.x_test, d.y_test, epochs=epochs,
                            mini_batch_size=100, optimizer="adam", optimizer_param={"lr": 0.01})
    trainer.train()                                           # tqdm progress bar, every epoch
    accuracy = net.accuracy(d.x_test, d.y_test)               # a Python float
    xpnet.plot.plot_history(trainer, plot_path)
    return accuracy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    epochs = 3 if args.smoke else 20
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    accuracy = usage(args.backend, epochs, out / "curves.png")
    print(f"[{args.backend}] test accuracy {accuracy:.4f}; wrote {out / 'curves.png'}")
    if args.backend != "cupy":
        try:
            xpnet.get_backend("cupy")
        except xpnet.BackendUnavailableError as err:
            print(f"[cupy] skipped: {err}")
        else:
            accuracy = usage("cupy", epochs, out / "curves_cupy.png")
            print(f"[cupy] test accuracy {accuracy:.4f}; wrote {out / 'curves_cupy.png'}")

    # the scikit-learn style estimator and a portable model file (never pickle)
    d = load_digits_split()
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam", batchnorm=True,
                              dropout=0.2, early_stopping=True, max_iter=epochs,
                              backend=args.backend, random_state=0)
    clf.fit(d.x_train, d.y_train)
    xpnet.save(clf, out / "model.npz")
    same = xpnet.load(out / "model.npz")
    assert (same.predict(d.x_test) == clf.predict(d.x_test)).all()
    print(f"MLPClassifier test accuracy {clf.score(d.x_test, d.y_test):.4f}, saved and "
          f"reloaded from {out / 'model.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
