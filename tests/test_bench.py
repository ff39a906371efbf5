"""xpnet.bench and the benchmark scripts on tiny workloads (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet.backends import BackendUnavailableError, get_backend
from xpnet.tools import bench as B
from xpnet.tools import machine

ROOT = Path(__file__).resolve().parents[1]
TINY = {"sizes": (20, 16, 3), "samples": 256, "batch_size": 64, "repeats": 1}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_script(name: str):
    """Import benchmarks/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_row(row: dict, samples: int) -> None:
    for key, _ in B.TABLE_COLUMNS:
        assert key in row
    assert row["seconds_per_epoch"] > 0
    assert row["seconds_min"] <= row["seconds_per_epoch"] <= row["seconds_max"]
    assert math.isclose(row["samples_per_s"], samples / row["seconds_per_epoch"])
    assert row["first_epoch_s"] > 0 and row["setup_s"] >= 0
    assert math.isclose(row["first_call_s"], row["setup_s"] + row["first_epoch_s"])
    assert row["peak_mem_bytes"] >= 0 and row["mem_method"]
    assert len(row["seconds_all"]) == row["repeats"]


# ------------------------------------------------------------------ in-process bench
def test_bench_custom_mlp_on_each_backend(backend_name):
    result = B.bench("custom", [backend_name], **TINY)
    backend = get_backend(backend_name)
    assert [r["impl"] for r in result["rows"]] == ["xpnet"]
    row = result["rows"][0]
    _check_row(row, 256)
    assert row["backend"] == backend.name
    assert row["device"] == backend.device_label()
    assert row["dtype"] == "float32"
    assert row["gemm_s_per_epoch"] > 0
    assert math.isclose(row["overhead_s_per_epoch"],
                        row["seconds_per_epoch"] - row["gemm_s_per_epoch"])
    if backend.name == "numpy":
        assert row["speedup"] == 1.0
    else:
        assert row["speedup"] is None
        assert any("numpy was not among" in n for n in result["notes"])
    wl = result["workload"]
    assert (wl["name"], wl["sizes"], wl["samples"], wl["batch_size"], wl["steps_per_epoch"]) == \
        ("custom", [20, 16, 3], 256, 64, 4)


def test_bench_conv_workload_on_each_backend(backend_name):
    """The small CNN runs on every backend (tiny sizes), with its GEMM floor: the im2col
    products of its two convolutions and its dense layer."""
    result = B.bench("conv", [backend_name], samples=48, batch_size=32, repeats=1)
    row = result["rows"][0]
    _check_row(row, 48)
    assert row["gemm_s_per_epoch"] > 0 and row["dtype"] == "float32"
    wl = result["workload"]
    assert (wl["kind"], wl["sizes"], wl["steps_per_epoch"]) == ("conv", [1, 28, 28, 10], 2)
    # (rows per sample, inner, outer): 28x28 positions of 1x3x3 windows to 8 filters, ...
    assert result["gemm"]["products"] == [[784, 9, 8], [196, 72, 16], [1, 784, 10]]

def test_backend_describes_itself_for_the_table(backend_name):
    """Labels, threads, memory probe and device context come from the backend's class."""
    backend = get_backend(backend_name)
    probe = backend.memory_probe()
    with backend.device_context():
        x = backend.normal((256, 256))
        backend.sync()
    assert probe.peak_bytes() >= 0 and probe.method and x.shape == (256, 256)
    label = backend.device_label()
    assert label.startswith("cuda:") if backend.is_gpu else label == backend.device_name
    assert (backend.threads() is None) if backend.is_gpu else backend.threads() >= 1
    assert backend.compute_key() in ("numpy", f"{backend.name}:{backend.device_label()}")


def test_bench_seed_dual_on_each_backend(backend_name):
    result = B.bench("seed-dual", backend_name, epochs=3, repeats=2, dtype="float64")
    (row,) = result["rows"]
    _check_row(row, 364)
    assert row["dtype"] == "float64" and row["epochs_per_repeat"] == 3
    assert row["gemm_s_per_epoch"] is None and result["gemm"] == {}
    wl = result["workload"]
    assert wl["sizes"] == [30, 10, 1] and wl["batch_size"] == wl["samples"] == 364
    assert wl["l2"] == 0.01 and wl["init"] == "ones"


def test_bench_table_and_speedup_against_numpy():
    result = B.bench("custom", "numpy, array_api_strict", **TINY)
    rows = result["rows"]
    assert [(r["backend"], r["device"]) for r in rows] == [("numpy", "cpu"),
                                                           ("array_api_strict", "cpu")]
    assert rows[0]["speedup"] == 1.0
    assert math.isclose(rows[1]["speedup"],
                        rows[0]["seconds_per_epoch"] / rows[1]["seconds_per_epoch"])
    # both rows measure against the same bare NumPy GEMMs (array_api_strict wraps NumPy)
    assert list(result["gemm"]["seconds_per_epoch"]) == ["numpy"]
    lines = B.format_table(result).splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.count("|") == len(B.TABLE_COLUMNS) + 1 for line in lines)
    assert [c.strip() for c in lines[0].strip("|").split("|")] == \
        [title for _, title in B.TABLE_COLUMNS]
    assert "array_api_strict" in lines[3] and "1.00x" in lines[2]


def test_format_table_shows_missing_values_as_dash():
    row = {"impl": "xpnet", "backend": "numpy", "device": "cpu", "dtype": "float32",
           "seconds_per_epoch": 0.5, "samples_per_s": 100.0}
    cells = [c.strip() for c in B.format_table([row]).splitlines()[2].strip("|").split("|")]
    assert cells[:6] == ["xpnet", "numpy", "cpu", "float32", "0.5", "100"]
    assert cells[6:] == ["-"] * (len(B.TABLE_COLUMNS) - 6)


def test_peer_loops_train_the_same_network():
    """The peers must do the real work: their loss falls over epochs on learnable data."""
    pytest.importorskip("torch")
    peers = _load_script("peers")
    w = B.make_workload("custom", sizes=(8, 16, 2), samples=200, batch_size=50)
    w.y = (w.x[:, 0] > 0.5).astype("int64")  # learnable labels
    for cls, args in ((peers.NumpyLoopMLP, ()), (peers.TorchNative, ("cpu",))):
        c = cls(w, "float32", 0, *args)
        c.setup()
        c.run(1)
        first = c.last_loss
        c.run(30)
        assert c.last_loss < 0.9 * first, cls.__name__
    dual = B.make_workload("seed-dual")
    c = peers.NumpyLoopDual(dual, "float64", 0)
    c.setup()
    c.run(1)
    first = c.last_loss
    c.run(200)
    assert c.last_loss < first


def test_unavailable_backend_is_skipped_with_a_note(monkeypatch):
    real = B.get_backend

    def fake(spec, *args, **kwargs):
        if str(spec).startswith("cupy"):
            raise BackendUnavailableError("backend='cupy' needs cupy, which is not installed")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(B, "get_backend", fake)
    result = B.bench("custom", "numpy,cupy", **TINY)
    assert [r["backend"] for r in result["rows"]] == ["numpy"]
    assert any(n.startswith("cupy: skipped") and "not installed" in n for n in result["notes"])
    # nothing at all can run: exit status 2 and a message that names the fix
    assert B.main(["--sizes", "20,16,3", "--samples", "64", "--repeats", "1",
                   "--backends", "cupy", "--quiet"]) == 2


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"repeats": 0}, "repeats=0"),
    ({"sizes": "20,x,3"}, "sizes='20,x,3' must be positive integers separated by commas"),
    ({"sizes": (20,)}, "at least an input and an output"),
    ({"backends": " , "}, "names no backend"),
    ({"dtype": "int8"}, "dtype"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    args = {**TINY, **kwargs}
    args.setdefault("backends", "numpy")
    with pytest.raises((ValueError, TypeError), match=match):
        B.bench("custom", **args)


def test_workload_errors():
    with pytest.raises(ValueError, match="needs sizes"):
        B.make_workload("custom")
    with pytest.raises(ValueError, match="workload"):
        B.make_workload("resnet")
    with pytest.raises(ValueError, match="seed-dual"):
        B.make_workload("seed-dual", sizes=(30, 5, 1))
    # sizes other than the named workload's select the custom (synthetic) workload
    assert B.make_workload("large-mlp", sizes="10,4,2", samples=32).name == "custom"
    with pytest.raises(ValueError, match="fixed small CNN"):
        B.make_workload("conv", sizes=(784, 10))
    w = B.make_workload("conv", samples=10)
    assert w.x.shape == (10, 1, 28, 28) and w.x.dtype.name == "float32"
    w = B.make_workload("fashion-mlp", samples=100)
    assert w.x.shape == (100, 784) and w.x.dtype.name == "float32" and w.steps_per_epoch == 1


# ------------------------------------------------------------------ CLI, JSON, plot
def _cli_args(tmp_path: Path) -> list[str]:
    return ["--sizes", "20,16,3", "--samples", "256", "--batch-size", "64", "--repeats", "1",
            "--backends", "numpy,array_api_strict", "--json", str(tmp_path / "out.json"),
            "--plot", str(tmp_path / "out.png"), "--quiet"]


def _check_outputs(tmp_path: Path, out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert len(lines) == 4 and "s/epoch (median)" in lines[0]
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["schema"] == "xpnet-bench/1"
    assert {"workload", "rows", "notes", "gemm", "machine", "command", "created",
            "load_average", "repeats", "dtype"} <= set(data)
    assert [r["backend"] for r in data["rows"]] == ["numpy", "array_api_strict"]
    m = data["machine"]
    assert {"cpu_model", "cpu_count", "cpus_usable", "blas", "gpus", "versions",
            "hostname"} <= set(m)
    assert m["versions"]["numpy"] and m["cpu_count"] >= 1
    assert (tmp_path / "out.png").read_bytes()[:8] == PNG_MAGIC
    return data


def test_module_cli_writes_table_json_and_png(tmp_path, capsys):
    assert B.main(_cli_args(tmp_path)) == 0
    data = _check_outputs(tmp_path, capsys.readouterr().out)
    assert data["command"].startswith("xpnet bench --sizes 20,16,3")


def test_xpnet_cli_bench_subcommand(tmp_path, capsys):
    cli = pytest.importorskip("xpnet.cli")
    assert cli.main(["bench", *_cli_args(tmp_path)]) == 0
    data = _check_outputs(tmp_path, capsys.readouterr().out)
    assert data["command"]


def test_machine_info_and_slug():
    info = machine.machine_info()
    assert info["cpu_model"] and info["cpus_usable"] >= 1
    assert "numpy" in info["versions"] and "python" in info["versions"]
    assert isinstance(info["gpus"], list)
    assert info["xpnet_numpy_kernels"] == get_backend("numpy").ops.describe()
    assert B.machine_info is machine.machine_info and B.slug is machine.slug  # old home
    assert B.slug("Intel(R) Xeon(R) CPU @ 2.20GHz") == "intel-xeon"
    assert B.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert B.slug("AMD EPYC 7B13 64-Core Processor") == "amd-epyc-7b13-64-core-processor"
    assert B.slug("???") == "unknown"


# ------------------------------------------------------------------ benchmark scripts
def test_run_gpu_without_gpu_fails_clearly(monkeypatch, tmp_path, capsys):
    run_gpu = _load_script("run_gpu")
    monkeypatch.setattr(run_gpu, "find_gpus", lambda: [])
    assert run_gpu.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no NVIDIA GPU" in err and "writes nothing" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(bool(machine.gpu_info()), reason="a GPU is present: the no-GPU path cannot run")
def test_run_gpu_script_exits_nonzero_without_gpu(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_gpu.py"), "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no NVIDIA GPU is visible" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_gpu_gathers_results(monkeypatch, tmp_path):
    """The aggregation path, driven by a tiny CPU bench standing in for the GPU run."""
    run_gpu = _load_script("run_gpu")
    monkeypatch.setattr(run_gpu, "gpu_problem", lambda: None)
    monkeypatch.setattr(run_gpu, "find_gpus", lambda: [{"index": 0, "name": "Test GPU"}])

    commands = []

    def in_process(cmd, timeout):
        commands.append(cmd)
        json_path = cmd[cmd.index("--json") + 1]
        return B.main(["--sizes", "20,16,3", "--samples", "128", "--repeats", "1",
                       "--backends", "numpy", "--quiet", "--json", json_path])

    monkeypatch.setattr(run_gpu, "run_one", in_process)
    assert run_gpu.main(["--workloads", "seed-dual", "--repeats", "1", "--out",
                         str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu-test-gpu.json").read_text())
    (cmd,) = commands
    assert cmd[1] == str(ROOT / "benchmarks" / "peers.py") and cmd[2] == "--workload"
    assert cmd[cmd.index("--backends") + 1] == "cupy,torch:cuda,numpy"
    assert data["device"] == "Test GPU"
    assert {"cupy_over_numpy_speedup", "cupy_over_torch_time_ratio", "summary", "workloads",
            "timings", "versions", "command", "bench_commands", "machine"} <= set(data)
    assert data["cupy_over_numpy_speedup"] is None  # no cupy row: no made-up number
    assert data["workloads"]["seed-dual"]["rows"][0]["backend"] == "numpy"
    assert (tmp_path / "gpu-test-gpu.md").read_text().startswith("# GPU benchmark: Test GPU")
    assert (tmp_path / "gpu-test-gpu.png").read_bytes()[:8] == PNG_MAGIC


def test_run_cpu_quick(tmp_path, monkeypatch):
    """Parts (a) and (b) of the recorded CPU comparison end to end at a tiny size (the
    compiled peers, whose compilation alone takes ~40 s, are covered by
    tests/test_benchmarks_cpu.py)."""
    run_cpu = _load_script("run_cpu")
    monkeypatch.setattr(run_cpu.peers, "COMPILED_PEERS", ())
    assert run_cpu.main(["--parts", "a,b", "--samples", "256", "--seed-epochs", "3",
                         "--repeats", "1", "--out", str(tmp_path), "--name", "test",
                         "--quiet"]) == 0
    data = json.loads((tmp_path / "cpu-test.json").read_text())
    a = data["fashion_mlp"]
    rows = {(r["impl"], r["backend"]): r for r in a["rows"] if r["device"] == "cpu"}
    expected = {("xpnet", "numpy"), ("sklearn", "numpy"), ("numpy (hand-written)", "numpy"),
                ("xpnet MLPClassifier", "numpy")}
    if importlib.util.find_spec("torch") is not None:  # native PyTorch, the estimator on it
        import torch

        expected |= {("torch (native)", "torch"), ("xpnet MLPClassifier", "torch")}
        assert rows[("torch (native)", "torch")]["threads"] == torch.get_num_threads()
        assert data["ratios"]["estimator_over_torch"] > 0
    assert set(rows) == expected, set(rows)
    for row in rows.values():
        _check_row(row, 256)
        assert row["overhead_s_per_epoch"] is not None
        assert row["dtype"] == "float32"  # scikit-learn keeps float32 input in float32
    assert {"seed 001 code (verbatim)", "xpnet"} <= \
        {r["impl"] for r in data["seed_dual"]["rows"]}
    assert data["ratios"]["seed_dual_float64_over_seed"] > 0
    assert data["ratios"]["seed_dual_float32_over_seed"] > 0
    assert "busy" in data["load"] and data["machine"]["cpu_model"]
    md = (tmp_path / "cpu-test.md").read_text()
    assert "(a) fashion-mlp" in md and "(b) seed-dual" in md
    assert (tmp_path / "cpu-test.png").read_bytes()[:8] == PNG_MAGIC


def test_peers_script_is_xpnet_bench_with_the_peers(tmp_path, capsys):
    """benchmarks/peers.py takes xpnet bench's options and adds the peer rows."""
    peers = _load_script("peers")
    assert peers.main(["--sizes", "20,16,3", "--samples", "128", "--batch-size", "64",
                       "--repeats", "1", "--backends", "numpy", "--json",
                       str(tmp_path / "p.json"), "--quiet"]) == 0
    data = json.loads((tmp_path / "p.json").read_text())
    impls = [r["impl"] for r in data["rows"]]
    assert impls[0] == "xpnet" and {"sklearn", "numpy (hand-written)"} <= set(impls)
    assert data["command"].startswith("python benchmarks/peers.py --sizes 20,16,3")
    # seed-dual: only the hand-written loop has the seed's model; the others skip with a note
    result = B.bench("seed-dual", "numpy", epochs=2, repeats=1, extra=peers.PEERS)
    assert [r["impl"] for r in result["rows"]] == ["xpnet", "numpy (hand-written)"]
    assert any(n.startswith("sklearn: skipped") for n in result["notes"])
