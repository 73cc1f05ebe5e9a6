#!/usr/bin/env bash
# Installs ONNX Runtime's CPU shared library into build/onnxruntime/ (where
# pkg/backend's FindONNXRuntime looks), taken from the npm package onnxruntime-node,
# whose tarball ships it as bin/napi-v6/linux/x64/libonnxruntime.so.1. Does nothing
# when the library is there with the expected checksum. DIFFLAB_ONNXRUNTIME=off skips
# it: difflab then runs its forward passes on the pure-Go backend.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.30.0
sha256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
dest=build/onnxruntime/libonnxruntime.so.1

if [ "${DIFFLAB_ONNXRUNTIME:-}" = off ]; then
	exit 0
fi
if [ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]; then
	echo "install-onnxruntime: only linux/x86_64 is packaged here; skipping (set ONNXRUNTIME_SHARED_LIBRARY_PATH to your own copy)" >&2
	exit 0
fi
if [ -f "$dest" ] && echo "$sha256  $dest" | sha256sum --check --status; then
	exit 0
fi
command -v npm >/dev/null || scripts/apt-install.sh npm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-onnxruntime: fetching onnxruntime-node@$version with npm pack"
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tar -xzf "$tmp/onnxruntime-node-$version.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
echo "$sha256  $tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum --check --status ||
	{ echo "install-onnxruntime: checksum mismatch for libonnxruntime.so.1 of onnxruntime-node@$version" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "install-onnxruntime: installed $dest"
