package backend

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/graph"
)

func TestSelect(t *testing.T) {
	const lib = "/x/libonnxruntime.so.1"
	for _, c := range []struct {
		env   string
		found Found
		want  Choice
	}{
		{"", Found{}, Choice{GoDefaultConfig, "no PJRT plugin or ONNX Runtime found; using the pure-Go backend"}},
		{"", Found{}, Choice{GoDefaultConfig, "no PJRT plugin or ONNX Runtime found; using the pure-Go backend"}},
		{"", Found{Plugins: []string{"cuda", "cpu"}}, Choice{"xla:cuda", "PJRT plugin cuda found"}},
		{"", Found{Plugins: []string{"cuda"}, ONNXRuntime: lib}, Choice{"xla:cuda", "PJRT plugin cuda found"}},
		{"", Found{ONNXRuntime: lib}, Choice{ONNXDefaultConfig, "no PJRT plugin; ONNX Runtime found at " + lib}},
		{"", Found{ONNXRuntime: lib}, Choice{ONNXDefaultConfig, "no PJRT plugin; ONNX Runtime found at " + lib}},
		{"go", Found{Plugins: []string{"cuda"}, ONNXRuntime: lib}, Choice{GoDefaultConfig, "GOMLX_BACKEND=go"}},
		{" go ", Found{}, Choice{GoDefaultConfig, "GOMLX_BACKEND=go"}},
		{"go:parallelism=2", Found{}, Choice{"go:parallelism=2", "GOMLX_BACKEND=go:parallelism=2"}},
		{"xla:/opt/pjrt/pjrt_c_api_cuda_plugin.so", Found{}, Choice{"xla:/opt/pjrt/pjrt_c_api_cuda_plugin.so", "GOMLX_BACKEND=xla:/opt/pjrt/pjrt_c_api_cuda_plugin.so"}},
		{"onnx", Found{}, Choice{ONNXDefaultConfig, "GOMLX_BACKEND=onnx"}},
		{"onnx", Found{}, Choice{ONNXDefaultConfig, "GOMLX_BACKEND=onnx"}},
		{"onnx:cuda", Found{}, Choice{"onnx:cuda", "GOMLX_BACKEND=onnx:cuda"}},
	} {
		if got := Select(c.env, c.found); got != c.want {
			t.Errorf("Select(%q, %+v) = %+v, want %+v", c.env, c.found, got, c.want)
		}
	}
}

// helperEnv marks the test binary's re-execution as the helper of TestNewProcess.
const helperEnv = "DIFFLAB_BACKEND_HELPER"

// TestNewHelper is not a test: TestNewProcess runs it in a child process (New
// caches its backend per process) to call New under a given environment and run
// one small graph on the result.
func TestNewHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestNewProcess")
	}
	b, err := New()
	if err != nil {
		os.Stdout.WriteString("ERR " + err.Error() + "\n")
		return
	}
	got := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.AddScalar(x, 1) }, float32(2))
	os.Stdout.WriteString("OK " + b.Name() + " " + got.String() + "\n")
}

// TestNewProcess runs New in child processes: an XLA plugin that cannot be loaded
// falls back to the pure-Go backend with one line on stderr, no plugin at all picks
// the pure-Go backend with one line, an unknown backend is an error that lists the
// known ones, and none of them hangs or panics.
func TestNewProcess(t *testing.T) {
	empty := t.TempDir()
	lib, libErr := FindONNXRuntime()
	if libErr != nil && os.Getenv("DIFFLAB_REQUIRE_ONNX") == "1" {
		t.Fatalf("DIFFLAB_REQUIRE_ONNX=1: %v", libErr)
	}
	for _, c := range []struct {
		name, env string
		lib       string   // $ONNXRUNTIME_SHARED_LIBRARY_PATH (a missing file: no ONNX Runtime)
		stdout    string   // prefix of the helper's line
		stderr    []string // substrings of the single notice line ("" for none)
	}{
		{"onnx library missing", "onnx", empty + "/libonnxruntime.so.1", "OK Go", []string{"GOMLX_BACKEND=onnx failed", "no such file", "falling back to the pure-Go backend"}},
		{"onnx", "onnx", lib, "OK onnxruntime", []string{`backend onnxruntime "onnx:cpu" (GOMLX_BACKEND=onnx)`}},
		{"onnx found", "", lib, "OK onnxruntime", []string{"no PJRT plugin; ONNX Runtime found at " + lib}},
		{"missing plugin path", "xla:" + empty + "/pjrt_c_api_missing_plugin.so", empty + "/libonnxruntime.so.1", "OK ", []string{"GOMLX_BACKEND=xla:" + empty, "failed", "falling back to the pure-Go backend", GoDefaultConfig}},
		{"plugin not installed", "xla:nosuchplugin", empty + "/libonnxruntime.so.1", "OK ", []string{"GOMLX_BACKEND=xla:nosuchplugin failed", "falling back"}},
		{"cuda not installed", "xla:cuda", empty + "/libonnxruntime.so.1", "OK ", []string{"GOMLX_BACKEND=xla:cuda failed", "falling back"}},
		{"nothing found", "", empty + "/libonnxruntime.so.1", "OK Go", []string{"no PJRT plugin or ONNX Runtime found; using the pure-Go backend"}},
		{"go", "go", empty + "/libonnxruntime.so.1", "OK ", []string{`"` + GoDefaultConfig + `" (GOMLX_BACKEND=go)`}},
		{"unknown", "nope", empty + "/libonnxruntime.so.1", "ERR ", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.lib == "" { // lib: ONNX Runtime is not installed
				t.Skipf("ONNX Runtime not installed here: %v", libErr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestNewHelper$", "-test.count=1")
			env := []string{helperEnv + "=1", EnvVar + "=" + c.env, "PJRT_PLUGIN_LIBRARY_PATH=" + empty, "HOME=" + empty,
				ONNXLibraryEnv + "=" + c.lib}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, EnvVar+"=") && !strings.HasPrefix(kv, "PJRT_PLUGIN_LIBRARY_PATH=") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, ONNXLibraryEnv+"=") {
					env = append(env, kv)
				}
			}
			if c.env == "" {
				env[1] = EnvVar + "=" // unset and empty read alike
			}
			cmd.Env = env
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("New did not return within 2 minutes (GOMLX_BACKEND=%q)", c.env)
			}
			if err != nil {
				t.Fatalf("helper process: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			line := ""
			for _, l := range strings.Split(stdout.String(), "\n") {
				if strings.HasPrefix(l, "OK ") || strings.HasPrefix(l, "ERR ") {
					line = l
				}
			}
			if !strings.HasPrefix(line, c.stdout) {
				t.Fatalf("GOMLX_BACKEND=%q: helper said %q, want %q...\nstderr:\n%s", c.env, line, c.stdout, stderr.String())
			}
			switch c.stdout {
			case "OK ":
				if !strings.Contains(line, "3") {
					t.Errorf("GOMLX_BACKEND=%q: 2+1 gave %q", c.env, line)
				}
			case "ERR ":
				if !strings.Contains(line, `"nope"`) || !strings.Contains(line, "go") {
					t.Errorf("GOMLX_BACKEND=nope: error %q, want it to name the value and list the backends", line)
				}
			}
			var notices []string
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(l, "difflab:") {
					notices = append(notices, l)
				}
			}
			if c.stderr == nil {
				if len(notices) != 0 {
					t.Errorf("GOMLX_BACKEND=%q: notices %q, want none", c.env, notices)
				}
				return
			}
			if len(notices) != 1 {
				t.Fatalf("GOMLX_BACKEND=%q: %d notice lines %q, want exactly one", c.env, len(notices), notices)
			}
			for _, want := range c.stderr {
				if !strings.Contains(notices[0], want) {
					t.Errorf("GOMLX_BACKEND=%q: notice %q, want it to contain %q", c.env, notices[0], want)
				}
			}
			if strings.Contains(stderr.String(), "panic") {
				t.Errorf("GOMLX_BACKEND=%q: stderr mentions a panic:\n%s", c.env, stderr.String())
			}
		})
	}
}
