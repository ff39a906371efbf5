"""The notebooks in examples/notebooks/ run in smoke mode and draw their figures, and each
committed .ipynb is what examples/notebooks/build.py makes of its .py source.

The notebooks run in a Jupyter kernel of this interpreter (nbclient, ipykernel: the test
extra), with XPNET_SMOKE=1 and MPLBACKEND=Agg in the kernel's environment (the notebooks turn
on ``%matplotlib inline`` themselves). Each notebook has a bound on its total time, and every
cell one on its own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120  # one cell
NOTEBOOK_TIMEOUT_S = 180  # one notebook, kernel start included (smoke runs take seconds)
KERNEL = "xpnet-test-python"


def _build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A kernelspec that runs THIS interpreter (whatever a user-level "python3" kernelspec
    may point at)."""
    root = tmp_path_factory.mktemp("kernels")
    (root / KERNEL).mkdir()
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "xpnet tests", "language": "python"}
    (root / KERNEL / "kernel.json").write_text(json.dumps(spec))
    return str(root)


def _kernel_manager(kernel_dir: str):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    return AsyncKernelManager(kernel_name=KERNEL,
                              kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernel_dir]))


#: the kernel's environment: smoke mode, no GUI backend, one BLAS thread (2-core CI machines)
KERNEL_ENV = {"XPNET_SMOKE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def test_the_seed_chapters_have_notebooks():
    names = {p.stem for p in NOTEBOOKS}
    assert {"doit_ch5_networks", "doit_ch6_minibatch", "dlfs_ch6_training",
            "dlfs_ch7_convnet"} <= names


def test_notebooks_are_built_from_their_sources():
    build = _build_module()
    sources = build.sources(NOTEBOOKS_DIR)
    assert {p.with_suffix(".ipynb") for p in sources} == set(NOTEBOOKS), \
        "every notebook needs its .py source and every source its notebook"
    assert build.stale(NOTEBOOKS_DIR) == [], \
        "out of date: run python examples/notebooks/build.py and commit the .ipynb files"


def test_build_reads_the_percent_format(tmp_path):
    build = _build_module()
    source = tmp_path / "demo.py"
    source.write_text("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\n# %matplotlib inline\n"
                      "x = 1  # a comment\n\n\n# %%\n\n", encoding="utf-8")
    assert build.parse(source) == [("markdown", "# Title\n\ntext"),
                                   ("code", "%matplotlib inline\nx = 1  # a comment")]
    nb = nbformat.reads(build.notebook(source), as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code"]
    assert build.notebook(source) == build.notebook(source)  # deterministic (cell ids)


def _one_backend_cell(nb) -> bool:
    cells = [c for c in nb.cells if c.cell_type == "code" and "BACKEND =" in c.source]
    return len(cells) == 1 and cells[0].source.startswith('BACKEND = "numpy"')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, kernel_dir, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert _one_backend_cell(nb), "the backend is chosen in ONE cell: BACKEND = \"numpy\" ..."
    client = nbclient.NotebookClient(nb, km=_kernel_manager(kernel_dir), timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    # raises CellExecutionError (with the cell and its traceback) when a cell fails
    run = client.async_execute(env=dict(os.environ, **KERNEL_ENV))
    asyncio.run(asyncio.wait_for(run, NOTEBOOK_TIMEOUT_S))
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.1f} s")

    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    stderr = "".join(o.text for c in code for o in c.outputs
                     if o.output_type == "stream" and o.name == "stderr")
    # tqdm.auto warns once in a kernel without ipywidgets, although no bar is shown
    # (verbose=False); known, reported, tolerated here until the Trainer avoids it
    stderr = "\n".join(line for line in stderr.splitlines()
                       if "TqdmWarning: IProgress not found" not in line
                       and "from .autonotebook import tqdm as notebook_tqdm" not in line)
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    drawing = [c for c in code if "plt.show()" in c.source]
    assert drawing, f"{path.name} draws no figure"
    for cell in drawing:
        images = [o for o in cell.outputs
                  if o.output_type == "display_data" and "image/png" in o.get("data", {})]
        assert images, f"{path.name}: no inline PNG from the cell\n{cell.source[:300]}"
    assert not list(tmp_path.iterdir()), "a notebook wrote files into its working directory"
