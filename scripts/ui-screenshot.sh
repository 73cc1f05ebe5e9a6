#!/usr/bin/env bash
# Makes docs/track-ui-compare.png, the README's picture of the tracker UI: the
# compare page of ddim-table1-gmm's 15 linear-schedule runs at S = 10, grouped by
# Table 1's row. Runs the sweep into a fresh database under build/ first, then
# serves it with difflab track ui and takes the screenshot with headless Chromium.
#   scripts/ui-screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/track-ui-compare.png}
export GOEXPERIMENT=simd GOMLX_BACKEND=${GOMLX_BACKEND:-go}
make -s build
work=build/ui-screenshot
rm -rf "$work" && mkdir -p "$work"
db=$work/difflab.db
build/bin/difflab run experiments/ddim-table1-gmm --db "$db" --out "$work/run" >"$work/run.log"
port=18321
build/bin/difflab track ui --db "$db" --addr 127.0.0.1:$port >"$work/ui.log" 2>&1 &
ui=$!
trap 'kill $ui 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/experiments" >/dev/null && break; sleep 0.1; done
filter='params.steps = 10 and params.schedule = "linear"'
ids=$(curl -sfG "http://127.0.0.1:$port/api/runs" --data-urlencode "filter=$filter" --data-urlencode "order=start_time" --data-urlencode "limit=100" |
  /usr/bin/python3 -c 'import json, sys; print(",".join(r["id"] for r in json.load(sys.stdin)["runs"]))')
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$work/chromium" --hide-scrollbars --window-size=1400,1250 \
  --virtual-time-budget=10000 --screenshot="$out" "http://127.0.0.1:$port/compare?ids=$ids&group=tags.row" 2>/dev/null
echo "wrote $out"
