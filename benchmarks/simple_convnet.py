"""SimpleConvNet on Fashion-MNIST: xpnet (NumPy backend, torch backend) against native PyTorch.

The book's network (chapter 7 of "Deep Learning from Scratch": conv 30x5x5 - ReLU - 2x2 max
pool - affine 100 - ReLU - affine 10, weight_init_std=0.01), Adam(lr=1e-3), batch 100, float32,
60,000 training images, test accuracy on the 10,000 test images after every epoch (issue 16).

Same start, same batches: every row starts from the weights xpnet draws from ``--seed``
(PyTorch's Linear holds W^T) and visits the batches of the permutations xpnet's Trainer draws
from the same seed (after the weights, one per epoch).  Interleaved: epoch e of every row runs
before epoch e + 1 of any, in an order that rotates each epoch, so a change in the machine's
load hits all rows alike.  Each row lives in its own process (waiting, idle, while the others
run), so NumPy's BLAS threads and PyTorch's OpenMP threads never compete for the cores.  Only
training is timed (the test accuracy is measured after the clock stops).

    python benchmarks/simple_convnet.py [--epochs 3] [--samples 60000] [--out results/x.md]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from xpnet.edges.datasets import load_fashion_mnist
from xpnet.nn.network import SimpleConvNet
from xpnet.nn.trainer import Trainer
from xpnet.tools.machine import load_average, machine_info

BATCH, LR = 100, 1e-3


class XpnetRow:
    """xpnet's SimpleConvNet trained by ``xpnet.Trainer`` (shuffled from the seed) on a backend."""

    def __init__(self, backend: str, x: np.ndarray, t: np.ndarray, seed: int) -> None:
        self.name = f"xpnet {backend}"
        self.net = SimpleConvNet(weight_init_std=0.01, backend=backend, random_state=seed)
        self.trainer = Trainer(self.net, x, t, epochs=1, mini_batch_size=BATCH,
                               optimizer="adam", optimizer_param={"lr": LR}, verbose=False,
                               evaluate=False)

    def epoch(self) -> None:
        self.trainer.train()  # one more epoch: same optimizer, the next permutation

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.net.accuracy(x, t)


class TorchRow:
    """The same network in plain PyTorch: nn.Sequential, cross-entropy, torch.optim.Adam, from
    xpnet's initial weights, on the batches xpnet's Trainer draws from the same seed."""

    name = "PyTorch (native)"

    def __init__(self, x: np.ndarray, t: np.ndarray, seed: int) -> None:
        import torch  # noqa: PLC0415 - a peer, imported only when it runs

        nn = torch.nn
        self.torch = torch
        self.twin = SimpleConvNet(weight_init_std=0.01, random_state=seed)  # weights, orders
        p = {k: torch.from_numpy(np.array(v)) for k, v in self.twin.params.items()}
        self.model = nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2),
                                   nn.Flatten(), nn.Linear(4320, 100), nn.ReLU(),
                                   nn.Linear(100, 10))
        with torch.no_grad():
            for layer, w, b in ((0, "W1", "b1"), (4, "W2", "b2"), (6, "W3", "b3")):
                conv = layer == 0
                self.model[layer].weight.copy_(p[w] if conv else p[w].T)
                self.model[layer].bias.copy_(p[b])
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.x, self.t = torch.from_numpy(x), torch.from_numpy(t)

    def epoch(self) -> None:
        torch, n = self.torch, len(self.x)
        order = torch.from_numpy(self.twin.backend.to_numpy(self.twin.backend.permutation(n)))
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            self.optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(self.model(self.x[idx]), self.t[idx])
            loss.backward()
            self.optimizer.step()

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        with self.torch.no_grad():
            y = self.model(self.torch.from_numpy(x)).argmax(1).numpy()
        return float(np.mean(y == t))


#: the rows by name: (training data, seed) -> a row with ``name``, ``epoch()``, ``accuracy()``
ROWS = {"numpy": lambda x, t, seed: XpnetRow("numpy", x, t, seed),
        "torch": lambda x, t, seed: XpnetRow("torch", x, t, seed),
        "native": TorchRow}


def _worker(row: str, samples: int | None, seed: int, conn: Any) -> None:
    """One row in its own process: built, then one timed epoch and its test accuracy per
    request, until told to stop."""
    x, t = load_fashion_mnist(kind="train", images=True)
    x_test, t_test = load_fashion_mnist(kind="test", images=True)
    c = ROWS[row](x[:samples], t[:samples], seed)
    conn.send((c.name, len(x[:samples])))
    while conn.recv():
        t0 = time.perf_counter()
        c.epoch()
        seconds = time.perf_counter() - t0
        conn.send((seconds, c.accuracy(x_test, t_test)))


def run(epochs: int, samples: int | None, seed: int, rows: list[str]) -> dict[str, Any]:
    """Train every row ``epochs`` epochs, interleaved, each in its own process; per row: the
    seconds and the test accuracy of each epoch."""
    ctx = multiprocessing.get_context("spawn")
    workers = []
    for row in rows:
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(row, samples, seed, child), daemon=True)
        proc.start()
        workers.append((proc, conn, *conn.recv()))
    results = {name: {"seconds": [], "accuracy": []} for _, _, name, _ in workers}
    loads = [load_average()]
    for e in range(epochs):
        for j in range(len(workers)):
            _, conn, name, _ = workers[(j + e) % len(workers)]
            conn.send(True)
            seconds, acc = conn.recv()
            results[name]["seconds"].append(seconds)
            results[name]["accuracy"].append(acc)
            print(f"epoch {e + 1} {name:18s} {seconds:6.2f} s  test acc {acc:.4f}", flush=True)
        loads.append(load_average())
    for proc, conn, _, _ in workers:
        conn.send(False)
        proc.join()
    return {"epochs": epochs, "samples": workers[0][3], "seed": seed, "rows": results,
            "load_average": loads}


def report(result: dict[str, Any], machine: dict[str, Any]) -> str:
    """The results as a Markdown table (s/epoch, its ratio to native PyTorch, accuracies)."""
    rows = result["rows"]
    native = rows.get(TorchRow.name)
    ref = statistics.median(native["seconds"]) if native else None
    epochs = range(1, result["epochs"] + 1)
    lines = ["| impl | s/epoch (median) | vs PyTorch | s per epoch | "
             + " | ".join(f"test acc e{e}" for e in epochs) + " |",
             "|---" * (4 + result["epochs"]) + "|"]
    for name, r in rows.items():
        med = statistics.median(r["seconds"])
        ratio = f"{med / ref:.2f}x" if ref else "-"
        lines.append(f"| {name} | {med:.2f} | {ratio} | "
                     f"{' '.join(f'{s:.2f}' for s in r['seconds'])} | "
                     + " | ".join(f"{a:.4f}" for a in r["accuracy"]) + " |")
    loads = " -> ".join("/".join(f"{v:.2f}" for v in la) for la in result["load_average"] if la)
    blas = machine["blas"]
    return "\n".join(lines) + (
        f"\n\n{result['samples']} training images, batch {BATCH}, Adam(lr={LR}), float32, "
        f"seed {result['seed']}; load average (1/5/15 min) before and after each epoch round: "
        f"{loads}.\nMachine: {machine['cpu_model']}, {machine['cpu_count']} CPUs, "
        f"BLAS {json.dumps(blas.get('summary', blas))}, versions "
        f"{json.dumps(machine['versions'])}.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=None, help="first N training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", default="numpy,torch,native",
                        help="comma-separated: numpy, torch (xpnet's backends), native")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args()
    result = run(args.epochs, args.samples, args.seed, args.rows.split(","))
    machine = machine_info()
    text = report(result, machine)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({**result, "machine": machine}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
