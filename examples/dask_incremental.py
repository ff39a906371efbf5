"""Out-of-core and cluster training: dask-ml's ``Incremental`` around ``xpnet.MLPClassifier``.

``partial_fit`` trains one epoch on the data it is given and keeps the weights and the
optimizer's state, so a data set that does not fit in memory can be trained block by block.
``dask_ml.wrappers.Incremental`` does exactly that over the blocks of a Dask array: it calls
``partial_fit`` on block 0, then block 1, ... in one task chain on a Dask cluster (here a
small ``LocalCluster`` of threads; a ``Client("tcp://scheduler:8786")`` works the same), so
only one block at a time needs to be in memory. ``inc.partial_fit`` again is one more pass.

The result is the same model as a plain loop of ``partial_fit`` calls over the same blocks in
the same order with the same ``random_state``: the script checks it (weights equal) and plots
both runs' validation accuracy after every pass.

    python examples/dask_incremental.py [--smoke] [--out DIR] [--backend NAME]
        [--blocks N] [--passes N]

Needs ``pip install -e ".[dask]"``; without Dask it runs the serial loop only (and says so).
Writes ``dask_incremental.png``.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
from _args import example_parser
from sklearn.datasets import make_classification

import xpnet
from xpnet.plot import plot_curves

HAVE_DASK = all(importlib.util.find_spec(m) is not None for m in ("dask", "distributed",
                                                                 "dask_ml"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = example_parser(__doc__)
    parser.add_argument("--blocks", type=int, default=8,
                        help="blocks of the Dask array (default: 8)")
    parser.add_argument("--passes", type=int, default=None,
                        help="passes over the blocks (default: 10; 2 with --smoke)")
    return parser.parse_args(argv)


def make_model(backend: str) -> xpnet.MLPClassifier:
    return xpnet.MLPClassifier(hidden_layer_sizes=(64, 32), solver="adam",
                               learning_rate_init=1e-3, batch_size=128, backend=backend,
                               random_state=0)


def serial(X: np.ndarray, y: np.ndarray, X_val, y_val, blocks: int, passes: int, backend: str):
    """The reference: partial_fit on each block in turn, ``passes`` times."""
    model, classes, scores = make_model(backend), np.unique(y), []
    for _ in range(passes):
        for xb, yb in zip(np.array_split(X, blocks), np.array_split(y, blocks), strict=True):
            model.partial_fit(xb, yb, classes=classes)
        scores.append(model.score(X_val, y_val))
    return model, scores


def incremental(X: np.ndarray, y: np.ndarray, X_val, y_val, blocks: int, passes: int,
                backend: str):
    """The same passes through dask_ml.wrappers.Incremental on a LocalCluster."""
    import dask.array as da
    from dask.distributed import Client, LocalCluster
    from dask_ml.wrappers import Incremental

    rows = -(-len(X) // blocks)  # block size: the blocks match np.array_split's
    Xd = da.from_array(X, chunks=(rows, X.shape[1]))
    yd = da.from_array(y, chunks=rows)
    print(f"Dask array: {Xd.shape} in {Xd.numblocks[0]} blocks of {rows} rows "
          f"({Xd.blocks[0].nbytes / 2**20:.2f} MiB each)")
    scores = []
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        # shuffle_blocks=False: the blocks in order, as in the serial loop
        inc = Incremental(make_model(backend), scoring="accuracy", shuffle_blocks=False)
        for _ in range(passes):
            inc.partial_fit(Xd, yd, classes=np.unique(y))
            scores.append(inc.score(da.from_array(X_val), da.from_array(y_val)))
    return inc, scores


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    passes = args.passes or (2 if args.smoke else 10)
    n = 4_000 if args.smoke else 40_000
    X, y = make_classification(n_samples=n + 2_000, n_features=40, n_informative=20,
                               n_classes=4, n_clusters_per_class=2, random_state=0)
    X = X.astype(np.float32)
    X, y, X_val, y_val = X[:n], y[:n], X[n:], y[n:]

    start = time.perf_counter()
    reference, serial_scores = serial(X, y, X_val, y_val, args.blocks, passes, args.backend)
    print(f"serial partial_fit loop: {passes} passes over {args.blocks} blocks in "
          f"{time.perf_counter() - start:.1f} s, validation accuracy {serial_scores[-1]:.4f}")
    curves = {"serial partial_fit loop": serial_scores}

    if HAVE_DASK:
        start = time.perf_counter()
        inc, inc_scores = incremental(X, y, X_val, y_val, args.blocks, passes, args.backend)
        print(f"dask_ml Incremental:     {passes} passes in {time.perf_counter() - start:.1f} s, "
              f"validation accuracy {inc_scores[-1]:.4f}")
        same = all(np.array_equal(a, b) for a, b in
                   zip(inc.estimator_.coefs_ + inc.estimator_.intercepts_,
                       reference.coefs_ + reference.intercepts_, strict=True))
        print(f"same weights as the serial loop: {same}")
        if not same:
            raise SystemExit("Incremental and the serial partial_fit loop differ")
        curves["dask_ml Incremental (on the same line)"] = inc_scores
    else:
        print('Dask and dask-ml are not installed (pip install -e ".[dask]"): '
              "ran the serial partial_fit loop only")

    path = plot_curves(curves, args.out / "dask_incremental.png",
                       title=f"MLPClassifier, {args.blocks} blocks of {n // args.blocks} rows",
                       xlabel="pass over the blocks", ylabel="validation accuracy")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
