#!/usr/bin/env bash
# Runs the whole test suite once per Keras backend: tensorflow, jax, torch,
# then prints one line per backend and one total.
# Extra arguments go to pytest (for example: bash scripts/test.sh -x -k lstm).
# Test files are spread over TEST_WORKERS processes (default 2, one per core
# of the CI machine; 0 runs them in this process).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
status=0
summary=()
logs=$(mktemp -d)
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend .venv/bin/python -m pytest -q -p no:cacheprovider \
    -n "${TEST_WORKERS:-2}" --dist loadfile "$@" \
    2>&1 | tee "$logs/$backend.log"
  code=${PIPESTATUS[0]}
  # pytest's own last line: "N passed, M skipped, ... in S s".
  result=$(grep -E "^(=+ )?[0-9]+ (passed|failed|error)" "$logs/$backend.log" | tail -n 1 | tr -d '=')
  summary+=("$backend: exit $code,${result:- no result}")
  [ $code -eq 0 ] || status=1
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
.venv/bin/python scripts/summarize_tests.py "$logs"/*.log
rm -rf "$logs"
exit $status
