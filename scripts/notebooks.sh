#!/usr/bin/env bash
# Installs the notebook tooling and executes difflab's GoNB notebooks headlessly,
# checking each one (make notebooks; make test runs it after the Go tests).
#
# Install (each step skipped when already done, so it can be rerun):
#   - Debian: jupyter-nbconvert and jupyter-client (needs root or sudo);
#   - GoNB and goimports, pinned in tools/go.mod, built into build/bin;
#   - the gonb kernel spec, written into build/jupyter (JUPYTER_DATA_DIR), so
#     nothing lands in $HOME.
# Run: every notebooks/NN-*.ipynb (or the ones named) through "difflab nb run",
# which executes it with nbconvert into build/notebooks/, records a tracker run
# in build/notebooks/difflab.db, and fails when a cell fails, a shell (!) cell's
# command fails, or an output the notebook's metadata expects is missing.
#
# Usage: scripts/notebooks.sh [--install-only] [--mode ci|full] [--write-back] [--param K=V ...] [NOTEBOOK ...]
#   --mode ci       (default) every notebook shrunk to seconds ($DIFFLAB_NB_MODE=ci)
#   --mode full     the sizes the notebooks discuss (minutes to hours)
#   --write-back    copy each executed notebook over its source in notebooks/,
#                   to commit the outputs (make notebooks-full does this in full mode)
#   --param K=V     passed to "difflab nb run" for every notebook run (repeatable)
set -euo pipefail
# The body is a function, read whole before it runs, so editing this file while it
# runs cannot change what a running copy does.
main() {
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/build/bin
export JUPYTER_DATA_DIR=$ROOT/build/jupyter
export PATH=$BIN:$PATH

mode=ci install_only=0 write_back=0 notebooks=() params=()
while (($#)); do
  case $1 in
    --install-only) install_only=1 ;;
    --mode) mode=${2:?--mode needs ci or full}; shift ;;
    --mode=*) mode=${1#--mode=} ;;
    --write-back) write_back=1 ;;
    --param) params+=(--param "${2:?--param needs KEY=VALUE}"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "notebooks.sh: unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) notebooks+=("$1") ;;
  esac
  shift
done
case $mode in ci|full) ;; *) echo "notebooks.sh: --mode $mode, want ci or full" >&2; exit 2 ;; esac

# --- install ---------------------------------------------------------------
scripts/apt-install.sh jupyter-nbconvert jupyter-client

# GoNB and goimports at the versions tools/go.mod pins; rebuilt when it changes.
if [ ! -x "$BIN/gonb" ] || [ ! -x "$BIN/goimports" ] || [ tools/go.mod -nt "$BIN/gonb" ] || [ tools/go.sum -nt "$BIN/gonb" ]; then
  echo "notebooks.sh: building gonb and goimports into build/bin"
  (cd tools && GOBIN=$BIN GOEXPERIMENT= go install tool)
  touch "$BIN/gonb" "$BIN/goimports"
fi

# The kernel spec, pointing at this checkout's gonb.
spec=$JUPYTER_DATA_DIR/kernels/gonb/kernel.json
if [ ! -f "$spec" ] || ! grep -q "\"$BIN/gonb\"" "$spec"; then
  echo "notebooks.sh: installing the gonb kernel spec into build/jupyter"
  # --raw_error: errors as text, readable in the executed notebook and logs;
  # --force_deps: gopls (auto-completion only) is not needed to run cells.
  "$BIN/gonb" --install --raw_error --force_deps 2>/dev/null
  [ -f "$spec" ] || { echo "notebooks.sh: gonb --install wrote no $spec" >&2; exit 1; }
fi
((install_only)) && exit 0

# --- run -------------------------------------------------------------------
# CI mode starts from nothing each time (no checkpoint to resume, a fresh tracker:
# 06 reads this run's runs); full mode keeps its folder, so training resumes and
# finished experiment cells are reused.
OUT=$ROOT/build/notebooks
[ "$mode" = full ] && OUT=$ROOT/build/notebooks-full
[ "$mode" = ci ] && rm -rf "$OUT"
export GOEXPERIMENT=simd           # GoMLX's AVX2/AVX-512 kernels: twice as fast
export GOMLX_BACKEND=${GOMLX_BACKEND:-go}
export DIFFLAB_NB_MODE=$mode
export DIFFLAB_NB_OUT=$OUT
export DIFFLAB_DB=$OUT/difflab.db
mkdir -p "$OUT"
go build -o "$BIN/difflab" ./cmd/difflab

if ((${#notebooks[@]} == 0)); then
  notebooks=(notebooks/[0-9][0-9]-*.ipynb)
fi
timeout=10m
[ "$mode" = full ] && timeout=0
failed=() summary=()
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb" .ipynb)
  echo "notebooks.sh: running $nb ($mode)"
  start=$(date +%s)
  if "$BIN/difflab" nb run "$nb" --out "$OUT" --cell-timeout "$timeout" ${params[@]+"${params[@]}"}; then status=ok; else status=FAILED; failed+=("$name"); fi
  secs=$(($(date +%s) - start))
  summary+=("$(printf '%-28s %-6s %5ds' "$name" "$status" "$secs")")
  if ((write_back)) && [ "$status" = ok ]; then
    # The committed copy names paths relative to the repository, not this checkout,
    # and has no injected parameters cell.
    python3 - "$ROOT" "$OUT/$name.ipynb" "$nb" <<'PY'
import json, sys
root, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
def scrub(v):
    if isinstance(v, str):
        return v.replace(root + "/", "").replace(root, ".")
    if isinstance(v, list):
        return [scrub(x) for x in v]
    if isinstance(v, dict):
        return {k: (x if k.startswith("image/") else scrub(x)) for k, x in v.items()}
    return v
nb = json.load(open(src))
# The parameters cell "difflab nb run --param" injected belongs to this run, not
# to the notebook: committed, it would apply to every later run.
nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
with open(dst, "w") as f:
    json.dump(scrub(nb), f, indent=1, ensure_ascii=False)
    f.write("\n")
PY
  fi
done
echo "notebooks.sh: $mode mode, executed notebooks in ${OUT#$ROOT/}/"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "notebooks.sh: failed: ${failed[*]} (see ${OUT#$ROOT/}/<name>.ipynb)" >&2
  exit 1
fi
}

main "$@"
