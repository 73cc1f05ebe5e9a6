package backend

import (
	"github.com/gomlx/compute"
)

// Kind is the family of a compute backend, which decides how difflab's graphs
// formulate the ops whose fastest form differs between backends (pkg/models).
type Kind string

const (
	// Go is GoMLX's pure-Go backend ("go"): portable, the reference and the fallback.
	Go Kind = "go"
	// XLA is go-xla's PJRT backend ("xla"): CPU or GPU plugins.
	XLA Kind = "xla"
	// ONNX is ONNX Runtime through github.com/gomlx/compute-onnx ("onnx"), on the
	// CPU. It has no Expm1 op (pkg/models uses Logistic there) and no Pad, which
	// difflab adds (withOps).
	ONNX Kind = "onnx"
	// Other is any other registered backend.
	Other Kind = "other"
)

// KindOf returns the family of b, from its name.
func KindOf(b compute.Backend) Kind {
	switch b.Name() {
	case "Go Backend", "go":
		return Go
	case "xla":
		return XLA
	case "onnxruntime", "onnx":
		return ONNX
	}
	return Other
}

// Installed lists a configuration for every backend this machine can run, the
// pure-Go backend first, then one per PJRT plugin found, then ONNX Runtime when its
// library is found (see Discover). Each Reason says what was found.
func Installed() []Choice {
	f := Discover()
	out := []Choice{{GoDefaultConfig, "built in"}}
	for _, p := range f.Plugins {
		out = append(out, Choice{"xla:" + p, "PJRT plugin " + p + " found"})
	}
	if f.ONNXRuntime != "" {
		out = append(out, Choice{ONNXDefaultConfig, "ONNX Runtime found at " + f.ONNXRuntime})
	}
	return out
}

// Open creates a new backend from config ("go:...", "xla:...", "onnx:..."), not
// cached and without falling back, for code that compares backends (tests,
// benchmarks, `difflab backend`). The caller finalizes it.
func Open(config string) (compute.Backend, error) { return create(config) }
