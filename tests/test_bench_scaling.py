"""benchmarks/scaling.py on a tiny grid (a smoke test; no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scaling():
    spec = importlib.util.spec_from_file_location("_bench_scaling",
                                                  ROOT / "benchmarks" / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sizes_and_flops():
    s = _scaling()
    assert [s.samples_for(b) for b in (1, 8, 100, 1024)] == [1024, 1024, 1100, 8192]
    # forward + weight gradient of every layer, input gradient of all but the first
    assert s.flop_per_step(2, 3) == 2 * 3 * (784 * 2 * 2 + 2 * 2 * 3 + 2 * 10 * 3)


def test_quick_grid_writes_json_markdown_and_png(tmp_path):
    s = _scaling()
    assert s.main(["--quick", "--widths", "8,16", "--batches", "2,4", "--target-s", "0.002",
                   "--out", str(tmp_path), "--name", "test", "--quiet"]) == 0
    data = json.loads((tmp_path / "scaling-test.json").read_text())
    assert data["settings"]["widths"] == [8, 16] and data["settings"]["batches"] == [2, 4]
    assert data["settings"]["repeats"] == 1
    assert data["command"].startswith("python benchmarks/scaling.py --quick")
    assert data["machine"]["cpu_model"] and "load_average_start" in data["load"]
    assert [(c["width"], c["batch"]) for c in data["cells"]] == [(8, 2), (8, 4), (16, 2),
                                                                 (16, 4)]
    for cell in data["cells"]:
        assert {"xpnet", "gemm"} <= set(cell["rows"])
        for row in cell["rows"].values():
            assert row["us_per_step"] > 0 and row["steps_per_run"] >= 1
            assert len(row["us_all"]) == 1
        assert cell["ratios"]["xpnet_over_gemm"] > 0
        if "torch" in cell["rows"]:
            assert cell["ratios"]["xpnet_over_torch"] > 0
    md = (tmp_path / "scaling-test.md").read_text()
    assert "### xpnet / GEMM floor" in md and "| width \\ batch | 2 | 4 |" in md
    assert (tmp_path / "scaling-test.png").read_bytes()[:8] == PNG_MAGIC
    # --render writes the reports again from the JSON alone, with an added note
    (tmp_path / "scaling-test.md").unlink()
    assert s.main(["--render", str(tmp_path / "scaling-test.json"), "--note", "re-read"]) == 0
    assert "- re-read" in (tmp_path / "scaling-test.md").read_text()
    assert json.loads((tmp_path / "scaling-test.json").read_text())["notes"][-1] == "re-read"
