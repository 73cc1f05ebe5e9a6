#!/usr/bin/env bash
# Runs shipped experiments and copies each report (markdown and PNGs, not the
# samples) into experiments/NAME/report/ for committing. Usage:
#   scripts/run-experiments.sh [NAME ...]     (default: every experiment)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT=simd
go build -o build/bin/difflab ./cmd/difflab
names=("$@")
if ((${#names[@]} == 0)); then
  for d in experiments/*/config.toml; do names+=("$(basename "$(dirname "$d")")"); done
fi
for n in "${names[@]}"; do
  start=$(date +%s)
  build/bin/difflab run "experiments/$n" --out "runs/$n"
  secs=$(( $(date +%s) - start ))
  rm -rf "experiments/$n/report"
  mkdir -p "experiments/$n/report"
  cp "runs/$n"/*.md "runs/$n"/*.png "experiments/$n/report/"
  echo "$n: ${secs}s wall" | tee -a "runs/experiments-wall.txt"
done
