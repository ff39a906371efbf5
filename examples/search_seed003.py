"""Seed 003, chapter 6.5: random search for the learning rate and the weight decay.

The book's recipe, step by step: hold out validation data (never tune on the test set), draw
``lr = 10 ** uniform(-6, -2)`` and ``weight decay = 10 ** uniform(-8, -4)`` at random, train a
six-layer MultiLayerNet (100 units each) for 50 epochs with plain SGD on a small training set
(500 rows, 20% of them for validation), repeat 100 times, and look at the best 20: the good
trials show which ranges to narrow next (the seed found lr 1e-3..1e-2, decay 1e-8..1e-5; on
digits with random_state=0 the best ten trials have lr 4e-3..9e-3 and reach 0.66..0.91 val acc,
a run of several CPU-minutes).

Here the trial function is the seed's ``__train(lr, weight_decay)``; xpnet.search draws the
trials with scikit-learn's ParameterSampler, runs them with joblib (``--n-jobs`` local
processes, or a Dask cluster with ``--scheduler``), keeps each trial's per-epoch curves, prints
the best 20 and writes the grid of the best trials' accuracy curves (train dashed, validation
solid) to ``<out>/search_seed003.png``.

    python examples/search_seed003.py                 # digits, 100 trials x 50 epochs
    python examples/search_seed003.py --n-jobs 4      # the same trials in 4 processes
    python examples/search_seed003.py --fashion       # Fashion-MNIST, if installed
    python examples/search_seed003.py --smoke --out /tmp   # 4 trials x 3 epochs, seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from xpnet import MultiLayerNet, Trainer
from xpnet.search import log_uniform, random_search

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
N_ROWS = 500  # "tuning, so keep the data small" (seed 003)


def train(params, random_state, X_train, y_train, X_val, y_val, epochs=50, backend="numpy"):
    """Seed 003's ``__train(lr, weight_decay, epocs=50)``: its Trainer's per-epoch history."""
    network = MultiLayerNet(input_size=X_train.shape[1], hidden_size_list=[100] * 6,
                            output_size=10, weight_decay_lambda=params["weight_decay"],
                            backend=backend, random_state=random_state)
    trainer = Trainer(network, X_train, y_train, X_val, y_val, epochs=epochs,
                      mini_batch_size=100, optimizer="sgd",
                      optimizer_param={"lr": params["lr"]}, verbose=False)
    return trainer.train()  # History: loss, train_acc, test_acc (the validation rows here)


def load(fashion: bool):
    """(x, y, name): the first 500 training rows of digits or Fashion-MNIST."""
    if fashion:
        if not FASHION_DIR.is_dir():
            sys.exit(f"--fashion needs Fashion-MNIST in {FASHION_DIR} (Debian package "
                     f"dataset-fashion-mnist); run without --fashion to use digits")
        from xpnet.datasets import load_fashion_mnist

        x, y = load_fashion_mnist(FASHION_DIR)
        return x[:N_ROWS], y[:N_ROWS], "Fashion-MNIST"
    from xpnet.datasets import load_digits_split

    split = load_digits_split()
    return split.x_train[:N_ROWS], split.y_train[:N_ROWS], "digits"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        default=os.environ.get("XPNET_SMOKE") == "1",
                        help="4 trials x 3 epochs (also with XPNET_SMOKE=1)")
    parser.add_argument("--out", default=".", help="directory for the PNG (default: .)")
    parser.add_argument("--fashion", action="store_true",
                        help=f"use Fashion-MNIST from {FASHION_DIR} instead of digits")
    parser.add_argument("--trials", type=int, default=100, help="trials (default: 100)")
    parser.add_argument("--epochs", type=int, default=50, help="epochs per trial (default: 50)")
    parser.add_argument("--n-jobs", type=int, default=1, help="local worker processes")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address")
    parser.add_argument("--backend", default="numpy", help="array backend (default: numpy)")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    args = parser.parse_args(argv)
    trials, epochs = (4, 3) if args.smoke else (args.trials, args.epochs)

    x, y, name = load(args.fashion)
    space = {"lr": log_uniform(1e-6, 1e-2), "weight_decay": log_uniform(1e-8, 1e-4)}
    print(f"seed 003 random search on {name}: {trials} trials x {epochs} epochs, "
          f"MultiLayerNet 6 x 100, SGD, {len(x)} rows (20% held out for validation)")
    start = time.perf_counter()
    result = random_search(train, space, x, y, n_trials=trials, validation_fraction=0.2,
                           random_state=args.random_state, n_jobs=args.n_jobs,
                           client=args.scheduler, verbose=not args.smoke,
                           fit_params={"epochs": epochs, "backend": args.backend},
                           score_name="val acc")
    print(f"{trials} trials in {time.perf_counter() - start:.1f} s")

    print("=========== Hyper-Parameter Optimization Result ===========")
    print(result.format_table(20))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = result.plot(out / "search_seed003.png", top=20)
    print(f"wrote {path}")
    good = [r["params"] for r in result.top(max(1, len(result) // 10)) if r["error"] is None]
    if good:
        lrs = [p["lr"] for p in good]
        decays = [p["weight_decay"] for p in good]
        print(f"best {len(good)} trials: lr {min(lrs):.1e}..{max(lrs):.1e}, weight decay "
              f"{min(decays):.1e}..{max(decays):.1e}: narrow the ranges and search again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
