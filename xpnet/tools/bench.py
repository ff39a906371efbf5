"""Backend timing comparison: ``xpnet bench`` and :func:`bench`.

Trains the same network on every available backend and reports the median seconds per epoch
over repeated runs, samples per second, the speed-up over NumPy, the cold first-call cost (on
its own, never folded into the median), the peak memory, and, for the MLP workloads, the time
of the bare matrix products of an epoch and the framework overhead on top of them.

Honest timing: every contender is synchronized (``Backend.sync``, ``torch.cuda.synchronize``)
before a clock is read; the first epoch (which pays for CUDA context creation, kernel
compilation, first-touch page faults, lazily created optimizer state) is timed separately and
also serves as the warm-up; the reported time is the median over ``repeats`` runs of ``epochs``
epochs each.  The timed runs are interleaved: every round runs every row once (in a rotating
order), so a change in the machine's load during the benchmark hits all rows alike instead of
skewing whichever row happened to run then.

Workloads (an "epoch" visits every training sample once, in a new shuffled order):

- ``seed-dual``: seed 001's ``DualLayer(l2=0.01)`` (ones-initialized, one sigmoid hidden layer
  of 10 units), full batch on the breast-cancer training split (364 x 30); an epoch is one
  full-batch gradient step plus the validation loss, exactly what the seed's ``fit`` does.
- ``fashion-mlp``: 784-256-128-10 ReLU, softmax cross-entropy, Adam(lr=1e-3), batch 128, on
  Fashion-MNIST's 60000 training images when installed, else synthetic data of that shape.
- ``large-mlp``: 784-2048-2048-10, batch 1024, 16384 synthetic samples.
- ``custom``: ``sizes``/``batch_size``/``samples`` of your choice, synthetic data.

``vs_peers=True`` adds native PyTorch (``nn.Sequential`` + ``torch.optim.Adam``, CPU and CUDA
when present), scikit-learn's ``MLPClassifier`` and a hand-written NumPy loop, all trained on
the same data with the same network, batch size, optimizer and dtype.

Only host-side code lives here: NumPy for data and bookkeeping; PyTorch and scikit-learn are
imported lazily, only for the peer rows and machine information.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import gc
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import Backend, BackendUnavailableError, get_backend
from ..backends.validation import check_choice, check_positive

__all__ = [
    "DEFAULT_BACKENDS",
    "WORKLOADS",
    "TABLE_COLUMNS",
    "Workload",
    "Contender",
    "make_workload",
    "bench",
    "format_table",
    "write_json",
    "plot",
    "gemm_seconds_per_epoch",
    "machine_info",
    "gpu_info",
    "slug",
    "blas_threads",
    "add_arguments",
    "run_cli",
    "main",
]

#: backends timed when none are named (unavailable ones are skipped with a note)
DEFAULT_BACKENDS = ("numpy", "torch", "cupy", "torch:cuda")

#: workload name -> defaults (``sizes`` None means "given by the caller")
WORKLOADS: dict[str, dict[str, Any]] = {
    "seed-dual": {"kind": "seed-dual", "sizes": (30, 10, 1), "batch_size": None,
                  "samples": None, "epochs": 500},
    "fashion-mlp": {"kind": "mlp", "sizes": (784, 256, 128, 10), "batch_size": 128,
                    "samples": 60000, "epochs": 1},
    "large-mlp": {"kind": "mlp", "sizes": (784, 2048, 2048, 10), "batch_size": 1024,
                  "samples": 16384, "epochs": 1},
    "custom": {"kind": "mlp", "sizes": None, "batch_size": 128, "samples": 20000, "epochs": 1},
}

#: (row key, column title) of the printed table, in order
TABLE_COLUMNS = (
    ("impl", "impl"),
    ("backend", "backend"),
    ("device", "device"),
    ("dtype", "dtype"),
    ("seconds_per_epoch", "s/epoch (median)"),
    ("samples_per_s", "samples/s"),
    ("speedup", "vs numpy"),
    ("first_epoch_s", "1st epoch s (cold)"),
    ("setup_s", "setup s"),
    ("peak_mem_mib", "peak mem MiB"),
    ("gemm_s_per_epoch", "GEMM s/epoch"),
    ("overhead_s_per_epoch", "overhead s/epoch"),
    ("threads", "threads"),
)

LEARNING_RATE = 1e-3
SEED_DUAL_L2 = 0.01
SEED_DUAL_UNITS = 10


# ============================================================================ workloads
@dataclass
class Workload:
    """What is trained: the data (host NumPy arrays), the layer sizes and the epoch shape."""

    name: str
    kind: str  # "mlp" or "seed-dual"
    sizes: tuple[int, ...]
    batch_size: int  # the full training set for seed-dual
    epochs: int  # epochs per timed repeat
    data: str  # where the data came from
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.samples / self.batch_size)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (no arrays)."""
        out = {"name": self.name, "kind": self.kind, "sizes": list(self.sizes),
               "batch_size": self.batch_size, "samples": self.samples,
               "steps_per_epoch": self.steps_per_epoch, "epochs_per_repeat": self.epochs,
               "data": self.data}
        if self.kind == "mlp":
            out.update(activation="relu", loss="softmax_cross_entropy", optimizer="adam",
                       lr=LEARNING_RATE, shuffle=True)
        else:
            out.update(model="DualLayer", l2=SEED_DUAL_L2, units=SEED_DUAL_UNITS,
                       init="ones", optimizer="sgd", lr=0.1, validation_samples=(
                           0 if self.x_val is None else int(self.x_val.shape[0])),
                       epoch="one full-batch gradient step plus the validation loss")
        return out


def _parse_sizes(sizes: Any) -> tuple[int, ...] | None:
    if sizes is None:
        return None
    if isinstance(sizes, str):
        try:
            sizes = [int(s) for s in sizes.replace(" ", "").split(",") if s]
        except ValueError:
            raise ValueError(f"sizes={sizes!r} must be comma-separated integers, e.g. "
                             f"--sizes 784,512,10") from None
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes={sizes!r} needs at least an input and an output size, e.g. "
                         f"sizes=(784, 512, 10)")
    return tuple(check_positive(f"sizes[{i}]", s, integer=True) for i, s in enumerate(sizes))


def _synthetic(n: int, d: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-like inputs in [0, 1) and uniform labels (timing does not depend on the values)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, d), dtype=np.float32), rng.integers(0, classes, n).astype(np.int64)


def make_workload(name: str = "fashion-mlp", *, sizes: Any = None, batch_size: int | None = None,
                  samples: int | None = None, epochs: int | None = None,
                  data_path: str | os.PathLike | None = None, random_state: int = 0) -> Workload:
    """Build a :class:`Workload` (loads or synthesizes its data on the host).

    Args:
        name: "seed-dual", "fashion-mlp", "large-mlp" or "custom" (``sizes`` required).
        sizes: layer sizes, e.g. (784, 512, 10) or "784,512,10"; given with ``name`` left at
            "fashion-mlp" it selects the custom workload.
        batch_size, samples, epochs: override the workload's defaults (``samples`` keeps the
            first rows of Fashion-MNIST).
        data_path: a directory holding the Fashion-MNIST IDX files.
        random_state: seed of the synthetic data.
    """
    name = check_choice("workload", name, tuple(WORKLOADS))
    parsed = _parse_sizes(sizes)
    if parsed is not None and name in ("fashion-mlp", "large-mlp"):
        if parsed != WORKLOADS[name]["sizes"]:
            name = "custom"
    if name == "custom" and parsed is None:
        raise ValueError("workload='custom' needs sizes, e.g. --sizes 784,512,10 "
                         "(or sizes=(784, 512, 10))")
    spec = WORKLOADS[name]
    epochs = spec["epochs"] if epochs is None else check_positive("epochs", epochs, integer=True)
    if name == "seed-dual":
        if parsed is not None or batch_size is not None:
            raise ValueError("workload='seed-dual' is the seed's fixed full-batch 30-10-1 "
                             "network; drop sizes/batch_size or use workload='custom'")
        from ..edges.datasets import load_breast_cancer_split  # noqa: PLC0415 - host-side edge

        split = load_breast_cancer_split(dtype="float64")
        x, y = split.x_train, split.y_train
        if samples is not None:
            n = check_positive("samples", samples, integer=True)
            x, y = x[:n], y[:n]
        return Workload(name, "seed-dual", (int(x.shape[1]), SEED_DUAL_UNITS, 1),
                        int(x.shape[0]), epochs,
                        "breast-cancer training split (scaled, seed 001's split)", x, y,
                        split.x_val, split.y_val)
    sizes_t = parsed or spec["sizes"]
    bs = spec["batch_size"] if batch_size is None else check_positive(
        "batch_size", batch_size, integer=True)
    n = spec["samples"] if samples is None else check_positive("samples", samples, integer=True)
    d, classes = sizes_t[0], sizes_t[-1]
    data = None
    if name == "fashion-mlp":
        try:
            from ..edges.datasets import load_fashion_mnist  # noqa: PLC0415

            x, y = load_fashion_mnist(data_path, "train")
            x, y = x[:n], y[:n]
            data = f"Fashion-MNIST train ({len(x)} images)"
        except (FileNotFoundError, OSError, ValueError):
            data = None
    if data is None:
        x, y = _synthetic(n, d, classes, random_state)
        data = f"synthetic (uniform [0,1) inputs, uniform labels, seed {random_state})"
    return Workload(name, "mlp", sizes_t, min(bs, len(x)), epochs, data, x, y)


# ============================================================================ memory probes
def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class _HostPeak:
    """Peak resident-set growth of this process while the probe is open.

    Linux: resets the high-water mark (``/proc/self/clear_refs``) and reads ``VmHWM`` against
    the starting ``VmRSS``.  Elsewhere: the growth of ``ru_maxrss`` (a lower bound: zero when
    an earlier peak was higher).
    """

    def __init__(self) -> None:
        self.method = "rss-hwm"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base = _proc_status_kib("VmRSS")
            if self.base is None:
                raise OSError
        except OSError:
            self.method = "ru_maxrss-delta"
            self.base = self._maxrss_kib()

    @staticmethod
    def _maxrss_kib() -> int:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss // 1024 if sys.platform == "darwin" else rss

    def peak_bytes(self) -> int:
        if self.method == "rss-hwm":
            hwm = _proc_status_kib("VmHWM") or self.base
            return max(hwm - self.base, 0) * 1024
        return max(self._maxrss_kib() - self.base, 0) * 1024


class _CupyPeak:
    """Bytes the CuPy memory pool grew by (the pool keeps freed blocks, so this is its peak)."""

    method = "cupy-pool-total-bytes"

    def __init__(self, cupy: Any, device: Any) -> None:
        self.cupy, self.device = cupy, device
        with device:
            pool = cupy.get_default_memory_pool()
            pool.free_all_blocks()
            self.base = pool.total_bytes()

    def peak_bytes(self) -> int:
        with self.device:
            return max(int(self.cupy.get_default_memory_pool().total_bytes()) - self.base, 0)


class _TorchCudaPeak:
    """``torch.cuda.max_memory_allocated`` growth since the probe opened."""

    method = "torch.cuda.max_memory_allocated"

    def __init__(self, torch: Any, device: Any) -> None:
        self.torch, self.device = torch, device
        torch.cuda.reset_peak_memory_stats(device)
        self.base = torch.cuda.memory_allocated(device)

    def peak_bytes(self) -> int:
        return max(int(self.torch.cuda.max_memory_allocated(self.device)) - self.base, 0)


def blas_threads() -> int | None:
    """Threads of NumPy's BLAS pool (threadpoolctl), None when it cannot be told."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        return None
    for info in threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
            return int(info["num_threads"])
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return int(infos[0]["num_threads"]) if infos else None


# ============================================================================ contenders
class Contender:
    """One row of the table: something set up once, then run for N epochs at a time.

    Subclass it for a custom row (``bench(extra=[factory])``): set ``impl``, ``backend_label``,
    ``device_label``, ``threads`` and ``gemm_key`` ("numpy", "torch:cpu", "cupy:cuda:0", ...:
    which bare-GEMM timing its overhead is measured against) in ``__init__``; build models and
    move data in ``setup``; train ``epochs`` epochs (every sample once, shuffled) in ``run``;
    wait for queued device work in ``sync``; return a memory probe from ``probe``. Attributes
    created by ``setup``/``run`` are dropped after the row is measured.
    """

    impl = "xpnet"
    #: which bare-GEMM timing applies to this row (same array library and device)
    gemm_key: str | None = None

    def __init__(self, workload: Workload, dtype: str, seed: int) -> None:
        self.w, self.dtype, self.seed = workload, dtype, seed
        self.backend_label, self.device_label = "numpy", "cpu"
        self.threads: int | None = None
        self.note = ""

    def probe(self) -> Any:
        """A memory probe opened before ``setup``; its ``peak_bytes()`` is read at the end."""
        return _HostPeak()

    def setup(self) -> None:
        """Build the model and move the data (timed as ``setup_s``)."""
        raise NotImplementedError

    def run(self, epochs: int) -> None:
        """Train ``epochs`` epochs."""
        raise NotImplementedError

    def sync(self) -> None:
        """Wait for queued device work (nothing to wait for on the CPU)."""

    def close(self, keep: set[str]) -> None:
        """Drop what ``setup``/``run`` created (device data, models) before the next row."""
        for key in list(vars(self)):
            if key not in keep:
                delattr(self, key)


def _probe_for(backend: Backend) -> Any:
    if backend.name == "cupy":
        return _CupyPeak(backend._module, backend.device)
    if backend.name == "torch" and backend.device.type == "cuda":
        return _TorchCudaPeak(backend._module, backend.device)
    return _HostPeak()


def _torch_device_name(torch: Any, device: Any) -> str:
    """"cpu" or "cuda:<index>" (a bare "cuda" names the current device)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index}"
    return str(device)


def _device_label(backend: Backend) -> str:
    if backend.name == "torch":
        return _torch_device_name(backend._module, backend.device)
    return backend.device_name


def _gemm_key_for(backend: Backend) -> str:
    """Bare GEMM timings are shared by rows on the same array library and device."""
    if backend.name in ("numpy", "array_api_strict"):
        return "numpy"  # array_api_strict computes with NumPy underneath
    return f"{backend.name}:{_device_label(backend)}"


def _threads_of(backend: Backend) -> int | None:
    """CPU threads the backend's kernels use (torch.get_num_threads, or the BLAS pool)."""
    if backend.is_gpu:
        return None
    if backend.name == "torch":
        return int(backend._module.get_num_threads())
    return blas_threads()


class _XpnetContender(Contender):
    """A row that trains with xpnet itself on ``backend``."""

    def __init__(self, workload: Workload, dtype: str, seed: int, backend: Backend) -> None:
        super().__init__(workload, dtype, seed)
        self.backend = backend
        self.backend_label = backend.name
        self.device_label = _device_label(backend)
        self.threads = _threads_of(backend)

    def probe(self) -> Any:
        return _probe_for(self.backend)

    def sync(self) -> None:
        self.backend.sync()


class _XpnetMLP(_XpnetContender):
    """MultiLayerNetExtend + Trainer(optimizer="adam", evaluate=False): the estimator's core."""

    def __init__(self, workload: Workload, dtype: str, seed: int, backend: Backend) -> None:
        super().__init__(workload, dtype, seed, backend)
        self.gemm_key = _gemm_key_for(backend)

    def setup(self) -> None:
        from ..nn.network import MultiLayerNetExtend  # noqa: PLC0415
        from ..nn.trainer import Trainer  # noqa: PLC0415

        s = self.w.sizes
        self.net = MultiLayerNetExtend(s[0], list(s[1:-1]), s[-1], activation="relu",
                                       weight_init_std="relu", backend=self.backend,
                                       dtype=self.dtype, random_state=self.seed)
        common = {"mini_batch_size": self.w.batch_size, "verbose": False, "evaluate": False,
                  "shuffle": True}
        self.cold = Trainer(self.net, self.w.x, self.w.y, epochs=1, optimizer="adam",
                            optimizer_param={"lr": LEARNING_RATE}, **common)
        # the timed trainer reuses the device data and the optimizer (its Adam moments)
        self.trainer = Trainer(self.net, self.cold.x_train, self.cold.t_train,
                               epochs=self.w.epochs, optimizer=self.cold.optimizer, **common)

    def run(self, epochs: int) -> None:
        # the cold first epoch has its own one-epoch Trainer; the timed runs use ``trainer``
        (self.trainer if epochs == self.trainer.epochs else self.cold).train()


class _XpnetDual(_XpnetContender):
    """xpnet's DualLayer(l2=0.01): seed 001's network through xpnet."""

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


class _TorchNative(Contender):
    """A plain PyTorch loop: nn.Sequential + CrossEntropyLoss + torch.optim.Adam, default
    threads, one ``randperm`` per epoch, the loss summed on the device and read once."""

    impl = "torch (native)"

    def __init__(self, workload: Workload, dtype: str, seed: int, device: str) -> None:
        super().__init__(workload, dtype, seed)
        import torch  # noqa: PLC0415 - peers only

        self.torch = torch
        self.device_label = _torch_device_name(torch, torch.device(device))
        self.dev = torch.device(self.device_label)
        self.backend_label = "torch"
        self.threads = torch.get_num_threads() if self.dev.type == "cpu" else None
        self.gemm_key = f"torch:{self.device_label}"

    def probe(self) -> Any:
        if self.dev.type == "cuda":
            return _TorchCudaPeak(self.torch, self.dev)
        return _HostPeak()

    def setup(self) -> None:
        torch, nn, s = self.torch, self.torch.nn, self.w.sizes
        torch.manual_seed(self.seed)
        tdtype = getattr(torch, self.dtype)
        layers: list[Any] = []
        for i in range(len(s) - 1):
            layers.append(nn.Linear(s[i], s[i + 1]))
            if i < len(s) - 2:
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers).to(device=self.dev, dtype=tdtype)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)
        self.loss_fn = nn.CrossEntropyLoss()
        self.x = torch.as_tensor(self.w.x, dtype=tdtype, device=self.dev)
        self.y = torch.as_tensor(self.w.y, dtype=torch.int64, device=self.dev)
        self.gen = torch.Generator(device=self.dev)
        self.gen.manual_seed(self.seed)

    def run(self, epochs: int) -> None:
        torch, model, opt, loss_fn = self.torch, self.model, self.opt, self.loss_fn
        x, y, n, bs = self.x, self.y, self.w.samples, self.w.batch_size
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=self.gen, device=self.dev)
            loss_sum = torch.zeros((), dtype=x.dtype, device=self.dev)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                xb, yb = x[idx], y[idx]
                loss = loss_fn(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * xb.shape[0]
            self.last_loss = float(loss_sum) / n  # one host sync per epoch, like the Trainer

    def sync(self) -> None:
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize(self.dev)


class _Sklearn(Contender):
    """scikit-learn's MLPClassifier(solver="adam", alpha=0, tol=0, shuffle=True), max_iter=N
    epochs per fit (its fit validates, encodes the labels and initializes each time)."""

    impl = "sklearn"

    def __init__(self, workload: Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)
        self.backend_label = "numpy"
        self.threads = blas_threads()
        self.result_dtype = dtype
        self.gemm_key = "numpy"

    def setup(self) -> None:
        from sklearn.neural_network import MLPClassifier  # noqa: PLC0415 - peers only

        self.cls = MLPClassifier
        self.x = np.ascontiguousarray(self.w.x, dtype=self.dtype)
        self.y = self.w.y

    def run(self, epochs: int) -> None:
        s = self.w.sizes
        model = self.cls(hidden_layer_sizes=tuple(s[1:-1]), activation="relu", solver="adam",
                         batch_size=self.w.batch_size, alpha=0.0,
                         learning_rate_init=LEARNING_RATE, max_iter=epochs, tol=0.0,
                         n_iter_no_change=10**9, shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
            model.fit(self.x, self.y)
        self.result_dtype = str(model.coefs_[0].dtype)


class _NumpyLoopMLP(Contender):
    """A plain hand-written NumPy loop: forward, backward and Adam per array, in place."""

    impl = "numpy (hand-written)"

    def __init__(self, workload: Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)
        self.threads = blas_threads()
        self.gemm_key = "numpy"

    def setup(self) -> None:
        rng = np.random.default_rng(self.seed)
        dt, s = np.dtype(self.dtype), self.w.sizes
        self.rng = rng
        self.W = [(rng.standard_normal((s[i], s[i + 1])) * math.sqrt(2.0 / s[i])).astype(dt)
                  for i in range(len(s) - 1)]
        self.b = [np.zeros(s[i + 1], dtype=dt) for i in range(len(s) - 1)]
        self.params = [*self.W, *self.b]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.x = np.ascontiguousarray(self.w.x, dtype=dt)
        self.y = self.w.y

    def _adam(self, i: int, g: np.ndarray, lr_t: float, eps_t: float) -> None:
        m, v, p = self.m[i], self.v[i], self.params[i]
        m *= 0.9
        m += 0.1 * g
        v *= 0.999
        v += 0.001 * (g * g)
        p -= lr_t * m / (np.sqrt(v) + eps_t)

    def run(self, epochs: int) -> None:
        x, y, n, bs = self.x, self.y, self.w.samples, self.w.batch_size
        W, nl = self.W, len(self.W)
        for _ in range(epochs):
            order = self.rng.permutation(n)
            loss_sum = 0.0
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                xb, yb = x[idx], y[idx]
                m = xb.shape[0]
                acts = [xb]
                h = xb
                for i in range(nl):
                    h = h @ W[i]
                    h += self.b[i]
                    if i < nl - 1:
                        np.maximum(h, 0.0, out=h)
                    acts.append(h)
                z = acts[-1]
                z -= z.max(axis=1, keepdims=True)
                np.exp(z, out=z)
                z /= z.sum(axis=1, keepdims=True)
                rows = np.arange(m)
                loss_sum -= float(np.log(z[rows, yb] + 1e-12).sum())
                d = z
                d[rows, yb] -= 1.0
                d *= 1.0 / m
                self.t += 1
                c2 = math.sqrt(1.0 - 0.999**self.t)
                lr_t = LEARNING_RATE * c2 / (1.0 - 0.9**self.t)
                for i in range(nl - 1, -1, -1):
                    gw = acts[i].T @ d
                    gb = d.sum(axis=0)
                    if i > 0:
                        d = d @ W[i].T
                        d *= acts[i] > 0
                    self._adam(i, gw, lr_t, 1e-8 * c2)
                    self._adam(nl + i, gb, lr_t, 1e-8 * c2)
            self.last_loss = loss_sum / n


class _NumpyLoopDual(Contender):
    """Seed 001's algorithm written plainly in NumPy (ones init, full batch, L2 / m, the
    validation loss every epoch), with the hidden bias gradient summed over axis 0."""

    impl = "numpy (hand-written)"

    def __init__(self, workload: Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)
        self.threads = blas_threads()

    def setup(self) -> None:
        dt = np.dtype(self.dtype)
        self.x = self.w.x.astype(dt)
        self.y = self.w.y.astype(dt).reshape(-1, 1)
        self.xv = self.w.x_val.astype(dt)
        self.yv = self.w.y_val.astype(dt).reshape(-1, 1)

    def run(self, epochs: int) -> None:
        x, y, xv, yv, l2, lr = self.x, self.y, self.xv, self.yv, SEED_DUAL_L2, 0.1
        m, dt = x.shape[0], x.dtype
        w1 = np.ones((x.shape[1], SEED_DUAL_UNITS), dtype=dt)
        b1 = np.zeros(SEED_DUAL_UNITS, dtype=dt)
        w2 = np.ones((SEED_DUAL_UNITS, 1), dtype=dt)
        b2 = np.zeros(1, dtype=dt)
        losses, val_losses = [], []

        def sigmoid(z: np.ndarray) -> np.ndarray:
            return 1.0 / (1.0 + np.exp(-z))

        def loss_of(a: np.ndarray, t: np.ndarray) -> float:
            a = np.clip(a, 1e-10, 1 - 1e-10)
            reg = l2 / 2 * (np.sum(w1 * w1) + np.sum(w2 * w2))
            return float((np.sum(-(t * np.log(a) + (1 - t) * np.log(1 - a))) + reg) / len(t))

        for _ in range(epochs):
            a1 = sigmoid(x @ w1 + b1)
            a = sigmoid(a1 @ w2 + b2)
            err = a - y
            w2_grad = a1.T @ err / m + l2 * w2 / m
            b2_grad = err.sum(axis=0) / m
            hidden = (err @ w2.T) * a1 * (1.0 - a1)
            w1_grad = x.T @ hidden / m + l2 * w1 / m
            b1_grad = hidden.sum(axis=0) / m
            w1 -= lr * w1_grad
            b1 -= lr * b1_grad
            w2 -= lr * w2_grad
            b2 -= lr * b2_grad
            losses.append(loss_of(a, y))
            val_losses.append(loss_of(sigmoid(sigmoid(xv @ w1 + b1) @ w2 + b2), yv))
        self.last_loss = losses[-1]


# ============================================================================ bare GEMMs
def _gemm_backend(key: str, dtype: str) -> Backend:
    spec = "numpy" if key == "numpy" else key.replace(":cpu", "")
    return get_backend(spec, dtype, random_state=0)


class _Gemm(Contender):
    """The bare matrix products of an epoch on one library and device (see
    :func:`gemm_seconds_per_epoch`); timed in the same rounds as the rows."""

    impl = "bare GEMMs"

    def __init__(self, workload: Workload, dtype: str, seed: int, backend: Backend,
                 key: str) -> None:
        super().__init__(workload, dtype, seed)
        self.backend, self.gemm_key = backend, key
        self.backend_label, self.device_label = backend.name, _device_label(backend)

    def probe(self) -> Any:
        return _probe_for(self.backend)

    def _ctx(self) -> Any:
        return self.backend.device if self.backend.name == "cupy" else contextlib.nullcontext()

    def setup(self) -> None:
        b, sizes, bs = self.backend, list(self.w.sizes), self.w.batch_size
        with self._ctx():
            self.weights = [b.normal((sizes[i], sizes[i + 1]), 1.0 / math.sqrt(sizes[i]))
                            for i in range(len(sizes) - 1)]
            full, rest = divmod(self.w.samples, bs)
            self.plan = [(bs, full)] + ([(rest, 1)] if rest else [])
            self.inputs = {n: (b.normal((n, sizes[0])), b.normal((n, sizes[-1])))
                           for n, _ in self.plan}

    def _step(self, n: int) -> None:
        weights = self.weights
        x, d = self.inputs[n]
        acts = [x]
        for w in weights:
            acts.append(acts[-1] @ w)
        grads = []
        for i in range(len(weights) - 1, -1, -1):
            grads.append(acts[i].T @ d)
            if i > 0:
                d = d @ weights[i].T

    def run(self, epochs: int) -> None:
        with self._ctx():
            for _ in range(epochs):
                for n, count in self.plan:
                    for _ in range(count):
                        self._step(n)

    def sync(self) -> None:
        self.backend.sync()


def gemm_seconds_per_epoch(backend: Backend, sizes: Sequence[int], samples: int,
                           batch_size: int, repeats: int = 3) -> float:
    """Median time of the bare matrix products of one epoch on ``backend``.

    Per step: the forward products ``a_i @ W_i`` and the backward ``a_i^T @ d`` (weight
    gradients) and ``d @ W_i^T`` (input gradients, except the first layer's, which nobody
    needs), at the workload's batch size, times the steps of an epoch (the last, smaller
    batch included).  No activations, losses, optimizer or data movement.  One untimed epoch
    warms up (allocator, thread pools, kernels: a few steps are not enough).
    """
    dummy = np.zeros((samples, 1), dtype=np.float32)
    w = Workload("gemm", "mlp", tuple(sizes), batch_size, 1, "none", dummy, dummy[:, 0])
    row = _measure_all([_Gemm(w, backend.dtype_name, 0, backend, "")], repeats)[0]
    return row["seconds_per_epoch"]


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
        if c.note:
            row["note"] = c.note
        say(f"  {_label(c):<24} {c.backend_label:<16} {c.device_label:<8} {med:10.4g} s/epoch")
        rows.append(row)
    gc.collect()
    return rows


def _resolve(spec: str, dtype: str, seed: int, notes: list[str]) -> Backend | None:
    try:
        return get_backend(spec, dtype, random_state=seed)
    except BackendUnavailableError as err:
        notes.append(f"{spec}: skipped ({err})")
    return None


def _torch_devices(notes: list[str]) -> list[str]:
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        notes.append("torch (native): skipped (PyTorch is not installed; pip install torch)")
        return []
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    else:
        notes.append("torch (native) cuda: skipped (no CUDA GPU visible to PyTorch)")
    return devs


def _command_line() -> str:
    """This process's command line, as a user would type it ("xpnet bench ...")."""
    argv = list(sys.argv)
    if not argv:
        return ""
    base = os.path.basename(argv[0])
    if base == "xpnet":
        head = "xpnet"
    elif base == "__main__.py":
        head = f"python -m {os.path.basename(os.path.dirname(argv[0]))}"
    elif argv[0].endswith(os.path.join("xpnet", "bench.py")):
        head = "python -m xpnet.bench"
    else:
        head = f"python {argv[0]}"
    return " ".join([head, *(shlex.quote(a) for a in argv[1:])])


def _call_repr(**kwargs: Any) -> str:
    return "xpnet.bench.bench(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"


def bench(workload: str | Workload = "fashion-mlp", backends: Sequence[str] | str | None = None,
          *, dtype: str = "float32", repeats: int = 5, epochs: int | None = None,
          sizes: Any = None, batch_size: int | None = None, samples: int | None = None,
          vs_peers: bool = False, gemm: bool = True, random_state: int = 0,
          data_path: str | os.PathLike | None = None, command: str | None = None,
          extra: Sequence[Callable[[Workload, str, int], Contender]] = (),
          log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Time one workload on several backends (and optionally its peers); JSON-ready results.

    Args:
        workload: "seed-dual", "fashion-mlp" (default), "large-mlp", "custom", or a
            :class:`Workload` from :func:`make_workload`.
        backends: backend specs (list or comma-separated string); default
            :data:`DEFAULT_BACKENDS`. Unavailable ones are skipped with a note in
            ``result["notes"]``; "array_api_strict" runs only when named.
        dtype: "float32" (default) or "float64".
        repeats: timed runs; the reported time is their median.
        epochs: epochs per timed run (default: 500 for seed-dual, 1 otherwise).
        sizes, batch_size, samples: custom MLP shape (see :func:`make_workload`).
        vs_peers: add native PyTorch (CPU, and CUDA when present), scikit-learn's
            MLPClassifier and a hand-written NumPy loop (seed-dual: the NumPy loop only).
        gemm: for MLP workloads, time the bare GEMMs of an epoch per device and report the
            overhead (epoch time minus GEMM time) of every row.
        random_state: seed of the weights, the shuffles and the synthetic data.
        data_path: a directory with the Fashion-MNIST IDX files.
        command: recorded in the results (the CLI passes its command line).
        extra: factories ``(workload, dtype, random_state) -> Contender`` of further rows,
            timed after the peers (benchmarks/run_cpu.py adds xpnet.MLPClassifier this way).
        log: called with progress lines (e.g. ``print``); silent by default.

    Returns:
        ``{"rows": [...], "workload": {...}, "notes": [...], "gemm": {...}, "machine": {...},
        "command": str, "created": str, ...}``; each row holds ``impl``, ``backend``,
        ``device``, ``dtype``, ``seconds_per_epoch`` (median), ``samples_per_s``, ``speedup``
        (xpnet-numpy time / this time), ``setup_s``, ``first_epoch_s`` (cold),
        ``first_call_s``, ``peak_mem_bytes``/``peak_mem_mib`` (+ ``mem_method``),
        ``gemm_s_per_epoch``, ``overhead_s_per_epoch``, ``threads``, ``seconds_all``.
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
    elif isinstance(backends, str):
        specs = [s.strip() for s in backends.split(",") if s.strip()]
    else:
        specs = [str(s).strip() for s in backends]
    if not specs:
        raise ValueError(f"backends={backends!r} names no backend; pass e.g. "
                         f"backends='numpy,torch'")
    notes: list[str] = []
    started = _dt.datetime.now(_dt.timezone.utc)
    load_start = _loadavg()
    log(f"xpnet bench: workload {w.name} {'-'.join(map(str, w.sizes))}, {w.samples} samples, "
        f"batch {w.batch_size}, {w.epochs} epoch(s) x {repeats} repeats, {dtype}")
    contenders: list[Contender] = []
    for spec in specs:
        backend = _resolve(spec, dtype, random_state, notes)
        if backend is not None:
            contenders.append((_XpnetDual if w.kind == "seed-dual" else _XpnetMLP)(
                w, dtype, random_state, backend))
    if vs_peers:
        if w.kind == "seed-dual":
            contenders.append(_NumpyLoopDual(w, dtype, random_state))
            notes.append("seed-dual peers: a hand-written NumPy loop of the seed's algorithm "
                         "(PyTorch and scikit-learn have no such model)")
        else:
            contenders += [_TorchNative(w, dtype, random_state, d)
                           for d in _torch_devices(notes)]
            contenders += [_Sklearn(w, dtype, random_state), _NumpyLoopMLP(w, dtype,
                                                                           random_state)]
    contenders += [factory(w, dtype, random_state) for factory in extra]
    n_rows = len(contenders)
    if gemm and w.kind == "mlp":
        for key in dict.fromkeys(c.gemm_key for c in contenders if c.gemm_key):
            contenders.append(_Gemm(w, dtype, random_state, _gemm_backend(key, dtype), key))
    measured = _measure_all(contenders, repeats, log) if contenders else []
    rows = measured[:n_rows]
    gemm_table = {c.gemm_key: r["seconds_per_epoch"]
                  for c, r in zip(contenders[n_rows:], measured[n_rows:], strict=True)}
    for c, row in zip(contenders, rows, strict=False):
        if c.gemm_key in gemm_table:
            row["gemm_s_per_epoch"] = gemm_table[c.gemm_key]
            row["overhead_s_per_epoch"] = row["seconds_per_epoch"] - gemm_table[c.gemm_key]
    base = next((r for r in rows if r["impl"] == "xpnet" and r["backend"] == "numpy"), None)
    for row in rows:
        if base is not None and row["seconds_per_epoch"] > 0:
            row["speedup"] = base["seconds_per_epoch"] / row["seconds_per_epoch"]
    if base is None:
        notes.append("speed-up column empty: numpy was not among the backends")
    result = {
        "schema": "xpnet-bench/1",
        "workload": w.describe(),
        "dtype": dtype,
        "repeats": repeats,
        "rows": rows,
        "gemm": {"seconds_per_epoch": gemm_table,
                 "what": "forward a@W and backward a^T@d, d@W^T (no input gradient of the "
                         "first layer) at the workload's batch size, times the steps of an "
                         "epoch"} if gemm_table else {},
        "notes": notes,
        "command": command if command is not None else _call_repr(
            workload=w.name, backends=specs, dtype=dtype, repeats=repeats, epochs=w.epochs,
            sizes=list(w.sizes), batch_size=w.batch_size, samples=w.samples,
            vs_peers=vs_peers, gemm=gemm, random_state=random_state),
        "created": started.isoformat(timespec="seconds"),
        "elapsed_s": (_dt.datetime.now(_dt.timezone.utc) - started).total_seconds(),
        "load_average": {"start": load_start, "end": _loadavg()},
        "machine": machine_info(),
    }
    return result


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
    if key in ("seconds_per_epoch", "gemm_s_per_epoch", "overhead_s_per_epoch", "first_epoch_s",
               "setup_s"):
        return f"{value:.4g}"
    return str(value)


def format_table(result: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (readable in a terminal too), one line per row.

    Columns are :data:`TABLE_COLUMNS`; missing values print as "-".
    """
    rows = result["rows"] if isinstance(result, dict) else result
    header = [title for _, title in TABLE_COLUMNS]
    body = [[_fmt(key, row.get(key)) for key, _ in TABLE_COLUMNS] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    num = {key for key, _ in TABLE_COLUMNS[4:]}

    def line(cells: Sequence[str]) -> str:
        out = []
        for (key, _), cell, width in zip(TABLE_COLUMNS, cells, widths, strict=True):
            out.append(cell.rjust(width) if key in num else cell.ljust(width))
        return "| " + " | ".join(out) + " |"
    sep = "|" + "|".join(("-" * (wd + 1) + ":") if key in num else ("-" * (wd + 2))
                         for (key, _), wd in zip(TABLE_COLUMNS, widths, strict=True)) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in body)])


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` (from :func:`bench`) as indented JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    return path


def plot(result: dict[str, Any], path: str | os.PathLike, title: str | None = None) -> Path:
    """Bar chart of the rows' seconds per epoch via :func:`xpnet.plot.plot_bench`."""
    from ..edges.plot import plot_bench  # noqa: PLC0415 - matplotlib only when plotting

    bars = [{"backend": f"xpnet {r['backend']}" if r["impl"] == "xpnet" else r["impl"],
             "device": f"[{r['device']}]", "seconds_per_epoch": r["seconds_per_epoch"],
             "speedup": r.get("speedup")}
            for r in result["rows"]]
    wl = result["workload"]
    title = title or (f"{wl['name']} ({'-'.join(map(str, wl['sizes']))}, batch "
                      f"{wl['batch_size']}, {result['dtype']}): median of {result['repeats']}")
    return plot_bench(bars, path, title)


# ============================================================================ machine info
def slug(text: str) -> str:
    """``text`` as a lowercase file-name fragment ("AMD EPYC 7B13" -> "amd-epyc-7b13")."""
    text = re.sub(r"\(r\)|\(tm\)|cpu @.*$", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unknown"


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas_info() -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["numpy_build"] = {k: blas.get(k) for k in ("name", "version",
                                                        "openblas configuration") if blas.get(k)}
    except Exception:  # noqa: BLE001 - older NumPy: no mode="dicts"
        pass
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info  # noqa: PLC0415

        info["threadpools"] = [{**{k: p.get(k) for k in ("user_api", "internal_api", "version",
                                                         "num_threads", "threading_layer",
                                                         "architecture")},
                                "library": os.path.basename(p.get("filepath", ""))}
                               for p in threadpool_info()]
    return info


def gpu_info() -> list[dict[str, Any]]:
    """Visible NVIDIA GPUs (name, memory, compute capability, driver), [] without one.

    Asks PyTorch, then CuPy, then ``nvidia-smi``; never raises.
    """
    gpus: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        import torch  # noqa: PLC0415

        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                gpus.append({"index": i, "name": p.name, "memory_bytes": int(p.total_memory),
                             "compute_capability": f"{p.major}.{p.minor}",
                             "torch_cuda": torch.version.cuda})
    if not gpus:
        with contextlib.suppress(Exception):
            import cupy  # noqa: PLC0415

            for i in range(cupy.cuda.runtime.getDeviceCount()):
                p = cupy.cuda.runtime.getDeviceProperties(i)
                name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
                gpus.append({"index": i, "name": name, "memory_bytes": int(p["totalGlobalMem"]),
                             "compute_capability": f"{p['major']}.{p['minor']}"})
    if gpus and shutil.which("nvidia-smi"):
        with contextlib.suppress(Exception):
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True,
                                 timeout=20, check=True).stdout.split()
            for gpu, drv in zip(gpus, out, strict=False):
                gpu["driver"] = drv
    return gpus


def machine_info() -> dict[str, Any]:
    """Where the numbers were taken: host, CPU model and cores, BLAS, GPUs, library versions."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    versions = {"python": platform.python_version()}
    for dist in ("xpnet", "numpy", "array-api-compat", "array-api-strict", "torch",
                 "cupy-cuda12x", "cupy-cuda13x", "cupy", "scikit-learn", "threadpoolctl",
                 "numba"):
        v = _version(dist)
        if v is not None:
            versions[dist] = v
    mem = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "memory_bytes": mem,
        "blas": _blas_info(),
        "xpnet_numpy_kernels": get_backend("numpy").ops.describe(),
        "gpus": gpu_info(),
        "versions": versions,
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
                if k in os.environ},
    }


# ============================================================================ CLI
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``xpnet bench``'s options to ``parser`` (a sub-command parser); returns it."""
    parser.add_argument("--workload", default="fashion-mlp", choices=tuple(WORKLOADS),
                        help="what to train (default: fashion-mlp)")
    parser.add_argument("--backends", default=",".join(DEFAULT_BACKENDS),
                        help="comma-separated backends, e.g. numpy,torch,cupy,torch:cuda,"
                             "array_api_strict (default: %(default)s; unavailable ones are "
                             "skipped with a note)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                        help="float dtype of every row (default: float32)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs; the median is reported (default: 5)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per timed run (default: 500 for seed-dual, else 1)")
    parser.add_argument("--sizes", default=None,
                        help="custom layer sizes, e.g. 784,512,10 (selects --workload custom)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="mini-batch size (default: the workload's: 128, large-mlp 1024)")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples per epoch (custom default 20000)")
    parser.add_argument("--vs-peers", action="store_true",
                        help="also time native PyTorch, scikit-learn MLPClassifier and a "
                             "hand-written NumPy loop on the same data")
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


def run_cli(args: argparse.Namespace) -> int:
    """Run ``xpnet bench`` with parsed ``args``; prints the table, returns the exit status."""
    workload = args.workload
    if args.sizes is not None and workload == "fashion-mlp":
        workload = "custom"
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    # bad values raise ValueError/TypeError naming the option; xpnet's CLI (and ``main``)
    # turn them into one line "xpnet: error: ..." with exit status 2
    result = bench(workload, args.backends, dtype=args.dtype, repeats=args.repeats,
                   epochs=args.epochs, sizes=args.sizes, batch_size=args.batch_size,
                   samples=args.samples, vs_peers=args.vs_peers, gemm=not args.no_gemm,
                   random_state=args.seed, data_path=args.data_path,
                   command=getattr(args, "command", None) or _command_line(), log=log)
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xpnet.bench [options]``: the same as ``xpnet bench [options]``."""
    parser = add_arguments(argparse.ArgumentParser(
        prog="xpnet bench", description="Time training on every available backend."))
    args = parser.parse_args(argv)
    if argv is not None:
        args.command = "xpnet bench " + " ".join(shlex.quote(a) for a in argv)
    try:
        return run_cli(args)
    except (ValueError, TypeError, BackendUnavailableError) as err:
        print(f"xpnet: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
