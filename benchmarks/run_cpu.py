#!/usr/bin/env python
"""The CPU comparison of the speed issue; writes benchmarks/results/cpu-<cpu-model>.{json,md,png}.

(a) fashion-mlp, one epoch (60000 Fashion-MNIST images, 784-256-128-10 ReLU, Adam(1e-3),
    batch 128, float32, shuffled), median of ``--repeats`` runs, through:
      * the user-facing path ``xpnet.MLPClassifier(hidden_layer_sizes=(256, 128),
        solver="adam", batch_size=128, alpha=0.0, dtype="float32", max_iter=1).fit(X, y)``,
      * xpnet's MultiLayerNetExtend + Trainer directly (what the estimator is built on),
      * the peers of benchmarks/peers.py: native PyTorch on the CPU (nn.Sequential +
        torch.optim.Adam, default threads), scikit-learn's MLPClassifier (max_iter=1, adam,
        alpha=0, tol=0, shuffle), a plain hand-written NumPy loop (forward/backward/Adam per
        array, float32),
      * the bare GEMMs of an epoch (the floor any implementation pays);
    ratios xpnet/torch (target <= 0.6) and xpnet/sklearn (target <= 0.5).
(b) seed-dual, 5000 full-batch epochs of DualLayer(l2=0.01) on the breast-cancer training
    split (with the validation loss every epoch, as the seed's fit does): xpnet's DualLayer in
    float64 and float32 vs seed 001's own code (benchmarks/seed001_reference.py, float64);
    target xpnet <= 1.0x the seed's time.

Usage: python benchmarks/run_cpu.py [--repeats 5] [--seed-epochs 5000] [--out DIR]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import peers  # noqa: E402
from _common import RESULTS, MachineLoad, fmt_s, load_note, ratio, row_of  # noqa: E402

from xpnet.tools import bench as B  # noqa: E402
from xpnet.tools.machine import slug  # noqa: E402

TARGETS = {"xpnet_over_torch": 0.6, "xpnet_over_sklearn": 0.5, "xpnet_over_seed": 1.0}


class EstimatorRow(B.Contender):
    """``xpnet.MLPClassifier(...).fit(X, y)``: the user-facing path, one fit per run."""

    impl = "xpnet MLPClassifier"

    def __init__(self, workload: B.Workload, dtype: str, seed: int) -> None:
        super().__init__(workload, dtype, seed)  # NumPy on the host: BLAS threads, NumPy GEMMs
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
                       random_state=self.seed, tol=0.0, n_iter_no_change=10**9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter reached
            est.fit(w.x, w.y)


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


def _name(row: dict[str, Any]) -> str:
    if row["impl"] == "xpnet":
        return f"xpnet MultiLayerNetExtend + Trainer ({row['backend']})"
    return {"torch (native)": "PyTorch native (nn.Sequential + Adam)",
            "sklearn": "scikit-learn MLPClassifier",
            "numpy (hand-written)": "hand-written NumPy loop"}.get(row["impl"], row["impl"])


def _table(rows: list[dict[str, Any]], gemm: float | None = None) -> list[str]:
    lines = ["| implementation | device | dtype | s/epoch (median) | samples/s | "
             "1st epoch s (cold) | peak mem MiB | overhead over GEMMs s/epoch | threads |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {_name(r)} | {r['device']} | {r['dtype']} | "
                     f"{fmt_s(r['seconds_per_epoch'])} | {r['samples_per_s']:,.0f} | "
                     f"{fmt_s(r['first_epoch_s'])} | {r['peak_mem_mib']:.1f} | "
                     f"{fmt_s(r.get('overhead_s_per_epoch'))} | {r.get('threads') or '-'} |")
    if gemm is not None:
        lines.append(f"| bare GEMMs of an epoch (NumPy BLAS) | cpu | float32 | {fmt_s(gemm)} "
                     f"| - | - | - | 0 | - |")
    return lines


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return f"**{value:.2f}** (target <= {target}: {'met' if value <= target else 'NOT met'})"


def _markdown(out: dict[str, Any]) -> str:
    m, a, r = out["machine"], out["fashion_mlp"], out["ratios"]
    b64, b32 = out["seed_dual"]["float64"], out["seed_dual"]["float32"]
    blas = m["blas"].get("numpy_build", {})
    wl = a["workload"]
    lines = [
        f"# CPU benchmark: {m['cpu_model']} ({m['cpus_usable']} usable cores)",
        "",
        f"Recorded {out['created']} with `{out['command']}` "
        f"(xpnet {m['versions'].get('xpnet')}, Python {m['versions'].get('python')}, "
        f"NumPy {m['versions'].get('numpy')} with {blas.get('name', '?')} "
        f"{blas.get('version', '')}, PyTorch {m['versions'].get('torch', '-')}, "
        f"scikit-learn {m['versions'].get('scikit-learn')}). xpnet's NumPy kernels: "
        f"{m.get('xpnet_numpy_kernels', 'not recorded')}.",
        "",
        load_note(out["load"]),
        *(["", "On an oversubscribed machine the rows that use several threads per operation "
            "suffer most (PyTorch's OpenMP workers and OpenBLAS's threads wait for each other "
            "at every barrier), so the ratios below are not reliable either."]
          if out["load"]["busy"] else []),
        "",
        f"## (a) fashion-mlp: one epoch, {wl['samples']} samples, "
        f"{'-'.join(map(str, wl['sizes']))} ReLU, Adam(lr={wl['lr']}), batch "
        f"{wl['batch_size']}, {a['dtype']}",
        "",
        f"Data: {wl['data']}. Median of {a['repeats']} runs of {wl['epochs_per_repeat']} "
        f"epoch(s); the first (cold) epoch is timed separately and not in the median.",
        "",
        *_table(a["rows"], a["gemm"].get("seconds_per_epoch", {}).get("numpy")),
        "",
        f"- xpnet.MLPClassifier / PyTorch native: {_verdict(r['estimator_over_torch'], 0.6)}",
        f"- xpnet.MLPClassifier / scikit-learn: {_verdict(r['estimator_over_sklearn'], 0.5)}",
        f"- MultiLayerNetExtend + Trainer / PyTorch native: "
        f"{_verdict(r['trainer_over_torch'], 0.6)}",
        f"- MultiLayerNetExtend + Trainer / scikit-learn: "
        f"{_verdict(r['trainer_over_sklearn'], 0.5)}",
        f"- xpnet.MLPClassifier / hand-written NumPy loop: "
        f"{fmt_s(r['estimator_over_numpy_loop'])}",
        "",
        f"## (b) seed-dual: {b64['workload']['epochs_per_repeat']} full-batch epochs of "
        f"DualLayer(l2=0.01), breast cancer ({b64['workload']['samples']} x "
        f"{b64['workload']['sizes'][0]}, validation loss every epoch)",
        "",
        "| implementation | dtype | s/epoch (median) | s per run | 1st epoch s (cold) |",
        "|---|---|---:|---:|---:|",
    ]
    for res in (b64, b32):
        for row in res["rows"]:
            if res is b32 and row["impl"] != "xpnet":
                continue
            name = ("xpnet DualLayer" if row["impl"] == "xpnet" else
                    "seed 001's DualLayer (benchmarks/seed001_reference.py)")
            lines.append(f"| {name} | {row['dtype']} | {fmt_s(row['seconds_per_epoch'])} | "
                         f"{fmt_s(row['seconds_per_epoch'] * row['epochs_per_repeat'])} | "
                         f"{fmt_s(row['first_epoch_s'])} |")
    lines += [
        "",
        f"- xpnet float64 / seed code: {_verdict(r['seed_dual_float64_over_seed'], 1.0)}",
        f"- xpnet float32 / seed code: {_verdict(r['seed_dual_float32_over_seed'], 1.0)}",
        "",
        "## What the numbers mean",
        "",
        "- *s/epoch*: median wall time of one epoch (every training sample once, shuffled) "
        "over the repeated runs; *samples/s* = samples / that median. The timed runs are "
        "interleaved (each round runs every row and the bare GEMMs once, in a rotating order), "
        "so load that comes and goes hits all rows alike; the cold first epochs are taken "
        "one row after the other before the rounds and are not protected that way.",
        "- *1st epoch (cold)*: the first epoch after setup (first-touch allocations, lazily "
        "created optimizer state, thread pools), reported on its own and not in the median.",
        "- *peak mem*: growth of the process's peak resident set (VmHWM, reset before each "
        "row) while the row was set up and trained.",
        "- *overhead over GEMMs*: s/epoch minus the time of the bare matrix products of an "
        "epoch (forward and backward GEMMs at batch 128, without the first layer's input "
        "gradient), i.e. everything that is not matrix multiplication: activations, softmax, "
        "Adam, batching, Python.",
        "- The MLPClassifier row includes what `fit` does besides training (input "
        "validation, label encoding, building the network); scikit-learn's row likewise.",
        "",
        "Machine: " + ", ".join(f"{k}={m[k]}" for k in ("cpu_model", "cpu_count",
                                                        "cpus_usable", "platform")) + ".",
    ]
    if out["notes"]:
        lines += ["", "Notes:", *(f"- {n}" for n in out["notes"])]
    return "\n".join(lines) + "\n"


def _plot(out: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    a = out["fashion_mlp"]
    panels = [("fashion-mlp: seconds per epoch (median)",
               [(_name(r).replace(" (nn.Sequential + Adam)", ""), r["seconds_per_epoch"])
                for r in a["rows"]]
               + ([("bare GEMMs", a["gemm"]["seconds_per_epoch"]["numpy"])]
                  if a["gemm"].get("seconds_per_epoch", {}).get("numpy") else []))]
    seed_rows = []
    for res in (out["seed_dual"]["float64"], out["seed_dual"]["float32"]):
        for r in res["rows"]:
            if r["impl"] == "xpnet" or res is out["seed_dual"]["float64"]:
                name = "xpnet DualLayer" if r["impl"] == "xpnet" else "seed 001 code"
                seed_rows.append((f"{name} {r['dtype']}",
                                  r["seconds_per_epoch"] * r["epochs_per_repeat"]))
    epochs = out["seed_dual"]["float64"]["workload"]["epochs_per_repeat"]
    panels.append((f"seed-dual: seconds per {epochs} epochs (median)", seed_rows))
    for i, (title, bars) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        labels, values = [b[0] for b in bars], [b[1] for b in bars]
        drawn = ax.barh(range(len(bars)), values, color="tab:blue")
        ax.set_yticks(range(len(bars)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.bar_label(drawn, [f"{v:.3g} s" for v in values], padding=3, fontsize=8)
        ax.set_xlim(0, max(values) * 1.3 if values else 1)
        ax.set_title(title, fontsize=10)
    busy = " (machine busy: see the .md)" if out["load"]["busy"] else ""
    fig.suptitle(f"xpnet CPU benchmark, {out['machine']['cpu_model']}{busy}", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    p.add_argument("--seed-epochs", type=int, default=5000,
                   help="full-batch epochs per seed-dual run (default 5000)")
    p.add_argument("--samples", type=int, default=None,
                   help="fashion-mlp: use only the first N images (quick runs)")
    p.add_argument("--backends", default="numpy",
                   help="xpnet backends for part (a) (default numpy; e.g. numpy,torch)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--name", default=None,
                   help="file stem after 'cpu-' (default: a slug of the CPU model)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    log = (lambda _m: None) if args.quiet else (lambda m: print(m, flush=True))
    command = "python benchmarks/run_cpu.py" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    notes: list[str] = []
    load = MachineLoad()

    log("(a) fashion-mlp")
    part_a = B.bench("fashion-mlp", args.backends, repeats=args.repeats, samples=args.samples,
                     extra=[*peers.PEERS, EstimatorRow], command=command, log=log)
    log("(b) seed-dual")
    b64 = B.bench("seed-dual", ["numpy"], dtype="float64", repeats=args.repeats,
                  epochs=args.seed_epochs, extra=[SeedReferenceRow], command=command, log=log)
    b32 = B.bench("seed-dual", ["numpy"], dtype="float32", repeats=args.repeats,
                  epochs=args.seed_epochs, command=command, log=log)
    machine = part_a.pop("machine")
    for res in (b64, b32):
        res.pop("machine")
    notes += [f"(a) {n}" for n in part_a["notes"]] + [f"(b) {n}" for n in b64["notes"]]

    est = row_of(part_a, "xpnet MLPClassifier")
    direct = row_of(part_a, "xpnet", "numpy")
    torch_cpu, sk = row_of(part_a, "torch (native)"), row_of(part_a, "sklearn")
    loop = row_of(part_a, "numpy (hand-written)")
    seed = row_of(b64, "seed 001 code (verbatim)")
    ratios = {
        "estimator_over_torch": ratio(est, torch_cpu),
        "estimator_over_sklearn": ratio(est, sk),
        "trainer_over_torch": ratio(direct, torch_cpu),
        "trainer_over_sklearn": ratio(direct, sk),
        "estimator_over_numpy_loop": ratio(est, loop),
        "trainer_over_numpy_loop": ratio(direct, loop),
        "seed_dual_float64_over_seed": ratio(row_of(b64, "xpnet"), seed),
        "seed_dual_float32_over_seed": ratio(row_of(b32, "xpnet"), seed),
    }
    out = {
        "schema": "xpnet-bench-cpu/1",
        "created": part_a["created"],
        "command": command,
        "machine": machine,
        "load": load.finish(),
        "targets": {"estimator_over_torch": TARGETS["xpnet_over_torch"],
                    "estimator_over_sklearn": TARGETS["xpnet_over_sklearn"],
                    "seed_dual_float64_over_seed": TARGETS["xpnet_over_seed"]},
        "ratios": ratios,
        "fashion_mlp": part_a,
        "seed_dual": {"float64": b64, "float32": b32},
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
