// Package backend chooses the GoMLX compute backend that runs difflab's graphs, in
// one place, so that the CLI, notebooks, tests and benchmarks agree.
//
// The rule (see Select):
//
//  1. $GOMLX_BACKEND, when set, is honoured: "go", "go:OPTIONS", "xla:PLUGIN",
//     "xla:/absolute/path/to/pjrt_c_api_plugin.so", "onnx" or "onnx:OPTIONS". A
//     bare "go" gets the options in GoDefaultConfig, a bare "onnx" runs on the CPU.
//  2. Otherwise XLA is used when a PJRT plugin is installed locally (found in
//     $PJRT_PLUGIN_LIBRARY_PATH or the standard places); nothing is downloaded.
//  3. Otherwise ONNX Runtime's CPU provider when its shared library is found (see
//     FindONNXRuntime); nothing is downloaded. difflab supplies the ops its
//     training graphs need that compute-onnx lacks (Pad, input-dilated
//     convolutions, IsFinite; see withOps), and pkg/models' and pkg/train's
//     parity tests check a forward pass, a sampling loop and training steps there
//     against the pure-Go backend's.
//  4. Otherwise the pure-Go backend runs: the reference, and the fallback whenever
//     the chosen backend cannot be created.
//
// New reports its choice and the reason in one line, so a user always knows which
// backend produced a number.
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

// Select decides which backend to use from the environment and what was found,
// without creating it (the rule is in the package comment). env is the value of
// $GOMLX_BACKEND ("" when unset).
func Select(env string, found Found) Choice {
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
	cached  compute.Backend
	choice  Choice
	errOnce error
	foundMu sync.Once
	found   Found
)

// Notice is where New writes its one-line report. Set it to io.Discard to silence it.
var Notice io.Writer = os.Stderr

// New returns the process's backend, creating it on the first call (later calls
// return the same one). It writes one line to Notice naming the backend and why it
// was chosen. When XLA or ONNX Runtime was chosen and cannot be loaded, it falls
// back to the pure-Go backend and says so in that same line; an unknown backend
// name is an error that lists the known ones.
func New() (compute.Backend, error) {
	mu.Lock()
	defer mu.Unlock()
	if cached != nil || errOnce != nil {
		return cached, errOnce
	}
	env := os.Getenv(EnvVar)
	var have Found
	if strings.TrimSpace(env) == "" { // with $GOMLX_BACKEND set, nothing needs looking up
		have = Discover()
	}
	choice = Select(env, have)
	b, err := create(choice.Config)
	if err != nil && (strings.HasPrefix(choice.Config, "xla") || strings.HasPrefix(choice.Config, "onnx")) {
		choice = Choice{GoDefaultConfig, fmt.Sprintf("%s failed: %s; falling back to the pure-Go backend", choice.Reason, firstLine(err))}
		b, err = create(choice.Config)
	}
	if err != nil {
		errOnce = fmt.Errorf("backend %q (%s): %w; set GOMLX_BACKEND to one of: %s", choice.Config, choice.Reason, err, strings.Join(compute.List(), ", "))
		return nil, errOnce
	}
	cached = b
	fmt.Fprintf(Notice, "difflab: backend %s %q (%s)\n", b.Name(), choice.Config, choice.Reason)
	return cached, nil
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

// Description is "NAME (CONFIG)" of the backend New chose, for recording with runs.
// It is empty before New succeeds.
func Description() string {
	mu.Lock()
	defer mu.Unlock()
	if cached == nil {
		return ""
	}
	return fmt.Sprintf("%s (%s)", cached.Name(), choice.Config)
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
		b = &withOps{b}
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
