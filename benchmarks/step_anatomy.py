"""Where part (a)'s distance to its GEMM floor comes from: one training step, four ways.

Benchmark code, not part of xpnet.  Rows, timed in the same interleaved rounds (``--rounds``
rounds of ``--steps`` steps each; per-round ratios to the floor, then their median):

* ``xpnet Trainer step``: the batch gather of ``Trainer._batch`` (``take`` of x and t), then
  ``Network.flat_gradient`` and ``Adam.update`` on the flat buffers: what
  ``MLPClassifier.fit`` runs per step (without the fit's set-up and per-epoch sync);
* ``kernels, no layers``: the same math through the same backend methods
  (``affine_relu``, ``affine``, ``softmax_cross_entropy``, ``matmul``, ``sum_rows``,
  ``relu_grad``, ``adam``) called straight from one Python function: xpnet with no layer,
  network, loss or optimizer objects, the least Python the step can have (its weights match
  the Trainer step's bit for bit: ``tests/test_benchmarks_cpu.py``);
* ``products chained``: the floor's gather and eight products, each taking the output of
  the one before it where the step does (fresh arrays, no bias, ReLU, loss or Adam);
* ``GEMM floor``: the gather of x and the eight products of the step on fixed arrays of the
  same shapes (``xpnet.tools.bench``'s "bare GEMMs" row).

Then every non-product pass of the step timed alone, warm, back to back (the best case a
pass can have), and "floor + passes alone" over the floor: what the step would cost with
no Python and with each pass at its isolated speed.

    python benchmarks/step_anatomy.py             # ~30 s on 2 cores
    python benchmarks/step_anatomy.py --rounds 5 --steps 100

Fashion-MNIST when installed (``apt-get install -y dataset-fashion-mnist``), else synthetic
pixels of the same shape (the timing does not depend on the values).
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import xpnet
from xpnet.nn.optimizers import Adam
from xpnet.tools import bench as B

SIZES, BATCH, LR = (784, 256, 128, 10), 128, 1e-3


def _median_us(fn: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e6


def make_rows(x: np.ndarray, y: np.ndarray) -> tuple[dict[str, Callable[[np.ndarray], None]],
                                                   dict[str, Callable[[], Any]], Any]:
    """(the step rows by name, each taking one batch's row indices; the non-product passes
    by name, each one call on arrays of the step's shapes; the network the two xpnet rows
    train).  A fresh network per call: ``MLPClassifier(random_state=0)`` fitted one epoch
    on the first 4,096 rows (which also loads the compiled kernels).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> rows, passes, net = make_rows(rng.random((256, 784), dtype=np.float32),
        ...                               rng.integers(0, 10, 256))
        >>> list(rows)
        ['xpnet Trainer step', 'kernels, no layers', 'products chained', 'GEMM floor']
    """
    est = xpnet.MLPClassifier(hidden_layer_sizes=SIZES[1:-1], batch_size=BATCH, alpha=0.0,
                              max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: one epoch
        est.fit(x[:4096], y[:4096])  # builds the network, loads the compiled kernels
    net, ops = est.network_, est.network_.backend.ops
    if ops.softmax_cross_entropy is None:
        raise RuntimeError("step_anatomy.py times NumPy's compiled path: install numba "
                           "(pip install numba) and do not set XPNET_NUMBA=0")
    f32 = np.float32
    params = net.params
    w1, b1, w2, b2, w3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    net.forward_loss(x[:BATCH], y[:BATCH], train=True)
    grads = net.backward()  # views into net.grad_flat by key
    flat, grad_flat = net.flat, net.grad_flat
    optimizer = Adam(LR).bind(net.backend)
    m, v = np.zeros_like(flat), np.zeros_like(flat)
    adam_steps = [0]

    def xpnet_step(idx: np.ndarray) -> None:
        xb, tb = np.take(x, idx, axis=0), np.take(y, idx, axis=0)
        _, g = net.flat_gradient(xb, tb)
        optimizer.update({"flat": flat}, {"flat": g})

    def kernels_step(idx: np.ndarray) -> None:
        xb, tb = np.take(x, idx, axis=0), np.take(y, idx, axis=0)
        h1 = ops.affine_relu(xb, w1, b1)
        h2 = ops.affine_relu(h1, w2, b2)
        _, residual = ops.softmax_cross_entropy(ops.affine(h2, w3, b3), tb)
        d3 = residual * (1.0 / xb.shape[0])
        ops.matmul(h2.T, d3, out=grads["W3"])
        ops.sum_rows(d3, out=grads["b3"])
        d2 = ops.relu_grad(h2, d3 @ w3.T)
        ops.matmul(h1.T, d2, out=grads["W2"])
        ops.sum_rows(d2, out=grads["b2"])
        d1 = ops.relu_grad(h1, d2 @ w2.T)
        ops.matmul(xb.T, d1, out=grads["W1"])
        ops.sum_rows(d1, out=grads["b1"])
        t = adam_steps[0] = adam_steps[0] + 1
        c2 = math.sqrt(1.0 - 0.999**t)
        ops.adam(flat, grad_flat, m, v, 0.9, 0.999, LR * c2 / (1.0 - 0.9**t), 1e-8 * c2)

    rng = np.random.default_rng(1)
    a1, a2 = (rng.standard_normal((BATCH, k)).astype(f32) for k in SIZES[1:3])
    d_1, d_2, d_3 = (rng.standard_normal((BATCH, k)).astype(f32) for k in SIZES[1:])

    def floor_step(idx: np.ndarray) -> None:
        xb = np.take(x, idx, axis=0)
        _ = xb @ w1, xb.T @ d_1
        _ = a1 @ w2, a1.T @ d_2, d_2 @ w2.T
        _ = a2 @ w3, a2.T @ d_3, d_3 @ w3.T

    def chained_step(idx: np.ndarray) -> None:
        xb = np.take(x, idx, axis=0)
        h1 = xb @ w1  # each product takes the one before it, as in a step
        h2 = h1 @ w2
        _ = h2 @ w3, h2.T @ d_3
        d2 = d_3 @ w3.T
        _ = h1.T @ d2
        d1 = d2 @ w2.T
        _ = xb.T @ d1

    rows = {"xpnet Trainer step": xpnet_step, "kernels, no layers": kernels_step,
            "products chained": chained_step, "GEMM floor": floor_step}

    # each non-product pass alone, on arrays of the step's shapes
    h1, h2 = np.abs(a1), np.abs(a2) - 0.5
    z3, t0 = rng.standard_normal((BATCH, SIZES[-1])).astype(f32), y[:BATCH]
    passes = {
        "Adam (flat buffers)": lambda: ops.adam(flat, grad_flat, m, v, 0.9, 0.999, 1e-4, 1e-8),
        # affine_relu's pass after its product (the compiled kernel it calls)
        "bias + ReLU 128x256": lambda: ops._row_loops(h1, b1).add_rows_relu(h1, b1),
        "bias + ReLU 128x128": lambda: ops._row_loops(h2, b2).add_rows_relu(h2, b2),
        "bias 128x10": lambda: ops.add_rows(z3, b3),
        "softmax cross-entropy": lambda: ops.softmax_cross_entropy(z3, t0),
        "ReLU backward 128x256": lambda: ops.relu_grad(h1, d_1),
        "ReLU backward 128x128": lambda: ops.relu_grad(h2, d_2),
        "bias gradients (3)": lambda: (ops.sum_rows(d_1, out=grads["b1"]),
                                       ops.sum_rows(d_2, out=grads["b2"]),
                                       ops.sum_rows(d_3, out=grads["b3"])),
        "dout scaling 128x10": lambda: d_3 * (1.0 / BATCH),
    }
    return rows, passes, net


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=12, help="interleaved rounds (default 12)")
    p.add_argument("--steps", type=int, default=200, help="steps per row per round (default 200)")
    args = p.parse_args(argv)

    w = B.make_workload("fashion-mlp")
    x, y = np.ascontiguousarray(w.x, dtype=np.float32), w.y.astype(np.int64)
    rows, passes, _ = make_rows(x, y)
    order = np.random.default_rng(0).permutation(x.shape[0])
    batches = [order[i * BATCH:(i + 1) * BATCH] for i in range(x.shape[0] // BATCH)]
    for fn in rows.values():
        for idx in batches[:20]:
            fn(idx)
    times: dict[str, list[float]] = {k: [] for k in rows}
    for r in range(args.rounds):
        for name, fn in rows.items():
            chunk = [batches[(r * args.steps + s) % len(batches)] for s in range(args.steps)]
            t = time.perf_counter()
            for idx in chunk:
                fn(idx)
            times[name].append((time.perf_counter() - t) / args.steps * 1e6)
    floor = np.array(times["GEMM floor"])
    print(f"fashion-mlp training step, batch {BATCH}, float32, {args.rounds} rounds of "
          f"{args.steps} steps ({time.strftime('%Y-%m-%d %H:%M')}):")
    for name, ts in times.items():
        ratios = np.array(ts) / floor
        print(f"  {name:20s} {np.median(ts):7.1f} us   / floor {np.median(ratios):.3f}   "
              f"rounds {' '.join(f'{q:.2f}' for q in ratios)}")

    alone = {k: _median_us(fn, 300) for k, fn in passes.items()}
    total = sum(alone.values())
    floor_us = float(np.median(floor))
    print("  passes alone (median of 300 back-to-back calls, us): "
          + ", ".join(f"{k} {u:.1f}" for k, u in alone.items()))
    print(f"  floor + passes alone: {floor_us + total:.1f} us = {(floor_us + total) / floor_us:.3f}"
          f" of the floor (no Python, every pass at its isolated speed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
