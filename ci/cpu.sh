#!/usr/bin/env bash
# CPU CI, as a new user would run it:
#   1. a fresh venv WITHOUT torch: the README's test command exactly (numpy and
#      array_api_strict on its non-default device; torch tests skip), plus the linters
#      (ruff, and import-linter's layer contracts in pyproject.toml);
#   2. the same venv with the CPU build of PyTorch and Dask: the whole suite again with the
#      torch backend REQUIRED (a missing torch fails instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg
venv="${XPNET_CI_VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install -q --upgrade pip

echo "== 1/2: the README's test command in a venv without torch"
pip install -e ".[test]" && pytest
python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    || { echo "ci: torch is installed in the torch-free venv" >&2; exit 1; }
python -m ruff check .
lint-imports

echo "== 2/2: with the CPU build of PyTorch (required), Dask and ONNX"
# the CPU wheel: a plain "torch" would fetch a multi-GB CUDA build
python -m pip install -q "torch==2.13.0" -e ".[test,dask,onnx]"
XPNET_REQUIRE_TORCH=1 pytest
