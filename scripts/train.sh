#!/usr/bin/env bash
# The main job: set up, then train a small MI-LSTM character-level language
# model on the embedded corpus (the Python standard library's sources), print
# its test bits per character and where its TensorBoard logs are.
# Extra arguments go to `keras-mi train` (for example: --cell lstm --epochs 5).
# It runs from the folder it is called from: relative paths (--run-dir, the
# default runs/milstm, the TensorBoard command it prints) are relative to it.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
bash "$REPO/scripts/setup.sh"
KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}" "$REPO/.venv/bin/keras-mi" train --cell milstm "$@"
