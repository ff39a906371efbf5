#!/usr/bin/env python
"""The GPU comparison; writes benchmarks/results/gpu-<device-name>.{json,md,png}.

Runs ``python benchmarks/peers.py --backends cupy,torch:cuda,numpy --workload W --json ...``
(``xpnet bench`` with the peer implementations of benchmarks/peers.py added) once per workload
(large-mlp, fashion-mlp, seed-dual), each in a fresh process, and gathers the results with the
headline numbers:

- ``cupy_over_numpy_speedup``: large-mlp, xpnet on NumPy s/epoch / xpnet on CuPy s/epoch;
- ``cupy_over_torch_time_ratio``: large-mlp, xpnet on CuPy s/epoch / native PyTorch CUDA
  s/epoch (below 1: xpnet+CuPy is faster than the plain PyTorch loop);
- ``cupy_over_xpnet_torch_cuda_time_ratio``: the same against xpnet on ``torch:cuda``;
plus the same three per workload under ``summary``, every row of every workload, the machine,
library versions and the commands.

It needs an NVIDIA GPU and CuPy: without them it exits with status 2 and a message saying so,
and writes nothing (never made-up numbers). ``ci/gpu.sh`` runs it on a GPU runner.

Usage: python benchmarks/run_gpu.py [--repeats 5] [--workloads large-mlp,fashion-mlp,seed-dual]
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RESULTS, MachineLoad, load_note, ratio, row_of  # noqa: E402

from xpnet.backends import BackendUnavailableError, get_backend  # noqa: E402
from xpnet.tools import bench as B  # noqa: E402
from xpnet.tools.machine import gpu_info, slug  # noqa: E402

BACKENDS = "cupy,torch:cuda,numpy"
WORKLOADS = ("large-mlp", "fashion-mlp", "seed-dual")


def find_gpus() -> list[dict[str, Any]]:
    """The NVIDIA GPUs PyTorch or CuPy can see ([] without one).

    On Linux a machine without NVIDIA device nodes and without ``nvidia-smi`` has none, which
    is answered without importing PyTorch or CuPy.
    """
    if (sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*")
            and not os.path.exists("/dev/dxg") and shutil.which("nvidia-smi") is None):
        return []
    return gpu_info()


def gpu_problem() -> str | None:
    """Why GPU timings cannot be taken here, or None when they can."""
    gpus = find_gpus()
    if not gpus:
        return ("no NVIDIA GPU is visible here (neither PyTorch nor CuPy sees a CUDA device). "
                "run_gpu.py records measured GPU timings only and writes nothing without a "
                "GPU: run it on a machine with an NVIDIA GPU and driver (ci/gpu.sh does this "
                "on a GPU runner)")
    try:
        get_backend("cupy")
    except BackendUnavailableError as err:
        return (f"a GPU is visible ({gpus[0]['name']}) but xpnet's cupy backend cannot run: "
                f"{err}")
    return None


def summarize(result: dict[str, Any]) -> dict[str, float | None]:
    """The headline ratios of one workload's bench result."""
    cupy = row_of(result, "xpnet", "cupy")
    numpy_row = row_of(result, "xpnet", "numpy")
    xt = row_of(result, "xpnet", "torch")
    native = next((r for r in result["rows"] if r["impl"] == "torch (native)"
                   and r["device"].startswith("cuda")), None)
    return {
        "cupy_over_numpy_speedup": ratio(numpy_row, cupy),
        "cupy_over_torch_time_ratio": ratio(cupy, native),
        "cupy_over_xpnet_torch_cuda_time_ratio": ratio(cupy, xt),
        "torch_cuda_over_numpy_speedup": ratio(numpy_row, xt),
        "cupy_seconds_per_epoch": cupy["seconds_per_epoch"] if cupy else None,
        "torch_native_cuda_seconds_per_epoch": native["seconds_per_epoch"] if native else None,
        "cupy_first_call_s": cupy["first_call_s"] if cupy else None,
    }


def bench_command(workload: str, repeats: int, json_path: Path) -> list[str]:
    """The ``xpnet bench`` + peers invocation for one workload (``benchmarks/peers.py``)."""
    return [sys.executable, str(HERE / "peers.py"), "--workload", workload, "--backends",
            BACKENDS, "--repeats", str(repeats), "--json", str(json_path)]


def run_one(cmd: list[str], timeout: float) -> int:
    """Run one benchmark command in a fresh process; its exit status (124: timeout)."""
    try:
        return subprocess.run(cmd, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return 124


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def _markdown(out: dict[str, Any]) -> str:
    m, v = out["machine"], out["versions"]
    cupy = v.get("cupy-cuda12x") or v.get("cupy-cuda13x") or v.get("cupy")
    lines = [
        f"# GPU benchmark: {out['device']}",
        "",
        f"Recorded {out['created']} with `{out['command']}` (xpnet "
        f"{v.get('xpnet')}, CuPy {cupy}, "
        f"PyTorch {out['versions'].get('torch')}, NumPy {out['versions'].get('numpy')}); host "
        f"CPU {m['cpu_model']} ({m['cpus_usable']} cores).",
        "",
        load_note(out["load"]),
        "",
        f"- xpnet CuPy vs xpnet NumPy (large-mlp): **{_fmt(out['cupy_over_numpy_speedup'])}x** "
        "faster",
        f"- xpnet CuPy time / native PyTorch CUDA time (large-mlp): "
        f"**{_fmt(out['cupy_over_torch_time_ratio'])}**",
        f"- xpnet CuPy time / xpnet torch:cuda time (large-mlp): "
        f"**{_fmt(out['cupy_over_xpnet_torch_cuda_time_ratio'])}**",
        "",
    ]
    for name, result in out["workloads"].items():
        wl = result["workload"]
        lines += [f"## {name}: {'-'.join(map(str, wl['sizes']))}, {wl['samples']} samples, "
                  f"batch {wl['batch_size']}, {result['dtype']}", "",
                  f"Data: {wl['data']}. Median of {result['repeats']} runs of "
                  f"{wl['epochs_per_repeat']} epoch(s). Command: `{out['bench_commands'][name]}`",
                  "", B.format_table(result), ""]
    lines += [
        "Columns: see benchmarks/README.md. GPU rows are synchronized before every clock "
        "read; *1st epoch (cold)* of the first GPU row includes CUDA context creation (the "
        "later GPU rows share that context), kernel compilation and cuBLAS handle creation, "
        "and is not in the median. *peak mem* is the CuPy pool's growth "
        "(`total_bytes`) or `torch.cuda.max_memory_allocated` for GPU rows, the growth of the "
        "peak resident set for CPU rows.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {','.join(WORKLOADS)}")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--name", default=None,
                   help="file stem after 'gpu-' (default: a slug of the GPU name)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per workload")
    args = p.parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown or not workloads:
        print(f"run_gpu.py: error: --workloads {args.workloads!r}: choose from "
              f"{', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    problem = gpu_problem()
    if problem is not None:
        print(f"run_gpu.py: error: {problem}", file=sys.stderr)
        return 2
    command = "python benchmarks/run_gpu.py" + "".join(
        " " + shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load = MachineLoad()
    results: dict[str, Any] = {}
    commands: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in workloads:
            path = Path(tmp) / f"{name}.json"
            cmd = bench_command(name, args.repeats, path)
            shown = ("python benchmarks/peers.py " + " ".join(shlex.quote(c) for c in cmd[2:-2])
                     + " --json ...")
            commands[name] = shown
            print(f"$ {shown}", flush=True)
            status = run_one(cmd, args.timeout)
            if status != 0 or not path.exists():
                why = (f"ran past --timeout {args.timeout:.0f} s" if status == 124 else
                       f"failed with status {status}")
                print(f"run_gpu.py: error: {shown} {why}; nothing written", file=sys.stderr)
                return 1
            results[name] = json.loads(path.read_text())
    first = next(iter(results.values()))
    machine = first["machine"]
    for r in results.values():
        r.pop("machine", None)
    gpus = machine.get("gpus") or find_gpus()
    summary = {name: summarize(r) for name, r in results.items()}
    head = summary.get("large-mlp") or next(iter(summary.values()))
    out = {
        "schema": "xpnet-bench-gpu/1",
        "device": gpus[0]["name"],
        "gpus": gpus,
        "cupy_over_numpy_speedup": head["cupy_over_numpy_speedup"],
        "cupy_over_torch_time_ratio": head["cupy_over_torch_time_ratio"],
        "cupy_over_xpnet_torch_cuda_time_ratio": head["cupy_over_xpnet_torch_cuda_time_ratio"],
        "headline_workload": "large-mlp" if "large-mlp" in summary else next(iter(summary)),
        "summary": summary,
        "workloads": results,
        "timings": {name: {f"{r['impl']} {r['backend']} {r['device']}": r["seconds_per_epoch"]
                           for r in res["rows"]} for name, res in results.items()},
        "versions": machine["versions"],
        "machine": machine,
        "command": command,
        "bench_commands": commands,
        "created": created,
        "load": load.finish(),
    }
    stem = "gpu-" + slug(args.name or out["device"])
    args.out.mkdir(parents=True, exist_ok=True)
    B.write_json(out, args.out / f"{stem}.json")
    md = _markdown(out)
    (args.out / f"{stem}.md").write_text(md)
    plotted = results.get("large-mlp") or first
    B.plot(plotted, args.out / f"{stem}.png")
    print(md)
    print(f"wrote {stem}.json, {stem}.md and {stem}.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
