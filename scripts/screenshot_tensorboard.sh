#!/usr/bin/env bash
# Screenshots TensorBoard's Custom Scalars dashboard, as a user first sees it,
# with headless Chromium (Debian: apt-get install chromium).
#
#   bash scripts/screenshot_tensorboard.sh LOG_DIR OUTPUT.png [DASHBOARD]
#
# DASHBOARD is the part after '#' in TensorBoard's address (custom_scalars).
set -euo pipefail
cd "$(dirname "$0")/.."
log_dir=$1
output=$2
dashboard=${3:-custom_scalars}
port=$(.venv/bin/python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
.venv/bin/python -m tensorboard.main --logdir "$log_dir" --port "$port" --host 127.0.0.1 \
  --load_fast false > /dev/null 2>&1 &
server=$!
trap 'kill $server 2> /dev/null' EXIT
for _ in $(seq 120); do
  if .venv/bin/python -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/data/runs', timeout=2)" 2> /dev/null; then
    break
  fi
  sleep 1
done
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1400,1100 \
  --virtual-time-budget=20000 --screenshot="$output" \
  "http://127.0.0.1:$port/#$dashboard" 2> /dev/null
rm -rf "$profile"
echo "wrote $output"
