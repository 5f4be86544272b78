#!/usr/bin/env bash
# Creates .venv (if missing) and installs keras-mi with every backend and the
# test tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
say() { echo "setup: $*"; }
say "upgrading pip"
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of PyTorch; an unpinned torch would pull a multi-GB CUDA build.
say "installing torch==2.13.0 (the CPU build; about 200 MB the first time)"
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# setuptools warns on every editable build that a folder named like the
# package may shadow it (it is this checkout, on purpose): not shown.
say "installing keras-mi with TensorFlow, JAX, the test tools and the export runtimes (ONNX Runtime, OpenVINO, LiteRT; about a minute the first time)"
PYTHONWARNINGS="ignore::UserWarning" \
  .venv/bin/python -m pip install --quiet -e ".[jax,torch,dev,export]"
say "done: $(.venv/bin/python -c 'import keras, keras_mi; print("keras", keras.__version__, "/ keras-mi", keras_mi.__version__)' 2>/dev/null | tail -n 1)"
