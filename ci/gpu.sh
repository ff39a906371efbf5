#!/usr/bin/env bash
# What a GPU runner executes (an NVIDIA GPU with its driver; CUDA 12 wheels by default):
#   1. install xpnet with CuPy (and PyTorch when missing),
#   2. run the WHOLE test suite with the cupy backend REQUIRED: XPNET_REQUIRE_CUPY=1 makes a
#      missing CuPy or GPU a failure, never a skip (tests/conftest.py); torch:cuda is required
#      too,
#   3. record the GPU benchmarks: benchmarks/run_gpu.py runs
#        python benchmarks/peers.py --backends cupy,torch:cuda,numpy --workload large-mlp --json ...
#      (xpnet bench with the peers of benchmarks/peers.py added; then fashion-mlp and seed-dual)
#      and writes benchmarks/results/gpu-<device>.{json,md,png}.
# Extra arguments go to run_gpu.py (e.g. --repeats 3). XPNET_CUPY_EXTRA=cuda13 installs the
# CUDA 13 CuPy wheel instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi; then
    echo "ci/gpu.sh: no NVIDIA GPU/driver here (nvidia-smi missing or failing);" \
         "run this script on a GPU runner" >&2
    exit 1
fi

python -m pip install -q -e ".[test,${XPNET_CUPY_EXTRA:-cuda12}]"
# PyTorch only when missing: the default Linux wheel from PyPI is a CUDA build.
python -c "import torch" 2>/dev/null || python -m pip install -q torch
python - <<'PY'
import sys

import cupy
import torch

if not torch.cuda.is_available():
    sys.exit("ci/gpu.sh: the installed PyTorch (%s) has no CUDA support; install a CUDA "
             "build, e.g. pip install torch --index-url https://download.pytorch.org/whl/cu124"
             % torch.__version__)
print("CuPy", cupy.__version__, "sees", cupy.cuda.runtime.getDeviceCount(), "GPU(s);",
      "PyTorch", torch.__version__, "sees", torch.cuda.get_device_name(0))
PY

XPNET_REQUIRE_CUPY=1 python -m pytest -q
python benchmarks/run_gpu.py "$@"
