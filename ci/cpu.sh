#!/usr/bin/env bash
# CPU CI: install, lint, and run the README's test command with the torch backend REQUIRED
# (so numpy, array_api_strict and torch are all exercised, never skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg
# The CPU build of PyTorch (a plain "torch" would fetch a multi-GB CUDA build).
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test,dask]"
python -m ruff check .
export XPNET_REQUIRE_TORCH=1
# The README's test command:
pytest
