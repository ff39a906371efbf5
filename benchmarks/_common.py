"""Helpers shared by benchmarks/run_cpu.py and benchmarks/run_gpu.py (not part of xpnet)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from xpnet.tools.machine import load_average

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]


def _proc_stat_busy() -> tuple[float, float] | None:
    """(busy seconds, total seconds) of all CPUs since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return (total - idle) / tick, total / tick


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class MachineLoad:
    """How busy the machine was with OTHER work while a benchmark ran.

    ``foreign_cores`` = (CPU time all processes used, from /proc/stat) - (CPU time this process
    and its children used), divided by the wall time: the average number of cores other
    processes kept busy.  ``busy`` is True when that exceeds a quarter of a core (where
    /proc/stat cannot be read: when the 1-minute load average at the start exceeded half a
    core; the load average lags by minutes, so it is only the fallback).
    """

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.stat0 = _proc_stat_busy()
        self.own0 = _own_cpu()
        self.load_start = load_average()
        self.top_start = top_processes()

    def finish(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        stat1 = _proc_stat_busy()
        out: dict[str, Any] = {"wall_s": wall, "cores": os.cpu_count(),
                               "load_average_start": self.load_start,
                               "load_average_end": load_average(),
                               "other_processes_start": self.top_start,
                               "other_processes_end": top_processes()}
        foreign = None
        if self.stat0 is not None and stat1 is not None and wall > 0:
            busy = stat1[0] - self.stat0[0]
            foreign = max(busy - (_own_cpu() - self.own0), 0.0) / wall
        out["foreign_cores"] = foreign
        if foreign is not None:
            out["busy"] = foreign > 0.25
        else:
            out["busy"] = (self.load_start or [0.0])[0] > 0.5
        return out


def code_state() -> dict[str, Any]:
    """The git commit of the checkout and its uncommitted files under xpnet/ (the code timed;
    None where git cannot tell)."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None

    status, commit = git("status", "--porcelain", "--", "xpnet"), git("rev-parse", "HEAD")
    return {"commit": commit and commit.strip(),
            "uncommitted_xpnet_files": None if status is None else
            [line[3:] for line in status.splitlines() if line.strip()]}


def top_processes(limit: int = 5, min_cpu: float = 5.0) -> list[dict[str, Any]]:
    """Other processes using CPU right now (``ps`` lifetime %CPU, command names only)."""
    try:
        out = subprocess.run(["ps", "-eo", "pid=,pcpu=,comm=", "--sort=-pcpu"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    procs = []
    me = {os.getpid(), os.getppid()}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        pid, pcpu, comm = int(parts[0]), float(parts[1]), parts[2].strip()
        if pid in me or comm == "ps" or pcpu < min_cpu:
            continue
        procs.append({"pid": pid, "cpu_percent": pcpu, "command": comm})
        if len(procs) >= limit:
            break
    return procs


def load_note(load: dict[str, Any]) -> str:
    """One Markdown paragraph saying how busy the machine was."""
    foreign = load.get("foreign_cores")
    others = ", ".join(f"{p['command']} ({p['cpu_percent']:.0f}% CPU)"
                       for p in load.get("other_processes_start") or [])
    parts = [f"1-minute load average {load.get('load_average_start')} at the start and "
             f"{load.get('load_average_end')} at the end on {load.get('cores')} cores"]
    if foreign is not None:
        parts.append(f"other processes kept {foreign:.2f} cores busy on average during the run")
    text = "; ".join(parts) + "."
    if load.get("busy"):
        return ("**Timings were taken while the machine was busy** with other work (" + text
                + (f" Other processes at the start: {others}." if others else "")
                + ") Absolute times are inflated and noisy; re-record on a quiet machine "
                  "before quoting them.")
    return "The machine was quiet during the run (" + text + ")"


def fmt_s(value: float | None) -> str:
    """Seconds with 4 significant digits ("-" for None)."""
    return "-" if value is None else f"{value:.4g}"


def row_of(result: dict[str, Any], impl: str, backend: str | None = None
           ) -> dict[str, Any] | None:
    """The row of ``impl`` (on ``backend``, when given) in an ``xpnet.bench`` result."""
    for r in result["rows"]:
        if r["impl"] == impl and (backend is None or r["backend"] == backend):
            return r
    return None


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    """a's median seconds per epoch over b's (None when either row is missing)."""
    if a is None or b is None or not b["seconds_per_epoch"]:
        return None
    return a["seconds_per_epoch"] / b["seconds_per_epoch"]
