"""Every script in examples/ runs in smoke mode and writes at least one PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[1] / "examples").glob("*.py")
                  if not p.name.startswith("_"))  # _args.py: shared options, not an example
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    for seed in ("seed000_minibatch.py", "seed001_dual_layer.py", "seed002_training_options.py",
                 "seed003_batchnorm.py", "seed004_sklearn_compare.py", "quickstart.py",
                 "ch7_convnet.py"):
        assert seed in names


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_in_smoke_mode(script, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, XPNET_SMOKE="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), "--smoke", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    pngs = list(out.rglob("*.png"))
    assert pngs, f"{script.name} wrote no PNG under --out:\n{proc.stdout}"
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC, png
    assert not list(tmp_path.glob("*.png")), "PNGs written outside --out"
