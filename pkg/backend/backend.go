// Package backend chooses the GoMLX compute backends that run difflab's graphs, in
// one place, so that the CLI, notebooks, tests and benchmarks agree.
//
// A process has up to two backends, one per Purpose: Training runs every graph
// that takes gradients (and anything not marked otherwise); Inference runs the
// forward passes of sampling and evaluation. The rule (see Select):
//
//  1. $GOMLX_BACKEND, when set, is honoured for both: "go", "go:OPTIONS",
//     "xla:PLUGIN", "xla:/absolute/path/to/pjrt_c_api_plugin.so", "onnx" or
//     "onnx:OPTIONS". A bare "go" gets the options in GoDefaultConfig, a bare
//     "onnx" runs on the CPU.
//  2. Otherwise XLA is used for both when a PJRT plugin is installed locally (found
//     in $PJRT_PLUGIN_LIBRARY_PATH or the standard places); nothing is downloaded.
//  3. Otherwise ONNX Runtime's CPU provider when its shared library is found (see
//     FindONNXRuntime); nothing is downloaded. difflab supplies the two ops its
//     training graphs need that compute-onnx lacks (Pad, input-dilated
//     convolutions; see withPad), and TestBackendTrainParity in pkg/models checks
//     a training step there against the pure-Go backend's.
//  4. Otherwise the pure-Go backend runs: the reference, and the fallback whenever
//     the chosen backend cannot be created.
//
// The two purposes share rules 1, 2 and 4 and so one backend; they differ only in
// the reason New and NewInference report, and a program may still give Training
// and Inference different backends (experiment.Runner's Backend and Inference).
//
// New and NewInference report each backend they create and the reason in one line,
// so a user always knows which backend produced a number.
package backend

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute-onnx"      // registers "onnx" (cgo; dlopens its library when created)
	_ "github.com/gomlx/compute/gobackend" // registers "go"
	"github.com/gomlx/go-xla/compute/xla"  // registers "xla"
	"github.com/gomlx/gomlx/support/exceptions"
)

// GoDefaultConfig is the configuration used for the pure-Go backend when none is
// given. parallelism=-1 runs each op's work on the caller's goroutines: the default
// worker pool deadlocks on 2-core machines in GoMLX v0.28.1, and -1 was also the
// fastest setting measured there.
const GoDefaultConfig = "go:parallelism=-1"

// EnvVar is the environment variable that selects the backend ("GOMLX_BACKEND").
const EnvVar = compute.ConfigEnvVar

func init() {
	// Never download a PJRT plugin at run time: difflab must work offline and
	// must not hang on a network call. Users install plugins themselves.
	xla.EnableAutoInstall(false)
}

// Purpose is what a backend will run.
type Purpose int

const (
	// Training is every graph that takes gradients, and the default for the rest.
	Training Purpose = iota
	// Inference is forward passes only: sampling and evaluation.
	Inference
)

// String returns "training" or "inference".
func (p Purpose) String() string {
	if p == Inference {
		return "inference"
	}
	return "training"
}

// ONNXDefaultConfig is the configuration used for ONNX Runtime when none is given:
// its CPU execution provider (without ":cpu" compute-onnx probes nvidia-smi).
const ONNXDefaultConfig = "onnx:cpu"

// Found is what this machine has installed for the backends that need a library.
type Found struct {
	// Plugins lists the locally installed PJRT plugins, by name.
	Plugins []string
	// ONNXRuntime is the path of ONNX Runtime's shared library, "" when none was found.
	ONNXRuntime string
}

// Choice is the backend chosen by Select, before it is created.
type Choice struct {
	// Config is the configuration string passed to compute.NewWithConfig.
	Config string
	// Reason says in words why this backend was chosen.
	Reason string
}

// Select decides which backend runs graphs of the given purpose, from the
// environment and what was found, without creating it (the rule is in the package
// comment). env is the value of $GOMLX_BACKEND ("" when unset).
func Select(env string, found Found, p Purpose) Choice {
	env = strings.TrimSpace(env)
	isONNX := env == "onnx" || env == "onnxruntime" || strings.HasPrefix(env, "onnx:") || strings.HasPrefix(env, "onnxruntime:")
	switch {
	case env == "go":
		return Choice{GoDefaultConfig, "GOMLX_BACKEND=go"}
	case isONNX && !strings.Contains(env, ":"):
		return Choice{ONNXDefaultConfig, "GOMLX_BACKEND=" + env}
	case env != "":
		return Choice{env, "GOMLX_BACKEND=" + env}
	case len(found.Plugins) > 0:
		return Choice{"xla:" + found.Plugins[0], "PJRT plugin " + found.Plugins[0] + " found"}
	case found.ONNXRuntime != "":
		return Choice{ONNXDefaultConfig, "no PJRT plugin; ONNX Runtime found at " + found.ONNXRuntime}
	default:
		return Choice{GoDefaultConfig, "no PJRT plugin or ONNX Runtime found; using the pure-Go backend"}
	}
}

var (
	mu      sync.Mutex
	made    = map[Purpose]*made1{}
	foundMu sync.Once
	found   Found
)

// made1 is a backend created for one purpose, or the error that stopped it.
type made1 struct {
	b      compute.Backend
	choice Choice
	err    error
}

// Notice is where New and NewInference write their one-line reports. Set it to
// io.Discard to silence them.
var Notice io.Writer = os.Stderr

// New returns the process's Training backend, creating it on the first call (later
// calls return the same one). It writes one line to Notice naming the backend and
// why it was chosen. When XLA was chosen and its plugin cannot be loaded, it falls
// back to the pure-Go backend and says so in that same line; an unknown backend
// name is an error that lists the known ones.
func New() (compute.Backend, error) { return NewFor(Training) }

// NewInference returns the process's backend for forward passes (sampling,
// evaluation), creating it on the first call like New; it is the Training backend
// itself when the rule picks the same configuration for both.
func NewInference() (compute.Backend, error) { return NewFor(Inference) }

// NewFor returns the process's backend for purpose p; see New.
func NewFor(p Purpose) (compute.Backend, error) {
	mu.Lock()
	defer mu.Unlock()
	if m := made[p]; m != nil {
		return m.b, m.err
	}
	env := os.Getenv(EnvVar)
	choice := Select(env, Discover(), p)
	b, err := reuseOrCreate(choice)
	if err != nil && (strings.HasPrefix(choice.Config, "xla") || strings.HasPrefix(choice.Config, "onnx")) {
		choice = Choice{GoDefaultConfig, fmt.Sprintf("%s failed: %s; falling back to the pure-Go backend", choice.Reason, firstLine(err))}
		b, err = reuseOrCreate(choice)
	}
	if err != nil {
		err = fmt.Errorf("backend %q (%s): %w; set GOMLX_BACKEND to one of: %s", choice.Config, choice.Reason, err, strings.Join(compute.List(), ", "))
		made[p] = &made1{choice: choice, err: err}
		return nil, err
	}
	made[p] = &made1{b: b, choice: choice}
	fmt.Fprintf(Notice, "difflab: %s backend %s %q (%s)\n", p, b.Name(), choice.Config, choice.Reason)
	return b, nil
}

// reuseOrCreate returns the backend already made with choice's configuration, or
// creates one. mu is held.
func reuseOrCreate(choice Choice) (compute.Backend, error) {
	for _, m := range made {
		if m.err == nil && m.choice.Config == choice.Config {
			return m.b, nil
		}
	}
	return create(choice.Config)
}

// MustNew is New for programs that cannot go on without a backend; it panics on error.
func MustNew() compute.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}

// Discover lists what this machine has installed: the PJRT plugins and ONNX
// Runtime's library, looked up once per process. It downloads nothing.
func Discover() Found {
	foundMu.Do(func() {
		found.Plugins = xla.GetAvailablePlugins()
		found.ONNXRuntime, _ = FindONNXRuntime()
	})
	return found
}

// Description is "NAME (CONFIG)" of the Training backend New chose, for recording
// with runs, followed by "; inference NAME (CONFIG)" when NewInference created a
// different one. It is empty before New or NewInference succeeds.
func Description() string {
	mu.Lock()
	defer mu.Unlock()
	var parts []string
	for _, p := range []Purpose{Training, Inference} {
		m := made[p]
		if m == nil || m.err != nil {
			continue
		}
		d := fmt.Sprintf("%s (%s)", m.b.Name(), m.choice.Config)
		if p == Inference {
			if t := made[Training]; t != nil && t.b == m.b {
				continue
			}
			if len(parts) > 0 {
				d = "inference " + d
			}
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, "; ")
}

// create builds a backend, turning a panic in the constructor into an error.
func create(config string) (compute.Backend, error) {
	var b compute.Backend
	var err error
	// The pure-Go backend prints its parallelism setting on stdout, which would
	// corrupt output such as "difflab sample --out -": silence stdout meanwhile.
	if devnull, derr := os.OpenFile(os.DevNull, os.O_WRONLY, 0); derr == nil {
		stdout := os.Stdout
		os.Stdout = devnull
		defer func() { os.Stdout = stdout; devnull.Close() }()
	}
	if strings.HasPrefix(config, "onnx") {
		// Point compute-onnx at the library found here: without one it would try to
		// download ONNX Runtime, which difflab never does.
		lib, err := FindONNXRuntime()
		if err != nil {
			return nil, err
		}
		os.Setenv(ONNXLibraryEnv, lib)
	}
	if perr := exceptions.TryCatch[error](func() { b, err = compute.NewWithConfig(config) }); perr != nil {
		return nil, perr
	}
	if err == nil && KindOf(b) == ONNX {
		b = &withPad{b}
	}
	return b, err
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
