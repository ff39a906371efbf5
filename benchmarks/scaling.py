#!/usr/bin/env python
"""How one training step's cost grows with width and batch size: xpnet vs the GEMM floor and
PyTorch; writes benchmarks/results/scaling-<cpu-model>.{json,md,png}.

Network 784-W-W-10, ReLU, softmax cross-entropy, Adam(lr=1e-3), float32, for every hidden
width W of ``--widths`` (default 64,256,1024,4096) and batch size B of ``--batches`` (default
1,8,32,128,1024).  Each cell times one training step (forward, backward, optimizer step) of:

* xpnet: ``xpnet.MultiLayerNet(784, [W, W], 10, random_state=0)`` trained by
  ``xpnet.Trainer(net, x, t, mini_batch_size=B, optimizer="adam", optimizer_param={"lr":
  1e-3}, evaluate=False, verbose=False)``, one ``trainer.train_step()`` per step (a new
  permutation and the Trainer's once-per-epoch bookkeeping every n / B steps included);
* the GEMM floor: the bare NumPy matrix products of that step on arrays of the same shapes
  (the gather of the batch's rows with ``np.take`` by a slice of a permutation, the forward
  ``a @ W`` of each layer, the weight gradients ``a.T @ d`` and the input gradients
  ``d @ W.T`` except the first layer's), as ``xpnet bench``'s GEMM floor does;
* native PyTorch eager on the CPU: ``nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)``,
  ``CrossEntropyLoss``, ``torch.optim.Adam``, default threads, one ``randperm`` per epoch.

The data are n = B * max(8, ceil(1024 / B)) synthetic samples (pixel-like float32 inputs,
labels 0..9), the same for the three rows of a cell.  Per row: one cold step (timed on its
own, also the warm-up), a calibration (1, 2, 4, ... steps until a run lasts a fifth of
``--target-s``) that sets the steps per timed run (about ``--target-s`` seconds each), then
``--repeats`` timed runs, interleaved across the three rows in a rotating order; the result
is the median run's time per step.

Usage: python benchmarks/scaling.py [--widths 64,256,1024,4096] [--batches 1,8,32,128,1024]
       [--repeats 3] [--target-s 0.3] [--out DIR] [--name NAME] [--quick] [--quiet]
       python benchmarks/scaling.py --render results/scaling-<cpu>.json  (reports again)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from _common import RESULTS, MachineLoad, load_note  # noqa: E402

from xpnet.tools import bench as B  # noqa: E402
from xpnet.tools.machine import blas_threads, machine_info, slug  # noqa: E402

INPUTS, CLASSES, LR = 784, 10, 1e-3
WIDTHS, BATCHES = (64, 256, 1024, 4096), (1, 8, 32, 128, 1024)
QUICK = {"widths": (64, 256), "batches": (1, 32), "repeats": 1, "target_s": 0.02}
#: the rows of a cell, in the order of the tables
IMPLS = ("xpnet", "gemm", "torch")
LABELS = {"xpnet": "xpnet (MultiLayerNet + Trainer.train_step)",
          "gemm": "GEMM floor (bare NumPy products)",
          "torch": "PyTorch eager (nn.Sequential + Adam)"}
#: the calibration doubles its steps until a run lasts this share of ``--target-s``
CALIBRATION_SHARE = 0.2


def samples_for(batch: int) -> int:
    """Training samples of a cell: a multiple of ``batch``, at least 8 batches and 1024 rows."""
    return batch * max(8, math.ceil(1024 / batch))


def sizes_of(width: int) -> list[int]:
    return [INPUTS, width, width, CLASSES]


def flop_per_step(width: int, batch: int) -> int:
    """Multiply-adds x 2 of the step's products: forward and weight gradient of every layer,
    input gradient of all but the first."""
    s = sizes_of(width)
    pairs = list(zip(s[:-1], s[1:], strict=True))
    return sum(2 * batch * k * m * (2 if i == 0 else 3) for i, (k, m) in enumerate(pairs))


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random((n, INPUTS), dtype=np.float32),
            rng.integers(0, CLASSES, n).astype(np.int64))


# ------------------------------------------------------------------ the three rows
class Row:
    """One implementation of a cell: ``setup`` builds it, ``steps(k)`` runs k training steps."""

    key = ""

    def __init__(self, width: int, batch: int, x: np.ndarray, y: np.ndarray, seed: int):
        self.width, self.batch, self.x, self.y, self.seed = width, batch, x, y, seed
        self.n = int(x.shape[0])

    def setup(self) -> None:
        raise NotImplementedError

    def steps(self, k: int) -> None:
        raise NotImplementedError

    @property
    def threads(self) -> int | None:
        return blas_threads()


class XpnetRow(Row):
    key = "xpnet"

    def setup(self) -> None:
        import xpnet  # noqa: PLC0415

        net = xpnet.MultiLayerNet(INPUTS, [self.width, self.width], CLASSES, random_state=0)
        # epochs only bounds train(); train_step runs as long as it is called
        self.trainer = xpnet.Trainer(net, self.x, self.y, epochs=10**6,
                                     mini_batch_size=self.batch, optimizer="adam",
                                     optimizer_param={"lr": LR}, evaluate=False, verbose=False)

    def steps(self, k: int) -> None:
        step = self.trainer.train_step
        for _ in range(k):
            step()


class GemmRow(Row):
    """The bare products of a step (as ``xpnet.tools.bench``'s floor): gather, a @ W,
    a.T @ d, d @ W.T (not for the first layer); no activations, loss or optimizer."""

    key = "gemm"

    def setup(self) -> None:
        rng = np.random.default_rng(self.seed)
        s, b = sizes_of(self.width), self.batch

        def normal(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
            return (rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))

        self.w = [normal((k, m), 1.0 / math.sqrt(k)) for k, m in zip(s[:-1], s[1:], strict=True)]
        self.a = [None] + [normal((b, k)) for k in s[1:-1]]  # the first layer takes the rows
        self.d = [normal((b, m)) for m in s[1:]]
        self.order = rng.permutation(self.n)
        self.pos = 0

    def steps(self, k: int) -> None:
        x, order, b, n = self.x, self.order, self.batch, self.n
        for _ in range(k):
            if self.pos >= n:
                self.pos = 0
            rows = np.take(x, order[self.pos:self.pos + b], axis=0)
            self.pos += b
            for i, (a, w, d) in enumerate(zip(self.a, self.w, self.d, strict=True)):
                a = rows if a is None else a
                _ = a @ w, a.T @ d, (d @ w.T if i > 0 else None)


class TorchRow(Row):
    """Plain PyTorch eager on the CPU (as benchmarks/peers.py's native row, step by step)."""

    key = "torch"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        import torch  # noqa: PLC0415 - ImportError: the row is skipped

        self.torch = torch

    def setup(self) -> None:
        torch, nn = self.torch, self.torch.nn
        torch.manual_seed(self.seed)
        s = sizes_of(self.width)
        self.model = nn.Sequential(nn.Linear(s[0], s[1]), nn.ReLU(), nn.Linear(s[1], s[2]),
                                   nn.ReLU(), nn.Linear(s[2], s[3]))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss_fn = nn.CrossEntropyLoss()
        self.xt = torch.as_tensor(self.x)
        self.yt = torch.as_tensor(self.y)
        self.gen = torch.Generator()
        self.gen.manual_seed(self.seed)
        self.pos, self.order = self.n, None
        self.loss_sum = torch.zeros(())
        self.model.train()

    def steps(self, k: int) -> None:
        torch, model, opt, loss_fn, b = self.torch, self.model, self.opt, self.loss_fn, self.batch
        for _ in range(k):
            if self.pos >= self.n:  # a new epoch: a new order, the epoch's loss read once
                self.last_loss = float(self.loss_sum) / self.n
                self.order, self.pos = torch.randperm(self.n, generator=self.gen), 0
                self.loss_sum = torch.zeros(())
            idx = self.order[self.pos:self.pos + b]
            self.pos += b
            xb, yb = self.xt[idx], self.yt[idx]
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.loss_sum += loss.detach() * b

    @property
    def threads(self) -> int | None:
        return self.torch.get_num_threads()


ROWS: dict[str, type[Row]] = {"xpnet": XpnetRow, "gemm": GemmRow, "torch": TorchRow}


# ------------------------------------------------------------------ measuring
def _timed(row: Row, k: int) -> float:
    t0 = time.perf_counter()
    row.steps(k)
    return time.perf_counter() - t0


def measure_cell(width: int, batch: int, repeats: int, target_s: float, seed: int,
                 notes: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    """Every row of one (width, batch) cell: cold step, calibration, interleaved timed runs."""
    n = samples_for(batch)
    x, y = synthetic(n, seed)
    state: list[dict[str, Any]] = []
    for key in IMPLS:
        try:
            row = ROWS[key](width, batch, x, y, seed)
        except ImportError as err:
            note = f"{key}: skipped ({err})"
            if note not in notes:
                notes.append(note)
            continue
        gc.collect()
        t0 = time.perf_counter()
        row.setup()
        setup_s = time.perf_counter() - t0
        first = _timed(row, 1)  # cold: lazy optimizer state, compilation, first touch
        # calibration: 1, 2, 4, ... steps until a run lasts a fifth of the target, so that
        # a stall of one step (another process taking a core) does not set the step count
        calib = 1
        while True:
            took = _timed(row, calib)
            if took >= target_s * CALIBRATION_SHARE or calib >= 2**20:
                break
            calib *= 2
        est = took / calib
        steps = max(1, min(10**6, round(target_s / est)))
        state.append({"row": row, "setup_s": setup_s, "first": first, "est": est,
                      "calib": calib, "steps": steps, "times": []})
    k = len(state)
    for r in range(repeats):
        for j in range(k):
            st = state[(j + r) % k]
            st["times"].append(_timed(st["row"], st["steps"]) / st["steps"])
    rows: dict[str, Any] = {}
    for st in state:
        times = st["times"]
        rows[st["row"].key] = {
            "us_per_step": statistics.median(times) * 1e6,
            "us_min": min(times) * 1e6, "us_max": max(times) * 1e6,
            "us_all": [t * 1e6 for t in times],
            "steps_per_run": st["steps"], "calibration_us_per_step": st["est"] * 1e6,
            "calibration_steps": st["calib"], "first_step_us": st["first"] * 1e6,
            "setup_s": st["setup_s"], "threads": st["row"].threads,
        }
    del state
    gc.collect()
    us = {key: r["us_per_step"] for key, r in rows.items()}
    flop = flop_per_step(width, batch)

    def over(a: str, b: str) -> float | None:
        return us[a] / us[b] if a in us and b in us and us[b] > 0 else None

    cell = {"width": width, "batch": batch, "samples": n, "steps_per_epoch": n // batch,
            "flop_per_step": flop, "rows": rows,
            "ratios": {"xpnet_over_gemm": over("xpnet", "gemm"),
                       "xpnet_over_torch": over("xpnet", "torch"),
                       "torch_over_gemm": over("torch", "gemm")},
            "gemm_gflop_per_s": flop / us["gemm"] / 1e3 if "gemm" in us else None,
            "xpnet_overhead_us": (us["xpnet"] - us["gemm"]
                                  if "xpnet" in us and "gemm" in us else None)}
    log(f"  width {width:5d} batch {batch:5d}: " + ", ".join(
        f"{key} {v:,.0f} us" for key, v in us.items()) + "".join(
        f", {name} {v:.2f}" for name, v in cell["ratios"].items() if v is not None))
    return cell


# ------------------------------------------------------------------ reporting
def _cell(out: dict[str, Any], width: int, batch: int) -> dict[str, Any] | None:
    return next((c for c in out["cells"] if c["width"] == width and c["batch"] == batch), None)


def spread(cell: dict[str, Any]) -> float | None:
    """The largest (slowest run / fastest run) over the rows of a cell."""
    values = [r["us_max"] / r["us_min"] for r in cell["rows"].values() if r["us_min"] > 0]
    return max(values) if values else None


def _get(cell: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    if cell is not None and path == ("spread",):
        return spread(cell)
    value: Any = cell
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


#: (title, path in a cell, number format) of each Markdown table
METRICS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("xpnet: microseconds per training step", ("rows", "xpnet", "us_per_step"), ",.0f"),
    ("GEMM floor: microseconds per step (bare NumPy products)",
     ("rows", "gemm", "us_per_step"), ",.0f"),
    ("PyTorch eager: microseconds per training step", ("rows", "torch", "us_per_step"),
     ",.0f"),
    ("xpnet / GEMM floor (time ratio; 1 = nothing but the matrix products)",
     ("ratios", "xpnet_over_gemm"), ".2f"),
    ("xpnet / PyTorch (time ratio; below 1: xpnet is faster)",
     ("ratios", "xpnet_over_torch"), ".2f"),
    ("PyTorch / GEMM floor (time ratio, for comparison)", ("ratios", "torch_over_gemm"), ".2f"),
    ("xpnet's overhead over the GEMM floor: microseconds per step", ("xpnet_overhead_us",),
     ",.0f"),
    ("GEMM floor: GFLOP/s of the products", ("gemm_gflop_per_s",), ".1f"),
    ("Run-to-run spread: the largest max / min of a row's timed runs in the cell (near 1: "
     "steady; well above 1: the cell's numbers were disturbed)", ("spread",), ".2f"),
)


def tables(out: dict[str, Any]) -> list[str]:
    widths, batches = out["settings"]["widths"], out["settings"]["batches"]
    lines: list[str] = []
    for title, path, spec in METRICS:
        lines += [f"### {title}", "",
                  "| width \\ batch | " + " | ".join(str(b) for b in batches) + " |",
                  "|---|" + "---:|" * len(batches)]
        for w in widths:
            cells = []
            for b in batches:
                v = _get(_cell(out, w, b), path)
                cells.append("-" if v is None else format(v, spec))
            lines.append(f"| {w} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def markdown(out: dict[str, Any]) -> str:
    m, s, load = out["machine"], out["settings"], out["load"]
    blas = m["blas"].get("numpy_build", {})
    threads = {k: _get(out["cells"][0], ("rows", k, "threads")) for k in IMPLS} \
        if out["cells"] else {}
    shared = (load.get("load_average_start") or [0.0])[0] > 1.2
    lines = [
        f"# Scaling of one training step: {m['cpu_model']} ({m['cpus_usable']} usable cores)",
        "",
        f"Recorded {out['created']} with `{out['command']}` in {out['elapsed_s']:.0f} s "
        f"(xpnet {m['versions'].get('xpnet')}, Python {m['versions'].get('python')}, NumPy "
        f"{m['versions'].get('numpy')} with {blas.get('name', '?')} {blas.get('version', '')}, "
        f"PyTorch {m['versions'].get('torch', '-')}). xpnet's NumPy kernels: "
        f"{m.get('xpnet_numpy_kernels', 'not recorded')}. Threads: NumPy's BLAS "
        f"{threads.get('gemm') or '?'}, PyTorch {threads.get('torch') or '?'} (its default).",
        "",
        load_note(load),
    ]
    if shared or load.get("busy"):
        lines += ["", f"**This run shared the machine with other work** (1-minute load average "
                      f"{(load.get('load_average_start') or ['?'])[0]} at the start on "
                      f"{load.get('cores')} cores; the load average lags by minutes, the "
                      f"measured share of other processes is in the paragraph above). The "
                      f"three rows of a cell were interleaved, so the ratios suffer less than "
                      f"the absolute times, but rows that use both cores per operation (BLAS, "
                      f"PyTorch's OpenMP) lose most when a core is taken."]
    code = out.get("code") or {}
    if code.get("commit"):
        dirty = code.get("uncommitted_xpnet_files") or []
        lines += ["", f"Code: commit `{code['commit']}`" + (
            f", with uncommitted changes in {', '.join(f'`{f}`' for f in dirty)} (the "
            f"working tree was timed)." if dirty else ", no uncommitted changes in `xpnet/`.")]
    lines += [
        "",
        f"Network {INPUTS}-W-W-{CLASSES}, ReLU, softmax cross-entropy, Adam(lr={LR}), float32; "
        f"W in {s['widths']}, batch size in {s['batches']}. Each number: the median of "
        f"{s['repeats']} interleaved timed runs of about {s['target_s']} s (the steps per run "
        f"set by a calibration of 1, 2, 4, ... steps after a cold warm-up step), divided by "
        f"the steps of the run. Data: n = batch x max(8, ceil(1024 / batch)) synthetic "
        f"samples per cell.",
        "",
        "- *xpnet*: `xpnet.MultiLayerNet(784, [W, W], 10, random_state=0)` and "
        "`xpnet.Trainer(net, x, t, mini_batch_size=batch, optimizer=\"adam\", "
        "optimizer_param={\"lr\": 1e-3}, evaluate=False, verbose=False)`, one "
        "`trainer.train_step()` per step. Every n / batch steps the Trainer closes an epoch "
        "(one host sync, a NaN check of the weights and a copy of them, the state it "
        "restores after a divergence) and draws a new permutation; those costs are in the "
        "timed runs in proportion to the epoch ends a run contains (where a run is a single "
        "step, as at width 4096 and batch 1024, one run in n / batch holds one; the median "
        "then leaves that cost out).",
        "- *GEMM floor*: per step `np.take` of the batch's rows by a permutation slice, "
        "`a @ W` for each layer, `a.T @ d` for each weight gradient, `d @ W.T` for the input "
        "gradients except the first layer's; NumPy, same shapes, no activations, loss or "
        "optimizer: what any implementation of this step pays at least.",
        "- *PyTorch*: `nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)`, "
        "`nn.CrossEntropyLoss`, `torch.optim.Adam` (default implementation), `zero_grad("
        "set_to_none=True)`, `torch.randperm` per epoch, eager mode on the CPU.",
        "",
        *tables(out),
        "![xpnet / GEMM floor, xpnet / PyTorch and microseconds per step against the batch size]"
        f"({out['stem']}.png)",
    ]
    if out["notes"]:
        lines += ["", "Notes:", *(f"- {n}" for n in out["notes"])]
    return "\n".join(lines) + "\n"


def plot(out: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    widths, batches = out["settings"]["widths"], out["settings"]["batches"]
    fig = Figure(figsize=(16, 5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    colors = {w: f"C{i}" for i, w in enumerate(widths)}
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    # minor ticks labelled only at 2, 3, 5 x 10^k, so that they do not overlap
    plain_minor = FuncFormatter(
        lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v)), 6) in (2, 3, 5)
        else "")

    def series(w: int, path: tuple[str, ...]) -> tuple[list[int], list[float]]:
        pts = [(b, _get(_cell(out, w, b), path)) for b in batches]
        pts = [(b, v) for b, v in pts if v is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    for ax, metric, title, ylabel in (
            (axes[0], ("ratios", "xpnet_over_gemm"),
             "xpnet time / GEMM floor time (1 = only matrix products)",
             "xpnet / GEMM floor (time ratio)"),
            (axes[1], ("ratios", "xpnet_over_torch"),
             "xpnet time / PyTorch eager time (below 1: xpnet faster)",
             "xpnet / PyTorch (time ratio)")):
        lines = {w: series(w, metric) for w in widths}
        if not any(vs for _, vs in lines.values()):  # e.g. PyTorch not installed: no ratio
            ax.text(0.5, 0.5, f"{title}:\nno rows to compare (not measured here)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=9)
            ax.set_axis_off()
            continue
        for w, (bs, vs) in lines.items():
            ax.plot(bs, vs, "o-", color=colors[w], label=f"hidden width {w}")
        ax.axhline(1.0, color="gray", linewidth=0.8, linestyle=":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size (log scale)")
        ax.set_ylabel(ylabel + ", log scale")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain_minor)
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[2]
    styles = {"xpnet": ("o", "-"), "torch": ("s", "--"), "gemm": ("", ":")}
    for w in widths:
        for key, (marker, style) in styles.items():
            bs, vs = series(w, ("rows", key, "us_per_step"))
            ax.plot(bs, vs, marker=marker, linestyle=style, color=colors[w], markersize=4)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size (log scale)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("microseconds per training step (log scale)")
    ax.set_title("us per step: xpnet (solid), PyTorch (dashed), GEMM floor (dotted)",
                 fontsize=10)
    handles = [Line2D([], [], color=colors[w], label=f"hidden width {w}") for w in widths]
    handles += [Line2D([], [], color="black", marker=mk, linestyle=ls,
                       label=LABELS[key].split(" (")[0]) for key, (mk, ls) in styles.items()]
    ax.legend(handles=handles, fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    load = out["load"]
    load_start = (load.get("load_average_start") or [0.0])[0]
    foreign = load.get("foreign_cores")
    others = "" if foreign is None else f", other processes used {foreign:.2f} cores"
    shared = (f"\nmachine shared with other work (load average {load_start} at the start"
              f"{others}): see the .md" if load_start > 1.2 or load["busy"] else "")
    fig.suptitle(f"One training step of 784-W-W-10 (ReLU, Adam, float32), "
                 f"{out['machine']['cpu_model']}, median of {out['settings']['repeats']}"
                 f"{shared}", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def write_reports(out: dict[str, Any], out_dir: Path) -> str:
    """Write ``<stem>.md`` and ``<stem>.png`` of a result into ``out_dir``; returns the text."""
    md = markdown(out)
    (out_dir / f"{out['stem']}.md").write_text(md)
    plot(out, out_dir / f"{out['stem']}.png")
    return md


# ------------------------------------------------------------------ CLI
def code_state() -> dict[str, Any]:
    """The git commit of the checkout and its uncommitted files under xpnet/ (the code timed)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True,
                                  text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout

    status, commit = git("status", "--porcelain", "--", "xpnet"), git("rev-parse", "HEAD")
    return {"commit": commit and commit.strip(),
            "uncommitted_xpnet_files": None if status is None else
            [line[3:] for line in status.splitlines() if line.strip()]}


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", type=_ints, default=None,
                   help=f"hidden widths (default {','.join(map(str, WIDTHS))})")
    p.add_argument("--batches", type=_ints, default=None,
                   help=f"batch sizes (default {','.join(map(str, BATCHES))})")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per row (default 3)")
    p.add_argument("--target-s", type=float, default=None,
                   help="seconds per timed run (default 0.3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke test: widths 64,256, batches 1,32, 1 repeat, 0.02 s runs; "
                        "written to a temporary directory unless --out is given")
    p.add_argument("--out", type=Path, default=None, help=f"results directory (default "
                   f"{RESULTS})")
    p.add_argument("--name", default=None,
                   help="file stem after 'scaling-' (default: a slug of the CPU model)")
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="only write the .md and .png of a recorded scaling-*.json again, "
                        "beside it (no timing)")
    p.add_argument("--note", action="append", default=[],
                   help="a note for the record's Notes (repeatable; with --render it is added "
                        "to the recorded JSON too)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.render is not None:
        out = json.loads(args.render.read_text())
        if args.note:
            out["notes"] = [*out.get("notes", []), *args.note]
            B.write_json(out, args.render)
        write_reports(out, args.render.parent)
        return 0
    defaults = QUICK if args.quick else {"widths": WIDTHS, "batches": BATCHES, "repeats": 3,
                                         "target_s": 0.3}
    widths = args.widths or defaults["widths"]
    batches = args.batches or defaults["batches"]
    repeats = args.repeats or defaults["repeats"]
    target_s = args.target_s or defaults["target_s"]
    if repeats < 1 or target_s <= 0:
        p.error("--repeats and --target-s must be positive")
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="xpnet-scaling-")) if args.quick
                           else RESULTS)
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, flush=True))
    command = "python benchmarks/scaling.py" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    load = MachineLoad()
    started = dt.datetime.now(dt.timezone.utc)
    log(f"load average at the start: {load.load_start}")
    notes: list[str] = list(args.note)
    cells = [measure_cell(w, b, repeats, target_s, args.seed, notes, log)
             for w in widths for b in batches]
    machine = machine_info()
    code = code_state()
    stem = "scaling-" + slug(args.name or machine["cpu_model"])
    out = {
        "schema": "xpnet-bench-scaling/1",
        "created": started.isoformat(timespec="seconds"),
        "elapsed_s": (dt.datetime.now(dt.timezone.utc) - started).total_seconds(),
        "command": command,
        "stem": stem,
        "machine": machine,
        "code": code,
        "load": load.finish(),
        "settings": {"widths": list(widths), "batches": list(batches), "repeats": repeats,
                     "target_s": target_s, "seed": args.seed, "dtype": "float32",
                     "network": f"{INPUTS}-W-W-{CLASSES}", "activation": "relu",
                     "loss": "softmax_cross_entropy", "optimizer": "adam", "lr": LR,
                     "samples": "batch * max(8, ceil(1024 / batch))",
                     "rows": {k: LABELS[k] for k in IMPLS}},
        "cells": cells,
        "notes": notes,
    }
    log(f"load average at the end: {out['load']['load_average_end']}")
    out_dir.mkdir(parents=True, exist_ok=True)
    B.write_json(out, out_dir / f"{stem}.json")
    md = write_reports(out, out_dir)
    log(md)
    log(f"wrote {stem}.json, {stem}.md and {stem}.png in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
