#!/usr/bin/env bash
# Regenerates docs/benchmarks/*.json (or $BENCHMARK_DIR/*.json) and prints
# the table of docs/benchmarks.md. Run it on a quiet machine (nothing else
# running); it takes about 30 minutes on 2 CPU cores. Extra arguments go to
# every benchmarks/rnn_speed.py call (for example --shape 32,100,64,256).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCHMARK_DIR:-docs/benchmarks}"
mkdir -p "$out"
for backend in tensorflow jax torch; do
  KERAS_BACKEND=$backend .venv/bin/python benchmarks/rnn_speed.py --rounds 5 --no-memory \
    --output "$out/cpu_${backend}.json" "$@"
  KERAS_BACKEND=$backend .venv/bin/python benchmarks/rnn_speed.py --memory-only \
    --output "$out/cpu_${backend}_memory.json" "$@"
done
.venv/bin/python benchmarks/report.py "$out"/cpu_*.json
