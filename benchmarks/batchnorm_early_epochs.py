"""BatchNorm's eval-mode accuracy in the first epochs at small weight scales (issue 14).

The book's batch_norm_test setup: MultiLayerNetExtend(784, [100] * 5, 10) with BatchNorm,
1,000 Fashion-MNIST training images, batch 100, SGD lr 0.01; the training accuracy is measured
each epoch in eval mode (running statistics), as the book's Trainer does.  "pytorch" is the
previous behaviour (running variance starting at 1, moving average from the first step);
"average" is the default now (the plain average of the batch statistics until the moving average
takes over).

    python benchmarks/batchnorm_early_epochs.py [--epochs 5] [--out benchmarks/results/...md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import xpnet
from xpnet.edges.datasets import load_fashion_mnist


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--scales", default="0.01,0.003")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    x, t = load_fashion_mnist(kind="train")
    x = x.reshape(len(x), -1).astype(np.float32)[:1000] / np.float32(255.0)
    t = t[:1000]
    lines = [f"| weight std | running statistics | eval accuracy, epochs 1-{args.epochs} |",
             "|---|---|---|"]
    for scale in (float(s) for s in args.scales.split(",")):
        for running in ("pytorch", "average"):
            accs = []
            for seed in range(3):
                net = xpnet.MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True,
                                                weight_init_std=scale, batchnorm_running=running,
                                                random_state=seed)
                trainer = xpnet.Trainer(net, x, t, epochs=args.epochs, mini_batch_size=100,
                                        optimizer="sgd", optimizer_param={"lr": 0.01},
                                        verbose=False)
                trainer.train()
                accs.append(trainer.train_acc_list)
            mean = np.mean(accs, axis=0)
            label = "pytorch (before)" if running == "pytorch" else "average (now)"
            lines.append(f"| {scale:g} | {label} | {' '.join(f'{a:.3f}' for a in mean)} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n\n(mean of 3 seeds; eval-mode training accuracy)\n"
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
