#!/usr/bin/env bash
# GPU figures for bench/RESULTS.md: the UNet benchmarks of bench/unet-figures.sh run by
# GoMLX's XLA backend on a CUDA PJRT plugin, then the PyTorch twin on CUDA, on one
# machine. Two steps, since a GPU machine may have no Go toolchain:
#
#   bench/gpu-figures.sh build         # on any machine with Go and a C compiler: writes
#                                      # build/gpu/models.test (go-xla loads plugins through cgo)
#   bench/gpu-figures.sh run [PLUGIN]  # on the GPU machine, build/gpu carried along; PLUGIN is
#                                      # the PJRT plugin's absolute path (default: the first
#                                      # xla_cuda_plugin.so or pjrt_c_api_cuda*.so found, e.g.
#                                      # JAX's jax-cuda13-pjrt)
#
# Not yet run on a GPU: the XLA path of difflab's graphs is untested there.
set -euo pipefail

build() {
	mkdir -p build/gpu
	(cd pkg/models && go test -c -o ../../build/gpu/models.test .)
	cp bench/pytorch_unet.py build/gpu/
	ls -la build/gpu
}

find_plugin() {
	find / -xdev \( -name 'xla_cuda_plugin.so' -o -name 'pjrt_c_api_cuda*.so' \) 2>/dev/null | head -1
}

run() {
	local plugin=${1:-$(find_plugin)}
	if [[ -z $plugin || ! -f $plugin ]]; then
		echo "gpu-figures: no CUDA PJRT plugin found; pass its absolute path" >&2
		return 2
	fi
	# JAX's plugin finds the CUDA libraries of the nvidia-* Python packages beside it.
	local libs
	libs=$(find / -xdev -path '*site-packages/nvidia/*/lib' -type d 2>/dev/null | paste -sd: -)
	export LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export GOMLX_BACKEND=xla:$plugin
	echo "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi'); $(nproc) CPUs; $(date -u +%FT%TZ)"
	echo "GOMLX_BACKEND=$GOMLX_BACKEND"
	local bin=build/gpu/models.test
	for b in '^BenchmarkUNetTrainStep$/^default$' '^BenchmarkUNetTrainStep$/^large$' '^BenchmarkUNetForward$' '^BenchmarkUNetSampleDDIM50$'; do
		echo "== $b"
		timeout 300 "$bin" -test.run '^$' -test.bench "$b" -test.benchtime 20x 2>&1 | grep -E '^Benchmark|difflab:|FAIL|panic|error' || true
	done
	for cfg in default large; do
		echo "== pytorch-$cfg (cuda)"
		timeout 300 python3 build/gpu/pytorch_unet.py --config "$cfg" --reps 20 --device cuda || true
	done
}

main() {
	cd "$(dirname "$0")/.."
	case ${1:-} in
	build) build ;;
	run)
		shift
		run "$@"
		;;
	*)
		echo "usage: bench/gpu-figures.sh build | run [PLUGIN.so]" >&2
		return 2
		;;
	esac
}

main "$@"
