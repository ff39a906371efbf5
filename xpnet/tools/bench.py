"""Backend timing comparison: ``xpnet bench`` and :func:`bench`.

Trains the same network on every available backend and reports, side by side, the median
seconds per epoch over repeated runs, samples per second, the speed-up over NumPy, the cold
first-call cost (on its own, never folded into the median), the peak memory, and, for the MLP
and convolution workloads, the GEMM floor: the time of the bare matrix products of an epoch
(the same products in the same shapes, with the same per-batch row gather; a convolution's are
those of its im2col matrix and its filters) and the overhead on top of them.

Honest timing: every row is synchronized (``Backend.sync``) before a clock is read; the first
epoch (which pays for CUDA context creation, kernel compilation, first-touch page faults,
lazily created optimizer state) is timed separately and also serves as the warm-up; the
reported time is the median over ``repeats`` runs of ``epochs`` epochs each.  The timed runs
are interleaved: every round runs every row once (in a rotating order), so a change in the
machine's load during the benchmark hits all rows alike instead of skewing whichever row
happened to run then.

The workloads are one table, :data:`WORKLOADS` (name -> :class:`Workload`).  Peer
implementations (native PyTorch, scikit-learn, hand-written NumPy loops) are not part of xpnet:
``benchmarks/peers.py`` adds them as further rows through ``bench(extra=...)``, and
``benchmarks/run_cpu.py`` / ``run_gpu.py`` record the comparisons.  The machine a result was
taken on is described by :mod:`xpnet.tools.machine`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import gc
import json
import math
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend, BackendUnavailableError, get_backend
from ..backends.validation import check_choice, check_hidden_sizes, check_positive
from ..edges.datasets import load_breast_cancer_split, load_fashion_mnist
from .machine import blas_threads, gpu_info, load_average, machine_info, slug

__all__ = [
    "DEFAULT_BACKENDS", "WORKLOADS", "TABLE_COLUMNS", "LEARNING_RATE", "SEED_DUAL_L2",
    "SEED_DUAL_UNITS", "Workload", "Contender", "SkipRow", "make_workload", "bench",
    "format_table", "write_json", "plot", "add_arguments", "run_cli", "main",
    # machine information, kept importable from here (it lives in xpnet.tools.machine)
    "machine_info", "gpu_info", "blas_threads", "slug",
]

#: backends timed when none are named (unavailable ones are skipped with a note)
DEFAULT_BACKENDS = ("numpy", "torch", "cupy", "torch:cuda")
#: the backend of the speed-up column's reference row ("vs numpy")
REFERENCE = DEFAULT_BACKENDS[0]

LEARNING_RATE = 1e-3
SEED_DUAL_L2 = 0.01
SEED_DUAL_UNITS = 10

#: (row key, column title) of the printed table, in order
TABLE_COLUMNS = (
    ("impl", "impl"), ("backend", "backend"), ("device", "device"), ("dtype", "dtype"),
    ("seconds_per_epoch", "s/epoch (median)"), ("samples_per_s", "samples/s"),
    ("speedup", "vs numpy"), ("first_epoch_s", "1st epoch s (cold)"), ("setup_s", "setup s"),
    ("peak_mem_mib", "peak mem MiB"), ("gemm_s_per_epoch", "GEMM s/epoch"),
    ("overhead_s_per_epoch", "overhead s/epoch"), ("threads", "threads"),
)


# ============================================================================ workloads
@dataclass
class Workload:
    """What is trained: the recipe, the layer sizes, the epoch shape and (once made by
    :func:`make_workload`) the data as host NumPy arrays.  An epoch visits every training
    sample once, in a new shuffled order.

    Example:
        >>> w = WORKLOADS["fashion-mlp"]  # no data until make_workload loads it
        >>> w.sizes, w.batch_size, w.steps_per_epoch, w.x is None
        ((784, 256, 128, 10), 128, 469, True)
    """

    name: str
    kind: str  # "mlp", "conv" or "seed-dual": which xpnet model trains it
    sizes: tuple[int, ...]  # layer sizes; conv: image (C, H, W) and classes; () for "custom"
    batch_size: int  # the full training set for seed-dual
    samples: int  # training samples of an epoch
    epochs: int  # epochs per timed repeat
    about: str  # one line for people
    recipe: dict[str, Any]  # how it is trained (recorded with every result)
    data: str = "not loaded"  # where the data came from
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def gemms(self) -> list[tuple[int, int, int]]:
        """(rows per sample, inner, outer size) of each weight's matrix product: a dense
        layer's x W (1, in, units); a convolution's im2col matrix times its filters
        (OH*OW, C*FH*FW, FN).  Empty for seed-dual (no GEMM floor worth timing).

        Example:
            >>> WORKLOADS["conv"].gemms()[:2]
            [(784, 9, 8), (196, 72, 16)]
        """
        if self.kind == "mlp":
            return [(1, a, b) for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True)]
        if self.kind != "conv":
            return []
        from ..nn.network import LAYERS  # noqa: PLC0415 - the layers only where asked

        shape, out = self.sizes[:-1], []
        for spec in self.recipe["layers"]:
            name, args = (spec, {}) if isinstance(spec, str) else spec
            shape, params = LAYERS[name].declare(shape, **args)
            if "W" in params:
                w = params["W"][0]
                conv = len(w) == 4  # (FN, C, FH, FW), else (in, units)
                out.append((math.prod(shape[1:]), math.prod(w[1:]), w[0]) if conv
                           else (1, *w))
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (no arrays)."""
        out = {"name": self.name, "kind": self.kind, "sizes": list(self.sizes),
               "batch_size": self.batch_size, "samples": self.samples,
               "steps_per_epoch": self.steps_per_epoch, "epochs_per_repeat": self.epochs,
               "data": self.data, **self.recipe}
        if self.x_val is not None:
            out["validation_samples"] = int(self.x_val.shape[0])
        return out


_MLP = {"activation": "relu", "loss": "softmax_cross_entropy", "optimizer": "adam",
        "lr": LEARNING_RATE, "shuffle": True}
_CONV = {**_MLP, "model": "Network", "layers": [
    ("conv", {"filter_num": 8, "filter_size": 3, "pad": 1}), "relu", ("pool", {"pool_h": 2}),
    ("conv", {"filter_num": 16, "filter_size": 3, "pad": 1}), "relu", ("pool", {"pool_h": 2}),
    "flatten", ("dense", {"units": 10})]}
_SEED_DUAL = {"model": "DualLayer", "l2": SEED_DUAL_L2, "units": SEED_DUAL_UNITS, "init": "ones",
              "optimizer": "sgd", "lr": 0.1,
              "epoch": "one full-batch gradient step plus the validation loss"}

#: the workloads by name (``make_workload`` loads their data)
WORKLOADS: dict[str, Workload] = {w.name: w for w in (
    Workload("seed-dual", "seed-dual", (30, SEED_DUAL_UNITS, 1), 0, 0, 500,
             "seed 001's DualLayer(l2=0.01), full batch on the breast-cancer training split",
             _SEED_DUAL),
    Workload("fashion-mlp", "mlp", (784, 256, 128, 10), 128, 60000, 1,
             "784-256-128-10 ReLU, Adam, batch 128 on Fashion-MNIST (synthetic if absent)", _MLP),
    Workload("large-mlp", "mlp", (784, 2048, 2048, 10), 1024, 16384, 1,
             "784-2048-2048-10 ReLU, Adam, batch 1024 on 16384 synthetic samples", _MLP),
    Workload("conv", "conv", (1, 28, 28, 10), 128, 8192, 1,
             "conv 8x3x3 - relu - pool - conv 16x3x3 - relu - pool - dense 10, Adam, batch "
             "128 on 8192 synthetic 1x28x28 images", _CONV),
    Workload("custom", "mlp", (), 128, 20000, 1,
             "--sizes of your choice, ReLU, Adam, on synthetic samples", _MLP),
)}


def _synthetic(n: int, d: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-like inputs in [0, 1) and uniform labels (timing does not depend on the values)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, d), dtype=np.float32), rng.integers(0, classes, n).astype(np.int64)


def make_workload(name: str = "fashion-mlp", *, sizes: Any = None, batch_size: int | None = None,
                  samples: int | None = None, epochs: int | None = None,
                  data_path: str | os.PathLike | None = None, random_state: int = 0) -> Workload:
    """A :class:`Workload` of :data:`WORKLOADS` with its data loaded or synthesized on the host.

    Args:
        name: a key of :data:`WORKLOADS` ("custom" needs ``sizes``).
        sizes: layer sizes, e.g. (784, 512, 10) or "784,512,10"; sizes other than a named MLP
            workload's select the custom workload.
        batch_size, samples, epochs: override the workload's defaults (``samples`` keeps the
            first rows of Fashion-MNIST or of the breast-cancer split).
        data_path: a directory holding the Fashion-MNIST IDX files.
        random_state: seed of the synthetic data.

    Example:
        >>> w = make_workload("custom", sizes="8,4", samples=16, batch_size=8)
        >>> w.name, w.x.shape, w.y.shape, w.steps_per_epoch
        ('custom', (16, 8), (16,), 2)
    """
    name = check_choice("workload", name, WORKLOADS)
    parsed = None if sizes is None else tuple(check_hidden_sizes("sizes", sizes))
    if parsed is not None and len(parsed) < 2:
        raise ValueError(f"sizes={sizes!r} needs at least an input and an output size, e.g. "
                         f"sizes=(784, 512, 10)")
    if parsed is not None and WORKLOADS[name].kind == "mlp" and parsed != WORKLOADS[name].sizes:
        name = "custom"
    if parsed is not None and WORKLOADS[name].kind == "conv":
        raise ValueError(f"workload={name!r} is a fixed small CNN; drop sizes, or use "
                         f"workload='custom' for an MLP of your sizes")
    if name == "custom" and parsed is None:
        raise ValueError("workload='custom' needs sizes, e.g. --sizes 784,512,10 "
                         "(or sizes=(784, 512, 10))")
    w = dataclasses.replace(WORKLOADS[name], sizes=parsed or WORKLOADS[name].sizes)
    if epochs is not None:
        w.epochs = check_positive("epochs", epochs, integer=True)
    n = None if samples is None else check_positive("samples", samples, integer=True)
    if w.kind == "seed-dual":
        if parsed is not None or batch_size is not None:
            raise ValueError("workload='seed-dual' is the seed's fixed full-batch 30-10-1 "
                             "network; drop sizes/batch_size or use workload='custom'")
        split = load_breast_cancer_split(dtype="float64")
        w.x, w.y, w.x_val, w.y_val = split.x_train[:n], split.y_train[:n], split.x_val, split.y_val
        w.data = "breast-cancer training split (scaled, seed 001's split)"
        w.samples = w.batch_size = int(w.x.shape[0])
        return w
    if batch_size is not None:
        w.batch_size = check_positive("batch_size", batch_size, integer=True)
    w.samples = n or w.samples
    if name == "fashion-mlp":
        with contextlib.suppress(FileNotFoundError, OSError, ValueError):
            x, y = load_fashion_mnist(data_path, "train")
            w.x, w.y = x[:w.samples], y[:w.samples]
            w.data = f"Fashion-MNIST train ({len(w.x)} images)"
    if w.x is None:
        w.x, w.y = _synthetic(w.samples, math.prod(w.sizes[:-1]) if w.kind == "conv" else
                              w.sizes[0], w.sizes[-1], random_state)
        if w.kind == "conv":
            w.x = w.x.reshape(w.samples, *w.sizes[:-1])
        w.data = f"synthetic (uniform [0,1) inputs, uniform labels, seed {random_state})"
    w.samples = int(w.x.shape[0])
    w.batch_size = min(w.batch_size, w.samples)
    return w


# ============================================================================ contenders
class SkipRow(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a contender factory that cannot run here or on this workload; the row is
    left out with the message as a note (e.g. "torch (native) cuda: skipped (no GPU)").

    The :func:`bench` call below is skipped by the doctests (see :func:`bench`).

    Example:
        >>> def gpu_only(workload, dtype, seed):
        ...     raise SkipRow("my row: skipped (no GPU)")
        >>> w = make_workload("custom", sizes=(8, 4), samples=16)
        >>> result = bench(w, "numpy", repeats=1, extra=[gpu_only])  # doctest: +SKIP
        >>> [row["impl"] for row in result["rows"]], result["notes"]  # doctest: +SKIP
        (['xpnet'], ['my row: skipped (no GPU)'])
    """


class Contender:
    """One row of the table: something set up once, then run for N epochs at a time.

    Subclass it for a custom row (``bench(extra=[factory])``): set ``impl`` and pass the
    :class:`Backend` of the array library and device the row computes on (default: NumPy on
    the host) to ``__init__``; the row's labels, CPU threads, memory probe, synchronization
    and ``gemm_key`` (which bare-GEMM timing its overhead is measured against) come from it.
    Build models and move data in ``setup``; train ``epochs`` epochs (every sample once,
    shuffled) in ``run``.  Attributes created by ``setup``/``run`` are dropped after the row
    is measured.  The :func:`bench` call below is skipped by the doctests (see :func:`bench`).

    Example:
        >>> class Noop(Contender):
        ...     impl = "noop"
        ...     def setup(self):
        ...         self.steps = 0
        ...     def run(self, epochs):
        ...         self.steps += epochs
        >>> row = Noop(make_workload("custom", sizes=(8, 4), samples=16), "float32", 0)
        >>> row.setup(); row.run(2)
        >>> row.impl, row.backend_label, row.device_label, row.steps
        ('noop', 'numpy', 'cpu', 2)
        >>> result = bench(row.w, "numpy", repeats=1, extra=[Noop])  # doctest: +SKIP
        >>> [r["impl"] for r in result["rows"]]  # doctest: +SKIP
        ['xpnet', 'noop']
    """

    impl = "xpnet"

    def __init__(self, workload: Workload, dtype: str, seed: int,
                 backend: Backend | None = None) -> None:
        self.w, self.dtype, self.seed = workload, dtype, seed
        self.backend = backend or get_backend("numpy", dtype, seed)
        self.backend_label, self.device_label = self.backend.name, self.backend.device_label()
        self.threads = self.backend.threads()
        #: rows on one array library and device share one bare-GEMM timing
        self.gemm_key: str | None = self.backend.compute_key()

    def probe(self) -> Any:
        """A memory probe opened before ``setup``; its ``peak_bytes()`` is read at the end."""
        return self.backend.memory_probe()

    def setup(self) -> None:
        """Build the model and move the data (timed as ``setup_s``)."""
        raise NotImplementedError

    def run(self, epochs: int) -> None:
        """Train ``epochs`` epochs."""
        raise NotImplementedError

    def sync(self) -> None:
        """Wait for queued device work (before a clock is read)."""
        self.backend.sync()

    def close(self, keep: set[str]) -> None:
        """Drop what ``setup``/``run`` created (device data, models) before the next row."""
        for key in list(vars(self)):
            if key not in keep:
                delattr(self, key)


class _XpnetMLP(Contender):
    """MultiLayerNetExtend + Trainer(evaluate=False), as the workload's recipe says: the
    estimator's core."""

    def network(self) -> Any:
        """The workload's network on this row's backend."""
        from ..nn.network import MultiLayerNetExtend  # noqa: PLC0415

        s, activation = self.w.sizes, self.w.recipe["activation"]
        return MultiLayerNetExtend(s[0], list(s[1:-1]), s[-1], activation=activation,
                                   weight_init_std=activation, backend=self.backend,
                                   dtype=self.dtype, random_state=self.seed)

    def setup(self) -> None:
        from ..nn.trainer import Trainer  # noqa: PLC0415

        self.net = self.network()
        recipe = self.w.recipe
        common = {"mini_batch_size": self.w.batch_size, "verbose": False, "evaluate": False,
                  "shuffle": recipe["shuffle"]}
        self.cold = Trainer(self.net, self.w.x, self.w.y, epochs=1, optimizer=recipe["optimizer"],
                            optimizer_param={"lr": recipe["lr"]}, **common)
        # the timed trainer reuses the device data and the optimizer (its Adam moments)
        self.trainer = Trainer(self.net, self.cold.x_train, self.cold.t_train,
                               epochs=self.w.epochs, optimizer=self.cold.optimizer, **common)

    def run(self, epochs: int) -> None:
        # the cold first epoch has its own one-epoch Trainer; the timed runs use ``trainer``
        (self.trainer if epochs == self.trainer.epochs else self.cold).train()


class _XpnetConv(_XpnetMLP):
    """The convolution workload's Network (its recipe's layers), trained like the MLPs."""

    def network(self) -> Any:
        from ..nn.network import Network  # noqa: PLC0415

        return Network(self.w.recipe["layers"], self.w.sizes[:-1],
                       weight_init_std=self.w.recipe["activation"],
                       backend=self.backend, dtype=self.dtype, random_state=self.seed)


class _XpnetDual(Contender):
    """xpnet's DualLayer(l2=0.01): seed 001's network through xpnet (no GEMM floor: a full
    batch through 10 hidden units has none worth timing)."""

    def setup(self) -> None:
        from ..nn.seed_models import DualLayer  # noqa: PLC0415

        b, w = self.backend, self.w
        self.model = DualLayer(units=SEED_DUAL_UNITS, l2=SEED_DUAL_L2, backend=b,
                               dtype=self.dtype, random_state=self.seed)
        # moved once, like the Trainer does for the MLPs
        self.data = (b.asarray(w.x), b.asarray(w.y), b.asarray(w.x_val), b.asarray(w.y_val))

    def run(self, epochs: int) -> None:
        x, y, xv, yv = self.data
        self.model.losses.clear()
        self.model.val_losses.clear()
        self.model.fit(x, y, xv, yv, epochs=epochs)


# ============================================================================ bare GEMMs
class _Gemm(Contender):
    """The bare matrix products of an epoch on one library and device, timed in the same
    rounds as the rows.

    Per step: the gather of the batch's rows, then for each weight W_i (``Workload.gemms``:
    a dense layer's, or a convolution's filters against its im2col matrix) the forward product
    ``a_i @ W_i`` and the backward ``a_i^T @ d_i`` (weight gradient) and ``d_i @ W_i^T`` (input
    gradient, except the first layer's, which nobody needs), at the workload's batch size,
    times the steps of an epoch (the last, smaller batch included).  The first dense layer
    multiplies the gathered rows; the other ``a_i`` and ``d_i`` are fixed arrays of their
    shapes.  No im2col, activations, pooling, losses or optimizer.
    """

    impl = "bare GEMMs"

    def setup(self) -> None:
        b, bs, gemms = self.backend, self.w.batch_size, self.w.gemms()
        with self.backend.device_context():
            self.weights = [b.normal((k, m), 1.0 / math.sqrt(k)) for _, k, m in gemms]
            full, rest = divmod(self.w.samples, bs)
            self.plan = [(bs, full)] + ([(rest, 1)] if rest else [])
            # the epoch's inputs, gathered per batch like the Trainer's ``take`` of its rows
            self.x = b.normal((self.w.samples, math.prod(self.w.x.shape[1:])))
            self.order = b.permutation(self.w.samples)
            first = gemms[0][:2] == (1, self.x.shape[1])  # a dense layer takes the rows
            self.a = {n: [None if i == 0 and first else b.normal((n * r, k))
                          for i, (r, k, _) in enumerate(gemms)] for n, _ in self.plan}
            self.d = {n: [b.normal((n * r, m)) for r, _, m in gemms] for n, _ in self.plan}

    def _step(self, start: int, n: int) -> None:
        xp = self.backend.xp
        rows = xp.take(self.x, self.order[start:start + n], axis=0)
        for i, (a, w, d) in enumerate(zip(self.a[n], self.weights, self.d[n], strict=True)):
            a = rows if a is None else a
            _ = a @ w, a.T @ d, (d @ w.T if i > 0 else None)

    def run(self, epochs: int) -> None:
        with self.backend.device_context():
            for _ in range(epochs):
                start = 0
                for n, count in self.plan:
                    for _ in range(count):
                        self._step(start, n)
                        start += n


# ============================================================================ measuring
def _label(c: Contender) -> str:
    return f"bare GEMMs ({c.gemm_key})" if isinstance(c, _Gemm) else c.impl


def _measure_all(contenders: Sequence[Contender], repeats: int,
                 log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Time every contender, interleaved so that a change in the machine's load hits all rows.

    Phase 1, one contender at a time: open its memory probe, ``setup`` (timed), the cold first
    epoch (timed; also the warm-up), read the peak memory.  Phase 2: ``repeats`` rounds, each
    running every contender once for ``epochs`` epochs (the order rotates every round), each
    run between two device synchronizations.  Afterwards every contender is closed.
    """
    say = log or (lambda _m: None)
    state = []
    for c in contenders:
        keep = set(vars(c))
        gc.collect()
        probe = c.probe()
        t0 = time.perf_counter()
        c.setup()
        c.sync()
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        c.run(1)  # cold: context creation, kernel compilation, lazy state; also the warm-up
        c.sync()
        first = time.perf_counter() - t0
        state.append({"c": c, "keep": keep, "setup_s": setup_s, "first": first,
                      "peak": probe.peak_bytes(), "method": probe.method, "times": []})
        say(f"  set up {_label(c)} on {c.backend_label} {c.device_label}: setup "
            f"{setup_s:.3g} s, cold first epoch {first:.3g} s")
    k = len(state)
    for r in range(repeats):
        say(f"  timed round {r + 1}/{repeats}")
        for j in range(k):
            st = state[(j + r) % k]
            c, epochs = st["c"], st["c"].w.epochs
            c.sync()
            t0 = time.perf_counter()
            c.run(epochs)
            c.sync()
            st["times"].append((time.perf_counter() - t0) / epochs)
    rows = []
    for st in state:
        c, times = st["c"], st["times"]
        c.close(st["keep"])
        med = statistics.median(times)
        row = {
            "impl": c.impl, "backend": c.backend_label, "device": c.device_label,
            "dtype": getattr(c, "result_dtype", c.dtype),
            "seconds_per_epoch": med, "seconds_min": min(times), "seconds_max": max(times),
            "seconds_all": times, "repeats": repeats, "epochs_per_repeat": c.w.epochs,
            "samples_per_s": c.w.samples / med if med > 0 else None,
            "setup_s": st["setup_s"], "first_epoch_s": st["first"],
            "first_call_s": st["setup_s"] + st["first"],
            "peak_mem_bytes": st["peak"], "peak_mem_mib": st["peak"] / 2**20,
            "mem_method": st["method"], "threads": c.threads, "speedup": None,
            "gemm_s_per_epoch": None, "overhead_s_per_epoch": None,
        }
        say(f"  {_label(c):<24} {c.backend_label:<16} {c.device_label:<8} {med:10.4g} s/epoch")
        rows.append(row)
    gc.collect()
    return rows


def _contenders(w: Workload, specs: Sequence[str], dtype: str, seed: int,
                extra: Sequence[Callable[[Workload, str, int], Contender]],
                notes: list[str]) -> list[Contender]:
    """xpnet on each backend that can be had here, then the ``extra`` rows that can run."""
    rows: list[Contender] = []
    row_class = {"seed-dual": _XpnetDual, "conv": _XpnetConv}.get(w.kind, _XpnetMLP)
    for spec in specs:
        try:
            rows.append(row_class(w, dtype, seed, get_backend(spec, dtype, seed)))
        except BackendUnavailableError as err:
            notes.append(f"{spec}: skipped ({err})")
    for factory in extra:
        try:
            rows.append(factory(w, dtype, seed))
        except SkipRow as skip:
            notes.append(str(skip))
    return rows


def bench(workload: str | Workload = "fashion-mlp", backends: Sequence[str] | str | None = None,
          *, dtype: str = "float32", repeats: int = 5, epochs: int | None = None,
          sizes: Any = None, batch_size: int | None = None, samples: int | None = None,
          gemm: bool = True, random_state: int = 0,
          data_path: str | os.PathLike | None = None, command: str | None = None,
          extra: Sequence[Callable[[Workload, str, int], Contender]] = (),
          log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time one workload on several backends, beside its GEMM floor; JSON-ready results.

    Args:
        workload: a name of :data:`WORKLOADS` (default "fashion-mlp"), or a :class:`Workload`
            from :func:`make_workload`.
        backends: backend specs (list or comma-separated string); default
            :data:`DEFAULT_BACKENDS`. Unavailable ones are skipped with a note in
            ``result["notes"]``; "array_api_strict" runs only when named.
        dtype: "float32" (default) or "float64".
        repeats: timed runs; the reported time is their median.
        epochs: epochs per timed run (default: the workload's, see :data:`WORKLOADS`).
        sizes, batch_size, samples: custom MLP shape (see :func:`make_workload`).
        gemm: for MLP and convolution workloads, time the bare GEMMs of an epoch per device
            and report the overhead (epoch time minus GEMM time) of every row.
        random_state: seed of the weights, the shuffles and the synthetic data.
        data_path: a directory with the Fashion-MNIST IDX files.
        command: recorded in the results (the CLI passes its command line).
        extra: factories ``(workload, dtype, random_state) -> Contender`` of further rows,
            timed after xpnet's (``benchmarks/peers.py`` adds the peer implementations this
            way); a factory raises :class:`SkipRow` to leave its row out with a note.
        log: called with progress lines (e.g. ``print``); silent by default.

    Returns:
        ``{"rows": [...], "workload": {...}, "notes": [...], "gemm": {...}, "machine": {...},
        "command": str, "created": str, ...}``; each row holds ``impl``, ``backend``,
        ``device``, ``dtype``, ``seconds_per_epoch`` (median), ``samples_per_s``, ``speedup``
        (xpnet-numpy time / this time), ``setup_s``, ``first_epoch_s`` (cold),
        ``first_call_s``, ``peak_mem_bytes``/``peak_mem_mib`` (+ ``mem_method``),
        ``gemm_s_per_epoch``, ``overhead_s_per_epoch``, ``threads``, ``seconds_all``.

    The example is skipped by the doctests: ``bench`` records :func:`machine_info`, which
    imports PyTorch or CuPy where installed, and even this tiny run takes about half a second.

    Example:
        >>> w = make_workload("custom", sizes=(8, 4), samples=16, batch_size=8, epochs=1)
        >>> result = bench(w, "numpy", repeats=1)  # doctest: +SKIP
        >>> [(r["impl"], r["backend"], r["device"]) for r in result["rows"]]  # doctest: +SKIP
        [('xpnet', 'numpy', 'cpu')]
        >>> result["workload"]["steps_per_epoch"], result["repeats"]  # doctest: +SKIP
        (2, 1)
    """
    log = log or (lambda _msg: None)
    dtype = check_choice("dtype", dtype, ("float32", "float64"))
    repeats = check_positive("repeats", repeats, integer=True)
    if isinstance(workload, Workload):
        if epochs is not None:
            workload.epochs = check_positive("epochs", epochs, integer=True)
        w = workload
    else:
        w = make_workload(workload, sizes=sizes, batch_size=batch_size, samples=samples,
                          epochs=epochs, data_path=data_path, random_state=random_state)
    if backends is None:
        specs = list(DEFAULT_BACKENDS)
    else:
        specs = [s.strip() for s in (backends.split(",") if isinstance(backends, str)
                                     else map(str, backends)) if s.strip()]
    if not specs:
        raise ValueError(f"backends={backends!r} names no backend; pass e.g. "
                         f"backends='numpy,torch'")
    notes: list[str] = []
    started = _dt.datetime.now(_dt.timezone.utc)
    load_start = load_average()
    log(f"xpnet bench: workload {w.name} {'-'.join(map(str, w.sizes))}, {w.samples} samples, "
        f"batch {w.batch_size}, {w.epochs} epoch(s) x {repeats} repeats, {dtype}")
    contenders = _contenders(w, specs, dtype, random_state, extra, notes)
    n_rows = len(contenders)
    if gemm and w.gemms():
        for key in dict.fromkeys(c.gemm_key for c in contenders if c.gemm_key):
            contenders.append(_Gemm(w, dtype, random_state, get_backend(key, dtype, 0)))
    measured = _measure_all(contenders, repeats, log) if contenders else []
    rows = measured[:n_rows]
    gemm_table = {c.gemm_key: r["seconds_per_epoch"]
                  for c, r in zip(contenders[n_rows:], measured[n_rows:], strict=True)}
    for c, row in zip(contenders, rows, strict=False):
        if c.gemm_key in gemm_table:
            row["gemm_s_per_epoch"] = gemm_table[c.gemm_key]
            row["overhead_s_per_epoch"] = row["seconds_per_epoch"] - gemm_table[c.gemm_key]
    base = next((r for r in rows if r["impl"] == "xpnet" and r["backend"] == REFERENCE), None)
    for row in rows:
        if base is not None and row["seconds_per_epoch"] > 0:
            row["speedup"] = base["seconds_per_epoch"] / row["seconds_per_epoch"]
    if base is None:
        notes.append("speed-up column empty: numpy was not among the backends")
    call = ", ".join(f"{k}={v!r}" for k, v in dict(
        workload=w.name, backends=specs, dtype=dtype, repeats=repeats, epochs=w.epochs,
        sizes=list(w.sizes), batch_size=w.batch_size, samples=w.samples, gemm=gemm,
        random_state=random_state).items())
    return {
        "schema": "xpnet-bench/1",
        "workload": w.describe(),
        "dtype": dtype,
        "repeats": repeats,
        "rows": rows,
        "gemm": {"seconds_per_epoch": gemm_table,
                 "what": "per step the gather of the batch's rows, forward a@W and backward "
                         "a^T@d, d@W^T (no input gradient of the first layer) at the "
                         "workload's batch size, times the steps of an epoch; a "
                         "convolution's a is its im2col matrix (N*OH*OW, C*FH*FW)",
                 "products": [list(g) for g in w.gemms()]}
        if gemm_table else {},
        "notes": notes,
        "command": command if command is not None else f"xpnet.bench.bench({call})",
        "created": started.isoformat(timespec="seconds"),
        "elapsed_s": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(),
        "load_average": {"start": load_start, "end": load_average()},
        "machine": machine_info(),
    }


# ============================================================================ reporting
def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "speedup":
        return f"{value:.2f}x"
    if key == "samples_per_s":
        return f"{value:,.0f}"
    if key == "peak_mem_mib":
        return f"{value:.1f}"
    if isinstance(value, float):  # seconds
        return f"{value:.4g}"
    return str(value)


def format_table(result: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (readable in a terminal too), one line per row.

    Columns are :data:`TABLE_COLUMNS`; missing values print as "-".

    Example:
        >>> table = format_table([{"impl": "xpnet", "backend": "numpy", "device": "cpu",
        ...                        "dtype": "float32", "seconds_per_epoch": 0.5,
        ...                        "samples_per_s": 2000.0, "speedup": 1.0}])
        >>> lines = table.splitlines()
        >>> len(lines), [cell.strip() for cell in lines[2].split("|")[1:9]]
        (3, ['xpnet', 'numpy', 'cpu', 'float32', '0.5', '2,000', '1.00x', '-'])
    """
    rows = result["rows"] if isinstance(result, dict) else result
    table = [[title for _, title in TABLE_COLUMNS],
             *([_fmt(key, row.get(key)) for key, _ in TABLE_COLUMNS] for row in rows)]
    widths = [max(map(len, column)) for column in zip(*table, strict=True)]
    align = [str.ljust] * 4 + [str.rjust] * (len(TABLE_COLUMNS) - 4)  # text, then numbers

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(pad(cell, width) for pad, cell, width in
                                 zip(align, cells, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (width + 1) + ":" if pad is str.rjust else "-" * (width + 2)
                         for pad, width in zip(align, widths, strict=True)) + "|"
    return "\n".join([line(table[0]), sep, *map(line, table[1:])])


def _json_default(obj: Any) -> Any:
    """NumPy scalars as Python numbers; anything else JSON cannot hold as its text."""
    return obj.item() if isinstance(obj, np.generic) else str(obj)


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` (from :func:`bench`) as indented JSON; returns the path.

    Example:
        >>> import json, tempfile
        >>> import numpy as np
        >>> with tempfile.TemporaryDirectory() as tmp:  # NumPy scalars become numbers
        ...     path = write_json({"rows": [], "threads": np.int64(2)}, f"{tmp}/out/bench.json")
        ...     path.name, json.loads(path.read_text())
        ('bench.json', {'rows': [], 'threads': 2})
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    return path


def plot(result: dict[str, Any], path: str | os.PathLike, title: str | None = None) -> Path:
    """Bar chart of the rows' seconds per epoch via :func:`xpnet.plot.plot_bench`.

    Example:
        >>> import tempfile
        >>> result = {"rows": [{"impl": "xpnet", "backend": "numpy", "device": "cpu",
        ...                     "seconds_per_epoch": 0.5, "speedup": 1.0}],
        ...           "workload": {"name": "custom", "sizes": [8, 4], "batch_size": 8},
        ...           "dtype": "float32", "repeats": 1}
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     plot(result, f"{tmp}/bench.png").name
        'bench.png'
    """
    from ..edges.plot import plot_bench  # noqa: PLC0415 - matplotlib only when plotting

    bars = [{"backend": f"xpnet {r['backend']}" if r["impl"] == "xpnet" else r["impl"],
             "device": f"[{r['device']}]", "seconds_per_epoch": r["seconds_per_epoch"],
             "speedup": r.get("speedup")}
            for r in result["rows"]]
    wl = result["workload"]
    title = title or (f"{wl['name']} ({'-'.join(map(str, wl['sizes']))}, batch "
                      f"{wl['batch_size']}, {result['dtype']}): median of {result['repeats']}")
    return plot_bench(bars, path, title)


# ============================================================================ CLI
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``xpnet bench``'s options to ``parser`` (a sub-command parser); returns it.

    Example:
        >>> parser = add_arguments(argparse.ArgumentParser(prog="xpnet bench"))
        >>> args = parser.parse_args(["--workload", "conv", "--repeats", "3"])
        >>> args.workload, args.repeats, args.backends
        ('conv', 3, 'numpy,torch,cupy,torch:cuda')
    """
    parser.add_argument("--workload", default="fashion-mlp", choices=tuple(WORKLOADS),
                        help="what to train (default: fashion-mlp): " + "; ".join(
                            f"{w.name}: {w.about}" for w in WORKLOADS.values()))
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                        help="comma-separated backends, e.g. numpy,torch,cupy,torch:cuda,"
                             "array_api_strict (default: %(default)s; unavailable ones are "
                             "skipped with a note)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                        help="float dtype of every row (default: float32)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs; the median is reported (default: 5)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per timed run (default: the workload's: " + ", ".join(
                            f"{w.name} {w.epochs}" for w in WORKLOADS.values()) + ")")
    parser.add_argument("--sizes", default=None,
                        help="custom layer sizes, e.g. 784,512,10 (selects --workload custom)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="mini-batch size (default: the workload's)")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples per epoch (default: the workload's)")
    parser.add_argument("--no-gemm", action="store_true",
                        help="skip the bare-GEMM timing and the overhead column")
    parser.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    parser.add_argument("--data-path", default=None,
                        help="directory with the Fashion-MNIST IDX files")
    parser.add_argument("--json", dest="json_path", default=None, metavar="PATH",
                        help="write the results (rows, machine info, command) as JSON")
    parser.add_argument("--plot", dest="plot_path", default=None, metavar="PATH",
                        help="draw the seconds per epoch as a bar chart (PNG)")
    parser.add_argument("--quiet", action="store_true", help="print only the table")
    return parser


def run_cli(args: argparse.Namespace,
            extra: Sequence[Callable[[Workload, str, int], Contender]] = ()) -> int:
    """Run ``xpnet bench`` with parsed ``args`` (and the ``extra`` rows of :func:`bench`);
    prints the table, returns the exit status.

    The run is skipped by the doctests, like :func:`bench`'s example.

    Example:
        >>> args = add_arguments(argparse.ArgumentParser()).parse_args(
        ...     ["--workload", "custom", "--sizes", "8,4", "--samples", "16",
        ...      "--backends", "numpy", "--repeats", "1", "--quiet"])
        >>> run_cli(args)  # doctest: +SKIP
        workload custom: 8-4, 16 samples, batch 16, data: synthetic ...; median of 1 x 1 epoch(s)
        | impl  | backend | device | dtype   | s/epoch (median) | ...
        ...
        0
    """
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    # bad values raise ValueError/TypeError naming the option; xpnet's CLI (and ``main``)
    # turn them into one line "xpnet: error: ..." with exit status 2
    result = bench(args.workload, args.backends, dtype=args.dtype, repeats=args.repeats,
                   epochs=args.epochs, sizes=args.sizes, batch_size=args.batch_size,
                   samples=args.samples, gemm=not args.no_gemm, random_state=args.seed,
                   data_path=args.data_path, command=getattr(args, "command", None),
                   extra=extra, log=log)
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    if not result["rows"]:
        print(f"xpnet: error: none of --backends {args.backends} can run here (see the notes "
              f"above); pass --backends numpy", file=sys.stderr)
        return 2
    wl = result["workload"]
    print(f"workload {wl['name']}: {'-'.join(map(str, wl['sizes']))}, {wl['samples']} samples, "
          f"batch {wl['batch_size']}, data: {wl['data']}; median of {result['repeats']} x "
          f"{wl['epochs_per_repeat']} epoch(s)")
    print(format_table(result))
    if args.json_path:
        print(f"wrote {write_json(result, args.json_path)}", file=sys.stderr)
    if args.plot_path:
        print(f"wrote {plot(result, args.plot_path)}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "xpnet bench",
         extra: Sequence[Callable[[Workload, str, int], Contender]] = ()) -> int:
    """``python -m xpnet.tools.bench [options]``: the same as ``xpnet bench [options]``.

    ``prog`` names the command in the help and the recorded command line; ``extra`` adds rows
    (``benchmarks/peers.py`` runs this with the peer implementations).

    Example:
        >>> main(["--workload", "custom"])  # no --sizes: one "xpnet: error: ..." line on stderr
        2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = add_arguments(argparse.ArgumentParser(
        prog=prog, description="Time training on every available backend."))
    args = parser.parse_args(argv)
    args.command = " ".join([prog, *map(shlex.quote, argv)])
    try:
        return run_cli(args, extra)
    except (ValueError, TypeError, BackendUnavailableError) as err:
        print(f"xpnet: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
