"""One seed-dual run for instruction counting: ``python seed_dual_workload.py WHICH EPOCHS``.

WHICH is "seed" (seed 001's own class, benchmarks/seed001_reference.py), "float64"/"float32"
(xpnet's DualLayer) or "none" (imports and data only: the baseline to subtract).
Driven by benchmarks/seed_dual_callgrind.sh.
"""

import sys
from pathlib import Path

import xpnet
from xpnet.datasets import load_breast_cancer_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed001_reference import DualLayer as SeedDual  # noqa: E402

split = load_breast_cancer_split(dtype="float64")
which, epochs = sys.argv[1], int(sys.argv[2])
data = (split.x_train, split.y_train, split.x_val, split.y_val)
if which == "seed":
    SeedDual(l2=0.01).fit(*data, epochs=epochs)
elif which != "none":
    xpnet.DualLayer(l2=0.01, dtype=which).fit(*data, epochs=epochs)
