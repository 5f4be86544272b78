#!/usr/bin/env bash
# Runs the whole test suite once per Keras backend: tensorflow, jax, torch.
# Extra arguments go to pytest (for example: bash scripts/test.sh -x -k lstm).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
status=0
summary=()
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
  code=$?
  summary+=("$backend: exit $code")
  [ $code -eq 0 ] || status=1
done
printf '%s\n' "${summary[@]}"
exit $status
