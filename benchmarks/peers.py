#!/usr/bin/env python
"""The peer implementations xpnet is timed against (benchmark scripts, not part of xpnet).

Each peer is a :class:`xpnet.tools.bench.Contender` trained on the same data with the same
network, batch size, optimizer, dtype and shuffling as xpnet's rows:

- ``torch (native)``: ``nn.Sequential`` + ``CrossEntropyLoss`` + ``torch.optim.Adam``, default
  threads, one ``randperm`` per epoch, the loss summed on the device and read once per epoch;
  on the CPU, and on CUDA when PyTorch sees a GPU;
- ``sklearn``: scikit-learn's ``MLPClassifier(solver="adam", alpha=0, tol=0, shuffle=True)``,
  one ``fit`` of N epochs per timed run;
- ``numpy (hand-written)``: a plain NumPy loop (forward, backward and Adam per array, in
  place); for ``seed-dual`` the seed's algorithm written plainly;
- ``torch.compile``: the native PyTorch loop with the model wrapped in ``torch.compile``
  (default mode, default inductor backend); compilation happens in the cold first epoch;
- ``jax.jit + optax``: the same MLP in JAX, ``optax.adam``, one jitted train step per
  mini-batch (the batch's rows gathered inside the step from a per-epoch
  ``jax.random.permutation``), ``block_until_ready`` before every clock read.

:data:`PEERS` holds their factories for ``xpnet.tools.bench.bench(extra=PEERS)``; a peer that
cannot run here or has no such model skips itself with a note.  Run as a script it is
``xpnet bench`` with the peers added:

    python benchmarks/peers.py --workload large-mlp --backends cupy,torch:cuda,numpy --json r.json

(every option of ``xpnet bench``); ``run_cpu.py`` and ``run_gpu.py`` use it.  The compiled
peers (:data:`COMPILED_PEERS`: torch.compile, JAX) are not in :data:`PEERS`; ``run_cpu.py``
adds them.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from xpnet.backends import get_backend
from xpnet.tools import bench as B

__all__ = ["TorchNative", "TorchCompiled", "JaxOptax", "Sklearn", "NumpyLoopMLP",
           "NumpyLoopDual", "torch_native", "torch_compiled", "jax_optax", "sklearn",
           "numpy_loop", "PEERS", "COMPILED_PEERS", "main"]


class TorchNative(B.Contender):
    """A plain PyTorch loop: nn.Sequential + CrossEntropyLoss + torch.optim.Adam, default
    threads, one ``randperm`` per epoch, the loss summed on the device and read once."""

    impl = "torch (native)"

    def __init__(self, workload: B.Workload, dtype: str, seed: int, device: str) -> None:
        # xpnet's torch backend only describes the device (labels, threads, memory probe,
        # synchronization); the training below is plain PyTorch
        super().__init__(workload, dtype, seed, get_backend(f"torch:{device}", dtype, seed))
        import torch  # noqa: PLC0415 - only where this peer runs

        self.torch = torch
        self.dev = torch.device(self.device_label)

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
        self.opt = torch.optim.Adam(self.model.parameters(), lr=B.LEARNING_RATE)
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


class TorchCompiled(TorchNative):
    """The native PyTorch loop with ``model = torch.compile(model)`` (default mode).

    Compilation (and the recompilation for the epoch's smaller last batch, with dynamic
    shapes) happens in the cold first epoch, which the harness times on its own and keeps out
    of the median.  ``compile_backend`` is ``torch.compile``'s ``backend`` ("inductor", its
    default; the smoke test uses "eager", which only traces).
    """

    impl = "torch.compile"

    def __init__(self, workload: B.Workload, dtype: str, seed: int, device: str,
                 compile_backend: str = "inductor") -> None:
        super().__init__(workload, dtype, seed, device)
        self.compile_backend = compile_backend

    def setup(self) -> None:
        super().setup()
        # the optimizer holds the same parameters: the compiled module wraps the model
        self.model = self.torch.compile(self.model, backend=self.compile_backend)


class JaxOptax(B.Contender):
    """The same MLP in JAX: He-initialized weights, ``optax.adam(lr)``, softmax cross-entropy
    (``optax.softmax_cross_entropy_with_integer_labels``), one ``jax.jit`` train step per
    mini-batch that gathers its rows from the device data through a per-epoch
    ``jax.random.permutation`` and adds its loss to an on-device sum (read once per epoch).
    ``sync`` is ``jax.block_until_ready`` of the parameters and the optimizer state."""

    impl = "jax.jit + optax"

    def __init__(self, workload: B.Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)  # host NumPy: memory probe (VmHWM)
        import jax  # noqa: PLC0415 - only where this peer runs
        import optax  # noqa: PLC0415

        self.jax, self.optax = jax, optax
        if dtype == "float64" and not jax.config.read("jax_enable_x64"):
            jax.config.update("jax_enable_x64", True)
        self.backend_label = "jax"
        self.device_label = jax.devices()[0].platform
        self.threads = f"XLA ({os.cpu_count()} cores)"

    def setup(self) -> None:
        jax, optax, s, dt = self.jax, self.optax, self.w.sizes, np.dtype(self.dtype)
        jnp = jax.numpy
        key = jax.random.PRNGKey(self.seed)
        params = []
        for i in range(len(s) - 1):
            key, sub = jax.random.split(key)
            params.append((jax.random.normal(sub, (s[i], s[i + 1]), dt) * math.sqrt(2.0 / s[i]),
                           jnp.zeros((s[i + 1],), dt)))
        opt = optax.adam(B.LEARNING_RATE)
        self.params, self.opt_state = params, opt.init(params)
        self.x = jax.device_put(np.ascontiguousarray(self.w.x, dtype=dt))
        self.y = jax.device_put(np.asarray(self.w.y, dtype=np.int32))
        self.key = key

        def loss_of(params: Any, xb: Any, yb: Any) -> Any:
            h = xb
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i < len(params) - 1:
                    h = jax.nn.relu(h)
            return optax.softmax_cross_entropy_with_integer_labels(h, yb).mean()

        def step(params: Any, opt_state: Any, loss_sum: Any, x: Any, y: Any, order: Any,
                 start: Any, size: int) -> tuple[Any, Any, Any]:
            idx = jax.lax.dynamic_slice_in_dim(order, start, size)
            xb, yb = jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)
            loss, grads = jax.value_and_grad(loss_of)(params, xb, yb)
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss_sum + loss * size

        self.step = jax.jit(step, static_argnums=(7,), donate_argnums=(0, 1, 2))

    def run(self, epochs: int) -> None:
        jax, n, bs = self.jax, self.w.samples, self.w.batch_size
        params, opt_state, step = self.params, self.opt_state, self.step
        for _ in range(epochs):
            self.key, sub = jax.random.split(self.key)
            order = jax.random.permutation(sub, n)
            loss_sum = jax.numpy.zeros((), dtype=self.dtype)
            for start in range(0, n, bs):
                params, opt_state, loss_sum = step(params, opt_state, loss_sum, self.x, self.y,
                                                   order, start, min(bs, n - start))
            self.params, self.opt_state = params, opt_state
            self.last_loss = float(loss_sum) / n  # one host sync per epoch, like the Trainer

    def sync(self) -> None:
        if hasattr(self, "params"):
            self.jax.block_until_ready((self.params, self.opt_state))


class Sklearn(B.Contender):
    """scikit-learn's MLPClassifier(solver="adam", alpha=0, tol=0, shuffle=True), max_iter=N
    epochs per fit (its fit validates, encodes the labels and initializes each time)."""

    impl = "sklearn"

    def __init__(self, workload: B.Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)
        self.result_dtype = dtype

    def setup(self) -> None:
        from sklearn.neural_network import MLPClassifier  # noqa: PLC0415

        self.cls = MLPClassifier
        self.x = np.ascontiguousarray(self.w.x, dtype=self.dtype)
        self.y = self.w.y

    def run(self, epochs: int) -> None:
        s = self.w.sizes
        model = self.cls(hidden_layer_sizes=tuple(s[1:-1]), activation="relu", solver="adam",
                         batch_size=self.w.batch_size, alpha=0.0,
                         learning_rate_init=B.LEARNING_RATE, max_iter=epochs, tol=0.0,
                         n_iter_no_change=10**9, shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
            model.fit(self.x, self.y)
        self.result_dtype = str(model.coefs_[0].dtype)


class NumpyLoopMLP(B.Contender):
    """A plain hand-written NumPy loop: forward, backward and Adam per array, in place."""

    impl = "numpy (hand-written)"

    def __init__(self, workload: B.Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)

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
                lr_t = B.LEARNING_RATE * c2 / (1.0 - 0.9**self.t)
                for i in range(nl - 1, -1, -1):
                    gw = acts[i].T @ d
                    gb = d.sum(axis=0)
                    if i > 0:
                        d = d @ W[i].T
                        d *= acts[i] > 0
                    self._adam(i, gw, lr_t, 1e-8 * c2)
                    self._adam(nl + i, gb, lr_t, 1e-8 * c2)
            self.last_loss = loss_sum / n


class NumpyLoopDual(B.Contender):
    """Seed 001's algorithm written plainly in NumPy (ones init, full batch, L2 / m, the
    validation loss every epoch), with the hidden bias gradient summed over axis 0."""

    impl = "numpy (hand-written)"

    def setup(self) -> None:
        dt = np.dtype(self.dtype)
        self.x = self.w.x.astype(dt)
        self.y = self.w.y.astype(dt).reshape(-1, 1)
        self.xv = self.w.x_val.astype(dt)
        self.yv = self.w.y_val.astype(dt).reshape(-1, 1)

    def run(self, epochs: int) -> None:
        x, y, xv, yv, l2, lr = self.x, self.y, self.xv, self.yv, B.SEED_DUAL_L2, 0.1
        m, dt, units = x.shape[0], x.dtype, B.SEED_DUAL_UNITS
        w1 = np.ones((x.shape[1], units), dtype=dt)
        b1 = np.zeros(units, dtype=dt)
        w2 = np.ones((units, 1), dtype=dt)
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


# ------------------------------------------------------------------ factories for bench(extra=)
Factory = Callable[[B.Workload, str, int], B.Contender]


def _mlp_only(impl: str, w: B.Workload) -> None:
    if w.kind != "mlp":
        raise B.SkipRow(f"{impl}: skipped (no {w.name} model; the hand-written NumPy loop "
                        f"writes the seed's algorithm)")


def torch_native(device: str) -> Factory:
    """The factory of the native PyTorch row on ``device`` ("cpu" or "cuda")."""
    def make(w: B.Workload, dtype: str, seed: int) -> B.Contender:
        impl = f"{TorchNative.impl}{'' if device == 'cpu' else ' ' + device}"
        _mlp_only(impl, w)
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            raise B.SkipRow(f"{impl}: skipped (PyTorch is not installed; pip install "
                            f"torch)") from None
        if device != "cpu" and not torch.cuda.is_available():
            raise B.SkipRow(f"{impl}: skipped (no CUDA GPU visible to PyTorch)")
        return TorchNative(w, dtype, seed, device)
    return make


def torch_compiled(device: str = "cpu") -> Factory:
    """The factory of the torch.compile row on ``device``."""
    def make(w: B.Workload, dtype: str, seed: int) -> B.Contender:
        impl = f"{TorchCompiled.impl}{'' if device == 'cpu' else ' ' + device}"
        _mlp_only(impl, w)
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            raise B.SkipRow(f"{impl}: skipped (PyTorch is not installed)") from None
        if device != "cpu" and not torch.cuda.is_available():
            raise B.SkipRow(f"{impl}: skipped (no CUDA GPU visible to PyTorch)")
        return TorchCompiled(w, dtype, seed, device)
    return make


def jax_optax(w: B.Workload, dtype: str, seed: int) -> B.Contender:
    """The JAX row (jit + optax; MLP workloads)."""
    _mlp_only(JaxOptax.impl, w)
    try:
        return JaxOptax(w, dtype, seed)
    except ImportError as err:
        raise B.SkipRow(f"{JaxOptax.impl}: skipped ({err}; pip install 'jax[cpu]' "
                        f"optax)") from None


def sklearn(w: B.Workload, dtype: str, seed: int) -> B.Contender:
    """The scikit-learn row (MLP workloads)."""
    _mlp_only(Sklearn.impl, w)
    return Sklearn(w, dtype, seed)


def numpy_loop(w: B.Workload, dtype: str, seed: int) -> B.Contender:
    """The hand-written NumPy row: the MLP loop, or the seed's algorithm for seed-dual."""
    return (NumpyLoopDual if w.kind == "seed-dual" else NumpyLoopMLP)(w, dtype, seed)


#: every peer, in the order of the table
PEERS: tuple[Factory, ...] = (torch_native("cpu"), torch_native("cuda"), sklearn, numpy_loop)
#: the compiled peers on the CPU (run_cpu.py): torch.compile and JAX jit + optax
COMPILED_PEERS: tuple[Factory, ...] = (torch_compiled("cpu"), jax_optax)


def main(argv: list[str] | None = None) -> int:
    """``xpnet bench`` with the peers: the same options, the same table, JSON and plot."""
    return B.main(argv, prog="python benchmarks/peers.py", extra=PEERS)


if __name__ == "__main__":
    sys.exit(main())
