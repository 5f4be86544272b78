#!/usr/bin/env bash
# Creates .venv (if missing) and installs keras-mi with every backend and the
# test tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of PyTorch; an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# setuptools warns on every editable build that a folder named like the
# package may shadow it (it is this checkout, on purpose): not shown.
PYTHONWARNINGS="ignore::UserWarning" \
  .venv/bin/python -m pip install --quiet -e ".[jax,torch,dev]"
