#!/usr/bin/env bash
# "What a user gets" (the table at the top of bench/RESULTS.md): difflab's commands
# timed end to end, start-up included, on each backend this machine has, against
# the PyTorch twins (bench/pytorch_unet.py, bench/pytorch_mlp.py; Debian's
# python3-torch with libopenblas0-pthread, 2 threads) in the same sitting:
#
#   default UNet, DDIM-10 (eta = 1) of 256 images:  difflab sample --checkpoint ...
#   2-D MLP, DDPM-1000 of 2000 points:               difflab sample --checkpoint ...
#   default UNet, training step at batch 64:         difflab train --steps 6 minus --steps 1, / 5
#   default UNet, training step and forward pass:    BenchmarkUNetTrainStep, BenchmarkUNetForward
#
# The checkpoints are one-step trainings (the time does not depend on the weights).
# Run on a quiet machine: bench/e2e.sh [OUTDIR] (default build/e2e; ~10 minutes here).
# REPS=N repeats each command (default 3; the median is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/e2e}
reps=${REPS:-3}
mkdir -p "$out"
export GOEXPERIMENT=simd
go build -o "$out/difflab" ./cmd/difflab
(cd pkg/models && go test -c -o "../../$out/models.test" .)
lib=$("$out/difflab" backend 2>/dev/null | sed -n 's/^  onnx:cpu  *ONNX Runtime found at \(.*\)$/\1/p' || true)
echo "machine: $(lscpu | sed -n 's/^Model name:\s*//p'), $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo "go: $(go version | cut -d' ' -f3), $(grep -E 'gomlx/(gomlx|compute|compute-onnx|go-xla) ' go.mod | awk '{printf "%s %s; ", $1, $2}')"
echo "ONNX Runtime: ${lib:-not found (make deps installs it)}"
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__, "BLAS:", "openblas" if "openblas" in open("/proc/self/maps").read() else "?")' 2>/dev/null || true
update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | sed -n 's/^Value: /libblas.so.3 -> /p'

# median N COMMAND...: runs COMMAND N times, prints the median wall seconds.
median() {
	local n=$1 ts=()
	shift
	for ((i = 0; i < n; i++)); do
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>"$out/last.err" || { cat "$out/last.err" >&2; return 1; }
		t1=$(date +%s.%N)
		ts+=("$(echo "$t1 - $t0" | bc)")
	done
	printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(((n + 1) / 2))p"
}

[ -d "$out/unet" ] || "$out/difflab" train --config configs/mnist-unet.toml --steps 1 --set train.warmup_steps=0 --checkpoint-dir "$out/unet" --no-track --quiet >/dev/null
[ -d "$out/mlp" ] || "$out/difflab" train --config configs/gmm-mlp.toml --steps 1 --set train.warmup_steps=0 --checkpoint-dir "$out/mlp" --no-track --quiet >/dev/null

backends=(go)
[ -n "$lib" ] && backends+=(onnx)
for be in "${backends[@]}"; do
	s=$(median "$reps" env GOMLX_BACKEND=$be "$out/difflab" sample --checkpoint "$out/unet" --sampler ddim --steps 10 --eta 1 --n 256 --seed 1 --out "$out/unet-ddim10.png" --quiet)
	echo "difflab sample, default UNet, DDIM-10 of 256, $be: $s s (median of $reps, end to end)"
	s=$(median "$reps" env GOMLX_BACKEND=$be "$out/difflab" sample --checkpoint "$out/mlp" --sampler ddpm --n 2000 --seed 1 --out "$out/mlp-ddpm.json" --quiet)
	echo "difflab sample, 2-D MLP, DDPM-1000 of 2000, $be: $s s (median of $reps, end to end)"
	train() { rm -rf "$out/train-$be"; env GOMLX_BACKEND=$be "$out/difflab" train --config configs/mnist-unet.toml --steps "$1" --set train.warmup_steps=0 --checkpoint-dir "$out/train-$be" --no-track --quiet; }
	t1=$(median 1 train 1)
	t6=$(median 1 train 6)
	echo "difflab train, default UNet, batch 64, $be: $(echo "($t6 - $t1) / 5" | bc -l | cut -c1-6) s/step (6 steps $t6 s, 1 step $t1 s, end to end)"
	GOMLX_BACKEND=$be "$out/models.test" -test.run '^$' -test.bench '^BenchmarkUNet(Forward|TrainStep)$/^default$' -test.benchtime 3x 2>/dev/null | grep '^Benchmark' | sed "s/^/$be: /"
done

s=$(median "$reps" /usr/bin/python3 bench/pytorch_unet.py --config default --only-sample --sample-steps 10)
echo "pytorch_unet.py DDIM-10 process: $s s (median of $reps, start-up included)"
/usr/bin/python3 bench/pytorch_unet.py --config default --reps 3 --sample-steps 10
s=$(median 1 /usr/bin/python3 bench/pytorch_mlp.py --n 2000)
echo "pytorch_mlp.py process: $s s (start-up included)"
/usr/bin/python3 bench/pytorch_mlp.py --n 2000
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
