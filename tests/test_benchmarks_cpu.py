"""The code paths of benchmarks/run_cpu.py's parts at tiny size: the compiled peers (JAX,
torch.compile), the inference, small-network and evaluation rows, the ratios and the report.
A smoke test: nothing here is timed (the rows are set up and run once, by hand)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from xpnet.tools import bench as B

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _load(name: str):
    """Import benchmarks/<name>.py (the scripts import each other by their file names)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"_bench_cpu_{name}",
                                                  ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _learnable(samples: int = 210) -> B.Workload:
    w = B.make_workload("custom", sizes=(8, 16, 2), samples=samples, batch_size=50)
    w.y = (w.x[:, 0] > 0.5).astype("int64")
    return w


def test_jax_peer_trains():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    peers = _load("peers")
    c = peers.jax_optax(_learnable(), "float32", 0)  # 4 full batches and one of 10
    c.setup()
    c.run(1)
    c.sync()
    first = c.last_loss
    c.run(30)
    c.sync()
    assert np.isfinite(first) and c.last_loss < 0.9 * first


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_compile_peer_runs_the_native_loop():
    peers = _load("peers")
    c = peers.TorchCompiled(_learnable(), "float32", 0, "cpu", compile_backend="eager")
    assert c.impl == "torch.compile" and c.gemm_key == "torch:cpu"
    c.setup()
    c.run(1)
    first = c.last_loss
    c.run(20)
    assert c.last_loss < first


def _inference_workload(S, rows: int = 60) -> object:
    rng = np.random.default_rng(0)
    x = rng.random((rows, 12), dtype=np.float32)
    y = np.arange(rows) % 3
    return S.InferenceWorkload("tiny-inference", "inference", (12, 8, 6, 3), rows, rows, 2,
                               "tiny", {}, x=x, y=y, x_fit=x, y_fit=y)


def test_inference_rows_predict_probabilities():
    S = _load("cpu_sections")
    w = _inference_workload(S)
    rows = [S.XpnetProba(w, "float32", 0, "numpy"), S.SklearnProba(w, "float32", 0)]
    if HAS_TORCH:
        rows += [S.XpnetProba(w, "float32", 0, "torch"), S.TorchProba(w, "float32", 0)]
    for c in rows:
        c.setup()
        c.run(2)
        c.sync()
        p = np.asarray(c.proba if isinstance(c.proba, np.ndarray) else c.proba.numpy())
        assert p.shape == (60, 3) and p.dtype == np.float32, c.impl
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert w.describe()["fit_samples"] == 60
    floor = S.ForwardFloor(w, "float32", 0)
    floor.setup()
    floor.run(1)
    assert floor.bounds == [(0, 60)]


def test_evaluate_row_and_its_floor_use_the_same_chunks():
    S = _load("cpu_sections")
    w = S.evaluate_workload(samples=300, passes=1)
    assert w.x.shape == (300, 784)
    c = S.XpnetEvaluate(w, "float32", 0)
    c.setup()
    c.run(1)
    assert 0.0 <= c.accuracy <= 1.0
    floor = S.ForwardFloor(w, "float32", 0, chunk=128)
    floor.setup()
    floor.run(1)
    bounds = floor.bounds
    assert bounds == S.chunk_bounds(300, 128) and len(bounds) == 3
    assert bounds[0][0] == 0 and bounds[-1][1] == 300
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert S.eval_chunk() == c.chunk


def test_small_workload_is_digits_with_57_steps():
    S = _load("cpu_sections")
    peers = _load("peers")
    w = S.small_workload(epochs=1)
    assert w.x.shape == (1797, 64) and w.x.dtype == np.float32
    assert 0.0 <= w.x.min() and w.x.max() <= 1.0
    assert w.sizes == (64, 100, 100, 10) and w.batch_size == 32 and w.steps_per_epoch == 57
    loop = peers.NumpyLoopMLP(w, "float32", 0)
    loop.setup()
    loop.run(1)
    assert np.isfinite(loop.last_loss)


def test_step_anatomy_kernels_row_is_the_trainer_step():
    """The "kernels, no layers" row of step_anatomy.py must be xpnet's step, not a cheaper
    one: from the same network, three steps of each give the same weights."""
    from xpnet.backends.numpy_backend import _numba_wanted

    if not _numba_wanted():
        pytest.skip("step_anatomy.py times the compiled kernels; numba is off or missing")
    A = _load("step_anatomy")
    rng = np.random.default_rng(0)
    x, y = rng.random((512, 784), dtype=np.float32), rng.integers(0, 10, 512)
    rows_a, passes, net_a = A.make_rows(x, y)
    rows_b, _, net_b = A.make_rows(x, y)
    np.testing.assert_array_equal(net_a.flat, net_b.flat)
    for i in range(3):
        idx = np.arange(i * 128, (i + 1) * 128)
        rows_a["xpnet Trainer step"](idx)
        rows_b["kernels, no layers"](idx)
    np.testing.assert_array_equal(net_b.flat, net_a.flat)  # same kernels, same order
    assert np.abs(net_a.flat - A.make_rows(x, y)[2].flat).max() > 1e-4  # they did train
    for name in ("products chained", "GEMM floor"):
        rows_a[name](np.arange(128))
    for run_pass in passes.values():
        run_pass()


def _row(impl: str, seconds: float, backend: str = "numpy", **extra) -> dict:
    return {"impl": impl, "backend": backend, "device": "cpu", "dtype": "float32",
            "seconds_per_epoch": seconds, "samples_per_s": 100 / seconds,
            "first_epoch_s": 2 * seconds, "setup_s": 0.01, "first_call_s": 2 * seconds + 0.01,
            "peak_mem_mib": 1.0, "overhead_s_per_epoch": seconds / 2, "threads": 2,
            "epochs_per_repeat": 1,
            **extra}


def test_ratios_verdicts_report_and_plot(tmp_path):
    run_cpu = _load("run_cpu")
    wl = {"name": "w", "sizes": [784, 256, 128, 10], "samples": 100, "batch_size": 128,
          "lr": 1e-3, "epochs_per_repeat": 1, "data": "fake", "steps_per_epoch": 57,
          "fit_samples": 100}
    gemm = {"seconds_per_epoch": {"numpy": 0.5}}
    a = {"workload": wl, "dtype": "float32", "repeats": 1, "gemm": gemm, "rows": [
        _row("xpnet", 0.7), _row("xpnet MLPClassifier", 0.55),
        _row("xpnet MLPClassifier", 1.0, "torch"), _row("torch (native)", 1.0, "torch"),
        _row("torch.compile", 0.5, "torch"), _row("jax.jit + optax", 0.8, "jax"),
        _row("sklearn", 1.6), _row("numpy (hand-written)", 1.1)]}
    seed_wl = {**wl, "epochs_per_repeat": 5000, "samples": 364, "sizes": [30, 10, 1]}
    b = {"workload": seed_wl, "repeats": 1, "rows": [
        _row("xpnet", 1e-4, dtype="float64"), _row("seed 001 code (verbatim)", 2e-4),
        _row("xpnet", 1.8e-4)]}
    c = {"workload": wl, "repeats": 1, "rows": [
        _row("xpnet MLPClassifier", 0.03), _row("xpnet MLPClassifier", 0.05, "torch"),
        _row("sklearn", 0.04), _row("torch (native)", 0.05, "torch"),
        _row("bare GEMMs (forward)", 0.03)]}
    d = {"workload": wl, "dtype": "float32", "repeats": 1, "gemm": {
        "seconds_per_epoch": {"numpy": 0.002}}, "gemm_us_per_step": {"numpy": 35.0},
        "rows": [_row(i, s, us_per_step=s / 57 * 1e6, first_epoch_us_per_step=1.0)
                 for i, s in (("xpnet", 0.006), ("numpy (hand-written)", 0.01),
                              ("torch (native)", 0.02))]}
    e = {"workload": wl, "repeats": 1, "eval_chunk": 16384, "eval_chunks": [(0, 100)],
         "rows": [_row("xpnet net.evaluate", 0.2), _row("bare GEMMs (forward)", 0.19)]}
    parts = {"a": a, "b": b, "c": c, "d": d, "e": e}
    floors = {"c_s_per_call": 0.03, "e_s_per_pass": 0.19}
    ratios = run_cpu._ratios(parts, floors)
    assert set(run_cpu.TARGETS) <= set(ratios)
    assert ratios["estimator_over_gemm"] == pytest.approx(1.1)
    assert ratios["estimator_over_torch_compile"] == pytest.approx(1.1)
    assert ratios["estimator_torch_over_torch"] == pytest.approx(1.0)
    assert ratios["small_over_numpy_loop"] == pytest.approx(0.6)
    assert ratios["evaluate_over_floor"] == pytest.approx(0.2 / 0.19)
    assert ratios["seed_dual_float64_over_seed"] == pytest.approx(0.5)
    assert ratios["seed_dual_float32_over_seed"] == pytest.approx(0.9)
    machine = {"cpu_model": "Test CPU", "cpus_usable": 2, "cpu_count": 2, "platform": "x",
               "versions": {"xpnet": "0", "python": "3"}, "blas": {}}
    load = {"busy": False, "cores": 2, "foreign_cores": 0.0}
    out = {"created": "now", "command": "python benchmarks/run_cpu.py", "machine": machine,
           "load": load, "ratios": ratios, "floors": floors, "notes": [],
           "parts_run": list(parts),
           **{run_cpu.PART_KEYS[p]: res for p, res in parts.items()}}
    md = run_cpu._markdown(out)
    for title in ("## Targets", "## (a)", "## (b)", "## (c)", "## (d)", "## (e)",
                  "## What the numbers mean"):
        assert title in md
    lines = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines()}
    assert "| met |" in lines["(a) xpnet.MLPClassifier / bare GEMMs of an epoch"]
    assert "**not met**" in lines["(a) xpnet.MLPClassifier / torch.compile"]
    assert "| met |" in lines["(d) xpnet Trainer step / hand-written NumPy loop step"]
    assert "**not met**" in lines["(b) xpnet DualLayer float32 / seed 001's code"]
    run_cpu._plot(out, tmp_path / "cpu.png")
    assert (tmp_path / "cpu.png").read_bytes()[:8] == PNG_MAGIC
