#!/usr/bin/env bash
# Where ONNX Runtime spends a UNet's training step or forward pass, per operator
# type and per node, from ONNX Runtime's own profiler (bench/RESULTS.md, "The
# training step on ONNX Runtime"): bench/ortmodel writes the graph as difflab gives
# it to ONNX Runtime, bench/ort-profile.mjs runs it with random inputs under
# onnxruntime-node (the npm package whose library `make deps` installs), which this
# script installs into build/ort/ with npm the first time (its install scripts,
# which fetch CUDA libraries, are skipped).
#
#   bench/ort-profile.sh [UNET [BATCH [GRAPH [RUNS]]]]    (default: default 64 train 5)
#
# UNET is default, small or large; GRAPH is train (loss and weight gradients) or
# forward.
set -euo pipefail
cd "$(dirname "$0")/.."

unet=${1:-default} batch=${2:-64} graph=${3:-train} runs=${4:-5}
version=1.30.0 # the version of scripts/install-onnxruntime.sh
dir=build/ort
pkg=$dir/node_modules/onnxruntime-node
mkdir -p "$dir"
if [ "$(node -p "require('./$pkg/package.json').version" 2>/dev/null)" != "$version" ]; then
	command -v npm >/dev/null || scripts/apt-install.sh npm
	(cd "$dir" && npm install --silent --no-audit --no-fund --no-save --ignore-scripts "onnxruntime-node@$version")
fi
model=$dir/$unet-b$batch-$graph.onnx
GOEXPERIMENT=${GOEXPERIMENT-simd} go run ./bench/ortmodel -unet "$unet" -batch "$batch" -graph "$graph" -o "$model"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs; commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'); $(date -u '+%F %H:%M UTC')"
ORT_NODE=$PWD/$pkg node bench/ort-profile.mjs "$model" "$runs"
