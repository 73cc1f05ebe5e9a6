#!/usr/bin/env bash
# The UNet figures of bench/RESULTS.md ("UNet figures in one sitting"): training step
# at batch 64, forward pass and DDIM-50 sampling at batch 256 of the default and the
# large UNet on the pure-Go backend, with and without GOEXPERIMENT=simd, each run by
# /usr/bin/time -v for its peak RSS, then the PyTorch twin (bench/pytorch_unet.py,
# Debian python3-torch, 2 threads) on the same machine. Run it on a quiet machine:
#
#   bench/unet-figures.sh [OUTDIR]          (default build/bench; about 20 minutes here)
#   ONLY='large|pytorch' bench/unet-figures.sh   (only the runs whose name matches)
set -euo pipefail

run() { # name binary bench benchtime
	local name=$1 bin=$2 bench=$3 n=$4
	[[ $name =~ ${ONLY:-.} ]] || return 0
	echo "== $name: -bench '$bench' -benchtime $n"
	/usr/bin/time -v "$out/$bin" -test.run '^$' -test.bench "$bench" -test.benchtime "$n" 2>"$out/$name.time" | grep -E '^Benchmark|^ok|FAIL' || true
	grep -E 'Maximum resident|Elapsed' "$out/$name.time" | sed 's/^\s*/   /' || true
}

pytorch() { # config flags...
	local cfg=$1
	shift
	[[ pytorch-$cfg =~ ${ONLY:-.} ]] || return 0
	echo "== pytorch-$cfg"
	/usr/bin/time -v /usr/bin/python3 bench/pytorch_unet.py --config "$cfg" "$@" 2>"$out/pytorch-$cfg.time"
	grep -E 'Maximum resident' "$out/pytorch-$cfg.time" | sed 's/^\s*/   /' || true
}

main() {
	cd "$(dirname "$0")/.."
	out=${1:-build/bench}
	mkdir -p "$out"
	export GOMLX_BACKEND=go
	(cd pkg/models && GOEXPERIMENT=simd go test -c -o "../../$out/models_simd.test" . && go test -c -o "../../$out/models_nosimd.test" .)
	echo "machine: $(lscpu | sed -n 's/^Model name:\s*//p'), $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
	for build in simd nosimd; do
		run "train-default-$build" "models_$build.test" '^BenchmarkUNetTrainStep$/^default$' 3x
		run "forward-default-$build" "models_$build.test" '^BenchmarkUNetForward$/^default$' 3x
		run "ddim50-default-$build" "models_$build.test" '^BenchmarkUNetSampleDDIM50$/^default$' 1x
	done
	run train-large-simd models_simd.test '^BenchmarkUNetTrainStep$/^large$' 2x
	run forward-large-simd models_simd.test '^BenchmarkUNetForward$/^large$' 1x
	pytorch default --reps 3
	pytorch large --reps 3 --no-sample
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
}

main "$@"
