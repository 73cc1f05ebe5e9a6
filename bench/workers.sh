#!/usr/bin/env bash
# The sweep-workers figures of bench/RESULTS.md: experiments/ddim-table1-gmm
# (150 cells, exact denoiser) run by `difflab run --workers N` for N = 1, 2, 4
# on a fresh SQLite file and a fresh PostgreSQL database each time (the test
# server of scripts/pg-test.sh), printing the wall time and cells per second.
#
#   bench/workers.sh [OUTDIR]        (default build/bench/workers; ~10 minutes on 2 cores)
#   WORKERS="1 2" STORES=sqlite bench/workers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/bench/workers}"
rm -rf "$out"
mkdir -p "$out"
export GOEXPERIMENT=simd GOMLX_BACKEND="${GOMLX_BACKEND:-go}"
go build -o "$out/difflab" ./cmd/difflab
dsn="$(./scripts/pg-test.sh start)"
psql=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/psql" ] && psql="$d/psql"; done

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(go version | cut -d' ' -f3)"
echo
echo "| store | workers | wall (s) | cells/s |"
echo "|---|---:|---:|---:|"
for store in ${STORES:-sqlite postgres}; do
	for n in ${WORKERS:-1 2 4}; do
		run="$out/$store-$n"
		mkdir -p "$run"
		db="$run/runs.db"
		if [ "$store" = postgres ]; then
			name="bench_workers_$n"
			PGOPTIONS="-c client_min_messages=warning" "$psql" -q "$dsn" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
			db="${dsn/\/postgres\?//$name?}"
		fi
		t0=$(date +%s.%N)
		"$out/difflab" run experiments/ddim-table1-gmm --db "$db" --artifacts "$run/artifacts" --out "$run/out" --workers "$n" \
			>"$run/stdout" 2>"$run/stderr" || { echo "$store $n workers failed: $(tail -3 "$run/stderr")" >&2; exit 1; }
		t1=$(date +%s.%N)
		awk -v s="$store" -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "| %s | %d | %.1f | %.2f |\n", s, n, b - a, 150 / (b - a) }'
	done
done
