"""Parts (c), (d) and (e) of ``run_cpu.py``: inference, a small network, the evaluation pass.

Benchmark code, not part of xpnet.  Every part is a list of
:class:`xpnet.tools.bench.Contender` rows timed by xpnet's interleaved harness (each round
runs every row once, in a rotating order; the first call of each row is timed on its own as
the cold call and kept out of the median).  A row's "epoch" here is one call: one
``predict_proba`` of the test rows (c), one epoch of 57 mini-batch steps (d; reported per
step), one ``evaluate`` pass over the training rows (e).

(c) ``inference``: ``predict_proba`` on the 10,000 Fashion-MNIST test rows.
    * xpnet ``MLPClassifier(hidden_layer_sizes=(256, 128), solver="adam", batch_size=128,
      max_iter=1, dtype="float32")`` fitted for ONE epoch on the training rows (in setup, not
      timed), on NumPy (NumPy rows in, NumPy probabilities out) and with ``backend="torch"``
      (a CPU tensor in, a tensor out, as native PyTorch);
    * scikit-learn's ``MLPClassifier`` of the same architecture, also fitted for one epoch on
      float32 rows (it predicts in float32);
    * native PyTorch: the initialized ``nn.Sequential`` (not trained: the values do not change
      the arithmetic), ``model(x).softmax(dim=1)`` under ``torch.no_grad()``;
    * the GEMM floor: ``x @ W1``, ``h @ W2``, ``h @ W3`` on the same rows in NumPy, float32,
      in one piece (xpnet's ``predict_proba`` runs its forward in chunks of at most the
      network's ``eval_chunk`` rows and concatenates them).
(d) ``small``: 64-100-100-10 ReLU, batch 32, Adam(1e-3), float32 on scikit-learn's digits
    (1797 x 64, scaled to [0, 1]; 57 steps per epoch), ``--small-epochs`` epochs per timed run:
    xpnet's MultiLayerNetExtend + Trainer(optimizer="adam", evaluate=False) (MultiLayerNet is
    the same network), the hand-written NumPy loop of ``peers.NumpyLoopMLP``, native PyTorch
    eager and the bare GEMMs of the steps, through ``xpnet.tools.bench.bench``.
(e) ``evaluate``: ``net.evaluate(x_train, t_train)`` (``xpnet.nn.network.evaluate``: loss and
    accuracy in eval mode, in chunks of ``net.eval_chunk`` rows) of the fashion-mlp network
    (784-256-128-10 ReLU, float32, just initialized) on the device copies of the 60,000
    training rows that a Trainer makes, the accuracy read as a float, against the GEMM floor:
    the three forward products of the same chunks in NumPy (the bounds ``evaluate`` uses:
    ``xpnet.nn.network.chunk_bounds(n, net.eval_chunk)`` where the package has it, else
    consecutive chunks of ``net.eval_chunk`` rows).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import peers

from xpnet.backends import BackendUnavailableError, get_backend
from xpnet.edges.datasets import load_fashion_mnist
from xpnet.tools import bench as B

__all__ = ["FASHION_SIZES", "SMALL_SIZES", "InferenceWorkload", "XpnetProba", "SklearnProba",
           "TorchProba", "ForwardFloor", "XpnetEvaluate", "eval_chunk", "chunk_bounds",
           "inference_workload",
           "small_workload", "evaluate_workload", "measure", "run_inference", "run_small",
           "run_evaluate"]

FASHION_SIZES = (784, 256, 128, 10)
SMALL_SIZES = (64, 100, 100, 10)
Log = Callable[[str], None]


@dataclass
class InferenceWorkload(B.Workload):
    """A Workload whose ``x``/``y`` are the rows predicted or evaluated; ``x_fit``/``y_fit``
    the rows the fitted models of part (c) are trained on (one epoch, in setup)."""

    x_fit: np.ndarray | None = None
    y_fit: np.ndarray | None = None

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.x_fit is not None:
            out["fit_samples"] = int(self.x_fit.shape[0])
        return out


def _fashion(kind: str, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``n`` rows of Fashion-MNIST ``kind`` (synthetic rows of that shape when the
    data set is not installed)."""
    with contextlib.suppress(FileNotFoundError, OSError, ValueError):
        x, y = load_fashion_mnist(kind=kind)
        x, y = x[:n], y[:n]
        return x, y, f"Fashion-MNIST {kind} ({len(x)} rows)"
    count = n or (60000 if kind == "train" else 10000)
    rng = np.random.default_rng(seed)
    return (rng.random((count, 784), dtype=np.float32), rng.integers(0, 10, count),
            f"synthetic {kind} rows (Fashion-MNIST not installed)")


# ============================================================================ (c) inference
def inference_workload(rows: int | None = None, fit_samples: int | None = None,
                       calls: int = 20, seed: int = 0) -> InferenceWorkload:
    """Part (c): the first ``rows`` test rows (default all 10,000) predicted ``calls`` times
    per timed run; the fitted models train one epoch on the first ``fit_samples`` training
    rows (default all 60,000)."""
    x, y, data = _fashion("test", rows, seed)
    xf, yf, fit_data = _fashion("train", fit_samples, seed)
    return InferenceWorkload(
        "fashion-inference", "inference", FASHION_SIZES, int(x.shape[0]), int(x.shape[0]),
        calls, "predict_proba of the Fashion-MNIST test rows, 784-256-128-10 ReLU",
        {"call": "predict_proba (softmax of the scores)", "dtype": "float32",
         "fitted": "xpnet and scikit-learn: one epoch of Adam(1e-3), batch 128; native "
                   "PyTorch: initialized only", "fit_data": fit_data},
        data=data, x=x, y=y, x_fit=xf, y_fit=yf)


class XpnetProba(B.Contender):
    """``xpnet.MLPClassifier(...).predict_proba(X)`` of an estimator fitted one epoch; the
    input is the backend's own array (NumPy rows for NumPy, a CPU tensor for torch)."""

    impl = "xpnet MLPClassifier"

    def __init__(self, workload: InferenceWorkload, dtype: str, seed: int,
                 backend: str = "numpy") -> None:
        super().__init__(workload, dtype, seed, get_backend(backend, dtype, seed))
        self.spec = backend

    def setup(self) -> None:
        from xpnet import MLPClassifier  # noqa: PLC0415

        w = self.w
        est = MLPClassifier(hidden_layer_sizes=tuple(w.sizes[1:-1]), solver="adam",
                            batch_size=128, alpha=0.0, learning_rate_init=B.LEARNING_RATE,
                            max_iter=1, dtype=self.dtype, backend=self.spec,
                            random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
            est.fit(w.x_fit, w.y_fit)
        self.est = est
        x = np.ascontiguousarray(w.x, dtype=self.dtype)
        self.x = x if self.spec == "numpy" else self.backend.asarray(x)

    def run(self, calls: int) -> None:
        for _ in range(calls):
            self.proba = self.est.predict_proba(self.x)


class SklearnProba(B.Contender):
    """scikit-learn's ``MLPClassifier`` (same architecture, fitted one epoch on float32 rows):
    ``predict_proba`` of the float32 rows."""

    impl = "sklearn"

    def setup(self) -> None:
        from sklearn.neural_network import MLPClassifier  # noqa: PLC0415

        w = self.w
        est = MLPClassifier(hidden_layer_sizes=tuple(w.sizes[1:-1]), activation="relu",
                            solver="adam", batch_size=128, alpha=0.0,
                            learning_rate_init=B.LEARNING_RATE, max_iter=1,
                            random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(np.ascontiguousarray(w.x_fit, dtype=self.dtype), w.y_fit)
        self.est = est
        self.result_dtype = str(est.coefs_[0].dtype)
        self.x = np.ascontiguousarray(w.x, dtype=self.dtype)

    def run(self, calls: int) -> None:
        for _ in range(calls):
            self.proba = self.est.predict_proba(self.x)


class TorchProba(B.Contender):
    """Native PyTorch: ``nn.Sequential`` of Linear/ReLU, ``model(x).softmax(dim=1)`` under
    ``torch.no_grad()`` on a CPU tensor (default threads)."""

    impl = "torch (native)"

    def __init__(self, workload: B.Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed, get_backend("torch", dtype, seed))

    def setup(self) -> None:
        import torch  # noqa: PLC0415

        nn, s = torch.nn, self.w.sizes
        torch.manual_seed(self.seed)
        layers: list[Any] = []
        for i in range(len(s) - 1):
            layers += [nn.Linear(s[i], s[i + 1])] + ([nn.ReLU()] if i < len(s) - 2 else [])
        self.torch = torch
        self.model = nn.Sequential(*layers).to(dtype=getattr(torch, self.dtype)).eval()
        self.x = torch.as_tensor(np.ascontiguousarray(self.w.x, dtype=self.dtype))

    def run(self, calls: int) -> None:
        with self.torch.no_grad():
            for _ in range(calls):
                self.proba = self.model(self.x).softmax(dim=1)


class ForwardFloor(B.Contender):
    """The bare forward products ``x @ W1``, ``h @ W2``, ``h @ W3`` in NumPy (float32), on all
    rows at once, or chunk by chunk as ``evaluate`` cuts the rows with at most ``chunk`` rows
    per chunk (``net.eval_chunk``, part (e)); no bias, activation or softmax.  The products
    write into buffers allocated in setup (``np.matmul(..., out=)``), so no allocation or
    first-touch page faults are in the floor either."""

    impl = "bare GEMMs (forward)"

    def __init__(self, workload: B.Workload, dtype: str, seed: int,
                 chunk: int | None = None) -> None:
        super().__init__(workload, dtype, seed)
        self.chunk = chunk

    def setup(self) -> None:
        rng, s = np.random.default_rng(self.seed), self.w.sizes
        self.weights = [(rng.standard_normal((a, b)) / math.sqrt(a)).astype(self.dtype)
                        for a, b in zip(s[:-1], s[1:], strict=True)]
        self.x = np.ascontiguousarray(self.w.x, dtype=self.dtype)
        n = self.x.shape[0]
        self.bounds = chunk_bounds(n, self.chunk) if self.chunk else [(0, n)]
        self.out = {m: [np.empty((m, w.shape[1]), dtype=self.dtype) for w in self.weights]
                    for m in {stop - start for start, stop in self.bounds}}

    def run(self, calls: int) -> None:
        x = self.x
        for _ in range(calls):
            for start, stop in self.bounds:
                h = x[start:stop]
                for w, out in zip(self.weights, self.out[stop - start], strict=True):
                    h = np.matmul(h, w, out=out)


# ============================================================================ (e) evaluate
def evaluate_workload(samples: int | None = None, passes: int = 5,
                      seed: int = 0) -> InferenceWorkload:
    """Part (e): the first ``samples`` training rows (default all 60,000), ``passes``
    evaluation passes per timed run."""
    x, y, data = _fashion("train", samples, seed)
    return InferenceWorkload(
        "fashion-evaluate", "inference", FASHION_SIZES, int(x.shape[0]), int(x.shape[0]),
        passes, "net.evaluate on the Fashion-MNIST training rows, 784-256-128-10 ReLU",
        {"call": "xpnet.nn.network.evaluate(net, x, t): loss and accuracy in eval mode, in "
                 "chunks of net.eval_chunk rows", "dtype": "float32",
         "weights": "initialized (He), not trained"}, data=data, x=x, y=y)


def _fashion_net(dtype: str, seed: int, backend: Any = "numpy") -> Any:
    from xpnet.nn.network import MultiLayerNetExtend  # noqa: PLC0415

    s = FASHION_SIZES
    return MultiLayerNetExtend(s[0], list(s[1:-1]), s[-1], activation="relu",
                               weight_init_std="relu", backend=backend, dtype=dtype,
                               random_state=seed)


class XpnetEvaluate(B.Contender):
    """``net.evaluate(x_train, t_train)`` on the device data a Trainer makes; the accuracy is
    read as a float (the one host sync the Trainer's epoch record makes)."""

    impl = "xpnet net.evaluate"

    def setup(self) -> None:
        from xpnet.nn.trainer import Trainer  # noqa: PLC0415

        self.net = _fashion_net(self.dtype, self.seed, self.backend)
        trainer = Trainer(self.net, self.w.x, self.w.y, epochs=1, verbose=False,
                          evaluate=False)
        self.x, self.t = trainer.x_train, trainer.t_train
        self.chunk = self.net.eval_chunk

    def run(self, passes: int) -> None:
        for _ in range(passes):
            loss, acc = self.net.evaluate(self.x, self.t)
            self.accuracy = self.backend.to_float(acc)


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """The (start, stop) of the chunks ``xpnet.nn.network.evaluate`` cuts ``n`` rows into
    (its ``chunk_bounds`` where the package has one, else consecutive chunks of ``chunk``)."""
    from xpnet.nn import network  # noqa: PLC0415

    bounds = getattr(network, "chunk_bounds", None)
    if bounds is not None:
        return [(int(a), int(b)) for a, b in bounds(n, chunk)]
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def eval_chunk(dtype: str = "float32", seed: int = 0) -> int:
    """The ``eval_chunk`` of the fashion-mlp network (what ``evaluate`` chunks by)."""
    return int(_fashion_net(dtype, seed).eval_chunk)


# ============================================================================ (d) small network
def small_workload(epochs: int = 70, seed: int = 0) -> B.Workload:
    """Part (d): scikit-learn's digits (1797 x 64, divided by 16: [0, 1], float32), a
    64-100-100-10 ReLU network, batch 32 (57 steps per epoch), ``epochs`` per timed run."""
    from sklearn.datasets import load_digits  # noqa: PLC0415

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return dataclasses.replace(
        B.WORKLOADS["custom"], name="digits-small", sizes=SMALL_SIZES, batch_size=32,
        samples=int(x.shape[0]), epochs=epochs,
        about="64-100-100-10 ReLU, Adam, batch 32 on scikit-learn's digits",
        data=f"scikit-learn digits ({x.shape[0]} x {x.shape[1]}, scaled to [0, 1])", x=x, y=y)


# ============================================================================ measuring
def measure(w: B.Workload, contenders: list[B.Contender], repeats: int, log: Log,
            notes: list[str]) -> dict[str, Any]:
    """Time ``contenders`` with xpnet's interleaved harness; a bench-like result dict.

    ``xpnet.tools.bench.bench`` always adds an xpnet *training* row per backend, so the
    inference and evaluation rows go through its harness (``_measure_all``) directly.
    """
    log(f"{w.name}: {len(contenders)} rows, {w.epochs} call(s) per timed run x {repeats} "
        f"repeats")
    rows = B._measure_all(contenders, repeats, log) if contenders else []
    return {"workload": w.describe(), "dtype": contenders[0].dtype if contenders else None,
            "repeats": repeats, "rows": rows, "notes": notes}


def _maybe(notes: list[str], make: Callable[[], B.Contender], what: str
           ) -> list[B.Contender]:
    """[the contender], or [] with a note when its library is missing."""
    try:
        return [make()]
    except (ImportError, BackendUnavailableError) as err:
        notes.append(f"{what}: skipped ({err})")
        return []


def run_inference(w: InferenceWorkload, repeats: int, log: Log,
                  dtype: str = "float32", seed: int = 0) -> dict[str, Any]:
    """Part (c): xpnet on NumPy and torch, scikit-learn, native PyTorch and the floor."""
    notes: list[str] = []
    rows = [XpnetProba(w, dtype, seed, "numpy"),
            *_maybe(notes, lambda: XpnetProba(w, dtype, seed, "torch"), "xpnet torch"),
            SklearnProba(w, dtype, seed),
            *_maybe(notes, lambda: TorchProba(w, dtype, seed), "torch (native)"),
            ForwardFloor(w, dtype, seed)]
    return measure(w, rows, repeats, log, notes)


def run_evaluate(w: InferenceWorkload, repeats: int, log: Log,
                 dtype: str = "float32", seed: int = 0) -> dict[str, Any]:
    """Part (e): xpnet's evaluate pass against the chunked forward GEMMs."""
    chunk = eval_chunk(dtype, seed)
    out = measure(w, [XpnetEvaluate(w, dtype, seed), ForwardFloor(w, dtype, seed, chunk)],
                  repeats, log, [])
    out["eval_chunk"] = chunk
    out["eval_chunks"] = chunk_bounds(w.samples, chunk)
    return out


def run_small(w: B.Workload, repeats: int, log: Log, command: str | None = None,
              dtype: str = "float32", seed: int = 0) -> dict[str, Any]:
    """Part (d): xpnet's Trainer, the hand-written NumPy loop, native PyTorch and the bare
    GEMMs of the steps (``xpnet.tools.bench.bench`` on the digits workload)."""
    result = B.bench(w, ["numpy"], dtype=dtype, repeats=repeats, random_state=seed,
                     extra=[peers.torch_native("cpu"), peers.numpy_loop], command=command,
                     log=log)
    result.pop("machine", None)
    steps = w.steps_per_epoch
    for row in result["rows"]:
        row["us_per_step"] = row["seconds_per_epoch"] / steps * 1e6
        row["first_epoch_us_per_step"] = row["first_epoch_s"] / steps * 1e6
    result["gemm_us_per_step"] = {k: v / steps * 1e6 for k, v in
                                  result.get("gemm", {}).get("seconds_per_epoch", {}).items()}
    return result
