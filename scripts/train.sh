#!/usr/bin/env bash
# The main job: set up, then train a small MI-LSTM character-level language
# model on the embedded corpus (the Python standard library's sources), print
# its test bits per character and where its TensorBoard logs are.
# Extra arguments go to `keras-mi train` (for example: --cell lstm --epochs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}" .venv/bin/keras-mi train --cell milstm "$@"
