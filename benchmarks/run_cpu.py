#!/usr/bin/env python
"""The CPU comparison of the speed issues; writes benchmarks/results/cpu-<cpu-model>.{json,md,png}.

Every target of :data:`TARGETS` is a time ratio of two rows timed in the same run, in the
same interleaved rounds (each round runs every row of its part once, in a rotating order, so
load that comes and goes hits all rows alike); the machine and its load are recorded.

(a) fashion-mlp, one epoch (60000 Fashion-MNIST images, 784-256-128-10 ReLU, Adam(1e-3),
    batch 128, float32, shuffled), median of ``--repeats`` runs, through:
      * the user-facing path ``xpnet.MLPClassifier(hidden_layer_sizes=(256, 128),
        solver="adam", batch_size=128, alpha=0.0, dtype="float32", max_iter=1).fit(X, y)``,
        on NumPy and with ``backend="torch"``,
      * xpnet's MultiLayerNetExtend + Trainer directly (what the estimator is built on),
      * the peers of benchmarks/peers.py: native PyTorch eager on the CPU (nn.Sequential +
        torch.optim.Adam, default threads), the same model under ``torch.compile`` (default
        mode; compilation in the cold first epoch, out of the median), JAX (a jitted train
        step, optax.adam), scikit-learn's MLPClassifier (max_iter=1, adam, alpha=0, tol=0,
        shuffle), a plain hand-written NumPy loop (forward/backward/Adam per array),
      * the bare GEMMs of an epoch (the floor any implementation pays).
(b) seed-dual, 5000 full-batch epochs of DualLayer(l2=0.01) on the breast-cancer training
    split (with the validation loss every epoch, as the seed's fit does): xpnet's DualLayer in
    float64 and float32 vs seed 001's own code (benchmarks/seed001_reference.py, float64), the
    three rows in the same rounds.
(c) inference: ``predict_proba`` on the 10,000 Fashion-MNIST test rows (``--calls`` calls per
    timed run) of xpnet.MLPClassifier (256, 128) fitted one epoch, on NumPy and on torch,
    against scikit-learn, native PyTorch and the bare forward GEMMs (benchmarks/cpu_sections.py).
(d) a small network: 64-100-100-10 ReLU, batch 32, Adam, float32 on scikit-learn's digits
    (57 steps per epoch, ``--small-epochs`` epochs per timed run, 70 = 3990 steps): time per
    step of xpnet's Trainer, the hand-written NumPy loop, native PyTorch eager, the bare GEMMs.
(e) the evaluation pass: ``net.evaluate(x_train, t_train)`` of the fashion-mlp network on the
    60,000 training rows against its forward GEMMs in the same chunks (``net.eval_chunk``).

Usage: python benchmarks/run_cpu.py [--repeats 5] [--quick] [--parts a,b,c,d,e] [--out DIR]
"""

from __future__ import annotations

import argparse
import operator
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cpu_sections as S  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
from _common import (  # noqa: E402
    RESULTS,
    MachineLoad,
    code_state,
    fmt_s,
    load_note,
    ratio,
    row_of,
)

from xpnet.backends import BackendUnavailableError, get_backend  # noqa: E402
from xpnet.tools import bench as B  # noqa: E402
from xpnet.tools.machine import slug, versions  # noqa: E402

#: ratio key -> (what, comparison, bound): every target of the speed issues (time ratios,
#: lower is better); the report says "met" / "not met" for each
TARGETS: dict[str, tuple[str, str, float]] = {
    "estimator_over_gemm": ("(a) xpnet.MLPClassifier / bare GEMMs of an epoch", "<=", 1.2),
    "estimator_over_torch": ("(a) xpnet.MLPClassifier / PyTorch eager", "<=", 0.6),
    "estimator_over_torch_compile": ("(a) xpnet.MLPClassifier / torch.compile", "<", 1.0),
    "estimator_over_jax": ("(a) xpnet.MLPClassifier / JAX jit + optax", "<", 1.0),
    "estimator_over_sklearn": ("(a) xpnet.MLPClassifier / scikit-learn", "<=", 0.5),
    "estimator_over_numpy_loop": ("(a) xpnet.MLPClassifier / hand-written NumPy loop", "<",
                                  1.0),
    "estimator_torch_over_torch": ("(a) xpnet.MLPClassifier(backend='torch') / PyTorch eager",
                                   "<=", 1.1),
    "seed_dual_float64_over_seed": ("(b) xpnet DualLayer float64 / seed 001's code", "<=",
                                    0.8),
    "seed_dual_float32_over_seed": ("(b) xpnet DualLayer float32 / seed 001's code", "<=",
                                    0.8),
    "proba_over_floor": ("(c) xpnet predict_proba / its forward GEMMs", "<=", 1.1),
    "proba_over_sklearn": ("(c) xpnet predict_proba / scikit-learn", "<", 1.0),
    "proba_torch_over_torch": ("(c) xpnet(backend='torch') predict_proba / PyTorch", "<=",
                               1.1),
    "small_over_numpy_loop": ("(d) xpnet Trainer step / hand-written NumPy loop step", "<=",
                              0.7),
    "evaluate_over_floor": ("(e) xpnet net.evaluate / its forward GEMMs (same chunks)", "<=",
                            1.15),
}
_OPS = {"<=": operator.le, "<": operator.lt}
#: part -> its key in the JSON result
PART_KEYS = {"a": "fashion_mlp", "b": "seed_dual", "c": "inference", "d": "small_net",
             "e": "evaluate_pass"}
PARTS = tuple(PART_KEYS)
#: --quick: tiny settings for a smoke run (explicit options still win)
QUICK = {"repeats": 2, "seed_epochs": 200, "samples": 2048, "test_rows": 2000, "calls": 3,
         "eval_passes": 2, "small_epochs": 3}
DEFAULTS = {"repeats": 5, "seed_epochs": 5000, "samples": None, "test_rows": None,
            "calls": 20, "eval_passes": 5, "small_epochs": 70}


class EstimatorRow(B.Contender):
    """``xpnet.MLPClassifier(...).fit(X, y)``: the user-facing path, one fit per run (NumPy
    rows in, on the estimator's ``backend``)."""

    impl = "xpnet MLPClassifier"

    def __init__(self, workload: B.Workload, dtype: str, seed: int,
                 backend: str = "numpy") -> None:
        # the backend's threads, GEMM floor and synchronization describe the row
        super().__init__(workload, dtype, seed, get_backend(backend, dtype, seed))
        self.spec = backend
        try:
            from xpnet import MLPClassifier
        except ImportError as err:
            raise B.SkipRow(f"xpnet.MLPClassifier is not available ({err}); its row is "
                            f"missing") from None
        self.cls = MLPClassifier

    def setup(self) -> None:
        pass  # nothing to build before fit: one fit per timed run is the user's path

    def run(self, epochs: int) -> None:
        w = self.w
        est = self.cls(hidden_layer_sizes=tuple(w.sizes[1:-1]), solver="adam",
                       batch_size=w.batch_size, alpha=0.0, dtype=self.dtype, max_iter=epochs,
                       learning_rate_init=B.LEARNING_RATE, shuffle=True,
                       random_state=self.seed, tol=0.0, n_iter_no_change=10**9,
                       backend=self.spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
            est.fit(w.x, w.y)


def estimator(backend: str) -> peers.Factory:
    """The factory of the MLPClassifier row on ``backend`` (skipped when unavailable)."""
    def make(w: B.Workload, dtype: str, seed: int) -> B.Contender:
        try:
            return EstimatorRow(w, dtype, seed, backend)
        except BackendUnavailableError as err:
            raise B.SkipRow(f"xpnet MLPClassifier on {backend}: skipped ({err})") from None
    return make


class SeedReferenceRow(B.Contender):
    """Seed 001's DualLayer, verbatim (float64 NumPy): ``fit(x, y, x_val, y_val, epochs)``."""

    impl = "seed 001 code (verbatim)"

    def __init__(self, workload: B.Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, "float64", seed)  # the seed computes in float64

    def setup(self) -> None:
        from seed001_reference import DualLayer

        self.cls = DualLayer
        w = self.w
        self.data = tuple(np.asarray(a, dtype=np.float64) for a in (w.x, w.y, w.x_val, w.y_val))

    def run(self, epochs: int) -> None:
        x, y, xv, yv = self.data
        self.cls(l2=B.SEED_DUAL_L2).fit(x, y, xv, yv, epochs=epochs)


class DualRow(B._XpnetDual):
    """xpnet's DualLayer(l2=0.01) in another dtype than the part's (the float32 row of (b),
    timed in the same rounds as the float64 rows and the seed's code): ``xpnet bench
    --workload seed-dual``'s xpnet row, data moved once."""

    impl = "xpnet"


def dual_row(dtype: str) -> peers.Factory:
    """The factory of xpnet's DualLayer row in ``dtype``."""
    def make(w: B.Workload, _dtype: str, seed: int) -> B.Contender:
        return DualRow(w, dtype, seed)
    return make


def _row(result: dict[str, Any], impl: str, backend: str | None = None,
         dtype: str | None = None) -> dict[str, Any] | None:
    """``row_of`` with the row's dtype too."""
    for r in result["rows"]:
        if r["impl"] == impl and backend in (None, r["backend"]) and dtype in (None, r["dtype"]):
            return r
    return None


# ============================================================================ report
def _name(row: dict[str, Any]) -> str:
    impl, backend = row["impl"], row["backend"]
    if impl == "xpnet":
        return f"xpnet MultiLayerNetExtend + Trainer ({backend})"
    if impl.startswith("xpnet"):
        return f"{impl} ({backend})"
    return {"torch (native)": "PyTorch eager (nn.Sequential)",
            "torch.compile": "PyTorch torch.compile (default mode)",
            "jax.jit + optax": "JAX jit + optax",
            "sklearn": "scikit-learn MLPClassifier",
            "numpy (hand-written)": "hand-written NumPy loop",
            "bare GEMMs (forward)": "bare forward GEMMs (NumPy)"}.get(impl, impl)


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def _table_a(a: dict[str, Any]) -> list[str]:
    gemm = a["gemm"].get("seconds_per_epoch", {})
    rows = [[_name(r), r["dtype"], fmt_s(r["seconds_per_epoch"]), f"{r['samples_per_s']:,.0f}",
             fmt_s(r["first_epoch_s"]), fmt_s(r["first_call_s"]), f"{r['peak_mem_mib']:.1f}",
             fmt_s(r.get("overhead_s_per_epoch")), str(r.get("threads") or "-")]
            for r in a["rows"]]
    rows += [[f"bare GEMMs of an epoch ({key})", a["dtype"], fmt_s(value), "-", "-", "-", "-",
              "0", "-"] for key, value in gemm.items()]
    return _table(["implementation", "dtype", "s/epoch (median)", "samples/s",
                   "1st epoch s (cold, incl. compile)", "first call s (setup + 1st epoch)",
                   "peak mem MiB", "over GEMMs s/epoch", "threads"], rows)


def _table_b(b: dict[str, Any]) -> list[str]:
    seed = row_of(b, "seed 001 code (verbatim)")
    rows = []
    for row in b["rows"]:
        name = ("xpnet DualLayer" if row["impl"] == "xpnet" else
                "seed 001's DualLayer (benchmarks/seed001_reference.py)")
        rows.append([name, row["dtype"], fmt_s(row["seconds_per_epoch"]),
                     fmt_s(row["seconds_per_epoch"] * row["epochs_per_repeat"]),
                     fmt_s(row["first_epoch_s"]), _fmt_ratio(ratio(row, seed))])
    return _table(["implementation", "dtype", "s/epoch (median)", "s per run",
                   "1st epoch s (cold)", "/ seed's code"], rows)


def _table_c(c: dict[str, Any], floor: float | None) -> list[str]:
    rows = []
    for r in c["rows"]:
        per = r["seconds_per_epoch"]
        io = "tensor -> tensor" if r["backend"] == "torch" else "NumPy -> NumPy"
        rows.append([_name(r), io, f"{per * 1e3:.4g}", f"{r['samples_per_s']:,.0f}",
                     f"{r['first_epoch_s'] * 1e3:.4g}", fmt_s(r["setup_s"]),
                     f"{r['peak_mem_mib']:.1f}",
                     _fmt_ratio(per / floor if floor else None), str(r.get("threads") or "-")])
    return _table(["implementation", "input -> output", "ms per call (median)", "rows/s",
                   "1st call ms (cold)", "setup s (incl. fit)", "peak mem MiB", "/ GEMM floor",
                   "threads"], rows)


def _table_d(d: dict[str, Any], loop: float | None) -> list[str]:
    rows = [[_name(r), f"{r['us_per_step']:.4g}",
             fmt_s(r["seconds_per_epoch"] * r["epochs_per_repeat"]),
             f"{r['first_epoch_us_per_step']:.4g}",
             _fmt_ratio(r["seconds_per_epoch"] / loop if loop else None),
             str(r.get("threads") or "-")] for r in d["rows"]]
    rows += [[f"bare GEMMs of the steps ({key})", f"{us:.4g}", "-", "-",
              _fmt_ratio(us / (loop / d["workload"]["steps_per_epoch"] * 1e6) if loop
                         else None), "-"]
             for key, us in d.get("gemm_us_per_step", {}).items()]
    return _table(["implementation", "us per step (median)", "s per run",
                   "1st epoch us/step (cold)", "/ NumPy loop", "threads"], rows)


def _table_e(e: dict[str, Any], floor: float | None) -> list[str]:
    rows = [[_name(r), fmt_s(r["seconds_per_epoch"]), f"{r['samples_per_s']:,.0f}",
             fmt_s(r["first_epoch_s"]),
             _fmt_ratio(r["seconds_per_epoch"] / floor if floor else None)]
            for r in e["rows"]]
    return _table(["implementation", "s per pass (median)", "rows/s", "1st pass s (cold)",
                   "/ GEMM floor"], rows)


def _verdict(key: str, value: float | None) -> tuple[str, str]:
    """(target text, verdict text) of ratio ``key``."""
    _, op, bound = TARGETS[key]
    if value is None:
        return f"{op} {bound}", "not measured"
    return f"{op} {bound}", "met" if _OPS[op](value, bound) else "**not met**"


def _parts(out: dict[str, Any]) -> dict[str, Any]:
    """{"a": out["fashion_mlp"], ...}: the parts this result holds."""
    return {p: out[key] for p, key in PART_KEYS.items() if key in out}


def _code_note(code: dict[str, Any] | None) -> str:
    if not code or not code.get("commit"):
        return "Code: git commit not recorded."
    dirty = code.get("uncommitted_xpnet_files")
    return (f"Code: commit {code['commit'][:12]}"
            + (f", with uncommitted changes to {', '.join(dirty)}." if dirty else
               ", no uncommitted changes under xpnet/."))


def _markdown(out: dict[str, Any]) -> str:
    m, r, parts = out["machine"], out["ratios"], _parts(out)
    blas = m["blas"].get("numpy_build", {})
    v = {**m["versions"], **out.get("peer_versions", {})}
    lines = [
        f"# CPU benchmark: {m['cpu_model']} ({m['cpus_usable']} usable cores)",
        "",
        f"Recorded {out['created']} with `{out['command']}` "
        f"(xpnet {v.get('xpnet')}, Python {v.get('python')}, "
        f"NumPy {v.get('numpy')} with {blas.get('name', '?')} "
        f"{blas.get('version', '')}, PyTorch {v.get('torch', '-')}, "
        f"JAX {v.get('jax', '-')} with optax {v.get('optax', '-')}, "
        f"scikit-learn {v.get('scikit-learn')}). xpnet's NumPy kernels: "
        f"{m.get('xpnet_numpy_kernels', 'not recorded')}. Parts run: "
        f"{', '.join(f'({p})' for p in out['parts_run'])}. {_code_note(out.get('code'))}",
        "",
        load_note(out["load"]),
        *(["", "On an oversubscribed machine the rows that use several threads per operation "
            "suffer most (PyTorch's OpenMP workers, XLA's and OpenBLAS's threads wait for "
            "each other at every barrier), so the ratios below are not reliable either."]
          if out["load"]["busy"] else []),
        "",
        "## Targets",
        "",
        "Time ratios of two rows of the same part, timed in the same interleaved rounds "
        "(lower is better).",
        "",
        *_table(["target", "ratio", "target", "verdict"],
                [[TARGETS[k][0], _fmt_ratio(r.get(k)), *_verdict(k, r.get(k))]
                 for k in TARGETS]),
    ]
    if "a" in parts:
        a = parts["a"]
        wl = a["workload"]
        lines += [
            "",
            f"## (a) fashion-mlp training: one epoch, {wl['samples']} samples, "
            f"{'-'.join(map(str, wl['sizes']))} ReLU, Adam(lr={wl['lr']}), batch "
            f"{wl['batch_size']}, {a['dtype']}",
            "",
            f"Data: {wl['data']}. Median of {a['repeats']} runs of {wl['epochs_per_repeat']} "
            f"epoch(s); the first (cold) epoch, which holds torch.compile's and JAX's "
            f"compilation, is timed separately and not in the median.",
            "",
            *_table_a(a),
            "",
            "Also: MultiLayerNetExtend + Trainer / PyTorch eager "
            f"{_fmt_ratio(r.get('trainer_over_torch'))}, / scikit-learn "
            f"{_fmt_ratio(r.get('trainer_over_sklearn'))}; xpnet.MLPClassifier(backend='torch')"
            f" / torch.compile {_fmt_ratio(r.get('estimator_torch_over_torch_compile'))}.",
        ]
    if "b" in parts:
        b = parts["b"]
        lines += [
            "",
            f"## (b) seed-dual: {b['workload']['epochs_per_repeat']} full-batch epochs of "
            f"DualLayer(l2=0.01), breast cancer ({b['workload']['samples']} x "
            f"{b['workload']['sizes'][0]}, validation loss every epoch)",
            "",
            f"Median of {b['repeats']} runs, all three rows in the same rounds. Wall time of a "
            f"1-ms-per-epoch workload is noisy on a shared machine; "
            f"`benchmarks/seed_dual_callgrind.sh` counts instructions instead.",
            "",
            *_table_b(b),
        ]
    if "c" in parts:
        c = parts["c"]
        wl = c["workload"]
        lines += [
            "",
            f"## (c) inference: predict_proba of {wl['samples']} rows, "
            f"{'-'.join(map(str, wl['sizes']))} ReLU, float32",
            "",
            f"Data: {wl['data']}. xpnet and scikit-learn are fitted for one epoch on "
            f"{wl.get('fit_samples')} training rows (in setup); native PyTorch is only "
            f"initialized. Median of {c['repeats']} runs of {wl['epochs_per_repeat']} calls. "
            f"The floor is `x @ W1`, `h @ W2`, `h @ W3` on all rows at once in NumPy, into "
            f"outputs allocated beforehand.",
            "",
            *_table_c(c, out["floors"].get("c_s_per_call")),
            "",
            f"Also: xpnet (NumPy) / PyTorch {_fmt_ratio(r.get('proba_over_torch'))}; "
            f"scikit-learn / GEMM floor {_fmt_ratio(r.get('sklearn_proba_over_floor'))}.",
        ]
    if "d" in parts:
        d = parts["d"]
        wl = d["workload"]
        lines += [
            "",
            f"## (d) small network: {'-'.join(map(str, wl['sizes']))} ReLU, Adam(1e-3), "
            f"batch {wl['batch_size']}, {d['dtype']}, {wl['steps_per_epoch']} steps per "
            f"epoch",
            "",
            f"Data: {wl['data']}. Median of {d['repeats']} runs of {wl['epochs_per_repeat']} "
            f"epochs ({wl['epochs_per_repeat'] * wl['steps_per_epoch']} steps), reported per "
            f"step (shuffle and batch gather included).",
            "",
            *_table_d(d, (row_of(d, "numpy (hand-written)") or {}).get("seconds_per_epoch")),
            "",
            f"Also: xpnet / PyTorch eager {_fmt_ratio(r.get('small_over_torch'))}; xpnet / "
            f"bare GEMMs {_fmt_ratio(r.get('small_over_gemm'))}.",
        ]
    if "e" in parts:
        e = parts["e"]
        wl = e["workload"]
        lines += [
            "",
            f"## (e) evaluation pass: net.evaluate on {wl['samples']} training rows, "
            f"{'-'.join(map(str, wl['sizes']))} ReLU, float32, in "
            f"{len(e['eval_chunks'])} chunk(s) of at most {e['eval_chunk']} rows",
            "",
            f"Data: {wl['data']}; weights initialized, not trained. Median of {e['repeats']} "
            f"runs of {wl['epochs_per_repeat']} passes. The floor is the three forward "
            f"products of every chunk in NumPy, into outputs allocated beforehand.",
            "",
            *_table_e(e, out["floors"].get("e_s_per_pass")),
        ]
    lines += [
        "",
        "## What the numbers mean",
        "",
        "- Every ratio is (median time of row A) / (median time of row B) of one part of this "
        "run; below 1 means A is faster. The timed runs of a part are interleaved (each round "
        "runs every row, and the floors, once, in a rotating order), so load that comes and "
        "goes hits all rows alike; the cold first calls are taken one row after the other "
        "before the rounds and are not protected that way.",
        "- *GEMM floor*: the bare matrix products the implementation cannot avoid, timed in "
        "the same rounds: (a)/(d) per step the batch's row gather, forward and backward "
        "GEMMs (`xpnet bench`'s floor; its products allocate their outputs); (c) the forward "
        "products on all rows; (e) the forward products chunk by chunk as `evaluate` cuts "
        "them. Everything above it is element-wise work, softmax, Adam, batching and Python.",
        "- *1st epoch / call (cold)*: the first call after setup, on its own and not in the "
        "median: first-touch allocations, lazily created optimizer state, thread pools and, "
        "for torch.compile and JAX, the compilation (first-call time = setup + this).",
        "- *peak mem*: growth of the process's peak resident set (VmHWM, reset before each "
        "row) while the row was set up and run once.",
        "- The MLPClassifier rows of (a) include what `fit` does besides training (input "
        "validation, label encoding, building the network); scikit-learn's row likewise. "
        "In (c) the torch rows take and return CPU tensors, the others NumPy arrays.",
        "",
        "Machine: " + ", ".join(f"{k}={m[k]}" for k in ("cpu_model", "cpu_count",
                                                        "cpus_usable", "platform")) + ".",
    ]
    if out["notes"]:
        lines += ["", "Notes:", *(f"- {n}" for n in out["notes"])]
    return "\n".join(lines) + "\n"


# ============================================================================ plot
_COLORS = {"xpnet": "tab:blue", "peer": "tab:orange", "floor": "tab:gray"}
_KIND_LABEL = {"xpnet": "xpnet", "peer": "peer / reference", "floor": "GEMM floor"}


def _kind(impl: str) -> str:
    return "xpnet" if impl.startswith("xpnet") else "floor" if "GEMM" in impl else "peer"


def _bars(ax: Any, bars: list[tuple[str, float, str]], title: str, unit: str,
          xlabel: str) -> None:
    from matplotlib.patches import Patch

    labels, values = [b[0] for b in bars], [b[1] for b in bars]
    drawn = ax.barh(range(len(bars)), values, color=[_COLORS[b[2]] for b in bars])
    ax.set_yticks(range(len(bars)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.bar_label(drawn, [f"{v:.3g} {unit}" for v in values], padding=3, fontsize=7)
    ax.set_xlim(0, max(values) * 1.35 if values else 1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    kinds = dict.fromkeys(b[2] for b in bars)
    ax.legend(handles=[Patch(color=_COLORS[k], label=_KIND_LABEL[k]) for k in kinds],
              fontsize=7, loc="lower right")


def _plot(out: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    parts, panels = _parts(out), []
    short = {"PyTorch eager (nn.Sequential)": "PyTorch eager",
             "PyTorch torch.compile (default mode)": "torch.compile",
             "xpnet MultiLayerNetExtend + Trainer (numpy)": "xpnet Trainer (numpy)"}

    def label(r: dict[str, Any]) -> str:
        name = _name(r)
        return short.get(name, name)

    if "a" in parts:
        a = parts["a"]
        bars = [(label(r), r["seconds_per_epoch"], _kind(r["impl"])) for r in a["rows"]]
        bars += [(f"bare GEMMs ({k})", v, "floor")
                 for k, v in a["gemm"].get("seconds_per_epoch", {}).items()]
        panels.append((bars, "(a) fashion-mlp training", "s", "seconds per epoch (median)"))
    if "b" in parts:
        b = parts["b"]
        bars = [(f"{'xpnet DualLayer' if r['impl'] == 'xpnet' else 'seed 001 code'} "
                 f"{r['dtype']}", r["seconds_per_epoch"] * r["epochs_per_repeat"],
                 "xpnet" if r["impl"] == "xpnet" else "peer") for r in b["rows"]]
        panels.append((bars, f"(b) seed-dual, {b['workload']['epochs_per_repeat']} epochs",
                       "s", "seconds per run (median)"))
    if "c" in parts:
        bars = [(label(r), r["seconds_per_epoch"] * 1e3, _kind(r["impl"]))
                for r in parts["c"]["rows"]]
        panels.append((bars, f"(c) predict_proba, {parts['c']['workload']['samples']} rows",
                       "ms", "milliseconds per call (median)"))
    if "d" in parts:
        d = parts["d"]
        bars = [(label(r), r["us_per_step"], _kind(r["impl"])) for r in d["rows"]]
        bars += [(f"bare GEMMs ({k})", v, "floor") for k, v in d["gemm_us_per_step"].items()]
        panels.append((bars, "(d) 64-100-100-10, batch 32", "us",
                       "microseconds per training step (median)"))
    if "e" in parts:
        bars = [(label(r), r["seconds_per_epoch"], _kind(r["impl"]))
                for r in parts["e"]["rows"]]
        panels.append((bars, f"(e) evaluate, {parts['e']['workload']['samples']} rows", "s",
                       "seconds per pass (median)"))
    ncols = 3
    nrows = (len(panels) + 1 + ncols - 1) // ncols
    fig = Figure(figsize=(16, 4.2 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, (bars, title, unit, xlabel) in enumerate(panels):
        _bars(fig.add_subplot(nrows, ncols, i + 1), bars, title, unit, xlabel)
    ax = fig.add_subplot(nrows, ncols, len(panels) + 1)
    keys = [k for k in TARGETS if out["ratios"].get(k) is not None]
    values = [out["ratios"][k] for k in keys]
    met = [_OPS[TARGETS[k][1]](out["ratios"][k], TARGETS[k][2]) for k in keys]
    ax.barh(range(len(keys)), values, color=["tab:green" if ok else "tab:red" for ok in met])
    ax.scatter([TARGETS[k][2] for k in keys], range(len(keys)), marker="|", s=200,
               color="black", zorder=3)
    ax.set_yticks(range(len(keys)), [TARGETS[k][0] for k in keys], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("time ratio (lower is better)", fontsize=8)
    ax.set_title("ratios against their targets", fontsize=9)
    ax.legend(handles=[Patch(color="tab:green", label="met"),
                       Patch(color="tab:red", label="not met"),
                       Line2D([], [], color="black", marker="|", linestyle="none",
                              markersize=12, label="target")], fontsize=7, loc="lower right")
    busy = " (machine busy: see the .md)" if out["load"]["busy"] else ""
    fig.suptitle(f"xpnet CPU benchmark, {out['machine']['cpu_model']}{busy}", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


# ============================================================================ main
def _ratios(parts: dict[str, Any], floors: dict[str, float | None]) -> dict[str, float | None]:
    """Every ratio of the report (the targets' and the informative ones)."""
    out: dict[str, float | None] = {}

    def per(row: dict[str, Any] | None, value: float | None) -> float | None:
        return None if row is None or not value else row["seconds_per_epoch"] / value

    if "a" in parts:
        a = parts["a"]
        est, est_torch = row_of(a, "xpnet MLPClassifier", "numpy"), row_of(
            a, "xpnet MLPClassifier", "torch")
        direct, torch_cpu = row_of(a, "xpnet", "numpy"), row_of(a, "torch (native)")
        compiled, jax = row_of(a, "torch.compile"), row_of(a, "jax.jit + optax")
        sk, loop = row_of(a, "sklearn"), row_of(a, "numpy (hand-written)")
        out.update({
            "estimator_over_gemm": per(est, a["gemm"].get("seconds_per_epoch", {})
                                       .get("numpy")),
            "estimator_over_torch": ratio(est, torch_cpu),
            "estimator_over_torch_compile": ratio(est, compiled),
            "estimator_over_jax": ratio(est, jax),
            "estimator_over_sklearn": ratio(est, sk),
            "estimator_over_numpy_loop": ratio(est, loop),
            "estimator_torch_over_torch": ratio(est_torch, torch_cpu),
            "estimator_torch_over_torch_compile": ratio(est_torch, compiled),
            "trainer_over_torch": ratio(direct, torch_cpu),
            "trainer_over_sklearn": ratio(direct, sk),
            "trainer_over_numpy_loop": ratio(direct, loop),
        })
    if "b" in parts:
        b = parts["b"]
        seed = row_of(b, "seed 001 code (verbatim)")
        out["seed_dual_float64_over_seed"] = ratio(_row(b, "xpnet", dtype="float64"), seed)
        out["seed_dual_float32_over_seed"] = ratio(_row(b, "xpnet", dtype="float32"), seed)
    if "c" in parts:
        c = parts["c"]
        xp_np, xp_t = row_of(c, "xpnet MLPClassifier", "numpy"), row_of(
            c, "xpnet MLPClassifier", "torch")
        out.update({
            "proba_over_floor": per(xp_np, floors["c_s_per_call"]),
            "proba_over_sklearn": ratio(xp_np, row_of(c, "sklearn")),
            "proba_torch_over_torch": ratio(xp_t, row_of(c, "torch (native)")),
            "proba_over_torch": ratio(xp_np, row_of(c, "torch (native)")),
            "sklearn_proba_over_floor": per(row_of(c, "sklearn"), floors["c_s_per_call"]),
        })
    if "d" in parts:
        d = parts["d"]
        xp = row_of(d, "xpnet", "numpy")
        out.update({
            "small_over_numpy_loop": ratio(xp, row_of(d, "numpy (hand-written)")),
            "small_over_torch": ratio(xp, row_of(d, "torch (native)")),
            "small_over_gemm": per(xp, d.get("gemm", {}).get("seconds_per_epoch", {})
                                   .get("numpy")),
        })
    if "e" in parts:
        out["evaluate_over_floor"] = per(row_of(parts["e"], "xpnet net.evaluate"),
                                         floors["e_s_per_pass"])
    return out


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The options, with --quick's tiny values (or the defaults) where none were given."""
    base = QUICK if args.quick else DEFAULTS
    return {k: (base[k] if getattr(args, k) is None else getattr(args, k)) for k in DEFAULTS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per row, interleaved (median; default 5, --quick 2)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: tiny data and few repeats (options given still win)")
    p.add_argument("--parts", default=",".join(PARTS),
                   help="which parts to run, e.g. a,c (default: all of a,b,c,d,e)")
    p.add_argument("--seed-epochs", type=int, default=None,
                   help="(b) full-batch epochs per seed-dual run (default 5000)")
    p.add_argument("--samples", type=int, default=None,
                   help="(a), (e) and the fits of (c): use only the first N training images")
    p.add_argument("--test-rows", type=int, default=None,
                   help="(c) predict the first N test rows (default all 10000)")
    p.add_argument("--calls", type=int, default=None,
                   help="(c) predict_proba calls per timed run (default 20)")
    p.add_argument("--small-epochs", type=int, default=None,
                   help="(d) epochs of 57 steps per timed run (default 70: 3990 steps)")
    p.add_argument("--eval-passes", type=int, default=None,
                   help="(e) evaluate passes per timed run (default 5)")
    p.add_argument("--backends", default="numpy",
                   help="xpnet Trainer backends of part (a) (default numpy; e.g. numpy,torch)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--name", default=None,
                   help="file stem after 'cpu-' (default: a slug of the CPU model)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    cfg = _settings(args)
    run = [s.strip() for s in args.parts.split(",") if s.strip()]
    bad = [s for s in run if s not in PARTS]
    if bad or not run:
        p.error(f"--parts {args.parts!r}: choose from {','.join(PARTS)}")
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, flush=True))
    command = "python benchmarks/run_cpu.py" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    notes: list[str] = []
    load = MachineLoad()
    reps = cfg["repeats"]
    parts: dict[str, Any] = {}
    floors: dict[str, float | None] = {}
    machine = None
    created = None

    if "a" in run:
        log("(a) fashion-mlp training")
        res = B.bench("fashion-mlp", args.backends, repeats=reps, samples=cfg["samples"],
                      extra=[*peers.PEERS, *peers.COMPILED_PEERS, estimator("numpy"),
                             estimator("torch")], command=command, log=log)
        machine, created = res.pop("machine"), res["created"]
        parts["a"] = res
        notes += [f"(a) {n}" for n in res["notes"]]
    if "b" in run:
        log("(b) seed-dual")
        # xpnet float64 (the bench row), the seed's code and xpnet float32, in the same rounds
        res = B.bench("seed-dual", ["numpy"], dtype="float64", repeats=reps,
                      epochs=cfg["seed_epochs"], extra=[SeedReferenceRow, dual_row("float32")],
                      command=command, log=log)
        machine, created = machine or res.pop("machine"), created or res["created"]
        res.pop("machine", None)
        parts["b"] = res
        notes += [f"(b) {n}" for n in res["notes"]]
    if "c" in run:
        log("(c) inference")
        w = S.inference_workload(cfg["test_rows"], cfg["samples"], cfg["calls"])
        parts["c"] = S.run_inference(w, reps, log)
        floor = row_of(parts["c"], "bare GEMMs (forward)")
        floors["c_s_per_call"] = floor["seconds_per_epoch"] if floor else None
        notes += [f"(c) {n}" for n in parts["c"]["notes"]]
    if "d" in run:
        log("(d) small network")
        parts["d"] = S.run_small(S.small_workload(cfg["small_epochs"]), reps, log, command)
        created = created or parts["d"]["created"]
        notes += [f"(d) {n}" for n in parts["d"]["notes"]]
    if "e" in run:
        log("(e) evaluation pass")
        parts["e"] = S.run_evaluate(S.evaluate_workload(cfg["samples"], cfg["eval_passes"]),
                                    reps, log)
        floor = row_of(parts["e"], "bare GEMMs (forward)")
        floors["e_s_per_pass"] = floor["seconds_per_epoch"] if floor else None
    if machine is None:
        machine = B.machine_info()
    if created is None:
        import datetime as _dt  # noqa: PLC0415

        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    ratios = _ratios(parts, floors)
    out = {
        "schema": "xpnet-bench-cpu/2",
        "created": created,
        "command": command,
        "settings": cfg,
        "code": code_state(),
        "parts_run": run,
        "machine": machine,
        "peer_versions": versions(("jax", "jaxlib", "optax")),
        "load": load.finish(),
        "targets": {k: {"what": what, "op": op, "bound": bound, "value": ratios.get(k),
                        "met": (None if ratios.get(k) is None
                                else _OPS[op](ratios[k], bound))}
                    for k, (what, op, bound) in TARGETS.items()},
        "ratios": ratios,
        "floors": floors,
        **{PART_KEYS[p]: res for p, res in parts.items()},
        "notes": notes,
    }
    stem = "cpu-" + slug(args.name or machine["cpu_model"])
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = B.write_json(out, args.out / f"{stem}.json")
    md = _markdown(out)
    (args.out / f"{stem}.md").write_text(md)
    _plot(out, args.out / f"{stem}.png")
    log(md)
    log(f"wrote {json_path}, {stem}.md and {stem}.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
